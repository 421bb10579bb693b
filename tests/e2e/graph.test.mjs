// graph.test.mjs - the node graph and the page as a whole: every node's box with its
// figures, arrows of many statuses at once in both themes and two screen sizes, lanes
// and counts for several migrations between the same two nodes, hover and click.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, TOKENS } from './stack.mjs';
import { launch, openDashboard, screenshot, until } from './browser.mjs';

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

// Six nodes, three servers on each of the first four; Server-1 and Server-2 have
// players, so that their migrations wait; Server-3's world is large, so that its sync
// runs through the test.
const NODES = [['n1', 'Node-A', 0.42], ['n2', 'Node-B', 0.30], ['n3', 'Node-C', 0.12], ['n4', 'Node-D', 0.25],
  ['n5', 'Node-E', 0.09], ['n6', 'Node-F', 0.18]];
const SHOWCASE = {
  nodes: NODES.map(([id, name, eur]) => ({ id, name, eur_hour: eur, ram_total_mb: 131072, disk_total_mb: 1000000 })),
  servers: Array.from({ length: 12 }, (_, i) => ({
    id: `s${i + 1}`, name: `Server-${i + 1}`, node_id: `n${(i % 4) + 1}`, ram_mb: 2048 + 1024 * (i % 3),
    disk_mb: i === 2 ? 30000 : 1500, write_mb_s: 0.2, players: i < 2 ? 3 : 0,
  })),
};

test('the graph shows every node with its price, RAM, disk, servers and health, and arrows of every status in both themes', async () => {
  const stack = new Stack({
    sim: { fleet: SHOWCASE, env: { MIG_SIM_SPEED: '1' } },
    scheduler: { MIG_IDLE_S: '0', MIG_TICK_MS: '200' },
    worker: { MIG_POLL_MS: '100', MIG_COOLDOWN_S: '5', MIG_CONCURRENCY: '4', MIG_DRIVER_TIMEOUT_MS: '300000' },
  });
  try {
    await stack.start();
    await stack.sim('POST', '/control/nodes/n6', { healthy: false });
    // failed: the sync to Node-E fails; completed: Server-4 to Node-C, quickly
    await stack.sim('POST', '/control/faults', { node_id: 'n5', call: 'POST /v1/sync', mode: 'fail', status: 500 });
    const failed = await stack.ok('POST', '/api/migrations', { server_id: 's9', to_node_id: 'n5', start_now: true, max_retries: 0 });
    const done = await stack.ok('POST', '/api/migrations', { server_id: 's4', to_node_id: 'n3', start_now: true, savings_eur_hour: 0.30 });
    await until('the failed and the completed migration', async () =>
      (await stack.ok('GET', `/api/migrations/${failed.id}`)).status === 'failed'
      && (await stack.ok('GET', `/api/migrations/${done.id}`)).status === 'completed', 30000);
    await stack.sim('DELETE', '/control/faults');
    // transferring held at the proxy's registration; preparing through a long sync
    await stack.sim('POST', '/control/faults', { node_id: 'proxy', call: 'PUT /v1/servers/{id}', mode: 'slow', delay_ms: 240000, times: 1 });
    const moving = await stack.ok('POST', '/api/migrations', { server_id: 's6', to_node_id: 'n3', start_now: true, savings_eur_hour: 0.18 });
    await until('a migration in transferring', async () => (await stack.ok('GET', `/api/migrations/${moving.id}`)).status === 'transferring', 30000);
    const syncing = await stack.ok('POST', '/api/migrations', { server_id: 's3', to_node_id: 'n5', start_now: true, savings_eur_hour: 0.16 });
    // scheduled (waiting for players), suggestions, and one approved while the
    // scheduler is held still (it would schedule it at once)
    await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n3', savings_eur_hour: 0.30 });
    const sug = [];
    for (const [sid, to, eur] of [['s2', 'n5', 0.21], ['s5', 'n3', 0.18], ['s7', 'n5', 0.16], ['s8', 'n2', 0.05]]) {
      sug.push(await stack.ok('POST', '/api/migrations', { server_id: sid, to_node_id: to, savings_eur_hour: eur }, 'optimizer'));
    }
    stack.children.scheduler.kill('SIGSTOP');
    await stack.ok('POST', `/api/migrations/${sug[0].id}/approve`);
    let sy = null;
    await until(() => `the sync under way: ${JSON.stringify(sy)}`, async () => (sy = await stack.ok('GET', `/api/migrations/${syncing.id}`)).data_sync_progress > 0, 30000);

    for (const [width, height] of [[1366, 768], [1920, 1080]]) {
      for (const scheme of ['light', 'dark']) {
        const inventory = (await stack.ok('GET', '/api/nodes')).items;
        const servers = (await stack.ok('GET', '/api/servers')).items;
        // ?fade=3600: the failed and completed arrows stay however long a loaded machine takes
        // to get through the four pages (the default 60 s is less than that may take)
        const { page, context, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator, { width, height, colorScheme: scheme, query: '?fade=3600' });
        // every node has its box, with its figures
        assert.equal(await page.locator('.node').count(), NODES.length);
        for (const n of inventory) {
          const box = page.locator(`.node[data-node-id="${n.id}"]`);
          const text = (await box.locator('text').allTextContents()).join(' | ');
          const count = servers.filter((sv) => sv.node_id === n.id).length;
          assert.ok(text.startsWith(n.name), text);
          assert.ok(text.includes(`€${n.eur_hour.toFixed(2)}/h · ${count} server${count === 1 ? '' : 's'}`), text);
          assert.match(text, /RAM \d+(\.\d)? (MB|GB) \/ 128\.0 GB/);
          assert.match(text, /Disk free \d+(\.\d)? (MB|GB|TB)/);
          assert.ok(text.includes(n.healthy ? '● healthy' : '● unhealthy'), text);
        }
        assert.match(await page.locator('.node[data-node-id="n6"]').getAttribute('class'), /node--unhealthy/);
        // one arrow per migration, each in its status
        for (const st of ['suggested', 'approved', 'scheduled', 'preparing', 'transferring', 'completed', 'failed']) {
          await page.waitForSelector(`.arrow[data-status="${st}"]`, { timeout: 60000 });
        }
        // the graph fits the panel at this size: nothing to scroll sideways
        const scroll = await page.locator('.graph-scroll').evaluate((el) => el.scrollWidth <= el.clientWidth);
        assert.ok(scroll, 'no horizontal scrolling');
        await page.waitForTimeout(300); // the progress bar's transition
        await screenshot(page, `dashboard-${scheme}-${width}`);
        assert.deepEqual(errors, []);
        await context.close();
      }
    }
  } finally {
    stack.children.scheduler?.kill('SIGCONT');
    await stack.stop();
  }
});

