/* relay_redis.c - the relay's link to Redis: the subscription to the events channel,
 * the catch-up from the stream after every (re)connect, each client's replay from its
 * ?since, and reconnects with backoff.
 *
 * Two async connections share the relay's event loop: `sub` is SUBSCRIBEd (a subscribed
 * connection can send no other command) and `cmd` reads the stream. The seam between
 * the stream and the channel is closed the same way for the relay and for each client:
 * subscribe first, read the stream after the last id had, and skip any event whose id
 * is not after the last one sent (stream ids grow, so one comparison finds both the
 * overlap and a duplicate). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>

#include "api/relay_private.h"
#include "core/wsframe.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "core/utf8.h"

/* Live messages are the stream's JSON with the id put first (lua-scripts/common.lua). */
#define LIVE_PREFIX "{\"event_id\":\""

static void catchup_next(relay_t *r);
static void catchup_start(relay_t *r);

/* ------------------------------------------------------------------------ frames */

/* A text frame of `a` then `b` (`b` may be NULL), repaired when it is not UTF-8: a
 * browser closes a WebSocket on such a frame, reconnects, is sent the same event again
 * from the stream, and loops. The API refuses such text where it comes in, but anything
 * that writes to Redis (a buggy agent's reply copied into a field, a script) can put it
 * into an event; each bad byte then goes out as U+FFFD, and the event is logged. */
static relay_frame_t *text_frame(relay_t *r, evid_t id, const char *a, size_t an, const char *b, size_t bn) {
    size_t va = utf8_valid_prefix(a, an), vb = b ? utf8_valid_prefix(b, bn) : 0;
    if (va == an && vb == bn) return relay_frame_new(WSFRAME_OP_TEXT, id, a, an, b, bn);
    char pos[EVID_TEXT_MAX];
    log_at(LOG_ERROR, "relay.invalid_utf8", "channel", r->channel, "event_id", evid_format(id, pos), "error",
           "the event is not valid UTF-8; each bad byte is sent as U+FFFD", NULL);
    size_t na = utf8_repaired_len(a, an), nb = b ? utf8_repaired_len(b, bn) : 0;
    char *fixed = malloc(na + nb + 1);
    if (fixed == NULL) return NULL;
    utf8_repair(a, an, fixed);
    if (b) utf8_repair(b, bn, fixed + na);
    relay_frame_t *f = relay_frame_new(WSFRAME_OP_TEXT, id, fixed, na + nb, NULL, 0);
    free(fixed);
    return f;
}

/* The frame of a published message, whose id is its first member. NULL (with a log
 * line) when it does not start with an event id. */
static relay_frame_t *frame_from_live(relay_t *r, const char *s, size_t n) {
    size_t pl = sizeof LIVE_PREFIX - 1;
    evid_t id;
    const char *end = n > pl && memcmp(s, LIVE_PREFIX, pl) == 0 ? memchr(s + pl, '"', n - pl) : NULL;
    if (end == NULL || evid_parse(s + pl, (size_t)(end - (s + pl)), &id) != 0) {
        log_at(LOG_WARN, "relay.bad_message", "channel", r->channel, "error", "does not begin with an event_id", NULL);
        return NULL;
    }
    return text_frame(r, id, s, n, NULL, 0);
}

/* The id of a stream entry as XRANGE answers it ([id, [field, value, ...]]); 0 or -1. */
static int entry_id(const redisReply *e, evid_t *id) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING) return -1;
    return evid_parse(e->element[0]->str, e->element[0]->len, id) == 0 ? 0 : -1;
}

/* The frame of a stream entry: its field `e` with event_id put first, exactly as the
 * live message of the same event. NULL for an entry without a JSON object in `e`. */
