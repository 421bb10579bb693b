/* strbuf.h - the one string builder: bytes, text and printf appended to a buffer that
 * either grows on the heap or is the caller's, fixed. Pure: no I/O. Escaping belongs to
 * the callers (JSON in core/log.c, control characters in cli/format.c); this only holds
 * the bytes.
 *
 * Memory. A growing builder (STRBUF_INIT) owns its text: strbuf_done() hands it to the
 * caller, who frees it with free(); strbuf_free() drops it instead. An allocation that
 * fails is not reported at each append: the builder marks itself failed, later appends
 * do nothing, and strbuf_done() answers NULL, so a caller checks once, at the end. A
 * fixed builder (strbuf_init_fixed) writes into the caller's buffer and never allocates:
 * it keeps the text NUL-terminated, writes what fits, and counts every byte asked for in
 * `n`, as snprintf does, so that one pass also measures what a second needs. */
#ifndef MIG_STRBUF_H
#define MIG_STRBUF_H

#include <stddef.h>

typedef struct {
    char *s;    /* the text, NUL-terminated once the buffer has a byte */
    size_t n;   /* bytes appended, those that did not fit a fixed buffer included */
    size_t cap; /* bytes of s */
    int fixed;  /* 1: s is the caller's buffer and never grows */
    int failed; /* 1: a growth failed; the text is incomplete and strbuf_done answers NULL */
} strbuf_t;

/* An empty growing builder; its first append allocates. */
#define STRBUF_INIT {NULL, 0, 0, 0, 0}

/* Makes `b` a fixed builder over the caller's `buf` of `cap` bytes (may be 0), empty. */
void strbuf_init_fixed(strbuf_t *b, char *buf, size_t cap);

/* Appends `len` bytes of `p`. */
void strbuf_add(strbuf_t *b, const void *p, size_t len);

/* Appends the string `s`. */
void strbuf_puts(strbuf_t *b, const char *s);

/* Appends printf's text of `fmt`; a format error marks a growing builder failed. */
void strbuf_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 when the text is whole: no growth failed and, fixed, it fitted with its NUL. */
int strbuf_whole(const strbuf_t *b);

/* A growing builder's text, handed to the caller (free() it), "" when nothing was
 * appended; NULL, with the text freed, after a failed growth. `b` is empty after. */
char *strbuf_done(strbuf_t *b);

/* Frees a growing builder's text and empties it; a fixed one is only emptied. */
void strbuf_free(strbuf_t *b);

#endif
