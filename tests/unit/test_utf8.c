/* test_utf8.c - core/utf8.c: what is valid UTF-8, where text may be cut, and how what is
 * not valid is repaired. */
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "suites.h"

#define LEN(s) (sizeof(s) - 1)

START_TEST(test_valid_text_of_every_length_passes_whole) {
    const char *ok[] = {"", "plain ascii", "Node-\xc3\xa9", "\xe2\x82\xac 12", "\xf0\x9f\x9a\x80 rocket",
                        "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbd"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_uint_eq(utf8_valid_prefix(ok[i], strlen(ok[i])), strlen(ok[i]));
}
END_TEST

START_TEST(test_invalid_bytes_are_found_at_their_offset) {
    struct {
        const char *s;
        size_t len, at;
    } bad[] = {
        {"Node-\xff", LEN("Node-\xff"), 5},         /* never in UTF-8 */
        {"a\x80", LEN("a\x80"), 1},                 /* a continuation without a start */
        {"\xc0\xaf", LEN("\xc0\xaf"), 0},           /* overlong '/' */
        {"\xe0\x80\xaf", LEN("\xe0\x80\xaf"), 0},   /* overlong, three bytes */
        {"\xed\xa0\x80", LEN("\xed\xa0\x80"), 0},   /* a UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 4, 0},                 /* past U+10FFFF */
        {"ab\xe2\x82", LEN("ab\xe2\x82"), 2},       /* cut short at the end */
        {"\xc3(", LEN("\xc3("), 0},                 /* cut short by ASCII */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(utf8_valid_prefix(bad[i].s, bad[i].len) == bad[i].at, "case %zu: %zu", i,
                      utf8_valid_prefix(bad[i].s, bad[i].len));
    /* a NUL is a character; the length, not the NUL, ends the text */
    ck_assert_uint_eq(utf8_valid_prefix("a\0\xff", 3), 2);
}
END_TEST

START_TEST(test_cut_never_splits_a_character) {
    const char *s = "ab\xe2\x82\xac"; /* "ab€" */
    ck_assert_uint_eq(utf8_cut(s, 5, 10), 5);
    ck_assert_uint_eq(utf8_cut(s, 5, 5), 5);
    ck_assert_uint_eq(utf8_cut(s, 5, 4), 2);
    ck_assert_uint_eq(utf8_cut(s, 5, 3), 2);
    ck_assert_uint_eq(utf8_cut(s, 5, 2), 2);
    ck_assert_uint_eq(utf8_cut(s, 5, 1), 1);
    /* every cut of a text of mixed widths leaves valid text */
    const char *t = "\xf0\x9f\x9a\x80x\xc3\xa9\xe2\x82\xacy";
    size_t n = strlen(t);
    for (size_t max = 0; max <= n; max++) {
        size_t c = utf8_cut(t, n, max);
        ck_assert_uint_le(c, max);
        ck_assert_uint_eq(utf8_valid_prefix(t, c), c);
    }
}
END_TEST

START_TEST(test_repair_replaces_each_bad_byte_with_u_fffd) {
    const char *s = "Node-\xff\xc3\xa9\x80";
    size_t n = strlen(s), want = utf8_repaired_len(s, n);
    ck_assert_uint_eq(want, 5 + 3 + 2 + 3);
    char *out = malloc(want);
    ck_assert_uint_eq(utf8_repair(s, n, out), want);
    ck_assert_int_eq(memcmp(out, "Node-\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd", want), 0);
    ck_assert_uint_eq(utf8_valid_prefix(out, want), want);
    free(out);
    /* valid text is copied as it is */
    char same[8];
    ck_assert_uint_eq(utf8_repaired_len("\xe2\x82\xac", 3), 3);
    ck_assert_uint_eq(utf8_repair("\xe2\x82\xac", 3, same), 3);
    ck_assert_int_eq(memcmp(same, "\xe2\x82\xac", 3), 0);
}
END_TEST

START_TEST(test_sanitize_drops_a_cut_character_and_marks_bad_bytes) {
    char a[] = "id: \"\xff\" is bad, cut \xe2\x82";
    utf8_sanitize(a);
    ck_assert_str_eq(a, "id: \"?\" is bad, cut ");
    char b[] = "caf\xc3\xa9";
    utf8_sanitize(b);
    ck_assert_str_eq(b, "caf\xc3\xa9");
    char c[] = "x\x80";
    utf8_sanitize(c);
    ck_assert_str_eq(c, "x?");
    char d[] = "\xf0\x9f\x9a";
    utf8_sanitize(d);
    ck_assert_str_eq(d, "");
}
END_TEST

Suite *suite_utf8(void) {
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_valid_text_of_every_length_passes_whole);
    tcase_add_test(tc, test_invalid_bytes_are_found_at_their_offset);
    tcase_add_test(tc, test_cut_never_splits_a_character);
    tcase_add_test(tc, test_repair_replaces_each_bad_byte_with_u_fffd);
    tcase_add_test(tc, test_sanitize_drops_a_cut_character_and_marks_bad_bytes);
    suite_add_tcase(s, tc);
    return s;
}
