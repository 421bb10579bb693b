/* test_states.c - the transition table, status names and the rendered Lua prelude. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "states.h"
#include "suites.h"

#define S_COUNT MIG_STATUS_COUNT

/* The seed's diagram written out by hand, independent of states.c, plus the retry edges
 * preparing|transferring -> scheduled. */
static bool expected_edge(mig_status_t f, mig_status_t t) {
    switch (f) {
    case MIG_SUGGESTED: return t == MIG_APPROVED || t == MIG_SCHEDULED || t == MIG_CANCELLED;
    case MIG_APPROVED: return t == MIG_SCHEDULED || t == MIG_CANCELLED;
    case MIG_SCHEDULED: return t == MIG_PREPARING || t == MIG_CANCELLED;
    case MIG_PREPARING: return t == MIG_TRANSFERRING || t == MIG_FAILED || t == MIG_SCHEDULED;
    case MIG_TRANSFERRING: return t == MIG_COMPLETING || t == MIG_FAILED || t == MIG_SCHEDULED;
    case MIG_COMPLETING: return t == MIG_COMPLETED;
    default: return false;
    }
}

START_TEST(test_transition_table_allows_only_seed_edges) {
    int allowed = 0;
    for (int f = 0; f < S_COUNT; f++)
        for (int t = 0; t < S_COUNT; t++) {
            bool got = states_allowed((mig_status_t)f, (mig_status_t)t);
            ck_assert_msg(got == expected_edge((mig_status_t)f, (mig_status_t)t), "%s -> %s: got %d",
                          states_name((mig_status_t)f), states_name((mig_status_t)t), got);
            allowed += got;
        }
    ck_assert_int_eq(allowed, 14);
}
END_TEST

START_TEST(test_transition_table_refuses_out_of_range_statuses) {
    ck_assert(!states_allowed(MIG_STATUS_COUNT, MIG_APPROVED));
    ck_assert(!states_allowed(MIG_SUGGESTED, MIG_STATUS_COUNT));
    ck_assert(!states_allowed((mig_status_t)-1, MIG_APPROVED));
}
END_TEST

START_TEST(test_terminal_statuses_have_no_way_out) {
    for (int f = 0; f < S_COUNT; f++) {
        bool terminal = f == MIG_COMPLETED || f == MIG_CANCELLED || f == MIG_FAILED;
        ck_assert_int_eq(states_terminal((mig_status_t)f), terminal);
        if (!terminal) continue;
        for (int t = 0; t < S_COUNT; t++) ck_assert(!states_allowed((mig_status_t)f, (mig_status_t)t));
    }
}
END_TEST

START_TEST(test_in_flight_is_preparing_transferring_completing) {
    for (int s = 0; s < S_COUNT; s++) {
        bool flying = s == MIG_PREPARING || s == MIG_TRANSFERRING || s == MIG_COMPLETING;
        ck_assert_int_eq(states_in_flight((mig_status_t)s), flying);
    }
}
END_TEST

START_TEST(test_status_names_parse_back_to_their_status) {
    static const char *const wire[S_COUNT] = {"suggested", "approved",  "scheduled", "preparing", "transferring",
                                              "completing", "completed", "cancelled", "failed"};
    for (int s = 0; s < S_COUNT; s++) {
        ck_assert_str_eq(states_name((mig_status_t)s), wire[s]);
        ck_assert_int_eq(states_parse(wire[s], strlen(wire[s])), s);
    }
    ck_assert_ptr_null(states_name(MIG_STATUS_COUNT));
    ck_assert_int_eq(states_parse("running", 7), -1);
    ck_assert_int_eq(states_parse("", 0), -1);
    ck_assert_int_eq(states_parse("Approved", 8), -1);
}
END_TEST

START_TEST(test_status_parse_reads_only_len_bytes) {
    ck_assert_int_eq(states_parse("approvedXYZ", 8), MIG_APPROVED);
    ck_assert_int_eq(states_parse("approved", 7), -1);
}
END_TEST

/* The body of `local EDGES`' entry for `from`, as a new string. */
static char *edges_line(const char *lua, const char *from) {
    char head[64];
    snprintf(head, sizeof head, "\n  %s = {", from);
    const char *p = strstr(lua, head);
    ck_assert_msg(p != NULL, "no EDGES entry for %s", from);
    p += strlen(head) - 1; /* keep the brace: every entry then follows "{" or " " */
    const char *e = strstr(p, "},\n");
    ck_assert_ptr_nonnull(e);
    return strndup(p, (size_t)(e - p));
}

START_TEST(test_render_lua_lists_exactly_the_table_edges) {
    size_t n = states_render_lua(NULL, 0);
    char *lua = malloc(n + 1);
    ck_assert_ptr_nonnull(lua);
    ck_assert_uint_eq(states_render_lua(lua, n + 1), n);
    ck_assert_ptr_nonnull(strstr(lua, "local EDGES = {\n"));
    for (int f = 0; f < S_COUNT; f++) {
        char *line = edges_line(lua, states_name((mig_status_t)f));
        for (int t = 0; t < S_COUNT; t++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "{%s = true", states_name((mig_status_t)t));
            snprintf(b, sizeof b, " %s = true", states_name((mig_status_t)t));
            bool listed = strstr(line, a) != NULL || strstr(line, b) != NULL;
            ck_assert_msg(listed == states_allowed((mig_status_t)f, (mig_status_t)t), "%s -> %s in %s",
                          states_name((mig_status_t)f), states_name((mig_status_t)t), line);
        }
        free(line);
    }
    free(lua);
}
END_TEST

START_TEST(test_render_lua_defines_status_sets) {
    char lua[4096];
    ck_assert_uint_lt(states_render_lua(lua, sizeof lua), sizeof lua);
    ck_assert_ptr_nonnull(strstr(lua, "local STATUSES = {suggested = true, "));
    ck_assert_ptr_nonnull(strstr(lua, "local TERMINAL = {completed = true, cancelled = true, failed = true, }\n"));
    ck_assert_ptr_nonnull(
        strstr(lua, "local IN_FLIGHT = {preparing = true, transferring = true, completing = true, }\n"));
}
END_TEST

START_TEST(test_render_lua_size_query_matches_output) {
    size_t n = states_render_lua(NULL, 0);
    ck_assert_uint_gt(n, 100);
    char *full = malloc(n + 1);
    ck_assert_ptr_nonnull(full);
    ck_assert_uint_eq(states_render_lua(full, n + 1), n);
    ck_assert_uint_eq(strlen(full), n);

    /* too small: the same size is answered, and what fits is a NUL-terminated prefix */
    char small[16];
    ck_assert_uint_eq(states_render_lua(small, sizeof small), n);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(memcmp(small, full, sizeof small - 1), 0);
    free(full);
}
END_TEST

Suite *suite_states(void) {
    Suite *s = suite_create("states");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_transition_table_allows_only_seed_edges);
    tcase_add_test(tc, test_transition_table_refuses_out_of_range_statuses);
    tcase_add_test(tc, test_terminal_statuses_have_no_way_out);
    tcase_add_test(tc, test_in_flight_is_preparing_transferring_completing);
    tcase_add_test(tc, test_status_names_parse_back_to_their_status);
    tcase_add_test(tc, test_status_parse_reads_only_len_bytes);
    tcase_add_test(tc, test_render_lua_lists_exactly_the_table_edges);
    tcase_add_test(tc, test_render_lua_defines_status_sets);
    tcase_add_test(tc, test_render_lua_size_query_matches_output);
    suite_add_tcase(s, tc);
    return s;
}
