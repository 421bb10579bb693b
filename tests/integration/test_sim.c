/* test_sim.c - bin/fleet-sim as a process against a real redis-server: the driver
 * contract over HTTP (capacity, idempotency, sync times and deltas, quiesce, transfers,
 * a whole migration by hand, fencing tokens), faults (held calls among them), the
 * control endpoints, the inventory in Redis and the cost optimizer at levels 1 and 2. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"
#include "tests/support/http_client.h"

/* The fleet of every test: n1 dear and big, n2 cheap and small, n3 in between.
 *   s1 Server-1 on n1: 4 GB, a 2000 MB world dirtied at 10 MB/s, Alice, Bob and Carol
 *   s2 Server-2 on n1: 8 GB, 1000 MB, 1 MB/s, nobody
 *   s3 Server-3 on n3: 2 GB, 500 MB, nobody */
static const char FLEET[] =
    "{\"nodes\":["
    "{\"id\":\"n1\",\"name\":\"Node-A\",\"address\":\"127.0.1.1\",\"eur_hour\":0.40,\"ram_total_mb\":65536,"
    "\"disk_total_mb\":500000},"
    "{\"id\":\"n2\",\"name\":\"Node-B\",\"address\":\"127.0.1.2\",\"eur_hour\":0.10,\"ram_total_mb\":16384,"
    "\"disk_total_mb\":100000},"
    "{\"id\":\"n3\",\"name\":\"Node-C\",\"address\":\"127.0.1.3\",\"eur_hour\":0.25,\"ram_total_mb\":65536,"
    "\"disk_total_mb\":500000}],"
    "\"servers\":["
    "{\"id\":\"s1\",\"name\":\"Server-1\",\"node_id\":\"n1\",\"ram_mb\":4096,\"disk_mb\":2000,\"write_mb_s\":10,"
    "\"players\":[\"Alice\",\"Bob\",\"Carol\"]},"
    "{\"id\":\"s2\",\"name\":\"Server-2\",\"node_id\":\"n1\",\"ram_mb\":8192,\"disk_mb\":1000,\"write_mb_s\":1},"
    "{\"id\":\"s3\",\"name\":\"Server-3\",\"node_id\":\"n3\",\"ram_mb\":2048,\"disk_mb\":500}]}";

#define MB 1048576.0

/* The fleet-sim process of a test. */
static struct {
    pid_t pid;
    int port;
    char base[64];
    char log[320];
} sim;

/* Reads the port from the "sim.started" log line. */
static int port_from_log(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    char line[4096];
    int port = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "\"sim.started\"")) {
            const char *p = strstr(line, "\"port\":\"");
            if (p) port = atoi(p + 8);
        }
    fclose(f);
    return port;
}

/* Starts bin/fleet-sim on a free port with the fleet `fleet_json` and `extra` flags
 * (NULL-terminated, may be NULL), and waits for its port. */
static void sim_start_fleet(const char *fleet_json, const char *const *extra) {
    memset(&sim, 0, sizeof sim);
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], fleet[320], fleet_flag[340], url[340];
    snprintf(bin, sizeof bin, "%s/fleet-sim", bindir);
    snprintf(fleet, sizeof fleet, "%s/fleet-%d.json", fx_redis.dir, (int)getpid());
    FILE *f = fopen(fleet, "w");
    ck_assert_ptr_nonnull(f);
    fputs(fleet_json, f);
    fclose(f);
    snprintf(fleet_flag, sizeof fleet_flag, "--sim-fleet=%s", fleet);
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    snprintf(sim.log, sizeof sim.log, "%s/sim-%d.log", fx_redis.dir, (int)getpid());
    const char *argv[32] = {bin, url, fleet_flag, "--sim-listen=127.0.0.1:0", "--log-level=debug"};
    int n = 5;
    for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    sim.pid = harness_spawn(argv, sim.log);
    ck_assert_int_gt(sim.pid, 0);
    for (int i = 0; i < 1000 && (sim.port = port_from_log(sim.log)) == 0; i++) {
        ck_assert_msg(harness_wait(sim.pid, 0) == -1, "fleet-sim exited; see %s", sim.log);
        timefmt_sleep_ms(10);
    }
    ck_assert_msg(sim.port > 0, "fleet-sim did not log its port; see %s", sim.log);
    snprintf(sim.base, sizeof sim.base, "http://127.0.0.1:%d", sim.port);
}

/* The same with the fleet of every test. */
static void sim_start(const char *const *extra) {
    sim_start_fleet(FLEET, extra);
}

/* SIGTERM; the process must end by itself with status 0. */
static void sim_stop(void) {
    ck_assert_int_gt(sim.pid, 0);
    kill(sim.pid, SIGTERM);
    int st = harness_wait(sim.pid, 10000);
    if (st == -1) kill(sim.pid, SIGKILL);
    ck_assert_msg(st != -1, "fleet-sim did not stop on SIGTERM");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fleet-sim ended with status %d; see %s", st, sim.log);
    sim.pid = 0;
}

/* ------------------------------------------------------------------------ HTTP */

typedef struct {
    char *s;
    size_t n;
} buf_t;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
    buf_t *b = ud;
    size_t n = size * nmemb;
    char *s = realloc(b->s, b->n + n + 1);
    if (s == NULL) return 0;
    memcpy(s + b->n, p, n);
    b->s = s;
    b->n += n;
    s[b->n] = '\0';
    return n;
}

/* The fencing token of every call of a migration in these tests unless a test says
 * otherwise: the lease token of a first claim. */
#define TOKEN "1"

/* Why the last request() of this thread did not reach the simulator. */
static _Thread_local char unreached[CURL_ERROR_SIZE];

/* Calls the simulator at `path` with an Idempotency-Key `key` (may be NULL), a
 * Fencing-Token `token` (NULL: no header; "": the header with an empty value) and a JSON
 * `body` (may be NULL). Returns the status with the answer in `r`, or -1 when the
 * simulator was not reached (why in `unreached`). Asserts nothing, so a thread of a
 * test may call it. */
