/* optimizer_run.h - the cost optimizer inside bin/fleet-sim: every MIG_COST_INTERVAL_S
 * it reads the inventory from Redis, plans moves to cheaper nodes (optimizer.h) and
 * creates them as migrations: `suggested` at level 1, `scheduled` at level 2. */
#ifndef SIM_OPTIMIZER_RUN_H
#define SIM_OPTIMIZER_RUN_H

#include <stddef.h>

#include "core/rconn.h"
#include "sim/sim.h"

/* Starts the timer thread when s->cost_level > 0 (nothing to do otherwise). Returns 0
 * or MIG_EIO with the reason in `err`. */
int optimizer_start_timer(sim_t *s, char *err, size_t errlen);

/* Stops it (after sim_request_stop). */
void optimizer_stop_timer(sim_t *s);

/* One pass at `level` (1 or 2) on connection `rc`: *created gets the number of
 * migrations created. Servers with a migration that is not ended, or in their cooldown,
 * are skipped quietly. Returns 0 or the MIG_E* code of a failed read of the inventory. */
int optimizer_run_pass(sim_t *s, rconn_t *rc, int level, int *created);

#endif
