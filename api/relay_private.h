/* relay_private.h - what the relay's two modules share: the relay, its clients, the
 * frames they queue, and stream ids. relay.c owns the clients and the fan-out;
 * relay_redis.c owns the subscription, the catch-up after a reconnect and each client's
 * replay. Only api/relay*.c include this.
 *
 * Threads. Everything marked "relay thread only" is touched by the relay's one libevent
 * thread and nothing else, so it needs no lock. civetweb's threads meet the relay only
 * through `lock`: they put new clients in `inbox` and wake the thread through `wake_fd`.
 *
 * Sockets. civetweb writes with a blocking send (up to request_timeout_ms on a full
 * socket, with no way to abort it) and holds a worker thread per WebSocket in its read
 * loop, so a relay built on mg_websocket_write would stall on the first client that
 * stops reading, and need a thread per client. Instead, once civetweb has done the
 * handshake, the relay takes the socket (relay.c, take_socket) and civetweb's thread
 * returns. The relay thread then writes prebuilt frames with non-blocking sends, keeps
 * what the socket did not take in the client's own queue (bounded by max_pending for
 * every frame queued, events and control frames alike, with the kernel's unsent bytes
 * kept small by TCP_NOTSENT_LOWAT), reads the client's control
 * frames, and closes the socket itself. */
#ifndef MIG_RELAY_PRIVATE_H
#define MIG_RELAY_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <hiredis/async.h>

#include "api/relay.h"
#include "core/evid.h"
#include "core/migration.h"
#include "core/rconn.h"

#define RELAY_FILTER_MAX MIG_ID_MAX /* longest server_id / migration_id filter: an id's limit */
#define RELAY_RX_MAX 512          /* a client's read buffer: a control frame fits whole */
#define RELAY_BATCH_MAX 64        /* live events sent to a client in one sendmsg */
#define RELAY_REPLAY_PAGE 100     /* entries per XRANGE of a replay or catch-up: ~30 KB */
#define RELAY_MAX_PENDING_DEFAULT (1024 * 1024) /* bytes queued for one client (any frame, with
                                                  * RELAY_ENTRY_COST's bookkeeping) before it is closed */
#define RELAY_NOTSENT_LOWAT (16 * 1024) /* unsent bytes the kernel may hold for a client */
#define RELAY_PING_DEFAULT_S 30
#define RELAY_PINGS_UNANSWERED_MAX 2 /* a client silent through this many pings is gone */
#define RELAY_CLOSE_WAIT_MS 2000  /* wait for the client's close frame before shutting down */
#define RELAY_STOP_WAIT_MS 3000   /* relay_stop's wait for every client's closing handshake */
#define RELAY_BACKOFF_MIN_MS 100  /* reconnect delays: 100 ms doubling to 5 s */
#define RELAY_BACKOFF_MAX_MS 5000
#define RELAY_CONNECT_TIMEOUT_MS 5000 /* hiredis 0.14 has no async connect timeout of its own */
#define RELAY_REDIS_PING_MS 5000  /* health check of the command connection; twice unanswered drops it */

/* One WebSocket frame, built once and shared by every client queue it is in. */
typedef struct relay_frame {
    int refs;              /* queue entries and builders holding it; freed at 0 */
    evid_t id;         /* the event's stream id; {0,0} for control frames and resync */
    int parsed;            /* server_id and migration_id below were read from the JSON */
    struct relay_frame *env; /* an event's frame in the seed's envelope (core/envelope.h),
                              * built from this flat one when a client first needs it and
                              * freed with it; NULL until then, and for other frames */
    char server_id[RELAY_FILTER_MAX + 1];    /* "" when the event has none (or a longer one) */
    char migration_id[RELAY_FILTER_MAX + 1];
    size_t len;            /* bytes of data */
    size_t payload_off;    /* where the JSON starts in data */
    unsigned char data[];  /* header, then payload */
} relay_frame_t;

/* A frame in a client's queue. */
typedef struct relay_link {
    relay_frame_t *f;
    struct relay_link *next;
} relay_link_t;

typedef struct {
    relay_link_t *head, *tail;
    size_t bytes; /* sum of the entries' RELAY_ENTRY_COST: what the queue holds, at most */
} relay_fifo_t;

/* What one queue entry costs beyond its frame's bytes: the link, and the frame's header,
 * counted whole although an event's header is shared by every queue it is in (a bound
 * on what a client can cost, not a share of it). Without it a queue of tiny frames was
 * nearly free by the count and not in memory: a client that sent pings and never read
 * had each answered with a 2-byte pong costing ~170 bytes of heap, and 12 MB of pings
 * took the API from 15 to 355 MB. */
#define RELAY_ENTRY_COST(f) ((f)->len + sizeof(relay_link_t) + sizeof(relay_frame_t))

typedef enum {
    CLIENT_WAITING,   /* has ?since: waits for Redis to be up to start its replay */
    CLIENT_REPLAYING, /* reading the stream after `since`; live events go to `held` */
    CLIENT_LIVE,      /* receives each event as it comes */
    CLIENT_CLOSING,   /* sent its close frame; waits for the client's, or the deadline */
} client_state_t;

