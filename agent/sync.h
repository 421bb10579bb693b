/* sync.h - the target's half of the world sync: one pass pulls a server's directory from
 * a source into a private staging tree; the final pass verifies every file with SHA-256
 * and puts the staging tree in place of the server's directory atomically.
 *
 * How a pass decides what to copy. The target keeps a *record* of its staging tree: for
 * each entry the source's stat at the scan of the pass that copied it, and the XXH3 of
 * every 4 KiB block it actually wrote (hashed from the bytes in hand as they land, so the
 * record describes the staging content exactly, even when the source changed a block
 * between its manifest and the read). A pass
 *   1. asks the source for its manifest (stat only: cheap on the source);
 *   2. a file whose size, mode, mtime and ctime equal the record's (and that was not
 *      "racy", manifest.h) is unchanged, with nothing read on either side;
 *   3. asks for the block hashes of the changed files it holds a record of, in one call,
 *      and fetches only the blocks whose hash differs from the record (a re-saved chunk
 *      is a few sectors); a new file, or every file in pass 1, is fetched whole with no
 *      hashing on the source;
 *   4. removes in staging what the source no longer has.
 * So a later pass copies what the source wrote since the previous pass's scan, which is
 * at or after that pass began, as docs/DRIVERS.md asks, and the source keeps no state.
 *
 * Resuming. pass.json (small, written atomically) and record.mf (the record, binary,
 * written atomically) live in the state folder. The record is saved at checkpoints
 * (every `checkpoint_bytes` of data, between files) and whenever a run stops on an error;
 * before each stretch of files pass.json names them (the "window"). A run, or a restart
 * after a crash, plans again against the record: what was written is not fetched again.
 * After a crash, the window's files may hold blocks newer than the saved record; they
 * are re-hashed from the staging files themselves, so the record is again exact.
 * Neither staging writes nor the checkpoints inside a copy are fsynced (the first would
 * halve a pass's speed; the second, four fsyncs per checkpoint, cost about a tenth): a
 * kill -9 loses nothing that reached the page cache, and a power loss that loses staging
 * data or a checkpoint is caught by the final verification, which drops the bad files'
 * records so that a retried pass copies them again (a record or pass.json left
 * unreadable starts from nothing). The end of a pass and the switch are fsynced. A pass
 * before the final reports done without waiting for its data to reach the disk, as
 * rsync does, but starts that writeback on a thread of its own, so that the switch's
 * syncfs (in the players' wait) finds little left to flush; verified.bin (below) holds
 * only within the boot that wrote it, so after a power loss it never vouches for staging
 * bytes that were not on disk.
 *
 * Verifying in proportion to the change (the final pass runs while players wait). Every
 * file of the final pass is verified by its strong hash (agent/strong.h: the SHA-256 of the
 * SHA-256s of its 32 KiB pieces; "SHA-256" below): the staging tree's every file must have
 * the one the quiesced source has. Neither side reads an unchanged file to show it:
 *  - The source caches the SHA-256 of each file it reads whole (a whole-file read served to
 *    a pass, a file's block hashes, a strong manifest), keyed by (dev, ino, size,
 *    mtime_ns, ctime_ns), in memory, bounded (sync_source.h); the final pass's strong
 *    manifest takes a file's SHA-256 from it when the file's stat is the key.
 *  - The target keeps verified.bin in the state folder: per staging file, the SHA-256 of
 *    its content, of each of its pieces, and the staging file's own (ino, size, mtime_ns,
 *    ctime_ns) when hashed. A pass that writes into a file whose entry stands hashes again
 *    the pieces it wrote (read back from staging; from the old end on when the size
 *    changed) and the root, so the entry stands for the new stat: a re-saved chunk costs
 *    a piece, not the file. A file written without a standing entry (new files, pass 1's)
 *    is hashed whole by a thread beside the copy (sync_hash.c), as soon as it is written;
 *    each pass before the final ends by hashing whatever still has none, outside the
 *    players' wait; the
 *    final pass's verification hashes only staging files whose stat differs from their
 *    entry or that have none, and compares every file with the source's final manifest. A change to a staging file
 *    from outside the agent changes its ctime (which nothing can set back), so it is
 *    hashed again and caught; so is a file replaced by another (another ino).
 *  - The racy-clean rule (git's index), on the source: a SHA-256 is kept only when the
 *    file's stat was the same before and after its read and its mtime and ctime are older
 *    than the read's start by more than MANIFEST_RACY_NS (2 s, above any file system's
 *    timestamp granularity); otherwise the server's write in the same tick as the read
 *    could leave the key unchanged over other bytes. So a source file written within 2 s
 *    of its hashing is hashed again next time. Staging needs only the first half (the stat
 *    unchanged across the read): its one writer is the agent's pass, whose writes are over
 *    when it is hashed, so waiting out the window there (2 s a pass, and every file hashed
 *    twice; measured by bench/sync) would guard only against a foreign write within the
 *    clock tick of the read.
 *  A lost, damaged, foreign (another staging tree) or older than the boot verified.bin, or
 *  an empty source cache (a restarted agent), costs a full hash on that side, never a
 *  wrong answer.
 *
 * The switch (final pass, after verification). The staging tree is synced (syncfs), then
 * exchanged with the server's directory by one renameat2(RENAME_EXCHANGE): before it the
 * directory is the old tree, after it the new one, and no instant shows neither or a
 * mix; the old tree (now at the staging path) is removed afterwards. pass.json says
 * "switch" with the staging tree's inode before the exchange, so a restart knows whether
 * the exchange happened (the directory has that inode) and finishes the removal, or
 * exchanges again. Where the file system cannot exchange, the directory is renamed aside
 * first, then the staging tree into its place; a crash between the two leaves the old
 * tree complete aside and the new one complete in staging, and a restart finishes. */
