/* test_migration.c - the migration record: hash pairs, API JSON, create-request checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "migration.h"
#include "suites.h"
#include "timefmt.h"

/* Every field name of the hash, in the order of core/migration.c. */
static const char *const hash_names[] = {
    "id", "server_id", "server_name", "from_node_id", "from_node_name", "to_node_id", "to_node_name", "status",
    "reason", "savings_eur_hour", "savings_eur_month", "created_at", "approved_at", "scheduled_at", "started_at",
    "completed_at", "player_count_at_start", "data_sync_progress", "error_message", "retry_count", "max_retries",
    "triggered_by", "notes", "level", "lease_owner", "lease_token", "lease_expires_at", "not_before",
    "blocked_reason", "phase_step", "warning", "cleanup_node", "progress_message", "rollback_success", "duration_seconds",
    "players_transferred", "player_downtime_ms", "updated_at", "start_now", "recovering",
};
#define NHASH (sizeof hash_names / sizeof hash_names[0])

/* ---- helpers -------------------------------------------------------------------------- */

/* A record with every field present and no two alike, so a field crossed with another
 * shows up in the comparison. */
static void fill_full(migration_t *m) {
    migration_init(m);
    m->id = strdup("0195f3a2-7c1e-7d3a-9b2c-4e5f6a7b8c9d");
    m->server_id = strdup("srv-42");
    m->server_name = strdup("Survival \"Main\"");
    m->from_node_id = strdup("node-a");
    m->from_node_name = strdup("Node-A");
    m->to_node_id = strdup("node-b");
    m->to_node_name = strdup("Node-B ü");
    m->status = MIG_TRANSFERRING;
    m->reason = MIG_REASON_COST;
    m->savings_eur_hour = 0.15;
    m->savings_eur_month = 109.5;
    m->created_at = 1795871531123;
    m->approved_at = 1795871532001;
    m->scheduled_at = 1795871533002;
    m->started_at = 1795871534003;
    m->completed_at = 1795871535004;
    m->player_count_at_start = 17;
    m->data_sync_progress = 63;
    m->error_message = strdup("sync: peer closed\nretrying");
    m->retry_count = 2;
    m->max_retries = 5;
    m->triggered_by = MIG_TRIGGER_SYSTEM;
    m->notes = strdup("night window, \\ backslash");
    m->level = 2;
    m->lease_owner = strdup("worker-7:1234");
    m->lease_token = 18446744073709551615ULL;
    m->lease_expires_at = 1795871536005;
    m->not_before = 1795871537006;
    m->blocked_reason = strdup("3 players online");
    m->phase_step = strdup("final_sync");
    m->warning = strdup("old container left running");
    m->cleanup_node = strdup("n1");
    m->progress_message = strdup("Syncing world 63%");
    m->rollback_success = 0;
    m->duration_seconds = 12.345;
    m->players_transferred = 16;
    m->player_downtime_ms = 2750;
    m->updated_at = 1795871538007;
    m->start_now = true;
    m->recovering = true;
    ck_assert_ptr_nonnull(m->notes);
}

static void assert_str_same(const char *field, const char *a, const char *b) {
    if (a == NULL || b == NULL) ck_assert_msg(a == b, "%s: %s vs %s", field, a ? a : "NULL", b ? b : "NULL");
    else ck_assert_msg(strcmp(a, b) == 0, "%s: \"%s\" vs \"%s\"", field, a, b);
}

