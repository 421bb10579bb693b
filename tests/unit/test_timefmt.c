/* test_timefmt.c - RFC 3339 text of Unix ms times, both ways, and the clocks. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "suites.h"
#include "timefmt.h"

static void assert_text(int64_t ms, const char *want) {
    char buf[TIMEFMT_RFC3339_LEN + 1];
    timefmt_rfc3339(ms, buf);
    ck_assert_str_eq(buf, want);
}

static int64_t parsed(const char *s) {
    int64_t ms = 42;
    ck_assert_msg(timefmt_parse_rfc3339(s, &ms) == 0, "refused %s", s);
    return ms;
}

START_TEST(test_rfc3339_of_zero_is_epoch) {
    assert_text(0, "1970-01-01T00:00:00.000Z");
}
END_TEST

/* Expected values computed independently (Python's datetime from the epoch). */
START_TEST(test_rfc3339_known_values) {
    assert_text(1795871531123, "2026-11-28T13:12:11.123Z");
    assert_text(1764335531123, "2025-11-28T13:12:11.123Z");
    assert_text(951782400000, "2000-02-29T00:00:00.000Z");
    assert_text(-1, "1969-12-31T23:59:59.999Z");
    assert_text(-62167219200000, "0000-01-01T00:00:00.000Z");
    assert_text(253402300799999, "9999-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(test_rfc3339_clamps_outside_four_digit_years) {
    assert_text(INT64_MAX, "9999-12-31T23:59:59.999Z");
    assert_text(INT64_MIN, "0000-01-01T00:00:00.000Z");
}
END_TEST

START_TEST(test_rfc3339_parse_round_trip) {
    char buf[TIMEFMT_RFC3339_LEN + 1];
    /* a stride that is prime to days and seconds walks every month, leap years and ms */
    for (int64_t ms = -5000000000000; ms < 5000000000000; ms += 7919993117) {
        timefmt_rfc3339(ms, buf);
        ck_assert_msg(parsed(buf) == ms, "%s", buf);
    }
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.123Z"), 1795871531123);
}
END_TEST

START_TEST(test_parse_applies_offsets) {
    int64_t z = parsed("2026-11-28T13:12:11.123Z");
    ck_assert_int_eq(parsed("2026-11-28T14:12:11.123+01:00"), z);
    ck_assert_int_eq(parsed("2026-11-28T07:42:11.123-05:30"), z);
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.123+00:00"), z);
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.123-00:00"), z);
    ck_assert_int_eq(parsed("2026-11-29T00:12:11.123+11:00"), z);
    ck_assert_int_eq(parsed("2026-11-28t13:12:11.123z"), z);
}
END_TEST

START_TEST(test_parse_fraction_of_zero_to_nine_digits) {
    int64_t base = parsed("2026-11-28T13:12:11Z");
    ck_assert_int_eq(base, 1795871531000);
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.5Z"), base + 500);
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.12Z"), base + 120);
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.123456789Z"), base + 123);
    ck_assert_int_eq(parsed("2026-11-28T13:12:11.999999999Z"), base + 999);
}
END_TEST

START_TEST(test_parse_rejects_garbage_and_out_of_range_fields) {
    static const char *const bad[] = {
        "", "2026", "2026-11-28", "2026-11-28T13:12:11", "2026-11-28T13:12:11.Z",
        "2026-11-28T13:12:11.1234567890Z", "2026-11-28 13:12:11Z", " 2026-11-28T13:12:11Z",
        "2026-11-28T13:12:11Z ", "2026-11-28T13:12:11ZZ", "2026-1-28T13:12:11Z", "2026-11-28T13:12Z",
        "abcd-11-28T13:12:11Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-28T24:00:00Z",
        "2026-11-28T23:60:00Z", "2026-11-28T23:59:60Z", "2026-11-28T13:12:11+24:00",
        "2026-11-28T13:12:11+01:60", "2026-11-28T13:12:11+0100", "2026-11-28T13:12:11+01",
        "2026-11-28T13:12:11.12a3Z", "-026-11-28T13:12:11Z", "2026-11-28T13:12:11.-1Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        ck_assert_msg(timefmt_parse_rfc3339(bad[i], &ms) == MIG_EINVALID, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(ms, 42);
    }
    int64_t ms = 42;
    ck_assert_int_eq(timefmt_parse_rfc3339(NULL, &ms), MIG_EINVALID);
}
END_TEST

START_TEST(test_parse_accepts_leap_days_of_leap_years) {
    ck_assert_int_eq(parsed("2000-02-29T00:00:00Z"), 951782400000);
    parsed("2024-02-29T23:59:59.999Z");
    parsed("2026-12-31T23:59:59Z");
}
END_TEST

START_TEST(test_clocks_advance) {
    int64_t now = timefmt_now_ms();
    ck_assert_int_gt(now, 1700000000000); /* after 2023: the clock is set */
    int64_t m0 = timefmt_mono_ms();
    timefmt_sleep_ms(5);
    int64_t m1 = timefmt_mono_ms();
    ck_assert_int_ge(m1 - m0, 4);
    ck_assert_int_ge(timefmt_now_ms(), now);
}
END_TEST

Suite *suite_timefmt(void) {
    Suite *s = suite_create("timefmt");
    TCase *tc = tcase_create("rfc3339");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_rfc3339_of_zero_is_epoch);
    tcase_add_test(tc, test_rfc3339_known_values);
    tcase_add_test(tc, test_rfc3339_clamps_outside_four_digit_years);
    tcase_add_test(tc, test_rfc3339_parse_round_trip);
    tcase_add_test(tc, test_parse_applies_offsets);
    tcase_add_test(tc, test_parse_fraction_of_zero_to_nine_digits);
    tcase_add_test(tc, test_parse_rejects_garbage_and_out_of_range_fields);
    tcase_add_test(tc, test_parse_accepts_leap_days_of_leap_years);
    tcase_add_test(tc, test_clocks_advance);
    suite_add_tcase(s, tc);
    return s;
}
