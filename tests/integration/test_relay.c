/* test_relay.c - the WebSocket relay (GET /api/ws) in an in-process civetweb server
 * against a real redis-server, through a minimal blocking WebSocket client of our own
 * (tests/support/ws_client.c):
 * every event type, resume with ?since and its seam, resync, filters, auth, malformed
 * queries, a client that never reads, pings, a client that floods pings and never reads,
 * more clients than civetweb threads, the catch-up after a dropped Redis connection, a
 * Redis restart, and relay_stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "api/auth.h"
#include "api/relay.h"
#include "core/wsframe.h"
#include "tests/support/ws_client.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"

#define TOKENS "viewer:viewer-token-1,operator:operator-token-1"
#define WAIT_MS 5000 /* longest wait for something that should happen at once */
#define PING_WAIT_MS 30000 /* longest wait for what the relay's one-second housekeeping does:
                            * a few ticks, well within it on a busy machine */

static struct mg_context *web;
static relay_t *relay;
static auth_t *auth;
static int port;
static const char *web_threads = "16"; /* civetweb's num_threads for the next relay_up */

/* Starts civetweb on a free loopback port with the relay on /api/ws, and waits until
 * the relay is subscribed. `tokens` may be NULL (open); 0 takes the defaults. */
static void relay_up(const char *tokens, size_t max_pending, int ping_s) {
    char err[256];
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", web_threads, NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    web = mg_start(&cb, NULL, opts);
    ck_assert_ptr_nonnull(web);
    struct mg_server_port ports[2];
    ck_assert_int_ge(mg_get_server_ports(web, 2, ports), 1);
    port = ports[0].port;
    auth = auth_new(tokens, err, sizeof err);
    ck_assert_msg(auth != NULL, "auth_new: %s", err);
    relay_opts_t o = {.redis = {.url = fx_redis.url, .prefix = "mig:"}, .auth = auth, .max_pending = max_pending,
                      .ping_s = ping_s};
    relay = relay_start(web, "/api/ws", &o, err, sizeof err);
    ck_assert_msg(relay != NULL, "relay_start: %s", err);
    long long end = timefmt_mono_ms() + WAIT_MS;
    while (!relay_connected(relay) && timefmt_mono_ms() < end) timefmt_sleep_ms(10);
    ck_assert_msg(relay_connected(relay), "the relay did not subscribe");
}

static void relay_down(void) {
    relay_stop(relay);
    relay = NULL;
    if (web) mg_stop(web);
    web = NULL;
    auth_free(auth);
    auth = NULL;
}

static void setup(void) {
    fx_connect();
}

static void teardown(void) {
    if (relay || web) relay_down();
    fx_disconnect();
}

/* Waits up to `ms` until the relay has `n` clients (a client is live only from then on). */
static void wait_clients_within(long n, int ms) {
    long long end = timefmt_mono_ms() + ms;
    while (relay_clients(relay) != n && timefmt_mono_ms() < end) timefmt_sleep_ms(5);
    ck_assert_int_eq(relay_clients(relay), n);
}

static void wait_clients(long n) {
    wait_clients_within(n, WAIT_MS);
}

/* ---- helpers on events ---------------------------------------------------------------- */

static const char *jstr(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", k);
    return v->valuestring;
}

/* The `data` of a message in the seed's envelope, {"type","event_id","data"}: what /api/ws
 * sends by default. */
static const cJSON *data_of(const cJSON *j) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
    ck_assert_msg(cJSON_IsObject(d), "a message without data");
    return d;
}

static const char *dstr(const cJSON *j, const char *k) {
    return jstr(data_of(j), k);
}

/* The server a message is about: data.server_id, or data.id for a server's own events. */
static const char *server_of(const cJSON *j) {
    return strncmp(jstr(j, "type"), "server.", 7) == 0 ? dstr(j, "id") : dstr(j, "server_id");
}

/* A number in the message's data. */
static long dnum(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data_of(j), k);
    if (!cJSON_IsNumber(v)) {
        char *text = cJSON_PrintUnformatted(j);
        ck_assert_msg(0, "%s is not a number in %s", k, text);
    }
    return (long)v->valuedouble;
}

