/* recovery.c - how long the control plane takes to recover from each fault, with the real
 * programs as processes (bin/fleet-sim, bin/migrate-scheduler, two bin/migrate-worker)
 * against a private redis-server, once with the workers' default lease (MIG_LEASE_MS
 * 15000) and once with a short one (1500 ms), the scheduler's tick at its default
 * (MIG_TICK_MS 1000) throughout.
 *
 *   kill -9 of a worker    the sim holds the worker inside a known call (a `hold` fault:
 *                          POST /v1/containers/{x}/quiesce on the source node, in
 *                          transferring; POST /v1/containers/{x}/stop, in completing); the
 *                          worker holding the migration is killed. From the kill to
 *                          (a) recovered: the "worker lost" progress event of mig_recover,
 *                          stamped by Redis (its stream id); (b) claimed by the other
 *                          worker: its migration.recovery_started log line; (c) ended: the
 *                          record's completed_at (rolled back and retried, or finished).
 *                          Also the lease the worker had left at the kill (its record's
 *                          lease_expires_at): (a) is that plus up to a scheduler tick.
 *   SIGSTOP of a worker    the same, the worker paused instead; once the other worker has
 *                          ended the migration, the held call is let through and the
 *                          worker resumed (SIGCONT): the sim must refuse that call
 *                          (state.fencing.<id>.refused.<old token>) and accept no call of
 *                          the old token after it; the time from SIGCONT to the worker's
 *                          worker.lease_lost line.
 *   kill -9 of the         held in transferring as above, the worker and the only scheduler
 *   scheduler              killed together and a new scheduler started at once: from the
 *                          kill to the new one leading (its scheduler.leading line), and
 *                          (a), (b), (c).
 *   kill -9 of Redis       append-only file on, --appendfsync always; killed while a
 *                          migration's full sync pass runs, started again on its data at
 *                          once. From the restart (redis-server started) to: Redis answering
 *                          PING, the worker's next progress write (the migration's first
 *                          progress event after it), a new migration created then promoted
 *                          and claimed (its started_at), and the in-flight migration's end.
 *
 * Times are Unix ms of one machine's clock: Redis's (TIME, stream ids, record stamps), the
 * programs' log stamps and the bench's timefmt_now_ms() all read CLOCK_REALTIME. Each
 * trial runs on a fresh stack; each figure per trial, then the median.
 *
 *   build/rel/bench/recovery [trials, default 3]
 *
 * The programs come from $MIG_BIN_DIR (default bin/, the release build: `make all`).
 * Every process started here is stopped by its PID (bench/live_stack.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "bench/live_stack.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "tests/support/redis_harness.h"

#define TRIALS_DEFAULT 3
#define TRIALS_MAX 50
#define LEASE_DEFAULT_MS 15000 /* MIG_LEASE_MS's default (worker/main.c): what a fleet runs */
#define LEASE_SHORT_MS 1500    /* a tenth, for comparison: what the lease alone costs */
#define TICK_MS 1000           /* MIG_TICK_MS's default (scheduler/main.c); not passed, printed */
#define LEADER_TTL_MS 5000     /* MIG_LEADER_TTL_MS's default: a new scheduler waits it out */

#define SIM_SPEED "10"   /* the sim's delays a tenth (container start 300 ms, stop 100 ms, 1 GB
                            copied in 1 s): the faults' times are the lease's and the tick's,
                            which run in real time; only the re-runs are shortened */
#define WORLD_MB 1024    /* the world of the worker and scheduler trials: a migration runs in
                            about 2 s, so (c) is mostly the recovery */
#define REDIS_WORLD_MB 8192 /* the Redis trial's world: its full pass takes 8 s, long enough
                               to kill Redis inside it and see the pass go on after */
