/* test_docker_runtime.c - bin/migrate-agent with MIG_AGENT_RUNTIME=docker against a
 * Docker-compatible engine (podman's service, started by tests/containers/run.sh, which
 * gives its socket and a local image holding tests/support/mcfake): a container made
 * with a bind mount of the server's directory and a memory limit (the engine's inspect
 * shows both), started, answering RCON and the ping at its port, stopped over RCON or by
 * the engine's stop when RCON fails, deleted; and the errors of an engine that does not
 * answer. Every wait polls against a deadline. Its own runner: `make test-containers`. */
#include <check.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/timefmt.h"
#include "tests/support/agent_proc.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

#define TIMEOUT_S 300  /* a container's creation on vfs storage under load takes seconds */
#define WAIT_MS 120000 /* longest wait for a state change an engine makes in seconds */
#define TOKEN "agent-secret"
#define RAM_MB 128

static char top[64];
static agent_proc_t agent;
static const char *sock_path, *image;

/* Starts the agent with the docker runtime on engine socket `sock` and waits for it. */
static void agent_start(const char *sock) {
    snprintf(agent.dir, sizeof agent.dir, "%s/agent", top);
    snprintf(agent.log, sizeof agent.log, "%s/agent.log", top);
    char sockopt[300], img[300], ul[200], err[400];
    snprintf(sockopt, sizeof sockopt, "--agent-docker-socket=%s", sock);
    snprintf(img, sizeof img, "--agent-docker-image=%s", image);
    snprintf(ul, sizeof ul, "--agent-docker-ulimits=%s", getenv("MIG_TEST_DOCKER_ULIMITS") ? getenv("MIG_TEST_DOCKER_ULIMITS") : "own");
    const char *argv[] = {"--agent-runtime=docker", sockopt, img, "--agent-command=exec /usr/local/bin/mcfake",
                          "--agent-token=" TOKEN, "--agent-ram-mb=100000", "--agent-disk-mb=100000", ul, NULL};
    ck_assert_msg(agent_proc_start(&agent, "http", argv, WAIT_MS, err, sizeof err) == 0, "%s", err);
}

/* One HTTP call: to the agent (unix_sock NULL) or the engine. The status; *out the
 * parsed body (caller frees) when `out` is not NULL. */
static long http(const char *unix_sock, const char *method, const char *path, const char *body, cJSON **out) {
    char url[400];
    snprintf(url, sizeof url, "%s%s", unix_sock ? "http://localhost/v1.40" : agent.base, path);
    http_req_t req = {.method = method, .url = url, .body = body, .token = TOKEN, .unix_socket = unix_sock,
                      .timeout_ms = 60000};
    const char *why;
    long status = http_request_json(&req, out, &why);
    ck_assert_msg(why == NULL, "%s %s: %s", method, url, why);
    return status;
}

static const char *str_of(const cJSON *o, const char *name) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return s ? s : "";
}

static void wait_state(const char *id, const char *want) {
    char path[128];
    snprintf(path, sizeof path, "/v1/containers/%s", id);
    for (int waited = 0;; waited += 50) {
        cJSON *o;
        ck_assert_int_eq(http(NULL, "GET", path, NULL, &o), 200);
        char got[32];
        snprintf(got, sizeof got, "%s", str_of(o, "state"));
        cJSON_Delete(o);
        if (strcmp(got, want) == 0) return;
        ck_assert_msg(waited < WAIT_MS, "server %s is %s, not %s; see %s", id, got, want, agent.log);
        timefmt_sleep_ms(50);
    }
}

/* Creates server `id` (RAM_MB) and writes its server.properties (`extra` appended). */
static void create_server(const char *id, const char *extra) {
    char body[200];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":%d,\"disk_mb\":10}", id, RAM_MB);
    ck_assert_int_eq(http(NULL, "POST", "/v1/containers", body, NULL), 201);
    ck_assert_int_gt(agent_proc_write_props(agent.dir, id, extra), 0);
}

