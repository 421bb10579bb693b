/* test_log.c - JSON log lines, captured from fd 2 through a pipe and read back by cJSON. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "suites.h"
#include "timefmt.h"

/* fd 2 is sent into a pipe while a test logs; lines stay far below the pipe's 64 KiB, so
 * nothing blocks before the test reads them back. */
typedef struct {
    int saved; /* the real stderr */
    int rd;    /* the pipe's read end */
} capture_t;

static void capture_start(capture_t *c) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    c->saved = dup(STDERR_FILENO);
    ck_assert_int_ge(c->saved, 0);
    ck_assert_int_ge(dup2(p[1], STDERR_FILENO), 0);
    close(p[1]);
    c->rd = p[0];
}

/* Restores stderr, which closes the pipe's last write end, and returns all that was
 * written, NUL-terminated; the caller frees it. */
static char *capture_end(capture_t *c) {
    ck_assert_int_ge(dup2(c->saved, STDERR_FILENO), 0);
    close(c->saved);
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t r = read(c->rd, buf + n, cap - n - 1);
        ck_assert_int_ge(r, 0);
        if (r == 0) break;
        n += (size_t)r;
    }
    close(c->rd);
    buf[n] = '\0';
    return buf;
}

/* Parses `text` as exactly one JSON line: one newline, at the end. */
static cJSON *one_line(const char *text) {
    size_t n = strlen(text);
    ck_assert_uint_gt(n, 1);
    ck_assert_int_eq(text[n - 1], '\n');
    ck_assert_ptr_eq(strchr(text, '\n'), text + n - 1);
    cJSON *j = cJSON_ParseWithLength(text, n - 1);
    ck_assert_msg(j != NULL, "not JSON: %.300s", text);
    ck_assert(cJSON_IsObject(j));
    return j;
}

static const char *str_of(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", key);
    return v->valuestring;
}

START_TEST(test_log_line_has_ts_level_program_event_and_fields) {
    log_init("migrate-test", LOG_DEBUG);
    capture_t c;
    capture_start(&c);
    int64_t before = timefmt_now_ms();
    log_at(LOG_INFO, "migration.created", "migration_id", "m-1", "server_id", "s-9", NULL);
    int64_t after = timefmt_now_ms();
    char *text = capture_end(&c);

    ck_assert_int_eq(strncmp(text, "{\"ts\":\"", 7), 0); /* time first, for eyes and sort */
    cJSON *j = one_line(text);
    ck_assert_int_eq(cJSON_GetArraySize(j), 6);
    ck_assert_str_eq(str_of(j, "level"), "info");
    ck_assert_str_eq(str_of(j, "program"), "migrate-test");
    ck_assert_str_eq(str_of(j, "event"), "migration.created");
    ck_assert_str_eq(str_of(j, "migration_id"), "m-1");
    ck_assert_str_eq(str_of(j, "server_id"), "s-9");
    int64_t ts;
    ck_assert_int_eq(timefmt_parse_rfc3339(str_of(j, "ts"), &ts), 0);
    ck_assert_int_ge(ts, before);
    ck_assert_int_le(ts, after);
    cJSON_Delete(j);
    free(text);
}
END_TEST

START_TEST(test_log_level_names_on_each_line) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    log_init("t", LOG_DEBUG);
    for (int l = LOG_DEBUG; l <= LOG_ERROR; l++) {
        capture_t c;
        capture_start(&c);
        log_at((log_level_t)l, "e", NULL);
        char *text = capture_end(&c);
        cJSON *j = one_line(text);
        ck_assert_str_eq(str_of(j, "level"), names[l]);
        cJSON_Delete(j);
        free(text);
    }
}
END_TEST

START_TEST(test_log_escapes_quotes_backslashes_and_control_chars) {
    static const char nasty[] = "say \"hi\" \\ path\nline2\ttab\x01\x1f end";
    log_init("t", LOG_DEBUG);
    capture_t c;
    capture_start(&c);
    log_at(LOG_WARN, "ev\"ent", "error", nasty, "k\\ey", "v", NULL);
    char *text = capture_end(&c);
    ck_assert_ptr_nonnull(strstr(text, "\\u000a"));
    ck_assert_ptr_nonnull(strstr(text, "\\u0001"));
    ck_assert_ptr_nonnull(strstr(text, "\\u001f"));
    ck_assert_ptr_nonnull(strstr(text, "\\\"hi\\\""));
    cJSON *j = one_line(text);
    ck_assert_str_eq(str_of(j, "error"), nasty);
    ck_assert_str_eq(str_of(j, "event"), "ev\"ent");
    ck_assert_str_eq(str_of(j, "k\\ey"), "v");
    cJSON_Delete(j);
    free(text);
}
END_TEST

