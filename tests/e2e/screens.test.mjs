// screens.test.mjs - the dashboard on every screen and by keyboard (issue 13): the four
// sizes (phone, tablet, laptop, wide) with nothing past the viewport's width and the graph
// and the list stacked below 900 px, screenshots of each in build/e2e-screens (and in docs/
// with MIG_DOCS_SCREENS=1, for the README); arrows that pass around
// other nodes' cards, parallel migrations apart, 50 nodes readable; list rows, arrows and
// nodes operated by keyboard; the connection's state announced on change only; reduced
// motion stops the animations; a drain of the cost optimizer shown and approved as a group.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Stack, ROOT } from './stack.mjs';
import { launch, openDashboard, screenshot, until } from './browser.mjs';

let chromium;
before(async () => { chromium = await launch(); });
after(async () => { await chromium?.close(); });

const SIZES = [[390, 844], [768, 1024], [1366, 768], [1920, 1080]];

// Six nodes in a row of prices, servers spread over them.
function fleetOf(nodes, serversPerNode = 2) {
  const f = { nodes: [], servers: [] };
  for (let i = 1; i <= nodes; i++) {
    f.nodes.push({ id: `n${i}`, name: `Node-${i}`, eur_hour: Math.round((0.08 + (i % 7) * 0.05) * 100) / 100, ram_total_mb: 65536, disk_total_mb: 500000 });
    for (let k = 1; k <= serversPerNode; k++) {
      const id = `s${(i - 1) * serversPerNode + k}`;
      f.servers.push({ id, name: `Server-${id.slice(1)}`, node_id: `n${i}`, ram_mb: 2048, disk_mb: 1000, players: 0 });
    }
  }
  return f;
}

// The API and the simulated fleet only: migrations stay as they are created.
async function staticStack(fleet) {
  const stack = new Stack({ sim: { fleet } });
  await stack.start();
  return stack;
}

// Elements whose box passes the viewport's right edge (outside the graph's own scrolling
// area, where the fleet may be wider than the screen on purpose), as "tag.class" texts.
async function overflowing(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > w) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${w}`);
    for (const el of document.body.querySelectorAll('*')) {
      if (el.closest('.graph-scroll, dialog:not([open]), [hidden], .sr-only')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > w + 0.5 || r.left < -0.5) out.push(`${el.tagName.toLowerCase()}.${el.getAttribute('class') || ''} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
    }
    return out;
  });
}

test('the dashboard fits 390x844, 768x1024, 1366x768 and 1920x1080: nothing past the edge, stacked below 900 px', async () => {
  const stack = await staticStack(fleetOf(6));
  try {
    await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n4', savings_eur_hour: 0.12 });
    await stack.ok('POST', '/api/migrations', { server_id: 's3', to_node_id: 'n5', savings_eur_hour: 0.08 });
    await stack.ok('POST', '/api/migrations', { server_id: 's9', to_node_id: 'n2', savings_eur_hour: 0.05, notes: 'drains Node-5: €0.18/h (move 1 of 2, €0.09/h of it; to Node-2)' }, 'optimizer');
    await stack.ok('POST', '/api/migrations', { server_id: 's10', to_node_id: 'n2', savings_eur_hour: 0.05, notes: 'drains Node-5: €0.18/h (move 2 of 2, €0.09/h of it; to Node-2)' }, 'optimizer');
    for (const [width, height] of SIZES) {
      const { page, context, errors } = await openDashboard(chromium.browser, stack.url, 'operator-token-5678', { width, height });
      await page.waitForSelector('.arrow');
      await page.waitForSelector('.mig-group');
      const over = await overflowing(page);
      assert.deepEqual(over, [], `${width}x${height}: ${over.join('; ')}`);
      const g = await page.locator('.graph-panel').boundingBox();
      const l = await page.locator('.list-panel').boundingBox();
      if (width < 900) {
        assert.ok(l.y >= g.y + g.height - 1, `${width}x${height}: the list is below the graph`);
        assert.ok(g.width >= width - 1 && l.width >= width - 1, `${width}x${height}: both take the whole width`);
        assert.ok(g.height >= 300, `${width}x${height}: the graph keeps room (${g.height} px)`);
      } else {
        assert.ok(l.x >= g.x + g.width - 1, `${width}x${height}: the list is beside the graph`);
      }
      // every node card is whole inside the graph's scroll area (nothing cut at the sides)
      const cut = await page.evaluate(() => {
        const area = document.querySelector('.graph-scroll');
        return [...document.querySelectorAll('.node')].filter((n) => {
          const r = n.getBoundingClientRect();
          const a = area.getBoundingClientRect();
          return r.left < a.left - 0.5 || r.right > a.left + area.scrollWidth + 0.5;
        }).map((n) => n.dataset.nodeId);
      });
      assert.deepEqual(cut, [], `${width}x${height}: cards cut`);
      await screenshot(page, `screen-${width}x${height}`);
      if (process.env.MIG_DOCS_SCREENS === '1') {
        // the README's pictures: refreshed on purpose, never by a plain test run
        fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
        await page.screenshot({ path: path.join(ROOT, 'docs', `dashboard-${width}x${height}.png`) });
      }
      assert.deepEqual(errors, []);
      await context.close();
    }
  } finally {
    await stack.stop();
  }
});

