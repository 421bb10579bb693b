// geometry.js - where the graph's boxes go and the shape of its arrows, as pure
// functions of numbers (no DOM): a staggered grid of node boxes, curved arrows between
// box borders with lanes for several migrations between the same two nodes, and the
// wavy variant of a path. Coordinates are SVG user units (px at zoom 1).

export const BOX = { w: 176, h: 92 };      // a node box; fits its five lines of text
export const GAP = { x: 64, y: 50 };       // between boxes: room for arrows to pass
export const MARGIN = 40;                  // around the whole graph: room for the bends
const LANE_SPACING = 26;                   // bend added per lane: lanes ~13 px apart mid-way
const BEND_RATIO = 0.25;                   // bend of a lone arrow per unit of length: a curve
                                           // clears a box lying on the straight line
const BEND_MAX = 170;

const MIN_ZOOM = 0.72; // below it the boxes' text is too small to read
const MAX_ZOOM = 1.25; // a few nodes on a wide screen grow a little, no more

// The grid of `n` boxes in `cols` columns: odd rows shifted by half a cell, so that no
// three boxes share a line and arrows between them stay apart. Returns {cols, rows,
// width, height, boxes: [{x, y, w, h}]} (top-left corners).
export function gridOf(n, cols) {
  const cellW = BOX.w + GAP.x;
  const cellH = BOX.h + GAP.y;
  const rows = Math.max(1, Math.ceil(n / cols));
  const staggered = rows > 1 && cols > 1;
  const boxes = [];
  for (let i = 0; i < n; i++) {
    const r = Math.floor(i / cols);
    const shift = staggered && r % 2 === 1 ? cellW / 2 : 0;
    boxes.push({ x: MARGIN + (i % cols) * cellW + shift, y: MARGIN + r * cellH, w: BOX.w, h: BOX.h });
  }
  const width = 2 * MARGIN + cols * cellW - GAP.x + (staggered ? cellW / 2 : 0);
  const height = 2 * MARGIN + rows * cellH - GAP.y;
  return { cols, rows, width, height, boxes };
}

// The zoom that shows a layout whole in the area, within [MIN_ZOOM, MAX_ZOOM]; at
// MIN_ZOOM the panel scrolls.
export function fitZoom(layout, areaW, areaH) {
  return Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, areaW / layout.width, areaH / layout.height));
}

// The grid of `n` boxes for an area of `areaW` x `areaH`: the number of columns that
// shows the boxes largest, up to as many as a grid of the area's shape has (a single
// long row would send every arrow around its neighbours); any zoom from 1 up counts the
// same, and then the most columns win. When even the best needs a zoom below MIN_ZOOM:
// the most columns that fit the width at MIN_ZOOM (the panel scrolls down, never
// sideways).
export function gridLayout(n, areaW, areaH) {
  const cellAspect = (BOX.h + GAP.y) / (BOX.w + GAP.x);
  const shaped = Math.ceil(Math.sqrt(n * (areaW / Math.max(1, areaH)) * cellAspect));
  let best = null;
  let bestZoom = -1;
  for (let cols = 1; cols <= Math.max(1, Math.min(n, shaped)); cols++) {
    const L = gridOf(n, cols);
    const z = Math.min(1, areaW / L.width, areaH / L.height);
    if (z >= bestZoom - 1e-9) {
      best = L;
      bestZoom = z;
    }
  }
  if (bestZoom >= MIN_ZOOM) return best;
  let cols = 1;
  while (cols < n && gridOf(n, cols + 1).width * MIN_ZOOM <= areaW) cols++;
  return gridOf(n, cols);
}

function centre(b) {
  return { x: b.x + b.w / 2, y: b.y + b.h / 2 };
}

// The point where the ray from the centre of box `b` toward `p` leaves the box, pushed
// out by `pad` so that an arrowhead does not cover the border.
export function borderPoint(b, p, pad = 3) {
  const c = centre(b);
  const dx = p.x - c.x;
  const dy = p.y - c.y;
  if (dx === 0 && dy === 0) return c;
  const sx = dx === 0 ? Infinity : (b.w / 2 + pad) / Math.abs(dx);
  const sy = dy === 0 ? Infinity : (b.h / 2 + pad) / Math.abs(dy);
  const s = Math.min(sx, sy);
  return { x: c.x + dx * s, y: c.y + dy * s };
}

