/* live_stack.c - the stack of bench/live.c, as processes stopped by their PIDs. */
#include "bench/live_stack.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "tests/support/http_client.h"


static live_stack_t *current; /* what die() stops: the stack up now */

/* Stops what runs, says why and where the logs are, and exits 1. */
void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "live: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (current) {
        fprintf(stderr, "live: the programs' logs are in %s\n", current->logs);
        stack_down(current, true);
    }
    exit(1);
}

static const char *bindir(void) {
    return getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "bin";
}

/* Runs bin/<name> with the Redis URL and `args` (NULL-terminated), logging into logs/<log>. */
pid_t stack_spawn(live_stack_t *s, const char *name, const char *log, const char *const *args) {
    char bin[300], path[400], url[352];
    snprintf(bin, sizeof bin, "%s/%s", bindir(), name);
    snprintf(path, sizeof path, "%s/%s", s->logs, log);
    snprintf(url, sizeof url, "--redis-url=%s", s->redis.url);
    const char *argv[32] = {bin, url, "--log-level=info"};
    int n = 3;
    for (int i = 0; args && args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    if (access(bin, X_OK) != 0) die("%s is missing: run `make all` first", bin);
    pid_t pid = harness_spawn(argv, path);
    if (pid <= 0) die("cannot start %s", name);
    return pid;
}

/* Starts redis-server, fleet-sim serving `fleet` (a JSON text of `servers` servers) with
 * `sim_flags`, the scheduler with `sched_flags` and `workers` workers with
 * `worker_flags`; returns once the sim's inventory is in Redis. */
void stack_up(live_stack_t *s, const char *fleet, int servers, const char *const *sim_flags,
              const char *const *sched_flags, int workers, const char *const *worker_flags) {
    stack_opts_t o = {.fleet = fleet, .servers = servers, .sim_flags = sim_flags, .sched_flags = sched_flags,
                      .workers = workers, .worker_flags = worker_flags};
    stack_up_with(s, &o);
}

void stack_up_with(live_stack_t *s, const stack_opts_t *o) {
    const char *fleet = o->fleet;
    int servers = o->servers, workers = o->workers;
    const char *const *sim_flags = o->sim_flags, *const *sched_flags = o->sched_flags,
                      *const *worker_flags = o->worker_flags;
    memset(s, 0, sizeof *s);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(s->logs, sizeof s->logs, "%s/live.XXXXXX", tmp);
    if (mkdtemp(s->logs) == NULL) die("mkdtemp %s failed", s->logs);
    current = s;
    s->redis_flags = o->redis_flags;
    if (harness_redis_start(&s->redis, o->redis_flags) != 0) die("redis-server did not start");
    char err[256];
    rconn_opts_t ro = {.url = s->redis.url, .prefix = "mig:", .timeout_ms = 10000};
    if ((s->rc = rconn_new(&ro, err, sizeof err)) == NULL) die("redis: %s", err);
    if (rconn_load_library(s->rc) != 0) die("loading the function library: %s", s->rc->err);

    char path[300], fleet_arg[320];
    snprintf(path, sizeof path, "%s/fleet.json", s->logs);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(fleet, f) < 0 || fclose(f) != 0) die("cannot write %s", path);
    snprintf(fleet_arg, sizeof fleet_arg, "--sim-fleet=%s", path);
    const char *args[16] = {"--sim-listen=127.0.0.1:0", fleet_arg};
    int n = 2;
    for (int i = 0; sim_flags && sim_flags[i] && n < 15; i++) args[n++] = sim_flags[i];
    args[n] = NULL;
    s->sim = stack_spawn(s, "fleet-sim", "sim.log", args);
    char log[320];
    snprintf(log, sizeof log, "%s/sim.log", s->logs);
    int port = 0;
    for (int i = 0; i < 1000 && (port = proc_port_from_log(log, "sim.started")) == 0; i++) {
        if (harness_wait(s->sim, 0) != -1) {
            s->sim = 0;
            die("fleet-sim exited at start");
        }
        timefmt_sleep_ms(10);
    }
    if (port == 0) die("fleet-sim logged no port");
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
    for (int waited = 0;; waited += 20) {
        server_t *v;
        size_t got = 0;
        if (store_list_servers(s->rc, &v, &got) == 0) store_servers_free(v, got);
        if ((int)got >= servers) break;
        if (waited > 30000) die("fleet-sim wrote %zu of %d servers in 30 s", got, servers);
        timefmt_sleep_ms(20);
    }

    const char *sargs[12] = {"--idle-s=0"};
    n = 1;
    for (int i = 0; sched_flags && sched_flags[i] && n < 11; i++) sargs[n++] = sched_flags[i];
    sargs[n] = NULL;
    s->scheduler = stack_spawn(s, "migrate-scheduler", "scheduler.log", sargs);

    char node_url[128], proxy_url[128];
    snprintf(node_url, sizeof node_url, "--driver-node-url=%s/nodes/{node_id}", s->base);
    snprintf(proxy_url, sizeof proxy_url, "--driver-proxy-url=%s/proxy", s->base);
    for (int w = 0; w < workers && w < WORKERS_MAX; w++) {
        char id[32], wlog[32];
        snprintf(id, sizeof id, "--worker-id=w%d", w);
        snprintf(wlog, sizeof wlog, "worker-%d.log", w);
        const char *wargs[20] = {node_url, proxy_url, id};
        n = 3;
        for (int i = 0; worker_flags && worker_flags[i] && n < 19; i++) wargs[n++] = worker_flags[i];
        wargs[n] = NULL;
        s->workers[w] = stack_spawn(s, "migrate-worker", wlog, wargs);
        s->nworkers++;
    }
}

