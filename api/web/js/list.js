// list.js - the migration list widget of the seed: a status icon, "Server-XYZ: Node-A →
// Node-B", "Status: Transferring (75%)", "Savings: €0.15/h (€109.50/mo)" and "Started: 2
// minutes ago", newest first, filtered by status and paged by the API. The page's ids
// come from GET /api/migrations; what each entry shows comes from the store, so events
// update it in place. A change that can move entries in or out of the page (a new
// migration, a status change under a filter) reloads the page, at most once a second.

import { h, setText, setAttr, replaceChildren } from './dom.js';
import { routeText, statusText, savingsText, keyTime, relativeTime } from './format.js';
import { FILTERS, canApprove, canCancel, roleMay } from './states.js';
import { groupDrains } from './drains.js';

export const PAGE_SIZE = 20;
const RELOAD_MIN_MS = 1000; // at most one page reload a second under a storm of events

export const STATUS_ICONS = {
  suggested: '◇', approved: '◆', scheduled: '◷', preparing: '⟳', transferring: '⇄',
  completing: '⟳', completed: '✓', failed: '✕', cancelled: '⊘',
};

export class MigrationList {
  // root: the panel; store; api; session (its role decides the buttons); actions
  // (approve, cancel); onSelect(id).
  constructor(root, { store, api, session, actions, onSelect }) {
    Object.assign(this, { root, store, api, session, actions, onSelect });
    this.filter = FILTERS[0];
    this.offset = 0;
    this.total = 0;
    this.ids = [];
    this.items = new Map(); // id -> entry elements
    this.loading = false;
    this.reloadTimer = null;
    this.lastReload = 0;
    this.selected = null;

    this.select = h('select', { id: 'list-filter', 'aria-label': 'Filter by status', onchange: () => this.setFilter(this.select.value) },
      FILTERS.map((f) => h('option', { value: f.id, text: f.label })));
    this.count = h('span', { class: 'list-count', 'aria-live': 'polite' });
    this.error = h('p', { class: 'list-error', role: 'alert', hidden: true });
    this.ul = h('ul', { class: 'mig-list', 'aria-label': 'Migrations' });
    this.prev = h('button', { type: 'button', class: 'pager-prev', text: '‹ Newer', onclick: () => this.page(-1) });
    this.next = h('button', { type: 'button', class: 'pager-next', text: 'Older ›', onclick: () => this.page(1) });
    this.range = h('span', { class: 'pager-range' });
    root.append(
      h('div', { class: 'list-head' }, h('h2', { text: 'Migrations' }), h('label', { class: 'list-filter' }, 'Show ', this.select), this.count),
      this.error, this.ul,
      h('div', { class: 'pager' }, this.prev, this.range, this.next));
  }

  setFilter(id) {
    this.filter = FILTERS.find((f) => f.id === id) || FILTERS[0];
    this.select.value = this.filter.id;
    this.offset = 0;
    this.reload();
  }

  page(dir) {
    const next = this.offset + dir * PAGE_SIZE;
    if (next < 0 || next >= Math.max(this.total, 1)) return;
    this.offset = next;
    this.reload();
  }

