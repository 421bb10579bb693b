/* fanout.c - benchmark of the WebSocket relay (GET /api/ws): 1,000 WebSocket clients on
 * one core, the relay under test pinned alone to the other, events published at a
 * steady rate through the same path as the functions' emit (XADD to the stream, PUBLISH
 * with the id first) with their publish time inside. Measured for bin/migrate-api and,
 * in the same run, for the reference relay bench/ref/relay.js (Node, ws + ioredis):
 * messages delivered (all must be), latency from publish to receipt (p50, p99, max),
 * the relay process's CPU time per delivered message (utime + stime of /proc/<pid>/stat)
 * and its peak RSS (VmHWM), then the saturation point: the rate is doubled, then bisected,
 * until latency grows without bound or messages are lost. Prints the figures and the
 * ratios of migrate-api to the reference. In the same run, the floor: a relay that does
 * only what no relay can avoid (one send() of one frame per client per event), whose
 * CPU per message is the kernel's share, the physical limit on this machine.
 *
 * The clients are our own: raw non-blocking sockets on one libevent loop with the
 * minimal framing of core/wsframe.h, so the load generator costs little and is the
 * same for both relays. It shares its core with redis-server, which does little here.
 * Everything runs SCHED_FIFO when allowed (root), so that the rest of the machine does
 * not add its preemptions to the latency measured.
 *
 *   build/rel/bench/fanout [--clients N] [--seconds S] [--rates 50,100] [--relays c,floor,node]
 *                          [--api PATH] [--no-saturation]
 *
 * Needs node and npm for the reference (installed into bench/ref/node_modules on first
 * use); run from the repository's root. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/wsframe.h"
#include "core/timefmt.h"
#include "tests/support/redis_harness.h"

#define CPU_RELAY 0            /* the relay under test runs alone on this core */
#define CPU_LOAD 1             /* this program and redis-server on the other */
#define NICE -20               /* when real-time scheduling is not allowed */
#define PREFIX "bench:"        /* MIG_PREFIX of the run: the stream and channel bench:events */
#define CLIENT_BUF (64 * 1024) /* a client's read buffer: frames are ~300 bytes */
#define CONNECTS_IN_FLIGHT 64  /* handshakes at once while connecting the clients */
#define HIST_US 10             /* latency histogram: 10 us buckets... */
#define HIST_N 1000000         /* ...up to 10 s, the rest in the last one */
#define TAIL_MS 3000           /* after publishing, wait this long for the last deliveries */
#define SAT_SECONDS 5          /* length of each saturation step */
#define SAT_MAX_RATE 25600     /* events/s where the search gives up */

/* ---- settings ------------------------------------------------------------------------- */

static int nclients = 1000, seconds = 20, saturation = 1;
static int rates[8] = {50, 100}, nrates = 2;
static const char *relays[3] = {"c", "floor", "node"};
static int nrelays = 3;
static char api_path[512] = "build/rel/bin/migrate-api";

/* ---- clocks, processes ------------------------------------------------------------------ */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static pid_t bench_pid;   /* this program; a forked child or the floor relay is not it */
static pid_t running_pid; /* the child running now (a relay, npm), 0 between them */
static void stop_children(void);

/* Prints the error, stops by PID whatever the bench started (PR_SET_PDEATHSIG is only
 * the backstop for a crash) and exits 1. */
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fanout: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    stop_children();
    exit(1);
}

static void pin(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0) die("cannot pin to cpu %d: %s", cpu, strerror(errno));
}

/* Runs `argv` pinned to `cpu` with `env` (NULL-terminated "K=V" strings) added, its
 * output into `log`, in `dir` (or here); it dies with this program. */
static pid_t spawn(const char *const *argv, const char *const *env, int cpu, const char *log, const char *dir) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid > 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    pin(0, cpu);
    for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (dir && chdir(dir) != 0) _exit(126);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

static void stop_process(pid_t pid) {
    kill(pid, SIGTERM);
    if (harness_wait(pid, 10000) == -1) {
        kill(pid, SIGKILL);
        harness_wait(pid, 5000);
    }
}

