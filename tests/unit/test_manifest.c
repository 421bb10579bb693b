/* test_manifest.c - the world sync's manifest (agent/manifest.c): paths it refuses, its
 * wire format byte for byte and under hostile input, and the hashes of small files in a
 * temp dir. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/strong.h"
#include "core/err.h"
#include "suites.h"

/* Expects manifest_check_path to refuse `p` with a reason containing `words`. */
static void expect_bad_path(const char *p, size_t n, const char *words) {
    char why[160] = "";
    ck_assert_msg(manifest_check_path(p, n, why, sizeof why) == MIG_EINVALID, "accepted %.*s", (int)n, p);
    ck_assert_msg(strstr(why, words) != NULL, "\"%s\" lacks \"%s\"", why, words);
}

START_TEST(test_paths_refused_dotdot_absolute_empty_nul_long) {
    ck_assert_int_eq(manifest_check_path("level.dat", 9, NULL, 0), 0);
    ck_assert_int_eq(manifest_check_path("region/r.0.0.mca", 16, NULL, 0), 0);
    ck_assert_int_eq(manifest_check_path("a..b/.c/..d", 11, NULL, 0), 0); /* dots inside names are names */
    expect_bad_path("", 0, "0 bytes");
    expect_bad_path("/etc/passwd", 11, "absolute");
    expect_bad_path("..", 2, "\"..\"");
    expect_bad_path("region/../../etc", 16, "\"..\"");
    expect_bad_path("./level.dat", 11, "\".\"");
    expect_bad_path("a//b", 4, "empty segment");
    expect_bad_path("a/", 2, "empty segment");
    expect_bad_path("a\0b", 3, "NUL");
    char *longp = malloc(PATH_MAX + 1);
    memset(longp, 'a', PATH_MAX + 1);
    for (int i = 100; i < PATH_MAX; i += 100)
        longp[i] = '/';
    expect_bad_path(longp, PATH_MAX, "bytes");
    memset(longp, 'b', NAME_MAX + 1);
    expect_bad_path(longp, NAME_MAX + 1, "segment of 256 bytes");
    free(longp);
}
END_TEST

/* A manifest of a folder "region", a file "region/r.0.0.mca" with two block hashes and a
 * SHA-256, and a file "z" without hashes; the caller frees. */
static manifest_t *sample(void) {
    manifest_t *m = manifest_new();
    m->scan_ns = 1700000000123456789ll;
    manifest_entry_t *e = manifest_push(m, "region");
    e->mode = S_IFDIR | 0755;
    e = manifest_push(m, "region/r.0.0.mca");
    e->mode = S_IFREG | 0644;
    ck_assert_int_eq(manifest_entry_resize(e, 5000), 0);
    e->mtime_ns = 1700000000000000001ll;
    e->ctime_ns = 1700000000000000002ll;
    e->flags = MANIFEST_F_STRONG;
    memset(e->sha256, 0xab, 32);
    e->hashes[0] = 0x0102030405060708ull;
    e->hashes[1] = 0x1112131415161718ull;
    e->nhashes = 2;
    e = manifest_push(m, "z");
    e->mode = S_IFREG | 0600;
    e->size = 3;
    return m;
}

static void encode(const manifest_t *m, unsigned char **buf, size_t *len) {
    ck_assert_int_eq(manifest_encode(m, buf, len), 0);
}

