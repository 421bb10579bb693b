/* router.h - bin/migrate-router's shared types: the router (settings, lock, the bridge's
 * table, the event loop, metrics) and the functions its modules give each other. Private
 * to the program; the pure modules (hostmap, conntrack, greet, table) have their own
 * headers.
 *
 * Threads and locking: one thread runs the libevent loop (net.c) and owns every
 * connection and socket; civetweb's threads serve the HTTP contract (http.c). One mutex,
 * `router_t.lock`, guards the table, the connection list's fields the bridge reads, and
 * the metrics: the loop takes it in each callback, a handler for its check and change.
 * A handler never touches a socket: it marks connections (a Transfer to send, a close)
 * and wakes the loop (net_wake), which acts on them. */
#ifndef MIG_ROUTER_ROUTER_H
#define MIG_ROUTER_ROUTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "router/hostmap.h"
#include "router/table.h"

/* Reasons a connection was refused or lost, counted on /metrics. */
typedef enum {
    FAIL_UNKNOWN_HOST = 0, /* the handshake names no server or room */
    FAIL_BAD_HANDSHAKE,    /* bytes that are no handshake, a legacy ping, too large */
    FAIL_HANDSHAKE_TIMEOUT,/* the greeting did not arrive in time */
    FAIL_IP_LIMIT,         /* the client's address has its connections already */
    FAIL_CONN_LIMIT,       /* the router has its connections already */
    FAIL_BACKEND,          /* the backend could not be reached */
    FAIL_OLD_CLIENT,       /* before 1.20.5, sent to a waiting room: told to come back */
    FAIL_NO_INJECT,        /* to be moved, but its stream cannot carry a Transfer */
    FAIL_COUNT
} router_fail_t;

typedef struct {
    uint64_t routed;      /* logins spliced to a backend */
    uint64_t held_total;  /* players taken into a waiting room */
    uint64_t transferred; /* Transfer packets sent */
    uint64_t status;      /* status pings served or forwarded */
    uint64_t failures[FAIL_COUNT];
} router_metrics_t;

struct conn;
struct event_base;
struct evdns_base;
struct evconnlistener;
struct event;

typedef struct router {
    /* settings */
    const char *token;           /* MIG_ROUTER_TOKEN: bearer of the bridge's calls, NULL: none */
    char public_host[256];       /* what Transfers point at */
    uint16_t public_port;
    const char *state_file;      /* MIG_ROUTER_STATE_FILE */
    hostmap_t hosts;
    bool rewrite_transfer;       /* intent 3 forwarded as 2 (MIG_ROUTER_REWRITE_TRANSFER) */
    long long handshake_timeout_ms, connect_timeout_ms, keepalive_ms, transfer_ttl_ms, leave_grace_ms;
    long long per_ip_max, conns_max, expected_wait_s;
    const char *message;         /* what old clients are told while their server moves */

    pthread_mutex_t lock;
    table_t table;
    router_metrics_t m;

    /* the loop (net.c); connections are its own */
    struct event_base *base;
    struct evdns_base *dns;
    struct evconnlistener *listener;
    struct event *wake;          /* activated by handlers: act on marked connections */
    struct event *sigterm, *sigint;
    struct conn *conns;          /* every connection, a doubly linked list */
    size_t n_conns;
    uint64_t next_id;
    int port;                    /* the game port bound */
} router_t;

/* ---- net.c: the game port (the loop thread, except where said) ---- */
/* Binds `listen` (host:port, port 0: any) and sets up the loop. 0 or MIG_E* with `err`. */
int net_start(router_t *rt, const char *listen, char *err, size_t errlen);
/* Runs the loop until SIGTERM or SIGINT; then closes every connection. */
void net_run(router_t *rt);
void net_free(router_t *rt);
/* Any thread, without rt->lock: the loop looks at marked connections soon. */
void net_wake(router_t *rt);
/* With rt->lock held (handlers): the players on `name` (a server or room), names added to
 * the array `out`, each once, with those on their way there. */
void net_list_players(router_t *rt, const char *name, cJSON *out);
/* With rt->lock held: plans POST /v1/transfers over the connection table and marks the
 * connections to move or drop (table_plan_transfer's result and errors). */
int net_plan_transfer(router_t *rt, const char *key, const char *from, const char *to, const table_memo_t **memo);
/* With rt->lock held: marks the players in room `name` to be disconnected. Returns how
 * many. */
int net_close_room(router_t *rt, const char *name);
/* With rt->lock held: connections open, players held in rooms, players spliced. */
void net_counts(router_t *rt, long *conns, long *held, long *spliced);

/* ---- state.c: the persisted part of the table ---- */
/* Writes servers, rooms and the fencing table to the state file atomically (rt->lock
 * held). 0 or MIG_EIO. */
int state_save(router_t *rt);
/* Reads the state file when it exists (start-up). 0 or MIG_E* with `err`. */
int state_load(router_t *rt, char *err, size_t errlen);

/* ---- http.c ---- */
struct mg_connection;
int http_serve(router_t *rt, struct mg_connection *conn);

#endif
