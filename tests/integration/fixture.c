/* fixture.c - setup shared by the integration suites. */
#include "fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

harness_redis_t fx_redis;
rconn_t *fx_rc;

void fx_redis_up(void) {
    if (harness_redis_start(&fx_redis, NULL) != 0) {
        fprintf(stderr, "fixture: cannot start redis-server\n");
        exit(1);
    }
}

const char *const FX_AOF_ARGS[] = {"--appendonly", "yes", "--appendfsync", "always", NULL};

void fx_redis_up_aof(void) {
    if (harness_redis_start(&fx_redis, FX_AOF_ARGS) != 0) {
        fprintf(stderr, "fixture: cannot start redis-server\n");
        exit(1);
    }
}

void fx_redis_down(void) {
    harness_redis_stop(&fx_redis);
}

rconn_t *fx_new_conn(void) {
    char err[256];
    rconn_opts_t o = {.url = fx_redis.url, .prefix = "mig:", .timeout_ms = 5000};
    rconn_t *rc = rconn_new(&o, err, sizeof err);
    ck_assert_msg(rc != NULL, "rconn_new: %s", err);
    return rc;
}

void fx_connect(void) {
    log_init("test", LOG_WARN);
    redisReply *r = harness_redis_cmd(&fx_redis, "FLUSHALL");
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    fx_rc = fx_new_conn();
}

void fx_disconnect(void) {
    rconn_free(fx_rc);
    fx_rc = NULL;
}

redisReply *fx_cmd(const char *fmt, ...) {
    ck_assert_int_eq(rconn_ensure(fx_rc), 0);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(fx_rc->ctx, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(r);
    return r;
}

long fx_count_events(const char *id, const char *a, const char *b) {
    redisReply *r = fx_cmd("XRANGE mig:events - +");
    long n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const char *v = f->element[k + 1]->str;
            if (strstr(v, id) && (a == NULL || strstr(v, a)) && (b == NULL || strstr(v, b))) n++;
        }
    }
    freeReplyObject(r);
    return n;
}

void fx_fleet(int servers) {
    const char *n1[] = {"name", "Node-A", "address", "127.0.0.1", "healthy", "1", "ram_total_mb", "65536",
                        "ram_free_mb", "32768", "disk_free_mb", "500000", "eur_hour", "0.30"};
    const char *n2[] = {"name", "Node-B", "address", "127.0.0.2", "healthy", "1", "ram_total_mb", "65536",
                        "ram_free_mb", "60000", "disk_free_mb", "800000", "eur_hour", "0.15"};
    const char *n3[] = {"name", "Node-C", "address", "127.0.0.3", "healthy", "1", "eur_hour", "0.20"};
    ck_assert_int_eq(store_put_node(fx_rc, "n1", n1, 7), 0);
    ck_assert_int_eq(store_put_node(fx_rc, "n2", n2, 7), 0);
    ck_assert_int_eq(store_put_node(fx_rc, "n3", n3, 4), 0);
    for (int i = 1; i <= servers; i++) {
        char id[16], name[32];
        snprintf(id, sizeof id, "s%d", i);
        snprintf(name, sizeof name, "Server-%d", i);
        const char *s[] = {"name", name, "node_id", "n1", "players", "0", "state", "running",
                           "ram_mb", "4096", "disk_mb", "5000"};
        ck_assert_int_eq(store_put_server(fx_rc, id, s, 6), 0);
    }
}

static void check(int rv, const char *what) {
    ck_assert_msg(rv == 0, "%s: %s (%s)", what, mig_errname(rv), fx_rc->err);
}

