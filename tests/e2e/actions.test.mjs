// actions.test.mjs - what an operator does from the page, and what the page refuses to
// offer: cancel, a cancel the API refuses (said in words), the form of a manual
// migration with the API's validation errors next to their fields, and a viewer's page
// without any action.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TOKENS } from './stack.mjs';
import { launch, openDashboard, screenshot, until } from './browser.mjs';
import { lifecycleStack } from './fixtures.mjs';

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

const itemOf = (page, id) => page.locator(`.mig[data-id="${id}"]`);

test('cancel from the page ends a scheduled migration and takes its arrow away', async () => {
  const stack = lifecycleStack();
  try {
    await stack.start();
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator);
    const m = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n2', savings_eur_hour: 0.15 });
    await page.waitForSelector(`.arrow[data-ids~="${m.id}"][data-status="scheduled"]`);
    page.once('dialog', (d) => d.accept());
    await itemOf(page, m.id).locator('.btn--cancel').click();
    await until('the list to say cancelled', async () => (await itemOf(page, m.id).locator('.mig-status').textContent()) === 'Status: Cancelled');
    await page.waitForSelector(`.arrow[data-ids~="${m.id}"]`, { state: 'detached' });
    assert.equal((await stack.ok('GET', `/api/migrations/${m.id}`)).status, 'cancelled');
    assert.equal(await itemOf(page, m.id).locator('button').count(), 0, 'no action is left on a cancelled migration');
    assert.equal(await itemOf(page, m.id).locator('.mig-time').textContent(), 'Cancelled: just now');
    await screenshot(page, 'cancel-done');
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});

test('a cancel the API refuses is shown in its words, and the button goes with the status', async () => {
  const stack = lifecycleStack();
  try {
    await stack.start();
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator);
    const m = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n2' });
    await itemOf(page, m.id).locator('.btn--cancel').waitFor();
    // the operator hesitates at the confirmation while a worker takes the migration
    page.once('dialog', async (d) => {
      await stack.sim('POST', '/control/players', { server_id: 's1', count: 0 });
      await until('the worker to take it', async () => (await stack.ok('GET', `/api/migrations/${m.id}`)).status !== 'scheduled', 20000);
      await d.accept();
    });
    await itemOf(page, m.id).locator('.btn--cancel').click();
    const toast = page.locator('.toast--error');
    await toast.waitFor();
    const text = await toast.textContent();
    assert.match(text, /^Cancel failed for Server-XYZ: cannot cancel migration \S+ in status (preparing|transferring|completing|completed) \(409 illegal_transition\)/);
    await screenshot(page, 'cancel-refused');
    await until('the cancel button to go', async () => (await itemOf(page, m.id).locator('.btn--cancel').count()) === 0);
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});

test('the form of a manual migration shows the API\'s errors next to their fields, then creates it', async () => {
  const stack = lifecycleStack();
  try {
    await stack.start();
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.operator);
    const other = await stack.ok('POST', '/api/migrations', { server_id: 's3', to_node_id: 'n1' });
    await page.locator('#new-migration').click();
    const dialog = page.locator('#create-dialog');
    await dialog.waitFor({ state: 'visible' });
    const errorOf = (f) => dialog.locator(`.field-error[data-for="${f}"]`);
    const submit = dialog.locator('button[type="submit"]');

    // nothing entered: the API names the field
    await submit.click();
    await until('the server field\'s error', async () => (await errorOf('server_id').textContent()) !== '');
    assert.equal(await errorOf('server_id').textContent(), 'server_id: required (400 bad_request)');
    assert.equal(await dialog.locator('#create-server').getAttribute('aria-invalid'), 'true');

    // an unknown server
    await dialog.locator('#create-server').fill('s99');
    await dialog.locator('#create-node').selectOption('n3');
    await submit.click();
    await until('the unknown server\'s error', async () => /not found/.test(await errorOf('server_id').textContent()));
    assert.equal(await errorOf('server_id').textContent(), 'server s99 not found (404 no_server)');

    // a server that has a migration already
    await dialog.locator('#create-server').fill('s3');
    await submit.click();
    await until('the active migration\'s error', async () => /active_exists/.test(await errorOf('server_id').textContent()));
    assert.match(await errorOf('server_id').textContent(), new RegExp(`^server s3 has migration ${other.id} in status scheduled \\(409 active_exists\\)$`));
    assert.equal(await errorOf('to_node_id').textContent(), '');
    await screenshot(page, 'create-form-errors');

    // right: created, listed, shown
    await dialog.locator('#create-server').fill('s2');
    assert.equal(await dialog.locator('.field-hint').textContent(), 'Server-Two on Node-A, 0 players');
    await dialog.locator('#create-notes').fill('kernel update on n1');
    await submit.click();
    await dialog.waitFor({ state: 'hidden' });
    await page.locator('#details').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#details .details-title').textContent(), 'Server-Two: Node-A → Node-C');
    assert.equal(await page.locator('#details dd[data-field="notes"]').textContent(), 'kernel update on n1');
    assert.equal(await page.locator('#details dd[data-field="reason"]').textContent(), 'manual');
    const created = (await stack.ok('GET', '/api/migrations?server_id=s2')).items[0];
    assert.equal(created.notes, 'kernel update on n1');
    await itemOf(page, created.id).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});

test('a viewer sees every migration and no action button', async () => {
  const stack = lifecycleStack();
  try {
    await stack.start();
    const sug = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n3', savings_eur_hour: 0.1 }, 'optimizer');
    await stack.ok('POST', '/api/migrations', { server_id: 's2', to_node_id: 'n3' });
    const { page, errors } = await openDashboard(chromium.browser, stack.url, TOKENS.viewer);
    await itemOf(page, sug.id).waitFor();
    assert.equal(await page.locator('.mig').count(), 2);
    assert.equal(await page.locator('#role').textContent(), 'role: viewer');
    assert.equal(await page.locator('.btn--approve, .btn--cancel').count(), 0);
    assert.equal(await page.locator('#new-migration').isVisible(), false);
    await page.locator(`.arrow[data-ids~="${sug.id}"] .arrow-hit`).click({ force: true });
    await page.locator('#details').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#details .details-actions button').count(), 0);
    // a new suggestion appears live, still without buttons
    const more = await stack.ok('POST', '/api/migrations', { server_id: 's3', to_node_id: 'n3' }, 'optimizer');
    await itemOf(page, more.id).waitFor();
    assert.equal(await page.locator('.btn--approve, .btn--cancel').count(), 0);
    await screenshot(page, 'viewer');
    assert.deepEqual(errors, []);
  } finally {
    await stack.stop();
  }
});

test('the token is asked for once, kept in the browser, and a wrong one is refused in words', async () => {
  const stack = lifecycleStack();
  try {
    await stack.start();
    const context = await chromium.browser.newContext({ viewport: { width: 1366, height: 768 } });
    const page = await context.newPage();
    await page.goto(`${stack.url}/`);
    const dialog = page.locator('#token-dialog');
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('#token-input').fill('not-a-token');
    await dialog.locator('button[type="submit"]').click();
    await until('the refusal', async () => (await dialog.locator('.form-reason').textContent()).includes('refused'));
    await dialog.locator('#token-input').fill(TOKENS.operator);
    await dialog.locator('button[type="submit"]').click();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.locator('#role').textContent(), 'role: operator');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await dialog.isVisible(), false, 'not asked again');
    await context.close();
  } finally {
    await stack.stop();
  }
});
