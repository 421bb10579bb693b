// drains.js - a drain is the cost optimizer's set of moves that empties a node (docs/
// OPTIMIZER.md): each of its migrations has notes beginning "drains <node>: €<price>/h".
// The list shows such moves together, with the node's whole saving, and approves them
// together. Pure.

const DRAIN_NOTE = /^drains (.+?): €(\d+(?:\.\d+)?)\/h/;

// The drain a migration belongs to, {key, node, eurHour}, or null. Moves of one drain
// share their source node and their note's head.
export function drainOf(m) {
  const hit = m && typeof m.notes === 'string' ? DRAIN_NOTE.exec(m.notes) : null;
  if (!hit) return null;
  return { key: `${m.from_node_id}|${hit[1]}|${hit[2]}`, node: hit[1], eurHour: Number(hit[2]) };
}

// The entries of a page in their order: {kind: 'one', id} for a migration on its own,
// {kind: 'drain', key, node, eurHour, ids} for the moves of one drain (at the place of
// its first), when the page holds two or more of them still suggested.
export function groupDrains(ids, get) {
  const groups = new Map();
  for (const id of ids) {
    const m = get(id);
    const d = m && m.status === 'suggested' ? drainOf(m) : null;
    if (!d) continue;
    const g = groups.get(d.key) || { kind: 'drain', ...d, ids: [] };
    g.ids.push(id);
    groups.set(d.key, g);
  }
  const out = [];
  const placed = new Set();
  for (const id of ids) {
    const m = get(id);
    const d = m && m.status === 'suggested' ? drainOf(m) : null;
    const g = d ? groups.get(d.key) : null;
    if (!g || g.ids.length < 2) {
      out.push({ kind: 'one', id });
    } else if (!placed.has(g.key)) {
      placed.add(g.key);
      out.push(g);
    }
  }
  return out;
}
