/* driver.c - libcurl calls of the driver contract, with timeouts, retries and errors
 * that name the place. */
#include "worker/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "worker/reply.h"

#define RESP_MAX (1024 * 1024) /* largest answer read, bytes: the contract's are tiny */
#define LOG_BODY_MAX 2048      /* bytes of a refused answer's body that go to the log */
#define TOKEN_MAX 512          /* longest MIG_DRIVER_TOKEN, bytes */

struct driver {
    driver_opts_t o;
    CURL *curl;
    char auth[TOKEN_MAX + 32]; /* "Authorization: Bearer <token>", "" without a token */
    long status;              /* HTTP status of the last answer; 0 when none came */
    lease_t *lease;           /* fences every call when set; borrowed */
    char err[DRIVER_ERR_MAX];
    char call[96];
};

typedef struct {
    char *s;
    size_t n;
} buf_t;

driver_t *driver_new(const driver_opts_t *o, char *err, size_t errlen) {
    if (o->node_url == NULL || strstr(o->node_url, "{node_") == NULL) {
        snprintf(err, errlen, "MIG_DRIVER_NODE_URL: needs {node_id} or {node_address}, as http://{node_address}:7070");
        return NULL;
    }
    if (o->proxy_url == NULL || (strncmp(o->proxy_url, "http://", 7) != 0 && strncmp(o->proxy_url, "https://", 8) != 0)) {
        snprintf(err, errlen, "MIG_DRIVER_PROXY_URL: must be an http:// or https:// URL");
        return NULL;
    }
    if (strncmp(o->node_url, "http://", 7) != 0 && strncmp(o->node_url, "https://", 8) != 0) {
        snprintf(err, errlen, "MIG_DRIVER_NODE_URL: must be an http:// or https:// URL");
        return NULL;
    }
    if (o->token && (strlen(o->token) > TOKEN_MAX || strpbrk(o->token, "\r\n \t"))) {
        snprintf(err, errlen, "MIG_DRIVER_TOKEN: at most %d bytes, without spaces or line breaks", TOKEN_MAX);
        return NULL;
    }
    driver_t *d = calloc(1, sizeof *d);
    if (d == NULL || (d->curl = curl_easy_init()) == NULL) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->o = *o;
    if (o->token && *o->token) snprintf(d->auth, sizeof d->auth, "Authorization: Bearer %s", o->token);
    if (d->o.attempts < 1) d->o.attempts = 1;
    if (d->o.timeout_ms <= 0) d->o.timeout_ms = 10000;
    return d;
}

void driver_free(driver_t *d) {
    if (d == NULL) return;
    curl_easy_cleanup(d->curl);
    free(d);
}

void driver_bind_lease(driver_t *d, lease_t *lease) {
    d->lease = lease;
}

const char *driver_error(const driver_t *d) {
    return d->err;
}

const char *driver_last_call(const driver_t *d) {
    return d->call;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
    buf_t *b = ud;
    size_t n = size * nmemb;
    if (b->n + n > RESP_MAX) return 0;
    char *s = realloc(b->s, b->n + n + 1);
    if (s == NULL) return 0;
    memcpy(s + b->n, p, n);
    b->s = s;
    b->n += n;
    s[b->n] = '\0';
    return n;
}

/* Expands the node URL pattern for `n` into `out`. Returns 0, or MIG_EREFUSED with the
 * reason in d->err when the node's address is not host[:port]: a Lua rule refuses such
 * an address, but the inventory may hold one written before it, and a path or a query in
 * it would make the worker call whatever service it names. */
static int node_base(driver_t *d, const node_t *n, char *out, size_t cap) {
    char why[160];
    if (strstr(d->o.node_url, "{node_address}") && n->address && inventory_address_check(n->address, why, sizeof why) != 0) {
        snprintf(d->err, sizeof d->err, "node %s: not called: its %s", n->id, why);
        return MIG_EREFUSED;
    }
    size_t o = 0;
    for (const char *p = d->o.node_url; *p && o + 1 < cap;) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "{node_id}", 9) == 0) v = n->id, skip = 9;
        else if (strncmp(p, "{node_address}", 14) == 0) v = n->address ? n->address : n->id, skip = 14;
        if (v) {
            size_t l = strlen(v);
            if (o + l >= cap) break;
            memcpy(out + o, v, l);
            o += l;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return 0;
}

/* Milliseconds the bound lease has left (INT64_MAX when unbound), its token in *token. */
static int64_t lease_left(const driver_t *d, uint64_t *token) {
    *token = 0;
    return d->lease ? lease_left_ms(d->lease, timefmt_mono_ms(), token) : INT64_MAX;
}

