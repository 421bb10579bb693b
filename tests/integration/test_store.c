/* test_store.c - the function library through the store: every edge of the transition
 * table, the guards, the indexes, the list and the cascade. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/states.h"
#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"

/* Tries the one call that would move `m` to `to`. */
static int attempt(migration_t *m, mig_status_t to, migration_t *out) {
    char id[MIG_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", m->id);
    uint64_t tok = m->lease_token;
    switch (to) {
    case MIG_SUGGESTED: {
        /* no call leads back to suggested; creating again must be refused too */
        migration_create_t c;
        migration_create_init(&c);
        c.id = id;
        c.server_id = m->server_id;
        c.to_node_id = "n2";
        c.reason = MIG_REASON_COST;
        c.status = MIG_SUGGESTED;
        return store_create_migration(fx_rc, &c, out);
    }
    case MIG_APPROVED:
        return store_approve_migration(fx_rc, id, out);
    case MIG_SCHEDULED:
        if (states_in_flight(m->status)) {
            store_failure_t f = {"node hiccup", "transient", 1, 1, 1000, 0};
            return store_fail(fx_rc, id, tok, &f, out);
        }
        return store_schedule_migration(fx_rc, id, 0, out);
    case MIG_PREPARING: {
        int rv = store_promote(fx_rc, id);
        return rv ? rv : store_claim(fx_rc, "w2", 60000, out);
    }
    case MIG_TRANSFERRING:
    case MIG_COMPLETING:
        return store_advance(fx_rc, id, tok, to, NULL);
    case MIG_COMPLETED:
        return store_complete(fx_rc, id, tok, 0, NULL, out);
    case MIG_CANCELLED:
        return store_cancel_migration(fx_rc, id, out);
    case MIG_FAILED: {
        store_failure_t f = {"disk full", "disk", 1, 0, 0, 0};
        return store_fail(fx_rc, id, tok, &f, out);
    }
    default:
        return MIG_EINVALID;
    }
}

static int64_t stamp_of(const migration_t *m, mig_status_t s) {
    switch (s) {
    case MIG_APPROVED: return m->approved_at;
    case MIG_SCHEDULED: return m->scheduled_at;
    case MIG_PREPARING: return m->started_at;
    case MIG_COMPLETED: case MIG_CANCELLED: case MIG_FAILED: return m->completed_at;
    default: return 1;
    }
}

static long long zscore_exists(const char *key, const char *member) {
    redisReply *r = fx_cmd("ZSCORE %s %s", key, member);
    long long ok = r->type != REDIS_REPLY_NIL;
    freeReplyObject(r);
    return ok;
}

START_TEST(test_every_legal_edge_moves_and_every_illegal_edge_changes_nothing) {
    for (int from = 0; from < MIG_STATUS_COUNT; from++) {
        for (int to = 0; to < MIG_STATUS_COUNT; to++) {
            freeReplyObject(fx_cmd("FLUSHALL"));
            fx_fleet(1);
            migration_t m, out;
            migration_init(&m);
            migration_init(&out);
            fx_drive("s1", (mig_status_t)from, &m);
            ck_assert_int_eq(m.status, from);
            char *before = fx_snapshot();
            int rv = attempt(&m, (mig_status_t)to, &out);
            /* the worker's calls answer an outcome, not the record: read it back */
            if (rv == 0) rv = store_get_migration(fx_rc, m.id, &out);
            bool legal = states_allowed((mig_status_t)from, (mig_status_t)to);
            if (legal) {
                ck_assert_msg(rv == 0, "%s -> %s refused: %s", states_name(from), states_name(to),
                              fx_rc->err);
                ck_assert_int_eq(out.status, to);
                ck_assert_msg(stamp_of(&out, (mig_status_t)to) > 0, "%s has no timestamp", states_name(to));
                char key[128];
                snprintf(key, sizeof key, "mig:idx:status:%s", states_name(to));
                ck_assert(zscore_exists(key, m.id));
                snprintf(key, sizeof key, "mig:idx:status:%s", states_name(from));
                ck_assert(!zscore_exists(key, m.id));
                ck_assert(zscore_exists("mig:idx:all", m.id));
                ck_assert(zscore_exists("mig:idx:server:s1", m.id));
            } else {
                ck_assert_msg(rv != 0, "%s -> %s was allowed", states_name(from), states_name(to));
                char *after = fx_snapshot();
                ck_assert_msg(strcmp(before, after) == 0, "%s -> %s changed the database",
                              states_name(from), states_name(to));
                free(after);
            }
            free(before);
            migration_clear(&m);
            migration_clear(&out);
        }
    }
}
END_TEST

START_TEST(test_node_get_reads_one_node_and_names_a_missing_one) {
    fx_fleet(0);
    node_t n;
    inventory_node_init(&n);
    ck_assert_int_eq(store_get_node(fx_rc, "n2", &n), 0);
    ck_assert_str_eq(n.id, "n2");
    ck_assert_str_eq(n.name, "Node-B");
    ck_assert_str_eq(n.address, "127.0.0.2");
    ck_assert_int_eq(n.healthy, 1);
    ck_assert_int_eq(n.ram_free_mb, 60000);
    ck_assert_double_eq_tol(n.eur_hour, 0.15, 1e-9);
    ck_assert_int_eq(store_get_node(fx_rc, "n3", &n), 0); /* reused: the first is freed */
    ck_assert_str_eq(n.name, "Node-C");
    ck_assert_int_eq(n.ram_free_mb, -1);
    ck_assert_int_eq(store_get_node(fx_rc, "n9", &n), MIG_ENO_NODE);
    ck_assert_ptr_nonnull(strstr(fx_rc->err, "n9"));
    ck_assert_int_eq(store_get_node(fx_rc, "", &n), MIG_EINVALID);
    inventory_node_clear(&n);
}
END_TEST

START_TEST(test_create_fills_names_and_month_savings_from_inventory) {
    fx_fleet(1);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.savings_eur_hour = 0.15;
    c.notes = "cheaper";
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(store_create_migration(fx_rc, &c, &m), 0);
    ck_assert_int_eq(strlen(m.id), 36);
    ck_assert_int_eq(m.id[14], '7');
    ck_assert_str_eq(m.server_name, "Server-1");
    ck_assert_str_eq(m.from_node_id, "n1");
    ck_assert_str_eq(m.from_node_name, "Node-A");
    ck_assert_str_eq(m.to_node_name, "Node-B");
    ck_assert_int_eq(m.status, MIG_SCHEDULED);
    ck_assert_double_eq_tol(m.savings_eur_month, 109.50, 1e-9);
    ck_assert_int_eq(m.max_retries, 3);
    ck_assert_int_eq(m.retry_count, 0);
    ck_assert_int_eq(m.triggered_by, MIG_TRIGGER_ADMIN);
    ck_assert(m.created_at > 0 && m.scheduled_at == m.created_at && m.approved_at == 0);
    ck_assert_str_eq(m.notes, "cheaper");
    redisReply *r = fx_cmd("GET mig:active:s1");
    ck_assert_str_eq(r->str, m.id);
    freeReplyObject(r);
    ck_assert(zscore_exists("mig:sched", m.id));
    ck_assert(zscore_exists("mig:idx:reason:manual", m.id));
    migration_clear(&m);
}
END_TEST

/* A refused create names its problem and leaves the database as it was. */
static void refused_create(migration_create_t *c, int code, const char *words) {
    char *before = fx_snapshot();
    int rv = store_create_migration(fx_rc, c, NULL);
    ck_assert_msg(rv == code, "got %s (%s), want %s", mig_errname(rv), fx_rc->err, mig_errname(code));
    ck_assert_msg(strstr(fx_rc->err, words) != NULL, "\"%s\" lacks \"%s\"", fx_rc->err, words);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}

START_TEST(test_create_refusals_name_the_problem_and_change_nothing) {
    fx_fleet(2);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "nope";
    c.to_node_id = "n2";
    refused_create(&c, MIG_ENO_SERVER, "server nope not found");
    c.server_id = "s1";
    c.to_node_id = "n9";
    refused_create(&c, MIG_ENO_NODE, "node n9 not found");
    c.to_node_id = "n1";
    refused_create(&c, MIG_EINVALID, "already runs on node n1");
    c.to_node_id = "n2";
    c.from_node_id = "n3";
    refused_create(&c, MIG_EINVALID, "from_node_id");
    c.from_node_id = NULL;
    c.savings_eur_hour = 1.0 / 0.0;
    refused_create(&c, MIG_EINVALID, "savings_eur_hour");
    c.savings_eur_hour = 0.1;
    c.server_id = "this-id-is-far-too-long-to-be-a-valid-server-id";
    refused_create(&c, MIG_EINVALID, "server_id");
}
END_TEST

/* mig_create's every refusal comes before its first write, the checks of start_now and
 * not_before too; the limits and the lists named are the C side's (the prelude). */
START_TEST(test_functions_refuse_bad_input_sent_around_the_c_validation) {
    fx_fleet(1);
    char notes[MIG_NOTES_MAX + 2];
    memset(notes, 'n', MIG_NOTES_MAX + 1);
    notes[MIG_NOTES_MAX + 1] = '\0';
    const char *cases[][3] = {
        {"reason", "speed", "reason: must be one of cost-optimization, manual, rebalancing, maintenance"},
        {"triggered_by", "robot", "triggered_by: must be one of system, admin, user"},
        {"status", "approved", "status:"},
        {"level", "7", "level:"},
        {"savings_eur_hour", "-1", "savings_eur_hour:"},
        {"colour", "red", "colour: unknown field"},
        {"max_retries", "21", "max_retries:"},
        {"notes", notes, "notes: longer than 4096 bytes"},
        {"start_now", "2", "start_now:"},
        {"start_now", "yes", "start_now:"},
        {"not_before", "-1", "not_before:"},
        {"not_before", "soon", "not_before:"},
        {"id", "bad/id", "id: must be 1 to 36 characters of A-Z a-z 0-9 _ . : -"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *before = fx_snapshot();
        redisReply *r = fx_cmd("FCALL mig_create 1 mig: id x1 server_id s1 to_node_id n2 %s %s",
                               cases[i][0], cases[i][1]);
        ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
        ck_assert_msg(strncmp(r->str, "INVALID ", 8) == 0 && strstr(r->str, cases[i][2]),
                      "reply: %s", r->str);
        freeReplyObject(r);
        char *after = fx_snapshot();
        ck_assert_str_eq(before, after);
        free(before);
        free(after);
    }
}
END_TEST

START_TEST(test_second_active_migration_of_a_server_is_refused) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_TRANSFERRING, &m);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n3";
    refused_create(&c, MIG_EACTIVE, "in status transferring");
    migration_clear(&m);
}
END_TEST

