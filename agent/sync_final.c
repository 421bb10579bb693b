/* sync_final.c - the final pass's last steps: verify the staging tree against the source's
 * manifest, then switch it atomically in place of the world's directory (the design is in
 * sync.h; the pass that runs them is in sync.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/strong.h"
#include "agent/sync_private.h"
#include "core/err.h"

#define VERIFIED_FILE "verified.bin"
/* Largest verified.bin read back: MANIFEST_MAX_ENTRIES entries of a long path. */
#define VERIFIED_FILE_MAX ((size_t)256 << 20)

/* ---- the staging files' SHA-256 record ---------------------------------------------------- */
/*
 * verified.bin (little-endian): "MIGVF\x03\0\0" | 36 bytes boot id | u64 staging_dev
 * | u64 staging_ino | u32 count | count x (u16 path_len | path | u64 ino | u64 size
 * | i64 mtime_ns | i64 ctime_ns | 32 bytes strong hash | u64 npieces | npieces x 32 bytes
 * SHA-256 of each piece, agent/strong.h). Neither it nor the staging bytes it
 * vouches for are synced when it is saved: it holds only within the boot that wrote it
 * (the kernel's boot id), where whatever was written is what a read sees, page cache or
 * disk. A power loss or a kernel crash, which alone lose written bytes, means another
 * boot, so it is read as empty; so is a lost or damaged one. That costs a full
 * verification, never a wrong one.
 */
static const unsigned char VMAGIC[8] = {'M', 'I', 'G', 'V', 'F', 3, 0, 0};
#define BOOT_ID_LEN 36

static char boot_id[BOOT_ID_LEN + 1];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

/* The kernel's boot id (a UUID, new at each boot); "" where it cannot be read, and then
 * no verified.bin is ever trusted. */
static void read_boot_id(void) {
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, boot_id, BOOT_ID_LEN);
    close(fd);
    if (n != BOOT_ID_LEN)
        boot_id[0] = '\0';
}

static const char *this_boot(void) {
    pthread_once(&boot_once, read_boot_id);
    return boot_id;
}

static unsigned char *put_le(unsigned char *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        *b++ = (unsigned char)(v >> (8 * i));
    return b;
}

