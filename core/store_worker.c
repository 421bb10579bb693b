/* store_worker.c - the worker's calls of the function library: claim, heartbeat, progress,
 * advance, complete, fail, release, and the clean-ups of the old containers that finished
 * migrations leave (lua-scripts/cleanup.lua). The API's and the scheduler's calls are in
 * store.c. */
#include "store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store_private.h"

/* ------------------------------------------------------------------------ the worker */

void store_report_init(store_report_t *r) {
    r->data_sync_progress = -1;
    r->player_count_at_start = -1;
    r->players_transferred = -1;
    r->player_downtime_ms = -1;
    r->progress_message = NULL;
    r->phase_step = NULL;
    r->warning = NULL;
    r->cleanup_node = NULL;
    r->cleanup_room = NULL;
}

static void arg_report(args_t *a, const store_report_t *r) {
    if (r == NULL) return;
    arg_pair_i(a, "data_sync_progress", r->data_sync_progress);
    arg_pair_i(a, "player_count_at_start", r->player_count_at_start);
    arg_pair_i(a, "players_transferred", r->players_transferred);
    arg_pair_i(a, "player_downtime_ms", r->player_downtime_ms);
    arg_pair_s(a, "progress_message", r->progress_message);
    arg_pair_s(a, "phase_step", r->phase_step);
    arg_pair_s(a, "warning", r->warning);
    arg_pair_s(a, "cleanup_node", r->cleanup_node);
    arg_pair_s(a, "cleanup_room", r->cleanup_room);
}

/* Copies a string element of a reply into `dst` (`cap` bytes); false when it is not one
 * or does not fit. */
static bool str_into(const redisReply *e, char *dst, size_t cap) {
    if (e->type != REDIS_REPLY_STRING || e->len >= cap) return false;
    memcpy(dst, e->str, e->len + 1);
    return true;
}

int store_cleanup_claim(rconn_t *rc, const char *worker, int64_t lease_ms, store_cleanup_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, worker);
    arg_i(&a, lease_ms);
    int code;
    redisReply *r = rconn_fcall(rc, "cleanup_claim", a.n, a.v, &code);
    if (r == NULL) return code;
    int rv = MIG_EPROTO;
    if (r->type == REDIS_REPLY_NIL) {
        rv = MIG_EEMPTY;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 6 &&
               str_into(r->element[0], out->migration_id, sizeof out->migration_id) &&
               str_into(r->element[1], out->server_id, sizeof out->server_id) &&
               str_into(r->element[2], out->node_id, sizeof out->node_id) && r->element[3]->type == REDIS_REPLY_STRING &&
               str_into(r->element[5], out->room, sizeof out->room)) {
        out->token = strtoull(r->element[3]->str, NULL, 10);
        out->attempts = ll_of(r->element[4]);
        rv = 0;
    }
    freeReplyObject(r);
    return rv;
}

int store_cleanup_done(rconn_t *rc, const char *migration_id, uint64_t token) {
    args_t a = {.n = 0};
    arg_s(&a, migration_id);
    arg_u(&a, token);
    return store__call_plain(rc, "cleanup_done", &a, NULL);
}

int store_cleanup_retry(rconn_t *rc, const char *migration_id, uint64_t token, const char *error,
                        int64_t backoff_ms) {
    args_t a = {.n = 0};
    arg_s(&a, migration_id);
    arg_u(&a, token);
    arg_s(&a, error);
    arg_i(&a, backoff_ms);
    return store__call_plain(rc, "cleanup_retry", &a, NULL);
}

int store_claim(rconn_t *rc, const char *worker, int64_t lease_ms, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, worker);
    arg_i(&a, lease_ms);
    return store__call_record(rc, "mig_claim", &a, out);
}

int store_heartbeat(rconn_t *rc, const char *id, uint64_t token, int64_t lease_ms,
                    int64_t *expires_at) {
    args_t a = {.n = 0};
    long long exp = 0;
    arg_s(&a, id);
    arg_u(&a, token);
    arg_i(&a, lease_ms);
    int rv = store__call_unwaited(rc, "mig_heartbeat", &a, &exp);
    if (rv == 0 && expires_at) *expires_at = exp;
    return rv;
}

int store_report_progress(rconn_t *rc, const char *id, uint64_t token, const store_report_t *rep) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    arg_u(&a, token);
    arg_report(&a, rep);
    return store__call_unwaited(rc, "mig_progress", &a, NULL);
}

int store_advance(rconn_t *rc, const char *id, uint64_t token, mig_status_t to, const store_report_t *rep) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    arg_u(&a, token);
    arg_s(&a, states_name(to));
    arg_report(&a, rep);
    return store__call_plain(rc, "mig_advance", &a, NULL);
}

int store_complete(rconn_t *rc, const char *id, uint64_t token, int64_t cooldown_ms,
                   const store_report_t *rep, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    arg_u(&a, token);
    arg_i(&a, cooldown_ms);
    arg_report(&a, rep);
    return store__call_record(rc, "mig_complete", &a, out);
}

int store_fail(rconn_t *rc, const char *id, uint64_t token, const store_failure_t *f,
               migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    arg_u(&a, token);
    arg_s(&a, f->error);
    arg_s(&a, f->fail_reason);
    arg_i(&a, f->rollback_success ? 1 : 0);
    arg_i(&a, f->retryable ? 1 : 0);
    arg_i(&a, f->backoff_ms);
    arg_i(&a, f->cooldown_ms);
    return store__call_record(rc, "mig_fail", &a, out);
}

int store_release(rconn_t *rc, const char *id, uint64_t token, const char *message, migration_t *out) {
    args_t a = {.n = 0};
    arg_s(&a, id);
    arg_u(&a, token);
    arg_s(&a, message);
    return store__call_record(rc, "mig_release", &a, out);
}