/* PTTL of `key`: ms left, or -2 when it is gone (-1: no expiry). */
static long long pttl(const char *key) {
    redisReply *r = fx_cmd("PTTL %s", key);
    long long left = r->integer;
    freeReplyObject(r);
    return left;
}

START_TEST(test_cooldown_refuses_then_allows_after_it_passes) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_COMPLETING, &m);
    /* 2 s: the refusal comes a round trip after the completion, far within it */
    ck_assert_int_eq(store_complete(fx_rc, m.id, m.lease_token, 2000, NULL, &m), 0);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n3";
    /* the seconds it names are the cooldown's time left rounded up, which the time left
     * just before and just after the call bracket, however long the call took */
    long long left_before = pttl("mig:cooldown:s1");
    refused_create(&c, MIG_ECOOLDOWN, " min left (retry after ");
    long long left_after = pttl("mig:cooldown:s1");
    int secs = atoi(strstr(fx_rc->err, "(retry after ") + strlen("(retry after "));
    ck_assert_msg(secs >= (left_after + 999) / 1000 && secs <= (left_before + 999) / 1000,
                  "\"%s\" with %lld to %lld ms left", fx_rc->err, left_after, left_before);
    /* once the cooldown's key has expired (polled, not slept on), a create goes through */
    for (int waited = 0; pttl("mig:cooldown:s1") > 0; waited += 20) {
        ck_assert_msg(waited < 20000, "the cooldown of s1 did not pass");
        timefmt_sleep_ms(20);
    }
    ck_assert_int_eq(store_create_migration(fx_rc, &c, NULL), 0);
    migration_clear(&m);
}
END_TEST

