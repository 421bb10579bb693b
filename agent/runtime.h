/* runtime.h - how the agent runs a server: the `process` runtime (a directory and a
 * command template, a child in its own process group), its console (stdin, RCON) and
 * the server.properties it reads to reach the server. */
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

/* Reads `dir`/server.properties (missing: defaults, no RCON). */
void runtime_read_props(const char *dir, runtime_props_t *p);

/* Starts server `s` (its directory `dir`) with a's command template: {ram_mb},
 * {server_id}, {dir}, {port} replaced; run by /bin/sh -c in `dir`, in a new process
 * group, console to dir/console.log, stdin a pipe. Sets s->pid and s->stdin_fd.
 * Returns 0 or MIG_EIO with the reason in `err`. a->lock held. */
int runtime_start(agent_t *a, agent_server_t *s, const char *dir, char *err, size_t errlen);

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

/* The thread that reaps exits, moves starting servers to running once their game port
 * answers, and walks stopping servers through stop / SIGTERM / SIGKILL. */
void *runtime_monitor(void *agent);

#endif
