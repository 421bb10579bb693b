/* test_sync.c - the world sync (agent/sync.c, sync_source.c) between two temp folders, with
 * the in-process source behind wrappers that count, fail, crash or tamper: full and delta
 * passes byte for byte, hostile sources refused, resuming after an error and after a
 * crash, the final pass's verification and atomic switch, dirty_bytes. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/strong.h"
#include "agent/sync.h"
#include "agent/sync_source.h"
#include "core/timefmt.h"
#include "core/err.h"
#include "suites.h"

#define B MANIFEST_BLOCK
#define TIMEOUT_S 60 /* each case copies a few hundred KiB; far from this even sanitized */

static char top[64], src[96], dir[96], staging[96], state[96];
static int srcfd = -1;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void fill(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)next_rand();
}

static void setup(void) {
    snprintf(top, sizeof top, "/tmp/mig-sync-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(src, sizeof src, "%s/src", top);
    snprintf(dir, sizeof dir, "%s/dir", top);
    snprintf(staging, sizeof staging, "%s/.dir.staging", top);
    snprintf(state, sizeof state, "%s/state", top);
    ck_assert_int_eq(mkdir(src, 0755), 0);
    ck_assert_int_eq(mkdir(state, 0700), 0);
    srcfd = open(src, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(srcfd, 0);
}

static void teardown(void) {
    close(srcfd);
    const char *base;
    int pfd = fsx_open_parent(top, &base);
    ck_assert_int_eq(fsx_remove_tree(pfd, base), 0);
    close(pfd);
}

/* Writes `n` bytes at `off` of src/`rel` (created with its folders). */
static void put_at(const char *rel, uint64_t off, const void *data, size_t n) {
    int fd = fsx_open_beneath(srcfd, rel, O_WRONLY | O_CREAT, 0644, 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, data, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void put_random(const char *rel, size_t n) {
    unsigned char *d = malloc(n ? n : 1);
    fill(d, n);
    put_at(rel, 0, d, n);
    free(d);
}

/* A small world: two region files of 64 sectors, one of 16 (a multiple of a block),
 * level.dat, a folder with nothing in it. */
static void make_world(void) {
    put_random("world/region/r.0.0.mca", 64 * B);
    put_random("world/region/r.0.1.mca", 64 * B);
    put_random("world/region/r.1.0.mca", 16 * B);
    put_random("world/level.dat", 1234);
    put_random("server.properties", 300);
    ck_assert_int_eq(mkdirat(srcfd, "world/datapacks", 0750), 0);
}

/* Sets every file's mtime in src an hour back, so no entry is "racy". */
static void age_world(void) {
    manifest_t *m;
    ck_assert_int_eq(manifest_scan(srcfd, 0, &m, NULL, 0), 0);
    struct timespec ts[2] = {{.tv_sec = time(NULL) - 3600}};
    ts[1] = ts[0];
    for (size_t i = 0; i < m->n; i++)
        ck_assert_int_eq(utimensat(srcfd, m->e[i].path, ts, AT_SYMLINK_NOFOLLOW), 0);
    manifest_free(m);
}

/* Asserts the trees at `a` and `b` hold the same entries, types, modes, sizes, SHA-256s
 * and file mtimes. */
static void assert_same_trees(const char *a, const char *b) {
    int fa = open(a, O_RDONLY | O_DIRECTORY), fb = open(b, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fa, 0);
    ck_assert_int_ge(fb, 0);
    manifest_t *ma, *mb;
    char why[200] = "";
    ck_assert_int_eq(manifest_scan(fa, MANIFEST_SCAN_STRONG, &ma, why, sizeof why), 0);
    ck_assert_int_eq(manifest_scan(fb, MANIFEST_SCAN_STRONG, &mb, why, sizeof why), 0);
    ck_assert_uint_eq(ma->n, mb->n);
    for (size_t i = 0; i < ma->n; i++) {
        ck_assert_str_eq(ma->e[i].path, mb->e[i].path);
        ck_assert_uint_eq(ma->e[i].mode, mb->e[i].mode);
        ck_assert_uint_eq(ma->e[i].size, mb->e[i].size);
        if ((ma->e[i].mode & S_IFMT) == S_IFREG) {
            ck_assert_msg(memcmp(ma->e[i].sha256, mb->e[i].sha256, 32) == 0, "%s differs", ma->e[i].path);
            ck_assert_int_eq(ma->e[i].mtime_ns, mb->e[i].mtime_ns);
        }
    }
    manifest_free(ma);
    manifest_free(mb);
    close(fa);
    close(fb);
}

/* ---- a source behind a wrapper ------------------------------------------------------------ */

typedef struct wrap {
    sync_source_t src;
    uint64_t bytes;       /* data bytes delivered */
    uint64_t fail_after;  /* deliver this many data bytes, then fail (0: never) */
    int crash;            /* with fail_after: _exit the process instead */
    const char *tamper;   /* flip a byte of this file's data */
    size_t blocks_files;  /* files whose block hashes were asked */
    unsigned char *hostile; /* answer this manifest instead (len hostile_len) */
    size_t hostile_len;
    size_t piece;         /* hand the sink pieces of this many bytes (0: as read) */
    const char *alloc_path; /* when fetched: staging's copy's 512-byte blocks, in alloc_blocks */
    long long alloc_blocks;
} wrap_t;

typedef struct emit_ctx {
    wrap_t *w;
    sync_sink_t *sink;
    int tamper;
} emit_ctx_t;

static int w_manifest(void *ctx, int strong, unsigned char **buf, size_t *len) {
    wrap_t *w = ctx;
    if (w->hostile != NULL) {
        *buf = malloc(w->hostile_len);
        memcpy(*buf, w->hostile, w->hostile_len);
        *len = w->hostile_len;
        return 0;
    }
    return sync_source_manifest(w->src.rootfd, strong, buf, len, w->src.why, sizeof w->src.why);
}

static int w_blocks(void *ctx, const char *const *paths, size_t n, unsigned char **buf, size_t *len) {
    wrap_t *w = ctx;
    w->blocks_files += n;
    return sync_source_blocks(w->src.rootfd, paths, n, buf, len, w->src.why, sizeof w->src.why);
}

static int w_emit(void *ctx, const void *data, size_t len) {
    emit_ctx_t *e = ctx;
    wrap_t *w = e->w;
    if (w->fail_after && w->bytes + len > w->fail_after) {
        size_t part = (size_t)(w->fail_after - w->bytes);
        if (part > 0)
            sync_sink_write(e->sink, data, part);
        w->bytes += part;
        if (w->crash)
            _exit(3); /* no clean-up, no save: as kill -9 */
        return MIG_EUNREACHABLE;
    }
    w->bytes += len;
    if (e->tamper && len > 0) {
        unsigned char *copy = malloc(len);
        memcpy(copy, data, len);
        copy[len / 2] ^= 0x5a;
        int rv = sync_sink_write(e->sink, copy, len);
        free(copy);
        e->tamper = 0;
        return rv;
    }
    for (size_t at = 0; w->piece > 0 && at < len; at += w->piece) {
        int rv = sync_sink_write(e->sink, (const char *)data + at, len - at < w->piece ? len - at : w->piece);
        if (rv != 0 || at + w->piece >= len)
            return rv;
    }
    return sync_sink_write(e->sink, data, len);
}

static int w_fetch(void *ctx, const char *path, const sync_range_t *r, size_t n, sync_sink_t *sink) {
    wrap_t *w = ctx;
    emit_ctx_t e = {w, sink, w->tamper != NULL && strcmp(w->tamper, path) == 0};
    if (w->alloc_path != NULL && strcmp(w->alloc_path, path) == 0) {
        char at[256];
        struct stat st;
        snprintf(at, sizeof at, "%s/%s", staging, path);
        w->alloc_blocks = stat(at, &st) == 0 ? (long long)st.st_blocks : -1;
    }
    return sync_source_read(w->src.rootfd, path, r, n, w_emit, &e);
}

static sync_transport_t transport(wrap_t *w) {
    memset(w, 0, sizeof *w);
    w->src.rootfd = srcfd;
    return (sync_transport_t){.ctx = w, .manifest = w_manifest, .blocks = w_blocks, .fetch = w_fetch};
}

/* Runs pass `pass` to its end through `t`; returns the run's code, progress in *pg. */
static int run_pass(uint32_t pass, int final, const sync_transport_t *t, sync_progress_t *pg,
                    uint64_t checkpoint) {
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = pass, .final = final,
                     .checkpoint_bytes = checkpoint};
    sync_pass_t *p;
    ck_assert_int_eq(sync_pass_open(&o, &p), 0);
    int rv = sync_pass_run(p, t);
    sync_pass_progress(p, pg);
    sync_pass_free(p);
    return rv;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- the cases ---------------------------------------------------------------------------- */

START_TEST(test_full_pass_then_final_pass_make_identical_trees) {
    make_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    ck_assert_int_eq(pg.done, 1);
    ck_assert_int_eq(pg.progress, 100);
    uint64_t world = 144 * B + 1234 + 300;
    ck_assert_uint_eq(pg.bytes_total, world);
    ck_assert_uint_eq(pg.bytes_done, world);
    ck_assert_uint_eq(w.bytes, world);
    ck_assert_uint_eq(w.blocks_files, 0); /* pass 1 hashes nothing on the source */
    ck_assert_str_eq(pg.error, "");
    assert_same_trees(src, staging);
    ck_assert(!exists(dir));
    /* the final pass: nothing changed, so no data; verified and switched into place */
    ck_assert_int_eq(run_pass(1000, 1, &t, &pg, 0), 0);
    ck_assert_uint_eq(pg.bytes_total, 0);
    assert_same_trees(src, dir);
    ck_assert(!exists(staging));
    /* a repeat of a done pass changes nothing */
    ck_assert_int_eq(run_pass(1000, 1, &t, &pg, 0), 0);
    ck_assert_int_eq(pg.done, 1);
    assert_same_trees(src, dir);
}
END_TEST

START_TEST(test_delta_pass_moves_only_changed_blocks) {
    make_world();
    age_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    /* 5 re-saved sectors of r.0.0 (two adjacent), an append to r.1.0, one file deleted,
     * one added */
    unsigned char blk[B];
    uint64_t sectors[] = {3, 4, 17, 40, 63};
    for (size_t i = 0; i < 5; i++) {
        fill(blk, B);
        put_at("world/region/r.0.0.mca", sectors[i] * B, blk, B);
    }
    fill(blk, B);
    put_at("world/region/r.1.0.mca", 16 * B, blk, 3000);
    ck_assert_int_eq(unlinkat(srcfd, "world/region/r.0.1.mca", 0), 0);
    put_random("world/playerdata/0d4f.dat", 2000);
    uint64_t changed = 5 * B + 3000 + 2000;

    /* dirty_bytes before the next pass: what it would copy */
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = 1};
    sync_pass_t *p;
    ck_assert_int_eq(sync_pass_open(&o, &p), 0);
    uint64_t dirty = 0;
    ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
    ck_assert_uint_eq(dirty, changed);
    sync_pass_free(p);

    transport(&w);
    ck_assert_int_eq(run_pass(2, 0, &t, &pg, 0), 0);
    ck_assert_uint_eq(pg.bytes_total, changed);
    ck_assert_uint_eq(w.bytes, changed);
    ck_assert_uint_eq(w.blocks_files, 2); /* only the two changed region files were hashed */
    ck_assert_uint_eq(pg.files_changed, 3);
    assert_same_trees(src, staging);
    char gone[160];
    snprintf(gone, sizeof gone, "%s/world/region/r.0.1.mca", staging);
    ck_assert(!exists(gone));

    /* nothing changed since: the final pass moves nothing and switches */
    transport(&w);
    ck_assert_int_eq(run_pass(1000, 1, &t, &pg, 0), 0);
    ck_assert_uint_eq(w.bytes, 0);
    assert_same_trees(src, dir);
}
END_TEST

START_TEST(test_file_larger_than_a_write_slice_in_odd_pieces_records_every_block) {
    /* 200 blocks and 777 bytes: several of the sink's slices, handed over in pieces that
     * split blocks; then one block in the middle and the last short one change */
    put_random("world/region/r.0.0.mca", 200 * B + 777);
    age_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    w.piece = 3 * B + 123;
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    ck_assert_uint_eq(w.bytes, 200 * B + 777);
    assert_same_trees(src, staging);
    unsigned char blk[B];
    fill(blk, B);
    put_at("world/region/r.0.0.mca", 130 * B, blk, B);
    put_at("world/region/r.0.0.mca", 200 * B + 10, blk, 5);
    transport(&w);
    w.piece = 1000;
    ck_assert_int_eq(run_pass(2, 0, &t, &pg, 0), 0);
    ck_assert_uint_eq(w.bytes, B + 777); /* had a block's hash been wrong, it came again */
    assert_same_trees(src, staging);
}
END_TEST

START_TEST(test_file_fetched_whole_has_its_blocks_before_its_bytes) {
    put_random("world/region/r.0.0.mca", 100 * B + 5);
    wrap_t w;
    sync_transport_t t = transport(&w);
    w.alloc_path = "world/region/r.0.0.mca";
    w.alloc_blocks = -1;
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    /* a full disk fails before the copy, not at writeback */
    ck_assert_int_ge(w.alloc_blocks * 512, 100 * B + 5);
    assert_same_trees(src, staging);
}
END_TEST

START_TEST(test_symlink_in_the_source_is_refused) {
    make_world();
    char p[160];
    snprintf(p, sizeof p, "%s/world/region/r.9.9.mca", src);
    ck_assert_int_eq(symlink("/etc/shadow", p), 0);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), MIG_EREFUSED);
    ck_assert_int_eq(pg.done, 0);
    ck_assert_uint_eq(w.bytes, 0);
}
END_TEST

START_TEST(test_hostile_manifest_with_dotdot_is_refused_and_nothing_written) {
    manifest_t *m = manifest_new();
    manifest_entry_t *e = manifest_push(m, "../escaped");
    e->mode = S_IFREG | 0644;
    e->size = 10;
    wrap_t w;
    sync_transport_t t = transport(&w);
    ck_assert_int_eq(manifest_encode(m, &w.hostile, &w.hostile_len), 0);
    manifest_free(m);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), MIG_EREFUSED);
    ck_assert_ptr_nonnull(strstr(pg.error, "\"..\""));
    char p[160];
    snprintf(p, sizeof p, "%s/escaped", top);
    ck_assert(!exists(p));
    free(w.hostile);
    /* a symlink entry, as a hostile source would claim one */
    m = manifest_new();
    e = manifest_push(m, "link");
    e->mode = S_IFLNK | 0777;
    transport(&w);
    ck_assert_int_eq(manifest_encode(m, &w.hostile, &w.hostile_len), 0);
    manifest_free(m);
    ck_assert_int_eq(run_pass(2, 0, &t, &pg, 0), MIG_EREFUSED);
    ck_assert_ptr_nonnull(strstr(pg.error, "not a plain file"));
    free(w.hostile);
}
END_TEST

