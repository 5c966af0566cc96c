/* linux.c - the Linux TDX backend: quotes through configfs-tsm, RTMR3 through the kernel's
 * measurement register file (Documentation/ABI/testing/configfs-tsm-report,
 * sysfs-class-misc-tdx_guest). Every path is configurable so tests can use an imitation tree. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/tee_internal.h"

#define DEFAULT_TSM_DIR "/sys/kernel/config/tsm/report"
#define DEFAULT_RTMR3 "/sys/class/misc/tdx_guest/measurements/rtmr3:sha384"
#define DEFAULT_EVENTLOG "/run/keygate/eventlog.json"
#define MAX_SMALL_FILE 256u

typedef struct linux_impl {
    char *tsm_dir;
    char *entry; /* NULL: a fresh entry per quote (mkdir/rmdir); else a pre-made entry name */
    char *rtmr3;
} linux_impl;

static char *dup_or(const char *s, const char *dflt)
{
    const char *v = s != NULL ? s : dflt;
    size_t n = strlen(v) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, v, n);
    return d;
}

/* Reads a small text attribute such as "generation" (a decimal) or "provider". */
static kg_result read_text(char *out, size_t out_size, const char *dir, const char *name)
{
    kg_result rc = KG_ERROR;
    kg_buf path, raw;
    kg_buf_init(&raw, MAX_SMALL_FILE);
    KG_GUARD(kg_path_join(&path, dir, name));
    KG_GUARD_C(kg_file_read(&raw, (char *)path.data, MAX_SMALL_FILE));
    while (raw.len > 0 && (raw.data[raw.len - 1] == '\n' || raw.data[raw.len - 1] == ' '))
        raw.len--;
    KG_ENSURE_C(raw.len < out_size, KG_ERR_TOO_LARGE, "'%s' is too long", (char *)path.data);
    memcpy(out, raw.data, raw.len);
    out[raw.len] = '\0';
    rc = KG_OK;
cleanup:
    kg_buf_free(&path);
    kg_buf_free(&raw);
    return rc;
}

static kg_result read_generation(unsigned long long *out, const char *dir)
{
    char text[32], *end = NULL;
    KG_GUARD(read_text(text, sizeof(text), dir, "generation"));
    errno = 0;
    *out = strtoull(text, &end, 10);
    KG_ENSURE(errno == 0 && end != text && *end == '\0', KG_ERR_IO,
              "configfs-tsm generation '%s' is not a number", text);
    return KG_OK;
}

static kg_result write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    KG_ENSURE(fd >= 0, KG_ERR_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
    ssize_t n;
    do
        n = write(fd, data, len);
    while (n < 0 && errno == EINTR);
    int e = errno;
    int c = close(fd);
    KG_ENSURE(n == (ssize_t)len, KG_ERR_IO, "cannot write %zu bytes to '%s': %s", len, path,
              n < 0 ? strerror(e) : "short write");
    KG_ENSURE(c == 0, KG_ERR_IO, "cannot close '%s': %s", path, strerror(errno));
    return KG_OK;
}

/*
 * configfs-tsm protocol: write REPORTDATA to inblob, read the quote from outblob. Another writer
 * between the two would hand us a quote over someone else's data; "generation" counts writes,
 * so it must have moved by exactly our one write when the outblob read completes.
 */
static kg_result quote_in_entry(const char *entry_dir, kg_buf *out, const uint8_t rd[64])
{
    kg_result rc = KG_ERROR;
    kg_buf inblob, outblob;
    char provider[64];
    unsigned long long g0, g1;
    size_t before = out->len;
    kg_buf_init(&inblob, 0);
    kg_buf_init(&outblob, 0);
    kg_result pr = read_text(provider, sizeof(provider), entry_dir, "provider");
    if (kg_ok(pr)) {
        KG_ENSURE_C(strcmp(provider, "tdx_guest") == 0, KG_ERR_DENIED,
                    "configfs-tsm provider is '%s', not 'tdx_guest'", provider);
    } else if (kg_error_code() == KG_ERR_NOT_FOUND) {
        kg_error_clear(); /* kernels before 6.8 have no provider attribute */
    } else {
        goto cleanup;
    }
    KG_GUARD_C(read_generation(&g0, entry_dir));
    KG_GUARD_C(kg_path_join(&inblob, entry_dir, "inblob"));
    KG_GUARD_C(kg_path_join(&outblob, entry_dir, "outblob"));
    KG_GUARD_C(write_file((char *)inblob.data, rd, 64));
    KG_GUARD_C(kg_file_read(out, (char *)outblob.data, KG_MAX_TEE_QUOTE_LEN));
    KG_ENSURE_C(out->len > before, KG_ERR_IO, "configfs-tsm outblob is empty");
    KG_GUARD_C(read_generation(&g1, entry_dir));
    KG_ENSURE_C(g1 == g0 + 1, KG_ERR_IO,
                "configfs-tsm report raced with another writer (generation %llu -> %llu)", g0, g1);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc) && out->len > before) {
        /* never hand back a quote that failed the race check */
        kg_memzero(out->data + before, out->len - before);
        out->len = before;
    }
    kg_buf_free(&inblob);
    kg_buf_free(&outblob);
    return rc;
}

