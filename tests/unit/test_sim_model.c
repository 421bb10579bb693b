/* test_sim_model.c - the simulated fleet's pure model: capacity, container life, sync
 * arithmetic, players and the proxy, churn, the fleet file, faults and path patterns. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "sim/fault.h"
#include "sim/fleet.h"
#include "sim/model.h"
#include "sim/route.h"
#include "sim/snapshot.h"
#include "suites.h"

#define MB MODEL_MB

static model_t m;

/* Two nodes (n1 at 0.30, n2 at 0.10 EUR/h, 16 GB RAM and 100 GB disk each) and server s1
 * "Server-1" on n1: 4 GB RAM, a 1000 MB world, writing 10 MB/s, no churn. Containers start
 * in 3 s and stop in 1 s; each node takes 100 MB/s. */
static void setup(void) {
    model_opts_t o = {.start_ms = 3000, .stop_ms = 1000, .bandwidth_mb_s = 100, .session_s = 600, .seed = 7,
                      .wall0_ms = 1000000, .speed = 1};
    model_init(&m, &o);
    model_node_t n1 = {.id = "n1", .name = "Node-A", .address = "10.0.0.1", .eur_hour = 0.30,
                       .ram_total_mb = 16384, .disk_total_mb = 102400, .healthy = true};
    model_node_t n2 = {.id = "n2", .name = "Node-B", .address = "10.0.0.2", .eur_hour = 0.10,
                       .ram_total_mb = 16384, .disk_total_mb = 102400, .healthy = true};
    ck_assert_int_eq(model_add_node(&m, &n1), 0);
    ck_assert_int_eq(model_add_node(&m, &n2), 0);
    model_server_t s = {.id = "s1", .name = "Server-1", .node = 0, .ram_mb = 4096, .disk_mb = 1000,
                        .write_mb_s = 10};
    ck_assert_int_eq(model_add_server(&m, &s, true), 0);
}

static void teardown(void) {
    model_free(&m);
}

/* The container of s1 on node `node`. */
static model_container_t *ct(int node) {
    return model_container_of(&m, node, 0);
}

/* Creates s1's container on n2 for migration m1. */
static void create_target(void) {
    bool created;
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", -1, -1, &created), 0);
    ck_assert(created);
}

static const model_sync_t *begin(int pass, bool final) {
    model_sync_req_t q = {.server_id = "s1", .migration_id = "m1", .source_node_id = "n1", .pass = pass,
                          .final = final};
    const model_sync_t *s;
    bool created;
    int rv = model_begin_sync(&m, 1, &q, &s, &created);
    ck_assert_msg(rv == 0, "begin pass %d: %s", pass, m.err);
    return s;
}

/* Runs a pass to its end and returns its copy time in sim ms. */
static int64_t run_pass(int pass) {
    int64_t t0 = m.now;
    char id[32];
    snprintf(id, sizeof id, "m1.%d", pass);
    begin(pass, false);
    for (int i = 0; i < 100000 && !model_find_sync(&m, 1, id)->finished; i++) model_advance(&m, m.now + 10);
    return model_find_sync(&m, 1, id)->ended - t0;
}

/* ------------------------------------------------------------------------ containers */

START_TEST(test_container_create_reserves_capacity_and_answers_507_when_short) {
    bool created;
    ck_assert_int_eq(model_ram_free(&m, 0), 16384 - 4096);
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", 20000, 10, &created), MIG_EREFUSED);
    ck_assert_str_eq(m.err_code, "insufficient_ram");
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", 10, 200000, &created), MIG_EREFUSED);
    ck_assert_str_eq(m.err_code, "disk_full");
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", 16384, 102400, &created), 0);
    ck_assert(created);
    ck_assert_int_eq(model_ram_free(&m, 1), 0);
    ck_assert_int_eq(model_disk_free(&m, 1), 0);
    ck_assert_int_eq(model_delete_container(&m, 1, "s1"), 0);
    ck_assert_int_eq(model_ram_free(&m, 1), 16384);
}
END_TEST

