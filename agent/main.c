/* main.c - bin/migrate-agent: the node agent of docs/DRIVERS.md on a real hosting node.
 * Runs servers as processes, copies worlds between agents, keeps its state on disk. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <curl/curl.h>

#include "agent/agent.h"
#include "agent/runtime.h"
#include "agent/tls.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define PROGRAM "migrate-agent"
#define OPTS_MAX 40 /* room for bind_settings' list, which says how many it wrote */

static volatile sig_atomic_t signalled;

static void on_signal(int sig) {
    (void)sig;
    signalled = 1;
}

typedef struct {
    const char *listen, *dir, *token, *peer_token, *runtime, *command, *ram_mb, *disk_mb, *public_host, *peer_url,
        *stop_timeout_ms, *sync_rate, *checkpoint_mb, *max_passes, *memory_limit, *tls_cert, *client_ca, *peer_ca, *peer_cert,
        *peer_key, *threads, *log_level, *cgroup_parent, *docker_socket, *docker_image, *docker_mount, *docker_ulimits;
} settings_t;

static int bind_settings(settings_t *v, config_opt_t *o) {
    int i = 0;
    o[i++] = (config_opt_t){"MIG_AGENT_LISTEN", "127.0.0.1:7070", "address:port to serve (port 0: any free one, logged)", &v->listen};
    o[i++] = (config_opt_t){"MIG_AGENT_DIR", "/var/lib/migrate-agent", "servers' directories (servers/) and the agent's state (state/)", &v->dir};
    o[i++] = (config_opt_t){"MIG_AGENT_TOKEN", NULL, "bearer token the worker sends (its MIG_DRIVER_TOKEN); unset: no check", &v->token};
    o[i++] = (config_opt_t){"MIG_AGENT_PEER_TOKEN", NULL, "bearer token between agents for world syncs; unset: no check", &v->peer_token};
    o[i++] = (config_opt_t){"MIG_AGENT_RUNTIME", "process", "how servers run: process (a child process) or docker (a container of the Docker Engine API)", &v->runtime};
    o[i++] = (config_opt_t){"MIG_AGENT_COMMAND", "java -Xmx{ram_mb}M -jar server.jar nogui",
                            "command of a server, run by sh in its directory; {ram_mb} {server_id} {dir} {port}", &v->command};
    o[i++] = (config_opt_t){"MIG_AGENT_RAM_MB", "0", "RAM offered to servers, MB (0: the machine's)", &v->ram_mb};
    o[i++] = (config_opt_t){"MIG_AGENT_DISK_MB", "0", "disk offered to servers, MB (0: the free space of MIG_AGENT_DIR)", &v->disk_mb};
    o[i++] = (config_opt_t){"MIG_AGENT_PUBLIC_HOST", NULL, "host in a server's address for the proxy (default: the listen host)", &v->public_host};
    o[i++] = (config_opt_t){"MIG_AGENT_PEER_URL", "http://{source_address}",
                            "base URL of a source agent; {source_address} is host[:port], port 7070 when absent", &v->peer_url};
    o[i++] = (config_opt_t){"MIG_AGENT_STOP_TIMEOUT_MS", "30000", "from `stop` to SIGTERM, and from SIGTERM to SIGKILL", &v->stop_timeout_ms};
    o[i++] = (config_opt_t){"MIG_AGENT_SYNC_RATE_MBPS", "0", "MB/s one pass may pull (0: unlimited)", &v->sync_rate};
    o[i++] = (config_opt_t){"MIG_AGENT_SYNC_CHECKPOINT_MB", "64", "MB copied between checkpoints of a pass", &v->checkpoint_mb};
    o[i++] = (config_opt_t){"MIG_AGENT_MAX_PASSES", "4", "passes copying into this node at once", &v->max_passes};
    o[i++] = (config_opt_t){"MIG_AGENT_MEMORY_LIMIT", "rlimit", "process runtime: rlimit (RLIMIT_AS of 2 x ram_mb + 512 MB), cgroup (a memory cgroup of ram_mb + 256 MB) or none", &v->memory_limit};
    o[i++] = (config_opt_t){"MIG_AGENT_CGROUP_PARENT", NULL,
                            "cgroup folder of the servers' cgroups (default: /sys/fs/cgroup/memory/migrate-agent on cgroup v1, /sys/fs/cgroup/migrate-agent on v2)", &v->cgroup_parent};
    o[i++] = (config_opt_t){"MIG_AGENT_DOCKER_SOCKET", "/var/run/docker.sock", "docker runtime: the engine's unix socket (podman's works too)", &v->docker_socket};
    o[i++] = (config_opt_t){"MIG_AGENT_DOCKER_IMAGE", NULL, "docker runtime: image of the servers' containers (required)", &v->docker_image};
    o[i++] = (config_opt_t){"MIG_AGENT_DOCKER_MOUNT", "/data", "docker runtime: where a server's directory is mounted in its container (its {dir})", &v->docker_mount};
    o[i++] = (config_opt_t){"MIG_AGENT_DOCKER_ULIMITS", "own",
                            "docker runtime: a container's nofile and nproc: own (the agent's hard limits), engine (its defaults) or a list like nofile=65536,nproc=32768", &v->docker_ulimits};
    o[i++] = (config_opt_t){"MIG_AGENT_TLS_CERT", NULL, "PEM file with certificate and key: serve https", &v->tls_cert};
    o[i++] = (config_opt_t){"MIG_AGENT_TLS_CLIENT_CA", NULL,
                            "with MIG_AGENT_TLS_CERT: every client (worker, target agents) must show a certificate this CA file signed", &v->client_ca};
    o[i++] = (config_opt_t){"MIG_AGENT_PEER_CA_FILE", NULL, "CA file to verify source agents over https", &v->peer_ca};
    o[i++] = (config_opt_t){"MIG_AGENT_PEER_CERT_FILE", NULL, "client certificate shown to source agents", &v->peer_cert};
    o[i++] = (config_opt_t){"MIG_AGENT_PEER_KEY_FILE", NULL, "its key", &v->peer_key};
    o[i++] = (config_opt_t){"MIG_AGENT_THREADS", "16", "HTTP worker threads", &v->threads};
    o[i++] = (config_opt_t){"MIG_LOG_LEVEL", "info", "debug, info, warn or error", &v->log_level};
    return i;
}