// The curve of an arrow from box `a` to box `b`: {start, ctrl, end} of a quadratic
// Bezier. `lane` (0..lanes-1) spreads the arrows between the same two nodes; the bend is
// measured in the frame of the pair (`flip` false for the pair's first node to its
// second), so A→B and B→A lanes never coincide.
//
// `obstacles` (the other boxes) are avoided: of the bends tried, from the plain one
// outward on either side, the first whose every lane passes clear of every other box
// (by OBSTACLE_PAD) is taken; when none is clear, the one crossing fewest boxes. Both
// directions of a pair try the same bends in the same frame, so they agree.
//
// When no bend passes clear (a far pair in a dense grid), the arrow is routed instead: the
// shortest polyline from box to box through the corners of the other boxes, kept
// ROUTE_PAD away from them ({pts}, which the path functions below draw too).
export function arrowCurve(a, b, lane, lanes, flip, obstacles = []) {
  const ca = centre(a);
  const cb = centre(b);
  const dx = cb.x - ca.x;
  const dy = cb.y - ca.y;
  const len = Math.hypot(dx, dy) || 1;
  // the normal of the pair's own direction (first node to second): both directions of
  // a pair bend to the same side, and their lanes keep them apart
  const sign = flip ? -1 : 1;
  const nx = (-dy / len) * sign;
  const ny = (dx / len) * sign;
  const base = pairBend(a, b, ca, cb, nx, ny, len, lanes, obstacles);
  if (base === null) {
    const route = flip ? routeAround(b, a, obstacles)?.reverse() : routeAround(a, b, obstacles);
    if (route) return laneRoute(a, b, route, lane, lanes, flip);
  }
  const bend = (base ?? Math.min(BEND_MAX, len * BEND_RATIO)) + (lane - (lanes - 1) / 2) * LANE_SPACING;
  const ctrl = { x: (ca.x + cb.x) / 2 + nx * bend, y: (ca.y + cb.y) / 2 + ny * bend };
  return { start: borderPoint(a, ctrl), ctrl, end: borderPoint(b, ctrl, 5) };
}

const OBSTACLE_PAD = 6;   // px an arrow keeps from a box it passes
const BEND_TRIES = 12;    // bends tried on each side of the plain one
const BEND_STEP = 34;     // px between them
const CURVE_SAMPLES = 40; // segments a curve is checked by

// The bend (before lanes) of a pair's arrows: see arrowCurve.
function pairBend(a, b, ca, cb, nx, ny, len, lanes, obstacles) {
  const plain = Math.min(BEND_MAX, len * BEND_RATIO);
  const others = obstacles.filter((o) => o !== a && o !== b);
  if (others.length === 0) return plain;
  // the lanes' spread is the same on either side: the pair's own frame keeps it so
  const sides = (lanes - 1) / 2 * LANE_SPACING;
  for (let i = 0; i <= 2 * BEND_TRIES; i++) {
    const k = Math.ceil(i / 2);
    const bend = i === 0 ? plain : i % 2 ? plain + k * BEND_STEP : plain - k * BEND_STEP;
    let hits = 0;
    for (const off of lanes > 1 ? [-sides, sides] : [0]) {
      const ctrl = { x: (ca.x + cb.x) / 2 + nx * (bend + off), y: (ca.y + cb.y) / 2 + ny * (bend + off) };
      hits += curveHits({ start: borderPoint(a, ctrl), ctrl, end: borderPoint(b, ctrl, 5) }, others);
    }
    if (hits === 0) return bend;
  }
  return null; // no bend is clear
}

const ROUTE_PAD = 16;     // px a routed arrow keeps from the boxes it goes around
const ROUTE_LANE = 14;    // px between the lanes of a routed pair, fewer when many must fit in ROUTE_PAD