/* Compares every field; the lease token only when `token`, as the JSON leaves it out. */
static void assert_same(const migration_t *a, const migration_t *b, bool token) {
    assert_str_same("id", a->id, b->id);
    assert_str_same("server_id", a->server_id, b->server_id);
    assert_str_same("server_name", a->server_name, b->server_name);
    assert_str_same("from_node_id", a->from_node_id, b->from_node_id);
    assert_str_same("from_node_name", a->from_node_name, b->from_node_name);
    assert_str_same("to_node_id", a->to_node_id, b->to_node_id);
    assert_str_same("to_node_name", a->to_node_name, b->to_node_name);
    ck_assert_int_eq(a->status, b->status);
    ck_assert_int_eq(a->reason, b->reason);
    ck_assert_double_eq(a->savings_eur_hour, b->savings_eur_hour);
    ck_assert_double_eq(a->savings_eur_month, b->savings_eur_month);
    ck_assert_int_eq(a->created_at, b->created_at);
    ck_assert_int_eq(a->approved_at, b->approved_at);
    ck_assert_int_eq(a->scheduled_at, b->scheduled_at);
    ck_assert_int_eq(a->started_at, b->started_at);
    ck_assert_int_eq(a->completed_at, b->completed_at);
    ck_assert_int_eq(a->player_count_at_start, b->player_count_at_start);
    ck_assert_int_eq(a->data_sync_progress, b->data_sync_progress);
    assert_str_same("error_message", a->error_message, b->error_message);
    ck_assert_int_eq(a->retry_count, b->retry_count);
    ck_assert_int_eq(a->max_retries, b->max_retries);
    ck_assert_int_eq(a->triggered_by, b->triggered_by);
    assert_str_same("notes", a->notes, b->notes);
    ck_assert_int_eq(a->level, b->level);
    assert_str_same("lease_owner", a->lease_owner, b->lease_owner);
    if (token) ck_assert_uint_eq(a->lease_token, b->lease_token);
    ck_assert_int_eq(a->lease_expires_at, b->lease_expires_at);
    ck_assert_int_eq(a->not_before, b->not_before);
    assert_str_same("blocked_reason", a->blocked_reason, b->blocked_reason);
    assert_str_same("phase_step", a->phase_step, b->phase_step);
    assert_str_same("warning", a->warning, b->warning);
    assert_str_same("cleanup_node", a->cleanup_node, b->cleanup_node);
    assert_str_same("progress_message", a->progress_message, b->progress_message);
    ck_assert_int_eq(a->rollback_success, b->rollback_success);
    ck_assert_double_eq(a->duration_seconds, b->duration_seconds);
    ck_assert_int_eq(a->players_transferred, b->players_transferred);
    ck_assert_int_eq(a->player_downtime_ms, b->player_downtime_ms);
    ck_assert_int_eq(a->updated_at, b->updated_at);
    ck_assert_int_eq(a->recovering, b->recovering);
}

/* The value of `name` in a pairs array, or NULL. */
static const char *pair_value(char **pairs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(pairs[2 * i], name) == 0) return pairs[2 * i + 1];
    return NULL;
}

/* Hash round trip: to pairs, then into a fresh record. */
static void via_hash(const migration_t *m, migration_t *back) {
    char **pairs = NULL;
    int n = migration_to_pairs(m, &pairs);
    ck_assert_int_gt(n, 0);
    migration_init(back);
    ck_assert_int_eq(migration_from_pairs(back, (const char *const *)pairs, (size_t)n), 0);
    free(pairs); /* one allocation: this frees the names and values too (ASan checks) */
}

static void valid_create(migration_create_t *c) {
    migration_create_init(c);
    c->server_id = "srv-42";
    c->to_node_id = "node-b";
}

/* Runs the validation expecting a refusal whose message starts with `prefix`. */
static void assert_refused(const migration_create_t *c, const char *prefix) {
    char err[256] = "";
    ck_assert_int_eq(migration_create_validate(c, err, sizeof err), MIG_EINVALID);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "message \"%s\" does not start with \"%s\"", err,
                  prefix);
}

static void assert_accepted(const migration_create_t *c) {
    char err[256] = "";
    ck_assert_msg(migration_create_validate(c, err, sizeof err) == 0, "refused: %s", err);
}

/* ---- record --------------------------------------------------------------------------- */

START_TEST(test_init_sets_every_field_absent) {
    migration_t m;
    memset(&m, 0x5a, sizeof m);
    migration_init(&m);
    ck_assert_ptr_null(m.id);
    ck_assert_ptr_null(m.server_id);
    ck_assert_ptr_null(m.notes);
    ck_assert_ptr_null(m.lease_owner);
    ck_assert_ptr_null(m.progress_message);
    ck_assert_int_eq(m.status, MIG_SUGGESTED);
    ck_assert_int_eq(m.reason, MIG_REASON_MANUAL);
    ck_assert_int_eq(m.triggered_by, MIG_TRIGGER_ADMIN);
    ck_assert_int_eq(m.created_at, 0);
    ck_assert_int_eq(m.updated_at, 0);
    ck_assert_int_eq(m.player_count_at_start, -1);
    ck_assert_int_eq(m.players_transferred, -1);
    ck_assert_int_eq(m.player_downtime_ms, -1);
    ck_assert_double_eq(m.duration_seconds, -1);
    ck_assert_int_eq(m.data_sync_progress, 0);
    ck_assert_int_eq(m.retry_count, 0);
    ck_assert_int_eq(m.max_retries, MIG_MAX_RETRIES_DEFAULT);
    ck_assert_int_eq(m.rollback_success, -1);
    ck_assert_int_eq(m.level, 0);
    ck_assert_uint_eq(m.lease_token, 0);
    ck_assert(!m.recovering);
}
END_TEST

