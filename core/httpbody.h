/* httpbody.h - the bodies of the HTTP servers (the API and the simulated fleet): a
 * request's body read up to a bound, and the one shape of an error answer,
 * {"error":{"code":"...","message":"..."}} (docs/API.md, docs/DRIVERS.md). */
#ifndef MIG_HTTPBODY_H
#define MIG_HTTPBODY_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct mg_connection;

/* Reads the whole body of the request on `conn` into a new NUL-terminated buffer
 * (*out, caller frees; *len bytes). Returns 0; 413 when the body (declared or read) is
 * over `max` bytes, without reading the rest; 500 when memory is short. */
int httpbody_read(struct mg_connection *conn, size_t max, char **out, size_t *len);

/* The error body: {"error":{"code":<code>,"message":<message>}}; NULL when memory is
 * short. */
cJSON *httpbody_error(const char *code, const char *message);

#endif