/* utime + stime of a process, seconds (every thread counted); its user part in *user. */
static double cpu_seconds(pid_t pid, double *user) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces; the fields follow it */
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    *user = (double)ut / (double)sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A field of /proc/<pid>/status in kB (VmHWM, VmRSS), or -1. */
static long status_kb(pid_t pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') kb = atol(line + fl + 1);
    if (f) fclose(f);
    return kb;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("no free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static int tcp_socket(int port, int nonblock) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void wait_port(int port, pid_t pid, const char *log) {
    for (int i = 0; i < 1000; i++) {
        int fd = tcp_socket(port, 0);
        if (fd >= 0) {
            close(fd);
            return;
        }
        if (harness_wait(pid, 0) != -1) die("the relay exited; see %s", log);
        timefmt_sleep_ms(10);
    }
    die("the relay does not listen on %d; see %s", port, log);
}

/* ---- the clients ------------------------------------------------------------------------ */

typedef enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED } cstate_t;

typedef struct {
    int fd;
    cstate_t state;
    struct event *ev;
    size_t n;           /* bytes in buf */
    uint64_t next_seq;  /* the seq expected next */
    uint64_t got, dup, gap;
    unsigned char *buf;
} client_t;

static struct event_base *base;
static client_t *clients;
static int relay_port, open_clients, connecting;
static uint32_t *hist;          /* latency histogram of the run */
static uint64_t lat_max_ns, delivered, dups, gaps;
static uint32_t *hist_early, *hist_late; /* 1 ms buckets of the first and last fifth of a run */
static uint64_t run_start_ns, run_len_ns;
static uint64_t run_first_seq; /* events before it are late ones of an earlier run: ignored */

static const unsigned char MASK[4] = {0x5a, 0xa5, 0x3c, 0xc3};

static void client_send(client_t *c, int op, const void *payload, size_t len) {
    unsigned char f[WSFRAME_HEADER_MAX + WSFRAME_CONTROL_MAX];
    if (send(c->fd, f, wsframe_write(f, op, payload, len, MASK), MSG_NOSIGNAL) < 0) { /* the reader will see the end */
    }
}

static void client_close(client_t *c) {
    if (c->state == C_CLOSED || c->state == C_IDLE) return;
    if (c->state == C_OPEN) open_clients--;
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) connecting--;
    c->state = C_CLOSED;
    event_free(c->ev);
    c->ev = NULL;
    close(c->fd);
    c->fd = -1;
}

/* Reads a uint64 after `key` in a JSON text of `n` bytes; 0 when absent. */
static uint64_t field_u64(const unsigned char *s, size_t n, const char *key) {
    const unsigned char *p = memmem(s, n, key, strlen(key));
    if (p == NULL) return 0;
    uint64_t v = 0;
    for (p += strlen(key); p < s + n && *p >= '0' && *p <= '9'; p++) v = v * 10 + (uint64_t)(*p - '0');
    return v;
}

static void on_event(client_t *c, const unsigned char *p, size_t n, uint64_t now) {
    uint64_t seq = field_u64(p, n, "\"seq\":"), sent = field_u64(p, n, "\"sent_ns\":");
    if (seq < run_first_seq) return; /* not one of this run's */
    if (seq < c->next_seq) {
        c->dup++;
        dups++;
        return;
    }
    if (seq > c->next_seq && c->next_seq) {
        c->gap += seq - c->next_seq;
        gaps += seq - c->next_seq;
    }
    c->next_seq = seq + 1;
    c->got++;
    delivered++;
    uint64_t lat = now > sent ? now - sent : 0;
    if (lat > lat_max_ns) lat_max_ns = lat;
    uint64_t b = lat / 1000 / HIST_US;
    hist[b < HIST_N ? b : HIST_N - 1]++;
    if (run_len_ns && sent >= run_start_ns) {
        uint64_t at = (sent - run_start_ns) * 5 / run_len_ns, ms = lat / 1000000;
        if (ms > 9999) ms = 9999;
        if (at == 0) hist_early[ms]++;
        else if (at == 4) hist_late[ms]++;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg);

/* Parses the frames in a client's buffer. */
static void client_frames(client_t *c, uint64_t now) {
    size_t at = 0;
    while (c->state == C_OPEN) {
        wsframe_header_t h;
        int rv = wsframe_header_parse(c->buf + at, c->n - at, WSFRAME_FROM_SERVER, &h);
        if (rv < 0) die("the relay sent a malformed frame");
        if (rv == 0 || c->n - at < h.header_len + h.len) break;
        unsigned char *p = c->buf + at + h.header_len;
        size_t len = (size_t)h.len;
        at += h.header_len + len;
        if (h.opcode == WSFRAME_OP_TEXT) {
            on_event(c, p, len, now);
        } else if (h.opcode == WSFRAME_OP_PING) {
            client_send(c, WSFRAME_OP_PONG, p, len);
        } else if (h.opcode == WSFRAME_OP_CLOSE) {
            client_send(c, WSFRAME_OP_CLOSE, p, len < 2 ? len : 2);
            client_close(c);
            return;
        }
    }
    memmove(c->buf, c->buf + at, c->n - at);
    c->n -= at;
    if (c->n == CLIENT_BUF) die("a frame larger than the client buffer");
}

static void handshake_sent(client_t *c) {
    char req[512];
    int len = snprintf(req, sizeof req,
                       "GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                       relay_port);
    if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        client_close(c);
        return;
    }
    c->state = C_HANDSHAKE;
    event_del(c->ev);
    event_assign(c->ev, base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
    event_add(c->ev, NULL);
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    client_t *c = arg;
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) client_close(c);
    else handshake_sent(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    client_t *c = arg;
    ssize_t got = recv(fd, c->buf + c->n, CLIENT_BUF - c->n, 0);
    if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        client_close(c);
        return;
    }
    c->n += (size_t)got;
    if (c->state == C_HANDSHAKE) {
        unsigned char *end = memmem(c->buf, c->n, "\r\n\r\n", 4);
        if (end == NULL) return;
        if (c->n < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
            client_close(c);
            return;
        }
        size_t hl = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + hl, c->n - hl);
        c->n -= hl;
        c->state = C_OPEN;
        connecting--;
        open_clients++;
    }
    client_frames(c, mono_ns());
}

