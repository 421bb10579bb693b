/* test_cli.c - migratectl's pure parts: the command line, the requests it builds, its
 * exit codes, its human output, and the WebSocket handshake of `watch`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/format.h"
#include "cli/wsproto.h"
#include "core/err.h"
#include "suites.h"

/* Parses a NULL-terminated argument list after the program name. */
static int parse(cli_args_t *a, char *err, const char *const *words) {
    char prog[] = "migratectl";
    char *argv[32] = {prog};
    int argc = 1;
    while (words[argc - 1] && argc < 31) {
        argv[argc] = (char *)words[argc - 1];
        argc++;
    }
    return args_parse(argc, argv, a, err, 256);
}

#define PARSE(a, err, ...) parse(a, err, (const char *const[]){__VA_ARGS__, NULL})

/* Expects a usage error whose message contains `words`. */
#define EXPECT_USAGE(words, ...)                                                   \
    do {                                                                           \
        cli_args_t a_;                                                             \
        char e_[256];                                                              \
        ck_assert_int_eq(PARSE(&a_, e_, __VA_ARGS__), MIG_EINVALID);               \
        ck_assert_msg(strstr(e_, words) != NULL, "\"%s\" lacks \"%s\"", e_, words); \
    } while (0)

START_TEST(test_list_takes_flags_as_value_or_equals_and_escapes_the_query) {
    cli_args_t a;
    char err[256];
    ck_assert_int_eq(PARSE(&a, err, "--api-url", "http://h:1", "list", "--status=scheduled,failed", "--server-id",
                           "s 1&x", "--limit", "10", "--offset=20", "--json"),
                     0);
    ck_assert_int_eq(a.cmd, CLI_LIST);
    ck_assert_str_eq(a.api_url, "http://h:1");
    ck_assert(a.json);
    char *p = args_path(&a);
    ck_assert_str_eq(p, "/api/migrations?status=scheduled%2Cfailed&server_id=s%201%26x&limit=10&offset=20");
    free(p);
    ck_assert_str_eq(args_method(CLI_LIST), "GET");
    ck_assert_int_eq(PARSE(&a, err, "list"), 0);
    p = args_path(&a);
    ck_assert_str_eq(p, "/api/migrations");
    free(p);
}
END_TEST

START_TEST(test_id_commands_build_their_paths_and_methods) {
    cli_args_t a;
    char err[256];
    char *p;
    ck_assert_int_eq(PARSE(&a, err, "approve", "019a-1"), 0);
    ck_assert_str_eq(p = args_path(&a), "/api/migrations/019a-1/approve");
    free(p);
    ck_assert_str_eq(args_method(a.cmd), "POST");
    ck_assert_int_eq(PARSE(&a, err, "cancel", "019a-1"), 0);
    ck_assert_str_eq(p = args_path(&a), "/api/migrations/019a-1/cancel");
    free(p);
    ck_assert_int_eq(PARSE(&a, err, "delete", "../x"), 0); /* an id cannot climb out of its path */
    ck_assert_str_eq(p = args_path(&a), "/api/migrations/..%2Fx");
    free(p);
    ck_assert_str_eq(args_method(a.cmd), "DELETE");
    ck_assert_int_eq(PARSE(&a, err, "show", "--json", "019a-1"), 0);
    ck_assert_str_eq(p = args_path(&a), "/api/migrations/019a-1");
    free(p);
    ck_assert_int_eq(PARSE(&a, err, "stats"), 0);
    ck_assert_str_eq(p = args_path(&a), "/api/migrations/stats");
    free(p);
    ck_assert_ptr_null(args_method(CLI_WATCH));
}
END_TEST

