/* report.c - the model's nodes and servers, written to the inventory in Redis. */
#include "sim/report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"

#define ROW_FIELDS 8   /* field/value pairs of one inventory row, at most */
#define ROW_VALUE 160  /* longest value, bytes with the NUL */

/* One node or server as the inventory holds it. */
typedef struct {
    char id[MODEL_ID_MAX];
    const char *k[ROW_FIELDS];
    char v[ROW_FIELDS][ROW_VALUE];
    int n;
} row_t;

/* What the reporter thread keeps between passes: the text of what it last wrote for each
 * object, so an unchanged object costs no call. */
typedef struct reporter {
    rconn_t *rc;
    size_t n_nodes, n_servers;
    char **last_nodes, **last_servers;
    bool *placed;   /* the server's node_id was written (new servers need it) */
    row_t *nodes, *servers;
    bool down;      /* Redis failed on the last try: logged once per outage */
    bool last_ok;   /* the last pass wrote everything (read under sim->report_lock) */
} reporter_t;

static void row_add(row_t *r, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void row_add(row_t *r, const char *k, const char *fmt, ...) {
    if (r->n >= ROW_FIELDS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->v[r->n], ROW_VALUE, fmt, ap);
    va_end(ap);
    r->k[r->n++] = k;
}

/* The rows of every node and server, read under the model lock. */
static void build_rows(sim_t *s, reporter_t *rep) {
    sim_enter(s);
    model_t *m = &s->model;
    for (size_t i = 0; i < rep->n_nodes; i++) {
        const model_node_t *n = &m->nodes[i];
        row_t *r = &rep->nodes[i];
        r->n = 0;
        snprintf(r->id, sizeof r->id, "%s", n->id);
        row_add(r, "name", "%s", n->name);
        row_add(r, "address", "%s", n->address);
        row_add(r, "healthy", "%d", n->healthy ? 1 : 0);
        row_add(r, "ram_total_mb", "%lld", n->ram_total_mb);
        row_add(r, "ram_free_mb", "%lld", model_ram_free(m, (int)i) > 0 ? model_ram_free(m, (int)i) : 0);
        row_add(r, "disk_free_mb", "%lld", model_disk_free(m, (int)i) > 0 ? model_disk_free(m, (int)i) : 0);
        row_add(r, "eur_hour", "%.6g", n->eur_hour);
    }
    for (size_t i = 0; i < rep->n_servers; i++) {
        const model_server_t *sv = &m->servers[i];
        row_t *r = &rep->servers[i];
        r->n = 0;
        int node = model_server_node(m, (int)i);
        snprintf(r->id, sizeof r->id, "%s", sv->id);
        row_add(r, "name", "%s", sv->name);
        row_add(r, "players", "%d", players_count(m, sv->name));
        row_add(r, "idle_since", "%lld", sv->idle_since >= 0 ? (long long)model_wall_ms(m, sv->idle_since) : 0LL);
        row_add(r, "state", "%s", model_server_state(m, (int)i));
        row_add(r, "ram_mb", "%lld", sv->ram_mb);
        row_add(r, "disk_mb", "%lld", sv->disk_mb);
        /* the node only for a server Redis does not have yet: moving it is the worker's
         * write, in its completing phase */
        if (!rep->placed[i]) row_add(r, "node_id", "%s", m->nodes[node].id);
    }
    sim_leave(s);
}

/* The row's values joined, to compare with what was written last. */
static void row_text(const row_t *r, char *out, size_t cap) {
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < r->n && o < cap; i++) o += (size_t)snprintf(out + o, cap - o, "%s=%s\x1f", r->k[i], r->v[i]);
}

/* Writes one row when it changed. Returns 0 or the store's error. */
static int put_row(reporter_t *rep, const row_t *r, char **last, bool server, bool *placed) {
    char text[ROW_FIELDS * (ROW_VALUE + 24)];
    row_text(r, text, sizeof text);
    if (*last && strcmp(*last, text) == 0) return 0;
    const char *pairs[2 * ROW_FIELDS];
    for (int i = 0; i < r->n; i++) {
        pairs[2 * i] = r->k[i];
        pairs[2 * i + 1] = r->v[i];
    }
    int rv = server ? store_put_server(rep->rc, r->id, pairs, (size_t)r->n)
                    : store_put_node(rep->rc, r->id, pairs, (size_t)r->n);
    if (rv == 0) {
        free(*last);
        *last = strdup(text);
        if (placed) *placed = true;
    } else if (placed && (rv == MIG_EINVALID || rv == MIG_ENO_NODE)) {
        *placed = false; /* deleted behind our back: write it whole next time */
    }
    return rv;
}

/* Writes the changed rows of one kind, logging each one the inventory refuses. Returns
 * `rv` (the pass's first error so far), or MIG_EREDIS as soon as Redis fails: the rest
 * is skipped then, since Redis is most likely down. */
static int put_rows(reporter_t *rep, const row_t *rows, char **last, bool *placed, size_t n, bool server, int rv) {
    for (size_t i = 0; rv != MIG_EREDIS && i < n; i++) {
        int r2 = put_row(rep, &rows[i], &last[i], server, placed ? &placed[i] : NULL);
        if (r2 == MIG_EREDIS) return r2;
        if (r2 != 0) {
            log_at(LOG_WARN, "sim.inventory_refused", server ? "server_id" : "node_id", rows[i].id, "error",
                   rep->rc->err, NULL);
            if (rv == 0) rv = r2;
        }
    }
    return rv;
}

