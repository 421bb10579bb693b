/* test_rcon.c - the RCON codec and answer parsers of the node agent (agent/rcon.c).
 *
 * Byte arrays are written by hand from wiki.vg "RCON" (packet format: little-endian int32
 * length of the rest, request id, type; payload; two NUL bytes; type 3 login, 2 command
 * and auth response, 0 response; id -1 on a failed login; answers cut into 4096-byte
 * payloads) and Valve's "Source RCON Protocol" (the same layout). Answer texts are the
 * vanilla server's en_us strings (commands.list.players, commands.save.*). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rcon.h"
#include "core/err.h"
#include "suites.h"

static void expect_bytes(const uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n) {
    if (got_n == want_n && memcmp(got, want, want_n) == 0) return;
    char g[256] = "", w[256] = "";
    for (size_t i = 0; i < got_n && i < 80; i++) snprintf(g + 3 * i, 4, "%02x ", got[i]);
    for (size_t i = 0; i < want_n && i < 80; i++) snprintf(w + 3 * i, 4, "%02x ", want[i]);
    ck_abort_msg("bytes differ\n got (%zu): %s\nwant (%zu): %s", got_n, g, want_n, w);
}

/* Encodes and checks one request against its hand-written bytes, then decodes those. */
static void check_request(int32_t id, int32_t type, const char *body, const uint8_t *want,
                          size_t want_n) {
    uint8_t out[RCON_REQUEST_MAX];
    int n = rcon_encode(id, type, body, strlen(body), out, sizeof out);
    ck_assert_int_eq(n, (int)want_n);
    expect_bytes(out, (size_t)n, want, want_n);
    rcon_packet_t pkt;
    ck_assert_int_eq(rcon_decode(want, want_n, RCON_REQUEST_PAYLOAD_MAX, &pkt), (int)want_n);
    ck_assert_int_eq(pkt.id, id);
    ck_assert_int_eq(pkt.type, type);
    ck_assert_uint_eq(pkt.body_len, strlen(body));
    ck_assert(memcmp(pkt.body, body, pkt.body_len) == 0);
}

START_TEST(test_login_and_command_packets_byte_for_byte) {
    /* login, id 1, password "pw": length 12 = 4 id + 4 type + 2 payload + 2 NUL */
    const uint8_t login[] = {0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                             0x03, 0x00, 0x00, 0x00, 'p',  'w',  0x00, 0x00};
    check_request(1, RCON_TYPE_LOGIN, "pw", login, sizeof login);
    /* command, id 2, "list": length 14 */
    const uint8_t list[] = {0x0e, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02,
                            0x00, 0x00, 0x00, 'l',  'i',  's',  't',  0x00, 0x00};
    check_request(2, RCON_TYPE_COMMAND, "list", list, sizeof list);
    /* the probe, id 3, type 200 = c8, empty: the smallest packet, length 10 */
    const uint8_t probe[] = {0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
                             0x00, 0xc8, 0x00, 0x00, 0x00, 0x00, 0x00};
    check_request(3, RCON_TYPE_PROBE, "", probe, sizeof probe);
    /* an id above 2^24 shows the byte order of every field: 0x01020304 = 04 03 02 01 */
    const uint8_t order[] = {0x0b, 0x00, 0x00, 0x00, 0x04, 0x03, 0x02, 0x01,
                             0x02, 0x00, 0x00, 0x00, '/',  0x00, 0x00};
    check_request(0x01020304, RCON_TYPE_COMMAND, "/", order, sizeof order);
}
END_TEST

START_TEST(test_request_limits) {
    uint8_t out[RCON_REQUEST_MAX];
    char body[RCON_REQUEST_PAYLOAD_MAX + 2];
    memset(body, 'x', sizeof body);
    /* 1446 payload bytes make the largest request the server reads: 1460 bytes */
    ck_assert_int_eq(rcon_encode(1, 2, body, 1446, out, sizeof out), 1460);
    ck_assert_int_eq(rcon_encode(1, 2, body, 1447, out, sizeof out), MIG_EINVALID);
    ck_assert_int_eq(rcon_encode(1, 2, "a\0b", 3, out, sizeof out), MIG_EINVALID);
    ck_assert_int_eq(rcon_encode(1, 2, "list", 4, out, 17), MIG_EINVALID);
    ck_assert_int_eq(rcon_encode(1, 2, "list", 4, out, 18), 18);
}
END_TEST

