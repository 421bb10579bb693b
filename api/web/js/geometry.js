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
export function arrowCurve(a, b, lane, lanes, flip) {
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
  const base = Math.min(BEND_MAX, len * BEND_RATIO);
  const bend = base + (lane - (lanes - 1) / 2) * LANE_SPACING;
  const ctrl = { x: (ca.x + cb.x) / 2 + nx * bend, y: (ca.y + cb.y) / 2 + ny * bend };
  return { start: borderPoint(a, ctrl), ctrl, end: borderPoint(b, ctrl, 5) };
}

function r1(v) {
  return Math.round(v * 10) / 10;
}

// The SVG path of a curve: "M x y Q cx cy x y".
export function curvePath(g) {
  return `M${r1(g.start.x)} ${r1(g.start.y)}Q${r1(g.ctrl.x)} ${r1(g.ctrl.y)} ${r1(g.end.x)} ${r1(g.end.y)}`;
}

function pointAt(g, t) {
  const u = 1 - t;
  return {
    x: u * u * g.start.x + 2 * u * t * g.ctrl.x + t * t * g.end.x,
    y: u * u * g.start.y + 2 * u * t * g.ctrl.y + t * t * g.end.y,
  };
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
