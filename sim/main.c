/* main.c - bin/fleet-sim: a simulated fleet on one HTTP port, serving every node agent
 * (/nodes/{node_id}/v1/...) and the proxy bridge (/proxy/v1/...) of docs/DRIVERS.md,
 * control endpoints (/control/...), the inventory in Redis and a cost optimizer. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "sim/fleet.h"
#include "sim/optimizer.h"
#include "sim/optimizer_run.h"
#include "sim/report.h"
#include "sim/sim.h"

#define PROGRAM "fleet-sim"
#define FLEET_FILE_MAX (16 * 1024 * 1024) /* largest MIG_SIM_FLEET file, bytes */
#define HOLD_POLL_MS 50 /* longest a held call sleeps before it looks for a stop or its
                           backstop: the stop latency of sim_sleep_ms() */

static volatile sig_atomic_t signalled;

static void on_signal(int sig) {
    (void)sig;
    signalled = 1;
}

/* ------------------------------------------------------------------------ requests */

/* Splits a request URI into the agent it is for and the path below it. Returns 'n' (a
 * node agent; node id into `node`), 'p' (the proxy), 'c' (control) or 0. */
static int split_uri(const char *uri, char *node, size_t node_cap, char *path, size_t path_cap) {
    const char *rest;
    int kind;
    if (strncmp(uri, "/nodes/", 7) == 0) {
        size_t l = strcspn(uri + 7, "/");
        if (l == 0 || l >= node_cap) return 0;
        memcpy(node, uri + 7, l);
        node[l] = '\0';
        rest = uri + 7 + l;
        kind = 'n';
    } else if (strncmp(uri, "/proxy/", 7) == 0) {
        rest = uri + 6;
        kind = 'p';
    } else if (strncmp(uri, "/control/", 9) == 0) {
        rest = uri + 8;
        kind = 'c';
    } else {
        return 0;
    }
    snprintf(path, path_cap, "%s", *rest ? rest : "/");
    return kind;
}

/* Holds a call that hold rule `f` took until the rule leaves the set (DELETE
 * /control/faults or /control/faults/{id}), its delay_ms passes (a backstop) or the
 * simulator stops; listed in s->held meanwhile. Returns false when stopping. A removal
 * wakes the call at once (faults_gone); the timed wait only bounds how late it sees a
 * stop or its backstop. */
static bool hold_call(sim_t *s, sim_req_t *r, const char *target, const fault_t *f) {
    sim_held_t me = {.fault_id = f->id, .target = target, .method = r->method, .path = r->path};
    int64_t end = timefmt_mono_ms() + f->delay_ms;
    const char *why = "deleted";
    pthread_mutex_lock(&s->lock);
    me.next = s->held;
    s->held = &me;
    for (;;) {
        if (sim_stopping(s)) {
            why = "stopping";
            break;
        }
        if (!fault_exists(&s->faults, f->id)) break;
        int64_t left = end - timefmt_mono_ms();
        if (left <= 0) {
            why = "backstop";
            break;
        }
        if (left > HOLD_POLL_MS) left = HOLD_POLL_MS;
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += (long)left * 1000000L;
        at.tv_sec += at.tv_nsec / 1000000000L;
        at.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->faults_gone, &s->lock, &at);
    }
    for (sim_held_t **p = &s->held; *p; p = &(*p)->next)
        if (*p == &me) {
            *p = me.next;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    char id[16];
    snprintf(id, sizeof id, "%d", f->id);
    log_at(LOG_INFO, "sim.fault_released", "fault_id", id, "node_id", target, "method", r->method, "path", r->path,
           "why", why, NULL);
    return strcmp(why, "stopping") != 0;
}

/* Acts on a fault that fired for a call. Returns true when the call goes on (slow, hold),
 * false when the answer is set (fail, hang, or any of them while stopping). */
