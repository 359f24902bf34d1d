// A websocket that reconnects by itself (backoff 0.5 s doubling to 10 s, jittered), and the
// connection indicator's tally of the sockets and REST calls a screen depends on.

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10000;
const STABLE_AFTER_MS = 5000;

export function wsUrl(path, params) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") query.set(k, v);
  return `${scheme}://${location.host}${path}?${query}`;
}

// ---------------------------------------------------------------- connection indicator

/** The state of every stream a screen uses, and of the REST calls, as one word. */
class Connection {
  constructor() {
    this.sources = new Map();
    this.listeners = new Set();
  }
  set(name, ok) {
    if (this.sources.get(name) === ok) return;
    this.sources.set(name, ok);
    this.notify();
  }
  remove(name) {
    if (this.sources.delete(name)) this.notify();
  }
  /** True when everything registered is up. */
  get live() {
    for (const ok of this.sources.values()) if (!ok) return false;
    return true;
  }
  subscribe(fn) {
    this.listeners.add(fn);
    fn(this.live);
    return () => this.listeners.delete(fn);
  }
  notify() {
    const live = this.live;
    for (const fn of this.listeners) fn(live);
  }
}

export const connection = new Connection();

// ---------------------------------------------------------------- a reconnecting socket

let socketCount = 0;

/**
 * A websocket that reconnects by itself. `url()` is asked again at every attempt (so the
 * event stream can say where it got to). Closing it while it is still connecting waits for
 * the handshake, so the browser never logs a socket "closed before the connection is
 * established".
 */
export class Socket {
  constructor(url, { onOpen, onMessage, onDown, binary = false, minBackoffMs = MIN_BACKOFF_MS } = {}) {
    this.url = url;
    this.onOpen = onOpen || (() => {});
    this.onMessage = onMessage || (() => {});
    this.onDown = onDown || (() => {});
    this.binary = binary;
    this.minBackoffMs = minBackoffMs;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = true;
    this.opens = 0;
    this.id = ++socketCount;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    this.timer = null;
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.retry(null);
      return;
    }
    if (this.binary) ws.binaryType = "arraybuffer";
    this.ws = ws;
    let openedAt = 0;
    ws.onopen = () => {
      if (this.stopped || ws !== this.ws) {
        ws.close(1000);
        return;
      }
      openedAt = Date.now();
      this.opens += 1;
      this.onOpen(this.opens > 1);
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws || this.stopped) return;
      if (openedAt && Date.now() - openedAt > STABLE_AFTER_MS) this.attempt = 0;
      this.onMessage(event.data, ws);
    };
    ws.onerror = () => {}; // a close event follows; the retry is handled there
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (openedAt && Date.now() - openedAt > STABLE_AFTER_MS) this.attempt = 0;
      this.failures = openedAt ? 0 : (this.failures || 0) + 1;
      this.onDown(event, this.failures);
      this.retry(event);
    };
  }

  retry(event) {
    if (this.stopped || this.timer) return;
    let base = Math.min(MAX_BACKOFF_MS, this.minBackoffMs * 2 ** this.attempt);
    if (event && event.code === 1008) base = MAX_BACKOFF_MS; // refused: no hurry
    this.attempt += 1;
    const delay = base * (0.8 + Math.random() * 0.4);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Reconnect now (for instance with new parameters). */
  restart() {
    if (this.stopped) return;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
    // a socket still connecting closes itself in onopen (it is no longer this.ws)
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.connect();
  }

  send(text, ws = this.ws) {
    if (ws && ws === this.ws && ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  get open() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
  }
}
