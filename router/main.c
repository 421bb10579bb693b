/* main.c - bin/migrate-router: a Minecraft router (players reach servers by host name
 * through it; bytes spliced untouched), the proxy-bridge half of docs/DRIVERS.md over
 * HTTP, and the waiting room in which players wait while their server moves. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "router/router.h"

#define PROGRAM "migrate-router"
#define N_OPTS 19

typedef struct {
    const char *listen, *http_listen, *token, *public_host, *public_port, *domain, *hosts, *state_file, *rewrite,
        *handshake_timeout, *connect_timeout, *keepalive, *transfer_ttl, *leave_grace, *per_ip, *conns_max,
        *expected_wait, *message, *log_level;
} settings_t;

static void bind_settings(settings_t *v, config_opt_t *o) {
    int i = 0;
    o[i++] = (config_opt_t){"MIG_ROUTER_LISTEN", "0.0.0.0:25565", "game port players connect to (port 0: any free one, logged)", &v->listen};
    o[i++] = (config_opt_t){"MIG_ROUTER_HTTP_LISTEN", "127.0.0.1:7071", "the proxy bridge's HTTP port (the worker's MIG_DRIVER_PROXY_URL; port 0: any, logged)", &v->http_listen};
    o[i++] = (config_opt_t){"MIG_ROUTER_TOKEN", NULL, "bearer token the worker sends (its MIG_DRIVER_TOKEN); unset: no check", &v->token};
    o[i++] = (config_opt_t){"MIG_ROUTER_PUBLIC_HOST", NULL, "host Transfer packets point at: how players reach this router (default: the listen host, 127.0.0.1 for a wildcard)", &v->public_host};
    o[i++] = (config_opt_t){"MIG_ROUTER_PUBLIC_PORT", "0", "port Transfer packets point at (0: the game port bound)", &v->public_port};
    o[i++] = (config_opt_t){"MIG_ROUTER_DOMAIN", NULL, "players join <name>.<domain>; unset: the whole host is the name", &v->domain};
    o[i++] = (config_opt_t){"MIG_ROUTER_HOSTS", NULL, "explicit host=name,host=name rows, looked up first", &v->hosts};
    o[i++] = (config_opt_t){"MIG_ROUTER_STATE_FILE", "/var/lib/migrate-router/router.json", "servers, rooms and fencing table, kept across restarts", &v->state_file};
    o[i++] = (config_opt_t){"MIG_ROUTER_REWRITE_TRANSFER", "1", "1: forward a transfer's handshake (intent 3) as a login (2); 0: as it came", &v->rewrite};
    o[i++] = (config_opt_t){"MIG_ROUTER_HANDSHAKE_TIMEOUT_MS", "5000", "time a client has for its handshake and login start", &v->handshake_timeout};
    o[i++] = (config_opt_t){"MIG_ROUTER_CONNECT_TIMEOUT_MS", "5000", "time a backend has to accept the connection", &v->connect_timeout};
    o[i++] = (config_opt_t){"MIG_ROUTER_KEEPALIVE_MS", "5000", "interval of Keep Alives in a waiting room (clients give up after 30 s)", &v->keepalive};
    o[i++] = (config_opt_t){"MIG_ROUTER_TRANSFER_TTL_MS", "60000", "how long a transferred player's destination is kept for its reconnect", &v->transfer_ttl};
    o[i++] = (config_opt_t){"MIG_ROUTER_LEAVE_GRACE_MS", "10000", "after a Transfer or Disconnect, time before the router closes a client that stays", &v->leave_grace};
    o[i++] = (config_opt_t){"MIG_ROUTER_PER_IP_MAX", "32", "connections one client address may hold", &v->per_ip};
    o[i++] = (config_opt_t){"MIG_ROUTER_MAX_CONNECTIONS", "20000", "connections the router holds at once", &v->conns_max};
    o[i++] = (config_opt_t){"MIG_ROUTER_EXPECTED_WAIT_S", "60", "the wait told to clients before 1.20.5 while their server moves", &v->expected_wait};
    o[i++] = (config_opt_t){"MIG_ROUTER_MESSAGE", "Server wird migriert... bitte warten", "a waiting room's message (server list, old clients)", &v->message};
    o[i++] = (config_opt_t){"MIG_LOG_LEVEL", "info", "debug, info, warn or error", &v->log_level};
}

static int log_message(const struct mg_connection *conn, const char *message) {
    (void)conn;
    log_at(LOG_WARN, "router.http", "message", message, NULL);
    return 1;
}

static int dispatch(struct mg_connection *conn, void *cbdata) {
    return http_serve(cbdata, conn);
}

/* Checks the settings and applies them to `rt`. 0 or MIG_EINVALID with `err`. */
static int setup(router_t *rt, const settings_t *v, char *err, size_t errlen) {
    long long pport, rewrite;
    int rv;
    if ((rv = config_int("MIG_ROUTER_PUBLIC_PORT", v->public_port, 0, 65535, &pport, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_REWRITE_TRANSFER", v->rewrite, 0, 1, &rewrite, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_HANDSHAKE_TIMEOUT_MS", v->handshake_timeout, 50, 600000, &rt->handshake_timeout_ms, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_CONNECT_TIMEOUT_MS", v->connect_timeout, 50, 600000, &rt->connect_timeout_ms, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_KEEPALIVE_MS", v->keepalive, 10, 25000, &rt->keepalive_ms, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_TRANSFER_TTL_MS", v->transfer_ttl, 100, 3600000, &rt->transfer_ttl_ms, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_LEAVE_GRACE_MS", v->leave_grace, 10, 600000, &rt->leave_grace_ms, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_PER_IP_MAX", v->per_ip, 1, 1000000, &rt->per_ip_max, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_MAX_CONNECTIONS", v->conns_max, 1, 1000000, &rt->conns_max, err, errlen)) ||
        (rv = config_int("MIG_ROUTER_EXPECTED_WAIT_S", v->expected_wait, 0, 86400, &rt->expected_wait_s, err, errlen)))
        return rv;
    if ((rv = hostmap_init(&rt->hosts, v->domain, v->hosts, err, errlen)) != 0) return rv;
    rt->token = v->token && *v->token ? v->token : NULL;
    rt->state_file = v->state_file;
    rt->rewrite_transfer = rewrite == 1;
    rt->message = v->message;
    rt->public_port = (uint16_t)pport;
    /* the host Transfers point at: the listen host unless it is a wildcard */
    snprintf(rt->public_host, sizeof rt->public_host, "%s", v->public_host ? v->public_host : v->listen);
    if (v->public_host == NULL) {
        char *colon = strrchr(rt->public_host, ':');
        if (colon) *colon = '\0';
        if (rt->public_host[0] == '\0' || strcmp(rt->public_host, "0.0.0.0") == 0 || strcmp(rt->public_host, "[::]") == 0)
            snprintf(rt->public_host, sizeof rt->public_host, "127.0.0.1");
    }
    return 0;
}

