/* httpbody.h - reading a request's body in a civetweb handler, bounded: shared by the
 * API and the simulated fleet, which answer its failures each in their own words. */
#ifndef MIG_HTTPBODY_H
#define MIG_HTTPBODY_H

#include <stddef.h>

struct mg_connection;

/* Reads the whole body of the request on `conn` into a new NUL-terminated buffer
 * (*out, caller frees; *len bytes). Returns 0; 413 when the body (declared or read) is
 * over `max` bytes, without reading the rest; 500 when memory is short. */
int httpbody_read(struct mg_connection *conn, size_t max, char **out, size_t *len);

#endif