test('several migrations between the same two nodes get lanes of their own, then a count; hover and click show them', async () => {
  const stack = new Stack();
  try {
    await stack.start();
    for (const [id, name, eur] of NODES.slice(0, 3)) {
      await stack.ok('PUT', `/api/nodes/${id}`, { name, eur_hour: eur, healthy: true, ram_total_mb: 65536, ram_free_mb: 32768, disk_free_mb: 400000 }, 'optimizer');
    }
    for (let i = 1; i <= 8; i++) {
      await stack.ok('PUT', `/api/servers/s${i}`, { name: `Server-${i}`, node_id: i <= 6 ? 'n1' : 'n2', players: 0, ram_mb: 2048, disk_mb: 1000, state: 'running' }, 'optimizer');
    }
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator);
    const ids = [];
    for (const s of ['s1', 's2', 's3']) ids.push((await stack.ok('POST', '/api/migrations', { server_id: s, to_node_id: 'n2', savings_eur_hour: 0.12 })).id);
    ids.push((await stack.ok('POST', '/api/migrations', { server_id: 's7', to_node_id: 'n1' })).id);
    await until('four arrows', async () => (await page.locator('.arrow').count()) === 4);
    const paths = await page.locator('.arrow .arrow-line').evaluateAll((ps) => ps.map((p) => p.getAttribute('d')));
    assert.equal(new Set(paths).size, 4, 'each migration of the pair its own lane');
    await screenshot(page, 'lanes-four');

    // hover: the migration in words; click: its details
    const arrow = page.locator(`.arrow[data-ids="${ids[0]}"] .arrow-hit`);
    await arrow.hover({ force: true });
    await page.waitForSelector('.tooltip:not([hidden])');
    const tip = await page.locator('.tooltip').textContent();
    assert.ok(tip.includes('Server-1: Node-A → Node-B'), tip);
    assert.ok(tip.includes('Status: Scheduled'), tip);
    assert.ok(tip.includes('Savings: €0.12/h (€87.60/mo)'), tip);
    await arrow.click({ force: true });
    await page.locator('#details').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#details .details-title').textContent(), 'Server-1: Node-A → Node-B');
    assert.equal(await page.locator(`#details dd[data-field="id"]`).textContent(), ids[0]);
    await page.locator('#details .btn--close').click();

    // past four in a pair: one arrow per direction and status, with a count
    for (const s of ['s4', 's5']) ids.push((await stack.ok('POST', '/api/migrations', { server_id: s, to_node_id: 'n2' })).id);
    await stack.ok('POST', '/api/migrations', { server_id: 's6', to_node_id: 'n2' }, 'optimizer');
    await until('grouped arrows', async () => (await page.locator('.arrow').count()) === 3);
    const groups = await page.locator('.arrow').evaluateAll((gs) => gs.map((g) => ({
      status: g.dataset.status, from: g.dataset.from, n: g.dataset.ids.split(' ').length,
      badge: g.querySelector('.arrow-badge').getAttribute('display') === 'none' ? null : g.querySelector('.arrow-badge text').textContent,
    })).sort((a, b) => a.from.localeCompare(b.from) || a.status.localeCompare(b.status)));
    assert.deepEqual(groups, [
      { status: 'scheduled', from: 'n1', n: 5, badge: '5' },
      { status: 'suggested', from: 'n1', n: 1, badge: null },
      { status: 'scheduled', from: 'n2', n: 1, badge: null },
    ]);
    // a click on a counted arrow lists its migrations to choose from
    await page.locator('.arrow[data-status="scheduled"][data-from="n1"] .arrow-hit').click({ force: true });
    await page.waitForSelector('.tooltip--pinned:not([hidden])');
    assert.equal(await page.locator('.tooltip .tooltip-row').count(), 5);
    await screenshot(page, 'lanes-grouped');
    await page.locator('.tooltip .tooltip-row').first().click();
    await page.locator('#details').waitFor({ state: 'visible' });
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});
