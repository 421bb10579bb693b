/* stack.c - fleet-sim, scheduler and workers as processes for the flow tests. */
#include "stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "tests/support/http_client.h"

/* Longest wait for fleet-sim to start and write its inventory (ms): it takes well under a
 * second, sanitized; this is for a machine busy with other suites. A sim that exits
 * fails the test at once. */
#define STACK_START_WAIT_MS 30000

static const char *bindir(void) {
    return getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
}

/* Runs program `name` with `args` (NULL-terminated) logging into dir/<log>. */
static pid_t run(flow_stack_t *s, const char *name, const char *log, const char *const *args) {
    char bin[300], path[320], url[352];
    snprintf(bin, sizeof bin, "%s/%s", bindir(), name);
    snprintf(path, sizeof path, "%s/%s", s->dir, log);
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    const char *argv[32] = {bin, url, "--log-level=debug"};
    int n = 3;
    for (int i = 0; args && args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, path);
    ck_assert_msg(pid > 0, "cannot start %s", name);
    return pid;
}

static char node_url[128], proxy_url[128];

int stack_add_worker(flow_stack_t *s) {
    ck_assert(s->nworkers < STACK_WORKERS_MAX);
    char id[32], log[32];
    int i = s->nworkers++;
    snprintf(id, sizeof id, "--worker-id=w%d", i);
    snprintf(log, sizeof log, "worker-%d.log", i);
    const char *args[] = {node_url, proxy_url, id, "--poll-ms=20", "--lease-ms=1500", "--retry-backoff-ms=100",
                          "--cooldown-s=0", "--downtime-budget-ms=2000", "--driver-timeout-ms=2000",
                          s->worker_extra, NULL};
    s->workers[i] = run(s, "migrate-worker", log, args);
    return i;
}

void stack_start(flow_stack_t *s, const char *fleet_json, const char *const *sim_flags, const char *const *sched_flags,
                 int workers) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", fx_redis.dir);
    char fleet[300], fleet_arg[320];
    snprintf(fleet, sizeof fleet, "%s/fleet-%d.json", s->dir, (int)getpid());
    FILE *f = fopen(fleet, "w");
    ck_assert_ptr_nonnull(f);
    fputs(fleet_json, f);
    fclose(f);
    snprintf(fleet_arg, sizeof fleet_arg, "--sim-fleet=%s", fleet);
    const char *args[16] = {"--sim-listen=127.0.0.1:0", fleet_arg, "--sim-report-ms=20"};
    int n = 3;
    for (int i = 0; sim_flags && sim_flags[i] && n < 15; i++) args[n++] = sim_flags[i];
    args[n] = NULL;
    char log[320];
    static int starts; /* a log of its own per start, so an old port is never read */
    snprintf(log, sizeof log, "%s/sim-%d-%d.log", s->dir, (int)getpid(), starts++);
    s->sim = run(s, "fleet-sim", strrchr(log, '/') + 1, args);
    for (int waited = 0; (s->sim_port = proc_port_from_log(log, "sim.started")) == 0; waited += 10) {
        ck_assert_msg(harness_wait(s->sim, 0) == -1, "fleet-sim exited; see %s", log);
        ck_assert_msg(waited < STACK_START_WAIT_MS, "fleet-sim did not start; see %s", log);
        timefmt_sleep_ms(10);
    }
    snprintf(s->sim_url, sizeof s->sim_url, "http://127.0.0.1:%d", s->sim_port);
    snprintf(node_url, sizeof node_url, "--driver-node-url=%s/nodes/{node_id}", s->sim_url);
    snprintf(proxy_url, sizeof proxy_url, "--driver-proxy-url=%s/proxy", s->sim_url);
    /* the sim writes the inventory soon after it starts: wait for every server */
    cJSON *fj = cJSON_Parse(fleet_json);
    int want = cJSON_GetArraySize(cJSON_GetObjectItem(fj, "servers"));
    cJSON_Delete(fj);
    for (int waited = 0;; waited += 20) {
        server_t *v;
        size_t got = 0;
        if (store_list_servers(fx_rc, &v, &got) == 0) store_servers_free(v, got);
        if ((int)got >= want) break;
        ck_assert_msg(waited < STACK_START_WAIT_MS, "fleet-sim wrote %zu of %d servers", got, want);
        timefmt_sleep_ms(20);
    }
    /* --recheck-ms: a rule with no end it can know (a scaling event, the platform's
     * queue) is looked at again within a second, not the default five */
    const char *sargs[12] = {"--tick-ms=100", "--idle-s=0", "--leader-ttl-ms=1000", "--recheck-ms=1000"};
    n = 4;
    for (int i = 0; sched_flags && sched_flags[i] && n < 11; i++) sargs[n++] = sched_flags[i];
    sargs[n] = NULL;
    s->scheduler = run(s, "migrate-scheduler", "scheduler.log", sargs);
    for (int i = 0; i < workers; i++) stack_add_worker(s);
}

