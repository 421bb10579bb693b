/* test_flow.c - live migration end to end: bin/migrate-scheduler and bin/migrate-worker
 * against bin/fleet-sim and a real redis-server. A migration with players and one
 * without complete; a fault at each step rolls its phase back; a worker killed in each
 * phase is recovered; each safety rule holds a migration back with its reason; level 1
 * waits for approval and level 2 for idleness. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "stack.h"
#include "suites.h"

/* Node-B is cheaper than Node-A; Node-C is cheaper still but small. */
#define NODES_JSON                                                                                           \
    "\"nodes\":["                                                                                            \
    "{\"id\":\"n1\",\"name\":\"Node-A\",\"eur_hour\":0.40,\"ram_total_mb\":65536,\"disk_total_mb\":500000}," \
    "{\"id\":\"n2\",\"name\":\"Node-B\",\"eur_hour\":0.20,\"ram_total_mb\":65536,\"disk_total_mb\":500000}," \
    "{\"id\":\"n3\",\"name\":\"Node-C\",\"eur_hour\":0.10,\"ram_total_mb\":2048,\"disk_total_mb\":500000}]"

/* A server of 4 GB on Node-A; `more` adds members (its players). */
#define SERVER_JSON(id, disk, more)                                                                       \
    "{\"id\":\"s" id "\",\"name\":\"Server-" id "\",\"node_id\":\"n1\",\"ram_mb\":4096,\"disk_mb\":" disk \
    ",\"write_mb_s\":1,\"mean_players\":0" more "}"

/* Server-1 has three players who stay (no churn), the others none. */
#define SERVERS_JSON                                                           \
    SERVER_JSON("1", "2048", ",\"players\":[\"Alice\",\"Bob\",\"Carol\"]") "," \
    SERVER_JSON("2", "1024", "") ","                                           \
    SERVER_JSON("3", "1024", "") ","                                           \
    SERVER_JSON("4", "1024", "")

static const char *FLEET = "{" NODES_JSON ",\"servers\":[" SERVERS_JSON "]}";

/* FLEET and Server-5, 1 GB on Node-C: no node is cheaper, so the optimizer never
 * suggests moving it, and a migration of it is the test's own. */
static const char *FLEET_WITH_S5 =
    "{" NODES_JSON ",\"servers\":[" SERVERS_JSON ","
    "{\"id\":\"s5\",\"name\":\"Server-5\",\"node_id\":\"n3\",\"ram_mb\":1024,\"disk_mb\":512,\"write_mb_s\":1,"
    "\"mean_players\":0}]}";

/* Every server with two players who stay: the optimizer's first look finds none idle,
 * however soon after the start it comes. */
static const char *FLEET_BUSY =
    "{" NODES_JSON ",\"servers\":["
    SERVER_JSON("1", "2048", ",\"players\":[\"Alice\",\"Bob\"]") ","
    SERVER_JSON("2", "1024", ",\"players\":[\"Dan\",\"Eve\"]") ","
    SERVER_JSON("3", "1024", ",\"players\":[\"Finn\",\"Gus\"]") ","
    SERVER_JSON("4", "1024", ",\"players\":[\"Hal\",\"Ivy\"]") "]}";

static const char *const ZERO[] = {"--sim-zero-delays=1", NULL};
static const mig_status_t DONE[] = {MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED};

/* Creates a migration of `server` to `to`; start_now skips the idle rule. */
static void create(const char *server, const char *to, bool start_now, int max_retries, migration_t *m) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = server;
    c.to_node_id = to;
    c.savings_eur_hour = 0.2;
    c.start_now = start_now;
    c.max_retries = max_retries;
    ck_assert_msg(store_create_migration(fx_rc, &c, m) == 0, "create: %s", fx_rc->err);
}

static int players_on(const cJSON *container) {
    return container ? cJSON_GetObjectItem(container, "players")->valueint : -1;
}

/* The original server runs on n1 with its three players, saves again, the proxy points
 * at it, and nothing of the migration is left on n2 or in the proxy. */
static void assert_rolled_back(flow_stack_t *st, const char *server, int players) {
    cJSON *state = stack_sim(st, "GET", "/control/state", NULL);
    const cJSON *old = stack_container(state, server, "n1");
    ck_assert_msg(old != NULL, "the original container of %s is gone", server);
    ck_assert_str_eq(cJSON_GetObjectItem(old, "state")->valuestring, "running");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(old, "quiesced")));
    ck_assert_int_eq(players_on(old), players);
    ck_assert_msg(stack_container(state, server, "n2") == NULL, "a container of %s is left on n2", server);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(state, "waiting_rooms")), 0);
    cJSON_Delete(state);
}

