/* fleet.c - the starting fleet of a simulation: generated or described. */
#include "sim/fleet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "sim/rng.h"

/* Choices of the generator: node sizes in MB, server sizes in MB. */
static const long long NODE_RAM_MB[] = {32768, 65536, 98304, 131072};
static const long long SERVER_RAM_MB[] = {1024, 2048, 3072, 4096, 6144, 8192};

/* Adds `server` on the first node from a random start that has room for it; false when
 * none has. */
static bool place(model_t *m, model_server_t *s, uint64_t *rng) {
    size_t start = (size_t)rng_range(rng, 0, (long long)m->n_nodes - 1);
    for (size_t k = 0; k < m->n_nodes; k++) {
        int node = (int)((start + k) % m->n_nodes);
        if (model_ram_free(m, node) >= s->ram_mb && model_disk_free(m, node) >= s->disk_mb) {
            s->node = node;
            return true;
        }
    }
    return false;
}

int fleet_generate(model_t *m, int nodes, int servers, uint64_t seed, char *err, size_t errlen) {
    uint64_t rng = seed ^ 0x5EEDF1EE7ULL;
    if (nodes < 1) {
        snprintf(err, errlen, "MIG_SIM_NODES: at least one node");
        return MIG_EINVALID;
    }
    for (int i = 1; i <= nodes; i++) {
        model_node_t n = {.healthy = true};
        snprintf(n.id, sizeof n.id, "n%d", i);
        snprintf(n.name, sizeof n.name, "Node-%d", i);
        snprintf(n.address, sizeof n.address, "10.0.%d.%d", (i - 1) / 250, (i - 1) % 250 + 1);
        /* prices in steps of 6 cents, a few cents of jitter, so most nodes differ */
        n.eur_hour = round((0.06 + 0.06 * (double)rng_range(&rng, 0, 6) + 0.01 * (double)rng_range(&rng, 0, 3)) *
                           100.0) / 100.0;
        n.ram_total_mb = NODE_RAM_MB[rng_range(&rng, 0, 3)];
        n.disk_total_mb = 1024LL * rng_range(&rng, 250, 1000);
        int rv = model_add_node(m, &n);
        if (rv != 0) {
            snprintf(err, errlen, "%s", m->err);
            return rv;
        }
    }
    for (int i = 1; i <= servers; i++) {
        model_server_t s = {.idle_since = -1};
        snprintf(s.id, sizeof s.id, "s%d", i);
        snprintf(s.name, sizeof s.name, "Server-%d", i);
        s.ram_mb = SERVER_RAM_MB[rng_range(&rng, 0, 5)];
        s.disk_mb = 1024LL * rng_range(&rng, 1, 20);
        s.write_mb_s = (double)rng_range(&rng, 1, 40) / 10.0;
        s.mean_players = rng_range(&rng, 0, 2) == 0 ? 0 : (double)rng_range(&rng, 1, 12);
        if (!place(m, &s, &rng)) {
            snprintf(err, errlen, "MIG_SIM_SERVERS: server %d of %d does not fit on %d nodes", i, servers, nodes);
            return MIG_EINVALID;
        }
        int rv = model_add_server(m, &s, true);
        int players = (int)round(s.mean_players * rng_unit(&rng));
        const model_container_t *c = rv == 0 ? model_container_of(m, s.node, (int)m->n_servers - 1) : NULL;
        for (int p = 0; rv == 0 && c && p < players; p++) rv = players_join(m, s.name, c->id, NULL);
        if (rv != 0) {
            snprintf(err, errlen, "%s", m->err);
            return rv;
        }
    }
    players_refresh_idle(m);
    return 0;
}

/* ------------------------------------------------------------------------ JSON */

/* Copies a string member into `out`: 1 when present, 0 when absent (out untouched), -1
 * when not a usable string. */
static int str_member(const cJSON *o, const char *name, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= cap) return -1;
    snprintf(out, cap, "%s", v->valuestring);
    return 1;
}

/* A number member >= 0: 1 present, 0 absent, -1 not a number >= 0. */
static int num_member(const cJSON *o, const char *name, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) return -1;
    *out = v->valuedouble;
    return 1;
}

static int bool_member(const cJSON *o, const char *name, bool def, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) return -1;
    *out = cJSON_IsTrue(v);
    return 1;
}

