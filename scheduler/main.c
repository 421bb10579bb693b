/* main.c - bin/migrate-scheduler: one active instance (a leader lease) moves approved
 * migrations to scheduled, promotes due ones when every safety rule holds, recovers
 * migrations whose worker died, and trims ended ones past the retention. It wakes on
 * migration and inventory events, not only on a timer. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "scheduler/rules.h"

#define PROGRAM "migrate-scheduler"
#define DUE_PER_TICK 500     /* due migrations looked at per tick; the rest the next one */
#define RECOVER_PER_TICK 100
#define TRIM_PER_TICK 1000
#define TRIM_EVERY_MS 60000  /* retention need not run often */

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

/* The wake-up: the subscriber thread signals it on every event but progress reports. */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int woken;
static rconn_opts_t redis_opts;

/* Servers whose world changed since the last tick (guarded by wake_lock): their held
 * migrations are looked at again at once. Past TOUCH_MAX, or on a node's change or a
 * migration's end (which frees a concurrency slot), every held migration is. */
#define TOUCH_MAX 32
static char touched[TOUCH_MAX][MIG_ID_MAX + 1];
static int ntouched, touch_all;

/* Notes what an event changed and wakes the tick. */
static void wake_for(const char *json) {
    cJSON *ev = json ? cJSON_Parse(json) : NULL;
    const cJSON *type = cJSON_GetObjectItem(ev, "type"), *sid = cJSON_GetObjectItem(ev, "server_id");
    const cJSON *to = cJSON_GetObjectItem(ev, "new_status");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    /* A progress report changes nothing a tick decides on (and the scheduler's own
     * blocked reasons are progress events): waking on them made the ticks grow with the
     * reports, each rescanning every migration in flight (bench/RESULTS.md, live). */
    if (strcmp(t, "migration.progress") == 0) {
        cJSON_Delete(ev);
        return;
    }
    pthread_mutex_lock(&wake_lock);
    if (strcmp(t, "node.updated") == 0 || strcmp(t, "migration.completed") == 0 ||
        strcmp(t, "migration.failed") == 0 || (cJSON_IsString(to) && strcmp(to->valuestring, "cancelled") == 0)) {
        touch_all = 1;
    } else if (strncmp(t, "server.", 7) == 0 && cJSON_IsString(sid) && strlen(sid->valuestring) <= MIG_ID_MAX) {
        int i = 0;
        while (i < ntouched && strcmp(touched[i], sid->valuestring) != 0) i++;
        if (i == ntouched) {
            if (ntouched == TOUCH_MAX) touch_all = 1;
            else snprintf(touched[ntouched++], MIG_ID_MAX + 1, "%s", sid->valuestring);
        }
    }
    woken = 1;
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
    cJSON_Delete(ev);
}

/* Makes the held migrations of the servers noted since the last tick due now. */
static void touch_changed(rconn_t *rc) {
    const char *ids[TOUCH_MAX];
    char copy[TOUCH_MAX][MIG_ID_MAX + 1];
    size_t n = 0;
    pthread_mutex_lock(&wake_lock);
    if (touch_all) {
        ids[n++] = "*";
    } else {
        for (int i = 0; i < ntouched; i++) {
            memcpy(copy[n], touched[i], sizeof copy[n]);
            ids[n] = copy[n];
            n++;
        }
    }
    ntouched = touch_all = 0;
    pthread_mutex_unlock(&wake_lock);
    if (n > 0 && store_sched_touch(rc, ids, n, NULL) != 0)
        log_at(LOG_WARN, "scheduler.touch_failed", "error", rc->err, NULL);
}

/* Sleeps until woken or `ms` passed. */
static void wait_for(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wake_lock);
    while (!woken && !stopping)
        if (pthread_cond_timedwait(&wake_cond, &wake_lock, &ts) != 0) break;
    woken = 0;
    pthread_mutex_unlock(&wake_lock);
}

/* Subscribes to the events channel and wakes the tick on every event; reconnects when
 * Redis goes away. It polls the socket with a timeout, so it sees SIGTERM. */
