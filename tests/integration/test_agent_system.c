/* test_agent_system.c - the whole system against real node agents: a private
 * redis-server, two bin/migrate-agent processes on loopback (own directories, one token),
 * the inventory written into Redis by the test (each node's address is its agent's
 * host:port), the real bin/migrate-scheduler and bin/migrate-worker, and fleet-sim only as
 * the proxy bridge. The server is tests/support/mcfake, provisioned on agent A and writing
 * its world all along. A migration A->B completes with B running the world A had at the
 * quiesce (mcfake's checksums at save-off and at B's start-up); a target agent without
 * room fails the preparing phase and rolls back, leaving A running and nothing on B. Every wait polls against a deadline;
 * every process is stopped by PID. */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fixture.h"
#include "core/timefmt.h"
#include "suites.h"
#include "tests/support/http_client.h"

#define TIMEOUT_S 180  /* a migration of a small world between two sanitized agents, twice */
#define WAIT_MS 60000  /* longest wait for a state that takes a second or two unloaded */
#define TOKEN "agent-secret"
#define PEER "peer-secret"

typedef struct {
    pid_t pid;
    int port;
    char dir[300];
    char addr[64]; /* 127.0.0.1:port: the node's address in the inventory */
} sys_agent_t;

static sys_agent_t ag[2];
static pid_t sim_pid, sched_pid, worker_pid;
static char sim_url[64];

static const char *bindir(void) {
    return getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
}

/* Spawns `argv` logging into the fixture's folder as `log`; returns the pid. */
static pid_t spawn(const char *const *argv, const char *log, char *path, size_t cap) {
    /* the folder is the test case's, shared by its tests: a log per test (forked) */
    snprintf(path, cap, "%s/%d-%s", fx_redis.dir, (int)getpid(), log);
    pid_t pid = harness_spawn(argv, path);
    ck_assert_msg(pid > 0, "cannot start %s", argv[0]);
    return pid;
}

/* Waits for `event` with the port in `log` of `pid`. */
static int wait_port(pid_t pid, const char *log, const char *event) {
    int port;
    for (int waited = 0; (port = proc_port_from_log(log, event)) == 0; waited += 10) {
        ck_assert_msg(harness_wait(pid, 0) == -1, "%s: exited; see %s", event, log);
        ck_assert_msg(waited < WAIT_MS, "%s: not started; see %s", event, log);
        timefmt_sleep_ms(10);
    }
    return port;
}

/* Starts agent `i` on 127.0.0.1 (mcfake serves loopback's 127.0.0.1; the proxy of
 * fleet-sim resolves an address by its host, below) with `ram` MB to offer. */
static void agent_up(int i, const char *ram) {
    sys_agent_t *a = &ag[i];
    snprintf(a->dir, sizeof a->dir, "%s/%d-agent%d", fx_redis.dir, (int)getpid(), i);
    char bin[300], dir[320], cmd[400], ramf[64], log[32], path[400];
    snprintf(bin, sizeof bin, "%s/migrate-agent", bindir());
    snprintf(dir, sizeof dir, "--agent-dir=%s", a->dir);
    char *cwd = getcwd(NULL, 0);
    if (bindir()[0] == '/') snprintf(cmd, sizeof cmd, "--agent-command=exec %s/../tests/support/mcfake", bindir());
    else snprintf(cmd, sizeof cmd, "--agent-command=exec %s/%s/../tests/support/mcfake", cwd, bindir());
    free(cwd);
    snprintf(ramf, sizeof ramf, "--agent-ram-mb=%s", ram);
    snprintf(log, sizeof log, "agent%d.log", i);
    const char *argv[] = {bin, "--agent-listen=127.0.0.1:0", dir, cmd, "--agent-token=" TOKEN,
                          "--agent-peer-token=" PEER, "--agent-stop-timeout-ms=2000", "--log-level=debug",
                          "--agent-disk-mb=100000", ramf, NULL};
    a->pid = spawn(argv, log, path, sizeof path);
    a->port = wait_port(a->pid, path, "agent.started");
    snprintf(a->addr, sizeof a->addr, "127.0.0.1:%d", a->port);
}

/* fleet-sim as the proxy bridge only: one node on 127.0.0.1 and a server named
 * "Server-1" running there, so the proxy knows the name and finds a running container
 * behind any 127.0.0.1 address (players_resolve: a host with another port is the
 * server's container on that host). Its own inventory (node p1, server p1) is apart
 * from the one the test writes. */
