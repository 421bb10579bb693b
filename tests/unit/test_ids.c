/* test_ids.c - UUIDv7 ids: layout, time order, randomness. */
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "suites.h"

static void make(char out[IDS_UUID_LEN + 1], int64_t ms) {
    ck_assert_int_eq(ids_uuid7(out, ms), 0);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

START_TEST(test_uuid7_text_form_has_version_7_and_variant_10) {
    char id[IDS_UUID_LEN + 1];
    for (int i = 0; i < 200; i++) {
        make(id, 1795871531123 + i);
        ck_assert_uint_eq(strlen(id), IDS_UUID_LEN);
        for (int k = 0; k < IDS_UUID_LEN; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23) {
                ck_assert_int_eq(id[k], '-');
                continue;
            }
            ck_assert_msg(strchr("0123456789abcdef", id[k]) != NULL && id[k] != '\0', "%s", id);
        }
        ck_assert_int_eq(id[14], '7');
        ck_assert_msg(strchr("89ab", id[19]) != NULL, "variant of %s", id);
    }
}
END_TEST

START_TEST(test_uuid7_encodes_ms_in_first_48_bits) {
    char id[IDS_UUID_LEN + 1];
    make(id, 0x0123456789abLL);
    ck_assert_int_eq(strncmp(id, "01234567-89ab-7", 15), 0);
    make(id, 0);
    ck_assert_int_eq(strncmp(id, "00000000-0000-7", 15), 0);
    make(id, -5); /* before 1970: taken as 0 */
    ck_assert_int_eq(strncmp(id, "00000000-0000-7", 15), 0);
}
END_TEST

START_TEST(test_uuid7_sorts_by_time_and_has_version_7) {
    static const int64_t times[] = {0, 1, 999, 1000, 1764335531123, 1764335531124, 1795871531123, 0xffffffffffffLL};
    char prev[IDS_UUID_LEN + 1], cur[IDS_UUID_LEN + 1];
    make(prev, times[0]);
    for (size_t i = 1; i < sizeof times / sizeof times[0]; i++) {
        make(cur, times[i]);
        ck_assert_msg(strcmp(prev, cur) < 0, "%s !< %s", prev, cur);
        ck_assert_int_eq(cur[14], '7');
        memcpy(prev, cur, sizeof cur);
    }
}
END_TEST

START_TEST(test_uuid7_ids_of_one_ms_differ) {
    enum { N = 2000 };
    char (*ids)[IDS_UUID_LEN + 1] = calloc(N, sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    for (int i = 0; i < N; i++) make(ids[i], 1795871531123);
    qsort(ids, N, sizeof *ids, cmp_str);
    for (int i = 1; i < N; i++) ck_assert_str_ne(ids[i - 1], ids[i]);
    free(ids);
}
END_TEST

Suite *suite_ids(void) {
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("uuid7");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_uuid7_text_form_has_version_7_and_variant_10);
    tcase_add_test(tc, test_uuid7_encodes_ms_in_first_48_bits);
    tcase_add_test(tc, test_uuid7_sorts_by_time_and_has_version_7);
    tcase_add_test(tc, test_uuid7_ids_of_one_ms_differ);
    suite_add_tcase(s, tc);
    return s;
}
