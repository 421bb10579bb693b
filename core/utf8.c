/* utf8.c - checking, cutting and repairing UTF-8 (utf8.h). */
#include "utf8.h"

#include <string.h>

/* Length of the valid sequence at `s` (`n` bytes left), or 0 when none starts there. */
static size_t seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0; /* below: overlong */
        if (c == 0xed) hi = 0x9f; /* above: surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90; /* below: overlong */
        if (c == 0xf4) hi = 0x8f; /* above: past U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return len;
}

size_t utf8_valid_prefix(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        size_t k = seq_len(p + i, n - i);
        if (k == 0) return i;
        i += k;
    }
    return n;
}

size_t utf8_cut(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t at = max;
    /* back over continuation bytes to the start of the character that crosses `max` */
    while (at > 0 && ((unsigned char)s[at] & 0xc0) == 0x80) at--;
    return at;
}

size_t utf8_repaired_len(const char *s, size_t n) {
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t k = seq_len((const unsigned char *)s + i, n - i);
        out += k ? k : 3;
        i += k ? k : 1;
    }
    return out;
}

size_t utf8_repair(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = seq_len((const unsigned char *)s + i, n - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

void utf8_sanitize(char *s) {
    size_t n = strlen(s);
    /* an incomplete last character: what a cut at a fixed size leaves */
    size_t start = n;
    while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xc0) == 0x80) start--;
    if (start > 0 && (unsigned char)s[start - 1] >= 0xc0) {
        start--;
        if (seq_len((unsigned char *)s + start, n - start) == 0) {
            size_t need = (unsigned char)s[start] >= 0xf0 ? 4 : (unsigned char)s[start] >= 0xe0 ? 3 : 2;
            if (n - start < need) s[n = start] = '\0';
        }
    }
    for (size_t i = 0; i < n;) {
        size_t k = seq_len((unsigned char *)s + i, n - i);
        if (k == 0) {
            s[i] = '?';
            k = 1;
        }
        i += k;
    }
}