START_TEST(test_container_create_is_idempotent_by_migration_and_refuses_another) {
    create_target();
    bool created = true;
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", -1, -1, &created), 0);
    ck_assert(!created);
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m2", -1, -1, &created), MIG_EEXISTS);
    /* the fleet's own container belongs to no migration */
    ck_assert_int_eq(model_create_container(&m, 0, "s1", "m1", -1, -1, &created), MIG_EEXISTS);
    ck_assert_int_eq(model_create_container(&m, 1, "s9", "m1", -1, -1, &created), MIG_ENO_SERVER);
    model_set_health(&m, 1, false);
    ck_assert_int_eq(model_delete_container(&m, 1, "s1"), 0);
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", -1, -1, &created), MIG_EUNREACHABLE);
}
END_TEST

START_TEST(test_container_takes_start_ms_to_run_and_stop_ms_to_stop) {
    create_target();
    model_ct_state_t st;
    ck_assert_int_eq(model_start_container(&m, 1, "s1", &st), 0);
    ck_assert_int_eq(st, CT_STARTING);
    model_advance(&m, 2999);
    ck_assert_int_eq(ct(1)->state, CT_STARTING);
    model_advance(&m, 3000);
    ck_assert_int_eq(ct(1)->state, CT_RUNNING);
    ck_assert_int_eq(model_start_container(&m, 1, "s1", &st), 0);
    ck_assert_int_eq(st, CT_RUNNING);
    ck_assert_int_eq(model_stop_container(&m, 1, "s1", &st), 0);
    ck_assert_int_eq(st, CT_STOPPING);
    ck_assert_int_eq(model_start_container(&m, 1, "s1", &st), MIG_EILLEGAL);
    model_advance(&m, 4000);
    ck_assert_int_eq(ct(1)->state, CT_STOPPED);
    ck_assert_int_eq(model_start_container(&m, 0, "s2", &st), MIG_ENOT_FOUND);
}
END_TEST

START_TEST(test_stopping_a_container_drops_the_players_connected_to_it) {
    ck_assert_int_eq(players_set_count(&m, 0, 3, false), 0);
    ck_assert_int_eq(model_container_players(&m, ct(0)->id), 3);
    model_ct_state_t st;
    ck_assert_int_eq(model_stop_container(&m, 0, "s1", &st), 0);
    ck_assert_int_eq(players_count(&m, "Server-1"), 0);
    ck_assert_int_eq(m.kicked, 3);
}
END_TEST

/* ------------------------------------------------------------------------ syncs */

START_TEST(test_pass_one_copies_the_world_in_size_over_bandwidth) {
    create_target();
    const model_sync_t *s = begin(1, false);
    ck_assert_double_eq(s->total, 1000 * MB);
    model_advance(&m, 5000);
    s = model_find_sync(&m, 1, "m1.1");
    ck_assert_int_eq(model_sync_progress(s), 50);
    ck_assert_double_eq_tol(s->done, 500 * MB, 1);
    /* 5 s of the running source at 10 MB/s */
    ck_assert_double_eq_tol(model_sync_dirty(&m, s), 50 * MB, 1);
    model_advance(&m, 10000);
    s = model_find_sync(&m, 1, "m1.1");
    ck_assert(s->finished);
    ck_assert_int_eq(s->ended, 10000);
    ck_assert_int_eq(model_sync_progress(s), 100);
    ck_assert(ct(1)->has_world);
}
END_TEST

START_TEST(test_deltas_shrink_when_the_write_rate_is_below_bandwidth) {
    create_target();
    /* 1000 MB at 100 MB/s: 10 s; the source dirties 10 MB/s, so each delta is a tenth of
     * the pass before: 100 MB in 1 s, 10 MB in 0.1 s, ... */
    ck_assert_int_eq(run_pass(1), 10000);
    double prev = 1000 * MB;
    for (int pass = 2; pass <= 4; pass++) {
        run_pass(pass);
        char id[16];
        snprintf(id, sizeof id, "m1.%d", pass);
        const model_sync_t *s = model_find_sync(&m, 1, id);
        ck_assert_msg(s->total < prev / 5, "pass %d copied %.0f after %.0f", pass, s->total, prev);
        prev = s->total;
    }
    /* pass 2 copied what the source wrote during pass 1 */
    ck_assert_double_eq_tol(model_find_sync(&m, 1, "m1.2")->total, 100 * MB, MB);
    /* pass numbers need only grow: a final pass numbered 1000 is a delta on pass 4 */
    ck_assert_int_ge(run_pass(1000), 0);
    ck_assert(model_find_sync(&m, 1, "m1.1000")->total < 2 * model_find_sync(&m, 1, "m1.4")->total);
    /* a pass's dirty bytes are frozen as the next pass's size */
    ck_assert_double_eq(model_sync_dirty(&m, model_find_sync(&m, 1, "m1.2")), model_find_sync(&m, 1, "m1.3")->total);
}
END_TEST

