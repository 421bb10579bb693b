/* model.h - the simulated fleet as pure data and arithmetic: nodes with RAM, disk and a
 * price, servers with a world and a write rate, containers that take time to start and
 * stop, world syncs that take bytes / bandwidth, and the proxy's players (players.c).
 * No clock and no I/O: the caller moves time forward with model_advance(), so tests
 * drive it step by step.
 *
 * Units: times are simulated milliseconds from the start of the model; sizes are MB
 * (MODEL_MB bytes) in the settings and bytes in syncs; rates are MB/s.
 *
 * Errors: every call that can fail returns 0 or a negative MIG_E* code and leaves a wire
 * code ("disk_full") and a sentence on the model (m->err_code, m->err), for the HTTP
 * layer to answer with. The codes mean: MIG_EINVALID a bad request, MIG_ENO_SERVER /
 * MIG_ENO_NODE / MIG_ENOT_FOUND something unknown, MIG_EEXISTS / MIG_EILLEGAL a conflict
 * with the present state, MIG_EREFUSED RAM or disk short, MIG_EUNREACHABLE a node that
 * is unhealthy, MIG_ENOMEM. */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_MB 1048576.0    /* bytes in one MB: worlds, RAM and rates use binary MB */
#define MODEL_ID_MAX 64       /* longest node, server or migration id, with the NUL */
#define MODEL_NAME_MAX 128    /* longest name or address, with the NUL */
#define MODEL_PLAYER_MAX 32   /* longest player name, with the NUL (Minecraft allows 16) */
#define MODEL_PORT_BASE 25565 /* first game port; each container gets the lowest free one */
#define MODEL_MEMO_MAX 256    /* transfers remembered for idempotent repeats */

/* Life of a container. */
typedef enum { CT_CREATED = 0, CT_STARTING, CT_RUNNING, CT_STOPPING, CT_STOPPED } model_ct_state_t;

/* A hosting node. */
typedef struct {
    char id[MODEL_ID_MAX];
    char name[MODEL_NAME_MAX];
    char address[MODEL_NAME_MAX]; /* host of its containers' game ports */
    double eur_hour;              /* price of the whole node per hour */
    long long ram_total_mb;
    long long disk_total_mb;
    bool healthy;                 /* false: its agent answers 503 to health and creation */
} model_node_t;

/* A game server, wherever its containers are. */
typedef struct {
    char id[MODEL_ID_MAX];
    char name[MODEL_NAME_MAX];    /* also its name at the proxy */
    int node;                     /* index of the node it runs on, as the model sees it */
    long long ram_mb;             /* memory its container reserves */
    long long disk_mb;            /* world size: the bytes pass 1 of a sync copies */
    double write_mb_s;            /* data it dirties per second while running, not quiesced */
    double mean_players;          /* mean population of the random churn; 0: no churn */
    bool pinned;                  /* churn stopped (players set by the control endpoint) */
    int64_t idle_since;           /* sim ms since when it has had no player; -1 busy */
} model_server_t;

/* A container of a server on a node. */
typedef struct {
    int id;                       /* unique in the model, never reused */
    int server, node;             /* indexes */
    char migration_id[MODEL_ID_MAX]; /* who created it; "" for the fleet's own */
    model_ct_state_t state;
    int64_t until;                /* sim ms when starting or stopping ends */
    long long ram_mb, disk_mb;    /* reserved on the node from creation to deletion */
    int port;                     /* game port, unique in the model */
    bool quiesced;                /* autosave off after a flush: writes nothing */
    bool has_world;               /* holds the world: the fleet's own, or a sync reached it */
    double written;               /* bytes dirtied since it was created, monotonic */
} model_container_t;

/* One pass of a world copy to a target container. */
typedef struct {
    char id[MODEL_ID_MAX + 16];   /* "<migration_id>.<pass>" */
    char migration_id[MODEL_ID_MAX];
    int pass;
    bool final;
    int node, server;             /* target node; the server copied */
    int source_node;
    int target, source;           /* container ids; source -1 once it is gone */
    double total, done;           /* bytes */
    double written_at_begin;      /* the source's `written` when the pass began */
    double dirty_frozen;          /* dirty bytes, once frozen */
    bool frozen;                  /* a later pass began or the source went away */
    bool finished;                /* copied every byte */
    char error[160];              /* non-empty: the pass ended without finishing */
    int64_t began, ended;         /* sim ms; ended 0 while running */
} model_sync_t;

/* An online player: on a server name of the proxy or in a waiting room. */
typedef struct {
    char name[MODEL_PLAYER_MAX];
    char where[MODEL_NAME_MAX];   /* server name or waiting room */
    int backend;                  /* container id it is connected to; -1 in a waiting room */
} model_player_t;

/* A server name the proxy knows, and the address it sends joining players to. */
typedef struct {
    char name[MODEL_NAME_MAX];
    char address[MODEL_NAME_MAX];
} model_entry_t;

