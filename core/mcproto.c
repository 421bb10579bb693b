/* mcproto.c - Minecraft Java protocol primitives and packets, pure (see mcproto.h). */
#include "mcproto.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ===================================================================================== *
 * Output buffer
 * ===================================================================================== */

/* First allocation of a buffer: a handshake or a keep-alive fits, a status JSON grows it. */
#define MCBUF_MIN_CAP 64

void mcbuf_init(mcbuf_t *b) {
    memset(b, 0, sizeof *b);
}

void mcbuf_free(mcbuf_t *b) {
    free(b->buf);
    memset(b, 0, sizeof *b);
}

void mcbuf_reset(mcbuf_t *b) {
    b->len = 0;
    b->err = 0;
}

int mcbuf_status(const mcbuf_t *b) {
    return b->err;
}

/* Marks the buffer failed with `code` unless it already failed (the first cause wins). */
static void mcbuf_fail(mcbuf_t *b, int code) {
    if (b->err == 0) b->err = code;
}

/* Room for `n` more bytes; false (and the buffer failed) when memory runs out. */
static bool mcbuf_room(mcbuf_t *b, size_t n) {
    if (b->err) return false;
    if (n > SIZE_MAX / 2 - b->len) {
        mcbuf_fail(b, MIG_ENOMEM);
        return false;
    }
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap ? b->cap : MCBUF_MIN_CAP;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->buf, cap);
    if (p == NULL) {
        mcbuf_fail(b, MIG_ENOMEM);
        return false;
    }
    b->buf = p;
    b->cap = cap;
    return true;
}