/* Compares two stream ids numerically. */
static int id_cmp(const char *a, const char *b) {
    unsigned long long am, as, bm, bs;
    ck_assert_int_eq(sscanf(a, "%llu-%llu", &am, &as), 2);
    ck_assert_int_eq(sscanf(b, "%llu-%llu", &bm, &bs), 2);
    if (am != bm) return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

/* The next message on `w` whose event id is after `after`: a live client may still be
 * sent events published before it connected that the relay had not yet read when it did
 * (a loaded relay reads the channel late); those are skipped. */
static cJSON *next_after(ws_t *w, const char *after) {
    for (;;) {
        cJSON *ev = ws_next_json(w);
        if (id_cmp(jstr(ev, "event_id"), after) > 0) return ev;
        cJSON_Delete(ev);
    }
}

/* The id of the stream's last entry into `out` ("0-0" when empty). */
static void stream_end(char *out, size_t cap) {
    redisReply *r = fx_cmd("XREVRANGE mig:events + - COUNT 1");
    snprintf(out, cap, "%s", r->elements ? r->element[0]->element[0]->str : "0-0");
    freeReplyObject(r);
}

static void put_players(rconn_t *rc, const char *server, int players) {
    char p[16];
    snprintf(p, sizeof p, "%d", players);
    const char *pairs[] = {"players", p};
    int rv = store_put_server(rc, server, pairs, 1);
    ck_assert_msg(rv == 0, "put_server: %s (%s)", mig_errname(rv), rc->err);
}

/* Proves that a client got nothing more than it read, without waiting for silence: one
 * more event (s1's players set to `players`) must be its next message. The relay sends in
 * the stream's order, so a duplicate or a late replay would have come before it. */
static void expect_next_is_marker(ws_t *w, int players) {
    put_players(fx_rc, "s1", players);
    cJSON *ev = ws_next_json(w);
    ck_assert_str_eq(jstr(ev, "type"), "server.updated");
    ck_assert_int_eq(dnum(ev, "players"), players);
    cJSON_Delete(ev);
}

/* The stream id of the entry for the server.updated event with `players`. */
static void id_of_players(int players, char *out, size_t cap) {
    redisReply *r = fx_cmd("XRANGE mig:events - +");
    out[0] = '\0';
    for (size_t i = 0; i < r->elements; i++) {
        cJSON *j = cJSON_Parse(r->element[i]->element[1]->element[1]->str);
        const cJSON *p = cJSON_GetObjectItem(j, "players");
        if (cJSON_IsNumber(p) && p->valueint == players) snprintf(out, cap, "%s", r->element[i]->element[0]->str);
        cJSON_Delete(j);
    }
    freeReplyObject(r);
    ck_assert_msg(out[0], "no event with players=%d", players);
}

/* ---- tests ----------------------------------------------------------------------------- */

/* ?format=flat: each event exactly as the stream holds it, event_id first (the envelope
 * of the same events is test_envelope.c's). */
START_TEST(test_every_event_type_arrives_with_its_fields_and_event_id_in_order) {
    fx_fleet(2);
    relay_up(NULL, 0, 0);
    ws_t w;
    ck_assert_int_eq(ws_open(&w, port, "/api/ws?format=flat", NULL, 0), 101);
    wait_clients(1);
    char start[64];
    stream_end(start, sizeof start);

    migration_t m, f;
    migration_init(&m);
    migration_init(&f);
    fx_drive("s1", MIG_COMPLETED, &m); /* created, status_changed x4, completed */
    fx_drive("s2", MIG_PREPARING, &f);
    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 30;
    rep.progress_message = "Syncing world (30%)";
    ck_assert_int_eq(store_report_progress(fx_rc, f.id, f.lease_token, &rep), 0);
    store_failure_t fail = {"sync broke", "sync", 1, 0, 0, 0};
    ck_assert_int_eq(store_fail(fx_rc, f.id, f.lease_token, &fail, &f), 0);
    ck_assert_int_eq(store_delete_migration(fx_rc, m.id), 0);
    const char *node[] = {"eur_hour", "0.25"};
    ck_assert_int_eq(store_put_node(fx_rc, "n3", node, 1), 0);
    put_players(fx_rc, "s1", 4);
    long long deleted;
    ck_assert_int_eq(store_delete_server(fx_rc, "s2", &deleted), 0);

    /* Each event as the stream holds it, with its id first, in the stream's order. */
    redisReply *x = fx_cmd("XRANGE mig:events (%s +", start);
    ck_assert_int_ge(x->elements, 14);
    const char *types[] = {"migration.created", "migration.status_changed", "migration.progress",
                           "migration.completed", "migration.failed", "migration.deleted", "node.updated",
                           "server.updated", "server.deleted"};
    int seen[9] = {0};
    for (size_t i = 0; i < x->elements; i++) {
        const char *id = x->element[i]->element[0]->str;
        cJSON *want = cJSON_Parse(x->element[i]->element[1]->element[1]->str);
        cJSON *got = ws_next_json(&w);
        ck_assert_str_eq(jstr(got, "event_id"), id);
        ck_assert_str_eq(got->child->string, "event_id"); /* the first member, as live */
        const char *type = jstr(got, "type");
        for (int t = 0; t < 9; t++)
            if (strcmp(type, types[t]) == 0) seen[t]++;
        if (strncmp(type, "migration.", 10) == 0) {
            jstr(got, "migration_id");
            jstr(got, "server_id");
        } else if (strcmp(type, "node.updated") == 0) {
            ck_assert_str_eq(jstr(got, "node_id"), "n3");
        } else {
            jstr(got, "server_id");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(got, "event_id");
        ck_assert_msg(cJSON_Compare(want, got, 1), "event %s differs from the stream's", id);
        cJSON_Delete(want);
        cJSON_Delete(got);
    }
    for (int t = 0; t < 9; t++) ck_assert_msg(seen[t] > 0, "no %s event", types[t]);
    freeReplyObject(x);
    put_players(fx_rc, "s1", 999); /* nothing more: the next message is this one, flat too */
    cJSON *marker = ws_next_json(&w);
    ck_assert_str_eq(jstr(marker, "type"), "server.updated");
    ck_assert_int_eq(cJSON_GetObjectItem(marker, "players")->valueint, 999);
    cJSON_Delete(marker);
    ws_close(&w);
    migration_clear(&m);
    migration_clear(&f);
}
END_TEST

START_TEST(test_resume_with_since_replays_the_100_missed_events_once_in_order) {
    fx_fleet(1);
    relay_up(NULL, 0, 0);
    ws_t w;
    ck_assert_int_eq(ws_open(&w, port, "/api/ws", NULL, 0), 101);
    wait_clients(1);
    put_players(fx_rc, "s1", 1);
    cJSON *ev = ws_next_json(&w);
    ck_assert_int_eq(dnum(ev, "players"), 1);
    char since[64];
    snprintf(since, sizeof since, "%s", jstr(ev, "event_id"));
    cJSON_Delete(ev);
    ws_close(&w);
    wait_clients(0);

    for (int i = 2; i <= 101; i++) put_players(fx_rc, "s1", i);
    char path[128];
    snprintf(path, sizeof path, "/api/ws?since=%s", since);
    ck_assert_int_eq(ws_open(&w, port, path, NULL, 0), 101);
    char last[64];
    snprintf(last, sizeof last, "%s", since);
    for (int i = 2; i <= 101; i++) {
        ev = ws_next_json(&w);
        ck_assert_str_eq(ev->child->next->string, "event_id"); /* replayed as live: type, event_id, data */
        ck_assert_int_eq(dnum(ev, "players"), i);
        ck_assert_int_gt(id_cmp(jstr(ev, "event_id"), last), 0);
        snprintf(last, sizeof last, "%s", jstr(ev, "event_id"));
        cJSON_Delete(ev);
    }
    expect_next_is_marker(&w, 500); /* the first live one comes right after the replay */
    ws_close(&w);
}
END_TEST

#define SEAM_EVENTS 400

static void *publish_players(void *arg) {
    (void)arg;
    rconn_t *rc = fx_new_conn();
    for (int i = 1; i <= SEAM_EVENTS; i++) {
        put_players(rc, "s1", i);
        if (i % 4 == 0) timefmt_sleep_ms(1);
    }
    rconn_free(rc);
    return NULL;
}

START_TEST(test_resume_while_events_keep_coming_has_no_gap_and_no_duplicate_at_the_seam) {
    fx_fleet(1);
    relay_up(NULL, 0, 0);
    char start[64];
    stream_end(start, sizeof start);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, publish_players, NULL), 0);
    /* resume from event 50 while the publisher is somewhere past 100 */
    long long end = timefmt_mono_ms() + WAIT_MS;
    for (;;) {
        redisReply *r = fx_cmd("XLEN mig:events");
        long long n = r->integer;
        freeReplyObject(r);
        if (n >= 5 + 100 || timefmt_mono_ms() > end) break;
        timefmt_sleep_ms(1);
    }
    char since[64], path[128];
    id_of_players(50, since, sizeof since);
    snprintf(path, sizeof path, "/api/ws?since=%s", since);
    ws_t w;
    ck_assert_int_eq(ws_open(&w, port, path, NULL, 0), 101);
    for (int i = 51; i <= SEAM_EVENTS; i++) {
        cJSON *ev = ws_next_json(&w);
        ck_assert_int_eq(dnum(ev, "players"), i);
        cJSON_Delete(ev);
    }
    pthread_join(t, NULL);
    expect_next_is_marker(&w, SEAM_EVENTS + 1);
    ws_close(&w);
}
END_TEST

