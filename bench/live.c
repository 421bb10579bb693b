/* live.c - benchmarks of live migration end to end, with the real programs as processes:
 * bin/fleet-sim, bin/migrate-scheduler and bin/migrate-worker against a private
 * redis-server on a unix socket.
 *
 *   throughput  migrations per minute with the sim's delays at zero, with 1, 2 and 4
 *               worker processes; the ratio to one worker and the share of the machine's
 *               two cores the whole stack used, both measured in the same run; then the
 *               4-worker run again with Redis's time broken down by function
 *   downtime    player downtime of live migrations of 1, 5 and 20 GB worlds and of the
 *               worst case for the budget (from the migration record) against an offline
 *               copy of worlds of the same sizes (stop, one full sync pass, start on the
 *               target) on the same sim, at once
 *   promotion   a server with players becoming idle to its migration being claimed,
 *               p50/p99/max over many samples
 *
 *   build/rel/bench/live [throughput [concurrency] | downtime [sim-speed] | promotion | all]
 *
 * The programs come from $MIG_BIN_DIR (default bin/, the release build: `make all`).
 * Every process started here is stopped by its PID before the bench moves on, and dies
 * with the bench if the bench dies (PR_SET_PDEATHSIG in harness_spawn). */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"
#include "bench/live_stack.h"

#define MB (1024.0 * 1024.0) /* the sim's MB: 2^20 bytes */

/* throughput: enough servers that the slowest configuration runs for several seconds
 * (startup noise under a percent), spread so that no node is a hotspot. */
#define TP_SERVERS 400
#define TP_NODES 20
#define TP_CONCURRENCY 4     /* MIG_CONCURRENCY of each worker process, unless given */
#define TP_WRITE_MB_S 0.2    /* an idle server still autosaves a little */
#define TP_TIMEOUT_MS 600000 /* a run that has not finished by then is reported as stuck */

/* downtime: the settings. */
#define DT_BUDGET_MS 2000   /* MIG_DOWNTIME_BUDGET_MS, simulated ms */
#define DT_WRITE_MB_S 2.0   /* what a busy server writes */
#define DT_BANDWIDTH 100    /* MIG_SIM_BANDWIDTH_MBPS, the sim's default */
#define DT_POLL_MS 250      /* MIG_POLL_MS, the worker's default, simulated ms */
#define OFFLINE_POLL_MS 5   /* real ms between the offline copier's polls: far below its
                               phases (1 s stop, seconds of copy, 3 s start) */
#define OFFLINE_TOKEN "1"   /* Fencing-Token of the offline copier's agent calls: the sim
                               needs one on every call of a migration, and the copier is
                               the only caller for its "offline-<server>" migrations */

/* promotion: the sample count. */
#define PR_SAMPLES 100
#define PR_NODES 10

/* World sizes: 1, 5 and 20 GB, and the worst case for the budget: the largest world whose
 * first delta (written during the full pass, DT_WRITE_MB_S x size / bandwidth) already
 * fits the budget, less 5% for the speed the worker measures; its final pass takes
 * nearly the whole budget. */
static const long long DT_SIZES_MB[] = {
    1024, 5120, 20480,
    (long long)(0.95 * DT_BUDGET_MS / 1000.0 * DT_BANDWIDTH * DT_BANDWIDTH / DT_WRITE_MB_S)};
#define DT_N 4

/* ------------------------------------------------------------------------ numbers */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of `v` (sorted, n > 0). */
static double pct(const double *v, int n, double p) {
    int k = (int)ceil(p / 100.0 * n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

/* ------------------------------------------------------------------------ fleets */

static cJSON *node_json(int i, long long ram_mb, long long disk_mb) {
    char id[16], name[32], addr[32];
    snprintf(id, sizeof id, "n%d", i);
    snprintf(name, sizeof name, "Node-%d", i);
    snprintf(addr, sizeof addr, "10.0.%d.%d", i / 250, i % 250 + 1);
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "id", id);
    cJSON_AddStringToObject(n, "name", name);
    cJSON_AddStringToObject(n, "address", addr);
    cJSON_AddNumberToObject(n, "eur_hour", 0.30);
    cJSON_AddNumberToObject(n, "ram_total_mb", (double)ram_mb);
    cJSON_AddNumberToObject(n, "disk_total_mb", (double)disk_mb);
    return n;
}

/* A server `id` on node n<node>; `players` named players (their names `id`-p1...). */
static cJSON *server_json(const char *id, int node, long long disk_mb, double write_mb_s, int players) {
    char name[48], nid[16];
    snprintf(name, sizeof name, "Server-%s", id);
    snprintf(nid, sizeof nid, "n%d", node);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "id", id);
    cJSON_AddStringToObject(s, "name", name);
    cJSON_AddStringToObject(s, "node_id", nid);
    cJSON_AddNumberToObject(s, "ram_mb", 2048);
    cJSON_AddNumberToObject(s, "disk_mb", (double)disk_mb);
    cJSON_AddNumberToObject(s, "write_mb_s", write_mb_s);
    cJSON_AddNumberToObject(s, "mean_players", 0); /* no churn: the players are the bench's */
    cJSON *p = cJSON_AddArrayToObject(s, "players");
    for (int i = 1; i <= players; i++) {
        char pn[64];
        snprintf(pn, sizeof pn, "%s-p%d", id, i);
        cJSON_AddItemToArray(p, cJSON_CreateString(pn));
    }
    return s;
}

