/* agent_proc.c - bin/migrate-agent processes and their servers' files for the tests. */
#include "agent_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/timefmt.h"
#include "http_client.h"
#include "redis_harness.h"

/* How often a start polls the agent's log for its start line (ms). */
#define AGENT_PROC_POLL_MS 10

static const char *bindir(void) {
    return getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
}

const char *agent_proc_mcfake_command(char *buf, size_t cap) {
    if (bindir()[0] == '/') {
        snprintf(buf, cap, "--agent-command=exec %s/../tests/support/mcfake", bindir());
        return buf;
    }
    char *cwd = getcwd(NULL, 0);
    snprintf(buf, cap, "--agent-command=exec %s/%s/../tests/support/mcfake", cwd ? cwd : ".", bindir());
    free(cwd);
    return buf;
}

int agent_proc_start(agent_proc_t *a, const char *scheme, const char *const *args, int wait_ms, char *err,
                     size_t cap) {
    if (a->host[0] == '\0') snprintf(a->host, sizeof a->host, "127.0.0.1");
    char bin[300], listen[80], dir[320];
    snprintf(bin, sizeof bin, "%s/migrate-agent", bindir());
    snprintf(listen, sizeof listen, "--agent-listen=%s:%d", a->host, a->port);
    snprintf(dir, sizeof dir, "--agent-dir=%s", a->dir);
    const char *argv[40] = {bin, listen, dir, "--log-level=debug", "--agent-stop-timeout-ms=2000"};
    int n = 5;
    for (int k = 0; args && args[k] && n < 39; k++) argv[n++] = args[k];
    argv[n] = NULL;
    a->pid = harness_spawn(argv, a->log);
    if (a->pid <= 0) {
        a->pid = 0;
        snprintf(err, cap, "cannot start %s", bin);
        return -1;
    }
    int port;
    for (int waited = 0; (port = proc_port_from_log(a->log, "agent.started")) == 0; waited += AGENT_PROC_POLL_MS) {
        if (harness_wait(a->pid, 0) != -1) {
            a->pid = 0;
            if (a->port == 0 && strcmp(a->host, "127.0.0.1") != 0) {
                /* this machine does not route 127.0.0.1x: fall back to 127.0.0.1 */
                snprintf(a->host, sizeof a->host, "127.0.0.1");
                return agent_proc_start(a, scheme, args, wait_ms, err, cap);
            }
            snprintf(err, cap, "migrate-agent exited; see %s", a->log);
            return -1;
        }
        if (waited >= wait_ms) {
            snprintf(err, cap, "migrate-agent did not start; see %s", a->log);
            return -1;
        }
        timefmt_sleep_ms(AGENT_PROC_POLL_MS);
    }
    a->port = port;
    char host[sizeof a->host]; /* a copy: the compiler cannot tell a->host from the fields written */
    memcpy(host, a->host, sizeof host);
    snprintf(a->base, sizeof a->base, "%s://%s:%d", scheme ? scheme : "http", host, port);
    snprintf(a->addr, sizeof a->addr, "%s:%d", host, port);
    return 0;
}

int agent_proc_stop(agent_proc_t *a, const char *name, char *bad, size_t cap) {
    return proc_stop_clean(&a->pid, name, bad, cap);
}

void agent_proc_kill9(agent_proc_t *a, int ms) {
    if (a->pid <= 0) return;
    kill(a->pid, SIGKILL);
    harness_wait(a->pid, ms);
    a->pid = 0;
}

void agent_proc_kill_servers(const agent_proc_t *a) {
    char path[400];
    snprintf(path, sizeof path, "%s/state/agent.json", a->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    static char buf[1 << 20]; /* a state file of a test's few servers is a few KiB */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *o = cJSON_Parse(buf), *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(o, "servers")) {
        int pid = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "pid"));
        if (pid > 0) kill(-pid, SIGKILL);
    }
    cJSON_Delete(o);
}

int agent_proc_write_props(const char *dir, const char *id, const char *extra) {
    char path[400];
    snprintf(path, sizeof path, "%s/servers/%s/server.properties", dir, id);
    int port = proc_free_port(), rcon = proc_free_port();
    if (port <= 0 || rcon <= 0) return -1;
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fprintf(f, "server-port=%d\nenable-rcon=true\nrcon.port=%d\nrcon.password=pw\n%s", port, rcon, extra ? extra : "");
    return fclose(f) == 0 ? port : -1;
}

void agent_proc_region_fill(unsigned char *block, int k) {
    for (size_t j = 0; j < AGENT_PROC_REGION_BYTES; j++) block[j] = (unsigned char)(j * 31 + (size_t)k * 7 + j / 4096);
}

int agent_proc_write_world(const char *dir, const char *id, int mb) {
    char path[400];
    snprintf(path, sizeof path, "%s/servers/%s/world", dir, id);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/servers/%s/world/region", dir, id);
    mkdir(path, 0755);
    static unsigned char block[AGENT_PROC_REGION_BYTES];
    for (int k = 0; k < mb; k++) {
        agent_proc_region_fill(block, k);
        snprintf(path, sizeof path, "%s/servers/%s/world/region/r.%d.1.mca", dir, id, k);
        FILE *f = fopen(path, "w");
        if (f == NULL) return -1;
        size_t n = fwrite(block, 1, sizeof block, f);
        if (fclose(f) != 0 || n != sizeof block) return -1;
    }
    return 0;
}
