/* sync.c - benchmark of the world sync (agent/sync.c) on a synthetic Anvil world, against
 * rsync and the socket floor, in one run on loopback:
 *
 *   full pass   our pass 1 into an empty staging tree, the source a separate process over a
 *               TCP socket of its own protocol (below; sendfile for data), against
 *               `rsync -a` to an rsync daemon on 127.0.0.1, and two floors: a process
 *               reads every file and writes it to a socket (sendfile) while a reader
 *               discards it (the floor), or writes each file it receives into a new tree
 *               (the write floor: what any copier must at least do), plain and with
 *               each file fallocated first; the better of the two is the write floor.
 *   delta pass  after rewriting random chunks of region files (~14 MB of 4 KiB sectors, a
 *               re-saved chunk being written into sectors as Minecraft 1.15+ does: 30 s of
 *               saves at 2 MB/s), our pass 2 against `rsync -a --no-whole-file --inplace`
 *               of the same change: bytes on the wire both ways, and time.
 *
 * Page cache warm for every contender (each reads the same files just read), and the disk
 * synced before each, so that none pays for an earlier one's writeback. Prints the
 * figures and ratios. Each floor and our pass 1 run twice, interleaved, and keep their
 * better run. BENCH_CHECKPOINT_MB sets the pass's checkpoint interval. BENCH_ONLY=ours
 * (=write, =write-fallocated) runs only our pass 1 (the write floor), printing its CPU
 * seconds too and its span on CLOCK_MONOTONIC, for `perf record -k CLOCK_MONOTONIC` and
 * `perf report --time`.
 *
 *   build/rel/bench/sync [world MiB (1024)] [changed MB (14)] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/sync.h"
#include "agent/sync_source.h"
#include "core/err.h"
#include "core/timefmt.h"

#define SECTOR 4096
#define REGION_SECTORS 2560 /* 10 MiB region files: a well explored world's typical size */
#define IOBUF (1u << 20)

static char top[64], src[128], staging[128], dst[128], dir[128], state[128];
static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* User and system seconds of a getrusage answer. */
static double cpu_s(const struct rusage *r) {
    return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) + (r->ru_utime.tv_usec + r->ru_stime.tv_usec) / 1e6;
}

/* The 1, 5 and 15 minute load averages, as /proc/loadavg has them ("?" without it): the
 * figures of a busy machine are to be read with it. Returns a static buffer. */
static const char *loadavg(void) {
    static char buf[64];
    FILE *f = fopen("/proc/loadavg", "r");
    float a = 0, b = 0, c = 0;
    int n = f ? fscanf(f, "%f %f %f", &a, &b, &c) : 0;
    if (f)
        fclose(f);
    if (n == 3)
        snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
    else
        snprintf(buf, sizeof buf, "?");
    return buf;
}

/* This process's CPU seconds so far. */
static double self_cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return cpu_s(&r);
}

static void die(const char *what) {
    fprintf(stderr, "bench/sync: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fill(unsigned char *p, size_t n) {
    uint64_t *q = (uint64_t *)p;
    for (size_t i = 0; i < n / 8; i++)
        q[i] = rnd();
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r, n -= (size_t)r;
    }
    return 0;
}

/* ---- the synthetic world ------------------------------------------------------------------ */

/* One region file: the 8 KiB header (locations, timestamps), then chunks of 1-8 sectors of
 * random (compressed-looking) data, each chunk's last sector zero-padded after its stream. */
static void make_region(const char *path, unsigned char *buf) {
    memset(buf, 0, (size_t)REGION_SECTORS * SECTOR);
    fill(buf, 2 * SECTOR);
    for (size_t s = 2; s < REGION_SECTORS;) {
        size_t n = 1 + rnd() % 8;
        if (s + n > REGION_SECTORS)
            n = REGION_SECTORS - s;
        fill(buf + s * SECTOR, n * SECTOR);
        size_t used = (n - 1) * SECTOR + 1 + rnd() % SECTOR;
        memset(buf + s * SECTOR + used, 0, n * SECTOR - used);
        s += n;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write_all(fd, buf, (size_t)REGION_SECTORS * SECTOR) != 0)
        die(path);
    close(fd);
}

