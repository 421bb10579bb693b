/* rconn.h - one synchronous connection to Redis: URL parsing, connect with a timeout,
 * lazy reconnect after a failure, loading the function library, and FCALL with errors
 * mapped onto the MIG_E* table.
 *
 * A connection is used by one thread at a time. After an I/O error the context is
 * dropped and the next call reconnects, so a Redis restart costs the callers one
 * MIG_EREDIS each, never a stuck program. */
#ifndef MIG_RCONN_H
#define MIG_RCONN_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#define RCONN_PREFIX_MAX 64   /* longest key prefix, bytes */
#define RCONN_ERR_MAX 512     /* longest error text kept on the connection */

/* Where Redis is. */
typedef struct {
    const char *url;     /* redis://[:password@]host:port[/db] or unix:///path[?db=N] */
    const char *prefix;  /* key prefix, "mig:" when NULL */
    int timeout_ms;      /* connect and command timeout; 0 means 5000 */
} rconn_opts_t;

/* A parsed URL. */
typedef struct {
    char host[256];     /* empty for a unix socket */
    int port;
    char path[256];     /* unix socket path, empty for TCP */
    char password[256]; /* empty when none */
    int db;
} rconn_addr_t;

typedef struct rconn {
    redisContext *ctx;         /* NULL while disconnected */
    rconn_addr_t addr;
    char prefix[RCONN_PREFIX_MAX + 1];
    int timeout_ms;
    int library_checked;       /* the library's version was checked on this connection */
    char err[RCONN_ERR_MAX];   /* what the last failed call said */
} rconn_t;

/* Parses a Redis URL. Returns 0 or MIG_EINVALID (with the reason in `err`). */
int rconn_parse_url(const char *url, rconn_addr_t *addr, char *err, size_t errlen);

/* Makes a connection object and tries to connect (a failure to connect now is not an
 * error: the next call tries again). Returns NULL with the reason in `err` when the
 * options are bad or memory is short. Free with rconn_free(). */
rconn_t *rconn_new(const rconn_opts_t *opts, char *err, size_t errlen);

void rconn_free(rconn_t *rc);

/* Connects when not connected (AUTH and SELECT included). Returns 0 or MIG_EREDIS. */
int rconn_ensure(rconn_t *rc);

/* Sends one command as an argv vector. Returns the reply (caller frees with
 * freeReplyObject) or NULL with *code set: MIG_EREDIS on I/O failure, or the MIG_E*
 * code of an error reply, whose text is kept in rc->err. `lens` may be NULL for
 * NUL-terminated arguments. */
redisReply *rconn_command(rconn_t *rc, int argc, const char **argv, const size_t *lens, int *code);

/* Calls function `fn` of the library with the prefix as its key and `argc` arguments:
 * FCALL fn 1 <prefix> argv... Loads the library first on a connection that has not
 * checked it, and once more when Redis answers that the function is unknown (a flushed
 * or replaced primary). Same reply contract as rconn_command(). */
redisReply *rconn_fcall(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code);

/* The same as rconn_fcall() with FCALL_RO, for the no-writes functions. */
redisReply *rconn_fcall_ro(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code);

/* Makes sure the loaded library is this binary's: loads it when absent or different,
 * and refuses (MIG_ELIBRARY) when Redis holds a newer LUALIB_VERSION. Returns 0 or a
 * MIG_E* code. */
int rconn_load_library(rconn_t *rc);

/* The keys C touches directly, as suffixes of the prefix. Lua names every other key in
 * lua-scripts/common.lua; these must stay equal to its k_ready, k_events and channel. */
#define RCONN_KEY_READY "ready"    /* list of promoted migrations; KEDA scales on it */
#define RCONN_KEY_EVENTS "events"  /* capped stream of every event */
#define RCONN_CHANNEL_EVENTS "events" /* pub/sub channel of the same events */

/* The full name of a key: prefix + suffix, into `out` of `cap` bytes. For the few keys
 * that C touches directly (the ready queue, the events stream). */
const char *rconn_key(const rconn_t *rc, const char *suffix, char *out, size_t cap);

#endif
