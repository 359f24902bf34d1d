// Small DOM helpers shared by every screen: an element builder, toasts, a modal
// confirmation dialog that traps focus, an audible alert beep, and formatting.

/**
 * Build an element: el("div.card#x", {testid: "q", onclick: fn, title: "t"}, child, "text").
 * Attributes: `class`, `testid` (data-testid), `dataset` (object), `style` (object),
 * `on<event>` (listener), booleans (set when true), everything else via setAttribute.
 */
export function el(spec, attrs = null, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const node = document.createElement((m && m[1]) || "div");
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") node.classList.add(part.slice(1));
      else node.id = part.slice(1);
    }
  }
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className += (node.className ? " " : "") + value;
      else if (key === "testid") node.dataset.testid = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") Object.assign(node.style, value);
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (value === true) node.setAttribute(key, "");
      else if (key === "value") node.value = value;
      else node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/** Replace every child of `node`. */
export function replaceChildren(node, ...children) {
  node.textContent = "";
  append(node, children);
}

/** Set text only when it changed (cheap updates from the stores' notifications). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

// ---------------------------------------------------------------- toasts

let toastBox = null;

/** A short notice in the corner; `kind` is "info", "ok", "warn" or "error". */
export function toast(text, kind = "info", ms = 5000) {
  if (!toastBox) {
    toastBox = el("div.toasts", { role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const item = el(`div.toast.toast-${kind}`, null, text);
  toastBox.append(item);
  setTimeout(() => item.remove(), ms);
}

// ---------------------------------------------------------------- dialogs

const FOCUSABLE =
  'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal question. Resolves true for `confirm-yes`, false for `confirm-no`, Esc or a
 * click outside. Focus stays inside while it is open and returns where it was.
 */
export function confirmDialog(text, { yes = "Confirm", no = "Cancel", danger = false, detail = "" } = {}) {
  return new Promise((resolve) => {
    const before = document.activeElement;
    const yesBtn = el(`button.btn${danger ? ".btn-danger" : ".btn-primary"}`, { type: "button", testid: "confirm-yes" }, yes);
    const noBtn = el("button.btn", { type: "button", testid: "confirm-no" }, no);
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const box = el(
      "div.dialog",
      { role: "alertdialog", "aria-modal": "true", "aria-labelledby": titleId, testid: "confirm-dialog" },
      el("p.dialog-text", { id: titleId }, text),
      detail ? el("p.dialog-detail", null, detail) : null,
      el("div.dialog-buttons", null, noBtn, yesBtn),
    );
    const backdrop = el("div.backdrop", null, box);
    const finish = (answer) => {
      document.removeEventListener("keydown", onKey, true);
      backdrop.remove();
      if (before && typeof before.focus === "function" && document.contains(before)) before.focus();
      resolve(answer);
    };
    const onKey = (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finish(false);
      } else if (event.key === "Tab") {
        const items = [...box.querySelectorAll(FOCUSABLE)];
        const first = items[0];
        const last = items[items.length - 1];
        if (!box.contains(document.activeElement)) {
          event.preventDefault();
          first.focus();
        } else if (event.shiftKey && document.activeElement === first) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first.focus();
        }
      }
    };
    yesBtn.addEventListener("click", () => finish(true));
    noBtn.addEventListener("click", () => finish(false));
    backdrop.addEventListener("mousedown", (event) => {
      if (event.target === backdrop) finish(false);
    });
    document.addEventListener("keydown", onKey, true);
    document.body.append(backdrop);
    noBtn.focus();
  });
}

// ---------------------------------------------------------------- sound

let audio = null;

/** Make sound possible; call from a click handler (browsers need a user gesture). */
export function enableAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return false;
  if (!audio) audio = new Ctx();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return true;
}

/** Two short tones (higher for critical). No-op until enableAudio() ran. */
export function beep(critical = false) {
  if (!audio || audio.state !== "running") return;
  const t0 = audio.currentTime;
  for (let i = 0; i < (critical ? 3 : 2); i++) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = critical ? 1046 : 784;
    const start = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.15);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.16);
  }
}

// ---------------------------------------------------------------- formatting

/** "1 min 13 s", "45 s", "2 h 05 min"; "—" for unknown. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** "87 %" or "—". */
export function fmtPct(value) {
  return value === null || value === undefined || !Number.isFinite(value) ? "—" : `${Math.round(value)} %`;
}

/** Local wall-clock time "14:03:27" of an ISO string, a Date or UNIX seconds. */
export function fmtTime(value) {
  const d = toDate(value);
  return d ? d.toLocaleTimeString([], { hour12: false }) : "—";
}

export function toDate(value) {
  if (value === null || value === undefined) return null;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "47.39950, 8.55100". */
export function fmtLatLon(lat, lon) {
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return "—";
  return `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
}

/** A flight mode or state name as words: "return_to_launch" → "return to launch". */
export function words(name) {
  return name ? String(name).replace(/_/g, " ") : "—";
}

/** The colour class of a link state. */
export function linkClass(link) {
  return link === "connected" ? "ok" : link === "degraded" ? "warn" : link === "lost" ? "bad" : "unknown";
}

/** A random id for Idempotency-Key headers. */
export function randomKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
