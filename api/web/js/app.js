// app.js - the dashboard's start and its loop. It asks for the token once, learns the
// role, opens the event stream, loads the state over REST, and redraws what the events
// changed once per animation frame.
//
// No gap, no duplicate:
//   1. The WebSocket opens first, without `since`; the events it brings are held.
//   2. Then the REST snapshot is read (nodes, servers, every migration not ended).
//   3. The held events are applied on top: the store skips those the snapshot already
//      reflects (store.js), so an event read twice changes nothing.
//   4. After a drop the stream reconnects with `since=<last event id>` and the relay
//      replays the missed events from the Redis stream (events.js). Only when no event
//      was ever seen, or the relay answers `resync` (the id was trimmed), steps 1-3 run
//      again.

import { createApi } from './api.js';
import { EventStream } from './events.js';
import { Store } from './store.js';
import { Session } from './session.js';
import { Graph } from './graph.js';
import { MigrationList } from './list.js';
import { Details } from './details.js';
import { Metrics } from './metrics.js';
import { Actions } from './actions.js';
import { TokenForm, CreateForm } from './forms.js';
import { ConnectionIndicator } from './connection.js';
import { createNotifier } from './notify.js';
import { roleMay } from './states.js';
import { h } from './dom.js';

const NOT_ENDED = 'suggested,approved,scheduled,preparing,transferring,completing';
const PAGE_MAX = 500;           // the API's largest page
const TICK_MS = 1000;           // relative times, fades, the connection text
const SEEN_MAX = 20000;         // event ids kept for tests and for the curious (window.dashboard)
const RETRY_LOAD_MS = 2000;

// ?fade=<seconds>: how long completed and failed arrows stay, then as long to fade.
const params = new URLSearchParams(window.location.search);
const fadeS = Number(params.get('fade')) > 0 ? Number(params.get('fade')) : 30;
const FADE = { holdMs: fadeS * 1000, fadeMs: fadeS * 1000 };

const $ = (id) => document.getElementById(id);
const store = new Store();
const notify = createNotifier($('toasts'));
const connection = new ConnectionIndicator($('connection'));
let held = null;          // events that arrived while a snapshot loads, or null
let frame = 0;
let ready = false;
const seen = [];          // ids of the events applied, oldest first

const session = new Session({
  onChange: () => roleChanged(),
  onAskToken: (reason) => tokenForm.show(reason),
});
const api = createApi(() => session.token());
const actions = new Actions({ api, store, session, notify, changed: () => requestRender() });

