/* test_api.c - bin/migrate-api over HTTP: every endpoint, the errors, the role matrix,
 * metrics and health, against a real redis-server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"
#include "tests/support/http_client.h"

#define TOKENS "viewer:viewer-token-1,optimizer:optimizer-token-1,operator:operator-token-1"
#define VIEWER "viewer-token-1"
#define OPTIMIZER "optimizer-token-1"
#define OPERATOR "operator-token-1"

static api_proc_t api;

static void api_up(void) {
    fx_redis_up();
    if (api_proc_start(&api, fx_redis.url, TOKENS, fx_redis.dir, 0) != 0) {
        fprintf(stderr, "test_api: cannot start migrate-api\n");
        exit(1);
    }
}

static void api_down(void) {
    api_proc_stop(&api);
    fx_redis_down();
}

/* Calls the API at `path` and returns the status; the answer stays in `r`. */
static long call(http_resp_t *r, const char *method, const char *path, const char *token, const char *body) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", api.base, path);
    ck_assert_msg(http_call(method, url, token, NULL, body, r) == 0, "%s %s unreachable", method, path);
    return r->status;
}

/* The error code of an error answer. */
static const char *err_code(const http_resp_t *r) {
    const cJSON *e = cJSON_GetObjectItem(r->json, "error");
    ck_assert_msg(e != NULL, "not an error body: %s", r->body);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
    return cJSON_GetObjectItem(e, "code")->valuestring;
}

static const char *err_msg(const http_resp_t *r) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "error"), "message")->valuestring;
}

/* Expects `status` with error `code` whose message contains `words`. */
static void expect_error(const char *method, const char *path, const char *token, const char *body, long status,
                         const char *code, const char *words) {
    http_resp_t r;
    long got = call(&r, method, path, token, body);
    ck_assert_msg(got == status, "%s %s: %ld, want %ld: %s", method, path, got, status, r.body);
    ck_assert_str_eq(err_code(&r), code);
    if (words) ck_assert_msg(strstr(err_msg(&r), words) != NULL, "\"%s\" lacks \"%s\"", err_msg(&r), words);
    http_resp_free(&r);
}

START_TEST(test_create_manual_migration_answers_201_with_location_and_record) {
    fx_fleet(1);
    http_resp_t r;
    ck_assert_int_eq(call(&r, "POST", "/api/migrations", OPERATOR,
                          "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"notes\":\"cheaper\",\"savings_eur_hour\":0.15}"),
                     201);
    const cJSON *j = r.json;
    const char *id = cJSON_GetObjectItem(j, "id")->valuestring;
    char want[128];
    snprintf(want, sizeof want, "/api/migrations/%s", id);
    ck_assert_str_eq(r.location, want);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "scheduled");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "reason")->valuestring, "manual");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "triggered_by")->valuestring, "admin");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "from_node_name")->valuestring, "Node-A");
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "savings_eur_month")->valuedouble, 109.5, 1e-9);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "approved_at")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "created_at")));
    http_resp_t g;
    ck_assert_int_eq(call(&g, "GET", want, VIEWER, NULL), 200);
    ck_assert_str_eq(cJSON_GetObjectItem(g.json, "id")->valuestring, id);
    http_resp_free(&g);
    ck_assert_int_eq(call(&g, "GET", "/api/servers/s1/migrations/active", VIEWER, NULL), 200);
    ck_assert_str_eq(cJSON_GetObjectItem(g.json, "id")->valuestring, id);
    http_resp_free(&g);
    http_resp_free(&r);
}
END_TEST