static char *fleet_text(cJSON *nodes, cJSON *servers) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddItemToObject(f, "nodes", nodes);
    cJSON_AddItemToObject(f, "servers", servers);
    char *t = cJSON_PrintUnformatted(f);
    cJSON_Delete(f);
    if (t == NULL) die("out of memory");
    return t;
}

/* A fleet of `n_nodes` big nodes and `n_servers` small servers spread over them in turn
 * (s<i> on node (i - 1) % n_nodes + 1), each with `players` players: the fleet of the
 * throughput and promotion runs, where s<i> then moves to the next node. */
static char *spread_fleet(int n_nodes, int n_servers, int players) {
    cJSON *nodes = cJSON_CreateArray(), *servers = cJSON_CreateArray();
    for (int i = 1; i <= n_nodes; i++) cJSON_AddItemToArray(nodes, node_json(i, 1000000, 100000000));
    for (int i = 1; i <= n_servers; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        cJSON_AddItemToArray(servers, server_json(id, (i - 1) % n_nodes + 1, 1024, TP_WRITE_MB_S, players));
    }
    return fleet_text(nodes, servers);
}

/* Creates a migration of `server` to `to`; its id into `id`. */
static void create(live_stack_t *s, const char *server, const char *to, bool start_now, char id[MIG_ID_MAX + 1]) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = server;
    c.to_node_id = to;
    c.savings_eur_hour = 0.1;
    c.start_now = start_now;
    c.max_retries = 0; /* a failure shows as one, not as a slower run */
    migration_t m;
    migration_init(&m);
    if (store_create_migration(s->rc, &c, &m) != 0) die("creating a migration of %s: %s", server, s->rc->err);
    snprintf(id, MIG_ID_MAX + 1, "%s", m.id);
    migration_clear(&m);
}

/* ------------------------------------------------------------------------ throughput */

typedef struct {
    int completed, failed;
    double span_s, per_min;
    double run_p50_ms, run_max_ms; /* claim to completed, per migration */
    double passes;                 /* sync passes per migration, from the sim */
    cpu_t cpu;
    double cpu_window_s;           /* wall time over which `cpu` was taken */
    char by_fn[512];               /* Redis time by function, the biggest first; "" unless asked */
    char first_error[256];
} tp_result_t;

/* Redis time of one command or function, summed from the slowlog. */
typedef struct {
    char name[48];
    long long calls, us;
} fn_time_t;

#define SLOWLOG_MAX 4000000 /* entries kept: the functions' inner calls are logged too */

/* Redis time by function over the run, from a SLOWLOG that logged every command
 * (slowlog-log-slower-than 0): top-level calls only (the functions' inner calls, logged
 * with client "?:0", are part of their function's time), FCALLs by the function's name.
 * Writes the `top` biggest as "name calls x usec = share of all" into `out`, and the
 * HMGETs inside functions per migration. */
