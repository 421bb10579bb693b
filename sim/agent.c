/* agent.c - the node agent of docs/DRIVERS.md for every simulated node: health,
 * containers, quiesce and world syncs, answered from the model. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "sim/sim.h"
#include "sim/snapshot.h"

/* The migration id of a call: the body's, else the Idempotency-Key header. */
static const char *migration_of(const sim_req_t *r) {
    const char *id = httpd_str(r, "migration_id");
    return id ? id : r->idem_key;
}

/* A size member in MB: -1 when absent (the server's own), -2 when invalid. */
static long long size_of(const sim_req_t *r, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->body, name);
    if (v == NULL || cJSON_IsNull(v)) return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12) return -2;
    return (long long)v->valuedouble;
}

static cJSON *state_body(const char *server_id, model_ct_state_t st) {
    cJSON *o = cJSON_CreateObject();
    if (server_id) cJSON_AddStringToObject(o, "server_id", server_id);
    cJSON_AddStringToObject(o, "state", model_ct_state_name(st));
    return o;
}

/* Logs the players a call dropped by taking their container away: a worker that stops a
 * server before moving its players loses them, and the log says so. */
static void log_dropped(const sim_t *s, const sim_req_t *r, long long before) {
    if (s->model.kicked <= before) return;
    char n[24];
    snprintf(n, sizeof n, "%lld", s->model.kicked - before);
    log_at(LOG_WARN, "sim.players_dropped", "node_id", s->model.nodes[r->node].id, "server_id", r->params[0],
           "players", n, "why", "their container stopped or was deleted", NULL);
}

/* GET /v1/health */
static void health(sim_t *s, sim_req_t *r) {
    const model_node_t *n = &s->model.nodes[r->node];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "healthy", n->healthy);
    cJSON_AddNumberToObject(o, "ram_free_mb", (double)model_ram_free(&s->model, r->node));
    cJSON_AddNumberToObject(o, "disk_free_mb", (double)model_disk_free(&s->model, r->node));
    httpd_reply(r, n->healthy ? 200 : 503, o);
}

/* POST /v1/containers */
static void container_create(sim_t *s, sim_req_t *r) {
    const char *server_id = httpd_str(r, "server_id");
    long long ram = size_of(r, "ram_mb"), disk = size_of(r, "disk_mb");
    if (server_id == NULL) {
        httpd_error(r, 400, "bad_request", "server_id: required");
        return;
    }
    if (ram == -2 || disk == -2) {
        httpd_error(r, 400, "bad_request", "ram_mb and disk_mb: numbers of MB >= 0");
        return;
    }
    bool created;
    int rv = model_create_container(&s->model, r->node, server_id, migration_of(r), ram, disk, &created);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    const model_container_t *c = model_container_of(&s->model, r->node, model_server_index(&s->model, server_id));
    httpd_reply(r, created ? 201 : 200, state_body(server_id, c->state));
}

/* GET /v1/containers/{server_id} */
static void container_get(sim_t *s, sim_req_t *r) {
    int server = model_server_index(&s->model, r->params[0]);
    const model_container_t *c = server >= 0 ? model_container_of(&s->model, r->node, server) : NULL;
    if (c == NULL) {
        httpd_error(r, 404, "not_found", "no container of server %s on node %s", r->params[0],
                    s->model.nodes[r->node].id);
        return;
    }
    httpd_reply(r, 200, snapshot_container(&s->model, c));
}

/* POST /v1/containers/{server_id}/start */
static void container_start(sim_t *s, sim_req_t *r) {
    model_ct_state_t st;
    int rv = model_start_container(&s->model, r->node, r->params[0], &st);
    if (rv != 0) httpd_model_error(r, &s->model, rv);
    else httpd_reply(r, st == CT_RUNNING ? 200 : 202, state_body(NULL, st));
}

/* POST /v1/containers/{server_id}/stop */
static void container_stop(sim_t *s, sim_req_t *r) {
    model_ct_state_t st;
    long long before = s->model.kicked;
    int rv = model_stop_container(&s->model, r->node, r->params[0], &st);
    log_dropped(s, r, before);
    if (rv != 0) httpd_model_error(r, &s->model, rv);
    else httpd_reply(r, st == CT_STOPPED ? 200 : 202, state_body(NULL, st));
}

