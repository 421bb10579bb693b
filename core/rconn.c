/* rconn.c - a synchronous Redis connection with lazy reconnect, Sentinel, WAIT and the function library. */
#include "rconn.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "lualib.h"
#include "sentinel.h"
#include "timefmt.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_URL "redis://127.0.0.1:6379" /* MIG_REDIS_URL unset, without Sentinel */
#define DEFAULT_WAIT_MS 1000     /* WAIT's bound: replicas on a LAN confirm in about a ms */
#define SENTINEL_TIMEOUT_MS 500  /* connect and reply of one sentinel: a live one answers in a
                                  * ms, and a dead one must not hold up asking the next */
#define RESOLVE_ROUNDS 5         /* passes over the sentinels while they name a demoted primary */
#define RESOLVE_PAUSE_MS 100     /* between passes: Sentinel spreads a new primary in ~1 s */
#define RCONN_READ_BUF_KEEP (1024 * 1024) /* bytes of empty read buffer a connection keeps */

/* ------------------------------------------------------------------------ URLs */

int rconn_parse_url(const char *url, rconn_addr_t *a, char *err, size_t errlen) {
    return redisurl_parse(url, a, err, errlen);
}

/* ------------------------------------------------------------------------ options */

/* Checks `o` and copies what a connection keeps into `rc` (no I/O). Returns 0 or
 * MIG_EINVALID with the reason in `err`. */
static int setup(rconn_t *rc, const rconn_opts_t *o, char *err, size_t errlen) {
    const char *prefix = o->prefix ? o->prefix : "mig:";
    const char *master = o->master && *o->master ? o->master : "mymaster";
    if (strlen(prefix) > RCONN_PREFIX_MAX) {
        if (err) snprintf(err, errlen, "MIG_PREFIX: longer than %d bytes", RCONN_PREFIX_MAX);
        return MIG_EINVALID;
    }
    if (strlen(master) > SENTINEL_NAME_MAX) {
        if (err) snprintf(err, errlen, "MIG_REDIS_MASTER: longer than %d bytes", SENTINEL_NAME_MAX);
        return MIG_EINVALID;
    }
    if (o->wait_replicas < 0 || o->wait_replicas > RCONN_WAIT_MAX) {
        if (err) snprintf(err, errlen, "MIG_REDIS_WAIT_REPLICAS: must be from 0 to %d", RCONN_WAIT_MAX);
        return MIG_EINVALID;
    }
    if (o->wait_ms < 0) {
        if (err) snprintf(err, errlen, "MIG_REDIS_WAIT_MS: must not be negative");
        return MIG_EINVALID;
    }
    int sentinel = o->sentinels && *o->sentinels;
    /* with Sentinel the URL only adds a password and a db, so it may be left out */
    int rv = sentinel && o->url == NULL ? 0 : rconn_parse_url(o->url, &rc->addr, err, errlen);
    if (rv == 0 && sentinel) rv = sentinel_parse_list(o->sentinels, &rc->sentinels, err, errlen);
    if (rv != 0) return rv;
    if (o->sentinel_password && strlen(o->sentinel_password) >= sizeof rc->sentinel_password) {
        if (err) snprintf(err, errlen, "MIG_REDIS_SENTINEL_PASSWORD: longer than %zu bytes",
                          sizeof rc->sentinel_password - 1);
        return MIG_EINVALID;
    }
    strcpy(rc->prefix, prefix);
    strcpy(rc->master, master);
    snprintf(rc->sentinel_password, sizeof rc->sentinel_password, "%s",
             o->sentinel_password ? o->sentinel_password : "");
    rc->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    rc->wait_replicas = o->wait_replicas;
    rc->wait_ms = o->wait_ms > 0 ? o->wait_ms : DEFAULT_WAIT_MS;
    return 0;
}

#define URL_FILE_MAX 4096 /* longest MIG_REDIS_URL_FILE, bytes: one URL */
#define URL_FILES_KEPT 8  /* distinct URLs read from files in one process (tests read a few) */

/* Reads the first line of `path` (trailing blanks dropped) and returns it, kept for the
 * life of the process: `rconn_opts_t` borrows it, and a program reads it once at start.
 * NULL with the reason in `err`. */