static void time_by_function(live_stack_t *s, int top, char *out, size_t cap) {
    fn_time_t t[64];
    int n = 0;
    long long all = 0, inner_hmget = 0;
    out[0] = '\0';
    redisReply *r = harness_redis_cmd(&s->redis, "SLOWLOG GET -1");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= SLOWLOG_MAX)
        snprintf(out, cap, "(slowlog full: the earliest calls are missing) ");
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 5 || e->element[3]->type != REDIS_REPLY_ARRAY ||
            e->element[3]->elements < 1)
            continue;
        const redisReply *av = e->element[3];
        const char *name = av->element[0]->str;
        if (e->element[4]->str && strcmp(e->element[4]->str, "?:0") == 0) {
            inner_hmget += strcasecmp(name, "hmget") == 0;
            continue;
        }
        if ((strcasecmp(name, "fcall") == 0 || strcasecmp(name, "fcall_ro") == 0) && av->elements > 1)
            name = av->element[1]->str;
        int k = 0;
        while (k < n && strcmp(t[k].name, name) != 0) k++;
        if (k == n) {
            if (n == 64) continue;
            snprintf(t[n].name, sizeof t[n].name, "%s", name);
            t[n].calls = t[n].us = 0;
            n++;
        }
        t[k].calls++;
        t[k].us += e->element[2]->integer;
        all += e->element[2]->integer;
    }
    if (r) freeReplyObject(r);
    for (int j = 0; j < top && j < n; j++) {
        int best = j;
        for (int k = j + 1; k < n; k++)
            if (t[k].us > t[best].us) best = k;
        fn_time_t x = t[j];
        t[j] = t[best];
        t[best] = x;
        size_t o = strlen(out);
        snprintf(out + o, cap - o, "%s%s %lld x %.0f us = %.0f%%", j ? ", " : "", t[j].name, t[j].calls,
                 (double)t[j].us / (double)t[j].calls, all ? 100.0 * (double)t[j].us / (double)all : 0);
    }
    size_t o = strlen(out);
    snprintf(out + o, cap - o, "; %.0f HMGET inside functions per migration", (double)inner_hmget / TP_SERVERS);
}

/* Every server migrates once, to the next node; the scheduler promotes at once (idle
 * servers, --idle-s=0, limits far above the fleet). `attribute`: Redis logs every
 * command, to say where its time goes (which costs Redis about a third more CPU). */
static void throughput_run(int workers, int concurrency, bool attribute, tp_result_t *r) {
    char *fleet = spread_fleet(TP_NODES, TP_SERVERS, 0);
    const char *sim[] = {"--sim-zero-delays=1", NULL};
    const char *sched[] = {"--max-parallel=100000", "--max-parallel-per-node=100000", NULL};
    char conc[32];
    snprintf(conc, sizeof conc, "--concurrency=%d", concurrency);
    const char *wflags[] = {conc, "--cooldown-s=0", NULL};
    live_stack_t s;
    stack_up(&s, fleet, TP_SERVERS, sim, sched, workers, wflags);
    free(fleet);
    timefmt_sleep_ms(500); /* the workers connect and block on the ready queue */

    static char ids[TP_SERVERS][MIG_ID_MAX + 1];
    if (attribute) {
        freeReplyObject(harness_redis_cmd(&s.redis, "CONFIG SET slowlog-max-len %d", SLOWLOG_MAX));
        freeReplyObject(harness_redis_cmd(&s.redis, "CONFIG SET slowlog-log-slower-than 0"));
        freeReplyObject(harness_redis_cmd(&s.redis, "SLOWLOG RESET"));
    }
    int64_t t0 = timefmt_mono_ms();
    cpu_t c0 = cpu_now(&s);
    for (int i = 1; i <= TP_SERVERS; i++) {
        char sid[16], to[16];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(to, sizeof to, "n%d", i % TP_NODES + 1);
        create(&s, sid, to, false, ids[i - 1]);
    }
    int64_t deadline = timefmt_mono_ms() + TP_TIMEOUT_MS;
    for (;;) {
        store_stats_t st;
        if (store_get_stats(s.rc, &st) != 0) die("stats: %s", s.rc->err);
        long long ended = st.completed_total + st.failed_total;
        store_stats_free(&st);
        if (ended >= TP_SERVERS) break;
        if (timefmt_mono_ms() > deadline) die("%lld of %d migrations ended after %d s", ended, TP_SERVERS,
                                              TP_TIMEOUT_MS / 1000);
        timefmt_sleep_ms(50); /* only for noticing the end: the span comes from the records' stamps */
    }
    cpu_t c1 = cpu_now(&s);
    r->cpu_window_s = (double)(timefmt_mono_ms() - t0) / 1000.0;
    r->by_fn[0] = '\0';
    if (attribute) time_by_function(&s, 4, r->by_fn, sizeof r->by_fn);
    r->cpu = (cpu_t){c1.sim - c0.sim, c1.redis - c0.redis, c1.scheduler - c0.scheduler, c1.workers - c0.workers,
                     c1.bench - c0.bench};

    int64_t first = INT64_MAX, last = 0;
    double run[TP_SERVERS];
    int nrun = 0;
    r->completed = r->failed = 0;
    r->first_error[0] = '\0';
    migration_t m;
    migration_init(&m);
    for (int i = 0; i < TP_SERVERS; i++) {
        get_status(&s, ids[i], &m);
        if (m.created_at < first) first = m.created_at;
        if (m.completed_at > last) last = m.completed_at;
        if (m.status == MIG_COMPLETED) {
            r->completed++;
            run[nrun++] = (double)(m.completed_at - m.started_at);
        } else {
            r->failed++;
            if (!r->first_error[0])
                snprintf(r->first_error, sizeof r->first_error, "%s", m.error_message ? m.error_message : "?");
        }
    }
    migration_clear(&m);
    qsort(run, (size_t)nrun, sizeof run[0], cmp_double);
    r->span_s = (double)(last - first) / 1000.0;
    r->per_min = r->completed / r->span_s * 60.0;
    r->run_p50_ms = nrun ? pct(run, nrun, 50) : -1;
    r->run_max_ms = nrun ? run[nrun - 1] : -1;
    cJSON *state = sim_call(&s, "GET", "/control/state", NULL);
    r->passes = (double)cJSON_GetArraySize(cJSON_GetObjectItem(state, "syncs")) / TP_SERVERS;
    cJSON_Delete(state);
    stack_down(&s, false);
}

