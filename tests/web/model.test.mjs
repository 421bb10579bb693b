// unit_model.test.mjs - the dashboard's pure logic besides texts: the arrow of each
// status, the legal actions and roles, event id order, the store's merging of REST
// records with events (no duplicate effect, no regression), and the graph's geometry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrowStyle, canApprove, canCancel, roleMay, STATUSES } from '../../api/web/js/states.js';
import { eventIdAfter, parseEventId } from '../../api/web/js/events.js';
import { Store } from '../../api/web/js/store.js';
import { gridLayout, arrowCurve, wavyPath, curvePath, borderPoint, fitZoom } from '../../api/web/js/geometry.js';

test('arrow colour and line follow the issue for every status', () => {
  const want = {
    suggested: ['grey', 'plain', false], approved: ['yellow', 'plain', false], scheduled: ['yellow', 'dashed', false],
    preparing: ['blue', 'thick', true], transferring: ['blue', 'wavy', true], completing: ['blue', 'plain', false],
    completed: ['green', 'plain', false], failed: ['red', 'plain', false], cancelled: ['grey', 'plain', false],
  };
  for (const st of STATUSES) {
    const a = arrowStyle(st);
    assert.deepEqual([a.colour, a.line, a.animated], want[st], st);
    assert.equal(a.fades, ['completed', 'failed', 'cancelled'].includes(st), st);
  }
});

test('approve is legal from suggested only, cancel until a worker has it', () => {
  assert.deepEqual(STATUSES.filter(canApprove), ['suggested']);
  assert.deepEqual(STATUSES.filter(canCancel), ['suggested', 'approved', 'scheduled']);
});

test('only an operator approves and cancels; the optimizer also creates; a viewer nothing', () => {
  for (const a of ['approve', 'cancel']) {
    assert.equal(roleMay('operator', a), true);
    assert.equal(roleMay('optimizer', a), false);
    assert.equal(roleMay('viewer', a), false);
  }
  assert.equal(roleMay('operator', 'create'), true);
  assert.equal(roleMay('optimizer', 'create'), true);
  assert.equal(roleMay('viewer', 'create'), false);
});

test('event ids compare as numbers, not as text', () => {
  assert.deepEqual(parseEventId('1795872342628-12'), [1795872342628, 12]);
  assert.equal(parseEventId('nope'), null);
  assert.equal(eventIdAfter('1795872342628-10', '1795872342628-9'), true);
  assert.equal(eventIdAfter('1795872342628-9', '1795872342628-10'), false);
  assert.equal(eventIdAfter('1795872342629-0', '1795872342628-99'), true);
  assert.equal(eventIdAfter('1795872342628-1', '1795872342628-1'), false);
  assert.equal(eventIdAfter('1-0', null), true);
  assert.equal(eventIdAfter(undefined, null), false);
});

const T = (s) => `2026-11-28T13:30:${String(s).padStart(2, '0')}.000Z`;
const rec = (over) => ({
  id: 'm1', server_id: 's1', server_name: 'Server-XYZ', from_node_id: 'n1', to_node_id: 'n2', status: 'scheduled',
  data_sync_progress: null, created_at: T(0), updated_at: T(10), started_at: null, completed_at: null, ...over,
});
// A message of /api/ws: the seed's envelope, data.id the migration's id.
const ev = (type, s, over) => ({ type, event_id: `${Date.parse(T(s))}-0`, data: { id: 'm1', timestamp: T(s), server_id: 's1', ...over } });

test('the store skips events older than the record it holds and applies the newer ones', () => {
  const st = new Store();
  st.load({ nodes: [], servers: [], migrations: [rec({ status: 'preparing', updated_at: T(10), data_sync_progress: 40 })] });
  st.apply(ev('migration.status_changed', 5, { old_status: 'scheduled', new_status: 'preparing' }));
  st.apply(ev('migration.progress', 8, { status: 'preparing', progress: 20, message: 'Syncing world (20%)' }));
  assert.equal(st.migrations.get('m1').data_sync_progress, 40, 'an older progress must not move the bar back');
  st.apply(ev('migration.progress', 12, { status: 'preparing', progress: 60, message: 'Syncing world (60%)', phase_step: 'prepare.sync' }));
  st.apply(ev('migration.status_changed', 13, { old_status: 'preparing', new_status: 'transferring' }));
  const m = st.migrations.get('m1');
  assert.equal(m.data_sync_progress, 60);
  assert.equal(m.status, 'transferring');
  assert.equal(m.progress_message, 'Syncing world (60%)');
  assert.equal(m.updated_at, T(13));
});

test('the store ignores a REST record older than what events brought', () => {
  const st = new Store();
  st.load({ nodes: [], servers: [], migrations: [rec({ updated_at: T(10) })] });
  st.apply(ev('migration.status_changed', 12, { old_status: 'scheduled', new_status: 'preparing' }));
  st.merge(rec({ updated_at: T(11), status: 'scheduled' }));
  assert.equal(st.migrations.get('m1').status, 'preparing');
  st.merge(rec({ updated_at: T(14), status: 'transferring' }));
  assert.equal(st.migrations.get('m1').status, 'transferring');
});

