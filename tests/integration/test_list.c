/* test_list.c - mig_list against a reference computed in the test: every combination of
 * filters, and the page edges; a page read while migrations change is one instant; at
 * 200,000 entries one call examines at most STORE_LIST_EXAMINE_MAX of them, its cursor
 * pages through every match once, and Redis answers others between its calls. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"

#define N 60

static struct {
    char id[MIG_ID_MAX + 1];
    char server[16];
    mig_status_t status;
    mig_reason_t reason;
    int64_t created;
} ref[N];

/* Makes N migrations over 6 servers in assorted statuses and reasons. */
static void populate(void) {
    fx_fleet(N);
    static const mig_status_t sts[] = {MIG_SUGGESTED, MIG_APPROVED, MIG_SCHEDULED, MIG_PREPARING,
                                       MIG_TRANSFERRING, MIG_COMPLETED, MIG_CANCELLED, MIG_FAILED};
    migration_t m;
    migration_init(&m);
    for (int i = 0; i < N; i++) {
        snprintf(ref[i].server, sizeof ref[i].server, "s%d", i + 1);
        fx_drive(ref[i].server, sts[i % 8], &m);
        snprintf(ref[i].id, sizeof ref[i].id, "%s", m.id);
        ref[i].status = m.status;
        ref[i].reason = m.reason;
        ref[i].created = m.created_at;
    }
    migration_clear(&m);
}

static bool match(int i, const char *statuses, const char *server, const char *reason) {
    if (statuses[0]) {
        char buf[256];
        snprintf(buf, sizeof buf, ",%s,", statuses);
        char want[32];
        snprintf(want, sizeof want, ",%s,", states_name(ref[i].status));
        if (strstr(buf, want) == NULL) return false;
    }
    if (server[0] && strcmp(server, ref[i].server) != 0) return false;
    if (reason[0] && strcmp(reason, migration_reason_name(ref[i].reason)) != 0) return false;
    return true;
}

/* Checks one query: the total and the page, newest first, equal to the reference. */
static void check(const char *statuses, const char *server, const char *reason, long limit, long offset) {
    int idx[N], n = 0;
    for (int i = 0; i < N; i++)
        if (match(i, statuses, server, reason)) idx[n++] = i;
    /* newest first: by created_at descending, then id descending, as the indexes order */
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++) {
            int x = idx[a], y = idx[b];
            if (ref[y].created > ref[x].created ||
                (ref[y].created == ref[x].created && strcmp(ref[y].id, ref[x].id) > 0)) {
                idx[a] = y;
                idx[b] = x;
            }
        }
    store_query_t q = {statuses, server, reason, limit, offset};
    store_page_t page;
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), 0);
    ck_assert_msg(page.total == n, "[%s|%s|%s] total %lld, want %d", statuses, server, reason, page.total, n);
    long want = n - offset < limit ? n - offset : limit;
    if (want < 0) want = 0;
    ck_assert_int_eq((long)page.n, want);
    for (size_t i = 0; i < page.n; i++)
        ck_assert_str_eq(page.items[i].id, ref[idx[offset + (long)i]].id);
    store_page_free(&page);
}

START_TEST(test_list_every_filter_combination_matches_reference) {
    populate();
    const char *statuses[] = {"", "scheduled", "scheduled,preparing", "completed,failed,cancelled", "approved,approved"};
    const char *servers[] = {"", "s3", "s9", "nosuch"};
    const char *reasons[] = {"", "manual", "cost-optimization", "maintenance"};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t c = 0; c < 4; c++) {
                check(statuses[a], servers[b], reasons[c], 50, 0);
                check(statuses[a], servers[b], reasons[c], 3, 2);
            }
}
END_TEST

START_TEST(test_list_page_edges_offset_past_end_and_limit_zero) {
    populate();
    check("", "", "", 0, 0);
    check("", "", "", 500, 0);
    check("", "", "", 10, 55);
    check("", "", "", 10, 60);
    check("", "", "", 10, 1000);
    check("scheduled,preparing", "", "", 2, 7);
    check("scheduled", "", "manual", 1, 0);
    store_query_t q = {"", "", "", 501, 0};
    store_page_t page;
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), MIG_EINVALID);
    ck_assert(strstr(fx_rc->err, "limit") != NULL);
    q = (store_query_t){"scheduled,done", "", "", 10, 0};
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), MIG_EINVALID);
    ck_assert(strstr(fx_rc->err, "done") != NULL);
    q = (store_query_t){"", "", "", 10, -1};
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), MIG_EINVALID);
    ck_assert(strstr(fx_rc->err, "offset") != NULL);
}
END_TEST

