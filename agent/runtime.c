/* runtime.c - the runtime interface of the agent: the choice of a runtime, the
 * dispatchers the routes call, and what every runtime shares (the command template,
 * an exit, the probe of a starting server). */
#include "agent/runtime.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

const runtime_ops_t *runtime_find(const char *name) {
    static const runtime_ops_t *const all[] = {&runtime_process_ops, &runtime_docker_ops};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

int runtime_start(agent_t *a, agent_server_t *s, const char *dir, char *err, size_t errlen) {
    return a->rt->start(a, s, dir, err, errlen);
}

bool runtime_alive(agent_t *a, const agent_server_t *s) {
    return a->rt->alive(a, s);
}

void runtime_discard(agent_t *a, const agent_server_t *s) {
    a->rt->discard(a, s);
}

int runtime_check(agent_t *a, char *err, size_t errlen) {
    return a->rt->check(a, err, errlen);
}

void *runtime_monitor(void *agent) {
    agent_t *a = agent;
    return a->rt->monitor(agent);
}

/* Ids are checked (state_id_ok) and the directory is the agent's (or the container's
 * mount point), so nothing needs quoting but the directory, given single-quoted. */
bool runtime_fill_command(const char *t, const agent_server_t *s, const char *dir, int port, char *out, size_t cap) {
    size_t n = 0;
    while (*t) {
        char val[700];
        const char *rep = NULL;
        size_t skip = 0;
        if (strncmp(t, "{ram_mb}", 8) == 0) snprintf(val, sizeof val, "%lld", s->ram_mb), rep = val, skip = 8;
        else if (strncmp(t, "{server_id}", 11) == 0) rep = s->id, skip = 11;
        else if (strncmp(t, "{dir}", 5) == 0) snprintf(val, sizeof val, "'%s'", dir), rep = val, skip = 5;
        else if (strncmp(t, "{port}", 6) == 0) snprintf(val, sizeof val, "%d", port), rep = val, skip = 6;
        if (rep) {
            size_t l = strlen(rep);
            if (n + l >= cap) return false;
            memcpy(out + n, rep, l);
            n += l;
            t += skip;
        } else {
            if (n + 1 >= cap) return false;
            out[n++] = *t++;
        }
    }
    out[n] = '\0';
    return true;
}

void runtime_mark_exited(agent_t *a, agent_server_t *s, const char *how) {
    s->state = SRV_STOPPED;
    s->pid = 0;
    s->adopted = false;
    s->quiesced = false;
    if (s->stdin_fd >= 0) close(s->stdin_fd);
    s->stdin_fd = -1;
    log_at(LOG_INFO, "agent.server_exited", "server_id", s->id, "how", how, NULL);
    state_save(a);
}

/* One connect to a starting server's game port, ms: short, the monitor asks again. */
#define PROBE_MS 200

void runtime_probe_started(agent_t *a, const char *id, const char *dir, pid_t pid) {
    runtime_props_t p;
    runtime_read_props(dir, &p);
    if (!runtime_port_open(p.port, PROBE_MS)) return;
    pthread_mutex_lock(&a->lock);
    agent_server_t *s = state_find_server(a, id);
    if (s && s->pid == pid && s->state == SRV_STARTING) {
        s->state = SRV_RUNNING;
        log_at(LOG_INFO, "agent.server_running", "server_id", s->id, NULL);
        state_save(a);
    }
    pthread_mutex_unlock(&a->lock);
}
