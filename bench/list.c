/* list.c - benchmark of the migration list at 100,000 migrations: p50/p99 of GET
 * /api/migrations (filtered by status and unfiltered) through the release migrate-api
 * under wrk, and in the same run the raw Redis cost of the same page (the store layer's
 * page read, the same round trips to Redis without HTTP, from as many connections), then
 * the verdict against the targets: p99 under 5 ms, and API p99 at most twice the raw p99.
 *
 * The data is put in through the store layer only, as the programs would: nodes,
 * servers, one migration per server, most of them run to completed or cancelled, some
 * left scheduled and some preparing.
 *
 *   build/rel/bench/list [migrations] [two-filters]
 *
 * Then two filters at once (issue 12, finding 9): the per-call time of a status and
 * reason page, and Redis's PING round trip from another connection while two clients
 * ask it in a loop, before (the unbounded walk of LUALIB_VERSION 4, sent as EVAL_RO) and
 * after (the page read of today), in the same run on the same data. "two-filters" skips
 * the wrk and one-filter runs.
 *
 * Needs wrk (Debian's package `wrk`) and the release migrate-api (from $MIG_BIN_DIR,
 * default build/rel/bin); run from the repository's root. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

#define NODES 20         /* hosting nodes; servers are spread over them evenly */
#define POP_THREADS 16   /* populating clients, each with its own connection: enough to keep
                          * Redis busy while each waits on its round trips */
#define CONNS 8          /* concurrent requests while measuring, for wrk and the raw calls */
#define RUN_S 10         /* seconds of each measurement */
#define PAGE 50          /* the page size the issue names (the API's default) */
#define API_THREADS 16   /* civetweb workers: each keep-alive connection holds one, so twice
                          * wrk's connections leaves room for the readiness check */
#define LEASE_LONG_MS (24 * 3600 * 1000) /* leases of the migrations left preparing: they
                                          * must not expire during the run */
#define LEASE_MS 60000   /* leases of the migrations run to the end right away */
#define CPU_REDIS 0      /* redis-server alone on this core... */
#define CPU_LOAD 1       /* ...the API, wrk and this program's clients on the other */
/* The mix, per 200 migrations: 4 scheduled (2%), 1 preparing (0.5%), 35 cancelled
 * (17.5%), the other 160 completed (80%): a fleet where most migrations have ended and a
 * few thousand wait or run. */
#define MIX_PERIOD 200
#define MIX_SCHEDULED 4
#define MIX_PREPARING 1
#define MIX_CANCELLED 35

#define FILTER "scheduled,preparing"

/* ---- settings and what must be stopped --------------------------------------------------- */

static int migrations = 100000;
static harness_redis_t redis;
static api_proc_t api;
static char tmpdir[256];
static pthread_mutex_t dying = PTHREAD_MUTEX_INITIALIZER;

/* Stops what this run started, by PID; safe to call twice. */
static void stop_all(void) {
    api_proc_stop(&api);
    harness_redis_stop(&redis);
}

/* Says why, stops everything and exits 1. The first failing thread does it; the others
 * wait on the lock until the process ends. */
static void die(const char *fmt, ...) {
    pthread_mutex_lock(&dying);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "list: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (logs in %s)\n", tmpdir);
    va_end(ap);
    stop_all();
    exit(1);
}

static void must(int rv, rconn_t *rc, const char *what) {
    if (rv != 0) die("%s: %s (%s)", what, mig_errname(rv), rc->err);
}

static rconn_t *conn(void) {
    char err[256];
    rconn_opts_t o = {.url = redis.url, .prefix = "mig:", .timeout_ms = 10000};
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    if (rc == NULL) die("cannot connect: %s", err);
    if (rconn_load_library(rc) != 0) die("cannot load the library: %s", rc->err);
    return rc;
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        fprintf(stderr, "list: could not pin %d to cpu %d (%s); figures include contention\n", (int)pid, cpu,
                strerror(errno));
}

/* ---- population ---------------------------------------------------------------------------- */

typedef enum { FATE_SCHEDULED, FATE_PREPARING, FATE_CANCELLED, FATE_COMPLETED } fate_t;

static fate_t fate_of(int i) {
    int k = i % MIX_PERIOD;
    if (k < MIX_SCHEDULED) return FATE_SCHEDULED;
    if (k < MIX_SCHEDULED + MIX_PREPARING) return FATE_PREPARING;
    if (k < MIX_SCHEDULED + MIX_PREPARING + MIX_CANCELLED) return FATE_CANCELLED;
    return FATE_COMPLETED;
}