static void *subscriber_main(void *arg) {
    (void)arg;
    char err[256];
    while (!stopping) {
        rconn_t *rc = rconn_new(&redis_opts, err, sizeof err);
        if (rc == NULL || rconn_ensure(rc) != 0) {
            rconn_free(rc);
            timefmt_sleep_ms(1000);
            continue;
        }
        char ch[RCONN_PREFIX_MAX + 16];
        rconn_key(rc, RCONN_CHANNEL_EVENTS, ch, sizeof ch);
        redisReply *r = redisCommand(rc->ctx, "SUBSCRIBE %s", ch);
        int ok = r != NULL;
        if (r) freeReplyObject(r);
        while (ok && !stopping) {
            void *msg = NULL;
            if (redisGetReplyFromReader(rc->ctx, &msg) != REDIS_OK) break;
            if (msg) {
                redisReply *m = msg;
                wake_for(m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING
                             ? m->element[2]->str
                             : NULL);
                freeReplyObject(msg);
                continue;
            }
            struct pollfd pfd = {rc->ctx->fd, POLLIN, 0};
            int n = poll(&pfd, 1, 1000);
            if (n > 0 && redisBufferRead(rc->ctx) != REDIS_OK) break;
            if (n < 0 && errno != EINTR) break;
        }
        rconn_free(rc);
    }
    return NULL;
}

/* Counts in-flight migrations touching `node`. */
static int touching(const store_sched_t *s, const char *node) {
    int n = 0;
    for (size_t i = 0; i < s->n_inflight; i++)
        if (strcmp(s->inflight[i][0], node) == 0 || strcmp(s->inflight[i][1], node) == 0) n++;
    return n;
}

/* Seconds after local midnight at Unix ms `now`, in the zone of TZ (set once at start,
 * before any thread, to the window's zone): the window rule's local time of day. */
static int local_sod(int64_t now) {
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL) return 0;
    return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* One tick of promotion: returns ms until the next due entry (or `idle_ms`). */
static int64_t promote_due(rconn_t *rc, const rules_limits_t *lim, int64_t idle_ms) {
    store_sched_t s;
    int rv = store_sched_due(rc, DUE_PER_TICK, &s);
    if (rv != 0) {
        log_at(LOG_WARN, "scheduler.read_failed", "error", rc->err, NULL);
        return idle_ms;
    }
    int inflight = (int)s.n_inflight;
    for (size_t i = 0; i < s.n_due; i++) {
        store_due_t *d = &s.due[i];
        rules_facts_t f = {
            .m = &d->m,
            .server = d->server.id ? &d->server : NULL,
            .to = d->to.id ? &d->to : NULL,
            .scaling = s.scaling,
            .platform_queue = s.platform_queue,
            .cooldown_left_ms = d->cooldown_left_ms,
            .inflight = inflight,
            .inflight_from = touching(&s, d->m.from_node_id),
            .inflight_to = touching(&s, d->m.to_node_id),
            .now = s.now,
            .local_sod = lim->window ? local_sod(s.now) : 0,
        };
        rules_verdict_t v;
        rules_decide(&f, lim, &v);
        if (v.promote) {
            rv = store_promote(rc, d->m.id);
            if (rv == 0) {
                inflight++;
                /* count it against its nodes for the rest of this tick */
                char (*grown)[2][MIG_ID_MAX + 1] = realloc(s.inflight, (s.n_inflight + 1) * sizeof *s.inflight);
                if (grown) {
                    s.inflight = grown;
                    snprintf(s.inflight[s.n_inflight][0], MIG_ID_MAX + 1, "%s", d->m.from_node_id);
                    snprintf(s.inflight[s.n_inflight][1], MIG_ID_MAX + 1, "%s", d->m.to_node_id);
                    s.n_inflight++;
                }
                log_at(LOG_INFO, "migration.promoted", "migration_id", d->m.id, "server_id", d->m.server_id, NULL);
            } else {
                log_at(LOG_WARN, "scheduler.promote_failed", "migration_id", d->m.id, "error", rc->err, NULL);
            }
        } else {
            if (d->m.blocked_reason == NULL || strcmp(d->m.blocked_reason, v.reason) != 0)
                log_at(LOG_INFO, "migration.blocked", "migration_id", d->m.id, "server_id", d->m.server_id, "reason",
                       v.reason, NULL);
            if (store_block_seen(rc, d->m.id, v.reason, v.retry_at, d->score) != 0)
                log_at(LOG_WARN, "scheduler.block_failed", "migration_id", d->m.id, "error", rc->err, NULL);
        }
    }
    int64_t next = idle_ms;
    if (s.n_due == DUE_PER_TICK) next = 0;
    else if (s.next_at > 0 && s.next_at - s.now < next) next = s.next_at - s.now;
    store_sched_free(&s);
    return next < 0 ? 0 : next;
}

