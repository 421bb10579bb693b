/* routes_migrations.c - the seed's migration endpoints: list, read, create, approve,
 * schedule, cancel, delete, a server's migrations and its active one, and the stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/query.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store.h"

/* Bytes reserved per record of a page: a record's JSON is 700 to 1,000 bytes (a page of
 * 50 is 46 KB in bench/list); more only costs one realloc. */
#define PAGE_BYTES_PER_ITEM 1024

/* store_list_each's fn: one more record of the page's "items", written as JSON text
 * straight from its pairs (a cJSON tree of the page, and then a migration_t per record,
 * were most of the API's CPU per page: bench/RESULTS.md, list). */
static int write_item(void *arg, const char *const *pairs, size_t n) {
    jsonw_t *w = arg;
    if (w->len > sizeof "{\"items\":[" - 1) jsonw_lit(w, ",");
    return migration_write_json_pairs(pairs, n, w);
}

/* Lists with `qs` (and a forced server_id when given); answers the page as
 * {"items":[...],"total":N,"limit":L,"offset":O,"next_cursor":C}, or the error. "total"
 * is null when the query did not count its matches (two or more filters on indexes past
 * the bound of STORE_LIST_EXAMINE_MAX), and "next_cursor" null when no match follows. */
static void list(http_req_t *r, const char *server_id) {
    store_query_t q;
    query_list_buf_t buf;
    char err[512];
    if (query_parse_list(r->ri->query_string, &q, &buf, err, sizeof err) != 0) {
        http_reply_error(r, 400, "bad_request", "%s", err);
        return;
    }
    if (server_id) q.server_id = server_id;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    jsonw_t w;
    jsonw_init(&w, HTTP_HEAD_GAP);
    jsonw_reserve(&w, (size_t)(q.limit + 1) * PAGE_BYTES_PER_ITEM);
    jsonw_lit(&w, "{\"items\":[");
    store_list_info_t info;
    int rv = store_list_each(rc, &q, buf.cursor, &info, write_item, &w);
    if (rv != 0) {
        jsonw_free(&w);
        http_reply_store_error(r, rv, rc);
        return;
    }
    jsonw_lit(&w, "],\"total\":");
    if (info.total < 0) jsonw_lit(&w, "null");
    else jsonw_num(&w, (double)info.total);
    jsonw_lit(&w, ",\"limit\":");
    jsonw_num(&w, (double)q.limit);
    jsonw_lit(&w, ",\"offset\":");
    jsonw_num(&w, (double)q.offset);
    jsonw_lit(&w, ",\"next_cursor\":");
    if (info.next_cursor[0]) jsonw_str(&w, info.next_cursor);
    else jsonw_lit(&w, "null");
    jsonw_lit(&w, "}");
    http_reply_text(r, 200, &w);
}

/* GET /api/migrations */
static void h_list(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    list(r, NULL);
}

/* GET /api/migrations/:id */
static void h_get(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    if (http_id_or_reply(r, "migration") == NULL) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    migration_t m;
    migration_init(&m);
    int rv = store_get_migration(rc, r->params[0], &m);
    if (rv != 0) http_reply_store_error(r, rv, rc);
    else http_reply_json(r, 200, migration_to_json(&m));
    migration_clear(&m);
}

/* POST /api/migrations */
static void h_create(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_OPTIMIZER)) return;
    cJSON *body = http_body_or_reply(r);
    if (body == NULL) return;
    migration_create_t c;
    char err[512];
    if (query_parse_create(body, r->role, &c, err, sizeof err) != 0) {
        http_reply_error(r, 400, "bad_request", "%s", err);
        cJSON_Delete(body);
        return;
    }
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) {
        cJSON_Delete(body);
        return;
    }
    migration_t m;
    migration_init(&m);
    int rv = store_create_migration(rc, &c, &m);
    cJSON_Delete(body);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        migration_clear(&m);
        return;
    }
    log_at(LOG_INFO, "migration.created", "migration_id", m.id, "server_id", m.server_id, "status",
           states_name(m.status), "role", auth_role_name(r->role), NULL);
    char *text = NULL;
    cJSON *j = migration_to_json(&m);
    if (j) text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (text == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
    } else {
        size_t len = strlen(text);
        mg_printf(r->conn,
                  "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Location: /api/migrations/%s\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n",
                  len, m.id);
        mg_write(r->conn, text, len);
        r->status = 201;
        free(text);
    }
    migration_clear(&m);
}

