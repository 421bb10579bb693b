/* test_query.c - the API's parsers of outside input (api/query.c) on what the fuzzer
 * (tests/fuzz/query.c) found and on the list cursor: each a clear refusal, no crash. */
#include <string.h>

#include "api/query.h"
#include "core/err.h"
#include "core/jsonbody.h"
#include "suites.h"

/* tests/fuzz/query.c, crash 1: a body that is JSON but not an object ("[[]]") reached
 * strcmp with a member name of NULL. The API refuses such bodies first (api/http.c), but
 * the parser must not rely on it. */
START_TEST(test_create_and_start_refuse_a_body_that_is_not_an_object) {
    static const char *const bodies[] = {"[[]]", "[{\"server_id\":\"s1\"}]", "\"s1\"", "3", "null", "[]"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char err[256] = "";
        cJSON *j = jsonbody_parse(bodies[i], strlen(bodies[i]), err, sizeof err);
        ck_assert_ptr_nonnull(j);
        migration_create_t c;
        ck_assert_int_eq(query_parse_create(j, ROLE_OPERATOR, &c, err, sizeof err), MIG_EINVALID);
        ck_assert_str_eq(err, "the body must be a JSON object");
        ck_assert_int_eq(query_parse_create(j, ROLE_OPTIMIZER, &c, err, sizeof err), MIG_EINVALID);
        int64_t nb = 1;
        ck_assert_int_eq(query_parse_start(j, &nb, err, sizeof err), MIG_EINVALID);
        ck_assert_str_eq(err, "the body must be a JSON object");
        cJSON_Delete(j);
    }
}
END_TEST

START_TEST(test_list_query_takes_a_cursor_of_cursor_bytes_only) {
    store_query_t q;
    query_list_buf_t b;
    char err[256];
    ck_assert_int_eq(query_parse_list("status=scheduled&reason=manual&cursor=1700000000000:019ad2b6-7c1e:3", &q, &b,
                                      err, sizeof err),
                     0);
    ck_assert_str_eq(b.cursor, "1700000000000:019ad2b6-7c1e:3");
    ck_assert_int_eq(query_parse_list("limit=5", &q, &b, err, sizeof err), 0);
    ck_assert_str_eq(b.cursor, "");
    static const char *const bad[] = {"cursor=1%20:a:0", "cursor=1:a:0%0a", "cursor=1:%22a:0",
                                      "cursor=1:a:0/../x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(query_parse_list(bad[i], &q, &b, err, sizeof err), MIG_EINVALID);
        ck_assert_msg(strncmp(err, "cursor: ", 8) == 0, "%s: %s", bad[i], err);
    }
    char longer[200] = "cursor=";
    memset(longer + 7, '1', 120);
    ck_assert_int_eq(query_parse_list(longer, &q, &b, err, sizeof err), MIG_EINVALID);
}
END_TEST

Suite *suite_query(void) {
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("query");
    tcase_add_test(tc, test_create_and_start_refuse_a_body_that_is_not_an_object);
    tcase_add_test(tc, test_list_query_takes_a_cursor_of_cursor_bytes_only);
    suite_add_tcase(s, tc);
    return s;
}
