/* store_private.h - what store.c and store_worker.c share: the argument arena of a call,
 * the helpers that fill it, and the calls that send it and read the reply. Only
 * core/store*.c include this; everything else goes through store.h. */
#ifndef MIG_STORE_PRIVATE_H
#define MIG_STORE_PRIVATE_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* Arguments are formatted into one arena per call: ARGS_MAX strings of at most
 * ARG_NUM_LEN bytes for numbers; text arguments are passed by pointer. */
#define ARGS_MAX 48
#define ARG_NUM_LEN 32

typedef struct {
    const char *v[ARGS_MAX];
    char num[ARGS_MAX][ARG_NUM_LEN];
    int n;
} args_t;

static inline void arg_s(args_t *a, const char *s) {
    if (a->n < ARGS_MAX) a->v[a->n++] = s ? s : "";
}

static inline void arg_i(args_t *a, long long x) {
    if (a->n >= ARGS_MAX) return;
    snprintf(a->num[a->n], ARG_NUM_LEN, "%lld", x);
    a->v[a->n] = a->num[a->n];
    a->n++;
}

static inline void arg_u(args_t *a, uint64_t x) {
    if (a->n >= ARGS_MAX) return;
    snprintf(a->num[a->n], ARG_NUM_LEN, "%" PRIu64, x);
    a->v[a->n] = a->num[a->n];
    a->n++;
}

/* Shortest text that reads back as the same double. */
static inline void arg_d(args_t *a, double x) {
    if (a->n >= ARGS_MAX) return;
    snprintf(a->num[a->n], ARG_NUM_LEN, "%.15g", x);
    if (strtod(a->num[a->n], NULL) != x) snprintf(a->num[a->n], ARG_NUM_LEN, "%.17g", x);
    a->v[a->n] = a->num[a->n];
    a->n++;
}

static inline void arg_pair_s(args_t *a, const char *k, const char *v) {
    if (v == NULL) return;
    arg_s(a, k);
    arg_s(a, v);
}

static inline void arg_pair_i(args_t *a, const char *k, long long v) {
    if (v < 0) return;
    arg_s(a, k);
    arg_i(a, v);
}

/* The number in a string element of a reply; 0 when it is none. */
static inline long long ll_of(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* The calls (store.c). Each returns 0 or a negative MIG_E* code, the function library's
 * sentence in rc->err. */

/* Calls `fn` and, when `out` is given, parses a record reply into it; MIG_EEMPTY on a nil
 * reply. */
int store__call_record(rconn_t *rc, const char *fn, const args_t *a, migration_t *out);
/* Calls `fn` for its effect; an integer reply in *integer (0 for any other) when given. */
int store__call_plain(rconn_t *rc, const char *fn, const args_t *a, long long *integer);
/* store__call_plain() without waiting for replicas: for heartbeats and progress reports,
 * whose loss in a failover the next call repairs (store.c says why). */
int store__call_unwaited(rconn_t *rc, const char *fn, const args_t *a, long long *integer);

#endif