START_TEST(test_since_older_than_the_stream_start_gets_resync_then_live_events) {
    fx_fleet(1);
    relay_up(NULL, 0, 0);
    for (int i = 1; i <= 10; i++) put_players(fx_rc, "s1", i);
    char first[64];
    id_of_players(1, first, sizeof first);
    redisReply *r = fx_cmd("XTRIM mig:events MAXLEN 5");
    freeReplyObject(r);
    const char *sinces[] = {first, "1-0"};
    for (int k = 0; k < 2; k++) {
        char path[128];
        snprintf(path, sizeof path, "/api/ws?since=%s", sinces[k]);
        ws_t w;
        ck_assert_int_eq(ws_open(&w, port, path, NULL, 0), 101);
        cJSON *ev = ws_next_json(&w);
        ck_assert_str_eq(jstr(ev, "type"), "resync");
        ck_assert_msg(strstr(dstr(ev, "reason"), "reload") != NULL, "reason: %s", dstr(ev, "reason"));
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ev, "event_id"))); /* not an event: nothing to resume from */
        cJSON_Delete(ev);
        put_players(fx_rc, "s1", 100 + k);
        ev = ws_next_json(&w);
        ck_assert_int_eq(dnum(ev, "players"), 100 + k);
        cJSON_Delete(ev);
        ws_close(&w);
    }
}
END_TEST

