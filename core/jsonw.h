/* jsonw.h - JSON written straight into one growing buffer, byte for byte as
 * cJSON_PrintUnformatted would print the same values, for the answers too big to build
 * as a cJSON tree first (a page of 50 records is ~2,000 nodes, each a malloc, a strdup
 * and a free: bench/RESULTS.md, list). Pure.
 *
 * The buffer may start with a reserved gap, so that a caller can put its headers right
 * in front of the body and send both with one write. */
#ifndef MIG_JSONW_H
#define MIG_JSONW_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *buf;     /* gap, then the text; NUL-terminated after the text */
    size_t gap;    /* bytes reserved before the text */
    size_t len;    /* bytes of text */
    size_t cap;    /* bytes allocated */
    bool failed;   /* an allocation failed: the text is incomplete */
} jsonw_t;

/* Starts an empty text with `gap` bytes reserved in front. */
void jsonw_init(jsonw_t *w, size_t gap);
void jsonw_free(jsonw_t *w);

/* Makes room for `n` more bytes at once, so that a text whose size is known roughly
 * grows in one allocation instead of doubling through several. */
void jsonw_reserve(jsonw_t *w, size_t n);

/* The text written so far (NUL-terminated), or NULL after a failed allocation. */
const char *jsonw_text(const jsonw_t *w);

/* Appends `n` bytes as they are (punctuation, keys known to need no escape). */
void jsonw_raw(jsonw_t *w, const char *s, size_t n);
#define jsonw_lit(w, lit) jsonw_raw((w), (lit), sizeof(lit) - 1)

/* Appends a JSON string: quotes, and the escapes cJSON uses (\" \\ \b \f \n \r \t,
 * \u00XX for other control characters; every other byte as it is). NULL is "". */
void jsonw_str(jsonw_t *w, const char *s);

/* Appends `"name":`, for a key known to need no escape (a field name of the code's own). */
void jsonw_key(jsonw_t *w, const char *name);

/* Appends a number as cJSON 1.7.15 (Debian 12's) prints it: %1.15g when that reads back
 * as the same double, else %1.17g; NaN and infinities as null. (Later cJSONs print a
 * whole number within int's range with %d, which differs only for -0; the unit test
 * compares with the cJSON the build links.) */
void jsonw_num(jsonw_t *w, double d);

#endif
