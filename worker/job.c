/* job.c - the phases of one migration and their rollbacks. */
#include "worker/job.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "worker/lease.h"
#include "worker/plan.h"

#define STOPPED 1 /* a phase's answer when SIGTERM asked it to stop at a safe point */
#define PROGRESS_EVERY_MS 500 /* at most this often a sync's progress goes to Redis */
#define MESSAGE "Server wird migriert... bitte warten"
#define FINAL_POLL_MS 20 /* players wait on the final pass: its end is noticed within this */

/* The players' downtime beyond the final pass (plan_overhead_ms), as this process's
 * transfers measured it; -1 before the first one with players. Shared by the slots. */
static pthread_mutex_t overhead_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t overhead_est = -1;

static int64_t overhead_now(int64_t budget_ms) {
    pthread_mutex_lock(&overhead_lock);
    int64_t e = overhead_est;
    pthread_mutex_unlock(&overhead_lock);
    return e < 0 ? PLAN_OVERHEAD_PRIOR(budget_ms) : e;
}

static void overhead_observe(const char *id, int64_t observed_ms) {
    pthread_mutex_lock(&overhead_lock);
    overhead_est = plan_overhead_ms(overhead_est, observed_ms);
    int64_t e = overhead_est;
    pthread_mutex_unlock(&overhead_lock);
    char o[24], est[24];
    snprintf(o, sizeof o, "%lld", (long long)observed_ms);
    snprintf(est, sizeof est, "%lld", (long long)e);
    log_at(LOG_DEBUG, "worker.transfer_overhead", "migration_id", id, "observed_ms", o, "estimate_ms", est, NULL);
}

typedef struct {
    rconn_t *rc;
    driver_t *drv;
    const job_cfg_t *cfg;
    migration_t *m;
    char id[MIG_ID_MAX + 1];
    uint64_t token;
    server_t server;
    node_t from, to;
    lease_t *lease;         /* this slot's lease: no call, no write once it is gone */
    volatile sig_atomic_t *stopping;
    char room[64];          /* the waiting room of this migration: wait-<id> */
    char attempt[96];       /* key of this attempt's transfers: <id>.<token> */
    int players;            /* online at the start of the transfer */
    int moved;              /* moved onto the new server */
    int64_t down_start;     /* monotonic ms when the first player left for the waiting room */
    int64_t down_ms;        /* player downtime, -1 when nobody waited */
    int64_t final_est_ms;   /* the final pass as the plan estimated it; -1: not planned in this run */
    int64_t last_progress;  /* monotonic ms of the last progress write */
    const char *step;       /* the step reached last, for the logs */
    /* what this run may have changed, so the rollback undoes that and no more: a call
     * that never went out cannot fail to be undone. A recovered run knows nothing of
     * what its lost predecessor did, and undoes everything (every undo is idempotent). */
    bool touched_room, touched_players, touched_quiesce, touched_register;
    bool room_left;         /* the waiting room's deletion failed: completing tries again */
    /* the failure, once there is one */
    char err[600];
    const char *why;        /* fail_reason */
    int retryable;
    char warning[600];
} job_t;

