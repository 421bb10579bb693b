// api.js - the REST client of the dashboard: every call carries the bearer token, and
// every failure becomes an ApiError with the API's own code and sentence
// ({"error":{"code","message"}}, docs/API.md), so the page can say it in words.

export class ApiError extends Error {
  // status: the HTTP status (0 when the API could not be reached); code: the API's error
  // code ("illegal_transition", "network", ...); message: its sentence.
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  // "cannot approve migration ... in status completed (409 illegal_transition)"
  describe() {
    return this.status ? `${this.message} (${this.status} ${this.code})` : this.message;
  }
}

// The form field an API error is about: the API names the field first in a 400's
// message ("server_id: required"); the 404s and 409s of a create name it by their code.
export function errorField(err) {
  if (!(err instanceof ApiError)) return null;
  if (err.code === 'no_server' || err.code === 'active_exists' || err.code === 'cooldown') return 'server_id';
  if (err.code === 'no_node') return 'to_node_id';
  const m = /^([a-z_]+): /.exec(err.message || '');
  return err.status === 400 && m ? m[1] : null;
}

// A client of the API at the page's own origin. `token()` gives the current token (or
// null when the API runs without tokens).
export function createApi(token) {
  async function call(method, path, body) {
    const headers = { Accept: 'application/json' };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'network', `the API cannot be reached (${e.message})`);
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch {
      if (res.ok) throw new ApiError(res.status, 'bad_response', `the API answered ${path} with no JSON`);
    }
    if (!res.ok) {
      const e = data && data.error;
      throw new ApiError(res.status, e && e.code ? e.code : 'http_error',
        e && e.message ? e.message : `${method} ${path} answered ${res.status} ${res.statusText}`);
    }
    return data;
  }

  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body === undefined ? {} : body),
    del: (path) => call('DELETE', path),
    whoami: () => call('GET', '/api/whoami'),
    listMigrations: (query) => call('GET', `/api/migrations?${new URLSearchParams(query)}`),
    migration: (id) => call('GET', `/api/migrations/${encodeURIComponent(id)}`),
    approve: (id) => call('POST', `/api/migrations/${encodeURIComponent(id)}/approve`, {}),
    cancel: (id) => call('POST', `/api/migrations/${encodeURIComponent(id)}/cancel`, {}),
    create: (body) => call('POST', '/api/migrations', body),
    stats: () => call('GET', '/api/migrations/stats'),
    nodes: () => call('GET', '/api/nodes'),
    servers: () => call('GET', '/api/servers'),
  };
}