START_TEST(test_migrations_with_and_without_players_complete_and_players_follow) {
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, NULL, 1);
    migration_t a, b;
    migration_init(&a);
    migration_init(&b);
    create("s1", "n2", true, 3, &a);
    create("s2", "n2", false, 3, &b);
    stack_wait_status(a.id, DONE, 3, 20000, &a);
    stack_wait_status(b.id, DONE, 3, 20000, &b);
    ck_assert_int_eq(a.status, MIG_COMPLETED);
    ck_assert_int_eq(b.status, MIG_COMPLETED);
    ck_assert_int_eq(a.player_count_at_start, 3);
    ck_assert_int_eq(a.players_transferred, 3);
    ck_assert(a.player_downtime_ms >= 0);
    ck_assert(a.duration_seconds >= 0);
    ck_assert_int_eq(a.data_sync_progress, 100);
    ck_assert_ptr_null(a.warning);
    ck_assert_int_eq(b.players_transferred, 0);
    cJSON *state = stack_sim(&st, "GET", "/control/state", NULL);
    const cJSON *now = stack_container(state, "s1", "n2");
    ck_assert_msg(now != NULL, "no container of s1 on n2");
    ck_assert_str_eq(cJSON_GetObjectItem(now, "state")->valuestring, "running");
    ck_assert_int_eq(players_on(now), 3);
    ck_assert_msg(stack_container(state, "s1", "n1") == NULL, "the old container of s1 is still on n1");
    ck_assert_msg(stack_container(state, "s2", "n2") != NULL && stack_container(state, "s2", "n1") == NULL,
                  "s2 did not move");
    cJSON_Delete(state);
    server_t srv;
    inventory_server_init(&srv);
    ck_assert_int_eq(store_get_server(fx_rc, "s1", &srv), 0);
    ck_assert_str_eq(srv.node_id, "n2");
    inventory_server_clear(&srv);
    /* the events of s1's migration, in order */
    redisReply *x = fx_cmd("XRANGE mig:events - +");
    const char *want[] = {"preparing", "transferring", "completing", "completed"};
    size_t next = 0;
    int completed_event = 0;
    for (size_t i = 0; i < x->elements; i++) {
        cJSON *ev = cJSON_Parse(x->element[i]->element[1]->element[1]->str);
        const cJSON *mid = cJSON_GetObjectItem(ev, "migration_id");
        const char *type = cJSON_GetObjectItem(ev, "type")->valuestring;
        if (cJSON_IsString(mid) && strcmp(mid->valuestring, a.id) == 0) {
            if (strcmp(type, "migration.status_changed") == 0) {
                ck_assert_msg(next < 4, "a status change after completed");
                ck_assert_str_eq(cJSON_GetObjectItem(ev, "new_status")->valuestring, want[next]);
                next++;
            } else if (strcmp(type, "migration.completed") == 0) {
                ck_assert_int_eq(next, 4);
                completed_event++;
            }
        }
        cJSON_Delete(ev);
    }
    freeReplyObject(x);
    ck_assert_int_eq(next, 4);
    ck_assert_int_eq(completed_event, 1);
    stack_stop(&st);
    migration_clear(&a);
    migration_clear(&b);
}
END_TEST

/* A fault that keeps failing at one step of one phase. */
static const struct {
    const char *target, *call, *phase;
} FAULTS[] = {
    {"n2", "GET /v1/health", "preparing"},
    {"n2", "POST /v1/containers", "preparing"},
    {"n2", "POST /v1/containers/{id}/start", "preparing"},
    {"n2", "POST /v1/sync", "preparing"},
    {"proxy", "GET /v1/servers/{name}/players", "transferring"},
    {"proxy", "POST /v1/waiting-rooms", "transferring"},
    {"n1", "POST /v1/containers/{id}/quiesce", "transferring"},
    {"proxy", "PUT /v1/servers/{name}", "transferring"},
};