function wsUrl(query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
  if (session.token()) q.set('token', session.token());
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/api/ws?${q}`;
}

const graph = new Graph($('graph'), store, { onSelect: (id) => select(id), fade: FADE, requestRender: () => requestRender() });
const list = new MigrationList($('list'), { store, api, session, actions, onSelect: (id) => select(id) });
const details = new Details($('details'), { store, api, session, actions, onClose: () => select(null) });
const metrics = new Metrics($('metrics'), { api });
const tokenForm = new TokenForm($('token-dialog'), { onSave: (t) => { session.setToken(t); start(); } });
const createForm = new CreateForm($('create-dialog'), {
  api, store, notify, created: (rec) => { store.merge(rec); requestRender(); list.reloadSoon(); select(rec.id); },
});
$('new-migration').addEventListener('click', () => createForm.show());
$('change-token').addEventListener('click', () => { stream.stop(); session.forget(); });

const stream = new EventStream({
  url: (since) => wsUrl({ since }),
  onEvent: (ev) => {
    seen.push(ev.event_id);
    if (seen.length > SEEN_MAX) seen.splice(0, seen.length - SEEN_MAX);
    connection.event();
    if (held) held.push(ev);
    else {
      store.apply(ev);
      requestRender();
    }
  },
  onState: (state, wait) => {
    connection.set(state === 'live' && held ? 'loading' : state, wait);
    if (state === 'reconnecting' && stream.failures === 3) checkToken();
  },
  onOpen: (resumed) => {
    if (!resumed) {
      loadSnapshot();
    } else {
      // the replay brings the events; the list and the metrics may have failed to load
      // while the API was away
      list.reloadSoon();
      metrics.reloadSoon();
    }
  },
  onResync: () => loadSnapshot(),
});

// After a few failed reconnects: is it the token? (A refused upgrade looks like any
// other failure to a browser's WebSocket.)
async function checkToken() {
  try {
    if (!(await session.identify(api))) stream.stop();
  } catch {
    // the API is down: the stream keeps trying
  }
}

function select(id) {
  list.setSelected(id);
  if (id) details.open(id);
  else details.close();
}

function roleChanged() {
  document.body.dataset.role = session.role || 'unknown';
  $('role').textContent = session.role ? `role: ${session.role}` : '';
  $('new-migration').hidden = !roleMay(session.role, 'create');
  $('change-token').hidden = session.auth === false;
  list.draw();
  if (details.id) details.draw(Date.now());
}

// Every page of a list query (the graph needs every migration that has not ended).
async function listAll(query) {
  const items = [];
  for (let offset = 0; ; offset += PAGE_MAX) {
    const page = await api.listMigrations({ ...query, limit: PAGE_MAX, offset });
    items.push(...page.items);
    if (page.items.length < PAGE_MAX || items.length >= page.total) return items;
  }
}

let loading = false;     // a snapshot load is under way
let loadAgain = false;   // and another was asked for meanwhile (a resync)

async function loadSnapshot() {
  held = held || [];
  if (loading) {
    loadAgain = true;
    return;
  }
  loading = true;
  try {
    do {
      loadAgain = false;
      held = held || [];
      await loadSnapshotOnce();
    } while (loadAgain);
  } finally {
    loading = false;
  }
}

async function loadSnapshotOnce() {
  connection.set('loading');
  let snap;
  try {
    const [nodes, servers, open, ended] = await Promise.all([
      api.nodes(), api.servers(), listAll({ status: NOT_ENDED }),
      api.listMigrations({ status: 'completed,failed', limit: 50 }),
    ]);
    const recent = ended.items.filter((m) => Date.now() - Date.parse(m.completed_at) < FADE.holdMs + FADE.fadeMs);
    snap = { nodes: nodes.items, servers: servers.items, migrations: [...open, ...recent] };
  } catch (e) {
    showBanner(`The dashboard could not load the state: ${e.describe ? e.describe() : e.message}. Retrying…`);
    if (e.status === 401) {
      stream.stop();
      held = null;
      session.askToken('The token was refused; enter a valid one.');
      return;
    }
    setTimeout(() => { if (held) loadSnapshot(); }, RETRY_LOAD_MS);
    return;
  }
  showBanner(null);
  store.load(snap);
  for (const ev of held || []) store.apply(ev);
  held = null;
  connection.set(stream.ws ? 'live' : 'reconnecting');
  requestRender();
  await Promise.all([list.reload(), metrics.reload()]);
  if (!ready) {
    ready = true;
    requestAnimationFrame(() => {
      // time to first full render: from navigation start to the first frame that shows
      // the graph, the list and the metrics (read by the benchmark)
      performance.mark('dashboard-ready');
      document.body.dataset.ready = 'true';
    });
  }
}

let banner = null;
function showBanner(text) {
  banner?.remove();
  banner = null;
  if (!text) return;
  banner = h('p', { class: 'banner', role: 'alert', text });
  $('metrics').after(banner);
}

function requestRender() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  const now = Date.now();
  graph.render(now);
  list.render(now);
  details.render(now);
  if (store.dirty.stats) metrics.reloadSoon();
  if (store.missing.size) fetchMissing();
  store.resetDirty();
}

// Records that events named but the store lacks (a migration that ended before the
// snapshot and changed since, say): fetched once each.
async function fetchMissing() {
  const ids = [...store.missing];
  store.missing.clear();
  for (const id of ids) {
    try {
      store.merge(await api.migration(id));
    } catch (e) {
      if (e.status !== 404) notify('error', `Migration ${id} could not be loaded: ${e.describe()}`);
    }
  }
  requestRender();
}

setInterval(() => {
  const now = Date.now();
  connection.tick(now);
  list.tick(now);
  details.tick(now);
  const keep = list.held();
  if (details.id) keep.add(details.id);
  store.prune(now, FADE.holdMs + FADE.fadeMs + 60000, keep);
  store.dirty.arrows = true; // the fades move on
  requestRender();
}, TICK_MS);

async function start() {
  stream.stop();
  held = null;
  try {
    if (!(await session.identify(api))) return; // the token form calls start() again
  } catch (e) {
    showBanner(`The API cannot be reached: ${e.describe ? e.describe() : e.message}. Retrying…`);
    setTimeout(start, RETRY_LOAD_MS);
    return;
  }
  showBanner(null);
  stream.start(null);
}

// For the end-to-end tests and for people with a console: the state, and the ids of
// the events the page applied, in order.
window.dashboard = { store, stream, seen, session };
start();