START_TEST(test_auth_answers_success_and_failure) {
    rcon_packet_t pkt;
    /* success: the login's id, type 2, empty */
    const uint8_t ok[] = {0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                          0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(rcon_decode(ok, sizeof ok, 0, &pkt), (int)sizeof ok);
    ck_assert_int_eq(rcon_login_result(&pkt, 1), 0);
    ck_assert_int_eq(rcon_login_result(&pkt, 7), MIG_EPROTO);
    /* failure: id -1 = ff ff ff ff */
    const uint8_t bad[] = {0x0a, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                           0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(rcon_decode(bad, sizeof bad, 0, &pkt), (int)sizeof bad);
    ck_assert_int_eq(pkt.id, RCON_AUTH_FAILED_ID);
    ck_assert_int_eq(rcon_login_result(&pkt, 1), MIG_EREFUSED);
    /* a Source-style empty type-0 packet before the answer is ignored */
    const uint8_t empty[] = {0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                             0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(rcon_decode(empty, sizeof empty, 0, &pkt), (int)sizeof empty);
    ck_assert_int_eq(rcon_login_result(&pkt, 1), 1);
}
END_TEST

START_TEST(test_response_decode_needs_more_and_refuses_malformed) {
    /* response, id 2, type 0, "ok" */
    const uint8_t resp[] = {0x0c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                            0x00, 0x00, 0x00, 0x00, 'o',  'k',  0x00, 0x00};
    rcon_packet_t pkt;
    for (size_t n = 0; n < sizeof resp; n++) {
        uint8_t *p = malloc(n ? n : 1); /* exactly n bytes: ASan guards the end */
        memcpy(p, resp, n);
        ck_assert_int_eq(rcon_decode(p, n, RCON_RESPONSE_PAYLOAD_MAX, &pkt), 0);
        free(p);
    }
    ck_assert_int_eq(rcon_decode(resp, sizeof resp, RCON_RESPONSE_PAYLOAD_MAX, &pkt), 16);
    ck_assert_int_eq(pkt.type, RCON_TYPE_RESPONSE);
    ck_assert_uint_eq(pkt.body_len, 2);
    /* length 9: below the smallest packet */
    const uint8_t small[] = {0x09, 0x00, 0x00, 0x00};
    ck_assert_int_eq(rcon_decode(small, 4, 100, &pkt), MIG_EPROTO);
    /* negative length */
    const uint8_t neg[] = {0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(rcon_decode(neg, 4, 100, &pkt), MIG_EPROTO);
    /* 12 = 10 + 2 is over a payload limit of 1, known from the length alone */
    ck_assert_int_eq(rcon_decode(resp, 4, 1, &pkt), MIG_EPROTO);
    /* the two NUL bytes missing */
    uint8_t nonul[sizeof resp];
    memcpy(nonul, resp, sizeof resp);
    nonul[15] = 'x';
    ck_assert_int_eq(rcon_decode(nonul, sizeof nonul, 100, &pkt), MIG_EPROTO);
    /* a NUL inside the payload ends the body */
    uint8_t inner[sizeof resp];
    memcpy(inner, resp, sizeof resp);
    inner[13] = 0;
    ck_assert_int_eq(rcon_decode(inner, sizeof inner, 100, &pkt), 16);
    ck_assert_uint_eq(pkt.body_len, 1);
}
END_TEST

/* Appends a server packet (payloads beyond a request's limit, so not rcon_encode()). */
static size_t put_packet(uint8_t *p, int32_t id, int32_t type, const char *body, size_t n) {
    uint32_t len = (uint32_t)(n + 10);
    const uint32_t f[3] = {len, (uint32_t)id, (uint32_t)type};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++) p[4 * k + i] = (uint8_t)(f[k] >> (8 * i));
    memcpy(p + 12, body, n);
    p[12 + n] = p[13 + n] = 0;
    return n + 14;
}

START_TEST(test_fragmented_response_reassembled_until_the_probe_answer) {
    /* a 8292-byte answer as the server cuts it: 4096 + 4096 + 100, all with the command's
     * id 5, then the answer to the probe (id 6): "Unknown request c8" */
    enum { TOTAL = 4096 * 2 + 100 };
    char *text = malloc(TOTAL);
    for (int i = 0; i < TOTAL; i++) text[i] = (char)('a' + i % 26);
    uint8_t *stream = malloc(TOTAL + 4 * 14 + 32);
    size_t len = 0;
    len += put_packet(stream + len, 5, 0, text, 4096);
    len += put_packet(stream + len, 5, 0, text + 4096, 4096);
    len += put_packet(stream + len, 5, 0, text + 8192, 100);
    len += put_packet(stream + len, 6, 0, "Unknown request c8", 18);
    /* the first fragment's header, by hand: length 4106 = 0a 10 00 00, id 5, type 0 */
    const uint8_t head[] = {0x0a, 0x10, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    expect_bytes(stream, 12, head, sizeof head);

    /* received 1000 bytes at a time, decoded from the buffered bytes */
    rcon_reply_t r;
    rcon_reply_init(&r, 5, 6, 1 << 20);
    size_t have = 0, used = 0;
    int done = 0, packets = 0;
    while (!done) {
        ck_assert_uint_lt(have, len);
        have = have + 1000 > len ? len : have + 1000;
        rcon_packet_t pkt;
        int k;
        while (!done && (k = rcon_decode(stream + used, have - used, RCON_RESPONSE_PAYLOAD_MAX,
                                         &pkt)) > 0) {
            used += (size_t)k;
            packets++;
            done = rcon_reply_feed(&r, &pkt);
            ck_assert_int_ge(done, 0);
        }
        ck_assert_int_ge(k, 0);
    }
    ck_assert_int_eq(packets, 4);
    ck_assert_uint_eq(used, len);
    ck_assert_uint_eq(r.len, TOTAL);
    ck_assert(memcmp(r.text, text, TOTAL) == 0);
    ck_assert_int_eq(r.text[TOTAL], 0);
    rcon_reply_free(&r);

    /* a limit smaller than the answer refuses it; a stranger's id, and id -1, too */
    rcon_reply_init(&r, 5, 6, 5000);
    rcon_packet_t pkt;
    ck_assert_int_gt(rcon_decode(stream, len, RCON_RESPONSE_PAYLOAD_MAX, &pkt), 0);
    ck_assert_int_eq(rcon_reply_feed(&r, &pkt), 0);
    ck_assert_int_eq(rcon_reply_feed(&r, &pkt), MIG_EINVALID);
    pkt.id = 9;
    ck_assert_int_eq(rcon_reply_feed(&r, &pkt), MIG_EPROTO);
    pkt.id = -1;
    ck_assert_int_eq(rcon_reply_feed(&r, &pkt), MIG_EREFUSED);
    rcon_reply_free(&r);

    /* a command with no output: the probe's answer alone gives an empty text */
    rcon_reply_init(&r, 5, 6, 100);
    ck_assert_int_gt(rcon_decode(stream + len - 32, 32, 100, &pkt), 0);
    ck_assert_int_eq(rcon_reply_feed(&r, &pkt), 1);
    ck_assert_str_eq(r.text, "");
    rcon_reply_free(&r);
    free(stream);
    free(text);
}
END_TEST

/* ---- Answers ------------------------------------------------------------------------ */

static void expect_list(const char *text, int online, int max, const char *const *names,
                        size_t count) {
    rcon_list_t l;
    ck_assert_msg(rcon_parse_list(text, strlen(text), &l) == 0, "not a list: %s", text);
    ck_assert_int_eq(l.online, online);
    ck_assert_int_eq(l.max, max);
    ck_assert_uint_eq(l.count, count);
    for (size_t i = 0; i < count; i++) ck_assert_str_eq(l.names[i], names[i]);
    rcon_list_free(&l);
}

START_TEST(test_list_answers_parsed) {
    const char *two[] = {"Alex", "Steve"};
    expect_list("There are 2 of a max of 20 players online: Alex, Steve", 2, 20, two, 2);
    expect_list("There are 0 of a max of 20 players online: ", 0, 20, NULL, 0);
    /* `list uuids` */
    expect_list("There are 2 of a max of 100 players online: Alex (ec561538-f3fd-461d-aff5-"
                "086b22154bce), Steve (8667ba71-b85a-4004-af54-457a9734eed7)",
                2, 100, two, 2);
    /* Bukkit's older form, the names concatenated after the colon as RCON does */
    expect_list("There are 2/20 players online:Alex, Steve", 2, 20, two, 2);
    /* colour codes (U+00A7 = c2 a7) */
    expect_list("\xc2\xa7" "6There are \xc2\xa7" "c2\xc2\xa7" "6 of a max of 20 players online: "
                "Alex, Steve\n",
                2, 20, two, 2);

    rcon_list_t l;
    const char *bad[] = {
        "Unknown or incomplete command, see below for error",
        "There are x of a max of 20 players online: ",
        "There are 2 of a max of players online: a",
        "There are 2 of 20 players online: a",
        "There are 1234567890 of a max of 20 players online: a",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(rcon_parse_list(bad[i], strlen(bad[i]), &l), MIG_EPROTO);
        ck_assert_ptr_null(l.names);
    }
}
END_TEST

START_TEST(test_save_all_and_saving_answers) {
    const char *saved = "Saving the game (this may take a moment!)Saved the game";
    ck_assert_int_eq(rcon_parse_save_all(saved, strlen(saved)), 0);
    const char *failed =
        "Saving the game (this may take a moment!)Unable to save the game (is there enough "
        "disk space?)";
    ck_assert_int_eq(rcon_parse_save_all(failed, strlen(failed)), MIG_EIO);
    const char *unknown = "Unknown or incomplete command, see below for error";
    ck_assert_int_eq(rcon_parse_save_all(unknown, strlen(unknown)), MIG_EPROTO);

    bool already = true;
    const char *off = "Automatic saving is now disabled";
    ck_assert_int_eq(rcon_parse_saving(off, strlen(off), false, &already), 0);
    ck_assert(!already);
    const char *off2 = "Saving is already turned off";
    ck_assert_int_eq(rcon_parse_saving(off2, strlen(off2), false, &already), 0);
    ck_assert(already);
    const char *on = "Automatic saving is now enabled";
    ck_assert_int_eq(rcon_parse_saving(on, strlen(on), true, &already), 0);
    ck_assert(!already);
    const char *on2 = "Saving is already turned on";
    ck_assert_int_eq(rcon_parse_saving(on2, strlen(on2), true, &already), 0);
    ck_assert(already);
    /* the other state's answers are not this one's */
    ck_assert_int_eq(rcon_parse_saving(on, strlen(on), false, &already), MIG_EPROTO);
    ck_assert_int_eq(rcon_parse_saving(off2, strlen(off2), true, &already), MIG_EPROTO);
    ck_assert_int_eq(rcon_parse_saving(unknown, strlen(unknown), true, &already), MIG_EPROTO);
}
END_TEST

START_TEST(test_random_bytes_never_crash_nor_read_past_the_end) {
    uint64_t x = 0x2545f4914f6cdd1dULL;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % 48);
        uint8_t *p = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* small first bytes make plausible lengths */
            p[i] = (uint8_t)(i == 0 ? x % 40 : (i < 4 ? 0 : x));
        }
        rcon_packet_t pkt;
        int k = rcon_decode(p, n, 64, &pkt);
        ck_assert(k == 0 || k == MIG_EPROTO || (k >= 14 && (size_t)k <= n));
        if (k > 0) ck_assert((const uint8_t *)pkt.body + pkt.body_len <= p + k);
        rcon_list_t l;
        if (rcon_parse_list((const char *)p, n, &l) == 0) rcon_list_free(&l);
        bool already;
        rcon_parse_saving((const char *)p, n, true, &already);
        rcon_parse_save_all((const char *)p, n);
        free(p);
    }
}
END_TEST

Suite *suite_rcon(void) {
    Suite *s = suite_create("rcon");
    TCase *tc = tcase_create("rcon");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_login_and_command_packets_byte_for_byte);
    tcase_add_test(tc, test_request_limits);
    tcase_add_test(tc, test_auth_answers_success_and_failure);
    tcase_add_test(tc, test_response_decode_needs_more_and_refuses_malformed);
    tcase_add_test(tc, test_fragmented_response_reassembled_until_the_probe_answer);
    tcase_add_test(tc, test_list_answers_parsed);
    tcase_add_test(tc, test_save_all_and_saving_answers);
    tcase_add_test(tc, test_random_bytes_never_crash_nor_read_past_the_end);
    suite_add_tcase(s, tc);
    return s;
}