START_TEST(test_fault_at_each_step_rolls_its_phase_back_and_fails) {
    for (size_t i = 0; i < sizeof FAULTS / sizeof FAULTS[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 1);
        char body[256];
        /* the step fails every one of the driver's 4 tries, then the agent recovers, so
         * the rollback (which may repeat the call: quiesce, register) goes through */
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"fail\",\"times\":4,\"status\":500}",
                 FAULTS[i].target, FAULTS[i].call);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));
        migration_t m;
        migration_init(&m);
        create("s1", "n2", true, 0, &m);
        stack_wait_status(m.id, DONE, 3, 20000, &m);
        ck_assert_msg(m.status == MIG_FAILED, "%s %s: ended %s", FAULTS[i].target, FAULTS[i].call,
                      states_name(m.status));
        ck_assert_msg(m.rollback_success == 1, "%s %s: rollback failed", FAULTS[i].target, FAULTS[i].call);
        char call[64]; /* the call up to its first placeholder: "POST /v1/containers/" */
        snprintf(call, sizeof call, "%.*s", (int)strcspn(FAULTS[i].call, "{"), FAULTS[i].call);
        ck_assert_msg(m.error_message && strstr(m.error_message, call) != NULL,
                      "error \"%s\" does not name the call %s", m.error_message, call);
        assert_rolled_back(&st, "s1", 3);
        stack_stop(&st);
        migration_clear(&m);
    }
}
END_TEST

