/* test_wsframe.c - core/wsframe.c against RFC 6455 section 5: the three length forms at
 * their edges, masks, control frames, fragmented messages, close codes and reasons, and
 * the frames the RFC forbids. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsframe.h"
#include "suites.h"

static const unsigned char MASK[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7's example key */

/* Writes a header of `len` and parses it back as the peer would: the same length,
 * opcode and FIN, and the header's length `want_hl`. */
static void round_trip(uint64_t len, const unsigned char *mask, size_t want_hl) {
    unsigned char out[WSFRAME_HEADER_MAX];
    size_t hl = wsframe_header_write(out, 1, WSFRAME_OP_BINARY, len, mask);
    ck_assert_uint_eq(hl, want_hl);
    wsframe_header_t h;
    ck_assert_int_eq(wsframe_header_parse(out, hl, mask ? WSFRAME_FROM_CLIENT : WSFRAME_FROM_SERVER, &h), 1);
    ck_assert_uint_eq(h.len, len);
    ck_assert_uint_eq(h.header_len, hl);
    ck_assert_int_eq(h.opcode, WSFRAME_OP_BINARY);
    ck_assert_int_eq(h.fin, 1);
    ck_assert_int_eq(h.masked, mask != NULL);
    if (mask) ck_assert_mem_eq(h.mask, mask, 4);
    /* one byte short of the header is "more bytes needed", never an error */
    ck_assert_int_eq(wsframe_header_parse(out, hl - 1, mask ? WSFRAME_FROM_CLIENT : WSFRAME_FROM_SERVER, &h), 0);
}

START_TEST(test_lengths_take_the_7_16_and_64_bit_forms_at_their_edges) {
    unsigned char out[WSFRAME_HEADER_MAX];
    /* 125: the 7-bit form */
    ck_assert_uint_eq(wsframe_header_write(out, 1, WSFRAME_OP_TEXT, 125, NULL), 2);
    ck_assert_uint_eq(out[0], 0x81);
    ck_assert_uint_eq(out[1], 125);
    /* 126: the 16-bit form, marked 126 */
    ck_assert_uint_eq(wsframe_header_write(out, 1, WSFRAME_OP_TEXT, 126, NULL), 4);
    ck_assert_mem_eq(out, "\x81\x7e\x00\x7e", 4);
    /* 65535: the largest 16-bit length */
    ck_assert_uint_eq(wsframe_header_write(out, 1, WSFRAME_OP_TEXT, 65535, NULL), 4);
    ck_assert_mem_eq(out, "\x81\x7e\xff\xff", 4);
    /* 65536: the 64-bit form, marked 127, big-endian */
    ck_assert_uint_eq(wsframe_header_write(out, 1, WSFRAME_OP_TEXT, 65536, NULL), 10);
    ck_assert_mem_eq(out, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    /* each parses back, masked (4 more bytes) or not */
    uint64_t lens[] = {0, 125, 126, 65535, 65536, (uint64_t)1 << 40};
    size_t plain[] = {2, 2, 4, 4, 10, 10};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        round_trip(lens[i], NULL, plain[i]);
        round_trip(lens[i], MASK, plain[i] + 4);
    }
}
END_TEST

