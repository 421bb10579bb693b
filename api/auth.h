/* auth.h - bearer tokens with roles, from MIG_API_TOKENS ("role:token,role:token").
 * Tokens are compared in constant time. Without tokens every request is an operator's,
 * and the server listens on loopback only (api/main.c enforces that). */
#ifndef MIG_AUTH_H
#define MIG_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ROLE_NONE = 0, /* no or a wrong token */
    ROLE_VIEWER,   /* reads and watches */
    ROLE_OPTIMIZER,/* also creates suggestions and puts inventory */
    ROLE_OPERATOR, /* also creates, approves, cancels and deletes */
} role_t;

typedef struct auth auth_t;

/* Parses MIG_API_TOKENS. NULL or "" makes an open auth (every caller an operator).
 * Returns NULL with the problem in `err` for a malformed list, an unknown role, or a
 * token that begins with "CHANGE-ME" (the placeholders of deploy/). Free with
 * auth_free(). */
auth_t *auth_new(const char *spec, char *err, size_t errlen);
void auth_free(auth_t *a);

/* True when tokens are configured. */
bool auth_enabled(const auth_t *a);

/* The role of a token (the text after "Bearer ", or a ?token= value); ROLE_NONE when it
 * matches none. With auth disabled, ROLE_OPERATOR whatever the token. */
role_t auth_role(const auth_t *a, const char *token);

/* Role of a request: the Authorization header ("Bearer <token>") if present, else, when
 * `url_token`, the `token` query parameter. Only the WebSocket upgrade passes true: a
 * browser cannot set headers on one, while a token in any other URL would end up in
 * access logs, browser history and Referer headers for nothing (the REST routes refuse
 * it: auth_url_has_token()). */
struct mg_connection;
role_t auth_request_role(const auth_t *a, const struct mg_connection *conn, bool url_token);

/* True when the request's query string carries a `token` parameter. */
bool auth_url_has_token(const struct mg_connection *conn);

/* "viewer", "optimizer", "operator", or "none". */
const char *auth_role_name(role_t r);

#endif
