/* snapshot.c - the simulated fleet as JSON. */
#include "sim/snapshot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Every player on `where` as {"name","node_id"} (node_id null in a waiting room). */
static cJSON *players_of(const model_t *m, const char *where) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < m->n_players; i++) {
        const model_player_t *p = &m->players[i];
        if (strcmp(p->where, where) != 0) continue;
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) break;
        cJSON_AddItemToArray(a, o);
        cJSON_AddStringToObject(o, "name", p->name);
        const model_container_t *c = model_container_const(m, p->backend);
        if (c) cJSON_AddStringToObject(o, "node_id", m->nodes[c->node].id);
        else cJSON_AddNullToObject(o, "node_id");
    }
    return a;
}

cJSON *snapshot_sync(const model_t *m, const model_sync_t *s) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    cJSON_AddStringToObject(o, "sync_id", s->id);
    cJSON_AddStringToObject(o, "node_id", m->nodes[s->node].id);
    cJSON_AddStringToObject(o, "server_id", m->servers[s->server].id);
    cJSON_AddStringToObject(o, "source_node_id", m->nodes[s->source_node].id);
    cJSON_AddNumberToObject(o, "pass", s->pass);
    cJSON_AddBoolToObject(o, "final", s->final);
    cJSON_AddNumberToObject(o, "progress", model_sync_progress(s));
    cJSON_AddNumberToObject(o, "bytes_total", (double)llround(s->total));
    cJSON_AddNumberToObject(o, "bytes_done", (double)llround(s->done));
    cJSON_AddBoolToObject(o, "done", s->finished);
    if (s->error[0]) cJSON_AddStringToObject(o, "error", s->error);
    else cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "dirty_bytes", (double)llround(model_sync_dirty(m, s)));
    cJSON_AddNumberToObject(o, "began_ms", (double)s->began);
    if (s->ended) cJSON_AddNumberToObject(o, "ended_ms", (double)s->ended);
    else cJSON_AddNullToObject(o, "ended_ms");
    return o;
}

cJSON *snapshot_container(const model_t *m, const model_container_t *c) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    char addr[MODEL_NAME_MAX + 16];
    model_container_address(m, c, addr, sizeof addr);
    cJSON_AddStringToObject(o, "server_id", m->servers[c->server].id);
    cJSON_AddStringToObject(o, "node_id", m->nodes[c->node].id);
    cJSON_AddStringToObject(o, "migration_id", c->migration_id);
    cJSON_AddStringToObject(o, "state", model_ct_state_name(c->state));
    cJSON_AddBoolToObject(o, "healthy", c->state == CT_RUNNING && m->nodes[c->node].healthy);
    cJSON_AddNumberToObject(o, "players", model_container_players(m, c->id));
    cJSON_AddStringToObject(o, "address", addr);
    cJSON_AddBoolToObject(o, "quiesced", c->quiesced);
    cJSON_AddBoolToObject(o, "has_world", c->has_world);
    cJSON_AddNumberToObject(o, "ram_mb", (double)c->ram_mb);
    cJSON_AddNumberToObject(o, "disk_mb", (double)c->disk_mb);
    cJSON_AddNumberToObject(o, "written_bytes", (double)llround(c->written));
    return o;
}

static cJSON *node_json(const model_t *m, int i) {
    const model_node_t *n = &m->nodes[i];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    cJSON_AddStringToObject(o, "id", n->id);
    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddStringToObject(o, "address", n->address);
    cJSON_AddNumberToObject(o, "eur_hour", n->eur_hour);
    cJSON_AddBoolToObject(o, "healthy", n->healthy);
    cJSON_AddNumberToObject(o, "ram_total_mb", (double)n->ram_total_mb);
    cJSON_AddNumberToObject(o, "ram_free_mb", (double)model_ram_free(m, i));
    cJSON_AddNumberToObject(o, "disk_total_mb", (double)n->disk_total_mb);
    cJSON_AddNumberToObject(o, "disk_free_mb", (double)model_disk_free(m, i));
    return o;
}

static cJSON *server_json(model_t *m, int i) {
    const model_server_t *s = &m->servers[i];
    int node = model_server_node(m, i);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "node_id", m->nodes[node].id);
    cJSON_AddStringToObject(o, "state", model_server_state(m, i));
    int e = players_entry_index(m, s->name);
    if (e >= 0) cJSON_AddStringToObject(o, "proxy_address", m->entries[e].address);
    else cJSON_AddNullToObject(o, "proxy_address");
    cJSON_AddNumberToObject(o, "player_count", players_count(m, s->name));
    cJSON_AddItemToObject(o, "players", players_of(m, s->name));
    if (s->idle_since >= 0) cJSON_AddNumberToObject(o, "idle_since", (double)model_wall_ms(m, s->idle_since));
    else cJSON_AddNumberToObject(o, "idle_since", 0);
    cJSON_AddNumberToObject(o, "ram_mb", (double)s->ram_mb);
    cJSON_AddNumberToObject(o, "disk_mb", (double)s->disk_mb);
    cJSON_AddNumberToObject(o, "write_mb_s", s->write_mb_s);
    cJSON_AddNumberToObject(o, "mean_players", s->mean_players);
    cJSON_AddBoolToObject(o, "churn", s->mean_players > 0 && !s->pinned);
    return o;
}

cJSON *snapshot_model(model_t *m, const fault_set_t *faults) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    cJSON_AddNumberToObject(o, "now_ms", (double)m->now);
    cJSON *a = cJSON_AddArrayToObject(o, "nodes");
    for (size_t i = 0; a && i < m->n_nodes; i++) cJSON_AddItemToArray(a, node_json(m, (int)i));
    a = cJSON_AddArrayToObject(o, "containers");
    for (size_t i = 0; a && i < m->n_cts; i++) cJSON_AddItemToArray(a, snapshot_container(m, &m->cts[i]));
    a = cJSON_AddArrayToObject(o, "servers");
    for (size_t i = 0; a && i < m->n_servers; i++) cJSON_AddItemToArray(a, server_json(m, (int)i));
    a = cJSON_AddArrayToObject(o, "waiting_rooms");
    for (size_t i = 0; a && i < m->n_rooms; i++) {
        cJSON *r = cJSON_CreateObject();
        if (r == NULL) break;
        cJSON_AddItemToArray(a, r);
        cJSON_AddStringToObject(r, "name", m->rooms[i]);
        cJSON_AddItemToObject(r, "players", players_of(m, m->rooms[i]));
    }
    a = cJSON_AddArrayToObject(o, "proxy_servers");
    for (size_t i = 0; a && i < m->n_entries; i++) {
        cJSON *r = cJSON_CreateObject();
        if (r == NULL) break;
        cJSON_AddItemToArray(a, r);
        cJSON_AddStringToObject(r, "name", m->entries[i].name);
        cJSON_AddStringToObject(r, "address", m->entries[i].address);
    }
    a = cJSON_AddArrayToObject(o, "syncs");
    for (size_t i = 0; a && i < m->n_syncs; i++) cJSON_AddItemToArray(a, snapshot_sync(m, &m->syncs[i]));
    if (faults) {
        cJSON_AddItemToObject(o, "faults", fault_to_json(faults));
        cJSON_AddNumberToObject(o, "faults_fired", (double)faults->fired_total);
    }
    cJSON_AddNumberToObject(o, "players_kicked", (double)m->kicked);
    cJSON_AddNumberToObject(o, "players_transferred", (double)m->transferred);
    return o;
}
