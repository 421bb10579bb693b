/* test_soak.c - a seeded, bounded, randomized fault soak of the whole stack. Migrations
 * are created at random (through migrate-api and the store) and cancelled now and then,
 * while a random stream of faults hits fleet-sim, the scheduler, three workers,
 * migrate-api and a redis-server that fsyncs its append-only file on every write: kill -9
 * of a worker, SIGSTOP of a worker past its lease, kill -9 of the scheduler, of the API and
 * of redis-server (restarted on its data), failing, hanging and slow agent calls, and
 * nodes made unhealthy for a while. Then every fault is undone, the test waits (polling
 * with deadlines) until every migration has ended and every clean-up item has drained,
 * and checks the invariants:
 *   - every acknowledged migration is in Redis and ended; nothing is left in flight, in
 *     the queues or in the guards;
 *   - each server runs exactly once, in one running container that is not quiesced, on
 *     the node its inventory names, with every one of its players (no churn here) and its
 *     proxy address; no waiting room is left and no player was dropped;
 *   - each record is coherent: created <= started <= completed, no error on a completed
 *     one, no more players moved than the server had, retries within max_retries, no
 *     lease or clean-up left, a failed one rolled back; the completed moves of a server
 *     chain from node to node up to where the inventory says it is; the counters agree;
 *   - each migration's events tell the same story: created once, status changes along
 *     legal edges ending in its status, one terminal status change and one
 *     migration.completed or migration.failed to match, nothing after the end but
 *     clean-ups, one migration.retry per retry, each within its backoff, and no attempt
 *     started before its not_before;
 *   - a worker paused past its lease had no call accepted under its old tokens after it
 *     resumed (the fencing rule);
 *   - no program died on its own, and each exits 0 on SIGTERM at the end.
 *
 * MIG_SOAK_SEED seeds the random stream (xorshift64*): a seed replays the same decisions
 * (which fault, which server, which node, how long), but not the same timing, so what a
 * fault hits varies from run to run. MIG_SOAK_SECONDS is the length of the fault phase.
 * Without MIG_SOAK_SEED two fixed seeds run, short, in `make test`; `make soak SEED=n
 * SECONDS=n` runs one, long. Each run prints a summary line and every violation; the
 * test fails when there is any. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "core/timefmt.h"
#include "fixture.h"
#include "stack.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

/* ---- settings -------------------------------------------------------------------------- */

#define SOAK_SEED_A 1 /* the fixed seeds of make test */
#define SOAK_SEED_B 2
#define SOAK_SECONDS_DEFAULT                                                                                           \
    40 /* fault phase of a make-test run: two fit in ~3 minutes                                                        \
        * on a loaded 2-core machine under the sanitizers */
#define SOAK_MARGIN_S                                                                                                  \
    480                      /* start, drain (SOAK_DRAIN_MS), settle, checks and stops                                 \
                              * on top of the fault phase, for the case's timeout */
#define SOAK_DRAIN_MS 180000 /* every migration ends within this once faults stop */
#define SOAK_SETTLE_MS 60000 /* clean-ups drain and the fleet settles within this */
#define SOAK_LEASE_MS 1500   /* the workers' lease (the flags of stack.c) */
#define SOAK_BACKOFF_MS 100  /* the workers' first retry delay, doubling */
#define SOAK_WORKERS 3       /* workers running at once, two slots each */
#define SOAK_NODES 4
#define SOAK_SERVERS 10
#define SOAK_PAUSE_IDS 16 /* leases of one paused worker that are watched */
#define SOAK_PAUSES_MAX 256
#define SOAK_VIOLATIONS_SHOWN 60 /* printed in full; the rest only counted */
#define KILL_WAIT_MS 10000       /* a kill -9 ends a process at once; generous for a busy box */

/* Players of each server, who stay (no churn): a move or a rollback must keep them all. */
static const int PLAYERS[SOAK_SERVERS] = {3, 1, 2, 0, 2, 1, 0, 3, 0, 2};

/* ---- the random stream ------------------------------------------------------------------- */

/* xorshift64* (Vigna), seeded through splitmix64 so that small seeds spread: a seed
 * names one stream of decisions on every machine. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    rng_state = (z ^ (z >> 31)) | 1; /* never 0, the one state xorshift cannot leave */
}

static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* A number in [lo, hi], both included. */
static int rng_range(int lo, int hi) { return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1)); }

/* ---- the run's state -------------------------------------------------------------------- */

/* The faults, in the order of the summary. */
enum {
    F_WORKER_KILL,
    F_WORKER_PAUSE,
    F_SCHEDULER_KILL,
    F_API_KILL,
    F_REDIS_KILL,
    F_SIM_FAIL,
    F_SIM_HANG,
    F_SIM_SLOW,
    F_NODE_UNHEALTHY,
    F_COUNT
};
static const char *const FAULT_NAMES[F_COUNT] = {"worker_kill", "worker_pause", "scheduler_kill",
                                                 "api_kill",    "redis_kill",   "sim_fail",
                                                 "sim_hang",    "sim_slow",     "node_unhealthy"};
/* Relative weight of each fault in the stream. */
static const int FAULT_WEIGHTS[F_COUNT] = {3, 3, 2, 2, 2, 4, 2, 3, 2};

/* One worker process. */
typedef struct {
    pid_t pid;         /* 0 while none runs in this slot */
    char id[16];       /* its --worker-id, the lease_owner of what it claims */
    char log[48];      /* its log's name in the case's folder */
    int64_t resume_at; /* monotonic ms of its SIGCONT while paused, else 0 */
    int pause;         /* index of its pause in soak.pauses while paused, else -1 */
} soak_worker_t;

/* A pause of a worker past its lease: the leases (migration or clean-up) it held when it
 * stopped, and the calls the simulator had accepted under each token when it resumed.
 * After that, no call under these tokens may be accepted (docs/OPERATIONS.md, "A worker
 * is paused or cut off"). */
typedef struct {
    char worker[16];
    int n;
    char ids[SOAK_PAUSE_IDS][MIG_ID_MAX + 1];
    uint64_t tokens[SOAK_PAUSE_IDS];
    int accepted[SOAK_PAUSE_IDS]; /* -1 until it resumed alive */
    int64_t stopped_at;           /* monotonic ms of its SIGSTOP */
    int64_t paused_ms;            /* how long it stayed stopped, once it resumed */
} soak_pause_t;

/* An acknowledged migration: the id the API or the store answered. */
typedef struct {
    char id[MIG_ID_MAX + 1];
    int server;         /* index into PLAYERS */
    int64_t not_before; /* the start time asked for (Unix ms), 0 for now */
} soak_ack_t;

/* Everything the run started or decided, in one place so that the exit handler can stop
 * every process by PID however the test ends. */
static struct {
    uint64_t seed;
    int seconds;
    flow_stack_t st; /* fleet-sim and the scheduler (workers are ours) */
    api_proc_t api;
    pid_t redis;    /* the redis-server in use now */
    int redis_ours; /* 1 once it is a restart, a child of this test */
    int redis_starts, sched_starts, worker_starts;
    soak_worker_t w[SOAK_WORKERS];
    int64_t heal_at[SOAK_NODES]; /* monotonic ms when node i+1 is made healthy, else 0 */
    soak_ack_t *acks;
    int nacks, cap_acks;
    soak_pause_t pauses[SOAK_PAUSES_MAX];
    int npauses;
    int faults[F_COUNT];
    int created_api, created_store, create_refused, cancels;
    long long inflight_sum; /* leases seen at each step of the fault phase, summed */
    int inflight_max, steps;
    int checks, violations;
    char first[512]; /* the first violation, for the failure message */
} soak;

/* Counts one invariant check; when `ok` is false, prints what is wrong (with the seed, so
 * that the run can be replayed) and counts a violation. The run goes on: a soak reports
 * everything it found, and fails at its end. */
static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    soak.checks++;
    if (ok) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (soak.violations++ == 0) snprintf(soak.first, sizeof soak.first, "%s", msg);
    if (soak.violations <= SOAK_VIOLATIONS_SHOWN)
        printf("soak seed=%llu: VIOLATION: %s\n", (unsigned long long)soak.seed, msg);
    fflush(stdout);
}

