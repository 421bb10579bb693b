/* sync_routes.c - the world sync over HTTP: the target's POST /v1/sync and
 * GET /v1/sync/{sync_id} of docs/DRIVERS.md (a thread per pass pulls through agent/peer.c
 * into the sync engine, agent/sync.c), and the source's three routes that answer it,
 * /v1/sync-source/{server_id}/manifest, /blocks and /read (agent/sync_source.c). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

#include "agent/agent.h"
#include "agent/manifest.h"
#include "agent/peer.h"
#include "agent/runtime.h"
#include "agent/sync_source.h"
#include "core/err.h"
#include "core/jsonbody.h"
#include "core/log.h"
#include "core/timefmt.h"

/* Longest wait for a deferred server to answer on its game port once its world is in
 * place: a large modded server boots in about a minute. */
#define DEFERRED_START_MS 120000
#define DIRTY_CACHE_MS 250          /* a dirty_bytes answer is reused this long: polls are frequent */
#define SOURCE_BODY_MAX (16u << 20) /* bytes of a /blocks or /read body: 100,000 paths */
#define MB ((uint64_t)1 << 20)

/* ------------------------------------------------------------------------ the pass thread */

static void *pass_thread(void *arg);

/* Opens the engine of `p` and starts its thread. a->lock held. 0 or MIG_E*, `err`. */
static int pass_launch(agent_t *a, agent_pass_t *p, char *err, size_t errlen) {
    char dir[600], staging[600], state[600];
    state_server_dir(a, p->server_id, dir, sizeof dir);
    state_staging_dir(a, p->server_id, staging, sizeof staging);
    state_sync_dir(a, p->server_id, state, sizeof state);
    if (p->engine == NULL) {
        sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = p->pass, .final = p->final,
                         .checkpoint_bytes = (uint64_t)a->checkpoint_bytes};
        int rv = sync_pass_open(&o, &p->engine);
        if (rv != 0) {
            snprintf(err, errlen, "cannot open pass %u of server %s: %s", p->pass, p->server_id, mig_strerror(rv));
            return rv;
        }
    }
    p->status = PASS_RUNNING;
    p->error[0] = '\0';
    p->cancel = 0;
    if (pthread_create(&p->thread, NULL, pass_thread, p) != 0) {
        snprintf(err, errlen, "cannot start a thread");
        return MIG_ENOMEM;
    }
    pthread_detach(p->thread);
    p->thread_live = true;
    return 0;
}

/* The agent a pass belongs to: passes live in a->passes, so the thread is given the
 * pass and finds its agent through this one global (one agent per process). */
static agent_t *the_agent;

/* After a final pass put the world in place: the server's container no longer awaits
 * it, and a start it deferred (agent.h) happens now; the pass is done once the server
 * runs, so the worker that registers its address next sends players to a server that
 * answers. a->lock held, released while waiting. 0, or MIG_EIO / MIG_ETIMEOUT with the
 * reason in the pass's error. */
static int start_deferred(agent_t *a, agent_pass_t *p) {
    agent_server_t *s = state_find_server(a, p->server_id);
    if (s == NULL) return 0;
    s->awaiting_world = false;
    if (!s->deferred) {
        state_save(a);
        return 0;
    }
    char err[256];
    if (routes_start_process(a, s, err, sizeof err) != 0) {
        snprintf(p->error, sizeof p->error, "the world is in place, but its server did not start: %.180s", err);
        return MIG_EIO;
    }
    for (int64_t end = timefmt_mono_ms() + DEFERRED_START_MS; s->state == SRV_STARTING;) {
        if (timefmt_mono_ms() > end || p->cancel) break;
        pthread_mutex_unlock(&a->lock);
        timefmt_sleep_ms(RUNTIME_MONITOR_MS);
        pthread_mutex_lock(&a->lock);
        if ((s = state_find_server(a, p->server_id)) == NULL) return 0; /* deleted meanwhile */
    }
    if (s->state != SRV_RUNNING) {
        snprintf(p->error, sizeof p->error, "the world is in place, but its server is %s, not running",
                 state_name(s->state));
        return MIG_ETIMEOUT;
    }
    return 0;
}

