/* tee.c - the backend-independent TEE layer: dispatch, and the RTMR3 event journal that keeps
 * the persisted event log and the register in step (tee.h). */
#include "keygate/tee.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "tee/tee_internal.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

kg_result kg_tee_alloc(kg_tee **out, const kg_tee_ops *ops, const char *eventlog_path)
{
    kg_tee *t = calloc(1, sizeof(*t));
    KG_ENSURE(t != NULL, KG_ERR_NOMEM, "out of memory");
    t->ops = ops;
    t->eventlog_path = dup_str(eventlog_path);
    size_t n = strlen(eventlog_path) + sizeof(".lock");
    t->lock_path = malloc(n);
    if (t->eventlog_path == NULL || t->lock_path == NULL) {
        free(t->eventlog_path);
        free(t->lock_path);
        free(t);
        KG_BAIL(KG_ERR_NOMEM, "out of memory");
    }
    snprintf(t->lock_path, n, "%s.lock", eventlog_path);
    *out = t;
    return KG_OK;
}

void kg_tee_free(kg_tee *tee)
{
    if (tee == NULL)
        return;
    if (tee->ops != NULL && tee->ops->free != NULL)
        tee->ops->free(tee);
    free(tee->eventlog_path);
    free(tee->lock_path);
    free(tee);
}

const char *kg_tee_backend(const kg_tee *tee)
{
    return tee->ops->name;
}

kg_result kg_tee_get_quote(kg_tee *tee, kg_buf *out, const uint8_t report_data[KG_REPORT_DATA_LEN])
{
    return tee->ops->quote(tee, out, report_data);
}

kg_result kg_tee_read_rtmr3(kg_tee *tee, uint8_t out[KG_RTMR_LEN])
{
    return tee->ops->read_rtmr3(tee, out);
}

kg_result kg_tee_seal_key(kg_tee *tee, uint8_t out[KG_TEE_SEAL_KEY_LEN], const char *label)
{
    kg_memzero(out, KG_TEE_SEAL_KEY_LEN);
    size_t n = label != NULL ? strlen(label) : 0;
    KG_ENSURE(n >= 1 && n <= KG_TEE_MAX_SEAL_LABEL, KG_ERR_USAGE,
              "seal key label of %zu characters (want 1..%u)", n, KG_TEE_MAX_SEAL_LABEL);
    KG_ENSURE(tee->ops->seal_key != NULL, KG_ERR_UNAVAILABLE,
              "the %s TEE has no sealing key (TDX offers none): keys sealed for this VM cannot "
              "be opened after a restart without help from outside it",
              tee->ops->name);
    if (kg_failed(tee->ops->seal_key(tee, out, label))) {
        kg_memzero(out, KG_TEE_SEAL_KEY_LEN);
        return KG_ERROR;
    }
    return KG_OK;
}

/* ---- the journal ----------------------------------------------------------------------------
 * Invariant kept under an exclusive flock on <eventlog>.lock: replay(log) == RTMR3.
 * extend: write log+event atomically (rename), then extend the register; if the extension
 * fails, put the old log back. A crash between the two leaves one extra trailing entry, which
 * load_reconciled() drops because replay(log without it) == RTMR3.
 */

static kg_result lock_journal(kg_tee *tee, int *fd_out)
{
    int fd = open(tee->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    KG_ENSURE(fd >= 0, KG_ERR_IO, "cannot open lock '%s': %s", tee->lock_path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            KG_BAIL(KG_ERR_IO, "cannot lock '%s': %s", tee->lock_path, strerror(e));
        }
    }
    *fd_out = fd;
    return KG_OK;
}

static void unlock_journal(int fd)
{
    if (fd >= 0) {
        (void)flock(fd, LOCK_UN);
        close(fd);
    }
}

static kg_result load_log(kg_tee *tee, kg_eventlog *log)
{
    kg_result rc = KG_ERROR;
    kg_buf raw;
    kg_buf_init(&raw, KG_MAX_EVENTLOG_JSON_LEN);
    kg_eventlog_init(log);
    kg_result r = kg_file_read(&raw, tee->eventlog_path, KG_MAX_EVENTLOG_JSON_LEN);
    if (kg_failed(r)) {
        if (kg_error_code() != KG_ERR_NOT_FOUND)
            goto cleanup;
        kg_error_clear(); /* no log yet: nothing was extended through us */
        rc = KG_OK;
        goto cleanup;
    }
    KG_GUARD_CTX_C(kg_eventlog_parse(log, (char *)raw.data, raw.len), "event log '%s'",
                   tee->eventlog_path);
    rc = KG_OK;
cleanup:
    kg_buf_free(&raw);
    return rc;
}

