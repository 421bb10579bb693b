// server.mjs - a flying-squid Minecraft server (npm, pinned by package-lock.json) as a
// node agent runs it: the agent's command template starts
//   node tests/real/server.mjs --dir {dir} --version 1.20.6
// in the server's directory. It reads server.properties there (server-port, max-players,
// enable-rcon, rcon.port, rcon.password) and keeps its world in <dir>/world.
//
// flying-squid lacks what a node agent needs from a real server, so this file adds it as
// a plugin of the test (the package itself is not changed); the facts are measured in
// MINECRAFT-TESTING.md:
//   - RCON (the Source RCON protocol on 127.0.0.1:rcon.port, as vanilla serves it) with
//     `save-off`, `save-all flush`, `save-on`, `list` and `stop`, answered in vanilla's
//     words, and "Unknown request <hex>" for a packet of an unknown type (the agent's probe
//     marking the end of an answer). The same commands work typed on stdin.
//   - A flush that loses nothing: prismarine-world's autosave clears its queue after
//     awaiting the writes, forgetting a chunk changed meanwhile; here a chunk leaves the
//     queue before it is written, and saves never overlap.
//   - save-off really stops autosave until save-on; `stop` saves, then exits 0 (flying-
//     squid's SIGTERM exits without saving).
//   - 1.20.5+: the login packet carries the registry's default game mode, so a client
//     believes it is in survival on a creative server; the real mode is sent again on
//     spawn.
//   - Players are entities to flying-squid, and a login past `max-entities` throws
//     ("Too many mobs !") out of its login handler, which shuts the whole server down:
//     the limit is set above max-players (ENTITIES_SPARE more).
// It needs its world's server.properties: the agent starts a migration's target only
// once the final pass has put the world in place (docs/DRIVERS.md), so the test proves
// that deferral by this file failing without one.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const STOP_GRACE_MS = 5000;     // kicking the players on stop, at most
const STOP_ANSWER_MS = 2000;    // an RCON client's time to read `stop`'s answer before we exit
const ENTITIES_SPARE = 20;      // entities besides the players (dropped items, the odd mob)

function parseArgs(argv) {
  const o = { dir: process.cwd(), version: '1.20.6', port: 0, viewDistance: 4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dir') o.dir = argv[++i];
    else if (a === '--version') o.version = argv[++i];
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--view-distance') o.viewDistance = Number(argv[++i]);
    else throw new Error(`server.mjs: unknown argument ${a}`);
  }
  o.dir = path.resolve(o.dir);
  return o;
}