/* One pass: every changed node, then every changed server. Returns 0 or the first
 * error. A node the inventory refuses is logged as such, and its servers then say that
 * their node is missing. */
static int pass(sim_t *s, reporter_t *rep) {
    build_rows(s, rep);
    int rv = put_rows(rep, rep->nodes, rep->last_nodes, NULL, rep->n_nodes, false, 0);
    rv = put_rows(rep, rep->servers, rep->last_servers, rep->placed, rep->n_servers, true, rv);
    if (rv == MIG_EREDIS && !rep->down) log_at(LOG_WARN, "sim.redis_down", "error", rep->rc->err, NULL);
    if (rv == 0 && rep->down) log_at(LOG_INFO, "sim.redis_up", NULL);
    rep->down = rv == MIG_EREDIS;
    return rv;
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *run(void *arg) {
    sim_t *s = arg;
    reporter_t *rep = s->reporter;
    for (;;) {
        pthread_mutex_lock(&s->report_lock);
        struct timespec dl;
        deadline_in(&dl, s->report_ms);
        while (!sim_stopping(s) && s->report_asked == s->report_begun)
            if (pthread_cond_timedwait(&s->report_cond, &s->report_lock, &dl) == ETIMEDOUT) break;
        s->report_begun = s->report_asked;
        pthread_mutex_unlock(&s->report_lock);
        if (sim_stopping(s)) break;
        int rv = pass(s, rep);
        pthread_mutex_lock(&s->report_lock);
        rep->last_ok = rv == 0;
        s->report_done = s->report_begun;
        pthread_cond_broadcast(&s->report_cond);
        pthread_mutex_unlock(&s->report_lock);
        /* No pause between passes: a pass writes only the rows that changed, and every
         * flush asked during one is answered by the next, so flushes coalesce by
         * themselves. (A pause of a quarter period here made each control call wait up
         * to 50 ms for a pass that had nothing else to do: bench/RESULTS.md, promotion.) */
    }
    return NULL;
}

int report_start(sim_t *s, char *err, size_t errlen) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->report_lock, NULL);
    pthread_cond_init(&s->report_cond, &ca);
    pthread_condattr_destroy(&ca);
    reporter_t *rep = s->reporter = calloc(1, sizeof *rep);
    if (rep == NULL) goto nomem;
    rep->n_nodes = s->model.n_nodes;
    rep->n_servers = s->model.n_servers;
    rep->last_nodes = calloc(rep->n_nodes + 1, sizeof *rep->last_nodes);
    rep->last_servers = calloc(rep->n_servers + 1, sizeof *rep->last_servers);
    rep->placed = calloc(rep->n_servers + 1, sizeof *rep->placed);
    rep->nodes = calloc(rep->n_nodes + 1, sizeof *rep->nodes);
    rep->servers = calloc(rep->n_servers + 1, sizeof *rep->servers);
    if (rep->last_nodes == NULL || rep->last_servers == NULL || rep->placed == NULL || rep->nodes == NULL ||
        rep->servers == NULL)
        goto nomem;
    if ((rep->rc = rconn_new(&s->redis, err, errlen)) == NULL) {
        report_stop(s);
        return MIG_EINVALID;
    }
    s->report_asked = 1; /* the first pass runs at once */
    if (pthread_create(&s->report_thread, NULL, run, s) != 0) {
        snprintf(err, errlen, "cannot start the reporter thread");
        report_stop(s);
        return MIG_EIO;
    }
    s->report_running = true;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    report_stop(s);
    return MIG_ENOMEM;
}

void report_stop(sim_t *s) {
    if (s->report_running) {
        pthread_mutex_lock(&s->report_lock);
        pthread_cond_broadcast(&s->report_cond);
        pthread_mutex_unlock(&s->report_lock);
        pthread_join(s->report_thread, NULL);
        s->report_running = false;
    }
    reporter_t *rep = s->reporter;
    if (rep) {
        for (size_t i = 0; rep->last_nodes && i < rep->n_nodes; i++) free(rep->last_nodes[i]);
        for (size_t i = 0; rep->last_servers && i < rep->n_servers; i++) free(rep->last_servers[i]);
        free(rep->last_nodes);
        free(rep->last_servers);
        free(rep->placed);
        free(rep->nodes);
        free(rep->servers);
        rconn_free(rep->rc);
        free(rep);
        s->reporter = NULL;
    }
    pthread_cond_destroy(&s->report_cond);
    pthread_mutex_destroy(&s->report_lock);
}

int report_flush(sim_t *s, int timeout_ms) {
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->report_lock);
    unsigned long mine = ++s->report_asked;
    pthread_cond_broadcast(&s->report_cond);
    int rv = 0;
    while (s->report_done < mine && !sim_stopping(s))
        if (pthread_cond_timedwait(&s->report_cond, &s->report_lock, &dl) == ETIMEDOUT) {
            rv = MIG_ETIMEOUT;
            break;
        }
    if (rv == 0 && !s->reporter->last_ok) rv = MIG_EREDIS;
    pthread_mutex_unlock(&s->report_lock);
    return rv;
}