static int parse_node(model_t *m, const cJSON *o, int i, char *err, size_t errlen) {
    model_node_t n = {0};
    double price = -1, ram = -1, disk = -1;
    if (!cJSON_IsObject(o) || str_member(o, "id", n.id, sizeof n.id) != 1) {
        snprintf(err, errlen, "nodes[%d].id: required string", i);
        return MIG_EINVALID;
    }
    snprintf(n.name, sizeof n.name, "%s", n.id);
    snprintf(n.address, sizeof n.address, "10.0.0.%d", i + 1);
    const char *bad = NULL;
    if (str_member(o, "name", n.name, sizeof n.name) < 0) bad = "name";
    else if (str_member(o, "address", n.address, sizeof n.address) < 0) bad = "address";
    else if (num_member(o, "eur_hour", &price) != 1) bad = "eur_hour";
    else if (num_member(o, "ram_total_mb", &ram) != 1) bad = "ram_total_mb";
    else if (num_member(o, "disk_total_mb", &disk) != 1) bad = "disk_total_mb";
    else if (bool_member(o, "healthy", true, &n.healthy) < 0) bad = "healthy";
    if (bad) {
        snprintf(err, errlen, "nodes[%d] (%s).%s: missing or invalid", i, n.id, bad);
        return MIG_EINVALID;
    }
    n.eur_hour = price;
    n.ram_total_mb = (long long)ram;
    n.disk_total_mb = (long long)disk;
    int rv = model_add_node(m, &n);
    if (rv != 0) snprintf(err, errlen, "nodes[%d]: %s", i, m->err);
    return rv;
}

/* The server's starting players: a count, or an array of names. */
static int parse_players(model_t *m, const cJSON *o, const model_server_t *s, int i, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "players");
    if (v == NULL || cJSON_IsNull(v)) return 0;
    const model_container_t *c = model_container_of(m, s->node, (int)m->n_servers - 1);
    int count = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : cJSON_IsNumber(v) ? v->valueint : -1;
    if (count < 0 || count > 100000 || (count > 0 && c == NULL)) {
        snprintf(err, errlen, "servers[%d] (%s).players: a count or an array of names, on a running server", i,
                 s->id);
        return MIG_EINVALID;
    }
    for (int p = 0; p < count; p++) {
        const char *name = NULL;
        if (cJSON_IsArray(v)) {
            const cJSON *e = cJSON_GetArrayItem(v, p);
            if (!cJSON_IsString(e) || e->valuestring[0] == '\0' || strlen(e->valuestring) >= MODEL_PLAYER_MAX) {
                snprintf(err, errlen, "servers[%d] (%s).players[%d]: a name of 1 to %d bytes", i, s->id, p,
                         MODEL_PLAYER_MAX - 1);
                return MIG_EINVALID;
            }
            name = e->valuestring;
        }
        int rv = players_join(m, s->name, c->id, name);
        if (rv != 0) return rv;
    }
    return 0;
}

static int parse_server(model_t *m, const cJSON *o, int i, char *err, size_t errlen) {
    model_server_t s = {.idle_since = -1};
    char node_id[MODEL_ID_MAX] = "";
    double ram = -1, disk = -1;
    bool running = true;
    if (!cJSON_IsObject(o) || str_member(o, "id", s.id, sizeof s.id) != 1) {
        snprintf(err, errlen, "servers[%d].id: required string", i);
        return MIG_EINVALID;
    }
    snprintf(s.name, sizeof s.name, "%s", s.id);
    const char *bad = NULL;
    if (str_member(o, "name", s.name, sizeof s.name) < 0) bad = "name";
    else if (str_member(o, "node_id", node_id, sizeof node_id) != 1 || (s.node = model_node_index(m, node_id)) < 0)
        bad = "node_id";
    else if (num_member(o, "ram_mb", &ram) != 1) bad = "ram_mb";
    else if (num_member(o, "disk_mb", &disk) != 1) bad = "disk_mb";
    else if (num_member(o, "write_mb_s", &s.write_mb_s) < 0) bad = "write_mb_s";
    else if (num_member(o, "mean_players", &s.mean_players) < 0) bad = "mean_players";
    else if (bool_member(o, "running", true, &running) < 0) bad = "running";
    if (bad) {
        snprintf(err, errlen, "servers[%d] (%s).%s: missing or invalid", i, s.id, bad);
        return MIG_EINVALID;
    }
    s.ram_mb = (long long)ram;
    s.disk_mb = (long long)disk;
    int rv = model_add_server(m, &s, running);
    if (rv != 0) {
        snprintf(err, errlen, "servers[%d]: %s", i, m->err);
        return rv == MIG_ENOMEM ? rv : MIG_EINVALID;
    }
    return parse_players(m, o, &s, i, err, errlen);
}

int fleet_parse(model_t *m, const char *json, char *err, size_t errlen) {
    cJSON *root = cJSON_Parse(json);
    int rv = MIG_EINVALID;
    if (root == NULL || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "the fleet is not a JSON object");
        goto out;
    }
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    const cJSON *servers = cJSON_GetObjectItemCaseSensitive(root, "servers");
    if (!cJSON_IsArray(nodes) || cJSON_GetArraySize(nodes) == 0) {
        snprintf(err, errlen, "nodes: a non-empty array is required");
        goto out;
    }
    if (servers && !cJSON_IsArray(servers)) {
        snprintf(err, errlen, "servers: must be an array");
        goto out;
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, nodes) {
        if ((rv = parse_node(m, e, i++, err, errlen)) != 0) goto out;
    }
    i = 0;
    cJSON_ArrayForEach(e, servers) {
        if ((rv = parse_server(m, e, i++, err, errlen)) != 0) goto out;
    }
    players_refresh_idle(m);
    rv = 0;
out:
    cJSON_Delete(root);
    return rv;
}
