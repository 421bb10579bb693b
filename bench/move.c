/* move.c - player downtime of a live migration between two real node agents, against an
 * offline move of the same world in the same run, and the agents' RSS and CPU.
 *
 *   nodes      two network namespaces joined by a bridge (10.232.<n>.11 and .12, the host
 *              side .1), one bin/migrate-agent in each: each node has its own 127.0.0.1,
 *              so both copies of a server keep their ports and the agent's RCON and port
 *              probe reach its own node's server, as on two machines (tests/real does the
 *              same). Root is needed; without it the bench says so and skips.
 *   stack      bench/live_stack.c's: a private redis-server, bin/migrate-scheduler, one
 *              bin/migrate-worker calling the agents at http://{node_address} with their
 *              token, and bin/fleet-sim as the proxy bridge only (two players on
 *              Server-1, moved through the waiting room, so the worker measures
 *              player_downtime_ms).
 *   server     tests/support/mcfake run by agent A's process runtime on a synthetic Anvil
 *              world of 10 MiB region files, re-saving random chunks at WRITE_BYTES_S
 *              (2 MiB/s) while saving is on, quiesced by RCON save-off / save-all flush;
 *              its game port on 0.0.0.0 so that the bench polls it from outside.
 *   live       a migration A->B created in Redis (start_now); player downtime as the
 *              system defines it (the record's player_downtime_ms: players in the waiting
 *              room until they are on B), and from outside: a thread asks both nodes'
 *              game ports for a Server List Ping every SLP_POLL_MS, giving the time from
 *              the waiting room (its event in the stream) to B answering, and the gap in
 *              which neither node answered.
 *   offline    the same world, now on B, moved back to A as hosting panels do: stop (the
 *              agent's stop: RCON `stop`), `tar -c` of the server's directory piped through
 *              a TCP socket on the host's loopback into `tar -x` in A's directory (one
 *              filesystem: no disk-to-disk network), start; downtime = the stop call to
 *              the first ping A answers.
 *   agents     VmRSS and VmHWM (/proc/<pid>/status) and CPU (utime + stime,
 *              /proc/<pid>/stat) of both agents: idle for IDLE_MS with the server running
 *              on A before the migration, and during pass 1 (CPU seconds per GiB moved).
 *
 *   build/rel/bench/move [GiB ...]          (default: 1 10; fractions allowed)
 *
 * The programs come from $MIG_BIN_DIR (default bin/: `make all`), mcfake from beside
 * this binary (<build>/tests/support/mcfake). Worlds go under $TMPDIR (default /tmp):
 * about 2 x the largest size is needed at once. Everything started is stopped by its
 * PID, the namespaces and worlds removed, at exit and on failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "agent/slp.h"
#include "bench/live_stack.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "tests/support/agent_proc.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"

#define TOKEN "move-bench-token"      /* worker -> agent */
#define PEER "move-bench-peer"        /* agent -> agent */
#define GAME_PORT 25565               /* the same on both nodes: each has its own addresses */
#define RCON_PORT 25575
#define WRITE_BYTES_S (2 << 20)       /* the 2 MB/s of world writes (MiB) */
#define REGION_BYTES (10 << 20)       /* 10 MiB region files: a well explored world's size */
#define SECTOR 4096
#define SLP_POLL_MS 5                 /* between two rounds of pings of both nodes */
#define SLP_TIMEOUT_MS 1000           /* one ping: a stopped server refuses at once; a running
                                         one on a loaded machine answers within this */
#define SAMPLE_MS 50                  /* the main thread's reads of the record and /proc */
#define IDLE_MS 5000                  /* window of the idle figures */
#define MOVE_DEADLINE_MS (45 * 60000) /* a 10 GiB move on a busy 2-core machine: minutes */
#define WAIT_MS 120000                /* a state that takes a second or two unloaded */
#define TRANSITIONS_MAX 4096

static live_stack_t st;
static char prefix[32];               /* 10.232.<n> */
static char bridge[16], ns[2][32];
static bool nodes_made;
static char top[256];                 /* mkdtemp: agents' directories */

static agent_proc_t ag[2];

/* ------------------------------------------------------------------------ helpers */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void nodes_down(void) {
    if (!nodes_made) return;
    for (int i = 0; i < 2; i++) sh("ip netns del %s 2>/dev/null", ns[i]);
    sh("ip link del %s 2>/dev/null", bridge);
    nodes_made = false;
}

/* At exit, also after die(): agents and their servers, namespaces, worlds. */
static void cleanup(void) {
    for (int i = 0; i < 2; i++) {
        if (ag[i].pid > 0) {
            kill(ag[i].pid, SIGTERM);
            if (harness_wait(ag[i].pid, 10000) == -1) {
                kill(ag[i].pid, SIGKILL);
                harness_wait(ag[i].pid, 5000);
            }
            ag[i].pid = 0;
        }
        if (ag[i].dir[0]) agent_proc_kill_servers(&ag[i]);
    }
    nodes_down();
    if (top[0] && sh("rm -rf '%s'", top) == 0) top[0] = '\0';
}

