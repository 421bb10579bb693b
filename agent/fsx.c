/* fsx.c - file-system helpers of the world sync (see fsx.h): opens beneath a root that
 * never follow a symlink, tree removal, atomic small files. */
#include "agent/fsx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

/* Folders a tree removal descends at most: a world is a few levels deep (region/, DIM-1/
 * region/, data/); a deeper tree is refused rather than recursed without bound. */
#define FSX_MAX_DEPTH 64

int fsx_open_beneath(int rootfd, const char *rel, int flags, mode_t mode, int mkparents) {
    char buf[PATH_MAX];
    size_t n = strlen(rel);
    if (n == 0 || n >= sizeof buf || rel[0] == '/')
        return MIG_EINVALID;
    memcpy(buf, rel, n + 1);
    int dfd = rootfd;
    char *comp = buf;
    int rv;
    for (char *slash; (slash = strchr(comp, '/')) != NULL; comp = slash + 1) {
        *slash = '\0';
        int next = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && mkparents) {
            if (mkdirat(dfd, comp, 0755) != 0 && errno != EEXIST) {
                rv = MIG_EIO;
                goto out;
            }
            next = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            rv = errno == ENOENT ? MIG_ENOT_FOUND : MIG_EIO;
            goto out;
        }
        if (dfd != rootfd)
            close(dfd);
        dfd = next;
    }
    rv = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (rv < 0)
        rv = errno == ENOENT ? MIG_ENOT_FOUND : MIG_EIO;
out:
    if (dfd != rootfd) {
        int e = errno;
        close(dfd);
        errno = e;
    }
    return rv;
}

/* Removes every entry of the open folder `fd` (which it closes), `depth` levels down. */
static int remove_contents(int fd, int depth) {
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return MIG_EIO;
    }
    int rv = 0;
    struct dirent *e;
    while (rv == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rv = errno == ENOENT ? 0 : MIG_EIO;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth >= FSX_MAX_DEPTH) {
                rv = MIG_EIO;
                break;
            }
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 || remove_contents(sub, depth + 1) != 0 ||
                unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) != 0)
                rv = MIG_EIO;
        } else if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
            rv = MIG_EIO;
        }
    }
    closedir(d);
    return rv;
}

int fsx_remove_tree(int dirfd, const char *name) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : MIG_EIO;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : MIG_EIO;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return MIG_EIO;
    if (remove_contents(fd, 1) != 0)
        return MIG_EIO;
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : MIG_EIO;
}

/* Temp file, then rename over `name`; with `durable`, fsync of the file before the rename
 * and of the folder after it. */
static int write_replace(int dirfd, const char *name, const void *buf, size_t len, int durable) {
    char tmp[NAME_MAX + 1];
    if (snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= (int)sizeof tmp)
        return MIG_EINVALID;
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return MIG_EIO;
    int rv = MIG_EIO;
    const unsigned char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        p += w;
        left -= (size_t)w;
    }
    if (durable && fsync(fd) != 0)
        goto out;
    if (renameat(dirfd, tmp, dirfd, name) != 0)
        goto out;
    /* the rename itself is durable only once the folder is */
    if (durable && fsync(dirfd) != 0)
        goto out;
    rv = 0;
out:
    close(fd);
    if (rv != 0)
        unlinkat(dirfd, tmp, 0);
    return rv;
}

int fsx_write_atomic(int dirfd, const char *name, const void *buf, size_t len) {
    return write_replace(dirfd, name, buf, len, 1);
}

int fsx_replace_file(int dirfd, const char *name, const void *buf, size_t len) {
    return write_replace(dirfd, name, buf, len, 0);
}

int fsx_read_file(int dirfd, const char *name, size_t max, unsigned char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? MIG_ENOT_FOUND : MIG_EIO;
    int rv = MIG_EIO;
    unsigned char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    if ((unsigned long long)st.st_size > max) {
        rv = MIG_EINVALID;
        goto out;
    }
    size_t n = (size_t)st.st_size;
    buf = malloc(n ? n : 1);
    if (buf == NULL) {
        rv = MIG_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rv = 0;
out:
    free(buf);
    close(fd);
    return rv;
}

int fsx_open_parent(const char *path, const char **base) {
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (slash == NULL) {
        *base = path;
        snprintf(dir, sizeof dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return MIG_EINVALID;
        memcpy(dir, path, n);
        dir[n] = '\0';
        if (n == 0)
            snprintf(dir, sizeof dir, "/");
        *base = slash + 1;
    }
    if (**base == '\0')
        return MIG_EINVALID;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? MIG_EIO : fd;
}
