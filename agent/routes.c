/* routes.c - the node agent's health and container calls of docs/DRIVERS.md, against
 * real directories and processes or containers (agent/runtime.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "agent/agent.h"
#include "agent/fsx.h"
#include "agent/rcon.h"
#include "agent/runtime.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define FLUSH_POLL_MS 20 /* how often the console log is read for the flush confirmation */
#define SAVED_TEXT "Saved the game" /* vanilla's answer to save-all, on RCON and the console */
#define DELETE_POLL_MS 20 /* how often a DELETE looks whether its server's process has exited */
/* How long a DELETE waits for its server's exit beyond two stop timeouts (its SIGTERM,
 * then SIGKILL MIG_AGENT_STOP_TIMEOUT_MS later): the engine's stop call
 * may take DOCKER_STOP_GRACE_MS (30 s) past them, and an exit is seen within a poll.
 * Past it the DELETE kills what is left and goes on, as it did before it waited. */
#define DELETE_EXIT_SLACK_MS 40000

/* ------------------------------------------------------------------------ capacity */

static long long meminfo_total_mb(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    long long kb = 0;
    char line[128];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb / 1024;
}

/* RAM and disk a new container may still take, MB: the configured limits (else the
 * machine's RAM, and the free space of the servers' file system) minus what every
 * container holds. a->lock held. */
static void capacity(agent_t *a, long long *ram_free, long long *disk_free) {
    long long ram = a->ram_mb > 0 ? a->ram_mb : meminfo_total_mb(), disk = a->disk_mb;
    if (disk <= 0) {
        char path[600];
        snprintf(path, sizeof path, "%s/servers", a->dir);
        struct statvfs sv;
        disk = statvfs(path, &sv) == 0 ? (long long)((unsigned long long)sv.f_bavail * sv.f_frsize >> 20) : 0;
    }
    for (int i = 0; i < AGENT_SERVERS_MAX; i++)
        if (a->servers[i].in_use) ram -= a->servers[i].ram_mb, disk -= a->servers[i].disk_mb;
    *ram_free = ram > 0 ? ram : 0;
    *disk_free = disk > 0 ? disk : 0;
}

/* GET /v1/health */
static void health(agent_t *a, agent_req_t *r) {
    long long ram, disk;
    pthread_mutex_lock(&a->lock);
    capacity(a, &ram, &disk);
    pthread_mutex_unlock(&a->lock);
    char path[600];
    snprintf(path, sizeof path, "%s/state", a->dir);
    bool healthy = access(path, W_OK) == 0;
    char err[700] = "";
    if (!healthy) snprintf(err, sizeof err, "%.600s is not writable", path);
    else healthy = runtime_check(a, err, sizeof err) == 0; /* the engine answers, the cgroup is there */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "healthy", healthy);
    if (!healthy) cJSON_AddStringToObject(o, "error", err);
    cJSON_AddNumberToObject(o, "ram_free_mb", (double)ram);
    cJSON_AddNumberToObject(o, "disk_free_mb", (double)disk);
    http_reply(r, healthy ? 200 : 503, o);
}

/* ------------------------------------------------------------------------ containers */

static cJSON *state_body(const char *server_id, srv_state_t st) {
    cJSON *o = cJSON_CreateObject();
    if (server_id) cJSON_AddStringToObject(o, "server_id", server_id);
    cJSON_AddStringToObject(o, "state", state_name(st));
    return o;
}

/* A size member in MB into *out (`def` when absent); false after answering 400. */
static bool size_or_reply(agent_req_t *r, const char *name, long long def, long long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->body, name);
    if (v == NULL || cJSON_IsNull(v)) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9) {
        http_error(r, 400, "bad_request", "%s: a number of MB from 0", name);
        return false;
    }
    *out = (long long)v->valuedouble;
    return true;
}

