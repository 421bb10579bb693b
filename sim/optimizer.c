/* optimizer.c - the cost optimizer's pure choice of moves. */
#include "sim/optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

double optimizer_savings(const node_t *from, const node_t *to, const server_t *s) {
    if (from->eur_hour < 0 || to->eur_hour < 0 || from->ram_total_mb <= 0 || s->ram_mb <= 0) return -1;
    double share = (double)s->ram_mb / (double)from->ram_total_mb;
    if (share > 1) share = 1;
    return round((from->eur_hour - to->eur_hour) * share * 100.0) / 100.0;
}

int optimizer_pick_target(const node_t *nodes, size_t n_nodes, const long long *ram_free,
                          const long long *disk_free, const server_t *s, size_t from, double min_savings,
                          double *savings) {
    int best = -1;
    double best_savings = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        const node_t *to = &nodes[i];
        if (i == from || to->healthy != 1 || to->eur_hour < 0 || to->eur_hour >= nodes[from].eur_hour) continue;
        if (ram_free[i] < s->ram_mb || disk_free[i] < s->disk_mb) continue;
        double sv = optimizer_savings(&nodes[from], to, s);
        if (sv < min_savings - 1e-9) continue;
        if (best < 0 || sv > best_savings + 1e-9 ||
            (fabs(sv - best_savings) <= 1e-9 && ram_free[i] > ram_free[best])) {
            best = (int)i;
            best_savings = sv;
        }
    }
    if (best >= 0) *savings = best_savings;
    return best;
}

/* Index of the node `id`, or -1. */
static int node_of(const node_t *nodes, size_t n, const char *id) {
    for (size_t i = 0; id && i < n; i++)
        if (nodes[i].id && strcmp(nodes[i].id, id) == 0) return (int)i;
    return -1;
}

static int server_of(const server_t *servers, size_t n, const char *id) {
    for (size_t i = 0; id && i < n; i++)
        if (servers[i].id && strcmp(servers[i].id, id) == 0) return (int)i;
    return -1;
}

int optimizer_plan(const node_t *nodes, size_t n_nodes, const server_t *servers, size_t n_servers,
                   const optimizer_busy_t *busy, size_t n_busy, double min_savings, optimizer_move_t **out,
                   size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    int rv = MIG_ENOMEM;
    long long *ram = calloc(n_nodes + 1, sizeof *ram), *disk = calloc(n_nodes + 1, sizeof *disk);
    bool *skip = calloc(n_servers + 1, sizeof *skip);
    optimizer_move_t *moves = calloc(n_servers + 1, sizeof *moves);
    int *from = calloc(n_servers + 1, sizeof *from); /* node index of each server */
    if (ram == NULL || disk == NULL || skip == NULL || moves == NULL || from == NULL) goto out;
    for (size_t i = 0; i < n_nodes; i++) {
        ram[i] = nodes[i].ram_free_mb;
        disk[i] = nodes[i].disk_free_mb;
    }
    for (size_t b = 0; b < n_busy; b++) {
        int s = server_of(servers, n_servers, busy[b].server_id);
        if (s < 0) continue;
        skip[s] = true;
        int to = node_of(nodes, n_nodes, busy[b].to_node_id);
        if (to >= 0 && !busy[b].holds_target) {
            ram[to] -= servers[s].ram_mb > 0 ? servers[s].ram_mb : 0;
            disk[to] -= servers[s].disk_mb > 0 ? servers[s].disk_mb : 0;
        }
    }
    /* only running servers with known needs on a known node are candidates */
    for (size_t s = 0; s < n_servers; s++) {
        from[s] = node_of(nodes, n_nodes, servers[s].node_id);
        if (from[s] < 0 || servers[s].state == NULL || strcmp(servers[s].state, "running") != 0 ||
            servers[s].ram_mb <= 0 || servers[s].disk_mb < 0)
            skip[s] = true;
    }
    size_t n = 0;
    for (;;) {
        int best_s = -1, best_to = -1;
        double best_sv = 0;
        for (size_t s = 0; s < n_servers; s++) {
            if (skip[s]) continue;
            double sv;
            int to = optimizer_pick_target(nodes, n_nodes, ram, disk, &servers[s], (size_t)from[s], min_savings, &sv);
            if (to < 0) {
                skip[s] = true; /* free room only shrinks during a pass: it will never fit */
                continue;
            }
            if (best_s < 0 || sv > best_sv + 1e-9) {
                best_s = (int)s;
                best_to = to;
                best_sv = sv;
            }
        }
        if (best_s < 0) break;
        moves[n++] = (optimizer_move_t){.server = (size_t)best_s, .from = (size_t)from[best_s], .to = (size_t)best_to,
                                        .savings_eur_hour = best_sv};
        ram[best_to] -= servers[best_s].ram_mb;
        disk[best_to] -= servers[best_s].disk_mb;
        skip[best_s] = true;
    }
    if (n > 0) {
        *out = moves;
        moves = NULL;
    }
    *n_out = n;
    rv = 0;
out:
    free(ram);
    free(disk);
    free(skip);
    free(moves);
    free(from);
    return rv;
}

