/* relay_client.c - the relay's clients: stream ids, frames built once and shared by
 * every queue they are in, each client's non-blocking writes and bounded queue, its
 * control frames and closing handshake, and the fan-out of live events. Runs on the
 * relay thread only. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "api/relay_private.h"
#include "core/wsframe.h"
#include "core/envelope.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define RELAY_IOV_MAX 64 /* frames gathered by one sendmsg */

/* ------------------------------------------------------------------------ frames */

relay_frame_t *relay_frame_new(int opcode, evid_t id, const char *prefix, size_t prefix_len,
                               const char *body, size_t body_len) {
    unsigned char hdr[WSFRAME_HEADER_MAX];
    size_t hl = wsframe_header_write(hdr, 1, opcode, prefix_len + body_len, NULL);
    relay_frame_t *f = malloc(sizeof *f + hl + prefix_len + body_len);
    if (f == NULL) return NULL;
    f->refs = 1;
    f->id = id;
    f->parsed = 0;
    f->env = NULL;
    f->server_id[0] = f->migration_id[0] = '\0';
    f->len = hl + prefix_len + body_len;
    f->payload_off = hl;
    memcpy(f->data, hdr, hl);
    if (prefix_len) memcpy(f->data + hl, prefix, prefix_len);
    if (body_len) memcpy(f->data + hl + prefix_len, body, body_len);
    return f;
}

void relay_frame_unref(relay_frame_t *f) {
    if (f && --f->refs == 0) {
        relay_frame_unref(f->env);
        free(f);
    }
}

relay_frame_t *relay_frame_for(const relay_client_t *c, relay_frame_t *f) {
    if (c->req.flat || f->id.ms == 0) return f; /* not an event: sent as it is */
    if (f->env) return f->env;
    char *text = NULL;
    size_t n = 0;
    int rc = envelope_from_flat((const char *)f->data + f->payload_off, f->len - f->payload_off, &text, &n);
    if (rc == MIG_EINVALID) {
        /* the relay only passes on events that begin with an event_id; one that is not
         * a JSON object with a type still goes out, flat, rather than leave a gap */
        char id[EVID_TEXT_MAX];
        log_at(LOG_WARN, "relay.bad_event", "event_id", evid_format(f->id, id), "error",
               "not a JSON object with a type; sent flat", NULL);
        return f;
    }
    if (rc != 0) return NULL;
    f->env = relay_frame_new(WSFRAME_OP_TEXT, f->id, text, n, NULL, 0);
    free(text);
    return f->env;
}

/* Copies a string member of `o` into `out` (RELAY_FILTER_MAX + 1 bytes); "" when it is
 * absent, not a string, or too long to equal any filter. */
static void copy_field(const cJSON *o, const char *name, char *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    out[0] = '\0';
    if (cJSON_IsString(v) && strlen(v->valuestring) <= RELAY_FILTER_MAX) strcpy(out, v->valuestring);
}

void relay_frame_parse(relay_frame_t *f) {
    if (f->parsed) return;
    f->parsed = 1;
    cJSON *o = cJSON_ParseWithLength((const char *)f->data + f->payload_off, f->len - f->payload_off);
    if (o == NULL) return;
    copy_field(o, "server_id", f->server_id);
    copy_field(o, "migration_id", f->migration_id);
    cJSON_Delete(o);
}

/* ------------------------------------------------------------------------ queues */

static int fifo_push(relay_fifo_t *q, relay_frame_t *f) {
    relay_link_t *l = malloc(sizeof *l);
    if (l == NULL) return MIG_ENOMEM;
    l->f = f;
    l->next = NULL;
    f->refs++;
    if (q->tail) q->tail->next = l;
    else q->head = l;
    q->tail = l;
    q->bytes += RELAY_ENTRY_COST(f);
    return 0;
}

/* Takes the first frame off `q`; the caller owns the reference. NULL when empty. */
static relay_frame_t *fifo_pop(relay_fifo_t *q) {
    relay_link_t *l = q->head;
    if (l == NULL) return NULL;
    q->head = l->next;
    if (q->head == NULL) q->tail = NULL;
    q->bytes -= RELAY_ENTRY_COST(l->f);
    relay_frame_t *f = l->f;
    free(l);
    return f;
}

static void fifo_clear(relay_fifo_t *q) {
    relay_frame_t *f;
    while ((f = fifo_pop(q)) != NULL) relay_frame_unref(f);
}

/* ------------------------------------------------------------------------ clients */

size_t relay_client_backlog(const relay_client_t *c) {
    return c->out.bytes - c->out_off + c->held.bytes;
}

