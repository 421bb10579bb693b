/* ws_client.h - a minimal blocking WebSocket client for tests: raw sockets on loopback,
 * the frames of core/wsframe.c, and Check assertions on anything unexpected. It answers
 * pings as a browser does (unless told not to) and can shrink its receive buffer, to
 * play a client that reads slowly. */
#ifndef MIG_TEST_WS_CLIENT_H
#define MIG_TEST_WS_CLIENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define WS_WAIT_MS 5000 /* longest wait for something that should happen at once */

typedef struct {
    int fd;
    int answer_pings;          /* 1: pings are answered, as a browser does */
    unsigned char buf[1 << 16]; /* bytes read and not yet a whole frame */
    size_t n;
    char body[2048];           /* the body of a refused upgrade */
} ws_t;

/* Opens a WebSocket to `path` (with its query) on 127.0.0.1:`port`, with a bearer token
 * or none, and a receive buffer of `rcvbuf` bytes (0: the system's). Returns the HTTP
 * status: 101 when upgraded, else the body is in w->body and the socket is closed. */
int ws_open(ws_t *w, int port, const char *path, const char *bearer, int rcvbuf);

/* Reads more raw bytes into w->buf within `ms`: >0 read, -1 timeout, -2 closed or reset. */
int ws_fill(ws_t *w, int ms);

/* Sends one masked frame of opcode `op` (payload at most 256 bytes). */
void ws_send(ws_t *w, int op, const void *payload, size_t len);

/* Reads the next frame within `ms`: its opcode in *op and its payload (NUL-terminated)
 * in `out`. Returns the payload's length, -1 on timeout, -2 when the connection ended.
 * Pings are answered when w->answer_pings, and returned too. */
long ws_read(ws_t *w, int ms, int *op, char *out, size_t cap);

/* The next text message as JSON (caller frees), skipping pings; fails the test on
 * anything else or after WS_WAIT_MS. */
cJSON *ws_next_json(ws_t *w);

/* The same within `ms`, for what comes after a backoff or a timer of the server's. */
cJSON *ws_next_json_within(ws_t *w, int ms);

/* Fails when a text message has reached the client already, reading without waiting.
 * It shows silence once the server has demonstrably passed the point where it would
 * have sent one: another client got a later message (a write on loopback is in the
 * peer's socket at once). A wait for silence would pass on a slow machine however wrong
 * the server was. */
void ws_expect_none_pending(ws_t *w);

/* Waits for a close frame within `ms` and returns its status code. */
int ws_expect_close(ws_t *w, int ms);

/* Closes with a close frame and waits for the answer (or the end). */
void ws_close(ws_t *w);

#endif