static long request(http_resp_t *r, const char *method, const char *path, const char *key, const char *token,
                    const char *body) {
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (c == NULL) return -1;
    char url[512], idem[200], fence[120];
    snprintf(url, sizeof url, "%s%s", sim.base, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (key) {
        snprintf(idem, sizeof idem, "Idempotency-Key: %s", key);
        h = curl_slist_append(h, idem);
    }
    if (token) {
        /* curl drops "Name:" with nothing after it; "Name;" sends the header empty */
        if (*token) snprintf(fence, sizeof fence, "Fencing-Token: %s", token);
        else snprintf(fence, sizeof fence, "Fencing-Token;");
        h = curl_slist_append(h, fence);
    }
    buf_t b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->body = b.s;
    if (cc != CURLE_OK) {
        snprintf(unreached, sizeof unreached, "%s", curl_easy_strerror(cc));
        return r->status = -1;
    }
    r->json = cJSON_Parse(b.s);
    return r->status;
}

/* Calls with `token` (see request()) and expects `status`; returns the parsed answer
 * (caller deletes; may be NULL). */
static cJSON *expect_fenced(long status, const char *method, const char *path, const char *key, const char *token,
                            const char *body) {
    http_resp_t r;
    long got = request(&r, method, path, key, token, body);
    ck_assert_msg(got != -1, "%s %s: %s", method, path, unreached);
    ck_assert_msg(got == status, "%s %s (token %s): %ld, want %ld: %s", method, path, token ? token : "none", got,
                  status, r.body);
    cJSON *j = r.json;
    r.json = NULL;
    http_resp_free(&r);
    return j;
}

/* Calls and expects `status`; returns the parsed answer (caller deletes; may be NULL).
 * A call of a migration (`key` given) carries TOKEN. */
static cJSON *expect(long status, const char *method, const char *path, const char *key, const char *body) {
    return expect_fenced(status, method, path, key, key ? TOKEN : NULL, body);
}

/* The message of an error answer `j` after checking its `code`. Borrowed from `j`. */
static const char *error_of(const cJSON *j, const char *code, const char *method, const char *path) {
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    ck_assert_msg(e && cJSON_IsString(cJSON_GetObjectItem(e, "message")), "%s %s: not an error body", method, path);
    ck_assert_str_eq(cJSON_GetObjectItem(e, "code")->valuestring, code);
    return cJSON_GetObjectItem(e, "message")->valuestring;
}

/* Expects an error answer with `status` and `code`. */
static void expect_error(long status, const char *code, const char *method, const char *path, const char *key,
                         const char *body) {
    cJSON *j = expect(status, method, path, key, body);
    error_of(j, code, method, path);
    cJSON_Delete(j);
}

/* The same with `token`; returns the message (caller frees). */
static char *expect_fenced_error(long status, const char *code, const char *method, const char *path,
                                 const char *key, const char *token, const char *body) {
    cJSON *j = expect_fenced(status, method, path, key, token, body);
    char *msg = strdup(error_of(j, code, method, path));
    cJSON_Delete(j);
    return msg;
}

static double num(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(j, k);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", k);
    return v->valuedouble;
}

static const char *str(const cJSON *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(j, k);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", k);
    return v->valuestring;
}

/* The element of array `arr` of the state whose "id" (or `key`) is `id`. */
static const cJSON *find(const cJSON *state, const char *arr, const char *key, const char *id) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(state, arr)) {
        const cJSON *v = cJSON_GetObjectItem(e, key);
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0) return e;
    }
    return NULL;
}

/* Polls GET /v1/sync/{id} on `node` until done; returns the last answer (caller
 * deletes). */
static cJSON *sync_wait(const char *node, const char *sync_id) {
    char path[128];
    snprintf(path, sizeof path, "/nodes/%s/v1/sync/%s", node, sync_id);
    for (int i = 0; i < 3000; i++) {
        cJSON *j = expect(200, "GET", path, NULL, NULL);
        ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(j, "error")), "sync %s failed", sync_id);
        if (cJSON_IsTrue(cJSON_GetObjectItem(j, "done"))) return j;
        cJSON_Delete(j);
        timefmt_sleep_ms(5);
    }
    ck_abort_msg("sync %s did not finish", sync_id);
    return NULL;
}

/* Starts pass `pass` of s1 from n1 to n2 for migration `mid` and waits for it. */
static cJSON *sync_pass(const char *mid, int pass, bool final) {
    char body[256], id[64];
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"%s\",\"source_node_id\":\"n1\",\"source_address\":"
             "\"127.0.1.1\",\"pass\":%d,\"final\":%s}",
             mid, pass, final ? "true" : "false");
    cJSON *j = expect(202, "POST", "/nodes/n2/v1/sync", mid, body);
    snprintf(id, sizeof id, "%s.%d", mid, pass);
    ck_assert_str_eq(str(j, "sync_id"), id);
    cJSON_Delete(j);
    return sync_wait("n2", id);
}

/* HGET of the inventory. Caller frees. */
static char *hget(const char *key, const char *field) {
    redisReply *r = fx_cmd("HGET mig:%s %s", key, field);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

static void expect_field(const char *key, const char *field, const char *want) {
    char *v = hget(key, field);
    ck_assert_msg(v && strcmp(v, want) == 0, "%s.%s is %s, want %s", key, field, v ? v : "(nil)", want);
    free(v);
}

/* Every migration in `status`, newest first. */
static void migrations_in(const char *status, store_page_t *page) {
    store_query_t q = {.statuses = status, .limit = 100};
    ck_assert_int_eq(store_list_migrations(fx_rc, &q, page), 0);
}

/* ------------------------------------------------------------------------ tests */

START_TEST(test_sim_serves_every_node_and_writes_the_inventory) {
    sim_start(NULL);
    cJSON *j = expect(200, "GET", "/nodes/n1/v1/health", NULL, NULL);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "healthy")));
    ck_assert_int_eq((int)num(j, "ram_free_mb"), 65536 - 4096 - 8192);
    cJSON_Delete(j);
    expect_error(404, "unknown_node", "GET", "/nodes/n9/v1/health", NULL, NULL);
    expect_error(404, "not_found", "GET", "/nodes/n1/v1/nothing", NULL, NULL);
    expect_error(405, "method_not_allowed", "PUT", "/nodes/n1/v1/health", NULL, NULL);
    j = expect(200, "GET", "/proxy/v1/servers/Server-1/players", NULL, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "players")), 3);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "players"), 0)->valuestring, "Alice");
    cJSON_Delete(j);
    j = expect(200, "GET", "/nodes/n1/v1/containers/s1", NULL, NULL);
    ck_assert_str_eq(str(j, "state"), "running");
    ck_assert_int_eq((int)num(j, "players"), 3);
    cJSON_Delete(j);

    expect(204, "POST", "/control/report", NULL, NULL);
    expect_field("node:n1", "name", "Node-A");
    expect_field("node:n1", "address", "127.0.1.1");
    expect_field("node:n1", "healthy", "1");
    expect_field("node:n1", "ram_total_mb", "65536");
    expect_field("node:n1", "ram_free_mb", "53248");
    expect_field("node:n1", "disk_free_mb", "497000");
    expect_field("node:n1", "eur_hour", "0.4");
    expect_field("server:s1", "node_id", "n1");
    expect_field("server:s1", "players", "3");
    expect_field("server:s1", "idle_since", "0");
    expect_field("server:s1", "state", "running");
    expect_field("server:s1", "ram_mb", "4096");
    expect_field("server:s1", "disk_mb", "2000");
    char *idle = hget("server:s2", "idle_since");
    ck_assert_ptr_nonnull(idle);
    long long since = atoll(idle);
    free(idle);
    ck_assert_msg(since > timefmt_now_ms() - 60000 && since <= timefmt_now_ms(), "idle_since %lld", since);
    sim_stop();
}
END_TEST

/* A node the inventory refuses (more RAM than it accepts) is logged under its own id,
 * and the nodes after it are still written: one bad row does not stop the pass. */
START_TEST(test_a_refused_node_is_logged_as_such_and_the_others_are_still_written) {
    sim_start_fleet("{\"nodes\":["
                    "{\"id\":\"n1\",\"name\":\"Node-A\",\"eur_hour\":0.4,\"ram_total_mb\":2000000000,\"disk_total_mb\":1000},"
                    "{\"id\":\"n2\",\"name\":\"Node-B\",\"eur_hour\":0.1,\"ram_total_mb\":16384,\"disk_total_mb\":100000}],"
                    "\"servers\":[{\"id\":\"s1\",\"name\":\"Server-1\",\"node_id\":\"n2\",\"ram_mb\":1024,\"disk_mb\":100}]}",
                    NULL);
    char url[128];
    snprintf(url, sizeof url, "%s/control/report", sim.base);
    http_resp_t r;
    ck_assert_int_eq(http_call("POST", url, NULL, NULL, NULL, &r), 0);
    ck_assert_int_ge(r.status, 500); /* the inventory does not hold the whole fleet */
    http_resp_free(&r);
    expect_field("node:n2", "name", "Node-B");
    expect_field("server:s1", "node_id", "n2");
    char *n1 = hget("node:n1", "name");
    ck_assert_ptr_null(n1);
    FILE *f = fopen(sim.log, "r");
    ck_assert_ptr_nonnull(f);
    char line[2048];
    int said = 0;
    while (fgets(line, sizeof line, f))
        said |= strstr(line, "\"sim.inventory_refused\"") && strstr(line, "\"node_id\":\"n1\"") &&
                strstr(line, "ram_total_mb");
    fclose(f);
    ck_assert_msg(said, "no sim.inventory_refused for n1 naming ram_total_mb in %s", sim.log);
    sim_stop();
}
END_TEST

