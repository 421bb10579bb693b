/* model.c - the simulated fleet's nodes, containers and syncs, and its clock. */
#include "sim/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/model_private.h"

/* Churn steps: one simulated second, or a sixteenth of a long jump of the clock, so that a
 * fast clock (MIG_SIM_SPEED 1e6) costs a bounded number of steps per advance. */
#define CHURN_STEP_MS 1000
#define CHURN_STEPS_PER_JUMP 16

/* ------------------------------------------------------------------------ helpers */

int model_grow(void **v, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*v, nc * size);
    if (p == NULL) return MIG_ENOMEM;
    *v = p;
    *cap = nc;
    return 0;
}

int model_fail(model_t *m, int code, const char *wire, const char *fmt, ...) {
    snprintf(m->err_code, sizeof m->err_code, "%s", wire);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return code;
}

int model_text_ok(const char *s, size_t cap) {
    if (s == NULL || *s == '\0' || strlen(s) >= cap) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

void model_init(model_t *m, const model_opts_t *o) {
    memset(m, 0, sizeof *m);
    m->o = *o;
    if (m->o.session_s <= 0) m->o.session_s = 600;
    if (m->o.speed <= 0) m->o.speed = 1;
    m->rng = o->seed;
    m->churn_at = CHURN_STEP_MS;
    m->next_ct_id = 1;
    m->next_player = 1;
}

void model_free(model_t *m) {
    free(m->nodes);
    free(m->servers);
    free(m->cts);
    free(m->syncs);
    free(m->players);
    free(m->entries);
    free(m->rooms);
    for (size_t i = 0; i < MODEL_MEMO_MAX; i++) free(m->memo[i].moved);
    memset(m, 0, sizeof *m);
}

const char *model_ct_state_name(model_ct_state_t s) {
    static const char *const names[] = {"created", "starting", "running", "stopping", "stopped"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

int64_t model_wall_ms(const model_t *m, int64_t t) {
    return m->o.wall0_ms + (int64_t)((double)t / m->o.speed);
}

/* ------------------------------------------------------------------------ lookups */

int model_node_index(const model_t *m, const char *id) {
    for (size_t i = 0; id && i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].id, id) == 0) return (int)i;
    return -1;
}

int model_server_index(const model_t *m, const char *id) {
    for (size_t i = 0; id && i < m->n_servers; i++)
        if (strcmp(m->servers[i].id, id) == 0) return (int)i;
    return -1;
}

int model_server_by_name(const model_t *m, const char *name) {
    for (size_t i = 0; name && i < m->n_servers; i++)
        if (strcmp(m->servers[i].name, name) == 0) return (int)i;
    return -1;
}

model_container_t *model_container_of(model_t *m, int node, int server) {
    for (size_t i = 0; i < m->n_cts; i++)
        if (m->cts[i].node == node && m->cts[i].server == server) return &m->cts[i];
    return NULL;
}

model_container_t *model_container_by_id(model_t *m, int id) {
    for (size_t i = 0; i < m->n_cts; i++)
        if (m->cts[i].id == id) return &m->cts[i];
    return NULL;
}

const model_container_t *model_container_const(const model_t *m, int id) {
    for (size_t i = 0; i < m->n_cts; i++)
        if (m->cts[i].id == id) return &m->cts[i];
    return NULL;
}

long long model_ram_free(const model_t *m, int node) {
    long long used = 0;
    for (size_t i = 0; i < m->n_cts; i++)
        if (m->cts[i].node == node) used += m->cts[i].ram_mb;
    return m->nodes[node].ram_total_mb - used;
}

long long model_disk_free(const model_t *m, int node) {
    long long used = 0;
    for (size_t i = 0; i < m->n_cts; i++)
        if (m->cts[i].node == node) used += m->cts[i].disk_mb;
    return m->nodes[node].disk_total_mb - used;
}

void model_container_address(const model_t *m, const model_container_t *c, char *out, size_t cap) {
    snprintf(out, cap, "%s:%d", m->nodes[c->node].address, c->port);
}

/* The container that serves a server: the one its proxy name leads to, else a running
 * one, else any; NULL when it has none. */
static const model_container_t *serving(const model_t *m, int server) {
    int e = players_entry_index(m, m->servers[server].name);
    if (e >= 0) {
        const model_container_t *c =
            model_container_const(m, players_resolve(m, m->entries[e].address, server));
        if (c && c->server == server) return c;
    }
    const model_container_t *any = NULL;
    for (size_t i = 0; i < m->n_cts; i++) {
        if (m->cts[i].server != server) continue;
        if (m->cts[i].state == CT_RUNNING) return &m->cts[i];
        if (any == NULL) any = &m->cts[i];
    }
    return any;
}

int model_server_node(model_t *m, int server) {
    const model_container_t *c = serving(m, server);
    if (c) m->servers[server].node = c->node;
    return m->servers[server].node;
}

const char *model_server_state(const model_t *m, int server) {
    const model_container_t *c = serving(m, server);
    return c ? model_ct_state_name(c->state) : "absent";
}

/* ------------------------------------------------------------------------ building */

int model_add_node(model_t *m, const model_node_t *n) {
    if (!model_text_ok(n->id, MODEL_ID_MAX)) return model_fail(m, MIG_EINVALID, "bad_request", "node id invalid");
    if (model_node_index(m, n->id) >= 0)
        return model_fail(m, MIG_EEXISTS, "exists", "node %s is defined twice", n->id);
    if (model_grow((void **)&m->nodes, &m->cap_nodes, m->n_nodes + 1, sizeof *m->nodes)) return MIG_ENOMEM;
    m->nodes[m->n_nodes++] = *n;
    return 0;
}

/* Lowest game port no live container holds. */
static int free_port(const model_t *m) {
    for (int port = MODEL_PORT_BASE;; port++) {
        size_t i = 0;
        while (i < m->n_cts && m->cts[i].port != port) i++;
        if (i == m->n_cts) return port;
    }
}

/* Appends a container; returns it or NULL when out of memory. */
static model_container_t *new_container(model_t *m, int node, int server, const char *migration_id,
                                        long long ram_mb, long long disk_mb) {
    if (model_grow((void **)&m->cts, &m->cap_cts, m->n_cts + 1, sizeof *m->cts)) return NULL;
    model_container_t *c = &m->cts[m->n_cts];
    memset(c, 0, sizeof *c);
    c->id = m->next_ct_id++;
    c->node = node;
    c->server = server;
    snprintf(c->migration_id, sizeof c->migration_id, "%s", migration_id);
    c->state = CT_CREATED;
    c->ram_mb = ram_mb;
    c->disk_mb = disk_mb;
    c->port = free_port(m);
    m->n_cts++;
    return c;
}

int model_add_server(model_t *m, const model_server_t *s, bool running) {
    if (!model_text_ok(s->id, MODEL_ID_MAX) || !model_text_ok(s->name, MODEL_NAME_MAX))
        return model_fail(m, MIG_EINVALID, "bad_request", "server id or name invalid");
    if (model_server_index(m, s->id) >= 0 || model_server_by_name(m, s->name) >= 0)
        return model_fail(m, MIG_EEXISTS, "exists", "server %s (%s) is defined twice", s->id, s->name);
    if (s->node < 0 || (size_t)s->node >= m->n_nodes)
        return model_fail(m, MIG_ENO_NODE, "unknown_node", "server %s has no node", s->id);
    if (running && (model_ram_free(m, s->node) < s->ram_mb || model_disk_free(m, s->node) < s->disk_mb))
        return model_fail(m, MIG_EREFUSED, "insufficient_capacity", "server %s does not fit node %s", s->id,
                          m->nodes[s->node].id);
    if (model_grow((void **)&m->servers, &m->cap_servers, m->n_servers + 1, sizeof *m->servers)) return MIG_ENOMEM;
    int idx = (int)m->n_servers++;
    m->servers[idx] = *s;
    m->servers[idx].idle_since = -1;
    if (!running) return 0;
    model_container_t *c = new_container(m, s->node, idx, "", s->ram_mb, s->disk_mb);
    if (c == NULL) return MIG_ENOMEM;
    c->state = CT_RUNNING;
    c->has_world = true;
    char addr[MODEL_NAME_MAX + 16];
    model_container_address(m, c, addr, sizeof addr);
    return players_register(m, s->name, addr);
}

/* ------------------------------------------------------------------------ syncs */

static bool sync_active(const model_sync_t *s) {
    return !s->finished && s->error[0] == '\0';
}

/* Bytes per sim ms each active sync into `node` copies: the node's bandwidth shared
 * equally; 0 when there is none to share (an instant copy never stays active). */
static double sync_rate(const model_t *m, int node) {
    int n = 0;
    for (size_t i = 0; i < m->n_syncs; i++)
        if (m->syncs[i].node == node && sync_active(&m->syncs[i])) n++;
    if (n == 0 || m->o.bandwidth_mb_s <= 0) return 0;
    return m->o.bandwidth_mb_s * MODEL_MB / 1000.0 / n;
}

static model_sync_t *find_sync(model_t *m, int node, const char *id) {
    for (size_t i = 0; i < m->n_syncs; i++)
        if (m->syncs[i].node == node && strcmp(m->syncs[i].id, id) == 0) return &m->syncs[i];
    return NULL;
}

const model_sync_t *model_find_sync(const model_t *m, int node, const char *sync_id) {
    return find_sync((model_t *)m, node, sync_id);
}

double model_sync_dirty(const model_t *m, const model_sync_t *s) {
    if (s->frozen) return s->dirty_frozen;
    const model_container_t *src = model_container_const(m, s->source);
    if (src == NULL) return s->dirty_frozen;
    double d = src->written - s->written_at_begin;
    double world = (double)m->servers[s->server].disk_mb * MODEL_MB;
    return d < world ? d : world;
}

int model_sync_progress(const model_sync_t *s) {
    if (s->finished) return 100;
    if (s->total <= 0) return 0;
    int p = (int)(s->done * 100.0 / s->total);
    return p > 99 ? 99 : p;
}

/* Ends a pass with an error at the present time. */
static void sync_fail(model_t *m, model_sync_t *s, const char *why) {
    snprintf(s->error, sizeof s->error, "%s", why);
    s->ended = m->now;
}

static void sync_finish(model_t *m, model_sync_t *s) {
    s->done = s->total;
    s->finished = true;
    s->ended = m->now;
    model_container_t *t = model_container_by_id(m, s->target);
    if (t) t->has_world = true;
}

int model_begin_sync(model_t *m, int node, const model_sync_req_t *r, const model_sync_t **out, bool *created) {
    *created = false;
    if (!model_text_ok(r->migration_id, MODEL_ID_MAX))
        return model_fail(m, MIG_EINVALID, "bad_request", "migration_id: required, at most %d bytes", MODEL_ID_MAX - 1);
    if (r->pass < 1 || r->pass > 1000)
        return model_fail(m, MIG_EINVALID, "bad_request", "pass: must be an integer from 1 to 1000");
    int server = model_server_index(m, r->server_id);
    if (server < 0) return model_fail(m, MIG_ENO_SERVER, "unknown_server", "no server %s in this fleet", r->server_id);
    int src_node = model_node_index(m, r->source_node_id);
    if (src_node < 0)
        return model_fail(m, MIG_ENO_NODE, "unknown_node", "no source node %s in this fleet",
                          r->source_node_id ? r->source_node_id : "(none)");
    if (src_node == node)
        return model_fail(m, MIG_EINVALID, "bad_request", "source_node_id: the source is this node");
    char id[sizeof m->syncs[0].id];
    snprintf(id, sizeof id, "%s.%d", r->migration_id, r->pass);
    model_sync_t *old = find_sync(m, node, id);
    if (old && old->error[0] == '\0') {
        *out = old;
        return 0;
    }
    if (!m->nodes[node].healthy)
        return model_fail(m, MIG_EUNREACHABLE, "unhealthy", "node %s is unhealthy", m->nodes[node].id);
    if (!m->nodes[src_node].healthy)
        return model_fail(m, MIG_EUNREACHABLE, "source_unreachable", "source node %s is unhealthy",
                          m->nodes[src_node].id);
    model_container_t *tgt = model_container_of(m, node, server);
    if (tgt == NULL)
        return model_fail(m, MIG_EILLEGAL, "no_container", "no container of server %s on node %s: create it first",
                          r->server_id, m->nodes[node].id);
    model_container_t *src = model_container_of(m, src_node, server);
    if (src == NULL || !src->has_world)
        return model_fail(m, MIG_ENOT_FOUND, "source_not_found", "node %s holds no world of server %s",
                          m->nodes[src_node].id, r->server_id);
    const model_server_t *s = &m->servers[server];
    if (s->disk_mb > tgt->disk_mb)
        return model_fail(m, MIG_EREFUSED, "disk_full", "world of %lld MB does not fit the container's %lld MB",
                          s->disk_mb, tgt->disk_mb);
    double world = (double)s->disk_mb * MODEL_MB, total = world;
    if (r->pass > 1) {
        /* pass numbers need only grow: the base is the latest earlier pass (a worker may
         * number its final pass 1000 after passes 1..n) */
        model_sync_t *prev = NULL;
        for (size_t i = 0; i < m->n_syncs; i++) {
            model_sync_t *c = &m->syncs[i];
            if (c->node == node && c->pass < r->pass && strcmp(c->migration_id, r->migration_id) == 0 &&
                (prev == NULL || c->pass > prev->pass))
                prev = c;
        }
        if (prev && sync_active(prev))
            return model_fail(m, MIG_EILLEGAL, "pass_running", "pass %d is still copying", prev->pass);
        /* a delta is only known against a finished pass from the same source */
        if (prev && prev->finished && prev->source == src->id) {
            total = src->written - prev->written_at_begin;
            if (total > world) total = world;
        }
        if (prev && !prev->frozen) {
            prev->dirty_frozen = model_sync_dirty(m, prev);
            prev->frozen = true;
        }
    }
    if (old == NULL) {
        if (model_grow((void **)&m->syncs, &m->cap_syncs, m->n_syncs + 1, sizeof *m->syncs)) return MIG_ENOMEM;
        old = &m->syncs[m->n_syncs++];
    }
    memset(old, 0, sizeof *old);
    snprintf(old->id, sizeof old->id, "%s", id);
    snprintf(old->migration_id, sizeof old->migration_id, "%s", r->migration_id);
    old->pass = r->pass;
    old->final = r->final;
    old->node = node;
    old->server = server;
    old->source_node = src_node;
    old->target = tgt->id;
    old->source = src->id;
    old->total = total;
    old->written_at_begin = src->written;
    old->began = m->now;
    if (m->o.bandwidth_mb_s <= 0 || total < 0.5) sync_finish(m, old);
    *created = true;
    *out = old;
    return 0;
}

/* ------------------------------------------------------------------------ time */

/* Applies what is due at m->now: containers done starting or stopping, syncs done. */
static void apply_due(model_t *m) {
    for (size_t i = 0; i < m->n_cts; i++) {
        model_container_t *c = &m->cts[i];
        if (c->state == CT_STARTING && c->until <= m->now) c->state = CT_RUNNING;
        if (c->state == CT_STOPPING && c->until <= m->now) c->state = CT_STOPPED;
    }
    for (size_t i = 0; i < m->n_syncs; i++) {
        model_sync_t *s = &m->syncs[i];
        if (sync_active(s) && s->total - s->done < 0.5) sync_finish(m, s);
    }
}

/* Integrates `dt` sim ms of copying and dirtying at the present rates. */
static void integrate(model_t *m, int64_t dt) {
    for (size_t i = 0; i < m->n_syncs; i++) {
        model_sync_t *s = &m->syncs[i];
        if (!sync_active(s)) continue;
        s->done += sync_rate(m, s->node) * (double)dt;
        if (s->done > s->total) s->done = s->total;
    }
    for (size_t i = 0; i < m->n_cts; i++) {
        model_container_t *c = &m->cts[i];
        if (c->state == CT_RUNNING && !c->quiesced)
            c->written += m->servers[c->server].write_mb_s * MODEL_MB * (double)dt / 1000.0;
    }
}

/* Sim ms of the next event after m->now and not after `limit`. */
static int64_t next_event(const model_t *m, int64_t limit) {
    int64_t next = limit;
    for (size_t i = 0; i < m->n_cts; i++) {
        const model_container_t *c = &m->cts[i];
        if ((c->state == CT_STARTING || c->state == CT_STOPPING) && c->until < next) next = c->until;
    }
    for (size_t i = 0; i < m->n_syncs; i++) {
        const model_sync_t *s = &m->syncs[i];
        if (!sync_active(s)) continue;
        double rate = sync_rate(m, s->node);
        if (rate <= 0) continue;
        /* ceil: the step must carry the copy to its end, never stop a hair short */
        int64_t at = m->now + (int64_t)ceil((s->total - s->done) / rate);
        if (at < next) next = at;
    }
    if (m->churn_at < next) next = m->churn_at;
    return next > m->now ? next : m->now + 1;
}

void model_advance(model_t *m, int64_t now) {
    while (m->now < now) {
        apply_due(m);
        int64_t next = next_event(m, now);
        integrate(m, next - m->now);
        m->now = next;
        if (m->now >= m->churn_at) {
            int64_t step = (now - m->now) / CHURN_STEPS_PER_JUMP;
            if (step < CHURN_STEP_MS) step = CHURN_STEP_MS;
            players_churn(m, (double)(m->now - m->churn_prev) / 1000.0);
            m->churn_prev = m->now;
            m->churn_at = m->now + step;
        }
    }
    apply_due(m);
    players_refresh_idle(m);
}

/* ------------------------------------------------------------------------ containers */

int model_create_container(model_t *m, int node, const char *server_id, const char *migration_id,
                           long long ram_mb, long long disk_mb, bool *created) {
    *created = false;
    if (!model_text_ok(migration_id, MODEL_ID_MAX))
        return model_fail(m, MIG_EINVALID, "bad_request", "migration_id: required, at most %d bytes", MODEL_ID_MAX - 1);
    int server = model_server_index(m, server_id);
    if (server < 0) return model_fail(m, MIG_ENO_SERVER, "unknown_server", "no server %s in this fleet", server_id);
    model_container_t *c = model_container_of(m, node, server);
    if (c) {
        if (strcmp(c->migration_id, migration_id) == 0) return 0;
        if (c->migration_id[0] == '\0')
            return model_fail(m, MIG_EEXISTS, "exists", "server %s already runs on node %s", server_id,
                              m->nodes[node].id);
        return model_fail(m, MIG_EEXISTS, "exists", "the container of %s on node %s belongs to migration %s",
                          server_id, m->nodes[node].id, c->migration_id);
    }
    if (!m->nodes[node].healthy)
        return model_fail(m, MIG_EUNREACHABLE, "unhealthy", "node %s is unhealthy", m->nodes[node].id);
    const model_server_t *s = &m->servers[server];
    if (ram_mb < 0) ram_mb = s->ram_mb;
    if (disk_mb < 0) disk_mb = s->disk_mb;
    long long ram_free = model_ram_free(m, node), disk_free = model_disk_free(m, node);
    if (ram_free < ram_mb)
        return model_fail(m, MIG_EREFUSED, "insufficient_ram", "node %s has %lld MB of RAM free, %lld needed",
                          m->nodes[node].id, ram_free, ram_mb);
    if (disk_free < disk_mb)
        return model_fail(m, MIG_EREFUSED, "disk_full", "node %s has %lld MB of disk free, %lld needed",
                          m->nodes[node].id, disk_free, disk_mb);
    if (new_container(m, node, server, migration_id, ram_mb, disk_mb) == NULL) return MIG_ENOMEM;
    *created = true;
    return 0;
}

/* The container of `server_id` on `node`, or NULL after recording MIG_ENOT_FOUND. */
static model_container_t *container_or_fail(model_t *m, int node, const char *server_id) {
    int server = model_server_index(m, server_id);
    model_container_t *c = server >= 0 ? model_container_of(m, node, server) : NULL;
    if (c == NULL)
        model_fail(m, MIG_ENOT_FOUND, "not_found", "no container of server %s on node %s", server_id,
                   m->nodes[node].id);
    return c;
}

int model_start_container(model_t *m, int node, const char *server_id, model_ct_state_t *state) {
    model_container_t *c = container_or_fail(m, node, server_id);
    if (c == NULL) return MIG_ENOT_FOUND;
    if (c->state == CT_STOPPING)
        return model_fail(m, MIG_EILLEGAL, "stopping", "the container of %s is stopping", server_id);
    if (c->state == CT_CREATED || c->state == CT_STOPPED) {
        /* a fresh server process starts with autosave on */
        c->quiesced = false;
        c->state = m->o.start_ms > 0 ? CT_STARTING : CT_RUNNING;
        c->until = m->now + m->o.start_ms;
    }
    *state = c->state;
    return 0;
}

int model_stop_container(model_t *m, int node, const char *server_id, model_ct_state_t *state) {
    model_container_t *c = container_or_fail(m, node, server_id);
    if (c == NULL) return MIG_ENOT_FOUND;
    if (c->state == CT_CREATED) {
        c->state = CT_STOPPED;
    } else if (c->state == CT_STARTING || c->state == CT_RUNNING) {
        int id = c->id;
        c->state = m->o.stop_ms > 0 ? CT_STOPPING : CT_STOPPED;
        c->until = m->now + m->o.stop_ms;
        players_kick_backend(m, id);
        c = model_container_by_id(m, id);
    }
    *state = c->state;
    return 0;
}

int model_delete_container(model_t *m, int node, const char *server_id) {
    model_container_t *c = container_or_fail(m, node, server_id);
    if (c == NULL) return MIG_ENOT_FOUND;
    int id = c->id;
    players_kick_backend(m, id);
    size_t w = 0;
    for (size_t i = 0; i < m->n_syncs; i++) {
        model_sync_t *s = &m->syncs[i];
        if (s->target == id) continue; /* its copies go with it */
        if (s->source == id) {
            if (!s->frozen) {
                s->dirty_frozen = model_sync_dirty(m, s);
                s->frozen = true;
            }
            if (sync_active(s)) sync_fail(m, s, "the source container was deleted");
            s->source = -1;
        }
        if (w != i) m->syncs[w] = *s;
        w++;
    }
    m->n_syncs = w;
    c = model_container_by_id(m, id);
    size_t at = (size_t)(c - m->cts);
    memmove(c, c + 1, (m->n_cts - at - 1) * sizeof *c);
    m->n_cts--;
    return 0;
}

int model_quiesce_container(model_t *m, int node, const char *server_id, bool save_on, bool *flushed) {
    model_container_t *c = container_or_fail(m, node, server_id);
    if (c == NULL) return MIG_ENOT_FOUND;
    *flushed = false;
    if (save_on) {
        c->quiesced = false;
        return 0;
    }
    if (c->state != CT_RUNNING)
        return model_fail(m, MIG_EILLEGAL, "not_running", "the container of %s is %s, not running", server_id,
                          model_ct_state_name(c->state));
    /* save-all flush: what the running server had dirtied is already counted in
     * `written`; from now on it writes nothing */
    c->quiesced = true;
    *flushed = true;
    return 0;
}

int model_container_players(const model_t *m, int ct_id) {
    int n = 0;
    for (size_t i = 0; i < m->n_players; i++)
        if (m->players[i].backend == ct_id) n++;
    return n;
}

int model_set_health(model_t *m, int node, bool healthy) {
    m->nodes[node].healthy = healthy;
    if (healthy) return 0;
    char why[160];
    snprintf(why, sizeof why, "node %s became unhealthy", m->nodes[node].id);
    for (size_t i = 0; i < m->n_syncs; i++) {
        model_sync_t *s = &m->syncs[i];
        if (sync_active(s) && (s->node == node || s->source_node == node)) sync_fail(m, s, why);
    }
    return 0;
}
