/* test_envelope.c - the contract of GET /api/ws with a client written against the seed:
 * every message is {"type","event_id","data"} with data.id the migration's id (the node's
 * or server's for their events) and the seed's field names in data, live and in a replay
 * after a reconnect with ?since; ?format=flat still gives the stream's flat events. An
 * in-process civetweb server with the relay, against a real redis-server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "api/auth.h"
#include "api/relay.h"
#include "core/evid.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"
#include "tests/support/ws_client.h"

#define WAIT_MS 5000 /* longest wait for something that should happen at once */

static struct mg_context *web;
static relay_t *relay;
static auth_t *auth;
static int port;

/* civetweb on a free loopback port with the relay on /api/ws, open (no tokens). */
static void setup(void) {
    fx_connect();
    char err[256];
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    web = mg_start(&cb, NULL, opts);
    ck_assert_ptr_nonnull(web);
    struct mg_server_port ports[2];
    ck_assert_int_ge(mg_get_server_ports(web, 2, ports), 1);
    port = ports[0].port;
    auth = auth_new(NULL, err, sizeof err);
    ck_assert_msg(auth != NULL, "auth_new: %s", err);
    relay_opts_t o = {.redis = {.url = fx_redis.url, .prefix = "mig:"}, .auth = auth};
    relay = relay_start(web, "/api/ws", &o, err, sizeof err);
    ck_assert_msg(relay != NULL, "relay_start: %s", err);
    long long end = timefmt_mono_ms() + WAIT_MS;
    while (!relay_connected(relay) && timefmt_mono_ms() < end) timefmt_sleep_ms(10);
    ck_assert_msg(relay_connected(relay), "the relay did not subscribe");
}

static void teardown(void) {
    relay_stop(relay);
    relay = NULL;
    mg_stop(web);
    web = NULL;
    auth_free(auth);
    auth = NULL;
    fx_disconnect();
}

static void wait_clients(long n) {
    long long end = timefmt_mono_ms() + WAIT_MS;
    while (relay_clients(relay) != n && timefmt_mono_ms() < end) timefmt_sleep_ms(5);
    ck_assert_int_eq(relay_clients(relay), n);
}

/* ---- the envelope ---------------------------------------------------------------------- */

static const cJSON *member(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(v != NULL, "no %s", k);
    return v;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = member(o, k);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", k);
    return v->valuestring;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = member(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", k);
    return v->valuedouble;
}

/* 1 when stream id `id` comes after `after` ("ms-seq" both). */
static int id_after(const char *id, const char *after) {
    evid_t a, b;
    ck_assert_int_eq(evid_parse(id, strlen(id), &a), 0);
    ck_assert_int_eq(evid_parse(after, strlen(after), &b), 0);
    return evid_cmp(a, b) > 0;
}

/* Checks the envelope of the next message on `w` (type `type`, an event id after
 * `after`, which it updates) and returns the message (caller deletes); *data is its data. */
static cJSON *check_envelope(cJSON *ev, const char *type, char *after, size_t cap, const cJSON **data) {
    ck_assert_int_eq(cJSON_GetArraySize(ev), 3);
    ck_assert_str_eq(ev->child->string, "type");
    ck_assert_str_eq(str(ev, "type"), type);
    const char *id = str(ev, "event_id");
    ck_assert_msg(id_after(id, after[0] ? after : "0-0"), "event %s is not after %s", id, after);
    snprintf(after, cap, "%s", id);
    *data = member(ev, "data");
    ck_assert(cJSON_IsObject(*data));
    ck_assert_str_eq((*data)->child->string, "id");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(*data, "type"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(*data, "event_id"));
    str(*data, "timestamp");
    return ev;
}

static cJSON *next_envelope(ws_t *w, const char *type, char *after, size_t cap, const cJSON **data) {
    return check_envelope(ws_next_json(w), type, after, cap, data);
}

/* The seed's five types, in the order a completed move of s1 then a failed one of s2
 * send them, each with the seed's fields. */
static void expect_seed_types(ws_t *w, const migration_t *done, const migration_t *failed, char *after, size_t cap) {
    const cJSON *d;
    /* the fixture's fleet was written just before: its server.updated and node.updated
     * events may still be on their way to a live client, ahead of the first migration's */
    cJSON *ev = ws_next_json(w);
    for (const char *t = str(ev, "type"); strcmp(t, "server.updated") == 0 || strcmp(t, "node.updated") == 0;
         t = str(ev, "type")) {
        cJSON_Delete(ev);
        ev = ws_next_json(w);
    }
    ev = check_envelope(ev, "migration.created", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), done->id);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d, "migration_id"));
    ck_assert_str_eq(str(d, "server_id"), "s1");
    ck_assert_str_eq(str(d, "status"), "scheduled");
    ck_assert_str_eq(str(d, "from_node"), "n1");
    ck_assert_str_eq(str(d, "to_node"), "n2");
    ck_assert_str_eq(str(d, "from_node_id"), "n1");
    ck_assert_str_eq(str(d, "from_node_name"), "Node-A");
    ck_assert_str_eq(str(d, "to_node_name"), "Node-B");
    ck_assert_double_eq_tol(num(d, "savings_eur_hour"), 0.15, 1e-9);
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.status_changed", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), done->id);
    ck_assert_str_eq(str(d, "old_status"), "scheduled");
    ck_assert_str_eq(str(d, "new_status"), "preparing");
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.progress", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), done->id);
    ck_assert_str_eq(str(d, "status"), "preparing");
    ck_assert_int_eq((int)num(d, "progress"), 75);
    ck_assert_str_eq(str(d, "message"), "Transferring 3 players to new server...");
    cJSON_Delete(ev);
    const char *rest[] = {"transferring", "completing"};
    for (int i = 0; i < 2; i++) {
        ev = next_envelope(w, "migration.status_changed", after, cap, &d);
        ck_assert_str_eq(str(d, "new_status"), rest[i]);
        cJSON_Delete(ev);
    }
    /* the server is on its new node from completing on: server.updated, data.id the server */
    ev = next_envelope(w, "server.updated", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), "s1");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d, "server_id"));
    ck_assert_str_eq(str(d, "node_id"), "n2");
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.status_changed", after, cap, &d);
    ck_assert_str_eq(str(d, "new_status"), "completed");
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.completed", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), done->id);
    num(d, "duration_seconds");
    ck_assert_int_eq((int)num(d, "players_transferred"), 3);
    ck_assert(cJSON_IsTrue(member(d, "success")));
    cJSON_Delete(ev);
    /* s2: created, scheduled -> preparing, preparing -> failed, failed */
    ev = next_envelope(w, "migration.created", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), failed->id);
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.status_changed", after, cap, &d);
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.status_changed", after, cap, &d);
    ck_assert_str_eq(str(d, "new_status"), "failed");
    cJSON_Delete(ev);
    ev = next_envelope(w, "migration.failed", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), failed->id);
    ck_assert_str_eq(str(d, "error"), "Failed to start container on target node");
    ck_assert(cJSON_IsTrue(member(d, "rollback_success")));
    ck_assert_str_eq(str(d, "fail_reason"), "target_unhealthy");
    cJSON_Delete(ev);
    /* a node's change: data.id the node */
    ev = next_envelope(w, "node.updated", after, cap, &d);
    ck_assert_str_eq(str(d, "id"), "n3");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d, "node_id"));
    ck_assert_double_eq_tol(num(d, "eur_hour"), 0.25, 1e-9);
    cJSON_Delete(ev);
}