static int log_message(const struct mg_connection *conn, const char *message) {
    (void)conn;
    log_at(LOG_WARN, "agent.http", "message", message, NULL);
    return 1;
}

static int dispatch(struct mg_connection *conn, void *cbdata) {
    return http_serve(cbdata, conn);
}

/* Checks and applies the settings to `a`. 0 or MIG_EINVALID with `err`. */
static int setup(agent_t *a, const settings_t *v, long long *threads, char *err, size_t errlen) {
    long long ram, disk, stop, rate, ckpt, passes;
    int rv;
    if ((rv = config_int("MIG_AGENT_RAM_MB", v->ram_mb, 0, 1LL << 30, &ram, err, errlen)) ||
        (rv = config_int("MIG_AGENT_DISK_MB", v->disk_mb, 0, 1LL << 40, &disk, err, errlen)) ||
        (rv = config_int("MIG_AGENT_STOP_TIMEOUT_MS", v->stop_timeout_ms, 100, 3600000, &stop, err, errlen)) ||
        (rv = config_int("MIG_AGENT_SYNC_RATE_MBPS", v->sync_rate, 0, 1 << 20, &rate, err, errlen)) ||
        (rv = config_int("MIG_AGENT_SYNC_CHECKPOINT_MB", v->checkpoint_mb, 1, 1 << 20, &ckpt, err, errlen)) ||
        (rv = config_int("MIG_AGENT_MAX_PASSES", v->max_passes, 1, 256, &passes, err, errlen)) ||
        (rv = config_int("MIG_AGENT_THREADS", v->threads, 2, 256, threads, err, errlen)))
        return rv;
    if ((a->rt = runtime_find(v->runtime)) == NULL) {
        snprintf(err, errlen, "MIG_AGENT_RUNTIME: process or docker");
        return MIG_EINVALID;
    }
    if (strcmp(v->memory_limit, "rlimit") != 0 && strcmp(v->memory_limit, "none") != 0 &&
        strcmp(v->memory_limit, "cgroup") != 0) {
        snprintf(err, errlen, "MIG_AGENT_MEMORY_LIMIT: rlimit, cgroup or none");
        return MIG_EINVALID;
    }
    if (v->client_ca && *v->client_ca && !(v->tls_cert && *v->tls_cert)) {
        snprintf(err, errlen, "MIG_AGENT_TLS_CLIENT_CA: needs MIG_AGENT_TLS_CERT (client certificates are checked over https)");
        return MIG_EINVALID;
    }
    if (v->client_ca && *v->client_ca && access(v->client_ca, R_OK) != 0) {
        snprintf(err, errlen, "MIG_AGENT_TLS_CLIENT_CA: cannot read %s", v->client_ca);
        return MIG_EINVALID;
    }
    if (strstr(v->peer_url, "{source_address}") == NULL) {
        snprintf(err, errlen, "MIG_AGENT_PEER_URL: must hold {source_address}");
        return MIG_EINVALID;
    }
    a->dir = v->dir;
    a->token = v->token && *v->token ? v->token : NULL;
    a->peer_token = v->peer_token && *v->peer_token ? v->peer_token : NULL;
    a->command = v->command;
    a->peer_url = v->peer_url;
    a->ca_file = v->peer_ca, a->cert_file = v->peer_cert, a->key_file = v->peer_key;
    a->ram_mb = ram, a->disk_mb = disk, a->stop_timeout_ms = stop;
    a->sync_rate = rate << 20, a->checkpoint_bytes = ckpt << 20, a->max_passes = passes;
    bool process = a->rt == &runtime_process_ops;
    a->memory_rlimit = process && strcmp(v->memory_limit, "rlimit") == 0;
    a->memory_cgroup = process && strcmp(v->memory_limit, "cgroup") == 0;
    a->cgroup_parent = v->cgroup_parent;
    if (a->cgroup_parent == NULL) /* v1's memory hierarchy where mounted, else the v2 root */
        a->cgroup_parent = access("/sys/fs/cgroup/memory", F_OK) == 0 ? "/sys/fs/cgroup/memory/migrate-agent"
                                                                      : "/sys/fs/cgroup/migrate-agent";
    a->docker_socket = v->docker_socket, a->docker_image = v->docker_image, a->docker_mount = v->docker_mount;
    a->docker_ulimits = v->docker_ulimits;
    /* folders: created here, private to the agent's user */
    char path[600];
    const char *sub[] = {"", "/servers", "/state", "/state/sync"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(path, sizeof path, "%s%s", a->dir, sub[i]);
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %.400s: %s", path, strerror(errno));
            return MIG_EINVALID;
        }
    }
    return a->rt->setup(a, err, errlen);
}