START_TEST(test_usage_errors_name_the_problem) {
    EXPECT_USAGE("a command is required", "--api-url", "http://h");
    EXPECT_USAGE("--json goes after a command", "--json", "list");
    EXPECT_USAGE("unknown command \"frobnicate\"", "frobnicate");
    EXPECT_USAGE("list: unknown flag --bogus", "list", "--bogus");
    EXPECT_USAGE("list does not take --to-node-id", "list", "--to-node-id", "n2");
    EXPECT_USAGE("show: the migration ID is missing", "show");
    EXPECT_USAGE("unexpected argument \"b\"", "show", "a", "b");
    EXPECT_USAGE("--limit needs a value", "list", "--limit");
    EXPECT_USAGE("--limit must be a whole number, not \"-1\"", "list", "--limit=-1");
    EXPECT_USAGE("--offset must be a whole number, not \"x\"", "list", "--offset", "x");
    EXPECT_USAGE("--json takes no value", "list", "--json=1");
    EXPECT_USAGE("stats: unknown flag -x", "stats", "-x");
    EXPECT_USAGE("delete does not take --json", "delete", "id", "--json");
}
END_TEST

START_TEST(test_create_needs_server_and_node_and_a_number_of_euros) {
    EXPECT_USAGE("--server-id and --to-node-id are required", "create", "--server-id", "s1");
    EXPECT_USAGE("--savings-eur-hour must be a number of euros, not \"cheap\"", "create", "--server-id", "s1",
                 "--to-node-id", "n2", "--savings-eur-hour", "cheap");
    EXPECT_USAGE("not \"inf\"", "create", "--server-id", "s1", "--to-node-id", "n2", "--savings-eur-hour=inf");
    cli_args_t a;
    char err[256];
    ck_assert_int_eq(PARSE(&a, err, "create", "--server-id", "s1", "--to-node-id", "n2", "--notes", "say \"hi\"",
                           "--savings-eur-hour", "0.15", "--start-now", "--reason=maintenance"),
                     0);
    char *body = args_body(&a);
    cJSON *j = cJSON_Parse(body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "server_id")->valuestring, "s1");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "to_node_id")->valuestring, "n2");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "notes")->valuestring, "say \"hi\"");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "reason")->valuestring, "maintenance");
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "savings_eur_hour")->valuedouble, 0.15, 1e-12);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "start_now")));
    cJSON_Delete(j);
    free(body);
    /* only what was given: the API fills its defaults */
    ck_assert_int_eq(PARSE(&a, err, "create", "--server-id", "s1", "--to-node-id", "n2"), 0);
    body = args_body(&a);
    ck_assert_str_eq(body, "{\"server_id\":\"s1\",\"to_node_id\":\"n2\"}");
    free(body);
    char *p = args_path(&a);
    ck_assert_str_eq(p, "/api/migrations");
    free(p);
}
END_TEST

START_TEST(test_help_is_asked_for_the_program_and_each_command) {
    cli_args_t a;
    char err[256];
    ck_assert_int_eq(PARSE(&a, err, "--help"), 0);
    ck_assert(a.help);
    ck_assert_int_eq(a.cmd, CLI_NONE);
    ck_assert_int_eq(PARSE(&a, err, "help", "watch"), 0);
    ck_assert(a.help);
    ck_assert_int_eq(a.cmd, CLI_WATCH);
    ck_assert_int_eq(PARSE(&a, err, "show", "-h"), 0); /* no ID needed to ask for help */
    ck_assert(a.help);
    for (int c = CLI_NONE; c < CLI__COUNT; c++) {
        const char *u = args_usage((cli_cmd_t)c);
        ck_assert_msg(strstr(u, "Usage: migratectl") != NULL, "%s", args_cmd_name((cli_cmd_t)c));
        ck_assert_msg(strstr(u, "4  not found (404)") != NULL, "%s lacks the exit codes", args_cmd_name((cli_cmd_t)c));
    }
    ck_assert(strstr(args_usage(CLI_NONE), "MIG_API_TOKEN") != NULL);
    ck_assert(strstr(args_usage(CLI_LIST), "--offset") != NULL);
}
END_TEST

