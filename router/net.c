/* net.c - the router's game port: one libevent loop that reads each player's greeting
 * (bounded in bytes and time), routes it to the backend of the server its host names (or
 * into a waiting room, or refuses it with a login Disconnect), splices the bytes both
 * ways, and sends Transfer packets when the bridge moves players. The waiting room itself
 * (a limbo in the configuration state) is limbo.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "router/net_private.h"

/* Bytes one direction of a splice may queue for a slow reader before the router stops
 * reading the other side: large enough for a chunk burst of a busy server (a few hundred
 * KiB), small enough that 10,000 players cannot pin gigabytes. */
#define SPLICE_QUEUE_MAX (2u << 20)

/* Bytes the router reads from a backend in one read(2), and writes to a player in one
 * write(2). libevent 2.1 reads a bufferevent at most 4 KiB at a time (EVBUFFER_MAX_READ,
 * not raised by bufferevent_set_max_single_read), which made the splice a system call, a
 * FIONREAD and an epoll round per 4 KiB; the backend's side is therefore read by the
 * router itself (on_backend_readable). 256 KiB is what a loopback or LAN socket holds
 * after one wake-up of a busy stream; the buffer is the loop thread's own (one loop, and
 * every callback holds rt->lock), so it costs 256 KiB once, not per player. */
#define SPLICE_READ_MAX (256u << 10)
static uint8_t splice_buf[SPLICE_READ_MAX];

/* ------------------------------------------------------------------------ helpers */