static int has_filter(const relay_client_t *c) {
    return c->req.server_id[0] || c->req.migration_id[0];
}

void relay_client_kill(relay_client_t *c, const char *why, int abortive) {
    relay_t *r = c->relay;
    if (c->dead) return;
    c->dead = 1;
    c->abortive = abortive;
    snprintf(c->close_why, sizeof c->close_why, "%s", why);
    if (c->ticket) {
        c->ticket->c = NULL; /* the page in flight finds nobody */
        c->ticket = NULL;
    }
    if (c->prev) c->prev->next = c->next;
    else r->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->rev) event_del(c->rev);
    if (c->wev) event_del(c->wev);
    c->reap_next = r->reap;
    r->reap = c;
    event_active(r->reap_ev, EV_TIMEOUT, 0);
}

/* Ends a dead client for good: closes its socket (with a reset when abortive) and
 * frees it. */
static void client_release(relay_t *r, relay_client_t *c) {
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    fifo_clear(&c->out);
    fifo_clear(&c->held);
    if (has_filter(c)) r->filtering--;
    if (c->abortive) {
        /* A reset frees the kernel's copy of data the client will never read. */
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    atomic_fetch_sub(&r->nclients, 1);
    log_at(c->abortive ? LOG_WARN : LOG_DEBUG, c->abortive ? "relay.client_dropped" : "relay.client_closed",
           "peer", c->peer, "reason", c->close_why, NULL);
    free(c);
}

void relay_stop_if_idle(relay_t *r) {
    if (r->stop_deadline && r->clients == NULL && r->reap == NULL) event_base_loopbreak(r->base);
}

void relay_on_reap(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    relay_t *r = arg;
    while (r->reap) {
        relay_client_t *c = r->reap;
        r->reap = c->reap_next;
        client_release(r, c);
    }
    relay_stop_if_idle(r);
}

/* The queue is empty again: a closing client that answered is done; a replaying one
 * may read its next page. */
static void client_drained(relay_client_t *c) {
    if (c->state == CLIENT_CLOSING && c->answered_close) {
        relay_client_kill(c, c->close_why[0] ? c->close_why : "closed by the client", 0);
        return;
    }
    if (c->state == CLIENT_REPLAYING && c->ticket == NULL && relay_client_backlog(c) < c->relay->max_pending / 4)
        relay_redis_replay(c->relay, c);
}

/* Drops the bytes the socket took from the front of the queue. */
static void client_consume(relay_client_t *c, size_t n) {
    while (n > 0 && c->out.head) {
        size_t left = c->out.head->f->len - c->out_off;
        if (n < left) {
            c->out_off += n;
            return;
        }
        n -= left;
        c->out_off = 0;
        relay_frame_unref(fifo_pop(&c->out));
    }
}

/* Writes as much of the queue as the socket takes now, in one sendmsg per
 * RELAY_IOV_MAX frames; waits for EV_WRITE for the rest. Never blocks. */
static void client_flush(relay_client_t *c) {
    while (c->out.head) {
        struct iovec iov[RELAY_IOV_MAX];
        int n = 0;
        size_t off = c->out_off;
        for (relay_link_t *l = c->out.head; l && n < RELAY_IOV_MAX; l = l->next, n++) {
            iov[n].iov_base = l->f->data + off;
            iov[n].iov_len = l->f->len - off;
            off = 0;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            relay_client_kill(c, strerror(errno), 1);
            return;
        }
        client_consume(c, (size_t)w);
    }
    if (c->out.head && !c->writing) {
        event_add(c->wev, NULL);
        c->writing = 1;
    } else if (!c->out.head) {
        if (c->writing) event_del(c->wev);
        c->writing = 0;
        client_drained(c);
    }
}

/* A client whose queue would pass `max_pending` bytes with `more` is cut off, so that
 * it costs the relay no more memory and the others nothing. Returns 1 when it was. */
static int client_over_limit(relay_client_t *c, size_t more) {
    relay_t *r = c->relay;
    if (relay_client_backlog(c) + more <= r->max_pending) return 0;
    char why[96];
    snprintf(why, sizeof why, "too slow: more than %zu bytes unsent", r->max_pending);
    relay_client_kill(c, why, 1);
    return 1;
}

/* Sends frames: straight to the socket when nothing is queued before them (the common
 * case, with no allocation, and one sendmsg for a batch), else behind the queue. What
 * the socket does not take now waits in the queue for EV_WRITE, unless it would take
 * the queue past max_pending: every frame counts, events and the control frames
 * alike, since a client that sends pings and never reads makes pongs pile up as surely
 * as a slow reader makes events pile up. */
static void client_send_many(relay_client_t *c, relay_frame_t *const *fs, size_t n) {
    if (c->dead || n == 0) return;
    size_t sent = 0, off = 0; /* frames written whole, and bytes of the next one */
    int direct = c->out.head == NULL;
    if (direct) {
        struct iovec iov[RELAY_IOV_MAX];
        size_t k = n < RELAY_IOV_MAX ? n : RELAY_IOV_MAX, total = 0;
        for (size_t i = 0; i < k; i++) {
            iov[i].iov_base = fs[i]->data;
            iov[i].iov_len = fs[i]->len;
            total += fs[i]->len;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = k};
        ssize_t w = k == 1 ? send(c->fd, fs[0]->data, fs[0]->len, MSG_NOSIGNAL | MSG_DONTWAIT)
                           : sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            relay_client_kill(c, strerror(errno), 1);
            return;
        }
        if (w == (ssize_t)total && k == n) {
            client_drained(c);
            return;
        }
        size_t left = w > 0 ? (size_t)w : 0;
        while (sent < k && left >= fs[sent]->len) left -= fs[sent++]->len;
        off = left;
    }
    size_t more = 0;
    for (size_t i = sent; i < n; i++) more += RELAY_ENTRY_COST(fs[i]);
    if (client_over_limit(c, more - off)) return;
    for (size_t i = sent; i < n; i++)
        if (fifo_push(&c->out, fs[i]) != 0) {
            relay_client_kill(c, "out of memory", 1);
            return;
        }
    if (direct) c->out_off = off;
    if (!c->writing) {
        event_add(c->wev, NULL);
        c->writing = 1;
    }
}

