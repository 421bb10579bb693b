/* test_untrusted.c - Redis, sentinels and agents under hostile input (issue 12, findings
 * 3, 5, 9 and 13's Redis parts): each test makes the attack, asserts a clear refusal,
 * and that nothing changed (the database byte-equal, or a listener that got no byte). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/sentinel_harness.h"
#include "worker/driver.h"

/* ------------------------------------------------------------------------ a listener */

/* A TCP listener on a free loopback port that records every byte it gets, and answers
 * each read with `reply` (HTTP or RESP, by the test); `sentinel_reply`, when set, is the
 * answer to a read that asks SENTINEL get-master-addr-by-name (a rogue sentinel). */
typedef struct {
    int fd, port;
    const char *reply, *sentinel_reply;
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t lock;
    size_t got;             /* bytes received in all */
    char first[8192];       /* the first bytes received, NUL-terminated */
} listener_t;

static void *listener_main(void *arg) {
    listener_t *l = arg;
    int conns[16], n = 0;
    while (!l->stop) {
        struct pollfd p[17];
        p[0] = (struct pollfd){.fd = l->fd, .events = POLLIN};
        for (int i = 0; i < n; i++) p[i + 1] = (struct pollfd){.fd = conns[i], .events = POLLIN};
        if (poll(p, (nfds_t)n + 1, 20) <= 0) continue;
        if ((p[0].revents & POLLIN) && n < 16) {
            int c = accept(l->fd, NULL, NULL);
            if (c >= 0) conns[n++] = c;
        }
        for (int i = 0; i < n; i++) {
            if (!(p[i + 1].revents & (POLLIN | POLLHUP))) continue;
            char buf[4096];
            ssize_t r = read(conns[i], buf, sizeof buf);
            if (r <= 0) {
                close(conns[i]);
                conns[i--] = conns[--n];
                continue;
            }
            pthread_mutex_lock(&l->lock);
            size_t room = sizeof l->first - 1 - (l->got < sizeof l->first - 1 ? l->got : sizeof l->first - 1);
            if (room > 0) memcpy(l->first + (sizeof l->first - 1 - room), buf, (size_t)r < room ? (size_t)r : room);
            l->got += (size_t)r;
            pthread_mutex_unlock(&l->lock);
            const char *answer = l->sentinel_reply && memmem(buf, (size_t)r, "get-master-addr-by-name", 23)
                                     ? l->sentinel_reply
                                     : l->reply;
            if (answer && write(conns[i], answer, strlen(answer)) < 0) continue;
        }
    }
    for (int i = 0; i < n; i++) close(conns[i]);
    return NULL;
}

static void listener_start(listener_t *l, const char *reply) {
    memset(l, 0, sizeof *l);
    l->reply = reply;
    pthread_mutex_init(&l->lock, NULL);
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(l->fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l->fd, 16), 0);
    getsockname(l->fd, (struct sockaddr *)&a, &len);
    l->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&l->thread, NULL, listener_main, l), 0);
}

/* Stops it; returns the bytes it got. */
static size_t listener_stop(listener_t *l) {
    l->stop = 1;
    pthread_join(l->thread, NULL);
    close(l->fd);
    return l->got;
}

/* ------------------------------------------------------------------------ finding 5: addresses */

/* The probe of issue 12: an optimizer sets a node's address to a URL of an internal
 * service. node_put refuses it and changes nothing, for a new node and a known one. */
START_TEST(test_node_put_with_a_path_in_its_address_is_refused_and_changes_nothing) {
    static const char *const bad[] = {"127.0.0.1:18999/internal/admin?x=", "user@127.0.0.1", "http://127.0.0.1",
                                      "127.0.0.1:99999", "::1", "10.0.0.1 "};
    char *before = fx_snapshot();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *known[] = {"address", bad[i]};
        ck_assert_int_eq(store_put_node(fx_rc, "n1", known, 1), MIG_EINVALID);
        ck_assert_msg(strstr(fx_rc->err, "address: must be host[:port]"), "%s", fx_rc->err);
        const char *fresh[] = {"name", "Node-X", "address", bad[i]};
        ck_assert_int_eq(store_put_node(fx_rc, "n9", fresh, 2), MIG_EINVALID);
    }
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    const char *good[] = {"address", "[fe80::1]:7070"};
    ck_assert_int_eq(store_put_node(fx_rc, "n1", good, 1), 0);
}
END_TEST

