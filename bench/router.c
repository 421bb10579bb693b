/* router.c - benchmark of bin/migrate-router on loopback, in one run:
 *
 *   throughput  one player's connection carrying a server-to-client stream of play-state
 *               frames (32 KiB each, what chunk data looks like to the router: it follows
 *               every frame header, router/conntrack.h), from a backend of this program
 *               through the router, against the floor of a plain TCP relay (one thread per
 *               direction, splice(2) through a pipe: no copy to user space) and against a
 *               direct connection. The client sends the same Handshake and Login Start to
 *               each; the backend answers Login Success and Finish Configuration, then the
 *               stream. The router's CPU time per GiB from /proc.
 *   idle        N players' connections routed to the backend and held in play, the backend
 *               sending each a Keep Alive every second: the router's RSS and CPU time
 *               before, after routing them, and over IDLE_S seconds of holding them.
 *
 * Runs bin/migrate-router (MIG_BIN_DIR, default bin) with its state in a temp dir, its game
 * and bridge ports on 127.0.0.1:0, and registers the server "Bench" at the backend
 * through its bridge (no token).
 *
 *   build/rel/bench/router [MiB per throughput run (1024)] [idle connections (100)] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/mcproto.h"

#define PROTOCOL 766        /* 1.20.5/1.20.6: the version the real test uses */
#define FRAME_BYTES 32768   /* one play-state frame of the stream */
#define FRAMES_PER_BUF 32
#define PLAY_CHUNK_ID 0x27  /* any play packet that does not change the state */
#define RUNS 3
#define IDLE_S 10
#define START_MS 10000
#define READ_TIMEOUT_S 30

enum { MODE_STREAM, MODE_IDLE }; /* what the backend sends after the login */

static _Atomic int g_mode = MODE_STREAM;
static uint64_t g_total;         /* bytes of one stream */
static uint8_t *g_frames;        /* FRAMES_PER_BUF frames */
static size_t g_frames_len;
static uint8_t g_hello[64];      /* Login Success + Finish Configuration */
static size_t g_hello_len;
static _Atomic bool g_stop;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "router bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int listen_any(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 512) != 0) die("listen");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {READ_TIMEOUT_S, 0}; /* a stalled contender fails the run, never hangs it */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ------------------------------------------------------------------ the backend */

static void *backend_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    uint8_t in[4096];
    /* the greeting (not parsed: its first bytes are enough to answer) */
    if (read(fd, in, sizeof in) <= 0) goto out;
    if (write_all(fd, g_hello, g_hello_len) != 0) goto out;
    if (atomic_load(&g_mode) == MODE_STREAM) {
        /* then it hangs up first, as a server that stops does: the router passes on
         * what is queued, then closes the player's connection (until 8066ff2 this froze
         * the router's event loop; router_idle_wait below sees that it did not) */
        for (uint64_t sent = 0; sent < g_total; sent += g_frames_len) {
            if (write_all(fd, g_frames, g_frames_len) != 0) goto out;
        }
    } else {
        /* a Keep Alive each second until the player goes */
        mcbuf_t b;
        mcbuf_init(&b);
        int64_t id = 0;
        for (;;) {
            for (int i = 0; i < 10; i++) {
                struct timespec ts = {0, 100 * 1000 * 1000};
                nanosleep(&ts, NULL);
                char c;
                ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
            }
            mcbuf_reset(&b);
            uint8_t ka[8];
            ++id;
            for (int i = 0; i < 8; i++) ka[i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
            mcproto_frame_write(&b, mcproto_packet_id(PROTOCOL, MCPROTO_PLAY_KEEP_ALIVE), ka, sizeof ka);
            if (atomic_load(&g_stop) || write_all(fd, b.buf, b.len) != 0) break;
        }
        mcbuf_free(&b);
    }
out:
    close(fd);
    return NULL;
}

static void *backend_accept(void *arg) {
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 * 1024);
        if (pthread_create(&t, &at, backend_conn, (void *)(intptr_t)fd) != 0) close(fd);
        pthread_attr_destroy(&at);
    }
}

/* ------------------------------------------------------------------ the relay floor */

typedef struct {
    int from, to;
} pump_t;

