/* plan.h - the worker's arithmetic: retry backoff and when the incremental world sync
 * has converged enough for the final pass to fit the downtime budget. Pure. */
#ifndef MIG_PLAN_H
#define MIG_PLAN_H

#include <stdbool.h>
#include <stdint.h>

/* Delay before retry number `retry` (1, 2, ...): base * 2^(retry-1), at most `max`,
 * minus up to a quarter of jitter taken from `rand01` in [0, 1) so that retries of many
 * migrations do not march in step. */
int64_t plan_backoff_ms(int retry, int64_t base, int64_t max, double rand01);

/* After a sync pass: `dirty_bytes` written by the running server since the pass began,
 * at the measured `bytes_per_s`. The players' downtime is the final pass plus
 * `overhead_ms`, the rest of the transfer (moving players to the waiting room and back,
 * quiesce, registering, noticing the pass's end); another delta pass is worth it while
 * the two together would pass `budget_ms` and passes are left. */
typedef enum {
    PLAN_SYNC_FINAL = 0,  /* go to the final pass: it fits the budget */
    PLAN_SYNC_AGAIN,      /* run another delta pass first */
    PLAN_SYNC_GIVE_UP,    /* passes exhausted and it still does not fit: go final anyway */
} plan_sync_t;

plan_sync_t plan_next_sync(int64_t dirty_bytes, double bytes_per_s, int64_t budget_ms, int64_t overhead_ms,
                           int passes_done, int max_passes);

/* The estimate of a transfer's overhead (its downtime minus its final pass) after one
 * more transfer measured `observed_ms`: a worse observation is taken at once, a better
 * one only an eighth of the way, so the estimate stays near the worst recent transfer
 * and the budget holds for the next. `estimate` < 0 means none yet: the observation. */
int64_t plan_overhead_ms(int64_t estimate, int64_t observed_ms);

/* The overhead assumed before any transfer was measured: a tenth of the budget. */
#define PLAN_OVERHEAD_PRIOR(budget_ms) ((budget_ms) / 10)

/* Estimated ms of a pass of `bytes` at `bytes_per_s` (a huge number when the speed is
 * unknown). */
int64_t plan_pass_ms(int64_t bytes, double bytes_per_s);

#endif