#ifndef MIG_AGENT_SYNC_H
#define MIG_AGENT_SYNC_H

#include <stddef.h>
#include <stdint.h>

/* Data bytes between checkpoints of the record by default: 64 MiB costs a 2 MiB record
 * write per 64 MiB copied of a 1 GiB world (3%), and a crash loses at most that. */
#define SYNC_CHECKPOINT_BYTES (64ull << 20)

/* Paths a window names at most, so that pass.json stays small (a few tens of KiB). */
#define SYNC_WINDOW_FILES 256

/* A byte range of a file: `off` a multiple of MANIFEST_BLOCK. */
typedef struct sync_range {
    uint64_t off;
    uint64_t len;
} sync_range_t;

/* Where fetched bytes go (opaque): the transport hands it the bytes of the requested
 * ranges in order, in pieces of any size. Returns 0 or a negative MIG_E* code (the
 * transport then stops and returns it). */
typedef struct sync_sink sync_sink_t;
int sync_sink_write(sync_sink_t *s, const void *data, size_t len);

/* How a target reaches its source. Every call returns 0 or a negative MIG_E* code; a
 * buffer it returns is malloc'd and the caller frees it. The agent implements it over
 * HTTP (with the agents' shared token); tests and benches in process or over a socket.
 * A pass's run and a dirty_bytes query may call it from two threads at once. */
typedef struct sync_transport {
    void *ctx;
    /* The source's manifest (manifest.h wire format), with SHA-256s when `strong`. */
    int (*manifest)(void *ctx, int strong, unsigned char **buf, size_t *len);
    /* Block hashes of `paths[0..n)`: a partial manifest in wire format. */
    int (*blocks)(void *ctx, const char *const *paths, size_t n, unsigned char **buf, size_t *len);
    /* The bytes of `ranges[0..n)` of `path`, in order, all of them, into `sink`. */
    int (*fetch)(void *ctx, const char *path, const sync_range_t *ranges, size_t n, sync_sink_t *sink);
} sync_transport_t;

