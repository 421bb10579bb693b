/* relay.c - the WebSocket relay of migration events, GET /api/ws: civetweb's handlers
 * (auth, query, taking the socket after the handshake), the relay thread (wake-ups,
 * pings, deadlines, stop), and the public functions. The clients and the fan-out are in
 * relay_client.c, the link to Redis in relay_redis.c; relay_private.h tells how they
 * fit. */
#include "api/relay.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <event2/event.h>

#include "api/relay_private.h"
#include "core/wsframe.h"
#include "core/err.h"
#include "core/log.h"
#include "core/migration.h"
#include "core/timefmt.h"
#include "core/utf8.h"

#define RELAY_TICK_MS 1000 /* housekeeping: pings, close deadlines, Redis health */

/* ------------------------------------------------------------------------ the thread */

/* relay_stop was called: every client gets a close frame 1001 and a few seconds to
 * answer; the Redis link ends. */
static void begin_stop(relay_t *r) {
    r->stop_deadline = timefmt_mono_ms() + RELAY_STOP_WAIT_MS;
    relay_redis_close(r);
    relay_client_t *next;
    for (relay_client_t *c = r->clients; c; c = next) {
        next = c->next;
        relay_client_close(c, WSFRAME_CLOSE_GOING_AWAY, "server shutting down");
    }
    relay_stop_if_idle(r);
}

/* wake_fd: new clients in the inbox, or relay_stop. */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    relay_t *r = arg;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_at(LOG_ERROR, "relay.wake_failed", "error", strerror(errno), NULL);
    pthread_mutex_lock(&r->lock);
    relay_client_t *in = r->inbox;
    r->inbox = NULL;
    int stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    if (stopping && !r->stop_deadline) begin_stop(r);
    relay_client_t *rev = NULL; /* the inbox is a stack: take them in arrival order */
    while (in) {
        relay_client_t *c = in;
        in = c->inbox_next;
        c->inbox_next = rev;
        rev = c;
    }
    while (rev) {
        relay_client_t *c = rev;
        rev = c->inbox_next;
        relay_client_add(r, c);
    }
    if (stopping) relay_stop_if_idle(r);
}

/* Every second: pings every ping_s, ends closing clients past their deadline (all of
 * them past relay_stop's), and checks the Redis link. */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    relay_t *r = arg;
    int64_t now = timefmt_mono_ms();
    int ping = now >= r->next_ping && !r->stop_deadline;
    if (ping) r->next_ping = now + (int64_t)r->ping_s * 1000;
    relay_frame_t *pf = NULL;
    relay_client_t *next;
    for (relay_client_t *c = r->clients; c; c = next) {
        next = c->next;
        if (c->state == CLIENT_CLOSING) {
            if (now >= c->close_deadline) relay_client_kill(c, c->close_why, 0);
            continue;
        }
        if (!ping) continue;
        if (c->pings_unanswered >= RELAY_PINGS_UNANSWERED_MAX) {
            relay_client_close(c, WSFRAME_CLOSE_GOING_AWAY, "no answer to pings");
            continue;
        }
        if (pf == NULL) pf = relay_frame_new(WSFRAME_OP_PING, (evid_t){0, 0}, NULL, 0, NULL, 0);
        if (pf == NULL) break;
        c->pings_unanswered++;
        relay_client_send(c, pf);
    }
    relay_frame_unref(pf);
    if (r->stop_deadline && now >= r->stop_deadline)
        for (relay_client_t *c = r->clients; c; c = next) {
            next = c->next;
            relay_client_kill(c, "no answer to the close frame", 0);
        }
    if (!r->stop_deadline) relay_redis_tick(r, now);
}

static void *relay_main(void *arg) {
    relay_t *r = arg;
    /* hiredis writes with write(2): a Redis that went away must not kill the process */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    r->next_ping = timefmt_mono_ms() + (int64_t)r->ping_s * 1000;
    relay_redis_connect(r);
    event_base_dispatch(r->base);
    return NULL;
}

