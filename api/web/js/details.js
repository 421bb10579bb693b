// details.js - one migration in full: its route and status, the blocked reason while it
// waits, the progress message, the error and the rollback's result when it failed, the
// player downtime, every field of the record, and the timeline of its status changes.
// The timeline is told by the events the page received for it (store.history); what
// happened before the page was opened comes from the record's timestamps.

import { h, setText, replaceChildren } from './dom.js';
import { routeText, statusText, statusLabel, savingsText, relativeTime, durationText } from './format.js';
import { canApprove, canCancel, roleMay, TERMINAL } from './states.js';

export class Details {
  // root: the panel; store; api; session; actions; onClose().
  constructor(root, { store, api, session, actions, onClose }) {
    Object.assign(this, { root, store, api, session, actions, onClose });
    this.id = null;
    this.title = h('h2', { class: 'details-title' });
    this.status = h('p', { class: 'details-status' });
    this.alerts = h('div', { class: 'details-alerts' });
    this.buttons = h('div', { class: 'details-actions' });
    this.fields = h('dl', { class: 'details-fields' });
    this.events = h('ol', { class: 'details-timeline' });
    this.timelineNote = h('p', { class: 'muted details-timeline-note' });
    this.error = h('p', { class: 'details-error', role: 'alert', hidden: true });
    root.append(
      h('div', { class: 'details-head' }, this.title,
        h('button', { type: 'button', class: 'btn btn--close', 'aria-label': 'Close details', text: '×', onclick: () => this.onClose() })),
      this.status, this.buttons, this.alerts, this.error,
      h('h3', { text: 'Timeline' }), this.timelineNote, this.events,
      h('h3', { text: 'Record' }), this.fields);
  }

  async open(id) {
    if (this.id === id) return;
    this.id = id;
    this.root.hidden = false;
    this.draw(Date.now());
    try {
      this.store.merge(await this.api.migration(id));
      this.error.hidden = true;
    } catch (e) {
      this.error.hidden = false;
      setText(this.error, `The migration could not be loaded: ${e.describe ? e.describe() : e.message}`);
    }
    if (this.id === id) this.draw(Date.now());
  }

  close() {
    this.id = null;
    this.root.hidden = true;
  }

  render(now) {
    if (this.id && this.store.dirty.migrations.has(this.id)) this.draw(now);
  }

  draw(now) {
    const m = this.store.migrations.get(this.id);
    if (!m) {
      setText(this.title, 'Migration');
      setText(this.status, this.id ? 'Loading…' : '');
      return;
    }
    setText(this.title, routeText(m));
    setText(this.status, `Status: ${statusText(m)}`);
    this.root.dataset.status = m.status;
    const want = [];
    if (canApprove(m.status) && roleMay(this.session.role, 'approve')) want.push('approve');
    if (canCancel(m.status) && roleMay(this.session.role, 'cancel')) want.push('cancel');
    if ([...this.buttons.children].map((b) => b.dataset.action).join(',') !== want.join(',')) {
      replaceChildren(this.buttons, want.map((a) => this.actions.button(a, m.id)));
    }
    replaceChildren(this.alerts, this.alertsOf(m));
    this.drawTimeline(m, now);
    this.drawFields(m, now);
  }

  alertsOf(m) {
    const out = [];
    const line = (cls, label, text) => h('p', { class: `alert alert--${cls}` }, h('strong', { text: `${label}: ` }), text);
    if (m.status === 'failed') {
      out.push(line('error', 'Error', m.error_message || 'no error message recorded'));
      const rb = m.rollback_success;
      out.push(line(rb ? 'info' : 'error', 'Rollback', rb === null || rb === undefined ? 'no result recorded'
        : rb ? 'succeeded: the original server runs again with its players' : 'did not succeed: the server needs an operator'));
    }
    if (m.blocked_reason && m.status === 'scheduled') out.push(line('wait', 'Waiting', m.blocked_reason));
    if (m.progress_message && !TERMINAL.has(m.status)) out.push(line('info', 'Progress', m.progress_message));
    if (m.warning) out.push(line('wait', 'Warning', m.warning));
    if (m.cleanup_node) {
      const why = m.cleanup_error || 'its stop failed';
      const node = this.store.nodes.get(m.cleanup_node);
      out.push(line('wait', 'Old copy', `still running on ${node?.name || m.cleanup_node}: ${why}; retrying until it is gone`));
    }
    if (m.player_downtime_ms !== null && m.player_downtime_ms !== undefined) {
      out.push(line('info', 'Player downtime', durationText(m.player_downtime_ms / 1000)));
    }
    out.push(line('info', 'Savings', savingsText(m.savings_eur_hour, m.savings_eur_month)));
    return out;
  }