START_TEST(test_optimizer_creates_suggestions_and_operator_approves_then_cancels) {
    fx_fleet(2);
    http_resp_t r;
    /* triggered_by is derived from the role, never taken from the body: another value is
     * refused with the reason, the role's own is accepted (a record copied back) */
    expect_error("POST", "/api/migrations", OPTIMIZER,
                 "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"savings_eur_hour\":0.2,\"triggered_by\":\"admin\"}",
                 400, "bad_request", "triggered_by: set from the token's role (\"system\"");
    ck_assert_int_eq(call(&r, "POST", "/api/migrations", OPTIMIZER,
                          "{\"server_id\":\"s2\",\"to_node_id\":\"n2\",\"triggered_by\":\"system\"}"),
                     201);
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "triggered_by")->valuestring, "system");
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "POST", "/api/migrations", OPTIMIZER,
                          "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"savings_eur_hour\":0.2}"),
                     201);
    char path[160];
    snprintf(path, sizeof path, "/api/migrations/%s/approve", cJSON_GetObjectItem(r.json, "id")->valuestring);
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "status")->valuestring, "suggested");
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "triggered_by")->valuestring, "system");
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "reason")->valuestring, "cost-optimization");
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "level")->valueint, 1);
    http_resp_free(&r);
    expect_error("POST", path, OPTIMIZER, NULL, 403, "forbidden", "operator");
    ck_assert_int_eq(call(&r, "POST", path, OPERATOR, NULL), 200);
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "status")->valuestring, "approved");
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(r.json, "approved_at")));
    http_resp_free(&r);
    expect_error("POST", path, OPERATOR, NULL, 409, "illegal_transition", "in status approved");
    strcpy(strrchr(path, '/'), "/cancel");
    ck_assert_int_eq(call(&r, "POST", path, OPERATOR, NULL), 200);
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "status")->valuestring, "cancelled");
    http_resp_free(&r);
}
END_TEST

START_TEST(test_list_envelope_filters_and_page_edges) {
    fx_fleet(6);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    fx_drive("s2", MIG_PREPARING, &m);
    fx_drive("s3", MIG_COMPLETED, &m);
    fx_drive("s4", MIG_SUGGESTED, &m);
    fx_drive("s5", MIG_SCHEDULED, &m);
    migration_clear(&m);
    http_resp_t r;
    ck_assert_int_eq(call(&r, "GET", "/api/migrations?status=scheduled,preparing&limit=2", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "limit")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "offset")->valueint, 0);
    const cJSON *items = cJSON_GetObjectItem(r.json, "items");
    ck_assert_int_eq(cJSON_GetArraySize(items), 2);
    /* newest first: s5's migration was created last */
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "server_id")->valuestring, "s5");
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/api/migrations", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 5);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "limit")->valueint, 50);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/api/migrations?offset=10", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 0);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 5);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/api/migrations?limit=0", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 0);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/api/migrations?reason=cost-optimization&server_id=s4", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 1);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/api/servers/s3/migrations", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 1);
    http_resp_free(&r);
    expect_error("GET", "/api/migrations?limit=501", VIEWER, NULL, 400, "bad_request", "limit");
    expect_error("GET", "/api/migrations?limit=ten", VIEWER, NULL, 400, "bad_request", "limit");
    expect_error("GET", "/api/migrations?offset=-1", VIEWER, NULL, 400, "bad_request", "offset");
    expect_error("GET", "/api/migrations?status=scheduled,done", VIEWER, NULL, 400, "bad_request", "status");
    expect_error("GET", "/api/migrations?reason=speed", VIEWER, NULL, 400, "bad_request", "reason");
    expect_error("GET", "/api/servers/nosuch/migrations", VIEWER, NULL, 404, "no_server", "nosuch");
    expect_error("GET", "/api/servers/s6/migrations/active", VIEWER, NULL, 404, "not_found", "no active");
}
END_TEST