static void bench_throughput(int concurrency) {
    static const int counts[] = {1, 2, 4, 4};
    tp_result_t r[4];
    printf("throughput: %d idle servers on %d nodes, each migrated once to the next node; fleet-sim "
           "--sim-zero-delays=1; scheduler --idle-s=0 --max-parallel=100000 --max-parallel-per-node=100000; "
           "MIG_CONCURRENCY %d per worker process; first create to last completed\n",
           TP_SERVERS, TP_NODES, concurrency);
    for (int k = 0; k < 4; k++) {
        /* the last run repeats the biggest with every Redis command logged, for where the
         * time goes; the first three are not slowed by the logging */
        throughput_run(counts[k], concurrency, k == 3, &r[k]);
        const cpu_t *c = &r[k].cpu;
        double total = c->sim + c->redis + c->scheduler + c->workers + c->bench;
        if (k == 3) printf("  again, with every Redis command in the SLOWLOG (Redis CPU about a third higher):\n");
        printf("  %d worker%s (%2d slots): %d/%d completed, %d failed, in %.2f s = %.0f migrations/min"
               " (ratio to 1 worker %.2f); claim to completed p50 %.0f ms, max %.0f ms; %.2f sync passes each\n",
               counts[k], counts[k] == 1 ? " " : "s", counts[k] * concurrency, r[k].completed, TP_SERVERS,
               r[k].failed, r[k].span_s, r[k].per_min, r[k].per_min / r[0].per_min, r[k].run_p50_ms,
               r[k].run_max_ms, r[k].passes);
        printf("      cpu s: fleet-sim %.2f, redis-server %.2f, scheduler %.2f, workers %.2f, bench %.2f;"
               " total %.2f of %.2f on 2 cores (%.0f%%); %.1f ms per migration\n",
               c->sim, c->redis, c->scheduler, c->workers, c->bench, total, 2 * r[k].cpu_window_s,
               100.0 * total / (2 * r[k].cpu_window_s), 1000.0 * total / TP_SERVERS);
        if (r[k].by_fn[0]) printf("      redis-server time by function: %s\n", r[k].by_fn);
        if (r[k].failed) printf("      first failure: %s\n", r[k].first_error);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------ downtime */

/* One offline copy, as hosting panels move a server today: stop it (its players are
 * disconnected), copy the whole world in one pass, start it on the target. */
typedef struct {
    const live_stack_t *s;
    char server[16], from[16], to[16];
    double speed;
    double stop_ms, copy_ms, start_ms, down_ms; /* simulated ms */
    char err[512];
} offline_t;

/* Polls `path` until its `field` is `want` (or, for "done", true); false with o->err
 * set on an error answer. */
static bool offline_wait(offline_t *o, const char *path, const char *field, const char *want) {
    for (;;) {
        cJSON *j = NULL;
        long st = sim_try_fenced(o->s, "GET", path, NULL, OFFLINE_TOKEN, &j);
        const cJSON *v = cJSON_GetObjectItem(j, field), *e = cJSON_GetObjectItem(j, "error");
        bool ok = want ? cJSON_IsString(v) && strcmp(v->valuestring, want) == 0 : cJSON_IsTrue(v);
        bool bad = st != 200 || cJSON_IsString(e);
        if (bad)
            snprintf(o->err, sizeof o->err, "GET %s: %ld %.200s", path, st, cJSON_IsString(e) ? e->valuestring : "");
        cJSON_Delete(j);
        if (ok || bad) return ok;
        timefmt_sleep_ms(OFFLINE_POLL_MS);
    }
}

static bool offline_post(offline_t *o, const char *path, const char *body) {
    long st = sim_try_fenced(o->s, "POST", path, body, OFFLINE_TOKEN, NULL);
    if (st >= 200 && st <= 299) return true;
    snprintf(o->err, sizeof o->err, "POST %s: %ld", path, st);
    return false;
}

static void *offline_main(void *arg) {
    offline_t *o = arg;
    char path[256], body[512], mid[32], sync_id[64];
    snprintf(mid, sizeof mid, "offline-%s", o->server);
    /* The target container first: it only reserves RAM and disk, which a panel would do
     * before taking the server down; the copy needs it. */
    snprintf(path, sizeof path, "/nodes/%s/v1/containers", o->to);
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"migration_id\":\"%s\"}", o->server, mid);
    if (!offline_post(o, path, body)) return NULL;
    int64_t t0 = timefmt_mono_ms();
    snprintf(path, sizeof path, "/nodes/%s/v1/containers/%s/stop", o->from, o->server);
    if (!offline_post(o, path, "{}")) return NULL;
    snprintf(path, sizeof path, "/nodes/%s/v1/containers/%s", o->from, o->server);
    if (!offline_wait(o, path, "state", "stopped")) return NULL;
    int64_t t1 = timefmt_mono_ms();
    snprintf(path, sizeof path, "/nodes/%s/v1/sync", o->to);
    snprintf(body, sizeof body,
             "{\"server_id\":\"%s\",\"migration_id\":\"%s\",\"source_node_id\":\"%s\",\"pass\":1,\"final\":true}",
             o->server, mid, o->from);
    if (!offline_post(o, path, body)) return NULL;
    snprintf(sync_id, sizeof sync_id, "%s.1", mid);
    snprintf(path, sizeof path, "/nodes/%s/v1/sync/%s", o->to, sync_id);
    if (!offline_wait(o, path, "done", NULL)) return NULL;
    int64_t t2 = timefmt_mono_ms();
    snprintf(path, sizeof path, "/nodes/%s/v1/containers/%s/start", o->to, o->server);
    if (!offline_post(o, path, "{}")) return NULL;
    snprintf(path, sizeof path, "/nodes/%s/v1/containers/%s", o->to, o->server);
    if (!offline_wait(o, path, "state", "running")) return NULL;
    int64_t t3 = timefmt_mono_ms();
    o->stop_ms = (double)(t1 - t0) * o->speed;
    o->copy_ms = (double)(t2 - t1) * o->speed;
    o->start_ms = (double)(t3 - t2) * o->speed;
    o->down_ms = (double)(t3 - t0) * o->speed;
    return NULL;
}

/* What the sim knows of a live migration's sync passes into `node`. */
typedef struct {
    int passes;
    double pass1_mb, last_delta_mb, final_mb, final_sim_ms;
} passes_t;

static passes_t live_passes(const cJSON *state, const char *server, const char *node) {
    passes_t p = {0};
    int best = 0;
    const cJSON *sy;
    cJSON_ArrayForEach(sy, cJSON_GetObjectItem(state, "syncs")) {
        const char *sid = cJSON_GetObjectItem(sy, "server_id")->valuestring;
        const char *nid = cJSON_GetObjectItem(sy, "node_id")->valuestring;
        if (strcmp(sid, server) != 0 || strcmp(nid, node) != 0) continue;
        int pass = cJSON_GetObjectItem(sy, "pass")->valueint;
        double mb = cJSON_GetObjectItem(sy, "bytes_total")->valuedouble / MB;
        p.passes++;
        if (pass == 1) p.pass1_mb = mb;
        if (pass > best && pass < 1000) {
            best = pass;
            if (pass > 1) p.last_delta_mb = mb;
        }
        if (pass == 1000) {
            p.final_mb = mb;
            const cJSON *e = cJSON_GetObjectItem(sy, "ended_ms"), *b = cJSON_GetObjectItem(sy, "began_ms");
            p.final_sim_ms = cJSON_IsNumber(e) ? e->valuedouble - b->valuedouble : -1;
        }
    }
    return p;
}

/* Live and offline at once on one sim: live migrations of servers L1..L4 (n1 to n2, n3
 * to n4, ...) and offline copies of O1..O4 (n9 to n10, ...), one of each per world size.
 * A node's bandwidth is shared only by the copies into it, so the moves do not slow each
 * other. */
static void bench_downtime(double speed) {
    cJSON *nodes = cJSON_CreateArray(), *servers = cJSON_CreateArray();
    for (int i = 1; i <= 4 * DT_N; i++) cJSON_AddItemToArray(nodes, node_json(i, 65536, 500000));
    char live_id[DT_N][16], off_id[DT_N][16];
    for (int k = 0; k < DT_N; k++) {
        snprintf(live_id[k], sizeof live_id[k], "L%d", k + 1);
        snprintf(off_id[k], sizeof off_id[k], "O%d", k + 1);
        cJSON_AddItemToArray(servers, server_json(live_id[k], 2 * k + 1, DT_SIZES_MB[k], DT_WRITE_MB_S, 3));
        cJSON_AddItemToArray(servers, server_json(off_id[k], 2 * (DT_N + k) + 1, DT_SIZES_MB[k], DT_WRITE_MB_S, 3));
    }
    char *fleet = fleet_text(nodes, servers);
    /* The worker's budget and poll interval are real ms: at speed S they are the
     * simulated figures divided by S, so the plan compares like with like. */
    char spd[48], bw[48], budget[48], poll[48];
    snprintf(spd, sizeof spd, "--sim-speed=%g", speed);
    snprintf(bw, sizeof bw, "--sim-bandwidth-mbps=%d", DT_BANDWIDTH);
    snprintf(budget, sizeof budget, "--downtime-budget-ms=%lld", llround(DT_BUDGET_MS / speed));
    snprintf(poll, sizeof poll, "--poll-ms=%lld", llround(DT_POLL_MS / speed) > 0 ? llround(DT_POLL_MS / speed) : 1);
    const char *sim[] = {spd, bw, NULL};
    char conc[32];
    snprintf(conc, sizeof conc, "--concurrency=%d", DT_N);
    const char *wflags[] = {conc, "--cooldown-s=0", budget, poll, NULL};
    live_stack_t s;
    stack_up(&s, fleet, 2 * DT_N, sim, NULL, 1, wflags);
    free(fleet);
    printf("downtime: fleet-sim --sim-speed=%g (figures in simulated ms = real ms x %g) --sim-bandwidth-mbps=%d; "
           "worlds of 1, 5, 20 and %.1f GB (the worst case for the budget) writing %.0f MB/s with 3 players "
           "online; worker %s %s (%d and %d simulated ms); the live and offline moves run at once on separate "
           "nodes\n", speed, speed, DT_BANDWIDTH, DT_SIZES_MB[DT_N - 1] / 1024.0, DT_WRITE_MB_S, budget, poll,
           DT_BUDGET_MS, DT_POLL_MS);
    fflush(stdout);

    char mid[DT_N][MIG_ID_MAX + 1];
    offline_t off[DT_N];
    pthread_t th[DT_N];
    for (int k = 0; k < DT_N; k++) {
        char to[16];
        snprintf(to, sizeof to, "n%d", 2 * k + 2);
        create(&s, live_id[k], to, true, mid[k]); /* players are online: an operator's "start now" */
        off[k] = (offline_t){.s = &s, .speed = speed, .down_ms = -1};
        snprintf(off[k].server, sizeof off[k].server, "%s", off_id[k]);
        snprintf(off[k].from, sizeof off[k].from, "n%d", 2 * (DT_N + k) + 1);
        snprintf(off[k].to, sizeof off[k].to, "n%d", 2 * (DT_N + k) + 2);
        if (pthread_create(&th[k], NULL, offline_main, &off[k]) != 0) die("cannot start a thread");
    }
    /* the biggest world's first pass alone is its size / bandwidth of simulated time */
    long long biggest = 0;
    for (int k = 0; k < DT_N; k++) biggest = DT_SIZES_MB[k] > biggest ? DT_SIZES_MB[k] : biggest;
    int64_t deadline = timefmt_mono_ms() + (int64_t)(3.0 * (double)biggest / DT_BANDWIDTH * 1000 / speed) + 60000;
    migration_t m[DT_N];
    for (int k = 0; k < DT_N; k++) {
        migration_init(&m[k]);
        while (!states_terminal(get_status(&s, mid[k], &m[k]))) {
            if (timefmt_mono_ms() > deadline)
                die("the live migration of %s is still %s", live_id[k], states_name(m[k].status));
            timefmt_sleep_ms(100);
        }
    }
    for (int k = 0; k < DT_N; k++) pthread_join(th[k], NULL);
    cJSON *state = sim_call(&s, "GET", "/control/state", NULL);
    printf("  world   live: status  downtime ms  ratio to budget  passes (1st MB, last delta MB, final MB in sim ms)"
           "  players on target | offline: downtime ms (stop + copy + start)  | offline/live\n");
    for (int k = 0; k < DT_N; k++) {
        passes_t p = live_passes(state, live_id[k], m[k].to_node_id ? m[k].to_node_id : "?");
        char to[16];
        snprintf(to, sizeof to, "n%d", 2 * k + 2);
        const cJSON *ct = NULL, *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(state, "containers")) {
            if (strcmp(cJSON_GetObjectItem(c, "server_id")->valuestring, live_id[k]) == 0 &&
                strcmp(cJSON_GetObjectItem(c, "node_id")->valuestring, to) == 0)
                ct = c;
        }
        double live_ms = m[k].player_downtime_ms >= 0 ? (double)m[k].player_downtime_ms * speed : -1;
        printf("  %4.1f GB  %-9s  %10.0f  %15.2f  %d (%.0f, %.1f, %.1f in %.0f ms)  %d/3 |",
               DT_SIZES_MB[k] / 1024.0, states_name(m[k].status), live_ms, live_ms / DT_BUDGET_MS, p.passes,
               p.pass1_mb, p.last_delta_mb, p.final_mb, p.final_sim_ms,
               ct ? cJSON_GetObjectItem(ct, "players")->valueint : -1);
        if (off[k].err[0]) printf(" offline failed: %s\n", off[k].err);
        else
            printf(" %10.0f (%.0f + %.0f + %.0f) | %.0f\n", off[k].down_ms, off[k].stop_ms, off[k].copy_ms,
                   off[k].start_ms, live_ms > 0 ? off[k].down_ms / live_ms : -1);
        if (m[k].status != MIG_COMPLETED)
            printf("      live failed: %s\n", m[k].error_message ? m[k].error_message : "?");
        migration_clear(&m[k]);
    }
    cJSON_Delete(state);
    fflush(stdout);
    stack_down(&s, false);
}

