/* store.h - the typed face of the function library: one C call per Lua function, with
 * records parsed into migration_t. Every program (API, scheduler, worker, sim) changes
 * migrations only through here.
 *
 * Each call returns 0 or a negative MIG_E* code; on an error the function library's
 * sentence ("ILLEGAL_TRANSITION cannot approve migration ... in status completed") is in
 * rc->err. A `migration_t *out` must be initialised by the caller (migration_init) and is
 * cleared and refilled on success; it may be NULL when the record is not wanted. */
#ifndef MIG_STORE_H
#define MIG_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "inventory.h"
#include "migration.h"
#include "rconn.h"

/* ---- before a worker: create, approve, schedule, cancel, delete, read ---------------- */

int store_create_migration(rconn_t *rc, const migration_create_t *req, migration_t *out);
int store_approve_migration(rconn_t *rc, const char *id, migration_t *out);
/* Approves with the operator's start time: not_before (Unix ms) is kept and honoured
 * when the scheduler schedules it; 0 is store_approve_migration. */
int store_approve_migration_at(rconn_t *rc, const char *id, int64_t not_before, migration_t *out);
/* not_before: Unix ms from which the scheduler may promote it; 0 for the one set at
 * creation or approval, or now when none was. */
int store_schedule_migration(rconn_t *rc, const char *id, int64_t not_before, migration_t *out);
int store_cancel_migration(rconn_t *rc, const char *id, migration_t *out);
int store_delete_migration(rconn_t *rc, const char *id);
int store_get_migration(rconn_t *rc, const char *id, migration_t *out);
/* The server's one non-terminal migration: 0, MIG_EEMPTY when it has none, or
 * MIG_ENO_SERVER for an unknown server. */
int store_get_active_migration(rconn_t *rc, const char *server_id, migration_t *out);

/* The most index entries one list query with two or more filters examines in one call
 * to Redis (mig_list, lua-scripts/query.lua, which gets this value from core/lualib.c).
 * Each is a record checked inside Redis, a few microseconds of its one thread, so a call
 * holds every other client of Redis for a few milliseconds at most however large the
 * indexes; a page read makes two such calls. Without the bound one call at 150,000
 * migrations took 1.46 s (issue 12, finding 9; bench/RESULTS.md, list). Past it a page
 * answers what it found and a cursor to go on from. */
#define STORE_LIST_EXAMINE_MAX 2000
/* Longest cursor of a list page (bytes): "<score>:<id>:<skip>". */
#define STORE_CURSOR_MAX 80

/* A list query; NULL or "" strings mean any. */
typedef struct {
    const char *statuses; /* comma-separated set of statuses */
    const char *server_id;
    const char *reason;
    long limit;  /* 0..500 */
    long offset; /* >= 0: matches skipped (after the cursor, when there is one) */
} store_query_t;

/* What a page says about the list beyond its items. */
typedef struct {
    long long total;    /* matches in all; -1 when the read did not count them: a query with
                         * two or more filters whose smallest index is larger than
                         * STORE_LIST_EXAMINE_MAX */
    long long examined; /* index entries the query read in Redis, at most
                         * STORE_LIST_EXAMINE_MAX when it has two or more filters */
    char next_cursor[STORE_CURSOR_MAX + 1]; /* where the next page starts; "" when no
                                             * match follows this page */
} store_list_info_t;

/* A page of records, newest first. Free with store_page_free(). */
typedef struct {
    migration_t *items;
    size_t n; /* may be fewer than the limit, even 0, when next_cursor is set: the bound
               * on the entries a query examines stopped it */
    long long total; /* matches in all, not only on this page; -1 when not counted */
    long long examined;
    char next_cursor[STORE_CURSOR_MAX + 1];
} store_page_t;

/* Reads a page exactly as it was at one instant (two round trips; see store.c). Returns
 * 0 with `page` filled (free with store_page_free), or a MIG_E* code. */
int store_list_migrations(rconn_t *rc, const store_query_t *q, store_page_t *page);

/* The same from `cursor`, a next_cursor of an earlier page of the same filters: the page
 * starts after it (q->offset matches further on); NULL or "" reads from the start. An
 * unknown cursor is MIG_EINVALID. */
int store_list_after(rconn_t *rc, const store_query_t *q, const char *cursor, store_page_t *page);

/* Called with each record of a page as `n` field/value pairs, valid during the call
 * only; returns 0 to go on, or a MIG_E* code that ends the listing with it. */
typedef int (*store_record_fn)(void *arg, const char *const *pairs, size_t n);

/* The same read, handing each record to `fn` in page order without building a
 * migration_t (the API writes the page's JSON straight from the pairs), from `cursor` as
 * store_list_after reads. `info` gets the
 * total, the entries examined and the next cursor. Returns 0 or a MIG_E* code; `fn` may
 * have seen part of the page then. */