/* DELETE /v1/containers/{server_id} */
static void container_delete(sim_t *s, sim_req_t *r) {
    long long before = s->model.kicked;
    int rv = model_delete_container(&s->model, r->node, r->params[0]);
    log_dropped(s, r, before);
    if (rv != 0) httpd_model_error(r, &s->model, rv);
    else httpd_reply(r, 204, NULL);
}

/* POST /v1/containers/{server_id}/quiesce */
static void container_quiesce(sim_t *s, sim_req_t *r) {
    const char *save = httpd_str(r, "save");
    if (save == NULL || (strcmp(save, "off") != 0 && strcmp(save, "on") != 0)) {
        httpd_error(r, 400, "bad_request", "save: \"off\" or \"on\"");
        return;
    }
    bool flushed;
    int rv = model_quiesce_container(&s->model, r->node, r->params[0], strcmp(save, "on") == 0, &flushed);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "flushed", flushed);
    cJSON_AddStringToObject(o, "save", save);
    httpd_reply(r, 200, o);
}

/* POST /v1/sync */
static void sync_begin(sim_t *s, sim_req_t *r) {
    const cJSON *pass = cJSON_GetObjectItemCaseSensitive(r->body, "pass");
    const cJSON *final = cJSON_GetObjectItemCaseSensitive(r->body, "final");
    if (httpd_str(r, "server_id") == NULL || httpd_str(r, "source_node_id") == NULL) {
        httpd_error(r, 400, "bad_request", "server_id and source_node_id: required");
        return;
    }
    if (pass && (!cJSON_IsNumber(pass) || pass->valuedouble != (double)pass->valueint)) {
        httpd_error(r, 400, "bad_request", "pass: an integer from 1");
        return;
    }
    if (final && !cJSON_IsBool(final)) {
        httpd_error(r, 400, "bad_request", "final: true or false");
        return;
    }
    model_sync_req_t q = {.server_id = httpd_str(r, "server_id"),
                          .migration_id = migration_of(r),
                          .source_node_id = httpd_str(r, "source_node_id"),
                          .pass = pass ? pass->valueint : 1,
                          .final = cJSON_IsTrue(final)};
    const model_sync_t *sy;
    bool created;
    int rv = model_begin_sync(&s->model, r->node, &q, &sy, &created);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sync_id", sy->id);
    httpd_reply(r, 202, o);
}

/* GET /v1/sync/{sync_id} */
static void sync_get(sim_t *s, sim_req_t *r) {
    const model_sync_t *sy = model_find_sync(&s->model, r->node, r->params[0]);
    if (sy == NULL) {
        httpd_error(r, 404, "not_found", "no sync %s on node %s", r->params[0], s->model.nodes[r->node].id);
        return;
    }
    httpd_reply(r, 200, snapshot_sync(&s->model, sy));
}

bool agent_handle(sim_t *s, sim_req_t *r) {
    static const struct {
        const char *method, *pattern;
        void (*fn)(sim_t *, sim_req_t *);
    } routes[] = {
        {"GET", "/v1/health", health},
        {"POST", "/v1/containers", container_create},
        {"GET", "/v1/containers/{server_id}", container_get},
        {"POST", "/v1/containers/{server_id}/start", container_start},
        {"POST", "/v1/containers/{server_id}/stop", container_stop},
        {"DELETE", "/v1/containers/{server_id}", container_delete},
        {"POST", "/v1/containers/{server_id}/quiesce", container_quiesce},
        {"POST", "/v1/sync", sync_begin},
        {"GET", "/v1/sync/{sync_id}", sync_get},
    };
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (httpd_route(r, routes[i].method, routes[i].pattern)) {
            routes[i].fn(s, r);
            return true;
        }
        if (path_match(routes[i].pattern, r->path, NULL, 0)) path_known = true;
    }
    if (path_known) {
        httpd_error(r, 405, "method_not_allowed", "%s is not allowed on %s", r->method, r->path);
        return true;
    }
    return false;
}
