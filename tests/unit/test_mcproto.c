/* test_mcproto.c - the Minecraft protocol codecs (core/mcproto.c) byte for byte.
 *
 * Every expected byte array is written out by hand from the protocol documentation:
 * wiki.vg "Data types" (VarInt/VarLong sample table, String, UUID, NBT TAG_String) and
 * "Protocol" (packet format, each packet's field table), with the packet ids of
 * PrismarineJS/minecraft-data data/pc/1.20.5/protocol.json (766) and
 * data/pc/1.21.1/protocol.json (767). The comment above each array names its layout. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mcproto.h"
#include "suites.h"

/* Fails with both byte strings in hex when `got` is not exactly `want`. */
static void expect_bytes(const uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n) {
    if (got_n == want_n && memcmp(got, want, want_n) == 0) return;
    char g[512] = "", w[512] = "";
    for (size_t i = 0; i < got_n && i < 150; i++) snprintf(g + 3 * i, 4, "%02x ", got[i]);
    for (size_t i = 0; i < want_n && i < 150; i++) snprintf(w + 3 * i, 4, "%02x ", want[i]);
    ck_abort_msg("bytes differ\n got (%zu): %s\nwant (%zu): %s", got_n, g, want_n, w);
}
#define EXPECT_BUF(b, arr) expect_bytes((b)->buf, (b)->len, (arr), sizeof(arr))

/* Decodes the one frame in `arr` (exactly all of it) and returns it. */
static mcproto_frame_t frame_of(const uint8_t *p, size_t n) {
    mcproto_frame_t f;
    ck_assert_int_eq(mcproto_frame_decode(p, n, MCPROTO_FRAME_MAX, &f), (int)n);
    return f;
}

static mcproto_str_t str_of(const char *s) {
    return (mcproto_str_t){s, strlen(s)};
}

static void expect_str(mcproto_str_t got, const char *want) {
    ck_assert_uint_eq(got.n, strlen(want));
    ck_assert(memcmp(got.p, want, got.n) == 0);
}

/* ---- VarInt and VarLong: the sample table of wiki.vg "Data types" ------------------- */

