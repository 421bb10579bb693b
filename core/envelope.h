/* envelope.h - the WebSocket message of an event: the seed's envelope
 * {"type", "event_id", "data": {"id", ...}} built from the flat JSON the functions write
 * (docs/EVENTS.md). Pure.
 *
 * Why two forms: the stream and the channel keep the flat event (one object, cheapest to
 * write from Lua and to filter on), and the relay builds the envelope once per event when
 * it sends it, live or replayed; a client that asks for ?format=flat gets the flat one. */
#ifndef MIG_ENVELOPE_H
#define MIG_ENVELOPE_H

#include <stddef.h>

/* The envelope of the flat event `flat` (`n` bytes of a JSON object with `type` and,
 * from the channel or the relay, `event_id`):
 *   - `type` and `event_id` at the top level (event_id null when absent);
 *   - `data`: `id` first, then every other member in its order. `id` is the migration's
 *     id for migration.* (from migration_id), the node's for node.* (node_id) and the
 *     server's for server.* (server_id); that member moves into `id` and is not repeated.
 *     migration.created also gets `from_node` and `to_node` (the ids) beside
 *     from_node_id/to_node_id, as the seed names them.
 * Returns 0 with a NUL-terminated string in *out (the caller frees it with free()) and its
 * length in *outlen; MIG_EINVALID when `flat` is not a JSON object with a string `type`;
 * MIG_ENOMEM. */
int envelope_from_flat(const char *flat, size_t n, char **out, size_t *outlen);

/* The envelope of a message that is not an event (`resync`): {"type": type,
 * "event_id": null, "data": {"reason": reason}}. Same ownership and returns. */
int envelope_notice(const char *type, const char *reason, char **out, size_t *outlen);

#endif
