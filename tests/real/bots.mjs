// bots.mjs - mineflayer players (offline mode) for the real tests and the real demo. One
// process drives a few bots; it reports on stdout, one JSON object a line, each with `t`
// (Date.now() when it happened):
//   {"event":"connecting","name","host","port"}    a connection begins (before the login)
//   {"event":"configuring","name","host","port"}   logged in, in the configuration state
//                                                   (a waiting room holds a player there)
//   {"event":"joined","name","host","port"}       in play on host:port
//   {"event":"placed","name","x","y","z","block"} the server confirmed a block there
//   {"event":"place_failed"|"equip_failed","name","error"} a try that did not work (a busy
//                                                   server; the bot goes on)
//   {"event":"transfer","name","host","port","state"} a Transfer packet, followed at once
//   {"event":"left","name","reason"}              disconnected (after being in play)
//   {"event":"checked","ok":N,"bad":[...]}        --check, or the `check` command (with name)
// and takes commands on stdin, one JSON object a line:
//   {"cmd":"leave"}                  every bot disconnects (to a waiting room, say)
//   {"cmd":"join","host","port"}     every bot connects there (retrying until it answers)
//   {"cmd":"pause"} / {"cmd":"resume"} stop / go on placing blocks
//   {"cmd":"check","file"}           every bot looks for the blocks of the file where it is
// SIGTERM: every bot leaves, then the process exits.
//
//   node bots.mjs --host H --port P --names a,b,c [--version 1.20.6] [--place] [--every-ms 400]
//                 [--server-host NAME]
//   node bots.mjs --host H --port P --names checker --check blocks.json
//
// --server-host: the host name the first login's handshake carries (a router picks the
// server by it), while the connection goes to --host; a transfer's login carries the
// host the Transfer named, as a vanilla client's does.
//
// --place: each bot fills cells around where it spawned (a ring 2-3 blocks away, layer
// after layer), in creative mode, one block every --every-ms; each bot has its own block
// type, so a check sees whose block is where, and its own columns of the ring (the bots
// of a process spawn on one spot: two filling one cell at once would both see it
// confirmed, and only one block stays). --check: the bot joins, and every block of
// the file ([{x,y,z,block}]) must be there (bot.blockAt); exit 0 when all are.
//
// A `transfer` packet (1.20.5+) is followed as a vanilla client does: leave, then connect
// to the host and port it names (minecraft-protocol only emits the event), whether it
// comes in play or in the configuration state (a waiting room's).
import fs from 'node:fs';
import readline from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const mineflayer = require('mineflayer');
const { Vec3 } = require('vec3');

const BLOCKS = ['stone', 'oak_planks', 'bricks', 'gold_block', 'diamond_block', 'emerald_block', 'iron_block', 'lapis_block'];
const JOIN_RETRY_MS = 500;    // between attempts to reach a server that does not answer yet
const JOIN_DEADLINE_MS = 120000;
const CHUNK_DEADLINE_MS = 30000; // --check: for the chunks of a block to arrive
const EQUIP_TRIES = 10;       // --place: taking the block in hand, each try bounded by mineflayer's 5 s

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const emit = (o) => process.stdout.write(`${JSON.stringify({ ...o, t: Date.now() })}\n`);

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 25565, names: ['bot1'], version: '1.20.6', place: false, everyMs: 400, check: null,
    serverHost: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--host') o.host = argv[++i];
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--names') o.names = argv[++i].split(',').filter(Boolean);
    else if (a === '--version') o.version = argv[++i];
    else if (a === '--place') o.place = true;
    else if (a === '--every-ms') o.everyMs = Number(argv[++i]);
    else if (a === '--check') o.check = argv[++i];
    else if (a === '--server-host') o.serverHost = argv[++i];
    else throw new Error(`bots.mjs: unknown argument ${a}`);
  }
  return o;
}