static void sim_up(void) {
    char fleet[300], fleet_arg[320], bin[300], path[400], url[352];
    snprintf(fleet, sizeof fleet, "%s/%d-proxy-fleet.json", fx_redis.dir, (int)getpid());
    FILE *f = fopen(fleet, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"nodes\":[{\"id\":\"p1\",\"name\":\"Proxy-Host\",\"address\":\"127.0.0.1\",\"eur_hour\":0.1,"
          "\"ram_total_mb\":65536,\"disk_total_mb\":500000}],"
          "\"servers\":[{\"id\":\"p1\",\"name\":\"Server-1\",\"node_id\":\"p1\",\"ram_mb\":512,\"disk_mb\":100,"
          "\"write_mb_s\":0,\"players\":0,\"mean_players\":0}]}",
          f);
    fclose(f);
    snprintf(fleet_arg, sizeof fleet_arg, "--sim-fleet=%s", fleet);
    snprintf(bin, sizeof bin, "%s/fleet-sim", bindir());
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    const char *argv[] = {bin, url, "--sim-listen=127.0.0.1:0", fleet_arg, "--sim-zero-delays=1",
                          "--log-level=debug", NULL};
    sim_pid = spawn(argv, "sim.log", path, sizeof path);
    snprintf(sim_url, sizeof sim_url, "http://127.0.0.1:%d", wait_port(sim_pid, path, "sim.started"));
}

/* The scheduler and one worker, calling agents at http://{node_address}. */
static void control_plane_up(void) {
    char bin[300], url[352], proxy[128], path[400];
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    snprintf(bin, sizeof bin, "%s/migrate-scheduler", bindir());
    const char *sargv[] = {bin, url, "--log-level=debug", "--tick-ms=100", "--idle-s=0", "--leader-ttl-ms=1000",
                           "--recheck-ms=1000", NULL};
    sched_pid = spawn(sargv, "scheduler.log", path, sizeof path);
    char wbin[300];
    snprintf(wbin, sizeof wbin, "%s/migrate-worker", bindir());
    snprintf(proxy, sizeof proxy, "--driver-proxy-url=%s/proxy", sim_url);
    const char *wargv[] = {wbin, url, "--log-level=debug", "--driver-node-url=http://{node_address}", proxy,
                           "--driver-token=" TOKEN, "--worker-id=w0", "--poll-ms=20", "--lease-ms=3000",
                           "--retry-backoff-ms=100", "--cooldown-s=0", "--downtime-budget-ms=5000",
                           "--driver-timeout-ms=10000", NULL};
    worker_pid = spawn(wargv, "worker.log", path, sizeof path);
}

/* The inventory: n1 (agent A) and n2 (agent B), server s1 "Server-1" on n1. */
static void inventory(void) {
    const char *n1[] = {"name", "Node-A", "address", ag[0].addr, "healthy", "1", "ram_total_mb", "65536",
                        "ram_free_mb", "60000", "disk_free_mb", "100000", "eur_hour", "0.30"};
    const char *n2[] = {"name", "Node-B", "address", ag[1].addr, "healthy", "1", "ram_total_mb", "65536",
                        "ram_free_mb", "60000", "disk_free_mb", "100000", "eur_hour", "0.15"};
    ck_assert_int_eq(store_put_node(fx_rc, "n1", n1, 7), 0);
    ck_assert_int_eq(store_put_node(fx_rc, "n2", n2, 7), 0);
    const char *s1[] = {"name", "Server-1", "node_id", "n1", "players", "0", "state", "running",
                        "ram_mb", "512", "disk_mb", "50"};
    ck_assert_int_eq(store_put_server(fx_rc, "s1", s1, 6), 0);
}

/* Calls agent `i` with the worker's token; returns the status, *out the body. */
static long call(int i, const char *method, const char *path, const char *body, cJSON **out) {
    char url[256];
    snprintf(url, sizeof url, "http://%s%s", ag[i].addr, path);
    http_resp_t r;
    ck_assert_msg(http_call(method, url, TOKEN, NULL, body, &r) == 0, "%s %s unreachable", method, url);
    long st = r.status;
    if (out) {
        *out = r.json;
        r.json = NULL;
    }
    http_resp_free(&r);
    return st;
}