START_TEST(test_failed_pass_resumes_where_it_stopped) {
    make_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    w.fail_after = 100 * B + 17; /* mid-way through r.0.1.mca */
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), MIG_EUNREACHABLE);
    ck_assert_int_eq(pg.done, 0);
    ck_assert_ptr_nonnull(strstr(pg.error, "fetching"));
    uint64_t world = 144 * B + 1234 + 300;
    /* the same pass again (as after POST /v1/sync of a pass that ended in error) */
    transport(&w);
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    ck_assert_int_eq(pg.done, 1);
    /* only what was not written before: 1,534 bytes of small files, r.0.0 and 35 whole
     * blocks of r.0.1 (the unfinished 36th came again) */
    ck_assert_uint_eq(w.bytes, world - 1534 - 99 * B);
    assert_same_trees(src, staging);
}
END_TEST

START_TEST(test_crashed_agent_resumes_without_losing_its_checkpoints) {
    make_world();
    uint64_t world = 144 * B + 1234 + 300;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        wrap_t w;
        sync_transport_t t = transport(&w);
        w.fail_after = 90 * B + 5;
        w.crash = 1;
        sync_progress_t pg;
        run_pass(1, 0, &t, &pg, 16 * B); /* checkpoints every 16 blocks: every file */
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 16 * B), 0);
    /* r.0.0 (64 blocks) was checkpointed; r.0.1's 26 written blocks were re-hashed from
     * staging after the crash: at most the unfinished block comes again */
    ck_assert_uint_le(w.bytes, world - 89 * B);
    assert_same_trees(src, staging);
    /* and the final pass verifies it all */
    transport(&w);
    ck_assert_int_eq(run_pass(1000, 1, &t, &pg, 0), 0);
    assert_same_trees(src, dir);
}
END_TEST

