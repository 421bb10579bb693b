/* sync.c - the target's half of the world sync: plan against the record, fetch changed
 * blocks into staging, checkpoint, verify, switch (the design is in sync.h; the final
 * pass's verification and switch are in sync_final.c). */
#include "agent/sync.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/sync_private.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timefmt.h"

#define PASS_FILE "pass.json"
#define RECORD_FILE "record.mf"
/* Largest pass.json read back: a window of SYNC_WINDOW_FILES paths of PATH_MAX bytes. */
#define PASS_FILE_MAX ((size_t)SYNC_WINDOW_FILES * (PATH_MAX + 8) + 4096)
/* Largest record read back: 8 bytes per 4 KiB block of a 256 GiB world, and its paths. */
#define RECORD_FILE_MAX ((size_t)1 << 30)
/* Paths per blocks call: one round trip per 512 changed files keeps each answer (and the
 * source's hashing before its first byte) bounded. */
#define BLOCKS_BATCH 512
/* Bytes a sink hashes then writes at a time: 256 KiB stays in a core's L2 (512 KiB here)
 * between the two, and makes one pwrite of 64 blocks. */
#define PUT_SLICE (256u << 10)

static const char *const PHASE_NAMES[] = {"new", "copy", "failed", "switch", "done"};

struct sync_sink {
    sync_pass_t *p;
    int fd;
    manifest_entry_t *rec;
    const sync_range_t *r;
    size_t nr, ri;
    uint64_t pos;                       /* file offset of the next byte expected */
    unsigned char carry[MANIFEST_BLOCK]; /* a block arriving in pieces */
    size_t carry_len;
    uint64_t carry_off;
};

void sync__fail(sync_pass_t *p, const char *fmt, ...) {
    pthread_mutex_lock(&p->mu);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->prog.error, sizeof p->prog.error, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&p->mu);
}

/* ---- persisted state --------------------------------------------------------------------- */

/* Writes pass.json: the phase, counts, staging identity and `window` paths; with
 * `durable`, fsynced (what a power loss must not undo), else only replaced (sync.h). */
static int save_pass(sync_pass_t *p, const char *const *window, size_t nwindow, int durable) {
    cJSON *j = cJSON_CreateObject();
    if (j == NULL)
        return MIG_ENOMEM;
    pthread_mutex_lock(&p->mu);
    cJSON_AddNumberToObject(j, "pass", p->o.pass);
    cJSON_AddBoolToObject(j, "final", p->o.final);
    cJSON_AddStringToObject(j, "phase", PHASE_NAMES[p->phase]);
    cJSON_AddNumberToObject(j, "bytes_total", (double)p->prog.bytes_total);
    cJSON_AddNumberToObject(j, "bytes_done", (double)p->prog.bytes_done);
    cJSON_AddNumberToObject(j, "staging_dev", (double)p->staging_dev);
    cJSON_AddNumberToObject(j, "staging_ino", (double)p->staging_ino);
    cJSON_AddStringToObject(j, "error", p->prog.error);
    pthread_mutex_unlock(&p->mu);
    cJSON *w = cJSON_AddArrayToObject(j, "window");
    for (size_t i = 0; w != NULL && i < nwindow; i++)
        cJSON_AddItemToArray(w, cJSON_CreateString(window[i]));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (s == NULL)
        return MIG_ENOMEM;
    int rv = durable ? fsx_write_atomic(p->statefd, PASS_FILE, s, strlen(s))
                     : fsx_replace_file(p->statefd, PASS_FILE, s, strlen(s));
    free(s);
    return rv;
}

static int save_record(sync_pass_t *p, int durable) {
    unsigned char *buf;
    size_t len;
    pthread_mutex_lock(&p->mu);
    int rv = manifest_encode(p->record, &buf, &len);
    pthread_mutex_unlock(&p->mu);
    if (rv != 0)
        return rv;
    rv = durable ? fsx_write_atomic(p->statefd, RECORD_FILE, buf, len)
                 : fsx_replace_file(p->statefd, RECORD_FILE, buf, len);
    free(buf);
    return rv;
}

/* A checkpoint: the record, then pass.json naming the files until the next one. The
 * checkpoints inside a copy are not `durable`: their four fsyncs per 64 MiB took 25-60 ms
 * of a 0.45 s pass of 256 MiB here, and what they would keep through a power loss is
 * lost then anyway with the staging data they describe, which the final verification
 * catches (sync.h). */
static int checkpoint(sync_pass_t *p, const char *const *window, size_t nwindow, int durable) {
    int rv = save_record(p, durable);
    return rv != 0 ? rv : save_pass(p, window, nwindow, durable);
}

/* After a crash in a copy: the window's files may hold blocks the saved record does not
 * know; their hashes are taken again from the staging files, and their stat cleared so
 * the next plan asks the source about them. */
