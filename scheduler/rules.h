/* rules.h - the safety rules of promotion: may a due scheduled migration start now, and
 * if not, why and when to look again. Pure: the scheduler gathers the facts, this
 * decides. */
#ifndef MIG_RULES_H
#define MIG_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/inventory.h"
#include "core/migration.h"

/* A daily maintenance window for automatic moves (MIG_WINDOW, "02:00-06:00
 * Europe/Berlin"), in the local time of its zone. */
typedef struct {
    int start_s;      /* seconds after local midnight the window opens, 0 to 86399 */
    int end_s;        /* ... and closes; below start_s: it runs across midnight */
    char zone[48];    /* named in the reason: "Europe/Berlin", or "local time" */
} rules_window_t;

/* Parses "HH:MM-HH:MM" with an optional zone name after a space ("02:00-06:00
 * Europe/Berlin", "22:00-04:00"). Returns 0, or -1 with a sentence in `err`. The zone
 * is only copied: the caller sets it as TZ and checks it exists. */
int rules_window_parse(const char *text, rules_window_t *w, char *err, size_t errlen);

/* Seconds from the local time of day `sod` (seconds after local midnight) until the
 * window opens: 0 inside it. Pure: the caller converts its clock. */
int rules_window_wait_s(const rules_window_t *w, int sod);

/* The limits an operator sets. */
typedef struct {
    int64_t idle_ms;        /* MIG_IDLE_S: no player online for this long */
    int max_parallel;       /* MIG_MAX_PARALLEL: migrations in flight in the fleet */
    int max_per_node;       /* MIG_MAX_PARALLEL_PER_NODE: in flight touching one node */
    int64_t recheck_ms;     /* when to look again at a rule with no known end (players online) */
    const rules_window_t *window; /* MIG_WINDOW for level-2 system migrations; NULL: any time */
} rules_limits_t;

/* What is true now of one migration's world. */
typedef struct {
    const migration_t *m;
    const server_t *server;     /* NULL when the server is gone */
    const node_t *to;           /* NULL when the target node is gone */
    bool scaling;               /* a platform scaling event is in progress */
    long long platform_queue;   /* servers waiting to start on the platform */
    int64_t cooldown_left_ms;   /* of the server, 0 when none */
    int inflight;               /* migrations in flight or promoted, fleet-wide */
    int inflight_from;          /* ... touching the source node */
    int inflight_to;            /* ... touching the target node */
    int64_t now;                /* Unix ms */
    int local_sod;              /* seconds after midnight at `now` in the window's zone */
} rules_facts_t;

typedef struct {
    bool promote;
    char reason[128];   /* when not: for blocked_reason ("3 players online") */
    int64_t retry_at;   /* when not: Unix ms of the next look */
} rules_verdict_t;

/* Decides for one migration. Every rule that holds it back names itself in the reason;
 * the first that fails wins, in this order: its not_before (never started before it),
 * the maintenance window (level-2 migrations the system made only), target health, RAM, disk, server state,
 * scaling event, platform queue, cooldown, fleet and node concurrency, idleness (skipped
 * when the migration asked to start now). */
void rules_decide(const rules_facts_t *f, const rules_limits_t *l, rules_verdict_t *v);

#endif
