/* err.h - the one error table of the project: MIG_E* codes, their names and messages.
 *
 * Every function that can fail returns 0 or a negative MIG_E* code. The Lua function
 * library answers errors as "<NAME> <message>", where NAME is the name column below, so
 * a Redis error reply maps one-to-one onto a code (err_from_reply_name()). Details of one
 * failure (which id, how long a cooldown lasts) travel on the caller's context, never in
 * a global. */
#ifndef MIG_ERR_H
#define MIG_ERR_H

#include <stddef.h>

/* X(code suffix, name used on the wire, default message) */
#define MIG_ERRNO_MAP(X)                                                              \
    X(INVALID, "INVALID", "invalid argument")                                          \
    X(NOT_FOUND, "NOT_FOUND", "migration not found")                                   \
    X(EXISTS, "EXISTS", "a migration with this id exists")                             \
    X(NO_SERVER, "NO_SERVER", "server not found")                                      \
    X(NO_NODE, "NO_NODE", "node not found")                                            \
    X(ILLEGAL, "ILLEGAL_TRANSITION", "transition not allowed from this status")        \
    X(ACTIVE, "ACTIVE_EXISTS", "another migration of this server is not ended")        \
    X(COOLDOWN, "COOLDOWN", "server is in its cooldown after a migration")             \
    X(STALE, "STALE_LEASE", "lease token is stale")                                    \
    X(NOT_ENDED, "NOT_ENDED", "migration has not ended")                               \
    X(EMPTY, "EMPTY", "nothing to take")                                               \
    X(LIBRARY, "LIBRARY", "function library missing or of another version")            \
    X(REDIS, "REDIS", "redis unreachable or failed")                                   \
    X(PROTO, "PROTO", "unexpected reply")                                              \
    X(NOMEM, "NOMEM", "out of memory")                                                 \
    X(IO, "IO", "i/o error")                                                           \
    X(UNREACHABLE, "UNREACHABLE", "node agent or proxy unreachable or failing")        \
    X(REFUSED, "REFUSED", "node agent or proxy refused the call")                      \
    X(TIMEOUT, "TIMEOUT", "a step did not finish in time")                             \
    X(LOST, "LOST", "the lease was lost to another worker")

/* Index of each code in the table, from 1; MIG_E<code> is its negative. */
enum mig__err_index {
    MIG__E_NONE = 0,
#define X(c, n, m) MIG__E_##c,
    MIG_ERRNO_MAP(X)
#undef X
    MIG__E_END
};

enum mig_err {
    MIG_OK = 0,
#define X(c, n, m) MIG_E##c = -MIG__E_##c,
    MIG_ERRNO_MAP(X)
#undef X
};

/* Message of a code; never NULL ("unknown error" for codes outside the table). */
const char *mig_strerror(int code);

/* Wire name of a code ("ILLEGAL_TRANSITION"); never NULL. */
const char *mig_errname(int code);

/* Code of a Redis error reply such as "ILLEGAL_TRANSITION cannot approve ...": the first
 * word is looked up in the name column; any other text maps to MIG_EREDIS. `len` bytes of
 * `reply` are read. */
int err_from_reply(const char *reply, size_t len);

#endif