START_TEST(test_clear_frees_strings_and_resets) {
    migration_t m, fresh;
    fill_full(&m);
    migration_clear(&m); /* ASan's leak check fails the test if a string is kept */
    migration_init(&fresh);
    assert_same(&m, &fresh, true);
}
END_TEST

START_TEST(test_reason_and_trigger_names_round_trip) {
    static const char *const reasons[] = {"cost-optimization", "manual", "rebalancing", "maintenance"};
    static const char *const triggers[] = {"system", "admin", "user"};
    for (int r = 0; r < MIG_REASON_COUNT; r++) {
        ck_assert_str_eq(migration_reason_name((mig_reason_t)r), reasons[r]);
        ck_assert_int_eq(migration_reason_parse(reasons[r]), r);
    }
    for (int t = 0; t < MIG_TRIGGER_COUNT; t++) {
        ck_assert_str_eq(migration_trigger_name((mig_trigger_t)t), triggers[t]);
        ck_assert_int_eq(migration_trigger_parse(triggers[t]), t);
    }
    ck_assert_ptr_null(migration_reason_name(MIG_REASON_COUNT));
    ck_assert_ptr_null(migration_trigger_name(MIG_TRIGGER_COUNT));
    ck_assert_int_eq(migration_reason_parse("cost"), -1);
    ck_assert_int_eq(migration_reason_parse(NULL), -1);
    ck_assert_int_eq(migration_trigger_parse("root"), -1);
    ck_assert_int_eq(migration_trigger_parse(NULL), -1);
}
END_TEST

/* ---- hash ----------------------------------------------------------------------------- */

START_TEST(test_hash_round_trip_keeps_every_field) {
    migration_t m, back;
    fill_full(&m);
    via_hash(&m, &back);
    assert_same(&m, &back, true);
    migration_clear(&m);
    migration_clear(&back);
}
END_TEST

START_TEST(test_hash_of_full_record_names_every_field) {
    migration_t m;
    fill_full(&m);
    char **pairs;
    int n = migration_to_pairs(&m, &pairs);
    ck_assert_int_eq(n, (int)NHASH);
    for (size_t i = 0; i < NHASH; i++) ck_assert_str_eq(pairs[2 * i], hash_names[i]);
    free(pairs);
    migration_clear(&m);
}
END_TEST

START_TEST(test_hash_of_minimal_record_leaves_absent_fields_out) {
    migration_t m, back;
    migration_init(&m);
    m.id = strdup("m1");
    m.server_id = strdup("s1");
    char **pairs;
    int n = migration_to_pairs(&m, &pairs);
    /* the ids and the fields that always have a value */
    static const char *const present[] = {"id", "server_id", "status", "reason", "savings_eur_hour",
                                          "savings_eur_month", "data_sync_progress", "retry_count",
                                          "max_retries", "triggered_by"};
    ck_assert_int_eq(n, (int)(sizeof present / sizeof present[0]));
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++)
        ck_assert_ptr_nonnull(pair_value(pairs, n, present[i]));
    ck_assert_str_eq(pair_value(pairs, n, "status"), "suggested");
    ck_assert_str_eq(pair_value(pairs, n, "max_retries"), "3");
    ck_assert_ptr_null(pair_value(pairs, n, "level"));
    ck_assert_ptr_null(pair_value(pairs, n, "lease_token"));
    ck_assert_ptr_null(pair_value(pairs, n, "rollback_success"));
    ck_assert_ptr_null(pair_value(pairs, n, "duration_seconds"));
    ck_assert_ptr_null(pair_value(pairs, n, "created_at"));
    ck_assert_ptr_null(pair_value(pairs, n, "recovering"));
    free(pairs);
    via_hash(&m, &back);
    assert_same(&m, &back, true);
    migration_clear(&m);
    migration_clear(&back);
}
END_TEST

START_TEST(test_hash_doubles_print_shortest_round_trip_form) {
    migration_t m;
    migration_init(&m);
    m.savings_eur_hour = 0.15;
    m.savings_eur_month = 109.5;
    m.duration_seconds = 0.1 + 0.2; /* needs all 17 digits to read back */
    char **pairs;
    int n = migration_to_pairs(&m, &pairs);
    ck_assert_str_eq(pair_value(pairs, n, "savings_eur_hour"), "0.15");
    ck_assert_str_eq(pair_value(pairs, n, "savings_eur_month"), "109.5");
    ck_assert_str_eq(pair_value(pairs, n, "duration_seconds"), "0.30000000000000004");
    free(pairs);
    m.savings_eur_hour = 0;
    m.duration_seconds = 12;
    n = migration_to_pairs(&m, &pairs);
    ck_assert_str_eq(pair_value(pairs, n, "savings_eur_hour"), "0");
    ck_assert_str_eq(pair_value(pairs, n, "duration_seconds"), "12");
    free(pairs);
}
END_TEST