/* Makes the events expect_seed_types() reads: s1 moved n1 -> n2 with a progress report
 * and 3 players, s2 failed in preparing, n3's price changed. */
static void make_seed_events(migration_t *m, migration_t *f) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.savings_eur_hour = 0.15;
    ck_assert_int_eq(store_create_migration(fx_rc, &c, m), 0);
    ck_assert_int_eq(store_promote(fx_rc, m->id), 0);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 60000, m), 0);
    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 75;
    rep.progress_message = "Transferring 3 players to new server...";
    ck_assert_int_eq(store_report_progress(fx_rc, m->id, m->lease_token, &rep), 0);
    uint64_t token = m->lease_token;
    ck_assert_int_eq(store_advance(fx_rc, m->id, token, MIG_TRANSFERRING, NULL), 0);
    ck_assert_int_eq(store_advance(fx_rc, m->id, token, MIG_COMPLETING, NULL), 0);
    store_report_init(&rep);
    rep.players_transferred = 3;
    char id[MIG_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", m->id);
    ck_assert_int_eq(store_complete(fx_rc, id, token, 0, &rep, m), 0);
    ck_assert_int_eq(store_get_migration(fx_rc, id, m), 0);

    migration_create_init(&c);
    c.server_id = "s2";
    c.to_node_id = "n2";
    ck_assert_int_eq(store_create_migration(fx_rc, &c, f), 0);
    ck_assert_int_eq(store_promote(fx_rc, f->id), 0);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 60000, f), 0);
    store_failure_t fail = {"Failed to start container on target node", "target_unhealthy", 1, 0, 0, 0};
    snprintf(id, sizeof id, "%s", f->id);
    ck_assert_int_eq(store_fail(fx_rc, id, f->lease_token, &fail, f), 0);
    ck_assert_int_eq(store_get_migration(fx_rc, id, f), 0);
    const char *node[] = {"eur_hour", "0.25"};
    ck_assert_int_eq(store_put_node(fx_rc, "n3", node, 1), 0);
}

/* ---- tests ----------------------------------------------------------------------------- */

START_TEST(test_live_events_of_the_five_seed_types_come_in_the_seeds_envelope) {
    fx_fleet(2);
    ws_t w;
    ck_assert_int_eq(ws_open(&w, port, "/api/ws", NULL, 0), 101);
    wait_clients(1);
    migration_t m, f;
    migration_init(&m);
    migration_init(&f);
    make_seed_events(&m, &f);
    char after[64] = "";
    expect_seed_types(&w, &m, &f, after, sizeof after);
    ws_close(&w);
    migration_clear(&m);
    migration_clear(&f);
}
END_TEST

