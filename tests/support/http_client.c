/* http_client.c - libcurl calls and migrate-api processes for the tests. */
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int http_call(const char *method, const char *url, const char *token, const char *content_type,
              const char *body, http_resp_t *resp) {
    memset(resp, 0, sizeof *resp);
    CURL *c = curl_easy_init();
    if (c == NULL) return -1;
    grow_t g = {calloc(1, 1), 0};
    struct curl_slist *h = NULL;
    char auth[300], ct[128];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
        h = curl_slist_append(h, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    resp->body = g.s;
    if (rc != CURLE_OK) return -1;
    resp->json = cJSON_Parse(g.s);
    return 0;
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
