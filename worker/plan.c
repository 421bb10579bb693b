/* plan.c - backoff and sync convergence of the worker. */
#include "worker/plan.h"

int64_t plan_backoff_ms(int retry, int64_t base, int64_t max, double rand01) {
    if (retry < 1) retry = 1;
    int64_t d = base;
    for (int i = 1; i < retry && d < max; i++) d *= 2;
    if (d > max) d = max;
    if (rand01 < 0) rand01 = 0;
    if (rand01 >= 1) rand01 = 0.999;
    return d - (int64_t)((double)d * 0.25 * rand01);
}

int64_t plan_pass_ms(int64_t bytes, double bytes_per_s) {
    if (bytes <= 0) return 0;
    if (bytes_per_s <= 0) return INT64_MAX / 4;
    return (int64_t)((double)bytes * 1000.0 / bytes_per_s);
}

plan_sync_t plan_next_sync(int64_t dirty_bytes, double bytes_per_s, int64_t budget_ms, int64_t overhead_ms,
                           int passes_done, int max_passes) {
    if (overhead_ms < 0) overhead_ms = 0;
    if (plan_pass_ms(dirty_bytes, bytes_per_s) <= budget_ms - overhead_ms) return PLAN_SYNC_FINAL;
    return passes_done < max_passes ? PLAN_SYNC_AGAIN : PLAN_SYNC_GIVE_UP;
}

int64_t plan_overhead_ms(int64_t estimate, int64_t observed_ms) {
    if (observed_ms < 0) observed_ms = 0;
    if (estimate < 0 || observed_ms >= estimate) return observed_ms;
    return estimate - (estimate - observed_ms) / 8;
}
