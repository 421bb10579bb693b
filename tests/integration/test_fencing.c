/* test_fencing.c - a worker that lost its lease never acts again. For a pause at each
 * step of preparing, transferring and completing: the owning worker is held inside that
 * step's driver call (the simulator's `hold` fault) and paused (SIGSTOP) past its lease;
 * the scheduler recovers the migration and the other worker ends it; then the held call
 * is let through and the paused worker resumed. The simulator must refuse the held call
 * (its token is stale), accept no call of the paused worker after it resumes, and the
 * server must run exactly once, where the migration's outcome says, with its players,
 * while the record and the events tell one story. No fixed sleeps: every wait polls a
 * fact with a deadline. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* Where a worker is held: the step it reports, and the one call of that step. */
static const struct {
    const char *step, *target, *call;
} STEPS[] = {
    {"prepare.create", "n2", "POST /v1/containers"},
    {"prepare.sync", "n2", "POST /v1/sync"},
    {"transfer.waiting_room", "proxy", "POST /v1/waiting-rooms"},
    {"transfer.quiesce", "n1", "POST /v1/containers/{x}/quiesce"},
    {"transfer.register", "proxy", "PUT /v1/servers/{x}"},
    {"complete.stop_old", "n1", "POST /v1/containers/{x}/stop"},
};

/* The number under state.fencing.<id>.<which>.<token>, 0 when absent. */
static int fence_count(const cJSON *state, const char *id, const char *which, uint64_t token) {
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)token);
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(state, "fencing"), id);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(f, which), t);
    return cJSON_IsNumber(n) ? n->valueint : 0;
}

/* True once the file at `path` holds a line with both `a` and `b`. */
static bool log_has(const char *path, const char *a, const char *b) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, a) && strstr(line, b);
    fclose(f);
    return found;
}

START_TEST(test_worker_paused_past_its_lease_at_each_step_changes_nothing_after_it_resumes) {
    for (size_t i = 0; i < sizeof STEPS / sizeof STEPS[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 2);
        char body[256];
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"hold\",\"times\":1}", STEPS[i].target,
                 STEPS[i].call);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));

        migration_t m;
        migration_init(&m);
        migration_create_t c;
        migration_create_init(&c);
        c.server_id = "s1";
        c.to_node_id = "n2";
        c.savings_eur_hour = 0.2;
        c.start_now = true;
        c.max_retries = 3;
        ck_assert_msg(store_create_migration(fx_rc, &c, &m) == 0, "create: %s", fx_rc->err);
        char id[MIG_ID_MAX + 1];
        snprintf(id, sizeof id, "%s", m.id);

        /* the owner is inside the step's call: pause it there */
        int64_t end = timefmt_mono_ms() + WAIT_MS;
        stack_wait_held(&st, STEPS[i].step, WAIT_MS);
        ck_assert_int_eq(store_get_migration(fx_rc, id, &m), 0);
        ck_assert_msg(m.lease_owner && (strcmp(m.lease_owner, "w0") == 0 || strcmp(m.lease_owner, "w1") == 0),
                      "%s: owner %s", STEPS[i].step, m.lease_owner ? m.lease_owner : "(none)");
        int owner = m.lease_owner[1] - '0';
        uint64_t stale = m.lease_token;
        pid_t paused = st.workers[owner];
        ck_assert_int_eq(kill(paused, SIGSTOP), 0);

        /* the other worker recovers the migration and ends it */
        stack_wait_status(id, DONE, 3, WAIT_MS, &m);
        ck_assert_msg(m.status == MIG_COMPLETED, "%s: ended %s (%s)", STEPS[i].step, states_name(m.status),
                      m.error_message ? m.error_message : "");
        ck_assert_msg(m.lease_token == 0 || m.lease_token != stale, "%s: the record still holds the stale token",
                      STEPS[i].step);

        /* the held call goes through now, after the other worker's calls: refused */
        cJSON_Delete(stack_sim(&st, "DELETE", "/control/faults", NULL));
        cJSON *state = NULL;
        for (;;) {
            cJSON_Delete(state);
            state = stack_sim(&st, "GET", "/control/state", NULL);
            if (fence_count(state, id, "refused", stale) >= 1) break;
            ck_assert_msg(timefmt_mono_ms() < end, "%s: the held call of the paused worker was not refused",
                          STEPS[i].step);
            timefmt_sleep_ms(20);
        }
        int accepted_before = fence_count(state, id, "accepted", stale);
        cJSON_Delete(state);
        long events_before = fx_count_events(id, NULL, NULL);

        /* the paused worker resumes, finds its lease gone and stops acting */
        char log[320];
        snprintf(log, sizeof log, "%s/worker-%d.log", st.dir, owner);
        ck_assert_int_eq(kill(paused, SIGCONT), 0);
        while (!log_has(log, "\"worker.lease_lost\"", id)) {
            ck_assert_msg(timefmt_mono_ms() < end, "%s: the resumed worker never said it lost the lease; see %s",
                          STEPS[i].step, log);
            timefmt_sleep_ms(20);
        }

        state = stack_sim(&st, "GET", "/control/state", NULL);
        ck_assert_msg(fence_count(state, id, "accepted", stale) == accepted_before,
                      "%s: a call of the resumed worker was accepted", STEPS[i].step);
        /* the server runs exactly once, on the target, with its players; nothing is left */
        const cJSON *on_n2 = stack_container(state, "s1", "n2");
        ck_assert_msg(on_n2 != NULL, "%s: s1 has no container on n2", STEPS[i].step);
        ck_assert_str_eq(cJSON_GetObjectItem(on_n2, "state")->valuestring, "running");
        ck_assert_int_eq(cJSON_GetObjectItem(on_n2, "players")->valueint, 3);
        ck_assert_msg(stack_container(state, "s1", "n1") == NULL, "%s: s1 still has a container on n1", STEPS[i].step);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(state, "waiting_rooms")), 0);
        cJSON_Delete(state);

        /* one story: completed once, no failure, nothing written by the resumed worker */
        ck_assert_int_eq(fx_count_events(id, "\"type\":\"migration.completed\"", NULL), 1);
        ck_assert_int_eq(fx_count_events(id, "\"type\":\"migration.failed\"", NULL), 0);
        ck_assert_int_eq(fx_count_events(id, NULL, NULL), events_before);
        ck_assert_int_eq(store_get_migration(fx_rc, id, &m), 0);
        ck_assert_int_eq(m.status, MIG_COMPLETED);
        ck_assert_ptr_null(m.lease_owner);
        server_t srv;
        inventory_server_init(&srv);
        ck_assert_int_eq(store_get_server(fx_rc, "s1", &srv), 0);
        ck_assert_str_eq(srv.node_id, "n2");
        inventory_server_clear(&srv);

        stack_stop(&st);
        migration_clear(&m);
    }
}
END_TEST

Suite *suite_fencing(void) {
    Suite *s = suite_create("fencing");
    TCase *tc = tcase_create("fencing");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_add_test(tc, test_worker_paused_past_its_lease_at_each_step_changes_nothing_after_it_resumes);
    suite_add_tcase(s, tc);
    return s;
}
