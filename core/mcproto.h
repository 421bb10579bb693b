/* mcproto.h - the Minecraft Java Edition protocol's primitives and the few packets the
 * node agent and the router speak, as pure codecs: no sockets, no clock, no globals.
 *
 * Layouts follow the protocol documentation (wiki.vg "Protocol" and "Data types", now
 * minecraft.wiki "Java Edition protocol"), and the packet ids and field lists of
 * PrismarineJS/minecraft-data data/pc/1.20.5/protocol.json (1.20.5, 1.20.6 = protocol 766)
 * and data/pc/1.21.1/protocol.json (1.21, 1.21.1 = protocol 767). Only uncompressed,
 * unencrypted framing: the router splices everything after the login untouched, and the
 * waiting room never turns compression on.
 *
 * Conventions of the module:
 *  - Encoders append to an mcbuf_t, which grows with malloc and remembers a failure, so a
 *    packet is written as a straight sequence of calls and checked once (mcbuf_failed()).
 *  - Stream decoders (varints, frames) return the bytes they consumed (> 0) when a value
 *    is complete, 0 when the input ends before it does ("need more bytes"), and
 *    MIG_EPROTO when the bytes can never become a valid value (overlong, too big).
 *  - Packet body decoders work on one complete frame's body and return 0 or MIG_EPROTO;
 *    a field that runs past the body, or bytes left after the last field, are MIG_EPROTO
 *    (the vanilla server refuses both too). The reason is left in the reader's `err`.
 *  - Decoded strings are slices into the caller's input (not NUL-terminated, not copied):
 *    valid as long as that input is. */
#ifndef MIG_MCPROTO_H
#define MIG_MCPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Limits the protocol defines ---------------------------------------------------- */

#define MCPROTO_VARINT_MAX 5   /* bytes of a VarInt: 32 bits in 7-bit groups */
#define MCPROTO_VARLONG_MAX 10 /* bytes of a VarLong: 64 bits in 7-bit groups */
/* Bytes of a frame's length prefix: the vanilla frame decoder reads at most three, so a
 * packet (id + body) is at most 2^21 - 1 bytes uncompressed. */
#define MCPROTO_FRAME_LEN_BYTES 3
#define MCPROTO_FRAME_MAX 2097151
/* String(n): n counts UTF-16 code units (a character above U+FFFF counts two); the
 * encoded UTF-8 may take up to 3n bytes, and both limits are checked. */
#define MCPROTO_STRING_MAX 32767     /* the default and largest n of a String */
#define MCPROTO_HOST_MAX 255         /* Handshake's server address: String(255) */
#define MCPROTO_NAME_MAX 16          /* Login Start's player name: String(16) */
#define MCPROTO_JSON_TEXT_MAX 262144 /* JSON text component (login Disconnect) */
#define MCPROTO_UUID_BYTES 16        /* UUID: two big-endian longs */
/* The first byte of a pre-1.7 client's Server List Ping: not a frame. A router that sees
 * it as the first byte of a connection must not feed it to mcproto_frame_decode(). */
#define MCPROTO_LEGACY_PING_BYTE 0xFE

/* Protocol numbers of the releases the tests use (minecraft-data version.json). */
#define MCPROTO_PV_1_20_5 766 /* 1.20.5 and 1.20.6: first with Transfer */
#define MCPROTO_PV_1_21 767   /* 1.21 and 1.21.1 */

/* Handshake intent ("next state"). */
enum {
    MCPROTO_INTENT_STATUS = 1,
    MCPROTO_INTENT_LOGIN = 2,
    MCPROTO_INTENT_TRANSFER = 3, /* 1.20.5+: the client arrives from a Transfer packet */
};

/* ---- Output buffer ------------------------------------------------------------------ */

typedef struct {
    uint8_t *buf;  /* the bytes written; owned, freed by mcbuf_free() */
    size_t len;    /* bytes written */
    size_t cap;    /* bytes allocated */
    int err;       /* 0, or the MIG_E* code of the first append that failed: from then on
                    * the bytes are unusable and every append is ignored */
} mcbuf_t;

void mcbuf_init(mcbuf_t *b);
void mcbuf_free(mcbuf_t *b);
/* Forgets the bytes (keeps the memory) and the failure. */
void mcbuf_reset(mcbuf_t *b);
/* 0, or MIG_ENOMEM / MIG_EINVALID when an append since the last reset failed. */
int mcbuf_status(const mcbuf_t *b);

void mcbuf_put_bytes(mcbuf_t *b, const void *p, size_t n);
void mcbuf_put_u8(mcbuf_t *b, uint8_t v);
void mcbuf_put_u16(mcbuf_t *b, uint16_t v); /* Unsigned Short, big-endian */
void mcbuf_put_i64(mcbuf_t *b, int64_t v);  /* Long, big-endian two's complement */
void mcbuf_put_varint(mcbuf_t *b, int32_t v);
void mcbuf_put_varlong(mcbuf_t *b, int64_t v);
/* String(max_chars): VarInt byte length, then the UTF-8 bytes. Marks the buffer failed
 * (MIG_EINVALID) when `s` is not valid UTF-8 or is longer than max_chars UTF-16 units. */