START_TEST(test_container_create_checks_capacity_and_is_idempotent_by_migration) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    expect_error(507, "insufficient_ram", "POST", "/nodes/n2/v1/containers", "m1",
                 "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":20000,\"disk_mb\":2000}");
    expect_error(507, "disk_full", "POST", "/nodes/n2/v1/containers", "m1",
                 "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":4096,\"disk_mb\":200000}");
    const char *body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":4096,\"disk_mb\":2000}";
    cJSON *j = expect(201, "POST", "/nodes/n2/v1/containers", "m1", body);
    ck_assert_str_eq(str(j, "server_id"), "s1");
    ck_assert_str_eq(str(j, "state"), "created");
    cJSON_Delete(j);
    cJSON_Delete(expect(200, "POST", "/nodes/n2/v1/containers", "m1", body));
    expect_error(409, "exists", "POST", "/nodes/n2/v1/containers", "m2",
                 "{\"server_id\":\"s1\",\"migration_id\":\"m2\"}");
    expect_error(409, "exists", "POST", "/nodes/n1/v1/containers", "m1", body);
    expect_error(404, "unknown_server", "POST", "/nodes/n2/v1/containers", "m1", "{\"server_id\":\"s9\"}");
    expect_error(400, "bad_request", "POST", "/nodes/n2/v1/containers", NULL, "{\"server_id\":\"s1\"}");
    /* the reservation shows in health and in the inventory */
    j = expect(200, "GET", "/nodes/n2/v1/health", NULL, NULL);
    ck_assert_int_eq((int)num(j, "ram_free_mb"), 16384 - 4096);
    cJSON_Delete(j);
    expect(204, "POST", "/control/report", NULL, NULL);
    expect_field("node:n2", "ram_free_mb", "12288");
    expect_field("node:n2", "disk_free_mb", "98000");
    j = expect(200, "GET", "/nodes/n2/v1/containers/s1", "m1", NULL);
    ck_assert_str_eq(str(j, "state"), "created");
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(j, "healthy")));
    cJSON_Delete(j);
    cJSON_Delete(expect(204, "DELETE", "/nodes/n2/v1/containers/s1", "m1", NULL));
    expect_error(404, "not_found", "DELETE", "/nodes/n2/v1/containers/s1", "m1", NULL);
    expect_error(404, "not_found", "GET", "/nodes/n2/v1/containers/s1", "m1", NULL);
    sim_stop();
}
END_TEST

START_TEST(test_sync_takes_world_size_over_bandwidth) {
    /* 2000 MB at 100 MB/s: 20 simulated s, 2 real s at speed 10 */
    sim_start((const char *const[]){"--sim-speed=10", "--sim-bandwidth-mbps=100", "--sim-start-ms=0", NULL});
    cJSON_Delete(expect(201, "POST", "/nodes/n2/v1/containers", "m1", "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}"));
    int64_t t0 = timefmt_mono_ms();
    cJSON *j = sync_pass("m1", 1, false);
    int64_t real = timefmt_mono_ms() - t0;
    ck_assert_double_eq(num(j, "bytes_total"), 2000 * MB);
    ck_assert_double_eq(num(j, "bytes_done"), 2000 * MB);
    ck_assert_int_eq((int)num(j, "progress"), 100);
    double sim_ms = num(j, "ended_ms") - num(j, "began_ms");
    ck_assert_msg(sim_ms >= 19999 && sim_ms <= 20001, "pass took %.0f sim ms", sim_ms);
    /* The simulated clock is the monotonic clock times the speed, so 20 simulated s cannot
     * pass in under 2 real s (less a ms of rounding): a lower bound that cannot flake. No
     * upper bound: how much longer it takes measures the machine's load, not the sim. */
    ck_assert_msg(real >= 1990, "pass took %lld real ms", (long long)real);
    /* the source kept running: dirty bytes at 10 MB/s over the pass */
    ck_assert_msg(num(j, "dirty_bytes") >= 199 * MB, "dirty %.0f", num(j, "dirty_bytes"));
    cJSON_Delete(j);
    /* mid-way progress is honest: in one state, one instant of the model, the bytes done
     * are the simulated time since the pass began times the bandwidth, however long the
     * test took to look (an assertion on "still mid-way" would measure the machine) */
    cJSON_Delete(expect(201, "POST", "/nodes/n2/v1/containers", "m2", "{\"server_id\":\"s2\",\"migration_id\":\"m2\"}"));
    cJSON_Delete(expect(202, "POST", "/nodes/n2/v1/sync", "m2",
                        "{\"server_id\":\"s2\",\"migration_id\":\"m2\",\"source_node_id\":\"n1\",\"pass\":1}"));
    timefmt_sleep_ms(300); /* of the 1 s the pass takes: 3 simulated s at least, 30 % */
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    const cJSON *sy = find(st, "syncs", "sync_id", "m2.1");
    ck_assert_ptr_nonnull(sy);
    double copied = fmin(1000 * MB, (num(st, "now_ms") - num(sy, "began_ms")) / 1000 * 100 * MB);
    ck_assert_double_eq_tol(num(sy, "bytes_done"), copied, 1 * MB);
    ck_assert_double_eq_tol(num(sy, "progress"), num(sy, "bytes_done") / (1000 * MB) * 100, 1);
    ck_assert_msg(num(sy, "progress") >= 29, "progress %.0f after 3 simulated s", num(sy, "progress"));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(sy, "done")) == (num(sy, "progress") == 100));
    cJSON_Delete(st);
    j = expect(200, "GET", "/nodes/n2/v1/sync/m2.1", NULL, NULL);
    ck_assert_double_eq(num(j, "bytes_total"), 1000 * MB);
    cJSON_Delete(j);
    expect_error(404, "not_found", "GET", "/nodes/n2/v1/sync/m9.1", NULL, NULL);
    sim_stop();
}
END_TEST

