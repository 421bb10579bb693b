/* test_records.c - a migration's record tells what happened, once: after a retry in
 * either phase the players are counted once and the completed record carries no error
 * while its events keep the failed attempt; a worker killed in completing leaves its
 * measured downtime to the one that completes; a worker lost after the players reached
 * the new server is finished forward, and no player is dropped; an old container whose
 * stop keeps failing, or a waiting room whose deletion does, is removed later by its
 * clean-up item, and the server runs once; and redis-server killed and restarted on its
 * data at each step from the registration to the end drops no player and completes. The real scheduler and
 * workers against fleet-sim and a real redis-server; every wait polls with a deadline. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "stack.h"
#include "suites.h"

/* Node-B is cheaper than Node-A. Server-1 has three players who stay (no churn). */
static const char *FLEET =
    "{\"nodes\":["
    "{\"id\":\"n1\",\"name\":\"Node-A\",\"eur_hour\":0.40,\"ram_total_mb\":65536,\"disk_total_mb\":500000},"
    "{\"id\":\"n2\",\"name\":\"Node-B\",\"eur_hour\":0.20,\"ram_total_mb\":65536,\"disk_total_mb\":500000}],"
    "\"servers\":["
    "{\"id\":\"s1\",\"name\":\"Server-1\",\"node_id\":\"n1\",\"ram_mb\":4096,\"disk_mb\":2048,\"write_mb_s\":1,"
    "\"mean_players\":0,\"players\":[\"Alice\",\"Bob\",\"Carol\"]}]}";

static const char *const ZERO[] = {"--sim-zero-delays=1", NULL};
static const mig_status_t DONE[] = {MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED};
#define WAIT_MS 60000 /* deadline of every wait: far beyond a loaded machine's slowest */

/* Creates a migration of s1 to n2 that starts now, with `retries`. */
static void create_s1(int retries, migration_t *m) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.savings_eur_hour = 0.2;
    c.start_now = true;
    c.max_retries = retries;
    ck_assert_msg(store_create_migration(fx_rc, &c, m) == 0, "create: %s", fx_rc->err);
}

/* Status changes of migration `id` from `from` to `to` in the events stream. */
static long status_changes(const char *id, const char *from, const char *to) {
    char a[64], b[64];
    snprintf(a, sizeof a, "\"old_status\":\"%s\"", from);
    snprintf(b, sizeof b, "\"new_status\":\"%s\"", to);
    return fx_count_events(id, a, b);
}

/* s1 runs once, on n2, with its three players; none was dropped and no room is left. */
static void assert_moved_whole(flow_stack_t *st, const char *what) {
    cJSON *state = stack_sim(st, "GET", "/control/state", NULL);
    const cJSON *on_n2 = stack_container(state, "s1", "n2");
    ck_assert_msg(on_n2 != NULL, "%s: s1 has no container on n2", what);
    ck_assert_str_eq(cJSON_GetObjectItem(on_n2, "state")->valuestring, "running");
    ck_assert_msg(cJSON_GetObjectItem(on_n2, "players")->valueint == 3, "%s: %d players on n2", what,
                  cJSON_GetObjectItem(on_n2, "players")->valueint);
    ck_assert_msg(stack_container(state, "s1", "n1") == NULL, "%s: s1 still has a container on n1", what);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(state, "waiting_rooms")), 0);
    ck_assert_msg(cJSON_GetObjectItem(state, "players_kicked")->valueint == 0, "%s: %d players dropped", what,
                  cJSON_GetObjectItem(state, "players_kicked")->valueint);
    cJSON_Delete(state);
}

/* A step that fails all of the driver's tries once, in each phase. */
static const struct {
    const char *target, *call, *phase;
} RETRIED[] = {
    {"n2", "POST /v1/containers", "preparing"},
    {"proxy", "PUT /v1/servers/{name}", "transferring"},
};