START_TEST(test_every_error_code_has_the_json_shape_and_changes_nothing) {
    fx_fleet(3);
    migration_t done, moving;
    migration_init(&done);
    migration_init(&moving);
    fx_drive("s1", MIG_COMPLETED, &done);
    fx_drive("s2", MIG_TRANSFERRING, &moving);
    char *before = fx_snapshot();
    char path[160];
    expect_error("POST", "/api/migrations", OPERATOR, "{not json", 400, "bad_request", "JSON");
    expect_error("POST", "/api/migrations", OPERATOR, "[1,2]", 400, "bad_request", "object");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s3\",\"to_node_id\":\"n2\",\"colour\":1}", 400,
                 "bad_request", "colour");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s3\",\"to_node_id\":\"n2\",\"reason\":\"speed\"}",
                 400, "bad_request", "reason");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s3\"}", 400, "bad_request", "to_node_id");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s3\",\"to_node_id\":\"n1\"}", 400,
                 "bad_request", "already runs on node n1");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"zz\",\"to_node_id\":\"n2\"}", 404,
                 "no_server", "zz");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s3\",\"to_node_id\":\"n9\"}", 404,
                 "no_node", "n9");
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s2\",\"to_node_id\":\"n3\"}", 409,
                 "active_exists", "transferring");
    expect_error("GET", "/api/migrations/0190a0a0-0000-7000-8000-000000000000", VIEWER, NULL, 404, "not_found", NULL);
    expect_error("GET", "/api/migrations/bad%20id", VIEWER, NULL, 400, "bad_request", "id");
    snprintf(path, sizeof path, "/api/migrations/%s/approve", done.id);
    expect_error("POST", path, OPERATOR, NULL, 409, "illegal_transition", "completed");
    snprintf(path, sizeof path, "/api/migrations/%s/cancel", moving.id);
    expect_error("POST", path, OPERATOR, NULL, 409, "illegal_transition", "transferring");
    snprintf(path, sizeof path, "/api/migrations/%s", moving.id);
    expect_error("DELETE", path, OPERATOR, NULL, 409, "not_ended", "transferring");
    expect_error("GET", "/api/migrations", NULL, NULL, 401, "unauthorized", NULL);
    expect_error("GET", "/api/migrations", "wrong-token-123", NULL, 401, "unauthorized", NULL);
    expect_error("GET", "/api/whoami", NULL, NULL, 401, "unauthorized", NULL);
    expect_error("POST", "/api/migrations", VIEWER, "{}", 403, "forbidden", "viewer");
    expect_error("PATCH", "/api/migrations", OPERATOR, NULL, 405, "method_not_allowed", NULL);
    expect_error("GET", "/api/nothing", VIEWER, NULL, 404, "not_found", NULL);
    /* 413: a body over 64 KiB */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 64);
    strcpy(huge, "{\"server_id\":\"s3\",\"to_node_id\":\"n2\",\"notes\":\"");
    size_t n = strlen(huge);
    memset(huge + n, 'x', big);
    strcpy(huge + n + big, "\"}");
    expect_error("POST", "/api/migrations", OPERATOR, huge, 413, "payload_too_large", NULL);
    free(huge);
    /* 415: not JSON */
    http_resp_t r;
    char url[256];
    snprintf(url, sizeof url, "%s/api/migrations", api.base);
    ck_assert_int_eq(http_call("POST", url, OPERATOR, "text/plain", "server_id=s3", &r), 0);
    ck_assert_int_eq(r.status, 415);
    ck_assert_str_eq(err_code(&r), "unsupported_media_type");
    http_resp_free(&r);
    char *after = fx_snapshot();
    ck_assert_msg(strcmp(before, after) == 0, "a refused request changed the database");
    free(before);
    free(after);
    migration_clear(&done);
    migration_clear(&moving);
}
END_TEST

/* `n` copies of `open`, `middle`, then `n` of `close`, as one string; caller frees. */
static char *nest(int n, const char *open, const char *middle, const char *close) {
    size_t lo = strlen(open), lm = strlen(middle), lc = strlen(close);
    char *s = malloc((size_t)n * (lo + lc) + lm + 1);
    ck_assert_ptr_nonnull(s);
    char *p = s;
    for (int i = 0; i < n; i++, p += lo) memcpy(p, open, lo);
    memcpy(p, middle, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc) memcpy(p, close, lc);
    *p = '\0';
    return s;
}

/* cJSON allows 1,000 levels and recurses once per level on a civetweb thread's 100 KiB
 * stack: 990 nested `[` (1,981 bytes) killed migrate-api. Such bodies, and one with bytes
 * after its value, are refused with 400 before anything is parsed or written; the API
 * keeps serving, and brackets inside a string are only text. */