struct relay_ticket;

/* What a client asked for in its query string. */
typedef struct {
    int has_since;
    int flat;                                /* ?format=flat: events as the stream holds them */
    evid_t since;                        /* replay the events after this one */
    int has_start;                           /* no since: where the relay was at the handshake */
    evid_t start;                        /* (its `pos`); what it relays after is replayed */
    char server_id[RELAY_FILTER_MAX + 1];    /* filters; "" for none */
    char migration_id[RELAY_FILTER_MAX + 1];
} relay_request_t;

typedef struct relay_client {
    struct relay *relay;
    int fd;                    /* the socket, taken from civetweb after the handshake */
    char peer[64];             /* "addr:port", for logs */
    relay_request_t req;       /* parsed by its worker before the client reaches the relay */
    /* relay thread only */
    client_state_t state;
    int dead;                  /* being released: touch nothing, send nothing */
    int open_start;            /* replays from a start of 0-0: no entry proves the first page */
    int abortive;              /* release with a reset: its data is not worth delivering */
    int answered_close;        /* the client closed first and our reply is queued */
    int writing;               /* `wev` is added: the socket was full */
    relay_fifo_t out;          /* frames to write; `out_off` bytes of the first are written */
    size_t out_off;
    relay_fifo_t held;         /* live events that came during the replay, to send after it */
    evid_t last;           /* id of the last event queued: an older one is never queued */
    evid_t cursor;         /* replay: the last entry read from the stream */
    struct relay_ticket *ticket; /* the replay page in flight, or NULL */
    struct event *rev, *wev;
    unsigned char rx[RELAY_RX_MAX]; /* bytes read from the client, not yet a whole frame */
    size_t rx_n;
    uint64_t rx_skip;          /* payload bytes of an ignored data frame still to discard */
    int pings_unanswered;
    int64_t close_deadline;    /* monotonic ms; CLIENT_CLOSING only */
    char close_why[96];        /* for the log line of its release */
    struct relay_client *prev, *next; /* in relay->clients */
    struct relay_client *reap_next;   /* in relay->reap */
    struct relay_client *inbox_next; /* in relay->inbox, under relay->lock */
} relay_client_t;

/* A replay page in flight: hiredis holds it as privdata; the client may be released
 * before the reply comes, so the reply finds the client through here (NULL then). */
typedef struct relay_ticket {
    relay_client_t *c;
} relay_ticket_t;

typedef enum {
    LINK_DOWN,       /* waiting for the retry timer */
    LINK_CONNECTING, /* contexts made; waiting for the connect and the SUBSCRIBE reply */
    LINK_CATCHUP,    /* subscribed; reading the stream after `pos` */
    LINK_LIVE,       /* relaying each message as it comes */
} link_state_t;

struct relay {
    /* settings, fixed after relay_start */
    struct mg_context *ctx;
    char *uri;
    const auth_t *auth;
    const guard_t *guard;     /* Host and Origin checks of the upgrade */
    size_t max_pending;
    int ping_s;
    rconn_opts_t redis;        /* where Redis is; with Sentinel, resolved before each connect */
    rconn_addr_t addr;         /* the address of the current (or last) connect */
    char where[300];           /* the Redis address without its password, for logs */
    char key[RCONN_PREFIX_MAX + 16];     /* the events stream */
    char channel[RCONN_PREFIX_MAX + 16]; /* the events channel */

    pthread_t thread;
    int wake_fd;               /* eventfd: civetweb threads and relay_stop wake the thread */

    pthread_mutex_t lock;      /* guards the fields down to `handlers` and each client's handoff */
    relay_client_t *inbox;     /* clients waiting to be taken by the thread */
    int stopping;              /* relay_stop was called: take no more clients */
    int handlers;              /* civetweb threads inside a handler of the relay */
    pthread_cond_t idle;       /* signalled when handlers reaches 0 while stopping */
    int shown_pos_known;       /* `pos` as the thread last showed it, read by handshakes */
    evid_t shown_pos;

    /* relay thread only */
    struct event_base *base;
    struct event *wake_ev, *tick_ev, *reap_ev;
    struct event *batch_ev;    /* activated by the first live message of a batch */
    relay_frame_t *batch[RELAY_BATCH_MAX]; /* live messages read together, sent together */
    size_t batch_n;
    relay_client_t *clients;
    relay_client_t *reap;      /* clients done with, released by reap_ev after the callback */
    long filtering;            /* clients with a filter: events are parsed only when > 0 */
    int64_t stop_deadline;     /* monotonic ms, once stopping */
    int64_t next_ping;         /* monotonic ms of the next ping to the clients */
    /* the link to Redis */
    link_state_t link;
    redisAsyncContext *sub, *cmd;
    int sub_up, cmd_up;        /* subscribed / connected */
    int64_t link_since;        /* monotonic ms the link entered its state */
    int backoff_ms;
    struct event *retry_ev;
    int redis_ping_out;        /* a PING on `cmd` not answered yet */
    int64_t next_redis_ping;
    int pos_known;             /* `pos` is set: else the next catch-up first reads the stream's end */
    evid_t pos;            /* every event up to here is relayed or predates the relay */
    evid_t cursor;         /* the catch-up's last entry read */
    relay_fifo_t early;        /* live messages that came during the catch-up */
    long caught_up;            /* entries relayed by the running catch-up, for its log line */

