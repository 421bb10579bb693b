/* runtime_docker.c - the `docker` runtime: a server is a container of the Docker Engine
 * API (or podman's compatible service) reached over its unix socket with libcurl. Its
 * directory is bind-mounted into the container, its memory limited by the engine, and it
 * runs on the host's network, so that RCON and the Server List Ping reach it at the port
 * of its server.properties as they reach a process. A monitor thread polls the engine
 * for exits and walks stopping servers through RCON `stop` and the engine's stop. */
#include "agent/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>

#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define DOCKER_API "/v1.40"         /* Docker 19.03+ and podman 3+ answer it */
#define DOCKER_NAME_PREFIX "mig-"   /* a server's container is mig-<server_id> */
#define DOCKER_CALL_MS 10000        /* one engine call; create and start copy nothing */
#define DOCKER_PING_MS 2000         /* GET /_ping for the health: the engine answers at once */
#define DOCKER_STOP_GRACE_MS 30000  /* the stop call's wait beyond the engine's own timeout */
#define DOCKER_POLL_MS 1000         /* how often running containers are inspected */
#define DOCKER_REPLY_MAX (1 << 20)  /* bytes of an engine answer: an inspect is ~10 KiB */
#define DOCKER_SLACK_MB 256         /* memory beyond ram_mb, as the process runtime's cgroup */
#define COMMAND_MAX 4096            /* bytes of a command after its template is filled */

typedef struct {
    char *buf;
    size_t len;
} reply_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
    reply_t *r = ud;
    size_t add = size * n;
    if (r->len + add > DOCKER_REPLY_MAX) return 0;
    char *nb = realloc(r->buf, r->len + add + 1);
    if (nb == NULL) return 0;
    memcpy(nb + r->len, p, add);
    r->buf = nb;
    r->len += add;
    r->buf[r->len] = '\0';
    return add;
}

/* One engine call: `method` on DOCKER_API `path` with JSON `body` (or NULL), within
 * `ms`. Sets *status to the HTTP status and *out to the parsed answer (NULL when none or
 * not JSON; the caller frees it with cJSON_Delete). Returns 0 (any status) or
 * MIG_EUNREACHABLE with `err` when the engine did not answer. */
static int docker_call(const agent_t *a, const char *method, const char *path, const cJSON *body, long ms,
                       long *status, cJSON **out, char *err, size_t errlen) {
    *status = 0;
    if (out) *out = NULL;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "curl: out of memory");
        return MIG_ENOMEM;
    }
    char url[1200];
    snprintf(url, sizeof url, "http://localhost%s%s", strcmp(path, "/_ping") == 0 ? "" : DOCKER_API, path);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    reply_t r = {0};
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, a->docker_socket);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (strcmp(method, "POST") == 0) curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
    else if (strcmp(method, "GET") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    int rv = 0;
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "docker engine at %s: %s", a->docker_socket, curl_easy_strerror(cc));
        rv = MIG_EUNREACHABLE;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (out && r.buf) *out = cJSON_Parse(r.buf);
        if (*status >= 400) { /* the engine's {"message": ...} for the caller's error */
            cJSON *m = r.buf ? cJSON_Parse(r.buf) : NULL;
            const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(m, "message"));
            snprintf(err, errlen, "docker %s %s: %ld %s", method, path, *status, msg ? msg : "");
            cJSON_Delete(m);
        }
    }
    free(r.buf);
    free(text);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rv;
}

static void container_name(const agent_server_t *s, char *out, size_t cap) {
    snprintf(out, cap, DOCKER_NAME_PREFIX "%s", s->id);
}

#define ULIMIT_NAMES "nofile, nproc, core, memlock, stack"

/* Adds {"Name", "Soft", "Hard"} = `v` to `arr`. */
static void add_ulimit(cJSON *arr, const char *name, long long v) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "Name", name);
    cJSON_AddNumberToObject(u, "Soft", (double)v);
    cJSON_AddNumberToObject(u, "Hard", (double)v);
    cJSON_AddItemToArray(arr, u);
}

/* The HostConfig.Ulimits of MIG_AGENT_DOCKER_ULIMITS into `arr`: "own" gives nofile and
 * nproc at the agent's own hard limits (an engine that may not raise a limit, lacking
 * CAP_SYS_RESOURCE, fails a container whose defaults are above them), "engine" nothing,
 * else the list's values. 0, or MIG_EINVALID for a list that does not parse. */
