/* hostmap.c - a handshake's host to a server or room name (hostmap.h). */
#include "router/hostmap.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

int hostmap_clean(const char *host, size_t n, char *out, size_t cap) {
    const char *nul = memchr(host, '\0', n);
    if (nul) n = (size_t)(nul - host);
    while (n > 0 && host[n - 1] == '.') n--;
    if (n == 0 || n >= cap) return MIG_EINVALID;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return (int)n;
}

int hostmap_init(hostmap_t *m, const char *domain, const char *table, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (domain && *domain && hostmap_clean(domain, strlen(domain), m->domain, sizeof m->domain) < 0) {
        snprintf(err, errlen, "MIG_ROUTER_DOMAIN: a host name of 1 to 255 bytes");
        return MIG_EINVALID;
    }
    for (const char *p = table ? table : ""; *p;) {
        size_t len = strcspn(p, ",");
        const char *row = p, *end = p + len;
        p = *end == ',' ? end + 1 : end;
        while (row < end && (*row == ' ' || *row == '\t')) row++;
        while (end > row && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if (row == end) continue;
        if (m->n >= HOSTMAP_ENTRIES_MAX) {
            snprintf(err, errlen, "MIG_ROUTER_HOSTS: at most %d rows", HOSTMAP_ENTRIES_MAX);
            return MIG_EINVALID;
        }
        hostmap_entry_t *e = &m->entries[m->n];
        const char *eq = memchr(row, '=', (size_t)(end - row));
        size_t nl = eq ? (size_t)(end - eq - 1) : 0;
        if (eq == NULL || hostmap_clean(row, (size_t)(eq - row), e->host, sizeof e->host) < 0 || nl == 0 ||
            nl >= sizeof e->name) {
            snprintf(err, errlen, "MIG_ROUTER_HOSTS: \"%.*s\" is not host=name", (int)(end - row > 80 ? 80 : end - row),
                     row);
            return MIG_EINVALID;
        }
        memcpy(e->name, eq + 1, nl);
        e->name[nl] = '\0';
        m->n++;
    }
    return 0;
}

int hostmap_lookup(const hostmap_t *m, const char *host, char *name, size_t cap) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->entries[i].host, host) == 0) {
            snprintf(name, cap, "%s", m->entries[i].name);
            return 0;
        }
    size_t hl = strlen(host), dl = strlen(m->domain);
    if (dl == 0) {
        if (hl >= cap) return MIG_ENOT_FOUND;
        memcpy(name, host, hl + 1);
        return 0;
    }
    /* "<label>.<domain>": one label, so a.b.<domain> names nothing rather than "a.b" */
    if (hl < dl + 2 || host[hl - dl - 1] != '.' || strcmp(host + hl - dl, m->domain) != 0) return MIG_ENOT_FOUND;
    size_t ll = hl - dl - 1;
    if (memchr(host, '.', ll) != NULL || ll >= cap) return MIG_ENOT_FOUND;
    memcpy(name, host, ll);
    name[ll] = '\0';
    return 0;
}
