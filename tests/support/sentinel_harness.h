/* sentinel_harness.h - Redis with Sentinel for one test: a primary, a replica and three
 * sentinels (Debian's redis-server and redis-sentinel) on loopback TCP ports chosen free
 * at run time, their config files in a fresh mkdtemp folder. Every process dies with the
 * test (PR_SET_PDEATHSIG) and is killed by PID when the test stops the harness.
 *
 * Tuned to fail over within seconds: down-after-milliseconds 1000, failover-timeout
 * 3000, quorum 2, and repl-diskless-sync-delay 0 so a replica syncs without waiting. */
#ifndef MIG_SENTINEL_HARNESS_H
#define MIG_SENTINEL_HARNESS_H

#include <sys/types.h>

#define HA_NODES 2          /* redis-servers: [0] starts as the primary, [1] as its replica */
#define HA_SENTINELS 3
#define HA_MASTER "mymaster"

typedef struct {
    pid_t pid;      /* 0 when not running */
    int port;
    char conf[300]; /* its config file */
    char log[300];
} ha_proc_t;

typedef struct {
    char dir[256];                  /* mkdtemp folder: configs, logs, data */
    ha_proc_t node[HA_NODES];
    ha_proc_t sentinel[HA_SENTINELS];
    char sentinels[128];            /* "127.0.0.1:p,127.0.0.1:p,127.0.0.1:p" for MIG_REDIS_SENTINELS */
} ha_t;

/* Starts both redis-servers (the replica synced, a WAIT counting it), then the
 * sentinels, and waits until every sentinel knows the replica and the two other
 * sentinels, so that a failover can happen. Returns 0, or -1 with a message on stderr
 * (everything started is stopped). */
int ha_start(ha_t *h);

/* Kills every process by PID (SIGTERM, SIGKILL after 5 s), reaps it and removes the
 * folder. Returns 0 when each ended on SIGTERM or had ended; safe to call twice. */
int ha_stop(ha_t *h);

/* The node every sentinel names as the primary of HA_MASTER and whose ROLE says master,
 * or -1 while they disagree or it does not answer. */
int ha_primary(ha_t *h);

/* Kills node `i` with SIGKILL (no shutdown, no goodbye to clients) and reaps it. */
void ha_kill_node(ha_t *h, int i);

/* Starts node `i` again (after ha_kill_node) as a replica of node `of`, as an operator
 * brings a failed primary back, and waits (at most `ms`) until `of` streams writes to it
 * and a WAIT counts it. Returns 0 or -1. */
int ha_restart_as_replica(ha_t *h, int i, int of, int ms);

/* Sends a command to node `i` over a fresh connection; returns the reply
 * (freeReplyObject) or NULL when it cannot be reached. */
struct redisReply;
struct redisReply *ha_cmd(ha_t *h, int i, const char *fmt, ...);

#endif