static const char *read_url_file(const char *path, char *err, size_t errlen) {
    static char *kept[URL_FILES_KEPT];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char buf[URL_FILE_MAX + 1];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "MIG_REDIS_URL_FILE: cannot open %.200s", path);
        return NULL;
    }
    size_t n = fread(buf, 1, URL_FILE_MAX, f);
    int bad = ferror(f) || (n == URL_FILE_MAX && fgetc(f) != EOF);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    for (n = strlen(buf); n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'); n--) buf[n - 1] = '\0';
    if (bad || n == 0) {
        snprintf(err, errlen, "MIG_REDIS_URL_FILE: %.200s: %s", path, bad ? "unreadable or over 4096 bytes" : "empty");
        return NULL;
    }
    const char *found = NULL;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < URL_FILES_KEPT && found == NULL; i++) {
        if (kept[i] == NULL) kept[i] = strdup(buf);
        if (kept[i] && strcmp(kept[i], buf) == 0) found = kept[i];
    }
    pthread_mutex_unlock(&lock);
    if (found == NULL) snprintf(err, errlen, "MIG_REDIS_URL_FILE: out of memory");
    return found;
}

int rconn_opts_from_config(rconn_opts_t *o, const config_common_t *c, int timeout_ms, char *err, size_t errlen) {
    int sentinel = c->sentinels && *c->sentinels;
    long long replicas = sentinel ? 1 : 0, wait_ms = DEFAULT_WAIT_MS;
    int rv = 0;
    const char *url = c->redis_url;
    if (c->redis_url_file && *c->redis_url_file) {
        if (url) {
            snprintf(err, errlen, "MIG_REDIS_URL and MIG_REDIS_URL_FILE: set one of them, not both");
            return MIG_EINVALID;
        }
        if ((url = read_url_file(c->redis_url_file, err, errlen)) == NULL) return MIG_EINVALID;
    }
    /* with Sentinel the URL only adds a user, a password and a db: none is fine */
    if (url == NULL && !sentinel) url = DEFAULT_URL;
    if (c->wait_replicas && *c->wait_replicas)
        rv = config_int("MIG_REDIS_WAIT_REPLICAS", c->wait_replicas, 0, RCONN_WAIT_MAX, &replicas, err, errlen);
    if (rv == 0 && c->wait_ms)
        rv = config_int("MIG_REDIS_WAIT_MS", c->wait_ms, 1, 600000, &wait_ms, err, errlen);
    if (rv != 0) return rv;
    *o = (rconn_opts_t){.url = url, .prefix = c->prefix, .timeout_ms = timeout_ms,
                        .sentinels = sentinel ? c->sentinels : NULL, .master = c->master,
                        .sentinel_password = c->sentinel_password,
                        .wait_replicas = (int)replicas, .wait_ms = (int)wait_ms};
    rconn_t *probe = calloc(1, sizeof *probe);
    if (probe == NULL) {
        snprintf(err, errlen, "out of memory");
        return MIG_ENOMEM;
    }
    rv = setup(probe, o, err, errlen);
    free(probe);
    return rv;
}

const char *rconn_where(const rconn_opts_t *o, char *out, size_t cap) {
    rconn_addr_t a;
    char err[8];
    if (o->sentinels && *o->sentinels)
        snprintf(out, cap, "sentinels %s master %s", o->sentinels, o->master && *o->master ? o->master : "mymaster");
    else if (rconn_parse_url(o->url, &a, err, sizeof err) != 0)
        snprintf(out, cap, "(bad URL)");
    else if (a.path[0])
        snprintf(out, cap, "unix://%s/%d", a.path, a.db);
    else
        snprintf(out, cap, "%s:%d/%d", a.host, a.port, a.db);
    return out;
}

/* ------------------------------------------------------------------------ connections */