START_TEST(test_hash_values_use_wire_names_and_decimal_integers) {
    migration_t m;
    fill_full(&m);
    char **pairs;
    int n = migration_to_pairs(&m, &pairs);
    ck_assert_str_eq(pair_value(pairs, n, "status"), "transferring");
    ck_assert_str_eq(pair_value(pairs, n, "reason"), "cost-optimization");
    ck_assert_str_eq(pair_value(pairs, n, "triggered_by"), "system");
    ck_assert_str_eq(pair_value(pairs, n, "created_at"), "1795871531123");
    ck_assert_str_eq(pair_value(pairs, n, "lease_token"), "18446744073709551615");
    ck_assert_str_eq(pair_value(pairs, n, "rollback_success"), "0");
    ck_assert_str_eq(pair_value(pairs, n, "recovering"), "1");
    ck_assert_str_eq(pair_value(pairs, n, "level"), "2");
    ck_assert_str_eq(pair_value(pairs, n, "server_name"), "Survival \"Main\"");
    free(pairs);
    m.rollback_success = 1;
    n = migration_to_pairs(&m, &pairs);
    ck_assert_str_eq(pair_value(pairs, n, "rollback_success"), "1");
    free(pairs);
    migration_clear(&m);
}
END_TEST

START_TEST(test_set_field_rejects_bad_numbers_and_keeps_value) {
    static const char *const bad[][2] = {
        {"created_at", "12x"},         {"created_at", ""},           {"created_at", " 12"},
        {"created_at", "1.5"},         {"created_at", "99999999999999999999"},
        {"retry_count", "99999999999"}, {"retry_count", "+1"},        {"data_sync_progress", "5.5"},
        {"savings_eur_hour", "abc"},   {"savings_eur_hour", "nan"},  {"savings_eur_hour", "inf"},
        {"savings_eur_hour", "1e999"}, {"savings_eur_hour", "0.15 "}, {"duration_seconds", ""},
        {"lease_token", "-1"},         {"lease_token", "18446744073709551616"},
        {"player_downtime_ms", "1e3"}, {"rollback_success", "2"},    {"rollback_success", "true"},
        {"recovering", "yes"},         {"status", "running"},        {"status", ""},
        {"reason", "cost"},            {"triggered_by", "root"},     {"level", "one"},
    };
    migration_t m, ref;
    fill_full(&m);
    fill_full(&ref);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(migration_set_field(&m, bad[i][0], bad[i][1]) == MIG_EINVALID, "%s = \"%s\" accepted",
                      bad[i][0], bad[i][1]);
    assert_same(&m, &ref, true);
    migration_clear(&m);
    migration_clear(&ref);
}
END_TEST

START_TEST(test_set_field_parses_edge_values) {
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(migration_set_field(&m, "created_at", "-5"), 0);
    ck_assert_int_eq(m.created_at, -5);
    ck_assert_int_eq(migration_set_field(&m, "retry_count", "2147483647"), 0);
    ck_assert_int_eq(m.retry_count, 2147483647);
    ck_assert_int_eq(migration_set_field(&m, "savings_eur_month", "109.50"), 0); /* Lua's %.2f */
    ck_assert_double_eq(m.savings_eur_month, 109.5);
    ck_assert_int_eq(migration_set_field(&m, "duration_seconds", "12.345"), 0);
    ck_assert_double_eq(m.duration_seconds, 12.345);
    ck_assert_int_eq(migration_set_field(&m, "recovering", "0"), 0);
    ck_assert(!m.recovering);
    ck_assert_int_eq(migration_set_field(&m, "notes", ""), 0); /* empty text is present */
    ck_assert_str_eq(m.notes, "");
    migration_clear(&m);
}
END_TEST

START_TEST(test_set_field_ignores_unknown_names_and_replaces_strings) {
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(migration_set_field(&m, "field_of_the_future", "x"), 0);
    ck_assert_int_eq(migration_set_field(&m, "id", "first"), 0);
    ck_assert_int_eq(migration_set_field(&m, "id", "second"), 0); /* the first is freed */
    ck_assert_str_eq(m.id, "second");
    migration_clear(&m);
}
END_TEST

START_TEST(test_from_pairs_answers_first_error) {
    const char *pairs[] = {"id", "m1", "created_at", "soon", "server_id", "s1"};
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(migration_from_pairs(&m, pairs, 3), MIG_EINVALID);
    ck_assert_str_eq(m.id, "m1");
    ck_assert_int_eq(m.created_at, 0);
    migration_clear(&m);
}
END_TEST

/* ---- JSON ----------------------------------------------------------------------------- */