START_TEST(test_deeply_nested_or_trailing_bodies_are_refused_with_400_and_the_api_lives) {
    fx_fleet(2);
    char *before = fx_snapshot();
    char *arrays = nest(990, "[", "\n", "]"); /* the body of the finding, byte for byte */
    ck_assert_uint_eq(strlen(arrays), 1981);
    char *objects = nest(990, "{\"a\":", "{}", "}");
    char *notes33 = nest(32, "[", "", "]"); /* 33 levels with the object around it */
    char *just_over = malloc(strlen(notes33) + 64);
    sprintf(just_over, "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"notes\":%s}", notes33);
    const struct {
        const char *method, *path, *body, *words;
    } cases[] = {
        {"POST", "/api/migrations", arrays, "nested deeper than 32 levels"},
        {"POST", "/api/migrations", objects, "nested deeper than 32 levels"},
        {"PUT", "/api/servers/s1", objects, "nested deeper than 32 levels"},
        {"PUT", "/api/nodes/n1", arrays, "nested deeper than 32 levels"},
        {"POST", "/api/migrations", just_over, "nested deeper than 32 levels"},
        {"POST", "/api/migrations", "{\"server_id\":\"s1\",\"to_node_id\":\"n2\"}x", "after its JSON value"},
        {"POST", "/api/migrations", "{\"server_id\":\"s1\",\"to_node_id\":\"n2\"} {\"server_id\":\"s2\",\"to_node_id\":\"n2\"}",
         "after its JSON value"},
        {"PUT", "/api/servers/s2", "{\"players\":3}]", "after its JSON value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].method, cases[i].path, OPERATOR, cases[i].body, 400, "bad_request", cases[i].words);
    http_resp_t r;
    ck_assert_int_eq(call(&r, "GET", "/healthz", NULL, NULL), 200);
    http_resp_free(&r);
    ck_assert_int_eq(kill(api.pid, 0), 0); /* the same process, still running */
    char *after = fx_snapshot();
    ck_assert_msg(strcmp(before, after) == 0, "a refused body changed the database");
    free(before);
    free(after);
    /* the bound counts nesting, not brackets: 990 of them in a string are notes */
    char *text = nest(990, "[", "", "");
    char *ok = malloc(strlen(text) + 64);
    sprintf(ok, "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"notes\":\"%s\"}", text);
    ck_assert_int_eq(call(&r, "POST", "/api/migrations", OPERATOR, ok), 201);
    ck_assert_str_eq(cJSON_GetObjectItem(r.json, "notes")->valuestring, text);
    http_resp_free(&r);
    free(ok);
    free(text);
    free(just_over);
    free(notes33);
    free(objects);
    free(arrays);
}
END_TEST

START_TEST(test_cooldown_answers_409_with_time_left) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_COMPLETING, &m);
    ck_assert_int_eq(store_complete(fx_rc, m.id, m.lease_token, 1800 * 1000, NULL, &m), 0);
    expect_error("POST", "/api/migrations", OPERATOR, "{\"server_id\":\"s1\",\"to_node_id\":\"n3\"}", 409, "cooldown",
                 "30 min left");
    migration_clear(&m);
}
END_TEST

/* Each role against each mutating endpoint: the status says allowed (2xx/4xx other than
 * 401/403) or refused (403). */