START_TEST(test_malformed_since_or_filter_is_refused_with_400_json) {
    relay_up(NULL, 0, 0);
    const char *bad[] = {"/api/ws?since=yesterday", "/api/ws?since=1-2-3", "/api/ws?since=-5",
                         "/api/ws?since=99999999999999999999999-0", "/api/ws?server_id=",
                         "/api/ws?migration_id=a%20b", "/api/ws?format=xml"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_t w;
        ck_assert_int_eq(ws_open(&w, port, bad[i], NULL, 0), 400);
        cJSON *j = cJSON_Parse(w.body);
        ck_assert_msg(j != NULL, "%s: body is not JSON: %s", bad[i], w.body);
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        ck_assert_str_eq(jstr(e, "code"), "bad_request");
        const char *want = strstr(bad[i], "since")       ? "since"
                           : strstr(bad[i], "server_id") ? "server_id"
                           : strstr(bad[i], "format")    ? "format"
                                                         : "migration_id";
        ck_assert_msg(strstr(jstr(e, "message"), want) != NULL, "%s: %s", bad[i], jstr(e, "message"));
        cJSON_Delete(j);
    }
    ck_assert_int_eq(relay_clients(relay), 0);
}
END_TEST

#define FLOOD_EVENTS 3000

typedef struct {
    ws_t *w;
    int got;      /* events received in order */
} reader_t;

static void *read_flood(void *arg) {
    reader_t *rd = arg;
    static char msg[1 << 16];
    while (rd->got < FLOOD_EVENTS) {
        int op;
        long n = ws_read(rd->w, 10000, &op, msg, sizeof msg);
        if (n < 0) break;
        if (op != WSFRAME_OP_TEXT) continue;
        cJSON *j = cJSON_Parse(msg);
        const cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "players");
        int ok = cJSON_IsNumber(p) && p->valueint == rd->got + 1;
        cJSON_Delete(j);
        if (!ok) break;
        rd->got++;
    }
    return NULL;
}

START_TEST(test_client_that_never_reads_is_dropped_while_another_gets_every_event) {
    fx_fleet(1);
    relay_up(NULL, 64 * 1024, 0);
    ws_t slow, fast;
    ck_assert_int_eq(ws_open(&slow, port, "/api/ws", NULL, 4096), 101);
    ck_assert_int_eq(ws_open(&fast, port, "/api/ws", NULL, 0), 101);
    wait_clients(2);
    reader_t rd = {&fast, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, read_flood, &rd), 0);
    /* Publishing cannot be slowed by a client (Redis buffers what the relay has not read
     * yet); what a relay stalled on the slow client would show is the fast one missing
     * events, which is checked here, without a clock. */
    for (int i = 1; i <= FLOOD_EVENTS; i++) put_players(fx_rc, "s1", i);
    pthread_join(t, NULL);
    ck_assert_int_eq(rd.got, FLOOD_EVENTS);
    wait_clients(1); /* the slow one was cut off... */
    /* ...with a reset: reading what reached it ends in an error or the end, not a hang */
    long long end = timefmt_mono_ms() + WAIT_MS;
    int ended = 0;
    while (!ended && timefmt_mono_ms() < end) {
        slow.n = 0;
        ended = ws_fill(&slow, 1000) == -2;
    }
    ck_assert_msg(ended, "the slow client's connection is still open");
    close(slow.fd);
    ws_close(&fast);
}
END_TEST

START_TEST(test_filters_deliver_only_the_matching_server_or_migration) {
    fx_fleet(3);
    relay_up(NULL, 0, 0);
    migration_t m;
    migration_init(&m);
    fx_drive("s2", MIG_SCHEDULED, &m);
    char start[64];
    stream_end(start, sizeof start);
    char pa[128], pb[128], pc[128], pe[160];
    snprintf(pa, sizeof pa, "/api/ws?server_id=s2");
    snprintf(pb, sizeof pb, "/api/ws?migration_id=%s", m.id);
    snprintf(pc, sizeof pc, "/api/ws?server_id=s3&migration_id=%s", m.id);
    ws_t a, b, c, d, e;
    ck_assert_int_eq(ws_open(&a, port, pa, NULL, 0), 101);
    ck_assert_int_eq(ws_open(&b, port, pb, NULL, 0), 101);
    ck_assert_int_eq(ws_open(&c, port, pc, NULL, 0), 101);
    ck_assert_int_eq(ws_open(&d, port, "/api/ws", NULL, 0), 101);
    wait_clients(4);

    put_players(fx_rc, "s1", 1);
    put_players(fx_rc, "s2", 2);
    ck_assert_int_eq(store_promote(fx_rc, m.id), 0);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 60000, &m), 0);
    const char *node[] = {"eur_hour", "0.22"};
    ck_assert_int_eq(store_put_node(fx_rc, "n3", node, 1), 0);
    put_players(fx_rc, "s3", 3);
    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 10;
    ck_assert_int_eq(store_report_progress(fx_rc, m.id, m.lease_token, &rep), 0);

    /* a replay filters the same way */
    snprintf(pe, sizeof pe, "/api/ws?server_id=s2&since=%s", start);
    ck_assert_int_eq(ws_open(&e, port, pe, NULL, 0), 101);

    const char *want_a[] = {"server.updated", "migration.status_changed", "migration.progress"};
    ws_t *server_filtered[] = {&a, &e};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) {
            cJSON *ev = next_after(server_filtered[k], start);
            ck_assert_str_eq(jstr(ev, "type"), want_a[i]);
            ck_assert_str_eq(server_of(ev), "s2");
            cJSON_Delete(ev);
        }
    for (int i = 1; i < 3; i++) {
        cJSON *ev = next_after(&b, start);
        ck_assert_str_eq(jstr(ev, "type"), want_a[i]);
        ck_assert_str_eq(dstr(ev, "id"), m.id);
        cJSON_Delete(ev);
    }
    const char *want_d[] = {"server.updated", "server.updated", "migration.status_changed", "node.updated",
                            "server.updated", "migration.progress"};
    for (int i = 0; i < 6; i++) {
        cJSON *ev = next_after(&d, start);
        ck_assert_str_eq(jstr(ev, "type"), want_d[i]);
        cJSON_Delete(ev);
    }
    /* Nothing more, shown by markers rather than by waiting: a progress report of the
     * migration (on s2) is the next message of every client it matches. The relay then
     * has passed every earlier event for every client, and what it sent c, which no event
     * can match, is in c's socket already (a write on loopback arrives at once). Two
     * markers: the first may share a batch with the last event, which the relay may still
     * be writing to c when another client has it. */
    ws_t *matching[] = {&a, &b, &d, &e};
    for (int k = 0; k < 2; k++) {
        rep.data_sync_progress = 20 + k;
        ck_assert_int_eq(store_report_progress(fx_rc, m.id, m.lease_token, &rep), 0);
        for (int i = 0; i < 4; i++) {
            cJSON *ev = ws_next_json(matching[i]);
            ck_assert_str_eq(jstr(ev, "type"), "migration.progress");
            ck_assert_int_eq(dnum(ev, "progress"), 20 + k);
            cJSON_Delete(ev);
        }
    }
    ws_expect_none_pending(&c);
    ws_t *all[] = {&a, &b, &c, &d, &e};
    for (int i = 0; i < 5; i++) ws_close(all[i]);
    migration_clear(&m);
}
END_TEST