/* ---- processes ------------------------------------------------------------------------ */

static const char *bindir(void) { return getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin"; }

/* Starts program `name` with the case's redis URL, debug logs into the case's folder
 * under `log`, and `args` (NULL-terminated), as stack.c starts its programs. */
static pid_t spawn(const char *name, const char *log, const char *const *args) {
    char bin[300], path[320], url[352];
    snprintf(bin, sizeof bin, "%s/%s", bindir(), name);
    snprintf(path, sizeof path, "%s/%s", fx_redis.dir, log);
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    const char *argv[32] = {bin, url, "--log-level=debug"};
    int n = 3;
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, path);
    ck_assert_msg(pid > 0, "cannot start %s", name);
    return pid;
}

/* Starts a worker in `slot` with the flags of stack_add_worker (a lease of 1.5 s, retries
 * after 100 ms doubling, no cooldown) under a new id: stack.c's table of workers is too
 * small for a soak that replaces workers all along. */
static void worker_start(int slot) {
    soak_worker_t *w = &soak.w[slot];
    char id[32], node[160], proxy[160];
    snprintf(w->id, sizeof w->id, "w%d", soak.worker_starts);
    snprintf(w->log, sizeof w->log, "worker-%d.log", soak.worker_starts++);
    snprintf(id, sizeof id, "--worker-id=%s", w->id);
    snprintf(node, sizeof node, "--driver-node-url=%s/nodes/{node_id}", soak.st.sim_url);
    snprintf(proxy, sizeof proxy, "--driver-proxy-url=%s/proxy", soak.st.sim_url);
    const char *args[] = {node,
                          proxy,
                          id,
                          "--poll-ms=20",
                          "--lease-ms=1500",
                          "--retry-backoff-ms=100",
                          "--cooldown-s=0",
                          "--downtime-budget-ms=2000",
                          "--driver-timeout-ms=2000",
                          NULL};
    w->pid = spawn("migrate-worker", w->log, args);
    w->resume_at = 0;
    w->pause = -1;
}

/* The scheduler's flags: stack.c's, and limits wide enough that the stream of migrations
 * is not held back by them. */
static const char *const SCHED_FLAGS[] = {"--max-parallel=20", "--max-parallel-per-node=4", NULL};

static void scheduler_start(void) {
    char log[48];
    snprintf(log, sizeof log, "scheduler-%d.log", ++soak.sched_starts);
    const char *args[] = {"--tick-ms=100", "--idle-s=0", "--leader-ttl-ms=1000", "--recheck-ms=1000", SCHED_FLAGS[0],
                          SCHED_FLAGS[1],  NULL};
    soak.st.scheduler = spawn("migrate-scheduler", log, args);
}

/* Starts migrate-api again on its port (another when that is taken). */
static void api_start(void) {
    int port = soak.api.port;
    if (api_proc_start(&soak.api, fx_redis.url, NULL, fx_redis.dir, port) != 0)
        ck_assert_msg(api_proc_start(&soak.api, fx_redis.url, NULL, fx_redis.dir, 0) == 0,
                      "migrate-api did not restart; logs in %s", fx_redis.dir);
}

/* Redis persists every write before it answers: a kill -9 loses nothing acknowledged. */
static const char *const AOF_ARGS[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

/* Unchecked fixture of each case: its redis-server with the append-only file on, started
 * in the runner as fx_redis_up does, so that fx_redis_down removes its folder however the
 * test ends. */
static void soak_redis_up(void) {
    if (harness_redis_start(&fx_redis, AOF_ARGS) != 0) {
        fprintf(stderr, "soak: cannot start redis-server with the append-only file\n");
        exit(1);
    }
}

/* Starts redis-server again on the case's folder, socket and append-only file, with the
 * harness's arguments; returns once it answers PING (it has loaded the file). */
static void redis_start_on_same_data(void) {
    char log[320];
    snprintf(log, sizeof log, "%s/redis-restart-%d.log", fx_redis.dir, ++soak.redis_starts);
    const char *argv[32] = {"redis-server",
                            "--port",
                            "0",
                            "--unixsocket",
                            fx_redis.sock,
                            "--unixsocketperm",
                            "700",
                            "--dir",
                            fx_redis.dir,
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--daemonize",
                            "no",
                            "--logfile",
                            log};
    int n = 17;
    for (int i = 0; AOF_ARGS[i]; i++) argv[n++] = AOF_ARGS[i];
    argv[n] = NULL;
    soak.redis = harness_spawn(argv, NULL);
    soak.redis_ours = 1;
    ck_assert_int_gt(soak.redis, 0);
    for (int64_t end = timefmt_mono_ms() + 30000;;) {
        redisReply *r = harness_redis_cmd(&fx_redis, "PING");
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (ok) return;
        ck_assert_msg(harness_wait(soak.redis, 0) == -1, "the restarted redis-server exited; see %s", log);
        ck_assert_msg(timefmt_mono_ms() < end, "the restarted redis-server does not answer; see %s", log);
        timefmt_sleep_ms(10);
    }
}

/* 1 when `pid`, which is not our child (the runner started the first redis-server), has
 * ended: gone, or a zombie only its parent can reap (kill(pid, 0) succeeds on those). */
static int foreign_pid_gone(pid_t pid) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 1;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    if (ok == NULL) return 1;
    const char *p = strrchr(line, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* kill -9 of a child of ours, reaped; fails the test should it outlive the signal. */
static void kill9(pid_t pid, const char *what) {
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st = harness_wait(pid, KILL_WAIT_MS);
    ck_assert_msg(st != -1, "%s (pid %d) outlived kill -9", what, (int)pid);
}

/* kill -9 of redis-server, whoever its parent is; returns once it is gone. */
static void redis_kill9(void) {
    if (soak.redis_ours) {
        kill9(soak.redis, "redis-server");
    } else {
        ck_assert_int_eq(kill(soak.redis, SIGKILL), 0);
        for (int64_t end = timefmt_mono_ms() + KILL_WAIT_MS; !foreign_pid_gone(soak.redis);) {
            ck_assert_msg(timefmt_mono_ms() < end, "redis-server %d outlived kill -9", (int)soak.redis);
            timefmt_sleep_ms(10);
        }
    }
    soak.redis = 0;
}

/* Exit handler of the test's process: every process the run started and still holds is
 * continued (a stopped one cannot die of SIGKILL until then on some kernels), killed and
 * reaped by PID. On the way that passes, each was stopped already and this does nothing;
 * on a failed assertion Check ends the process with exit(), and this runs. */
static void soak_reap(void) {
    pid_t pids[SOAK_WORKERS + 4];
    int n = 0;
    for (int i = 0; i < SOAK_WORKERS; i++) pids[n++] = soak.w[i].pid;
    pids[n++] = soak.api.pid;
    pids[n++] = soak.st.scheduler;
    pids[n++] = soak.st.sim;
    if (soak.redis_ours) pids[n++] = soak.redis;
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0) continue;
        kill(pids[i], SIGCONT);
        kill(pids[i], SIGKILL);
        harness_wait(pids[i], KILL_WAIT_MS);
    }
    for (int i = 0; i < SOAK_WORKERS; i++) soak.w[i].pid = 0;
    soak.api.pid = soak.st.scheduler = soak.st.sim = 0;
    if (soak.redis_ours) soak.redis = 0;
}

/* ---- the simulator ------------------------------------------------------------------- */

/* The simulator's model now (caller frees). The simulator is never a target of a fault. */
static cJSON *sim_state(void) { return stack_sim(&soak.st, "GET", "/control/state", NULL); }

/* The number under state.fencing.<id>.<which>.<token>, 0 when absent. */
static int fence_count(const cJSON *state, const char *id, const char *which, uint64_t token) {
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)token);
    const cJSON *f = cJSON_GetObjectItem(cJSON_GetObjectItem(state, "fencing"), id);
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(f, which), t);
    return cJSON_IsNumber(n) ? n->valueint : 0;
}

static void node_health(int node, int healthy) {
    char path[48];
    snprintf(path, sizeof path, "/control/nodes/n%d", node + 1);
    cJSON_Delete(stack_sim(&soak.st, "POST", path, healthy ? "{\"healthy\":true}" : "{\"healthy\":false}"));
}