    /* read by other threads, for /metrics */
    atomic_long nclients;
    atomic_llong nevents;
    atomic_int connected;
};

/* ---- relay_client.c: clients and fan-out ----------------------------------------------- */

/* Takes a client from the inbox: its socket becomes the relay's (non-blocking, no
 * Nagle, a small unsent limit in the kernel), and it goes live or starts its replay. */
void relay_client_add(struct relay *r, relay_client_t *c);

/* Shows `pos` to the handshakes (relay thread, after it changes). */
void relay_show_pos(struct relay *r);

/* Ends a client from the relay's side: no more reads or writes; reap_ev frees it (and
 * closes its socket) once the running callback has returned, so callers up the stack
 * may still look at it and see `dead`. `abortive` resets the connection instead of
 * closing it. */
void relay_client_kill(relay_client_t *c, const char *why, int abortive);

/* Sends a frame to one client, behind what is queued; never blocks. Borrows `f`. A
 * client whose queue would pass max_pending is killed instead (`dead` is set). */
void relay_client_send(relay_client_t *c, relay_frame_t *f);

/* reap_ev and batch_ev (see relay_broadcast_later). */
void relay_on_reap(int fd, short what, void *arg);
void relay_on_batch(int fd, short what, void *arg);

/* Once relay_stop has begun and no client is left: ends the loop. */
void relay_stop_if_idle(struct relay *r);

/* A new frame with `plen` payload bytes of `opcode`, built from `prefix` and then `body`
 * (either may be empty); refs 1. NULL when out of memory. */
relay_frame_t *relay_frame_new(int opcode, evid_t id, const char *prefix, size_t prefix_len,
                               const char *body, size_t body_len);
void relay_frame_unref(relay_frame_t *f);

/* The frame of event `f` that client `c` is sent: `f` itself for a ?format=flat client,
 * else its envelope, built on first use. Borrowed from `f`; NULL when out of memory. */
relay_frame_t *relay_frame_for(const relay_client_t *c, relay_frame_t *f);

/* Reads the event's server_id and migration_id once, for the filters. */
void relay_frame_parse(relay_frame_t *f);

/* Sends an event to every client that wants it (held for those replaying), and moves
 * `pos` to it. Events at or before `pos` are skipped: the catch-up and the live
 * subscription overlap on purpose. Borrows `f`. */
void relay_broadcast(struct relay *r, relay_frame_t *f);

/* Adds a live message to the batch that batch_ev sends once every message read from
 * the subscription in this pass of the loop is in: messages that arrive together
 * (when the relay is busy, or events come in bursts) go to each client in one write, at
 * no cost in latency since no timer is involved. Takes a reference. */
void relay_broadcast_later(struct relay *r, relay_frame_t *f);
/* Sends the batch now (before anything that must come after it). */
void relay_broadcast_flush(struct relay *r);

/* Queues a replayed event on one client (whose filters it passes); borrows `f`. */
void relay_client_replayed(relay_client_t *c, relay_frame_t *f);

/* Ends a client's replay: sends what was held during it, and makes the client live. */
void relay_client_replay_done(relay_client_t *c);

/* Tells a client to reload its state ({"type":"resync","reason":...}); the client then
 * receives the live events (and those held since it connected). */
void relay_client_resync(relay_client_t *c, const char *reason);

/* Bytes queued on a client and not yet written, held ones included. */
size_t relay_client_backlog(const relay_client_t *c);

/* Closes a client with a close frame of `code` and waits for its answer. */
void relay_client_close(relay_client_t *c, int code, const char *reason);

/* ---- relay_redis.c: the subscription, catch-up and replays --------------------------- */

/* Starts connecting (both contexts), through Sentinel when configured; on failure
 * schedules a retry. */
void relay_redis_connect(struct relay *r);
/* Writes r->addr, without its password, into r->where for logs. */
void relay_redis_where(struct relay *r);
/* Asks for the next replay page of a client if the link is live and none is out; the
 * client stays CLIENT_WAITING otherwise and is started when the link is live. */
void relay_redis_replay(struct relay *r, relay_client_t *c);
/* Called every second: connect timeout, health PING. */
void relay_redis_tick(struct relay *r, int64_t now);
/* Frees both contexts for good (relay_stop). */
void relay_redis_close(struct relay *r);
/* retry_ev: the backoff has passed; connect again. */
void relay_redis_on_retry(int fd, short what, void *arg);

#endif