int main(int argc, char **argv) {
    static router_t router;
    router_t *rt = &router;
    settings_t v;
    config_opt_t opts[N_OPTS];
    bind_settings(&v, opts);
    char err[512];
    int rv = config_load(opts, N_OPTS, argc, argv, PROGRAM,
                         "a Minecraft router with the proxy bridge of docs/DRIVERS.md and a waiting room", err,
                         sizeof err);
    if (rv == 1) return 0;
    if (rv == 0) {
        config_common_t common = {.log_level = v.log_level};
        rv = config_log(&common, PROGRAM, err, sizeof err);
    }
    if (rv == 0 && table_init(&rt->table) != 0) rv = MIG_ENOMEM, snprintf(err, sizeof err, "out of memory");
    if (rv == 0) rv = setup(rt, &v, err, sizeof err);
    if (rv == 0) rv = state_load(rt, err, sizeof err);
    pthread_mutex_init(&rt->lock, NULL);
    if (rv == 0) rv = net_start(rt, v.listen, err, sizeof err);
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        net_free(rt);
        table_free(&rt->table);
        return 2;
    }
    if (rt->public_port == 0) rt->public_port = (uint16_t)rt->port;
    signal(SIGPIPE, SIG_IGN);
    mg_init_library(0);
    const char *mgopts[] = {"listening_ports", v.http_listen, "num_threads", "8", "request_timeout_ms", "30000",
                            "enable_keep_alive", "yes", "tcp_nodelay", "1", /* no delayed-ACK stall (DRIVERS.md) */
                            NULL};
    struct mg_callbacks cb = {0};
    cb.log_message = log_message;
    struct mg_context *ctx = mg_start(&cb, rt, mgopts);
    int status = 1;
    if (ctx == NULL) {
        log_at(LOG_ERROR, "router.start_failed", "listen", v.http_listen, "error", "cannot listen (address in use?)", NULL);
        goto out;
    }
    mg_set_request_handler(ctx, "/v1/", dispatch, rt);
    mg_set_request_handler(ctx, "/metrics", dispatch, rt);
    struct mg_server_port ports[4];
    char port[16] = "?", http_port[16] = "?", pub[16];
    snprintf(port, sizeof port, "%d", rt->port);
    if (mg_get_server_ports(ctx, 4, ports) > 0) snprintf(http_port, sizeof http_port, "%d", ports[0].port);
    snprintf(pub, sizeof pub, "%u", rt->public_port);
    log_at(LOG_INFO, "router.started", "port", port, "http_port", http_port, "listen", v.listen, "public_host",
           rt->public_host, "public_port", pub, "domain", rt->hosts.domain, "auth", rt->token ? "token" : "open", NULL);
    net_run(rt);
    log_at(LOG_INFO, "router.stopping", NULL);
    status = 0;
out:
    if (ctx) mg_stop(ctx);
    net_free(rt);
    mg_exit_library();
    table_free(&rt->table);
    pthread_mutex_destroy(&rt->lock);
    if (status == 0) log_at(LOG_INFO, "router.stopped", NULL);
    return status;
}
