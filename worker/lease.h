/* lease.h - the lease a worker slot holds on one migration, as this process knows it:
 * the fencing token every side effect carries, and the deadline on the monotonic clock
 * past which the slot must not act at all.
 *
 * Redis decides who owns a migration; this is the worker's own, conservative copy of
 * that decision. The slot's job reads it before every driver call and Redis write, the
 * heartbeat thread renews it. Past the deadline the job stops at once, with no further
 * call and no rollback: by then the scheduler may have handed the migration to another
 * worker, whose recovery owns the rollback. The check alone cannot close the window
 * between itself and the call (a pause can fall right there), which is why every call
 * also carries the token and agents refuse a lower one (docs/DRIVERS.md, Fencing). */
#ifndef MIG_LEASE_H
#define MIG_LEASE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/migration.h"

/* The part of a lease the worker gives up for safety, ms: the deadline is this much
 * before Redis's expiry at the earliest. It covers a call already on its way when the
 * deadline passes and the two clocks running at slightly different rates. A fifth of
 * the lease: with the default 15 s lease, renewed every 5 s, the worker stops 3 s before
 * the scheduler could recover the migration. */
#define LEASE_MARGIN_MS(lease_ms) ((lease_ms) / 5)

typedef struct {
    pthread_mutex_t lock;          /* guards every field: the job and the heartbeat share it */
    char id[MIG_ID_MAX + 1];       /* the migration held, "" when none */
    uint64_t token;                /* its fencing token, 0 when none */
    int64_t deadline_ms;           /* monotonic ms past which the slot must not act */
    bool lost;                     /* Redis or an agent said the token is no longer current */
} lease_t;

/* The deadline that a claim or renewal sent at `sent_ms` (monotonic) grants. Redis
 * starts the lease when it runs the call, which is after it was sent, so this is never
 * later than Redis's expiry less the margin. Pure. */
int64_t lease_deadline(int64_t sent_ms, int64_t lease_ms);

void lease_init(lease_t *l);
void lease_destroy(lease_t *l);

/* A claim of migration `id` with `token`, sent at `sent_ms`, succeeded. */
void lease_take(lease_t *l, const char *id, uint64_t token, int64_t sent_ms, int64_t lease_ms);

/* A renewal of `token` sent at `sent_ms` succeeded: the deadline moves on, unless the
 * lease has meanwhile been lost or the slot has moved on to another token. */
void lease_renew(lease_t *l, uint64_t token, int64_t sent_ms, int64_t lease_ms);

/* Redis or an agent refused `token` as stale: the lease ends now (if still that token). */
void lease_lose(lease_t *l, uint64_t token);

/* The job has ended; nothing is held. */
void lease_drop(lease_t *l);

/* Copies the migration id (MIG_ID_MAX + 1 bytes) and token of the lease held. Returns
 * false when none is held or it is already lost: nothing to renew. */
bool lease_current(lease_t *l, char *id, uint64_t *token);

/* Milliseconds left before the deadline at monotonic `now_ms`; 0 when the deadline has
 * passed, the lease was lost, or none is held. The token goes to *token (may be NULL). */
int64_t lease_left_ms(lease_t *l, int64_t now_ms, uint64_t *token);

#endif