static int rehash_window(sync_pass_t *p, cJSON *window) {
    int sfd = open(p->o.staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return 0; /* no staging tree: the record is dropped by run() */
    int rv = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, window) {
        if (!cJSON_IsString(it))
            continue;
        manifest_entry_t *e = manifest_find(p->record, it->valuestring);
        if (e == NULL || (e->mode & S_IFMT) != S_IFREG)
            continue;
        rv = manifest_hash_file(sfd, e, MANIFEST_SCAN_BLOCKS, NULL, 0);
        if (rv == MIG_ENOT_FOUND) {
            e->nhashes = 0;
            rv = 0;
        }
        if (rv != 0)
            break;
        e->mtime_ns = e->ctime_ns = 0;
    }
    close(sfd);
    return rv;
}

int sync_pass_open(const sync_opts_t *o, sync_pass_t **out) {
    *out = NULL;
    if (o->pass < 1 || o->dir == NULL || o->staging == NULL || o->state_dir == NULL)
        return MIG_EINVALID;
    sync_pass_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return MIG_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->statefd = -1;
    p->o = *o;
    if (p->o.checkpoint_bytes == 0)
        p->o.checkpoint_bytes = SYNC_CHECKPOINT_BYTES;
    int rv = MIG_ENOMEM;
    unsigned char *buf = NULL;
    size_t len;
    cJSON *j = NULL;
    p->o.dir = strdup(o->dir);
    p->o.staging = strdup(o->staging);
    p->o.state_dir = strdup(o->state_dir);
    p->record = manifest_new();
    if (p->o.dir == NULL || p->o.staging == NULL || p->o.state_dir == NULL || p->record == NULL)
        goto out;
    rv = MIG_EIO;
    p->statefd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->statefd < 0)
        goto out;
    rv = sync__verified_load(p);
    if (rv != 0)
        goto out;
    rv = fsx_read_file(p->statefd, RECORD_FILE, RECORD_FILE_MAX, &buf, &len);
    if (rv == 0) {
        manifest_t *r;
        char why[200];
        rv = manifest_decode(buf, len, 0, &r, why, sizeof why);
        if (rv == 0) {
            manifest_free(p->record);
            p->record = r;
        } else { /* a damaged record: start from nothing rather than trust it */
            rv = 0;
        }
        free(buf);
        buf = NULL;
    } else if (rv != MIG_ENOT_FOUND) {
        goto out;
    }
    rv = fsx_read_file(p->statefd, PASS_FILE, PASS_FILE_MAX, &buf, &len);
    if (rv == MIG_ENOT_FOUND) {
        rv = 0;
        goto out;
    }
    if (rv != 0)
        goto out;
    j = cJSON_ParseWithLength((const char *)buf, len);
    const cJSON *jp = cJSON_GetObjectItem(j, "pass"), *ph = cJSON_GetObjectItem(j, "phase");
    if (!cJSON_IsNumber(jp) || !cJSON_IsString(ph)) {
        rv = 0; /* unreadable: a new pass on the record, checked against staging in run() */
        goto out;
    }
    p->stored_pass = (uint32_t)jp->valuedouble;
    p->staging_dev = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "staging_dev"));
    p->staging_ino = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "staging_ino"));
    if (p->stored_pass > o->pass) {
        rv = MIG_EINVALID;
        goto out;
    }
    enum phase stored = PH_NEW;
    for (int i = 0; i <= PH_DONE; i++)
        if (strcmp(ph->valuestring, PHASE_NAMES[i]) == 0)
            stored = (enum phase)i;
    if (stored == PH_COPY) /* the agent stopped in the middle of a copy */
        rv = rehash_window(p, cJSON_GetObjectItem(j, "window"));
    if (rv != 0)
        goto out;
    if (p->stored_pass == o->pass && (stored == PH_DONE || stored == PH_SWITCH)) {
        p->phase = stored;
        p->planned = 1; /* the record is this pass's own */
        p->prog.bytes_total = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "bytes_total"));
        p->prog.bytes_done = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "bytes_done"));
        p->prog.done = stored == PH_DONE;
        p->prog.progress = p->prog.done ? 100 : 99;
    } else if (stored == PH_SWITCH) {
        /* a switch that did not finish belongs to an older final pass; finish it first */
        p->phase = PH_SWITCH;
    }
    rv = 0;
out:
    cJSON_Delete(j);
    free(buf);
    if (rv != 0) {
        sync_pass_free(p);
        return rv;
    }
    *out = p;
    return 0;
}