START_TEST(test_final_pass_switches_atomically_over_the_old_tree) {
    make_world();
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char p[160];
    snprintf(p, sizeof p, "%s/old-only.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("old", f);
    fclose(f);
    struct stat before;
    ck_assert_int_eq(stat(dir, &before), 0);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 1, &t, &pg, 0), 0); /* pass 1 may be the final one */
    assert_same_trees(src, dir);
    ck_assert(!exists(p));
    ck_assert(!exists(staging));
    struct stat after;
    ck_assert_int_eq(stat(dir, &after), 0);
    ck_assert_uint_ne(after.st_ino, before.st_ino); /* a new tree put in place, not edited */
    snprintf(p, sizeof p, "%s/.dir.old", top);
    ck_assert(!exists(p));
}
END_TEST

START_TEST(test_tampered_block_fails_verification_and_keeps_the_old_tree) {
    make_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char p[160];
    snprintf(p, sizeof p, "%s/old-only.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("old", f);
    fclose(f);
    /* a changed sector, delivered with one byte flipped on its way */
    unsigned char blk[B];
    fill(blk, B);
    put_at("world/region/r.0.1.mca", 9 * B, blk, B);
    transport(&w);
    w.tamper = "world/region/r.0.1.mca";
    ck_assert_int_eq(run_pass(1000, 1, &t, &pg, 0), MIG_EPROTO);
    ck_assert_ptr_nonnull(strstr(pg.error, "verification failed: world/region/r.0.1.mca"));
    ck_assert_int_eq(pg.done, 0);
    ck_assert(exists(p)); /* the old tree untouched */
    ck_assert(exists(staging));
    /* the retry, honest: copies the file whose record was dropped, and switches */
    transport(&w);
    ck_assert_int_eq(run_pass(1000, 1, &t, &pg, 0), 0);
    ck_assert_uint_eq(w.bytes, 64 * B);
    assert_same_trees(src, dir);
}
END_TEST

START_TEST(test_lower_pass_number_refused) {
    make_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(5, 0, &t, &pg, 0), 0);
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = 4};
    sync_pass_t *p = NULL;
    ck_assert_int_eq(sync_pass_open(&o, &p), MIG_EINVALID);
    ck_assert_ptr_null(p);
}
END_TEST

