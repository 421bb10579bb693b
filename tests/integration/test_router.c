/* test_router.c - bin/migrate-router as a process on loopback, with fake backends (a
 * thread speaking the login and configuration states of 1.20.5, with or without
 * compression, as flying-squid does) and fake clients written with core/mcproto that
 * handshake, log in offline, read what the router sends (Transfer, Keep Alive,
 * Disconnect) and follow a Transfer by reconnecting with intent 3, as a vanilla client
 * does. Every wait polls against a deadline; nothing depends on the machine's speed. */
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/mcproto.h"
#include "core/timefmt.h"
#include "suites.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_harness.h"
#include "tests/support/router_proc.h"

#define TIMEOUT_S 60   /* a case makes a few logins through a sanitized router */
#define WAIT_MS 20000  /* longest wait for what the router does in milliseconds */
#define TOKEN "router-secret"
#define PV MCPROTO_PV_1_20_5

/* ------------------------------------------------------------------------ the router */

static char top[64];
static pid_t router_pid;
static int game_port, http_port;
static char router_log[200];

/* Starts the router with its state in `top` and `extra` flags (NULL-terminated). */
static void router_start(const char *const *extra) {
    router_proc_t r = {0};
    snprintf(r.dir, sizeof r.dir, "%s", top);
    const char *args[32] = {"--router-keepalive-ms=100"};
    int n = 1;
    for (int k = 0; extra && extra[k] && n < 31; k++) args[n++] = extra[k];
    char err[400];
    int rv = router_proc_start(&r, TOKEN, args, WAIT_MS, err, sizeof err);
    router_pid = r.pid; /* the teardown stops one that did not start in time */
    ck_assert_msg(rv == 0, "%s", err);
    game_port = r.game_port, http_port = r.http_port;
    snprintf(router_log, sizeof router_log, "%s", r.log);
}

static void setup(void) {
    signal(SIGPIPE, SIG_IGN);
    snprintf(top, sizeof top, "/tmp/mig-router-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    router_pid = 0;
}

static void teardown(void) {
    char bad[256] = "";
    proc_stop_clean(&router_pid, "router", bad, sizeof bad);
    harness_rmtree(top);
    ck_assert_msg(bad[0] == '\0', "not a clean exit on SIGTERM: %s", bad);
}

/* ------------------------------------------------------------------------ HTTP */

/* Calls the bridge: `key` and `token` go as Idempotency-Key and Fencing-Token when not
 * NULL. Returns the status (0: no answer came); *out the parsed body (caller frees) when
 * `out` is given. */
static long call(const char *method, const char *path, const char *body, const char *key, const char *token,
                 cJSON **out) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port, path);
    http_req_t req = {.method = method, .url = url, .body = body, .token = TOKEN, .idempotency_key = key,
                      .fencing_token = token, .timeout_ms = 20000};
    return http_request_json(&req, out, NULL);
}

/* The sorted names of the array `name` in `o`, joined with ',' into `out`. */
static const char *names_of(const cJSON *o, const char *name, char *out, size_t cap) {
    char *v[64];
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(o, name)) if (n < 64) v[n++] = x->valuestring;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    out[0] = '\0';
    for (int i = 0; i < n; i++) snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", v[i]);
    return out;
}

/* Waits until GET players of `server` answers exactly `want` (sorted, ',' joined). */
static void wait_players(const char *server, const char *want) {
    char path[200], got[512] = "";
    snprintf(path, sizeof path, "/v1/servers/%s/players", server);
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        cJSON *o = NULL;
        ck_assert_int_eq(call("GET", path, NULL, NULL, NULL, &o), 200);
        names_of(o, "players", got, sizeof got);
        cJSON_Delete(o);
        if (strcmp(got, want) == 0) return;
        timefmt_sleep_ms(20);
    }
    ck_abort_msg("players of %s: %s, not %s", server, got, want);
}

static void put_server(const char *name, int port) {
    char path[128], body[128];
    snprintf(path, sizeof path, "/v1/servers/%s", name);
    snprintf(body, sizeof body, "{\"address\":\"127.0.0.1:%d\"}", port);
    ck_assert_int_eq(call("PUT", path, body, NULL, NULL, NULL), 200);
}

/* ------------------------------------------------------------------------ a stream */

/* One side of a Minecraft connection over a blocking socket. */
typedef struct {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
    bool compressed; /* Set Compression seen: frames carry a Data Length */
} stream_t;

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static bool send_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        b += k, n -= (size_t)k;
    }
    return true;
}