START_TEST(test_whoami_and_role_matrix_of_every_mutating_endpoint) {
    static const struct {
        const char *role, *token;
        int create, approve, cancel, del, put_node, put_server, del_server;
    } roles[] = {
        {"viewer", VIEWER, 0, 0, 0, 0, 0, 0, 0},
        {"optimizer", OPTIMIZER, 1, 0, 0, 0, 1, 1, 1},
        {"operator", OPERATOR, 1, 1, 1, 1, 1, 1, 1},
    };
    for (size_t i = 0; i < 3; i++) {
        freeReplyObject(fx_cmd("FLUSHALL"));
        fx_fleet(4); /* s4 has no migration, so that its delete is allowed */
        migration_t a, b;
        migration_init(&a);
        migration_init(&b);
        fx_drive("s1", MIG_SUGGESTED, &a);
        fx_drive("s2", MIG_COMPLETED, &b);
        char p1[160], p2[160], p3[160];
        snprintf(p1, sizeof p1, "/api/migrations/%s/approve", a.id);
        snprintf(p2, sizeof p2, "/api/migrations/%s/cancel", a.id);
        snprintf(p3, sizeof p3, "/api/migrations/%s", b.id);
        struct {
            const char *method, *path, *body;
            int allowed;
        } calls[] = {
            {"POST", "/api/migrations", "{\"server_id\":\"s3\",\"to_node_id\":\"n2\"}", roles[i].create},
            {"POST", p1, NULL, roles[i].approve},
            {"POST", p2, NULL, roles[i].cancel},
            {"DELETE", p3, NULL, roles[i].del},
            {"PUT", "/api/nodes/n4", "{\"name\":\"Node-D\",\"eur_hour\":0.1,\"healthy\":true}", roles[i].put_node},
            {"PUT", "/api/servers/s9", "{\"name\":\"Server-9\",\"node_id\":\"n1\",\"players\":2}", roles[i].put_server},
            {"DELETE", "/api/servers/s4", NULL, roles[i].del_server},
        };
        /* whoami names the role that the matrix below checks */
        http_resp_t me;
        ck_assert_int_eq(call(&me, "GET", "/api/whoami", roles[i].token, NULL), 200);
        ck_assert_str_eq(cJSON_GetObjectItem(me.json, "role")->valuestring, roles[i].role);
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(me.json, "auth")));
        http_resp_free(&me);
        for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
            http_resp_t r;
            long st = call(&r, calls[c].method, calls[c].path, roles[i].token, calls[c].body);
            if (calls[c].allowed)
                ck_assert_msg(st >= 200 && st < 300, "%s %s %s: %ld %s", roles[i].role, calls[c].method,
                              calls[c].path, st, r.body);
            else
                ck_assert_msg(st == 403, "%s %s %s: %ld, want 403", roles[i].role, calls[c].method, calls[c].path, st);
            http_resp_free(&r);
        }
        migration_clear(&a);
        migration_clear(&b);
    }
}
END_TEST

/* The inventory endpoints, and DELETE /api/servers/:id: refused with 409 while the
 * server's migration has not ended (deleting it would strand its players), changing
 * nothing; once the migration has ended, the server goes with it. */
START_TEST(test_inventory_endpoints_and_server_delete_refused_while_migrating_then_cascades) {
    fx_fleet(2);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_TRANSFERRING, &m);
    http_resp_t r;
    ck_assert_int_eq(call(&r, "GET", "/api/nodes", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 3);
    const cJSON *n1 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "items"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(n1, "name")->valuestring, "Node-A");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(n1, "healthy")));
    ck_assert_double_eq_tol(cJSON_GetObjectItem(n1, "eur_hour")->valuedouble, 0.30, 1e-9);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/api/servers", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "total")->valueint, 2);
    http_resp_free(&r);
    expect_error("PUT", "/api/servers/s1", OPERATOR, "{\"players\":-3}", 400, "bad_request", "players");
    expect_error("PUT", "/api/servers/s7", OPERATOR, "{\"name\":\"x\",\"node_id\":\"n8\"}", 404, "no_node", "n8");
    char *before = fx_snapshot();
    char words[128];
    snprintf(words, sizeof words, "migration %s in status transferring", m.id);
    expect_error("DELETE", "/api/servers/s1", OPERATOR, NULL, 409, "active_exists", words);
    char *after = fx_snapshot();
    ck_assert_msg(strcmp(before, after) == 0, "a refused server delete changed the database");
    free(before);
    free(after);
    ck_assert_int_eq(store_advance(fx_rc, m.id, m.lease_token, MIG_COMPLETING, NULL), 0);
    ck_assert_int_eq(store_complete(fx_rc, m.id, m.lease_token, 0, NULL, NULL), 0);
    ck_assert_int_eq(call(&r, "DELETE", "/api/servers/s1", OPERATOR, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(r.json, "migrations_deleted")->valueint, 1);
    http_resp_free(&r);
    char path[160];
    snprintf(path, sizeof path, "/api/migrations/%s", m.id);
    expect_error("GET", path, VIEWER, NULL, 404, "not_found", NULL);
    expect_error("DELETE", "/api/servers/s1", OPERATOR, NULL, 404, "no_server", NULL);
    migration_clear(&m);
}
END_TEST

