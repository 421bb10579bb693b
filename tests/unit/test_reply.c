/* test_reply.c - outside input the worker meets: a node's address (host[:port] and
 * nothing else) and an agent's answers (an error code that is a short word, clean text,
 * numbers kept in range), each built by hand. */
#include <string.h>

#include "core/err.h"
#include "core/inventory.h"
#include "suites.h"
#include "worker/reply.h"

START_TEST(test_addresses_that_name_a_host_are_accepted) {
    static const char *const ok[] = {"127.0.0.1", "10.0.3.7:7070", "node-7.fleet.example", "a", "n1:1",
                                     "[::1]", "[fe80::1:2]:65535", "[::ffff:10.0.0.1]:7070", "x.y-z.example:80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_msg(inventory_address_check(ok[i], NULL, 0) == 0, "refused %s", ok[i]);
}
END_TEST

/* The probe of issue 12 and its kin: every way to smuggle a path, query, user or scheme. */
START_TEST(test_addresses_with_path_query_user_or_scheme_are_refused) {
    static const char *const bad[] = {
        "127.0.0.1:18999/internal/admin?x=", "127.0.0.1/x", "127.0.0.1?x", "127.0.0.1#x", "user@127.0.0.1",
        "http://127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:80:80", "::1", "[::1",
        "[::1]x", "[zz::1]", "[1]", "", " 127.0.0.1", "127.0.0.1 ", "a..b", ".a", "a.", "-a", "a-", "a_b",
        "127.0.0.1%2f", "h\r\nX-Injected: 1", "127.0.0.1:7070\\@evil",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[200] = "";
        ck_assert_msg(inventory_address_check(bad[i], why, sizeof why) == MIG_EINVALID, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strncmp(why, "address: ", 9) == 0 && strstr(why, "host[:port]"), "%s", why);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(inventory_address_check(longname, NULL, 0), MIG_EINVALID);
}
END_TEST

START_TEST(test_error_code_is_kept_only_when_it_is_a_short_word) {
    char code[REPLY_CODE_MAX + 1];
    const char *ok = "{\"error\":{\"code\":\"disk_full\",\"message\":\"secret internal detail\"}}";
    ck_assert(reply_error_code(ok, strlen(ok), code, sizeof code));
    ck_assert_str_eq(code, "disk_full");
    static const char *const bad[] = {
        "<html>admin panel: password=hunter2</html>",
        "{\"error\":{\"code\":\"has space\"}}",
        "{\"error\":{\"code\":\"\"}}",
        "{\"error\":{\"code\":7}}",
        "{\"error\":\"disk_full\"}",
        "{\"error\":{\"code\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}", /* 33 bytes */
        "{\"error\":{\"code\":\"ok\"}} trailing",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!reply_error_code(bad[i], strlen(bad[i]), code, sizeof code), "kept %s", bad[i]);
        ck_assert_str_eq(code, "");
    }
    ck_assert(!reply_error_code(NULL, 0, code, sizeof code));
}
END_TEST

START_TEST(test_agent_text_is_cleaned_and_cut) {
    char out[REPLY_TEXT_MAX + 1], big[400];
    ck_assert_str_eq(reply_clean_text("disk \x1b[31mfull\n\xff", out, sizeof out), "disk ?[31mfull??");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(strlen(reply_clean_text(big, out, sizeof out)), REPLY_TEXT_MAX);
}
END_TEST

START_TEST(test_answers_with_wrong_types_keep_the_defaults) {
    const char *t = "{\"state\":7,\"healthy\":\"yes\",\"players\":1e300,\"address\":[1],"
                    "\"progress\":-5,\"bytes_total\":\"9\",\"done\":1,\"error\":{}}";
    cJSON *j = reply_parse(t, strlen(t));
    ck_assert_ptr_nonnull(j);
    driver_container_t c;
    reply_container(j, &c);
    ck_assert_str_eq(c.state, "absent");
    ck_assert(!c.healthy);
    ck_assert_int_eq(c.players, -1);
    ck_assert_str_eq(c.address, "");
    driver_sync_t s;
    reply_sync(j, &s);
    ck_assert_int_eq(s.progress, 0);
    ck_assert_int_eq(s.bytes_total, 0);
    ck_assert(!s.done);
    ck_assert_str_eq(s.error, "");
    cJSON_Delete(j);
    const char *u = "{\"progress\":100,\"done\":true,\"error\":\"disk full\",\"bytes_total\":5}";
    j = reply_parse(u, strlen(u));
    reply_sync(j, &s);
    ck_assert_int_eq(s.progress, 100);
    ck_assert(s.done);
    ck_assert_str_eq(s.error, "disk full");
    ck_assert_int_eq(s.bytes_total, 5);
    cJSON_Delete(j);
    reply_sync(NULL, &s);
    ck_assert_int_eq(s.progress, 0);
    bool h = true;
    long long ram = 0, disk = 0;
    reply_health(NULL, &h, &ram, &disk);
    ck_assert(!h);
    ck_assert_int_eq(ram, -1);
}
END_TEST

Suite *suite_reply(void) {
    Suite *s = suite_create("reply");
    TCase *tc = tcase_create("reply");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_addresses_that_name_a_host_are_accepted);
    tcase_add_test(tc, test_addresses_with_path_query_user_or_scheme_are_refused);
    tcase_add_test(tc, test_error_code_is_kept_only_when_it_is_a_short_word);
    tcase_add_test(tc, test_agent_text_is_cleaned_and_cut);
    tcase_add_test(tc, test_answers_with_wrong_types_keep_the_defaults);
    suite_add_tcase(s, tc);
    return s;
}