/* Reads more bytes into the stream within `ms`: > 0, 0 at EOF, -1 on a timeout. */
static int st_fill(stream_t *s, int ms) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) return -1;
    ssize_t k = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
    if (k <= 0) return 0;
    s->len += (size_t)k;
    return (int)k;
}

/* Reads one frame: its id and body (copied into `body`, `cap` bytes). 1, or 0 at EOF,
 * -1 on a timeout. A compressed frame's Data Length must be 0 (nothing here compresses). */
static int st_read(stream_t *s, int32_t *id, uint8_t *body, size_t cap, size_t *blen, int ms) {
    for (;;) {
        int32_t len;
        int k = mcproto_varint_decode(s->buf, s->len, &len);
        if (k > 0 && s->len >= (size_t)k + (size_t)len) {
            const uint8_t *p = s->buf + k;
            size_t n = (size_t)len;
            if (s->compressed) {
                int32_t dl;
                int d = mcproto_varint_decode(p, n, &dl);
                ck_assert_int_gt(d, 0);
                ck_assert_int_eq(dl, 0);
                p += d, n -= (size_t)d;
            }
            int d = mcproto_varint_decode(p, n, id);
            ck_assert_int_gt(d, 0);
            *blen = n - (size_t)d;
            ck_assert_uint_le(*blen, cap);
            memcpy(body, p + d, *blen);
            size_t used = (size_t)k + (size_t)len;
            memmove(s->buf, s->buf + used, s->len - used);
            s->len -= used;
            return 1;
        }
        int r = st_fill(s, ms);
        if (r <= 0) return r;
    }
}

/* Writes one frame (with a Data Length of 0 once compressed). */
static bool st_write(stream_t *s, int32_t id, const void *body, size_t n) {
    mcbuf_t b, f;
    mcbuf_init(&b);
    mcbuf_init(&f);
    if (s->compressed) mcbuf_put_varint(&b, 0);
    mcbuf_put_varint(&b, id);
    mcbuf_put_bytes(&b, body, n);
    mcbuf_put_varint(&f, (int32_t)b.len);
    mcbuf_put_bytes(&f, b.buf, b.len);
    bool ok = send_all(s->fd, f.buf, f.len);
    mcbuf_free(&b);
    mcbuf_free(&f);
    return ok;
}

/* ------------------------------------------------------------------------ fake backend */

/* A backend: accepts players, records their greeting, logs them in (with Set Compression
 * first when `compress`, as minecraft-protocol servers always do), takes them through
 * the configuration state into play, then echoes raw bytes (`echo`) or reads frames. */
typedef struct {
    int port, lfd;
    bool compress, echo;
    bool hangup;         /* close a player's connection right after its login (under lock) */
    pthread_mutex_t lock;
    int logins;          /* players that reached play */
    int last_intent;
    char last_name[32], last_host[300];
    pthread_t thread;
} backend_t;

typedef struct {
    backend_t *b;
    int fd;
} bconn_t;

