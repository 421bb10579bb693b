/* routes_inventory.c - nodes and servers for the dashboard and the platform, and the
 * health endpoints. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/err.h"
#include "core/log.h"
#include "core/lualib.h"
#include "core/migration.h"
#include "core/store.h"

/* GET /api/nodes */
static void h_nodes(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    node_t *v;
    size_t n;
    int rv = store_list_nodes(rc, &v, &n);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(items, inventory_node_to_json(&v[i]));
    cJSON_AddNumberToObject(o, "total", (double)n);
    store_nodes_free(v, n);
    http_reply_json(r, 200, o);
}

/* GET /api/servers */
static void h_servers(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    server_t *v;
    size_t n;
    int rv = store_list_servers(rc, &v, &n);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(items, inventory_server_to_json(&v[i]));
    cJSON_AddNumberToObject(o, "total", (double)n);
    store_servers_free(v, n);
    http_reply_json(r, 200, o);
}

#define PUT_FIELDS_MAX 16

/* Turns a flat JSON object into field/value strings for node_put / server_put: strings
 * as they are, numbers as decimals, booleans as 1/0. The function library checks the
 * names and ranges. Returns the number of pairs, or -1 after answering 400. */
static int pairs_or_reply(http_req_t *r, const cJSON *body, const char **pairs, char num[][32]) {
    int n = 0;
    for (const cJSON *f = body->child; f; f = f->next) {
        if (n == PUT_FIELDS_MAX) {
            http_reply_error(r, 400, "bad_request", "more than %d fields", PUT_FIELDS_MAX);
            return -1;
        }
        pairs[2 * n] = f->string;
        if (cJSON_IsString(f)) {
            pairs[2 * n + 1] = f->valuestring;
        } else if (cJSON_IsBool(f)) {
            pairs[2 * n + 1] = cJSON_IsTrue(f) ? "1" : "0";
        } else if (cJSON_IsNumber(f) && isfinite(f->valuedouble)) {
            snprintf(num[n], 32, "%.15g", f->valuedouble);
            pairs[2 * n + 1] = num[n];
        } else {
            http_reply_error(r, 400, "bad_request", "%s: must be a string, a number or a boolean", f->string);
            return -1;
        }
        n++;
    }
    return n;
}

static void put(http_req_t *r, int (*fn)(rconn_t *, const char *, const char *const *, size_t), const char *what) {
    if (!http_role_or_reply(r, ROLE_OPTIMIZER)) return;
    if (http_id_or_reply(r, what) == NULL) return;
    cJSON *body = http_body_or_reply(r);
    if (body == NULL) return;
    const char *pairs[2 * PUT_FIELDS_MAX];
    char num[PUT_FIELDS_MAX][32];
    int n = pairs_or_reply(r, body, pairs, num);
    rconn_t *rc = n < 0 ? NULL : http_redis_or_reply(r);
    if (rc != NULL) {
        int rv = fn(rc, r->params[0], pairs, (size_t)n);
        if (rv != 0) {
            http_reply_store_error(r, rv, rc);
        } else {
            cJSON *o = cJSON_Duplicate(body, 1);
            cJSON_AddStringToObject(o, "id", r->params[0]);
            http_reply_json(r, 200, o);
        }
    }
    cJSON_Delete(body);
}

/* PUT /api/nodes/:id */
static void h_put_node(http_req_t *r) {
    put(r, store_put_node, "node");
}

/* PUT /api/servers/:id */
static void h_put_server(http_req_t *r) {
    put(r, store_put_server, "server");
}

/* DELETE /api/servers/:id */
static void h_delete_server(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_OPTIMIZER)) return;
    if (http_id_or_reply(r, "server") == NULL) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    long long deleted = 0;
    int rv = store_delete_server(rc, r->params[0], &deleted);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        return;
    }
    char n[24];
    snprintf(n, sizeof n, "%lld", deleted);
    log_at(LOG_INFO, "server.deleted", "server_id", r->params[0], "migrations_deleted", n, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->params[0]);
    cJSON_AddNumberToObject(o, "migrations_deleted", (double)deleted);
    http_reply_json(r, 200, o);
}

/* GET /healthz - the process is alive and serving. */
static void h_healthz(http_req_t *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    http_reply_json(r, 200, o);
}

/* GET /readyz - Redis answers and holds this binary's function library. */
static void h_readyz(http_req_t *r) {
    if (r->api->protect_metrics && !http_role_or_reply(r, ROLE_VIEWER)) return;
    char err[256];
    rconn_t *rc = http_thread_redis(r->api, err, sizeof err);
    int rv = rc == NULL ? MIG_ENOMEM : rconn_ensure(rc);
    if (rv == 0) rv = rconn_load_library(rc);
    if (rv != 0) {
        http_reply_error(r, 503, "unavailable", "not ready: %s", rc ? rc->err : err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ready");
    cJSON_AddStringToObject(o, "library", lualib_version());
    http_reply_json(r, 200, o);
}

const http_route_t routes_inventory[] = {
    {"GET", "/api/nodes", h_nodes},
    {"PUT", "/api/nodes/:id", h_put_node},
    {"GET", "/api/servers", h_servers},
    {"PUT", "/api/servers/:id", h_put_server},
    {"DELETE", "/api/servers/:id", h_delete_server},
    {"GET", "/healthz", h_healthz},
    {"GET", "/readyz", h_readyz},
    {"GET", "/metrics", metrics_handle},
};
const size_t routes_inventory_count = sizeof routes_inventory / sizeof routes_inventory[0];