static const struct {
    int32_t v;
    uint8_t b[5];
    size_t n;
} varints[] = {
    {0, {0x00}, 1},
    {1, {0x01}, 1},
    {2, {0x02}, 1},
    {127, {0x7f}, 1},
    {128, {0x80, 0x01}, 2},
    {255, {0xff, 0x01}, 2},
    {25565, {0xdd, 0xc7, 0x01}, 3},
    {2097151, {0xff, 0xff, 0x7f}, 3},
    {2147483647, {0xff, 0xff, 0xff, 0xff, 0x07}, 5},
    {-1, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    {INT32_MIN, {0x80, 0x80, 0x80, 0x80, 0x08}, 5},
};

static const struct {
    int64_t v;
    uint8_t b[10];
    size_t n;
} varlongs[] = {
    {0, {0x00}, 1},
    {1, {0x01}, 1},
    {127, {0x7f}, 1},
    {128, {0x80, 0x01}, 2},
    {255, {0xff, 0x01}, 2},
    {2147483647, {0xff, 0xff, 0xff, 0xff, 0x07}, 5},
    {INT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 9},
    {-1, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    {-2147483648LL, {0x80, 0x80, 0x80, 0x80, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    {INT64_MIN, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10},
};

START_TEST(test_varint_encodes_and_decodes_the_documented_samples) {
    for (size_t i = 0; i < sizeof varints / sizeof varints[0]; i++) {
        uint8_t out[MCPROTO_VARINT_MAX];
        size_t n = mcproto_varint_encode(varints[i].v, out);
        expect_bytes(out, n, varints[i].b, varints[i].n);
        ck_assert_uint_eq(mcproto_varint_size(varints[i].v), varints[i].n);
        int32_t v = 12345;
        ck_assert_int_eq(mcproto_varint_decode(varints[i].b, varints[i].n, &v), (int)varints[i].n);
        ck_assert_int_eq(v, varints[i].v);
    }
}
END_TEST

START_TEST(test_varlong_encodes_and_decodes_the_documented_samples) {
    for (size_t i = 0; i < sizeof varlongs / sizeof varlongs[0]; i++) {
        uint8_t out[MCPROTO_VARLONG_MAX];
        size_t n = mcproto_varlong_encode(varlongs[i].v, out);
        expect_bytes(out, n, varlongs[i].b, varlongs[i].n);
        int64_t v = 12345;
        ck_assert_int_eq(mcproto_varlong_decode(varlongs[i].b, varlongs[i].n, &v),
                         (int)varlongs[i].n);
        ck_assert(v == varlongs[i].v);
    }
}
END_TEST

START_TEST(test_varint_truncated_needs_more_and_overlong_is_refused) {
    int32_t v;
    int64_t l;
    /* every proper prefix of a sample is "need more", never a value */
    for (size_t i = 0; i < sizeof varints / sizeof varints[0]; i++)
        for (size_t n = 0; n < varints[i].n; n++)
            ck_assert_int_eq(mcproto_varint_decode(varints[i].b, n, &v), 0);
    for (size_t i = 0; i < sizeof varlongs / sizeof varlongs[0]; i++)
        for (size_t n = 0; n < varlongs[i].n; n++)
            ck_assert_int_eq(mcproto_varlong_decode(varlongs[i].b, n, &l), 0);
    /* a continuation bit on the 5th (10th) byte: "VarInt too big" in the vanilla decoder */
    const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    ck_assert_int_eq(mcproto_varint_decode(six, sizeof six, &v), MIG_EPROTO);
    ck_assert_int_eq(mcproto_varint_decode(six, 5, &v), MIG_EPROTO); /* known at byte 5 */
    const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    ck_assert_int_eq(mcproto_varlong_decode(eleven, sizeof eleven, &l), MIG_EPROTO);
    ck_assert_int_eq(mcproto_varlong_decode(eleven, 10, &l), MIG_EPROTO);
    /* a reader inside a packet calls either failure malformed, with a reason */
    mcreader_t r;
    mcreader_init(&r, six, 3);
    ck_assert_int_eq(mcreader_varint(&r, &v), MIG_EPROTO);
    ck_assert_str_eq(r.err, "a VarInt runs past the end of the packet");
    mcreader_init(&r, six, sizeof six);
    ck_assert_int_eq(mcreader_varint(&r, &v), MIG_EPROTO);
    ck_assert_str_eq(r.err, "a VarInt is longer than 5 bytes");
}
END_TEST

/* ---- Strings: VarInt byte length + UTF-8, limit in UTF-16 units (wiki.vg Data types) -- */

START_TEST(test_string_limits_count_utf16_units_and_refuse_bad_utf8) {
    mcbuf_t b;
    mcbuf_init(&b);
    /* "hé" = 68 c3 a9: length 3 */
    mcbuf_put_string(&b, "h\xc3\xa9", 3, 2);
    const uint8_t he[] = {0x03, 0x68, 0xc3, 0xa9};
    EXPECT_BUF(&b, he);
    /* U+1F600 is two UTF-16 units: one over a limit of 1 */
    mcbuf_reset(&b);
    mcbuf_put_string(&b, "\xf0\x9f\x98\x80", 4, 1);
    ck_assert_int_eq(mcbuf_status(&b), MIG_EINVALID);
    mcbuf_reset(&b);
    mcbuf_put_string(&b, "\xf0\x9f\x98\x80", 4, 2);
    ck_assert_int_eq(mcbuf_status(&b), 0);
    /* an overlong NUL and a lone surrogate are not UTF-8 */
    mcbuf_reset(&b);
    mcbuf_put_string(&b, "\xc0\x80", 2, 10);
    ck_assert_int_eq(mcbuf_status(&b), MIG_EINVALID);
    const uint8_t surrogate[] = {0x03, 0xed, 0xa0, 0x80};
    mcreader_t r;
    mcproto_str_t s;
    mcreader_init(&r, surrogate, sizeof surrogate);
    ck_assert_int_eq(mcreader_string(&r, 10, &s), MIG_EPROTO);
    ck_assert_str_eq(r.err, "a string is not valid UTF-8");
    /* the byte limit (3n) is checked from the prefix alone: 49 bytes for n = 16 */
    const uint8_t big[] = {0x31, 'a'};
    mcreader_init(&r, big, sizeof big);
    ck_assert_int_eq(mcreader_string(&r, 16, &s), MIG_EPROTO);
    ck_assert_str_eq(r.err, "a string is longer than its maximum");
    /* a length past the packet's end */
    const uint8_t shortstr[] = {0x05, 'a', 'b'};
    mcreader_init(&r, shortstr, sizeof shortstr);
    ck_assert_int_eq(mcreader_string(&r, 16, &s), MIG_EPROTO);
    mcbuf_free(&b);
}
END_TEST

/* ---- Frames (wiki.vg Protocol, "Packet format": Length VarInt, Packet ID VarInt, Data) - */

START_TEST(test_frame_write_prefixes_the_length_of_id_and_body) {
    mcbuf_t b;
    mcbuf_init(&b);
    /* Status Request: length 1, id 0x00 */
    mcproto_status_request_write(&b);
    const uint8_t req[] = {0x01, 0x00};
    EXPECT_BUF(&b, req);
    /* 299 body bytes + 1 id byte = 300 = VarInt ac 02 */
    uint8_t body[299];
    memset(body, 0x5a, sizeof body);
    mcbuf_reset(&b);
    mcproto_frame_write(&b, 0x42, body, sizeof body);
    ck_assert_uint_eq(b.len, 2 + 1 + 299);
    ck_assert_uint_eq(b.buf[0], 0xac);
    ck_assert_uint_eq(b.buf[1], 0x02);
    ck_assert_uint_eq(b.buf[2], 0x42);
    mcproto_frame_t f = frame_of(b.buf, b.len);
    ck_assert_int_eq(f.id, 0x42);
    ck_assert_uint_eq(f.body_len, 299);
    ck_assert(f.body == b.buf + 3);
    mcbuf_free(&b);
}
END_TEST

START_TEST(test_frame_decode_needs_more_until_complete_and_never_reads_past) {
    /* the handshake of test_handshake_..., fed one byte more at a time, each prefix in a
     * buffer of exactly its size so that ASan sees any read past it */
    const uint8_t hs[] = {0x10, 0x00, 0xfe, 0x05, 0x09, 'l', 'o', 'c', 'a', 'l', 'h',
                          'o',  's',  't',  0x63, 0xdd, 0x02};
    mcproto_frame_t f;
    for (size_t n = 0; n < sizeof hs; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, hs, n);
        ck_assert_int_eq(mcproto_frame_decode(p, n, MCPROTO_FRAME_MAX, &f), 0);
        free(p);
    }
    /* two frames back to back: the first is returned, its length consumed */
    uint8_t two[sizeof hs + 2];
    memcpy(two, hs, sizeof hs);
    two[sizeof hs] = 0x01, two[sizeof hs + 1] = 0x00;
    ck_assert_int_eq(mcproto_frame_decode(two, sizeof two, 64, &f), (int)sizeof hs);
    ck_assert_int_eq(f.id, 0);
    ck_assert_uint_eq(f.body_len, 15);
    ck_assert_int_eq(mcproto_frame_decode(two + sizeof hs, 2, 64, &f), 2);
    ck_assert_uint_eq(f.body_len, 0);
}
END_TEST

START_TEST(test_frame_decode_refuses_malformed_and_too_big) {
    mcproto_frame_t f;
    /* a length prefix wider than 3 bytes (21 bits), known at its 3rd byte */
    const uint8_t wide[] = {0x80, 0x80, 0x80, 0x01};
    ck_assert_int_eq(mcproto_frame_decode(wide, 3, MCPROTO_FRAME_MAX, &f), MIG_EPROTO);
    ck_assert_int_eq(mcproto_frame_decode(wide, 4, MCPROTO_FRAME_MAX, &f), MIG_EPROTO);
    /* length 0: no room for a packet id */
    const uint8_t zero[] = {0x00};
    ck_assert_int_eq(mcproto_frame_decode(zero, 1, MCPROTO_FRAME_MAX, &f), MIG_EPROTO);
    /* 300 > 256: refused from the prefix alone, before the bytes arrive */
    const uint8_t big[] = {0xac, 0x02};
    ck_assert_int_eq(mcproto_frame_decode(big, 2, 256, &f), MIG_EPROTO);
    ck_assert_int_eq(mcproto_frame_decode(big, 2, 300, &f), 0);
    /* the largest length the prefix can carry: 2^21 - 1 = ff ff 7f, accepted */
    const uint8_t max[] = {0xff, 0xff, 0x7f};
    ck_assert_int_eq(mcproto_frame_decode(max, 3, MCPROTO_FRAME_MAX, &f), 0);
    /* the packet id runs past its frame (length 1, id byte with continuation) */
    const uint8_t idcut[] = {0x01, 0x80, 0x01};
    ck_assert_int_eq(mcproto_frame_decode(idcut, 3, MCPROTO_FRAME_MAX, &f), MIG_EPROTO);
    /* an overlong packet id inside the frame */
    const uint8_t idlong[] = {0x06, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    ck_assert_int_eq(mcproto_frame_decode(idlong, 7, MCPROTO_FRAME_MAX, &f), MIG_EPROTO);
}
END_TEST

/* ---- Packet id table ---------------------------------------------------------------- */

START_TEST(test_packet_ids_of_766_and_767_and_unknown_versions) {
    int32_t pvs[] = {MCPROTO_PV_1_20_5, MCPROTO_PV_1_21};
    for (size_t i = 0; i < 2; i++) {
        /* minecraft-data 1.20.5 / 1.21.1 protocol.json mappings */
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_LOGIN_START), 0x00);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_LOGIN_SUCCESS), 0x02);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_LOGIN_ACKNOWLEDGED), 0x03);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_CONFIG_DISCONNECT), 0x02);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_CONFIG_KEEP_ALIVE), 0x04);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_CONFIG_TRANSFER), 0x0b);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_PLAY_DISCONNECT), 0x1d);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_PLAY_KEEP_ALIVE), 0x26);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_PLAY_TRANSFER), 0x73);
        ck_assert_int_eq(mcproto_packet_id(pvs[i], MCPROTO_PLAY_KEEP_ALIVE_REPLY), 0x18);
    }
    ck_assert_int_eq(mcproto_packet_id(765, MCPROTO_CONFIG_TRANSFER), MIG_EINVALID);
    ck_assert_int_eq(mcproto_packet_id(766, MCPROTO_PACKET_COUNT), MIG_EINVALID);
    ck_assert(!mcproto_protocol_known(768));
    /* an encoder asked for an unknown version writes nothing usable */
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_transfer_write(&b, 765, false, "h", 1);
    ck_assert_int_eq(mcbuf_status(&b), MIG_EINVALID);
    mcbuf_free(&b);
}
END_TEST