void relay_client_send(relay_client_t *c, relay_frame_t *f) {
    client_send_many(c, &f, 1);
}

static int client_wants(const relay_client_t *c, const relay_frame_t *f) {
    if (c->req.server_id[0] && strcmp(c->req.server_id, f->server_id) != 0) return 0;
    if (c->req.migration_id[0] && strcmp(c->req.migration_id, f->migration_id) != 0) return 0;
    return 1;
}

/* Queues live events (in id order) on a live client: those it wants and has not had. */
static void client_push_events(relay_client_t *c, relay_frame_t *const *fs, size_t n) {
    relay_frame_t *want[RELAY_BATCH_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (evid_cmp(fs[i]->id, c->last) <= 0 || !client_wants(c, fs[i])) continue;
        if ((want[k++] = relay_frame_for(c, fs[i])) == NULL) {
            relay_client_kill(c, "out of memory", 1);
            return;
        }
    }
    if (k == 0) return;
    c->last = want[k - 1]->id;
    client_send_many(c, want, k); /* which cuts the client off when they would pass its limit */
}

void relay_show_pos(relay_t *r) {
    pthread_mutex_lock(&r->lock);
    r->shown_pos_known = r->pos_known;
    r->shown_pos = r->pos;
    pthread_mutex_unlock(&r->lock);
}

/* Delivers a batch of live events (id order, at most RELAY_BATCH_MAX) to every client
 * that wants them, held for those replaying. A client gets the whole batch in one
 * sendmsg: events that arrived together cost one write per client, not one each. */
static void broadcast_batch(relay_t *r, relay_frame_t *const *fs, size_t n) {
    relay_frame_t *keep[RELAY_BATCH_MAX];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (evid_cmp(fs[i]->id, r->pos) <= 0) continue; /* had it: the catch-up overlaps on purpose */
        r->pos = fs[i]->id;
        if (r->filtering > 0) relay_frame_parse(fs[i]); /* once per event, not per client */
        keep[m++] = fs[i];
    }
    if (m == 0) return;
    relay_show_pos(r);
    atomic_fetch_add(&r->nevents, (long long)m);
    relay_client_t *next;
    for (relay_client_t *c = r->clients; c; c = next) {
        next = c->next;
        if (c->state == CLIENT_LIVE) {
            client_push_events(c, keep, m);
            continue;
        }
        for (size_t i = 0; i < m && c->state != CLIENT_CLOSING && !c->dead; i++) {
            if (!client_wants(c, keep[i]) || client_over_limit(c, RELAY_ENTRY_COST(keep[i]))) continue;
            if (fifo_push(&c->held, keep[i]) != 0) relay_client_kill(c, "out of memory", 1);
        }
    }
}

void relay_broadcast(relay_t *r, relay_frame_t *f) {
    if (r->batch_n) relay_broadcast_flush(r); /* what came before goes first */
    broadcast_batch(r, &f, 1);
}

