// bench.mjs - the dashboard under a big fleet: 50 nodes, 2,000 servers and 200
// migrations in flight, put into a private Redis through the function library (as the
// platform, the scheduler and the workers would), served by migrate-api. Measures in
// Debian's chromium at 1366x768:
//   - time to first full render: navigation start to the first frame showing the graph,
//     the list and the metrics (performance mark "dashboard-ready"), over RUNS loads;
//   - frame times (requestAnimationFrame deltas) while 100 events a second arrive for
//     SECONDS s: progress reports, status changes and inventory updates;
//   - how many of those events the page had applied when they stopped, and that it
//     applies every one of them, in order, in the end.
// Prints the figures; `runBench()` answers them for the e2e suite's check.
//   node tests/e2e/bench.mjs [seconds] [loads]    (make bench runs it with bin/: 10 s, 3 loads)

import { Stack, TOKENS } from './stack.mjs';
import { launch, openDashboard, screenshot, until } from './browser.mjs';
import { pairs } from './resp.mjs';

const NODES = 50;
const SERVERS = 2000;
const IN_FLIGHT = 200;
const RATE = 100;          // events a second during the frame measurement
export const TARGET_RENDER_MS = 1000;
export const TARGET_FRAME_MS = 50;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The fleet and the migrations, through the function library, pipelined.
async function populate(redis) {
  const calls = [];
  for (let n = 1; n <= NODES; n++) {
    calls.push(redis.call('FCALL', 'node_put', '1', 'mig:', `n${n}`, 'name', `Node-${n}`, 'healthy', '1',
      'ram_total_mb', '262144', 'ram_free_mb', String(262144 - 4096 * (n % 40)), 'disk_free_mb', String(2000000 - n * 9000),
      'eur_hour', (0.05 + (n % 9) * 0.04).toFixed(2)));
  }
  await Promise.all(calls.splice(0));
  for (let s = 1; s <= SERVERS; s++) {
    calls.push(redis.call('FCALL', 'server_put', '1', 'mig:', `s${s}`, 'name', `Server-${s}`, 'node_id', `n${((s - 1) % NODES) + 1}`,
      'players', String(s % 5), 'ram_mb', String(2048 + 1024 * (s % 4)), 'disk_mb', String(1000 + (s % 20) * 500), 'state', 'running'));
  }
  await Promise.all(calls.splice(0));
  // 200 migrations: created scheduled, promoted, claimed by one "worker"; half advanced
  // to transferring. Each to a node a few steps along, so that arrows spread.
  const ids = [];
  for (let i = 1; i <= IN_FLIGHT; i++) {
    const id = `01a30000-0000-7000-8000-${String(i).padStart(12, '0')}`;
    const from = ((i - 1) % NODES) + 1;
    const to = ((from - 1 + 1 + (i % 7)) % NODES) + 1;
    ids.push(id);
    calls.push(redis.call('FCALL', 'mig_create', '1', 'mig:', 'id', id, 'server_id', `s${i}`, 'to_node_id', `n${to}`,
      'savings_eur_hour', (0.01 * (i % 30)).toFixed(2), 'start_now', '1'));
  }
  await Promise.all(calls.splice(0));
  for (const id of ids) await redis.call('FCALL', 'mig_promote', '1', 'mig:', id);
  const leases = new Map();
  for (let i = 0; i < IN_FLIGHT; i++) {
    const rec = pairs(await redis.call('FCALL', 'mig_claim', '1', 'mig:', 'bench-worker', '3600000'));
    leases.set(rec.id, rec.lease_token);
  }
  let k = 0;
  const stage = new Map(); // id -> its status, for the storm's status changes
  for (const [id, token] of leases) {
    stage.set(id, 'preparing');
    if (k++ % 2 === 0) {
      await redis.call('FCALL', 'mig_advance', '1', 'mig:', id, token, 'transferring', 'data_sync_progress', '100');
      stage.set(id, 'transferring');
    }
  }
  return { leases, stage };
}

// RATE events a second until `stop()`: 90% progress reports, 5% status changes
// (preparing to transferring, transferring to completing) and 5% inventory updates
// (players).
function storm(redis, { leases, stage }) {
  const list = [...leases];
  const next = { preparing: 'transferring', transferring: 'completing' };
  let moved = 0;
  let n = 0;
  let sent = 0;
  const t0 = Date.now();
  let running = true;
  const loop = async () => {
    while (running) {
      const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
      while (sent < due) {
        const [id, token] = list[n % list.length];
        const kind = n % 20;
        if (kind === 0) {
          redis.call('FCALL', 'server_put', '1', 'mig:', `s${1 + (n % SERVERS)}`, 'players', String(n % 7)).catch(() => {});
        } else if (kind === 1) {
          // the next migration that can still move on (each moves twice at most)
          const [mid, mtoken] = list[(moved++ * 37) % list.length];
          const to = next[stage.get(mid)];
          if (to) {
            stage.set(mid, to);
            redis.call('FCALL', 'mig_advance', '1', 'mig:', mid, mtoken, to).catch(() => {});
          } else {
            redis.call('FCALL', 'mig_progress', '1', 'mig:', mid, mtoken, 'progress_message', 'Removing old container').catch(() => {});
          }
        } else {
          const p = (n * 7) % 100;
          redis.call('FCALL', 'mig_progress', '1', 'mig:', id, token, 'data_sync_progress', String(p),
            'progress_message', `Syncing world (${p}%)`, 'phase_step', 'prepare.sync').catch(() => {});
        }
        n++;
        sent++;
      }
      await sleep(5);
    }
  };
  const done = loop();
  return { async stop() { running = false; await done; return { sent, seconds: (Date.now() - t0) / 1000 }; } };
}