static bool apply_fault(sim_t *s, sim_req_t *r, const char *target, const fault_t *f) {
    char id[16];
    snprintf(id, sizeof id, "%d", f->id);
    log_at(LOG_INFO, "sim.fault_fired", "fault_id", id, "node_id", target, "method", r->method, "path", r->path,
           "mode", fault_mode_name(f->mode), NULL);
    bool on = f->mode == FAULT_HOLD ? hold_call(s, r, target, f)
              : f->mode != FAULT_FAIL ? sim_sleep_ms(s, f->delay_ms)
                                      : true;
    if (!on) {
        httpd_error(r, 503, "stopping", "the simulator is stopping");
        return false;
    }
    if (f->mode == FAULT_SLOW || f->mode == FAULT_HOLD) return true;
    httpd_error(r, f->status, "injected", "fault %d injected (%s) on %s %s %s", f->id, fault_mode_name(f->mode),
                target, r->method, r->path);
    return false;
}

/* The fencing check of an agent or proxy call, with the lock held, at the moment the call
 * would take effect (after any delay of a fault, so a call that waited past a newer
 * worker's call is refused). A call of a migration (the body's migration_id, else the
 * Idempotency-Key) must carry a token at least the highest seen for it; calls of no
 * migration are not checked. Returns true when the call may be served, false after
 * answering 400 missing_token, 409 stale_token or 500. */
static bool fence_admit_or_reply(sim_t *s, sim_req_t *r, const char *target) {
    const char *mid = httpd_str(r, "migration_id");
    if (mid == NULL) mid = r->idem_key;
    if (*mid == '\0') return true;
    uint64_t token, highest;
    char err[160];
    if (fence_parse_token(mg_get_header(r->conn, FENCE_HEADER), &token, err, sizeof err) != 0) {
        httpd_error(r, 400, "missing_token", "%s on a call of migration %s", err, mid);
        return false;
    }
    int rv = fence_admit(&s->fence, mid, token, &highest);
    if (rv == 0) return true;
    if (rv != MIG_ESTALE) {
        httpd_error(r, 500, "internal", "out of memory");
        return false;
    }
    char tok[24], high[24];
    snprintf(tok, sizeof tok, "%" PRIu64, token);
    snprintf(high, sizeof high, "%" PRIu64, highest);
    log_at(LOG_INFO, "sim.stale_token", "migration_id", mid, "token", tok, "highest", high, "node_id", target,
           "method", r->method, "path", r->path, NULL);
    httpd_error(r, 409, "stale_token", "fencing token %s of migration %s is below %s, the highest seen", tok, mid,
                high);
    return false;
}

/* True when `a` and `b` are equal, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++) diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (nb ? nb : 1)];
    return diff == 0;
}

/* The agent token check (MIG_SIM_AGENT_TOKEN) of an agent or proxy call, before the call
 * does anything: true when no token is set or the call carries "Authorization: Bearer
 * <token>"; false after answering 401 unauthorized. */
