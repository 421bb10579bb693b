/* table.h - the proxy bridge's model inside the router: server names and their backend
 * addresses, waiting rooms, servers parked in a room while they move, transfers the
 * router has told players to make (pending until they reconnect), the memory of each
 * transfer call under its key, the fencing table, and the transfer planner. Pure: no
 * sockets, no clock (times are passed in), no globals; the caller holds the router's
 * lock around every call.
 *
 * Names of servers and rooms compare without regard to case (a host name arrives lower-
 * cased); the table keeps the spelling of the call that created the entry. */
#ifndef MIG_ROUTER_TABLE_H
#define MIG_ROUTER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TABLE_NAME_MAX 128     /* bytes of a server, room or migration name with its NUL */
#define TABLE_ADDR_MAX 300     /* bytes of host:port with its NUL */
#define TABLE_PLAYER_MAX 64    /* bytes of a player name (16 characters, up to 3 bytes each) */
#define TABLE_IP_MAX 64        /* bytes of a textual IPv6 address with its NUL */
#define TABLE_SERVERS_MAX 4096 /* server names: a fleet far larger than one router serves */
#define TABLE_ROOMS_MAX 1024   /* waiting rooms at once: one per migration in flight */
#define TABLE_PENDING_MAX 16384 /* players on their way after a Transfer */
#define TABLE_MEMO_MAX 512     /* transfer calls remembered for their retries: a worker
                                * retries within seconds, and 512 calls is minutes of a busy fleet */
#define TABLE_FENCE_MAX 65536  /* migrations remembered by the fencing table (~140 B each) */

typedef struct {
    char name[TABLE_NAME_MAX];
    char address[TABLE_ADDR_MAX];   /* host:port of its backend */
    char parked_in[TABLE_NAME_MAX]; /* a room its players were moved to, "" when none: new
                                     * joins go there until the server is registered again
                                     * or its players are moved back */
} table_server_t;

/* A player the router sent a Transfer: where it goes when it reconnects. */
typedef struct {
    char player[TABLE_PLAYER_MAX];
    char ip[TABLE_IP_MAX];
    char to[TABLE_NAME_MAX];
    int64_t expires_ms; /* monotonic ms after which the entry is forgotten */
} table_pending_t;

/* One transfer call remembered under its key: the players it moved. */
typedef struct {
    char key[3 * TABLE_NAME_MAX]; /* "<Idempotency-Key>\n<from>\n<to>", "" when unused */
    char *moved;                  /* names separated by '\n'; owned */
    int count;
} table_memo_t;

typedef struct {
    char migration_id[TABLE_NAME_MAX];
    uint64_t highest;
} table_fence_t;

typedef struct {
    table_server_t *servers; /* TABLE_SERVERS_MAX */
    size_t n_servers;
    char (*rooms)[TABLE_NAME_MAX]; /* TABLE_ROOMS_MAX */
    size_t n_rooms;
    table_pending_t *pending; /* TABLE_PENDING_MAX */
    size_t n_pending;
    table_memo_t memo[TABLE_MEMO_MAX];
    size_t memo_next;         /* next slot of the ring to reuse */
    table_memo_t scratch;     /* the answer of a call without a key */
    table_fence_t *fence;     /* TABLE_FENCE_MAX, sorted by migration id */
    size_t n_fence;
    char err_code[32];        /* the contract's code of the last refusal ("not_found") */
    char err_msg[256];        /* and its sentence */
} table_t;

/* 0 or MIG_ENOMEM. table_free() releases everything, also after a failed init. */
int table_init(table_t *t);
void table_free(table_t *t);

/* The entry of a server / the index of a room named `name` (any case), or NULL / -1. */
table_server_t *table_server(table_t *t, const char *name);
int table_room(const table_t *t, const char *name);

/* PUT /v1/servers/{name}: registers or re-points a server; its parking ends. Returns 0,
 * MIG_EINVALID (a name or address of a wrong shape) or MIG_EEXISTS (a room has the name),
 * with err_code / err_msg set. *out is the entry. */
int table_put_server(table_t *t, const char *name, const char *address, table_server_t **out);

/* POST /v1/waiting-rooms: 0 with *created, or MIG_EINVALID / MIG_EEXISTS (a server has
 * the name). */
int table_create_room(table_t *t, const char *name, bool *created);

/* DELETE /v1/waiting-rooms/{name}: 0 or MIG_ENOT_FOUND. Servers parked in it are
 * unparked and transfers pending to it forgotten. The caller disconnects its players. */
int table_delete_room(table_t *t, const char *name);

/* Remembers that `player` from `ip` was sent to `to` (replacing an older entry of the
 * player). MIG_ENOMEM when the table is full of live entries. */
int table_pending_add(table_t *t, const char *player, const char *ip, const char *to, int64_t now_ms,
                      int64_t ttl_ms);
/* Takes the live entry of `player` from `ip`: 1 with its destination in `to` (`cap`
 * bytes), 0 when there is none. */
int table_pending_take(table_t *t, const char *player, const char *ip, int64_t now_ms, char *to, size_t cap);
/* Calls fn(ctx, player) for each live entry on its way to `to`. */
void table_pending_list(const table_t *t, const char *to, int64_t now_ms, void (*fn)(void *, const char *),
                        void *ctx);

/* The fencing check of docs/DRIVERS.md for a call of `migration_id` carrying `token`:
 * 0 when accepted (*raised true when the highest grew, so that the caller persists the
 * table before acting), MIG_ESTALE when below the highest (*highest tells it), MIG_ENOMEM
 * when the table is full. */
int table_fence(table_t *t, const char *migration_id, uint64_t token, bool *raised, uint64_t *highest);

/* A player as the planner sees it (a snapshot of the router's connection table). */
typedef struct {
    const char *name;
    const char *where;   /* the server or room it is on (the table's spelling) */
    const char *backend; /* address its connection leads to, "" in a room */
    bool injectable;     /* a Transfer can reach it (1.20.5+, a stream the router can frame) */
    bool leaving;        /* already told to go */
} table_player_t;

typedef enum {
    TABLE_STAY = 0, /* not moved by this call */
    TABLE_MOVE,     /* send it a Transfer to the router, for `to` */
    TABLE_DROP,     /* on `from`, but no Transfer can reach it: close its connection */
} table_action_t;

/* POST /v1/transfers: decides who moves from `from` to `to` (from = to, a server: those
 * still connected to another address than the server's). `key` is the Idempotency-Key
 * ("" none). actions[i] is set for players[i]; the moved are added to the memo of the
 * key, *memo the answer (every name moved under the key). Parks `from` in `to` when a
 * server's players go to a room; unparks `to` when players come to a server. Returns 0,
 * MIG_EINVALID (bad_request), MIG_ENOT_FOUND (not_found) or MIG_ENOMEM, with err_*. */
int table_plan_transfer(table_t *t, const char *key, const char *from, const char *to, const table_player_t *players,
                        size_t n, table_action_t *actions, const table_memo_t **memo);

/* A name the bridge accepts for a server or room: 1..127 bytes of A-Z a-z 0-9 _ . - */
bool table_name_ok(const char *name);

#endif