START_TEST(test_quiesce_save_off_stops_the_dirt_and_save_on_resumes_it) {
    create_target();
    run_pass(1);
    bool flushed;
    ck_assert_int_eq(model_quiesce_container(&m, 0, "s1", false, &flushed), 0);
    ck_assert(flushed);
    double before = ct(0)->written;
    const model_sync_t *s = begin(2, true);
    ck_assert(s->final);
    model_advance(&m, m.now + 60000);
    ck_assert_double_eq(ct(0)->written, before);
    ck_assert_double_eq(model_sync_dirty(&m, model_find_sync(&m, 1, "m1.2")), 0);
    ck_assert_int_eq(model_quiesce_container(&m, 0, "s1", true, &flushed), 0);
    ck_assert(!flushed);
    model_advance(&m, m.now + 1000);
    ck_assert_double_eq_tol(ct(0)->written - before, 10 * MB, 1);
    /* a stopped container cannot flush */
    model_ct_state_t st;
    model_stop_container(&m, 0, "s1", &st);
    ck_assert_int_eq(model_quiesce_container(&m, 0, "s1", false, &flushed), MIG_EILLEGAL);
}
END_TEST

START_TEST(test_syncs_into_one_node_share_its_bandwidth) {
    model_server_t s2 = {.id = "s2", .name = "Server-2", .node = 0, .ram_mb = 1024, .disk_mb = 1000};
    ck_assert_int_eq(model_add_server(&m, &s2, true), 0);
    create_target();
    bool created;
    ck_assert_int_eq(model_create_container(&m, 1, "s2", "m2", -1, -1, &created), 0);
    begin(1, false);
    model_sync_req_t q = {.server_id = "s2", .migration_id = "m2", .source_node_id = "n1", .pass = 1};
    const model_sync_t *s;
    ck_assert_int_eq(model_begin_sync(&m, 1, &q, &s, &created), 0);
    /* two 1000 MB copies at 50 MB/s each: both end at 20 s */
    model_advance(&m, 19999);
    ck_assert(!model_find_sync(&m, 1, "m1.1")->finished);
    model_advance(&m, 20000);
    ck_assert(model_find_sync(&m, 1, "m1.1")->finished);
    ck_assert(model_find_sync(&m, 1, "m2.1")->finished);
}
END_TEST

START_TEST(test_sync_refusals_name_their_cause) {
    model_sync_req_t q = {.server_id = "s1", .migration_id = "m1", .source_node_id = "n1", .pass = 1};
    const model_sync_t *s;
    bool created;
    ck_assert_int_eq(model_begin_sync(&m, 1, &q, &s, &created), MIG_EILLEGAL);
    ck_assert_str_eq(m.err_code, "no_container");
    ck_assert_int_eq(model_create_container(&m, 1, "s1", "m1", -1, 500, &created), 0);
    ck_assert_int_eq(model_begin_sync(&m, 1, &q, &s, &created), MIG_EREFUSED);
    ck_assert_str_eq(m.err_code, "disk_full");
    q.source_node_id = "n9";
    ck_assert_int_eq(model_begin_sync(&m, 1, &q, &s, &created), MIG_ENO_NODE);
    q.source_node_id = "n2";
    ck_assert_int_eq(model_begin_sync(&m, 0, &q, &s, &created), MIG_ENOT_FOUND); /* n2 holds no world */
    q.pass = 0;
    ck_assert_int_eq(model_begin_sync(&m, 0, &q, &s, &created), MIG_EINVALID);
}
END_TEST