#define REDIS_KILL_PROGRESS 10 /* percent of that pass done when Redis is killed */
#define WRITE_MB_S 0.5   /* a server with players writes */
#define PLAYERS 2        /* online: the transfer moves them, a rollback moves them back */
#define HOLD_BACKSTOP_MS 600000 /* a held call is served after this anyway: far past a trial */
#define POLL_MS 20       /* the bench's polls of the record; the figures do not depend on it */
#define TRIAL_TIMEOUT_MS 180000 /* a trial that has not ended by then is reported as stuck */
#define CONT_WAIT_MS 2000 /* after the resumed worker said it lost its lease: time for any
                             call it would still make to reach the sim */

static const char *const REDIS_AOF[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

/* ------------------------------------------------------------------------ helpers */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of the `n` values of `v` that are >= 0 (copied, not sorted in place); -1
 * when none is. */
static double median(const double *v, int n) {
    double c[TRIALS_MAX];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (v[i] >= 0) c[k++] = v[i];
    if (k == 0) return -1;
    qsort(c, (size_t)k, sizeof c[0], cmp_double);
    return k % 2 ? c[k / 2] : (c[k / 2 - 1] + c[k / 2]) / 2;
}

/* The fleet: nodes n1..n4; s1 on n1 with the trial's world and PLAYERS players, and s2 on
 * n3, idle, for the Redis trial's new migration. Returns a JSON text the caller frees. */
static char *fleet_text(long long world_mb) {
    cJSON *f = cJSON_CreateObject(), *nodes = cJSON_AddArrayToObject(f, "nodes"),
          *servers = cJSON_AddArrayToObject(f, "servers");
    for (int i = 1; i <= 4; i++) {
        char id[8], name[16], addr[16];
        snprintf(id, sizeof id, "n%d", i);
        snprintf(name, sizeof name, "Node-%d", i);
        snprintf(addr, sizeof addr, "10.0.0.%d", i);
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "id", id);
        cJSON_AddStringToObject(n, "name", name);
        cJSON_AddStringToObject(n, "address", addr);
        cJSON_AddNumberToObject(n, "eur_hour", 0.30);
        cJSON_AddNumberToObject(n, "ram_total_mb", 65536);
        cJSON_AddNumberToObject(n, "disk_total_mb", 500000);
        cJSON_AddItemToArray(nodes, n);
    }
    for (int i = 1; i <= 2; i++) {
        char id[8], name[16], node[8];
        snprintf(id, sizeof id, "s%d", i);
        snprintf(name, sizeof name, "Server-%d", i);
        snprintf(node, sizeof node, "n%d", 2 * i - 1);
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "id", id);
        cJSON_AddStringToObject(s, "name", name);
        cJSON_AddStringToObject(s, "node_id", node);
        cJSON_AddNumberToObject(s, "ram_mb", 2048);
        cJSON_AddNumberToObject(s, "disk_mb", i == 1 ? (double)world_mb : 256);
        cJSON_AddNumberToObject(s, "write_mb_s", i == 1 ? WRITE_MB_S : 0);
        cJSON_AddNumberToObject(s, "mean_players", 0); /* no churn */
        cJSON_AddNumberToObject(s, "players", i == 1 ? PLAYERS : 0);
        cJSON_AddItemToArray(servers, s);
    }
    char *t = cJSON_PrintUnformatted(f);
    cJSON_Delete(f);
    if (t == NULL) die("out of memory");
    return t;
}

/* Starts a fresh stack for one trial: two workers with lease `lease_ms`. */
static void trial_up(live_stack_t *s, int lease_ms, long long world_mb, const char *const *redis_flags) {
    static char lease[40];
    snprintf(lease, sizeof lease, "--lease-ms=%d", lease_ms);
    /* no wait before a retry: MIG_RETRY_BACKOFF_MS (30 s) would only add itself to (c) */
    static const char *wflags[] = {lease, "--cooldown-s=0", "--retry-backoff-ms=0", NULL};
    static const char *sim[] = {"--sim-speed=" SIM_SPEED, NULL};
    char *fleet = fleet_text(world_mb);
    stack_opts_t o = {.fleet = fleet, .servers = 2, .redis_flags = redis_flags, .sim_flags = sim,
                      .workers = 2, .worker_flags = wflags};
    stack_up_with(s, &o);
    free(fleet);
}