/* ------------------------------------------------------------------------ drains */

/* What a drain pass knows of the fleet while it plans: room left, moves counted per node. */
typedef struct {
    long long *ram, *disk;  /* free room per node, pending and planned moves taken */
    int *moves;             /* migrations not ended that each node takes part in */
    bool *drained;          /* planned to be emptied: takes no servers */
    bool *receiving;        /* takes a drain's servers: not drained in this pass */
    bool *blocked;          /* cannot be drained now (a server stuck on it, a move coming) */
    bool *skip;             /* per server: not a candidate for any move */
    bool *leaving;          /* per server: a migration away from its node is under way */
    int *from;              /* per server: its node's index, or -1 */
} pass_t;

static bool over_budget(const pass_t *p, const optimizer_limits_t *lim, size_t node, int more) {
    return lim->max_moves_per_node > 0 && p->moves[node] + more > lim->max_moves_per_node;
}

/* The target of server `s` in the drain of `from`: the cheapest node with room that is
 * not drained, healthy and priced, within its budget; then the least RAM left over. -1
 * when none. */
static int drain_target(const node_t *nodes, size_t n_nodes, const pass_t *p, const optimizer_limits_t *lim,
                        const server_t *s, size_t from) {
    int best = -1;
    for (size_t i = 0; i < n_nodes; i++) {
        if (i == from || p->drained[i] || nodes[i].healthy != 1 || nodes[i].eur_hour < 0) continue;
        if (p->ram[i] < s->ram_mb || p->disk[i] < s->disk_mb || over_budget(p, lim, i, 1)) continue;
        if (best < 0 || nodes[i].eur_hour < nodes[best].eur_hour - 1e-9 ||
            (fabs(nodes[i].eur_hour - nodes[best].eur_hour) <= 1e-9 && p->ram[i] < p->ram[best]))
            best = (int)i;
    }
    return best;
}

/* Indexes of the candidate servers on node `x`, biggest RAM first, into `idx`; returns
 * how many. */
static size_t servers_on(const server_t *servers, size_t n_servers, const pass_t *p, size_t x, size_t *idx) {
    size_t k = 0;
    for (size_t s = 0; s < n_servers; s++) {
        if (p->from[s] != (int)x || p->leaving[s]) continue;
        size_t j = k++;
        while (j > 0 && servers[idx[j - 1]].ram_mb < servers[s].ram_mb) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = s;
    }
    return k;
}

/* Tries to plan the drain of node `x`: every movable server placed, on copies of the
 * room, then committed. Appends the moves to `moves` at *n. Returns true when planned. */
