/* route.c - path patterns with {name} segments. */
#include "sim/route.h"

#include <string.h>

bool route_match(const char *pattern, const char *path, char params[][ROUTE_PARAM_LEN], int maxparams) {
    int np = 0;
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p != '/' || *u != '/') return false;
        p++;
        u++;
        size_t pl = strcspn(p, "/"), ul = strcspn(u, "/");
        if (*p == '{' && pl >= 2 && p[pl - 1] == '}') {
            if (ul == 0 || ul >= ROUTE_PARAM_LEN || np >= ROUTE_PARAMS_MAX) return false;
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

bool route_match_call(const char *call_pattern, const char *method, const char *path) {
    if (strcmp(call_pattern, "*") == 0) return true;
    const char *sp = strchr(call_pattern, ' ');
    if (sp == NULL) return false;
    size_t ml = (size_t)(sp - call_pattern);
    bool any_method = ml == 1 && call_pattern[0] == '*';
    if (!any_method && (strlen(method) != ml || strncmp(call_pattern, method, ml) != 0)) return false;
    while (*sp == ' ') sp++;
    if (strcmp(sp, "*") == 0) return true;
    return route_match(sp, path, NULL, 0);
}