START_TEST(test_exit_codes_follow_the_http_status) {
    ck_assert_int_eq(args_exit_code(200), CLI_EXIT_OK);
    ck_assert_int_eq(args_exit_code(201), CLI_EXIT_OK);
    ck_assert_int_eq(args_exit_code(204), CLI_EXIT_OK);
    ck_assert_int_eq(args_exit_code(400), CLI_EXIT_REFUSED);
    ck_assert_int_eq(args_exit_code(401), CLI_EXIT_REFUSED);
    ck_assert_int_eq(args_exit_code(403), CLI_EXIT_REFUSED);
    ck_assert_int_eq(args_exit_code(409), CLI_EXIT_REFUSED);
    ck_assert_int_eq(args_exit_code(404), CLI_EXIT_NOT_FOUND);
    ck_assert_int_eq(args_exit_code(500), CLI_EXIT_UNREACHABLE);
    ck_assert_int_eq(args_exit_code(503), CLI_EXIT_UNREACHABLE);
    ck_assert_int_eq(args_exit_code(0), CLI_EXIT_UNREACHABLE);
    ck_assert_int_eq(CLI_EXIT_USAGE, 2);
}
END_TEST

START_TEST(test_api_url_gives_host_port_and_prefix) {
    cli_url_t u;
    char err[256];
    ck_assert_int_eq(args_parse_url("http://127.0.0.1:8080", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "127.0.0.1");
    ck_assert_int_eq(u.port, 8080);
    ck_assert_str_eq(u.prefix, "");
    ck_assert_int_eq(u.tls, 0);
    ck_assert_int_eq(args_parse_url("https://ops.example/migrate/", &u, err, sizeof err), 0);
    ck_assert_int_eq(u.tls, 1);
    ck_assert_int_eq(u.port, 443);
    ck_assert_str_eq(u.prefix, "/migrate");
    ck_assert_int_eq(args_parse_url("http://[::1]:9", &u, err, sizeof err), 0);
    ck_assert_str_eq(u.host, "::1");
    ck_assert_int_eq(u.port, 9);
    ck_assert_int_eq(args_parse_url("127.0.0.1:8080", &u, err, sizeof err), MIG_EINVALID);
    ck_assert(strstr(err, "MIG_API_URL") != NULL);
    ck_assert_int_eq(args_parse_url("http://h:0", &u, err, sizeof err), MIG_EINVALID);
    ck_assert_int_eq(args_parse_url("http://h:99999", &u, err, sizeof err), MIG_EINVALID);
    ck_assert_int_eq(args_parse_url("http://", &u, err, sizeof err), MIG_EINVALID);
    ck_assert_int_eq(args_parse_url("http://h?x=1", &u, err, sizeof err), MIG_EINVALID);
}
END_TEST

START_TEST(test_watch_path_carries_since_and_filters) {
    cli_args_t a;
    char err[256];
    ck_assert_int_eq(PARSE(&a, err, "watch", "--since", "1-0", "--server-id", "s1", "--migration-id", "m/1"), 0);
    char *p = args_ws_path(&a, a.since);
    ck_assert_str_eq(p, "/api/ws?since=1-0&server_id=s1&migration_id=m%2F1");
    free(p);
    p = args_ws_path(&a, "1795872350001-3"); /* a reconnect resumes after the last event seen */
    ck_assert_str_eq(p, "/api/ws?since=1795872350001-3&server_id=s1&migration_id=m%2F1");
    free(p);
    ck_assert_int_eq(PARSE(&a, err, "watch"), 0);
    p = args_ws_path(&a, "");
    ck_assert_str_eq(p, "/api/ws");
    free(p);
    char small[4];
    ck_assert_uint_eq(args_escape("a b", small, sizeof small), (size_t)-1);
    char plain[8];
    ck_assert_uint_eq(args_escape("a~_.-", plain, sizeof plain), 5); /* RFC 3986 unreserved */
    ck_assert_str_eq(plain, "a~_.-");
}
END_TEST

/* ------------------------------------------------------------------------ output */

static cJSON *json(const char *text) {
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "bad test JSON: %s", text);
    return j;
}

