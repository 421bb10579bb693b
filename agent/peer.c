/* peer.c - the world sync's transport over HTTP to a source agent (libcurl): the
 * manifest, the block hashes of some files, the bytes of ranges of a file. */
#include "agent/peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/err.h"

#define PEER_DEFAULT_PORT 7070     /* the agent's port when an address names none */
#define PEER_CONNECT_MS 5000       /* a source that does not accept in 5 s is unreachable */
#define PEER_META_MAX (256u << 20) /* bytes of a manifest or block list: ~32 GiB of world */
#define PEER_LOW_SPEED_S 30        /* a call that moves under 1 byte/s this long failed */

struct peer {
    CURL *curl;
    char base[600];       /* https?://host:port/v1/sync-source/<server_id> */
    char auth[300];       /* "Authorization: Bearer ..." or "" */
    const agent_t *a;
    volatile int *cancel;
    long status;
    char error[256];
    /* the answer of the call in flight */
    unsigned char *buf;
    size_t len, cap, max;
    sync_sink_t *sink;    /* fetch: bytes go here once the status is 200 */
    int sink_rv;
};

/* Fills `pattern` ("http://{source_address}") with `addr`, adding the default port when
 * the address has none. False when it does not fit or the address has a character that
 * does not belong in host[:port]. */
static bool fill_base(const char *pattern, const char *addr, char *out, size_t cap) {
    if (*addr == '\0' || strlen(addr) > 260) return false;
    for (const char *c = addr; *c; c++)
        if (!(*c == '.' || *c == ':' || *c == '[' || *c == ']' || *c == '-' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return false;
    const char *close = strrchr(addr, ']'), *colon = strrchr(addr, ':');
    bool has_port = colon && (!close || colon > close) && (addr[0] == '[' || strchr(addr, ':') == colon);
    char hp[300];
    if (has_port) snprintf(hp, sizeof hp, "%s", addr);
    else snprintf(hp, sizeof hp, "%s:%d", addr, PEER_DEFAULT_PORT);
    const char *at = strstr(pattern, "{source_address}");
    if (at == NULL) return false;
    int n = snprintf(out, cap, "%.*s%s%s", (int)(at - pattern), pattern, hp, at + 16);
    return n > 0 && (size_t)n < cap;
}

peer_t *peer_new(const agent_t *a, const char *source_address, const char *server_id, volatile int *cancel) {
    peer_t *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    char base[440];
    if (!fill_base(a->peer_url, source_address, base, sizeof base) || (p->curl = curl_easy_init()) == NULL) {
        free(p);
        return NULL;
    }
    snprintf(p->base, sizeof p->base, "%s/v1/sync-source/%s", base, server_id);
    if (a->peer_token) snprintf(p->auth, sizeof p->auth, "Authorization: Bearer %s", a->peer_token);
    p->a = a;
    p->cancel = cancel;
    return p;
}

void peer_free(peer_t *p) {
    if (p == NULL) return;
    curl_easy_cleanup(p->curl);
    free(p->buf);
    free(p);
}

const char *peer_error(const peer_t *p) {
    return p->error;
}

long peer_status(const peer_t *p) {
    return p->status;
}

/* ------------------------------------------------------------------------ one call */

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx) {
    peer_t *p = ctx;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 && p->sink) {
        p->sink_rv = sync_sink_write(p->sink, data, n);
        return p->sink_rv == 0 ? n : 0;
    }
    /* an answer to keep (a manifest, or an error body, of which 4 KiB is plenty) */
    size_t max = code == 200 ? p->max : 4096;
    if (p->len + n > max) return p->len >= max ? n : 0;
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;
        while (cap < p->len + n + 1) cap *= 2;
        unsigned char *b = realloc(p->buf, cap);
        if (b == NULL) return 0;
        p->buf = b, p->cap = cap;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    p->buf[p->len] = 0;
    return n;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    peer_t *p = ctx;
    return p->cancel && *p->cancel ? 1 : 0;
}

