/* test_fence.c - the simulated agents' fencing table: the token header read exactly, the
 * highest token kept per migration, a lower token refused without changing anything but
 * its refusal count, and the counts as GET /control/state shows them. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/fence.h"
#include "suites.h"

static fence_table_t t;

static void setup(void) {
    fence_init(&t);
}

static void teardown(void) {
    fence_free(&t);
}

/* The table as compact JSON text (caller frees). */
static char *table_text(void) {
    cJSON *j = fence_to_json(&t);
    ck_assert_ptr_nonnull(j);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void expect_table(const char *want) {
    char *got = table_text();
    ck_assert_str_eq(got, want);
    free(got);
}

/* ------------------------------------------------------------------------ the header */

START_TEST(test_a_token_is_read_as_decimal_digits_up_to_uint64_max) {
    uint64_t v = 99;
    char err[160];
    ck_assert_int_eq(fence_parse_token("0", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(fence_parse_token("7", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(fence_parse_token("0042", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(fence_parse_token("18446744073709551615", &v, err, sizeof err), 0);
    ck_assert(v == UINT64_MAX);
}
END_TEST

START_TEST(test_a_missing_empty_signed_spaced_or_overflowing_token_is_refused_by_name) {
    static const struct {
        const char *text, *says;
    } bad[] = {
        {NULL, "missing"},
        {"", "empty"},
        {"abc", "not a decimal number"},
        {"-1", "not a decimal number"},
        {"+1", "not a decimal number"},
        {" 1", "not a decimal number"},
        {"1 ", "not a decimal number"},
        {"12x", "not a decimal number"},
        {"1.0", "not a decimal number"},
        {"18446744073709551616", "is over 18446744073709551615"},
        {"99999999999999999999999", "is over 18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 5;
        char err[160] = "";
        ck_assert_int_eq(fence_parse_token(bad[i].text, &v, err, sizeof err), MIG_EINVALID);
        ck_assert_msg(strstr(err, "Fencing-Token") && strstr(err, bad[i].says), "\"%s\": %s",
                      bad[i].text ? bad[i].text : "(absent)", err);
        ck_assert_uint_eq(v, 5);
    }
}
END_TEST

/* ------------------------------------------------------------------------ the check */

START_TEST(test_the_first_token_of_a_migration_is_accepted_and_becomes_its_highest) {
    uint64_t high = 0;
    ck_assert_ptr_null(fence_find(&t, "m1"));
    ck_assert_int_eq(fence_admit(&t, "m1", 5, &high), 0);
    ck_assert_uint_eq(high, 5);
    const fence_entry_t *e = fence_find(&t, "m1");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->highest, 5);
    ck_assert_int_eq(fence_admit(&t, "m2", 0, NULL), 0); /* token 0 is a token too */
    ck_assert_uint_eq(fence_find(&t, "m2")->highest, 0);
}
END_TEST

START_TEST(test_an_equal_or_higher_token_is_accepted_and_raises_the_highest) {
    uint64_t high = 0;
    ck_assert_int_eq(fence_admit(&t, "m1", 5, &high), 0);
    ck_assert_int_eq(fence_admit(&t, "m1", 5, &high), 0); /* a retry of the same worker */
    ck_assert_uint_eq(high, 5);
    ck_assert_int_eq(fence_admit(&t, "m1", 9, &high), 0); /* a recovery took a higher one */
    ck_assert_uint_eq(high, 9);
    ck_assert_int_eq(fence_admit(&t, "m1", UINT64_MAX, &high), 0);
    ck_assert(fence_find(&t, "m1")->highest == UINT64_MAX);
}
END_TEST

START_TEST(test_lower_token_is_refused_and_changes_nothing) {
    uint64_t high = 0;
    ck_assert_int_eq(fence_admit(&t, "m1", 7, NULL), 0);
    expect_table("{\"m1\":{\"highest\":7,\"accepted\":{\"7\":1},\"refused\":{}}}");
    ck_assert_int_eq(fence_admit(&t, "m1", 5, &high), MIG_ESTALE);
    ck_assert_uint_eq(high, 7);
    ck_assert_uint_eq(fence_find(&t, "m1")->highest, 7);
    /* only the refusal is counted */
    expect_table("{\"m1\":{\"highest\":7,\"accepted\":{\"7\":1},\"refused\":{\"5\":1}}}");
    /* and a later equal token is still accepted: the refusal did not lower anything */
    ck_assert_int_eq(fence_admit(&t, "m1", 7, &high), 0);
    ck_assert_int_eq(fence_admit(&t, "m1", 6, &high), MIG_ESTALE);
    ck_assert_int_eq(fence_admit(&t, "m1", 0, &high), MIG_ESTALE);
    expect_table("{\"m1\":{\"highest\":7,\"accepted\":{\"7\":2},\"refused\":{\"0\":1,\"5\":1,\"6\":1}}}");
}
END_TEST

START_TEST(test_migrations_are_fenced_each_by_its_own_highest) {
    ck_assert_int_eq(fence_admit(&t, "m1", 9, NULL), 0);
    ck_assert_int_eq(fence_admit(&t, "m2", 3, NULL), 0);
    ck_assert_int_eq(fence_admit(&t, "m2", 4, NULL), 0); /* m1's 9 does not fence m2 */
    ck_assert_int_eq(fence_admit(&t, "m1", 4, NULL), MIG_ESTALE);
    ck_assert_uint_eq(fence_find(&t, "m1")->highest, 9);
    ck_assert_uint_eq(fence_find(&t, "m2")->highest, 4);
    ck_assert_ptr_null(fence_find(&t, "m3"));
    ck_assert_ptr_null(fence_find(&t, "m"));
}
END_TEST

START_TEST(test_many_migrations_in_any_order_are_each_found) {
    /* ids inserted out of order land sorted, so a lookup is a binary search */
    char id[32];
    for (int i = 0; i < 500; i++) {
        int k = (i * 7919) % 500;
        snprintf(id, sizeof id, "mig-%d", k);
        ck_assert_int_eq(fence_admit(&t, id, (uint64_t)k + 1, NULL), 0);
    }
    ck_assert_uint_eq(t.n, 500);
    for (size_t i = 1; i < t.n; i++) ck_assert_int_lt(strcmp(t.v[i - 1].migration_id, t.v[i].migration_id), 0);
    for (int k = 0; k < 500; k++) {
        snprintf(id, sizeof id, "mig-%d", k);
        const fence_entry_t *e = fence_find(&t, id);
        ck_assert_msg(e && e->highest == (uint64_t)k + 1, "%s", id);
        ck_assert_int_eq(fence_admit(&t, id, (uint64_t)k, NULL), MIG_ESTALE);
    }
}
END_TEST

/* ------------------------------------------------------------------------ the counts */

START_TEST(test_counts_show_per_token_accepted_and_refused_with_exact_numbers) {
    expect_table("{}");
    ck_assert_int_eq(fence_admit(&t, "m2", 3, NULL), 0);
    ck_assert_int_eq(fence_admit(&t, "m1", 2, NULL), 0);
    ck_assert_int_eq(fence_admit(&t, "m1", 10, NULL), 0);
    ck_assert_int_eq(fence_admit(&t, "m1", 10, NULL), 0);
    ck_assert_int_eq(fence_admit(&t, "m1", 2, NULL), MIG_ESTALE);
    ck_assert_int_eq(fence_admit(&t, "m1", 2, NULL), MIG_ESTALE);
    /* tokens in numeric order (10 after 2), migrations by id */
    expect_table("{\"m1\":{\"highest\":10,\"accepted\":{\"2\":1,\"10\":2},\"refused\":{\"2\":2}},"
                 "\"m2\":{\"highest\":3,\"accepted\":{\"3\":1},\"refused\":{}}}");
    /* above 2^53 a double would round: the highest is written as its digits */
    ck_assert_int_eq(fence_admit(&t, "m3", 9007199254740993ULL, NULL), 0);
    char *s = table_text();
    ck_assert_msg(strstr(s, "\"m3\":{\"highest\":9007199254740993,\"accepted\":{\"9007199254740993\":1}"), "%s", s);
    cJSON *back = cJSON_Parse(s); /* and the text is JSON */
    ck_assert_ptr_nonnull(back);
    cJSON_Delete(back);
    free(s);
}
END_TEST

START_TEST(test_a_freed_table_is_empty_and_usable_again) {
    ck_assert_int_eq(fence_admit(&t, "m1", 7, NULL), 0);
    fence_free(&t);
    ck_assert_ptr_null(fence_find(&t, "m1"));
    ck_assert_int_eq(fence_admit(&t, "m1", 1, NULL), 0); /* a new process knows nothing */
    ck_assert_uint_eq(fence_find(&t, "m1")->highest, 1);
}
END_TEST

Suite *suite_fence(void) {
    Suite *s = suite_create("fence");
    TCase *tc = tcase_create("fence");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_a_token_is_read_as_decimal_digits_up_to_uint64_max);
    tcase_add_test(tc, test_a_missing_empty_signed_spaced_or_overflowing_token_is_refused_by_name);
    tcase_add_test(tc, test_the_first_token_of_a_migration_is_accepted_and_becomes_its_highest);
    tcase_add_test(tc, test_an_equal_or_higher_token_is_accepted_and_raises_the_highest);
    tcase_add_test(tc, test_lower_token_is_refused_and_changes_nothing);
    tcase_add_test(tc, test_migrations_are_fenced_each_by_its_own_highest);
    tcase_add_test(tc, test_many_migrations_in_any_order_are_each_found);
    tcase_add_test(tc, test_counts_show_per_token_accepted_and_refused_with_exact_numbers);
    tcase_add_test(tc, test_a_freed_table_is_empty_and_usable_again);
    suite_add_tcase(s, tc);
    return s;
}
