/* table.c - servers, rooms, pending transfers, transfer memory, fencing and the transfer
 * planner of the router's proxy bridge (table.h). */
#include "router/table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

/* Sets the refusal's code and sentence; returns `rv`. */
static int fail(table_t *t, int rv, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(table_t *t, int rv, const char *code, const char *fmt, ...) {
    snprintf(t->err_code, sizeof t->err_code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err_msg, sizeof t->err_msg, fmt, ap);
    va_end(ap);
    return rv;
}

int table_init(table_t *t) {
    memset(t, 0, sizeof *t);
    t->servers = calloc(TABLE_SERVERS_MAX, sizeof *t->servers);
    t->rooms = calloc(TABLE_ROOMS_MAX, sizeof *t->rooms);
    t->pending = calloc(TABLE_PENDING_MAX, sizeof *t->pending);
    t->fence = calloc(TABLE_FENCE_MAX, sizeof *t->fence);
    return t->servers && t->rooms && t->pending && t->fence ? 0 : MIG_ENOMEM;
}

void table_free(table_t *t) {
    free(t->servers);
    free(t->rooms);
    free(t->pending);
    free(t->fence);
    for (size_t i = 0; i < TABLE_MEMO_MAX; i++) free(t->memo[i].moved);
    free(t->scratch.moved);
    memset(t, 0, sizeof *t);
}

bool table_name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= TABLE_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return true;
}

table_server_t *table_server(table_t *t, const char *name) {
    for (size_t i = 0; name && i < t->n_servers; i++)
        if (strcasecmp(t->servers[i].name, name) == 0) return &t->servers[i];
    return NULL;
}

int table_room(const table_t *t, const char *name) {
    for (size_t i = 0; name && i < t->n_rooms; i++)
        if (strcasecmp(t->rooms[i], name) == 0) return (int)i;
    return -1;
}

/* host:port with a non-empty host of name characters (or [IPv6]) and a port 1..65535. */
static bool address_ok(const char *a) {
    size_t n = a ? strlen(a) : 0;
    const char *colon = n ? strrchr(a, ':') : NULL;
    if (colon == NULL || colon == a || n >= TABLE_ADDR_MAX) return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535) return false;
    for (const char *p = a; p < colon; p++)
        if (*p <= ' ' || *p == '/' || *p == '"' || *p == '\\') return false;
    return true;
}

