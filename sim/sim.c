/* sim.c - the simulator's clock, lock and stop flag. */
#include "sim/sim.h"

#include <time.h>

#include "core/timefmt.h"

int64_t sim_clock(const sim_t *s) {
    return (int64_t)((double)(timefmt_mono_ms() - s->mono0) * s->speed);
}

void sim_enter(sim_t *s) {
    pthread_mutex_lock(&s->lock);
    model_advance(&s->model, sim_clock(s));
}

void sim_leave(sim_t *s) {
    pthread_mutex_unlock(&s->lock);
}

bool sim_stopping(const sim_t *s) {
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE) != 0;
}

void sim_request_stop(sim_t *s) {
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
}

bool sim_sleep_ms(const sim_t *s, int64_t ms) {
    int64_t end = timefmt_mono_ms() + ms;
    for (;;) {
        if (sim_stopping(s)) return false;
        int64_t left = end - timefmt_mono_ms();
        if (left <= 0) return true;
        timefmt_sleep_ms(left > 50 ? 50 : left); /* wake to see a stop within 50 ms */
    }
}
