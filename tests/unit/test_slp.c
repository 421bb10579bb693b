/* test_slp.c - Server List Ping as the node agent uses it (agent/slp.c).
 *
 * Bytes by hand from wiki.vg "Server List Ping" and "Protocol" (Handshake: VarInt
 * protocol, String(255) address, Unsigned Short port, VarInt next state 1; Status Request
 * 0x00 empty; Status Response 0x00 String JSON; Ping Request / Pong Response 0x01 Long);
 * the JSON as the vanilla server and flying-squid write it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/slp.h"
#include "core/err.h"
#include "suites.h"

static void expect_bytes(const uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n) {
    if (got_n == want_n && memcmp(got, want, want_n) == 0) return;
    char g[256] = "", w[256] = "";
    for (size_t i = 0; i < got_n && i < 80; i++) snprintf(g + 3 * i, 4, "%02x ", got[i]);
    for (size_t i = 0; i < want_n && i < 80; i++) snprintf(w + 3 * i, 4, "%02x ", want[i]);
    ck_abort_msg("bytes differ\n got (%zu): %s\nwant (%zu): %s", got_n, g, want_n, w);
}

START_TEST(test_request_is_handshake_next_state_1_then_status_request) {
    mcbuf_t b;
    mcbuf_init(&b);
    /* handshake: length 16 | 00 | 766 = fe 05 | 09 "localhost" | 63 dd | 01;
     * status request: 01 00 */
    const uint8_t want[] = {0x10, 0x00, 0xfe, 0x05, 0x09, 'l',  'o', 'c', 'a', 'l',
                            'h',  'o',  's',  't',  0x63, 0xdd, 0x01, 0x01, 0x00};
    ck_assert_int_eq(slp_write_request(&b, 766, "localhost", 25565), 0);
    expect_bytes(b.buf, b.len, want, sizeof want);
    /* protocol -1 takes all five VarInt bytes: ff ff ff ff 0f; host "a", port 25565 */
    const uint8_t any[] = {0x0b, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01,
                           'a',  0x63, 0xdd, 0x01, 0x01, 0x00};
    mcbuf_reset(&b);
    ck_assert_int_eq(slp_write_request(&b, SLP_PROTOCOL_ANY, "a", 25565), 0);
    expect_bytes(b.buf, b.len, any, sizeof any);
    /* Ping Request: 09 01 and the Long big-endian */
    const uint8_t ping[] = {0x09, 0x01, 0x00, 0x00, 0x01, 0x8f, 0x12, 0x34, 0x56, 0x78};
    mcbuf_reset(&b);
    ck_assert_int_eq(slp_write_ping(&b, 0x0000018f12345678LL), 0);
    expect_bytes(b.buf, b.len, ping, sizeof ping);
    /* a host over String(255) */
    char host[300];
    memset(host, 'h', 299);
    host[299] = 0;
    mcbuf_reset(&b);
    ck_assert_int_eq(slp_write_request(&b, 766, host, 1), MIG_EINVALID);
    mcbuf_free(&b);
}
END_TEST

START_TEST(test_status_json_of_vanilla_and_flying_squid) {
    slp_status_t st;
    const char *vanilla =
        "{\"version\":{\"name\":\"1.20.6\",\"protocol\":766},\"enforcesSecureChat\":true,"
        "\"description\":{\"text\":\"A Minecraft Server\"},\"players\":{\"max\":20,"
        "\"online\":2,\"sample\":[{\"id\":\"8667ba71-b85a-4004-af54-457a9734eed7\","
        "\"name\":\"Steve\"}]}}";
    ck_assert_int_eq(slp_parse_status(vanilla, strlen(vanilla), &st), 0);
    ck_assert_str_eq(st.version_name, "1.20.6");
    ck_assert_int_eq(st.protocol, 766);
    ck_assert(st.has_players);
    ck_assert_int_eq(st.online, 2);
    ck_assert_int_eq(st.max, 20);
    ck_assert_str_eq(st.description, "A Minecraft Server");

    /* a plain-string description with colour codes; an empty sample (flying-squid) */
    const char *squid = "{\"version\":{\"name\":\"1.21.1\",\"protocol\":767},\"players\":"
                        "{\"max\":10,\"online\":0,\"sample\":[]},\"description\":"
                        "\"\xc2\xa7" "aflying\xc2\xa7r-squid\"}";
    ck_assert_int_eq(slp_parse_status(squid, strlen(squid), &st), 0);
    ck_assert_int_eq(st.protocol, 767);
    ck_assert_int_eq(st.online, 0);
    ck_assert_int_eq(st.max, 10);
    ck_assert_str_eq(st.description, "flying-squid");

    /* a component with nested extra parts; players hidden */
    const char *extra = "{\"version\":{\"name\":\"Paper 1.21\",\"protocol\":767},"
                        "\"description\":{\"text\":\"Hello \",\"extra\":[{\"text\":\"big \","
                        "\"bold\":true,\"extra\":[\"wide\"]},\" world\"]}}";
    ck_assert_int_eq(slp_parse_status(extra, strlen(extra), &st), 0);
    ck_assert(!st.has_players);
    ck_assert_str_eq(st.description, "Hello big wide world");
}
END_TEST