/* Reads migration `id` into `m`, trying again while Redis is away (after its restart the
 * bench's connection is dropped on the first call and made again on the next). */
static void read_mig(live_stack_t *s, const char *id, migration_t *m) {
    for (int waited = 0; store_get_migration(s->rc, id, m) != 0; waited += POLL_MS) {
        if (waited > 30000) die("reading migration %s: %s", id, s->rc->err);
        timefmt_sleep_ms(POLL_MS);
    }
}

/* Creates a migration of `server` to `to` (max_retries at its default, so that a rollback
 * is retried); its id into `id`. Tries again while Redis is away. */
static void create(live_stack_t *s, const char *server, const char *to, bool start_now, char id[MIG_ID_MAX + 1]) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = server;
    c.to_node_id = to;
    c.savings_eur_hour = 0.1;
    c.start_now = start_now;
    migration_t m;
    migration_init(&m);
    for (int waited = 0; store_create_migration(s->rc, &c, &m) != 0; waited += POLL_MS) {
        if (waited > 30000) die("creating a migration of %s: %s", server, s->rc->err);
        timefmt_sleep_ms(POLL_MS);
    }
    snprintf(id, MIG_ID_MAX + 1, "%s", m.id);
    migration_clear(&m);
}

/* Waits until migration `id` has ended; its record into `m` (the caller clears it). */
static void wait_end(live_stack_t *s, const char *id, migration_t *m) {
    int64_t deadline = timefmt_mono_ms() + TRIAL_TIMEOUT_MS;
    for (;;) {
        read_mig(s, id, m);
        if (states_terminal(m->status)) return;
        if (timefmt_mono_ms() > deadline)
            die("migration %s is still %s (%s) after %d s", id, states_name(m->status),
                m->progress_message ? m->progress_message : "", TRIAL_TIMEOUT_MS / 1000);
        timefmt_sleep_ms(POLL_MS);
    }
}

/* Sets a `hold` rule on `call` of node `node` for the next call only; returns its id. */
static int hold(live_stack_t *s, const char *node, const char *call) {
    char body[256];
    snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"hold\",\"times\":1,\"delay_ms\":%d}",
             node, call, HOLD_BACKSTOP_MS);
    cJSON *r = sim_call(s, "POST", "/control/faults", body);
    const cJSON *id = cJSON_GetObjectItem(r, "id");
    if (!cJSON_IsNumber(id)) die("POST /control/faults answered no id");
    int v = id->valueint;
    cJSON_Delete(r);
    return v;
}

/* Waits until rule `fault` holds a call. */
static void wait_held(live_stack_t *s, int fault) {
    int64_t deadline = timefmt_mono_ms() + 60000;
    for (;;) {
        cJSON *st = sim_call(s, "GET", "/control/state", NULL);
        const cJSON *h;
        bool found = false;
        cJSON_ArrayForEach(h, cJSON_GetObjectItem(st, "held")) {
            const cJSON *f = cJSON_GetObjectItem(h, "fault_id");
            if (cJSON_IsNumber(f) && f->valueint == fault) found = true;
        }
        cJSON_Delete(st);
        if (found) return;
        if (timefmt_mono_ms() > deadline) die("no call held by fault %d after 60 s", fault);
        timefmt_sleep_ms(5); /* the worker waits in the call: the sooner seen, the less it matters */
    }
}

/* Lets the calls held by rule `fault` through. */
static void release(live_stack_t *s, int fault) {
    char path[64];
    snprintf(path, sizeof path, "/control/faults/%d", fault);
    cJSON_Delete(sim_call(s, "DELETE", path, NULL));
}

/* Calls of migration `id` with fencing token `token` the sim has counted as `kind`
 * ("accepted" or "refused"). */
static int fenced(live_stack_t *s, const char *id, uint64_t token, const char *kind) {
    char tok[24];
    snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
    cJSON *st = sim_call(s, "GET", "/control/state", NULL);
    const cJSON *n = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "fencing"), id), kind), tok);
    int v = cJSON_IsNumber(n) ? n->valueint : 0;
    cJSON_Delete(st);
    return v;
}