/* The fleet: four nodes with room for every server at once (a move never waits for
 * RAM or disk), ten servers spread over them, worlds of 512 to 896 MB that change at
 * 1 MB/s. At --sim-speed=10 a world copies in about a second, a container starts in
 * 300 ms: a move takes a few seconds, so faults find several of them in flight. Caller
 * frees. */
static char *fleet_json(void) {
    size_t cap = 8192;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    static const char *const names[SOAK_NODES] = {"Node-A", "Node-B", "Node-C", "Node-D"};
    static const char *const prices[SOAK_NODES] = {"0.40", "0.20", "0.30", "0.25"};
    int n = snprintf(s, cap, "{\"nodes\":[");
    for (int i = 0; i < SOAK_NODES; i++)
        n += snprintf(s + n, cap - (size_t)n,
                      "%s{\"id\":\"n%d\",\"name\":\"%s\",\"eur_hour\":%s,\"ram_total_mb\":131072,"
                      "\"disk_total_mb\":900000}",
                      i ? "," : "", i + 1, names[i], prices[i]);
    n += snprintf(s + n, cap - (size_t)n, "],\"servers\":[");
    for (int i = 0; i < SOAK_SERVERS; i++) {
        n += snprintf(s + n, cap - (size_t)n,
                      "%s{\"id\":\"s%d\",\"name\":\"Server-%d\",\"node_id\":\"n%d\",\"ram_mb\":2048,"
                      "\"disk_mb\":%d,\"write_mb_s\":1,\"mean_players\":0,\"players\":[",
                      i ? "," : "", i + 1, i + 1, i % SOAK_NODES + 1, 512 + 128 * (i % 4));
        for (int k = 0; k < PLAYERS[i]; k++)
            n += snprintf(s + n, cap - (size_t)n, "%s\"P%d_%d\"", k ? "," : "", i + 1, k);
        n += snprintf(s + n, cap - (size_t)n, "]}");
    }
    snprintf(s + n, cap - (size_t)n, "]}");
    return s;
}

/* ---- the load ----------------------------------------------------------------------- */

/* Keeps an acknowledged migration: it must be in Redis and ended at the end. */
static void ack(const char *id, int server, int64_t not_before) {
    if (soak.nacks == soak.cap_acks) {
        soak.cap_acks = soak.cap_acks ? 2 * soak.cap_acks : 64;
        soak.acks = realloc(soak.acks, (size_t)soak.cap_acks * sizeof *soak.acks);
        ck_assert_ptr_nonnull(soak.acks);
    }
    snprintf(soak.acks[soak.nacks].id, sizeof soak.acks[0].id, "%s", id);
    soak.acks[soak.nacks].not_before = not_before;
    soak.acks[soak.nacks++].server = server;
}

static void load_cancel_id(const char *id);

/* Creates a migration of a random server to a random other node, through the API or the
 * store. A server with players starts at once (an operator's start_now), an idle one
 * sometimes waits for the idle rule; one in five is asked to start 1 to 4 s later, so
 * that some wait in `scheduled`, where a cancel can take them. A refusal (a migration of
 * the server is under way, the API or Redis is down) is counted; only what was answered
 * with an id is acknowledged. Every random number is drawn before anything is asked, so
 * that the stream of decisions does not depend on what the stack answers. */
static void load_create(void) {
    int server = rng_range(0, SOAK_SERVERS - 1), shift = rng_range(1, SOAK_NODES - 1);
    int retries = rng_range(2, 5), start_now = PLAYERS[server] > 0 || rng_range(0, 1);
    int via_api = rng_range(0, 9) < 6;
    int64_t not_before = rng_range(0, 4) == 0 ? timefmt_now_ms() + rng_range(1000, 4000) : 0;
    int cancel = not_before > 0 && rng_range(0, 1); /* half of those waiting are cancelled at once */
    char sid[16], to[16];
    snprintf(sid, sizeof sid, "s%d", server + 1);
    redisReply *r = harness_redis_cmd(&fx_redis, "HGET mig:server:%s node_id", sid);
    int from = r && r->type == REDIS_REPLY_STRING ? atoi(r->str + 1) - 1 : -1;
    if (r) freeReplyObject(r);
    if (from < 0) {
        soak.create_refused++; /* Redis is down */
        return;
    }
    snprintf(to, sizeof to, "n%d", (from + shift) % SOAK_NODES + 1);
    if (via_api) {
        char url[128], body[256], when[TIMEFMT_RFC3339_LEN + 16] = "null";
        if (not_before > 0) {
            when[0] = '"';
            timefmt_rfc3339(not_before, when + 1);
            strcat(when, "\"");
        }
        snprintf(url, sizeof url, "%s/api/migrations", soak.api.base);
        snprintf(body, sizeof body,
                 "{\"server_id\":\"%s\",\"to_node_id\":\"%s\",\"max_retries\":%d,\"start_now\":%s,\"not_before\":%s}",
                 sid, to, retries, start_now ? "true" : "false", when);
        http_resp_t resp;
        int rv = http_call("POST", url, NULL, NULL, body, &resp);
        const cJSON *id = rv == 0 && resp.status == 201 ? cJSON_GetObjectItem(resp.json, "id") : NULL;
        if (cJSON_IsString(id)) {
            ack(id->valuestring, server, not_before);
            soak.created_api++;
            if (cancel) load_cancel_id(id->valuestring);
        } else {
            soak.create_refused++;
        }
        http_resp_free(&resp);
        return;
    }
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = sid;
    c.to_node_id = to;
    c.savings_eur_hour = 0.1;
    c.max_retries = retries;
    c.start_now = start_now;
    c.not_before = not_before;
    migration_t m;
    migration_init(&m);
    if (store_create_migration(fx_rc, &c, &m) == 0) {
        ack(m.id, server, not_before);
        soak.created_store++;
    } else {
        soak.create_refused++;
    }
    migration_clear(&m);
}

/* Cancels migration `id` through the API: taken only while it waits (scheduled), refused
 * once a worker has it or it ended. */
static void load_cancel_id(const char *id) {
    char url[192];
    snprintf(url, sizeof url, "%s/api/migrations/%s/cancel", soak.api.base, id);
    http_resp_t resp;
    if (http_call("POST", url, NULL, NULL, NULL, &resp) == 0 && resp.status == 200) soak.cancels++;
    http_resp_free(&resp);
}

/* Cancels one of the last six acknowledged migrations. */
static void load_cancel(void) {
    if (soak.nacks == 0 || soak.api.pid <= 0) return;
    load_cancel_id(soak.acks[soak.nacks - 1 - rng_range(0, soak.nacks < 6 ? soak.nacks - 1 : 5)].id);
}

/* ---- the faults --------------------------------------------------------------------- */

/* Running workers not paused, into `slots`; returns how many. */
static int workers_awake(int *slots) {
    int n = 0;
    for (int i = 0; i < SOAK_WORKERS; i++)
        if (soak.w[i].pid > 0 && soak.w[i].pause < 0) slots[n++] = i;
    return n;
}

/* Notes the leases (of migrations and of clean-ups) that worker `p->worker` holds in
 * Redis now, with their tokens. Nothing is noted while Redis is down: that pause goes
 * unchecked. */
static void pause_note_leases(soak_pause_t *p) {
    static const char *const sets[][2] = {{"mig:leases", "mig:m:"}, {"mig:cleanups", "mig:cleanup:"}};
    for (int s = 0; s < 2; s++) {
        redisReply *ids = harness_redis_cmd(&fx_redis, "ZRANGE %s 0 -1", sets[s][0]);
        for (size_t i = 0; ids && ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s%s", sets[s][1], ids->element[i]->str);
            redisReply *v = harness_redis_cmd(&fx_redis, "HMGET %s lease_owner lease_token", key);
            if (v && v->type == REDIS_REPLY_ARRAY && v->elements == 2 && v->element[0]->type == REDIS_REPLY_STRING &&
                v->element[1]->type == REDIS_REPLY_STRING && strcmp(v->element[0]->str, p->worker) == 0 &&
                p->n < SOAK_PAUSE_IDS) {
                snprintf(p->ids[p->n], sizeof p->ids[0], "%s", ids->element[i]->str);
                p->tokens[p->n] = strtoull(v->element[1]->str, NULL, 10);
                p->accepted[p->n++] = -1;
            }
            if (v) freeReplyObject(v);
        }
        if (ids) freeReplyObject(ids);
    }
}

