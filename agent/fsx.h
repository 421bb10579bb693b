/* fsx.h - file-system helpers of the world sync: opening paths beneath a root without
 * ever following a symlink, creating parents, removing trees, and writing small files
 * atomically (temp + fsync + rename + fsync of the folder).
 *
 * Every relative path given here must have passed manifest_check_path() (no "..", no
 * empty or "." segment, not absolute); each component is opened with O_NOFOLLOW, so a
 * symlink planted anywhere on the way fails the call (ELOOP or ENOTDIR) instead of
 * leading out of the root. Functions return 0 or a negative MIG_E* code and leave errno
 * as the failing call set it. */
#ifndef MIG_AGENT_FSX_H
#define MIG_AGENT_FSX_H

#include <stddef.h>
#include <sys/types.h>

/* Opens `rel` beneath the directory `rootfd` with `flags` (O_NOFOLLOW and O_CLOEXEC are
 * added) and `mode` for O_CREAT. With `mkparents`, missing parent folders are created
 * (mode 0755). Returns the descriptor (caller closes) or a negative MIG_E* code. */
int fsx_open_beneath(int rootfd, const char *rel, int flags, mode_t mode, int mkparents);

/* Removes `name` in `dirfd`, a file or a whole folder tree, never following a symlink.
 * A missing name is success. Returns 0 or MIG_EIO. */
int fsx_remove_tree(int dirfd, const char *name);

/* Writes `len` bytes as `dirfd`/`name` atomically: a temp file beside it, fsync, rename
 * over the old one, fsync of the folder. A crash leaves the old content or the new one,
 * never a mix. Returns 0 or MIG_EIO. */
int fsx_write_atomic(int dirfd, const char *name, const void *buf, size_t len);

/* As fsx_write_atomic without the two fsyncs: a crash of the process (kill -9) still
 * leaves the old content or the new one, since both live in the page cache; a power loss
 * may leave either, or (on a file system that does not order data before renames, unlike
 * ext4) an empty or partial file, so a reader must check what it reads. Returns 0 or
 * MIG_EIO. */
int fsx_replace_file(int dirfd, const char *name, const void *buf, size_t len);

/* Reads the whole file `dirfd`/`name` (at most `max` bytes) into a malloc'd buffer the
 * caller frees. Returns 0, MIG_ENOT_FOUND when the file does not exist, MIG_EINVALID when it
 * is larger than `max`, MIG_EIO or MIG_ENOMEM. */
int fsx_read_file(int dirfd, const char *name, size_t max, unsigned char **out, size_t *len);

/* Splits "/a/b/c" into its parent folder's descriptor (opened O_DIRECTORY, caller closes)
 * and a pointer to "c" inside `path`, for renames of a tree inside its parent. Returns
 * the descriptor or a negative MIG_E* code. */
int fsx_open_parent(const char *path, const char **base);

#endif