static void client_start(client_t *c) {
    c->fd = tcp_socket(relay_port, 1);
    if (c->fd < 0) die("connect: %s", strerror(errno));
    c->n = 0;
    c->next_seq = 0;
    c->state = C_CONNECTING;
    connecting++;
    c->ev = event_new(base, c->fd, EV_WRITE, on_writable, c);
    event_add(c->ev, NULL);
}

static void loop_for_ms(int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Connects every client that is not open, CONNECTS_IN_FLIGHT at a time; dies when they
 * cannot all be. Returns the seconds it took. */
static double connect_all(void) {
    uint64_t t0 = mono_ns();
    for (int round = 0; open_clients < nclients; round++) {
        if (round > 20000) die("only %d of %d clients connected", open_clients, nclients);
        for (int i = 0; i < nclients && connecting < CONNECTS_IN_FLIGHT; i++)
            if (clients[i].state == C_IDLE || clients[i].state == C_CLOSED) client_start(&clients[i]);
        loop_for_ms(5);
    }
    return (double)(mono_ns() - t0) / 1e9;
}

static void close_all(void) {
    for (int i = 0; i < nclients; i++) {
        client_close(&clients[i]);
        clients[i].state = C_IDLE;
    }
}

/* ---- publishing ------------------------------------------------------------------------- */

/* The functions' emit (lua-scripts/common.lua), for a given JSON. */
static const char *EMIT_LUA =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', 100000, '*', 'e', ARGV[1]) "
    "redis.call('PUBLISH', KEYS[1], '{\"event_id\":\"' .. id .. '\",' .. string.sub(ARGV[1], 2)) "
    "return id";

static harness_redis_t redis;
static redisAsyncContext *pub;
static char emit_sha[64];
static uint64_t seq_next = 1, published, pub_base; /* published counts from pub_base at a run's start */
static double pub_rate;
static uint64_t pub_start_ns, pub_end_ns;
static struct event *pub_ev;

static void on_published(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    (void)priv;
    redisReply *r = reply;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) die("publish failed: %s", r ? r->str : "disconnected");
}

static void publish_one(void) {
    uint64_t seq = seq_next++;
    char json[512];
    snprintf(json, sizeof json,
             "{\"type\":\"migration.progress\",\"migration_id\":\"0190f3c2-6d1e-7a8b-9c0d-%012llu\","
             "\"server_id\":\"s%llu\",\"status\":\"transferring\",\"progress\":%d,"
             "\"message\":\"Syncing world (%d%%)\",\"phase_step\":\"transfer.sync\","
             "\"timestamp\":\"2026-11-28T13:12:11.123Z\",\"seq\":%llu,\"sent_ns\":%llu}",
             (unsigned long long)(seq % 1000), (unsigned long long)(seq % 500), (int)(seq % 100), (int)(seq % 100),
             (unsigned long long)seq, (unsigned long long)mono_ns());
    redisAsyncCommand(pub, on_published, NULL, "EVALSHA %s 1 %s %s", emit_sha, PREFIX "events", json);
    published++;
}

