/* test_concurrency.c - the guards under concurrent clients: one active migration per
 * server, one recoverer per expired lease. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"

#define CREATORS 50

static pthread_barrier_t barrier;
static int results[CREATORS];

static void *creator(void *arg) {
    int i = (int)(intptr_t)arg;
    rconn_t *rc = fx_new_conn();
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = i % 2 ? "n2" : "n3";
    /* load the library before the race so every client starts together */
    store_stats_t st;
    store_get_stats(rc, &st);
    store_stats_free(&st);
    pthread_barrier_wait(&barrier);
    results[i] = store_create_migration(rc, &c, NULL);
    rconn_free(rc);
    return NULL;
}

START_TEST(test_50_concurrent_creates_for_one_server_exactly_one_succeeds) {
    fx_fleet(1);
    pthread_t t[CREATORS];
    pthread_barrier_init(&barrier, NULL, CREATORS);
    for (int i = 0; i < CREATORS; i++) pthread_create(&t[i], NULL, creator, (void *)(intptr_t)i);
    for (int i = 0; i < CREATORS; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    int ok = 0;
    for (int i = 0; i < CREATORS; i++) {
        if (results[i] == 0) ok++;
        else ck_assert_int_eq(results[i], MIG_EACTIVE);
    }
    ck_assert_int_eq(ok, 1);
    redisReply *r = fx_cmd("ZCARD mig:idx:server:s1");
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
}
END_TEST

#define EXPIRED 200

typedef struct {
    char **ids;
    size_t n;
} taken_t;

static void *recoverer(void *arg) {
    taken_t *t = arg;
    rconn_t *rc = fx_new_conn();
    t->ids = calloc(EXPIRED, sizeof *t->ids);
    pthread_barrier_wait(&barrier);
    for (;;) {
        char **ids;
        size_t n;
        ck_assert_int_eq(store_recover(rc, 7, &ids, &n), 0);
        for (size_t i = 0; i < n; i++) {
            ck_assert(t->n < EXPIRED);
            t->ids[t->n++] = strdup(ids[i]);
        }
        free(ids);
        if (n == 0) break;
    }
    rconn_free(rc);
    return NULL;
}

/* Waits until every lease has expired by the Redis server's clock, the one mig_recover
 * reads (the leases zset is scored by expiry, ms): from then on a recoverer finds them
 * all, however long the claims took. */
static void wait_leases_expired(void) {
    for (int waited = 0;; waited += 10) {
        redisReply *last = fx_cmd("ZRANGE mig:leases -1 -1 WITHSCORES");
        redisReply *t = fx_cmd("TIME");
        long long now = atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000;
        long long until = last->elements == 2 ? atoll(last->element[1]->str) : 0;
        freeReplyObject(last);
        freeReplyObject(t);
        if (until <= now) return;
        ck_assert_msg(waited < 10000, "a lease runs until %lld, %lld ms from now", until, until - now);
        timefmt_sleep_ms(10);
    }
}

START_TEST(test_two_concurrent_recoverers_never_take_the_same_lease) {
    fx_fleet(EXPIRED);
    migration_t m;
    migration_init(&m);
    for (int i = 1; i <= EXPIRED; i++) {
        char sid[16];
        snprintf(sid, sizeof sid, "s%d", i);
        migration_create_t c;
        migration_create_init(&c);
        c.server_id = sid;
        c.to_node_id = "n2";
        ck_assert_int_eq(store_create_migration(fx_rc, &c, &m), 0);
        ck_assert_int_eq(store_promote(fx_rc, m.id), 0);
        ck_assert_int_eq(store_claim(fx_rc, "w-dead", 100, &m), 0);
    }
    migration_clear(&m);
    wait_leases_expired();
    taken_t a = {0}, b = {0};
    pthread_t ta, tb;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&ta, NULL, recoverer, &a);
    pthread_create(&tb, NULL, recoverer, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    ck_assert_int_eq(a.n + b.n, EXPIRED);
    for (size_t i = 0; i < a.n; i++)
        for (size_t j = 0; j < b.n; j++) ck_assert_str_ne(a.ids[i], b.ids[j]);
    redisReply *r = fx_cmd("LLEN mig:ready");
    ck_assert_int_eq(r->integer, EXPIRED);
    freeReplyObject(r);
    for (size_t i = 0; i < a.n; i++) free(a.ids[i]);
    for (size_t i = 0; i < b.n; i++) free(b.ids[i]);
    free(a.ids);
    free(b.ids);
}
END_TEST

Suite *suite_concurrency(void) {
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("concurrency");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_50_concurrent_creates_for_one_server_exactly_one_succeeds);
    tcase_add_test(tc, test_two_concurrent_recoverers_never_take_the_same_lease);
    suite_add_tcase(s, tc);
    return s;
}