static uint64_t get_le(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static int verified_save(sync_pass_t *p) {
    const manifest_t *v = p->verified;
    size_t len = 8 + BOOT_ID_LEN + 16 + 4;
    for (size_t i = 0; i < v->n; i++)
        len += 2 + strlen(v->e[i].path) + 32 + 32 + 8 + (size_t)v->e[i].npieces * 32;
    unsigned char *buf = malloc(len), *b = buf;
    if (buf == NULL)
        return MIG_ENOMEM;
    memcpy(b, VMAGIC, 8);
    memset(b + 8, 0, BOOT_ID_LEN);
    memcpy(b + 8, this_boot(), strlen(this_boot()));
    b = put_le(b + 8 + BOOT_ID_LEN, p->verified_dev, 8);
    b = put_le(b, p->verified_ino, 8);
    b = put_le(b, v->n, 4);
    for (size_t i = 0; i < v->n; i++) {
        const manifest_entry_t *e = &v->e[i];
        size_t pl = strlen(e->path);
        b = put_le(b, pl, 2);
        memcpy(b, e->path, pl);
        b = put_le(b + pl, e->ino, 8);
        b = put_le(b, e->size, 8);
        b = put_le(b, (uint64_t)e->mtime_ns, 8);
        b = put_le(b, (uint64_t)e->ctime_ns, 8);
        memcpy(b, e->sha256, 32);
        b = put_le(b + 32, e->npieces, 8);
        if (e->npieces > 0)
            memcpy(b, e->pieces, (size_t)e->npieces * 32);
        b += (size_t)e->npieces * 32;
    }
    int rv = fsx_replace_file(p->statefd, VERIFIED_FILE, buf, len);
    free(buf);
    return rv;
}

/* Parses verified.bin into a new sorted manifest; NULL when it is damaged. */
static manifest_t *verified_parse(sync_pass_t *p, const unsigned char *buf, size_t len) {
    const size_t head = 8 + BOOT_ID_LEN + 20;
    if (len < head || memcmp(buf, VMAGIC, 8) != 0)
        return NULL;
    if (this_boot()[0] == '\0' || memcmp(buf + 8, this_boot(), BOOT_ID_LEN) != 0)
        return NULL; /* written before a reboot: its bytes may not have reached the disk */
    manifest_t *v = manifest_new();
    if (v == NULL)
        return NULL;
    const unsigned char *h = buf + 8 + BOOT_ID_LEN;
    p->verified_dev = get_le(h, 8), p->verified_ino = get_le(h + 8, 8);
    uint64_t n = get_le(h + 16, 4);
    size_t at = head;
    for (uint64_t i = 0; i < n; i++) {
        if (n > MANIFEST_MAX_ENTRIES || len - at < 2)
            goto bad;
        size_t pl = (size_t)get_le(buf + at, 2);
        char path[PATH_MAX];
        if (pl == 0 || pl >= PATH_MAX || len - at - 2 < pl + 72)
            goto bad;
        memcpy(path, buf + at + 2, pl);
        path[pl] = '\0';
        if (memchr(path, '\0', pl) != NULL || manifest_check_path(path, pl, NULL, 0) != 0)
            goto bad;
        if (v->n > 0 && strcmp(v->e[v->n - 1].path, path) >= 0)
            goto bad; /* sorted, no duplicates: manifest_find bisects */
        manifest_entry_t *e = manifest_push(v, path);
        if (e == NULL)
            goto bad;
        at += 2 + pl;
        e->mode = S_IFREG;
        e->ino = get_le(buf + at, 8), e->size = get_le(buf + at + 8, 8);
        e->mtime_ns = (int64_t)get_le(buf + at + 16, 8), e->ctime_ns = (int64_t)get_le(buf + at + 24, 8);
        memcpy(e->sha256, buf + at + 32, 32);
        e->flags = MANIFEST_F_STRONG;
        uint64_t np = get_le(buf + at + 64, 8);
        at += 72;
        if (e->size > MANIFEST_MAX_SIZE || np != strong_npieces(e->size) || (len - at) / 32 < np)
            goto bad;
        if (np > 0) {
            if ((e->pieces = malloc((size_t)np * 32)) == NULL)
                goto bad;
            memcpy(e->pieces, buf + at, (size_t)np * 32);
        }
        e->npieces = np;
        at += (size_t)np * 32;
    }
    if (at != len)
        goto bad;
    return v;
bad:
    manifest_free(v);
    p->verified_dev = p->verified_ino = 0;
    return NULL;
}

int sync__verified_load(sync_pass_t *p) {
    unsigned char *buf = NULL;
    size_t len = 0;
    manifest_t *v = NULL;
    if (fsx_read_file(p->statefd, VERIFIED_FILE, VERIFIED_FILE_MAX, &buf, &len) == 0)
        v = verified_parse(p, buf, len);
    free(buf);
    if (v == NULL && (v = manifest_new()) == NULL)
        return MIG_ENOMEM;
    manifest_free(p->verified);
    p->verified = v;
    return 0;
}

void sync__verified_check_tree(sync_pass_t *p) {
    if (p->verified_dev == p->staging_dev && p->verified_ino == p->staging_ino)
        return;
    for (size_t i = 0; i < p->verified->n; i++)
        manifest_entry_release(&p->verified->e[i]);
    p->verified->n = 0;
    p->verified_dev = p->staging_dev, p->verified_ino = p->staging_ino;
}

/* 1 when the record `v` stands for the staging file of stat `st`: same file and stat,
 * and every piece's hash held. */
static int holds(const manifest_entry_t *v, uint64_t ino, uint64_t size, int64_t mtime_ns, int64_t ctime_ns) {
    return v != NULL && v->ino == ino && v->size == size && v->mtime_ns == mtime_ns && v->ctime_ns == ctime_ns &&
           v->npieces == strong_npieces(size) && (size == 0 || v->pieces != NULL);
}


int sync__verified_holds(sync_pass_t *p, const char *path, const struct stat *st) {
    return holds(manifest_find(p->verified, path), (uint64_t)st->st_ino, (uint64_t)st->st_size, manifest_ns(st->st_mtim),
                 manifest_ns(st->st_ctim));
}

void sync__verified_forget(sync_pass_t *p, const char *path) {
    manifest_entry_t *e = manifest_find(p->verified, path);
    if (e != NULL)
        e->ino = 0, e->mtime_ns = e->ctime_ns = -1; /* matches no stat */
}

/* Marks in `touch` (one byte per piece) the pieces that `r[0..n)` overlap. */
static void touch_ranges(unsigned char *touch, const sync_range_t *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (r[i].len == 0)
            continue;
        for (uint64_t k = r[i].off / STRONG_PIECE; k <= (r[i].off + r[i].len - 1) / STRONG_PIECE; k++)
            touch[k] = 1;
    }
}

