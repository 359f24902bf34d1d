// The pilot's cards: a pending mission (incident, ETA, battery margin, airspace report,
// comment, approve / reject) and an active mission (state, progress, commands). Each card
// is built once and updated in place, so a comment being typed or a focused button is
// never lost to a redraw.

import { FLYING, batteryMargin } from "../store.js";
import { el, fmtDuration, fmtLatLon, fmtPct, setText, words } from "../ui.js";

/** One line about an airspace report: "clear — 75 legs checked" or the violations. */
export function airspaceSummary(report) {
  if (!report || typeof report !== "object" || report.ok === undefined) return { ok: null, text: "no report" };
  const checked = `${report.legs_checked ?? "?"} legs, ${report.circles_checked ?? 0} circles checked against ${report.zones_considered ?? 0} of ${report.zones_total ?? 0} zones`;
  const warnings = (report.warnings || []).map((w) => w.message).filter(Boolean);
  if (report.ok) {
    return { ok: true, text: `clear — ${checked}`, warnings };
  }
  const violations = (report.violations || []).map((v) => v.message || v.zone || "violation");
  return { ok: false, text: `${violations.length} violation${violations.length === 1 ? "" : "s"}: ${violations.join("; ")}`, warnings };
}

function fact(label, valueNode) {
  return el("div.fact", null, el("dt", null, label), el("dd", null, valueNode));
}

/** A pending mission's card. `onAct(mission, action, comment)`; `onFocus(mission)`. */
export function pendingCard(mission, { onAct, onFocus }) {
  const id = mission.id;
  const title = el("strong.card-title");
  const prio = el("span.badge");
  const drone = el("span.muted");
  const expires = el("span.expires");
  const eta = el("span.big-value");
  const margin = el("span.big-value");
  const airspace = el("span");
  const where = el("p.card-where");
  const desc = el("p.card-desc");
  const notes = el("ul.notes");
  const comment = el("textarea.input", {
    testid: `comment-${id}`,
    rows: "2",
    maxlength: "1000",
    placeholder: "comment (optional; kept with your decision)",
    "aria-label": `comment on mission ${id}`,
  });
  const approve = el("button.btn.btn-primary", { type: "button", testid: `approve-${id}` }, "Approve");
  const reject = el("button.btn.btn-danger", { type: "button", testid: `reject-${id}` }, "Reject");
  const show = el("button.btn.btn-quiet", { type: "button" }, "Show on map");
  const node = el(
    "article.card.pending-card",
    { testid: `pending-${id}`, dataset: { missionId: id, incidentId: mission.incident_id }, "aria-label": `pending mission ${id}` },
    el("header.card-head", null, prio, title, drone, expires),
    where,
    desc,
    el("dl.facts", null, fact("ETA", eta), fact("Battery margin", margin), fact("Airspace", airspace)),
    notes,
    comment,
    el("div.card-buttons", null, approve, reject, show),
  );
  approve.addEventListener("click", () => onAct(card.mission, "approve", comment.value));
  reject.addEventListener("click", () => onAct(card.mission, "reject", comment.value));
  show.addEventListener("click", () => onFocus(card.mission, true));
  node.addEventListener("mouseenter", () => onFocus(card.mission, false));
  node.addEventListener("focusin", () => onFocus(card.mission, false));

  const card = {
    node,
    mission,
    busy(on) {
      approve.disabled = on;
      reject.disabled = on;
    },
    update(m, incident) {
      card.mission = m;
      setText(title, incident ? words(incident.kind) : `incident ${m.incident_id}`);
      setText(prio, incident ? `P${incident.priority}` : "P?");
      prio.className = `badge prio-${incident ? incident.priority : 0}`;
      setText(drone, `drone ${m.drone_id} · ${words(m.pattern)} · ${m.id}`);
      setText(where, incident ? `${fmtLatLon(incident.lat_deg, incident.lon_deg)} · reported by ${incident.reported_by} · ${words(incident.status)}` : "");
      setText(desc, incident && incident.description ? `“${incident.description}”` : "");
      desc.hidden = !(incident && incident.description);
      setText(eta, fmtDuration(m.eta_s));
      const b = batteryMargin(m);
      setText(margin, b ? `${b.wh.toFixed(1)} Wh` : m.notes ? "not stated" : "…");
      margin.title = b ? b.note : "";
      margin.className = `big-value${b && b.wh < 5 ? " warn" : ""}`;
      const a = airspaceSummary(m.airspace_report);
      setText(airspace, m.airspace_report ? a.text : "…");
      airspace.className = a.ok === true ? "ok" : a.ok === false ? "bad" : "";
      const lines = [...(m.notes || []).filter((n) => !/^battery:/i.test(n)), ...(a.warnings || []).map((w) => `warning: ${w}`)];
      const key = lines.join("\n");
      if (notes.dataset.key !== key) {
        notes.dataset.key = key;
        notes.replaceChildren(...lines.map((t) => el("li", null, t)));
      }
      card.tick();
    },
    tick() {
      const left = (new Date(card.mission.expires_at).getTime() - Date.now()) / 1000;
      setText(expires, Number.isFinite(left) ? (left > 0 ? `expires in ${fmtDuration(left)}` : "expiring") : "");
      expires.classList.toggle("warn", left < 60);
    },
  };
  return card;
}