static void *pump(void *arg) {
    pump_t *p = arg;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return NULL;
    fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20);
    for (;;) {
        ssize_t k = splice(p->from, NULL, pipefd[1], NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        while (k > 0) {
            ssize_t w = splice(pipefd[0], NULL, p->to, NULL, (size_t)k, SPLICE_F_MOVE | SPLICE_F_MORE);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) goto done;
            k -= w;
        }
    }
done:
    shutdown(p->to, SHUT_WR);
    close(pipefd[0]);
    close(pipefd[1]);
    return NULL;
}

static int g_backend_port;

static void *relay_conn(void *arg) {
    int c = (int)(intptr_t)arg;
    int s = connect_to(g_backend_port);
    pump_t up = {c, s}, down = {s, c};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, pump, &up);
    pthread_create(&t2, NULL, pump, &down);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    close(c);
    close(s);
    return NULL;
}

static void *relay_accept(void *arg) {
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return NULL;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, relay_conn, (void *)(intptr_t)fd) == 0) pthread_detach(t);
        else close(fd);
    }
}

/* ------------------------------------------------------------------ the player */

static size_t greeting(uint8_t *out, size_t cap, const char *name) {
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_handshake_t hs = {.protocol = PROTOCOL, .host = {.p = "bench", .n = 5}, .port = 25565,
                              .intent = MCPROTO_INTENT_LOGIN};
    mcproto_handshake_write(&b, &hs);
    mcproto_login_start_t ls = {.name = {.p = name, .n = strlen(name)}};
    mcproto_login_start_write(&b, PROTOCOL, &ls);
    size_t n = b.len < cap ? b.len : cap;
    memcpy(out, b.buf, n);
    mcbuf_free(&b);
    return n;
}

/* Connects to `port` as player `name` and reads until `want` bytes came (or the end).
 * Returns the bytes read. */
static uint64_t play(int port, const char *name, uint64_t want, int *fd_out) {
    int fd = connect_to(port);
    uint8_t g[256];
    size_t n = greeting(g, sizeof g, name);
    if (write_all(fd, g, n) != 0) die("greeting");
    static uint8_t buf[1 << 20];
    uint64_t got = 0;
    while (got < want) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (uint64_t)k;
    }
    if (fd_out) *fd_out = fd;
    else close(fd);
    return got;
}

/* ------------------------------------------------------------------ the router process */

typedef struct {
    pid_t pid;
    int port, http_port;
    char dir[128], log[200];
} router_t;

static int json_int(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    return p ? atoi(p + strlen(pat)) : 0;
}

