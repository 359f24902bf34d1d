// One drone's live video over /ws/video/{id}?ack=1, drawn into an <img>.

import { Socket, wsUrl } from "./socket.js";
import { el, setText } from "./ui.js";

// ---------------------------------------------------------------- /ws/video/{id}

const STATE_TEXT = {
  connecting: "connecting to the camera…",
  down: "video lost — reconnecting",
  stopped: "video stopped",
  disconnected: "video lost — reconnecting",
  refused: "no video",
};

/** The width to ask for: the smallest served tier at least `px` wide, else full size (0). */
export function tierFor(px, tiers) {
  const sizes = (tiers && tiers.length ? tiers : [0, 640, 320]).filter((t) => t > 0).sort((a, b) => a - b);
  for (const t of sizes) if (t >= px) return t;
  return 0;
}

/**
 * One drone's live video in an <img>. Frames arrive as a 32-byte header (`>4sHHIIQd`:
 * "MCV1", header length, flags, drone id, width, seq, capture time) plus a JPEG; each is
 * shown through a blob URL (the previous one revoked) and acknowledged with {"ack": seq}
 * once the image has loaded, so the service never sends faster than the page shows.
 * `element` carries data-frames (frames received) and data-state (the source's state).
 */
export class VideoTile {
  constructor(droneId, token, { tiers = [0, 640, 320], label = `Drone ${droneId}`, testid = `video-tile-${droneId}` } = {}) {
    this.droneId = droneId;
    this.tiers = tiers;
    this.width = tierFor(320, tiers);
    this.frames = 0;
    this.shown = null; // blob URL on screen
    this.loading = null; // {url, seq, ws, capture, flags} being decoded
    this.pending = null; // the newest frame waiting for the <img>
    this.lastCapture = 0;
    this.img = el("img.video-img", { alt: `Live video from drone ${droneId}`, decoding: "async" });
    this.status = el("div.video-status", { role: "status" }, STATE_TEXT.connecting);
    this.meta = el("div.video-meta");
    this.element = el(
      "figure.video-tile",
      { testid, dataset: { frames: "0", state: "connecting", droneId: String(droneId) } },
      this.img,
      el("figcaption.video-label", null, label),
      this.meta,
      this.status,
    );
    this.img.addEventListener("load", () => this.loaded(true));
    this.img.addEventListener("error", () => this.loaded(false));
    this.socket = new Socket(() => wsUrl(`/ws/video/${droneId}`, { token, width: this.width, ack: 1 }), {
      binary: true,
      onOpen: () => this.setState(this.state === "disconnected" ? "connecting" : this.state || "connecting"),
      onDown: (event) => {
        if (event.code === 1008) this.setState("refused", event.reason || "no video source for this drone");
        else this.setState("disconnected");
      },
      onMessage: (data, ws) => (typeof data === "string" ? this.text(data) : this.frame(data, ws)),
    });
    this.state = "connecting";
    this.ageTimer = setInterval(() => this.showAge(), 1000);
    // connect once the tile has been laid out (fit() may pick another width first)
    this.startTimer = setTimeout(() => this.socket.start(), 0);
  }

  /** Fit the requested width to the tile's width on screen (CSS px × device pixel ratio). */
  fit(cssWidthPx) {
    const want = tierFor(Math.round(cssWidthPx * (window.devicePixelRatio || 1)), this.tiers);
    if (want !== this.width) {
      this.width = want;
      if (!this.socket.stopped) this.socket.restart();
    }
  }

  setState(state, reason = "") {
    this.state = state;
    this.element.dataset.state = state;
    const text = state === "up" ? "" : `${STATE_TEXT[state] || state}${reason ? ` (${reason})` : ""}`;
    setText(this.status, text);
    this.status.hidden = state === "up";
    this.element.classList.toggle("video-down", state !== "up");
  }

  text(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg && msg.kind === "source" && typeof msg.state === "string") {
      let reason = msg.state === "down" && msg.reason ? msg.reason : "";
      if (msg.state === "down" && Number.isFinite(msg.retry_in_s)) reason += `${reason ? "; " : ""}retry in ${Math.ceil(msg.retry_in_s)} s`;
      this.setState(msg.state, reason);
    }
  }

  frame(buffer, ws) {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 32) return;
    const view = new DataView(buffer);
    const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
    if (magic !== "MCV1") return;
    const headerLength = view.getUint16(4);
    if (headerLength < 32 || headerLength > buffer.byteLength) return;
    const frame = {
      flags: view.getUint16(6),
      width: view.getUint32(12),
      seq: Number(view.getBigUint64(16)),
      capture: view.getFloat64(24),
      blob: new Blob([new Uint8Array(buffer, headerLength)], { type: "image/jpeg" }),
      ws,
    };
    this.frames += 1;
    this.element.dataset.frames = String(this.frames);
    if (this.state !== "up") this.setState("up");
    if (this.loading) this.pending = frame; // shown after the current one (older ones skipped)
    else this.show(frame);
  }

  show(frame) {
    const url = URL.createObjectURL(frame.blob);
    this.loading = { url, seq: frame.seq, ws: frame.ws, capture: frame.capture, flags: frame.flags, width: frame.width };
    this.img.src = url;
  }

  loaded(ok) {
    const done = this.loading;
    if (!done) return;
    this.loading = null;
    if (ok) {
      if (this.shown) URL.revokeObjectURL(this.shown);
      this.shown = done.url;
      this.lastCapture = done.capture;
      this.element.classList.toggle("video-privacy", Boolean(done.flags & 1));
      this.frameWidth = done.width;
    } else {
      URL.revokeObjectURL(done.url);
    }
    this.socket.send(JSON.stringify({ ack: done.seq }), done.ws);
    const next = this.pending;
    this.pending = null;
    if (next && !this.closed) this.show(next);
  }

  showAge() {
    if (!this.lastCapture) return;
    const age = Date.now() / 1000 - this.lastCapture;
    const px = this.frameWidth ? `${this.frameWidth} px · ` : "";
    setText(this.meta, `${px}${age < 10 ? age.toFixed(1) : Math.round(age)} s old`);
    this.element.classList.toggle("video-stale", age > 3);
  }

  close() {
    this.closed = true;
    clearTimeout(this.startTimer);
    clearInterval(this.ageTimer);
    this.socket.close();
    if (this.loading) URL.revokeObjectURL(this.loading.url);
    if (this.shown) URL.revokeObjectURL(this.shown);
    this.loading = this.pending = this.shown = null;
    this.img.removeAttribute("src");
    this.element.remove();
  }
}
