/* sentinel_harness.c - a primary, a replica and three sentinels on loopback for a test. */
#include "sentinel_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/timefmt.h"
#include "redis_harness.h"

#define START_WAIT_MS 10000 /* a process answers PING well within this */
#define AWARE_WAIT_MS 20000 /* sentinels find each other by hello messages every 2 s */

/* ------------------------------------------------------------------------ ports */

/* Picks `n` free loopback ports: each bound to port 0 and held until all are picked, so
 * the kernel hands out `n` distinct ones, then released for the servers to take. A race
 * with another process for the same port is possible but short. Returns 0 or -1. */
static int free_ports(int *ports, int n) {
    int fds[HA_NODES + HA_SENTINELS], rv = 0, opened = 0;
    for (; opened < n; opened++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        fds[opened] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[opened] < 0 || bind(fds[opened], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[opened], (struct sockaddr *)&a, &al) != 0) {
            if (fds[opened] >= 0) close(fds[opened]);
            rv = -1;
            break;
        }
        ports[opened] = ntohs(a.sin_port);
    }
    for (int i = 0; i < opened; i++) close(fds[i]);
    return rv;
}

/* ------------------------------------------------------------------------ talking */

static redisReply *vcmd(int port, int timeout_ms, const char *fmt, va_list ap) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisvCommand(c, fmt, ap);
    redisFree(c);
    return r;
}

static redisReply *port_cmd(int port, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(port, 1000, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *ha_cmd(ha_t *h, int i, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(h->node[i].port, 5000, fmt, ap);
    va_end(ap);
    return r;
}

/* True when INFO <section> of the server on `port` contains `needle`. */
static int info_has(int port, const char *section, const char *needle) {
    redisReply *r = port_cmd(port, "INFO %s", section);
    int has = r && r->type == REDIS_REPLY_STRING && strstr(r->str, needle) != NULL;
    if (r) freeReplyObject(r);
    return has;
}

/* True when the primary on `port` streams its writes to a replica that confirms them:
 * a replica listed online may still wait for its first ACK (sent once a second) before
 * the primary streams to it, and until then WAIT cannot count it. A PUBLISH is a write
 * that is replicated and leaves the data alone, so it is what this WAIT waits for. */
static int replica_streaming(int port) {
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        redisReply *p = redisCommand(c, "PUBLISH ha:probe 1");
        redisReply *w = p ? redisCommand(c, "WAIT 1 100") : NULL;
        ok = w && w->type == REDIS_REPLY_INTEGER && w->integer >= 1;
        if (p) freeReplyObject(p);
        if (w) freeReplyObject(w);
    }
    if (c) redisFree(c);
    return ok;
}

/* Waits until the process answers PING or exits; 0 or -1. */
static int wait_ping(const ha_proc_t *p) {
    for (int waited = 0; waited < START_WAIT_MS; waited += 20) {
        redisReply *r = port_cmd(p->port, "PING");
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (ok) return 0;
        if (harness_wait(p->pid, 0) != -1) break; /* it exited */
        timefmt_sleep_ms(20);
    }
    fprintf(stderr, "ha: %s did not start; see %s\n", p->conf, p->log);
    return -1;
}

/* Number of elements of an array reply to a SENTINEL command, or -1. */
static int sentinel_count(int port, const char *what) {
    redisReply *r = port_cmd(port, "SENTINEL %s %s", what, HA_MASTER);
    int n = r && r->type == REDIS_REPLY_ARRAY ? (int)r->elements : -1;
    if (r) freeReplyObject(r);
    return n;
}

/* ------------------------------------------------------------------------ processes */

/* Writes a redis-server config for node `i`, a replica of `of` when `of` >= 0. */
static int write_node_conf(ha_t *h, int i, int of) {
    ha_proc_t *p = &h->node[i];
    char dir[sizeof h->dir], data[300]; /* a copy: gcc cannot tell p's fields from h->dir */
    memcpy(dir, h->dir, sizeof dir);
    snprintf(data, sizeof data, "%s/node-%d", dir, i);
    mkdir(data, 0700);
    snprintf(p->conf, sizeof p->conf, "%s/node-%d.conf", dir, i);
    snprintf(p->log, sizeof p->log, "%s/node-%d.log", dir, i);
    FILE *f = fopen(p->conf, "w");
    if (f == NULL) return -1;
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\ndaemonize no\nsave \"\"\nappendonly no\n"
            "repl-diskless-sync yes\nrepl-diskless-sync-delay 0\n",
            p->port, data, p->log);
    if (of >= 0) fprintf(f, "replicaof 127.0.0.1 %d\n", h->node[of].port);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_sentinel_conf(ha_t *h, int i) {
    ha_proc_t *p = &h->sentinel[i];
    char dir[sizeof h->dir];
    memcpy(dir, h->dir, sizeof dir);
    snprintf(p->conf, sizeof p->conf, "%s/sentinel-%d.conf", dir, i);
    snprintf(p->log, sizeof p->log, "%s/sentinel-%d.log", dir, i);
    FILE *f = fopen(p->conf, "w"); /* Sentinel rewrites it with what it learns */
    if (f == NULL) return -1;
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\ndaemonize no\n"
            "sentinel monitor %s 127.0.0.1 %d 2\n"
            "sentinel down-after-milliseconds %s 1000\n"
            "sentinel failover-timeout %s 3000\n"
            "sentinel parallel-syncs %s 1\n",
            p->port, dir, p->log, HA_MASTER, h->node[0].port, HA_MASTER, HA_MASTER, HA_MASTER);
    return fclose(f) == 0 ? 0 : -1;
}