static int make_world(int mib) {
    char p[256];
    snprintf(p, sizeof p, "%s/world", src), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/world/region", src), mkdir(p, 0755);
    unsigned char *buf = malloc((size_t)REGION_SECTORS * SECTOR);
    int files = mib * 256 / REGION_SECTORS;
    for (int i = 0; i < files; i++) {
        snprintf(p, sizeof p, "%s/world/region/r.%d.%d.mca", src, i % 10, i / 10);
        make_region(p, buf);
    }
    snprintf(p, sizeof p, "%s/world/level.dat", src);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    fill(buf, 4096);
    write_all(fd, buf, 1500);
    close(fd);
    free(buf);
    return files;
}

/* Re-saves random chunks: `bytes` of new sectors in runs of 1-8, into random files. */
static uint64_t change_world(int files, uint64_t bytes) {
    unsigned char *buf = malloc(8 * SECTOR);
    uint64_t done = 0;
    while (done < bytes) {
        char p[256];
        int f = (int)(rnd() % (uint64_t)files);
        snprintf(p, sizeof p, "%s/world/region/r.%d.%d.mca", src, f % 10, f / 10);
        size_t n = 1 + rnd() % 8, s = 2 + rnd() % (REGION_SECTORS - 2 - n);
        fill(buf, n * SECTOR);
        int fd = open(p, O_WRONLY);
        if (fd < 0 || pwrite(fd, buf, n * SECTOR, (off_t)(s * SECTOR)) != (ssize_t)(n * SECTOR))
            die(p);
        /* the header: the chunk's location and timestamp */
        pwrite(fd, buf, 8, (off_t)(rnd() % 1024) * 4);
        close(fd);
        done += n * SECTOR;
    }
    free(buf);
    return done;
}

/* ---- a TCP source: one connection, one request at a time -------------------------------- *
 * request  u8 op | u32 body length | body      op 'M': u8 strong; 'B': NUL-separated paths;
 *                                              'F': u16 path length, path, then (u64 off,
 *                                                   u64 len) ranges
 * answer   'M', 'B': u64 length | body (a manifest); 'F': exactly the ranges' bytes;
 *          a failure closes the connection. */

static int listen_on(int *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0)
        die("listen");
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return s;
}

static int connect_to(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

static void serve(int c, int rootfd) {
    static unsigned char zeros[SECTOR];
    for (;;) {
        unsigned char h[5];
        if (read_all(c, h, 5) != 0)
            return;
        uint32_t blen;
        memcpy(&blen, h + 1, 4);
        char *body = malloc(blen + 1);
        if (read_all(c, body, blen) != 0)
            return;
        body[blen] = '\0';
        unsigned char *out = NULL;
        size_t olen = 0;
        int rv = 0;
        if (h[0] == 'M') {
            rv = sync_source_manifest(rootfd, body[0], &out, &olen, NULL, 0);
        } else if (h[0] == 'B') {
            const char *paths[4096];
            size_t n = 0;
            for (char *p = body; p < body + blen && n < 4096; p += strlen(p) + 1)
                paths[n++] = p;
            rv = sync_source_blocks(rootfd, paths, n, &out, &olen, NULL, 0);
        } else if (h[0] == 'F') {
            uint16_t pl;
            memcpy(&pl, body, 2);
            char path[4096];
            memcpy(path, body + 2, pl);
            path[pl] = '\0';
            int fd = fsx_open_beneath(rootfd, path, O_RDONLY, 0, 0);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0)
                return;
            for (size_t at = 2 + pl; at + 16 <= blen; at += 16) {
                uint64_t off, len;
                memcpy(&off, body + at, 8);
                memcpy(&len, body + at + 8, 8);
                while (len > 0) {
                    ssize_t w;
                    if ((off_t)off < st.st_size) {
                        off_t o = (off_t)off;
                        size_t k = len < (uint64_t)(st.st_size - o) ? len : (size_t)(st.st_size - o);
                        w = sendfile(c, fd, &o, k);
                    } else {
                        w = write(c, zeros, len < SECTOR ? len : SECTOR);
                    }
                    if (w <= 0)
                        return;
                    off += (uint64_t)w, len -= (uint64_t)w;
                }
            }
            close(fd);
            free(body);
            continue;
        } else {
            return;
        }
        free(body);
        if (rv != 0)
            return;
        uint64_t l64 = olen;
        if (write_all(c, &l64, 8) != 0 || write_all(c, out, olen) != 0)
            return;
        free(out);
    }
}