/* A driver over a listener: MIG_DRIVER_NODE_URL http://{node_address} and the proxy. */
static driver_t *driver_at(int port, const char *token) {
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
    driver_opts_t o = {.node_url = "http://{node_address}", .proxy_url = proxy, .timeout_ms = 5000, .attempts = 1,
                       .backoff_ms = 10, .token = token};
    char err[256];
    driver_t *d = driver_new(&o, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

/* An address that the inventory holds from before the rule (written around node_put) is
 * checked again by the driver, which then calls nobody. */
START_TEST(test_driver_calls_no_node_whose_address_has_a_path) {
    listener_t l;
    listener_start(&l, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    char address[128];
    snprintf(address, sizeof address, "127.0.0.1:%d/internal/admin?x=", l.port);
    node_t n = {.id = (char *)"n1", .address = address};
    driver_t *d = driver_at(l.port, NULL);
    bool healthy;
    long long ram, disk;
    ck_assert_int_eq(driver_health(d, &n, &healthy, &ram, &disk), MIG_EREFUSED);
    ck_assert_msg(strstr(driver_error(d), "node n1: not called: its address:"), "%s", driver_error(d));
    ck_assert_int_eq(driver_container_create(d, &n, "m1", "s1", 1, 1), MIG_EREFUSED);
    driver_free(d);
    ck_assert_int_eq(listener_stop(&l), 0);
}
END_TEST

#define SECRET "INTERNAL-ADMIN-PAGE hunter2"

/* An agent (or whatever an address names) that answers an error with a body: the error
 * names the place, the call, the status and the agent's code, and nothing of the body. */
START_TEST(test_agent_error_body_never_reaches_the_error_only_its_code) {
    static char coded[1024], html[1024];
    snprintf(coded, sizeof coded,
             "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
             "{\"error\":{\"code\":\"exists\",\"message\":\"%s\"}}",
             strlen("{\"error\":{\"code\":\"exists\",\"message\":\"\"}}") + strlen(SECRET), SECRET);
    snprintf(html, sizeof html, "HTTP/1.1 403 Forbidden\r\nContent-Length: %zu\r\n\r\n<html>%s</html>",
             strlen(SECRET) + 13, SECRET);
    static const struct {
        const char *reply, *want;
    } cases[] = {{coded, "node n1: POST /v1/containers: 409 exists"}, {html, "node n1: POST /v1/containers: 403"}};
    for (size_t i = 0; i < 2; i++) {
        listener_t l;
        listener_start(&l, cases[i].reply);
        char address[64];
        snprintf(address, sizeof address, "127.0.0.1:%d", l.port);
        node_t n = {.id = (char *)"n1", .address = address};
        driver_t *d = driver_at(l.port, "agent-token-1");
        ck_assert_int_eq(driver_container_create(d, &n, "m1", "s1", 1, 1), MIG_EREFUSED);
        ck_assert_str_eq(driver_error(d), cases[i].want);
        driver_free(d);
        listener_stop(&l);
        /* the worker authenticated itself on the call */
        ck_assert_msg(strstr(l.first, "\r\nAuthorization: Bearer agent-token-1\r\n"), "%s", l.first);
    }
}
END_TEST

/* ------------------------------------------------------------------------ finding 5: the agent token */

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

static size_t discard(char *p, size_t size, size_t nmemb, void *ud) {
    (void)p;
    (void)ud;
    return size * nmemb;
}

/* One call to fleet-sim; returns its status. `auth` is the whole Authorization value. */
static long sim_call(int port, const char *method, const char *path, const char *auth, const char *body) {
    char url[256], h[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    hs = curl_slist_append(hs, "Idempotency-Key: m1");
    hs = curl_slist_append(hs, "Fencing-Token: 1");
    if (auth) {
        snprintf(h, sizeof h, "Authorization: %s", auth);
        hs = curl_slist_append(hs, h);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return status;
}

/* fleet-sim with MIG_SIM_AGENT_TOKEN: an agent or proxy call without the token, or with
 * another, is 401 and creates nothing; with it, the call is served. */
START_TEST(test_sim_refuses_agent_calls_without_the_agent_token) {
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], url[340], log[320];
    snprintf(bin, sizeof bin, "%s/fleet-sim", bindir);
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    snprintf(log, sizeof log, "%s/sim-token-%d.log", fx_redis.dir, (int)getpid());
    setenv("MIG_SIM_AGENT_TOKEN", "s3cret-agent-token", 1);
    const char *argv[] = {bin, url, "--sim-listen=127.0.0.1:0", "--sim-nodes=2", "--sim-servers=2",
                          "--sim-zero-delays=1", NULL};
    pid_t pid = harness_spawn(argv, log);
    unsetenv("MIG_SIM_AGENT_TOKEN");
    ck_assert_int_gt(pid, 0);
    int port = 0;
    for (int i = 0; i < 1000 && (port = port_from_log(log)) == 0; i++) {
        ck_assert_msg(harness_wait(pid, 0) == -1, "fleet-sim exited; see %s", log);
        timefmt_sleep_ms(10);
    }
    ck_assert_msg(port > 0, "no port; see %s", log);
    const char *create = "{\"server_id\":\"s1\",\"migration_id\":\"m1\"}";
    static const char *const wrong[] = {NULL, "Bearer nope", "Bearer s3cret-agent-tokenX", "Basic s3cret-agent-token",
                                        "Bearer "};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        ck_assert_int_eq(sim_call(port, "GET", "/nodes/n1/v1/health", wrong[i], NULL), 401);
        ck_assert_int_eq(sim_call(port, "POST", "/nodes/n2/v1/containers", wrong[i], create), 401);
        ck_assert_int_eq(sim_call(port, "POST", "/proxy/v1/waiting-rooms", wrong[i], "{\"name\":\"w\"}"), 401);
    }
    /* nothing was created: the container answers 404 to the right token */
    ck_assert_int_eq(sim_call(port, "GET", "/nodes/n2/v1/containers/s1", "Bearer s3cret-agent-token", NULL), 404);
    ck_assert_int_eq(sim_call(port, "GET", "/nodes/n1/v1/health", "Bearer s3cret-agent-token", NULL), 200);
    ck_assert_int_eq(harness_stop_pid(pid, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------------------ finding 13: an ACL user */

/* A Redis with an ACL user and no default user: redis://user:pass@host reaches it as that
 * user; a wrong password is refused, and no error shows it. */
START_TEST(test_acl_user_in_the_url_authenticates_as_that_user) {
    listener_t probe; /* a free port, for the TCP redis-server */
    listener_start(&probe, NULL);
    int port = probe.port;
    listener_stop(&probe);
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    harness_redis_t tcp;
    const char *extra[] = {"--port", portarg, "--bind", "127.0.0.1", NULL};
    ck_assert_int_eq(harness_redis_start(&tcp, extra), 0);
    redisReply *r = harness_redis_cmd(&tcp, "ACL SETUSER migrate on >pw-of-migrate ~* &* +@all");
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    freeReplyObject(harness_redis_cmd(&tcp, "ACL SETUSER default off"));
    char url[128];
    snprintf(url, sizeof url, "redis://migrate:pw-of-migrate@127.0.0.1:%d/0", port);
    rconn_opts_t o = {.url = url, .timeout_ms = 5000};
    char err[512];
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    ck_assert_ptr_nonnull(rc);
    int code;
    const char *who[] = {"ACL", "WHOAMI"};
    redisReply *w = rconn_command(rc, 2, who, NULL, &code);
    ck_assert_msg(w != NULL, "%s", rc->err);
    ck_assert_str_eq(w->str, "migrate");
    freeReplyObject(w);
    rconn_free(rc);
    snprintf(url, sizeof url, "redis://migrate:wrong-password@127.0.0.1:%d/0", port);
    rc = rconn_new(&o, err, sizeof err);
    ck_assert_ptr_null(rconn_command(rc, 2, who, NULL, &code));
    ck_assert_msg(strstr(rc->err, "AUTH") && !strstr(rc->err, "wrong-password"), "%s", rc->err);
    rconn_free(rc);
    harness_redis_stop(&tcp);
}
END_TEST

/* ------------------------------------------------------------------------ finding 3: sentinels */

/* A rogue sentinel, first in the list, names a rogue "primary" (a listener that records
 * every byte). The three honest sentinels out-vote it: the connection reaches the real
 * primary, and the rogue address gets no byte, so neither AUTH nor FUNCTION LOAD. With
 * only one honest sentinel beside it there is no majority: no connection, no byte. */
START_TEST(test_rogue_sentinel_is_outvoted_and_its_address_gets_nothing) {
    ha_t ha;
    ck_assert_msg(ha_start(&ha) == 0, "the sentinel harness did not start");
    listener_t rogue_primary, rogue_sentinel;
    listener_start(&rogue_primary, "+OK\r\n");
    static char named[128];
    snprintf(named, sizeof named, "*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n",
             rogue_primary.port >= 10000 ? 5 : 4, rogue_primary.port);
    listener_start(&rogue_sentinel, "+OK\r\n");
    rogue_sentinel.sentinel_reply = named;
    char list[256];
    snprintf(list, sizeof list, "127.0.0.1:%d,%s", rogue_sentinel.port, ha.sentinels);
    rconn_opts_t o = {.url = "redis://:the-redis-password@ignored:6379/0", .sentinels = list, .master = HA_MASTER,
                      .timeout_ms = 2000};
    char err[512];
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    ck_assert_ptr_nonnull(rc);
    /* the harness's Redis has no password: AUTH there is refused, so ask without one */
    rconn_free(rc);
    o.url = NULL;
    rc = rconn_new(&o, err, sizeof err);
    ck_assert_ptr_nonnull(rc);
    ck_assert_msg(rc->ctx != NULL, "no connection: %s", rc->err);
    ck_assert_int_eq(rc->addr.port, ha.node[0].port);
    ck_assert_int_eq(rconn_load_library(rc), 0);
    rconn_free(rc);

    /* two configured, one rogue: no majority */
    char first[64];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(ha.sentinels, ","), ha.sentinels);
    snprintf(list, sizeof list, "127.0.0.1:%d,%s", rogue_sentinel.port, first);
    o.sentinels = list;
    rc = rconn_new(&o, err, sizeof err);
    ck_assert_ptr_nonnull(rc);
    ck_assert_ptr_null(rc->ctx);
    ck_assert_msg(strstr(rc->err, "no majority of the 2 sentinels"), "%s", rc->err);
    rconn_free(rc);

    ck_assert_int_gt(listener_stop(&rogue_sentinel), 0); /* it was asked */
    ck_assert_msg(listener_stop(&rogue_primary) == 0, "the rogue primary got: %s", rogue_primary.first);
    ck_assert_int_eq(ha_stop(&ha), 0);
}
END_TEST

Suite *suite_untrusted(void) {
    Suite *s = suite_create("untrusted");
    TCase *tc = tcase_create("untrusted");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_node_put_with_a_path_in_its_address_is_refused_and_changes_nothing);
    tcase_add_test(tc, test_driver_calls_no_node_whose_address_has_a_path);
    tcase_add_test(tc, test_agent_error_body_never_reaches_the_error_only_its_code);
    tcase_add_test(tc, test_sim_refuses_agent_calls_without_the_agent_token);
    tcase_add_test(tc, test_acl_user_in_the_url_authenticates_as_that_user);
    tcase_add_test(tc, test_rogue_sentinel_is_outvoted_and_its_address_gets_nothing);
    suite_add_tcase(s, tc);
    return s;
}
