// browser.mjs - Debian's chromium, headless, driven by playwright-core, with a fresh
// profile per launch. The flags keep it off the network: this machine reaches nothing
// but loopback, and chromium's own background connections would be refused.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/e2e-screens');

// Launches chromium; resolves {browser, close()}. playwright-core gives each launch a
// fresh --user-data-dir of its own in the temp dir and removes it on close.
export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the end-to-end tests need Debian's chromium (make deps installs it)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  return { browser, close: () => browser.close() };
}

// A page of the dashboard at `url` with `token` already in the browser's storage (as if
// it had been entered once), at 1366x768 unless told otherwise.
// `clock`: install playwright's fake clock first, so that the test can move the page's
// time forward (page.clock.fastForward); it runs at real speed until then.
export async function openDashboard(browser, url, token, { width = 1366, height = 768, colorScheme = 'light', query = '', clock = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  if (clock) await context.clock.install();
  if (token) {
    await context.addInitScript((t) => {
      if (!window.localStorage.getItem('migrate-dashboard.token')) window.localStorage.setItem('migrate-dashboard.token', t);
    }, token);
  }
  const page = await context.newPage();
  const errors = []; // uncaught exceptions of the page's scripts
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}/${query}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  return { page, context, errors };
}

// Writes a screenshot to build/e2e-screens/<name>.png.
export async function screenshot(page, name) {
  fs.mkdirSync(SCREENS, { recursive: true });
  const file = path.join(SCREENS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// The name of a rendered colour ("rgb(9, 105, 218)"): grey when it has little
// saturation, else by hue. Both themes' colours fall well inside these bands.
export function colourName(css) {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css || '');
  if (!m) return `unknown(${css})`;
  const [r, g, b] = m.slice(1, 4).map((v) => Number(v) / 255);
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const sat = max === 0 ? 0 : (max - min) / max;
  if (sat < 0.25) return 'grey';
  let hue;
  if (max === r) hue = (60 * ((g - b) / (max - min)) + 360) % 360;
  else if (max === g) hue = 60 * ((b - r) / (max - min)) + 120;
  else hue = 60 * ((r - g) / (max - min)) + 240;
  if (hue < 20 || hue >= 330) return 'red';
  if (hue < 70) return 'yellow';
  if (hue < 170) return 'green';
  if (hue < 260) return 'blue';
  return `unknown(hue ${Math.round(hue)})`;
}

// Starts watching every arrow of the page once per frame: each time an arrow shows a
// new status, what it looks like then is logged (window.__arrowLog): the rendered
// stroke colour, dash pattern, width, animation (of the line, or of the light dashes
// that run along a wave), and whether its path is a wave.
export async function recordArrows(page) {
  await page.evaluate(() => {
    window.__arrowLog = [];
    const last = new Map();
    const look = () => {
      for (const g of document.querySelectorAll('.arrow')) {
        const key = g.dataset.ids;
        if (last.get(key) === g.dataset.status) continue;
        last.set(key, g.dataset.status);
        const line = g.querySelector('.arrow-line');
        const cs = getComputedStyle(line);
        const flow = getComputedStyle(g.querySelector('.arrow-flow'));
        const moving = [cs, flow].find((c) => c.display !== 'none' && c.animationName !== 'none');
        const d = line.getAttribute('d') || '';
        window.__arrowLog.push({
          ids: key, status: g.dataset.status, stroke: cs.stroke, dash: cs.strokeDasharray,
          width: parseFloat(cs.strokeWidth), animation: moving ? moving.animationName : 'none',
          wave: d.includes('L') && !d.includes('Q'), opacity: Number(g.getAttribute('opacity') || 1),
        });
      }
      requestAnimationFrame(look);
    };
    look();
  });
}

// The log of recordArrows for one migration, with colour names.
export async function arrowLog(page, id) {
  const log = await page.evaluate(() => window.__arrowLog);
  return log.filter((e) => e.ids.split(' ').includes(id)).map((e) => ({ ...e, colour: colourName(e.stroke) }));
}

// What an arrow of the graph looks like in every status (the table), checked
// against a logged look; answers a list of the differences (empty when it matches).
export function arrowLooksWrong(e) {
  const want = {
    suggested: { colour: 'grey' }, approved: { colour: 'yellow' }, scheduled: { colour: 'yellow', dashed: true },
    preparing: { colour: 'blue', thick: true, animated: true }, transferring: { colour: 'blue', wave: true, animated: true },
    completing: { colour: 'blue' }, completed: { colour: 'green' }, failed: { colour: 'red' },
  }[e.status];
  if (!want) return [`no arrow expected in status ${e.status}`];
  const wrong = [];
  const dashed = e.dash !== 'none' && !e.wave;
  if (e.colour !== want.colour) wrong.push(`colour ${e.colour}, want ${want.colour}`);
  if (dashed !== Boolean(want.dashed)) wrong.push(`dashed ${dashed}, want ${Boolean(want.dashed)}`);
  if ((e.width >= 4) !== Boolean(want.thick)) wrong.push(`width ${e.width}, want ${want.thick ? 'thick' : 'thin'}`);
  if (e.wave !== Boolean(want.wave)) wrong.push(`wavy ${e.wave}, want ${Boolean(want.wave)}`);
  if ((e.animation !== 'none') !== Boolean(want.animated)) wrong.push(`animation ${e.animation}, want ${want.animated ? 'one' : 'none'}`);
  return wrong;
}

// Polls `fn` (async, truthy when done) every 100 ms for up to `ms`; throws `what` (a
// text, or a function giving one: it may tell what was seen last) on time-out.
export async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
