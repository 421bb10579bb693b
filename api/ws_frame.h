/* ws_frame.h - WebSocket frames (RFC 6455 section 5): writing headers, parsing them,
 * masking payloads, close payloads. Pure: no I/O. Used by the relay and by the WebSocket
 * clients of its tests and benchmark. */
#ifndef MIG_WS_FRAME_H
#define MIG_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 5.2). */
#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

/* Longest header: 2 bytes, an 8-byte length and a 4-byte mask key. */
#define WS_HEADER_MAX 14
/* Longest payload of a control frame (close, ping, pong), RFC 6455 5.5. */
#define WS_CONTROL_MAX 125

/* Close status codes the relay sends (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001   /* the server stops, or the client stopped answering pings */
#define WS_CLOSE_PROTOCOL 1002     /* a malformed frame */
#define WS_CLOSE_POLICY 1008       /* a client too slow to keep up */
#define WS_CLOSE_INTERNAL 1011

/* A parsed frame header. */
typedef struct {
    int fin;               /* 1 on the last frame of a message */
    int opcode;            /* WS_OP_* */
    int masked;            /* 1 when a mask key follows: every client-to-server frame */
    unsigned char mask[4]; /* the key, when masked */
    uint64_t len;          /* payload bytes */
    size_t header_len;     /* bytes before the payload: 2 to WS_HEADER_MAX */
} ws_header_t;

/* Writes the header of a final frame of `opcode` with `len` payload bytes into `out`
 * (WS_HEADER_MAX bytes). `mask` is NULL for a server's frame, or the 4-byte key a
 * client must send. Returns the header's length. */
size_t ws_header_write(unsigned char *out, int opcode, uint64_t len, const unsigned char *mask);

/* Parses the header at the start of `buf` (`n` bytes). Returns 1 with `h` filled, 0
 * when more bytes are needed, or MIG_EPROTO for a frame RFC 6455 forbids: reserved bits
 * set (no extension is negotiated), an unknown opcode, a length with the top bit set, or
 * a control frame that is fragmented or longer than WS_CONTROL_MAX. */
int ws_header_parse(const unsigned char *buf, size_t n, ws_header_t *h);

/* XORs `n` bytes at `p` with `mask`, as payload bytes that begin `offset` bytes into
 * the frame's payload. Masking and unmasking are the same operation. */
void ws_mask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset);

/* Writes the payload of a close frame: the status code, big-endian, then `reason`
 * (may be NULL) cut to fit WS_CONTROL_MAX. `out` holds WS_CONTROL_MAX bytes. Returns
 * the payload's length. */
size_t ws_close_payload(unsigned char *out, int code, const char *reason);

/* The status code of a close payload, or 1005 (no status) when it has none. */
int ws_close_code(const unsigned char *payload, size_t len);

#endif