void relay_broadcast_later(relay_t *r, relay_frame_t *f) {
    if (r->batch_n == RELAY_BATCH_MAX) relay_broadcast_flush(r);
    f->refs++;
    r->batch[r->batch_n++] = f;
    event_active(r->batch_ev, EV_TIMEOUT, 0);
}

void relay_broadcast_flush(relay_t *r) {
    size_t n = r->batch_n;
    r->batch_n = 0;
    broadcast_batch(r, r->batch, n);
    for (size_t i = 0; i < n; i++) relay_frame_unref(r->batch[i]);
}

void relay_on_batch(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    relay_broadcast_flush(arg);
}

void relay_client_replayed(relay_client_t *c, relay_frame_t *f) {
    if (c->dead || evid_cmp(f->id, c->last) <= 0) return;
    if (has_filter(c)) relay_frame_parse(f);
    c->last = f->id; /* filtered out or not, the replay has passed it */
    if (!client_wants(c, f)) return;
    relay_frame_t *g = relay_frame_for(c, f);
    if (g == NULL) relay_client_kill(c, "out of memory", 1);
    else relay_client_send(c, g);
}

void relay_client_replay_done(relay_client_t *c) {
    if (c->dead || c->state == CLIENT_CLOSING) return;
    c->state = CLIENT_LIVE;
    relay_frame_t *f;
    while (!c->dead && (f = fifo_pop(&c->held)) != NULL) {
        client_push_events(c, &f, 1);
        relay_frame_unref(f);
    }
}

/* Sends a small control-like text frame that is not an event (no id, no guard). */
static void client_send_text(relay_client_t *c, const char *json) {
    evid_t none = {0, 0};
    relay_frame_t *f = relay_frame_new(WSFRAME_OP_TEXT, none, json, strlen(json), NULL, 0);
    if (f == NULL) {
        relay_client_kill(c, "out of memory", 1);
        return;
    }
    relay_client_send(c, f);
    relay_frame_unref(f);
}

void relay_client_resync(relay_client_t *c, const char *reason) {
    if (c->dead || c->state == CLIENT_CLOSING) return;
    if (c->ticket) {
        c->ticket->c = NULL;
        c->ticket = NULL;
    }
    c->state = CLIENT_LIVE; /* before sending: a drain on the way must not resume a replay */
    char *text = NULL;
    size_t n;
    if (c->req.flat) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "resync");
        cJSON_AddStringToObject(o, "reason", reason);
        text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    } else if (envelope_notice("resync", reason, &text, &n) != 0) {
        text = NULL;
    }
    if (text == NULL) {
        relay_client_kill(c, "out of memory", 1);
        return;
    }
    log_at(LOG_INFO, "relay.resync", "peer", c->peer, "reason", reason, NULL);
    client_send_text(c, text);
    free(text);
    c->last = (evid_t){0, 0}; /* what comes next is a new history for this client */
    relay_client_replay_done(c);
}

/* Sends a control frame (close, ping, pong) with `payload`. */
static void client_send_control(relay_client_t *c, int opcode, const unsigned char *payload, size_t len) {
    evid_t none = {0, 0};
    relay_frame_t *f = relay_frame_new(opcode, none, (const char *)payload, len, NULL, 0);
    if (f == NULL) {
        relay_client_kill(c, "out of memory", 1);
        return;
    }
    relay_client_send(c, f);
    relay_frame_unref(f);
}

void relay_client_close(relay_client_t *c, int code, const char *reason) {
    if (c->dead || c->state == CLIENT_CLOSING) return;
    if (c->ticket) {
        c->ticket->c = NULL;
        c->ticket = NULL;
    }
    fifo_clear(&c->held);
    c->state = CLIENT_CLOSING;
    c->close_deadline = timefmt_mono_ms() + RELAY_CLOSE_WAIT_MS;
    if (c->close_why[0] == '\0') snprintf(c->close_why, sizeof c->close_why, "%s", reason ? reason : "closed");
    unsigned char p[WSFRAME_CONTROL_MAX];
    client_send_control(c, WSFRAME_OP_CLOSE, p, wsframe_close_payload(p, code, reason));
}