START_TEST(test_retry_in_each_phase_counts_each_player_once_and_completes_without_an_error) {
    for (size_t i = 0; i < sizeof RETRIED / sizeof RETRIED[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 1);
        char body[256];
        /* the driver tries a call 4 times: the phase fails once, then the agent recovers */
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"fail\",\"times\":4,\"status\":500}",
                 RETRIED[i].target, RETRIED[i].call);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));
        migration_t m;
        migration_init(&m);
        create_s1(3, &m);
        stack_wait_status(m.id, DONE, 3, WAIT_MS, &m);
        ck_assert_msg(m.status == MIG_COMPLETED, "%s: ended %s (%s)", RETRIED[i].phase, states_name(m.status),
                      m.error_message ? m.error_message : "");
        ck_assert_int_eq(m.retry_count, 1);
        ck_assert_msg(m.players_transferred == 3, "retried in %s: players_transferred %d", RETRIED[i].phase,
                      m.players_transferred);
        ck_assert_msg(m.error_message == NULL, "retried in %s: a completed record says \"%s\"", RETRIED[i].phase,
                      m.error_message);
        ck_assert_int_ge(m.player_downtime_ms, 0);
        /* the failed attempt stays in the timeline, with its error */
        ck_assert_int_eq(status_changes(m.id, RETRIED[i].phase, "scheduled"), 1);
        ck_assert_int_eq(fx_count_events(m.id, "\"type\":\"migration.retry\"", "\"error\":\"proxy: PUT") +
                             fx_count_events(m.id, "\"type\":\"migration.retry\"", "\"error\":\"node n2: POST"),
                         1);
        assert_moved_whole(&st, RETRIED[i].phase);
        stack_stop(&st);
        migration_clear(&m);
    }
}
END_TEST

/* Where a worker dies after the players reached the new server. */
static const struct {
    const char *step, *target, *call;
    mig_status_t status;
} LATE[] = {
    {"transfer.move_players", "proxy", "DELETE /v1/waiting-rooms/{x}", MIG_TRANSFERRING},
    {"complete.stop_old", "n1", "POST /v1/containers/{x}/stop", MIG_COMPLETING},
};

START_TEST(test_worker_killed_after_the_players_moved_is_finished_forward_with_its_downtime) {
    for (size_t i = 0; i < sizeof LATE / sizeof LATE[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 1);
        char body[256];
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"hold\",\"times\":1}", LATE[i].target,
                 LATE[i].call);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));
        migration_t m;
        migration_init(&m);
        create_s1(3, &m);
        stack_wait_held(&st, LATE[i].step, WAIT_MS);
        ck_assert_int_eq(kill(st.workers[0], SIGKILL), 0);
        harness_wait(st.workers[0], 5000);
        st.workers[0] = 0;
        cJSON_Delete(stack_sim(&st, "DELETE", "/control/faults", NULL));
        stack_add_worker(&st);
        stack_wait_status(m.id, DONE, 3, WAIT_MS, &m);
        ck_assert_msg(m.status == MIG_COMPLETED, "killed at %s: ended %s (%s)", LATE[i].step, states_name(m.status),
                      m.error_message ? m.error_message : "");
        ck_assert_int_eq(m.retry_count, 0); /* finished forward, not rolled back and retried */
        ck_assert_msg(m.players_transferred == 3, "killed at %s: players_transferred %d", LATE[i].step,
                      m.players_transferred);
        ck_assert_msg(m.player_downtime_ms >= 0, "killed at %s: the measured downtime was lost", LATE[i].step);
        ck_assert_ptr_null(m.error_message);
        assert_moved_whole(&st, LATE[i].step);
        stack_stop(&st);
        migration_clear(&m);
    }
}
END_TEST

/* What completing may fail to remove: the old container, the waiting room. */
static const struct {
    const char *what, *target, *call, *warning, *completed_has;
} LEFT[] = {
    {"old container", "n1", "POST /v1/containers/{x}/stop", "old container not removed", "\"cleanup_node\":\"n1\""},
    {"waiting room", "proxy", "DELETE /v1/waiting-rooms/{x}", "waiting room not removed", "\"cleanup_node\":null"},
};

START_TEST(test_what_completing_could_not_remove_is_removed_later_by_its_cleanup_item) {
    for (size_t i = 0; i < sizeof LEFT / sizeof LEFT[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 1);
        /* every try of the transfer and of completing fails (the driver tries a call 4
         * times), and so do the clean-up's first 4: it is tried again after its backoff,
         * and then the agent answers */
        char body[256];
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"fail\",\"times\":%d,\"status\":500}",
                 LEFT[i].target, LEFT[i].call, i == 0 ? 8 : 12);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));
        migration_t m;
        migration_init(&m);
        create_s1(3, &m);
        stack_wait_status(m.id, DONE, 3, WAIT_MS, &m);
        ck_assert_int_eq(m.status, MIG_COMPLETED);
        ck_assert_int_eq(m.players_transferred, 3);
        ck_assert_msg(m.warning && strstr(m.warning, LEFT[i].warning), "%s: warning %s", LEFT[i].what,
                      m.warning ? m.warning : "(none)");
        /* it completed at once, with what is left to remove */
        ck_assert_int_eq(fx_count_events(m.id, "\"type\":\"migration.completed\"", LEFT[i].completed_has), 1);
        int64_t end = timefmt_mono_ms() + WAIT_MS;
        while (fx_count_events(m.id, "\"type\":\"migration.cleanup\"", "\"done\":true") < 1) {
            ck_assert_msg(timefmt_mono_ms() < end, "%s: never removed", LEFT[i].what);
            timefmt_sleep_ms(20);
        }
        ck_assert_int_ge(fx_count_events(m.id, "\"type\":\"migration.cleanup\"", "\"done\":false"), 1);
        ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
        ck_assert_ptr_null(m.cleanup_node);
        store_stats_t stats;
        ck_assert_int_eq(store_get_stats(fx_rc, &stats), 0);
        ck_assert_int_eq(stats.cleanups_pending, 0);
        store_stats_free(&stats);
        assert_moved_whole(&st, LEFT[i].what);
        stack_stop(&st);
        migration_clear(&m);
    }
}
END_TEST

