/* jsonw.c - JSON text into one buffer, as cJSON prints it. */
#include "jsonw.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(jsonw_t *w, size_t gap) {
    *w = (jsonw_t){.gap = gap};
}

void jsonw_free(jsonw_t *w) {
    free(w->buf);
    *w = (jsonw_t){0};
}

const char *jsonw_text(const jsonw_t *w) {
    if (w->failed) return NULL;
    if (w->buf == NULL) return "";
    return w->buf + w->gap;
}

/* Makes room for `n` more bytes and the NUL; false (and failed) when out of memory. */
static bool room(jsonw_t *w, size_t n) {
    if (w->failed) return false;
    size_t need = w->gap + w->len + n + 1;
    if (need <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need) cap *= 2;
    char *b = realloc(w->buf, cap);
    if (b == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = b;
    w->cap = cap;
    return true;
}

void jsonw_raw(jsonw_t *w, const char *s, size_t n) {
    if (!room(w, n)) return;
    memcpy(w->buf + w->gap + w->len, s, n);
    w->len += n;
    w->buf[w->gap + w->len] = '\0';
}

/* The escape letter of a byte that has a short one, 'u' for other control bytes, 0
 * for a byte that goes as it is. */
static char escape_of(unsigned char c) {
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\b': return 'b';
    case '\f': return 'f';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    default: return c < 32 ? 'u' : 0;
    }
}

void jsonw_str(jsonw_t *w, const char *s) {
    if (s == NULL) s = "";
    size_t n = strlen(s);
    if (!room(w, 6 * n + 2)) return; /* every byte escaped as \u00XX at worst */
    char *o = w->buf + w->gap + w->len, *o0 = o;
    *o++ = '"';
    const char *run = s; /* bytes that go as they are, copied in one piece */
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        char e = c ? escape_of(c) : 0;
        if (c && !e) continue;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (c == 0) break;
        if (e == 'u') {
            snprintf(o, 7, "\\u%04x", c);
            o += 6;
        } else {
            *o++ = '\\';
            *o++ = e;
        }
        run = p + 1;
    }
    *o++ = '"';
    w->len += (size_t)(o - o0);
    w->buf[w->gap + w->len] = '\0';
}

void jsonw_key(jsonw_t *w, const char *name) {
    size_t n = strlen(name);
    if (!room(w, n + 3)) return;
    char *o = w->buf + w->gap + w->len;
    o[0] = '"';
    memcpy(o + 1, name, n);
    o[n + 1] = '"';
    o[n + 2] = ':';
    w->len += n + 3;
    w->buf[w->gap + w->len] = '\0';
}

/* cJSON's test of a number that reads back: equal within the larger's epsilon. */
static bool same_double(double a, double b) {
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= m * DBL_EPSILON;
}

void jsonw_reserve(jsonw_t *w, size_t n) {
    if (room(w, n)) w->buf[w->gap + w->len] = '\0';
}

/* Writes the digits of a whole number under 10^15, the text %1.15g gives it (at most 15
 * digits, no exponent), without printf: most numbers of a record are counts and
 * milliseconds, and formatting them as doubles was a tenth of a list page's CPU. */
static void whole_num(jsonw_t *w, double d) {
    char t[24], *o = t + sizeof t;
    unsigned long long v = (unsigned long long)fabs(d);
    do *--o = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (d < 0) *--o = '-';
    jsonw_raw(w, o, (size_t)(t + sizeof t - o));
}

/* Writes d when it is a decimal of at most DECIMAL_PLACES places and |d| in [1e-4, 1e9):
 * the double nearest to digits / 10^k, with k the fewest places that give d back. Such
 * a decimal has at most 15 significant digits and d lies within half an ulp of it, so
 * %1.15g rounds d's exact value to exactly these digits, without an exponent in this
 * range: the same text, without printf and the read-back (money, ratios). False when d
 * is not one. */
#define DECIMAL_PLACES 6
static bool short_decimal(jsonw_t *w, double d) {
    double a = fabs(d), scale = 1;
    if (!(a >= 1e-4 && a < 1e9)) return false;
    for (int k = 1; k <= DECIMAL_PLACES; k++) {
        scale *= 10;
        double digits = round(a * scale);
        if (digits / scale != a) continue;
        unsigned long long v = (unsigned long long)digits;
        char t[32], *o = t + sizeof t;
        /* the last place is not 0: with it, k - 1 places would have given d back */
        for (int i = 0; i < k; i++, v /= 10) *--o = (char)('0' + v % 10);
        *--o = '.';
        do *--o = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        if (d < 0) *--o = '-';
        jsonw_raw(w, o, (size_t)(t + sizeof t - o));
        return true;
    }
    return false;
}

void jsonw_num(jsonw_t *w, double d) {
    char t[32];
    int n;
    if (isnan(d) || isinf(d)) {
        jsonw_lit(w, "null");
        return;
    }
    if (d == floor(d) && fabs(d) < 1e15 && !(d == 0 && signbit(d))) {
        whole_num(w, d);
        return;
    }
    if (short_decimal(w, d)) return;
    double back;
    n = snprintf(t, sizeof t, "%1.15g", d);
    if (sscanf(t, "%lg", &back) != 1 || !same_double(back, d)) n = snprintf(t, sizeof t, "%1.17g", d);
    jsonw_raw(w, t, (size_t)n);
}
