/* store.c - one C call per function of the Lua library, replies parsed into records: the
 * calls of the API and the scheduler (create, approve, schedule, cancel, get, list, stats,
 * inventory, the scheduler's), and the calling helpers of store_private.h. The worker's
 * calls are in store_worker.c. */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ids.h"
#include "store_private.h"
#include "timefmt.h"

/* Fills `out` from a flat array reply of field/value strings. */
static int pairs_of(const redisReply *r, const char **pairs, size_t cap);

static int record_from_reply(const redisReply *r, migration_t *out) {
    const char *pairs[128];
    int rv = pairs_of(r, pairs, 128);
    if (rv != 0) return rv;
    migration_clear(out);
    return migration_from_pairs(out, pairs, r->elements / 2);
}

/* Calls `fn` and, when `out` is given, parses a record reply into it. */
int store__call_record(rconn_t *rc, const char *fn, const args_t *a, migration_t *out) {
    int code;
    redisReply *r = rconn_fcall(rc, fn, a->n, a->v, &code);
    if (r == NULL) return code;
    int rv = 0;
    if (r->type == REDIS_REPLY_NIL) rv = MIG_EEMPTY;
    else if (out) rv = record_from_reply(r, out);
    freeReplyObject(r);
    return rv;
}

/* The result of a call made for its effect: 0 or `code` when there is no reply `r`;
 * an integer reply in *integer (0 for any other). Frees `r`. */
static int plain_result(redisReply *r, int code, long long *integer) {
    if (r == NULL) return code;
    if (integer) *integer = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return 0;
}

/* Calls `fn` for its effect, discarding an integer or status reply. */
int store__call_plain(rconn_t *rc, const char *fn, const args_t *a, long long *integer) {
    int code;
    redisReply *r = rconn_fcall(rc, fn, a->n, a->v, &code);
    return plain_result(r, code, integer);
}

/* The same as store__call_plain() without waiting for replicas, for the frequent writes whose
 * loss in a failover the next call repairs: a heartbeat renews a lease every third of it,
 * and a lost one at worst lets recovery hand the migration on (its worker then finds its
 * token stale); a progress report is overwritten by the next. Both run every few hundred
 * ms per migration, and a WAIT would add a replica's round trip to each. */
int store__call_unwaited(rconn_t *rc, const char *fn, const args_t *a, long long *integer) {
    int code;
    redisReply *r = rconn_fcall_unwaited(rc, fn, a->n, a->v, &code);
    return plain_result(r, code, integer);
}

/* ------------------------------------------------------------------------ before a worker */

int store_create_migration(rconn_t *rc, const migration_create_t *c, migration_t *out) {
    args_t a = {.n = 0};
    char id[IDS_UUID_LEN + 1];
    int rv = migration_create_validate(c, rc->err, sizeof rc->err);
    if (rv != 0) return rv;
    if (c->id == NULL && (rv = ids_uuid7(id, timefmt_now_ms())) != 0) return rv;
    arg_pair_s(&a, "id", c->id ? c->id : id);
    arg_pair_s(&a, "server_id", c->server_id);
    arg_pair_s(&a, "from_node_id", c->from_node_id);
    arg_pair_s(&a, "to_node_id", c->to_node_id);
    arg_pair_s(&a, "reason", migration_reason_name(c->reason));
    arg_pair_s(&a, "triggered_by", migration_trigger_name(c->triggered_by));
    arg_pair_s(&a, "status", states_name(c->status));
    if (c->savings_eur_hour >= 0) {
        arg_s(&a, "savings_eur_hour");
        arg_d(&a, c->savings_eur_hour);
    }
    if (c->savings_eur_month >= 0) {
        arg_s(&a, "savings_eur_month");
        arg_d(&a, c->savings_eur_month);
    }
    arg_pair_s(&a, "notes", c->notes);
    if (c->level > 0) arg_pair_i(&a, "level", c->level);
    arg_pair_i(&a, "max_retries", c->max_retries);
    if (c->not_before > 0) arg_pair_i(&a, "not_before", c->not_before);
    if (c->start_now) arg_pair_s(&a, "start_now", "1");
    return store__call_record(rc, "mig_create", &a, out);
}

