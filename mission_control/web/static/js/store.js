// The client-side state of a screen: drones, missions, incidents, zones, the event feed
// and alerts. Loaded by REST, then kept current by the event and telemetry streams.
// Listeners are told at most every 100 ms which parts changed.

import { fmtDuration, fmtLatLon, words } from "./ui.js";

export const TERMINAL = new Set(["completed", "rejected", "expired", "aborted", "failed"]);
export const ACTIVE = ["approved", "uploading", "ready", "in_flight", "paused", "returning", "link_lost"];
export const FLYING = new Set(["in_flight", "paused", "returning", "link_lost"]);
const LIVE_STATES = ["pending_approval", ...ACTIVE];

const FEED_KEY = "mc.feed";
const FEED_MAX = 200;
const TRAIL_S = 120;
const NOTIFY_MS = 100;

/** MAV_CMD numbers of items that are places the drone flies to (not ROI, gimbal …). */
export function isNavItem(item) {
  return item && item.command < 100 && Number.isFinite(item.lat_deg) && Number.isFinite(item.lon_deg) &&
    !(item.lat_deg === 0 && item.lon_deg === 0);
}

/** The battery margin in Wh from a mission's notes ("… margin 22.5 Wh"), or null. */
export function batteryMargin(mission) {
  for (const note of (mission && mission.notes) || []) {
    const m = /margin\s+(-?[\d.]+)\s*Wh/i.exec(note);
    if (m) return { wh: Number(m[1]), note };
  }
  return null;
}

/** A zone is a privacy zone when its reason (a list or a string) mentions PRIVACY. */
export function isPrivacyZone(zone) {
  const reason = zone && zone.reason;
  const text = Array.isArray(reason) ? reason.join(" ") : String(reason || "");
  return text.toUpperCase().includes("PRIVACY");
}

/** The drone an incident's status reason names ("… planned for drone 2"), or null. */
export function droneFromReason(text) {
  const m = /drone\s+(\d+)/i.exec(text || "");
  return m ? Number(m[1]) : null;
}

/** The mission id an incident's status reason names, or null. */
export function missionFromReason(text) {
  const m = /mission\s+(m-[\w-]+)/i.exec(text || "");
  return m ? m[1] : null;
}

function newer(incoming, existing) {
  if (!existing) return true;
  if (!incoming.updated_at || !existing.updated_at) return true;
  return incoming.updated_at >= existing.updated_at;
}

/** One line of the event feed, in words. */
export function describeEvent(event) {
  const p = event.payload || {};
  switch (event.kind) {
    case "incident.created":
      return `Incident reported: ${words(p.kind)} (priority ${p.priority}) at ${fmtLatLon(p.lat_deg, p.lon_deg)} by ${p.reported_by}`;
    case "incident.updated":
      return `Incident ${words(p.kind)} (P${p.priority}) ${words(p.status)}${p.status_reason ? ` — ${p.status_reason}` : ""}`;
    case "mission.created":
      return `Mission ${p.id} for drone ${p.drone_id} awaits approval (ETA ${fmtDuration(p.eta_s)})`;
    case "mission.updated":
      return `Drone ${p.drone_id} mission ${words(p.state)}${p.reason ? ` — ${p.reason}` : ""}`;
    case "alert":
      return String(p.text || "alert");
    default:
      return `${event.kind} ${event.subject_id || ""}`;
  }
}

export class Store {
  constructor() {
    this.drones = new Map();
    this.missions = new Map();
    this.incidents = new Map();
    this.zones = [];
    this.videoDrones = null; // Set of drone ids with a video source (null: unknown)
    this.feed = loadFeed();
    this.listeners = new Set();
    this.dirty = new Set();
    this.timer = null;
    this.fetching = new Set();
    this.api = null;
  }