START_TEST(test_status_json_refused_when_not_a_status) {
    slp_status_t st;
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{\"players\":{\"max\":1,\"online\":0}}",                       /* no version */
        "{\"version\":{\"name\":\"x\"}}",                              /* no protocol */
        "{\"version\":{\"name\":1,\"protocol\":766}}",                 /* name not a string */
        "{\"version\":{\"name\":\"x\",\"protocol\":766},\"players\":{\"max\":1}}",
        "{\"version\":{\"name\":\"x\",\"protocol\":766},\"players\":{\"max\":1,\"online\":-1}}",
        "{\"version\":{\"name\":\"x\",\"protocol\":766},\"players\":{\"max\":1,\"online\":\"2\"}}",
        "{\"version\":{\"name\":\"x\",\"protocol\":766},\"players\":{\"max\":1.5,\"online\":0}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(slp_parse_status(bad[i], strlen(bad[i]), &st) == MIG_EPROTO, "%s", bad[i]);
}
END_TEST

START_TEST(test_long_names_are_cut_at_a_character_boundary) {
    /* 300 x "é" (c3 a9) as the description: 127 characters fit in 255 bytes */
    char json[1024];
    int n = snprintf(json, sizeof json, "{\"version\":{\"name\":\"v\",\"protocol\":1},"
                                        "\"description\":\"");
    for (int i = 0; i < 300; i++) json[n++] = (char)0xc3, json[n++] = (char)0xa9;
    n += snprintf(json + n, sizeof json - (size_t)n, "\"}");
    slp_status_t st;
    ck_assert_int_eq(slp_parse_status(json, (size_t)n, &st), 0);
    ck_assert_uint_eq(strlen(st.description), 254);
    ck_assert_uint_eq((unsigned char)st.description[253], 0xa9);
}
END_TEST

START_TEST(test_read_status_then_pong_from_a_stream) {
    const char *json = "{\"version\":{\"name\":\"1.20.6\",\"protocol\":766},\"players\":"
                       "{\"max\":20,\"online\":5},\"description\":\"hi\"}";
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_status_response_write(&b, json, strlen(json));
    size_t first = b.len;
    /* Pong Response: 09 01 and the echoed Long */
    const uint8_t pong[] = {0x09, 0x01, 0x00, 0x00, 0x01, 0x8f, 0x12, 0x34, 0x56, 0x78};
    mcbuf_put_bytes(&b, pong, sizeof pong);
    ck_assert_int_eq(mcbuf_status(&b), 0);

    slp_reply_t r;
    for (size_t n = 0; n < first; n++) {
        uint8_t *p = malloc(n ? n : 1); /* exactly n bytes: ASan guards the end */
        memcpy(p, b.buf, n);
        ck_assert_int_eq(slp_read(p, n, &r), 0);
        free(p);
    }
    ck_assert_int_eq(slp_read(b.buf, b.len, &r), (int)first);
    ck_assert_int_eq(r.kind, SLP_REPLY_STATUS);
    ck_assert_int_eq(r.status.online, 5);
    ck_assert_str_eq(r.status.description, "hi");
    ck_assert_int_eq(slp_read(b.buf + first, b.len - first, &r), (int)sizeof pong);
    ck_assert_int_eq(r.kind, SLP_REPLY_PONG);
    ck_assert(r.pong == 0x0000018f12345678LL);

    /* an unexpected packet id, a short pong, and a frame longer than a status can be
     * (98306 = 82 80 06), refused from its prefix */
    const uint8_t other[] = {0x01, 0x02};
    ck_assert_int_eq(slp_read(other, sizeof other, &r), MIG_EPROTO);
    const uint8_t shortpong[] = {0x05, 0x01, 0x00, 0x00, 0x00, 0x01};
    ck_assert_int_eq(slp_read(shortpong, sizeof shortpong, &r), MIG_EPROTO);
    const uint8_t huge[] = {0x82, 0x80, 0x06};
    ck_assert_int_eq(slp_read(huge, sizeof huge, &r), MIG_EPROTO);
    /* a status frame whose JSON is no status */
    mcbuf_reset(&b);
    mcproto_status_response_write(&b, "{}", 2);
    ck_assert_int_eq(slp_read(b.buf, b.len, &r), MIG_EPROTO);
    mcbuf_free(&b);
}
END_TEST

START_TEST(test_random_bytes_never_crash_nor_read_past_the_end) {
    uint64_t x = 0x853c49e6748fea9bULL;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % 40);
        uint8_t *p = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            p[i] = (uint8_t)((x & 0x300) == 0 ? x % 12 : x);
        }
        slp_reply_t r;
        int k = slp_read(p, n, &r);
        ck_assert(k == 0 || k == MIG_EPROTO || (k > 0 && (size_t)k <= n));
        slp_status_t st;
        int rc = slp_parse_status((const char *)p, n, &st);
        ck_assert(rc == 0 || rc == MIG_EPROTO);
        free(p);
    }
}
END_TEST

Suite *suite_slp(void) {
    Suite *s = suite_create("slp");
    TCase *tc = tcase_create("slp");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_request_is_handshake_next_state_1_then_status_request);
    tcase_add_test(tc, test_status_json_of_vanilla_and_flying_squid);
    tcase_add_test(tc, test_status_json_refused_when_not_a_status);
    tcase_add_test(tc, test_long_names_are_cut_at_a_character_boundary);
    tcase_add_test(tc, test_read_status_then_pong_from_a_stream);
    tcase_add_test(tc, test_random_bytes_never_crash_nor_read_past_the_end);
    suite_add_tcase(s, tc);
    return s;
}
