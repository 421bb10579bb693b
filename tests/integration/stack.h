/* stack.h - the live-migration stack for the flow tests: bin/fleet-sim serving a fleet
 * described in the test, bin/migrate-scheduler and bin/migrate-worker processes, all
 * against the fixture's redis-server, all stopped by PID when the test ends. */
#ifndef MIG_STACK_H
#define MIG_STACK_H

#include <sys/types.h>

#include <cjson/cJSON.h>

#include "core/migration.h"

#define STACK_WORKERS_MAX 4

typedef struct {
    pid_t sim, scheduler, workers[STACK_WORKERS_MAX];
    int nworkers;
    int sim_port;
    char sim_url[64];
    char dir[256];           /* where the logs and the fleet file go */
    const char *worker_extra; /* one more worker flag, e.g. "--lease-ms=1500" */
} flow_stack_t;

/* Starts fleet-sim with `fleet_json` and `sim_flags` (NULL-terminated, may be NULL),
 * then the scheduler with `sched_flags` and `workers` workers. Fails the test when a
 * program does not start. */
void stack_start(flow_stack_t *s, const char *fleet_json, const char *const *sim_flags, const char *const *sched_flags,
                 int workers);

/* Starts one more worker (after a kill -9 of another, say); returns its index. */
int stack_add_worker(flow_stack_t *s);

/* Stops every process still running with SIGTERM and fails the test unless each exited
 * with status 0 within HARNESS_STOP_WAIT_MS, naming each that did not and how it ended
 * (a status, a signal, or a hang, after which it is killed). A pid the test set to 0
 * (a worker it killed on purpose) is skipped. */
void stack_stop(flow_stack_t *s);

/* Calls the simulator's control or agent API; returns the parsed answer (caller frees)
 * and fails the test on a status other than 2xx. */
cJSON *stack_sim(flow_stack_t *s, const char *method, const char *path, const char *body);

/* The container of `server_id` on `node_id` in the sim's state, or NULL. Borrowed from
 * `state`. */
const cJSON *stack_container(const cJSON *state, const char *server_id, const char *node_id);

/* Waits until the simulator holds at least one call (a `hold` fault took it: its caller
 * is inside that call); fails the test naming `what` after `ms`. */
void stack_wait_held(flow_stack_t *s, const char *what, int ms);

/* Polls the migration until its status is one of `want` (a NULL-terminated list of
 * statuses); fills `m` and fails the test after `ms`. */
void stack_wait_status(const char *id, const mig_status_t *want, int nwant, int ms, migration_t *m);

#endif
