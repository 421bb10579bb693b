/* rng.h - the simulator's seeded pseudo-random numbers (splitmix64), so that a fleet and
 * its players replay from MIG_SIM_SEED. Not for anything secret. */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <math.h>
#include <stdint.h>

/* Next 64 random bits; advances *state. */
static inline uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits as a double. */
static inline double rng_unit(uint64_t *state) {
    return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [lo, hi]. */
static inline long long rng_range(uint64_t *state, long long lo, long long hi) {
    if (hi <= lo) return lo;
    return lo + (long long)(rng_next(state) % (uint64_t)(hi - lo + 1));
}

/* A Poisson count of mean `mean` (Knuth's product of uniforms; the means here are small,
 * and are capped at 64 so one huge time step cannot loop long). */
static inline int rng_poisson(uint64_t *state, double mean) {
    if (mean <= 0) return 0;
    if (mean > 64) mean = 64;
    double limit = exp(-mean), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= rng_unit(state);
    } while (p > limit);
    return k - 1;
}

#endif
