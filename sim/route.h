/* route.h - matching request paths against patterns with {name} segments, shared by the
 * simulator's routing and its fault rules. Pure. */
#ifndef SIM_ROUTE_H
#define SIM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTE_PARAMS_MAX 3  /* {name} segments in one pattern */
#define ROUTE_PARAM_LEN 160 /* longest segment value, bytes with the NUL */

/* Matches `path` ("/v1/containers/s1/start") against `pattern`
 * ("/v1/containers/{id}/start"): each {name} takes one non-empty segment of less than
 * ROUTE_PARAM_LEN bytes, copied into params[i] when `params` is not NULL. The path is
 * taken as it is: civetweb has already percent-decoded it (decoding again would turn a
 * name holding "%41" into "A"). A trailing slash on the path is ignored. Returns true on
 * a match. */
bool route_match(const char *pattern, const char *path, char params[][ROUTE_PARAM_LEN], int maxparams);

/* Matches a call ("GET", "/v1/sync/x.1") against a call pattern: "*" (every call), or
 * "METHOD /path/{id}" where METHOD may itself be "*". */
bool route_match_call(const char *call_pattern, const char *method, const char *path);

#endif
