/* metrics.c - GET /metrics in the Prometheus text format, and the request counters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/states.h"
#include "core/store.h"
#include "core/strbuf.h"

/* Requests served, by route pattern, method and status. Every label's value comes from
 * the code, never from the request, so the list is bounded by the route table: a
 * matched route has one method, an unmatched path counts as "unmatched" with one of
 * the methods below, and the statuses are those the handlers answer. A few dozen
 * entries, walked under the lock on every request. */
struct api_counter {
    const char *route;  /* static route pattern, or "unmatched" */
    const char *method; /* static: an entry of METHODS, or "other" */
    int status;
    unsigned long long n;
    struct api_counter *next;
};

/* The methods counted under their own name: HTTP's (RFC 9110, and PATCH). civetweb
 * hands WebDAV's and others through to the handler too; they count as "other". A copy of
 * the client's text as the label let any client add series: it was kept in 8 bytes, so
 * PROPFIND became PROPFIN, never matched again, and every such request added a series
 * (62,000 requests, 62,000 series, /metrics from 149 KB to 4.5 MB). */
static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"};

/* The label of a request's method: the static entry of METHODS, or "other". */
static const char *method_label(const char *method) {
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (strcmp(METHODS[i], method) == 0) return METHODS[i];
    return "other";
}

void metrics_count_request(api_t *api, const char *route, const char *method, int status) {
    method = method_label(method);
    pthread_mutex_lock(&api->lock);
    struct api_counter *c = api->counters;
    for (; c; c = c->next)
        if (c->route == route && c->status == status && c->method == method) break;
    if (c == NULL && (c = calloc(1, sizeof *c)) != NULL) {
        c->route = route;
        c->method = method;
        c->status = status;
        c->next = api->counters;
        api->counters = c;
    }
    if (c) c->n++;
    pthread_mutex_unlock(&api->lock);
}

void metrics_free(api_t *api) {
    while (api->counters) {
        struct api_counter *next = api->counters->next;
        free(api->counters);
        api->counters = next;
    }
}

static void head(strbuf_t *t, const char *name, const char *type, const char *help) {
    strbuf_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* GET /metrics */
void metrics_handle(http_req_t *r) {
    /* public unless MIG_API_PROTECT_METRICS: counts of the fleet's moves and failures
     * tell an outsider more than a scraper without a token needs to */
    if (r->api->protect_metrics && !http_role_or_reply(r, ROLE_VIEWER)) return;
    rconn_t *rc = http_redis_or_reply(r);
    if (rc == NULL) return;
    store_stats_t st;
    int rv = store_get_stats(rc, &st);
    if (rv != 0) {
        http_reply_store_error(r, rv, rc);
        return;
    }
    strbuf_t t = STRBUF_INIT; /* the text; an allocation that fails is seen at the end */
    head(&t, "mig_migrations", "gauge", "Migrations in each status now.");
    for (int s = 0; s < MIG_STATUS_COUNT; s++)
        strbuf_printf(&t, "mig_migrations{status=\"%s\"} %lld\n", states_name((mig_status_t)s), st.by_status[s]);
    head(&t, "mig_migrations_created_total", "counter", "Migrations created.");
    strbuf_printf(&t, "mig_migrations_created_total %lld\n", st.created_total);
    head(&t, "mig_migrations_ended_total", "counter", "Migrations that reached a terminal status.");
    strbuf_printf(&t, "mig_migrations_ended_total{status=\"completed\"} %lld\n", st.completed_total);
    strbuf_printf(&t, "mig_migrations_ended_total{status=\"failed\"} %lld\n", st.failed_total);
    strbuf_printf(&t, "mig_migrations_ended_total{status=\"cancelled\"} %lld\n", st.cancelled_total);
    head(&t, "mig_migrations_retried_total", "counter", "Failed phases sent back to scheduled for a retry.");
    strbuf_printf(&t, "mig_migrations_retried_total %lld\n", st.retried_total);
    double rate = store_stats_success_rate(&st), avg = store_stats_avg_duration_s(&st);
    head(&t, "mig_success_ratio", "gauge", "completed / (completed + failed); NaN before any ended.");
    strbuf_printf(&t, rate < 0 ? "mig_success_ratio NaN\n" : "mig_success_ratio %.6f\n", rate);
    head(&t, "mig_duration_seconds_avg", "gauge", "Average seconds from start to completion.");
    strbuf_printf(&t, avg < 0 ? "mig_duration_seconds_avg NaN\n" : "mig_duration_seconds_avg %.3f\n", avg);
    head(&t, "mig_savings_eur_hour_total", "counter", "Euros per hour saved by completed migrations.");
    strbuf_printf(&t, "mig_savings_eur_hour_total %.2f\n", st.savings_eur_hour_sum);
    head(&t, "mig_savings_eur_month_total", "counter", "Euros per month saved by completed migrations.");
    strbuf_printf(&t, "mig_savings_eur_month_total %.2f\n", st.savings_eur_month_sum);
    head(&t, "mig_failures_total", "counter", "Failed migrations by cause.");
    for (size_t i = 0; i < st.n_fail_reasons; i++)
        strbuf_printf(&t, "mig_failures_total{reason=\"%s\"} %lld\n", st.fail_reasons[i].reason, st.fail_reasons[i].count);
    head(&t, "mig_ready_queue_length", "gauge", "Promoted migrations waiting for a worker.");
    strbuf_printf(&t, "mig_ready_queue_length %lld\n", st.ready);
    head(&t, "mig_scheduled_queue_length", "gauge", "Scheduled migrations waiting for promotion.");
    strbuf_printf(&t, "mig_scheduled_queue_length %lld\n", st.scheduled);
    head(&t, "mig_active_leases", "gauge", "Migrations held by a worker under a lease.");
    strbuf_printf(&t, "mig_active_leases %lld\n", st.leases);
    head(&t, "mig_migration_cleanups_pending", "gauge",
         "Completed migrations whose old container is still to be removed (retried until gone).");
    strbuf_printf(&t, "mig_migration_cleanups_pending %lld\n", st.cleanups_pending);
    store_stats_free(&st);
    head(&t, "mig_websocket_clients", "gauge", "WebSocket clients connected to this API process.");
    strbuf_printf(&t, "mig_websocket_clients %ld\n", relay_clients(r->api->relay));
    head(&t, "mig_websocket_events_total", "counter", "Events relayed by this API process.");
    strbuf_printf(&t, "mig_websocket_events_total %lld\n", relay_events(r->api->relay));
    head(&t, "mig_http_requests_total", "counter", "HTTP requests served, by route, method and code.");
    pthread_mutex_lock(&r->api->lock);
    for (struct api_counter *c = r->api->counters; c; c = c->next)
        strbuf_printf(&t, "mig_http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"} %llu\n", c->route, c->method,
            c->status, c->n);
    pthread_mutex_unlock(&r->api->lock);
    size_t len = t.n;
    char *text = strbuf_done(&t);
    if (text == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    mg_printf(r->conn,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
              "Content-Length: %zu\r\nCache-Control: no-store\r\n\r\n",
              len);
    mg_write(r->conn, text, len);
    r->status = 200;
    free(text);
}