typedef struct tcp {
    int s;
    uint64_t sent, received; /* bytes on the wire, both ways */
    unsigned char *buf;
} tcp_t;

static int request(tcp_t *t, char op, const void *body, uint32_t len) {
    unsigned char h[5] = {(unsigned char)op};
    memcpy(h + 1, &len, 4);
    t->sent += 5 + len;
    return write_all(t->s, h, 5) == 0 && write_all(t->s, body, len) == 0 ? 0 : MIG_EUNREACHABLE;
}

static int answer(tcp_t *t, unsigned char **buf, size_t *len) {
    uint64_t l;
    if (read_all(t->s, &l, 8) != 0)
        return MIG_EUNREACHABLE;
    *buf = malloc(l ? l : 1);
    *len = l;
    t->received += 8 + l;
    return read_all(t->s, *buf, l) == 0 ? 0 : MIG_EUNREACHABLE;
}

static int t_manifest(void *ctx, int strong, unsigned char **buf, size_t *len) {
    char b = (char)strong;
    int rv = request(ctx, 'M', &b, 1);
    return rv ? rv : answer(ctx, buf, len);
}

static int t_blocks(void *ctx, const char *const *paths, size_t n, unsigned char **buf, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(paths[i]) + 1;
    char *body = malloc(total + 1), *p = body;
    for (size_t i = 0; i < n; i++)
        p = stpcpy(p, paths[i]) + 1;
    int rv = request(ctx, 'B', body, (uint32_t)total);
    free(body);
    return rv ? rv : answer(ctx, buf, len);
}

static int t_fetch(void *ctx, const char *path, const sync_range_t *r, size_t n, sync_sink_t *sink) {
    tcp_t *t = ctx;
    uint16_t pl = (uint16_t)strlen(path);
    size_t blen = 2 + pl + 16 * n;
    unsigned char *body = malloc(blen);
    memcpy(body, &pl, 2);
    memcpy(body + 2, path, pl);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(body + 2 + pl + 16 * i, &r[i].off, 8);
        memcpy(body + 2 + pl + 16 * i + 8, &r[i].len, 8);
        total += r[i].len;
    }
    int rv = request(t, 'F', body, (uint32_t)blen);
    free(body);
    while (rv == 0 && total > 0) {
        ssize_t got = read(t->s, t->buf, total < IOBUF ? (size_t)total : IOBUF);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return MIG_EUNREACHABLE;
        t->received += (uint64_t)got;
        total -= (uint64_t)got;
        rv = sync_sink_write(sink, t->buf, (size_t)got);
    }
    return rv;
}

/* Starts the source process on `root`; returns its pid, the connected transport in *t. */
static pid_t start_source(const char *root, tcp_t *t) {
    int port, ls = listen_on(&port);
    pid_t pid = fork();
    if (pid == 0) {
        int rootfd = open(root, O_RDONLY | O_DIRECTORY);
        int c = accept(ls, NULL, NULL), one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve(c, rootfd);
        _exit(0);
    }
    close(ls);
    memset(t, 0, sizeof *t);
    t->s = connect_to(port);
    t->buf = malloc(IOBUF);
    return pid;
}

static void stop_source(pid_t pid, tcp_t *t) {
    close(t->s);
    free(t->buf);
    waitpid(pid, NULL, 0);
}