test('the store keeps the times, the blocked reason and the end of a migration from its events', () => {
  const st = new Store();
  st.load({ nodes: [], servers: [], migrations: [] });
  st.apply(ev('migration.created', 1, { status: 'suggested', server_name: 'Server-XYZ', from_node_id: 'n1', from_node: 'n1', to_node_id: 'n2', to_node: 'n2', savings_eur_hour: 0.15, savings_eur_month: 109.5 }));
  st.apply(ev('migration.status_changed', 2, { old_status: 'suggested', new_status: 'approved' }));
  st.apply(ev('migration.status_changed', 3, { old_status: 'approved', new_status: 'scheduled' }));
  st.apply(ev('migration.progress', 4, { status: 'scheduled', progress: null, message: '3 players online' }));
  let m = st.migrations.get('m1');
  assert.equal(m.approved_at, T(2));
  assert.equal(m.scheduled_at, T(3));
  assert.equal(m.blocked_reason, '3 players online');
  st.apply(ev('migration.status_changed', 5, { old_status: 'scheduled', new_status: 'preparing' }));
  m = st.migrations.get('m1');
  assert.equal(m.started_at, T(5));
  assert.equal(m.blocked_reason, null);
  st.apply(ev('migration.status_changed', 6, { old_status: 'preparing', new_status: 'failed' }));
  st.apply(ev('migration.failed', 6, { error: 'final sync failed', fail_reason: 'sync', rollback_success: true }));
  m = st.migrations.get('m1');
  assert.equal(m.status, 'failed');
  assert.equal(m.completed_at, T(6));
  assert.equal(m.error_message, 'final sync failed');
  assert.equal(m.rollback_success, true);
  assert.ok(st.endedAt.has('m1'));
});

test('the store counts servers per node as they move and go', () => {
  const st = new Store();
  st.load({ nodes: [{ id: 'n1' }, { id: 'n2' }], servers: [{ id: 's1', node_id: 'n1' }, { id: 's2', node_id: 'n1' }], migrations: [] });
  assert.equal(st.perNode.get('n1'), 2);
  st.apply({ type: 'server.updated', event_id: '1-0', data: { id: 's1', timestamp: T(1), node_id: 'n2', players: 0 } });
  assert.equal(st.perNode.get('n1'), 1);
  assert.equal(st.perNode.get('n2'), 1);
  st.apply({ type: 'server.deleted', event_id: '2-0', data: { id: 's2', timestamp: T(2), migrations_deleted: 0 } });
  assert.equal(st.perNode.get('n1'), 0);
  st.apply({ type: 'node.updated', event_id: '3-0', data: { id: 'n3', timestamp: T(3), name: 'Node-C', healthy: true } });
  assert.equal(st.nodes.get('n3').name, 'Node-C');
  assert.equal(st.dirty.layout, true, 'a new node needs a new layout');
});

test('the grid puts boxes apart, and fits or scrolls', () => {
  const L = gridLayout(50, 920, 600);
  assert.equal(L.boxes.length, 50);
  for (let i = 0; i < L.boxes.length; i++) {
    for (let j = i + 1; j < L.boxes.length; j++) {
      const a = L.boxes[i];
      const b = L.boxes[j];
      const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
      assert.ok(apart, `boxes ${i} and ${j} overlap`);
    }
    assert.ok(L.boxes[i].x + L.boxes[i].w <= L.width && L.boxes[i].y + L.boxes[i].h <= L.height);
  }
  assert.ok(fitZoom(L, 920, 600) >= 0.72, 'text never shrinks below readable');
  const few = gridLayout(3, 1400, 700);
  assert.ok(few.rows <= 2, 'a few nodes sit together');
  const wide = gridLayout(50, 1480, 870);
  assert.ok(fitZoom(wide, 1480, 870) * wide.height <= 870, '50 nodes fit a wide screen without scrolling');
});

test('arrows of one pair take separate lanes, and both directions differ', () => {
  const a = { x: 0, y: 0, w: 176, h: 92 };
  const b = { x: 400, y: 0, w: 176, h: 92 };
  const paths = new Set();
  for (let lane = 0; lane < 3; lane++) paths.add(curvePath(arrowCurve(a, b, lane, 3, false)));
  paths.add(curvePath(arrowCurve(b, a, 0, 3, true)));
  assert.equal(paths.size, 4);
  const g = arrowCurve(a, b, 0, 1, false);
  const inA = (p) => p.x >= a.x && p.x <= a.x + a.w && p.y >= a.y && p.y <= a.y + a.h;
  assert.ok(!inA(g.start), 'the arrow starts outside its box');
  assert.deepEqual(borderPoint(a, { x: 88, y: 46 }), { x: 88, y: 46 });
});

test('a wavy path swings around its curve and ends where the curve ends', () => {
  const g = { start: { x: 0, y: 0 }, ctrl: { x: 100, y: 0 }, end: { x: 200, y: 0 } };
  const d = wavyPath(g, 4, 18);
  const pts = d.slice(1).split(/L| (?=-?\d+(\.\d+)? -?\d)/).filter(Boolean);
  const ys = d.replace(/[ML]/g, ' ').trim().split(/\s+/).map(Number).filter((_, i) => i % 2 === 1);
  assert.ok(Math.max(...ys) > 3 && Math.min(...ys) < -3, 'it swings both ways');
  assert.ok(d.startsWith('M0 0'));
  assert.ok(d.endsWith('200 0'));
  assert.ok(pts.length > 10);
});

test('an older REST record still brings the fields no event carries', () => {
  const st = new Store();
  st.load({ nodes: [], servers: [], migrations: [] });
  st.apply(ev('migration.created', 1, { status: 'scheduled', server_name: 'Server-XYZ', from_node_id: 'n1', to_node_id: 'n2' }));
  st.apply(ev('migration.status_changed', 3, { old_status: 'scheduled', new_status: 'preparing' }));
  st.merge(rec({ updated_at: T(1), status: 'scheduled', notes: 'kernel update', max_retries: 5, started_at: null }));
  const m = st.migrations.get('m1');
  assert.equal(m.notes, 'kernel update');
  assert.equal(m.max_retries, 5);
  assert.equal(m.status, 'preparing', 'the event is newer');
  assert.equal(m.started_at, T(3));
});
