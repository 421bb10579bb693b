/* jsonbody.c - a request body read as JSON: bounded nesting, one value, nothing after. */
#include "jsonbody.h"

#include <stdio.h>

int jsonbody_depth(const char *s, size_t n, int limit) {
    int depth = 0, deepest = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            /* to the closing quote; a backslash takes the byte after it along */
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > deepest) deepest = depth;
            if (deepest > limit) break;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}

static int json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *jsonbody_parse(const char *s, size_t n, char *why, size_t cap) {
    if (jsonbody_depth(s, n, JSONBODY_DEPTH_MAX) > JSONBODY_DEPTH_MAX) {
        snprintf(why, cap, "the body is nested deeper than %d levels", JSONBODY_DEPTH_MAX);
        return NULL;
    }
    const char *end = NULL;
    /* Not require_null_terminated: with a length, cJSON wants the NUL inside it, and a
     * NUL byte inside the body would then pass as its end. The position after the value
     * is checked here instead. */
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (j == NULL) {
        snprintf(why, cap, "the body is not valid JSON");
        return NULL;
    }
    size_t at = (size_t)(end - s);
    while (at < n && json_space(s[at])) at++;
    if (at < n) {
        cJSON_Delete(j);
        snprintf(why, cap, "the body has bytes after its JSON value (at byte %zu)", at);
        return NULL;
    }
    return j;
}
