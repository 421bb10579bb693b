/* states.h - the migration state machine: the nine statuses and the one transition
 * table that says which edges are legal. The Lua function library is generated from
 * this table at load time (states_render_lua()), so C and Redis share one truth. */
#ifndef MIG_STATES_H
#define MIG_STATES_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    MIG_SUGGESTED = 0,
    MIG_APPROVED,
    MIG_SCHEDULED,
    MIG_PREPARING,
    MIG_TRANSFERRING,
    MIG_COMPLETING,
    MIG_COMPLETED,
    MIG_CANCELLED,
    MIG_FAILED,
    MIG_STATUS_COUNT
} mig_status_t;

/* Wire name of a status ("transferring"); NULL for a value out of range. */
const char *states_name(mig_status_t s);

/* Status of a wire name, or -1 when `name` (of `len` bytes) names none. */
int states_parse(const char *name, size_t len);

/* True for completed, cancelled and failed: a migration that will never change again. */
bool states_terminal(mig_status_t s);

/* True for preparing, transferring and completing: a worker holds it under a lease. */
bool states_in_flight(mig_status_t s);

/* True when the table allows `from -> to`. */
bool states_allowed(mig_status_t from, mig_status_t to);

/* Renders the table as Lua source defining STATUSES (name -> true), TERMINAL (name ->
 * true), IN_FLIGHT and EDGES (from -> {to -> true}). Returns the bytes written, not
 * counting the NUL, or the size that would be needed when `cap` is too small
 * (snprintf's contract). */
size_t states_render_lua(char *buf, size_t cap);

#endif
