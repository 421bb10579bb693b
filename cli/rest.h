/* rest.h - one call of the REST API with libcurl: method, path, optional JSON body and
 * bearer token; the answer's status and body. */
#ifndef MIG_CLI_REST_H
#define MIG_CLI_REST_H

#include <stddef.h>

#define REST_CONNECT_TIMEOUT_MS 5000L /* the API is near: a longer wait means it is down */
#define REST_TIMEOUT_MS 30000L        /* a whole call; the API answers in milliseconds */
#define REST_BODY_MAX (16L << 20)     /* longest answer kept: a page of 500 records is ~1 MiB */

/* An answer. Free with rest_answer_free(). */
typedef struct {
    long status;     /* HTTP status */
    char *body;      /* NUL-terminated, never NULL after a call that returned 0 */
    size_t len;
    char err[256];   /* why a call failed to get an answer */
} rest_answer_t;

/* Calls `method` on `base` + `path` ("http://127.0.0.1:8080" + "/api/migrations"),
 * with "Authorization: Bearer <token>" when `token` is set and `body` (may be NULL) as
 * application/json. Returns 0 when the API answered (any status), or MIG_EUNREACHABLE
 * with the reason in a->err (no connection, a timeout, an answer too long), or
 * MIG_ENOMEM. curl_global_init() must have been called. */
int rest_call(const char *base, const char *token, const char *method, const char *path, const char *body,
              rest_answer_t *a);

void rest_answer_free(rest_answer_t *a);

#endif
