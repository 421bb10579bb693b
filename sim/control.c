/* control.c - the simulator's control endpoints for tests and demos: fault injection,
 * node health, the platform's scaling keys, deterministic players, an optimizer pass on
 * demand, and the whole model (with the fencing tokens and the held calls) as JSON. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "sim/optimizer_run.h"
#include "sim/report.h"
#include "sim/sim.h"
#include "sim/snapshot.h"

#define FLUSH_MS 3000 /* how long a control call waits for the inventory to be written */

/* Waits until the inventory holds the change just made; a Redis outage does not fail
 * the call (the model changed; the reporter catches up), it is logged. */
static void flush_inventory(sim_t *s, const char *why) {
    int rv = report_flush(s, FLUSH_MS);
    if (rv != 0) log_at(LOG_WARN, "sim.inventory_stale", "after", why, "error", mig_strerror(rv), NULL);
}

/* A short-lived Redis connection for the rare control calls that write keys directly;
 * NULL after answering 503. */
static rconn_t *redis_or_reply(sim_t *s, sim_req_t *r) {
    char err[256];
    rconn_t *rc = rconn_new(&s->redis, err, sizeof err);
    if (rc == NULL) {
        httpd_error(r, 500, "internal", "%s", err);
        return NULL;
    }
    if (rconn_ensure(rc) != 0) {
        httpd_error(r, 503, "unavailable", "redis is unavailable: %s", rc->err);
        rconn_free(rc);
        return NULL;
    }
    return rc;
}

/* POST /control/faults */
static void faults_add(sim_t *s, sim_req_t *r) {
    fault_t f;
    char err[256];
    if (r->body == NULL || fault_parse(r->body, &f, err, sizeof err) != 0) {
        httpd_error(r, 400, "bad_request", "%s", r->body ? err : "a JSON body is required");
        return;
    }
    sim_enter(s);
    int rv = fault_add(&s->faults, &f);
    sim_leave(s);
    if (rv != 0) {
        httpd_error(r, 500, "internal", "out of memory");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", f.id);
    cJSON_AddStringToObject(o, "node_id", f.target);
    cJSON_AddStringToObject(o, "call", f.call);
    cJSON_AddStringToObject(o, "mode", fault_mode_name(f.mode));
    if (f.times < 0) cJSON_AddNullToObject(o, "times");
    else cJSON_AddNumberToObject(o, "times", f.times);
    cJSON_AddNumberToObject(o, "status", f.status);
    cJSON_AddNumberToObject(o, "delay_ms", f.delay_ms);
    log_at(LOG_INFO, "sim.fault_added", "node_id", f.target, "call", f.call, "mode", fault_mode_name(f.mode), NULL);
    httpd_reply(r, 201, o);
}

/* DELETE /control/faults: every rule gone, and every held call released */
static void faults_clear(sim_t *s, sim_req_t *r) {
    sim_enter(s);
    fault_clear(&s->faults);
    pthread_cond_broadcast(&s->faults_gone);
    sim_leave(s);
    httpd_reply(r, 204, NULL);
}

/* DELETE /control/faults/{id}: one rule gone, and the calls it holds released */
static void fault_delete(sim_t *s, sim_req_t *r) {
    char *end;
    long id = strtol(r->params[0], &end, 10);
    bool found = false;
    if (*end == '\0' && id > 0 && id <= INT_MAX) {
        sim_enter(s);
        found = fault_remove(&s->faults, (int)id);
        if (found) pthread_cond_broadcast(&s->faults_gone);
        sim_leave(s);
    }
    if (!found) {
        httpd_error(r, 404, "not_found", "no fault rule %s", r->params[0]);
        return;
    }
    log_at(LOG_INFO, "sim.fault_deleted", "fault_id", r->params[0], NULL);
    httpd_reply(r, 204, NULL);
}

/* The calls held by hold faults now: [{"fault_id":N,"node_id":"proxy","method":"POST",
 * "path":"/v1/waiting-rooms"}], newest first. With the lock held. */
static cJSON *held_json(const sim_t *s) {
    cJSON *a = cJSON_CreateArray();
    for (const sim_held_t *h = s->held; a && h; h = h->next) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) break;
        cJSON_AddItemToArray(a, o);
        cJSON_AddNumberToObject(o, "fault_id", h->fault_id);
        cJSON_AddStringToObject(o, "node_id", h->target);
        cJSON_AddStringToObject(o, "method", h->method);
        cJSON_AddStringToObject(o, "path", h->path);
    }
    return a;
}