int sync__verified_wrote(sync_pass_t *p, int fd, const char *path, uint64_t old_size, const sync_range_t *r,
                         size_t n) {
    manifest_entry_t *e = manifest_find(p->verified, path);
    struct stat st;
    if (e == NULL || fstat(fd, &st) != 0)
        return 0; /* the end of the pass hashes it whole */
    uint64_t size = (uint64_t)st.st_size, np = strong_npieces(size);
    unsigned char *touch = calloc(np ? np : 1, 1), *buf = malloc(STRONG_PIECE);
    int rv = MIG_ENOMEM;
    if (touch == NULL || buf == NULL)
        goto out;
    if (np != e->npieces) {
        uint8_t(*pc)[32] = realloc(e->pieces, (size_t)(np ? np : 1) * 32);
        if (pc == NULL)
            goto out;
        e->pieces = pc, e->npieces = np;
    }
    touch_ranges(touch, r, n);
    /* a size change: the old last piece (now longer or shorter) and every piece after it */
    if (size != old_size)
        for (uint64_t k = (size < old_size ? size : old_size) / STRONG_PIECE; k < np; k++)
            touch[k] = 1;
    uint64_t read_bytes = 0;
    rv = MIG_EIO;
    for (uint64_t k = 0; k < np; k++) {
        if (!touch[k])
            continue;
        size_t want = size - k * STRONG_PIECE < STRONG_PIECE ? (size_t)(size - k * STRONG_PIECE) : STRONG_PIECE;
        size_t got = 0;
        while (got < want) {
            ssize_t rd = pread(fd, buf + got, want - got, (off_t)(k * STRONG_PIECE + got));
            if (rd < 0 && errno == EINTR)
                continue;
            if (rd <= 0)
                goto out;
            got += (size_t)rd;
        }
        if (strong_piece(buf, want, e->pieces[k]) != 0) {
            rv = MIG_ENOMEM;
            goto out;
        }
        read_bytes += want;
    }
    if (strong_root((const uint8_t(*)[32])e->pieces, np, e->sha256) != 0) {
        rv = MIG_ENOMEM;
        goto out;
    }
    e->ino = (uint64_t)st.st_ino, e->size = size;
    e->mtime_ns = manifest_ns(st.st_mtim), e->ctime_ns = manifest_ns(st.st_ctim);
    pthread_mutex_lock(&p->mu);
    p->prog.hashed_bytes += read_bytes;
    pthread_mutex_unlock(&p->mu);
    rv = 0;
out:
    if (rv != 0)
        sync__verified_forget(p, path); /* hashed whole at the end of the pass */
    free(touch);
    free(buf);
    return rv == MIG_ENOMEM ? rv : 0;
}

/* The scan's hooks: the old record answers by path when the staging file's stat is the
 * recorded one; what the scan keeps (answered, or hashed and trusted) makes the new one. */
typedef struct vscan {
    manifest_t *old;
    manifest_t *next;
    int failed;
} vscan_t;