static void *pass_thread(void *arg) {
    agent_pass_t *p = arg;
    agent_t *a = the_agent;
    int64_t t0 = timefmt_mono_ms();
    peer_t *peer = peer_new(a, p->source_address, p->server_id, &p->cancel);
    /* a final pass asks the source's strong manifest on a connection of its own, so that the
     * source hashes while this agent copies and hashes (agent/sync.h) */
    peer_t *strong = p->final && peer ? peer_new(a, p->source_address, p->server_id, &p->cancel) : NULL;
    int rv = MIG_EINVALID;
    if (peer) {
        sync_transport_t t = peer_transport(peer), ts;
        if (strong) ts = peer_transport(strong);
        rv = sync_pass_run_strong(p->engine, &t, strong ? &ts : NULL);
    }
    peer_free(strong);
    pthread_mutex_lock(&a->lock);
    if (rv == 0 && p->final) rv = start_deferred(a, p);
    sync_pass_progress(p->engine, &p->last);
    p->dirty_at_ms = 0; /* the first answer saying done computes dirty_bytes after the copy */
    if (rv == 0) {
        p->status = PASS_DONE;
    } else {
        p->status = PASS_ERROR;
        const char *why = peer == NULL ? "source_address: not host[:port]"
                          : p->last.error[0] ? p->last.error : peer_error(peer);
        if (p->error[0] == '\0' || p->cancel)
            snprintf(p->error, sizeof p->error, "%s", p->cancel ? "the container was deleted" : why);
    }
    state_save(a);
    char ms[24], bytes[24];
    snprintf(ms, sizeof ms, "%lld", (long long)(timefmt_mono_ms() - t0));
    snprintf(bytes, sizeof bytes, "%" PRIu64, p->last.bytes_done);
    /* where a pass's time went: the final pass's is the players' wait (agent/sync.h) */
    char hashed[24], reused[24], steps[96];
    snprintf(hashed, sizeof hashed, "%" PRIu64, p->last.hashed_bytes);
    snprintf(reused, sizeof reused, "%" PRIu64, p->last.hash_reused_files);
    snprintf(steps, sizeof steps, "plan %u, copy %u, hash %u, flush %u", p->last.plan_ms, p->last.copy_ms,
             p->last.verify_ms, p->last.flush_ms);
    log_at(rv == 0 ? LOG_INFO : LOG_WARN, rv == 0 ? "agent.pass_done" : "agent.pass_failed", "sync_id", p->sync_id,
           "server_id", p->server_id, "bytes", bytes, "ms", ms, "hashed_bytes", hashed, "hash_reused_files",
           reused, "steps_ms", steps, "error", rv == 0 ? NULL : p->error, NULL);
    p->thread_live = false; /* the last touch of `p`: a waiter may free its engine now */
    pthread_mutex_unlock(&a->lock);
    peer_free(peer);
    return NULL;
}

/* Waits until a pass's (detached) thread has let go of it. a->lock held; released
 * while waiting. */
static void pass_wait(agent_t *a, agent_pass_t *p) {
    while (p->thread_live) {
        pthread_mutex_unlock(&a->lock);
        timefmt_sleep_ms(10);
        pthread_mutex_lock(&a->lock);
    }
}

/* Closes the engine of a pass that is no longer its server's latest. a->lock held. */
static void pass_release(agent_pass_t *p) {
    if (p->engine == NULL || p->busy > 0 || p->thread_live) return;
    sync_pass_progress(p->engine, &p->last);
    sync_pass_free(p->engine);
    p->engine = NULL;
}

void sync_routes_cancel_server(agent_t *a, const char *id) {
    for (int i = 0; i < AGENT_PASSES_MAX; i++) {
        agent_pass_t *p = &a->passes[i];
        if (!p->in_use || strcmp(p->server_id, id) != 0) continue;
        p->cancel = 1;
        pass_wait(a, p);
        while (p->busy > 0) { /* a dirty_bytes query in flight ends within its call's timeout */
            pthread_mutex_unlock(&a->lock);
            timefmt_sleep_ms(10);
            pthread_mutex_lock(&a->lock);
        }
        if (p->engine) sync_pass_free(p->engine);
        p->engine = NULL;
        p->in_use = false;
    }
}