int table_put_server(table_t *t, const char *name, const char *address, table_server_t **out) {
    if (!table_name_ok(name))
        return fail(t, MIG_EINVALID, "bad_request", "name: 1 to %d bytes of A-Z a-z 0-9 _ . -", TABLE_NAME_MAX - 1);
    if (!address_ok(address)) return fail(t, MIG_EINVALID, "bad_request", "address: host:port");
    if (table_room(t, name) >= 0) return fail(t, MIG_EEXISTS, "exists", "%s is a waiting room, not a server", name);
    table_server_t *s = table_server(t, name);
    if (s == NULL) {
        if (t->n_servers >= TABLE_SERVERS_MAX)
            return fail(t, MIG_ENOMEM, "full", "the router knows %d servers", TABLE_SERVERS_MAX);
        s = &t->servers[t->n_servers++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", name);
    }
    snprintf(s->address, sizeof s->address, "%s", address);
    s->parked_in[0] = '\0';
    *out = s;
    return 0;
}

int table_create_room(table_t *t, const char *name, bool *created) {
    *created = false;
    if (!table_name_ok(name))
        return fail(t, MIG_EINVALID, "bad_request", "name: 1 to %d bytes of A-Z a-z 0-9 _ . -", TABLE_NAME_MAX - 1);
    if (table_room(t, name) >= 0) return 0;
    if (table_server(t, name)) return fail(t, MIG_EEXISTS, "exists", "%s is a server, not a waiting room", name);
    if (t->n_rooms >= TABLE_ROOMS_MAX)
        return fail(t, MIG_ENOMEM, "full", "the router holds %d waiting rooms", TABLE_ROOMS_MAX);
    snprintf(t->rooms[t->n_rooms++], TABLE_NAME_MAX, "%s", name);
    *created = true;
    return 0;
}

int table_delete_room(table_t *t, const char *name) {
    int i = table_room(t, name);
    if (i < 0) return fail(t, MIG_ENOT_FOUND, "not_found", "no waiting room %s", name);
    for (size_t s = 0; s < t->n_servers; s++)
        if (strcasecmp(t->servers[s].parked_in, name) == 0) t->servers[s].parked_in[0] = '\0';
    for (size_t p = t->n_pending; p-- > 0;)
        if (strcasecmp(t->pending[p].to, name) == 0) t->pending[p] = t->pending[--t->n_pending];
    memmove(&t->rooms[i], &t->rooms[i + 1], (t->n_rooms - (size_t)i - 1) * sizeof *t->rooms);
    t->n_rooms--;
    return 0;
}

/* ------------------------------------------------------------------------ pending */

static void pending_expire(table_t *t, int64_t now_ms) {
    for (size_t p = t->n_pending; p-- > 0;)
        if (t->pending[p].expires_ms <= now_ms) t->pending[p] = t->pending[--t->n_pending];
}

int table_pending_add(table_t *t, const char *player, const char *ip, const char *to, int64_t now_ms,
                      int64_t ttl_ms) {
    pending_expire(t, now_ms);
    table_pending_t *e = NULL;
    for (size_t p = 0; p < t->n_pending && e == NULL; p++)
        if (strcmp(t->pending[p].player, player) == 0) e = &t->pending[p];
    if (e == NULL) {
        if (t->n_pending >= TABLE_PENDING_MAX) return MIG_ENOMEM;
        e = &t->pending[t->n_pending++];
    }
    snprintf(e->player, sizeof e->player, "%s", player);
    snprintf(e->ip, sizeof e->ip, "%s", ip);
    snprintf(e->to, sizeof e->to, "%s", to);
    e->expires_ms = now_ms + ttl_ms;
    return 0;
}

int table_pending_take(table_t *t, const char *player, const char *ip, int64_t now_ms, char *to, size_t cap) {
    pending_expire(t, now_ms);
    for (size_t p = 0; p < t->n_pending; p++) {
        table_pending_t *e = &t->pending[p];
        if (strcmp(e->player, player) != 0 || strcmp(e->ip, ip) != 0) continue;
        snprintf(to, cap, "%s", e->to);
        *e = t->pending[--t->n_pending];
        return 1;
    }
    return 0;
}

void table_pending_list(const table_t *t, const char *to, int64_t now_ms, void (*fn)(void *, const char *),
                        void *ctx) {
    for (size_t p = 0; p < t->n_pending; p++)
        if (t->pending[p].expires_ms > now_ms && strcasecmp(t->pending[p].to, to) == 0) fn(ctx, t->pending[p].player);
}

/* ------------------------------------------------------------------------ fencing */

int table_fence(table_t *t, const char *migration_id, uint64_t token, bool *raised, uint64_t *highest) {
    *raised = false;
    size_t lo = 0, hi = t->n_fence;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->fence[mid].migration_id, migration_id);
        if (c == 0) {
            *highest = t->fence[mid].highest;
            if (token < t->fence[mid].highest) return MIG_ESTALE;
            if (token > t->fence[mid].highest) t->fence[mid].highest = token, *raised = true;
            return 0;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (t->n_fence >= TABLE_FENCE_MAX) return MIG_ENOMEM;
    memmove(&t->fence[lo + 1], &t->fence[lo], (t->n_fence - lo) * sizeof *t->fence);
    t->n_fence++;
    snprintf(t->fence[lo].migration_id, sizeof t->fence[lo].migration_id, "%s", migration_id);
    t->fence[lo].highest = token;
    *highest = token;
    *raised = true;
    return 0;
}

/* ------------------------------------------------------------------------ transfers */

/* The memo of `key` (a fresh ring slot when unknown, the oldest given up). NULL: no memory. */
static table_memo_t *memo_of(table_t *t, const char *key) {
    table_memo_t *m = NULL;
    if (key[0] == '\0') {
        m = &t->scratch;
    } else {
        for (size_t i = 0; i < TABLE_MEMO_MAX; i++)
            if (t->memo[i].moved && strcmp(t->memo[i].key, key) == 0) return &t->memo[i];
        m = &t->memo[t->memo_next];
        t->memo_next = (t->memo_next + 1) % TABLE_MEMO_MAX;
    }
    free(m->moved);
    m->moved = calloc(1, 1);
    if (m->moved == NULL) return NULL;
    snprintf(m->key, sizeof m->key, "%s", key);
    m->count = 0;
    return m;
}

/* Appends `name` to the memo unless it is there. */
static int memo_add(table_memo_t *m, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = m->moved; *p;) {
        size_t len = strcspn(p, "\n");
        if (len == nl && memcmp(p, name, nl) == 0) return 0;
        p += len + (p[len] == '\n');
    }
    size_t have = strlen(m->moved);
    char *s = realloc(m->moved, have + nl + 2);
    if (s == NULL) return MIG_ENOMEM;
    if (have) s[have++] = '\n';
    memcpy(s + have, name, nl + 1);
    m->moved = s;
    m->count++;
    return 0;
}

int table_plan_transfer(table_t *t, const char *key, const char *from, const char *to, const table_player_t *players,
                        size_t n, table_action_t *actions, const table_memo_t **memo) {
    if (!table_name_ok(from) || !table_name_ok(to))
        return fail(t, MIG_EINVALID, "bad_request", "from and to: required names");
    table_server_t *fs = table_server(t, from), *ts = table_server(t, to);
    int fr = table_room(t, from), tr = table_room(t, to);
    if (fs == NULL && fr < 0) return fail(t, MIG_ENOT_FOUND, "not_found", "no server or waiting room %s", from);
    if (ts == NULL && tr < 0) return fail(t, MIG_ENOT_FOUND, "not_found", "no server or waiting room %s", to);
    bool same = strcasecmp(from, to) == 0;
    if (same && ts == NULL) return fail(t, MIG_EINVALID, "bad_request", "from and to are the same waiting room");
    const char *fname = fs ? fs->name : t->rooms[fr], *tname = ts ? ts->name : t->rooms[tr];
    char k[sizeof t->memo[0].key] = "";
    if (key && key[0]) snprintf(k, sizeof k, "%s\n%s\n%s", key, fname, tname);
    table_memo_t *m = memo_of(t, k);
    if (m == NULL) return fail(t, MIG_ENOMEM, "internal", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const table_player_t *p = &players[i];
        actions[i] = TABLE_STAY;
        if (p->leaving || strcmp(p->where, fname) != 0) continue;
        if (same && strcmp(p->backend, ts->address) == 0) continue;
        if (!p->injectable) {
            actions[i] = TABLE_DROP;
            continue;
        }
        actions[i] = TABLE_MOVE;
        if (memo_add(m, p->name) != 0) return fail(t, MIG_ENOMEM, "internal", "out of memory");
    }
    if (fs && tr >= 0) snprintf(fs->parked_in, sizeof fs->parked_in, "%s", tname);
    if (ts) ts->parked_in[0] = '\0';
    *memo = m;
    return 0;
}