static relay_frame_t *frame_from_entry(relay_t *r, const redisReply *e, evid_t id) {
    const redisReply *kv = e->element[1];
    for (size_t i = 0; kv->type == REDIS_REPLY_ARRAY && i + 1 < kv->elements; i += 2) {
        const redisReply *k = kv->element[i], *v = kv->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || k->len != 1 || k->str[0] != 'e') continue;
        if (v->type != REDIS_REPLY_STRING || v->len < 2 || v->str[0] != '{') break;
        char pre[EVID_TEXT_MAX + 24];
        int pl = snprintf(pre, sizeof pre, "%s%.*s\"%s", LIVE_PREFIX, (int)e->element[0]->len, e->element[0]->str,
                          v->len > 2 ? "," : "");
        return text_frame(r, id, pre, (size_t)pl, v->str + 1, v->len - 1);
    }
    log_at(LOG_WARN, "relay.bad_entry", "stream", r->key, "id", e->element[0]->str, NULL);
    return NULL;
}

/* ------------------------------------------------------------------------ the link */

/* Forgets a context hiredis is about to free. */
static void forget(relay_t *r, const redisAsyncContext *ac) {
    if (r->sub == ac) {
        r->sub = NULL;
        r->sub_up = 0;
    }
    if (r->cmd == ac) {
        r->cmd = NULL;
        r->cmd_up = 0;
    }
}

/* The link failed (or the relay stops): frees what is left of it and, unless
 * stopping, tries again after the backoff. Pending replies are answered NULL while the
 * contexts are freed, which puts replaying clients back to waiting. */
static void link_down(relay_t *r, const char *why) {
    if (r->link == LINK_DOWN) return;
    relay_broadcast_flush(r); /* live messages already read are relayed, and move `pos` */
    link_state_t was = r->link;
    r->link = LINK_DOWN;
    atomic_store(&r->connected, 0);
    redisAsyncContext *s = r->sub, *c = r->cmd;
    r->sub = r->cmd = NULL;
    r->sub_up = r->cmd_up = 0;
    r->redis_ping_out = 0;
    relay_link_t *l; /* live messages held for the catch-up: the next one reads them again */
    while ((l = r->early.head) != NULL) {
        r->early.head = l->next;
        relay_frame_unref(l->f);
        free(l);
    }
    r->early.tail = NULL;
    r->early.bytes = 0;
    if (s) redisAsyncFree(s);
    if (c) redisAsyncFree(c);
    if (r->stop_deadline) return;
    char ms[16];
    snprintf(ms, sizeof ms, "%d", r->backoff_ms);
    log_at(was == LINK_LIVE ? LOG_WARN : LOG_INFO, "relay.disconnected", "redis", r->where, "error", why, "retry_ms",
           ms, NULL);
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->retry_ev, &tv);
    r->backoff_ms = r->backoff_ms * 2 > RELAY_BACKOFF_MAX_MS ? RELAY_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Replies to AUTH, SELECT, CLIENT SETNAME: an error ends the link (and is logged). */
static void on_setup(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    relay_t *r = privdata;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR) link_down(r, rep->str);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    relay_t *r = ac->data;
    if (status != REDIS_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", ac->errstr);
        forget(r, ac); /* hiredis frees it after this returns */
        link_down(r, why);
        return;
    }
    if (ac == r->cmd) {
        r->cmd_up = 1;
        if (r->link == LINK_CONNECTING && r->sub_up) catchup_start(r);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    relay_t *r = ac->data;
    char why[256];
    snprintf(why, sizeof why, "%s", status == REDIS_OK ? "connection closed" : ac->errstr);
    forget(r, ac);
    link_down(r, why);
}

