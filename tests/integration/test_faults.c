/* test_faults.c - crashes of the two stateful edges of the system, drilled with kill -9:
 * redis-server (append-only file, fsync on every write) in the middle of a batch of live
 * migrations and restarted on its own data, where no migration the API acknowledged may
 * be lost, every one ends completed or failed with its server back, no program needs a
 * restart, and a WebSocket client misses and repeats no event; and migrate-api under 100
 * WebSocket clients while events keep coming, where each client resumes with ?since on
 * the restarted API and ends with every event of the stream exactly once, in order. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "core/wsframe.h"
#include "core/timefmt.h"
#include "fixture.h"
#include "stack.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"
#include "tests/support/ws_client.h"

/* Redis persists every write before it answers, so a kill -9 loses nothing acknowledged:
 * the point of the first test is that the programs, not Redis, keep that promise. */
static const char *const AOF_ARGS[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

#define KILL_WAIT_MS 10000 /* a kill -9 ends a process at once: generous, for a busy machine */

/* ---- cleanup that outlives a failed assertion -------------------------------------------
 *
 * A failed assertion ends Check's forked test child at once (_exit), so no checked
 * teardown runs after it. The programs the test started die with that child
 * (PR_SET_PDEATHSIG, and Check's kill of its process group), but only the runner is left
 * to stop and reap them. So the test notes each PID it starts in a file in the case's
 * folder, the runner takes the orphans as their subreaper for the case's duration, and the
 * case's unchecked teardown stops and reaps each noted PID that is its child then. */

/* The file of noted PIDs; the same path in the runner and its forked test. */
static void pids_path(char *out, size_t cap) {
    snprintf(out, cap, "%s/faults-pids", fx_redis.dir);
}

/* Notes `pid`, started by the test, for the case's teardown. */
static void pid_note(pid_t pid) {
    char path[320];
    pids_path(path, sizeof path);
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)pid);
    ck_assert_int_eq(fclose(f), 0);
}

/* The test stopped every program itself: nothing is left for the teardown. */
static void pids_all_stopped(void) {
    char path[320];
    pids_path(path, sizeof path);
    unlink(path);
}

/* Unchecked setup of a case: its redis-server (with `extra` arguments) started in the
 * runner, as fx_redis_up does, so that fx_redis_down removes its folder however the test
 * ends; and the runner made the subreaper of what the test leaves behind. */
static void case_up(const char *const *extra) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) perror("faults: PR_SET_CHILD_SUBREAPER");
    if (harness_redis_start(&fx_redis, extra) != 0) {
        fprintf(stderr, "faults: cannot start redis-server\n");
        exit(1);
    }
}

static void aof_case_up(void) {
    case_up(AOF_ARGS);
}

static void plain_case_up(void) {
    case_up(NULL);
}

/* Unchecked teardown: stops (SIGTERM, then SIGKILL) and reaps each noted PID that is the
 * runner's child now, an orphan of a failed test. One that is not (reaped by the test, so
 * its PID may belong to anyone now) is left alone. Then the case's redis-server. After a
 * failed test the case's folder is kept, renamed, since its logs and its append-only file
 * are what tells why. */
