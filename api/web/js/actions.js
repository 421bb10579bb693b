// actions.js - approve and cancel from the page. A button calls the API, shows it is
// busy, and on success puts the answered record in the store (the event follows and
// changes nothing more). A refusal is said in the API's own words; a 403 also tells the
// session that this token's role may not act, so the buttons go away.

import { h } from './dom.js';

const LABELS = { approve: 'Approve', cancel: 'Cancel' };

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
