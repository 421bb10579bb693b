/* test_envelope.c - core/envelope.c: the seed's WebSocket envelope built from the flat
 * events the functions write (docs/EVENTS.md). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/envelope.h"
#include "core/err.h"
#include "suites.h"

/* The envelope of `flat`, parsed; fails the test unless it is one. Caller deletes. */
static cJSON *wrap(const char *flat) {
    char *out = NULL;
    size_t n = 0;
    ck_assert_int_eq(envelope_from_flat(flat, strlen(flat), &out, &n), 0);
    ck_assert_uint_eq(n, strlen(out));
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    free(out);
    return j;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", k);
    return v->valuestring;
}

START_TEST(test_created_gets_type_event_id_and_data_with_the_seeds_names) {
    cJSON *e = wrap("{\"event_id\":\"5-1\",\"type\":\"migration.created\",\"timestamp\":\"2026-11-28T13:25:42.628Z\","
                    "\"migration_id\":\"m1\",\"server_id\":\"s1\",\"from_node_id\":\"n1\",\"from_node_name\":\"Node-A\","
                    "\"to_node_id\":\"n2\",\"to_node_name\":\"Node-B\",\"status\":\"suggested\","
                    "\"savings_eur_hour\":0.15,\"notes\":null}");
    /* the seed's order: type, event_id, data; data.id first */
    ck_assert_str_eq(e->child->string, "type");
    ck_assert_str_eq(e->child->next->string, "event_id");
    ck_assert_str_eq(e->child->next->next->string, "data");
    ck_assert_int_eq(cJSON_GetArraySize(e), 3);
    ck_assert_str_eq(str(e, "type"), "migration.created");
    ck_assert_str_eq(str(e, "event_id"), "5-1");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data");
    ck_assert_str_eq(d->child->string, "id");
    ck_assert_str_eq(str(d, "id"), "m1");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d, "migration_id"));
    ck_assert_str_eq(str(d, "from_node"), "n1");
    ck_assert_str_eq(str(d, "to_node"), "n2");
    ck_assert_str_eq(str(d, "from_node_id"), "n1");
    ck_assert_str_eq(str(d, "to_node_name"), "Node-B");
    ck_assert_str_eq(str(d, "server_id"), "s1");
    ck_assert_str_eq(str(d, "status"), "suggested");
    ck_assert_str_eq(str(d, "timestamp"), "2026-11-28T13:25:42.628Z");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(d, "savings_eur_hour")->valuedouble, 0.15);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "notes")));
    cJSON_Delete(e);
}
END_TEST

START_TEST(test_node_and_server_events_carry_their_own_id) {
    cJSON *e = wrap("{\"event_id\":\"6-0\",\"type\":\"node.updated\",\"node_id\":\"n3\",\"name\":\"Node-C\"}");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data");
    ck_assert_str_eq(str(d, "id"), "n3");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d, "node_id"));
    ck_assert_str_eq(str(d, "name"), "Node-C");
    cJSON_Delete(e);
    e = wrap("{\"event_id\":\"7-0\",\"type\":\"server.deleted\",\"server_id\":\"s2\",\"migrations_deleted\":3}");
    d = cJSON_GetObjectItemCaseSensitive(e, "data");
    ck_assert_str_eq(str(d, "id"), "s2");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(d, "server_id"));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(d, "migrations_deleted")->valueint, 3);
    cJSON_Delete(e);
    /* a migration event keeps the node it names beside its own id */
    e = wrap("{\"event_id\":\"8-0\",\"type\":\"migration.cleanup\",\"migration_id\":\"m1\",\"server_id\":\"s1\","
             "\"node_id\":\"n1\",\"done\":true}");
    d = cJSON_GetObjectItemCaseSensitive(e, "data");
    ck_assert_str_eq(str(d, "id"), "m1");
    ck_assert_str_eq(str(d, "node_id"), "n1");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "done")));
    cJSON_Delete(e);
}
END_TEST

START_TEST(test_an_event_without_id_gets_nulls_and_bad_input_is_refused) {
    cJSON *e = wrap("{\"type\":\"something.new\",\"x\":1}");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "event_id")));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "id")));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(d, "x")->valueint, 1);
    cJSON_Delete(e);
    const char *bad[] = {"", "[]", "{\"type\":3}", "{\"x\":1}", "{\"type\":\"a\"", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        size_t n = 0;
        ck_assert_int_eq(envelope_from_flat(bad[i], strlen(bad[i]), &out, &n), MIG_EINVALID);
        ck_assert_ptr_null(out);
    }
}
END_TEST

START_TEST(test_resync_is_a_notice_in_the_envelope) {
    char *out = NULL;
    size_t n = 0;
    ck_assert_int_eq(envelope_notice("resync", "since is too old", &out, &n), 0);
    ck_assert_str_eq(out, "{\"type\":\"resync\",\"event_id\":null,\"data\":{\"reason\":\"since is too old\"}}");
    free(out);
}
END_TEST

Suite *suite_envelope(void) {
    Suite *s = suite_create("envelope");
    TCase *tc = tcase_create("envelope");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_created_gets_type_event_id_and_data_with_the_seeds_names);
    tcase_add_test(tc, test_node_and_server_events_carry_their_own_id);
    tcase_add_test(tc, test_an_event_without_id_gets_nulls_and_bad_input_is_refused);
    tcase_add_test(tc, test_resync_is_a_notice_in_the_envelope);
    suite_add_tcase(s, tc);
    return s;
}
