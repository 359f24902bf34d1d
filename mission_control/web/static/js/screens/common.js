// What the watching screens (command center, pilot) share: a store fed by REST and the two
// websockets, the map kept in step with it, the event feed and alert lists.

import { api } from "../api.js";
import { EventStream, TelemetryStream } from "../live.js";
import { Store } from "../store.js";
import { el, fmtTime, replaceChildren, toast } from "../ui.js";

/**
 * A store loaded by REST and kept current by /ws/events and /ws/telemetry. After a
 * reconnection the REST state is loaded again (the event stream replays what it missed).
 * `onEvent(entry, event)` sees each event once it is applied.
 */
export function liveStore(user, { onEvent } = {}) {
  const store = new Store();
  let closed = false;
  const reload = async (parts) => {
    const errors = await store.load(api, parts);
    if (errors.length && !closed) toast(`Could not load ${errors.join("; ")}`, "error", 8000);
  };
  const events = new EventStream(user.token, {
    onEvent: (event) => {
      const entry = store.applyEvent(event);
      if (onEvent) onEvent(entry, event);
    },
    onReconnect: () => reload(["missions", "incidents", "zones"]),
    onReset: () => store.clearFeed(),
    // a refused handshake looks like an outage: ask REST, whose 401 logs the page out
    onFailing: () => api.get("/api/me").catch(() => {}),
  }).start();
  const telemetry = new TelemetryStream(user.token, {
    onSamples: (batch) => store.applySamples(batch),
    onReconnect: () => reload(["drones"]),
  }).start();
  const ready = reload(undefined);
  return {
    store,
    ready,
    reload,
    close() {
      closed = true;
      events.close();
      telemetry.close();
      store.dispose();
    },
  };
}

/** A responder's live store: its own requests (REST) and their missions, kept current by
 * its filtered /ws/events (the service sends a responder only its own incidents' events);
 * reloaded after a reconnect, never polled. */
export function responderStore(user) {
  const store = new Store();
  let closed = false;
  const reload = async () => {
    try {
      for (const i of await api.get("/api/incidents?limit=50")) store.putIncident(i);
      const recent = [...store.incidents.values()].filter((i) => i.status !== "closed").slice(0, 20);
      for (const i of recent) {
        for (const m of await api.get(`/api/missions?incident_id=${encodeURIComponent(i.id)}`)) store.putMission(m);
      }
    } catch (err) {
      if (!closed) toast(`Could not load your requests: ${err.message}`, "error", 8000);
    }
  };
  const events = new EventStream(user.token, {
    onEvent: (event) => store.applyEvent(event),
    onReconnect: () => reload(),
    onReset: () => store.clearFeed(),
    onFailing: () => api.get("/api/me").catch(() => {}),
  }).start();
  const ready = reload();
  return {
    store,
    ready,
    reload,
    close() {
      closed = true;
      events.close();
      store.dispose();
    },
  };
}

/** Draw the store on the map whenever it changes; `extra()` gives points to keep in view. */
export function syncMap(map, store, { highlight = () => null, missions = null, follow = true } = {}) {
  const draw = (parts) => {
    if (parts.has("zones")) map.setZones(store.zones);
    if (parts.has("drones") || parts.has("missions")) {
      const list = missions ? missions() : [...store.pendingMissions(), ...store.activeMissions()];
      map.setMissions(list, store.drones, highlight());
    }
    if (parts.has("drones")) map.setDrones([...store.drones.values()]);
    if (parts.has("incidents")) map.setIncidents(store.openIncidents().filter((i) => i.status !== "unserviceable" || recent(i)));
    if (follow && (parts.has("drones") || parts.has("incidents") || parts.has("missions"))) {
      const points = [];
      for (const d of store.drones.values()) if (Number.isFinite(d.lat)) points.push([d.lat, d.lon]);
      for (const i of store.openIncidents()) if (i.status !== "unserviceable") points.push([i.lat_deg, i.lon_deg]);
      for (const m of [...store.pendingMissions(), ...store.activeMissions()]) points.push(...map.missionPoints(m));
      map.keepInView(points);
    }
  };
  draw(new Set(["zones", "drones", "missions", "incidents"]));
  return store.subscribe(draw);
}

function recent(incident) {
  return Date.now() - new Date(incident.updated_at).getTime() < 3600 * 1000;
}

/** Fill `list` (an <ol>) with feed entries, newest first, each with data-seq. */
export function renderFeed(list, entries, max = 60) {
  const items = entries.slice(0, max).map((e) =>
    el(
      `li.feed-item.kind-${e.kind.replace(/\./g, "-")}${e.severity ? `.sev-${e.severity}` : ""}`,
      { dataset: { seq: String(e.seq) } },
      el("time.feed-time", { datetime: e.at }, fmtTime(e.at)),
      el("span.feed-text", null, e.text),
    ),
  );
  if (!items.length) items.push(el("li.feed-empty", null, "Nothing yet — events appear here as they happen."));
  replaceChildren(list, items);
}

/** Alerts as list items (severity, time, text); `fresh(entry)` marks the ones to flash. */
export function renderAlerts(list, alerts, { max = 12, fresh = () => false, actions = null } = {}) {
  const items = alerts.slice(0, max).map((a) =>
    el(
      `li.alert.sev-${a.severity || "info"}${fresh(a) ? ".alert-fresh" : ""}`,
      { dataset: { seq: String(a.seq) } },
      el("span.alert-sev", null, (a.severity || "info").toUpperCase()),
      el("time.feed-time", { datetime: a.at }, fmtTime(a.at)),
      el("span.alert-text", null, a.text),
      actions ? actions(a) : null,
    ),
  );
  if (!items.length) items.push(el("li.feed-empty", null, "No alerts."));
  replaceChildren(list, items);
}
