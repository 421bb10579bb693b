/* sync_hash.c - the staging files a pass writes without a standing record (new files,
 * every file of pass 1) hashed on a thread beside the copy, so that a full pass costs
 * max(copy, hash) rather than their sum (agent/sync.h, "Verifying"). The copy hands each
 * file over once written, with its stat; the thread reads it back from staging (the page
 * cache, just written), computes its strong hash and pieces, and keeps the result if the
 * stat held across the read. The pass merges the results into its record of staging
 * hashes before its last scan, which then finds them standing; a file the thread did
 * not get to (an error, a stat that moved) is hashed by that scan, as before. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/strong.h"
#include "agent/sync_private.h"
#include "core/err.h"

#define HASH_READ (1u << 20)

typedef struct job {
    struct job *next;
    manifest_entry_t e; /* path and the stat the copy left; then the hash and pieces */
} job_t;

struct sync_hasher {
    sync_pass_t *p;
    int sfd;                 /* staging, a descriptor of its own */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head, **tail;     /* to hash, in order */
    job_t *done;             /* hashed, the stat unchanged across the read */
    int closing;
};


static int same_stat(const manifest_entry_t *e, const struct stat *st) {
    return e->ino == (uint64_t)st->st_ino && e->size == (uint64_t)st->st_size && e->mtime_ns == manifest_ns(st->st_mtim) &&
           e->ctime_ns == manifest_ns(st->st_ctim);
}

/* Hashes the file of `j` from staging; 1 when its stat held across the read. */
static int hash_one(sync_hasher_t *h, job_t *j, unsigned char *buf) {
    int fd = fsx_open_beneath(h->sfd, j->e.path, O_RDONLY, 0, 0);
    if (fd < 0)
        return 0;
    struct stat st;
    strong_t s;
    int ok = fstat(fd, &st) == 0 && same_stat(&j->e, &st) && strong_init(&s, 1) == 0;
    if (!ok) {
        close(fd);
        return 0;
    }
    uint64_t off = 0;
    while (ok && off < j->e.size) {
        size_t want = j->e.size - off < HASH_READ ? (size_t)(j->e.size - off) : HASH_READ;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        ok = r > 0 && strong_update(&s, buf, (size_t)r) == 0;
        off += r > 0 ? (uint64_t)r : 0;
    }
    ok = ok && strong_final(&s, j->e.sha256) == 0 && fstat(fd, &st) == 0 && same_stat(&j->e, &st);
    if (ok)
        j->e.pieces = strong_take(&s, &j->e.npieces);
    strong_free(&s);
    close(fd);
    if (ok) {
        pthread_mutex_lock(&h->p->mu);
        h->p->prog.hashed_bytes += j->e.size;
        pthread_mutex_unlock(&h->p->mu);
    }
    return ok;
}

static void *hasher_thread(void *arg) {
    sync_hasher_t *h = arg;
    unsigned char *buf = malloc(HASH_READ);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->head == NULL && !h->closing)
            pthread_cond_wait(&h->cv, &h->mu);
        job_t *j = h->head;
        if (j == NULL)
            break; /* closing, and nothing left */
        h->head = j->next;
        if (h->head == NULL)
            h->tail = &h->head;
        pthread_mutex_unlock(&h->mu);
        int ok = buf != NULL && hash_one(h, j, buf);
        pthread_mutex_lock(&h->mu);
        if (ok) {
            j->next = h->done;
            h->done = j;
        } else {
            manifest_entry_release(&j->e);
            free(j);
        }
    }
    pthread_mutex_unlock(&h->mu);
    free(buf);
    return NULL;
}

int sync__hasher_start(sync_pass_t *p, int sfd, sync_hasher_t **out) {
    *out = NULL;
    sync_hasher_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return MIG_ENOMEM;
    h->p = p;
    h->tail = &h->head;
    h->sfd = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
    if (h->sfd < 0) {
        free(h);
        return MIG_EIO;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, hasher_thread, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        close(h->sfd);
        free(h);
        return MIG_ENOMEM;
    }
    *out = h;
    return 0;
}

void sync__hasher_add(sync_hasher_t *h, const char *path, const struct stat *st) {
    job_t *j = calloc(1, sizeof *j);
    if (j == NULL || (j->e.path = strdup(path)) == NULL) {
        free(j);
        return; /* the pass's last scan hashes it */
    }
    j->e.mode = S_IFREG, j->e.flags = MANIFEST_F_STRONG;
    j->e.ino = (uint64_t)st->st_ino, j->e.size = (uint64_t)st->st_size;
    j->e.mtime_ns = manifest_ns(st->st_mtim), j->e.ctime_ns = manifest_ns(st->st_ctim);
    pthread_mutex_lock(&h->mu);
    *h->tail = j;
    h->tail = &j->next;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

int sync__hasher_finish(sync_hasher_t *h) {
    if (h == NULL)
        return 0;
    pthread_mutex_lock(&h->mu);
    h->closing = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    sync_pass_t *p = h->p;
    int rv = 0;
    /* into the record: first what it has (found by bisection), then the new ones, sorted once */
    for (int adding = 0; adding < 2; adding++)
        for (job_t *j = h->done; j != NULL; j = j->next) {
            if (j->e.path == NULL)
                continue; /* merged */
            manifest_entry_t *v = adding ? NULL : manifest_find(p->verified, j->e.path);
            if (v == NULL && !adding)
                continue;
            if (adding && rv == 0 && (v = manifest_push(p->verified, j->e.path)) == NULL)
                rv = MIG_ENOMEM;
            if (v == NULL)
                continue;
            free(v->pieces);
            v->mode = S_IFREG, v->flags = MANIFEST_F_STRONG;
            v->ino = j->e.ino, v->size = j->e.size, v->mtime_ns = j->e.mtime_ns, v->ctime_ns = j->e.ctime_ns;
            memcpy(v->sha256, j->e.sha256, 32);
            v->pieces = j->e.pieces, v->npieces = j->e.npieces;
            j->e.pieces = NULL, j->e.npieces = 0;
            free(j->e.path);
            j->e.path = NULL;
        }
    manifest_sort(p->verified); /* manifest_find bisects */
    for (job_t *j = h->done, *next; j != NULL; j = next) {
        next = j->next;
        manifest_entry_release(&j->e);
        free(j);
    }
    close(h->sfd);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
    return rv;
}
