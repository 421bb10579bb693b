/* sim.h - the state of the bin/fleet-sim process that its threads share: the model under
 * one lock, the fault rules, the fencing tokens, the calls held by faults, the clock that
 * maps real time onto simulated time, and the request being served. */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <civetweb.h>
#include <cjson/cJSON.h>

#include "core/rconn.h"
#include "sim/fault.h"
#include "sim/fence.h"
#include "sim/model.h"
#include "sim/route.h"

/* A call held by a hold fault (main.c), listed for GET /control/state. It lives on the
 * stack of the thread serving the call, linked in only while that thread waits. */
typedef struct sim_held {
    int fault_id;               /* the rule that holds it */
    const char *target;         /* "n2" or "proxy"; borrowed from the request */
    const char *method, *path;  /* borrowed from the request */
    struct sim_held *next;
} sim_held_t;

typedef struct sim {
    pthread_mutex_t lock;       /* guards model, faults, fence and held */
    model_t model;
    fault_set_t faults;
    pthread_cond_t faults_gone; /* with lock: broadcast when rules are removed, so that the
                                   calls they hold look again (CLOCK_MONOTONIC) */
    fence_table_t fence;        /* highest fencing token per migration id */
    sim_held_t *held;           /* calls held now, newest first */
    double speed;               /* MIG_SIM_SPEED: sim ms per real ms */
    int64_t mono0;              /* monotonic ms at sim ms 0 */
    int stopping;               /* set once by the signal handler's loop; read atomically */
    rconn_opts_t redis;         /* where the inventory goes */
    const char *agent_token;    /* MIG_SIM_AGENT_TOKEN, NULL: agent calls need no token */

    /* the inventory reporter (report.c) */
    struct reporter *reporter;  /* what it keeps between passes; owned by report.c */
    int report_ms;              /* MIG_SIM_REPORT_MS: at most one write per object per period */
    pthread_t report_thread;
    bool report_running;
    pthread_mutex_t report_lock;
    pthread_cond_t report_cond;
    unsigned long report_asked; /* passes asked for by report_flush() */
    unsigned long report_begun; /* value of report_asked when the running pass began */
    unsigned long report_done;  /* value of report_asked when the last pass ended */

    /* the cost optimizer (optimizer_run.c) */
    int cost_level;             /* MIG_COST_LEVEL: 0 off, 1 suggest, 2 schedule */
    int cost_interval_s;        /* MIG_COST_INTERVAL_S */
    double cost_min_savings;    /* MIG_COST_MIN_SAVINGS, EUR/h */
    int cost_max_moves_per_node; /* MIG_COST_MAX_MOVES_PER_NODE; 0: no limit */
    pthread_t cost_thread;
    bool cost_running;
    pthread_mutex_t cost_pass;  /* one optimizer pass at a time (timer or control) */
} sim_t;

/* Simulated ms now: (monotonic now - mono0) * speed. */
int64_t sim_clock(const sim_t *s);

/* Takes the lock and brings the model up to the present. */
void sim_enter(sim_t *s);
void sim_leave(sim_t *s);

/* True once the process is stopping. */
bool sim_stopping(const sim_t *s);
void sim_request_stop(sim_t *s);

/* Sleeps `ms` real ms, waking early when the process stops. Returns false then. */
bool sim_sleep_ms(const sim_t *s, int64_t ms);

/* ---- one HTTP request (httpd.c) ----------------------------------------------------- */

typedef struct {
    struct mg_connection *conn;
    const char *method;
    char path[512];             /* below the agent's base: "/v1/sync/m1.2" */
    int node;                   /* the node agent's node; -1 for the proxy and control */
    cJSON *body;                /* the parsed JSON body, NULL when there was none */
    char idem_key[128];         /* Idempotency-Key header, "" when absent */
    char params[ROUTE_PARAMS_MAX][PATH_PARAM_LEN];
    int status;                 /* the answer: status, and body (NULL: none) */
    cJSON *reply;
} sim_req_t;

/* True when the request's method and path match; fills r->params. */
bool httpd_route(sim_req_t *r, const char *method, const char *pattern);

/* Sets the answer: `body` (owned; NULL for none) with `status`. */
void httpd_reply(sim_req_t *r, int status, cJSON *body);

/* Sets an error answer {"error":{"code":...,"message":...}}. */
void httpd_error(sim_req_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the error answer of a failed model call: 400, 404, 409, 503, 507 or 500 from the
 * MIG_E* code, with the model's wire code and sentence. */
void httpd_model_error(sim_req_t *r, const model_t *m, int rv);

/* Reads the request body as JSON into r->body (NULL when empty). Returns false after
 * setting a 400 or 413 answer. */
bool httpd_read_body(sim_req_t *r);

/* Writes the answer to the connection. */
void httpd_send(sim_req_t *r);

/* A string member of the body, or NULL. */
const char *httpd_str(const sim_req_t *r, const char *name);

/* A number member of the body, or `def` when absent or not a number. */
double httpd_num(const sim_req_t *r, const char *name, double def);

/* ---- the handlers ------------------------------------------------------------------- */

/* Node agent and proxy: called with the lock held; false when no route matched (the
 * caller answers 404 or 405). */
bool agent_handle(sim_t *s, sim_req_t *r);
bool proxy_handle(sim_t *s, sim_req_t *r);

/* Control endpoints: called without the lock. */
bool control_handle(sim_t *s, sim_req_t *r);

#endif