static void ms_to_tv(long long ms, struct timeval *tv) {
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

void conn_timer(conn_t *c, long long ms) {
    struct timeval tv;
    ms_to_tv(ms, &tv);
    evtimer_add(c->timer, &tv);
}

/* Drops the backend's connection: its read event first, while its fd is open. */
static void backend_free(conn_t *c) {
    if (c->backend_rd) event_free(c->backend_rd);
    c->backend_rd = NULL;
    if (c->backend) bufferevent_free(c->backend);
    c->backend = NULL;
}

void conn_free(conn_t *c) {
    router_t *rt = c->rt;
    if (c->client) bufferevent_free(c->client);
    backend_free(c);
    if (c->timer) event_free(c->timer);
    if (c->prev) c->prev->next = c->next;
    else rt->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    rt->n_conns--;
    free(c);
}

/* Closes once what is queued for the client is written (a Disconnect), or at the timer. */
static void on_flushed(struct bufferevent *bev, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    (void)bev;
    pthread_mutex_lock(&rt->lock);
    conn_free(c);
    pthread_mutex_unlock(&rt->lock);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg);

void conn_close_after_write(conn_t *c) {
    c->phase = PHASE_CLOSING;
    backend_free(c);
    bufferevent_disable(c->client, EV_READ);
    bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
    bufferevent_setcb(c->client, NULL, on_flushed, on_client_event, c);
    conn_timer(c, c->rt->leave_grace_ms);
    /* Deferred: callers hold rt->lock, and on_flushed takes it. Triggered at once, it ran
     * on this stack and the event loop locked itself (a backend that hung up after all it
     * sent had reached the player froze the router; found by bench/router). libevent
     * clears a bufferevent's callbacks when it is freed, so a connection freed before the
     * deferred call is never touched by it. */
    if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0)
        bufferevent_trigger(c->client, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void conn_leave(conn_t *c) {
    c->phase = PHASE_LEAVING;
    c->leaving = true;
    backend_free(c);
    bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
    bufferevent_enable(c->client, EV_READ);
    conn_timer(c, c->rt->leave_grace_ms);
}

void conn_write(conn_t *c, const mcbuf_t *b) {
    if (mcbuf_status(b) == 0) bufferevent_write(c->client, b->buf, b->len);
}

void conn_disconnect_login(conn_t *c, const char *text) {
    char json[700];
    greet_json_text(text, json, sizeof json);
    mcbuf_t b;
    mcbuf_init(&b);
    /* the login Disconnect is id 0x00 with JSON text in every version since 1.7, so 766's
     * row serves clients of any version */
    mcproto_login_disconnect_write(&b, MCPROTO_PV_1_20_5, json, strlen(json));
    conn_write(c, &b);
    mcbuf_free(&b);
    conn_close_after_write(c);
}

void net_fail(router_t *rt, conn_t *c, router_fail_t why, const char *event, const char *detail) {
    rt->m.failures[why]++;
    log_at(why == FAIL_BACKEND || why == FAIL_NO_INJECT ? LOG_WARN : LOG_INFO, event, "ip", c->ip, "player",
           c->player[0] ? c->player : NULL, "where", c->where[0] ? c->where : NULL, "detail", detail, NULL);
}

/* ------------------------------------------------------------------------ splice */

/* Moves what `from` holds to `to`'s output; stops reading `from` while `to` is behind. */
static void pump(struct bufferevent *from, struct bufferevent *to) {
    struct evbuffer *out = bufferevent_get_output(to);
    evbuffer_add_buffer(out, bufferevent_get_input(from));
    if (evbuffer_get_length(out) >= SPLICE_QUEUE_MAX) {
        bufferevent_disable(from, EV_READ);
        bufferevent_setwatermark(to, EV_WRITE, SPLICE_QUEUE_MAX / 2, SPLICE_QUEUE_MAX);
    }
}

/* Sends the Transfer a marked spliced connection waits for, if its stream stands at a
 * boundary where one may go; the backend is closed then (the player leaves it). */
static bool splice_try_inject(conn_t *c) {
    router_t *rt = c->rt;
    if (c->go_to[0] == '\0' || c->leaving) return false;
    if (c->track.state == CONNTRACK_OPAQUE) {
        /* it turned encrypted after it was marked: no Transfer can reach it */
        net_fail(rt, c, FAIL_NO_INJECT, "router.cannot_transfer", "the stream is encrypted (online-mode backend)");
        conn_close_after_write(c);
        return true;
    }
    if (!conntrack_can_inject(&c->track)) return false;
    mcbuf_t b;
    mcbuf_init(&b);
    if (conntrack_write_transfer(&c->track, &b, rt->public_host, rt->public_port) == 0) conn_write(c, &b);
    mcbuf_free(&b);
    rt->m.transferred++;
    log_at(LOG_DEBUG, "router.transfer_sent", "player", c->player, "from", c->where, "to", c->go_to, "state",
           conntrack_state_name(c->track.state), NULL);
    conn_leave(c);
    return true;
}

/* Queues `n` bytes of the backend's stream for the player: written at once when nothing
 * is queued before them (no copy, no write event to arm), the rest appended to the
 * client's output, which its bufferevent writes as the player reads. A failed write
 * leaves the bytes queued: the bufferevent's own write then reports the error
 * (on_client_event). */
static void splice_to_client(conn_t *c, const uint8_t *p, size_t n) {
    struct evbuffer *out = bufferevent_get_output(c->client);
    if (evbuffer_get_length(out) == 0) {
        ssize_t w = send(bufferevent_getfd(c->client), p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) p += w, n -= (size_t)w;
    }
    if (n > 0) evbuffer_add(out, p, n);
}

/* The backend ended the session: its last bytes (a Disconnect) are with the player or
 * queued for it; close once they are written. */
static void splice_backend_ended(conn_t *c) {
    conn_close_after_write(c);
}

/* Follows `n` bytes the backend sent through conntrack. Returns how many of them pass to
 * the player unchanged: all, or, for a player marked to move (`want`), those up to the
 * first frame boundary where its Transfer may go (what follows is dropped with the
 * backend, splice_try_inject). */
static size_t splice_track(conn_t *c, const uint8_t *p, size_t n, bool want) {
    if (c->track.state == CONNTRACK_OPAQUE) return n;
    size_t off = 0;
    while (off < n) {
        size_t k = conntrack_feed(&c->track, p + off, n - off, want);
        off += k;
        if (want && (conntrack_can_inject(&c->track) || c->track.state == CONNTRACK_OPAQUE)) break;
        if (k == 0) return n; /* cannot happen (0 means a Transfer fits here); never strand a byte */
    }
    return off;
}

/* The backend's socket is readable (a persistent event of the router's own, not the
 * backend bufferevent's read, see SPLICE_READ_MAX): one read(2) of up to
 * SPLICE_READ_MAX, followed through conntrack and passed on unchanged. When nothing is
 * queued for the player the bytes are read into splice_buf and sent at once; behind a
 * queue they are read straight into the end of the client's output (no copy). A player
 * marked to move gets its Transfer at the first frame boundary. Stops reading while the
 * player is SPLICE_QUEUE_MAX behind (on_drained reads again). */
static void on_backend_readable(evutil_socket_t fd, short what, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    (void)what;
    pthread_mutex_lock(&rt->lock);
    struct evbuffer *out = bufferevent_get_output(c->client);
    bool queued = evbuffer_get_length(out) > 0;
    struct evbuffer_iovec v = {.iov_base = splice_buf, .iov_len = sizeof splice_buf};
    if (queued && evbuffer_reserve_space(out, SPLICE_READ_MAX, &v, 1) != 1) {
        queued = false; /* no memory for it: splice_buf, then splice_to_client appends */
        v.iov_base = splice_buf;
    }
    ssize_t n = read(fd, v.iov_base, SPLICE_READ_MAX);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) goto out;
    if (n <= 0) {
        splice_backend_ended(c);
        goto out;
    }
    bool want = c->go_to[0] != '\0' && !c->leaving;
    size_t pass = splice_track(c, v.iov_base, (size_t)n, want);
    if (queued) {
        v.iov_len = pass;
        evbuffer_commit_space(out, &v, 1);
    } else {
        splice_to_client(c, v.iov_base, pass);
    }
    if (want && splice_try_inject(c)) goto out; /* the backend is gone */
    if (evbuffer_get_length(out) >= SPLICE_QUEUE_MAX) {
        event_del(c->backend_rd);
        bufferevent_setwatermark(c->client, EV_WRITE, SPLICE_QUEUE_MAX / 2, SPLICE_QUEUE_MAX);
    }
out:
    pthread_mutex_unlock(&rt->lock);
}

/* A side drained below the mark: read the other side again. */
static void on_drained(struct bufferevent *bev, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    pthread_mutex_lock(&rt->lock);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    if (c->phase == PHASE_SPLICE && bev == c->client && c->backend_rd) event_add(c->backend_rd, NULL);
    else if (c->phase == PHASE_SPLICE && bev == c->backend) bufferevent_enable(c->client, EV_READ);
    pthread_mutex_unlock(&rt->lock);
}

static void on_backend_event(struct bufferevent *bev, short what, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    (void)bev;
    pthread_mutex_lock(&rt->lock);
    if (what & BEV_EVENT_CONNECTED) {
        net_splice_begin(c);
    } else if (c->phase == PHASE_CONNECTING) {
        char why[TABLE_ADDR_MAX + 128];
        snprintf(why, sizeof why, "%s: %.100s", c->backend_addr,
                 (what & BEV_EVENT_TIMEOUT) ? "timed out" : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        net_fail(rt, c, FAIL_BACKEND, "router.backend_unreachable", why);
        char text[300];
        snprintf(text, sizeof text, "Server %s is not reachable right now; try again in a moment.", c->where);
        conn_disconnect_login(c, text);
    } else {
        /* an error writing to the backend (its reads are on_backend_readable's) */
        splice_backend_ended(c);
    }
    pthread_mutex_unlock(&rt->lock);
}

void net_splice_begin(conn_t *c) {
    router_t *rt = c->rt;
    c->phase = PHASE_SPLICE;
    evtimer_del(c->timer);
    bufferevent_set_timeouts(c->backend, NULL, NULL); /* it bounded the connect only */
    conntrack_init(&c->track, c->greet.protocol);
    evutil_socket_t fd = bufferevent_getfd(c->backend);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* the greeting as the backend expects it: a transfer's intent rewritten to a login
     * for backends that refuse intent 3 (minecraft-protocol servers, vanilla without
     * accepts-transfers) */
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_handshake_t hs = {.protocol = c->greet.protocol,
                              .host = {c->greet.host, c->greet.host_len},
                              .port = c->greet.port,
                              .intent = c->greet.intent};
    if (hs.intent == MCPROTO_INTENT_TRANSFER && rt->rewrite_transfer) hs.intent = MCPROTO_INTENT_LOGIN;
    mcproto_handshake_write(&b, &hs);
    if (mcbuf_status(&b) == 0) bufferevent_write(c->backend, b.buf, b.len);
    mcbuf_free(&b);
    /* the Login Start and whatever the client sent after it, untouched */
    struct evbuffer *cin = bufferevent_get_input(c->client);
    evbuffer_drain(cin, c->greet.handshake_len);
    evbuffer_add_buffer(bufferevent_get_output(c->backend), cin);
    /* the backend bufferevent writes what the client sends; its reads are the router's */
    bufferevent_setcb(c->backend, NULL, on_drained, on_backend_event, c);
    bufferevent_disable(c->backend, EV_READ);
    c->backend_rd = event_new(rt->base, fd, EV_READ | EV_PERSIST, on_backend_readable, c);
    if (c->backend_rd == NULL || event_add(c->backend_rd, NULL) != 0) {
        net_fail(rt, c, FAIL_BACKEND, "router.backend_unreachable", "out of memory");
        conn_close_after_write(c);
        return;
    }
    bufferevent_set_max_single_write(c->client, SPLICE_READ_MAX);
    bufferevent_enable(c->client, EV_READ);
    if (c->greet.intent == MCPROTO_INTENT_STATUS) {
        rt->m.status++;
        return;
    }
    rt->m.routed++;
    log_at(LOG_INFO, "router.routed", "player", c->player, "ip", c->ip, "server", c->where, "backend",
           c->backend_addr, NULL);
}

/* Splits host:port ([v6]:port) into `host` and *port. 0 or MIG_EINVALID. */
static int split_address(const char *addr, char *host, size_t cap, int *port) {
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) return MIG_EINVALID;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
    if (hl == 0 || hl >= cap) return MIG_EINVALID;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = atoi(colon + 1);
    return *port > 0 && *port < 65536 ? 0 : MIG_EINVALID;
}

/* Connects `c` to `address`; the splice begins on connection (on_backend_event). */
static void connect_backend(conn_t *c, const char *address) {
    router_t *rt = c->rt;
    char host[TABLE_ADDR_MAX];
    int port;
    snprintf(c->backend_addr, sizeof c->backend_addr, "%s", address);
    c->phase = PHASE_CONNECTING;
    bufferevent_disable(c->client, EV_READ);
    c->backend = bufferevent_socket_new(rt->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->backend == NULL || split_address(address, host, sizeof host, &port) != 0) {
        net_fail(rt, c, FAIL_BACKEND, "router.backend_unreachable", "bad address");
        conn_disconnect_login(c, "This server's address is not valid; tell the operator.");
        return;
    }
    bufferevent_setcb(c->backend, NULL, NULL, on_backend_event, c);
    struct timeval tv;
    ms_to_tv(rt->connect_timeout_ms, &tv);
    bufferevent_set_timeouts(c->backend, NULL, &tv);
    conn_timer(c, rt->connect_timeout_ms + 100);
    if (bufferevent_socket_connect_hostname(c->backend, rt->dns, AF_UNSPEC, host, port) != 0) {
        net_fail(rt, c, FAIL_BACKEND, "router.backend_unreachable", "connect failed");
        conn_disconnect_login(c, "This server is not reachable right now; try again in a moment.");
        return;
    }
}

/* ------------------------------------------------------------------------ routing */

/* Answers a status ping itself (a room, an unknown host): the status, then the pong. */
static void status_answer(conn_t *c) {
    struct evbuffer *in = bufferevent_get_input(c->client);
    for (;;) {
        size_t n = evbuffer_get_length(in);
        if (n == 0) return;
        uint8_t *p = evbuffer_pullup(in, n < 64 ? (ssize_t)n : 64);
        mcproto_frame_t f;
        int k = mcproto_frame_decode(p, n < 64 ? n : 64, 64, &f);
        if (k == 0) return;
        mcbuf_t b;
        mcbuf_init(&b);
        int64_t payload;
        if (k > 0 && f.id == 0 && f.body_len == 0) {
            greet_status_write(&b, c->greet.protocol, c->status_text, c->status_online);
            conn_write(c, &b);
            mcbuf_free(&b);
            evbuffer_drain(in, (size_t)k);
            continue;
        }
        if (k > 0 && f.id == 1 && mcproto_ping_read(f.body, f.body_len, &payload) == 0) {
            mcproto_pong_write(&b, payload);
            conn_write(c, &b);
        }
        mcbuf_free(&b);
        conn_close_after_write(c);
        return;
    }
}

/* Counts the players held in room `name` (for its status answer). */
static int room_count(router_t *rt, const char *name) {
    int n = 0;
    for (conn_t *c = rt->conns; c; c = c->next)
        if (c->phase == PHASE_LIMBO && !c->leaving && strcmp(c->where, name) == 0) n++;
    return n;
}

/* Picks where a greeted connection goes and starts it there. */
static void route(conn_t *c) {
    router_t *rt = c->rt;
    table_t *t = &rt->table;
    char host[HOSTMAP_HOST_MAX], name[TABLE_NAME_MAX] = "";
    bool status = c->greet.intent == MCPROTO_INTENT_STATUS;
    snprintf(c->player, sizeof c->player, "%s", c->greet.name);
    int64_t now = timefmt_mono_ms();
    /* a player the router itself sent away comes back by its name: its Transfer pointed
     * at the router's public address, which need not name the destination. A transfer
     * handshake takes its pending destination first; a plain login (a client that follows
     * a Transfer as a new login, as minecraft-protocol bots do) only when its host names
     * nothing */
    bool sent = c->greet.intent == MCPROTO_INTENT_TRANSFER &&
                table_pending_take(t, c->player, c->ip, now, name, sizeof name) == 1;
    if (!sent && (hostmap_clean(c->greet.host, c->greet.host_len, host, sizeof host) < 0 ||
                  hostmap_lookup(&rt->hosts, host, name, sizeof name) != 0))
        name[0] = '\0';
    if (!sent && !status && table_server(t, name) == NULL && table_room(t, name) < 0 &&
        table_pending_take(t, c->player, c->ip, now, name, sizeof name) != 1)
        name[0] = '\0';
    table_server_t *s = name[0] ? table_server(t, name) : NULL;
    int room = s ? -1 : name[0] ? table_room(t, name) : -1;
    if (s == NULL && room < 0) {
        char text[400];
        const char *shown = hostmap_clean(c->greet.host, c->greet.host_len, host, sizeof host) > 0 ? host : "?";
        snprintf(text, sizeof text, "No server is known as \"%s\" on this address.", shown);
        net_fail(rt, c, FAIL_UNKNOWN_HOST, "router.unknown_host", shown);
        if (status) {
            c->phase = PHASE_STATUS;
            evbuffer_drain(bufferevent_get_input(c->client), c->greet.handshake_len);
            snprintf(c->status_text, sizeof c->status_text, "%s", text);
            conn_timer(c, rt->handshake_timeout_ms);
            status_answer(c);
            return;
        }
        conn_disconnect_login(c, text);
        return;
    }
    if (status && s) {
        snprintf(c->where, sizeof c->where, "%s", s->name);
        connect_backend(c, s->address);
        return;
    }
    /* a server whose players wait in a room sends its new joins there too */
    if (s && s->parked_in[0]) room = table_room(t, s->parked_in), s = NULL;
    if (room >= 0) {
        snprintf(c->where, sizeof c->where, "%s", t->rooms[room]);
        if (status) {
            c->phase = PHASE_STATUS;
            evbuffer_drain(bufferevent_get_input(c->client), c->greet.handshake_len);
            rt->m.status++;
            snprintf(c->status_text, sizeof c->status_text, "%s", rt->message);
            c->status_online = room_count(rt, c->where);
            conn_timer(c, rt->handshake_timeout_ms);
            status_answer(c);
            return;
        }
        if (c->greet.protocol < MCPROTO_PV_1_20_5 || !mcproto_protocol_known(c->greet.protocol)) {
            char text[400];
            snprintf(text, sizeof text, "%s — reconnect in about %lld s.", rt->message, rt->expected_wait_s);
            net_fail(rt, c, FAIL_OLD_CLIENT, "router.old_client", "a client before 1.20.5 cannot wait in a room");
            conn_disconnect_login(c, text);
            return;
        }
        limbo_enter(c);
        return;
    }
    snprintf(c->where, sizeof c->where, "%s", s->name);
    connect_backend(c, s->address);
}

/* ------------------------------------------------------------------------ client side */

static void on_client_read(struct bufferevent *bev, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    pthread_mutex_lock(&rt->lock);
    struct evbuffer *in = bufferevent_get_input(bev);
    switch (c->phase) {
    case PHASE_GREET: {
        size_t n = evbuffer_get_length(in);
        size_t take = n < GREET_BUFFER_MAX ? n : GREET_BUFFER_MAX;
        int k = greet_parse(evbuffer_pullup(in, (ssize_t)take), take, &c->greet);
        if (k < 0 || (k == 0 && n >= GREET_BUFFER_MAX)) {
            net_fail(rt, c, FAIL_BAD_HANDSHAKE, "router.bad_handshake", k < 0 ? "not a handshake" : "too large");
            conn_free(c);
        } else if (k > 0) {
            evtimer_del(c->timer);
            route(c);
        }
        break;
    }
    case PHASE_SPLICE:
        if (c->backend) pump(bev, c->backend);
        break;
    case PHASE_LIMBO:
        limbo_read(c);
        break;
    case PHASE_STATUS:
        status_answer(c);
        break;
    default:
        evbuffer_drain(in, evbuffer_get_length(in));
        break;
    }
    pthread_mutex_unlock(&rt->lock);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    (void)bev;
    (void)what;
    pthread_mutex_lock(&rt->lock);
    if (c->phase == PHASE_SPLICE && c->backend) {
        /* the player left: what it sent last still goes to the backend, then it closes */
        evbuffer_add_buffer(bufferevent_get_output(c->backend), bufferevent_get_input(c->client));
    }
    if (c->phase == PHASE_LIMBO && !c->leaving)
        log_at(LOG_INFO, "router.left_room", "player", c->player, "room", c->where, NULL);
    conn_free(c);
    pthread_mutex_unlock(&rt->lock);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    conn_t *c = arg;
    router_t *rt = c->rt;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&rt->lock);
    switch (c->phase) {
    case PHASE_GREET:
        net_fail(rt, c, FAIL_HANDSHAKE_TIMEOUT, "router.handshake_timeout", "no greeting in time");
        conn_free(c);
        break;
    case PHASE_LIMBO:
        limbo_tick(c);
        break;
    case PHASE_CONNECTING:
        net_fail(rt, c, FAIL_BACKEND, "router.backend_unreachable", "connect timed out");
        conn_disconnect_login(c, "This server is not reachable right now; try again in a moment.");
        break;
    default: /* closing, status: their time is up */
        conn_free(c);
        break;
    }
    pthread_mutex_unlock(&rt->lock);
}