static kg_result save_log(kg_tee *tee, const kg_eventlog *log)
{
    kg_result rc = KG_ERROR;
    kg_buf js;
    kg_buf_init(&js, KG_MAX_EVENTLOG_JSON_LEN);
    KG_GUARD_C(kg_eventlog_to_json(&js, log));
    KG_GUARD_C(kg_file_write_atomic(tee->eventlog_path, js.data, js.len, 0600));
    rc = KG_OK;
cleanup:
    kg_buf_free(&js);
    return rc;
}

/* Loads the log and restores replay(log) == RTMR3 after an interrupted extend. */
static kg_result load_reconciled(kg_tee *tee, kg_eventlog *log, uint8_t rtmr3[KG_RTMR_LEN])
{
    uint8_t replay[KG_RTMR_LEN];
    KG_GUARD(tee->ops->read_rtmr3(tee, rtmr3));
    KG_GUARD(load_log(tee, log));
    kg_result r = kg_eventlog_replay(replay, log);
    if (kg_ok(r) && memcmp(replay, rtmr3, KG_RTMR_LEN) == 0)
        return KG_OK;
    if (log->count > 0) {
        /* Was the last entry journaled but never extended? */
        kg_eventlog shorter = *log;
        shorter.count--;
        if (kg_ok(kg_eventlog_replay(replay, &shorter)) &&
            memcmp(replay, rtmr3, KG_RTMR_LEN) == 0) {
            kg_error_clear();
            kg_event *last = &log->events[log->count - 1];
            free(last->payload);
            memset(last, 0, sizeof(*last));
            log->count--;
            kg_result s = save_log(tee, log);
            if (kg_failed(s)) {
                kg_eventlog_free(log);
                return KG_ERROR;
            }
            return KG_OK;
        }
    }
    kg_eventlog_free(log);
    KG_BAIL(KG_ERR_VERIFY, "event log '%s' does not replay to RTMR3", tee->eventlog_path);
}

kg_result kg_tee_extend(kg_tee *tee, const char *name, const uint8_t *payload, size_t payload_len)
{
    return kg_tee_extend_version(tee, false, name, payload, payload_len);
}

kg_result kg_tee_extend_version(kg_tee *tee, bool v2, const char *name, const uint8_t *payload,
                                size_t payload_len)
{
    kg_result rc = KG_ERROR;
    int lock = -1;
    kg_eventlog log;
    uint8_t rtmr3[KG_RTMR_LEN];
    kg_eventlog_init(&log);
    KG_GUARD_C(lock_journal(tee, &lock));
    KG_GUARD_C(load_reconciled(tee, &log, rtmr3));
    KG_GUARD_C(kg_eventlog_append_version(&log, v2, name, payload, payload_len));
    KG_GUARD_CTX_C(save_log(tee, &log), "journaling event '%s'", name);
    kg_result r = tee->ops->extend_rtmr3(tee, log.events[log.count - 1].digest);
    if (kg_failed(r)) {
        /* the register did not move: take the entry back out of the log */
        kg_event *last = &log.events[log.count - 1];
        free(last->payload);
        memset(last, 0, sizeof(*last));
        log.count--;
        (void)kg_error_context("extending RTMR3 with event '%s'", name);
        /* keep the extension failure as the reported error even if the restore fails */
        if (kg_failed(save_log(tee, &log)))
            (void)kg_error_context("also failed to restore the event log");
        goto cleanup;
    }
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&log);
    unlock_journal(lock);
    return rc;
}

kg_result kg_tee_read_eventlog(kg_tee *tee, kg_eventlog *out)
{
    kg_result rc = KG_ERROR;
    int lock = -1;
    uint8_t rtmr3[KG_RTMR_LEN];
    kg_eventlog_init(out);
    KG_GUARD_C(lock_journal(tee, &lock));
    KG_GUARD_C(load_reconciled(tee, out, rtmr3));
    rc = KG_OK;
cleanup:
    unlock_journal(lock);
    return rc;
}

kg_result kg_tee_open(kg_tee **out, const char *spec)
{
    if (strcmp(spec, "tdx") == 0)
        return kg_tee_open_linux(out, NULL);
    if (strncmp(spec, "sim:", 4) == 0) {
        const char *rest = spec + 4;
        const char *colon = strrchr(rest, ':');
        KG_ENSURE(colon != NULL && colon != rest && colon[1] != '\0', KG_ERR_USAGE,
                  "TEE spec '%s' is not sim:<platform_dir>:<vm>", spec);
        char *dir = malloc((size_t)(colon - rest) + 1);
        KG_ENSURE(dir != NULL, KG_ERR_NOMEM, "out of memory");
        memcpy(dir, rest, (size_t)(colon - rest));
        dir[colon - rest] = '\0';
        kg_result r = kg_tee_open_sim(out, dir, colon + 1);
        free(dir);
        return r;
    }
    KG_BAIL(KG_ERR_USAGE, "unknown TEE '%s' (want 'tdx' or 'sim:<platform_dir>:<vm>')", spec);
}
