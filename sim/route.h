/* route.h - the simulator's routes: path patterns with {name} segments (core/path.h
 * matches them) and the call patterns of its fault rules. Pure. */
#ifndef SIM_ROUTE_H
#define SIM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/path.h"

#define ROUTE_PARAMS_MAX 3  /* {name} segments in one pattern */

/* Matches a call ("GET", "/v1/sync/x.1") against a call pattern: "*" (every call), or
 * "METHOD /path/{id}" where METHOD may itself be "*". */
bool route_match_call(const char *call_pattern, const char *method, const char *path);

#endif
