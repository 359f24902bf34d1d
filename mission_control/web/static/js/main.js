// Boot: read /api/ui-config, restore the session, route by URL hash and role, draw the top
// bar (screens of the role, who is logged in, connection state, log out).
//
// Routes: #/login (also #/login?token=TOKEN: log in directly, for wall screens),
// #/command, #/pilot, #/responder, #/zones.

import { onReachable, onUnauthorized } from "./api.js";
import { connection } from "./live.js";
import { current, login, logout, screens, storedToken } from "./session.js";
import { el, replaceChildren, setText } from "./ui.js";
import * as loginScreen from "./screens/login.js";
import * as commandScreen from "./screens/command.js";
import * as pilotScreen from "./screens/pilot.js";
import * as responderScreen from "./screens/responder.js";
import * as zonesScreen from "./screens/zones.js";

const SCREENS = {
  command: { module: commandScreen, title: "Command center" },
  pilot: { module: pilotScreen, title: "Pilot" },
  responder: { module: responderScreen, title: "Responder" },
  zones: { module: zonesScreen, title: "Zones" },
};

const DEFAULT_CONFIG = {
  map_tiles_url: null,
  map_attribution: "",
  map_max_zoom: 19,
  center: [47.397743, 8.545594],
  video_tiers_px: [0, 640, 320],
  site: "",
  version: "",
};

const view = document.getElementById("view");
const topbar = document.getElementById("topbar");
let config = DEFAULT_CONFIG;
let unmount = null;
let mounted = "";
let loginMessage = "";
let clockTimer = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, query = ""] = raw.split("?");
  return { name: name || "", params: new URLSearchParams(query) };
}

function go(name) {
  const target = `#/${name}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function leave() {
  if (unmount) {
    try {
      unmount();
    } catch (err) {
      console.warn("screen cleanup failed", err);
    }
  }
  unmount = null;
  mounted = "";
}

function showLogin(message = "") {
  leave();
  topbar.hidden = true;
  clearInterval(clockTimer);
  document.title = "Mission Control — log in";
  mounted = "login";
  unmount = loginScreen.mount(view, {
    config,
    message,
    onLogin: async (token) => {
      await login(token);
      loginMessage = "";
      drawTopbar();
      go(screens()[0]);
    },
  });
}

async function route() {
  const { name, params } = parseHash();
  if (name === "login") {
    const token = params.get("token");
    if (token) {
      // never keep a token in the address bar or the history
      history.replaceState(null, "", `${location.pathname}${location.search}#/login`);
      try {
        await login(token);
        drawTopbar();
        go(params.get("next") && screens().includes(params.get("next")) ? params.get("next") : screens()[0]);
      } catch (err) {
        showLogin(err.message);
      }
      return;
    }
    if (current()) {
      history.replaceState(null, "", `#/${screens()[0]}`);
      return route();
    }
    showLogin(loginMessage);
    loginMessage = "";
    return;
  }
  if (!current()) {
    showLogin(loginMessage);
    loginMessage = "";
    return;
  }
  const allowed = screens();
  if (!allowed.includes(name)) {
    history.replaceState(null, "", `#/${allowed[0]}`);
    return route();
  }
  if (mounted === name) return;
  leave();
  drawTopbar();
  const screen = SCREENS[name];
  document.title = `Mission Control — ${screen.title}`;
  for (const link of topbar.querySelectorAll("[data-screen]")) {
    const active = link.dataset.screen === name;
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  replaceChildren(view);
  view.className = `view view-${name}`;
  mounted = name;
  try {
    unmount = screen.module.mount(view, { config, user: current() });
  } catch (err) {
    console.warn("screen failed to start", err);
    replaceChildren(view, el("p.boot", { role: "alert" }, `This screen could not start: ${err.message}`));
  }
}

let topbarUser = null;
let connUnsub = null;

function drawTopbar() {
  const user = current();
  if (!user) return;
  topbar.hidden = false;
  if (topbarUser === user) return;
  topbarUser = user;
  const links = screens().map((name) =>
    el(`a.nav-link`, { href: `#/${name}`, testid: `nav-${name}`, dataset: { screen: name } }, SCREENS[name].title),
  );
  const status = el("span.conn", { testid: "connection-status", role: "status", "aria-live": "polite" }, "live");
  const clock = el("span.clock", { "aria-label": "time (UTC)" });
  replaceChildren(
    topbar,
    el("div.brand", null, "Mission Control", config.site ? el("span.site", null, config.site) : null),
    el("nav.nav", { "aria-label": "screens" }, links),
    el("div.spacer"),
    clock,
    status,
    el("span.whoami", { testid: "whoami" }, `${user.name} (${user.role})`),
    el("button.btn.btn-quiet", { type: "button", testid: "logout", onclick: doLogout }, "Log out"),
  );
  if (connUnsub) connUnsub();
  connUnsub = connection.subscribe((live) => {
    setText(status, live ? "live" : "reconnecting…");
    status.classList.toggle("conn-live", live);
    status.classList.toggle("conn-down", !live);
  });
  const tick = () => setText(clock, `${new Date().toISOString().slice(11, 19)} UTC`);
  clearInterval(clockTimer);
  tick();
  clockTimer = setInterval(tick, 1000);
}

function doLogout() {
  leave();
  logout();
  topbarUser = null;
  go("login");
}

async function boot() {
  onReachable((ok) => connection.set("service", ok));
  onUnauthorized(() => {
    if (!current()) return;
    leave();
    logout();
    topbarUser = null;
    loginMessage = "Your token was refused by the service (it may have been revoked). Log in again.";
    go("login");
  });
  try {
    const response = await fetch("/api/ui-config", { cache: "no-store" });
    if (response.ok) config = { ...DEFAULT_CONFIG, ...(await response.json()) };
  } catch {
    /* defaults: a plain grid around the simulator's home */
  }
  const { name } = parseHash();
  const saved = storedToken();
  if (saved && name !== "login") {
    try {
      await login(saved);
    } catch (err) {
      loginMessage = err.message;
    }
  }
  window.addEventListener("hashchange", () => route());
  await route();
}

boot();
