/* mcproto.c - libFuzzer target: Minecraft protocol frames and packets (core/mcproto.c),
 * as the router and the agent read them from a client or a server: a stream of frames,
 * each body handed to every packet reader. `make fuzz` builds and runs it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mcproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when the string `s` lies inside the n bytes at b. */
static int inside(const mcproto_str_t *s, const uint8_t *b, size_t n) {
    uintptr_t p = (uintptr_t)s->p, lo = (uintptr_t)b;
    return p >= lo && p + s->n <= lo + n;
}

/* Every reader on one body; a string a reader accepts lies inside the body. */
static void packets(const uint8_t *b, size_t n) {
    mcproto_handshake_t hs;
    if (mcproto_handshake_read(b, n, &hs) == 0 && mcproto_protocol_known(hs.protocol))
        (void)mcproto_packet_id(hs.protocol, MCPROTO_STATUS_REQUEST);
    (void)mcproto_status_request_read(b, n);
    mcproto_str_t s;
    if (mcproto_status_response_read(b, n, &s) == 0 && !inside(&s, b, n)) abort();
    int64_t v;
    (void)mcproto_ping_read(b, n, &v);
    static const int32_t protocols[] = {763, 764, 765, 766, 767, 768, 769};
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        mcproto_login_start_t ls;
        (void)mcproto_login_start_read(protocols[i], b, n, &ls);
    }
    uint16_t port;
    if (mcproto_transfer_read(b, n, &s, &port) == 0 && !inside(&s, b, n)) abort();
    (void)mcproto_login_disconnect_read(b, n, &s);
    (void)mcproto_disconnect_read(b, n, &s);
    (void)mcproto_keep_alive_read(b, n, &v);
    int32_t i32;
    (void)mcproto_varint_decode(b, n, &i32);
    (void)mcproto_varlong_decode(b, n, &v);
    (void)mcproto_utf8_units(b, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    size_t at = 0;
    while (at < size) {
        mcproto_frame_t f;
        int len = mcproto_frame_decode(buf + at, size - at, MCPROTO_FRAME_MAX, &f);
        if (len <= 0) break;
        if ((size_t)len > size - at || f.body < buf + at || f.body + f.body_len > buf + at + len) abort();
        packets(f.body, f.body_len);
        at += (size_t)len;
    }
    packets(buf, size); /* and the bytes as a body of their own */
    free(buf);
    return 0;
}