  // -- notifications

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(part) {
    this.dirty.add(part);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const parts = this.dirty;
      this.dirty = new Set();
      for (const fn of this.listeners) {
        try {
          fn(parts);
        } catch (err) {
          console.warn("screen update failed", err); // keep the other listeners going
        }
      }
    }, NOTIFY_MS);
  }

  dispose() {
    clearTimeout(this.timer);
    clearTimeout(this.feedTimer);
    this.listeners.clear();
  }

  // -- REST

  /** Load what `what` names (drones, missions, incidents, zones, video) by REST. */
  async load(api, what = ["drones", "missions", "incidents", "zones", "video"]) {
    this.api = api;
    const errors = [];
    const tasks = what.map(async (part) => {
      try {
        if (part === "drones") this.setDrones(await api.get("/api/drones"));
        else if (part === "missions") {
          // repeated ?state= (the comma-separated form the OpenAPI text mentions is refused, 422)
          const query = LIVE_STATES.map((st) => `state=${st}`).join("&");
          const list = await api.get(`/api/missions?${query}&limit=200`);
          for (const m of list) this.putMission(m);
          await Promise.all(list.map((m) => this.ensureItems(m.id)));
        } else if (part === "incidents") {
          for (const i of await api.get("/api/incidents?limit=200")) this.putIncident(i);
        } else if (part === "zones") {
          this.zones = await api.get("/api/zones");
          this.changed("zones");
        } else if (part === "video") {
          const video = await api.get("/api/video");
          this.videoDrones = new Set((video.drones || []).map((d) => d.drone_id));
          this.changed("video");
        }
      } catch (err) {
        errors.push(`${part}: ${err.message}`);
      }
    });
    await Promise.all(tasks);
    return errors;
  }

  /** Fetch a mission's items (for its path on the map) unless they are here already. */
  async ensureItems(id) {
    const m = this.missions.get(id);
    if (!this.api || !m || m.items || this.fetching.has(id)) return;
    this.fetching.add(id);
    try {
      this.putMission(await this.api.get(`/api/missions/${encodeURIComponent(id)}`));
    } catch {
      /* shown without its path; the next event brings it */
    } finally {
      this.fetching.delete(id);
    }
  }

  // -- drones

  drone(id) {
    let d = this.drones.get(id);
    if (!d) {
      d = { id, link: null, mode: null, armed: false, landed: true, battery: null, lat: null, lon: null, altRel: null,
        heading: null, speed: null, gps: null, progress: null, ts: 0, trail: [], missionId: null, statusText: null };
      this.drones.set(id, d);
    }
    return d;
  }

  setDrones(list) {
    for (const r of list || []) {
      const d = this.drone(r.drone_id);
      d.link = r.link;
      d.mode = r.flight_mode;
      d.armed = r.armed;
      d.landed = r.landed;
      d.battery = r.battery_pct;
      d.gps = r.gps_fix;
      d.missionId = r.mission_id;
      if (r.position) {
        d.lat = r.position.lat_deg;
        d.lon = r.position.lon_deg;
        if (r.position.alt_rel_m !== null && r.position.alt_rel_m !== undefined) d.altRel = r.position.alt_rel_m;
      }
    }
    this.changed("drones");
  }

  /** A batch from /ws/telemetry. */
  applySamples(batch) {
    for (const s of batch) {
      if (!s || typeof s.drone_id !== "number") continue;
      const d = this.drone(s.drone_id);
      if (Number.isFinite(s.ts) && s.ts > d.ts) d.ts = s.ts;
      switch (s.kind) {
        case "position":
          if (Number.isFinite(s.lat_deg) && Number.isFinite(s.lon_deg)) {
            d.lat = s.lat_deg;
            d.lon = s.lon_deg;
            d.altRel = s.alt_rel_home_m;
            const last = d.trail[d.trail.length - 1];
            if (!last || last[0] !== s.lat_deg || last[1] !== s.lon_deg) d.trail.push([s.lat_deg, s.lon_deg, s.ts]);
            const cut = s.ts - TRAIL_S;
            let drop = 0;
            while (drop < d.trail.length && d.trail[drop][2] < cut) drop++;
            if (drop) d.trail.splice(0, drop);
          }
          break;
        case "heading":
          d.heading = s.heading_deg;
          break;
        case "velocity":
          if (Number.isFinite(s.north_m_s) && Number.isFinite(s.east_m_s)) d.speed = Math.hypot(s.north_m_s, s.east_m_s);
          break;
        case "battery":
          d.battery = s.remaining_pct;
          break;
        case "modes":
          d.mode = s.flight_mode;
          d.armed = s.armed;
          d.landed = s.landed_state === "on_ground";
          break;
        case "link":
          d.link = s.state;
          break;
        case "mission_progress":
          d.progress = { current: s.current, total: s.total };
          break;
        case "gps":
          d.gps = s.fix_type;
          break;
        case "status_text":
          d.statusText = s.text;
          break;
        default:
          break;
      }
    }
    this.changed("drones");
  }

  // -- missions and incidents

  putMission(m) {
    if (!m || !m.id) return;
    const old = this.missions.get(m.id);
    if (!newer(m, old)) return;
    const merged = old && old.items && !m.items ? { ...old, ...m, items: old.items } : m;
    this.missions.set(m.id, merged);
    if (!merged.items && !TERMINAL.has(merged.state)) this.ensureItems(m.id);
    // the drone's assignment follows its missions
    const d = this.drones.get(m.drone_id);
    if (d) {
      if (!TERMINAL.has(m.state)) d.missionId = m.id;
      else if (d.missionId === m.id) d.missionId = null;
    }
    this.changed("missions");
  }

  putIncident(i) {
    if (!i || !i.id) return;
    if (!newer(i, this.incidents.get(i.id))) return;
    this.incidents.set(i.id, i);
    this.changed("incidents");
  }

  /** Missions in one of `states` (a Set), newest first. */
  missionsIn(states) {
    return [...this.missions.values()]
      .filter((m) => states.has(m.state))
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  }

  pendingMissions() {
    return this.missionsIn(new Set(["pending_approval"]));
  }

  activeMissions() {
    return this.missionsIn(new Set(ACTIVE));
  }

  /** The live (not finished) mission of a drone, or undefined. */
  missionOfDrone(droneId) {
    for (const m of this.missions.values()) if (m.drone_id === droneId && !TERMINAL.has(m.state)) return m;
    return undefined;
  }

  /** Incidents still worth showing (not closed), newest first. */
  openIncidents() {
    return [...this.incidents.values()]
      .filter((i) => i.status !== "closed")
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  }

  // -- events

  /** One event from /ws/events: update the state and the feed. */
  applyEvent(event) {
    const p = event.payload || {};
    if (event.kind === "incident.created" || event.kind === "incident.updated") this.putIncident(p);
    else if (event.kind === "mission.created" || event.kind === "mission.updated") this.putMission(p);
    const entry = {
      seq: event.seq,
      kind: event.kind,
      at: event.at,
      text: describeEvent(event),
      severity: event.kind === "alert" ? p.severity || "info" : null,
      droneId: p.drone_id ?? null,
      missionId: event.kind === "alert" ? p.mission_id ?? null : event.kind.startsWith("mission") ? p.id : null,
      received: Date.now(),
    };
    if (this.feed.some((e) => e.seq === entry.seq)) return entry;
    this.feed.unshift(entry);
    this.feed.sort((a, b) => b.seq - a.seq);
    if (this.feed.length > FEED_MAX) this.feed.length = FEED_MAX;
    this.saveFeed();
    this.changed("feed");
    return entry;
  }

  /** Forget the feed (the service's event numbering started again). */
  clearFeed() {
    this.feed = [];
    this.saveFeed();
    this.changed("feed");
  }

  alerts() {
    return this.feed.filter((e) => e.kind === "alert");
  }

  saveFeed() {
    if (this.feedTimer) return;
    this.feedTimer = setTimeout(() => {
      this.feedTimer = null;
      try {
        localStorage.setItem(FEED_KEY, JSON.stringify(this.feed.slice(0, 100)));
      } catch {
        /* not kept */
      }
    }, 500);
  }
}

function loadFeed() {
  try {
    const list = JSON.parse(localStorage.getItem(FEED_KEY) || "[]");
    return Array.isArray(list) ? list.filter((e) => e && typeof e.seq === "number") : [];
  } catch {
    return [];
  }
}