START_TEST(test_list_one_call_read_matches_reference_too) {
    /* the read store_list_migrations falls back to when a page changes under every
     * round: mig_list answering the records itself */
    populate();
    store_set_list_tries(0);
    const char *statuses[] = {"", "scheduled,preparing", "completed,failed,cancelled"};
    for (size_t a = 0; a < 3; a++) {
        check(statuses[a], "", "", 50, 0);
        check(statuses[a], "s9", "", 3, 0);
        check(statuses[a], "", "manual", 3, 2);
    }
    check("", "", "", 10, 1000);
    store_set_list_tries(3);
}
END_TEST

#define CHURN_SERVERS 40 /* servers s61.. whose migrations the churn creates and cancels */
#define PAGES 500                  /* pages read while the churn goes on */
#define CHURNS (5 * CHURN_SERVERS) /* creates and cancels meanwhile: five times round its servers */

static atomic_int churn_stop;
static atomic_long churned; /* migrations the churn has created and cancelled */

/* Creates a scheduled migration on each churn server in turn and cancels it, so records
 * enter and leave the scheduled index (and the page) all the time. */
static void *churn(void *arg) {
    (void)arg;
    rconn_t *rc = fx_new_conn();
    migration_t m;
    migration_init(&m);
    for (int i = 0; !atomic_load(&churn_stop); i = (i + 1) % CHURN_SERVERS) {
        char server[16];
        snprintf(server, sizeof server, "s%d", N + 1 + i);
        migration_create_t c;
        migration_create_init(&c);
        c.server_id = server;
        c.to_node_id = "n2";
        if (store_create_migration(rc, &c, &m) == 0 && store_cancel_migration(rc, m.id, NULL) == 0)
            atomic_fetch_add(&churned, 1);
    }
    migration_clear(&m);
    rconn_free(rc);
    return NULL;
}

START_TEST(test_list_page_is_one_instant_while_migrations_enter_and_leave_it) {
    populate();
    fx_fleet(N + CHURN_SERVERS);
    pthread_t t;
    atomic_store(&churn_stop, 0);
    atomic_store(&churned, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, churn, NULL), 0);
    /* Pages and churn counted, not timed: it reads until it has read PAGES pages and the
     * churn, running all along, has made CHURNS creates and cancels, however fast either
     * goes on this machine; the deadline only ends a test that hangs. */
    long pages = 0;
    int64_t deadline = timefmt_mono_ms() + 30000;
    for (; pages < PAGES || atomic_load(&churned) < CHURNS; pages++) {
        ck_assert_msg(timefmt_mono_ms() < deadline, "%ld pages and %ld churned after 30 s", pages,
                      (long)atomic_load(&churned));
        store_query_t q = {"scheduled,preparing", "", "", 6, pages % 3};
        store_page_t page;
        ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), 0);
        long want = page.total - q.offset < q.limit ? page.total - q.offset : q.limit;
        ck_assert_int_eq((long)page.n, want < 0 ? 0 : want);
        for (size_t i = 0; i < page.n; i++) {
            const migration_t *m = &page.items[i];
            ck_assert_msg(m->status == MIG_SCHEDULED || m->status == MIG_PREPARING, "page %ld item %zu is %s", pages,
                          i, states_name(m->status));
            if (i > 0) ck_assert_msg(page.items[i - 1].created_at >= m->created_at, "page %ld out of order", pages);
            for (size_t j = 0; j < i; j++) ck_assert_str_ne(page.items[j].id, m->id);
        }
        store_page_free(&page);
    }
    atomic_store(&churn_stop, 1);
    pthread_join(t, NULL);
}
END_TEST

/* ---- large indexes: the bound on one call, and the cursor ------------------------------- */

#define BIG 200000 /* entries of the large indexes: a whole walk is 100 times the bound */
#define BIG_T0 1700000000000LL /* created_at of entry 0; entry i at BIG_T0 + i / 2, so two share each ms */

/* The entry i of the large population, as the Lua below writes it: status, reason. */
static const char *big_status(long i) {
    return i % 10 == 0 ? "scheduled" : i % 7 == 0 ? "failed" : "completed";
}
static const char *big_reason(long i) {
    return i % 4 == 3 || i % 1001 == 0 ? "maintenance" : i % 4 == 0 ? "manual" : "cost-optimization";
}

/* BIG records "t<i, 7 digits>" with their status and reason indexes, written by a Lua
 * loop in chunks (each well within the connection's timeout): the keys and fields
 * mig_list reads for these filters, and enough of a record for a page. The id order
 * within a millisecond is i's. */