START_TEST(test_encode_is_the_documented_layout_and_decodes_back) {
    manifest_t *m = sample(), *d = NULL;
    unsigned char *buf;
    size_t len;
    encode(m, &buf, &len);
    /* header 20; "region": 39+6; r.0.0.mca: 39+16+32+16; "z": 39+1 */
    ck_assert_uint_eq(len, 20 + 45 + 103 + 40);
    ck_assert_int_eq(memcmp(buf, "MIGMF\x02\0\0", 8), 0);
    ck_assert_uint_eq(buf[8], 0x15); /* scan_ns little-endian: 1700000000123456789 = 0x1797...15 */
    ck_assert_uint_eq(buf[16], 3);   /* count */
    ck_assert_uint_eq(buf[20], 6);   /* path_len of "region" */
    ck_assert_int_eq(memcmp(buf + 22, "region", 6), 0);
    ck_assert_uint_eq(buf[28] | buf[29] << 8 | buf[30] << 16 | buf[31] << 24, S_IFDIR | 0755);
    char why[160] = "";
    ck_assert_int_eq(manifest_decode(buf, len, 0, &d, why, sizeof why), 0);
    ck_assert_uint_eq(d->n, 3);
    ck_assert_int_eq(d->scan_ns, m->scan_ns);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(d->e[i].path, m->e[i].path);
        ck_assert_uint_eq(d->e[i].mode, m->e[i].mode);
        ck_assert_uint_eq(d->e[i].size, m->e[i].size);
        ck_assert_int_eq(d->e[i].mtime_ns, m->e[i].mtime_ns);
        ck_assert_int_eq(d->e[i].ctime_ns, m->e[i].ctime_ns);
        ck_assert_uint_eq(d->e[i].nhashes, m->e[i].nhashes);
    }
    ck_assert_int_eq(memcmp(d->e[1].sha256, m->e[1].sha256, 32), 0);
    ck_assert_uint_eq(d->e[1].hashes[1], 0x1112131415161718ull);
    ck_assert_ptr_eq(manifest_find(d, "z"), &d->e[2]);
    ck_assert_ptr_null(manifest_find(d, "y"));
    /* encode(decode(x)) == x */
    unsigned char *again;
    size_t len2;
    encode(d, &again, &len2);
    ck_assert_uint_eq(len2, len);
    ck_assert_int_eq(memcmp(again, buf, len), 0);
    free(again);
    free(buf);
    manifest_free(m);
    manifest_free(d);
}
END_TEST

/* Expects the decode of `m` (encoded as is, the encoder does not validate) refused with
 * a reason containing `words`. */
static void expect_refused(const manifest_t *m, int flags, const char *words) {
    unsigned char *buf;
    size_t len;
    encode(m, &buf, &len);
    manifest_t *d = (manifest_t *)1;
    char why[200] = "";
    ck_assert_int_eq(manifest_decode(buf, len, flags, &d, why, sizeof why), MIG_EINVALID);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(why, words) != NULL, "\"%s\" lacks \"%s\"", why, words);
    free(buf);
}

/* `sample()` with entry `i`'s path, mode or size changed. */
static manifest_t *with(size_t i, const char *path, uint32_t mode, uint64_t size) {
    manifest_t *m = sample();
    if (path != NULL) {
        free(m->e[i].path);
        m->e[i].path = strdup(path);
    }
    if (mode != 0)
        m->e[i].mode = mode;
    if (size != 0)
        m->e[i].size = size;
    return m;
}

