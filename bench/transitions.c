/* transitions.c - benchmark of the state machine: full migration lifecycles through the
 * C store layer against a private redis-server, with CLIENTS concurrent clients, and in
 * the same run the raw ceiling: a trivial function call (mig_version) with the same
 * clients and the same number of round trips.
 *
 * Prints transitions per second, the ratio to the ceiling, Redis CPU per function call
 * (usec_per_call of FCALL in INFO commandstats), and Redis memory per migration record
 * with its index entries.
 *
 *   build/rel/bench/transitions [lifecycles] [clients] */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "tests/support/redis_harness.h"

#define PROGRESS_STEPS 3 /* progress reports per lifecycle, as a sync would send */
/* Round trips of one lifecycle: create, promote, claim, progress x3, advance x2, complete. */
#define CALLS_PER_LIFECYCLE (6 + PROGRESS_STEPS)
/* Status changes of one lifecycle: created, preparing, transferring, completing, completed. */
#define TRANSITIONS_PER_LIFECYCLE 5

static harness_redis_t redis;
static int lifecycles = 20000, clients = 50;
static pthread_barrier_t start;

static rconn_t *conn(void) {
    char err[256];
    rconn_opts_t o = {.url = redis.url, .prefix = "mig:", .timeout_ms = 10000};
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    if (rc == NULL || rconn_load_library(rc) != 0) {
        fprintf(stderr, "bench: cannot connect: %s\n", rc ? rc->err : err);
        exit(1);
    }
    return rc;
}

static void must(int rv, rconn_t *rc, const char *what) {
    if (rv != 0) {
        fprintf(stderr, "bench: %s: %s (%s)\n", what, mig_errname(rv), rc->err);
        exit(1);
    }
}

/* One client's share: lifecycles of its own servers, one at a time. */
static void *lifecycle_client(void *arg) {
    int c = (int)(intptr_t)arg;
    rconn_t *rc = conn();
    migration_t m;
    migration_init(&m);
    char wid[32];
    snprintf(wid, sizeof wid, "bench-%d", c);
    pthread_barrier_wait(&start);
    for (int i = c; i < lifecycles; i += clients) {
        char sid[32];
        snprintf(sid, sizeof sid, "s%d", i);
        migration_create_t req;
        migration_create_init(&req);
        req.server_id = sid;
        req.to_node_id = "n2";
        req.savings_eur_hour = 0.15;
        must(store_create_migration(rc, &req, &m), rc, "create");
        must(store_promote(rc, m.id), rc, "promote");
        /* another client's entry may come first off the shared queue: run whatever we got */
        must(store_claim(rc, wid, 60000, &m), rc, "claim");
        store_report_t rep;
        store_report_init(&rep);
        for (int p = 1; p <= PROGRESS_STEPS; p++) {
            rep.data_sync_progress = p * 100 / PROGRESS_STEPS;
            rep.progress_message = "Syncing world";
            must(store_report_progress(rc, m.id, m.lease_token, &rep), rc, "progress");
        }
        must(store_advance(rc, m.id, m.lease_token, MIG_TRANSFERRING, NULL), rc, "advance");
        must(store_advance(rc, m.id, m.lease_token, MIG_COMPLETING, NULL), rc, "advance");
        must(store_complete(rc, m.id, m.lease_token, 0, NULL, NULL), rc, "complete");
    }
    migration_clear(&m);
    rconn_free(rc);
    return NULL;
}

/* ---- the floor ---------------------------------------------------------------------------- */

/* The floor of a lifecycle: a library whose functions make the Redis calls their mig_*
 * namesakes make in the lifecycle above, in the same order, on keys of the same shapes
 * and sizes (prefix "floor:", the fleet read from "mig:"), with the logic taken out: no
 * argument checks, no Lua table of the record, event texts of the real events' length as
 * constants. What separates it from the trivial call is the cost of the commands a
 * lifecycle must make in Redis 7.0 Functions; what separates the lifecycle from it is
 * the library's own Lua. */
