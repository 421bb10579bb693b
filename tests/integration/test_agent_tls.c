/* test_agent_tls.c - bin/migrate-agent over https: two agents on loopback addresses
 * (127.0.0.11 and .12, else 127.0.0.1), each serving TLS with a certificate of a test CA
 * made by the openssl CLI (certs.c), pulling worlds from each other over https with that
 * CA. A client that trusts the CA is served; one that does not is refused at the
 * handshake, and so is plain http on the https port, without harm to the agent; a pass
 * copies a world byte-identically over TLS; a target that does not trust its source's
 * certificate is refused the pass and copies nothing. Every wait polls against a deadline. */
#include <check.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "certs.h"
#include "core/timefmt.h"
#include "suites.h"
#include "tests/support/agent_proc.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

#define TIMEOUT_S 120 /* a case moves a few MiB between two sanitized agents */
#define WAIT_MS 30000 /* longest wait for a state the agent reaches in well under a second */
#define TOKEN "agent-secret"
#define PEER "peer-secret"

static char top[64];
static agent_proc_t ag[2];
static const char *peer_ca[2]; /* the CA an agent trusts for its sources: ca.pem when NULL */
static bool client_certs;      /* the agents ask every client for a certificate of ca.pem, and
                                  show theirs (agent.crt) to their sources, as the calls here do */

/* A file of the test's folder. */
static const char *in_top(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", top, name);
    return buf;
}

/* Starts agent `i` serving https with agent.pem, pulling from https sources it checks
 * against peer_ca[i] (ca.pem unless set); waits for its port. 127.0.0.1x when it binds,
 * else 127.0.0.1. */
static void agent_start(int i) {
    agent_proc_t *a = &ag[i];
    if (a->dir[0] == '\0') { /* the first start: its folder and address */
        snprintf(a->dir, sizeof a->dir, "%s/agent%d", top, i);
        snprintf(a->host, sizeof a->host, "127.0.0.%d", 11 + i);
    }
    snprintf(a->log, sizeof a->log, "%s/agent%d.log", top, i);
    char cmd[400], cert[160], ca[160], f[100], err[400], mtls[3][160];
    snprintf(cert, sizeof cert, "--agent-tls-cert=%s", in_top("agent.pem", f, sizeof f));
    snprintf(ca, sizeof ca, "--agent-peer-ca-file=%s", peer_ca[i] ? peer_ca[i] : in_top("ca.pem", f, sizeof f));
    snprintf(mtls[0], sizeof mtls[0], "--agent-tls-client-ca=%s", in_top("ca.pem", f, sizeof f));
    snprintf(mtls[1], sizeof mtls[1], "--agent-peer-cert-file=%s", in_top("agent.crt", f, sizeof f));
    snprintf(mtls[2], sizeof mtls[2], "--agent-peer-key-file=%s", in_top("agent.key", f, sizeof f));
    const char *argv[] = {agent_proc_mcfake_command(cmd, sizeof cmd), "--agent-token=" TOKEN,
                          "--agent-peer-token=" PEER, "--agent-disk-mb=100000", "--agent-ram-mb=100000", cert, ca,
                          "--agent-peer-url=https://{source_address}", client_certs ? mtls[0] : NULL, mtls[1],
                          mtls[2], NULL};
    ck_assert_msg(agent_proc_start(a, "https", argv, WAIT_MS, err, sizeof err) == 0, "%s", err);
}

static void setup(void) {
    snprintf(top, sizeof top, "/tmp/mig-agent-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    memset(ag, 0, sizeof ag);
    memset(peer_ca, 0, sizeof peer_ca);
    client_certs = false;
    ck_assert_msg(certs_make(top) == 0, "openssl could not make the certificates; see %s/openssl.log", top);
}

static void teardown(void) {
    char bad[512] = "";
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "agent %d", i);
        agent_proc_stop(&ag[i], name, bad, sizeof bad);
        if (ag[i].dir[0]) agent_proc_kill_servers(&ag[i]);
    }
    harness_rmtree(top);
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

/* ------------------------------------------------------------------------ calls */

/* One call to `url` trusting the CA file `ca` (NULL: libcurl's default bundle) with the
 * worker's token, and migration m1's headers when `mid`. Returns libcurl's code; *status
 * the HTTP status (0 when none came); *out the parsed body when `out` (caller frees). */
static CURLcode call_url(const char *url, const char *ca, const char *method, const char *body, bool mid,
                         long *status, cJSON **out) {
    char crt[100], key[100];
    http_req_t req = {.method = method, .url = url, .body = body, .token = TOKEN, .ca_file = ca,
                      .idempotency_key = mid ? "m1" : NULL, .fencing_token = mid ? "1" : NULL, .timeout_ms = 20000};
    if (client_certs) /* the worker's MIG_DRIVER_CERT_FILE and MIG_DRIVER_KEY_FILE */
        req.cert_file = in_top("agent.crt", crt, sizeof crt), req.key_file = in_top("agent.key", key, sizeof key);
    http_resp_t r;
    http_request(&req, &r);
    CURLcode cc = (CURLcode)r.curl_code;
    *status = r.status;
    if (out) *out = r.json, r.json = NULL;
    http_resp_free(&r);
    return cc;
}