static const char *state_of(int i, const char *id, char *buf, size_t cap) {
    char path[128];
    snprintf(path, sizeof path, "/v1/containers/%s", id);
    cJSON *o = NULL;
    long st = call(i, "GET", path, NULL, &o);
    const char *s = st == 404 ? "absent" : cJSON_GetStringValue(cJSON_GetObjectItem(o, "state"));
    snprintf(buf, cap, "%s", s ? s : "?");
    cJSON_Delete(o);
    return buf;
}

static void wait_state(int i, const char *id, const char *want) {
    char got[32];
    for (int waited = 0; strcmp(state_of(i, id, got, sizeof got), want) != 0; waited += 20) {
        ck_assert_msg(waited < WAIT_MS, "%s on agent %d is %s, not %s", id, i, got, want);
        timefmt_sleep_ms(20);
    }
}

/* Provisions s1 on agent A (no migration: its own container), with a world of a few
 * region files and RCON, and starts it. */
static void provision(void) {
    ck_assert_int_eq(call(0, "POST", "/v1/containers", "{\"server_id\":\"s1\",\"ram_mb\":512,\"disk_mb\":50}", NULL),
                     201);
    char path[400];
    snprintf(path, sizeof path, "%s/servers/s1/world/region", ag[0].dir);
    char cmd[500];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
    ck_assert_int_eq(system(cmd), 0);
    static unsigned char block[1 << 20];
    for (int k = 0; k < 3; k++) {
        for (size_t j = 0; j < sizeof block; j++) block[j] = (unsigned char)(j * 131 + (size_t)k * 7 + j / 4096);
        snprintf(path, sizeof path, "%s/servers/s1/world/region/r.%d.1.mca", ag[0].dir, k);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fwrite(block, 1, sizeof block, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/servers/s1/server.properties", ag[0].dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    int ports[2];
    for (int k = 0; k < 2; k++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t l = sizeof sa;
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        getsockname(fd, (struct sockaddr *)&sa, &l);
        close(fd);
        ports[k] = ntohs(sa.sin_port);
    }
    fprintf(f, "server-port=%d\nenable-rcon=true\nrcon.port=%d\nrcon.password=pw\n", ports[0], ports[1]);
    fclose(f);
    long st = call(0, "POST", "/v1/containers/s1/start", NULL, NULL);
    ck_assert_msg(st == 200 || st == 202, "start: %ld", st);
    wait_state(0, "s1", "running");
}

static void create_migration(migration_t *m) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = "s1";
    c.to_node_id = "n2";
    c.savings_eur_hour = 0.15;
    c.start_now = true;
    c.max_retries = 0;
    migration_init(m);
    ck_assert_msg(store_create_migration(fx_rc, &c, m) == 0, "create: %s", fx_rc->err);
}

static const mig_status_t ENDED[] = {MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED};

static void wait_ended(migration_t *m) {
    char id[MIG_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", m->id);
    for (int waited = 0;; waited += 50) {
        ck_assert_int_eq(store_get_migration(fx_rc, id, m), 0);
        for (int i = 0; i < 3; i++)
            if (m->status == ENDED[i]) return;
        ck_assert_msg(waited < WAIT_MS * 2, "migration %s still %s (%s)", id, states_name(m->status),
                      m->progress_message ? m->progress_message : "-");
        timefmt_sleep_ms(50);
    }
}

/* The content of file `rel` in agent i's s1 directory (caller frees), or NULL. */
static char *slurp(int i, const char *rel) {
    char path[400];
    snprintf(path, sizeof path, "%s/servers/s1/%s", ag[i].dir, rel);
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static void setup(void) {
    memset(ag, 0, sizeof ag);
    sim_pid = sched_pid = worker_pid = 0;
}

/* Stops `*pid` with SIGTERM; notes in `bad` unless it exited 0. */
static void stop(pid_t *pid, const char *name, char *bad, size_t cap) {
    if (*pid <= 0) return;
    int st;
    int hung = harness_stop_pid(*pid, &st) != 0;
    *pid = 0;
    if (!hung && WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    char how[64];
    size_t n = strlen(bad);
    snprintf(bad + n, cap - n, "%s: %s; ", name, hung ? "hung" : harness_status_text(st, how, sizeof how));
}

/* Kills the servers an agent left running (own process groups), from its state file. */
static void kill_servers(const sys_agent_t *a) {
    char path[400];
    snprintf(path, sizeof path, "%s/state/agent.json", a->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *o = cJSON_Parse(buf), *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(o, "servers")) {
        int pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "pid"));
        if (pid > 0) kill(-pid, SIGKILL);
    }
    cJSON_Delete(o);
}

static void teardown(void) {
    char bad[512] = "";
    stop(&worker_pid, "migrate-worker", bad, sizeof bad);
    stop(&sched_pid, "migrate-scheduler", bad, sizeof bad);
    stop(&sim_pid, "fleet-sim", bad, sizeof bad);
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "agent %d", i);
        stop(&ag[i].pid, name, bad, sizeof bad);
        if (ag[i].dir[0]) kill_servers(&ag[i]);
    }
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

/* Brings the system up with agent B offering `ram_b` MB, s1 running on A. */
static void system_up(const char *ram_b) {
    agent_up(0, "100000");
    agent_up(1, ram_b);
    sim_up();
    inventory();
    provision();
    control_plane_up();
}

START_TEST(test_system_moves_a_writing_server_between_real_agents) {
    system_up("100000");
    migration_t m;
    create_migration(&m);
    wait_ended(&m);
    ck_assert_msg(m.status == MIG_COMPLETED, "migration %s: %s (%s)", states_name(m.status),
                  m.error_message ? m.error_message : "-", m.progress_message ? m.progress_message : "-");
    /* the server runs on B, and A holds nothing of it */
    wait_state(1, "s1", "running");
    wait_state(0, "s1", "absent");
    /* B started on exactly the world A had when it was quiesced: mcfake's checksum at
     * A's save-off (copied with the world) against its checksum at B's start-up */
    char *at_quiesce = slurp(1, "save-off.sum"), *at_start = NULL;
    ck_assert_msg(at_quiesce != NULL && strstr(at_quiesce, "world/region/r.0.0.mca"), "no save-off.sum on B");
    for (int waited = 0; at_start == NULL; waited += 20) {
        at_start = slurp(1, "start.sum");
        ck_assert_msg(waited < WAIT_MS, "B's server wrote no start.sum");
        if (at_start == NULL) timefmt_sleep_ms(20);
    }
    ck_assert_str_eq(at_start, at_quiesce);
    free(at_quiesce);
    free(at_start);
    /* the inventory says B */
    server_t *v;
    size_t n;
    ck_assert_int_eq(store_list_servers(fx_rc, &v, &n), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].id, "s1") == 0) {
            found = true;
            ck_assert_str_eq(v[i].node_id, "n2");
        }
    store_servers_free(v, n);
    ck_assert(found);
    migration_clear(&m);
}
END_TEST