/* POST /control/nodes/{node_id}: {"healthy":false} and/or {"eur_hour":0.12} */
static void node_set(sim_t *s, sim_req_t *r) {
    const cJSON *healthy = cJSON_GetObjectItemCaseSensitive(r->body, "healthy");
    const cJSON *price = cJSON_GetObjectItemCaseSensitive(r->body, "eur_hour");
    if ((healthy && !cJSON_IsBool(healthy)) || (price && (!cJSON_IsNumber(price) || price->valuedouble < 0)) ||
        (healthy == NULL && price == NULL)) {
        httpd_error(r, 400, "bad_request", "healthy (true or false) and/or eur_hour (>= 0) required");
        return;
    }
    sim_enter(s);
    int node = model_node_index(&s->model, r->params[0]);
    if (node >= 0) {
        if (healthy) model_set_health(&s->model, node, cJSON_IsTrue(healthy));
        if (price) s->model.nodes[node].eur_hour = price->valuedouble;
    }
    sim_leave(s);
    if (node < 0) {
        httpd_error(r, 404, "not_found", "no node %s", r->params[0]);
        return;
    }
    flush_inventory(s, "node change");
    sim_enter(s);
    cJSON *snap = snapshot_model(&s->model, NULL);
    sim_leave(s);
    cJSON *nodes = cJSON_DetachItemFromObjectCaseSensitive(snap, "nodes");
    cJSON_Delete(snap);
    httpd_reply(r, 200, cJSON_DetachItemFromArray(nodes, node));
    cJSON_Delete(nodes);
}

/* POST /control/scaling: {"active":true, "queue":["s7","s8"]} */
static void scaling_set(sim_t *s, sim_req_t *r) {
    const cJSON *active = cJSON_GetObjectItemCaseSensitive(r->body, "active");
    const cJSON *queue = cJSON_GetObjectItemCaseSensitive(r->body, "queue");
    if (!cJSON_IsBool(active) || (queue && !cJSON_IsArray(queue))) {
        httpd_error(r, 400, "bad_request", "active: true or false; queue: an array of server ids");
        return;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, queue) {
        if (!cJSON_IsString(e)) {
            httpd_error(r, 400, "bad_request", "queue: an array of server ids");
            return;
        }
    }
    rconn_t *rc = redis_or_reply(s, r);
    if (rc == NULL) return;
    char kscale[RCONN_PREFIX_MAX + 32], kqueue[RCONN_PREFIX_MAX + 32];
    rconn_key(rc, "platform:scaling", kscale, sizeof kscale);
    rconn_key(rc, "platform:queue", kqueue, sizeof kqueue);
    int code = 0;
    const char *set[] = {"SET", kscale, "1"}, *del[] = {"DEL", kscale};
    redisReply *rep = cJSON_IsTrue(active) ? rconn_command(rc, 3, set, NULL, &code)
                                           : rconn_command(rc, 2, del, NULL, &code);
    bool ok = rep != NULL;
    if (rep) freeReplyObject(rep);
    long long queued = -1;
    if (ok && queue) {
        const char *delq[] = {"DEL", kqueue};
        rep = rconn_command(rc, 2, delq, NULL, &code);
        ok = rep != NULL;
        if (rep) freeReplyObject(rep);
        queued = 0;
        cJSON_ArrayForEach(e, queue) {
            if (!ok) break;
            const char *push[] = {"RPUSH", kqueue, e->valuestring};
            rep = rconn_command(rc, 3, push, NULL, &code);
            ok = rep != NULL;
            if (rep) {
                queued = rep->integer;
                freeReplyObject(rep);
            }
        }
    }
    if (!ok) {
        httpd_error(r, 503, "unavailable", "redis: %s", rc->err);
        rconn_free(rc);
        return;
    }
    rconn_free(rc);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "active", cJSON_IsTrue(active));
    if (queued >= 0) cJSON_AddNumberToObject(o, "queue", (double)queued);
    log_at(LOG_INFO, "sim.scaling", "active", cJSON_IsTrue(active) ? "true" : "false", NULL);
    httpd_reply(r, 200, o);
}

