/* test_events.c - the events each function emits, field by field, on the channel and in
 * the stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"

static redisContext *sub;

static void subscribe(void) {
    sub = redisConnectUnix(fx_redis.sock);
    ck_assert(sub && !sub->err);
    struct timeval tv = {5, 0};
    redisSetTimeout(sub, tv);
    redisReply *r = redisCommand(sub, "SUBSCRIBE mig:events");
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
}

/* The next published event, parsed; fails the test after 5 s without one. */
static cJSON *next_event(void) {
    redisReply *r = NULL;
    ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    cJSON *ev = cJSON_Parse(r->element[2]->str);
    ck_assert_msg(ev != NULL, "not JSON: %s", r->element[2]->str);
    freeReplyObject(r);
    return ev;
}

static const char *str(const cJSON *ev, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, k);
    ck_assert_msg(cJSON_IsString(v), "field %s is not a string", k);
    return v->valuestring;
}

static double num(const cJSON *ev, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, k);
    ck_assert_msg(cJSON_IsNumber(v), "field %s is not a number", k);
    return v->valuedouble;
}

/* Checks the fields every event has and that it has exactly `nfields` of them. */
static void common(const cJSON *ev, const char *type, const char *mid, int nfields) {
    ck_assert_str_eq(str(ev, "type"), type);
    if (mid) ck_assert_str_eq(str(ev, "migration_id"), mid);
    int64_t ms;
    ck_assert_int_eq(timefmt_parse_rfc3339(str(ev, "timestamp"), &ms), 0);
    ck_assert(ms > 1700000000000LL);
    const char *id = str(ev, "event_id");
    /* the event_id is the stream entry that holds the same JSON without it */
    redisReply *x = fx_cmd("XRANGE mig:events %s %s", id, id);
    ck_assert_int_eq(x->elements, 1);
    cJSON *stored = cJSON_Parse(x->element[0]->element[1]->element[1]->str);
    ck_assert_ptr_nonnull(stored);
    cJSON *copy = cJSON_Duplicate(ev, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "event_id");
    ck_assert(cJSON_Compare(stored, copy, 1));
    cJSON_Delete(stored);
    cJSON_Delete(copy);
    freeReplyObject(x);
    ck_assert_int_eq(cJSON_GetArraySize(ev), nfields);
}

static void status_changed(const char *mid, const char *from, const char *to) {
    cJSON *ev = next_event();
    common(ev, "migration.status_changed", mid, 7);
    ck_assert_str_eq(str(ev, "server_id"), "s1");
    ck_assert_str_eq(str(ev, "old_status"), from);
    ck_assert_str_eq(str(ev, "new_status"), to);
    cJSON_Delete(ev);
}

START_TEST(test_lifecycle_emits_seed_events_with_exact_fields_in_order) {
    fx_fleet(2);
    subscribe();
    migration_t m;
    migration_init(&m);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.reason = MIG_REASON_COST;
    c.triggered_by = MIG_TRIGGER_SYSTEM;
    c.level = 2;
    c.savings_eur_hour = 0.15;
    ck_assert_int_eq(store_create_migration(fx_rc, &c, &m), 0);

    cJSON *ev = next_event();
    common(ev, "migration.created", m.id, 16);
    ck_assert_str_eq(str(ev, "server_id"), "s1");
    ck_assert_str_eq(str(ev, "server_name"), "Server-1");
    ck_assert_str_eq(str(ev, "from_node_id"), "n1");
    ck_assert_str_eq(str(ev, "from_node_name"), "Node-A");
    ck_assert_str_eq(str(ev, "to_node_id"), "n2");
    ck_assert_str_eq(str(ev, "to_node_name"), "Node-B");
    ck_assert_str_eq(str(ev, "status"), "scheduled");
    ck_assert_str_eq(str(ev, "reason"), "cost-optimization");
    ck_assert_str_eq(str(ev, "triggered_by"), "system");
    ck_assert_double_eq_tol(num(ev, "savings_eur_hour"), 0.15, 1e-12);
    ck_assert_double_eq_tol(num(ev, "savings_eur_month"), 109.5, 1e-12);
    ck_assert_int_eq(num(ev, "level"), 2);
    cJSON_Delete(ev);

    ck_assert_int_eq(store_promote(fx_rc, m.id), 0);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 60000, &m), 0);
    status_changed(m.id, "scheduled", "preparing");

    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 40;
    rep.progress_message = "Syncing world (40%)";
    rep.phase_step = "prepare.sync";
    ck_assert_int_eq(store_report_progress(fx_rc, m.id, m.lease_token, &rep), 0);
    ev = next_event();
    common(ev, "migration.progress", m.id, 9);
    ck_assert_str_eq(str(ev, "status"), "preparing");
    ck_assert_int_eq(num(ev, "progress"), 40);
    ck_assert_str_eq(str(ev, "message"), "Syncing world (40%)");
    ck_assert_str_eq(str(ev, "phase_step"), "prepare.sync");
    cJSON_Delete(ev);

    ck_assert_int_eq(store_advance(fx_rc, m.id, m.lease_token, MIG_TRANSFERRING, NULL), 0);
    status_changed(m.id, "preparing", "transferring");
    store_report_init(&rep);
    rep.players_transferred = 3;
    rep.player_downtime_ms = 850;
    ck_assert_int_eq(store_advance(fx_rc, m.id, m.lease_token, MIG_COMPLETING, &rep), 0);
    status_changed(m.id, "transferring", "completing");
    /* the players are on n2 now: the inventory says so in the same step */
    ev = next_event();
    ck_assert_str_eq(str(ev, "type"), "server.updated");
    ck_assert_str_eq(str(ev, "server_id"), "s1");
    ck_assert_str_eq(str(ev, "node_id"), "n2");
    cJSON_Delete(ev);
    ck_assert_int_eq(store_complete(fx_rc, m.id, m.lease_token, 0, NULL, &m), 0);
    status_changed(m.id, "completing", "completed");
    ev = next_event();
    common(ev, "migration.completed", m.id, 11);
    ck_assert(num(ev, "duration_seconds") >= 0);
    ck_assert_int_eq(num(ev, "players_transferred"), 3);
    ck_assert_int_eq(num(ev, "player_downtime_ms"), 850);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ev, "success")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ev, "warning")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(ev, "cleanup_node")));
    cJSON_Delete(ev);
    migration_clear(&m);
    redisFree(sub);
}
END_TEST