/* SIGCONT of a paused worker, after noting what the simulator had accepted under each of
 * its old tokens: from now on that must not grow. */
static void worker_resume(int slot) {
    soak_worker_t *w = &soak.w[slot];
    soak_pause_t *p = &soak.pauses[w->pause];
    if (p->n > 0) {
        cJSON *state = sim_state();
        for (int i = 0; i < p->n; i++) p->accepted[i] = fence_count(state, p->ids[i], "accepted", p->tokens[i]);
        cJSON_Delete(state);
    }
    p->paused_ms = timefmt_mono_ms() - p->stopped_at;
    ck_assert_int_eq(kill(w->pid, SIGCONT), 0);
    w->resume_at = 0;
    w->pause = -1;
}

/* Stops a worker past its lease: for the lease and another 0.5 to 2.5 s. Keeps one
 * worker awake, so that something can recover what it held. Returns 0 when it cannot. */
static int fault_worker_pause(void) {
    int awake[SOAK_WORKERS];
    int n = workers_awake(awake);
    if (n < 2 || soak.npauses == SOAK_PAUSES_MAX) return 0;
    int slot = awake[rng_range(0, n - 1)];
    int ms = SOAK_LEASE_MS + rng_range(500, 2500);
    soak_worker_t *w = &soak.w[slot];
    ck_assert_int_eq(kill(w->pid, SIGSTOP), 0);
    soak_pause_t *p = &soak.pauses[soak.npauses];
    memset(p, 0, sizeof *p);
    memcpy(p->worker, w->id, sizeof p->worker); /* both 16 bytes, NUL-terminated */
    pause_note_leases(p);
    w->pause = soak.npauses++;
    p->stopped_at = timefmt_mono_ms();
    w->resume_at = p->stopped_at + ms;
    return 1;
}

/* kill -9 of a random worker (paused or not), and a new one in its place. */
static int fault_worker_kill(void) {
    int slot = rng_range(0, SOAK_WORKERS - 1);
    soak_worker_t *w = &soak.w[slot];
    if (w->pid <= 0) return 0;
    kill9(w->pid, w->id);
    w->pid = 0;
    timefmt_sleep_ms(rng_range(0, 1000));
    worker_start(slot);
    return 1;
}

static int fault_scheduler_kill(void) {
    kill9(soak.st.scheduler, "migrate-scheduler");
    soak.st.scheduler = 0;
    timefmt_sleep_ms(rng_range(0, 1500));
    scheduler_start();
    return 1;
}

static int fault_api_kill(void) {
    kill9(soak.api.pid, "migrate-api");
    soak.api.pid = 0;
    timefmt_sleep_ms(rng_range(0, 1000));
    api_start();
    return 1;
}

/* kill -9 of redis-server, down for 0.2 to 3 s (past the workers' leases at times, so
 * that jobs in flight are recovered, not only retried), then back on its own data. */
static int fault_redis_kill(void) {
    redis_kill9();
    timefmt_sleep_ms(rng_range(200, 3000));
    redis_start_on_same_data();
    return 1;
}

/* Calls of the driver contract a fault may hit, per kind of agent. */
static const char *const NODE_CALLS[] = {"POST /v1/containers",
                                         "POST /v1/containers/{x}/start",
                                         "GET /v1/containers/{x}",
                                         "POST /v1/containers/{x}/stop",
                                         "DELETE /v1/containers/{x}",
                                         "POST /v1/containers/{x}/quiesce",
                                         "POST /v1/sync",
                                         "GET /v1/sync/{x}",
                                         "GET /v1/health",
                                         "*"};
static const char *const PROXY_CALLS[] = {"GET /v1/servers/{x}/players",  "POST /v1/waiting-rooms",
                                          "DELETE /v1/waiting-rooms/{x}", "POST /v1/transfers",
                                          "PUT /v1/servers/{x}",          "*"};

/* A simulator fault on a random call of a random node or the proxy: `fail` with a
 * transient status (500 or 503) for 1 to 6 calls (the driver tries 4 times, so some fail
 * a step and some only a try), `hang` past the driver's 2 s timeout for 1 or 2 calls, or
 * `slow` by 0.2 to 1.2 s (below the shortest pause, so that no call a paused worker sent
 * before its pause is served after it resumes) for 1 to 4 calls. */
static int fault_sim(int kind) {
    int target = rng_range(0, SOAK_NODES); /* SOAK_NODES: the proxy */
    char node[8];
    const char *call;
    if (target == SOAK_NODES) {
        snprintf(node, sizeof node, "proxy");
        call = PROXY_CALLS[rng_range(0, (int)(sizeof PROXY_CALLS / sizeof PROXY_CALLS[0]) - 1)];
    } else {
        snprintf(node, sizeof node, "n%d", target + 1);
        call = NODE_CALLS[rng_range(0, (int)(sizeof NODE_CALLS / sizeof NODE_CALLS[0]) - 1)];
    }
    char body[256];
    if (kind == F_SIM_FAIL)
        snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"fail\",\"times\":%d,\"status\":%d}",
                 node, call, rng_range(1, 6), rng_range(0, 1) ? 500 : 503);
    else if (kind == F_SIM_HANG)
        snprintf(body, sizeof body,
                 "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"hang\",\"times\":%d,\"delay_ms\":%d}", node, call,
                 rng_range(1, 2), rng_range(2500, 4000));
    else
        snprintf(body, sizeof body,
                 "{\"node_id\":\"%s\",\"call\":\"%s\",\"mode\":\"slow\",\"times\":%d,\"delay_ms\":%d}", node, call,
                 rng_range(1, 4), rng_range(200, 1200));
    cJSON_Delete(stack_sim(&soak.st, "POST", "/control/faults", body));
    return 1;
}

/* A node made unhealthy for 1 to 5 s; at most two at once. */
static int fault_node_unhealthy(void) {
    int node = rng_range(0, SOAK_NODES - 1), down = 0;
    for (int i = 0; i < SOAK_NODES; i++) down += soak.heal_at[i] > 0;
    if (soak.heal_at[node] > 0 || down >= 2) return 0;
    node_health(node, 0);
    soak.heal_at[node] = timefmt_mono_ms() + rng_range(1000, 5000);
    return 1;
}

/* Draws a fault by weight and injects it; returns its kind, or -1 when the one drawn
 * cannot be made now (all but one worker paused, say) or its kind has had its share. */
static int fault_inject(void) {
    int total = 0;
    for (int i = 0; i < F_COUNT; i++) total += FAULT_WEIGHTS[i];
    int pick = rng_range(0, total - 1), kind = 0;
    while (pick >= FAULT_WEIGHTS[kind]) pick -= FAULT_WEIGHTS[kind++];
    /* bounded: no kind more than once per 2 s of the fault phase, plus a few */
    if (soak.faults[kind] >= 4 + soak.seconds / 2) return -1;
    int done = 0;
    switch (kind) {
    case F_WORKER_KILL: done = fault_worker_kill(); break;
    case F_WORKER_PAUSE: done = fault_worker_pause(); break;
    case F_SCHEDULER_KILL: done = fault_scheduler_kill(); break;
    case F_API_KILL: done = fault_api_kill(); break;
    case F_REDIS_KILL: done = fault_redis_kill(); break;
    case F_NODE_UNHEALTHY: done = fault_node_unhealthy(); break;
    default: done = fault_sim(kind); break;
    }
    if (!done) return -1;
    soak.faults[kind]++;
    return kind;
}

/* Ends what is due (a pause, an unhealthy spell) and notices a program that died on its
 * own: that is a violation, and the program is started again so that the run goes on. */
