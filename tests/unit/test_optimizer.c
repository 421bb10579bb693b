/* test_optimizer.c - the cost optimizer's choice of target and plan, without Redis. */
#include <check.h>
#include <stdlib.h>

#include "sim/optimizer.h"
#include "suites.h"

/* A node; strings are literals (never freed here). */
static node_t node(const char *id, double price, long long ram_total, long long ram_free, long long disk_free,
                   int healthy) {
    node_t n = {.id = (char *)id, .name = (char *)id, .address = (char *)id, .healthy = healthy,
                .ram_total_mb = ram_total, .ram_free_mb = ram_free, .disk_free_mb = disk_free, .eur_hour = price};
    return n;
}

static server_t server(const char *id, const char *node_id, long long ram, long long disk, const char *state) {
    server_t s = {.id = (char *)id, .name = (char *)id, .node_id = (char *)node_id, .state = (char *)state,
                  .players = 0, .idle_since = 0, .ram_mb = ram, .disk_mb = disk};
    return s;
}

START_TEST(test_savings_are_the_price_difference_times_the_ram_share_in_cents) {
    node_t a = node("n1", 0.30, 65536, 0, 0, 1), b = node("n2", 0.15, 65536, 0, 0, 1);
    server_t s = server("s1", "n1", 4096, 5000, "running");
    /* (0.30 - 0.15) * 4096 / 65536 = 0.009375 -> 0.01 */
    ck_assert_double_eq_tol(optimizer_savings(&a, &b, &s), 0.01, 1e-12);
    s.ram_mb = 32768; /* half the node: 0.075 -> 0.08 */
    ck_assert_double_eq_tol(optimizer_savings(&a, &b, &s), 0.08, 1e-12);
    s.ram_mb = 131072; /* more than the node: the share is capped at the whole node */
    ck_assert_double_eq_tol(optimizer_savings(&a, &b, &s), 0.15, 1e-12);
    a.ram_total_mb = -1;
    ck_assert(optimizer_savings(&a, &b, &s) < 0);
}
END_TEST

START_TEST(test_target_is_the_cheapest_healthy_node_with_room) {
    node_t nodes[] = {
        node("n1", 0.40, 16384, 0, 100000, 1),    /* its own */
        node("n2", 0.10, 16384, 2048, 100000, 1), /* cheapest, too little RAM */
        node("n3", 0.12, 16384, 8192, 100, 1),    /* too little disk */
        node("n4", 0.05, 16384, 16384, 100000, 0),/* unhealthy */
        node("n5", 0.20, 16384, 8192, 100000, 1), /* fits */
        node("n6", 0.15, 16384, 8192, 100000, 1), /* fits, cheaper: the choice */
        node("n7", 0.50, 16384, 16384, 100000, 1),/* dearer */
    };
    long long ram[7], disk[7];
    for (int i = 0; i < 7; i++) ram[i] = nodes[i].ram_free_mb, disk[i] = nodes[i].disk_free_mb;
    server_t s = server("s1", "n1", 4096, 5000, "running");
    double sv = -1;
    ck_assert_int_eq(optimizer_pick_target(nodes, 7, ram, disk, &s, 0, 0.01, &sv), 5);
    /* (0.40 - 0.15) * 4096 / 16384 = 0.0625 -> 0.06 */
    ck_assert_double_eq_tol(sv, 0.06, 1e-12);
    /* a saving under the minimum is no move */
    ck_assert_int_eq(optimizer_pick_target(nodes, 7, ram, disk, &s, 0, 0.10, &sv), -1);
    /* from the cheapest node there is nowhere cheaper */
    ck_assert_int_eq(optimizer_pick_target(nodes, 7, ram, disk, &s, 3, 0.01, &sv), -1);
}
END_TEST

START_TEST(test_equal_prices_prefer_the_node_with_more_free_ram) {
    node_t nodes[] = {node("n1", 0.40, 16384, 0, 1000, 1), node("n2", 0.10, 16384, 4096, 10000, 1),
                      node("n3", 0.10, 16384, 8192, 10000, 1)};
    long long ram[] = {0, 4096, 8192}, disk[] = {1000, 10000, 10000};
    server_t s = server("s1", "n1", 4096, 5000, "running");
    double sv;
    ck_assert_int_eq(optimizer_pick_target(nodes, 3, ram, disk, &s, 0, 0.01, &sv), 2);
}
END_TEST

