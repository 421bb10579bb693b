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
 * at the measured `bytes_per_s`. Another delta pass is worth it while the final pass
 * would take longer than `budget_ms` and passes are left. */
typedef enum {
    PLAN_SYNC_FINAL = 0,  /* go to the final pass: it fits the budget */
    PLAN_SYNC_AGAIN,      /* run another delta pass first */
    PLAN_SYNC_GIVE_UP,    /* passes exhausted and it still does not fit: go final anyway */
} plan_sync_t;

plan_sync_t plan_next_sync(int64_t dirty_bytes, double bytes_per_s, int64_t budget_ms, int passes_done,
                           int max_passes);

/* Estimated ms of a pass of `bytes` at `bytes_per_s` (a huge number when the speed is
 * unknown). */
int64_t plan_pass_ms(int64_t bytes, double bytes_per_s);

#endif