// The node boxes as the page placed them (SVG user units) and a sampled path of every
// arrow, to check which boxes each passes through.
async function arrowsThroughCards(page) {
  return page.evaluate(() => {
    const boxes = [...document.querySelectorAll('.node')].map((g) => {
      const m = /translate\(([-\d.]+) ([-\d.]+)\)/.exec(g.getAttribute('transform'));
      const r = g.querySelector('.node-box');
      return { id: g.dataset.nodeId, x: Number(m[1]), y: Number(m[2]), w: Number(r.getAttribute('width')), h: Number(r.getAttribute('height')) };
    });
    const bad = [];
    for (const a of document.querySelectorAll('.arrow')) {
      const path = a.querySelector('.arrow-hit');
      const len = path.getTotalLength();
      for (let s = 0; s <= len; s += 4) {
        const p = path.getPointAtLength(s);
        for (const b of boxes) {
          if (b.id === a.dataset.from || b.id === a.dataset.to) continue;
          if (p.x > b.x + 1 && p.x < b.x + b.w - 1 && p.y > b.y + 1 && p.y < b.y + b.h - 1) bad.push(`${a.dataset.from}->${a.dataset.to} crosses ${b.id}`);
        }
      }
    }
    return [...new Set(bad)];
  });
}

test('arrows pass around other nodes\' cards, parallel ones stay apart, and 50 nodes stay readable', async () => {
  const stack = await staticStack(fleetOf(9, 3));
  try {
    // far pairs across the 3x3 grid, and two moves between the same nodes
    const moves = [['s1', 'n9'], ['s4', 'n8'], ['s7', 'n7'], ['s25', 'n1'], ['s22', 'n2'], ['s13', 'n7'], ['s2', 'n9']];
    for (const [server_id, to_node_id] of moves) await stack.ok('POST', '/api/migrations', { server_id, to_node_id });
    const { page, context, errors } = await openDashboard(chromium.browser, stack.url, 'viewer-token-1234', { width: 1366, height: 768 });
    await until('every arrow', async () => (await page.locator('.arrow').count()) === moves.length);
    assert.deepEqual(await arrowsThroughCards(page), []);
    // s1 and s2 both go n1 -> n9: two arrows whose middles are apart
    const mids = await page.evaluate(() => [...document.querySelectorAll('.arrow[data-from="n1"][data-to="n9"] .arrow-hit')]
      .map((p) => p.getPointAtLength(p.getTotalLength() / 2)).map((p) => [p.x, p.y]));
    assert.equal(mids.length, 2);
    assert.ok(Math.hypot(mids[0][0] - mids[1][0], mids[0][1] - mids[1][1]) >= 10, `parallel arrows ${JSON.stringify(mids)} too close`);
    await screenshot(page, 'arrows-around-cards');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await stack.stop();
  }
  const big = await staticStack(fleetOf(50, 1));
  try {
    const { page, context, errors } = await openDashboard(chromium.browser, big.url, 'viewer-token-1234', { width: 1366, height: 768 });
    await until('50 node cards', async () => (await page.locator('.node').count()) === 50);
    // names are drawn at 9 px or more, the page does not scroll sideways, the graph scrolls
    const look = await page.evaluate(() => {
      const t = document.querySelector('.node-name').getBoundingClientRect();
      const sc = document.querySelector('.graph-scroll');
      return { textPx: t.height, down: sc.scrollHeight > sc.clientHeight, side: sc.scrollWidth > sc.clientWidth + 1 };
    });
    assert.ok(look.textPx >= 9, `node names ${look.textPx} px high`);
    assert.equal(look.side, false, 'the graph does not scroll sideways');
    assert.deepEqual(await overflowing(page), []);
    await screenshot(page, 'fifty-nodes');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await big.stop();
  }
});

// Presses Tab until the focused element matches `selector`; answers how many presses.
async function tabTo(page, selector, max = 200) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => document.activeElement?.matches(sel), selector)) return i;
  }
  throw new Error(`Tab never reached ${selector}`);
}

