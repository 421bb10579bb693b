/* test_docker_runtime.c - bin/migrate-agent with MIG_AGENT_RUNTIME=docker against a
 * Docker-compatible engine (podman's service, started by tests/containers/run.sh, which
 * gives its socket and a local image holding tests/support/mcfake): a container made
 * with a bind mount of the server's directory and a memory limit (the engine's inspect
 * shows both), started, answering RCON and the ping at its port, stopped over RCON or by
 * the engine's stop when RCON fails, deleted; and the errors of an engine that does not
 * answer. Every wait polls against a deadline. Its own runner: `make test-containers`. */
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/timefmt.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

#define TIMEOUT_S 300  /* a container's creation on vfs storage under load takes seconds */
#define WAIT_MS 120000 /* longest wait for a state change an engine makes in seconds */
#define TOKEN "agent-secret"
#define RAM_MB 128

static char top[64];
static pid_t agent_pid;
static char agent_base[64], agent_dir[300], agent_log[340];
static const char *sock_path, *image;

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts the agent with the docker runtime on engine socket `sock` and waits for it. */
static void agent_start(const char *sock) {
    snprintf(agent_dir, sizeof agent_dir, "%s/agent", top);
    snprintf(agent_log, sizeof agent_log, "%s/agent.log", top);
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], dir[320], sockopt[300], img[300], ul[200];
    snprintf(bin, sizeof bin, "%s/migrate-agent", bindir);
    snprintf(dir, sizeof dir, "--agent-dir=%s", agent_dir);
    snprintf(sockopt, sizeof sockopt, "--agent-docker-socket=%s", sock);
    snprintf(img, sizeof img, "--agent-docker-image=%s", image);
    snprintf(ul, sizeof ul, "--agent-docker-ulimits=%s", getenv("MIG_TEST_DOCKER_ULIMITS") ? getenv("MIG_TEST_DOCKER_ULIMITS") : "own");
    const char *argv[] = {bin, "--agent-listen=127.0.0.1:0", dir, "--agent-runtime=docker", sockopt, img,
                          "--agent-command=exec /usr/local/bin/mcfake", "--agent-token=" TOKEN,
                          "--agent-stop-timeout-ms=2000", "--log-level=debug", "--agent-ram-mb=100000",
                          "--agent-disk-mb=100000", ul, NULL};
    agent_pid = harness_spawn(argv, agent_log);
    ck_assert_int_gt(agent_pid, 0);
    int port;
    for (int waited = 0; (port = proc_port_from_log(agent_log, "agent.started")) == 0; waited += 20) {
        ck_assert_msg(harness_wait(agent_pid, 0) == -1, "migrate-agent exited; see %s", agent_log);
        ck_assert_msg(waited < WAIT_MS, "migrate-agent did not start; see %s", agent_log);
        timefmt_sleep_ms(20);
    }
    snprintf(agent_base, sizeof agent_base, "http://127.0.0.1:%d", port);
}

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t on_body(char *p, size_t s, size_t n, void *ctx) {
    buf_t *b = ctx;
    b->data = realloc(b->data, b->len + s * n + 1);
    memcpy(b->data + b->len, p, s * n);
    b->len += s * n;
    b->data[b->len] = '\0';
    return s * n;
}

/* One HTTP call: to the agent (unix_sock NULL) or the engine. The status; *out the
 * parsed body (caller frees) when `out` is not NULL. */
static long http(const char *unix_sock, const char *method, const char *path, const char *body, cJSON **out) {
    CURL *c = curl_easy_init();
    char url[400];
    snprintf(url, sizeof url, "%s%s", unix_sock ? "http://localhost/v1.40" : agent_base, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Authorization: Bearer " TOKEN);
    buf_t b = {0};
    if (unix_sock) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    ck_assert_msg(cc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(cc));
    if (out) *out = b.data ? cJSON_Parse(b.data) : NULL;
    free(b.data);
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
        ck_assert_msg(waited < WAIT_MS, "server %s is %s, not %s; see %s", id, got, want, agent_log);
        timefmt_sleep_ms(50);
    }
}

/* Creates server `id` (RAM_MB) and writes its server.properties (`extra` appended). */
static void create_server(const char *id, const char *extra) {
    char body[200], path[400];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":%d,\"disk_mb\":10}", id, RAM_MB);
    ck_assert_int_eq(http(NULL, "POST", "/v1/containers", body, NULL), 201);
    snprintf(path, sizeof path, "%s/servers/%s/server.properties", agent_dir, id);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "server-port=%d\nenable-rcon=true\nrcon.port=%d\nrcon.password=pw\n%s", free_port(), free_port(),
            extra);
    fclose(f);
}

static void setup(void) {
    snprintf(top, sizeof top, "/tmp/mig-docker-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    agent_pid = 0;
}

static void teardown(void) {
    int st = 0, hung = 0;
    if (agent_pid > 0) hung = harness_stop_pid(agent_pid, &st) != 0;
    /* containers a failed case left: by the names the agent gives */
    const char *ids[] = {"d1", "d2", "d3"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/containers/mig-%s?force=true", ids[i]);
        http(sock_path, "DELETE", path, NULL, NULL);
    }
    harness_rmtree(top);
    ck_assert_msg(!hung && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent did not exit cleanly on SIGTERM");
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
    ck_assert_msg(st == 200 || st == 202, "start: %ld; see %s", st, agent_log);
    /* the engine's view: the limit, the mount and the host network the agent asked */
    ck_assert_int_eq(http(sock_path, "GET", "/containers/mig-d1/json", NULL, &o), 200);
    cJSON *hc = cJSON_GetObjectItem(o, "HostConfig");
    ck_assert_int_eq((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(hc, "Memory")), (long long)(RAM_MB + 256)
                                                                                             << 20);
    ck_assert_str_eq(str_of(hc, "NetworkMode"), "host");
    char bind[400];
    snprintf(bind, sizeof bind, "%s/servers/d1:/data", agent_dir);
    const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(hc, "Binds"), 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(strncmp(cJSON_GetStringValue(b), bind, strlen(bind)) == 0, "bind %s", cJSON_GetStringValue(b));
    cJSON_Delete(o);
    wait_state("d1", "running");
    /* healthy: RCON `list` answered from inside the container, at the host's port */
    ck_assert_int_eq(http(NULL, "GET", "/v1/containers/d1", NULL, &o), 200);
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")), "not healthy; see %s", agent_log);
    cJSON_Delete(o);
    /* the bind mount: what the server wrote in /data is in the agent's directory */
    char path[400];
    snprintf(path, sizeof path, "%s/servers/d1/start.sum", agent_dir);
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
    ck_assert_msg(st == 200 || st == 202, "restart: %ld; see %s", st, agent_log);
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
    ck_assert_msg(st == 200 || st == 202, "start: %ld; see %s", st, agent_log);
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
