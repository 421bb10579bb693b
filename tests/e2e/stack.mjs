// stack.mjs - a private copy of the whole system for one test: redis-server on a unix
// socket in a fresh temp dir, migrate-api on a free loopback port serving api/web/, and
// on request fleet-sim, migrate-scheduler and migrate-worker. Every process is started
// here and stopped here by its pid (SIGTERM, then SIGKILL), also when the test fails:
// call stop() in a finally. Nothing outlives the test.
//
// MIG_BIN_DIR names the programs' folder (the Makefile passes build/test/bin, the
// sanitized ones); it defaults to bin/.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from './resp.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.resolve(ROOT, process.env.MIG_BIN_DIR || 'bin');
export const WEB_ROOT = path.join(ROOT, 'api/web');
const START_TIMEOUT_MS = 60000; // a failure deadline: sanitized programs on a loaded machine start in seconds

export const TOKENS = { viewer: 'viewer-token-1234', operator: 'operator-token-5678', optimizer: 'optimizer-token-9012' };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const live = new Set(); // every child of every stack, for the exit hook

// A last resort: a test runner killed mid-test still takes its children along.
process.on('exit', () => {
  for (const c of live) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone already */ }
  }
});

// Starts `cmd` with `env`; its stderr goes to `log` (a file), and `waitFor(line)` may
// pick a value out of its JSON log lines. Resolves with {child, value}.
function run(name, cmd, args, env, logFile, waitFor) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, 'pipe'] });
    fs.closeSync(out);
    live.add(child);
    child.once('exit', () => live.delete(child));
    const log = fs.createWriteStream(logFile, { flags: 'a' });
    child.once('exit', () => log.end());
    let pending = '';
    let done = !waitFor;
    const timer = setTimeout(() => {
      if (!done) reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms (log: ${logFile})`));
    }, START_TIMEOUT_MS);
    child.stderr.on('data', (d) => {
      log.write(d);
      if (done) return;
      pending += d.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let v;
        try { v = waitFor(JSON.parse(line)); } catch { v = undefined; }
        if (v !== undefined && !done) {
          done = true;
          clearTimeout(timer);
          resolve({ child, value: v });
        }
      }
    });
    child.once('exit', (code, sig) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? sig}) before it started; log: ${logFile}`));
      }
    });
    child.once('error', (e) => { if (!done) { done = true; clearTimeout(timer); reject(e); } });
    if (!waitFor) {
      clearTimeout(timer);
      resolve({ child, value: null });
    }
  });
}