/* One populating client: servers i = c, c + POP_THREADS, ..., each with its one
 * migration taken to its fate. The claim takes the oldest ready migration, which may be
 * another client's; each client runs whatever it got, so the numbers in each status come
 * out as planned. */
static void *populate_client(void *arg) {
    int c = (int)(intptr_t)arg;
    rconn_t *rc = conn();
    migration_t m;
    migration_init(&m);
    char wid[32];
    snprintf(wid, sizeof wid, "bench-list-%d", c);
    static const char *const states[] = {"running", "running", "running", "stopped"};
    for (int i = c; i < migrations; i += POP_THREADS) {
        char sid[32], name[32], node[16], to[16], players[16], idle[32];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(name, sizeof name, "Server-%d", i);
        snprintf(node, sizeof node, "n%d", i % NODES);
        snprintf(to, sizeof to, "n%d", (i + 1 + i / NODES % (NODES - 1)) % NODES);
        snprintf(players, sizeof players, "%d", i % 7 == 0 ? i % 23 : 0);
        snprintf(idle, sizeof idle, "%lld", (long long)(timefmt_now_ms() - (i % 3600) * 1000));
        const char *s[] = {"name", name, "node_id", node, "players", players, "idle_since", idle,
                           "state", states[i % 4], "ram_mb", i % 2 ? "4096" : "8192", "disk_mb", "20480"};
        must(store_put_server(rc, sid, s, sizeof s / sizeof s[0] / 2), rc, "put server");

        migration_create_t req;
        migration_create_init(&req);
        req.server_id = sid;
        req.to_node_id = to;
        req.reason = (mig_reason_t)(i % MIG_REASON_COUNT);
        req.triggered_by = req.reason == MIG_REASON_COST ? MIG_TRIGGER_SYSTEM : MIG_TRIGGER_ADMIN;
        req.savings_eur_hour = (double)(i % 40) / 100.0;
        req.notes = i % 5 == 0 ? "kernel update on the source node" : NULL;
        must(store_create_migration(rc, &req, &m), rc, "create");
        fate_t f = fate_of(i);
        if (f == FATE_SCHEDULED) continue;
        if (f == FATE_CANCELLED) {
            must(store_cancel_migration(rc, m.id, NULL), rc, "cancel");
            continue;
        }
        must(store_promote(rc, m.id), rc, "promote");
        if (f == FATE_PREPARING) {
            must(store_claim(rc, wid, LEASE_LONG_MS, &m), rc, "claim");
            continue;
        }
        must(store_claim(rc, wid, LEASE_MS, &m), rc, "claim");
        must(store_advance(rc, m.id, m.lease_token, MIG_TRANSFERRING, NULL), rc, "advance");
        must(store_advance(rc, m.id, m.lease_token, MIG_COMPLETING, NULL), rc, "advance");
        must(store_complete(rc, m.id, m.lease_token, 0, NULL, NULL), rc, "complete");
    }
    migration_clear(&m);
    rconn_free(rc);
    return NULL;
}

static void populate(void) {
    rconn_t *rc = conn();
    for (int n = 0; n < NODES; n++) {
        char id[16], name[32], eur[16];
        snprintf(id, sizeof id, "n%d", n);
        snprintf(name, sizeof name, "Node-%d", n);
        snprintf(eur, sizeof eur, "%.2f", 0.10 + 0.01 * n);
        const char *pairs[] = {"name", name, "address", "10.0.0.1:25565", "healthy", "1",
                               "ram_total_mb", "131072", "ram_free_mb", "65536", "eur_hour", eur};
        must(store_put_node(rc, id, pairs, sizeof pairs / sizeof pairs[0] / 2), rc, "put node");
    }
    int64_t t0 = timefmt_mono_ms();
    pthread_t t[POP_THREADS];
    for (int i = 0; i < POP_THREADS; i++) pthread_create(&t[i], NULL, populate_client, (void *)(intptr_t)i);
    for (int i = 0; i < POP_THREADS; i++) pthread_join(t[i], NULL);
    double s = (double)(timefmt_mono_ms() - t0) / 1000.0;

    store_stats_t st;
    must(store_get_stats(rc, &st), rc, "stats");
    long long total = 0;
    for (int i = 0; i < MIG_STATUS_COUNT; i++) total += st.by_status[i];
    printf("  population: %d servers on %d nodes, %d migrations in %.1f s with %d clients (%.0f migrations/s)\n",
           migrations, NODES, migrations, s, POP_THREADS, migrations / s);
    printf("    completed %lld, cancelled %lld, scheduled %lld, preparing %lld (of %lld)\n",
           st.by_status[MIG_COMPLETED], st.by_status[MIG_CANCELLED], st.by_status[MIG_SCHEDULED],
           st.by_status[MIG_PREPARING], total);
    if (total != migrations) die("expected %d migrations, Redis counts %lld", migrations, total);
    store_stats_free(&st);
    rconn_free(rc);
}

