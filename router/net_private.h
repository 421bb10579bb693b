/* net_private.h - one player's connection, shared by the loop (net.c) and the waiting
 * room (limbo.c). Every function here runs on the loop thread with rt->lock held. */
#ifndef MIG_ROUTER_NET_PRIVATE_H
#define MIG_ROUTER_NET_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "router/conntrack.h"
#include "router/greet.h"
#include "router/router.h"

typedef enum {
    PHASE_GREET = 0,  /* reading the Handshake and Login Start (bounded, timed) */
    PHASE_CONNECTING, /* connecting to the backend; the client is not read */
    PHASE_SPLICE,     /* bytes pass both ways; the backend's are tracked (conntrack) */
    PHASE_LIMBO,      /* held in a waiting room (limbo.c) */
    PHASE_STATUS,     /* a status ping the router answers itself */
    PHASE_LEAVING,    /* sent a Transfer: waiting for the client to hang up */
    PHASE_CLOSING,    /* writing a last packet (a Disconnect), then closing */
} conn_phase_t;

typedef struct conn {
    struct conn *next, *prev;     /* rt->conns */
    router_t *rt;
    uint64_t id;
    struct bufferevent *client;
    struct bufferevent *backend;  /* NULL unless connecting or spliced */
    struct event *backend_rd;     /* spliced: the backend's fd readable (net.c reads it itself) */
    struct event *timer;          /* greeting deadline, connect deadline, keep-alives, grace */
    char ip[TABLE_IP_MAX];
    conn_phase_t phase;
    greet_t greet;
    char player[TABLE_PLAYER_MAX];
    char where[TABLE_NAME_MAX];     /* the server or room it is on (the table's spelling) */
    char backend_addr[TABLE_ADDR_MAX]; /* the address it was spliced to */
    conntrack_t track;              /* the backend-to-client stream */
    /* marks of the bridge (http.c under the lock), acted on by the loop */
    char go_to[TABLE_NAME_MAX];     /* send a Transfer to the router for this destination */
    bool drop;                      /* close it (a Disconnect with drop_text in a room) */
    char drop_text[256];
    bool leaving;                   /* its Transfer is sent */
    /* the waiting room */
    bool acked;                     /* Login Acknowledged: in the configuration state */
    int64_t keepalive_id;           /* the last Keep Alive's id */
    /* a status answered by the router */
    char status_text[400];
    int status_online;
} conn_t;

void conn_free(conn_t *c);
void conn_timer(conn_t *c, long long ms);
/* Queues the bytes of `b` (when it did not fail) for the client. */
void conn_write(conn_t *c, const mcbuf_t *b);
/* Stops reading, drops the backend, closes once the client's output is written (or after
 * the leave grace). */
void conn_close_after_write(conn_t *c);
/* After a Transfer: the backend goes, the client's socket stays open until the client
 * hangs up (a vanilla client does at once) or the leave grace ends, so the Transfer is
 * not raced by a close that the client could show as "Connection lost". */
void conn_leave(conn_t *c);
/* A login Disconnect with `text`, then the close. */
void conn_disconnect_login(conn_t *c, const char *text);
/* Counts a failure and logs `event` with `detail`. */
void net_fail(router_t *rt, conn_t *c, router_fail_t why, const char *event, const char *detail);
/* The backend is connected: the greeting goes to it and the splice begins. */
void net_splice_begin(conn_t *c);

/* limbo.c: the waiting room */
void limbo_enter(conn_t *c);        /* Login Success sent, keep-alives timed */
void limbo_read(conn_t *c);         /* the client's frames: Login Acknowledged, replies */
void limbo_tick(conn_t *c);         /* the timer: a Keep Alive */
void limbo_try_transfer(conn_t *c); /* the Transfer of a marked player, once acked */

#endif
