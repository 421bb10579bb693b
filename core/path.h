/* path.h - matching request paths against route patterns, for the API's routes and the
 * simulator's (its routing and its fault rules). Pure. */
#ifndef MIG_PATH_H
#define MIG_PATH_H

#include <stdbool.h>

#define PATH_PARAM_LEN 160 /* longest parameter segment, bytes with the NUL */

/* Matches `path` ("/v1/containers/s1/start") against `pattern`: literal segments, and
 * parameter segments written ":name" (the seed's style, in the API) or "{name}" (the
 * driver contract's, in the simulator). Each parameter takes one non-empty segment of
 * less than PATH_PARAM_LEN bytes, copied into params[i] when `params` is not NULL and
 * i < maxparams. The path is taken as it is: civetweb has already percent-decoded it
 * (decoding again would turn a name holding "%41" into "A"). A trailing slash on the path
 * is ignored: /api/migrations/ is /api/migrations. Returns true on a match. */
bool path_match(const char *pattern, const char *path, char params[][PATH_PARAM_LEN], int maxparams);

#endif