static void wake(relay_t *r) {
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof one) < 0) log_at(LOG_ERROR, "relay.wake_failed", "error", strerror(errno), NULL);
}

/* ------------------------------------------------------------------------ civetweb side */

/* Answers a refusal before the upgrade as the API's JSON error. */
static void reply_error(struct mg_connection *conn, int status, const char *code, const char *msg) {
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *body = text ? text : "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n%s",
              status, mg_get_response_code_text(conn, status), strlen(body),
              status == 401 ? "WWW-Authenticate: Bearer\r\n" : "", body);
    free(text);
}

/* One filter parameter: absent is fine; present must look like an id. */
static int parse_filter(const char *qs, size_t qlen, const char *name, char *out, char *err, size_t errlen) {
    char buf[RELAY_FILTER_MAX + 2];
    int n = mg_get_var(qs, qlen, name, buf, sizeof buf);
    out[0] = '\0';
    if (n == -1) return 0;
    /* n is -2 when the value is too long for buf; a decoded NUL (%00) would cut it short */
    if (n < 0 || strlen(buf) != (size_t)n || !migration_id_valid(buf)) {
        snprintf(err, errlen, "%s: must be 1 to %d characters of " MIG_ID_CHARS, name, MIG_ID_MAX);
        return MIG_EINVALID;
    }
    memcpy(out, buf, (size_t)n + 1);
    return 0;
}

/* Reads ?since=, ?format=, ?server_id= and ?migration_id=. Returns 0 or MIG_EINVALID with the
 * problem in `err`. */
static int parse_request(const char *qs, relay_request_t *req, char *err, size_t errlen) {
    memset(req, 0, sizeof *req);
    if (qs == NULL) return 0;
    size_t qlen = strlen(qs);
    char since[EVID_TEXT_MAX];
    int n = mg_get_var(qs, qlen, "since", since, sizeof since);
    if (n != -1) {
        if (n < 0 || evid_parse(since, (size_t)n, &req->since) != 0) {
            snprintf(err, errlen, "since: must be an event id as the events carry it, such as 1700000000000-0");
            return MIG_EINVALID;
        }
        req->has_since = 1;
    }
    char format[16];
    n = mg_get_var(qs, qlen, "format", format, sizeof format);
    if (n != -1) {
        if (n < 0 || (strcmp(format, "flat") != 0 && strcmp(format, "envelope") != 0)) {
            snprintf(err, errlen, "format: must be envelope (the default) or flat");
            return MIG_EINVALID;
        }
        req->flat = strcmp(format, "flat") == 0;
    }
    if (parse_filter(qs, qlen, "server_id", req->server_id, err, errlen) != 0) return MIG_EINVALID;
    return parse_filter(qs, qlen, "migration_id", req->migration_id, err, errlen);
}

/* Counts a civetweb thread into the relay's handlers (relay_stop waits for them to
 * leave); returns 1 when the relay is stopping. */
static int handler_enter(relay_t *r) {
    pthread_mutex_lock(&r->lock);
    r->handlers++;
    int stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return stopping;
}

static void handler_leave(relay_t *r) {
    pthread_mutex_lock(&r->lock);
    if (--r->handlers == 0 && r->stopping) pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->lock);
}

/* Where the relay was when a handshake began, carried from on_ws_connect (before the
 * 101) to on_ws_ready (after it): civetweb calls both on the same thread, one after the
 * other. A client without ?since= is sent every event the relay reads after this point,
 * also those it reads before the client is taken (then replayed from the stream), so
 * that a page that opens the socket and then reads the REST state misses nothing. */
static __thread struct {
    relay_t *r;
    int known;
    evid_t pos;
} handshake;

/* GET /api/ws, before the upgrade: the token and the query. A refusal is answered here
 * as JSON, since civetweb sends nothing when this returns non-zero. */