/* libcurl's progress callback: aborts a call in flight once the bound lease is gone. A
 * call may outlast the lease it began under (a long sync start, a slow agent) as long as
 * the heartbeat keeps renewing it; libcurl calls this at least about once a second. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    uint64_t token;
    return lease_left(ud, &token) > 0 ? 0 : 1;
}

/* One call: `who` names the place for errors ("node n2", "proxy"). On a 2xx returns 0
 * with the answer parsed into *json (may be NULL for an empty body; caller frees).
 * `ok404` turns a 404 into success. With a lease bound, each attempt is made only while
 * the lease holds, carries its token, and is aborted once the lease is gone; an answer
 * that arrives after that, or a 409 stale_token, is MIG_ELOST whatever it said. */
static int call(driver_t *d, const char *who, const char *base, const char *method, const char *path,
                const cJSON *body, const char *key, bool idempotent, bool ok404, cJSON **json) {
    char url[1024], idem[160], fence[64];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(d->call, sizeof d->call, "%s %s", method, path);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key ? key : "");
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    if (body && text == NULL) return MIG_ENOMEM;
    if (json) *json = NULL;
    int rv = MIG_EUNREACHABLE;
    d->status = 0;
    int delay = d->o.backoff_ms > 0 ? d->o.backoff_ms : 100;
    for (int attempt = 1; attempt <= (idempotent ? d->o.attempts : 1); attempt++) {
        uint64_t token;
        int64_t left = lease_left(d, &token);
        if (left <= 0) {
            snprintf(d->err, sizeof d->err, "%s: %s %s: not sent, the lease of migration %s is gone", who, method,
                     path, key ? key : "");
            rv = MIG_ELOST;
            break;
        }
        long timeout = (long)d->o.timeout_ms;
        buf_t b = {NULL, 0};
        struct curl_slist *h = curl_slist_append(NULL, idem);
        h = curl_slist_append(h, "Content-Type: application/json");
        if (d->auth[0]) h = curl_slist_append(h, d->auth);
        if (d->lease) {
            snprintf(fence, sizeof fence, "Fencing-Token: %llu", (unsigned long long)token);
            h = curl_slist_append(h, fence);
        }
        CURL *c = d->curl;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout < 3000 ? timeout : 3000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        /* http and https only, and no redirects: an agent's answer is the answer */
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        if (d->o.ca_file && *d->o.ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, d->o.ca_file);
        if (d->o.cert_file && *d->o.cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, d->o.cert_file);
        if (d->o.key_file && *d->o.key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, d->o.key_file);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (d->lease) {
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
        }
        if (text) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
        } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        d->status = cc == CURLE_OK ? status : 0;
        curl_slist_free_all(h);
        if (cc == CURLE_OK && status == 409 && b.s && strstr(b.s, "\"stale_token\"")) {
            /* an agent has seen a higher token for this migration: another worker owns it */
            if (d->lease) lease_lose(d->lease, token);
            snprintf(d->err, sizeof d->err, "%s: %s %s: 409 stale_token", who, method, path);
            rv = MIG_ELOST;
        } else if (lease_left(d, &token) <= 0) {
            snprintf(d->err, sizeof d->err, "%s: %s %s: the lease of migration %s ended during the call", who,
                     method, path, key ? key : "");
            rv = MIG_ELOST;
        } else if (cc != CURLE_OK) {
            snprintf(d->err, sizeof d->err, "%s: %s %s: %s", who, method, path, curl_easy_strerror(cc));
            rv = MIG_EUNREACHABLE;
        } else if ((status >= 200 && status < 300) || (ok404 && status == 404)) {
            if (json && b.n > 0 && status != 404) *json = reply_parse(b.s, b.n);
            free(b.s);
            rv = 0;
            break;
        } else {
            /* the status and a clean error code only: the body may be anything, from any
             * service an address pointed at, and error_message is read by viewers */
            char code[REPLY_CODE_MAX + 1], st[16], body_log[LOG_BODY_MAX + 1];
            bool coded = reply_error_code(b.s, b.n, code, sizeof code);
            snprintf(d->err, sizeof d->err, "%s: %s %s: %ld%s%s", who, method, path, status, coded ? " " : "",
                     coded ? code : "");
            snprintf(st, sizeof st, "%ld", status);
            snprintf(body_log, sizeof body_log, "%.*s", (int)(b.n < LOG_BODY_MAX ? b.n : LOG_BODY_MAX), b.s ? b.s : "");
            log_at(LOG_WARN, "driver.refused", "target", who, "call", d->call, "status", st, "code", coded ? code : "",
                   "body", body_log, NULL);
            rv = status >= 500 && status != 507 ? MIG_EUNREACHABLE : MIG_EREFUSED;
        }
        free(b.s);
        if (rv == MIG_EREFUSED || rv == MIG_ELOST) break;
        if (attempt < d->o.attempts && idempotent) {
            log_at(LOG_DEBUG, "driver.retry", "error", d->err, NULL);
            timefmt_sleep_ms(delay);
            delay *= 2;
        }
    }
    free(text);
    return rv;
}