START_TEST(test_deltas_shrink_and_quiesce_stops_the_dirt) {
    sim_start((const char *const[]){"--sim-speed=20", "--sim-bandwidth-mbps=100", "--sim-start-ms=0", NULL});
    cJSON_Delete(expect(201, "POST", "/nodes/n2/v1/containers", "m1", "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}"));
    double sizes[4];
    for (int pass = 1; pass <= 3; pass++) {
        cJSON *j = sync_pass("m1", pass, false);
        sizes[pass] = num(j, "bytes_total");
        cJSON_Delete(j);
    }
    /* 10 MB/s against 100 MB/s: each delta about a tenth of the pass before */
    ck_assert_double_eq(sizes[1], 2000 * MB);
    ck_assert_msg(sizes[2] >= 200 * MB && sizes[2] < 400 * MB, "pass 2: %.0f MB", sizes[2] / MB);
    ck_assert_msg(sizes[3] < sizes[2] / 3, "pass 3: %.0f MB after %.0f", sizes[3] / MB, sizes[2] / MB);
    cJSON *j = expect(200, "POST", "/nodes/n1/v1/containers/s1/quiesce", "m1", "{\"save\":\"off\"}");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "flushed")));
    cJSON_Delete(j);
    j = sync_pass("m1", 4, true);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "final")));
    ck_assert_msg(num(j, "bytes_total") <= sizes[3] * 2, "final pass %.0f MB", num(j, "bytes_total") / MB);
    cJSON_Delete(j);
    timefmt_sleep_ms(300); /* 6 simulated s of a quiesced server: nothing dirtied */
    j = expect(200, "GET", "/nodes/n2/v1/sync/m1.4", NULL, NULL);
    ck_assert_double_eq(num(j, "dirty_bytes"), 0);
    cJSON_Delete(j);
    /* a pass may not begin while the previous one copies; a repeat answers the same */
    cJSON_Delete(expect(202, "POST", "/nodes/n2/v1/sync", "m1",
                        "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n1\",\"pass\":4}"));
    expect_error(404, "source_not_found", "POST", "/nodes/n1/v1/sync", "m1",
                 "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n3\",\"pass\":1}");
    expect_error(409, "no_container", "POST", "/nodes/n3/v1/sync", "m1",
                 "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n1\",\"pass\":1}");
    j = expect(200, "POST", "/nodes/n1/v1/containers/s1/quiesce", "m1", "{\"save\":\"on\"}");
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(j, "flushed")));
    cJSON_Delete(j);
    sim_stop();
}
END_TEST

START_TEST(test_a_migration_by_hand_moves_the_named_players_to_the_new_node) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    const char *key = "m1";
    cJSON_Delete(expect(201, "POST", "/nodes/n2/v1/containers", key,
                        "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":4096,\"disk_mb\":2000}"));
    cJSON_Delete(sync_pass(key, 1, false));
    cJSON *j = expect(201, "POST", "/proxy/v1/waiting-rooms", key, "{\"name\":\"wait-m1\"}");
    ck_assert_str_eq(str(j, "name"), "wait-m1");
    cJSON_Delete(j);
    cJSON_Delete(expect(200, "POST", "/proxy/v1/waiting-rooms", key, "{\"name\":\"wait-m1\"}"));
    const char *out = "{\"from\":\"Server-1\",\"to\":\"wait-m1\",\"message\":\"Server wird migriert... bitte warten\"}";
    j = expect(200, "POST", "/proxy/v1/transfers", key, out);
    char *moved = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "moved"));
    ck_assert_str_eq(moved, "[\"Alice\",\"Bob\",\"Carol\"]");
    cJSON_Delete(j);
    /* a retry answers as the first did */
    j = expect(200, "POST", "/proxy/v1/transfers", key, out);
    char *again = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "moved"));
    ck_assert_str_eq(again, moved);
    free(again);
    cJSON_Delete(j);
    j = expect(200, "GET", "/proxy/v1/servers/Server-1/players", NULL, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "players")), 0);
    cJSON_Delete(j);
    j = expect(200, "POST", "/nodes/n1/v1/containers/s1/quiesce", key, "{\"save\":\"off\"}");
    cJSON_Delete(j);
    cJSON_Delete(sync_pass(key, 2, true));
    j = expect(200, "POST", "/nodes/n1/v1/containers/s1/stop", key, NULL);
    ck_assert_str_eq(str(j, "state"), "stopped");
    cJSON_Delete(j);
    /* back before the proxy leads to the new node: refused, nobody lost */
    expect_error(409, "target_down", "POST", "/proxy/v1/transfers", key,
                 "{\"from\":\"wait-m1\",\"to\":\"Server-1\",\"message\":\"\"}");
    j = expect(200, "POST", "/nodes/n2/v1/containers/s1/start", key, NULL);
    ck_assert_str_eq(str(j, "state"), "running");
    cJSON_Delete(j);
    j = expect(200, "GET", "/nodes/n2/v1/containers/s1", key, NULL);
    char put[200], address[64];
    snprintf(address, sizeof address, "%s", str(j, "address"));
    ck_assert_msg(strncmp(address, "127.0.1.2:", 10) == 0, "address %s", address);
    cJSON_Delete(j);
    snprintf(put, sizeof put, "{\"address\":\"%s\"}", address);
    j = expect(200, "PUT", "/proxy/v1/servers/Server-1", key, put);
    ck_assert_str_eq(str(j, "address"), address);
    cJSON_Delete(j);
    j = expect(200, "POST", "/proxy/v1/transfers", key, "{\"from\":\"wait-m1\",\"to\":\"Server-1\",\"message\":\"\"}");
    char *back = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "moved"));
    ck_assert_str_eq(back, moved);
    free(back);
    cJSON_Delete(j);
    cJSON_Delete(expect(204, "DELETE", "/proxy/v1/waiting-rooms/wait-m1", key, NULL));
    expect_error(404, "not_found", "DELETE", "/proxy/v1/waiting-rooms/wait-m1", key, NULL);
    cJSON_Delete(expect(204, "DELETE", "/nodes/n1/v1/containers/s1", key, NULL));

    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    const cJSON *s1 = find(st, "servers", "id", "s1");
    ck_assert_str_eq(str(s1, "node_id"), "n2");
    ck_assert_str_eq(str(s1, "state"), "running");
    ck_assert_int_eq((int)num(s1, "player_count"), 3);
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(s1, "players")) ck_assert_str_eq(str(p, "node_id"), "n2");
    ck_assert_int_eq((int)num(st, "players_kicked"), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "waiting_rooms")), 0);
    ck_assert_int_eq((int)num(find(st, "nodes", "id", "n1"), "ram_free_mb"), 65536 - 8192);
    cJSON_Delete(st);
    free(moved);
    expect(204, "POST", "/control/report", NULL, NULL);
    expect_field("server:s1", "players", "3");
    /* the server's node in the inventory is the worker's to move */
    expect_field("server:s1", "node_id", "n1");
    sim_stop();
}
END_TEST

START_TEST(test_faults_fire_as_often_as_asked_then_stop) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON *j = expect(201, "POST", "/control/faults", NULL,
                      "{\"node_id\":\"n2\",\"call\":\"POST /v1/containers\",\"mode\":\"fail\",\"times\":2,"
                      "\"status\":503}");
    ck_assert_int_eq((int)num(j, "times"), 2);
    cJSON_Delete(j);
    const char *body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}";
    expect_error(503, "injected", "POST", "/nodes/n2/v1/containers", "m1", body);
    expect_error(503, "injected", "POST", "/nodes/n2/v1/containers", "m1", body);
    cJSON_Delete(expect(201, "POST", "/nodes/n2/v1/containers", "m1", body));
    /* the pattern's placeholder takes any id; other nodes and calls are untouched */
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL,
                        "{\"node_id\":\"n2\",\"call\":\"GET /v1/containers/{id}\",\"status\":500}"));
    expect_error(500, "injected", "GET", "/nodes/n2/v1/containers/s1", NULL, NULL);
    expect_error(500, "injected", "GET", "/nodes/n2/v1/containers/s2", NULL, NULL);
    cJSON_Delete(expect(200, "GET", "/nodes/n1/v1/containers/s1", NULL, NULL));
    cJSON_Delete(expect(200, "GET", "/nodes/n2/v1/health", NULL, NULL));
    /* hang holds the call, slow delays it and then serves it */
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL,
                        "{\"node_id\":\"proxy\",\"call\":\"POST /v1/waiting-rooms\",\"mode\":\"hang\",\"times\":1,"
                        "\"delay_ms\":400}"));
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL,
                        "{\"node_id\":\"proxy\",\"call\":\"*\",\"mode\":\"slow\",\"times\":1,\"delay_ms\":300}"));
    int64_t t0 = timefmt_mono_ms();
    expect_error(504, "injected", "POST", "/proxy/v1/waiting-rooms", "m1", "{\"name\":\"wait-m1\"}");
    ck_assert_int_ge(timefmt_mono_ms() - t0, 400);
    t0 = timefmt_mono_ms();
    cJSON_Delete(expect(201, "POST", "/proxy/v1/waiting-rooms", "m1", "{\"name\":\"wait-m1\"}"));
    ck_assert_int_ge(timefmt_mono_ms() - t0, 300);
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    ck_assert_int_eq((int)num(st, "faults_fired"), 6);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "faults")), 1); /* the unlimited one */
    cJSON_Delete(st);
    expect(204, "DELETE", "/control/faults", NULL, NULL);
    cJSON_Delete(expect(200, "GET", "/nodes/n2/v1/containers/s1", NULL, NULL));
    expect_error(400, "bad_request", "POST", "/control/faults", NULL, "{\"node_id\":\"n2\",\"mode\":\"explode\"}");
    sim_stop();
}
END_TEST

