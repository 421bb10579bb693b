/* api.h - the state the API server's handlers share: settings, auth, the relay, and the
 * request counters behind /metrics. */
#ifndef MIG_API_H
#define MIG_API_H

#include <pthread.h>

#include "api/auth.h"
#include "api/guard.h"
#include "api/http.h"
#include "api/relay.h"
#include "core/rconn.h"

typedef struct api {
    rconn_opts_t redis;      /* how each thread connects */
    auth_t *auth;
    guard_t guard;           /* Host and Origin a browser's request must have */
    bool protect_metrics;    /* MIG_API_PROTECT_METRICS: /readyz and /metrics need a viewer */
    relay_t *relay;
    pthread_mutex_t lock;    /* guards the counters below */
    struct api_counter *counters; /* requests by route, method and status (metrics.c) */
} api_t;

/* The handlers of each module, registered by main.c. */
extern const http_route_t routes_migrations[];
extern const size_t routes_migrations_count;
extern const http_route_t routes_inventory[];
extern const size_t routes_inventory_count;
extern const http_route_t routes_session[];
extern const size_t routes_session_count;

/* GET /metrics */
void metrics_handle(http_req_t *r);
/* Counts a served request (route pattern, method, status) for /metrics. */
void metrics_count_request(api_t *api, const char *route, const char *method, int status);
void metrics_free(api_t *api);

#endif