/* The Redis time (its stream id's ms) of the first event of migration `id` of `type`
 * whose message holds `holds` (any when NULL), at or after `since` (Unix ms); -1 when
 * there is none. */
static int64_t event_ms(live_stack_t *s, const char *id, const char *type, const char *holds, int64_t since) {
    redisReply *r = harness_redis_cmd(&s->redis, "XRANGE mig:events %lld +", (long long)since);
    int64_t at = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && at < 0; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY ||
            e->element[1]->elements < 2)
            continue;
        cJSON *ev = cJSON_Parse(e->element[1]->element[1]->str);
        const cJSON *t = cJSON_GetObjectItem(ev, "type"), *mid = cJSON_GetObjectItem(ev, "migration_id"),
                    *msg = cJSON_GetObjectItem(ev, "message");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0 && cJSON_IsString(mid) &&
            strcmp(mid->valuestring, id) == 0 &&
            (holds == NULL || (cJSON_IsString(msg) && strstr(msg->valuestring, holds))))
            at = strtoll(e->element[0]->str, NULL, 10); /* "<ms>-<seq>" */
        cJSON_Delete(ev);
    }
    if (r) freeReplyObject(r);
    return at;
}

/* The time (its "ts") of the first line of <logs>/<log> with event `event` and, unless
 * NULL, naming `id`; -1 when there is none. */
static int64_t log_ms(const live_stack_t *s, const char *log, const char *event, const char *id) {
    char path[320], want[128], line[4096];
    snprintf(path, sizeof path, "%s/%s", s->logs, log);
    snprintf(want, sizeof want, "\"event\":\"%s\"", event);
    FILE *f = fopen(path, "r");
    int64_t at = -1;
    while (f && at < 0 && fgets(line, sizeof line, f)) {
        if (strstr(line, want) == NULL || (id && strstr(line, id) == NULL)) continue;
        const char *ts = strstr(line, "\"ts\":\"");
        char t[TIMEFMT_RFC3339_LEN + 1];
        if (ts == NULL) continue;
        snprintf(t, sizeof t, "%s", ts + 6);
        if (timefmt_parse_rfc3339(t, &at) != 0) at = -1;
    }
    if (f) fclose(f);
    return at;
}

/* Waits up to `ms` for log_ms() to find the line; -1 when it did not come. */
static int64_t wait_log(const live_stack_t *s, const char *log, const char *event, const char *id, int ms) {
    int64_t at;
    for (int waited = 0; (at = log_ms(s, log, event, id)) < 0 && waited < ms; waited += POLL_MS) timefmt_sleep_ms(POLL_MS);
    return at;
}

/* The index of the worker that holds migration `id` now, from its lease_owner "w<i>";
 * its fencing token into *token and its lease's expiry (Unix ms) into *expires. */
static int owner(live_stack_t *s, const char *id, uint64_t *token, int64_t *expires) {
    migration_t m;
    migration_init(&m);
    read_mig(s, id, &m);
    int w = m.lease_owner && m.lease_owner[0] == 'w' ? atoi(m.lease_owner + 1) : -1;
    *token = m.lease_token;
    *expires = m.lease_expires_at;
    migration_clear(&m);
    if (w < 0 || w >= s->nworkers) die("migration %s has no worker of ours holding it", id);
    return w;
}

/* Kills process *pid with SIGKILL and reaps it. */
static void kill9(pid_t *pid) {
    kill(*pid, SIGKILL);
    harness_wait(*pid, 10000);
    *pid = 0;
}

/* ------------------------------------------------------------------------ trials */

typedef enum { FAULT_KILL, FAULT_STOP, FAULT_SCHEDULER } fault_t;

/* One trial of a worker or scheduler fault: ms from the fault to each mark, -1 when a mark
 * did not happen. */