void mcbuf_put_string(mcbuf_t *b, const char *s, size_t n, size_t max_chars);

/* ---- VarInt, VarLong ---------------------------------------------------------------- */

/* Writes `v` (negative values take all 5 / 10 bytes) into `out`; returns its length. */
size_t mcproto_varint_encode(int32_t v, uint8_t out[MCPROTO_VARINT_MAX]);
size_t mcproto_varlong_encode(int64_t v, uint8_t out[MCPROTO_VARLONG_MAX]);
/* Bytes `v` takes on the wire. */
size_t mcproto_varint_size(int32_t v);

/* Reads one VarInt / VarLong from the first `n` bytes of `p`: bytes consumed (> 0), 0 when
 * `n` ends inside it, MIG_EPROTO when it would be longer than 5 / 10 bytes. Never reads
 * past `n`. As the vanilla decoder does, the unused high bits of a 5th (10th) byte are
 * dropped, not refused. */
int mcproto_varint_decode(const uint8_t *p, size_t n, int32_t *out);
int mcproto_varlong_decode(const uint8_t *p, size_t n, int64_t *out);

/* Number of UTF-16 code units of the UTF-8 text, or MIG_EPROTO when it is not valid
 * UTF-8 (overlong forms, surrogates and values above U+10FFFF are not). */
long mcproto_utf8_units(const uint8_t *s, size_t n);

/* ---- Reader over one packet body ---------------------------------------------------- */

typedef struct {
    const uint8_t *p; /* the body; not owned */
    size_t n;         /* its length */
    size_t off;       /* bytes read so far */
    const char *err;  /* static text of the first failure, NULL while none */
} mcreader_t;

/* A decoded string: a slice of the reader's input, not NUL-terminated. */
typedef struct {
    const char *p;
    size_t n;
} mcproto_str_t;

void mcreader_init(mcreader_t *r, const void *p, size_t n);
/* Each returns 0, or MIG_EPROTO with r->err set; after a failure every read fails. */
int mcreader_u8(mcreader_t *r, uint8_t *v);
int mcreader_u16(mcreader_t *r, uint16_t *v);
int mcreader_i64(mcreader_t *r, int64_t *v);
int mcreader_varint(mcreader_t *r, int32_t *v);
int mcreader_varlong(mcreader_t *r, int64_t *v);
int mcreader_bytes(mcreader_t *r, size_t n, const uint8_t **p);
int mcreader_string(mcreader_t *r, size_t max_chars, mcproto_str_t *s);
/* 0 when every byte was read, MIG_EPROTO ("bytes after the last field") otherwise. */
int mcreader_end(mcreader_t *r);

/* ---- Frames: VarInt length, VarInt packet id, body ------------------------------------ */

typedef struct {
    int32_t id;          /* packet id */
    const uint8_t *body; /* the bytes after the id: a slice of the input */
    size_t body_len;
} mcproto_frame_t;

/* Reads one frame from the start of `p` (the bytes received so far). Returns the frame's
 * total length (prefix included) once all of it is there, 0 when more bytes are needed,
 * and MIG_EPROTO when the prefix is longer than 3 bytes, the length is 0 or above
 * `max_len` (at most MCPROTO_FRAME_MAX), or the packet id is not a VarInt inside the
 * frame. The length is checked as soon as its prefix is complete, so a peer cannot make
 * the caller buffer more than `max_len` bytes. Never reads past `n`. */
int mcproto_frame_decode(const uint8_t *p, size_t n, size_t max_len, mcproto_frame_t *f);

/* Appends a frame from an id and a body. */
void mcproto_frame_write(mcbuf_t *b, int32_t id, const void *body, size_t n);

/* ---- Packet ids per version, state and direction ------------------------------------ */

typedef enum {
    /* handshaking, serverbound */
    MCPROTO_HANDSHAKE,
    /* status */
    MCPROTO_STATUS_REQUEST,  /* serverbound */
    MCPROTO_STATUS_RESPONSE, /* clientbound */
    MCPROTO_STATUS_PING,     /* serverbound */
    MCPROTO_STATUS_PONG,     /* clientbound */
    /* login */
    MCPROTO_LOGIN_START,          /* serverbound */
    MCPROTO_LOGIN_ACKNOWLEDGED,   /* serverbound */
    MCPROTO_LOGIN_DISCONNECT,     /* clientbound */
    MCPROTO_LOGIN_ENCRYPTION_REQ, /* clientbound */
    MCPROTO_LOGIN_SUCCESS,        /* clientbound */
    MCPROTO_LOGIN_COMPRESSION,    /* clientbound */
    /* configuration */
    MCPROTO_CONFIG_DISCONNECT,      /* clientbound */
    MCPROTO_CONFIG_FINISH,          /* clientbound */
    MCPROTO_CONFIG_KEEP_ALIVE,      /* clientbound */
    MCPROTO_CONFIG_TRANSFER,        /* clientbound */
    MCPROTO_CONFIG_FINISH_ACK,      /* serverbound */
    MCPROTO_CONFIG_KEEP_ALIVE_REPLY, /* serverbound */
    /* play */
    MCPROTO_PLAY_DISCONNECT,        /* clientbound */
    MCPROTO_PLAY_KEEP_ALIVE,        /* clientbound */
    MCPROTO_PLAY_TRANSFER,          /* clientbound */
    MCPROTO_PLAY_KEEP_ALIVE_REPLY,  /* serverbound */
    MCPROTO_PACKET_COUNT
} mcproto_packet_t;