/* A call to agent `i` over https trusting the test CA; fails the test when it does not
 * arrive. Returns the status. */
static long call(int i, const char *method, const char *path, const char *body, bool mid, cJSON **out) {
    char url[256], ca[100];
    snprintf(url, sizeof url, "%s%s", ag[i].base, path);
    long st;
    CURLcode cc = call_url(url, in_top("ca.pem", ca, sizeof ca), method, body, mid, &st, out);
    ck_assert_msg(cc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(cc));
    return st;
}

static const char *str_of(const cJSON *o, const char *name) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return s ? s : "";
}

static void wait_state(int i, const char *want) {
    for (int waited = 0;; waited += 20) {
        cJSON *o;
        ck_assert_int_eq(call(i, "GET", "/v1/containers/s1", NULL, false, &o), 200);
        char got[32];
        snprintf(got, sizeof got, "%s", str_of(o, "state"));
        cJSON_Delete(o);
        if (strcmp(got, want) == 0) return;
        ck_assert_msg(waited < WAIT_MS, "s1 on agent %d is %s, not %s", i, got, want);
        timefmt_sleep_ms(20);
    }
}

/* Provisions s1 on agent i with `mb` MiB of world and RCON, and starts it. */
static void provision_running(int i, int mb) {
    ck_assert_int_eq(call(i, "POST", "/v1/containers", "{\"server_id\":\"s1\",\"ram_mb\":512,\"disk_mb\":1000}",
                          false, NULL),
                     201);
    ck_assert_int_eq(agent_proc_write_world(ag[i].dir, "s1", mb), 0);
    ck_assert_int_gt(agent_proc_write_props(ag[i].dir, "s1", NULL), 0);
    long st = call(i, "POST", "/v1/containers/s1/start", NULL, false, NULL);
    ck_assert_msg(st == 202 || st == 200, "start: %ld", st);
    wait_state(i, "running");
}

/* Starts pass `n` of m1 on agent 1 from agent 0 and polls it until it ends. Returns its
 * last answer (caller frees): done, or an error. */
static cJSON *run_pass(int n, bool final) {
    char body[400], path[64];
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n0\",\"source_address\":\"%s\","
             "\"pass\":%d,\"final\":%s}",
             ag[0].addr, n, final ? "true" : "false");
    ck_assert_int_eq(call(1, "POST", "/v1/sync", body, true, NULL), 202);
    snprintf(path, sizeof path, "/v1/sync/m1.%d", n);
    for (int waited = 0;; waited += 20) {
        cJSON *o;
        ck_assert_int_eq(call(1, "GET", path, NULL, true, &o), 200);
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "done")) || cJSON_IsString(cJSON_GetObjectItem(o, "error")))
            return o;
        cJSON_Delete(o);
        ck_assert_msg(waited < WAIT_MS * 2, "pass %d did not end", n);
        timefmt_sleep_ms(20);
    }
}

/* The target's s1 container, ready for a sync of m1. */
static void target_container(void) {
    ck_assert_int_eq(call(1, "POST", "/v1/containers",
                          "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"ram_mb\":512,\"disk_mb\":100}", true, NULL),
                     201);
}

/* ------------------------------------------------------------------------ tests */

START_TEST(test_agent_tls_serves_a_client_trusting_its_ca_and_refuses_untrusting_and_plain_http) {
    agent_start(0);
    char url[128], ca[100];
    snprintf(url, sizeof url, "%s/v1/health", ag[0].base);
    long st;
    cJSON *o;
    /* the test CA: served, the certificate's IP name matching the address called */
    ck_assert_int_eq(call_url(url, in_top("ca.pem", ca, sizeof ca), "GET", NULL, false, &st, &o), CURLE_OK);
    ck_assert_int_eq(st, 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "healthy")));
    cJSON_Delete(o);
    /* a client trusting another CA refuses the agent's certificate: no answer at all */
    CURLcode cc = call_url(url, in_top("rogue.pem", ca, sizeof ca), "GET", NULL, false, &st, NULL);
    ck_assert_msg(cc == CURLE_PEER_FAILED_VERIFICATION, "an untrusting client got: %s (status %ld)",
                  curl_easy_strerror(cc), st);
    ck_assert_int_eq(st, 0);
    /* nor does libcurl's own bundle know the test CA */
    cc = call_url(url, NULL, "GET", NULL, false, &st, NULL);
    ck_assert_msg(cc == CURLE_PEER_FAILED_VERIFICATION, "the default bundle got: %s (status %ld)",
                  curl_easy_strerror(cc), st);
    /* plain http on the https port: the agent hangs up without an HTTP answer */
    snprintf(url, sizeof url, "http://%s/v1/health", ag[0].addr);
    cc = call_url(url, NULL, "GET", NULL, false, &st, NULL);
    ck_assert_msg(cc != CURLE_OK && st == 0, "plain http got: %s (status %ld)", curl_easy_strerror(cc), st);
    /* and a write over plain http changed nothing */
    cc = call_url(url, NULL, "POST", "{\"server_id\":\"s9\",\"ram_mb\":1,\"disk_mb\":1}", false, &st, NULL);
    ck_assert_msg(cc != CURLE_OK && st == 0, "plain http POST got: %s (status %ld)", curl_easy_strerror(cc), st);
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s9", NULL, false, NULL), 404);
    /* the refused handshakes did the agent no harm */
    ck_assert_int_eq(call(0, "GET", "/v1/health", NULL, false, NULL), 200);
    ck_assert_msg(harness_wait(ag[0].pid, 0) == -1, "the agent died; see %s", ag[0].log);
}
END_TEST

