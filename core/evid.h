/* evid.h - event ids: the id of an entry of the events stream, "<ms>-<seq>", as the relay
 * sends it in event_id and a client gives it back in ?since=. Parsed, compared and
 * printed as two numbers. Pure: no I/O. */
#ifndef MIG_EVID_H
#define MIG_EVID_H

#include <stddef.h>
#include <stdint.h>

#define EVID_TEXT_MAX 48 /* "<20 digits>-<20 digits>" and a NUL, with room to spare */

/* A stream entry id, ms-seq, compared as two numbers. {0,0} is "none". */
typedef struct {
    uint64_t ms, seq;
} evid_t;

/* Parses "<ms>-<seq>" (both decimal, no sign, no spaces, each within 64 bits) from `n`
 * bytes of `s`. Returns 0, or MIG_EINVALID with `id` untouched. */
int evid_parse(const char *s, size_t n, evid_t *id);

/* <0, 0 or >0 as a is before, equal to or after b. */
int evid_cmp(evid_t a, evid_t b);

/* "ms-seq" into `out` (EVID_TEXT_MAX bytes); returns `out`. */
char *evid_format(evid_t id, char *out);

#endif
