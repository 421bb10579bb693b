/* optimizer_run.c - the cost optimizer's timer, its reads of the inventory and its
 * creation of migrations. */
#include "sim/optimizer_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rconn.h"
#include "core/store.h"
#include "sim/optimizer.h"

/* The statuses of a migration that is not ended; the first three have not created their
 * target container yet, so the optimizer holds the target's room for them. */
#define ACTIVE_STATUSES "suggested,approved,scheduled,preparing,transferring,completing"
#define PAGE 500 /* the store's largest page */

/* Every migration that is not ended, as busy entries whose strings point into `page`'s
 * records (free both with free() and store_page_free() after use). */
static int busy_list(rconn_t *rc, store_page_t *all, optimizer_busy_t **busy, size_t *n) {
    *busy = NULL;
    *n = 0;
    memset(all, 0, sizeof *all);
    for (long offset = 0;; offset += PAGE) {
        store_query_t q = {.statuses = ACTIVE_STATUSES, .limit = PAGE, .offset = offset};
        store_page_t page;
        int rv = store_list_migrations(rc, &q, &page);
        if (rv != 0) return rv;
        migration_t *items = realloc(all->items, (all->n + page.n + 1) * sizeof *items);
        if (items == NULL) {
            store_page_free(&page);
            return MIG_ENOMEM;
        }
        all->items = items;
        /* the records move to `all`; the emptied page frees only its array */
        if (page.n) memcpy(all->items + all->n, page.items, page.n * sizeof *page.items);
        all->n += page.n;
        free(page.items);
        if (page.n < PAGE) break;
    }
    if (all->n == 0) return 0;
    *busy = calloc(all->n, sizeof **busy);
    if (*busy == NULL) return MIG_ENOMEM;
    for (size_t i = 0; i < all->n; i++) {
        const migration_t *m = &all->items[i];
        (*busy)[i] = (optimizer_busy_t){m->server_id, m->to_node_id,
                                        m->status != MIG_SUGGESTED && m->status != MIG_APPROVED &&
                                            m->status != MIG_SCHEDULED,
                                        m->from_node_id, false};
    }
    *n = all->n;
    return 0;
}

/* Appends to `busy` the servers in their cooldown (a migration of theirs ended lately):
 * they cannot move, so they pin their node. */
static int add_cooling(rconn_t *rc, const server_t *servers, size_t n_servers, optimizer_busy_t **busy, size_t *n) {
    for (size_t i = 0; i < n_servers; i++) {
        char key[RCONN_PREFIX_MAX + 128];
        snprintf(key, sizeof key, "%scooldown:%s", rc->prefix, servers[i].id);
        const char *argv[] = {"EXISTS", key};
        int code = 0;
        redisReply *r = rconn_command(rc, 2, argv, NULL, &code);
        if (r == NULL) return code;
        bool cooling = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        freeReplyObject(r);
        if (!cooling) continue;
        optimizer_busy_t *b = realloc(*busy, (*n + 1) * sizeof **busy);
        if (b == NULL) return MIG_ENOMEM;
        *busy = b;
        b[(*n)++] = (optimizer_busy_t){.server_id = servers[i].id, .cooling = true};
    }
    return 0;
}