/* utime + stime of a process, in seconds. */
static double proc_cpu_s(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the raw cost: the page read from Redis without HTTP --------------------------------------- */

typedef struct {
    const char *statuses;
    uint64_t until_ns;
    uint64_t *ns; /* each call's time, grown as needed */
    size_t n, cap;
    long long total; /* the page's total, as the first call answered */
} raw_client_t;

/* The same page read the API makes (store_list_migrations: its round trips to Redis and
 * the records parsed), without HTTP and JSON. */
static void *raw_client(void *arg) {
    raw_client_t *c = arg;
    rconn_t *rc = conn();
    store_query_t q = {.statuses = c->statuses, .limit = PAGE};
    while (mono_ns() < c->until_ns) {
        store_page_t page;
        uint64_t t0 = mono_ns();
        int rv = store_list_migrations(rc, &q, &page);
        uint64_t t1 = mono_ns();
        must(rv, rc, "store_list_migrations");
        if (page.n != PAGE) die("store_list_migrations: not a page of %d", PAGE);
        c->total = page.total;
        store_page_free(&page);
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->ns = realloc(c->ns, c->cap * sizeof *c->ns);
            if (c->ns == NULL) die("out of memory");
        }
        c->ns[c->n++] = t1 - t0;
    }
    rconn_free(rc);
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Prints, per page, each command's calls and time from INFO commandstats since the last
 * CONFIG RESETSTAT (a function's time includes the commands it ran, which also have
 * their own lines, as do the commands EXEC ran). */
static void print_commands(double pages) {
    redisReply *cs = harness_redis_cmd(&redis, "INFO commandstats");
    for (const char *p = cs && cs->str ? cs->str : NULL; p && (p = strstr(p, "cmdstat_")); p += 8) {
        const char *u = strstr(p, ",usec="), *c = strstr(p, ":calls=");
        if (u == NULL || c == NULL || strncmp(p, "cmdstat_info:", 13) == 0 || strncmp(p, "cmdstat_config", 14) == 0)
            continue;
        printf("      %.*s: %.1f calls, %.0f us per page\n", (int)(c - p - 8), p + 8, strtod(c + 7, NULL) / pages,
               strtod(u + 6, NULL) / pages);
    }
    if (cs) freeReplyObject(cs);
}

static void reset_stats(void) {
    redisReply *r = harness_redis_cmd(&redis, "CONFIG RESETSTAT");
    if (r == NULL) die("CONFIG RESETSTAT failed");
    freeReplyObject(r);
}

typedef struct {
    double p50_ms, p99_ms; /* latency of one page, as the client saw it */
    double per_s;          /* pages answered per second */
    double redis_usec;     /* redis-server's CPU per page (utime + stime), us */
    double api_usec;       /* migrate-api CPU per request (utime + stime); -1 for raw */
    long long total;       /* matches in all, as the page says */
} figures_t;

/* CONNS clients reading pages for RUN_S seconds; p50/p99 over every read. */
static figures_t raw_run(const char *statuses) {
    raw_client_t c[CONNS] = {{0}};
    pthread_t t[CONNS];
    reset_stats();
    double rcpu0 = proc_cpu_s(redis.pid);
    uint64_t t0 = mono_ns();
    for (int i = 0; i < CONNS; i++) {
        c[i].statuses = statuses;
        c[i].until_ns = t0 + (uint64_t)RUN_S * 1000000000ull;
        pthread_create(&t[i], NULL, raw_client, &c[i]);
    }
    size_t n = 0;
    for (int i = 0; i < CONNS; i++) {
        pthread_join(t[i], NULL);
        n += c[i].n;
    }
    double s = (double)(mono_ns() - t0) / 1e9;
    double rcpu = proc_cpu_s(redis.pid) - rcpu0;
    printf("    raw page read, Redis's commands (INFO commandstats):\n");
    print_commands((double)(n ? n : 1));
    figures_t f = {.redis_usec = rcpu * 1e6 / (double)(n ? n : 1), .api_usec = -1, .total = c[0].total,
                   .per_s = (double)n / s};
    uint64_t *all = malloc((n ? n : 1) * sizeof *all);
    if (all == NULL) die("out of memory");
    size_t k = 0;
    for (int i = 0; i < CONNS; i++) {
        memcpy(all + k, c[i].ns, c[i].n * sizeof *all);
        k += c[i].n;
        free(c[i].ns);
    }
    if (n == 0) die("no page read finished in %d s", RUN_S);
    qsort(all, n, sizeof *all, cmp_u64);
    /* nearest rank: the smallest time that at least p of the calls did not exceed */
    f.p50_ms = (double)all[(n * 50 + 99) / 100 - 1] / 1e6;
    f.p99_ms = (double)all[(n * 99 + 99) / 100 - 1] / 1e6;
    free(all);
    return f;
}

/* ---- the API under wrk ------------------------------------------------------------------------ */

/* A free loopback port: bound, read back, closed. migrate-api logs its port only at
 * info level, and the run wants warn (no per-request logging), so the port is chosen
 * here; the window in which another program could take it is a few milliseconds. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("no free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts migrate-api at warn level with API_THREADS workers, and waits for /readyz. */
static void api_start(void) {
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/rel/bin";
    char bin[300], listen[64], url[340], threads[32];
    snprintf(bin, sizeof bin, "%s/migrate-api", bindir);
    api.port = free_port();
    snprintf(listen, sizeof listen, "--api-listen=127.0.0.1:%d", api.port);
    snprintf(url, sizeof url, "--redis-url=%s", redis.url);
    snprintf(threads, sizeof threads, "--api-threads=%d", API_THREADS);
    snprintf(api.log, sizeof api.log, "%s/api.log", tmpdir);
    snprintf(api.base, sizeof api.base, "http://127.0.0.1:%d", api.port);
    /* no tokens: every caller is an operator, as the measurement wants */
    const char *argv[] = {bin, listen, url, threads, "--api-tokens=", "--log-level=warn", NULL};
    api.pid = harness_spawn(argv, api.log);
    if (api.pid < 0) die("cannot start %s", bin);
    char ready[128];
    snprintf(ready, sizeof ready, "%s/readyz", api.base);
    for (int i = 0; i < 1000; i++) {
        http_resp_t r;
        memset(&r, 0, sizeof r);
        int ok = http_call("GET", ready, NULL, NULL, NULL, &r) == 0 && r.status == 200;
        http_resp_free(&r);
        if (ok) return;
        if (harness_wait(api.pid, 0) != -1) {
            api.pid = 0;
            die("%s exited; see %s", bin, api.log);
        }
        timefmt_sleep_ms(10);
    }
    die("%s did not become ready", bin);
}


/* A wrk time ("638.00us", "1.23ms", "2.00s") in ms, or -1. */
static double wrk_ms(double v, const char *unit) {
    if (strcmp(unit, "us") == 0) return v / 1000.0;
    if (strcmp(unit, "ms") == 0) return v;
    if (strcmp(unit, "s") == 0) return v * 1000.0;
    if (strcmp(unit, "m") == 0) return v * 60000.0;
    return -1;
}

/* Checks one answer of `url` (a full page of the expected total), then runs
 * wrk -t1 -c<CONNS> -d<RUN_S>s --latency on it and reads its 50% and 99% lines. */
static figures_t api_run(const char *url, long long want_total, size_t *body_bytes) {
    http_resp_t r;
    memset(&r, 0, sizeof r);
    if (http_call("GET", url, NULL, NULL, NULL, &r) != 0 || r.status != 200 || r.json == NULL)
        die("GET %s: status %ld", url, r.status);
    cJSON *items = cJSON_GetObjectItem(r.json, "items"), *total = cJSON_GetObjectItem(r.json, "total");
    if (cJSON_GetArraySize(items) != PAGE || !cJSON_IsNumber(total) || (long long)total->valuedouble != want_total)
        die("GET %s: not a page of %d of %lld", url, PAGE, want_total);
    *body_bytes = strlen(r.body);
    http_resp_free(&r);

    char out[300], conns[16], dur[16];
    snprintf(out, sizeof out, "%s/wrk.out", tmpdir);
    snprintf(conns, sizeof conns, "-c%d", CONNS);
    snprintf(dur, sizeof dur, "-d%ds", RUN_S);
    remove(out);
    const char *argv[] = {"wrk", "-t1", conns, dur, "--latency", url, NULL};
    reset_stats();
    double cpu0 = proc_cpu_s(api.pid), rcpu0 = proc_cpu_s(redis.pid);
    pid_t pid = harness_spawn(argv, out);
    if (pid < 0) die("cannot start wrk");
    int st = harness_wait(pid, (RUN_S + 20) * 1000);
    if (st == -1) {
        kill(pid, SIGKILL);
        harness_wait(pid, 5000);
        die("wrk did not finish");
    }
    double cpu1 = proc_cpu_s(api.pid), rcpu1 = proc_cpu_s(redis.pid);
    if (st != 0) die("wrk failed (status %d; is Debian's wrk installed?); see %s", st, out);

    figures_t f = {.p50_ms = -1, .p99_ms = -1, .total = want_total};
    FILE *fp = fopen(out, "r");
    if (fp == NULL) die("cannot read %s", out);
    char line[512];
    long long requests = 0, bad = 0;
    double secs = 0;
    while (fgets(line, sizeof line, fp)) {
        int pct;
        double v;
        char unit[8];
        if (sscanf(line, " %d%% %lf%7s", &pct, &v, unit) == 3) {
            if (pct == 50) f.p50_ms = wrk_ms(v, unit);
            if (pct == 99) f.p99_ms = wrk_ms(v, unit);
        } else if (sscanf(line, " %lld requests in %lf", &requests, &secs) == 2) {
        } else if (sscanf(line, " Non-2xx or 3xx responses: %lld", &bad) == 1) {
        } else if (strstr(line, "Socket errors")) {
            fprintf(stderr, "list: wrk: %s", line);
        }
    }
    fclose(fp);
    if (f.p50_ms < 0 || f.p99_ms < 0 || requests == 0) die("cannot read wrk's figures from %s", out);
    if (bad) die("wrk: %lld answers were not 2xx; see %s", bad, api.log);
    f.per_s = (double)requests / secs;
    f.redis_usec = (rcpu1 - rcpu0) * 1e6 / (double)requests;
    /* the API's own cost, to tell it from time spent waiting */
    f.api_usec = (cpu1 - cpu0) * 1e6 / (double)requests;
    return f;
}

/* ---- two filters: the bound on one call ------------------------------------------------ */

/* mig_list's two-filter walk as it was before the bound (LUALIB_VERSION 4, a status and a
 * reason): the whole smaller index read, each entry checked against its record, the total
 * counted; answers the total and the page's keys. Sent as EVAL_RO, the "before". */
static const char *const unbounded_lua =
    "local p, st, re, limit = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local a, b = p .. 'idx:status:' .. st, p .. 'idx:reason:' .. re\n"
    "local drive, field, want = a, 'reason', re\n"
    "if redis.call('ZCARD', b) < redis.call('ZCARD', a) then drive, field, want = b, 'status', st end\n"
    "local r = redis.call('ZREVRANGE', drive, 0, -1, 'WITHSCORES')\n"
    "local total, out = 0, {0}\n"
    "for j = 1, #r, 2 do\n"
    "  local v = redis.call('HMGET', p .. 'm:' .. r[j], field)\n"
    "  if v[1] == want then\n"
    "    total = total + 1\n"
    "    if #out <= limit then out[#out + 1] = p .. 'm:' .. r[j] end\n"
    "  end\n"
    "end\n"
    "out[1] = total\n"
    "return out\n";

typedef struct {
    const char *status, *reason;
    int unbounded;      /* 1: the EVAL_RO above; 0: store_list_migrations */
    uint64_t until_ns;
    uint64_t *ns;       /* each call's time */
    size_t n, cap;
    long long examined; /* of the last call (0 for the unbounded one) */
} two_client_t;

static void record_ns(uint64_t **v, size_t *n, size_t *cap, uint64_t x) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *v = realloc(*v, *cap * sizeof **v);
        if (*v == NULL) die("out of memory");
    }
    (*v)[(*n)++] = x;
}

