// unit_format.test.mjs - the dashboard's pure texts (api/web/js/format.js): the seed's
// formats of the migration list, relative times, money and sizes. No browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  relativeTime, eur, savingsText, statusText, routeText, keyTime, durationText, sizeText, percentText,
} from '../../api/web/js/format.js';

const NOW = Date.parse('2026-11-28T13:30:00.000Z');
const S = 1000;
const M = 60 * S;

test('relative time reads just now, then seconds, minutes, hours and days ago', () => {
  assert.equal(relativeTime(NOW, NOW), 'just now');
  assert.equal(relativeTime(NOW - 4 * S, NOW), 'just now');
  assert.equal(relativeTime(NOW - 5 * S, NOW), '5 seconds ago');
  assert.equal(relativeTime(NOW - 59 * S, NOW), '59 seconds ago');
  assert.equal(relativeTime(NOW - 60 * S, NOW), '1 minute ago');
  assert.equal(relativeTime(NOW - 119 * S, NOW), '1 minute ago');
  assert.equal(relativeTime(NOW - 2 * M, NOW), '2 minutes ago');
  assert.equal(relativeTime(NOW - 15 * M, NOW), '15 minutes ago');
  assert.equal(relativeTime(NOW - 60 * M, NOW), '1 hour ago');
  assert.equal(relativeTime(NOW - 5 * 60 * M, NOW), '5 hours ago');
  assert.equal(relativeTime(NOW - 24 * 60 * M, NOW), '1 day ago');
  assert.equal(relativeTime(NOW - 3 * 24 * 60 * M, NOW), '3 days ago');
});

test('relative time of a moment ahead reads in so long', () => {
  assert.equal(relativeTime(NOW + 2 * M, NOW), 'in 2 minutes');
  assert.equal(relativeTime(NOW + 2 * S, NOW), 'just now');
});

test('relative time of a missing moment reads unknown', () => {
  assert.equal(relativeTime(NaN, NOW), 'unknown');
  assert.equal(relativeTime(Date.parse(null), NOW), 'unknown');
});

test('savings read per hour and per month as in the seed', () => {
  assert.equal(savingsText(0.15, 109.5), '€0.15/h (€109.50/mo)');
  assert.equal(savingsText(0.15, null), '€0.15/h (€109.50/mo)'); // month = hour x 730
  assert.equal(savingsText(0.15), '€0.15/h (€109.50/mo)');
  assert.equal(savingsText(0, 0), '€0.00/h (€0.00/mo)');
  assert.equal(savingsText(null, null), '€0.00/h (€0.00/mo)');
  assert.equal(savingsText(6.1, 4453), '€6.10/h (€4,453.00/mo)');
  assert.equal(savingsText(1500, 1095000), '€1,500.00/h (€1,095,000.00/mo)');
});

test('euros have two decimals and grouped thousands', () => {
  assert.equal(eur(0.005), '€0.01');
  assert.equal(eur(1234.5), '€1,234.50');
  assert.equal(eur(-2), '-€2.00');
});

test('status reads with the sync percentage while a worker reports one', () => {
  assert.equal(statusText({ status: 'transferring', data_sync_progress: 75 }), 'Transferring (75%)');
  assert.equal(statusText({ status: 'preparing', data_sync_progress: 40.4 }), 'Preparing (40%)');
  assert.equal(statusText({ status: 'preparing', data_sync_progress: null }), 'Preparing');
  assert.equal(statusText({ status: 'scheduled', data_sync_progress: 0 }), 'Scheduled');
  assert.equal(statusText({ status: 'completed', data_sync_progress: 100 }), 'Completed');
});

test('route reads server: from node → to node, with ids where names are missing', () => {
  assert.equal(routeText({ server_name: 'Server-XYZ', from_node_name: 'Node-A', to_node_name: 'Node-B' }), 'Server-XYZ: Node-A → Node-B');
  assert.equal(routeText({ server_id: 's1', from_node_id: 'n1', to_node_id: 'n2' }), 's1: n1 → n2');
});

test('the list shows when a migration started while it runs and when it ended after', () => {
  const rec = { created_at: '2026-11-28T13:00:00.000Z', started_at: '2026-11-28T13:28:00.000Z', completed_at: '2026-11-28T13:15:00.000Z' };
  assert.deepEqual(keyTime({ ...rec, status: 'transferring' }), { label: 'Started', ms: Date.parse(rec.started_at) });
  assert.deepEqual(keyTime({ ...rec, status: 'completed' }), { label: 'Completed', ms: Date.parse(rec.completed_at) });
  assert.deepEqual(keyTime({ ...rec, status: 'failed' }), { label: 'Failed', ms: Date.parse(rec.completed_at) });
  assert.deepEqual(keyTime({ ...rec, status: 'suggested' }), { label: 'Created', ms: Date.parse(rec.created_at) });
  const t = keyTime({ ...rec, status: 'transferring' });
  assert.equal(`${t.label}: ${relativeTime(t.ms, NOW)}`, 'Started: 2 minutes ago');
  const c = keyTime({ ...rec, status: 'completed' });
  assert.equal(`${c.label}: ${relativeTime(c.ms, NOW)}`, 'Completed: 15 minutes ago');
});

test('durations, sizes and ratios read as people read them', () => {
  assert.equal(durationText(0.85), '850 ms');
  assert.equal(durationText(17.372), '17.4 s');
  assert.equal(durationText(125), '2 min 5 s');
  assert.equal(durationText(3780), '1 h 3 min');
  assert.equal(durationText(null), '—');
  assert.equal(sizeText(512), '512 MB');
  assert.equal(sizeText(12800), '12.5 GB');
  assert.equal(sizeText(1258291), '1.2 TB');
  assert.equal(percentText(0.952), '95.2%');
  assert.equal(percentText(null), '—');
});