START_TEST(test_decode_refuses_symlinks_special_files_and_escapes) {
    struct {
        size_t i;
        const char *path;
        uint32_t mode;
        uint64_t size;
        const char *words;
    } cases[] = {
        {2, NULL, S_IFLNK | 0777, 0, "not a plain file"},
        {2, NULL, S_IFCHR | 0600, 0, "not a plain file"},
        {2, NULL, S_IFIFO | 0600, 0, "not a plain file"},
        {2, NULL, S_IFSOCK | 0600, 0, "not a plain file"},
        {2, NULL, S_IFREG | S_ISUID | 0755, 0, "not a plain file"},
        {2, NULL, S_IFREG | S_ISGID | 0755, 0, "not a plain file"},
        {2, "../../etc/cron.d/x", 0, 0, "\"..\""},
        {2, "region/../../x", 0, 0, "\"..\""},
        {2, "/etc/passwd", 0, 0, "absolute"},
        {2, "zz//x", 0, 0, "empty segment"},
        {2, NULL, 0, MANIFEST_MAX_SIZE + 1, "size"},
        {0, NULL, 0, 4096, "size"},              /* a folder with a size */
        {2, "a", 0, 0, "out of order"},          /* after "region/..." */
        {2, "region/r.0.0.mca", 0, 0, "repeated"},
        {2, "zz/x", 0, 0, "without its folder"}, /* its folder not listed */
        {1, "z/r.0.0.mca", 0, 0, "without its folder"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        manifest_t *m = with(cases[c].i, cases[c].path, cases[c].mode, cases[c].size);
        expect_refused(m, 0, cases[c].words);
        manifest_free(m);
    }
    /* a file under a *file*: "z" is a file, "z/x" claims it as a folder */
    manifest_t *m = sample();
    manifest_push(m, "z/x")->mode = S_IFREG | 0644;
    expect_refused(m, 0, "without its folder");
    manifest_free(m);
}
END_TEST

START_TEST(test_decode_refuses_nul_hash_counts_truncation_and_trailing_bytes) {
    manifest_t *m = sample();
    unsigned char *buf;
    size_t len;
    encode(m, &buf, &len);
    manifest_t *d = NULL;
    char why[200] = "";
    /* every strict prefix is refused, none read past its end (ASan) */
    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, buf, n);
        ck_assert_msg(manifest_decode(cut, n, 0, &d, why, sizeof why) == MIG_EINVALID, "prefix %zu", n);
        free(cut);
    }
    /* one byte more */
    unsigned char *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    ck_assert_int_eq(manifest_decode(more, len + 1, 0, &d, why, sizeof why), MIG_EINVALID);
    ck_assert_ptr_nonnull(strstr(why, "after the last entry"));
    /* a NUL inside "region" */
    memcpy(more, buf, len);
    more[24] = '\0';
    ck_assert_int_eq(manifest_decode(more, len, 0, &d, why, sizeof why), MIG_EINVALID);
    ck_assert_ptr_nonnull(strstr(why, "NUL"));
    /* bad magic; a count far beyond the bytes */
    memcpy(more, buf, len);
    more[0] = 'X';
    ck_assert_int_eq(manifest_decode(more, len, 0, &d, why, sizeof why), MIG_EINVALID);
    memcpy(more, buf, len);
    more[16] = 0xff, more[17] = 0xff, more[18] = 0xff, more[19] = 0x7f;
    ck_assert_int_eq(manifest_decode(more, len, 0, &d, why, sizeof why), MIG_EINVALID);
    free(more);
    free(buf);
    /* three hashes for a file of two blocks */
    m->e[1].nhashes = 3;
    ck_assert_int_eq(manifest_entry_resize(&m->e[1], 3 * MANIFEST_BLOCK), 0);
    m->e[1].nhashes = 3;
    m->e[1].size = 5000;
    expect_refused(m, 0, "3 hashes");
    manifest_free(m);
}
END_TEST

/* ---- files in a temp dir ------------------------------------------------------------------ */

static char tmp[64];
static int rootfd = -1;

