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
#define OPTIMIZER_DRAIN_NOTE "drains " /* how the note of a drain's move begins (the dashboard groups by it) */

/* A server that already has a non-terminal migration: never planned, and when its move
 * has not created its target container yet (suggested, approved, scheduled), the target's
 * RAM and disk are held for it. */
typedef struct {
    const char *server_id;
    const char *to_node_id;  /* may be NULL */
    bool holds_target;       /* false while the move has not started: hold its RAM and disk */
    const char *from_node_id; /* may be NULL: the node it leaves (a drain of it may count on that) */
    bool cooling;            /* no migration, but in its cooldown: it cannot move now */
} optimizer_busy_t;

/* One planned move: indexes into the arrays given to optimizer_plan(). */
typedef struct {
    size_t server, from, to;
    double savings_eur_hour; /* a drain's move: its share of the node's price */
    bool drain;              /* one of the moves that empty nodes[from] */
    double drain_eur_hour;   /* a drain's move: the price of the node it empties (the whole saving) */
    int drain_moves;         /* a drain's move: how many moves the drain has */
    int drain_index;         /* a drain's move: which of them, from 1 */
} optimizer_move_t;

/* What a pass may plan (MIG_COST_MIN_SAVINGS, MIG_COST_MAX_MOVES_PER_NODE). */
typedef struct {
    double min_savings;     /* EUR/h the least each planned move saves: a single move's own
                             * saving, a drain's move its share of the node's price */
    int max_moves_per_node; /* the most migrations not ended that one node takes part in, as
                             * source or target, pending ones counted; 0: no limit */
} optimizer_limits_t;

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

/* Plans consolidations, then single moves, for one pass (docs/OPTIMIZER.md).
 *
 * A drain empties a node: every server on it gets a move to another node, so that the node
 * can be returned and its whole price saved. A node is drained only when all of it can go:
 * each of its servers is running and free to move (no migration of its own but one away
 * from this node, no cooldown), no migration is coming to it, every server fits somewhere
 * (RAM and disk, the room of pending and planned moves taken), no node passes
 * `max_moves_per_node`, and each move's share of its price is at least `min_savings`
 * (8 moves for 0.06 EUR/h are not worth their disruption). The dearest node is tried
 * first; a drained node takes no servers, and a node that takes a drain's servers is not
 * drained in the same pass. Its servers go biggest first to the cheapest node with room
 * (then the one with the least RAM left over: the fullest nodes stay full). Each move's
 * savings_eur_hour is its share of the node's price, in cents that add up to the price.
 *
 * Then single moves as optimizer_plan() makes them, on the room that is left, off nodes
 * that are not drained, each saving at least `min_savings`, within the per-node limit.
 *
 * *out gets an array the caller frees with free() (NULL when empty; a drain's moves are
 * next to each other), *n_out its length. Returns 0 or MIG_ENOMEM. */
int optimizer_plan_drains(const node_t *nodes, size_t n_nodes, const server_t *servers, size_t n_servers,
                          const optimizer_busy_t *busy, size_t n_busy, const optimizer_limits_t *lim,
                          optimizer_move_t **out, size_t *n_out);

/* The note of a planned move's migration. A drain's: "drains Node-3: €0.43/h (move 2 of
 * 5, €0.09/h of it)"; a single move's: "cost: Node-1 at 0.30 EUR/h -> Node-2 at 0.12
 * EUR/h, 4096 of 65536 MB RAM". */
void optimizer_note(const node_t *nodes, const server_t *servers, const optimizer_move_t *mv, char *out,
                    size_t cap);

#endif