/* ---- Handshake (wiki.vg Protocol, "Handshake": VarInt protocol, String(255) address,
 *      Unsigned Short port, VarInt next state) ------------------------------------------ */

START_TEST(test_handshake_both_directions) {
    /* length 16 | id 00 | 766 = fe 05 | "localhost" 09 + 9 bytes | 25565 = 63 dd | 2 */
    const uint8_t want[] = {0x10, 0x00, 0xfe, 0x05, 0x09, 'l', 'o', 'c', 'a', 'l', 'h',
                            'o',  's',  't',  0x63, 0xdd, 0x02};
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_handshake_t hs = {766, str_of("localhost"), 25565, MCPROTO_INTENT_LOGIN};
    mcproto_handshake_write(&b, &hs);
    EXPECT_BUF(&b, want);

    mcproto_frame_t f = frame_of(want, sizeof want);
    ck_assert_int_eq(f.id, 0x00);
    mcproto_handshake_t got;
    ck_assert_int_eq(mcproto_handshake_read(f.body, f.body_len, &got), 0);
    ck_assert_int_eq(got.protocol, 766);
    expect_str(got.host, "localhost");
    ck_assert_uint_eq(got.port, 25565);
    ck_assert_int_eq(got.intent, MCPROTO_INTENT_LOGIN);

    /* transfer intent 3, protocol 767 = ff 05, port 65535 = ff ff, host "mc.example" */
    const uint8_t xfer[] = {0x11, 0x00, 0xff, 0x05, 0x0a, 'm', 'c', '.', 'e', 'x', 'a',
                            'm',  'p',  'l',  'e',  0xff, 0xff, 0x03};
    mcbuf_reset(&b);
    mcproto_handshake_t hs3 = {767, str_of("mc.example"), 65535, MCPROTO_INTENT_TRANSFER};
    mcproto_handshake_write(&b, &hs3);
    EXPECT_BUF(&b, xfer);
    f = frame_of(xfer, sizeof xfer);
    ck_assert_int_eq(mcproto_handshake_read(f.body, f.body_len, &got), 0);
    ck_assert_int_eq(got.intent, MCPROTO_INTENT_TRANSFER);
    ck_assert_uint_eq(got.port, 65535);

    /* every truncation of the body is malformed */
    for (size_t n = 0; n < f.body_len; n++)
        ck_assert_int_eq(mcproto_handshake_read(f.body, n, &got), MIG_EPROTO);
    /* a byte after the last field, and an intent outside 1..3 */
    uint8_t extra[32];
    memcpy(extra, f.body, f.body_len);
    extra[f.body_len] = 0;
    ck_assert_int_eq(mcproto_handshake_read(extra, f.body_len + 1, &got), MIG_EPROTO);
    extra[f.body_len - 1] = 4;
    ck_assert_int_eq(mcproto_handshake_read(extra, f.body_len, &got), MIG_EPROTO);

    /* a host of 256 characters is over String(255) both ways */
    char host[257];
    memset(host, 'a', 256);
    host[256] = 0;
    mcbuf_reset(&b);
    mcproto_handshake_t hsl = {766, str_of(host), 1, MCPROTO_INTENT_STATUS};
    mcproto_handshake_write(&b, &hsl);
    ck_assert_int_eq(mcbuf_status(&b), MIG_EINVALID);
    mcbuf_reset(&b);
    hsl.host.n = 255;
    mcproto_handshake_write(&b, &hsl);
    ck_assert_int_eq(mcbuf_status(&b), 0);
    mcbuf_free(&b);
}
END_TEST