static atomic_int publishing;

static void *publish_until_stopped(void *arg) {
    (void)arg;
    rconn_t *rc = fx_new_conn();
    for (int i = 1; atomic_load(&publishing); i++) put_players(rc, "s1", i);
    rconn_free(rc);
    return NULL;
}

/* Returns once the stream's last entry is after `id`. */
static void wait_stream_past(const char *id) {
    long long end = timefmt_mono_ms() + WAIT_MS;
    for (;;) {
        char now[64];
        stream_end(now, sizeof now);
        if (id_cmp(now, id) > 0) return;
        ck_assert_msg(timefmt_mono_ms() < end, "the stream did not grow past %s", id);
        timefmt_sleep_ms(1);
    }
}

/* The relay takes a client only after its 101 has gone out; an event it relays in
 * between (to the clients it has) is replayed to the new one from the stream. So a
 * client gets every event written after its handshake began, as a page that opens the
 * socket and then reads the REST state needs. Checked for 40 clients opened one after
 * another while events keep coming: each gets every stream entry after the stream's
 * end once it has its 101 (S, after the handshake began) up to a later end (T), in
 * order, none twice. */
START_TEST(test_a_live_client_gets_every_event_written_after_its_handshake_began) {
    fx_fleet(1);
    freeReplyObject(fx_cmd("DEL mig:events")); /* the relay starts at 0-0, which no entry has */
    relay_up(NULL, 0, 0);
    atomic_store(&publishing, 1);
    pthread_t t;
    long checked = 0;
    for (int k = 0; k < 40; k++) {
        char s[64], e[64];
        ws_t w;
        ck_assert_int_eq(ws_open(&w, port, "/api/ws", NULL, 0), 101);
        if (k == 0) ck_assert_int_eq(pthread_create(&t, NULL, publish_until_stopped, NULL), 0);
        stream_end(s, sizeof s);
        wait_stream_past(s);
        stream_end(e, sizeof e);
        redisReply *x = fx_cmd("XRANGE mig:events (%s %s", s, e);
        size_t i = 0;
        for (;;) {
            cJSON *ev = ws_next_json(&w);
            const char *id = jstr(ev, "event_id");
            if (id_cmp(id, s) > 0 && id_cmp(id, e) <= 0) {
                ck_assert_msg(i < x->elements, "client %d: event %s is not in (%s, %s]", k, id, s, e);
                ck_assert_msg(strcmp(id, x->element[i]->element[0]->str) == 0, "client %d got %s, not %s", k, id,
                              x->element[i]->element[0]->str);
                i++;
            }
            int done = id_cmp(id, e) >= 0;
            cJSON_Delete(ev);
            if (done) break;
        }
        ck_assert_msg(i == x->elements, "client %d got %zu of the %zu events in (%s, %s]", k, i, x->elements, s, e);
        checked += (long)i;
        freeReplyObject(x);
        ws_close(&w);
    }
    atomic_store(&publishing, 0);
    pthread_join(t, NULL);
    ck_assert_int_gt(checked, 0);
}
END_TEST