/* A file rewritten just before a pass (so "racy" at its scan: its mtime within 2 s) and
 * not again: the pass copied exactly its present blocks, so nothing is dirty after it,
 * asked of the engine that ran it or of the pass reopened from disk. */
START_TEST(test_file_rewritten_just_before_a_pass_is_not_dirty_after_it) {
    make_world();
    age_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    unsigned char blk[B];
    for (uint64_t s = 0; s < 4; s++) {
        fill(blk, B);
        put_at("world/region/r.0.0.mca", (s * 13 % 64) * B, blk, B);
    }
    fill(blk, 40);
    put_at("world/level.dat", 1234, blk, 40); /* an append: a grown last block */
    for (uint32_t pass = 2; pass <= 3; pass++) {
        sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = pass, .final = pass == 3};
        sync_pass_t *p;
        ck_assert_int_eq(sync_pass_open(&o, &p), 0);
        ck_assert_int_eq(sync_pass_run(p, &t), 0);
        uint64_t dirty = 1;
        ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
        ck_assert_uint_eq(dirty, 0);
        sync_pass_free(p);
        ck_assert_int_eq(sync_pass_open(&o, &p), 0);
        dirty = 1;
        ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
        ck_assert_uint_eq(dirty, 0);
        sync_pass_free(p);
    }
    assert_same_trees(src, dir);
}
END_TEST