START_TEST(test_stale_token_cannot_write_after_recovery) {
    fx_fleet(1);
    migration_t m, r;
    migration_init(&m);
    migration_init(&r);
    fx_drive("s1", MIG_SCHEDULED, &m);
    ck_assert_int_eq(store_promote(fx_rc, m.id), 0);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 100, &m), 0);
    uint64_t old = m.lease_token;
    char **ids;
    size_t n;
    /* recovered once the 100 ms lease has run out by Redis's clock: polled, not slept on */
    for (int waited = 0;; waited += 10) {
        ck_assert_int_eq(store_recover(fx_rc, 10, &ids, &n), 0);
        if (n > 0) break;
        free(ids);
        ck_assert_msg(waited < 20000, "the lease of %s was not recovered", m.id);
        timefmt_sleep_ms(10);
    }
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(ids[0], m.id);
    free(ids);
    ck_assert_int_eq(store_heartbeat(fx_rc, m.id, old, 1000, NULL), MIG_ESTALE);
    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 50;
    ck_assert_int_eq(store_report_progress(fx_rc, m.id, old, &rep), MIG_ESTALE);
    ck_assert_int_eq(store_advance(fx_rc, m.id, old, MIG_TRANSFERRING, NULL), MIG_ESTALE);
    /* the recovering worker claims it with a fresh token and rolls it back */
    ck_assert_int_eq(store_claim(fx_rc, "w2", 60000, &r), 0);
    ck_assert_str_eq(r.id, m.id);
    ck_assert_int_eq(r.status, MIG_PREPARING);
    ck_assert(r.recovering);
    ck_assert(r.lease_token > old);
    store_failure_t f = {"worker lost", "lease_lost", 1, 1, 0, 0};
    ck_assert_int_eq(store_fail(fx_rc, r.id, r.lease_token, &f, &r), 0);
    ck_assert_int_eq(r.status, MIG_SCHEDULED);
    ck_assert_int_eq(r.retry_count, 1);
    ck_assert(!r.recovering);
    ck_assert_int_eq(store_heartbeat(fx_rc, m.id, old, 1000, NULL), MIG_ESTALE);
    migration_clear(&m);
    migration_clear(&r);
}
END_TEST

