// bench.test.mjs - the dashboard with 50 nodes, 2,000 servers and 200 migrations in
// flight, in the e2e suite: it shows them all, keeps up with 100 events a second, and
// its first full render and frame times are measured and printed (bench.mjs). The
// targets (first render under 1 s, no frame over 50 ms) are the release build's, which
// `make bench` measures and bench/RESULTS.md records. Here the programs are the
// sanitized ones, whose answers take about twice as long, on a machine that may be busy
// with other suites: the suite holds the first render to twice its target and the
// median frame to the frame target, so that a page that stutters or stalls fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench, TARGET_RENDER_MS, TARGET_FRAME_MS } from './bench.mjs';

test('with 50 nodes, 2,000 servers and 200 migrations in flight the page shows them all and keeps up with 100 events a second, its first render and frame times measured', async (t) => {
  const f = await runBench({ seconds: 6, runs: 2, log: (line) => t.diagnostic(line) });
  assert.ok(f.renderMedianMs < 2 * TARGET_RENDER_MS, `first full render ${Math.round(f.renderMedianMs)} ms`);
  assert.ok(f.events >= 0.95 * f.eventsPerSecond * 6, `${f.events} events applied of about ${Math.round(f.eventsPerSecond * 6)}`);
  assert.ok(f.frameP50Ms <= TARGET_FRAME_MS, `median frame ${f.frameP50Ms.toFixed(1)} ms`);
});
