// session.js - the token and the role. The token is asked for once and kept in the
// browser's localStorage; the role comes from GET /api/whoami, and an action answered
// 403 marks the token as a viewer's, so its buttons go away.

const KEY = 'migrate-dashboard.token';

export class Session {
  // onChange(): the role or the token changed; onAskToken(reason): show the token form.
  constructor({ onChange, onAskToken }) {
    this.onChange = onChange;
    this.onAskToken = onAskToken;
    this.role = null;   // "viewer", "optimizer", "operator", or null: unknown
    this.auth = null;   // whether the API checks tokens at all; null: unknown
    try {
      this.tokenValue = window.localStorage.getItem(KEY);
    } catch {
      this.tokenValue = null; // storage blocked: the token lasts as long as the page
    }
  }

  token() {
    return this.tokenValue;
  }

  setToken(t) {
    this.tokenValue = t || null;
    try {
      if (t) window.localStorage.setItem(KEY, t);
      else window.localStorage.removeItem(KEY);
    } catch {
      // storage blocked: keep it in memory only
    }
  }

  // Learns the role from the API. Returns true when the token (or the lack of one) is
  // accepted; false after asking for a token.
  async identify(api) {
    try {
      const me = await api.whoami();
      this.role = me.role;
      this.auth = me.auth;
    } catch (e) {
      if (e.status === 401) {
        this.askToken(this.tokenValue ? 'The saved token was refused; enter a valid one.' : null);
        return false;
      }
      throw e;
    }
    this.onChange();
    return true;
  }

  // An action answered 403: this token's role may only read.
  refused() {
    if (this.role === 'viewer') return;
    this.role = 'viewer';
    this.onChange();
  }

  askToken(reason) {
    this.onAskToken(reason);
  }

  // Forgets the token (the "Change token" button).
  forget() {
    this.setToken(null);
    this.role = null;
    this.askToken(null);
  }
}