static const char FLOOR_LUA[] =
    "#!lua name=migfloor\n"
    "local EV = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\n"
    "local function now() local t = redis.call('TIME') return t[1] .. string.sub(t[2] .. '000', 1, 3) end\n"
    "local function event(p) local id = redis.call('XADD', p .. 'events', 'MAXLEN', '~', '100000', '*', 'e', EV)\n"
    "    redis.call('PUBLISH', p .. 'events', '{\"event_id\":\"' .. id .. '\",' .. EV) end\n"
    "local function fl_create(keys, args)\n"
    "    local p, id, sid = keys[1], args[1], args[2]\n"
    "    redis.call('EXISTS', p .. 'm:' .. id)\n"
    "    local srv = redis.call('HMGET', 'mig:server:' .. sid, 'node_id', 'name')\n"
    "    redis.call('HGET', 'mig:node:n2', 'name')\n"
    "    redis.call('HGET', 'mig:node:' .. srv[1], 'name')\n"
    "    redis.call('GET', p .. 'active:' .. sid)\n"
    "    redis.call('PTTL', p .. 'cooldown:' .. sid)\n"
    "    local t = now()\n"
    "    redis.call('ZADD', p .. 'sched', t, id)\n"
    "    local h = {'id', id, 'server_id', sid, 'server_name', srv[2], 'from_node_id', srv[1], 'from_node_name', 'Node-A',\n"
    "        'to_node_id', 'n2', 'to_node_name', 'Node-B', 'status', 'scheduled', 'reason', 'manual',\n"
    "        'triggered_by', 'admin', 'savings_eur_hour', '0.15', 'savings_eur_month', '109.5', 'created_at', t,\n"
    "        'updated_at', t, 'retry_count', '0', 'max_retries', '3', 'data_sync_progress', '0', 'scheduled_at', t,\n"
    "        'not_before', t}\n"
    "    redis.call('HSET', p .. 'm:' .. id, unpack(h))\n"
    "    redis.call('ZADD', p .. 'idx:all', t, id)\n"
    "    redis.call('ZADD', p .. 'idx:status:scheduled', t, id)\n"
    "    redis.call('ZADD', p .. 'idx:server:' .. sid, t, id)\n"
    "    redis.call('ZADD', p .. 'idx:reason:manual', t, id)\n"
    "    redis.call('SET', p .. 'active:' .. sid, id)\n"
    "    redis.call('HINCRBY', p .. 'stats', 'created_total', '1')\n"
    "    event(p)\n"
    "    return h\n"
    "end\n"
    "local function fl_promote(keys, args)\n"
    "    local p, id = keys[1], args[1]\n"
    "    redis.call('HMGET', p .. 'm:' .. id, 'status', 'lease_token', 'server_id', 'created_at')\n"
    "    redis.call('ZSCORE', p .. 'sched', id)\n"
    "    redis.call('ZREM', p .. 'sched', id)\n"
    "    redis.call('RPUSH', p .. 'ready', id)\n"
    "    redis.call('HSET', p .. 'm:' .. id, 'updated_at', now())\n"
    "    redis.call('HDEL', p .. 'm:' .. id, 'blocked_reason')\n"
    "    return 1\n"
    "end\n"
    "local function fl_claim(keys, args)\n"
    "    local p = keys[1]\n"
    "    local id = redis.call('LPOP', p .. 'ready')\n"
    "    local h = redis.call('HMGET', p .. 'm:' .. id, 'status', 'lease_token', 'server_id', 'created_at', 'recovering',\n"
    "        'started_at')\n"
    "    local t = now()\n"
    "    local token = redis.call('INCR', p .. 'lease_seq')\n"
    "    redis.call('ZADD', p .. 'leases', string.format('%d', t + 60000), id)\n"
    "    redis.call('HSET', p .. 'm:' .. id, 'status', 'preparing', 'updated_at', t, 'started_at', t, 'lease_owner',\n"
    "        args[1], 'lease_token', token, 'lease_expires_at', string.format('%d', t + 60000), 'data_sync_progress', '0')\n"
    "    redis.call('HDEL', p .. 'm:' .. id, 'phase_step', 'not_before', 'blocked_reason', 'progress_message')\n"
    "    redis.call('ZREM', p .. 'idx:status:scheduled', id)\n"
    "    redis.call('ZADD', p .. 'idx:status:preparing', h[4], id)\n"
    "    event(p)\n"
    "    return redis.call('HGETALL', p .. 'm:' .. id)\n"
    "end\n"
    "local function fl_progress(keys, args)\n"
    "    local p, id = keys[1], args[1]\n"
    "    redis.call('HMGET', p .. 'm:' .. id, 'status', 'lease_token', 'server_id', 'created_at', 'data_sync_progress',\n"
    "        'progress_message', 'phase_step')\n"
    "    redis.call('HSET', p .. 'm:' .. id, 'updated_at', now(), 'data_sync_progress', args[2], 'progress_message', args[3])\n"
    "    event(p)\n"
    "    return 1\n"
    "end\n"
    "local function fl_advance(keys, args)\n"
    "    local p, id = keys[1], args[1]\n"
    "    local h = redis.call('HMGET', p .. 'm:' .. id, 'status', 'lease_token', 'server_id', 'created_at')\n"
    "    redis.call('HSET', p .. 'm:' .. id, 'status', args[2], 'updated_at', now())\n"
    "    redis.call('ZREM', p .. 'idx:status:' .. h[1], id)\n"
    "    redis.call('ZADD', p .. 'idx:status:' .. args[2], h[4], id)\n"
    "    event(p)\n"
    "    return 1\n"
    "end\n"
    "local function fl_complete(keys, args)\n"
    "    local p, id = keys[1], args[1]\n"
    "    local h = redis.call('HMGET', p .. 'm:' .. id, 'status', 'lease_token', 'server_id', 'created_at', 'started_at',\n"
    "        'savings_eur_hour', 'savings_eur_month', 'players_transferred', 'player_downtime_ms', 'warning')\n"
    "    local t = now()\n"
    "    redis.call('ZREM', p .. 'leases', id)\n"
    "    redis.call('GET', p .. 'active:' .. h[3])\n"
    "    redis.call('DEL', p .. 'active:' .. h[3])\n"
    "    redis.call('HSET', p .. 'm:' .. id, 'status', 'completed', 'updated_at', t, 'completed_at', t, 'duration_seconds',\n"
    "        '0.020', 'data_sync_progress', '100')\n"
    "    redis.call('HDEL', p .. 'm:' .. id, 'lease_owner', 'lease_token', 'lease_expires_at', 'recovering')\n"
    "    redis.call('ZREM', p .. 'idx:status:completing', id)\n"
    "    redis.call('ZADD', p .. 'idx:status:completed', h[4], id)\n"
    "    event(p)\n"
    "    redis.call('HINCRBY', p .. 'stats', 'completed_total', '1')\n"
    "    redis.call('HINCRBY', p .. 'stats', 'duration_ms_sum', '20')\n"
    "    redis.call('HINCRBYFLOAT', p .. 'stats', 'savings_eur_hour_sum', h[6])\n"
    "    redis.call('HINCRBYFLOAT', p .. 'stats', 'savings_eur_month_sum', h[7])\n"
    "    event(p)\n"
    "    return {'id', id, 'status', 'completed', 'retry_count', '0', 'duration_seconds', '0.020'}\n"
    "end\n"
    "redis.register_function('fl_create', fl_create)\n"
    "redis.register_function('fl_promote', fl_promote)\n"
    "redis.register_function('fl_claim', fl_claim)\n"
    "redis.register_function('fl_progress', fl_progress)\n"
    "redis.register_function('fl_advance', fl_advance)\n"
    "redis.register_function('fl_complete', fl_complete)\n";