#define BIG_CHUNK 25000
static void populate_big(void) {
    static const char *lua =
        "local p, t0 = KEYS[1], tonumber(ARGV[2])\n"
        "for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[3]) - 1 do\n"
        "  local st = i % 10 == 0 and 'scheduled' or (i % 7 == 0 and 'failed' or 'completed')\n"
        "  local re = (i % 4 == 3 or i % 1001 == 0) and 'maintenance' or (i % 4 == 0 and 'manual' or 'cost-optimization')\n"
        "  local id, t = string.format('t%07d', i), t0 + math.floor(i / 2)\n"
        "  redis.call('HSET', p .. 'm:' .. id, 'id', id, 'status', st, 'reason', re)\n"
        "  redis.call('ZADD', p .. 'idx:status:' .. st, t, id)\n"
        "  redis.call('ZADD', p .. 'idx:reason:' .. re, t, id)\n"
        "end\n"
        "return 1\n";
    for (long i = 0; i < BIG; i += BIG_CHUNK) {
        redisReply *r = fx_cmd("EVAL %s 1 mig: %ld %lld %d", lua, i, BIG_T0, BIG_CHUNK);
        ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
    }
}

/* The matches of (statuses, reason) newest first: i descending. Returns their count. */
static long big_matches(const char *statuses, const char *reason, long *out) {
    long n = 0;
    for (long i = BIG - 1; i >= 0; i--) {
        char want[32], set[128];
        snprintf(want, sizeof want, ",%s,", big_status(i));
        snprintf(set, sizeof set, ",%s,", statuses);
        if (strstr(set, want) && (reason[0] == '\0' || strcmp(reason, big_reason(i)) == 0)) out[n++] = i;
    }
    return n;
}

/* Reads the pages of the query from `offset` on by following next_cursor, `limit` at a
 * time through the store, checking each page's bound, until the cursor ends or `until`
 * items are read; the items must be want[offset..], each once, in order. Answers the
 * pages read. */
static long page_through(const char *statuses, const char *reason, long limit, long offset, const long *want,
                         long nwant, long until, bool exact_total) {
    char cursor[STORE_CURSOR_MAX + 1] = "";
    long got = offset, pages = 0;
    do {
        store_query_t q = {statuses, "", reason, limit, pages == 0 ? offset : 0};
        store_page_t page;
        ck_assert_int_eq(store_list_after(fx_rc, &q, cursor, &page), 0);
        ck_assert_msg(page.examined <= STORE_LIST_EXAMINE_MAX, "page %ld examined %lld", pages, page.examined);
        ck_assert_int_le((long)page.n, limit);
        if (exact_total) ck_assert_int_eq(page.total, nwant);
        else ck_assert_int_eq(page.total, -1);
        for (size_t i = 0; i < page.n; i++) {
            char id[16];
            ck_assert_msg(got < nwant, "page %ld: more items than matches", pages);
            snprintf(id, sizeof id, "t%07ld", want[got]);
            ck_assert_msg(strcmp(page.items[i].id, id) == 0, "page %ld item %zu: %s, want %s", pages, i,
                          page.items[i].id, id);
            got++;
        }
        snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
        store_page_free(&page);
        ck_assert_msg(++pages <= 2 * BIG / STORE_LIST_EXAMINE_MAX + nwant / (limit ? limit : 1) + 2,
                      "the cursor does not end");
    } while (cursor[0] && got < until);
    if (until < nwant) ck_assert_int_ge(got, until);
    else ck_assert_int_eq(got, nwant);
    return pages;
}