static void router_start(router_t *r) {
    const char *bin = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "bin";
    char exe[256], state[256];
    snprintf(r->dir, sizeof r->dir, "/tmp/mig-bench-router-XXXXXX");
    if (mkdtemp(r->dir) == NULL) die("mkdtemp");
    snprintf(exe, sizeof exe, "%s/migrate-router", bin);
    snprintf(state, sizeof state, "--router-state-file=%s/router.json", r->dir);
    snprintf(r->log, sizeof r->log, "%s/router.log", r->dir);
    r->pid = fork();
    if (r->pid < 0) die("fork");
    if (r->pid == 0) {
        int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        setenv("MIG_ROUTER_HOSTS", "bench=Bench", 1);
        setenv("MIG_ROUTER_PER_IP_MAX", "100000", 1);
        setenv("MIG_LOG_LEVEL", "info", 1);
        unsetenv("MIG_ROUTER_TOKEN");
        execl(exe, exe, "--router-listen=127.0.0.1:0", "--router-http-listen=127.0.0.1:0", state, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    double end = now_s() + START_MS / 1000.0;
    while (now_s() < end) {
        FILE *f = fopen(r->log, "r");
        char line[2048];
        while (f && fgets(line, sizeof line, f)) {
            if (strstr(line, "\"router.started\"")) {
                r->port = json_int(line, "port");
                r->http_port = json_int(line, "http_port");
            }
        }
        if (f) fclose(f);
        if (r->port > 0 && r->http_port > 0) return;
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "router bench: %s did not start (see %s)\n", exe, r->log);
    exit(1);
}

static void router_stop(router_t *r) {
    kill(r->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) goto gone;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
gone:;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0) fprintf(stderr, "router bench: %s left\n", r->dir);
}

/* PUT /v1/servers/Bench at the backend; exits on an answer other than 200. */
static void router_register(const router_t *r, int backend_port) {
    char body[128], req[512], ans[512];
    int n = snprintf(body, sizeof body, "{\"address\":\"127.0.0.1:%d\"}", backend_port);
    int m = snprintf(req, sizeof req,
                     "PUT /v1/servers/Bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                     n, body);
    int fd = connect_to(r->http_port);
    if (write_all(fd, req, (size_t)m) != 0) die("PUT");
    ssize_t k = read(fd, ans, sizeof ans - 1);
    close(fd);
    if (k < 12 || strncmp(ans + 9, "200", 3) != 0) {
        fprintf(stderr, "router bench: registering Bench: %.*s\n", (int)(k > 0 ? k : 0), ans);
        exit(1);
    }
}

/* GET /metrics at the bridge; the value of gauge `name`, or -1. */
static long router_metric(const router_t *r, const char *name) {
    char req[256], ans[8192], pat[128];
    int m = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    int fd = connect_to(r->http_port);
    if (write_all(fd, req, (size_t)m) != 0) die("GET /metrics");
    size_t got = 0;
    ssize_t k;
    while (got < sizeof ans - 1 && (k = read(fd, ans + got, sizeof ans - 1 - got)) > 0) got += (size_t)k;
    close(fd);
    ans[got] = '\0';
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(ans, pat);
    return p ? atol(p + strlen(pat)) : -1;
}

/* Waits until the router holds no connection (the throughput runs' are closed), so that
 * the idle figures start from a router at rest; exits when it still holds one after
 * START_MS (a router that no longer closes connections, or answers nothing). */
static void router_idle_wait(router_t *r) {
    double end = now_s() + START_MS / 1000.0;
    for (;;) {
        if (router_metric(r, "mig_router_connections") == 0) return;
        if (now_s() > end) break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "router bench: the router still holds the throughput runs' connections after %d ms\n", START_MS);
    router_stop(r);
    exit(1);
}

/* CPU seconds (user + system) and RSS KiB of `pid`. */
static double cpu_s(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
    }
    if (f) fclose(f);
    return v;
}

/* ------------------------------------------------------------------ main */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 1024;
    int idle_n = argc > 2 ? atoi(argv[2]) : 100;
    if (mib <= 0 || idle_n <= 0) {
        fprintf(stderr, "usage: %s [MiB per run (1024)] [idle connections (100)]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* the stream: FRAMES_PER_BUF frames of FRAME_BYTES, and what comes before it */
    mcbuf_t b;
    mcbuf_init(&b);
    uint8_t *body = malloc(FRAME_BYTES);
    for (size_t i = 0; i < FRAME_BYTES; i++) body[i] = (uint8_t)(i * 2654435761u >> 13);
    size_t body_len = FRAME_BYTES - 4; /* header (3-byte length + id) included in FRAME_BYTES */
    for (int i = 0; i < FRAMES_PER_BUF; i++) mcproto_frame_write(&b, PLAY_CHUNK_ID, body, body_len);
    g_frames = malloc(b.len);
    memcpy(g_frames, b.buf, b.len);
    g_frames_len = b.len;
    g_total = ((uint64_t)mib << 20) / g_frames_len * g_frames_len;
    mcbuf_reset(&b);
    uint8_t success[64];
    size_t sn = 0;
    memset(success, 0, 16); /* UUID */
    sn = 16;
    success[sn++] = 5;
    memcpy(success + sn, "bench", 5);
    sn += 5;
    success[sn++] = 0; /* no properties */
    success[sn++] = 0; /* strictErrorHandling false */
    mcproto_frame_write(&b, mcproto_packet_id(PROTOCOL, MCPROTO_LOGIN_SUCCESS), success, sn);
    mcproto_frame_write(&b, mcproto_packet_id(PROTOCOL, MCPROTO_CONFIG_FINISH), NULL, 0);
    memcpy(g_hello, b.buf, b.len);
    g_hello_len = b.len;
    mcbuf_free(&b);
    free(body);

    int backend_l = listen_any(&g_backend_port), relay_port;
    int relay_l = listen_any(&relay_port);
    pthread_t tb, tr;
    pthread_create(&tb, NULL, backend_accept, (void *)(intptr_t)backend_l);
    pthread_create(&tr, NULL, relay_accept, (void *)(intptr_t)relay_l);
    router_t r;
    router_start(&r);
    router_register(&r, g_backend_port);
    uint64_t want = g_total + g_hello_len;

    printf("router: %ld MiB server-to-client per run in %d-byte play frames, protocol %d, loopback; %d runs each, "
           "interleaved\n",
           mib, FRAME_BYTES, PROTOCOL, RUNS);
    double gbs[3][RUNS], cpu_per_gib[RUNS];
    const char *names[3] = {"direct (no relay)", "plain TCP relay (splice)", "migrate-router"};
    int ports[3] = {g_backend_port, relay_port, r.port};
    for (int run = 0; run < RUNS; run++) {
        for (int k = 0; k < 3; k++) {
            double c0 = k == 2 ? cpu_s(r.pid) : 0, t0 = now_s();
            uint64_t got = play(ports[k], "bench", want, NULL);
            double dt = now_s() - t0;
            if (got != want) {
                fprintf(stderr, "router bench: %s: %llu of %llu bytes\n", names[k], (unsigned long long)got,
                        (unsigned long long)want);
                router_stop(&r);
                return 1;
            }
            gbs[k][run] = (double)got / dt / 1e9;
            if (k == 2) cpu_per_gib[run] = (cpu_s(r.pid) - c0) / ((double)got / (double)(1u << 30));
        }
    }
    double med[3];
    for (int k = 0; k < 3; k++) {
        printf("  %-26s", names[k]);
        for (int run = 0; run < RUNS; run++) printf("  %6.2f", gbs[k][run]);
        double s[RUNS];
        memcpy(s, gbs[k], sizeof s);
        qsort(s, RUNS, sizeof s[0], cmp_d);
        med[k] = s[RUNS / 2];
        printf("  GB/s  (median %.2f)\n", med[k]);
    }
    qsort(cpu_per_gib, RUNS, sizeof cpu_per_gib[0], cmp_d);
    printf("  router / relay floor: %.2f (median); router CPU %.2f s per GiB (median)\n", med[2] / med[1],
           cpu_per_gib[RUNS / 2]);

    /* idle players */
    router_idle_wait(&r);
    atomic_store(&g_mode, MODE_IDLE);
    int *fds = calloc((size_t)idle_n, sizeof *fds);
    long rss0 = rss_kib(r.pid);
    double c0 = cpu_s(r.pid), t0 = now_s();
    for (int i = 0; i < idle_n; i++) {
        char name[17];
        snprintf(name, sizeof name, "idle%d", i);
        if (play(r.port, name, g_hello_len, &fds[i]) != g_hello_len) {
            fprintf(stderr, "router bench: idle player %d not in play\n", i);
            router_stop(&r);
            return 1;
        }
    }
    double c1 = cpu_s(r.pid), t1 = now_s();
    long rss1 = rss_kib(r.pid);
    struct timespec ts = {IDLE_S, 0};
    nanosleep(&ts, NULL);
    double c2 = cpu_s(r.pid);
    long rss2 = rss_kib(r.pid);
    printf("router: %d idle players routed and held in play (a Keep Alive each second from the backend)\n", idle_n);
    printf("  RSS %ld KiB before, %ld KiB with them, %ld KiB after %d s: %.1f KiB per player\n", rss0, rss1, rss2, IDLE_S,
           (double)(rss2 - rss0) / idle_n);
    printf("  CPU %.0f ms to route them (%.2f ms per player, %.0f ms wall), %.0f ms over %d s held (%.3f ms per player-second; "
           "clock tick %ld ms)\n",
           (c1 - c0) * 1000, (c1 - c0) * 1000 / idle_n, (t1 - t0) * 1000, (c2 - c1) * 1000, IDLE_S,
           (c2 - c1) * 1000 / idle_n / IDLE_S, 1000 / sysconf(_SC_CLK_TCK));
    atomic_store(&g_stop, true);
    for (int i = 0; i < idle_n; i++) close(fds[i]);
    free(fds);
    router_stop(&r);
    return 0;
}
