// Websockets: the event stream (ordered, replayable with ?since=) and the telemetry stream
// (latest-wins); video tiles live in video.js. Every socket reconnects by itself with
// backoff (0.5 s doubling to 10 s, jittered); `connection` sums up their state for the
// indicator in the top bar.

import { Socket, connection, wsUrl } from "./socket.js";

export { connection } from "./socket.js";
export { VideoTile, tierFor } from "./video.js";

const SEQ_KEY = "mc.events.seq";

// ---------------------------------------------------------------- /ws/events

/** Events a screen that has seen none yet is shown first (the feed is not empty). */
const RECENT = 50;

/** The last event sequence number this browser has seen (null: none yet). */
export function lastSeq() {
  try {
    const raw = localStorage.getItem(SEQ_KEY);
    const n = raw === null ? NaN : Number(raw);
    return Number.isInteger(n) && n >= 0 ? n : null;
  } catch {
    return null;
  }
}

function saveSeq(seq) {
  try {
    localStorage.setItem(SEQ_KEY, String(seq));
  } catch {
    /* not kept: a reload starts from the live end */
  }
}

/**
 * Incident, mission and alert events in order. Remembers the last sequence number (in
 * localStorage) and asks for what came after it on every (re)connection, so nothing is
 * missed across reconnects and reloads. `onEvent(event)`; `onReconnect()` after the
 * connection came back (a screen may reload its REST state then); `onReset()` when the
 * service's numbering started again; `onFailing(n)` after every third failed attempt in a
 * row (is the service down, or was the token revoked?).
 */
export class EventStream {
  constructor(token, { onEvent, onReconnect, onReset, onFailing, name = "events" } = {}) {
    this.name = name;
    this.seq = lastSeq();
    // a screen that has seen nothing yet starts with the latest events, not an empty feed
    const query = () => (this.seq === null ? { token, recent: RECENT } : { token, since: this.seq });
    this.socket = new Socket(() => wsUrl("/ws/events", query()), {
      onOpen: (again) => {
        connection.set(this.name, true);
        if (again && onReconnect) onReconnect();
      },
      onDown: (event, failures) => {
        connection.set(this.name, false);
        if (failures && failures % 3 === 0 && onFailing) onFailing(failures);
      },
      onMessage: (data) => {
        let event;
        try {
          event = JSON.parse(data);
        } catch {
          return;
        }
        if (!event || typeof event.seq !== "number") return;
        // The service sends only events after `since`, in order: a number at or below the
        // last one seen means its numbering started again (a new database).
        if (this.seq !== null && event.seq <= this.seq && onReset) onReset();
        this.seq = event.seq;
        saveSeq(event.seq);
        if (onEvent) onEvent(event);
      },
    });
  }
  start() {
    connection.set(this.name, false);
    this.socket.start();
    return this;
  }
  close() {
    this.socket.close();
    connection.remove(this.name);
  }
}

// ---------------------------------------------------------------- /ws/telemetry

/**
 * Latest-wins telemetry: each message is a JSON array of samples {drone_id, kind, ts, …}.
 * `latest` keeps the newest sample per drone and kind; `onSamples(array)` sees each batch.
 */
export class TelemetryStream {
  constructor(token, { onSamples, onReconnect, name = "telemetry" } = {}) {
    this.name = name;
    this.latest = new Map();
    this.socket = new Socket(() => wsUrl("/ws/telemetry", { token }), {
      onOpen: (again) => {
        connection.set(this.name, true);
        if (again && onReconnect) onReconnect();
      },
      onDown: () => connection.set(this.name, false),
      onMessage: (data) => {
        let batch;
        try {
          batch = JSON.parse(data);
        } catch {
          return;
        }
        if (!Array.isArray(batch)) batch = [batch];
        for (const sample of batch) {
          if (sample && sample.drone_id !== undefined) this.latest.set(`${sample.drone_id}/${sample.kind}`, sample);
        }
        if (onSamples) onSamples(batch);
      },
    });
  }
  /** The newest sample of one drone and kind, or undefined. */
  get(droneId, kind) {
    return this.latest.get(`${droneId}/${kind}`);
  }
  start() {
    connection.set(this.name, false);
    this.socket.start();
    return this;
  }
  close() {
    this.socket.close();
    connection.remove(this.name);
  }
}