static void on_signal(int sig) {
    (void)sig;
    die("interrupted");
}

static int64_t now_ms(void) {
    return timefmt_now_ms(); /* realtime: compared with the event stream's ids */
}

/* VmRSS and VmHWM of `pid` in KiB. */
static void mem_kib(pid_t pid, long *rss, long *hwm) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    *rss = *hwm = 0;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "VmRSS: %ld", rss);
        sscanf(line, "VmHWM: %ld", hwm);
    }
    if (f) fclose(f);
}

/* ------------------------------------------------------------------------ nodes and agents */

static void nodes_up(void) {
    int n = 100 + (int)(getpid() % 150);
    snprintf(prefix, sizeof prefix, "10.232.%d", n);
    snprintf(bridge, sizeof bridge, "mvb%d", (int)getpid() % 100000);
    for (int i = 0; i < 2; i++) snprintf(ns[i], sizeof ns[i], "mv-%d-%c", (int)getpid(), 'a' + i);
    nodes_made = true;
    if (sh("ip link add %s type bridge && ip addr add %s.1/24 dev %s && ip link set %s up", bridge, prefix, bridge,
           bridge) != 0)
        die("cannot make bridge %s", bridge);
    for (int i = 0; i < 2; i++) {
        char host[24]; /* an interface's name: at most 15 bytes, here 10 */
        snprintf(host, sizeof host, "%.9sh%d", bridge, i);
        if (sh("ip netns add %s && ip link add %s type veth peer name eth0 netns %s && "
               "ip link set %s master %s up && ip -n %s addr add %s.%d/24 dev eth0 && "
               "ip -n %s link set eth0 up && ip -n %s link set lo up",
               ns[i], host, ns[i], host, bridge, ns[i], prefix, 11 + i, ns[i], ns[i]) != 0)
            die("cannot make namespace %s", ns[i]);
    }
}

static const char *bindir(void) {
    return getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "bin";
}

/* Starts agent i in its namespace, on <prefix>.<11+i>, port chosen by the kernel. */
static void agent_up(int i, const char *mcfake) {
    agent_proc_t *a = &ag[i];
    snprintf(a->host, sizeof a->host, "%s.%d", prefix, 11 + i);
    snprintf(a->dir, sizeof a->dir, "%s/agent%c", top, 'a' + i);
    snprintf(a->log, sizeof a->log, "%s/agent%c.log", st.logs, 'a' + i);
    char bin[300], listen[64], dir[320], cmd[400];
    snprintf(bin, sizeof bin, "%s/migrate-agent", bindir());
    if (access(bin, X_OK) != 0) die("%s is missing: run `make all` first", bin);
    snprintf(listen, sizeof listen, "--agent-listen=%s:0", a->host);
    snprintf(dir, sizeof dir, "--agent-dir=%s", a->dir);
    snprintf(cmd, sizeof cmd, "--agent-command=exec %s", mcfake);
    const char *argv[] = {"ip", "netns", "exec", ns[i], bin, listen, dir, cmd, "--agent-token=" TOKEN,
                          "--agent-peer-token=" PEER, "--agent-stop-timeout-ms=10000", "--log-level=info",
                          "--agent-ram-mb=100000", "--agent-disk-mb=500000", NULL};
    if ((a->pid = harness_spawn(argv, a->log)) <= 0) die("cannot start agent %d", i);
    for (int waited = 0; (a->port = proc_port_from_log(a->log, "agent.started")) == 0; waited += 10) {
        if (harness_wait(a->pid, 0) != -1) {
            a->pid = 0;
            die("agent %d exited at start; see %s", i, a->log);
        }
        if (waited > WAIT_MS) die("agent %d did not start; see %s", i, a->log);
        timefmt_sleep_ms(10);
    }
    char addr[64];
    snprintf(addr, sizeof addr, "%s:%d", a->host, a->port);
    memcpy(a->addr, addr, sizeof addr);
}

/* Calls agent i with the worker's token; the status (-1: no answer in http_call's
 * time), *out the answer (may be NULL). */
static long call_try(int i, const char *method, const char *path, const char *body, cJSON **out) {
    char url[1024];
    snprintf(url, sizeof url, "http://%s%s", ag[i].addr, path);
    http_resp_t r;
    if (out) *out = NULL;
    if (http_call(method, url, TOKEN, NULL, body, &r) != 0) return -1;
    long status = r.status;
    if (out) {
        *out = r.json;
        r.json = NULL;
    }
    http_resp_free(&r);
    return status;
}

/* The same; no answer ends the bench. */
static long call(int i, const char *method, const char *path, const char *body, cJSON **out) {
    long status = call_try(i, method, path, body, out);
    if (status < 0) die("%s %s on agent %c: unreachable", method, path, 'A' + i);
    return status;
}