static kg_result linux_quote(kg_tee *tee, kg_buf *out, const uint8_t rd[64])
{
    linux_impl *li = tee->impl;
    kg_result rc = KG_ERROR;
    kg_buf entry;
    bool made = false;
    kg_buf_init(&entry, 4096);
    if (li->entry != NULL) {
        KG_GUARD_C(kg_buf_printf(&entry, "%s/%s", li->tsm_dir, li->entry));
        KG_GUARD_C(kg_buf_terminate(&entry));
    } else {
        static unsigned counter;
        KG_GUARD_C(kg_buf_printf(&entry, "%s/keygate-%ld-%u", li->tsm_dir, (long)getpid(),
                                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)));
        KG_GUARD_C(kg_buf_terminate(&entry));
        KG_ENSURE_C(mkdir((char *)entry.data, 0700) == 0, KG_ERR_IO,
                    "cannot create configfs-tsm report '%s': %s", (char *)entry.data,
                    strerror(errno));
        made = true;
    }
    KG_GUARD_CTX_C(quote_in_entry((char *)entry.data, out, rd), "TDX quote");
    rc = KG_OK;
cleanup:
    if (made)
        (void)rmdir((char *)entry.data);
    kg_buf_free(&entry);
    return rc;
}

/* The register reads as 48 raw bytes (newer kernels) or 96 hex characters. */
static kg_result linux_read_rtmr3(kg_tee *tee, uint8_t out[48])
{
    linux_impl *li = tee->impl;
    kg_result rc = KG_ERROR;
    kg_buf raw;
    kg_buf_init(&raw, MAX_SMALL_FILE);
    KG_GUARD_CTX_C(kg_file_read(&raw, li->rtmr3, MAX_SMALL_FILE), "reading RTMR3");
    if (raw.len == 48) {
        memcpy(out, raw.data, 48);
    } else {
        while (raw.len > 0 && raw.data[raw.len - 1] == '\n')
            raw.len--;
        size_t got = 0;
        KG_ENSURE_C(raw.len == 96, KG_ERR_IO, "RTMR3 file '%s' holds %zu bytes, want 48 or hex",
                    li->rtmr3, raw.len);
        KG_GUARD_C(kg_hex_decode(out, 48, &got, (char *)raw.data, raw.len));
    }
    rc = KG_OK;
cleanup:
    kg_buf_free(&raw);
    return rc;
}

static kg_result linux_extend_rtmr3(kg_tee *tee, const uint8_t digest[48])
{
    linux_impl *li = tee->impl;
    return write_file(li->rtmr3, digest, 48);
}

static void linux_free(kg_tee *tee)
{
    linux_impl *li = tee->impl;
    if (li == NULL)
        return;
    free(li->tsm_dir);
    free(li->entry);
    free(li->rtmr3);
    free(li);
}

/* No seal_key: TDX has no hardware sealing key (kg_tee_seal_key says so). */
static const kg_tee_ops linux_ops = {"tdx",      linux_quote, linux_read_rtmr3, linux_extend_rtmr3,
                                     linux_free, NULL};

kg_result kg_tee_open_linux(kg_tee **out, const kg_tee_linux_config *cfg)
{
    kg_tee_linux_config dflt = {0};
    if (cfg == NULL)
        cfg = &dflt;
    struct stat st;
    const char *tsm = cfg->tsm_report_dir ? cfg->tsm_report_dir : DEFAULT_TSM_DIR;
    KG_ENSURE(stat(tsm, &st) == 0 && S_ISDIR(st.st_mode), KG_ERR_NOT_FOUND,
              "configfs-tsm report directory '%s' not found (not a TDX guest, or configfs not "
              "mounted)",
              tsm);
    const char *log = cfg->eventlog_path ? cfg->eventlog_path : DEFAULT_EVENTLOG;
    {
        /* the log's directory (e.g. /run/keygate) may not exist after boot */
        char parent[4096];
        const char *slash = strrchr(log, '/');
        size_t n = slash ? (size_t)(slash - log) : 0;
        KG_ENSURE(n < sizeof(parent), KG_ERR_USAGE, "event log path too long");
        if (n > 0) {
            memcpy(parent, log, n);
            parent[n] = '\0';
            KG_GUARD(kg_mkdir_p(parent));
        }
    }
    kg_tee *t = NULL;
    KG_GUARD(kg_tee_alloc(&t, &linux_ops, log));
    linux_impl *li = calloc(1, sizeof(*li));
    if (li != NULL) {
        li->tsm_dir = dup_or(cfg->tsm_report_dir, DEFAULT_TSM_DIR);
        li->rtmr3 = dup_or(cfg->rtmr3_path, DEFAULT_RTMR3);
        li->entry = cfg->report_entry ? dup_or(cfg->report_entry, "") : NULL;
    }
    t->impl = li;
    if (li == NULL || li->tsm_dir == NULL || li->rtmr3 == NULL ||
        (cfg->report_entry && li->entry == NULL)) {
        kg_tee_free(t);
        KG_BAIL(KG_ERR_NOMEM, "out of memory");
    }
    *out = t;
    return KG_OK;
}
