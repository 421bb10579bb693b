/* wsframe.h - WebSocket frames (RFC 6455 section 5): writing them, parsing their headers,
 * masking payloads, close payloads, and putting a fragmented message together. Pure: no
 * I/O. The one codec of the relay (api/relay*.c) and of every client of it: migratectl
 * watch (cli/watch.c), the tests' client (tests/support/ws_client.c) and the fan-out
 * benchmark (bench/fanout.c). */
#ifndef MIG_WSFRAME_H
#define MIG_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 5.2). */
#define WSFRAME_OP_CONT 0x0
#define WSFRAME_OP_TEXT 0x1
#define WSFRAME_OP_BINARY 0x2
#define WSFRAME_OP_CLOSE 0x8
#define WSFRAME_OP_PING 0x9
#define WSFRAME_OP_PONG 0xA

/* Longest header: 2 bytes, an 8-byte length and a 4-byte mask key. */
#define WSFRAME_HEADER_MAX 14
/* Longest payload of a control frame (close, ping, pong), RFC 6455 5.5. */
#define WSFRAME_CONTROL_MAX 125

/* Close status codes (RFC 6455 7.4.1). */
#define WSFRAME_CLOSE_NORMAL 1000
#define WSFRAME_CLOSE_GOING_AWAY 1001   /* the server stops, or the client stopped answering pings */
#define WSFRAME_CLOSE_PROTOCOL 1002     /* a malformed frame */
#define WSFRAME_CLOSE_NO_STATUS 1005    /* what a close without a code means; never sent */
#define WSFRAME_CLOSE_POLICY 1008       /* a client too slow to keep up */
#define WSFRAME_CLOSE_INTERNAL 1011

/* Who sent the bytes being parsed: a client masks every frame and a server none
 * (RFC 6455 5.1), and a frame that breaks the rule is refused. */
typedef enum {
    WSFRAME_FROM_SERVER, /* read by a client: unmasked frames only */
    WSFRAME_FROM_CLIENT, /* read by a server: masked frames only */
} wsframe_from_t;

/* A parsed frame header. */
typedef struct {
    int fin;               /* 1 on the last frame of a message */
    int opcode;            /* WSFRAME_OP_* */
    int masked;            /* 1 when a mask key follows: every client-to-server frame */
    unsigned char mask[4]; /* the key, when masked */
    uint64_t len;          /* payload bytes */
    size_t header_len;     /* bytes before the payload: 2 to WSFRAME_HEADER_MAX */
} wsframe_header_t;

/* Writes the header of a frame of `opcode` with `len` payload bytes into `out`
 * (WSFRAME_HEADER_MAX bytes): `fin` 1 for the last (or only) frame of a message, 0 for
 * one that continuation frames follow. `mask` is NULL for a server's frame, or the
 * 4-byte key a client must send. Returns the header's length. */
size_t wsframe_header_write(unsigned char *out, int fin, int opcode, uint64_t len, const unsigned char *mask);

/* Writes a whole final frame into `out` (WSFRAME_HEADER_MAX + `len` bytes): its header,
 * then `len` bytes of `payload`, masked with `mask` when it is not NULL (a client's
 * frame). Returns the frame's length. */
size_t wsframe_write(unsigned char *out, int opcode, const void *payload, size_t len, const unsigned char *mask);

/* Parses the header at the start of `buf` (`n` bytes) of a frame sent by `from`.
 * Returns 1 with `h` filled, 0 when more bytes are needed, or MIG_EPROTO for a frame
 * RFC 6455 forbids: reserved bits set (no extension is negotiated), an unknown opcode, a
 * 64-bit length with the top bit set, a control frame that is fragmented or longer than
 * WSFRAME_CONTROL_MAX, or a mask where `from` sends none (or none where it must). */
int wsframe_header_parse(const unsigned char *buf, size_t n, wsframe_from_t from, wsframe_header_t *h);

/* XORs `n` bytes at `p` with `mask`, as payload bytes that begin `offset` bytes into
 * the frame's payload. Masking and unmasking are the same operation. */
void wsframe_mask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset);

/* Writes the payload of a close frame: the status code, big-endian, then `reason`
 * (may be NULL) cut to fit WSFRAME_CONTROL_MAX. `out` holds WSFRAME_CONTROL_MAX bytes.
 * Returns the payload's length. */
size_t wsframe_close_payload(unsigned char *out, int code, const char *reason);

/* The status code of a close payload, or WSFRAME_CLOSE_NO_STATUS when it has none. */
int wsframe_close_code(const unsigned char *payload, size_t len);

/* 1 when `code` may be sent in a close frame (RFC 6455 7.4: 1000-4999 but for the
 * codes that only name a missing status or a failure seen locally), 0 otherwise. */
int wsframe_close_code_sendable(int code);

/* ------------------------------------------------------------------------ messages */

/* Where a reader is between the frames of messages: a data message may come as a first
 * frame (text or binary, FIN clear) and continuation frames, with control frames
 * between them (RFC 6455 5.4). Zero-initialised: between messages. */
typedef struct {
    int in_message; /* a first frame without FIN was read */
    int opcode;     /* the message's: WSFRAME_OP_TEXT or _BINARY */
} wsframe_msg_t;

/* Steps `m` over the frame of header `h`. Returns 1 when the frame ends a data message
 * (its opcode in m->opcode), 0 when it does not (a control frame, or a fragment that more
 * follow), or MIG_EPROTO for a continuation with no message begun, or a new message
 * begun before the last one ended. */
int wsframe_msg_step(wsframe_msg_t *m, const wsframe_header_t *h);

#endif
