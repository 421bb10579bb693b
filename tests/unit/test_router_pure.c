/* test_router_pure.c - the pure parts of bin/migrate-router: a handshake's host to a
 * server name, the tracking of a spliced stream's frames and state (plain and
 * compressed, fed in any pieces), the greeting read before routing, and the bridge's
 * table: fencing, rooms, parking and the transfer planner with its memory per key. */
#include <check.h>
#include <string.h>

#include "core/err.h"
#include "core/mcproto.h"
#include "router/conntrack.h"
#include "router/greet.h"
#include "router/hostmap.h"
#include "router/table.h"
#include "suites.h"

/* ------------------------------------------------------------------------ hostmap */

START_TEST(test_hostmap_maps_label_under_domain) {
    static hostmap_t m;
    char err[200], name[128];
    ck_assert_int_eq(hostmap_init(&m, "MC.Example.com", "play.example.com=Lobby, ,x.example.com=Other", err, sizeof err), 0);
    char host[256];
    const char raw[] = "Server-1.mc.example.com.\0FML3\0";
    ck_assert_int_gt(hostmap_clean(raw, sizeof raw - 1, host, sizeof host), 0);
    ck_assert_str_eq(host, "server-1.mc.example.com");
    ck_assert_int_eq(hostmap_lookup(&m, host, name, sizeof name), 0);
    ck_assert_str_eq(name, "server-1");
    ck_assert_int_eq(hostmap_lookup(&m, "play.example.com", name, sizeof name), 0);
    ck_assert_str_eq(name, "Lobby");
    ck_assert_int_eq(hostmap_lookup(&m, "a.b.mc.example.com", name, sizeof name), MIG_ENOT_FOUND);
    ck_assert_int_eq(hostmap_lookup(&m, "mc.example.com", name, sizeof name), MIG_ENOT_FOUND);
    ck_assert_int_eq(hostmap_lookup(&m, "xmc.example.com", name, sizeof name), MIG_ENOT_FOUND);
    ck_assert_int_eq(hostmap_lookup(&m, "127.0.0.1", name, sizeof name), MIG_ENOT_FOUND);
    ck_assert_int_eq(hostmap_clean("\0x", 2, host, sizeof host), MIG_EINVALID);
    ck_assert_int_eq(hostmap_init(&m, NULL, "nohost", err, sizeof err), MIG_EINVALID);
    ck_assert_int_eq(hostmap_init(&m, NULL, NULL, err, sizeof err), 0);
    ck_assert_int_eq(hostmap_lookup(&m, "s1", name, sizeof name), 0);
    ck_assert_str_eq(name, "s1");
}
END_TEST

/* ------------------------------------------------------------------------ conntrack */

/* A server's login as bytes: [Set Compression], Login Success, then configuration
 * frames, Finish Configuration, and play frames. */
static void server_stream(mcbuf_t *b, bool compress) {
    mcbuf_t body;
    mcbuf_init(&body);
    if (compress) {
        mcbuf_put_varint(&body, 256);
        mcproto_frame_write(b, 0x03, body.buf, body.len);
    }
    /* one frame with Data Length 0 when compressed */
#define FRAME(id, p, n)                                                                                               \
    do {                                                                                                              \
        mcbuf_t f_;                                                                                                   \
        mcbuf_init(&f_);                                                                                              \
        if (compress) mcbuf_put_varint(&f_, 0);                                                                       \
        mcbuf_put_varint(&f_, id);                                                                                    \
        mcbuf_put_bytes(&f_, p, n);                                                                                   \
        mcbuf_put_varint(b, (int32_t)f_.len);                                                                         \
        mcbuf_put_bytes(b, f_.buf, f_.len);                                                                           \
        mcbuf_free(&f_);                                                                                              \
    } while (0)
    uint8_t success[16 + 1 + 5 + 2] = {0};
    success[16] = 5;
    memcpy(success + 17, "Alice", 5);
    FRAME(0x02, success, sizeof success);
    uint8_t big[300];
    memset(big, 0x55, sizeof big);
    FRAME(0x07, big, sizeof big); /* registry data */
    FRAME(0x03, NULL, 0);         /* Finish Configuration */
    FRAME(0x26, big, 8);          /* a Keep Alive in play */
    FRAME(0x27, big, sizeof big); /* chunk data */
    if (compress) {
        /* a compressed frame: Data Length 400, then zlib bytes: taken as a whole */
        mcbuf_t f;
        mcbuf_init(&f);
        mcbuf_put_varint(&f, 400);
        mcbuf_put_bytes(&f, big, 40);
        mcbuf_put_varint(b, (int32_t)f.len);
        mcbuf_put_bytes(b, f.buf, f.len);
        mcbuf_free(&f);
    }
#undef FRAME
    mcbuf_free(&body);
}

