/* test_redisurl.c - MIG_REDIS_URL parsed (ACL user, password, db, unix sockets), and the
 * password masked in every message and log line that could carry the URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "redisurl.h"
#include "suites.h"

/* ------------------------------------------------------------------------ parsing */

START_TEST(test_url_with_acl_user_keeps_user_and_password) {
    rconn_addr_t a;
    char err[256] = "";
    ck_assert_int_eq(redisurl_parse("redis://migrate:s3cret@redis-0.redis:6380/2", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.user, "migrate");
    ck_assert_str_eq(a.password, "s3cret");
    ck_assert_str_eq(a.host, "redis-0.redis");
    ck_assert_int_eq(a.port, 6380);
    ck_assert_int_eq(a.db, 2);
}
END_TEST

START_TEST(test_url_without_user_means_the_default_user) {
    rconn_addr_t a;
    char err[256] = "";
    ck_assert_int_eq(redisurl_parse("redis://:pw@127.0.0.1", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.user, "");
    ck_assert_str_eq(a.password, "pw");
    ck_assert_int_eq(a.port, 6379);
    ck_assert_int_eq(redisurl_parse("redis://pw@127.0.0.1:7000", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.user, "");
    ck_assert_str_eq(a.password, "pw");
    ck_assert_int_eq(a.port, 7000);
    /* an @ inside the password: the last one before the host ends the userinfo */
    ck_assert_int_eq(redisurl_parse("redis://u:p@ss@h/1", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.user, "u");
    ck_assert_str_eq(a.password, "p@ss");
    ck_assert_str_eq(a.host, "h");
    ck_assert_int_eq(a.db, 1);
    ck_assert_int_eq(redisurl_parse("unix:///run/redis.sock?db=3", &a, err, sizeof err), 0);
    ck_assert_str_eq(a.path, "/run/redis.sock");
    ck_assert_int_eq(a.db, 3);
}
END_TEST

/* Every refusal names the setting and never shows the password. */
START_TEST(test_bad_url_errors_mask_the_password) {
    static const char *const bad[] = {
        "redis://admin:hunter2@host:99999/0", "redis://:hunter2@host/77", "redis://:hunter2@:6379",
        "redis://hunter2@host:x", "http://:hunter2@host", "redis://admin:@host",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rconn_addr_t a;
        char err[256] = "";
        ck_assert_int_eq(redisurl_parse(bad[i], &a, err, sizeof err), MIG_EINVALID);
        ck_assert_msg(strncmp(err, "MIG_REDIS_URL: ", 15) == 0, "%s", err);
        ck_assert_msg(strstr(err, "hunter2") == NULL, "password shown: %s", err);
        ck_assert_msg(strstr(err, "host") || strstr(err, ":6379") || strstr(err, "admin"), "%s", err);
    }
}
END_TEST

START_TEST(test_mask_keeps_the_user_and_hides_the_password) {
    char out[256];
    ck_assert_str_eq(redisurl_mask("redis://u:pw@h:1/0", out, sizeof out), "redis://u:***@h:1/0");
    ck_assert_str_eq(redisurl_mask("redis://:pw@h", out, sizeof out), "redis://:***@h");
    ck_assert_str_eq(redisurl_mask("redis://pw@h", out, sizeof out), "redis://***@h");
    ck_assert_str_eq(redisurl_mask("redis://h:6379/0", out, sizeof out), "redis://h:6379/0");
    ck_assert_str_eq(redisurl_mask("a redis://x/0 then redis://u:p@w@h and unix:///s", out, sizeof out),
                     "a redis://x/0 then redis://u:***@h and unix:///s");
    ck_assert_str_eq(redisurl_mask("no url", out, sizeof out), "no url");
    ck_assert_int_eq(redisurl_has_secret("redis://h/0 redis://u:p@h"), 1);
    ck_assert_int_eq(redisurl_has_secret("redis://h/0 user@example"), 0);
    /* truncation keeps the output terminated and never lets the secret through */
    char small[12];
    redisurl_mask("redis://:abcdefgh@h", small, sizeof small);
    ck_assert_int_eq(strlen(small), 11);
    ck_assert_ptr_null(strstr(small, "abc"));
}
END_TEST

/* A flag given by mistake as a bare argument is named in the error, masked. */
START_TEST(test_config_error_masks_a_url_argument) {
    const char *url = NULL;
    config_opt_t o[] = {{"MIG_REDIS_URL", NULL, "", &url}};
    char a0[] = "prog", a1[] = "redis://:topsecret@h:6379";
    char *argv[] = {a0, a1, NULL};
    char err[256] = "";
    ck_assert_int_eq(config_load(o, 1, 2, argv, "prog", "", err, sizeof err), MIG_EINVALID);
    ck_assert_ptr_null(strstr(err, "topsecret"));
    ck_assert_ptr_nonnull(strstr(err, "redis://:***@h:6379"));
}
END_TEST

/* A log field that carries a URL (an error text quoting it) is masked on its way out. */
START_TEST(test_log_masks_a_password_in_any_field) {
    char path[] = "/tmp/redisurl-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    int saved = dup(2);
    dup2(fd, 2);
    log_init("test", LOG_DEBUG);
    log_at(LOG_ERROR, "redis.failed", "error", "connect redis://app:topsecret@10.0.0.1:6379/0: refused", NULL);
    dup2(saved, 2);
    close(saved);
    char buf[1024] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(path);
    ck_assert_int_gt(n, 0);
    ck_assert_msg(strstr(buf, "topsecret") == NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "redis://app:***@10.0.0.1:6379/0") != NULL, "%s", buf);
}
END_TEST

Suite *suite_redisurl(void) {
    Suite *s = suite_create("redisurl");
    TCase *tc = tcase_create("redisurl");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_url_with_acl_user_keeps_user_and_password);
    tcase_add_test(tc, test_url_without_user_means_the_default_user);
    tcase_add_test(tc, test_bad_url_errors_mask_the_password);
    tcase_add_test(tc, test_mask_keeps_the_user_and_hides_the_password);
    tcase_add_test(tc, test_config_error_masks_a_url_argument);
    tcase_add_test(tc, test_log_masks_a_password_in_any_field);
    suite_add_tcase(s, tc);
    return s;
}