// True when stream id `a` comes after `b` ("<ms>-<seq>").
function idAfter(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am > bm || (am === bm && as > bs);
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// Loads the page `runs` times, then measures frames for `seconds` s of events; `log`
// prints the figures. Answers the figures.
export async function runBench({ seconds = 10, runs = 3, log = console.log } = {}) {
  const SECONDS = seconds;
  const RUNS = runs;
  const stack = new Stack();
  const chromium = await launch();
  try {
    await stack.start();
    const flight = await populate(stack.redis);
    const renders = [];
    for (let r = 0; r < RUNS; r++) {
      const { page, context } = await openDashboard(chromium.browser, stack.url, TOKENS.viewer);
      renders.push(await page.evaluate(() => performance.getEntriesByName('dashboard-ready')[0].startTime));
      const shown = await page.evaluate(() => ({
        nodes: document.querySelectorAll('.node').length,
        arrows: [...document.querySelectorAll('.arrow')].reduce((n, g) => n + g.dataset.ids.split(' ').length, 0),
        items: document.querySelectorAll('.mig').length,
      }));
      if (shown.nodes !== NODES || shown.arrows !== IN_FLIGHT) {
        throw new Error(`the page shows ${shown.nodes} nodes and ${shown.arrows} migrations, not ${NODES} and ${IN_FLIGHT}`);
      }
      if (r < RUNS - 1) await context.close();
      else {
        // frames while the events arrive
        await page.evaluate(() => {
          window.__frames = [];
          window.__long = [];
          new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask' });
          let last = performance.now();
          const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
          requestAnimationFrame(tick);
        });
        const [[start]] = await stack.redis.call('XREVRANGE', 'mig:events', '+', '-', 'COUNT', '1');
        const applied = async () => (await page.evaluate(() => window.dashboard.seen)).filter((id) => idAfter(id, start));
        const s = storm(stack.redis, flight);
        await sleep(SECONDS * 1000);
        const sent = await s.stop();
        await stack.redis.call('PING'); // on the storm's connection: every call of it answered, its events in the stream
        const res = await page.evaluate(() => { window.__stop = true; return { frames: window.__frames.slice(1), long: window.__long }; });
        const appliedThen = (await applied()).length;
        // then every event of the storm on the page, in order, however long this machine
        // takes to get there: what the suite checks, with no clock in it
        const stormIds = await stack.eventIds(start);
        let appliedIds = [];
        const t0 = Date.now();
        await until(() => `the page to apply the storm's ${stormIds.length} events (${appliedIds.length} so far)`,
          async () => (appliedIds = await applied()).length >= stormIds.length, 60000);
        const catchUpMs = Date.now() - t0;
        await screenshot(page, 'bench-1366');
        const f = [...res.frames].sort((a, b) => a - b);
        const figures = {
          renderMs: renders,
          renderMedianMs: [...renders].sort((a, b) => a - b)[Math.floor(renders.length / 2)],
          events: appliedThen,
          eventsPerSecond: sent.sent / sent.seconds,
          stormIds,
          appliedIds,
          catchUpMs,
          frames: f.length,
          frameMeanMs: f.reduce((a, b) => a + b, 0) / f.length,
          frameP50Ms: quantile(f, 0.5),
          frameP99Ms: quantile(f, 0.99),
          frameMaxMs: f[f.length - 1],
          framesOver50: f.filter((x) => x > TARGET_FRAME_MS).length,
          longTasks: res.long.length,
          longTaskMaxMs: res.long.length ? Math.max(...res.long) : 0,
        };
        const r1 = (v) => v.toFixed(1);
        log(`dashboard: ${NODES} nodes, ${SERVERS} servers, ${IN_FLIGHT} migrations in flight; chromium ${chromium.browser.version()} headless, 1366x768`);
        log(`  first full render: ${renders.map((v) => `${Math.round(v)} ms`).join(', ')} (median ${Math.round(figures.renderMedianMs)} ms; target under ${TARGET_RENDER_MS} ms)`);
        log(`  events: ${figures.events} of ${stormIds.length} applied in ${SECONDS} s (${r1(figures.eventsPerSecond)}/s sent: 90% progress reports, 5% status changes, 5% inventory updates); all ${catchUpMs} ms later`);
        log(`  frames: ${figures.frames}, mean ${r1(figures.frameMeanMs)} ms, p50 ${r1(figures.frameP50Ms)} ms, p99 ${r1(figures.frameP99Ms)} ms, max ${r1(figures.frameMaxMs)} ms; over ${TARGET_FRAME_MS} ms: ${figures.framesOver50} (target 0)`);
        log(`  long tasks (over 50 ms of main thread): ${figures.longTasks}${figures.longTasks ? `, longest ${r1(figures.longTaskMaxMs)} ms` : ''}`);
        await context.close();
        return figures;
      }
    }
    return null;
  } finally {
    await chromium.close();
    await stack.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runBench({ seconds: Number(process.argv[2] || 10), runs: Number(process.argv[3] || 3) }).catch((e) => {
    console.error(`bench: ${e.stack || e.message}`);
    process.exit(1);
  });
}
