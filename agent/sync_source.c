/* sync_source.c - the source's answers to a pulling target (see sync_source.h). */
#include "agent/sync_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "core/err.h"

/* Bytes read per pread while serving ranges: 1 MiB keeps the calls few, the buffer in L2
 * of a server core, and a sink's piece large. */
#define READ_BYTES (1u << 20)

int sync_source_manifest(int rootfd, int strong, unsigned char **buf, size_t *len, char *why,
                         size_t whylen) {
    manifest_t *m = NULL;
    int rv = manifest_scan(rootfd, strong ? MANIFEST_SCAN_STRONG : 0, &m, why, whylen);
    if (rv == 0)
        rv = manifest_encode(m, buf, len);
    manifest_free(m);
    return rv;
}

int sync_source_blocks(int rootfd, const char *const *paths, size_t n, unsigned char **buf,
                       size_t *len, char *why, size_t whylen) {
    manifest_t *m = manifest_new();
    if (m == NULL)
        return MIG_ENOMEM;
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        manifest_entry_t *e = manifest_push(m, paths[i]);
        if (e == NULL) {
            rv = MIG_ENOMEM;
            break;
        }
        rv = manifest_hash_file(rootfd, e, MANIFEST_SCAN_BLOCKS, why, whylen);
        if (rv == MIG_ENOT_FOUND) { /* deleted since the manifest: the next pass removes it */
            free(e->path);
            free(e->hashes);
            m->n--;
            rv = 0;
        }
    }
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
            rv = emit(ctx, buf, want);
            off += want;
        }
    }
out:
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