static void setup(void) {
    snprintf(tmp, sizeof tmp, "/tmp/mig-manifest-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    rootfd = open(tmp, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(rootfd, 0);
}

static void teardown(void) {
    close(rootfd);
    const char *base;
    int pfd = fsx_open_parent(tmp, &base);
    ck_assert_int_eq(fsx_remove_tree(pfd, base), 0);
    close(pfd);
}

static void put_file(const char *rel, const void *data, size_t n) {
    int fd = fsx_open_beneath(rootfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644, 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* A file declared at the largest size with one hash (a libFuzzer find: decoding reserved
 * a slot for every block the size declares, 2 GB for 1 TiB, before it read on). Decoding
 * must cost only the hashes sent, and a later resize still gives every block its slot. */
START_TEST(test_decode_of_a_huge_declared_file_with_one_hash_costs_only_that_hash) {
    manifest_t *m = manifest_new();
    manifest_entry_t *e = manifest_push(m, "region");
    e->mode = S_IFDIR | 0755;
    e = manifest_push(m, "region/r.0.0.mca");
    e->mode = S_IFREG | 0644;
    e->size = MANIFEST_MAX_SIZE;
    e->hashes = malloc(sizeof *e->hashes);
    ck_assert_ptr_nonnull(e->hashes);
    e->hashes[0] = 0x1111;
    e->hcap = e->nhashes = 1;
    unsigned char *buf;
    size_t len;
    encode(m, &buf, &len);
    manifest_t *d = NULL;
    char why[160] = "";
    ck_assert_msg(manifest_decode(buf, len, 0, &d, why, sizeof why) == 0, "%s", why);
    manifest_entry_t *f = manifest_find(d, "region/r.0.0.mca");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->nhashes, 1);
    ck_assert_uint_eq(f->hcap, 1);
    ck_assert_uint_eq(f->hashes[0], 0x1111);
    /* growing a small decoded file to all its blocks keeps the hash it had */
    f = manifest_push(d, "zz");
    f->mode = S_IFREG | 0644;
    f->size = 3 * 4096;
    f->hashes = malloc(sizeof *f->hashes);
    ck_assert_ptr_nonnull(f->hashes);
    f->hashes[0] = 0x2222;
    f->hcap = f->nhashes = 1;
    ck_assert_int_eq(manifest_entry_resize(f, f->size), 0);
    ck_assert_uint_eq(f->hcap, 3);
    ck_assert_uint_eq(f->hashes[0], 0x2222);
    ck_assert_uint_eq(f->hashes[2], 0);
    free(buf);
    manifest_free(d);
    manifest_free(m);
}
END_TEST

/* The strong hash (agent/strong.h): the SHA-256 of the SHA-256s of the 32 KiB pieces, the
 * last one short; an empty file's is the SHA-256 of nothing. Computed here with libcrypto
 * directly, against a scan (pieces kept) and the streaming hash fed in odd chunks. */
START_TEST(test_strong_hash_is_the_sha256_of_the_pieces_sha256s) {
    size_t n = 2 * STRONG_PIECE + 5;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 13 + i / 1000);
    unsigned char list[3][32], want[32];
    for (int k = 0; k < 3; k++) {
        size_t len = k < 2 ? STRONG_PIECE : 5;
        ck_assert_int_eq(EVP_Digest(data + (size_t)k * STRONG_PIECE, len, list[k], NULL, EVP_sha256(), NULL), 1);
    }
    ck_assert_int_eq(EVP_Digest(list, sizeof list, want, NULL, EVP_sha256(), NULL), 1);
    put_file("big", data, n);
    put_file("empty", "", 0);
    manifest_t *m;
    char why[200] = "";
    ck_assert_int_eq(manifest_scan(rootfd, MANIFEST_SCAN_STRONG | MANIFEST_SCAN_PIECES, &m, why, sizeof why), 0);
    ck_assert_str_eq(m->e[0].path, "big");
    ck_assert_int_eq(memcmp(m->e[0].sha256, want, 32), 0);
    ck_assert_uint_eq(m->e[0].npieces, 3);
    ck_assert_int_eq(memcmp(m->e[0].pieces, list, sizeof list), 0);
    unsigned char nothing[32];
    ck_assert_int_eq(EVP_Digest("", 0, nothing, NULL, EVP_sha256(), NULL), 1);
    ck_assert_str_eq(m->e[1].path, "empty");
    ck_assert_int_eq(memcmp(m->e[1].sha256, nothing, 32), 0);
    ck_assert_uint_eq(m->e[1].npieces, 0);
    /* streamed in chunks that straddle the pieces; the root of the list alone */
    strong_t h;
    unsigned char got[32];
    ck_assert_int_eq(strong_init(&h, 1), 0);
    for (size_t at = 0; at < n; at += 7919)
        ck_assert_int_eq(strong_update(&h, data + at, n - at < 7919 ? n - at : 7919), 0);
    ck_assert_int_eq(strong_final(&h, got), 0);
    ck_assert_int_eq(memcmp(got, want, 32), 0);
    uint64_t np;
    uint8_t(*pieces)[32] = strong_take(&h, &np);
    ck_assert_uint_eq(np, 3);
    ck_assert_int_eq(strong_root((const uint8_t(*)[32])pieces, np, got), 0);
    ck_assert_int_eq(memcmp(got, want, 32), 0);
    ck_assert_int_eq(strong_piece(data + STRONG_PIECE, STRONG_PIECE, got), 0);
    ck_assert_int_eq(memcmp(got, list[1], 32), 0);
    free(pieces);
    strong_free(&h);
    manifest_free(m);
    free(data);
}
END_TEST

/* An agent of the other version (its manifest's whole-file SHA-256s) is named as such. */
START_TEST(test_decode_names_a_manifest_of_another_version) {
    manifest_t *m = sample();
    unsigned char *buf;
    size_t len;
    encode(m, &buf, &len);
    buf[5] = 1;
    manifest_t *d = NULL;
    char why[200] = "";
    ck_assert_int_eq(manifest_decode(buf, len, 0, &d, why, sizeof why), MIG_EINVALID);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(why, "version 1") != NULL && strstr(why, "version 2") != NULL, "%s", why);
    free(buf);
    manifest_free(m);
}
END_TEST