void sync_pass_free(sync_pass_t *p) {
    if (p == NULL)
        return;
    if (p->statefd >= 0)
        close(p->statefd);
    manifest_free(p->record);
    manifest_free(p->plan);
    manifest_free(p->verified);
    free((char *)p->o.dir);
    free((char *)p->o.staging);
    free((char *)p->o.state_dir);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void sync_pass_progress(sync_pass_t *p, sync_progress_t *out) {
    pthread_mutex_lock(&p->mu);
    *out = p->prog;
    pthread_mutex_unlock(&p->mu);
}

/* ---- the sink ---------------------------------------------------------------------------- */

/* Writes `n` bytes at `off` (a block boundary) and records the hash of each block, a
 * slice at a time: each slice is hashed, then written, so that both read it from the
 * CPU's cache (a 1 MiB piece written whole, then hashed, is read back from L3 or memory),
 * and its hashes enter the record only once it is written. */
static int put_blocks(sync_sink_t *s, const unsigned char *d, size_t n, uint64_t off) {
    uint64_t hs[PUT_SLICE / MANIFEST_BLOCK];
    for (size_t at = 0; at < n; at += PUT_SLICE) {
        size_t len = n - at < PUT_SLICE ? n - at : PUT_SLICE;
        uint64_t nb = manifest_nblocks(len), first = (off + at) / MANIFEST_BLOCK;
        for (uint64_t k = 0; k < nb; k++) {
            size_t bo = (size_t)k * MANIFEST_BLOCK;
            hs[k] = manifest_block_hash(d + at + bo, len - bo < MANIFEST_BLOCK ? len - bo : MANIFEST_BLOCK);
        }
        for (size_t w = 0; w < len;) {
            ssize_t r = pwrite(s->fd, d + at + w, len - w, (off_t)(off + at + w));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return MIG_EIO;
            w += (size_t)r;
        }
        pthread_mutex_lock(&s->p->mu);
        for (uint64_t k = 0; k < nb; k++) {
            s->rec->hashes[first + k] = hs[k];
            if (first + k == s->rec->nhashes)
                s->rec->nhashes++;
        }
        s->p->prog.bytes_done += len;
        if (s->p->prog.bytes_total > 0)
            s->p->prog.progress = (int)(s->p->prog.bytes_done * 99 / s->p->prog.bytes_total);
        pthread_mutex_unlock(&s->p->mu);
    }
    return 0;
}

int sync_sink_write(sync_sink_t *s, const void *data, size_t len) {
    const unsigned char *d = data;
    while (len > 0) {
        if (s->ri >= s->nr)
            return MIG_EPROTO; /* more bytes than asked */
        uint64_t end = s->r[s->ri].off + s->r[s->ri].len;
        size_t left = end - s->pos < len ? (size_t)(end - s->pos) : len;
        int rv = 0;
        if (s->carry_len == 0 && (left >= MANIFEST_BLOCK || left == end - s->pos)) {
            size_t n = left == end - s->pos ? left : left - left % MANIFEST_BLOCK;
            rv = put_blocks(s, d, n, s->pos);
            d += n, len -= n, s->pos += n;
        } else {
            size_t take = MANIFEST_BLOCK - s->carry_len < left ? MANIFEST_BLOCK - s->carry_len : left;
            if (s->carry_len == 0)
                s->carry_off = s->pos;
            memcpy(s->carry + s->carry_len, d, take);
            s->carry_len += take;
            d += take, len -= take, s->pos += take;
            if (s->carry_len == MANIFEST_BLOCK || s->pos == end) {
                rv = put_blocks(s, s->carry, s->carry_len, s->carry_off);
                s->carry_len = 0;
            }
        }
        if (rv != 0)
            return rv;
        if (s->pos == end && ++s->ri < s->nr)
            s->pos = s->r[s->ri].off;
    }
    return 0;
}

/* ---- planning ---------------------------------------------------------------------------- */

/* The ranges of plan entry `pe` to fetch against its record `re` (may be NULL): none when
 * unchanged by stat; the blocks whose hash differs when the plan has the source's hashes;
 * the whole file otherwise. *out malloc'd (caller frees). Returns 0 or MIG_ENOMEM. */
static int file_ranges(const manifest_entry_t *pe, const manifest_entry_t *re, sync_range_t **out,
                       size_t *n, uint64_t *bytes) {
    *out = NULL;
    *n = 0;
    *bytes = 0;
    if (re != NULL && manifest_entry_unchanged(re, pe))
        return 0;
    uint64_t nb = manifest_nblocks(pe->size);
    int by_hash = re != NULL && pe->nhashes == nb && nb > 0;
    size_t cap = 0;
    for (uint64_t i = 0; i < nb; i++) {
        if (by_hash && i < re->nhashes && re->hashes[i] == pe->hashes[i])
            continue;
        uint64_t off = i * MANIFEST_BLOCK;
        uint64_t len = pe->size - off < MANIFEST_BLOCK ? pe->size - off : MANIFEST_BLOCK;
        *bytes += len;
        if (*n > 0 && (*out)[*n - 1].off + (*out)[*n - 1].len == off) {
            (*out)[*n - 1].len += len;
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            sync_range_t *r = realloc(*out, cap * sizeof *r);
            if (r == NULL) {
                free(*out);
                *out = NULL;
                return MIG_ENOMEM;
            }
            *out = r;
        }
        (*out)[(*n)++] = (sync_range_t){off, len};
    }
    return 0;
}

/* Asks the source for the block hashes of `paths[0..n)` and puts them on the entries of
 * `into` (a sorted manifest), as far as each entry's size reaches. */
static int fetch_hashes(sync_pass_t *p, const sync_transport_t *t, const char *const *paths,
                        size_t n, manifest_t *into) {
    for (size_t at = 0; at < n; at += BLOCKS_BATCH) {
        size_t k = n - at < BLOCKS_BATCH ? n - at : BLOCKS_BATCH;
        unsigned char *buf = NULL;
        size_t len = 0;
        int rv = t->blocks(t->ctx, paths + at, k, &buf, &len);
        if (rv != 0) {
            sync__fail(p, "source: block hashes: %s", mig_strerror(rv));
            return rv;
        }
        manifest_t *m;
        char why[200];
        rv = manifest_decode(buf, len, MANIFEST_DECODE_PARTIAL, &m, why, sizeof why);
        free(buf);
        if (rv != 0) {
            sync__fail(p, "source's block hashes refused: %s", why);
            return rv == MIG_ENOMEM ? rv : MIG_EREFUSED;
        }
        pthread_mutex_lock(&p->mu);
        p->prog.meta_bytes += len;
        for (size_t i = 0; i < m->n && rv == 0; i++) {
            manifest_entry_t *e = manifest_find(into, m->e[i].path), *src = &m->e[i];
            if (e == NULL || !is_file(e))
                continue;
            rv = manifest_entry_resize(e, e->size);
            uint64_t nb = manifest_nblocks(e->size), nh = src->nhashes < nb ? src->nhashes : nb;
            if (rv == 0 && nh == nb) { /* a file now shorter than the scan: fetched whole */
                memcpy(e->hashes, src->hashes, (size_t)nh * 8);
                e->nhashes = nh;
            }
        }
        pthread_mutex_unlock(&p->mu);
        manifest_free(m);
        if (rv != 0)
            return rv;
    }
    return 0;
}

/* The source's manifest, decoded and validated. */
static int get_manifest(sync_pass_t *p, const sync_transport_t *t, int strong, manifest_t **out) {
    unsigned char *buf = NULL;
    size_t len = 0;
    int rv = t->manifest(t->ctx, strong, &buf, &len);
    if (rv != 0) {
        sync__fail(p, "source: manifest: %s", mig_strerror(rv));
        return rv;
    }
    char why[200];
    rv = manifest_decode(buf, len, 0, out, why, sizeof why);
    free(buf);
    if (rv != 0) {
        sync__fail(p, "source's manifest refused: %s", why);
        return rv == MIG_ENOMEM ? rv : MIG_EREFUSED;
    }
    pthread_mutex_lock(&p->mu);
    p->prog.meta_bytes += len;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Plans the run: the source's manifest, the hashes of changed files the record knows,
 * and the total. Then makes the record the plan's shape: an entry per plan entry
 * (carrying over the record's stat and hashes where the type matches), and removes in
 * staging what the plan no longer has or has as another type. */
static int plan_run(sync_pass_t *p, const sync_transport_t *t, int strong, int sfd) {
    manifest_t *plan = NULL, *next = NULL;
    const char **ask = NULL;
    size_t nask = 0;
    int rv = get_manifest(p, t, strong, &plan);
    if (rv != 0)
        goto out;
    rv = MIG_ENOMEM;
    ask = malloc((plan->n ? plan->n : 1) * sizeof *ask);
    if (ask == NULL)
        goto out;
    for (size_t i = 0; i < plan->n; i++) {
        manifest_entry_t *pe = &plan->e[i], *re = manifest_find(p->record, pe->path);
        if (is_file(pe) && re != NULL && is_file(re) && re->nhashes > 0 && pe->size > 0 &&
            !manifest_entry_unchanged(re, pe))
            ask[nask++] = pe->path;
    }
    rv = fetch_hashes(p, t, ask, nask, plan);
    if (rv != 0)
        goto out;
    /* removals, deepest first: what the source no longer has, or has as another type */
    for (size_t i = p->record->n; i-- > 0;) {
        manifest_entry_t *re = &p->record->e[i], *pe = manifest_find(plan, re->path);
        if (pe != NULL && (pe->mode & S_IFMT) == (re->mode & S_IFMT))
            continue;
        const char *slash = strrchr(re->path, '/');
        int dfd = sfd;
        if (slash != NULL) {
            char parent[PATH_MAX];
            memcpy(parent, re->path, (size_t)(slash - re->path));
            parent[slash - re->path] = '\0';
            dfd = fsx_open_beneath(sfd, parent, O_RDONLY | O_DIRECTORY, 0, 0);
            if (dfd == MIG_ENOT_FOUND)
                continue;
            if (dfd < 0) {
                rv = dfd;
                goto out;
            }
        }
        rv = fsx_remove_tree(dfd, slash ? slash + 1 : re->path);
        if (dfd != sfd)
            close(dfd);
        if (rv != 0) {
            sync__fail(p, "staging: cannot remove %s", re->path);
            goto out;
        }
    }
    rv = MIG_ENOMEM;
    next = manifest_new();
    if (next == NULL)
        goto out;
    next->scan_ns = plan->scan_ns;
    uint64_t total = 0, changed = 0;
    for (size_t i = 0; i < plan->n; i++) {
        manifest_entry_t *pe = &plan->e[i], *re = manifest_find(p->record, pe->path);
        manifest_entry_t *ne = manifest_push(next, pe->path);
        if (ne == NULL)
            goto out;
        ne->mode = pe->mode;
        if (re != NULL && (re->mode & S_IFMT) == (pe->mode & S_IFMT)) {
            ne->mode = re->mode, ne->size = re->size, ne->mtime_ns = re->mtime_ns;
            ne->ctime_ns = re->ctime_ns, ne->flags = re->flags, ne->nhashes = re->nhashes;
            ne->hashes = re->hashes, ne->hcap = re->hcap;
            re->hashes = NULL, re->nhashes = 0, re->hcap = 0;
        }
        if (is_file(pe)) {
            sync_range_t *r;
            size_t n;
            uint64_t bytes;
            if (file_ranges(pe, ne, &r, &n, &bytes) != 0)
                goto out;
            free(r);
            total += bytes;
            changed += n > 0 || !manifest_entry_unchanged(ne, pe);
        }
    }
    pthread_mutex_lock(&p->mu);
    manifest_free(p->record);
    p->record = next;
    manifest_free(p->plan);
    p->plan = plan;
    p->planned = 1;
    p->prog.bytes_total = total;
    p->prog.bytes_done = 0;
    p->prog.files_changed = changed;
    p->prog.progress = 0;
    pthread_mutex_unlock(&p->mu);
    next = plan = NULL;
    rv = 0;
out:
    free(ask);
    manifest_free(plan);
    manifest_free(next);
    return rv;
}

/* ---- copying ----------------------------------------------------------------------------- */

/* Brings staging's file of plan entry `pe` (record entry `re`, same path) to the source's
 * content as planned: size, changed blocks, mode, mtime; then the record takes the plan's
 * stat. A file gone from the source since the manifest is left as it was. */
static int copy_file(sync_pass_t *p, const sync_transport_t *t, int sfd, const manifest_entry_t *pe,
                     manifest_entry_t *re) {
    sync_range_t *r = NULL;
    size_t n;
    uint64_t bytes;
    if (manifest_entry_unchanged(re, pe))
        return 0;
    int rv = file_ranges(pe, re, &r, &n, &bytes);
    if (rv != 0)
        return rv;
    /* read too: the pieces written are hashed again from staging (sync__verified_wrote) */
    int fd = fsx_open_beneath(sfd, pe->path, O_RDWR | O_CREAT, 0600, 1);
    if (fd < 0) {
        sync__fail(p, "staging: cannot open %s", pe->path);
        free(r);
        return MIG_EIO;
    }
    sync_sink_t *s = NULL;
    rv = MIG_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sync__fail(p, "staging: cannot size %s", pe->path);
        goto out;
    }
    int held = sync__verified_holds(p, pe->path, &st);
    uint64_t old_size = (uint64_t)st.st_size;
    sync__verified_forget(p, pe->path);
    /* A file fetched whole into an empty one gets its blocks at once: a full disk fails
     * here, clearly, rather than at writeback, and the page cache's writes skip ext4's
     * delayed allocation of each block. */
    int whole = st.st_size == 0 && pe->size > 0 && bytes == pe->size;
    if (whole && fallocate(fd, 0, 0, (off_t)pe->size) == 0) {
        st.st_size = (off_t)pe->size;
    } else if (whole && errno == ENOSPC) {
        sync__fail(p, "staging: no space for %s (%llu bytes)", pe->path, (unsigned long long)pe->size);
        goto out;
    }
    if ((uint64_t)st.st_size != pe->size && ftruncate(fd, (off_t)pe->size) != 0) {
        sync__fail(p, "staging: cannot size %s", pe->path);
        goto out;
    }
    pthread_mutex_lock(&p->mu);
    rv = manifest_entry_resize(re, pe->size);
    pthread_mutex_unlock(&p->mu);
    if (rv != 0)
        goto out;
    if (n > 0) {
        rv = MIG_ENOMEM;
        s = malloc(sizeof *s);
        if (s == NULL)
            goto out;
        s->p = p, s->fd = fd, s->rec = re, s->r = r, s->nr = n, s->ri = 0, s->pos = r[0].off;
        s->carry_len = 0;
        rv = t->fetch(t->ctx, pe->path, r, n, s);
        if (rv == MIG_ENOT_FOUND) {
            rv = 0;
            goto out;
        }
        if (rv == 0 && s->ri < s->nr)
            rv = MIG_EPROTO; /* fewer bytes than asked */
        if (rv != 0) {
            sync__fail(p, "fetching %s: %s", pe->path, mig_strerror(rv));
            goto out;
        }
    }
    struct timespec ts[2] = {{.tv_sec = pe->mtime_ns / 1000000000ll, .tv_nsec = pe->mtime_ns % 1000000000ll}};
    ts[1] = ts[0];
    rv = MIG_EIO;
    if (fchmod(fd, pe->mode & 07777) != 0 || futimens(fd, ts) != 0) {
        sync__fail(p, "staging: cannot set mode or time of %s", pe->path);
        goto out;
    }
    /* its writeback starts now, not waited for: the disk works while the pass goes on, and
     * the final pass's flush (in the players' wait) finds little left */
    if (n > 0)
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    pthread_mutex_lock(&p->mu);
    re->mode = pe->mode, re->size = pe->size, re->mtime_ns = pe->mtime_ns;
    re->ctime_ns = pe->ctime_ns, re->flags = pe->flags & MANIFEST_F_RACY;
    pthread_mutex_unlock(&p->mu);
    if (held)
        rv = sync__verified_wrote(p, fd, pe->path, old_size, r, n);
    else if (p->hasher != NULL && fstat(fd, &st) == 0)
        sync__hasher_add(p->hasher, pe->path, &st), rv = 0;
    else
        rv = 0; /* the pass's last scan hashes it */
out:
    free(s);
    free(r);
    close(fd);
    return rv;
}

/* A folder of the plan: made (with its parents) and given its mode. */
static int make_dir(sync_pass_t *p, int sfd, const manifest_entry_t *pe, manifest_entry_t *re) {
    int fd = fsx_open_beneath(sfd, pe->path, O_RDONLY | O_DIRECTORY, 0, 1);
    if (fd == MIG_ENOT_FOUND) {
        int pfd = sfd;
        const char *slash = strrchr(pe->path, '/');
        if (slash != NULL) {
            char parent[PATH_MAX];
            memcpy(parent, pe->path, (size_t)(slash - pe->path));
            parent[slash - pe->path] = '\0';
            pfd = fsx_open_beneath(sfd, parent, O_RDONLY | O_DIRECTORY, 0, 1);
            if (pfd < 0)
                return pfd;
        }
        if (mkdirat(pfd, slash ? slash + 1 : pe->path, 0755) != 0 && errno != EEXIST)
            fd = MIG_EIO;
        else
            fd = fsx_open_beneath(sfd, pe->path, O_RDONLY | O_DIRECTORY, 0, 0);
        if (pfd != sfd)
            close(pfd);
    }
    if (fd < 0 || fchmod(fd, pe->mode & 07777) != 0) {
        sync__fail(p, "staging: cannot make folder %s", pe->path);
        if (fd >= 0)
            close(fd);
        return MIG_EIO;
    }
    close(fd);
    pthread_mutex_lock(&p->mu);
    re->mode = pe->mode, re->mtime_ns = pe->mtime_ns, re->ctime_ns = pe->ctime_ns;
    re->flags = pe->flags & MANIFEST_F_RACY;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* Copies every plan entry in order, naming each window of files in pass.json before it
 * and saving the record after it. */
static int copy_all(sync_pass_t *p, const sync_transport_t *t, int sfd) {
    manifest_t *plan = p->plan;
    const char **window = malloc(SYNC_WINDOW_FILES * sizeof *window);
    if (window == NULL)
        return MIG_ENOMEM;
    int rv = 0;
    for (size_t i = 0; i < plan->n && rv == 0;) {
        /* the next window: files up to checkpoint_bytes of data or SYNC_WINDOW_FILES */
        size_t nw = 0, j = i;
        uint64_t wbytes = 0;
        for (; j < plan->n && nw < SYNC_WINDOW_FILES && wbytes < p->o.checkpoint_bytes; j++) {
            const manifest_entry_t *pe = &plan->e[j], *re = &p->record->e[j];
            if (!is_file(pe) || manifest_entry_unchanged(re, pe))
                continue;
            window[nw++] = pe->path;
            wbytes += pe->size;
        }
        p->phase = PH_COPY;
        rv = checkpoint(p, window, nw, 0);
        for (; i < j && rv == 0; i++) {
            const manifest_entry_t *pe = &plan->e[i];
            manifest_entry_t *re = &p->record->e[i];
            rv = is_file(pe) ? copy_file(p, t, sfd, pe, re) : make_dir(p, sfd, pe, re);
        }
    }
    free(window);
    return rv;
}

/* ---- the run ----------------------------------------------------------------------------- */

/* Stores the time since *t0 in *field (under mu) and restarts *t0. */
static void lap(sync_pass_t *p, int64_t *t0, uint32_t *field) {
    int64_t now = timefmt_mono_ms();
    pthread_mutex_lock(&p->mu);
    *field = (uint32_t)(now - *t0);
    pthread_mutex_unlock(&p->mu);
    *t0 = now;
}

/* Writes staging back to disk on a thread of its own, awaited by nobody: a pass reports
 * done without waiting for the disk (rsync does not wait either), and by the final pass
 * its writes are on disk or on the way, so the switch's syncfs, in the players' wait,
 * has little left to flush. The thread owns only its descriptor; nothing waits for it
 * (a failure shows at the switch's syncfs). */
static void *writeback_thread(void *arg) {
    int fd = (int)(intptr_t)arg;
    if (syncfs(fd) != 0)
        log_at(LOG_WARN, "sync.writeback_failed", "error", strerror(errno), NULL);
    close(fd);
    return NULL;
}

static void start_writeback(int sfd) {
    int fd = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
    pthread_t t;
    pthread_attr_t at;
    if (fd < 0)
        return;
    if (pthread_attr_init(&at) == 0) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, writeback_thread, (void *)(intptr_t)fd) == 0)
            fd = -1;
        pthread_attr_destroy(&at);
    }
    if (fd >= 0)
        close(fd); /* no thread: the switch flushes it all */
}

