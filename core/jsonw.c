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

void jsonw_str(jsonw_t *w, const char *s) {
    if (s == NULL) s = "";
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += *p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' || *p == '\t' ? 2
             : *p < 32                                                                                          ? 6
                                                                                                                 : 1;
    if (!room(w, n)) return;
    char *o = w->buf + w->gap + w->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e = 0;
        switch (*p) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '\b': e = 'b'; break;
        case '\f': e = 'f'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\t': e = 't'; break;
        default: break;
        }
        if (e) {
            *o++ = '\\';
            *o++ = e;
        } else if (*p < 32) {
            snprintf(o, 7, "\\u%04x", *p);
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    w->len += n;
    w->buf[w->gap + w->len] = '\0';
}

/* cJSON's test of a number that reads back: equal within the larger's epsilon. */
static bool same_double(double a, double b) {
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= m * DBL_EPSILON;
}

void jsonw_num(jsonw_t *w, double d) {
    char t[32];
    int n;
    if (isnan(d) || isinf(d)) {
        jsonw_lit(w, "null");
        return;
    }
    double back;
    n = snprintf(t, sizeof t, "%1.15g", d);
    if (sscanf(t, "%lg", &back) != 1 || !same_double(back, d)) n = snprintf(t, sizeof t, "%1.17g", d);
    jsonw_raw(w, t, (size_t)n);
}
