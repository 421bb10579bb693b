// relay.js - the reference relay of bench/fanout.c: migrate-api's GET /api/ws written the
// idiomatic Node way, with `ws` and `ioredis`. Same protocol: live fan-out of the events
// channel, ?since replay from the stream with no gap or duplicate at the seam, resync for
// a trimmed id, ?server_id= and ?migration_id= filters (each event parsed once), ?token= or
// a bearer token when MIG_API_TOKENS is set, a ping every 30 s, and a client whose unsent
// data passes 1 MiB cut off. Settings as migrate-api's: MIG_REDIS_URL, MIG_API_LISTEN,
// MIG_PREFIX, MIG_API_TOKENS.
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');
const Redis = require('ioredis');

const MAX_PENDING = 1 << 20; // bytes unsent to one client before it is cut off
const PING_MS = 30000;
const PAGE = 100; // stream entries per XRANGE of a replay

const redisUrl = process.env.MIG_REDIS_URL || 'redis://127.0.0.1:6379';
const [host, port] = (process.env.MIG_API_LISTEN || '127.0.0.1:8080').split(':');
const key = (process.env.MIG_PREFIX || 'mig:') + 'events'; // the stream, and the channel
const tokens = new Set((process.env.MIG_API_TOKENS || '').split(',').filter(Boolean).map((t) => t.split(':')[1]));

const redisOpts = redisUrl.startsWith('unix://') ? { path: redisUrl.slice(7) } : redisUrl;
const sub = new Redis(redisOpts);
const cmd = new Redis(redisOpts);

// Stream ids compared as numbers: [ms, seq].
const parseId = (s) => (/^\d+-\d+$/.test(s) ? s.split('-').map(BigInt) : null);
const after = (a, b) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

const clients = new Set();
let filtering = 0;

function wants(c, ev) {
  return (!c.serverId || ev.server_id === c.serverId) && (!c.migrationId || ev.migration_id === c.migrationId);
}

// Sends one event to one client unless it has it already; cuts off a slow client.
function deliver(c, id, buf) {
  if (c.ws.readyState !== WebSocket.OPEN || !after(id, c.last)) return;
  if (c.ws.bufferedAmount + buf.length > MAX_PENDING) {
    c.ws.terminate();
    return;
  }
  c.last = id;
  c.ws.send(buf, { binary: false });
}

sub.on('messageBuffer', (channel, buf) => {
  const m = /^\{"event_id":"(\d+-\d+)"/.exec(buf.toString('latin1', 0, 64));
  if (!m) return;
  const id = parseId(m[1]);
  const ev = filtering > 0 ? JSON.parse(buf) : null; // once per event, not per client
  for (const c of clients) {
    if (ev && !wants(c, ev)) continue;
    if (c.held) c.held.push([id, buf]);
    else deliver(c, id, buf);
  }
});
sub.subscribe(key);

// Replays the stream after c.since, a page at a time, then what came live meanwhile.
async function replay(c) {
  let cursor = c.since;
  for (;;) {
    const page = await cmd.xrange(key, cursor, '+', 'COUNT', PAGE + 1);
    if (page.length === 0 || page[0][0] !== cursor) {
      const reason = 'since is older than the oldest event kept; reload the state';
      c.ws.send(JSON.stringify({ type: 'resync', reason }));
      c.last = [0n, 0n];
      break;
    }
    for (const [sid, fields] of page.slice(1)) {
      const json = fields[fields.indexOf('e') + 1];
      const buf = Buffer.from(`{"event_id":"${sid}",` + json.slice(1));
      if (!c.serverId && !c.migrationId) deliver(c, parseId(sid), buf);
      else if (wants(c, JSON.parse(json))) deliver(c, parseId(sid), buf);
      cursor = sid;
    }
    if (page.length < PAGE + 1) break;
  }
  const held = c.held;
  c.held = null;
  for (const [id, buf] of held) deliver(c, id, buf);
}

function refuse(socket, status, code, message) {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end('{"error":{"code":"not_found","message":"only /api/ws"}}');
});
const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (req, socket, head) => {
  const u = new URL(req.url, 'http://relay');
  if (u.pathname !== '/api/ws') return refuse(socket, 404, 'not_found', 'no such endpoint');
  const auth = req.headers.authorization || '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : u.searchParams.get('token');
  if (tokens.size > 0 && !tokens.has(token)) {
    return refuse(socket, 401, 'unauthorized', 'a valid bearer token is required');
  }
  const sinceText = u.searchParams.get('since');
  const since = sinceText === null ? null : parseId(sinceText);
  if (sinceText !== null && !since) return refuse(socket, 400, 'bad_request', 'since: must be an event id');
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = {
      ws, last: [0n, 0n], held: since ? [] : null, since: sinceText,
      serverId: u.searchParams.get('server_id'), migrationId: u.searchParams.get('migration_id'),
    };
    if (c.serverId || c.migrationId) filtering++;
    clients.add(c);
    ws.isAlive = true;
    ws.on('pong', () => { ws.isAlive = true; });
    ws.on('close', () => {
      clients.delete(c);
      if (c.serverId || c.migrationId) filtering--;
    });
    ws.on('error', () => {});
    if (since) replay(c).catch(() => ws.terminate());
  });
});

setInterval(() => {
  for (const c of clients) {
    if (!c.ws.isAlive) c.ws.terminate();
    else {
      c.ws.isAlive = false;
      c.ws.ping();
    }
  }
}, PING_MS).unref();

server.listen(Number(port), host, () => {
  console.error(JSON.stringify({ event: 'relay.started', listen: `${host}:${port}` }));
});

process.on('SIGTERM', () => {
  for (const c of clients) c.ws.close(1001, 'server shutting down');
  server.close();
  sub.disconnect();
  cmd.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
});
