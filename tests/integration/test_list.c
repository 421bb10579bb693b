/* test_list.c - mig_list against a reference computed in the test: every combination of
 * filters, and the page edges; a page read while migrations change is one instant. */
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
    suite_add_tcase(s, tc);
    return s;
}