static int add_ulimits(const agent_t *a, cJSON *arr) {
    const char *u = a->docker_ulimits;
    if (strcmp(u, "engine") == 0) return 0;
    if (strcmp(u, "own") == 0) {
        static const struct { const char *name; int res; } own[] = {{"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC}};
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
            struct rlimit rl;
            if (getrlimit(own[i].res, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
                add_ulimit(arr, own[i].name, (long long)rl.rlim_max);
        }
        return 0;
    }
    while (*u) {
        char name[16];
        long long v;
        int used = 0;
        if (sscanf(u, "%15[a-z]=%lld%n", name, &v, &used) != 2 || v < 0 ||
            strstr(ULIMIT_NAMES, name) == NULL || (u[used] != ',' && u[used] != '\0'))
            return MIG_EINVALID;
        add_ulimit(arr, name, v);
        u += used + (u[used] == ',');
    }
    return 0;
}

/* ------------------------------------------------------------------------ the ops */

static int docker_setup(agent_t *a, char *err, size_t errlen) {
    if (a->docker_image == NULL || a->docker_image[0] == '\0') {
        snprintf(err, errlen, "MIG_AGENT_RUNTIME=docker needs MIG_AGENT_DOCKER_IMAGE");
        return MIG_EINVALID;
    }
    if (a->docker_mount[0] != '/' || strchr(a->docker_mount, ':') || strchr(a->docker_mount, '\'')) {
        snprintf(err, errlen, "MIG_AGENT_DOCKER_MOUNT: an absolute path without : or '");
        return MIG_EINVALID;
    }
    cJSON *ul = cJSON_CreateArray();
    int rv = add_ulimits(a, ul);
    cJSON_Delete(ul);
    if (rv != 0) {
        snprintf(err, errlen, "MIG_AGENT_DOCKER_ULIMITS: own, engine, or name=N[,name=N] (names: %s)", ULIMIT_NAMES);
        return MIG_EINVALID;
    }
    return 0; /* the engine may come up after the agent: GET /v1/health says whether it answers */
}

static int docker_check(agent_t *a, char *err, size_t errlen) {
    long status;
    int rv = docker_call(a, "GET", "/_ping", NULL, DOCKER_PING_MS, &status, NULL, err, errlen);
    if (rv == 0 && status != 200) {
        snprintf(err, errlen, "docker engine at %s: /_ping answered %ld", a->docker_socket, status);
        rv = MIG_EUNREACHABLE;
    }
    return rv;
}

/* The body of POST /containers/create for server `s`. */
static cJSON *create_body(const agent_t *a, const agent_server_t *s, const char *dir, const char *cmd) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Image", a->docker_image);
    cJSON *argv = cJSON_AddArrayToObject(o, "Cmd");
    cJSON_AddItemToArray(argv, cJSON_CreateString("/bin/sh"));
    cJSON_AddItemToArray(argv, cJSON_CreateString("-c"));
    cJSON_AddItemToArray(argv, cJSON_CreateString(cmd));
    cJSON_AddStringToObject(o, "WorkingDir", a->docker_mount);
    cJSON *labels = cJSON_AddObjectToObject(o, "Labels");
    cJSON_AddStringToObject(labels, "migrate-agent.server_id", s->id);
    cJSON *hc = cJSON_AddObjectToObject(o, "HostConfig");
    char bind[1300];
    snprintf(bind, sizeof bind, "%s:%s", dir, a->docker_mount);
    cJSON *binds = cJSON_AddArrayToObject(hc, "Binds");
    cJSON_AddItemToArray(binds, cJSON_CreateString(bind));
    cJSON_AddNumberToObject(hc, "Memory", (double)((s->ram_mb + DOCKER_SLACK_MB) << 20));
    /* the host's network: the game, RCON and ping ports are the server.properties' ones */
    cJSON_AddStringToObject(hc, "NetworkMode", "host");
    add_ulimits(a, cJSON_AddArrayToObject(hc, "Ulimits")); /* checked at setup */
    return o;
}

/* Inspects container `name`: 0 with *running, *pid and *exit_code, MIG_ENO_SERVER
 * when there is none, MIG_EUNREACHABLE or MIG_EPROTO with `err`. */
static int inspect(const agent_t *a, const char *name, bool *running, long *pid, long *exit_code, char *err,
                   size_t errlen) {
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/json", name);
    long status;
    cJSON *o;
    int rv = docker_call(a, "GET", path, NULL, DOCKER_CALL_MS, &status, &o, err, errlen);
    if (rv != 0) return rv;
    if (status == 404) rv = MIG_ENO_SERVER;
    else if (status != 200 || !cJSON_IsObject(cJSON_GetObjectItem(o, "State"))) rv = MIG_EPROTO;
    else {
        cJSON *st = cJSON_GetObjectItem(o, "State");
        *running = cJSON_IsTrue(cJSON_GetObjectItem(st, "Running"));
        *pid = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "Pid"));
        *exit_code = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "ExitCode"));
    }
    cJSON_Delete(o);
    return rv;
}