static void soak_tick(void) {
    int64_t t = timefmt_mono_ms();
    for (int i = 0; i < SOAK_WORKERS; i++)
        if (soak.w[i].pause >= 0 && t >= soak.w[i].resume_at) worker_resume(i);
    for (int i = 0; i < SOAK_NODES; i++)
        if (soak.heal_at[i] > 0 && t >= soak.heal_at[i]) {
            node_health(i, 1);
            soak.heal_at[i] = 0;
        }
    char how[96];
    int st;
    for (int i = 0; i < SOAK_WORKERS; i++)
        if (soak.w[i].pid > 0 && (st = harness_wait(soak.w[i].pid, 0)) != -1) {
            check(0, "worker %s %s on its own; see %s/%s", soak.w[i].id, harness_status_text(st, how, sizeof how),
                  fx_redis.dir, soak.w[i].log);
            worker_start(i);
        }
    if ((st = harness_wait(soak.st.scheduler, 0)) != -1) {
        check(0, "migrate-scheduler %s on its own; see %s/scheduler-%d.log", harness_status_text(st, how, sizeof how),
              fx_redis.dir, soak.sched_starts);
        scheduler_start();
    }
    if ((st = harness_wait(soak.api.pid, 0)) != -1) {
        check(0, "migrate-api %s on its own; see %s", harness_status_text(st, how, sizeof how), soak.api.log);
        api_start();
    }
    ck_assert_msg(harness_wait(soak.st.sim, 0) == -1, "fleet-sim died; logs in %s", fx_redis.dir);
    if (soak.redis_ours ? harness_wait(soak.redis, 0) != -1 : foreign_pid_gone(soak.redis)) {
        check(0, "redis-server died on its own; logs in %s", fx_redis.dir);
        redis_start_on_same_data();
    }
}

/* Notes how many migrations a worker holds now, for the summary: the faults should find
 * several in flight. Nothing is noted while Redis is down. */
static void inflight_sample(void) {
    redisReply *r = harness_redis_cmd(&fx_redis, "ZCARD mig:leases");
    if (r && r->type == REDIS_REPLY_INTEGER) {
        soak.inflight_sum += r->integer;
        if (r->integer > soak.inflight_max) soak.inflight_max = (int)r->integer;
        soak.steps++;
    }
    if (r) freeReplyObject(r);
}

/* Undoes every fault: paused workers continued (each at its planned time, so that every
 * pause outlasts the lease), nodes healthy, fault rules gone (and the calls they hold
 * released). Killed programs were started again by their fault. */
static void soak_undo(void) {
    for (int i = 0; i < SOAK_WORKERS; i++)
        if (soak.w[i].pause >= 0) {
            while (timefmt_mono_ms() < soak.w[i].resume_at) timefmt_sleep_ms(20);
            worker_resume(i);
        }
    for (int i = 0; i < SOAK_NODES; i++)
        if (soak.heal_at[i] > 0) {
            node_health(i, 1);
            soak.heal_at[i] = 0;
        }
    cJSON_Delete(stack_sim(&soak.st, "DELETE", "/control/faults", NULL));
}

/* ---- waiting for the end ------------------------------------------------------------- */

/* Every migration in Redis (acknowledged or not), oldest first. Free with freeReplyObject. */
static redisReply *all_ids(void) {
    redisReply *r = fx_cmd("ZRANGE mig:idx:all 0 -1");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    return r;
}

/* Waits until no migration in Redis is left unended. Returns 1, or 0 after naming (as a
 * violation) those still running at the deadline. */
static int wait_all_ended(int64_t deadline) {
    for (;;) {
        soak_tick();
        redisReply *ids = all_ids();
        int open = 0;
        char what[400] = "";
        for (size_t i = 0; i < ids->elements; i++) {
            migration_t m;
            migration_init(&m);
            if (store_get_migration(fx_rc, ids->element[i]->str, &m) == 0 && !states_terminal(m.status)) {
                size_t len = strlen(what);
                if (open++ < 4)
                    snprintf(what + len, sizeof what - len, " %s(%s %s, step %s, %s)", m.id, m.server_id,
                             states_name(m.status), m.phase_step ? m.phase_step : "-",
                             m.blocked_reason     ? m.blocked_reason
                             : m.progress_message ? m.progress_message
                                                  : "-");
            }
            migration_clear(&m);
        }
        freeReplyObject(ids);
        if (open == 0) return 1;
        if (timefmt_mono_ms() >= deadline) {
            check(0, "%d migrations not ended %d s after the faults stopped:%s; logs in %s", open, SOAK_DRAIN_MS / 1000,
                  what, fx_redis.dir);
            return 0;
        }
        timefmt_sleep_ms(200);
    }
}