static void case_down(void) {
    char path[320];
    pids_path(path, sizeof path);
    FILE *f = fopen(path, "r");
    int pid, left = 0;
    while (f && fscanf(f, "%d", &pid) == 1) {
        int st;
        if (pid <= 0 || waitpid(pid, &st, WNOHANG) != 0) continue; /* reaped now, or not ours */
        harness_stop_pid(pid, NULL);
        left++;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    if (f) {
        fclose(f);
        char kept[300];
        snprintf(kept, sizeof kept, "%s-failed", fx_redis.dir);
        harness_stop_pid(fx_redis.pid, NULL);
        fx_redis.pid = 0;
        if (rename(fx_redis.dir, kept) == 0) {
            fprintf(stderr, "faults: the test did not end cleanly (%d program(s) left running); logs kept in %s\n",
                    left, kept);
            fx_redis.dir[0] = '\0';
        }
    }
    fx_redis_down();
}

/* ---- stream ids ------------------------------------------------------------------------ */

/* A stream entry id, <ms>-<seq>, as numbers: ids only grow, so they compare as pairs. */
typedef struct {
    unsigned long long ms, seq;
} evid_t;

static int evid_parse(const char *s, evid_t *out) {
    return sscanf(s, "%llu-%llu", &out->ms, &out->seq) == 2 ? 0 : -1;
}

static int evid_cmp(const evid_t *a, const evid_t *b) {
    if (a->ms != b->ms) return a->ms < b->ms ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Runs `fmt` on a fresh connection to the case's redis-server (the fixture's own may be
 * stale after a restart) and fails the test on no answer. Free with freeReplyObject. */
static redisReply *raw_cmd(const char *fmt, const char *arg) {
    redisReply *r = harness_redis_cmd(&fx_redis, fmt, arg);
    ck_assert_msg(r != NULL, "redis-server unreachable for %s", fmt);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
    return r;
}

/* The ids of the events stream after `since` (exclusive), in the stream's order. Caller
 * frees *out. */
static void stream_ids_after(const char *since, evid_t **out, size_t *n) {
    char from[64];
    snprintf(from, sizeof from, "(%s", since);
    redisReply *r = raw_cmd("XRANGE mig:events %s +", from);
    *n = r->elements;
    *out = calloc(r->elements + 1, sizeof **out);
    ck_assert_ptr_nonnull(*out);
    for (size_t i = 0; i < r->elements; i++)
        ck_assert_int_eq(evid_parse(r->element[i]->element[0]->str, &(*out)[i]), 0);
    freeReplyObject(r);
}

/* The id of the stream's last entry into `out` ("0-0" when empty). */
static void stream_last(char *out, size_t cap) {
    redisReply *r = raw_cmd("XREVRANGE mig:events + - COUNT %s", "1");
    snprintf(out, cap, "%s", r->elements ? r->element[0]->element[0]->str : "0-0");
    freeReplyObject(r);
}

static long long stream_len(void) {
    redisReply *r = raw_cmd("XLEN %s", "mig:events");
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* How many events of the stream hold `needle` (for the summary, not an assertion). */
static int stream_count(const char *needle) {
    redisReply *r = raw_cmd("XRANGE mig:events - + COUNT %s", "1000000");
    int n = 0;
    for (size_t i = 0; i < r->elements; i++) n += strstr(r->element[i]->element[1]->element[1]->str, needle) != NULL;
    freeReplyObject(r);
    return n;
}

/* ---- WebSocket clients, many in one thread ----------------------------------------------- */

/* One WebSocket client of /api/ws that records every event id it gets and, when its
 * connection ends, opens a new one with ?since=<the last id it got>, as the dashboard
 * does. Many of them are served by one poll() loop (clients_pump). */
typedef struct {
    ws_t ws;            /* ws.fd is -1 while closed */
    evid_t *ids;        /* every event id received, in the order of arrival */
    size_t n, cap;
    char resume[48];    /* the since of the next connection: the last id received */
    int opens;          /* connections made, the first one included */
    int resyncs;        /* resync messages received (docs/EVENTS.md) */
    long long retry_at; /* monotonic ms: a refused upgrade is tried again after it */
} client_t;

/* Clients with no connection yet, each resuming after `since`. Free with clients_free. */
static client_t *clients_new(int n, const char *since) {
    client_t *c = calloc((size_t)n, sizeof *c);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < n; i++) {
        c[i].ws.fd = -1;
        snprintf(c[i].resume, sizeof c[i].resume, "%s", since);
    }
    return c;
}

static void clients_free(client_t *c, int n) {
    for (int i = 0; i < n; i++) {
        if (c[i].ws.fd >= 0) close(c[i].ws.fd);
        free(c[i].ids);
    }
    free(c);
}

/* Opens the client's connection with ?since=<resume>. Returns 1 when upgraded; on a
 * refusal (a relay that cannot replay yet, say) the client stays closed and tries again
 * a little later. */
static int client_open(client_t *c, int port) {
    char path[96];
    snprintf(path, sizeof path, "/api/ws?since=%s", c->resume);
    int st = ws_open(&c->ws, port, path, NULL, 0);
    if (st != 101) {
        c->ws.fd = -1;
        c->retry_at = timefmt_mono_ms() + 200;
        return 0;
    }
    c->ws.answer_pings = 0; /* answered here, without an assertion on a peer gone */
    c->opens++;
    return 1;
}

static void client_close(client_t *c) {
    close(c->ws.fd);
    c->ws.fd = -1;
}

/* Answers a ping. A send to a peer that was killed fails; that is no error of the test:
 * the next read shows the end, and the client resumes. */
static void client_pong(client_t *c, const char *payload, size_t len) {
    static const unsigned char mask[4] = {0x21, 0x43, 0x65, 0x87};
    unsigned char frame[WSFRAME_HEADER_MAX + WSFRAME_CONTROL_MAX];
    if (len > WSFRAME_CONTROL_MAX) return;
    size_t fl = wsframe_write(frame, WSFRAME_OP_PONG, payload, len, mask);
    ssize_t sent = send(c->ws.fd, frame, fl, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)sent;
}

/* Takes one message of the relay: an event's id is recorded and becomes the resume point;
 * a resync is counted; a close ends the connection. */
static void client_take(client_t *c, int op, const char *msg, long len) {
    if (op == WSFRAME_OP_PING) {
        client_pong(c, msg, (size_t)len);
        return;
    }
    if (op == WSFRAME_OP_CLOSE) {
        client_close(c);
        return;
    }
    if (op != WSFRAME_OP_TEXT) return;
    cJSON *j = cJSON_Parse(msg);
    ck_assert_msg(j != NULL, "not JSON: %s", msg);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "event_id");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "resync") == 0) {
        c->resyncs++;
    } else {
        ck_assert_msg(cJSON_IsString(id), "a message without event_id: %s", msg);
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 256;
            c->ids = realloc(c->ids, c->cap * sizeof *c->ids);
            ck_assert_ptr_nonnull(c->ids);
        }
        ck_assert_msg(evid_parse(id->valuestring, &c->ids[c->n]) == 0, "event_id %s", id->valuestring);
        c->n++;
        snprintf(c->resume, sizeof c->resume, "%s", id->valuestring);
    }
    cJSON_Delete(j);
}