/* FCALL <fn> 1 floor: <args> (up to 3, NULL-terminated early); the reply when `keep`,
 * freed otherwise. */
static redisReply *floor_call(rconn_t *rc, const char *fn, const char *a1, const char *a2, const char *a3, int keep) {
    const char *av[] = {"FCALL", fn, "1", "floor:", a1, a2, a3};
    int argc = 4 + (a1 != NULL) + (a1 && a2) + (a1 && a2 && a3), code;
    redisReply *r = rconn_command(rc, argc, av, NULL, &code);
    if (r == NULL) must(code, rc, fn);
    if (!keep) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* The lifecycle of lifecycle_client, call for call, through the floor's functions. */
static void *floor_client(void *arg) {
    int c = (int)(intptr_t)arg;
    rconn_t *rc = conn();
    char wid[32];
    snprintf(wid, sizeof wid, "bench-%d", c);
    pthread_barrier_wait(&start);
    for (int i = c; i < lifecycles; i += clients) {
        char sid[32], id[32], pct[12];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(id, sizeof id, "f%d", i);
        floor_call(rc, "fl_create", id, sid, NULL, 0);
        floor_call(rc, "fl_promote", id, NULL, NULL, 0);
        /* another client's entry may come first off the shared queue: run what came */
        redisReply *r = floor_call(rc, "fl_claim", wid, NULL, NULL, 1);
        snprintf(id, sizeof id, "%s", r->element[1]->str);
        freeReplyObject(r);
        for (int p = 1; p <= PROGRESS_STEPS; p++) {
            snprintf(pct, sizeof pct, "%d", p * 100 / PROGRESS_STEPS);
            floor_call(rc, "fl_progress", id, pct, "Syncing world", 0);
        }
        floor_call(rc, "fl_advance", id, "transferring", NULL, 0);
        floor_call(rc, "fl_advance", id, "completing", NULL, 0);
        floor_call(rc, "fl_complete", id, NULL, NULL, 0);
    }
    rconn_free(rc);
    return NULL;
}

/* The ceiling: the same number of round trips, each a trivial function call. */
static void *trivial_client(void *arg) {
    int c = (int)(intptr_t)arg;
    rconn_t *rc = conn();
    const char *av[] = {"FCALL_RO", "mig_version", "0"};
    pthread_barrier_wait(&start);
    for (int i = c; i < lifecycles; i += clients) {
        for (int k = 0; k < CALLS_PER_LIFECYCLE; k++) {
            int code;
            redisReply *r = rconn_command(rc, 3, av, NULL, &code);
            if (r == NULL) must(code, rc, "mig_version");
            freeReplyObject(r);
        }
    }
    rconn_free(rc);
    return NULL;
}

static double run(void *(*fn)(void *)) {
    pthread_t *t = calloc((size_t)clients, sizeof *t);
    pthread_barrier_init(&start, NULL, (unsigned)clients + 1);
    for (int i = 0; i < clients; i++) pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i);
    pthread_barrier_wait(&start);
    int64_t t0 = timefmt_mono_ms();
    for (int i = 0; i < clients; i++) pthread_join(t[i], NULL);
    int64_t t1 = timefmt_mono_ms();
    pthread_barrier_destroy(&start);
    free(t);
    return (double)(t1 - t0) / 1000.0;
}

