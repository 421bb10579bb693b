/* test_schedule.c - honest schedules: a migration never starts before its not_before (a
 * retry's backoff, an operator's start time) whatever happens to its server, while one
 * held back by a rule is looked at again as soon as its server changes; level-2 moves of
 * the optimizer wait for the maintenance window and say so. Times are checked against
 * the records and the events stream (Redis's clock), never against a sleep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "stack.h"
#include "suites.h"

/* Node-B and Node-A cost the same: the optimizer (off by default anyway) never moves
 * anything, so every migration here is the test's own. */
#define SCHED_NODES                                                                                          \
    "\"nodes\":["                                                                                            \
    "{\"id\":\"n1\",\"name\":\"Node-A\",\"eur_hour\":0.20,\"ram_total_mb\":65536,\"disk_total_mb\":500000}," \
    "{\"id\":\"n2\",\"name\":\"Node-B\",\"eur_hour\":0.20,\"ram_total_mb\":65536,\"disk_total_mb\":500000}]"

#define SCHED_SERVER(id, more)                                                                                   \
    "{\"id\":\"s" id "\",\"name\":\"Server-" id "\",\"node_id\":\"n1\",\"ram_mb\":1024,\"disk_mb\":512," \
    "\"write_mb_s\":1,\"mean_players\":0" more "}"

static const char *FLEET = "{" SCHED_NODES ",\"servers\":[" SCHED_SERVER("1", "") "," SCHED_SERVER("2", "") "]}";

static const char *const ZERO[] = {"--sim-zero-delays=1", NULL};
static const mig_status_t DONE[] = {MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED};

/* Creates an operator's migration of `server` to n2; not_before 0 for now. */
static void create(const char *server, bool start_now, int64_t not_before, migration_t *m) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = server;
    c.to_node_id = "n2";
    c.start_now = start_now;
    c.max_retries = 3;
    c.not_before = not_before;
    ck_assert_msg(store_create_migration(fx_rc, &c, m) == 0, "create: %s", fx_rc->err);
}

/* Redis's clock, Unix ms: the clock the functions stamp records with. */
static int64_t redis_now_ms(void) {
    redisReply *r = fx_cmd("TIME");
    int64_t ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

/* The score of `id` in the schedule, or -1 when it is not there. */
static int64_t sched_score(const char *id) {
    redisReply *r = fx_cmd("ZSCORE mig:sched %s", id);
    int64_t v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

/* Polls the migration every 20 ms until `ok` holds of it; fails the test after `ms`. */
static void wait_until(const char *id, bool (*ok)(const migration_t *), int ms, const char *what, migration_t *m) {
    char copy[MIG_ID_MAX + 1];
    snprintf(copy, sizeof copy, "%s", id);
    for (int waited = 0;; waited += 20) {
        ck_assert_int_eq(store_get_migration(fx_rc, copy, m), 0);
        if (ok(m)) return;
        ck_assert_msg(waited < ms, "migration %s: %s not seen within %d ms (status %s, blocked_reason %s)", copy,
                      what, ms, states_name(m->status), m->blocked_reason ? m->blocked_reason : "-");
        timefmt_sleep_ms(20);
    }
}

static bool is_retry_waiting(const migration_t *m) {
    return m->status == MIG_SCHEDULED && m->retry_count >= 1;
}

static bool is_held_by_players(const migration_t *m) {
    return m->blocked_reason && strstr(m->blocked_reason, "online") != NULL;
}

static bool has_started(const migration_t *m) {
    return m->status != MIG_SCHEDULED;
}

static bool is_waiting_for_window(const migration_t *m) {
    return m->blocked_reason && strstr(m->blocked_reason, "maintenance window") != NULL;
}

/* The time (Unix ms) of the last start of `id`: its last status change to preparing in
 * the events stream; -1 when there is none. started_at keeps the first start only. */
static int64_t last_start_ms(const char *id) {
    redisReply *r = fx_cmd("XRANGE mig:events - +");
    int64_t at = -1;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fields = r->element[i]->element[1];
        cJSON *ev = cJSON_Parse(fields->element[1]->str);
        const cJSON *type = cJSON_GetObjectItem(ev, "type"), *mid = cJSON_GetObjectItem(ev, "migration_id");
        const cJSON *to = cJSON_GetObjectItem(ev, "new_status"), *ts = cJSON_GetObjectItem(ev, "timestamp");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "migration.status_changed") == 0 &&
            cJSON_IsString(mid) && strcmp(mid->valuestring, id) == 0 && cJSON_IsString(to) &&
            strcmp(to->valuestring, "preparing") == 0) {
            int64_t ms;
            ck_assert_int_eq(timefmt_parse_rfc3339(ts->valuestring, &ms), 0);
            at = ms;
        }
        cJSON_Delete(ev);
    }
    freeReplyObject(r);
    return at;
}

