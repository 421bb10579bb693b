// actions.js - approve and cancel from the page. A button calls the API, shows it is
// busy, and on success puts the answered record in the store (the event follows and
// changes nothing more). A refusal is said in the API's own words; a 403 also tells the
// session that this token's role may not act, so the buttons go away.

import { h } from './dom.js';

const LABELS = { approve: 'Approve', cancel: 'Cancel' };
const PAST = { approve: 'Approved', cancel: 'Cancelled' };

export class Actions {
  // api; store; session; notify(kind, text); changed(): redraw what shows buttons.
  constructor({ api, store, session, notify, changed }) {
    Object.assign(this, { api, store, session, notify, changed });
  }

  // A button for `action` ("approve" or "cancel") on migration `id`.
  button(action, id) {
    return h('button', {
      type: 'button', class: `btn btn--${action}`, dataset: { action, id },
      text: LABELS[action],
      onclick: (e) => { e.stopPropagation(); this.run(action, id, e.currentTarget); },
    });
  }

  // A button for `action` on every migration of `ids` (a drain's moves), one after the
  // other; `what` names the group in the messages.
  groupButton(action, ids, what) {
    return h('button', {
      type: 'button', class: `btn btn--${action} btn--group`, dataset: { action, group: ids.join(' ') },
      text: `${LABELS[action]} all ${ids.length}`,
      onclick: (e) => { e.stopPropagation(); this.runGroup(action, ids, what, e.currentTarget); },
    });
  }

  async runGroup(action, ids, what, button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    let done = 0;
    const failed = [];
    for (const id of ids) {
      try {
        this.store.merge(await this.api[action](id));
        done++;
      } catch (e) {
        if (e.status === 403) this.session.refused();
        if (e.status === 401) this.session.askToken('The token was refused; enter a valid one.');
        failed.push(e.describe ? e.describe() : e.message);
        if (e.status === 401 || e.status === 403) break;
      }
    }
    if (failed.length) this.notify('error', `${PAST[action]} ${done} of ${ids.length} moves of ${what}; ${failed.join('; ')}`);
    else this.notify('ok', `${PAST[action]} all ${ids.length} moves of ${what}`);
    button.disabled = false;
    button.removeAttribute('aria-busy');
    this.changed();
  }

  async run(action, id, button) {
    const m = this.store.migrations.get(id);
    const what = m ? `${m.server_name || m.server_id}` : id;
    if (action === 'cancel' && !window.confirm(`Cancel the migration of ${what}?`)) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      const rec = await this.api[action](id);
      this.store.merge(rec);
      this.notify('ok', `${LABELS[action] === 'Approve' ? 'Approved' : 'Cancelled'}: ${what}`);
    } catch (e) {
      if (e.status === 403) this.session.refused();
      if (e.status === 401) this.session.askToken('The token was refused; enter a valid one.');
      this.notify('error', `${LABELS[action]} failed for ${what}: ${e.describe ? e.describe() : e.message}`);
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      this.changed();
    }
  }
}