START_TEST(test_money_prints_per_hour_and_per_month) {
    char out[96];
    cJSON *h = cJSON_CreateNumber(0.15), *m = cJSON_CreateNumber(109.5), *null = cJSON_CreateNull();
    ck_assert_str_eq(format_money(out, sizeof out, h, m), "€0.15/h (€109.50/mo)");
    ck_assert_str_eq(format_money(out, sizeof out, h, NULL), "€0.15/h (€109.50/mo)"); /* × 730 */
    ck_assert_str_eq(format_money(out, sizeof out, h, null), "€0.15/h (€109.50/mo)");
    ck_assert_str_eq(format_money(out, sizeof out, null, m), "-");
    cJSON *neg = cJSON_CreateNumber(-0.1);
    ck_assert_str_eq(format_money(out, sizeof out, neg, NULL), "-€0.10/h (-€73.00/mo)");
    ck_assert_uint_eq(format_width("€0.15/h (€109.50/mo)"), 20);
    ck_assert_uint_eq(format_width("n1 → n2"), 7);
    cJSON_Delete(h);
    cJSON_Delete(m);
    cJSON_Delete(null);
    cJSON_Delete(neg);
}
END_TEST

#define REC1                                                                                                     \
    "{\"id\":\"019ad2b6-5f44-7c1e-9a3b-2f0c7d1e8a90\",\"server_id\":\"s1\",\"server_name\":\"Server-XYZ\","     \
    "\"from_node_id\":\"n1\",\"from_node_name\":\"Node-A\",\"to_node_id\":\"n2\",\"to_node_name\":\"Node-B\","  \
    "\"status\":\"transferring\",\"savings_eur_hour\":0.15,\"savings_eur_month\":109.5,"                        \
    "\"created_at\":\"2026-11-28T13:25:42.628Z\",\"data_sync_progress\":40,\"notes\":null,\"start_now\":false}"
#define REC2                                                                                                     \
    "{\"id\":\"m2\",\"server_id\":\"s2\",\"server_name\":null,\"from_node_id\":\"n1\",\"from_node_name\":null," \
    "\"to_node_id\":\"n3\",\"to_node_name\":null,\"status\":\"completed\",\"savings_eur_hour\":null,"            \
    "\"savings_eur_month\":null,\"created_at\":\"2026-11-28T13:00:00.000Z\",\"data_sync_progress\":100}"

START_TEST(test_table_aligns_columns_counting_characters_not_bytes) {
    cJSON *list = json("{\"items\":[" REC1 "," REC2 "],\"total\":7,\"limit\":2,\"offset\":2}");
    char *t = format_table(list);
    const char *want =
        "ID                                    SERVER      FROM → TO        STATUS            SAVINGS               CREATED (UTC)\n"
        "019ad2b6-5f44-7c1e-9a3b-2f0c7d1e8a90  Server-XYZ  Node-A → Node-B  transferring 40%  €0.15/h (€109.50/mo)  2026-11-28 13:25:42\n"
        "m2                                    s2          n1 → n3          completed         -                     2026-11-28 13:00:00\n"
        "showing 3-4 of 7\n";
    ck_assert_str_eq(t, want);
    free(t);
    cJSON_Delete(list);
    list = json("{\"items\":[],\"total\":0,\"limit\":50,\"offset\":0}");
    t = format_table(list);
    ck_assert(strstr(t, "no migrations\n") != NULL);
    free(t);
    cJSON_Delete(list);
    list = json("{\"items\":[],\"total\":5,\"limit\":50,\"offset\":10}");
    t = format_table(list);
    ck_assert(strstr(t, "showing none of 5 (offset 10)\n") != NULL);
    free(t);
    cJSON_Delete(list);
}
END_TEST