/* Every millisecond: publishes the events due by now at the run's rate. */
static void on_pub_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = mono_ns();
    if (now >= pub_end_ns) now = pub_end_ns;
    uint64_t due = (uint64_t)((double)(now - pub_start_ns) / 1e9 * pub_rate) + 1;
    while (published - pub_base < due) publish_one();
}

static void redis_up(void) {
    if (harness_redis_start(&redis, NULL) != 0) die("cannot start redis-server");
    redisReply *r = harness_redis_cmd(&redis, "SCRIPT LOAD %s", EMIT_LUA);
    if (r == NULL || r->type != REDIS_REPLY_STRING) die("SCRIPT LOAD failed");
    snprintf(emit_sha, sizeof emit_sha, "%s", r->str);
    freeReplyObject(r);
    pub = redisAsyncConnectUnix(redis.sock);
    if (pub == NULL || pub->err) die("cannot connect to redis");
    redisLibeventAttach(pub, base);
}

/* ---- one run ---------------------------------------------------------------------------- */

typedef struct {
    double rate;            /* events per second */
    uint64_t published;     /* events */
    uint64_t expected, delivered, dups, gaps;
    int clients_end;        /* clients still open at the end */
    double p50_ms, p99_ms, max_ms;
    double early_p50_ms, late_p50_ms, late_p99_ms;
    double cpu_s;           /* relay CPU over the run */
    double us_per_msg;      /* relay CPU per delivered message, microseconds */
    double user_us_per_msg; /* its user-space part: the rest is the kernel's TCP path */
    double load_cpu_s;      /* this program's CPU over the run */
} run_t;

static double quantile(const uint32_t *h, size_t n, double bucket_ms, double q) {
    uint64_t total = 0, seen = 0;
    for (size_t i = 0; i < n; i++) total += h[i];
    if (total == 0) return 0;
    uint64_t want = (uint64_t)((double)total * q);
    for (size_t i = 0; i < n; i++) {
        seen += h[i];
        if (seen > want) return (double)(i + 1) * bucket_ms; /* the bucket's upper bound */
    }
    return (double)n * bucket_ms;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Publishes at `rate` for `secs` to every open client and measures. */
static run_t run(pid_t relay, double rate, int secs) {
    run_t r = {.rate = rate};
    memset(hist, 0, HIST_N * sizeof *hist);
    memset(hist_early, 0, 10000 * sizeof *hist_early);
    memset(hist_late, 0, 10000 * sizeof *hist_late);
    lat_max_ns = delivered = dups = gaps = 0;
    for (int i = 0; i < nclients; i++) clients[i].next_seq = seq_next;
    int receivers = open_clients;
    uint64_t first = seq_next;
    run_first_seq = first;
    published = pub_base = seq_next - 1;
    double user0, user1;
    double cpu0 = cpu_seconds(relay, &user0), self0 = self_cpu();
    pub_rate = rate;
    pub_start_ns = mono_ns();
    run_start_ns = pub_start_ns;
    run_len_ns = (uint64_t)secs * 1000000000ull;
    pub_end_ns = pub_start_ns + run_len_ns;
    struct timeval ms = {0, 1000};
    pub_ev = event_new(base, -1, EV_PERSIST, on_pub_tick, NULL);
    event_add(pub_ev, &ms);
    while (mono_ns() < pub_end_ns) loop_for_ms(100);
    event_free(pub_ev);
    r.published = seq_next - first;
    r.expected = r.published * (uint64_t)receivers;
    uint64_t tail_end = mono_ns() + (uint64_t)TAIL_MS * 1000000ull;
    while (delivered < r.expected && mono_ns() < tail_end) loop_for_ms(20);
    r.cpu_s = cpu_seconds(relay, &user1) - cpu0;
    r.load_cpu_s = self_cpu() - self0;
    run_len_ns = 0;
    r.delivered = delivered;
    r.dups = dups;
    r.gaps = gaps;
    r.clients_end = open_clients;
    r.p50_ms = quantile(hist, HIST_N, HIST_US / 1000.0, 0.50);
    r.p99_ms = quantile(hist, HIST_N, HIST_US / 1000.0, 0.99);
    r.max_ms = (double)lat_max_ns / 1e6;
    r.early_p50_ms = quantile(hist_early, 10000, 1, 0.50);
    r.late_p50_ms = quantile(hist_late, 10000, 1, 0.50);
    r.late_p99_ms = quantile(hist_late, 10000, 1, 0.99);
    r.us_per_msg = r.delivered ? r.cpu_s * 1e6 / (double)r.delivered : 0;
    r.user_us_per_msg = r.delivered ? (user1 - user0) * 1e6 / (double)r.delivered : 0;
    return r;
}

/* A run kept up when nothing was lost or dropped and latency stayed bounded: p99 under
 * 100 ms, and the last fifth of the run no slower than the first beyond noise (a relay
 * that falls behind shows a latency that grows through the run). */
static int kept_up(const run_t *r) {
    return r->delivered == r->expected && r->dups == 0 && r->clients_end == nclients && r->p99_ms < 100 &&
           r->late_p50_ms <= 2 * r->early_p50_ms + 10;
}

static void print_run(const char *who, const run_t *r) {
    printf("  %-4s %6.0f ev/s  delivered %9llu/%-9llu dup %llu gap %llu  p50 %7.2f ms  p99 %7.2f ms  max %8.2f ms  "
           "cpu %5.2f s = %5.2f us/msg (user %4.2f)  (load gen %4.1f s)%s\n",
           who, r->rate, (unsigned long long)r->delivered, (unsigned long long)r->expected,
           (unsigned long long)r->dups, (unsigned long long)r->gaps, r->p50_ms, r->p99_ms, r->max_ms, r->cpu_s,
           r->us_per_msg, r->user_us_per_msg, r->load_cpu_s, kept_up(r) ? "" : "  (did not keep up)");
    fflush(stdout);
}

/* ---- a relay ----------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    run_t at[8];
    long rss_kb;            /* VmHWM after the fixed-rate runs */
    double connect_s;
    double sat_ok, sat_fail; /* highest rate kept up, lowest not (0: none found) */
    long sat_rss_kb;
} result_t;