START_TEST(test_json_round_trip_keeps_every_field_but_lease_token) {
    migration_t m, back;
    fill_full(&m);
    cJSON *j = migration_to_json(&m);
    ck_assert_ptr_nonnull(j);
    /* through text, as a client sees it */
    char *text = cJSON_PrintUnformatted(j);
    cJSON *parsed = cJSON_Parse(text);
    ck_assert_ptr_nonnull(parsed);
    migration_init(&back);
    ck_assert_int_eq(migration_from_json(&back, parsed), 0);
    assert_same(&m, &back, false);
    ck_assert_uint_eq(back.lease_token, 0);
    cJSON_Delete(parsed);
    cJSON_free(text);
    cJSON_Delete(j);
    migration_clear(&m);
    migration_clear(&back);
}
END_TEST

START_TEST(test_json_has_every_field_except_lease_token) {
    migration_t m;
    migration_init(&m);
    cJSON *j = migration_to_json(&m);
    ck_assert_int_eq(cJSON_GetArraySize(j), (int)NHASH - 1);
    for (size_t i = 0; i < NHASH; i++) {
        bool has = cJSON_GetObjectItemCaseSensitive(j, hash_names[i]) != NULL;
        ck_assert_msg(has == (strcmp(hash_names[i], "lease_token") != 0), "%s", hash_names[i]);
    }
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_json_absent_times_are_null) {
    static const char *const nulls[] = {
        "id", "server_name", "error_message", "notes", "lease_owner", "created_at", "approved_at",
        "scheduled_at", "started_at", "completed_at", "lease_expires_at", "not_before", "updated_at",
        "player_count_at_start", "players_transferred", "player_downtime_ms", "duration_seconds",
        "rollback_success",
    };
    migration_t m;
    migration_init(&m);
    cJSON *j = migration_to_json(&m);
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, nulls[i])), "%s is not null", nulls[i]);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "level")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "max_retries")->valueint, 3);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "recovering")));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring, "suggested");
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_json_shows_times_as_rfc3339_and_typed_values) {
    migration_t m;
    fill_full(&m);
    cJSON *j = migration_to_json(&m);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "created_at")->valuestring, "2026-11-28T13:12:11.123Z");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "reason")->valuestring, "cost-optimization");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "triggered_by")->valuestring, "system");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring, "transferring");
    const cJSON *hour = cJSON_GetObjectItemCaseSensitive(j, "savings_eur_hour");
    ck_assert(cJSON_IsNumber(hour));
    ck_assert_double_eq(hour->valuedouble, 0.15);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "rollback_success")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "recovering")));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "player_downtime_ms")->valueint, 2750);
    cJSON_Delete(j);
    m.rollback_success = 1;
    j = migration_to_json(&m);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "rollback_success")));
    cJSON_Delete(j);
    migration_clear(&m);
}
END_TEST

START_TEST(test_from_json_rejects_wrong_types_and_keeps_record) {
    static const char *const bad[] = {
        "[]", "\"text\"", "{\"status\":\"nope\"}", "{\"status\":null}", "{\"created_at\":\"yesterday\"}",
        "{\"created_at\":1795871531123}", "{\"retry_count\":1.5}", "{\"retry_count\":\"1\"}", "{\"id\":5}",
        "{\"rollback_success\":1}", "{\"recovering\":null}", "{\"savings_eur_hour\":\"0.15\"}",
        "{\"level\":null}", "{\"reason\":\"cost\"}", "{\"player_downtime_ms\":1e300}",
    };
    migration_t m, ref;
    fill_full(&m);
    fill_full(&ref);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        ck_assert_ptr_nonnull(j);
        ck_assert_msg(migration_from_json(&m, j) == MIG_EINVALID, "accepted %s", bad[i]);
        cJSON_Delete(j);
    }
    assert_same(&m, &ref, true);
    migration_clear(&m);
    migration_clear(&ref);
}
END_TEST

START_TEST(test_from_json_reads_offsets_and_nulls) {
    cJSON *j = cJSON_Parse("{\"id\":\"m1\",\"created_at\":\"2026-11-28T14:12:11.123+01:00\",\"notes\":null,"
                           "\"rollback_success\":true,\"duration_seconds\":null,\"status\":\"failed\"}");
    migration_t m;
    migration_init(&m);
    ck_assert_int_eq(migration_from_json(&m, j), 0);
    ck_assert_str_eq(m.id, "m1");
    ck_assert_int_eq(m.created_at, 1795871531123);
    ck_assert_ptr_null(m.notes);
    ck_assert_int_eq(m.rollback_success, 1);
    ck_assert_double_eq(m.duration_seconds, -1);
    ck_assert_int_eq(m.status, MIG_FAILED);
    cJSON_Delete(j);
    migration_clear(&m);
}
END_TEST

