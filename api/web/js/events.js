// events.js - the WebSocket of events (GET /api/ws, docs/EVENTS.md) with resume: the
// stream keeps the id of the last event it passed on, reconnects with backoff after any
// close, and asks for `?since=<that id>`, so the relay replays what was missed from the
// Redis stream. Each message is the seed's envelope, {type, event_id, data} with data.id
// the migration's (node's, server's) id (docs/EVENTS.md). An event whose id is not
// after the last one is dropped, so nothing is
// passed on twice. A `resync` message (the id was trimmed from the stream) is passed up:
// the page reloads its state over REST.

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000]; // then 8 s on; each with jitter

// Stream ids "<ms>-<seq>" as [ms, seq]; null for anything else.
export function parseEventId(id) {
  const m = /^(\d+)-(\d+)$/.exec(id || '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

// True when event id `a` comes after `b` (any id comes after null).
export function eventIdAfter(a, b) {
  const pa = parseEventId(a);
  if (!pa) return false;
  const pb = parseEventId(b);
  if (!pb) return true;
  return pa[0] > pb[0] || (pa[0] === pb[0] && pa[1] > pb[1]);
}

export class EventStream {
  // opts: url(since) -> the ws:// URL to open; onEvent(ev); onState(state, detail) with
  // state "connecting", "live", "reconnecting" (detail: ms until the next try) or
  // "stopped"; onResync() when the relay cannot replay; onOpen(resumed) after each open.
  constructor(opts) {
    this.opts = opts;
    this.lastId = null;
    this.ws = null;
    this.timer = null;
    this.failures = 0;
    this.stopped = true;
  }

  // Opens the socket; `since` resumes after that event id (null: live events only).
  start(since = null) {
    this.stop();
    this.stopped = false;
    this.lastId = since;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close(1000, 'page closed the stream');
    }
  }

  connect() {
    const resumed = this.lastId !== null;
    this.opts.onState('connecting');
    const ws = new WebSocket(this.opts.url(this.lastId));
    this.ws = ws;
    ws.onopen = () => {
      this.failures = 0;
      this.opts.onState('live');
      this.opts.onOpen(resumed);
    };
    ws.onmessage = (msg) => this.receive(msg.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry();
    };
    ws.onerror = () => {}; // a close follows; the retry is there
  }

  receive(text) {
    let ev;
    try {
      ev = JSON.parse(text);
    } catch {
      return; // the relay sends JSON only; a broken frame is not worth a reload
    }
    if (ev.type === 'resync') {
      this.lastId = null;
      this.opts.onResync();
      return;
    }
    if (!eventIdAfter(ev.event_id, this.lastId)) return; // seen already
    this.lastId = ev.event_id;
    this.opts.onEvent(ev);
  }

  retry() {
    if (this.stopped) return;
    const base = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    const wait = Math.round(base * (0.8 + Math.random() * 0.4));
    this.failures++;
    this.opts.onState('reconnecting', wait);
    this.timer = setTimeout(() => this.connect(), wait);
  }
}