static char tmpdir[256];

static pid_t relay_start(const char *which, char *log, size_t loglen) {
    relay_port = free_port();
    char listen[64], url[400];
    snprintf(listen, sizeof listen, "MIG_API_LISTEN=127.0.0.1:%d", relay_port);
    snprintf(url, sizeof url, "MIG_REDIS_URL=%s", redis.url);
    /* migrate-api's default MIG_API_THREADS: a WebSocket holds no civetweb thread */
    const char *env[] = {listen, url, "MIG_PREFIX=" PREFIX, "MIG_LOG_LEVEL=warn", NULL};
    snprintf(log, loglen, "%s/%s.log", tmpdir, which);
    pid_t pid;
    if (strcmp(which, "c") == 0) {
        const char *argv[] = {api_path, NULL};
        pid = spawn(argv, env, CPU_RELAY, log, NULL);
    } else if (strcmp(which, "floor") == 0) {
        const char *argv[] = {"/proc/self/exe", "--floor-relay", NULL};
        pid = spawn(argv, env, CPU_RELAY, log, NULL);
    } else {
        const char *argv[] = {"node", "bench/ref/relay.js", NULL};
        pid = spawn(argv, env, CPU_RELAY, log, NULL);
    }
    running_pid = pid; /* before waiting for it: a relay that never listens is stopped too */
    wait_port(relay_port, pid, log);
    return pid;
}

/* Finds the highest rate the relay keeps up with: from the fixed-rate runs, doubling
 * above them until a run fails, then bisecting three times. */
static void saturation_search(pid_t pid, result_t *res) {
    double lo = 0, hi = 0;
    for (int i = 0; i < nrates; i++) {
        if (kept_up(&res->at[i]) && rates[i] > lo) lo = rates[i];
        if (!kept_up(&res->at[i]) && (hi == 0 || rates[i] < hi)) hi = rates[i];
    }
    if (hi > 0 && hi < lo) hi = 0; /* a noisy failure below a success: search above */
    for (double rate = lo > 0 ? lo * 2 : 100; hi == 0 && rate <= SAT_MAX_RATE; rate *= 2) {
        connect_all();
        loop_for_ms(500);
        run_t r = run(pid, rate, SAT_SECONDS);
        print_run(res->name, &r);
        if (kept_up(&r)) lo = rate;
        else hi = rate;
    }
    for (int step = 0; step < 3 && hi > 0 && hi - lo > 10; step++) {
        double mid = lo > 0 ? (lo + hi) / 2 : hi / 2;
        connect_all();
        loop_for_ms(500);
        run_t r = run(pid, mid, SAT_SECONDS);
        print_run(res->name, &r);
        if (kept_up(&r)) lo = mid;
        else hi = mid;
    }
    res->sat_ok = lo;
    res->sat_fail = hi;
}