START_TEST(test_fault_in_completing_keeps_the_move_with_a_warning) {
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, NULL, 1);
    cJSON_Delete(stack_sim(&st, "POST", "/control/faults",
                           "{\"node_id\":\"n1\",\"call\":\"POST /v1/containers/{id}/stop\",\"mode\":\"fail\","
                           "\"times\":1000000,\"status\":500}"));
    migration_t m;
    migration_init(&m);
    create("s1", "n2", true, 0, &m);
    stack_wait_status(m.id, DONE, 3, 20000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    ck_assert_msg(m.warning && strstr(m.warning, "old container not removed"), "warning: %s", m.warning);
    cJSON *state = stack_sim(&st, "GET", "/control/state", NULL);
    ck_assert_int_eq(players_on(stack_container(state, "s1", "n2")), 3);
    cJSON_Delete(state);
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

START_TEST(test_transient_fault_is_retried_with_backoff_then_completes) {
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, NULL, 1);
    /* more failures than the driver's own retries of one call: the phase fails once */
    cJSON_Delete(stack_sim(&st, "POST", "/control/faults",
                           "{\"node_id\":\"n2\",\"call\":\"POST /v1/sync\",\"mode\":\"fail\",\"times\":5,\"status\":503}"));
    migration_t m;
    migration_init(&m);
    create("s1", "n2", true, 3, &m);
    stack_wait_status(m.id, DONE, 3, 30000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    ck_assert_int_ge(m.retry_count, 1);
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

/* A call that hangs holds the worker in one phase, where it is killed. */
static const struct {
    const char *target, *call;
    mig_status_t phase;
} HANGS[] = {
    {"n2", "POST /v1/sync", MIG_PREPARING},
    {"n1", "POST /v1/containers/{id}/quiesce", MIG_TRANSFERRING},
    {"n1", "POST /v1/containers/{id}/stop", MIG_COMPLETING},
};

/* Waits until the simulator has fired `n` faults since it started: a hanging fault fires
 * as its call comes in, so from then on the caller is inside that call. */
static void wait_faults_fired(flow_stack_t *st, int n) {
    for (int waited = 0;; waited += 20) {
        cJSON *state = stack_sim(st, "GET", "/control/state", NULL);
        const cJSON *f = cJSON_GetObjectItem(state, "faults_fired");
        int fired = cJSON_IsNumber(f) ? f->valueint : -1;
        cJSON_Delete(state);
        if (fired >= n) return;
        ck_assert_msg(waited < 20000, "%d of %d faults fired", fired, n);
        timefmt_sleep_ms(20);
    }
}

START_TEST(test_worker_killed_in_each_phase_is_recovered_never_double_run) {
    for (size_t i = 0; i < sizeof HANGS / sizeof HANGS[0]; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        flow_stack_t st;
        stack_start(&st, FLEET, ZERO, NULL, 0);
        /* the call hangs longer than the test runs and the worker waits for it as long:
         * only the kill ends the wait, so the worker is inside the call when it dies,
         * however long the test takes to get there */
        st.worker_extra = "--driver-timeout-ms=600000";
        stack_add_worker(&st);
        char body[256];
        snprintf(body, sizeof body,
                 "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"hang\",\"times\":1,\"delay_ms\":600000}",
                 HANGS[i].target, HANGS[i].call);
        cJSON_Delete(stack_sim(&st, "POST", "/control/faults", body));
        migration_t m;
        migration_init(&m);
        create("s1", "n2", true, 3, &m);
        wait_faults_fired(&st, 1);
        ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
        ck_assert_msg(m.status == HANGS[i].phase, "hanging in %s %s: %s, want %s", HANGS[i].target, HANGS[i].call,
                      states_name(m.status), states_name(HANGS[i].phase));
        kill(st.workers[0], SIGKILL);
        ck_assert_msg(harness_wait(st.workers[0], HARNESS_STOP_WAIT_MS) != -1, "the killed worker was not reaped");
        st.workers[0] = 0;
        cJSON_Delete(stack_sim(&st, "DELETE", "/control/faults", NULL));
        stack_add_worker(&st);
        stack_wait_status(m.id, DONE, 3, 30000, &m);
        ck_assert_msg(m.status == MIG_COMPLETED, "killed in %s: ended %s (%s)", states_name(HANGS[i].phase),
                      states_name(m.status), m.error_message ? m.error_message : "");
        cJSON *state = stack_sim(&st, "GET", "/control/state", NULL);
        ck_assert_msg(stack_container(state, "s1", "n2") != NULL, "killed in %s: s1 not on n2",
                      states_name(HANGS[i].phase));
        ck_assert_int_eq(players_on(stack_container(state, "s1", "n2")), 3);
        ck_assert_msg(stack_container(state, "s1", "n1") == NULL, "killed in %s: s1 still on n1",
                      states_name(HANGS[i].phase));
        cJSON_Delete(state);
        /* never double-run: exactly one completion */
        redisReply *r = fx_cmd("HGET mig:stats completed_total");
        ck_assert_str_eq(r->str, "1");
        freeReplyObject(r);
        store_stats_t s;
        ck_assert_int_eq(store_get_stats(fx_rc, &s), 0);
        for (int k = 0; k < MIG_STATUS_COUNT; k++)
            if (!states_terminal((mig_status_t)k)) ck_assert_int_eq(s.by_status[k], 0);
        store_stats_free(&s);
        stack_stop(&st);
        migration_clear(&m);
    }
}
END_TEST

/* Waits until the migration's blocked_reason contains `words`. */
static void wait_blocked(const char *id, const char *words) {
    migration_t m;
    migration_init(&m);
    for (int waited = 0;; waited += 50) {
        ck_assert_int_eq(store_get_migration(fx_rc, id, &m), 0);
        if (m.blocked_reason && strstr(m.blocked_reason, words)) break;
        ck_assert_msg(waited < 20000, "blocked_reason \"%s\", want \"%s\" (status %s)",
                      m.blocked_reason ? m.blocked_reason : "", words, states_name(m.status));
        timefmt_sleep_ms(50);
    }
    ck_assert_int_eq(m.status, MIG_SCHEDULED);
    migration_clear(&m);
}

START_TEST(test_each_safety_rule_blocks_promotion_with_its_reason) {
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, NULL, 0); /* no worker: nothing must start */
    migration_t m;
    migration_init(&m);
    create("s1", "n2", false, 3, &m); /* players online */
    wait_blocked(m.id, "3 players online");
    create("s2", "n3", false, 3, &m); /* n3 has 2 GB of RAM, s2 needs 4 */
    wait_blocked(m.id, "low on RAM");
    cJSON_Delete(stack_sim(&st, "POST", "/control/nodes/n2", "{\"healthy\":false}"));
    create("s3", "n2", false, 3, &m);
    char id3[MIG_ID_MAX + 1];
    snprintf(id3, sizeof id3, "%s", m.id);
    wait_blocked(id3, "target node unhealthy");
    /* a scaling event writes no event of its own: it is seen when the node's change
     * makes the scheduler look again */
    cJSON_Delete(stack_sim(&st, "POST", "/control/scaling", "{\"active\":true}"));
    cJSON_Delete(stack_sim(&st, "POST", "/control/nodes/n2", "{\"healthy\":true}"));
    wait_blocked(id3, "scaling event");
    cJSON_Delete(stack_sim(&st, "POST", "/control/scaling", "{\"active\":false,\"queue\":[\"s9\",\"s8\"]}"));
    wait_blocked(id3, "2 servers waiting to start");
    cJSON_Delete(stack_sim(&st, "POST", "/control/scaling", "{\"active\":false,\"queue\":[]}"));
    /* every rule holds: it is promoted to the ready queue (no worker takes it) */
    for (int waited = 0;; waited += 50) {
        redisReply *r = fx_cmd("LLEN mig:ready");
        long long n = r->integer;
        freeReplyObject(r);
        if (n == 1) break;
        ck_assert_msg(waited < 20000, "s3's migration was not promoted");
        timefmt_sleep_ms(50);
    }
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

START_TEST(test_concurrency_limits_hold_under_many_migrations) {
    const char *const sched[] = {"--max-parallel=2", "--max-parallel-per-node=2", NULL};
    const char *const slow[] = {"--sim-speed=50", "--sim-start-ms=2000", NULL};
    flow_stack_t st;
    stack_start(&st, FLEET, slow, sched, 0); /* workers come once the limit is reached */
    migration_t m[3];
    const char *servers[] = {"s2", "s3", "s4"};
    for (int i = 0; i < 3; i++) {
        migration_init(&m[i]);
        create(servers[i], "n2", false, 3, &m[i]);
    }
    /* Without a worker nothing leaves the ready queue, so the limit is reached for sure:
     * two promoted, the third held back by the fleet limit. */
    int held = -1;
    for (int waited = 0; held < 0; waited += 20) {
        redisReply *r = fx_cmd("LLEN mig:ready");
        long long ready = r->integer;
        freeReplyObject(r);
        for (int i = 0; i < 3 && ready == 2 && held < 0; i++) {
            ck_assert_int_eq(store_get_migration(fx_rc, m[i].id, &m[i]), 0);
            if (m[i].status == MIG_SCHEDULED && m[i].blocked_reason && strstr(m[i].blocked_reason, "fleet limit"))
                held = i;
        }
        ck_assert_msg(ready <= 2, "%lld migrations promoted at once, limit 2", ready);
        ck_assert_msg(waited < 20000, "%lld promoted, none held back by the fleet limit", ready);
        if (held < 0) timefmt_sleep_ms(20);
    }
    ck_assert_str_eq(m[held].blocked_reason, "fleet limit: 2 migrations in flight");
    stack_add_worker(&st);
    stack_add_worker(&st);
    /* the limit holds while they run: never more than two claimed or queued at once */
    int done = 0;
    for (int waited = 0; done < 3; waited += 10) {
        store_stats_t s;
        ck_assert_int_eq(store_get_stats(fx_rc, &s), 0);
        /* what the limit counts: claimed (under a lease) and promoted (ready) */
        int inflight = (int)(s.leases + s.ready);
        done = (int)(s.by_status[MIG_COMPLETED] + s.by_status[MIG_FAILED]);
        store_stats_free(&s);
        ck_assert_msg(inflight <= 2, "%d migrations in flight at once, limit 2", inflight);
        ck_assert_msg(waited < 60000, "migrations did not finish");
        timefmt_sleep_ms(10);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(store_get_migration(fx_rc, m[i].id, &m[i]), 0);
        ck_assert_msg(m[i].status == MIG_COMPLETED, "%s ended %s", m[i].server_id, states_name(m[i].status));
    }
    stack_stop(&st);
    for (int i = 0; i < 3; i++) migration_clear(&m[i]);
}
END_TEST

/* A second suggestion to approve beside the one under test (of server `avoid`): one the
 * optimizer made for another idle server (it plans whole drains, so there may be
 * several), else one made here for an idle server that has none. */
static void control_suggestion(const char *avoid, migration_t *out) {
    store_page_t page;
    store_query_t q = {"suggested", "", "", 50, 0};
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), 0);
    for (size_t i = 0; i < page.n; i++)
        if (strcmp(page.items[i].server_id, avoid) != 0 && strcmp(page.items[i].server_id, "s1") != 0) {
            ck_assert_int_eq(store_get_migration(fx_rc, page.items[i].id, out), 0);
            store_page_free(&page);
            return;
        }
    store_page_free(&page);
    static const char *const idle[] = {"s5", "s4", "s3", "s2"};
    for (size_t i = 0; i < sizeof idle / sizeof idle[0]; i++) {
        if (strcmp(idle[i], avoid) == 0) continue;
        migration_create_t c;
        migration_create_init(&c);
        c.server_id = idle[i];
        c.to_node_id = "n2";
        c.reason = MIG_REASON_COST;
        c.triggered_by = MIG_TRIGGER_SYSTEM;
        c.level = 1;
        c.status = MIG_SUGGESTED;
        int rv = store_create_migration(fx_rc, &c, out);
        if (rv == 0) return;
        ck_assert_msg(rv == MIG_EACTIVE || rv == MIG_EINVALID, "create for %s: %s", idle[i], fx_rc->err);
    }
    ck_abort_msg("no idle server left for a second suggestion");
}