START_TEST(test_control_health_and_players_reach_the_inventory_at_once) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON *j = expect(200, "POST", "/control/nodes/n2", NULL, "{\"healthy\":false}");
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(j, "healthy")));
    cJSON_Delete(j);
    expect_field("node:n2", "healthy", "0");
    cJSON_Delete(expect(503, "GET", "/nodes/n2/v1/health", NULL, NULL));
    expect_error(503, "unhealthy", "POST", "/nodes/n2/v1/containers", "m1", "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}");
    cJSON_Delete(expect(200, "POST", "/control/nodes/n2", NULL, "{\"healthy\":true,\"eur_hour\":0.05}"));
    expect_field("node:n2", "healthy", "1");
    expect_field("node:n2", "eur_hour", "0.05");
    expect_error(404, "not_found", "POST", "/control/nodes/n9", NULL, "{\"healthy\":true}");

    j = expect(200, "POST", "/control/players", NULL, "{\"server_id\":\"s2\",\"count\":2}");
    ck_assert_int_eq((int)num(j, "player_count"), 2);
    cJSON_Delete(j);
    expect_field("server:s2", "players", "2");
    expect_field("server:s2", "idle_since", "0");
    int64_t before = timefmt_now_ms();
    cJSON_Delete(expect(200, "POST", "/control/players", NULL, "{\"server_id\":\"s2\",\"count\":0}"));
    expect_field("server:s2", "players", "0");
    char *idle = hget("server:s2", "idle_since");
    ck_assert_msg(idle && atoll(idle) >= before - 1000, "idle_since %s", idle ? idle : "(nil)");
    free(idle);
    expect_error(404, "unknown_server", "POST", "/control/players", NULL, "{\"server_id\":\"s9\",\"count\":1}");
    sim_stop();
}
END_TEST

START_TEST(test_control_scaling_sets_and_clears_the_platform_keys) {
    sim_start(NULL);
    cJSON *j = expect(200, "POST", "/control/scaling", NULL, "{\"active\":true,\"queue\":[\"s7\",\"s8\"]}");
    ck_assert_int_eq((int)num(j, "queue"), 2);
    cJSON_Delete(j);
    redisReply *r = fx_cmd("GET mig:platform:scaling");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    r = fx_cmd("LRANGE mig:platform:queue 0 -1");
    ck_assert_int_eq(r->elements, 2);
    ck_assert_str_eq(r->element[0]->str, "s7");
    freeReplyObject(r);
    cJSON_Delete(expect(200, "POST", "/control/scaling", NULL, "{\"active\":false,\"queue\":[]}"));
    r = fx_cmd("EXISTS mig:platform:scaling mig:platform:queue");
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);
    expect_error(400, "bad_request", "POST", "/control/scaling", NULL, "{\"active\":\"yes\"}");
    sim_stop();
}
END_TEST

/* Checks the optimizer's drains: n1 (0.40 EUR/h) emptied by s2 (8 GB, first) and s1
 * (4 GB) to n2, the cheapest node with room, each move carrying half of n1's price; then
 * n3 (0.25) emptied by s3 onto what is left of n2. Nothing else: moving one server
 * between nodes that keep running saves under the minimum (0.05 EUR/h). */
static void expect_drains(const char *status, int level) {
    store_page_t page;
    migrations_in(status, &page);
    ck_assert_int_eq(page.n, 3);
    for (size_t i = 0; i < page.n; i++) {
        const migration_t *m = &page.items[i];
        ck_assert_str_eq(m->to_node_id, "n2");
        ck_assert_int_eq(m->reason, MIG_REASON_COST);
        ck_assert_int_eq(m->triggered_by, MIG_TRIGGER_SYSTEM);
        ck_assert_int_eq(m->level, level);
        ck_assert_ptr_nonnull(m->notes);
        int s3 = strcmp(m->server_id, "s3") == 0;
        ck_assert_str_eq(m->from_node_id, s3 ? "n3" : "n1");
        double want = s3 ? 0.25 : 0.20;
        ck_assert_msg(strncmp(m->notes, s3 ? "drains Node-C: \xe2\x82\xac" "0.25/h (move 1 of 1"
                                           : "drains Node-A: \xe2\x82\xac" "0.40/h (move ",
                              s3 ? 37 : 31) == 0,
                      "notes: %s", m->notes);
        ck_assert_double_eq_tol(m->savings_eur_hour, want, 1e-9);
        ck_assert_double_eq_tol(m->savings_eur_month, want * 730, 1e-6);
    }
    store_page_free(&page);
}

START_TEST(test_optimizer_suggests_drains_at_level_1_on_its_timer_without_duplicates) {
    sim_start((const char *const[]){"--cost-level=1", "--cost-interval-s=1", NULL});
    store_page_t page = {0};
    for (int i = 0; i < 100; i++) {
        migrations_in("suggested", &page);
        size_t n = page.n;
        store_page_free(&page);
        if (n >= 3) break;
        timefmt_sleep_ms(50);
    }
    expect_drains("suggested", 1);
    /* two more passes, asked for and answered, rather than a sleep through the timer's:
     * the active migrations are skipped */
    for (int pass = 0; pass < 2; pass++) {
        cJSON *j = expect(200, "POST", "/control/optimize", NULL, NULL);
        ck_assert_int_eq((int)num(j, "created"), 0);
        ck_assert_int_eq((int)num(j, "level"), 1);
        cJSON_Delete(j);
    }
    expect_drains("suggested", 1);
    migrations_in("scheduled", &page);
    ck_assert_int_eq(page.n, 0);
    store_page_free(&page);
    sim_stop();
}
END_TEST

/* Single moves still come when they save enough: with the minimum at a cent, and no drain
 * possible (n2 too small for all of n1), s2 and s1 go from n1 to n2 at level 2. */
