/* players.c - the proxy's side of the model: server names and their addresses, waiting
 * rooms, the players on them, transfers, and the random churn of players. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/model.h"
#include "sim/model_private.h"
#include "sim/rng.h"

/* First names of generated players; a counter suffix keeps every name unique. */
static const char *const FIRST_NAMES[] = {"Alex", "Steve", "Mia",  "Noah", "Lena", "Finn",  "Emma",
                                          "Paul", "Lea",   "Ben",  "Hanna", "Jonas", "Sofia", "Luca",
                                          "Mila", "Elias", "Clara", "Max",  "Ida",  "Leon"};
#define N_FIRST_NAMES (sizeof FIRST_NAMES / sizeof FIRST_NAMES[0])

/* ------------------------------------------------------------------------ lookups */

int players_entry_index(const model_t *m, const char *name) {
    for (size_t i = 0; name && i < m->n_entries; i++)
        if (strcmp(m->entries[i].name, name) == 0) return (int)i;
    return -1;
}

bool players_is_room(const model_t *m, const char *name) {
    for (size_t i = 0; name && i < m->n_rooms; i++)
        if (strcmp(m->rooms[i], name) == 0) return true;
    return false;
}

int players_resolve(const model_t *m, const char *address, int server) {
    if (address == NULL) return -1;
    char addr[MODEL_NAME_MAX + 16];
    for (size_t i = 0; i < m->n_cts; i++) {
        model_container_address(m, &m->cts[i], addr, sizeof addr);
        if (strcmp(addr, address) == 0) return m->cts[i].id;
    }
    /* a bare host, or a host with another port: the server's container on that host */
    const char *colon = strrchr(address, ':');
    size_t hl = colon ? (size_t)(colon - address) : strlen(address);
    for (size_t i = 0; server >= 0 && i < m->n_cts; i++) {
        const char *h = m->nodes[m->cts[i].node].address;
        if (m->cts[i].server == server && strlen(h) == hl && strncmp(h, address, hl) == 0) return m->cts[i].id;
    }
    return -1;
}

int players_count(const model_t *m, const char *where) {
    int n = 0;
    for (size_t i = 0; i < m->n_players; i++)
        if (strcmp(m->players[i].where, where) == 0) n++;
    return n;
}

/* Removes player `i`, keeping the order (the newest stay last). */
static void remove_player(model_t *m, size_t i) {
    memmove(&m->players[i], &m->players[i + 1], (m->n_players - i - 1) * sizeof *m->players);
    m->n_players--;
}

/* The running container a server name sends players to, or -1. */
static int running_backend(const model_t *m, int entry) {
    const model_entry_t *e = &m->entries[entry];
    int id = players_resolve(m, e->address, model_server_by_name(m, e->name));
    const model_container_t *c = model_container_const(m, id);
    return c && c->state == CT_RUNNING ? id : -1;
}

/* ------------------------------------------------------------------------ rooms */

int players_create_room(model_t *m, const char *name, bool *created) {
    *created = false;
    if (!model_text_ok(name, MODEL_NAME_MAX))
        return model_fail(m, MIG_EINVALID, "bad_request", "name: required, at most %d bytes", MODEL_NAME_MAX - 1);
    if (players_is_room(m, name)) return 0;
    if (players_entry_index(m, name) >= 0)
        return model_fail(m, MIG_EEXISTS, "exists", "%s is a server, not a waiting room", name);
    if (model_grow((void **)&m->rooms, &m->cap_rooms, m->n_rooms + 1, sizeof *m->rooms)) return MIG_ENOMEM;
    snprintf(m->rooms[m->n_rooms++], MODEL_NAME_MAX, "%s", name);
    *created = true;
    return 0;
}