/* Records a failure: message, cause, whether a retry may help. Returns `rv`. */
static int failed(job_t *j, int rv, const char *why, int retryable, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int failed(job_t *j, int rv, const char *why, int retryable, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    j->why = why;
    j->retryable = retryable;
    return rv;
}

/* True while the lease holds by this process's clock: the job may call and write. */
static bool held(job_t *j) {
    return lease_left_ms(j->lease, timefmt_mono_ms(), NULL) > 0;
}

/* A driver failure of step `why`: retryable when the agent was unreachable or failing.
 * A lost lease is no failure of the migration: it passes through unrecorded. */
static int driver_failed(job_t *j, int rv, const char *why) {
    if (rv == MIG_ELOST) return rv;
    return failed(j, rv, why, rv == MIG_EUNREACHABLE, "%s", driver_error(j->drv));
}

/* A worker's write refused as stale, or found no migration: the lease is gone. */
static int stale(job_t *j, int rv) {
    if (rv != MIG_ESTALE && rv != MIG_ENOT_FOUND) return rv;
    lease_lose(j->lease, j->token);
    return MIG_ELOST;
}

#define REDIS_RETRY_FIRST_MS 50   /* first wait before writing again to a Redis that failed */
#define REDIS_RETRY_MAX_MS 1000   /* longest wait between two tries */

/* Writes a progress report that must not be lost (measured facts, past the point of no
 * return): while the lease holds, a write that failed on the way (Redis restarting, a
 * failover) is tried again with a doubling wait, rather than turned into a failure that
 * would roll a finished move back. Returns 0, MIG_ELOST, or a refusal of Redis's. */
static int redis_write(job_t *j, int (*write)(rconn_t *, const char *, uint64_t, const store_report_t *),
                       const store_report_t *rep) {
    for (int64_t wait = REDIS_RETRY_FIRST_MS;; wait = wait * 2 > REDIS_RETRY_MAX_MS ? REDIS_RETRY_MAX_MS : wait * 2) {
        if (!held(j)) return MIG_ELOST;
        int rv = stale(j, write(j->rc, j->id, j->token, rep));
        if (rv != MIG_EREDIS && rv != MIG_EIO) return rv;
        log_at(LOG_WARN, "worker.redis_retry", "migration_id", j->id, "error", j->rc->err, NULL);
        timefmt_sleep_ms(wait);
    }
}

/* Records the step reached and a message for people, with the measured facts in `base`
 * (may be NULL); `progress` -1 leaves the sync's percentage as it is. A stale lease ends
 * the job (MIG_ELOST). A Redis hiccup does not, except for measured facts: those are
 * retried while the lease holds, since a recovering worker completes with them. */
static int vreport(job_t *j, const char *step, int progress, const store_report_t *base, const char *fmt,
                   va_list ap) {
    j->step = step;
    if (!held(j)) return MIG_ELOST;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    store_report_t rep;
    if (base) rep = *base;
    else store_report_init(&rep);
    rep.phase_step = step;
    rep.progress_message = msg;
    rep.data_sync_progress = progress;
    if (j->players >= 0 && strncmp(step, "transfer.", 9) == 0) rep.player_count_at_start = j->players;
    j->last_progress = timefmt_mono_ms();
    int rv = base ? redis_write(j, store_report_progress, &rep)
                  : stale(j, store_report_progress(j->rc, j->id, j->token, &rep));
    if (rv == MIG_ELOST) return rv;
    if (rv != 0) log_at(LOG_WARN, "worker.progress_failed", "migration_id", j->id, "error", j->rc->err, NULL);
    log_at(LOG_DEBUG, "worker.step", "migration_id", j->id, "phase_step", step, "message", msg, NULL);
    return 0;
}

static int report(job_t *j, const char *step, int progress, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int report(job_t *j, const char *step, int progress, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rv = vreport(j, step, progress, NULL, fmt, ap);
    va_end(ap);
    return rv;
}

static int report_with(job_t *j, const char *step, int progress, const store_report_t *base, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int report_with(job_t *j, const char *step, int progress, const store_report_t *base, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rv = vreport(j, step, progress, base, fmt, ap);
    va_end(ap);
    return rv;
}

/* ------------------------------------------------------------------------ the world */

/* Reads the server and both nodes from the inventory. */
static int load_world(job_t *j) {
    int rv = store_get_server(j->rc, j->m->server_id, &j->server);
    if (rv == MIG_ENO_SERVER) return failed(j, rv, "server_gone", 0, "server %s is no longer in the inventory", j->m->server_id);
    if (rv != 0) return failed(j, rv, "redis", 1, "reading server %s: %s", j->m->server_id, j->rc->err);
    /* the two nodes of this migration, not the fleet: node_list grows with the fleet */
    const char *ids[2] = {j->m->from_node_id, j->m->to_node_id}, *what[2] = {"source", "target"};
    node_t *dst[2] = {&j->from, &j->to};
    for (int i = 0; i < 2; i++) {
        rv = store_get_node(j->rc, ids[i], dst[i]);
        if (rv == MIG_ENO_NODE) return failed(j, rv, "node_gone", 0, "%s node %s is gone", what[i], ids[i]);
        if (rv != 0) return failed(j, rv, "redis", 1, "reading node %s: %s", ids[i], j->rc->err);
    }
    return 0;
}

/* ------------------------------------------------------------------------ long steps */

/* Waits until the target's container runs and is healthy. */
static int wait_running(job_t *j) {
    int64_t deadline = timefmt_mono_ms() + j->cfg->step_timeout_ms;
    for (;;) {
        driver_container_t c;
        int rv = driver_container_get(j->drv, &j->to, j->id, j->server.id, &c);
        if (rv != 0) return driver_failed(j, rv, "start");
        if (strcmp(c.state, "running") == 0 && c.healthy) return 0;
        if (strcmp(c.state, "absent") == 0 || strcmp(c.state, "stopped") == 0)
            return failed(j, MIG_EREFUSED, "start", 1, "node %s: container of %s is %s after start", j->to.id,
                          j->server.id, c.state);
        if (timefmt_mono_ms() > deadline)
            return failed(j, MIG_ETIMEOUT, "start_timeout", 1, "node %s: container of %s not healthy after %lld ms",
                          j->to.id, j->server.id, (long long)j->cfg->step_timeout_ms);
        if (!held(j)) return MIG_ELOST;
        timefmt_sleep_ms(j->cfg->poll_ms);
    }
}

/* Runs one sync pass to its end. Progress of pass 1 is reported as data_sync_progress;
 * `out` gets the final state of the pass, *bps the measured speed. */
static int sync_pass(job_t *j, int pass, bool final, driver_sync_t *out, double *bps) {
    char sync_id[128];
    int rv = driver_sync_start(j->drv, &j->to, &j->from, j->id, j->server.id, pass, final, sync_id);
    if (rv != 0) return driver_failed(j, rv, "sync");
    int64_t t0 = timefmt_mono_ms(), deadline = t0 + j->cfg->step_timeout_ms;
    for (;;) {
        if ((rv = driver_sync_get(j->drv, &j->to, j->id, sync_id, out)) != 0) return driver_failed(j, rv, "sync");
        if (out->error[0])
            return failed(j, MIG_EREFUSED, "sync", 1, "node %s: sync pass %d of %s failed: %s", j->to.id, pass,
                          j->server.id, out->error);
        if (out->done) break;
        if (timefmt_mono_ms() > deadline)
            return failed(j, MIG_ETIMEOUT, "sync_timeout", 1, "node %s: sync pass %d of %s not done after %lld ms",
                          j->to.id, pass, j->server.id, (long long)j->cfg->step_timeout_ms);
        if (pass == 1 && timefmt_mono_ms() - j->last_progress >= PROGRESS_EVERY_MS &&
            (rv = report(j, "prepare.sync", out->progress, "Syncing world (%d%%)", out->progress)) != 0)
            return rv;
        if (!held(j)) return MIG_ELOST;
        timefmt_sleep_ms(final && j->cfg->poll_ms > FINAL_POLL_MS ? FINAL_POLL_MS : j->cfg->poll_ms);
    }
    /* a pass that ended within the clock's millisecond counts as 1 ms, not as no
     * measurement (which plan_pass_ms() would read as infinitely slow) */
    int64_t ms = timefmt_mono_ms() - t0;
    *bps = (double)out->bytes_done * 1000.0 / (double)(ms > 0 ? ms : 1);
    return 0;
}

/* ------------------------------------------------------------------------ phases */

/* preparing: validate, check capacity, create and start the target container, wait
 * until healthy, and copy the world while the server runs: a full pass, then delta
 * passes until the final one fits the downtime budget. */
static int prepare(job_t *j) {
    int rv;
    if ((rv = report(j, "prepare.validate", 0, "Validating")) != 0) return rv;
    if (j->server.node_id == NULL || strcmp(j->server.node_id, j->from.id) != 0)
        return failed(j, MIG_EINVALID, "moved", 0, "server %s runs on node %s, not %s", j->server.id,
                      j->server.node_id ? j->server.node_id : "(none)", j->from.id);
    if ((rv = report(j, "prepare.capacity", 0, "Checking capacity of %s", j->to.name ? j->to.name : j->to.id)) != 0)
        return rv;
    bool healthy;
    long long ram = -1, disk = -1;
    if ((rv = driver_health(j->drv, &j->to, &healthy, &ram, &disk)) != 0) return driver_failed(j, rv, "target_unhealthy");
    if (!healthy) return failed(j, MIG_EREFUSED, "target_unhealthy", 1, "node %s: unhealthy", j->to.id);
    if (j->server.ram_mb > 0 && ram >= 0 && ram < j->server.ram_mb)
        return failed(j, MIG_EREFUSED, "capacity", 1, "node %s: %lld MB RAM free, %s needs %lld", j->to.id, ram,
                      j->server.id, j->server.ram_mb);
    if (j->server.disk_mb > 0 && disk >= 0 && disk < j->server.disk_mb)
        return failed(j, MIG_EREFUSED, "capacity", 1, "node %s: %lld MB disk free, %s needs %lld", j->to.id, disk,
                      j->server.id, j->server.disk_mb);
    if (*j->stopping) return STOPPED;
    if ((rv = report(j, "prepare.create", 0, "Creating container on %s", j->to.name ? j->to.name : j->to.id)) != 0)
        return rv;
    if ((rv = driver_container_create(j->drv, &j->to, j->id, j->server.id, j->server.ram_mb, j->server.disk_mb)) != 0)
        return driver_failed(j, rv, "create");
    if ((rv = report(j, "prepare.start", 0, "Starting container")) != 0) return rv;
    if ((rv = driver_container_start(j->drv, &j->to, j->id, j->server.id)) != 0) return driver_failed(j, rv, "start");
    if ((rv = wait_running(j)) != 0) return rv;
    if (*j->stopping) return STOPPED;
    if ((rv = report(j, "prepare.sync", 0, "Syncing world (0%%)")) != 0) return rv;
    driver_sync_t s;
    double bps = 0;
    for (int pass = 1;; pass++) {
        if ((rv = sync_pass(j, pass, false, &s, &bps)) != 0) return rv;
        int64_t budget = j->cfg->downtime_budget_ms;
        plan_sync_t next = plan_next_sync(s.dirty_bytes, bps, budget, overhead_now(budget), pass, j->cfg->max_sync_passes);
        j->final_est_ms = plan_pass_ms(s.dirty_bytes, bps);
        if (next != PLAN_SYNC_AGAIN) {
            if (next == PLAN_SYNC_GIVE_UP) {
                char dirty[24];
                snprintf(dirty, sizeof dirty, "%lld", s.dirty_bytes);
                log_at(LOG_WARN, "worker.sync_not_converged", "migration_id", j->id, "dirty_bytes", dirty, NULL);
            }
            break;
        }
        if (*j->stopping) return STOPPED;
        if ((rv = report(j, "prepare.sync", 100, "Delta sync pass %d (%lld MB changed)", pass + 1,
                         s.dirty_bytes / (1024 * 1024))) != 0)
            return rv;
    }
    return report(j, "prepare.sync", 100, "World synced");
}

/* Writes the players moved and the downtime, as measured so far, with `step`. */
static int report_facts(job_t *j, const char *step) {
    store_report_t rep;
    store_report_init(&rep);
    rep.players_transferred = j->moved;
    if (j->down_ms >= 0) rep.player_downtime_ms = j->down_ms;
    return report_with(j, step, 100, &rep, "%d player%s on the new server", j->moved, j->moved == 1 ? "" : "s");
}

/* The end of transferring, from the point of no return on: the final sync is done, so
 * the target holds the whole world and the players go there rather than back. The proxy
 * is pointed at the new server, the players are moved onto it (from the waiting room,
 * and those who joined the quiesced source meanwhile), and the downtime and the players
 * moved are written the moment they are known, so a worker that recovers the migration
 * completes with them. Every call is idempotent: a recovering worker runs this again to
 * finish a move its predecessor began. */
static int finish_transfer(job_t *j) {
    int rv;
    const char *name = j->server.name ? j->server.name : j->server.id;
    driver_container_t c;
    if ((rv = driver_container_get(j->drv, &j->to, j->id, j->server.id, &c)) != 0) return driver_failed(j, rv, "register");
    if (c.address[0] == '\0') snprintf(c.address, sizeof c.address, "%s", j->to.address ? j->to.address : j->to.id);
    if ((rv = report(j, "transfer.register", 100, "Registering %s at %s", name, c.address)) != 0) return rv;
    j->touched_register = true;
    if ((rv = driver_register(j->drv, j->id, name, c.address)) != 0) return driver_failed(j, rv, "register");
    if (j->players != 0) {
        if ((rv = report(j, "transfer.move_players", 100, "Transferring %d players to new server...",
                         j->players > 0 ? j->players : 0)) != 0)
            return rv;
        int moved = 0; /* a room already gone (a predecessor deleted it) holds nobody */
        if ((rv = driver_transfer(j->drv, j->attempt, j->id, j->room, name, "Willkommen zurueck!", true, &moved)) != 0)
            return driver_failed(j, rv, "proxy");
        j->moved += moved;
        if (j->down_start > 0) {
            j->down_ms = timefmt_mono_ms() - j->down_start;
            /* what the downtime had beyond the planned final pass: the calls around it, the
             * data written since the last pass, the lag in noticing the end */
            if (j->final_est_ms >= 0 && j->final_est_ms < INT64_MAX / 8)
                overhead_observe(j->id, j->down_ms - j->final_est_ms);
        }
        if ((rv = report_facts(j, "transfer.players_moved")) != 0) return rv;
    } else {
        j->down_ms = 0;
    }
    /* Players who joined while the source was quiesced are still on it: the proxy sends
     * only new joins to the new address. Moving the server onto itself reconnects them
     * there, before completing stops the source under them. */
    int stragglers = 0;
    if ((rv = driver_transfer(j->drv, j->attempt, j->id, name, name, "Willkommen zurueck!", false, &stragglers)) != 0)
        return driver_failed(j, rv, "proxy");
    j->moved += stragglers;
    if (j->players != 0 && (rv = driver_room_delete(j->drv, j->id, j->room)) != 0) {
        if (rv == MIG_ELOST) return rv;
        j->room_left = true; /* empty now; completing tries again, then a clean-up item */
        log_at(LOG_WARN, "worker.room_left", "migration_id", j->id, "error", driver_error(j->drv), NULL);
    }
    return report_facts(j, "transfer.done");
}

/* transferring: players to the waiting room, the source quiesced, the final sync, then
 * finish_transfer: the proxy re-pointed to the new server, the players moved there. */
static int transfer(job_t *j) {
    int rv;
    const char *name = j->server.name ? j->server.name : j->server.id;
    if ((rv = driver_players(j->drv, j->id, name, &j->players)) != 0) return driver_failed(j, rv, "proxy");
    if ((rv = report(j, "transfer.players", 100, "%d player%s online", j->players, j->players == 1 ? "" : "s")) != 0)
        return rv;
    if (j->players > 0) {
        if ((rv = report(j, "transfer.waiting_room", 100, "Moving %d players to the waiting room", j->players)) != 0)
            return rv;
        j->touched_room = true;
        if ((rv = driver_room_create(j->drv, j->id, j->room)) != 0) return driver_failed(j, rv, "proxy");
        j->down_start = timefmt_mono_ms();
        j->touched_players = true;
        if ((rv = driver_transfer(j->drv, j->attempt, j->id, name, j->room, MESSAGE, false, NULL)) != 0)
            return driver_failed(j, rv, "proxy");
    }
    if ((rv = report(j, "transfer.quiesce", 100, "Saving the world on %s", j->from.name ? j->from.name : j->from.id)) != 0)
        return rv;
    j->touched_quiesce = true;
    if ((rv = driver_quiesce(j->drv, &j->from, j->id, j->server.id, false)) != 0) return driver_failed(j, rv, "quiesce");
    if ((rv = report(j, "transfer.final_sync", 100, "Final sync")) != 0) return rv;
    driver_sync_t s;
    double bps;
    if ((rv = sync_pass(j, 1000, true, &s, &bps)) != 0) return rv;
    return finish_transfer(j);
}

/* Appends a problem of the completing phase to the warning. */
static void warn(job_t *j, const char *what, const char *detail) {
    size_t n = strlen(j->warning);
    snprintf(j->warning + n, sizeof j->warning - n, "%s%s: %s", n ? "; " : "", what, detail);
    log_at(LOG_WARN, "worker.completing_problem", "migration_id", j->id, "problem", what, "error", detail, NULL);
}

/* completing: the old container goes, and the migration is completed (the inventory
 * already says where the server runs: mig_advance wrote it with the step into
 * completing). A problem here keeps the new server and ends completed with a warning:
 * undoing a finished move would cost the players a second downtime. */
static int complete(job_t *j) {
    int rv;
    if ((rv = report(j, "complete.stop_old", 100, "Removing old container on %s", j->from.name ? j->from.name : j->from.id)) != 0)
        return rv;
    if ((rv = driver_container_stop(j->drv, &j->from, j->id, j->server.id)) == 0)
        rv = driver_container_delete(j->drv, &j->from, j->id, j->server.id);
    if (rv == MIG_ELOST) return rv;
    bool left = rv != 0;
    if (left) warn(j, "old container not removed", driver_error(j->drv));
    /* a room whose deletion failed, or one a lost predecessor may have left (404: gone) */
    if (j->room_left || j->m->recovering) {
        if ((rv = driver_room_delete(j->drv, j->id, j->room)) == MIG_ELOST) return rv;
        j->room_left = rv != 0;
        if (j->room_left) warn(j, "waiting room not removed", driver_error(j->drv));
    }
    store_report_t rep;
    store_report_init(&rep);
    rep.players_transferred = j->moved;
    if (j->down_ms >= 0) rep.player_downtime_ms = j->down_ms;
    rep.progress_message = "Completed";
    rep.phase_step = "complete.done";
    if (j->warning[0]) rep.warning = j->warning;
    if (left) rep.cleanup_node = j->from.id; /* a clean-up item removes it later (worker/main.c) */
    if (j->room_left) rep.cleanup_room = j->room;
    if (!held(j)) return MIG_ELOST;
    rv = stale(j, store_complete(j->rc, j->id, j->token, j->cfg->cooldown_ms, &rep, j->m));
    if (rv == MIG_ELOST) return rv;
    if (rv != 0) return failed(j, rv, "redis", 1, "completing: %s", j->rc->err);
    char dur[32], down[24];
    snprintf(dur, sizeof dur, "%.3f", j->m->duration_seconds);
    snprintf(down, sizeof down, "%lld", (long long)j->down_ms);
    log_at(LOG_INFO, "migration.completed", "migration_id", j->id, "server_id", j->server.id, "duration_s", dur,
           "player_downtime_ms", down, "warning", j->warning[0] ? j->warning : NULL, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ rollbacks */

/* A rollback's answer: 0 when every undo was done, ROLLBACK_PARTIAL when one failed
 * (logged; the migration records rollback_success false), MIG_ELOST when the lease went
 * mid-way: then it stops at once, since the recovering worker owns the rollback now. */
#define ROLLBACK_PARTIAL 1

/* Runs one undo inside a rollback: stops the rollback when the lease is gone. */
#define UNDO(call)                                                                                            \
    do {                                                                                                      \
        int undo_rv_ = (call);                                                                                \
        if (undo_rv_ == MIG_ELOST) return MIG_ELOST;                                                          \
        if (undo_rv_ != 0) {                                                                                  \
            partial = ROLLBACK_PARTIAL;                                                                       \
            log_at(LOG_ERROR, "worker.rollback_step_failed", "migration_id", j->id, "error",                  \
                   driver_error(j->drv), NULL);                                                               \
        }                                                                                                     \
    } while (0)

/* Undo of preparing: the target container goes; the source never stopped. */
static int rollback_prepare(job_t *j) {
    log_at(LOG_WARN, "worker.rollback", "migration_id", j->id, "phase", "preparing", NULL);
    int partial = 0;
    UNDO(driver_container_delete(j->drv, &j->to, j->id, j->server.id));
    return partial;
}

/* Undo of transferring: the source saves again, the proxy points back at it, the
 * players come back to it from wherever they are (the waiting room, or the new server if
 * they had got there), the room goes, and the target container goes only once nobody is
 * on it: a rollback never drops a player. */
static int rollback_transfer(job_t *j) {
    log_at(LOG_WARN, "worker.rollback", "migration_id", j->id, "phase", "transferring", NULL);
    const char *name = j->server.name ? j->server.name : j->server.id;
    int partial = 0;
    if (j->touched_quiesce) UNDO(driver_quiesce(j->drv, &j->from, j->id, j->server.id, true));
    if (j->touched_register) {
        driver_container_t c;
        UNDO(driver_container_get(j->drv, &j->from, j->id, j->server.id, &c));
        if (c.address[0] == '\0') snprintf(c.address, sizeof c.address, "%s", j->from.address ? j->from.address : j->from.id);
        UNDO(driver_register(j->drv, j->id, name, c.address));
        /* players already on the new server reconnect to the address registered now */
        UNDO(driver_transfer(j->drv, j->attempt, j->id, name, name, "Migration abgebrochen, zurueck auf deinem Server",
                             false, NULL));
    }
    if (j->touched_players)
        UNDO(driver_transfer(j->drv, j->attempt, j->id, j->room, name,
                             "Migration abgebrochen, zurueck auf deinem Server", true, NULL));
    if (j->touched_room) UNDO(driver_room_delete(j->drv, j->id, j->room));
    driver_container_t t;
    UNDO(driver_container_get(j->drv, &j->to, j->id, j->server.id, &t));
    if (t.players > 0) {
        /* someone is still connected there: deleting it would drop them. Leave it for a
         * later attempt (the next claim deletes it) and say so. */
        partial = ROLLBACK_PARTIAL;
        char n[16];
        snprintf(n, sizeof n, "%d", t.players);
        log_at(LOG_ERROR, "worker.rollback_kept_target", "migration_id", j->id, "players", n, NULL);
    } else {
        UNDO(driver_container_delete(j->drv, &j->to, j->id, j->server.id));
    }
    return partial;
}

/* The rollback of the phase the migration is in. */
static int rollback(job_t *j) {
    return j->m->status == MIG_TRANSFERRING ? rollback_transfer(j) : rollback_prepare(j);
}

/* Records the failure after the rollback: a retry with backoff while retries are left
 * and a retry may help, otherwise failed. */
static int finish_failure(job_t *j, int rv, bool rollback_ok) {
    if (!held(j)) return MIG_ELOST;
    store_failure_t f = {
        .error = j->err[0] ? j->err : mig_strerror(rv),
        .fail_reason = j->why ? j->why : "error",
        .rollback_success = rollback_ok,
        .retryable = j->retryable,
        .backoff_ms = plan_backoff_ms(j->m->retry_count + 1, j->cfg->retry_base_ms, j->cfg->retry_max_ms,
                                      (double)rand() / ((double)RAND_MAX + 1.0)),
        .cooldown_ms = j->cfg->cooldown_ms,
    };
    int frv = stale(j, store_fail(j->rc, j->id, j->token, &f, j->m));
    if (frv == MIG_ELOST) return frv;
    if (frv != 0) {
        /* Redis is away: the lease will expire and recovery will roll back again, which
         * is harmless, and record the end. */
        log_at(LOG_ERROR, "worker.fail_unrecorded", "migration_id", j->id, "error", j->rc->err, NULL);
        return frv;
    }
    log_at(j->m->status == MIG_FAILED ? LOG_ERROR : LOG_WARN,
           j->m->status == MIG_FAILED ? "migration.failed" : "migration.retry", "migration_id", j->id, "server_id",
           j->server.id, "error", f.error, "fail_reason", f.fail_reason, "rollback_success",
           rollback_ok ? "true" : "false", NULL);
    return rv;
}

/* Rolls back the phase the migration is in and records the failure. A lost lease does
 * neither: the worker that recovers the migration rolls back and records. */
static int fail_phase(job_t *j, int rv) {
    if (rv == MIG_ELOST) return rv;
    int rb = rollback(j);
    if (rb == MIG_ELOST) return rb;
    return finish_failure(j, rv, rb == 0);
}

/* Hands a migration stopped by SIGTERM back after rolling its phase back. */
static int release(job_t *j) {
    int rv = rollback_prepare(j);
    if (rv == MIG_ELOST || !held(j)) return MIG_ELOST;
    rv = stale(j, store_release(j->rc, j->id, j->token, "worker stopped; waiting for another", j->m));
    log_at(LOG_INFO, "worker.released", "migration_id", j->id, "ok", rv == 0 ? "true" : "false", NULL);
    return rv;
}

/* Moves the migration on to `to`. A write that failed on the way is tried again while
 * the lease holds (into completing the players are already on the new server: a Redis
 * restart must not turn that into a rollback). A try whose answer was lost may have been
 * applied: a refused repeat is then checked against the record. */
static int advance(job_t *j, mig_status_t to) {
    bool retried = false;
    for (int64_t wait = REDIS_RETRY_FIRST_MS;; wait = wait * 2 > REDIS_RETRY_MAX_MS ? REDIS_RETRY_MAX_MS : wait * 2) {
        if (!held(j)) return MIG_ELOST;
        int rv = stale(j, store_advance(j->rc, j->id, j->token, to, NULL));
        if (rv == MIG_EILLEGAL && retried) {
            migration_t now;
            migration_init(&now);
            bool done = store_get_migration(j->rc, j->id, &now) == 0 && now.status == to && now.lease_token == j->token;
            migration_clear(&now);
            if (done) rv = 0;
        }
        if (rv == 0) {
            j->m->status = to;
            return 0;
        }
        if (rv == MIG_ELOST) return rv;
        if (rv != MIG_EREDIS && rv != MIG_EIO)
            return failed(j, rv, "redis", 1, "advancing to %s: %s", states_name(to), j->rc->err);
        log_at(LOG_WARN, "worker.redis_retry", "migration_id", j->id, "error", j->rc->err, NULL);
        retried = true;
        timefmt_sleep_ms(wait);
    }
}

/* True for the steps of transferring that come after the final sync: from there on, the
 * target holds the whole world, and going forward is what keeps the players. */
static bool past_final_sync(const char *step) {
    return step && (strcmp(step, "transfer.register") == 0 || strcmp(step, "transfer.move_players") == 0 ||
                    strcmp(step, "transfer.players_moved") == 0 || strcmp(step, "transfer.done") == 0);
}

/* A migration handed back by mig_recover: its worker died mid-phase. Preparing rolls back
 * and retries; transferring past its final sync finishes onto a healthy target (else
 * rolls back and retries); completing finishes. */
static int recover(job_t *j) {
    log_at(LOG_WARN, "worker.recovering", "migration_id", j->id, "status", states_name(j->m->status), "phase_step",
           j->m->phase_step ? j->m->phase_step : "", NULL);
    if (j->m->status == MIG_COMPLETING) {
        j->moved = j->m->players_transferred >= 0 ? j->m->players_transferred : j->m->player_count_at_start;
        if (j->moved < 0) j->moved = 0;
        j->down_ms = j->m->player_downtime_ms;
        return complete(j);
    }
    if (j->m->status == MIG_TRANSFERRING && past_final_sync(j->m->phase_step)) {
        /* the target holds the whole world: finish the move onto it while it runs */
        driver_container_t c;
        int rv = driver_container_get(j->drv, &j->to, j->id, j->server.id, &c);
        if (rv == MIG_ELOST) return rv;
        if (rv == 0 && strcmp(c.state, "running") == 0 && c.healthy) {
            log_at(LOG_WARN, "worker.rolling_forward", "migration_id", j->id, "phase_step", j->m->phase_step, NULL);
            j->players = j->m->player_count_at_start; /* -1 when unknown: a room may hold players */
            j->touched_room = j->touched_players = j->touched_quiesce = true;
            j->down_ms = j->m->player_downtime_ms; /* what the predecessor measured, if it got that far */
            if (strcmp(j->m->phase_step, "transfer.done") == 0) {
                /* the record holds what the predecessor measured: only the step is left */
                j->moved = j->m->players_transferred > 0 ? j->m->players_transferred : 0;
            } else {
                /* those the predecessor moved are on the target already; this run adds the rest */
                j->moved = c.players > 0 ? c.players : 0;
                rv = finish_transfer(j);
            }
            if (rv == 0 && (rv = advance(j, MIG_COMPLETING)) == 0) return complete(j);
            if (rv == MIG_ELOST) return rv;
            /* the roll forward failed: roll back below, from wherever the players are */
        }
    }
    j->touched_room = j->touched_players = j->touched_quiesce = j->touched_register = true;
    failed(j, MIG_ELOST, "lease_lost", 1, "the previous worker was lost during %s (step %s)",
           states_name(j->m->status), j->m->phase_step ? j->m->phase_step : "none");
    int rb = rollback(j);
    if (rb == MIG_ELOST) return rb;
    return finish_failure(j, MIG_ELOST, rb == 0);
}

int job_run(rconn_t *rc, driver_t *drv, const job_cfg_t *cfg, migration_t *m, lease_t *lease,
            volatile sig_atomic_t *stopping) {
    job_t j = {.rc = rc, .drv = drv, .cfg = cfg, .m = m, .lease = lease, .stopping = stopping, .players = -1, .down_ms = -1,
               .final_est_ms = -1};
    snprintf(j.id, sizeof j.id, "%s", m->id);
    snprintf(j.room, sizeof j.room, "wait-%s", m->id);
    j.token = m->lease_token;
    snprintf(j.attempt, sizeof j.attempt, "%s.%llu", m->id, (unsigned long long)m->lease_token);
    inventory_server_init(&j.server);
    inventory_node_init(&j.from);
    inventory_node_init(&j.to);
    log_at(LOG_INFO, m->recovering ? "migration.recovery_started" : "migration.started", "migration_id", j.id,
           "server_id", m->server_id, "from_node_id", m->from_node_id, "to_node_id", m->to_node_id, NULL);
    int rv = load_world(&j);
    if (rv != 0 && m->status == MIG_COMPLETING) {
        /* a recovered move whose world changed under it: it is done, say what is off */
        store_report_t rep;
        store_report_init(&rep);
        rep.warning = j.err;
        rv = held(&j) ? stale(&j, store_complete(rc, j.id, j.token, cfg->cooldown_ms, &rep, m)) : MIG_ELOST;
        goto out;
    }
    if (rv != 0) {
        /* nothing was touched yet: record the failure without a rollback */
        rv = finish_failure(&j, rv, true);
        goto out;
    }
    if (m->recovering) {
        rv = recover(&j);
        goto out;
    }
    rv = prepare(&j);
    if (rv == STOPPED) {
        rv = release(&j);
        goto out;
    }
    if (rv == 0) rv = advance(&j, MIG_TRANSFERRING);
    if (rv != 0) {
        rv = fail_phase(&j, rv);
        goto out;
    }
    if ((rv = transfer(&j)) == 0) rv = advance(&j, MIG_COMPLETING);
    if (rv != 0) {
        rv = fail_phase(&j, rv);
        goto out;
    }
    rv = complete(&j);
out:
    if (rv == MIG_ELOST)
        log_at(LOG_WARN, "worker.lease_lost", "migration_id", j.id, "phase_step", j.step ? j.step : "", "call",
               driver_last_call(drv), NULL);
    inventory_server_clear(&j.server);
    inventory_node_clear(&j.from);
    inventory_node_clear(&j.to);
    return rv;
}
