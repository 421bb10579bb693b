/* rules.h - the safety rules of promotion: may a due scheduled migration start now, and
 * if not, why and when to look again. Pure: the scheduler gathers the facts, this
 * decides. */
#ifndef MIG_RULES_H
#define MIG_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/inventory.h"
#include "core/migration.h"

/* The limits an operator sets. */
typedef struct {
    int64_t idle_ms;        /* MIG_IDLE_S: no player online for this long */
    int max_parallel;       /* MIG_MAX_PARALLEL: migrations in flight in the fleet */
    int max_per_node;       /* MIG_MAX_PARALLEL_PER_NODE: in flight touching one node */
    int64_t recheck_ms;     /* when to look again at a rule with no known end (players online) */
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
} rules_facts_t;

typedef struct {
    bool promote;
    char reason[128];   /* when not: for blocked_reason ("3 players online") */
    int64_t retry_at;   /* when not: Unix ms of the next look */
} rules_verdict_t;

/* Decides for one migration. Every rule that holds it back names itself in the reason;
 * the first that fails wins, in this order: target health, RAM, disk, server state,
 * scaling event, platform queue, cooldown, fleet and node concurrency, idleness (skipped
 * when the migration asked to start now). */
void rules_decide(const rules_facts_t *f, const rules_limits_t *l, rules_verdict_t *v);

#endif