int main(int argc, char **argv) {
    static agent_t agent;
    settings_t v;
    config_opt_t opts[OPTS_MAX];
    int nopts = bind_settings(&v, opts);
    char err[512];
    int rv = config_load(opts, nopts, argc, argv, PROGRAM,
                         "the node agent: runs Minecraft servers as processes or containers and copies worlds between nodes", err,
                         sizeof err);
    if (rv == 1) return 0;
    long long threads = 16;
    if (rv == 0) {
        config_common_t common = {.log_level = v.log_level};
        rv = config_log(&common, PROGRAM, err, sizeof err);
    }
    agent_t *a = &agent;
    a->passes = calloc(AGENT_PASSES_MAX, sizeof *a->passes);
    a->fence = calloc(AGENT_FENCE_MAX, sizeof *a->fence);
    if (rv == 0 && (a->passes == NULL || a->fence == NULL)) rv = MIG_ENOMEM, snprintf(err, sizeof err, "out of memory");
    if (rv == 0) rv = setup(a, &v, &threads, err, sizeof err);
    if (rv == 0) rv = state_load(a, err, sizeof err);
    if (rv == 0 && v.tls_cert) rv = agent_tls_prepare(err, sizeof err); /* before civetweb's TLS */
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        free(a->passes);
        free(a->fence);
        return 2;
    }
    /* the host of a server's address: the listen host unless it is a wildcard */
    char host[256];
    snprintf(host, sizeof host, "%s", v.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    if (v.public_host) snprintf(host, sizeof host, "%s", v.public_host);
    else if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0) snprintf(host, sizeof host, "127.0.0.1");
    a->public_host = host;

    pthread_mutex_init(&a->lock, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mg_init_library(v.tls_cert ? MG_FEATURES_TLS : 0);

    char listen[300], nthreads[16];
    snprintf(listen, sizeof listen, "%s%s", v.listen, v.tls_cert ? "s" : "");
    snprintf(nthreads, sizeof nthreads, "%lld", threads);
    const char *mgopts[18] = {"listening_ports", listen, "num_threads", nthreads, "request_timeout_ms", "30000",
                              "enable_keep_alive", "yes",
                              "tcp_nodelay", "1", /* no 40 ms delayed-ACK stall (docs/DRIVERS.md) */
                              NULL};
    if (v.tls_cert) mgopts[10] = "ssl_certificate", mgopts[11] = v.tls_cert;
    if (v.tls_cert && v.client_ca && *v.client_ca) /* the handshake refuses a client without one */
        mgopts[12] = "ssl_ca_file", mgopts[13] = v.client_ca, mgopts[14] = "ssl_verify_peer", mgopts[15] = "yes";
    struct mg_callbacks cb = {0};
    cb.log_message = log_message;
    int status = 1;
    struct mg_context *ctx = mg_start(&cb, a, mgopts);
    bool monitoring = false;
    if (ctx == NULL) {
        log_at(LOG_ERROR, "agent.start_failed", "listen", listen, "error", "cannot listen (address in use? TLS?)", NULL);
        goto out;
    }
    if (pthread_create(&a->monitor, NULL, runtime_monitor, a) != 0) goto out;
    monitoring = true;
    sync_routes_resume(a);
    mg_set_request_handler(ctx, "/v1/", dispatch, a);
    struct mg_server_port ports[4];
    char port[16] = "?";
    if (mg_get_server_ports(ctx, 4, ports) > 0) snprintf(port, sizeof port, "%d", ports[0].port);
    log_at(LOG_INFO, "agent.started", "listen", listen, "port", port, "dir", a->dir, "runtime", v.runtime, "auth",
           a->token ? "token" : "open", NULL);
    while (!signalled) {
        timefmt_sleep_ms(50);
    }
    log_at(LOG_INFO, "agent.stopping", NULL);
    status = 0;
out:
    /* first: a handler waiting on a server (a DELETE awaiting its exit) gives up at once and
     * answers 503, so that mg_stop, which waits for every handler and lets none write, does
     * not wait for a stop timeout (a handler looks every 20 ms; the bound is for a bug) */
    a->stopping = 1;
    for (int64_t end = timefmt_mono_ms() + 10000; timefmt_mono_ms() < end;) {
        pthread_mutex_lock(&a->lock);
        int waiting = a->waiting;
        pthread_mutex_unlock(&a->lock);
        if (waiting == 0)
            break;
        timefmt_sleep_ms(5);
    }
    if (ctx) mg_stop(ctx);
    if (monitoring) pthread_join(a->monitor, NULL);
    sync_routes_shutdown(a);
    /* the servers keep running: they are in their own process groups, and a restarted
     * agent adopts them (state.c) */
    mg_exit_library();
    curl_global_cleanup();
    pthread_mutex_destroy(&a->lock);
    free(a->passes);
    free(a->fence);
    if (status == 0) log_at(LOG_INFO, "agent.stopped", NULL);
    return status;
}
