// format.js - the dashboard's texts, as pure functions of their inputs (no DOM, no
// clock): relative times, money, sizes, durations, and the migration list's lines in
// the seed's formats. tests/e2e/unit_format.test.mjs checks them.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const HOURS_PER_MONTH = 730; // the seed's month: savings_eur_month = savings_eur_hour x 730

const STATUS_LABELS = {
  suggested: 'Suggested', approved: 'Approved', scheduled: 'Scheduled', preparing: 'Preparing',
  transferring: 'Transferring', completing: 'Completing', completed: 'Completed',
  cancelled: 'Cancelled', failed: 'Failed',
};

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

// "just now", "45 seconds ago", "2 minutes ago", "3 hours ago", "5 days ago"; a time
// ahead of `nowMs` reads "in 2 minutes". Both arguments in Unix ms. Each unit is floored,
// as people read a clock: 119 s is "1 minute ago".
export function relativeTime(thenMs, nowMs) {
  if (!Number.isFinite(thenMs) || !Number.isFinite(nowMs)) return 'unknown';
  const delta = nowMs - thenMs;
  const ago = Math.abs(delta);
  if (ago < 5 * SECOND) return 'just now';
  let text;
  if (ago < MINUTE) text = plural(Math.floor(ago / SECOND), 'second');
  else if (ago < HOUR) text = plural(Math.floor(ago / MINUTE), 'minute');
  else if (ago < DAY) text = plural(Math.floor(ago / HOUR), 'hour');
  else text = plural(Math.floor(ago / DAY), 'day');
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

// "1,234.50": two decimals, thousands grouped with commas, whatever the browser's locale
// (an operator's screenshot must read the same everywhere). The magnitude only.
function decimals2(n) {
  const [int, frac] = Math.abs(n).toFixed(2).split('.');
  return `${int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${frac}`;
}

// "€0.15", "-€2.00"; null or undefined reads "€0.00".
export function eur(n) {
  const v = Number(n) || 0;
  return `${v < 0 ? '-' : ''}€${decimals2(v)}`;
}

// The seed's savings line: "€0.15/h (€109.50/mo)". The month defaults to hour x 730, as
// the API's does.
export function savingsText(hour, month) {
  const h = Number(hour) || 0;
  const m = month === null || month === undefined ? h * HOURS_PER_MONTH : Number(month) || 0;
  return `${eur(h)}/h (${eur(m)}/mo)`;
}

// "Transferring", from "transferring"; an unknown status reads as it is.
export function statusLabel(status) {
  return STATUS_LABELS[status] || String(status);
}

// The seed's status line without its "Status: " prefix: "Transferring (75%)" while a
// worker reports a percentage (preparing, transferring), the label otherwise.
export function statusText(m) {
  const label = statusLabel(m.status);
  const p = m.data_sync_progress;
  if ((m.status === 'preparing' || m.status === 'transferring') && Number.isFinite(p)) {
    return `${label} (${Math.round(p)}%)`;
  }
  return label;
}

// "Server-XYZ: Node-A → Node-B", with ids where names are missing.
export function routeText(m) {
  const server = m.server_name || m.server_id;
  const from = m.from_node_name || m.from_node_id;
  const to = m.to_node_name || m.to_node_id;
  return `${server}: ${from} → ${to}`;
}

// The time a list entry shows: which moment matters for the status, and its Unix ms.
// {label:"Started", ms} while a worker has it, "Completed" / "Failed" / "Cancelled" at
// the end, "Created" before it starts. ms is null when the record has no such time.
export function keyTime(m) {
  const ms = (iso) => (iso ? Date.parse(iso) : null);
  switch (m.status) {
    case 'preparing': case 'transferring': case 'completing':
      return { label: 'Started', ms: ms(m.started_at) };
    case 'completed': return { label: 'Completed', ms: ms(m.completed_at) };
    case 'failed': return { label: 'Failed', ms: ms(m.completed_at) };
    case 'cancelled': return { label: 'Cancelled', ms: ms(m.completed_at) };
    default: return { label: 'Created', ms: ms(m.created_at) };
  }
}

// "850 ms", "17.4 s", "2 min 5 s", "1 h 3 min"; null reads "—".
export function durationText(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return '—';
  const s = Number(seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// Megabytes as people read them: "512 MB", "12.5 GB", "1.2 TB".
export function sizeText(mb) {
  const v = Number(mb);
  if (!Number.isFinite(v)) return '—';
  if (v < 1024) return `${Math.round(v)} MB`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} GB`;
  return `${(v / (1024 * 1024)).toFixed(1)} TB`;
}

// "95.2%" from 0.952; null reads "—".
export function percentText(ratio) {
  if (ratio === null || ratio === undefined || !Number.isFinite(Number(ratio))) return '—';
  return `${(Number(ratio) * 100).toFixed(1)}%`;
}