START_TEST(test_retry_until_max_retries_then_failed) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_PREPARING, &m);
    store_failure_t f = {"target slow", "timeout", 1, 1, 0, 900};
    for (int i = 1; i <= 4; i++) {
        ck_assert_int_eq(store_fail(fx_rc, m.id, m.lease_token, &f, &m), 0);
        if (i <= 3) {
            ck_assert_int_eq(m.status, MIG_SCHEDULED);
            ck_assert_int_eq(m.retry_count, i);
            ck_assert_int_eq(store_promote(fx_rc, m.id), 0);
            ck_assert_int_eq(store_claim(fx_rc, "w1", 60000, &m), 0);
        }
    }
    ck_assert_int_eq(m.status, MIG_FAILED);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_str_eq(m.error_message, "target slow");
    ck_assert_int_eq(m.rollback_success, 1);
    redisReply *r = fx_cmd("PTTL mig:cooldown:s1");
    ck_assert(r->integer > 0 && r->integer <= 900);
    freeReplyObject(r);
    r = fx_cmd("EXISTS mig:active:s1");
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    store_stats_t st;
    ck_assert_int_eq(store_get_stats(fx_rc, &st), 0);
    ck_assert_int_eq(st.failed_total, 1);
    ck_assert_int_eq(st.retried_total, 3);
    ck_assert_int_eq(st.by_status[MIG_FAILED], 1);
    ck_assert_int_eq(st.n_fail_reasons, 1);
    ck_assert_str_eq(st.fail_reasons[0].reason, "timeout");
    store_stats_free(&st);
    migration_clear(&m);
}
END_TEST

START_TEST(test_stats_count_by_status_success_rate_duration_and_savings) {
    fx_fleet(4);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_COMPLETED, &m);
    fx_drive("s2", MIG_COMPLETED, &m);
    fx_drive("s3", MIG_FAILED, &m);
    fx_drive("s4", MIG_SUGGESTED, &m);
    store_stats_t st;
    ck_assert_int_eq(store_get_stats(fx_rc, &st), 0);
    ck_assert_int_eq(st.by_status[MIG_COMPLETED], 2);
    ck_assert_int_eq(st.by_status[MIG_FAILED], 1);
    ck_assert_int_eq(st.by_status[MIG_SUGGESTED], 1);
    ck_assert_int_eq(st.by_status[MIG_PREPARING], 0);
    ck_assert_int_eq(st.created_total, 4);
    ck_assert_double_eq_tol(store_stats_success_rate(&st), 2.0 / 3.0, 1e-9);
    ck_assert(store_stats_avg_duration_s(&st) >= 0);
    ck_assert_double_eq_tol(st.savings_eur_hour_sum, 0.30, 1e-9);
    ck_assert_double_eq_tol(st.savings_eur_month_sum, 219.0, 1e-9);
    store_stats_free(&st);
    migration_clear(&m);
}
END_TEST

