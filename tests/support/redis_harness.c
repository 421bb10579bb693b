/* redis_harness.c - private redis-server processes for the tests. */
#include "redis_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/timefmt.h"

pid_t harness_spawn(const char *const *argv, const char *log_path) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127); /* the parent died before prctl */
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int harness_wait(pid_t pid, int ms) {
    int status;
    for (int waited = 0; waited <= ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0) return errno == ECHILD ? 0 : -1;
        timefmt_sleep_ms(10);
    }
    return -1;
}

/* Runs redis-server on h->dir and h->sock with `extra` arguments, logging into `logname`
 * in the folder, and waits until it answers PING (after loading any data it finds).
 * Returns 0, or -1 with a message on stderr and the server stopped. */
static int serve(harness_redis_t *h, const char *const *extra, const char *logname) {
    char log[320];
    snprintf(log, sizeof log, "%s/%s", h->dir, logname);
    const char *argv[64] = {"redis-server", "--port", "0", "--unixsocket", h->sock,
                            "--unixsocketperm", "700", "--dir", h->dir, "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--logfile", log};
    int n = 17;
    for (int i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    h->pid = harness_spawn(argv, NULL);
    if (h->pid < 0) {
        perror("fork");
        return -1;
    }
    for (int waited = 0; waited < HARNESS_START_WAIT_MS; waited += 10) {
        redisContext *c = redisConnectUnix(h->sock);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return 0;
        } else if (c) {
            redisFree(c);
        }
        if (harness_wait(h->pid, 0) != -1) break; /* it exited */
        timefmt_sleep_ms(10);
    }
    fprintf(stderr, "harness: redis-server did not start; see %s\n", log);
    harness_redis_stop(h);
    return -1;
}

int harness_redis_start(harness_redis_t *h, const char *const *extra) {
    memset(h, 0, sizeof *h);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(h->dir, sizeof h->dir, "%s/migtest.XXXXXX", tmp);
    if (mkdtemp(h->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(h->sock, sizeof h->sock, "%s/redis.sock", h->dir);
    snprintf(h->url, sizeof h->url, "unix://%s", h->sock);
    return serve(h, extra, "redis.log");
}

int harness_pid_gone(pid_t pid) {
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

int harness_redis_kill9(harness_redis_t *h, int ms) {
    if (h->pid <= 0 || kill(h->pid, SIGKILL) != 0) return -1;
    for (int waited = 0; !harness_pid_gone(h->pid); waited += 10) {
        if (waited >= ms) return -1;
        timefmt_sleep_ms(10);
    }
    harness_wait(h->pid, 0); /* reaps it when it is ours; a no-op otherwise */
    h->pid = 0;
    return 0;
}

int harness_redis_restart(harness_redis_t *h, const char *const *extra) {
    return serve(h, extra, "redis-restarted.log");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int harness_stop_pid(pid_t pid, int *status) {
    if (status) *status = 0;
    if (pid <= 0) return 0;
    kill(pid, SIGTERM);
    int st = harness_wait(pid, HARNESS_STOP_WAIT_MS);
    int rv = 0;
    if (st == -1) {
        kill(pid, SIGKILL);
        st = harness_wait(pid, HARNESS_STOP_WAIT_MS); /* SIGKILL cannot be refused: only reaping is left */
        rv = -1;
    }
    if (status) *status = st;
    return rv;
}

const char *harness_status_text(int status, char *buf, size_t cap) {
    if (status == -1)
        snprintf(buf, cap, "still running");
    else if (WIFEXITED(status))
        snprintf(buf, cap, WEXITSTATUS(status) == 0 ? "exited 0" : "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "ended with wait status %d", status);
    return buf;
}

void harness_rmtree(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int harness_redis_stop(harness_redis_t *h) {
    int rv = harness_stop_pid(h->pid, NULL);
    h->pid = 0;
    if (h->dir[0]) {
        harness_rmtree(h->dir);
        h->dir[0] = '\0';
    }
    return rv;
}

redisReply *harness_redis_cmd(harness_redis_t *h, const char *fmt, ...) {
    redisContext *c = redisConnectUnix(h->sock);
    if (c == NULL || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

/* ---- what a run leaves behind ---------------------------------------------------------- */

#define RUN_MARK "MIG_TEST_RUN"

void harness_mark_run(void) {
    char v[24];
    snprintf(v, sizeof v, "%d", (int)getpid());
    setenv(RUN_MARK, v, 1);
}

/* Reads all of /proc/<pid>/<what> into `buf` (NUL-terminated, `cap` bytes); its length,
 * or -1 when the process is gone or unreadable. */
static ssize_t proc_read(long pid, const char *what, char *buf, size_t cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

int harness_kill_marked(void) {
    const char *mark = getenv(RUN_MARK);
    if (mark == NULL) return 0;
    char want[48];
    int wn = snprintf(want, sizeof want, RUN_MARK "=%s", mark);
    DIR *d = opendir("/proc");
    if (d == NULL) return 0;
    static char env[1 << 18];
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == (long)getpid()) continue;
        ssize_t n = proc_read(pid, "environ", env, sizeof env);
        int marked = 0;
        for (ssize_t i = 0; n > 0 && i < n && !marked; i += (ssize_t)strlen(env + i) + 1)
            marked = strncmp(env + i, want, (size_t)wn) == 0 && env[i + wn] == '\0';
        if (!marked) continue;
        char stat[512], cmd[256];
        const char *paren = proc_read(pid, "stat", stat, sizeof stat) > 0 ? strrchr(stat, ')') : NULL;
        if (paren == NULL || paren[2] == 'Z') continue; /* gone, or dead and only not reaped */
        ssize_t cn = proc_read(pid, "cmdline", cmd, sizeof cmd);
        for (ssize_t i = 0; i + 1 < cn; i++)
            if (cmd[i] == '\0') cmd[i] = ' ';
        fprintf(stderr, "left behind by a test, killed: pid %ld (%s)\n", pid, cn > 0 ? cmd : "?");
        kill((pid_t)pid, SIGKILL);
        found++;
    }
    closedir(d);
    return found;
}