/* A transfer remembered under its idempotency key, so a repeat answers the same. */
typedef struct {
    char key[MODEL_ID_MAX + 2 * MODEL_NAME_MAX];
    char *moved;                  /* names separated by '\n'; owned */
    int count;
} model_transfer_t;

typedef struct {
    int64_t start_ms;             /* MIG_SIM_START_MS: created/stopped -> running */
    int64_t stop_ms;              /* running -> stopped */
    double bandwidth_mb_s;        /* per target node, shared by its running syncs; <= 0: instant */
    double session_s;             /* mean stay of a player, for the churn */
    uint64_t seed;                /* of the churn's random numbers */
    int64_t wall0_ms;             /* Unix ms at sim ms 0, for model_wall_ms() */
    double speed;                 /* sim ms per real ms, for model_wall_ms() */
} model_opts_t;

/* The whole fleet. Arrays grow as needed; indexes of nodes and servers never change. */
typedef struct {
    model_opts_t o;
    int64_t now;                  /* sim ms reached by model_advance() */
    uint64_t rng;
    int64_t churn_at;             /* sim ms of the next churn step */
    int64_t churn_prev;           /* sim ms of the last one */
    model_node_t *nodes;
    size_t n_nodes, cap_nodes;
    model_server_t *servers;
    size_t n_servers, cap_servers;
    model_container_t *cts;
    size_t n_cts, cap_cts;
    model_sync_t *syncs;
    size_t n_syncs, cap_syncs;
    model_player_t *players;
    size_t n_players, cap_players;
    model_entry_t *entries;
    size_t n_entries, cap_entries;
    char (*rooms)[MODEL_NAME_MAX];
    size_t n_rooms, cap_rooms;
    model_transfer_t memo[MODEL_MEMO_MAX];
    size_t memo_next;             /* ring position of the next remembered transfer */
    int next_ct_id;
    unsigned long long next_player; /* suffix of the next generated player name */
    long long kicked;             /* players dropped because their container went away */
    long long transferred;        /* players moved by transfers */
    char err_code[32];            /* of the last failed call: "disk_full" */
    char err[256];
} model_t;

void model_init(model_t *m, const model_opts_t *o);
void model_free(model_t *m);

/* Wire name of a state: "created", "starting", "running", "stopping", "stopped". */
const char *model_ct_state_name(model_ct_state_t s);

/* Unix ms of sim time `t`: wall0_ms + t / speed. */
int64_t model_wall_ms(const model_t *m, int64_t t);

/* ---- building the fleet ------------------------------------------------------------- */

/* Adds a node (copied). MIG_EEXISTS for a duplicate id. */
int model_add_node(model_t *m, const model_node_t *n);

/* Adds a server (copied; s->node must index a node). When `running`, it gets a running
 * container on its node holding its world, and the proxy an entry sending its name
 * there; MIG_EREFUSED when the node lacks the RAM or disk. */
int model_add_server(model_t *m, const model_server_t *s, bool running);

/* ---- lookups ------------------------------------------------------------------------ */

int model_node_index(const model_t *m, const char *id);       /* -1 when unknown */
int model_server_index(const model_t *m, const char *id);     /* -1 when unknown */
int model_server_by_name(const model_t *m, const char *name); /* -1 when unknown */
model_container_t *model_container_of(model_t *m, int node, int server); /* NULL: none */
model_container_t *model_container_by_id(model_t *m, int id);
const model_container_t *model_container_const(const model_t *m, int id);
long long model_ram_free(const model_t *m, int node);
long long model_disk_free(const model_t *m, int node);

/* "<node address>:<port>" of a container into `out`. */
void model_container_address(const model_t *m, const model_container_t *c, char *out, size_t cap);

/* The node a server runs on: that of the container its proxy name points at, else of a
 * running container of it, else of any container of it, else the last known. Updates
 * and returns s->node. */
int model_server_node(model_t *m, int server);

/* State of the container that serves a server (as model_server_node chooses it), or
 * "absent" when it has none. */
const char *model_server_state(const model_t *m, int server);

/* ---- time --------------------------------------------------------------------------- */

/* Moves the model to sim time `now` (never back): containers finish starting and
 * stopping, syncs copy at their share of their node's bandwidth and finish, running
 * containers dirty data, players come and go. Events are applied in time order. */
void model_advance(model_t *m, int64_t now);

/* ---- containers (the node agent's calls) -------------------------------------------- */

/* Creates the container of `server_id` on `node` for `migration_id`, reserving `ram_mb`
 * and `disk_mb` (< 0: the server's own figures). *created is false when it existed for
 * the same migration (nothing changed). MIG_EEXISTS when it exists for another,
 * MIG_EREFUSED when RAM or disk is short, MIG_EUNREACHABLE when the node is unhealthy. */
int model_create_container(model_t *m, int node, const char *server_id, const char *migration_id,
                           long long ram_mb, long long disk_mb, bool *created);