static struct timeval tv_of(int ms) {
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* Runs one setup command on a fresh context; 0, or -1 with "<what>: <why>" in `err`. */
static int setup_cmd(redisContext *c, const char *what, int argc, const char **argv, char *err, size_t errlen) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (!ok) snprintf(err, errlen, "%s: %s", what, r ? r->str : c->errstr);
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Connects to `a` (TCP or unix socket) within `connect_ms`, sets `io_ms` as the timeout
 * of each reply, and runs AUTH and SELECT as the URL says. Returns the context (free
 * with redisFree) or NULL with the reason in `err`. */
static redisContext *open_ctx(const rconn_addr_t *a, int connect_ms, int io_ms, char *err, size_t errlen) {
    redisContext *c = a->path[0] ? redisConnectUnixWithTimeout(a->path, tv_of(connect_ms))
                                 : redisConnectWithTimeout(a->host, a->port, tv_of(connect_ms));
    if (c == NULL || c->err) {
        snprintf(err, errlen, "connect to %s:%d: %s", a->path[0] ? a->path : a->host, a->path[0] ? 0 : a->port,
                 c ? c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(c, tv_of(io_ms));
    /* hiredis frees its read buffer after each reply once 16 KB of it stand empty, so a
     * list page (46 KB) regrew it every call, and the large reallocations made malloc
     * consolidate the thousands of small chunks each reply frees (a tenth of the API's
     * CPU per page, bench/RESULTS.md, list). Keep up to 1 MiB between replies. */
    c->reader->maxbuf = RCONN_READ_BUF_KEEP;
    if (a->password[0]) {
        /* AUTH user pass for an ACL user, AUTH pass for the default one */
        const char *av[] = {"AUTH", a->user, a->password};
        int ac = 3;
        if (a->user[0] == '\0') av[1] = a->password, ac = 2;
        if (setup_cmd(c, "AUTH", ac, av, err, errlen) != 0) goto fail;
    }
    if (a->db) {
        char db[8];
        snprintf(db, sizeof db, "%d", a->db);
        const char *av[] = {"SELECT", db};
        if (setup_cmd(c, "SELECT", 2, av, err, errlen) != 0) goto fail;
    }
    return c;
fail:
    if (c) redisFree(c);
    return NULL;
}

/* The reply timeout of a connection: a waited write may block in WAIT on top of it. */
static int io_ms_of(const rconn_t *rc) {
    return rc->timeout_ms + (rc->wait_replicas > 0 ? rc->wait_ms : 0);
}

/* Asks sentinel `s` where the master `name` is, after AUTH with `password` when it is
 * not empty. Returns 0 with the address in `out`, or a MIG_E* code with the reason in
 * `err`. */
static int ask_sentinel(const sentinel_addr_t *s, const char *name, const char *password, int timeout_ms,
                        sentinel_addr_t *out, char *err, size_t errlen) {
    char where[SENTINEL_HOST_MAX + 16], why[256];
    sentinel_addr_format(s, where, sizeof where);
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv_of(timeout_ms));
    if (c == NULL || c->err) {
        snprintf(err, errlen, "sentinel %.100s: %.200s", where, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return MIG_EREDIS;
    }
    redisSetTimeout(c, tv_of(timeout_ms));
    if (password[0]) {
        const char *av[] = {"AUTH", password};
        if (setup_cmd(c, "AUTH", 2, av, why, sizeof why) != 0) {
            snprintf(err, errlen, "sentinel %.100s: %.200s", where, why);
            redisFree(c);
            return MIG_EREDIS;
        }
    }
    const char *av[] = {"SENTINEL", "get-master-addr-by-name", name};
    redisReply *r = redisCommandArgv(c, 3, av, NULL);
    int rv = r ? sentinel_parse_master(r, out, why, sizeof why) : MIG_EREDIS;
    if (r == NULL) snprintf(why, sizeof why, "%s", c->errstr);
    if (rv != 0) snprintf(err, errlen, "sentinel %.100s: %.200s", where, why);
    if (r) freeReplyObject(r);
    redisFree(c);
    return rv;
}

/* Asks the sentinels, starting with the one that answered last, until a majority of
 * them names one address (sentinel_quorum), so that a live majority costs no timeout of
 * a dead sentinel asked last. Returns 0 with the address in `p`, or MIG_ENOT_FOUND with
 * the reason in `last`. A sentinel that names another address than the majority's is
 * logged: it is rogue, or behind. */
static int primary_by_quorum(rconn_t *rc, int sentinel_ms, sentinel_addr_t *p, char *last, size_t lastlen) {
    sentinel_answer_t ans[SENTINEL_MAX];
    int n = rc->sentinels.n, votes = 0;
    memset(ans, 0, sizeof ans);
    for (int k = 0; k < n; k++) {
        int i = (rc->first_sentinel + k) % n;
        char why[RCONN_ERR_MAX - 128];
        if (ask_sentinel(&rc->sentinels.v[i], rc->master, rc->sentinel_password, sentinel_ms, &ans[i].addr, why,
                         sizeof why) == 0)
            ans[i].ok = 1;
        else
            snprintf(last, lastlen, "%s", why);
        if (sentinel_quorum(ans, n, p, &votes) == 0) break;
    }
    if (votes < n / 2 + 1) {
        char tail[200];
        snprintf(tail, sizeof tail, "%.199s", last);
        snprintf(last, lastlen, "no majority of the %d sentinels named one primary (at most %d agreed; last: %.199s)",
                 n, votes, tail);
        return MIG_ENOT_FOUND;
    }
    int first = -1; /* asked first next time: the first of the majority in this pass */
    for (int k = 0; k < n; k++) {
        int i = (rc->first_sentinel + k) % n;
        if (!ans[i].ok) continue;
        if (ans[i].addr.port == p->port && strcasecmp(ans[i].addr.host, p->host) == 0) {
            if (first < 0) first = i;
            continue;
        }
        char s[SENTINEL_HOST_MAX + 16], named[SENTINEL_HOST_MAX + 16], major[SENTINEL_HOST_MAX + 16];
        log_at(LOG_WARN, "redis.sentinel_outvoted", "sentinel", sentinel_addr_format(&rc->sentinels.v[i], s, sizeof s),
               "named", sentinel_addr_format(&ans[i].addr, named, sizeof named), "majority",
               sentinel_addr_format(p, major, sizeof major), NULL);
    }
    rc->first_sentinel = first;
    return 0;
}

/* Finds the primary through the sentinels and connects rc->ctx to it.
 *
 * A majority of the configured sentinels must name the same address before anything is
 * sent to it (primary_by_quorum): the first command there is AUTH with the password, and
 * the next ones load the function library, so one sentinel (a rogue one, or a stale one)
 * must never decide where they go. The named address must then answer ROLE with
 * "master". ROLE comes after AUTH, not before: a Redis with requirepass answers NOAUTH to
 * anything else, and a rogue server would claim "master" anyway, so a ROLE first would
 * prove nothing; the quorum, the sentinels' own password and the network policy
 * (deploy/k8s/networkpolicy.yaml) are what keep the password from a rogue address.
 *
 * For a moment after a failover the sentinels may disagree, or agree on the old primary,
 * now a replica; so a pass without a quorum or with a replica is followed by another, up
 * to RESOLVE_ROUNDS. A named primary that cannot be reached is not retried: Sentinel
 * needs down-after-milliseconds to notice, far longer than a caller should block; the
 * caller's next call asks again. Returns 0 or MIG_EREDIS with the reason in rc->err. */
static int connect_sentinel(rconn_t *rc) {
    char why[RCONN_ERR_MAX] = "", last[RCONN_ERR_MAX - 128] = "no answer";
    int sentinel_ms = rc->timeout_ms < SENTINEL_TIMEOUT_MS ? rc->timeout_ms : SENTINEL_TIMEOUT_MS;
    for (int round = 0; round < RESOLVE_ROUNDS; round++) {
        if (round > 0) timefmt_sleep_ms(RESOLVE_PAUSE_MS);
        sentinel_addr_t p;
        char named[SENTINEL_HOST_MAX + 16];
        if (primary_by_quorum(rc, sentinel_ms, &p, last, sizeof last) != 0) continue; /* they may be about to agree */
        sentinel_addr_format(&p, named, sizeof named);
        rconn_addr_t a = rc->addr;
        snprintf(a.host, sizeof a.host, "%s", p.host);
        a.port = p.port;
        a.path[0] = '\0';
        redisContext *c = open_ctx(&a, rc->timeout_ms, io_ms_of(rc), why, sizeof why);
        if (c == NULL) {
            snprintf(last, sizeof last, "primary %.100s named by the sentinels: %.250s", named, why);
            break;
        }
        redisReply *r = redisCommand(c, "ROLE");
        int rv = r ? sentinel_check_role(r, why, sizeof why) : MIG_EIO;
        if (r == NULL) snprintf(why, sizeof why, "ROLE: %s", c->errstr);
        if (r) freeReplyObject(r);
        if (rv != 0) {
            snprintf(last, sizeof last, "%.100s named by the sentinels: %.250s", named, why);
            redisFree(c);
            if (rv == MIG_EREDIS) continue; /* a replica: the sentinels may be about to agree */
            break;
        }
        /* a new primary is news once per connection; the first one and the same one are not */
        int moved = rc->primary[0] && strcmp(rc->primary, named) != 0;
        log_at(moved ? LOG_INFO : LOG_DEBUG, moved ? "redis.failover_followed" : "redis.primary_found", "master",
               rc->master, "primary", named, "previous", rc->primary, NULL);
        snprintf(rc->primary, sizeof rc->primary, "%s", named);
        rc->ctx = c;
        rc->addr = a;
        return 0;
    }
    snprintf(rc->err, sizeof rc->err, "no sentinel named a reachable primary for \"%.64s\": %.380s", rc->master, last);
    return MIG_EREDIS;
}

rconn_t *rconn_new(const rconn_opts_t *o, char *err, size_t errlen) {
    rconn_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL) {
        if (err) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (setup(rc, o, err, errlen) != 0) {
        free(rc);
        return NULL;
    }
    rconn_ensure(rc);
    return rc;
}

static void drop(rconn_t *rc) {
    if (rc->ctx) redisFree(rc->ctx);
    rc->ctx = NULL;
    rc->library_checked = 0; /* the next server may be a new primary without the library */
}

void rconn_free(rconn_t *rc) {
    if (rc == NULL) return;
    drop(rc);
    arena_free(&rc->arena);
    free(rc);
}

/* True when the server closed the connection while it sat idle between commands (it
 * died, or Sentinel made it drop its clients when it was demoted): an idle synchronous
 * connection has nothing to read but an end or an error. Seen before a command is sent,
 * the command goes out once, on a fresh connection, instead of failing on the stale one. */
static int closed_while_idle(const redisContext *c) {
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) > 0;
}

int rconn_ensure(rconn_t *rc) {
    if (rc->ctx && closed_while_idle(rc->ctx)) drop(rc);
    if (rc->ctx) return 0;
    if (rc->sentinels.n > 0) return connect_sentinel(rc);
    rc->ctx = open_ctx(&rc->addr, rc->timeout_ms, io_ms_of(rc), rc->err, sizeof rc->err);
    return rc->ctx ? 0 : MIG_EREDIS;
}

int rconn_resolve(const rconn_opts_t *o, rconn_addr_t *addr, char *err, size_t errlen) {
    rconn_t *rc = calloc(1, sizeof *rc);
    int rv = MIG_ENOMEM;
    if (rc == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rv = setup(rc, o, err, errlen)) != 0) goto out;
    if (rc->sentinels.n > 0 && (rv = connect_sentinel(rc)) != 0) {
        snprintf(err, errlen, "%s", rc->err);
        goto out;
    }
    *addr = rc->addr;
out:
    rconn_free(rc);
    return rv;
}

/* True for an error reply that says this server is not (or no longer) a usable primary:
 * a primary demoted to replica answers READONLY to writes, and MASTERDOWN to everything
 * when it lost its own primary. */
static int not_primary(const redisReply *r) {
    return (r->len >= 8 && memcmp(r->str, "READONLY", 8) == 0) || (r->len >= 10 && memcmp(r->str, "MASTERDOWN", 10) == 0);
}

/* Takes an error reply: keeps its text, maps its code, and drops a connection to a server
 * that is no longer the primary so that the next call finds the new one. Frees `r`. */
static int error_reply(rconn_t *rc, redisReply *r) {
    snprintf(rc->err, sizeof rc->err, "%.*s", (int)r->len, r->str);
    int code = err_from_reply(r->str, r->len);
    if (not_primary(r)) {
        drop(rc);
        code = MIG_EREDIS;
    }
    freeReplyObject(r);
    return code;
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
        *code = error_reply(rc, r);
        return NULL;
    }
    return r;
}

