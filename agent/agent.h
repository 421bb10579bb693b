/* agent.h - bin/migrate-agent's shared types: the agent (settings, lock, servers, passes,
 * fencing table), one request being served, and the functions its modules give each
 * other. Private to the agent's program; the pure modules (sync, manifest, rcon, slp)
 * have their own headers.
 *
 * Locking: one mutex, `agent_t.lock`, guards every server, pass and the fencing table.
 * A handler takes it for the check of the fencing token and the change it makes, so the
 * check is made at the moment the call acts (docs/DRIVERS.md, Fencing). Slow I/O (a
 * source's manifest, RCON, a pass's copy, a server's stop, the engine's calls, removing a
 * world) happens outside it: a call that acts on one server that way first marks it
 * `busy` under the lock, so that every other call changing that server answers 409 busy
 * meanwhile, and the entry is neither reused nor freed until the call clears the mark
 * (only a DELETE frees an entry, and it clears `in_use` and `busy` at once). */
#ifndef MIG_AGENT_AGENT_H
#define MIG_AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "agent/sync.h"
#include "core/path.h"

#define AGENT_ID_MAX 128       /* bytes of a server or migration id, NUL included */
#define AGENT_ADDR_MAX 300     /* bytes of a host:port address, NUL included */
#define AGENT_ROUTE_PARAMS 2   /* path parameters of a route at most */
#define AGENT_SERVERS_MAX 1024 /* servers one agent holds: far more than a node's RAM runs */
#define AGENT_PASSES_MAX 4096  /* passes kept (ended ones too, for GET /v1/sync/{id}) */
#define AGENT_FENCE_MAX 65536  /* migrations remembered by the fencing table (~100 B each) */

typedef enum {
    SRV_CREATED = 0,
    SRV_STARTING,
    SRV_RUNNING,
    SRV_STOPPING,
    SRV_STOPPED,
} srv_state_t;

/* One container: a server's directory and, while it runs, its process group. */
typedef struct agent_server {
    char id[AGENT_ID_MAX];
    char migration_id[AGENT_ID_MAX]; /* the migration that created it; "" when provisioned */
    long long ram_mb;                /* reserved from creation to deletion */
    long long disk_mb;
    srv_state_t state;
    pid_t pid;            /* the process group leader while starting..stopping, else 0 */
    bool adopted;         /* pid is not our child (found alive after a restart): polled */
    int stdin_fd;         /* write end of the console pipe, -1 when none */
    int stop_stage;       /* 0 ask to stop, 1 SIGTERM sent, 2 SIGKILL sent */
    int64_t stage_at_ms;  /* monotonic ms when the next stage is due */
    bool quiesced;        /* save-off in force */
    /* Created by a migration: its world arrives with the migration's final pass. A
     * Minecraft server cannot run before its world is there (it would generate a new one,
     * and keep writing it in the tree the final pass replaces), so a start asked while its
     * directory is still empty is `deferred`: the container answers running and healthy
     * with 0 players, and its process starts when the final pass has put the world in
     * place (that pass is done once the server runs). */
    bool awaiting_world;
    bool deferred;        /* started while awaiting its world: no process yet */
    /* What a call is doing to it outside a->lock ("being deleted", "being started",
     * "being quiesced"), for the 409 busy of the others; NULL when nothing. In memory
     * only: a restart has no call in flight, and the caller asks again. */
    const char *busy;
    bool in_use;
} agent_server_t;

typedef enum { PASS_RUNNING = 0, PASS_DONE, PASS_ERROR } pass_status_t;

/* One sync pass into a server of this node (the target side). */
typedef struct agent_pass {
    char sync_id[AGENT_ID_MAX + 16]; /* "<migration_id>.<pass>" */
    char server_id[AGENT_ID_MAX];
    char migration_id[AGENT_ID_MAX];
    char source_address[AGENT_ADDR_MAX];
    uint32_t pass;
    bool final;
    pass_status_t status;
    char error[256];
    sync_progress_t last;     /* progress when the engine was released */
    uint64_t dirty_bytes;     /* the last value computed; frozen once a later pass began */
    int64_t dirty_at_ms;      /* monotonic ms of that computation (answers are cached) */
    bool frozen;              /* a later pass began */
    sync_pass_t *engine;      /* open while this is the server's latest pass, else NULL */
    int busy;                 /* handlers using `engine` outside the lock */
    bool thread_live;         /* a thread runs it now */
    pthread_t thread;
    volatile int cancel;      /* set to stop the copy (its container is deleted) */
    bool in_use;
} agent_pass_t;

/* Highest fencing token of one migration. */
typedef struct {
    char migration_id[AGENT_ID_MAX];
    uint64_t highest;
} agent_fence_t;

