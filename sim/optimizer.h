/* optimizer.h - the cost optimizer's choice: which servers to move to which cheaper
 * nodes, from the inventory as Redis holds it. Pure; sim/optimizer_run.c reads the
 * inventory, calls optimizer_plan() on a timer and creates the migrations.
 *
 * Savings of moving server s from node A to node B, in EUR per hour:
 *
 *     savings = round_cents((A.eur_hour - B.eur_hour) * min(1, s.ram_mb / A.ram_total_mb))
 *
 * A node is paid for whole; a server's share of it is its share of the node's RAM (what
 * limits how many servers a node holds). Moving the server takes that share off the
 * expensive node and puts it on the cheap one, at the price difference. */
#ifndef SIM_OPTIMIZER_H
#define SIM_OPTIMIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/inventory.h"

#define OPTIMIZER_MIN_SAVINGS 0.01 /* EUR/h: a move must save at least a cent an hour */

/* A server that already has a non-terminal migration: never planned, and when its move
 * has not created its target container yet (suggested, approved, scheduled), the target's
 * RAM and disk are held for it. */
typedef struct {
    const char *server_id;
    const char *to_node_id;  /* may be NULL */
    bool holds_target;       /* false while the move has not started: hold its RAM and disk */
} optimizer_busy_t;

/* One planned move: indexes into the arrays given to optimizer_plan(). */
typedef struct {
    size_t server, from, to;
    double savings_eur_hour;
} optimizer_move_t;

/* The savings formula above; < 0 when it cannot be priced (an unknown price or RAM). */
double optimizer_savings(const node_t *from, const node_t *to, const server_t *s);

/* The best target for server `s` running on nodes[from], given the free RAM and disk of
 * each node: a healthy node other than its own, cheaper, with room, saving at least
 * `min_savings`; the biggest saving wins, then the most free RAM, then the lower index.
 * Returns the node's index or -1; *savings gets the saving. */
int optimizer_pick_target(const node_t *nodes, size_t n_nodes, const long long *ram_free,
                          const long long *disk_free, const server_t *s, size_t from, double min_savings,
                          double *savings);

/* Plans the moves of one pass: running servers that are not busy, greedily by largest
 * saving, each move taking its RAM and disk on its target before the next is chosen, so
 * that a pass never overfills a node. *out gets an array the caller frees with free()
 * (NULL when empty), *n_out its length. Returns 0 or MIG_ENOMEM. */
int optimizer_plan(const node_t *nodes, size_t n_nodes, const server_t *servers, size_t n_servers,
                   const optimizer_busy_t *busy, size_t n_busy, double min_savings, optimizer_move_t **out,
                   size_t *n_out);

/* The note of a planned move's migration: "cost: Node-1 at 0.30 EUR/h -> Node-2 at 0.12
 * EUR/h, 4096 of 65536 MB RAM". */
void optimizer_note(const node_t *nodes, const server_t *servers, const optimizer_move_t *mv, char *out,
                    size_t cap);

#endif
