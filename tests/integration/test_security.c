/* test_security.c - bin/migrate-api under hostile input (issue 12): each test performs an
 * attack on loopback and asserts a clear refusal and that nothing changed. Requests are
 * written byte for byte on raw sockets, since the attacks are in what a normal client
 * never sends: a body that never ends, a foreign Origin or Host, a token in the URL. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "core/timefmt.h"
#include "core/utf8.h"
#include "fixture.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/ws_client.h"

#define TOKENS "viewer:viewer-token-1,optimizer:optimizer-token-1,operator:operator-token-1"
#define VIEWER "viewer-token-1"
#define OPERATOR "operator-token-1"

/* A deadline for what the server should do at once: far beyond any answer's time on a
 * loaded machine, and far from every timeout of the server (HTTP_REQUEST_TIMEOUT_MS,
 * HTTPBODY_DEADLINE_MS) being what makes a test pass: where one is, the test keeps the
 * attack going for the whole wait, so the old behaviour could never pass by waiting. */
#define AT_ONCE_MS 30000

static api_proc_t api;

static void api_up(void) {
    fx_redis_up();
    if (api_proc_start(&api, fx_redis.url, TOKENS, fx_redis.dir, 0) != 0) {
        fprintf(stderr, "test_security: cannot start migrate-api\n");
        exit(1);
    }
}

static void api_down(void) {
    api_proc_stop(&api);
    fx_redis_down();
}

/* ------------------------------------------------------------------------ raw HTTP */

/* A connected TCP socket to 127.0.0.1:`port`; fails the test otherwise. */
static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

/* One answer read from a raw socket. */
typedef struct {
    char buf[16384]; /* what arrived, NUL-terminated */
    size_t n;
    int ended;       /* the server ended the connection (EOF, or a reset after the answer) */
} raw_t;

/* Reads what is there on `fd` into `r` without waiting; returns 1 when the connection
 * ended. */
static int raw_drain(int fd, raw_t *r) {
    for (;;) {
        char tmp[4096];
        ssize_t got = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (got > 0) {
            size_t k = (size_t)got < sizeof r->buf - 1 - r->n ? (size_t)got : sizeof r->buf - 1 - r->n;
            memcpy(r->buf + r->n, tmp, k);
            r->n += k;
            r->buf[r->n] = '\0';
            continue;
        }
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) r->ended = 1;
        return r->ended;
    }
}

/* True when `r` holds a whole answer: its headers and Content-Length bytes of body. */
static int raw_complete(const raw_t *r) {
    const char *end = strstr(r->buf, "\r\n\r\n");
    if (end == NULL) return 0;
    const char *cl = strcasestr(r->buf, "\r\nContent-Length:");
    size_t want = cl && cl < end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    return r->n >= (size_t)(end + 4 - r->buf) + want;
}

/* Waits up to `ms` for a whole answer (and, with `until_end`, the end of the
 * connection). */
static void raw_wait(int fd, raw_t *r, int ms, int until_end) {
    int64_t deadline = timefmt_mono_ms() + ms;
    while (!(raw_complete(r) && (!until_end || r->ended)) && !r->ended) {
        int64_t left = deadline - timefmt_mono_ms();
        if (left <= 0) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, left > 200 ? 200 : (int)left);
        raw_drain(fd, r);
    }
}

/* The status of the answer in `r`, 0 when none arrived. */
static int raw_status(const raw_t *r) {
    return strncmp(r->buf, "HTTP/1.1 ", 9) == 0 ? atoi(r->buf + 9) : 0;
}

/* The value of header `name` in the answer, copied into `out` ("" when absent). */
static const char *raw_header(const raw_t *r, const char *name, char *out, size_t cap) {
    char want[96];
    snprintf(want, sizeof want, "\r\n%s:", name);
    const char *end = strstr(r->buf, "\r\n\r\n");
    const char *h = strcasestr(r->buf, want);
    out[0] = '\0';
    if (h == NULL || (end && h > end)) return out;
    h += strlen(want);
    while (*h == ' ') h++;
    size_t n = strcspn(h, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), h);
    return out;
}

/* The body of the answer in `r`. */
static const char *raw_body(const raw_t *r) {
    const char *end = strstr(r->buf, "\r\n\r\n");
    return end ? end + 4 : "";
}