/* The steps of our last pass (sync_progress_t's plan_ms, copy_ms, verify_ms, flush_ms). */
static sync_progress_t last_pg;

/* "plan a + copy b + hashing c + flush d ms" of `pg`, into `out` (`cap` bytes). */
static const char *steps(const sync_progress_t *pg, char *out, size_t cap) {
    snprintf(out, cap, "plan %u + copy %u + SHA-256 of staging %u + flush %u ms", pg->plan_ms, pg->copy_ms,
             pg->verify_ms, pg->flush_ms);
    return out;
}

/* Our pass `pass` over TCP; prints and returns seconds, bytes on the wire in *wire. */
static double our_pass(uint32_t pass, uint64_t *wire, uint64_t *data, double *cpu) {
    tcp_t tt;
    pid_t pid = start_source(src, &tt);
    sync_transport_t t = {.ctx = &tt, .manifest = t_manifest, .blocks = t_blocks, .fetch = t_fetch};
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = pass,
                     .checkpoint_bytes = getenv("BENCH_CHECKPOINT_MB") ? strtoull(getenv("BENCH_CHECKPOINT_MB"), NULL, 10) << 20 : 0};
    sync_pass_t *p;
    sync(); /* no contender pays for an earlier one's writeback */
    double t0 = now_s(), c0 = self_cpu();
    if (sync_pass_open(&o, &p) != 0 || sync_pass_run(p, &t) != 0) {
        sync_progress_t pg;
        sync_pass_progress(p, &pg);
        fprintf(stderr, "bench/sync: pass %u: %s\n", pass, pg.error);
        exit(1);
    }
    double el = now_s() - t0;
    *cpu = self_cpu() - c0;
    sync_progress_t pg;
    sync_pass_progress(p, &pg);
    last_pg = pg;
    sync_pass_free(p);
    stop_source(pid, &tt);
    *wire = tt.sent + tt.received;
    *data = pg.bytes_done;
    return el;
}

/* Empties the staging tree and the state folder, for a new pass 1. */
static void clear_target(void) {
    const char *base;
    int pfd = fsx_open_parent(staging, &base);
    if (pfd < 0 || fsx_remove_tree(pfd, base) != 0)
        die(staging);
    close(pfd);
    pfd = fsx_open_parent(state, &base);
    if (pfd < 0 || fsx_remove_tree(pfd, base) != 0 || mkdir(state, 0700) != 0)
        die(state);
    close(pfd);
}

/* The floor: a process sends every file of src with sendfile; this one reads and discards. */
static double floor_pass(uint64_t *bytes, double *cpu) {
    int port, ls = listen_on(&port);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(ls, NULL, NULL);
        int rootfd = open(src, O_RDONLY | O_DIRECTORY);
        manifest_t *m;
        if (manifest_scan(rootfd, 0, &m, NULL, 0) != 0)
            _exit(1);
        for (size_t i = 0; i < m->n; i++) {
            if ((m->e[i].mode & S_IFMT) != S_IFREG)
                continue;
            int fd = fsx_open_beneath(rootfd, m->e[i].path, O_RDONLY, 0, 0);
            off_t off = 0;
            while ((uint64_t)off < m->e[i].size)
                if (sendfile(c, fd, &off, m->e[i].size - (uint64_t)off) <= 0)
                    _exit(1);
            close(fd);
        }
        _exit(0);
    }
    close(ls);
    sync();
    int s = connect_to(port);
    unsigned char *buf = malloc(IOBUF);
    double t0 = now_s(), c0 = self_cpu();
    uint64_t n = 0;
    for (ssize_t r; (r = read(s, buf, IOBUF)) > 0;)
        n += (uint64_t)r;
    double el = now_s() - t0;
    *cpu = self_cpu() - c0;
    close(s);
    free(buf);
    waitpid(pid, NULL, 0);
    *bytes = n;
    return el;
}

