/* slp.h - Server List Ping as the node agent uses it: is a server up, which version, how
 * many players. Pure: it builds the bytes to send and reads the bytes received; the
 * agent's server owns the socket and the timeout.
 *
 * The exchange (wiki.vg "Server List Ping", current form since 1.7): the client sends a
 * Handshake with next state 1 and a Status Request; the server answers a Status Response
 * whose JSON holds "version" {"name", "protocol"}, "players" {"max", "online", "sample"}
 * and "description" (a text component); the client may then send a Ping Request with a
 * Long, which the server echoes in a Pong Response before closing. */
#ifndef MIG_SLP_H
#define MIG_SLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mcproto.h"

/* Protocol number a status-only client may send when it speaks no particular version:
 * the server answers a status request whatever the number (wiki.vg Server List Ping). */
#define SLP_PROTOCOL_ANY (-1)
/* Largest Status Response frame: String(32767) takes at most 3 bytes a character and a
 * 3-byte length, plus the packet id. A longer frame is refused before it is buffered. */
#define SLP_FRAME_MAX (3 * MCPROTO_STRING_MAX + 3 + 1)
#define SLP_VERSION_NAME_MAX 64  /* bytes kept of version.name, NUL included */
#define SLP_DESCRIPTION_MAX 256  /* bytes kept of the flattened description, NUL included */

typedef struct {
    char version_name[SLP_VERSION_NAME_MAX]; /* "1.20.6", cut to fit */
    int32_t protocol;                        /* version.protocol, e.g. 766 */
    bool has_players;                        /* false when the server hides its counts */
    int online;                              /* players.online */
    int max;                                 /* players.max */
    /* The description as plain text: "text" of the component and of its "extra" parts in
     * order, "\u00a7x" colour codes removed, cut to fit (at a character boundary). */
    char description[SLP_DESCRIPTION_MAX];
} slp_status_t;

/* Appends the Handshake (next state 1) for `host`:`port` and the Status Request, to be
 * sent together. `protocol` is the client's version, or SLP_PROTOCOL_ANY. Returns 0 or
 * the buffer's error (MIG_EINVALID for a host over 255 characters, MIG_ENOMEM). */
int slp_write_request(mcbuf_t *b, int32_t protocol, const char *host, uint16_t port);

/* Appends a Ping Request carrying `payload` (the agent's clock, to time the round trip). */
int slp_write_ping(mcbuf_t *b, int64_t payload);

/* Reads the status JSON into `st`: 0, or MIG_EPROTO when it is not JSON, or "version"
 * lacks a string "name" or a number "protocol", or "players" is there without numbers
 * "online" and "max". */
int slp_parse_status(const char *json, size_t n, slp_status_t *st);

/* What slp_read() found. */
typedef struct {
    enum { SLP_REPLY_STATUS, SLP_REPLY_PONG } kind;
    slp_status_t status; /* SLP_REPLY_STATUS */
    int64_t pong;        /* SLP_REPLY_PONG: the echoed payload */
} slp_reply_t;

/* Reads one server packet from the start of `p` (the bytes received so far): the
 * packet's length (> 0) with `r` filled, 0 when more bytes are needed, MIG_EPROTO for a
 * malformed or oversized frame, an unexpected packet id, or a status JSON that
 * slp_parse_status() refuses. Never reads past `n`. */
int slp_read(const uint8_t *p, size_t n, slp_reply_t *r);

#endif