START_TEST(test_record_prints_aligned_key_value_lines_with_null_as_dash) {
    cJSON *m = json(REC1);
    char *t = format_record(m);
    ck_assert(strncmp(t, "id:                 019ad2b6-5f44-7c1e-9a3b-2f0c7d1e8a90\n", 57) == 0);
    ck_assert(strstr(t, "\nsavings_eur_hour:   0.15\n") != NULL);
    ck_assert(strstr(t, "\nsavings_eur_month:  109.5\n") != NULL);
    ck_assert(strstr(t, "\ndata_sync_progress: 40\n") != NULL);
    ck_assert(strstr(t, "\nnotes:              -\n") != NULL);
    ck_assert(strstr(t, "\nstart_now:          false\n") != NULL);
    free(t);
    cJSON_Delete(m);
    m = json("{\"notes\":\"evil\\u001b[31m\\nline\"}"); /* no terminal escapes from API text */
    t = format_record(m);
    ck_assert_str_eq(t, "notes: evil?[31m?line\n");
    free(t);
    cJSON_Delete(m);
    m = json(REC1);
    t = format_summary(m);
    ck_assert_str_eq(t, "019ad2b6-5f44-7c1e-9a3b-2f0c7d1e8a90  Server-XYZ  Node-A → Node-B  transferring 40%  "
                        "€0.15/h (€109.50/mo)");
    free(t);
    cJSON_Delete(m);
}
END_TEST

START_TEST(test_stats_read_as_sentences) {
    cJSON *s = json("{\"by_status\":{\"suggested\":2,\"completed\":40},\"total\":49,\"created_total\":49,"
                    "\"completed_total\":40,\"failed_total\":2,\"cancelled_total\":3,\"retried_total\":5,"
                    "\"success_rate\":0.952,\"avg_duration_seconds\":41.2,\"total_savings_eur_hour\":6.1,"
                    "\"total_savings_eur_month\":4453,\"failures_by_reason\":{},"
                    "\"queues\":{\"scheduled\":1,\"ready\":0,\"leases\":1}}");
    char *t = format_stats(s);
    ck_assert_str_eq(t, "migrations: 49 (created 49, completed 40, failed 2, cancelled 3, retried 5)\n"
                        "by status: suggested 2, completed 40\n"
                        "success rate: 95.2%\n"
                        "average duration: 41.2 s\n"
                        "savings: €6.10/h (€4453.00/mo)\n"
                        "failures by reason: none\n"
                        "queues: scheduled 1, ready 0, leases 1\n");
    free(t);
    cJSON_Delete(s);
}
END_TEST

/* The line of one event. */
static void expect_event(const char *ev, const char *want) {
    cJSON *j = json(ev);
    char *t = format_event(j);
    ck_assert_str_eq(t, want);
    free(t);
    cJSON_Delete(j);
}