static long long zcard(const char *key) {
    redisReply *r = fx_cmd("ZCARD %s", key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* ---- the fleet ---------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k);
static int jint(const cJSON *o, const char *k);

/* The story of migration `id` in one line, for a violation's message: its record's status
 * and step, then each of its events with the ms since its creation ("+812 p:transfer.quiesce
 * +903 transferring>scheduled +903 retry1(sync)"). Caller frees. */
static char *timeline(const char *id) {
    size_t cap = 4096, n = 0;
    char *out = calloc(cap, 1);
    ck_assert_ptr_nonnull(out);
    migration_t m;
    migration_init(&m);
    if (store_get_migration(fx_rc, id, &m) == 0)
        n += (size_t)snprintf(out, cap, "[%s, step %s, retries %d/%d, players %d]", states_name(m.status),
                              m.phase_step ? m.phase_step : "-", m.retry_count, m.max_retries, m.players_transferred);
    migration_clear(&m);
    redisReply *r = fx_cmd("XRANGE mig:events - +");
    int64_t t0 = 0;
    for (size_t i = 0; i < r->elements && n < cap - 128; i++) {
        redisReply *f = r->element[i]->element[1];
        if (f->elements < 2 || strstr(f->element[1]->str, id) == NULL) continue;
        cJSON *e = cJSON_Parse(f->element[1]->str);
        if (strcmp(jstr(e, "migration_id"), id) == 0) {
            int64_t ts = 0;
            timefmt_parse_rfc3339(jstr(e, "timestamp"), &ts);
            if (t0 == 0) t0 = ts;
            const char *type = jstr(e, "type");
            char what[96];
            if (strcmp(type, "migration.status_changed") == 0)
                snprintf(what, sizeof what, "%s>%s", jstr(e, "old_status"), jstr(e, "new_status"));
            else if (strcmp(type, "migration.progress") == 0)
                snprintf(what, sizeof what, "p:%s%s", jstr(e, "phase_step"),
                         strstr(jstr(e, "message"), "worker lost") ? "(worker lost)" : "");
            else if (strcmp(type, "migration.retry") == 0)
                snprintf(what, sizeof what, "retry%d(%s)", jint(e, "attempt"), jstr(e, "fail_reason"));
            else
                snprintf(what, sizeof what, "%s", type + (strncmp(type, "migration.", 10) == 0 ? 10 : 0));
            n += (size_t)snprintf(out + n, cap - n, " +%lld %s", (long long)(ts - t0), what);
        }
        cJSON_Delete(e);
    }
    freeReplyObject(r);
    return out;
}

/* The node of server `i` in the inventory, into `out` ("" when none). */
static void inventory_node(int i, char *out, size_t cap) {
    redisReply *r = fx_cmd("HGET mig:server:s%d node_id", i + 1);
    snprintf(out, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int jint(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* Compares the simulated fleet with the inventory. With `report` 0 it only counts the
 * differences (to poll until the fleet settles); with 1 each is a violation. */
static int fleet_check(int report) {
    cJSON *state = sim_state();
    int bad = 0;
#define FLEET(ok, ...)                                                                                                 \
    do {                                                                                                               \
        int ok_ = (ok);                                                                                                \
        bad += !ok_;                                                                                                   \
        if (report) check(ok_, __VA_ARGS__);                                                                           \
    } while (0)
    int containers = cJSON_GetArraySize(cJSON_GetObjectItem(state, "containers"));
    FLEET(containers == SOAK_SERVERS, "%d containers for %d servers (an orphan, or a server twice)", containers,
          SOAK_SERVERS);
    for (int i = 0; i < SOAK_SERVERS; i++) {
        char sid[16], inv[32];
        snprintf(sid, sizeof sid, "s%d", i + 1);
        inventory_node(i, inv, sizeof inv);
        int n = 0;
        const cJSON *c, *mine = NULL;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(state, "containers")) {
            if (strcmp(jstr(c, "server_id"), sid) != 0) continue;
            n++;
            FLEET(strcmp(jstr(c, "node_id"), inv) == 0 && strcmp(jstr(c, "state"), "running") == 0,
                  "%s: a container on %s (%s, migration %s) where the inventory says %s", sid, jstr(c, "node_id"),
                  jstr(c, "state"), jstr(c, "migration_id"), inv);
            FLEET(!cJSON_IsTrue(cJSON_GetObjectItem(c, "quiesced")), "%s: its container on %s is left quiesced", sid,
                  jstr(c, "node_id"));
            if (strcmp(jstr(c, "node_id"), inv) == 0) mine = c;
        }
        FLEET(n == 1, "%s: %d containers (exactly one expected, on %s)", sid, n, inv);
        const cJSON *sv;
        cJSON_ArrayForEach(sv, cJSON_GetObjectItem(state, "servers")) {
            if (strcmp(jstr(sv, "id"), sid) != 0) continue;
            FLEET(strcmp(jstr(sv, "node_id"), inv) == 0, "%s runs on %s in the fleet, on %s in the inventory", sid,
                  jstr(sv, "node_id"), inv);
            FLEET(jint(sv, "player_count") == PLAYERS[i], "%s has %d players instead of %d", sid,
                  jint(sv, "player_count"), PLAYERS[i]);
            const cJSON *p;
            cJSON_ArrayForEach(p, cJSON_GetObjectItem(sv, "players")) FLEET(
                strcmp(jstr(p, "node_id"), inv) == 0, "%s: player %s is connected on %s, not %s", sid, jstr(p, "name"),
                cJSON_IsString(cJSON_GetObjectItem(p, "node_id")) ? jstr(p, "node_id") : "(none)", inv);
            if (mine)
                FLEET(strcmp(jstr(sv, "proxy_address"), jstr(mine, "address")) == 0,
                      "%s: the proxy sends players to %s, its container is at %s", sid, jstr(sv, "proxy_address"),
                      jstr(mine, "address"));
        }
    }
    /* a room is named wait-<migration id>: a room left names the migration that left it */
    const cJSON *room;
    cJSON_ArrayForEach(room, cJSON_GetObjectItem(state, "waiting_rooms")) {
        char *story = report ? timeline(jstr(room, "name") + 5) : NULL;
        FLEET(0, "waiting room %s is left with %d players; its migration: %s", jstr(room, "name"),
              cJSON_GetArraySize(cJSON_GetObjectItem(room, "players")), story ? story : "");
        free(story);
    }
    FLEET(jint(state, "players_kicked") == 0, "%d players dropped (players_kicked)", jint(state, "players_kicked"));
#undef FLEET
    cJSON_Delete(state);
    return bad;
}

/* Every paused worker's old tokens: no call accepted under them after it resumed. Counts
 * the tokens watched so, and the stale calls the agents refused in all, for the summary. */
static void fencing_check(int *watched, int *refused) {
    cJSON *state = sim_state();
    *watched = *refused = 0;
    const cJSON *f, *t;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(state, "fencing"))
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(f, "refused")) *refused += cJSON_IsNumber(t) ? t->valueint : 0;
    for (int k = 0; k < soak.npauses; k++) {
        const soak_pause_t *p = &soak.pauses[k];
        for (int i = 0; i < p->n; i++) {
            /* killed while paused: it never resumed; and a pause within the lease is no loss */
            if (p->accepted[i] < 0 || p->paused_ms <= SOAK_LEASE_MS) continue;
            (*watched)++;
            int now = fence_count(state, p->ids[i], "accepted", p->tokens[i]);
            check(now == p->accepted[i],
                  "worker %s, paused %lld ms past its lease, had %d calls of %s accepted under its old token %llu "
                  "after it resumed",
                  p->worker, (long long)p->paused_ms, now - p->accepted[i], p->ids[i],
                  (unsigned long long)p->tokens[i]);
        }
    }
    cJSON_Delete(state);
}

/* ---- records and events --------------------------------------------------------------- */

/* One migration as the checks see it: its record, and what its events said. */
typedef struct {
    migration_t m;
    int server; /* index into PLAYERS, -1 when unknown */
    int created, terminal_changes, completed_ev, failed_ev, retry_ev, after_end;
    int chain;          /* status the events have reached, -1 before created */
    int64_t wait_until; /* the start time asked for, then the not_before of the last
                         * retry, until the next start; 0 when none */
    int64_t end_ms;     /* timestamp of the terminal status change */
} soak_mig_t;

static soak_mig_t *find_mig(soak_mig_t *v, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].m.id, id) == 0) return &v[i];
    return NULL;
}

static int parse_status(const char *s) { return states_parse(s, strlen(s)); }

/* Takes one event of the stream into its migration's story, checking as it goes: edges
 * legal and continuous, nothing but clean-ups after the end, retries within backoff and
 * no start before a retry's not_before. */
static void event_take(soak_mig_t *g, const cJSON *e) {
    const char *type = jstr(e, "type"), *id = g->m.id;
    int64_t ts = 0;
    timefmt_parse_rfc3339(jstr(e, "timestamp"), &ts);
    if (strcmp(type, "migration.created") == 0) {
        check(g->created++ == 0, "%s: a second migration.created", id);
        g->chain = parse_status(jstr(e, "status"));
    } else if (strcmp(type, "migration.status_changed") == 0) {
        int from = parse_status(jstr(e, "old_status")), to = parse_status(jstr(e, "new_status"));
        check(g->terminal_changes == 0, "%s: status changed %s -> %s after it ended", id, jstr(e, "old_status"),
              jstr(e, "new_status"));
        check(from == g->chain, "%s: status changed from %s, but its events had it %s", id, jstr(e, "old_status"),
              g->chain >= 0 ? states_name(g->chain) : "(not created)");
        check(from >= 0 && to >= 0 && states_allowed((mig_status_t)from, (mig_status_t)to),
              "%s: an illegal edge %s -> %s", id, jstr(e, "old_status"), jstr(e, "new_status"));
        g->chain = to;
        if (to >= 0 && states_terminal(to)) {
            g->terminal_changes++;
            g->end_ms = ts;
        }
        if (to == MIG_PREPARING && g->wait_until > 0) {
            check(ts >= g->wait_until, "%s: attempt %d started %lld ms before its not_before", id, g->retry_ev + 1,
                  (long long)(g->wait_until - ts));
            g->wait_until = 0;
        }
    } else if (strcmp(type, "migration.retry") == 0) {
        g->retry_ev++;
        check(g->terminal_changes == 0, "%s: a retry after the end", id);
        check(jint(e, "attempt") == g->retry_ev, "%s: retry event %d says attempt %d", id, g->retry_ev,
              jint(e, "attempt"));
        int64_t nb = 0;
        check(timefmt_parse_rfc3339(jstr(e, "not_before"), &nb) == 0, "%s: retry %d without a not_before", id,
              g->retry_ev);
        /* the worker's backoff: 100 ms doubling per retry, less up to a quarter of jitter */
        int64_t d = (int64_t)SOAK_BACKOFF_MS << (g->retry_ev - 1 < 20 ? g->retry_ev - 1 : 20);
        check(nb - ts >= d - d / 4 - 1 && nb - ts <= d, "%s: retry %d waits %lld ms, its backoff is %lld-%lld ms", id,
              g->retry_ev, (long long)(nb - ts), (long long)(d - d / 4), (long long)d);
        g->wait_until = nb;
    } else if (strcmp(type, "migration.completed") == 0) {
        g->completed_ev++;
    } else if (strcmp(type, "migration.failed") == 0) {
        g->failed_ev++;
    } else if (strcmp(type, "migration.progress") == 0) {
        check(g->terminal_changes == 0, "%s: progress after the end (%s)", id, jstr(e, "message"));
    }
}

/* Reads the whole events stream into the stories of `v`. */
static void events_read(soak_mig_t *v, size_t n) {
    redisReply *r = fx_cmd("XRANGE mig:events - +");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    check(r->elements < 90000, "the events stream holds %zu entries: it may have been trimmed", r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        if (f->elements < 2) continue;
        cJSON *e = cJSON_Parse(f->element[1]->str);
        const cJSON *mid = cJSON_GetObjectItem(e, "migration_id");
        soak_mig_t *g = cJSON_IsString(mid) ? find_mig(v, n, mid->valuestring) : NULL;
        if (g) event_take(g, e);
        cJSON_Delete(e);
    }
    freeReplyObject(r);
}

