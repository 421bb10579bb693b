/* http.c - request helpers of the API: routing, JSON replies and errors, auth, bodies,
 * and the per-thread Redis connection. */
#include "api/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/httpbody.h"
#include "core/jsonbody.h"
#include "core/log.h"
#include "core/migration.h"
#include "core/utf8.h"

/* ------------------------------------------------------------------------ replies */

void http_reply_json(http_req_t *r, int status, cJSON *body) {
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (text == NULL) {
        status = 500;
        text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
        if (text == NULL) return;
    }
    size_t len = strlen(text);
    const char *connection = http_connection_header(r, status);
    mg_printf(r->conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
              status, mg_get_response_code_text(r->conn, status), len, connection);
    mg_write(r->conn, text, len);
    free(text);
    r->status = status;
    if (*connection) http_close_after_reply(r);
}

void http_reply_text(http_req_t *r, int status, jsonw_t *w) {
    char head[HTTP_HEAD_GAP];
    const char *connection = http_connection_header(r, status);
    int hn = w->failed ? -1
                       : snprintf(head, sizeof head,
                                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
                                  status, mg_get_response_code_text(r->conn, status), w->len, connection);
    if (hn < 0 || (size_t)hn >= sizeof head || (size_t)hn > w->gap || w->buf == NULL) {
        jsonw_free(w);
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    char *start = w->buf + w->gap - (size_t)hn;
    memcpy(start, head, (size_t)hn);
    mg_write(r->conn, start, (size_t)hn + w->len);
    jsonw_free(w);
    r->status = status;
    if (*connection) http_close_after_reply(r);
}

/* True when the request declared a body (a length, or chunks) that was not read to its
 * end: civetweb would read the rest before the connection could serve another request. */
static bool body_pending(const http_req_t *r) {
    if (r->body_read) return false;
    return r->ri->content_length > 0 || mg_get_header(r->conn, "Transfer-Encoding") != NULL;
}

const char *http_connection_header(const http_req_t *r, int status) {
    return status >= 400 && body_pending(r) ? "Connection: close\r\n" : "";
}

/* civetweb 1.15 reads and discards what is left of a body after the handler returns
 * (handle_request: discard_unread_request_data), each read waiting up to
 * request_timeout_ms, unless the connection is marked to close; a "Connection: close"
 * in the answer does not mark it. The one public call that does is mg_send_http_error(),
 * which then writes its own page; but once the handler has written its answer, civetweb
 * writes no second status line or header (mg_response_header_start answers -3 after any
 * mg_write), and a status without a body (304) writes no page either: what is left is
 * the mark. The status it records is overwritten by the handler's return value.
 * tests/integration/test_security.c checks that the answer arrives whole and the
 * connection then ends, so a civetweb that behaves otherwise fails there. */
void http_close_after_reply(http_req_t *r) {
    mg_send_http_error(r->conn, 304, "%s", "");
}

void http_reply_error(http_req_t *r, int status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a message quotes what the caller sent (an id, a header) and may be cut at its size:
     * the answer stays UTF-8 whatever came in */
    utf8_sanitize(msg);
    http_reply_json(r, status, httpbody_error(code, msg));
}

int http_status_of(int code) {
    if (code == MIG_EINVALID) return 400;
    if (code == MIG_ENOT_FOUND || code == MIG_ENO_SERVER || code == MIG_ENO_NODE) return 404;
    if (code == MIG_EILLEGAL || code == MIG_EACTIVE || code == MIG_ECOOLDOWN || code == MIG_ENOT_ENDED ||
        code == MIG_EEXISTS || code == MIG_ESTALE)
        return 409;
    if (code == MIG_EREDIS || code == MIG_ELIBRARY) return 503;
    return 500;
}

/* The wire name of a code in the API's lower-case style: "ILLEGAL_TRANSITION" ->
 * "illegal_transition". */
static void code_name(int code, char *out, size_t cap) {
    const char *n = mig_errname(code);
    size_t i = 0;
    for (; n[i] && i + 1 < cap; i++) out[i] = (n[i] >= 'A' && n[i] <= 'Z') ? (char)(n[i] + 32) : n[i];
    out[i] = '\0';
}

void http_reply_store_error(http_req_t *r, int code, const rconn_t *rc) {
    char name[64];
    /* an invalid argument is a bad request whether the API or the library found it */
    if (code == MIG_EINVALID) snprintf(name, sizeof name, "bad_request");
    else code_name(code, name, sizeof name);
    int status = http_status_of(code);
    /* The library's sentence begins with its code word; the JSON has that as `code`. */
    const char *msg = rc && rc->err[0] ? rc->err : mig_strerror(code);
    const char *sp = strchr(msg, ' ');
    if (sp && strncmp(msg, mig_errname(code), (size_t)(sp - msg)) == 0) msg = sp + 1;
    if (status == 503) {
        log_at(LOG_WARN, "api.redis_error", "route", r->route, "error", msg, NULL);
        http_reply_error(r, 503, "unavailable", "redis is unavailable: %s", msg);
        return;
    }
    http_reply_error(r, status, name, "%s", msg);
}

/* ------------------------------------------------------------------------ auth */

bool http_role_or_reply(http_req_t *r, role_t min) {
    if (r->role >= min) return true;
    if (r->role == ROLE_NONE)
        http_reply_error(r, 401, "unauthorized", "a valid bearer token is required");
    else
        http_reply_error(r, 403, "forbidden", "the %s role may not do this; it needs %s",
                         auth_role_name(r->role), auth_role_name(min));
    return false;
}

/* ------------------------------------------------------------------------ ids */

const char *http_id_or_reply(http_req_t *r, const char *what) {
    if (migration_id_valid(r->params[0])) return r->params[0];
    http_reply_error(r, 400, "bad_request", "id: \"%s\" is not a valid %s id", r->params[0], what);
    return NULL;
}

/* ------------------------------------------------------------------------ bodies */

/* True when the request says its body is application/json (parameters allowed). */
static bool json_type(const http_req_t *r) {
    const char *ct = mg_get_header(r->conn, "Content-Type");
    return ct != NULL && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

bool http_guard_or_reply(http_req_t *r) {
    const guard_t *g = &r->api->guard;
    const char *host = mg_get_header(r->conn, "Host");
    char why[300];
    if (!guard_host_ok(g, host, why, sizeof why)) {
        http_reply_error(r, 403, "forbidden_host", "%s", why);
        return false;
    }
    if (!guard_changes_state(r->ri->request_method)) return true;
    if (!guard_origin_ok(g, mg_get_header(r->conn, "Origin"), host, why, sizeof why)) {
        http_reply_error(r, 403, "forbidden_origin", "%s", why);
        return false;
    }
    /* A body of another type is what a page of any site may send without asking first
     * (a form, a text/plain fetch); one that says application/json needs a preflight,
     * which this API never answers. So the type is checked before any handler runs, also
     * for those that ignore the body. */
    bool body = r->ri->content_length > 0 || mg_get_header(r->conn, "Transfer-Encoding") != NULL;
    if (body && !json_type(r)) {
        http_reply_error(r, 415, "unsupported_media_type", "the body must be application/json");
        return false;
    }
    return true;
}

/* The first string in `j` (a name or a value, at any depth) that is not valid UTF-8:
 * its byte offset in *at; *field is the name of the member of the body it is in (NULL
 * when that name is the bad string). NULL when every string is valid. */
static const char *bad_utf8(const cJSON *j, const char *top, const char **field, size_t *at) {
    for (const cJSON *c = j->child; c; c = c->next) {
        const char *name = top;
        if (c->string) {
            size_t n = strlen(c->string);
            if ((*at = utf8_valid_prefix(c->string, n)) != n) {
                *field = NULL;
                return c->string;
            }
            if (name == NULL) name = c->string;
        }
        if (cJSON_IsString(c) && c->valuestring) {
            size_t n = strlen(c->valuestring);
            if ((*at = utf8_valid_prefix(c->valuestring, n)) != n) {
                *field = name;
                return c->valuestring;
            }
        }
        const char *bad = c->child ? bad_utf8(c, name, field, at) : NULL;
        if (bad) return bad;
    }
    return NULL;
}

/* Refuses a body with a string that is not UTF-8 (400 naming its field): it would reach
 * the events, and a browser closes a WebSocket on a text frame that is not UTF-8. cJSON
 * takes any byte inside a string as it is. Nesting is bounded (JSONBODY_DEPTH_MAX), and
 * so is the recursion. */
static bool utf8_or_reply(http_req_t *r, const cJSON *j) {
    const char *field = NULL;
    size_t at = 0;
    const char *bad = bad_utf8(j, NULL, &field, &at);
    if (bad == NULL) return true;
    if (field)
        http_reply_error(r, 400, "bad_request", "%s: is not valid UTF-8 (byte 0x%02x at %zu)", field,
                         (unsigned char)bad[at], at);
    else
        http_reply_error(r, 400, "bad_request", "a field name is not valid UTF-8 (byte 0x%02x at %zu)",
                         (unsigned char)bad[at], at);
    return false;
}

cJSON *http_body_or_reply(http_req_t *r) {
    if (!json_type(r)) {
        http_reply_error(r, 415, "unsupported_media_type", "the body must be application/json");
        return NULL;
    }
    char *buf;
    size_t n;
    int st = httpbody_read(r->conn, HTTP_BODY_MAX, &buf, &n);
    if (st == 413) http_reply_error(r, 413, "payload_too_large", "the body is over %d bytes", HTTP_BODY_MAX);
    if (st == 408)
        http_reply_error(r, 408, "request_timeout", "the body did not arrive within %d s",
                         HTTPBODY_DEADLINE_MS / 1000);
    if (st == 500) http_reply_error(r, 500, "internal", "out of memory");
    if (st != 0) return NULL;
    r->body_read = true;
    /* nesting bounded before cJSON recurses on a civetweb thread's small stack, and one
     * value with nothing after it (core/jsonbody.h) */
    char why[128];
    cJSON *j = jsonbody_parse(buf, n, why, sizeof why);
    free(buf);
    if (j == NULL) {
        http_reply_error(r, 400, "bad_request", "%s", why);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        http_reply_error(r, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    if (!utf8_or_reply(r, j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* ------------------------------------------------------------------------ redis */

/* One connection per civetweb thread, freed by api/main.c's exit_thread callback. */
static __thread rconn_t *thread_rc;

rconn_t *http_thread_redis(struct api *api, char *err, size_t errlen) {
    if (thread_rc == NULL) thread_rc = rconn_new(&api->redis, err, errlen);
    return thread_rc;
}

void http_thread_redis_free(void) {
    rconn_free(thread_rc);
    thread_rc = NULL;
}

rconn_t *http_redis_or_reply(http_req_t *r) {
    char err[256];
    rconn_t *rc = http_thread_redis(r->api, err, sizeof err);
    if (rc == NULL) {
        http_reply_error(r, 500, "internal", "%s", err);
        return NULL;
    }
    if (rconn_ensure(rc) != 0) {
        http_reply_error(r, 503, "unavailable", "redis is unavailable: %s", rc->err);
        return NULL;
    }
    return rc;
}

int http_query(const http_req_t *r, const char *name, char *out, size_t cap) {
    const char *q = r->ri->query_string;
    if (q == NULL) return 0;
    int n = mg_get_var(q, strlen(q), name, out, cap);
    return n >= 0 ? 1 : n == -1 ? 0 : -1;
}
