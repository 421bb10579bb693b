/* peer.h - the target's way to its source agent: a sync_transport_t (agent/sync.h) over
 * libcurl to the source's /v1/sync-source/{server_id}/... routes, with the agents'
 * shared token, optional TLS, a rate limit and a cancel flag. */
#ifndef MIG_AGENT_PEER_H
#define MIG_AGENT_PEER_H

#include <stdint.h>

#include "agent/agent.h"
#include "agent/sync.h"

/* One connection's worth of a transport. Used by one thread at a time: a pass's thread
 * and a dirty_bytes query each make their own. */
typedef struct peer peer_t;

/* A transport to server `server_id` on the agent at `source_address` (host[:port]; the
 * agent's default port 7070 when none), through a->peer_url. `cancel` (may be NULL)
 * stops a call in flight when it becomes non-zero. Returns NULL when memory is short or
 * the address is not host[:port]. Free with peer_free. */
peer_t *peer_new(const agent_t *a, const char *source_address, const char *server_id, volatile int *cancel);
void peer_free(peer_t *p);

/* The transport backed by `p` (borrowed). */
sync_transport_t peer_transport(peer_t *p);

/* The last failure's words ("source_not_found", "http 500 ...", a libcurl message). */
const char *peer_error(const peer_t *p);

/* The status of the last answer, 0 when none came. */
long peer_status(const peer_t *p);

#endif
