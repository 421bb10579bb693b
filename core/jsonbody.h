/* jsonbody.h - a request body read as JSON, refused before it can hurt: nesting deeper
 * than a small bound is found by a scan of the bytes before any parser recurses into it,
 * and the body must be one value with nothing after it. Pure; the API (api/http.c) and
 * the simulated fleet (sim/httpd.c) answer the refusal as 400.
 *
 * Why a bound before parsing: cJSON recurses once per level and allows 1,000 of them,
 * while civetweb's threads have 100 KiB stacks; 990 nested `[` (under 2 KB of body)
 * overflowed one and killed the process. */
#ifndef MIG_JSONBODY_H
#define MIG_JSONBODY_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Deepest nesting of arrays and objects a body may have. Every body of the API and of
 * the driver contract is 1 or 2 deep; 32 leaves room for any later field and keeps
 * cJSON's recursion (parse, print, duplicate, delete) to a few KiB of stack. */
#define JSONBODY_DEPTH_MAX 32

/* The deepest nesting of `[` and `{` in the `n` bytes of `s`, outside strings (escapes
 * inside a string are skipped, so `"\"["` opens nothing). Counts at most to
 * `limit` + 1 and stops there, so a hostile body costs no more than its first run past
 * the bound. A closer without an opener does not go below 0. Does not check that the
 * text is JSON: the parser does that afterwards. */
int jsonbody_depth(const char *s, size_t n, int limit);

/* Parses the `n` bytes of `s` (need not be NUL-terminated) as exactly one JSON value,
 * with JSON whitespace around it and nothing else. Returns the value (caller frees with
 * cJSON_Delete()), or NULL with the sentence of the refusal in `why` (`cap` bytes):
 * "the body is nested deeper than 32 levels", "the body is not valid JSON", "the body
 * has bytes after its JSON value (at byte N)". (cJSON answers NULL alike for a malformed
 * text and a failed allocation; a body is at most 64 KiB, so the first is the likely one.) */
cJSON *jsonbody_parse(const char *s, size_t n, char *why, size_t cap);

#endif