int players_delete_room(model_t *m, const char *name) {
    size_t i = 0;
    while (i < m->n_rooms && strcmp(m->rooms[i], name) != 0) i++;
    if (i == m->n_rooms) return model_fail(m, MIG_ENOT_FOUND, "not_found", "no waiting room %s", name);
    memmove(&m->rooms[i], &m->rooms[i + 1], (m->n_rooms - i - 1) * sizeof *m->rooms);
    m->n_rooms--;
    /* players left in a deleted room lose their connection */
    for (size_t p = m->n_players; p-- > 0;)
        if (strcmp(m->players[p].where, name) == 0) {
            remove_player(m, p);
            m->kicked++;
        }
    return 0;
}

/* ------------------------------------------------------------------------ transfers */

/* The remembered transfer for `key`, or a fresh slot of the ring (the oldest one given
 * up) holding it with nothing moved yet. NULL when out of memory. */
static model_transfer_t *memo_of(model_t *m, const char *key) {
    for (size_t i = 0; key[0] && i < MODEL_MEMO_MAX; i++)
        if (m->memo[i].moved && strcmp(m->memo[i].key, key) == 0) return &m->memo[i];
    model_transfer_t *t = &m->memo[m->memo_next];
    m->memo_next = (m->memo_next + 1) % MODEL_MEMO_MAX;
    free(t->moved);
    t->moved = calloc(1, 1);
    if (t->moved == NULL) return NULL;
    snprintf(t->key, sizeof t->key, "%s", key);
    t->count = 0;
    return t;
}

/* Appends a name to a transfer's list. */
static int memo_add(model_transfer_t *t, const char *name) {
    size_t have = strlen(t->moved), add = strlen(name);
    char *s = realloc(t->moved, have + add + 2);
    if (s == NULL) return MIG_ENOMEM;
    if (have) s[have++] = '\n';
    memcpy(s + have, name, add + 1);
    t->moved = s;
    t->count++;
    return 0;
}

int players_transfer(model_t *m, const char *key, const char *from, const char *to, const model_transfer_t **out) {
    if (!model_text_ok(from, MODEL_NAME_MAX) || !model_text_ok(to, MODEL_NAME_MAX))
        return model_fail(m, MIG_EINVALID, "bad_request", "from and to: required names");
    bool same = strcmp(from, to) == 0;
    if (same && players_entry_index(m, to) < 0)
        return model_fail(m, MIG_EINVALID, "bad_request", "from and to are the same waiting room");
    if (players_entry_index(m, from) < 0 && !players_is_room(m, from))
        return model_fail(m, MIG_ENOT_FOUND, "not_found", "no server or waiting room %s", from);
    int backend = -1, entry = players_entry_index(m, to);
    if (entry >= 0) {
        backend = running_backend(m, entry);
        if (backend < 0)
            return model_fail(m, MIG_EILLEGAL, "target_down", "%s leads to %s, where no container is running", to,
                              m->entries[entry].address);
    } else if (!players_is_room(m, to)) {
        return model_fail(m, MIG_ENOT_FOUND, "not_found", "no server or waiting room %s", to);
    }
    char key2[sizeof m->memo[0].key] = "";
    if (key && key[0]) snprintf(key2, sizeof key2, "%s\n%s\n%s", key, from, to);
    model_transfer_t *t = memo_of(m, key2);
    if (t == NULL) return MIG_ENOMEM;
    for (size_t i = 0; i < m->n_players; i++) {
        model_player_t *p = &m->players[i];
        /* from = to: only those still connected elsewhere reconnect to the address */
        if (strcmp(p->where, from) != 0 || (same && p->backend == backend)) continue;
        if (memo_add(t, p->name) != 0) return MIG_ENOMEM;
        snprintf(p->where, sizeof p->where, "%s", to);
        p->backend = backend;
        m->transferred++;
    }
    *out = t;
    return 0;
}