/* Reads what the client's socket holds and takes every whole message in it. */
static void client_read(client_t *c) {
    static char msg[1 << 16];
    int got = ws_fill(&c->ws, 0);
    if (got == -2) {
        client_close(c);
        return;
    }
    int op;
    long len;
    while (c->ws.fd >= 0 && (len = ws_read(&c->ws, 0, &op, msg, sizeof msg)) >= 0) client_take(c, op, msg, len);
}

/* One round for `n` clients: with `port` > 0, each closed client due for it connects
 * again (resuming); then every open one that has something to read within `ms` is read. */
static void clients_pump(client_t *c, int n, int port, int ms) {
    static struct pollfd fds[256];
    static int who[256];
    ck_assert_int_le(n, 256);
    long long t = timefmt_mono_ms();
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].ws.fd < 0 && port > 0 && t >= c[i].retry_at) client_open(&c[i], port);
        if (c[i].ws.fd < 0) continue;
        fds[k] = (struct pollfd){.fd = c[i].ws.fd, .events = POLLIN};
        who[k++] = i;
    }
    if (k == 0) {
        timefmt_sleep_ms(ms);
        return;
    }
    int rv = poll(fds, (nfds_t)k, ms);
    ck_assert_msg(rv >= 0 || errno == EINTR, "poll: %s", strerror(errno));
    for (int j = 0; rv > 0 && j < k; j++)
        if (fds[j].revents) client_read(&c[who[j]]);
}

/* 1 when the client has received the event `end` or a later one. */
static int client_reached(const client_t *c, const evid_t *end) {
    return c->n > 0 && evid_cmp(&c->ids[c->n - 1], end) >= 0;
}

/* Fails unless client `index` received every entry of `want` (the stream's ids after its
 * first since, up to the last one the test looked at) exactly once, in order, nothing
 * that is not in the stream, and nothing twice. A client that got a resync was told to
 * reload (docs/EVENTS.md): it may miss events, but still never gets one twice or out of
 * order, nor one the stream does not hold. */
static void client_check(const client_t *c, int index, const evid_t *want, size_t nwant) {
    for (size_t i = 1; i < c->n; i++)
        ck_assert_msg(evid_cmp(&c->ids[i - 1], &c->ids[i]) < 0,
                      "client %d: event %llu-%llu (#%zu) after %llu-%llu: %s", index, c->ids[i].ms, c->ids[i].seq, i,
                      c->ids[i - 1].ms, c->ids[i - 1].seq,
                      evid_cmp(&c->ids[i - 1], &c->ids[i]) == 0 ? "a duplicate" : "out of order");
    ck_assert(nwant > 0);
    const evid_t *end = &want[nwant - 1];
    size_t got = 0;
    while (got < c->n && evid_cmp(&c->ids[got], end) <= 0) got++;
    if (c->resyncs > 0) {
        size_t w = 0;
        for (size_t i = 0; i < got; i++) {
            while (w < nwant && evid_cmp(&want[w], &c->ids[i]) < 0) w++;
            ck_assert_msg(w < nwant && evid_cmp(&want[w], &c->ids[i]) == 0,
                          "client %d: event %llu-%llu is not in the stream", index, c->ids[i].ms, c->ids[i].seq);
        }
        return;
    }
    for (size_t i = 0; i < nwant; i++) {
        ck_assert_msg(i < got, "client %d (%d connections): got %zu of the stream's %zu events; %llu-%llu is missing",
                      index, c->opens, got, nwant, want[i].ms, want[i].seq);
        ck_assert_msg(evid_cmp(&c->ids[i], &want[i]) == 0,
                      "client %d (%d connections): event #%zu is %llu-%llu where the stream has %llu-%llu (%s)", index,
                      c->opens, i, c->ids[i].ms, c->ids[i].seq, want[i].ms, want[i].seq,
                      evid_cmp(&c->ids[i], &want[i]) > 0 ? "one lost" : "one not in the stream");
    }
    ck_assert_int_eq(got, nwant);
}

