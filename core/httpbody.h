/* httpbody.h - the bodies of the HTTP servers (the API and the simulated fleet): a
 * request's body read up to a bound, and the one shape of an error answer,
 * {"error":{"code":"...","message":"..."}} (docs/API.md, docs/DRIVERS.md). */
#ifndef MIG_HTTPBODY_H
#define MIG_HTTPBODY_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct mg_connection;

/* Longest time to read a whole body, ms: 64 KiB (the largest body) arrives in far less
 * on any network that can run this. Without it a client sending a byte every few seconds
 * holds a worker thread as long as it likes: civetweb's read of N bytes returns only once
 * all N came or the socket stayed silent for its whole request timeout. */
#define HTTPBODY_DEADLINE_MS 10000

/* Reads the whole body of the request on `conn` into a new NUL-terminated buffer
 * (*out, caller frees; *len bytes). Returns 0; 413 when the body (declared or read) is
 * over `max` bytes, without reading the rest; 408 when it is not all there within
 * HTTPBODY_DEADLINE_MS (the rest is left unread); 500 when memory is short. It reads a
 * byte per call into civetweb, so that the deadline is looked at between any two bytes:
 * what civetweb holds already (a small body comes in with the headers) costs no system
 * call, the rest two per byte (some 50 ms for 64 KiB). */
int httpbody_read(struct mg_connection *conn, size_t max, char **out, size_t *len);

/* The error body: {"error":{"code":<code>,"message":<message>}}; NULL when memory is
 * short. */
cJSON *httpbody_error(const char *code, const char *message);

#endif
