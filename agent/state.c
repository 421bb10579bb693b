/* state.c - the agent's persisted state: servers (reservations included), passes and the
 * fencing table in one small JSON file, state/agent.json, written atomically (temp,
 * fsync, rename, fsync of the folder) after every change, and read back at start, so a
 * kill -9 of the agent loses nothing it had answered.
 *
 * Layout of MIG_AGENT_DIR:
 *   servers/<server_id>/            a server's directory (world, server.properties)
 *   servers/.<server_id>.staging/   the staging tree of the passes into it
 *   state/agent.json                this file
 *   state/sync/<server_id>/         pass.json and record.mf of the sync engine */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fsx.h"
#include "core/err.h"
#include "core/log.h"

#define STATE_FILE "agent.json"
#define STATE_MAX (64u << 20) /* bytes of agent.json read back: 4096 passes and 65536 migrations fit */

static const char *const state_names[] = {"created", "starting", "running", "stopping", "stopped"};

const char *state_name(srv_state_t s) {
    return s <= SRV_STOPPED ? state_names[s] : "stopped";
}

bool state_id_ok(const char *id) {
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= AGENT_ID_MAX || id[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return true;
}

void state_server_dir(const agent_t *a, const char *id, char *out, size_t cap) {
    snprintf(out, cap, "%s/servers/%s", a->dir, id);
}

void state_staging_dir(const agent_t *a, const char *id, char *out, size_t cap) {
    snprintf(out, cap, "%s/servers/.%s.staging", a->dir, id);
}

void state_sync_dir(const agent_t *a, const char *id, char *out, size_t cap) {
    snprintf(out, cap, "%s/state/sync/%s", a->dir, id);
}

agent_server_t *state_find_server(agent_t *a, const char *id) {
    for (int i = 0; i < AGENT_SERVERS_MAX; i++)
        if (a->servers[i].in_use && strcmp(a->servers[i].id, id) == 0) return &a->servers[i];
    return NULL;
}

agent_server_t *state_new_server(agent_t *a, const char *id) {
    for (int i = 0; i < AGENT_SERVERS_MAX; i++) {
        agent_server_t *s = &a->servers[i];
        if (s->in_use) continue;
        memset(s, 0, sizeof *s);
        s->in_use = true;
        s->stdin_fd = -1;
        snprintf(s->id, sizeof s->id, "%s", id);
        return s;
    }
    return NULL;
}

agent_pass_t *state_find_pass(agent_t *a, const char *sync_id) {
    for (int i = 0; i < AGENT_PASSES_MAX; i++)
        if (a->passes[i].in_use && strcmp(a->passes[i].sync_id, sync_id) == 0) return &a->passes[i];
    return NULL;
}

agent_pass_t *state_new_pass(agent_t *a) {
    for (int i = 0; i < AGENT_PASSES_MAX; i++) {
        agent_pass_t *p = &a->passes[i];
        if (p->in_use) continue;
        memset(p, 0, sizeof *p);
        p->in_use = true;
        return p;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ save */

static void add_u64(cJSON *o, const char *name, uint64_t v) {
    char t[24];
    snprintf(t, sizeof t, "%" PRIu64, v); /* as text: exact above 2^53 */
    cJSON_AddStringToObject(o, name, t);
}

static uint64_t get_u64(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v)) return strtoull(v->valuestring, NULL, 10);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

static const char *get_str(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int state_save(agent_t *a) {
    cJSON *root = cJSON_CreateObject(), *servers = cJSON_AddArrayToObject(root, "servers");
    cJSON *passes = cJSON_AddArrayToObject(root, "passes"), *fence = cJSON_AddObjectToObject(root, "fencing");
    for (int i = 0; i < AGENT_SERVERS_MAX; i++) {
        const agent_server_t *s = &a->servers[i];
        if (!s->in_use) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "migration_id", s->migration_id);
        cJSON_AddNumberToObject(o, "ram_mb", (double)s->ram_mb);
        cJSON_AddNumberToObject(o, "disk_mb", (double)s->disk_mb);
        cJSON_AddStringToObject(o, "state", state_name(s->state));
        cJSON_AddNumberToObject(o, "pid", s->pid);
        cJSON_AddBoolToObject(o, "quiesced", s->quiesced);
        cJSON_AddBoolToObject(o, "awaiting_world", s->awaiting_world);
        cJSON_AddBoolToObject(o, "deferred", s->deferred);
        cJSON_AddItemToArray(servers, o);
    }
    for (int i = 0; i < AGENT_PASSES_MAX; i++) {
        const agent_pass_t *p = &a->passes[i];
        if (!p->in_use) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "sync_id", p->sync_id);
        cJSON_AddStringToObject(o, "server_id", p->server_id);
        cJSON_AddStringToObject(o, "migration_id", p->migration_id);
        cJSON_AddStringToObject(o, "source_address", p->source_address);
        cJSON_AddNumberToObject(o, "pass", p->pass);
        cJSON_AddBoolToObject(o, "final", p->final);
        cJSON_AddStringToObject(o, "status",
                                p->status == PASS_DONE ? "done" : p->status == PASS_ERROR ? "error" : "running");
        cJSON_AddStringToObject(o, "error", p->error);
        add_u64(o, "bytes_total", p->last.bytes_total);
        add_u64(o, "bytes_done", p->last.bytes_done);
        add_u64(o, "dirty_bytes", p->dirty_bytes);
        cJSON_AddBoolToObject(o, "frozen", p->frozen);
        cJSON_AddItemToArray(passes, o);
    }
    for (size_t i = 0; i < a->n_fence; i++) add_u64(fence, a->fence[i].migration_id, a->fence[i].highest);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    int rv = MIG_ENOMEM;
    if (text == NULL) goto out;
    char path[600];
    snprintf(path, sizeof path, "%s/state", a->dir);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rv = dfd < 0 ? MIG_EIO : fsx_write_atomic(dfd, STATE_FILE, text, strlen(text));
    if (dfd >= 0) close(dfd);
    if (rv != 0) log_at(LOG_ERROR, "agent.state_unsaved", "path", path, "error", strerror(errno), NULL);
out:
    free(text);
    return rv;
}

/* ------------------------------------------------------------------------ load */

static srv_state_t parse_state(const char *t) {
    for (int i = 0; i <= SRV_STOPPED; i++)
        if (strcmp(t, state_names[i]) == 0) return (srv_state_t)i;
    return SRV_STOPPED;
}

/* A server read back: a process that was running is adopted when it is still alive
 * (it is in its own process group, so it outlived the agent), else it is stopped. */
static void load_server(agent_t *a, const cJSON *o) {
    const char *id = get_str(o, "id");
    if (!state_id_ok(id) || state_find_server(a, id)) return;
    agent_server_t *s = state_new_server(a, id);
    if (s == NULL) return;
    snprintf(s->migration_id, sizeof s->migration_id, "%s", get_str(o, "migration_id"));
    s->ram_mb = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "ram_mb"));
    s->disk_mb = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "disk_mb"));
    s->state = parse_state(get_str(o, "state"));
    s->quiesced = cJSON_IsTrue(cJSON_GetObjectItem(o, "quiesced"));
    s->awaiting_world = cJSON_IsTrue(cJSON_GetObjectItem(o, "awaiting_world"));
    s->deferred = cJSON_IsTrue(cJSON_GetObjectItem(o, "deferred"));
    pid_t pid = (pid_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "pid"));
    if (s->deferred) {
        s->state = SRV_RUNNING; /* no process to find: it starts with the final pass */
    } else if (s->state >= SRV_STARTING && s->state <= SRV_STOPPING) {
        if (pid > 0 && kill(pid, 0) == 0) {
            s->pid = pid;
            s->adopted = true; /* no console pipe any more: stops go through RCON or signals */
            if (s->state == SRV_STOPPING) s->stop_stage = 1;
        } else {
            s->state = SRV_STOPPED;
        }
    }
}

