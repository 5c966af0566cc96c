/* fileio.h - the project's one set of file helpers: bounded reads, secret reads that refuse a
 * file others could have read, atomic writes, create-once writes, paths. Every program and
 * library module reads and writes files through these. */
#ifndef KEYGATE_FILEIO_H
#define KEYGATE_FILEIO_H

#include <stddef.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

/* Appends a whole file (at most max bytes) to out; the chunks read are wiped (files may hold
 * keys). A missing file is KG_ERR_NOT_FOUND, a larger one KG_ERR_TOO_LARGE. out is not
 * NUL-terminated: call kg_buf_terminate for text. */
KG_RESULT kg_file_read(kg_buf *out, const char *path, size_t max);

/* kg_file_read for a secret: path must be a regular file (not a symlink) owned by this process's
 * user and inaccessible to group and others (KG_ERR_DENIED otherwise: a key others could read
 * may already be copied, so it is refused, not used). */
KG_RESULT kg_file_read_secret(kg_buf *out, const char *path, size_t max);

/* Appends standard input, to its end (at most max bytes), to out, wiping the chunks read: what a
 * command reads for a "-" file argument (a pipe has no mode to check). */
KG_RESULT kg_file_read_stdin(kg_buf *out, size_t max);

/* Replaces path atomically: <path>.tmp.<pid>.<n> (a name of its own per call, so threads may
 * replace the same file at once) created with exactly `mode` (the umask neither widens nor
 * narrows it), written, fsync'd, renamed over path, directory fsync'd. */
KG_RESULT kg_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Creates path, which must not exist (never overwrites: a key that was used is never replaced),
 * with exactly `mode`; the file and its directory are fsync'd, so it survives a crash. */
KG_RESULT kg_file_create(const char *path, const void *data, size_t len, unsigned mode);

/* Creates dir (and missing parents) with mode 0700. */
KG_RESULT kg_mkdir_p(const char *dir);

/* Joins dir and name into out (initialised here, capped at 4096 bytes, NUL-terminated). */
KG_RESULT kg_path_join(kg_buf *out, const char *dir, const char *name);

#endif