static void *backend_conn(void *arg) {
    bconn_t *bc = arg;
    backend_t *b = bc->b;
    /* on the heap: as thread-local storage its 64 KB were taken from every thread's stack
     * in the runner, civetweb's 100 KB ones in the relay's suites included */
    stream_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(bc->fd);
        free(bc);
        return NULL;
    }
    s->fd = bc->fd;
    free(bc);
    int32_t id;
    uint8_t body[4096];
    size_t n;
    mcproto_handshake_t hs;
    if (st_read(s, &id, body, sizeof body, &n, WAIT_MS) != 1 || mcproto_handshake_read(body, n, &hs) != 0) goto out;
    char host[300];
    snprintf(host, sizeof host, "%.*s", (int)hs.host.n, hs.host.p);
    if (hs.intent == MCPROTO_INTENT_STATUS) goto out;
    mcproto_login_start_t ls;
    if (st_read(s, &id, body, sizeof body, &n, WAIT_MS) != 1 || mcproto_login_start_read(hs.protocol, body, n, &ls))
        goto out;
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)ls.name.n, ls.name.p);
    if (b->compress) {
        uint8_t th[] = {0x80, 0x02}; /* VarInt 256 */
        st_write(s, 0x03, th, sizeof th);
        s->compressed = true;
    }
    mcbuf_t ok;
    mcbuf_init(&ok);
    mcbuf_put_bytes(&ok, ls.uuid, 16);
    mcbuf_put_string(&ok, name, strlen(name), 16);
    mcbuf_put_varint(&ok, 0);
    mcbuf_put_u8(&ok, 0);
    st_write(s, 0x02, ok.buf, ok.len);
    mcbuf_free(&ok);
    if (st_read(s, &id, body, sizeof body, &n, WAIT_MS) != 1 || id != 0x03) goto out; /* Login Acknowledged */
    st_write(s, 0x03, NULL, 0);                                                         /* Finish Configuration */
    if (st_read(s, &id, body, sizeof body, &n, WAIT_MS) != 1 || id != 0x03) goto out; /* its ack */
    pthread_mutex_lock(&b->lock);
    b->logins++;
    b->last_intent = hs.intent;
    snprintf(b->last_name, sizeof b->last_name, "%s", name);
    snprintf(b->last_host, sizeof b->last_host, "%s", host);
    bool hangup = b->hangup;
    pthread_mutex_unlock(&b->lock);
    if (hangup) goto out; /* a server that stops or kicks: all it sent is on its way */
    if (b->echo) {
        /* whatever arrived with the ack, then everything else, back as it came */
        if (s->len) send_all(s->fd, s->buf, s->len);
        uint8_t chunk[8192];
        ssize_t k;
        while ((k = recv(s->fd, chunk, sizeof chunk, 0)) > 0)
            if (!send_all(s->fd, chunk, (size_t)k)) break;
    } else {
        /* a play packet now and then, as a server sends: a Keep Alive */
        for (int64_t ka = 1;; ka++) {
            int r = st_read(s, &id, body, sizeof body, &n, 50);
            if (r == 0) break;
            uint8_t kb[8];
            for (int i = 0; i < 8; i++) kb[i] = (uint8_t)(ka >> (56 - 8 * i));
            if (!st_write(s, 0x26, kb, sizeof kb)) break;
        }
    }
out:
    close(s->fd);
    free(s);
    return NULL;
}

static void *backend_accept(void *arg) {
    backend_t *b = arg;
    for (;;) {
        int fd = accept(b->lfd, NULL, NULL);
        if (fd < 0) return NULL;
        bconn_t *bc = malloc(sizeof *bc);
        bc->b = b, bc->fd = fd;
        pthread_t t;
        pthread_create(&t, NULL, backend_conn, bc);
        pthread_detach(t);
    }
}