static int by_id(rconn_t *rc, const char *fn, const char *id, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    return store__call_record(rc, fn, &a, out);
}

int store_approve_migration(rconn_t *rc, const char *id, migration_t *out) {
    return by_id(rc, "mig_approve", id, out);
}

int store_approve_migration_at(rconn_t *rc, const char *id, int64_t not_before, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    if (not_before > 0) arg_i(&a, not_before);
    return store__call_record(rc, "mig_approve", &a, out);
}

int store_schedule_migration(rconn_t *rc, const char *id, int64_t not_before, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    if (not_before > 0) arg_i(&a, not_before);
    return store__call_record(rc, "mig_schedule", &a, out);
}

int store_cancel_migration(rconn_t *rc, const char *id, migration_t *out) {
    return by_id(rc, "mig_cancel", id, out);
}

int store_delete_migration(rconn_t *rc, const char *id) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    return store__call_plain(rc, "mig_delete", &a, NULL);
}

int store_get_migration(rconn_t *rc, const char *id, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    int code;
    redisReply *r = rconn_fcall_ro(rc, "mig_get", a.n, a.v, &code);
    if (r == NULL) return code;
    int rv = out ? record_from_reply(r, out) : 0;
    freeReplyObject(r);
    return rv;
}

int store_get_active_migration(rconn_t *rc, const char *server_id, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, server_id);
    int code;
    redisReply *r = rconn_fcall_ro(rc, "mig_active", a.n, a.v, &code);
    if (r == NULL) return code;
    int rv = r->type == REDIS_REPLY_NIL ? MIG_EEMPTY : out ? record_from_reply(r, out) : 0;
    freeReplyObject(r);
    return rv;
}

/* Rounds of the optimistic page read before store_list_migrations falls back to the
 * one-call read; a round fails only when the page changed between two round trips. */
static int list_tries = 3;

void store_set_list_tries(int n) {
    list_tries = n;
}

/* Items of mig_list's reply before the page's: {total, examined, next_cursor, item...}. */
#define PAGE_HEAD 3

/* The page as mig_list names it: its head and one record key per item, copied out of
 * the reply (the next round trip reuses the memory it came in). */
typedef struct {
    store_list_info_t info;
    size_t n;
    char **keys; /* n keys, in one allocation with their text */
} page_keys_t;

/* Checks the shape of mig_list's reply {total, examined, next_cursor, item...}; MIG_EPROTO
 * when it is not one. */
static int page_shape(const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < PAGE_HEAD || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER || r->element[2]->type != REDIS_REPLY_STRING ||
        r->element[2]->len > STORE_CURSOR_MAX)
        return MIG_EPROTO;
    return 0;
}

/* The head of a page reply of page_shape. */
static void info_of(const redisReply *r, store_list_info_t *info) {
    info->total = r->element[0]->integer;
    info->examined = r->element[1]->integer;
    memcpy(info->next_cursor, r->element[2]->str, r->element[2]->len + 1);
}

/* Copies the head and the keys of a page reply into `k` (replacing what it held). */
static int keys_of(const redisReply *r, page_keys_t *k) {
    size_t n = r->elements - PAGE_HEAD, bytes = n * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        if (r->element[i + PAGE_HEAD]->type != REDIS_REPLY_STRING) return MIG_EPROTO;
        bytes += r->element[i + PAGE_HEAD]->len + 1;
    }
    char **v = malloc(bytes ? bytes : 1);
    if (v == NULL) return MIG_ENOMEM;
    char *t = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(t, r->element[i + PAGE_HEAD]->str, r->element[i + PAGE_HEAD]->len + 1);
        v[i] = t;
        t += r->element[i + PAGE_HEAD]->len + 1;
    }
    free(k->keys);
    k->keys = v;
    k->n = n;
    info_of(r, &k->info);
    return 0;
}