/* A field of INFO as a number, e.g. info_num("memory", "used_memory:"). */
static double info_num(const char *section, const char *field) {
    redisReply *r = harness_redis_cmd(&redis, "INFO %s", section);
    double v = -1;
    const char *p = r ? strstr(r->str, field) : NULL;
    if (p) v = strtod(p + strlen(field), NULL);
    if (r) freeReplyObject(r);
    return v;
}

/* usec_per_call of FCALL since the last CONFIG RESETSTAT. */
static double fcall_usec(void) {
    redisReply *cs = harness_redis_cmd(&redis, "INFO commandstats");
    double v = -1;
    const char *p = cs ? strstr(cs->str, "cmdstat_fcall:") : NULL;
    if (p && (p = strstr(p, "usec_per_call="))) v = strtod(p + 14, NULL);
    if (cs) freeReplyObject(cs);
    harness_redis_cmd(&redis, "CONFIG RESETSTAT");
    return v;
}

/* Redis CPU of each function of a lifecycle, one phase at a time over `n` migrations
 * of servers s0..s<n-1> (which must have none yet), with one client. */
static void profile(rconn_t *rc, int n) {
    char (*ids)[MIG_ID_MAX + 1] = calloc((size_t)n, sizeof *ids);
    uint64_t *tok = calloc((size_t)n, sizeof *tok);
    migration_t m;
    migration_init(&m);
    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 50;
    rep.progress_message = "Syncing world";
    printf("  redis CPU per call, by function (usec, %d calls each):", n);
    harness_redis_cmd(&redis, "CONFIG RESETSTAT");
    for (int i = 0; i < n; i++) {
        char sid[32];
        snprintf(sid, sizeof sid, "s%d", i);
        migration_create_t req;
        migration_create_init(&req);
        req.server_id = sid;
        req.to_node_id = "n2";
        req.savings_eur_hour = 0.15;
        must(store_create_migration(rc, &req, &m), rc, "create");
        snprintf(ids[i], sizeof ids[i], "%s", m.id);
    }
    printf(" create %.1f", fcall_usec());
    for (int i = 0; i < n; i++) must(store_promote(rc, ids[i]), rc, "promote");
    printf(", promote %.1f", fcall_usec());
    for (int i = 0; i < n; i++) {
        must(store_claim(rc, "bench", 60000, &m), rc, "claim");
        snprintf(ids[i], sizeof ids[i], "%s", m.id);
        tok[i] = m.lease_token;
    }
    printf(", claim %.1f", fcall_usec());
    for (int i = 0; i < n; i++) must(store_report_progress(rc, ids[i], tok[i], &rep), rc, "progress");
    printf(", progress %.1f", fcall_usec());
    for (int i = 0; i < n; i++) must(store_heartbeat(rc, ids[i], tok[i], 60000, NULL), rc, "heartbeat");
    printf(", heartbeat %.1f", fcall_usec());
    for (int i = 0; i < n; i++) must(store_advance(rc, ids[i], tok[i], MIG_TRANSFERRING, NULL), rc, "advance");
    printf(", advance %.1f", fcall_usec());
    for (int i = 0; i < n; i++) must(store_advance(rc, ids[i], tok[i], MIG_COMPLETING, NULL), rc, "advance");
    for (int i = 0; i < n; i++) must(store_complete(rc, ids[i], tok[i], 0, NULL, NULL), rc, "complete");
    printf(", complete %.1f\n", fcall_usec());
    migration_clear(&m);
    free(ids);
    free(tok);
}

