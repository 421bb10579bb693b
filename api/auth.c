/* auth.c - bearer tokens with roles, compared in constant time. */
#include "api/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#define AUTH_TOKENS_MAX 64  /* tokens in MIG_API_TOKENS */
#define AUTH_TOKEN_MAX 256  /* longest token, bytes */
/* How the placeholder tokens of deploy/ begin: a deployment that kept them would run
 * with tokens anyone can read in the repository. */
#define AUTH_PLACEHOLDER "CHANGE-ME"
#define AUTH_PLACEHOLDER_LEN (sizeof AUTH_PLACEHOLDER - 1)

struct auth {
    size_t n;
    struct {
        role_t role;
        size_t len;
        char token[AUTH_TOKEN_MAX];
    } t[AUTH_TOKENS_MAX];
};

static const char *const role_names[] = {"none", "viewer", "optimizer", "operator"};

const char *auth_role_name(role_t r) {
    return (unsigned)r <= ROLE_OPERATOR ? role_names[r] : "none";
}

auth_t *auth_new(const char *spec, char *err, size_t errlen) {
    auth_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *s = spec ? spec : "";
    while (*s) {
        size_t len = strcspn(s, ",");
        const char *colon = memchr(s, ':', len);
        if (len == 0) {
            s++;
            continue;
        }
        if (colon == NULL) {
            snprintf(err, errlen, "MIG_API_TOKENS: \"%.*s\" is not role:token", (int)len, s);
            goto bad;
        }
        size_t rl = (size_t)(colon - s), tl = len - rl - 1;
        role_t role = ROLE_NONE;
        for (int i = ROLE_VIEWER; i <= ROLE_OPERATOR; i++)
            if (strlen(role_names[i]) == rl && strncmp(role_names[i], s, rl) == 0) role = (role_t)i;
        if (role == ROLE_NONE) {
            snprintf(err, errlen, "MIG_API_TOKENS: unknown role \"%.*s\" (viewer, optimizer, operator)",
                     (int)rl, s);
            goto bad;
        }
        if (tl < 8 || tl >= AUTH_TOKEN_MAX) {
            snprintf(err, errlen, "MIG_API_TOKENS: a token must have 8 to %d characters", AUTH_TOKEN_MAX - 1);
            goto bad;
        }
        if (tl >= AUTH_PLACEHOLDER_LEN && strncmp(colon + 1, AUTH_PLACEHOLDER, AUTH_PLACEHOLDER_LEN) == 0) {
            snprintf(err, errlen,
                     "MIG_API_TOKENS: the %s token is a placeholder of deploy/ (" AUTH_PLACEHOLDER
                     "...); set real ones, such as openssl rand -hex 16",
                     role_names[role]);
            goto bad;
        }
        if (a->n == AUTH_TOKENS_MAX) {
            snprintf(err, errlen, "MIG_API_TOKENS: more than %d tokens", AUTH_TOKENS_MAX);
            goto bad;
        }
        a->t[a->n].role = role;
        a->t[a->n].len = tl;
        memcpy(a->t[a->n].token, colon + 1, tl);
        a->n++;
        s += len;
        if (*s == ',') s++;
    }
    return a;
bad:
    free(a);
    return NULL;
}

void auth_free(auth_t *a) {
    free(a);
}

bool auth_enabled(const auth_t *a) {
    return a && a->n > 0;
}

/* Compares without an early exit, so the time taken does not tell how much of a guess
 * was right. Lengths are not secret enough to hide (tokens have a fixed format). */
static bool same(const char *a, size_t alen, const char *b, size_t blen) {
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

role_t auth_role(const auth_t *a, const char *token) {
    if (!auth_enabled(a)) return ROLE_OPERATOR;
    if (token == NULL) return ROLE_NONE;
    size_t len = strlen(token);
    role_t found = ROLE_NONE;
    for (size_t i = 0; i < a->n; i++) /* no early exit: every token is compared */
        if (same(token, len, a->t[i].token, a->t[i].len)) found = a->t[i].role;
    return found;
}

role_t auth_request_role(const auth_t *a, const struct mg_connection *conn, bool url_token) {
    if (!auth_enabled(a)) return ROLE_OPERATOR;
    const char *h = mg_get_header(conn, "Authorization");
    if (h) return strncasecmp(h, "Bearer ", 7) == 0 ? auth_role(a, h + 7) : ROLE_NONE;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char tok[AUTH_TOKEN_MAX];
    if (url_token && ri->query_string &&
        mg_get_var(ri->query_string, strlen(ri->query_string), "token", tok, sizeof tok) > 0)
        return auth_role(a, tok);
    return ROLE_NONE;
}

bool auth_url_has_token(const struct mg_connection *conn) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char tok[2];
    /* -1: absent; 0 or more, or -2 (longer than the buffer): present */
    return ri->query_string && mg_get_var(ri->query_string, strlen(ri->query_string), "token", tok, sizeof tok) != -1;
}