int store_list_each(rconn_t *rc, const store_query_t *q, const char *cursor, store_list_info_t *info,
                    store_record_fn fn, void *arg);
void store_page_free(store_page_t *page);

/* Rounds of the two-round-trip read before the one-call read (3). For tests, which set 0
 * to exercise the one-call read; not for programs. */
void store_set_list_tries(int n);

/* ---- the scheduler ------------------------------------------------------------------ */

/* Moves a due scheduled migration to the ready queue. */
int store_promote(rconn_t *rc, const char *id);
/* Holds a scheduled migration back with a reason and looks at it again at recheck_at
 * (Unix ms), or at its not_before when that is later; its not_before stays as it is. */
int store_block(rconn_t *rc, const char *id, const char *reason, int64_t recheck_at);
/* The same for a verdict on facts read by store_sched_due with the entry's `seen_score`:
 * when the entry was touched since (its score changed), nothing is written, so that the
 * wake-up the touch carried is not postponed; the next tick decides on fresh facts. */
int store_block_seen(rconn_t *rc, const char *id, const char *reason, int64_t recheck_at, int64_t seen_score);
/* Takes up to `limit` migrations with expired leases for recovery. *ids gets a
 * NULL-terminated array of ids in one allocation (caller frees with free()); *n their
 * count. */
int store_recover(rconn_t *rc, int limit, char ***ids, size_t *n);

/* One due scheduled migration with the facts its promotion rules read. */
typedef struct {
    migration_t m;
    server_t server;          /* server.id NULL when the server is gone */
    node_t to;                /* to.id NULL when the target node is gone */
    int64_t cooldown_left_ms; /* of the server */
    int64_t score;            /* its score in the schedule when read: for store_block_seen */
} store_due_t;

/* A scheduler tick's view, read in one round trip. Free with store_sched_free(). */
typedef struct {
    int64_t now;              /* the Redis clock, Unix ms */
    int64_t next_at;          /* not_before of the first entry not yet due, 0 when none */
    bool scaling;             /* a platform scaling event is in progress */
    long long platform_queue; /* servers waiting to start on the platform */
    char (*inflight)[2][MIG_ID_MAX + 1]; /* from and to node of each migration in flight */
    size_t n_inflight;
    store_due_t *due;
    size_t n_due;
} store_sched_t;

int store_sched_due(rconn_t *rc, int limit, store_sched_t *out);
void store_sched_free(store_sched_t *s);

/* Makes the held-back scheduled migrations of these servers due now, because their
 * world changed; "*" for all of them. *touched (may be NULL) gets their number. */
int store_sched_touch(rconn_t *rc, const char *const *server_ids, size_t n, long long *touched);

/* The scheduler's leader lease: *leader gets 1 while `id` leads. */
int store_leader_acquire(rconn_t *rc, const char *id, int64_t ttl_ms, int *leader);
int store_leader_release(rconn_t *rc, const char *id);

/* Retention: deletes up to `limit` ended migrations created before `before_ms` and the
 * events older than that; *deleted gets their number. */
int store_trim(rconn_t *rc, int64_t before_ms, int limit, long long *deleted);

/* ---- the worker --------------------------------------------------------------------- */

/* What a worker reports; absent fields are -1 or NULL. */
typedef struct {
    int data_sync_progress;
    int player_count_at_start;
    int players_transferred;
    int64_t player_downtime_ms;
    const char *progress_message;
    const char *phase_step;
    const char *warning;
    const char *cleanup_node; /* mig_complete only: the node whose old container is left */
    const char *cleanup_room; /* mig_complete only: the waiting room the proxy still has */
} store_report_t;

/* Sets every field absent. */
void store_report_init(store_report_t *r);

/* ---- clean-ups of old containers (lua-scripts/cleanup.lua) -------------------------- */

/* A claimed clean-up of migration `migration_id`, to carry out under `token`: the old
 * container of `server_id` on `node_id` ("" when none) and the waiting room `room` at
 * the proxy ("" when none). */
typedef struct {
    char migration_id[MIG_ID_MAX + 1];
    char server_id[MIG_ID_MAX + 1];
    char node_id[MIG_ID_MAX + 1];
    char room[MIG_ID_MAX + 16];
    uint64_t token;
    long long attempts;       /* tries that failed before this one */
} store_cleanup_t;

/* Claims the first clean-up due for `worker`, held for `lease_ms`. 0 with the item, or
 * MIG_EEMPTY when none is due. */
int store_cleanup_claim(rconn_t *rc, const char *worker, int64_t lease_ms, store_cleanup_t *out);
/* The agent confirmed the container gone: the item ends. MIG_ESTALE when the claim was lost. */
int store_cleanup_done(rconn_t *rc, const char *migration_id, uint64_t token);
/* A try failed with `error`: due again after `backoff_ms`. MIG_ESTALE when the claim was lost. */
int store_cleanup_retry(rconn_t *rc, const char *migration_id, uint64_t token, const char *error,
                        int64_t backoff_ms);

