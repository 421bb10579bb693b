/* ws_client.c - a minimal blocking WebSocket client for tests. */
#include "ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "core/wsframe.h"
#include "core/timefmt.h"

static int tcp_connect(int port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads more bytes into w->buf within `ms`: >0 read, -1 timeout, -2 closed or reset. */
int ws_fill(ws_t *w, int ms) {
    struct pollfd p = {.fd = w->fd, .events = POLLIN};
    int rv = poll(&p, 1, ms);
    if (rv == 0) return -1;
    ck_assert_msg(w->n < sizeof w->buf, "client buffer full");
    ssize_t got = recv(w->fd, w->buf + w->n, sizeof w->buf - w->n, 0);
    if (got <= 0) return -2;
    w->n += (size_t)got;
    return (int)got;
}

/* Opens a WebSocket to `path` (with its query), with a bearer token or none, and a
 * receive buffer of `rcvbuf` bytes (0: the system's). Returns the HTTP status: 101 when
 * upgraded, else the body is in w->body and the socket is closed. */
int ws_open(ws_t *w, int port, const char *path, const char *bearer, int rcvbuf) {
    memset(w, 0, sizeof *w);
    w->answer_pings = 1;
    w->fd = tcp_connect(port, rcvbuf);
    char req[1024], authz[300] = "";
    if (bearer) snprintf(authz, sizeof authz, "Authorization: Bearer %s\r\n", bearer);
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                       path, port, authz);
    ck_assert_int_eq(send(w->fd, req, (size_t)len, MSG_NOSIGNAL), len);
    char *end = NULL;
    while ((end = memmem(w->buf, w->n, "\r\n\r\n", 4)) == NULL) ck_assert_int_gt(ws_fill(w, WS_WAIT_MS), 0);
    size_t hlen = (size_t)(end + 4 - (char *)w->buf);
    int status = 0;
    ck_assert_int_eq(sscanf((char *)w->buf, "HTTP/1.1 %d", &status), 1);
    if (status == 101) {
        memmove(w->buf, w->buf + hlen, w->n - hlen);
        w->n -= hlen;
        return status;
    }
    const char *cl = strcasestr((char *)w->buf, "Content-Length:");
    size_t want = cl && cl < end ? (size_t)atol(cl + 15) : 0;
    while (w->n - hlen < want && ws_fill(w, WS_WAIT_MS) > 0) {
    }
    size_t bl = w->n - hlen < sizeof w->body - 1 ? w->n - hlen : sizeof w->body - 1;
    memcpy(w->body, w->buf + hlen, bl);
    w->body[bl] = '\0';
    close(w->fd);
    w->fd = -1;
    return status;
}

void ws_send(ws_t *w, int op, const void *payload, size_t len) {
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    unsigned char frame[WSFRAME_HEADER_MAX + 256];
    ck_assert(len <= 256);
    size_t fl = wsframe_write(frame, op, payload, len, mask);
    ck_assert_int_eq(send(w->fd, frame, fl, MSG_NOSIGNAL), (ssize_t)fl);
}

/* Reads the next frame within `ms`: its opcode in *op and its payload (NUL-terminated)
 * in `out`. Returns the payload's length, -1 on timeout, -2 when the connection ended.
 * Pings are answered when w->answer_pings, and returned too. */
long ws_read(ws_t *w, int ms, int *op, char *out, size_t cap) {
    long long end = timefmt_mono_ms() + ms;
    for (;;) {
        wsframe_header_t h;
        int rv = wsframe_header_parse(w->buf, w->n, WSFRAME_FROM_SERVER, &h);
        ck_assert_msg(rv >= 0, "a malformed or masked frame from the server");
        if (rv == 1 && w->n >= h.header_len + h.len) {
            ck_assert_msg(h.len < cap, "frame of %llu bytes", (unsigned long long)h.len);
            memcpy(out, w->buf + h.header_len, (size_t)h.len);
            out[h.len] = '\0';
            size_t used = h.header_len + (size_t)h.len;
            memmove(w->buf, w->buf + used, w->n - used);
            w->n -= used;
            *op = h.opcode;
            if (h.opcode == WSFRAME_OP_PING && w->answer_pings) ws_send(w, WSFRAME_OP_PONG, out, (size_t)h.len);
            return (long)h.len;
        }
        long long left = end - timefmt_mono_ms();
        if (left <= 0) return -1;
        int got = ws_fill(w, (int)left);
        if (got < 0) return got;
    }
}

/* The next text message as JSON within `ms`, skipping pings; fails the test on anything
 * else. */
cJSON *ws_next_json_within(ws_t *w, int ms) {
    static char msg[1 << 16];
    long long end = timefmt_mono_ms() + ms;
    for (;;) {
        int op;
        long long left = end - timefmt_mono_ms();
        long n = ws_read(w, left > 0 ? (int)left : 0, &op, msg, sizeof msg);
        ck_assert_msg(n >= 0, "no message within %d ms (%ld)", ms, n);
        if (op == WSFRAME_OP_PING || op == WSFRAME_OP_PONG) continue;
        ck_assert_msg(op == WSFRAME_OP_TEXT, "opcode %d instead of a text message", op);
        cJSON *j = cJSON_Parse(msg);
        ck_assert_msg(j != NULL, "not JSON: %s", msg);
        return j;
    }
}

cJSON *ws_next_json(ws_t *w) {
    return ws_next_json_within(w, WS_WAIT_MS);
}

/* Fails when a text message has arrived already: reads what the socket holds now, and
 * never waits. */
void ws_expect_none_pending(ws_t *w) {
    static char msg[1 << 16];
    for (;;) {
        int op;
        long n;
        while ((n = ws_read(w, 0, &op, msg, sizeof msg)) >= 0) /* whole frames buffered */
            ck_assert_msg(op != WSFRAME_OP_TEXT, "unexpected message: %s", msg);
        int got = ws_fill(w, 0);
        if (got == -1) return; /* nothing more in the socket */
        ck_assert_msg(got > 0, "connection ended");
    }
}

/* Waits for a close frame within `ms` and returns its status code. */
int ws_expect_close(ws_t *w, int ms) {
    static char msg[1 << 16];
    long long end = timefmt_mono_ms() + ms;
    for (;;) {
        int op;
        long n = ws_read(w, (int)(end - timefmt_mono_ms() > 0 ? end - timefmt_mono_ms() : 0), &op, msg, sizeof msg);
        ck_assert_msg(n >= 0, "no close frame (%ld)", n);
        if (op == WSFRAME_OP_CLOSE) return wsframe_close_code((unsigned char *)msg, (size_t)n);
    }
}

/* Closes with a close frame and waits for the answer (or the end). */
void ws_close(ws_t *w) {
    if (w->fd < 0) return;
    unsigned char p[WSFRAME_CONTROL_MAX];
    ws_send(w, WSFRAME_OP_CLOSE, p, wsframe_close_payload(p, WSFRAME_CLOSE_NORMAL, "bye"));
    static char msg[1 << 16];
    int op = 0;
    while (ws_read(w, WS_WAIT_MS, &op, msg, sizeof msg) >= 0 && op != WSFRAME_OP_CLOSE) {
    }
    close(w->fd);
    w->fd = -1;
}