static int node_call(driver_t *d, const node_t *n, const char *method, const char *path, const cJSON *body,
                     const char *key, bool ok404, cJSON **json) {
    char base[512], who[160];
    snprintf(d->call, sizeof d->call, "%s %s", method, path);
    int rv = node_base(d, n, base, sizeof base);
    if (rv != 0) return rv;
    snprintf(who, sizeof who, "node %s", n->id);
    return call(d, who, base, method, path, body, key, true, ok404, json);
}

static int proxy_call(driver_t *d, const char *method, const char *path, const cJSON *body, const char *key,
                      bool ok404, cJSON **json) {
    return call(d, "proxy", d->o.proxy_url, method, path, body, key, true, ok404, json);
}

/* Path with an escaped segment: fmt has one %s. */
static void path_of(driver_t *d, char *out, size_t cap, const char *fmt, const char *seg) {
    char *e = curl_easy_escape(d->curl, seg, 0);
    snprintf(out, cap, fmt, e ? e : seg);
    curl_free(e);
}

/* ------------------------------------------------------------------------ node agent */

int driver_health(driver_t *d, const node_t *n, bool *healthy, long long *ram_free_mb, long long *disk_free_mb) {
    cJSON *j = NULL;
    int rv = node_call(d, n, "GET", "/v1/health", NULL, NULL, false, &j);
    if (rv == MIG_EUNREACHABLE && d->status == 503) {
        /* an unhealthy node answers 503 with the same shape: that is an answer */
        *healthy = false;
        return 0;
    }
    if (rv == 0) reply_health(j, healthy, ram_free_mb, disk_free_mb);
    cJSON_Delete(j);
    return rv;
}

int driver_container_create(driver_t *d, const node_t *n, const char *key, const char *server_id,
                            long long ram_mb, long long disk_mb) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "server_id", server_id);
    cJSON_AddStringToObject(b, "migration_id", key);
    cJSON_AddNumberToObject(b, "ram_mb", (double)ram_mb);
    cJSON_AddNumberToObject(b, "disk_mb", (double)disk_mb);
    int rv = node_call(d, n, "POST", "/v1/containers", b, key, false, NULL);
    cJSON_Delete(b);
    return rv;
}

int driver_container_start(driver_t *d, const node_t *n, const char *key, const char *server_id) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/containers/%s/start", server_id);
    return node_call(d, n, "POST", p, NULL, key, false, NULL);
}

int driver_container_get(driver_t *d, const node_t *n, const char *key, const char *server_id,
                         driver_container_t *c) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/containers/%s", server_id);
    cJSON *j = NULL;
    int rv = node_call(d, n, "GET", p, NULL, key, true, &j);
    reply_container(rv == 0 ? j : NULL, c);
    cJSON_Delete(j);
    return rv;
}

int driver_container_stop(driver_t *d, const node_t *n, const char *key, const char *server_id) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/containers/%s/stop", server_id);
    return node_call(d, n, "POST", p, NULL, key, true, NULL);
}

int driver_container_delete(driver_t *d, const node_t *n, const char *key, const char *server_id) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/containers/%s", server_id);
    int rv = node_call(d, n, "DELETE", p, NULL, key, true, NULL);
    /* An agent's DELETE waits for the server to exit (a Minecraft server saves first, which
     * may outlast a call), so a retry can find it still at it: 409 busy. It is being done:
     * wait until the container is gone rather than call the deletion failed. */
    if (rv != MIG_EREFUSED || d->status != 409 || strstr(d->err, " busy") == NULL) return rv;
    char err[sizeof d->err];
    snprintf(err, sizeof err, "%s", d->err);
    driver_container_t c;
    for (int64_t end = timefmt_mono_ms() + DRIVER_DELETE_WAIT_MS; timefmt_mono_ms() < end;) {
        timefmt_sleep_ms(DRIVER_DELETE_POLL_MS);
        rv = driver_container_get(d, n, key, server_id, &c);
        if (rv != 0) return rv;
        if (strcmp(c.state, "absent") == 0) return 0;
    }
    snprintf(d->err, sizeof d->err, "%.400s, and still there after %d s", err, DRIVER_DELETE_WAIT_MS / 1000);
    return MIG_EUNREACHABLE;
}

