/* path.c - route patterns with :name or {name} segments. */
#include "path.h"

#include <string.h>

/* True when the pattern segment p of length n names a parameter. */
static bool is_param(const char *p, size_t n) {
    return (n >= 2 && p[0] == ':') || (n >= 3 && p[0] == '{' && p[n - 1] == '}');
}

bool path_match(const char *pattern, const char *path, char params[][PATH_PARAM_LEN], int maxparams) {
    int np = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p != '/' || *u != '/') return false;
        p++;
        u++;
        size_t pl = strcspn(p, "/"), ul = strcspn(u, "/");
        if (is_param(p, pl)) {
            if (ul == 0 || ul >= PATH_PARAM_LEN) return false;
            if (params && np < maxparams) {
                memcpy(params[np], u, ul);
                params[np][ul] = '\0';
            }
            np++;
        } else if (pl != ul || strncmp(p, u, pl) != 0) {
            return false;
        }
        p += pl;
        u += ul;
    }
    if (*u == '/' && u[1] == '\0') u++;
    return *p == '\0' && *u == '\0';
}