/* The server of the path's {server_id}, or NULL after answering 404. a->lock held. */
static agent_server_t *server_or_reply(agent_t *a, agent_req_t *r) {
    agent_server_t *s = state_id_ok(r->params[0]) ? state_find_server(a, r->params[0]) : NULL;
    if (s == NULL) http_error(r, 404, "not_found", "no container of server %s", r->params[0]);
    return s;
}

/* False after answering 409 busy when another call acts on server `s` outside the lock
 * (agent.h): nothing changes. a->lock held. */
static bool idle_or_reply(agent_req_t *r, const agent_server_t *s) {
    if (s->busy == NULL) return true;
    http_error(r, 409, "busy", "server %s is %s", s->id, s->busy);
    return false;
}

/* Empties a server's sync state (staging tree, record) for a new migration into it. */
static void reset_sync_state(agent_t *a, const char *id) {
    char path[600];
    const char *base;
    state_staging_dir(a, id, path, sizeof path);
    int pfd = fsx_open_parent(path, &base);
    if (pfd >= 0) fsx_remove_tree(pfd, base), close(pfd);
    state_sync_dir(a, id, path, sizeof path);
    pfd = fsx_open_parent(path, &base);
    if (pfd >= 0) fsx_remove_tree(pfd, base), close(pfd);
    mkdir(path, 0700);
}