START_TEST(test_sync_repeat_answers_the_same_and_a_failed_pass_starts_over) {
    create_target();
    const model_sync_t *a = begin(1, false);
    model_advance(&m, 2000);
    model_sync_req_t q = {.server_id = "s1", .migration_id = "m1", .source_node_id = "n1", .pass = 1};
    const model_sync_t *b;
    bool created = true;
    ck_assert_int_eq(model_begin_sync(&m, 1, &q, &b, &created), 0);
    ck_assert(!created);
    ck_assert_ptr_eq(a, b);
    ck_assert_double_eq_tol(b->done, 200 * MB, 1);
    /* a node going unhealthy ends the copy with an error */
    model_set_health(&m, 0, false);
    ck_assert_str_eq(model_find_sync(&m, 1, "m1.1")->error, "node n1 became unhealthy");
    model_set_health(&m, 0, true);
    ck_assert_int_eq(model_begin_sync(&m, 1, &q, &b, &created), 0);
    ck_assert(created);
    ck_assert_double_eq(b->done, 0);
    ck_assert_str_eq(b->error, "");
    /* deleting the source ends it too */
    ck_assert_int_eq(model_delete_container(&m, 0, "s1"), 0);
    ck_assert_str_eq(model_find_sync(&m, 1, "m1.1")->error, "the source container was deleted");
    /* and deleting the target takes its syncs */
    ck_assert_int_eq(model_delete_container(&m, 1, "s1"), 0);
    ck_assert_ptr_null(model_find_sync(&m, 1, "m1.1"));
}
END_TEST

START_TEST(test_zero_delays_start_and_copy_at_once) {
    model_free(&m);
    model_opts_t o = {.start_ms = 0, .stop_ms = 0, .bandwidth_mb_s = 0, .seed = 1, .speed = 1};
    model_init(&m, &o);
    model_node_t n1 = {.id = "n1", .address = "a", .eur_hour = 1, .ram_total_mb = 8192, .disk_total_mb = 8192,
                       .healthy = true};
    model_node_t n2 = n1;
    snprintf(n2.id, sizeof n2.id, "n2");
    model_add_node(&m, &n1);
    model_add_node(&m, &n2);
    model_server_t s = {.id = "s1", .name = "Server-1", .node = 0, .ram_mb = 1024, .disk_mb = 1024};
    ck_assert_int_eq(model_add_server(&m, &s, true), 0);
    create_target();
    ck_assert(begin(1, false)->finished);
    model_ct_state_t st;
    ck_assert_int_eq(model_start_container(&m, 1, "s1", &st), 0);
    ck_assert_int_eq(st, CT_RUNNING);
}
END_TEST

/* ------------------------------------------------------------------------ players */

START_TEST(test_a_migration_moves_the_players_by_name_to_the_new_node) {
    ck_assert_int_eq(players_set_count(&m, 0, 3, false), 0);
    char names[3][MODEL_PLAYER_MAX];
    for (int i = 0; i < 3; i++) snprintf(names[i], sizeof names[i], "%s", m.players[i].name);
    create_target();
    model_ct_state_t st;
    model_start_container(&m, 1, "s1", &st);
    model_advance(&m, 3000);
    bool created;
    ck_assert_int_eq(players_create_room(&m, "wait-m1", &created), 0);
    const model_transfer_t *t;
    ck_assert_int_eq(players_transfer(&m, "m1", "Server-1", "wait-m1", &t), 0);
    ck_assert_int_eq(t->count, 3);
    ck_assert_int_eq(players_count(&m, "wait-m1"), 3);
    /* the source stops with nobody on it; the proxy now leads to n2 */
    model_stop_container(&m, 0, "s1", &st);
    ck_assert_int_eq(m.kicked, 0);
    char addr[64];
    model_container_address(&m, ct(1), addr, sizeof addr);
    ck_assert_int_eq(players_register(&m, "Server-1", addr), 0);
    ck_assert_int_eq(players_transfer(&m, "m1", "wait-m1", "Server-1", &t), 0);
    ck_assert_int_eq(t->count, 3);
    for (int i = 0; i < 3; i++) ck_assert_ptr_nonnull(strstr(t->moved, names[i]));
    ck_assert_int_eq(model_container_players(&m, ct(1)->id), 3);
    ck_assert_int_eq(players_count(&m, "Server-1"), 3);
    ck_assert_int_eq(model_server_node(&m, 0), 1);
    ck_assert_int_eq(players_transfer(&m, "m1", "wait-m1", "wait-m1", &t), MIG_EINVALID);
}
END_TEST

