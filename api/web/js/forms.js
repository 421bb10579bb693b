// forms.js - the two forms: the token, asked for once and kept in the browser; and a
// manual migration (server, target node, notes), whose API errors appear next to the
// field they name (errorField in api.js), the others under the form.

import { h, setText, replaceChildren } from './dom.js';
import { errorField } from './api.js';

// The token dialog. onSave(token) is called with what was entered.
export class TokenForm {
  constructor(dialog, { onSave }) {
    this.dialog = dialog;
    this.reason = h('p', { class: 'form-reason', role: 'alert', hidden: true });
    this.input = h('input', { type: 'password', name: 'token', id: 'token-input', required: true, autocomplete: 'current-password', spellcheck: 'false' });
    const form = h('form', { method: 'dialog', class: 'form' },
      h('h2', { text: 'API token' }),
      h('p', { class: 'muted', text: 'The dashboard reads and acts with a token of MIG_API_TOKENS (viewer, optimizer or operator). It is kept in this browser.' }),
      this.reason,
      h('label', { for: 'token-input', text: 'Token' }), this.input,
      h('div', { class: 'form-buttons' }, h('button', { type: 'submit', class: 'btn btn--primary', text: 'Use this token' })));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const t = this.input.value.trim();
      if (!t) return;
      this.dialog.close();
      onSave(t);
    });
    dialog.addEventListener('cancel', (e) => e.preventDefault()); // nothing works without one
    dialog.append(form);
  }

  show(reason) {
    this.reason.hidden = !reason;
    setText(this.reason, reason || '');
    this.input.value = '';
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
  }
}

// The form of a manual migration. api; store; notify(kind, text); created(record).
export class CreateForm {
  constructor(dialog, { api, store, notify, created }) {
    Object.assign(this, { dialog, api, store, notify, created });
    this.servers = h('datalist', { id: 'server-options' });
    this.server = h('input', { name: 'server_id', id: 'create-server', list: 'server-options', required: true, autocomplete: 'off', placeholder: 'server id, e.g. s12' });
    this.serverHint = h('span', { class: 'field-hint' });
    this.node = h('select', { name: 'to_node_id', id: 'create-node', required: true });
    this.notes = h('textarea', { name: 'notes', id: 'create-notes', rows: 3, maxlength: 1000, placeholder: 'why, for the other operators' });
    this.startNow = h('input', { type: 'checkbox', name: 'start_now', id: 'create-start-now' });
    this.errors = {
      server_id: h('span', { class: 'field-error', role: 'alert', dataset: { for: 'server_id' } }),
      to_node_id: h('span', { class: 'field-error', role: 'alert', dataset: { for: 'to_node_id' } }),
      notes: h('span', { class: 'field-error', role: 'alert', dataset: { for: 'notes' } }),
    };
    this.general = h('p', { class: 'form-error', role: 'alert', hidden: true });
    this.submit = h('button', { type: 'submit', class: 'btn btn--primary', text: 'Create migration' });
    this.server.addEventListener('input', () => this.describeServer());
    const field = (label, id, input, ...extra) => h('div', { class: 'field' }, h('label', { for: id, text: label }), input, ...extra);
    this.form = h('form', { class: 'form', novalidate: true },
      h('h2', { text: 'New migration' }),
      field('Server', 'create-server', this.server, this.servers, this.serverHint, this.errors.server_id),
      field('Target node', 'create-node', this.node, this.errors.to_node_id),
      field('Notes', 'create-notes', this.notes, this.errors.notes),
      h('label', { class: 'check' }, this.startNow, ' Start now (do not wait until the server is idle)'),
      this.general,
      h('div', { class: 'form-buttons' },
        h('button', { type: 'button', class: 'btn', text: 'Close', onclick: () => this.dialog.close() }), this.submit));
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.send(); });
    dialog.append(this.form);
  }

  show() {
    this.clearErrors();
    // options from the inventory the page holds: built when the form opens, not on
    // every server event
    replaceChildren(this.servers, [...this.store.servers.values()]
      .sort((a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id), undefined, { numeric: true }))
      .map((sv) => h('option', { value: sv.id, text: `${sv.name || sv.id} on ${this.store.nodes.get(sv.node_id)?.name || sv.node_id}` })));
    const keep = this.node.value;
    replaceChildren(this.node, [h('option', { value: '', text: 'Choose a node…' }),
      ...this.store.nodeList().map((n) => h('option', { value: n.id, text: `${n.name || n.id} (€${Number(n.eur_hour || 0).toFixed(2)}/h${n.healthy === false ? ', unhealthy' : ''})` }))]);
    this.node.value = keep;
    this.describeServer();
    if (!this.dialog.open) this.dialog.showModal();
    this.server.focus();
  }

  describeServer() {
    const sv = this.store.servers.get(this.server.value.trim());
    setText(this.serverHint, sv ? `${sv.name || sv.id} on ${this.store.nodes.get(sv.node_id)?.name || sv.node_id}, ${sv.players ?? 0} players` : '');
  }

  clearErrors() {
    for (const e of Object.values(this.errors)) setText(e, '');
    for (const el of [this.server, this.node, this.notes]) el.removeAttribute('aria-invalid');
    this.general.hidden = true;
  }

  async send() {
    this.clearErrors();
    // empty fields are left out, so that the API answers "required" for them
    const body = { start_now: this.startNow.checked };
    const server = this.server.value.trim();
    const notes = this.notes.value.trim();
    if (server) body.server_id = server;
    if (this.node.value) body.to_node_id = this.node.value;
    if (notes) body.notes = notes;
    this.submit.disabled = true;
    try {
      const rec = await this.api.create(body);
      this.dialog.close();
      this.form.reset();
      this.notify('ok', `Migration created: ${rec.server_name || rec.server_id} to ${rec.to_node_name || rec.to_node_id} (${rec.status})`);
      this.created(rec);
    } catch (e) {
      const f = errorField(e);
      const text = e.describe ? e.describe() : e.message;
      if (f && this.errors[f]) {
        setText(this.errors[f], text);
        ({ server_id: this.server, to_node_id: this.node, notes: this.notes })[f].setAttribute('aria-invalid', 'true');
      } else {
        this.general.hidden = false;
        setText(this.general, `The migration was not created: ${text}`);
      }
    } finally {
      this.submit.disabled = false;
    }
  }
}
