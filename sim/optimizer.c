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
        moves[n++] = (optimizer_move_t){(size_t)best_s, (size_t)from[best_s], (size_t)best_to, best_sv};
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

void optimizer_note(const node_t *nodes, const server_t *servers, const optimizer_move_t *mv, char *out,
                    size_t cap) {
    const node_t *a = &nodes[mv->from], *b = &nodes[mv->to];
    snprintf(out, cap, "cost: %s at %.2f EUR/h -> %s at %.2f EUR/h, %lld of %lld MB RAM",
             a->name ? a->name : a->id, a->eur_hour, b->name ? b->name : b->id, b->eur_hour,
             servers[mv->server].ram_mb, a->ram_total_mb);
}