function readProps(dir) {
  const props = {};
  const text = fs.readFileSync(path.join(dir, 'server.properties'), 'utf8');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) props[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return props;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (msg) => console.log(`[server.mjs] ${msg}`);

// ------------------------------------------------------------------ saving

// Saving of one world done right: one save at a time, each chunk taken out of the queue
// before it is written (a chunk changed during the write is queued again and kept).
function makeSaver(world) {
  let chain = Promise.resolve();
  let autosave = true;
  const flushOnce = async () => {
    while (world.savingQueue.size > 0) {
      const batch = [...world.savingQueue.entries()];
      for (const [key] of batch) world.savingQueue.delete(key);
      await Promise.all(batch.map(([key, { chunkX, chunkZ }]) =>
        world.columns[key] ? world.storageProvider.save(chunkX, chunkZ, world.columns[key]) : null));
    }
    for (const [key, { chunkX, chunkZ }] of [...world.unloadQueue.entries()]) {
      if (!world.savingQueue.has(key)) world.forceUnloadColumn(key, chunkX, chunkZ);
    }
  };
  const flush = () => {
    chain = chain.then(flushOnce, flushOnce);
    return chain;
  };
  // prismarine-world's interval calls saveNow(); route it through the safe flush
  world.saveNow = () => (autosave ? flush() : Promise.resolve());
  return {
    flush,
    get autosave() { return autosave; },
    off() {
      if (!autosave) return false;
      autosave = false;
      world.stopSaving();
      return true;
    },
    on() {
      if (autosave) return false;
      autosave = true;
      world.startSaving();
      return true;
    },
  };
}

// ------------------------------------------------------------------ commands

function makeCommands(serv, saver, maxPlayers) {
  let stopping = false;
  return {
    'save-off': async () => (saver.off() ? 'Automatic saving is now disabled' : 'Saving is already turned off'),
    'save-on': async () => (saver.on() ? 'Automatic saving is now enabled' : 'Saving is already turned on'),
    'save-all': async () => {
      try {
        await saver.flush();
        return 'Saving the game (this may take a moment!)Saved the game';
      } catch (e) {
        say(`save failed: ${e.stack || e}`);
        return 'Unable to save the game';
      }
    },
    list: async () => {
      const names = serv.players.filter((p) => !p.disconnected).map((p) => p.username);
      return `There are ${names.length} of a max of ${maxPlayers} players online: ${names.join(', ')}`;
    },
    // `answered`: a promise that the answer (and the probe after it) went out
    stop: async (answered = Promise.resolve()) => {
      if (!stopping) {
        stopping = true;
        Promise.race([answered, sleep(STOP_ANSWER_MS)]).then(async () => {
          saver.off();
          await saver.flush().catch((e) => say(`save on stop failed: ${e}`));
          await Promise.race([serv.quit('Server closed').catch(() => {}), sleep(STOP_GRACE_MS)]);
          await saver.flush().catch(() => {}); // what the kicked players' logouts queued
          say('stopped');
          process.exit(0);
        });
      }
      return 'Stopping the server';
    },
  };
}

// Runs a command line ("save-all flush"): the answer, or null for an unknown command.
async function runCommand(commands, line, answered) {
  const name = line.trim().split(/\s+/)[0].replace(/^\//, '');
  const f = Object.hasOwn(commands, name) ? commands[name] : null;
  return f ? f(answered) : null;
}

// ------------------------------------------------------------------ RCON

// The Source RCON protocol as the vanilla server speaks it: little-endian int32 length,
// id, type, then the payload and two NUL bytes. 3 login, 2 command, 0 response.
function rconPacket(id, type, body) {
  const payload = Buffer.from(body, 'utf8');
  const b = Buffer.alloc(14 + payload.length);
  b.writeInt32LE(10 + payload.length, 0);
  b.writeInt32LE(id, 4);
  b.writeInt32LE(type, 8);
  payload.copy(b, 12);
  return b;
}

function startRcon(port, password, commands) {
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let authed = false;
    let busy = Promise.resolve(); // answers go out in the order the packets came
    const closed = new Promise((r) => sock.once('close', r)); // `stop` exits after this
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const len = buf.readInt32LE(0);
        if (len < 10 || len > 4096) { sock.destroy(); return; }
        if (buf.length < 4 + len) break;
        const id = buf.readInt32LE(4);
        const type = buf.readInt32LE(8);
        const body = buf.subarray(12, 4 + len - 2).toString('utf8');
        buf = buf.subarray(4 + len);
        busy = busy.then(async () => {
          if (type === 3) {
            authed = body === password;
            sock.write(rconPacket(authed ? id : -1, 2, ''));
          } else if (!authed) {
            sock.write(rconPacket(-1, 2, ''));
          } else if (type === 2) {
            const answer = await runCommand(commands, body, closed).catch((e) => `Error: ${e.message}`);
            sock.write(rconPacket(id, 0, answer ?? `Unknown or incomplete command: ${body}`));
          } else {
            sock.write(rconPacket(id, 0, `Unknown request ${(type >>> 0).toString(16)}`));
          }
        });
      }
    });
  });
  server.listen(port, '127.0.0.1', () => say(`RCON listening on 127.0.0.1:${port}`));
  return server;
}

// ------------------------------------------------------------------ main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const propsFile = path.join(o.dir, 'server.properties');
  // a real server would make a world of its own here; started on an empty directory (a
  // migration's target before its world arrived) is the agent's mistake, so say it loudly
  if (!fs.existsSync(propsFile)) throw new Error(`${propsFile} is missing: started before its world was in place`);
  const props = readProps(o.dir);
  const port = Number(props['server-port'] || o.port || 25565);
  const maxPlayers = Number(props['max-players'] || 20);
  const mc = require('flying-squid');
  const serv = mc.createMCServer({
    port,
    host: '0.0.0.0',
    motd: props.motd || `flying-squid ${path.basename(o.dir)}`,
    'max-players': maxPlayers,
    'online-mode': false,
    logging: false, // its log file would land in the world's folder
    gameMode: 1,
    difficulty: 0,
    worldFolder: path.join(o.dir, 'world'),
    generation: { name: 'superflat', options: { worldHeight: 80 } },
    kickTimeout: 30000,
    plugins: {},
    modpe: false,
    'view-distance': o.viewDistance,
    'player-list-text': { header: { text: 'migrate' }, footer: { text: 'tests/real' } },
    'everybody-op': true,
    'max-entities': maxPlayers + ENTITIES_SPARE,
    version: o.version,
  });
  await serv.waitForReady(60000);
  const saver = makeSaver(serv.overworld);
  const commands = makeCommands(serv, saver, maxPlayers);
  // stdin: flying-squid reads it and calls serv.handleCommand; ours come first
  const theirs = serv.handleCommand;
  serv.handleCommand = async (line) => {
    const answer = await runCommand(commands, line);
    if (answer === null) return theirs(line);
    console.log(answer);
  };
  // bug 1 of MINECRAFT-TESTING.md: the real game mode again once the player is in
  serv.on('newPlayer', (player) => {
    player.on('spawned', () => {
      player._client.write('game_state_change', { reason: 3, gameMode: player.gameMode });
    });
  });
  if (props['enable-rcon'] === 'true' && props['rcon.port'] && props['rcon.password']) {
    startRcon(Number(props['rcon.port']), props['rcon.password'], commands);
  }
  say(`ready on port ${port}, version ${o.version}, world ${path.join(o.dir, 'world')}`);
}

main().catch((e) => {
  say(`failed: ${e.stack || e}`);
  process.exit(1);
});