typedef struct {
    double lease_left; /* the fault to the lease's expiry as the record had it then */
    double recovered, claimed, ended, leading; /* leading: the new scheduler's, FAULT_SCHEDULER */
    double lease_lost;    /* FAULT_STOP: SIGCONT to the resumed worker's worker.lease_lost */
    int refused;          /* FAULT_STOP: the held call of the old token refused (1) or not (0) */
    int accepted_after;   /* FAULT_STOP: calls of the old token accepted after the release */
    int retries;          /* the record's retry_count at its end */
    char status[16];
    char warning[96];     /* the record's warning at its end, "" when none */
} trial_t;

/* A migration of s1 from n1 to n2 is held inside `call` on n1; then `fault`. */
static trial_t fault_trial(int lease_ms, fault_t fault, const char *call) {
    live_stack_t s;
    trial_up(&s, lease_ms, WORLD_MB, NULL);
    trial_t r = {-1, -1, -1, -1, -1, -1, -1, -1, 0, "", ""};
    int rule = hold(&s, "n1", call);
    char id[MIG_ID_MAX + 1], wlog[32];
    create(&s, "s1", "n2", true, id); /* players online: an operator's "start now" */
    wait_held(&s, rule);
    uint64_t token;
    int64_t expires;
    int w = owner(&s, id, &token, &expires);
    snprintf(wlog, sizeof wlog, "worker-%d.log", 1 - w); /* the other one recovers it */

    int64_t t0 = timefmt_now_ms();
    r.lease_left = (double)(expires - t0);
    if (fault == FAULT_STOP) {
        kill(s.workers[w], SIGSTOP);
    } else {
        kill9(&s.workers[w]);
    }
    if (fault == FAULT_SCHEDULER) {
        kill9(&s.scheduler);
        const char *args[] = {"--idle-s=0", NULL};
        s.scheduler = stack_spawn(&s, "migrate-scheduler", "scheduler-2.log", args);
    }

    migration_t m;
    migration_init(&m);
    wait_end(&s, id, &m);
    int64_t rec = event_ms(&s, id, "migration.progress", "worker lost", t0);
    int64_t claim = log_ms(&s, wlog, "migration.recovery_started", id);
    r.recovered = rec >= 0 ? (double)(rec - t0) : -1;
    r.claimed = claim >= 0 ? (double)(claim - t0) : -1;
    r.ended = m.completed_at > 0 ? (double)(m.completed_at - t0) : -1;
    r.retries = m.retry_count;
    snprintf(r.status, sizeof r.status, "%s", states_name(m.status));
    snprintf(r.warning, sizeof r.warning, "%s", m.warning ? m.warning : "");
    migration_clear(&m);
    if (fault == FAULT_SCHEDULER) {
        int64_t lead = log_ms(&s, "scheduler-2.log", "scheduler.leading", NULL);
        r.leading = lead >= 0 ? (double)(lead - t0) : -1;
    }

    if (fault == FAULT_STOP) {
        /* the other worker has ended the migration: let the paused worker's call through,
         * then the worker itself */
        int accepted = fenced(&s, id, token, "accepted"), refused = fenced(&s, id, token, "refused");
        release(&s, rule);
        for (int waited = 0; waited < 10000 && fenced(&s, id, token, "refused") == refused; waited += POLL_MS)
            timefmt_sleep_ms(POLL_MS);
        r.refused = fenced(&s, id, token, "refused") > refused;
        int64_t cont = timefmt_now_ms();
        kill(s.workers[w], SIGCONT);
        char plog[32];
        snprintf(plog, sizeof plog, "worker-%d.log", w);
        int64_t lost = wait_log(&s, plog, "worker.lease_lost", id, 30000);
        r.lease_lost = lost >= 0 ? (double)(lost - cont) : -1;
        timefmt_sleep_ms(CONT_WAIT_MS);
        r.accepted_after = fenced(&s, id, token, "accepted") - accepted;
    } else {
        release(&s, rule);
    }
    stack_down(&s, false);
    return r;
}

/* One trial of a Redis kill: ms from the restart to each mark, -1 when it did not happen. */
typedef struct {
    double answered, created, progress, promoted, ended;
    int retries;
    char status[16];
} redis_trial_t;

