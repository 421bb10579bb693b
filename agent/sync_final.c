/* sync_final.c - the final pass's last steps: verify the staging tree against the source's
 * manifest, then switch it atomically in place of the world's directory (the design is in
 * sync.h; the pass that runs them is in sync.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fsx.h"
#include "agent/manifest.h"
#include "agent/sync_private.h"
#include "core/err.h"

/* ---- verification and the switch --------------------------------------------------------- */

/* Every entry of staging against the plan: the same paths and types, each file's size and
 * SHA-256 the source's. A file that differs loses its record (copied whole next time).
 * Returns 0 or MIG_EPROTO with the first bad path in the error. */
int sync__verify(sync_pass_t *p, int sfd) {
    manifest_t *got = NULL;
    char why[200];
    int rv = manifest_scan(sfd, MANIFEST_SCAN_STRONG, &got, why, sizeof why);
    if (rv != 0) {
        sync__fail(p, "verification: staging unreadable: %s", why);
        return rv;
    }
    size_t bad = 0;
    const char *first = NULL;
    for (size_t i = 0; i < p->plan->n; i++) {
        const manifest_entry_t *pe = &p->plan->e[i], *ge = manifest_find(got, pe->path);
        int ok = ge != NULL && (ge->mode & S_IFMT) == (pe->mode & S_IFMT);
        if (ok && is_file(pe))
            ok = (pe->flags & MANIFEST_F_STRONG) && ge->size == pe->size &&
                 memcmp(ge->sha256, pe->sha256, 32) == 0;
        if (!ok) {
            manifest_entry_t *re = &p->record->e[i];
            pthread_mutex_lock(&p->mu);
            re->nhashes = 0, re->mtime_ns = re->ctime_ns = 0;
            pthread_mutex_unlock(&p->mu);
            first = first ? first : pe->path;
            bad++;
        }
    }
    if (bad == 0 && got->n != p->plan->n) {
        bad = got->n - p->plan->n;
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
