/* http.c - the proxy-bridge half of docs/DRIVERS.md served by the router (civetweb
 * threads): the bearer check, the fencing check at the moment a call acts, the players
 * of a server, waiting rooms, transfers and server addresses; and GET /metrics. Handlers
 * change the table and mark connections under rt->lock; the loop does the socket work. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <civetweb.h>

#include "core/err.h"
#include "core/httpbody.h"
#include "core/jsonbody.h"
#include "core/log.h"
#include "core/path.h"
#include "router/router.h"

#define BODY_MAX (64 * 1024)          /* largest body of the worker's calls, bytes: they are tiny */
#define PROBE_TIMEOUT_MS 2000         /* a running backend accepts a connection in well under this */
#define KEY_MAX 200                   /* bytes of an Idempotency-Key kept */

typedef struct {
    struct mg_connection *conn;
    const char *method, *path;
    char params[1][PATH_PARAM_LEN];
    cJSON *body;
    char key[KEY_MAX];
    bool answered;
} req_t;

/* ------------------------------------------------------------------------ answers */

/* Answers `status` with `body` (taken, may be NULL), headers and body in one write. */
static void reply(req_t *r, int status, cJSON *body) {
    if (r->answered) {
        cJSON_Delete(body);
        return;
    }
    r->answered = true;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    size_t len = text ? strlen(text) : 0;
    char *out = malloc(len + 256);
    if (out == NULL) {
        free(text);
        mg_printf(r->conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    int n = snprintf(out, 256, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nCache-Control: no-store\r\n\r\n", status,
                     mg_get_response_code_text(r->conn, status), text ? "Content-Type: application/json\r\n" : "",
                     len);
    if (text) memcpy(out + n, text, len);
    mg_write(r->conn, out, (size_t)n + len);
    free(out);
    free(text);
}

static void error(req_t *r, int status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void error(req_t *r, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply(r, status, httpbody_error(code, msg));
}

/* The table's refusal `rv` as the contract's answer. */
static void table_error(req_t *r, const table_t *t, int rv) {
    int status = rv == MIG_ENOT_FOUND ? 404 : rv == MIG_EEXISTS ? 409 : rv == MIG_EINVALID ? 400 : 500;
    error(r, status, t->err_code[0] ? t->err_code : "internal", "%s", t->err_msg[0] ? t->err_msg : "out of memory");
}

static const char *body_str(const req_t *r, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->body, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool read_json_or_reply(req_t *r) {
    char *buf;
    size_t n;
    int st = httpbody_read(r->conn, BODY_MAX, &buf, &n);
    if (st == 413) error(r, 413, "payload_too_large", "the body is over %d bytes", BODY_MAX);
    if (st == 408) error(r, 408, "request_timeout", "the body did not arrive in time");
    if (st == 500) error(r, 500, "internal", "out of memory");
    if (st != 0) return false;
    if (strspn(buf, " \t\r\n") == n) {
        free(buf);
        return true;
    }
    char why[128];
    r->body = jsonbody_parse(buf, n, why, sizeof why);
    free(buf);
    if (r->body == NULL) return error(r, 400, "bad_request", "%s", why), false;
    if (!cJSON_IsObject(r->body)) return error(r, 400, "bad_request", "the body must be a JSON object"), false;
    return true;
}

/* ------------------------------------------------------------------------ fencing */

/* The migration of the call: the body's migration_id, else the Idempotency-Key. */
static const char *migration_of(const req_t *r) {
    const char *id = body_str(r, "migration_id");
    return id ? id : r->key;
}

/* Parses the call's Fencing-Token when it has a migration: true with *token (or with
 * *none when the call has no migration); false after answering 400 missing_token. */
static bool token_or_reply(req_t *r, uint64_t *token, bool *none) {
    const char *mid = migration_of(r);
    *none = mid[0] == '\0';
    if (*none) return true;
    const char *t = mg_get_header(r->conn, "Fencing-Token");
    const char *why = NULL;
    uint64_t v = 0;
    if (t == NULL) why = "no Fencing-Token header";
    else if (*t == '\0') why = "an empty Fencing-Token";
    for (const char *p = t; why == NULL && *p; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (*p < '0' || *p > '9') why = "Fencing-Token is not a decimal number";
        else if (v > (UINT64_MAX - d) / 10) why = "Fencing-Token is above 18446744073709551615";
        else v = v * 10 + d;
    }
    if (why) return error(r, 400, "missing_token", "%s on a call of migration %s", why, mid), false;
    if (strlen(mid) >= TABLE_NAME_MAX) return error(r, 400, "bad_request", "migration_id: at most %d bytes", TABLE_NAME_MAX - 1), false;
    *token = v;
    return true;
}

/* The fencing check where the call acts (rt->lock held): true when it may act; a raised
 * highest is on disk before. False after answering 409 stale_token (or 5xx). */
static bool fence_or_reply(router_t *rt, req_t *r) {
    uint64_t token, highest;
    bool none, raised;
    if (!token_or_reply(r, &token, &none)) return false;
    if (none) return true;
    const char *mid = migration_of(r);
    int rv = table_fence(&rt->table, mid, token, &raised, &highest);
    if (rv == MIG_ESTALE) {
        char tok[24], high[24];
        snprintf(tok, sizeof tok, "%" PRIu64, token);
        snprintf(high, sizeof high, "%" PRIu64, highest);
        log_at(LOG_INFO, "router.stale_token", "migration_id", mid, "token", tok, "highest", high, "method", r->method,
               "path", r->path, NULL);
        error(r, 409, "stale_token", "fencing token %s of migration %s is below %s, the highest seen", tok, mid, high);
        return false;
    }
    if (rv != 0) return error(r, 503, "fence_full", "the fencing table holds %d migrations", TABLE_FENCE_MAX), false;
    if (raised && state_save(rt) != 0) return error(r, 500, "state_unsaved", "the router cannot write its state"), false;
    return true;
}

/* ------------------------------------------------------------------------ routes */

/* GET /v1/servers/{name}/players */
static void players_get(router_t *rt, req_t *r) {
    const char *name = r->params[0];
    if (table_server(&rt->table, name) == NULL && table_room(&rt->table, name) < 0)
        return error(r, 404, "not_found", "no server or waiting room %s", name);
    cJSON *o = cJSON_CreateObject();
    net_list_players(rt, name, cJSON_AddArrayToObject(o, "players"));
    reply(r, 200, o);
}

/* GET /v1/servers: every server, its address and parking (beyond the contract, for people) */
static void servers_list(router_t *rt, req_t *r) {
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "servers");
    for (size_t i = 0; i < rt->table.n_servers; i++) {
        const table_server_t *s = &rt->table.servers[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", s->name);
        cJSON_AddStringToObject(e, "address", s->address);
        if (s->parked_in[0]) cJSON_AddStringToObject(e, "parked_in", s->parked_in);
        cJSON_AddItemToArray(a, e);
    }
    cJSON *rooms = cJSON_AddArrayToObject(o, "waiting_rooms");
    for (size_t i = 0; i < rt->table.n_rooms; i++) cJSON_AddItemToArray(rooms, cJSON_CreateString(rt->table.rooms[i]));
    reply(r, 200, o);
}

/* PUT /v1/servers/{name} */
static void server_put(router_t *rt, req_t *r) {
    if (!fence_or_reply(rt, r)) return;
    table_server_t *s;
    int rv = table_put_server(&rt->table, r->params[0], body_str(r, "address"), &s);
    if (rv != 0) return table_error(r, &rt->table, rv);
    if (state_save(rt) != 0) return error(r, 500, "state_unsaved", "the router cannot write its state");
    log_at(LOG_INFO, "router.registered", "server", s->name, "address", s->address, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "address", s->address);
    reply(r, 200, o);
}

/* POST /v1/waiting-rooms */
static void room_create(router_t *rt, req_t *r) {
    if (!fence_or_reply(rt, r)) return;
    bool created;
    const char *name = body_str(r, "name");
    int rv = table_create_room(&rt->table, name, &created);
    if (rv != 0) return table_error(r, &rt->table, rv);
    if (created && state_save(rt) != 0) return error(r, 500, "state_unsaved", "the router cannot write its state");
    if (created) log_at(LOG_INFO, "router.room_created", "room", name, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    reply(r, created ? 201 : 200, o);
}

/* DELETE /v1/waiting-rooms/{name} */
static void room_delete(router_t *rt, req_t *r) {
    if (!fence_or_reply(rt, r)) return;
    const char *name = r->params[0];
    if (table_room(&rt->table, name) < 0) return error(r, 404, "not_found", "no waiting room %s", name);
    int dropped = net_close_room(rt, name);
    table_delete_room(&rt->table, name);
    if (dropped > 0) net_wake(rt);
    if (state_save(rt) != 0) return error(r, 500, "state_unsaved", "the router cannot write its state");
    if (dropped > 0) {
        char n[16];
        snprintf(n, sizeof n, "%d", dropped);
        log_at(LOG_WARN, "router.players_dropped", "room", name, "players", n, "why",
               "waiting room deleted with players in it", NULL);
    }
    reply(r, 204, NULL);
}

/* True when a TCP connection to host:port opens within PROBE_TIMEOUT_MS. */
static bool probe(const char *address) {
    char host[TABLE_ADDR_MAX];
    const char *colon = strrchr(address, ':');
    if (colon == NULL) return false;
    size_t hl = (size_t)(colon - address);
    const char *h = address;
    if (hl >= 2 && h[0] == '[') h++, hl -= 2;
    if (hl == 0 || hl >= sizeof host) return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) return false;
    bool ok = false;
    for (struct addrinfo *a = ai; a && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t el = sizeof err;
            if (poll(&p, 1, PROBE_TIMEOUT_MS) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
                rc = 0;
        }
        ok = rc == 0;
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

/* POST /v1/transfers */
static void transfer(router_t *rt, req_t *r) {
    const char *from = body_str(r, "from"), *to = body_str(r, "to");
    uint64_t token;
    bool none;
    if (!token_or_reply(r, &token, &none)) return;
    /* a server that is not running cannot take players: asked before the lock, since a
     * connect may take a while; it changes nothing */
    char address[TABLE_ADDR_MAX] = "";
    pthread_mutex_lock(&rt->lock);
    const table_server_t *ts = to ? table_server(&rt->table, to) : NULL;
    if (ts) snprintf(address, sizeof address, "%s", ts->address);
    pthread_mutex_unlock(&rt->lock);
    if (address[0] && !probe(address))
        return error(r, 409, "target_down", "%s leads to %s, where no server accepts connections", to, address);
    pthread_mutex_lock(&rt->lock);
    const table_memo_t *memo = NULL;
    int rv = 0;
    if (fence_or_reply(rt, r)) {
        rv = net_plan_transfer(rt, r->key, from, to, &memo);
        if (rv != 0) table_error(r, &rt->table, rv);
    }
    if (r->answered) {
        pthread_mutex_unlock(&rt->lock);
        return;
    }
    state_save(rt); /* parking changed */
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "moved");
    for (const char *p = memo->moved; *p;) {
        size_t len = strcspn(p, "\n");
        char name[TABLE_PLAYER_MAX];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        cJSON_AddItemToArray(a, cJSON_CreateString(name));
        p += len + (p[len] == '\n');
    }
    char n[16];
    snprintf(n, sizeof n, "%d", memo->count);
    log_at(LOG_INFO, "router.transfer", "from", from, "to", to, "players", n, "key", r->key, NULL);
    pthread_mutex_unlock(&rt->lock);
    net_wake(rt);
    reply(r, 200, o);
}

/* GET /v1/health */
static void health(router_t *rt, req_t *r) {
    (void)rt;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "healthy", 1);
    reply(r, 200, o);
}

/* GET /metrics: Prometheus text */
static void metrics(router_t *rt, req_t *r) {
    static const char *const reasons[FAIL_COUNT] = {"unknown_host", "bad_handshake", "handshake_timeout",
                                                    "ip_limit",     "conn_limit",    "backend_unreachable",
                                                    "old_client",   "no_transfer"};
    char buf[4096];
    long conns, held, spliced;
    pthread_mutex_lock(&rt->lock);
    router_metrics_t m = rt->m;
    net_counts(rt, &conns, &held, &spliced);
    size_t servers = rt->table.n_servers, rooms = rt->table.n_rooms;
    pthread_mutex_unlock(&rt->lock);
    int n = snprintf(buf, sizeof buf,
                     "# HELP mig_router_players_routed_total Logins spliced to a backend.\n"
                     "# TYPE mig_router_players_routed_total counter\nmig_router_players_routed_total %" PRIu64 "\n"
                     "# HELP mig_router_players_held_total Players taken into a waiting room.\n"
                     "# TYPE mig_router_players_held_total counter\nmig_router_players_held_total %" PRIu64 "\n"
                     "# HELP mig_router_players_transferred_total Transfer packets sent.\n"
                     "# TYPE mig_router_players_transferred_total counter\nmig_router_players_transferred_total %" PRIu64 "\n"
                     "# HELP mig_router_status_total Status pings served or forwarded.\n"
                     "# TYPE mig_router_status_total counter\nmig_router_status_total %" PRIu64 "\n"
                     "# HELP mig_router_players_held Players in waiting rooms now.\n"
                     "# TYPE mig_router_players_held gauge\nmig_router_players_held %ld\n"
                     "# HELP mig_router_players_spliced Players connected to a backend now.\n"
                     "# TYPE mig_router_players_spliced gauge\nmig_router_players_spliced %ld\n"
                     "# HELP mig_router_connections Open connections on the game port.\n"
                     "# TYPE mig_router_connections gauge\nmig_router_connections %ld\n"
                     "# HELP mig_router_servers Server names registered.\n"
                     "# TYPE mig_router_servers gauge\nmig_router_servers %zu\n"
                     "# HELP mig_router_waiting_rooms Waiting rooms open.\n"
                     "# TYPE mig_router_waiting_rooms gauge\nmig_router_waiting_rooms %zu\n"
                     "# HELP mig_router_failures_total Connections refused or lost, by reason.\n"
                     "# TYPE mig_router_failures_total counter\n",
                     m.routed, m.held_total, m.transferred, m.status, held, spliced, conns, servers, rooms);
    for (int i = 0; i < FAIL_COUNT && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "mig_router_failures_total{reason=\"%s\"} %" PRIu64 "\n",
                      reasons[i], m.failures[i]);
    r->answered = true;
    mg_printf(r->conn,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %d\r\n"
              "Cache-Control: no-store\r\n\r\n%s",
              n, buf);
}

/* ------------------------------------------------------------------------ dispatch */

/* True when `a` and `b` are equal, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++) diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (nb ? nb : 1)];
    return diff == 0;
}

int http_serve(router_t *rt, struct mg_connection *conn) {
    static const struct {
        const char *method, *pattern;
        void (*fn)(router_t *, req_t *);
        bool locked; /* run under rt->lock (transfer takes it itself, around its probe) */
    } routes[] = {
        {"GET", "/v1/health", health, false},
        {"GET", "/v1/servers", servers_list, true},
        {"GET", "/v1/servers/{name}/players", players_get, true},
        {"PUT", "/v1/servers/{name}", server_put, true},
        {"POST", "/v1/waiting-rooms", room_create, true},
        {"DELETE", "/v1/waiting-rooms/{name}", room_delete, true},
        {"POST", "/v1/transfers", transfer, false},
    };
    const struct mg_request_info *ri = mg_get_request_info(conn);
    req_t r = {.conn = conn, .method = ri->request_method, .path = ri->local_uri};
    const char *key = mg_get_header(conn, "Idempotency-Key");
    snprintf(r.key, sizeof r.key, "%s", key ? key : "");
    if (strcmp(r.path, "/metrics") == 0) {
        metrics(rt, &r);
        return 1;
    }
    const char *h = mg_get_header(conn, "Authorization");
    if (rt->token && !(h && strncmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, rt->token))) {
        error(&r, 401, "unauthorized", "%s", h ? "the token is wrong" : "the call needs Authorization: Bearer <token>");
        goto out;
    }
    if (!read_json_or_reply(&r)) goto out;
    bool known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!path_match(routes[i].pattern, r.path, r.params, 1)) continue;
        known = true;
        if (strcmp(routes[i].method, r.method) != 0) continue;
        if (routes[i].locked) pthread_mutex_lock(&rt->lock);
        routes[i].fn(rt, &r);
        if (routes[i].locked) pthread_mutex_unlock(&rt->lock);
        goto out;
    }
    if (known) error(&r, 405, "method_not_allowed", "%s is not allowed on %s", r.method, r.path);
    else error(&r, 404, "not_found", "no route %s %s", r.method, r.path);
out:
    if (!r.answered) error(&r, 500, "internal", "the call was not answered");
    cJSON_Delete(r.body);
    return 1;
}
