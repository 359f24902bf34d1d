// Command center: built for a 1920×1080 wall screen that nobody touches. The live map,
// the fleet, a grid of live video and the event and alert feed, all kept current by the
// websockets.

import { MapView } from "../map.js";
import { FLYING, TERMINAL } from "../store.js";
import { el, fmtPct, linkClass, setText, words } from "../ui.js";
import { VideoGrid } from "../videogrid.js";
import { liveStore, renderAlerts, renderFeed, syncMap } from "./common.js";

const PICK_KEY = "mc.video.pick";
const AUTO_MAX = 6;
const FRESH_ALERT_MS = 5 * 60 * 1000;

function loadPick() {
  try {
    const saved = JSON.parse(localStorage.getItem(PICK_KEY) || "null");
    if (saved && Array.isArray(saved.ids)) return { auto: Boolean(saved.auto), ids: saved.ids.map(Number) };
  } catch {
    /* default */
  }
  return { auto: true, ids: [] };
}

function savePick(pick) {
  try {
    localStorage.setItem(PICK_KEY, JSON.stringify(pick));
  } catch {
    /* not kept */
  }
}

export function mount(root, { config, user }) {
  const mapBox = el("div.cmd-map");
  const grid = el("div.video-grid", { testid: "video-grid" });
  const picker = el("div.video-picker", { role: "group", "aria-label": "drones shown in the video grid" });
  const droneBody = el("tbody");
  const droneTable = el(
    "table.drone-table",
    { testid: "drone-list" },
    el("caption.sr-only", null, "Fleet"),
    el("thead", null, el("tr", null, ["Drone", "Link", "Mode", "Battery", "Alt", "Speed", "Mission"].map((h) => el("th", { scope: "col" }, h)))),
    droneBody,
  );
  const alertList = el("ol.alert-list", { testid: "alerts", "aria-live": "polite" });
  const feedList = el("ol.feed", { testid: "event-feed" });
  root.replaceChildren(
    el(
      "section.command",
      null,
      mapBox,
      el(
        "div.cmd-side",
        null,
        el("section.panel.video-panel", { "aria-label": "live video" }, el("header.panel-head", null, el("h2", null, "Live video"), picker), grid),
        el("section.panel.fleet-panel", null, el("h2", null, "Fleet"), el("div.scroll", null, droneTable)),
        el(
          "div.cmd-lower",
          null,
          el("section.panel.alerts-panel", null, el("h2", null, "Alerts"), el("div.scroll", null, alertList)),
          el("section.panel.feed-panel", null, el("h2", null, "Events"), el("div.scroll", null, feedList)),
        ),
      ),
    ),
  );

  const map = new MapView(mapBox, config, { testid: "map" });
  const live = liveStore(user);
  const { store } = live;
  const unsync = syncMap(map, store);
  const videos = new VideoGrid(grid, user.token, config.video_tiers_px, { empty: "No drone with video selected." });
  let pick = loadPick();
  const rows = new Map();

  // -- video selection

  function videoCandidates() {
    // only drones the service has a video source for (others would be refused)
    return store.videoDrones ? [...store.videoDrones].sort((a, b) => a - b) : [];
  }

  function autoPick(ids) {
    const rank = (id) => {
      const m = store.missionOfDrone(id);
      return m ? (FLYING.has(m.state) ? 0 : 1) : 2;
    };
    return [...ids].sort((a, b) => rank(a) - rank(b) || a - b).slice(0, AUTO_MAX);
  }

  let pickerKey = "";
  function drawPicker(ids) {
    const key = `${ids.join(",")}|${pick.auto}|${pick.ids.join(",")}`;
    if (key === pickerKey) return;
    pickerKey = key;
    const toggle = (label, pressed, onclick, testid) =>
      el("button.btn.btn-toggle", { type: "button", "aria-pressed": String(pressed), onclick, testid }, label);
    picker.replaceChildren(
      toggle("Auto", pick.auto, () => {
        pick = { auto: !pick.auto, ids: pick.auto ? autoPick(videoCandidates()) : pick.ids };
        savePick(pick);
        updateVideo();
      }, "video-auto"),
      ...ids.map((id) =>
        toggle(`${id}`, pick.auto ? false : pick.ids.includes(id), () => {
          const current = pick.auto ? [] : pick.ids;
          const next = current.includes(id) ? current.filter((x) => x !== id) : [...current, id];
          pick = { auto: false, ids: next.sort((a, b) => a - b) };
          savePick(pick);
          updateVideo();
        }, `video-pick-${id}`),
      ),
    );
    for (const b of picker.querySelectorAll("button")) {
      if (b.textContent !== "Auto") b.setAttribute("aria-label", `video of drone ${b.textContent}`);
    }
  }

  function updateVideo() {
    const ids = videoCandidates();
    drawPicker(ids);
    const shown = pick.auto ? autoPick(ids) : pick.ids.filter((id) => ids.includes(id));
    videos.setDrones(shown);
  }

  // -- fleet table

  function drawDrones() {
    const seen = new Set();
    for (const d of [...store.drones.values()].sort((a, b) => a.id - b.id)) {
      seen.add(d.id);
      let row = rows.get(d.id);
      if (!row) {
        const cells = {
          id: el("th", { scope: "row" }, `${d.id}`),
          link: el("td.link"),
          mode: el("td"),
          battery: el("td.battery", null, el("span.bar", null, el("span.bar-fill")), el("span.bar-text")),
          alt: el("td.num"),
          speed: el("td.num"),
          mission: el("td"),
        };
        row = { tr: el("tr", { testid: `drone-${d.id}`, dataset: { droneId: String(d.id) } }, Object.values(cells)), cells };
        rows.set(d.id, row);
        droneBody.append(row.tr);
      }
      const c = row.cells;
      setText(c.link, d.link || "unknown");
      c.link.className = `link link-${linkClass(d.link)}`;
      setText(c.mode, d.mode ? `${words(d.mode)}${d.armed ? "" : " · disarmed"}` : "—");
      const pct = Number.isFinite(d.battery) ? Math.max(0, Math.min(100, d.battery)) : 0;
      c.battery.querySelector(".bar-fill").style.width = `${pct}%`;
      c.battery.classList.toggle("low", Number.isFinite(d.battery) && d.battery < 30);
      setText(c.battery.querySelector(".bar-text"), fmtPct(d.battery));
      setText(c.alt, Number.isFinite(d.altRel) ? `${Math.round(d.altRel)} m` : "—");
      setText(c.speed, Number.isFinite(d.speed) ? `${d.speed.toFixed(1)} m/s` : "—");
      const m = store.missionOfDrone(d.id);
      let text = "—";
      if (m && !TERMINAL.has(m.state)) {
        text = words(m.state);
        if (d.progress && FLYING.has(m.state) && d.progress.total) text += ` · ${d.progress.current}/${d.progress.total}`;
      }
      setText(c.mission, text);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
  }

  const isFresh = (a) => a.severity !== "info" && Date.now() - new Date(a.at).getTime() < FRESH_ALERT_MS;
  const drawFeed = () => {
    renderFeed(feedList, store.feed);
    renderAlerts(alertList, store.alerts(), { max: 6, fresh: isFresh });
  };

  const unsub = store.subscribe((parts) => {
    if (parts.has("drones") || parts.has("missions")) drawDrones();
    if (parts.has("feed")) drawFeed();
    if (parts.has("video") || parts.has("drones") || parts.has("missions")) updateVideo();
  });
  drawFeed();
  // alerts stop flashing after a while even when nothing else happens
  const fade = setInterval(() => renderAlerts(alertList, store.alerts(), { max: 6, fresh: isFresh }), 30000);

  return () => {
    clearInterval(fade);
    unsub();
    unsync();
    videos.close();
    live.close();
    map.destroy();
  };
}
