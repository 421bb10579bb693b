/* runtime_process.c - the `process` runtime: a server is a directory and a command run
 * as a child in its own process group, with a memory limit, its console in a log file
 * and a pipe on its stdin; a monitor thread notices exits, starts and stops. */
#include "agent/runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/rcon.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define PROPS_MAX (64 * 1024)   /* bytes of server.properties read: it is a few KiB */
#define COMMAND_MAX 4096        /* bytes of a command after its template is filled */
/* RLIMIT_AS beyond the server's RAM: a JVM reserves address space (class space, code
 * cache, thread stacks) well past its heap, so the limit is 2 x ram_mb + this. */
#define AS_SLACK_MB 512

/* ------------------------------------------------------------------ server.properties */

void runtime_read_props(const char *dir, runtime_props_t *p) {
    memset(p, 0, sizeof *p);
    p->port = RUNTIME_DEFAULT_PORT;
    char path[600];
    snprintf(path, sizeof path, "%s/server.properties", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    p->found = true;
    char line[512];
    bool enabled = false;
    size_t total = 0;
    while (fgets(line, sizeof line, f) && total < PROPS_MAX) {
        total += strlen(line);
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL) continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "server-port") == 0) p->port = atoi(v);
        else if (strcmp(k, "enable-rcon") == 0) enabled = strcmp(v, "true") == 0;
        else if (strcmp(k, "rcon.port") == 0) p->rcon_port = atoi(v);
        else if (strcmp(k, "rcon.password") == 0) snprintf(p->rcon_password, sizeof p->rcon_password, "%s", v);
    }
    fclose(f);
    if (p->port <= 0 || p->port > 65535) p->port = RUNTIME_DEFAULT_PORT;
    p->rcon = enabled && p->rcon_port > 0 && p->rcon_port <= 65535 && p->rcon_password[0];
}

/* ------------------------------------------------------------------------ cgroups */

/* MIG_AGENT_MEMORY_LIMIT=cgroup: server `id` runs in the memory cgroup
 * <cgroup_parent>/mig-<id>, made before its start with the limit of its ram_mb (plus
 * CGROUP_SLACK_MB), its child moved there before exec, removed once empty after exit.
 * cgroup v2 (memory.max) or v1 (memory.limit_in_bytes), told by the file system. */
#define CGROUP_SLACK_MB 256 /* beyond ram_mb: a JVM's off-heap (metaspace, code cache, stacks) */
#define CGROUP_PENDING_MAX AGENT_SERVERS_MAX

/* cgroups of exited or deleted servers still to remove (a process of theirs lingered);
 * guarded by a->lock */
static char cg_pending[CGROUP_PENDING_MAX][AGENT_ID_MAX];

static void cgroup_path(const agent_t *a, const char *id, const char *file, char *out, size_t cap) {
    snprintf(out, cap, "%.500s/mig-%.127s%s%.40s", a->cgroup_parent, id, file ? "/" : "", file ? file : "");
}

/* Writes `text` to file `path`: 0 or -errno. */
static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n == (ssize_t)strlen(text) ? 0 : (n < 0 ? -errno : -EIO);
    close(fd);
    return e;
}

/* Finds the cgroup version of the parent (made when missing) and, on v2, gives its
 * children the memory controller. 0 or MIG_EINVALID with `err`: the agent refuses to
 * start rather than run servers without the limit it was told to set. */
