/* guard.h - who may call the API from a browser: the Host a request names and the Origin
 * of the page that sent it. Without them, any web page a user of the host opens could
 * drive a loopback API that runs without tokens: a cross-site form or fetch (Origin of
 * another site), or DNS rebinding (a name of the attacker's that resolves to 127.0.0.1,
 * so the browser sends Host: rebind.evil.example and counts the API as that site's own).
 * Pure: the checks take the header values and answer a sentence; api/main.c and the
 * WebSocket upgrade (api/relay.c) answer the refusal. */
#ifndef MIG_GUARD_H
#define MIG_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#define GUARD_NAMES_MAX 32   /* names in MIG_API_HOSTS, and origins in MIG_API_ORIGINS */
#define GUARD_NAME_LEN 256   /* longest name or origin, bytes with the NUL */

typedef struct {
    bool check_host;                           /* false: any Host (see guard_init) */
    size_t nhosts, norigins;
    char hosts[GUARD_NAMES_MAX][GUARD_NAME_LEN];   /* host names, no port, lower case */
    char origins[GUARD_NAMES_MAX][GUARD_NAME_LEN]; /* scheme://host[:port], lower case */
} guard_t;

/* Fills `g` from the listen address (MIG_API_LISTEN), MIG_API_HOSTS and MIG_API_ORIGINS
 * (comma-separated, either may be NULL). The Host is checked when `hosts` names any, or
 * when the API runs without tokens (`open`: it then listens on loopback only, and the
 * names of loopback are all it can be called by): "localhost", 127.0.0.1, ::1 and the
 * listen address's host are allowed besides the names given. With tokens and no
 * MIG_API_HOSTS, any Host passes: a page of another site holds no token, and the API may
 * be reached under names it cannot know (a Service, an ingress). Returns 0, or -1 with
 * the problem in `err`. */
int guard_init(guard_t *g, const char *listen, const char *hosts, const char *origins, bool open, char *err,
               size_t errlen);

/* Checks the Host header's value (NULL: absent, as from a client that is no browser,
 * which passes). Returns true, or false with the sentence of the refusal in `why`. */
bool guard_host_ok(const guard_t *g, const char *host, char *why, size_t cap);

/* Checks the Origin header's value of a request that changes state or opens a WebSocket
 * (NULL: absent, as from a client that is no browser, which passes). The page's origin
 * must be the API's own (its host and port are the Host header's) or one of
 * MIG_API_ORIGINS; "null" (a sandboxed page, a file) never is. Returns true, or false
 * with the sentence of the refusal in `why`. */
bool guard_origin_ok(const guard_t *g, const char *origin, const char *host, char *why, size_t cap);

/* True for a method that may change state: everything but GET, HEAD and OPTIONS. */
bool guard_changes_state(const char *method);

#endif