void sync_routes_resume(agent_t *a) {
    the_agent = a;
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < AGENT_PASSES_MAX; i++) {
        agent_pass_t *p = &a->passes[i];
        if (!p->in_use || p->frozen) continue;
        char err[256];
        if (p->status == PASS_RUNNING) {
            log_at(LOG_INFO, "agent.pass_resumed", "sync_id", p->sync_id, NULL);
            if (pass_launch(a, p, err, sizeof err) != 0) {
                p->status = PASS_ERROR;
                snprintf(p->error, sizeof p->error, "%s", err);
            }
        }
    }
    state_save(a);
    pthread_mutex_unlock(&a->lock);
}

void sync_routes_shutdown(agent_t *a) {
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < AGENT_PASSES_MAX; i++) {
        agent_pass_t *p = &a->passes[i];
        if (!p->in_use) continue;
        if (p->thread_live) {
            /* a pass stopped by a shutdown resumes at the next start: keep it running */
            p->cancel = 1;
            pass_wait(a, p);
            p->status = PASS_RUNNING;
            p->error[0] = '\0';
        }
        if (p->engine) sync_pass_free(p->engine);
        p->engine = NULL;
    }
    state_save(a);
    pthread_mutex_unlock(&a->lock);
}

/* ------------------------------------------------------------------------ target */

/* The world's bytes on the source (the sum of its manifest's file sizes): 0, or the
 * refusal answered (404 source_not_found, 503 source_unreachable). */
static int world_bytes_or_reply(agent_t *a, agent_req_t *r, const char *addr, const char *server_id,
                                uint64_t *out) {
    peer_t *peer = peer_new(a, addr, server_id, NULL);
    if (peer == NULL) {
        http_error(r, 400, "bad_request", "source_address: host[:port]");
        return MIG_EINVALID;
    }
    sync_transport_t t = peer_transport(peer);
    unsigned char *buf = NULL;
    size_t len = 0;
    manifest_t *m = NULL;
    char why[256];
    int rv = t.manifest(t.ctx, 0, &buf, &len);
    if (rv == MIG_ENOT_FOUND) http_error(r, 404, "source_not_found", "the source holds no world of server %s", server_id);
    else if (rv != 0) http_error(r, 503, "source_unreachable", "%s", peer_error(peer));
    else if ((rv = manifest_decode(buf, len, 0, &m, why, sizeof why)) != 0)
        http_error(r, 502, "bad_manifest", "the source's manifest is refused: %s", why);
    *out = 0;
    for (size_t i = 0; m && i < m->n; i++) *out += m->e[i].size;
    manifest_free(m);
    free(buf);
    peer_free(peer);
    return rv;
}

static cJSON *sync_id_body(const char *id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sync_id", id);
    return o;
}

