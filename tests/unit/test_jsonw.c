/* test_jsonw.c - the path of the API's list pages: records read from hash pairs in
 * whatever order Redis gives them, and written as JSON text (core/jsonw.c,
 * migration_write_json) byte for byte as cJSON prints the same values, so the pages read
 * exactly as every other answer does. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/jsonw.h"
#include "core/migration.h"
#include "suites.h"

/* cJSON's text of `item` (consumed). */
static char *cjson_text(cJSON *item) {
    ck_assert_ptr_nonnull(item);
    char *t = cJSON_PrintUnformatted(item);
    cJSON_Delete(item);
    ck_assert_ptr_nonnull(t);
    return t;
}

START_TEST(test_numbers_print_as_cjson_prints_them) {
    const double v[] = {0, 1, -1, 0.15, 109.5, 0.1 + 0.2, 1.0 / 3, 1e-7, 12.345, 3.14159, 2750, 1795871531123.0,
                        2147483647.0, 2147483648.0, -2147483648.0, -2147483649.0, 9007199254740993.0, 1e21,
                        1e300, -1e-300, 5e-324, DBL_MAX, 0.30000000000000004, 123456.789e3, NAN, INFINITY,
                        -INFINITY, -0.0};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        jsonw_t w;
        jsonw_init(&w, 0);
        jsonw_num(&w, v[i]);
        char *want = cjson_text(cJSON_CreateNumber(v[i]));
        ck_assert_msg(strcmp(jsonw_text(&w), want) == 0, "%.17g: \"%s\", cJSON \"%s\"", v[i], jsonw_text(&w), want);
        free(want);
        jsonw_free(&w);
    }
}
END_TEST

/* The short paths of jsonw_num (whole numbers, decimals of up to 6 places) against cJSON
 * over many values of every size they take, and just outside it. */
START_TEST(test_whole_numbers_and_short_decimals_print_as_cjson_prints_them) {
    unsigned long long x = 88172645463325252ull; /* xorshift64: the same values each run */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int places = (int)(x % 9), digits = 1 + (int)((x >> 8) % 16);
        double m = (double)((x >> 12) % 10000000000000000ull);
        while (m >= pow(10, digits)) m = floor(m / 10);
        double d = m / pow(10, places) * ((x >> 60) & 1 ? -1 : 1);
        if (i % 4 == 0) d = (double)(x >> 11) * 0x1p-53 * pow(10, (int)(x % 24) - 8); /* any double */
        jsonw_t w;
        jsonw_init(&w, 0);
        jsonw_num(&w, d);
        char *want = cjson_text(cJSON_CreateNumber(d));
        ck_assert_msg(strcmp(jsonw_text(&w), want) == 0, "%.17g: \"%s\", cJSON \"%s\"", d, jsonw_text(&w), want);
        free(want);
        jsonw_free(&w);
    }
}
END_TEST

START_TEST(test_strings_escape_as_cjson_escapes_them) {
    const char *v[] = {"", "plain", "Survival \"Main\"", "back\\slash", "line\nbreak\r\ttab\b\f",
                       "\x01\x02\x1f control", "\x7f del", "Größe €9 ✓", "</script>", "{\"json\":[1]}"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        jsonw_t w;
        jsonw_init(&w, 0);
        jsonw_str(&w, v[i]);
        char *want = cjson_text(cJSON_CreateString(v[i]));
        ck_assert_msg(strcmp(jsonw_text(&w), want) == 0, "\"%s\", cJSON \"%s\"", jsonw_text(&w), want);
        free(want);
        jsonw_free(&w);
    }
}
END_TEST

START_TEST(test_gap_is_kept_in_front_and_text_grows_past_the_first_block) {
    jsonw_t w;
    jsonw_init(&w, 100);
    ck_assert_str_eq(jsonw_text(&w), "");
    for (int i = 0; i < 3000; i++) jsonw_lit(&w, "[1],");
    ck_assert_int_eq(w.len, 12000);
    ck_assert_int_ge(w.cap, 100 + 12000 + 1);
    ck_assert_int_eq(strncmp(jsonw_text(&w), "[1],[1],", 8), 0);
    ck_assert_ptr_eq(jsonw_text(&w), w.buf + 100);
    jsonw_free(&w);
}
END_TEST

