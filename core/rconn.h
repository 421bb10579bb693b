/* rconn.h - one synchronous connection to Redis: URL parsing, connect with a timeout,
 * finding the primary through Sentinel, lazy reconnect after a failure, loading the
 * function library, and FCALL with errors mapped onto the MIG_E* table.
 *
 * A connection is used by one thread at a time. After an I/O error the context is
 * dropped and the next call reconnects, so a Redis restart costs the callers one
 * MIG_EREDIS each, never a stuck program.
 *
 * With Sentinel (MIG_REDIS_SENTINELS), every connect asks the sentinels where the
 * primary is and checks with ROLE that it is one; an I/O error or a READONLY reply
 * (a primary demoted to replica) drops the connection, so the next call follows a
 * failover by itself. A write that must not be lost is followed by WAIT for
 * wait_replicas replicas in the same round trip, and fails when they did not confirm it:
 * a caller never reports as done a change that a failover could take back. */
#ifndef MIG_RCONN_H
#define MIG_RCONN_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "arena.h"
#include "config.h"
#include "redisurl.h"
#include "sentinel.h"

#define RCONN_PREFIX_MAX 64   /* longest key prefix, bytes */
#define RCONN_ERR_MAX 512     /* longest error text kept on the connection */
#define RCONN_WAIT_MAX 100    /* most replicas a write may wait for: more than any deployment has */

/* Where Redis is. */
typedef struct {
    const char *url;       /* redis://[[user]:password@]host:port[/db] or unix:///path[?db=N];
                            * with Sentinel only its user, password and db apply */
    const char *prefix;    /* key prefix, "mig:" when NULL */
    int timeout_ms;        /* connect and command timeout; 0 means 5000 */
    const char *sentinels; /* "host:port,host:port" of Sentinel, or NULL to use `url`'s host */
    const char *master;    /* the primary's name at the sentinels; "mymaster" when NULL */
    const char *sentinel_password; /* AUTH sent to each sentinel before asking it, or NULL */
    int wait_replicas;     /* replicas a lasting write waits for (WAIT); 0: none */
    int wait_ms;           /* longest WAIT, ms; 0 means 1000 */
} rconn_opts_t;

typedef struct rconn {
    redisContext *ctx;         /* NULL while disconnected */
    rconn_addr_t addr;         /* the URL's; with Sentinel, host and port of the last primary */
    char prefix[RCONN_PREFIX_MAX + 1];
    int timeout_ms;
    int library_checked;       /* the library's version was checked on this connection */
    char err[RCONN_ERR_MAX];   /* what the last failed call said */
    sentinel_list_t sentinels; /* n == 0 without Sentinel */
    char master[SENTINEL_NAME_MAX + 1];
    char sentinel_password[256]; /* "" when the sentinels take no AUTH */
    int first_sentinel;        /* asked first: the one that last named the primary */
    char primary[SENTINEL_HOST_MAX + 16]; /* "host:port" of the primary found last; "" before */
    int wait_replicas;         /* as in rconn_opts_t */
    int wait_ms;
    arena_t arena;             /* the replies of the last rconn_exec() */
} rconn_t;

/* One command of rconn_exec(). */
typedef struct {
    int argc;
    const char **argv; /* NUL-terminated arguments */
} rconn_cmd_t;

/* Parses a Redis URL (redisurl_parse). Returns 0 or MIG_EINVALID (with the reason in
 * `err`, the password masked). */
int rconn_parse_url(const char *url, rconn_addr_t *addr, char *err, size_t errlen);

/* Fills `o` from a program's common settings (config.h): URL (read from
 * MIG_REDIS_URL_FILE when that is set; the text is kept for the life of the process),
 * Sentinel and its password, prefix and the
 * WAIT policy (MIG_REDIS_WAIT_REPLICAS unset means 1 with Sentinel, 0 without), with
 * `timeout_ms`. Checks the URL and the sentinel list, so a program refuses bad settings
 * at start. Returns 0, or MIG_EINVALID (MIG_ENOMEM) with the problem in `err`. The
 * strings stay borrowed from `c`. */
int rconn_opts_from_config(rconn_opts_t *o, const config_common_t *c, int timeout_ms, char *err, size_t errlen);

/* Where `o` points, for logs, never with the password: "127.0.0.1:6379/0",
 * "unix:///path/0" or "sentinels a:26379,b:26379 master mymaster". Returns `out`. */
const char *rconn_where(const rconn_opts_t *o, char *out, size_t cap);

