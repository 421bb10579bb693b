/* hostmap.h - which server or waiting room a player's handshake names: the host the
 * client typed, cleaned, then looked up in an explicit table (MIG_ROUTER_HOSTS) or cut
 * at the router's domain (MIG_ROUTER_DOMAIN: "server-1.mc.example.com" names "server-1").
 * Pure: no sockets, no globals. */
#ifndef MIG_ROUTER_HOSTMAP_H
#define MIG_ROUTER_HOSTMAP_H

#include <stddef.h>

#define HOSTMAP_HOST_MAX 256 /* bytes of a cleaned host with its NUL: String(255) */
#define HOSTMAP_NAME_MAX 128 /* bytes of a server or room name with its NUL */
#define HOSTMAP_ENTRIES_MAX 256 /* rows of the explicit table: one per public host name */

typedef struct {
    char host[HOSTMAP_HOST_MAX]; /* cleaned, lower case */
    char name[HOSTMAP_NAME_MAX]; /* as the operator wrote it */
} hostmap_entry_t;

typedef struct {
    char domain[HOSTMAP_HOST_MAX]; /* cleaned, "" when none: the whole host is the name */
    hostmap_entry_t entries[HOSTMAP_ENTRIES_MAX];
    size_t n;
} hostmap_t;

/* Fills `m` from MIG_ROUTER_DOMAIN (`domain`, may be NULL or "") and MIG_ROUTER_HOSTS
 * (`table`, "host=name,host=name", may be NULL or ""). Returns 0 or MIG_EINVALID with the
 * problem in `err`. */
int hostmap_init(hostmap_t *m, const char *domain, const char *table, char *err, size_t errlen);

/* Cleans the `n` bytes of a handshake's host into `out` (`cap` bytes): cut at the first
 * NUL (Forge appends "\0FML3\0"; some proxies "\0" and forwarding data), lower-cased, a
 * trailing dot dropped. Returns the length, or MIG_EINVALID when nothing is left or it
 * does not fit. */
int hostmap_clean(const char *host, size_t n, char *out, size_t cap);

/* The name a cleaned host stands for, into `name` (`cap` bytes): the table's row for the
 * host, else the part before ".<domain>" (which must be one non-empty label), else, with
 * no domain set, the whole host. Returns 0, or MIG_ENOT_FOUND when the host is not under
 * the domain (the router's own public name without a table row, an IP address). */
int hostmap_lookup(const hostmap_t *m, const char *host, char *name, size_t cap);

#endif