/* ---- ids, money, Lua ------------------------------------------------------------------ */

START_TEST(test_id_valid_accepts_charset_of_1_to_36_bytes) {
    ck_assert(migration_id_valid("a"));
    ck_assert(migration_id_valid("0195f3a2-7c1e-7d3a-9b2c-4e5f6a7b8c9d"));
    ck_assert(migration_id_valid("Node_1.eu:fra-2"));
    ck_assert(migration_id_valid("abcdefghijABCDEFGHIJ0123456789_.:-xy")); /* 36 */
    ck_assert(!migration_id_valid("abcdefghijABCDEFGHIJ0123456789_.:-xyz")); /* 37 */
    ck_assert(!migration_id_valid(""));
    ck_assert(!migration_id_valid(NULL));
    ck_assert(!migration_id_valid("a b"));
    ck_assert(!migration_id_valid("a/b"));
    ck_assert(!migration_id_valid("m{1}"));
    ck_assert(!migration_id_valid("caf\xc3\xa9"));
    ck_assert(!migration_id_valid("line\n"));
}
END_TEST

START_TEST(test_month_savings_of_015_is_10950) {
    ck_assert_double_eq(migration_month_savings(0.15), 109.5);
    ck_assert_double_eq(migration_month_savings(0), 0);
    ck_assert_double_eq(migration_month_savings(1), 730);
    ck_assert_double_eq(migration_month_savings(0.333), 243.09);
    ck_assert_double_eq(migration_month_savings(0.01), 7.3);
}
END_TEST

START_TEST(test_render_lua_defines_enums_and_limits) {
    static const char want[] =
        "local REASONS = {[\"cost-optimization\"] = true, manual = true, rebalancing = true, maintenance = true}\n"
        "local TRIGGERS = {system = true, admin = true, user = true}\n"
        "local REASON_LIST = 'cost-optimization, manual, rebalancing, maintenance'\n"
        "local TRIGGER_LIST = 'system, admin, user'\n"
        "local ID_MAX = 36\n"
        "local NAME_MAX = 128\n"
        "local NOTES_MAX = 4096\n"
        "local ID_CHARS = 'A-Z a-z 0-9 _ . : -'\n";
    size_t n = migration_render_lua(NULL, 0);
    ck_assert_uint_eq(n, strlen(want));
    char buf[512];
    ck_assert_uint_eq(migration_render_lua(buf, sizeof buf), n);
    ck_assert_str_eq(buf, want);
    char small[10];
    ck_assert_uint_eq(migration_render_lua(small, sizeof small), n);
    ck_assert_str_eq(small, "local REA");
}
END_TEST

/* ---- create requests ------------------------------------------------------------------ */

START_TEST(test_create_init_fills_defaults) {
    migration_create_t c;
    migration_create_init(&c);
    ck_assert_int_eq(c.reason, MIG_REASON_MANUAL);
    ck_assert_int_eq(c.triggered_by, MIG_TRIGGER_ADMIN);
    ck_assert_int_eq(c.status, MIG_SCHEDULED);
    ck_assert(c.savings_eur_hour < 0);
    ck_assert(c.savings_eur_month < 0);
    ck_assert_int_lt(c.max_retries, 0);
    ck_assert_ptr_null(c.id);
    ck_assert_ptr_null(c.server_id);
    ck_assert_ptr_null(c.notes);
    ck_assert_int_eq(c.level, 0);
    ck_assert_int_eq(c.not_before, 0);
}
END_TEST

START_TEST(test_validate_accepts_manual_and_optimizer_requests) {
    migration_create_t c;
    valid_create(&c);
    assert_accepted(&c);
    c.id = "m-1";
    c.from_node_id = "node-a";
    c.savings_eur_hour = 0.15;
    c.savings_eur_month = 109.5;
    c.max_retries = 20;
    c.notes = "by hand";
    assert_accepted(&c);
    c.reason = MIG_REASON_COST;
    c.triggered_by = MIG_TRIGGER_SYSTEM;
    c.level = 1;
    c.status = MIG_SUGGESTED;
    assert_accepted(&c);
    c.level = 2;
    c.status = MIG_SCHEDULED;
    assert_accepted(&c);
    c.level = 0; /* a cost move asked for by hand has no level */
    assert_accepted(&c);
}
END_TEST

START_TEST(test_validate_requires_server_and_target_node) {
    migration_create_t c;
    valid_create(&c);
    c.server_id = NULL;
    assert_refused(&c, "server_id: required");
    valid_create(&c);
    c.to_node_id = NULL;
    assert_refused(&c, "to_node_id: required");
}
END_TEST