/* Keeps `e` with its strong hash and piece hashes (`pieces`, taken). */
static void vkeep(vscan_t *vs, const manifest_entry_t *e, const uint8_t sha256[32], uint8_t (*pieces)[32],
                  uint64_t npieces) {
    manifest_entry_t *n = manifest_push(vs->next, e->path);
    if (n == NULL) {
        free(pieces);
        vs->failed = 1;
        return;
    }
    n->mode = S_IFREG, n->ino = e->ino, n->size = e->size, n->mtime_ns = e->mtime_ns;
    n->ctime_ns = e->ctime_ns, n->flags = MANIFEST_F_STRONG;
    memcpy(n->sha256, sha256, 32);
    n->pieces = pieces, n->npieces = npieces;
}

static int vget(void *ctx, const manifest_entry_t *e, uint8_t sha256[32]) {
    vscan_t *vs = ctx;
    manifest_entry_t *o = manifest_find(vs->old, e->path);
    if (!holds(o, e->ino, e->size, e->mtime_ns, e->ctime_ns))
        return 0;
    memcpy(sha256, o->sha256, 32);
    vkeep(vs, e, sha256, o->pieces, o->npieces); /* the old record is dropped after the scan */
    o->pieces = NULL, o->npieces = 0;
    return 1;
}

/* Kept at once, racy or not: staging is written by this agent's passes alone, and their
 * writes are over when it is scanned, so a hash read with the stat unchanged across the
 * read (the only case put is called for) is of the bytes the stat names. The racy-clean
 * rule guards the source, whose server writes while it is read; here it would guard only
 * against a foreign write within the clock tick of the read, at the price of a 2 s wait
 * and a second hash of every file a pass wrote (sync.h). */
static void vput(void *ctx, const manifest_entry_t *e, int64_t start_ns) {
    (void)start_ns;
    vscan_t *vs = ctx;
    uint8_t(*pieces)[32] = NULL;
    if (e->npieces > 0 && (pieces = malloc((size_t)e->npieces * 32)) == NULL) {
        vs->failed = 1;
        return;
    }
    if (e->npieces > 0)
        memcpy(pieces, e->pieces, (size_t)e->npieces * 32);
    vkeep(vs, e, e->sha256, pieces, e->npieces);
}

/* Scans staging (every file's SHA-256, from the record where its stat stands) into *got,
 * and makes the record what this scan kept. Counts into the progress. */
static int verified_scan(sync_pass_t *p, int sfd, manifest_t **got) {
    vscan_t vs = {.old = p->verified, .next = manifest_new()};
    if (vs.next == NULL)
        return MIG_ENOMEM;
    manifest_sha_cache_t c = {.ctx = &vs, .get = vget, .put = vput};
    char why[200] = "";
    int rv = manifest_scan_cached(sfd, MANIFEST_SCAN_STRONG | MANIFEST_SCAN_PIECES, &c, got, why, sizeof why);
    pthread_mutex_lock(&p->mu);
    p->prog.hashed_bytes += c.hashed_bytes;
    p->prog.hash_reused_files += c.hits;
    pthread_mutex_unlock(&p->mu);
    if (rv != 0 || vs.failed) {
        manifest_free(vs.next);
        sync__fail(p, "verification: staging unreadable: %s", why);
        return rv != 0 ? rv : MIG_ENOMEM;
    }
    manifest_sort(vs.next);
    manifest_free(p->verified);
    p->verified = vs.next;
    p->verified_dev = p->staging_dev, p->verified_ino = p->staging_ino;
    return 0;
}

int sync__verified_refresh(sync_pass_t *p, int sfd) {
    manifest_t *got = NULL;
    int rv = verified_scan(p, sfd, &got);
    manifest_free(got);
    return rv;
}

int sync__verified_store(sync_pass_t *p) {
    return verified_save(p);
}

/* ---- verification and the switch --------------------------------------------------------- */

/* Every entry of staging against the plan: the same paths and types, each file's size and
 * SHA-256 the source's. A staging file's SHA-256 is computed again unless the record of
 * staging hashes holds it for the file's present (ino, size, mtime, ctime) (sync.h). A
 * file that differs loses its record (copied whole next time). Returns 0 or MIG_EPROTO
 * with the first bad path in the error. */
