/* test_sentinel.c - Redis high availability: a primary, a replica and three sentinels on
 * loopback. The connection finds the primary through Sentinel and follows a failover by
 * itself; a write no replica confirmed is not acknowledged; a demoted primary's READONLY
 * drops the connection. And the whole stack (API, scheduler, two workers, fleet-sim)
 * carries on through a SIGKILL of the primary in the middle of a batch of migrations,
 * without losing one that the API acknowledged. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "core/err.h"
#include "core/rconn.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"
#include "tests/support/sentinel_harness.h"

static ha_t ha;

/* A connection through the harness's sentinels that waits for its one replica: up to
 * 2 s, where a replica on loopback confirms in about a millisecond, so that only a write
 * no replica can confirm (the tests' point) ever runs into it. */
static rconn_t *ha_conn(void) {
    rconn_opts_t o = {.sentinels = ha.sentinels, .master = HA_MASTER, .timeout_ms = 2000, .wait_replicas = 1,
                      .wait_ms = 2000};
    char err[256];
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    ck_assert_msg(rc != NULL, "rconn_new: %s", err);
    return rc;
}

static void ha_up(void) {
    ck_assert_msg(ha_start(&ha) == 0, "the sentinel harness did not start");
}

/* HGET `key` `field` on node `i`, straight to it (around the store on purpose); ""
 * when nil. */