static bool plan_drain(const node_t *nodes, size_t n_nodes, const server_t *servers, size_t n_servers, pass_t *p,
                       const optimizer_limits_t *lim, size_t x, size_t *idx, optimizer_move_t *moves, size_t *n) {
    size_t k = servers_on(servers, n_servers, p, x, idx);
    if (k == 0 || over_budget(p, lim, x, (int)k)) return false;
    /* the price is the whole saving, shared by the moves: each must be worth its own
     * disruption (8 moves for 0.06 EUR/h are not), as a single move must */
    long long cents = llround(nodes[x].eur_hour * 100.0);
    if ((double)(cents / (long long)k) / 100.0 < lim->min_savings - 1e-9) return false;
    p->drained[x] = true; /* it takes none of its own servers, nor the others' */
    size_t first = *n;
    for (size_t i = 0; i < k; i++) {
        const server_t *s = &servers[idx[i]];
        int to = drain_target(nodes, n_nodes, p, lim, s, x);
        if (to < 0) { /* one server has nowhere to go: undo, the node stays */
            for (size_t j = first; j < *n; j++) {
                p->ram[moves[j].to] += servers[moves[j].server].ram_mb;
                p->disk[moves[j].to] += servers[moves[j].server].disk_mb;
                p->moves[moves[j].to]--;
            }
            *n = first;
            p->drained[x] = false;
            return false;
        }
        p->ram[to] -= s->ram_mb;
        p->disk[to] -= s->disk_mb;
        p->moves[to]++;
        moves[(*n)++] = (optimizer_move_t){.server = idx[i], .from = x, .to = (size_t)to, .drain = true};
    }
    /* the node's price in cents, spread so that the shares add up to it exactly */
    for (size_t i = 0; i < k; i++) {
        optimizer_move_t *mv = &moves[first + i];
        long long share = cents / (long long)k + ((long long)i < cents % (long long)k ? 1 : 0);
        mv->savings_eur_hour = (double)share / 100.0;
        mv->drain_eur_hour = (double)cents / 100.0;
        mv->drain_moves = (int)k;
        mv->drain_index = (int)i + 1;
        p->receiving[mv->to] = true;
        p->skip[mv->server] = true;
    }
    p->moves[x] += (int)k;
    return true;
}

