/* wsframe.c - WebSocket frames, masking, close payloads and message assembly (RFC 6455). */
#include "core/wsframe.h"

#include <string.h>

#include "core/err.h"

size_t wsframe_header_write(unsigned char *out, int fin, int opcode, uint64_t len, const unsigned char *mask) {
    size_t n = 0;
    out[n++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    unsigned char mbit = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (unsigned char)(mbit | len);
    } else if (len <= 0xffff) {
        out[n++] = (unsigned char)(mbit | 126);
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = (unsigned char)(mbit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out[n++] = (unsigned char)(len >> shift);
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

size_t wsframe_write(unsigned char *out, int opcode, const void *payload, size_t len, const unsigned char *mask) {
    size_t hl = wsframe_header_write(out, 1, opcode, len, mask);
    if (len) memcpy(out + hl, payload, len);
    if (mask) wsframe_mask(out + hl, len, mask, 0);
    return hl + len;
}

int wsframe_header_parse(const unsigned char *buf, size_t n, wsframe_from_t from, wsframe_header_t *h) {
    if (n < 2) return 0;
    if (buf[0] & 0x70) return MIG_EPROTO; /* RSV1-3: no extension was negotiated */
    h->fin = (buf[0] & 0x80) != 0;
    h->opcode = buf[0] & 0x0f;
    h->masked = (buf[1] & 0x80) != 0;
    int op = h->opcode;
    if (op != WSFRAME_OP_CONT && op != WSFRAME_OP_TEXT && op != WSFRAME_OP_BINARY && op != WSFRAME_OP_CLOSE &&
        op != WSFRAME_OP_PING && op != WSFRAME_OP_PONG)
        return MIG_EPROTO;
    if (h->masked != (from == WSFRAME_FROM_CLIENT)) return MIG_EPROTO;
    uint64_t len = buf[1] & 0x7f;
    size_t need = 2;
    if (len == 126) {
        need += 2;
        if (n < need) return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
    } else if (len == 127) {
        need += 8;
        if (n < need) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | buf[2 + i];
        if (len >> 63) return MIG_EPROTO;
    }
    if (op >= WSFRAME_OP_CLOSE && (!h->fin || len > WSFRAME_CONTROL_MAX)) return MIG_EPROTO;
    if (h->masked) {
        if (n < need + 4) return 0;
        memcpy(h->mask, buf + need, 4);
        need += 4;
    }
    h->len = len;
    h->header_len = need;
    return 1;
}

void wsframe_mask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t offset) {
    for (size_t i = 0; i < n; i++) p[i] ^= mask[(offset + i) & 3];
}

size_t wsframe_close_payload(unsigned char *out, int code, const char *reason) {
    out[0] = (unsigned char)(code >> 8);
    out[1] = (unsigned char)code;
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > WSFRAME_CONTROL_MAX - 2) rl = WSFRAME_CONTROL_MAX - 2;
    if (rl) memcpy(out + 2, reason, rl);
    return 2 + rl;
}

int wsframe_close_code(const unsigned char *payload, size_t len) {
    return len >= 2 ? payload[0] << 8 | payload[1] : WSFRAME_CLOSE_NO_STATUS;
}

int wsframe_close_code_sendable(int code) {
    /* 1005, 1006 and 1015 name what an endpoint saw (no code, no close frame, a failed
     * TLS handshake); RFC 6455 7.4.1 forbids putting them in a frame */
    return code >= 1000 && code <= 4999 && code != 1005 && code != 1006 && code != 1015;
}

/* ------------------------------------------------------------------------ messages */

int wsframe_msg_step(wsframe_msg_t *m, const wsframe_header_t *h) {
    if (h->opcode >= WSFRAME_OP_CLOSE) return 0; /* a control frame may come between fragments */
    if (h->opcode == WSFRAME_OP_CONT) {
        if (!m->in_message) return MIG_EPROTO;
    } else {
        if (m->in_message) return MIG_EPROTO;
        m->opcode = h->opcode;
    }
    m->in_message = !h->fin;
    return h->fin ? 1 : 0;
}