/* ---- Redis killed with migrations in flight -------------------------------------------- */

#define T1_SERVERS 10           /* one migration each: a server has one at a time */
#define T1_PLAYERS 2            /* players of each server in fleet_json, who never leave */
#define T1_END_MS 120000        /* every migration ends within this after the restart */
#define T1_OUTAGE_MS 2500       /* Redis stays down past the workers' 1.5 s leases (stack.c), as a
                                 * restart by a supervisor takes: the jobs in flight lose their
                                 * leases and are recovered, not only retried */

/* Node-B is cheaper than Node-A. Ten servers on Node-A, each with two players who stay
 * and a world of 1 GB: at --sim-speed=20 a move takes a second or more (four syncs share
 * Node-B's 100 MB/s), so the kill finds several in flight. */
static char *fleet_json(void) {
    size_t cap = 8192;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    int n = snprintf(s, cap,
                     "{\"nodes\":["
                     "{\"id\":\"n1\",\"name\":\"Node-A\",\"eur_hour\":0.40,\"ram_total_mb\":262144,"
                     "\"disk_total_mb\":900000},"
                     "{\"id\":\"n2\",\"name\":\"Node-B\",\"eur_hour\":0.20,\"ram_total_mb\":262144,"
                     "\"disk_total_mb\":900000}],\"servers\":[");
    for (int i = 1; i <= T1_SERVERS; i++)
        n += snprintf(s + n, cap - (size_t)n,
                      "%s{\"id\":\"s%d\",\"name\":\"Server-%d\",\"node_id\":\"n1\",\"ram_mb\":2048,\"disk_mb\":1024,"
                      "\"write_mb_s\":1,\"mean_players\":0,\"players\":[\"P%da\",\"P%db\"]}",
                      i > 1 ? "," : "", i, i, i, i);
    snprintf(s + n, cap - (size_t)n, "]}");
    return s;
}

/* POSTs a migration of server s<i> to n2 that starts now (its players would hold it back
 * otherwise) with retries enough to outlast the outage; returns its id (caller frees). */
static char *create_via_api(const char *base, int i) {
    char url[128], body[160];
    snprintf(url, sizeof url, "%s/api/migrations", base);
    snprintf(body, sizeof body, "{\"server_id\":\"s%d\",\"to_node_id\":\"n2\",\"max_retries\":20,\"start_now\":true}",
             i);
    http_resp_t r;
    ck_assert_msg(http_call("POST", url, NULL, NULL, body, &r) == 0, "the API is unreachable");
    ck_assert_msg(r.status == 201, "POST s%d: %ld %s", i, r.status, r.body);
    const cJSON *id = cJSON_GetObjectItem(r.json, "id");
    ck_assert(cJSON_IsString(id));
    char *out = strdup(id->valuestring);
    http_resp_free(&r);
    return out;
}

/* Starts redis-server again on the case's folder, socket and append-only file, with the
 * same arguments as the harness gave the first one; returns its pid once it answers PING
 * (after it has loaded the file: while loading it answers LOADING). It is our child and
 * dies with the test if the test fails. */
static pid_t redis_restart_on_same_data(void) {
    char log[320];
    snprintf(log, sizeof log, "%s/redis-restarted.log", fx_redis.dir);
    const char *argv[32] = {"redis-server", "--port", "0", "--unixsocket", fx_redis.sock, "--unixsocketperm", "700",
                            "--dir", fx_redis.dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
                            "--logfile", log};
    int n = 17;
    for (int i = 0; AOF_ARGS[i]; i++) argv[n++] = AOF_ARGS[i];
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, NULL);
    ck_assert_int_gt(pid, 0);
    long long end = timefmt_mono_ms() + 30000;
    for (;;) {
        redisReply *r = harness_redis_cmd(&fx_redis, "PING");
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (ok) return pid;
        ck_assert_msg(harness_wait(pid, 0) == -1, "the restarted redis-server exited; see %s", log);
        ck_assert_msg(timefmt_mono_ms() < end, "the restarted redis-server does not answer; see %s", log);
        timefmt_sleep_ms(10);
    }
}

/* The WebSocket client of the first test, read by a thread of its own while the test
 * drives the stack; the API is never killed there, so it may always reconnect. */
static client_t *watcher;
static atomic_int watch_stop;
static int watch_port;

static void *watch_run(void *arg) {
    (void)arg;
    while (!atomic_load(&watch_stop)) clients_pump(watcher, 1, watch_port, 50);
    return NULL;
}

/* Waits for migration `id` to end, riding out the fixture's connection going stale
 * across the restart (it fails once, then connects again). Fails the test when the
 * migration is gone: Redis acknowledged its creation, so it must still be there. */