START_TEST(test_delete_refuses_unended_and_removes_ended_from_every_index) {
    fx_fleet(2);
    migration_t a, b;
    migration_init(&a);
    migration_init(&b);
    fx_drive("s1", MIG_TRANSFERRING, &a);
    ck_assert_int_eq(store_delete_migration(fx_rc, a.id), MIG_ENOT_ENDED);
    fx_drive("s2", MIG_COMPLETED, &b);
    ck_assert_int_eq(store_delete_migration(fx_rc, b.id), 0);
    ck_assert_int_eq(store_get_migration(fx_rc, b.id, NULL), MIG_ENOT_FOUND);
    fx_assert_gone(b.id);
    ck_assert_int_eq(store_delete_migration(fx_rc, b.id), MIG_ENOT_FOUND);
    migration_clear(&a);
    migration_clear(&b);
}
END_TEST

START_TEST(test_server_delete_cascades_its_ended_migrations_and_leaves_no_key_behind) {
    fx_fleet(2);
    migration_t m;
    migration_init(&m);
    char ended[3][MIG_ID_MAX + 1];
    const mig_status_t ends[] = {MIG_COMPLETED, MIG_CANCELLED, MIG_FAILED};
    for (int i = 0; i < 3; i++) {
        fx_drive("s1", ends[i], &m);
        snprintf(ended[i], sizeof ended[i], "%s", m.id);
    }
    fx_drive("s2", MIG_SCHEDULED, &m);
    long long deleted = 0;
    ck_assert_int_eq(store_delete_server(fx_rc, "s1", &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    fx_assert_gone("s1");
    for (int i = 0; i < 3; i++) fx_assert_gone(ended[i]);
    store_stats_t st;
    ck_assert_int_eq(store_get_stats(fx_rc, &st), 0);
    ck_assert_int_eq(st.by_status[MIG_COMPLETED] + st.by_status[MIG_CANCELLED] + st.by_status[MIG_FAILED], 0);
    ck_assert_int_eq(st.by_status[MIG_SCHEDULED], 1); /* s2's, untouched */
    ck_assert_int_eq(st.leases, 0);
    store_stats_free(&st);
    ck_assert_int_eq(store_delete_server(fx_rc, "s1", NULL), MIG_ENO_SERVER);
    migration_clear(&m);
}
END_TEST

/* A server whose migration has not ended keeps it and itself: deleting them would take
 * the record from the worker that holds it and leave the players where it put them. For
 * each of the six statuses before an end, beside an ended migration of the same server,
 * the delete is refused with ACTIVE_EXISTS naming the migration, and the whole database
 * is byte-equal before and after. Once that migration has ended, the delete goes
 * through and takes both. */
START_TEST(test_server_delete_refused_while_a_migration_has_not_ended_and_changes_nothing) {
    const mig_status_t open[] = {MIG_SUGGESTED,    MIG_APPROVED,     MIG_SCHEDULED,
                                 MIG_PREPARING,    MIG_TRANSFERRING, MIG_COMPLETING};
    const size_t nopen = sizeof open / sizeof open[0];
    fx_fleet((int)nopen);
    migration_t m;
    migration_init(&m);
    char ids[sizeof open / sizeof open[0]][MIG_ID_MAX + 1];
    for (size_t i = 0; i < nopen; i++) {
        char sid[16];
        snprintf(sid, sizeof sid, "s%zu", i + 1);
        fx_drive(sid, MIG_COMPLETED, &m); /* an ended one first: refused, it stays too */
        fx_drive(sid, open[i], &m);
        snprintf(ids[i], sizeof ids[i], "%s", m.id);
        char *before = fx_snapshot();
        long long deleted = -1;
        int rv = store_delete_server(fx_rc, sid, &deleted);
        ck_assert_msg(rv == MIG_EACTIVE, "%s with a %s migration: %s, want ACTIVE_EXISTS", sid,
                      states_name(open[i]), mig_errname(rv));
        ck_assert_msg(strstr(fx_rc->err, m.id) != NULL && strstr(fx_rc->err, states_name(open[i])) != NULL,
                      "\"%s\" does not name migration %s in status %s", fx_rc->err, m.id, states_name(open[i]));
        ck_assert_int_eq(deleted, -1);
        char *after = fx_snapshot();
        ck_assert_msg(strcmp(before, after) == 0, "a refused server_delete (%s) changed the database",
                      states_name(open[i]));
        free(before);
        free(after);
    }
    /* s3's scheduled migration is cancelled: now its server goes, with both migrations */
    ck_assert_int_eq(store_cancel_migration(fx_rc, ids[2], NULL), 0);
    long long deleted = 0;
    ck_assert_int_eq(store_delete_server(fx_rc, "s3", &deleted), 0);
    ck_assert_int_eq(deleted, 2);
    fx_assert_gone(ids[2]);
    fx_assert_gone("s3");
    migration_clear(&m);
}
END_TEST

START_TEST(test_claim_skips_cancelled_entries_and_reports_empty_queue) {
    fx_fleet(2);
    migration_t a, b, got;
    migration_init(&a);
    migration_init(&b);
    migration_init(&got);
    fx_drive("s1", MIG_SCHEDULED, &a);
    fx_drive("s2", MIG_SCHEDULED, &b);
    ck_assert_int_eq(store_promote(fx_rc, a.id), 0);
    ck_assert_int_eq(store_promote(fx_rc, a.id), MIG_EILLEGAL);
    ck_assert_int_eq(store_promote(fx_rc, b.id), 0);
    ck_assert_int_eq(store_cancel_migration(fx_rc, a.id, NULL), 0);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 5000, &got), 0);
    ck_assert_str_eq(got.id, b.id);
    ck_assert_str_eq(got.lease_owner, "w1");
    ck_assert(got.lease_expires_at > got.started_at);
    ck_assert_int_eq(store_claim(fx_rc, "w1", 5000, &got), MIG_EEMPTY);
    migration_clear(&a);
    migration_clear(&b);
    migration_clear(&got);
}
END_TEST

