/* manifest.h - the manifest of a server's directory for the world sync: every folder and
 * regular file with its relative path, size, mode, mtime and ctime (ns), optionally the
 * 64-bit XXH3 hash of each 4 KiB block and the file's strong hash (agent/strong.h: the
 * SHA-256 of its 32 KiB pieces' SHA-256s); its walk, its block and strong hashing, and its
 * wire format with strict validation.
 *
 * Wire format (all integers little-endian; one format for a source's answer, a file's
 * block list and the target's own record, so one parser guards them all):
 *
 *   header  "MIGMF\x02\0\0" (8 bytes, the last two reserved) | i64 scan_ns | u32 count
 *   entry   u16 path_len | path (path_len bytes, no NUL) | u32 mode | u64 size
 *           | i64 mtime_ns | i64 ctime_ns | u8 flags | [32 bytes strong hash if flags&STRONG]
 *           | u64 nhashes | nhashes x u64 XXH3 of blocks 0..nhashes-1
 * (version 1 carried the SHA-256 of the whole file: an agent refuses the other version's
 * manifest as such, so two versions never compare unlike hashes).
 *
 * Binary rather than JSON lines: a 1 GiB world has 262,144 blocks, 2 MiB of hashes in
 * binary and twice that in hex, and a delta pass must not send more than rsync does.
 * Entries are sorted by path bytes, strictly (no duplicates), each file's parent folder
 * listed before it, so a decoded manifest can be applied in order and searched by
 * bisection. The decoder refuses: symlinks and special files (mode other than a regular
 * file or folder, or setuid/setgid bits), absolute paths, "..", ".", empty segments, NUL
 * bytes, paths of PATH_MAX bytes or more and segments over NAME_MAX, sizes over
 * MANIFEST_MAX_SIZE, more hashes than the size has blocks, more than
 * MANIFEST_MAX_ENTRIES entries, truncated input and trailing bytes. */
#ifndef MIG_AGENT_MANIFEST_H
#define MIG_AGENT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Bytes of a block: the sector of an Anvil region file (.mca), the unit in which
 * Minecraft allocates and rewrites a chunk, so a re-saved chunk dirties whole blocks. */
#define MANIFEST_BLOCK 4096u

/* Largest file a manifest accepts (1 TiB): a region file holds at most 1,024 chunks of
 * 1 MiB; anything near this size is a hostile or broken manifest, not a world. */
#define MANIFEST_MAX_SIZE (1ull << 40)

/* Most entries a manifest holds: a large world has tens of thousands of region files;
 * a million bounds the memory a hostile manifest can make a parser allocate. */
#define MANIFEST_MAX_ENTRIES (1u << 20)

/* Window (ns) before a scan's start within which a file's mtime makes it "racy": the
 * kernel stamps mtimes at its tick, so a write just after the scan may leave the same
 * mtime as one just before. A racy entry never counts as unchanged (git's racy-clean
 * rule); 2 s covers any tick and a coarse file system's. */
#define MANIFEST_RACY_NS 2000000000ll

enum {
    MANIFEST_F_STRONG = 1, /* sha256 is set */
    MANIFEST_F_RACY = 2,   /* mtime within MANIFEST_RACY_NS of scan_ns: recheck next time */
};

/* What manifest_scan and manifest_hash_file compute beyond the stat of each file. */
enum {
    MANIFEST_SCAN_BLOCKS = 1, /* XXH3 of every 4 KiB block */
    MANIFEST_SCAN_STRONG = 2, /* the file's strong hash (agent/strong.h) */
    /* manifest_hash_file_cached only: the SHA-256 for the cache alone, so not computed when
     * the cache holds it for the file's stat already or would refuse it (the file is racy);
     * the entry's STRONG flag says whether it was */
    MANIFEST_SCAN_FILL = 4,
    /* with MANIFEST_SCAN_STRONG: keep each piece's SHA-256 in the entry (`pieces`) */
    MANIFEST_SCAN_PIECES = 8,
};

typedef struct manifest_entry {
    char *path;         /* relative to the root, validated; owned by the manifest */
    uint32_t mode;      /* S_IFREG or S_IFDIR with permission bits (07777 without setuid/gid) */
    uint64_t size;      /* bytes; 0 for a folder */
    int64_t mtime_ns;   /* modification time, ns since the epoch */
    int64_t ctime_ns;   /* status change time, ns since the epoch (not settable: detects a
                         * write that restored an mtime) */
    uint8_t flags;      /* MANIFEST_F_* */
    uint8_t sha256[32]; /* the file's strong hash when flags & MANIFEST_F_STRONG */
    uint64_t nhashes;   /* hashes known for blocks 0..nhashes-1 (0 when none were asked) */
    uint64_t *hashes;   /* hcap slots, owned; NULL when none allocated */
    uint64_t hcap;      /* slots of `hashes`: manifest_nblocks(size) after
                           manifest_entry_resize, only nhashes after manifest_decode, so a
                           decoded manifest never costs more memory than its own bytes */
    uint64_t dev, ino;  /* the file's identity where a scan or hash_file stat'ed it; 0 when
                           decoded (not in the wire format) */
    uint8_t (*pieces)[32]; /* the SHA-256 of each STRONG_PIECE when MANIFEST_SCAN_PIECES
                              computed them (or the target's record of staging kept them),
                              npieces of them; owned; not in the wire format */
    uint64_t npieces;
} manifest_entry_t;

typedef struct manifest {
    int64_t scan_ns;      /* the source's clock (CLOCK_REALTIME, ns) when its walk began */
    size_t n;             /* entries */
    size_t cap;           /* allocated entries */
    manifest_entry_t *e;  /* sorted by path once manifest_sort() or a decode has run */
} manifest_t;