static void wait_ended(const char *id, long long deadline, migration_t *m) {
    for (;;) {
        int rv = store_get_migration(fx_rc, id, m);
        ck_assert_msg(rv != MIG_ENOT_FOUND, "acknowledged migration %s is lost after the restart", id);
        if (rv == 0 && states_terminal(m->status)) return;
        ck_assert_msg(rv == 0 || rv == MIG_EREDIS, "get %s: %s (%s)", id, mig_errname(rv), fx_rc->err);
        ck_assert_msg(timefmt_mono_ms() < deadline, "migration %s still %s (step %s, %s) %d s after the restart; logs in %s",
                      id, rv == 0 ? states_name(m->status) : "unreadable", m->phase_step ? m->phase_step : "-",
                      m->progress_message ? m->progress_message : "-", T1_END_MS / 1000, fx_redis.dir);
        timefmt_sleep_ms(100);
    }
}

/* Checks the simulated fleet against the inventory: each server has exactly one running
 * container, on the node its inventory (mig:server:<id> node_id) names, no waiting room
 * is left, and every server still has its players. Returns NULL when all holds, else
 * what does not (caller frees). */
static char *fleet_mismatch(flow_stack_t *st) {
    cJSON *state = stack_sim(st, "GET", "/control/state", NULL);
    char *why = NULL;
    for (int i = 1; i <= T1_SERVERS && why == NULL; i++) {
        char sid[16], inv[64] = "";
        snprintf(sid, sizeof sid, "s%d", i);
        redisReply *r = raw_cmd("HGET mig:server:%s node_id", sid);
        if (r->type == REDIS_REPLY_STRING) snprintf(inv, sizeof inv, "%s", r->str);
        freeReplyObject(r);
        int running = 0;
        char where[256] = "";
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(state, "containers")) {
            const cJSON *s = cJSON_GetObjectItem(c, "server_id"), *nd = cJSON_GetObjectItem(c, "node_id"),
                        *cs = cJSON_GetObjectItem(c, "state");
            if (!cJSON_IsString(s) || strcmp(s->valuestring, sid) != 0) continue;
            size_t len = strlen(where);
            snprintf(where + len, sizeof where - len, " %s:%s", cJSON_IsString(nd) ? nd->valuestring : "?",
                     cJSON_IsString(cs) ? cs->valuestring : "?");
            if (cJSON_IsString(cs) && strcmp(cs->valuestring, "running") == 0) {
                running++;
                if (!cJSON_IsString(nd) || strcmp(nd->valuestring, inv) != 0) running += 100; /* on the wrong node */
            }
        }
        if (running != 1 && asprintf(&why, "%s: inventory says node %s, containers (node:state):%s", sid,
                                     inv[0] ? inv : "(none)", where[0] ? where : " none") < 0)
            why = NULL;
    }
    /* the players stayed (no churn in this fleet): a move or a rollback drops none */
    const cJSON *sv;
    cJSON_ArrayForEach(sv, cJSON_GetObjectItem(state, "servers")) {
        const cJSON *sid = cJSON_GetObjectItem(sv, "id"), *pc = cJSON_GetObjectItem(sv, "player_count");
        if (why == NULL && (!cJSON_IsNumber(pc) || pc->valueint != T1_PLAYERS) &&
            asprintf(&why, "%s has %d players instead of %d", cJSON_IsString(sid) ? sid->valuestring : "?",
                     cJSON_IsNumber(pc) ? pc->valueint : -1, T1_PLAYERS) < 0)
            why = NULL;
    }
    int rooms = cJSON_GetArraySize(cJSON_GetObjectItem(state, "waiting_rooms"));
    if (why == NULL && rooms != 0 && asprintf(&why, "%d waiting rooms left", rooms) < 0) why = NULL;
    cJSON_Delete(state);
    return why;
}

