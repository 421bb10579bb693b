/* rconn.c - a synchronous Redis connection with lazy reconnect and the function library. */
#include "rconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "lualib.h"

#define DEFAULT_TIMEOUT_MS 5000

/* ------------------------------------------------------------------------ URLs */

static int url_err(char *err, size_t errlen, const char *url, const char *why) {
    if (err) snprintf(err, errlen, "MIG_REDIS_URL: %s in \"%s\"", why, url);
    return MIG_EINVALID;
}

int rconn_parse_url(const char *url, rconn_addr_t *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (url == NULL || *url == '\0') return url_err(err, errlen, "", "empty");
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7, *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        if (n == 0 || n >= sizeof a->path) return url_err(err, errlen, url, "bad socket path");
        memcpy(a->path, path, n);
        if (q) {
            if (strncmp(q, "?db=", 4) != 0) return url_err(err, errlen, url, "only ?db=N is understood");
            char *end;
            long db = strtol(q + 4, &end, 10);
            if (*end || end == q + 4 || db < 0 || db > 15) return url_err(err, errlen, url, "bad db");
            a->db = (int)db;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) return url_err(err, errlen, url, "must start with redis:// or unix://");
    const char *s = url + 8, *at = strrchr(s, '@');
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        const char *pw = colon ? colon + 1 : s; /* redis://:pw@ or redis://user:pw@ */
        size_t n = (size_t)(at - pw);
        if (n >= sizeof a->password) return url_err(err, errlen, url, "password too long");
        memcpy(a->password, pw, n);
        s = at + 1;
    }
    const char *slash = strchr(s, '/');
    size_t hostport = slash ? (size_t)(slash - s) : strlen(s);
    const char *colon = memchr(s, ':', hostport);
    size_t hn = colon ? (size_t)(colon - s) : hostport;
    if (hn == 0 || hn >= sizeof a->host) return url_err(err, errlen, url, "bad host");
    memcpy(a->host, s, hn);
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != s + hostport || port < 1 || port > 65535) return url_err(err, errlen, url, "bad port");
        a->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 15) return url_err(err, errlen, url, "bad db");
        a->db = (int)db;
    }
    return 0;
}

/* ------------------------------------------------------------------------ connections */

rconn_t *rconn_new(const rconn_opts_t *o, char *err, size_t errlen) {
    const char *prefix = o->prefix ? o->prefix : "mig:";
    if (strlen(prefix) > RCONN_PREFIX_MAX) {
        if (err) snprintf(err, errlen, "MIG_PREFIX: longer than %d bytes", RCONN_PREFIX_MAX);
        return NULL;
    }
    rconn_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL) {
        if (err) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rconn_parse_url(o->url, &rc->addr, err, errlen) != 0) {
        free(rc);
        return NULL;
    }
    strcpy(rc->prefix, prefix);
    rc->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    rconn_ensure(rc);
    return rc;
}

static void drop(rconn_t *rc) {
    if (rc->ctx) redisFree(rc->ctx);
    rc->ctx = NULL;
    rc->library_checked = 0;
}

void rconn_free(rconn_t *rc) {
    if (rc == NULL) return;
    drop(rc);
    free(rc);
}

/* Runs one command on a fresh context during connect; returns 0 or MIG_EREDIS. */
static int setup_cmd(rconn_t *rc, const char *what, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(rc->ctx, argc, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(rc->err, sizeof rc->err, "%s: %s", what, r ? r->str : rc->ctx->errstr);
        if (r) freeReplyObject(r);
        drop(rc);
        return MIG_EREDIS;
    }
    freeReplyObject(r);
    return 0;
}

int rconn_ensure(rconn_t *rc) {
    if (rc->ctx) return 0;
    struct timeval tv = {rc->timeout_ms / 1000, (rc->timeout_ms % 1000) * 1000};
    rc->ctx = rc->addr.path[0] ? redisConnectUnixWithTimeout(rc->addr.path, tv)
                               : redisConnectWithTimeout(rc->addr.host, rc->addr.port, tv);
    if (rc->ctx == NULL || rc->ctx->err) {
        snprintf(rc->err, sizeof rc->err, "connect to %s:%d%s: %s",
                 rc->addr.path[0] ? rc->addr.path : rc->addr.host, rc->addr.path[0] ? 0 : rc->addr.port,
                 "", rc->ctx ? rc->ctx->errstr : "out of memory");
        drop(rc);
        return MIG_EREDIS;
    }
    redisSetTimeout(rc->ctx, tv);
    if (rc->addr.password[0]) {
        const char *av[] = {"AUTH", rc->addr.password};
        if (setup_cmd(rc, "AUTH", 2, av) != 0) return MIG_EREDIS;
    }
    if (rc->addr.db) {
        char db[8];
        snprintf(db, sizeof db, "%d", rc->addr.db);
        const char *av[] = {"SELECT", db};
        if (setup_cmd(rc, "SELECT", 2, av) != 0) return MIG_EREDIS;
    }
    return 0;
}