static int cgroup_setup(agent_t *a, char *err, size_t errlen) {
    const char *parent = a->cgroup_parent;
    if (parent[0] != '/' || strlen(parent) > 400) {
        snprintf(err, errlen, "MIG_AGENT_CGROUP_PARENT: an absolute path of 400 bytes at most");
        return MIG_EINVALID;
    }
    bool made = mkdir(parent, 0755) == 0;
    if (!made && errno != EEXIST) {
        snprintf(err, errlen, "MIG_AGENT_MEMORY_LIMIT=cgroup: cannot create %s: %s (not root? no memory cgroup? "
                 "use rlimit)", parent, strerror(errno));
        return MIG_EINVALID;
    }
    struct statfs fs;
    if (statfs(parent, &fs) != 0 || (fs.f_type != CGROUP2_SUPER_MAGIC && fs.f_type != CGROUP_SUPER_MAGIC)) {
        if (made) rmdir(parent);
        snprintf(err, errlen, "MIG_AGENT_MEMORY_LIMIT=cgroup: %s is not in a cgroup file system "
                 "(MIG_AGENT_CGROUP_PARENT)", parent);
        return MIG_EINVALID;
    }
    a->cgroup_version = fs.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
    char path[700];
    if (a->cgroup_version == 2) {
        /* the parent's own parent must hand it the controller, then it hands it on */
        char up[600];
        snprintf(up, sizeof up, "%s", parent);
        char *slash = strrchr(up, '/');
        if (slash && slash != up) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/cgroup.subtree_control", up);
            write_file(path, "+memory");
        }
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", parent);
        int e = write_file(path, "+memory");
        if (e != 0) {
            snprintf(err, errlen, "MIG_AGENT_MEMORY_LIMIT=cgroup: cannot enable memory in %s: %s", path,
                     strerror(-e));
            return MIG_EINVALID;
        }
    } else {
        snprintf(path, sizeof path, "%s/memory.limit_in_bytes", parent);
        if (access(path, W_OK) != 0) {
            snprintf(err, errlen, "MIG_AGENT_MEMORY_LIMIT=cgroup: %s is not a writable memory cgroup (v1)", parent);
            return MIG_EINVALID;
        }
    }
    return 0;
}

/* Makes server s's cgroup with its limit and opens its cgroup.procs for the child to
 * write itself into (*procs_fd, the caller closes). 0 or MIG_EIO with `err`. */
static int cgroup_prepare(agent_t *a, const agent_server_t *s, int *procs_fd, char *err, size_t errlen) {
    char path[800], limit[32];
    cgroup_path(a, s->id, NULL, path, sizeof path);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cgroup: cannot create %s: %s", path, strerror(errno));
        return MIG_EIO;
    }
    snprintf(limit, sizeof limit, "%lld", (s->ram_mb + CGROUP_SLACK_MB) << 20);
    cgroup_path(a, s->id, a->cgroup_version == 2 ? "memory.max" : "memory.limit_in_bytes", path, sizeof path);
    int e = write_file(path, limit);
    if (e != 0) {
        snprintf(err, errlen, "cgroup: cannot write %s: %s", path, strerror(-e));
        return MIG_EIO;
    }
    cgroup_path(a, s->id, "cgroup.procs", path, sizeof path);
    if ((*procs_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cgroup: cannot open %s: %s", path, strerror(errno));
        return MIG_EIO;
    }
    return 0;
}

/* Removes server id's cgroup, or keeps it for cgroup_sweep while a process is in it. */
static void cgroup_release(agent_t *a, const char *id) {
    char path[800];
    cgroup_path(a, id, NULL, path, sizeof path);
    if (rmdir(path) == 0 || errno == ENOENT) return;
    for (int i = 0; i < CGROUP_PENDING_MAX; i++) {
        if (cg_pending[i][0] == '\0' || strcmp(cg_pending[i], id) == 0) {
            snprintf(cg_pending[i], sizeof cg_pending[i], "%s", id);
            return;
        }
    }
}

/* Retries the removals kept by cgroup_release; a cgroup a server started in again is
 * its own once more, not removed. a->lock taken. */
static void cgroup_sweep(agent_t *a) {
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < CGROUP_PENDING_MAX; i++) {
        if (cg_pending[i][0] == '\0') continue;
        agent_server_t *s = state_find_server(a, cg_pending[i]);
        if (s && s->busy && s->pid <= 0) continue; /* a start outside the lock may be filling it */
        char path[800];
        cgroup_path(a, cg_pending[i], NULL, path, sizeof path);
        if ((s && s->pid > 0) || rmdir(path) == 0 || errno == ENOENT) cg_pending[i][0] = '\0';
    }
    pthread_mutex_unlock(&a->lock);
}