/* True when the page reply `r` names exactly the keys, total and next cursor of `k`. */
static bool same_keys(const redisReply *r, const page_keys_t *k) {
    if (page_shape(r) != 0 || r->element[0]->integer != k->info.total || r->elements - PAGE_HEAD != k->n ||
        strcmp(r->element[2]->str, k->info.next_cursor) != 0)
        return false;
    for (size_t i = 0; i < k->n; i++) {
        const redisReply *e = r->element[i + PAGE_HEAD];
        if (e->type != REDIS_REPLY_STRING || strcmp(e->str, k->keys[i]) != 0) return false;
    }
    return true;
}

/* Hands each of `n` record replies to `fn` as field/value pairs; stops at its first
 * error. */
static int each_of(redisReply *const *records, size_t n, store_record_fn fn, void *arg) {
    const char *pairs[128];
    for (size_t i = 0; i < n; i++) {
        if (records[i]->elements == 0) return MIG_EPROTO; /* a key the index names has its hash */
        int rv = pairs_of(records[i], pairs, 128);
        if (rv == 0) rv = fn(arg, pairs, records[i]->elements / 2);
        if (rv != 0) return rv;
    }
    return 0;
}

/* Reads the records of `k` in one transaction that repeats the page query: when the
 * query names the same keys, the records are the page as it was at that instant, and go
 * to `fn`. Returns 0, PAGE_CHANGED when the page changed since `k` (which then holds the
 * new keys, for the next round; `fn` saw nothing), or a MIG_E* code. */
#define PAGE_CHANGED 1
static int page_round(rconn_t *rc, const args_t *a, page_keys_t *k, store_record_fn fn, void *arg) {
    const char *list[4 + ARGS_MAX] = {"FCALL_RO", "mig_list", "1", rc->prefix};
    for (int i = 0; i < a->n; i++) list[4 + i] = a->v[i];
    rconn_cmd_t *cmds = malloc((k->n + 1) * sizeof *cmds);
    const char **hget = malloc((2 * k->n + 1) * sizeof *hget);
    int rv = MIG_ENOMEM, code;
    if (cmds == NULL || hget == NULL) goto out;
    cmds[0] = (rconn_cmd_t){4 + a->n, list};
    for (size_t i = 0; i < k->n; i++) {
        hget[2 * i] = "HGETALL";
        hget[2 * i + 1] = k->keys[i];
        cmds[i + 1] = (rconn_cmd_t){2, &hget[2 * i]};
    }
    redisReply *e = rconn_exec(rc, cmds, (int)k->n + 1, &code);
    if (e == NULL) {
        rv = code;
        goto out;
    }
    redisReply *l = e->element[0];
    if (l->type == REDIS_REPLY_ERROR) {
        snprintf(rc->err, sizeof rc->err, "%.*s", (int)l->len, l->str);
        rv = err_from_reply(l->str, l->len);
    } else if (same_keys(l, k)) {
        k->info.examined = l->element[1]->integer;
        rv = each_of(e->element + 1, k->n, fn, arg);
    } else {
        rv = page_shape(l) ? MIG_EPROTO : keys_of(l, k);
        if (rv == 0) rv = PAGE_CHANGED;
    }
out:
    free(cmds);
    free(hget);
    return rv;
}

/* A page is read in two round trips: mig_list names its records' keys, then one
 * transaction repeats mig_list and reads each record with HGETALL. Reading the records
 * in Lua and handing them back through it cost Redis 60% of a page (bench/RESULTS.md,
 * list); this way Redis only copies the hashes out. The repeated query makes the page
 * exact: if a record entered or left the page between the two round trips, the
 * transaction names other keys (or another total or cursor), and the next round reads
 * those. After list_tries rounds (a page changing under every read) the records come
 * from mig_list itself, in one atomic call. */