int sync__verify(sync_pass_t *p, int sfd, const manifest_t *want) {
    manifest_t *got = NULL;
    int rv = verified_scan(p, sfd, &got);
    if (rv != 0)
        return rv;
    verified_save(p); /* a failure costs only hashing again */
    size_t bad = 0;
    const char *first = NULL;
    for (size_t i = 0; i < want->n; i++) {
        const manifest_entry_t *pe = &want->e[i], *ge = manifest_find(got, pe->path);
        int ok = ge != NULL && (ge->mode & S_IFMT) == (pe->mode & S_IFMT);
        if (ok && is_file(pe))
            ok = (pe->flags & MANIFEST_F_STRONG) && ge->size == pe->size &&
                 memcmp(ge->sha256, pe->sha256, 32) == 0;
        if (!ok) {
            manifest_entry_t *re = manifest_find(p->record, pe->path);
            pthread_mutex_lock(&p->mu);
            if (re != NULL)
                re->nhashes = 0, re->mtime_ns = re->ctime_ns = 0;
            pthread_mutex_unlock(&p->mu);
            first = first ? first : pe->path;
            bad++;
        }
    }
    if (bad == 0 && got->n != want->n) {
        bad = got->n > want->n ? got->n - want->n : want->n - got->n;
        first = "(entries the source does not have)";
    }
    if (bad > 0) {
        sync__fail(p, "verification failed: %s and %zu more", first, bad - 1);
        rv = MIG_EPROTO;
    }
    manifest_free(got);
    return rv;
}

/* Puts staging in place of the directory (see sync.h for why a crash leaves one whole
 * tree), then removes the old tree. Idempotent: a restart in the middle finishes it. */
int sync__switch_tree(sync_pass_t *p) {
    const char *dbase, *sbase;
    int dpar = fsx_open_parent(p->o.dir, &dbase);
    int spar = fsx_open_parent(p->o.staging, &sbase);
    int rv = MIG_EIO;
    if (dpar < 0 || spar < 0) {
        sync__fail(p, "switch: cannot open the parent folders");
        goto out;
    }
    struct stat st;
    int have_dir = fstatat(dpar, dbase, &st, AT_SYMLINK_NOFOLLOW) == 0;
    int switched = have_dir && (uint64_t)st.st_dev == p->staging_dev && (uint64_t)st.st_ino == p->staging_ino;
    if (!switched) {
        int sfd = openat(spar, sbase, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0 || syncfs(sfd) != 0) {
            sync__fail(p, "switch: cannot sync the staging tree");
            if (sfd >= 0)
                close(sfd);
            goto out;
        }
        close(sfd);
        if (!have_dir) {
            if (renameat(spar, sbase, dpar, dbase) != 0) {
                sync__fail(p, "switch: rename: %s", strerror(errno));
                goto out;
            }
        } else if (renameat2(spar, sbase, dpar, dbase, RENAME_EXCHANGE) != 0) {
            /* no exchange here: aside, then in (a crash between leaves both trees whole) */
            char aside[NAME_MAX + 1];
            snprintf(aside, sizeof aside, ".%s.old", dbase);
            if (fsx_remove_tree(dpar, aside) != 0 || renameat(dpar, dbase, dpar, aside) != 0 ||
                fsync(dpar) != 0 || renameat(spar, sbase, dpar, dbase) != 0) {
                sync__fail(p, "switch: rename: %s", strerror(errno));
                goto out;
            }
            if (fsync(dpar) != 0 || fsx_remove_tree(dpar, aside) != 0)
                goto out;
        }
        if (fsync(dpar) != 0 || fsync(spar) != 0)
            goto out;
    }
    /* the old tree, exchanged into the staging path */
    if (fsx_remove_tree(spar, sbase) != 0) {
        sync__fail(p, "switch: cannot remove the old tree");
        goto out;
    }
    rv = 0;
out:
    if (dpar >= 0)
        close(dpar);
    if (spar >= 0)
        close(spar);
    return rv;
}