  // Loads the current page now; answers when it is shown (or its error is).
  async reload() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = null;
    this.lastReload = Date.now();
    const query = { limit: PAGE_SIZE, offset: this.offset };
    if (this.filter.statuses.length) query.status = this.filter.statuses.join(',');
    const asked = JSON.stringify(query);
    this.asked = asked;
    try {
      const page = await this.api.listMigrations(query);
      if (this.asked !== asked) return; // a newer request replaced this one
      this.total = page.total;
      if (page.items.length === 0 && this.offset > 0 && this.offset >= page.total) {
        this.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
        return this.reload();
      }
      this.ids = page.items.map((m) => this.store.merge(m).id);
      this.error.hidden = true;
    } catch (e) {
      if (this.asked !== asked) return;
      this.error.hidden = false;
      setText(this.error, `The list could not be loaded: ${e.describe ? e.describe() : e.message}`);
    }
    this.draw();
  }

  // A reload soon, at most one per RELOAD_MIN_MS.
  reloadSoon() {
    if (this.reloadTimer) return;
    const wait = Math.max(0, this.lastReload + RELOAD_MIN_MS - Date.now());
    this.reloadTimer = setTimeout(() => this.reload(), wait);
  }

  // The ids this list shows (the store keeps them however old).
  held() {
    return new Set(this.ids);
  }

  // Called each frame with the store's dirty marks.
  render(now) {
    if (this.store.dirty.membership) this.reloadSoon();
    for (const id of this.store.dirty.migrations) {
      const it = this.items.get(id);
      const m = this.store.migrations.get(id);
      if (it && m) this.fill(it, m, now);
    }
  }

  // Rebuilds the entries of the page (after a load or a role change).
  draw() {
    const now = Date.now();
    const keep = new Map();
    const children = [];
    const entry = (id) => {
      const m = this.store.migrations.get(id);
      if (!m) return null;
      const it = this.items.get(id) || this.make(id);
      this.fill(it, m, now);
      keep.set(id, it);
      return it.li;
    };
    // a drain's suggested moves show together, under the node's whole saving
    for (const g of groupDrains(this.ids, (id) => this.store.migrations.get(id))) {
      if (g.kind === 'one') {
        const li = entry(g.id);
        if (li) children.push(li);
        continue;
      }
      children.push(this.drainGroup(g, g.ids.map(entry).filter(Boolean)));
    }
    this.items = keep;
    replaceChildren(this.ul, children.length ? children : [h('li', { class: 'mig-empty', text: 'No migrations here.' })]);
    const from = this.total ? this.offset + 1 : 0;
    const to = Math.min(this.offset + this.ids.length, this.total);
    setText(this.range, `${from}–${to} of ${this.total}`);
    setText(this.count, `${this.total} total`);
    this.prev.disabled = this.offset === 0;
    this.next.disabled = this.offset + PAGE_SIZE >= this.total;
  }

  // One drain: its head (the node, its moves, the saving of the whole, "Approve all")
  // and its moves' entries.
  drainGroup(g, lis) {
    const title = `Drain ${g.node}: ${g.ids.length} moves`;
    const head = h('div', { class: 'mig-group-head' },
      h('span', { class: 'mig-icon', 'aria-hidden': 'true', text: STATUS_ICONS.suggested }),
      h('div', { class: 'mig-body' },
        h('div', { class: 'mig-title', text: title }),
        h('div', { class: 'mig-savings', text: `Savings of the whole: ${savingsText(g.eurHour, g.eurHour * 730)} once ${g.node} is empty` })),
      h('div', { class: 'mig-actions' },
        roleMay(this.session.role, 'approve') ? this.actions.groupButton('approve', g.ids, `the drain of ${g.node}`) : null));
    return h('li', { class: 'mig-group', role: 'group', 'aria-label': title, dataset: { drain: g.node } },
      head, h('ul', { class: 'mig-group-moves', 'aria-label': `Moves of the drain of ${g.node}` }, lis));
  }

  make(id) {
    const it = {
      icon: h('span', { class: 'mig-icon', 'aria-hidden': 'true' }),
      title: h('div', { class: 'mig-title' }),
      status: h('div', { class: 'mig-status' }),
      bar: h('div', { class: 'mig-bar' }),
      savings: h('div', { class: 'mig-savings' }),
      time: h('div', { class: 'mig-time' }),
      note: h('div', { class: 'mig-note' }),
      actions: h('div', { class: 'mig-actions' }),
    };
    it.progress = h('div', { class: 'mig-progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 }, it.bar);
    it.body = h('div', { class: 'mig-body' }, it.title, it.status, it.progress, it.savings, it.time, it.note);
    it.li = h('li', {
      class: 'mig', tabindex: 0, dataset: { id },
      onclick: (e) => { if (!e.target.closest('button')) this.onSelect(id); },
      // Enter or Space on the row itself (not on its buttons) opens the details
      onkeydown: (e) => {
        if ((e.key === 'Enter' || e.key === ' ') && e.target === it.li) {
          e.preventDefault();
          this.onSelect(id);
        }
      },
    }, it.icon, it.body, it.actions);
    return it;
  }

  fill(it, m, now) {
    setAttr(it.li, 'class', `mig mig--${m.status}${m.id === this.selected ? ' mig--selected' : ''}`);
    setAttr(it.li, 'data-status', m.status);
    setText(it.icon, STATUS_ICONS[m.status] || '•');
    setText(it.title, routeText(m));
    setText(it.status, `Status: ${statusText(m)}`);
    const p = Number(m.data_sync_progress);
    const running = (m.status === 'preparing' || m.status === 'transferring') && Number.isFinite(p);
    it.progress.hidden = !running;
    if (running) {
      it.bar.style.transform = `scaleX(${Math.max(0, Math.min(100, p)) / 100})`;
      setAttr(it.progress, 'aria-valuenow', Math.round(p));
    }
    setText(it.savings, `Savings: ${savingsText(m.savings_eur_hour, m.savings_eur_month)}`);
    const kt = keyTime(m);
    it.time.dataset.ms = kt.ms ?? '';
    it.time.dataset.label = kt.label;
    setText(it.time, `${kt.label}: ${kt.ms ? relativeTime(kt.ms, now) : 'unknown'}`);
    const note = m.status === 'scheduled' && m.blocked_reason ? `Waiting: ${m.blocked_reason}`
      : m.status === 'failed' && m.error_message ? `Error: ${m.error_message}`
        : m.warning ? `Warning: ${m.warning}` : '';
    setText(it.note, note);
    it.note.hidden = !note;
    this.fillActions(it, m);
  }

  fillActions(it, m) {
    const want = [];
    if (canApprove(m.status) && roleMay(this.session.role, 'approve')) want.push('approve');
    if (canCancel(m.status) && roleMay(this.session.role, 'cancel')) want.push('cancel');
    const have = [...it.actions.children].map((b) => b.dataset.action).join(',');
    if (have === want.join(',')) return;
    replaceChildren(it.actions, want.map((a) => this.actions.button(a, m.id)));
  }

  // Keeps the relative times ticking.
  tick(now) {
    for (const it of this.items.values()) {
      const t = Number(it.time.dataset.ms);
      if (t) setText(it.time, `${it.time.dataset.label}: ${relativeTime(t, now)}`);
    }
  }

  setSelected(id) {
    this.selected = id;
    for (const [mid, it] of this.items) it.li.classList.toggle('mig--selected', mid === id);
  }
}
