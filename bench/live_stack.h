/* live_stack.h - the stack of bench/live.c: a private redis-server, fleet-sim, the
 * scheduler and workers as processes (from $MIG_BIN_DIR, default bin/), started and
 * stopped by their PIDs, with their CPU use and calls to the sim. */
#ifndef MIG_BENCH_LIVE_STACK_H
#define MIG_BENCH_LIVE_STACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/rconn.h"
#include "core/migration.h"
#include "tests/support/redis_harness.h"

#define WORKERS_MAX 4

typedef struct {
    harness_redis_t redis;
    rconn_t *rc;
    pid_t sim, scheduler, workers[WORKERS_MAX];
    int nworkers;
    char base[64];  /* http://127.0.0.1:<sim port> */
    char logs[256]; /* mkdtemp folder of the programs' logs and the fleet file, kept on failure */
    const char *const *redis_flags; /* redis-server's extra arguments (the caller's array,
                                       alive as long as the stack), for stack_redis_restart */
} live_stack_t;

/* What stack_up_with starts: stack_up's arguments, and extra redis-server arguments
 * (`redis_flags`, NULL-terminated, may be NULL: e.g. an append-only file). Every array
 * is NULL-terminated and may be NULL. */
typedef struct {
    const char *fleet;
    int servers;
    const char *const *redis_flags;
    const char *const *sim_flags;
    const char *const *sched_flags;
    int workers;
    const char *const *worker_flags;
} stack_opts_t;

/* Stops what runs, says why and where the logs are, and exits 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Starts redis-server, fleet-sim serving `fleet` (a JSON text of `servers` servers) with
 * `sim_flags`, the scheduler with `sched_flags` and `workers` workers with
 * `worker_flags`; returns once the sim's inventory is in Redis. */
void stack_up(live_stack_t *s, const char *fleet, int servers, const char *const *sim_flags,
              const char *const *sched_flags, int workers, const char *const *worker_flags);

/* The same, with the options of `o`; `o->redis_flags` must stay alive with the stack. */
void stack_up_with(live_stack_t *s, const stack_opts_t *o);

/* Starts one more program of the stack: bin/<program> with the Redis URL, log level info
 * and `args` (NULL-terminated, may be NULL), its output appended to <logs>/<log>. Returns
 * its PID (the caller stores it in the stack, or stops it); a failure ends the bench. */
pid_t stack_spawn(live_stack_t *s, const char *program, const char *log, const char *const *args);

/* Starts redis-server again on the same folder, socket and arguments, after the caller
 * killed it (s->redis.pid reaped): it loads whatever its data files hold. Returns once it
 * answers PING, with s->redis.pid the new process; a failure ends the bench. */
void stack_redis_restart(live_stack_t *s);

/* Stops every process of the stack by its PID and removes Redis's folder; the logs'
 * folder too unless `keep_logs`. */
void stack_down(live_stack_t *s, bool keep_logs);

/* CPU seconds (user + system) process `pid` has used so far; 0 when it is gone. */
double cpu_s(pid_t pid);
/* The same for this process. */
double self_cpu_s(void);

/* CPU of each part of the stack at one moment. */
typedef struct {
    double sim, redis, scheduler, workers, bench;
} cpu_t;

cpu_t cpu_now(const live_stack_t *s);

/* Calls the sim; returns the HTTP status (-1 when unreachable) and the answer in *out
 * (caller frees; may be NULL). Safe from any thread. */
long sim_try(const live_stack_t *s, const char *method, const char *path, const char *body, cJSON **out);
/* The same, sending `Fencing-Token: <token>` when `token` is not NULL: the sim refuses
 * an agent or proxy call that names a migration (body `migration_id` or
 * `Idempotency-Key`) without one (docs/DRIVERS.md, Fencing). */
long sim_try_fenced(const live_stack_t *s, const char *method, const char *path, const char *body,
                    const char *token, cJSON **out);
/* The same from the main thread: anything but a 2xx ends the bench. */
cJSON *sim_call(const live_stack_t *s, const char *method, const char *path, const char *body);

/* The status of migration `id`, read into `m`; a failed read ends the bench. */
mig_status_t get_status(live_stack_t *s, const char *id, migration_t *m);

#endif
