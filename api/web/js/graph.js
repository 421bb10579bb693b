// graph.js - the node graph: one SVG box per node, one arrow per migration of interest
// (those not ended, and the completed and failed ones while they fade out), styled by
// status (states.js arrowStyle, style.css). Updates touch only what changed: a progress
// event moves no arrow, a status change restyles one.

import { h, s, setText, setAttr, replaceChildren } from './dom.js';
import { gridLayout, fitZoom, arrowCurve, curvePath, curveMiddle, wavyPath } from './geometry.js';
import { arrowStyle, TERMINAL } from './states.js';
import { eur, sizeText, routeText, statusText, savingsText } from './format.js';

const LANES_MAX = 4;       // arrows of one pair drawn apart; past it they are grouped by status
const TOOLTIP_ITEMS = 6;   // migrations a tooltip lists before "and N more"
const BUSY_ARROWS = 40;    // animated arrows past which animations step (see drawArrows)

export class Graph {
  // root: the panel's element; store: the page's Store; onSelect(id): a migration was
  // clicked; fade: {holdMs, fadeMs}: how long an ended arrow stays, then how long it
  // takes to vanish; requestRender(): the panel changed size, draw again.
  constructor(root, store, { onSelect, fade, requestRender }) {
    this.root = root;
    this.store = store;
    this.onSelect = onSelect;
    this.fade = fade;
    this.requestRender = requestRender;
    // Two SVGs, one over the other, each its own compositing layer (style.css): the
    // arrows below, the node boxes above (a box stays readable where an arrow passes
    // behind it). An animated arrow then repaints the arrows' layer only, not the
    // boxes' text: with 200 migrations in flight that is what keeps frames short.
    this.svg = s('svg', { class: 'graph-layer graph-arrows', role: 'group', 'aria-label': 'Migrations between nodes' },
      s('defs', null, ['green', 'blue', 'yellow', 'grey', 'red'].map((c) =>
        s('marker', { id: `head-${c}`, class: `head head--${c}`, viewBox: '0 0 10 10', refX: 8, refY: 5,
          markerWidth: 12, markerHeight: 12, markerUnits: 'userSpaceOnUse', orient: 'auto' },
        s('path', { d: 'M0 0L10 5L0 10z' })))));
    this.nodeLayer = s('g', { class: 'nodes' });
    this.arrowLayer = s('g', { class: 'arrows' });
    this.svg.append(this.arrowLayer);
    this.nodeSvg = s('svg', { class: 'graph-layer graph-nodes', role: 'group', 'aria-label': 'Nodes' }, this.nodeLayer);
    this.stack = h('div', { class: 'graph-stack' }, this.svg, this.nodeSvg);
    this.tooltip = h('div', { class: 'tooltip', hidden: true, role: 'tooltip' });
    this.empty = h('p', { class: 'graph-empty', hidden: true, text: 'No nodes in the inventory yet.' });
    this.scroll = h('div', { class: 'graph-scroll' }, this.stack, this.empty);
    root.append(this.scroll, this.tooltip);
    this.boxes = new Map();     // node id -> {g, box, texts...}
    this.arrows = new Map();    // key -> {g, line, hit, badge, ids, geomKey}
    this.layout = null;
    this.layoutVersion = 0;
    this.pinned = false;
    this.size = { w: 0, h: 0 };
    new ResizeObserver(() => this.onResize()).observe(root);
    this.stack.addEventListener('click', (e) => this.onClick(e));
    this.stack.addEventListener('mouseover', (e) => this.onHover(e));
    this.stack.addEventListener('mouseout', (e) => { if (!this.pinned && !e.relatedTarget?.closest?.('.arrow')) this.hideTooltip(); });
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.hideTooltip(true); });
    // by keyboard: arrows and nodes are in the tab order; Enter or Space does what a click does
    this.stack.addEventListener('keydown', (e) => this.onKey(e));
  }

  onResize() {
    const w = this.root.clientWidth;
    const ht = this.root.clientHeight;
    if (w === this.size.w && ht === this.size.h) return;
    this.size = { w, h: ht };
    this.needsLayout = true;
    this.requestRender();
  }

  // Draws what the store marked dirty; `now` is Date.now(), for the fade.
  render(now) {
    const store = this.store;
    let placed = false;
    if (store.dirty.layout || this.needsLayout) {
      this.placeNodes(store);
      store.dirty.layout = false;
      this.needsLayout = false;
      placed = true;
    }
    for (const id of store.dirty.nodes) this.drawNode(store, id);
    // a progress report moves no arrow: only status changes, new layouts and the fades
    // (app.js marks arrows dirty once a second) do
    if (placed || store.dirty.arrows) this.drawArrows(store, now);
  }

  // ------------------------------------------------------------------ nodes

  placeNodes(store) {
    const nodes = store.nodeList();
    const w = Math.max(320, this.size.w || this.root.clientWidth);
    const ht = Math.max(240, this.size.h || this.root.clientHeight);
    const L = gridLayout(nodes.length, w, ht);
    const zoom = fitZoom(L, w, ht);
    this.layout = { ...L, zoom, at: new Map() };
    this.layoutVersion++;
    for (const svg of [this.svg, this.nodeSvg]) {
      setAttr(svg, 'viewBox', `0 0 ${L.width} ${L.height}`);
      setAttr(svg, 'width', Math.round(L.width * zoom));
      setAttr(svg, 'height', Math.round(L.height * zoom));
    }
    this.stack.style.width = `${Math.round(L.width * zoom)}px`;
    this.stack.style.height = `${Math.round(L.height * zoom)}px`;
    this.empty.hidden = nodes.length > 0;
    const seen = new Set();
    nodes.forEach((n, i) => {
      this.layout.at.set(n.id, L.boxes[i]);
      seen.add(n.id);
      let b = this.boxes.get(n.id);
      if (!b) {
        b = this.makeNode(n.id);
        this.boxes.set(n.id, b);
        this.nodeLayer.append(b.g);
      }
      setAttr(b.g, 'transform', `translate(${L.boxes[i].x} ${L.boxes[i].y})`);
      this.drawNode(store, n.id);
    });
    for (const [id, b] of this.boxes) {
      if (!seen.has(id)) {
        b.g.remove();
        this.boxes.delete(id);
      }
    }
  }

  makeNode(id) {
    const t = (cls, x, y) => s('text', { class: cls, x, y });
    const b = {
      rect: s('rect', { class: 'node-box', width: 176, height: 92, rx: 8 }),
      name: t('node-name', 10, 20),
      health: t('node-health', 166, 20),
      price: t('node-line', 10, 40),
      ram: t('node-line', 10, 57),
      ramBg: s('rect', { class: 'node-bar', x: 10, y: 62, width: 156, height: 5, rx: 2 }),
      ramFill: s('rect', { class: 'node-bar-fill', x: 10, y: 62, width: 0, height: 5, rx: 2 }),
      disk: t('node-line', 10, 83),
    };
    b.health.setAttribute('text-anchor', 'end');
    b.g = s('g', { class: 'node', tabindex: 0, role: 'button', dataset: { nodeId: id } }, s('title', null), b.rect, b.name, b.health,
      b.price, b.ram, b.ramBg, b.ramFill, b.disk);
    return b;
  }

  drawNode(store, id) {
    const b = this.boxes.get(id);
    const n = store.nodes.get(id);
    if (!b || !n) return;
    const total = Number(n.ram_total_mb) || 0;
    const used = Math.max(0, total - (Number(n.ram_free_mb) || 0));
    const servers = store.perNode.get(id) || 0;
    const healthy = n.healthy !== false && n.healthy !== 0;
    setText(b.name, clip(n.name || id, 16));
    setText(b.health, healthy ? '● healthy' : '● unhealthy');
    setAttr(b.g, 'class', healthy ? 'node' : 'node node--unhealthy');
    setText(b.price, `${eur(n.eur_hour)}/h · ${servers} server${servers === 1 ? '' : 's'}`);
    setText(b.ram, `RAM ${sizeText(used)} / ${sizeText(total)}`);
    setAttr(b.ramFill, 'width', total > 0 ? Math.round((156 * Math.min(used, total)) / total) : 0);
    setText(b.disk, `Disk free ${sizeText(n.disk_free_mb)}`);
    setText(b.g.firstChild, `${n.name || id} (${id})`);
    setAttr(b.g, 'aria-label', `${n.name || id}, ${healthy ? 'healthy' : 'unhealthy'}, ${eur(n.eur_hour)} per hour, `
      + `${servers} server${servers === 1 ? '' : 's'}, RAM ${sizeText(used)} of ${sizeText(total)}: Enter lists its migrations`);
  }

  // ------------------------------------------------------------------ arrows

  // The migrations of interest, as arrows: per pair of nodes, each its own lane up to
  // LANES_MAX; past that one arrow per direction and status, with a count.
  plan(store, now) {
    const pairs = new Map();
    for (const m of store.migrations.values()) {
      if (m.status === 'cancelled') continue;
      const opacity = this.opacity(store, m, now);
      if (opacity <= 0) continue;
      if (!this.layout?.at.has(m.from_node_id) || !this.layout.at.has(m.to_node_id)) continue;
      if (m.from_node_id === m.to_node_id) continue;
      const [p, q] = [m.from_node_id, m.to_node_id].sort();
      const key = `${p}|${q}`;
      if (!pairs.has(key)) pairs.set(key, []);
      pairs.get(key).push({ m, opacity });
    }
    const out = [];
    for (const list of pairs.values()) {
      list.sort((a, b) => (a.m.from_node_id < b.m.from_node_id ? -1 : a.m.from_node_id > b.m.from_node_id ? 1 : 0)
        || String(a.m.created_at).localeCompare(String(b.m.created_at)) || a.m.id.localeCompare(b.m.id));
      let groups;
      if (list.length <= LANES_MAX) {
        groups = list.map((x) => ({ key: `m:${x.m.id}`, items: [x] }));
      } else {
        const by = new Map();
        for (const x of list) {
          const k = `g:${x.m.from_node_id}>${x.m.to_node_id}:${x.m.status}`;
          if (!by.has(k)) by.set(k, { key: k, items: [] });
          by.get(k).items.push(x);
        }
        groups = [...by.values()];
      }
      groups.forEach((g, lane) => out.push({ ...g, lane, lanes: groups.length }));
    }
    return out;
  }

  // 1 while a migration runs; for an ended one 1 during the hold, then down to 0.
  opacity(store, m, now) {
    if (!TERMINAL.has(m.status)) return 1;
    const at = store.endedAt.get(m.id) ?? now;
    const age = now - at - this.fade.holdMs;
    if (age <= 0) return 1;
    return Math.max(0, 1 - age / this.fade.fadeMs);
  }

  drawArrows(store, now) {
    const planned = this.plan(store, now);
    // with many arrows in motion the animations step a few times a second instead of
    // every frame: each step repaints every moving arrow (style.css, .graph-arrows--busy)
    const moving = planned.filter((p) => arrowStyle(p.items[0].m.status).animated).length;
    this.svg.classList.toggle('graph-arrows--busy', moving > BUSY_ARROWS);
    const seen = new Set();
    for (const p of planned) {
      seen.add(p.key);
      let a = this.arrows.get(p.key);
      if (!a) {
        a = this.makeArrow();
        this.arrows.set(p.key, a);
        this.arrowLayer.append(a.g);
      }
      this.drawArrow(a, p);
    }
    for (const [key, a] of this.arrows) {
      if (!seen.has(key)) {
        a.g.remove();
        this.arrows.delete(key);
      }
    }
  }

  makeArrow() {
    const a = {
      line: s('path', { class: 'arrow-line' }),
      flow: s('path', { class: 'arrow-flow' }), // light dashes running along a wave
      hit: s('path', { class: 'arrow-hit' }),
      badge: s('g', { class: 'arrow-badge', display: 'none' }, s('circle', { r: 9 }), s('text', { 'text-anchor': 'middle', dy: '0.35em' })),
    };
    a.g = s('g', { class: 'arrow', tabindex: 0, role: 'button' }, a.line, a.flow, a.hit, a.badge);
    return a;
  }

  drawArrow(a, p) {
    const first = p.items[0].m;
    const st = arrowStyle(first.status);
    const wavy = st.line === 'wavy';
    setAttr(a.g, 'class', `arrow arrow--${st.colour} arrow--${st.line}`);
    setAttr(a.g, 'data-status', first.status);
    setAttr(a.g, 'data-ids', p.items.map((x) => x.m.id).join(' '));
    setAttr(a.g, 'data-from', first.from_node_id);
    setAttr(a.g, 'data-to', first.to_node_id);
    const n0 = p.items.length;
    setAttr(a.g, 'aria-label', n0 === 1 ? `${routeText(first)}, ${statusText(first)}: Enter for details`
      : `${n0} migrations ${routeText(first).replace(/^[^:]*: /, '')}, ${statusText(first)}: Enter lists them`);
    const opacity = Math.min(...p.items.map((x) => x.opacity));
    setAttr(a.g, 'opacity', opacity >= 1 ? 1 : opacity.toFixed(2));
    setAttr(a.line, 'marker-end', `url(#head-${st.colour})`);
    const geomKey = `${this.layoutVersion}/${p.lane}/${p.lanes}/${wavy}/${first.from_node_id}`;
    if (a.geomKey !== geomKey) {
      a.geomKey = geomKey;
      const from = this.layout.at.get(first.from_node_id);
      const to = this.layout.at.get(first.to_node_id);
      const flip = first.from_node_id > first.to_node_id;
      const g = arrowCurve(from, to, p.lane, p.lanes, flip, this.layout.boxes); // around the other cards
      const d = wavy ? wavyPath(g) : curvePath(g);
      setAttr(a.line, 'd', d);
      if (wavy) setAttr(a.flow, 'd', d);
      else a.flow.removeAttribute('d');
      setAttr(a.hit, 'd', curvePath(g));
      const mid = curveMiddle(g);
      setAttr(a.badge, 'transform', `translate(${Math.round(mid.x)} ${Math.round(mid.y)})`);
    }
    const n = p.items.length;
    setAttr(a.badge, 'display', n === 1 ? 'none' : 'inline');
    if (n > 1) setText(a.badge.lastChild, n);
  }

  // ------------------------------------------------------------------ pointer

  // Enter or Space on a focused arrow or node: an arrow of one migration opens it, of
  // several lists them; a node lists the migrations from and to it.
  onKey(e) {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    const g = e.target.closest?.('.arrow, .node');
    if (!g) return;
    e.preventDefault();
    const r = g.getBoundingClientRect();
    const at = { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
    let ids = this.idsAt(g);
    if (!ids) {
      const node = g.dataset.nodeId;
      ids = [...this.arrows.values()].filter((a) => a.g.dataset.from === node || a.g.dataset.to === node)
        .flatMap((a) => a.g.dataset.ids.split(' '));
      if (ids.length === 0) {
        replaceChildren(this.tooltip, [h('p', { class: 'muted', text: 'No migrations from or to this node.' })]);
        this.tooltip.hidden = false;
        this.pinned = true;
        this.placeTooltip(at);
        return;
      }
    }
    if (ids.length === 1 && g.classList.contains('arrow')) {
      this.hideTooltip(true);
      this.onSelect(ids[0]);
      return;
    }
    this.showTooltip(ids, at, true);
    this.tooltip.querySelector('button')?.focus();
  }

  idsAt(target) {
    const g = target?.closest?.('.arrow');
    return g ? g.dataset.ids.split(' ') : null;
  }

  onHover(e) {
    if (this.pinned) return;
    const ids = this.idsAt(e.target);
    if (ids) this.showTooltip(ids, e, false);
  }

  onClick(e) {
    const ids = this.idsAt(e.target);
    if (!ids) {
      this.hideTooltip(true);
      return;
    }
    if (ids.length === 1) {
      this.hideTooltip(true);
      this.onSelect(ids[0]);
    } else {
      this.showTooltip(ids, e, true);
    }
  }

  showTooltip(ids, e, pinned) {
    const store = this.store;
    const rows = ids.slice(0, TOOLTIP_ITEMS).map((id) => store.migrations.get(id)).filter(Boolean).map((m) =>
      h('button', { type: 'button', class: 'tooltip-row', dataset: { id: m.id }, onclick: () => { this.hideTooltip(true); this.onSelect(m.id); } },
        h('strong', { text: routeText(m) }), h('span', { text: `Status: ${statusText(m)}` }),
        h('span', { text: `Savings: ${savingsText(m.savings_eur_hour, m.savings_eur_month)}` })));
    if (ids.length > TOOLTIP_ITEMS) rows.push(h('p', { class: 'muted', text: `and ${ids.length - TOOLTIP_ITEMS} more` }));
    if (!pinned) rows.push(h('p', { class: 'muted', text: 'Click for details' }));
    replaceChildren(this.tooltip, rows);
    this.tooltip.hidden = false;
    this.tooltip.classList.toggle('tooltip--pinned', pinned);
    this.pinned = pinned;
    this.placeTooltip(e);
  }

  // Puts the tooltip next to the point of `e` (clientX, clientY), inside the panel.
  placeTooltip(e) {
    const r = this.root.getBoundingClientRect();
    const x = Math.min(e.clientX - r.left + 14, r.width - this.tooltip.offsetWidth - 8);
    const y = Math.min(e.clientY - r.top + 14, r.height - this.tooltip.offsetHeight - 8);
    this.tooltip.style.transform = `translate(${Math.max(4, x)}px, ${Math.max(4, y)}px)`;
  }

  hideTooltip(force) {
    if (this.pinned && !force) return;
    this.pinned = false;
    this.tooltip.hidden = true;
  }
}

function clip(text, n) {
  const t = String(text);
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}
