/* http_client.h - a small libcurl client for the integration tests, and the starting of
 * bin/migrate-api on a free port. */
#ifndef MIG_HTTP_CLIENT_H
#define MIG_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* One answer. Free with http_resp_free(). */
typedef struct {
    long status;     /* the HTTP status, 0 when no answer came */
    char *body;      /* NUL-terminated, never NULL after a call that reached the server */
    cJSON *json;     /* the body parsed, or NULL */
    char location[256];
    int curl_code;   /* libcurl's CURLcode of the call: 0 (CURLE_OK) when an answer came */
    const char *error; /* libcurl's words for curl_code when no answer came (static), else NULL */
} http_resp_t;

/* One request, for http_request(). Fields left 0 or NULL are not sent. */
typedef struct {
    const char *method;          /* "GET" when NULL */
    const char *url;             /* http://, https://, or http://localhost/... over unix_socket */
    const char *body;            /* NULL: none */
    const char *content_type;    /* of the body: "application/json" when NULL */
    const char *token;           /* Authorization: Bearer <token> */
    const char *idempotency_key; /* Idempotency-Key: an agent's or router's call of a migration */
    const char *fencing_token;   /* Fencing-Token, as text ("1") */
    const char *ca_file;         /* CAs to trust for https; NULL: libcurl's default bundle */
    const char *cert_file;       /* a client certificate to show (PEM, its key in key_file); NULL: none */
    const char *key_file;
    const char *unix_socket;     /* a Docker engine's socket: the url's host is not dialled */
    long timeout_ms;             /* the whole call; 0: 10000 */
} http_req_t;

/* Makes the request `req` and fills `resp` (free with http_resp_free() whatever it
 * returns). Returns 0 when an answer came, whatever its status, or -1 when none did
 * (refused, timed out, a TLS handshake refused: resp->curl_code and resp->error say
 * which, resp->status 0). The one libcurl call of the tests and benches. */
int http_request(const http_req_t *req, http_resp_t *resp);

/* http_request() for a caller that wants the status and the parsed body only. Returns
 * the status, 0 when no answer came; *out the parsed body or NULL (caller frees with
 * cJSON_Delete) when `out` is not NULL; *why libcurl's words (static) when no answer came,
 * else NULL, when `why` is not NULL. */
long http_request_json(const http_req_t *req, cJSON **out, const char **why);

/* Calls `method` on `url` with an optional bearer `token` and `body` (sent with
 * `content_type`, "application/json" when NULL): http_request() with those. Returns 0,
 * or -1 when the server could not be reached. */
int http_call(const char *method, const char *url, const char *token, const char *content_type,
              const char *body, http_resp_t *resp);
void http_resp_free(http_resp_t *resp);

/* A migrate-api process under test. */
typedef struct {
    pid_t pid;
    int port;
    char base[64];      /* http://127.0.0.1:<port> */
    char log[300];      /* its stderr */
} api_proc_t;

/* Starts bin/migrate-api (from $MIG_BIN_DIR, else build/test/bin) against `redis_url`
 * with MIG_API_LISTEN 127.0.0.1:0 (or `port` when > 0), `tokens` (may be NULL) and log
 * level debug, logging into `dir`, and waits until it logs its port. Returns 0 or -1. */
int api_proc_start(api_proc_t *a, const char *redis_url, const char *tokens, const char *dir, int port);

/* The port a program logged in its start line ({"event":"<event>",...,"port":"N"}), or 0
 * when it has not logged it yet. */
int proc_port_from_log(const char *path, const char *event);

/* 1 when a program logged `event` ({"event":"<event>",...}) in `path`, else 0. */
int proc_log_has(const char *path, const char *event);

/* Copies the last `lines` (at most 64) lines of the log at `path` to stderr. */
void proc_log_tail(const char *path, int lines);

/* A TCP port free on 127.0.0.1 now (bound, read and released), or -1. */
int proc_free_port(void);

/* Stops the child `*pid` (SIGTERM, then SIGKILL after HARNESS_STOP_WAIT_MS), reaps it and
 * sets *pid to 0; a pid <= 0 is a no-op that returns 0. Returns 0 when it exited 0;
 * otherwise appends "<name>: <how>; " to `bad` (`cap` bytes; how: "hung", or
 * harness_status_text's words) and returns -1: a teardown collects every program that
 * did not exit cleanly, then fails once with the list. */
int proc_stop_clean(pid_t *pid, const char *name, char *bad, size_t cap);

/* SIGTERM, wait (SIGKILL after HARNESS_STOP_WAIT_MS); returns the exit status as waitpid
 * gives it, a SIGKILL's when it hung, and copies the end of the API's log to stderr when
 * that is not a clean exit. */
int api_proc_stop(api_proc_t *a);

#endif