static void measure(const char *which, result_t *res) {
    char log[400];
    int is_c = strcmp(which, "c") == 0, is_floor = strcmp(which, "floor") == 0;
    res->name = is_c ? "C" : is_floor ? "floor" : "node";
    pid_t pid = relay_start(which, log, sizeof log);
    loop_for_ms(300);
    res->connect_s = connect_all();
    printf("%s: %d clients connected in %.1f s (log %s)\n",
           is_c ? api_path : is_floor ? "the kernel's floor (fanout --floor-relay)" : "bench/ref/relay.js", nclients,
           res->connect_s, log);
    loop_for_ms(1000);
    for (int i = 0; i < nrates; i++) {
        res->at[i] = run(pid, rates[i], seconds);
        print_run(res->name, &res->at[i]);
        connect_all(); /* a relay that dropped clients gets them back for the next run */
        loop_for_ms(500);
    }
    res->rss_kb = status_kb(pid, "VmHWM");
    if (saturation) {
        saturation_search(pid, res);
        res->sat_rss_kb = status_kb(pid, "VmHWM");
    }
    close_all();
    loop_for_ms(200);
    stop_process(pid);
    running_pid = 0;
}

/* Installs ws and ioredis into bench/ref/node_modules once. */
static void npm_install(void) {
    struct stat st;
    if (stat("bench/ref/node_modules/ws", &st) == 0 && stat("bench/ref/node_modules/ioredis", &st) == 0) return;
    printf("installing the reference relay's packages (npm install in bench/ref)...\n");
    fflush(stdout);
    char log[400];
    snprintf(log, sizeof log, "%s/npm.log", tmpdir);
    const char *argv[] = {"npm", "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error", NULL};
    pid_t pid = running_pid = spawn(argv, NULL, CPU_LOAD, log, "bench/ref");
    int status = harness_wait(pid, 300000);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("npm install failed; see %s", log);
    running_pid = 0;
}

/* ---- the floor: what any relay pays the kernel ------------------------------------------------ */

/* The floor relay (`fanout --floor-relay`, started like the others, pinned to the relay's
 * core): the least a relay can do. It answers each client's upgrade request with a fixed
 * 101, subscribes to the events channel as migrate-api does, and for each message builds
 * one frame and sends it to every client with one non-blocking send() on a TCP_NODELAY
 * socket: no queue, no filters, no replay, no pings. Its CPU per delivered message is
 * the kernel's price of one small segment to one loopback client on this machine, which
 * every relay pays; a client whose socket is full is closed (the run then reports it). */

#define FLOOR_FDS 65536 /* descriptors the floor can track: a client is known by its fd */
static struct event *floor_ev[FLOOR_FDS]; /* each client's read event */
static unsigned char floor_open[FLOOR_FDS]; /* its upgrade was answered: it gets frames */
static int floor_fd[FLOOR_FDS], floor_n;    /* the open ones, in no order */
static struct event_base *floor_base;

static void floor_close(int fd) {
    if (floor_open[fd])
        for (int i = 0; i < floor_n; i++)
            if (floor_fd[i] == fd) {
                floor_fd[i] = floor_fd[--floor_n];
                break;
            }
    floor_open[fd] = 0;
    event_free(floor_ev[fd]);
    floor_ev[fd] = NULL;
    close(fd);
}

static void floor_on_message(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    (void)priv;
    redisReply *r = reply;
    if (r == NULL) exit(1); /* Redis went away: the bench is over */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || strcmp(r->element[0]->str, "message") != 0) return;
    static unsigned char frame[WSFRAME_HEADER_MAX + 65536];
    size_t len = r->element[2]->len;
    if (len > 65536) return;
    size_t fl = wsframe_write(frame, WSFRAME_OP_TEXT, r->element[2]->str, len, NULL);
    for (int i = 0; i < floor_n; i++) {
        int fd = floor_fd[i];
        if (send(fd, frame, fl, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)fl) {
            floor_close(fd); /* moves the last one into slot i */
            i--;
        }
    }
}

/* A client's bytes: its upgrade request (answered once whole), then frames the floor
 * ignores (pongs, a close), then its end. */
static void floor_on_client(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    (void)arg;
    char buf[4096];
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) {
        floor_close((int)fd);
        return;
    }
    if (!floor_open[fd] && memmem(buf, (size_t)got, "\r\n\r\n", 4)) {
        static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        if (send(fd, ok, sizeof ok - 1, MSG_NOSIGNAL) != (ssize_t)sizeof ok - 1) {
            floor_close((int)fd);
            return;
        }
        floor_open[fd] = 1;
        floor_fd[floor_n++] = (int)fd;
    }
}