static void backend_start(backend_t *b, bool compress, bool echo) {
    memset(b, 0, sizeof *b);
    b->compress = compress, b->echo = echo;
    pthread_mutex_init(&b->lock, NULL);
    b->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof sa;
    ck_assert_int_eq(bind(b->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(b->lfd, 64), 0);
    getsockname(b->lfd, (struct sockaddr *)&sa, &l);
    b->port = ntohs(sa.sin_port);
    pthread_create(&b->thread, NULL, backend_accept, b);
}

static int backend_logins(backend_t *b) {
    pthread_mutex_lock(&b->lock);
    int n = b->logins;
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* Waits until backend `b` has seen `n` players reach play (it counts after reading the
 * client's last acknowledgement, which the client sent just before). */
static void wait_logins(backend_t *b, int n) {
    for (int waited = 0; backend_logins(b) < n; waited += 5) {
        ck_assert_msg(waited < WAIT_MS, "the backend saw %d logins, not %d", backend_logins(b), n);
        timefmt_sleep_ms(5);
    }
    ck_assert_int_eq(backend_logins(b), n);
}

/* ------------------------------------------------------------------------ fake client */

/* Sends a Handshake for `host` with `intent`, and a Login Start of `name` unless status. */
static void cl_greet(stream_t *s, int32_t protocol, const char *host, int intent, const char *name) {
    mcbuf_t b;
    mcbuf_init(&b);
    mcproto_handshake_t hs = {.protocol = protocol, .host = {host, strlen(host)}, .port = 25565, .intent = intent};
    mcproto_handshake_write(&b, &hs);
    if (intent != MCPROTO_INTENT_STATUS) {
        /* 1.20.2+ Login Start: name, UUID (written by hand: mcproto knows 766 and 767 only) */
        mcbuf_t body;
        mcbuf_init(&body);
        mcbuf_put_string(&body, name, strlen(name), 16);
        uint8_t uuid[16] = {1, 2, 3};
        mcbuf_put_bytes(&body, uuid, 16);
        mcproto_frame_write(&b, 0, body.buf, body.len);
        mcbuf_free(&body);
    }
    ck_assert_int_eq(mcbuf_status(&b), 0);
    ck_assert(send_all(s->fd, b.buf, b.len));
    mcbuf_free(&b);
}

/* What a client met after its greeting. */
typedef enum { MET_PLAY, MET_ROOM, MET_DISCONNECT } met_t;

/* Logs `name` in through the router to `host` with `intent`: follows Set Compression,
 * answers Login Success, and returns MET_PLAY when a backend finished configuration,
 * MET_ROOM when the router holds it (a Keep Alive of the configuration state came, and
 * was answered), MET_DISCONNECT with the reason in `why` (`cap` bytes). */
static met_t cl_login(stream_t *s, int port, const char *host, int intent, const char *name, int32_t protocol,
                      char *why, size_t cap) {
    memset(s, 0, sizeof *s);
    s->fd = tcp_connect(port);
    cl_greet(s, protocol, host, intent, name);
    int32_t id;
    uint8_t body[4096];
    size_t n;
    bool in_config = false;
    for (;;) {
        int r = st_read(s, &id, body, sizeof body, &n, WAIT_MS);
        ck_assert_msg(r == 1, "%s: the connection ended (%d) before the login did", name, r);
        if (!in_config && id == 0x00) {
            mcproto_str_t j;
            ck_assert_int_eq(mcproto_login_disconnect_read(body, n, &j), 0);
            snprintf(why, cap, "%.*s", (int)j.n, j.p);
            return MET_DISCONNECT;
        }
        if (!in_config && id == 0x03) {
            s->compressed = true;
            continue;
        }
        if (!in_config && id == 0x02) {
            ck_assert(st_write(s, 0x03, NULL, 0)); /* Login Acknowledged */
            in_config = true;
            continue;
        }
        if (in_config && id == 0x03) {
            ck_assert(st_write(s, 0x03, NULL, 0)); /* Finish Configuration acknowledged */
            return MET_PLAY;
        }
        if (in_config && id == 0x04) {
            ck_assert(st_write(s, 0x04, body, n)); /* the Keep Alive answered */
            return MET_ROOM;
        }
        ck_abort_msg("%s: unexpected packet 0x%02x during login", name, id);
    }
}

/* Reads until a Transfer (id 0x73 in play, 0x0B in configuration), answering Keep Alives
 * of the configuration state; checks it points at the router. */
static void cl_expect_transfer(stream_t *s, bool play) {
    int32_t id;
    uint8_t body[4096];
    size_t n;
    for (;;) {
        ck_assert_msg(st_read(s, &id, body, sizeof body, &n, WAIT_MS) == 1, "no Transfer came");
        if (!play && id == 0x04) {
            st_write(s, 0x04, body, n);
            continue;
        }
        if (play && id == 0x26) continue; /* the backend's keep-alives */
        ck_assert_int_eq(id, play ? 0x73 : 0x0b);
        mcproto_str_t host;
        uint16_t port;
        ck_assert_int_eq(mcproto_transfer_read(body, n, &host, &port), 0);
        ck_assert_int_eq(port, game_port);
        ck_assert(host.n == 9 && memcmp(host.p, "127.0.0.1", 9) == 0);
        close(s->fd);
        return;
    }
}

/* ------------------------------------------------------------------------ tests */

START_TEST(test_router_routes_login_to_registered_backend) {
    router_start(NULL);
    backend_t a;
    backend_start(&a, false, false);
    put_server("Server-1", a.port);
    static stream_t s;
    char why[512];
    ck_assert_int_eq(cl_login(&s, game_port, "server-1.mc.test", MCPROTO_INTENT_LOGIN, "Alice", PV, why, sizeof why),
                     MET_PLAY);
    wait_logins(&a, 1);
    ck_assert_int_eq(a.last_intent, MCPROTO_INTENT_LOGIN);
    ck_assert_str_eq(a.last_name, "Alice");
    ck_assert_str_eq(a.last_host, "server-1.mc.test"); /* the handshake goes on as it came */
    wait_players("Server-1", "Alice");
    /* a transfer handshake (intent 3) reaches a backend as a login */
    static stream_t t;
    ck_assert_int_eq(cl_login(&t, game_port, "Server-1.mc.test.", MCPROTO_INTENT_TRANSFER, "Bob", PV, why, sizeof why),
                     MET_PLAY);
    wait_logins(&a, 2);
    ck_assert_int_eq(a.last_intent, MCPROTO_INTENT_LOGIN);
    wait_players("Server-1", "Alice,Bob");
    close(s.fd);
    wait_players("Server-1", "Bob");
    close(t.fd);
}
END_TEST

/* A backend that closes a player's connection once all it sent has reached the player (a
 * server stopping, a kick): the router closes the player's side and serves on. It used to
 * lock its own event loop there. */
START_TEST(test_router_serves_on_after_a_backend_hangs_up_first) {
    router_start(NULL);
    backend_t a;
    backend_start(&a, false, false);
    pthread_mutex_lock(&a.lock);
    a.hangup = true;
    pthread_mutex_unlock(&a.lock);
    put_server("Server-1", a.port);
    static stream_t s;
    char why[512];
    cl_login(&s, game_port, "server-1.mc.test", MCPROTO_INTENT_LOGIN, "Alice", PV, why, sizeof why);
    wait_logins(&a, 1);
    /* the player sees its connection end */
    for (int waited = 0;; waited += 10) {
        struct pollfd p = {.fd = s.fd, .events = POLLIN};
        ck_assert_int_ge(poll(&p, 1, 10), 0);
        uint8_t b[512];
        if ((p.revents & (POLLIN | POLLHUP)) && recv(s.fd, b, sizeof b, MSG_DONTWAIT) == 0) break;
        ck_assert_msg(waited < WAIT_MS, "the player's connection was not closed");
    }
    close(s.fd);
    /* and the router serves on: another player is routed, and its bridge answers */
    pthread_mutex_lock(&a.lock);
    a.hangup = false;
    pthread_mutex_unlock(&a.lock);
    static stream_t t;
    ck_assert_int_eq(cl_login(&t, game_port, "server-1.mc.test", MCPROTO_INTENT_LOGIN, "Bob", PV, why, sizeof why),
                     MET_PLAY);
    wait_logins(&a, 2);
    wait_players("Server-1", "Bob");
    close(t.fd);
}
END_TEST

START_TEST(test_router_splices_bytes_untouched_both_ways) {
    router_start(NULL);
    backend_t a;
    backend_start(&a, true, true);
    put_server("s1", a.port);
    static stream_t s;
    char why[512];
    ck_assert_int_eq(cl_login(&s, game_port, "s1.mc.test", MCPROTO_INTENT_LOGIN, "Alice", PV, why, sizeof why),
                     MET_PLAY);
    /* 4 MiB of random bytes out, echoed back by the backend, compared byte for byte */
    size_t total = 4u << 20;
    uint8_t *out = malloc(total), *in = malloc(total);
    unsigned seed = 7;
    for (size_t i = 0; i < total; i++) out[i] = (uint8_t)(rand_r(&seed) >> 7);
    size_t sent = 0, got = 0;
    while (got < total) {
        struct pollfd p = {.fd = s.fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
        if ((p.revents & POLLOUT) && sent < total) {
            size_t k = total - sent < 65536 ? total - sent : 65536;
            ssize_t w = send(s.fd, out + sent, k, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
        }
        if (p.revents & POLLIN) {
            ssize_t r = recv(s.fd, in + got, total - got, MSG_DONTWAIT);
            ck_assert_int_gt(r, 0);
            got += (size_t)r;
        }
    }
    ck_assert(memcmp(out, in, total) == 0);
    free(out);
    free(in);
    close(s.fd);
}
END_TEST

START_TEST(test_router_unknown_host_gets_login_disconnect) {
    router_start(NULL);
    static stream_t s;
    char why[512];
    ck_assert_int_eq(cl_login(&s, game_port, "nope.mc.test", MCPROTO_INTENT_LOGIN, "Alice", PV, why, sizeof why),
                     MET_DISCONNECT);
    ck_assert_msg(strstr(why, "nope.mc.test") != NULL, "reason: %s", why);
    /* and the connection is closed after it */
    int32_t id;
    uint8_t body[4096];
    size_t n;
    ck_assert_int_eq(st_read(&s, &id, body, sizeof body, &n, WAIT_MS), 0);
    close(s.fd);
    /* a status ping of an unknown host is answered, naming it */
    memset(&s, 0, sizeof s);
    s.fd = tcp_connect(game_port);
    cl_greet(&s, PV, "other.mc.test", MCPROTO_INTENT_STATUS, NULL);
    ck_assert(st_write(&s, 0x00, NULL, 0));
    ck_assert_int_eq(st_read(&s, &id, body, sizeof body, &n, WAIT_MS), 1);
    mcproto_str_t j;
    ck_assert_int_eq(mcproto_status_response_read(body, n, &j), 0);
    ck_assert_ptr_nonnull(memmem(j.p, j.n, "other.mc.test", 13));
    close(s.fd);
}
END_TEST

START_TEST(test_router_cuts_slow_handshake) {
    const char *extra[] = {"--router-handshake-timeout-ms=200", NULL};
    router_start(extra);
    static stream_t s;
    memset(&s, 0, sizeof s);
    s.fd = tcp_connect(game_port);
    uint8_t part[] = {0x10, 0x00}; /* a frame of 16 bytes begun, never finished */
    ck_assert(send_all(s.fd, part, sizeof part));
    int r;
    while ((r = st_fill(&s, WAIT_MS)) > 0) {}
    ck_assert_int_eq(r, 0); /* closed by the router, not our timeout */
    close(s.fd);
    /* a frame over the handshake's bound is refused at once */
    s.fd = tcp_connect(game_port);
    uint8_t big[] = {0xff, 0xff, 0x7f, 0x00};
    ck_assert(send_all(s.fd, big, sizeof big));
    s.len = 0;
    while ((r = st_fill(&s, WAIT_MS)) > 0) {}
    ck_assert_int_eq(r, 0);
    close(s.fd);
    ck_assert(proc_log_has(router_log, "router.handshake_timeout"));
    ck_assert(proc_log_has(router_log, "router.bad_handshake"));
}
END_TEST

START_TEST(test_router_limits_connections_per_ip) {
    const char *extra[] = {"--router-per-ip-max=2", NULL};
    router_start(extra);
    int a = tcp_connect(game_port), b = tcp_connect(game_port);
    static stream_t s;
    memset(&s, 0, sizeof s);
    s.fd = tcp_connect(game_port);
    ck_assert_int_eq(st_fill(&s, WAIT_MS), 0); /* the third is closed on arrival */
    close(s.fd);
    close(a);
    /* once one left, a new one is let in (the router notices the close first) */
    for (int waited = 0;; waited += 50) {
        ck_assert_int_lt(waited, WAIT_MS);
        s.fd = tcp_connect(game_port);
        s.len = 0;
        if (st_fill(&s, 100) == -1) break; /* held open: accepted */
        close(s.fd);
    }
    close(s.fd);
    close(b);
    ck_assert(proc_log_has(router_log, "router.refused"));
}
END_TEST

/* The whole move: players on s1 (a compressing backend, as flying-squid is) go to a
 * waiting room, are held there, s1 is registered at a new backend, and they come back
 * to it, each by following Transfers as a vanilla client does. */
START_TEST(test_router_waiting_room_holds_and_transfers_back) {
    router_start(NULL);
    backend_t a, b;
    backend_start(&a, true, false);
    backend_start(&b, false, false);
    put_server("s1", a.port);
    static stream_t alice, bob;
    char why[512];
    ck_assert_int_eq(cl_login(&alice, game_port, "s1.mc.test", 2, "Alice", PV, why, sizeof why), MET_PLAY);
    ck_assert_int_eq(cl_login(&bob, game_port, "s1.mc.test", 2, "Bob", MCPROTO_PV_1_21, why, sizeof why), MET_PLAY);
    wait_players("s1", "Alice,Bob");
    cJSON *o = NULL;
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m1\"}", "m1", "1", &o), 201);
    cJSON_Delete(o);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m1\"}", "m1", "1", NULL), 200);
    char moved[256];
    ck_assert_int_eq(call("POST", "/v1/transfers",
                          "{\"migration_id\":\"m1\",\"from\":\"s1\",\"to\":\"wait-m1\",\"message\":\"bitte warten\"}",
                          "m1.1", "1", &o),
                     200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), "Alice,Bob");
    cJSON_Delete(o);
    /* each gets a Transfer in play, follows it with intent 3, and is held */
    cl_expect_transfer(&alice, true);
    cl_expect_transfer(&bob, true);
    ck_assert_int_eq(cl_login(&alice, game_port, "127.0.0.1", MCPROTO_INTENT_TRANSFER, "Alice", PV, why, sizeof why),
                     MET_ROOM);
    ck_assert_int_eq(cl_login(&bob, game_port, "127.0.0.1", MCPROTO_INTENT_TRANSFER, "Bob", MCPROTO_PV_1_21, why,
                              sizeof why),
                     MET_ROOM);
    wait_players("wait-m1", "Alice,Bob");
    wait_players("s1", "");
    /* a new player of s1 while it moves waits in the room too */
    static stream_t carol;
    ck_assert_int_eq(cl_login(&carol, game_port, "s1.mc.test", 2, "Carol", PV, why, sizeof why), MET_ROOM);
    wait_players("wait-m1", "Alice,Bob,Carol");
    /* the server moves: registered at b, and the room's players transferred to it */
    put_server("s1", b.port);
    ck_assert_int_eq(call("POST", "/v1/transfers",
                          "{\"migration_id\":\"m1\",\"from\":\"wait-m1\",\"to\":\"s1\",\"message\":\"willkommen\"}",
                          "m1.1", "1", &o),
                     200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), "Alice,Bob,Carol");
    cJSON_Delete(o);
    cl_expect_transfer(&alice, false);
    cl_expect_transfer(&bob, false);
    cl_expect_transfer(&carol, false);
    int before = backend_logins(&b);
    ck_assert_int_eq(cl_login(&alice, game_port, "127.0.0.1", MCPROTO_INTENT_TRANSFER, "Alice", PV, why, sizeof why),
                     MET_PLAY);
    /* Bob follows it as a new login (intent 2), as a minecraft-protocol bot does */
    ck_assert_int_eq(cl_login(&bob, game_port, "127.0.0.1", MCPROTO_INTENT_LOGIN, "Bob", MCPROTO_PV_1_21, why,
                              sizeof why),
                     MET_PLAY);
    ck_assert_int_eq(cl_login(&carol, game_port, "127.0.0.1", MCPROTO_INTENT_TRANSFER, "Carol", PV, why, sizeof why),
                     MET_PLAY);
    wait_logins(&b, before + 3);
    ck_assert_int_eq(b.last_intent, MCPROTO_INTENT_LOGIN); /* rewritten for the backend */
    wait_players("s1", "Alice,Bob,Carol");
    wait_players("wait-m1", "");
    ck_assert_int_eq(call("DELETE", "/v1/waiting-rooms/wait-m1", NULL, "m1", "1", NULL), 204);
    ck_assert_int_eq(call("DELETE", "/v1/waiting-rooms/wait-m1", NULL, "m1", "1", NULL), 404);
    /* the metrics count what happened */
    char url[128];
    http_resp_t mr;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
    ck_assert_int_eq(http_call("GET", url, NULL, NULL, NULL, &mr), 0);
    ck_assert_ptr_nonnull(strstr(mr.body, "mig_router_players_transferred_total 5\n"));
    ck_assert_ptr_nonnull(strstr(mr.body, "mig_router_players_held_total 3\n"));
    http_resp_free(&mr);
    close(alice.fd);
    close(bob.fd);
    close(carol.fd);
}
END_TEST

