/* proxy.c - the proxy bridge of docs/DRIVERS.md: players per server, waiting rooms,
 * transfers and server addresses, answered from the model. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "sim/sim.h"

/* GET /v1/servers/{name}/players */
static void players_get(sim_t *s, sim_req_t *r) {
    const model_t *m = &s->model;
    const char *name = r->params[0];
    if (players_entry_index(m, name) < 0 && !players_is_room(m, name)) {
        httpd_error(r, 404, "not_found", "no server or waiting room %s", name);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "players");
    for (size_t i = 0; i < m->n_players; i++)
        if (strcmp(m->players[i].where, name) == 0) cJSON_AddItemToArray(a, cJSON_CreateString(m->players[i].name));
    httpd_reply(r, 200, o);
}

/* GET /v1/servers: every server name and its address (beyond the contract, for people) */
static void servers_list(sim_t *s, sim_req_t *r) {
    const model_t *m = &s->model;
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "servers");
    for (size_t i = 0; i < m->n_entries; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", m->entries[i].name);
        cJSON_AddStringToObject(e, "address", m->entries[i].address);
        cJSON_AddNumberToObject(e, "players", players_count(m, m->entries[i].name));
        cJSON_AddItemToArray(a, e);
    }
    httpd_reply(r, 200, o);
}

/* POST /v1/waiting-rooms */
static void room_create(sim_t *s, sim_req_t *r) {
    const char *name = httpd_str(r, "name");
    bool created;
    int rv = players_create_room(&s->model, name, &created);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    httpd_reply(r, created ? 201 : 200, o);
}

/* DELETE /v1/waiting-rooms/{name} */
static void room_delete(sim_t *s, sim_req_t *r) {
    long long before = s->model.kicked;
    int rv = players_delete_room(&s->model, r->params[0]);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    if (s->model.kicked > before) {
        char n[24];
        snprintf(n, sizeof n, "%lld", s->model.kicked - before);
        log_at(LOG_WARN, "sim.players_dropped", "room", r->params[0], "players", n, "why",
               "waiting room deleted with players in it", NULL);
    }
    httpd_reply(r, 204, NULL);
}

/* POST /v1/transfers */
static void transfer(sim_t *s, sim_req_t *r) {
    const char *from = httpd_str(r, "from"), *to = httpd_str(r, "to");
    const model_transfer_t *t;
    int rv = players_transfer(&s->model, r->idem_key, from, to, &t);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "moved");
    for (const char *p = t->moved; *p;) {
        size_t len = strcspn(p, "\n");
        char name[MODEL_PLAYER_MAX];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        cJSON_AddItemToArray(a, cJSON_CreateString(name));
        p += len;
        if (*p == '\n') p++;
    }
    if (log_enabled(LOG_DEBUG)) {
        char n[16];
        snprintf(n, sizeof n, "%d", t->count);
        log_at(LOG_DEBUG, "sim.transfer", "from", from, "to", to, "players", n, "message", httpd_str(r, "message"),
               NULL);
    }
    httpd_reply(r, 200, o);
}

/* PUT /v1/servers/{name} */
static void server_register(sim_t *s, sim_req_t *r) {
    const char *address = httpd_str(r, "address");
    int rv = players_register(&s->model, r->params[0], address);
    if (rv != 0) {
        httpd_model_error(r, &s->model, rv);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->params[0]);
    cJSON_AddStringToObject(o, "address", address);
    httpd_reply(r, 200, o);
}

bool proxy_handle(sim_t *s, sim_req_t *r) {
    static const struct {
        const char *method, *pattern;
        void (*fn)(sim_t *, sim_req_t *);
    } routes[] = {
        {"GET", "/v1/servers/{name}/players", players_get},
        {"GET", "/v1/servers", servers_list},
        {"PUT", "/v1/servers/{name}", server_register},
        {"POST", "/v1/waiting-rooms", room_create},
        {"DELETE", "/v1/waiting-rooms/{name}", room_delete},
        {"POST", "/v1/transfers", transfer},
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