/* The write floor: as the floor, but the reader writes every file it receives into a new
 * tree at `into` (read into a buffer, write to the file: what any copier must at least
 * do); with `prealloc` each file is fallocated first, as our pass does, which on ext4
 * makes the page cache's writes cheaper (a plain floor was slower than our pass at 1 GiB).
 * The tree is removed (untimed) before the run. */
static double write_floor_pass(const char *into, int prealloc, uint64_t *bytes, double *cpu) {
    const char *base;
    int pfd = fsx_open_parent(into, &base);
    if (pfd < 0 || fsx_remove_tree(pfd, base) != 0 || mkdir(into, 0755) != 0)
        die(into);
    close(pfd);
    int rootfd = open(src, O_RDONLY | O_DIRECTORY), intofd = open(into, O_RDONLY | O_DIRECTORY);
    manifest_t *m;
    if (rootfd < 0 || intofd < 0 || manifest_scan(rootfd, 0, &m, NULL, 0) != 0)
        die("write floor: scan");
    int port, ls = listen_on(&port);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(ls, NULL, NULL);
        for (size_t i = 0; i < m->n; i++) {
            if ((m->e[i].mode & S_IFMT) != S_IFREG)
                continue;
            int fd = fsx_open_beneath(rootfd, m->e[i].path, O_RDONLY, 0, 0);
            off_t off = 0;
            while ((uint64_t)off < m->e[i].size)
                if (sendfile(c, fd, &off, m->e[i].size - (uint64_t)off) <= 0)
                    _exit(1);
            close(fd);
        }
        _exit(0);
    }
    close(ls);
    unsigned char *buf = malloc(IOBUF);
    sync();
    int s = connect_to(port);
    double t0 = now_s(), c0 = self_cpu();
    uint64_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
        const manifest_entry_t *e = &m->e[i];
        if ((e->mode & S_IFMT) == S_IFDIR) {
            if (mkdirat(intofd, e->path, 0755) != 0)
                die(e->path);
            continue;
        }
        int fd = fsx_open_beneath(intofd, e->path, O_WRONLY | O_CREAT | O_TRUNC, 0644, 0);
        if (fd < 0)
            die(e->path);
        if (prealloc && e->size > 0 && fallocate(fd, 0, 0, (off_t)e->size) != 0)
            die(e->path);
        for (uint64_t left = e->size; left > 0;) {
            ssize_t r = read(s, buf, left < IOBUF ? (size_t)left : IOBUF);
            if (r <= 0 || write_all(fd, buf, (size_t)r) != 0)
                die("write floor: copy");
            left -= (uint64_t)r, n += (uint64_t)r;
        }
        close(fd);
    }
    double el = now_s() - t0;
    *cpu = self_cpu() - c0;
    close(s);
    free(buf);
    close(rootfd), close(intofd);
    manifest_free(m);
    waitpid(pid, NULL, 0);
    *bytes = n;
    return el;
}

/* rsync of src to the daemon's module with `flags`; seconds, bytes sent+received. */
static double rsync_pass(int port, const char *flags, uint64_t *wire) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rsync %s --stats %s/ rsync://127.0.0.1:%d/bench/", flags, src, port);
    sync();
    double t0 = now_s();
    FILE *f = popen(cmd, "r");
    char line[256];
    uint64_t sent = 0, recv = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p;
        if ((p = strstr(line, "Total bytes sent: ")) != NULL)
            for (p += 18; *p; p++)
                if (*p >= '0' && *p <= '9')
                    sent = sent * 10 + (uint64_t)(*p - '0');
        if ((p = strstr(line, "Total bytes received: ")) != NULL)
            for (p += 22; *p; p++)
                if (*p >= '0' && *p <= '9')
                    recv = recv * 10 + (uint64_t)(*p - '0');
    }
    if (pclose(f) != 0) {
        fprintf(stderr, "bench/sync: %s failed\n", cmd);
        exit(1);
    }
    *wire = sent + recv;
    return now_s() - t0;
}

