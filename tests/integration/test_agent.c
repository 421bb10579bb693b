/* test_agent.c - bin/migrate-agent as a process on loopback addresses, each with its own
 * directory, running tests/support/mcfake (a world writer speaking RCON) as its servers:
 * the container calls, capacity, the tokens and fencing (across a kill -9), a live
 * sync (passes while the source writes, quiesce over RCON, the final pass leaving the
 * target byte-identical), a pass resumed after a kill -9 of the target, and the agent
 * answering other calls while a DELETE waits for a stubborn server's stop. Every wait
 * polls against a deadline. */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/timefmt.h"
#include "suites.h"
#include "tests/support/agent_proc.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

#define TIMEOUT_S 120   /* a case moves a few MiB between two sanitized agents */
#define WAIT_MS 30000   /* longest wait for a state the agent reaches in well under a second */
#define TOKEN "agent-secret"
#define PEER "peer-secret"
#define AGENTS_MAX 3

static char top[64];
static agent_proc_t agents[AGENTS_MAX];
static const char *agent_extra[AGENTS_MAX][8]; /* flags an agent's next start adds (a capacity, a limit, a rate) */

/* A TCP port free on 127.0.0.1 now. */
static int free_port(void) {
    int port = proc_free_port();
    ck_assert_int_gt(port, 0);
    return port;
}

/* Starts agent `i` (again, after a kill, keeping its directory and port) and waits for
 * its port. 127.0.0.1x when it binds, else 127.0.0.1. */
static void agent_start(int i) {
    agent_proc_t *a = &agents[i];
    if (a->dir[0] == '\0') {
        snprintf(a->dir, sizeof a->dir, "%s/agent%d", top, i);
        snprintf(a->host, sizeof a->host, "127.0.0.%d", 11 + i);
    }
    static int starts;
    snprintf(a->log, sizeof a->log, "%s/agent%d-%d.log", top, i, starts++);
    char cmd[400], err[400];
    const char *argv[24] = {agent_proc_mcfake_command(cmd, sizeof cmd), "--agent-token=" TOKEN,
                            "--agent-peer-token=" PEER, "--agent-disk-mb=100000", "--agent-ram-mb=100000"};
    int n = 5;
    for (int k = 0; agent_extra[i][k] && n < 23; k++) argv[n++] = agent_extra[i][k];
    argv[n] = NULL;
    ck_assert_msg(agent_proc_start(a, "http", argv, WAIT_MS, err, sizeof err) == 0, "%s", err);
}

/* kill -9 of agent `i`, reaped. */
static void agent_kill(int i) {
    agent_proc_kill9(&agents[i], WAIT_MS);
}

static void setup(void) {
    snprintf(top, sizeof top, "/tmp/mig-agent-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    memset(agents, 0, sizeof agents);
    memset(agent_extra, 0, sizeof agent_extra);
}

static void teardown(void) {
    char bad[512] = "";
    for (int i = 0; i < AGENTS_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "agent %d", i);
        agent_proc_stop(&agents[i], name, bad, sizeof bad);
        if (agents[i].dir[0]) agent_proc_kill_servers(&agents[i]);
    }
    harness_rmtree(top);
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

/* ------------------------------------------------------------------------ calls */

/* Calls agent `i`: `mid` and `token` (as text; NULL: none) go as Idempotency-Key and
 * Fencing-Token, `auth` as the bearer (NULL: none). Returns the status; *out the parsed
 * body (caller frees) when `out` is not NULL. */
static long call_full(int i, const char *method, const char *path, const char *body, const char *mid,
                      const char *token, const char *auth, cJSON **out) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", agents[i].base, path);
    http_req_t req = {.method = method, .url = url, .body = body, .token = auth, .idempotency_key = mid,
                      .fencing_token = token, .timeout_ms = 20000};
    const char *why;
    long status = http_request_json(&req, out, &why);
    ck_assert_msg(why == NULL, "%s %s: %s", method, url, why);
    return status;
}

/* A call of migration `mid` with token 1 (or none when mid is NULL). */
static long call(int i, const char *method, const char *path, const char *body, const char *mid, cJSON **out) {
    return call_full(i, method, path, body, mid, mid ? "1" : NULL, TOKEN, out);
}

static const char *str_of(const cJSON *o, const char *name) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return s ? s : "";
}

