/* sync_private.h - what the world sync's two files share: the pass itself, its phases, the
 * error it reports, and the final pass's last steps. sync.c plans, copies, checkpoints and
 * runs a pass; sync_final.c verifies staging and switches it in. Only agent/sync*.c include
 * this; everything else goes through agent/sync.h. */
#ifndef MIG_AGENT_SYNC_PRIVATE_H
#define MIG_AGENT_SYNC_PRIVATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "agent/manifest.h"
#include "agent/sync.h"

enum phase { PH_NEW, PH_COPY, PH_FAILED, PH_SWITCH, PH_DONE };

typedef struct sync_hasher sync_hasher_t;

struct sync_pass {
    sync_opts_t o;
    int statefd;
    pthread_mutex_t mu;   /* guards record, plan and prog against progress/dirty readers */
    manifest_t *record;   /* what the staging tree holds (sync.h); owned */
    manifest_t *plan;     /* the source's manifest of this run, hashes of changed files; owned */
    sync_progress_t prog;
    enum phase phase;
    uint32_t stored_pass; /* pass number in pass.json when opened (0: none) */
    /* This pass has scanned the source (planned, or opened done): until then the record
     * is the previous pass's, and what the source writes goes into this pass, so
     * dirty_bytes is 0 rather than the delta since the previous pass. Guarded by mu. */
    int planned;
    uint64_t staging_dev, staging_ino;
    /* The SHA-256 of staging files (sync.h, "Verifying"): per path, the staging file's own
     * ino, size, mtime and ctime when it was hashed, and its SHA-256 (flags STRONG); only
     * entries hashed under the racy-clean rule. Sorted; owned; used by the run's thread
     * only. `verified_dev/ino`: the staging tree it describes. */
    manifest_t *verified;
    uint64_t verified_dev, verified_ino;
    sync_hasher_t *hasher; /* during the copy: hashes files written whole (sync_hash.c) */
};

static inline int is_file(const manifest_entry_t *e) {
    return (e->mode & S_IFMT) == S_IFREG;
}

/* Puts the printf-style sentence in the pass's error (its progress's `error`), under mu. */
void sync__fail(sync_pass_t *p, const char *fmt, ...);

/* sync_final.c: the final pass, after its copy; the staging files' SHA-256 record. */

/* Reads verified.bin from the state folder into p->verified (empty when missing or
 * damaged: everything is hashed again). Returns 0 or MIG_ENOMEM. */
int sync__verified_load(sync_pass_t *p);
/* Empties p->verified when it describes another staging tree than p->staging_*. */
void sync__verified_check_tree(sync_pass_t *p);
/* 1 when the record holds the strong hash of the staging file `path` of stat `st`, piece
 * by piece (copy_file asks before it writes). */
int sync__verified_holds(sync_pass_t *p, const char *path, const struct stat *st);
/* The file `path` of staging is about to be written: its strong hash is no longer known. */
void sync__verified_forget(sync_pass_t *p, const char *path);
/* The pass wrote the ranges `r[0..n)` of staging's `path` (open for reading at `fd`, its
 * size `old_size` before), whose record held before (sync__verified_holds): hashes again
 * the pieces written (and, when the size changed, from the old end on), so the record
 * holds for the file's present stat without reading the rest. On a read error the record
 * stays forgotten and the end of the pass hashes the file whole. 0 or MIG_ENOMEM. */
int sync__verified_wrote(sync_pass_t *p, int fd, const char *path, uint64_t old_size, const sync_range_t *r,
                         size_t n);
/* The end of a pass before the final: hashes the staging files whose SHA-256 is not
 * recorded for their present stat, into the record in memory. Returns 0 or MIG_E*. */
int sync__verified_refresh(sync_pass_t *p, int sfd);
/* Saves the record of staging hashes (verified.bin), valid within this boot only (a power
 * loss, which may lose staging bytes not yet on disk, starts another). 0 or MIG_E*. */
int sync__verified_store(sync_pass_t *p);

/* sync_hash.c: staging files written without a standing record, hashed beside the copy. */

/* Starts the thread (a descriptor of its own on staging `sfd`). 0 or MIG_E*. */
int sync__hasher_start(sync_pass_t *p, int sfd, sync_hasher_t **out);
/* The copy wrote staging's `path`, which now has stat `st`: hash it. */
void sync__hasher_add(sync_hasher_t *h, const char *path, const struct stat *st);
/* Waits for the thread to hash what it was given and puts each file whose stat held
 * into the record of staging hashes; frees `h` (NULL: nothing). 0 or MIG_ENOMEM. */
int sync__hasher_finish(sync_hasher_t *h);

/* Every entry of staging (open at `sfd`) against `want`, the source's strong manifest; a
 * file that differs loses its record. Returns 0 or MIG_EPROTO with the first bad path in
 * the error. */
int sync__verify(sync_pass_t *p, int sfd, const manifest_t *want);
/* Puts staging in place of the directory, then removes the old tree; idempotent, so a
 * restart in the middle finishes it. Returns 0 or MIG_EIO with the error set. */
int sync__switch_tree(sync_pass_t *p);

#endif