START_TEST(test_router_old_client_told_to_come_back) {
    router_start(NULL);
    backend_t a;
    backend_start(&a, false, false);
    put_server("s1", a.port);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m1\"}", "m1", "1", NULL), 201);
    cJSON *o = NULL;
    ck_assert_int_eq(call("POST", "/v1/transfers", "{\"migration_id\":\"m1\",\"from\":\"s1\",\"to\":\"wait-m1\"}",
                          "m1.1", "1", &o),
                     200);
    cJSON_Delete(o);
    static stream_t s;
    char why[512];
    ck_assert_int_eq(cl_login(&s, game_port, "s1.mc.test", 2, "Old", 765, why, sizeof why), MET_DISCONNECT);
    ck_assert_msg(strstr(why, "Server wird migriert... bitte warten") && strstr(why, "reconnect in about 60 s"),
                  "reason: %s", why);
    close(s.fd);
}
END_TEST

START_TEST(test_router_fencing_refuses_stale_and_missing_tokens) {
    router_start(NULL);
    cJSON *o = NULL;
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m2\"}", "m2", "5", NULL), 201);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-x\"}", "m2", "3", &o), 409);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "code")->valuestring, "stale_token");
    cJSON_Delete(o);
    ck_assert_int_eq(call("GET", "/v1/servers/wait-x/players", NULL, NULL, NULL, NULL), 404); /* nothing made */
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-x\"}", "m2", NULL, &o), 400);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "code")->valuestring, "missing_token");
    cJSON_Delete(o);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-x\"}", "m2", "12a", NULL), 400);
    ck_assert_int_eq(call("PUT", "/v1/servers/s9", "{\"address\":\"127.0.0.1:1\",\"migration_id\":\"m2\"}", NULL, "4",
                          NULL),
                     409);
    ck_assert_int_eq(call("PUT", "/v1/servers/s9", "{\"address\":\"127.0.0.1:1\",\"migration_id\":\"m2\"}", NULL, "6",
                          NULL),
                     200);
    /* a kill -9 and a restart: the highest is on disk, and so are the servers and rooms */
    kill(router_pid, SIGKILL);
    harness_wait(router_pid, WAIT_MS);
    router_start(NULL);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m2\"}", "m2", "5", NULL), 409);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m2\"}", "m2", "6", NULL), 200);
    ck_assert_int_eq(call("GET", "/v1/servers/s9/players", NULL, NULL, NULL, NULL), 200);
    /* without the bearer: 401 */
    char url[128];
    http_resp_t r;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/servers", http_port);
    ck_assert_int_eq(http_call("GET", url, NULL, NULL, NULL, &r), 0);
    long st = r.status;
    http_resp_free(&r);
    ck_assert_int_eq(st, 401);
}
END_TEST