static int spawn(ha_proc_t *p, const char *program) {
    const char *argv[] = {program, p->conf, NULL};
    p->pid = harness_spawn(argv, NULL);
    if (p->pid < 0) {
        p->pid = 0;
        perror("ha: fork");
        return -1;
    }
    return wait_ping(p);
}

/* Ends one process: SIGTERM, SIGKILL after HARNESS_STOP_WAIT_MS. Returns 0 when SIGTERM
 * was enough. */
static int end_proc(ha_proc_t *p) {
    int rv = harness_stop_pid(p->pid, NULL);
    p->pid = 0;
    return rv;
}

/* ------------------------------------------------------------------------ the harness */

int ha_start(ha_t *h) {
    memset(h, 0, sizeof *h);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(h->dir, sizeof h->dir, "%s/migha.XXXXXX", tmp);
    if (mkdtemp(h->dir) == NULL) {
        perror("ha: mkdtemp");
        h->dir[0] = '\0';
        return -1;
    }
    int ports[HA_NODES + HA_SENTINELS];
    if (free_ports(ports, HA_NODES + HA_SENTINELS) != 0) {
        perror("ha: no free port");
        goto fail;
    }
    for (int i = 0; i < HA_NODES; i++) h->node[i].port = ports[i];
    for (int i = 0; i < HA_SENTINELS; i++) h->sentinel[i].port = ports[HA_NODES + i];
    snprintf(h->sentinels, sizeof h->sentinels, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", h->sentinel[0].port,
             h->sentinel[1].port, h->sentinel[2].port);

    for (int i = 0; i < HA_NODES; i++)
        if (write_node_conf(h, i, i == 0 ? -1 : 0) != 0 || spawn(&h->node[i], "redis-server") != 0) goto fail;
    /* A sentinel learns the replicas from the primary's INFO, which it reads at once and
     * then every 10 s: the replica must be attached before the sentinels start. */
    int synced = 0;
    for (int64_t t0 = timefmt_mono_ms(); timefmt_mono_ms() - t0 < START_WAIT_MS && !synced;) {
        synced = info_has(h->node[1].port, "replication", "master_link_status:up") &&
                 info_has(h->node[0].port, "replication", "connected_slaves:1") && replica_streaming(h->node[0].port);
        if (!synced) timefmt_sleep_ms(20);
    }
    if (!synced) {
        fprintf(stderr, "ha: the replica did not sync; see %s\n", h->node[1].log);
        goto fail;
    }
    for (int i = 0; i < HA_SENTINELS; i++)
        if (write_sentinel_conf(h, i) != 0 || spawn(&h->sentinel[i], "redis-sentinel") != 0) goto fail;
    for (int waited = 0;; waited += 100) {
        int aware = 0;
        for (int i = 0; i < HA_SENTINELS; i++)
            if (sentinel_count(h->sentinel[i].port, "replicas") == HA_NODES - 1 &&
                sentinel_count(h->sentinel[i].port, "sentinels") == HA_SENTINELS - 1)
                aware++;
        if (aware == HA_SENTINELS) return 0;
        if (waited >= AWARE_WAIT_MS) {
            fprintf(stderr, "ha: the sentinels did not find the replica and each other; see %s\n",
                    h->sentinel[0].log);
            goto fail;
        }
        timefmt_sleep_ms(100);
    }
fail:
    ha_stop(h);
    return -1;
}

int ha_stop(ha_t *h) {
    int rv = 0;
    /* sentinels first, so none starts a failover while the servers go down */
    for (int i = 0; i < HA_SENTINELS; i++)
        if (end_proc(&h->sentinel[i]) != 0) rv = -1;
    for (int i = 0; i < HA_NODES; i++)
        if (end_proc(&h->node[i]) != 0) rv = -1;
    if (h->dir[0]) {
        if (getenv("MIG_KEEP_LOGS") == NULL) harness_rmtree(h->dir);
        else fprintf(stderr, "ha: logs kept in %s\n", h->dir);
        h->dir[0] = '\0';
    }
    return rv;
}

int ha_primary(ha_t *h) {
    int named = -1;
    for (int s = 0; s < HA_SENTINELS; s++) {
        redisReply *r = port_cmd(h->sentinel[s].port, "SENTINEL get-master-addr-by-name %s", HA_MASTER);
        int port = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? atoi(r->element[1]->str) : -1;
        if (r) freeReplyObject(r);
        int node = -1;
        for (int i = 0; i < HA_NODES; i++)
            if (h->node[i].port == port) node = i;
        if (node < 0 || (named >= 0 && node != named)) return -1;
        named = node;
    }
    redisReply *r = port_cmd(h->node[named].port, "ROLE");
    int master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING &&
                 strcmp(r->element[0]->str, "master") == 0;
    if (r) freeReplyObject(r);
    return master ? named : -1;
}

void ha_kill_node(ha_t *h, int i) {
    if (h->node[i].pid <= 0) return;
    kill(h->node[i].pid, SIGKILL);
    harness_wait(h->node[i].pid, 5000);
    h->node[i].pid = 0;
}

int ha_restart_as_replica(ha_t *h, int i, int of, int ms) {
    if (write_node_conf(h, i, of) != 0 || spawn(&h->node[i], "redis-server") != 0) return -1;
    for (int64_t t0 = timefmt_mono_ms(); timefmt_mono_ms() - t0 <= ms;) {
        if (info_has(h->node[of].port, "replication", "state=online") && replica_streaming(h->node[of].port)) return 0;
        timefmt_sleep_ms(20);
    }
    fprintf(stderr, "ha: node %d did not come back as a replica; see %s\n", i, h->node[i].log);
    return -1;
}