START_TEST(test_redis_killed_with_migrations_in_flight_loses_no_acknowledged_migration) {
    long long t0 = timefmt_mono_ms();
    redisReply *aof = raw_cmd("CONFIG GET %s", "appendfsync");
    ck_assert_int_eq(aof->elements, 2);
    ck_assert_str_eq(aof->element[1]->str, "always");
    freeReplyObject(aof);

    flow_stack_t st;
    char *fleet = fleet_json();
    const char *sim_flags[] = {"--sim-speed=20", NULL};
    const char *sched_flags[] = {"--max-parallel=20", "--max-parallel-per-node=20", NULL};
    stack_start(&st, fleet, sim_flags, sched_flags, 0);
    free(fleet);
    pid_note(st.sim);
    pid_note(st.scheduler);
    st.worker_extra = "--concurrency=4";
    pid_note(st.workers[stack_add_worker(&st)]);
    pid_note(st.workers[stack_add_worker(&st)]);
    api_proc_t api;
    ck_assert_msg(api_proc_start(&api, fx_redis.url, NULL, fx_redis.dir, 0) == 0, "migrate-api did not start");
    pid_note(api.pid);
    for (long long end = timefmt_mono_ms() + 10000; !proc_log_has(api.log, "relay.connected");) {
        ck_assert_msg(timefmt_mono_ms() < end, "the relay did not connect; see %s", api.log);
        timefmt_sleep_ms(20);
    }

    /* the watcher resumes after the stream's present end, so the stream says exactly
     * what it must get */
    char since[48];
    stream_last(since, sizeof since);
    watcher = clients_new(1, since);
    ck_assert_msg(client_open(watcher, api.port), "the WebSocket upgrade was refused: %s", watcher->ws.body);
    watch_port = api.port;
    atomic_store(&watch_stop, 0);
    pthread_t watch_thread;
    ck_assert_int_eq(pthread_create(&watch_thread, NULL, watch_run, NULL), 0);

    char *ids[T1_SERVERS];
    for (int i = 0; i < T1_SERVERS; i++) ids[i] = create_via_api(api.base, i + 1);

    /* kill once several run: leases held, so workers are inside their phases */
    for (long long end = timefmt_mono_ms() + 30000;;) {
        store_stats_t s;
        ck_assert_int_eq(store_get_stats(fx_rc, &s), 0);
        long long running = s.leases;
        store_stats_free(&s);
        if (running >= 3) break;
        ck_assert_msg(timefmt_mono_ms() < end, "no migration started; logs in %s", fx_redis.dir);
        timefmt_sleep_ms(20);
    }
    pid_t before[4 + STACK_WORKERS_MAX] = {st.sim, st.scheduler, api.pid, st.workers[0], st.workers[1]};
    ck_assert_int_eq(kill(fx_redis.pid, SIGKILL), 0);
    long long t_kill = timefmt_mono_ms();
    for (long long end = t_kill + KILL_WAIT_MS; !harness_pid_gone(fx_redis.pid);) {
        ck_assert_msg(timefmt_mono_ms() < end, "redis-server %d still runs after kill -9", (int)fx_redis.pid);
        timefmt_sleep_ms(10);
    }
    while (timefmt_mono_ms() < t_kill + T1_OUTAGE_MS) timefmt_sleep_ms(50);
    pid_t redis2 = redis_restart_on_same_data();
    pid_note(redis2);
    long long t_back = timefmt_mono_ms();

    /* every acknowledged migration is there and ends: moved, or back where it was */
    long long deadline = t_back + T1_END_MS;
    migration_t m;
    migration_init(&m);
    int completed = 0, failed = 0;
    for (int i = 0; i < T1_SERVERS; i++) {
        wait_ended(ids[i], deadline, &m);
        ck_assert_msg(m.status == MIG_COMPLETED || (m.status == MIG_FAILED && m.rollback_success == 1),
                      "migration %s of %s ended %s (rollback_success %d): %s; logs in %s", ids[i], m.server_id,
                      states_name(m.status), m.rollback_success, m.error_message ? m.error_message : "-",
                      fx_redis.dir);
        completed += m.status == MIG_COMPLETED;
        failed += m.status == MIG_FAILED;
    }
    migration_clear(&m);
    long long t_done = timefmt_mono_ms();

    /* no program died or was restarted: the same processes carry on */
    const char *names[] = {"fleet-sim", "migrate-scheduler", "migrate-api", "migrate-worker 0", "migrate-worker 1"};
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(kill(before[i], 0) == 0 && harness_wait(before[i], 0) == -1,
                      "%s (pid %d) is no longer running; logs in %s", names[i], (int)before[i], fx_redis.dir);
    }
    ck_assert_int_eq(st.sim, before[0]);
    ck_assert_int_eq(st.scheduler, before[1]);
    ck_assert_int_eq(api.pid, before[2]);

    /* the fleet agrees with the inventory: each server runs once, where Redis says */
    char *why = NULL;
    for (long long end = timefmt_mono_ms() + 30000;;) {
        free(why);
        why = fleet_mismatch(&st);
        if (why == NULL || timefmt_mono_ms() >= end) break;
        timefmt_sleep_ms(100);
    }
    ck_assert_msg(why == NULL, "the fleet disagrees with the inventory: %s; logs in %s", why, fx_redis.dir);

    /* the watcher got each event of the stream once, in order (or was told to resync) */
    atomic_store(&watch_stop, 1);
    ck_assert_int_eq(pthread_join(watch_thread, NULL), 0);
    evid_t *want;
    size_t nwant;
    stream_ids_after(since, &want, &nwant);
    for (long long end = timefmt_mono_ms() + 30000; !client_reached(watcher, &want[nwant - 1]);) {
        ck_assert_msg(timefmt_mono_ms() < end, "the watcher got %zu events (%d connections), the stream holds %zu after %s; "
                                      "see %s", watcher->n, watcher->opens, nwant, since, api.log);
        clients_pump(watcher, 1, api.port, 50);
    }
    client_check(watcher, 0, want, nwant);
    int recovered = stream_count("worker lost");
    fprintf(stderr,
            "faults: redis killed %lld ms after the start with migrations in flight, back %lld ms later; %d completed, "
            "%d failed with their rollback, %d recoveries of a lost lease, all ended %lld ms after the restart; the "
            "watcher got %zu events over %d connection(s), %d resync(s)\n",
            t_kill - t0, t_back - t_kill, completed, failed, recovered, t_done - t_back, nwant, watcher->opens,
            watcher->resyncs);
    free(want);
    clients_free(watcher, 1);
    watcher = NULL;
    for (int i = 0; i < T1_SERVERS; i++) free(ids[i]);

    int ast = api_proc_stop(&api);
    char how[96];
    ck_assert_msg(WIFEXITED(ast) && WEXITSTATUS(ast) == 0, "migrate-api %s on SIGTERM; see %s",
                  harness_status_text(ast, how, sizeof how), api.log);
    stack_stop(&st);
    ck_assert_msg(harness_stop_pid(redis2, NULL) == 0, "the restarted redis-server did not stop on SIGTERM");
    pids_all_stopped();
}
END_TEST

