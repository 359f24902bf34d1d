// Responder: request overwatch by clicking the map or typing coordinates (kind, priority,
// pattern, notes), then follow each request: its status, the drone assigned, its ETA and
// its live video.
//
// The service sends a responder the events of its own incidents only (/ws/events), lets it
// read the missions of those incidents and watch the drone serving one of them
// (session.js CAN.follow); a reading role using this screen (`watch`) sees everything.
// Updates come over the websocket; REST only loads the start and reloads after a reconnect.

import { api } from "../api.js";
import { MapView } from "../map.js";
import { can } from "../session.js";
import { FLYING, Store, TERMINAL, droneFromReason, missionFromReason } from "../store.js";
import { el, fmtDuration, fmtLatLon, fmtTime, randomKey, setText, toDate, words } from "../ui.js";
import { VideoGrid } from "../videogrid.js";
import { liveStore, responderStore } from "./common.js";
const KINDS = ["shots_fired", "fire", "traffic_collision", "missing_person", "medical", "search", "hazmat", "crowd"];

export function mount(root, { config, user }) {
  const watch = can("watch") || can("follow");
  const field = (label, input, hint = null) => el("label.field", null, el("span.label", null, label), input, hint);
  const lat = el("input.input", { type: "number", step: "any", min: "-90", max: "90", required: true, testid: "incident-lat", inputmode: "decimal" });
  const lon = el("input.input", { type: "number", step: "any", min: "-180", max: "180", required: true, testid: "incident-lon", inputmode: "decimal" });
  const kind = el("input.input", { type: "text", list: "incident-kinds", required: true, maxlength: "64", testid: "incident-kind", placeholder: "e.g. shots_fired" });
  const priority = el("select.input", { testid: "incident-priority" },
    [1, 2, 3, 4, 5].map((p) => el("option", { value: String(p), selected: p === 3 }, `${p}${p === 1 ? " — most urgent" : p === 5 ? " — least urgent" : ""}`)));
  const pattern = el("select.input", { testid: "incident-pattern" },
    el("option", { value: "" }, "default (orbit; by kind)"),
    ["orbit", "hover", "survey", "expanding_square"].map((p) => el("option", { value: p }, words(p))));
  const notes = el("textarea.input", { rows: "3", maxlength: "4000", testid: "incident-notes", placeholder: "what the pilot should know" });
  const submit = el("button.btn.btn-primary.btn-big", { type: "submit", testid: "incident-submit" }, "Request overwatch");
  const result = el("p.action-result", { testid: "action-result", role: "status", "aria-live": "polite" }, "Click the map or type coordinates, then request overwatch.");
  const requests = el("div.card-list", { testid: "requests", tabindex: "-1" });
  const videoBox = el("div.video-grid.responder-video-grid");
  const videoNote = el("p.muted", null, "The assigned drone's live video appears here.");
  const mapBox = el("div.responder-map");
  const form = el(
    "form.panel.request-form",
    { novalidate: true, "aria-labelledby": "request-title" },
    el("h2#request-title", null, "Request overwatch"),
    el("div.row", null, field("Latitude", lat), field("Longitude", lon)),
    field("Kind", kind),
    el("datalist#incident-kinds", null, KINDS.map((k) => el("option", { value: k }))),
    el("div.row", null, field("Priority", priority), field("Pattern", pattern)),
    field("Notes", notes),
    submit,
  );
  root.replaceChildren(
    el(
      "section.responder",
      null,
      mapBox,
      el(
        "div.responder-side",
        null,
        form,
        result,
        el("section.panel.requests-panel", { "aria-labelledby": "requests-title" }, el("h2#requests-title", null, "My requests"), el("div.scroll", null, requests)),
        el("section.panel", { testid: "responder-video", "aria-label": "live video of the assigned drone" }, el("h2", null, "Live video"), videoNote, videoBox),
      ),
    ),
  );

  const map = new MapView(mapBox, config, { testid: "responder-map", follow: false });
  const live = can("watch") ? liveStore(user) : can("follow") ? responderStore(user) : null;
  const store = live ? live.store : new Store();
  const video = watch ? new VideoGrid(videoBox, user.token, config.video_tiers_px, { empty: "" }) : null;
  let fitted = false;
  const cards = new Map();

  const setPick = () => map.setPick(Number(lat.value === "" ? NaN : lat.value), Number(lon.value === "" ? NaN : lon.value));
  map.onClick((la, lo) => {
    lat.value = la.toFixed(6);
    lon.value = lo.toFixed(6);
    setPick();
    setResult(`Location set to ${fmtLatLon(la, lo)}. Fill in the kind and send the request.`, "info");
  });
  lat.addEventListener("input", setPick);
  lon.addEventListener("input", setPick);

  function setResult(text, kind_) {
    result.textContent = text;
    result.className = `action-result result-${kind_}`;
  }

  function mine() {
    return [...store.incidents.values()]
      .filter((i) => !watch || i.reported_by === user.name)
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  }

  function missionOf(incident) {
    let best = null;
    for (const m of store.missions.values()) {
      if (m.incident_id !== incident.id) continue;
      if (!best || m.created_at > best.created_at) best = m;
    }
    return best;
  }

  function etaText(m, incident) {
    if (!m) return "—";
    if (incident && incident.status === "covered" && FLYING.has(m.state)) return "on station";
    if (m.state === "pending_approval") return `${fmtDuration(m.eta_s)} after the pilot approves`;
    if (TERMINAL.has(m.state)) return words(m.state);
    const approved = toDate(m.approved_at);
    if (!approved) return fmtDuration(m.eta_s);
    const left = approved.getTime() / 1000 + m.eta_s - Date.now() / 1000;
    return left > 0 ? `about ${fmtDuration(left)}` : "on station or arriving";
  }

  function draw() {
    const list = mine();
    map.setIncidents(list.filter((i) => i.status !== "closed"));
    if (!fitted && list.length) {
      fitted = true;
      map.fitOnce(list.slice(0, 10).map((i) => [i.lat_deg, i.lon_deg]), 16);
    }
    const seen = new Set();
    let videoDrone = null;
    for (const i of list) {
      seen.add(i.id);
      let card = cards.get(i.id);
      if (!card) {
        card = {
          status: el("span.state"),
          title: el("strong.card-title"),
          reason: el("p.card-desc"),
          drone: el("span.big-value"),
          eta: el("span.big-value"),
          meta: el("p.muted"),
        };
        card.node = el(
          "article.card.request-card",
          { testid: `request-${i.id}`, dataset: { incidentId: i.id }, tabindex: "0", "aria-label": `request ${i.id}` },
          el("header.card-head", null, card.status, card.title),
          card.reason,
          el("dl.facts", null, el("div.fact", null, el("dt", null, "Drone"), el("dd", null, card.drone)), el("div.fact", null, el("dt", null, "ETA"), el("dd", null, card.eta))),
          card.meta,
        );
        card.node.addEventListener("click", () => map.fitOnce([[card.incident.lat_deg, card.incident.lon_deg]], 17));
        cards.set(i.id, card);
      }
      card.incident = i;
      setText(card.status, words(i.status));
      card.status.className = `state status-${i.status}`;
      card.node.dataset.status = i.status;
      setText(card.title, `${words(i.kind)} · P${i.priority}`);
      setText(card.reason, i.status_reason || "");
      const m = watch ? missionOf(i) : null;
      const droneId = m ? m.drone_id : droneFromReason(i.status_reason);
      setText(card.drone, droneId ? `drone ${droneId}${m ? ` · ${words(m.state)}` : ""}` : i.status === "unserviceable" ? "none" : "not yet");
      setText(card.eta, m ? etaText(m, i) : watch || !droneId ? "—" : "shown to the pilot, not to this role");
      setText(card.meta, `${fmtLatLon(i.lat_deg, i.lon_deg)} · sent ${fmtTime(i.created_at)} · ${missionFromReason(i.status_reason) || i.id}`);
      if (videoDrone === null && m && (FLYING.has(m.state) || m.state === "ready") && droneId) videoDrone = droneId;
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.node.remove();
        cards.delete(id);
      }
    }
    list.forEach((i, n) => {
      const node = cards.get(i.id).node;
      if (requests.children[n] !== node) requests.insertBefore(node, requests.children[n] || null);
    });
    if (!list.length && !requests.querySelector(".empty")) requests.append(el("p.empty", null, "No request yet."));
    if (list.length) requests.querySelector(".empty")?.remove();
    showVideo(videoDrone, list);
  }

  function showVideo(droneId, list) {
    if (video) {
      // a responder cannot list the video sources: the service refuses a drone without one
      const ok = droneId && (!store.videoDrones || store.videoDrones.has(droneId));
      video.setDrones(ok ? [droneId] : []);
      setText(videoNote, ok ? `Drone ${droneId}` : "The assigned drone's live video appears here once it flies.");
    } else {
      const assigned = list.map((i) => droneFromReason(i.status_reason)).find(Boolean);
      setText(videoNote, assigned
        ? `Drone ${assigned} is assigned. Live video is shown to pilots and viewers; this service does not stream it to the responder role.`
        : "The assigned drone's live video appears here.");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const la = Number(lat.value);
    const lo = Number(lon.value);
    if (lat.value === "" || lon.value === "" || !Number.isFinite(la) || !Number.isFinite(lo)) {
      setResult("Set the location first: click the map or type latitude and longitude.", "error");
      (lat.value === "" ? lat : lon).focus();
      return;
    }
    if (Math.abs(la) > 90 || Math.abs(lo) > 180) {
      setResult("Latitude must be within ±90° and longitude within ±180°.", "error");
      return;
    }
    if (!kind.value.trim()) {
      setResult("Say what happened (kind), for example shots_fired or fire.", "error");
      kind.focus();
      return;
    }
    const body = { lat_deg: la, lon_deg: lo, kind: kind.value.trim(), priority: Number(priority.value), description: notes.value.trim() };
    if (pattern.value) body.pattern = pattern.value;
    submit.disabled = true;
    setResult("Sending the request…", "pending");
    try {
      const incident = await api.post("/api/incidents", body, { "Idempotency-Key": `ui-${randomKey()}` });
      store.putIncident(incident);
      setResult(`Request ${incident.id} sent: ${words(incident.kind)}, priority ${incident.priority}, at ${fmtLatLon(incident.lat_deg, incident.lon_deg)} — ${words(incident.status)}.`, "ok");
      notes.value = "";
      if (!watch) draw();
    } catch (err) {
      setResult(`The request was refused: ${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`, "error");
    } finally {
      submit.disabled = false;
    }
  });

  const unsub = store.subscribe(() => draw());
  const ticker = setInterval(() => {
    if (watch) for (const card of cards.values()) {
      const m = missionOf(card.incident);
      if (m) setText(card.eta, etaText(m, card.incident));
    }
  }, 1000);

  return () => {
    clearInterval(ticker);
    unsub();
    if (video) video.close();
    if (live) live.close();
    else store.dispose();
    map.destroy();
  };
}