static redis_trial_t redis_trial(int lease_ms) {
    live_stack_t s;
    trial_up(&s, lease_ms, REDIS_WORLD_MB, REDIS_AOF);
    redis_trial_t r = {-1, -1, -1, -1, -1, 0, ""};
    char id[MIG_ID_MAX + 1], id2[MIG_ID_MAX + 1];
    create(&s, "s1", "n2", true, id);
    migration_t m;
    migration_init(&m);
    for (int64_t deadline = timefmt_mono_ms() + 60000;;) {
        read_mig(&s, id, &m);
        if (m.phase_step && strcmp(m.phase_step, "prepare.sync") == 0 && m.data_sync_progress >= REDIS_KILL_PROGRESS)
            break;
        if (states_terminal(m.status) || timefmt_mono_ms() > deadline)
            die("migration %s is %s at %s, not in its full sync", id, states_name(m.status),
                m.phase_step ? m.phase_step : "no step");
        timefmt_sleep_ms(POLL_MS);
    }
    migration_clear(&m);

    kill9(&s.redis.pid);
    int64_t t0 = timefmt_now_ms();
    stack_redis_restart(&s);
    r.answered = (double)(timefmt_now_ms() - t0);
    create(&s, "s2", "n4", false, id2); /* idle: the scheduler promotes it on its own */
    r.created = (double)(timefmt_now_ms() - t0);

    migration_init(&m);
    wait_end(&s, id, &m);
    int64_t prog = event_ms(&s, id, "migration.progress", NULL, t0);
    r.progress = prog >= 0 ? (double)(prog - t0) : -1;
    r.ended = m.completed_at > 0 ? (double)(m.completed_at - t0) : -1;
    r.retries = m.retry_count;
    snprintf(r.status, sizeof r.status, "%s", states_name(m.status));
    migration_clear(&m);
    migration_init(&m);
    wait_end(&s, id2, &m);
    r.promoted = m.started_at > 0 ? (double)(m.started_at - t0) : -1;
    migration_clear(&m);
    stack_down(&s, false);
    return r;
}

/* ------------------------------------------------------------------------ report */

static void print_ms(const char *label, double v) {
    if (v >= 0) printf("  %s %6.0f", label, v);
    else printf("  %s      -", label);
}

/* Runs `trials` trials of `fault` held in `call` and prints them and their medians. */
static void run_fault(int lease_ms, int trials, fault_t fault, const char *call, const char *title) {
    trial_t t[TRIALS_MAX];
    double left[TRIALS_MAX], rec[TRIALS_MAX], claim[TRIALS_MAX], end[TRIALS_MAX], lead[TRIALS_MAX],
        lost[TRIALS_MAX];
    printf("  %s; ms from the %s to\n", title, fault == FAULT_STOP ? "SIGSTOP" : "kill");
    for (int i = 0; i < trials; i++) {
        t[i] = fault_trial(lease_ms, fault, call);
        left[i] = t[i].lease_left;
        rec[i] = t[i].recovered;
        claim[i] = t[i].claimed;
        end[i] = t[i].ended;
        lead[i] = t[i].leading;
        lost[i] = t[i].lease_lost;
        printf("    trial %d:", i + 1);
        print_ms("lease left", left[i]);
        if (fault == FAULT_SCHEDULER) print_ms("new scheduler leading", lead[i]);
        print_ms("recovered", rec[i]);
        print_ms("claimed by the other worker", claim[i]);
        print_ms("ended", end[i]);
        printf("  (%s, %d retr%s%s%s)", t[i].status, t[i].retries, t[i].retries == 1 ? "y" : "ies",
               t[i].warning[0] ? ", warning: " : "", t[i].warning);
        if (fault == FAULT_STOP)
            printf("; held call %s, %d accepted after; SIGCONT to worker.lease_lost %.0f ms",
                   t[i].refused ? "refused" : "NOT refused", t[i].accepted_after, lost[i]);
        printf("\n");
        fflush(stdout);
    }
    printf("    median: ");
    print_ms("lease left", median(left, trials));
    if (fault == FAULT_SCHEDULER) print_ms("new scheduler leading", median(lead, trials));
    print_ms("recovered", median(rec, trials));
    print_ms("claimed by the other worker", median(claim, trials));
    print_ms("ended", median(end, trials));
    if (fault == FAULT_STOP) printf("; SIGCONT to worker.lease_lost %.0f", median(lost, trials));
    printf("\n");
    fflush(stdout);
}