/* Players join and leave `server` and a node changes, `rounds` times: every event that
 * makes the scheduler look at its held migrations again. */
static void churn(flow_stack_t *st, const char *server, int rounds) {
    char body[128];
    for (int i = 0; i < rounds; i++) {
        snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"count\":%d}", server, i % 2 == 0 ? 2 : 0);
        cJSON_Delete(stack_sim(st, "POST", "/control/players", body));
        cJSON_Delete(stack_sim(st, "POST", "/control/nodes/n1", i % 2 == 0 ? "{\"eur_hour\":0.21}" : "{\"eur_hour\":0.20}"));
    }
}

/* ---------------------------------------------------------------- the functions alone */

/* A retry's backoff is its not_before: blocked_reason says when and why; neither a touch
 * of its server, nor of every server, nor a rule's earlier recheck brings it forward. */
START_TEST(test_touch_and_block_never_bring_a_backoff_forward) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_PREPARING, &m);
    store_failure_t f = {"target slow", "timeout", 1, 1, 60000, 0};
    ck_assert_int_eq(store_fail(fx_rc, m.id, m.lease_token, &f, &m), 0);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_int_eq(m.status, MIG_SCHEDULED);
    int64_t nb = m.not_before;
    ck_assert_int_gt(nb, redis_now_ms() + 50000);
    char want[64], at[TIMEFMT_RFC3339_LEN + 1];
    timefmt_rfc3339(nb, at);
    snprintf(want, sizeof want, "retry 1 of 3 at %.8s UTC (last error: target slow)", at + 11);
    ck_assert_str_eq(m.blocked_reason, want);
    ck_assert_int_eq(sched_score(m.id), nb);

    const char *one[] = {"s1"}, *all[] = {"*"};
    long long touched = -1;
    ck_assert_int_eq(store_sched_touch(fx_rc, one, 1, &touched), 0);
    ck_assert_int_eq(touched, 0);
    ck_assert_int_eq(store_sched_touch(fx_rc, all, 1, &touched), 0);
    ck_assert_int_eq(touched, 0);
    ck_assert_int_eq(sched_score(m.id), nb);

    /* a rule's recheck sooner than the backoff: looked at again at the backoff's end */
    ck_assert_int_eq(store_block(fx_rc, m.id, "1 player online", redis_now_ms() + 1000), 0);
    ck_assert_int_eq(sched_score(m.id), nb);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_int_eq(m.not_before, nb);
    ck_assert_str_eq(m.blocked_reason, "1 player online");
    migration_clear(&m);
}
END_TEST

/* The lost wake-up: the scheduler reads a due migration's facts (2 players), the last
 * player leaves (a touch), then the scheduler writes its verdict. That verdict is stale and
 * must not postpone the migration to its recheck time; one on fresh facts is written. */
START_TEST(test_block_on_facts_read_before_a_touch_writes_nothing) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    store_sched_t due;
    ck_assert_int_eq(store_sched_due(fx_rc, 10, &due), 0);
    ck_assert_int_eq(due.n_due, 1);
    int64_t seen = due.due[0].score;
    store_sched_free(&due);
    const char *one[] = {"s1"};
    ck_assert_int_eq(store_sched_touch(fx_rc, one, 1, NULL), 0);
    ck_assert_int_eq(store_block_seen(fx_rc, m.id, "2 players online", redis_now_ms() + 600000, seen), 0);
    ck_assert_int_le(sched_score(m.id), redis_now_ms()); /* still due */
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_ptr_null(m.blocked_reason);
    /* read again, nothing touched since: the verdict is written */
    ck_assert_int_eq(store_sched_due(fx_rc, 10, &due), 0);
    seen = due.due[0].score;
    store_sched_free(&due);
    int64_t recheck = redis_now_ms() + 600000;
    ck_assert_int_eq(store_block_seen(fx_rc, m.id, "2 players online", recheck, seen), 0);
    ck_assert_int_eq(sched_score(m.id), recheck);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_str_eq(m.blocked_reason, "2 players online");
    migration_clear(&m);
}
END_TEST