static void state_of(int i, const char *id, char *buf, size_t cap) {
    char path[128];
    snprintf(path, sizeof path, "/v1/containers/%s", id);
    cJSON *o = NULL;
    long code = call(i, "GET", path, NULL, &o);
    const char *s = code == 404 ? "absent" : cJSON_GetStringValue(cJSON_GetObjectItem(o, "state"));
    snprintf(buf, cap, "%s", s ? s : "?");
    cJSON_Delete(o);
}

static void wait_state(int i, const char *id, const char *want, int poll_ms) {
    char got[32];
    for (int waited = 0;; waited += poll_ms) {
        state_of(i, id, got, sizeof got);
        if (strcmp(got, want) == 0) return;
        if (waited > WAIT_MS) die("%s on agent %d is %s, not %s", id, i, got, want);
        timefmt_sleep_ms(poll_ms);
    }
}

/* ------------------------------------------------------------------------ the world */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* One region file: the 8 KiB header (locations, timestamps), then chunks of random
 * (compressed-looking) data. */
static void make_region(const char *path, unsigned char *buf) {
    for (size_t k = 0; k < REGION_BYTES / 8; k++) ((uint64_t *)buf)[k] = rnd();
    for (uint32_t c = 0, at = 2; c < 1024; c++) {
        uint32_t run = 1 + (uint32_t)(rnd() % 8), loc = htonl(at << 8 | run);
        if (at + run > REGION_BYTES / SECTOR) loc = 0;
        else at += run;
        memcpy(buf + c * 4, &loc, 4);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, REGION_BYTES) != REGION_BYTES || close(fd) != 0) die("cannot write %s", path);
}

/* Provisions server `id` on agent A: its container, a world of `gib` GiB of region files,
 * server.properties; starts it and waits until it answers. Returns the world's bytes. */
static long long provision(const char *id, double gib) {
    char body[256], path[600];
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":512,\"disk_mb\":%d}", id, (int)(gib * 1024) + 1024);
    if (call(0, "POST", "/v1/containers", body, NULL) != 201) die("create %s on A refused", id);
    snprintf(path, sizeof path, "%s/servers/%s/world/region", ag[0].dir, id);
    if (sh("mkdir -p '%s'", path) != 0) die("mkdir %s", path);
    unsigned char *buf = malloc(REGION_BYTES);
    if (buf == NULL) die("out of memory");
    int files = (int)(gib * 1024 * 1024 * 1024 / REGION_BYTES);
    for (int k = 0; k < files; k++) {
        snprintf(path, sizeof path, "%s/servers/%s/world/region/r.%d.%d.mca", ag[0].dir, id, k % 32 - 16,
                 k / 32 - 16);
        make_region(path, buf);
    }
    free(buf);
    snprintf(path, sizeof path, "%s/servers/%s/server.properties", ag[0].dir, id);
    FILE *f = fopen(path, "w");
    if (f == NULL) die("cannot write %s", path);
    fprintf(f,
            "server-port=%d\nserver-ip=0.0.0.0\nenable-rcon=true\nrcon.port=%d\nrcon.password=pw\n"
            "mcfake-sums=false\nmcfake-write-bytes-s=%d\n",
            GAME_PORT, RCON_PORT, WRITE_BYTES_S);
    fclose(f);
    sync(); /* the world on disk before anything is timed: no writeback of it during a pass */
    snprintf(path, sizeof path, "/v1/containers/%s/start", id);
    long code = call(0, "POST", path, NULL, NULL);
    if (code != 200 && code != 202) die("start %s on A: %ld", id, code);
    wait_state(0, id, "running", 20);
    return (long long)files * REGION_BYTES;
}

/* ------------------------------------------------------------------------ pings from outside */

/* One Server List Ping of host:GAME_PORT within SLP_TIMEOUT_MS: true when it answered a status. */
static bool ping(const char *host) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    int64_t end = timefmt_mono_ms() + SLP_TIMEOUT_MS;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(GAME_PORT)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    bool ok = false;
    mcbuf_t out;
    mcbuf_init(&out);
    uint8_t buf[4096];
    size_t have = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) goto out;
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int e = 0;
    socklen_t el = sizeof e;
    if (poll(&pf, 1, SLP_TIMEOUT_MS) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) goto out;
    if (slp_write_request(&out, SLP_PROTOCOL_ANY, host, GAME_PORT) != 0 ||
        send(fd, out.buf, out.len, MSG_NOSIGNAL) != (ssize_t)out.len)
        goto out;
    for (;;) {
        slp_reply_t r;
        int n = slp_read(buf, have, &r);
        if (n != 0) {
            ok = n > 0 && r.kind == SLP_REPLY_STATUS;
            break;
        }
        int left = (int)(end - timefmt_mono_ms());
        pf = (struct pollfd){.fd = fd, .events = POLLIN};
        if (left <= 0 || have == sizeof buf || poll(&pf, 1, left) != 1) break;
        ssize_t got = recv(fd, buf + have, sizeof buf - have, 0);
        if (got <= 0) break;
        have += (size_t)got;
    }
