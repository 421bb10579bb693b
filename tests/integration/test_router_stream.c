/* test_router_stream.c - bin/migrate-router's splice under a stream that outruns the
 * player: a backend thread sends numbered play frames as fast as the router takes them
 * while the player reads nothing, so the router reads the backend into the player's
 * queue (router/net.c, on_backend_readable); then the player is moved to a waiting room
 * and must read every frame intact and in order, and then the Transfer. Every wait polls
 * against a deadline; nothing depends on the machine's speed. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/mcproto.h"
#include "core/timefmt.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"
#include "tests/support/router_proc.h"

#define TIMEOUT_S 120  /* a few tens of MiB through a sanitized router on a loaded machine */
#define WAIT_MS 60000  /* longest wait for the router or the backend, milliseconds */
#define TOKEN "router-secret"
#define PV MCPROTO_PV_1_20_5
#define PLAY_CHUNK_ID 0x27  /* a play packet that changes no state */
/* Bytes the backend has sent before the move. The player's receive buffer is 4 KiB, so
 * the router's socket to it stays small and the router holds most of this in its own
 * queue for the player (up to SPLICE_QUEUE_MAX, 2 MiB), the path under test. */
#define BEHIND_BYTES (1u << 20)
#define BODY_MAX (4 + 1000 + 30000) /* the largest frame body of the stream (frame_len) */

static char top[64];
static pid_t router_pid;
static int game_port, http_port;

/* ------------------------------------------------------------------------ the backend */

typedef struct {
    int listen_fd, port;
    pthread_t thread;
    _Atomic uint64_t sent; /* bytes of play frames written */
} backend_t;

/* Frame `i` of the stream: its number, then its size in copies of its low byte. */
static size_t frame_len(uint32_t i) {
    return 1000 + (size_t)(i * 7919u % 30000u);
}

static void frame_body(uint32_t i, uint8_t *out) {
    out[0] = (uint8_t)(i >> 24), out[1] = (uint8_t)(i >> 16), out[2] = (uint8_t)(i >> 8), out[3] = (uint8_t)i;
    memset(out + 4, (int)(i & 0xff), frame_len(i));
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* One player: Login Success and Finish Configuration after its greeting, then frames
 * until the router hangs up (the player moved). */
static void *backend_run(void *arg) {
    backend_t *b = arg;
    int fd = accept(b->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    uint8_t in[1024];
    mcbuf_t m;
    mcbuf_init(&m);
    if (read(fd, in, sizeof in) <= 0) goto out;
    uint8_t success[64] = {0}; /* UUID 0, name, no properties, strictErrorHandling false */
    size_t sn = 16;
    success[sn++] = 5;
    memcpy(success + sn, "Alice", 5);
    sn += 5;
    sn += 2;
    mcproto_frame_write(&m, mcproto_packet_id(PV, MCPROTO_LOGIN_SUCCESS), success, sn);
    mcproto_frame_write(&m, mcproto_packet_id(PV, MCPROTO_CONFIG_FINISH), NULL, 0);
    if (write_all(fd, m.buf, m.len) != 0) goto out;
    uint8_t *body = malloc(BODY_MAX);
    for (uint32_t i = 0; body; i++) {
        frame_body(i, body);
        mcbuf_reset(&m);
        mcproto_frame_write(&m, PLAY_CHUNK_ID, body, 4 + frame_len(i));
        if (mcbuf_status(&m) != 0 || write_all(fd, m.buf, m.len) != 0) break;
        atomic_fetch_add(&b->sent, m.len);
    }
    free(body);
out:
    mcbuf_free(&m);
    close(fd);
    return NULL;
}

static void backend_start(backend_t *b) {
    memset(b, 0, sizeof *b);
    b->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(b->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(b->listen_fd, 4), 0);
    socklen_t len = sizeof a;
    getsockname(b->listen_fd, (struct sockaddr *)&a, &len);
    b->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&b->thread, NULL, backend_run, b), 0);
}

/* ------------------------------------------------------------------------ the router */

static void router_start(void) {
    router_proc_t r = {0};
    snprintf(r.dir, sizeof r.dir, "%s", top);
    char err[400];
    int rv = router_proc_start(&r, TOKEN, NULL, WAIT_MS, err, sizeof err);
    router_pid = r.pid; /* the teardown stops one that did not start in time */
    ck_assert_msg(rv == 0, "%s", err);
    game_port = r.game_port, http_port = r.http_port;
}

/* A bridge call with the token, an Idempotency-Key and Fencing-Token 1: its status. */
static int bridge(const char *method, const char *path, const char *body, const char *key) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port, path);
    http_req_t q = {.method = method, .url = url, .body = body, .token = TOKEN, .idempotency_key = key,
                    .fencing_token = "1", .timeout_ms = WAIT_MS};
    long st = http_request_json(&q, NULL, NULL);
    ck_assert_msg(st > 0, "no answer to %s %s", method, path);
    return (int)st;
}