/* Sends `req` as it is on a new connection and reads the answer; returns its status.
 * The connection is closed. */
static int raw_call(int port, const char *req, raw_t *r) {
    memset(r, 0, sizeof *r);
    int fd = dial(port);
    send_all(fd, req, strlen(req));
    raw_wait(fd, r, AT_ONCE_MS, 0);
    close(fd);
    return raw_status(r);
}

/* ------------------------------------------------------------------------ 6: slow bodies */

#define SLOW_CLIENTS 70 /* more than the API's 64 worker threads (MIG_API_THREADS) */

/* Seventy clients without a token each declare a body of 1,000 bytes and send it a byte
 * at a time: each is answered 401 and its connection ended at once, instead of a worker
 * thread reading the rest of a body nobody wants; meanwhile /healthz answers. The clients
 * keep sending for as long as the test waits, so a server that read their bodies would
 * hold every thread for the whole wait. */
START_TEST(test_slow_bodies_without_token_are_refused_closed_and_healthz_answers) {
    char *before = fx_snapshot();
    int fds[SLOW_CLIENTS];
    raw_t *rs = calloc(SLOW_CLIENTS, sizeof *rs);
    ck_assert_ptr_nonnull(rs);
    char head[512];
    snprintf(head, sizeof head,
             "POST /api/migrations HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: 1000\r\n\r\n{",
             api.port);
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        fds[i] = dial(api.port);
        send_all(fds[i], head, strlen(head));
    }
    int hz = dial(api.port);
    char hreq[128];
    snprintf(hreq, sizeof hreq, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", api.port);
    send_all(hz, hreq, strlen(hreq));
    raw_t health = {0};
    int64_t deadline = timefmt_mono_ms() + AT_ONCE_MS, next_byte = 0;
    int done = 0;
    while (!done && timefmt_mono_ms() < deadline) {
        if (timefmt_mono_ms() >= next_byte) { /* one more byte of each body still open */
            for (int i = 0; i < SLOW_CLIENTS; i++)
                if (rs[i].n == 0 && !rs[i].ended) send(fds[i], "\"", 1, MSG_NOSIGNAL);
            next_byte = timefmt_mono_ms() + 500;
        }
        struct pollfd p = {.fd = hz, .events = POLLIN};
        poll(&p, 1, 100);
        raw_drain(hz, &health);
        done = raw_complete(&health);
        for (int i = 0; i < SLOW_CLIENTS; i++) {
            raw_drain(fds[i], &rs[i]);
            done &= rs[i].ended;
        }
    }
    ck_assert_msg(raw_status(&health) == 200, "/healthz did not answer while slow bodies came: \"%s\"", health.buf);
    for (int i = 0; i < SLOW_CLIENTS; i++) {
        ck_assert_msg(raw_status(&rs[i]) == 401, "slow client %d: \"%s\"", i, rs[i].buf);
        ck_assert_msg(rs[i].ended, "slow client %d: the connection stayed open after the 401", i);
        char v[64];
        ck_assert_str_eq(raw_header(&rs[i], "Connection", v, sizeof v), "close");
        ck_assert_msg(strstr(raw_body(&rs[i]), "\"unauthorized\"") != NULL, "%s", rs[i].buf);
        close(fds[i]);
    }
    close(hz);
    free(rs);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

/* The other refusals of a request with a body it never finishes: 413 for a body declared
 * too large, 404 for an unknown endpoint, 403 for a role too weak. Each gets its whole
 * JSON answer with "Connection: close", then the end of the connection, while the client
 * still owes most of its body. */
START_TEST(test_refused_requests_with_unfinished_bodies_get_their_answer_then_the_close) {
    char *before = fx_snapshot();
    struct {
        const char *path, *token;
        long length;
        int status;
        const char *code;
    } cases[] = {
        {"/api/migrations", OPERATOR, 10 * 1024 * 1024, 413, "payload_too_large"},
        {"/api/no-such-thing", OPERATOR, 1000, 404, "not_found"},
        {"/api/migrations", VIEWER, 1000, 403, "forbidden"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        snprintf(req, sizeof req,
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                 "Content-Type: application/json\r\nContent-Length: %ld\r\n\r\n{\"server_id\":",
                 cases[i].path, api.port, cases[i].token, cases[i].length);
        raw_t r = {0};
        int fd = dial(api.port);
        send_all(fd, req, strlen(req));
        raw_wait(fd, &r, AT_ONCE_MS, 1);
        ck_assert_msg(raw_status(&r) == cases[i].status, "%s: \"%s\"", cases[i].path, r.buf);
        ck_assert_msg(raw_complete(&r), "%s: the answer was cut: \"%s\"", cases[i].path, r.buf);
        ck_assert_msg(r.ended, "%s: the connection stayed open", cases[i].path);
        char v[64], code[64];
        ck_assert_str_eq(raw_header(&r, "Connection", v, sizeof v), "close");
        snprintf(code, sizeof code, "\"code\":\"%s\"", cases[i].code);
        ck_assert_msg(strstr(raw_body(&r), code) != NULL, "%s", r.buf);
        close(fd);
    }
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

/* A caller with a valid token whose body comes a byte every half second: the API stops
 * waiting once HTTPBODY_DEADLINE_MS has passed (408, connection closed) instead of
 * holding the thread while bytes keep coming. */
START_TEST(test_authorized_body_that_never_finishes_gets_408_and_the_close) {
    char *before = fx_snapshot();
    char req[512];
    snprintf(req, sizeof req,
             "POST /api/migrations HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
             api.port, OPERATOR);
    int fd = dial(api.port);
    send_all(fd, req, strlen(req));
    raw_t r = {0};
    int64_t deadline = timefmt_mono_ms() + AT_ONCE_MS + 20000; /* the deadline, plus one read's timeout */
    while (!r.ended && timefmt_mono_ms() < deadline) {
        if (r.n == 0) send(fd, " ", 1, MSG_NOSIGNAL);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 500);
        raw_drain(fd, &r);
    }
    ck_assert_msg(raw_status(&r) == 408, "\"%s\"", r.buf);
    ck_assert_msg(r.ended, "the connection stayed open after the 408");
    ck_assert_msg(strstr(raw_body(&r), "\"request_timeout\"") != NULL, "%s", r.buf);
    close(fd);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

/* ------------------------------------------------------------------------ 11: tokens in URLs */

/* ?token= on a REST route is refused with 400 saying where the token goes, even a valid
 * operator token on a create (nothing is created); only the WebSocket upgrade takes it. */
START_TEST(test_token_in_url_is_refused_on_rest_routes_and_taken_by_the_websocket) {
    fx_fleet(1);
    char *before = fx_snapshot();
    const char *routes[][2] = {
        {"GET", "/api/migrations?token=" VIEWER},
        {"GET", "/api/whoami?limit=1&token=" VIEWER},
        {"GET", "/metrics?token=" VIEWER},
        {"POST", "/api/migrations?token=" OPERATOR},
        {"GET", "/api/nodes?token=not-a-token-at-all"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char req[512];
        const char *body = "{\"server_id\":\"s1\",\"to_node_id\":\"n2\"}";
        int post = strcmp(routes[i][0], "POST") == 0;
        snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%zu\r\n\r\n%s", routes[i][0],
                 routes[i][1], api.port, post ? "Content-Type: application/json\r\nContent-Length: " : "X-Length: ",
                 post ? strlen(body) : (size_t)0, post ? body : "");
        raw_t r;
        ck_assert_msg(raw_call(api.port, req, &r) == 400, "%s %s: \"%s\"", routes[i][0], routes[i][1], r.buf);
        ck_assert_msg(strstr(raw_body(&r), "\"bad_request\"") != NULL && strstr(raw_body(&r), "Authorization: Bearer"),
                      "%s", r.buf);
    }
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* the same token in the upgrade's URL opens the WebSocket */
    char req[512];
    snprintf(req, sizeof req,
             "GET /api/ws?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             VIEWER, api.port);
    raw_t r;
    ck_assert_msg(raw_call(api.port, req, &r) == 101, "\"%s\"", r.buf);
}
END_TEST

/* ------------------------------------------------------------------------ 10: Origin and Host */

/* A request of `method` to `path` with the given Host, Origin (NULL: none), token (NULL:
 * none), Content-Type and body (NULL: none); answers the status, the answer in `r`. */
static int browser_call(int port, const char *method, const char *path, const char *host, const char *origin,
                        const char *token, const char *type, const char *body, raw_t *r) {
    char req[2048], extra[512] = "";
    size_t k = 0;
    if (origin) k += (size_t)snprintf(extra + k, sizeof extra - k, "Origin: %s\r\n", origin);
    if (token) k += (size_t)snprintf(extra + k, sizeof extra - k, "Authorization: Bearer %s\r\n", token);
    if (body) snprintf(extra + k, sizeof extra - k, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, strlen(body));
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n%s", method, path, host, extra, body ? body : "");
    return raw_call(port, req, r);
}

/* The WebSocket upgrade with the given Host and Origin; answers the status. */
static int upgrade(int port, const char *host, const char *origin, const char *token) {
    char req[1024];
    snprintf(req, sizeof req,
             "GET /api/ws HTTP/1.1\r\nHost: %s\r\n%s%s%s%s%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             host, origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "",
             token ? "Authorization: Bearer " : "X-None: ", token ? token : "");
    raw_t r;
    return raw_call(port, req, &r);
}

static void expect_code(const raw_t *r, const char *code) {
    char want[96];
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    ck_assert_msg(strstr(raw_body(r), want) != NULL, "want %s: %s", code, r->buf);
}

/* An API without tokens on loopback, as the issue probed it: a page of another site
 * (Origin: http://evil.example) or one reached through DNS rebinding (Host:
 * rebind.evil.example) can neither create, nor cancel with a text/plain body, nor read,
 * nor open the WebSocket; the API's own pages can. */
START_TEST(test_foreign_origin_rebound_host_and_plain_text_bodies_are_refused_without_tokens) {
    fx_fleet(2);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    api_proc_t open;
    ck_assert_int_eq(api_proc_start(&open, fx_redis.url, NULL, fx_redis.dir, 0), 0);
    char own_host[64], own_origin[96], cancel[160];
    snprintf(own_host, sizeof own_host, "127.0.0.1:%d", open.port);
    snprintf(own_origin, sizeof own_origin, "http://127.0.0.1:%d", open.port);
    snprintf(cancel, sizeof cancel, "/api/migrations/%s/cancel", m.id);
    char rebound[96];
    snprintf(rebound, sizeof rebound, "rebind.evil.example:%d", open.port);
    const char *create = "{\"server_id\":\"s2\",\"to_node_id\":\"n2\"}";
    char *before = fx_snapshot();
    raw_t r;
    ck_assert_int_eq(browser_call(open.port, "POST", "/api/migrations", rebound, NULL, NULL, "application/json", create, &r), 403);
    expect_code(&r, "forbidden_host");
    ck_assert_msg(strstr(raw_body(&r), "rebind.evil.example") != NULL, "%s", r.buf);
    ck_assert_int_eq(browser_call(open.port, "GET", "/api/migrations", rebound, NULL, NULL, NULL, NULL, &r), 403);
    expect_code(&r, "forbidden_host");
    ck_assert_int_eq(browser_call(open.port, "POST", cancel, own_host, "http://evil.example", NULL, "text/plain", "x", &r), 403);
    expect_code(&r, "forbidden_origin");
    ck_assert_int_eq(browser_call(open.port, "POST", "/api/migrations", own_host, "http://evil.example", NULL, "application/json", create, &r), 403);
    expect_code(&r, "forbidden_origin");
    ck_assert_int_eq(browser_call(open.port, "POST", cancel, own_host, "null", NULL, NULL, NULL, &r), 403);
    expect_code(&r, "forbidden_origin");
    /* the API's own page, but a body that is not JSON: a form could send that */
    ck_assert_int_eq(browser_call(open.port, "POST", cancel, own_host, own_origin, NULL, "text/plain", "x", &r), 415);
    expect_code(&r, "unsupported_media_type");
    ck_assert_int_eq(browser_call(open.port, "DELETE", "/api/servers/s2", own_host, NULL, NULL, "application/x-www-form-urlencoded", "a=b", &r), 415);
    ck_assert_int_eq(upgrade(open.port, own_host, "http://evil.example", NULL), 403);
    ck_assert_int_eq(upgrade(open.port, rebound, NULL, NULL), 403);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* the API's own pages and clients that are no browser go on working */
    ck_assert_int_eq(upgrade(open.port, own_host, own_origin, NULL), 101);
    char localhost[64];
    snprintf(localhost, sizeof localhost, "localhost:%d", open.port);
    ck_assert_int_eq(browser_call(open.port, "GET", "/api/migrations", localhost, NULL, NULL, NULL, NULL, &r), 200);
    ck_assert_int_eq(browser_call(open.port, "POST", cancel, own_host, own_origin, NULL, NULL, NULL, &r), 200);
    ck_assert_msg(strstr(raw_body(&r), "\"status\":\"cancelled\"") != NULL, "%s", r.buf);
    migration_clear(&m);
    ck_assert_int_eq(api_proc_stop(&open), 0);
}
END_TEST

/* MIG_API_HOSTS and MIG_API_ORIGINS: with tokens, a name given is the only Host taken,
 * and a page of an allowed origin may act while any other origin may not. */
START_TEST(test_configured_hosts_and_origins_are_the_only_ones_taken) {
    fx_fleet(1);
    migration_t m;
    migration_init(&m);
    fx_drive("s1", MIG_SCHEDULED, &m);
    setenv("MIG_API_HOSTS", "api.example.com, other.example.com", 1);
    setenv("MIG_API_ORIGINS", "https://dash.example.com", 1);
    api_proc_t a;
    ck_assert_int_eq(api_proc_start(&a, fx_redis.url, TOKENS, fx_redis.dir, 0), 0);
    char cancel[160];
    snprintf(cancel, sizeof cancel, "/api/migrations/%s/cancel", m.id);
    char *before = fx_snapshot();
    raw_t r;
    ck_assert_int_eq(browser_call(a.port, "GET", "/api/nodes", "elsewhere.example.com", NULL, VIEWER, NULL, NULL, &r), 403);
    expect_code(&r, "forbidden_host");
    ck_assert_int_eq(browser_call(a.port, "POST", cancel, "api.example.com", "https://evil.example", OPERATOR, NULL, NULL, &r), 403);
    expect_code(&r, "forbidden_origin");
    ck_assert_int_eq(upgrade(a.port, "api.example.com", "https://evil.example", VIEWER), 403);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    ck_assert_int_eq(upgrade(a.port, "api.example.com", "https://dash.example.com", VIEWER), 101);
    ck_assert_int_eq(browser_call(a.port, "GET", "/api/nodes", "OTHER.example.com:443", NULL, VIEWER, NULL, NULL, &r), 200);
    ck_assert_int_eq(browser_call(a.port, "POST", cancel, "api.example.com", "https://dash.example.com", OPERATOR, NULL, NULL, &r), 200);
    migration_clear(&m);
    ck_assert_int_eq(api_proc_stop(&a), 0);
}
END_TEST

/* ------------------------------------------------------------------------ 12: headers */

/* The dashboard's files come with a strict Content-Security-Policy (no inline script or
 * style, nothing from elsewhere, no framing), nosniff and X-Frame-Options, and without
 * Access-Control-Allow-Origin, asked from another origin or not; the API's JSON answers
 * carry nosniff and no CORS header either. */
START_TEST(test_dashboard_files_carry_csp_nosniff_no_framing_and_no_cors) {
    const char *paths[] = {"/", "/js/app.js", "/style.css", "/healthz"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\n\r\n",
                 paths[i], api.port);
        raw_t r;
        ck_assert_msg(raw_call(api.port, req, &r) == 200, "%s: \"%.300s\"", paths[i], r.buf);
        char v[1024];
        ck_assert_msg(raw_header(&r, "Access-Control-Allow-Origin", v, sizeof v)[0] == '\0', "%s: ACAO %s", paths[i], v);
        ck_assert_str_eq(raw_header(&r, "X-Content-Type-Options", v, sizeof v), "nosniff");
        if (strcmp(paths[i], "/healthz") == 0) continue;
        raw_header(&r, "Content-Security-Policy", v, sizeof v);
        const char *want[] = {"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                              "base-uri 'none'"};
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
            ck_assert_msg(strstr(v, want[k]) != NULL, "%s: CSP \"%s\" lacks %s", paths[i], v, want[k]);
        ck_assert_msg(strstr(v, "unsafe-inline") == NULL && strstr(v, "unsafe-eval") == NULL, "%s: %s", paths[i], v);
        ck_assert_str_eq(raw_header(&r, "X-Frame-Options", v, sizeof v), "DENY");
    }
}
END_TEST

/* ------------------------------------------------------------------------ 8: UTF-8 */

/* Asserts that the answer in `r` is valid UTF-8 from its first byte to its last. */
static void expect_utf8(const raw_t *r) {
    ck_assert_msg(utf8_valid_prefix(r->buf, r->n) == r->n, "answer not UTF-8 at %zu: %s",
                  utf8_valid_prefix(r->buf, r->n), r->buf);
}

/* A byte 0xFF (or Latin-1 text) in any string of a body is refused with 400 naming the
 * field, and nothing changes; an id of the path with such a byte gets an error whose
 * message is still UTF-8. */
START_TEST(test_bodies_with_invalid_utf8_are_refused_naming_the_field) {
    fx_fleet(1);
    char *before = fx_snapshot();
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", api.port);
    struct {
        const char *method, *path, *body, *field;
    } cases[] = {
        {"PUT", "/api/nodes/n1", "{\"name\":\"Node-\xff\"}", "\"name: is not valid UTF-8"},
        {"PUT", "/api/servers/s1", "{\"state\":\"running\",\"name\":\"caf\xe9\"}", "\"name: is not valid UTF-8"},
        {"POST", "/api/migrations", "{\"server_id\":\"s1\",\"to_node_id\":\"n2\",\"notes\":\"a\xc0\xaf\"}",
         "\"notes: is not valid UTF-8"},
        {"PUT", "/api/nodes/n9", "{\"na\xffme\":\"x\"}", "\"a field name is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw_t r;
        ck_assert_int_eq(browser_call(api.port, cases[i].method, cases[i].path, host, NULL, OPERATOR,
                                      "application/json", cases[i].body, &r),
                         400);
        expect_code(&r, "bad_request");
        ck_assert_msg(strstr(raw_body(&r), cases[i].field) != NULL, "case %zu: %s", i, r.buf);
        expect_utf8(&r);
    }
    raw_t r;
    ck_assert_int_eq(browser_call(api.port, "GET", "/api/migrations/ab%FFcd", host, NULL, VIEWER, NULL, NULL, &r), 400);
    expect_utf8(&r);
    char *after = fx_snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

/* Asserts that the next text frame of `w` is UTF-8 and shows U+FFFD where the bad byte
 * was. */
static void expect_repaired_frame(ws_t *w) {
    char out[4096];
    int op = 0;
    long n;
    do
        n = ws_read(w, WS_WAIT_MS, &op, out, sizeof out);
    while (n >= 0 && op == 0x9); /* pings */
    ck_assert_msg(n > 0 && op == 0x1, "no text frame (%ld, opcode %d)", n, op);
    ck_assert_msg(utf8_valid_prefix(out, (size_t)n) == (size_t)n, "a text frame that is not UTF-8: %s", out);
    ck_assert_msg(strstr(out, "Node-\xef\xbf\xbd") != NULL, "the bad byte is not U+FFFD: %s", out);
}

/* Returns once `w` is live at the API's relay: the relay takes a client after its
 * handshake's 101, so an event published right after ws_open may pass before it. Probe
 * events (a node "probe", written as the scripts write events) are sent until the last
 * one sent arrives, so that the next message is what the test publishes next. */
static void wait_live(ws_t *w) {
    long long end = timefmt_mono_ms() + WS_WAIT_MS;
    for (;;) {
        ck_assert_msg(timefmt_mono_ms() < end, "no probe event reached the client");
        redisReply *id = fx_cmd("XADD mig:events * e %s", "{\"type\":\"node.updated\",\"node_id\":\"probe\"}");
        char want[96];
        snprintf(want, sizeof want, "\"event_id\":\"%s\"", id->str);
        freeReplyObject(fx_cmd("PUBLISH mig:events {\"event_id\":\"%s\",\"type\":\"node.updated\",\"node_id\":\"probe\"}",
                               id->str));
        freeReplyObject(id);
        char out[4096];
        int op = 0;
        long n;
        while ((n = ws_read(w, 100, &op, out, sizeof out)) >= 0)
            if (op == 0x1 && strstr(out, want) != NULL) return;
        ck_assert_msg(n == -1, "the connection ended");
    }
}

/* An event with a byte 0xFF written straight into the stream and the channel (as a buggy
 * agent's text copied into a field would get there, past the API's checks) reaches a
 * WebSocket client live and in a replay as valid UTF-8, the bad byte as U+FFFD, and the
 * connection stays open. */
START_TEST(test_relay_never_sends_a_text_frame_that_is_not_utf8) {
    ws_t *w = calloc(1, sizeof *w), *again = calloc(1, sizeof *again);
    w->answer_pings = again->answer_pings = 1;
    ck_assert_int_eq(ws_open(w, api.port, "/api/ws", VIEWER, 0), 101);
    wait_live(w);
    redisReply *first = fx_cmd("XADD mig:events * e %s", "{\"type\":\"node.updated\",\"node_id\":\"n1\"}");
    ck_assert_int_eq(first->type, REDIS_REPLY_STRING);
    const char *bad = "{\"type\":\"node.updated\",\"node_id\":\"n1\",\"name\":\"Node-\xff\"}";
    redisReply *id = fx_cmd("XADD mig:events * e %s", bad);
    ck_assert_int_eq(id->type, REDIS_REPLY_STRING);
    char live[512];
    snprintf(live, sizeof live, "{\"event_id\":\"%s\",%s", id->str, bad + 1);
    /* the live copy of the first event, so that the client sees both in order */
    char live0[256];
    snprintf(live0, sizeof live0, "{\"event_id\":\"%s\",\"type\":\"node.updated\",\"node_id\":\"n1\"}", first->str);
    freeReplyObject(fx_cmd("PUBLISH mig:events %s", live0));
    freeReplyObject(fx_cmd("PUBLISH mig:events %s", live));
    cJSON *ok = ws_next_json(w);
    cJSON_Delete(ok);
    expect_repaired_frame(w);
    /* a replay from the stream after the first event gives the same repaired frame */
    char path[128];
    snprintf(path, sizeof path, "/api/ws?since=%s", first->str);
    ck_assert_int_eq(ws_open(again, api.port, path, VIEWER, 0), 101);
    expect_repaired_frame(again);
    ws_close(again);
    ws_close(w);
    freeReplyObject(first);
    freeReplyObject(id);
    free(w);
    free(again);
}
END_TEST

/* ------------------------------------------------------------------------ 13: secrets */

/* Runs migrate-api with the environment the caller set up and `flag` (may be NULL); waits
 * for it to exit and returns its status (-1 when it kept running, then killed). The log
 * goes to `log`. */
static int api_exit_status(const char *flag, const char *log) {
    const char *bindir = getenv("MIG_BIN_DIR") ? getenv("MIG_BIN_DIR") : "build/test/bin";
    char bin[300], url[sizeof fx_redis.url + 16];
    snprintf(bin, sizeof bin, "%s/migrate-api", bindir);
    snprintf(url, sizeof url, "--redis-url=%s", fx_redis.url);
    const char *argv[] = {bin, url, "--api-listen=127.0.0.1:0", flag, NULL};
    pid_t pid = harness_spawn(argv, log);
    ck_assert_int_gt(pid, 0);
    int st = harness_wait(pid, 20000);
    if (st == -1) harness_stop_pid(pid, NULL);
    return st;
}

static int file_has(const char *path, const char *words) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, words) != NULL;
    fclose(f);
    return found;
}

/* The CHANGE-ME-* placeholder tokens of deploy/ are refused at start (exit 2, saying
 * why) instead of serving with tokens anyone can read in the repository; so is a tokens
 * file given together with the tokens. */
START_TEST(test_placeholder_tokens_of_deploy_are_refused_at_start) {
    char log[400];
    snprintf(log, sizeof log, "%s/placeholder-%d.log", fx_redis.dir, (int)getpid());
    setenv("MIG_API_TOKENS", "viewer:CHANGE-ME-viewer-token,operator:a-real-operator-token", 1);
    int st = api_exit_status(NULL, log);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "not refused (%d); see %s", st, log);
    ck_assert_msg(file_has(log, "placeholder of deploy/"), "no reason given; see %s", log);
    ck_assert_msg(!file_has(log, "CHANGE-ME-viewer-token"), "the token itself was logged; see %s", log);
    setenv("MIG_API_TOKENS", "viewer:a-real-viewer-token", 1);
    setenv("MIG_API_TOKENS_FILE", "/dev/null", 1);
    st = api_exit_status(NULL, log);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "both settings taken (%d); see %s", st, log);
    unsetenv("MIG_API_TOKENS");
    unsetenv("MIG_API_TOKENS_FILE");
}
END_TEST

/* Tokens come from MIG_API_TOKENS_FILE (kept out of the process list), and with
 * MIG_API_PROTECT_METRICS=1 /readyz and /metrics need a viewer token, while /healthz, the
 * liveness probe, stays open. */
START_TEST(test_tokens_file_and_protected_metrics) {
    char path[400];
    snprintf(path, sizeof path, "%s/tokens-%d", fx_redis.dir, (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("viewer:file-viewer-token\noperator:file-operator-token\n", f);
    fclose(f);
    chmod(path, 0600);
    setenv("MIG_API_TOKENS_FILE", path, 1);
    setenv("MIG_API_PROTECT_METRICS", "1", 1);
    api_proc_t a;
    ck_assert_int_eq(api_proc_start(&a, fx_redis.url, NULL, fx_redis.dir, 0), 0);
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", a.port);
    raw_t r;
    ck_assert_int_eq(browser_call(a.port, "GET", "/metrics", host, NULL, NULL, NULL, NULL, &r), 401);
    expect_code(&r, "unauthorized");
    ck_assert_int_eq(browser_call(a.port, "GET", "/readyz", host, NULL, NULL, NULL, NULL, &r), 401);
    ck_assert_int_eq(browser_call(a.port, "GET", "/readyz", host, NULL, "viewer-token-1", NULL, NULL, &r), 401);
    ck_assert_int_eq(browser_call(a.port, "GET", "/healthz", host, NULL, NULL, NULL, NULL, &r), 200);
    ck_assert_int_eq(browser_call(a.port, "GET", "/metrics", host, NULL, "file-viewer-token", NULL, NULL, &r), 200);
    ck_assert_msg(strstr(raw_body(&r), "mig_migrations") != NULL, "%s", r.buf);
    ck_assert_int_eq(browser_call(a.port, "GET", "/readyz", host, NULL, "file-viewer-token", NULL, NULL, &r), 200);
    ck_assert_int_eq(browser_call(a.port, "GET", "/api/whoami", host, NULL, "file-operator-token", NULL, NULL, &r), 200);
    ck_assert_msg(strstr(raw_body(&r), "\"operator\"") != NULL, "%s", r.buf);
    ck_assert_int_eq(api_proc_stop(&a), 0);
    unsetenv("MIG_API_TOKENS_FILE");
    unsetenv("MIG_API_PROTECT_METRICS");
}
END_TEST

/* ------------------------------------------------------------------------ the suite */

Suite *suite_security(void) {
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("security");
    tcase_add_unchecked_fixture(tc, api_up, api_down);
    tcase_add_checked_fixture(tc, fx_connect, fx_disconnect);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_slow_bodies_without_token_are_refused_closed_and_healthz_answers);
    tcase_add_test(tc, test_refused_requests_with_unfinished_bodies_get_their_answer_then_the_close);
    tcase_add_test(tc, test_authorized_body_that_never_finishes_gets_408_and_the_close);
    tcase_add_test(tc, test_token_in_url_is_refused_on_rest_routes_and_taken_by_the_websocket);
    tcase_add_test(tc, test_foreign_origin_rebound_host_and_plain_text_bodies_are_refused_without_tokens);
    tcase_add_test(tc, test_configured_hosts_and_origins_are_the_only_ones_taken);
    tcase_add_test(tc, test_dashboard_files_carry_csp_nosniff_no_framing_and_no_cors);
    tcase_add_test(tc, test_bodies_with_invalid_utf8_are_refused_naming_the_field);
    tcase_add_test(tc, test_relay_never_sends_a_text_frame_that_is_not_utf8);
    tcase_add_test(tc, test_placeholder_tokens_of_deploy_are_refused_at_start);
    tcase_add_test(tc, test_tokens_file_and_protected_metrics);
    suite_add_tcase(s, tc);
    return s;
}