out:
    mcbuf_free(&out);
    close(fd);
    return ok;
}

/* A change of a node's answer, as the poller saw it. */
typedef struct {
    int64_t at_ms; /* realtime ms the ping ended */
    int node;      /* 0: A, 1: B */
    bool up;
} transition_t;

static struct {
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t lock;
    transition_t t[TRANSITIONS_MAX];
    int n;
    bool up[2];
} poller = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *poll_thread(void *arg) {
    (void)arg;
    while (!poller.stop) {
        for (int i = 0; i < 2; i++) {
            bool up = ping(ag[i].host);
            int64_t at = now_ms();
            pthread_mutex_lock(&poller.lock);
            if (up != poller.up[i] && poller.n < TRANSITIONS_MAX)
                poller.t[poller.n++] = (transition_t){at, i, up};
            poller.up[i] = up;
            pthread_mutex_unlock(&poller.lock);
        }
        timefmt_sleep_ms(SLP_POLL_MS);
    }
    return NULL;
}

static void poller_start(void) {
    poller.stop = 0;
    poller.n = 0;
    poller.up[0] = poller.up[1] = false;
    if (pthread_create(&poller.thread, NULL, poll_thread, NULL) != 0) die("pthread_create");
}

static void poller_stop(void) {
    poller.stop = 1;
    pthread_join(poller.thread, NULL);
}

/* The first time node `node` turned `up` at or after `from_ms`, or -1. */
static int64_t first_turn(int node, bool up, int64_t from_ms) {
    int64_t at = -1;
    pthread_mutex_lock(&poller.lock);
    for (int i = 0; i < poller.n && at < 0; i++)
        if (poller.t[i].node == node && poller.t[i].up == up && poller.t[i].at_ms >= from_ms) at = poller.t[i].at_ms;
    pthread_mutex_unlock(&poller.lock);
    return at;
}

/* The last time node `node` turned `up`, or -1. */
static int64_t last_turn(int node, bool up) {
    int64_t at = -1;
    pthread_mutex_lock(&poller.lock);
    for (int i = 0; i < poller.n; i++)
        if (poller.t[i].node == node && poller.t[i].up == up) at = poller.t[i].at_ms;
    pthread_mutex_unlock(&poller.lock);
    return at;
}

/* Milliseconds from `from_ms` to `to_ms` in which neither node answered, replaying the
 * poller's transitions (both silent before their first answer). */
static int64_t both_down_ms(int64_t from_ms, int64_t to_ms) {
    bool up[2] = {false, false};
    int64_t total = 0, since = from_ms;
    pthread_mutex_lock(&poller.lock);
    for (int i = 0; i <= poller.n; i++) {
        int64_t at = i < poller.n ? poller.t[i].at_ms : to_ms;
        if (at > to_ms) at = to_ms;
        if (!up[0] && !up[1] && at > since) total += at - since;
        if (at > since) since = at;
        if (i < poller.n) up[poller.t[i].node] = poller.t[i].up;
    }
    pthread_mutex_unlock(&poller.lock);
    return total;
}

/* Waits until node `node` turned `up` at or after `from_ms`; its time. */
static int64_t wait_turn(int node, bool up, int64_t from_ms) {
    int64_t at;
    for (int waited = 0; (at = first_turn(node, up, from_ms)) < 0; waited += 5) {
        if (waited > WAIT_MS) die("node %c never went %s", 'A' + node, up ? "up" : "down");
        timefmt_sleep_ms(5);
    }
    return at;
}

/* ------------------------------------------------------------------------ the live move */

/* The realtime ms of the progress event of migration `id` whose message starts with
 * `prefix` (from the stream's id: Redis's clock), or -1. */
static int64_t event_time(const char *id, const char *msg_prefix) {
    redisReply *r = harness_redis_cmd(&st.redis, "XRANGE mig:events - +");
    int64_t at = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && at < 0; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->elements < 2) continue;
        cJSON *o = cJSON_Parse(e->element[1]->element[1]->str);
        const char *mid = cJSON_GetStringValue(cJSON_GetObjectItem(o, "migration_id")),
                   *msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "message"));
        if (mid && msg && strcmp(mid, id) == 0 && strncmp(msg, msg_prefix, strlen(msg_prefix)) == 0)
            at = strtoll(e->element[0]->str, NULL, 10);
        cJSON_Delete(o);
    }
    if (r) freeReplyObject(r);
    return at;
}

/* Prints the steps of migration `id` from its progress event starting `from_prefix`
 * on, each as ms after that one (Redis's clock): where the players' downtime goes. */
