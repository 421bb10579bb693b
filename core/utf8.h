/* utf8.h - UTF-8 as RFC 3629 has it (no overlong forms, no surrogates, nothing past
 * U+10FFFF): checking text that came from outside, cutting it on a character's boundary,
 * and repairing it where it must go out anyway. Pure.
 *
 * Why: a WebSocket text frame must be UTF-8, and a browser closes the connection on one
 * that is not; a dashboard that then reconnects with ?since= gets the same event again and
 * loops. So text is refused where it enters (the API's bodies), texts are cut where a
 * character ends, and the event relay repairs what got in by another way. */
#ifndef MIG_UTF8_H
#define MIG_UTF8_H

#include <stddef.h>

/* The length of the longest valid UTF-8 prefix of the `n` bytes at `s`: `n` when all of
 * it is valid, else the offset of the first byte that starts no valid sequence (a stray
 * continuation byte, 0xC0, 0xFF, an overlong or surrogate form, a sequence cut short). */
size_t utf8_valid_prefix(const char *s, size_t n);

/* The largest length up to `max` at which the valid UTF-8 text `s` of `n` bytes can be cut
 * without splitting a character: `n` when n <= max. */
size_t utf8_cut(const char *s, size_t n, size_t max);

/* Bytes utf8_repair() writes for the `n` bytes at `s`: each byte that starts no valid
 * sequence becomes U+FFFD (3 bytes), the rest stay. */
size_t utf8_repaired_len(const char *s, size_t n);

/* Copies the `n` bytes at `s` into `out` (room for utf8_repaired_len() bytes), each byte
 * that starts no valid sequence replaced by U+FFFD, as a browser's decoder shows it;
 * returns the bytes written. */
size_t utf8_repair(const char *s, size_t n, char *out);

/* Makes the NUL-terminated `s` valid in place, for a text that was cut at a fixed size
 * (snprintf): an incomplete character at its end is dropped, and any other byte that
 * starts no valid sequence becomes '?'. */
void utf8_sanitize(char *s);

#endif