int driver_quiesce(driver_t *d, const node_t *n, const char *key, const char *server_id, bool save_on) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/containers/%s/quiesce", server_id);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "save", save_on ? "on" : "off");
    int rv = node_call(d, n, "POST", p, b, key, false, NULL);
    cJSON_Delete(b);
    return rv;
}

int driver_sync_start(driver_t *d, const node_t *target, const node_t *source, const char *key,
                      const char *server_id, int pass, bool final, char sync_id[128]) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "server_id", server_id);
    cJSON_AddStringToObject(b, "migration_id", key);
    cJSON_AddStringToObject(b, "source_node_id", source->id);
    cJSON_AddStringToObject(b, "source_address", source->address ? source->address : source->id);
    cJSON_AddNumberToObject(b, "pass", pass);
    cJSON_AddBoolToObject(b, "final", final);
    cJSON *j = NULL;
    int rv = node_call(d, target, "POST", "/v1/sync", b, key, false, &j);
    cJSON_Delete(b);
    if (rv == 0) {
        const cJSON *s = cJSON_GetObjectItem(j, "sync_id");
        if (cJSON_IsString(s) && s->valuestring[0] && strlen(s->valuestring) < 128) {
            snprintf(sync_id, 128, "%s", s->valuestring);
        } else {
            snprintf(d->err, sizeof d->err, "node %s: POST /v1/sync: answer without sync_id", target->id);
            rv = MIG_EREFUSED;
        }
    }
    cJSON_Delete(j);
    return rv;
}

int driver_sync_get(driver_t *d, const node_t *target, const char *key, const char *sync_id, driver_sync_t *s) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/sync/%s", sync_id);
    cJSON *j = NULL;
    int rv = node_call(d, target, "GET", p, NULL, key, false, &j);
    reply_sync(rv == 0 ? j : NULL, s);
    cJSON_Delete(j);
    return rv;
}

/* ------------------------------------------------------------------------ proxy bridge */

int driver_players(driver_t *d, const char *key, const char *server_name, int *count) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/servers/%s/players", server_name);
    cJSON *j = NULL;
    int rv = proxy_call(d, "GET", p, NULL, key, false, &j);
    *count = 0;
    if (rv == 0) *count = cJSON_GetArraySize(cJSON_GetObjectItem(j, "players"));
    cJSON_Delete(j);
    return rv;
}

int driver_room_create(driver_t *d, const char *key, const char *room) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "name", room);
    int rv = proxy_call(d, "POST", "/v1/waiting-rooms", b, key, false, NULL);
    cJSON_Delete(b);
    return rv;
}

int driver_room_delete(driver_t *d, const char *key, const char *room) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/waiting-rooms/%s", room);
    return proxy_call(d, "DELETE", p, NULL, key, true, NULL);
}

/* Distinct strings in a JSON array of names: a player listed twice was moved once. */
static int distinct_names(const cJSON *a) {
    int n = 0;
    for (const cJSON *x = a ? a->child : NULL; x; x = x->next) {
        if (!cJSON_IsString(x)) continue;
        const cJSON *y = a->child;
        while (y != x && !(cJSON_IsString(y) && strcmp(y->valuestring, x->valuestring) == 0)) y = y->next;
        if (y == x) n++;
    }
    return n;
}

int driver_transfer(driver_t *d, const char *key, const char *migration_id, const char *from, const char *to,
                    const char *message, bool room_gone_ok, int *moved) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "migration_id", migration_id);
    cJSON_AddStringToObject(b, "from", from);
    cJSON_AddStringToObject(b, "to", to);
    cJSON_AddStringToObject(b, "message", message);
    cJSON *j = NULL;
    int rv = proxy_call(d, "POST", "/v1/transfers", b, key, room_gone_ok, &j);
    cJSON_Delete(b);
    if (moved) *moved = rv == 0 ? distinct_names(cJSON_GetObjectItem(j, "moved")) : 0;
    cJSON_Delete(j);
    return rv;
}

int driver_register(driver_t *d, const char *key, const char *server_name, const char *address) {
    char p[256];
    path_of(d, p, sizeof p, "/v1/servers/%s", server_name);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "address", address);
    int rv = proxy_call(d, "PUT", p, b, key, false, NULL);
    cJSON_Delete(b);
    return rv;
}
