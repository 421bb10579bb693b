/* test_evid.c - core/evid.c: event ids "<ms>-<seq>" parsed, compared and printed, and
 * the texts that are not one refused. */
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/evid.h"
#include "suites.h"

START_TEST(test_ids_parse_and_print_back_to_the_same_text) {
    const char *ok[] = {"0-0", "1700000000000-0", "1-18446744073709551615", "18446744073709551615-7"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        evid_t id;
        char out[EVID_TEXT_MAX];
        ck_assert_int_eq(evid_parse(ok[i], strlen(ok[i]), &id), 0);
        ck_assert_str_eq(evid_format(id, out), ok[i]);
    }
    evid_t id;
    ck_assert_int_eq(evid_parse("12-34", 5, &id), 0);
    ck_assert_uint_eq(id.ms, 12);
    ck_assert_uint_eq(id.seq, 34);
    /* the length, not a NUL, ends the text */
    ck_assert_int_eq(evid_parse("12-345", 5, &id), 0);
    ck_assert_uint_eq(id.seq, 34);
}
END_TEST

START_TEST(test_what_is_not_an_id_is_refused_and_leaves_the_id_alone) {
    const char *bad[] = {"", "-", "12", "12-", "-34", "12-34-5", "+1-2", "1 -2", "1-2 ", "a-1", "1-0x1",
                         "18446744073709551616-0", "0-18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evid_t id = {7, 7};
        ck_assert_msg(evid_parse(bad[i], strlen(bad[i]), &id) == MIG_EINVALID, "%s", bad[i]);
        ck_assert_uint_eq(id.ms, 7);
        ck_assert_uint_eq(id.seq, 7);
    }
}
END_TEST

START_TEST(test_ids_compare_as_two_numbers_not_as_text) {
    evid_t a = {9, 0}, b = {10, 0}, c = {10, 2}, d = {10, 10};
    ck_assert_int_lt(evid_cmp(a, b), 0); /* "9-0" sorts after "10-0" as text */
    ck_assert_int_gt(evid_cmp(b, a), 0);
    ck_assert_int_lt(evid_cmp(c, d), 0);
    ck_assert_int_eq(evid_cmp(d, d), 0);
    ck_assert_int_lt(evid_cmp((evid_t){0, UINT64_MAX}, (evid_t){1, 0}), 0);
}
END_TEST

Suite *suite_evid(void) {
    Suite *s = suite_create("evid");
    TCase *tc = tcase_create("ids");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_ids_parse_and_print_back_to_the_same_text);
    tcase_add_test(tc, test_what_is_not_an_id_is_refused_and_leaves_the_id_alone);
    tcase_add_test(tc, test_ids_compare_as_two_numbers_not_as_text);
    suite_add_tcase(s, tc);
    return s;
}
