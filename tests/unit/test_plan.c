/* test_plan.c - retry backoff and the convergence of the incremental sync. */
#include <check.h>

#include "suites.h"
#include "worker/plan.h"

START_TEST(test_backoff_doubles_up_to_the_cap_with_bounded_jitter) {
    ck_assert_int_eq(plan_backoff_ms(1, 1000, 60000, 0), 1000);
    ck_assert_int_eq(plan_backoff_ms(2, 1000, 60000, 0), 2000);
    ck_assert_int_eq(plan_backoff_ms(3, 1000, 60000, 0), 4000);
    ck_assert_int_eq(plan_backoff_ms(30, 1000, 60000, 0), 60000);
    int64_t j = plan_backoff_ms(3, 1000, 60000, 0.999);
    ck_assert(j > 3000 && j <= 4000);
}
END_TEST

START_TEST(test_sync_goes_final_when_the_delta_fits_the_budget) {
    /* 50 MB dirty at 100 MB/s: 500 ms, within a 1 s budget */
    ck_assert_int_eq(plan_next_sync(50LL << 20, 100.0 * (1 << 20), 1000, 0, 1, 8), PLAN_SYNC_FINAL);
    ck_assert_int_eq(plan_next_sync(0, 0, 0, 0, 1, 8), PLAN_SYNC_FINAL);
}
END_TEST

START_TEST(test_sync_runs_another_pass_while_the_delta_is_too_big) {
    /* 500 MB dirty at 100 MB/s: 5 s, over a 1 s budget */
    ck_assert_int_eq(plan_next_sync(500LL << 20, 100.0 * (1 << 20), 1000, 0, 1, 8), PLAN_SYNC_AGAIN);
    ck_assert_int_eq(plan_next_sync(500LL << 20, 100.0 * (1 << 20), 1000, 0, 8, 8), PLAN_SYNC_GIVE_UP);
    ck_assert_int_eq(plan_next_sync(1, 0, 1000, 0, 1, 8), PLAN_SYNC_AGAIN); /* unknown speed */
}
END_TEST

START_TEST(test_sync_keeps_room_in_the_budget_for_the_transfer_overhead) {
    /* 190 MB at 100 MB/s: 1,900 ms, which fits 2,000 ms alone but not with 200 ms of
     * overhead on top: another pass first (the worst case of bench/live downtime) */
    ck_assert_int_eq(plan_next_sync(190LL << 20, 100.0 * (1 << 20), 2000, 0, 1, 8), PLAN_SYNC_FINAL);
    ck_assert_int_eq(plan_next_sync(190LL << 20, 100.0 * (1 << 20), 2000, 200, 1, 8), PLAN_SYNC_AGAIN);
    ck_assert_int_eq(plan_next_sync(180LL << 20, 100.0 * (1 << 20), 2000, 200, 1, 8), PLAN_SYNC_FINAL);
    /* an overhead over the whole budget never fits: passes run out, then final anyway */
    ck_assert_int_eq(plan_next_sync(0, 100.0 * (1 << 20), 100, 200, 8, 8), PLAN_SYNC_GIVE_UP);
    ck_assert_int_eq(PLAN_OVERHEAD_PRIOR(2000), 200);
}
END_TEST

START_TEST(test_overhead_estimate_takes_a_worse_transfer_at_once_and_a_better_one_slowly) {
    ck_assert_int_eq(plan_overhead_ms(-1, 120), 120);  /* the first measurement */
    ck_assert_int_eq(plan_overhead_ms(120, 300), 300); /* worse: at once */
    ck_assert_int_eq(plan_overhead_ms(300, 140), 280); /* better: an eighth of the way */
    int64_t e = 300;
    for (int i = 0; i < 100; i++) e = plan_overhead_ms(e, 100);
    ck_assert(e >= 100 && e <= 108);                   /* converges to steady transfers */
    ck_assert_int_eq(plan_overhead_ms(50, -5), 50 - 50 / 8);
}
END_TEST

Suite *suite_plan(void) {
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_backoff_doubles_up_to_the_cap_with_bounded_jitter);
    tcase_add_test(tc, test_sync_goes_final_when_the_delta_fits_the_budget);
    tcase_add_test(tc, test_sync_runs_another_pass_while_the_delta_is_too_big);
    tcase_add_test(tc, test_sync_keeps_room_in_the_budget_for_the_transfer_overhead);
    tcase_add_test(tc, test_overhead_estimate_takes_a_worse_transfer_at_once_and_a_better_one_slowly);
    suite_add_tcase(s, tc);
    return s;
}