typedef struct sync_opts {
    const char *dir;       /* the server's directory; replaced by the final pass */
    const char *staging;   /* the staging tree: private, on dir's file system, same parent */
    const char *state_dir; /* an existing folder for pass.json and record.mf */
    uint32_t pass;         /* pass number: only grows (docs/DRIVERS.md) */
    int final;             /* verify every file and switch the tree in at the end */
    uint64_t checkpoint_bytes; /* 0: SYNC_CHECKPOINT_BYTES */
} sync_opts_t;

/* What GET /v1/sync/{id} reports, plus counts for benches and tests. */
typedef struct sync_progress {
    uint64_t bytes_total;   /* data bytes this pass copies (set once planned) */
    uint64_t bytes_done;    /* of them, written to staging */
    uint64_t meta_bytes;    /* manifest and block-hash bytes received */
    uint64_t files_changed; /* files the pass writes to */
    uint64_t hashed_bytes;  /* staging bytes this pass read for their SHA-256 (the end of a
                               pass before the final, or the final's verification) */
    uint64_t hash_reused_files; /* staging files whose recorded SHA-256 stood (stat unchanged) */
    uint32_t plan_ms, copy_ms, verify_ms, flush_ms; /* the last run's steps: the manifests and
                               block hashes; the copy, with the hashing of files written
                               whole beside it; the final's verification or the end of an
                               earlier pass's hashing; the switch (benches, logs) */
    int progress;           /* 0-100 */
    int done;               /* every byte copied (and, final, verified and switched) */
    char error[256];        /* why the last run stopped; "" when none */
} sync_progress_t;

typedef struct sync_pass sync_pass_t;

/* Opens pass `o->pass` from the state folder: a pass already done stays done; a pass
 * that stopped (error or crash) resumes; a new pass number starts a new pass on the
 * record. Refuses a pass number lower than the recorded one (MIG_EINVALID). *out is freed
 * with sync_pass_free. Returns 0 or MIG_E*. */
int sync_pass_open(const sync_opts_t *o, sync_pass_t **out);

/* Runs the pass to its end: 0 when done; otherwise a negative MIG_E* code with the reason
 * in the progress's `error` (MIG_EREFUSED for a hostile or unsafe manifest, MIG_EPROTO
 * for a verification failure, the transport's code for its failures), everything copied
 * so far kept for the next run. */
int sync_pass_run(sync_pass_t *p, const sync_transport_t *t);

/* As sync_pass_run; for a final pass, `strong` (a second transport to the same source, not
 * used by anything else meanwhile; NULL: as sync_pass_run) asks for the strong manifest on
 * a thread of its own while the pass plans on the stat manifest, copies and hashes its
 * staging files: the source's hashing and the target's run at once, not one after the
 * other (the final pass is the players' wait). The verification compares staging with
 * that strong manifest, so a source that changed between the two manifests fails it. */
int sync_pass_run_strong(sync_pass_t *p, const sync_transport_t *t, const sync_transport_t *strong);

/* A copy of the progress; safe while another thread runs the pass. */
void sync_pass_progress(sync_pass_t *p, sync_progress_t *out);

/* dirty_bytes of docs/DRIVERS.md: bytes of the blocks the source has written since this
 * pass began (its scan), i.e. what the next pass would copy if it began now: files new
 * since, grown bytes, and changed blocks of changed files against what this pass meant to
 * copy or has copied, compared by block hash (a recent mtime alone is not dirty). 0 before
 * the pass has scanned the source (it will copy what was written until then). Asks the
 * source for its manifest and the changed files' hashes; safe while another thread runs
 * the pass. */
int sync_pass_dirty_bytes(sync_pass_t *p, const sync_transport_t *t, uint64_t *out);

void sync_pass_free(sync_pass_t *p);

#endif
