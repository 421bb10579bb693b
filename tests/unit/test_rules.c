/* test_rules.c - the promotion rules: each one holds a migration back with its reason,
 * and all of them together let it start; the maintenance window's math. */
#include <check.h>
#include <string.h>

#include "scheduler/rules.h"
#include "suites.h"

#define NOW 1800000000000LL

static migration_t m;
static server_t s;
static node_t to;
static rules_facts_t f;
static rules_limits_t lim;

/* A world where every rule holds. */
static void setup(void) {
    migration_init(&m);
    inventory_server_init(&s);
    inventory_node_init(&to);
    m.from_node_id = (char *)"n1";
    m.to_node_id = (char *)"n2";
    s.players = 0;
    s.idle_since = NOW - 600000;
    s.ram_mb = 4096;
    s.disk_mb = 5000;
    s.state = (char *)"running";
    to.healthy = 1;
    to.ram_free_mb = 8192;
    to.disk_free_mb = 100000;
    f = (rules_facts_t){.m = &m, .server = &s, .to = &to, .now = NOW};
    lim = (rules_limits_t){.idle_ms = 300000, .max_parallel = 10, .max_per_node = 2, .recheck_ms = 30000};
}

static rules_verdict_t decide(void) {
    rules_verdict_t v;
    rules_decide(&f, &lim, &v);
    return v;
}

static void held(const char *words, int64_t retry_at) {
    rules_verdict_t v = decide();
    ck_assert_msg(!v.promote, "promoted, expected held for \"%s\"", words);
    ck_assert_msg(strstr(v.reason, words) != NULL, "reason \"%s\" lacks \"%s\"", v.reason, words);
    ck_assert_int_eq(v.retry_at, retry_at);
}

START_TEST(test_every_rule_holding_promotes) {
    ck_assert(decide().promote);
}
END_TEST

START_TEST(test_unhealthy_target_holds_with_reason) {
    to.healthy = 0;
    held("target node unhealthy", NOW + 30000);
}
END_TEST

START_TEST(test_short_ram_and_disk_hold_with_amounts) {
    to.ram_free_mb = 1000;
    held("low on RAM (needs 4096 MB, 1000 free)", NOW + 30000);
    to.ram_free_mb = 8192;
    to.disk_free_mb = 10;
    held("target node low on disk", NOW + 30000);
}
END_TEST

START_TEST(test_critical_server_scaling_and_platform_queue_hold) {
    s.state = (char *)"critical";
    held("critical", NOW + 30000);
    s.state = (char *)"running";
    f.scaling = true;
    held("scaling event", NOW + 30000);
    f.scaling = false;
    f.platform_queue = 3;
    held("3 servers waiting to start", NOW + 30000);
}
END_TEST

START_TEST(test_cooldown_holds_until_it_ends) {
    f.cooldown_left_ms = 12 * 60000 - 5;
    held("cooldown: 12 min left", NOW + 12 * 60000 - 5);
}
END_TEST

START_TEST(test_fleet_and_node_limits_hold) {
    f.inflight = 10;
    held("fleet limit: 10", NOW + 30000);
    f.inflight = 2;
    f.inflight_from = 2;
    held("source node busy", NOW + 30000);
    f.inflight_from = 0;
    f.inflight_to = 2;
    held("target node busy", NOW + 30000);
}
END_TEST

START_TEST(test_players_online_and_short_idle_hold_unless_start_now) {
    s.players = 3;
    held("3 players online", NOW + 30000);
    s.players = 1;
    held("1 player online", NOW + 30000);
    s.players = 0;
    s.idle_since = NOW - 100000;
    held("idle for 100 s of 300 s", NOW + 200000);
    m.start_now = true;
    ck_assert(decide().promote);
}
END_TEST

START_TEST(test_missing_server_or_node_holds) {
    f.server = NULL;
    held("server not in the inventory", NOW + 30000);
    f.server = &s;
    f.to = NULL;
    held("target node not in the inventory", NOW + 30000);
}
END_TEST

/* NOW is 2027-01-15T08:00:00Z; the tests pass the local time of day themselves. */
#define H(h, m) ((h) * 3600 + (m) * 60)

static rules_window_t window(const char *text) {
    rules_window_t w;
    char err[256];
    ck_assert_msg(rules_window_parse(text, &w, err, sizeof err) == 0, "%s: %s", text, err);
    return w;
}