/* A control frame from the client. */
static void client_control(relay_client_t *c, int opcode, const unsigned char *p, size_t len) {
    if (opcode == WSFRAME_OP_PING) {
        if (c->state != CLIENT_CLOSING) client_send_control(c, WSFRAME_OP_PONG, p, len);
    } else if (opcode == WSFRAME_OP_CLOSE) {
        if (c->state == CLIENT_CLOSING) { /* the answer to ours: the handshake is complete */
            relay_client_kill(c, c->close_why, 0);
            return;
        }
        /* Answer with the client's code (1000 when it gave none or one that may not be
         * sent back); client_drained() lets the socket go once the answer is out. */
        int code = wsframe_close_code(p, len);
        if (!wsframe_close_code_sendable(code)) code = WSFRAME_CLOSE_NORMAL;
        c->answered_close = 1;
        snprintf(c->close_why, sizeof c->close_why, "closed by the client (%d)", wsframe_close_code(p, len));
        relay_client_close(c, code, NULL);
    }
    /* a pong only shows the client is alive, which any byte read already did */
}

/* Parses the bytes read from a client: control frames are handled, data frames (which
 * a client has no reason to send) are skipped without being buffered. */
static void client_parse(relay_client_t *c) {
    size_t at = 0;
    while (!c->dead && at < c->rx_n) {
        if (c->rx_skip) {
            size_t k = c->rx_n - at < c->rx_skip ? c->rx_n - at : (size_t)c->rx_skip;
            at += k;
            c->rx_skip -= k;
            continue;
        }
        wsframe_header_t h;
        int rv = wsframe_header_parse(c->rx + at, c->rx_n - at, WSFRAME_FROM_CLIENT, &h);
        if (rv == 0) break;
        if (rv < 0) {
            c->rx_n = 0;
            relay_client_close(c, WSFRAME_CLOSE_PROTOCOL, "malformed or unmasked frame");
            return;
        }
        if (h.opcode < WSFRAME_OP_CLOSE) {
            at += h.header_len;
            c->rx_skip = h.len;
            continue;
        }
        if (c->rx_n - at < h.header_len + h.len) break; /* a control frame fits the buffer whole */
        unsigned char *p = c->rx + at + h.header_len;
        wsframe_mask(p, (size_t)h.len, h.mask, 0);
        at += h.header_len + (size_t)h.len;
        client_control(c, h.opcode, p, (size_t)h.len);
    }
    if (c->dead) return;
    memmove(c->rx, c->rx + at, c->rx_n - at);
    c->rx_n -= at;
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    relay_client_t *c = arg;
    ssize_t n = recv(fd, c->rx + c->rx_n, sizeof c->rx - c->rx_n, 0);
    if (n == 0) {
        relay_client_kill(c, c->state == CLIENT_CLOSING ? c->close_why : "connection closed by the client", 0);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) relay_client_kill(c, strerror(errno), 1);
        return;
    }
    c->pings_unanswered = 0;
    c->rx_n += (size_t)n;
    client_parse(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    client_flush(arg);
}

void relay_client_add(relay_t *r, relay_client_t *c) {
    c->relay = r;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    int one = 1; /* events are small and must not wait for the previous one's ACK */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* The kernel would otherwise take megabytes for a client that stopped reading (its
     * send buffer grows to tcp_wmem's maximum) and max_pending would never be reached:
     * keep its unsent bytes small, so that what a client has not taken is in `out`. */
    int lowat = RELAY_NOTSENT_LOWAT;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
    c->rev = event_new(r->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(r->base, c->fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->next = r->clients;
    if (r->clients) r->clients->prev = c;
    r->clients = c;
    atomic_fetch_add(&r->nclients, 1);
    if (has_filter(c)) r->filtering++;
    if (c->rev == NULL || c->wev == NULL) {
        relay_client_kill(c, "out of memory", 1);
        return;
    }
    event_add(c->rev, NULL);
    char since[EVID_TEXT_MAX] = "";
    if (c->req.has_since) evid_format(c->req.since, since);
    log_at(LOG_DEBUG, "relay.client_connected", "peer", c->peer, "since", since[0] ? since : NULL, "server_id",
           c->req.server_id[0] ? c->req.server_id : NULL, "migration_id",
           c->req.migration_id[0] ? c->req.migration_id : NULL, NULL);
    if (r->stop_deadline) {
        relay_client_close(c, WSFRAME_CLOSE_GOING_AWAY, "server shutting down");
    } else if (c->req.has_since) {
        c->state = CLIENT_WAITING;
        c->cursor = c->req.since;
        relay_redis_replay(r, c);
    } else if (c->req.has_start && r->pos_known && evid_cmp(r->pos, c->req.start) > 0) {
        /* events came between its handshake and now: they are replayed, then it is live */
        c->state = CLIENT_WAITING;
        c->cursor = c->req.since = c->req.start;
        c->open_start = evid_cmp(c->req.start, (evid_t){0, 0}) == 0;
        relay_redis_replay(r, c);
    } else {
        c->state = CLIENT_LIVE;
    }
}