/* The packet's id in `protocol`, or MIG_EINVALID for a protocol this table does not know
 * (only 766 and 767) or a packet outside the enum. */
int mcproto_packet_id(int32_t protocol, mcproto_packet_t pkt);
/* Whether the table knows `protocol`. */
bool mcproto_protocol_known(int32_t protocol);

/* ---- Packets ------------------------------------------------------------------------ */

/* Handshake (handshaking state, id 0x00, every version). */
typedef struct {
    int32_t protocol;   /* the client's protocol version */
    mcproto_str_t host; /* the address the client connected to, as it typed it */
    uint16_t port;
    int32_t intent;     /* MCPROTO_INTENT_* */
} mcproto_handshake_t;

/* Appends the frame; MIG_EINVALID in the buffer for a host over 255 characters or an
 * intent outside 1..3. */
void mcproto_handshake_write(mcbuf_t *b, const mcproto_handshake_t *hs);
/* Decodes a handshake body; MIG_EPROTO also for an intent outside 1..3. */
int mcproto_handshake_read(const uint8_t *body, size_t n, mcproto_handshake_t *hs);

/* Status Request (empty), Status Response (JSON text), Ping and Pong (a Long the server
 * echoes). Ids are the same in every version since 1.7. */
void mcproto_status_request_write(mcbuf_t *b);
int mcproto_status_request_read(const uint8_t *body, size_t n);
void mcproto_status_response_write(mcbuf_t *b, const char *json, size_t n);
int mcproto_status_response_read(const uint8_t *body, size_t n, mcproto_str_t *json);
void mcproto_ping_write(mcbuf_t *b, int64_t payload); /* the same layout serves the pong */
void mcproto_pong_write(mcbuf_t *b, int64_t payload);
int mcproto_ping_read(const uint8_t *body, size_t n, int64_t *payload);

/* Login Start (766, 767): String(16) name, then the UUID (mandatory since 1.20.2; an
 * offline-mode client sends the UUID it derives from its name). */
typedef struct {
    mcproto_str_t name;
    uint8_t uuid[MCPROTO_UUID_BYTES];
} mcproto_login_start_t;

void mcproto_login_start_write(mcbuf_t *b, int32_t protocol, const mcproto_login_start_t *ls);
int mcproto_login_start_read(int32_t protocol, const uint8_t *body, size_t n,
                             mcproto_login_start_t *ls);

/* Transfer (1.20.5+), in the configuration or the play state: String(32767) host and a
 * VarInt port. `play` picks the state. */
void mcproto_transfer_write(mcbuf_t *b, int32_t protocol, bool play, const char *host,
                            uint16_t port);
/* Decodes a transfer body; a port outside 0..65535 is MIG_EPROTO. */
int mcproto_transfer_read(const uint8_t *body, size_t n, mcproto_str_t *host, uint16_t *port);

/* Disconnect in the login state: the reason as JSON text, String(262144). `json` is
 * written as given, e.g. {"text":"Server wird migriert"}. */
void mcproto_login_disconnect_write(mcbuf_t *b, int32_t protocol, const char *json, size_t n);
int mcproto_login_disconnect_read(const uint8_t *body, size_t n, mcproto_str_t *json);

/* Disconnect in the configuration or play state. Since 1.20.3 the reason is a text
 * component as network NBT; the simplest valid form, used here, is a bare String tag
 * (type 0x08, no name since 1.20.2, u16 length, Java's modified UTF-8), which a client
 * shows as plain text. `text` is UTF-8 and may be at most 65535 bytes once converted.
 * Reading accepts only that String-tag form (a compound is MIG_EPROTO); the slice it
 * returns is in modified UTF-8, which equals UTF-8 for text without NUL and without
 * characters above U+FFFF. */
void mcproto_disconnect_write(mcbuf_t *b, int32_t protocol, bool play, const char *text,
                              size_t n);
int mcproto_disconnect_read(const uint8_t *body, size_t n, mcproto_str_t *text);

/* Keep Alive in the configuration state (the waiting room): a Long the client echoes in
 * its Keep Alive reply. `reply` writes the serverbound packet. */
void mcproto_config_keep_alive_write(mcbuf_t *b, int32_t protocol, bool reply, int64_t id);
int mcproto_keep_alive_read(const uint8_t *body, size_t n, int64_t *id);

#endif