START_TEST(test_a_transfer_to_itself_reconnects_players_left_on_the_old_container) {
    ck_assert_int_eq(players_set_count(&m, 0, 2, false), 0);
    create_target();
    model_ct_state_t st;
    model_start_container(&m, 1, "s1", &st);
    model_advance(&m, 3000);
    char addr[64];
    model_container_address(&m, ct(1), addr, sizeof addr);
    ck_assert_int_eq(players_register(&m, "Server-1", addr), 0);
    /* connected players stay where they are after a re-registration; a new one joins n2 */
    ck_assert_int_eq(model_container_players(&m, ct(0)->id), 2);
    ck_assert_int_eq(players_set_count(&m, 0, 3, false), 0);
    ck_assert_int_eq(model_container_players(&m, ct(1)->id), 1);
    const model_transfer_t *t;
    ck_assert_int_eq(players_transfer(&m, "m1", "Server-1", "Server-1", &t), 0);
    ck_assert_int_eq(t->count, 2);
    ck_assert_int_eq(model_container_players(&m, ct(1)->id), 3);
    model_stop_container(&m, 0, "s1", &st);
    ck_assert_int_eq(m.kicked, 0);
}
END_TEST

START_TEST(test_transfers_move_named_players_and_repeats_answer_the_same) {
    ck_assert_int_eq(players_set_count(&m, 0, 2, false), 0);
    char a[MODEL_PLAYER_MAX], b[MODEL_PLAYER_MAX], want[80];
    snprintf(a, sizeof a, "%s", m.players[0].name);
    snprintf(b, sizeof b, "%s", m.players[1].name);
    snprintf(want, sizeof want, "%s\n%s", a, b);
    bool created;
    ck_assert_int_eq(players_create_room(&m, "wait-m1", &created), 0);
    ck_assert(created);
    ck_assert_int_eq(players_create_room(&m, "wait-m1", &created), 0);
    ck_assert(!created);
    const model_transfer_t *t;
    ck_assert_int_eq(players_transfer(&m, "m1", "Server-1", "wait-m1", &t), 0);
    ck_assert_str_eq(t->moved, want);
    ck_assert_int_eq(players_transfer(&m, "m1", "Server-1", "wait-m1", &t), 0);
    ck_assert_str_eq(t->moved, want); /* the repeat answers as the first did */
    ck_assert_int_eq(players_transfer(&m, "", "Server-1", "wait-m1", &t), 0);
    ck_assert_int_eq(t->count, 0); /* without a key: an empty server moves nobody */
    ck_assert_int_eq(players_transfer(&m, "m1", "Server-1", "nowhere", &t), MIG_ENOT_FOUND);
    ck_assert_int_eq(players_create_room(&m, "Server-1", &created), MIG_EEXISTS);
    /* a server whose container is down takes no players */
    model_ct_state_t st;
    model_stop_container(&m, 0, "s1", &st);
    ck_assert_int_eq(players_transfer(&m, "m1", "wait-m1", "Server-1", &t), MIG_EILLEGAL);
    ck_assert_str_eq(m.err_code, "target_down");
    ck_assert_int_eq(players_delete_room(&m, "wait-m1"), 0);
    ck_assert_int_eq(m.kicked, 2);
    ck_assert_int_eq(players_delete_room(&m, "wait-m1"), MIG_ENOT_FOUND);
}
END_TEST

START_TEST(test_server_node_follows_the_proxy_and_the_running_container) {
    ck_assert_int_eq(model_server_node(&m, 0), 0);
    create_target();
    model_ct_state_t st;
    model_start_container(&m, 1, "s1", &st);
    model_advance(&m, 3000);
    ck_assert_int_eq(model_server_node(&m, 0), 0); /* the proxy still leads to n1 */
    ck_assert_int_eq(players_register(&m, "Server-1", "10.0.0.2"), 0); /* a bare host will do */
    ck_assert_int_eq(model_server_node(&m, 0), 1);
    ck_assert_str_eq(model_server_state(&m, 0), "running");
    model_delete_container(&m, 0, "s1");
    ck_assert_int_eq(model_server_node(&m, 0), 1);
}
END_TEST

START_TEST(test_idle_since_marks_when_the_last_player_left) {
    ck_assert_int_eq(m.servers[0].idle_since, -1);
    model_advance(&m, 10);
    ck_assert_int_eq(m.servers[0].idle_since, 10);
    players_set_count(&m, 0, 1, false);
    model_advance(&m, 20);
    ck_assert_int_eq(m.servers[0].idle_since, -1);
    players_set_count(&m, 0, 0, false);
    model_advance(&m, 30);
    ck_assert_int_eq(m.servers[0].idle_since, 30);
    ck_assert_int_eq(model_wall_ms(&m, 30), 1000030);
}
END_TEST