/* POST /v1/containers */
static void container_create(agent_t *a, agent_req_t *r) {
    const char *id = http_str(r, "server_id"), *mid = http_migration_of(r);
    long long ram, disk;
    if (!state_id_ok(id)) {
        http_error(r, 400, "bad_request", "server_id: 1-127 bytes of A-Z a-z 0-9 _ . - (not starting with .)");
        return;
    }
    if (!size_or_reply(r, "ram_mb", 1024, &ram) || !size_or_reply(r, "disk_mb", 1024, &disk)) return;
    pthread_mutex_lock(&a->lock);
    if (!http_fence_or_reply(a, r)) goto out;
    agent_server_t *s = state_find_server(a, id);
    if (s && !idle_or_reply(r, s)) goto out;
    if (s) {
        if (*mid && strcmp(s->migration_id, mid) == 0) http_reply(r, 200, state_body(id, s->state));
        else
            http_error(r, 409, "exists", "server %s has a container here (%s)", id,
                       s->migration_id[0] ? "of another migration" : "its own");
        goto out;
    }
    long long ram_free, disk_free;
    capacity(a, &ram_free, &disk_free);
    if (ram > ram_free) {
        http_error(r, 507, "insufficient_ram", "%lld MB of RAM asked, %lld MB free", ram, ram_free);
        goto out;
    }
    if (disk > disk_free) {
        http_error(r, 507, "disk_full", "%lld MB of disk asked, %lld MB free", disk, disk_free);
        goto out;
    }
    char dir[600];
    state_server_dir(a, id, dir, sizeof dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        http_error(r, 500, "io", "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if ((s = state_new_server(a, id)) == NULL) {
        http_error(r, 507, "too_many_servers", "the agent holds %d containers", AGENT_SERVERS_MAX);
        goto out;
    }
    snprintf(s->migration_id, sizeof s->migration_id, "%s", mid);
    s->ram_mb = ram;
    s->disk_mb = disk;
    s->state = SRV_CREATED;
    s->awaiting_world = mid[0] != '\0';
    s->deferred = false;
    reset_sync_state(a, id);
    state_save(a);
    log_at(LOG_INFO, "agent.container_created", "server_id", id, "migration_id", mid, NULL);
    http_reply(r, 201, state_body(id, s->state));
out:
    pthread_mutex_unlock(&a->lock);
}

/* True when folder `dir` holds nothing (or cannot be read): no server to start there. */
static bool dir_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return true;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int routes_start_process(agent_t *a, agent_server_t *s, char *err, size_t errlen) {
    if (s->busy) {
        snprintf(err, errlen, "server %s is %s", s->id, s->busy);
        return MIG_EREFUSED;
    }
    char dir[600], props[640];
    state_server_dir(a, s->id, dir, sizeof dir);
    s->busy = "being started"; /* the engine's create and start take seconds */
    pthread_mutex_unlock(&a->lock);
    int rv = runtime_start(a, s, dir, err, errlen);
    pthread_mutex_lock(&a->lock);
    s->busy = NULL;
    if (rv != 0) return rv;
    /* a server with no server.properties has no port to wait for: running at once */
    snprintf(props, sizeof props, "%s/server.properties", dir);
    s->state = access(props, R_OK) == 0 ? SRV_STARTING : SRV_RUNNING;
    s->deferred = false;
    state_save(a);
    return 0;
}

/* POST /v1/containers/{server_id}/start */
static void container_start(agent_t *a, agent_req_t *r) {
    pthread_mutex_lock(&a->lock);
    agent_server_t *s;
    if (!http_fence_or_reply(a, r) || (s = server_or_reply(a, r)) == NULL || !idle_or_reply(r, s)) goto out;
    if (s->state == SRV_RUNNING || s->state == SRV_STARTING) {
        http_reply(r, s->state == SRV_RUNNING ? 200 : 202, state_body(NULL, s->state));
        goto out;
    }
    if (s->state == SRV_STOPPING) {
        http_error(r, 409, "stopping", "server %s is stopping", s->id);
        goto out;
    }
    s->quiesced = false;
    char dir[600];
    state_server_dir(a, s->id, dir, sizeof dir);
    if (s->awaiting_world && dir_empty(dir)) { /* it starts when the final pass brings the world */
        s->state = SRV_RUNNING;
        s->deferred = true;
        state_save(a);
        log_at(LOG_INFO, "agent.server_deferred", "server_id", s->id, "migration_id", s->migration_id, NULL);
        http_reply(r, 200, state_body(NULL, s->state));
        goto out;
    }
    char err[256];
    if (routes_start_process(a, s, err, sizeof err) != 0) {
        http_error(r, 500, "start_failed", "%s", err);
        goto out;
    }
    http_reply(r, s->state == SRV_RUNNING ? 200 : 202, state_body(NULL, s->state));
out:
    pthread_mutex_unlock(&a->lock);
}

/* What a running server says of itself: its players from RCON `list`, else (no RCON, or
 * RCON failed) from a Server List Ping of its game port, which every Minecraft server
 * answers without a plugin. Returns whether it answered either; a server without
 * server.properties has nothing to ask and counts as answering, with 0 players. A server
 * that hides its counts from the ping answers with 0. */
static bool server_answers(const runtime_props_t *p, int *players) {
    *players = 0;
    if (!p->found) return true;
    char *text = NULL;
    bool ok = false;
    if (p->rcon && runtime_rcon(p, "list", &text) == 0) {
        rcon_list_t l;
        if (rcon_parse_list(text, strlen(text), &l) == 0) {
            *players = l.online;
            ok = true;
            rcon_list_free(&l);
        }
    }
    free(text);
    slp_status_t st;
    if (!ok && runtime_slp(p->port, RUNTIME_SLP_TIMEOUT_MS, &st) == 0) {
        *players = st.has_players ? st.online : 0;
        ok = true;
    }
    return ok;
}

/* GET /v1/containers/{server_id} */
static void container_get(agent_t *a, agent_req_t *r) {
    pthread_mutex_lock(&a->lock);
    agent_server_t *s;
    if (!http_fence_or_reply(a, r) || (s = server_or_reply(a, r)) == NULL) {
        pthread_mutex_unlock(&a->lock);
        return;
    }
    srv_state_t st = s->state;
    bool alive = runtime_alive(a, s), deferred = s->deferred;
    char id[AGENT_ID_MAX], dir[600];
    snprintf(id, sizeof id, "%s", s->id);
    state_server_dir(a, id, dir, sizeof dir);
    pthread_mutex_unlock(&a->lock);
    runtime_props_t p;
    runtime_read_props(dir, &p);
    int players = 0;
    /* healthy: running, its process alive, and the game answering RCON or a ping; or
     * waiting for its world, with nothing that could fail yet */
    bool healthy = deferred || (st == SRV_RUNNING && alive && server_answers(&p, &players));
    char addr[AGENT_ADDR_MAX];
    snprintf(addr, sizeof addr, "%s:%d", a->public_host, p.port);
    cJSON *o = state_body(id, st);
    cJSON_AddBoolToObject(o, "healthy", healthy);
    cJSON_AddNumberToObject(o, "players", players);
    cJSON_AddStringToObject(o, "address", addr);
    http_reply(r, 200, o);
}

/* POST /v1/containers/{server_id}/stop */
static void container_stop(agent_t *a, agent_req_t *r) {
    pthread_mutex_lock(&a->lock);
    agent_server_t *s;
    if (!http_fence_or_reply(a, r) || (s = server_or_reply(a, r)) == NULL || !idle_or_reply(r, s)) goto out;
    if (s->deferred) { /* no process: stopped at once, and its world's arrival starts nothing */
        s->deferred = false;
        s->state = SRV_STOPPED;
        state_save(a);
    } else if (s->state == SRV_STARTING || s->state == SRV_RUNNING) {
        s->state = SRV_STOPPING;
        s->stop_stage = 0;
        s->stage_at_ms = timefmt_mono_ms();
        state_save(a);
        log_at(LOG_INFO, "agent.server_stopping", "server_id", s->id, NULL);
    } else if (s->state == SRV_CREATED) {
        s->state = SRV_STOPPED;
        state_save(a);
    }
    http_reply(r, s->state == SRV_STOPPED ? 200 : 202, state_body(NULL, s->state));
out:
    pthread_mutex_unlock(&a->lock);
}

/* Removes a deleted server's directory and sync state. a->lock NOT held: a world of
 * gigabytes takes seconds to unlink. */
static void remove_server_files(agent_t *a, const char *id) {
    char path[600];
    const char *base;
    state_server_dir(a, id, path, sizeof path);
    int pfd = fsx_open_parent(path, &base);
    if (pfd >= 0) fsx_remove_tree(pfd, base), close(pfd);
    reset_sync_state(a, id);
    state_sync_dir(a, id, path, sizeof path);
    rmdir(path);
}

/* DELETE /v1/containers/{server_id}
 * A server still running is stopped (SIGTERM, then SIGKILL), and its exit awaited; then its
 * passes end, the runtime releases it and its files go. All of that happens without
 * a->lock, the server marked busy: the agent's other calls go on meanwhile, and those
 * that would change this server answer 409 busy. The entry goes (persisted) last, so a
 * kill -9 at any point restarts with the server still there, stopping or stopped, and a
 * DELETE asked again finishes it. */
static void container_delete(agent_t *a, agent_req_t *r) {
    pthread_mutex_lock(&a->lock);
    agent_server_t *s;
    if (!http_fence_or_reply(a, r) || (s = server_or_reply(a, r)) == NULL || !idle_or_reply(r, s)) goto out;
    s->busy = "being deleted";
    char id[AGENT_ID_MAX];
    snprintf(id, sizeof id, "%s", s->id);
    if (s->deferred || s->pid <= 0) {
        s->deferred = false;
        if (s->state != SRV_CREATED) s->state = SRV_STOPPED;
    } else if (s->state != SRV_STOPPING || s->stop_stage < 1) {
        /* its world goes: no RCON `stop` (on a shared address it could reach another
         * server), straight to SIGTERM or the engine's stop, which a server obeys by
         * saving and exiting, then SIGKILL after the stop timeout */
        s->state = SRV_STOPPING;
        s->stop_stage = 1;
        s->stage_at_ms = timefmt_mono_ms();
        log_at(LOG_INFO, "agent.server_stopping", "server_id", id, "why", "deleted", NULL);
    }
    state_save(a);
    /* the monitor walks the stop's stages and sees the exit (pid 0) */
    int64_t end = timefmt_mono_ms() + 2 * a->stop_timeout_ms + DELETE_EXIT_SLACK_MS;
    a->waiting++;
    while (s->pid > 0 && !a->stopping && timefmt_mono_ms() < end) {
        pthread_mutex_unlock(&a->lock);
        timefmt_sleep_ms(DELETE_POLL_MS);
        pthread_mutex_lock(&a->lock);
    }
    if (s->pid > 0 && a->stopping) { /* the agent stops: the server stays, stopping, for a DELETE again */
        s->busy = NULL;
        http_error(r, 503, "stopping", "the agent is stopping; server %s is stopping", id);
        a->waiting--;
        goto out;
    }
    a->waiting--;
    sync_routes_cancel_server(a, id);
    if (s->stdin_fd >= 0) close(s->stdin_fd);
    s->stdin_fd = -1;
    agent_server_t copy = *s; /* what the runtime reads while the lock is free */
    pthread_mutex_unlock(&a->lock);
    runtime_discard(a, &copy); /* kills what outlived the wait, releases the container */
    remove_server_files(a, id);
    pthread_mutex_lock(&a->lock);
    sync_routes_cancel_server(a, id); /* a pass begun meanwhile */
    s->busy = NULL;
    s->in_use = false; /* the monitor reaps a process killed above; no server has its pid any more */
    state_save(a);
    log_at(LOG_INFO, "agent.container_deleted", "server_id", id, NULL);
    http_reply(r, 204, NULL);
out:
    pthread_mutex_unlock(&a->lock);
}

/* Waits for "Saved the game" in the console log after byte `from`. 0 or MIG_ETIMEOUT. */
static int wait_console_flush(const char *dir, off_t from) {
    char path[640];
    snprintf(path, sizeof path, "%s/%s", dir, RUNTIME_CONSOLE_LOG);
    int64_t end = timefmt_mono_ms() + RUNTIME_RCON_TIMEOUT_MS;
    char buf[8192];
    while (timefmt_mono_ms() < end) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            ssize_t n = pread(fd, buf, sizeof buf - 1, from);
            close(fd);
            if (n > 0) {
                buf[n] = '\0';
                if (strstr(buf, SAVED_TEXT)) return 0;
            }
        }
        timefmt_sleep_ms(FLUSH_POLL_MS);
    }
    return MIG_ETIMEOUT;
}