  // The timeline: the record's moments from before the first event the page saw, then
  // the events.
  drawTimeline(m, now) {
    const events = this.store.history.get(m.id) || [];
    const first = events.length ? Date.parse(events[0].timestamp) : Infinity;
    const stamps = [['created_at', 'Created'], ['approved_at', 'Approved'], ['scheduled_at', 'Scheduled'],
      ['started_at', 'Started'], ['completed_at', statusLabel(m.status)]]
      .filter(([f]) => m[f] && Date.parse(m[f]) < first)
      .map(([f, label]) => ({ ts: m[f], kind: 'status', text: label }))
      .sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
    const rows = [...stamps, ...events.map(timelineEntry)];
    replaceChildren(this.events, rows.map((r) => h('li', { class: `tl tl--${r.kind}` },
      h('time', { datetime: r.ts, title: r.ts, dataset: { ms: Date.parse(r.ts) }, text: relativeTime(Date.parse(r.ts), now) }),
      h('span', { text: r.text }))));
    setText(this.timelineNote, stamps.length && events.length ? 'Before the page was opened: the record\'s timestamps; then the events.' : '');
  }

  drawFields(m, now) {
    const rows = [];
    for (const [k, v] of Object.entries(m)) {
      let text;
      if (v === null || v === undefined || v === '') text = '—';
      else if (typeof v === 'string' && /_at$/.test(k) && /^\d{4}-/.test(v)) text = `${v} (${relativeTime(Date.parse(v), now)})`;
      else if (typeof v === 'object') text = JSON.stringify(v);
      else text = String(v);
      rows.push(h('dt', { text: k }), h('dd', { text, dataset: { field: k } }));
    }
    replaceChildren(this.fields, rows);
  }

  tick(now) {
    if (!this.id) return;
    for (const t of this.events.querySelectorAll('time[data-ms]')) setText(t, relativeTime(Number(t.dataset.ms), now));
  }
}

// One message of a migration (the envelope of events.js) as a timeline entry: {ts, kind, text}.
function timelineEntry(msg) {
  const ev = msg.data;
  const e = { ts: ev.timestamp, kind: 'status', text: msg.type };
  switch (msg.type) {
    case 'migration.created':
      e.text = `Created ${statusLabel(ev.status).toLowerCase()} by ${ev.triggered_by} (${ev.reason})`;
      break;
    case 'migration.status_changed':
      e.text = `${statusLabel(ev.old_status)} → ${statusLabel(ev.new_status)}`;
      break;
    case 'migration.progress': {
      e.kind = 'progress';
      const pct = ev.progress !== null && ev.progress !== undefined && ev.status !== 'scheduled' ? `${ev.progress}% · ` : '';
      e.text = ev.status === 'scheduled' ? `Held back: ${ev.message}` : `${pct}${ev.message || ev.phase_step || ''}`;
      break;
    }
    case 'migration.completed':
      e.kind = ev.success === false ? 'warning' : 'done';
      e.text = `Completed in ${durationText(ev.duration_seconds)}; ${ev.players_transferred ?? 0} players moved, downtime ${durationText((ev.player_downtime_ms ?? 0) / 1000)}${ev.warning ? `; warning: ${ev.warning}` : ''}`;
      break;
    case 'migration.retry':
      e.kind = 'warning';
      e.text = `Attempt ${ev.attempt} failed (${ev.fail_reason}): ${ev.error}; rollback ${ev.rollback_success ? 'succeeded' : 'did not succeed'}; retry ${ev.attempt} of ${ev.max_retries} not before ${ev.not_before}`;
      break;
    case 'migration.cleanup':
      e.kind = ev.done ? 'done' : 'warning';
      e.text = ev.done ? `Old copy on ${ev.node_id} removed` : `Old copy on ${ev.node_id} still running: ${ev.error}`;
      break;
    case 'migration.failed':
      e.kind = 'failed';
      e.text = `Failed (${ev.fail_reason}): ${ev.error}; rollback ${ev.rollback_success ? 'succeeded' : 'did not succeed'}`;
      break;
    default:
      break;
  }
  return e;
}