START_TEST(test_scan_hashes_each_block_and_the_whole_file) {
    size_t n = 2 * MANIFEST_BLOCK + 100;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + i / 4096);
    put_file("region/r.0.0.mca", data, n);
    put_file("abc", "abc", 3);
    put_file("empty", "", 0);
    manifest_t *m;
    char why[200] = "";
    ck_assert_int_eq(manifest_scan(rootfd, MANIFEST_SCAN_BLOCKS | MANIFEST_SCAN_STRONG, &m, why, sizeof why), 0);
    ck_assert_uint_eq(m->n, 4); /* abc, empty, region, region/r.0.0.mca: sorted */
    ck_assert_str_eq(m->e[0].path, "abc");
    ck_assert_str_eq(m->e[2].path, "region");
    ck_assert_uint_eq(m->e[2].mode & S_IFMT, S_IFDIR);
    manifest_entry_t *r = &m->e[3];
    ck_assert_uint_eq(r->size, n);
    ck_assert_uint_eq(r->nhashes, 3);
    ck_assert_uint_eq(r->hashes[0], XXH3_64bits(data, MANIFEST_BLOCK));
    ck_assert_uint_eq(r->hashes[1], XXH3_64bits(data + MANIFEST_BLOCK, MANIFEST_BLOCK));
    ck_assert_uint_eq(r->hashes[2], XXH3_64bits(data + 2 * MANIFEST_BLOCK, 100));
    ck_assert_uint_eq(r->flags & MANIFEST_F_RACY, MANIFEST_F_RACY); /* written just now */
    /* one piece: SHA-256 of SHA-256("abc") (FIPS 180-2's example), computed here by hand */
    static const unsigned char abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                          0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                          0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char root[32];
    ck_assert_int_eq(EVP_Digest(abc, 32, root, NULL, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(m->e[0].flags & MANIFEST_F_STRONG, MANIFEST_F_STRONG);
    ck_assert_int_eq(memcmp(m->e[0].sha256, root, 32), 0);
    ck_assert_uint_eq(m->e[1].nhashes, 0);
    /* the stat alone: no hashes; a record equal by stat but racy is never "unchanged" */
    manifest_t *s;
    ck_assert_int_eq(manifest_scan(rootfd, 0, &s, why, sizeof why), 0);
    ck_assert_uint_eq(s->e[3].nhashes, 0);
    ck_assert_int_eq(manifest_entry_unchanged(&m->e[3], &s->e[3]), 0);
    m->e[3].flags &= (uint8_t)~MANIFEST_F_RACY;
    ck_assert_int_eq(manifest_entry_unchanged(&m->e[3], &s->e[3]), 1);
    s->e[3].mtime_ns++;
    ck_assert_int_eq(manifest_entry_unchanged(&m->e[3], &s->e[3]), 0);
    /* a scan's manifest passes the decoder's rules */
    unsigned char *buf;
    size_t len;
    encode(m, &buf, &len);
    manifest_t *d;
    ck_assert_int_eq(manifest_decode(buf, len, 0, &d, why, sizeof why), 0);
    manifest_free(d);
    free(buf);
    manifest_free(s);
    manifest_free(m);
    free(data);
}
END_TEST

START_TEST(test_scan_refuses_symlinks_and_fifos) {
    put_file("world/level.dat", "x", 1);
    char p[128];
    snprintf(p, sizeof p, "%s/world/escape", tmp);
    ck_assert_int_eq(symlink("/etc", p), 0);
    manifest_t *m = (manifest_t *)1;
    char why[200] = "";
    ck_assert_int_eq(manifest_scan(rootfd, 0, &m, why, sizeof why), MIG_EREFUSED);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(why, "symlink: world/escape");
    unlink(p);
    snprintf(p, sizeof p, "%s/world/pipe", tmp);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_int_eq(manifest_scan(rootfd, 0, &m, why, sizeof why), MIG_EREFUSED);
    ck_assert_str_eq(why, "special or setuid file: world/pipe");
    unlink(p);
    /* a symlinked folder on the way of a path is not followed by a hash request either */
    snprintf(p, sizeof p, "%s/link", tmp);
    ck_assert_int_eq(symlink("world", p), 0);
    manifest_t *one = manifest_new();
    manifest_entry_t *e = manifest_push(one, "link/level.dat");
    ck_assert_int_ne(manifest_hash_file(rootfd, e, MANIFEST_SCAN_BLOCKS, why, sizeof why), 0);
    manifest_free(one);
}
END_TEST

/* manifest_scan_cached: a SHA-256 the cache holds for a file's stat is used without reading
 * the file; one computed is offered with the read's start, and the racy-clean rule refuses
 * it for a file written just now. */
typedef struct fake_cache {
    int gets, puts, trusted;
    uint8_t sha[32];
} fake_cache_t;

static int fake_get(void *ctx, const manifest_entry_t *e, uint8_t sha256[32]) {
    fake_cache_t *f = ctx;
    f->gets++;
    if (strcmp(e->path, "cached") != 0 || e->ino == 0)
        return 0;
    memcpy(sha256, f->sha, 32);
    return 1;
}

static void fake_put(void *ctx, const manifest_entry_t *e, int64_t start_ns) {
    fake_cache_t *f = ctx;
    f->puts++;
    f->trusted += manifest_sha_trusted(e, start_ns);
}

START_TEST(test_scan_cached_uses_the_cache_and_offers_what_it_hashes_under_the_racy_rule) {
    put_file("cached", "abc", 3);
    put_file("fresh", "xyz", 3);
    fake_cache_t f = {0};
    memset(f.sha, 0x42, 32);
    manifest_sha_cache_t c = {.ctx = &f, .get = fake_get, .put = fake_put};
    manifest_t *m;
    char why[200] = "";
    ck_assert_int_eq(manifest_scan_cached(rootfd, MANIFEST_SCAN_STRONG, &c, &m, why, sizeof why), 0);
    ck_assert_uint_eq(c.hits, 1);
    ck_assert_uint_eq(c.hashed_files, 1);
    ck_assert_uint_eq(c.hashed_bytes, 3);
    ck_assert_int_eq(memcmp(m->e[0].sha256, f.sha, 32), 0); /* "cached": from the cache */
    ck_assert_uint_eq(m->e[0].flags & MANIFEST_F_STRONG, MANIFEST_F_STRONG);
    ck_assert_int_ne(m->e[1].ino, 0);
    ck_assert_int_eq(f.puts, 1);   /* "fresh" offered */
    ck_assert_int_eq(f.trusted, 0); /* but written within MANIFEST_RACY_NS of its read */
    manifest_entry_t e = m->e[1];
    ck_assert_int_eq(manifest_sha_trusted(&e, e.ctime_ns + MANIFEST_RACY_NS + 1), 1);
    ck_assert_int_eq(manifest_sha_trusted(&e, e.ctime_ns + MANIFEST_RACY_NS), 0);
    manifest_free(m);
}
END_TEST

Suite *suite_manifest(void) {
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("wire");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_test(tc, test_paths_refused_dotdot_absolute_empty_nul_long);
    tcase_add_test(tc, test_encode_is_the_documented_layout_and_decodes_back);
    tcase_add_test(tc, test_decode_names_a_manifest_of_another_version);
    tcase_add_test(tc, test_decode_refuses_symlinks_special_files_and_escapes);
    tcase_add_test(tc, test_decode_refuses_nul_hash_counts_truncation_and_trailing_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_decode_of_a_huge_declared_file_with_one_hash_costs_only_that_hash);
    tcase_add_test(tc, test_scan_hashes_each_block_and_the_whole_file);
    tcase_add_test(tc, test_strong_hash_is_the_sha256_of_the_pieces_sha256s);
    tcase_add_test(tc, test_scan_refuses_symlinks_and_fifos);
    tcase_add_test(tc, test_scan_cached_uses_the_cache_and_offers_what_it_hashes_under_the_racy_rule);
    suite_add_tcase(s, tc);
    return s;
}
