/* main.c - bin/migrate-worker: claims migrations from the ready queue, MIG_CONCURRENCY at
 * a time, runs their phases under a lease renewed by a thread of its own. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/store.h"
#include "core/timefmt.h"
#include "worker/job.h"
#include "worker/lease.h"
#include "worker/plan.h"

#define PROGRAM "migrate-worker"
#define SLOTS_MAX 256
#define WAIT_S "1" /* seconds a slot blocks on the ready queue before it looks at SIGTERM */
#define CLEANUP_POLL_MS 1000 /* how often the janitor asks for a clean-up due: they are rare */

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

/* A slot runs one migration at a time; the heartbeat thread renews its lease. */
typedef struct {
    pthread_t thread;
    int index;
    lease_t lease;                /* the migration held, if any; the job and the heartbeat share it */
} slot_t;

static slot_t slots[SLOTS_MAX];
static int nslots;
static rconn_opts_t redis_opts;
static driver_opts_t driver_opts;
static job_cfg_t cfg;

/* Blocks up to WAIT_S on the ready queue without taking anything: BLMOVE of the list
 * onto itself, tail to tail, is a blocking peek. Returns 1 when an entry is there. */
static int wait_ready(rconn_t *rc) {
    char key[RCONN_PREFIX_MAX + 16];
    rconn_key(rc, RCONN_KEY_READY, key, sizeof key);
    const char *av[] = {"BLMOVE", key, key, "RIGHT", "RIGHT", WAIT_S};
    int code;
    redisReply *r = rconn_command(rc, 6, av, NULL, &code);
    int got = r && r->type == REDIS_REPLY_STRING;
    if (r) freeReplyObject(r);
    if (r == NULL) timefmt_sleep_ms(500); /* redis away: do not spin */
    return got;
}

static void *slot_main(void *arg) {
    slot_t *s = arg;
    char err[256];
    rconn_t *rc = rconn_new(&redis_opts, err, sizeof err);
    driver_t *drv = driver_new(&driver_opts, err, sizeof err);
    if (rc == NULL || drv == NULL) {
        log_at(LOG_ERROR, "worker.slot_failed", "error", err, NULL);
        rconn_free(rc);
        driver_free(drv);
        stopping = 1;
        return NULL;
    }
    driver_bind_lease(drv, &s->lease);
    migration_t m;
    migration_init(&m);
    while (!stopping) {
        if (!wait_ready(rc)) continue;
        if (stopping) break;
        /* the lease runs from when Redis takes the claim, which is after it was sent */
        int64_t sent = timefmt_mono_ms();
        int rv = store_claim(rc, cfg.worker_id, cfg.lease_ms, &m);
        if (rv == MIG_EEMPTY) continue;
        if (rv != 0) {
            log_at(LOG_WARN, "worker.claim_failed", "error", rc->err, NULL);
            timefmt_sleep_ms(500);
            continue;
        }
        lease_take(&s->lease, m.id, m.lease_token, sent, cfg.lease_ms);
        job_run(rc, drv, &cfg, &m, &s->lease, &stopping);
        lease_drop(&s->lease);
        migration_clear(&m);
    }
    migration_clear(&m);
    driver_free(drv);
    rconn_free(rc);
    return NULL;
}

/* Renews every held lease a third of the way through it, on a connection of its own, so
 * a long step never loses its lease; each success moves the slot's deadline on from when
 * the renewal was sent. A lease found taken marks its slot lost. A renewal that fails
 * (Redis away) moves nothing: the slot's deadline comes, and its job stops by itself. */