/* Where redis-server dies once the players are on their way to the new server. */
static const struct {
    const char *step, *target, *call;
} REDIS_AT[] = {
    {"transfer.register", "proxy", "PUT /v1/servers/{x}"},
    {"transfer.players_moved", "proxy", "DELETE /v1/waiting-rooms/{x}"},
    {"complete.stop_old", "n1", "POST /v1/containers/{x}/stop"},
    {"complete.done", "n1", "DELETE /v1/containers/{x}"},
};

START_TEST(test_redis_killed_and_restarted_after_the_final_sync_drops_no_player_and_completes) {
    for (size_t i = 0; i < sizeof REDIS_AT / sizeof REDIS_AT[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 1);
        char body[256];
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"hold\",\"times\":1}",
                 REDIS_AT[i].target, REDIS_AT[i].call);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));
        migration_t m;
        migration_init(&m);
        create_s1(3, &m);
        char id[MIG_ID_MAX + 1];
        snprintf(id, sizeof id, "%s", m.id);
        /* the worker is inside the step's call: Redis dies under it and comes back on its
         * data, then the call goes through */
        stack_wait_held(&st, REDIS_AT[i].step, WAIT_MS);
        ck_assert_msg(harness_redis_kill9(&fx_redis, WAIT_MS) == 0, "%s: redis-server did not die", REDIS_AT[i].step);
        ck_assert_msg(harness_redis_restart(&fx_redis, FX_AOF_ARGS) == 0, "%s: redis-server did not come back",
                      REDIS_AT[i].step);
        cJSON_Delete(stack_sim(&st, "DELETE", "/control/faults", NULL));
        /* the fixture's connection went stale with the old server: its next call fails
         * once and reconnects, so a failed read is tried again until the deadline */
        int64_t end = timefmt_mono_ms() + WAIT_MS;
        for (;;) {
            int rv = store_get_migration(fx_rc, id, &m);
            ck_assert_msg(rv != MIG_ENOT_FOUND, "%s: the migration is gone after the restart", REDIS_AT[i].step);
            if (rv == 0 && states_terminal(m.status)) break;
            ck_assert_msg(timefmt_mono_ms() < end, "%s: still %s", REDIS_AT[i].step,
                          rv == 0 ? states_name(m.status) : "unreadable");
            timefmt_sleep_ms(20);
        }
        ck_assert_msg(m.status == MIG_COMPLETED, "Redis killed at %s: ended %s (%s)", REDIS_AT[i].step,
                      states_name(m.status), m.error_message ? m.error_message : "");
        ck_assert_msg(m.players_transferred == 3, "Redis killed at %s: players_transferred %d", REDIS_AT[i].step,
                      m.players_transferred);
        assert_moved_whole(&st, REDIS_AT[i].step);
        stack_stop(&st);
        migration_clear(&m);
    }
    /* the restarted server is this test's child, not the runner's: stop it by its PID */
    ck_assert_int_eq(harness_stop_pid(fx_redis.pid, NULL), 0);
}
END_TEST

Suite *suite_records(void) {
    Suite *s = suite_create("records");
    TCase *tc = tcase_create("records");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_add_test(tc, test_retry_in_each_phase_counts_each_player_once_and_completes_without_an_error);
    tcase_add_test(tc, test_worker_killed_after_the_players_moved_is_finished_forward_with_its_downtime);
    tcase_add_test(tc, test_what_completing_could_not_remove_is_removed_later_by_its_cleanup_item);
    suite_add_tcase(s, tc);
    /* a case of its own: its redis-server keeps an append-only file to restart on */
    TCase *rt = tcase_create("records_redis_restart");
    tcase_set_timeout(rt, 600);
    tcase_add_unchecked_fixture(rt, fx_redis_up_aof, fx_redis_down);
    tcase_add_checked_fixture(rt, fx_connect, fx_disconnect);
    tcase_add_test(rt, test_redis_killed_and_restarted_after_the_final_sync_drops_no_player_and_completes);
    suite_add_tcase(s, rt);
    return s;
}
