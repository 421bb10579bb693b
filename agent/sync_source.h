/* sync_source.h - the source's half of the world sync: the three answers a source agent
 * gives a target pulling a world (its manifest, the block hashes of some files, the bytes
 * of ranges of a file), read from the server's directory and independent of any transport.
 * The agent's HTTP server calls these from its handlers; sync_source_transport() plugs
 * them straight into a target in the same process (tests, the in-process bench).
 *
 * The source keeps no state between calls that a pass depends on: what changed is decided
 * by the target from its own record (see sync.h), so a source agent that restarts loses
 * nothing. It keeps one cache, of speed only: the SHA-256 of each file it read whole
 * (serving a whole-file read, a file's block hashes, a strong manifest), keyed by the
 * file's (dev, ino, size, mtime_ns, ctime_ns) and kept only under the racy-clean rule
 * (manifest_sha_trusted), so that the final pass's strong manifest re-hashes only the
 * files written since (sync.h). A read or block-hash call computes it only when the cache
 * lacks it and would keep it: dirty_bytes's repeated block-hash calls hash each version of
 * a file once, and a file written in the last 2 s not at all. One table for the agent's process, bounded by
 * SYNC_SHA_CACHE_MAX files (72 bytes each); emptied when full. */
#ifndef MIG_AGENT_SYNC_SOURCE_H
#define MIG_AGENT_SYNC_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/sync.h"

/* The manifest of the directory `rootfd` (stat of every folder and file; with `strong`
 * each file's SHA-256) in wire format: *buf malloc'd, caller frees. Refuses symlinks and
 * special files (MIG_EREFUSED, the path in `why`). */
int sync_source_manifest(int rootfd, int strong, unsigned char **buf, size_t *len, char *why,
                         size_t whylen);

/* The block hashes of the files `paths[0..n)` (each validated) as a partial manifest in
 * wire format, in the order given; a file that no longer exists is left out. */
int sync_source_blocks(int rootfd, const char *const *paths, size_t n, unsigned char **buf,
                       size_t *len, char *why, size_t whylen);

/* As sync_source_blocks; with `fill` 0, without the SHA-256 of each file for the cache. The
 * agent asks so while the server is quiesced: the final pass's strong manifest, asked at
 * the same time, hashes those files anyway, and hashing them twice would lengthen the
 * players' wait. sync_source_blocks fills. */
int sync_source_blocks_fill(int rootfd, const char *const *paths, size_t n, int fill,
                            unsigned char **buf, size_t *len, char *why, size_t whylen);

/* Where sync_source_read puts bytes: `emit` takes each piece in order; it returns 0 or a
 * negative MIG_E* code that stops the read. */
typedef int (*sync_emit_fn)(void *ctx, const void *data, size_t len);

/* The bytes of `ranges[0..n)` of `path` beneath `rootfd`, in order, through `emit`:
 * exactly their total; bytes past the file's present end are zeros (it shrank since the
 * target's manifest; its new stat sends it again next pass). Returns 0 or MIG_E*. */
int sync_source_read(int rootfd, const char *path, const sync_range_t *ranges, size_t n,
                     sync_emit_fn emit, void *ctx);

/* Files the source's SHA-256 cache holds at most (9 MiB): a 256 GiB world of 10 MiB region
 * files is 26,000; several served worlds share it. */
#define SYNC_SHA_CACHE_MAX (1u << 17)

/* What the source's SHA-256 cache did since the process started (benches and tests). */
typedef struct sync_source_stats {
    uint64_t sha_hits;         /* files of strong manifests whose SHA-256 came from the cache */
    uint64_t sha_hashed_files; /* files of strong manifests hashed (not cached, or changed) */
    uint64_t sha_hashed_bytes; /* their bytes */
    uint64_t sha_filled;       /* SHA-256s computed while serving reads and block hashes */
    uint64_t sha_cached;       /* entries held now */
} sync_source_stats_t;

void sync_source_stats(sync_source_stats_t *out);

/* Empties the SHA-256 cache (tests). */
void sync_source_cache_clear(void);

/* An in-process source over the directory `rootfd` (not owned). */
typedef struct sync_source {
    int rootfd;
    char why[256]; /* the last refusal's reason */
} sync_source_t;

/* A transport whose calls answer from `src` directly, through the wire format (so the
 * target's validation runs exactly as over a network). */
sync_transport_t sync_source_transport(sync_source_t *src);

#endif