/* The strong manifest asked on a thread of its own (sync_pass_run_strong). */
typedef struct strong_ask {
    sync_pass_t *p;
    const sync_transport_t *t;
    manifest_t *m;
    int rv;
} strong_ask_t;

static void *strong_thread(void *arg) {
    strong_ask_t *a = arg;
    a->rv = get_manifest(a->p, a->t, 1, &a->m);
    return NULL;
}

int sync_pass_run(sync_pass_t *p, const sync_transport_t *t) {
    return sync_pass_run_strong(p, t, NULL);
}

int sync_pass_run_strong(sync_pass_t *p, const sync_transport_t *t, const sync_transport_t *strong) {
    if (p->phase == PH_DONE)
        return 0;
    int rv, sfd = -1;
    strong_ask_t ask = {.p = p, .t = strong};
    pthread_t asker;
    int asking = 0;
    sync__fail(p, "%s", "");
    if (p->phase == PH_SWITCH) {
        rv = sync__switch_tree(p);
        if (rv != 0)
            return rv;
        if (p->stored_pass == p->o.pass) {
            p->phase = PH_DONE;
            pthread_mutex_lock(&p->mu);
            p->prog.done = 1, p->prog.progress = 100;
            pthread_mutex_unlock(&p->mu);
            return save_pass(p, NULL, 0, 1);
        }
        /* an older final pass finished; the staging tree is gone, so is what it held */
        pthread_mutex_lock(&p->mu);
        p->record->n = 0;
        pthread_mutex_unlock(&p->mu);
        p->verified_dev = p->verified_ino = 0;
    }
    /* the staging tree, and the record only if it describes this very tree */
    struct stat st;
    if (mkdir(p->o.staging, 0755) != 0 && errno != EEXIST) {
        sync__fail(p, "staging: cannot make %s: %s", p->o.staging, strerror(errno));
        return MIG_EIO;
    }
    sfd = open(p->o.staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || fstat(sfd, &st) != 0) {
        sync__fail(p, "staging: cannot open %s", p->o.staging);
        rv = MIG_EIO;
        goto out;
    }
    if ((uint64_t)st.st_dev != p->staging_dev || (uint64_t)st.st_ino != p->staging_ino) {
        manifest_t *empty = manifest_new();
        if (empty == NULL) {
            rv = MIG_ENOMEM;
            goto out;
        }
        pthread_mutex_lock(&p->mu);
        manifest_free(p->record);
        p->record = empty;
        pthread_mutex_unlock(&p->mu);
        /* clear what an unknown earlier tree left: its content is not recorded */
        close(sfd);
        sfd = -1;
        if (fsx_remove_tree(AT_FDCWD, p->o.staging) != 0 || mkdir(p->o.staging, 0755) != 0) {
            sync__fail(p, "staging: cannot clear %s", p->o.staging);
            return MIG_EIO;
        }
        sfd = open(p->o.staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0 || fstat(sfd, &st) != 0) {
            rv = MIG_EIO;
            goto out;
        }
        p->staging_dev = (uint64_t)st.st_dev, p->staging_ino = (uint64_t)st.st_ino;
    }
    sync__verified_check_tree(p);
    int64_t t0 = timefmt_mono_ms();
    if (p->o.final && strong != NULL && pthread_create(&asker, NULL, strong_thread, &ask) == 0)
        asking = 1;
    rv = plan_run(p, t, p->o.final && !asking, sfd);
    lap(p, &t0, &p->prog.plan_ms);
    if (rv == 0 && sync__hasher_start(p, sfd, &p->hasher) != 0)
        p->hasher = NULL; /* the last scan hashes what it wrote */
    if (rv == 0)
        rv = copy_all(p, t, sfd);
    int hrv = sync__hasher_finish(p->hasher);
    p->hasher = NULL;
    if (rv == 0)
        rv = hrv;
    lap(p, &t0, &p->prog.copy_ms);
    if (asking) {
        pthread_join(asker, NULL);
        asking = 0;
        if (rv == 0)
            rv = ask.rv;
    }
    if (rv == 0 && p->o.final)
        rv = sync__verify(p, sfd, ask.m != NULL ? ask.m : p->plan);
    /* A pass before the final ends with the SHA-256 of every staging file recorded and its
     * writes on their way to disk, so that the final pass (the players' wait) hashes and
     * flushes only what it writes itself (sync.h) */
    if (rv == 0 && !p->o.final) {
        rv = sync__verified_refresh(p, sfd);
        lap(p, &t0, &p->prog.verify_ms);
        if (rv == 0)
            rv = sync__verified_store(p);
        if (rv == 0)
            start_writeback(sfd);
    }
    if (rv != 0) {
        p->phase = PH_FAILED;
        checkpoint(p, NULL, 0, 0); /* what was copied stays known to the next run */
        goto out;
    }
    if (p->o.final) {
        p->phase = PH_SWITCH;
        p->stored_pass = p->o.pass;
        lap(p, &t0, &p->prog.verify_ms);
        rv = checkpoint(p, NULL, 0, 1); /* a restart must know the tree it switches */
        if (rv == 0)
            rv = sync__switch_tree(p);
        if (rv != 0)
            goto out;
    }
    lap(p, &t0, &p->prog.flush_ms);
    p->phase = PH_DONE;
    pthread_mutex_lock(&p->mu);
    p->prog.done = 1, p->prog.progress = 100;
    pthread_mutex_unlock(&p->mu);
    /* A pass reported done stays done: through a crash of the agent in the page cache; a
     * final pass's through a power loss too (the switch is). An earlier pass's is not
     * synced: on ext4 an fsync commits the journal, which in its ordered mode first writes
     * back every block the pass allocated, the whole world after pass 1 (2 of its 3 s);
     * a power loss that undoes it also starts a new boot, in which verified.bin counts
     * for nothing and the final verification reads every file (sync.h). */
    rv = checkpoint(p, NULL, 0, p->o.final);
out:
    if (asking)
        pthread_join(asker, NULL);
    manifest_free(ask.m);
    if (sfd >= 0)
        close(sfd);
    return rv;
}