START_TEST(test_each_event_type_has_its_line) {
    expect_event("{\"event_id\":\"1-0\",\"type\":\"migration.created\",\"timestamp\":\"2026-11-28T13:25:42.628Z\","
                 "\"migration_id\":\"m1\",\"server_id\":\"s1\",\"from_node_id\":\"n1\",\"from_node_name\":\"Node-A\","
                 "\"to_node_id\":\"n2\",\"to_node_name\":\"Node-B\",\"status\":\"suggested\",\"reason\":\"cost-optimization\","
                 "\"savings_eur_hour\":0.15,\"savings_eur_month\":109.5}",
                 "2026-11-28 13:25:42 migration.created m1 s1 Node-A → Node-B suggested cost-optimization "
                 "€0.15/h (€109.50/mo)");
    expect_event("{\"type\":\"migration.status_changed\",\"timestamp\":\"2026-11-28T13:25:50.001Z\","
                 "\"migration_id\":\"m1\",\"server_id\":\"s1\",\"old_status\":\"scheduled\",\"new_status\":\"preparing\"}",
                 "2026-11-28 13:25:50 migration.status_changed m1 s1 scheduled → preparing");
    expect_event("{\"type\":\"migration.progress\",\"timestamp\":\"2026-11-28T13:25:51.200Z\",\"migration_id\":\"m1\","
                 "\"server_id\":\"s1\",\"status\":\"preparing\",\"progress\":40,\"message\":\"Syncing world (40%)\","
                 "\"phase_step\":\"prepare.sync\"}",
                 "2026-11-28 13:25:51 migration.progress m1 s1 preparing 40% prepare.sync: Syncing world (40%)");
    expect_event("{\"type\":\"migration.completed\",\"timestamp\":\"2026-11-28T13:26:00.000Z\",\"migration_id\":\"m1\","
                 "\"server_id\":\"s1\",\"duration_seconds\":17.372,\"players_transferred\":3,\"player_downtime_ms\":850,"
                 "\"success\":true,\"warning\":null}",
                 "2026-11-28 13:26:00 migration.completed m1 s1 in 17.372 s, 3 players moved, 850 ms downtime");
    expect_event("{\"type\":\"migration.failed\",\"timestamp\":\"2026-11-28T13:26:10.000Z\",\"migration_id\":\"m1\","
                 "\"server_id\":\"s1\",\"error\":\"final sync failed: disk full on n2\",\"fail_reason\":\"sync\","
                 "\"rollback_success\":true}",
                 "2026-11-28 13:26:10 migration.failed m1 s1 (sync) final sync failed: disk full on n2; rolled back");
    expect_event("{\"type\":\"migration.deleted\",\"timestamp\":\"2026-11-28T13:26:10.000Z\",\"migration_id\":\"m1\","
                 "\"server_id\":\"s1\"}",
                 "2026-11-28 13:26:10 migration.deleted m1 s1");
    expect_event("{\"event_id\":\"5-0\",\"type\":\"node.updated\",\"timestamp\":\"2026-11-28T13:26:10.000Z\","
                 "\"node_id\":\"n1\",\"healthy\":false,\"eur_hour\":0.3}",
                 "2026-11-28 13:26:10 node.updated node_id=n1 healthy=false eur_hour=0.3");
    expect_event("{\"type\":\"resync\"}", "resync: events were trimmed before they could be replayed; "
                                          "reload the state with `migratectl list`, watching live from here");
}
END_TEST

/* What /api/ws sends by default: the seed's envelope, fields in data, data.id the migration. */
START_TEST(test_events_in_the_envelope_read_as_the_flat_ones) {
    expect_event("{\"type\":\"migration.created\",\"event_id\":\"1-0\",\"data\":{\"id\":\"m1\","
                 "\"timestamp\":\"2026-11-28T13:25:42.628Z\",\"server_id\":\"s1\",\"from_node_id\":\"n1\","
                 "\"from_node_name\":\"Node-A\",\"from_node\":\"n1\",\"to_node_id\":\"n2\",\"to_node_name\":\"Node-B\","
                 "\"to_node\":\"n2\",\"status\":\"suggested\",\"reason\":\"cost-optimization\","
                 "\"savings_eur_hour\":0.15,\"savings_eur_month\":109.5}}",
                 "2026-11-28 13:25:42 migration.created m1 s1 Node-A → Node-B suggested cost-optimization "
                 "€0.15/h (€109.50/mo)");
    expect_event("{\"type\":\"migration.failed\",\"event_id\":\"2-0\",\"data\":{\"id\":\"m1\","
                 "\"timestamp\":\"2026-11-28T13:26:10.000Z\",\"server_id\":\"s1\",\"error\":\"disk full\","
                 "\"fail_reason\":\"sync\",\"rollback_success\":true}}",
                 "2026-11-28 13:26:10 migration.failed m1 s1 (sync) disk full; rolled back");
    expect_event("{\"type\":\"node.updated\",\"event_id\":\"3-0\",\"data\":{\"id\":\"n3\","
                 "\"timestamp\":\"2026-11-28T13:26:10.000Z\",\"healthy\":true}}",
                 "2026-11-28 13:26:10 node.updated id=n3 healthy=true");
}
END_TEST

/* ------------------------------------------------------------------------ handshake */