/* Start and stop; *state gets the state after the call (running or starting; stopped or
 * stopping). Starting turns autosave back on. Stopping drops the players connected to
 * it. MIG_ENOT_FOUND when there is no container, MIG_EILLEGAL when it is mid-way the
 * other way. */
int model_start_container(model_t *m, int node, const char *server_id, model_ct_state_t *state);
int model_stop_container(model_t *m, int node, const char *server_id, model_ct_state_t *state);

/* Deletes a container: frees its RAM and disk, drops its players and its syncs, and ends
 * the syncs reading from it with an error. MIG_ENOT_FOUND when there is none. */
int model_delete_container(model_t *m, int node, const char *server_id);

/* save off: flushes and stops dirtying (the container must be running); save on: dirties
 * again. *flushed tells whether a flush happened. */
int model_quiesce_container(model_t *m, int node, const char *server_id, bool save_on, bool *flushed);

/* Players connected to a container. */
int model_container_players(const model_t *m, int ct_id);

/* ---- syncs -------------------------------------------------------------------------- */

typedef struct {
    const char *server_id;
    const char *migration_id;
    const char *source_node_id;
    int pass;   /* 1: the whole world; n > 1: what the source dirtied since the latest
                   earlier pass of the migration began (the whole world when none) */
    bool final; /* made while the source is quiesced */
} model_sync_req_t;

/* Begins pass r->pass of copying a server's world from its container on the source node
 * to its container on `node`. A repeat of a pass that exists answers it unchanged
 * (*created false), except that a pass that ended with an error starts over. Errors:
 * MIG_EINVALID (a bad request), MIG_ENO_SERVER, MIG_ENO_NODE, MIG_ENOT_FOUND (no
 * container of the server on the source node holding its world), MIG_EILLEGAL (no
 * target container yet, or the previous pass still copying), MIG_EREFUSED (the world
 * does not fit the target's disk), MIG_EUNREACHABLE (a node unhealthy). */
int model_begin_sync(model_t *m, int node, const model_sync_req_t *r, const model_sync_t **out, bool *created);

/* The pass `sync_id` on `node`, or NULL. */
const model_sync_t *model_find_sync(const model_t *m, int node, const char *sync_id);

/* Bytes the source has dirtied since the pass began, at most the world: the size of the
 * next delta. Frozen once a later pass begins or the source goes away. */
double model_sync_dirty(const model_t *m, const model_sync_t *s);

/* Percent 0-100 of the pass copied (100 only when finished). */
int model_sync_progress(const model_sync_t *s);

/* ---- nodes -------------------------------------------------------------------------- */

/* Marks a node healthy or not; the syncs into or out of it that are copying fail. */
int model_set_health(model_t *m, int node, bool healthy);

/* ---- the proxy's players (players.c) ------------------------------------------------ */

/* Index of the proxy entry of `name`, or -1. */
int players_entry_index(const model_t *m, const char *name);

/* True when `name` is a waiting room. */
bool players_is_room(const model_t *m, const char *name);

/* The container id an address leads to: the live container whose "host:port" it is, else
 * a container of `server` (may be -1) on a node with that host; -1 when none. */
int players_resolve(const model_t *m, const char *address, int server);

/* Players on a server name or in a room. */
int players_count(const model_t *m, const char *where);

/* Creates a waiting room; *created false when it existed. MIG_EEXISTS when a server has
 * that name. */
int players_create_room(model_t *m, const char *name, bool *created);

/* Deletes a waiting room; the players still in it are dropped. MIG_ENOT_FOUND when gone. */
int players_delete_room(model_t *m, const char *name);

/* Moves every player on `from` (a server name or a room) to `to`. Players moved to a
 * server name connect to the container its address leads to, which must be running
 * (MIG_EILLEGAL otherwise); MIG_ENOT_FOUND for an unknown name. `from` = `to` (a server
 * name) reconnects its players that are still on another container to the name's present
 * address, as after a re-registration. A repeat with the same
 * non-empty `key` moves whoever has come to `from` since, and answers every player moved
 * under that key. *out points at the remembered transfer (valid until the next call). */
int players_transfer(model_t *m, const char *key, const char *from, const char *to, const model_transfer_t **out);

/* Points a server name at an address (created when unknown); players already connected
 * stay on their container, new joins and transfers go to the address. */
int players_register(model_t *m, const char *name, const char *address);

/* Sets exactly `count` players on a server (joining its container, which must be
 * running, or leaving), and stops or resumes its churn. */
int players_set_count(model_t *m, int server, int count, bool churn);

/* Adds a player on server name `where` connected to `backend`, named `name`, or a fresh
 * generated name when `name` is NULL. */
int players_join(model_t *m, const char *where, int backend, const char *name);

/* Drops the players connected to container `ct_id`; returns how many. */
int players_kick_backend(model_t *m, int ct_id);

/* One step of `dt_s` seconds of random churn on the servers that have one. */
void players_churn(model_t *m, double dt_s);

/* Sets each server's idle_since from its player count at the present time. */
void players_refresh_idle(model_t *m);

#endif