/* Opens one context on the relay's loop; NULL with the reason in `why`. */
static redisAsyncContext *open_context(relay_t *r, const char *name, char *why, size_t whylen) {
    redisAsyncContext *ac = r->addr.path[0] ? redisAsyncConnectUnix(r->addr.path)
                                            : redisAsyncConnect(r->addr.host, r->addr.port);
    if (ac == NULL || ac->err) {
        snprintf(why, whylen, "%s", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        return NULL;
    }
    ac->data = r;
    if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
        snprintf(why, whylen, "cannot attach to the event loop");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (!r->addr.path[0]) redisEnableKeepAlive(&ac->c); /* finds a peer gone without a word */
    if (r->addr.password[0] && r->addr.user[0])
        redisAsyncCommand(ac, on_setup, r, "AUTH %s %s", r->addr.user, r->addr.password);
    else if (r->addr.password[0])
        redisAsyncCommand(ac, on_setup, r, "AUTH %s", r->addr.password);
    /* Also the first write, which makes hiredis 0.14 report the connect at all. */
    redisAsyncCommand(ac, on_setup, r, "CLIENT SETNAME %s", name);
    return ac;
}

/* The subscription's replies: the confirmation, then every message. */
static void on_message(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    relay_t *r = privdata;
    redisReply *rep = reply;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        r->sub_up = 1;
        if (r->link == LINK_CONNECTING && r->cmd_up) catchup_start(r);
        return;
    }
    if (strcmp(kind, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING) return;
    relay_frame_t *f = frame_from_live(r, rep->element[2]->str, rep->element[2]->len);
    if (f == NULL) return;
    if (r->link == LINK_LIVE) {
        relay_broadcast_later(r, f);
    } else {
        /* the catch-up is reading the stream: these come after it, in order */
        relay_link_t *l = malloc(sizeof *l);
        if (l) {
            l->f = f;
            l->next = NULL;
            f->refs++;
            if (r->early.tail) r->early.tail->next = l;
            else r->early.head = l;
            r->early.tail = l;
            r->early.bytes += f->len;
        }
    }
    relay_frame_unref(f);
}

void relay_redis_where(relay_t *r) {
    if (r->addr.path[0]) snprintf(r->where, sizeof r->where, "unix://%s", r->addr.path);
    else snprintf(r->where, sizeof r->where, "%s:%d/%d", r->addr.host, r->addr.port, r->addr.db);
}

void relay_redis_connect(relay_t *r) {
    char why[512] = "";
    r->link = LINK_CONNECTING;
    r->link_since = timefmt_mono_ms();
    if (r->redis.sentinels && *r->redis.sentinels) {
        /* Ask where the primary is now: after a failover the sentinels name the new one.
         * This blocks the relay's loop for a few short timeouts at most, while it has no
         * live link to serve anyway; clients keep their sockets and catch up after. */
        if (rconn_resolve(&r->redis, &r->addr, why, sizeof why) != 0) {
            link_down(r, why);
            return;
        }
        relay_redis_where(r);
    }
    r->sub = open_context(r, "mig-relay-sub", why, sizeof why);
    if (r->sub) r->cmd = open_context(r, "mig-relay-cmd", why, sizeof why);
    if (r->sub == NULL || r->cmd == NULL) {
        link_down(r, why);
        return;
    }
    if (r->addr.db) redisAsyncCommand(r->cmd, on_setup, r, "SELECT %d", r->addr.db);
    redisAsyncCommand(r->sub, on_message, r, "SUBSCRIBE %s", r->channel);
}

void relay_redis_on_retry(int fd, short what, void *arg) {
    (void)fd;
    (void)what;
    relay_redis_connect(arg);
}

void relay_redis_close(relay_t *r) {
    event_del(r->retry_ev);
    link_down(r, "relay stopping");
}

static void on_pong(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    relay_t *r = privdata;
    if (reply) r->redis_ping_out = 0;
}

void relay_redis_tick(relay_t *r, int64_t now) {
    if (r->link == LINK_CONNECTING && now - r->link_since > RELAY_CONNECT_TIMEOUT_MS) {
        link_down(r, "timed out connecting");
        return;
    }
    if (!r->cmd_up || now < r->next_redis_ping) return;
    if (r->redis_ping_out) { /* a whole interval without an answer: the link is dead */
        link_down(r, "no answer to PING");
        return;
    }
    r->redis_ping_out = 1;
    r->next_redis_ping = now + RELAY_REDIS_PING_MS;
    redisAsyncCommand(r->cmd, on_pong, r, "PING");
}

/* ------------------------------------------------------------------------ catch-up */

/* Done reading the stream: relay what came live meanwhile (the overlap is skipped by
 * id), go live, and start the replays that waited for Redis. */
static void catchup_done(relay_t *r) {
    r->link = LINK_LIVE;
    atomic_store(&r->connected, 1);
    r->backoff_ms = RELAY_BACKOFF_MIN_MS;
    relay_link_t *l;
    while ((l = r->early.head) != NULL) {
        r->early.head = l->next;
        r->early.bytes -= l->f->len;
        relay_broadcast(r, l->f);
        relay_frame_unref(l->f);
        free(l);
    }
    r->early.tail = NULL;
    char pos[EVID_TEXT_MAX], n[24];
    snprintf(n, sizeof n, "%ld", r->caught_up);
    log_at(LOG_INFO, "relay.connected", "redis", r->where, "channel", r->channel, "position",
           evid_format(r->pos, pos), "caught_up", n, NULL);
    relay_client_t *next;
    for (relay_client_t *c = r->clients; c; c = next) {
        next = c->next;
        if (c->state == CLIENT_WAITING) relay_redis_replay(r, c);
    }
}

/* The stream no longer holds the last event relayed (Redis restarted without it, or it
 * was trimmed during a long outage): events may be lost, so every client is told to
 * reload, and the relay starts over from the stream's end. */
static void history_lost(relay_t *r) {
    char pos[EVID_TEXT_MAX];
    log_at(LOG_WARN, "relay.history_lost", "stream", r->key, "position", evid_format(r->pos, pos), "error",
           "the stream no longer holds the last event relayed; clients are told to resync", NULL);
    relay_client_t *next;
    for (relay_client_t *c = r->clients; c; c = next) {
        next = c->next;
        relay_client_resync(c, "events were lost while the relay was disconnected from Redis; reload the state");
    }
    r->pos = (evid_t){0, 0};
    r->pos_known = 0;
    relay_show_pos(r);
    catchup_next(r);
}

/* XREVRANGE's answer at a first connect: the relay starts after the stream's end. */
static void on_position(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    relay_t *r = privdata;
    redisReply *rep = reply;
    if (rep == NULL || r->link != LINK_CATCHUP) return;
    if (rep->type != REDIS_REPLY_ARRAY) {
        link_down(r, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply to XREVRANGE");
        return;
    }
    evid_t end = {0, 0};
    if (rep->elements > 0 && entry_id(rep->element[0], &end) != 0) {
        link_down(r, "unexpected reply to XREVRANGE");
        return;
    }
    r->pos = end;
    r->cursor = end;
    r->pos_known = 1;
    relay_show_pos(r);
    catchup_next(r);
}

/* One page of the catch-up: XRANGE from the cursor, which must still be the first
 * entry (else history was lost), then every entry after it. */
static void on_catchup_page(redisAsyncContext *ac, void *reply, void *privdata) {
    (void)ac;
    relay_t *r = privdata;
    redisReply *rep = reply;
    if (rep == NULL || r->link != LINK_CATCHUP) return;
    if (rep->type != REDIS_REPLY_ARRAY) {
        link_down(r, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply to XRANGE");
        return;
    }
    int anchored = r->cursor.ms || r->cursor.seq;
    size_t i = 0;
    evid_t id;
    if (anchored) {
        if (rep->elements == 0 || entry_id(rep->element[0], &id) != 0 || evid_cmp(id, r->cursor) != 0) {
            history_lost(r);
            return;
        }
        i = 1;
    }
    for (; i < rep->elements; i++) {
        if (entry_id(rep->element[i], &id) != 0) continue;
        r->cursor = id;
        relay_frame_t *f = frame_from_entry(r, rep->element[i], id);
        if (f == NULL) continue;
        relay_broadcast(r, f);
        relay_frame_unref(f);
        r->caught_up++;
    }
    if (rep->elements >= (size_t)RELAY_REPLAY_PAGE + (anchored ? 1 : 0)) catchup_next(r);
    else catchup_done(r);
}

/* Both connections are up and the subscription is on: read what the stream holds
 * after the last event relayed (or, the first time, find where the stream ends). */
static void catchup_start(relay_t *r) {
    r->link = LINK_CATCHUP;
    r->cursor = r->pos;
    r->caught_up = 0;
    catchup_next(r);
}

/* Asks for the next step of the catch-up. */
static void catchup_next(relay_t *r) {
    if (r->cmd == NULL) return;
    if (!r->pos_known) {
        redisAsyncCommand(r->cmd, on_position, r, "XREVRANGE %s + - COUNT 1", r->key);
        return;
    }
    if (r->cursor.ms == 0 && r->cursor.seq == 0) { /* the stream was empty: all of it is new */
        redisAsyncCommand(r->cmd, on_catchup_page, r, "XRANGE %s - + COUNT %d", r->key, RELAY_REPLAY_PAGE);
        return;
    }
    char cur[EVID_TEXT_MAX];
    redisAsyncCommand(r->cmd, on_catchup_page, r, "XRANGE %s %s + COUNT %d", r->key, evid_format(r->cursor, cur),
                      RELAY_REPLAY_PAGE + 1);
}

/* ------------------------------------------------------------------------ replays */

/* One page of a client's replay; see relay_redis_replay(). */
static void on_replay_page(redisAsyncContext *ac, void *reply, void *privdata) {
    relay_t *r = ac->data;
    relay_ticket_t *t = privdata;
    relay_client_t *c = t->c;
    redisReply *rep = reply;
    /* c->ticket stays set while the page is relayed, so that a drain on the way asks
     * for no second page; a kill or resync on the way clears t->c. */
    if (c == NULL) goto out; /* released, resynced or closing meanwhile */
    if (rep == NULL) { /* the link went down: start again from the cursor when it is back */
        c->state = CLIENT_WAITING;
        goto out;
    }
    if (rep->type != REDIS_REPLY_ARRAY) {
        log_at(LOG_ERROR, "relay.replay_failed", "peer", c->peer, "error",
               rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply to XRANGE", NULL);
        relay_client_close(c, WSFRAME_CLOSE_INTERNAL, "cannot read the event stream");
        goto out;
    }
    int first = evid_cmp(c->cursor, c->req.since) == 0;
    /* the page starts at the cursor's own entry, except from 0-0 (an empty stream when
     * the relay started), which no entry has */
    size_t from = first && c->open_start ? 0 : 1;
    evid_t id;
    if (from == 1 &&
        (rep->elements == 0 || entry_id(rep->element[0], &id) != 0 || evid_cmp(id, c->cursor) != 0)) {
        relay_client_resync(c, first ? "since is older than the oldest event kept, or unknown; reload the state"
                                     : "events after since were trimmed during the replay; reload the state");
        goto out;
    }
    for (size_t i = from; i < rep->elements && t->c; i++) {
        if (entry_id(rep->element[i], &id) != 0) continue;
        c->cursor = id;
        relay_frame_t *f = frame_from_entry(r, rep->element[i], id);
        if (f == NULL) continue;
        relay_client_replayed(c, f);
        relay_frame_unref(f);
    }
    if (t->c == NULL) goto out;
    c->ticket = NULL; /* this page is done: the next may be asked now */
    t->c = NULL;
    if (rep->elements < (size_t)RELAY_REPLAY_PAGE + 1) relay_client_replay_done(c);
    else if (relay_client_backlog(c) < r->max_pending / 4) relay_redis_replay(r, c);
    /* else the drain of its queue asks for the next page */
out:
    if (t->c) t->c->ticket = NULL;
    free(t);
}

/* Reads the next page of a client's replay: XRANGE from its cursor (the since, then
 * the last entry read), inclusive, so that the cursor's own entry proves nothing
 * between it and the page was trimmed. Pages are asked one at a time, and only while
 * the client's queue is under a quarter of max_pending: a client that reads slowly
 * slows its replay instead of being cut off by it. */
void relay_redis_replay(relay_t *r, relay_client_t *c) {
    if (r->link != LINK_LIVE || c->ticket || c->dead) return;
    if (c->state != CLIENT_WAITING && c->state != CLIENT_REPLAYING) return;
    relay_ticket_t *t = malloc(sizeof *t);
    if (t == NULL) return; /* stays waiting; the next connect or drain tries again */
    t->c = c;
    char cur[EVID_TEXT_MAX];
    if (redisAsyncCommand(r->cmd, on_replay_page, t, "XRANGE %s %s + COUNT %d", r->key, evid_format(c->cursor, cur),
                          RELAY_REPLAY_PAGE + 1) != REDIS_OK) {
        free(t);
        return;
    }
    c->ticket = t;
    c->state = CLIENT_REPLAYING;
}