// One HTTP request on a connection of its own (no keep-alive: a server closing an idle
// connection as a request goes out on it would fail the test for nothing). Resolves
// {status, text}.
function request(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Stops a child: SIGTERM, up to `graceMs` to exit, then SIGKILL. Resolves when it exited.
export async function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

export class Stack {
  // opts: {sim: {fleet, env}, scheduler: env|true, worker: env|true, apiEnv}
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-e2e-'));
    this.children = {};
    this.sock = path.join(this.dir, 'redis.sock');
    this.env = { MIG_REDIS_URL: `unix://${this.sock}`, MIG_LOG_LEVEL: 'info' };
  }

  log(name) {
    return path.join(this.dir, `${name}.log`);
  }

  // Starts the stack; one that fails to start stops what it had started before it throws,
  // so that no caller has to (a test that starts outside its try would leave them).
  async start() {
    try {
      await this.startAll();
    } catch (e) {
      await this.stop().catch(() => {});
      throw e;
    }
  }

  async startAll() {
    for (const p of ['migrate-api', 'migrate-scheduler', 'migrate-worker', 'fleet-sim']) {
      if (!fs.existsSync(path.join(BIN, p))) throw new Error(`${path.join(BIN, p)} is missing: build it first (make)`);
    }
    const r = await run('redis-server', 'redis-server', ['--port', '0', '--unixsocket', this.sock, '--unixsocketperm', '700',
      '--dir', this.dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {}, this.log('redis'), null);
    this.children.redis = r.child;
    // redis-server binds its socket before it listens: until it accepts, a connect is
    // refused (or finds no file). Try again until it answers, within the start deadline.
    const end = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        this.redis = await Redis.connect(this.sock);
        break;
      } catch (e) {
        if (Date.now() > end || r.child.exitCode !== null) {
          throw new Error(`redis-server does not accept connections (${e.code || e.message}); log: ${this.log('redis')}`);
        }
        await sleep(25);
      }
    }
    await this.startApi();
    if (this.opts.sim) {
      const fleetFile = path.join(this.dir, 'fleet.json');
      const env = { ...this.env, MIG_SIM_LISTEN: '127.0.0.1:0', MIG_COST_LEVEL: '0', ...(this.opts.sim.env || {}) };
      if (this.opts.sim.fleet) {
        fs.writeFileSync(fleetFile, JSON.stringify(this.opts.sim.fleet));
        env.MIG_SIM_FLEET = fleetFile;
      }
      const s = await run('fleet-sim', path.join(BIN, 'fleet-sim'), [], env, this.log('sim'), (j) => (j.event === 'sim.started' ? j.port : undefined));
      this.children.sim = s.child;
      this.simUrl = `http://127.0.0.1:${s.value}`;
      // the sim writes its inventory to Redis on its own thread: a test's first call
      // must find every node and server there already
      await this.sim('POST', '/control/report');
    }
    if (this.opts.scheduler) {
      const env = { ...this.env, ...(this.opts.scheduler === true ? {} : this.opts.scheduler) };
      this.children.scheduler = (await run('scheduler', path.join(BIN, 'migrate-scheduler'), [], env, this.log('scheduler'), null)).child;
    }
    if (this.opts.worker) {
      const env = {
        ...this.env,
        MIG_DRIVER_NODE_URL: `${this.simUrl}/nodes/{node_id}`,
        MIG_DRIVER_PROXY_URL: `${this.simUrl}/proxy`,
        ...(this.opts.worker === true ? {} : this.opts.worker),
      };
      this.children.worker = (await run('worker', path.join(BIN, 'migrate-worker'), [], env, this.log('worker'), null)).child;
    }
    return this;
  }

  // Starts migrate-api: on a free port the first time, on the same port after a
  // restart (the page's origin must not change).
  async startApi() {
    const listen = `127.0.0.1:${this.apiPort || 0}`;
    const env = {
      ...this.env, MIG_API_LISTEN: listen, MIG_API_WEB_ROOT: WEB_ROOT, MIG_API_THREADS: '32',
      MIG_API_TOKENS: `viewer:${TOKENS.viewer},operator:${TOKENS.operator},optimizer:${TOKENS.optimizer}`,
      ...(this.opts.apiEnv || {}),
    };
    for (let attempt = 0; ; attempt++) {
      try {
        const a = await run('migrate-api', path.join(BIN, 'migrate-api'), [], env, this.log('api'), (j) => (j.event === 'api.started' ? j.port : undefined));
        this.children.api = a.child;
        this.apiPort = Number(a.value);
        this.url = `http://127.0.0.1:${this.apiPort}`;
        await this.ready();
        return;
      } catch (e) {
        if (attempt >= 20 || !this.apiPort) throw e; // the old socket may linger a moment
        await sleep(250);
      }
    }
  }

  // Waits for GET /readyz: Redis answers and holds the function library (the API loads
  // it), so that a test may call the functions directly.
  async ready() {
    for (let i = 0; ; i++) {
      const res = await request('GET', `${this.url}/readyz`, {}).catch(() => null);
      if (res?.status === 200) return;
      if (i >= 100) throw new Error(`migrate-api is not ready: ${res ? res.status : 'no answer'}`);
      await sleep(100);
    }
  }

  async stopApi() {
    await stopChild(this.children.api);
    this.children.api = null;
  }

  async restartApi() {
    await this.stopApi();
    await this.startApi();
  }

  // Calls the REST API with a role's token: resolves {status, body}.
  async call(method, p, body, role = 'operator') {
    const headers = { Authorization: `Bearer ${TOKENS[role]}`, ...(body ? { 'Content-Type': 'application/json' } : {}) };
    const res = await request(method, this.url + p, headers, body ? JSON.stringify(body) : undefined);
    return { status: res.status, body: res.text ? JSON.parse(res.text) : null };
  }

  // The same, answering the body and throwing unless the status is 2xx.
  async ok(method, p, body, role = 'operator') {
    const r = await this.call(method, p, body, role);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  // Calls the simulator's control API.
  async sim(method, p, body) {
    const res = await request(method, this.simUrl + p, body ? { 'Content-Type': 'application/json' } : {},
      body ? JSON.stringify(body) : undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`sim ${method} ${p}: ${res.status} ${res.text}`);
    return res.text ? JSON.parse(res.text) : null;
  }

  // Every event id in the stream after `since` (exclusive), oldest first.
  async eventIds(since = '-') {
    const start = since === '-' ? '-' : `(${since}`;
    const rows = await this.redis.call('XRANGE', 'mig:events', start, '+');
    return rows.map((r) => r[0]);
  }

  // Stops every process, newest first, and removes the temp dir unless KEEP_E2E_DIR is
  // set (then its logs stay for a look).
  async stop() {
    try { this.redis?.close(); } catch { /* closed already */ }
    for (const name of ['worker', 'scheduler', 'sim', 'api', 'redis']) {
      await stopChild(this.children[name]);
      this.children[name] = null;
    }
    if (!process.env.KEEP_E2E_DIR) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // The tail of a process's log, for a failure message.
  tail(name, lines = 20) {
    try {
      return fs.readFileSync(this.log(name), 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}
