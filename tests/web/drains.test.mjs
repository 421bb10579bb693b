// unit_drains.test.mjs - pure parts of the dashboard for issue 13, in node without a
// browser: a drain's moves grouped from their notes (drains.js), and arrows that pass
// around the other cards of a dense grid (geometry.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drainOf, groupDrains } from '../../api/web/js/drains.js';
import { gridOf, arrowCurve, curvePath, curveHits } from '../../api/web/js/geometry.js';

const mig = (id, from, status, notes) => ({ id, from_node_id: from, status, notes });

test('a drain is read from its notes and its suggested moves are grouped at the first one\'s place', () => {
  assert.deepEqual(drainOf(mig('a', 'n3', 'suggested', 'drains Node-3: €0.43/h (move 1 of 2, €0.22/h of it; to Node-1)')),
    { key: 'n3|Node-3|0.43', node: 'Node-3', eurHour: 0.43 });
  assert.equal(drainOf(mig('b', 'n1', 'suggested', 'cost: Node-A at 0.40 EUR/h -> Node-B at 0.10 EUR/h')), null);
  assert.equal(drainOf(mig('c', 'n1', 'suggested', null)), null);
  const ms = new Map([
    ['x', mig('x', 'n1', 'scheduled', null)],
    ['a', mig('a', 'n3', 'suggested', 'drains Node-3: €0.43/h (move 1 of 2, €0.22/h of it; to Node-1)')],
    ['y', mig('y', 'n2', 'suggested', 'cost: ...')],
    ['b', mig('b', 'n3', 'suggested', 'drains Node-3: €0.43/h (move 2 of 2, €0.21/h of it; to Node-1)')],
    ['c', mig('c', 'n4', 'suggested', 'drains Node-4: €0.20/h (move 1 of 2, €0.10/h of it; to Node-1)')],
    ['d', mig('d', 'n4', 'approved', 'drains Node-4: €0.20/h (move 2 of 2, €0.10/h of it; to Node-1)')],
  ]);
  const out = groupDrains([...ms.keys()], (id) => ms.get(id));
  // Node-4's drain has one move left to approve: no group of one
  assert.deepEqual(out.map((e) => (e.kind === 'one' ? e.id : `${e.node}:${e.ids.join(',')}`)), ['x', 'Node-3:a,b', 'y', 'c', 'd']);
  assert.equal(out[1].eurHour, 0.43);
});

// The sampled path of a curve or route, and the boxes it passes through (inset 1 px).
function crossed(g, boxes) {
  const d = curvePath(g);
  const nums = d.match(/-?\d+(\.\d+)?/g).map(Number);
  const hit = new Set();
  if (g.pts) {
    for (let i = 1; i < g.pts.length; i++) {
      const [p, q] = [g.pts[i - 1], g.pts[i]];
      for (let s = 0; s <= 20; s++) {
        const x = p.x + ((q.x - p.x) * s) / 20;
        const y = p.y + ((q.y - p.y) * s) / 20;
        boxes.forEach((b, j) => { if (x > b.x + 1 && x < b.x + b.w - 1 && y > b.y + 1 && y < b.y + b.h - 1) hit.add(j); });
      }
    }
    return hit.size;
  }
  assert.ok(nums.length === 6);
  return curveHits(g, boxes.map((b) => ({ ...b, x: b.x + 7, y: b.y + 7, w: b.w - 14, h: b.h - 14 })));
}

test('arrows between any two cards of a dense grid pass no other card', () => {
  for (const [n, cols] of [[9, 3], [12, 4], [20, 5]]) {
    const L = gridOf(n, cols);
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        if (a === b) continue;
        const others = L.boxes.filter((_, i) => i !== a && i !== b);
        for (const lanes of [1, 3]) {
          for (let lane = 0; lane < lanes; lane++) {
            const g = arrowCurve(L.boxes[a], L.boxes[b], lane, lanes, a > b, L.boxes);
            assert.equal(crossed(g, others), 0, `${n} in ${cols} columns: ${a + 1} -> ${b + 1} lane ${lane} of ${lanes} crosses a card: ${curvePath(g)}`);
          }
        }
      }
    }
  }
});
