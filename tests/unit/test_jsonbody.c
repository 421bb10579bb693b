/* test_jsonbody.c - a request body read as JSON (core/jsonbody.c): the nesting scan that
 * runs before any parser recurses, and the parse that takes one value and nothing after. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonbody.h"
#include "suites.h"

/* The depth of a string literal's bytes, without its NUL. */
static int depth_of(const char *s, int limit) {
    return jsonbody_depth(s, strlen(s), limit);
}

/* `n` copies of `open`, then `n` of `close`, in a buffer of exactly that size (so ASan
 * sees a read past it); caller frees. */
static char *nested(int n, char open, char close) {
    char *s = malloc((size_t)n * 2);
    ck_assert_ptr_nonnull(s);
    memset(s, open, (size_t)n);
    memset(s + n, close, (size_t)n);
    return s;
}

START_TEST(test_depth_counts_nested_arrays_and_objects) {
    ck_assert_int_eq(depth_of("", 32), 0);
    ck_assert_int_eq(depth_of("17", 32), 0);
    ck_assert_int_eq(depth_of("[]", 32), 1);
    ck_assert_int_eq(depth_of("{}", 32), 1);
    ck_assert_int_eq(depth_of("[[]]", 32), 2);
    ck_assert_int_eq(depth_of("[{},[{}],[]]", 32), 3);
    ck_assert_int_eq(depth_of("{\"a\":[1,{\"b\":[]}],\"c\":{}}", 32), 4);
    /* a closer without an opener does not hide the depth that follows it */
    ck_assert_int_eq(depth_of("]]]}[[", 32), 2);
}
END_TEST

START_TEST(test_depth_skips_brackets_inside_strings_and_their_escapes) {
    ck_assert_int_eq(depth_of("\"[[[{{{\"", 32), 0);
    ck_assert_int_eq(depth_of("[\"\\\"[[\"]", 32), 1);      /* ["\"[["]: the escaped quote stays in */
    ck_assert_int_eq(depth_of("[\"\\\\\",[]]", 32), 2);     /* ["\\",[]]: an escaped backslash ends nothing */
    ck_assert_int_eq(depth_of("{\"k]\":\"}\",\"v\":[[\"[\"]]}", 32), 3);
    ck_assert_int_eq(depth_of("[\"[[[", 32), 1);            /* an unterminated string runs to the end */
    /* a backslash as the last byte of a string at the end of the buffer: no read past it */
    char *s = malloc(3);
    memcpy(s, "[\"\\", 3);
    ck_assert_int_eq(jsonbody_depth(s, 3, 32), 1);
    free(s);
}
END_TEST

START_TEST(test_depth_stops_counting_one_past_the_limit) {
    char *s = nested(990, '[', ']');
    ck_assert_int_eq(jsonbody_depth(s, 1980, 32), 33);
    ck_assert_int_eq(jsonbody_depth(s, 1980, 1000), 990);
    ck_assert_int_eq(jsonbody_depth(s, 10, 32), 10); /* only n bytes are read */
    free(s);
    s = nested(32, '{', '}');
    ck_assert_int_eq(jsonbody_depth(s, 64, 32), 32);
    free(s);
}
END_TEST

/* Expects jsonbody_parse to refuse `n` bytes of `s` with a sentence containing `words`. */
static void expect_refused(const char *s, size_t n, const char *words) {
    char why[128] = "";
    cJSON *j = jsonbody_parse(s, n, why, sizeof why);
    ck_assert_msg(j == NULL, "accepted %.*s", (int)(n > 60 ? 60 : n), s);
    ck_assert_msg(strstr(why, words) != NULL, "\"%s\" lacks \"%s\"", why, words);
}