START_TEST(test_stats_metrics_health_and_readiness) {
    fx_fleet(3);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_COMPLETED, &m);
    fx_drive("s2", MIG_FAILED, &m);
    fx_drive("s3", MIG_SCHEDULED, &m);
    migration_clear(&m);
    http_resp_t r;
    ck_assert_int_eq(call(&r, "GET", "/api/migrations/stats", VIEWER, NULL), 200);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "by_status"), "completed")->valueint, 1);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(r.json, "success_rate")->valuedouble, 0.5, 1e-9);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(r.json, "total_savings_eur_month")->valuedouble, 109.5, 1e-9);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "failures_by_reason"), "sync")->valueint, 1);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/metrics", NULL, NULL), 200);
    const char *want[] = {"# TYPE mig_migrations gauge", "mig_migrations{status=\"completed\"} 1",
                          "mig_success_ratio 0.5", "mig_failures_total{reason=\"sync\"} 1",
                          "mig_savings_eur_month_total 109.50", "mig_ready_queue_length 0",
                          "mig_active_leases 0", "mig_websocket_clients 0",
                          "mig_http_requests_total{route=\"/api/migrations/stats\",method=\"GET\",code=\"200\"} 1"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(r.body, want[i]) != NULL, "metrics lack %s", want[i]);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/healthz", NULL, NULL), 200);
    http_resp_free(&r);
    ck_assert_int_eq(call(&r, "GET", "/readyz", NULL, NULL), 200);
    http_resp_free(&r);
}
END_TEST

/* The series of mig_http_requests_total in a /metrics text, the sum of their counts in
 * *sum, and whether any has `label`. */
static int request_series(const char *text, const char *label, long long *sum, int *has_label) {
    int n = 0;
    *sum = 0;
    *has_label = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (strncmp(line, "mig_http_requests_total{", 24) == 0) {
            n++;
            *sum += atoll(memrchr(line, ' ', len));
            if (memmem(line, len, label, strlen(label))) *has_label = 1;
        }
        if (end == NULL) break;
        line = end + 1;
    }
    return n;
}

/* GET /metrics (into `r`) once the counters hold at least `want` requests: a request is
 * counted after its answer has gone out, so the text is read again until the count
 * catches up. Each read counts one more; *want follows. */
static void metrics_counted(http_resp_t *r, long long *want) {
    long long end = timefmt_mono_ms() + 5000;
    for (;;) {
        ck_assert_int_eq(call(r, "GET", "/metrics", NULL, NULL), 200);
        long long sum;
        int has;
        request_series(r->body, "", &sum, &has);
        if (sum >= *want) break;
        ck_assert_msg(timefmt_mono_ms() < end, "the counters hold %lld requests, not %lld", sum, *want);
        http_resp_free(r);
        ++*want;
    }
    ++*want;
}

/* Request counters are labelled from the code's own values: a method outside HTTP's
 * own counts as method="other", a path outside the route table as route="unmatched".
 * The label once copied the client's method into 8 bytes, so each PROPFIND added a
 * series that never matched again: 62,000 requests, 62,000 series. Here 3 times as many
 * distinct requests as in a first round, with the same odd methods and new random
 * paths, add no series, and /metrics grows by no more than its counters' digits. */