static void setup(void) {
    signal(SIGPIPE, SIG_IGN);
    snprintf(top, sizeof top, "/tmp/mig-router-stream-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    router_pid = 0;
}

static void teardown(void) {
    char bad[256] = "";
    proc_stop_clean(&router_pid, "router", bad, sizeof bad);
    harness_rmtree(top);
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

/* ------------------------------------------------------------------------ the case */

START_TEST(test_router_moves_a_player_far_behind_with_every_frame_intact) {
    router_start();
    backend_t b;
    backend_start(&b);
    char body[128];
    snprintf(body, sizeof body, "{\"address\":\"127.0.0.1:%d\"}", b.port);
    ck_assert_int_eq(bridge("PUT", "/v1/servers/s1", body, "s1.addr"), 200);

    /* the player: a 4 KiB receive buffer, its greeting, and nothing read yet */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)game_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    mcbuf_t m;
    mcbuf_init(&m);
    mcproto_handshake_t hs = {.protocol = PV, .host = {.p = "s1.mc.test", .n = 10}, .port = 25565,
                              .intent = MCPROTO_INTENT_LOGIN};
    mcproto_handshake_write(&m, &hs);
    mcproto_login_start_t ls = {.name = {.p = "Alice", .n = 5}};
    mcproto_login_start_write(&m, PV, &ls);
    ck_assert_int_eq(write_all(fd, m.buf, m.len), 0);
    mcbuf_free(&m);

    /* the stream outruns the player: the router queues it */
    for (int waited = 0; atomic_load(&b.sent) < BEHIND_BYTES; waited += 10) {
        ck_assert_msg(waited < WAIT_MS, "the backend sent only %llu bytes through the router",
                      (unsigned long long)atomic_load(&b.sent));
        timefmt_sleep_ms(10);
    }
    ck_assert_int_eq(bridge("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m1\"}", "m1"), 201);
    ck_assert_int_eq(bridge("POST", "/v1/transfers", "{\"migration_id\":\"m1\",\"from\":\"s1\",\"to\":\"wait-m1\"}",
                            "m1.1"),
                     200);

    /* the player reads: Login Success, Finish Configuration, frames 0, 1, 2... intact, then
     * the Transfer at a frame boundary */
    size_t cap = 1u << 20, have = 0, at = 0;
    uint8_t *in = malloc(cap), *want = malloc(BODY_MAX);
    uint32_t next = 0;
    uint64_t passed = 0; /* bytes of the play frames read */
    int seen = 0, len = 0;
    bool transfer = false;
    while (!transfer) {
        memmove(in, in + at, have - at); /* what is left of a frame, to the front */
        have -= at, at = 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, WAIT_MS) == 1, "no Transfer after frame %u", next);
        ssize_t k = recv(fd, in + have, cap - have, 0);
        ck_assert_msg(k > 0, "the router hung up after frame %u, before a Transfer", next);
        have += (size_t)k;
        mcproto_frame_t f;
        while (!transfer && (len = mcproto_frame_decode(in + at, have - at, MCPROTO_FRAME_MAX, &f)) > 0) {
            at += (size_t)len;
            if (seen++ < 2) continue; /* the backend's Login Success and Finish Configuration */
            if (f.id == mcproto_packet_id(PV, MCPROTO_PLAY_TRANSFER)) {
                mcproto_str_t host;
                uint16_t port;
                ck_assert_int_eq(mcproto_transfer_read(f.body, f.body_len, &host, &port), 0);
                transfer = true;
                break;
            }
            ck_assert_int_eq(f.id, PLAY_CHUNK_ID);
            frame_body(next, want);
            ck_assert_msg(f.body_len == 4 + frame_len(next) && memcmp(f.body, want, f.body_len) == 0,
                          "frame %u is not the one the backend sent", next);
            next++;
            passed += (size_t)len;
        }
        ck_assert_int_ge(len, 0);
    }
    /* everything the backend sent before the move came first */
    ck_assert_uint_ge(passed, BEHIND_BYTES);
    free(in);
    free(want);
    close(fd);
    int st;
    ck_assert_int_eq(harness_stop_pid(router_pid, &st), 0);
    router_pid = 0;
    pthread_join(b.thread, NULL); /* the router's end ended the backend's connection */
    close(b.listen_fd);
}
END_TEST

Suite *suite_router_stream(void) {
    Suite *s = suite_create("router_stream");
    TCase *tc = tcase_create("splice");
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_router_moves_a_player_far_behind_with_every_frame_intact);
    suite_add_tcase(s, tc);
    return s;
}