static void print_steps(const char *id, const char *from_prefix) {
    redisReply *r = harness_redis_cmd(&st.redis, "XRANGE mig:events - +");
    int64_t t0 = -1;
    printf("    live steps after the waiting room (ms, the events' stream):");
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->elements < 2) continue;
        cJSON *o = cJSON_Parse(e->element[1]->element[1]->str);
        const char *mid = cJSON_GetStringValue(cJSON_GetObjectItem(o, "migration_id")),
                   *msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "message")),
                   *type = cJSON_GetStringValue(cJSON_GetObjectItem(o, "type"));
        int64_t at = strtoll(e->element[0]->str, NULL, 10);
        if (mid && strcmp(mid, id) == 0) {
            if (t0 < 0 && msg && strncmp(msg, from_prefix, strlen(from_prefix)) == 0) t0 = at;
            if (t0 >= 0)
                printf(" +%lld %s;", (long long)(at - t0), msg ? msg : type ? type : "?");
        }
        cJSON_Delete(o);
    }
    printf("\n");
    if (r) freeReplyObject(r);
}

/* With MOVE_VERBOSE set: every change of the nodes' answers, relative to `t0_ms`. */
static void print_transitions(int64_t t0_ms) {
    if (getenv("MOVE_VERBOSE") == NULL) return;
    pthread_mutex_lock(&poller.lock);
    printf("    pings:");
    for (int i = 0; i < poller.n; i++)
        printf(" %c %s +%lld;", 'A' + poller.t[i].node, poller.t[i].up ? "up" : "down",
               (long long)(poller.t[i].at_ms - t0_ms));
    printf("\n");
    pthread_mutex_unlock(&poller.lock);
}

typedef struct {
    double cpu_s[2];     /* CPU of each agent over the window */
    long rss_max_kib[2]; /* largest VmRSS seen */
    long hwm_kib[2];     /* VmHWM at the end */
    double wall_s;
} usage_t;

typedef struct {
    long long world_bytes;
    usage_t idle, pass1;
    long long player_downtime_ms;
    int64_t room_to_b_ms, gap_ms, overlap_ms, total_ms;
    int64_t sha_ms; /* sha256sum of the whole world on B, page cache warm */
    int passes;
} live_t;

static void sample_mem(usage_t *u) {
    for (int i = 0; i < 2; i++) {
        long rss, hwm;
        mem_kib(ag[i].pid, &rss, &hwm);
        if (rss > u->rss_max_kib[i]) u->rss_max_kib[i] = rss;
        u->hwm_kib[i] = hwm;
    }
}

static void measure_idle(usage_t *u) {
    memset(u, 0, sizeof *u);
    double c0[2] = {cpu_s(ag[0].pid), cpu_s(ag[1].pid)};
    int64_t t0 = timefmt_mono_ms();
    while (timefmt_mono_ms() - t0 < IDLE_MS) {
        sample_mem(u);
        timefmt_sleep_ms(SAMPLE_MS * 4);
    }
    for (int i = 0; i < 2; i++) u->cpu_s[i] = cpu_s(ag[i].pid) - c0[i];
    u->wall_s = (double)(timefmt_mono_ms() - t0) / 1000.0;
}

static const mig_status_t ENDED[] = {MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED};