static void load_pass(agent_t *a, const cJSON *o) {
    agent_pass_t *p = state_new_pass(a);
    if (p == NULL) return;
    snprintf(p->sync_id, sizeof p->sync_id, "%s", get_str(o, "sync_id"));
    snprintf(p->server_id, sizeof p->server_id, "%s", get_str(o, "server_id"));
    snprintf(p->migration_id, sizeof p->migration_id, "%s", get_str(o, "migration_id"));
    snprintf(p->source_address, sizeof p->source_address, "%s", get_str(o, "source_address"));
    snprintf(p->error, sizeof p->error, "%s", get_str(o, "error"));
    p->pass = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "pass"));
    p->final = cJSON_IsTrue(cJSON_GetObjectItem(o, "final"));
    const char *st = get_str(o, "status");
    p->status = strcmp(st, "done") == 0 ? PASS_DONE : strcmp(st, "error") == 0 ? PASS_ERROR : PASS_RUNNING;
    p->last.bytes_total = get_u64(o, "bytes_total");
    p->last.bytes_done = get_u64(o, "bytes_done");
    p->last.done = p->status == PASS_DONE;
    p->last.progress = p->last.done ? 100 : 0;
    p->dirty_bytes = get_u64(o, "dirty_bytes");
    p->frozen = cJSON_IsTrue(cJSON_GetObjectItem(o, "frozen"));
    if (!state_id_ok(p->server_id) || p->sync_id[0] == '\0') p->in_use = false;
}

int state_load(agent_t *a, char *err, size_t errlen) {
    char path[600];
    snprintf(path, sizeof path, "%s/state", a->dir);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return MIG_EIO;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    int rv = fsx_read_file(dfd, STATE_FILE, STATE_MAX, &buf, &len);
    close(dfd);
    if (rv == MIG_ENOT_FOUND) return 0; /* a new agent */
    if (rv != 0) {
        snprintf(err, errlen, "cannot read %s/%s: %s", path, STATE_FILE, mig_strerror(rv));
        return rv;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (root == NULL) {
        snprintf(err, errlen, "%s/%s is not JSON", path, STATE_FILE);
        return MIG_EINVALID;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(root, "servers")) load_server(a, o);
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(root, "passes")) load_pass(a, o);
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(root, "fencing")) {
        if (a->n_fence >= AGENT_FENCE_MAX || strlen(o->string) >= AGENT_ID_MAX) continue;
        agent_fence_t *f = &a->fence[a->n_fence++];
        snprintf(f->migration_id, sizeof f->migration_id, "%s", o->string);
        f->highest = cJSON_IsString(o) ? strtoull(o->valuestring, NULL, 10) : 0;
    }
    /* written sorted; sorted again in case an older file was not */
    for (size_t i = 1; i < a->n_fence; i++)
        for (size_t j = i; j > 0 && strcmp(a->fence[j - 1].migration_id, a->fence[j].migration_id) > 0; j--) {
            agent_fence_t t = a->fence[j];
            a->fence[j] = a->fence[j - 1];
            a->fence[j - 1] = t;
        }
    cJSON_Delete(root);
    return 0;
}
