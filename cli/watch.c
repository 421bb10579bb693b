/* watch.c - migratectl's WebSocket client of GET /api/ws, with reconnects. */
#include "cli/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/wsframe.h"
#include "cli/format.h"
#include "cli/wsproto.h"
#include "core/err.h"
#include "core/evid.h"
#include "core/timefmt.h"

#define SLICE_MS 250 /* longest block in poll(2): how soon a signal's stop is seen */

/* How one connection ended. */
typedef enum {
    W_CONT,    /* (of one frame) read on */
    W_STOP,    /* asked to stop, or stdout closed: exit 0 */
    W_DROP,    /* the link failed or the server closed it: reconnect */
    W_RESYNC,  /* the server could not replay from `since`: reconnect without it */
    W_FAIL,    /* give up with w->exit */
} outcome_t;

/* One watch: its settings, the connection, and what survives reconnects. */
typedef struct {
    const cli_args_t *a;
    const cli_url_t *u;
    volatile sig_atomic_t *stop;
    int fd;
    unsigned char *buf;           /* bytes read and not yet used */
    size_t n, cap;
    char *msg;                    /* a message being put together from its frames */
    size_t msg_len;
    wsframe_msg_t frames;         /* where the reader is between a message's frames */
    char since[EVID_TEXT_MAX];    /* the last event id printed: where a reconnect resumes */
    int connected;                /* one upgrade succeeded: failures from now on are drops */
    int upgraded;                 /* the last session's upgrade succeeded */
    int exit;                     /* exit code of W_FAIL */
    char why[256];                /* why the last connection ended, for the note on stderr */
} watch_t;

/* Sleeps `ms` in slices, returning early when asked to stop. */
static void nap(watch_t *w, int ms) {
    for (int64_t end = timefmt_mono_ms() + ms; !*w->stop && timefmt_mono_ms() < end;) {
        int64_t left = end - timefmt_mono_ms();
        timefmt_sleep_ms(left < SLICE_MS ? left : SLICE_MS);
    }
}

/* ------------------------------------------------------------------------ socket */

/* Connects to the API's host and port within WATCH_CONNECT_TIMEOUT_MS. Returns a
 * non-blocking socket, or -1 with the reason in w->why. */