/* Removes container `name` whatever it does (force); 0 when it is gone. */
static int remove_container(const agent_t *a, const char *name, char *err, size_t errlen) {
    char path[300];
    snprintf(path, sizeof path, "/containers/%s?force=true", name);
    long status;
    int rv = docker_call(a, "DELETE", path, NULL, DOCKER_CALL_MS, &status, NULL, err, errlen);
    if (rv == 0 && status != 204 && status != 200 && status != 404) rv = MIG_EIO;
    return rv;
}

/* A fresh container (an old one of the server goes: its ram_mb or image may have
 * changed), started; s->pid is its process on the host. The engine's calls (each
 * bounded by DOCKER_CALL_MS) are made without a->lock, taken to set s->pid at the end. */
static int docker_start(agent_t *a, agent_server_t *s, const char *dir, char *err, size_t errlen) {
    runtime_props_t p;
    runtime_read_props(dir, &p);
    char cmd[COMMAND_MAX], name[AGENT_ID_MAX + 8], path[400];
    if (!runtime_fill_command(a->command, s, a->docker_mount, p.port, cmd, sizeof cmd)) {
        snprintf(err, errlen, "the command is over %d bytes", COMMAND_MAX);
        return MIG_EINVALID;
    }
    container_name(s, name, sizeof name);
    int rv = remove_container(a, name, err, errlen);
    if (rv != 0) return rv;
    cJSON *body = create_body(a, s, dir, cmd);
    long status;
    snprintf(path, sizeof path, "/containers/create?name=%s", name);
    rv = docker_call(a, "POST", path, body, DOCKER_CALL_MS, &status, NULL, err, errlen);
    cJSON_Delete(body);
    if (rv != 0) return rv;
    if (status != 201) return MIG_EIO; /* err holds the engine's message */
    snprintf(path, sizeof path, "/containers/%s/start", name);
    if ((rv = docker_call(a, "POST", path, NULL, DOCKER_CALL_MS, &status, NULL, err, errlen)) != 0) return rv;
    if (status != 204 && status != 304) return MIG_EIO;
    bool running = false;
    long pid = 0, code = 0;
    rv = inspect(a, name, &running, &pid, &code, err, errlen);
    if (rv != 0) return rv == MIG_ENO_SERVER ? MIG_EIO : rv;
    if (!running || pid <= 0) {
        snprintf(err, errlen, "container %s exited at once (exit %ld)", name, code);
        return MIG_EIO;
    }
    pthread_mutex_lock(&a->lock);
    s->pid = (pid_t)pid;
    s->adopted = false;
    s->stdin_fd = -1; /* no console: quiesce needs RCON (docs/DRIVERS.md) */
    pthread_mutex_unlock(&a->lock);
    char pids[24];
    snprintf(pids, sizeof pids, "%ld", pid);
    log_at(LOG_INFO, "agent.server_started", "server_id", s->id, "container", name, "pid", pids, "command", cmd,
           NULL);
    return 0;
}

/* The monitor keeps s->pid: > 0 while the engine says the container runs. */
static bool docker_alive(agent_t *a, const agent_server_t *s) {
    (void)a;
    return s->pid > 0;
}

/* Force-removes the container, without a->lock (an engine's removal takes seconds). */
static void docker_discard(agent_t *a, const agent_server_t *s) {
    char name[AGENT_ID_MAX + 8], err[300];
    container_name(s, name, sizeof name);
    if (remove_container(a, name, err, sizeof err) != 0)
        log_at(LOG_WARN, "agent.container_left", "server_id", s->id, "container", name, "error", err, NULL);
    else if (s->pid > 0)
        log_at(LOG_WARN, "agent.server_killed", "server_id", s->id, "why", "deleted while running", NULL);
}

/* ------------------------------------------------------------------------ monitor */

typedef struct {
    char id[AGENT_ID_MAX];
    char name[AGENT_ID_MAX + 8];
    char dir[600];
    pid_t pid;
    enum { JOB_PROBE, JOB_ASK, JOB_STOP, JOB_POLL } kind;
} docker_job_t;