static double num_of(const cJSON *o, const char *name) {
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, name));
}

static const char *error_code(const cJSON *o) {
    return str_of(cJSON_GetObjectItem(o, "error"), "code");
}

/* Polls GET /v1/containers/{id} until its state is `want`. */
static void wait_state(int i, const char *id, const char *mid, const char *want) {
    char path[128];
    snprintf(path, sizeof path, "/v1/containers/%s", id);
    for (int waited = 0;; waited += 20) {
        cJSON *o;
        ck_assert_int_eq(call(i, "GET", path, NULL, mid, &o), 200);
        bool ok = strcmp(str_of(o, "state"), want) == 0;
        char got[32];
        snprintf(got, sizeof got, "%s", str_of(o, "state"));
        cJSON_Delete(o);
        if (ok) return;
        ck_assert_msg(waited < WAIT_MS, "server %s on agent %d is %s, not %s", id, i, got, want);
        timefmt_sleep_ms(20);
    }
}

/* Writes server.properties with a free game port and RCON into agent i's server dir. */
static int write_props(int i, const char *id) {
    int port = agent_proc_write_props(agents[i].dir, id, NULL);
    ck_assert_int_gt(port, 0);
    return port;
}

/* Writes `mb` MiB of world into agent i's server dir (region files of 1 MiB). */
static void write_world(int i, const char *id, int mb) {
    ck_assert_int_eq(agent_proc_write_world(agents[i].dir, id, mb), 0);
}

/* Provisions server `id` on agent i (no migration: the server's own container) with a
 * world of `mb` MiB, and starts it. */
static void provision_running(int i, const char *id, int mb) {
    char body[200];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":512,\"disk_mb\":1000}", id);
    ck_assert_int_eq(call(i, "POST", "/v1/containers", body, NULL, NULL), 201);
    write_props(i, id);
    write_world(i, id, mb);
    char path[128];
    snprintf(path, sizeof path, "/v1/containers/%s/start", id);
    long st = call(i, "POST", path, NULL, NULL, NULL);
    ck_assert_msg(st == 202 || st == 200, "start: %ld", st);
    wait_state(i, id, NULL, "running");
}

/* ------------------------------------------------------------------------ containers */

START_TEST(test_agent_container_lifecycle_with_a_real_process) {
    agent_start(0);
    cJSON *o;
    const char *body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":512,\"disk_mb\":100}";
    ck_assert_int_eq(call(0, "POST", "/v1/containers", body, "m1", &o), 201);
    ck_assert_str_eq(str_of(o, "state"), "created");
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "POST", "/v1/containers", body, "m1", NULL), 200); /* idempotent */
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"s1\",\"migration_id\":\"m2\"}", "m2", &o),
                     409);
    cJSON_Delete(o);
    int port = write_props(0, "s1");
    long st = call(0, "POST", "/v1/containers/s1/start", NULL, "m1", NULL);
    ck_assert_msg(st == 202 || st == 200, "start: %ld", st);
    wait_state(0, "s1", "m1", "running");
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s1", NULL, "m1", &o), 200);
    char addr[64];
    snprintf(addr, sizeof addr, "%s:%d", agents[0].host, port);
    ck_assert_str_eq(str_of(o, "address"), addr);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")));
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "players")), 0);
    cJSON_Delete(o);
    /* quiesce over RCON */
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/quiesce", "{\"save\":\"off\"}", "m1", &o), 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "flushed")));
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/quiesce", "{\"save\":\"on\"}", "m1", NULL), 200);
    st = call(0, "POST", "/v1/containers/s1/stop", NULL, "m1", NULL);
    ck_assert_msg(st == 202 || st == 200, "stop: %ld", st);
    wait_state(0, "s1", "m1", "stopped");
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/quiesce", "{\"save\":\"off\"}", "m1", &o), 409);
    ck_assert_str_eq(error_code(o), "not_running");
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "DELETE", "/v1/containers/s1", NULL, "m1", NULL), 204);
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s1", NULL, "m1", NULL), 404);
    ck_assert_int_eq(call(0, "DELETE", "/v1/containers/s1", NULL, "m1", NULL), 404);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/servers/s1", agents[0].dir);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(call(0, "GET", "/v1/nothing", NULL, NULL, NULL), 404);
    ck_assert_int_eq(call(0, "PUT", "/v1/health", NULL, NULL, NULL), 405);
}
END_TEST

