/* httpbody.c - a request's body, read up to a bound. */
#include "httpbody.h"

#include <stdlib.h>

#include <civetweb.h>

#include "timefmt.h"

cJSON *httpbody_error(const char *code, const char *message) {
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    if (e == NULL || cJSON_AddStringToObject(e, "code", code) == NULL ||
        cJSON_AddStringToObject(e, "message", message) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int httpbody_read(struct mg_connection *conn, size_t max, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (ri->content_length > 0 && (unsigned long long)ri->content_length > max) return 413;
    char *buf = malloc(max + 1);
    if (buf == NULL) return 500;
    size_t n = 0;
    int64_t deadline = timefmt_mono_ms() + HTTPBODY_DEADLINE_MS;
    for (;;) {
        int got = mg_read(conn, buf + n, 1); /* one byte: see httpbody.h */
        if (got <= 0) break;
        n += (size_t)got;
        if (n > max) {
            free(buf);
            return 413;
        }
        if (ri->content_length >= 0 && n >= (size_t)ri->content_length) break; /* all there */
        if (timefmt_mono_ms() > deadline) {
            free(buf);
            return 408;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