static void docker_pass(agent_t *a, bool poll) {
    static docker_job_t jobs[AGENT_SERVERS_MAX * 2];
    int n = 0;
    int64_t now = timefmt_mono_ms();
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < AGENT_SERVERS_MAX; i++) {
        agent_server_t *s = &a->servers[i];
        if (!s->in_use || s->pid <= 0) continue;
        docker_job_t j = {.pid = s->pid};
        snprintf(j.id, sizeof j.id, "%s", s->id);
        container_name(s, j.name, sizeof j.name);
        state_server_dir(a, s->id, j.dir, sizeof j.dir);
        if (poll) j.kind = JOB_POLL, jobs[n++] = j;
        if (s->state == SRV_STARTING) j.kind = JOB_PROBE, jobs[n++] = j;
        if (s->state != SRV_STOPPING || now < s->stage_at_ms) continue;
        if (s->stop_stage == 0) { /* RCON `stop` first: the server saves and exits */
            j.kind = JOB_ASK, jobs[n++] = j;
            s->stop_stage = 1;
            s->stage_at_ms = now + a->stop_timeout_ms;
        } else if (s->stop_stage == 1) { /* the engine's stop: SIGTERM, SIGKILL after the timeout */
            j.kind = JOB_STOP, jobs[n++] = j;
            s->stop_stage = 2;
            s->stage_at_ms = INT64_MAX;
        }
    }
    pthread_mutex_unlock(&a->lock);
    for (int i = 0; i < n; i++) {
        docker_job_t *j = &jobs[i];
        char err[300] = "";
        if (j->kind == JOB_PROBE) {
            runtime_probe_started(a, j->id, j->dir, j->pid);
        } else if (j->kind == JOB_ASK) {
            runtime_props_t p;
            runtime_read_props(j->dir, &p);
            char *reply = NULL;
            int rv = p.rcon ? runtime_rcon(&p, "stop", &reply) : MIG_EUNREACHABLE;
            free(reply);
            if (rv != 0) { /* no RCON: straight to the engine's stop */
                pthread_mutex_lock(&a->lock);
                agent_server_t *s = state_find_server(a, j->id);
                if (s && s->pid == j->pid && s->stop_stage == 1) s->stage_at_ms = 0;
                pthread_mutex_unlock(&a->lock);
            }
        } else if (j->kind == JOB_STOP) {
            char path[300];
            long status, t = (a->stop_timeout_ms + 999) / 1000;
            snprintf(path, sizeof path, "/containers/%s/stop?t=%ld", j->name, t);
            if (docker_call(a, "POST", path, NULL, t * 1000 + DOCKER_STOP_GRACE_MS, &status, NULL, err, sizeof err)
                    != 0 ||
                (status != 204 && status != 304 && status != 404)) {
                log_at(LOG_WARN, "agent.container_stop_failed", "server_id", j->id, "error", err, NULL);
                pthread_mutex_lock(&a->lock); /* asked again after the timeout */
                agent_server_t *s = state_find_server(a, j->id);
                if (s && s->pid == j->pid && s->stop_stage == 2)
                    s->stop_stage = 1, s->stage_at_ms = timefmt_mono_ms() + a->stop_timeout_ms;
                pthread_mutex_unlock(&a->lock);
            }
        } else {
            bool running = false;
            long pid = 0, code = 0;
            int rv = inspect(a, j->name, &running, &pid, &code, err, sizeof err);
            if (rv == MIG_EUNREACHABLE || rv == MIG_EPROTO || (rv == 0 && running)) continue; /* asked again */
            char how[40];
            if (rv == MIG_ENO_SERVER) snprintf(how, sizeof how, "gone");
            else snprintf(how, sizeof how, "exit %ld", code);
            pthread_mutex_lock(&a->lock);
            agent_server_t *s = state_find_server(a, j->id);
            if (s && s->pid == j->pid) runtime_mark_exited(a, s, how);
            pthread_mutex_unlock(&a->lock);
        }
    }
}

static void *docker_monitor(void *arg) {
    agent_t *a = arg;
    int64_t polled = 0;
    while (!a->stopping) {
        int64_t now = timefmt_mono_ms();
        bool poll = now - polled >= DOCKER_POLL_MS;
        if (poll) polled = now;
        docker_pass(a, poll);
        timefmt_sleep_ms(RUNTIME_MONITOR_MS);
    }
    return NULL;
}

const runtime_ops_t runtime_docker_ops = {
    .name = "docker",
    .setup = docker_setup,
    .check = docker_check,
    .start = docker_start,
    .alive = docker_alive,
    .discard = docker_discard,
    .monitor = docker_monitor,
};