START_TEST(test_optimizer_schedules_at_level_2_drains_and_moves_onto_healthy_nodes_only) {
    sim_start((const char *const[]){"--cost-level=2", "--cost-interval-s=3600", "--cost-min-savings=0.01", NULL});
    /* n2 unhealthy and n3 dearer than n1: n3 is emptied onto n1, nothing goes to n2 */
    cJSON_Delete(expect(200, "POST", "/control/nodes/n2", NULL, "{\"healthy\":false}"));
    cJSON_Delete(expect(200, "POST", "/control/nodes/n3", NULL, "{\"eur_hour\":0.50}"));
    cJSON *j = expect(200, "POST", "/control/optimize", NULL, NULL);
    ck_assert_int_eq((int)num(j, "created"), 1);
    ck_assert_int_eq((int)num(j, "level"), 2);
    cJSON_Delete(j);
    store_page_t page;
    migrations_in("scheduled", &page);
    ck_assert_int_eq(page.n, 1);
    ck_assert_str_eq(page.items[0].server_id, "s3");
    ck_assert_str_eq(page.items[0].from_node_id, "n3");
    ck_assert_str_eq(page.items[0].to_node_id, "n1");
    ck_assert_double_eq_tol(page.items[0].savings_eur_hour, 0.50, 1e-9);
    store_page_free(&page);
    /* n2 back: n1 has a move coming (it is wanted, not drained), but its servers save
     * enough each on the cheaper n2 to be moved one by one */
    cJSON_Delete(expect(200, "POST", "/control/nodes/n2", NULL, "{\"healthy\":true}"));
    j = expect(200, "POST", "/control/optimize", NULL, NULL);
    ck_assert_int_eq((int)num(j, "created"), 2);
    cJSON_Delete(j);
    migrations_in("scheduled", &page);
    ck_assert_int_eq(page.n, 3);
    for (size_t i = 0; i < page.n; i++) {
        const migration_t *m = &page.items[i];
        if (strcmp(m->server_id, "s3") == 0) continue;
        ck_assert_str_eq(m->from_node_id, "n1");
        ck_assert_str_eq(m->to_node_id, "n2");
        /* (0.40 - 0.10) * ram / 65536: s1 0.01875 -> 0.02, s2 0.0375 -> 0.04 */
        ck_assert_double_eq_tol(m->savings_eur_hour, strcmp(m->server_id, "s1") == 0 ? 0.02 : 0.04, 1e-9);
        ck_assert_msg(strncmp(m->notes, "cost: ", 6) == 0, "notes: %s", m->notes);
    }
    store_page_free(&page);
    j = expect(200, "POST", "/control/optimize", NULL, NULL);
    ck_assert_int_eq((int)num(j, "created"), 0);
    cJSON_Delete(j);
    expect_error(400, "bad_request", "POST", "/control/optimize", NULL, "{\"level\":3}");
    sim_stop();
}
END_TEST

/* ------------------------------------------------------------------------ fencing */

/* A call made by a thread of its own, for a call that a fault delays or holds while the
 * test goes on. */
typedef struct {
    const char *method, *path, *key, *token, *body;
    long status;   /* -1: the simulator was not reached */
    char code[64]; /* the error code of the answer, "" for none */
    int done;      /* set (atomically) once answered */
    pthread_t thread;
} bg_call_t;

static void *bg_main(void *arg) {
    bg_call_t *c = arg;
    http_resp_t r;
    c->status = request(&r, c->method, c->path, c->key, c->token, c->body);
    const cJSON *code = cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "error"), "code");
    snprintf(c->code, sizeof c->code, "%s", cJSON_IsString(code) ? code->valuestring : "");
    http_resp_free(&r);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void bg_start(bg_call_t *c) {
    ck_assert_int_eq(pthread_create(&c->thread, NULL, bg_main, c), 0);
}

static bool bg_done(bg_call_t *c) {
    return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE) != 0;
}

static void bg_join(bg_call_t *c) {
    ck_assert_int_eq(pthread_join(c->thread, NULL), 0);
}

/* The container of `server_id` on `node_id` in state `st`, or NULL. Borrowed. */
static const cJSON *container_on(const cJSON *st, const char *server_id, const char *node_id) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(st, "containers")) {
        if (strcmp(str(c, "server_id"), server_id) == 0 && strcmp(str(c, "node_id"), node_id) == 0) return c;
    }
    return NULL;
}

/* Polls GET /control/state until its `field` (a number, or the length of an array) is
 * `want`; returns that state (caller deletes). Fails the test after 10 s. */
static cJSON *state_when(const char *field, int want) {
    int64_t deadline = timefmt_mono_ms() + 10000;
    for (;;) {
        cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
        const cJSON *v = cJSON_GetObjectItem(st, field);
        int got = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : cJSON_IsNumber(v) ? v->valueint : -1;
        if (got == want) return st;
        cJSON_Delete(st);
        ck_assert_msg(timefmt_mono_ms() < deadline, "state %s is %d, not %d, after 10 s", field, got, want);
        timefmt_sleep_ms(10);
    }
}

/* Removes `name` from every element of array `arr` of `st`. */
static void drop_in_each(cJSON *st, const char *arr, const char *name) {
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(st, arr)) cJSON_DeleteItemFromObject(e, name);
}

/* The whole model without what moves with the clock alone (now_ms, the bytes a running
 * source writes, and the dirt of its passes) and without the fencing counts (asserted on
 * their own): two of these taken around calls that change nothing are equal. Caller
 * deletes. */
static cJSON *state_still(void) {
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    cJSON_DeleteItemFromObject(st, "now_ms");
    cJSON_DeleteItemFromObject(st, "fencing");
    drop_in_each(st, "containers", "written_bytes");
    drop_in_each(st, "syncs", "dirty_bytes");
    return st;
}

static void expect_same_state(const cJSON *before, const cJSON *after) {
    if (cJSON_Compare(before, after, true)) return;
    char *a = cJSON_PrintUnformatted(before), *b = cJSON_PrintUnformatted(after);
    ck_abort_msg("the model changed:\n before %s\n after  %s", a, b);
    free(a);
    free(b);
}

/* The fencing counts of `mid` in the state as compact JSON (caller frees), "null" when
 * the sim has none. */
static char *fencing_of(const char *mid) {
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    const cJSON *f = cJSON_GetObjectItem(st, "fencing");
    ck_assert_msg(cJSON_IsObject(f), "no fencing object in the state");
    const cJSON *m = cJSON_GetObjectItem(f, mid);
    char *s = m ? cJSON_PrintUnformatted(m) : strdup("null");
    cJSON_Delete(st);
    return s;
}

static void expect_fencing(const char *mid, const char *want) {
    char *got = fencing_of(mid);
    ck_assert_msg(strcmp(got, want) == 0, "fencing of %s is %s, want %s", mid, got, want);
    free(got);
}

/* The calls a stale worker of m1 could make at each step, none of which may act: every
 * one is refused 409 stale_token with `token` below `highest`. */
static void expect_every_call_stale(const char *token, const char *highest) {
    static const struct {
        const char *method, *path, *body;
    } calls[] = {
        {"POST", "/nodes/n2/v1/containers", "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}"},
        {"GET", "/nodes/n2/v1/containers/s1", NULL},
        {"POST", "/nodes/n2/v1/containers/s1/start", NULL},
        {"POST", "/nodes/n1/v1/containers/s1/stop", NULL},
        {"POST", "/nodes/n1/v1/containers/s1/quiesce", "{\"save\":\"off\"}"},
        {"POST", "/nodes/n2/v1/sync", "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n1\","
                                      "\"pass\":2}"},
        {"GET", "/nodes/n2/v1/sync/m1.1", NULL},
        {"DELETE", "/nodes/n2/v1/containers/s1", NULL},
        {"POST", "/proxy/v1/waiting-rooms", "{\"name\":\"wait-m1b\"}"},
        {"POST", "/proxy/v1/transfers", "{\"from\":\"Server-1\",\"to\":\"wait-m1\",\"message\":\"\"}"},
        {"PUT", "/proxy/v1/servers/Server-1", "{\"address\":\"127.0.1.2:25565\"}"},
        {"DELETE", "/proxy/v1/waiting-rooms/wait-m1", NULL},
    };
    char want[160];
    snprintf(want, sizeof want, "fencing token %s of migration m1 is below %s, the highest seen", token, highest);
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char *msg = expect_fenced_error(409, "stale_token", calls[i].method, calls[i].path, "m1", token, calls[i].body);
        ck_assert_str_eq(msg, want);
        free(msg);
    }
}

