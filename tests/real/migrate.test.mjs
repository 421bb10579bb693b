// migrate.test.mjs - the proof with real Minecraft-protocol software: a flying-squid
// server (tests/real/server.mjs) run by bin/migrate-agent on node A, mineflayer bots
// (tests/real/bots.mjs) placing blocks on it, and a live migration to node B through the
// API, scheduler and worker while the world is being written. Afterwards the players are
// on B, and a new player joining B sees every block the server confirmed.
//
// Each node agent runs in a network namespace of its own (realstack.mjs, Nodes): the agent
// reaches its servers on 127.0.0.1, and both copies of the server use the same ports, as
// on two machines. B's copy proves the agent's deferred start: server.mjs fails on a
// directory without its world, and B's log must show the process started once, within the
// final pass. The world keeps changing during the passes (the bots build, a file of it is
// rewritten), so that several delta passes run, and every block placed meanwhile must be
// on B. Needs root; skipped otherwise. MIG_BIN_DIR names the programs (default
// build/test/bin). KEEP_REAL_DIR=1 keeps the temp dir (logs, worlds) for a look.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';

import { Bridge, HERE, Nodes, Procs, ROOT, killAgentServers, request, sleep, waitFor } from './realstack.mjs';

const BIN = path.resolve(ROOT, process.env.MIG_BIN_DIR || 'build/test/bin');
const VERSION = '1.20.6';      // the calmest of the versions that work (MINECRAFT-TESTING.md)
const BOTS = ['alice', 'bob', 'carol'];
const AGENT_TOKEN = 'real-agent-token-1234';
const PEER_TOKEN = 'real-peer-token-5678';
const TOKENS = { viewer: 'viewer-token-real-1', operator: 'operator-token-real-2', optimizer: 'optimizer-token-real-3' };
const GAME_PORT = 25565;
const RCON_PORT = 25575;
const START_MS = 120000;       // a process answering, a server in play, bots joined (deadlines, not waits)
const MIGRATION_MS = 480000;   // the whole move, sanitized programs on a busy 2-core machine
const PLACED_BEFORE = 15;      // blocks confirmed before the move is asked for
const DELTA_PASSES = 2;        // delta passes (after the full one) that must run while the world changes
const PLACED_DURING = 6;       // blocks confirmed during the passes, at least
const BALLAST_BYTES = 6 << 20; // a file of the world rewritten during the passes (region files of a bigger world)
const SYNC_RATE_MBPS = 1;      // agent B's pull cap: a pass copying that file lasts seconds on any machine (~3.5 s
                               // measured), while the file is rewritten every 250 ms

// The JSON lines of an agent's log (its stderr).
function agentEvents(file) {
  return fs.readFileSync(file, 'utf8').split('\n').flatMap((l) => {
    try { return [JSON.parse(l)]; } catch { return []; }
  });
}

const skip = Nodes.usable() || (fs.existsSync(path.join(HERE, 'node_modules/flying-squid')) ? null : 'npm ci in tests/real first (make test-real)');