START_TEST(test_a_mask_is_applied_and_removed_at_any_offset) {
    /* RFC 6455 5.7: a masked "Hello" from a client */
    const unsigned char rfc[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    unsigned char out[WSFRAME_HEADER_MAX + 5];
    ck_assert_uint_eq(wsframe_write(out, WSFRAME_OP_TEXT, "Hello", 5, MASK), sizeof rfc);
    ck_assert_mem_eq(out, rfc, sizeof rfc);
    wsframe_header_t h;
    ck_assert_int_eq(wsframe_header_parse(out, sizeof rfc, WSFRAME_FROM_CLIENT, &h), 1);
    wsframe_mask(out + h.header_len, (size_t)h.len, h.mask, 0);
    ck_assert_mem_eq(out + h.header_len, "Hello", 5);
    /* unmasking in pieces, each at its offset into the payload, gives the same text */
    unsigned char p[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    wsframe_mask(p, 3, MASK, 0);
    wsframe_mask(p + 3, 2, MASK, 3);
    ck_assert_mem_eq(p, "Hello", 5);
    /* the RFC's unmasked "Hello" from a server */
    ck_assert_uint_eq(wsframe_write(out, WSFRAME_OP_TEXT, "Hello", 5, NULL), 7);
    ck_assert_mem_eq(out, "\x81\x05Hello", 7);
}
END_TEST

START_TEST(test_control_frames_are_final_and_at_most_125_bytes) {
    unsigned char out[WSFRAME_HEADER_MAX + WSFRAME_CONTROL_MAX + 1];
    wsframe_header_t h;
    int ops[] = {WSFRAME_OP_PING, WSFRAME_OP_PONG, WSFRAME_OP_CLOSE};
    for (size_t i = 0; i < 3; i++) {
        /* 125 bytes: the most a control frame may carry */
        size_t n = wsframe_header_write(out, 1, ops[i], WSFRAME_CONTROL_MAX, NULL);
        ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_SERVER, &h), 1);
        ck_assert_int_eq(h.opcode, ops[i]);
        /* 126 is one too many, whatever the length form */
        n = wsframe_header_write(out, 1, ops[i], WSFRAME_CONTROL_MAX + 1, NULL);
        ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_SERVER, &h), MIG_EPROTO);
        /* a fragmented control frame is refused, even a short one */
        n = wsframe_header_write(out, 0, ops[i], 4, NULL);
        ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_SERVER, &h), MIG_EPROTO);
    }
    /* a ping's payload comes back whole in the pong */
    size_t n = wsframe_write(out, WSFRAME_OP_PONG, "abc", 3, MASK);
    ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_CLIENT, &h), 1);
    wsframe_mask(out + h.header_len, 3, h.mask, 0);
    ck_assert_mem_eq(out + h.header_len, "abc", 3);
}
END_TEST

/* The header of a frame with FIN `fin` and opcode `op`, parsed. */
static wsframe_header_t header_of(int fin, int op) {
    unsigned char out[WSFRAME_HEADER_MAX];
    wsframe_header_t h;
    size_t n = wsframe_header_write(out, fin, op, 3, NULL);
    ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_SERVER, &h), 1);
    ck_assert_int_eq(h.fin, fin);
    return h;
}

START_TEST(test_a_fragmented_message_ends_at_its_final_continuation) {
    wsframe_msg_t m = {0};
    wsframe_header_t first = header_of(0, WSFRAME_OP_TEXT), mid = header_of(0, WSFRAME_OP_CONT),
                     last = header_of(1, WSFRAME_OP_CONT), ping = header_of(1, WSFRAME_OP_PING);
    ck_assert_int_eq(wsframe_msg_step(&m, &first), 0);
    ck_assert_int_eq(wsframe_msg_step(&m, &mid), 0);
    ck_assert_int_eq(wsframe_msg_step(&m, &ping), 0); /* a control frame between fragments */
    ck_assert_int_eq(wsframe_msg_step(&m, &last), 1);
    ck_assert_int_eq(m.opcode, WSFRAME_OP_TEXT);
    ck_assert_int_eq(m.in_message, 0);
    /* an unfragmented message ends at once */
    wsframe_header_t whole = header_of(1, WSFRAME_OP_BINARY);
    ck_assert_int_eq(wsframe_msg_step(&m, &whole), 1);
    ck_assert_int_eq(m.opcode, WSFRAME_OP_BINARY);
}
END_TEST

START_TEST(test_a_continuation_without_a_first_frame_or_a_message_inside_another_is_refused) {
    wsframe_msg_t m = {0};
    wsframe_header_t cont = header_of(1, WSFRAME_OP_CONT), first = header_of(0, WSFRAME_OP_TEXT),
                     other = header_of(1, WSFRAME_OP_BINARY);
    ck_assert_int_eq(wsframe_msg_step(&m, &cont), MIG_EPROTO);
    ck_assert_int_eq(wsframe_msg_step(&m, &first), 0);
    ck_assert_int_eq(wsframe_msg_step(&m, &other), MIG_EPROTO);
}
END_TEST