// The cells bot `index` of `count` fills around (x0, z0): rings 2 and 3 blocks away on the
// ground's top layer y0, then the layers above, each cell standing on the one below; of
// those, the columns (x, z) with (7x + z) mod count = index, so that the bots' cells never
// overlap (7x + z differs for every column of a 7-by-7 square: the ring spreads evenly).
function cells(x0, y0, z0, index = 0, count = 1) {
  const out = [];
  for (let layer = 0; layer < 3; layer++) {
    for (let dx = -3; dx <= 3; dx++) {
      for (let dz = -3; dz <= 3; dz++) {
        const x = x0 + dx;
        const z = z0 + dz;
        if (Math.max(Math.abs(dx), Math.abs(dz)) >= 2 && (((7 * x + z) % count) + count) % count === index) {
          out.push(new Vec3(x, y0 + layer, z));
        }
      }
    }
  }
  return out;
}

class Player {
  constructor(name, index, o) {
    this.name = name;
    this.block = BLOCKS[index % BLOCKS.length];
    this.index = index;  // of the process's bots: which cells it fills
    this.o = o;
    this.bot = null;
    this.leaving = false;
    this.placing = o.place;
    this.generation = 0; // which connection the loops belong to
    this.joins = 0;      // which join() is the present one
  }

  // Connects to host:port (the handshake naming `serverHost` when given), retrying until
  // the server answers or the deadline passes, and following Transfers that come before
  // the bot is in play (a waiting room's) to the address they name. A later join, or
  // leave(), ends this one.
  async join(host, port, serverHost = null) {
    let end = Date.now() + JOIN_DEADLINE_MS;
    this.leaving = false;
    const mine = ++this.joins;
    for (;;) {
      if (this.leaving || mine !== this.joins) return;
      let r;
      try {
        r = await this.connectOnce(host, port, serverHost);
      } catch (e) {
        if (this.leaving || mine !== this.joins) return;
        if (Date.now() > end) {
          emit({ event: 'error', name: this.name, error: `cannot join ${host}:${port}: ${e.message}` });
          return;
        }
        await sleep(JOIN_RETRY_MS);
        continue;
      }
      if (!r.transfer) return;
      ({ host, port } = r.transfer); // sent on before play: there, with a deadline of its own
      serverHost = null;
      end = Date.now() + JOIN_DEADLINE_MS;
    }
  }

  // One connection: resolves {} once in play, or {transfer} when a Transfer came before;
  // rejects when it ends before either.
  connectOnce(host, port, serverHost) {
    return new Promise((resolve, reject) => {
      const gen = ++this.generation;
      emit({ event: 'connecting', name: this.name, host, port });
      const bot = mineflayer.createBot({ host, port, username: this.name, version: this.o.version, auth: 'offline',
        hideErrors: true, checkTimeoutInterval: 60000, ...(serverHost ? { fakeHost: serverHost } : {}) });
      this.bot = bot;
      let spawned = false;
      let transferred = false;
      bot.once('spawn', () => {
        if (transferred) return;
        spawned = true;
        emit({ event: 'joined', name: this.name, host, port });
        resolve({});
        if (this.o.place) this.placeLoop(bot, gen).catch((e) => emit({ event: 'error', name: this.name, error: String(e) }));
      });
      bot._client.on('state', (state) => {
        if (state === 'configuration' && !spawned) emit({ event: 'configuring', name: this.name, host, port });
      });
      bot.on('error', (e) => { if (!spawned) reject(e); });
      bot.once('end', (reason) => {
        if (this.bot === bot) this.bot = null;
        if (!spawned) { reject(new Error(`ended before spawn: ${reason}`)); return; }
        emit({ event: 'left', name: this.name, reason: String(reason) });
      });
      // the Transfer packet: what a vanilla client does, which minecraft-protocol leaves to us
      bot._client.on('transfer', ({ host: h, port: p }) => {
        if (transferred) return;
        transferred = true;
        emit({ event: 'transfer', name: this.name, host: h, port: p, state: bot._client.state });
        if (!spawned) {
          resolve({ transfer: { host: h, port: p } });
          bot.quit('transferred');
          return;
        }
        this.generation++; // the placing loop of this connection ends
        bot.quit('transferred');
        this.join(h, p);
      });
    });
  }

  leave() {
    this.leaving = true;
    this.joins++;
    this.generation++;
    if (this.bot) this.bot.quit('leaving');
  }