/* Autosave off and every chunk flushed (`off`), or autosave on: RCON when the server has
 * it, else its console. 0, or MIG_E* with the reason in `err`. a->lock NOT held: `s` is
 * a copy whose console is the caller's own duplicate. */
static int quiesce(agent_server_t *s, const char *dir, bool off, char *err, size_t errlen) {
    runtime_props_t p;
    runtime_read_props(dir, &p);
    char *text = NULL;
    int rv;
    bool already;
    if (p.rcon) {
        rv = runtime_rcon(&p, off ? "save-off" : "save-on", &text);
        if (rv == 0) rv = rcon_parse_saving(text, strlen(text), !off, &already);
        if (rv == 0 && off) {
            free(text);
            text = NULL;
            rv = runtime_rcon(&p, "save-all flush", &text);
            if (rv == 0) rv = rcon_parse_save_all(text, strlen(text));
        }
        snprintf(err, errlen, "RCON: %s%s%s", mig_strerror(rv), text ? ": " : "", text ? text : "");
        free(text);
        return rv;
    }
    struct stat sb;
    char log[640];
    snprintf(log, sizeof log, "%s/%s", dir, RUNTIME_CONSOLE_LOG);
    off_t from = stat(log, &sb) == 0 ? sb.st_size : 0;
    rv = runtime_console(s, off ? "save-off" : "save-on");
    if (rv == 0 && off) rv = runtime_console(s, "save-all flush");
    if (rv == 0 && off) rv = wait_console_flush(dir, from);
    snprintf(err, errlen, "console: %s", rv == MIG_ETIMEOUT ? "no \"" SAVED_TEXT "\" in the console log"
                                                           : mig_strerror(rv));
    return rv;
}