static pid_t start_rsyncd(int *port) {
    char conf[256], cmd[64];
    int ls = listen_on(port); /* a free port, released for the daemon */
    close(ls);
    snprintf(conf, sizeof conf, "%s/rsyncd.conf", top);
    FILE *f = fopen(conf, "w");
    fprintf(f, "use chroot = no\naddress = 127.0.0.1\npid file = %s/rsyncd.pid\n[bench]\npath = %s\n"
               "read only = no\nuid = root\ngid = root\n", top, dst);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        snprintf(cmd, sizeof cmd, "--port=%d", *port);
        char cf[300];
        snprintf(cf, sizeof cf, "--config=%s", conf);
        execlp("rsync", "rsync", "--daemon", "--no-detach", cmd, cf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* until it listens */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            break;
        timefmt_sleep_ms(50);
    }
    return pid;
}

int main(int argc, char **argv) {
    int mib = argc > 1 ? atoi(argv[1]) : 1024;
    uint64_t change = (uint64_t)(argc > 2 ? atof(argv[2]) : 14) * 1000000;
    if (system("rsync --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "bench/sync: rsync is missing (make deps installs it)\n");
        return 1;
    }
    snprintf(top, sizeof top, "/var/tmp/mig-bench-sync-XXXXXX");
    if (mkdtemp(top) == NULL)
        die("mkdtemp");
    snprintf(src, sizeof src, "%s/src", top);
    snprintf(staging, sizeof staging, "%s/.dir.staging", top);
    snprintf(dir, sizeof dir, "%s/dir", top);
    snprintf(dst, sizeof dst, "%s/rsync-dst", top);
    snprintf(state, sizeof state, "%s/state", top);
    mkdir(src, 0755), mkdir(dst, 0755), mkdir(state, 0700);
    int files = make_world(mib);
    int port;
    pid_t rsyncd = start_rsyncd(&port);
    printf("sync: %d MiB world, %d region files of %d KiB, loopback, page cache warm; load average %s\n", mib,
           files, REGION_SECTORS * 4, loadavg());

    uint64_t fbytes, wbytes, wire, data, rwire;
    char wdir[160];
    snprintf(wdir, sizeof wdir, "%s/write-floor", top);
    const char *only = getenv("BENCH_ONLY"); /* one contender, for profilers */
    if (only != NULL) {
        struct rusage kids0, kids1;
        getrusage(RUSAGE_CHILDREN, &kids0);
        double t0 = now_s(), c;
        double t = strcmp(only, "ours") == 0 ? our_pass(1, &wire, &data, &c)
                                             : write_floor_pass(wdir, strcmp(only, "write") != 0, &wbytes, &c);
        double t1 = now_s();
        getrusage(RUSAGE_CHILDREN, &kids1);
        printf("  %s: %.3f s; cpu: target %.3f s, source %.3f s (from %.6f to %.6f, CLOCK_MONOTONIC, for perf --time)\n",
               only, t, c, cpu_s(&kids1) - cpu_s(&kids0), t0, t1);
        kill(rsyncd, SIGTERM);
        waitpid(rsyncd, NULL, 0);
        const char *b;
        int pfd = fsx_open_parent(top, &b);
        fsx_remove_tree(pfd, b);
        return 0;
    }
    /* Each floor and our pass 1 run twice, interleaved, and each keeps its better run (ours
     * into a new staging tree and state each time); rsync runs once. */
    double cf, cp, cw, co, cf2, cp2, cw2, co2; /* the receiving process's CPU seconds of each run */
    double tf = floor_pass(&fbytes, &cf);
    double tp = write_floor_pass(wdir, 0, &wbytes, &cp);
    double tw = write_floor_pass(wdir, 1, &wbytes, &cw);
    double to = our_pass(1, &wire, &data, &co);
    sync_progress_t pg1 = last_pg;
    double tr = rsync_pass(port, "-a", &rwire);
    double tf2 = floor_pass(&fbytes, &cf2);
    double tp2 = write_floor_pass(wdir, 0, &wbytes, &cp2);
    double tw2 = write_floor_pass(wdir, 1, &wbytes, &cw2);
    clear_target();
    double to2 = our_pass(1, &wire, &data, &co2);
    if (to2 < to)
        pg1 = last_pg;
    double tfl = tf < tf2 ? tf : tf2, tpl = tp < tp2 ? tp : tp2, tob = to < to2 ? to : to2;
    double twl = tw < tw2 ? tw : tw2;
    twl = tpl < twl ? tpl : twl; /* the write floor: the better copier's better run */
    double mb = (double)fbytes / 1e6;
    if (wbytes != fbytes) {
        fprintf(stderr, "bench/sync: the write floor moved %llu bytes, the floor %llu\n",
                (unsigned long long)wbytes, (unsigned long long)fbytes);
        return 1;
    }
    printf("  full pass: ours %.2f s (%.0f MB/s; runs %.2f, %.2f s; %.1f MB on the wire), "
           "rsync -a %.2f s (%.0f MB/s, %.1f MB on the wire)\n",
           tob, mb / tob, to, to2, wire / 1e6, tr, mb / tr, rwire / 1e6);
    printf("  floors: read+send %.2f s (%.0f MB/s; runs %.2f, %.2f s); read+send+write %.2f s (%.0f MB/s; "
           "runs plain %.2f, %.2f s, fallocated %.2f, %.2f s)\n",
           tfl, mb / tfl, tf, tf2, twl, mb / twl, tp, tp2, tw, tw2);
    printf("  receiving side's CPU seconds (less bent by a busy machine than wall time): floor %.2f, %.2f; "
           "write floor plain %.2f, %.2f, fallocated %.2f, %.2f; ours %.2f, %.2f\n", cf, cf2, cp, cp2, cw, cw2, co, co2);
    printf("  full pass ratios (throughput): ours/floor %.2f, ours/write floor %.2f, rsync/floor %.2f, "
           "rsync/write floor %.2f, ours/rsync %.2f\n",
           tfl / tob, twl / tob, tfl / tr, twl / tr, tr / tob);
    /* A pass before the final also hashes staging and flushes it, so that the final pass
     * (the players' wait) does neither for what did not change: work rsync does not do. */
    char sb[160];
    double tcopy = (pg1.plan_ms + pg1.copy_ms) / 1000.0;
    printf("  ours' better run: %s; the copy alone (plan + copy) %.2f s: ours/floor %.2f, ours/write floor %.2f, "
           "ours/rsync %.2f\n",
           steps(&pg1, sb, sizeof sb), tcopy, tfl / tcopy, twl / tcopy, tr / tcopy);
    {
        const char *b;
        int pfd = fsx_open_parent(wdir, &b);
        fsx_remove_tree(pfd, b); /* the write floor's copy: not needed for the delta */
        close(pfd);
    }

    uint64_t changed = change_world(files, change);
    double td = our_pass(2, &wire, &data, &co);
    double trd = rsync_pass(port, "-a --no-whole-file --inplace", &rwire);
    printf("  delta after %.1f MB of re-saved sectors: ours %.3f s, %.2f MB on the wire (%.2f MB data); "
           "rsync --no-whole-file --inplace %.3f s, %.2f MB on the wire\n",
           changed / 1e6, td, wire / 1e6, data / 1e6, trd, rwire / 1e6);
    printf("  delta ratios: bytes ours/rsync %.2f, time ours/rsync %.2f\n", (double)wire / (double)rwire, td / trd);
    double tdcopy = (last_pg.plan_ms + last_pg.copy_ms) / 1000.0;
    printf("  ours' delta: %s; the copy alone %.3f s: time ours/rsync %.2f\n", steps(&last_pg, sb, sizeof sb), tdcopy,
           tdcopy / trd);
    printf("  load average at the end %s\n", loadavg());

    kill(rsyncd, SIGTERM);
    waitpid(rsyncd, NULL, 0);
    const char *base;
    int pfd = fsx_open_parent(top, &base);
    fsx_remove_tree(pfd, base);
    return 0;
}
