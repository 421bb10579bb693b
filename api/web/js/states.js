// states.js - what the page knows of the state machine (docs/API.md, core/states.c):
// the statuses, which ones have ended, which actions are legal from where, which role
// may take them, and how an arrow of the graph looks in each status. Pure.

export const STATUSES = ['suggested', 'approved', 'scheduled', 'preparing', 'transferring',
  'completing', 'completed', 'cancelled', 'failed'];

export const TERMINAL = new Set(['completed', 'cancelled', 'failed']);
export const IN_PROGRESS = new Set(['preparing', 'transferring', 'completing']);

// The list's filter choices: a label and the statuses it asks the API for.
export const FILTERS = [
  { id: 'all', label: 'All', statuses: [] },
  { id: 'suggested', label: 'Suggested', statuses: ['suggested'] },
  { id: 'waiting', label: 'Approved / scheduled', statuses: ['approved', 'scheduled'] },
  { id: 'running', label: 'In progress', statuses: ['preparing', 'transferring', 'completing'] },
  { id: 'completed', label: 'Completed', statuses: ['completed'] },
  { id: 'failed', label: 'Failed', statuses: ['failed'] },
  { id: 'cancelled', label: 'Cancelled', statuses: ['cancelled'] },
];

// The transitions an operator starts from the page (the others are the scheduler's and
// the workers'): approve from suggested; cancel until a worker has it.
export function canApprove(status) {
  return status === 'suggested';
}
export function canCancel(status) {
  return status === 'suggested' || status === 'approved' || status === 'scheduled';
}

// What a role may do (docs/API.md, Authentication and roles). `null` is a role not known
// yet (an API without /api/whoami): the page offers the actions and learns from a 403.
export function roleMay(role, action) {
  if (role === null) return true;
  if (action === 'create') return role === 'operator' || role === 'optimizer';
  return role === 'operator'; // approve, cancel
}

// The arrow of a migration in the graph, as the issue specifies it:
//   colour: green completed; blue preparing, transferring, completing; yellow scheduled
//           or approved; grey suggested; red failed (cancelled: grey, it fades at once);
//   line:   scheduled dashed; preparing thick and animated; transferring wavy and
//           animated; the others a plain line.
// The CSS classes `arrow--<colour>` and `arrow--<line>` draw it (style.css).
const COLOURS = {
  suggested: 'grey', approved: 'yellow', scheduled: 'yellow', preparing: 'blue',
  transferring: 'blue', completing: 'blue', completed: 'green', failed: 'red', cancelled: 'grey',
};
const LINES = { scheduled: 'dashed', preparing: 'thick', transferring: 'wavy' };

export function arrowStyle(status) {
  const line = LINES[status] || 'plain';
  return {
    colour: COLOURS[status] || 'grey',
    line,
    animated: line === 'thick' || line === 'wavy',
    fades: TERMINAL.has(status),
  };
}