static void *two_client(void *arg) {
    two_client_t *c = arg;
    rconn_t *rc = conn();
    store_query_t q = {.statuses = c->status, .reason = c->reason, .limit = PAGE};
    while (mono_ns() < c->until_ns) {
        uint64_t t0 = mono_ns();
        if (c->unbounded) {
            redisReply *r = redisCommand(rc->ctx, "EVAL_RO %s 1 mig: %s %s %d", unbounded_lua, c->status, c->reason, PAGE);
            if (r == NULL || r->type != REDIS_REPLY_ARRAY) die("EVAL_RO of the unbounded walk failed");
            freeReplyObject(r);
        } else {
            store_page_t page;
            must(store_list_migrations(rc, &q, &page), rc, "store_list_migrations");
            c->examined = page.examined;
            store_page_free(&page);
        }
        record_ns(&c->ns, &c->n, &c->cap, mono_ns() - t0);
    }
    rconn_free(rc);
    return NULL;
}

typedef struct {
    uint64_t until_ns;
    uint64_t *ns;
    size_t n, cap;
} pinger_t;

/* PING from a connection of its own, back to back: how long any other client of Redis
 * (a worker, the scheduler) waits while the list is read. */
static void *pinger(void *arg) {
    pinger_t *p = arg;
    rconn_t *rc = conn();
    while (mono_ns() < p->until_ns) {
        uint64_t t0 = mono_ns();
        redisReply *r = redisCommand(rc->ctx, "PING");
        if (r == NULL) die("PING failed");
        freeReplyObject(r);
        record_ns(&p->ns, &p->n, &p->cap, mono_ns() - t0);
    }
    rconn_free(rc);
    return NULL;
}