/* dirty_bytes counts what was written since *this* pass began: a pass opened but not yet
 * planned will copy whatever the source wrote before its scan, so it reports 0, not the
 * delta since the previous pass (which the previous pass's dirty_bytes reports). */
START_TEST(test_pass_not_yet_planned_has_no_dirty_bytes) {
    make_world();
    age_world();
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    unsigned char blk[B];
    fill(blk, B);
    put_at("world/region/r.0.0.mca", 5 * B, blk, B);
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = 1};
    sync_pass_t *p;
    uint64_t dirty = 0;
    ck_assert_int_eq(sync_pass_open(&o, &p), 0);
    ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
    ck_assert_uint_eq(dirty, B); /* pass 1, done: the block written since it began */
    sync_pass_free(p);
    o.pass = 2;
    ck_assert_int_eq(sync_pass_open(&o, &p), 0);
    dirty = 1;
    ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
    ck_assert_uint_eq(dirty, 0);
    ck_assert_int_eq(sync_pass_run(p, &t), 0);
    sync_pass_progress(p, &pg);
    ck_assert_uint_eq(pg.bytes_total, B);
    sync_pass_free(p);
}
END_TEST

/* ---- hashing in proportion to the change (sync.h, "Verifying") ---------------------------- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Waits until every file of the folder `fd` is older than the racy window (its mtime and
 * ctime more than MANIFEST_RACY_NS in the past), the condition for a SHA-256 to be kept:
 * waits on the clock passing a known instant, not for a guessed while. */
static void wait_past_racy(int fd) {
    manifest_t *m;
    ck_assert_int_eq(manifest_scan(fd, 0, &m, NULL, 0), 0);
    int64_t newest = 0;
    for (size_t i = 0; i < m->n; i++) {
        newest = m->e[i].mtime_ns > newest ? m->e[i].mtime_ns : newest;
        newest = m->e[i].ctime_ns > newest ? m->e[i].ctime_ns : newest;
    }
    manifest_free(m);
    while (now_ns() <= newest + MANIFEST_RACY_NS + 1000000)
        timefmt_sleep_ms(20);
}

#define WORLD_FILES 5

START_TEST(test_final_pass_after_a_quiet_world_hashes_no_unchanged_file_on_either_side) {
    sync_source_cache_clear();
    make_world();
    wait_past_racy(srcfd);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    sync_source_stats_t s0, s1;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    /* pass 1 read every file whole: their SHA-256s are cached on the source */
    sync_source_stats(&s0);
    ck_assert_uint_eq(s0.sha_filled, WORLD_FILES);
    ck_assert_uint_eq(s0.sha_cached, WORLD_FILES);
    /* and the end of pass 1 hashed staging (what it wrote), once, so the record holds
     * every file */
    uint64_t world = 144 * B + 1234 + 300;
    ck_assert_uint_eq(pg.hashed_bytes, world);
    /* by the thread beside the copy (sync_hash.c): the pass's last scan found them standing */
    ck_assert_uint_eq(pg.hash_reused_files, WORLD_FILES);
    ck_assert_int_eq(run_pass(2, 1, &t, &pg, 0), 0);
    sync_source_stats(&s1);
    ck_assert_uint_eq(pg.bytes_total, 0);
    ck_assert_uint_eq(s1.sha_hashed_files - s0.sha_hashed_files, 0); /* source: nothing read */
    ck_assert_uint_eq(s1.sha_hits - s0.sha_hits, WORLD_FILES);
    ck_assert_uint_eq(pg.hashed_bytes, 0); /* target: nothing read */
    ck_assert_uint_eq(pg.hash_reused_files, WORLD_FILES);
    assert_same_trees(src, dir);
}
END_TEST

START_TEST(test_final_pass_hashes_only_the_file_changed_since_the_last_pass) {
    sync_source_cache_clear();
    make_world();
    wait_past_racy(srcfd);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    sync_source_stats_t s0, s1;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    unsigned char blk[B];
    fill(blk, B);
    put_at("world/region/r.0.1.mca", 9 * B, blk, B);
    sync_source_stats(&s0);
    ck_assert_int_eq(run_pass(2, 1, &t, &pg, 0), 0);
    sync_source_stats(&s1);
    ck_assert_uint_eq(pg.bytes_total, B);
    ck_assert_uint_eq(s1.sha_hashed_files - s0.sha_hashed_files, 1);
    ck_assert_uint_eq(s1.sha_hashed_bytes - s0.sha_hashed_bytes, 64 * B);
    ck_assert_uint_eq(s1.sha_hits - s0.sha_hits, WORLD_FILES - 1);
    /* the target: the one piece (32 KiB, agent/strong.h) of the one staging file the pass
     * wrote, hashed after its write; every file's record then stands at the verification */
    ck_assert_uint_eq(pg.hashed_bytes, STRONG_PIECE);
    ck_assert_uint_eq(pg.hash_reused_files, WORLD_FILES);
    assert_same_trees(src, dir);
}
END_TEST