static void *heartbeat_main(void *arg) {
    (void)arg;
    char err[256];
    rconn_t *rc = rconn_new(&redis_opts, err, sizeof err);
    if (rc == NULL) {
        log_at(LOG_ERROR, "worker.heartbeat_failed", "error", err, NULL);
        return NULL;
    }
    int64_t every = cfg.lease_ms / 3;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < nslots; i++) {
            slot_t *s = &slots[i];
            char id[MIG_ID_MAX + 1];
            uint64_t token;
            if (!lease_current(&s->lease, id, &token)) continue;
            busy++;
            int64_t sent = timefmt_mono_ms();
            int rv = store_heartbeat(rc, id, token, cfg.lease_ms, NULL);
            if (rv == 0) {
                lease_renew(&s->lease, token, sent, cfg.lease_ms);
            } else if (rv == MIG_ESTALE || rv == MIG_ENOT_FOUND) {
                lease_lose(&s->lease, token); /* a no-op when the slot has moved on meanwhile */
                log_at(LOG_WARN, "worker.lease_taken", "migration_id", id, NULL);
            } else if (rv != 0) {
                log_at(LOG_WARN, "worker.heartbeat_failed", "migration_id", id, "error", rc->err, NULL);
            }
        }
        if (stopping && busy == 0) break;
        for (int64_t slept = 0; slept < every && !(stopping && busy == 0); slept += 50) timefmt_sleep_ms(50);
    }
    rconn_free(rc);
    return NULL;
}

/* Sleeps up to `ms`, waking early on SIGTERM. */
static void nap(int64_t ms) {
    for (int64_t slept = 0; slept < ms && !stopping; slept += 50) timefmt_sleep_ms(ms - slept < 50 ? ms - slept : 50);
}

/* Removes what a completed migration left (lua-scripts/cleanup.lua): its old container,
 * gone already or stopped and deleted now, and its waiting room at the proxy. Both done
 * ends the item; anything else is tried again after a doubling backoff. Every call
 * carries the item's own fencing token. */
static void cleanup_one(rconn_t *rc, driver_t *drv, lease_t *lease, const store_cleanup_t *c) {
    node_t n;
    inventory_node_init(&n);
    int rv = c->node_id[0] ? store_get_node(rc, c->node_id, &n) : 0;
    char err[DRIVER_ERR_MAX] = "";
    if (c->node_id[0] == '\0') {
        /* only a room is left */
    } else if (rv == MIG_ENO_NODE) {
        log_at(LOG_WARN, "worker.cleanup_node_gone", "migration_id", c->migration_id, "node_id", c->node_id, NULL);
    } else if (rv != 0) {
        snprintf(err, sizeof err, "reading node %s: %.400s", c->node_id, rc->err);
    } else {
        driver_container_t got;
        rv = driver_container_get(drv, &n, c->migration_id, c->server_id, &got);
        if (rv == 0 && strcmp(got.state, "absent") != 0 && strcmp(got.state, "stopped") != 0)
            rv = driver_container_stop(drv, &n, c->migration_id, c->server_id);
        if (rv == 0 && strcmp(got.state, "absent") != 0)
            rv = driver_container_delete(drv, &n, c->migration_id, c->server_id);
        if (rv != 0) snprintf(err, sizeof err, "%s", driver_error(drv));
    }
    inventory_node_clear(&n);
    if (err[0] == '\0' && c->room[0] && driver_room_delete(drv, c->migration_id, c->room) != 0)
        snprintf(err, sizeof err, "%s", driver_error(drv));
    if (lease_left_ms(lease, timefmt_mono_ms(), NULL) <= 0) {
        log_at(LOG_WARN, "worker.cleanup_lost", "migration_id", c->migration_id, NULL);
        return; /* the item is due again when the claim expires; another try repeats it */
    }
    if (err[0] == '\0') {
        rv = store_cleanup_done(rc, c->migration_id, c->token);
        log_at(LOG_INFO, "worker.cleanup_done", "migration_id", c->migration_id, "server_id", c->server_id,
               "node_id", c->node_id, "ok", rv == 0 ? "true" : "false", NULL);
        return;
    }
    int64_t backoff = plan_backoff_ms((int)c->attempts + 1, cfg.retry_base_ms, cfg.retry_max_ms,
                                      (double)rand() / ((double)RAND_MAX + 1.0));
    store_cleanup_retry(rc, c->migration_id, c->token, err, backoff);
    log_at(LOG_WARN, "worker.cleanup_failed", "migration_id", c->migration_id, "server_id", c->server_id, "node_id",
           c->node_id, "error", err, NULL);
}