START_TEST(test_validate_rejects_bad_ids_naming_field) {
    migration_create_t c;
    valid_create(&c);
    c.id = "has space";
    assert_refused(&c, "id: ");
    valid_create(&c);
    c.server_id = "";
    assert_refused(&c, "server_id: ");
    valid_create(&c);
    c.to_node_id = "abcdefghijABCDEFGHIJ0123456789_.:-xyz";
    assert_refused(&c, "to_node_id: ");
    valid_create(&c);
    c.from_node_id = "node/a";
    assert_refused(&c, "from_node_id: ");
}
END_TEST

START_TEST(test_validate_rejects_same_nodes_naming_field) {
    migration_create_t c;
    valid_create(&c);
    c.from_node_id = "node-b";
    char err[128];
    ck_assert_int_eq(migration_create_validate(&c, err, sizeof err), MIG_EINVALID);
    ck_assert_str_eq(err, "to_node_id: must differ from from_node_id");
}
END_TEST

START_TEST(test_validate_rejects_unknown_reason_naming_field) {
    migration_create_t c;
    valid_create(&c);
    c.reason = MIG_REASON_COUNT;
    char err[128];
    ck_assert_int_eq(migration_create_validate(&c, err, sizeof err), MIG_EINVALID);
    ck_assert_str_eq(err, "reason: must be one of cost-optimization, manual, rebalancing, maintenance");
    c.reason = (mig_reason_t)-1;
    assert_refused(&c, "reason: ");
}
END_TEST

START_TEST(test_validate_rejects_unknown_trigger_naming_field) {
    migration_create_t c;
    valid_create(&c);
    c.triggered_by = MIG_TRIGGER_COUNT;
    assert_refused(&c, "triggered_by: must be one of system, admin, user");
}
END_TEST

START_TEST(test_validate_rejects_non_finite_savings_and_takes_negative_as_absent) {
    migration_create_t c;
    valid_create(&c);
    c.savings_eur_hour = -1;
    c.savings_eur_month = -5;
    assert_accepted(&c);
    c.savings_eur_hour = NAN;
    assert_refused(&c, "savings_eur_hour: ");
    c.savings_eur_hour = INFINITY;
    assert_refused(&c, "savings_eur_hour: ");
    c.savings_eur_hour = -INFINITY;
    assert_refused(&c, "savings_eur_hour: ");
    c.savings_eur_hour = 2e9;
    assert_refused(&c, "savings_eur_hour: ");
    c.savings_eur_hour = 1;
    c.savings_eur_month = NAN;
    assert_refused(&c, "savings_eur_month: ");
    c.savings_eur_month = 1e13;
    assert_refused(&c, "savings_eur_month: ");
}
END_TEST

START_TEST(test_validate_rejects_notes_over_limit) {
    char *notes = malloc(MIG_NOTES_MAX + 2);
    ck_assert_ptr_nonnull(notes);
    memset(notes, 'n', MIG_NOTES_MAX + 1);
    notes[MIG_NOTES_MAX + 1] = '\0';
    migration_create_t c;
    valid_create(&c);
    c.notes = notes;
    assert_refused(&c, "notes: ");
    notes[MIG_NOTES_MAX] = '\0';
    assert_accepted(&c);
    free(notes);
}
END_TEST

START_TEST(test_validate_rejects_level_out_of_range) {
    migration_create_t c;
    valid_create(&c);
    c.reason = MIG_REASON_COST;
    c.level = 3;
    assert_refused(&c, "level: ");
    c.level = -1;
    assert_refused(&c, "level: ");
}
END_TEST

START_TEST(test_validate_rejects_level_without_cost_reason) {
    migration_create_t c;
    valid_create(&c);
    c.level = 2;
    assert_refused(&c, "level: ");
    c.reason = MIG_REASON_MAINTENANCE;
    assert_refused(&c, "level: ");
}
END_TEST

START_TEST(test_validate_rejects_status_other_than_suggested_or_scheduled) {
    static const mig_status_t bad[] = {MIG_APPROVED, MIG_PREPARING, MIG_TRANSFERRING, MIG_COMPLETING,
                                       MIG_COMPLETED, MIG_CANCELLED, MIG_FAILED, MIG_STATUS_COUNT};
    migration_create_t c;
    valid_create(&c);
    c.reason = MIG_REASON_COST;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.status = bad[i];
        assert_refused(&c, "status: ");
    }
}
END_TEST

START_TEST(test_validate_rejects_suggested_without_cost_reason) {
    migration_create_t c;
    valid_create(&c);
    c.status = MIG_SUGGESTED;
    assert_refused(&c, "status: ");
    c.reason = MIG_REASON_REBALANCING;
    assert_refused(&c, "status: ");
    c.reason = MIG_REASON_COST;
    assert_accepted(&c);
}
END_TEST