/* ------------------------------------------------------------------------ accept */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
    router_t *rt = arg;
    (void)l;
    (void)salen;
    char ip[TABLE_IP_MAX] = "?";
    if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    pthread_mutex_lock(&rt->lock);
    long same = 0;
    for (conn_t *o = rt->conns; o; o = o->next) same += strcmp(o->ip, ip) == 0;
    router_fail_t why = FAIL_COUNT;
    if ((long long)rt->n_conns >= rt->conns_max) why = FAIL_CONN_LIMIT;
    else if (same >= rt->per_ip_max) why = FAIL_IP_LIMIT;
    conn_t *c = why == FAIL_COUNT ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        if (why == FAIL_COUNT) why = FAIL_CONN_LIMIT;
        rt->m.failures[why]++;
        log_at(LOG_INFO, "router.refused", "ip", ip, "why", why == FAIL_IP_LIMIT ? "per-ip limit" : "connection limit",
               NULL);
        evutil_closesocket(fd);
        pthread_mutex_unlock(&rt->lock);
        return;
    }
    c->rt = rt;
    c->id = ++rt->next_id;
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    c->next = rt->conns;
    if (rt->conns) rt->conns->prev = c;
    rt->conns = c;
    rt->n_conns++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->client = bufferevent_socket_new(rt->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(rt->base, on_timer, c);
    if (c->client == NULL || c->timer == NULL) {
        if (c->client == NULL) evutil_closesocket(fd);
        conn_free(c);
        pthread_mutex_unlock(&rt->lock);
        return;
    }
    bufferevent_setcb(c->client, on_client_read, on_drained, on_client_event, c);
    bufferevent_enable(c->client, EV_READ);
    conn_timer(c, rt->handshake_timeout_ms);
    pthread_mutex_unlock(&rt->lock);
}