static void floor_on_accept(evutil_socket_t lfd, short what, void *arg) {
    (void)what;
    (void)arg;
    int fd;
    while ((fd = accept4((int)lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        if (fd >= FLOOR_FDS) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        floor_ev[fd] = event_new(floor_base, fd, EV_READ | EV_PERSIST, floor_on_client, NULL);
        event_add(floor_ev[fd], NULL);
    }
}

static int floor_relay(void) {
    const char *listen_at = getenv("MIG_API_LISTEN"), *url = getenv("MIG_REDIS_URL");
    const char *colon = listen_at ? strrchr(listen_at, ':') : NULL;
    if (colon == NULL || url == NULL || strncmp(url, "unix://", 7) != 0) die("floor relay: MIG_API_LISTEN, MIG_REDIS_URL");
    signal(SIGPIPE, SIG_IGN);
    floor_base = event_base_new();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 1024) != 0) die("floor relay: listen");
    struct event *acc = event_new(floor_base, lfd, EV_READ | EV_PERSIST, floor_on_accept, NULL);
    event_add(acc, NULL);
    redisAsyncContext *sub = redisAsyncConnectUnix(url + 7);
    if (sub == NULL || sub->err) die("floor relay: cannot connect to redis");
    redisLibeventAttach(sub, floor_base);
    redisAsyncCommand(sub, floor_on_message, NULL, "SUBSCRIBE %s", PREFIX "events");
    event_base_dispatch(floor_base);
    return 0;
}

/* ---- stopping --------------------------------------------------------------------------- */

/* Stops the running child and redis-server by PID (redis-server's folder removed), when
 * called in the bench itself: a child that fails between fork and exec, or the floor
 * relay, must not signal its parent's processes. Safe to call twice. */