START_TEST(test_system_target_agent_without_room_fails_preparing_and_rolls_back) {
    /* s1 asks 512 MB; B's agent offers 100 (the inventory says 60000: the agent's own
     * /v1/health is what the worker's capacity check believes) */
    system_up("100");
    migration_t m;
    create_migration(&m);
    wait_ended(&m);
    ck_assert_msg(m.status == MIG_FAILED, "migration %s", states_name(m.status));
    ck_assert_msg(m.error_message && strstr(m.error_message, "node n2: 100 MB RAM free"), "failed for another reason: %s",
                  m.error_message ? m.error_message : "-");
    ck_assert_msg(m.rollback_success == 1, "rollback failed: %s", m.error_message ? m.error_message : "-");
    wait_state(0, "s1", "running");
    char got[32];
    ck_assert_str_eq(state_of(1, "s1", got, sizeof got), "absent");
    /* the original saves again: its world keeps changing */
    char path[400];
    snprintf(path, sizeof path, "%s/servers/s1/world/level.log", ag[0].dir);
    struct stat a, b;
    ck_assert_int_eq(stat(path, &a), 0);
    for (int waited = 0;; waited += 20) {
        ck_assert_int_eq(stat(path, &b), 0);
        if (b.st_size != a.st_size) break;
        ck_assert_msg(waited < WAIT_MS, "the original server no longer writes its world");
        timefmt_sleep_ms(20);
    }
    migration_clear(&m);
}
END_TEST

Suite *suite_agent_system(void) {
    Suite *s = suite_create("agent_system");
    TCase *tc = tcase_create("agent_system");
    tcase_add_unchecked_fixture(tc, fx_redis_up, fx_redis_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_test(tc, test_system_moves_a_writing_server_between_real_agents);
    tcase_add_test(tc, test_system_target_agent_without_room_fails_preparing_and_rolls_back);
    suite_add_tcase(s, tc);
    return s;
}