void mcbuf_put_bytes(mcbuf_t *b, const void *p, size_t n) {
    if (n == 0 || !mcbuf_room(b, n)) return;
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

void mcbuf_put_u8(mcbuf_t *b, uint8_t v) {
    mcbuf_put_bytes(b, &v, 1);
}

void mcbuf_put_u16(mcbuf_t *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    mcbuf_put_bytes(b, x, 2);
}

void mcbuf_put_i64(mcbuf_t *b, int64_t v) {
    uint64_t u = (uint64_t)v;
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(u >> (56 - 8 * i));
    mcbuf_put_bytes(b, x, 8);
}

void mcbuf_put_varint(mcbuf_t *b, int32_t v) {
    uint8_t x[MCPROTO_VARINT_MAX];
    mcbuf_put_bytes(b, x, mcproto_varint_encode(v, x));
}

void mcbuf_put_varlong(mcbuf_t *b, int64_t v) {
    uint8_t x[MCPROTO_VARLONG_MAX];
    mcbuf_put_bytes(b, x, mcproto_varlong_encode(v, x));
}

void mcbuf_put_string(mcbuf_t *b, const char *s, size_t n, size_t max_chars) {
    long units = mcproto_utf8_units((const uint8_t *)s, n);
    /* the byte limit (3 per unit) holds for any valid UTF-8 within the unit limit */
    if (units < 0 || (size_t)units > max_chars || n > INT32_MAX) {
        mcbuf_fail(b, MIG_EINVALID);
        return;
    }
    mcbuf_put_varint(b, (int32_t)n);
    mcbuf_put_bytes(b, s, n);
}

/* ===================================================================================== *
 * VarInt, VarLong: 7 bits a byte, least significant group first, high bit = more follow
 * (wiki.vg Data types, "VarInt and VarLong").
 * ===================================================================================== */

size_t mcproto_varint_encode(int32_t v, uint8_t out[MCPROTO_VARINT_MAX]) {
    uint32_t u = (uint32_t)v; /* the two's complement bits, shifted logically */
    size_t i = 0;
    while (u >= 0x80) {
        out[i++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    out[i++] = (uint8_t)u;
    return i;
}

size_t mcproto_varlong_encode(int64_t v, uint8_t out[MCPROTO_VARLONG_MAX]) {
    uint64_t u = (uint64_t)v;
    size_t i = 0;
    while (u >= 0x80) {
        out[i++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    out[i++] = (uint8_t)u;
    return i;
}

size_t mcproto_varint_size(int32_t v) {
    uint8_t x[MCPROTO_VARINT_MAX];
    return mcproto_varint_encode(v, x);
}

/* The shared decoder: at most `max` bytes; the result as mcproto_varint_decode(). */
static int varnum_decode(const uint8_t *p, size_t n, size_t max, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < max; i++) {
        if (i == n) return 0; /* the input ends inside the number */
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *out = v;
            return (int)(i + 1);
        }
    }
    return MIG_EPROTO; /* a continuation bit on the last allowed byte */
}

int mcproto_varint_decode(const uint8_t *p, size_t n, int32_t *out) {
    uint64_t v;
    int r = varnum_decode(p, n, MCPROTO_VARINT_MAX, &v);
    if (r > 0) *out = (int32_t)(uint32_t)v; /* bits above 32 of a 5th byte are dropped */
    return r;
}

int mcproto_varlong_decode(const uint8_t *p, size_t n, int64_t *out) {
    uint64_t v;
    int r = varnum_decode(p, n, MCPROTO_VARLONG_MAX, &v);
    if (r > 0) *out = (int64_t)v;
    return r;
}

/* ===================================================================================== *
 * UTF-8
 * ===================================================================================== */

/* Reads the code point at s[*i] and advances *i; false for invalid UTF-8 (truncated,
 * overlong, a surrogate, above U+10FFFF). */
static bool utf8_next(const uint8_t *s, size_t n, size_t *i, uint32_t *cp) {
    uint8_t c = s[*i];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return true;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return false;
    }
    if (n - *i < len) return false;
    for (size_t k = 1; k < len; k++) {
        uint8_t d = s[*i + k];
        if ((d & 0xc0) != 0x80) return false;
        v = (v << 6) | (d & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return false;
    *cp = v;
    *i += len;
    return true;
}

long mcproto_utf8_units(const uint8_t *s, size_t n) {
    long units = 0;
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        if (!utf8_next(s, n, &i, &cp)) return MIG_EPROTO;
        units += cp > 0xffff ? 2 : 1;
    }
    return units;
}

/* ===================================================================================== *
 * Reader
 * ===================================================================================== */

void mcreader_init(mcreader_t *r, const void *p, size_t n) {
    r->p = p;
    r->n = n;
    r->off = 0;
    r->err = NULL;
}

/* Records the first failure; returns MIG_EPROTO so callers can `return reader_fail(...)`. */
static int reader_fail(mcreader_t *r, const char *why) {
    if (r->err == NULL) r->err = why;
    return MIG_EPROTO;
}

int mcreader_bytes(mcreader_t *r, size_t n, const uint8_t **p) {
    if (r->err) return MIG_EPROTO;
    if (n > r->n - r->off) return reader_fail(r, "a field runs past the end of the packet");
    *p = r->p + r->off;
    r->off += n;
    return 0;
}

int mcreader_u8(mcreader_t *r, uint8_t *v) {
    const uint8_t *p;
    if (mcreader_bytes(r, 1, &p)) return MIG_EPROTO;
    *v = p[0];
    return 0;
}

int mcreader_u16(mcreader_t *r, uint16_t *v) {
    const uint8_t *p;
    if (mcreader_bytes(r, 2, &p)) return MIG_EPROTO;
    *v = (uint16_t)(p[0] << 8 | p[1]);
    return 0;
}

int mcreader_i64(mcreader_t *r, int64_t *v) {
    const uint8_t *p;
    if (mcreader_bytes(r, 8, &p)) return MIG_EPROTO;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i];
    *v = (int64_t)u;
    return 0;
}

int mcreader_varint(mcreader_t *r, int32_t *v) {
    if (r->err) return MIG_EPROTO;
    int k = mcproto_varint_decode(r->p + r->off, r->n - r->off, v);
    if (k == 0) return reader_fail(r, "a VarInt runs past the end of the packet");
    if (k < 0) return reader_fail(r, "a VarInt is longer than 5 bytes");
    r->off += (size_t)k;
    return 0;
}

int mcreader_varlong(mcreader_t *r, int64_t *v) {
    if (r->err) return MIG_EPROTO;
    int k = mcproto_varlong_decode(r->p + r->off, r->n - r->off, v);
    if (k == 0) return reader_fail(r, "a VarLong runs past the end of the packet");
    if (k < 0) return reader_fail(r, "a VarLong is longer than 10 bytes");
    r->off += (size_t)k;
    return 0;
}

int mcreader_string(mcreader_t *r, size_t max_chars, mcproto_str_t *s) {
    int32_t len;
    const uint8_t *p;
    if (mcreader_varint(r, &len)) return MIG_EPROTO;
    if (len < 0) return reader_fail(r, "a string has a negative length");
    /* the byte limit first: it is known before reading the text */
    if ((size_t)len > max_chars * 3) return reader_fail(r, "a string is longer than its maximum");
    if (mcreader_bytes(r, (size_t)len, &p)) return MIG_EPROTO;
    long units = mcproto_utf8_units(p, (size_t)len);
    if (units < 0) return reader_fail(r, "a string is not valid UTF-8");
    if ((size_t)units > max_chars) return reader_fail(r, "a string is longer than its maximum");
    s->p = (const char *)p;
    s->n = (size_t)len;
    return 0;
}

int mcreader_end(mcreader_t *r) {
    if (r->err) return MIG_EPROTO;
    if (r->off != r->n) return reader_fail(r, "bytes after the last field of the packet");
    return 0;
}

/* ===================================================================================== *
 * Frames (wiki.vg Protocol, "Packet format", without compression):
 *   Length VarInt (bytes of id + body) | Packet ID VarInt | Data
 * ===================================================================================== */

int mcproto_frame_decode(const uint8_t *p, size_t n, size_t max_len, mcproto_frame_t *f) {
    if (max_len > MCPROTO_FRAME_MAX) max_len = MCPROTO_FRAME_MAX;
    uint64_t len;
    /* the length prefix is at most 3 bytes: a 4th byte is refused before it arrives */
    int k = varnum_decode(p, n, MCPROTO_FRAME_LEN_BYTES, &len);
    if (k <= 0) return k;
    if (len == 0 || len > max_len) return MIG_EPROTO;
    if (n - (size_t)k < len) return 0;
    const uint8_t *pkt = p + k;
    int32_t id;
    int j = mcproto_varint_decode(pkt, (size_t)len, &id);
    if (j <= 0) return MIG_EPROTO; /* the id runs past its own frame, or is overlong */
    f->id = id;
    f->body = pkt + j;
    f->body_len = (size_t)len - (size_t)j;
    return k + (int)len;
}

void mcproto_frame_write(mcbuf_t *b, int32_t id, const void *body, size_t n) {
    size_t len = mcproto_varint_size(id) + n;
    if (len > MCPROTO_FRAME_MAX) {
        mcbuf_fail(b, MIG_EINVALID);
        return;
    }
    mcbuf_put_varint(b, (int32_t)len);
    mcbuf_put_varint(b, id);
    mcbuf_put_bytes(b, body, n);
}

/* A frame whose body is written in place: frame_open() leaves room for the longest
 * length prefix and writes the id; frame_close() puts the real prefix in and moves the
 * packet down over the unused room. Returns the frame's start. */
static size_t frame_open(mcbuf_t *b, int32_t id) {
    size_t mark = b->len;
    uint8_t room[MCPROTO_FRAME_LEN_BYTES] = {0};
    mcbuf_put_bytes(b, room, sizeof room);
    mcbuf_put_varint(b, id);
    return mark;
}

static void frame_close(mcbuf_t *b, size_t mark) {
    if (b->err) return;
    size_t start = mark + MCPROTO_FRAME_LEN_BYTES;
    size_t len = b->len - start;
    if (len > MCPROTO_FRAME_MAX) {
        mcbuf_fail(b, MIG_EINVALID);
        return;
    }
    uint8_t pre[MCPROTO_VARINT_MAX];
    size_t k = mcproto_varint_encode((int32_t)len, pre);
    memmove(b->buf + mark + k, b->buf + start, len);
    memcpy(b->buf + mark, pre, k);
    b->len = mark + k + len;
}

/* ===================================================================================== *
 * Packet ids. One row per protocol version; a row's columns follow mcproto_packet_t.
 * Source: PrismarineJS/minecraft-data data/pc/1.20.5/protocol.json (766) and
 * data/pc/1.21.1/protocol.json (767, shared by 1.21 per dataPaths.json), the "mappings" of
 * each state's packet type; they agree with wiki.vg's Protocol page of each release.
 * ===================================================================================== */

typedef struct {
    int32_t protocol;
    int8_t id[MCPROTO_PACKET_COUNT];
} mcproto_id_row_t;

static const mcproto_id_row_t mcproto_ids[] = {
    {MCPROTO_PV_1_20_5,
     {
         [MCPROTO_HANDSHAKE] = 0x00,
         [MCPROTO_STATUS_REQUEST] = 0x00,
         [MCPROTO_STATUS_RESPONSE] = 0x00,
         [MCPROTO_STATUS_PING] = 0x01,
         [MCPROTO_STATUS_PONG] = 0x01,
         [MCPROTO_LOGIN_START] = 0x00,
         [MCPROTO_LOGIN_ACKNOWLEDGED] = 0x03,
         [MCPROTO_LOGIN_DISCONNECT] = 0x00,
         [MCPROTO_LOGIN_ENCRYPTION_REQ] = 0x01,
         [MCPROTO_LOGIN_SUCCESS] = 0x02,
         [MCPROTO_LOGIN_COMPRESSION] = 0x03,
         [MCPROTO_CONFIG_DISCONNECT] = 0x02,
         [MCPROTO_CONFIG_FINISH] = 0x03,
         [MCPROTO_CONFIG_KEEP_ALIVE] = 0x04,
         [MCPROTO_CONFIG_TRANSFER] = 0x0b,
         [MCPROTO_CONFIG_FINISH_ACK] = 0x03,
         [MCPROTO_CONFIG_KEEP_ALIVE_REPLY] = 0x04,
         [MCPROTO_PLAY_DISCONNECT] = 0x1d,
         [MCPROTO_PLAY_KEEP_ALIVE] = 0x26,
         [MCPROTO_PLAY_TRANSFER] = 0x73,
         [MCPROTO_PLAY_KEEP_ALIVE_REPLY] = 0x18,
     }},
    /* 1.21 added configuration packets after 0x0e only: the ids used here did not move */
    {MCPROTO_PV_1_21,
     {
         [MCPROTO_HANDSHAKE] = 0x00,
         [MCPROTO_STATUS_REQUEST] = 0x00,
         [MCPROTO_STATUS_RESPONSE] = 0x00,
         [MCPROTO_STATUS_PING] = 0x01,
         [MCPROTO_STATUS_PONG] = 0x01,
         [MCPROTO_LOGIN_START] = 0x00,
         [MCPROTO_LOGIN_ACKNOWLEDGED] = 0x03,
         [MCPROTO_LOGIN_DISCONNECT] = 0x00,
         [MCPROTO_LOGIN_ENCRYPTION_REQ] = 0x01,
         [MCPROTO_LOGIN_SUCCESS] = 0x02,
         [MCPROTO_LOGIN_COMPRESSION] = 0x03,
         [MCPROTO_CONFIG_DISCONNECT] = 0x02,
         [MCPROTO_CONFIG_FINISH] = 0x03,
         [MCPROTO_CONFIG_KEEP_ALIVE] = 0x04,
         [MCPROTO_CONFIG_TRANSFER] = 0x0b,
         [MCPROTO_CONFIG_FINISH_ACK] = 0x03,
         [MCPROTO_CONFIG_KEEP_ALIVE_REPLY] = 0x04,
         [MCPROTO_PLAY_DISCONNECT] = 0x1d,
         [MCPROTO_PLAY_KEEP_ALIVE] = 0x26,
         [MCPROTO_PLAY_TRANSFER] = 0x73,
         [MCPROTO_PLAY_KEEP_ALIVE_REPLY] = 0x18,
     }},
};

static const mcproto_id_row_t *id_row(int32_t protocol) {
    for (size_t i = 0; i < sizeof mcproto_ids / sizeof mcproto_ids[0]; i++)
        if (mcproto_ids[i].protocol == protocol) return &mcproto_ids[i];
    return NULL;
}

bool mcproto_protocol_known(int32_t protocol) {
    return id_row(protocol) != NULL;
}

int mcproto_packet_id(int32_t protocol, mcproto_packet_t pkt) {
    const mcproto_id_row_t *row = id_row(protocol);
    if (row == NULL || (unsigned)pkt >= MCPROTO_PACKET_COUNT) return MIG_EINVALID;
    return row->id[pkt];
}

/* Opens a frame for `pkt` of `protocol`, or fails the buffer (MIG_EINVALID) for a
 * protocol the table lacks; returns the mark for frame_close(). */
static size_t frame_open_pkt(mcbuf_t *b, int32_t protocol, mcproto_packet_t pkt) {
    int id = mcproto_packet_id(protocol, pkt);
    if (id < 0) {
        mcbuf_fail(b, MIG_EINVALID);
        return b->len;
    }
    return frame_open(b, id);
}

/* ===================================================================================== *
 * Handshake (wiki.vg Protocol, "Handshaking", serverbound 0x00):
 *   Protocol Version VarInt | Server Address String(255) | Server Port Unsigned Short |
 *   Next State VarInt enum (1 status, 2 login, 3 transfer)
 * ===================================================================================== */

static bool intent_valid(int32_t intent) {
    return intent >= MCPROTO_INTENT_STATUS && intent <= MCPROTO_INTENT_TRANSFER;
}

void mcproto_handshake_write(mcbuf_t *b, const mcproto_handshake_t *hs) {
    if (!intent_valid(hs->intent)) {
        mcbuf_fail(b, MIG_EINVALID);
        return;
    }
    size_t mark = frame_open(b, 0x00);
    mcbuf_put_varint(b, hs->protocol);
    mcbuf_put_string(b, hs->host.p, hs->host.n, MCPROTO_HOST_MAX);
    mcbuf_put_u16(b, hs->port);
    mcbuf_put_varint(b, hs->intent);
    frame_close(b, mark);
}

int mcproto_handshake_read(const uint8_t *body, size_t n, mcproto_handshake_t *hs) {
    mcreader_t r;
    mcreader_init(&r, body, n);
    mcreader_varint(&r, &hs->protocol);
    mcreader_string(&r, MCPROTO_HOST_MAX, &hs->host);
    mcreader_u16(&r, &hs->port);
    mcreader_varint(&r, &hs->intent);
    if (mcreader_end(&r)) return MIG_EPROTO;
    return intent_valid(hs->intent) ? 0 : MIG_EPROTO;
}

/* ===================================================================================== *
 * Status (wiki.vg Server List Ping; Protocol, "Status"): Status Request 0x00 (empty),
 * Status Response 0x00 JSON String(32767), Ping Request 0x01 Long, Pong Response 0x01 Long.
 * ===================================================================================== */

void mcproto_status_request_write(mcbuf_t *b) {
    mcproto_frame_write(b, 0x00, NULL, 0);
}

int mcproto_status_request_read(const uint8_t *body, size_t n) {
    (void)body;
    return n == 0 ? 0 : MIG_EPROTO;
}

void mcproto_status_response_write(mcbuf_t *b, const char *json, size_t n) {
    size_t mark = frame_open(b, 0x00);
    mcbuf_put_string(b, json, n, MCPROTO_STRING_MAX);
    frame_close(b, mark);
}

int mcproto_status_response_read(const uint8_t *body, size_t n, mcproto_str_t *json) {
    mcreader_t r;
    mcreader_init(&r, body, n);
    mcreader_string(&r, MCPROTO_STRING_MAX, json);
    return mcreader_end(&r);
}

static void long_packet_write(mcbuf_t *b, int32_t id, int64_t v) {
    size_t mark = frame_open(b, id);
    mcbuf_put_i64(b, v);
    frame_close(b, mark);
}

static int long_packet_read(const uint8_t *body, size_t n, int64_t *v) {
    mcreader_t r;
    mcreader_init(&r, body, n);
    mcreader_i64(&r, v);
    return mcreader_end(&r);
}

void mcproto_ping_write(mcbuf_t *b, int64_t payload) {
    long_packet_write(b, 0x01, payload);
}

void mcproto_pong_write(mcbuf_t *b, int64_t payload) {
    long_packet_write(b, 0x01, payload);
}

int mcproto_ping_read(const uint8_t *body, size_t n, int64_t *payload) {
    return long_packet_read(body, n, payload);
}

/* ===================================================================================== *
 * Login Start (766/767: wiki.vg Protocol, "Login Start", serverbound 0x00):
 *   Name String(16) | Player UUID UUID (16 bytes)
 * ===================================================================================== */

void mcproto_login_start_write(mcbuf_t *b, int32_t protocol, const mcproto_login_start_t *ls) {
    size_t mark = frame_open_pkt(b, protocol, MCPROTO_LOGIN_START);
    mcbuf_put_string(b, ls->name.p, ls->name.n, MCPROTO_NAME_MAX);
    mcbuf_put_bytes(b, ls->uuid, MCPROTO_UUID_BYTES);
    frame_close(b, mark);
}

int mcproto_login_start_read(int32_t protocol, const uint8_t *body, size_t n,
                             mcproto_login_start_t *ls) {
    if (!mcproto_protocol_known(protocol)) return MIG_EINVALID;
    mcreader_t r;
    const uint8_t *uuid = NULL;
    mcreader_init(&r, body, n);
    mcreader_string(&r, MCPROTO_NAME_MAX, &ls->name);
    mcreader_bytes(&r, MCPROTO_UUID_BYTES, &uuid);
    if (mcreader_end(&r)) return MIG_EPROTO;
    memcpy(ls->uuid, uuid, MCPROTO_UUID_BYTES);
    return 0;
}

/* ===================================================================================== *
 * Transfer (1.20.5+; wiki.vg Protocol, "Transfer (configuration)" 0x0B and "Transfer
 * (play)" 0x73; minecraft-data packet_common_transfer): Host String | Port VarInt
 * ===================================================================================== */

void mcproto_transfer_write(mcbuf_t *b, int32_t protocol, bool play, const char *host,
                            uint16_t port) {
    size_t mark =
        frame_open_pkt(b, protocol, play ? MCPROTO_PLAY_TRANSFER : MCPROTO_CONFIG_TRANSFER);
    mcbuf_put_string(b, host, strlen(host), MCPROTO_STRING_MAX);
    mcbuf_put_varint(b, port);
    frame_close(b, mark);
}

int mcproto_transfer_read(const uint8_t *body, size_t n, mcproto_str_t *host, uint16_t *port) {
    mcreader_t r;
    int32_t p = 0;
    mcreader_init(&r, body, n);
    mcreader_string(&r, MCPROTO_STRING_MAX, host);
    mcreader_varint(&r, &p);
    if (mcreader_end(&r)) return MIG_EPROTO;
    if (p < 0 || p > UINT16_MAX) return MIG_EPROTO;
    *port = (uint16_t)p;
    return 0;
}

/* ===================================================================================== *
 * Disconnect. Login state (0x00): Reason JSON Text Component, String(262144).
 * Configuration (0x02) and play (0x1D): Reason Text Component, network NBT since 1.20.3;
 * written here as a String tag: 0x08 | u16 length | modified UTF-8 (wiki.vg NBT,
 * "TAG_String"; "Network NBT" drops the root's name since 1.20.2).
 * ===================================================================================== */

#define NBT_TAG_STRING 0x08
#define NBT_STRING_MAX 65535 /* bytes: the u16 length of a TAG_String */

void mcproto_login_disconnect_write(mcbuf_t *b, int32_t protocol, const char *json, size_t n) {
    size_t mark = frame_open_pkt(b, protocol, MCPROTO_LOGIN_DISCONNECT);
    mcbuf_put_string(b, json, n, MCPROTO_JSON_TEXT_MAX);
    frame_close(b, mark);
}

int mcproto_login_disconnect_read(const uint8_t *body, size_t n, mcproto_str_t *json) {
    mcreader_t r;
    mcreader_init(&r, body, n);
    mcreader_string(&r, MCPROTO_JSON_TEXT_MAX, json);
    return mcreader_end(&r);
}

/* Appends the 3 bytes of one UTF-16 code unit as Java's modified UTF-8 writes it. */
static void mutf8_put_unit(mcbuf_t *b, uint32_t u) {
    uint8_t x[3] = {(uint8_t)(0xe0 | u >> 12), (uint8_t)(0x80 | ((u >> 6) & 0x3f)),
                    (uint8_t)(0x80 | (u & 0x3f))};
    mcbuf_put_bytes(b, x, 3);
}

/* Appends UTF-8 `s` as modified UTF-8: NUL as C0 80, a character above U+FFFF as its two
 * surrogates of 3 bytes each, everything else unchanged. MIG_EINVALID in the buffer for
 * invalid UTF-8. */
static void mutf8_put(mcbuf_t *b, const uint8_t *s, size_t n) {
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        size_t at = i;
        if (!utf8_next(s, n, &i, &cp)) {
            mcbuf_fail(b, MIG_EINVALID);
            return;
        }
        if (cp == 0) {
            mcbuf_put_bytes(b, "\xc0\x80", 2);
        } else if (cp > 0xffff) {
            cp -= 0x10000;
            mutf8_put_unit(b, 0xd800 | (cp >> 10));
            mutf8_put_unit(b, 0xdc00 | (cp & 0x3ff));
        } else {
            mcbuf_put_bytes(b, s + at, i - at);
        }
    }
}

void mcproto_disconnect_write(mcbuf_t *b, int32_t protocol, bool play, const char *text,
                              size_t n) {
    size_t mark =
        frame_open_pkt(b, protocol, play ? MCPROTO_PLAY_DISCONNECT : MCPROTO_CONFIG_DISCONNECT);
    mcbuf_put_u8(b, NBT_TAG_STRING);
    size_t at = b->len;
    mcbuf_put_u16(b, 0); /* patched below, once the converted length is known */
    mutf8_put(b, (const uint8_t *)text, n);
    if (b->err) return;
    size_t len = b->len - at - 2;
    if (len > NBT_STRING_MAX) {
        mcbuf_fail(b, MIG_EINVALID);
        return;
    }
    b->buf[at] = (uint8_t)(len >> 8);
    b->buf[at + 1] = (uint8_t)len;
    frame_close(b, mark);
}

int mcproto_disconnect_read(const uint8_t *body, size_t n, mcproto_str_t *text) {
    mcreader_t r;
    uint8_t tag = 0;
    uint16_t len = 0;
    const uint8_t *p = NULL;
    mcreader_init(&r, body, n);
    mcreader_u8(&r, &tag);
    if (r.err == NULL && tag != NBT_TAG_STRING)
        return reader_fail(&r, "a text component other than an NBT string");
    mcreader_u16(&r, &len);
    mcreader_bytes(&r, len, &p);
    if (mcreader_end(&r)) return MIG_EPROTO;
    text->p = (const char *)p;
    text->n = len;
    return 0;
}

/* ===================================================================================== *
 * Keep Alive (configuration: clientbound 0x04, serverbound 0x04): Keep Alive ID Long.
 * ===================================================================================== */

void mcproto_config_keep_alive_write(mcbuf_t *b, int32_t protocol, bool reply, int64_t id) {
    size_t mark = frame_open_pkt(
        b, protocol, reply ? MCPROTO_CONFIG_KEEP_ALIVE_REPLY : MCPROTO_CONFIG_KEEP_ALIVE);
    mcbuf_put_i64(b, id);
    frame_close(b, mark);
}

int mcproto_keep_alive_read(const uint8_t *body, size_t n, int64_t *id) {
    return long_packet_read(body, n, id);
}