typedef struct agent {
    /* settings */
    const char *dir;          /* MIG_AGENT_DIR: servers/, state/ below it */
    const char *token;        /* worker's bearer token, NULL: no check */
    const char *peer_token;   /* agents' bearer token for /v1/sync-source, NULL: no check */
    const char *command;      /* command template of the process runtime */
    const char *public_host;  /* host part of a container's address */
    const char *peer_url;     /* pattern with {source_address} for a source agent's base */
    const char *ca_file, *cert_file, *key_file; /* peers' TLS (libcurl) */
    long long ram_mb, disk_mb; /* limits offered; 0: what the machine has */
    long long stop_timeout_ms; /* from "stop" to SIGTERM, and from SIGTERM to SIGKILL */
    long long sync_rate;      /* bytes/s a pass may pull, 0 unlimited */
    long long checkpoint_bytes;
    long long max_passes;     /* passes copying at once */
    bool memory_rlimit;       /* RLIMIT_AS on servers (MIG_AGENT_MEMORY_LIMIT=rlimit) */
    bool memory_cgroup;       /* a memory cgroup per server (MIG_AGENT_MEMORY_LIMIT=cgroup) */
    const char *cgroup_parent; /* MIG_AGENT_CGROUP_PARENT: folder of the servers' cgroups */
    int cgroup_version;       /* 1 (memory.limit_in_bytes) or 2 (memory.max), found at setup */
    const struct runtime_ops *rt; /* MIG_AGENT_RUNTIME (agent/runtime.h) */
    const char *docker_socket; /* the engine's unix socket (docker runtime) */
    const char *docker_image;  /* image of a server's container */
    const char *docker_mount;  /* where the server's directory is inside its container */
    const char *docker_ulimits; /* "own", "engine" or "name=N,..." (agent/runtime_docker.c) */

    pthread_mutex_t lock;
    agent_server_t servers[AGENT_SERVERS_MAX];
    agent_pass_t *passes;     /* AGENT_PASSES_MAX */
    agent_fence_t *fence;     /* AGENT_FENCE_MAX, sorted by id */
    size_t n_fence;
    volatile int stopping;
    int waiting;              /* handlers in a wait that `stopping` ends (a DELETE's), under lock:
                                 main lets them answer before mg_stop, which stops all writes */
    pthread_t monitor;
} agent_t;

/* One request being served. */
typedef struct agent_req {
    struct mg_connection *conn;
    const char *method;
    const char *path;
    char params[AGENT_ROUTE_PARAMS][PATH_PARAM_LEN];
    cJSON *body;        /* the JSON body, or NULL */
    char idem_key[AGENT_ID_MAX];
    bool answered;
} agent_req_t;

/* ---- http.c: answers and checks; the *_or_reply ones answer the error when false ---- */
struct mg_connection;
void http_reply(agent_req_t *r, int status, cJSON *body); /* takes `body` (may be NULL) */
void http_error(agent_req_t *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool http_route(agent_req_t *r, const char *method, const char *pattern);
const char *http_str(const agent_req_t *r, const char *name);
/* The migration of the call: the body's migration_id, else Idempotency-Key ("" none). */
const char *http_migration_of(const agent_req_t *r);
/* The fencing check, with a->lock held: true when the call may act (no migration, or a
 * token at least the highest, which becomes the highest and is persisted first). */
bool http_fence_or_reply(agent_t *a, agent_req_t *r);
bool http_read_json_or_reply(agent_req_t *r, size_t max);
int http_serve(agent_t *a, struct mg_connection *conn);

/* ---- state.c: the persisted state ---- */
/* Writes servers, passes and the fencing table to state/agent.json atomically (a->lock
 * held). Returns 0 or MIG_EIO. */
int state_save(agent_t *a);
/* Reads state/agent.json if there (start-up, before any thread). 0 or MIG_E*, `err`. */
int state_load(agent_t *a, char *err, size_t errlen);
agent_server_t *state_find_server(agent_t *a, const char *id);
agent_server_t *state_new_server(agent_t *a, const char *id);
agent_pass_t *state_find_pass(agent_t *a, const char *sync_id);
agent_pass_t *state_new_pass(agent_t *a);
/* Paths of a server: its directory, staging tree and sync state folder. */
void state_server_dir(const agent_t *a, const char *id, char *out, size_t cap);
void state_staging_dir(const agent_t *a, const char *id, char *out, size_t cap);
void state_sync_dir(const agent_t *a, const char *id, char *out, size_t cap);
const char *state_name(srv_state_t s);
/* A server or migration id the agent accepts: 1-127 bytes of A-Z a-z 0-9 _ . - , not
 * starting with '.', so it is safe as a file name and in a command. */
bool state_id_ok(const char *id);

/* ---- routes.c / sync_routes.c ---- */
bool routes_handle(agent_t *a, agent_req_t *r);      /* health, containers */
/* Starts server `s`'s process (a->lock held on entry and on return, released while the
 * runtime starts it, with `s` marked busy): starting, or running at once without a
 * server.properties; persisted. 0, MIG_EREFUSED when `s` is busy with another call
 * (`err` says which), or MIG_EIO with the reason in `err`. */
int routes_start_process(agent_t *a, agent_server_t *s, char *err, size_t errlen);
bool sync_routes_handle(agent_t *a, agent_req_t *r); /* /v1/sync, /v1/sync-source */
/* Starts the threads of passes found running in the state after a restart. */
void sync_routes_resume(agent_t *a);
/* Ends the passes of server `id` (deleted): cancels and joins their threads; a->lock is
 * held on entry and on return, released while joining. */
void sync_routes_cancel_server(agent_t *a, const char *id);
void sync_routes_shutdown(agent_t *a);

#endif
