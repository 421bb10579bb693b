/* redis_harness.h - a private redis-server for one test case: started on a unix socket
 * in a fresh temp dir, stopped by PID, its folder removed. It dies with the test runner
 * (PR_SET_PDEATHSIG), so nothing it started outlives a crashed test. */
#ifndef MIG_REDIS_HARNESS_H
#define MIG_REDIS_HARNESS_H

#include <sys/types.h>

typedef struct {
    pid_t pid;
    char dir[256];  /* mkdtemp folder holding the socket, log and any data */
    char sock[300];
    char url[320];  /* unix://<sock> */
} harness_redis_t;

/* Starts redis-server with `extra` arguments appended (NULL-terminated, may be NULL)
 * and waits until it answers PING. Returns 0, or -1 with a message on stderr. */
int harness_redis_start(harness_redis_t *h, const char *const *extra);

/* Stops it (SIGTERM, then SIGKILL after 5 s), reaps it, removes its folder. Returns 0
 * when the process had ended by itself or on the signal; safe to call twice. */
int harness_redis_stop(harness_redis_t *h);

/* Sends a raw command to the harness's server; returns the reply (freeReplyObject) or
 * NULL. For test setup and checks that bypass the store on purpose. */
struct redisReply;
struct redisReply *harness_redis_cmd(harness_redis_t *h, const char *fmt, ...);

/* Runs `argv` (NULL-terminated) as a child that dies with the test runner; returns its
 * PID or -1. Used for the programs under test. */
pid_t harness_spawn(const char *const *argv, const char *log_path);

/* Waits up to `ms` for `pid` to exit; returns its wait status, or -1 on timeout. */
int harness_wait(pid_t pid, int ms);

/* Stops a child: SIGTERM, then SIGKILL after 5 s, and reaps it. Returns 0 when it ended
 * on SIGTERM (or had ended), -1 when it needed SIGKILL. A pid <= 0 is a no-op. */
int harness_stop_pid(pid_t pid);

/* Removes the folder `dir` and everything in it. */
void harness_rmtree(const char *dir);

#endif