START_TEST(test_churn_settles_near_the_mean_and_replays_from_the_seed) {
    m.servers[0].mean_players = 8;
    model_advance(&m, 3600 * 1000); /* an hour: six sessions */
    double sum = 0;
    for (int i = 1; i <= 60; i++) {
        model_advance(&m, 3600 * 1000 + i * 60 * 1000);
        sum += players_count(&m, "Server-1");
    }
    ck_assert_msg(fabs(sum / 60 - 8) < 3, "mean %.1f", sum / 60);
    char first[MODEL_PLAYER_MAX];
    snprintf(first, sizeof first, "%s", m.n_players ? m.players[0].name : "");
    size_t n = m.n_players;
    teardown();
    setup();
    m.servers[0].mean_players = 8;
    model_advance(&m, 3600 * 1000);
    for (int i = 1; i <= 60; i++) model_advance(&m, 3600 * 1000 + i * 60 * 1000);
    ck_assert_int_eq(m.n_players, n);
    ck_assert_str_eq(m.n_players ? m.players[0].name : "", first);
}
END_TEST

/* ------------------------------------------------------------------------ fleet */

START_TEST(test_fleet_file_is_read_exactly) {
    model_free(&m);
    model_opts_t o = {.start_ms = 1, .bandwidth_mb_s = 1, .seed = 1, .speed = 1};
    model_init(&m, &o);
    char err[256];
    const char *json = "{\"nodes\":[{\"id\":\"n1\",\"name\":\"Node-A\",\"address\":\"127.0.0.1\",\"eur_hour\":0.3,"
                       "\"ram_total_mb\":8192,\"disk_total_mb\":50000},{\"id\":\"n2\",\"eur_hour\":0.1,"
                       "\"ram_total_mb\":8192,\"disk_total_mb\":50000,\"healthy\":false}],"
                       "\"servers\":[{\"id\":\"s1\",\"name\":\"Server-1\",\"node_id\":\"n1\",\"ram_mb\":4096,"
                       "\"disk_mb\":5000,\"write_mb_s\":2,\"players\":[\"Alice\",\"Bob\"]},"
                       "{\"id\":\"s2\",\"node_id\":\"n1\",\"ram_mb\":1024,\"disk_mb\":10,\"players\":2,"
                       "\"running\":true}]}";
    ck_assert_int_eq(fleet_parse(&m, json, err, sizeof err), 0);
    ck_assert_int_eq(m.n_nodes, 2);
    ck_assert_str_eq(m.nodes[1].name, "n2");
    ck_assert(!m.nodes[1].healthy);
    ck_assert_int_eq(model_ram_free(&m, 0), 8192 - 4096 - 1024);
    ck_assert_str_eq(m.players[0].name, "Alice");
    ck_assert_str_eq(m.players[1].where, "Server-1");
    ck_assert_int_eq(players_count(&m, "s2"), 2);
    ck_assert_int_eq(m.entries[0].address[0] != '\0', 1);
}
END_TEST

START_TEST(test_fleet_file_errors_name_the_member) {
    static const struct {
        const char *json, *words;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"nodes\":[]}", "nodes: a non-empty array"},
        {"{\"nodes\":[{\"id\":\"n1\",\"ram_total_mb\":1,\"disk_total_mb\":1}]}", "nodes[0] (n1).eur_hour"},
        {"{\"nodes\":[{\"id\":\"n1\",\"eur_hour\":1,\"ram_total_mb\":1,\"disk_total_mb\":1}],"
         "\"servers\":[{\"id\":\"s1\",\"node_id\":\"n2\",\"ram_mb\":1,\"disk_mb\":1}]}",
         "servers[0] (s1).node_id"},
        {"{\"nodes\":[{\"id\":\"n1\",\"eur_hour\":1,\"ram_total_mb\":1,\"disk_total_mb\":1}],"
         "\"servers\":[{\"id\":\"s1\",\"node_id\":\"n1\",\"ram_mb\":2,\"disk_mb\":1}]}",
         "does not fit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_free(&m);
        model_opts_t o = {.seed = 1, .speed = 1};
        model_init(&m, &o);
        char err[256] = "";
        ck_assert_int_eq(fleet_parse(&m, cases[i].json, err, sizeof err), MIG_EINVALID);
        ck_assert_msg(strstr(err, cases[i].words) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].words);
    }
}
END_TEST