static void fleet(rconn_t *rc) {
    const char *n1[] = {"name", "Node-A", "eur_hour", "0.30"};
    const char *n2[] = {"name", "Node-B", "eur_hour", "0.15"};
    must(store_put_node(rc, "n1", n1, 2), rc, "node");
    must(store_put_node(rc, "n2", n2, 2), rc, "node");
    for (int i = 0; i < lifecycles; i++) {
        char sid[32], name[32];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(name, sizeof name, "Server-%d", i);
        const char *s[] = {"name", name, "node_id", "n1"};
        must(store_put_server(rc, sid, s, 2), rc, "server");
    }
}

int main(int argc, char **argv) {
    if (argc > 1) lifecycles = atoi(argv[1]);
    if (argc > 2) clients = atoi(argv[2]);
    if (lifecycles < clients || clients < 1) {
        fprintf(stderr, "usage: transitions [lifecycles >= clients] [clients >= 1]\n");
        return 2;
    }
    log_init("bench", LOG_WARN);
    if (harness_redis_start(&redis, NULL) != 0) return 1;
    /* Redis on core 0, the clients on core 1: on this 2-core machine the clients would
     * otherwise preempt Redis and inflate its measured time per call. */
    cpu_set_t one, other;
    CPU_ZERO(&one);
    CPU_ZERO(&other);
    CPU_SET(0, &one);
    CPU_SET(1, &other);
    if (sched_setaffinity(redis.pid, sizeof one, &one) != 0 || sched_setaffinity(0, sizeof other, &other) != 0)
        fprintf(stderr, "bench: could not pin (single core?); figures include contention\n");
    rconn_t *rc = conn();
    fleet(rc);

    harness_redis_cmd(&redis, "CONFIG RESETSTAT");
    double ceil_s = run(trivial_client);
    double ceil_calls = (double)lifecycles * CALLS_PER_LIFECYCLE / ceil_s;

    redisReply *fl = harness_redis_cmd(&redis, "FUNCTION LOAD REPLACE %s", FLOOR_LUA);
    if (fl == NULL || fl->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "bench: cannot load the floor library: %s\n", fl ? fl->str : "no reply");
        return 1;
    }
    freeReplyObject(fl);
    harness_redis_cmd(&redis, "CONFIG RESETSTAT");
    double floor_s = run(floor_client);
    double floor_calls = (double)lifecycles * CALLS_PER_LIFECYCLE / floor_s;
    double floor_usec = fcall_usec();

    double mem0 = info_num("memory", "used_memory:");
    redisReply *ev0 = harness_redis_cmd(&redis, "MEMORY USAGE mig:events");
    double evmem0 = ev0 && ev0->type == REDIS_REPLY_INTEGER ? (double)ev0->integer : 0;
    if (ev0) freeReplyObject(ev0);
    harness_redis_cmd(&redis, "CONFIG RESETSTAT");
    double life_s = run(lifecycle_client);
    double calls = (double)lifecycles * CALLS_PER_LIFECYCLE / life_s;
    double trans = (double)lifecycles * TRANSITIONS_PER_LIFECYCLE / life_s;

    redisReply *cs = harness_redis_cmd(&redis, "INFO commandstats");
    double usec_per_call = -1;
    const char *p = cs ? strstr(cs->str, "cmdstat_fcall:") : NULL;
    if (p && (p = strstr(p, "usec_per_call="))) usec_per_call = strtod(p + 14, NULL);
    if (cs) freeReplyObject(cs);

    double mem1 = info_num("memory", "used_memory:");
    redisReply *ev1 = harness_redis_cmd(&redis, "MEMORY USAGE mig:events");
    double evmem1 = ev1 && ev1->type == REDIS_REPLY_INTEGER ? (double)ev1->integer : 0;
    if (ev1) freeReplyObject(ev1);
    store_query_t q = {"", "", "", 1, 0};
    store_page_t page;
    must(store_list_migrations(rc, &q, &page), rc, "list");
    redisReply *mu = harness_redis_cmd(&redis, "MEMORY USAGE mig:m:%s", page.items[0].id);
    long long hash_bytes = mu && mu->type == REDIS_REPLY_INTEGER ? mu->integer : -1;
    if (mu) freeReplyObject(mu);
    store_page_free(&page);
    double per_record = ((mem1 - mem0) - (evmem1 - evmem0)) / lifecycles;

    printf("transitions: %d lifecycles, %d clients, %d round trips each (%d status changes)\n",
           lifecycles, clients, CALLS_PER_LIFECYCLE, TRANSITIONS_PER_LIFECYCLE);
    printf("  ceiling (trivial FCALL_RO mig_version): %.0f calls/s\n", ceil_calls);
    printf("  lifecycles: %.0f calls/s, %.0f status changes/s, %.0f lifecycles/s\n", calls, trans,
           lifecycles / life_s);
    printf("  ratio to ceiling (calls/s): %.2f\n", calls / ceil_calls);
    printf("  floor (the same Redis calls without the library's logic): %.0f calls/s, ratio to ceiling %.2f; "
           "%.2f usec of redis CPU per call\n", floor_calls, floor_calls / ceil_calls, floor_usec);
    printf("  lifecycle / floor (calls/s): %.2f\n", calls / floor_calls);
    printf("  redis CPU per function call: %.2f usec (INFO commandstats, FCALL usec_per_call)\n",
           usec_per_call);
    printf("  memory per migration: hash %lld B (MEMORY USAGE); with index entries %.0f B "
           "(used_memory delta, events stream excluded)\n",
           hash_bytes, per_record);

    profile(rc, lifecycles < 5000 ? lifecycles : 5000);
    rconn_free(rc);
    harness_redis_stop(&redis);
    return 0;
}