redisReply *rconn_command(rconn_t *rc, int argc, const char **argv, const size_t *lens, int *code) {
    *code = 0;
    if (rconn_ensure(rc) != 0) {
        *code = MIG_EREDIS;
        return NULL;
    }
    redisReply *r = redisCommandArgv(rc->ctx, argc, argv, lens);
    if (r == NULL) {
        snprintf(rc->err, sizeof rc->err, "%s: %s", argv[0], rc->ctx->errstr);
        drop(rc);
        *code = MIG_EREDIS;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(rc->err, sizeof rc->err, "%.*s", (int)r->len, r->str);
        *code = err_from_reply(r->str, r->len);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------------ the library */

/* Parses the leading number of a version string "N:hash"; -1 when there is none. */
static long version_number(const char *v) {
    char *end;
    long n = strtol(v, &end, 10);
    return end != v && *end == ':' ? n : -1;
}

int rconn_load_library(rconn_t *rc) {
    int code;
    const char *want = lualib_version();
    const char *av[] = {"FCALL_RO", "mig_version", "0"};
    redisReply *r = rconn_command(rc, 3, av, NULL, &code);
    if (r == NULL && code == MIG_EREDIS && rc->ctx == NULL) return MIG_EREDIS;
    if (r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0) {
        freeReplyObject(r);
        rc->library_checked = 1;
        return 0;
    }
    if (r != NULL && r->type == REDIS_REPLY_STRING && version_number(r->str) > LUALIB_VERSION) {
        snprintf(rc->err, sizeof rc->err,
                 "redis holds function library %s, newer than this binary's %s: upgrade this program",
                 r->str, want);
        freeReplyObject(r);
        return MIG_ELIBRARY;
    }
    if (r) freeReplyObject(r);

    size_t len;
    const char *src = lualib_source(&len);
    if (src == NULL) return MIG_ENOMEM;
    const char *lv[] = {"FUNCTION", "LOAD", "REPLACE", src};
    size_t ll[] = {8, 4, 7, len};
    r = rconn_command(rc, 4, lv, ll, &code);
    if (r == NULL) {
        if (code != MIG_EREDIS || rc->ctx != NULL) {
            char why[RCONN_ERR_MAX - 32];
            memcpy(why, rc->err, sizeof why - 1);
            why[sizeof why - 1] = '\0';
            snprintf(rc->err, sizeof rc->err, "FUNCTION LOAD: %s", why);
            return MIG_ELIBRARY;
        }
        return MIG_EREDIS;
    }
    freeReplyObject(r);
    rc->library_checked = 1;
    log_at(LOG_INFO, "redis.library_loaded", "version", want, NULL);
    return 0;
}

#define FCALL_ARGS_MAX 64

static redisReply *fcall(rconn_t *rc, const char *cmd, const char *fn, int argc, const char *const *argv,
                         int *code) {
    const char *av[FCALL_ARGS_MAX + 4];
    if (argc > FCALL_ARGS_MAX) {
        snprintf(rc->err, sizeof rc->err, "%s: too many arguments", fn);
        *code = MIG_EINVALID;
        return NULL;
    }
    av[0] = cmd;
    av[1] = fn;
    av[2] = "1";
    av[3] = rc->prefix;
    for (int i = 0; i < argc; i++) av[4 + i] = argv[i] ? argv[i] : "";
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!rc->library_checked || attempt == 1) {
            int lc = rconn_load_library(rc);
            if (lc != 0) {
                *code = lc;
                return NULL;
            }
        }
        redisReply *r = rconn_command(rc, argc + 4, av, NULL, code);
        /* A primary that lost its functions (flushed, or a failover to a replica that
         * never had them) answers "ERR Function not found": load and call once more. */
        if (r == NULL && *code == MIG_EREDIS && strstr(rc->err, "Function not found") && attempt == 0)
            continue;
        return r;
    }
    return NULL;
}

redisReply *rconn_fcall(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code) {
    return fcall(rc, "FCALL", fn, argc, argv, code);
}

redisReply *rconn_fcall_ro(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code) {
    return fcall(rc, "FCALL_RO", fn, argc, argv, code);
}

const char *rconn_key(const rconn_t *rc, const char *suffix, char *out, size_t cap) {
    snprintf(out, cap, "%s%s", rc->prefix, suffix);
    return out;
}
