/* fileio.c - the project's file helpers (fileio.h): bounded and secret reads, atomic and
 * create-once writes with fsync, paths. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/fileio.h"

/* Reads an open descriptor to the end into out (bounded), wiping the chunks. */
static kg_result read_fd(kg_buf *out, int fd, const char *path, size_t max)
{
    kg_result rc = KG_ERROR;
    size_t start = out->len;
    uint8_t chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        KG_ENSURE_C(n >= 0, KG_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        if (n == 0)
            break;
        KG_ENSURE_C(out->len - start + (size_t)n <= max, KG_ERR_TOO_LARGE,
                    "'%s' is larger than %zu bytes", path, max);
        KG_GUARD_C(kg_buf_append(out, chunk, (size_t)n));
    }
    rc = KG_OK;
cleanup:
    kg_memzero(chunk, sizeof(chunk));
    return rc;
}

static kg_result open_read(int *fd, const char *path, int extra_flags)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC | extra_flags);
    if (*fd < 0) {
        if (errno == ENOENT)
            KG_BAIL(KG_ERR_NOT_FOUND, "'%s' does not exist", path);
        KG_BAIL(KG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    return KG_OK;
}

kg_result kg_file_read(kg_buf *out, const char *path, size_t max)
{
    int fd;
    KG_GUARD(open_read(&fd, path, 0));
    kg_result rc = read_fd(out, fd, path, max);
    close(fd);
    return rc;
}

kg_result kg_file_read_secret(kg_buf *out, const char *path, size_t max)
{
    int fd;
    KG_GUARD(open_read(&fd, path, O_NOFOLLOW));
    kg_result rc = KG_ERROR;
    struct stat st;
    KG_ENSURE_C(fstat(fd, &st) == 0, KG_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    KG_ENSURE_C(S_ISREG(st.st_mode), KG_ERR_IO, "'%s' is not a regular file", path);
    KG_ENSURE_C((st.st_mode & 077) == 0, KG_ERR_DENIED,
                "key file '%s' is accessible to group or others (mode %04o); refusing to use it "
                "(chmod 600 only if you are sure it was never exposed)",
                path, (unsigned)(st.st_mode & 07777));
    KG_ENSURE_C(st.st_uid == geteuid(), KG_ERR_DENIED,
                "key file '%s' is owned by uid %u, not by this process (uid %u)", path,
                (unsigned)st.st_uid, (unsigned)geteuid());
    rc = read_fd(out, fd, path, max);
cleanup:
    close(fd);
    return rc;
}

kg_result kg_file_read_stdin(kg_buf *out, size_t max)
{
    return read_fd(out, STDIN_FILENO, "standard input", max);
}

static kg_result write_all(int fd, const void *data, size_t len, const char *path)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        KG_ENSURE(n > 0, KG_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return KG_OK;
}

kg_result kg_path_join(kg_buf *out, const char *dir, const char *name)
{
    kg_buf_init(out, 4096);
    KG_GUARD(kg_buf_printf(out, "%s/%s", dir, name));
    return kg_buf_terminate(out);
}

/* fsyncs the directory holding path, so a created or renamed entry survives a crash. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
    if (n >= sizeof(dir))
        return;
    if (slash == NULL)
        dir[0] = '.';
    else
        memcpy(dir, slash == path ? "/" : path, n);
    dir[n] = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

/* Creates path (O_EXCL, no symlink followed) with exactly mode, writes, fsyncs, closes. */
static kg_result create_synced(const char *path, const void *data, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    KG_ENSURE(fd >= 0, KG_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    kg_result rc = KG_ERROR;
    /* the umask must not widen or narrow what the caller asked (0600 for keys) */
    KG_ENSURE_C(fchmod(fd, (mode_t)mode) == 0, KG_ERR_IO, "cannot chmod '%s': %s", path,
                strerror(errno));
    KG_GUARD_C(write_all(fd, data, len, path));
    KG_ENSURE_C(fsync(fd) == 0, KG_ERR_IO, "cannot fsync '%s': %s", path, strerror(errno));
    rc = KG_OK;
cleanup:
    if (close(fd) != 0 && kg_ok(rc))
        rc = kg_error_set(KG_ERR_IO, __FILE__, __LINE__, "cannot close '%s': %s", path,
                          strerror(errno));
    if (kg_failed(rc))
        (void)unlink(path);
    return rc;
}

kg_result kg_file_create(const char *path, const void *data, size_t len, unsigned mode)
{
    KG_GUARD(create_synced(path, data, len, mode));
    sync_dir_of(path);
    return KG_OK;
}

kg_result kg_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    kg_result rc = KG_ERROR;
    kg_buf tmp;
    kg_buf_init(&tmp, 4096);
    /* One temporary name per call: two threads replacing the same file must not share one (the
     * second's unlink and create would let the first rename a half-written file into place). */
    static atomic_uint seq;
    unsigned n = atomic_fetch_add(&seq, 1u);
    KG_GUARD_C(kg_buf_printf(&tmp, "%s.tmp.%ld.%u", path, (long)getpid(), n));
    KG_GUARD_C(kg_buf_terminate(&tmp));
    const char *tpath = (const char *)tmp.data;
    (void)unlink(tpath); /* left by a crashed writer whose pid this process now has */
    KG_GUARD_C(create_synced(tpath, data, len, mode));
    if (rename(tpath, path) != 0) {
        int e = errno;
        (void)unlink(tpath);
        KG_BAIL_C(KG_ERR_IO, "cannot rename to '%s': %s", path, strerror(e));
    }
    sync_dir_of(path);
    rc = KG_OK;
cleanup:
    kg_buf_free(&tmp);
    return rc;
}

kg_result kg_mkdir_p(const char *dir)
{
    kg_result rc = KG_ERROR;
    kg_buf p;
    kg_buf_init(&p, 4096);
    KG_GUARD_C(kg_buf_append_str(&p, dir));
    KG_GUARD_C(kg_buf_terminate(&p));
    char *s = (char *)p.data;
    for (size_t i = 1; i <= p.len; i++) {
        if (s[i] != '/' && s[i] != '\0')
            continue;
        char saved = s[i];
        s[i] = '\0';
        if (mkdir(s, 0700) != 0 && errno != EEXIST)
            KG_BAIL_C(KG_ERR_IO, "cannot create directory '%s': %s", s, strerror(errno));
        s[i] = saved;
    }
    rc = KG_OK;
cleanup:
    kg_buf_free(&p);
    return rc;
}