/* p in [0, 100] of `n` sorted times, nearest rank, in ms. */
static double pct_ms(const uint64_t *v, size_t n, int p) {
    if (n == 0) return -1;
    size_t k = (n * (size_t)p + 99) / 100;
    return (double)v[k ? k - 1 : 0] / 1e6;
}

/* Two clients ask the page in a loop for RUN_S seconds while a third pings. */
static void two_filters_run(const char *label, const char *status, const char *reason, int unbounded) {
    two_client_t c[2] = {{0}};
    pthread_t t[2], pt;
    pinger_t pg = {0};
    uint64_t until = mono_ns() + (uint64_t)RUN_S * 1000000000ull;
    for (int i = 0; i < 2; i++) {
        c[i] = (two_client_t){.status = status, .reason = reason, .unbounded = unbounded, .until_ns = until};
        pthread_create(&t[i], NULL, two_client, &c[i]);
    }
    pg.until_ns = until;
    pthread_create(&pt, NULL, pinger, &pg);
    size_t n = 0;
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_join(pt, NULL);
    uint64_t *all = malloc((c[0].n + c[1].n + 1) * sizeof *all);
    if (all == NULL) die("out of memory");
    for (int i = 0; i < 2; i++) {
        memcpy(all + n, c[i].ns, c[i].n * sizeof *all);
        n += c[i].n;
        free(c[i].ns);
    }
    qsort(all, n, sizeof *all, cmp_u64);
    qsort(pg.ns, pg.n, sizeof *pg.ns, cmp_u64);
    printf("    %-34s list p50 %8.2f ms  p99 %8.2f ms  (%5zu calls)   PING p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms",
           label, pct_ms(all, n, 50), pct_ms(all, n, 99), n, pct_ms(pg.ns, pg.n, 50), pct_ms(pg.ns, pg.n, 99),
           pct_ms(pg.ns, pg.n, 100));
    if (!unbounded) printf("  examined %lld", c[0].examined);
    printf("\n");
    free(all);
    free(pg.ns);
}