static int tcp_connect(watch_t *w) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", w->u->port);
    int gai = getaddrinfo(w->u->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(w->why, sizeof w->why, "%.100s: %s", w->u->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(w->why, sizeof w->why, "socket: %s", strerror(errno));
            continue;
        }
        int err = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                int64_t end = timefmt_mono_ms() + WATCH_CONNECT_TIMEOUT_MS;
                int r = 0;
                while (!*w->stop && (r = poll(&p, 1, SLICE_MS)) == 0 && timefmt_mono_ms() < end) {
                }
                socklen_t sl = sizeof err;
                if (r > 0)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
                else
                    err = *w->stop ? EINTR : ETIMEDOUT;
            }
        }
        if (err != 0) {
            snprintf(w->why, sizeof w->why, "connect to %.100s:%d: %s", w->u->host, w->u->port, strerror(err));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Writes all of `p` within the connect timeout. Returns 0 or -1. */
static int send_all(watch_t *w, const void *p, size_t n) {
    const char *s = p;
    int64_t end = timefmt_mono_ms() + WATCH_CONNECT_TIMEOUT_MS;
    while (n > 0) {
        ssize_t k = send(w->fd, s, n, MSG_NOSIGNAL);
        if (k > 0) {
            s += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR) break;
        struct pollfd pf = {.fd = w->fd, .events = POLLOUT};
        if (timefmt_mono_ms() >= end) break;
        poll(&pf, 1, SLICE_MS);
    }
    if (n == 0) return 0;
    snprintf(w->why, sizeof w->why, "send: %s", errno ? strerror(errno) : "timed out");
    return -1;
}

/* Reads what has arrived into w->buf, waiting up to `ms`. Returns the bytes read, 0 at
 * the end of the stream, -1 on an error, -2 when `ms` passed, -3 when asked to stop;
 * w->why says which. */
static long read_more(watch_t *w, int ms) {
    if (w->cap - w->n < 4096) {
        size_t cap = w->cap ? w->cap * 2 : 16384;
        unsigned char *g = realloc(w->buf, cap);
        if (g == NULL) {
            snprintf(w->why, sizeof w->why, "out of memory");
            return -1;
        }
        w->buf = g;
        w->cap = cap;
    }
    for (int64_t end = timefmt_mono_ms() + ms;;) {
        if (*w->stop) return -3;
        ssize_t k = recv(w->fd, w->buf + w->n, w->cap - w->n, 0);
        if (k > 0) {
            w->n += (size_t)k;
            return k;
        }
        if (k == 0) {
            snprintf(w->why, sizeof w->why, "the API closed the connection");
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR) {
            snprintf(w->why, sizeof w->why, "recv: %s", strerror(errno));
            return -1;
        }
        int64_t left = end - timefmt_mono_ms();
        if (left <= 0) {
            snprintf(w->why, sizeof w->why, "no message or ping for %d s", ms / 1000);
            return -2;
        }
        struct pollfd pf = {.fd = w->fd, .events = POLLIN};
        poll(&pf, 1, left < SLICE_MS ? (int)left : SLICE_MS);
    }
}

/* Drops the first `k` bytes of w->buf. */
static void consume(watch_t *w, size_t k) {
    memmove(w->buf, w->buf + k, w->n - k);
    w->n -= k;
}

/* Sends one masked frame, as every client frame must be (RFC 6455 5.3). */
static int send_frame(watch_t *w, int opcode, const void *payload, size_t len) {
    unsigned char frame[WSFRAME_HEADER_MAX + WSFRAME_CONTROL_MAX], mask[4];
    if (len > WSFRAME_CONTROL_MAX || getrandom(mask, sizeof mask, 0) != (ssize_t)sizeof mask) return -1;
    return send_all(w, frame, wsframe_write(frame, opcode, payload, len, mask));
}

/* ------------------------------------------------------------------------ handshake */

/* Prints the API's refusal of the upgrade: its error code and message when the body is
 * the API's JSON error, else the status. */
static void print_refusal(watch_t *w, int status, const char *body) {
    cJSON *j = cJSON_Parse(body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(code) && cJSON_IsString(msg))
        snprintf(w->why, sizeof w->why, "%s: %s", code->valuestring, msg->valuestring);
    else
        snprintf(w->why, sizeof w->why, "HTTP %d from GET /api/ws", status);
    cJSON_Delete(j);
}

/* Sends the upgrade request and reads the answer. Returns 101 when upgraded (the bytes
 * after the head stay in w->buf), another HTTP status with the refusal in w->why, or
 * -1 when the link failed or the answer is not a WebSocket's. */
static int upgrade(watch_t *w) {
    unsigned char nonce[WSPROTO_NONCE_LEN];
    char key[WSPROTO_KEY_LEN + 1], req[4096], path[3072];
    if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
        snprintf(w->why, sizeof w->why, "getrandom: %s", strerror(errno));
        return -1;
    }
    wsproto_key(nonce, key);
    char *ws = args_ws_path(w->a, w->since);
    int pl = ws ? snprintf(path, sizeof path, "%s%s", w->u->prefix, ws) : -1;
    free(ws);
    const char *token = w->a->token && w->a->token[0] ? w->a->token : NULL;
    int rl = pl > 0 && (size_t)pl < sizeof path
                 ? wsproto_request(req, sizeof req, w->u->host, w->u->port, path, key, token)
                 : -1;
    if (rl < 0) {
        snprintf(w->why, sizeof w->why, "the request does not fit (a filter or token too long, or with a newline)");
        return -1;
    }
    if (send_all(w, req, (size_t)rl) != 0) return -1;
    size_t head;
    int64_t end = timefmt_mono_ms() + WATCH_CONNECT_TIMEOUT_MS;
    while ((head = wsproto_head_len((char *)w->buf, w->n)) == 0) {
        if (w->n > WSPROTO_HEAD_MAX) {
            snprintf(w->why, sizeof w->why, "the answer's head is too long");
            return -1;
        }
        int64_t left = end - timefmt_mono_ms();
        if (left <= 0 || read_more(w, (int)left) <= 0) {
            if (left <= 0) snprintf(w->why, sizeof w->why, "no answer to the upgrade");
            return -1;
        }
    }
    char err[128];
    int status = wsproto_check_answer((char *)w->buf, head, key, err, sizeof err);
    if (status == 101) {
        consume(w, head);
        return 101;
    }
    if (status < 0) {
        snprintf(w->why, sizeof w->why, "GET /api/ws: %s", err);
        return -1;
    }
    /* a refusal: its JSON body up to Content-Length, or to the end of the stream */
    char cl[32];
    size_t want = wsproto_header((char *)w->buf, head, "Content-Length", cl, sizeof cl) ? (size_t)atol(cl) : 65536;
    if (want > 65536) want = 65536;
    while (w->n - head < want && read_more(w, WATCH_CONNECT_TIMEOUT_MS) > 0) {
    }
    size_t bl = w->n - head < want ? w->n - head : want;
    char *body = malloc(bl + 1);
    if (body) {
        memcpy(body, w->buf + head, bl);
        body[bl] = '\0';
    }
    print_refusal(w, status, body ? body : "");
    free(body);
    return status;
}

