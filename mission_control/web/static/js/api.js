// REST calls with the session's bearer token. A non-2xx answer throws ApiError whose
// message is the service's reason in words; 401 sends the page back to the login screen.

import { current } from "./session.js";

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

let unauthorized = () => {};
let reachable = () => {};

/** Set what happens on a 401 (main.js: log out and show the login screen). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Set a callback told whether the service answered (true) or not (false). */
export function onReachable(fn) {
  reachable = fn;
}

/** The service's reason in words, from a FastAPI error body. */
export function reasonOf(status, body, fallback) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) {
    const report = body.airspace_report;
    if (report && Array.isArray(report.violations) && report.violations.length) {
      const first = report.violations
        .slice(0, 3)
        .map((v) => v.message || v.zone || v.zone_id || JSON.stringify(v))
        .join("; ");
      return `${detail} (${first})`;
    }
    return detail;
  }
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body" && p !== "query" && p !== "path") : [];
        return loc.length ? `${loc.join(".")}: ${d.msg}` : String(d.msg);
      })
      .join("; ");
  }
  if (status === 401) return "your token was refused: log in again";
  if (status === 403) return "your role may not do this";
  if (status === 404) return "not found";
  if (status === 413) return "the file is too large for the service";
  return fallback || `HTTP ${status}`;
}

async function request(method, path, { body, raw = false, headers = {} } = {}) {
  const session = current();
  const init = { method, headers: { ...headers }, cache: "no-store" };
  if (session) init.headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    reachable(false);
    throw new ApiError(0, `the service cannot be reached (${err.message || err})`);
  }
  reachable(true);
  let data = null;
  const text = await response.text().catch(() => "");
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, reasonOf(response.status, data, response.statusText), data);
    if (response.status === 401) unauthorized(error);
    throw error;
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body, headers) => request("POST", path, { body, headers }),
  del: (path) => request("DELETE", path),
  /** POST a text body as it is (a zone file). */
  upload: (path, text) => request("POST", path, { body: text, raw: true }),
};