/* The checks of one ended record and of its story. */
static void record_check(const soak_mig_t *g) {
    const migration_t *m = &g->m;
    const char *id = m->id;
    int players = g->server >= 0 ? PLAYERS[g->server] : 0;
    check(states_terminal(m->status), "%s: still %s", id, states_name(m->status));
    check(m->created_at > 0 && m->completed_at >= m->created_at, "%s: created_at %lld, completed_at %lld", id,
          (long long)m->created_at, (long long)m->completed_at);
    if (m->started_at > 0)
        check(m->started_at >= m->created_at && m->completed_at >= m->started_at,
              "%s: created_at %lld, started_at %lld, completed_at %lld out of order", id, (long long)m->created_at,
              (long long)m->started_at, (long long)m->completed_at);
    else
        check(m->status == MIG_CANCELLED, "%s: %s without a started_at", id, states_name(m->status));
    check(m->retry_count >= 0 && m->retry_count <= m->max_retries, "%s: retry_count %d of max_retries %d", id,
          m->retry_count, m->max_retries);
    check(m->lease_owner == NULL, "%s: %s still leased to %s", id, states_name(m->status), m->lease_owner);
    check(m->cleanup_node == NULL, "%s: its old container on %s is still to be removed", id, m->cleanup_node);
    if (m->status == MIG_COMPLETED) {
        check(m->error_message == NULL, "%s: completed with error_message \"%s\"", id, m->error_message);
        check(m->players_transferred <= players, "%s: %d players transferred, the server has %d", id,
              m->players_transferred, players);
        double want = (double)(m->completed_at - m->started_at) / 1000.0;
        check(m->duration_seconds >= want - 0.002 && m->duration_seconds <= want + 0.002,
              "%s: duration_seconds %.3f, started to completed is %.3f", id, m->duration_seconds, want);
    }
    if (m->status == MIG_FAILED) {
        check(m->error_message != NULL, "%s: failed without an error_message", id);
        check(m->rollback_success == 1, "%s: failed and its rollback did not succeed (%s): the server needs a look", id,
              m->error_message ? m->error_message : "-");
    }
    /* one story: created once, one end, matching the record */
    check(g->created == 1, "%s: %d migration.created events", id, g->created);
    check(g->chain == (int)m->status, "%s: its events end %s, its record says %s", id,
          g->chain >= 0 ? states_name(g->chain) : "(none)", states_name(m->status));
    check(g->terminal_changes == 1, "%s: %d status changes to an end", id, g->terminal_changes);
    check(g->completed_ev == (m->status == MIG_COMPLETED), "%s: %s with %d migration.completed events", id,
          states_name(m->status), g->completed_ev);
    check(g->failed_ev == (m->status == MIG_FAILED), "%s: %s with %d migration.failed events", id,
          states_name(m->status), g->failed_ev);
    check(g->retry_ev == m->retry_count, "%s: retry_count %d, %d migration.retry events", id, m->retry_count,
          g->retry_ev);
    check(g->end_ms == m->completed_at, "%s: ended at %lld by its events, completed_at %lld", id, (long long)g->end_ms,
          (long long)m->completed_at);
}

/* Orders completed migrations by their end. */
static int by_end(const void *a, const void *b) {
    const soak_mig_t *x = *(soak_mig_t *const *)a, *y = *(soak_mig_t *const *)b;
    return x->m.completed_at < y->m.completed_at ? -1 : x->m.completed_at > y->m.completed_at;
}

/* The completed moves of each server chain from node to node, from where the fleet put
 * it to where the inventory says it is now. */
static void moves_check(soak_mig_t *v, size_t n) {
    soak_mig_t **done = calloc(n + 1, sizeof *done);
    ck_assert_ptr_nonnull(done);
    for (int i = 0; i < SOAK_SERVERS; i++) {
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (v[j].server == i && v[j].m.status == MIG_COMPLETED) done[k++] = &v[j];
        qsort(done, k, sizeof *done, by_end);
        char at[32], inv[32];
        snprintf(at, sizeof at, "n%d", i % SOAK_NODES + 1);
        for (size_t j = 0; j < k; j++) {
            check(done[j]->m.from_node_id && strcmp(done[j]->m.from_node_id, at) == 0,
                  "s%d: completed move %s is from %s, the server was on %s", i + 1, done[j]->m.id,
                  done[j]->m.from_node_id ? done[j]->m.from_node_id : "(none)", at);
            snprintf(at, sizeof at, "%s", done[j]->m.to_node_id ? done[j]->m.to_node_id : "");
        }
        inventory_node(i, inv, sizeof inv);
        check(strcmp(inv, at) == 0, "s%d: its %zu completed moves end on %s, the inventory says %s", i + 1, k, at, inv);
        redisReply *r = fx_cmd("EXISTS mig:active:s%d", i + 1);
        check(r->integer == 0, "s%d: the active guard is left with every migration ended", i + 1);
        freeReplyObject(r);
    }
    free(done);
}

/* The counters and queues against the records: counts by status, totals, nothing left
 * in a queue. */
static void stats_check(const soak_mig_t *v, size_t n) {
    long long by[MIG_STATUS_COUNT] = {0}, retries = 0;
    for (size_t i = 0; i < n; i++) {
        by[v[i].m.status]++;
        retries += v[i].m.retry_count;
    }
    store_stats_t s;
    ck_assert_int_eq(store_get_stats(fx_rc, &s), 0);
    for (int st = 0; st < MIG_STATUS_COUNT; st++)
        check(s.by_status[st] == by[st], "stats: %lld %s, the records %lld", s.by_status[st],
              states_name((mig_status_t)st), by[st]);
    check(s.created_total == (long long)n, "stats: created_total %lld, %zu records", s.created_total, n);
    check(s.completed_total == by[MIG_COMPLETED], "stats: completed_total %lld, %lld records", s.completed_total,
          by[MIG_COMPLETED]);
    check(s.failed_total == by[MIG_FAILED], "stats: failed_total %lld, %lld records", s.failed_total, by[MIG_FAILED]);
    check(s.cancelled_total == by[MIG_CANCELLED], "stats: cancelled_total %lld, %lld records", s.cancelled_total,
          by[MIG_CANCELLED]);
    check(s.retried_total == retries, "stats: retried_total %lld, the records' retries %lld", s.retried_total, retries);
    check(s.ready == 0 && s.leases == 0 && s.scheduled == 0 && s.cleanups_pending == 0,
          "queues left: ready %lld, leases %lld, scheduled %lld, cleanups %lld", s.ready, s.leases, s.scheduled,
          s.cleanups_pending);
    store_stats_free(&s);
}

/* Reads every migration of Redis and runs the record, event, move and counter checks.
 * Fills the summary's counts. */
static void records_check(int *completed, int *failed, int *cancelled, int *unacked, int *retries) {
    redisReply *ids = all_ids();
    size_t n = ids->elements;
    soak_mig_t *v = calloc(n + 1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        migration_init(&v[i].m);
        ck_assert_int_eq(store_get_migration(fx_rc, ids->element[i]->str, &v[i].m), 0);
        v[i].server = v[i].m.server_id && v[i].m.server_id[0] == 's' ? atoi(v[i].m.server_id + 1) - 1 : -1;
        v[i].chain = -1;
    }
    freeReplyObject(ids);
    for (int i = 0; i < soak.nacks; i++) {
        soak_mig_t *g = find_mig(v, n, soak.acks[i].id);
        check(g != NULL, "acknowledged migration %s of s%d is not in Redis", soak.acks[i].id, soak.acks[i].server + 1);
        if (g) g->wait_until = soak.acks[i].not_before;
    }
    events_read(v, n);
    *completed = *failed = *cancelled = *unacked = *retries = 0;
    for (size_t i = 0; i < n; i++) {
        record_check(&v[i]);
        *completed += v[i].m.status == MIG_COMPLETED;
        *failed += v[i].m.status == MIG_FAILED;
        *cancelled += v[i].m.status == MIG_CANCELLED;
        *retries += v[i].m.retry_count;
        int known = 0;
        for (int k = 0; k < soak.nacks && !known; k++) known = strcmp(soak.acks[k].id, v[i].m.id) == 0;
        *unacked += !known;
    }
    moves_check(v, n);
    stats_check(v, n);
    for (size_t i = 0; i < n; i++) migration_clear(&v[i].m);
    free(v);
}

