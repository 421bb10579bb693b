/* sync_source.c - the source's answers to a pulling target (see sync_source.h). */
#include "agent/sync_source.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/strong.h"
#include "core/err.h"

/* Bytes read per pread while serving ranges: 1 MiB keeps the calls few, the buffer in L2
 * of a server core, and a sink's piece large. */
#define READ_BYTES (1u << 20)

/* ---- the SHA-256 cache (sync_source.h) ---------------------------------------------------- */

typedef struct sha_slot {
    uint64_t dev, ino, size; /* ino 0: empty (no file system here numbers a file 0) */
    int64_t mtime_ns, ctime_ns;
    uint8_t sha256[32];
} sha_slot_t;

static struct {
    pthread_mutex_t mu;
    sha_slot_t *t; /* open addressing, linear probing; cap a power of two */
    size_t cap, n;
    sync_source_stats_t st;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t slot_of(uint64_t dev, uint64_t ino, size_t cap) {
    uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 31;
    return (size_t)h & (cap - 1);
}

/* The slot of (dev, ino), or the empty one where it goes; the table is never full. */
static sha_slot_t *slot_find(uint64_t dev, uint64_t ino) {
    size_t i = slot_of(dev, ino, cache.cap);
    while (cache.t[i].ino != 0 && (cache.t[i].ino != ino || cache.t[i].dev != dev))
        i = (i + 1) & (cache.cap - 1);
    return &cache.t[i];
}

static int cache_get(void *ctx, const manifest_entry_t *e, uint8_t sha256[32]) {
    (void)ctx;
    int hit = 0;
    pthread_mutex_lock(&cache.mu);
    if (cache.t != NULL && e->ino != 0) {
        const sha_slot_t *s = slot_find(e->dev, e->ino);
        hit = s->ino != 0 && s->size == e->size && s->mtime_ns == e->mtime_ns &&
              s->ctime_ns == e->ctime_ns;
        if (hit)
            memcpy(sha256, s->sha256, 32);
    }
    pthread_mutex_unlock(&cache.mu);
    return hit;
}

/* Keeps at most half the slots used: grows by doubling up to twice SYNC_SHA_CACHE_MAX
 * slots, then starts again empty. Called under the lock. */
static int cache_room(void) {
    if (cache.t != NULL && (cache.n + 1) * 2 <= cache.cap)
        return 0;
    size_t cap = cache.cap ? cache.cap * 2 : 1024;
    if (cap > 2 * (size_t)SYNC_SHA_CACHE_MAX) {
        memset(cache.t, 0, cache.cap * sizeof *cache.t);
        cache.n = 0;
        return 0;
    }
    sha_slot_t *old = cache.t, *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return MIG_ENOMEM;
    size_t oldcap = cache.cap;
    cache.t = t, cache.cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].ino != 0)
            *slot_find(old[i].dev, old[i].ino) = old[i];
    free(old);
    return 0;
}

static void cache_put(void *ctx, const manifest_entry_t *e, int64_t start_ns) {
    (void)ctx;
    if (e->ino == 0 || !(e->flags & MANIFEST_F_STRONG))
        return;
    pthread_mutex_lock(&cache.mu);
    sha_slot_t *s = cache.t ? slot_find(e->dev, e->ino) : NULL;
    if (!manifest_sha_trusted(e, start_ns)) { /* racy: not kept, and an older entry goes */
        if (s != NULL && s->ino != 0)
            s->mtime_ns = s->ctime_ns = -1;
    } else if (cache_room() == 0) {
        s = slot_find(e->dev, e->ino);
        if (s->ino == 0)
            cache.n++;
        *s = (sha_slot_t){.dev = e->dev, .ino = e->ino, .size = e->size, .mtime_ns = e->mtime_ns,
                          .ctime_ns = e->ctime_ns};
        memcpy(s->sha256, e->sha256, 32);
    }
    pthread_mutex_unlock(&cache.mu);
}