/* Formats `v` in decimal into buf (at least 12 bytes), async-signal-safe; its length. */
static size_t fmt_pid(pid_t v, char *buf) {
    char t[12];
    size_t n = 0, m = 0;
    do t[n++] = (char)('0' + v % 10), v /= 10;
    while (v > 0 && n < sizeof t);
    while (n > 0) buf[m++] = t[--n];
    return m;
}

/* ------------------------------------------------------------------------ starting */

static int process_start(agent_t *a, agent_server_t *s, const char *dir, char *err, size_t errlen) {
    runtime_props_t p;
    runtime_read_props(dir, &p);
    char cmd[COMMAND_MAX], logpath[600];
    if (!runtime_fill_command(a->command, s, dir, p.port, cmd, sizeof cmd)) {
        snprintf(err, errlen, "the command is over %d bytes", COMMAND_MAX);
        return MIG_EINVALID;
    }
    snprintf(logpath, sizeof logpath, "%s/%s", dir, RUNTIME_CONSOLE_LOG);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", logpath, strerror(errno));
        return MIG_EIO;
    }
    int procs_fd = -1;
    if (a->memory_cgroup && cgroup_prepare(a, s, &procs_fd, err, errlen) != 0) {
        close(logfd);
        return MIG_EIO;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(logfd);
        if (procs_fd >= 0) close(procs_fd);
        return MIG_EIO;
    }
    struct rlimit lim = {RLIM_INFINITY, RLIM_INFINITY};
    if (a->memory_rlimit) lim.rlim_cur = lim.rlim_max = (rlim_t)(2 * s->ram_mb + AS_SLACK_MB) << 20;
    /* the fork and the record of its pid under the lock: the monitor's waitpid(-1) must
     * not reap a child that exits at once before a server has its pid */
    pthread_mutex_lock(&a->lock);
    pid_t pid = fork();
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec */
        setpgid(0, 0);
        if (procs_fd >= 0) { /* into its cgroup before exec, or not at all */
            char num[16];
            size_t n = fmt_pid(getpid(), num);
            if (write(procs_fd, num, n) != (ssize_t)n) _exit(125);
        }
        dup2(pfd[0], 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        if (chdir(dir) != 0) _exit(126);
        if (a->memory_rlimit) setrlimit(RLIMIT_AS, &lim);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int saved = errno;
    close(pfd[0]);
    close(logfd);
    if (procs_fd >= 0) close(procs_fd);
    if (pid < 0) {
        pthread_mutex_unlock(&a->lock);
        close(pfd[1]);
        snprintf(err, errlen, "fork: %s", strerror(saved));
        return MIG_EIO;
    }
    setpgid(pid, pid); /* also here, so that a signal to the group never precedes the child's call */
    s->pid = pid;
    s->adopted = false;
    s->stdin_fd = pfd[1];
    pthread_mutex_unlock(&a->lock);
    char pids[16];
    snprintf(pids, sizeof pids, "%d", (int)pid);
    log_at(LOG_INFO, "agent.server_started", "server_id", s->id, "pid", pids, "command", cmd, NULL);
    return 0;
}

int runtime_console(agent_server_t *s, const char *line) {
    if (s->stdin_fd < 0) return MIG_EIO;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (n <= 0 || (size_t)n >= sizeof buf) return MIG_EINVALID;
    /* a console that does not read must not block the caller: non-blocking, and a full
     * pipe counts as a failure */
    int fl = fcntl(s->stdin_fd, F_GETFL);
    fcntl(s->stdin_fd, F_SETFL, fl | O_NONBLOCK);
    ssize_t w = write(s->stdin_fd, buf, (size_t)n);
    return w == n ? 0 : MIG_EIO;
}