static void node_hget(int i, const char *key, const char *field, char *out, size_t cap) {
    redisReply *r = ha_cmd(&ha, i, "HGET %s %s", key, field);
    ck_assert_msg(r != NULL, "node %d unreachable", i);
    snprintf(out, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* ------------------------------------------------------------------------ the connection */

START_TEST(test_rconn_finds_the_primary_through_sentinel_and_follows_a_failover) {
    ha_up();
    rconn_t *rc = ha_conn();
    ck_assert_ptr_nonnull(rc->ctx);
    ck_assert_int_eq(rc->addr.port, ha.node[0].port);
    rconn_opts_t o = {.sentinels = ha.sentinels, .master = HA_MASTER, .timeout_ms = 2000};
    rconn_addr_t a;
    char err[512];
    ck_assert_msg(rconn_resolve(&o, &a, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(a.port, ha.node[0].port);
    const char *n1[] = {"name", "Node-A", "address", "127.0.0.1", "healthy", "1"};
    ck_assert_msg(store_put_node(rc, "n1", n1, 3) == 0, "put: %s", rc->err);

    ha_kill_node(&ha, 0);
    int64_t t0 = timefmt_mono_ms();
    int failures = 0;
    for (;;) {
        node_t *nodes;
        size_t n;
        int rv = store_list_nodes(rc, &nodes, &n);
        if (rv == 0) {
            /* the write acknowledged before the kill is on the new primary */
            ck_assert_int_eq(n, 1);
            ck_assert_str_eq(nodes[0].id, "n1");
            store_nodes_free(nodes, n);
            break;
        }
        ck_assert_msg(rv == MIG_EREDIS, "during the failover: %s (%s)", mig_errname(rv), rc->err);
        failures++;
        ck_assert_msg(timefmt_mono_ms() - t0 < 30000, "no failover after 30 s: %s", rc->err);
        timefmt_sleep_ms(100);
    }
    fprintf(stderr, "sentinel: the connection followed the failover in %lld ms (%d failed calls)\n",
            (long long)(timefmt_mono_ms() - t0), failures);
    ck_assert_int_gt(failures, 0);
    ck_assert_int_eq(rc->addr.port, ha.node[1].port);
    ck_assert_msg(rconn_resolve(&o, &a, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(a.port, ha.node[1].port);

    /* the new primary has no replica: a write is applied but not acknowledged */
    const char *n2[] = {"name", "Node-B", "address", "127.0.0.2", "healthy", "1"};
    ck_assert_int_eq(store_put_node(rc, "n2", n2, 3), MIG_EREDIS);
    ck_assert_msg(strstr(rc->err, "not yet replicated") != NULL, "%s", rc->err);
    char v[64];
    node_hget(1, "mig:node:n2", "name", v, sizeof v);
    ck_assert_str_eq(v, "Node-B");

    /* a primary that lost the library: the check after the reconnect loads it again */
    freeReplyObject(ha_cmd(&ha, 1, "FUNCTION FLUSH"));
    ck_assert_msg(ha_restart_as_replica(&ha, 0, 1, 20000) == 0, "node 0 did not rejoin");
    const char *n3[] = {"name", "Node-C", "address", "127.0.0.3", "healthy", "1"};
    ck_assert_msg(store_put_node(rc, "n3", n3, 3) == 0, "put after the replica returned: %s", rc->err);
    node_hget(0, "mig:node:n3", "name", v, sizeof v);
    ck_assert_str_eq(v, "Node-C"); /* WAIT said so: the replica holds it */
    rconn_free(rc);
    ck_assert_int_eq(ha_stop(&ha), 0);
}
END_TEST

START_TEST(test_write_without_its_replica_is_not_acknowledged) {
    ha_up();
    rconn_t *rc = ha_conn();
    const char *n1[] = {"name", "Node-A", "address", "127.0.0.1", "healthy", "1"};
    ck_assert_msg(store_put_node(rc, "n1", n1, 3) == 0, "put: %s", rc->err);
    ha_kill_node(&ha, 1);
    ck_assert_int_eq(store_put_node(rc, "n2", n1, 3), MIG_EREDIS);
    ck_assert_msg(strstr(rc->err, "not yet replicated (0 of 1 replicas") != NULL, "%s", rc->err);
    /* lease renewals and progress are not waited for: a lost one repairs itself */
    int code = store_heartbeat(rc, "no-such-migration", 1, 1000, NULL);
    ck_assert_msg(code == MIG_ENOT_FOUND || code == MIG_ESTALE, "heartbeat: %s (%s)", mig_errname(code), rc->err);
    store_report_t rep;
    store_report_init(&rep);
    rep.data_sync_progress = 50;
    code = store_report_progress(rc, "no-such-migration", 1, &rep);
    ck_assert_msg(code == MIG_ENOT_FOUND || code == MIG_ESTALE, "progress: %s (%s)", mig_errname(code), rc->err);
    /* reads go on */
    node_t *nodes;
    size_t n;
    ck_assert_int_eq(store_list_nodes(rc, &nodes, &n), 0);
    store_nodes_free(nodes, n);
    ck_assert_msg(ha_restart_as_replica(&ha, 1, 0, 20000) == 0, "node 1 did not rejoin");
    ck_assert_msg(store_put_node(rc, "n2", n1, 3) == 0, "put: %s", rc->err);
    rconn_free(rc);
    ck_assert_int_eq(ha_stop(&ha), 0);
}
END_TEST

START_TEST(test_readonly_replica_answer_drops_the_connection) {
    ha_up();
    rconn_t *primary = ha_conn();
    const char *n1[] = {"name", "Node-A", "address", "127.0.0.1", "healthy", "1"};
    ck_assert_msg(store_put_node(primary, "n1", n1, 3) == 0, "put: %s", primary->err); /* library replicated */
    /* a connection by URL straight to the replica, as one left on a demoted primary */
    char url[64], err[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ha.node[1].port);
    rconn_opts_t o = {.url = url, .timeout_ms = 2000};
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    ck_assert_ptr_nonnull(rc);
    node_t *nodes;
    size_t n;
    ck_assert_int_eq(store_list_nodes(rc, &nodes, &n), 0); /* a read is fine there */
    store_nodes_free(nodes, n);
    ck_assert_ptr_nonnull(rc->ctx);
    ck_assert_int_eq(store_put_node(rc, "n2", n1, 3), MIG_EREDIS);
    ck_assert_msg(strncmp(rc->err, "READONLY", 8) == 0, "%s", rc->err);
    ck_assert_ptr_null(rc->ctx); /* the next call connects afresh */
    rconn_free(rc);
    rconn_free(primary);
    ck_assert_int_eq(ha_stop(&ha), 0);
}
END_TEST

/* ------------------------------------------------------------------------ the stack */

#define SERVERS 40          /* one migration per server: a server has one at a time */
#define BEFORE 12           /* migrations created before the kill */
#define AFTER 10            /* migrations created once the failover is over */

typedef struct {
    const char *name;
    pid_t pid;
    char log[320];
} prog_t;

/* sim, scheduler, two workers, api, and a WebSocket client of the API's relay */
static prog_t progs[6] = {{"fleet-sim", 0, ""},      {"migrate-scheduler", 0, ""}, {"migrate-worker", 0, ""},
                          {"migrate-worker", 0, ""}, {"migrate-api", 0, ""},       {"migratectl", 0, ""}};
enum { P_SIM, P_SCHED, P_W0, P_W1, P_API, P_WATCH, P_COUNT };

/* Starts program `p` with the Sentinel settings and `args` (NULL-terminated), logging
 * into the harness's folder. */
static void prog_start(prog_t *p, int index, const char *const *args) {
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], sentinels[160];
    snprintf(bin, sizeof bin, "%s/%s", bindir, p->name);
    snprintf(sentinels, sizeof sentinels, "--redis-sentinels=%s", ha.sentinels);
    snprintf(p->log, sizeof p->log, "%s/%s-%d.log", ha.dir, p->name, index);
    const char *argv[32] = {bin, sentinels, "--redis-master=" HA_MASTER, "--log-level=debug"};
    int n = p == &progs[P_WATCH] ? 1 : 4; /* the client knows only the API */
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    p->pid = harness_spawn(argv, p->log);
    ck_assert_msg(p->pid > 0, "cannot start %s", p->name);
}

/* Waits until program `p` logs `event` with its port. */
static int prog_port(prog_t *p, const char *event) {
    int port = 0;
    for (int i = 0; i < 1000 && (port = proc_port_from_log(p->log, event)) == 0; i++) {
        ck_assert_msg(harness_wait(p->pid, 0) == -1, "%s exited; see %s", p->name, p->log);
        timefmt_sleep_ms(10);
    }
    ck_assert_msg(port > 0, "%s did not start; see %s", p->name, p->log);
    return port;
}

/* Writes the fleet: two big nodes, SERVERS small servers on n1 without players. */
static void write_fleet(const char *path) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"nodes\":["
          "{\"id\":\"n1\",\"name\":\"Node-A\",\"eur_hour\":0.40,\"ram_total_mb\":262144,\"disk_total_mb\":900000},"
          "{\"id\":\"n2\",\"name\":\"Node-B\",\"eur_hour\":0.20,\"ram_total_mb\":262144,\"disk_total_mb\":900000}],"
          "\"servers\":[",
          f);
    for (int i = 1; i <= SERVERS; i++)
        fprintf(f,
                "%s{\"id\":\"s%d\",\"name\":\"Server-%d\",\"node_id\":\"n1\",\"ram_mb\":512,\"disk_mb\":256,"
                "\"write_mb_s\":1,\"mean_players\":0}",
                i > 1 ? "," : "", i, i);
    fputs("]}", f);
    ck_assert_int_eq(fclose(f), 0);
}

/* POSTs a migration of server s<i> to n2 through the API; returns the status and puts
 * the new id in `id` on a 201. */
static long create(const char *base, int i, char *id, size_t cap) {
    char url[128], body[160];
    snprintf(url, sizeof url, "%s/api/migrations", base);
    snprintf(body, sizeof body, "{\"server_id\":\"s%d\",\"to_node_id\":\"n2\",\"max_retries\":20,\"start_now\":true}",
             i);
    http_resp_t r;
    ck_assert_msg(http_call("POST", url, NULL, NULL, body, &r) == 0, "the API is unreachable");
    long st = r.status;
    if (st == 201) {
        const cJSON *jid = cJSON_GetObjectItem(r.json, "id");
        ck_assert(cJSON_IsString(jid));
        snprintf(id, cap, "%s", jid->valuestring);
    } else if (st != 503 && st != 409) {
        ck_abort_msg("POST s%d: %ld %s", i, st, r.body);
    }
    http_resp_free(&r);
    return st;
}

/* The acknowledged migrations and the tally of answers. */
typedef struct {
    char ids[SERVERS][64];
    int acked;
    int n503_during, n503_after, unacked_exists;
    int next;          /* the next server to create a migration for */
    int retrying;      /* the last answer for server `next` was a 503 */
} batch_t;

/* One create attempt for server b->next: a 201 is acknowledged; a 503 is retried on the
 * same server, and a 409 after a 503 says the unacknowledged write was kept after all
 * (the primary applied it, only the replica's confirmation was missing): not counted. */
static long create_next(const char *base, batch_t *b, int *n503) {
    long st = create(base, b->next, b->ids[b->acked], sizeof b->ids[0]);
    if (st == 201) {
        b->acked++;
        b->next++;
        b->retrying = 0;
    } else if (st == 503) {
        (*n503)++;
        b->retrying = 1;
    } else {
        ck_assert_msg(b->retrying, "409 for s%d without an earlier 503", b->next);
        b->unacked_exists++;
        b->next++;
        b->retrying = 0;
    }
    return st;
}

/* Counts the "migration.completed" events of migration `id` in the watch's output. */
static int watch_completed(const char *log, const char *id) {
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *e = line[0] == '{' ? cJSON_Parse(line) : NULL;
        /* the seed's envelope, {"type","event_id","data":{"id",...}}, or the flat form */
        const cJSON *d = cJSON_GetObjectItem(e, "data");
        const cJSON *t = cJSON_GetObjectItem(e, "type"),
                    *m = d ? cJSON_GetObjectItem(d, "id") : cJSON_GetObjectItem(e, "migration_id");
        n += cJSON_IsString(t) && cJSON_IsString(m) && strcmp(t->valuestring, "migration.completed") == 0 &&
             strcmp(m->valuestring, id) == 0;
        cJSON_Delete(e);
    }
    fclose(f);
    ck_assert_msg(n <= 1, "migration %s completed %d times in %s", id, n, log);
    return n;
}

/* Checks that the event ids of the watch's output strictly grow: none twice, none out
 * of order, across the relay's reconnect. */
static void watch_check_order(const char *log) {
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    unsigned long long ms = 0, seq = 0;
    int events = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *e = line[0] == '{' ? cJSON_Parse(line) : NULL;
        const cJSON *id = cJSON_GetObjectItem(e, "event_id");
        unsigned long long m2, s2;
        if (cJSON_IsString(id) && sscanf(id->valuestring, "%llu-%llu", &m2, &s2) == 2) {
            ck_assert_msg(m2 > ms || (m2 == ms && s2 > seq), "event %s after %llu-%llu in %s", id->valuestring, ms,
                          seq, log);
            ms = m2;
            seq = s2;
            events++;
        }
        cJSON_Delete(e);
    }
    fclose(f);
    ck_assert_int_gt(events, 0);
}

START_TEST(test_stack_carries_on_through_a_failover_mid_batch_and_loses_no_acknowledged_migration) {
    ha_up();
    int64_t t_start = timefmt_mono_ms();
    char fleet[320], fleet_arg[340];
    snprintf(fleet, sizeof fleet, "%s/fleet.json", ha.dir);
    write_fleet(fleet);
    snprintf(fleet_arg, sizeof fleet_arg, "--sim-fleet=%s", fleet);
    const char *sim_args[] = {"--sim-listen=127.0.0.1:0", fleet_arg, "--sim-report-ms=100", "--sim-start-ms=600",
                              "--sim-stop-ms=200", "--sim-bandwidth-mbps=1000", NULL};
    prog_start(&progs[P_SIM], 0, sim_args);
    char sim_url[64], node_url[128], proxy_url[128];
    snprintf(sim_url, sizeof sim_url, "http://127.0.0.1:%d", prog_port(&progs[P_SIM], "sim.started"));
    snprintf(node_url, sizeof node_url, "--driver-node-url=%s/nodes/{node_id}", sim_url);
    snprintf(proxy_url, sizeof proxy_url, "--driver-proxy-url=%s/proxy", sim_url);
    rconn_t *rc = ha_conn();
    for (int waited = 0;; waited += 50) {
        server_t *v;
        size_t got = 0;
        if (store_list_servers(rc, &v, &got) == 0) store_servers_free(v, got);
        if (got == SERVERS) break;
        ck_assert_msg(waited < 15000, "fleet-sim wrote %zu of %d servers; see %s", got, SERVERS, progs[P_SIM].log);
        timefmt_sleep_ms(50);
    }
    const char *sched_args[] = {"--tick-ms=100", "--idle-s=0", "--leader-ttl-ms=2000", "--recheck-ms=500",
                                "--max-parallel=20", "--max-parallel-per-node=20", NULL};
    prog_start(&progs[P_SCHED], 0, sched_args);
    /* leases outlive the failover (a few seconds), so a worker that keeps running keeps
     * its migration; steps that fail on Redis are retried soon */
    const char *w_args[][12] = {
        {node_url, proxy_url, "--worker-id=w0", "--concurrency=3", "--poll-ms=50", "--lease-ms=10000",
         "--retry-backoff-ms=200", "--cooldown-s=0", "--downtime-budget-ms=2000", "--driver-timeout-ms=2000", NULL},
        {node_url, proxy_url, "--worker-id=w1", "--concurrency=3", "--poll-ms=50", "--lease-ms=10000",
         "--retry-backoff-ms=200", "--cooldown-s=0", "--downtime-budget-ms=2000", "--driver-timeout-ms=2000", NULL}};
    prog_start(&progs[P_W0], 0, w_args[0]);
    prog_start(&progs[P_W1], 1, w_args[1]);
    const char *api_args[] = {"--api-listen=127.0.0.1:0", "--api-tokens=", NULL};
    prog_start(&progs[P_API], 0, api_args);
    char base[64], api_url[80];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", prog_port(&progs[P_API], "api.started"));
    /* a WebSocket client that stays connected through the failover: the relay must follow
     * the primary too, and catch up on what happened while it was away */
    snprintf(api_url, sizeof api_url, "--api-url=%s", base);
    const char *watch_args[] = {api_url, "watch", "--json", NULL};
    prog_start(&progs[P_WATCH], 0, watch_args);
    for (int waited = 0; proc_log_has(progs[P_API].log, "relay.connected") == 0; waited += 20) {
        ck_assert_msg(waited < 10000, "the relay did not connect; see %s", progs[P_API].log);
        timefmt_sleep_ms(20);
    }

    /* before: every create is acknowledged */
    static batch_t b;
    memset(&b, 0, sizeof b);
    b.next = 1;
    int n503_before = 0;
    while (b.acked < BEFORE) ck_assert_int_eq(create_next(base, &b, &n503_before), 201);
    /* kill once migrations run */
    for (int waited = 0;; waited += 20) {
        store_stats_t st;
        ck_assert_int_eq(store_get_stats(rc, &st), 0);
        long long running = st.leases;
        store_stats_free(&st);
        if (running >= 2) break;
        ck_assert_msg(waited < 15000, "no migration started; see %s", progs[P_W0].log);
        timefmt_sleep_ms(20);
    }
    int old = ha_primary(&ha);
    ck_assert_int_eq(old, 0);
    ha_kill_node(&ha, old);
    int64_t t_kill = timefmt_mono_ms();

    /* during: the API answers 503 until a primary with a replica is back. The first
     * create comes after the kill whatever the sentinels say by then: with the primary
     * gone, or a new one without its replica, it cannot be acknowledged. */
    int now = -1;
    do {
        if (b.next <= SERVERS) create_next(base, &b, &b.n503_during);
        ck_assert_msg(timefmt_mono_ms() - t_kill < 30000, "no failover within 30 s; logs in %s", ha.dir);
        if ((now = ha_primary(&ha)) < 0 || now == old) timefmt_sleep_ms(100);
    } while (now < 0 || now == old);
    int64_t t_failover = timefmt_mono_ms();
    ck_assert_msg(ha_restart_as_replica(&ha, old, now, 20000) == 0, "the old primary did not rejoin");
    int64_t t_replica = timefmt_mono_ms();

    /* after: every create is acknowledged again (a last one retried after a 503 may find
     * that its first attempt was kept: 409) */
    for (int target = b.acked + AFTER; b.acked < target && b.next <= SERVERS;)
        ck_assert_msg(create_next(base, &b, &b.n503_after) != 503, "503 after the failover; see %s", progs[P_API].log);
    ck_assert_int_ge(b.acked, BEFORE + AFTER);
    int64_t t_created = timefmt_mono_ms();

    /* every migration, acknowledged or not, ends completed on the new primary */
    redisReply *all = ha_cmd(&ha, now, "ZRANGE mig:idx:all 0 -1");
    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq(all->type, REDIS_REPLY_ARRAY);
    ck_assert_int_ge((long long)all->elements, b.acked);
    migration_t m;
    migration_init(&m);
    for (size_t i = 0; i < all->elements; i++) {
        for (int waited = 0;; waited += 100) {
            ck_assert_int_eq(store_get_migration(rc, all->element[i]->str, &m), 0);
            if (states_terminal(m.status)) break;
            ck_assert_msg(waited < 120000, "migration %s still %s (%s); logs in %s", m.id, states_name(m.status),
                          m.progress_message ? m.progress_message : "", ha.dir);
            timefmt_sleep_ms(100);
        }
        ck_assert_msg(m.status == MIG_COMPLETED, "migration %s of %s ended %s: %s", m.id, m.server_id,
                      states_name(m.status), m.error_message ? m.error_message : "");
    }
    migration_clear(&m);
    int64_t t_done = timefmt_mono_ms();
    /* every acknowledged migration is on the new primary, and in its index */
    for (int i = 0; i < b.acked; i++) {
        char key[96], status[32];
        snprintf(key, sizeof key, "mig:m:%s", b.ids[i]);
        node_hget(now, key, "status", status, sizeof status);
        ck_assert_msg(strcmp(status, "completed") == 0, "acknowledged migration %s: \"%s\" on the new primary",
                      b.ids[i], status);
        int found = 0;
        for (size_t k = 0; k < all->elements && !found; k++) found = strcmp(all->element[k]->str, b.ids[i]) == 0;
        ck_assert_msg(found, "acknowledged migration %s is not in idx:all", b.ids[i]);
    }
    /* what was created without an acknowledgement is the only surplus */
    ck_assert_int_le((long long)all->elements, b.acked + b.unacked_exists + b.n503_during);
    freeReplyObject(all);
    ck_assert_int_gt(b.n503_during, 0);
    ck_assert_int_eq(b.n503_after, 0);
    ck_assert_int_eq(n503_before, 0);

    /* the relay followed: the watch saw each acknowledged migration complete, once, and
     * every event once, in order */
    for (int waited = 0;; waited += 100) {
        int seen = 0;
        for (int i = 0; i < b.acked; i++) seen += watch_completed(progs[P_WATCH].log, b.ids[i]);
        if (seen == b.acked) break;
        ck_assert_msg(waited < 15000, "the watch saw %d of %d completions; see %s and %s", seen, b.acked,
                      progs[P_WATCH].log, progs[P_API].log);
        timefmt_sleep_ms(100);
    }
    watch_check_order(progs[P_WATCH].log);

    /* the programs carried on: none restarted or died, and the API answers */
    for (int i = 0; i < P_COUNT; i++)
        ck_assert_msg(harness_wait(progs[i].pid, 0) == -1, "%s exited; see %s", progs[i].name, progs[i].log);
    http_resp_t r;
    char health[96];
    snprintf(health, sizeof health, "%s/healthz", base);
    ck_assert_int_eq(http_call("GET", health, NULL, NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    fprintf(stderr,
            "sentinel: %d acknowledged (%d before the kill), %d 503s during the failover, %d kept unacknowledged; "
            "start %lld ms, failover %lld ms after the kill, replica back %lld ms later, creates done %lld ms later, "
            "all completed %lld ms later\n",
            b.acked, BEFORE, b.n503_during, b.unacked_exists, (long long)(t_kill - t_start),
            (long long)(t_failover - t_kill), (long long)(t_replica - t_failover), (long long)(t_created - t_replica),
            (long long)(t_done - t_created));

    /* each stops cleanly on SIGTERM (sanitizers and leak checks included) */
    for (int i = P_COUNT - 1; i >= 0; i--) {
        kill(progs[i].pid, SIGTERM);
        int st = harness_wait(progs[i].pid, 20000);
        if (st == -1) {
            kill(progs[i].pid, SIGKILL);
            harness_wait(progs[i].pid, 5000);
        }
        ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s did not stop cleanly (%d); see %s",
                      progs[i].name, st, progs[i].log);
        progs[i].pid = 0;
    }
    rconn_free(rc);
    ck_assert_int_eq(ha_stop(&ha), 0);
}
END_TEST

Suite *suite_sentinel(void) {
    Suite *s = suite_create("sentinel");
    TCase *tc = tcase_create("sentinel");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_rconn_finds_the_primary_through_sentinel_and_follows_a_failover);
    tcase_add_test(tc, test_write_without_its_replica_is_not_acknowledged);
    tcase_add_test(tc, test_readonly_replica_answer_drops_the_connection);
    tcase_add_test(tc, test_stack_carries_on_through_a_failover_mid_batch_and_loses_no_acknowledged_migration);
    suite_add_tcase(s, tc);
    return s;
}