static int on_ws_connect(const struct mg_connection *cconn, void *cbdata) {
    relay_t *r = cbdata;
    struct mg_connection *conn = (struct mg_connection *)cconn; /* to answer; civetweb passes it const */
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int refused = 1;
    if (handler_enter(r)) {
        reply_error(conn, 503, "unavailable", "the server is shutting down");
        goto out;
    }
    char why[300];
    /* a WebSocket is not held to the same-origin rule: any page may open one, so the
     * upgrade must check where the page comes from itself */
    if (r->guard && (!guard_host_ok(r->guard, mg_get_header(conn, "Host"), why, sizeof why) ||
                     !guard_origin_ok(r->guard, mg_get_header(conn, "Origin"), mg_get_header(conn, "Host"), why,
                                      sizeof why))) {
        utf8_sanitize(why); /* it quotes the header, cut at a size */
        reply_error(conn, 403, strncmp(why, "Host", 4) == 0 ? "forbidden_host" : "forbidden_origin", why);
        goto out;
    }
    if (auth_request_role(r->auth, conn, true) < ROLE_VIEWER) { /* ?token=: browsers set no header here */
        reply_error(conn, 401, "unauthorized",
                    "a valid bearer token is required (Authorization: Bearer header or ?token=)");
        goto out;
    }
    if (ri->is_ssl) { /* the relay writes to the socket itself; TLS belongs to a proxy in front */
        reply_error(conn, 501, "not_implemented", "WebSocket over TLS is not served; terminate TLS in a proxy");
        goto out;
    }
    relay_request_t req;
    char err[160];
    if (parse_request(ri->query_string, &req, err, sizeof err) != 0) {
        reply_error(conn, 400, "bad_request", err);
        goto out;
    }
    refused = 0;
    pthread_mutex_lock(&r->lock);
    handshake.r = r;
    handshake.known = r->shown_pos_known;
    handshake.pos = r->shown_pos;
    pthread_mutex_unlock(&r->lock);
out:
    handler_leave(r);
    return refused;
}

static int port_of(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return -1;
}

/* Finds the socket of a civetweb connection, which civetweb does not expose: the one
 * TCP socket of this process whose peer is the request's remote address and port and
 * whose local port is the server's. A TCP 4-tuple names one connection, so the match
 * is exact. Returns the descriptor, or -1. */
static int find_socket(const struct mg_request_info *ri) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int found = -1, self = dirfd(d);
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || end == e->d_name || fd == self) continue;
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        if (getpeername((int)fd, (struct sockaddr *)&a, &al) != 0 || port_of(&a) != ri->remote_port) continue;
        char host[INET6_ADDRSTRLEN] = "";
        const void *addr = a.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&a)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)&a)->sin6_addr;
        if (inet_ntop(a.ss_family, addr, host, sizeof host) == NULL || strcmp(host, ri->remote_addr) != 0) continue;
        al = sizeof a;
        if (getsockname((int)fd, (struct sockaddr *)&a, &al) != 0 || port_of(&a) != ri->server_port) continue;
        found = (int)fd;
    }
    closedir(d);
    return found;
}

/* Closes a connection the relay never took, through civetweb, which then reads the
 * client's answer and closes the socket. */
static void refuse_after_upgrade(struct mg_connection *conn, int code, const char *reason) {
    unsigned char p[WSFRAME_CONTROL_MAX];
    size_t n = wsframe_close_payload(p, code, reason);
    mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)p, n);
}

/* Takes the connection's socket from civetweb: the relay keeps a duplicate, and
 * civetweb's descriptor number is pointed at one end of a socket pair whose other end
 * is closed, so that civetweb's read loop sees the end of the stream at once, closes
 * what it thinks is the connection, and frees its worker thread. The descriptor is
 * replaced atomically (dup3), and civetweb is not using it meanwhile: this runs on the
 * connection's own worker thread, between the handshake and the read loop. Returns the
 * relay's descriptor, or -1 (nothing changed). */