START_TEST(test_missing_or_wrong_token_gets_401_json_and_a_viewer_token_connects) {
    relay_up(TOKENS, 0, 0);
    struct {
        const char *path, *bearer;
        int status;
    } cases[] = {
        {"/api/ws", NULL, 401},
        {"/api/ws", "wrong-token-123", 401},
        {"/api/ws?token=wrong-token-123", NULL, 401},
        {"/api/ws", "viewer-token-1", 101},
        {"/api/ws?token=viewer-token-1", NULL, 101},
        {"/api/ws?token=operator-token-1", NULL, 101},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_t w;
        int status = ws_open(&w, port, cases[i].path, cases[i].bearer, 0);
        ck_assert_msg(status == cases[i].status, "%s: %d, want %d", cases[i].path, status, cases[i].status);
        if (status == 101) {
            ws_close(&w);
            continue;
        }
        cJSON *j = cJSON_Parse(w.body);
        ck_assert_msg(j != NULL, "body is not JSON: %s", w.body);
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        ck_assert_str_eq(jstr(e, "code"), "unauthorized");
        ck_assert(strlen(jstr(e, "message")) > 0);
        cJSON_Delete(j);
    }
}
END_TEST

/* A client that answers pings, as a browser does, read by a thread of its own so that
 * its answers never wait on what the test does meanwhile. */
typedef struct {
    ws_t *w;
    atomic_int pings; /* pings read, each answered */
    atomic_int ended; /* its connection ended */
    atomic_int stop;
} answering_t;

static void *answer_pings(void *arg) {
    answering_t *a = arg;
    static char msg[256];
    while (!atomic_load(&a->stop)) {
        int op;
        long n = ws_read(a->w, 100, &op, msg, sizeof msg);
        if (n == -2) {
            atomic_store(&a->ended, 1);
            break;
        }
        if (n >= 0 && op == WSFRAME_OP_PING) atomic_fetch_add(&a->pings, 1);
    }
    return NULL;
}

START_TEST(test_pings_every_interval_and_a_client_that_never_answers_is_closed) {
    relay_up(NULL, 0, 1);
    ws_t live, mute;
    ck_assert_int_eq(ws_open(&live, port, "/api/ws", NULL, 0), 101);
    ck_assert_int_eq(ws_open(&mute, port, "/api/ws", NULL, 0), 101);
    mute.answer_pings = 0;
    wait_clients(2);
    static char msg[256];
    int op = 0;
    for (op = 0; op != WSFRAME_OP_PING;) ck_assert_int_ge(ws_read(&live, PING_WAIT_MS, &op, msg, sizeof msg), 0);
    ws_send(&live, WSFRAME_OP_PING, "abc", 3); /* and a client's ping is answered */
    for (op = 0; op != WSFRAME_OP_PONG;) ck_assert_int_ge(ws_read(&live, WAIT_MS, &op, msg, sizeof msg), 0);
    ck_assert_str_eq(msg, "abc");
    answering_t a = {.w = &live};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, answer_pings, &a), 0);
    /* Both had the same pings, so the mute one being closed while the other is not shows
     * that the answers count, whatever the time between the pings. */
    ck_assert_int_eq(ws_expect_close(&mute, PING_WAIT_MS), WSFRAME_CLOSE_GOING_AWAY);
    close(mute.fd);
    wait_clients_within(1, PING_WAIT_MS); /* the one that answers stays... */
    /* ...and the pings go on: two more, each answered */
    int had = atomic_load(&a.pings);
    long long end = timefmt_mono_ms() + PING_WAIT_MS;
    while (atomic_load(&a.pings) < had + 2 && !atomic_load(&a.ended) && timefmt_mono_ms() < end) timefmt_sleep_ms(10);
    atomic_store(&a.stop, 1);
    pthread_join(t, NULL);
    ck_assert_msg(!atomic_load(&a.ended), "the client that answers pings was closed");
    ck_assert_int_ge(atomic_load(&a.pings), had + 2);
    ck_assert_int_eq(relay_clients(relay), 1);
    ws_close(&live);
}
END_TEST

START_TEST(test_relay_stop_closes_every_client_with_1001) {
    relay_up(NULL, 0, 0);
    ws_t a, b;
    ck_assert_int_eq(ws_open(&a, port, "/api/ws", NULL, 0), 101);
    ck_assert_int_eq(ws_open(&b, port, "/api/ws?server_id=s1", NULL, 0), 101);
    wait_clients(2);
    relay_stop(relay);
    relay = NULL;
    ck_assert_int_eq(ws_expect_close(&a, WAIT_MS), WSFRAME_CLOSE_GOING_AWAY);
    ck_assert_int_eq(ws_expect_close(&b, WAIT_MS), WSFRAME_CLOSE_GOING_AWAY);
    close(a.fd);
    close(b.fd);
}
END_TEST

START_TEST(test_more_clients_than_civetweb_threads_all_get_every_event) {
    /* a WebSocket holds no civetweb thread: the relay takes its socket after the
     * handshake, so 4 threads serve 40 clients and still answer the 41st handshake */
    fx_fleet(1);
    web_threads = "4";
    relay_up(NULL, 0, 0);
    web_threads = "16";
    enum { N = 40 };
    static ws_t w[N];
    for (int i = 0; i < N; i++) ck_assert_int_eq(ws_open(&w[i], port, "/api/ws", NULL, 0), 101);
    wait_clients(N);
    for (int k = 1; k <= 3; k++) put_players(fx_rc, "s1", k);
    for (int i = 0; i < N; i++)
        for (int k = 1; k <= 3; k++) {
            cJSON *ev = ws_next_json(&w[i]);
            ck_assert_int_eq(dnum(ev, "players"), k);
            cJSON_Delete(ev);
        }
    for (int i = 0; i < N; i++) ws_close(&w[i]);
    wait_clients(0);
}
END_TEST

