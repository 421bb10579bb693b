// lifecycle.test.mjs - a migration run by the real stack (fleet-sim, scheduler, worker),
// watched and acted on from the page: approve moves a suggestion on; its arrow's colour
// and line match its status at every stage; the list shows the seed's texts; the end
// fades out; a failed migration shows its error and rollback. Screenshots of each stage
// go to build/e2e-screens/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TOKENS } from './stack.mjs';
import { lifecycleStack } from './fixtures.mjs';
import { launch, openDashboard, screenshot, recordArrows, arrowLog, arrowLooksWrong, until } from './browser.mjs';

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

const itemOf = (page, id) => page.locator(`.mig[data-id="${id}"]`);
const arrowSel = (id, status) => `.arrow[data-ids~="${id}"]${status ? `[data-status="${status}"]` : ''}`;

test('approve from the page moves a suggestion on, and its arrow matches each status until it fades', async () => {
  // the worker waits for a held call as long as the test holds it
  const stack = lifecycleStack(undefined, { worker: { MIG_DRIVER_TIMEOUT_MS: '300000' } });
  try {
    await stack.start();
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator, { query: '?fade=3' });
    await recordArrows(page);

    // suggested: the optimizer's suggestion appears live, grey
    const sug = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n3', savings_eur_hour: 0.15 }, 'optimizer');
    assert.equal(sug.status, 'suggested');
    const id = sug.id;
    await page.waitForSelector(arrowSel(id, 'suggested'));
    await itemOf(page, id).locator('.btn--approve').waitFor();
    assert.equal(await itemOf(page, id).locator('.mig-title').textContent(), 'Server-XYZ: Node-A → Node-C');
    assert.equal(await itemOf(page, id).locator('.mig-savings').textContent(), 'Savings: €0.15/h (€109.50/mo)');
    assert.equal(await itemOf(page, id).locator('.mig-status').textContent(), 'Status: Suggested');
    await screenshot(page, 'lifecycle-1-suggested');

    // approved: the scheduler is held still, so that the page shows approved a while
    stack.children.scheduler.kill('SIGSTOP');
    try {
      await itemOf(page, id).locator('.btn--approve').click();
      await page.waitForSelector(arrowSel(id, 'approved'));
      assert.equal((await stack.ok('GET', `/api/migrations/${id}`)).status, 'approved');
      await page.waitForSelector('.toast--ok');
      await screenshot(page, 'lifecycle-2-approved');
    } finally {
      stack.children.scheduler.kill('SIGCONT');
    }

    // scheduled, held back while two players are online
    await page.waitForSelector(arrowSel(id, 'scheduled'));
    await until('the blocked reason in the list', async () => (await itemOf(page, id).locator('.mig-note').textContent()) === 'Waiting: 2 players online');
    await screenshot(page, 'lifecycle-3-scheduled');

    // the later phases held at one call each (the proxy's registration of the new
    // address, the old container's stop) until the page has shown them, so that each is
    // on screen, and in the arrow's log, however slow the page is
    const register = await stack.sim('POST', '/control/faults', { node_id: 'proxy', call: 'PUT /v1/servers/{id}', mode: 'hold', times: 1 });
    const stop = await stack.sim('POST', '/control/faults', { node_id: 'n1', call: 'POST /v1/containers/{id}/stop', mode: 'hold', times: 1 });
    await stack.sim('POST', '/control/players', { server_id: 's1', count: 0 });

    // preparing: the progress bar moves without a reload
    await page.waitForSelector(arrowSel(id, 'preparing'), { timeout: 20000 });
    const seen = new Set();
    await until('two different sync percentages in the list', async () => {
      const t = await itemOf(page, id).locator('.mig-status').textContent();
      const m = /^Status: Preparing \((\d+)%\)$/.exec(t);
      if (m && Number(m[1]) > 0 && Number(m[1]) < 100) seen.add(m[1]);
      return seen.size >= 2;
    });
    assert.match(await itemOf(page, id).locator('.mig-time').textContent(), /^Started: (just now|\d+ seconds ago)$/);
    await screenshot(page, 'lifecycle-4-preparing');

    await page.waitForSelector(arrowSel(id, 'transferring'), { timeout: 30000 });
    await screenshot(page, 'lifecycle-5-transferring');
    await stack.sim('DELETE', `/control/faults/${register.id}`);
    await page.waitForSelector(arrowSel(id, 'completing'), { timeout: 20000 });
    await screenshot(page, 'lifecycle-6-completing');
    await stack.sim('DELETE', `/control/faults/${stop.id}`);
    await page.waitForSelector(arrowSel(id, 'completed'), { timeout: 20000 });
    assert.equal(await itemOf(page, id).locator('.mig-status').textContent(), 'Status: Completed');
    assert.equal(await itemOf(page, id).locator('.mig-time').textContent(), 'Completed: just now');
    // the inventory moved too: Server-XYZ now counts on Node-C
    await until('Node-C to count 1 server', async () =>
      (await page.locator('.node[data-node-id="n3"] .node-line').first().textContent()).includes('· 1 server'));
    await screenshot(page, 'lifecycle-7-completed');

    // every status the arrow showed, in order, looked as the issue says
    const log = await arrowLog(page, id);
    assert.deepEqual(log.map((e) => e.status),
      ['suggested', 'approved', 'scheduled', 'preparing', 'transferring', 'completing', 'completed']);
    for (const e of log) assert.deepEqual(arrowLooksWrong(e), [], `${e.status}: ${JSON.stringify(e)}`);

    // the completed arrow fades (?fade=3: 3 s shown, 3 s fading) and goes; the
    // deadlines are far beyond those 6 s, for a page on a busy machine
    await until('the completed arrow to fade', async () => Number(await page.locator(arrowSel(id)).getAttribute('opacity')) < 1, 30000);
    await page.waitForSelector(arrowSel(id), { state: 'detached', timeout: 30000 });
    assert.equal(await itemOf(page, id).locator('.mig-status').textContent(), 'Status: Completed', 'the list keeps it');
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});