START_TEST(test_agent_refuses_a_container_that_does_not_fit_with_507) {
    agent_extra[0][0] = "--agent-ram-mb=1000";
    agent_extra[0][1] = "--agent-disk-mb=2000";
    agent_start(0);
    cJSON *o;
    ck_assert_int_eq(call(0, "GET", "/v1/health", NULL, NULL, &o), 200);
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ram_free_mb")), 1000);
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"a\",\"ram_mb\":800,\"disk_mb\":500}", "m1",
                          NULL), 201);
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"b\",\"ram_mb\":300,\"disk_mb\":500}", "m2",
                          &o), 507);
    ck_assert_str_eq(error_code(o), "insufficient_ram");
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"b\",\"ram_mb\":100,\"disk_mb\":1600}", "m2",
                          &o), 507);
    ck_assert_str_eq(error_code(o), "disk_full");
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "GET", "/v1/health", NULL, NULL, &o), 200);
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ram_free_mb")), 200);
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "disk_free_mb")), 1500);
    cJSON_Delete(o);
    /* deleting frees the reservation */
    ck_assert_int_eq(call(0, "DELETE", "/v1/containers/a", NULL, "m1", NULL), 204);
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"b\",\"ram_mb\":300,\"disk_mb\":500}", "m2",
                          NULL), 201);
}
END_TEST

START_TEST(test_agent_tokens_and_fencing_survive_a_kill_9) {
    agent_start(0);
    cJSON *o;
    const char *body = "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}";
    ck_assert_int_eq(call_full(0, "GET", "/v1/health", NULL, NULL, NULL, NULL, &o), 401);
    ck_assert_str_eq(error_code(o), "unauthorized");
    cJSON_Delete(o);
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", "5", "wrong", NULL), 401);
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", NULL, TOKEN, &o), 400);
    ck_assert_str_eq(error_code(o), "missing_token");
    cJSON_Delete(o);
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", "7x", TOKEN, NULL), 400);
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", "18446744073709551616", TOKEN, NULL), 400);
    ck_assert_int_eq(call_full(0, "GET", "/v1/containers/s1", NULL, "m1", "7", TOKEN, NULL), 404); /* raises to 7 */
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", "5", TOKEN, &o), 409);
    ck_assert_str_eq(error_code(o), "stale_token");
    cJSON_Delete(o);
    ck_assert_int_eq(call_full(0, "GET", "/v1/containers/s1", NULL, "m1", "5", TOKEN, NULL), 409);
    /* the peer routes take the peer token, not the worker's */
    ck_assert_int_eq(call_full(0, "GET", "/v1/sync-source/s1/manifest", NULL, NULL, NULL, TOKEN, NULL), 401);
    ck_assert_int_eq(call_full(0, "GET", "/v1/sync-source/s1/manifest", NULL, NULL, NULL, PEER, NULL), 404);
    agent_kill(0);
    agent_start(0);
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", "6", TOKEN, &o), 409);
    ck_assert_str_eq(error_code(o), "stale_token");
    cJSON_Delete(o);
    ck_assert_int_eq(call_full(0, "POST", "/v1/containers", body, "m1", "7", TOKEN, NULL), 201);
    char path[400];
    snprintf(path, sizeof path, "%s/servers/s1", agents[0].dir);
    ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

/* ------------------------------------------------------------------------ a slow DELETE */

/* A call made in a thread of the test, so that the test can act while it is in flight. */
typedef struct {
    int agent;
    const char *method, *path;
    long status;     /* 0 when no answer came */
    const char *why; /* libcurl's words then */
    int done;        /* set (atomically) once the call has returned */
} bg_call_t;

static void *bg_call_run(void *arg) {
    bg_call_t *c = arg;
    char url[256];
    snprintf(url, sizeof url, "%s%s", agents[c->agent].base, c->path);
    /* longer than any wait of the test: the call ends by the agent's answer */
    http_req_t req = {.method = c->method, .url = url, .token = TOKEN, .timeout_ms = 10 * 60 * 1000};
    c->status = http_request_json(&req, NULL, &c->why);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static bool bg_call_done(bg_call_t *c) {
    return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE) != 0;
}

/* The pid agent i's state file gives server `id`; -1 when the server is not in it (the
 * file is replaced atomically, so a read sees one whole version). */
static pid_t state_pid(int i, const char *id) {
    char path[400];
    snprintf(path, sizeof path, "%s/state/agent.json", agents[i].dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    ck_assert_msg(root != NULL, "%s is no JSON", path);
    pid_t pid = -1;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "servers"))
        if (strcmp(str_of(s, "id"), id) == 0) pid = (pid_t)num_of(s, "pid");
    cJSON_Delete(root);
    return pid;
}