START_TEST(test_log_null_value_prints_null) {
    log_init("t", LOG_DEBUG);
    capture_t c;
    capture_start(&c);
    log_at(LOG_ERROR, "e", "error", (const char *)NULL, "after", "x", NULL);
    char *text = capture_end(&c);
    cJSON *j = one_line(text);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "error")));
    ck_assert_str_eq(str_of(j, "after"), "x");
    cJSON_Delete(j);
    free(text);
}
END_TEST

START_TEST(test_log_invalid_utf8_becomes_replacement_char) {
    log_init("t", LOG_DEBUG);
    capture_t c;
    capture_start(&c);
    /* valid two- and four-byte sequences, a stray continuation, an overlong, a surrogate,
     * a truncated sequence at the end */
    log_at(LOG_INFO, "e", "ok", "Zo\xc3\xab \xf0\x9f\x98\x80", "bad", "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82", NULL);
    char *text = capture_end(&c);
    cJSON *j = one_line(text);
    ck_assert_str_eq(str_of(j, "ok"), "Zo\xc3\xab \xf0\x9f\x98\x80");
#define R "\xef\xbf\xbd" /* U+FFFD, one for each byte that starts no sequence */
    ck_assert_str_eq(str_of(j, "bad"), "a" R "b" R R "c" R R R "d" R R);
#undef R
    cJSON_Delete(j);
    free(text);
}
END_TEST

START_TEST(test_log_below_min_level_prints_nothing) {
    log_init("t", LOG_WARN);
    ck_assert(!log_enabled(LOG_DEBUG));
    ck_assert(!log_enabled(LOG_INFO));
    ck_assert(log_enabled(LOG_WARN));
    ck_assert(log_enabled(LOG_ERROR));
    capture_t c;
    capture_start(&c);
    log_at(LOG_INFO, "quiet", "k", "v", NULL);
    log_at(LOG_DEBUG, "quiet", NULL);
    char *text = capture_end(&c);
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

START_TEST(test_log_long_line_is_one_complete_line) {
    enum { LEN = 20000 }; /* past the stack buffer: the heap path */
    char *big = malloc(LEN + 1);
    ck_assert_ptr_nonnull(big);
    for (int i = 0; i < LEN; i++) big[i] = (char)('a' + i % 26);
    big[LEN - 1] = '"';
    big[LEN] = '\0';
    log_init("t", LOG_DEBUG);
    capture_t c;
    capture_start(&c);
    log_at(LOG_INFO, "big", "payload", big, NULL);
    char *text = capture_end(&c);
    cJSON *j = one_line(text);
    ck_assert_str_eq(str_of(j, "payload"), big);
    cJSON_Delete(j);
    free(text);
    free(big);
}
END_TEST

START_TEST(test_log_level_parse_knows_the_four_names) {
    ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("info"), LOG_INFO);
    ck_assert_int_eq(log_level_parse("warn"), LOG_WARN);
    ck_assert_int_eq(log_level_parse("error"), LOG_ERROR);
    ck_assert_int_eq(log_level_parse("warning"), -1);
    ck_assert_int_eq(log_level_parse("INFO"), -1);
    ck_assert_int_eq(log_level_parse(""), -1);
    ck_assert_int_eq(log_level_parse(NULL), -1);
}
END_TEST

Suite *suite_log(void) {
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("lines");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_log_line_has_ts_level_program_event_and_fields);
    tcase_add_test(tc, test_log_level_names_on_each_line);
    tcase_add_test(tc, test_log_escapes_quotes_backslashes_and_control_chars);
    tcase_add_test(tc, test_log_null_value_prints_null);
    tcase_add_test(tc, test_log_invalid_utf8_becomes_replacement_char);
    tcase_add_test(tc, test_log_below_min_level_prints_nothing);
    tcase_add_test(tc, test_log_long_line_is_one_complete_line);
    tcase_add_test(tc, test_log_level_parse_knows_the_four_names);
    suite_add_tcase(s, tc);
    return s;
}