START_TEST(test_request_counters_stay_bounded_under_odd_methods_and_random_paths) {
    /* WebDAV's methods that civetweb hands to the API (it answers those it does not know
     * itself, with 400, and COPY and MOVE without a Destination), and HTTP's own */
    static const char *const methods[] = {"PROPFIND", "PROPPATCH", "MKCOL", "LOCK",  "UNLOCK", "REPORT",
                                          "GET",      "POST",      "PUT",   "PATCH", "DELETE", "OPTIONS"};
    const int nm = (int)(sizeof methods / sizeof methods[0]);
    unsigned seed = 20261207;
    http_resp_t r;
    long long want, sum;
    int series[2], other = 0, unmatched = 0, cut = 0, any;
    ck_assert_int_eq(call(&r, "GET", "/metrics", NULL, NULL), 200);
    request_series(r.body, "", &want, &any); /* the requests of the tests before this one */
    want++;                                  /* and this read */
    http_resp_free(&r);
    size_t size[2];
    for (int round = 0; round < 2; round++) {
        int n = round == 0 ? 8 * nm : 24 * nm; /* every method on every kind of path, then 3 times more */
        for (int i = 0; i < n; i++) {
            char path[96];
            switch (i / nm % 3) { /* each method meets each kind of path */
            case 0: snprintf(path, sizeof path, "/api/x%08x", (unsigned)rand_r(&seed)); break;
            case 1: snprintf(path, sizeof path, "/api/migrations/%08x/frob", (unsigned)rand_r(&seed)); break;
            default: snprintf(path, sizeof path, "/api/migrations?q=%08x", (unsigned)rand_r(&seed)); break;
            }
            call(&r, methods[i % nm], path, VIEWER, NULL); /* 404, 405, 403 or 200: each is counted */
            http_resp_free(&r);
        }
        want += n;
        metrics_counted(&r, &want);
        size[round] = strlen(r.body);
        series[round] = request_series(r.body, "method=\"other\"", &sum, &other);
        request_series(r.body, "route=\"unmatched\"", &sum, &unmatched);
        request_series(r.body, "method=\"PROPFIN\"", &sum, &cut);
        ck_assert_msg(!cut, "a method was cut to 7 bytes");
        http_resp_free(&r);
    }
    ck_assert_msg(other && unmatched, "no method=\"other\" or route=\"unmatched\" series");
    ck_assert_msg(series[1] == series[0], "%d more requests made %d series into %d", 24 * nm, series[0], series[1]);
    ck_assert_msg(size[1] < size[0] + 256, "/metrics grew from %zu to %zu bytes", size[0], size[1]);
}
END_TEST