/* Stops one program of ours and notes in `bad` (of `cap` bytes) how it ended unless it
 * exited 0 on SIGTERM. A pid of 0 (never started, or killed by the test on purpose and
 * reaped there) is skipped. */
static void stop(pid_t *pid, const char *name, char *bad, size_t cap) {
    if (*pid <= 0) return;
    int st;
    int hung = harness_stop_pid(*pid, &st) != 0;
    *pid = 0;
    if (!hung && WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    char how[96];
    size_t n = strlen(bad);
    if (hung)
        snprintf(bad + n, cap - n, "%s%s still running %d ms after SIGTERM (killed)", n ? "; " : "", name,
                 HARNESS_STOP_WAIT_MS);
    else
        snprintf(bad + n, cap - n, "%s%s %s", n ? "; " : "", name, harness_status_text(st, how, sizeof how));
}

void stack_stop(flow_stack_t *s) {
    char bad[1024] = "";
    for (int i = 0; i < s->nworkers; i++) {
        char name[32];
        snprintf(name, sizeof name, "migrate-worker %d", i);
        stop(&s->workers[i], name, bad, sizeof bad);
    }
    stop(&s->scheduler, "migrate-scheduler", bad, sizeof bad);
    stop(&s->sim, "fleet-sim", bad, sizeof bad);
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

cJSON *stack_sim(flow_stack_t *s, const char *method, const char *path, const char *body) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->sim_url, path);
    http_resp_t r;
    ck_assert_msg(http_call(method, url, NULL, NULL, body, &r) == 0, "sim %s %s unreachable", method, path);
    ck_assert_msg(r.status >= 200 && r.status < 300, "sim %s %s: %ld %s", method, path, r.status, r.body);
    cJSON *j = r.json;
    r.json = NULL;
    http_resp_free(&r);
    return j;
}

const cJSON *stack_container(const cJSON *state, const char *server_id, const char *node_id) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(state, "containers")) {
        const cJSON *sid = cJSON_GetObjectItem(c, "server_id"), *nid = cJSON_GetObjectItem(c, "node_id");
        if (cJSON_IsString(sid) && cJSON_IsString(nid) && strcmp(sid->valuestring, server_id) == 0 &&
            strcmp(nid->valuestring, node_id) == 0)
            return c;
    }
    return NULL;
}

void stack_wait_held(flow_stack_t *s, const char *what, int ms) {
    for (int waited = 0;; waited += 20) {
        cJSON *state = stack_sim(s, "GET", "/control/state", NULL);
        int held = cJSON_GetArraySize(cJSON_GetObjectItem(state, "held"));
        cJSON_Delete(state);
        if (held > 0) return;
        ck_assert_msg(waited < ms, "%s: no call held after %d ms", what, ms);
        timefmt_sleep_ms(20);
    }
}

void stack_wait_status(const char *id_in, const mig_status_t *want, int nwant, int ms, migration_t *m) {
    char id[MIG_ID_MAX + 1]; /* `id_in` may be m->id, which each read replaces */
    snprintf(id, sizeof id, "%s", id_in);
    for (int waited = 0;; waited += 20) {
        ck_assert_int_eq(store_get_migration(fx_rc, id, m), 0);
        for (int i = 0; i < nwant; i++)
            if (m->status == want[i]) return;
        ck_assert_msg(waited < ms, "migration %s still %s (step %s, %s) after %d ms", id, states_name(m->status),
                      m->phase_step ? m->phase_step : "-", m->progress_message ? m->progress_message : "-", ms);
        timefmt_sleep_ms(20);
    }
}