static void run_tracker(bool compress, size_t piece) {
    mcbuf_t s;
    mcbuf_init(&s);
    server_stream(&s, compress);
    conntrack_t t;
    conntrack_init(&t, MCPROTO_PV_1_20_5);
    size_t off = 0;
    int boundaries_in_play = 0;
    while (off < s.len) {
        size_t n = s.len - off < piece ? s.len - off : piece;
        size_t k = conntrack_feed(&t, s.buf + off, n, true);
        if (k == 0) {
            /* an injectable boundary: count it, then step into the next frame */
            ck_assert(conntrack_can_inject(&t));
            if (t.state == CONNTRACK_PLAY) boundaries_in_play++;
            k = conntrack_feed(&t, s.buf + off, 1, false);
        }
        off += k;
    }
    ck_assert_int_eq(t.state, CONNTRACK_PLAY);
    ck_assert_int_eq(t.compressed, compress);
    ck_assert(conntrack_can_inject(&t));
    ck_assert_int_ge(boundaries_in_play, 1);
    mcbuf_t out;
    mcbuf_init(&out);
    ck_assert_int_eq(conntrack_write_transfer(&t, &out, "127.0.0.1", 25565), 0);
    /* the Transfer as the client decodes it */
    mcproto_frame_t f;
    int k = mcproto_frame_decode(out.buf, out.len, 4096, &f);
    ck_assert_int_eq(k, (int)out.len);
    const uint8_t *body = f.body;
    size_t blen = f.body_len;
    int32_t id = f.id;
    if (compress) {
        ck_assert_int_eq(f.id, 0); /* Data Length 0 */
        int d = mcproto_varint_decode(f.body, f.body_len, &id);
        body += d, blen -= (size_t)d;
    }
    ck_assert_int_eq(id, 0x73);
    mcproto_str_t host;
    uint16_t port;
    ck_assert_int_eq(mcproto_transfer_read(body, blen, &host, &port), 0);
    ck_assert_int_eq(port, 25565);
    mcbuf_free(&out);
    mcbuf_free(&s);
}

START_TEST(test_conntrack_follows_states_in_any_pieces) {
    size_t pieces[] = {1, 2, 3, 7, 64, 100000};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        run_tracker(false, pieces[i]);
        run_tracker(true, pieces[i]);
    }
}
END_TEST