/* ---- the API killed under 100 WebSocket clients ------------------------------------------ */

#define T2_CLIENTS 100
#define T2_BEFORE 30  /* events every client has before the kill */
#define T2_DURING 40  /* events written while the API is down, replayed on resume */
#define T2_AFTER 40   /* events written once the API is back, while clients resume */
#define T2_WAIT_MS 60000 /* longest wait for a phase, on a loaded machine under the sanitizers */

/* The producer: a thread writing events through the store until told to stop, a
 * migration created and cancelled and a server's player count each round, with a short
 * pause so that the relay is busy but not flooded. It uses the fixture's connection,
 * which the test's own thread leaves alone meanwhile. */
static atomic_int produce_stop;

static void *produce(void *arg) {
    (void)arg;
    int players = 0;
    while (!atomic_load(&produce_stop)) {
        migration_t m;
        migration_init(&m);
        fx_drive("s1", MIG_CANCELLED, &m); /* a cancel starts no cooldown: s1 can go again */
        migration_clear(&m);
        char p[16];
        snprintf(p, sizeof p, "%d", ++players);
        const char *pairs[] = {"players", p};
        int rv = store_put_server(fx_rc, "s2", pairs, 1);
        ck_assert_msg(rv == 0, "put_server: %s (%s)", mig_errname(rv), fx_rc->err);
        timefmt_sleep_ms(15);
    }
    return NULL;
}

/* The fewest events any client has received, and how many clients are connected. */
static size_t clients_min_events(const client_t *c, int n, int *open) {
    size_t least = (size_t)-1;
    *open = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].n < least) least = c[i].n;
        *open += c[i].ws.fd >= 0;
    }
    return least;
}