/* A stat time in ns since the epoch, as entries hold them. */
static inline int64_t manifest_ns(struct timespec ts) {
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Blocks of a file of `size` bytes (the last one may be short). */
static inline uint64_t manifest_nblocks(uint64_t size) {
    return (size + MANIFEST_BLOCK - 1) / MANIFEST_BLOCK;
}

/* 64-bit XXH3 of one block's bytes (`n` up to MANIFEST_BLOCK). */
uint64_t manifest_block_hash(const void *p, size_t n);

/* 0 when `n` bytes of `p` are a path a manifest may hold (see the header comment);
 * MIG_EINVALID with a reason in `why` otherwise. */
int manifest_check_path(const char *p, size_t n, char *why, size_t whylen);

/* An empty manifest; NULL when out of memory. Free with manifest_free. */
manifest_t *manifest_new(void);
void manifest_free(manifest_t *m);

/* Frees what an entry owns (path, hashes, pieces); the entry itself is the manifest's. */
void manifest_entry_release(manifest_entry_t *e);

/* Appends an entry for `path` (copied), every other field zero; returns it (valid until
 * the next push) or NULL when out of memory. The path is not validated here. */
manifest_entry_t *manifest_push(manifest_t *m, const char *path);

/* Gives `e` room for all manifest_nblocks(e->size) hashes (kept ones stay, new slots 0,
 * nhashes clipped to the new count). Returns 0 or MIG_ENOMEM. */
int manifest_entry_resize(manifest_entry_t *e, uint64_t size);

/* Sorts the entries by path bytes. */
void manifest_sort(manifest_t *m);

/* The entry of `path` in a sorted manifest, or NULL. */
manifest_entry_t *manifest_find(const manifest_t *m, const char *path);

/* 1 when `now` is known unchanged against the record `rec` by its stat alone: same type,
 * mode, size, mtime and ctime, and `rec` is not racy. */
int manifest_entry_unchanged(const manifest_entry_t *rec, const manifest_entry_t *now);

/* Walks the directory `rootfd` (never following a symlink) into a new sorted manifest
 * (*out, caller frees), with the hashes `scan_flags` asks for. Refuses (MIG_EREFUSED,
 * the path in `why`) a symlink, a special file, a setuid/setgid file or a path the
 * format cannot carry; MIG_EIO or MIG_ENOMEM otherwise. */
int manifest_scan(int rootfd, int scan_flags, manifest_t **out, char *why, size_t whylen);

/* A cache of files' SHA-256 that manifest_scan_cached consults and fills, so that a strong
 * manifest re-hashes only what changed (the source's cache by file identity, the target's
 * record of its staging files by path: agent/sync.h). `get` returns 1 and the SHA-256 when
 * it holds one for `e`'s present stat (dev, ino, size, mtime, ctime, all equal); `put`
 * offers a SHA-256 just computed (`e->sha256`) from bytes read between a stat and an equal
 * stat after, the read having begun at `start_ns` (CLOCK_REALTIME); it must keep it only
 * when manifest_sha_trusted(e, start_ns). The counters are the scan's. */
typedef struct manifest_sha_cache {
    void *ctx;
    int (*get)(void *ctx, const manifest_entry_t *e, uint8_t sha256[32]);
    void (*put)(void *ctx, const manifest_entry_t *e, int64_t start_ns);
    uint64_t hits;          /* files whose SHA-256 came from the cache */
    uint64_t hashed_files;  /* files read and hashed */
    uint64_t hashed_bytes;  /* their bytes */
} manifest_sha_cache_t;

/* The racy-clean rule (git's index): a SHA-256 computed from a read that began at
 * `start_ns` may stand for the file's stat later only if its mtime and ctime are older
 * than start_ns by more than MANIFEST_RACY_NS. Otherwise a write in the same timestamp
 * tick as the read (or just after it) could leave the same stat over other bytes. */
static inline int manifest_sha_trusted(const manifest_entry_t *e, int64_t start_ns) {
    return e->mtime_ns < start_ns - MANIFEST_RACY_NS && e->ctime_ns < start_ns - MANIFEST_RACY_NS;
}

/* manifest_scan, with the SHA-256 of each file (MANIFEST_SCAN_STRONG alone) taken from
 * `c` when it holds it, and each one computed offered to it. `c` may be NULL. */
int manifest_scan_cached(int rootfd, int scan_flags, manifest_sha_cache_t *c, manifest_t **out,
                         char *why, size_t whylen);

/* manifest_hash_file, offering a SHA-256 it computes to `c` (may be NULL). */
int manifest_hash_file_cached(int rootfd, manifest_entry_t *e, int scan_flags,
                              manifest_sha_cache_t *c, char *why, size_t whylen);

/* (Re)reads the file `e->path` beneath `rootfd`: its stat into `e`, and the hashes
 * `scan_flags` asks for. Refuses what manifest_scan refuses. Returns 0 or MIG_E*. */
int manifest_hash_file(int rootfd, manifest_entry_t *e, int scan_flags, char *why, size_t whylen);

/* Encodes `m` (entries in their order) into a malloc'd buffer the caller frees.
 * Returns 0 or MIG_ENOMEM. */
int manifest_encode(const manifest_t *m, unsigned char **buf, size_t *len);

/* Flags of manifest_decode. */
enum {
    /* a subset of a tree (a source's answer for some files' blocks): parents need not be
     * listed; every other rule holds */
    MANIFEST_DECODE_PARTIAL = 1,
};

/* Decodes `len` bytes into a new manifest (*out, caller frees), validating every field
 * as the header comment says. Returns 0, or MIG_EINVALID with a reason in `why`, or
 * MIG_ENOMEM. */
int manifest_decode(const unsigned char *buf, size_t len, int decode_flags, manifest_t **out,
                    char *why, size_t whylen);

#endif