/* ------------------------------------------------------------------------ RCON */

/* A TCP connection to 127.0.0.1:port within `ms`, or -1. */
static int connect_local(int port, int ms) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) goto fail;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, ms) != 1) goto fail;
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

bool runtime_port_open(int port, int ms) {
    int fd = connect_local(port, ms);
    if (fd < 0) return false;
    close(fd);
    return true;
}

/* Sends all of `p`; 0 or MIG_EUNREACHABLE. */
static int send_all(int fd, const uint8_t *p, size_t n, int64_t end) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w, n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) return MIG_EUNREACHABLE;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int left = (int)(end - timefmt_mono_ms());
        if (left <= 0 || poll(&pf, 1, left) != 1) return MIG_EUNREACHABLE;
    }
    return 0;
}

/* Reads until buf holds one whole packet (decoded into *pkt, its length in *used).
 * Returns 0 or MIG_EUNREACHABLE / MIG_EPROTO. */
static int read_packet(int fd, uint8_t *buf, size_t cap, size_t *have, rcon_packet_t *pkt, size_t *used,
                       int64_t end) {
    for (;;) {
        int n = rcon_decode(buf, *have, RCON_RESPONSE_PAYLOAD_MAX, pkt);
        if (n < 0) return MIG_EPROTO;
        if (n > 0) {
            *used = (size_t)n;
            return 0;
        }
        if (*have == cap) return MIG_EPROTO;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int left = (int)(end - timefmt_mono_ms());
        if (left <= 0 || poll(&pf, 1, left) != 1) return MIG_EUNREACHABLE;
        ssize_t r = recv(fd, buf + *have, cap - *have, 0);
        if (r == 0) return MIG_EUNREACHABLE;
        if (r < 0 && errno != EAGAIN && errno != EINTR) return MIG_EUNREACHABLE;
        if (r > 0) *have += (size_t)r;
    }
}

int runtime_rcon(const runtime_props_t *p, const char *cmd, char **reply) {
    *reply = NULL;
    if (!p->rcon) return MIG_EUNREACHABLE;
    int64_t end = timefmt_mono_ms() + RUNTIME_RCON_TIMEOUT_MS;
    int fd = connect_local(p->rcon_port, RUNTIME_RCON_TIMEOUT_MS);
    if (fd < 0) return MIG_EUNREACHABLE;
    size_t cap = RCON_HEADER + RCON_TRAILER + RCON_RESPONSE_PAYLOAD_MAX + 64;
    uint8_t *buf = malloc(cap), out[RCON_REQUEST_MAX];
    rcon_reply_t rep;
    rcon_reply_init(&rep, 2, 3, 1 << 20);
    int rv = MIG_ENOMEM;
    size_t have = 0, used;
    rcon_packet_t pkt;
    if (buf == NULL) goto out;
    int n = rcon_encode(1, RCON_TYPE_LOGIN, p->rcon_password, strlen(p->rcon_password), out, sizeof out);
    rv = n < 0 ? n : send_all(fd, out, (size_t)n, end);
    for (int lr = 1; rv == 0 && lr == 1;) {
        if ((rv = read_packet(fd, buf, cap, &have, &pkt, &used, end)) != 0) break;
        lr = rcon_login_result(&pkt, 1);
        memmove(buf, buf + used, have - used);
        have -= used;
        if (lr < 0) rv = lr;
    }
    if (rv != 0) goto out;
    n = rcon_encode(2, RCON_TYPE_COMMAND, cmd, strlen(cmd), out, sizeof out);
    if (n < 0 || (rv = send_all(fd, out, (size_t)n, end)) != 0) {
        rv = n < 0 ? n : rv;
        goto out;
    }
    n = rcon_encode(3, RCON_TYPE_PROBE, "", 0, out, sizeof out);
    if (n < 0 || (rv = send_all(fd, out, (size_t)n, end)) != 0) {
        rv = n < 0 ? n : rv;
        goto out;
    }
    for (int fr = 0; rv == 0 && fr == 0;) {
        if ((rv = read_packet(fd, buf, cap, &have, &pkt, &used, end)) != 0) break;
        fr = rcon_reply_feed(&rep, &pkt);
        memmove(buf, buf + used, have - used);
        have -= used;
        if (fr < 0) rv = fr;
    }
    if (rv == 0) {
        *reply = rep.text ? rep.text : strdup("");
        rep.text = NULL;
        if (*reply == NULL) rv = MIG_ENOMEM;
    }
out:
    rcon_reply_free(&rep);
    free(buf);
    close(fd);
    return rv;
}

