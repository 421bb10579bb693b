/* redis_harness.h - a private redis-server for one test case: started on a unix socket
 * in a fresh temp dir, stopped by PID, its folder removed. It dies with the test runner
 * (PR_SET_PDEATHSIG), so nothing it started outlives a crashed test. */
#ifndef MIG_REDIS_HARNESS_H
#define MIG_REDIS_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

/* How long a child has after SIGTERM before it is killed (ms): a program of ours stops in
 * well under a second, sanitizers and leak check included, and redis-server in a few
 * milliseconds, so only one that hangs on its way out ever reaches this, however busy the
 * machine is. */
#define HARNESS_STOP_WAIT_MS 30000

/* How long a child has to start (ms) before the test gives up on it: a redis-server
 * answers in milliseconds and a program of ours logs its start well within a second;
 * one that exits is noticed at once. */
#define HARNESS_START_WAIT_MS 30000

typedef struct {
    pid_t pid;
    char dir[256];  /* mkdtemp folder holding the socket, log and any data */
    char sock[300];
    char url[320];  /* unix://<sock> */
} harness_redis_t;

/* Starts redis-server with `extra` arguments appended (NULL-terminated, may be NULL)
 * and waits until it answers PING. Returns 0, or -1 with a message on stderr. */
int harness_redis_start(harness_redis_t *h, const char *const *extra);

/* 1 when `pid`, which need not be our child (a fixture's server started by the test
 * runner), has ended: gone, or a zombie only its parent's wait still holds (kill(pid, 0)
 * cannot tell, since it succeeds on a zombie). */
int harness_pid_gone(pid_t pid);

/* Kills the server with SIGKILL (an abrupt loss: no save, the append-only file as it is)
 * and waits until it has ended, whoever its parent is. Returns 0, or -1 after `ms`. */
int harness_redis_kill9(harness_redis_t *h, int ms);

/* Starts redis-server again on the same folder, socket and data (an append-only file the
 * first one wrote, when `extra` turned it on), after the caller killed it and reaped it
 * (h->pid 0); h->pid gets the new one. Returns 0 once it answers PING, having loaded
 * the data, or -1. */
int harness_redis_restart(harness_redis_t *h, const char *const *extra);

/* Stops it (SIGTERM, then SIGKILL after HARNESS_STOP_WAIT_MS), reaps it, removes its
 * folder. Returns 0 when the process had ended by itself or on the signal; safe to call
 * twice. */
int harness_redis_stop(harness_redis_t *h);

/* Sends a raw command to the harness's server; returns the reply (freeReplyObject) or
 * NULL. For test setup and checks that bypass the store on purpose. */
struct redisReply;
struct redisReply *harness_redis_cmd(harness_redis_t *h, const char *fmt, ...);

/* Runs `argv` (NULL-terminated) as a child that dies with the test runner; returns its
 * PID or -1. Used for the programs under test. */
pid_t harness_spawn(const char *const *argv, const char *log_path);

/* Waits up to `ms` for `pid` to exit; returns its wait status, or -1 on timeout. A pid
 * that is no child of ours (reaped already) answers 0, as an exit with status 0 would. */
int harness_wait(pid_t pid, int ms);

/* Stops a child: SIGTERM, then SIGKILL after HARNESS_STOP_WAIT_MS, and reaps it. Returns
 * 0 when it ended on SIGTERM (or had ended), -1 when it needed SIGKILL. How it ended goes
 * to *status when `status` is not NULL: its wait status (WIFEXITED, WTERMSIG...), for a
 * caller that holds the child to a clean exit; redis-servers that a test killed with -9
 * on purpose are stopped with the same call and their status ignored. A pid <= 0 is a
 * no-op with *status 0. */
int harness_stop_pid(pid_t pid, int *status);

/* Says how a child ended in words, from its wait status: "exited 0", "exited with status
 * 1", "killed by signal 6 (Aborted)". Writes into `buf` of `cap` bytes and returns it. */
const char *harness_status_text(int status, char *buf, size_t cap);

/* Removes the folder `dir` and everything in it. */
void harness_rmtree(const char *dir);

/* What a run leaves behind. A test killed at its timeout runs no teardown, and the game
 * servers an agent starts outlive the agent by design (their own process groups): such
 * processes would outlive the run. harness_mark_run() puts the runner's mark in the
 * environment every process the tests start inherits (MIG_TEST_RUN=<runner's pid>);
 * harness_kill_marked(), called when the run ends, SIGKILLs every live process that
 * carries it, naming each on stderr, and returns how many there were. */
void harness_mark_run(void);
int harness_kill_marked(void);

#endif