/* ---- Status (wiki.vg Server List Ping) ---------------------------------------------- */

START_TEST(test_status_response_and_ping_pong) {
    mcbuf_t b;
    mcbuf_init(&b);
    /* Status Response: length 4 | id 00 | String 02 "{}" */
    const uint8_t resp[] = {0x04, 0x00, 0x02, '{', '}'};
    mcproto_status_response_write(&b, "{}", 2);
    EXPECT_BUF(&b, resp);
    mcproto_frame_t f = frame_of(resp, sizeof resp);
    mcproto_str_t json;
    ck_assert_int_eq(mcproto_status_response_read(f.body, f.body_len, &json), 0);
    expect_str(json, "{}");
    ck_assert_int_eq(mcproto_status_request_read(f.body, f.body_len), MIG_EPROTO);
    ck_assert_int_eq(mcproto_status_request_read(f.body, 0), 0);

    /* Ping Request / Pong Response: length 9 | id 01 | Long, big-endian */
    const uint8_t ping[] = {0x09, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    mcbuf_reset(&b);
    mcproto_ping_write(&b, 0x0102030405060708LL);
    EXPECT_BUF(&b, ping);
    mcbuf_reset(&b);
    mcproto_pong_write(&b, 0x0102030405060708LL);
    EXPECT_BUF(&b, ping);
    f = frame_of(ping, sizeof ping);
    int64_t v;
    ck_assert_int_eq(mcproto_ping_read(f.body, f.body_len, &v), 0);
    ck_assert(v == 0x0102030405060708LL);
    ck_assert_int_eq(mcproto_ping_read(f.body, 7, &v), MIG_EPROTO);
    /* a negative Long round-trips as its two's complement */
    const uint8_t neg[] = {0x09, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    mcbuf_reset(&b);
    mcproto_ping_write(&b, -2);
    EXPECT_BUF(&b, neg);
    mcbuf_free(&b);
}
END_TEST

/* ---- Login Start (766/767, wiki.vg Protocol "Login Start": String(16) name, UUID) ---- */

START_TEST(test_login_start_both_directions) {
    const uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                              0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    /* length 23 | id 00 | 05 "Steve" | 16 UUID bytes */
    uint8_t want[24] = {0x17, 0x00, 0x05, 'S', 't', 'e', 'v', 'e'};
    memcpy(want + 8, uuid, 16);
    int32_t pvs[] = {766, 767};
    for (size_t i = 0; i < 2; i++) {
        mcbuf_t b;
        mcbuf_init(&b);
        mcproto_login_start_t ls = {.name = str_of("Steve")};
        memcpy(ls.uuid, uuid, 16);
        mcproto_login_start_write(&b, pvs[i], &ls);
        EXPECT_BUF(&b, want);
        mcbuf_free(&b);
        mcproto_frame_t f = frame_of(want, sizeof want);
        mcproto_login_start_t got;
        ck_assert_int_eq(mcproto_login_start_read(pvs[i], f.body, f.body_len, &got), 0);
        expect_str(got.name, "Steve");
        ck_assert(memcmp(got.uuid, uuid, 16) == 0);
        for (size_t n = 0; n < f.body_len; n++)
            ck_assert_int_eq(mcproto_login_start_read(pvs[i], f.body, n, &got), MIG_EPROTO);
    }
    /* a 17-character name is over String(16) both ways */
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_login_start_t ls = {.name = str_of("ABCDEFGHIJKLMNOPQ")};
    mcproto_login_start_write(&b, 766, &ls);
    ck_assert_int_eq(mcbuf_status(&b), MIG_EINVALID);
    uint8_t body[1 + 17 + 16] = {17};
    memcpy(body + 1, "ABCDEFGHIJKLMNOPQ", 17);
    mcproto_login_start_t got;
    ck_assert_int_eq(mcproto_login_start_read(766, body, sizeof body, &got), MIG_EPROTO);
    ck_assert_int_eq(mcproto_login_start_read(764, want + 2, 22, &got), MIG_EINVALID);
    mcbuf_free(&b);
}
END_TEST

/* ---- Transfer (wiki.vg Protocol "Transfer (configuration)" 0x0B, "Transfer (play)"
 *      0x73 in 766/767: String host, VarInt port) --------------------------------------- */

START_TEST(test_transfer_configuration_and_play) {
    /* length 14 | id | 09 "127.0.0.1" | 25566 = de c7 01 */
    uint8_t want[] = {0x0e, 0x0b, 0x09, '1', '2', '7', '.', '0', '.',
                      '0',  '.',  '1',  0xde, 0xc7, 0x01};
    int32_t pvs[] = {766, 767};
    for (size_t i = 0; i < 2; i++) {
        for (int play = 0; play <= 1; play++) {
            want[1] = play ? 0x73 : 0x0b;
            mcbuf_t b;
            mcbuf_init(&b);
            mcproto_transfer_write(&b, pvs[i], play, "127.0.0.1", 25566);
            EXPECT_BUF(&b, want);
            mcbuf_free(&b);
            mcproto_frame_t f = frame_of(want, sizeof want);
            mcproto_str_t host;
            uint16_t port;
            ck_assert_int_eq(mcproto_transfer_read(f.body, f.body_len, &host, &port), 0);
            expect_str(host, "127.0.0.1");
            ck_assert_uint_eq(port, 25566);
            for (size_t n = 0; n < f.body_len; n++)
                ck_assert_int_eq(mcproto_transfer_read(f.body, n, &host, &port), MIG_EPROTO);
        }
    }
    /* a port VarInt of 65536 (80 80 04) is not a port */
    const uint8_t badport[] = {0x01, 'h', 0x80, 0x80, 0x04};
    mcproto_str_t host;
    uint16_t port;
    ck_assert_int_eq(mcproto_transfer_read(badport, sizeof badport, &host, &port), MIG_EPROTO);
}
END_TEST

/* ---- Disconnect: login JSON String(262144); configuration / play NBT text component as
 *      a network NBT TAG_String (wiki.vg NBT: 08, u16 length, modified UTF-8) ---------- */

START_TEST(test_disconnect_login_json_and_nbt_string) {
    mcbuf_t b;
    mcbuf_init(&b);
    /* login: length 14 | id 00 | 0c {"text":"x"} */
    const uint8_t login[] = {0x0e, 0x00, 0x0c, '{', '"', 't', 'e', 'x', 't',
                             '"',  ':',  '"',  'x', '"', '}'};
    mcproto_login_disconnect_write(&b, 766, "{\"text\":\"x\"}", 12);
    EXPECT_BUF(&b, login);
    mcproto_frame_t f = frame_of(login, sizeof login);
    mcproto_str_t s;
    ck_assert_int_eq(mcproto_login_disconnect_read(f.body, f.body_len, &s), 0);
    expect_str(s, "{\"text\":\"x\"}");

    /* configuration: length 7 | id 02 | 08 | 00 03 | "Bye"; play: id 1d */
    uint8_t cfg[] = {0x07, 0x02, 0x08, 0x00, 0x03, 'B', 'y', 'e'};
    for (int play = 0; play <= 1; play++) {
        cfg[1] = play ? 0x1d : 0x02;
        mcbuf_reset(&b);
        mcproto_disconnect_write(&b, 767, play, "Bye", 3);
        EXPECT_BUF(&b, cfg);
        f = frame_of(cfg, sizeof cfg);
        ck_assert_int_eq(mcproto_disconnect_read(f.body, f.body_len, &s), 0);
        expect_str(s, "Bye");
    }
    /* modified UTF-8: NUL as c0 80; U+1F600 as the surrogates d83d de00, 3 bytes each */
    const uint8_t mutf[] = {0x0d, 0x02, 0x08, 0x00, 0x09, 'a',  0xc0, 0x80,
                            0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80};
    mcbuf_reset(&b);
    mcproto_disconnect_write(&b, 766, false, "a\0\xf0\x9f\x98\x80", 6);
    EXPECT_BUF(&b, mutf);
    /* "Server wird migriert... bitte warten": plain ASCII, unchanged */
    const char *msg = "Server wird migriert... bitte warten";
    mcbuf_reset(&b);
    mcproto_disconnect_write(&b, 766, false, msg, strlen(msg));
    f = frame_of(b.buf, b.len);
    ck_assert_int_eq(mcproto_disconnect_read(f.body, f.body_len, &s), 0);
    expect_str(s, msg);
    /* a compound tag (0a) is not read; truncations are malformed */
    const uint8_t compound[] = {0x0a, 0x00};
    ck_assert_int_eq(mcproto_disconnect_read(compound, 2, &s), MIG_EPROTO);
    for (size_t n = 0; n < 6; n++)
        ck_assert_int_eq(mcproto_disconnect_read(cfg + 2, n, &s), MIG_EPROTO);
    mcbuf_free(&b);
}
END_TEST

/* ---- Keep Alive (configuration 0x04 both directions: Long) --------------------------- */

START_TEST(test_config_keep_alive_both_directions) {
    const uint8_t want[] = {0x09, 0x04, 0x00, 0x00, 0x01, 0x8f, 0x00, 0x00, 0x30, 0x39};
    for (int reply = 0; reply <= 1; reply++) {
        mcbuf_t b;
        mcbuf_init(&b);
        mcproto_config_keep_alive_write(&b, 767, reply, 0x0000018f00003039LL);
        EXPECT_BUF(&b, want);
        mcbuf_free(&b);
    }
    mcproto_frame_t f = frame_of(want, sizeof want);
    int64_t id;
    ck_assert_int_eq(mcproto_keep_alive_read(f.body, f.body_len, &id), 0);
    ck_assert(id == 0x0000018f00003039LL);
    ck_assert_int_eq(mcproto_keep_alive_read(f.body, 9, &id), MIG_EPROTO);
}
END_TEST

/* ---- Random input: never a crash, never a read past the end (run under ASan) -------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
    /* xorshift64: deterministic, so a failure repeats */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Runs every body reader over `p`; they may accept or refuse, never fault. */
static void read_all(const uint8_t *p, size_t n) {
    mcproto_handshake_t hs;
    mcproto_login_start_t ls;
    mcproto_str_t s;
    uint16_t port;
    int64_t v;
    int rc = mcproto_handshake_read(p, n, &hs);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
    rc = mcproto_login_start_read(766, p, n, &ls);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
    rc = mcproto_transfer_read(p, n, &s, &port);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
    rc = mcproto_status_response_read(p, n, &s);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
    if (rc == 0) ck_assert(s.p >= (const char *)p && s.p + s.n <= (const char *)p + n);
    rc = mcproto_login_disconnect_read(p, n, &s);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
    rc = mcproto_disconnect_read(p, n, &s);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
    if (rc == 0) ck_assert(s.p >= (const char *)p && s.p + s.n <= (const char *)p + n);
    rc = mcproto_ping_read(p, n, &v);
    ck_assert(rc == 0 || rc == MIG_EPROTO);
}

START_TEST(test_random_bytes_never_crash_nor_read_past_the_end) {
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rng() % 64);
        uint8_t *p = malloc(n ? n : 1); /* exactly n bytes: ASan guards the end */
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng();
            /* small lengths make valid-looking frames and strings likely */
            p[i] = (r & 0x300) == 0 ? (uint8_t)(r % 12) : (uint8_t)r;
        }
        mcproto_frame_t f;
        size_t off = 0;
        for (;;) {
            int k = mcproto_frame_decode(p + off, n - off, 1024, &f);
            if (k <= 0) {
                ck_assert(k == 0 || k == MIG_EPROTO);
                break;
            }
            ck_assert_uint_le(off + (size_t)k, n);
            ck_assert(f.body >= p + off && f.body + f.body_len == p + off + k);
            read_all(f.body, f.body_len);
            off += (size_t)k;
        }
        read_all(p, n);
        int32_t vi;
        int64_t vl;
        int k = mcproto_varint_decode(p, n, &vi);
        ck_assert(k >= MIG_EPROTO && k <= (int)n && k <= MCPROTO_VARINT_MAX);
        k = mcproto_varlong_decode(p, n, &vl);
        ck_assert(k >= MIG_EPROTO && k <= (int)n && k <= MCPROTO_VARLONG_MAX);
        free(p);
    }
}
END_TEST