static int take_socket(int fd) {
    int sp[2];
    int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (mine < 0) return -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        close(mine);
        return -1;
    }
    if (dup3(sp[0], fd, O_CLOEXEC) < 0) {
        close(mine);
        mine = -1;
    }
    close(sp[0]);
    close(sp[1]);
    return mine;
}

/* After the handshake: hands the connection's socket to the relay thread. civetweb's
 * worker thread returns at once, so WebSocket clients hold no civetweb thread (only the
 * handshake does, briefly). */
static void on_ws_ready(struct mg_connection *conn, void *cbdata) {
    relay_t *r = cbdata;
    relay_client_t *c = NULL;
    if (handler_enter(r)) {
        refuse_after_upgrade(conn, WSFRAME_CLOSE_GOING_AWAY, "server shutting down");
        goto out;
    }
    const struct mg_request_info *ri = mg_get_request_info(conn);
    c = calloc(1, sizeof *c);
    char err[160];
    if (c == NULL || parse_request(ri->query_string, &c->req, err, sizeof err) != 0) {
        refuse_after_upgrade(conn, WSFRAME_CLOSE_INTERNAL, "out of memory");
        goto out;
    }
    if (!c->req.has_since && handshake.r == r && handshake.known) {
        c->req.has_start = 1;
        c->req.start = handshake.pos;
    }
    handshake.r = NULL;
    snprintf(c->peer, sizeof c->peer, "%s:%d", ri->remote_addr, ri->remote_port);
    int fd = find_socket(ri);
    c->fd = fd < 0 ? -1 : take_socket(fd);
    if (c->fd < 0) {
        log_at(LOG_ERROR, "relay.no_socket", "peer", c->peer, "error", "cannot take the connection's socket", NULL);
        refuse_after_upgrade(conn, WSFRAME_CLOSE_INTERNAL, "internal error");
        goto out;
    }
    pthread_mutex_lock(&r->lock);
    int stopping = r->stopping;
    if (!stopping) {
        c->inbox_next = r->inbox;
        r->inbox = c;
        c = NULL; /* the relay's now */
    }
    pthread_mutex_unlock(&r->lock);
    if (c) { /* stopping since: civetweb's descriptor is already gone, so close ours */
        close(c->fd);
        goto out;
    }
    wake(r);
out:
    free(c);
    handler_leave(r);
}

/* civetweb's read loop sees data only on a connection the relay did not take (one it
 * refused after the upgrade): end it. Must not touch the relay, which may be gone. */
static int on_ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata) {
    (void)conn;
    (void)bits;
    (void)data;
    (void)len;
    (void)cbdata;
    return 0;
}

/* ------------------------------------------------------------------------ public */

/* Frees what relay_start made; the thread must not be running. */
static void relay_free(relay_t *r) {
    while (r->inbox) { /* none normally: a stopping relay takes no more */
        relay_client_t *c = r->inbox;
        r->inbox = c->inbox_next;
        close(c->fd);
        free(c);
    }
    if (r->wake_ev) event_free(r->wake_ev);
    if (r->tick_ev) event_free(r->tick_ev);
    if (r->reap_ev) event_free(r->reap_ev);
    if (r->batch_ev) event_free(r->batch_ev);
    for (size_t i = 0; i < r->batch_n; i++) relay_frame_unref(r->batch[i]);
    if (r->retry_ev) event_free(r->retry_ev);
    if (r->base) event_base_free(r->base);
    if (r->wake_fd >= 0) close(r->wake_fd);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->idle);
    free(r->uri);
    free(r);
}