START_TEST(test_failure_emits_failed_with_error_and_rollback_result) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_TRANSFERRING, &m);
    subscribe();
    store_failure_t f = {"final sync failed: disk full on n2", "sync", 1, 0, 0, 0};
    ck_assert_int_eq(store_fail(fx_rc, m.id, m.lease_token, &f, &m), 0);
    status_changed(m.id, "transferring", "failed");
    cJSON *ev = next_event();
    common(ev, "migration.failed", m.id, 8);
    ck_assert_str_eq(str(ev, "server_id"), "s1");
    ck_assert_str_eq(str(ev, "error"), "final sync failed: disk full on n2");
    ck_assert_str_eq(str(ev, "fail_reason"), "sync");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ev, "rollback_success")));
    cJSON_Delete(ev);
    migration_clear(&m);
    redisFree(sub);
}
END_TEST

START_TEST(test_inventory_events_only_when_something_changed) {
    fx_fleet(1);
    subscribe();
    const char *same[] = {"players", "0"};
    const char *more[] = {"players", "3"};
    ck_assert_int_eq(store_put_server(fx_rc, "s1", same, 1), 0);
    ck_assert_int_eq(store_put_server(fx_rc, "s1", more, 1), 0);
    cJSON *ev = next_event();
    ck_assert_str_eq(str(ev, "type"), "server.updated");
    ck_assert_str_eq(str(ev, "server_id"), "s1");
    ck_assert_int_eq(num(ev, "players"), 3);
    ck_assert_str_eq(str(ev, "node_id"), "n1");
    cJSON_Delete(ev);
    redisReply *r = fx_cmd("XLEN mig:events");
    long long len = r->integer;
    freeReplyObject(r);
    ck_assert_int_eq(store_put_server(fx_rc, "s1", more, 1), 0);
    r = fx_cmd("XLEN mig:events");
    ck_assert_int_eq(r->integer, len);
    freeReplyObject(r);
    redisFree(sub);
}
END_TEST

START_TEST(test_event_timestamps_match_the_c_rfc3339_text) {
    /* the Lua and C formatters must agree: compare on the Redis clock's current time */
    fx_fleet(1);
    subscribe();
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    cJSON *ev = next_event();
    char want[TIMEFMT_RFC3339_LEN + 1];
    timefmt_rfc3339(m.created_at, want);
    ck_assert_str_eq(str(ev, "timestamp"), want);
    cJSON_Delete(ev);
    migration_clear(&m);
    redisFree(sub);
}
END_TEST

Suite *suite_events(void) {
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_lifecycle_emits_seed_events_with_exact_fields_in_order);
    tcase_add_test(tc, test_failure_emits_failed_with_error_and_rollback_result);
    tcase_add_test(tc, test_inventory_events_only_when_something_changed);
    tcase_add_test(tc, test_event_timestamps_match_the_c_rfc3339_text);
    suite_add_tcase(s, tc);
    return s;
}