/* Pieces after a size change: r.0.0.mca grows by a block and a half (its last piece and
 * a new one), r.0.1.mca is cut to 40 blocks and a byte (its new last piece is short), a
 * block in the middle of r.1.0.mca changes. Pass 2 hashes again only those pieces; the
 * final pass then finds every record standing (nothing read) and its verification
 * against the source's strong hashes passes: the kept pieces add up to the right roots. */
START_TEST(test_grown_shrunk_and_patched_files_rehash_only_their_changed_pieces) {
    make_world();
    wait_past_racy(srcfd);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    unsigned char blk[2 * B];
    fill(blk, sizeof blk);
    put_at("world/region/r.0.0.mca", 64 * B, blk, B + B / 2);
    int fd = fsx_open_beneath(srcfd, "world/region/r.0.1.mca", O_WRONLY, 0, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 40 * B + 1), 0);
    close(fd);
    put_at("world/region/r.1.0.mca", 9 * B, blk, B);
    ck_assert_int_eq(run_pass(2, 0, &t, &pg, 0), 0);
    /* r.0.0: piece 8 (new); r.0.1: piece 5 (blocks 40 and the byte); r.1.0: piece 1 */
    ck_assert_uint_eq(pg.hashed_bytes, (B + B / 2) + 1 + STRONG_PIECE);
    ck_assert_int_eq(run_pass(3, 1, &t, &pg, 0), 0);
    ck_assert_uint_eq(pg.hashed_bytes, 0);
    ck_assert_uint_eq(pg.hash_reused_files, WORLD_FILES);
    assert_same_trees(src, dir);
}
END_TEST

/* verified.bin vouches for staging bytes that were not synced to disk: it holds within the
 * boot that wrote it only. One written in another boot (its boot id changed here, as a
 * power loss and restart would) is not trusted: the final pass hashes every staging file
 * again, and still switches the same tree. */
START_TEST(test_staging_hashes_recorded_before_a_reboot_are_not_trusted) {
    make_world();
    wait_past_racy(srcfd);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    char path[160];
    snprintf(path, sizeof path, "%s/verified.bin", state);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char id[37] = {0};
    ck_assert_int_eq(pread(fd, id, 36, 8), 36);
    int bfd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
    char now[37] = {0};
    ck_assert_int_eq(read(bfd, now, 36), 36);
    close(bfd);
    ck_assert_str_eq(id, now); /* written in this boot */
    const char *other = "00000000-0000-4000-8000-000000000000";
    ck_assert_int_eq(pwrite(fd, other, 36, 8), 36);
    close(fd);
    ck_assert_int_eq(run_pass(2, 1, &t, &pg, 0), 0);
    ck_assert_uint_eq(pg.hashed_bytes, 144 * B + 1234 + 300); /* the whole world */
    ck_assert_uint_eq(pg.hash_reused_files, 0);
    assert_same_trees(src, dir);
}
END_TEST

/* A staging file changed behind the agent's back (same size, its mtime set back) keeps
 * nothing but its ctime changed: the final verification hashes it again, fails, and leaves
 * the directory untouched; the next final pass copies the file again and switches. */