START_TEST(test_generated_fleet_is_deterministic_fits_and_has_different_prices) {
    model_free(&m);
    model_opts_t o = {.seed = 42, .speed = 1};
    model_init(&m, &o);
    char err[256];
    ck_assert_int_eq(fleet_generate(&m, 6, 40, 42, err, sizeof err), 0);
    ck_assert_int_eq(m.n_servers, 40);
    int distinct = 0;
    for (size_t i = 0; i < m.n_nodes; i++) {
        ck_assert(model_ram_free(&m, (int)i) >= 0 && model_disk_free(&m, (int)i) >= 0);
        bool seen = false;
        for (size_t j = 0; j < i; j++) seen |= m.nodes[j].eur_hour == m.nodes[i].eur_hour;
        distinct += !seen;
    }
    ck_assert_int_ge(distinct, 3);
    model_t again;
    model_init(&again, &o);
    ck_assert_int_eq(fleet_generate(&again, 6, 40, 42, err, sizeof err), 0);
    for (size_t i = 0; i < 40; i++) {
        ck_assert_int_eq(again.servers[i].node, m.servers[i].node);
        ck_assert_int_eq(again.servers[i].disk_mb, m.servers[i].disk_mb);
    }
    model_free(&again);
    model_init(&again, &o);
    ck_assert_int_eq(fleet_generate(&again, 1, 1000, 42, err, sizeof err), MIG_EINVALID);
    model_free(&again);
}
END_TEST

/* ------------------------------------------------------------------------ faults */

START_TEST(test_faults_match_their_call_and_fire_n_times) {
    fault_set_t fs;
    fault_set_init(&fs);
    cJSON *j = cJSON_Parse("{\"node_id\":\"n2\",\"call\":\"GET /v1/sync/{id}\",\"times\":2,\"status\":502}");
    fault_t f, fired;
    char err[128];
    ck_assert_int_eq(fault_parse(j, &f, err, sizeof err), 0);
    cJSON_Delete(j);
    ck_assert_int_eq(fault_add(&fs, &f), 0);
    ck_assert(!fault_take(&fs, "n1", "GET", "/v1/sync/m1.1", &fired));
    ck_assert(!fault_take(&fs, "n2", "POST", "/v1/sync", &fired));
    ck_assert(!fault_take(&fs, "n2", "GET", "/v1/sync/m1.1/x", &fired));
    ck_assert(fault_take(&fs, "n2", "GET", "/v1/sync/m1.1", &fired));
    ck_assert_int_eq(fired.status, 502);
    ck_assert_int_eq(fired.mode, FAULT_FAIL);
    ck_assert(fault_take(&fs, "n2", "GET", "/v1/sync/m1.2", &fired));
    ck_assert(!fault_take(&fs, "n2", "GET", "/v1/sync/m1.2", &fired));
    ck_assert_int_eq(fs.fired_total, 2);
    j = cJSON_Parse("{\"node_id\":\"*\",\"call\":\"*\",\"mode\":\"hang\"}");
    ck_assert_int_eq(fault_parse(j, &f, err, sizeof err), 0);
    cJSON_Delete(j);
    ck_assert_int_eq(f.times, -1);
    ck_assert_int_eq(f.delay_ms, FAULT_HANG_MS);
    fault_add(&fs, &f);
    for (int i = 0; i < 5; i++) ck_assert(fault_take(&fs, "proxy", "PUT", "/v1/servers/x", &fired));
    fault_clear(&fs);
    ck_assert(!fault_take(&fs, "proxy", "PUT", "/v1/servers/x", &fired));
    const char *bad[] = {"{}", "{\"node_id\":\"n1\",\"mode\":\"boom\"}", "{\"node_id\":\"n1\",\"call\":\"sync\"}",
                         "{\"node_id\":\"n1\",\"status\":200}", "{\"node_id\":\"n1\",\"times\":1.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i]);
        ck_assert_int_eq(fault_parse(j, &f, err, sizeof err), MIG_EINVALID);
        cJSON_Delete(j);
    }
    fault_set_free(&fs);
}
END_TEST