/* ------------------------------------------------------------------------ Server List Ping */

int runtime_slp(int port, int ms, slp_status_t *st) {
    int64_t end = timefmt_mono_ms() + ms;
    int fd = connect_local(port, ms);
    if (fd < 0) return MIG_EUNREACHABLE;
    mcbuf_t out;
    mcbuf_init(&out);
    /* the host as a client would send it; a server answers status whatever it says */
    int rv = slp_write_request(&out, SLP_PROTOCOL_ANY, "127.0.0.1", (uint16_t)port);
    uint8_t *buf = NULL;
    size_t have = 0, cap = 0;
    if (rv == 0) rv = send_all(fd, out.buf, out.len, end);
    while (rv == 0) {
        slp_reply_t r;
        int n = slp_read(buf, have, &r);
        if (n < 0) {
            rv = n;
            break;
        }
        if (n > 0) {
            if (r.kind != SLP_REPLY_STATUS) rv = MIG_EPROTO; /* a pong before any status */
            else *st = r.status;
            break;
        }
        if (have == cap) { /* the frame's length was checked against SLP_FRAME_MAX */
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                rv = MIG_ENOMEM;
                break;
            }
            buf = nb, cap = ncap;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int left = (int)(end - timefmt_mono_ms());
        if (left <= 0 || poll(&pf, 1, left) != 1) {
            rv = MIG_EUNREACHABLE;
            break;
        }
        ssize_t got = recv(fd, buf + have, cap - have, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) rv = MIG_EUNREACHABLE;
        else if (got > 0) have += (size_t)got;
    }
    free(buf);
    mcbuf_free(&out);
    close(fd);
    return rv;
}

/* ------------------------------------------------------------------------ monitor */

/* A server whose process is gone; its cgroup goes once empty. a->lock held. */
static void mark_exited(agent_t *a, agent_server_t *s, const char *how) {
    if (a->memory_cgroup) cgroup_release(a, s->id);
    runtime_mark_exited(a, s, how);
}

/* A request to stop, sent once: RCON `stop` when configured, else `stop` on stdin. */
typedef struct {
    char id[AGENT_ID_MAX];
    char dir[600];
    int stdin_fd;
    pid_t pid;
    int port;
} monitor_job_t;