START_TEST(test_redis_down_answers_503_and_recovers) {
    /* a redis of its own, so stopping it does not disturb the case's */
    harness_redis_t own;
    ck_assert_int_eq(harness_redis_start(&own, NULL), 0);
    api_proc_t a;
    ck_assert_int_eq(api_proc_start(&a, own.url, NULL, own.dir, 0), 0);
    char url[256];
    http_resp_t r;
    snprintf(url, sizeof url, "%s/api/migrations", a.base);
    ck_assert_int_eq(http_call("GET", url, NULL, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    kill(own.pid, SIGKILL);
    harness_wait(own.pid, 5000);
    own.pid = 0;
    ck_assert_int_eq(http_call("GET", url, NULL, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(err_code(&r), "unavailable");
    http_resp_free(&r);
    snprintf(url, sizeof url, "%s/readyz", a.base);
    ck_assert_int_eq(http_call("GET", url, NULL, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 503);
    http_resp_free(&r);
    snprintf(url, sizeof url, "%s/healthz", a.base);
    ck_assert_int_eq(http_call("GET", url, NULL, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    int st = api_proc_stop(&a);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "migrate-api did not exit 0 on SIGTERM");
    harness_redis_stop(&own);
}
END_TEST

START_TEST(test_refuses_non_loopback_listen_without_tokens) {
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], log[300];
    snprintf(bin, sizeof bin, "%s/migrate-api", bindir);
    snprintf(log, sizeof log, "%s/refuse.log", fx_redis.dir);
    const char *argv[] = {bin, "--api-listen=0.0.0.0:0", "--redis-url", fx_redis.url, NULL};
    pid_t pid = harness_spawn(argv, log);
    int st = harness_wait(pid, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "did not refuse");
}
END_TEST

/* A Redis that holds a newer function library (a later release rolled out first): each
 * program refuses to start with it, with exit status 1 and the reason in its log,
 * instead of running and failing every call; and the library is left as it was. */
START_TEST(test_every_program_exits_1_when_redis_holds_a_newer_library) {
    harness_redis_t own;
    ck_assert_int_eq(harness_redis_start(&own, NULL), 0);
    redisReply *r = harness_redis_cmd(&own, "FUNCTION LOAD %s",
                                      "#!lua name=mig\nredis.register_function{function_name='mig_version', "
                                      "callback=function() return '99:0000000000000000' end, flags={'no-writes'}}");
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING, "FUNCTION LOAD: %s", r ? r->str : "no reply");
    freeReplyObject(r);
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    const char *progs[][2] = {{"migrate-api", "--api-listen=127.0.0.1:0"},
                              {"migrate-scheduler", NULL},
                              {"migrate-worker", "--driver-node-url=http://127.0.0.1:9/nodes/{node_id}"},
                              {"fleet-sim", "--sim-listen=127.0.0.1:0"}};
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
        char bin[300], log[400];
        snprintf(bin, sizeof bin, "%s/%s", bindir, progs[i][0]);
        snprintf(log, sizeof log, "%s/%s.log", own.dir, progs[i][0]);
        const char *argv[] = {bin, "--redis-url", own.url, progs[i][1], NULL};
        pid_t pid = harness_spawn(argv, log);
        ck_assert_int_gt(pid, 0);
        int st = harness_wait(pid, 10000);
        if (st == -1) {
            kill(pid, SIGKILL);
            harness_wait(pid, 5000);
        }
        ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s did not exit 1 (%d); see %s",
                      progs[i][0], st, log);
        FILE *f = fopen(log, "r");
        ck_assert_ptr_nonnull(f);
        char line[1024];
        int said = 0;
        while (fgets(line, sizeof line, f))
            said |= strstr(line, "library_refused") != NULL && strstr(line, "newer than this binary") != NULL;
        fclose(f);
        ck_assert_msg(said, "%s exited without saying why; see %s", progs[i][0], log);
    }
    r = harness_redis_cmd(&own, "FCALL_RO mig_version 0");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->str, "99:0000000000000000");
    freeReplyObject(r);
    harness_redis_stop(&own);
}
END_TEST

Suite *suite_api(void) {
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_unchecked_fixture(tc, api_up, api_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_manual_migration_answers_201_with_location_and_record);
    tcase_add_test(tc, test_optimizer_creates_suggestions_and_operator_approves_then_cancels);
    tcase_add_test(tc, test_list_envelope_filters_and_page_edges);
    tcase_add_test(tc, test_every_error_code_has_the_json_shape_and_changes_nothing);
    tcase_add_test(tc, test_deeply_nested_or_trailing_bodies_are_refused_with_400_and_the_api_lives);
    tcase_add_test(tc, test_cooldown_answers_409_with_time_left);
    tcase_add_test(tc, test_whoami_and_role_matrix_of_every_mutating_endpoint);
    tcase_add_test(tc, test_inventory_endpoints_and_server_delete_refused_while_migrating_then_cascades);
    tcase_add_test(tc, test_stats_metrics_health_and_readiness);
    tcase_add_test(tc, test_request_counters_stay_bounded_under_odd_methods_and_random_paths);
    tcase_add_test(tc, test_redis_down_answers_503_and_recovers);
    tcase_add_test(tc, test_refuses_non_loopback_listen_without_tokens);
    tcase_add_test(tc, test_every_program_exits_1_when_redis_holds_a_newer_library);
    suite_add_tcase(s, tc);
    return s;
}
