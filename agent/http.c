/* http.c - the agent's requests: one civetweb handler that checks the bearer token
 * (the worker's, or the agents' on /v1/sync-source), reads the JSON body and routes;
 * answers and errors in the contract's shape; the fencing check. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "agent/agent.h"
#include "core/err.h"
#include "core/httpbody.h"
#include "core/jsonbody.h"
#include "core/log.h"
#include "core/timefmt.h"

#define BODY_MAX (64 * 1024)       /* largest body of the worker's calls, bytes: they are tiny */
#define FENCE_HEADER "Fencing-Token" /* docs/DRIVERS.md, Fencing */

void http_reply(agent_req_t *r, int status, cJSON *body) {
    if (r->answered) {
        cJSON_Delete(body);
        return;
    }
    r->answered = true;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    size_t len = text ? strlen(text) : 0;
    /* headers and body in one write: no Nagle stall between them (docs/DRIVERS.md) */
    size_t cap = len + 256;
    char *out = malloc(cap);
    if (out == NULL) {
        free(text);
        mg_printf(r->conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nCache-Control: no-store\r\n\r\n", status,
                     mg_get_response_code_text(r->conn, status), text ? "Content-Type: application/json\r\n" : "",
                     len);
    if (text) memcpy(out + n, text, len);
    mg_write(r->conn, out, (size_t)n + len);
    free(out);
    free(text);
}

void http_error(agent_req_t *r, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_reply(r, status, httpbody_error(code, msg));
}

bool http_route(agent_req_t *r, const char *method, const char *pattern) {
    return strcmp(r->method, method) == 0 && path_match(pattern, r->path, r->params, AGENT_ROUTE_PARAMS);
}

const char *http_str(const agent_req_t *r, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->body, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *http_migration_of(const agent_req_t *r) {
    const char *id = http_str(r, "migration_id");
    return id ? id : r->idem_key;
}

bool http_read_json_or_reply(agent_req_t *r, size_t max) {
    char *buf;
    size_t n;
    int st = httpbody_read(r->conn, max, &buf, &n);
    if (st == 413) http_error(r, 413, "payload_too_large", "the body is over %zu bytes", max);
    if (st == 408) http_error(r, 408, "request_timeout", "the body did not arrive in time");
    if (st == 500) http_error(r, 500, "internal", "out of memory");
    if (st != 0) return false;
    size_t lead = strspn(buf, " \t\r\n");
    if (lead == n) {
        free(buf);
        return true; /* no body: the calls that need one say so */
    }
    char why[128];
    r->body = jsonbody_parse(buf, n, why, sizeof why);
    free(buf);
    if (r->body == NULL) {
        http_error(r, 400, "bad_request", "%s", why);
        return false;
    }
    if (!cJSON_IsObject(r->body)) {
        http_error(r, 400, "bad_request", "the body must be a JSON object");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ fencing */

/* Reads a Fencing-Token value: digits only, at most 2^64-1. 0 or MIG_EINVALID. */
static int parse_token(const char *t, uint64_t *out, char *err, size_t errlen) {
    if (t == NULL) return snprintf(err, errlen, "no Fencing-Token header"), MIG_EINVALID;
    if (*t == '\0') return snprintf(err, errlen, "an empty Fencing-Token"), MIG_EINVALID;
    uint64_t v = 0;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9') return snprintf(err, errlen, "Fencing-Token is not a decimal number"), MIG_EINVALID;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return snprintf(err, errlen, "Fencing-Token is above 18446744073709551615"), MIG_EINVALID;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The index where `id` is or would be inserted in the sorted table. */
static size_t fence_slot(const agent_t *a, const char *id, bool *found) {
    size_t lo = 0, hi = a->n_fence;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(a->fence[mid].migration_id, id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

bool http_fence_or_reply(agent_t *a, agent_req_t *r) {
    const char *mid = http_migration_of(r);
    if (*mid == '\0') return true;
    uint64_t token;
    char err[160];
    if (parse_token(mg_get_header(r->conn, FENCE_HEADER), &token, err, sizeof err) != 0) {
        http_error(r, 400, "missing_token", "%s on a call of migration %s", err, mid);
        return false;
    }
    if (strlen(mid) >= AGENT_ID_MAX) {
        http_error(r, 400, "bad_request", "migration_id: at most %d bytes", AGENT_ID_MAX - 1);
        return false;
    }
    bool found;
    size_t i = fence_slot(a, mid, &found);
    if (found && token < a->fence[i].highest) {
        char tok[24], high[24];
        snprintf(tok, sizeof tok, "%" PRIu64, token);
        snprintf(high, sizeof high, "%" PRIu64, a->fence[i].highest);
        log_at(LOG_INFO, "agent.stale_token", "migration_id", mid, "token", tok, "highest", high, "method",
               r->method, "path", r->path, NULL);
        http_error(r, 409, "stale_token", "fencing token %s of migration %s is below %s, the highest seen", tok, mid,
                   high);
        return false;
    }
    if (found && token == a->fence[i].highest) return true;
    if (!found) {
        if (a->n_fence >= AGENT_FENCE_MAX) {
            http_error(r, 503, "fence_full", "the fencing table holds %d migrations", AGENT_FENCE_MAX);
            return false;
        }
        memmove(&a->fence[i + 1], &a->fence[i], (a->n_fence - i) * sizeof a->fence[0]);
        a->n_fence++;
        snprintf(a->fence[i].migration_id, sizeof a->fence[i].migration_id, "%s", mid);
    }
    a->fence[i].highest = token;
    /* the new highest is on disk before the call acts: a restarted agent must not accept
     * the old worker again */
    if (state_save(a) != 0) {
        http_error(r, 500, "state_unsaved", "the agent cannot write its state");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ dispatch */

/* True when `a` and `b` are equal, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++) diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (nb ? nb : 1)];
    return diff == 0;
}

/* The bearer check before anything else: the agents' token on the source routes, the
 * worker's on every other. False after answering 401. */
static bool token_or_reply(agent_t *a, agent_req_t *r) {
    bool peer = strncmp(r->path, "/v1/sync-source/", 16) == 0;
    const char *want = peer ? a->peer_token : a->token;
    if (want == NULL) return true;
    const char *h = mg_get_header(r->conn, "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, want)) return true;
    http_error(r, 401, "unauthorized", "%s",
               h ? "the token is wrong"
                 : peer ? "the call needs Authorization: Bearer <peer token>"
                        : "the call needs Authorization: Bearer <agent token>");
    return false;
}

int http_serve(agent_t *a, struct mg_connection *conn) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int64_t t0 = timefmt_mono_ms();
    agent_req_t r = {.conn = conn, .method = ri->request_method, .path = ri->local_uri};
    const char *key = mg_get_header(conn, "Idempotency-Key");
    snprintf(r.idem_key, sizeof r.idem_key, "%s", key ? key : "");
    if (!token_or_reply(a, &r)) goto out;
    /* the source routes read their own bodies (a list of paths may pass 64 KiB) */
    if (strncmp(r.path, "/v1/sync-source/", 16) != 0 && !http_read_json_or_reply(&r, BODY_MAX)) goto out;
    if (routes_handle(a, &r) || sync_routes_handle(a, &r)) goto out;
    http_error(&r, 404, "not_found", "no route %s %s", r.method, r.path);
out:
    if (!r.answered) http_error(&r, 500, "internal", "the call was not answered");
    cJSON_Delete(r.body);
    if (log_enabled(LOG_DEBUG)) {
        char ms[24];
        snprintf(ms, sizeof ms, "%lld", (long long)(timefmt_mono_ms() - t0));
        log_at(LOG_DEBUG, "agent.request", "method", r.method, "path", r.path, "ms", ms, NULL);
    }
    return 1;
}