relay_t *relay_start(struct mg_context *ctx, const char *uri, const relay_opts_t *o, char *err, size_t errlen) {
    relay_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->wake_fd = -1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->idle, NULL);
    r->ctx = ctx;
    r->auth = o->auth;
    r->guard = o->guard;
    r->max_pending = o->max_pending ? o->max_pending : RELAY_MAX_PENDING_DEFAULT;
    r->ping_s = o->ping_s > 0 ? o->ping_s : RELAY_PING_DEFAULT_S;
    r->backoff_ms = RELAY_BACKOFF_MIN_MS;
    r->link = LINK_DOWN;
    r->redis = o->redis;
    const char *prefix = o->redis.prefix ? o->redis.prefix : "mig:";
    if (strlen(prefix) > RCONN_PREFIX_MAX) {
        snprintf(err, errlen, "MIG_PREFIX: longer than %d bytes", RCONN_PREFIX_MAX);
        goto fail;
    }
    int sentinel = o->redis.sentinels && *o->redis.sentinels;
    if ((o->redis.url || !sentinel) && rconn_parse_url(o->redis.url, &r->addr, err, errlen) != 0) goto fail;
    rconn_t names = {0}; /* rconn_key() names keys from a connection's prefix */
    strcpy(names.prefix, prefix);
    rconn_key(&names, RCONN_KEY_EVENTS, r->key, sizeof r->key);
    rconn_key(&names, RCONN_CHANNEL_EVENTS, r->channel, sizeof r->channel);
    if (sentinel) snprintf(r->where, sizeof r->where, "sentinel:%.200s", o->redis.sentinels);
    else relay_redis_where(r);
    r->uri = strdup(uri);
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->base = event_base_new();
    if (r->uri == NULL || r->wake_fd < 0 || r->base == NULL) {
        snprintf(err, errlen, "cannot set up the relay: %s", strerror(errno));
        goto fail;
    }
    r->wake_ev = event_new(r->base, r->wake_fd, EV_READ | EV_PERSIST, on_wake, r);
    r->tick_ev = event_new(r->base, -1, EV_PERSIST, on_tick, r);
    r->reap_ev = event_new(r->base, -1, 0, relay_on_reap, r);
    r->batch_ev = event_new(r->base, -1, 0, relay_on_batch, r);
    r->retry_ev = evtimer_new(r->base, relay_redis_on_retry, r);
    if (!r->wake_ev || !r->tick_ev || !r->reap_ev || !r->batch_ev || !r->retry_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct timeval tick = {RELAY_TICK_MS / 1000, (RELAY_TICK_MS % 1000) * 1000};
    event_add(r->wake_ev, NULL);
    event_add(r->tick_ev, &tick);
    int rv = pthread_create(&r->thread, NULL, relay_main, r);
    if (rv != 0) {
        snprintf(err, errlen, "cannot start the relay thread: %s", strerror(rv));
        goto fail;
    }
    pthread_setname_np(r->thread, "relay");
    mg_set_websocket_handler(ctx, uri, on_ws_connect, on_ws_ready, on_ws_data, NULL, r);
    log_at(LOG_INFO, "relay.started", "uri", uri, "redis", r->where, "channel", r->channel, NULL);
    return r;
fail:
    relay_free(r);
    return NULL;
}

void relay_stop(relay_t *r) {
    if (r == NULL) return;
    mg_set_websocket_handler(r->ctx, r->uri, NULL, NULL, NULL, NULL, NULL); /* no new clients */
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_mutex_unlock(&r->lock);
    wake(r);
    pthread_join(r->thread, NULL);
    /* The thread closed every client it took; wait for civetweb threads still inside a
     * handler (a connect or a handshake) to leave. */
    pthread_mutex_lock(&r->lock);
    while (r->handlers > 0) pthread_cond_wait(&r->idle, &r->lock);
    pthread_mutex_unlock(&r->lock);
    log_at(LOG_INFO, "relay.stopped", "uri", r->uri, NULL);
    relay_free(r);
}

long relay_clients(const relay_t *r) {
    return r ? atomic_load(&r->nclients) : 0;
}

long long relay_events(const relay_t *r) {
    return r ? atomic_load(&r->nevents) : 0;
}

int relay_connected(const relay_t *r) {
    return r ? atomic_load(&r->connected) : 0;
}