/* A dense pair (most completed migrations are in every reason) and a sparse one (no
 * migration left preparing has that reason, so a page is never filled). */
static void two_filters(void) {
    static const struct {
        const char *status, *reason;
    } q[] = {{"completed", "manual"}, {"preparing", "manual"}};
    printf("  two filters, two clients in a loop, PING from a third; %d s per run\n", RUN_S);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        printf("  GET /api/migrations?status=%s&reason=%s&limit=%d\n", q[i].status, q[i].reason, PAGE);
        two_filters_run("before (unbounded walk, EVAL_RO):", q[i].status, q[i].reason, 1);
        two_filters_run("after (store_list_migrations):", q[i].status, q[i].reason, 0);
    }
}

/* ---- main ----------------------------------------------------------------------------------- */

static void print_figures(const char *what, const figures_t *f) {
    printf("    %-40s p50 %6.2f ms  p99 %6.2f ms  %6.0f pages/s  redis CPU %5.0f us/page", what, f->p50_ms, f->p99_ms,
           f->per_s, f->redis_usec);
    if (f->api_usec >= 0) printf("  API CPU %4.0f us/page", f->api_usec);
    printf("\n");
}

/* Measures one page: raw, then through the API, and prints both with their ratio. */
static void measure(const char *label, const char *statuses, const char *query, figures_t *raw, figures_t *http) {
    char url[256], what[128];
    snprintf(url, sizeof url, "%s/api/migrations?%s", api.base, query);
    printf("  %s: GET /api/migrations?%s\n", label, query);
    fflush(stdout);
    *raw = raw_run(statuses);
    printf("    matches in all (the page's total): %lld\n", raw->total);
    snprintf(what, sizeof what, "raw page read, %d connections:", CONNS);
    print_figures(what, raw);
    size_t bytes = 0;
    *http = api_run(url, raw->total, &bytes);
    snprintf(what, sizeof what, "migrate-api, wrk -c%d (%zu B):", CONNS, bytes);
    print_figures(what, http);
    printf("    API p99 / raw p99: %.2f\n", http->p99_ms / raw->p99_ms);
}