/* Sends a write and WAIT for rc->wait_replicas in one round trip (pipelined: both go out
 * before either reply is read). Returns the write's reply as rconn_command() does; when
 * the write was applied but fewer replicas confirmed it within rc->wait_ms, NULL with
 * MIG_EREDIS: a failover now could lose it, so nobody may report it as done. The
 * connection is dropped then, since a primary cut off from its replicas may be one that
 * Sentinel is replacing; the next call asks the sentinels again. */
static redisReply *command_waited(rconn_t *rc, int argc, const char **argv, int *code) {
    redisReply *r = NULL, *w = NULL;
    char n[16], ms[16];
    *code = 0;
    if (rconn_ensure(rc) != 0) {
        *code = MIG_EREDIS;
        return NULL;
    }
    snprintf(n, sizeof n, "%d", rc->wait_replicas);
    snprintf(ms, sizeof ms, "%d", rc->wait_ms);
    const char *wv[] = {"WAIT", n, ms};
    if (redisAppendCommandArgv(rc->ctx, argc, argv, NULL) != REDIS_OK ||
        redisAppendCommandArgv(rc->ctx, 3, wv, NULL) != REDIS_OK || redisGetReply(rc->ctx, (void **)&r) != REDIS_OK ||
        redisGetReply(rc->ctx, (void **)&w) != REDIS_OK) {
        snprintf(rc->err, sizeof rc->err, "%s %s: %s", argv[0], argc > 1 ? argv[1] : "", rc->ctx->errstr);
        *code = MIG_EREDIS;
        goto fail;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *code = error_reply(rc, r); /* refused: nothing was written, nothing to wait for */
        r = NULL;
        freeReplyObject(w);
        return NULL;
    }
    if (w->type != REDIS_REPLY_INTEGER || w->integer < rc->wait_replicas) {
        char got[32];
        if (w->type == REDIS_REPLY_INTEGER) snprintf(got, sizeof got, "%lld", w->integer);
        else snprintf(got, sizeof got, "none");
        snprintf(rc->err, sizeof rc->err,
                 "%s %s: written but not yet replicated (%s of %d replicas confirmed within %d ms); not done",
                 argv[0], argc > 1 ? argv[1] : "", got, rc->wait_replicas, rc->wait_ms);
        log_at(LOG_WARN, "redis.not_replicated", "call", argc > 1 ? argv[1] : argv[0], "confirmed", got, NULL);
        *code = MIG_EREDIS;
        goto fail;
    }
    freeReplyObject(w);
    return r;
fail:
    if (r) freeReplyObject(r);
    if (w) freeReplyObject(w);
    drop(rc);
    return NULL;
}

