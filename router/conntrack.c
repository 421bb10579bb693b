/* conntrack.c - frame boundaries and protocol state of a spliced server-to-client
 * stream (conntrack.h). */
#include "router/conntrack.h"

#include <string.h>

#include "core/err.h"

void conntrack_init(conntrack_t *t, int32_t protocol) {
    memset(t, 0, sizeof *t);
    t->protocol = protocol;
    t->state = mcproto_protocol_known(protocol) ? CONNTRACK_LOGIN : CONNTRACK_OPAQUE;
}

const char *conntrack_state_name(conntrack_state_t s) {
    static const char *const names[] = {"login", "configuration", "play", "opaque"};
    return s <= CONNTRACK_OPAQUE ? names[s] : "opaque";
}

bool conntrack_can_inject(const conntrack_t *t) {
    return (t->state == CONNTRACK_CONFIG || t->state == CONNTRACK_PLAY) && t->remaining == 0 && t->head_len == 0;
}

/* The state after a frame with packet `id` (uncompressed), sent in state `t->state`. */
static void on_packet(conntrack_t *t, int32_t id) {
    switch (t->state) {
    case CONNTRACK_LOGIN:
        if (id == mcproto_packet_id(t->protocol, MCPROTO_LOGIN_ENCRYPTION_REQ)) t->state = CONNTRACK_OPAQUE;
        else if (id == mcproto_packet_id(t->protocol, MCPROTO_LOGIN_COMPRESSION)) t->compressed = true;
        else if (id == mcproto_packet_id(t->protocol, MCPROTO_LOGIN_SUCCESS)) t->state = CONNTRACK_CONFIG;
        break;
    case CONNTRACK_CONFIG:
        if (id == mcproto_packet_id(t->protocol, MCPROTO_CONFIG_FINISH)) t->state = CONNTRACK_PLAY;
        break;
    case CONNTRACK_PLAY:
        if (id == CONNTRACK_PLAY_START_CONFIG) t->state = CONNTRACK_CONFIG;
        break;
    case CONNTRACK_OPAQUE:
        break;
    }
}

/* Tries to read a frame's header from `head`: on success sets `remaining` to the bytes of
 * the frame after the header bytes gathered so far and applies the packet. Returns 1 when
 * done, 0 when more bytes are needed, -1 when the bytes are no frame. */
static int parse_head(conntrack_t *t) {
    int32_t len, dlen = 0, id = -1;
    int k = mcproto_varint_decode(t->head, t->head_len, &len);
    if (k < 0 || (k == 0 && t->head_len >= MCPROTO_FRAME_LEN_BYTES) || k > MCPROTO_FRAME_LEN_BYTES) return -1;
    if (k == 0) return 0;
    if (len <= 0 || len > MCPROTO_FRAME_MAX) return -1;
    size_t used = (size_t)k, body_len = (size_t)len;
    /* the bytes of this frame gathered in head so far */
    size_t have = t->head_len - used;
    if (t->compressed) {
        int d = mcproto_varint_decode(t->head + used, have < body_len ? have : body_len, &dlen);
        if (d < 0 || (d == 0 && have >= body_len)) return -1;
        if (d == 0) return 0;
        used += (size_t)d;
        if (dlen < 0) return -1;
    }
    if (!t->compressed || dlen == 0) {
        size_t avail = t->head_len - used, left = body_len - (used - (size_t)k);
        int d = mcproto_varint_decode(t->head + used, avail < left ? avail : left, &id);
        if (d < 0 || (d == 0 && avail >= left)) return -1;
        if (d == 0) return 0;
        used += (size_t)d;
    }
    size_t consumed = used - (size_t)k; /* of the frame's body */
    if (consumed > body_len) return -1;
    /* bytes of head past `used` belong to the body too */
    size_t extra = t->head_len - used;
    if (consumed + extra > body_len) return -1; /* cannot happen: head is filled frame by frame */
    t->remaining = body_len - consumed - extra;
    t->head_len = 0;
    if (id >= 0) on_packet(t, id);
    return 1;
}

size_t conntrack_feed(conntrack_t *t, const uint8_t *p, size_t n, bool stop_at_boundary) {
    size_t i = 0;
    while (i < n && t->state != CONNTRACK_OPAQUE) {
        if (stop_at_boundary && t->remaining == 0 && t->head_len == 0 && i > 0) return i;
        if (stop_at_boundary && i == 0 && t->remaining == 0 && t->head_len == 0 && conntrack_can_inject(t)) return 0;
        if (t->remaining > 0) {
            size_t k = n - i < t->remaining ? n - i : t->remaining;
            t->remaining -= k;
            i += k;
            continue;
        }
        /* gather the header one byte at a time: a header is at most 13 bytes, and a byte
         * too many would belong to the next frame */
        t->head[t->head_len++] = p[i++];
        int r = parse_head(t);
        if (r < 0) {
            t->state = CONNTRACK_OPAQUE;
            break;
        }
        if (r == 0 && t->head_len >= sizeof t->head) {
            t->state = CONNTRACK_OPAQUE;
            break;
        }
    }
    if (t->state == CONNTRACK_OPAQUE) return n;
    return i;
}

int conntrack_write_transfer(const conntrack_t *t, mcbuf_t *out, const char *host, uint16_t port) {
    if (!conntrack_can_inject(t)) return MIG_EINVALID;
    bool play = t->state == CONNTRACK_PLAY;
    if (!t->compressed) {
        mcproto_transfer_write(out, t->protocol, play, host, port);
        return mcbuf_status(out);
    }
    /* compressed framing: Length | Data Length 0 | id | body, from the plain frame */
    mcbuf_t plain;
    mcbuf_init(&plain);
    mcproto_transfer_write(&plain, t->protocol, play, host, port);
    int rv = mcbuf_status(&plain);
    if (rv == 0) {
        int32_t len;
        int k = mcproto_varint_decode(plain.buf, plain.len, &len);
        mcbuf_put_varint(out, len + 1);
        mcbuf_put_u8(out, 0);
        mcbuf_put_bytes(out, plain.buf + k, plain.len - (size_t)k);
        rv = mcbuf_status(out);
    }
    mcbuf_free(&plain);
    return rv;
}