test('a failed migration turns its arrow red and its details show the error, the rollback and the timeline', async () => {
  const stack = lifecycleStack();
  try {
    await stack.start();
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator);
    await recordArrows(page);
    await stack.sim('POST', '/control/faults', { node_id: 'n2', call: 'POST /v1/sync', mode: 'fail', status: 500 });
    const m = await stack.ok('POST', '/api/migrations', { server_id: 's2', to_node_id: 'n2', start_now: true, max_retries: 0, notes: 'kernel update on n1' });
    await page.waitForSelector(arrowSel(m.id, 'failed'), { timeout: 30000 });
    // the recorder samples the arrow's look as it is drawn: wait for the sample of the
    // failed status rather than read it at the instant the status changed
    let log = [];
    await until(() => `the failed arrow's look recorded, not ${JSON.stringify(log.at(-1))}`, async () => {
      log = await arrowLog(page, m.id);
      return log.at(-1)?.status === 'failed' && log.at(-1)?.colour === 'red';
    });
    for (const e of log) assert.deepEqual(arrowLooksWrong(e), [], `${e.status}: ${JSON.stringify(e)}`);
    assert.equal(log.at(-1).colour, 'red');

    // a click on the arrow opens the details
    await page.locator(`${arrowSel(m.id)} .arrow-hit`).click({ force: true });
    const details = page.locator('#details');
    await details.waitFor({ state: 'visible' });
    await until('the failure in the details', async () => (await details.locator('.alert--error').count()) > 0);
    const text = await details.textContent();
    assert.match(text, /Error: .*sync/);
    assert.match(text, /Rollback: (succeeded|did not succeed)/);
    assert.match(text, /kernel update on n1/, 'every field, the notes too');
    await screenshot(page, 'failed-details');
    let tl = '';
    await until(() => `the timeline from the events, not ${JSON.stringify(tl)}`, async () => {
      tl = await details.locator('.details-timeline').textContent();
      return tl.includes('Created scheduled') && tl.includes('Scheduled → Preparing') && tl.includes('Preparing → Failed') && /Failed \(/.test(tl);
    });
    await screenshot(page, 'failed-details');
    assert.equal(await itemOf(page, m.id).locator('.mig-status').textContent(), 'Status: Failed');
    assert.match(await itemOf(page, m.id).locator('.mig-note').textContent(), /^Error: /);
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});