/* ------------------------------------------------------------------------ messages */

/* Prints one event and remembers its id. Returns W_CONT to go on, W_RESYNC after a
 * resync message, W_STOP when stdout is closed. */
static outcome_t on_message(watch_t *w, const char *text, size_t len) {
    cJSON *ev = cJSON_ParseWithLength(text, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "event_id");
    int resync = cJSON_IsString(type) && strcmp(type->valuestring, "resync") == 0;
    evid_t parsed;
    /* only an id the relay would take back in ?since= becomes the resume point */
    if (cJSON_IsString(id) && evid_parse(id->valuestring, strlen(id->valuestring), &parsed) == 0)
        evid_format(parsed, w->since);
    if (w->a->json) {
        fwrite(text, 1, len, stdout); /* as the API sent it, for scripts */
        fputc('\n', stdout);
    } else if (ev != NULL) {
        char *line = format_event(ev);
        if (line) {
            fputs(line, stdout);
            fputc('\n', stdout);
            free(line);
        }
    }
    cJSON_Delete(ev);
    /* a pipe reader that went away (`| head -1`) ends the watch quietly */
    if (fflush(stdout) != 0 || ferror(stdout)) return W_STOP;
    if (resync) {
        w->since[0] = '\0';
        return W_RESYNC;
    }
    return W_CONT;
}

/* Handles the frame at the start of w->buf (whole, header `h`). Returns W_CONT to go
 * on reading, or how the connection ends. */
static outcome_t on_frame(watch_t *w, const wsframe_header_t *h) {
    const unsigned char *p = w->buf + h->header_len;
    size_t len = (size_t)h->len;
    switch (h->opcode) {
    case WSFRAME_OP_PING:
        /* the API closes a client that leaves its pings unanswered */
        return send_frame(w, WSFRAME_OP_PONG, p, len) == 0 ? W_CONT : W_DROP;
    case WSFRAME_OP_PONG: return W_CONT;
    case WSFRAME_OP_CLOSE: {
        int code = wsframe_close_code(p, len);
        unsigned char echo[2] = {(unsigned char)(code >> 8), (unsigned char)code};
        send_frame(w, WSFRAME_OP_CLOSE, echo, code == WSFRAME_CLOSE_NO_STATUS ? 0 : 2);
        snprintf(w->why, sizeof w->why, "the API closed the WebSocket (%d%s)", code,
                 code == WSFRAME_CLOSE_GOING_AWAY ? ", going away" : code == WSFRAME_CLOSE_POLICY ? ", too slow" : "");
        return W_DROP;
    }
    default: break;
    }
    /* text, binary or a continuation: put the message together */
    int first = h->opcode != WSFRAME_OP_CONT;
    int end = wsframe_msg_step(&w->frames, h);
    if (end < 0) {
        snprintf(w->why, sizeof w->why, "a continuation frame without a first frame, or a message inside another");
        return W_DROP;
    }
    if (first) w->msg_len = 0;
    if (w->msg_len + len > WATCH_MESSAGE_MAX) {
        snprintf(w->why, sizeof w->why, "a message over %d bytes", WATCH_MESSAGE_MAX);
        return W_DROP;
    }
    char *g = realloc(w->msg, w->msg_len + len + 1);
    if (g == NULL) {
        snprintf(w->why, sizeof w->why, "out of memory");
        return W_DROP;
    }
    w->msg = g;
    memcpy(w->msg + w->msg_len, p, len);
    w->msg_len += len;
    w->msg[w->msg_len] = '\0';
    return end ? on_message(w, w->msg, w->msg_len) : W_CONT;
}