int players_register(model_t *m, const char *name, const char *address) {
    if (!model_text_ok(name, MODEL_NAME_MAX) || !model_text_ok(address, MODEL_NAME_MAX))
        return model_fail(m, MIG_EINVALID, "bad_request", "name and address: required, at most %d bytes",
                          MODEL_NAME_MAX - 1);
    if (players_is_room(m, name))
        return model_fail(m, MIG_EEXISTS, "exists", "%s is a waiting room, not a server", name);
    int e = players_entry_index(m, name);
    if (e < 0) {
        if (model_grow((void **)&m->entries, &m->cap_entries, m->n_entries + 1, sizeof *m->entries))
            return MIG_ENOMEM;
        e = (int)m->n_entries++;
        snprintf(m->entries[e].name, sizeof m->entries[e].name, "%s", name);
    }
    snprintf(m->entries[e].address, sizeof m->entries[e].address, "%s", address);
    return 0;
}

/* ------------------------------------------------------------------------ players */

int players_join(model_t *m, const char *where, int backend, const char *name) {
    if (model_grow((void **)&m->players, &m->cap_players, m->n_players + 1, sizeof *m->players)) return MIG_ENOMEM;
    model_player_t *p = &m->players[m->n_players++];
    memset(p, 0, sizeof *p);
    if (name) {
        snprintf(p->name, sizeof p->name, "%s", name);
    } else {
        const char *first = FIRST_NAMES[rng_next(&m->rng) % N_FIRST_NAMES];
        snprintf(p->name, sizeof p->name, "%s_%llu", first, m->next_player++);
    }
    snprintf(p->where, sizeof p->where, "%s", where);
    p->backend = backend;
    return 0;
}

int players_set_count(model_t *m, int server, int count, bool churn) {
    const char *name = m->servers[server].name;
    int e = players_entry_index(m, name);
    if (e < 0) return model_fail(m, MIG_ENOT_FOUND, "not_found", "the proxy does not know server %s", name);
    if (count < 0 || count > 100000)
        return model_fail(m, MIG_EINVALID, "bad_request", "count: must be an integer from 0 to 100000");
    int have = players_count(m, name);
    if (count > have) {
        int backend = running_backend(m, e);
        if (backend < 0)
            return model_fail(m, MIG_EILLEGAL, "not_running", "server %s has no running container to join",
                              name);
        for (; have < count; have++)
            if (players_join(m, name, backend, NULL) != 0) return MIG_ENOMEM;
    }
    for (size_t i = m->n_players; i-- > 0 && have > count;)
        if (strcmp(m->players[i].where, name) == 0) {
            remove_player(m, i);
            have--;
        }
    m->servers[server].pinned = !churn;
    return 0;
}

int players_kick_backend(model_t *m, int ct_id) {
    int n = 0;
    for (size_t i = m->n_players; i-- > 0;)
        if (m->players[i].backend == ct_id) {
            remove_player(m, i);
            n++;
        }
    m->kicked += n;
    return n;
}

/* Each player stays an exponential time of mean session_s, and players arrive as a
 * Poisson process of rate mean_players / session_s, so a server's population settles
 * around mean_players whatever the step. Only a server whose name leads to a running
 * container gains players; those on it may leave at any time. */
void players_churn(model_t *m, double dt_s) {
    if (dt_s <= 0) return;
    double p_leave = 1.0 - exp(-dt_s / m->o.session_s);
    for (size_t s = 0; s < m->n_servers; s++) {
        const model_server_t *srv = &m->servers[s];
        if (srv->mean_players <= 0 || srv->pinned) continue;
        for (size_t i = m->n_players; i-- > 0;)
            if (strcmp(m->players[i].where, srv->name) == 0 && rng_unit(&m->rng) < p_leave) remove_player(m, i);
        int e = players_entry_index(m, srv->name);
        int backend = e >= 0 ? running_backend(m, e) : -1;
        if (backend < 0) continue;
        int joins = rng_poisson(&m->rng, srv->mean_players * dt_s / m->o.session_s);
        for (int j = 0; j < joins; j++)
            if (players_join(m, srv->name, backend, NULL) != 0) return;
    }
}

void players_refresh_idle(model_t *m) {
    for (size_t s = 0; s < m->n_servers; s++) {
        model_server_t *srv = &m->servers[s];
        if (players_count(m, srv->name) > 0) srv->idle_since = -1;
        else if (srv->idle_since < 0) srv->idle_since = m->now;
    }
}