START_TEST(test_conntrack_stops_at_boundary_and_goes_opaque) {
    conntrack_t t;
    conntrack_init(&t, MCPROTO_PV_1_20_5);
    /* Login Success then a 10-byte config frame: with stop, reading stops after each */
    uint8_t s[] = {0x02, 0x02, 0x00, 0x0a, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    ck_assert_int_eq(conntrack_feed(&t, s, sizeof s, true), 3);
    ck_assert_int_eq(t.state, CONNTRACK_CONFIG);
    ck_assert_int_eq(conntrack_feed(&t, s + 3, sizeof s - 3, true), 0); /* at a boundary already */
    ck_assert_int_eq(conntrack_feed(&t, s + 3, 4, false), 4);
    ck_assert(!conntrack_can_inject(&t)); /* inside a frame */
    ck_assert_int_eq(conntrack_feed(&t, s + 7, sizeof s - 7, true), sizeof s - 7);
    ck_assert(conntrack_can_inject(&t));
    /* an Encryption Request: opaque for good, nothing can be injected */
    conntrack_init(&t, MCPROTO_PV_1_21);
    uint8_t enc[] = {0x03, 0x01, 0xaa, 0xbb};
    ck_assert_int_eq(conntrack_feed(&t, enc, sizeof enc, true), sizeof enc);
    ck_assert_int_eq(t.state, CONNTRACK_OPAQUE);
    mcbuf_t out;
    mcbuf_init(&out);
    ck_assert_int_eq(conntrack_write_transfer(&t, &out, "h", 1), MIG_EINVALID);
    mcbuf_free(&out);
    /* a client before 1.20.5 has no Transfer: opaque from the start */
    conntrack_init(&t, 765);
    ck_assert_int_eq(t.state, CONNTRACK_OPAQUE);
    /* bytes that are no frame (a length over 3 bytes) */
    conntrack_init(&t, MCPROTO_PV_1_20_5);
    uint8_t bad[] = {0xff, 0xff, 0xff, 0x7f};
    conntrack_feed(&t, bad, sizeof bad, false);
    ck_assert_int_eq(t.state, CONNTRACK_OPAQUE);
}
END_TEST

/* ------------------------------------------------------------------------ greet */

START_TEST(test_greet_reads_handshake_and_login_start) {
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_handshake_t hs = {.protocol = 766, .host = {"s1.mc.test", 10}, .port = 25565, .intent = 3};
    mcproto_handshake_write(&b, &hs);
    size_t hl = b.len;
    mcproto_login_start_t ls = {.name = {"Alice", 5}, .uuid = {9}};
    mcproto_login_start_write(&b, 766, &ls);
    greet_t g;
    for (size_t n = 0; n < b.len; n++) ck_assert_int_eq(greet_parse(b.buf, n, &g), 0);
    ck_assert_int_eq(greet_parse(b.buf, b.len, &g), (int)b.len);
    ck_assert_int_eq(g.intent, 3);
    ck_assert_str_eq(g.host, "s1.mc.test");
    ck_assert_str_eq(g.name, "Alice");
    ck_assert_int_eq(g.handshake_len, hl);
    ck_assert_int_eq(g.uuid[0], 9);
    /* a status handshake is complete alone */
    mcbuf_reset(&b);
    hs.intent = 1;
    mcproto_handshake_write(&b, &hs);
    ck_assert_int_eq(greet_parse(b.buf, b.len, &g), (int)b.len);
    /* refused: a legacy ping, a huge frame, another packet id */
    uint8_t legacy[] = {0xfe, 0x01}, huge[] = {0xff, 0x7f}, other[] = {0x02, 0x05, 0x00};
    ck_assert_int_eq(greet_parse(legacy, sizeof legacy, &g), MIG_EPROTO);
    ck_assert_int_eq(greet_parse(huge, sizeof huge, &g), MIG_EPROTO);
    ck_assert_int_eq(greet_parse(other, sizeof other, &g), MIG_EPROTO);
    mcbuf_free(&b);
}
END_TEST

START_TEST(test_greet_offline_uuid_is_vanillas) {
    uint8_t u[16];
    ck_assert_int_eq(greet_offline_uuid("Notch", u), 0);
    /* OfflinePlayer:Notch -> b50ad385-829d-3141-a216-7e7d7539ba7f */
    const uint8_t want[16] = {0xb5, 0x0a, 0xd3, 0x85, 0x82, 0x9d, 0x31, 0x41,
                              0xa2, 0x16, 0x7e, 0x7d, 0x75, 0x39, 0xba, 0x7f};
    ck_assert_mem_eq(u, want, 16);
}
END_TEST

/* ------------------------------------------------------------------------ table */

START_TEST(test_table_fencing_keeps_highest) {
    static table_t t;
    ck_assert_int_eq(table_init(&t), 0);
    bool raised;
    uint64_t high;
    ck_assert_int_eq(table_fence(&t, "m1", 5, &raised, &high), 0);
    ck_assert(raised);
    ck_assert_int_eq(table_fence(&t, "m1", 5, &raised, &high), 0);
    ck_assert(!raised);
    ck_assert_int_eq(table_fence(&t, "m1", 4, &raised, &high), MIG_ESTALE);
    ck_assert_int_eq(high, 5);
    ck_assert_int_eq(table_fence(&t, "m0", 1, &raised, &high), 0);
    ck_assert_int_eq(table_fence(&t, "m1", UINT64_MAX, &raised, &high), 0);
    ck_assert_int_eq(table_fence(&t, "m1", 5, &raised, &high), MIG_ESTALE);
    ck_assert_str_eq(t.fence[0].migration_id, "m0"); /* kept sorted */
    table_free(&t);
}
END_TEST

START_TEST(test_table_plans_transfers_and_parks) {
    static table_t t;
    ck_assert_int_eq(table_init(&t), 0);
    table_server_t *s;
    bool created;
    ck_assert_int_eq(table_put_server(&t, "Server-1", "10.0.0.1:25565", &s), 0);
    ck_assert_int_eq(table_put_server(&t, "bad", "nohost", &s), MIG_EINVALID);
    ck_assert_int_eq(table_create_room(&t, "wait-m1", &created), 0);
    ck_assert(created);
    ck_assert_int_eq(table_create_room(&t, "server-1", &created), MIG_EEXISTS);
    ck_assert_int_eq(table_put_server(&t, "WAIT-M1", "10.0.0.1:1", &s), MIG_EEXISTS);
    table_player_t ps[] = {
        {.name = "Alice", .where = "Server-1", .backend = "10.0.0.1:25565", .injectable = true},
        {.name = "Bob", .where = "Server-1", .backend = "10.0.0.1:25565", .injectable = false},
        {.name = "Carol", .where = "Other", .backend = "10.0.0.9:1", .injectable = true},
        {.name = "Dan", .where = "Server-1", .backend = "10.0.0.1:25565", .injectable = true, .leaving = true},
    };
    table_action_t act[4];
    const table_memo_t *m;
    ck_assert_int_eq(table_plan_transfer(&t, "m1.7", "server-1", "wait-m1", ps, 4, act, &m), 0);
    ck_assert_int_eq(act[0], TABLE_MOVE);
    ck_assert_int_eq(act[1], TABLE_DROP);
    ck_assert_int_eq(act[2], TABLE_STAY);
    ck_assert_int_eq(act[3], TABLE_STAY);
    ck_assert_str_eq(m->moved, "Alice");
    ck_assert_str_eq(table_server(&t, "server-1")->parked_in, "wait-m1");
    /* the retry answers the same, even when Alice has left meanwhile */
    ps[0].leaving = true;
    ck_assert_int_eq(table_plan_transfer(&t, "m1.7", "Server-1", "wait-m1", ps, 4, act, &m), 0);
    ck_assert_str_eq(m->moved, "Alice");
    ck_assert_int_eq(act[0], TABLE_STAY);
    /* no key: only this call's */
    ck_assert_int_eq(table_plan_transfer(&t, "", "Server-1", "wait-m1", ps, 4, act, &m), 0);
    ck_assert_str_eq(m->moved, "");
    /* back: the room's players; the server unparked */
    table_player_t in_room[] = {{.name = "Alice", .where = "wait-m1", .backend = "", .injectable = true}};
    ck_assert_int_eq(table_plan_transfer(&t, "m1.7", "wait-m1", "Server-1", in_room, 1, act, &m), 0);
    ck_assert_int_eq(act[0], TABLE_MOVE);
    ck_assert_str_eq(table_server(&t, "Server-1")->parked_in, "");
    /* from = to: only those on another address */
    ck_assert_int_eq(table_put_server(&t, "Server-1", "10.0.0.2:25565", &s), 0);
    table_player_t on[] = {{.name = "A", .where = "Server-1", .backend = "10.0.0.1:25565", .injectable = true},
                           {.name = "B", .where = "Server-1", .backend = "10.0.0.2:25565", .injectable = true}};
    ck_assert_int_eq(table_plan_transfer(&t, "k", "Server-1", "Server-1", on, 2, act, &m), 0);
    ck_assert_int_eq(act[0], TABLE_MOVE);
    ck_assert_int_eq(act[1], TABLE_STAY);
    /* refusals */
    ck_assert_int_eq(table_plan_transfer(&t, "k", "nope", "Server-1", on, 2, act, &m), MIG_ENOT_FOUND);
    ck_assert_str_eq(t.err_code, "not_found");
    ck_assert_int_eq(table_plan_transfer(&t, "k", "wait-m1", "wait-m1", on, 2, act, &m), MIG_EINVALID);
    ck_assert_int_eq(table_plan_transfer(&t, "k", NULL, "wait-m1", on, 2, act, &m), MIG_EINVALID);
    /* a room deleted: parking and pending transfers to it go */
    ck_assert_int_eq(table_plan_transfer(&t, "k2", "Server-1", "wait-m1", on, 2, act, &m), 0);
    ck_assert_int_eq(table_pending_add(&t, "A", "1.2.3.4", "wait-m1", 0, 1000), 0);
    ck_assert_int_eq(table_delete_room(&t, "wait-m1"), 0);
    ck_assert_str_eq(table_server(&t, "Server-1")->parked_in, "");
    char to[128];
    ck_assert_int_eq(table_pending_take(&t, "A", "1.2.3.4", 1, to, sizeof to), 0);
    ck_assert_int_eq(table_delete_room(&t, "wait-m1"), MIG_ENOT_FOUND);
    table_free(&t);
}
END_TEST

START_TEST(test_table_pending_expires_and_matches_ip) {
    static table_t t;
    ck_assert_int_eq(table_init(&t), 0);
    char to[128];
    ck_assert_int_eq(table_pending_add(&t, "Alice", "10.1.1.1", "wait-m1", 1000, 500), 0);
    ck_assert_int_eq(table_pending_add(&t, "Alice", "10.1.1.1", "s1", 1000, 500), 0); /* replaces */
    ck_assert_int_eq(table_pending_take(&t, "Alice", "10.9.9.9", 1100, to, sizeof to), 0);
    ck_assert_int_eq(table_pending_take(&t, "Alice", "10.1.1.1", 1100, to, sizeof to), 1);
    ck_assert_str_eq(to, "s1");
    ck_assert_int_eq(table_pending_take(&t, "Alice", "10.1.1.1", 1100, to, sizeof to), 0); /* taken once */
    ck_assert_int_eq(table_pending_add(&t, "Bob", "10.1.1.1", "s1", 1000, 500), 0);
    ck_assert_int_eq(table_pending_take(&t, "Bob", "10.1.1.1", 1500, to, sizeof to), 0); /* expired */
    table_free(&t);
}
END_TEST

Suite *suite_router_pure(void) {
    Suite *s = suite_create("router_pure");
    TCase *tc = tcase_create("router_pure");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_hostmap_maps_label_under_domain);
    tcase_add_test(tc, test_conntrack_follows_states_in_any_pieces);
    tcase_add_test(tc, test_conntrack_stops_at_boundary_and_goes_opaque);
    tcase_add_test(tc, test_greet_reads_handshake_and_login_start);
    tcase_add_test(tc, test_greet_offline_uuid_is_vanillas);
    tcase_add_test(tc, test_table_fencing_keeps_highest);
    tcase_add_test(tc, test_table_plans_transfers_and_parks);
    tcase_add_test(tc, test_table_pending_expires_and_matches_ip);
    suite_add_tcase(s, tc);
    return s;
}