START_TEST(test_parse_refuses_990_nested_arrays_and_takes_32_levels) {
    char *s = nested(990, '[', ']');
    expect_refused(s, 1980, "nested deeper than 32 levels");
    free(s);
    s = nested(33, '[', ']');
    expect_refused(s, 66, "nested deeper than 32 levels");
    free(s);
    /* the bound itself is allowed, objects as arrays */
    char obj[32 * 6 + 1] = "";
    for (int i = 0; i < 31; i++) strcat(obj, "{\"a\":");
    strcat(obj, "{}");
    for (int i = 0; i < 31; i++) strcat(obj, "}");
    char why[128] = "";
    cJSON *j = jsonbody_parse(obj, strlen(obj), why, sizeof why);
    ck_assert_msg(j != NULL, "refused 32 levels: %s", why);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_parse_refuses_bytes_after_the_value) {
    expect_refused("{}x", 3, "after its JSON value (at byte 2)");
    expect_refused("{\"a\":1} {\"a\":2}", 15, "at byte 8");
    expect_refused("1 2", 3, "at byte 2");
    expect_refused("{}\0", 3, "at byte 2"); /* a NUL is no end of the body */
    expect_refused("{}\n\v", 4, "at byte 3");
    const char *ok[] = {"{}", "  {\"a\":[1,2]} \r\n\t", "[]", "\"s\"", "12"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char why[128] = "";
        cJSON *j = jsonbody_parse(ok[i], strlen(ok[i]), why, sizeof why);
        ck_assert_msg(j != NULL, "refused %s: %s", ok[i], why);
        cJSON_Delete(j);
    }
}
END_TEST

START_TEST(test_parse_refuses_malformed_text) {
    expect_refused("", 0, "not valid JSON");
    expect_refused("{not json", 9, "not valid JSON");
    expect_refused("{\"a\":}", 6, "not valid JSON");
    expect_refused("[[[", 3, "not valid JSON");
    /* a body cut inside its length: the bytes past n are not read */
    expect_refused("{\"a\":1}", 6, "not valid JSON");
}
END_TEST

/* A random value nested `left` more levels, with strings full of brackets, quotes and
 * backslashes, so that its printed text has every case the scan must skip. */
static cJSON *random_value(unsigned *seed, int left) {
    static const char *const texts[] = {"[", "]", "{", "}", "\"", "\\", "\\\"[", "a]b", "\\\\", ""};
    if (left == 0) return cJSON_CreateString(texts[rand_r(seed) % 10]);
    cJSON *v = rand_r(seed) % 2 ? cJSON_CreateArray() : cJSON_CreateObject();
    int n = 1 + rand_r(seed) % 3;
    for (int i = 0; i < n; i++) {
        /* one child goes the whole depth, the others at most 2 levels (a value stays small) */
        int depth = i == 0 ? left - 1 : rand_r(seed) % (left < 3 ? left : 3);
        cJSON *child = random_value(seed, depth);
        if (cJSON_IsArray(v)) cJSON_AddItemToArray(v, child);
        else cJSON_AddItemToObject(v, texts[rand_r(seed) % 10], child);
    }
    return v;
}

START_TEST(test_depth_of_printed_values_is_their_nesting_and_parse_agrees) {
    unsigned seed = 20261128;
    for (int round = 0; round < 400; round++) {
        int levels = round % 41; /* 0 to 40: both sides of the bound */
        cJSON *v = random_value(&seed, levels);
        char *text = cJSON_PrintUnformatted(v);
        ck_assert_ptr_nonnull(text);
        size_t n = strlen(text);
        ck_assert_int_eq(jsonbody_depth(text, n, 1000), levels);
        char why[128] = "";
        cJSON *back = jsonbody_parse(text, n, why, sizeof why);
        if (levels <= JSONBODY_DEPTH_MAX) {
            ck_assert_msg(back != NULL, "refused %d levels: %s", levels, why);
            char *again = cJSON_PrintUnformatted(back); /* keys repeat: compare texts */
            ck_assert_str_eq(again, text);
            free(again);
        } else {
            ck_assert_ptr_null(back);
            ck_assert_ptr_nonnull(strstr(why, "nested deeper"));
        }
        cJSON_Delete(back);
        free(text);
        cJSON_Delete(v);
    }
}
END_TEST

Suite *suite_jsonbody(void) {
    Suite *s = suite_create("jsonbody");
    TCase *tc = tcase_create("jsonbody");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_depth_counts_nested_arrays_and_objects);
    tcase_add_test(tc, test_depth_skips_brackets_inside_strings_and_their_escapes);
    tcase_add_test(tc, test_depth_stops_counting_one_past_the_limit);
    tcase_add_test(tc, test_parse_refuses_990_nested_arrays_and_takes_32_levels);
    tcase_add_test(tc, test_parse_refuses_bytes_after_the_value);
    tcase_add_test(tc, test_parse_refuses_malformed_text);
    tcase_add_test(tc, test_depth_of_printed_values_is_their_nesting_and_parse_agrees);
    suite_add_tcase(s, tc);
    return s;
}