int optimizer_plan_drains(const node_t *nodes, size_t n_nodes, const server_t *servers, size_t n_servers,
                          const optimizer_busy_t *busy, size_t n_busy, const optimizer_limits_t *lim,
                          optimizer_move_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    int rv = MIG_ENOMEM;
    pass_t p = {0};
    size_t *idx = calloc(n_servers + 1, sizeof *idx), *order = calloc(n_nodes + 1, sizeof *order);
    optimizer_move_t *moves = calloc(n_servers + 1, sizeof *moves);
    p.ram = calloc(n_nodes + 1, sizeof *p.ram);
    p.disk = calloc(n_nodes + 1, sizeof *p.disk);
    p.moves = calloc(n_nodes + 1, sizeof *p.moves);
    p.drained = calloc(n_nodes + 1, sizeof *p.drained);
    p.receiving = calloc(n_nodes + 1, sizeof *p.receiving);
    p.blocked = calloc(n_nodes + 1, sizeof *p.blocked);
    p.skip = calloc(n_servers + 1, sizeof *p.skip);
    p.leaving = calloc(n_servers + 1, sizeof *p.leaving);
    p.from = calloc(n_servers + 1, sizeof *p.from);
    if (!idx || !order || !moves || !p.ram || !p.disk || !p.moves || !p.drained || !p.receiving || !p.blocked ||
        !p.skip || !p.leaving || !p.from)
        goto out;
    for (size_t i = 0; i < n_nodes; i++) {
        p.ram[i] = nodes[i].ram_free_mb;
        p.disk[i] = nodes[i].disk_free_mb;
    }
    for (size_t s = 0; s < n_servers; s++) p.from[s] = node_of(nodes, n_nodes, servers[s].node_id);
    for (size_t b = 0; b < n_busy; b++) {
        int s = server_of(servers, n_servers, busy[b].server_id);
        int to = node_of(nodes, n_nodes, busy[b].to_node_id), fr = node_of(nodes, n_nodes, busy[b].from_node_id);
        if (to >= 0) {
            p.blocked[to] = true; /* a server is coming: the node is wanted */
            p.moves[to]++;
        }
        if (fr >= 0 && fr != to) p.moves[fr]++;
        if (s < 0) continue;
        p.skip[s] = true;
        if (busy[b].cooling || to < 0) {
            if (p.from[s] >= 0) p.blocked[p.from[s]] = true; /* it stays where it is for now */
            continue;
        }
        if (fr < 0 || fr == p.from[s]) p.leaving[s] = true; /* on its way off its node */
        else if (p.from[s] >= 0) p.blocked[p.from[s]] = true;
        if (!busy[b].holds_target) {
            p.ram[to] -= servers[s].ram_mb > 0 ? servers[s].ram_mb : 0;
            p.disk[to] -= servers[s].disk_mb > 0 ? servers[s].disk_mb : 0;
        }
    }
    /* a server that cannot move pins its node; the others are candidates */
    for (size_t s = 0; s < n_servers; s++) {
        bool movable = p.from[s] >= 0 && servers[s].state && strcmp(servers[s].state, "running") == 0 &&
                       servers[s].ram_mb > 0 && servers[s].disk_mb >= 0;
        if (movable) continue;
        if (p.from[s] >= 0 && !p.leaving[s]) p.blocked[p.from[s]] = true;
        p.skip[s] = true;
    }
    /* the dearest node first: it saves the most */
    for (size_t i = 0; i < n_nodes; i++) {
        size_t j = i;
        while (j > 0 && nodes[order[j - 1]].eur_hour < nodes[i].eur_hour) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t n = 0;
    for (size_t o = 0; o < n_nodes; o++) {
        size_t x = order[o];
        if (p.blocked[x] || p.receiving[x] || nodes[x].eur_hour < 0) continue;
        plan_drain(nodes, n_nodes, servers, n_servers, &p, lim, x, idx, moves, &n);
    }
    /* single moves on what is left: drained nodes take nothing, their servers are planned */
    for (size_t i = 0; i < n_nodes; i++)
        if (p.drained[i]) p.ram[i] = -1;
    for (size_t s = 0; s < n_servers; s++)
        if (p.from[s] < 0 || p.drained[p.from[s]] || p.leaving[s]) p.skip[s] = true;
    for (;;) {
        int best_s = -1, best_to = -1;
        double best_sv = 0;
        for (size_t s = 0; s < n_servers; s++) {
            if (p.skip[s]) continue;
            double sv;
            int to = optimizer_pick_target(nodes, n_nodes, p.ram, p.disk, &servers[s], (size_t)p.from[s],
                                           lim->min_savings, &sv);
            if (to < 0 || over_budget(&p, lim, (size_t)p.from[s], 1) || over_budget(&p, lim, (size_t)to, 1)) {
                if (to < 0) p.skip[s] = true; /* free room only shrinks during a pass */
                continue;
            }
            if (best_s < 0 || sv > best_sv + 1e-9) {
                best_s = (int)s;
                best_to = to;
                best_sv = sv;
            }
        }
        if (best_s < 0) break;
        moves[n++] = (optimizer_move_t){.server = (size_t)best_s, .from = (size_t)p.from[best_s], .to = (size_t)best_to,
                                        .savings_eur_hour = best_sv};
        p.ram[best_to] -= servers[best_s].ram_mb;
        p.disk[best_to] -= servers[best_s].disk_mb;
        p.moves[best_to]++;
        p.moves[p.from[best_s]]++;
        p.skip[best_s] = true;
    }
    if (n > 0) {
        *out = moves;
        moves = NULL;
    }
    *n_out = n;
    rv = 0;
out:
    free(idx);
    free(order);
    free(moves);
    free(p.ram);
    free(p.disk);
    free(p.moves);
    free(p.drained);
    free(p.receiving);
    free(p.blocked);
    free(p.skip);
    free(p.leaving);
    free(p.from);
    return rv;
}

void optimizer_note(const node_t *nodes, const server_t *servers, const optimizer_move_t *mv, char *out,
                    size_t cap) {
    const node_t *a = &nodes[mv->from], *b = &nodes[mv->to];
    if (mv->drain) {
        snprintf(out, cap, OPTIMIZER_DRAIN_NOTE "%s: \xe2\x82\xac%.2f/h (move %d of %d, \xe2\x82\xac%.2f/h of it; to %s)",
                 a->name ? a->name : a->id, mv->drain_eur_hour, mv->drain_index, mv->drain_moves,
                 mv->savings_eur_hour, b->name ? b->name : b->id);
        return;
    }
    snprintf(out, cap, "cost: %s at %.2f EUR/h -> %s at %.2f EUR/h, %lld of %lld MB RAM",
             a->name ? a->name : a->id, a->eur_hour, b->name ? b->name : b->id, b->eur_hour,
             servers[mv->server].ram_mb, a->ram_total_mb);
}
