/* guard.c - the Host and Origin checks of the API (guard.h). */
#include "api/guard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Copies the host of `authority` ("name:port", "[::1]:8080", "name") into `out`, lower
 * case and without the port or brackets. Returns 0, or -1 when it does not fit. */
static int host_of(const char *authority, size_t len, char *out, size_t cap) {
    const char *s = authority;
    size_t n;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) return -1;
        s++;
        n = (size_t)(close - s);
    } else {
        const char *colon = memchr(s, ':', len);
        n = colon ? (size_t)(colon - s) : len;
    }
    if (n == 0 || n >= cap) return -1;
    for (size_t i = 0; i < n; i++) out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    out[n] = '\0';
    return 0;
}

/* Adds the comma-separated entries of `list` to `v`, lower case (hosts without a port
 * when `host`); -1 with the problem in `err`. */
static int add_list(char v[][GUARD_NAME_LEN], size_t *n, const char *list, const char *setting, int host, char *err,
                    size_t errlen) {
    for (const char *s = list ? list : ""; *s;) {
        size_t len = strcspn(s, ",");
        while (len > 0 && s[0] == ' ') s++, len--;
        while (len > 0 && s[len - 1] == ' ') len--;
        if (len > 0) {
            if (*n == GUARD_NAMES_MAX || len >= GUARD_NAME_LEN ||
                (host && host_of(s, len, v[*n], GUARD_NAME_LEN) != 0)) {
                snprintf(err, errlen, "%s: \"%.*s\" is not a name (at most %d of %d bytes)", setting, (int)len, s,
                         GUARD_NAMES_MAX, GUARD_NAME_LEN - 1);
                return -1;
            }
            if (!host) {
                for (size_t i = 0; i < len; i++) v[*n][i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
                v[*n][len] = '\0';
            }
            (*n)++;
        }
        s += strcspn(s, ",");
        if (*s == ',') s++;
    }
    return 0;
}

int guard_init(guard_t *g, const char *listen, const char *hosts, const char *origins, bool open, char *err,
               size_t errlen) {
    memset(g, 0, sizeof *g);
    if (add_list(g->hosts, &g->nhosts, hosts, "MIG_API_HOSTS", 1, err, errlen) != 0) return -1;
    if (add_list(g->origins, &g->norigins, origins, "MIG_API_ORIGINS", 0, err, errlen) != 0) return -1;
    g->check_host = open || g->nhosts > 0;
    if (!g->check_host) return 0;
    /* the names of loopback, and the listen address's own host */
    const char *loop[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof loop / sizeof loop[0] && g->nhosts < GUARD_NAMES_MAX; i++)
        host_of(loop[i], strlen(loop[i]), g->hosts[g->nhosts++], GUARD_NAME_LEN);
    if (listen && g->nhosts < GUARD_NAMES_MAX && host_of(listen, strcspn(listen, ","), g->hosts[g->nhosts], GUARD_NAME_LEN) == 0)
        g->nhosts++;
    return 0;
}

bool guard_host_ok(const guard_t *g, const char *host, char *why, size_t cap) {
    if (!g->check_host || host == NULL) return true;
    char name[GUARD_NAME_LEN];
    if (host_of(host, strlen(host), name, sizeof name) == 0)
        for (size_t i = 0; i < g->nhosts; i++)
            if (strcmp(name, g->hosts[i]) == 0) return true;
    snprintf(why, cap, "Host: \"%.100s\" is not a name of this API (localhost, its listen address, or MIG_API_HOSTS)",
             host);
    return false;
}

bool guard_origin_ok(const guard_t *g, const char *origin, const char *host, char *why, size_t cap) {
    if (origin == NULL) return true;
    const char *sep = strstr(origin, "://");
    /* the page's own origin: the authority after the scheme is the Host it called (the
     * scheme is not compared: a proxy in front may end TLS) */
    if (sep && host && strcasecmp(sep + 3, host) == 0) return true;
    for (size_t i = 0; i < g->norigins; i++)
        if (strcasecmp(origin, g->origins[i]) == 0) return true;
    snprintf(why, cap, "Origin: \"%.100s\" may not call this API (only its own pages, or MIG_API_ORIGINS)", origin);
    return false;
}

bool guard_changes_state(const char *method) {
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "OPTIONS") != 0;
}
