// Pilot: the approval queue (each pending mission on the map with its airspace report, ETA,
// battery margin and incident; approve or reject with a comment), the active missions
// (pause / resume / RTL / abort behind a confirmation) and the alerts that demand
// attention (with an optional beep). Every action's result or error is said in words.

import { api } from "../api.js";
import { MapView } from "../map.js";
import { FLYING } from "../store.js";
import { beep, confirmDialog, el, enableAudio, setText, words } from "../ui.js";
import { VideoGrid } from "../videogrid.js";
import { liveStore, renderAlerts, syncMap } from "./common.js";
import { activeCard, pendingCard } from "./pilot-cards.js";

const ACK_KEY = "mc.alerts.ack";
const ATTENTION_MS = 30 * 60 * 1000;
const LIVE_ALERT_MS = 60 * 1000;

const LABELS = {
  approve: ["Approve", "approved"],
  reject: ["Reject", "rejected"],
  pause: ["Pause", "paused"],
  resume: ["Resume", "resumed"],
  rtl: ["Return to launch", "sent home (return to launch)"],
  abort: ["Abort", "aborted"],
};

function loadAcks() {
  try {
    return new Set(JSON.parse(localStorage.getItem(ACK_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

export function mount(root, { config, user }) {
  const result = el("p.action-result", { testid: "action-result", role: "status", "aria-live": "polite" }, "No action yet.");
  const queue = el("div.card-list", { testid: "queue", tabindex: "-1" });
  const active = el("div.card-list", { testid: "active", tabindex: "-1" });
  const queueCount = el("span.count");
  const activeCount = el("span.count");
  const mapBox = el("div.pilot-map");
  const alertList = el("ol.alert-list", { testid: "pilot-alerts", "aria-live": "assertive", tabindex: "-1" });
  const attention = el("p.attention", { role: "alert" });
  attention.hidden = true;
  const sound = el("button.btn.btn-toggle", { type: "button", testid: "sound-toggle", "aria-pressed": "false" }, "Sound off");
  const videoBox = el("div.video-grid.pilot-video", { testid: "pilot-video" });
  root.replaceChildren(
    el(
      "section.pilot",
      null,
      el(
        "div.pilot-left",
        null,
        result,
        el("section.panel", { "aria-labelledby": "queue-title" }, el("h2#queue-title", null, "Approval queue ", queueCount), el("div.scroll", null, queue)),
        el("section.panel", { "aria-labelledby": "active-title" }, el("h2#active-title", null, "Active missions ", activeCount), el("div.scroll", null, active)),
      ),
      mapBox,
      el(
        "div.pilot-right",
        null,
        el(
          "section.panel.pilot-alerts-panel",
          { "aria-labelledby": "alerts-title" },
          el("header.panel-head", null, el("h2#alerts-title", null, "Alerts"), sound),
          attention,
          el("div.scroll", null, alertList),
        ),
        el("section.panel", { "aria-label": "video of the selected mission" }, el("h2", null, "Video"), videoBox),
      ),
    ),
  );

  let soundOn = false;
  sound.addEventListener("click", () => {
    soundOn = !soundOn;
    if (soundOn && !enableAudio()) {
      soundOn = false;
      setResult("This browser cannot play sounds (no WebAudio).", "error");
    }
    sound.setAttribute("aria-pressed", String(soundOn));
    setText(sound, soundOn ? "Sound on" : "Sound off");
    if (soundOn) beep(false);
  });

  const acks = loadAcks();
  const needsAttention = (a) =>
    (a.severity === "critical" || a.severity === "warning") && !acks.has(a.seq) && Date.now() - new Date(a.at).getTime() < ATTENTION_MS;

  const live = liveStore(user, {
    onEvent: (entry) => {
      if (!entry || entry.kind !== "alert") return;
      const fresh = Date.now() - new Date(entry.at).getTime() < LIVE_ALERT_MS;
      if (fresh && soundOn && entry.severity !== "info") beep(entry.severity === "critical");
    },
  });
  const { store } = live;
  let focus = null; // mission id highlighted on the map
  const map = new MapView(mapBox, config, { testid: "map" });
  const unsync = syncMap(map, store, { highlight: () => focus });
  const video = new VideoGrid(videoBox, user.token, config.video_tiers_px, { empty: "Video of a flying mission appears here." });
  const cards = { pending: new Map(), active: new Map() };

  function setResult(text, kind) {
    result.textContent = text;
    result.className = `action-result result-${kind}`;
  }

  function onFocus(mission, fit) {
    if (focus !== mission.id) {
      focus = mission.id;
      store.changed("missions");
    }
    if (fit) map.fitOnce(map.missionPoints(mission));
  }

  async function act(mission, action, comment, question = null) {
    const [label, past] = LABELS[action];
    const what = `mission ${mission.id} (drone ${mission.drone_id})`;
    if (question) {
      const danger = action === "abort" || action === "rtl";
      if (!(await confirmDialog(question, { yes: label, no: "Cancel", danger }))) {
        setResult(`${label} cancelled: nothing was sent for ${what}.`, "info");
        return;
      }
    }
    const card = cards.pending.get(mission.id) || cards.active.get(mission.id);
    if (card) card.busy(true);
    setResult(`${label}: sending to ${what}…`, "pending");
    try {
      const body = { reason: (comment || "").trim() };
      const updated = await api.post(`/api/missions/${encodeURIComponent(mission.id)}/${action}`, body);
      store.putMission(updated);
      const note = body.reason ? ` Comment: “${body.reason}”.` : "";
      setResult(`${what} ${past}: it is now ${words(updated.state)}.${note}`, "ok");
    } catch (err) {
      const code = err.status ? ` (HTTP ${err.status})` : "";
      setResult(`${label} refused for ${what}: ${err.message}${code}`, "error");
    } finally {
      if (card) card.busy(false);
    }
  }

  function syncCards(kind, list, container, make, empty) {
    const map_ = cards[kind];
    const seen = new Set();
    for (const m of list) {
      seen.add(m.id);
      let card = map_.get(m.id);
      if (!card) {
        card = make(m, { onAct: act, onFocus });
        map_.set(m.id, card);
      }
      card.update(m, store.incidents.get(m.incident_id), store.drones.get(m.drone_id));
    }
    for (const [id, card] of map_) {
      if (!seen.has(id)) {
        if (card.node.contains(document.activeElement)) container.focus?.();
        card.node.remove();
        map_.delete(id);
      }
    }
    // keep DOM order = list order without moving nodes that are already in place
    let prev = null;
    for (const m of list) {
      const node = map_.get(m.id).node;
      const want = prev ? prev.nextSibling : container.firstChild;
      if (want !== node) container.insertBefore(node, want);
      prev = node;
    }
    let note = container.querySelector(":scope > .empty");
    if (!list.length && !note) container.append(el("p.empty", null, empty));
    if (list.length && note) note.remove();
  }

  function drawMissions() {
    const pending = store.pendingMissions().reverse(); // oldest first: it expires first
    const running = store.activeMissions();
    syncCards("pending", pending, queue, pendingCard, "No mission waits for approval.");
    syncCards("active", running, active, activeCard, "No mission is active.");
    setText(queueCount, `(${pending.length})`);
    setText(activeCount, `(${running.length})`);
    const flying = running.filter((m) => FLYING.has(m.state) || m.state === "ready" || m.state === "uploading");
    const chosen = flying.find((m) => m.id === focus) || flying[0];
    video.setDrones(chosen && store.videoDrones && store.videoDrones.has(chosen.drone_id) ? [chosen.drone_id] : []);
    // missions of incidents we do not know yet: fetch the incident once
    for (const m of [...pending, ...running]) {
      if (!store.incidents.has(m.incident_id) && !asked.has(m.incident_id)) {
        asked.add(m.incident_id);
        api.get(`/api/incidents/${encodeURIComponent(m.incident_id)}`).then((i) => store.putIncident(i), () => {});
      }
    }
  }
  const asked = new Set();

  function drawAlerts() {
    const all = store.alerts();
    const loud = all.filter(needsAttention);
    attention.hidden = !loud.length;
    setText(attention, loud.length ? `${loud.length} alert${loud.length === 1 ? "" : "s"} need${loud.length === 1 ? "s" : ""} attention` : "");
    attention.classList.toggle("critical", loud.some((a) => a.severity === "critical"));
    renderAlerts(alertList, all, {
      max: 30,
      fresh: needsAttention,
      actions: (a) =>
        needsAttention(a)
          ? el("button.btn.btn-small", { type: "button", testid: `ack-${a.seq}`, onclick: () => acknowledge(a) }, "Acknowledge")
          : null,
    });
  }

  function acknowledge(alert) {
    acks.add(alert.seq);
    try {
      localStorage.setItem(ACK_KEY, JSON.stringify([...acks].slice(-200)));
    } catch {
      /* not kept */
    }
    drawAlerts();
    alertList.focus?.();
  }

  const unsub = store.subscribe((parts) => {
    if (parts.has("missions") || parts.has("incidents") || parts.has("drones") || parts.has("video")) drawMissions();
    if (parts.has("feed")) drawAlerts();
  });
  drawMissions();
  drawAlerts();
  const ticker = setInterval(() => {
    for (const card of cards.pending.values()) card.tick();
  }, 1000);

  return () => {
    clearInterval(ticker);
    unsub();
    unsync();
    video.close();
    live.close();
    map.destroy();
  };
}
