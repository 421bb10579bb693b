/* states.c - the transition table of a migration, the single truth of legal edges. */
#include "states.h"

#include <stdio.h>
#include <string.h>

#include "strbuf.h"

static const char *const names[MIG_STATUS_COUNT] = {
    [MIG_SUGGESTED] = "suggested",       [MIG_APPROVED] = "approved",
    [MIG_SCHEDULED] = "scheduled",       [MIG_PREPARING] = "preparing",
    [MIG_TRANSFERRING] = "transferring", [MIG_COMPLETING] = "completing",
    [MIG_COMPLETED] = "completed",       [MIG_CANCELLED] = "cancelled",
    [MIG_FAILED] = "failed",
};

#define B(s) (1u << (s))

/* edges[from] is the set of statuses reachable in one step. The seed's diagram, plus
 * preparing|transferring -> scheduled for a retry with backoff. */
static const unsigned edges[MIG_STATUS_COUNT] = {
    [MIG_SUGGESTED] = B(MIG_APPROVED) | B(MIG_SCHEDULED) | B(MIG_CANCELLED),
    [MIG_APPROVED] = B(MIG_SCHEDULED) | B(MIG_CANCELLED),
    [MIG_SCHEDULED] = B(MIG_PREPARING) | B(MIG_CANCELLED),
    [MIG_PREPARING] = B(MIG_TRANSFERRING) | B(MIG_FAILED) | B(MIG_SCHEDULED),
    [MIG_TRANSFERRING] = B(MIG_COMPLETING) | B(MIG_FAILED) | B(MIG_SCHEDULED),
    [MIG_COMPLETING] = B(MIG_COMPLETED),
};

const char *states_name(mig_status_t s) {
    return (unsigned)s < MIG_STATUS_COUNT ? names[s] : NULL;
}

int states_parse(const char *name, size_t len) {
    for (int i = 0; i < MIG_STATUS_COUNT; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return i;
    return -1;
}

bool states_terminal(mig_status_t s) {
    return s == MIG_COMPLETED || s == MIG_CANCELLED || s == MIG_FAILED;
}

bool states_in_flight(mig_status_t s) {
    return s == MIG_PREPARING || s == MIG_TRANSFERRING || s == MIG_COMPLETING;
}

bool states_allowed(mig_status_t from, mig_status_t to) {
    if ((unsigned)from >= MIG_STATUS_COUNT || (unsigned)to >= MIG_STATUS_COUNT) return false;
    return (edges[from] & B(to)) != 0;
}

/* Appends `a` then `b` (may be NULL) to the prelude being rendered. */
static void out(strbuf_t *o, const char *a, const char *b) {
    strbuf_puts(o, a);
    if (b) strbuf_puts(o, b);
}

static void render_set(strbuf_t *o, const char *var, bool (*pred)(mig_status_t)) {
    out(o, "local ", var);
    out(o, " = {", NULL);
    for (int i = 0; i < MIG_STATUS_COUNT; i++)
        if (pred == NULL || pred((mig_status_t)i)) out(o, names[i], " = true, ");
    out(o, "}\n", NULL);
}

size_t states_render_lua(char *buf, size_t cap) {
    strbuf_t o;
    strbuf_init_fixed(&o, buf, cap);
    render_set(&o, "STATUSES", NULL);
    render_set(&o, "TERMINAL", states_terminal);
    render_set(&o, "IN_FLIGHT", states_in_flight);
    out(&o, "local EDGES = {\n", NULL);
    for (int f = 0; f < MIG_STATUS_COUNT; f++) {
        out(&o, "  ", names[f]);
        out(&o, " = {", NULL);
        for (int t = 0; t < MIG_STATUS_COUNT; t++)
            if (states_allowed((mig_status_t)f, (mig_status_t)t)) out(&o, names[t], " = true, ");
        out(&o, "},\n", NULL);
    }
    out(&o, "}\n", NULL);
    return o.n;
}