START_TEST(test_a_lower_token_is_refused_409_and_the_model_is_unchanged) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON_Delete(expect_fenced(201, "POST", "/nodes/n2/v1/containers", "m1", "7",
                               "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}"));
    cJSON_Delete(expect_fenced(202, "POST", "/nodes/n2/v1/sync", "m1", "7",
                               "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n1\",\"pass\":1}"));
    cJSON_Delete(sync_wait("n2", "m1.1"));
    cJSON_Delete(expect_fenced(201, "POST", "/proxy/v1/waiting-rooms", "m1", "7", "{\"name\":\"wait-m1\"}"));
    cJSON *before = state_still();
    expect_every_call_stale("5", "7");
    /* the body's migration_id wins over the header, for the token as for the key */
    char *msg = expect_fenced_error(409, "stale_token", "POST", "/nodes/n2/v1/containers", "m9", "5",
                                    "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}");
    ck_assert_str_eq(msg, "fencing token 5 of migration m1 is below 7, the highest seen");
    free(msg);
    cJSON *after = state_still();
    expect_same_state(before, after);
    cJSON_Delete(before);
    cJSON_Delete(after);
    expect_fencing("m1", "{\"highest\":7,\"accepted\":{\"7\":3},\"refused\":{\"5\":13}}");
    expect_fencing("m9", "null");
    /* the refusals are logged with the migration and both tokens */
    ck_assert(proc_log_has(sim.log, "sim.stale_token"));
    sim_stop();
}
END_TEST

START_TEST(test_an_equal_or_higher_token_is_accepted_and_becomes_the_highest) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    const char *body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}";
    cJSON_Delete(expect_fenced(201, "POST", "/nodes/n2/v1/containers", "m1", "7", body));
    /* the same worker's retry, the same token: served as the first was */
    cJSON_Delete(expect_fenced(200, "POST", "/nodes/n2/v1/containers", "m1", "7", body));
    /* a recovery took a higher token: its calls are served, on any agent the sim plays */
    cJSON *j = expect_fenced(200, "GET", "/nodes/n2/v1/containers/s1", "m1", "9", NULL);
    ck_assert_str_eq(str(j, "state"), "created");
    cJSON_Delete(j);
    cJSON_Delete(expect_fenced(201, "POST", "/proxy/v1/waiting-rooms", "m1", "9", "{\"name\":\"wait-m1\"}"));
    /* and from now on the first worker's token is stale everywhere */
    expect_every_call_stale("7", "9");
    expect_fencing("m1", "{\"highest\":9,\"accepted\":{\"7\":2,\"9\":2},\"refused\":{\"7\":12}}");
    /* a call its handler refuses (409 exists) has passed the fence: its token counts as accepted */
    expect_error(409, "exists", "POST", "/nodes/n2/v1/containers", "m2", "{\"server_id\":\"s1\",\"migration_id\":\"m2\"}");
    expect_fencing("m2", "{\"highest\":1,\"accepted\":{\"1\":1},\"refused\":{}}");
    sim_stop();
}
END_TEST

START_TEST(test_a_call_of_a_migration_without_a_valid_token_is_refused_400_and_changes_nothing) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    const char *body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}";
    cJSON *before = state_still();
    static const struct {
        const char *token, *says;
    } bad[] = {
        {NULL, "missing"},
        {"", "empty"},
        {"abc", "not a decimal number"},
        {"-3", "not a decimal number"},
        {"18446744073709551616", "is over 18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *msg = expect_fenced_error(400, "missing_token", "POST", "/nodes/n2/v1/containers", "m1", bad[i].token,
                                        body);
        ck_assert_msg(strstr(msg, "Fencing-Token") && strstr(msg, bad[i].says) && strstr(msg, "migration m1"),
                      "token %s: %s", bad[i].token ? bad[i].token : "(none)", msg);
        free(msg);
    }
    /* a migration id in the body alone makes it a call of that migration too */
    free(expect_fenced_error(400, "missing_token", "POST", "/nodes/n2/v1/containers", NULL, NULL, body));
    /* the proxy the same */
    free(expect_fenced_error(400, "missing_token", "POST", "/proxy/v1/waiting-rooms", "m1", NULL,
                             "{\"name\":\"wait-m1\"}"));
    cJSON *after = state_still();
    expect_same_state(before, after);
    cJSON_Delete(before);
    cJSON_Delete(after);
    expect_fencing("m1", "null");
    /* calls of no migration are not checked */
    cJSON_Delete(expect_fenced(200, "GET", "/nodes/n2/v1/health", NULL, NULL, NULL));
    cJSON_Delete(expect_fenced(200, "GET", "/nodes/n1/v1/containers/s1", NULL, NULL, NULL));
    cJSON_Delete(expect_fenced(200, "GET", "/proxy/v1/servers/Server-1/players", NULL, NULL, NULL));
    /* the largest token there is is a token */
    cJSON_Delete(expect_fenced(201, "POST", "/nodes/n2/v1/containers", "m1", "18446744073709551615", body));
    /* written as its digits: read back through a double it would round, so the text is checked */
    http_resp_t r;
    ck_assert_int_eq(request(&r, "GET", "/control/state", NULL, NULL, NULL), 200);
    ck_assert_msg(strstr(r.body, "\"m1\":{\"highest\":18446744073709551615,\"accepted\":{\"18446744073709551615\":1},"
                                 "\"refused\":{}}"),
                  "fencing: %s", strstr(r.body, "\"fencing\"") ? strstr(r.body, "\"fencing\"") : r.body);
    http_resp_free(&r);
    sim_stop();
}
END_TEST

START_TEST(test_a_slow_call_served_after_a_higher_token_is_refused) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON_Delete(expect_fenced(201, "POST", "/nodes/n2/v1/containers", "m1", "1",
                               "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}"));
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL,
                        "{\"node_id\":\"n2\",\"call\":\"DELETE /v1/containers/{id}\",\"mode\":\"slow\",\"times\":1,"
                        "\"delay_ms\":3000}"));
    /* the first worker's delete sits in the slow fault... */
    bg_call_t old = {.method = "DELETE", .path = "/nodes/n2/v1/containers/s1", .key = "m1", .token = "1"};
    bg_start(&old);
    cJSON_Delete(state_when("faults_fired", 1));
    /* ...while the worker that recovered the migration calls with its higher token */
    cJSON_Delete(expect_fenced(200, "GET", "/nodes/n2/v1/containers/s1", "m1", "2", NULL));
    ck_assert_msg(!bg_done(&old), "the slow call was answered within its 3 s delay");
    bg_join(&old);
    ck_assert_int_eq(old.status, 409);
    ck_assert_str_eq(old.code, "stale_token");
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    ck_assert_ptr_nonnull(container_on(st, "s1", "n2"));
    cJSON_Delete(st);
    expect_fencing("m1", "{\"highest\":2,\"accepted\":{\"1\":1,\"2\":1},\"refused\":{\"1\":1}}");
    sim_stop();
}
END_TEST