/* Creates the migration of one planned move; true when created. */
static bool create_move(rconn_t *rc, int level, const node_t *nodes, const server_t *servers,
                        const optimizer_move_t *mv) {
    char note[384];
    optimizer_note(nodes, servers, mv, note, sizeof note);
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = servers[mv->server].id;
    c.from_node_id = nodes[mv->from].id;
    c.to_node_id = nodes[mv->to].id;
    c.reason = MIG_REASON_COST;
    c.triggered_by = MIG_TRIGGER_SYSTEM;
    c.savings_eur_hour = mv->savings_eur_hour;
    c.level = level;
    c.status = level >= 2 ? MIG_SCHEDULED : MIG_SUGGESTED;
    c.notes = note;
    migration_t m;
    migration_init(&m);
    int rv = store_create_migration(rc, &c, &m);
    char sv[32];
    snprintf(sv, sizeof sv, "%.2f", mv->savings_eur_hour);
    if (rv == 0) {
        log_at(LOG_INFO, "optimizer.created", "migration_id", m.id, "server_id", c.server_id, "from_node_id",
               c.from_node_id, "to_node_id", c.to_node_id, "savings_eur_hour", sv, "status", states_name(m.status),
               "notes", note, NULL);
    } else if (rv == MIG_EACTIVE || rv == MIG_ECOOLDOWN || rv == MIG_ENO_SERVER) {
        /* the inventory moved since it was read: the next pass sees it */
        log_at(LOG_DEBUG, "optimizer.skipped", "server_id", c.server_id, "why", rc->err, NULL);
    } else {
        log_at(LOG_WARN, "optimizer.create_failed", "server_id", c.server_id, "to_node_id", c.to_node_id, "error",
               rc->err, NULL);
    }
    migration_clear(&m);
    return rv == 0;
}

int optimizer_run_pass(sim_t *s, rconn_t *rc, int level, int *created) {
    *created = 0;
    node_t *nodes = NULL;
    server_t *servers = NULL;
    size_t n_nodes = 0, n_servers = 0, n_busy = 0, n_moves = 0;
    optimizer_busy_t *busy = NULL;
    optimizer_move_t *moves = NULL;
    store_page_t active = {0};
    pthread_mutex_lock(&s->cost_pass);
    int rv = store_list_nodes(rc, &nodes, &n_nodes);
    if (rv == 0) rv = store_list_servers(rc, &servers, &n_servers);
    if (rv == 0) rv = busy_list(rc, &active, &busy, &n_busy);
    if (rv == 0) rv = add_cooling(rc, servers, n_servers, &busy, &n_busy);
    optimizer_limits_t lim = {.min_savings = s->cost_min_savings, .max_moves_per_node = s->cost_max_moves_per_node};
    if (rv == 0) rv = optimizer_plan_drains(nodes, n_nodes, servers, n_servers, busy, n_busy, &lim, &moves, &n_moves);
    if (rv != 0) goto out;
    for (size_t i = 0; i < n_moves; i++)
        if (create_move(rc, level, nodes, servers, &moves[i])) (*created)++;
out:
    pthread_mutex_unlock(&s->cost_pass);
    free(moves);
    free(busy);
    store_page_free(&active);
    store_nodes_free(nodes, n_nodes);
    store_servers_free(servers, n_servers);
    return rv;
}

static void *run(void *arg) {
    sim_t *s = arg;
    char err[256];
    rconn_t *rc = rconn_new(&s->redis, err, sizeof err);
    if (rc == NULL) {
        log_at(LOG_ERROR, "optimizer.stopped", "error", err, NULL);
        return NULL;
    }
    bool failing = false;
    /* the first pass waits one interval: the reporter writes the inventory first */
    while (sim_sleep_ms(s, (int64_t)s->cost_interval_s * 1000)) {
        int created;
        int rv = optimizer_run_pass(s, rc, s->cost_level, &created);
        if (rv != 0 && !failing) log_at(LOG_WARN, "optimizer.failed", "error", rc->err, NULL);
        failing = rv != 0;
        if (rv == 0 && created > 0 && log_enabled(LOG_DEBUG)) {
            char n[16];
            snprintf(n, sizeof n, "%d", created);
            log_at(LOG_DEBUG, "optimizer.pass", "created", n, NULL);
        }
    }
    rconn_free(rc);
    return NULL;
}

int optimizer_start_timer(sim_t *s, char *err, size_t errlen) {
    if (s->cost_level <= 0) return 0;
    if (pthread_create(&s->cost_thread, NULL, run, s) != 0) {
        snprintf(err, errlen, "cannot start the optimizer thread");
        return MIG_EIO;
    }
    s->cost_running = true;
    return 0;
}

void optimizer_stop_timer(sim_t *s) {
    if (!s->cost_running) return;
    pthread_join(s->cost_thread, NULL);
    s->cost_running = false;
}
