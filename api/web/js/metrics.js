// metrics.js - the metrics panel: counts by status, success rate, average duration and
// total savings (per hour and per month), from GET /api/migrations/stats, which the
// transitions keep current. Reloaded after events that change them, at most every 2 s.

import { h, setText } from './dom.js';
import { STATUSES } from './states.js';
import { statusLabel, percentText, durationText, eur } from './format.js';

const RELOAD_MIN_MS = 2000;

export class Metrics {
  constructor(root, { api }) {
    this.api = api;
    this.last = 0;
    this.timer = null;
    this.counts = new Map();
    const chips = STATUSES.map((st) => {
      const v = h('span', { class: 'chip-value', text: '–' });
      this.counts.set(st, v);
      return h('li', { class: `chip chip--${st}`, dataset: { status: st } }, h('span', { class: 'chip-label', text: statusLabel(st) }), v);
    });
    const figure = (label, cls) => {
      const v = h('span', { class: `figure-value ${cls}`, text: '–' });
      return [h('div', { class: 'figure' }, h('span', { class: 'figure-label', text: label }), v), v];
    };
    let f1; let f2; let f3; let f4;
    [f1, this.rate] = figure('Success rate', 'm-rate');
    [f2, this.avg] = figure('Average duration', 'm-avg');
    [f3, this.hour] = figure('Savings per hour', 'm-hour');
    [f4, this.month] = figure('Savings per month', 'm-month');
    this.error = h('p', { class: 'metrics-error', role: 'alert', hidden: true });
    root.append(h('ul', { class: 'chips', 'aria-label': 'Migrations by status' }, chips),
      h('div', { class: 'figures' }, f1, f2, f3, f4), this.error);
  }

  // Reloads now.
  async reload() {
    clearTimeout(this.timer);
    this.timer = null;
    this.last = Date.now();
    try {
      this.show(await this.api.stats());
      this.error.hidden = true;
    } catch (e) {
      this.error.hidden = false;
      setText(this.error, `Metrics could not be loaded: ${e.describe ? e.describe() : e.message}`);
    }
  }

  // Reloads soon, at most once every RELOAD_MIN_MS.
  reloadSoon() {
    if (this.timer) return;
    this.timer = setTimeout(() => this.reload(), Math.max(0, this.last + RELOAD_MIN_MS - Date.now()));
  }

  show(st) {
    for (const [status, el] of this.counts) setText(el, st.by_status?.[status] ?? 0);
    setText(this.rate, percentText(st.success_rate));
    setText(this.avg, durationText(st.avg_duration_seconds));
    setText(this.hour, `${eur(st.total_savings_eur_hour)}/h`);
    setText(this.month, `${eur(st.total_savings_eur_month)}/mo`);
  }
}