/* Provisions server `id` on agent i without server.properties (running at once). */
static void provision_bare(int i, const char *id) {
    char body[200], path[128];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":64,\"disk_mb\":10}", id);
    ck_assert_int_eq(call(i, "POST", "/v1/containers", body, NULL, NULL), 201);
    snprintf(path, sizeof path, "/v1/containers/%s/start", id);
    ck_assert_int_eq(call(i, "POST", path, NULL, NULL, NULL), 200);
}

/* The answer's error code is `code` and the status `want`. */
static void expect_error(int i, const char *method, const char *path, long want, const char *code) {
    cJSON *o;
    long st = call(i, method, path, NULL, NULL, &o);
    ck_assert_msg(st == want && strcmp(error_code(o), code) == 0, "%s %s: %ld %s, not %ld %s", method, path, st,
                  error_code(o), want, code);
    cJSON_Delete(o);
}

START_TEST(test_agent_answers_other_calls_while_a_delete_waits_for_a_stubborn_stop) {
    /* servers that ignore SIGTERM and never read their console's "stop", and a stop whose
     * SIGTERM and SIGKILL are 10 and 20 minutes away: only the test's SIGKILL ends one */
    agent_extra[0][0] = "--agent-command=trap '' TERM; exec sleep 100000";
    agent_extra[0][1] = "--agent-stop-timeout-ms=600000";
    agent_start(0);
    provision_bare(0, "s1");
    provision_bare(0, "s2");
    pid_t pid = state_pid(0, "s1");
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(kill(pid, 0), 0);

    bg_call_t del = {.agent = 0, .method = "DELETE", .path = "/v1/containers/s1"};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, bg_call_run, &del), 0);
    wait_state(0, "s1", NULL, "stopping"); /* the DELETE has begun the stop it waits for */

    /* the rest of the agent answers while the DELETE waits */
    cJSON *o;
    ck_assert_int_eq(call(0, "GET", "/v1/health", NULL, NULL, &o), 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")));
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s2", NULL, NULL, &o), 200);
    ck_assert_str_eq(str_of(o, "state"), "running");
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s2/stop", NULL, NULL, NULL), 202);
    /* a call that would change s1 meanwhile is refused and changes nothing */
    expect_error(0, "DELETE", "/v1/containers/s1", 409, "busy");
    expect_error(0, "POST", "/v1/containers/s1/stop", 409, "busy");
    expect_error(0, "POST", "/v1/containers/s1/start", 409, "busy");
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"s1\"}", NULL, &o), 409);
    ck_assert_str_eq(error_code(o), "busy");
    cJSON_Delete(o);
    char sync[300]; /* a pass into it (from itself: any source whose manifest answers) */
    snprintf(sync, sizeof sync,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n0\",\"source_address\":\"%s\"}",
             agents[0].addr);
    ck_assert_int_eq(call(0, "POST", "/v1/sync", sync, "m1", &o), 409);
    ck_assert_str_eq(error_code(o), "busy");
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s1", NULL, NULL, &o), 200);
    ck_assert_str_eq(str_of(o, "state"), "stopping");
    cJSON_Delete(o);
    ck_assert_int_eq(kill(pid, 0), 0);
    ck_assert_int_eq(state_pid(0, "s1"), pid);
    ck_assert_msg(!bg_call_done(&del), "the DELETE answered %ld (%s) while its server ran", del.status,
                  del.why ? del.why : "");

    /* the server's end lets the DELETE finish, long before its stop's timeouts */
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    for (int waited = 0; !bg_call_done(&del); waited += 20) {
        ck_assert_msg(waited < WAIT_MS, "the DELETE did not end after its server's exit");
        timefmt_sleep_ms(20);
    }
    pthread_join(th, NULL);
    ck_assert_msg(del.status == 204, "DELETE: %ld %s", del.status, del.why ? del.why : "");
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s1", NULL, NULL, NULL), 404);
    ck_assert_int_eq(state_pid(0, "s1"), -1);
    ck_assert_int_gt(state_pid(0, "s2"), -1);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/servers/s1", agents[0].dir);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(call(0, "DELETE", "/v1/containers/s1", NULL, NULL, NULL), 404);
}
END_TEST