START_TEST(test_staging_file_corrupted_behind_the_agent_is_caught_by_the_final_verification) {
    make_world();
    wait_past_racy(srcfd);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    int sfd = open(staging, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(sfd, 0);
    struct stat st;
    ck_assert_int_eq(fstatat(sfd, "world/region/r.0.0.mca", &st, 0), 0);
    int fd = fsx_open_beneath(sfd, "world/region/r.0.0.mca", O_RDWR, 0, 0);
    ck_assert_int_ge(fd, 0);
    unsigned char c;
    ck_assert_int_eq(pread(fd, &c, 1, 7 * B + 5), 1);
    c ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &c, 1, 7 * B + 5), 1);
    close(fd);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ck_assert_int_eq(utimensat(sfd, "world/region/r.0.0.mca", ts, AT_SYMLINK_NOFOLLOW), 0);
    struct stat st2;
    ck_assert_int_eq(fstatat(sfd, "world/region/r.0.0.mca", &st2, 0), 0);
    ck_assert_int_eq(st2.st_size, st.st_size);
    ck_assert_int_eq(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
    ck_assert_int_eq(st2.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
    close(sfd);
    ck_assert_int_eq(run_pass(2, 1, &t, &pg, 0), MIG_EPROTO);
    ck_assert_msg(strstr(pg.error, "world/region/r.0.0.mca") != NULL, "%s", pg.error);
    ck_assert_uint_eq(pg.hashed_bytes, 64 * B); /* only the file whose ctime moved */
    ck_assert(!exists(dir));
    ck_assert_int_eq(run_pass(3, 1, &t, &pg, 0), 0);
    assert_same_trees(src, dir);
}
END_TEST

/* The racy-clean rule on the source: a file hashed within MANIFEST_RACY_NS of its last
 * change is not cached, so the next strong manifest hashes it again even when a rewrite
 * in the same second left its size and mtime as they were; once old enough, it is. */
START_TEST(test_source_file_changed_within_the_second_of_its_hash_is_hashed_again) {
    sync_source_cache_clear();
    put_random("level.dat", 3 * B);
    unsigned char *buf;
    size_t len;
    manifest_t *m1, *m2, *m3;
    sync_source_stats_t s0, s1, s2, s3;
    char why[200] = "";
    sync_source_stats(&s0);
    ck_assert_int_eq(sync_source_manifest(srcfd, 1, &buf, &len, why, sizeof why), 0);
    ck_assert_int_eq(manifest_decode(buf, len, 0, &m1, why, sizeof why), 0);
    free(buf);
    sync_source_stats(&s1);
    ck_assert_uint_eq(s1.sha_hashed_files - s0.sha_hashed_files, 1);
    ck_assert_uint_eq(s1.sha_cached, 0); /* racy: not kept */
    struct stat st;
    ck_assert_int_eq(fstatat(srcfd, "level.dat", &st, 0), 0);
    put_random("level.dat", 3 * B); /* same size, other bytes, at once */
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ck_assert_int_eq(utimensat(srcfd, "level.dat", ts, 0), 0);
    ck_assert_int_eq(sync_source_manifest(srcfd, 1, &buf, &len, why, sizeof why), 0);
    ck_assert_int_eq(manifest_decode(buf, len, 0, &m2, why, sizeof why), 0);
    free(buf);
    sync_source_stats(&s2);
    ck_assert_uint_eq(s2.sha_hashed_files - s1.sha_hashed_files, 1);
    ck_assert_uint_eq(s2.sha_hits - s1.sha_hits, 0);
    ck_assert_int_eq(m2->e[0].mtime_ns, m1->e[0].mtime_ns);
    ck_assert_msg(memcmp(m1->e[0].sha256, m2->e[0].sha256, 32) != 0, "the rewrite went unseen");
    /* past the window, a strong manifest keeps it, and the next one reads nothing */
    wait_past_racy(srcfd);
    ck_assert_int_eq(sync_source_manifest(srcfd, 1, &buf, &len, why, sizeof why), 0);
    free(buf);
    sync_source_stats(&s2);
    ck_assert_uint_eq(s2.sha_cached, 1);
    ck_assert_int_eq(sync_source_manifest(srcfd, 1, &buf, &len, why, sizeof why), 0);
    ck_assert_int_eq(manifest_decode(buf, len, 0, &m3, why, sizeof why), 0);
    free(buf);
    sync_source_stats(&s3);
    ck_assert_uint_eq(s3.sha_hits - s2.sha_hits, 1);
    ck_assert_uint_eq(s3.sha_hashed_files - s2.sha_hashed_files, 0);
    ck_assert(memcmp(m2->e[0].sha256, m3->e[0].sha256, 32) == 0);
    manifest_free(m1);
    manifest_free(m2);
    manifest_free(m3);
}
END_TEST

/* The source fills its cache from block-hash calls once per version of a file: dirty_bytes,
 * asked again and again while a pass waits, hashes a changed file's SHA-256 the first time
 * only, and never for a file too recent for the cache to keep. */
START_TEST(test_repeated_dirty_bytes_fill_the_source_cache_once_per_file_version) {
    sync_source_cache_clear();
    make_world();
    wait_past_racy(srcfd);
    wrap_t w;
    sync_transport_t t = transport(&w);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    unsigned char blk[B];
    fill(blk, B);
    put_at("world/region/r.0.0.mca", 2 * B, blk, B);
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = 1};
    sync_pass_t *p;
    ck_assert_int_eq(sync_pass_open(&o, &p), 0);
    sync_source_stats_t s0, s1, s2;
    uint64_t dirty = 0;
    sync_source_stats(&s0);
    ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0); /* racy: no SHA-256 */
    ck_assert_uint_eq(dirty, B);
    sync_source_stats(&s1);
    ck_assert_uint_eq(s1.sha_filled, s0.sha_filled);
    wait_past_racy(srcfd);
    ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
    ck_assert_int_eq(sync_pass_dirty_bytes(p, &t, &dirty), 0);
    ck_assert_uint_eq(dirty, B);
    sync_source_stats(&s2);
    ck_assert_uint_eq(s2.sha_filled - s1.sha_filled, 1);
    sync_pass_free(p);
}
END_TEST

/* The final pass with the strong manifest asked on a second transport while it copies and
 * hashes (sync_pass_run_strong, as the agent runs it): it switches the same tree in; and a
 * strong manifest that is not the tree the pass copied (a source changed between the two)
 * fails the verification and switches nothing in. */
static int run_final_strong(uint32_t pass, const sync_transport_t *t, const sync_transport_t *strong,
                            sync_progress_t *pg) {
    sync_opts_t o = {.dir = dir, .staging = staging, .state_dir = state, .pass = pass, .final = 1};
    sync_pass_t *p;
    ck_assert_int_eq(sync_pass_open(&o, &p), 0);
    int rv = sync_pass_run_strong(p, t, strong);
    sync_pass_progress(p, pg);
    sync_pass_free(p);
    return rv;
}

