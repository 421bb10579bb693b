// router.test.mjs - the players' side of a live move through the real router (issue 16):
// mineflayer bots (tests/real/bots.mjs) join a flying-squid server on node A THROUGH
// bin/migrate-router (their handshake names server-1.mc.test; the router splices them to
// A), build, and a live migration A -> B runs through the API, scheduler and worker, whose
// proxy bridge (MIG_DRIVER_PROXY_URL) is the router's HTTP port. The router sends each
// player a Transfer to itself, holds it in the waiting room while the source is quiesced
// and the final sync runs, then sends it a Transfer to the server's new backend on B.
// Afterwards every bot is in play again, routed to B, and finds the blocks it saw placed
// on A. Per bot, from its own JSON-lines reports: the time out of play (Transfer from A to
// logged in on B, and to in play) and the time held in the room, printed with the
// worker's measured downtime and its planned budget.
//
// Same stack as migrate.test.mjs (realstack.mjs: one network namespace per agent; root
// needed, skipped otherwise). The router runs on the host side of the namespaces' bridge
// (<prefix>.1), the address the backends see players come from. REAL_ROUTER_BOTS sets
// the number of bots (default 4; about 20 per bots process is the ceiling on 2 cores).
// MIG_BIN_DIR names the programs (default build/test/bin); KEEP_REAL_DIR=1 keeps the temp
// dir (logs, worlds).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';

import { HERE, Nodes, Procs, ROOT, jsonLines, killAgentServers, logEvents, request, sleep, startRouter, waitFor } from './realstack.mjs';

const BIN = path.resolve(ROOT, process.env.MIG_BIN_DIR || 'build/test/bin');
const VERSION = '1.20.6';      // Transfer packets exist from 1.20.5 on; the calmest (MINECRAFT-TESTING.md)
const N_BOTS = Number(process.env.REAL_ROUTER_BOTS || 4);
const BOTS = Array.from({ length: N_BOTS }, (_, i) => `rbot${i + 1}`);
const AGENT_TOKEN = 'router-agent-token-1234'; // the agents' and the router's: the worker's MIG_DRIVER_TOKEN
const PEER_TOKEN = 'router-peer-token-5678';
const TOKENS = { viewer: 'viewer-token-router-1', operator: 'operator-token-router-2', optimizer: 'optimizer-token-router-3' };
const DOMAIN = 'mc.test';
const GAME_PORT = 25565;
const RCON_PORT = 25575;
const START_MS = 180000;       // a process answering, a server in play, bots joined (deadlines, not waits)
const MIGRATION_MS = 480000;   // the whole move, sanitized programs on a busy 2-core machine
const PLACED_BEFORE = 2;       // blocks each bot has confirmed on A before the move is asked for
const BUDGET_MS = 5000;        // the worker's MIG_DOWNTIME_BUDGET_MS (its default): the planned final sync

const skip = Nodes.usable() || (fs.existsSync(path.join(HERE, 'node_modules/flying-squid')) ? null : 'npm ci in tests/real first (make test-real)');

// One bot's move from its reports: the Transfer that took it off A (in play), its login in
// the room, the Transfer out of the room (configuration state), its login on B, in play on B.
function timeline(events, name) {
  const ev = events.filter((e) => e.name === name);
  const off = ev.findIndex((e) => e.event === 'transfer' && e.state === 'play');
  if (off < 0) return null;
  const inRoom = ev.findIndex((e, i) => i > off && e.event === 'configuring');
  const out = ev.findIndex((e, i) => i > inRoom && inRoom >= 0 && e.event === 'transfer' && e.state === 'configuration');
  const onB = ev.findIndex((e, i) => i > out && out >= 0 && e.event === 'configuring');
  const back = ev.findIndex((e, i) => i > onB && onB >= 0 && e.event === 'joined');
  if (back < 0) return null;
  const first = ev.find((e) => e.event === 'connecting');
  const firstIn = ev.find((e) => e.event === 'joined');
  return {
    name,
    leftA: ev[off].t, inRoom: ev[inRoom].t, released: ev[out].t, loggedInB: ev[onB].t, joinedB: ev[back].t,
    heldMs: ev[out].t - ev[inRoom].t,            // in the waiting room
    downMs: ev[onB].t - ev[off].t,               // last packet of A to the first of B (its login)
    outOfPlayMs: ev[back].t - ev[off].t,         // in play on A to in play on B
    lastLegMs: ev[back].t - ev[out].t,           // room to in play on B: a login through the router
    firstLoginMs: firstIn.t - first.t,           // the first login, through the router to A
    transfers: ev.filter((e) => e.event === 'transfer').length,
    joins: ev.filter((e) => e.event === 'joined').length,
    lefts: ev.filter((e) => e.event === 'left').length,
  };
}