/* Opens a client on /api/ws and sees one live event (s1's players set to 1) reach it:
 * the relay is subscribed and the client is live. */
static void open_live(ws_t *w) {
    ck_assert_int_eq(ws_open(w, port, "/api/ws", NULL, 0), 101);
    wait_clients(1);
    put_players(fx_rc, "s1", 1);
    cJSON *ev = ws_next_json(w);
    ck_assert_int_eq(dnum(ev, "players"), 1);
    cJSON_Delete(ev);
}

/* Resident memory of this process, kB: the relay runs in it. */
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof line, f)) sscanf(line, "VmRSS: %ld kB", &kb);
    fclose(f);
    ck_assert_int_gt(kb, 0);
    return kb;
}

#define PING_FLOOD_MAX (64L * 1024 * 1024) /* bytes of pings sent before giving up on a close */
#define RSS_GROWTH_MAX_KB (64L * 1024)      /* the relay's limit is 1 MiB a client: far below */

/* A viewer that sends pings and never reads: each ping is answered with a pong that
 * piles up in its queue. Empty pings (6 bytes sent, a 2-byte pong and its bookkeeping
 * queued) are the most memory per byte sent; unbounded, 12 MB of them took the API from
 * 15 to 355 MB. The pongs count against the client's limit like events, so it is cut
 * off, the process's memory stays near where it was, and the relay serves the next
 * client. */