int store_list_each(rconn_t *rc, const store_query_t *q, const char *cursor, store_list_info_t *info,
                    store_record_fn fn, void *arg) {
    args_t a = {.n = 0};
    arg_s(&a, q->statuses);
    arg_s(&a, q->server_id);
    arg_s(&a, q->reason);
    arg_i(&a, q->limit);
    arg_i(&a, q->offset);
    arg_s(&a, "keys");
    arg_s(&a, cursor);
    int code, rv;
    page_keys_t k = {0};
    redisReply *r = rconn_fcall_ro(rc, "mig_list", a.n, a.v, &code);
    if (r == NULL) return code;
    rv = page_shape(r);
    if (rv == 0) rv = keys_of(r, &k);
    freeReplyObject(r);
    r = NULL;
    for (int round = 0; rv == 0 && round < list_tries; round++) {
        rv = page_round(rc, &a, &k, fn, arg);
        if (rv == 0) {
            *info = k.info;
            goto out;
        }
        if (rv == PAGE_CHANGED) rv = 0;
    }
    if (rv != 0) goto out;
    a.v[5] = "records"; /* the shape */
    if ((r = rconn_fcall_ro(rc, "mig_list", a.n, a.v, &code)) == NULL) {
        rv = code;
        goto out;
    }
    rv = page_shape(r);
    if (rv == 0) {
        info_of(r, info);
        rv = each_of(r->element + PAGE_HEAD, r->elements - PAGE_HEAD, fn, arg);
    }
out:
    if (r) freeReplyObject(r);
    free(k.keys);
    return rv;
}

/* store_list_each's fn for store_list_migrations: one more record on the page. */
static int add_to_page(void *arg, const char *const *pairs, size_t n) {
    store_page_t *page = arg;
    migration_t *items = realloc(page->items, (page->n + 1) * sizeof *items);
    if (items == NULL) return MIG_ENOMEM;
    page->items = items;
    migration_init(&items[page->n]);
    page->n++;
    return migration_from_pairs(&items[page->n - 1], pairs, n);
}

int store_list_migrations(rconn_t *rc, const store_query_t *q, store_page_t *page) {
    return store_list_after(rc, q, NULL, page);
}

int store_list_after(rconn_t *rc, const store_query_t *q, const char *cursor, store_page_t *page) {
    memset(page, 0, sizeof *page);
    store_list_info_t info;
    int rv = store_list_each(rc, q, cursor, &info, add_to_page, page);
    if (rv != 0) {
        store_page_free(page);
        return rv;
    }
    page->total = info.total;
    page->examined = info.examined;
    memcpy(page->next_cursor, info.next_cursor, sizeof page->next_cursor);
    return 0;
}

void store_page_free(store_page_t *page) {
    for (size_t i = 0; i < page->n; i++) migration_clear(&page->items[i]);
    free(page->items);
    memset(page, 0, sizeof *page);
}

/* ------------------------------------------------------------------------ the scheduler */

int store_promote(rconn_t *rc, const char *id) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    return store__call_plain(rc, "mig_promote", &a, NULL);
}

int store_block(rconn_t *rc, const char *id, const char *reason, int64_t recheck_at) {
    return store_block_seen(rc, id, reason, recheck_at, -1);
}

int store_block_seen(rconn_t *rc, const char *id, const char *reason, int64_t recheck_at, int64_t seen_score) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    arg_s(&a, reason);
    arg_i(&a, recheck_at);
    if (seen_score >= 0) arg_i(&a, seen_score);
    return store__call_plain(rc, "mig_block", &a, NULL);
}

int store_recover(rconn_t *rc, int limit, char ***ids, size_t *n) {
    args_t a = {.n = 0};
    arg_i(&a, limit);
    *ids = NULL;
    *n = 0;
    int code;
    redisReply *r = rconn_fcall(rc, "mig_recover", a.n, a.v, &code);
    if (r == NULL) return code;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return MIG_EPROTO;
    }
    size_t bytes = (r->elements + 1) * sizeof(char *);
    for (size_t i = 0; i < r->elements; i++) bytes += r->element[i]->len + 1;
    char **v = malloc(bytes);
    if (v == NULL) {
        freeReplyObject(r);
        return MIG_ENOMEM;
    }
    char *s = (char *)(v + r->elements + 1);
    for (size_t i = 0; i < r->elements; i++) {
        memcpy(s, r->element[i]->str, r->element[i]->len + 1);
        v[i] = s;
        s += r->element[i]->len + 1;
    }
    v[r->elements] = NULL;
    *ids = v;
    *n = r->elements;
    freeReplyObject(r);
    return 0;
}