/* Where the primary is now: through Sentinel when `o` names sentinels (asked in turn,
 * the answer checked with ROLE on the primary itself), else the URL as parsed, without
 * any I/O. The URL's password and db are kept in `addr` either way. For a connection
 * that rconn does not make (the relay's asynchronous one): resolve before each connect.
 * Returns 0, MIG_EINVALID for bad options, or MIG_EREDIS when no sentinel named a
 * reachable primary; the reason in `err`. Blocks up to a few short timeouts. */
int rconn_resolve(const rconn_opts_t *o, rconn_addr_t *addr, char *err, size_t errlen);

/* Makes a connection object and tries to connect (a failure to connect now is not an
 * error: the next call tries again). Returns NULL with the reason in `err` when the
 * options are bad or memory is short. Free with rconn_free(). */
rconn_t *rconn_new(const rconn_opts_t *opts, char *err, size_t errlen);

void rconn_free(rconn_t *rc);

/* Connects when not connected (through Sentinel when configured; AUTH and SELECT
 * included), or when the server closed the connection while it was idle, so a call
 * after a failover goes to the new primary instead of failing once on the old one.
 * Returns 0 or MIG_EREDIS with the reason in rc->err. */
int rconn_ensure(rconn_t *rc);

/* Sends one command as an argv vector. Returns the reply (caller frees with
 * freeReplyObject) or NULL with *code set: MIG_EREDIS on I/O failure, or the MIG_E*
 * code of an error reply, whose text is kept in rc->err. A READONLY or MASTERDOWN reply
 * (this server is no longer the primary) is MIG_EREDIS and drops the connection. `lens`
 * may be NULL for NUL-terminated arguments. Never WAITs. */
redisReply *rconn_command(rconn_t *rc, int argc, const char **argv, const size_t *lens, int *code);

/* Calls function `fn` of the library with the prefix as its key and `argc` arguments:
 * FCALL fn 1 <prefix> argv... Loads the library first on a connection that has not
 * checked it, and once more when Redis answers that the function is unknown (a flushed
 * or replaced primary). Same reply contract as rconn_command(). With wait_replicas > 0,
 * the call is followed by WAIT in the same round trip; when fewer replicas confirm it,
 * NULL with MIG_EREDIS and "not yet replicated" in rc->err, even though the primary
 * applied it. */
redisReply *rconn_fcall(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code);

/* The same as rconn_fcall() without the WAIT, for a write whose loss in a failover the
 * caller knows the next call repairs (which writes those are is the store's decision:
 * core/store.c). */
redisReply *rconn_fcall_unwaited(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code);

/* The same as rconn_fcall() with FCALL_RO, for the no-writes functions (never WAITs). */
redisReply *rconn_fcall_ro(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code);

/* Runs `n` commands as one transaction, MULTI, the commands, EXEC, sent in one write,
 * and returns EXEC's reply: an array of the n replies, an error reply among them for a
 * command that failed. The replies are built in the connection's arena instead of one
 * malloc each (a page of records is thousands of them): the reply stays valid until the
 * next rconn_exec() on `rc` or rconn_free(), and must not be given to freeReplyObject.
 * NULL with *code as rconn_command() says when the connection or the transaction fails.
 * Never WAITs: for reads. */
redisReply *rconn_exec(rconn_t *rc, const rconn_cmd_t *cmds, int n, int *code);

/* Makes sure the loaded library is this binary's: loads it when absent or different,
 * and refuses (MIG_ELIBRARY) when Redis holds a newer LUALIB_VERSION. Returns 0 or a
 * MIG_E* code. */
int rconn_load_library(rconn_t *rc);

/* A program's first contact, before it serves: connects once with `o` and makes sure
 * the library is this binary's (rconn_load_library). Returns MIG_ELIBRARY, with the
 * reason in `err`, when Redis holds a newer library or refuses this one: the program
 * must exit (status 1) rather than run and fail every call; in a rolling upgrade the
 * old pods then stop where the new ones start. Returns 0 otherwise, also when Redis
 * cannot be reached now (logged; the program's own calls retry) or on a bad option. */
int rconn_check_library(const rconn_opts_t *o, char *err, size_t errlen);

/* The keys C touches directly, as suffixes of the prefix. Lua names every other key in
 * lua-scripts/common.lua; these must stay equal to its k_ready, k_events and channel. */
#define RCONN_KEY_READY "ready"    /* list of promoted migrations; KEDA scales on it */
#define RCONN_KEY_EVENTS "events"  /* capped stream of every event */
#define RCONN_CHANNEL_EVENTS "events" /* pub/sub channel of the same events */

/* The full name of a key: prefix + suffix, into `out` of `cap` bytes. For the few keys
 * that C touches directly (the ready queue, the events stream). */
const char *rconn_key(const rconn_t *rc, const char *suffix, char *out, size_t cap);

#endif
