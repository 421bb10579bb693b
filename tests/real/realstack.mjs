// realstack.mjs - the pieces of a real-software stack, for tests/real/migrate.test.mjs and
// the real demo (tools/demo.sh AGENTS=real, through demo.mjs):
//   - nodes: one network namespace per node agent, joined by a bridge, so that each node
//     has its own address and its own 127.0.0.1 (the agent reaches its servers' game port
//     and RCON there; two copies of one server on one machine would otherwise share
//     ports). Needs root; `ip` from iproute2.
//   - processes started by pid and stopped by pid (SIGTERM, then SIGKILL), with their
//     process groups where they lead one (an agent's servers run in their own groups);
//   - bin/migrate-router started and read (startRouter): the real proxy bridge, which the
//     players join and which moves them with Transfer packets (router.test.mjs, the demo);
//   - a proxy bridge of docs/DRIVERS.md in JS for real players (Bridge, migrate.test.mjs):
//     it knows the bots of a bots.mjs process, and a transfer moves them by command (to a
//     waiting room: they leave; to a server: they join its registered address);
//   - small HTTP helpers and polls with deadlines.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
// `unref`: the timer alone does not keep the process alive (a deadline raced against an
// event that came first must not hold the test runner).
export const sleep = (ms, unref = false) => new Promise((r) => {
  const t = setTimeout(r, ms);
  if (unref) t.unref();
});

// ------------------------------------------------------------------ waiting

