/* fileio.c - small file helpers for the TEE layer: bounded reads, atomic writes, paths. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/tee_internal.h"

kg_result kg_file_read(kg_buf *out, const char *path, size_t max)
{
    kg_result rc = KG_ERROR;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            KG_BAIL(KG_ERR_NOT_FOUND, "'%s' does not exist", path);
        KG_BAIL(KG_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    uint8_t chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        KG_ENSURE_C(n >= 0, KG_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        if (n == 0)
            break;
        KG_ENSURE_C(out->len + (size_t)n <= max, KG_ERR_TOO_LARGE,
                    "'%s' is larger than %zu bytes", path, max);
        KG_GUARD_C(kg_buf_append(out, chunk, (size_t)n));
    }
    rc = KG_OK;
cleanup:
    kg_memzero(chunk, sizeof(chunk));
    close(fd);
    return rc;
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

kg_result kg_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    kg_result rc = KG_ERROR;
    kg_buf tmp;
    int fd = -1;
    kg_buf_init(&tmp, 4096);
    KG_GUARD_C(kg_buf_printf(&tmp, "%s.tmp", path));
    KG_GUARD_C(kg_buf_terminate(&tmp));
    (void)unlink((char *)tmp.data);
    fd = open((char *)tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    KG_ENSURE_C(fd >= 0, KG_ERR_IO, "cannot create '%s': %s", (char *)tmp.data, strerror(errno));
    /* the umask must not widen or narrow what the caller asked (0600 for keys) */
    KG_ENSURE_C(fchmod(fd, (mode_t)mode) == 0, KG_ERR_IO, "cannot chmod '%s': %s",
                (char *)tmp.data, strerror(errno));
    KG_GUARD_C(write_all(fd, data, len, (char *)tmp.data));
    KG_ENSURE_C(fsync(fd) == 0, KG_ERR_IO, "cannot fsync '%s': %s", (char *)tmp.data,
                strerror(errno));
    KG_ENSURE_C(close(fd) == 0, KG_ERR_IO, "cannot close '%s': %s", (char *)tmp.data,
                strerror(errno));
    fd = -1;
    KG_ENSURE_C(rename((char *)tmp.data, path) == 0, KG_ERR_IO, "cannot rename to '%s': %s", path,
                strerror(errno));
    rc = KG_OK;
cleanup:
    if (fd >= 0) {
        close(fd);
        (void)unlink((char *)tmp.data);
    }
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