START_TEST(test_api_killed_under_100_websocket_clients_each_resumes_without_loss_or_duplicate) {
    long long t0 = timefmt_mono_ms();
    fx_fleet(2);
    char since[48];
    stream_last(since, sizeof since);
    api_proc_t api;
    ck_assert_msg(api_proc_start(&api, fx_redis.url, NULL, fx_redis.dir, 0) == 0, "migrate-api did not start");
    pid_note(api.pid);
    for (long long end = timefmt_mono_ms() + 10000; !proc_log_has(api.log, "relay.connected");) {
        ck_assert_msg(timefmt_mono_ms() < end, "the relay did not connect; see %s", api.log);
        timefmt_sleep_ms(20);
    }
    int port = api.port;
    client_t *c = clients_new(T2_CLIENTS, since);
    for (int i = 0; i < T2_CLIENTS; i++)
        ck_assert_msg(client_open(&c[i], port), "client %d: the upgrade was refused: %s", i, c[i].ws.body);
    long long t_open = timefmt_mono_ms();

    atomic_store(&produce_stop, 0);
    pthread_t producer;
    ck_assert_int_eq(pthread_create(&producer, NULL, produce, NULL), 0);

    /* before: every client is live and has its first events */
    int open;
    for (long long end = timefmt_mono_ms() + T2_WAIT_MS; clients_min_events(c, T2_CLIENTS, &open) < T2_BEFORE;) {
        ck_assert_msg(timefmt_mono_ms() < end, "before the kill a client has %zu events (%d connected); see %s",
                      clients_min_events(c, T2_CLIENTS, &open), open, api.log);
        clients_pump(c, T2_CLIENTS, port, 50);
    }

    /* during: the API dies in the middle of the stream, and events keep coming */
    pid_t old = api.pid;
    ck_assert_int_eq(kill(old, SIGKILL), 0);
    int ws = harness_wait(old, KILL_WAIT_MS);
    ck_assert_msg(ws != -1 && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "migrate-api did not die on kill -9");
    long long t_kill = timefmt_mono_ms();
    long long at_kill = stream_len();
    for (long long end = timefmt_mono_ms() + T2_WAIT_MS; stream_len() < at_kill + T2_DURING;) {
        ck_assert_msg(timefmt_mono_ms() < end, "the producer stalled while the API was down");
        timefmt_sleep_ms(20);
    }

    /* after: the same port again (a new one if another took it meanwhile); each client
     * finds its connection ended and resumes from its last event */
    if (api_proc_start(&api, fx_redis.url, NULL, fx_redis.dir, port) != 0) {
        fprintf(stderr, "faults: port %d was not free again; the API restarts on another\n", port);
        ck_assert_msg(api_proc_start(&api, fx_redis.url, NULL, fx_redis.dir, 0) == 0, "migrate-api did not restart");
    }
    pid_note(api.pid);
    port = api.port;
    long long t_back = timefmt_mono_ms();
    long long at_back = stream_len();
    for (long long end = timefmt_mono_ms() + T2_WAIT_MS;;) {
        clients_pump(c, T2_CLIENTS, port, 50);
        int resumed = 0;
        for (int i = 0; i < T2_CLIENTS; i++) resumed += c[i].opens >= 2;
        if (resumed == T2_CLIENTS && stream_len() >= at_back + T2_AFTER) break;
        ck_assert_msg(timefmt_mono_ms() < end, "%d of %d clients resumed, %lld events since the restart; see %s", resumed,
                      T2_CLIENTS, stream_len() - at_back, api.log);
    }
    atomic_store(&produce_stop, 1);
    ck_assert_int_eq(pthread_join(producer, NULL), 0);
    long long t_stopped = timefmt_mono_ms();

    /* every client reaches the stream's end, then each holds it all, once, in order */
    evid_t *want;
    size_t nwant;
    stream_ids_after(since, &want, &nwant);
    for (long long end = timefmt_mono_ms() + T2_WAIT_MS;;) {
        int behind = 0, first = -1;
        for (int i = 0; i < T2_CLIENTS; i++)
            if (!client_reached(&c[i], &want[nwant - 1]) && behind++ == 0) first = i;
        if (behind == 0) break;
        ck_assert_msg(timefmt_mono_ms() < end,
                      "%d clients never got the stream's last event; client %d has %zu of %zu (%d connections, %s); "
                      "see %s",
                      behind, first, c[first].n, nwant, c[first].opens, c[first].ws.fd >= 0 ? "open" : "closed",
                      api.log);
        clients_pump(c, T2_CLIENTS, port, 50);
    }
    int resyncs = 0, opens = 0;
    for (int i = 0; i < T2_CLIENTS; i++) {
        client_check(&c[i], i, want, nwant);
        resyncs += c[i].resyncs;
        opens += c[i].opens;
    }
    fprintf(stderr,
            "faults: %d clients opened in %lld ms; the API killed %lld ms after the start, back %lld ms later; "
            "%zu events in all, %lld while it was down; %d connections, %d resync(s); clients caught up %lld ms "
            "after the producer stopped\n",
            T2_CLIENTS, t_open - t0, t_kill - t0, t_back - t_kill, nwant, at_back - at_kill, opens, resyncs,
            timefmt_mono_ms() - t_stopped);
    free(want);
    clients_free(c, T2_CLIENTS);

    int ast = api_proc_stop(&api);
    char how[96];
    ck_assert_msg(WIFEXITED(ast) && WEXITSTATUS(ast) == 0, "the restarted migrate-api %s on SIGTERM; see %s",
                  harness_status_text(ast, how, sizeof how), api.log);
    pids_all_stopped();
}
END_TEST

Suite *suite_faults(void) {
    Suite *s = suite_create("faults");
    /* Each case has its own redis-server: the first kills and replaces it. */
    TCase *rk = tcase_create("redis_kill");
    tcase_add_unchecked_fixture(rk, aof_case_up, case_down);
    tcase_add_checked_fixture(rk, fx_connect, fx_disconnect);
    tcase_set_timeout(rk, 300);
    tcase_add_test(rk, test_redis_killed_with_migrations_in_flight_loses_no_acknowledged_migration);
    suite_add_tcase(s, rk);
    TCase *ak = tcase_create("api_kill");
    tcase_add_unchecked_fixture(ak, plain_case_up, case_down);
    tcase_add_checked_fixture(ak, fx_connect, fx_disconnect);
    tcase_set_timeout(ak, 300);
    tcase_add_test(ak, test_api_killed_under_100_websocket_clients_each_resumes_without_loss_or_duplicate);
    suite_add_tcase(s, ak);
    return s;
}