START_TEST(test_level_1_suggestion_waits_for_approval_then_runs) {
    const char *const sim[] = {"--sim-zero-delays=1", "--cost-level=1", "--cost-interval-s=1", NULL};
    flow_stack_t st;
    stack_start(&st, FLEET_WITH_S5, sim, NULL, 1);
    /* a suggestion for a server without players, so that approval is all it waits for */
    store_page_t page;
    store_query_t q = {"suggested", "", "", 10, 0};
    const migration_t *pick = NULL;
    for (int waited = 0; pick == NULL; waited += 100) {
        ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), 0);
        for (size_t i = 0; i < page.n && pick == NULL; i++)
            if (strcmp(page.items[i].server_id, "s1") != 0) pick = &page.items[i];
        if (pick) break;
        store_page_free(&page);
        ck_assert_msg(waited < 15000, "the optimizer made no suggestion for an idle server");
        timefmt_sleep_ms(100);
    }
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(store_get_migration(fx_rc, pick->id, &m), 0);
    store_page_free(&page);
    ck_assert_int_eq(m.reason, MIG_REASON_COST);
    ck_assert_int_eq(m.triggered_by, MIG_TRIGGER_SYSTEM);
    ck_assert_int_eq(m.level, 1);
    ck_assert(m.savings_eur_hour > 0);
    /* Nothing runs it unapproved, shown by events and not by a wait: a second suggestion,
     * made after it, is approved and goes through the same scheduler and worker (moved
     * to scheduled, promoted, claimed, completed), each of which would have taken the
     * first one too by then; the first is still suggested after that. */
    migration_t control;
    migration_init(&control);
    control_suggestion(m.server_id, &control);
    ck_assert_int_eq(store_approve_migration(fx_rc, control.id, &control), 0);
    stack_wait_status(control.id, DONE, 3, 20000, &control);
    ck_assert_int_eq(control.status, MIG_COMPLETED);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_msg(m.status == MIG_SUGGESTED, "a suggestion moved on without approval: %s", states_name(m.status));
    ck_assert_int_eq(store_approve_migration(fx_rc, m.id, &m), 0);
    stack_wait_status(m.id, DONE, 3, 20000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    stack_stop(&st);
    migration_clear(&m);
    migration_clear(&control);
}
END_TEST