static const char *verdict(int met) {
    return met ? "met" : "NOT MET";
}

int main(int argc, char **argv) {
    if (argc > 1) migrations = atoi(argv[1]);
    if (migrations < MIX_PERIOD * POP_THREADS) {
        fprintf(stderr, "usage: list [migrations >= %d] [two-filters]\n", MIX_PERIOD * POP_THREADS);
        return 2;
    }
    log_init("bench", LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* each figure as soon as it is measured */
    snprintf(tmpdir, sizeof tmpdir, "%s/list.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (harness_redis_start(&redis, NULL) != 0) {
        rmdir(tmpdir);
        return 1;
    }
    /* Redis alone on one core, everything else (the API, wrk, the raw clients, the
     * populating clients) on the other: on this 2-core machine the load would otherwise
     * preempt Redis, and a request would wait for Redis to get its core back. The raw
     * clients and the API then run on the same core, so the comparison is fair. */
    pin(redis.pid, CPU_REDIS);
    pin(0, CPU_LOAD);
    printf("list: %d migrations, page of %d, %d connections, %d s per run; redis-server on cpu %d, "
           "the rest on cpu %d\n",
           migrations, PAGE, CONNS, RUN_S, CPU_REDIS, CPU_LOAD);
    populate();
    if (argc > 2 && strcmp(argv[2], "two-filters") == 0) {
        two_filters();
        stop_all();
        rmdir(tmpdir);
        return 0;
    }
    api_start(); /* inherits this process's core */

    figures_t fr, fh, ur, uh;
    char fq[64];
    snprintf(fq, sizeof fq, "status=%s&limit=%d", FILTER, PAGE);
    measure("filtered", FILTER, fq, &fr, &fh);
    char uq[64];
    snprintf(uq, sizeof uq, "limit=%d", PAGE);
    measure("unfiltered", "", uq, &ur, &uh);
    two_filters();
    stop_all();

    int f1 = fh.p99_ms < 5.0, f2 = fh.p99_ms <= 2 * fr.p99_ms, u1 = uh.p99_ms < 5.0, u2 = uh.p99_ms <= 2 * ur.p99_ms;
    printf("  target p99 under 5 ms: filtered %.2f ms %s, unfiltered %.2f ms %s\n", fh.p99_ms, verdict(f1), uh.p99_ms,
           verdict(u1));
    printf("  target API p99 at most 2x raw p99: filtered %.2fx %s, unfiltered %.2fx %s\n", fh.p99_ms / fr.p99_ms,
           verdict(f2), uh.p99_ms / ur.p99_ms, verdict(u2));
    char path[300];
    snprintf(path, sizeof path, "%s/wrk.out", tmpdir);
    remove(path);
    snprintf(path, sizeof path, "%s/api.log", tmpdir);
    remove(path);
    rmdir(tmpdir);
    return 0;
}