/* ---- dirty bytes ------------------------------------------------------------------------- */

/* Counts only blocks whose content differs from what the pass copied or will copy (their
 * hashes compared): a file merely "racy" (written within 2 s of the scan) is asked about
 * by hash, never counted for its mtime alone. Before the pass has scanned, nothing
 * written is missed by it, so the answer is 0 without asking the source. */
int sync_pass_dirty_bytes(sync_pass_t *p, const sync_transport_t *t, uint64_t *out) {
    *out = 0;
    manifest_t *now = NULL;
    const char **ask = NULL;
    size_t nask = 0;
    pthread_mutex_lock(&p->mu);
    int planned = p->planned;
    pthread_mutex_unlock(&p->mu);
    if (!planned)
        return 0;
    int rv = get_manifest(p, t, 0, &now);
    if (rv != 0)
        return rv;
    rv = MIG_ENOMEM;
    ask = malloc((now->n ? now->n : 1) * sizeof *ask);
    if (ask == NULL)
        goto out;
    uint64_t dirty = 0;
    pthread_mutex_lock(&p->mu);
    const manifest_t *base = p->plan ? p->plan : p->record;
    for (size_t i = 0; i < now->n; i++) {
        manifest_entry_t *ne = &now->e[i], *be = manifest_find(base, ne->path);
        if (!is_file(ne))
            continue;
        if (be == NULL || !is_file(be))
            dirty += ne->size; /* new since the pass began */
        else if (!manifest_entry_unchanged(be, ne))
            ask[nask++] = ne->path;
    }
    pthread_mutex_unlock(&p->mu);
    rv = fetch_hashes(p, t, ask, nask, now);
    if (rv != 0)
        goto out;
    pthread_mutex_lock(&p->mu);
    base = p->plan ? p->plan : p->record;
    for (size_t k = 0; k < nask; k++) {
        const manifest_entry_t *ne = manifest_find(now, ask[k]), *be = manifest_find(base, ask[k]);
        const manifest_entry_t *re = manifest_find(p->record, ask[k]);
        if (ne == NULL || be == NULL)
            continue;
        int re_done = re != NULL && re->mtime_ns == be->mtime_ns && re->ctime_ns == be->ctime_ns &&
                      re->size == be->size;
        uint64_t nb = manifest_nblocks(ne->size), bb = manifest_nblocks(be->size);
        for (uint64_t i = 0; i < nb; i++) {
            uint64_t len = ne->size - i * MANIFEST_BLOCK < MANIFEST_BLOCK ? ne->size - i * MANIFEST_BLOCK
                                                                          : MANIFEST_BLOCK;
            uint64_t h = ne->nhashes > i ? ne->hashes[i] : 0;
            if (i >= bb || ne->nhashes <= i) { /* grown since, or unknown: dirty */
                dirty += len;
                continue;
            }
            const uint64_t *expect = NULL;
            if (re_done && re->nhashes > i)
                expect = &re->hashes[i];
            else if (be->nhashes > i)
                expect = &be->hashes[i];
            else if (re != NULL && re->nhashes > i)
                expect = &re->hashes[i];
            if (expect != NULL && *expect != h)
                dirty += len;
        }
    }
    pthread_mutex_unlock(&p->mu);
    *out = dirty;
    rv = 0;
out:
    free(ask);
    manifest_free(now);
    return rv;
}