/* Reads frames until the connection ends. Returns how it ended. */
static outcome_t read_frames(watch_t *w) {
    int64_t last = timefmt_mono_ms();
    for (;;) {
        wsframe_header_t h;
        int rv = wsframe_header_parse(w->buf, w->n, WSFRAME_FROM_SERVER, &h);
        if (rv < 0 || (rv == 1 && h.len > WATCH_MESSAGE_MAX)) {
            snprintf(w->why, sizeof w->why, "a malformed frame from the API");
            return W_DROP;
        }
        if (rv == 1 && w->n >= h.header_len + h.len) {
            outcome_t o = on_frame(w, &h);
            consume(w, h.header_len + (size_t)h.len);
            last = timefmt_mono_ms();
            if (o != W_CONT) return o;
            continue;
        }
        int64_t left = last + WATCH_IDLE_MS - timefmt_mono_ms();
        long got = read_more(w, left > 0 ? (int)left : 0);
        if (got == -3) return W_STOP;
        if (got <= 0) return W_DROP;
    }
}

/* ------------------------------------------------------------------------ the loop */

/* One connection: connect, upgrade, read until it ends. */
static outcome_t session(watch_t *w) {
    w->n = 0;
    w->frames = (wsframe_msg_t){0};
    w->upgraded = 0;
    if ((w->fd = tcp_connect(w)) < 0) return *w->stop ? W_STOP : W_DROP;
    outcome_t o = W_DROP;
    int status = upgrade(w);
    if (status == 101) {
        if (w->connected)
            fprintf(stderr, "migratectl: watch: reconnected%s%s\n", w->since[0] ? ", resuming after " : "",
                    w->since);
        w->connected = w->upgraded = 1;
        o = read_frames(w);
        if (o == W_STOP || o == W_RESYNC) { /* a polite end: close 1000 */
            unsigned char p[WSFRAME_CONTROL_MAX];
            send_frame(w, WSFRAME_OP_CLOSE, p, wsframe_close_payload(p, WSFRAME_CLOSE_NORMAL, "bye"));
        }
    } else if (status >= 400 && status < 500) {
        /* refused on purpose: retrying would be refused again */
        w->exit = args_exit_code(status);
        o = W_FAIL;
    }
    close(w->fd);
    w->fd = -1;
    return o;
}

int watch_run(const cli_args_t *a, const cli_url_t *u, volatile sig_atomic_t *stop) {
    watch_t w = {.a = a, .u = u, .stop = stop, .fd = -1, .exit = CLI_EXIT_UNREACHABLE};
    if (u->tls) {
        fprintf(stderr, "migratectl: watch: the API serves WebSockets over http:// only, not %s\n",
                a->api_url ? a->api_url : "https");
        return CLI_EXIT_USAGE;
    }
    if (a->since) snprintf(w.since, sizeof w.since, "%s", a->since);
    int backoff = WATCH_BACKOFF_MIN_MS, rv = CLI_EXIT_OK;
    while (!*stop) {
        outcome_t o = session(&w);
        if (o == W_STOP) break;
        if (o == W_FAIL) {
            fprintf(stderr, "migratectl: watch: %s\n", w.why);
            rv = w.exit;
            break;
        }
        if (!w.connected) { /* never reached the API: a script learns it at once */
            fprintf(stderr, "migratectl: watch: cannot reach the API at %s: %s\n", a->api_url, w.why);
            rv = CLI_EXIT_UNREACHABLE;
            break;
        }
        if (o == W_RESYNC) {
            fprintf(stderr, "migratectl: watch: events were trimmed; going on from the live ones\n");
            continue;
        }
        if (w.upgraded) { /* a link that worked: say so once, and retry soon */
            fprintf(stderr, "migratectl: watch: %s; reconnecting\n", w.why);
            backoff = WATCH_BACKOFF_MIN_MS;
        }
        nap(&w, backoff);
        backoff = backoff * 2 > WATCH_BACKOFF_MAX_MS ? WATCH_BACKOFF_MAX_MS : backoff * 2;
    }
    free(w.buf);
    free(w.msg);
    return rv;
}
