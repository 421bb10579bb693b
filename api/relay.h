/* relay.h - the WebSocket relay of migration events: GET /api/ws.
 *
 * One libevent thread holds a hiredis async connection SUBSCRIBEd to the events channel
 * and fans every message out to the WebSocket clients; civetweb threads never block on
 * Redis for it. A client connecting with ?since=<event_id> first receives every event
 * after that id from the capped stream, then the live ones, with no gap and no duplicate
 * at the seam; an id older than the stream's first entry gets a {"type":"resync"}
 * message. Each event goes out in the seed's envelope, {"type","event_id","data":{"id",...}}
 * (core/envelope.h), built once per event; ?format=flat sends the stream's flat JSON
 * instead, for older clients. Optional filters ?server_id= and ?migration_id=. A ping
 * every 30 s; a client
 * whose queued frames (events, and the answers to its own pings) pass `max_pending` bytes
 * is closed; when Redis drops, the relay
 * reconnects with backoff and resumes from the last event id it relayed.
 *
 * civetweb only does the handshake: the relay then takes the connection's socket and
 * writes to it with non-blocking sends from its own thread, so one slow client never
 * delays the others, and a WebSocket holds no civetweb worker thread (api/relay_private.h
 * tells how). Plain HTTP only: TLS belongs to a proxy in front (a wss:// request is
 * refused with 501). Refusals before the upgrade are the API's JSON errors: 401 without
 * a valid token (Authorization: Bearer or ?token=), 400 for a malformed query. */
#ifndef MIG_RELAY_H
#define MIG_RELAY_H

#include <stddef.h>

#include "api/auth.h"
#include "api/guard.h"
#include "rconn.h"

struct mg_context;
typedef struct relay relay_t;

typedef struct {
    /* Where Redis is, as for the program's other connections (rconn_opts_from_config):
     * the URL, or the sentinels that name the primary, asked again before each connect
     * so that the relay follows a failover; the prefix names the channel and the stream
     * (<prefix>events). Its strings are borrowed for the relay's life. */
    rconn_opts_t redis;
    const auth_t *auth;    /* a WebSocket needs ROLE_VIEWER or above */
    const guard_t *guard;  /* and a Host and Origin it allows (api/guard.h) */
    size_t max_pending;    /* bytes queued for one client before it is closed; 0: 1 MiB */
    int ping_s;            /* seconds between pings; 0: 30 */
} relay_opts_t;

/* Starts the relay thread and registers the handler of `uri` ("/api/ws") on `ctx`.
 * Returns NULL with the reason in `err`. */
relay_t *relay_start(struct mg_context *ctx, const char *uri, const relay_opts_t *o, char *err,
                     size_t errlen);

/* Closes every client with status 1001 (going away), waiting up to 3 s for their
 * answers, and stops the thread; call before mg_stop() (it unregisters its handler from
 * `ctx`). Then frees the relay. NULL is a no-op. */
void relay_stop(relay_t *r);

/* Clients connected now, and events relayed since start (for /metrics). */
long relay_clients(const relay_t *r);
long long relay_events(const relay_t *r);
/* 1 while the relay's Redis subscription is up. */
int relay_connected(const relay_t *r);

#endif