START_TEST(test_final_pass_with_the_strong_manifest_asked_in_parallel_switches_the_same_tree) {
    make_world();
    wait_past_racy(srcfd);
    wrap_t w, w2;
    sync_transport_t t = transport(&w), t2 = transport(&w2);
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    unsigned char blk[B];
    fill(blk, B);
    put_at("world/region/r.1.0.mca", 3 * B, blk, B);
    ck_assert_int_eq(run_final_strong(1000, &t, &t2, &pg), 0);
    ck_assert_uint_eq(pg.bytes_total, B);
    ck_assert_uint_eq(pg.hashed_bytes, STRONG_PIECE); /* the piece written */
    assert_same_trees(src, dir);
}
END_TEST

START_TEST(test_final_pass_whose_parallel_strong_manifest_differs_fails_and_switches_nothing) {
    make_world();
    wait_past_racy(srcfd);
    /* another tree: the world with other bytes in level.dat */
    char other[128];
    snprintf(other, sizeof other, "%s/other", top);
    ck_assert_int_eq(mkdir(other, 0755), 0);
    int ofd = open(other, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(ofd, 0);
    manifest_t *m;
    ck_assert_int_eq(manifest_scan(srcfd, 0, &m, NULL, 0), 0);
    for (size_t i = 0; i < m->n; i++) {
        if ((m->e[i].mode & S_IFMT) == S_IFDIR) {
            ck_assert_int_eq(mkdirat(ofd, m->e[i].path, m->e[i].mode & 07777), 0);
            continue;
        }
        unsigned char *d = malloc(m->e[i].size);
        int fd = fsx_open_beneath(srcfd, m->e[i].path, O_RDONLY, 0, 0);
        ck_assert_int_eq(pread(fd, d, m->e[i].size, 0), (ssize_t)m->e[i].size);
        close(fd);
        if (strcmp(m->e[i].path, "world/level.dat") == 0)
            d[17] ^= 0x5a;
        fd = fsx_open_beneath(ofd, m->e[i].path, O_WRONLY | O_CREAT, m->e[i].mode & 07777, 0);
        ck_assert_int_eq(pwrite(fd, d, m->e[i].size, 0), (ssize_t)m->e[i].size);
        close(fd);
        free(d);
    }
    manifest_free(m);
    wrap_t w, w2;
    sync_transport_t t = transport(&w), t2 = transport(&w2);
    w2.src.rootfd = ofd;
    sync_progress_t pg;
    ck_assert_int_eq(run_pass(1, 0, &t, &pg, 0), 0);
    ck_assert_int_eq(run_final_strong(1000, &t, &t2, &pg), MIG_EPROTO);
    ck_assert_msg(strstr(pg.error, "world/level.dat") != NULL, "%s", pg.error);
    ck_assert(!exists(dir));
    close(ofd);
}
END_TEST

Suite *suite_sync(void) {
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("passes");
    tcase_set_timeout(tc, TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_full_pass_then_final_pass_make_identical_trees);
    tcase_add_test(tc, test_delta_pass_moves_only_changed_blocks);
    tcase_add_test(tc, test_file_larger_than_a_write_slice_in_odd_pieces_records_every_block);
    tcase_add_test(tc, test_file_fetched_whole_has_its_blocks_before_its_bytes);
    tcase_add_test(tc, test_symlink_in_the_source_is_refused);
    tcase_add_test(tc, test_hostile_manifest_with_dotdot_is_refused_and_nothing_written);
    tcase_add_test(tc, test_failed_pass_resumes_where_it_stopped);
    tcase_add_test(tc, test_crashed_agent_resumes_without_losing_its_checkpoints);
    tcase_add_test(tc, test_final_pass_switches_atomically_over_the_old_tree);
    tcase_add_test(tc, test_tampered_block_fails_verification_and_keeps_the_old_tree);
    tcase_add_test(tc, test_lower_pass_number_refused);
    tcase_add_test(tc, test_file_rewritten_just_before_a_pass_is_not_dirty_after_it);
    tcase_add_test(tc, test_pass_not_yet_planned_has_no_dirty_bytes);
    tcase_add_test(tc, test_final_pass_after_a_quiet_world_hashes_no_unchanged_file_on_either_side);
    tcase_add_test(tc, test_final_pass_hashes_only_the_file_changed_since_the_last_pass);
    tcase_add_test(tc, test_staging_file_corrupted_behind_the_agent_is_caught_by_the_final_verification);
    tcase_add_test(tc, test_staging_hashes_recorded_before_a_reboot_are_not_trusted);
    tcase_add_test(tc, test_grown_shrunk_and_patched_files_rehash_only_their_changed_pieces);
    tcase_add_test(tc, test_source_file_changed_within_the_second_of_its_hash_is_hashed_again);
    tcase_add_test(tc, test_repeated_dirty_bytes_fill_the_source_cache_once_per_file_version);
    tcase_add_test(tc, test_final_pass_with_the_strong_manifest_asked_in_parallel_switches_the_same_tree);
    tcase_add_test(tc, test_final_pass_whose_parallel_strong_manifest_differs_fails_and_switches_nothing);
    suite_add_tcase(s, tc);
    return s;
}