/* A client that saw the first event, lost its connection and came back with ?since gets
 * the rest replayed from the stream in the same envelope, then the live ones. */
START_TEST(test_resume_after_reconnect_replays_in_the_envelope_then_goes_live) {
    fx_fleet(2);
    /* the fleet's own events may still be on their way to a live client: the test's
     * first event is the first one after the last of them */
    redisReply *last = fx_cmd("XREVRANGE mig:events + - COUNT 1");
    ck_assert_int_eq((int)last->elements, 1);
    char after[64];
    snprintf(after, sizeof after, "%s", last->element[0]->element[0]->str);
    freeReplyObject(last);
    ws_t w;
    ck_assert_int_eq(ws_open(&w, port, "/api/ws", NULL, 0), 101);
    wait_clients(1);
    const char *p1[] = {"players", "1"};
    ck_assert_int_eq(store_put_server(fx_rc, "s1", p1, 1), 0);
    const cJSON *d;
    cJSON *ev = ws_next_json(&w);
    while (!id_after(str(ev, "event_id"), after)) {
        cJSON_Delete(ev);
        ev = ws_next_json(&w);
    }
    ev = check_envelope(ev, "server.updated", after, sizeof after, &d);
    ck_assert_str_eq(str(d, "id"), "s1");
    ck_assert_int_eq((int)num(d, "players"), 1);
    cJSON_Delete(ev);
    ws_close(&w);
    wait_clients(0);

    /* while it is away: the five seed types happen */
    const char *p0[] = {"players", "0"};
    ck_assert_int_eq(store_put_server(fx_rc, "s1", p0, 1), 0);
    migration_t m, f;
    migration_init(&m);
    migration_init(&f);
    make_seed_events(&m, &f);

    char path[128];
    snprintf(path, sizeof path, "/api/ws?since=%s", after);
    ck_assert_int_eq(ws_open(&w, port, path, NULL, 0), 101);
    ev = next_envelope(&w, "server.updated", after, sizeof after, &d);
    ck_assert_int_eq((int)num(d, "players"), 0);
    cJSON_Delete(ev);
    expect_seed_types(&w, &m, &f, after, sizeof after);
    /* and the first live event after the replay, in the envelope too */
    const char *p7[] = {"players", "7"};
    ck_assert_int_eq(store_put_server(fx_rc, "s2", p7, 1), 0);
    ev = next_envelope(&w, "server.updated", after, sizeof after, &d);
    ck_assert_str_eq(str(d, "id"), "s2");
    ck_assert_int_eq((int)num(d, "players"), 7);
    cJSON_Delete(ev);
    ws_close(&w);
    migration_clear(&m);
    migration_clear(&f);
}
END_TEST

/* ?format=flat: the stream's own form, migration_id beside the type, for older clients;
 * the envelope of the same event on another client at the same time. */
START_TEST(test_format_flat_keeps_the_stream_form_beside_the_envelope) {
    fx_fleet(1);
    ws_t flat, env;
    ck_assert_int_eq(ws_open(&flat, port, "/api/ws?format=flat", NULL, 0), 101);
    ck_assert_int_eq(ws_open(&env, port, "/api/ws?format=envelope", NULL, 0), 101);
    wait_clients(2);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    /* the fleet's own events (node.updated, server.updated) may still be on their way */
    cJSON *a = ws_next_json(&flat);
    while (strcmp(str(a, "type"), "migration.created") != 0) {
        cJSON_Delete(a);
        a = ws_next_json(&flat);
    }
    ck_assert_str_eq(str(a, "type"), "migration.created");
    ck_assert_str_eq(str(a, "migration_id"), m.id);
    ck_assert_str_eq(str(a, "server_id"), "s1");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(a, "data"));
    char after[64] = "";
    const cJSON *d;
    cJSON *b = ws_next_json(&env); /* likewise */
    while (strcmp(str(b, "type"), "migration.created") != 0) {
        cJSON_Delete(b);
        b = ws_next_json(&env);
    }
    b = check_envelope(b, "migration.created", after, sizeof after, &d);
    ck_assert_str_eq(str(d, "id"), m.id);
    ck_assert_str_eq(str(a, "event_id"), after);
    cJSON_Delete(a);
    cJSON_Delete(b);
    ws_close(&flat);
    ws_close(&env);
    migration_clear(&m);
}
END_TEST

Suite *suite_envelope(void) {
    Suite *s = suite_create("envelope");
    TCase *tc = tcase_create("envelope");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_live_events_of_the_five_seed_types_come_in_the_seeds_envelope);
    tcase_add_test(tc, test_resume_after_reconnect_replays_in_the_envelope_then_goes_live);
    tcase_add_test(tc, test_format_flat_keeps_the_stream_form_beside_the_envelope);
    suite_add_tcase(s, tc);
    return s;
}