test('a flying-squid server moves live between two real agents, and its players find their blocks on the new node',
  { skip: skip || false, timeout: 1200000 }, async (t) => {
    for (const p of ['migrate-agent', 'migrate-api', 'migrate-scheduler', 'migrate-worker']) {
      assert.ok(fs.existsSync(path.join(BIN, p)), `${path.join(BIN, p)} is missing: build it first`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-real-'));
    const procs = new Procs(dir);
    const nodes = new Nodes((process.pid % 46656).toString(36), 2);
    const bridge = new Bridge({ log: (m) => fs.appendFileSync(path.join(dir, 'bridge.log'), `${new Date().toISOString()} ${m}\n`) });
    const agentDirs = [path.join(dir, 'agentA'), path.join(dir, 'agentB')];
    const log = (m) => t.diagnostic(`${new Date().toISOString().slice(11, 23)} ${m}`);
    const began = Date.now();
    try {
      nodes.up();

      // Redis, on a unix socket in the temp dir
      const sock = path.join(dir, 'redis.sock');
      procs.start('redis', 'redis-server', ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700', '--dir', dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
      await waitFor('redis socket', START_MS, () => fs.existsSync(sock), 25);
      const env = { MIG_REDIS_URL: `unix://${sock}`, MIG_LOG_LEVEL: 'info' };

      // the API on a free port, read from its log
      procs.start('api', path.join(BIN, 'migrate-api'), [], {
        env: { ...env, MIG_API_LISTEN: '127.0.0.1:0', MIG_API_WEB_ROOT: path.join(ROOT, 'api/web'),
          MIG_API_TOKENS: `viewer:${TOKENS.viewer},operator:${TOKENS.operator},optimizer:${TOKENS.optimizer}` },
      });
      const apiPort = await waitFor('migrate-api listening', START_MS, () => {
        const m = /"event":"api.started".*?"port":"?(\d+)/.exec(fs.readFileSync(path.join(dir, 'api.log'), 'utf8'));
        return m && Number(m[1]);
      });
      const api = `http://127.0.0.1:${apiPort}`;
      const call = async (method, p, body, role = 'operator') => {
        const r = await request(method, api + p, { headers: { Authorization: `Bearer ${TOKENS[role]}` }, body });
        if (r.status < 200 || r.status > 299) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
        return r.json;
      };
      await waitFor('migrate-api ready', START_MS, async () => (await request('GET', `${api}/readyz`)).status === 200);

      // two agents, each in its node's namespace, each running servers with server.mjs
      const agentCmd = `exec node ${path.join(HERE, 'server.mjs')} --dir {dir} --version ${VERSION}`;
      const agents = nodes.nodes.map((n, i) => {
        const [ipCmd, ipArgs] = nodes.exec(i);
        procs.start(`agent${'AB'[i]}`, ipCmd, [...ipArgs, path.join(BIN, 'migrate-agent')], {
          env: { MIG_AGENT_LISTEN: `${n.addr}:7070`, MIG_AGENT_DIR: agentDirs[i], MIG_AGENT_COMMAND: agentCmd,
            MIG_AGENT_TOKEN: AGENT_TOKEN, MIG_AGENT_PEER_TOKEN: PEER_TOKEN, MIG_AGENT_RAM_MB: '8192',
            MIG_AGENT_DISK_MB: '20000', MIG_AGENT_STOP_TIMEOUT_MS: '15000', MIG_LOG_LEVEL: 'debug',
            MIG_AGENT_SYNC_RATE_MBPS: String(SYNC_RATE_MBPS) },
        });
        return `http://${n.addr}:7070`;
      });
      const agent = async (i, method, p, body) => {
        const r = await request(method, agents[i] + p, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` }, body });
        if (r.status < 200 || r.status > 299) throw new Error(`agent ${'AB'[i]} ${method} ${p}: ${r.status} ${r.text}`);
        return r.json;
      };
      for (let i = 0; i < 2; i++) await waitFor(`agent ${'AB'[i]} healthy`, START_MS, async () => (await agent(i, 'GET', '/v1/health')).healthy);

      // provision the server on A: its own container, its server.properties, start
      await agent(0, 'POST', '/v1/containers', { server_id: 's1', ram_mb: 1024, disk_mb: 2000 });
      fs.writeFileSync(path.join(agentDirs[0], 'servers/s1/server.properties'),
        `server-port=${GAME_PORT}\nmax-players=20\nenable-rcon=true\nrcon.port=${RCON_PORT}\nrcon.password=real-rcon-pw\nmotd=Server-1\n`);
      const ballast = path.join(agentDirs[0], 'servers/s1/world/ballast.bin');
      fs.mkdirSync(path.dirname(ballast), { recursive: true });
      fs.writeFileSync(ballast, crypto.randomBytes(BALLAST_BYTES));
      await agent(0, 'POST', '/v1/containers/s1/start');
      await waitFor('s1 running on A', START_MS, async () => (await agent(0, 'GET', '/v1/containers/s1')).state === 'running');
      log(`s1 runs on A (${Date.now() - began} ms)`);

      // the inventory: two nodes and the server (the platform's role)
      for (const [i, id] of ['nA', 'nB'].entries()) {
        await call('PUT', `/api/nodes/${id}`, { name: `Node-${'AB'[i]}`, address: `${nodes.nodes[i].addr}:7070`, healthy: true,
          ram_total_mb: 8192, ram_free_mb: 8192, disk_free_mb: 20000, eur_hour: i === 0 ? 0.3 : 0.1 }, 'optimizer');
      }
      await call('PUT', '/api/servers/s1', { name: 'Server-1', node_id: 'nA', state: 'running', players: BOTS.length,
        idle_since: Date.now() - 3600000, ram_mb: 1024, disk_mb: 2000 }, 'optimizer');

      // the proxy bridge, and the players on Server-1 placing blocks
      const bridgePort = await bridge.listen(0);
      bridge.register('Server-1', `${nodes.nodes[0].addr}:${GAME_PORT}`);
      const bots = procs.start('bots', 'node', [path.join(HERE, 'bots.mjs'), '--host', nodes.nodes[0].addr, '--port', String(GAME_PORT),
        '--names', BOTS.join(','), '--version', VERSION, '--place', '--every-ms', '300'], { pipeStdout: true, pipeStdin: true });
      bridge.attach(bots.child, BOTS, 'Server-1');
      const placed = () => bridge.events.filter((e) => e.event === 'placed');
      await waitFor('bots joined', START_MS, () => BOTS.every((b) => bridge.players.get(b).joined));
      await waitFor(`${PLACED_BEFORE} blocks placed`, START_MS, () => placed().length >= PLACED_BEFORE);
      log(`bots in play, ${placed().length} blocks placed (${Date.now() - began} ms)`);

      // scheduler and worker; then the move, asked while the bots keep building
      procs.start('scheduler', path.join(BIN, 'migrate-scheduler'), [], { env: { ...env, MIG_IDLE_S: '0' } });
      procs.start('worker', path.join(BIN, 'migrate-worker'), [], {
        env: { ...env, MIG_DRIVER_NODE_URL: 'http://{node_address}', MIG_DRIVER_PROXY_URL: `http://127.0.0.1:${bridgePort}`,
          MIG_DRIVER_TOKEN: AGENT_TOKEN, MIG_WORKER_ID: 'worker-real', MIG_LOG_LEVEL: 'debug',
          // no downtime budget: another delta pass as long as the last one found anything changed
          MIG_DOWNTIME_BUDGET_MS: '0', MIG_SYNC_MAX_PASSES: '20' },
      });

      // During the passes the world keeps changing: the bots build, and the ballast file is
      // rewritten in place (random bytes, so every block of it is dirty) every 250 ms; at
      // SYNC_RATE_MBPS a pass that copies it lasts seconds, so each finds it changed again.
      // The proxy's first transfer (the players to the waiting room) comes before the
      // quiesce and the final pass; the rewriting has stopped by then, whatever happened.
      let churning = true;
      const fd = fs.openSync(ballast, 'r+');
      const churn = setInterval(() => { if (churning) fs.writeSync(fd, crypto.randomBytes(BALLAST_BYTES), 0, BALLAST_BYTES, 0); }, 250);
      const stopChurn = () => { churning = false; clearInterval(churn); };
      const transfer = bridge.transfer.bind(bridge);
      let placedAtTransfer;
      bridge.transfer = async (from, to) => { stopChurn(); placedAtTransfer ??= placed().length; return transfer(from, to); };
      const workerLog = path.join(dir, 'worker.log');
      const deltaPasses = () => fs.readFileSync(workerLog, 'utf8').split('\n').filter((l) => l.includes('"Delta sync pass ')).length;

      const m = await call('POST', '/api/migrations', { server_id: 's1', to_node_id: 'nB', notes: 'tests/real', start_now: true });
      log(`migration ${m.id} created (${Date.now() - began} ms)`);
      // wait for the facts: the first pass began (from then on a block is "during the
      // passes"), DELTA_PASSES delta passes were decided, PLACED_DURING blocks confirmed
      let placedAtFirstPass;
      try {
        await waitFor(`${DELTA_PASSES} delta passes and ${PLACED_DURING} blocks placed during the passes`, MIGRATION_MS, async () => {
          if (placedAtFirstPass === undefined && /"agent.pass_started"/.test(fs.readFileSync(path.join(dir, 'agentB.log'), 'utf8'))) {
            placedAtFirstPass = placed().length;
          }
          const r = await call('GET', `/api/migrations/${m.id}`, undefined, 'viewer');
          if (r.status !== 'scheduled' && r.status !== 'preparing') {
            throw Object.assign(new Error(`${r.status} ${r.current_step || ''} ${r.error_message || ''} after ${deltaPasses()} delta passes`), { fatal: true });
          }
          return placedAtFirstPass !== undefined && deltaPasses() >= DELTA_PASSES && placed().length - placedAtFirstPass >= PLACED_DURING;
        }, 250);
      } finally {
        stopChurn(); // the passes may converge now
        fs.closeSync(fd);
      }
      bots.child.stdin.write(`${JSON.stringify({ cmd: 'pause' })}\n`);
      log(`${deltaPasses()} delta passes so far, ${placed().length - placedAtFirstPass} blocks placed during the passes; bots paused (${Date.now() - began} ms)`);
      const seen = new Set();
      const final = await waitFor('migration completed', MIGRATION_MS, async () => {
        const r = await call('GET', `/api/migrations/${m.id}`, undefined, 'viewer');
        const key = `${r.status} ${r.current_step || ''}`;
        if (!seen.has(key)) { seen.add(key); log(`${key} (${Date.now() - began} ms, ${placed().length} blocks placed)`); }
        if (r.status === 'failed' || r.status === 'cancelled') throw Object.assign(new Error(`ended ${r.status}: ${r.error_message}`), { fatal: true });
        return r.status === 'completed' ? r : undefined;
      }, 250);
      assert.equal(final.status, 'completed');
      const during = placed().slice(placedAtFirstPass, placedAtTransfer ?? placed().length);
      log(`${deltaPasses()} delta passes in all; ${during.length} blocks placed during the passes`);
      assert.ok(deltaPasses() >= DELTA_PASSES, `${DELTA_PASSES} delta passes at least`);
      assert.ok(during.length >= PLACED_DURING);

      // the players followed the server to B
      const bAddr = `${nodes.nodes[1].addr}:${GAME_PORT}`;
      assert.equal(bridge.servers.get('Server-1'), bAddr, 'the proxy leads Server-1 to node B');
      await waitFor('bots in play on B', START_MS, () => BOTS.every((b) => bridge.players.get(b).joined && bridge.players.get(b).address === bAddr));
      const c = await agent(1, 'GET', '/v1/containers/s1');
      assert.equal(c.state, 'running');
      assert.equal(c.address, bAddr);
      const goneFromA = await request('GET', `${agents[0]}/v1/containers/s1`, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } });
      assert.equal(goneFromA.status, 404, 'the source container is deleted');

      // B's server process started once, after the final pass began switching the world in,
      // and that pass was done only once the server ran (docs/DRIVERS.md, the deferred start):
      // server.mjs exits at once on a directory without its server.properties, so an early
      // start shows here as an exit
      const evB = agentEvents(path.join(dir, 'agentB.log')).filter((e) => e.server_id === 's1');
      const at = (name) => evB.findIndex((e) => e.event === name);
      const names = evB.map((e) => e.event);
      assert.ok(at('agent.server_deferred') >= 0, `B deferred the start of s1: ${names.join(' ')}`);
      assert.equal(names.filter((n) => n === 'agent.server_started').length, 1, `one start of s1 on B: ${names.join(' ')}`);
      assert.deepEqual(names.filter((n) => /server_exited|start_failed|pass_failed/.test(n)), [], 'nothing failed on B');
      const lastPass = names.lastIndexOf('agent.pass_started');
      assert.ok(at('agent.server_deferred') < lastPass && lastPass < at('agent.server_started'),
        `s1 started on B within the final pass, not before: ${names.join(' ')}`);
      const finalDone = evB.findIndex((e, i) => i > lastPass && e.event === 'agent.pass_done');
      assert.ok(at('agent.server_running') >= 0 && at('agent.server_running') < finalDone,
        `the final pass was done once the server ran: ${names.join(' ')}`);
      assert.equal(evB[finalDone].error, null);

      // a new player on B sees every block the server confirmed on A
      const want = placed().map(({ x, y, z, block }) => ({ x, y, z, block }));
      assert.ok(want.length >= PLACED_BEFORE);
      const file = path.join(dir, 'placed.json');
      fs.writeFileSync(file, JSON.stringify(want));
      const checker = procs.start('checker', 'node', [path.join(HERE, 'bots.mjs'), '--host', nodes.nodes[1].addr, '--port', String(GAME_PORT),
        '--names', 'checker', '--version', VERSION, '--check', file], { pipeStdout: true });
      let result = null;
      checker.child.stdout.on('data', (d) => {
        for (const l of d.toString().split('\n')) { try { const o = JSON.parse(l); if (o.event === 'checked') result = o; } catch { /* partial */ } }
      });
      const exit = await Promise.race([checker.exited, sleep(START_MS * 2, true).then(() => ({ code: 'timeout' }))]);
      assert.ok(result, `the checker reported nothing (exit ${exit.code}); see ${dir}/checker.log`);
      assert.deepEqual(result.bad, [], 'blocks missing on B');
      assert.equal(result.ok, want.length);
      const missing = during.filter((d) => !want.some((w) => w.x === d.x && w.y === d.y && w.z === d.z && w.block === d.block));
      assert.deepEqual(missing, [], 'every block placed during the passes was checked on B');
      log(`${want.length} blocks found on B by a new player; whole test ${Date.now() - began} ms`);
    } catch (e) {
      process.env.KEEP_REAL_DIR ||= '1'; // the logs are the only explanation
      throw new Error(`${e.message}\n(logs: ${dir})`);
    } finally {
      bridge.close();
      await procs.stopAll();
      agentDirs.forEach(killAgentServers);
      nodes.down();
      if (!process.env.KEEP_REAL_DIR) fs.rmSync(dir, { recursive: true, force: true });
    }
  });