const COMMANDS = [
  ["pause", "Pause", "Pause mission {id}? Drone {drone} holds its position."],
  ["resume", "Resume", "Resume mission {id}? Drone {drone} continues its mission."],
  ["rtl", "Return to launch", "Send drone {drone} home (return to launch) on mission {id}?"],
  ["abort", "Abort", "Abort mission {id}? Drone {drone} returns to launch and the mission ends as aborted."],
];

/** An active mission's row. `onAct(mission, action, "", question)`; `onFocus(mission)`. */
export function activeCard(mission, { onAct, onFocus }) {
  const id = mission.id;
  const state = el("span.state");
  const info = el("span.muted");
  const bar = el("span.progress-fill");
  const progressText = el("span.progress-text");
  const battery = el("span");
  const reason = el("p.card-desc");
  const buttons = COMMANDS.map(([action, label, question]) => {
    const b = el(`button.btn${action === "abort" ? ".btn-danger" : ""}`, { type: "button", testid: `${action}-${id}` }, label);
    b.addEventListener("click", () =>
      onAct(card.mission, action, "", question.replace("{id}", card.mission.id).replace("{drone}", String(card.mission.drone_id))),
    );
    return b;
  });
  const node = el(
    "article.card.active-card",
    { testid: `active-${id}`, dataset: { missionId: id, incidentId: mission.incident_id }, "aria-label": `active mission ${id}` },
    el("header.card-head", null, state, info, battery),
    el("div.progress", { role: "progressbar", "aria-label": `progress of mission ${id}` }, bar, progressText),
    reason,
    el("div.card-buttons", null, buttons),
  );
  node.addEventListener("mouseenter", () => onFocus(card.mission, false));
  node.addEventListener("focusin", () => onFocus(card.mission, false));
  const card = {
    node,
    mission,
    busy(on) {
      for (const b of buttons) b.disabled = on;
    },
    update(m, incident, drone) {
      card.mission = m;
      setText(state, words(m.state));
      state.className = `state state-${m.state}`;
      setText(info, `drone ${m.drone_id} · ${incident ? `${words(incident.kind)} P${incident.priority}` : m.incident_id} · ${m.id}`);
      setText(battery, drone ? `battery ${fmtPct(drone.battery)}` : "");
      let pct = 0;
      let text = words(m.state);
      const total = m.item_count || (drone && drone.progress && drone.progress.total) || 0;
      if (drone && drone.progress && FLYING.has(m.state) && total) {
        pct = Math.min(100, (100 * drone.progress.current) / total);
        text = `item ${drone.progress.current} of ${total} (${Math.round(pct)} %)`;
      } else if (m.state === "completed") pct = 100;
      bar.style.width = `${pct}%`;
      node.querySelector(".progress").setAttribute("aria-valuenow", String(Math.round(pct)));
      setText(progressText, text);
      setText(reason, m.reason || "");
    },
  };
  return card;
}