/* A migration held by a rule, with no backoff, is made due by a touch at once; a later
 * recheck than its not_before moves only the schedule's score. */
START_TEST(test_touch_makes_a_migration_held_by_a_rule_due_now) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    ck_assert_int_eq(store_block(fx_rc, m.id, "2 players online", redis_now_ms() + 600000), 0);
    int64_t before = redis_now_ms();
    const char *one[] = {"s1"};
    long long touched = 0;
    ck_assert_int_eq(store_sched_touch(fx_rc, one, 1, &touched), 0);
    ck_assert_int_eq(touched, 1);
    int64_t score = sched_score(m.id);
    ck_assert(score >= before && score <= redis_now_ms());
    migration_clear(&m);
}
END_TEST

/* An operator's start time set at creation of a suggestion or at its approval is the
 * not_before the scheduler's plain mig_schedule keeps. */
START_TEST(test_start_time_of_create_and_approve_survives_scheduling) {
    fx_fleet(2);
    int64_t later = redis_now_ms() + 3600000;
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.status = MIG_SUGGESTED;
    c.reason = MIG_REASON_COST;
    c.triggered_by = MIG_TRIGGER_SYSTEM;
    c.level = 1;
    c.not_before = later;
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(store_create_migration(fx_rc, &c, &m), 0);
    ck_assert_int_eq(store_approve_migration(fx_rc, m.id, &m), 0);
    ck_assert_int_eq(store_schedule_migration(fx_rc, m.id, 0, &m), 0);
    ck_assert_int_eq(m.not_before, later);
    ck_assert_int_eq(sched_score(m.id), later);

    c.server_id = "s2";
    c.not_before = 0;
    ck_assert_int_eq(store_create_migration(fx_rc, &c, &m), 0);
    ck_assert_int_eq(store_approve_migration_at(fx_rc, m.id, later + 1000, &m), 0);
    ck_assert_int_eq(m.not_before, later + 1000);
    ck_assert_int_eq(store_schedule_migration(fx_rc, m.id, 0, &m), 0);
    ck_assert_int_eq(sched_score(m.id), later + 1000);
    migration_clear(&m);
}
END_TEST

/* ---------------------------------------------------------------- the live stack */

/* (a) A migration that failed in preparing waits out its backoff while its server's
 * players come and go and a node changes: its retry starts at or after its not_before. */