START_TEST(test_validate_rejects_max_retries_over_20) {
    migration_create_t c;
    valid_create(&c);
    c.max_retries = 21;
    assert_refused(&c, "max_retries: ");
    c.max_retries = 0;
    assert_accepted(&c);
    c.max_retries = -1; /* absent: the default */
    assert_accepted(&c);
}
END_TEST

START_TEST(test_validate_rejects_negative_not_before) {
    migration_create_t c;
    valid_create(&c);
    c.not_before = -1;
    assert_refused(&c, "not_before: ");
    c.not_before = 1795871531123;
    assert_accepted(&c);
}
END_TEST

START_TEST(test_validate_message_fits_small_buffers) {
    migration_create_t c;
    valid_create(&c);
    c.reason = MIG_REASON_COUNT;
    char err[8];
    ck_assert_int_eq(migration_create_validate(&c, err, sizeof err), MIG_EINVALID);
    ck_assert_str_eq(err, "reason:");
    ck_assert_int_eq(migration_create_validate(&c, NULL, 0), MIG_EINVALID);
}
END_TEST

Suite *suite_migration(void) {
    Suite *s = suite_create("migration");
    TCase *rec = tcase_create("record");
    tcase_set_timeout(rec, UNIT_TIMEOUT_S);
    tcase_add_test(rec, test_init_sets_every_field_absent);
    tcase_add_test(rec, test_clear_frees_strings_and_resets);
    tcase_add_test(rec, test_reason_and_trigger_names_round_trip);
    tcase_add_test(rec, test_hash_round_trip_keeps_every_field);
    tcase_add_test(rec, test_hash_of_full_record_names_every_field);
    tcase_add_test(rec, test_hash_of_minimal_record_leaves_absent_fields_out);
    tcase_add_test(rec, test_hash_doubles_print_shortest_round_trip_form);
    tcase_add_test(rec, test_hash_values_use_wire_names_and_decimal_integers);
    tcase_add_test(rec, test_set_field_rejects_bad_numbers_and_keeps_value);
    tcase_add_test(rec, test_set_field_parses_edge_values);
    tcase_add_test(rec, test_set_field_ignores_unknown_names_and_replaces_strings);
    tcase_add_test(rec, test_from_pairs_answers_first_error);
    tcase_add_test(rec, test_json_round_trip_keeps_every_field_but_lease_token);
    tcase_add_test(rec, test_json_has_every_field_except_lease_token);
    tcase_add_test(rec, test_json_absent_times_are_null);
    tcase_add_test(rec, test_json_shows_times_as_rfc3339_and_typed_values);
    tcase_add_test(rec, test_from_json_rejects_wrong_types_and_keeps_record);
    tcase_add_test(rec, test_from_json_reads_offsets_and_nulls);
    tcase_add_test(rec, test_id_valid_accepts_charset_of_1_to_36_bytes);
    tcase_add_test(rec, test_month_savings_of_015_is_10950);
    tcase_add_test(rec, test_render_lua_defines_enums_and_limits);
    suite_add_tcase(s, rec);

    TCase *val = tcase_create("validate");
    tcase_set_timeout(val, UNIT_TIMEOUT_S);
    tcase_add_test(val, test_create_init_fills_defaults);
    tcase_add_test(val, test_validate_accepts_manual_and_optimizer_requests);
    tcase_add_test(val, test_validate_requires_server_and_target_node);
    tcase_add_test(val, test_validate_rejects_bad_ids_naming_field);
    tcase_add_test(val, test_validate_rejects_same_nodes_naming_field);
    tcase_add_test(val, test_validate_rejects_unknown_reason_naming_field);
    tcase_add_test(val, test_validate_rejects_unknown_trigger_naming_field);
    tcase_add_test(val, test_validate_rejects_non_finite_savings_and_takes_negative_as_absent);
    tcase_add_test(val, test_validate_rejects_notes_over_limit);
    tcase_add_test(val, test_validate_rejects_level_out_of_range);
    tcase_add_test(val, test_validate_rejects_level_without_cost_reason);
    tcase_add_test(val, test_validate_rejects_status_other_than_suggested_or_scheduled);
    tcase_add_test(val, test_validate_rejects_suggested_without_cost_reason);
    tcase_add_test(val, test_validate_rejects_max_retries_over_20);
    tcase_add_test(val, test_validate_rejects_negative_not_before);
    tcase_add_test(val, test_validate_message_fits_small_buffers);
    suite_add_tcase(s, val);
    return s;
}
