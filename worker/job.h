/* job.h - one migration run by a worker: the phases of the seed (prepare, transfer,
 * complete), each step recorded as phase_step, and the rollback each phase prescribes.
 * Every step is idempotent and keyed by the migration id, so a step re-run after a
 * crash does no harm; rollbacks undo every step of their phase whether or not it was
 * reached, which makes them right for a recovered migration too. */
#ifndef MIG_JOB_H
#define MIG_JOB_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/inventory.h"
#include "core/migration.h"
#include "core/rconn.h"
#include "worker/driver.h"
#include "worker/lease.h"

/* Settings of a worker that its jobs read. */
typedef struct {
    const char *worker_id;
    int64_t lease_ms;          /* MIG_LEASE_MS */
    int64_t cooldown_ms;       /* MIG_COOLDOWN_S * 1000: a server's rest after a migration */
    int64_t downtime_budget_ms;/* MIG_DOWNTIME_BUDGET_MS: what the final sync may take */
    int max_sync_passes;       /* MIG_SYNC_MAX_PASSES: delta passes before giving up on the budget */
    int64_t poll_ms;           /* MIG_POLL_MS: how often a long step is polled */
    int64_t step_timeout_ms;   /* MIG_STEP_TIMEOUT_MS: longest container start or sync pass */
    int64_t retry_base_ms;     /* MIG_RETRY_BACKOFF_MS: first retry delay, doubling */
    int64_t retry_max_ms;
} job_cfg_t;

/* Runs the migration `m` just claimed with `rc` and `drv` (fenced by `lease`, which the
 * heartbeat thread renews) until it is completed, failed, handed back for a retry, or
 * lost. Before every driver call and Redis write the job checks the lease; once it is
 * gone (its deadline passed, or Redis or an agent refused its token) the job stops at
 * once: no further call, no rollback, a `worker.lease_lost` line. `stopping` is set by
 * SIGTERM: a job still preparing then rolls back and hands the migration back; a later
 * phase finishes. Returns 0 or the MIG_E* code of the failure (already recorded in Redis
 * unless MIG_ELOST). */
int job_run(rconn_t *rc, driver_t *drv, const job_cfg_t *cfg, migration_t *m, lease_t *lease,
            volatile sig_atomic_t *stopping);

#endif
