// Who is logged in: the token lives in localStorage ("mc.token"); /api/me says whose it is.

const TOKEN_KEY = "mc.token";

/** What each role may use (mirrors the service's role matrix; see README "API"). */
export const CAN = {
  /** REST reads of drones, missions, zones; /ws/telemetry, /ws/events, /ws/video. */
  watch: new Set(["pilot", "viewer", "admin"]),
  /** Only one's own requests: their events (/ws/events, filtered by the service), the
   * missions of one's incidents and the assigned drone's video while it serves them. */
  follow: new Set(["responder"]),
  /** POST /api/incidents. */
  report: new Set(["responder", "pilot", "admin"]),
  /** approve, reject, pause, resume, rtl, abort. */
  command: new Set(["pilot"]),
  /** zone import and delete. */
  editZones: new Set(["admin"]),
};

/** The screens of each role, the first one being where the role lands. */
export const SCREENS = {
  viewer: ["command"],
  pilot: ["command", "pilot"],
  admin: ["command", "zones"],
  responder: ["responder"],
};

let me = null; // {name, role, token}

/** True when `role` (default: the current user's) may do `what` (a key of CAN). */
export function can(what, role = me && me.role) {
  return Boolean(role && CAN[what] && CAN[what].has(role));
}

/** The user logged in, {name, role, token}, or null. */
export function current() {
  return me;
}

/** The token kept from an earlier visit, or "". */
export function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

/** The screens the current user may open. */
export function screens() {
  return me ? SCREENS[me.role] || [] : [];
}

/**
 * Check `token` with GET /api/me; on success remember it and return the user. A refusal
 * throws an Error whose message says why in words.
 */
export async function login(token) {
  const value = String(token || "").trim();
  if (!value) throw new Error("Paste your access token first.");
  let response;
  try {
    response = await fetch("/api/me", { headers: { Authorization: `Bearer ${value}` }, cache: "no-store" });
  } catch (err) {
    throw new Error(`The service cannot be reached (${err.message || err}).`);
  }
  if (response.status === 401) {
    throw new Error("This token was refused: it is not a valid token for this service.");
  }
  if (!response.ok) {
    throw new Error(`The service answered ${response.status} ${response.statusText} when checking the token.`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error("The service's answer could not be read.");
  }
  if (!body || !SCREENS[body.role]) {
    throw new Error(`This token's role (${body && body.role}) has no screens here.`);
  }
  me = { name: body.name, role: body.role, token: value };
  try {
    localStorage.setItem(TOKEN_KEY, value);
  } catch {
    /* private mode: the session lasts as long as the page */
  }
  return me;
}

/** Forget the token and everything kept for this user (event position, feed). */
export function logout() {
  me = null;
  try {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith("mc.")) localStorage.removeItem(key);
    }
  } catch {
    /* nothing stored */
  }
}
