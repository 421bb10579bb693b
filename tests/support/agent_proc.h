/* agent_proc.h - bin/migrate-agent as a process for the tests: started on a loopback
 * address with its own directory, its port read from its start line, stopped with a
 * clean exit checked or killed with -9, and the servers it left running killed; and the
 * files a server of tests/support/mcfake reads (server.properties, a world). */
#ifndef MIG_AGENT_PROC_H
#define MIG_AGENT_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* One agent. The caller fills host, port, dir and log before agent_proc_start(); the rest
 * is the start's. Zeroed, it is an agent never started. */
typedef struct {
    char host[48]; /* the address it listens on (127.0.0.x, a bench's namespace's); "" is 127.0.0.1 */
    int port;      /* the port it asks for, 0 any; after a start the one it has, so that a
                    * restart takes the same one again (workers and peers know it) */
    char dir[300]; /* its --agent-dir: state/, servers/ */
    char log[340]; /* its stderr; a restart appends to it */
    pid_t pid;     /* 0 when it is not running */
    char addr[64]; /* host:port once started: a node's address */
    char base[80]; /* <scheme>://host:port once started */
} agent_proc_t;

/* Writes "--agent-command=exec <path>/tests/support/mcfake" (the fake server beside
 * $MIG_BIN_DIR, else build/test/bin, made absolute) into `buf` of `cap` bytes and returns
 * it: the command of an agent whose servers are mcfake processes. */
const char *agent_proc_mcfake_command(char *buf, size_t cap);

/* Starts bin/migrate-agent (from $MIG_BIN_DIR, else build/test/bin) with
 * --agent-listen=host:port, --agent-dir, --log-level=debug and
 * --agent-stop-timeout-ms=2000 (a server that ignores its stop is killed in 2 s, not
 * the 30 s default), then `args` (NULL-terminated, may be NULL; a flag given again
 * there wins), logging to a->log, and waits up to `wait_ms` for its "agent.started" line.
 * An agent that exits before it, asked for host 127.0.0.x other than .1 and port 0, is
 * started again on 127.0.0.1: a machine that routes only 127.0.0.1 of 127/8. Sets
 * a->pid, a->port, a->addr and a->base (`scheme`, "http" when NULL). Returns 0; or -1
 * with the reason in `err` (`cap` bytes): it exited (a->pid 0), or did not start in time
 * (still running: the teardown stops it). */
int agent_proc_start(agent_proc_t *a, const char *scheme, const char *const *args, int wait_ms, char *err,
                     size_t cap);

/* Stops it with SIGTERM (SIGKILL after HARNESS_STOP_WAIT_MS) and reaps it: proc_stop_clean()
 * on a->pid, `name` and `bad` as there. Returns 0 on a clean exit or when not running. */
int agent_proc_stop(agent_proc_t *a, const char *name, char *bad, size_t cap);

/* kill -9 of it, waiting up to `ms` for its end; a->pid 0. Its servers run on. */
void agent_proc_kill9(agent_proc_t *a, int ms);

/* Kills, by process group, the servers an agent left running (they outlive it by design),
 * from the pids in <dir>/state/agent.json; nothing when there is no such file. */
void agent_proc_kill_servers(const agent_proc_t *a);

/* Writes <dir>/servers/<id>/server.properties for mcfake: a free game port, RCON on
 * another free port with password "pw", then `extra` (may be NULL). Returns the game
 * port, or -1 when the file cannot be written. */
int agent_proc_write_props(const char *dir, const char *id, const char *extra);

/* The size of one region file a test writes (bytes): 1 MiB, so that a world's MiB are its
 * file count. */
#define AGENT_PROC_REGION_BYTES (1 << 20)

/* Fills `block` (AGENT_PROC_REGION_BYTES) with the content of region file `k` of a world
 * agent_proc_write_world() writes: a pattern that differs between files and within one,
 * so that a copy that misplaces a block is seen. */
void agent_proc_region_fill(unsigned char *block, int k);

/* Writes `mb` region files world/region/r.<k>.1.mca (k = 0..mb-1, mcfake writes r.0.0.mca
 * only) into <dir>/servers/<id>, making the folders. Returns 0, or -1 when a file cannot
 * be written. */
int agent_proc_write_world(const char *dir, const char *id, int mb);

#endif