static bool agent_token_or_reply(const sim_t *s, sim_req_t *r) {
    if (s->agent_token == NULL) return true;
    const char *h = mg_get_header(r->conn, "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, s->agent_token)) return true;
    httpd_error(r, 401, "unauthorized", "%s", h ? "the agent token is wrong" : "the call needs Authorization: Bearer <agent token>");
    return false;
}

/* The one civetweb handler: splits the URI, checks the agent token, applies faults,
 * checks the fencing token and routes under the lock. */
static int dispatch(struct mg_connection *conn, void *cbdata) {
    sim_t *s = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int64_t t0 = timefmt_mono_ms();
    sim_req_t r = {.conn = conn, .method = ri->request_method, .node = -1};
    char node_id[MODEL_ID_MAX] = "";
    int kind = split_uri(ri->local_uri, node_id, sizeof node_id, r.path, sizeof r.path);
    const char *key = mg_get_header(conn, "Idempotency-Key");
    snprintf(r.idem_key, sizeof r.idem_key, "%s", key ? key : "");
    bool handled = false;
    if (kind == 0) goto send;
    if (kind != 'c' && !agent_token_or_reply(s, &r)) {
        handled = true;
        goto send;
    }
    if (!httpd_read_body(&r)) goto send;
    if (kind == 'c') {
        handled = control_handle(s, &r);
        goto send;
    }
    const char *target = kind == 'n' ? node_id : "proxy";
    fault_t f;
    pthread_mutex_lock(&s->lock);
    if (kind == 'n') r.node = model_node_index(&s->model, node_id);
    bool fired = (kind == 'p' || r.node >= 0) && fault_take(&s->faults, target, r.method, r.path, &f);
    pthread_mutex_unlock(&s->lock);
    if (kind == 'n' && r.node < 0) {
        httpd_error(&r, 404, "unknown_node", "no node %s in this fleet", node_id);
        handled = true;
        goto send;
    }
    if (fired && !apply_fault(s, &r, target, &f)) {
        handled = true;
        goto send;
    }
    sim_enter(s);
    if (!fence_admit_or_reply(s, &r, target)) handled = true;
    else handled = kind == 'n' ? agent_handle(s, &r) : proxy_handle(s, &r);
    sim_leave(s);
send:
    if (!handled && r.status == 0) httpd_error(&r, 404, "not_found", "no such endpoint: %s", ri->local_uri);
    httpd_send(&r);
    if (log_enabled(LOG_DEBUG)) {
        char status[8], ms[24];
        snprintf(status, sizeof status, "%d", r.status);
        snprintf(ms, sizeof ms, "%lld", (long long)(timefmt_mono_ms() - t0));
        log_at(LOG_DEBUG, "http.request", "method", r.method, "uri", ri->local_uri, "status", status, "ms", ms,
               "idempotency_key", r.idem_key, NULL);
    }
    cJSON_Delete(r.body);
    cJSON_Delete(r.reply);
    return r.status;
}

static int log_message(const struct mg_connection *conn, const char *message) {
    (void)conn;
    log_at(LOG_WARN, "civetweb", "message", message, NULL);
    return 1;
}

/* ------------------------------------------------------------------------ stopping */

/* What the stop nudger connects to. */
typedef struct {
    struct sockaddr_in addr;
    volatile int done; /* set once mg_stop() returned */
} nudge_t;

/* civetweb's listener polls its socket with a 2 s timeout, so mg_stop() alone takes up to
 * 2 s; a connection wakes the poll at once. Tests start and stop the simulator often. */
static void *nudge(void *arg) {
    nudge_t *n = arg;
    for (int i = 0; i < 100 && !__atomic_load_n(&n->done, __ATOMIC_ACQUIRE); i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            connect(fd, (const struct sockaddr *)&n->addr, sizeof n->addr);
            close(fd);
        }
        timefmt_sleep_ms(20);
    }
    return NULL;
}

/* Stops civetweb, nudging its listener on `port` of the IPv4 host of `listen` (loopback
 * when it binds every interface). */
static void stop_http(struct mg_context *ctx, const char *listen, int port) {
    nudge_t n = {.addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)}};
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(listen, ':');
    if (colon && colon > listen && (size_t)(colon - listen) < sizeof host && listen[0] != '[') {
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        if (strcmp(host, "0.0.0.0") == 0) snprintf(host, sizeof host, "127.0.0.1");
    }
    pthread_t t;
    bool nudging = port > 0 && inet_pton(AF_INET, host, &n.addr.sin_addr) == 1 &&
                   pthread_create(&t, NULL, nudge, &n) == 0;
    mg_stop(ctx);
    if (nudging) {
        __atomic_store_n(&n.done, 1, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
    }
}

/* ------------------------------------------------------------------------ start-up */

/* Parses a decimal setting in [lo, hi]. */
static int config_double(const char *name, const char *text, double lo, double hi, double *out, char *err,
                         size_t errlen) {
    char *end;
    double v = text ? strtod(text, &end) : 0;
    if (text == NULL || *text == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
        snprintf(err, errlen, "%s: must be a number from %g to %g, not \"%s\"", name, lo, hi, text ? text : "");
        return MIG_EINVALID;
    }
    *out = v;
    return 0;
}

