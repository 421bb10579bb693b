// demo.mjs - the real half of `make demo AGENTS=real` (tools/demo.sh starts Redis, the API,
// the scheduler and the workers): two node agents, each in a network namespace of its own
// (Node-A 10.231.x.11, Node-B 10.231.x.12), a flying-squid server "Server-1" provisioned on
// Node-A, bin/migrate-router in front of it (players join 127.0.0.1:$ROUTER_PORT; its
// proxy bridge, the workers' MIG_DRIVER_PROXY_URL, on 127.0.0.1:$BRIDGE_PORT), a few
// mineflayer bots building on Server-1 through the router, and the inventory put through
// the API. Then it waits: move Server-1 from the dashboard or with migratectl, and watch
// the router send the players to the waiting room and on to Node-B (Transfer packets).
// SIGINT/SIGTERM stop everything it started (router, agents, servers, bots, namespaces).
//
// Environment: MIG_API_URL, MIG_API_TOKEN_OPTIMIZER (to put the inventory), MIG_BIN_DIR
// (default bin), VAR (its folder), BRIDGE_PORT (7071), ROUTER_PORT (25565),
// MIG_DRIVER_TOKEN (the agents' and the router's token).
import fs from 'node:fs';
import path from 'node:path';

import { HERE, Nodes, Procs, ROOT, jsonLines, killAgentServers, request, startRouter, waitFor } from './realstack.mjs';

const BIN = path.resolve(ROOT, process.env.MIG_BIN_DIR || 'bin');
const VAR = process.env.VAR || path.join(ROOT, 'var/real');
const API = process.env.MIG_API_URL || 'http://127.0.0.1:8080';
const OPTIMIZER = process.env.MIG_API_TOKEN_OPTIMIZER;
const TOKEN = process.env.MIG_DRIVER_TOKEN;
const BRIDGE_PORT = Number(process.env.BRIDGE_PORT || 7071);
const ROUTER_PORT = Number(process.env.ROUTER_PORT || 25565);
const VERSION = '1.20.6';
const BOTS = ['Alex', 'Steve', 'Kai'];
const GAME_PORT = 25565;
const START_MS = 60000;

const say = (m) => console.log(`real-demo: ${m}`);