START_TEST(test_block_records_reason_and_delays_promotion) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    int64_t not_before = m.not_before;
    ck_assert_int_eq(store_block(fx_rc, m.id, "3 players online", 4102444800000LL), 0);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_str_eq(m.blocked_reason, "3 players online");
    ck_assert_int_eq(m.not_before, not_before); /* the recheck time is only the schedule's */
    redisReply *r = fx_cmd("ZSCORE mig:sched %s", m.id);
    ck_assert_str_eq(r->str, "4102444800000");
    freeReplyObject(r);
    ck_assert_int_eq(store_promote(fx_rc, m.id), 0);
    ck_assert_int_eq(store_get_migration(fx_rc, m.id, &m), 0);
    ck_assert_ptr_null(m.blocked_reason);
    migration_clear(&m);
}
END_TEST

/* sched_touch checks every server id before its first write: a list whose last id is
 * bad is refused, and the migration of the good id before it stays where it was. */
START_TEST(test_sched_touch_refused_for_a_bad_id_changes_nothing) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    ck_assert_int_eq(store_block(fx_rc, m.id, "3 players online", 4102444800000LL), 0);
    char *before = fx_snapshot();
    redisReply *r = fx_cmd("FCALL sched_touch 1 mig: s1 bad/id");
    ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
    ck_assert_msg(strncmp(r->str, "INVALID server_id", 17) == 0, "reply: %s", r->str);
    freeReplyObject(r);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    migration_clear(&m);
}
END_TEST

Suite *suite_store(void) {
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_legal_edge_moves_and_every_illegal_edge_changes_nothing);
    tcase_add_test(tc, test_node_get_reads_one_node_and_names_a_missing_one);
    tcase_add_test(tc, test_create_fills_names_and_month_savings_from_inventory);
    tcase_add_test(tc, test_create_refusals_name_the_problem_and_change_nothing);
    tcase_add_test(tc, test_functions_refuse_bad_input_sent_around_the_c_validation);
    tcase_add_test(tc, test_second_active_migration_of_a_server_is_refused);
    tcase_add_test(tc, test_cooldown_refuses_then_allows_after_it_passes);
    tcase_add_test(tc, test_stale_token_cannot_write_after_recovery);
    tcase_add_test(tc, test_retry_until_max_retries_then_failed);
    tcase_add_test(tc, test_stats_count_by_status_success_rate_duration_and_savings);
    tcase_add_test(tc, test_delete_refuses_unended_and_removes_ended_from_every_index);
    tcase_add_test(tc, test_server_delete_cascades_its_ended_migrations_and_leaves_no_key_behind);
    tcase_add_test(tc, test_server_delete_refused_while_a_migration_has_not_ended_and_changes_nothing);
    tcase_add_test(tc, test_claim_skips_cancelled_entries_and_reports_empty_queue);
    tcase_add_test(tc, test_block_records_reason_and_delays_promotion);
    tcase_add_test(tc, test_sched_touch_refused_for_a_bad_id_changes_nothing);
    suite_add_tcase(s, tc);
    return s;
}