// The waypoints (box centres at both ends) of the shortest polyline from box `a` to box
// `b` that passes no other box, over the corners of the boxes grown by ROUTE_PAD; null
// when there is none. Only boxes near the pair are considered, so a big fleet costs
// little.
function routeAround(a, b, obstacles) {
  const ca = centre(a);
  const cb = centre(b);
  const reach = Math.hypot(cb.x - ca.x, cb.y - ca.y) / 2 + 2 * (BOX.w + GAP.x);
  const mid = { x: (ca.x + cb.x) / 2, y: (ca.y + cb.y) / 2 };
  const others = obstacles.filter((o) => o !== a && o !== b
    && Math.hypot(o.x + o.w / 2 - mid.x, o.y + o.h / 2 - mid.y) <= reach);
  const pts = [ca, cb];
  const p = ROUTE_PAD + 0.5; // corners just outside the padded boxes
  for (const o of others) {
    pts.push({ x: o.x - p, y: o.y - p }, { x: o.x + o.w + p, y: o.y - p }, { x: o.x - p, y: o.y + o.h + p },
      { x: o.x + o.w + p, y: o.y + o.h + p });
  }
  const clear = (u, v) => !others.some((o) => segmentMeetsBox(u, v, o, ROUTE_PAD));
  const dist = pts.map(() => Infinity);
  const prev = pts.map(() => -1);
  const done = pts.map(() => false);
  dist[0] = 0;
  for (;;) {
    let u = -1;
    for (let i = 0; i < pts.length; i++) if (!done[i] && dist[i] < Infinity && (u < 0 || dist[i] < dist[u])) u = i;
    if (u < 0) return null;
    if (u === 1) break;
    done[u] = true;
    for (let v = 0; v < pts.length; v++) {
      if (done[v]) continue;
      const d = dist[u] + Math.hypot(pts[v].x - pts[u].x, pts[v].y - pts[u].y);
      if (d < dist[v] && clear(pts[u], pts[v])) {
        dist[v] = d;
        prev[v] = u;
      }
    }
  }
  const out = [];
  for (let i = 1; i >= 0; i = prev[i]) out.unshift(pts[i]);
  return out;
}

// A routed arrow of lane `lane`: its inner waypoints moved apart for the lanes (in the
// pair's frame, so that A→B and B→A do not coincide), its ends on the boxes' borders.
function laneRoute(a, b, route, lane, lanes, flip) {
  // across the pair's direction (first node to second), within the room ROUTE_PAD leaves
  const ca = centre(flip ? b : a);
  const cb = centre(flip ? a : b);
  const len = Math.hypot(cb.x - ca.x, cb.y - ca.y) || 1;
  const spacing = lanes > 1 ? Math.min(ROUTE_LANE, (2 * (ROUTE_PAD - 2)) / (lanes - 1)) : 0;
  const off = (lane - (lanes - 1) / 2) * spacing * (flip ? -1 : 1);
  const nx = -(cb.y - ca.y) / len;
  const ny = (cb.x - ca.x) / len;
  const inner = route.slice(1, -1).map((q) => ({ x: q.x + nx * off, y: q.y + ny * off }));
  const first = inner[0] || centre(b);
  const last = inner[inner.length - 1] || centre(a);
  return { pts: [borderPoint(a, first), ...inner, borderPoint(b, last, 5)] };
}

// How many of `boxes` (grown by OBSTACLE_PAD) the curve passes through.
export function curveHits(g, boxes) {
  let prev = g.start;
  const hit = new Set();
  for (let i = 1; i <= CURVE_SAMPLES; i++) {
    const p = pointAt(g, i / CURVE_SAMPLES);
    boxes.forEach((b, j) => { if (!hit.has(j) && segmentMeetsBox(prev, p, b, OBSTACLE_PAD)) hit.add(j); });
    prev = p;
  }
  return hit.size;
}