START_TEST(test_router_transfers_idempotent_under_key) {
    router_start(NULL);
    backend_t a;
    backend_start(&a, false, false);
    put_server("s1", a.port);
    put_server("s2", a.port);
    static stream_t x, y;
    char why[512], moved[256];
    ck_assert_int_eq(cl_login(&x, game_port, "s1.mc.test", 2, "Xavi", PV, why, sizeof why), MET_PLAY);
    ck_assert_int_eq(call("POST", "/v1/waiting-rooms", "{\"name\":\"wait-m3\"}", "m3", "1", NULL), 201);
    const char *body = "{\"migration_id\":\"m3\",\"from\":\"s1\",\"to\":\"wait-m3\"}";
    cJSON *o = NULL;
    ck_assert_int_eq(call("POST", "/v1/transfers", body, "m3.1", "1", &o), 200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), "Xavi");
    cJSON_Delete(o);
    cl_expect_transfer(&x, true);
    /* a retry answers the same players and sends nobody a second Transfer */
    ck_assert_int_eq(call("POST", "/v1/transfers", body, "m3.1", "1", &o), 200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), "Xavi");
    cJSON_Delete(o);
    /* another attempt's key counts only its own: nobody is on s1 now */
    ck_assert_int_eq(call("POST", "/v1/transfers", body, "m3.2", "1", &o), 200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), "");
    cJSON_Delete(o);
    /* from = to: players still on an older address reconnect to the present one */
    ck_assert_int_eq(cl_login(&y, game_port, "s2.mc.test", 2, "Yara", PV, why, sizeof why), MET_PLAY);
    backend_t b;
    backend_start(&b, false, false);
    put_server("s2", b.port);
    ck_assert_int_eq(call("POST", "/v1/transfers", "{\"migration_id\":\"m3\",\"from\":\"s2\",\"to\":\"s2\"}", "m3.1",
                          "1", &o),
                     200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), "Yara");
    cJSON_Delete(o);
    cl_expect_transfer(&y, true);
    ck_assert_int_eq(cl_login(&y, game_port, "127.0.0.1", MCPROTO_INTENT_TRANSFER, "Yara", PV, why, sizeof why),
                     MET_PLAY);
    wait_logins(&b, 1);
    ck_assert_int_eq(call("POST", "/v1/transfers", "{\"migration_id\":\"m3\",\"from\":\"s2\",\"to\":\"s2\"}", "m3.9",
                          "1", &o),
                     200);
    ck_assert_str_eq(names_of(o, "moved", moved, sizeof moved), ""); /* on the present address: stays */
    cJSON_Delete(o);
    /* unknown names, and a server that does not accept connections */
    ck_assert_int_eq(call("POST", "/v1/transfers", "{\"migration_id\":\"m3\",\"from\":\"zz\",\"to\":\"s1\"}", "m3.1",
                          "1", NULL),
                     404);
    ck_assert_int_eq(call("PUT", "/v1/servers/dead", "{\"address\":\"127.0.0.1:1\"}", NULL, NULL, NULL), 200);
    ck_assert_int_eq(call("POST", "/v1/transfers", "{\"migration_id\":\"m3\",\"from\":\"s1\",\"to\":\"dead\"}", "m3.1",
                          "1", &o),
                     409);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "code")->valuestring, "target_down");
    cJSON_Delete(o);
    close(y.fd);
}
END_TEST

Suite *suite_router(void) {
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_router_routes_login_to_registered_backend);
    tcase_add_test(tc, test_router_splices_bytes_untouched_both_ways);
    tcase_add_test(tc, test_router_unknown_host_gets_login_disconnect);
    tcase_add_test(tc, test_router_cuts_slow_handshake);
    tcase_add_test(tc, test_router_limits_connections_per_ip);
    tcase_add_test(tc, test_router_waiting_room_holds_and_transfers_back);
    tcase_add_test(tc, test_router_old_client_told_to_come_back);
    tcase_add_test(tc, test_router_fencing_refuses_stale_and_missing_tokens);
    tcase_add_test(tc, test_router_transfers_idempotent_under_key);
    tcase_add_test(tc, test_router_serves_on_after_a_backend_hangs_up_first);
    suite_add_tcase(s, tc);
    return s;
}