/* Makes the window's zone the process's local time: TZ is set here, before any thread
 * starts, and never again, so localtime_r in the ticks reads it without a race. A zone
 * the tz database lacks would silently be UTC, so it is refused. Returns 0 or
 * MIG_EINVALID with `err` set. */
static int window_zone_set(const rules_window_t *w, char *err, size_t errlen) {
    if (strcmp(w->zone, "local time") != 0) {
        const char *dir = getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo";
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, w->zone);
        if (access(path, R_OK) != 0) {
            snprintf(err, errlen, "MIG_WINDOW: zone %s not found in %s", w->zone, dir);
            return MIG_EINVALID;
        }
        setenv("TZ", w->zone, 1);
    }
    tzset();
    return 0;
}

/* Moves every approved migration to scheduled. */
static void schedule_approved(rconn_t *rc) {
    store_query_t q = {"approved", "", "", 500, 0};
    store_page_t page;
    if (store_list_migrations(rc, &q, &page) != 0) return;
    for (size_t i = 0; i < page.n; i++)
        if (store_schedule_migration(rc, page.items[i].id, 0, NULL) == 0)
            log_at(LOG_INFO, "migration.scheduled", "migration_id", page.items[i].id, "server_id",
                   page.items[i].server_id, NULL);
    store_page_free(&page);
}

static void recover_expired(rconn_t *rc) {
    char **ids;
    size_t n;
    if (store_recover(rc, RECOVER_PER_TICK, &ids, &n) != 0) return;
    for (size_t i = 0; i < n; i++) log_at(LOG_WARN, "migration.lease_expired", "migration_id", ids[i], NULL);
    free(ids);
}