async function main() {
  const why = Nodes.usable();
  if (why) throw new Error(`AGENTS=real ${why}`);
  if (!fs.existsSync(path.join(HERE, 'node_modules/flying-squid'))) throw new Error('tests/real/node_modules is missing: make real-deps');
  const logs = path.join(VAR, 'log');
  fs.mkdirSync(logs, { recursive: true });
  const procs = new Procs(logs);
  const nodes = new Nodes('demo', 2);
  const agentDirs = [path.join(VAR, 'agentA'), path.join(VAR, 'agentB')];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await procs.stopAll(3000);
    agentDirs.forEach(killAgentServers);
    nodes.down();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  nodes.down(); // what a killed demo may have left
  agentDirs.forEach(killAgentServers);
  agentDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
  fs.rmSync(path.join(logs, 'router.json'), { force: true });
  nodes.up();

  const agentCmd = `exec node ${path.join(HERE, 'server.mjs')} --dir {dir} --version ${VERSION}`;
  const agents = nodes.nodes.map((n, i) => {
    const [ipCmd, ipArgs] = nodes.exec(i);
    procs.start(`agent-${'AB'[i]}`, ipCmd, [...ipArgs, path.join(BIN, 'migrate-agent')], {
      env: { MIG_AGENT_LISTEN: `${n.addr}:7070`, MIG_AGENT_DIR: agentDirs[i], MIG_AGENT_COMMAND: agentCmd,
        MIG_AGENT_TOKEN: TOKEN, MIG_AGENT_PEER_TOKEN: `${TOKEN}-peer`, MIG_AGENT_RAM_MB: '8192', MIG_AGENT_DISK_MB: '20000',
        MIG_AGENT_STOP_TIMEOUT_MS: '15000' },
    });
    return `http://${n.addr}:7070`;
  });
  const agent = async (i, method, p, body) => {
    const r = await request(method, agents[i] + p, { headers: { Authorization: `Bearer ${TOKEN}` }, body });
    if (r.status < 200 || r.status > 299) throw new Error(`agent ${'AB'[i]} ${method} ${p}: ${r.status} ${r.text}`);
    return r.json;
  };
  for (let i = 0; i < 2; i++) await waitFor(`agent ${'AB'[i]} healthy`, START_MS, async () => (await agent(i, 'GET', '/v1/health')).healthy);
  say(`agents: Node-A ${agents[0]}, Node-B ${agents[1]} (logs ${logs}/agent-*.log)`);

  await agent(0, 'POST', '/v1/containers', { server_id: 's1', ram_mb: 1024, disk_mb: 2000 });
  fs.writeFileSync(path.join(agentDirs[0], 'servers/s1/server.properties'),
    `server-port=${GAME_PORT}\nmax-players=20\nenable-rcon=true\nrcon.port=25575\nrcon.password=${TOKEN}-rcon\nmotd=Server-1\n`);
  await agent(0, 'POST', '/v1/containers/s1/start');
  await waitFor('Server-1 running on Node-A', START_MS, async () => (await agent(0, 'GET', '/v1/containers/s1')).state === 'running');
  say(`Server-1 (flying-squid ${VERSION}) runs on Node-A at ${nodes.nodes[0].addr}:${GAME_PORT}`);

  const call = async (method, p, body) => {
    const r = await request(method, API + p, { headers: { Authorization: `Bearer ${OPTIMIZER}` }, body });
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
  };
  await waitFor('the API', START_MS, async () => (await request('GET', `${API}/readyz`)).status === 200);
  for (const [i, id] of ['nA', 'nB'].entries()) {
    await call('PUT', `/api/nodes/${id}`, { name: `Node-${'AB'[i]}`, address: `${nodes.nodes[i].addr}:7070`, healthy: true,
      ram_total_mb: 8192, ram_free_mb: 8192, disk_free_mb: 20000, eur_hour: i === 0 ? 0.3 : 0.1 });
  }
  await call('PUT', '/api/servers/s1', { name: 'Server-1', node_id: 'nA', state: 'running', players: BOTS.length,
    idle_since: Date.now(), ram_mb: 1024, disk_mb: 2000 });

  // the router: the players' address, and the workers' proxy bridge; 127.0.0.1 and
  // localhost name Server-1, which the platform registers at Node-A's address
  const router = await startRouter(procs, { bin: BIN, dir: logs, listen: `127.0.0.1:${ROUTER_PORT}`,
    httpListen: `127.0.0.1:${BRIDGE_PORT}`, publicHost: '127.0.0.1', token: TOKEN, startMs: START_MS,
    env: { MIG_ROUTER_HOSTS: '127.0.0.1=Server-1,localhost=Server-1', MIG_LOG_LEVEL: 'info' } });
  const put = await router.call('PUT', '/v1/servers/Server-1', { address: `${nodes.nodes[0].addr}:${GAME_PORT}` });
  if (put.status !== 200) throw new Error(`registering Server-1 at the router: ${put.status} ${put.text}`);
  let seenLines = 0;
  setInterval(() => { // what the router does, as it does it
    const ev = router.events();
    for (const e of ev.slice(seenLines)) {
      if (e.event === 'router.routed') say(`router: ${e.player} -> ${e.server} at ${e.backend}`);
      else if (e.event === 'router.held') say(`router: ${e.player} waits in ${e.room}`);
      else if (e.event === 'router.transfer') say(`router: ${e.players} player(s) moved from ${e.from} to ${e.to}`);
      else if (e.event === 'router.registered') say(`router: ${e.server} is at ${e.address}`);
      else if (/^router\.(unknown_host|cannot_transfer|players_dropped|backend_unreachable|bad_handshake|handshake_timeout|old_client|refused)/.test(e.event)) say(`router: ${JSON.stringify(e)}`);
    }
    seenLines = ev.length;
  }, 500).unref();

  const bots = procs.start('bots', 'node', [path.join(HERE, 'bots.mjs'), '--host', '127.0.0.1', '--port', String(router.port),
    '--names', BOTS.join(','), '--version', VERSION, '--place', '--every-ms', '2000'], { pipeStdout: true, pipeStdin: true });
  let placed = 0;
  const sentAway = new Map(); // name -> when a Transfer took it out of play
  jsonLines(bots.child, (o) => {
    if (o.event === 'placed') placed++;
    else if (o.event === 'transfer' && o.state === 'play') sentAway.set(o.name, o.t);
    else if (o.event === 'joined' && sentAway.has(o.name)) {
      say(`${o.name} is in play again after ${o.t - sentAway.get(o.name)} ms away`);
      sentAway.delete(o.name);
    } else if (o.event === 'error') say(`${o.name || 'bots'}: ${o.error}`);
  });
  let shown = 0;
  setInterval(() => {
    if (placed !== shown) say(`${placed} blocks placed`);
    shown = placed;
  }, 10000).unref();
  say(`players ${BOTS.join(', ')} are building on Server-1 through the router (127.0.0.1:${router.port}); its bridge on ${router.url}`);
  say('move it: the dashboard\'s "New migration" (Server-1 to Node-B), or');
  say(`  MIG_API_TOKEN=<operator token> bin/migratectl create --server-id s1 --to-node-id nB --start-now`);
  say(`look: a 1.20.6 client (offline mode) at 127.0.0.1:${router.port}: the router leads it to Server-1 wherever it runs`);
}

main().catch(async (e) => {
  console.error(`real-demo: ${e.message}`);
  process.kill(process.pid, 'SIGTERM');
});