/* One state change by id: approve or cancel. */
static void change(http_req_t *r, int (*fn)(rconn_t *, const char *, migration_t *), const char *event) {
    if (!http_role_or_reply(r, ROLE_OPERATOR)) return;
    if (http_id_or_reply(r, "migration") == NULL) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    migration_t m;
    migration_init(&m);
    int rv = fn(rc, r->params[0], &m);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
    } else {
        log_at(LOG_INFO, event, "migration_id", m.id, "server_id", m.server_id, NULL);
        http_reply_json(r, 200, migration_to_json(&m));
    }
    migration_clear(&m);
}

/* The optional body of approve and schedule, {"not_before": "<RFC 3339>"}, into *nb
 * (Unix ms, 0 for none). A request without a body and without a Content-Type sets none.
 * Returns false when it has answered the error (400 naming the field, 413, 415). */
static bool start_time_or_reply(http_req_t *r, int64_t *nb) {
    *nb = 0;
    if (r->ri->content_length <= 0 && mg_get_header(r->conn, "Content-Type") == NULL) return true;
    cJSON *body = http_body_or_reply(r);
    if (body == NULL) return false;
    char err[256];
    int rv = query_parse_start(body, nb, err, sizeof err);
    cJSON_Delete(body);
    if (rv != 0) http_reply_error(r, 400, "bad_request", "%s", err);
    return rv == 0;
}

/* A state change by id that takes the operator's start time: approve or schedule. */
static void change_at(http_req_t *r, int (*fn)(rconn_t *, const char *, int64_t, migration_t *), const char *event) {
    if (!http_role_or_reply(r, ROLE_OPERATOR)) return;
    if (http_id_or_reply(r, "migration") == NULL) return;
    int64_t nb;
    if (!start_time_or_reply(r, &nb)) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    migration_t m;
    migration_init(&m);
    int rv = fn(rc, r->params[0], nb, &m);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
    } else {
        log_at(LOG_INFO, event, "migration_id", m.id, "server_id", m.server_id, NULL);
        http_reply_json(r, 200, migration_to_json(&m));
    }
    migration_clear(&m);
}

/* POST /api/migrations/:id/approve */
static void h_approve(http_req_t *r) {
    change_at(r, store_approve_migration_at, "migration.approved");
}

/* POST /api/migrations/:id/schedule */
static void h_schedule(http_req_t *r) {
    change_at(r, store_schedule_migration, "migration.scheduled");
}

/* POST /api/migrations/:id/cancel */
static void h_cancel(http_req_t *r) {
    change(r, store_cancel_migration, "migration.cancelled");
}

/* DELETE /api/migrations/:id */
static void h_delete(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_OPERATOR)) return;
    if (http_id_or_reply(r, "migration") == NULL) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    int rv = store_delete_migration(rc, r->params[0]);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        return;
    }
    log_at(LOG_INFO, "migration.deleted", "migration_id", r->params[0], NULL);
    mg_printf(r->conn, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
    r->status = 204;
}

/* The server of the path must exist: answers 404 otherwise. */
static bool server_exists_or_reply(http_req_t *r, rconn_t *rc) {
    if (http_id_or_reply(r, "server") == NULL) return false;
    int rv = store_get_server(rc, r->params[0], NULL);
    if (rv != 0) http_reply_store_error(r, rv, rc);
    return rv == 0;
}

/* GET /api/servers/:id/migrations */
static void h_server_list(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL || !server_exists_or_reply(r, rc)) return;
    list(r, r->params[0]);
}

