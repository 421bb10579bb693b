/* test_strbuf.c - core/strbuf.c: a growing builder that reports a failed allocation once,
 * at the end, and a fixed one with snprintf's contract. */
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "suites.h"

START_TEST(test_a_growing_builder_appends_bytes_text_and_printf_past_its_first_buffer) {
    strbuf_t b = STRBUF_INIT;
    strbuf_add(&b, "ab\0c", 4); /* bytes, a NUL among them */
    strbuf_puts(&b, "-");
    strbuf_printf(&b, "%d:%s", 42, "x");
    ck_assert_uint_eq(b.n, 9);
    ck_assert_mem_eq(b.s, "ab\0c-42:x", 10); /* and the NUL after them */
    for (int i = 0; i < 1000; i++) strbuf_printf(&b, "%04d", i);
    ck_assert_uint_eq(b.n, 9 + 4000);
    ck_assert(strbuf_whole(&b));
    char *s = strbuf_done(&b);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s + 5), 4 + 4000);
    ck_assert(strncmp(s + 9 + 4 * 999, "0999", 4) == 0);
    ck_assert_ptr_null(b.s); /* handed over: the builder is empty */
    free(s);
}
END_TEST

START_TEST(test_an_empty_growing_builder_gives_an_empty_string_and_free_drops_the_text) {
    strbuf_t b = STRBUF_INIT;
    char *s = strbuf_done(&b);
    ck_assert_str_eq(s, "");
    free(s);
    strbuf_puts(&b, "dropped");
    strbuf_free(&b);
    ck_assert_ptr_null(b.s);
    ck_assert_uint_eq(b.n, 0);
}
END_TEST

START_TEST(test_a_failed_growth_sticks_and_done_answers_null) {
    strbuf_t b = STRBUF_INIT;
    strbuf_puts(&b, "start");
    strbuf_add(&b, "x", (size_t)-1 / 2); /* more than any allocation: refused, not wrapped */
    ck_assert(!strbuf_whole(&b));
    strbuf_puts(&b, "ignored");
    strbuf_printf(&b, "%s", "ignored");
    ck_assert_uint_eq(b.n, 5);
    ck_assert_ptr_null(strbuf_done(&b));
}
END_TEST

START_TEST(test_a_fixed_builder_writes_what_fits_and_counts_all_as_snprintf_does) {
    char buf[8];
    strbuf_t b;
    strbuf_init_fixed(&b, buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    strbuf_puts(&b, "abc");
    strbuf_printf(&b, "%d", 1234);
    ck_assert_str_eq(buf, "abc1234");
    ck_assert(strbuf_whole(&b)); /* 7 bytes and the NUL fill it exactly */
    strbuf_puts(&b, "overflow");
    strbuf_printf(&b, "%s", "more");
    ck_assert_str_eq(buf, "abc1234"); /* the NUL's byte is kept */
    ck_assert_uint_eq(b.n, 7 + 8 + 4);
    ck_assert(!strbuf_whole(&b));
    /* the count is what a second pass needs, NUL aside */
    char *big = malloc(b.n + 1);
    strbuf_t again;
    strbuf_init_fixed(&again, big, b.n + 1);
    strbuf_puts(&again, "abc");
    strbuf_printf(&again, "%d", 1234);
    strbuf_puts(&again, "overflow");
    strbuf_printf(&again, "%s", "more");
    ck_assert(strbuf_whole(&again));
    ck_assert_str_eq(big, "abc1234overflowmore");
    free(big);
    /* a zero-byte buffer only counts */
    strbuf_t none;
    strbuf_init_fixed(&none, NULL, 0);
    strbuf_printf(&none, "%s", "counted");
    strbuf_add(&none, "12", 2);
    ck_assert_uint_eq(none.n, 9);
    strbuf_free(&none);
}
END_TEST

Suite *suite_strbuf(void) {
    Suite *s = suite_create("strbuf");
    TCase *tc = tcase_create("builder");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_a_growing_builder_appends_bytes_text_and_printf_past_its_first_buffer);
    tcase_add_test(tc, test_an_empty_growing_builder_gives_an_empty_string_and_free_drops_the_text);
    tcase_add_test(tc, test_a_failed_growth_sticks_and_done_answers_null);
    tcase_add_test(tc, test_a_fixed_builder_writes_what_fits_and_counts_all_as_snprintf_does);
    suite_add_tcase(s, tc);
    return s;
}