/* POST /v1/sync */
static void sync_begin(agent_t *a, agent_req_t *r) {
    const char *sid = http_str(r, "server_id"), *mid = http_migration_of(r), *addr = http_str(r, "source_address");
    const cJSON *pass = cJSON_GetObjectItemCaseSensitive(r->body, "pass");
    const cJSON *final = cJSON_GetObjectItemCaseSensitive(r->body, "final");
    if (!state_id_ok(sid) || !state_id_ok(mid) || addr == NULL) {
        http_error(r, 400, "bad_request", "server_id, migration_id and source_address: required");
        return;
    }
    if (pass && (!cJSON_IsNumber(pass) || pass->valuedouble < 1 || pass->valuedouble > 1e9 ||
                 pass->valuedouble != (double)pass->valueint)) {
        http_error(r, 400, "bad_request", "pass: an integer from 1");
        return;
    }
    if (final && !cJSON_IsBool(final)) {
        http_error(r, 400, "bad_request", "final: true or false");
        return;
    }
    uint32_t n = pass ? (uint32_t)pass->valueint : 1;
    char sync_id[AGENT_ID_MAX + 16];
    snprintf(sync_id, sizeof sync_id, "%s.%u", mid, n);
    /* the world's size from the source before the lock: a manifest is no change, and a
     * slow source must not hold every other call */
    uint64_t world;
    if (world_bytes_or_reply(a, r, addr, sid, &world) != 0) return;
    pthread_mutex_lock(&a->lock);
    if (!http_fence_or_reply(a, r)) goto out;
    agent_server_t *s = state_find_server(a, sid);
    if (s == NULL) {
        http_error(r, 409, "no_container", "no container of server %s on this node", sid);
        goto out;
    }
    agent_pass_t *p = state_find_pass(a, sync_id);
    if (p && p->status != PASS_ERROR) {
        http_reply(r, 202, sync_id_body(sync_id));
        goto out;
    }
    if (s->busy) { /* being deleted, say: a pass into it would write into what goes */
        http_error(r, 409, "busy", "server %s is %s", sid, s->busy);
        goto out;
    }
    if (world > (uint64_t)s->disk_mb * MB) {
        http_error(r, 507, "disk_full", "the world is %" PRIu64 " MB, the container's disk %lld MB", world / MB,
                   s->disk_mb);
        goto out;
    }
    int running = 0;
    agent_pass_t *latest = NULL;
    for (int i = 0; i < AGENT_PASSES_MAX; i++) {
        agent_pass_t *q = &a->passes[i];
        if (!q->in_use || q == p) continue;
        if (q->status == PASS_RUNNING) running++;
        if (strcmp(q->server_id, sid) != 0) continue;
        if (q->status == PASS_RUNNING) {
            http_error(r, 409, "pass_running", "pass %s is still copying", q->sync_id);
            goto out;
        }
        if (!q->frozen && (latest == NULL || q->pass > latest->pass)) latest = q;
    }
    if (running >= a->max_passes) {
        http_error(r, 503, "busy", "%d passes are copying into this node", running);
        goto out;
    }
    char err[256];
    if (p == NULL) {
        if (latest && latest->pass >= n) {
            http_error(r, 400, "bad_request", "pass %u is not above the latest pass %u", n, latest->pass);
            goto out;
        }
        if ((p = state_new_pass(a)) == NULL) {
            http_error(r, 503, "busy", "the agent keeps %d passes", AGENT_PASSES_MAX);
            goto out;
        }
        snprintf(p->sync_id, sizeof p->sync_id, "%s", sync_id);
        snprintf(p->server_id, sizeof p->server_id, "%s", sid);
        snprintf(p->migration_id, sizeof p->migration_id, "%s", mid);
        snprintf(p->source_address, sizeof p->source_address, "%s", addr);
        p->pass = n;
        p->final = cJSON_IsTrue(final);
        if (latest) { /* its dirty_bytes is frozen at its last value */
            latest->frozen = true;
            pass_release(latest);
        }
    }
    if (pass_launch(a, p, err, sizeof err) != 0) {
        p->in_use = p->engine != NULL; /* a pass that never opened is forgotten */
        http_error(r, 400, "bad_request", "%s", err);
        goto out;
    }
    state_save(a);
    log_at(LOG_INFO, "agent.pass_started", "sync_id", sync_id, "server_id", sid, "source_address", addr, NULL);
    http_reply(r, 202, sync_id_body(sync_id));
out:
    pthread_mutex_unlock(&a->lock);
}

/* GET /v1/sync/{sync_id} */
static void sync_get(agent_t *a, agent_req_t *r) {
    pthread_mutex_lock(&a->lock);
    agent_pass_t *p = state_find_pass(a, r->params[0]);
    if (!http_fence_or_reply(a, r)) goto out;
    if (p == NULL) {
        http_error(r, 404, "not_found", "no sync %s", r->params[0]);
        goto out;
    }
    sync_progress_t pr = p->last;
    if (p->engine) sync_pass_progress(p->engine, &pr);
    int64_t now = timefmt_mono_ms();
    if (!p->frozen && p->engine && p->status != PASS_ERROR && now - p->dirty_at_ms > DIRTY_CACHE_MS) {
        /* asks the source: outside the lock, the engine kept open by `busy` */
        p->busy++;
        char addr[AGENT_ADDR_MAX], sid[AGENT_ID_MAX];
        snprintf(addr, sizeof addr, "%s", p->source_address);
        snprintf(sid, sizeof sid, "%s", p->server_id);
        pthread_mutex_unlock(&a->lock);
        uint64_t dirty = 0;
        peer_t *peer = peer_new(a, addr, sid, NULL);
        int rv = MIG_EINVALID;
        if (peer) {
            sync_transport_t t = peer_transport(peer);
            rv = sync_pass_dirty_bytes(p->engine, &t, &dirty);
        }
        peer_free(peer);
        pthread_mutex_lock(&a->lock);
        p->busy--;
        if (rv == 0 && !p->frozen) p->dirty_bytes = dirty, p->dirty_at_ms = now;
        if (p->frozen) pass_release(p);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "progress", p->status == PASS_DONE ? 100 : pr.progress >= 100 ? 99 : pr.progress);
    cJSON_AddNumberToObject(o, "bytes_total", (double)pr.bytes_total);
    cJSON_AddNumberToObject(o, "bytes_done", (double)pr.bytes_done);
    cJSON_AddBoolToObject(o, "done", p->status == PASS_DONE);
    if (p->status == PASS_ERROR) cJSON_AddStringToObject(o, "error", p->error);
    else cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "dirty_bytes", (double)p->dirty_bytes);
    cJSON_AddNumberToObject(o, "hashed_bytes", (double)pr.hashed_bytes);
    cJSON_AddNumberToObject(o, "hash_reused_files", (double)pr.hash_reused_files);
    http_reply(r, 200, o);