/* POST /v1/containers/{server_id}/quiesce */
static void container_quiesce(agent_t *a, agent_req_t *r) {
    const char *save = http_str(r, "save");
    if (save == NULL || (strcmp(save, "off") != 0 && strcmp(save, "on") != 0)) {
        http_error(r, 400, "bad_request", "save: \"off\" or \"on\"");
        return;
    }
    bool off = strcmp(save, "off") == 0;
    pthread_mutex_lock(&a->lock);
    agent_server_t *s;
    if (!http_fence_or_reply(a, r) || (s = server_or_reply(a, r)) == NULL || !idle_or_reply(r, s)) goto out;
    if (s->state != SRV_RUNNING) {
        http_error(r, 409, "not_running", "server %s is %s", s->id, state_name(s->state));
        goto out;
    }
    char dir[600], err[512];
    state_server_dir(a, s->id, dir, sizeof dir);
    /* the exchange (up to RUNTIME_RCON_TIMEOUT_MS twice) without the lock; the server
     * busy, so that no other call of it acts in between; the console a duplicate, which
     * an exit that closes the server's own cannot pull away */
    agent_server_t copy = *s;
    copy.stdin_fd = s->stdin_fd >= 0 ? fcntl(s->stdin_fd, F_DUPFD_CLOEXEC, 0) : -1;
    s->busy = "being quiesced";
    pthread_mutex_unlock(&a->lock);
    int rv = quiesce(&copy, dir, off, err, sizeof err);
    if (copy.stdin_fd >= 0) close(copy.stdin_fd);
    pthread_mutex_lock(&a->lock);
    s->busy = NULL;
    if (rv == 0 && s->state != SRV_RUNNING) {
        rv = MIG_EUNREACHABLE;
        snprintf(err, sizeof err, "server %s is %s: it exited while quiesced", s->id, state_name(s->state));
    }
    if (rv != 0) {
        http_error(r, rv == MIG_EUNREACHABLE || rv == MIG_ETIMEOUT ? 503 : 500, "quiesce_failed", "%s", err);
        goto out;
    }
    s->quiesced = off;
    state_save(a);
    log_at(LOG_INFO, "agent.quiesced", "server_id", s->id, "save", save, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "flushed", off);
    cJSON_AddStringToObject(o, "save", save);
    http_reply(r, 200, o);
out:
    pthread_mutex_unlock(&a->lock);
}

bool routes_handle(agent_t *a, agent_req_t *r) {
    static const struct {
        const char *method, *pattern;
        void (*fn)(agent_t *, agent_req_t *);
    } routes[] = {
        {"GET", "/v1/health", health},
        {"POST", "/v1/containers", container_create},
        {"GET", "/v1/containers/{server_id}", container_get},
        {"POST", "/v1/containers/{server_id}/start", container_start},
        {"POST", "/v1/containers/{server_id}/stop", container_stop},
        {"DELETE", "/v1/containers/{server_id}", container_delete},
        {"POST", "/v1/containers/{server_id}/quiesce", container_quiesce},
    };
    bool known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (http_route(r, routes[i].method, routes[i].pattern)) {
            routes[i].fn(a, r);
            return true;
        }
        if (path_match(routes[i].pattern, r->path, NULL, 0)) known = true;
    }
    if (known) http_error(r, 405, "method_not_allowed", "%s is not allowed on %s", r->method, r->path);
    return known;
}
