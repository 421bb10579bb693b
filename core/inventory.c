/* inventory.c - nodes and servers: from hash pairs, to JSON; the rule of a node's address. */
#include "inventory.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "timefmt.h"

void inventory_node_init(node_t *n) {
    memset(n, 0, sizeof *n);
    n->healthy = -1;
    n->ram_total_mb = n->ram_free_mb = n->disk_free_mb = -1;
    n->eur_hour = -1;
}

void inventory_node_clear(node_t *n) {
    free(n->id);
    free(n->name);
    free(n->address);
    inventory_node_init(n);
}

void inventory_server_init(server_t *s) {
    memset(s, 0, sizeof *s);
    s->players = s->ram_mb = s->disk_mb = -1;
}

void inventory_server_clear(server_t *s) {
    free(s->id);
    free(s->name);
    free(s->node_id);
    free(s->state);
    inventory_server_init(s);
}

static int set_str(char **dst, const char *v) {
    char *c = strdup(v);
    if (c == NULL) return MIG_ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

static int set_ll(long long *dst, const char *v) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        /* the functions store integers, but accept "12.0" from a float-minded writer */
        double d = strtod(v, &end);
        if (end == v || *end || !isfinite(d)) return MIG_EINVALID;
        x = (long long)d;
    }
    *dst = x;
    return 0;
}

static int set_d(double *dst, const char *v) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d)) return MIG_EINVALID;
    *dst = d;
    return 0;
}

int inventory_node_from_pairs(node_t *n, const char *const *p, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const char *k = p[2 * i], *v = p[2 * i + 1];
        int rv = 0;
        long long x;
        if (strcmp(k, "node_id") == 0) rv = set_str(&n->id, v);
        else if (strcmp(k, "name") == 0) rv = set_str(&n->name, v);
        else if (strcmp(k, "address") == 0) rv = set_str(&n->address, v);
        else if (strcmp(k, "healthy") == 0) {
            if ((rv = set_ll(&x, v)) == 0) n->healthy = x != 0;
        } else if (strcmp(k, "ram_total_mb") == 0) rv = set_ll(&n->ram_total_mb, v);
        else if (strcmp(k, "ram_free_mb") == 0) rv = set_ll(&n->ram_free_mb, v);
        else if (strcmp(k, "disk_free_mb") == 0) rv = set_ll(&n->disk_free_mb, v);
        else if (strcmp(k, "eur_hour") == 0) rv = set_d(&n->eur_hour, v);
        if (rv) return rv;
    }
    return 0;
}

int inventory_server_from_pairs(server_t *s, const char *const *p, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const char *k = p[2 * i], *v = p[2 * i + 1];
        int rv = 0;
        long long x;
        if (strcmp(k, "server_id") == 0) rv = set_str(&s->id, v);
        else if (strcmp(k, "name") == 0) rv = set_str(&s->name, v);
        else if (strcmp(k, "node_id") == 0) rv = set_str(&s->node_id, v);
        else if (strcmp(k, "state") == 0) rv = set_str(&s->state, v);
        else if (strcmp(k, "players") == 0) rv = set_ll(&s->players, v);
        else if (strcmp(k, "idle_since") == 0) {
            if ((rv = set_ll(&x, v)) == 0) s->idle_since = x;
        } else if (strcmp(k, "ram_mb") == 0) rv = set_ll(&s->ram_mb, v);
        else if (strcmp(k, "disk_mb") == 0) rv = set_ll(&s->disk_mb, v);
        if (rv) return rv;
    }
    return 0;
}

/* Adds `v` as a string, or null when NULL; false when out of memory. */
static int add_str(cJSON *o, const char *k, const char *v) {
    return (v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

static int add_num(cJSON *o, const char *k, double v, int present) {
    return (present ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

cJSON *inventory_node_to_json(const node_t *n) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    int ok = add_str(o, "id", n->id) && add_str(o, "name", n->name) &&
             add_str(o, "address", n->address) &&
             (n->healthy < 0 ? cJSON_AddNullToObject(o, "healthy") != NULL
                             : cJSON_AddBoolToObject(o, "healthy", n->healthy) != NULL) &&
             add_num(o, "ram_total_mb", (double)n->ram_total_mb, n->ram_total_mb >= 0) &&
             add_num(o, "ram_free_mb", (double)n->ram_free_mb, n->ram_free_mb >= 0) &&
             add_num(o, "disk_free_mb", (double)n->disk_free_mb, n->disk_free_mb >= 0) &&
             add_num(o, "eur_hour", n->eur_hour, n->eur_hour >= 0);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *inventory_server_to_json(const server_t *s) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    char idle[TIMEFMT_RFC3339_LEN + 1];
    if (s->idle_since > 0) timefmt_rfc3339(s->idle_since, idle);
    int ok = add_str(o, "id", s->id) && add_str(o, "name", s->name) &&
             add_str(o, "node_id", s->node_id) && add_str(o, "state", s->state) &&
             add_num(o, "players", (double)s->players, s->players >= 0) &&
             add_str(o, "idle_since", s->idle_since > 0 ? idle : NULL) &&
             add_num(o, "ram_mb", (double)s->ram_mb, s->ram_mb >= 0) &&
             add_num(o, "disk_mb", (double)s->disk_mb, s->disk_mb >= 0);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------------ addresses */

static int address_err(char *why, size_t cap, const char *what) {
    if (why) snprintf(why, cap, "address: %s; it must be host[:port] (a name, an IPv4 address or [IPv6])", what);
    return MIG_EINVALID;
}

/* A port of `n` bytes at `s`: 1 to 5 digits, 1 to 65535. */
static int port_ok(const char *s, size_t n) {
    if (n == 0 || n > 5) return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* A DNS name or IPv4 address of `n` bytes. */
static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 253) return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') {
            if (c == '-' && label == 0) return 0;
            if (++label > 63) return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* The inside of [brackets]: hex digits, ':' (at least two) and '.', 2 to 45 bytes. */
static int ipv6_ok(const char *s, size_t n) {
    if (n < 2 || n > 45) return 0;
    int colons = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ':') colons++;
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.')) return 0;
    }
    return colons >= 2;
}

int inventory_address_check(const char *a, char *why, size_t cap) {
    if (a == NULL || *a == '\0') return address_err(why, cap, "empty");
    size_t n = strlen(a);
    if (n > INVENTORY_ADDRESS_MAX) return address_err(why, cap, "too long");
    const char *port = NULL;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (close == NULL || !ipv6_ok(a + 1, (size_t)(close - a - 1))) return address_err(why, cap, "bad IPv6 address");
        if (close[1] != '\0') {
            if (close[1] != ':') return address_err(why, cap, "bytes after the host");
            port = close + 2;
        }
    } else {
        const char *colon = strchr(a, ':');
        size_t hn = colon ? (size_t)(colon - a) : n;
        if (colon && strchr(colon + 1, ':')) return address_err(why, cap, "IPv6 addresses need [brackets]");
        if (!name_ok(a, hn)) return address_err(why, cap, "bad host name");
        if (colon) port = colon + 1;
    }
    if (port && !port_ok(port, strlen(port))) return address_err(why, cap, "bad port");
    return 0;
}