// True when the segment p-q meets box `b` grown by `pad` on every side (Liang-Barsky).
export function segmentMeetsBox(p, q, b, pad = 0) {
  const x0 = b.x - pad;
  const y0 = b.y - pad;
  const x1 = b.x + b.w + pad;
  const y1 = b.y + b.h + pad;
  const dx = q.x - p.x;
  const dy = q.y - p.y;
  let t0 = 0;
  let t1 = 1;
  for (const [num, den] of [[p.x - x0, -dx], [x1 - p.x, dx], [p.y - y0, -dy], [y1 - p.y, dy]]) {
    if (den === 0) {
      if (num < 0) return false;
    } else {
      const t = num / den;
      if (den < 0) t0 = Math.max(t0, t);
      else t1 = Math.min(t1, t);
      if (t0 > t1) return false;
    }
  }
  return true;
}

function r1(v) {
  return Math.round(v * 10) / 10;
}

// The SVG path of a curve: "M x y Q cx cy x y".
export function curvePath(g) {
  if (g.pts) return `M${g.pts.map((q) => `${r1(q.x)} ${r1(q.y)}`).join('L')}`;
  return `M${r1(g.start.x)} ${r1(g.start.y)}Q${r1(g.ctrl.x)} ${r1(g.ctrl.y)} ${r1(g.end.x)} ${r1(g.end.y)}`;
}

function pointAt(g, t) {
  if (g.pts) return polylineAt(g.pts, t);
  const u = 1 - t;
  return {
    x: u * u * g.start.x + 2 * u * t * g.ctrl.x + t * t * g.end.x,
    y: u * u * g.start.y + 2 * u * t * g.ctrl.y + t * t * g.end.y,
  };
}

// The point at fraction `t` of a polyline's length.
function polylineAt(pts, t) {
  let total = 0;
  for (let i = 1; i < pts.length; i++) total += Math.hypot(pts[i].x - pts[i - 1].x, pts[i].y - pts[i - 1].y);
  let want = t * total;
  for (let i = 1; i < pts.length; i++) {
    const l = Math.hypot(pts[i].x - pts[i - 1].x, pts[i].y - pts[i - 1].y);
    if (want <= l || i === pts.length - 1) {
      const k = l ? Math.min(1, want / l) : 0;
      return { x: pts[i - 1].x + (pts[i].x - pts[i - 1].x) * k, y: pts[i - 1].y + (pts[i].y - pts[i - 1].y) * k };
    }
    want -= l;
  }
  return pts[0];
}

// The middle of a curve, where a count badge goes.
export function curveMiddle(g) {
  return pointAt(g, 0.5);
}

// The curve as a wave around itself: a polyline whose points swing `amp` to either side
// with a period of `wavelength` (along the curve), calm at both ends so that the arrow
// leaves its box and meets its arrowhead straight. "M x y L x y ...".
export function wavyPath(g, amp = 4, wavelength = 18) {
  const steps = 64;
  const pts = [];
  for (let i = 0; i <= steps; i++) pts.push(pointAt(g, i / steps));
  const lengths = [0];
  for (let i = 1; i < pts.length; i++) {
    lengths.push(lengths[i - 1] + Math.hypot(pts[i].x - pts[i - 1].x, pts[i].y - pts[i - 1].y));
  }
  const total = lengths[lengths.length - 1] || 1;
  const calm = Math.min(14, total / 4); // straight run at each end, px
  const out = [];
  for (let i = 0; i < pts.length; i++) {
    const prev = pts[Math.max(0, i - 1)];
    const next = pts[Math.min(pts.length - 1, i + 1)];
    const tx = next.x - prev.x;
    const ty = next.y - prev.y;
    const tl = Math.hypot(tx, ty) || 1;
    const s = lengths[i];
    const fade = Math.min(1, s / calm, (total - s) / calm);
    const off = amp * fade * Math.sin((2 * Math.PI * s) / wavelength);
    out.push(`${r1(pts[i].x - (ty / tl) * off)} ${r1(pts[i].y + (tx / tl) * off)}`);
  }
  return `M${out[0]}L${out.slice(1).join(' ')}`;
}
