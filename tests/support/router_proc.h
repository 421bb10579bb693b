/* router_proc.h - bin/migrate-router as a process for the tests: started with its state
 * file in a folder of the test's, its game and bridge ports read from its start line,
 * stopped with a clean exit checked (proc_stop_clean, tests/support/http_client.h). */
#ifndef MIG_ROUTER_PROC_H
#define MIG_ROUTER_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* One router. The caller fills dir before router_proc_start(); the rest is the start's. */
typedef struct {
    char dir[128];  /* holds router.json (its state) and its logs, router-<n>.log */
    char log[200];  /* the last start's log */
    pid_t pid;      /* 0 when it is not running */
    int game_port;  /* where players connect */
    int http_port;  /* the proxy bridge (docs/DRIVERS.md) */
} router_proc_t;

/* Starts bin/migrate-router (from $MIG_BIN_DIR, else build/test/bin) on 127.0.0.1, any
 * ports, with r->dir/router.json, bridge token `token`, domain mc.test and
 * --log-level=debug, then `args` (NULL-terminated, may be NULL; a flag given again there
 * wins), and waits up to `wait_ms` for its "router.started" line. Each start logs to a new
 * r->dir/router-<n>.log. Returns 0; or -1 with the reason in `err` (`cap` bytes): it exited
 * (r->pid 0), or did not start in time (still running: the teardown stops it). */
int router_proc_start(router_proc_t *r, const char *token, const char *const *args, int wait_ms, char *err,
                      size_t cap);

#endif
