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
// the number of bots (default 4): up to MAX_PLACERS of them build, in a bots process of
// their own, and the others only stand, BOTS_PER_PROC to a process (about 20 is what one
// Node process keeps alive on 2 cores); the deadlines grow with the count (flying-squid
// takes the logins one after another). REAL_ROUTER_DIRECT=1 adds the
// peer of the measure: once the bots are on B, a second server (Server-2) starts on A and
// the router moves them there with a direct Transfer (POST /v1/transfers, no waiting room,
// no migration), timed the same way. MIG_BIN_DIR names the programs (default
// build/test/bin); KEEP_REAL_DIR=1 keeps the temp dir (logs, worlds).
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
const BOTS_PER_PROC = 20;      // bots one Node process keeps alive on 2 cores (MINECRAFT-TESTING.md)
const MAX_PLACERS = N_BOTS <= BOTS_PER_PROC ? N_BOTS : 10; // each block placed is news to every player
const PLACERS = BOTS.slice(0, MAX_PLACERS);
const STANDERS = BOTS.slice(MAX_PLACERS);
const GROUPS = [PLACERS, ...Array.from({ length: Math.ceil(STANDERS.length / BOTS_PER_PROC) },
  (_, g) => STANDERS.slice(g * BOTS_PER_PROC, (g + 1) * BOTS_PER_PROC))];
const DIRECT = process.env.REAL_ROUTER_DIRECT === '1';
const AGENT_TOKEN = 'router-agent-token-1234'; // the agents' and the router's: the worker's MIG_DRIVER_TOKEN
const PEER_TOKEN = 'router-peer-token-5678';
const TOKENS = { viewer: 'viewer-token-router-1', operator: 'operator-token-router-2', optimizer: 'optimizer-token-router-3' };
const DOMAIN = 'mc.test';
const GAME_PORT = 25565;
const RCON_PORT = 25575;
const PER_BOT_MS = 6000;       // a login through the router on a busy machine, generously, per bot in line
const START_MS = 180000 + N_BOTS * PER_BOT_MS; // a process answering, a server in play, bots joined (deadlines, not waits)
const MIGRATION_MS = 480000 + N_BOTS * PER_BOT_MS; // the whole move, sanitized programs on a busy 2-core machine
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

// One bot's direct move (no room) from its reports after `since`: the Transfer that took
// it off its server in play, its login on the new one, in play there.
function directTimeline(events, name, since) {
  const ev = events.filter((e) => e.name === name && e.t >= since);
  const off = ev.findIndex((e) => e.event === 'transfer' && e.state === 'play');
  const on = ev.findIndex((e, i) => off >= 0 && i > off && e.event === 'configuring');
  const back = ev.findIndex((e, i) => on >= 0 && i > on && e.event === 'joined');
  if (back < 0) return null;
  return {
    name, host: ev[back].host, port: ev[back].port,
    downMs: ev[on].t - ev[off].t,                // last packet of the old server to the first of the new
    outOfPlayMs: ev[back].t - ev[off].t,         // in play there to in play here
    transfers: ev.filter((e) => e.event === 'transfer').length,
  };
}

