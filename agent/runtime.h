/* runtime.h - how the agent runs a server, behind one small interface chosen by
 * MIG_AGENT_RUNTIME: `process` (a directory and a command template, a child in its own
 * process group, agent/runtime_process.c) or `docker` (a container of the Docker Engine
 * API over its unix socket, agent/runtime_docker.c); the console (stdin, RCON) and the
 * server.properties read to reach the server, the same for both. */
#ifndef MIG_AGENT_RUNTIME_H
#define MIG_AGENT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/agent.h"
#include "agent/slp.h"

#define RUNTIME_CONSOLE_LOG "console.log" /* the server's stdout and stderr, in its directory */
#define RUNTIME_DEFAULT_PORT 25565        /* server-port when server.properties has none */
#define RUNTIME_MONITOR_MS 100            /* how often exits, starts and stops are looked at */
#define RUNTIME_RCON_TIMEOUT_MS 10000     /* one RCON exchange; `save-all flush` of a big world */
/* One Server List Ping, connect to answer: a server answers it from its network thread
 * in milliseconds even under load; 1 s keeps GET /v1/containers/{id} well inside the
 * worker's 10 s call timeout when RCON has already timed out. */
#define RUNTIME_SLP_TIMEOUT_MS 1000

/* What server.properties says about reaching the server. */
typedef struct {
    bool found;          /* the file exists: the server has a game port to ask */
    int port;            /* server-port */
    bool rcon;           /* enable-rcon=true with a port and a password */
    int rcon_port;       /* rcon.port */
    char rcon_password[128];
} runtime_props_t;

/* One runtime. Every function is called with a->lock held unless said otherwise (the
 * slow ones, start and discard, are called without it). The
 * routes call them through the runtime_* dispatchers below, which use a->rt. */
typedef struct runtime_ops {
    const char *name; /* the MIG_AGENT_RUNTIME value */
    /* At start-up, before any thread, a->lock not held: checks the settings and
     * prepares (a cgroup parent, a curl handle). 0 or MIG_E* with `err`. */
    int (*setup)(agent_t *a, char *err, size_t errlen);
    /* Whether servers can run now (the engine answers, the cgroup parent is there);
     * for GET /v1/health. a->lock NOT held (it may ask the engine). 0 or MIG_E*, `err`. */
    int (*check)(agent_t *a, char *err, size_t errlen);
    /* Starts server `s` in directory `dir`. a->lock NOT held (an engine's calls take
     * seconds); the caller has marked `s` busy, so it stays the same server meanwhile.
     * The runtime takes a->lock to set s->pid (> 0 while it runs), s->adopted and
     * s->stdin_fd the moment what runs exists. 0 or MIG_E* with `err`. */
    int (*start)(agent_t *a, agent_server_t *s, const char *dir, char *err, size_t errlen);
    /* Whether what runs `s` is alive; cheap (no engine call). */
    bool (*alive)(agent_t *a, const agent_server_t *s);
    /* The container is deleted: what still runs is killed at once and its resources
     * (cgroup, engine container) are released, now or when it has exited. a->lock NOT
     * held (an engine's removal takes seconds); `s` is the caller's copy of the server,
     * which stays marked busy meanwhile; the caller has closed its console. */
    void (*discard)(agent_t *a, const agent_server_t *s);
    /* The monitor thread: exits, starting -> running, stopping -> stopped. */
    void *(*monitor)(void *agent);
} runtime_ops_t;

extern const runtime_ops_t runtime_process_ops, runtime_docker_ops;

/* The runtime named `name`, or NULL. */
const runtime_ops_t *runtime_find(const char *name);

/* Dispatchers to a->rt (locking as the ops say). */
int runtime_start(agent_t *a, agent_server_t *s, const char *dir, char *err, size_t errlen);
bool runtime_alive(agent_t *a, const agent_server_t *s);
void runtime_discard(agent_t *a, const agent_server_t *s);
int runtime_check(agent_t *a, char *err, size_t errlen);
void *runtime_monitor(void *agent);

/* Fills a command template into `out`: {ram_mb}, {server_id}, {dir} (given quoted),
 * {port}. False when it does not fit `cap`. */
bool runtime_fill_command(const char *t, const agent_server_t *s, const char *dir, int port, char *out, size_t cap);

/* A server whose process or container is gone: stopped, console closed, persisted,
 * logged with `how`. */
void runtime_mark_exited(agent_t *a, agent_server_t *s, const char *how);

/* Moves a starting server to running when its game port answers (a->lock NOT held;
 * taken for the change). `pid` is the s->pid the probe was planned with. */
void runtime_probe_started(agent_t *a, const char *id, const char *dir, pid_t pid);

/* Reads `dir`/server.properties (missing: defaults, no RCON). */
void runtime_read_props(const char *dir, runtime_props_t *p);

/* Writes `line` and a newline to the server's stdin. 0 or MIG_EIO. */
int runtime_console(agent_server_t *s, const char *line);

/* Sends one RCON command to 127.0.0.1:p->rcon_port and reads the whole answer into
 * *reply (malloc'd, NUL-terminated, caller frees). 0, MIG_EUNREACHABLE (no connection,
 * timeout), MIG_EREFUSED (wrong password) or MIG_EPROTO. */
int runtime_rcon(const runtime_props_t *p, const char *cmd, char **reply);

/* A Server List Ping of 127.0.0.1:`port` (agent/slp.h) within `ms` in all: *st filled
 * from the server's status. 0, MIG_EUNREACHABLE (no connection, no whole answer in time)
 * or MIG_EPROTO (an answer that is no status). */
int runtime_slp(int port, int ms, slp_status_t *st);

/* True when 127.0.0.1:port accepts a TCP connection within `ms`. */
bool runtime_port_open(int port, int ms);

#endif