START_TEST(test_a_held_call_waits_until_its_rule_is_deleted_and_is_then_served) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON *j = expect(201, "POST", "/control/faults", NULL,
                      "{\"node_id\":\"proxy\",\"call\":\"POST /v1/waiting-rooms\",\"mode\":\"hold\",\"times\":1}");
    ck_assert_str_eq(str(j, "mode"), "hold");
    ck_assert_int_eq((int)num(j, "delay_ms"), 120000);
    int id = (int)num(j, "id");
    cJSON_Delete(j);
    bg_call_t held = {.method = "POST", .path = "/proxy/v1/waiting-rooms", .key = "m1", .token = TOKEN,
                      .body = "{\"name\":\"wait-m1\"}"};
    bg_start(&held);
    cJSON *st = state_when("held", 1);
    const cJSON *h = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "held"), 0);
    ck_assert_int_eq((int)num(h, "fault_id"), id);
    ck_assert_str_eq(str(h, "node_id"), "proxy");
    ck_assert_str_eq(str(h, "method"), "POST");
    ck_assert_str_eq(str(h, "path"), "/v1/waiting-rooms");
    /* the used-up rule stays, matching nothing more, until it is deleted */
    const cJSON *rule = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "faults"), 0);
    ck_assert_int_eq((int)num(rule, "id"), id);
    ck_assert_int_eq((int)num(rule, "times_left"), 0);
    cJSON_Delete(st);
    cJSON_Delete(expect(201, "POST", "/proxy/v1/waiting-rooms", "m2", "{\"name\":\"wait-m2\"}"));
    /* held, it has done nothing */
    expect_error(404, "not_found", "GET", "/proxy/v1/servers/wait-m1/players", NULL, NULL);
    ck_assert(!bg_done(&held));
    expect_error(404, "not_found", "DELETE", "/control/faults/99", NULL, NULL);
    expect_error(404, "not_found", "DELETE", "/control/faults/x", NULL, NULL);
    ck_assert(!bg_done(&held));
    char path[64];
    snprintf(path, sizeof path, "/control/faults/%d", id);
    expect(204, "DELETE", path, NULL, NULL);
    bg_join(&held);
    ck_assert_int_eq(held.status, 201);
    cJSON_Delete(expect(200, "GET", "/proxy/v1/servers/wait-m1/players", NULL, NULL));
    st = expect(200, "GET", "/control/state", NULL, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "held")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "faults")), 0);
    ck_assert_int_eq((int)num(st, "faults_fired"), 1);
    cJSON_Delete(st);
    expect_error(404, "not_found", "DELETE", path, NULL, NULL);
    expect_fencing("m1", "{\"highest\":1,\"accepted\":{\"1\":1},\"refused\":{}}");
    sim_stop();
}
END_TEST

/* The case the fencing token is for: a call of the first worker held (as in a socket
 * buffer, or a pause of its thread) while the migration is recovered by another. */
START_TEST(test_a_held_call_released_after_a_higher_token_is_refused) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL,
                        "{\"node_id\":\"n2\",\"call\":\"POST /v1/containers\",\"mode\":\"hold\"}"));
    bg_call_t old = {.method = "POST", .path = "/nodes/n2/v1/containers", .key = "m1", .token = "1",
                     .body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}"};
    bg_start(&old);
    cJSON_Delete(state_when("held", 1));
    /* the worker that recovered the migration looks: no container yet; the 404 is the
     * handler's, so its token passed and is now the highest */
    free(expect_fenced_error(404, "not_found", "GET", "/nodes/n2/v1/containers/s1", "m1", "2", NULL));
    ck_assert(!bg_done(&old));
    expect(204, "DELETE", "/control/faults", NULL, NULL); /* every rule, and what they hold */
    bg_join(&old);
    ck_assert_int_eq(old.status, 409);
    ck_assert_str_eq(old.code, "stale_token");
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    ck_assert_ptr_null(container_on(st, "s1", "n2"));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "held")), 0);
    cJSON_Delete(st);
    expect_fencing("m1", "{\"highest\":2,\"accepted\":{\"2\":1},\"refused\":{\"1\":1}}");
    sim_stop();
}
END_TEST

START_TEST(test_a_held_call_is_served_after_its_delay_when_its_rule_stays) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL,
                        "{\"node_id\":\"proxy\",\"call\":\"*\",\"mode\":\"hold\",\"delay_ms\":300}"));
    int64_t t0 = timefmt_mono_ms();
    cJSON_Delete(expect(201, "POST", "/proxy/v1/waiting-rooms", "m1", "{\"name\":\"wait-m1\"}"));
    ck_assert_int_ge(timefmt_mono_ms() - t0, 300); /* a lower bound only: the backstop */
    cJSON *st = expect(200, "GET", "/control/state", NULL, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "held")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "faults")), 1); /* it holds the next call too */
    cJSON_Delete(st);
    ck_assert(proc_log_has(sim.log, "sim.fault_released"));
    sim_stop();
}
END_TEST

START_TEST(test_a_held_call_does_not_keep_the_simulator_from_stopping) {
    sim_start((const char *const[]){"--sim-zero-delays=1", NULL});
    cJSON_Delete(expect(201, "POST", "/control/faults", NULL, "{\"node_id\":\"*\",\"mode\":\"hold\"}"));
    bg_call_t held = {.method = "POST", .path = "/nodes/n2/v1/containers/s1/start", .key = "m1", .token = TOKEN};
    bg_start(&held);
    cJSON_Delete(state_when("held", 1));
    int64_t t0 = timefmt_mono_ms();
    sim_stop(); /* SIGTERM: ends with status 0, well before the hold's 120 s backstop */
    ck_assert_int_lt(timefmt_mono_ms() - t0, 10000);
    bg_join(&held);
    ck_assert_msg(held.status == 503 || held.status == -1, "held call answered %ld", held.status);
    if (held.status == 503) ck_assert_str_eq(held.code, "stopping");
}
END_TEST

Suite *suite_sim(void) {
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("sim");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sim_serves_every_node_and_writes_the_inventory);
    tcase_add_test(tc, test_a_refused_node_is_logged_as_such_and_the_others_are_still_written);
    tcase_add_test(tc, test_container_create_checks_capacity_and_is_idempotent_by_migration);
    tcase_add_test(tc, test_sync_takes_world_size_over_bandwidth);
    tcase_add_test(tc, test_deltas_shrink_and_quiesce_stops_the_dirt);
    tcase_add_test(tc, test_a_migration_by_hand_moves_the_named_players_to_the_new_node);
    tcase_add_test(tc, test_faults_fire_as_often_as_asked_then_stop);
    tcase_add_test(tc, test_control_health_and_players_reach_the_inventory_at_once);
    tcase_add_test(tc, test_control_scaling_sets_and_clears_the_platform_keys);
    tcase_add_test(tc, test_optimizer_suggests_drains_at_level_1_on_its_timer_without_duplicates);
    tcase_add_test(tc, test_optimizer_schedules_at_level_2_drains_and_moves_onto_healthy_nodes_only);
    tcase_add_test(tc, test_a_lower_token_is_refused_409_and_the_model_is_unchanged);
    tcase_add_test(tc, test_an_equal_or_higher_token_is_accepted_and_becomes_the_highest);
    tcase_add_test(tc, test_a_call_of_a_migration_without_a_valid_token_is_refused_400_and_changes_nothing);
    tcase_add_test(tc, test_a_slow_call_served_after_a_higher_token_is_refused);
    tcase_add_test(tc, test_a_held_call_waits_until_its_rule_is_deleted_and_is_then_served);
    tcase_add_test(tc, test_a_held_call_released_after_a_higher_token_is_refused);
    tcase_add_test(tc, test_a_held_call_is_served_after_its_delay_when_its_rule_stays);
    tcase_add_test(tc, test_a_held_call_does_not_keep_the_simulator_from_stopping);
    suite_add_tcase(s, tc);
    return s;
}