/* The live move of `id` A->B, measured. */
static void live_move(const char *id, live_t *L) {
    poller_start();
    wait_turn(0, true, 0); /* A answers before anything is timed */
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = id;
    c.to_node_id = "n2";
    c.savings_eur_hour = 0.15;
    c.start_now = true;
    c.max_retries = 0;
    migration_t m;
    migration_init(&m);
    if (store_create_migration(st.rc, &c, &m) != 0) die("create: %s", st.rc->err);
    char mid[MIG_ID_MAX + 1];
    snprintf(mid, sizeof mid, "%s", m.id);
    int64_t t0 = timefmt_mono_ms(), p1_start = -1;
    double c0[2] = {0, 0};
    memset(&L->pass1, 0, sizeof L->pass1);
    for (;;) {
        migration_clear(&m);
        migration_init(&m);
        mig_status_t s = get_status(&st, mid, &m);
        bool ended = false;
        for (int i = 0; i < 3; i++) ended |= s == ENDED[i];
        if (ended) break;
        const char *msg = m.progress_message ? m.progress_message : "";
        bool in_p1 = s == MIG_PREPARING && strncmp(msg, "Syncing world", 13) == 0;
        if (in_p1 && p1_start < 0) {
            p1_start = timefmt_mono_ms();
            for (int i = 0; i < 2; i++) c0[i] = cpu_s(ag[i].pid);
        }
        if (p1_start >= 0 && L->pass1.wall_s == 0) {
            sample_mem(&L->pass1);
            if (!in_p1) {
                for (int i = 0; i < 2; i++) L->pass1.cpu_s[i] = cpu_s(ag[i].pid) - c0[i];
                L->pass1.wall_s = (double)(timefmt_mono_ms() - p1_start) / 1000.0;
            }
        }
        if (strncmp(msg, "Delta sync pass ", 16) == 0) L->passes = atoi(msg + 16) > L->passes ? atoi(msg + 16) : L->passes;
        if (timefmt_mono_ms() - t0 > MOVE_DEADLINE_MS) die("migration %s not ended after %d min", mid, MOVE_DEADLINE_MS / 60000);
        timefmt_sleep_ms(SAMPLE_MS);
    }
    L->total_ms = timefmt_mono_ms() - t0;
    if (m.status != MIG_COMPLETED)
        die("migration %s ended %s: %s", mid, states_name(m.status), m.error_message ? m.error_message : "-");
    if (L->pass1.wall_s == 0) die("pass 1 was not seen (the record's progress message)");
    L->player_downtime_ms = m.player_downtime_ms;
    int64_t room = event_time(mid, "Moving");
    if (room < 0) die("no waiting-room event of %s in the stream", mid);
    int64_t a_up = wait_turn(0, true, 0), b_up = wait_turn(1, true, 0);
    wait_turn(0, false, b_up); /* A stopped by completing: its last silence begins */
    poller_stop();
    int64_t a_down = last_turn(0, false);
    L->room_to_b_ms = b_up - room;
    L->gap_ms = both_down_ms(a_up, now_ms());
    L->overlap_ms = a_down > b_up ? a_down - b_up : 0;
    print_steps(mid, "Moving");
    print_transitions(room);
    migration_clear(&m);
}

/* ------------------------------------------------------------------------ the offline move */

typedef struct {
    int fd;
    char cmd[700];
    int rc;
} tar_job_t;

/* `tar -c` of the source directory written to the socket (a thread). */
static void *tar_sender(void *arg) {
    tar_job_t *j = arg;
    FILE *p = popen(j->cmd, "r");
    static char buf[1 << 20];
    size_t n;
    j->rc = p ? 0 : -1;
    while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) {
        for (size_t off = 0; off < n;) {
            ssize_t w = send(j->fd, buf + off, n - off, MSG_NOSIGNAL);
            if (w <= 0) {
                j->rc = -1;
                break;
            }
            off += (size_t)w;
        }
        if (j->rc != 0) break;
    }
    if (p && pclose(p) != 0) j->rc = -1;
    close(j->fd);
    return NULL;
}