/* ------------------------------------------------------------------------ transactions */

/* hiredis's reply constructors, rewritten to take their memory from the arena in the
 * reader's privdata; each links its object into its parent array as hiredis's own do.
 * Freeing is the arena's reset, so freeObject does nothing. */
static void *arena_reply(const redisReadTask *t, int type, size_t extra) {
    redisReply *r = arena_alloc(t->privdata, sizeof *r + extra);
    if (r == NULL) return NULL;
    memset(r, 0, sizeof *r);
    r->type = type;
    if (t->parent) {
        redisReply *parent = t->parent->obj;
        parent->element[t->idx] = r;
    }
    return r;
}

static void *arena_string(const redisReadTask *t, char *str, size_t len) {
    redisReply *r = arena_reply(t, t->type, len + 1);
    if (r == NULL) return NULL;
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *arena_array(const redisReadTask *t, int elements) {
    size_t n = elements > 0 ? (size_t)elements : 0;
    redisReply *r = arena_reply(t, REDIS_REPLY_ARRAY, n * sizeof(redisReply *));
    if (r == NULL) return NULL;
    r->elements = n;
    r->element = n ? (redisReply **)(r + 1) : NULL;
    return r;
}

static void *arena_integer(const redisReadTask *t, long long value) {
    redisReply *r = arena_reply(t, REDIS_REPLY_INTEGER, 0);
    if (r) r->integer = value;
    return r;
}

static void *arena_nil(const redisReadTask *t) {
    return arena_reply(t, REDIS_REPLY_NIL, 0);
}

static void arena_forget(void *reply) {
    (void)reply;
}

static redisReplyObjectFunctions arena_fns = {
    .createString = arena_string,
    .createArray = arena_array,
    .createInteger = arena_integer,
    .createNil = arena_nil,
    .freeObject = arena_forget,
};

redisReply *rconn_exec(rconn_t *rc, const rconn_cmd_t *cmds, int n, int *code) {
    *code = 0;
    if (rconn_ensure(rc) != 0) {
        *code = MIG_EREDIS;
        return NULL;
    }
    arena_reset(&rc->arena);
    redisReader *rd = rc->ctx->reader;
    redisReplyObjectFunctions *fns = rd->fn;
    void *priv = rd->privdata;
    rd->fn = &arena_fns;
    rd->privdata = &rc->arena;
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    int ok = redisAppendCommandArgv(rc->ctx, 1, multi, NULL) == REDIS_OK;
    for (int i = 0; ok && i < n; i++) ok = redisAppendCommandArgv(rc->ctx, cmds[i].argc, cmds[i].argv, NULL) == REDIS_OK;
    ok = ok && redisAppendCommandArgv(rc->ctx, 1, exec, NULL) == REDIS_OK;
    /* every reply is read, MULTI's +OK and each +QUEUED too, so the connection stays in
     * step; a refused command shows in EXEC's reply as EXECABORT */
    redisReply *r = NULL;
    for (int i = 0; ok && i < n + 2; i++) ok = redisGetReply(rc->ctx, (void **)&r) == REDIS_OK;
    if (!ok) {
        /* dropped with the arena's functions still in place: a reply read halfway is
         * the arena's, and hiredis's own free must never see it */
        snprintf(rc->err, sizeof rc->err, "MULTI/EXEC: %s", rc->ctx->errstr);
        drop(rc);
        *code = MIG_EREDIS;
        return NULL;
    }
    rd->fn = fns;
    rd->privdata = priv;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(rc->err, sizeof rc->err, "%.*s", (int)r->len, r->str);
        *code = err_from_reply(r->str, r->len);
        if (not_primary(r)) {
            drop(rc);
            *code = MIG_EREDIS;
        }
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)n) {
        snprintf(rc->err, sizeof rc->err, "EXEC: not an array of %d replies", n);
        *code = MIG_EPROTO;
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

int rconn_check_library(const rconn_opts_t *o, char *err, size_t errlen) {
    rconn_t *rc = rconn_new(o, err, errlen);
    if (rc == NULL) return 0; /* bad options are the caller's to report */
    int rv = rconn_load_library(rc);
    if (rv == MIG_ELIBRARY) {
        snprintf(err, errlen, "%s", rc->err);
    } else if (rv != 0) {
        log_at(LOG_WARN, "redis.unreachable_at_start", "error", rc->err, "note", "carrying on; calls retry", NULL);
        rv = 0;
    }
    rconn_free(rc);
    return rv;
}

#define FCALL_ARGS_MAX 64

/* FCALL or FCALL_RO `fn`; `wait` asks for the WAIT on replicas when the connection has
 * them (never for FCALL_RO: a read has nothing to replicate). */
static redisReply *fcall(rconn_t *rc, const char *cmd, const char *fn, int argc, const char *const *argv,
                         int wait, int *code) {
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
    wait = wait && rc->wait_replicas > 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!rc->library_checked || attempt == 1) {
            int lc = rconn_load_library(rc);
            if (lc != 0) {
                *code = lc;
                return NULL;
            }
        }
        redisReply *r = wait ? command_waited(rc, argc + 4, av, code) : rconn_command(rc, argc + 4, av, NULL, code);
        /* A primary that lost its functions (flushed, or a failover to a replica that
         * never had them) answers "ERR Function not found": load and call once more. */
        if (r == NULL && *code == MIG_EREDIS && strstr(rc->err, "Function not found") && attempt == 0)
            continue;
        return r;
    }
    return NULL;
}

redisReply *rconn_fcall(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code) {
    return fcall(rc, "FCALL", fn, argc, argv, 1, code);
}

redisReply *rconn_fcall_unwaited(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code) {
    return fcall(rc, "FCALL", fn, argc, argv, 0, code);
}

redisReply *rconn_fcall_ro(rconn_t *rc, const char *fn, int argc, const char *const *argv, int *code) {
    return fcall(rc, "FCALL_RO", fn, argc, argv, 0, code);
}

const char *rconn_key(const rconn_t *rc, const char *suffix, char *out, size_t cap) {
    snprintf(out, cap, "%s%s", rc->prefix, suffix);
    return out;
}