static void setup(void) {
    snprintf(top, sizeof top, "/tmp/mig-docker-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    memset(&agent, 0, sizeof agent);
}

static void teardown(void) {
    char bad[256] = "";
    agent_proc_stop(&agent, "the agent", bad, sizeof bad);
    /* containers a failed case left: by the names the agent gives */
    const char *ids[] = {"d1", "d2", "d3"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/containers/mig-%s?force=true", ids[i]);
        http(sock_path, "DELETE", path, NULL, NULL);
    }
    harness_rmtree(top);
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

/* ------------------------------------------------------------------------ cases */

START_TEST(test_docker_container_has_bind_mount_memory_limit_and_answers_rcon) {
    agent_start(sock_path);
    cJSON *o;
    ck_assert_int_eq(http(NULL, "GET", "/v1/health", NULL, &o), 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")));
    cJSON_Delete(o);
    create_server("d1", "");
    long st = http(NULL, "POST", "/v1/containers/d1/start", NULL, NULL);
    ck_assert_msg(st == 200 || st == 202, "start: %ld; see %s", st, agent.log);
    /* the engine's view: the limit, the mount and the host network the agent asked */
    ck_assert_int_eq(http(sock_path, "GET", "/containers/mig-d1/json", NULL, &o), 200);
    cJSON *hc = cJSON_GetObjectItem(o, "HostConfig");
    ck_assert_int_eq((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "Memory")), (long long)(RAM_MB + 256)
                                                                                             << 20);
    ck_assert_str_eq(str_of(hc, "NetworkMode"), "host");
    char bind[400];
    snprintf(bind, sizeof bind, "%s/servers/d1:/data", agent.dir);
    const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(hc, "Binds"), 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(strncmp(cJSON_GetStringValue(b), bind, strlen(bind)) == 0, "bind %s", cJSON_GetStringValue(b));
    cJSON_Delete(o);
    wait_state("d1", "running");
    /* healthy: RCON `list` answered from inside the container, at the host's port */
    ck_assert_int_eq(http(NULL, "GET", "/v1/containers/d1", NULL, &o), 200);
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")), "not healthy; see %s", agent.log);
    cJSON_Delete(o);
    /* the bind mount: what the server wrote in /data is in the agent's directory */
    char path[400];
    snprintf(path, sizeof path, "%s/servers/d1/start.sum", agent.dir);
    ck_assert_msg(access(path, F_OK) == 0, "mcfake's start.sum is not in the server's directory");
    ck_assert_int_eq(http(NULL, "POST", "/v1/containers/d1/quiesce", "{\"save\":\"off\"}", &o), 200);
    cJSON_Delete(o);
    ck_assert_int_eq(http(NULL, "POST", "/v1/containers/d1/quiesce", "{\"save\":\"on\"}", NULL), 200);
    st = http(NULL, "POST", "/v1/containers/d1/stop", NULL, NULL);
    ck_assert_msg(st == 200 || st == 202, "stop: %ld", st);
    wait_state("d1", "stopped");
    ck_assert_int_eq(http(sock_path, "GET", "/containers/mig-d1/json", NULL, &o), 200);
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "State"), "Running")));
    cJSON_Delete(o);
    /* started again: a fresh container on the same directory */
    st = http(NULL, "POST", "/v1/containers/d1/start", NULL, NULL);
    ck_assert_msg(st == 200 || st == 202, "restart: %ld; see %s", st, agent.log);
    wait_state("d1", "running");
    /* deleted while running: the container goes with it */
    ck_assert_int_eq(http(NULL, "DELETE", "/v1/containers/d1", NULL, NULL), 204);
    ck_assert_int_eq(http(sock_path, "GET", "/containers/mig-d1/json", NULL, NULL), 404);
    ck_assert_int_eq(http(NULL, "GET", "/v1/containers/d1", NULL, NULL), 404);
}
END_TEST

START_TEST(test_docker_stop_uses_the_engine_stop_when_rcon_fails) {
    agent_start(sock_path);
    create_server("d2", "mcfake-rcon=false\n");
    long st = http(NULL, "POST", "/v1/containers/d2/start", NULL, NULL);
    ck_assert_msg(st == 200 || st == 202, "start: %ld; see %s", st, agent.log);
    wait_state("d2", "running");
    st = http(NULL, "POST", "/v1/containers/d2/stop", NULL, NULL);
    ck_assert_msg(st == 200 || st == 202, "stop: %ld", st);
    wait_state("d2", "stopped"); /* the engine's SIGTERM ends mcfake */
    cJSON *o;
    ck_assert_int_eq(http(sock_path, "GET", "/containers/mig-d2/json", NULL, &o), 200);
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "State"), "Running")));
    cJSON_Delete(o);
    ck_assert_int_eq(http(NULL, "DELETE", "/v1/containers/d2", NULL, NULL), 204);
    ck_assert_int_eq(http(sock_path, "GET", "/containers/mig-d2/json", NULL, NULL), 404);
}
END_TEST

START_TEST(test_docker_unreachable_engine_fails_health_and_start_clearly) {
    char nosock[128];
    snprintf(nosock, sizeof nosock, "%s/no-engine.sock", top);
    agent_start(nosock);
    cJSON *o;
    ck_assert_int_eq(http(NULL, "GET", "/v1/health", NULL, &o), 503);
    ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")));
    ck_assert_msg(strstr(str_of(o, "error"), "no-engine.sock") != NULL, "error: %s", str_of(o, "error"));
    cJSON_Delete(o);
    create_server("d3", "");
    ck_assert_int_eq(http(NULL, "POST", "/v1/containers/d3/start", NULL, &o), 500);
    const char *msg = str_of(cJSON_GetObjectItem(o, "error"), "message");
    ck_assert_msg(strstr(msg, "docker engine") != NULL, "message: %s", msg);
    cJSON_Delete(o);
    ck_assert_int_eq(http(NULL, "GET", "/v1/containers/d3", NULL, &o), 200);
    ck_assert_str_eq(str_of(o, "state"), "created"); /* the failed start changed nothing */
    cJSON_Delete(o);
}
END_TEST

int main(void) {
    sock_path = getenv("MIG_TEST_DOCKER_SOCKET");
    image = getenv("MIG_TEST_DOCKER_IMAGE");
    if (sock_path == NULL || image == NULL) {
        fprintf(stderr, "run through tests/containers/run.sh (make test-containers)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("containers");
    TCase *tc = tcase_create("docker_runtime");
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_docker_container_has_bind_mount_memory_limit_and_answers_rcon);
    tcase_add_test(tc, test_docker_stop_uses_the_engine_stop_when_rcon_fails);
    tcase_add_test(tc, test_docker_unreachable_engine_fails_health_and_start_clearly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