START_TEST(test_level_2_runs_without_approval_once_the_server_is_idle) {
    const char *const sim[] = {"--sim-zero-delays=1", "--cost-level=2", "--cost-interval-s=1", NULL};
    const char *const sched[] = {"--idle-s=1", NULL};
    flow_stack_t st;
    stack_start(&st, FLEET_BUSY, sim, sched, 1); /* every server busy: the optimizer's migrations wait */
    store_page_t page;
    store_query_t q = {"scheduled", "", "", 10, 0};
    for (int waited = 0;; waited += 100) {
        ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), 0);
        if (page.n > 0) break;
        store_page_free(&page);
        ck_assert_msg(waited < 15000, "the optimizer scheduled nothing");
        timefmt_sleep_ms(100);
    }
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(store_get_migration(fx_rc, page.items[0].id, &m), 0);
    store_page_free(&page);
    ck_assert_int_eq(m.level, 2);
    wait_blocked(m.id, "2 players online");
    char body[96];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"count\":0}", m.server_id);
    cJSON_Delete(stack_sim(&st, "POST", "/control/players", body));
    stack_wait_status(m.id, DONE, 3, 20000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

Suite *suite_flow(void) {
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("flow");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_migrations_with_and_without_players_complete_and_players_follow);
    tcase_add_test(tc, test_fault_at_each_step_rolls_its_phase_back_and_fails);
    tcase_add_test(tc, test_fault_in_completing_keeps_the_move_with_a_warning);
    tcase_add_test(tc, test_transient_fault_is_retried_with_backoff_then_completes);
    tcase_add_test(tc, test_worker_killed_in_each_phase_is_recovered_never_double_run);
    tcase_add_test(tc, test_each_safety_rule_blocks_promotion_with_its_reason);
    tcase_add_test(tc, test_concurrency_limits_hold_under_many_migrations);
    tcase_add_test(tc, test_level_1_suggestion_waits_for_approval_then_runs);
    tcase_add_test(tc, test_level_2_runs_without_approval_once_the_server_is_idle);
    suite_add_tcase(s, tc);
    return s;
}
