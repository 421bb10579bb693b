// notify.js - messages to the operator in words: what an action did, and every error the
// API answered. Errors stay until closed; the others go after a few seconds.

import { h } from './dom.js';

const OK_MS = 5000;  // long enough to read a sentence twice
const MAX = 5;       // older messages make room

export function createNotifier(root) {
  return function notify(kind, text) {
    const close = h('button', { type: 'button', 'aria-label': 'Dismiss', text: '×' });
    const toast = h('div', { class: `toast toast--${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('p', { text }), close);
    close.addEventListener('click', () => toast.remove());
    root.append(toast);
    while (root.children.length > MAX) root.firstElementChild.remove();
    if (kind !== 'error') setTimeout(() => toast.remove(), OK_MS);
  };
}
