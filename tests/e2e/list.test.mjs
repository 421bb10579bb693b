// list.test.mjs - the migration list of the seed: its texts ("Server-XYZ: Node-A →
// Node-B", "Status: Preparing (40%)", "Savings: €0.15/h (€109.50/mo)", "Started: 2
// minutes ago", "Completed: 15 minutes ago"), relative times that tick without a reload,
// newest first, the status filter and the pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TOKENS } from './stack.mjs';
import { launch, openDashboard, screenshot, until } from './browser.mjs';
import { lifecycleStack, FLEET } from './fixtures.mjs';

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

const text = (page, id, cls) => page.locator(`.mig[data-id="${id}"] .${cls}`).textContent();

test('the list shows the seed\'s texts, its relative times tick, and it filters and pages', async () => {
  // Server-XYZ's world is big: its sync runs through the test; 24 more idle servers
  const extra = Array.from({ length: 24 }, (_, i) => ({ id: `x${i + 1}`, name: `Extra-${i + 1}`, node_id: 'n2', ram_mb: 1024, disk_mb: 500, players: 1 }));
  const fleet = { ...FLEET, servers: [...FLEET.servers.map((s) => (s.id === 's1' ? { ...s, players: 0, disk_mb: 200000 } : s)), ...extra] };
  const stack = lifecycleStack(fleet);
  try {
    await stack.start();
    const done = await stack.ok('POST', '/api/migrations', { server_id: 's2', to_node_id: 'n3', start_now: true, savings_eur_hour: 0.05 });
    await until('the first migration to complete', async () => (await stack.ok('GET', `/api/migrations/${done.id}`)).status === 'completed', 30000);
    const run = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n3', start_now: true, savings_eur_hour: 0.15 });
    await until('the second to run', async () => (await stack.ok('GET', `/api/migrations/${run.id}`)).status === 'preparing', 30000);
    const sug = await stack.ok('POST', '/api/migrations', { server_id: 's3', to_node_id: 'n1', savings_eur_hour: 1234.5 }, 'optimizer');

    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator, { clock: true });
    // newest first
    const order = await page.locator('.mig').evaluateAll((els) => els.map((e) => e.dataset.id));
    assert.deepEqual(order, [sug.id, run.id, done.id]);
    assert.equal(await text(page, run.id, 'mig-title'), 'Server-XYZ: Node-A → Node-C');
    assert.match(await text(page, run.id, 'mig-status'), /^Status: Preparing \(\d+%\)$/);
    assert.equal(await text(page, run.id, 'mig-savings'), 'Savings: €0.15/h (€109.50/mo)');
    assert.equal(await text(page, sug.id, 'mig-savings'), 'Savings: €1,234.50/h (€901,185.00/mo)');
    assert.equal(await text(page, done.id, 'mig-savings'), 'Savings: €0.05/h (€36.50/mo)');
    assert.match(await text(page, run.id, 'mig-time'), /^Started: (just now|\d+ seconds ago)$/);
    assert.match(await text(page, done.id, 'mig-time'), /^Completed: (just now|\d+ seconds ago)$/);
    assert.match(await text(page, sug.id, 'mig-time'), /^Created: (just now|\d+ seconds ago)$/);
    assert.equal(await page.locator(`.mig[data-id="${done.id}"] .mig-icon`).textContent(), '✓');

    // time passes; the texts follow without a reload
    await page.clock.fastForward('02:00');
    await until('two minutes to show', async () => (await text(page, run.id, 'mig-time')) === 'Started: 2 minutes ago');
    assert.equal(await text(page, done.id, 'mig-time'), 'Completed: 2 minutes ago');
    assert.equal(await text(page, sug.id, 'mig-time'), 'Created: 2 minutes ago');
    await screenshot(page, 'list-2-minutes');
    await page.clock.fastForward('13:00');
    await until('fifteen minutes to show', async () => (await text(page, done.id, 'mig-time')) === 'Completed: 15 minutes ago');
    assert.equal(await text(page, run.id, 'mig-time'), 'Started: 15 minutes ago');

    // the filter asks the API for those statuses only
    await page.locator('#list-filter').selectOption('completed');
    await until('the completed only', async () => (await page.locator('.mig').evaluateAll((els) => els.map((e) => e.dataset.id))).join() === done.id);
    await page.locator('#list-filter').selectOption('running');
    await until('the running only', async () => (await page.locator('.mig').evaluateAll((els) => els.map((e) => e.dataset.id))).join() === run.id);
    await page.locator('#list-filter').selectOption('all');

    // 24 more: a page holds 20; a new one appears on top, live
    for (const s of extra) await stack.ok('POST', '/api/migrations', { server_id: s.id, to_node_id: 'n3', savings_eur_hour: 0.01 }, 'optimizer');
    await until('27 in the list', async () => (await page.locator('.pager-range').textContent()) === '1–20 of 27');
    assert.equal(await page.locator('.mig').count(), 20);
    assert.equal(await page.locator('.mig').first().getAttribute('data-id'), (await stack.ok('GET', '/api/migrations?limit=1')).items[0].id);
    await page.locator('.pager-next').click();
    await until('the second page', async () => (await page.locator('.pager-range').textContent()) === '21–27 of 27');
    assert.equal(await page.locator('.mig').count(), 7);
    assert.equal(await page.locator('.mig').last().getAttribute('data-id'), done.id);
    await page.locator('.pager-prev').click();
    await until('the first page again', async () => (await page.locator('.pager-range').textContent()) === '1–20 of 27');
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});
