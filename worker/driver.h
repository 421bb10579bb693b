/* driver.h - the worker's client of the driver contract (docs/DRIVERS.md): node agents
 * and the proxy bridge over HTTP with libcurl. Every call has a timeout and carries the
 * migration id as Idempotency-Key; idempotent calls are retried with backoff on a
 * connect failure, a timeout or a 5xx. Errors say which node, which call and what came
 * back, in d->err.
 *
 * A driver bound to a lease (driver_bind_lease) is fenced: it makes no call once the
 * lease's deadline has passed, never lets a call run past it, and sends the lease's
 * fencing token with every call (`Fencing-Token`), so an agent refuses a call of a worker
 * that lost its lease whatever that worker believes (docs/DRIVERS.md, Fencing).
 *
 * Agents are reached over http or https only (libcurl refuses any other scheme, and
 * redirects), at a node address that must be host[:port] (inventory_address_check),
 * with the worker's token when MIG_DRIVER_TOKEN is set.
 *
 * One driver per thread: it keeps one curl handle, so connections are reused. */
#ifndef MIG_DRIVER_H
#define MIG_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/inventory.h"
#include "worker/lease.h"

#define DRIVER_ERR_MAX 512

typedef struct {
    const char *node_url;   /* pattern with {node_id} and {node_address} */
    const char *proxy_url;  /* base URL of the proxy bridge */
    int timeout_ms;         /* per call */
    int attempts;           /* tries of an idempotent call, >= 1 */
    int backoff_ms;         /* first retry delay, doubling */
    const char *token;      /* MIG_DRIVER_TOKEN: sent as "Authorization: Bearer <token>" on
                             * every call; NULL or "" for none */
    const char *ca_file;    /* MIG_DRIVER_CA_FILE: CA bundle that https agents are checked
                             * against (NULL: the system's) */
    const char *cert_file;  /* MIG_DRIVER_CERT_FILE and MIG_DRIVER_KEY_FILE: this worker's
                             * client certificate for agents that ask for one (NULL: none) */
    const char *key_file;
} driver_opts_t;

typedef struct driver driver_t;

/* NULL with the reason in `err` for bad options or no memory. Free with driver_free. */
driver_t *driver_new(const driver_opts_t *o, char *err, size_t errlen);
void driver_free(driver_t *d);

/* Fences every later call with `lease` (borrowed; it outlives the driver): no call once
 * its deadline passed (MIG_ELOST, nothing sent), none running past it, each carrying its
 * token. An agent's 409 stale_token marks the lease lost. */
void driver_bind_lease(driver_t *d, lease_t *lease);

/* What the last failed call said ("node n2: POST /v1/sync: 507 disk_full"): the place,
 * the call, the status and the agent's error code when it gave a clean one, never the
 * answer's body (an address may point at any service; the body goes to the log). */
const char *driver_error(const driver_t *d);

/* The call a fault would name: "POST /v1/sync". Set before each call, for the logs. */
const char *driver_last_call(const driver_t *d);

/* Every call returns 0, MIG_EUNREACHABLE (transport failure, timeout or 5xx after the
 * retries: worth retrying the migration later), MIG_EREFUSED (a 4xx, or 507 for
 * capacity: final for this attempt), MIG_ELOST (the bound lease is gone or an agent
 * refused its token: the caller must stop acting at once) or MIG_ENOMEM. `key` is the
 * migration id. */

/* ---- node agent --------------------------------------------------------------------- */
int driver_health(driver_t *d, const node_t *n, bool *healthy, long long *ram_free_mb, long long *disk_free_mb);
int driver_container_create(driver_t *d, const node_t *n, const char *key, const char *server_id,
                            long long ram_mb, long long disk_mb);
int driver_container_start(driver_t *d, const node_t *n, const char *key, const char *server_id);
/* What GET /v1/containers/{id} answers. */
typedef struct {
    char state[32];         /* "running", "starting", ...; "absent" on a 404 */
    bool healthy;
    int players;            /* players connected to this container; -1 when not said */
    char address[256];      /* the game address the proxy should use, "" when not said */
} driver_container_t;

int driver_container_get(driver_t *d, const node_t *n, const char *key, const char *server_id,
                         driver_container_t *c);
int driver_container_stop(driver_t *d, const node_t *n, const char *key, const char *server_id);
/* A 404 counts as done; so does a 409 busy (the agent deleting it already, from a call
 * that outlasted its timeout) once a GET answers 404, within DRIVER_DELETE_WAIT_MS. */
#define DRIVER_DELETE_WAIT_MS 180000 /* above an agent's own wait: two stop timeouts of 30 s and 40 s */
#define DRIVER_DELETE_POLL_MS 200
int driver_container_delete(driver_t *d, const node_t *n, const char *key, const char *server_id);
int driver_quiesce(driver_t *d, const node_t *n, const char *key, const char *server_id, bool save_on);
/* Starts pass `pass` of the world copy from `source` to `target`; sync_id gets its id. */
int driver_sync_start(driver_t *d, const node_t *target, const node_t *source, const char *key,
                      const char *server_id, int pass, bool final, char sync_id[128]);

typedef struct {
    int progress;           /* 0-100 */
    long long bytes_total, bytes_done, dirty_bytes;
    bool done;
    char error[256];        /* empty unless the pass failed */
} driver_sync_t;

int driver_sync_get(driver_t *d, const node_t *target, const char *key, const char *sync_id, driver_sync_t *s);

/* ---- proxy bridge ------------------------------------------------------------------- */
int driver_players(driver_t *d, const char *key, const char *server_name, int *count);
int driver_room_create(driver_t *d, const char *key, const char *room);
/* A 404 counts as done. */
int driver_room_delete(driver_t *d, const char *key, const char *room);
/* Moves every player of `from` to `to` with `message`. `key` names the attempt
 * ("<migration id>.<fencing token>"): the proxy answers every player moved under it, so a
 * repeat within the attempt counts each once and a later attempt starts from none;
 * `migration_id` goes in the body, for fencing. *moved (may be NULL) gets the number of
 * distinct players in the answer. With `room_gone_ok`, a `from` the proxy does not know
 * (a waiting room already deleted) is nobody to move, not an error. */
int driver_transfer(driver_t *d, const char *key, const char *migration_id, const char *from, const char *to,
                    const char *message, bool room_gone_ok, int *moved);
int driver_register(driver_t *d, const char *key, const char *server_name, const char *address);

#endif