/* The janitor: claims the clean-ups due, one at a time, each under a lease of its own
 * and through a driver fenced by it. Every worker process runs one; a claim is atomic,
 * so they share the work, and one that dies leaves its item due again at its lease's end. */
static void *janitor_main(void *arg) {
    (void)arg;
    char err[256];
    rconn_t *rc = rconn_new(&redis_opts, err, sizeof err);
    driver_t *drv = driver_new(&driver_opts, err, sizeof err);
    lease_t lease;
    lease_init(&lease);
    if (rc == NULL || drv == NULL) {
        log_at(LOG_ERROR, "worker.janitor_failed", "error", err, NULL);
    } else {
        driver_bind_lease(drv, &lease);
        while (!stopping) {
            store_cleanup_t c;
            int64_t sent = timefmt_mono_ms();
            int rv = store_cleanup_claim(rc, cfg.worker_id, cfg.lease_ms, &c);
            if (rv != 0) {
                if (rv != MIG_EEMPTY) log_at(LOG_WARN, "worker.cleanup_claim_failed", "error", rc->err, NULL);
                nap(CLEANUP_POLL_MS);
                continue;
            }
            lease_take(&lease, c.migration_id, c.token, sent, cfg.lease_ms);
            cleanup_one(rc, drv, &lease, &c);
            lease_drop(&lease);
        }
    }
    lease_destroy(&lease);
    driver_free(drv);
    rconn_free(rc);
    return NULL;
}

