/* route.c - call patterns of the fault rules ("METHOD /path/{id}"). */
#include "sim/route.h"

#include "core/path.h"

#include <string.h>

bool route_match_call(const char *call_pattern, const char *method, const char *path) {
    if (strcmp(call_pattern, "*") == 0) return true;
    const char *sp = strchr(call_pattern, ' ');
    if (sp == NULL) return false;
    size_t ml = (size_t)(sp - call_pattern);
    bool any_method = ml == 1 && call_pattern[0] == '*';
    if (!any_method && (strlen(method) != ml || strncmp(call_pattern, method, ml) != 0)) return false;
    while (*sp == ' ') sp++;
    if (strcmp(sp, "*") == 0) return true;
    return path_match(sp, path, NULL, 0);
}