Suite *suite_mcproto(void) {
    Suite *s = suite_create("mcproto");
    TCase *tc = tcase_create("mcproto");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_varint_encodes_and_decodes_the_documented_samples);
    tcase_add_test(tc, test_varlong_encodes_and_decodes_the_documented_samples);
    tcase_add_test(tc, test_varint_truncated_needs_more_and_overlong_is_refused);
    tcase_add_test(tc, test_string_limits_count_utf16_units_and_refuse_bad_utf8);
    tcase_add_test(tc, test_frame_write_prefixes_the_length_of_id_and_body);
    tcase_add_test(tc, test_frame_decode_needs_more_until_complete_and_never_reads_past);
    tcase_add_test(tc, test_frame_decode_refuses_malformed_and_too_big);
    tcase_add_test(tc, test_packet_ids_of_766_and_767_and_unknown_versions);
    tcase_add_test(tc, test_handshake_both_directions);
    tcase_add_test(tc, test_status_response_and_ping_pong);
    tcase_add_test(tc, test_login_start_both_directions);
    tcase_add_test(tc, test_transfer_configuration_and_play);
    tcase_add_test(tc, test_disconnect_login_json_and_nbt_string);
    tcase_add_test(tc, test_config_keep_alive_both_directions);
    tcase_add_test(tc, test_random_bytes_never_crash_nor_read_past_the_end);
    suite_add_tcase(s, tc);
    return s;
}
