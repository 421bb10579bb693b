/* inventory.h - nodes and servers as the platform reports them (DESIGN.md section 2):
 * structs, from their Redis hashes, to the API JSON. Pure: no I/O. */
#ifndef MIG_INVENTORY_H
#define MIG_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A hosting node. Strings are owned (freed by inventory_node_clear); numbers are -1
 * when absent. */
typedef struct {
    char *id;
    char *name;
    char *address;       /* host name or IP of its node agent */
    int healthy;         /* 1 healthy, 0 not, -1 unknown */
    long long ram_total_mb;
    long long ram_free_mb;
    long long disk_free_mb;
    double eur_hour;     /* price of the node per hour, euros */
} node_t;

/* A game server. */
typedef struct {
    char *id;
    char *name;
    char *node_id;       /* the node it runs on */
    char *state;         /* "running", "critical", ... */
    long long players;   /* online now */
    int64_t idle_since;  /* Unix ms since when no player is online; 0 when busy or unknown */
    long long ram_mb;    /* memory it needs */
    long long disk_mb;   /* world size on disk */
} server_t;

void inventory_node_init(node_t *n);
void inventory_node_clear(node_t *n);
void inventory_server_init(server_t *s);
void inventory_server_clear(server_t *s);

/* Fill from `n` field/value pairs as HGETALL gives them (the id is a field: node_id or
 * server_id). Unknown fields are ignored. Returns 0, MIG_EINVALID for a number that
 * does not parse, or MIG_ENOMEM. */
int inventory_node_from_pairs(node_t *n, const char *const *pairs, size_t count);
int inventory_server_from_pairs(server_t *s, const char *const *pairs, size_t count);

/* API JSON: {"id":..., "name":..., ...} with numbers as numbers and absent values null.
 * New objects the caller frees with cJSON_Delete(); NULL when out of memory. */
cJSON *inventory_node_to_json(const node_t *n);
cJSON *inventory_server_to_json(const server_t *s);

#define INVENTORY_ADDRESS_MAX 261 /* "[" 45-byte IPv6 "]:65535", or a 253-byte name ":65535" */

/* Checks a node's address: host[:port], where host is a DNS name or IPv4 address
 * (letters, digits, '-' and '.', labels of 1 to 63 bytes, 253 in all) or an IPv6 address
 * in brackets, and port is 1 to 65535. Nothing else: no scheme, path, query, userinfo,
 * space or percent sign, so an address put into MIG_DRIVER_NODE_URL names a host and
 * nothing more (lua-scripts/inventory.lua node_put holds the same rule). Returns 0, or
 * MIG_EINVALID with "address: <why>" in `why` (may be NULL). */
int inventory_address_check(const char *address, char *why, size_t cap);

#endif