/* An agent told to stop while a DELETE waits for a stubborn server (its stop timeouts 10
 * and 20 minutes away) exits at once: the DELETE answers 503 stopping, the server runs on
 * (servers outlive their agent), and the restarted agent finds it stopping and deletes it
 * once it has exited. */
START_TEST(test_agent_stopped_during_a_delete_exits_at_once_and_a_delete_again_finishes) {
    agent_extra[0][0] = "--agent-command=trap '' TERM; exec sleep 100000";
    agent_extra[0][1] = "--agent-stop-timeout-ms=600000";
    agent_start(0);
    provision_bare(0, "s1");
    pid_t pid = state_pid(0, "s1");
    ck_assert_int_gt(pid, 0);
    bg_call_t del = {.agent = 0, .method = "DELETE", .path = "/v1/containers/s1"};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, bg_call_run, &del), 0);
    wait_state(0, "s1", NULL, "stopping");
    char bad[512] = "";
    ck_assert_int_eq(agent_proc_stop(&agents[0], "agent 0", bad, sizeof bad), 0);
    ck_assert_msg(bad[0] == '\0', "%s", bad); /* a clean exit on SIGTERM, not a kill */
    pthread_join(th, NULL);
    ck_assert_msg(del.status == 503, "DELETE: %ld %s", del.status, del.why ? del.why : "");
    ck_assert_int_eq(kill(pid, 0), 0);
    agent_start(0);
    cJSON *o;
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s1", NULL, NULL, &o), 200);
    ck_assert_str_eq(str_of(o, "state"), "stopping");
    cJSON_Delete(o);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(call(0, "DELETE", "/v1/containers/s1", NULL, NULL, NULL), 204);
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s1", NULL, NULL, NULL), 404);
}
END_TEST

/* Provisions server `id` on agent i with server.properties `props` (a game port is added
 * first) and no world, starts it, and waits until it runs. */
static void provision_with_props(int i, const char *id, const char *props) {
    char body[200], path[400];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":512,\"disk_mb\":100}", id);
    ck_assert_int_eq(call(i, "POST", "/v1/containers", body, NULL, NULL), 201);
    snprintf(path, sizeof path, "%s/servers/%s/server.properties", agents[i].dir, id);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "server-port=%d\n%s", free_port(), props);
    fclose(f);
    snprintf(path, sizeof path, "/v1/containers/%s/start", id);
    long st = call(i, "POST", path, NULL, NULL, NULL);
    ck_assert_msg(st == 202 || st == 200, "start: %ld", st);
    wait_state(i, id, NULL, "running");
}

/* Sets the players mcfake reports for server `id` on agent i. */
static void set_players(int i, const char *id, int n) {
    char path[400];
    snprintf(path, sizeof path, "%s/servers/%s/mcfake-players", agents[i].dir, id);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", n);
    fclose(f);
}

/* Polls GET /v1/containers/{id} until it says `healthy` and `players`. */
static void wait_players(int i, const char *id, bool healthy, int players) {
    char path[128];
    snprintf(path, sizeof path, "/v1/containers/%s", id);
    for (int waited = 0;; waited += 20) {
        cJSON *o;
        ck_assert_int_eq(call(i, "GET", path, NULL, NULL, &o), 200);
        bool h = cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy"));
        int n = (int)num_of(o, "players");
        cJSON_Delete(o);
        if (h == healthy && n == players) return;
        ck_assert_msg(waited < WAIT_MS, "server %s: healthy %d players %d, not %d and %d", id, h, n, healthy, players);
        timefmt_sleep_ms(20);
    }
}

START_TEST(test_agent_players_by_rcon_list_when_rcon_answers) {
    agent_start(0);
    /* the game port answers no ping: the count can only come from RCON */
    char props[200];
    snprintf(props, sizeof props, "enable-rcon=true\nrcon.port=%d\nrcon.password=pw\nmcfake-slp=false\n", free_port());
    provision_with_props(0, "s1", props);
    set_players(0, "s1", 2);
    wait_players(0, "s1", true, 2);
}
END_TEST