START_TEST(test_window_parse_reads_times_and_zone_and_refuses_garbage) {
    rules_window_t w = window("02:00-06:00 Europe/Berlin");
    ck_assert_int_eq(w.start_s, H(2, 0));
    ck_assert_int_eq(w.end_s, H(6, 0));
    ck_assert_str_eq(w.zone, "Europe/Berlin");
    w = window("22:30-04:15");
    ck_assert_int_eq(w.start_s, H(22, 30));
    ck_assert_int_eq(w.end_s, H(4, 15));
    ck_assert_str_eq(w.zone, "local time");
    const char *bad[] = {"", "2:00-06:00", "02:00-24:00", "02:60-06:00", "02:00 06:00", "02:00-06:00x",
                         "03:00-03:00", "02:00-06:00 ../etc/passwd", "02:00-06:00 /etc/x", "02:00-06:00 A B"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        ck_assert_msg(rules_window_parse(bad[i], &w, err, sizeof err) == -1, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strstr(err, "MIG_WINDOW") != NULL, "\"%s\" names no setting", err);
    }
}
END_TEST

START_TEST(test_window_wait_inside_before_and_after_a_daytime_window) {
    rules_window_t w = window("02:00-06:00");
    ck_assert_int_eq(rules_window_wait_s(&w, H(2, 0)), 0);      /* opens at its start */
    ck_assert_int_eq(rules_window_wait_s(&w, H(5, 59) + 59), 0);
    ck_assert_int_eq(rules_window_wait_s(&w, H(6, 0)), H(20, 0)); /* closed at its end: tomorrow */
    ck_assert_int_eq(rules_window_wait_s(&w, H(1, 30)), H(0, 30));
    ck_assert_int_eq(rules_window_wait_s(&w, 0), H(2, 0));
    ck_assert_int_eq(rules_window_wait_s(&w, 86399), H(2, 0) + 1);
}
END_TEST

START_TEST(test_window_wait_across_midnight) {
    rules_window_t w = window("22:00-04:00");
    ck_assert_int_eq(rules_window_wait_s(&w, H(23, 0)), 0);
    ck_assert_int_eq(rules_window_wait_s(&w, 0), 0);
    ck_assert_int_eq(rules_window_wait_s(&w, H(3, 59)), 0);
    ck_assert_int_eq(rules_window_wait_s(&w, H(4, 0)), H(18, 0));
    ck_assert_int_eq(rules_window_wait_s(&w, H(21, 59) + 30), 30);
}
END_TEST

START_TEST(test_window_holds_level_2_system_moves_only_until_it_opens) {
    rules_window_t w = window("02:00-06:00 Europe/Berlin");
    lim.window = &w;
    m.level = 2;
    m.triggered_by = MIG_TRIGGER_SYSTEM;
    f.local_sod = H(9, 0); /* 17 h before the window */
    held("waiting for the maintenance window at 02:00 (Europe/Berlin)", NOW + H(17, 0) * 1000LL);
    f.local_sod = H(3, 0);
    ck_assert(decide().promote);
    f.local_sod = H(9, 0);
    m.level = 1; /* a suggestion an operator approved */
    ck_assert(decide().promote);
    m.level = 0;
    m.triggered_by = MIG_TRIGGER_ADMIN; /* an operator's own */
    ck_assert(decide().promote);
}
END_TEST

START_TEST(test_not_before_in_the_future_holds_until_it) {
    m.not_before = NOW + 5000;
    held("waiting for its start time", NOW + 5000);
    m.not_before = NOW;
    ck_assert(decide().promote);
}
END_TEST

Suite *suite_rules(void) {
    Suite *su = suite_create("rules");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_every_rule_holding_promotes);
    tcase_add_test(tc, test_unhealthy_target_holds_with_reason);
    tcase_add_test(tc, test_short_ram_and_disk_hold_with_amounts);
    tcase_add_test(tc, test_critical_server_scaling_and_platform_queue_hold);
    tcase_add_test(tc, test_cooldown_holds_until_it_ends);
    tcase_add_test(tc, test_fleet_and_node_limits_hold);
    tcase_add_test(tc, test_players_online_and_short_idle_hold_unless_start_now);
    tcase_add_test(tc, test_missing_server_or_node_holds);
    tcase_add_test(tc, test_window_parse_reads_times_and_zone_and_refuses_garbage);
    tcase_add_test(tc, test_window_wait_inside_before_and_after_a_daytime_window);
    tcase_add_test(tc, test_window_wait_across_midnight);
    tcase_add_test(tc, test_window_holds_level_2_system_moves_only_until_it_opens);
    tcase_add_test(tc, test_not_before_in_the_future_holds_until_it);
    suite_add_tcase(su, tc);
    return su;
}