test('players joined through migrate-router wait in its waiting room during a live move and come back on the new node',
  { skip: skip || false, timeout: 1500000 }, async (t) => {
    for (const p of ['migrate-agent', 'migrate-api', 'migrate-scheduler', 'migrate-worker', 'migrate-router']) {
      assert.ok(fs.existsSync(path.join(BIN, p)), `${path.join(BIN, p)} is missing: build it first`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mig-real-router-'));
    const procs = new Procs(dir);
    const nodes = new Nodes(((process.pid + 7) % 46656).toString(36), 2);
    const agentDirs = [path.join(dir, 'agentA'), path.join(dir, 'agentB')];
    const log = (m) => t.diagnostic(`${new Date().toISOString().slice(11, 23)} ${m}`);
    const began = Date.now();
    try {
      nodes.up();
      const hostAddr = `${nodes.prefix}.1`; // the host's side of the bridge: the router's address

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
            MIG_AGENT_DISK_MB: '20000', MIG_AGENT_STOP_TIMEOUT_MS: '15000', MIG_LOG_LEVEL: 'debug' },
        });
        return `http://${n.addr}:7070`;
      });
      const agent = async (i, method, p, body) => {
        const r = await request(method, agents[i] + p, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` }, body });
        if (r.status < 200 || r.status > 299) throw new Error(`agent ${'AB'[i]} ${method} ${p}: ${r.status} ${r.text}`);
        return r.json;
      };
      for (let i = 0; i < 2; i++) await waitFor(`agent ${'AB'[i]} healthy`, START_MS, async () => (await agent(i, 'GET', '/v1/health')).healthy);

      // the server on A (backends run online-mode=false: server.mjs; only the router joins them here)
      await agent(0, 'POST', '/v1/containers', { server_id: 's1', ram_mb: 1024, disk_mb: 2000 });
      fs.writeFileSync(path.join(agentDirs[0], 'servers/s1/server.properties'),
        `server-port=${GAME_PORT}\nmax-players=40\nenable-rcon=true\nrcon.port=${RCON_PORT}\nrcon.password=router-rcon-pw\nmotd=Server-1\n`);
      await agent(0, 'POST', '/v1/containers/s1/start');
      await waitFor('s1 running on A', START_MS, async () => (await agent(0, 'GET', '/v1/containers/s1')).state === 'running');
      const aAddr = `${nodes.nodes[0].addr}:${GAME_PORT}`;
      const bAddr = `${nodes.nodes[1].addr}:${GAME_PORT}`;
      log(`s1 runs on A (${Date.now() - began} ms)`);

      // the router: players' address on the bridge's host side, its bridge on loopback;
      // the platform registers Server-1 at A's address (no migration: no fencing token)
      const router = await startRouter(procs, { bin: BIN, dir, listen: `${hostAddr}:0`, publicHost: hostAddr, domain: DOMAIN,
        token: AGENT_TOKEN, env: { MIG_ROUTER_PER_IP_MAX: '1000' } });
      const put = await router.call('PUT', '/v1/servers/Server-1', { address: aAddr });
      assert.equal(put.status, 200, `PUT Server-1 at the router: ${put.text}`);
      assert.equal((await request('PUT', `${router.url}/v1/servers/Server-1`, { body: { address: aAddr } })).status, 401,
        'the bridge wants the token');
      log(`router on ${hostAddr}:${router.port}, bridge ${router.url} (${Date.now() - began} ms)`);

      // the inventory: two nodes and the server (the platform's role)
      for (const [i, id] of ['nA', 'nB'].entries()) {
        await call('PUT', `/api/nodes/${id}`, { name: `Node-${'AB'[i]}`, address: `${nodes.nodes[i].addr}:7070`, healthy: true,
          ram_total_mb: 8192, ram_free_mb: 8192, disk_free_mb: 20000, eur_hour: i === 0 ? 0.3 : 0.1 }, 'optimizer');
      }
      await call('PUT', '/api/servers/s1', { name: 'Server-1', node_id: 'nA', state: 'running', players: BOTS.length,
        idle_since: Date.now() - 3600000, ram_mb: 1024, disk_mb: 2000 }, 'optimizer');

      // the players: through the router, naming server-1.mc.test in their handshake
      const events = [];
      const bots = procs.start('bots', 'node', [path.join(HERE, 'bots.mjs'), '--host', hostAddr, '--port', String(router.port),
        '--server-host', `server-1.${DOMAIN}`, '--names', BOTS.join(','), '--version', VERSION, '--place', '--every-ms', '400'],
      { pipeStdout: true, pipeStdin: true });
      jsonLines(bots.child, (o) => { events.push(o); if (o.event === 'error') log(`bots: ${JSON.stringify(o)}`); });
      const of = (name, kind) => events.filter((e) => e.name === name && e.event === kind);
      const send = (cmd) => bots.child.stdin.write(`${JSON.stringify(cmd)}\n`);
      await waitFor('bots in play through the router', START_MS, () => BOTS.every((b) => of(b, 'joined').length >= 1));
      await waitFor(`${PLACED_BEFORE} blocks placed by each bot`, START_MS, () => BOTS.every((b) => of(b, 'placed').length >= PLACED_BEFORE));
      const routedA = router.events().filter((e) => e.event === 'router.routed');
      for (const b of BOTS) {
        assert.ok(routedA.some((e) => e.player === b && e.backend === aAddr && e.server === 'Server-1'), `${b} routed to A`);
      }
      const listed = await router.call('GET', '/v1/servers/Server-1/players');
      assert.deepEqual([...listed.json.players].sort(), [...BOTS].sort(), 'the router lists the players of Server-1');
      log(`${BOTS.length} bots in play on A through the router (${Date.now() - began} ms)`);

      // scheduler and worker, the worker's proxy bridge being the router; then the move, while the bots build
      procs.start('scheduler', path.join(BIN, 'migrate-scheduler'), [], { env: { ...env, MIG_IDLE_S: '0' } });
      procs.start('worker', path.join(BIN, 'migrate-worker'), [], {
        env: { ...env, MIG_DRIVER_NODE_URL: 'http://{node_address}', MIG_DRIVER_PROXY_URL: router.url,
          MIG_DRIVER_TOKEN: AGENT_TOKEN, MIG_WORKER_ID: 'worker-router', MIG_LOG_LEVEL: 'debug',
          MIG_DOWNTIME_BUDGET_MS: String(BUDGET_MS) },
      });
      const m = await call('POST', '/api/migrations', { server_id: 's1', to_node_id: 'nB', notes: 'tests/real router', start_now: true });
      log(`migration ${m.id} created (${Date.now() - began} ms)`);
      const seen = new Set();
      const final = await waitFor('migration completed', MIGRATION_MS, async () => {
        const r = await call('GET', `/api/migrations/${m.id}`, undefined, 'viewer');
        const key = `${r.status} ${r.current_step || ''}`;
        if (!seen.has(key)) { seen.add(key); log(`${key} (${Date.now() - began} ms)`); }
        if (r.status === 'failed' || r.status === 'cancelled') throw Object.assign(new Error(`ended ${r.status}: ${r.error_message}`), { fatal: true });
        return r.status === 'completed' ? r : undefined;
      }, 250);
      assert.equal(final.players_transferred, BOTS.length, 'the worker counted every player moved');

      // every bot went A -> room -> B, by its own reports
      const lines = await waitFor('every bot in play on B', START_MS, () => {
        const ls = BOTS.map((b) => timeline(events, b));
        return ls.every(Boolean) && ls;
      });
      const room = `wait-${m.id}`;
      const rev = router.events();
      for (const b of BOTS) {
        const held = rev.filter((e) => e.event === 'router.held' && e.player === b);
        assert.deepEqual(held.map((e) => e.room), [room], `${b} was held once, in ${room}`);
        const routed = rev.filter((e) => e.event === 'router.routed' && e.player === b);
        assert.equal(routed.at(-1).backend, bAddr, `${b} ended on B's backend`);
        assert.deepEqual(routed.map((e) => e.backend), [aAddr, bAddr], `${b}: routed to A, then to B, nothing else`);
      }
      for (const l of lines) {
        assert.equal(l.transfers, 2, `${l.name}: two Transfers (to the room, out of it)`);
        assert.equal(l.joins, 2, `${l.name}: in play twice (A, B)`);
        assert.equal(l.lefts, 1, `${l.name}: left A once, and B never`);
      }
      assert.deepEqual(events.filter((e) => e.event === 'error'), [], 'no bot reported an error');
      // held while the final sync ran: released only after B's final pass was done
      const evB = logEvents(path.join(dir, 'agentB.log')).filter((e) => e.server_id === 's1');
      const lastPass = evB.map((e) => e.event).lastIndexOf('agent.pass_started');
      const finalDone = evB.find((e, i) => i > lastPass && e.event === 'agent.pass_done');
      assert.ok(finalDone, 'B finished its final pass');
      const finalAt = Date.parse(finalDone.ts);
      for (const l of lines) assert.ok(l.released >= finalAt, `${l.name} left the room after the final pass (${l.released} < ${finalAt})`);
      // the router and B agree: every player is on B now
      await waitFor('B counts the players', START_MS, async () => (await agent(1, 'GET', '/v1/containers/s1')).players === BOTS.length);
      const afterMove = await router.metrics();
      assert.equal(afterMove.mig_router_players_held, 0, 'nobody left in a room');
      assert.equal(afterMove.mig_router_players_spliced, BOTS.length, 'every player spliced');
      assert.equal(afterMove.mig_router_players_held_total, BOTS.length);
      assert.equal(afterMove.mig_router_players_transferred_total, 2 * BOTS.length);
      const goneFromA = await request('GET', `${agents[0]}/v1/containers/s1`, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } });
      assert.equal(goneFromA.status, 404, 'the source container is deleted');

      // each bot, in play on B, sees the blocks placed on A (by every bot, before it was sent away)
      send({ cmd: 'pause' });
      const firstOff = Math.min(...lines.map((l) => l.leftA));
      const want = events.filter((e) => e.event === 'placed' && e.t < firstOff).map(({ x, y, z, block }) => ({ x, y, z, block }));
      assert.ok(want.length >= PLACED_BEFORE * BOTS.length);
      const file = path.join(dir, 'placed-on-A.json');
      fs.writeFileSync(file, JSON.stringify(want));
      send({ cmd: 'check', file });
      const checked = await waitFor('every bot checked its world', START_MS, () => {
        const c = BOTS.map((b) => of(b, 'checked').at(-1));
        return c.every(Boolean) && c;
      });
      for (const [i, c] of checked.entries()) {
        assert.deepEqual(c.bad, [], `${BOTS[i]}: blocks of A missing on B`);
        assert.equal(c.ok, want.length);
      }

      const sorted = (k) => lines.map((l) => l[k]).sort((a, b) => a - b);
      const span = (k) => { const v = sorted(k); return `${v[0]}..${v.at(-1)} ms (median ${v[v.length >> 1]})`; };
      for (const l of lines) {
        log(`${l.name}: held ${l.heldMs} ms in ${room}; out of play ${l.outOfPlayMs} ms (A's Transfer to B's login ${l.downMs} ms; `
          + `room to in play on B ${l.lastLegMs} ms; first login ${l.firstLoginMs} ms)`);
      }
      log(`${BOTS.length} bots: held ${span('heldMs')}; downtime (last of A to first of B) ${span('downMs')}; out of play ${span('outOfPlayMs')}; `
        + `worker's player_downtime_ms ${final.player_downtime_ms} against a planned budget of ${BUDGET_MS} ms for the final sync`);
      log(`${want.length} blocks of A found on B by each of ${BOTS.length} bots; whole test ${Date.now() - began} ms`);
    } catch (e) {
      process.env.KEEP_REAL_DIR ||= '1'; // the logs are the only explanation
      throw new Error(`${e.message}\n(logs: ${dir})`);
    } finally {
      await procs.stopAll();
      agentDirs.forEach(killAgentServers);
      nodes.down();
      if (!process.env.KEEP_REAL_DIR) fs.rmSync(dir, { recursive: true, force: true });
    }
  });
