/* main.c - bin/migrate-api: the REST API, the WebSocket relay, metrics and the
 * dashboard, on civetweb. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "api/api.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define PROGRAM "migrate-api"

/* The headers of the dashboard's files (civetweb adds them to every file it serves). The
 * dashboard has no inline script or style and sets styles only through the CSSOM, so it
 * runs under a policy that allows nothing but its own files and its own WebSocket
 * ('self' covers ws: and wss: of the same host); an injected <script> or style attribute
 * does nothing. frame-ancestors 'none' (and X-Frame-Options for older browsers) keeps any
 * site from framing it, since approving a migration is one click; nosniff keeps a file
 * from being run as another type than it is served as. */
#define WEB_HEADERS                                                                                                  \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "   \
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "             \
    "frame-ancestors 'none'\r\n"                                                                                   \
    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer"

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

/* Finds the route for a request: the handler, or NULL with *path_known set when the
 * path exists under another method (405). */
static const http_route_t *route_of(const char *method, const char *uri, char params[][PATH_PARAM_LEN], bool *path_known) {
    static const struct {
        const http_route_t *v;
        const size_t *n;
    } tables[] = {{routes_migrations, &routes_migrations_count}, {routes_inventory, &routes_inventory_count},
                   {routes_session, &routes_session_count}};
    *path_known = false;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (size_t i = 0; i < *tables[t].n; i++) {
            const http_route_t *rt = &tables[t].v[i];
            if (!path_match(rt->pattern, uri, params, HTTP_PARAMS_MAX)) continue;
            if (strcmp(rt->method, method) == 0) return rt;
            *path_known = true;
        }
    return NULL;
}

/* The one civetweb handler of the API: routes, checks auth, counts and logs. */
static int dispatch(struct mg_connection *conn, void *cbdata) {
    api_t *api = cbdata;
    int64_t t0 = timefmt_mono_ms();
    http_req_t r = {.conn = conn, .ri = mg_get_request_info(conn), .api = api, .route = "unmatched"};
    r.role = auth_request_role(api->auth, conn, false);
    bool known;
    const http_route_t *rt = route_of(r.ri->request_method, r.ri->local_uri, r.params, &known);
    if (rt) r.route = rt->pattern;
    if (auth_url_has_token(conn)) {
        /* refused even where it would be right, so that nobody builds on it */
        http_reply_error(&r, 400, "bad_request",
                         "token: a token in the URL is taken only by GET /api/ws (URLs end up in logs and "
                         "browser history); send it as Authorization: Bearer <token>");
    } else if (!http_guard_or_reply(&r)) {
        /* answered: a foreign Host or Origin, or a body that is not JSON */
    } else if (rt) {
        rt->handler(&r);
    } else if (known) {
        http_reply_error(&r, 405, "method_not_allowed", "%s is not allowed on %s", r.ri->request_method,
                         r.ri->local_uri);
    } else {
        http_reply_error(&r, 404, "not_found", "no such endpoint: %s", r.ri->local_uri);
    }
    metrics_count_request(api, r.route, r.ri->request_method, r.status);
    if (log_enabled(LOG_DEBUG)) {
        char status[8], ms[24];
        snprintf(status, sizeof status, "%d", r.status);
        snprintf(ms, sizeof ms, "%lld", (long long)(timefmt_mono_ms() - t0));
        log_at(LOG_DEBUG, "http.request", "method", r.ri->request_method, "uri", r.ri->local_uri, "route",
               r.route, "status", status, "ms", ms, "role", auth_role_name(r.role), NULL);
    }
    return r.status ? r.status : 500;
}

static void exit_thread(const struct mg_context *ctx, int type, void *user) {
    (void)ctx;
    (void)type;
    (void)user;
    http_thread_redis_free();
}

static int log_message(const struct mg_connection *conn, const char *message) {
    (void)conn;
    log_at(LOG_WARN, "civetweb", "message", message, NULL);
    return 1;
}

/* Reads MIG_API_TOKENS_FILE: its text, with the whitespace and line ends around and
 * between entries dropped (one role:token per line, or comma-separated), as a new
 * string (caller frees); NULL with the reason in `err`. */