static void due_clear(store_due_t *d) {
    migration_clear(&d->m);
    inventory_server_clear(&d->server);
    inventory_node_clear(&d->to);
}

void store_sched_free(store_sched_t *s) {
    for (size_t i = 0; i < s->n_due; i++) due_clear(&s->due[i]);
    free(s->due);
    free(s->inflight);
    memset(s, 0, sizeof *s);
}

/* Fills one due entry from {record, server, node, cooldown}. */
static int due_from_reply(const redisReply *e, store_due_t *d) {
    const char *pairs[128];
    int rv;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 5 || e->element[3]->type != REDIS_REPLY_INTEGER ||
        e->element[4]->type != REDIS_REPLY_STRING)
        return MIG_EPROTO;
    d->score = strtoll(e->element[4]->str, NULL, 10);
    if ((rv = record_from_reply(e->element[0], &d->m)) != 0) return rv;
    if ((rv = pairs_of(e->element[1], pairs, 128)) != 0) return rv;
    if ((rv = inventory_server_from_pairs(&d->server, pairs, e->element[1]->elements / 2)) != 0) return rv;
    if ((rv = pairs_of(e->element[2], pairs, 128)) != 0) return rv;
    if ((rv = inventory_node_from_pairs(&d->to, pairs, e->element[2]->elements / 2)) != 0) return rv;
    d->cooldown_left_ms = e->element[3]->integer;
    return 0;
}

int store_sched_due(rconn_t *rc, int limit, store_sched_t *out) {
    args_t a = {.n = 0};
    arg_i(&a, limit);
    memset(out, 0, sizeof *out);
    int code;
    redisReply *r = rconn_fcall_ro(rc, "sched_due", a.n, a.v, &code);
    if (r == NULL) return code;
    int rv = MIG_EPROTO;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 5 || r->element[4]->type != REDIS_REPLY_ARRAY) goto out;
    out->now = r->element[0]->integer;
    out->next_at = r->element[1]->integer;
    out->scaling = r->element[2]->integer != 0;
    out->platform_queue = r->element[3]->integer;
    const redisReply *inf = r->element[4];
    rv = MIG_ENOMEM;
    if (inf->elements >= 2 && (out->inflight = calloc(inf->elements / 2, sizeof *out->inflight)) == NULL) goto out;
    for (size_t i = 0; i + 1 < inf->elements; i += 2) {
        snprintf(out->inflight[out->n_inflight][0], MIG_ID_MAX + 1, "%s", inf->element[i]->str);
        snprintf(out->inflight[out->n_inflight][1], MIG_ID_MAX + 1, "%s", inf->element[i + 1]->str);
        out->n_inflight++;
    }
    if (r->elements > 5 && (out->due = calloc(r->elements - 5, sizeof *out->due)) == NULL) goto out;
    for (size_t i = 5; i < r->elements; i++) {
        store_due_t *d = &out->due[out->n_due++];
        migration_init(&d->m);
        inventory_server_init(&d->server);
        inventory_node_init(&d->to);
        if ((rv = due_from_reply(r->element[i], d)) != 0) goto out;
    }
    rv = 0;
out:
    freeReplyObject(r);
    if (rv != 0) store_sched_free(out);
    return rv;
}

int store_sched_touch(rconn_t *rc, const char *const *server_ids, size_t n, long long *touched) {
    args_t a = {.n = 0};
    if (n > ARGS_MAX) return MIG_EINVALID;
    for (size_t i = 0; i < n; i++) arg_s(&a, server_ids[i]);
    return store__call_plain(rc, "sched_touch", &a, touched);
}