static void count(const manifest_sha_cache_t *c, int manifest) {
    pthread_mutex_lock(&cache.mu);
    if (manifest) {
        cache.st.sha_hits += c->hits;
        cache.st.sha_hashed_files += c->hashed_files;
        cache.st.sha_hashed_bytes += c->hashed_bytes;
    } else {
        cache.st.sha_filled += c->hashed_files;
    }
    pthread_mutex_unlock(&cache.mu);
}

void sync_source_stats(sync_source_stats_t *out) {
    pthread_mutex_lock(&cache.mu);
    *out = cache.st;
    out->sha_cached = cache.n;
    pthread_mutex_unlock(&cache.mu);
}

void sync_source_cache_clear(void) {
    pthread_mutex_lock(&cache.mu);
    free(cache.t);
    cache.t = NULL, cache.cap = cache.n = 0;
    pthread_mutex_unlock(&cache.mu);
}

/* ---- the three answers ------------------------------------------------------------------- */

int sync_source_manifest(int rootfd, int strong, unsigned char **buf, size_t *len, char *why,
                         size_t whylen) {
    manifest_t *m = NULL;
    manifest_sha_cache_t c = {.get = cache_get, .put = cache_put};
    int rv = manifest_scan_cached(rootfd, strong ? MANIFEST_SCAN_STRONG : 0, strong ? &c : NULL,
                                  &m, why, whylen);
    count(&c, 1);
    if (rv == 0)
        rv = manifest_encode(m, buf, len);
    manifest_free(m);
    return rv;
}

int sync_source_blocks(int rootfd, const char *const *paths, size_t n, unsigned char **buf,
                       size_t *len, char *why, size_t whylen) {
    return sync_source_blocks_fill(rootfd, paths, n, 1, buf, len, why, whylen);
}

int sync_source_blocks_fill(int rootfd, const char *const *paths, size_t n, int fill,
                            unsigned char **buf, size_t *len, char *why, size_t whylen) {
    manifest_t *m = manifest_new();
    if (m == NULL)
        return MIG_ENOMEM;
    int rv = 0;
    manifest_sha_cache_t c = {.get = cache_get, .put = cache_put};
    for (size_t i = 0; i < n && rv == 0; i++) {
        manifest_entry_t *e = manifest_push(m, paths[i]);
        if (e == NULL) {
            rv = MIG_ENOMEM;
            break;
        }
        /* the whole file is read anyway: its SHA-256 fills the cache for the final pass,
         * unless held already (dirty_bytes asks again and again) or racy (not kept) */
        rv = manifest_hash_file_cached(rootfd, e, MANIFEST_SCAN_BLOCKS | (fill ? MANIFEST_SCAN_FILL : 0),
                                       &c, why, whylen);
        e->flags &= (uint8_t)~MANIFEST_F_STRONG; /* the answer carries block hashes only */
        if (rv == MIG_ENOT_FOUND) { /* deleted since the manifest: the next pass removes it */
            manifest_entry_release(e);
            m->n--;
            rv = 0;
        }
    }
    count(&c, 0);
    if (rv == 0)
        rv = manifest_encode(m, buf, len);
    manifest_free(m);
    return rv;
}