START_TEST(test_failed_migration_waits_out_its_backoff_while_players_churn) {
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, NULL, 0);
    st.worker_extra = "--retry-backoff-ms=3000"; /* the stack's 100 ms is over before any churn */
    stack_add_worker(&st);
    /* more failures than the driver's own retries of one call: the phase fails once */
    cJSON_Delete(stack_sim(&st, "POST", "/control/faults",
                           "{\"node_id\":\"n2\",\"call\":\"POST /v1/sync\",\"mode\":\"fail\",\"times\":5,\"status\":503}"));
    migration_t m;
    migration_init(&m);
    create("s1", true, 0, &m); /* start_now: players hold it back by no rule */
    wait_until(m.id, is_retry_waiting, 20000, "the retry", &m);
    int64_t nb = m.not_before;
    ck_assert_msg(m.blocked_reason && strstr(m.blocked_reason, "retry 1 of 3 at "), "blocked_reason: %s",
                  m.blocked_reason);
    churn(&st, "s1", 6);
    stack_wait_status(m.id, DONE, 3, 30000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    int64_t started = last_start_ms(m.id);
    ck_assert_msg(started >= nb, "the retry started at %lld, %lld ms before its not_before", (long long)started,
                  (long long)(nb - started));
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

/* (b) A migration held back by players starts soon after the last one leaves: the
 * server's change makes it due, long before its recheck (10 minutes here). */
START_TEST(test_migration_held_by_players_starts_when_the_last_one_leaves) {
    const char *const sched[] = {"--recheck-ms=600000", NULL};
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, sched, 1);
    cJSON_Delete(stack_sim(&st, "POST", "/control/players", "{\"server_id\":\"s2\",\"count\":2}"));
    migration_t m;
    migration_init(&m);
    create("s2", false, 0, &m);
    wait_until(m.id, is_held_by_players, 10000, "held by its players", &m);
    cJSON_Delete(stack_sim(&st, "POST", "/control/players", "{\"server_id\":\"s2\",\"count\":0}"));
    wait_until(m.id, has_started, 20000, "a start after the last player left", &m);
    stack_wait_status(m.id, DONE, 3, 30000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

/* (c) A migration created with a start time a few seconds ahead stays scheduled through
 * players joining and leaving and node updates, and starts at or after it. */
START_TEST(test_start_time_holds_through_player_and_node_changes) {
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, NULL, 1);
    int64_t nb = redis_now_ms() + 4000;
    migration_t m;
    migration_init(&m);
    create("s1", true, nb, &m);
    ck_assert_int_eq(m.not_before, nb);
    churn(&st, "s1", 4);
    stack_wait_status(m.id, DONE, 3, 30000, &m);
    ck_assert_int_eq(m.status, MIG_COMPLETED);
    ck_assert_msg(m.started_at >= nb, "started at %lld, %lld ms before its not_before", (long long)m.started_at,
                  (long long)(nb - m.started_at));
    stack_stop(&st);
    migration_clear(&m);
}
END_TEST

/* (d) Outside the maintenance window a level-2 move of the optimizer waits and says
 * until when; an operator's migration in the same fleet is not held by the window. */
START_TEST(test_level_2_move_waits_for_the_maintenance_window_and_says_why) {
    /* a window that opens two hours from now (UTC) and lasts one: now is outside it */
    time_t t = (time_t)(redis_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int open = (tm.tm_hour + 2) % 24;
    char flag[64], want[96];
    snprintf(flag, sizeof flag, "--window=%02d:00-%02d:00 UTC", open, (open + 1) % 24);
    snprintf(want, sizeof want, "waiting for the maintenance window at %02d:00 (UTC)", open);
    const char *const sched[] = {flag, NULL};
    flow_stack_t st;
    stack_start(&st, FLEET, ZERO, sched, 1);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.reason = MIG_REASON_COST;
    c.triggered_by = MIG_TRIGGER_SYSTEM;
    c.level = 2;
    c.status = MIG_SCHEDULED;
    migration_t m, manual;
    migration_init(&m);
    migration_init(&manual);
    ck_assert_int_eq(store_create_migration(fx_rc, &c, &m), 0);
    create("s2", true, 0, &manual);
    wait_until(m.id, is_waiting_for_window, 10000, "the window's reason", &m);
    ck_assert_str_eq(m.blocked_reason, want);
    stack_wait_status(manual.id, DONE, 3, 30000, &manual);
    ck_assert_int_eq(manual.status, MIG_COMPLETED);
    /* a touch (the manual move's node and server updates) may bring the look forward for a
     * moment; once the fleet is quiet the schedule looks at it again when the window opens */
    int64_t score = sched_score(m.id);
    for (int waited = 0; score <= redis_now_ms() + 3600000; waited += 20) {
        ck_assert_msg(waited < 30000, "looked at again at %lld, before the window opens", (long long)score);
        timefmt_sleep_ms(20);
        score = sched_score(m.id);
    }
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_int_eq(m.status, MIG_SCHEDULED);
    stack_stop(&st);
    migration_clear(&m);
    migration_clear(&manual);
}
END_TEST

Suite *suite_schedule(void) {
    Suite *s = suite_create("schedule");
    TCase *fn = tcase_create("functions");
    tcase_add_unchecked_fixture(fn, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(fn, fx_connect, fx_disconnect);
    tcase_set_timeout(fn, 60);
    tcase_add_test(fn, test_touch_and_block_never_bring_a_backoff_forward);
    tcase_add_test(fn, test_touch_makes_a_migration_held_by_a_rule_due_now);
    tcase_add_test(fn, test_block_on_facts_read_before_a_touch_writes_nothing);
    tcase_add_test(fn, test_start_time_of_create_and_approve_survives_scheduling);
    suite_add_tcase(s, fn);
    TCase *live = tcase_create("live");
    tcase_add_unchecked_fixture(live, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(live, fx_connect, fx_disconnect);
    tcase_set_timeout(live, 120);
    tcase_add_test(live, test_failed_migration_waits_out_its_backoff_while_players_churn);
    tcase_add_test(live, test_migration_held_by_players_starts_when_the_last_one_leaves);
    tcase_add_test(live, test_start_time_holds_through_player_and_node_changes);
    tcase_add_test(live, test_level_2_move_waits_for_the_maintenance_window_and_says_why);
    suite_add_tcase(s, live);
    return s;
}