START_TEST(test_route_patterns_take_one_segment_per_placeholder_as_it_is) {
    char p[ROUTE_PARAMS_MAX][PATH_PARAM_LEN];
    ck_assert(path_match("/v1/containers/{id}/start", "/v1/containers/s 1/start", p, ROUTE_PARAMS_MAX));
    ck_assert_str_eq(p[0], "s 1");
    ck_assert(path_match("/v1/servers/{name}", "/v1/servers/100%41", p, ROUTE_PARAMS_MAX));
    ck_assert_str_eq(p[0], "100%41");
    char longname[PATH_PARAM_LEN + 16] = "/v1/servers/";
    memset(longname + 12, 'b', PATH_PARAM_LEN);
    ck_assert(!path_match("/v1/servers/{name}", longname, NULL, 0));
    ck_assert(path_match("/v1/health", "/v1/health/", p, ROUTE_PARAMS_MAX));
    ck_assert(!path_match("/v1/containers/{id}", "/v1/containers/", p, ROUTE_PARAMS_MAX));
    ck_assert(!path_match("/v1/containers/{id}", "/v1/containers/a/b", p, ROUTE_PARAMS_MAX));
    /* the API's patterns name parameters the seed's way, ":id" (core/path.h serves both) */
    ck_assert(path_match("/api/servers/:id/migrations/active", "/api/servers/s9/migrations/active", p, 2));
    ck_assert_str_eq(p[0], "s9");
    ck_assert(!path_match("/api/servers/:id/migrations/active", "/api/servers/s9/migrations", p, 2));
    ck_assert(!path_match("/api/migrations/:id", "/api/migrations//", p, 2));
    ck_assert(path_match("/api/migrations", "/api/migrations/", NULL, 0));
    ck_assert(route_match_call("* /v1/sync", "PUT", "/v1/sync"));
    ck_assert(route_match_call("POST *", "POST", "/anything"));
    ck_assert(!route_match_call("POST /v1/sync", "GET", "/v1/sync"));
}
END_TEST

START_TEST(test_snapshot_shows_servers_with_node_players_and_syncs) {
    players_set_count(&m, 0, 2, false);
    create_target();
    begin(1, false);
    cJSON *o = snapshot_model(&m, NULL);
    const cJSON *srv = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "servers"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(srv, "node_id")->valuestring, "n1");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(srv, "players")), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(srv, "players"), 0), "node_id")->valuestring,
                     "n1");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "containers")), 2);
    const cJSON *sy = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "syncs"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(sy, "sync_id")->valuestring, "m1.1");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(sy, "error")));
    cJSON_Delete(o);
}
END_TEST

Suite *suite_sim_model(void) {
    Suite *s = suite_create("sim_model");
    TCase *tc = tcase_create("sim_model");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_container_create_reserves_capacity_and_answers_507_when_short);
    tcase_add_test(tc, test_container_create_is_idempotent_by_migration_and_refuses_another);
    tcase_add_test(tc, test_container_takes_start_ms_to_run_and_stop_ms_to_stop);
    tcase_add_test(tc, test_stopping_a_container_drops_the_players_connected_to_it);
    tcase_add_test(tc, test_pass_one_copies_the_world_in_size_over_bandwidth);
    tcase_add_test(tc, test_deltas_shrink_when_the_write_rate_is_below_bandwidth);
    tcase_add_test(tc, test_quiesce_save_off_stops_the_dirt_and_save_on_resumes_it);
    tcase_add_test(tc, test_syncs_into_one_node_share_its_bandwidth);
    tcase_add_test(tc, test_sync_refusals_name_their_cause);
    tcase_add_test(tc, test_sync_repeat_answers_the_same_and_a_failed_pass_starts_over);
    tcase_add_test(tc, test_zero_delays_start_and_copy_at_once);
    tcase_add_test(tc, test_a_migration_moves_the_players_by_name_to_the_new_node);
    tcase_add_test(tc, test_a_transfer_to_itself_reconnects_players_left_on_the_old_container);
    tcase_add_test(tc, test_transfers_move_named_players_and_repeats_answer_the_same);
    tcase_add_test(tc, test_server_node_follows_the_proxy_and_the_running_container);
    tcase_add_test(tc, test_idle_since_marks_when_the_last_player_left);
    tcase_add_test(tc, test_churn_settles_near_the_mean_and_replays_from_the_seed);
    tcase_add_test(tc, test_fleet_file_is_read_exactly);
    tcase_add_test(tc, test_fleet_file_errors_name_the_member);
    tcase_add_test(tc, test_generated_fleet_is_deterministic_fits_and_has_different_prices);
    tcase_add_test(tc, test_faults_match_their_call_and_fire_n_times);
    tcase_add_test(tc, test_route_patterns_take_one_segment_per_placeholder_as_it_is);
    tcase_add_test(tc, test_snapshot_shows_servers_with_node_players_and_syncs);
    suite_add_tcase(s, tc);
    return s;
}