test('by keyboard: list rows, arrows and nodes are reached with Tab, opened with Enter or Space, and focus shows', async () => {
  const stack = await staticStack(fleetOf(3));
  try {
    const a = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n2' });
    const { page, context, errors } = await openDashboard(chromium.browser, stack.url, 'viewer-token-1234', { width: 1366, height: 768 });
    await page.waitForSelector(`.mig[data-id="${a.id}"]`);
    await page.waitForSelector(`.arrow[data-ids~="${a.id}"]`);
    // a list row: visible focus, Enter opens its details, Escape-free close by the button
    await tabTo(page, `.mig[data-id="${a.id}"]`);
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'a focused row shows it');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#details:not([hidden])');
    await page.locator('#details .btn--close').click();
    await page.waitForSelector('#details', { state: 'hidden' });
    await page.locator(`.mig[data-id="${a.id}"]`).focus();
    await page.keyboard.press(' ');
    await page.waitForSelector('#details:not([hidden])');
    await page.locator('#details .btn--close').click();
    await page.waitForSelector('#details', { state: 'hidden' });
    // the arrow: in the tab order, labelled, Enter opens the migration
    await page.locator('body').focus();
    await tabTo(page, '.arrow');
    const label = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
    assert.match(label, /Node-1 → Node-2/);
    const focusedWidth = await page.evaluate(() => parseFloat(getComputedStyle(document.activeElement.querySelector('.arrow-line')).strokeWidth));
    assert.ok(focusedWidth >= 5, 'a focused arrow shows it');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#details:not([hidden])');
    assert.match(await page.locator('#details').textContent(), /Node-1/);
    await page.locator('#details .btn--close').click();
    // a node: Enter lists the migrations from and to it, and a row of the list opens one
    await page.locator('.node[data-node-id="n1"]').focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('.tooltip:not([hidden]) .tooltip-row');
    assert.equal(await page.evaluate(() => document.activeElement.classList.contains('tooltip-row')), true, 'the list takes the focus');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#details:not([hidden])');
    await screenshot(page, 'keyboard-details');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await stack.stop();
  }
});

test('the connection is announced when its state changes, not as its text ticks', async () => {
  const stack = await staticStack(fleetOf(2));
  try {
    const { page, context, errors } = await openDashboard(chromium.browser, stack.url, 'viewer-token-1234');
    const conn = page.locator('#connection');
    assert.equal(await conn.getAttribute('aria-live'), null, 'the ticking text is no live region');
    assert.equal(await conn.getAttribute('role'), null);
    const live = page.locator('#connection [aria-live="polite"]');
    await until('the live state to be announced', async () => /Live/.test(await live.textContent()));
    const said = await live.textContent();
    const before = await page.locator('.connection-text').textContent();
    await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n2' });
    await until('the visible text to change', async () => (await page.locator('.connection-text').textContent()) !== before);
    assert.equal(await live.textContent(), said, 'nothing new is announced');
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await stack.stop();
  }
});

test('reduced motion stops the animations and the line still tells the status', async () => {
  const stack = await staticStack(fleetOf(2));
  try {
    for (const reducedMotion of ['no-preference', 'reduce']) {
      const context = await chromium.browser.newContext({ viewport: { width: 1366, height: 768 }, reducedMotion });
      await context.addInitScript(() => window.localStorage.setItem('migrate-dashboard.token', 'viewer-token-1234'));
      const page = await context.newPage();
      await page.goto(`${stack.url}/`);
      await page.waitForSelector('body[data-ready="true"]');
      const look = await page.evaluate(() => {
        const thick = getComputedStyle(document.querySelector('.legend-line.arrow--thick'));
        const wavy = document.querySelector('.legend-line.arrow--wavy');
        return { animation: thick.animationName, width: parseFloat(thick.strokeWidth), wave: wavy.getAttribute('d').includes('Q') };
      });
      if (reducedMotion === 'reduce') assert.equal(look.animation, 'none');
      else assert.equal(look.animation, 'pulse');
      assert.ok(look.width >= 4, 'preparing is still the thick line');
      assert.ok(look.wave, 'transferring is still the wave');
      await context.close();
    }
  } finally {
    await stack.stop();
  }
});

test('a drain shows as one group with the node\'s whole saving, and approving it approves its moves', async () => {
  const stack = await staticStack(fleetOf(3));
  try {
    const note = (i) => `drains Node-1: €0.13/h (move ${i} of 2, €0.0${i === 1 ? 7 : 6}/h of it; to Node-2)`;
    const a = await stack.ok('POST', '/api/migrations', { server_id: 's1', to_node_id: 'n2', savings_eur_hour: 0.07, notes: note(1) }, 'optimizer');
    const b = await stack.ok('POST', '/api/migrations', { server_id: 's2', to_node_id: 'n2', savings_eur_hour: 0.06, notes: note(2) }, 'optimizer');
    const { page, context, errors } = await openDashboard(chromium.browser, stack.url, 'operator-token-5678');
    const group = page.locator('.mig-group[data-drain="Node-1"]');
    await group.waitFor();
    assert.match(await group.locator('.mig-group-head').textContent(), /Drain Node-1: 2 moves.*€0\.13\/h/);
    assert.equal(await group.locator('.mig').count(), 2);
    await screenshot(page, 'drain-group');
    await group.locator('.btn--group').click();
    await until('both moves approved', async () => {
      const [x, y] = await Promise.all([a, b].map((m) => stack.ok('GET', `/api/migrations/${m.id}`)));
      return x.status === 'approved' && y.status === 'approved';
    });
    await page.locator('.toast', { hasText: 'Approved all 2 moves of the drain of Node-1' }).waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await stack.stop();
  }
});