/* ---- the run ------------------------------------------------------------------------- */

/* Copies the case's folder (logs, fleet, append-only file) to $TMPDIR/migsoak-<seed>-<pid>
 * before the runner removes it, so that a violation can be looked into; returns where. */
static const char *keep_logs(void) {
    static char dest[300];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dest, sizeof dest, "%s/migsoak-%llu-%d", tmp, (unsigned long long)soak.seed, (int)getpid());
    const char *argv[] = {"cp", "-a", fx_redis.dir, dest, NULL};
    pid_t pid = harness_spawn(argv, NULL);
    int st = pid > 0 ? harness_wait(pid, 60000) : -1;
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? dest : fx_redis.dir;
}

/* Stops a program of ours with SIGTERM; a violation unless it exits 0. */
static void stop_clean(pid_t *pid, const char *what, const char *log) {
    if (*pid <= 0) return;
    int st;
    harness_stop_pid(*pid, &st);
    *pid = 0;
    char how[96];
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s on SIGTERM; see %s", what,
          harness_status_text(st, how, sizeof how), log);
}

static uint64_t soak_seeds[2];

START_TEST(test_soak_random_faults_leave_every_migration_ended_and_the_fleet_whole) {
    memset(&soak, 0, sizeof soak);
    soak.seed = soak_seeds[_i];
    const char *secs = getenv("MIG_SOAK_SECONDS");
    soak.seconds = secs && atoi(secs) > 0 ? atoi(secs) : SOAK_SECONDS_DEFAULT;
    soak.redis = fx_redis.pid;
    for (int i = 0; i < SOAK_WORKERS; i++) soak.w[i].pause = -1;
    atexit(soak_reap);
    rng_seed(soak.seed);

    char *fleet = fleet_json();
    const char *sim_flags[] = {"--sim-speed=10", NULL};
    stack_start(&soak.st, fleet, sim_flags, SCHED_FLAGS, 0);
    free(fleet);
    soak.sched_starts = 1; /* stack_start's, logging into scheduler.log */
    for (int i = 0; i < SOAK_WORKERS; i++) worker_start(i);
    ck_assert_msg(api_proc_start(&soak.api, fx_redis.url, NULL, fx_redis.dir, 0) == 0, "migrate-api did not start");

    /* the fault phase: a random step every 0.1 to 0.5 s, a migration or a fault */
    int64_t t0 = timefmt_mono_ms(), end = t0 + (int64_t)soak.seconds * 1000;
    while (timefmt_mono_ms() < end) {
        soak_tick();
        inflight_sample();
        int roll = rng_range(0, 99);
        if (roll < 45)
            for (int k = rng_range(1, 3); k > 0; k--) load_create(); /* bursts keep several in flight */
        else if (roll < 52)
            load_cancel();
        else
            fault_inject();
        timefmt_sleep_ms(rng_range(100, 500));
    }
    soak_undo();
    int64_t t_undone = timefmt_mono_ms();

    /* the fixture's connection may be stale after a restart of Redis: a fresh one */
    rconn_free(fx_rc);
    fx_rc = fx_new_conn();

    /* every migration ends, every clean-up drains, the fleet settles */
    int ended = wait_all_ended(t_undone + SOAK_DRAIN_MS);
    int64_t t_ended = timefmt_mono_ms();
    for (int64_t dl = timefmt_mono_ms() + SOAK_SETTLE_MS; ended && zcard("mig:cleanups") > 0 && timefmt_mono_ms() < dl;) {
        soak_tick();
        timefmt_sleep_ms(200);
    }
    for (int64_t dl = timefmt_mono_ms() + SOAK_SETTLE_MS; ended && fleet_check(0) > 0 && timefmt_mono_ms() < dl;) {
        soak_tick();
        timefmt_sleep_ms(200);
    }
    int completed = 0, failed = 0, cancelled = 0, unacked = 0, retries = 0, watched = 0, refused = 0;
    if (ended) {
        check(zcard("mig:cleanups") == 0, "%lld clean-up items still pending %d s after every migration ended",
              zcard("mig:cleanups"), SOAK_SETTLE_MS / 1000);
        fleet_check(1);
        fencing_check(&watched, &refused);
        records_check(&completed, &failed, &cancelled, &unacked, &retries);
    }
    cJSON *state = sim_state();
    int fired = jint(state, "faults_fired");
    cJSON_Delete(state);

    char faults[512];
    int nf = 0;
    for (int i = 0; i < F_COUNT; i++)
        nf +=
            snprintf(faults + nf, sizeof faults - (size_t)nf, "%s%s=%d", i ? " " : "", FAULT_NAMES[i], soak.faults[i]);
    printf("soak seed=%llu seconds=%d: migrations acknowledged=%d (api %d, store %d; %d refused; %d unacknowledged "
           "found in Redis) completed=%d failed=%d cancelled=%d retries=%d; in flight: mean %.1f, max %d; "
           "faults: %s; sim faults fired=%d; paused workers' tokens watched=%d, stale calls refused=%d; ended %lld s "
           "after the faults stopped; checks=%d violations=%d; logs in %s\n",
           (unsigned long long)soak.seed, soak.seconds, soak.nacks, soak.created_api, soak.created_store,
           soak.create_refused, unacked, completed, failed, cancelled, retries,
           soak.steps ? (double)soak.inflight_sum / soak.steps : 0.0, soak.inflight_max, faults, fired, watched,
           refused, (long long)(t_ended - t_undone) / 1000, soak.checks, soak.violations, fx_redis.dir);
    fflush(stdout);

    /* every program exits 0 on SIGTERM: nothing hangs or crashes on its way out */
    for (int i = 0; i < SOAK_WORKERS; i++) {
        char what[32], log[320];
        snprintf(what, sizeof what, "worker %s", soak.w[i].id);
        snprintf(log, sizeof log, "%s/%s", fx_redis.dir, soak.w[i].log);
        stop_clean(&soak.w[i].pid, what, log);
    }
    int api_st = api_proc_stop(&soak.api);
    char how[96];
    check(WIFEXITED(api_st) && WEXITSTATUS(api_st) == 0, "migrate-api %s on SIGTERM; see %s",
          harness_status_text(api_st, how, sizeof how), soak.api.log);
    stack_stop(&soak.st);
    if (soak.redis_ours) ck_assert_msg(harness_stop_pid(soak.redis, NULL) == 0, "redis-server hung on SIGTERM");
    soak.redis = 0;
    free(soak.acks);
    ck_assert_msg(
        soak.violations == 0, "seed %llu: %d invariant violations (of %d checks); the first: %s; logs kept in %s",
        (unsigned long long)soak.seed, soak.violations, soak.checks, soak.first, soak.violations ? keep_logs() : "");
}
END_TEST

Suite *suite_soak(void) {
    Suite *s = suite_create("soak");
    const char *seed = getenv("MIG_SOAK_SEED"), *secs = getenv("MIG_SOAK_SECONDS");
    int seconds = secs && atoi(secs) > 0 ? atoi(secs) : SOAK_SECONDS_DEFAULT;
    int runs = 2;
    soak_seeds[0] = SOAK_SEED_A;
    soak_seeds[1] = SOAK_SEED_B;
    if (seed && *seed) {
        soak_seeds[0] = strtoull(seed, NULL, 10);
        runs = 1;
    }
    /* one case per seed: each has its own redis-server, which the run kills and replaces */
    for (int i = 0; i < runs; i++) {
        static char names[2][32]; /* Check keeps the pointer, not a copy */
        snprintf(names[i], sizeof names[i], "soak-%llu", (unsigned long long)soak_seeds[i]);
        TCase *tc = tcase_create(names[i]);
        tcase_add_unchecked_fixture(tc, soak_redis_up, fx_redis_down);
        tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
        tcase_set_timeout(tc, seconds + SOAK_MARGIN_S);
        tcase_add_loop_test(tc, test_soak_random_faults_leave_every_migration_ended_and_the_fleet_whole, i, i + 1);
        suite_add_tcase(s, tc);
    }
    return s;
}