/* Calls `suffix` of the base (GET, or POST of the JSON `body`). The answer is in
 * p->buf/len (or went to `sink`). Returns 0 on 200, else MIG_ENOT_FOUND (404),
 * MIG_EREFUSED (401, 403, 4xx), MIG_EUNREACHABLE (no connection, 5xx, cancel), with
 * the words in p->error. */
static int call(peer_t *p, const char *suffix, const char *body, sync_sink_t *sink) {
    char url[800];
    snprintf(url, sizeof url, "%s%s", p->base, suffix);
    p->len = 0;
    p->status = 0;
    p->sink = sink;
    p->sink_rv = 0;
    p->max = PEER_META_MAX;
    CURL *c = p->curl;
    curl_easy_reset(c);
    struct curl_slist *h = NULL;
    if (p->auth[0]) h = curl_slist_append(h, p->auth);
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)PEER_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)PEER_LOW_SPEED_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, p);
    if (p->a->sync_rate > 0) curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)p->a->sync_rate);
    if (p->a->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, p->a->ca_file);
    if (p->a->cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, p->a->cert_file);
    if (p->a->key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, p->a->key_file);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &p->status);
    if (cc != CURLE_OK && p->sink_rv != 0) {
        snprintf(p->error, sizeof p->error, "writing to staging: %s", mig_strerror(p->sink_rv));
        return p->sink_rv;
    }
    if (cc != CURLE_OK) {
        snprintf(p->error, sizeof p->error, "source_unreachable: %s",
                 cc == CURLE_ABORTED_BY_CALLBACK ? "cancelled" : curl_easy_strerror(cc));
        return MIG_EUNREACHABLE;
    }
    if (p->status == 200) return 0;
    const char *code = "";
    cJSON *e = p->len ? cJSON_ParseWithLength((const char *)p->buf, p->len) : NULL;
    const cJSON *cj = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "code");
    snprintf(p->error, sizeof p->error, "source answered %ld %s", p->status,
             cJSON_IsString(cj) ? (code = cj->valuestring) : "");
    cJSON_Delete(e);
    if (p->status == 404) return MIG_ENOT_FOUND;
    if (p->status >= 400 && p->status < 500) return MIG_EREFUSED;
    return MIG_EUNREACHABLE;
}

/* Hands the answer buffer to the caller. */
static int take(peer_t *p, unsigned char **buf, size_t *len) {
    *buf = p->buf ? p->buf : malloc(1);
    *len = p->len;
    p->buf = NULL;
    p->len = p->cap = 0;
    return *buf ? 0 : MIG_ENOMEM;
}

static int t_manifest(void *ctx, int strong, unsigned char **buf, size_t *len) {
    peer_t *p = ctx;
    int rv = call(p, strong ? "/manifest?strong=1" : "/manifest", NULL, NULL);
    return rv == 0 ? take(p, buf, len) : rv;
}

static int t_blocks(void *ctx, const char *const *paths, size_t n, unsigned char **buf, size_t *len) {
    peer_t *p = ctx;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "paths");
    for (size_t i = 0; i < n && arr; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(paths[i]));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL) return MIG_ENOMEM;
    int rv = call(p, "/blocks", body, NULL);
    free(body);
    return rv == 0 ? take(p, buf, len) : rv;
}

static int t_fetch(void *ctx, const char *path, const sync_range_t *ranges, size_t n, sync_sink_t *sink) {
    peer_t *p = ctx;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "ranges");
    cJSON_AddStringToObject(o, "path", path);
    for (size_t i = 0; i < n && arr; i++) {
        /* as text: exact above 2^53 */
        char t[48];
        snprintf(t, sizeof t, "%llu+%llu", (unsigned long long)ranges[i].off, (unsigned long long)ranges[i].len);
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
    }
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (body == NULL) return MIG_ENOMEM;
    int rv = call(p, "/read", body, sink);
    free(body);
    return rv;
}

sync_transport_t peer_transport(peer_t *p) {
    sync_transport_t t = {.ctx = p, .manifest = t_manifest, .blocks = t_blocks, .fetch = t_fetch};
    return t;
}
