/* redisurl.h - the Redis URL of MIG_REDIS_URL, parsed, and any text that may hold one
 * with its password masked. Pure: rconn.c connects with what it parses, and every message
 * and log line that could carry a URL goes through redisurl_mask first, so a password
 * never reaches stderr, a log collector or an HTTP answer. */
#ifndef MIG_REDISURL_H
#define MIG_REDISURL_H

#include <stddef.h>

#define REDISURL_MASK "***" /* what a password is shown as */

/* A parsed URL. */
typedef struct {
    char host[256];     /* empty for a unix socket */
    int port;
    char path[256];     /* unix socket path, empty for TCP */
    char user[128];     /* ACL user (redis://user:pass@host); empty: the default user */
    char password[256]; /* empty when none */
    int db;
} rconn_addr_t;

/* Parses redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N] into `a`.
 * "redis://:pw@h" and the older "redis://pw@h" mean the default user. Returns 0 or
 * MIG_EINVALID with "MIG_REDIS_URL: <why> in \"<url, password masked>\"" in `err`. */
int redisurl_parse(const char *url, rconn_addr_t *a, char *err, size_t errlen);

/* Copies `text` into `out` (`cap` bytes, always terminated) with the password of every
 * "scheme://user:password@" in it replaced by REDISURL_MASK, and the whole userinfo of a
 * "scheme://password@" too. Returns `out`. */
const char *redisurl_mask(const char *text, char *out, size_t cap);

/* True when `text` holds a URL with userinfo ("://...@") that redisurl_mask would change. */
int redisurl_has_secret(const char *text);

#endif