/* ------------------------------------------------------------------------ the bridge's marks */

/* Acts on the marks handlers left: Transfers to send, connections to close. */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
    router_t *rt = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&rt->lock);
    conn_t *next;
    for (conn_t *c = rt->conns; c; c = next) {
        next = c->next;
        if (c->drop) {
            c->drop = false;
            if (c->phase == PHASE_LIMBO) {
                mcbuf_t b;
                mcbuf_init(&b);
                mcproto_disconnect_write(&b, c->greet.protocol, false, c->drop_text, strlen(c->drop_text));
                conn_write(c, &b);
                mcbuf_free(&b);
            }
            conn_close_after_write(c);
            continue;
        }
        if (c->go_to[0] == '\0' || c->leaving) continue;
        if (c->phase == PHASE_SPLICE) splice_try_inject(c);
        else if (c->phase == PHASE_LIMBO) limbo_try_transfer(c);
    }
    pthread_mutex_unlock(&rt->lock);
}

void net_wake(router_t *rt) {
    event_active(rt->wake, EV_READ, 0);
}

static bool injectable(const conn_t *c) {
    if (c->phase == PHASE_LIMBO) return true;
    return c->phase == PHASE_SPLICE && c->track.state != CONNTRACK_OPAQUE;
}

int net_plan_transfer(router_t *rt, const char *key, const char *from, const char *to, const table_memo_t **memo) {
    size_t n = 0;
    for (conn_t *c = rt->conns; c; c = c->next) n++;
    table_player_t *ps = calloc(n ? n : 1, sizeof *ps);
    table_action_t *acts = calloc(n ? n : 1, sizeof *acts);
    conn_t **cs = calloc(n ? n : 1, sizeof *cs);
    int rv = MIG_ENOMEM;
    if (ps == NULL || acts == NULL || cs == NULL) goto out;
    size_t i = 0;
    for (conn_t *c = rt->conns; c; c = c->next) {
        bool on = (c->phase == PHASE_SPLICE || c->phase == PHASE_LIMBO || c->phase == PHASE_CONNECTING) &&
                  c->greet.intent != MCPROTO_INTENT_STATUS && c->player[0];
        cs[i] = c;
        ps[i++] = (table_player_t){.name = c->player,
                                   .where = on ? c->where : "",
                                   .backend = c->phase == PHASE_LIMBO ? "" : c->backend_addr,
                                   .injectable = injectable(c),
                                   .leaving = c->leaving || c->go_to[0] != '\0' || c->drop};
    }
    rv = table_plan_transfer(&rt->table, key, from, to, ps, n, acts, memo);
    if (rv != 0) goto out;
    const table_server_t *ts = table_server(&rt->table, to);
    const char *dest = ts ? ts->name : rt->table.rooms[table_room(&rt->table, to)];
    int64_t now = timefmt_mono_ms();
    for (i = 0; i < n; i++) {
        conn_t *c = cs[i];
        if (acts[i] == TABLE_MOVE) {
            snprintf(c->go_to, sizeof c->go_to, "%s", dest);
            table_pending_add(&rt->table, c->player, c->ip, dest, now, rt->transfer_ttl_ms);
        } else if (acts[i] == TABLE_DROP) {
            c->drop = true;
            snprintf(c->drop_text, sizeof c->drop_text, "%s", rt->message);
            net_fail(rt, c, FAIL_NO_INJECT, "router.cannot_transfer",
                     c->greet.protocol < MCPROTO_PV_1_20_5 ? "a client before 1.20.5 has no Transfer"
                                                           : "the stream is encrypted (online-mode backend)");
        }
    }
out:
    free(ps);
    free(acts);
    free(cs);
    return rv;
}