static char *read_tokens_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "MIG_API_TOKENS_FILE: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    enum { TOKENS_FILE_MAX = 64 * 1024 }; /* far above 64 tokens of 255 bytes */
    char *buf = malloc(TOKENS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TOKENS_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > TOKENS_FILE_MAX) {
        snprintf(err, errlen, "MIG_API_TOKENS_FILE: %s", buf ? "over 64 KiB" : "out of memory");
        free(buf);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n' || c == '\r') c = ',';
        else if (c == ' ' || c == '\t') continue;
        buf[o++] = c;
    }
    buf[o] = '\0';
    return buf;
}

/* True when `listen` ("127.0.0.1:8080", "localhost:80", "[::1]:8080") binds loopback
 * only. A bare port binds every interface. */
static bool loopback_only(const char *listen) {
    if (strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
        strncmp(listen, "[::1]:", 6) == 0)
        return strchr(listen, ',') == NULL;
    return false;
}

int main(int argc, char **argv) {
    config_common_t common;
    const char *listen, *tokens, *threads, *web_root, *hosts, *origins, *tokens_file, *protect;
    config_opt_t opts[CONFIG_COMMON_COUNT + 8];
    config_common(&common, opts);
    opts[CONFIG_COMMON_COUNT + 0] = (config_opt_t){"MIG_API_LISTEN", "127.0.0.1:8080",
                                                   "address:port to listen on", &listen};
    opts[CONFIG_COMMON_COUNT + 1] = (config_opt_t){"MIG_API_TOKENS", NULL,
                                                   "role:token,... (viewer, optimizer, operator); give it in the "
                                                   "environment or MIG_API_TOKENS_FILE, never as a flag",
                                                   &tokens};
    opts[CONFIG_COMMON_COUNT + 2] = (config_opt_t){"MIG_API_THREADS", "64",
                                                   "HTTP worker threads (each keep-alive client holds one)", &threads};
    opts[CONFIG_COMMON_COUNT + 3] = (config_opt_t){"MIG_API_WEB_ROOT", "api/web",
                                                   "folder of the dashboard's files", &web_root};
    opts[CONFIG_COMMON_COUNT + 4] = (config_opt_t){"MIG_API_HOSTS", NULL,
                                                   "host names the API is called by (checked in the Host header; "
                                                   "without tokens localhost and the listen address are)", &hosts};
    opts[CONFIG_COMMON_COUNT + 6] = (config_opt_t){"MIG_API_TOKENS_FILE", NULL,
                                                   "file holding MIG_API_TOKENS (instead of it; kept out of the "
                                                   "process list and the environment)", &tokens_file};
    opts[CONFIG_COMMON_COUNT + 7] = (config_opt_t){"MIG_API_PROTECT_METRICS", "0",
                                                   "1: /readyz and /metrics need a viewer token too", &protect};
    opts[CONFIG_COMMON_COUNT + 5] = (config_opt_t){"MIG_API_ORIGINS", NULL,
                                                   "origins of other sites' pages that may change state or watch "
                                                   "(https://dash.example.com,...); the API's own always may", &origins};
    char err[512];
    int rv = config_load(opts, sizeof opts / sizeof opts[0], argc, argv, PROGRAM,
                         "REST API, WebSocket events, metrics and dashboard of the migration control plane",
                         err, sizeof err);
    if (rv == 1) return 0;
    long long nthreads = 0;
    if (rv == 0) rv = config_log(&common, PROGRAM, err, sizeof err);
    if (rv == 0) rv = config_int("MIG_API_THREADS", threads, 2, 4096, &nthreads, err, sizeof err);
    rconn_opts_t redis;
    if (rv == 0) rv = rconn_opts_from_config(&redis, &common, 5000, err, sizeof err);
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return 2;
    }
    if (rconn_check_library(&redis, err, sizeof err) != 0) {
        log_at(LOG_ERROR, "api.library_refused", "error", err, NULL);
        return 1;
    }

    if (strcmp(protect, "0") != 0 && strcmp(protect, "1") != 0) {
        fprintf(stderr, "%s: MIG_API_PROTECT_METRICS: must be 0 or 1, not \"%s\"\n", PROGRAM, protect);
        return 2;
    }
    char *file_tokens = NULL;
    if (tokens_file && *tokens_file) {
        if (tokens && *tokens) {
            fprintf(stderr, "%s: MIG_API_TOKENS and MIG_API_TOKENS_FILE are both set; give one\n", PROGRAM);
            return 2;
        }
        if ((file_tokens = read_tokens_file(tokens_file, err, sizeof err)) == NULL) {
            fprintf(stderr, "%s: %s\n", PROGRAM, err);
            return 2;
        }
        tokens = file_tokens;
    }
    api_t api = {.redis = redis, .protect_metrics = strcmp(protect, "1") == 0};
    pthread_mutex_init(&api.lock, NULL);
    api.auth = auth_new(tokens, err, sizeof err);
    if (file_tokens) { /* the tokens live on in api.auth only */
        memset(file_tokens, 0, strlen(file_tokens));
        free(file_tokens);
    }
    if (api.auth == NULL) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return 2;
    }
    if (guard_init(&api.guard, listen, hosts, origins, !auth_enabled(api.auth), err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        auth_free(api.auth);
        return 2;
    }
    if (!auth_enabled(api.auth)) {
        if (!loopback_only(listen)) {
            log_at(LOG_ERROR, "api.refused", "listen", listen, "error",
                   "refusing to listen beyond loopback without MIG_API_TOKENS", NULL);
            auth_free(api.auth);
            return 2;
        }
        log_at(LOG_WARN, "api.open", "listen", listen, "note",
               "no MIG_API_TOKENS: every caller is an operator; listening on loopback only", NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    mg_init_library(MG_FEATURES_WEBSOCKET);
    char nthreads_s[16];
    snprintf(nthreads_s, sizeof nthreads_s, "%lld", nthreads);
    char request_timeout_s[16];
    snprintf(request_timeout_s, sizeof request_timeout_s, "%d", HTTP_REQUEST_TIMEOUT_MS);
    /* request_timeout_ms bounds the wait for a request's headers, all of them, and each
     * read of a body (core/httpbody.h bounds the whole body) */
    const char *mgopts[22] = {"listening_ports", listen, "num_threads", nthreads_s, "request_timeout_ms", request_timeout_s,
                              "enable_keep_alive", "yes", "websocket_timeout_ms", "3600000",
                              "enable_directory_listing", "no",
                              /* answers go out at once, not after the client's delayed ACK (40 ms) */
                              "tcp_nodelay", "1",
                              /* civetweb's default is "*": any site's page could read the dashboard's files */
                              "access_control_allow_origin", "",
                              "additional_header", WEB_HEADERS};
    struct stat sb;
    if (stat(web_root, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        mgopts[18] = "document_root"; /* the dashboard, served as static files */
        mgopts[19] = web_root;
    } else {
        log_at(LOG_WARN, "api.no_dashboard", "web_root", web_root, "note", "folder missing; / is not served", NULL);
    }
    struct mg_callbacks cb = {0};
    cb.exit_thread = exit_thread;
    cb.log_message = log_message;
    struct mg_context *ctx = mg_start(&cb, &api, mgopts);
    if (ctx == NULL) {
        log_at(LOG_ERROR, "api.start_failed", "listen", listen, "error", "cannot listen (address in use?)", NULL);
        auth_free(api.auth);
        mg_exit_library();
        return 1;
    }
    relay_opts_t ro = {.redis = redis, .auth = api.auth, .guard = &api.guard};
    api.relay = relay_start(ctx, "/api/ws", &ro, err, sizeof err);
    if (api.relay == NULL) {
        log_at(LOG_ERROR, "api.start_failed", "error", err, NULL);
        mg_stop(ctx);
        auth_free(api.auth);
        mg_exit_library();
        return 1;
    }
    mg_set_request_handler(ctx, "/api/", dispatch, &api);
    mg_set_request_handler(ctx, "/healthz$", dispatch, &api);
    mg_set_request_handler(ctx, "/readyz$", dispatch, &api);
    mg_set_request_handler(ctx, "/metrics$", dispatch, &api);

    struct mg_server_port ports[4];
    int np = mg_get_server_ports(ctx, 4, ports);
    char port[16] = "?";
    if (np > 0) snprintf(port, sizeof port, "%d", ports[0].port);
    char where[300];
    log_at(LOG_INFO, "api.started", "listen", listen, "port", port, "redis", rconn_where(&redis, where, sizeof where), "auth",
           auth_enabled(api.auth) ? "tokens" : "open", NULL);

    while (!stopping) timefmt_sleep_ms(100);
    log_at(LOG_INFO, "api.stopping", NULL);
    relay_stop(api.relay);
    mg_stop(ctx);
    mg_exit_library();
    metrics_free(&api);
    auth_free(api.auth);
    pthread_mutex_destroy(&api.lock);
    log_at(LOG_INFO, "api.stopped", NULL);
    return 0;
}