START_TEST(test_agent_tls_pass_between_agents_copies_the_world_byte_identically) {
    agent_start(0);
    agent_start(1);
    provision_running(0, 4);
    target_container();
    /* a pass while the source writes, then the final one after the quiesce */
    cJSON *o = run_pass(1, false);
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(o, "error")), "pass 1 over https: %s",
                  str_of(o, "error"));
    ck_assert_double_ge(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "bytes_total")), 4 << 20);
    cJSON_Delete(o);
    ck_assert_int_eq(call(0, "POST", "/v1/containers/s1/quiesce", "{\"save\":\"off\"}", false, NULL), 200);
    o = run_pass(1000, true);
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(o, "error")), "final pass over https: %s", str_of(o, "error"));
    ck_assert_double_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "dirty_bytes")), 0);
    cJSON_Delete(o);
    char cmd[900];
    snprintf(cmd, sizeof cmd, "diff -r %s/servers/s1 %s/servers/s1 >%s/diff.txt 2>&1", ag[0].dir, ag[1].dir, top);
    ck_assert_msg(system(cmd) == 0, "the target differs from the quiesced source; see %s/diff.txt", top);
}
END_TEST

/* MIG_AGENT_TLS_CLIENT_CA: every client must show a certificate of that CA. A call without
 * one gets no answer (the handshake fails) and changes nothing; with one (the worker's
 * MIG_DRIVER_CERT_FILE) it is served; and a target agent showing its own
 * (MIG_AGENT_PEER_CERT_FILE) to a source that asks for one copies the world. */
START_TEST(test_agent_tls_client_certificates_required_refuses_a_client_without_one) {
    client_certs = true;
    agent_start(0);
    agent_start(1);
    char url[256], ca[100];
    snprintf(url, sizeof url, "%s/v1/containers", ag[0].base);
    client_certs = false; /* this one call shows none */
    long st = 0;
    CURLcode cc = call_url(url, in_top("ca.pem", ca, sizeof ca), "POST",
                           "{\"server_id\":\"s9\",\"ram_mb\":512,\"disk_mb\":100}", false, &st, NULL);
    client_certs = true;
    ck_assert_msg(cc != CURLE_OK, "a client without a certificate was served: %ld", st);
    ck_assert_int_eq(call(0, "GET", "/v1/containers/s9", NULL, false, NULL), 404); /* nothing made */
    provision_running(0, 2);
    target_container();
    cJSON *o = run_pass(1, false);
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(o, "error")), "pass 1 with client certificates: %s",
                  str_of(o, "error"));
    ck_assert_double_ge(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "bytes_total")), 2 << 20);
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_agent_tls_target_not_trusting_the_source_is_refused_the_pass_and_copies_nothing) {
    char rogue[100];
    peer_ca[1] = in_top("rogue.pem", rogue, sizeof rogue);
    agent_start(0);
    agent_start(1);
    provision_running(0, 1);
    target_container();
    /* the pass is refused at its start: the target cannot read the source's manifest */
    char body[400];
    snprintf(body, sizeof body,
             "{\"server_id\":\"s1\",\"migration_id\":\"m1\",\"source_node_id\":\"n0\",\"source_address\":\"%s\","
             "\"pass\":1,\"final\":false}",
             ag[0].addr);
    cJSON *o;
    ck_assert_int_eq(call(1, "POST", "/v1/sync", body, true, &o), 503);
    const cJSON *e = cJSON_GetObjectItem(o, "error");
    const char *msg = str_of(e, "message");
    ck_assert_str_eq(str_of(e, "code"), "source_unreachable");
    ck_assert_msg(strstr(msg, "certificate") || strstr(msg, "SSL"), "refused for another reason: %s", msg);
    cJSON_Delete(o);
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/servers/s1/world/region/r.0.1.mca", ag[1].dir);
    ck_assert_msg(stat(path, &st) != 0, "a region file reached the target: %s", path);
}
END_TEST

Suite *suite_agent_tls(void) {
    Suite *s = suite_create("agent_tls");
    TCase *tc = tcase_create("agent_tls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_test(tc, test_agent_tls_serves_a_client_trusting_its_ca_and_refuses_untrusting_and_plain_http);
    tcase_add_test(tc, test_agent_tls_pass_between_agents_copies_the_world_byte_identically);
    tcase_add_test(tc, test_agent_tls_target_not_trusting_the_source_is_refused_the_pass_and_copies_nothing);
    tcase_add_test(tc, test_agent_tls_client_certificates_required_refuses_a_client_without_one);
    suite_add_tcase(s, tc);
    return s;
}