out:
    pthread_mutex_unlock(&a->lock);
}

/* ------------------------------------------------------------------------ source */

/* The server's directory opened for reading, or -1 after answering 404. */
static int source_dir_or_reply(agent_t *a, agent_req_t *r) {
    char dir[600];
    int fd = -1;
    if (state_id_ok(r->params[0])) {
        pthread_mutex_lock(&a->lock);
        bool known = state_find_server(a, r->params[0]) != NULL;
        pthread_mutex_unlock(&a->lock);
        state_server_dir(a, r->params[0], dir, sizeof dir);
        if (known) fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) http_error(r, 404, "source_not_found", "no world of server %s here", r->params[0]);
    return fd;
}

static void reply_bytes(agent_req_t *r, const unsigned char *buf, size_t len) {
    mg_printf(r->conn, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n", len);
    mg_write(r->conn, buf, len);
    r->answered = true;
}

/* GET /v1/sync-source/{server_id}/manifest */
static void source_manifest(agent_t *a, agent_req_t *r) {
    int fd = source_dir_or_reply(a, r);
    if (fd < 0) return;
    const struct mg_request_info *ri = mg_get_request_info(r->conn);
    int strong = ri->query_string && strstr(ri->query_string, "strong=1") != NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    int rv = sync_source_manifest(fd, strong, &buf, &len, why, sizeof why);
    close(fd);
    if (rv == 0) reply_bytes(r, buf, len);
    else http_error(r, rv == MIG_EREFUSED ? 409 : 500, rv == MIG_EREFUSED ? "unsafe_tree" : "io", "%s", why);
    free(buf);
}

/* Reads a source route's JSON body (up to SOURCE_BODY_MAX); NULL after answering. */
static cJSON *source_body_or_reply(agent_req_t *r) {
    const struct mg_request_info *ri = mg_get_request_info(r->conn);
    if (ri->content_length < 0 || ri->content_length > (long long)SOURCE_BODY_MAX) {
        http_error(r, 413, "payload_too_large", "a body of at most %u bytes with Content-Length", SOURCE_BODY_MAX);
        return NULL;
    }
    size_t n = (size_t)ri->content_length, got = 0;
    char *buf = malloc(n + 1);
    while (buf && got < n) {
        int k = mg_read(r->conn, buf + got, n - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    char why[128] = "the body did not arrive";
    cJSON *o = buf && got == n ? jsonbody_parse(buf, n, why, sizeof why) : NULL;
    free(buf);
    if (o == NULL) http_error(r, 400, "bad_request", "%s", why);
    return o;
}

/* POST /v1/sync-source/{server_id}/blocks */
static void source_blocks(agent_t *a, agent_req_t *r) {
    cJSON *body = source_body_or_reply(r);
    if (body == NULL) return;
    int fd = source_dir_or_reply(a, r);
    const cJSON *arr = cJSON_GetObjectItem(body, "paths");
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    const char **paths = calloc(n + 1, sizeof *paths);
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsString(v) || manifest_check_path(v->valuestring, strlen(v->valuestring), NULL, 0) != 0) break;
        paths[i++] = v->valuestring;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    if (fd < 0) goto out;
    if (paths == NULL || i != n) {
        http_error(r, 400, "bad_request", "paths: relative paths beneath the world");
        goto out;
    }
    /* quiesced: a final pass, whose strong manifest hashes these files at the same time */
    pthread_mutex_lock(&a->lock);
    const agent_server_t *sv = state_find_server(a, r->params[0]);
    bool fill = sv == NULL || !sv->quiesced;
    pthread_mutex_unlock(&a->lock);
    int rv = sync_source_blocks_fill(fd, paths, n, fill, &buf, &len, why, sizeof why);
    if (rv == 0) reply_bytes(r, buf, len);
    else http_error(r, rv == MIG_EREFUSED ? 409 : 500, rv == MIG_EREFUSED ? "unsafe_tree" : "io", "%s", why);
out:
    if (fd >= 0) close(fd);
    free(buf);
    free(paths);
    cJSON_Delete(body);
}

/* Streams a read's bytes; the headers go with the first piece, so a read that fails
 * before any byte still answers an error. */
typedef struct {
    agent_req_t *r;
    uint64_t total;
    bool started;
} stream_t;

static int stream_emit(void *ctx, const void *data, size_t len) {
    stream_t *s = ctx;
    if (!s->started) {
        mg_printf(s->r->conn,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %" PRIu64 "\r\n\r\n",
                  s->total);
        s->started = s->r->answered = true;
    }
    return mg_write(s->r->conn, data, len) == (int)len ? 0 : MIG_EIO;
}

/* POST /v1/sync-source/{server_id}/read */
static void source_read(agent_t *a, agent_req_t *r) {
    cJSON *body = source_body_or_reply(r);
    if (body == NULL) return;
    int fd = source_dir_or_reply(a, r);
    const cJSON *arr = cJSON_GetObjectItem(body, "ranges");
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(body, "path"));
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    sync_range_t *rg = calloc(n + 1, sizeof *rg);
    stream_t st = {.r = r};
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        unsigned long long off, len;
        char tail;
        if (rg == NULL || !cJSON_IsString(v) || sscanf(v->valuestring, "%llu+%llu%c", &off, &len, &tail) != 2 ||
            off % MANIFEST_BLOCK || len > MANIFEST_MAX_SIZE || off > MANIFEST_MAX_SIZE)
            break;
        rg[i++] = (sync_range_t){off, len};
        st.total += len;
    }
    if (fd < 0) goto out;
    if (path == NULL || manifest_check_path(path, strlen(path), NULL, 0) != 0 || i != n || n == 0) {
        http_error(r, 400, "bad_request", "path and ranges [\"off+len\", ...]: a file beneath the world");
        goto out;
    }
    int rv = sync_source_read(fd, path, rg, n, stream_emit, &st);
    if (rv != 0 && !st.started)
        http_error(r, rv == MIG_ENOT_FOUND ? 404 : 409, rv == MIG_ENOT_FOUND ? "not_found" : "unsafe_tree",
                   "cannot read %s: %s", path, mig_strerror(rv));
    /* a failure after the headers leaves the answer short: the target's libcurl sees it */
out:
    if (fd >= 0) close(fd);
    free(rg);
    cJSON_Delete(body);
}

bool sync_routes_handle(agent_t *a, agent_req_t *r) {
    static const struct {
        const char *method, *pattern;
        void (*fn)(agent_t *, agent_req_t *);
    } routes[] = {
        {"POST", "/v1/sync", sync_begin},
        {"GET", "/v1/sync/{sync_id}", sync_get},
        {"GET", "/v1/sync-source/{server_id}/manifest", source_manifest},
        {"POST", "/v1/sync-source/{server_id}/blocks", source_blocks},
        {"POST", "/v1/sync-source/{server_id}/read", source_read},
    };
    bool known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (http_route(r, routes[i].method, routes[i].pattern)) {
            routes[i].fn(a, r);
            return true;
        }
        if (path_match(routes[i].pattern, r->path, NULL, 0)) known = true;
    }
    if (known) http_error(r, 405, "method_not_allowed", "%s is not allowed on %s", r->method, r->path);
    return known;
}