int store_leader_acquire(rconn_t *rc, const char *id, int64_t ttl_ms, int *leader) {
    args_t a = {.n = 0};
    long long v = 0;
    arg_s(&a, id);
    arg_i(&a, ttl_ms);
    int rv = store__call_plain(rc, "leader_acquire", &a, &v);
    *leader = rv == 0 && v == 1;
    return rv;
}

int store_leader_release(rconn_t *rc, const char *id) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    return store__call_plain(rc, "leader_release", &a, NULL);
}

int store_trim(rconn_t *rc, int64_t before_ms, int limit, long long *deleted) {
    args_t a = {.n = 0};
    arg_i(&a, before_ms);
    arg_i(&a, limit);
    return store__call_plain(rc, "mig_trim", &a, deleted);
}

/* ------------------------------------------------------------------------ stats */

/* Reads one field of the stats hash into `st`. */
static void stats_field(store_stats_t *st, const redisReply *k, const redisReply *v) {
    static const struct {
        const char *name;
        size_t off;
    } totals[] = {
        {"created_total", offsetof(store_stats_t, created_total)},
        {"completed_total", offsetof(store_stats_t, completed_total)},
        {"failed_total", offsetof(store_stats_t, failed_total)},
        {"cancelled_total", offsetof(store_stats_t, cancelled_total)},
        {"retried_total", offsetof(store_stats_t, retried_total)},
        {"duration_ms_sum", offsetof(store_stats_t, duration_ms_sum)},
        {"cleanups_pending", offsetof(store_stats_t, cleanups_pending)},
    };
    if (strncmp(k->str, "status:", 7) == 0) {
        int s = states_parse(k->str + 7, k->len - 7);
        if (s >= 0) st->by_status[s] = ll_of(v);
        return;
    }
    if (strcmp(k->str, "savings_eur_hour_sum") == 0) st->savings_eur_hour_sum = strtod(v->str, NULL);
    else if (strcmp(k->str, "savings_eur_month_sum") == 0) st->savings_eur_month_sum = strtod(v->str, NULL);
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++)
        if (strcmp(k->str, totals[i].name) == 0) *(long long *)((char *)st + totals[i].off) = ll_of(v);
}

int store_get_stats(rconn_t *rc, store_stats_t *st) {
    memset(st, 0, sizeof *st);
    int code;
    redisReply *r = rconn_fcall_ro(rc, "mig_stats", 0, NULL, &code);
    if (r == NULL) return code;
    int rv = MIG_EPROTO;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        goto out;
    const redisReply *h = r->element[0], *f = r->element[1];
    for (size_t i = 0; i + 1 < h->elements; i += 2) stats_field(st, h->element[i], h->element[i + 1]);
    if (f->elements >= 2) {
        st->fail_reasons = calloc(f->elements / 2, sizeof *st->fail_reasons);
        if (st->fail_reasons == NULL) {
            rv = MIG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
            store_reason_count_t *c = &st->fail_reasons[st->n_fail_reasons++];
            snprintf(c->reason, sizeof c->reason, "%s", f->element[i]->str);
            c->count = ll_of(f->element[i + 1]);
        }
    }
    st->ready = r->element[2]->integer;
    st->leases = r->element[3]->integer;
    st->scheduled = r->element[4]->integer;
    rv = 0;
out:
    freeReplyObject(r);
    return rv;
}

void store_stats_free(store_stats_t *st) {
    free(st->fail_reasons);
    st->fail_reasons = NULL;
    st->n_fail_reasons = 0;
}

double store_stats_success_rate(const store_stats_t *st) {
    long long ended = st->completed_total + st->failed_total;
    return ended > 0 ? (double)st->completed_total / (double)ended : -1;
}

double store_stats_avg_duration_s(const store_stats_t *st) {
    return st->completed_total > 0 ? (double)st->duration_ms_sum / 1000.0 / (double)st->completed_total
                                   : -1;
}

/* ------------------------------------------------------------------------ inventory */

static int put(rconn_t *rc, const char *fn, const char *id, const char *const *pairs, size_t n) {
    args_t a = {.n = 0};
    if (2 * n + 1 > ARGS_MAX) return MIG_EINVALID;
    arg_s(&a, id);
    for (size_t i = 0; i < 2 * n; i++) arg_s(&a, pairs[i]);
    return store__call_plain(rc, fn, &a, NULL);
}

