/* http.h - the request context of an API handler, routing, and the "or-reply" helpers:
 * each one either succeeds or has already answered the error, so a handler reads as its
 * happy path:
 *
 *     if (!http_role_or_reply(r, ROLE_OPERATOR)) return;
 *     cJSON *body = http_body_or_reply(r);
 *     if (body == NULL) return;
 *
 * Errors are always {"error":{"code":"...","message":"..."}}. */
#ifndef MIG_HTTP_H
#define MIG_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "api/auth.h"
#include "core/jsonw.h"
#include "core/path.h"
#include "core/rconn.h"

#define HTTP_BODY_MAX (64 * 1024) /* largest request body, bytes: beyond it 413 */
/* Longest wait for the headers of a request, and for one read of its body, ms (civetweb's
 * request_timeout_ms; its default, 30 s, let slow clients hold worker threads long). A
 * client on any network sends a few KiB well within it. */
#define HTTP_REQUEST_TIMEOUT_MS 10000
#define HTTP_PARAMS_MAX 2         /* :id segments in one route */

struct api;

/* One request being served. */
typedef struct {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    struct api *api;
    role_t role;
    const char *route;                   /* the matched pattern, for metrics and logs */
    char params[HTTP_PARAMS_MAX][PATH_PARAM_LEN]; /* :id values (core/path.h) */
    int status;                          /* the status answered, 0 until then */
    bool body_read;                      /* the whole body was read (http_body_or_reply) */
} http_req_t;

/* A route: method, pattern with :name segments, handler. */
typedef struct {
    const char *method;
    const char *pattern;
    void (*handler)(http_req_t *r);
} http_route_t;


/* Answers `status` with `body` as JSON (taking ownership; NULL answers 500). Every
 * answer of the http_reply_* helpers that refuses a request (status 400 or more) whose
 * body was not read to its end says "Connection: close" and ends the connection after
 * it (see http_close_after_reply()). */
void http_reply_json(http_req_t *r, int status, cJSON *body);

/* Room to leave in front of a jsonw_t body for http_reply_text()'s headers. */
#define HTTP_HEAD_GAP 256

/* Answers with the JSON text of `w` (started with jsonw_init(w, HTTP_HEAD_GAP)): the
 * headers go into the gap in front of it, and headers and body out in one write. A
 * failed writer answers 500. Frees the writer. */
void http_reply_text(http_req_t *r, int status, jsonw_t *w);

/* "Connection: close\r\n" when the answer `status` to `r` ends its connection (a
 * refusal before the whole body was read), else "": for a handler that writes its own
 * headers. http_close_after_reply() must follow the answer then. */
const char *http_connection_header(const http_req_t *r, int status);

/* Makes civetweb close the connection once the handler returns, instead of reading and
 * throwing away the rest of a body nobody wants (which a client sending a byte at a time
 * makes last as long as it likes, holding a worker thread). Call after the answer was
 * written. */
void http_close_after_reply(http_req_t *r);

/* Answers a JSON error with `code` and a printf message. */
void http_reply_error(http_req_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answers a MIG_E* failure of the store with its HTTP status (400, 404, 409, 503, ...)
 * and the function library's sentence from `rc->err`. */
void http_reply_store_error(http_req_t *r, int code, const rconn_t *rc);

/* The HTTP status of a MIG_E* code. Pure. */
int http_status_of(int mig_code);

/* True when the request may go on: its Host is one of the API's names, and, when it may
 * change state (any method but GET, HEAD, OPTIONS), its Origin is the API's own or an
 * allowed one and a body it carries is application/json (api/guard.h). Otherwise answers
 * 403 (forbidden_host, forbidden_origin) or 415 and returns false. */
bool http_guard_or_reply(http_req_t *r);

/* True when the caller's role is at least `min`; otherwise answers 401 (no or a wrong
 * token) or 403 (a role too weak) and returns false. */
bool http_role_or_reply(http_req_t *r, role_t min);

/* The :id of the path when it is a valid id (1 to 36 of [A-Za-z0-9_.:-]); NULL after
 * answering 400 naming `what` ("migration", "server"). */
const char *http_id_or_reply(http_req_t *r, const char *what);

/* Reads the body as a JSON object: NULL after answering 413 (over HTTP_BODY_MAX), 408
 * (not all there within HTTPBODY_DEADLINE_MS), 415 (Content-Type not application/json)
 * or 400 (malformed, nested deeper than
 * JSONBODY_DEPTH_MAX, bytes after the value, or not an object: core/jsonbody.h). The
 * caller frees the result with cJSON_Delete(). */
cJSON *http_body_or_reply(http_req_t *r);

/* The thread's Redis connection (one per civetweb thread, made on first use); NULL
 * after answering 503 when Redis cannot be reached. */
rconn_t *http_redis_or_reply(http_req_t *r);

/* A query parameter's decoded value into `out`: 1 when present, 0 when absent, -1 when
 * longer than `cap`. Answers nothing. */
int http_query(const http_req_t *r, const char *name, char *out, size_t cap);

/* The calling thread's Redis connection, made on first use (NULL with the reason in
 * `err` when the settings are bad); http_thread_redis_free() ends it when the thread
 * exits. */
rconn_t *http_thread_redis(struct api *api, char *err, size_t errlen);
void http_thread_redis_free(void);

#endif
