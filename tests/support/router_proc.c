/* router_proc.c - bin/migrate-router as a process for the tests (router_proc.h). */
#include "router_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"
#include "http_client.h"
#include "redis_harness.h"

/* The "http_port" of the router's start line in the log at `path`, or 0. */
static int http_port_from_log(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    char line[4096];
    int port = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"http_port\":\"");
        if (strstr(line, "router.started") && p) port = atoi(p + 13);
    }
    fclose(f);
    return port;
}

int router_proc_start(router_proc_t *r, const char *token, const char *const *args, int wait_ms, char *err,
                      size_t cap) {
    static int starts;
    snprintf(r->log, sizeof r->log, "%s/router-%d.log", r->dir, starts++);
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], state[160], tok[160];
    snprintf(bin, sizeof bin, "%s/migrate-router", bindir);
    snprintf(state, sizeof state, "--router-state-file=%s/router.json", r->dir);
    snprintf(tok, sizeof tok, "--router-token=%s", token);
    const char *argv[32] = {bin, "--router-listen=127.0.0.1:0", "--router-http-listen=127.0.0.1:0", state, tok,
                            "--router-domain=mc.test", "--log-level=debug"};
    int n = 7;
    for (int k = 0; args && args[k] && n < 31; k++) argv[n++] = args[k];
    argv[n] = NULL;
    r->game_port = r->http_port = 0;
    r->pid = harness_spawn(argv, r->log);
    if (r->pid <= 0) {
        r->pid = 0;
        snprintf(err, cap, "cannot run %s", bin);
        return -1;
    }
    for (int waited = 0; (r->game_port = proc_port_from_log(r->log, "router.started")) == 0; waited += 10) {
        if (harness_wait(r->pid, 0) != -1) {
            r->pid = 0;
            snprintf(err, cap, "migrate-router exited; see %s", r->log);
            return -1;
        }
        if (waited >= wait_ms) {
            snprintf(err, cap, "migrate-router did not start in %d ms; see %s", wait_ms, r->log);
            return -1;
        }
        timefmt_sleep_ms(10);
    }
    r->http_port = http_port_from_log(r->log);
    if (r->http_port <= 0) {
        snprintf(err, cap, "migrate-router logged no http_port; see %s", r->log);
        return -1;
    }
    return 0;
}