int net_close_room(router_t *rt, const char *name) {
    int n = 0;
    for (conn_t *c = rt->conns; c; c = c->next)
        if (c->phase == PHASE_LIMBO && !c->leaving && strcasecmp(c->where, name) == 0) {
            c->drop = true;
            snprintf(c->drop_text, sizeof c->drop_text, "The waiting room closed; please reconnect.");
            n++;
        }
    return n;
}

/* Adds `name` to the array unless it is there. */
static void add_unique(void *arg, const char *name) {
    cJSON *a = arg, *x;
    cJSON_ArrayForEach(x, a) if (strcmp(x->valuestring, name) == 0) return;
    cJSON_AddItemToArray(a, cJSON_CreateString(name));
}

void net_list_players(router_t *rt, const char *name, cJSON *out) {
    for (conn_t *c = rt->conns; c; c = c->next) {
        if (c->leaving || c->go_to[0] || c->drop || !c->player[0] || c->greet.intent == MCPROTO_INTENT_STATUS) continue;
        if (c->phase != PHASE_SPLICE && c->phase != PHASE_LIMBO && c->phase != PHASE_CONNECTING) continue;
        if (strcasecmp(c->where, name) == 0) add_unique(out, c->player);
    }
    table_pending_list(&rt->table, name, timefmt_mono_ms(), add_unique, out);
}