START_TEST(test_a_plan_never_overfills_a_node_and_takes_the_biggest_savings_first) {
    node_t nodes[] = {node("n1", 0.40, 16384, 0, 100000, 1), node("n2", 0.10, 16384, 8192, 100000, 1),
                      node("n3", 0.30, 16384, 16384, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 4096, 1000, "running"), server("s2", "n1", 8192, 1000, "running"),
                          server("s3", "n1", 4096, 1000, "running")};
    optimizer_move_t *mv;
    size_t n;
    ck_assert_int_eq(optimizer_plan(nodes, 3, servers, 3, NULL, 0, 0.01, &mv, &n), 0);
    ck_assert_int_eq(n, 3);
    /* s2 (8 GB) saves most on n2 and fills it; s1 and s3 go to n3 */
    ck_assert_int_eq(mv[0].server, 1);
    ck_assert_int_eq(mv[0].to, 1);
    ck_assert_double_eq_tol(mv[0].savings_eur_hour, 0.15, 1e-12);
    ck_assert_int_eq(mv[1].to, 2);
    ck_assert_int_eq(mv[2].to, 2);
    ck_assert_int_eq(mv[1].from, 0);
    long long on_n2 = 0;
    for (size_t i = 0; i < n; i++)
        if (mv[i].to == 1) on_n2 += servers[mv[i].server].ram_mb;
    ck_assert_int_le(on_n2, 8192);
    char note[256];
    optimizer_note(nodes, servers, &mv[0], note, sizeof note);
    ck_assert_str_eq(note, "cost: n1 at 0.40 EUR/h -> n2 at 0.10 EUR/h, 8192 of 16384 MB RAM");
    free(mv);
}
END_TEST

