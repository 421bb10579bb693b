/* strbuf.c - the one string builder: growing on the heap, or fixed over a caller's buffer. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_FIRST_CAP 256 /* a growing builder's first buffer: most lines fit it */

/* Makes room for `more` bytes and the NUL in a growing builder. Returns 0, or -1 (marked
 * failed) when it cannot. */
static int grow(strbuf_t *b, size_t more) {
    if (b->failed) return -1;
    if (more > (size_t)-1 / 2 - b->n) goto fail; /* the doubling below would wrap */
    if (b->n + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : STRBUF_FIRST_CAP;
    while (cap < b->n + more + 1) cap *= 2;
    char *g = realloc(b->s, cap);
    if (g == NULL) goto fail;
    b->s = g;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

void strbuf_init_fixed(strbuf_t *b, char *buf, size_t cap) {
    *b = (strbuf_t){buf, 0, cap, 1, 0};
    if (cap > 0) buf[0] = '\0';
}

void strbuf_add(strbuf_t *b, const void *p, size_t len) {
    if (b->fixed) {
        if (b->n + 1 < b->cap) { /* room before the NUL's byte */
            size_t room = b->cap - 1 - b->n;
            size_t w = len < room ? len : room;
            memcpy(b->s + b->n, p, w);
            b->s[b->n + w] = '\0';
        }
        b->n += len;
        return;
    }
    if (grow(b, len) != 0) return;
    if (len) memcpy(b->s + b->n, p, len);
    b->n += len;
    b->s[b->n] = '\0';
}

void strbuf_puts(strbuf_t *b, const char *s) {
    strbuf_add(b, s, strlen(s));
}

void strbuf_printf(strbuf_t *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->n < b->cap ? b->cap - b->n : 0;
    int w = vsnprintf(room ? b->s + b->n : NULL, room, fmt, ap);
    va_end(ap);
    if (w < 0) {
        if (!b->fixed) b->failed = 1;
        return;
    }
    if (b->fixed || (size_t)w < room) { /* fixed: what fits is written; all is counted */
        b->n += (size_t)w;
        return;
    }
    if (grow(b, (size_t)w) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)w + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)w;
}

int strbuf_whole(const strbuf_t *b) {
    return !b->failed && (!b->fixed || b->n < b->cap);
}

char *strbuf_done(strbuf_t *b) {
    char *s = b->s;
    if (b->failed) {
        free(s);
        s = NULL;
    } else if (s == NULL) {
        s = calloc(1, 1);
    }
    *b = (strbuf_t)STRBUF_INIT;
    return s;
}

void strbuf_free(strbuf_t *b) {
    if (!b->fixed) free(b->s);
    *b = (strbuf_t)STRBUF_INIT;
}