/* Starts redis-server again as harness_redis_start did (tests/support/redis_harness.c:
 * the same arguments, then the stack's own), on the folder and socket it left. */
void stack_redis_restart(live_stack_t *s) {
    char log[320];
    snprintf(log, sizeof log, "%s/redis.log", s->redis.dir);
    const char *argv[64] = {"redis-server", "--port", "0", "--unixsocket", s->redis.sock,
                            "--unixsocketperm", "700", "--dir", s->redis.dir, "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--logfile", log};
    int n = 17;
    for (int i = 0; s->redis_flags && s->redis_flags[i] && n < 62; i++) argv[n++] = s->redis_flags[i];
    argv[n] = NULL;
    if ((s->redis.pid = harness_spawn(argv, NULL)) <= 0) die("cannot start redis-server again");
    for (int waited = 0;; waited += 2) {
        redisReply *r = harness_redis_cmd(&s->redis, "PING");
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (ok) return;
        if (harness_wait(s->redis.pid, 0) != -1) {
            s->redis.pid = 0;
            die("redis-server exited on its restart; see %s", log);
        }
        if (waited > HARNESS_START_WAIT_MS) die("redis-server did not answer %d ms after its restart", waited);
        timefmt_sleep_ms(2); /* the restart's figures count from here: poll finely */
    }
}

/* SIGTERM, then SIGKILL after 10 s; true when it ended on SIGTERM. */
static bool stop_pid(pid_t *pid, const char *name) {
    if (*pid <= 0) return true;
    kill(*pid, SIGTERM);
    bool clean = harness_wait(*pid, 10000) != -1;
    if (!clean) {
        fprintf(stderr, "live: %s (pid %d) ignored SIGTERM for 10 s; killed\n", name, (int)*pid);
        kill(*pid, SIGKILL);
        harness_wait(*pid, 5000);
    }
    *pid = 0;
    return clean;
}

/* Stops every process of the stack by its PID and removes Redis's folder; the logs'
 * folder too unless `keep_logs`. */