// Polls `f` (sync or async) until it returns a value other than undefined/false, or
// throws after `ms` with `what` and the last error seen; an error with `fatal` set ends
// the wait at once.
export async function waitFor(what, ms, f, everyMs = 200) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false && v !== null) return v;
    } catch (e) {
      if (e.fatal) throw e; // the awaited state can no longer come
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms${last ? ` (${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------ processes

export class Procs {
  constructor(dir) {
    this.dir = dir;
    this.list = []; // {name, child, group}
    this.exitHook = () => { for (const p of this.list) killTree(p, 'SIGKILL'); };
    process.on('exit', this.exitHook);
  }

  // Starts `cmd args` with its output in <dir>/<name>.log (stdout too unless `pipeStdout`,
  // for JSON lines; stdin a pipe when `pipeStdin`). `group`: it leads a process group of
  // its own, killed whole at the end.
  start(name, cmd, args, { env = {}, pipeStdout = false, pipeStdin = false, group = false } = {}) {
    const log = fs.openSync(path.join(this.dir, `${name}.log`), 'a');
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: [pipeStdin ? 'pipe' : 'ignore', pipeStdout ? 'pipe' : log, log],
      detached: group,
    });
    fs.closeSync(log);
    const p = { name, child, group, exited: new Promise((r) => child.once('exit', (code, sig) => r({ code, sig }))) };
    child.once('error', () => {});
    this.list.push(p);
    return p;
  }

  // Stops every process, newest first: SIGTERM, `graceMs` to exit, then SIGKILL.
  async stopAll(graceMs = 10000) {
    for (const p of [...this.list].reverse()) await stopProc(p, graceMs);
    process.off('exit', this.exitHook);
  }
}

function alive(p) {
  return p.child.exitCode === null && p.child.signalCode === null;
}

function killTree(p, sig) {
  try {
    if (p.group) process.kill(-p.child.pid, sig);
    else if (alive(p)) p.child.kill(sig);
  } catch { /* gone already */ }
}

export async function stopProc(p, graceMs = 10000) {
  if (!p) return;
  if (alive(p)) {
    p.child.kill('SIGTERM');
    await Promise.race([p.exited, sleep(graceMs, true)]);
  }
  killTree(p, 'SIGKILL');
  await Promise.race([p.exited, sleep(graceMs, true)]);
}

// Kills the servers an agent left (they outlive it by design: own process groups), from
// the pids in its state file.
export function killAgentServers(agentDir) {
  try {
    const st = JSON.parse(fs.readFileSync(path.join(agentDir, 'state/agent.json'), 'utf8'));
    for (const s of st.servers || []) {
      if (s.pid > 0) { try { process.kill(-s.pid, 'SIGKILL'); } catch { /* gone */ } }
    }
  } catch { /* no state */ }
}

// Reads JSON lines from a child's stdout into `on(obj)`.
export function jsonLines(child, on) {
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    let o;
    try { o = JSON.parse(l); } catch { return; }
    on(o);
  });
}

// ------------------------------------------------------------------ nodes (netns)

// A bridge and one namespace per node: node i gets <prefix>.<11+i>, the host side
// <prefix>.1. Names carry `tag` (short) so that two runs do not collide.
export class Nodes {
  constructor(tag, count) {
    this.tag = tag;
    const third = 100 + (Number.parseInt(tag, 36) % 150);
    this.prefix = `10.231.${third}`;
    this.bridge = `mgb${tag}`.slice(0, 15);
    this.nodes = Array.from({ length: count }, (_, i) => ({ ns: `mig-${tag}-${i}`, addr: `${this.prefix}.${11 + i}` }));
  }

  static usable() {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
    try { execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' }); } catch { return 'no `ip netns` (iproute2)'; }
    return null;
  }

  up() {
    const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] });
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `${this.prefix}.1/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
    this.nodes.forEach((n, i) => {
      const host = `${this.bridge}h${i}`.slice(0, 15);
      ip('netns', 'add', n.ns);
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.ns);
      ip('link', 'set', host, 'master', this.bridge, 'up');
      ip('-n', n.ns, 'addr', 'add', `${n.addr}/24`, 'dev', 'eth0');
      ip('-n', n.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', n.ns, 'link', 'set', 'lo', 'up');
    });
  }

  // Removes what up() made (deleting a namespace deletes its veth pair). Never throws.
  down() {
    for (const n of this.nodes) { try { execFileSync('ip', ['netns', 'del', n.ns], { stdio: 'ignore' }); } catch { /* absent */ } }
    try { execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' }); } catch { /* absent */ }
  }

  // argv prefix running a program inside node i's namespace (ip netns exec execs it, so
  // the pid is the program's own).
  exec(i) {
    return ['ip', ['netns', 'exec', this.nodes[i].ns]];
  }
}

// ------------------------------------------------------------------ HTTP

export function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers, ...(data ? { 'Content-Type': 'application/json' } : {}) };
    const req = http.request(url, { method, headers: h, agent: false, timeout: 20000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

// ------------------------------------------------------------------ the router

// The JSON lines of a program's log file (its stderr), those that parse; `from`: a byte
// offset (what an earlier run left before it).
export function logEvents(file, from = 0) {
  let text = '';
  try { text = fs.readFileSync(file).subarray(from).toString('utf8'); } catch { return []; }
  return text.split('\n').flatMap((l) => {
    try { return [JSON.parse(l)]; } catch { return []; }
  });
}

// Starts bin/migrate-router (`bin` its folder) as process `name` of `procs`, its game port
// on `listen` (host:0: any free port) and its bridge on `httpListen`, Transfers pointing at
// `publicHost`, players joining <server>.`domain`; `token`: the workers' MIG_DRIVER_TOKEN.
// Resolves once its `router.started` line named both ports: {proc, port, httpPort, url,
// log, events(), call(method, path, body)} (call: the bridge with the token; the answer,
// any status).
export async function startRouter(procs, { bin, dir, listen, publicHost, domain, token, httpListen = '127.0.0.1:0',
  name = 'router', startMs = 60000, env = {} }) {
  const log = path.join(dir, `${name}.log`);
  let from = 0;
  try { from = fs.statSync(log).size; } catch { /* a new file */ }
  const proc = procs.start(name, path.join(bin, 'migrate-router'), [
    `--router-listen=${listen}`, `--router-http-listen=${httpListen}`, `--router-state-file=${path.join(dir, `${name}.json`)}`,
    `--router-public-host=${publicHost}`, ...(domain ? [`--router-domain=${domain}`] : [])], {
    env: { MIG_ROUTER_TOKEN: token, MIG_LOG_LEVEL: 'debug', ...env },
  });
  const started = await waitFor(`${name} started`, startMs, () => {
    if (proc.child.exitCode !== null) throw Object.assign(new Error(`${name} exited ${proc.child.exitCode}; see ${log}`), { fatal: true });
    return logEvents(log, from).find((e) => e.event === 'router.started' && e.port && e.http_port);
  }, 50);
  const httpHost = httpListen.slice(0, httpListen.lastIndexOf(':'));
  const url = `http://${httpHost}:${started.http_port}`;
  return {
    proc, log, url, port: Number(started.port), httpPort: Number(started.http_port),
    events: () => logEvents(log, from),
    call: (method, p, body) => request(method, url + p, { headers: { Authorization: `Bearer ${token}` }, body }),
    metrics: async () => {
      const r = await request('GET', `${url}/metrics`);
      const m = {};
      for (const l of r.text.split('\n')) {
        const x = /^([a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(l);
        if (x) m[x[1]] = Number(x[2]);
      }
      return m;
    },
  };
}

// ------------------------------------------------------------------ the proxy bridge

// The proxy half of docs/DRIVERS.md, for bots.mjs players. `groups`: each a bots.mjs
// process {child, names, server} whose players start on `server`. Names of servers lead
// to addresses (PUT); a transfer to a waiting room makes the players leave, a transfer to
// a server makes them join its address, and answers once they are in play there (or
// once `transferMs` passed: the contract's answer lists them as moved either way).
export class Bridge {
  constructor({ transferMs = 90000, log = () => {} } = {}) {
    this.servers = new Map(); // name -> address
    this.rooms = new Set();
    this.players = new Map(); // name -> {where, address, group, joined:bool}
    this.transferMs = transferMs;
    this.log = log;
    this.events = []; // what the players reported
  }

  register(name, address) { this.servers.set(name, address); }

  // Adds a bots.mjs child whose players are on server `server`.
  attach(child, names, server) {
    const group = { child };
    for (const n of names) this.players.set(n, { where: server, address: this.servers.get(server), group, joined: false });
    jsonLines(child, (o) => {
      this.events.push(o);
      const p = this.players.get(o.name);
      if (p && o.event === 'joined') { p.joined = true; p.address = `${o.host}:${o.port}`; }
      if (p && o.event === 'left') p.joined = false;
    });
  }

  send(group, cmd) { group.child.stdin.write(`${JSON.stringify(cmd)}\n`); }

  async transfer(from, to) {
    const moving = [...this.players.entries()].filter(([, p]) => p.where === from);
    const toRoom = this.rooms.has(to);
    const address = this.servers.get(to);
    const targets = moving.filter(([, p]) => (from === to ? p.address !== address : true));
    const groups = new Set(targets.map(([, p]) => p.group));
    if (toRoom) {
      for (const g of groups) this.send(g, { cmd: 'leave' });
      await waitFor(`players leaving ${from}`, this.transferMs, () => targets.every(([, p]) => !p.joined)).catch((e) => this.log(e.message));
    } else if (targets.length) {
      const [host, port] = splitAddress(address);
      for (const g of groups) this.send(g, { cmd: 'join', host, port });
      await waitFor(`players joining ${to} at ${address}`, this.transferMs,
        () => targets.every(([, p]) => p.joined && p.address === `${host}:${port}`)).catch((e) => this.log(e.message));
    }
    for (const [, p] of targets) p.where = to;
    return targets.map(([n]) => n);
  }

  // Serves the contract on 127.0.0.1:`port` (0: any). Resolves the port.
  listen(port = 0) {
    this.server = http.createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      let body = {};
      try { body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {}; } catch { /* none */ }
      const answer = (status, o) => {
        res.writeHead(status, o ? { 'Content-Type': 'application/json' } : {});
        res.end(o ? JSON.stringify(o) : undefined);
      };
      const u = new URL(req.url, 'http://x');
      const seg = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      this.log(`bridge ${req.method} ${u.pathname} ${chunks.length ? JSON.stringify(body) : ''}`);
      try {
        if (req.method === 'GET' && seg[1] === 'servers' && seg[3] === 'players') {
          const name = seg[2];
          if (!this.servers.has(name) && !this.rooms.has(name)) return answer(404, { error: { code: 'not_found', message: `no server or waiting room ${name}` } });
          return answer(200, { players: [...this.players.entries()].filter(([, p]) => p.where === name).map(([n]) => n) });
        }
        if (req.method === 'POST' && seg[1] === 'waiting-rooms') {
          if (this.servers.has(body.name)) return answer(409, { error: { code: 'exists', message: `${body.name} is a server` } });
          const created = !this.rooms.has(body.name);
          this.rooms.add(body.name);
          return answer(created ? 201 : 200, { name: body.name });
        }
        if (req.method === 'DELETE' && seg[1] === 'waiting-rooms') {
          if (!this.rooms.delete(seg[2])) return answer(404, { error: { code: 'not_found', message: 'no such room' } });
          return answer(204);
        }
        if (req.method === 'POST' && seg[1] === 'transfers') {
          for (const n of [body.from, body.to]) {
            if (!this.servers.has(n) && !this.rooms.has(n)) return answer(404, { error: { code: 'not_found', message: `no server or waiting room ${n}` } });
          }
          return answer(200, { moved: await this.transfer(body.from, body.to) });
        }
        if (req.method === 'PUT' && seg[1] === 'servers') {
          this.servers.set(seg[2], body.address);
          return answer(200, { name: seg[2], address: body.address });
        }
        return answer(404, { error: { code: 'not_found', message: 'no such route' } });
      } catch (e) {
        return answer(500, { error: { code: 'internal', message: e.message } });
      }
    });
    return new Promise((r) => this.server.listen(port, '127.0.0.1', () => r(this.server.address().port)));
  }

  close() { this.server?.close(); this.server?.closeAllConnections?.(); }
}

export function splitAddress(a) {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i), Number(a.slice(i + 1))];
}
