/* conntrack.h - where a spliced connection's client stands in the protocol, read from
 * the backend's bytes (server to client) as they pass, without changing them: the frame
 * boundaries, whether compression is on, and the state (login, configuration, play), so
 * that the router can put a Transfer packet between two frames.
 *
 * Only frame headers are read: a frame's length, and with compression its Data Length,
 * and the packet id when the packet is sent uncompressed (Data Length 0). The packets
 * that change the state (Login Success, Finish Configuration, Start Configuration) have
 * at most a few bytes, below any compression threshold, so a server sends them
 * uncompressed and their id is readable; a compressed packet is taken to change nothing.
 * An Encryption Request makes the stream opaque for good: once encrypted, no frame can
 * be found or added, and the router only splices.
 *
 * Pure: no sockets, no clock, no globals. */
#ifndef MIG_ROUTER_CONNTRACK_H
#define MIG_ROUTER_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mcproto.h"

/* Play state's Start Configuration (clientbound), 766 and 767 (minecraft-data
 * 1.20.5 / 1.21.1 protocol.json, play toClient "start_configuration"): back to the
 * configuration state. mcproto's table has no column for it. */
#define CONNTRACK_PLAY_START_CONFIG 0x69

typedef enum {
    CONNTRACK_LOGIN = 0, /* before Login Success */
    CONNTRACK_CONFIG,    /* configuration: Transfer id 0x0B */
    CONNTRACK_PLAY,      /* play: Transfer id 0x73 */
    CONNTRACK_OPAQUE,    /* encrypted, a protocol without Transfer, or bytes that are no frame */
} conntrack_state_t;

typedef struct {
    int32_t protocol;          /* the client's, from its handshake */
    conntrack_state_t state;
    bool compressed;           /* Set Compression seen: frames carry a Data Length */
    size_t remaining;          /* bytes of the current frame still to pass; 0 at a boundary */
    uint8_t head[MCPROTO_FRAME_LEN_BYTES + 2 * MCPROTO_VARINT_MAX]; /* a frame's first bytes */
    size_t head_len;           /* bytes of `head` gathered (0 at a boundary) */
} conntrack_t;

/* A tracker at the start of the login state; a protocol without Transfer (below 766, or
 * unknown to mcproto) starts opaque. */
void conntrack_init(conntrack_t *t, int32_t protocol);

/* Reads the next `n` bytes of the server-to-client stream. With `stop_at_boundary`,
 * stops right after the first frame that ends within them (and at once, returning 0,
 * when it stands at a boundary already), so that the caller can insert a packet there.
 * Returns the bytes read; every byte read must be passed on unchanged. An opaque stream
 * reads everything. */
size_t conntrack_feed(conntrack_t *t, const uint8_t *p, size_t n, bool stop_at_boundary);

/* True when a Transfer may be written now: between two frames, in configuration or
 * play. */
bool conntrack_can_inject(const conntrack_t *t);

/* Appends to `out` a Transfer to host:port framed for the stream as it stands (with a
 * Data Length of 0 when compression is on). MIG_EINVALID when not conntrack_can_inject(),
 * else mcbuf_status(out). */
int conntrack_write_transfer(const conntrack_t *t, mcbuf_t *out, const char *host, uint16_t port);

/* Name of a state for logs: "login", "configuration", "play", "opaque". */
const char *conntrack_state_name(conntrack_state_t s);

#endif