static void monitor_pass(agent_t *a) {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        pthread_mutex_lock(&a->lock);
        for (int i = 0; i < AGENT_SERVERS_MAX; i++) {
            agent_server_t *s = &a->servers[i];
            if (s->in_use && s->pid == pid) {
                char how[32];
                if (WIFEXITED(st)) snprintf(how, sizeof how, "exit %d", WEXITSTATUS(st));
                else snprintf(how, sizeof how, "signal %d", WTERMSIG(st));
                mark_exited(a, s, how);
            }
        }
        pthread_mutex_unlock(&a->lock);
    }
    static monitor_job_t asks[AGENT_SERVERS_MAX], probes[AGENT_SERVERS_MAX];
    int nask = 0, nprobe = 0;
    int64_t now = timefmt_mono_ms();
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < AGENT_SERVERS_MAX; i++) {
        agent_server_t *s = &a->servers[i];
        if (!s->in_use || s->pid <= 0) continue;
        if (s->adopted && kill(s->pid, 0) != 0 && errno == ESRCH) {
            mark_exited(a, s, "gone");
            continue;
        }
        monitor_job_t j = {.stdin_fd = s->stdin_fd, .pid = s->pid};
        snprintf(j.id, sizeof j.id, "%s", s->id);
        state_server_dir(a, s->id, j.dir, sizeof j.dir);
        if (s->state == SRV_STARTING) probes[nprobe++] = j;
        if (s->state != SRV_STOPPING || now < s->stage_at_ms) continue;
        if (s->stop_stage == 0) {
            asks[nask++] = j;
            s->stop_stage = 1;
        } else if (s->stop_stage == 1) {
            kill(-s->pid, SIGTERM);
            s->stop_stage = 2;
            log_at(LOG_WARN, "agent.server_sigterm", "server_id", s->id, "why", "it did not stop when asked", NULL);
        } else if (s->stop_stage == 2) {
            kill(-s->pid, SIGKILL);
            s->stop_stage = 3;
            log_at(LOG_WARN, "agent.server_sigkill", "server_id", s->id, "why", "it ignored SIGTERM", NULL);
        }
        s->stage_at_ms = now + a->stop_timeout_ms;
    }
    pthread_mutex_unlock(&a->lock);
    for (int i = 0; i < nask; i++) {
        runtime_props_t p;
        runtime_read_props(asks[i].dir, &p);
        char *reply = NULL;
        int rv = p.rcon ? runtime_rcon(&p, "stop", &reply) : MIG_EUNREACHABLE;
        free(reply);
        if (rv != 0) {
            /* the console: the stdin_fd copy may have been closed meanwhile only if the
             * process exited, and then a failed write is harmless */
            pthread_mutex_lock(&a->lock);
            agent_server_t *s = state_find_server(a, asks[i].id);
            if (s && s->pid == asks[i].pid) runtime_console(s, "stop");
            pthread_mutex_unlock(&a->lock);
        }
    }
    for (int i = 0; i < nprobe; i++) runtime_probe_started(a, probes[i].id, probes[i].dir, probes[i].pid);
    if (a->memory_cgroup) cgroup_sweep(a);
}

static void *process_monitor(void *arg) {
    agent_t *a = arg;
    while (!a->stopping) {
        monitor_pass(a);
        timefmt_sleep_ms(RUNTIME_MONITOR_MS);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ the ops */

static int process_setup(agent_t *a, char *err, size_t errlen) {
    return a->memory_cgroup ? cgroup_setup(a, err, errlen) : 0;
}

static int process_check(agent_t *a, char *err, size_t errlen) {
    if (a->memory_cgroup && access(a->cgroup_parent, W_OK) != 0) {
        snprintf(err, errlen, "cgroup parent %s: %s", a->cgroup_parent, strerror(errno));
        return MIG_EUNREACHABLE;
    }
    return 0;
}

static bool process_alive(agent_t *a, const agent_server_t *s) {
    (void)a;
    return s->pid > 0 && kill(s->pid, 0) == 0;
}

/* Kills the process group of one that outlived the DELETE's wait for its stop (the
 * monitor reaps it: no server has its pid any more), and releases the cgroup. */
static void process_discard(agent_t *a, const agent_server_t *s) {
    if (s->pid > 0) {
        kill(-s->pid, SIGKILL);
        log_at(LOG_WARN, "agent.server_killed", "server_id", s->id, "why", "deleted while running", NULL);
    }
    if (a->memory_cgroup) {
        pthread_mutex_lock(&a->lock); /* cg_pending is guarded by it */
        cgroup_release(a, s->id);
        pthread_mutex_unlock(&a->lock);
    }
}

const runtime_ops_t runtime_process_ops = {
    .name = "process",
    .setup = process_setup,
    .check = process_check,
    .start = process_start,
    .alive = process_alive,
    .discard = process_discard,
    .monitor = process_monitor,
};
