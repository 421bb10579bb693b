/* test_err.c - the error table: wire names of Redis replies back to MIG_E* codes. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "suites.h"

START_TEST(test_every_error_name_maps_back_to_its_code) {
    for (int code = -1; code > -MIG__E_END; code--) {
        char reply[128];
        int n = snprintf(reply, sizeof reply, "%s something went wrong", mig_errname(code));
        ck_assert_int_eq(err_from_reply(reply, (size_t)n), code);
        /* a bare name without a message maps too */
        ck_assert_int_eq(err_from_reply(mig_errname(code), strlen(mig_errname(code))), code);
    }
}
END_TEST

START_TEST(test_illegal_transition_reply_is_eillegal) {
    const char *r = "ILLEGAL_TRANSITION cannot approve migration m1 in status completed";
    ck_assert_int_eq(err_from_reply(r, strlen(r)), MIG_EILLEGAL);
    ck_assert_str_eq(mig_errname(MIG_EILLEGAL), "ILLEGAL_TRANSITION");
}
END_TEST

START_TEST(test_unknown_reply_is_eredis) {
    const char *replies[] = {"WRONGTYPE Operation against a key holding the wrong kind of value",
                             "ERR unknown command", "", "ILLEGAL cannot", "illegal_transition lower case",
                             "NOT_FOUNDX migration"};
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++)
        ck_assert_msg(err_from_reply(replies[i], strlen(replies[i])) == MIG_EREDIS, "%s", replies[i]);
}
END_TEST

START_TEST(test_err_from_reply_reads_only_len_bytes) {
    ck_assert_int_eq(err_from_reply("NOT_FOUNDX", 9), MIG_ENOT_FOUND);
    ck_assert_int_eq(err_from_reply("COOLDOWN 30s left", 4), MIG_EREDIS);
}
END_TEST

START_TEST(test_strerror_and_name_of_unknown_codes) {
    ck_assert_str_eq(mig_strerror(0), "ok");
    ck_assert_str_eq(mig_errname(0), "OK");
    ck_assert_str_eq(mig_strerror(MIG_ENOMEM), "out of memory");
    ck_assert_str_eq(mig_strerror(1), "unknown error");
    ck_assert_str_eq(mig_strerror(-MIG__E_END), "unknown error");
    ck_assert_str_eq(mig_errname(-999), "UNKNOWN");
    ck_assert_str_eq(mig_errname(7), "UNKNOWN");
}
END_TEST

START_TEST(test_error_codes_are_distinct_negatives) {
    ck_assert_int_eq(MIG_OK, 0);
    ck_assert_int_lt(MIG_EINVALID, 0);
    for (int a = -1; a > -MIG__E_END; a--)
        for (int b = a - 1; b > -MIG__E_END; b--) ck_assert_str_ne(mig_errname(a), mig_errname(b));
}
END_TEST

Suite *suite_err(void) {
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_every_error_name_maps_back_to_its_code);
    tcase_add_test(tc, test_illegal_transition_reply_is_eillegal);
    tcase_add_test(tc, test_unknown_reply_is_eredis);
    tcase_add_test(tc, test_err_from_reply_reads_only_len_bytes);
    tcase_add_test(tc, test_strerror_and_name_of_unknown_codes);
    tcase_add_test(tc, test_error_codes_are_distinct_negatives);
    suite_add_tcase(s, tc);
    return s;
}