/* ------------------------------------------------------------------------ promotion */

/* Prints `label` and p50, p99 and max of the PR_SAMPLES values of `v` (sorted here). */
static void print_dist(const char *label, double *v) {
    qsort(v, PR_SAMPLES, sizeof v[0], cmp_double);
    printf("%-44s p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms\n", label, pct(v, PR_SAMPLES, 50),
           pct(v, PR_SAMPLES, 99), v[PR_SAMPLES - 1]);
}

/* PR_SAMPLES servers with one player each, each with a scheduled migration held back by
 * "1 player online"; one server at a time loses its player, and the time from that call
 * to the migration's claim (started_at, stamped by Redis) is one sample. The next sample
 * begins once the previous migration completed, so samples do not queue behind each
 * other. */
static void bench_promotion(void) {
    char *fleet = spread_fleet(PR_NODES, PR_SAMPLES, 1);
    const char *sim[] = {"--sim-zero-delays=1", NULL};
    const char *sched[] = {"--max-parallel=100000", "--max-parallel-per-node=100000", NULL};
    const char *wflags[] = {"--cooldown-s=0", NULL};
    live_stack_t s;
    stack_up(&s, fleet, PR_SAMPLES, sim, sched, 1, wflags);
    free(fleet);

    static char ids[PR_SAMPLES][MIG_ID_MAX + 1];
    for (int i = 1; i <= PR_SAMPLES; i++) {
        char sid[16], to[16];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(to, sizeof to, "n%d", i % PR_NODES + 1);
        create(&s, sid, to, false, ids[i - 1]);
    }
    /* every migration held back for its player before the first sample */
    migration_t m;
    migration_init(&m);
    for (int i = 0; i < PR_SAMPLES; i++) {
        for (int waited = 0;; waited += 20) {
            get_status(&s, ids[i], &m);
            if (m.status == MIG_SCHEDULED && m.blocked_reason && strstr(m.blocked_reason, "online")) break;
            if (waited > 20000)
                die("migration %d is %s (%s), not held for its player", i + 1, states_name(m.status),
                    m.blocked_reason ? m.blocked_reason : "no reason");
            timefmt_sleep_ms(20);
        }
    }

    double total[PR_SAMPLES], sim_part[PR_SAMPLES], plane[PR_SAMPLES], from_idle[PR_SAMPLES];
    for (int i = 0; i < PR_SAMPLES; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"server_id\":\"s%d\",\"count\":0}", i + 1);
        int64_t t_post = timefmt_now_ms();
        cJSON_Delete(sim_call(&s, "POST", "/control/players", body)); /* answers once Redis holds it */
        int64_t t_held = timefmt_now_ms();
        int64_t deadline = timefmt_mono_ms() + 30000;
        while (get_status(&s, ids[i], &m) == MIG_SCHEDULED) {
            if (timefmt_mono_ms() > deadline)
                die("sample %d: still scheduled 30 s after idle (%s)", i + 1, m.blocked_reason ? m.blocked_reason : "");
            timefmt_sleep_ms(2);
        }
        int64_t started = m.started_at;
        server_t srv;
        inventory_server_init(&srv);
        char sid[16];
        snprintf(sid, sizeof sid, "s%d", i + 1);
        if (store_get_server(s.rc, sid, &srv) != 0) die("server %s: %s", sid, s.rc->err);
        total[i] = (double)(started - t_post);
        sim_part[i] = (double)(t_held - t_post);
        plane[i] = (double)(started - t_held);
        from_idle[i] = (double)(started - srv.idle_since);
        inventory_server_clear(&srv);
        while (!states_terminal(get_status(&s, ids[i], &m))) {
            if (timefmt_mono_ms() > deadline) die("sample %d: still %s after 30 s", i + 1, states_name(m.status));
            timefmt_sleep_ms(5);
        }
        if (m.status != MIG_COMPLETED)
            die("sample %d ended %s: %s", i + 1, states_name(m.status), m.error_message ? m.error_message : "?");
    }
    migration_clear(&m);
    cpu_t c = cpu_now(&s);
    stack_down(&s, false);
    printf("promotion: %d migrations held back by 1 player online, their servers made idle one at a time "
           "(POST /control/players count 0); scheduler --idle-s=0 and default --tick-ms, 1 worker; "
           "fleet-sim --sim-zero-delays=1\n", PR_SAMPLES);
    /* the parts are distributions of their own, not additive: the claim may even come
     * before the sim's answer reaches the bench */
    print_dist("  POST sent to claimed (started_at):", total); /* sorts it */
    print_dist("    POST sent to answered (Redis holds it):", sim_part);
    print_dist("    POST answered to claimed:", plane);
    print_dist("  idle_since (the sim's stamp) to claimed:", from_idle);
    printf("  ratio of p99 to the target (under 1000 ms): %.3f\n", pct(total, PR_SAMPLES, 99) / 1000.0);
    printf("  cpu s over the whole run: fleet-sim %.2f, redis-server %.2f, scheduler %.2f, worker %.2f\n", c.sim,
           c.redis, c.scheduler, c.workers);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    /* the optional number: the sim's speed for downtime, MIG_CONCURRENCY for throughput */
    double speed = argc > 2 && strcmp(what, "downtime") == 0 ? atof(argv[2]) : 1.0;
    int concurrency = argc > 2 && strcmp(what, "throughput") == 0 ? atoi(argv[2]) : TP_CONCURRENCY;
    bool all = strcmp(what, "all") == 0;
    if ((!all && strcmp(what, "throughput") != 0 && strcmp(what, "downtime") != 0 && strcmp(what, "promotion") != 0) ||
        speed <= 0 || concurrency < 1 || concurrency > 256) {
        fprintf(stderr, "usage: live [throughput [MIG_CONCURRENCY, default %d] | downtime [sim-speed, default 1] |"
                        " promotion | all]\n", TP_CONCURRENCY);
        return 2;
    }
    log_init("bench", LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (all || strcmp(what, "throughput") == 0) bench_throughput(concurrency);
    if (all || strcmp(what, "promotion") == 0) bench_promotion();
    if (all || strcmp(what, "downtime") == 0) bench_downtime(speed);
    curl_global_cleanup();
    return 0;
}