START_TEST(test_close_codes_and_reasons_are_written_and_read_back) {
    unsigned char p[WSFRAME_CONTROL_MAX];
    size_t n = wsframe_close_payload(p, WSFRAME_CLOSE_GOING_AWAY, "bye");
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(p, "\x03\xe9" "bye", 5);
    ck_assert_int_eq(wsframe_close_code(p, n), WSFRAME_CLOSE_GOING_AWAY);
    /* no reason: the code alone */
    ck_assert_uint_eq(wsframe_close_payload(p, WSFRAME_CLOSE_NORMAL, NULL), 2);
    ck_assert_int_eq(wsframe_close_code(p, 2), WSFRAME_CLOSE_NORMAL);
    /* a reason too long for a control frame is cut to fit it */
    char reason[300];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    ck_assert_uint_eq(wsframe_close_payload(p, WSFRAME_CLOSE_POLICY, reason), WSFRAME_CONTROL_MAX);
    ck_assert_int_eq(wsframe_close_code(p, WSFRAME_CONTROL_MAX), WSFRAME_CLOSE_POLICY);
    /* a close without a payload has no status */
    ck_assert_int_eq(wsframe_close_code(p, 0), WSFRAME_CLOSE_NO_STATUS);
    /* which codes may be sent back */
    ck_assert(wsframe_close_code_sendable(1000));
    ck_assert(wsframe_close_code_sendable(4999));
    ck_assert(!wsframe_close_code_sendable(999));
    ck_assert(!wsframe_close_code_sendable(5000));
    ck_assert(!wsframe_close_code_sendable(1005));
    ck_assert(!wsframe_close_code_sendable(1006));
    ck_assert(!wsframe_close_code_sendable(1015));
}
END_TEST

START_TEST(test_frames_the_rfc_forbids_are_refused) {
    wsframe_header_t h;
    /* RSV1, RSV2, RSV3: no extension is negotiated */
    const unsigned char rsv[][2] = {{0xc1, 0x00}, {0xa1, 0x00}, {0x91, 0x00}};
    for (size_t i = 0; i < 3; i++) ck_assert_int_eq(wsframe_header_parse(rsv[i], 2, WSFRAME_FROM_SERVER, &h), MIG_EPROTO);
    /* the reserved opcodes 3-7 and B-F */
    for (int op = 0; op < 16; op++) {
        unsigned char b[2] = {(unsigned char)(0x80 | op), 0x00};
        int known = op <= 2 || (op >= 8 && op <= 10);
        ck_assert_int_eq(wsframe_header_parse(b, 2, WSFRAME_FROM_SERVER, &h), known ? 1 : MIG_EPROTO);
    }
    /* a client's frame must be masked, a server's must not */
    unsigned char out[WSFRAME_HEADER_MAX + 2];
    size_t n = wsframe_write(out, WSFRAME_OP_TEXT, "hi", 2, NULL);
    ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_CLIENT, &h), MIG_EPROTO);
    n = wsframe_write(out, WSFRAME_OP_TEXT, "hi", 2, MASK);
    ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_SERVER, &h), MIG_EPROTO);
    ck_assert_int_eq(wsframe_header_parse(out, n, WSFRAME_FROM_CLIENT, &h), 1);
    /* a 64-bit length with its top bit set */
    const unsigned char huge[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(wsframe_header_parse(huge, sizeof huge, WSFRAME_FROM_SERVER, &h), MIG_EPROTO);
    const unsigned char top[] = {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(wsframe_header_parse(top, sizeof top, WSFRAME_FROM_SERVER, &h), 1);
    ck_assert_uint_eq(h.len, UINT64_MAX >> 1);
}
END_TEST

Suite *suite_wsframe(void) {
    Suite *s = suite_create("wsframe");
    TCase *tc = tcase_create("rfc6455");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_lengths_take_the_7_16_and_64_bit_forms_at_their_edges);
    tcase_add_test(tc, test_a_mask_is_applied_and_removed_at_any_offset);
    tcase_add_test(tc, test_control_frames_are_final_and_at_most_125_bytes);
    tcase_add_test(tc, test_a_fragmented_message_ends_at_its_final_continuation);
    tcase_add_test(tc, test_a_continuation_without_a_first_frame_or_a_message_inside_another_is_refused);
    tcase_add_test(tc, test_close_codes_and_reasons_are_written_and_read_back);
    tcase_add_test(tc, test_frames_the_rfc_forbids_are_refused);
    suite_add_tcase(s, tc);
    return s;
}