static void hex(const unsigned char *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

START_TEST(test_sha1_and_base64_match_the_published_vectors) {
    unsigned char d[20];
    char h[41], b[64];
    wsproto_sha1("abc", 3, d); /* FIPS 180-4 examples */
    hex(d, 20, h);
    ck_assert_str_eq(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    wsproto_sha1("", 0, d);
    hex(d, 20, h);
    ck_assert_str_eq(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two tail blocks */
    wsproto_sha1(two, strlen(two), d);
    hex(d, 20, h);
    ck_assert_str_eq(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    ck_assert_uint_eq(wsproto_base64((const unsigned char *)"foob", 4, b), 8); /* RFC 4648 section 10 */
    ck_assert_str_eq(b, "Zm9vYg==");
    wsproto_base64((const unsigned char *)"fooba", 5, b);
    ck_assert_str_eq(b, "Zm9vYmE=");
    wsproto_base64((const unsigned char *)"foobar", 6, b);
    ck_assert_str_eq(b, "Zm9vYmFy");
    char acc[WSPROTO_ACCEPT_LEN + 1];
    wsproto_accept("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
    ck_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_handshake_accepts_only_a_proper_101) {
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char err[128];
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
    size_t hl = wsproto_head_len(ok, strlen(ok));
    ck_assert_uint_eq(hl, strlen(ok) - 4); /* the frame after the head is not part of it */
    ck_assert_int_eq(wsproto_check_answer(ok, hl, key, err, sizeof err), 101);
    const char *bad = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: AAAA\r\n\r\n";
    ck_assert_int_eq(wsproto_check_answer(bad, strlen(bad), key, err, sizeof err), MIG_EPROTO);
    ck_assert(strstr(err, "Sec-WebSocket-Accept") != NULL);
    const char *noup = "HTTP/1.1 101 OK\r\nConnection: keep-alive, Upgrade\r\n\r\n";
    ck_assert_int_eq(wsproto_check_answer(noup, strlen(noup), key, err, sizeof err), MIG_EPROTO);
    const char *refused = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
    ck_assert_int_eq(wsproto_check_answer(refused, wsproto_head_len(refused, strlen(refused)), key, err, sizeof err), 401);
    char cl[16];
    ck_assert(wsproto_header(refused, strlen(refused), "content-length", cl, sizeof cl));
    ck_assert_str_eq(cl, "2");
    ck_assert_int_eq(wsproto_check_answer("SSH-2.0-x\r\n\r\n", 13, key, err, sizeof err), MIG_EPROTO);
    ck_assert_uint_eq(wsproto_head_len("HTTP/1.1 101 OK\r\n", 17), 0);
}
END_TEST

START_TEST(test_upgrade_request_carries_key_token_and_refuses_newlines) {
    char req[1024];
    int n = wsproto_request(req, sizeof req, "::1", 8080, "/api/ws?since=1-0", "a2V5", "tok-1");
    ck_assert_int_gt(n, 0);
    ck_assert(strncmp(req, "GET /api/ws?since=1-0 HTTP/1.1\r\nHost: [::1]:8080\r\n", 49) == 0);
    ck_assert(strstr(req, "\r\nSec-WebSocket-Key: a2V5\r\n") != NULL);
    ck_assert(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
    ck_assert(strstr(req, "\r\nAuthorization: Bearer tok-1\r\n\r\n") != NULL);
    n = wsproto_request(req, sizeof req, "h", 1, "/api/ws", "a2V5", NULL);
    ck_assert(strstr(req, "Authorization") == NULL);
    ck_assert_int_eq(wsproto_request(req, sizeof req, "h", 1, "/api/ws", "a2V5", "t\r\nX-Evil: 1"), -1);
    ck_assert_int_eq(wsproto_request(req, 16, "h", 1, "/api/ws", "a2V5", NULL), -1);
    unsigned char nonce[WSPROTO_NONCE_LEN] = {0};
    char key[WSPROTO_KEY_LEN + 1];
    wsproto_key(nonce, key);
    ck_assert_str_eq(key, "AAAAAAAAAAAAAAAAAAAAAA==");
}
END_TEST

/* --at: "HH:MM" is the next such local time (TZ), today or tomorrow; an RFC 3339 time
 * with an offset goes to the API as given; both in create's and approve's body. */
START_TEST(test_at_is_the_next_local_time_of_day_or_an_rfc3339_time) {
    setenv("TZ", "Europe/Berlin", 1); /* this test's own process (fork mode) */
    tzset();
    const int64_t now = 1796634000; /* 2026-12-07T09:00:00Z, 10:00 in Berlin (CET, +01:00) */
    cli_args_t a;
    char err[256];
    ck_assert_int_eq(PARSE(&a, err, "create", "--server-id", "s1", "--to-node-id", "n2", "--at", "03:00"), 0);
    ck_assert_int_eq(args_resolve_at(&a, now, err, sizeof err), 0);
    ck_assert_str_eq(a.not_before, "2026-12-08T02:00:00.000Z"); /* 03:00 passed today: tomorrow's */
    char *body = args_body(&a);
    ck_assert_str_eq(body, "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"not_before\":\"2026-12-08T02:00:00.000Z\"}");
    free(body);
    ck_assert_int_eq(PARSE(&a, err, "approve", "m1", "--at=23:30"), 0);
    ck_assert_int_eq(args_resolve_at(&a, now, err, sizeof err), 0);
    ck_assert_str_eq(a.not_before, "2026-12-07T22:30:00.000Z"); /* later today */
    ck_assert_int_eq(PARSE(&a, err, "approve", "m1", "--at", "2026-12-07T03:00:00+01:00"), 0);
    ck_assert_int_eq(args_resolve_at(&a, now, err, sizeof err), 0);
    body = args_body(&a);
    ck_assert_str_eq(body, "{\"not_before\":\"2026-12-07T03:00:00+01:00\"}");
    free(body);
    ck_assert_int_eq(PARSE(&a, err, "approve", "m1"), 0);
    ck_assert_int_eq(args_resolve_at(&a, now, err, sizeof err), 0);
    ck_assert_ptr_null(args_body(&a)); /* no --at: approve sends no body */
    const char *bad[] = {"3:00", "24:00", "12:60", "tomorrow", "2026-12-07T03:00:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(PARSE(&a, err, "approve", "m1", "--at", bad[i]), 0);
        ck_assert_int_eq(args_resolve_at(&a, now, err, sizeof err), MIG_EINVALID);
        ck_assert_msg(strstr(err, "--at must be HH:MM") != NULL, "%s: \"%s\"", bad[i], err);
    }
    EXPECT_USAGE("list does not take --at", "list", "--at", "03:00");
}
END_TEST

Suite *suite_cli(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_list_takes_flags_as_value_or_equals_and_escapes_the_query);
    tcase_add_test(tc, test_id_commands_build_their_paths_and_methods);
    tcase_add_test(tc, test_usage_errors_name_the_problem);
    tcase_add_test(tc, test_create_needs_server_and_node_and_a_number_of_euros);
    tcase_add_test(tc, test_at_is_the_next_local_time_of_day_or_an_rfc3339_time);
    tcase_add_test(tc, test_help_is_asked_for_the_program_and_each_command);
    tcase_add_test(tc, test_exit_codes_follow_the_http_status);
    tcase_add_test(tc, test_api_url_gives_host_port_and_prefix);
    tcase_add_test(tc, test_watch_path_carries_since_and_filters);
    tcase_add_test(tc, test_money_prints_per_hour_and_per_month);
    tcase_add_test(tc, test_table_aligns_columns_counting_characters_not_bytes);
    tcase_add_test(tc, test_record_prints_aligned_key_value_lines_with_null_as_dash);
    tcase_add_test(tc, test_stats_read_as_sentences);
    tcase_add_test(tc, test_each_event_type_has_its_line);
    tcase_add_test(tc, test_events_in_the_envelope_read_as_the_flat_ones);
    tcase_add_test(tc, test_sha1_and_base64_match_the_published_vectors);
    tcase_add_test(tc, test_handshake_accepts_only_a_proper_101);
    tcase_add_test(tc, test_upgrade_request_carries_key_token_and_refuses_newlines);
    suite_add_tcase(s, tc);
    return s;
}