/* GET /api/servers/:id/migrations/active */
static void h_server_active(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    if (http_id_or_reply(r, "server") == NULL) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    migration_t m;
    migration_init(&m);
    int rv = store_get_active_migration(rc, r->params[0], &m);
    if (rv == MIG_EEMPTY)
        http_reply_error(r, 404, "not_found", "server %s has no active migration", r->params[0]);
    else if (rv != 0)
        http_reply_store_error(r, rv, rc);
    else
        http_reply_json(r, 200, migration_to_json(&m));
    migration_clear(&m);
}

/* The stats as JSON: counts by status, totals, success rate, average duration, savings,
 * failures by reason, queue depths. */
static cJSON *stats_json(const store_stats_t *st) {
    cJSON *o = cJSON_CreateObject();
    cJSON *by = cJSON_AddObjectToObject(o, "by_status");
    long long total = 0;
    for (int s = 0; s < MIG_STATUS_COUNT; s++) {
        cJSON_AddNumberToObject(by, states_name((mig_status_t)s), (double)st->by_status[s]);
        total += st->by_status[s];
    }
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "created_total", (double)st->created_total);
    cJSON_AddNumberToObject(o, "completed_total", (double)st->completed_total);
    cJSON_AddNumberToObject(o, "failed_total", (double)st->failed_total);
    cJSON_AddNumberToObject(o, "cancelled_total", (double)st->cancelled_total);
    cJSON_AddNumberToObject(o, "retried_total", (double)st->retried_total);
    double rate = store_stats_success_rate(st), avg = store_stats_avg_duration_s(st);
    if (rate < 0) cJSON_AddNullToObject(o, "success_rate");
    else cJSON_AddNumberToObject(o, "success_rate", rate);
    if (avg < 0) cJSON_AddNullToObject(o, "avg_duration_seconds");
    else cJSON_AddNumberToObject(o, "avg_duration_seconds", avg);
    cJSON_AddNumberToObject(o, "total_savings_eur_hour", st->savings_eur_hour_sum);
    cJSON_AddNumberToObject(o, "total_savings_eur_month", st->savings_eur_month_sum);
    cJSON *fr = cJSON_AddObjectToObject(o, "failures_by_reason");
    for (size_t i = 0; i < st->n_fail_reasons; i++)
        cJSON_AddNumberToObject(fr, st->fail_reasons[i].reason, (double)st->fail_reasons[i].count);
    cJSON *q = cJSON_AddObjectToObject(o, "queues");
    cJSON_AddNumberToObject(q, "scheduled", (double)st->scheduled);
    cJSON_AddNumberToObject(q, "ready", (double)st->ready);
    cJSON_AddNumberToObject(q, "leases", (double)st->leases);
    cJSON_AddNumberToObject(q, "cleanups_pending", (double)st->cleanups_pending);
    return o;
}

/* GET /api/migrations/stats */
static void h_stats(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    store_stats_t st;
    int rv = store_get_stats(rc, &st);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        return;
    }
    http_reply_json(r, 200, stats_json(&st));
    store_stats_free(&st);
}

/* Order matters: /api/migrations/stats before /api/migrations/:id. */
const http_route_t routes_migrations[] = {
    {"GET", "/api/migrations", h_list},
    {"POST", "/api/migrations", h_create},
    {"GET", "/api/migrations/stats", h_stats},
    {"GET", "/api/migrations/:id", h_get},
    {"DELETE", "/api/migrations/:id", h_delete},
    {"POST", "/api/migrations/:id/approve", h_approve},
    {"POST", "/api/migrations/:id/schedule", h_schedule},
    {"POST", "/api/migrations/:id/cancel", h_cancel},
    {"GET", "/api/servers/:id/migrations", h_server_list},
    {"GET", "/api/servers/:id/migrations/active", h_server_active},
};
const size_t routes_migrations_count = sizeof routes_migrations / sizeof routes_migrations[0];