void stack_down(live_stack_t *s, bool keep_logs) {
    current = NULL;
    for (int i = 0; i < s->nworkers; i++) stop_pid(&s->workers[i], "migrate-worker");
    stop_pid(&s->scheduler, "migrate-scheduler");
    stop_pid(&s->sim, "fleet-sim");
    rconn_free(s->rc);
    s->rc = NULL;
    harness_redis_stop(&s->redis);
    if (!keep_logs && s->logs[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->logs);
        if (system(cmd) != 0) fprintf(stderr, "live: could not remove %s\n", s->logs);
    }
}

/* CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; 0 when
 * it is gone. */
double cpu_s(pid_t pid) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}


cpu_t cpu_now(const live_stack_t *s) {
    cpu_t c = {cpu_s(s->sim), cpu_s(s->redis.pid), cpu_s(s->scheduler), 0, self_cpu_s()};
    for (int i = 0; i < s->nworkers; i++) c.workers += cpu_s(s->workers[i]);
    return c;
}

/* ------------------------------------------------------------------------ calls to the sim */

#define SIM_CALL_TIMEOUT_MS 60000L /* far above any answer of the sim: a call that takes
                                      longer is a hung sim, and ends the bench's wait */
#define SIM_ANSWER_MAX (64L << 20) /* the whole model of /control/state of the biggest
                                      fleet is a few MB */

/* The answer's body as it arrives; `failed` once it passed SIM_ANSWER_MAX or out of memory. */
typedef struct {
    char *buf;
    size_t len;
    bool failed;
} answer_t;

static size_t on_answer(char *data, size_t size, size_t n, void *arg) {
    answer_t *a = arg;
    size_t add = size * n;
    if (a->failed || a->len + add > (size_t)SIM_ANSWER_MAX) {
        a->failed = true;
        return add; /* read on and drop: the status still counts */
    }
    char *b = realloc(a->buf, a->len + add + 1);
    if (b == NULL) {
        a->failed = true;
        return add;
    }
    memcpy(b + a->len, data, add);
    a->len += add;
    b[a->len] = '\0';
    a->buf = b;
    return add;
}

/* Calls the sim with libcurl, sending `Fencing-Token: <token>` when `token` is not NULL
 * (tests/support's http_call sends no header of the caller's, and the sim refuses an
 * agent call that names a migration without one: docs/DRIVERS.md, Fencing). Returns
 * the HTTP status, -1 when unreachable; the answer parsed into *out when `out` is not
 * NULL (caller frees; NULL when it is no JSON). Safe from any thread once the bench
 * called curl_global_init. */
long sim_try_fenced(const live_stack_t *s, const char *method, const char *path, const char *body,
                    const char *token, cJSON **out) {
    if (out) *out = NULL;
    char url[512], fence[64];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    CURL *c = curl_easy_init();
    if (c == NULL) return -1;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(fence, sizeof fence, "Fencing-Token: %s", token);
        h = curl_slist_append(h, fence);
    }
    answer_t a = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, SIM_CALL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* from threads: no SIGALRM for timeouts */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (out && a.buf && !a.failed) *out = cJSON_Parse(a.buf);
    free(a.buf);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* Calls the sim without a fencing token (control endpoints, calls of no migration);
 * returns the HTTP status (-1 when unreachable) and the answer in *out (caller frees;
 * may be NULL). Safe from any thread. */
long sim_try(const live_stack_t *s, const char *method, const char *path, const char *body, cJSON **out) {
    return sim_try_fenced(s, method, path, body, NULL, out);
}

/* The same from the main thread: anything but a 2xx ends the bench. */
cJSON *sim_call(const live_stack_t *s, const char *method, const char *path, const char *body) {
    cJSON *j = NULL;
    long st = sim_try(s, method, path, body, &j);
    if (st < 200 || st > 299) die("sim %s %s answered %ld", method, path, st);
    return j;
}

mig_status_t get_status(live_stack_t *s, const char *id, migration_t *m) {
    if (store_get_migration(s->rc, id, m) != 0) die("reading migration %s: %s", id, s->rc->err);
    return m->status;
}

