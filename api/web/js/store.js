// store.js - what the page knows: nodes, servers (counted per node) and the migrations
// it shows, loaded over REST and kept current by the events. Pure state, no DOM: the
// views read it and render what it marked dirty since their last frame.
//
// A REST record and the events can overlap (the snapshot is read while events arrive,
// and the list reloads pages while the stream runs). Each record keeps the time of the
// last change it reflects (`updated_at`, from the Redis clock, as the events' timestamps
// are); an event older than that is stale and skipped, and a record older than what the
// store holds is ignored. Events at the same millisecond are applied: they converge,
// because they are applied in stream order.

import { TERMINAL } from './states.js';

const ms = (iso) => (iso ? Date.parse(iso) : NaN);
const HISTORY_MAX = 100; // events kept per migration for its timeline
// The fields of a record that events change (applyChange): a newer event's value beats
// an older REST record's.
const EVENT_FIELDS = new Set(['status', 'data_sync_progress', 'progress_message', 'phase_step', 'blocked_reason',
  'not_before', 'approved_at', 'scheduled_at', 'started_at', 'completed_at', 'retry_count', 'duration_seconds',
  'players_transferred', 'player_downtime_ms', 'warning', 'cleanup_node', 'error_message', 'rollback_success', 'updated_at']);

export class Store {
  constructor() {
    this.nodes = new Map();       // id -> node as GET /api/nodes has it
    this.servers = new Map();     // id -> server as GET /api/servers has it
    this.perNode = new Map();     // node id -> number of servers on it
    this.migrations = new Map();  // id -> record as GET /api/migrations/:id has it
    this.missing = new Set();     // ids events named that the store lacks: fetch them
    this.endedAt = new Map();     // id -> Unix ms the page saw it end (fade-out clock)
    this.history = new Map();     // id -> the migration's events the page saw, oldest first
    this.resetDirty();
  }

  resetDirty() {
    // layout: the set of nodes changed; nodes, migrations: ids whose data changed;
    // arrows: a migration's status or route changed (progress alone moves no arrow);
    // membership: the list's pages may differ; stats: the metrics may differ
    this.dirty = { layout: false, nodes: new Set(), migrations: new Set(), arrows: false, membership: false, stats: false };
  }

  // Replaces everything with a snapshot: {nodes, servers, migrations} arrays.
  load({ nodes, servers, migrations }) {
    this.nodes.clear();
    this.servers.clear();
    this.perNode.clear();
    this.migrations.clear();
    this.endedAt.clear();
    // history stays: it is what the page saw, and a reload does not unsee it
    for (const n of nodes) this.nodes.set(n.id, n);
    for (const sv of servers) this.putServer(sv);
    for (const m of migrations) this.merge(m);
    this.dirty.layout = true;
    this.dirty.arrows = true;
    this.dirty.membership = true;
    this.dirty.stats = true;
  }

  // Takes a record from the API, unless the store holds a newer one: then only the
  // fields no event carries (notes, lease, ...) are taken from it. Returns the record
  // the store now holds.
  merge(rec) {
    const have = this.migrations.get(rec.id);
    if (have && ms(have.updated_at) > ms(rec.updated_at)) {
      for (const [k, v] of Object.entries(rec)) if (!EVENT_FIELDS.has(k)) have[k] = v;
      this.dirty.migrations.add(have.id);
      return have;
    }
    if (!have || have.status !== rec.status) this.dirty.arrows = true;
    const m = { ...rec };
    this.migrations.set(m.id, m);
    this.missing.delete(m.id);
    if (TERMINAL.has(m.status) && !this.endedAt.has(m.id)) this.endedAt.set(m.id, ms(m.completed_at) || Date.now());
    this.dirty.migrations.add(m.id);
    return m;
  }

  putServer(sv) {
    const old = this.servers.get(sv.id);
    if (old) this.count(old.node_id, -1);
    const merged = old ? { ...old, ...sv } : sv;
    this.servers.set(sv.id, merged);
    this.count(merged.node_id, +1);
  }

  count(nodeId, d) {
    if (!nodeId) return;
    this.perNode.set(nodeId, (this.perNode.get(nodeId) || 0) + d);
    this.dirty.nodes.add(nodeId);
  }

  // Applies one message of /api/ws in the seed's envelope (docs/EVENTS.md): `type`,
  // `event_id` and `data`, whose `id` is the migration's (the node's, the server's for
  // their events). Unknown types are ignored: the relay may grow new ones before the page
  // learns them.
  apply(msg) {
    const d = msg && msg.data;
    if (!d || typeof d !== 'object') return undefined;
    const type = msg.type;
    if (type.startsWith('migration.') && type !== 'migration.deleted') this.remember(msg);
    switch (type) {
      case 'node.updated': return this.applyNode(d);
      case 'server.updated': return this.applyServer(d);
      case 'server.deleted': return this.applyServerDeleted(d);
      case 'migration.created': return this.applyCreated(d);
      case 'migration.deleted': return this.drop(d.id);
      case 'migration.status_changed':
      case 'migration.progress':
      case 'migration.completed':
      case 'migration.cleanup':
      case 'migration.failed': return this.applyChange(type, d);
      default: return undefined;
    }
  }

  applyNode(d) {
    const { id, timestamp, ...fields } = d;
    const old = this.nodes.get(id);
    this.nodes.set(id, { ...(old || {}), ...fields, id });
    if (!old) this.dirty.layout = true;
    this.dirty.nodes.add(id);
  }

