/* http_client.h - a small libcurl client for the integration tests, and the starting of
 * bin/migrate-api on a free port. */
#ifndef MIG_HTTP_CLIENT_H
#define MIG_HTTP_CLIENT_H

#include <sys/types.h>

#include <cjson/cJSON.h>

/* One answer. Free with http_resp_free(). */
typedef struct {
    long status;
    char *body;      /* NUL-terminated, never NULL after a call that reached the server */
    cJSON *json;     /* the body parsed, or NULL */
    char location[256];
} http_resp_t;

/* Calls `method` on `url` with an optional bearer `token` and `body` (sent with
 * `content_type`, "application/json" when NULL). Returns 0, or -1 when the server could
 * not be reached. */
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

/* SIGTERM, wait (SIGKILL after HARNESS_STOP_WAIT_MS); returns the exit status as waitpid
 * gives it, a SIGKILL's when it hung, and copies the end of the API's log to stderr when
 * that is not a clean exit. */
int api_proc_stop(api_proc_t *a);

#endif