int main(int argc, char **argv) {
    config_common_t common;
    const char *idle, *maxp, *maxn, *retention, *tick, *id_opt, *leader_ttl, *recheck, *window;
    config_opt_t opts[CONFIG_COMMON_COUNT + 9];
    config_common(&common, opts);
    config_opt_t *o = opts + CONFIG_COMMON_COUNT;
    o[0] = (config_opt_t){"MIG_IDLE_S", "300", "seconds without players before a server may move", &idle};
    o[1] = (config_opt_t){"MIG_MAX_PARALLEL", "10", "migrations in flight in the fleet", &maxp};
    o[2] = (config_opt_t){"MIG_MAX_PARALLEL_PER_NODE", "2", "migrations in flight touching one node", &maxn};
    o[3] = (config_opt_t){"MIG_RETENTION_DAYS", "90", "ended migrations older than this are deleted", &retention};
    o[4] = (config_opt_t){"MIG_TICK_MS", "1000", "longest sleep between looks, events wake it sooner", &tick};
    o[5] = (config_opt_t){"MIG_SCHEDULER_ID", NULL, "this instance's name (default host-pid)", &id_opt};
    o[6] = (config_opt_t){"MIG_LEADER_TTL_MS", "5000", "leader lease; a stand-by takes over after it", &leader_ttl};
    o[7] = (config_opt_t){"MIG_RECHECK_MS", "5000", "when a rule with no known end (scaling) is looked at again", &recheck};
    o[8] = (config_opt_t){"MIG_WINDOW", NULL,
                          "maintenance window of level-2 system moves, \"02:00-06:00 Europe/Berlin\" (default any time)",
                          &window};
    char err[512];
    int rv = config_load(opts, sizeof opts / sizeof opts[0], argc, argv, PROGRAM,
                         "promotes scheduled migrations when the safety rules hold, recovers lost ones", err,
                         sizeof err);
    if (rv == 1) return 0;
    long long v[7];
    if (rv == 0) rv = config_log(&common, PROGRAM, err, sizeof err);
    if (rv == 0) rv = config_int("MIG_IDLE_S", idle, 0, 86400, &v[0], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_MAX_PARALLEL", maxp, 1, 100000, &v[1], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_MAX_PARALLEL_PER_NODE", maxn, 1, 100000, &v[2], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_RETENTION_DAYS", retention, 1, 36500, &v[3], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_TICK_MS", tick, 10, 600000, &v[4], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_LEADER_TTL_MS", leader_ttl, 300, 600000, &v[5], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_RECHECK_MS", recheck, 10, 3600000, &v[6], err, sizeof err);
    rules_window_t win;
    if (rv == 0 && window && *window && rules_window_parse(window, &win, err, sizeof err) != 0) rv = MIG_EINVALID;
    if (rv == 0 && window && *window) rv = window_zone_set(&win, err, sizeof err);
    rconn_t *rc = NULL;
    if (rv == 0) rv = rconn_opts_from_config(&redis_opts, &common, 5000, err, sizeof err);
    if (rv == 0 && (rc = rconn_new(&redis_opts, err, sizeof err)) == NULL) rv = MIG_EINVALID;
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return 2;
    }
    if (rconn_check_library(&redis_opts, err, sizeof err) != 0) {
        log_at(LOG_ERROR, "scheduler.library_refused", "error", err, NULL);
        rconn_free(rc);
        return 1;
    }
    char id[128];
    if (id_opt == NULL) {
        char host[64] = "scheduler";
        gethostname(host, sizeof host - 1);
        snprintf(id, sizeof id, "%s-%d", host, (int)getpid());
        id_opt = id;
    }
    rules_limits_t lim = {.idle_ms = v[0] * 1000, .max_parallel = (int)v[1], .max_per_node = (int)v[2],
                          .recheck_ms = v[6], .window = window && *window ? &win : NULL};
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_t sub;
    pthread_create(&sub, NULL, subscriber_main, NULL);
    char where[300];
    log_at(LOG_INFO, "scheduler.started", "scheduler_id", id_opt, "redis", rconn_where(&redis_opts, where, sizeof where),
           "window", window && *window ? window : "any time", NULL);

    int leading = 0;
    int64_t last_trim = 0, renew_at = 0;
    while (!stopping) {
        int64_t now = timefmt_mono_ms();
        int lead = leading;
        if (now >= renew_at || !leading) {
            if (store_leader_acquire(rc, id_opt, v[5], &lead) != 0) lead = 0;
            renew_at = now + v[5] / 3;
            if (lead != leading)
                log_at(LOG_INFO, lead ? "scheduler.leading" : "scheduler.standing_by", "scheduler_id", id_opt, NULL);
            leading = lead;
        }
        int64_t sleep = v[5] / 3;
        if (leading) {
            schedule_approved(rc);
            recover_expired(rc);
            touch_changed(rc);
            sleep = promote_due(rc, &lim, v[4]);
            if (now - last_trim >= TRIM_EVERY_MS) {
                long long deleted = 0;
                int64_t before = timefmt_now_ms() - v[3] * 86400000LL;
                if (store_trim(rc, before, TRIM_PER_TICK, &deleted) == 0 && deleted > 0) {
                    char n[24];
                    snprintf(n, sizeof n, "%lld", deleted);
                    log_at(LOG_INFO, "scheduler.trimmed", "deleted", n, NULL);
                }
                last_trim = now;
            }
            if (sleep > renew_at - timefmt_mono_ms()) sleep = renew_at - timefmt_mono_ms();
        }
        if (sleep > 0) wait_for(sleep);
    }
    if (leading) store_leader_release(rc, id_opt);
    pthread_join(sub, NULL);
    rconn_free(rc);
    log_at(LOG_INFO, "scheduler.stopped", "scheduler_id", id_opt, NULL);
    return 0;
}