/* Reads the whole of a file into a new string (caller frees). */
static char *read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL) {
        snprintf(err, errlen, "MIG_SIM_FLEET: cannot open %s", path);
        return NULL;
    }
    buf = malloc(FLEET_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, FLEET_FILE_MAX + 1, f) : 0;
    if (buf == NULL || n > FLEET_FILE_MAX || ferror(f)) {
        snprintf(err, errlen, "MIG_SIM_FLEET: cannot read %s (over %d bytes?)", path, FLEET_FILE_MAX);
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

/* The settings as text, bound by config_load. */
typedef struct {
    const char *listen, *fleet, *nodes, *servers, *seed, *speed, *zero, *start_ms, *stop_ms, *bandwidth, *session,
        *report_ms, *threads, *cost_level, *cost_interval, *cost_min, *agent_token,
        *cost_max_moves;
} settings_t;

#define N_SIM_OPTS 18

static void bind_settings(settings_t *v, config_opt_t *o) {
    o[0] = (config_opt_t){"MIG_SIM_LISTEN", "127.0.0.1:7070", "address:port to serve on (port 0: a free one, logged)",
                          &v->listen};
    o[1] = (config_opt_t){"MIG_SIM_FLEET", NULL, "JSON file describing the fleet exactly (instead of generating)",
                          &v->fleet};
    o[2] = (config_opt_t){"MIG_SIM_NODES", "6", "nodes of a generated fleet", &v->nodes};
    o[3] = (config_opt_t){"MIG_SIM_SERVERS", "40", "servers of a generated fleet", &v->servers};
    o[4] = (config_opt_t){"MIG_SIM_SEED", "1", "seed of the generated fleet and of the players' churn", &v->seed};
    o[5] = (config_opt_t){"MIG_SIM_SPEED", "1.0", "simulated time per real time (100: a minute in 0.6 s)",
                          &v->speed};
    o[6] = (config_opt_t){"MIG_SIM_ZERO_DELAYS", "0", "1: containers start and stop and syncs copy at once",
                          &v->zero};
    o[7] = (config_opt_t){"MIG_SIM_START_MS", "3000", "simulated ms a container takes to start", &v->start_ms};
    o[8] = (config_opt_t){"MIG_SIM_STOP_MS", "1000", "simulated ms a container takes to stop", &v->stop_ms};
    o[9] = (config_opt_t){"MIG_SIM_BANDWIDTH_MBPS", "100", "MB/s into each node, shared by its syncs",
                          &v->bandwidth};
    o[10] = (config_opt_t){"MIG_SIM_SESSION_S", "600", "mean simulated seconds a player stays", &v->session};
    o[11] = (config_opt_t){"MIG_SIM_REPORT_MS", "200", "real ms between writes of the inventory to Redis",
                           &v->report_ms};
    o[12] = (config_opt_t){"MIG_SIM_THREADS", "64", "HTTP threads (a hanging fault holds one)", &v->threads};
    o[13] = (config_opt_t){"MIG_COST_LEVEL", "0", "cost optimizer: 0 off, 1 suggest, 2 schedule", &v->cost_level};
    o[14] = (config_opt_t){"MIG_COST_INTERVAL_S", "60", "real seconds between optimizer passes", &v->cost_interval};
    o[15] = (config_opt_t){"MIG_COST_MIN_SAVINGS", "0.05",
                           "EUR/h each suggested move must save at least (a drain's move: its share of the node's price)",
                           &v->cost_min};
    o[16] = (config_opt_t){"MIG_SIM_AGENT_TOKEN", NULL,
                           "when set, agent and proxy calls must carry Authorization: Bearer <it> (401 otherwise; "
                           "set it in the environment)",
                           &v->agent_token};
    o[17] = (config_opt_t){"MIG_COST_MAX_MOVES_PER_NODE", "8",
                           "most migrations not ended one node takes part in (0: no limit); a drain needing more waits",
                           &v->cost_max_moves};
}

/* Fills the simulator from the settings. Returns 0 or MIG_EINVALID with `err`. */
static int setup(sim_t *s, const settings_t *v, const config_common_t *c, long long *threads, char *err,
                 size_t errlen) {
    long long nodes, servers, seed, zero, start_ms, stop_ms, report_ms, level, interval;
    double bandwidth, session;
    int rv = 0;
    if (rv == 0) rv = config_int("MIG_SIM_NODES", v->nodes, 1, 10000, &nodes, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_SERVERS", v->servers, 0, 100000, &servers, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_SEED", v->seed, 0, INT64_MAX, &seed, err, errlen);
    if (rv == 0) rv = config_double("MIG_SIM_SPEED", v->speed, 0.001, 1e7, &s->speed, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_ZERO_DELAYS", v->zero, 0, 1, &zero, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_START_MS", v->start_ms, 0, 86400000, &start_ms, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_STOP_MS", v->stop_ms, 0, 86400000, &stop_ms, err, errlen);
    if (rv == 0) rv = config_double("MIG_SIM_BANDWIDTH_MBPS", v->bandwidth, 0.001, 1e6, &bandwidth, err, errlen);
    if (rv == 0) rv = config_double("MIG_SIM_SESSION_S", v->session, 1, 1e7, &session, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_REPORT_MS", v->report_ms, 10, 60000, &report_ms, err, errlen);
    if (rv == 0) rv = config_int("MIG_SIM_THREADS", v->threads, 4, 1024, threads, err, errlen);
    if (rv == 0) rv = config_int("MIG_COST_LEVEL", v->cost_level, 0, 2, &level, err, errlen);
    if (rv == 0) rv = config_int("MIG_COST_INTERVAL_S", v->cost_interval, 1, 86400, &interval, err, errlen);
    if (rv == 0) rv = config_double("MIG_COST_MIN_SAVINGS", v->cost_min, 0, 1e6, &s->cost_min_savings, err, errlen);
    long long max_moves = 0;
    if (rv == 0) rv = config_int("MIG_COST_MAX_MOVES_PER_NODE", v->cost_max_moves, 0, 10000, &max_moves, err, errlen);
    if (rv != 0) return rv;
    if ((rv = rconn_opts_from_config(&s->redis, c, 5000, err, errlen)) != 0) return rv;
    s->report_ms = (int)report_ms;
    s->cost_level = (int)level;
    s->cost_interval_s = (int)interval;
    s->cost_max_moves_per_node = (int)max_moves;
    model_opts_t mo = {.start_ms = zero ? 0 : start_ms,
                       .stop_ms = zero ? 0 : stop_ms,
                       .bandwidth_mb_s = zero ? 0 : bandwidth,
                       .session_s = session,
                       .seed = (uint64_t)seed,
                       .wall0_ms = timefmt_now_ms(),
                       .speed = s->speed};
    s->mono0 = timefmt_mono_ms();
    s->agent_token = v->agent_token && *v->agent_token ? v->agent_token : NULL;
    model_init(&s->model, &mo);
    fault_set_init(&s->faults);
    fence_init(&s->fence);
    if (v->fleet == NULL) return fleet_generate(&s->model, (int)nodes, (int)servers, (uint64_t)seed, err, errlen);
    char *text = read_file(v->fleet, err, errlen);
    if (text == NULL) return MIG_EINVALID;
    char why[400];
    rv = fleet_parse(&s->model, text, why, sizeof why);
    if (rv != 0) snprintf(err, errlen, "MIG_SIM_FLEET %s: %s", v->fleet, why);
    free(text);
    return rv;
}

int main(int argc, char **argv) {
    config_common_t common;
    settings_t v;
    config_opt_t opts[CONFIG_COMMON_COUNT + N_SIM_OPTS];
    config_common(&common, opts);
    bind_settings(&v, opts + CONFIG_COMMON_COUNT);
    char err[512];
    int rv = config_load(opts, sizeof opts / sizeof opts[0], argc, argv, PROGRAM,
                         "simulated fleet: node agents and proxy of the driver contract, inventory, cost optimizer",
                         err, sizeof err);
    if (rv == 1) return 0;
    static sim_t sim;
    long long threads = 0;
    if (rv == 0) rv = config_log(&common, PROGRAM, err, sizeof err);
    if (rv == 0) rv = setup(&sim, &v, &common, &threads, err, sizeof err);
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        model_free(&sim.model);
        fault_set_free(&sim.faults);
        fence_free(&sim.fence);
        return 2;
    }
    if (rconn_check_library(&sim.redis, err, sizeof err) != 0) {
        log_at(LOG_ERROR, "sim.library_refused", "error", err, NULL);
        model_free(&sim.model);
        fault_set_free(&sim.faults);
        fence_free(&sim.fence);
        return 1;
    }
    pthread_mutex_init(&sim.lock, NULL);
    pthread_mutex_init(&sim.cost_pass, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* held calls wait by the monotonic clock */
    pthread_cond_init(&sim.faults_gone, &ca);
    pthread_condattr_destroy(&ca);

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    mg_init_library(0);
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%lld", threads);
    const char *mgopts[] = {"listening_ports", v.listen, "num_threads", nthreads, "request_timeout_ms", "60000",
                            "enable_keep_alive", "yes", "tcp_nodelay", "1", /* no 40 ms delayed-ACK stall */
                            NULL};
    struct mg_callbacks cb = {0};
    cb.log_message = log_message;
    struct mg_context *ctx = mg_start(&cb, &sim, mgopts);
    int status = 1, port_num = 0;
    char port[16] = "?";
    bool reporting = false;
    if (ctx == NULL) {
        log_at(LOG_ERROR, "sim.start_failed", "listen", v.listen, "error", "cannot listen (address in use?)", NULL);
        goto out;
    }
    struct mg_server_port ports[4];
    if (mg_get_server_ports(ctx, 4, ports) > 0) port_num = ports[0].port;
    snprintf(port, sizeof port, "%d", port_num);
    mg_set_request_handler(ctx, "/nodes/", dispatch, &sim);
    mg_set_request_handler(ctx, "/proxy/", dispatch, &sim);
    mg_set_request_handler(ctx, "/control/", dispatch, &sim);
    if (report_start(&sim, err, sizeof err) != 0) {
        log_at(LOG_ERROR, "sim.start_failed", "error", err, NULL);
        goto out;
    }
    reporting = true;
    if (optimizer_start_timer(&sim, err, sizeof err) != 0) {
        log_at(LOG_ERROR, "sim.start_failed", "error", err, NULL);
        goto out;
    }

    char n_nodes[16], n_servers[16], speed[32], level[8];
    snprintf(n_nodes, sizeof n_nodes, "%zu", sim.model.n_nodes);
    snprintf(n_servers, sizeof n_servers, "%zu", sim.model.n_servers);
    snprintf(speed, sizeof speed, "%g", sim.speed);
    snprintf(level, sizeof level, "%d", sim.cost_level);
    char where[300];
    log_at(LOG_INFO, "sim.started", "listen", v.listen, "port", port, "nodes", n_nodes, "servers", n_servers, "speed",
           speed, "cost_level", level, "fleet", v.fleet ? v.fleet : "generated", "redis", rconn_where(&sim.redis, where, sizeof where), NULL);

    while (!signalled) timefmt_sleep_ms(50);
    log_at(LOG_INFO, "sim.stopping", NULL);
    status = 0;
out:
    sim_request_stop(&sim);
    if (ctx) stop_http(ctx, v.listen, port_num);
    mg_exit_library();
    optimizer_stop_timer(&sim);
    if (reporting) report_stop(&sim);
    model_free(&sim.model);
    fault_set_free(&sim.faults);
    fence_free(&sim.fence);
    pthread_cond_destroy(&sim.faults_gone);
    pthread_mutex_destroy(&sim.cost_pass);
    pthread_mutex_destroy(&sim.lock);
    if (status == 0) log_at(LOG_INFO, "sim.stopped", NULL);
    return status;
}