void net_counts(router_t *rt, long *conns, long *held, long *spliced) {
    *conns = (long)rt->n_conns, *held = 0, *spliced = 0;
    for (conn_t *c = rt->conns; c; c = c->next) {
        if (c->phase == PHASE_LIMBO && !c->leaving) (*held)++;
        if (c->phase == PHASE_SPLICE && c->greet.intent != MCPROTO_INTENT_STATUS) (*spliced)++;
    }
}

/* ------------------------------------------------------------------------ start, run, stop */

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    router_t *rt = arg;
    (void)sig;
    (void)what;
    event_base_loopexit(rt->base, NULL);
}

int net_start(router_t *rt, const char *listen, char *err, size_t errlen) {
    evthread_use_pthreads();
    rt->base = event_base_new();
    if (rt->base == NULL) return snprintf(err, errlen, "cannot create the event loop"), MIG_EIO;
    evthread_make_base_notifiable(rt->base);
    rt->dns = evdns_base_new(rt->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (rt->dns == NULL) rt->dns = evdns_base_new(rt->base, 0); /* no resolv.conf: addresses only */
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    /* libevent's parser refuses port 0 (any free port, which tests use): parse port 1
     * in its place and put the 0 back */
    char spec[300];
    snprintf(spec, sizeof spec, "%s", listen);
    size_t sn = strlen(spec);
    bool any = sn >= 2 && strcmp(spec + sn - 2, ":0") == 0;
    if (any) spec[sn - 1] = '1';
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sl) != 0)
        return snprintf(err, errlen, "MIG_ROUTER_LISTEN: host:port, not %s", listen), MIG_EINVALID;
    if (any && ss.ss_family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    else if (any) ((struct sockaddr_in *)&ss)->sin_port = 0;
    rt->listener = evconnlistener_new_bind(rt->base, on_accept, rt, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                           (struct sockaddr *)&ss, sl);
    if (rt->listener == NULL) return snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno)), MIG_EIO;
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(evconnlistener_get_fd(rt->listener), (struct sockaddr *)&bound, &bl);
    rt->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    rt->wake = event_new(rt->base, -1, 0, on_wake, rt);
    rt->sigterm = evsignal_new(rt->base, SIGTERM, on_signal, rt);
    rt->sigint = evsignal_new(rt->base, SIGINT, on_signal, rt);
    if (rt->wake == NULL || rt->sigterm == NULL || rt->sigint == NULL) return snprintf(err, errlen, "out of memory"), MIG_ENOMEM;
    event_add(rt->sigterm, NULL);
    event_add(rt->sigint, NULL);
    return 0;
}

void net_run(router_t *rt) {
    event_base_dispatch(rt->base);
}

void net_free(router_t *rt) {
    pthread_mutex_lock(&rt->lock);
    while (rt->conns) conn_free(rt->conns);
    pthread_mutex_unlock(&rt->lock);
    if (rt->listener) evconnlistener_free(rt->listener);
    if (rt->wake) event_free(rt->wake);
    if (rt->sigterm) event_free(rt->sigterm);
    if (rt->sigint) event_free(rt->sigint);
    if (rt->dns) evdns_base_free(rt->dns, 0);
    if (rt->base) event_base_free(rt->base);
}