int store_put_node(rconn_t *rc, const char *id, const char *const *pairs, size_t n) {
    return put(rc, "node_put", id, pairs, n);
}

int store_put_server(rconn_t *rc, const char *id, const char *const *pairs, size_t n) {
    return put(rc, "server_put", id, pairs, n);
}

/* Pointers to the strings of a field/value array reply, into `pairs` (2 * 64 slots). */
static int pairs_of(const redisReply *r, const char **pairs, size_t cap) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 || r->elements > cap) return MIG_EPROTO;
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) return MIG_EPROTO;
        pairs[i] = r->element[i]->str;
    }
    return 0;
}

int store_list_nodes(rconn_t *rc, node_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    int code;
    redisReply *r = rconn_fcall_ro(rc, "node_list", 0, NULL, &code);
    if (r == NULL) return code;
    int rv = MIG_EPROTO;
    if (r->type != REDIS_REPLY_ARRAY) goto out;
    rv = MIG_ENOMEM;
    if (r->elements && (*out = calloc(r->elements, sizeof **out)) == NULL) goto out;
    for (size_t i = 0; i < r->elements; i++) {
        const char *pairs[128];
        inventory_node_init(&(*out)[i]);
        *n = i + 1;
        if ((rv = pairs_of(r->element[i], pairs, 128)) != 0) goto out;
        if ((rv = inventory_node_from_pairs(&(*out)[i], pairs, r->element[i]->elements / 2)) != 0) goto out;
    }
    rv = 0;
out:
    freeReplyObject(r);
    if (rv != 0) {
        store_nodes_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rv;
}

void store_nodes_free(node_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) inventory_node_clear(&v[i]);
    free(v);
}

int store_list_servers(rconn_t *rc, server_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    int code;
    redisReply *r = rconn_fcall_ro(rc, "server_list", 0, NULL, &code);
    if (r == NULL) return code;
    int rv = MIG_EPROTO;
    if (r->type != REDIS_REPLY_ARRAY) goto out;
    rv = MIG_ENOMEM;
    if (r->elements && (*out = calloc(r->elements, sizeof **out)) == NULL) goto out;
    for (size_t i = 0; i < r->elements; i++) {
        const char *pairs[128];
        inventory_server_init(&(*out)[i]);
        *n = i + 1;
        if ((rv = pairs_of(r->element[i], pairs, 128)) != 0) goto out;
        if ((rv = inventory_server_from_pairs(&(*out)[i], pairs, r->element[i]->elements / 2)) != 0)
            goto out;
    }
    rv = 0;
out:
    freeReplyObject(r);
    if (rv != 0) {
        store_servers_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rv;
}

void store_servers_free(server_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) inventory_server_clear(&v[i]);
    free(v);
}

int store_get_server(rconn_t *rc, const char *id, server_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    int code;
    redisReply *r = rconn_fcall_ro(rc, "server_get", a.n, a.v, &code);
    if (r == NULL) return code;
    const char *pairs[128];
    int rv = pairs_of(r, pairs, 128);
    if (rv == 0 && out) {
        inventory_server_clear(out);
        rv = inventory_server_from_pairs(out, pairs, r->elements / 2);
    }
    freeReplyObject(r);
    return rv;
}

int store_get_node(rconn_t *rc, const char *id, node_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    int code;
    redisReply *r = rconn_fcall_ro(rc, "node_get", a.n, a.v, &code);
    if (r == NULL) return code;
    const char *pairs[128];
    int rv = pairs_of(r, pairs, 128);
    if (rv == 0 && out) {
        inventory_node_clear(out);
        rv = inventory_node_from_pairs(out, pairs, r->elements / 2);
    }
    freeReplyObject(r);
    return rv;
}

int store_delete_server(rconn_t *rc, const char *id, long long *deleted) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    return store__call_plain(rc, "server_delete", &a, deleted);
}