/* Claims the oldest ready migration for `worker` with a lease of `lease_ms`. Returns 0
 * with the record (status preparing, or the in-flight status of one being recovered,
 * with `recovering` set) or MIG_EEMPTY when the queue is empty. */
int store_claim(rconn_t *rc, const char *worker, int64_t lease_ms, migration_t *out);
/* A lease renewal and a progress report: the two writes that never wait for replicas
 * (MIG_REDIS_WAIT_REPLICAS), since the next one repairs one lost in a failover. */
int store_heartbeat(rconn_t *rc, const char *id, uint64_t token, int64_t lease_ms,
                    int64_t *expires_at);
int store_report_progress(rconn_t *rc, const char *id, uint64_t token, const store_report_t *rep);
/* preparing -> transferring or transferring -> completing. `rep` may be NULL. */
int store_advance(rconn_t *rc, const char *id, uint64_t token, mig_status_t to, const store_report_t *rep);

/* The calls that end a worker's hold (complete, fail, release) fill `out` (may be NULL)
 * with the outcome only: id, status, retry_count, not_before, duration_seconds,
 * error_message. Reading the whole record back would double their cost in Redis. */

/* completing -> completed; the server's cooldown lasts cooldown_ms. `rep` may be NULL. */
int store_complete(rconn_t *rc, const char *id, uint64_t token, int64_t cooldown_ms,
                   const store_report_t *rep, migration_t *out);

/* A failed phase, after its rollback. */
typedef struct {
    const char *error;       /* what happened, for error_message */
    const char *fail_reason; /* short cause for stats:fail_reasons: "sync", "lease_lost" */
    int rollback_success;    /* 0 or 1 */
    int retryable;           /* 1: back to scheduled while retries are left */
    int64_t backoff_ms;      /* delay before the retry */
    int64_t cooldown_ms;     /* server cooldown when it ends failed */
} store_failure_t;

int store_fail(rconn_t *rc, const char *id, uint64_t token, const store_failure_t *f,
               migration_t *out);

/* Hands a rolled-back preparing or transferring migration back to the schedule, due
 * now, without counting a retry (the worker is shutting down). */
int store_release(rconn_t *rc, const char *id, uint64_t token, const char *message, migration_t *out);

/* ---- stats -------------------------------------------------------------------------- */

typedef struct {
    char reason[64];
    long long count;
} store_reason_count_t;

/* The counters the transitions keep, and the queue depths. */
typedef struct {
    long long by_status[MIG_STATUS_COUNT]; /* current number in each status */
    long long created_total, completed_total, failed_total, cancelled_total, retried_total;
    long long duration_ms_sum;             /* over completed migrations */
    double savings_eur_hour_sum;           /* of completed migrations */
    double savings_eur_month_sum;
    store_reason_count_t *fail_reasons;    /* owned; free with store_stats_free() */
    size_t n_fail_reasons;
    long long ready, leases, scheduled;    /* queue depths now */
    long long cleanups_pending;            /* old containers still to be removed */
} store_stats_t;

int store_get_stats(rconn_t *rc, store_stats_t *st);
void store_stats_free(store_stats_t *st);
/* completed / (completed + failed), or -1 when neither happened yet. */
double store_stats_success_rate(const store_stats_t *st);
/* Average seconds from start to completion, or -1 when none completed. */
double store_stats_avg_duration_s(const store_stats_t *st);

/* ---- inventory ---------------------------------------------------------------------- */

/* Creates or updates a node or a server from `n` field/value pairs (names as in the
 * hashes of DESIGN.md section 2: name, address, healthy, ram_total_mb, ... / name,
 * node_id, players, idle_since, state, ram_mb, disk_mb). */
int store_put_node(rconn_t *rc, const char *id, const char *const *pairs, size_t n);
int store_put_server(rconn_t *rc, const char *id, const char *const *pairs, size_t n);
/* Every node / server, ordered by id. *out gets an array the caller frees with
 * store_nodes_free / store_servers_free. */
int store_list_nodes(rconn_t *rc, node_t **out, size_t *n);
void store_nodes_free(node_t *v, size_t n);
int store_list_servers(rconn_t *rc, server_t **out, size_t *n);
void store_servers_free(server_t *v, size_t n);
/* One server: 0 or MIG_ENO_SERVER. */
int store_get_server(rconn_t *rc, const char *id, server_t *out);
/* One node: 0 or MIG_ENO_NODE. `out` is cleared first; free with inventory_node_clear. */
int store_get_node(rconn_t *rc, const char *id, node_t *out);

/* Deletes a server and its migrations; *deleted (may be NULL) gets their number. */
int store_delete_server(rconn_t *rc, const char *id, long long *deleted);

#endif