static void stop_children(void) {
    if (bench_pid == 0 || getpid() != bench_pid) return;
    if (running_pid > 0) stop_process(running_pid);
    running_pid = 0;
    harness_redis_stop(&redis);
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(void) {
    printf("usage: fanout [--clients N] [--seconds S] [--rates 50,100] [--relays c,floor,node] [--api PATH] "
           "[--no-saturation]\n");
}

/* The result of relay `name` ("C", "floor", "node"), or NULL when it did not run. */
static const result_t *result_of(const result_t *res, const char *name) {
    for (int i = 0; i < nrelays; i++)
        if (res[i].name && strcmp(res[i].name, name) == 0) return &res[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--floor-relay") == 0) return floor_relay();
    bench_pid = getpid();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-saturation") == 0) {
            saturation = 0;
        } else if (strcmp(a, "--help") == 0) {
            usage();
            return 0;
        } else if (v && strcmp(a, "--clients") == 0) {
            nclients = atoi(v), i++;
        } else if (v && strcmp(a, "--seconds") == 0) {
            seconds = atoi(v), i++;
        } else if (v && strcmp(a, "--api") == 0) {
            snprintf(api_path, sizeof api_path, "%s", v), i++;
        } else if (v && strcmp(a, "--rates") == 0) {
            nrates = 0;
            for (char *s = argv[++i], *tok; (tok = strtok(s, ",")) != NULL && nrates < 8; s = NULL)
                rates[nrates++] = atoi(tok);
        } else if (v && strcmp(a, "--relays") == 0) {
            nrelays = 0;
            for (char *s = argv[++i], *tok; (tok = strtok(s, ",")) != NULL && nrelays < 3; s = NULL) {
                if (strcmp(tok, "c") != 0 && strcmp(tok, "floor") != 0 && strcmp(tok, "node") != 0) {
                    usage();
                    return 2;
                }
                relays[nrelays++] = strcmp(tok, "c") == 0 ? "c" : strcmp(tok, "floor") == 0 ? "floor" : "node";
            }
        } else {
            usage();
            return 2;
        }
    }
    if (nclients < 1 || seconds < 1 || nrates < 1) die("bad arguments");
    struct stat st;
    if (stat(api_path, &st) != 0) die("%s is missing: make %s (or pass --api)", api_path, api_path);
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) die("needs 2 cores: one for the relay, one for the load");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nclients * 2 + 64) die("RLIMIT_NOFILE %lu is too low", (unsigned long)rl.rlim_cur);
    signal(SIGPIPE, SIG_IGN);
    pin(0, CPU_LOAD); /* redis-server and the relays, started next, inherit it */
    snprintf(tmpdir, sizeof tmpdir, "%s/fanout.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) die("mkdtemp: %s", strerror(errno));
    for (int i = 0; i < nrelays; i++)
        if (strcmp(relays[i], "node") == 0) npm_install();
    /* Whatever else runs on the machine (builds, other tests) would otherwise preempt
     * the relay or the clients for tens of milliseconds and show up as its latency:
     * SCHED_FIFO keeps them out (the kernel's RT throttling still leaves others 5% of a
     * core), and is inherited by redis-server and the relays started next. */
    struct sched_param sp = {.sched_priority = 1};
    const char *sched = "SCHED_FIFO 1";
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
        sched = setpriority(PRIO_PROCESS, 0, NICE) == 0 ? "nice -20" : "normal (no privilege to raise it)";

    base = event_base_new();
    clients = calloc((size_t)nclients, sizeof *clients);
    hist = calloc(HIST_N, sizeof *hist);
    hist_early = calloc(10000, sizeof *hist_early);
    hist_late = calloc(10000, sizeof *hist_late);
    if (!base || !clients || !hist || !hist_early || !hist_late) die("out of memory");
    for (int i = 0; i < nclients; i++)
        if ((clients[i].buf = malloc(CLIENT_BUF)) == NULL) die("out of memory");
    redis_up();
    printf("fanout: %d clients, %d s per rate, relay on cpu %d, load and redis-server on cpu %d, scheduling %s\n",
           nclients, seconds, CPU_RELAY, CPU_LOAD, sched);

    result_t res[3];
    memset(res, 0, sizeof res);
    for (int i = 0; i < nrelays; i++) measure(relays[i], &res[i]);

    printf("\n| relay | rate ev/s | delivered | p50 ms | p99 ms | max ms | CPU us/msg | of which user "
           "| peak RSS MiB |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nrelays; i++)
        for (int k = 0; k < nrates; k++) {
            const run_t *r = &res[i].at[k];
            printf("| %s | %.0f | %llu/%llu | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", res[i].name, r->rate,
                   (unsigned long long)r->delivered, (unsigned long long)r->expected, r->p50_ms, r->p99_ms, r->max_ms,
                   r->us_per_msg, r->user_us_per_msg, res[i].rss_kb / 1024.0);
        }
    printf("\n");
    const result_t *rc = result_of(res, "C"), *rf = result_of(res, "floor"), *rn = result_of(res, "node");
    if (rc && rn && saturation && rn->sat_ok > 0) printf("saturation C/node = %.1f\n", rc->sat_ok / rn->sat_ok);
    for (int i = 0; i < nrelays && saturation; i++)
        printf("%s saturation: keeps up at %.0f ev/s (%.0f msg/s), not at %.0f ev/s; peak RSS then %.1f MiB\n",
               res[i].name, res[i].sat_ok, res[i].sat_ok * nclients, res[i].sat_fail, res[i].sat_rss_kb / 1024.0);
    for (int k = 0; k < nrates; k++) {
        const run_t *c = rc ? &rc->at[k] : NULL, *f = rf ? &rf->at[k] : NULL, *n = rn ? &rn->at[k] : NULL;
        if (c && n)
            printf("at %.0f ev/s: CPU per message C/node = %.2f (user-space part %.2f), p99 C/node = %.2f, "
                   "peak RSS C/node = %.2f\n",
                   c->rate, n->us_per_msg > 0 ? c->us_per_msg / n->us_per_msg : 0,
                   n->user_us_per_msg > 0 ? c->user_us_per_msg / n->user_us_per_msg : 0,
                   n->p99_ms > 0 ? c->p99_ms / n->p99_ms : 0,
                   rn->rss_kb > 0 ? (double)rc->rss_kb / (double)rn->rss_kb : 0);
        if (f && f->us_per_msg > 0 && (c || n)) {
            printf("at %.0f ev/s: floor CPU per message %.2f us", f->rate, f->us_per_msg);
            if (c) printf(", C/floor = %.2f", c->us_per_msg / f->us_per_msg);
            if (n) printf(", floor/node = %.2f", f->us_per_msg / n->us_per_msg);
            printf("\n");
            /* A relay can only add to the floor: a target under it is out of reach. */
            if (n)
                printf("  so at most a third of node's CPU per message (%.2f us) is %s the floor (%.2f us): %s\n",
                       n->us_per_msg / 3, n->us_per_msg / 3 < f->us_per_msg ? "below" : "above", f->us_per_msg,
                       n->us_per_msg / 3 < f->us_per_msg ? "out of reach on this machine"
                                                        : "the floor does not rule it out");
        }
    }
    redisAsyncFree(pub);
    stop_children();
    return 0;
}