START_TEST(test_a_plan_skips_busy_and_stopped_servers_and_holds_room_for_pending_moves) {
    node_t nodes[] = {node("n1", 0.40, 16384, 0, 100000, 1), node("n2", 0.10, 16384, 8192, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 4096, 1000, "running"), server("s2", "n1", 4096, 1000, "running"),
                          server("s3", "n1", 4096, 1000, "stopped"), server("s4", "n1", 4096, 1000, "running")};
    /* s1 has a suggestion to n2 (holds 4 GB there); s2 is in flight (its container holds
     * its room already, so the free RAM counts it) */
    optimizer_busy_t busy[] = {{"s1", "n2", false, NULL, false}, {"s2", "n2", true, NULL, false}};
    optimizer_move_t *mv;
    size_t n;
    ck_assert_int_eq(optimizer_plan(nodes, 2, servers, 4, busy, 2, 0.01, &mv, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(mv[0].server, 3);
    free(mv);
    /* with s4's room taken too, nothing is left */
    nodes[1].ram_free_mb = 4096;
    ck_assert_int_eq(optimizer_plan(nodes, 2, servers, 4, busy, 2, 0.01, &mv, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(mv);
}
END_TEST

/* ---- drains ------------------------------------------------------------------------------ */

static const optimizer_limits_t LIM = {.min_savings = 0.05, .max_moves_per_node = 8};

START_TEST(test_a_drain_empties_the_dearest_node_and_spreads_its_price_over_its_moves) {
    /* n1 at 0.43 holds three servers; n2 (cheap) and n3 have room for them together */
    node_t nodes[] = {node("n1", 0.43, 32768, 16384, 100000, 1), node("n2", 0.10, 32768, 12288, 100000, 1),
                      node("n3", 0.20, 32768, 8192, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 4096, 1000, "running"), server("s2", "n1", 8192, 1000, "running"),
                          server("s3", "n1", 4096, 1000, "running"), server("s4", "n2", 20480, 1000, "running"),
                          server("s5", "n3", 24576, 1000, "running")};
    optimizer_move_t *mv;
    size_t n;
    ck_assert_int_eq(optimizer_plan_drains(nodes, 3, servers, 5, NULL, 0, &LIM, &mv, &n), 0);
    ck_assert_int_eq(n, 3);
    double sum = 0;
    long long to_ram[3] = {0};
    for (size_t i = 0; i < n; i++) {
        ck_assert(mv[i].drain);
        ck_assert_int_eq(mv[i].from, 0);
        ck_assert_int_ne(mv[i].to, 0);
        ck_assert_int_eq(mv[i].drain_moves, 3);
        ck_assert_int_eq(mv[i].drain_index, (int)i + 1);
        ck_assert_double_eq_tol(mv[i].drain_eur_hour, 0.43, 1e-9);
        sum += mv[i].savings_eur_hour;
        to_ram[mv[i].to] += servers[mv[i].server].ram_mb;
    }
    /* the shares add up to the node's price, in cents: 0.15 + 0.14 + 0.14 */
    ck_assert_double_eq_tol(sum, 0.43, 1e-9);
    ck_assert_double_eq_tol(mv[0].savings_eur_hour, 0.15, 1e-9);
    ck_assert_double_eq_tol(mv[2].savings_eur_hour, 0.14, 1e-9);
    /* biggest first to the cheapest node with room: s2 (8 GB) and s1 to n2, s3 to n3 */
    ck_assert_int_eq(mv[0].server, 1);
    ck_assert_int_eq(mv[0].to, 1);
    ck_assert_int_le(to_ram[1], 12288);
    ck_assert_int_le(to_ram[2], 8192);
    char note[384];
    optimizer_note(nodes, servers, &mv[0], note, sizeof note);
    ck_assert_str_eq(note, "drains n1: \xe2\x82\xac" "0.43/h (move 1 of 3, \xe2\x82\xac" "0.15/h of it; to n2)");
    free(mv);
}
END_TEST

START_TEST(test_no_drain_when_one_server_does_not_fit_and_no_penny_moves) {
    /* n1's two servers need 12 GB; the others have 8 GB free in all: n1 stays. Nor does
     * n2 (0.10, one server that would fit on n3) make a suggestion under 0.15 EUR/h. */
    node_t nodes[] = {node("n1", 0.40, 32768, 20480, 100000, 1), node("n2", 0.10, 16384, 12288, 100000, 1),
                      node("n3", 0.12, 16384, 4096, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 8192, 1000, "running"), server("s2", "n1", 4096, 1000, "running"),
                          server("s3", "n2", 4096, 1000, "running"), server("s4", "n3", 12288, 1000, "running")};
    optimizer_limits_t lim = {.min_savings = 0.15, .max_moves_per_node = 8};
    optimizer_move_t *mv;
    size_t n;
    nodes[1].ram_free_mb = 4096; /* n2 keeps 4 GB free, n3 4 GB: 8 GB in all, two pieces */
    ck_assert_int_eq(optimizer_plan_drains(nodes, 3, servers, 4, NULL, 0, &lim, &mv, &n), 0);
    /* s1 (8 GB) fits nowhere, so n1 is not drained; n2 and n3 are too cheap to be worth it;
     * a single move of s2 saves (0.40 - 0.10) * 4096 / 32768 = 0.04, under the minimum */
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(mv);
}
END_TEST

START_TEST(test_a_server_in_cooldown_or_stopped_pins_its_node_and_a_leaving_one_does_not) {
    node_t nodes[] = {node("n1", 0.40, 32768, 20480, 100000, 1), node("n2", 0.10, 65536, 65536, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 4096, 1000, "running"), server("s2", "n1", 4096, 1000, "running")};
    optimizer_move_t *mv;
    size_t n;
    optimizer_busy_t cooling[] = {{.server_id = "s2", .cooling = true}};
    ck_assert_int_eq(optimizer_plan_drains(nodes, 2, servers, 2, cooling, 1, &LIM, &mv, &n), 0);
    for (size_t i = 0; i < n; i++) ck_assert(!mv[i].drain);
    free(mv);
    servers[1].state = (char *)"stopped";
    ck_assert_int_eq(optimizer_plan_drains(nodes, 2, servers, 2, NULL, 0, &LIM, &mv, &n), 0);
    for (size_t i = 0; i < n; i++) ck_assert(!mv[i].drain);
    free(mv);
    /* s2 already has a suggestion away from n1: the drain moves s1 and counts on s2 going */
    servers[1].state = (char *)"running";
    optimizer_busy_t leaving[] = {{"s2", "n2", false, "n1", false}};
    ck_assert_int_eq(optimizer_plan_drains(nodes, 2, servers, 2, leaving, 1, &LIM, &mv, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert(mv[0].drain);
    ck_assert_int_eq(mv[0].server, 0);
    ck_assert_int_eq(mv[0].to, 1);
    ck_assert_double_eq_tol(mv[0].savings_eur_hour, 0.40, 1e-9);
    free(mv);
    /* a move coming to n1 pins it: it is wanted */
    optimizer_busy_t coming[] = {{"s9", "n1", false, "n2", false}};
    ck_assert_int_eq(optimizer_plan_drains(nodes, 2, servers, 2, coming, 1, &LIM, &mv, &n), 0);
    ck_assert_int_eq(n, 0);
    free(mv);
}
END_TEST

START_TEST(test_the_per_node_budget_bounds_a_drain_and_its_targets) {
    node_t nodes[] = {node("n1", 0.40, 65536, 0, 100000, 1), node("n2", 0.10, 65536, 65536, 100000, 1),
                      node("n3", 0.12, 65536, 65536, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 1024, 100, "running"), server("s2", "n1", 1024, 100, "running"),
                          server("s3", "n1", 1024, 100, "running"), server("s4", "n1", 1024, 100, "running")};
    optimizer_move_t *mv;
    size_t n;
    optimizer_limits_t lim = {.min_savings = 0.05, .max_moves_per_node = 3};
    ck_assert_int_eq(optimizer_plan_drains(nodes, 3, servers, 4, NULL, 0, &lim, &mv, &n), 0);
    ck_assert_int_eq(n, 0); /* four moves off n1 pass its budget of three; single moves save too little */
    free(mv);
    lim.max_moves_per_node = 4;
    ck_assert_int_eq(optimizer_plan_drains(nodes, 3, servers, 4, NULL, 0, &lim, &mv, &n), 0);
    ck_assert_int_eq(n, 4);
    int on_n2 = 0;
    for (size_t i = 0; i < n; i++) on_n2 += mv[i].to == 1;
    ck_assert_int_eq(on_n2, 4);
    free(mv);
    lim.max_moves_per_node = 4;
    optimizer_busy_t pending[] = {{"x9", "n2", true, "n3", false}}; /* n2 takes part in one already */
    ck_assert_int_eq(optimizer_plan_drains(nodes, 3, servers, 4, pending, 1, &lim, &mv, &n), 0);
    ck_assert_int_eq(n, 4);
    on_n2 = 0;
    for (size_t i = 0; i < n; i++) on_n2 += mv[i].to == 1;
    ck_assert_int_eq(on_n2, 3); /* the fourth goes to n3 */
    free(mv);
}
END_TEST

START_TEST(test_a_drain_whose_moves_would_save_under_the_minimum_each_is_not_planned) {
    /* n1 at 0.06 EUR/h with four servers: 0.015 each, under 0.05; at 0.20, 0.05 each */
    node_t nodes[] = {node("n1", 0.06, 65536, 0, 100000, 1), node("n2", 0.05, 65536, 65536, 100000, 1)};
    server_t servers[] = {server("s1", "n1", 1024, 100, "running"), server("s2", "n1", 1024, 100, "running"),
                          server("s3", "n1", 1024, 100, "running"), server("s4", "n1", 1024, 100, "running")};
    optimizer_move_t *mv;
    size_t n;
    ck_assert_int_eq(optimizer_plan_drains(nodes, 2, servers, 4, NULL, 0, &LIM, &mv, &n), 0);
    ck_assert_int_eq(n, 0);
    nodes[0].eur_hour = 0.20;
    ck_assert_int_eq(optimizer_plan_drains(nodes, 2, servers, 4, NULL, 0, &LIM, &mv, &n), 0);
    ck_assert_int_eq(n, 4);
    for (size_t i = 0; i < n; i++) ck_assert_double_eq_tol(mv[i].savings_eur_hour, 0.05, 1e-9);
    free(mv);
}
END_TEST

Suite *suite_optimizer(void) {
    Suite *s = suite_create("optimizer");
    TCase *tc = tcase_create("optimizer");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_savings_are_the_price_difference_times_the_ram_share_in_cents);
    tcase_add_test(tc, test_target_is_the_cheapest_healthy_node_with_room);
    tcase_add_test(tc, test_equal_prices_prefer_the_node_with_more_free_ram);
    tcase_add_test(tc, test_a_plan_never_overfills_a_node_and_takes_the_biggest_savings_first);
    tcase_add_test(tc, test_a_plan_skips_busy_and_stopped_servers_and_holds_room_for_pending_moves);
    tcase_add_test(tc, test_a_drain_empties_the_dearest_node_and_spreads_its_price_over_its_moves);
    tcase_add_test(tc, test_no_drain_when_one_server_does_not_fit_and_no_penny_moves);
    tcase_add_test(tc, test_a_server_in_cooldown_or_stopped_pins_its_node_and_a_leaving_one_does_not);
    tcase_add_test(tc, test_the_per_node_budget_bounds_a_drain_and_its_targets);
    tcase_add_test(tc, test_a_drain_whose_moves_would_save_under_the_minimum_each_is_not_planned);
    suite_add_tcase(s, tc);
    return s;
}