/* POST /control/players: {"server_id":"s1","count":3,"churn":false} */
static void players_set(sim_t *s, sim_req_t *r) {
    const char *sid = httpd_str(r, "server_id");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(r->body, "count");
    const cJSON *churn = cJSON_GetObjectItemCaseSensitive(r->body, "churn");
    if (sid == NULL || !cJSON_IsNumber(count) || count->valuedouble != (double)count->valueint ||
        (churn && !cJSON_IsBool(churn))) {
        httpd_error(r, 400, "bad_request", "server_id, count (an integer >= 0) required; churn: true or false");
        return;
    }
    sim_enter(s);
    int server = model_server_index(&s->model, sid);
    int rv = server < 0 ? MIG_ENO_SERVER : players_set_count(&s->model, server, count->valueint, cJSON_IsTrue(churn));
    if (rv == 0) players_refresh_idle(&s->model);
    if (rv != 0 && server < 0) httpd_error(r, 404, "unknown_server", "no server %s", sid);
    else if (rv != 0) httpd_model_error(r, &s->model, rv);
    sim_leave(s);
    if (rv != 0) return;
    flush_inventory(s, "players change");
    sim_enter(s);
    cJSON *snap = snapshot_model(&s->model, NULL);
    sim_leave(s);
    cJSON *servers = cJSON_DetachItemFromObjectCaseSensitive(snap, "servers");
    cJSON_Delete(snap);
    httpd_reply(r, 200, cJSON_DetachItemFromArray(servers, server));
    cJSON_Delete(servers);
}

/* POST /control/optimize: {"level":1} runs one optimizer pass now */
static void optimize(sim_t *s, sim_req_t *r) {
    int level = (int)httpd_num(r, "level", s->cost_level);
    if (level < 1 || level > 2) {
        httpd_error(r, 400, "bad_request", "level: 1 or 2 (MIG_COST_LEVEL is %d)", s->cost_level);
        return;
    }
    flush_inventory(s, "optimizer pass");
    rconn_t *rc = redis_or_reply(s, r);
    if (rc == NULL) return;
    int created;
    int rv = optimizer_run_pass(s, rc, level, &created);
    if (rv != 0) {
        httpd_error(r, 503, "unavailable", "optimizer pass failed: %s", rc->err);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "created", created);
        cJSON_AddNumberToObject(o, "level", level);
        httpd_reply(r, 200, o);
    }
    rconn_free(rc);
}

/* GET /control/state */
static void state_get(sim_t *s, sim_req_t *r) {
    sim_enter(s);
    cJSON *o = snapshot_model(&s->model, &s->faults);
    if (o) {
        cJSON_AddItemToObject(o, "held", held_json(s));
        cJSON_AddItemToObject(o, "fencing", fence_to_json(&s->fence));
    }
    sim_leave(s);
    if (o) {
        cJSON_AddNumberToObject(o, "speed", s->speed);
        cJSON_AddNumberToObject(o, "cost_level", s->cost_level);
    }
    httpd_reply(r, o ? 200 : 500, o);
}

/* POST /control/report: waits until the inventory in Redis holds the model's present */
static void report_now(sim_t *s, sim_req_t *r) {
    int rv = report_flush(s, FLUSH_MS);
    if (rv != 0) httpd_error(r, 503, "unavailable", "inventory not written: %s", mig_strerror(rv));
    else httpd_reply(r, 204, NULL);
}

bool control_handle(sim_t *s, sim_req_t *r) {
    static const struct {
        const char *method, *pattern;
        bool body; /* needs a JSON body */
        void (*fn)(sim_t *, sim_req_t *);
    } routes[] = {
        {"POST", "/faults", true, faults_add},       {"DELETE", "/faults", false, faults_clear},
        {"DELETE", "/faults/{id}", false, fault_delete},
        {"POST", "/nodes/{node_id}", true, node_set}, {"POST", "/scaling", true, scaling_set},
        {"POST", "/players", true, players_set},     {"POST", "/optimize", false, optimize},
        {"GET", "/state", false, state_get},         {"POST", "/report", false, report_now},
    };
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (httpd_route(r, routes[i].method, routes[i].pattern)) {
            if (routes[i].body && r->body == NULL) httpd_error(r, 400, "bad_request", "a JSON body is required");
            else routes[i].fn(s, r);
            return true;
        }
        if (path_match(routes[i].pattern, r->path, NULL, 0)) path_known = true;
    }
    if (path_known) {
        httpd_error(r, 405, "method_not_allowed", "%s is not allowed on /control%s", r->method, r->path);
        return true;
    }
    return false;
}