START_TEST(test_agent_players_by_server_list_ping_without_rcon) {
    agent_start(0);
    provision_with_props(0, "s1", "");
    wait_players(0, "s1", true, 0);
    set_players(0, "s1", 3);
    wait_players(0, "s1", true, 3);
    /* RCON configured but failing (nothing listens on its port): the ping answers */
    char props[200];
    snprintf(props, sizeof props, "enable-rcon=true\nrcon.port=%d\nrcon.password=pw\nmcfake-rcon=false\n", free_port());
    provision_with_props(0, "s2", props);
    set_players(0, "s2", 4);
    wait_players(0, "s2", true, 4);
    /* neither RCON nor a ping answers: running, but not healthy */
    provision_with_props(0, "s3", "mcfake-slp=false\n");
    set_players(0, "s3", 5);
    wait_players(0, "s3", false, 0);
    cJSON *o;
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s3", NULL, NULL, &o), 200);
    ck_assert_str_eq(str_of(o, "state"), "running");
    cJSON_Delete(o);
}
END_TEST

/* ------------------------------------------------------------------------ sync */

/* Starts pass `n` of m1 of server s1 on agent `t` from agent `s`, and polls it until done.
 * Returns its last answer (caller frees). */
static cJSON *run_pass(int t, int s, int n, bool final) {
    char body[400], path[128];
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n%d\",\"source_address\":\"%s\","
             "\"pass\":%d,\"final\":%s}",
             s, agents[s].addr, n, final ? "true" : "false");
    cJSON *o;
    ck_assert_int_eq(call(t, "POST", "/v1/sync", body, "m1", &o), 202);
    char id[64];
    snprintf(id, sizeof id, "m1.%d", n);
    ck_assert_str_eq(str_of(o, "sync_id"), id);
    cJSON_Delete(o);
    snprintf(path, sizeof path, "/v1/sync/%s", id);
    for (int waited = 0;; waited += 20) {
        ck_assert_int_eq(call(t, "GET", path, NULL, "m1", &o), 200);
        const cJSON *err = cJSON_GetObjectItem(o, "error");
        ck_assert_msg(cJSON_IsNull(err), "pass %d: %s", n, cJSON_GetStringValue(err));
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "done"))) return o;
        cJSON_Delete(o);
        ck_assert_msg(waited < WAIT_MS * 2, "pass %d did not finish", n);
        timefmt_sleep_ms(20);
    }
}

static double num(const cJSON *o, const char *name) {
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, name));
}

/* True when the two server directories hold the same tree, byte for byte. */
static bool same_tree(int a, int b) {
    char cmd[800];
    snprintf(cmd, sizeof cmd, "diff -r %s/servers/s1 %s/servers/s1 >%s/diff.txt 2>&1", agents[a].dir, agents[b].dir,
             top);
    return system(cmd) == 0;
}

/* MIG_AGENT_MEMORY_LIMIT=cgroup: the server runs in a cgroup of its own with the limit
 * of its ram_mb, and the cgroup goes after it exits. Needs root and a memory cgroup (v1
 * or v2): elsewhere the case says it is skipped and passes. */