  async placeLoop(bot, gen) {
    const Item = require('prismarine-item')(bot.registry);
    await sleep(1000); // the spawn chunks and the game mode packet
    const id = bot.registry.itemsByName[this.block].id;
    // the server confirms the slot within mineflayer's 5 s, or a busy one does not: again
    for (let tries = 1; ; tries++) {
      if (gen !== this.generation || this.bot !== bot) return;
      try {
        await bot.creative.setInventorySlot(36, new Item(id, 64));
        await bot.equip(id, 'hand');
        break;
      } catch (e) {
        if (tries >= EQUIP_TRIES) throw e;
        emit({ event: 'equip_failed', name: this.name, error: e.message });
      }
    }
    const p = bot.entity.position.floored();
    const todo = cells(p.x, p.y, p.z, this.index, this.o.names.length);
    for (const c of todo) {
      while (!this.placing && gen === this.generation) await sleep(100);
      if (gen !== this.generation || this.bot !== bot) return;
      const at = bot.blockAt(c);
      const below = bot.blockAt(c.offset(0, -1, 0));
      if (!at || at.name !== 'air' || !below || below.boundingBox !== 'block') continue;
      try {
        if (!bot.heldItem || bot.heldItem.type !== id) {
          await bot.creative.setInventorySlot(36, new Item(id, 64));
          await bot.equip(id, 'hand');
        }
        await bot.placeBlock(below, new Vec3(0, 1, 0));
        if (gen !== this.generation) return;
        emit({ event: 'placed', name: this.name, x: c.x, y: c.y, z: c.z, block: this.block });
      } catch (e) {
        if (gen !== this.generation || this.bot !== bot) return;
        emit({ event: 'place_failed', name: this.name, x: c.x, y: c.y, z: c.z, error: e.message });
      }
      await sleep(this.o.everyMs);
    }
    emit({ event: 'done_placing', name: this.name });
  }
}

// The blocks of `want` ([{x,y,z,block}]) that `bot` does not see as they are: {ok, bad}.
async function lookFor(bot, want) {
  const bad = [];
  let ok = 0;
  for (const b of want) {
    const v = new Vec3(b.x, b.y, b.z);
    const end = Date.now() + CHUNK_DEADLINE_MS;
    let found = bot.blockAt(v);
    while (!found && Date.now() < end) { await sleep(100); found = bot.blockAt(v); }
    if (found && found.name === b.block) ok++;
    else bad.push({ ...b, found: found ? found.name : null });
  }
  return { ok, bad };
}

// --check: every block of the file must be in the world the bot sees.
async function check(o) {
  const want = JSON.parse(fs.readFileSync(o.check, 'utf8'));
  const p = new Player(o.names[0], 0, { ...o, place: false });
  await p.join(o.host, o.port, o.serverHost);
  const bot = p.bot;
  if (!bot) process.exit(2);
  const { ok, bad } = await lookFor(bot, want);
  emit({ event: 'checked', ok, bad });
  p.leave();
  await sleep(500);
  process.exit(bad.length === 0 ? 0 : 1);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.check) return check(o);
  const players = o.names.map((n, i) => new Player(n, i, o));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let c;
    try { c = JSON.parse(line); } catch { return; }
    if (c.cmd === 'leave') players.forEach((p) => p.leave());
    else if (c.cmd === 'join') players.forEach((p) => p.join(c.host, Number(c.port)));
    else if (c.cmd === 'pause') players.forEach((p) => { p.placing = false; });
    else if (c.cmd === 'resume') players.forEach((p) => { p.placing = true; });
    else if (c.cmd === 'check') {
      const want = JSON.parse(fs.readFileSync(c.file, 'utf8'));
      for (const p of players) {
        if (!p.bot) { emit({ event: 'checked', name: p.name, ok: 0, bad: want, error: 'not connected' }); continue; }
        lookFor(p.bot, want).then((r) => emit({ event: 'checked', name: p.name, ...r }),
          (e) => emit({ event: 'checked', name: p.name, ok: 0, bad: want, error: String(e) }));
      }
    }
  });
  process.on('SIGTERM', () => { players.forEach((p) => p.leave()); setTimeout(() => process.exit(0), 500); });
  // one after another: a login costs 1.5-3 s of the server's CPU
  for (const p of players) await p.join(o.host, o.port, o.serverHost);
}

main().catch((e) => {
  emit({ event: 'error', error: String(e.stack || e) });
  process.exit(1);
});