static void run_redis(int lease_ms, int trials) {
    double ans[TRIALS_MAX], cre[TRIALS_MAX], prog[TRIALS_MAX], prom[TRIALS_MAX], end[TRIALS_MAX];
    printf("  kill -9 of redis-server (--appendonly yes --appendfsync always) %d%% into an %d GB full sync "
           "pass, started again on its data at once; ms from the restart to\n",
           REDIS_KILL_PROGRESS, REDIS_WORLD_MB / 1024);
    for (int i = 0; i < trials; i++) {
        redis_trial_t r = redis_trial(lease_ms);
        ans[i] = r.answered;
        cre[i] = r.created;
        prog[i] = r.progress;
        prom[i] = r.promoted;
        end[i] = r.ended;
        printf("    trial %d:", i + 1);
        print_ms("Redis answers", ans[i]);
        print_ms("new migration created", cre[i]);
        print_ms("worker's next progress write", prog[i]);
        print_ms("new migration promoted and claimed", prom[i]);
        print_ms("in-flight migration ended", end[i]);
        printf("  (%s, %d retr%s)\n", r.status, r.retries, r.retries == 1 ? "y" : "ies");
        fflush(stdout);
    }
    printf("    median: ");
    print_ms("Redis answers", median(ans, trials));
    print_ms("new migration created", median(cre, trials));
    print_ms("worker's next progress write", median(prog, trials));
    print_ms("new migration promoted and claimed", median(prom, trials));
    print_ms("in-flight migration ended", median(end, trials));
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    int trials = argc > 1 ? atoi(argv[1]) : TRIALS_DEFAULT;
    if (argc > 2 || trials < 1 || trials > TRIALS_MAX) {
        fprintf(stderr, "usage: recovery [trials, 1 to %d, default %d]\n", TRIALS_MAX, TRIALS_DEFAULT);
        return 2;
    }
    log_init("bench", LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static const int leases[] = {LEASE_DEFAULT_MS, LEASE_SHORT_MS};
    for (int k = 0; k < 2; k++) {
        printf("recovery: MIG_LEASE_MS %d%s, scheduler MIG_TICK_MS %d and MIG_LEADER_TTL_MS %d (defaults); "
               "2 workers (--retry-backoff-ms=0 --cooldown-s=0), fleet-sim --sim-speed=%s, a %d GB world with %d "
               "players; %d trials each\n",
               leases[k], leases[k] == LEASE_DEFAULT_MS ? " (default)" : "", TICK_MS, LEADER_TTL_MS, SIM_SPEED,
               WORLD_MB / 1024, PLAYERS, trials);
        fflush(stdout);
        run_fault(leases[k], trials, FAULT_KILL, "POST /v1/containers/{x}/quiesce",
                  "kill -9 of the worker held in transferring (POST /v1/containers/{x}/quiesce)");
        run_fault(leases[k], trials, FAULT_KILL, "POST /v1/containers/{x}/stop",
                  "kill -9 of the worker held in completing (POST /v1/containers/{x}/stop)");
        run_fault(leases[k], trials, FAULT_STOP, "POST /v1/containers/{x}/quiesce",
                  "SIGSTOP of the worker held in transferring, SIGCONT after the other worker ended it");
        run_fault(leases[k], trials, FAULT_SCHEDULER, "POST /v1/containers/{x}/quiesce",
                  "kill -9 of the only scheduler and of the worker held in transferring, a new scheduler started "
                  "at once");
        run_redis(leases[k], trials);
    }
    curl_global_cleanup();
    return 0;
}