START_TEST(test_agent_cgroup_limit_holds_the_server_and_goes_after_exit) {
    const char *v1 = "/sys/fs/cgroup/memory", *v2 = "/sys/fs/cgroup/cgroup.controllers";
    bool is_v1 = access(v1, W_OK) == 0;
    if (geteuid() != 0 || (!is_v1 && access(v2, F_OK) != 0)) {
        fprintf(stderr, "test_agent_cgroup_limit...: skipped: needs root and a memory cgroup\n");
        return;
    }
    char parent[128], opt[200];
    snprintf(parent, sizeof parent, "%s/mig-test-%d", is_v1 ? v1 : "/sys/fs/cgroup", (int)getpid());
    snprintf(opt, sizeof opt, "--agent-cgroup-parent=%s", parent);
    agent_extra[0][0] = "--agent-memory-limit=cgroup";
    agent_extra[0][1] = opt;
    agent_start(0);
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"s1\",\"ram_mb\":64,\"disk_mb\":10}", NULL,
                          NULL), 201);
    write_props(0, "s1");
    long st = call(0, "POST", "/v1/containers/s1/start", NULL, NULL, NULL);
    ck_assert_msg(st == 202 || st == 200, "start: %ld", st);
    wait_state(0, "s1", NULL, "running");
    char path[400], text[64] = "";
    snprintf(path, sizeof path, "%s/mig-s1/%s", parent, is_v1 ? "memory.limit_in_bytes" : "memory.max");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    ck_assert_ptr_nonnull(fgets(text, sizeof text, f));
    fclose(f);
    ck_assert_int_eq(atoll(text), (64LL + 256) << 20);
    /* the server's process (its pid in the agent's state) is in the cgroup */
    snprintf(path, sizeof path, "%s/state/agent.json", agents[0].dir);
    f = fopen(path, "r");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    cJSON *o = cJSON_Parse(buf);
    int pid = (int)num_of(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "servers"), 0), "pid");
    cJSON_Delete(o);
    ck_assert_int_gt(pid, 0);
    snprintf(path, sizeof path, "%s/mig-s1/cgroup.procs", parent);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    bool in = false;
    for (int p; fscanf(f, "%d", &p) == 1;) in = in || p == pid;
    fclose(f);
    ck_assert_msg(in, "pid %d is not in %s", pid, path);
    st = call(0, "POST", "/v1/containers/s1/stop", NULL, NULL, NULL);
    ck_assert_msg(st == 202 || st == 200, "stop: %ld", st);
    wait_state(0, "s1", NULL, "stopped");
    snprintf(path, sizeof path, "%s/mig-s1", parent);
    for (int waited = 0; access(path, F_OK) == 0; waited += 20) {
        ck_assert_msg(waited < WAIT_MS, "%s is still there after the server exited", path);
        timefmt_sleep_ms(20);
    }
    rmdir(parent);
}
END_TEST

START_TEST(test_agent_live_sync_ends_byte_identical_after_quiesce) {
    agent_start(0);
    agent_start(1);
    provision_running(0, "s1", 4);
    cJSON *o;
    /* the sync needs the target's container */
    char body[300];
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n0\",\"source_address\":\"%s\"}",
             agents[0].addr);
    ck_assert_int_eq(call(1, "POST", "/v1/sync", body, "m1", &o), 409);
    ck_assert_str_eq(error_code(o), "no_container");
    cJSON_Delete(o);
    ck_assert_int_eq(call(1, "POST", "/v1/containers",
                          "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":512,\"disk_mb\":2}", "m1", NULL),
                     201);
    /* a world of 4 MiB does not fit 2 MB of disk */
    ck_assert_int_eq(call(1, "POST", "/v1/sync", body, "m1", &o), 507);
    ck_assert_str_eq(error_code(o), "disk_full");
    cJSON_Delete(o);
    ck_assert_int_eq(call(1, "DELETE", "/v1/containers/s1", NULL, "m1", NULL), 204);
    ck_assert_int_eq(call(1, "POST", "/v1/containers",
                          "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":512,\"disk_mb\":100}", "m1", NULL),
                     201);
    o = run_pass(1, 0, 1, false);
    ck_assert_double_ge(num(o, "bytes_total"), 4 << 20);
    ck_assert_int_eq((int)num(o, "progress"), 100);
    cJSON_Delete(o);
    /* the source keeps writing: dirty_bytes of pass 1 grows above 0 */
    for (int waited = 0;; waited += 50) {
        ck_assert_int_eq(call(1, "GET", "/v1/sync/m1.1", NULL, "m1", &o), 200);
        double d = num(o, "dirty_bytes");
        cJSON_Delete(o);
        if (d > 0) break;
        ck_assert_msg(waited < WAIT_MS, "dirty_bytes stayed 0 while the source writes");
        timefmt_sleep_ms(50);
    }
    o = run_pass(1, 0, 2, false);
    ck_assert_double_lt(num(o, "bytes_total"), 4 << 20); /* a delta, not the world */
    cJSON_Delete(o);
    /* a lower pass number is refused */
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n0\",\"source_address\":\"%s\","
             "\"pass\":1}",
             agents[0].addr);
    ck_assert_int_eq(call(1, "POST", "/v1/sync", body, "m1", NULL), 202); /* pass 1 exists: its id again */
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/quiesce", "{\"save\":\"off\"}", NULL, &o), 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "flushed")));
    cJSON_Delete(o);
    /* a final pass begun after the quiesce ends with dirty_bytes 0 (docs/DRIVERS.md),
     * though the source rewrote blocks within the 2 s before it ("racy" files) */
    o = run_pass(1, 0, 1000, true);
    ck_assert_double_eq(num(o, "dirty_bytes"), 0);
    cJSON_Delete(o);
    ck_assert_int_eq(call(1, "GET", "/v1/sync/m1.1000", NULL, "m1", &o), 200);
    ck_assert_double_eq(num(o, "dirty_bytes"), 0);
    cJSON_Delete(o);
    ck_assert_msg(same_tree(0, 1), "the target differs from the quiesced source; see %s/diff.txt", top);
    /* the target runs the migrated server; same ports in its server.properties, so the
     * source stops first (on separate nodes they would not share them) */
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/stop", NULL, NULL, NULL), 202);
    wait_state(0, "s1", NULL, "stopped");
    long st = call(1, "POST", "/v1/containers/s1/start", NULL, "m1", NULL);
    ck_assert_msg(st == 202 || st == 200, "start: %ld", st);
    wait_state(1, "s1", "m1", "running");
}
END_TEST