START_TEST(test_list_two_filters_examine_at_most_the_bound_and_page_by_cursor) {
    populate_big();
    long *want = malloc(BIG * sizeof *want);
    ck_assert_ptr_nonnull(want);

    /* sparse: 20,000 scheduled, of which a handful are maintenance. One call stops at the
     * bound, with no item and a cursor; following it finds each match once. */
    long n = big_matches("scheduled", "maintenance", want);
    ck_assert_int_gt(n, 5);
    ck_assert_int_lt(n, 50);
    redisReply *r = fx_cmd("FCALL_RO mig_list 1 mig: %s %s %s 50 0", "scheduled", "", "maintenance");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_int_eq(r->element[0]->integer, -1);
    ck_assert_int_eq(r->element[1]->integer, STORE_LIST_EXAMINE_MAX);
    ck_assert_str_ne(r->element[2]->str, "");
    freeReplyObject(r);
    long pages = page_through("scheduled", "maintenance", 50, 0, want, n, n, false);
    ck_assert_int_ge(pages, 20000 / STORE_LIST_EXAMINE_MAX);

    /* dense, two statuses and a reason: 40,000 matches, full pages, in order */
    n = big_matches("completed,failed", "manual", want);
    ck_assert_int_gt(n, 30000);
    page_through("completed,failed", "manual", 500, 0, want, n, n, false);
    /* an offset deeper than one call can skip goes on through the cursor */
    page_through("failed,completed", "manual", 7, 5000, want, n, 5000 + 30, false);

    /* one filter: exact totals, and a deep page costs what the first does */
    n = big_matches("completed,failed", "", want);
    store_query_t q = {"completed,failed", "", "", 20, 150001};
    store_page_t page;
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, &page), 0);
    ck_assert_int_eq(page.total, n);
    ck_assert_int_lt(page.examined, 100);
    ck_assert_int_eq((long)page.n, 20);
    for (size_t i = 0; i < page.n; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%07ld", want[150001 + (long)i]);
        ck_assert_str_eq(page.items[i].id, id);
    }
    store_page_free(&page);
    /* and its cursor goes on exactly where an offset would */
    page_through("completed,failed", "", 500, 179000, want, n, n, true);
    free(want);
}
END_TEST

START_TEST(test_list_redis_answers_another_client_between_two_calls_of_a_walk) {
    /* A viewer walks the sparse query to its end, one bounded call after another; before
     * each next call another connection's PING is answered. Without the bound the walk
     * was one call, and that PING would have waited for all of it. */
    populate_big();
    rconn_t *other = fx_new_conn();
    ck_assert_int_eq(rconn_ensure(other), 0);
    char cursor[STORE_CURSOR_MAX + 1] = "";
    long calls = 0, pongs = 0, examined = 0;
    do {
        redisReply *r = fx_cmd("FCALL_RO mig_list 1 mig: %s %s %s 50 0 keys %s", "scheduled", "", "maintenance", cursor);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        ck_assert_int_le(r->element[1]->integer, STORE_LIST_EXAMINE_MAX);
        examined += r->element[1]->integer;
        snprintf(cursor, sizeof cursor, "%s", r->element[2]->str);
        freeReplyObject(r);
        calls++;
        if (cursor[0] == '\0') break;
        redisReply *pong = redisCommand(other->ctx, "PING");
        ck_assert_ptr_nonnull(pong);
        ck_assert_str_eq(pong->str, "PONG");
        freeReplyObject(pong);
        pongs++;
    } while (calls < BIG);
    ck_assert_int_eq(examined, BIG / 10); /* the whole scheduled index, once */
    ck_assert_int_ge(calls, BIG / 10 / STORE_LIST_EXAMINE_MAX);
    ck_assert_int_eq(pongs, calls - 1);
    rconn_free(other);
}
END_TEST

START_TEST(test_list_refuses_a_cursor_that_is_not_one) {
    populate();
    store_query_t q = {"scheduled", "", "manual", 10, 0};
    store_page_t page;
    const char *bad[] = {"x", "1:a", "1:a:b", "-1:a:0", "1:a:0:", "1:a b:0", "99999999999999999999:a:9999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(store_list_after(fx_rc, &q, bad[i], &page), MIG_EINVALID);
        ck_assert_msg(strstr(fx_rc->err, "cursor") != NULL, "%s: %s", bad[i], fx_rc->err);
    }
    /* a cursor past everything is an empty page, not an error */
    ck_assert_int_eq(store_list_after(fx_rc, &q, "1:a:0", &page), 0);
    ck_assert_int_eq((long)page.n, 0);
    ck_assert_str_eq(page.next_cursor, "");
    store_page_free(&page);
}
END_TEST

Suite *suite_list(void) {
    Suite *s = suite_create("list");
    TCase *tc = tcase_create("list");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_list_every_filter_combination_matches_reference);
    tcase_add_test(tc, test_list_page_edges_offset_past_end_and_limit_zero);
    tcase_add_test(tc, test_list_one_call_read_matches_reference_too);
    tcase_add_test(tc, test_list_page_is_one_instant_while_migrations_enter_and_leave_it);
    tcase_add_test(tc, test_list_two_filters_examine_at_most_the_bound_and_page_by_cursor);
    tcase_add_test(tc, test_list_redis_answers_another_client_between_two_calls_of_a_walk);
    tcase_add_test(tc, test_list_refuses_a_cursor_that_is_not_one);
    suite_add_tcase(s, tc);
    return s;
}
