/* http_client.c - libcurl calls and migrate-api processes for the tests. */
#include "http_client.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/timefmt.h"
#include "redis_harness.h"

typedef struct {
    char *s;
    size_t n;
} grow_t;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
    grow_t *g = ud;
    size_t n = size * nmemb;
    char *s = realloc(g->s, g->n + n + 1);
    if (s == NULL) return 0;
    memcpy(s + g->n, p, n);
    g->s = s;
    g->n += n;
    s[g->n] = '\0';
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
    http_resp_t *r = ud;
    size_t n = size * nmemb;
    if (n > 10 && strncasecmp(p, "Location: ", 10) == 0) {
        size_t l = n - 10;
        while (l && (p[10 + l - 1] == '\r' || p[10 + l - 1] == '\n')) l--;
        if (l >= sizeof r->location) l = sizeof r->location - 1;
        memcpy(r->location, p + 10, l);
        r->location[l] = '\0';
    }
    return n;
}

int http_request(const http_req_t *req, http_resp_t *resp) {
    memset(resp, 0, sizeof *resp);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        resp->curl_code = CURLE_FAILED_INIT;
        resp->error = curl_easy_strerror(CURLE_FAILED_INIT);
        return -1;
    }
    grow_t g = {calloc(1, 1), 0};
    struct curl_slist *h = NULL;
    char auth[300], ct[128], key[200], fence[64];
    if (req->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", req->token);
        h = curl_slist_append(h, auth);
    }
    if (req->idempotency_key) {
        snprintf(key, sizeof key, "Idempotency-Key: %s", req->idempotency_key);
        h = curl_slist_append(h, key);
    }
    if (req->fencing_token) {
        snprintf(fence, sizeof fence, "Fencing-Token: %s", req->fencing_token);
        h = curl_slist_append(h, fence);
    }
    if (req->body) {
        snprintf(ct, sizeof ct, "Content-Type: %s", req->content_type ? req->content_type : "application/json");
        h = curl_slist_append(h, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
    }
    if (req->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    if (req->cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, req->cert_file);
    if (req->key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, req->key_file);
    if (req->unix_socket) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method ? req->method : "GET");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    resp->body = g.s;
    resp->curl_code = (int)rc;
    if (rc != CURLE_OK) {
        resp->error = curl_easy_strerror(rc);
        return -1;
    }
    resp->json = cJSON_Parse(g.s);
    return 0;
}

long http_request_json(const http_req_t *req, cJSON **out, const char **why) {
    http_resp_t r;
    http_request(req, &r);
    long status = r.status;
    if (why) *why = r.error;
    if (out) *out = r.json, r.json = NULL;
    http_resp_free(&r);
    return status;
}

int http_call(const char *method, const char *url, const char *token, const char *content_type,
              const char *body, http_resp_t *resp) {
    http_req_t req = {.method = method, .url = url, .token = token, .content_type = content_type, .body = body};
    return http_request(&req, resp);
}

void http_resp_free(http_resp_t *r) {
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

int proc_port_from_log(const char *path, const char *event) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    char line[4096], want[128];
    snprintf(want, sizeof want, "\"event\":\"%s\"", event);
    int port = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, want)) {
            const char *p = strstr(line, "\"port\":\"");
            if (p) port = atoi(p + 8);
        }
    fclose(f);
    return port;
}

int proc_log_has(const char *path, const char *event) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    char line[4096], want[128];
    snprintf(want, sizeof want, "\"event\":\"%s\"", event);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, want) != NULL;
    fclose(f);
    return found;
}

void proc_log_tail(const char *path, int lines) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    char *ring[64] = {0};
    if (lines > 64) lines = 64;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        free(ring[n % lines]);
        ring[n++ % lines] = strdup(line);
    }
    fclose(f);
    for (int i = n > lines ? n - lines : 0; i < n; i++) fputs(ring[i % lines] ? ring[i % lines] : "", stderr);
    for (int i = 0; i < lines; i++) free(ring[i]);
}

int proc_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &l) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int proc_stop_clean(pid_t *pid, const char *name, char *bad, size_t cap) {
    if (*pid <= 0) return 0;
    int st;
    int hung = harness_stop_pid(*pid, &st) != 0;
    *pid = 0;
    if (!hung && WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    char how[96];
    size_t n = strlen(bad);
    if (n < cap) snprintf(bad + n, cap - n, "%s: %s; ", name, hung ? "hung" : harness_status_text(st, how, sizeof how));
    return -1;
}

int api_proc_start(api_proc_t *a, const char *redis_url, const char *tokens, const char *dir, int port) {
    memset(a, 0, sizeof *a);
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], listen[64], url[320], tok[512];
    snprintf(bin, sizeof bin, "%s/migrate-api", bindir);
    snprintf(listen, sizeof listen, "--api-listen=127.0.0.1:%d", port > 0 ? port : 0);
    snprintf(url, sizeof url, "--redis-url=%s", redis_url);
    snprintf(tok, sizeof tok, "--api-tokens=%s", tokens ? tokens : "");
    static int seq;
    snprintf(a->log, sizeof a->log, "%s/api-%d-%d.log", dir, (int)getpid(), seq++);
    const char *argv[] = {bin, listen, url, tok, "--log-level=debug", NULL};
    a->pid = harness_spawn(argv, a->log);
    if (a->pid < 0) return -1;
    for (int waited = 0; waited < HARNESS_START_WAIT_MS; waited += 10) {
        if ((a->port = proc_port_from_log(a->log, "api.started")) > 0) break;
        if (harness_wait(a->pid, 0) != -1) {
            fprintf(stderr, "migrate-api exited; see %s\n", a->log);
            a->pid = 0;
            return -1;
        }
        timefmt_sleep_ms(10);
    }
    if (a->port <= 0) {
        api_proc_stop(a);
        return -1;
    }
    snprintf(a->base, sizeof a->base, "http://127.0.0.1:%d", a->port);
    return 0;
}

int api_proc_stop(api_proc_t *a) {
    if (a->pid <= 0) return 0;
    int st;
    harness_stop_pid(a->pid, &st);
    a->pid = 0;
    if (st != 0) { /* the test fails on it: show why, the log goes with the test's folder */
        char how[96];
        fprintf(stderr, "migrate-api %s on SIGTERM; the end of %s:\n", harness_status_text(st, how, sizeof how), a->log);
        proc_log_tail(a->log, 40);
    }
    return st;
}