/* Record `k` of a varied set: each status, present and absent fields, odd texts. */
static void record(int k, migration_t *m) {
    migration_init(m);
    char id[40];
    snprintf(id, sizeof id, "0195f3a2-7c1e-7d3a-9b2c-4e5f6a7b8c%02d", k % 100);
    m->id = strdup(id);
    m->server_id = strdup("srv-42");
    m->status = (mig_status_t)(k % MIG_STATUS_COUNT);
    m->reason = (mig_reason_t)(k % MIG_REASON_COUNT);
    m->triggered_by = (mig_trigger_t)(k % MIG_TRIGGER_COUNT);
    m->created_at = 1795871531123 + k;
    m->max_retries = 3;
    if (k % 2) {
        m->server_name = strdup("Survival \"Main\" ü");
        m->from_node_id = strdup("node-a");
        m->from_node_name = strdup("Node-A");
        m->to_node_id = strdup("node-b");
        m->to_node_name = strdup("Node-B\t€");
        m->savings_eur_hour = 0.15 * k;
        m->savings_eur_month = 0.15 * k * 730;
        m->approved_at = 1795871532001;
        m->started_at = 1795871534003;
        m->player_count_at_start = k;
        m->data_sync_progress = k % 101;
        m->error_message = strdup("sync: peer closed\nretrying \x01");
        m->retry_count = k % 4;
        m->notes = strdup("night window, \\ backslash");
        m->level = k % 3;
        m->lease_owner = strdup("worker-7:1234");
        m->lease_token = 99;
        m->blocked_reason = strdup("3 players online");
        m->rollback_success = k % 3 == 0;
        m->duration_seconds = 12.345 + k / 7.0;
        m->player_downtime_ms = 2750 + k;
        m->recovering = true;
    } else {
        m->completed_at = 1795871535004;
        m->savings_eur_hour = 0;
        m->progress_message = strdup("Syncing world 63%");
        m->warning = strdup("");
    }
}

START_TEST(test_record_text_is_cjsons_text_of_the_record_for_every_status_and_absence) {
    for (int k = 0; k < 60; k++) {
        migration_t m;
        record(k, &m);
        jsonw_t w;
        jsonw_init(&w, 0);
        ck_assert(migration_write_json(&m, &w));
        char *want = cjson_text(migration_to_json(&m));
        ck_assert_msg(strcmp(jsonw_text(&w), want) == 0, "record %d:\n%s\ncJSON:\n%s", k, jsonw_text(&w), want);
        /* and straight from the hash form, as a list page writes it */
        char **pairs;
        int n = migration_to_pairs(&m, &pairs);
        ck_assert_int_gt(n, 0);
        jsonw_t wp;
        jsonw_init(&wp, 0);
        ck_assert_int_eq(migration_write_json_pairs((const char *const *)pairs, (size_t)n, &wp), 0);
        ck_assert_msg(strcmp(jsonw_text(&wp), want) == 0, "record %d from pairs:\n%s\ncJSON:\n%s", k,
                      jsonw_text(&wp), want);
        jsonw_free(&wp);
        free(pairs);
        free(want);
        jsonw_free(&w);
        migration_clear(&m);
    }
}
END_TEST

/* migration_from_pairs finds each name through a hash table of the field names: pairs
 * in the table's order, reversed, or shuffled give the same record, and an unknown name
 * is skipped wherever it stands. */
/* A value that does not parse fails the record's text, as it fails migration_from_pairs. */
START_TEST(test_record_text_from_pairs_refuses_a_bad_value) {
    const char *bad[] = {"id", "m1", "status", "paused"};
    const char *num[] = {"id", "m1", "retry_count", "two"};
    jsonw_t w;
    jsonw_init(&w, 0);
    ck_assert_int_eq(migration_write_json_pairs(bad, 2, &w), MIG_EINVALID);
    ck_assert_int_eq(migration_write_json_pairs(num, 2, &w), MIG_EINVALID);
    jsonw_free(&w);
}
END_TEST

START_TEST(test_pairs_in_any_order_give_the_same_record) {
    migration_t m;
    record(7, &m);
    char **pairs;
    int n = migration_to_pairs(&m, &pairs);
    ck_assert_int_gt(n, 10);
    ck_assert_int_ne(n % 7, 0); /* so that i * 7 % n below visits every pair once */
    char *want = cjson_text(migration_to_json(&m));
    const char **order = malloc((size_t)(2 * n + 2) * sizeof *order);
    ck_assert_ptr_nonnull(order);
    for (int variant = 0; variant < 3; variant++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            int j = variant == 0 ? i : variant == 1 ? n - 1 - i : (i * 7) % n;
            order[k++] = pairs[2 * j];
            order[k++] = pairs[2 * j + 1];
            if (i == n / 2) {
                order[k++] = "no_such_field";
                order[k++] = "x";
            }
        }
        migration_t back;
        migration_init(&back);
        ck_assert_int_eq(migration_from_pairs(&back, order, (size_t)(k / 2)), 0);
        back.lease_token = m.lease_token;
        char *got = cjson_text(migration_to_json(&back));
        ck_assert_msg(strcmp(got, want) == 0, "variant %d:\n%s\nwant:\n%s", variant, got, want);
        free(got);
        migration_clear(&back);
    }
    free(order);
    free(want);
    free(pairs);
    migration_clear(&m);
}
END_TEST

Suite *suite_jsonw(void) {
    Suite *s = suite_create("jsonw");
    TCase *tc = tcase_create("jsonw");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_numbers_print_as_cjson_prints_them);
    tcase_add_test(tc, test_whole_numbers_and_short_decimals_print_as_cjson_prints_them);
    tcase_add_test(tc, test_strings_escape_as_cjson_escapes_them);
    tcase_add_test(tc, test_gap_is_kept_in_front_and_text_grows_past_the_first_block);
    tcase_add_test(tc, test_record_text_is_cjsons_text_of_the_record_for_every_status_and_absence);
    tcase_add_test(tc, test_pairs_in_any_order_give_the_same_record);
    tcase_add_test(tc, test_record_text_from_pairs_refuses_a_bad_value);
    suite_add_tcase(s, tc);
    return s;
}
