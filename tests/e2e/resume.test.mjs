// resume.test.mjs - a page left open through a restart of migrate-api: it says it is
// disconnected, reconnects by itself, and catches up from its last event id, with every
// event of the stream applied once, in order, none missed, and shows the state reached
// while the API was down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TOKENS } from './stack.mjs';
import { launch, openDashboard, screenshot, until } from './browser.mjs';
import { lifecycleStack } from './fixtures.mjs';

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

test('a page left open through an API restart catches up with no gap and nothing twice', async () => {
  // Server-XYZ's two players hold its migration back until the API is down; then they
  // leave, and the whole migration runs while the page cannot see it, on any machine
  const stack = lifecycleStack();
  try {
    await stack.start();
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator);
    const m = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n3', savings_eur_hour: 0.15 });
    await page.waitForSelector(`.arrow[data-ids~="${m.id}"][data-status="scheduled"]`, { timeout: 20000 });
    await until('the list to show it', async () => (await page.locator(`.mig[data-id="${m.id}"]`).count()) === 1);
    const firstSeen = await page.evaluate(() => window.dashboard.seen[0]);
    assert.ok(firstSeen, 'the page has seen events');

    await stack.stopApi();
    await until('the indicator to say disconnected', async () =>
      (await page.locator('#connection').getAttribute('data-state')) === 'reconnecting');
    assert.match(await page.locator('#connection').textContent(), /Disconnected/);
    await screenshot(page, 'restart-1-api-down');

    // while the API is down: the migration runs to its end, a suggestion is made, a
    // node goes unhealthy, players come and go
    const key = `mig:m:${m.id}`;
    assert.equal(await stack.redis.call('HGET', key, 'status'), 'scheduled');
    await stack.sim('POST', '/control/players', { server_id: 's1', count: 0 });
    await until('the migration to complete with the API down', async () => (await stack.redis.call('HGET', key, 'status')) === 'completed', 60000);
    await stack.sim('POST', '/control/nodes/n2', { healthy: false });
    await stack.sim('POST', '/control/players', { server_id: 's3', count: 4 });
    const before = (await stack.eventIds()).length;
    await stack.redis.call('FCALL', 'mig_create', '1', 'mig:', 'id', '01a30000-0000-7000-8000-000000000001', 'server_id', 's2',
      'to_node_id', 'n3', 'status', 'suggested', 'level', '1', 'reason', 'cost-optimization', 'triggered_by', 'system',
      'savings_eur_hour', '0.07');
    assert.ok((await stack.eventIds()).length > before);

    await stack.startApi();
    await until('the page to be live again', async () => (await page.locator('#connection').getAttribute('data-state')) === 'live', 30000);

    // it caught up: the final state of everything that happened meanwhile is on the page
    await page.waitForSelector(`.arrow[data-ids~="${m.id}"][data-status="completed"]`);
    await page.locator('.mig[data-id="01a30000-0000-7000-8000-000000000001"]').waitFor();
    await until('Node-B unhealthy', async () => /node--unhealthy/.test(await page.locator('.node[data-node-id="n2"]').getAttribute('class')));
    assert.equal(await page.locator(`.mig[data-id="${m.id}"] .mig-status`).textContent(), 'Status: Completed');

    // every event of the stream since the page's first, once each, in order
    let want = [];
    let got = [];
    await until(() => `the page's events to match the stream's: ${got.length} seen, ${want.length} in the stream`, async () => {
      want = [firstSeen, ...(await stack.eventIds(firstSeen))];
      got = await page.evaluate(() => window.dashboard.seen);
      return got.length >= want.length;
    });
    assert.deepEqual(got, want);
    await screenshot(page, 'restart-2-caught-up');
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});