int main(int argc, char **argv) {
    config_common_t common;
    const char *conc, *lease, *node_url, *proxy_url, *timeout, *cooldown, *budget, *passes, *poll, *step_timeout,
        *backoff, *worker_id, *drv_token, *drv_ca, *drv_cert, *drv_key;
    config_opt_t opts[CONFIG_COMMON_COUNT + 16];
    config_common(&common, opts);
    config_opt_t *o = opts + CONFIG_COMMON_COUNT;
    o[0] = (config_opt_t){"MIG_CONCURRENCY", "2", "migrations run at once by this process", &conc};
    o[1] = (config_opt_t){"MIG_LEASE_MS", "15000", "lease of a claimed migration, renewed every third", &lease};
    o[2] = (config_opt_t){"MIG_DRIVER_NODE_URL", "http://{node_address}:7070", "node agent URL pattern", &node_url};
    o[3] = (config_opt_t){"MIG_DRIVER_PROXY_URL", "http://127.0.0.1:7071", "proxy bridge URL", &proxy_url};
    o[4] = (config_opt_t){"MIG_DRIVER_TIMEOUT_MS", "10000", "timeout of one driver call", &timeout};
    o[5] = (config_opt_t){"MIG_COOLDOWN_S", "1800", "rest of a server after a migration ends", &cooldown};
    o[6] = (config_opt_t){"MIG_DOWNTIME_BUDGET_MS", "5000", "what the final sync may take", &budget};
    o[7] = (config_opt_t){"MIG_SYNC_MAX_PASSES", "8", "delta sync passes before going final anyway", &passes};
    o[8] = (config_opt_t){"MIG_POLL_MS", "250", "polling interval of long steps", &poll};
    o[9] = (config_opt_t){"MIG_STEP_TIMEOUT_MS", "600000", "longest container start or sync pass", &step_timeout};
    o[10] = (config_opt_t){"MIG_RETRY_BACKOFF_MS", "30000", "first retry delay, doubling", &backoff};
    o[11] = (config_opt_t){"MIG_WORKER_ID", NULL, "this worker's name (default host-pid)", &worker_id};
    /* the agents' side of docs/DRIVERS.md "Authentication": a secret, so the environment */
    o[12] = (config_opt_t){"MIG_DRIVER_TOKEN", NULL,
                           "token sent to the agents and the proxy as Authorization: Bearer (set it in the environment)",
                           &drv_token};
    o[13] = (config_opt_t){"MIG_DRIVER_CA_FILE", NULL, "CA bundle that https agents are verified against",
                           &drv_ca};
    o[14] = (config_opt_t){"MIG_DRIVER_CERT_FILE", NULL, "client certificate for agents that require one",
                           &drv_cert};
    o[15] = (config_opt_t){"MIG_DRIVER_KEY_FILE", NULL, "key of MIG_DRIVER_CERT_FILE", &drv_key};
    char err[512];
    int rv = config_load(opts, sizeof opts / sizeof opts[0], argc, argv, PROGRAM,
                         "claims migrations and runs their phases against the node agents and the proxy", err,
                         sizeof err);
    if (rv == 1) return 0;
    long long v[10];
    if (rv == 0) rv = config_log(&common, PROGRAM, err, sizeof err);
    if (rv == 0) rv = config_int("MIG_CONCURRENCY", conc, 1, SLOTS_MAX, &v[0], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_LEASE_MS", lease, 300, 3600000, &v[1], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_DRIVER_TIMEOUT_MS", timeout, 10, 600000, &v[2], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_COOLDOWN_S", cooldown, 0, 86400 * 7, &v[3], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_DOWNTIME_BUDGET_MS", budget, 0, 3600000, &v[4], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_SYNC_MAX_PASSES", passes, 1, 100, &v[5], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_POLL_MS", poll, 1, 60000, &v[6], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_STEP_TIMEOUT_MS", step_timeout, 100, 86400000, &v[7], err, sizeof err);
    if (rv == 0) rv = config_int("MIG_RETRY_BACKOFF_MS", backoff, 0, 86400000, &v[8], err, sizeof err);
    driver_opts = (driver_opts_t){node_url, proxy_url, (int)v[2], 4, 100, drv_token, drv_ca, drv_cert, drv_key};
    driver_t *probe = rv == 0 ? driver_new(&driver_opts, err, sizeof err) : NULL;
    if (rv == 0 && probe == NULL) rv = MIG_EINVALID;
    driver_free(probe);
    if (rv != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return 2;
    }
    char id[128];
    if (worker_id == NULL) {
        char host[64] = "worker";
        gethostname(host, sizeof host - 1);
        snprintf(id, sizeof id, "%s-%d", host, (int)getpid());
        worker_id = id;
    }
    if (rconn_opts_from_config(&redis_opts, &common, 5000, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return 2;
    }
    if (rconn_check_library(&redis_opts, err, sizeof err) != 0) {
        log_at(LOG_ERROR, "worker.library_refused", "error", err, NULL);
        return 1;
    }
    cfg = (job_cfg_t){worker_id, v[1], v[3] * 1000, v[4], (int)v[5], v[6], v[7], v[8], 3600 * 1000};
    srand((unsigned)(timefmt_now_ms() ^ getpid()));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    nslots = (int)v[0];
    char where[300];
    log_at(LOG_INFO, "worker.started", "worker_id", worker_id, "concurrency", conc, "redis", rconn_where(&redis_opts, where, sizeof where), NULL);
    pthread_t hb;
    for (int i = 0; i < nslots; i++) {
        slots[i].index = i;
        lease_init(&slots[i].lease);
        pthread_create(&slots[i].thread, NULL, slot_main, &slots[i]);
    }
    pthread_create(&hb, NULL, heartbeat_main, NULL);
    pthread_t janitor;
    pthread_create(&janitor, NULL, janitor_main, NULL);
    for (int i = 0; i < nslots; i++) pthread_join(slots[i].thread, NULL);
    stopping = 1;
    pthread_join(hb, NULL);
    pthread_join(janitor, NULL);
    for (int i = 0; i < nslots; i++) lease_destroy(&slots[i].lease);
    curl_global_cleanup();
    log_at(LOG_INFO, "worker.stopped", "worker_id", worker_id, NULL);
    return 0;
}