int sync_source_read(int rootfd, const char *path, const sync_range_t *ranges, size_t n,
                     sync_emit_fn emit, void *ctx) {
    if (manifest_check_path(path, strlen(path), NULL, 0) != 0)
        return MIG_EREFUSED;
    int fd = fsx_open_beneath(rootfd, path, O_RDONLY, 0, 0);
    if (fd < 0)
        return fd == MIG_ENOT_FOUND ? MIG_ENOT_FOUND : MIG_EREFUSED;
    int rv = MIG_ENOMEM;
    unsigned char *buf = malloc(READ_BYTES);
    strong_t sha;
    int hashing = 0;
    struct stat before, after;
    struct timespec start;
    manifest_entry_t e = {0};
    /* a read of the whole file (every file of pass 1) fills the SHA-256 cache on the way */
    clock_gettime(CLOCK_REALTIME, &start);
    if (n == 1 && ranges[0].off == 0 && fstat(fd, &before) == 0 && S_ISREG(before.st_mode) &&
        (uint64_t)before.st_size == ranges[0].len) {
        e.dev = (uint64_t)before.st_dev, e.ino = (uint64_t)before.st_ino, e.size = (uint64_t)before.st_size;
        e.mtime_ns = (int64_t)before.st_mtim.tv_sec * 1000000000ll + before.st_mtim.tv_nsec;
        e.ctime_ns = (int64_t)before.st_ctim.tv_sec * 1000000000ll + before.st_ctim.tv_nsec;
    }
    uint8_t held[32];
    /* not when racy (the cache would refuse it) or held already */
    if (e.ino != 0 && manifest_sha_trusted(&e, (int64_t)start.tv_sec * 1000000000ll + start.tv_nsec) &&
        !cache_get(NULL, &e, held))
        hashing = strong_init(&sha, 0) == 0;
    if (buf == NULL)
        goto out;
    rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        uint64_t off = ranges[i].off, end = ranges[i].off + ranges[i].len;
        int eof = 0;
        while (off < end && rv == 0) {
            size_t want = end - off < READ_BYTES ? (size_t)(end - off) : READ_BYTES, got = 0;
            while (!eof && got < want) {
                ssize_t r = pread(fd, buf + got, want - got, (off_t)(off + got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0) {
                    rv = MIG_EIO;
                    goto out;
                }
                if (r == 0)
                    eof = 1;
                got += (size_t)r;
            }
            memset(buf + got, 0, want - got);
            if (hashing && strong_update(&sha, buf, want) != 0) {
                strong_free(&sha);
                hashing = 0;
            }
            rv = emit(ctx, buf, want);
            off += want;
        }
    }
    if (rv == 0 && hashing && strong_final(&sha, e.sha256) == 0 &&
        fstat(fd, &after) == 0 && after.st_ino == before.st_ino && after.st_size == before.st_size &&
        after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec &&
        after.st_ctim.tv_sec == before.st_ctim.tv_sec && after.st_ctim.tv_nsec == before.st_ctim.tv_nsec) {
        e.flags = MANIFEST_F_STRONG;
        cache_put(NULL, &e, (int64_t)start.tv_sec * 1000000000ll + start.tv_nsec);
        manifest_sha_cache_t c = {.hashed_files = 1};
        count(&c, 0);
    }
out:
    if (hashing)
        strong_free(&sha);
    free(buf);
    close(fd);
    return rv;
}

/* ---- the in-process transport ------------------------------------------------------------ */

static int local_manifest(void *ctx, int strong, unsigned char **buf, size_t *len) {
    sync_source_t *s = ctx;
    return sync_source_manifest(s->rootfd, strong, buf, len, s->why, sizeof s->why);
}

static int local_blocks(void *ctx, const char *const *paths, size_t n, unsigned char **buf,
                        size_t *len) {
    sync_source_t *s = ctx;
    return sync_source_blocks(s->rootfd, paths, n, buf, len, s->why, sizeof s->why);
}

static int emit_to_sink(void *ctx, const void *data, size_t len) {
    return sync_sink_write(ctx, data, len);
}

static int local_fetch(void *ctx, const char *path, const sync_range_t *r, size_t n,
                       sync_sink_t *sink) {
    sync_source_t *s = ctx;
    return sync_source_read(s->rootfd, path, r, n, emit_to_sink, sink);
}

sync_transport_t sync_source_transport(sync_source_t *src) {
    sync_transport_t t = {.ctx = src, .manifest = local_manifest, .blocks = local_blocks,
                          .fetch = local_fetch};
    return t;
}