/* Copies directory `from` into `to` (existing): tar -c | TCP on 127.0.0.1 | tar -x. */
static void tar_copy(const char *from, const char *to) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &l) != 0)
        die("tar listener: %s", strerror(errno));
    tar_job_t j = {.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    snprintf(j.cmd, sizeof j.cmd, "tar -C '%s' -cf - .", from);
    if (connect(j.fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("tar connect: %s", strerror(errno));
    int in = accept(lfd, NULL, NULL);
    close(lfd);
    pthread_t t;
    if (in < 0 || pthread_create(&t, NULL, tar_sender, &j) != 0) die("tar copy");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tar -C '%s' -xf -", to);
    FILE *p = popen(cmd, "w");
    static char buf[1 << 20];
    ssize_t n;
    while (p && (n = recv(in, buf, sizeof buf, 0)) > 0)
        if (fwrite(buf, 1, (size_t)n, p) != (size_t)n) break;
    close(in);
    int rc = p ? pclose(p) : -1;
    pthread_join(t, NULL);
    if (rc != 0 || j.rc != 0) die("tar copy %s -> %s failed", from, to);
}

typedef struct {
    int64_t stop_ms, copy_ms, start_ms, total_ms, gap_ms;
} offline_t;

/* The world of `id`, now running on B, moved to A offline. */
static void offline_move(const char *id, offline_t *O) {
    char body[256], path[128], from[400], to[400];
    /* A's container exists before the clock starts: only its bookkeeping, no data */
    snprintf(body, sizeof body, "{\"server_id\":\"%s\",\"ram_mb\":512,\"disk_mb\":100000}", id);
    if (call(0, "POST", "/v1/containers", body, NULL) != 201) die("create %s on A (offline) refused", id);
    snprintf(from, sizeof from, "%s/servers/%s", ag[1].dir, id);
    snprintf(to, sizeof to, "%s/servers/%s", ag[0].dir, id);
    if (sh("mkdir -p '%s'", to) != 0) die("mkdir %s", to);
    sync();
    poller_start();
    wait_turn(1, true, 0);
    int64_t t0 = now_ms();
    snprintf(path, sizeof path, "/v1/containers/%s/stop", id);
    long code = call(1, "POST", path, NULL, NULL);
    if (code != 200 && code != 202) die("stop %s on B: %ld", id, code);
    wait_state(1, id, "stopped", 2);
    int64_t t1 = now_ms();
    tar_copy(from, to);
    int64_t t2 = now_ms();
    snprintf(path, sizeof path, "/v1/containers/%s/start", id);
    code = call(0, "POST", path, NULL, NULL);
    if (code != 200 && code != 202) die("start %s on A: %ld", id, code);
    int64_t a_up = wait_turn(0, true, t2), b_up = wait_turn(1, true, 0);
    poller_stop();
    O->stop_ms = t1 - t0;
    O->copy_ms = t2 - t1;
    O->start_ms = a_up - t2;
    O->total_ms = a_up - t0;
    O->gap_ms = both_down_ms(b_up, a_up);
    print_transitions(t0);
}

/* Deletes `id` on both agents (stopping what runs) and waits until both forgot it. */
static void remove_server(const char *id) {
    char path[128], got[32];
    snprintf(path, sizeof path, "/v1/containers/%s", id);
    for (int i = 0; i < 2; i++) {
        state_of(i, id, got, sizeof got);
        if (strcmp(got, "absent") == 0) continue;
        char stop[160];
        snprintf(stop, sizeof stop, "%s/stop", path);
        if (strcmp(got, "stopped") != 0) call(i, "POST", stop, NULL, NULL);
        wait_state(i, id, "stopped", 20);
        /* removing gigabytes while the disk writes back the last move's may outlast a
         * call's timeout: the agent goes on, and is asked again until it says absent */
        for (int waited = 0; call_try(i, "DELETE", path, NULL, NULL) != 404; waited += 1000) {
            if (waited > 10 * WAIT_MS) die("%s on agent %c: not deleted after %d s", id, 'A' + i, waited / 1000);
            timefmt_sleep_ms(1000);
        }
        char dir[400];
        snprintf(dir, sizeof dir, "%s/servers/%s", ag[i].dir, id);
        sh("rm -rf '%s'", dir); /* whatever the agent kept */
    }
}

/* ------------------------------------------------------------------------ main */

static void inventory(const char *id, double gib) {
    char disk[24];
    const char *n1[] = {"name", "Node-A", "address", ag[0].addr, "healthy", "1", "ram_total_mb", "65536",
                        "ram_free_mb", "60000", "disk_free_mb", "500000", "eur_hour", "0.30"};
    const char *n2[] = {"name", "Node-B", "address", ag[1].addr, "healthy", "1", "ram_total_mb", "65536",
                        "ram_free_mb", "60000", "disk_free_mb", "500000", "eur_hour", "0.15"};
    if (store_put_node(st.rc, "n1", n1, 7) != 0 || store_put_node(st.rc, "n2", n2, 7) != 0)
        die("node_put: %s", st.rc->err);
    snprintf(disk, sizeof disk, "%d", (int)(gib * 1024) + 1024);
    /* players 0 in the inventory: the scheduler starts at once; the proxy (fleet-sim)
     * holds the players the worker moves */
    const char *s[] = {"name", "Server-1", "node_id", "n1", "players", "0", "state", "running",
                       "ram_mb", "512", "disk_mb", disk};
    if (store_put_server(st.rc, id, s, 6) != 0) die("server_put: %s", st.rc->err);
}

static void print_usage(const char *what, const usage_t *u, double gib) {
    for (int i = 0; i < 2; i++) {
        printf("    agent %c %-7s RSS max %6.1f MiB, HWM %6.1f MiB, CPU %6.2f s in %6.1f s (%5.1f%% of a core)",
               'A' + i, what, u->rss_max_kib[i] / 1024.0, u->hwm_kib[i] / 1024.0, u->cpu_s[i], u->wall_s,
               u->wall_s > 0 ? 100.0 * u->cpu_s[i] / u->wall_s : 0);
        if (gib > 0) printf(", %.2f CPU s/GiB", u->cpu_s[i] / gib);
        printf("\n");
    }
}

int main(int argc, char **argv) {
    if (geteuid() != 0) {
        printf("move: skipped: needs root (a network namespace per node, as tests/real)\n");
        return 0;
    }
    double sizes[8];
    int nsizes = 0;
    for (int i = 1; i < argc && nsizes < 8; i++)
        if ((sizes[nsizes++] = atof(argv[i])) < 0.01 || sizes[nsizes - 1] > 100) {
            fprintf(stderr, "usage: %s [GiB (0.01-100) ...]\n", argv[0]);
            return 2;
        }
    if (nsizes == 0) sizes[nsizes++] = 1, sizes[nsizes++] = 10;
    char mcfake[600], self[512];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return 1;
    self[sl] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(mcfake, sizeof mcfake, "%s/../tests/support/mcfake", self);
    if (access(mcfake, X_OK) != 0) {
        fprintf(stderr, "move: %s is missing: make it first\n", mcfake);
        return 1;
    }
    if (realpath(mcfake, self) == NULL) return 1;
    snprintf(mcfake, sizeof mcfake, "%s", self);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_init("move", LOG_WARN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    atexit(cleanup);

    nodes_up();
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(top, sizeof top, "%s/move.XXXXXX", tmp);
    if (mkdtemp(top) == NULL) die("mkdtemp %s", top);
    /* fleet-sim: the proxy bridge only. Its node stands at B's host, so that the
     * address the worker registers (B's server) leads the sim's players to a running
     * backend; the two players stay (mean_players 0: no churn). */
    char fleet[600];
    snprintf(fleet, sizeof fleet,
             "{\"nodes\":[{\"id\":\"p1\",\"name\":\"Proxy-Host\",\"address\":\"%s.12\",\"eur_hour\":0.1,"
             "\"ram_total_mb\":65536,\"disk_total_mb\":500000}],"
             "\"servers\":[{\"id\":\"p1\",\"name\":\"Server-1\",\"node_id\":\"p1\",\"ram_mb\":512,\"disk_mb\":100,"
             "\"write_mb_s\":0,\"players\":2,\"mean_players\":0}]}",
             prefix);
    const char *sim_flags[] = {"--sim-zero-delays=1", NULL};
    const char *sched_flags[] = {"--tick-ms=100", "--recheck-ms=1000", NULL};
    const char *worker_flags[] = {"--driver-node-url=http://{node_address}", "--driver-token=" TOKEN,
                                  "--cooldown-s=0", "--driver-timeout-ms=30000", NULL};
    stack_opts_t o = {.fleet = fleet, .servers = 1, .sim_flags = sim_flags, .sched_flags = sched_flags,
                      .workers = 1, .worker_flags = worker_flags};
    stack_up_with(&st, &o);
    agent_up(0, mcfake);
    agent_up(1, mcfake);

    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("move: live migration between two real agents (network namespaces %s.11 and .12) against an offline "
           "move, worlds written at %.1f MiB/s; load average at start %.2f %.2f %.2f\n",
           prefix, WRITE_BYTES_S / 1048576.0, load[0], load[1], load[2]);
    for (int k = 0; k < nsizes; k++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", k + 1);
        live_t L;
        memset(&L, 0, sizeof L);
        inventory(id, sizes[k]);
        L.world_bytes = provision(id, sizes[k]);
        measure_idle(&L.idle);
        live_move(id, &L);
        /* what the final pass's verification costs at least: one SHA-256 of every file
         * (docs/DRIVERS.md: the source's strong manifest, then the target's check) */
        char cmd[700];
        snprintf(cmd, sizeof cmd, "cd '%s/servers/%s' && find world -type f -print0 | xargs -0 sha256sum > /dev/null",
                 ag[1].dir, id);
        int64_t h0 = timefmt_mono_ms();
        if (sh("%s", cmd) != 0) die("sha256sum failed");
        L.sha_ms = timefmt_mono_ms() - h0;
        offline_t O;
        offline_move(id, &O);
        getloadavg(load, 3);
        double gib = (double)L.world_bytes / (1 << 30);
        printf("  %g GiB world (%lld region files of 10 MiB), load average now %.2f %.2f %.2f\n", sizes[k],
               L.world_bytes / REGION_BYTES, load[0], load[1], load[2]);
        printf("    live: player_downtime_ms %lld (the record); from the waiting room to B answering a ping %lld ms; "
               "no node answering %lld ms (B answered %lld ms before A went silent); passes %d + final; whole migration %.1f s\n",
               L.player_downtime_ms, (long long)L.room_to_b_ms, (long long)L.gap_ms, (long long)L.overlap_ms,
               L.passes > 0 ? L.passes : 1, L.total_ms / 1000.0);
        printf("    one SHA-256 of the whole world (sha256sum, page cache warm): %lld ms\n", (long long)L.sha_ms);
        printf("    offline (stop, tar -c | TCP loopback | tar -x, start): %lld ms = stop %lld + copy %lld + start to "
               "first ping %lld; no node answering %lld ms\n",
               (long long)O.total_ms, (long long)O.stop_ms, (long long)O.copy_ms, (long long)O.start_ms,
               (long long)O.gap_ms);
        printf("    ratio live / offline (player_downtime_ms / offline downtime): %.4f\n",
               O.total_ms > 0 ? (double)L.player_downtime_ms / (double)O.total_ms : 0);
        print_usage("idle", &L.idle, 0);
        print_usage("pass 1", &L.pass1, gib);
        printf("    pass 1: %.2f GiB in %.1f s (%.0f MiB/s)\n", gib, L.pass1.wall_s,
               L.pass1.wall_s > 0 ? gib * 1024 / L.pass1.wall_s : 0);
        fflush(stdout);
        if (k + 1 < nsizes) remove_server(id); /* the last goes with the agents' folder */
    }
    stack_down(&st, false);
    return 0;
}