void fx_drive(const char *server_id, mig_status_t status, migration_t *m) {
    migration_create_t c;
    migration_create_init(&c);
    c.server_id = server_id;
    /* n1 -> n2, or back once a completed migration moved the server to n2 */
    redisReply *on = fx_cmd("HGET mig:server:%s node_id", server_id);
    c.to_node_id = on->type == REDIS_REPLY_STRING && strcmp(on->str, "n2") == 0 ? "n1" : "n2";
    freeReplyObject(on);
    c.savings_eur_hour = 0.15;
    bool suggested = status == MIG_SUGGESTED || status == MIG_APPROVED || status == MIG_CANCELLED;
    if (suggested) {
        c.reason = MIG_REASON_COST;
        c.triggered_by = MIG_TRIGGER_SYSTEM;
        c.level = 1;
        c.status = MIG_SUGGESTED;
    }
    check(store_create_migration(fx_rc, &c, m), "create");
    char id[MIG_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", m->id);
    if (status == MIG_APPROVED) check(store_approve_migration(fx_rc, id, m), "approve");
    if (status == MIG_CANCELLED) check(store_cancel_migration(fx_rc, id, m), "cancel");
    if (suggested || status == MIG_SCHEDULED) return;
    check(store_promote(fx_rc, id), "promote");
    check(store_claim(fx_rc, "w1", 60000, m), "claim");
    ck_assert_str_eq(m->id, id);
    if (status == MIG_PREPARING) return;
    if (status == MIG_FAILED) {
        store_failure_t f = {"sync broke", "sync", 1, 0, 0, 0};
        check(store_fail(fx_rc, id, m->lease_token, &f, m), "fail");
        check(store_get_migration(fx_rc, id, m), "get");
        return;
    }
    uint64_t token = m->lease_token;
    check(store_advance(fx_rc, id, token, MIG_TRANSFERRING, NULL), "advance transferring");
    if (status != MIG_TRANSFERRING) {
        check(store_advance(fx_rc, id, token, MIG_COMPLETING, NULL), "advance completing");
        if (status != MIG_COMPLETING) check(store_complete(fx_rc, id, token, 0, NULL, m), "complete");
    }
    /* the worker's calls answer an outcome, not the record: read it back */
    check(store_get_migration(fx_rc, id, m), "get");
}

/* ---- snapshots ---------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ck_assert_ptr_nonnull(b->s);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void put_reply(buf_t *b, const redisReply *r) {
    char tmp[64];
    switch (r->type) {
    case REDIS_REPLY_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < r->elements; i++) put_reply(b, r->element[i]);
        put(b, "]", 1);
        break;
    case REDIS_REPLY_INTEGER:
        put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld,", r->integer));
        break;
    case REDIS_REPLY_NIL:
        put(b, "nil,", 4);
        break;
    default:
        put(b, r->str, r->len);
        put(b, ",", 1);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted field=value lines of a hash, or sorted members of a set. */
static void put_sorted(buf_t *b, const redisReply *r, int pairs) {
    size_t n = pairs ? r->elements / 2 : r->elements;
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const char *k = r->element[pairs ? 2 * i : i]->str;
        const char *x = pairs ? r->element[2 * i + 1]->str : "";
        size_t len = strlen(k) + strlen(x) + 2;
        v[i] = malloc(len);
        snprintf(v[i], len, "%s=%s", k, x);
    }
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; i < n; i++) {
        put(b, v[i], strlen(v[i]));
        put(b, ";", 1);
        free(v[i]);
    }
    free(v);
}

/* Appends the content of key `k` (of type `type`) to `b`. */
static void put_key(buf_t *b, const char *k, const char *type) {
    redisReply *c = NULL;
    if (strcmp(type, "hash") == 0) {
        c = fx_cmd("HGETALL %s", k);
        put_sorted(b, c, 1);
    } else if (strcmp(type, "set") == 0) {
        c = fx_cmd("SMEMBERS %s", k);
        put_sorted(b, c, 0);
    } else {
        if (strcmp(type, "zset") == 0) c = fx_cmd("ZRANGE %s 0 -1 WITHSCORES", k);
        else if (strcmp(type, "list") == 0) c = fx_cmd("LRANGE %s 0 -1", k);
        else if (strcmp(type, "stream") == 0) c = fx_cmd("XRANGE %s - +", k);
        else c = fx_cmd("GET %s", k);
        put_reply(b, c);
    }
    freeReplyObject(c);
}

void fx_assert_gone(const char *needle) {
    redisReply *keys = fx_cmd("KEYS *");
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        if (strcmp(k, "mig:events") == 0) continue;
        ck_assert_msg(strstr(k, needle) == NULL, "key %s names %s", k, needle);
        redisReply *t = fx_cmd("TYPE %s", k);
        buf_t b = {0};
        put_key(&b, k, t->str);
        ck_assert_msg(b.s == NULL || strstr(b.s, needle) == NULL, "key %s holds %s", k, needle);
        free(b.s);
        freeReplyObject(t);
    }
    freeReplyObject(keys);
}

char *fx_snapshot(void) {
    buf_t b = {0};
    redisReply *keys = fx_cmd("KEYS *");
    char **names = calloc(keys->elements + 1, sizeof *names);
    for (size_t i = 0; i < keys->elements; i++) names[i] = keys->element[i]->str;
    qsort(names, keys->elements, sizeof *names, cmp_str);
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = names[i];
        redisReply *t = fx_cmd("TYPE %s", k);
        put(&b, k, strlen(k));
        put(&b, ":", 1);
        put(&b, t->str, strlen(t->str));
        put(&b, "=", 1);
        put_key(&b, k, t->str);
        freeReplyObject(t);
        put(&b, "\n", 1);
    }
    free(names);
    freeReplyObject(keys);
    if (b.s == NULL) b.s = strdup("");
    return b.s;
}