START_TEST(test_client_that_sends_pings_and_never_reads_is_closed_and_memory_stays_bounded) {
    fx_fleet(1);
    relay_up(NULL, 0, 0); /* the default limit */
    ws_t bad;
    ck_assert_int_eq(ws_open(&bad, port, "/api/ws", NULL, 4096), 101);
    wait_clients(1);
    struct timeval tv = {WAIT_MS / 1000, 0}; /* a relay that stops reading without closing fails the send */
    ck_assert_int_eq(setsockopt(bad.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    static const unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
    static unsigned char chunk[64 * 1024 - 64 * 1024 % 6]; /* a masked empty ping is 6 bytes */
    for (size_t i = 0; i < sizeof chunk; i += 6) ck_assert_uint_eq(wsframe_write(chunk + i, WSFRAME_OP_PING, NULL, 0, mask), 6);
    long start = rss_kb(), peak = start;
    long sent = 0;
    int closed = 0;
    while (!closed && sent < PING_FLOOD_MAX) {
        ssize_t w = send(bad.fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w < 0) {
            ck_assert_msg(errno == ECONNRESET || errno == EPIPE,
                          "after %ld bytes of pings the relay neither read more nor closed (%s)", sent,
                          strerror(errno));
            closed = 1;
        } else {
            sent += w;
        }
        long now = rss_kb();
        if (now > peak) peak = now;
        ck_assert_msg(peak - start < RSS_GROWTH_MAX_KB, "RSS grew from %ld to %ld kB with %ld bytes of pings", start,
                      peak, sent);
    }
    ck_assert_msg(closed, "the client is still open after %ld bytes of pings", sent);
    close(bad.fd);
    wait_clients(0);
    ck_assert_msg(rss_kb() - start < RSS_GROWTH_MAX_KB, "RSS %ld kB after the close, from %ld", rss_kb(), start);
    ws_t good;
    open_live(&good); /* the relay goes on serving */
    ws_close(&good);
}
END_TEST

/* Kills the relay's two Redis connections (named mig-relay-sub and mig-relay-cmd). The
 * second may be gone by the time its kill comes: the relay drops both when one fails. */
static void kill_relay_connections(void) {
    redisReply *l = fx_cmd("CLIENT LIST");
    int found = 0;
    char *save = NULL;
    for (char *line = strtok_r(l->str, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, "name=mig-relay-") == NULL) continue;
        found++;
        freeReplyObject(fx_cmd("CLIENT KILL ID %lld", atoll(strstr(line, "id=") + 3)));
    }
    freeReplyObject(l);
    ck_assert_int_eq(found, 2);
}

START_TEST(test_events_published_while_redis_is_unreachable_are_caught_up_in_order) {
    fx_fleet(1);
    relay_up(NULL, 0, 0);
    ws_t w;
    open_live(&w);
    cJSON *ev;
    kill_relay_connections();
    /* the subscription is gone: these reach the relay only through its catch-up */
    for (int i = 2; i <= 51; i++) put_players(fx_rc, "s1", i);
    for (int i = 2; i <= 51; i++) {
        ev = ws_next_json(&w);
        ck_assert_msg(strcmp(jstr(ev, "type"), "server.updated") == 0, "got %s", jstr(ev, "type"));
        ck_assert_int_eq(dnum(ev, "players"), i);
        cJSON_Delete(ev);
    }
    ck_assert(relay_connected(relay));
    expect_next_is_marker(&w, 52); /* and live again after the catch-up, without a duplicate */
    ws_close(&w);
}
END_TEST

/* Stops the case's redis-server and starts another on the same socket path (empty, as
 * a restart without persistence); returns its pid. The old one is the runner's child:
 * its socket file going away shows it has stopped. */
static pid_t redis_restart(void) {
    ck_assert_int_eq(kill(fx_redis.pid, SIGTERM), 0);
    long long end = timefmt_mono_ms() + WAIT_MS;
    while (access(fx_redis.sock, F_OK) == 0 && timefmt_mono_ms() < end) timefmt_sleep_ms(10);
    ck_assert_msg(access(fx_redis.sock, F_OK) != 0, "redis-server did not stop");
    char log[320];
    snprintf(log, sizeof log, "%s/redis-restarted.log", fx_redis.dir);
    const char *argv[] = {"redis-server", "--port", "0", "--unixsocket", fx_redis.sock, "--unixsocketperm", "700",
                          "--dir", fx_redis.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
                          "--logfile", log, NULL};
    pid_t pid = harness_spawn(argv, NULL);
    ck_assert_int_gt(pid, 0);
    end = timefmt_mono_ms() + WAIT_MS;
    for (;;) {
        redisReply *r = harness_redis_cmd(&fx_redis, "PING");
        int ok = r != NULL;
        if (r) freeReplyObject(r);
        if (ok) break;
        ck_assert_msg(timefmt_mono_ms() < end, "the new redis-server does not answer");
        timefmt_sleep_ms(10);
    }
    return pid;
}

START_TEST(test_relay_reconnects_after_a_redis_restart_and_clients_get_later_events) {
    fx_fleet(1);
    relay_up(NULL, 0, 0);
    ws_t w;
    open_live(&w);
    cJSON *ev;

    pid_t pid = redis_restart();
    /* The new server is empty: events were lost, so once the relay has reached it (after
     * its backoff, up to 5 s a try) the client is told to reload. That message shows the
     * relay noticed, whenever it comes: watching its state for the drop could miss a
     * drop and return quicker than a look. It is live again once it has read the stream. */
    ev = ws_next_json_within(&w, PING_WAIT_MS);
    ck_assert_str_eq(jstr(ev, "type"), "resync");
    cJSON_Delete(ev);
    long long end = timefmt_mono_ms() + WAIT_MS;
    while (!relay_connected(relay) && timefmt_mono_ms() < end) timefmt_sleep_ms(5);
    ck_assert_msg(relay_connected(relay), "the relay did not reconnect");
    int code;
    const char *ping[] = {"PING"};
    redisReply *r = rconn_command(fx_rc, 1, ping, NULL, &code); /* the stale connection fails once */
    if (r) freeReplyObject(r);
    fx_fleet(1);
    put_players(fx_rc, "s1", 7);
    const char *want[] = {"node.updated", "node.updated", "node.updated", "server.updated", "server.updated"};
    for (int i = 0; i < 5; i++) {
        ev = ws_next_json(&w);
        ck_assert_str_eq(jstr(ev, "type"), want[i]);
        if (i == 4) ck_assert_int_eq(dnum(ev, "players"), 7);
        cJSON_Delete(ev);
    }
    ws_close(&w);
    relay_down();
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_msg(harness_wait(pid, WAIT_MS) != -1, "the restarted redis-server did not stop");
}
END_TEST

Suite *suite_relay(void) {
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("relay");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_event_type_arrives_with_its_fields_and_event_id_in_order);
    tcase_add_test(tc, test_resume_with_since_replays_the_100_missed_events_once_in_order);
    tcase_add_test(tc, test_resume_while_events_keep_coming_has_no_gap_and_no_duplicate_at_the_seam);
    tcase_add_test(tc, test_since_older_than_the_stream_start_gets_resync_then_live_events);
    tcase_add_test(tc, test_malformed_since_or_filter_is_refused_with_400_json);
    tcase_add_test(tc, test_client_that_never_reads_is_dropped_while_another_gets_every_event);
    tcase_add_test(tc, test_filters_deliver_only_the_matching_server_or_migration);
    tcase_add_test(tc, test_a_live_client_gets_every_event_written_after_its_handshake_began);
    tcase_add_test(tc, test_missing_or_wrong_token_gets_401_json_and_a_viewer_token_connects);
    tcase_add_test(tc, test_pings_every_interval_and_a_client_that_never_answers_is_closed);
    tcase_add_test(tc, test_relay_stop_closes_every_client_with_1001);
    tcase_add_test(tc, test_more_clients_than_civetweb_threads_all_get_every_event);
    tcase_add_test(tc, test_events_published_while_redis_is_unreachable_are_caught_up_in_order);
    tcase_add_test(tc, test_client_that_sends_pings_and_never_reads_is_closed_and_memory_stays_bounded);
    suite_add_tcase(s, tc);
    /* Its own case: it replaces the case's redis-server, which no later test could use. */
    TCase *rs = tcase_create("relay_restart");
    tcase_add_unchecked_fixture(rs, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(rs, setup, teardown);
    tcase_set_timeout(rs, 60);
    tcase_add_test(rs, test_relay_reconnects_after_a_redis_restart_and_clients_get_later_events);
    suite_add_tcase(s, rs);
    return s;
}
