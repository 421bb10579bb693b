/* log.c - JSON lines on stderr, one write(2) each, safe to call from any thread. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redisurl.h"
#include "strbuf.h"
#include "timefmt.h"

/* Set once by log_init() before any thread starts, read-only afterwards: the only state
 * this module keeps, so concurrent log_at() calls share nothing they write. */
static char program[64] = "mig"; /* long enough for any of our program names */
static log_level_t min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Lines up to this size are built on the stack; most are a few hundred bytes, and longer
 * ones (an error message quoting a driver's reply) take one heap allocation. */
#define LINE_STACK 2048

void log_init(const char *prog, log_level_t min) {
    if (prog != NULL) snprintf(program, sizeof program, "%s", prog);
    if ((unsigned)min <= LOG_ERROR) min_level = min;
}

int log_level_parse(const char *name) {
    if (name == NULL) return -1;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

int log_enabled(log_level_t level) {
    return (unsigned)level <= LOG_ERROR && level >= min_level;
}

/* ---- building a line ------------------------------------------------------------------ */

/* Lines are built by a fixed core/strbuf.h builder over a stack buffer: its `n` counts
 * every byte asked for, so one pass into the small buffer also measures the line. */

/* Length of the well-formed UTF-8 sequence at `s` (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 when the byte there starts none. The NUL ends
 * every continuation check, so it never reads past the string. */
static size_t utf8_len(const unsigned char *s) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

/* Writes `s` as a JSON string. Quotes, backslashes and control characters are escaped;
 * bytes that are not UTF-8 (a driver's reply may hold anything) become U+FFFD, so every
 * line stays valid JSON for the collector that reads it. */
static void put_json_str(strbuf_t *o, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    strbuf_add(o, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        size_t n;
        /* copy plain runs in one go; stop at what needs an escape */
        while (*p >= 0x20 && *p != '"' && *p != '\\' && (n = utf8_len(p)) != 0) p += n;
        if (p > run) strbuf_add(o, (const char *)run, (size_t)(p - run));
        if (*p == '\0') break;
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            strbuf_add(o, esc, 2);
        } else if (*p < 0x20) {
            char esc[7];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
            strbuf_add(o, esc, 6);
        } else {
            strbuf_add(o, "\\ufffd", 6);
        }
        p++;
    }
    strbuf_add(o, "\"", 1);
}

static void put_field(strbuf_t *o, const char *key, const char *value) {
    strbuf_add(o, ",", 1);
    put_json_str(o, key);
    strbuf_add(o, ":", 1);
    if (value == NULL) {
        strbuf_puts(o, "null");
    } else if (redisurl_has_secret(value)) {
        /* a Redis URL in an error text: its password never reaches a log */
        size_t cap = 2 * strlen(value) + 16; /* each "://@" (4 bytes) grows by at most 3 */
        char *shown = malloc(cap);
        put_json_str(o, shown ? redisurl_mask(value, shown, cap) : "(masked)");
        free(shown);
    } else {
        put_json_str(o, value);
    }
}

/* Renders the whole line, newline included, into `o`; consumes `ap`. */
static void render(strbuf_t *o, const char *ts, log_level_t level, const char *event, va_list ap) {
    strbuf_puts(o, "{\"ts\":\"");
    strbuf_puts(o, ts);
    strbuf_puts(o, "\",\"level\":\"");
    strbuf_puts(o, level_names[level]);
    strbuf_puts(o, "\",\"program\":");
    put_json_str(o, program);
    strbuf_puts(o, ",\"event\":");
    if (event != NULL) put_json_str(o, event);
    else strbuf_puts(o, "null");
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL) break;
        put_field(o, key, va_arg(ap, const char *));
    }
    strbuf_add(o, "}\n", 2);
}

/* Writes the line to stderr. A pipe takes a write of up to PIPE_BUF bytes whole, so lines
 * of concurrent threads never interleave there; a longer one may be split by the kernel
 * and the loop finishes it. Errors are dropped: there is nowhere left to report them. */
static void emit(const char *line, size_t len) {
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, line, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        line += w;
        len -= (size_t)w;
    }
}

void log_at(log_level_t level, const char *event, ...) {
    if (!log_enabled(level)) return;
    int saved_errno = errno; /* callers log and then read errno of the failure they log */
    char ts[TIMEFMT_RFC3339_LEN + 1];
    timefmt_rfc3339(timefmt_now_ms(), ts);

    char stack[LINE_STACK];
    strbuf_t o;
    strbuf_init_fixed(&o, stack, sizeof stack);
    va_list ap, again;
    va_start(ap, event);
    va_copy(again, ap);
    render(&o, ts, level, event, ap);
    va_end(ap);
    if (strbuf_whole(&o)) {
        emit(stack, o.n);
    } else {
        char *big = malloc(o.n + 1);
        if (big != NULL) {
            strbuf_t b;
            strbuf_init_fixed(&b, big, o.n + 1);
            render(&b, ts, level, event, again);
            emit(big, b.n);
            free(big);
        } else {
            /* out of memory: still say that something was to be logged */
            strbuf_t s;
            strbuf_init_fixed(&s, stack, sizeof stack);
            strbuf_puts(&s, "{\"ts\":\"");
            strbuf_puts(&s, ts);
            strbuf_puts(&s, "\",\"level\":\"error\",\"program\":");
            put_json_str(&s, program);
            strbuf_puts(&s, ",\"event\":\"log.line_dropped\",\"reason\":\"out of memory\"}\n");
            emit(stack, s.n);
        }
    }
    va_end(again);
    errno = saved_errno;
}