START_TEST(test_agent_pass_resumes_after_kill_9_of_the_target) {
    agent_start(0);
    agent_extra[1][0] = "--agent-sync-rate-mbps=8";
    agent_extra[1][1] = "--agent-sync-checkpoint-mb=1";
    agent_start(1);
    provision_running(0, "s1", 24);
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/quiesce", "{\"save\":\"off\"}", NULL, NULL), 200);
    ck_assert_int_eq(call(1, "POST", "/v1/containers",
                          "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":512,\"disk_mb\":100}", "m1", NULL),
                     201);
    char body[300];
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n0\",\"source_address\":\"%s\","
             "\"pass\":1,\"final\":true}",
             agents[0].addr);
    ck_assert_int_eq(call(1, "POST", "/v1/sync", body, "m1", NULL), 202);
    cJSON *o;
    for (int waited = 0;; waited += 20) {
        ck_assert_int_eq(call(1, "GET", "/v1/sync/m1.1", NULL, "m1", &o), 200);
        double done = num(o, "bytes_done");
        cJSON_Delete(o);
        if (done >= 2 << 20) break;
        ck_assert_msg(waited < WAIT_MS, "the pass copied nothing");
        timefmt_sleep_ms(20);
    }
    agent_kill(1);
    agent_start(1);
    for (int waited = 0;; waited += 50) {
        ck_assert_int_eq(call(1, "GET", "/v1/sync/m1.1", NULL, "m1", &o), 200);
        bool done = cJSON_IsTrue(cJSON_GetObjectItem(o, "done"));
        const cJSON *err = cJSON_GetObjectItem(o, "error");
        ck_assert_msg(cJSON_IsNull(err), "resumed pass: %s", cJSON_GetStringValue(err));
        cJSON_Delete(o);
        if (done) break;
        ck_assert_msg(waited < WAIT_MS * 2, "the resumed pass did not finish");
        timefmt_sleep_ms(50);
    }
    ck_assert_msg(same_tree(0, 1), "the target differs from the source; see %s/diff.txt", top);
    ck_assert_msg(proc_log_has(agents[1].log, "agent.pass_resumed"), "the restarted agent did not resume");
}
END_TEST

Suite *suite_agent(void) {
    Suite *s = suite_create("agent");
    TCase *tc = tcase_create("agent");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_test(tc, test_agent_container_lifecycle_with_a_real_process);
    tcase_add_test(tc, test_agent_refuses_a_container_that_does_not_fit_with_507);
    tcase_add_test(tc, test_agent_tokens_and_fencing_survive_a_kill_9);
    tcase_add_test(tc, test_agent_answers_other_calls_while_a_delete_waits_for_a_stubborn_stop);
    tcase_add_test(tc, test_agent_stopped_during_a_delete_exits_at_once_and_a_delete_again_finishes);
    tcase_add_test(tc, test_agent_players_by_rcon_list_when_rcon_answers);
    tcase_add_test(tc, test_agent_players_by_server_list_ping_without_rcon);
    tcase_add_test(tc, test_agent_cgroup_limit_holds_the_server_and_goes_after_exit);
    tcase_add_test(tc, test_agent_live_sync_ends_byte_identical_after_quiesce);
    tcase_add_test(tc, test_agent_pass_resumes_after_kill_9_of_the_target);
    suite_add_tcase(s, tc);
    return s;
}
