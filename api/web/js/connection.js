// connection.js - the connection indicator: live, reconnecting (with the seconds to the
// next try), catching up; and how many events arrived and how long ago the last one did.
// The visible text changes every second; screen readers hear only a change of state (a
// live region of its own, written when the state changes, not by the ticking text).

import { setText, setAttr } from './dom.js';
import { relativeTime } from './format.js';

// What a screen reader is told when the state changes (and only then).
const ANNOUNCE = {
  connecting: 'Connecting to the event stream',
  loading: 'Loading the current state',
  live: 'Live: events arrive as they happen',
  reconnecting: 'Disconnected from the event stream; reconnecting',
};

export class ConnectionIndicator {
  constructor(root) {
    this.root = root;
    this.text = root.querySelector('.connection-text');
    this.announce = root.querySelector('.connection-announce');
    this.announced = null;
    this.state = 'connecting';
    this.retryAt = 0;
    this.events = 0;
    this.lastEventAt = 0;
  }

  // state: "connecting", "loading", "live", "reconnecting" (waitMs: until the next try).
  set(state, waitMs) {
    this.state = state;
    if (this.announce && state !== this.announced) {
      this.announced = state;
      setText(this.announce, ANNOUNCE[state] || '');
    }
    this.retryAt = state === 'reconnecting' ? Date.now() + (waitMs || 0) : 0;
    this.tick(Date.now());
  }

  event() {
    this.events++;
    this.lastEventAt = Date.now();
  }

  tick(now) {
    setAttr(this.root, 'data-state', this.state);
    let text;
    if (this.state === 'live') {
      const last = this.lastEventAt ? `, last ${relativeTime(this.lastEventAt, now)}` : '';
      text = `Live · ${this.events} event${this.events === 1 ? '' : 's'}${last}`;
    } else if (this.state === 'reconnecting') {
      const s = Math.max(0, Math.ceil((this.retryAt - now) / 1000));
      text = `Disconnected · retrying${s > 0 ? ` in ${s} s` : ''}`;
    } else if (this.state === 'loading') {
      text = 'Loading…';
    } else {
      text = 'Connecting…';
    }
    setText(this.text, text);
  }
}