// "a..b ms (median m)" of the numbers `v`
function span(v) {
  const s = [...v].sort((a, b) => a - b);
  return `${s[0]}..${s.at(-1)} ms (median ${s[s.length >> 1]})`;
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
    const props = (port, motd = 'Server-1') =>
      `server-port=${port}\nmax-players=${N_BOTS + 10}\nenable-rcon=true\nrcon.port=${RCON_PORT}\nrcon.password=router-rcon-pw\nmotd=${motd}\n`;
    const log = (m) => t.diagnostic(`${new Date().toISOString().slice(11, 23)} ${m}`);
    const began = Date.now();
    const events = []; // the bots' reports, all processes
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
      fs.writeFileSync(path.join(agentDirs[0], 'servers/s1/server.properties'), props(GAME_PORT));
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

      // the players: through the router, naming server-1.mc.test in their handshake; a
      // bots process per group, the first group's bots building
      const seen = new Map(); // `${name} ${event}` -> count, so that waits do not scan every event
      const groups = GROUPS.map((names, g) => procs.start(`bots${g + 1}`, 'node', [path.join(HERE, 'bots.mjs'), '--host', hostAddr,
        '--port', String(router.port), '--server-host', `server-1.${DOMAIN}`, '--names', names.join(','), '--version', VERSION,
        ...(g === 0 ? ['--place', '--every-ms', '400'] : [])], { pipeStdout: true, pipeStdin: true }));
      for (const bots of groups) {
        jsonLines(bots.child, (o) => {
          events.push(o);
          const k = `${o.name} ${o.event}`;
          seen.set(k, (seen.get(k) || 0) + 1);
          if (o.event === 'error') log(`bots: ${JSON.stringify(o)}`);
        });
      }
      const count = (name, kind) => seen.get(`${name} ${kind}`) || 0;
      const of = (name, kind) => events.filter((e) => e.name === name && e.event === kind);
      const send = (cmd) => groups.forEach((bots) => bots.child.stdin.write(`${JSON.stringify(cmd)}\n`));
      await waitFor('bots in play through the router', START_MS, () => BOTS.every((b) => count(b, 'joined') >= 1));
      await waitFor(`${PLACED_BEFORE} blocks placed by each building bot`, START_MS,
        () => PLACERS.every((b) => count(b, 'placed') >= PLACED_BEFORE));
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
      const steps = new Set();
      const final = await waitFor('migration completed', MIGRATION_MS, async () => {
        const r = await call('GET', `/api/migrations/${m.id}`, undefined, 'viewer');
        const key = `${r.status} ${r.current_step || ''}`;
        if (!steps.has(key)) { steps.add(key); log(`${key} (${Date.now() - began} ms)`); }
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
      assert.ok(want.length >= PLACED_BEFORE * PLACERS.length);
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

      const spanOf = (k) => span(lines.map((l) => l[k]));
      for (const l of lines) {
        log(`${l.name}: held ${l.heldMs} ms in ${room}; out of play ${l.outOfPlayMs} ms (A's Transfer to B's login ${l.downMs} ms; `
          + `room to in play on B ${l.lastLegMs} ms; first login ${l.firstLoginMs} ms)`);
      }
      log(`${BOTS.length} bots: held ${spanOf('heldMs')}; downtime (last of A to first of B) ${spanOf('downMs')}; out of play ${spanOf('outOfPlayMs')}; `
        + `room to in play on B ${spanOf('lastLegMs')}; worker's player_downtime_ms ${final.player_downtime_ms} against a planned budget of ${BUDGET_MS} ms for the final sync`);
      log(`${want.length} blocks of A found on B by each of ${BOTS.length} bots (${Date.now() - began} ms)`);

      if (DIRECT) {
        // the peer: the same bots moved by a direct Transfer from Server-1 (on B) to a
        // running Server-2 (on A, a fresh world as B's was), no room and no migration
        await agent(0, 'POST', '/v1/containers', { server_id: 's2', ram_mb: 1024, disk_mb: 2000 });
        fs.writeFileSync(path.join(agentDirs[0], 'servers/s2/server.properties'), props(GAME_PORT, 'Server-2'));
        await agent(0, 'POST', '/v1/containers/s2/start');
        await waitFor('s2 running on A', START_MS, async () => (await agent(0, 'GET', '/v1/containers/s2')).state === 'running');
        const put2 = await router.call('PUT', '/v1/servers/Server-2', { address: aAddr });
        assert.equal(put2.status, 200, `PUT Server-2 at the router: ${put2.text}`);
        const since = Date.now();
        const moved = await router.call('POST', '/v1/transfers', { from: 'Server-1', to: 'Server-2' });
        assert.equal(moved.status, 200, `POST /v1/transfers Server-1 -> Server-2: ${moved.text}`);
        assert.deepEqual([...moved.json.moved].sort(), [...BOTS].sort(), 'every bot was sent to Server-2');
        const direct = await waitFor('every bot in play on Server-2', START_MS, () => {
          const ls = BOTS.map((b) => directTimeline(events, b, since));
          return ls.every(Boolean) && ls;
        });
        const rev2 = router.events();
        for (const d of direct) {
          assert.equal(d.transfers, 1, `${d.name}: one Transfer, straight to Server-2`);
          const routed = rev2.filter((e) => e.event === 'router.routed' && e.player === d.name).at(-1);
          assert.equal(routed.backend, aAddr, `${d.name} ended on A's backend`);
          assert.equal(routed.server, 'Server-2', `${d.name} routed to Server-2`);
        }
        assert.equal(rev2.filter((e) => e.event === 'router.held').length, BOTS.length, 'nobody held in a room by the direct move');
        assert.deepEqual(events.filter((e) => e.event === 'error'), [], 'no bot reported an error');
        for (const d of direct) log(`${d.name}: direct Transfer to Server-2: downtime ${d.downMs} ms; out of play ${d.outOfPlayMs} ms`);
        log(`${BOTS.length} bots, direct Transfer between running servers: downtime (last of old to first of new) ${span(direct.map((d) => d.downMs))}; `
          + `out of play ${span(direct.map((d) => d.outOfPlayMs))}; through the room (above): downtime ${spanOf('downMs')}, out of play ${spanOf('outOfPlayMs')}`);
      }
      log(`whole test ${Date.now() - began} ms`);
    } catch (e) {
      process.env.KEEP_REAL_DIR ||= '1'; // the logs are the only explanation
      fs.writeFileSync(path.join(dir, 'bots-events.jsonl'), events.map((o) => JSON.stringify(o)).join('\n'));
      throw new Error(`${e.message}\n(logs: ${dir})`);
    } finally {
      await procs.stopAll();
      agentDirs.forEach(killAgentServers);
      nodes.down();
      if (!process.env.KEEP_REAL_DIR) fs.rmSync(dir, { recursive: true, force: true });
    }
  });
