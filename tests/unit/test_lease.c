/* test_lease.c - the worker's own copy of a lease (worker/lease.c): the deadline comes
 * before Redis's expiry, renewals only move it on, and a lost lease stays lost. */
#include <check.h>

#include "suites.h"
#include "worker/lease.h"

START_TEST(test_deadline_is_before_redis_expiry_by_the_margin) {
    /* Redis runs the claim at some time >= sent, and expires it lease_ms after that */
    for (int64_t lease = 300; lease <= 3600000; lease *= 3) {
        int64_t sent = 1000000, redis_expiry_earliest = sent + lease;
        int64_t d = lease_deadline(sent, lease);
        ck_assert_int_le(d + LEASE_MARGIN_MS(lease), redis_expiry_earliest);
        ck_assert_int_gt(d, sent); /* and there is still a lease to act under */
    }
}
END_TEST

START_TEST(test_left_counts_down_to_zero_at_the_deadline) {
    lease_t l;
    lease_init(&l);
    ck_assert_int_eq(lease_left_ms(&l, 0, NULL), 0); /* nothing held */
    lease_take(&l, "m1", 7, 1000, 15000);
    int64_t d = lease_deadline(1000, 15000);
    uint64_t token = 0;
    ck_assert_int_eq(lease_left_ms(&l, 1000, &token), d - 1000);
    ck_assert_uint_eq(token, 7);
    ck_assert_int_eq(lease_left_ms(&l, d - 1, NULL), 1);
    ck_assert_int_eq(lease_left_ms(&l, d, NULL), 0);
    ck_assert_int_eq(lease_left_ms(&l, d + 5000, NULL), 0);
    lease_destroy(&l);
}
END_TEST

START_TEST(test_renewal_moves_the_deadline_on_never_back) {
    lease_t l;
    lease_init(&l);
    lease_take(&l, "m1", 7, 1000, 15000);
    lease_renew(&l, 7, 6000, 15000);
    ck_assert_int_eq(lease_left_ms(&l, 6000, NULL), lease_deadline(6000, 15000) - 6000);
    /* a renewal sent earlier but answered later must not pull the deadline back */
    lease_renew(&l, 7, 3000, 15000);
    ck_assert_int_eq(lease_left_ms(&l, 6000, NULL), lease_deadline(6000, 15000) - 6000);
    lease_destroy(&l);
}
END_TEST

START_TEST(test_renewal_of_another_token_changes_nothing) {
    lease_t l;
    lease_init(&l);
    lease_take(&l, "m2", 9, 1000, 15000);
    lease_renew(&l, 8, 9000, 15000); /* the heartbeat read the slot before it moved on */
    ck_assert_int_eq(lease_left_ms(&l, 1000, NULL), lease_deadline(1000, 15000) - 1000);
    lease_destroy(&l);
}
END_TEST

START_TEST(test_lost_lease_stays_lost_whatever_renews_it) {
    lease_t l;
    lease_init(&l);
    lease_take(&l, "m1", 7, 1000, 15000);
    lease_lose(&l, 7);
    ck_assert_int_eq(lease_left_ms(&l, 1000, NULL), 0);
    lease_renew(&l, 7, 2000, 15000);
    ck_assert_int_eq(lease_left_ms(&l, 2000, NULL), 0);
    char id[MIG_ID_MAX + 1];
    uint64_t token;
    ck_assert(!lease_current(&l, id, &token)); /* the heartbeat leaves it alone */
    lease_destroy(&l);
}
END_TEST

START_TEST(test_losing_an_older_token_leaves_the_new_lease_alone) {
    lease_t l;
    lease_init(&l);
    lease_take(&l, "m1", 7, 1000, 15000);
    lease_drop(&l);
    lease_take(&l, "m3", 11, 2000, 15000);
    lease_lose(&l, 7); /* a refusal that arrived for the slot's previous migration */
    char id[MIG_ID_MAX + 1];
    uint64_t token;
    ck_assert(lease_current(&l, id, &token));
    ck_assert_str_eq(id, "m3");
    ck_assert_uint_eq(token, 11);
    ck_assert_int_gt(lease_left_ms(&l, 2000, NULL), 0);
    lease_drop(&l);
    ck_assert(!lease_current(&l, id, &token));
    ck_assert_int_eq(lease_left_ms(&l, 2000, NULL), 0);
    lease_destroy(&l);
}
END_TEST

Suite *suite_lease(void) {
    Suite *s = suite_create("lease");
    TCase *tc = tcase_create("lease");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_deadline_is_before_redis_expiry_by_the_margin);
    tcase_add_test(tc, test_left_counts_down_to_zero_at_the_deadline);
    tcase_add_test(tc, test_renewal_moves_the_deadline_on_never_back);
    tcase_add_test(tc, test_renewal_of_another_token_changes_nothing);
    tcase_add_test(tc, test_lost_lease_stays_lost_whatever_renews_it);
    tcase_add_test(tc, test_losing_an_older_token_leaves_the_new_lease_alone);
    suite_add_tcase(s, tc);
    return s;
}