  applyServer(d) {
    const { timestamp, ...fields } = d;
    this.putServer(fields);
  }

  applyServerDeleted(d) {
    const old = this.servers.get(d.id);
    if (old) {
      this.count(old.node_id, -1);
      this.servers.delete(d.id);
    }
    for (const m of [...this.migrations.values()]) if (m.server_id === d.id) this.drop(m.id);
  }

  applyCreated(d) {
    const have = this.migrations.get(d.id);
    if (have && ms(have.updated_at) > ms(d.timestamp)) return;
    // from_node/to_node are the seed's names of from_node_id/to_node_id: the record has those
    const { timestamp, from_node, to_node, ...fields } = d;
    this.merge({
      data_sync_progress: null, progress_message: null, blocked_reason: null, notes: null,
      approved_at: null, scheduled_at: d.status === 'scheduled' ? timestamp : null, started_at: null,
      completed_at: null, ...(have || {}), ...fields, created_at: timestamp, updated_at: timestamp,
    });
    this.dirty.membership = true;
    this.dirty.stats = true;
  }

  applyChange(type, d) {
    const m = this.migrations.get(d.id);
    if (!m) {
      this.missing.add(d.id);
      this.dirty.membership = true;
      this.dirty.stats = true;
      return;
    }
    const t = ms(d.timestamp);
    if (t < ms(m.updated_at)) return; // the record already reflects a later change
    m.updated_at = d.timestamp;
    if (type === 'migration.status_changed') this.changeStatus(m, d);
    else if (type === 'migration.progress') {
      if (d.progress !== null && d.progress !== undefined) m.data_sync_progress = d.progress;
      m.progress_message = d.message ?? null;
      if (d.phase_step !== undefined) m.phase_step = d.phase_step;
      if (d.status === 'scheduled') m.blocked_reason = d.message ?? null;
    } else if (type === 'migration.completed') {
      m.duration_seconds = d.duration_seconds;
      m.players_transferred = d.players_transferred;
      m.player_downtime_ms = d.player_downtime_ms;
      m.warning = d.warning;
      m.cleanup_node = d.cleanup_node ?? null;
      this.dirty.stats = true;
    } else if (type === 'migration.cleanup') {
      // the old copy of a completed migration: gone at last, or another try failed
      m.cleanup_node = d.done ? null : d.node_id;
      m.cleanup_error = d.done ? null : d.error;
    } else if (type === 'migration.failed') {
      m.error_message = d.error;
      m.rollback_success = d.rollback_success;
      m.fail_reason = d.fail_reason;
      this.dirty.stats = true;
    }
    this.dirty.migrations.add(m.id);
  }

  // A status change (the event's data), with the timestamps the functions set on the record.
  changeStatus(m, d) {
    const to = d.new_status;
    const from = m.status;
    m.status = to;
    if (to === 'approved') m.approved_at = d.timestamp;
    if (to === 'scheduled') {
      m.scheduled_at = d.timestamp;
      if (from === 'preparing' || from === 'transferring') m.retry_count = (m.retry_count || 0) + 1;
    }
    if (to === 'preparing') {
      if (!m.started_at) m.started_at = d.timestamp;
      m.data_sync_progress = 0;
      m.blocked_reason = null;
      m.progress_message = null;
      m.not_before = null;
    }
    if (TERMINAL.has(to)) {
      m.completed_at = d.timestamp;
      this.endedAt.set(m.id, Date.now());
    }
    this.dirty.arrows = true;
    this.dirty.membership = true;
    this.dirty.stats = true;
  }

  // Keeps a migration's message (the envelope) for its timeline (details.js). A run of
  // progress events of one step keeps only the latest: a sync reports every few percent.
  remember(msg) {
    const d = msg.data;
    let h = this.history.get(d.id);
    if (!h) {
      h = [];
      this.history.set(d.id, h);
    }
    const prev = h[h.length - 1];
    if (msg.type === 'migration.progress' && prev?.type === 'migration.progress'
        && prev.data.phase_step === d.phase_step && prev.data.status === d.status && d.status !== 'scheduled') {
      h[h.length - 1] = msg;
    } else {
      h.push(msg);
      if (h.length > HISTORY_MAX) h.splice(0, h.length - HISTORY_MAX);
    }
  }

  drop(id) {
    this.history.delete(id);
    if (!this.migrations.delete(id)) return;
    this.endedAt.delete(id);
    this.dirty.migrations.add(id);
    this.dirty.arrows = true;
    this.dirty.membership = true;
    this.dirty.stats = true;
  }

  // Forgets ended migrations that ended more than `keepMs` ago and that no view holds
  // (`keep`: a Set of ids): the page stays small however long it is open.
  prune(now, keepMs, keep) {
    for (const id of this.history.keys()) {
      if (!this.migrations.has(id) && !this.missing.has(id)) this.history.delete(id);
    }
    for (const [id, at] of this.endedAt) {
      if (now - at > keepMs && !keep.has(id)) {
        this.migrations.delete(id);
        this.endedAt.delete(id);
        this.history.delete(id);
        this.dirty.migrations.add(id);
        this.dirty.arrows = true;
      }
    }
  }

  // Nodes in a stable order (by name, then id, numbers by value), for the layout.
  nodeList() {
    const opts = { numeric: true }; // Node-2 before Node-10
    return [...this.nodes.values()].sort((a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), undefined, opts)
      || String(a.id).localeCompare(String(b.id), undefined, opts));
  }
}
