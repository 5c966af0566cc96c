/* audit.c - SQLite decision log with group commit: concurrent appends share one durable commit,
 * so the log never becomes the KMS's throughput limit while each decision is still on disk
 * before its response leaves. */
#include "keygate/audit.h"

#include "keygate/bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define KG_AUDIT_MAX_BATCH 256u

/* One append waiting for a commit. Lives on the appending thread's stack. */
typedef struct audit_job {
    const kg_audit_record *rec; /* borrowed from the waiting caller */
    struct audit_job *next;
    bool done;
    bool ok;
    int64_t id;
    char error[256]; /* the commit's failure, re-raised on the caller's thread */
} audit_job;

struct kg_audit {
    sqlite3 *db;
    sqlite3_stmt *insert;
    pthread_mutex_t lock;
    pthread_cond_t committed;
    audit_job *pending_head; /* FIFO of jobs not yet taken by a leader */
    audit_job *pending_tail;
    bool leader_active; /* a thread is writing a batch */
};

static const char k_schema[] =
    "CREATE TABLE IF NOT EXISTS decisions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time_ms INTEGER NOT NULL,"
    " method TEXT NOT NULL,"
    " peer TEXT,"
    " decision TEXT NOT NULL CHECK (decision IN ('allow','deny')),"
    " reason TEXT,"
    " app_id TEXT, compose_hash TEXT, instance_id TEXT, device_id TEXT,"
    " mr_aggregated TEXT, mr_system TEXT, os_image_hash TEXT, tcb_status TEXT, advisory_ids TEXT,"
    " block_number INTEGER, block_hash TEXT,"
    " released TEXT);";

static const char k_insert[] =
    "INSERT INTO decisions (time_ms, method, peer, decision, reason, app_id, compose_hash,"
    " instance_id, device_id, mr_aggregated, mr_system, os_image_hash, tcb_status, advisory_ids,"
    " block_number, block_hash, released) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?);";

static kg_result sqlite_fail(sqlite3 *db, const char *file, int line, const char *what)
{
    return kg_error_set(KG_ERR_IO, file, line, "audit: %s: %s", what,
                        db ? sqlite3_errmsg(db) : "out of memory");
}
#define SQL_GUARD(db, expr, what)                                                                  \
    do {                                                                                           \
        if ((expr) != SQLITE_OK)                                                                   \
            return sqlite_fail((db), __FILE__, __LINE__, (what));                                  \
    } while (0)

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

kg_result kg_audit_open(kg_audit **out, const char *path, bool read_only)
{
    *out = NULL;
    kg_audit *a = calloc(1, sizeof(*a));
    KG_ENSURE(a != NULL, KG_ERR_NOMEM, "audit: out of memory");
    kg_result rc = KG_ERROR;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->committed, NULL);

    if (!read_only) {
        /* Create the file ourselves so it is 0600 from the first byte (it names apps). */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        KG_ENSURE_C(fd >= 0, KG_ERR_IO, "audit: cannot open '%s': %s", path, strerror(errno));
        close(fd);
    }
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path, &a->db, flags | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "open");
        (void)kg_error_context("'%s'", path);
        goto cleanup;
    }
    sqlite3_busy_timeout(a->db, 5000);
    if (!read_only) {
        /* WAL: readers (keygate audit list) never block the KMS; synchronous=FULL: a commit
         * is on stable storage when sqlite3_step returns, which is the whole point. */
        if (sqlite3_exec(a->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(a->db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(a->db, k_schema, NULL, NULL, NULL) != SQLITE_OK) {
            (void)sqlite_fail(a->db, __FILE__, __LINE__, "creating schema");
            goto cleanup;
        }
        if (sqlite3_prepare_v2(a->db, k_insert, -1, &a->insert, NULL) != SQLITE_OK) {
            (void)sqlite_fail(a->db, __FILE__, __LINE__, "preparing insert");
            goto cleanup;
        }
    }
    *out = a;
    a = NULL;
    rc = KG_OK;
cleanup:
    kg_audit_free(a);
    return rc;
}

void kg_audit_free(kg_audit *a)
{
    if (a == NULL)
        return;
    sqlite3_finalize(a->insert);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->committed);
    free(a);
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    /* Reasons quote what callers and contracts said: stored escaped (no terminal control,
     * valid UTF-8), and cut to the column's cap: a reason is evidence, not payload. */
    char safe[KG_AUDIT_MAX_FIELD + 1];
    size_t n = kg_text_escape(safe, sizeof(safe), s, strnlen(s, KG_AUDIT_MAX_FIELD));
    return sqlite3_bind_text(st, idx, safe, (int)n, SQLITE_TRANSIENT);
}

/* Lowercase hex of n bytes into out (room for 2n + 1), "" when n is 0. */
static void hex_field(char *out, const uint8_t *b, size_t n)
{
    if (kg_failed(kg_hex_encode(out, 2 * n + 1, b, n)))
        out[0] = 0; /* cannot happen: every caller sizes out for n */
}

/* The identity's columns as text (hex, the status, the advisory ids as a JSON array). */
typedef struct identity_text {
    char app_id[2 * KG_APP_ID_LEN + 1], compose_hash[2 * KG_COMPOSE_HASH_LEN + 1];
    char instance_id[2 * KG_INSTANCE_ID_LEN + 1], device_id[2 * KG_DEVICE_ID_LEN + 1];
    char mr_aggregated[2 * KG_MEASUREMENT_LEN + 1], mr_system[2 * KG_MEASUREMENT_LEN + 1];
    char os_image_hash[2 * KG_MEASUREMENT_LEN + 1];
    char *advisory_ids; /* owned (jansson) */
} identity_text;

static kg_result identity_to_text(identity_text *t, const kg_boot_identity *id)
{
    hex_field(t->app_id, id->app_id, id->has_app_id ? KG_APP_ID_LEN : 0);
    hex_field(t->compose_hash, id->compose_hash, id->has_compose_hash ? KG_COMPOSE_HASH_LEN : 0);
    hex_field(t->instance_id, id->instance_id, id->instance_id_len);
    hex_field(t->device_id, id->device_id, id->has_device_id ? KG_DEVICE_ID_LEN : 0);
    hex_field(t->mr_aggregated, id->mr_aggregated, KG_MEASUREMENT_LEN);
    hex_field(t->mr_system, id->mr_system, KG_MEASUREMENT_LEN);
    hex_field(t->os_image_hash, id->os_image_hash, KG_MEASUREMENT_LEN);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < id->n_advisory_ids; i++)
        if (json_array_append_new(arr, json_stringn(id->advisory_ids[i],
                                                    strnlen(id->advisory_ids[i],
                                                            KG_ADVISORY_ID_MAX))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    t->advisory_ids = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    KG_ENSURE(t->advisory_ids != NULL, KG_ERR_NOMEM, "audit: out of memory");
    return KG_OK;
}

static kg_result insert_one(kg_audit *a, const kg_audit_record *r, int64_t *id)
{
    sqlite3_stmt *st = a->insert;
    int rc = SQLITE_OK;
    identity_text t = {.advisory_ids = NULL};
    char claimed[2 * KG_APP_ID_LEN + 1];
    const kg_boot_identity *who = r->identity;
    if (who != NULL)
        KG_GUARD(identity_to_text(&t, who));
    if (r->claimed_app_id != NULL)
        hex_field(claimed, r->claimed_app_id, KG_APP_ID_LEN);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    rc |= sqlite3_bind_int64(st, 1, r->time_ms ? r->time_ms : now_ms());
    rc |= bind_text(st, 2, r->method ? r->method : "?");
    rc |= bind_text(st, 3, r->peer);
    rc |= bind_text(st, 4, r->allowed ? "allow" : "deny");
    rc |= bind_text(st, 5, r->reason);
    rc |= bind_text(st, 6, who && who->has_app_id ? t.app_id : r->claimed_app_id ? claimed : NULL);
    rc |= bind_text(st, 7, who && who->has_compose_hash ? t.compose_hash : NULL);
    rc |= bind_text(st, 8, who ? t.instance_id : NULL);
    rc |= bind_text(st, 9, who && who->has_device_id ? t.device_id : NULL);
    rc |= bind_text(st, 10, who ? t.mr_aggregated : NULL);
    rc |= bind_text(st, 11, who ? t.mr_system : NULL);
    rc |= bind_text(st, 12, who ? t.os_image_hash : NULL);
    rc |= bind_text(st, 13, who ? who->tcb_status : NULL);
    rc |= bind_text(st, 14, who ? t.advisory_ids : NULL);
    rc |= r->block_number >= 0 ? sqlite3_bind_int64(st, 15, r->block_number)
                               : sqlite3_bind_null(st, 15);
    rc |= bind_text(st, 16, r->block_hash);
    rc |= bind_text(st, 17, r->released);
    free(t.advisory_ids);
    SQL_GUARD(a->db, rc, "binding record");
    if (sqlite3_step(st) != SQLITE_DONE)
        return sqlite_fail(a->db, __FILE__, __LINE__, "insert");
    *id = sqlite3_last_insert_rowid(a->db);
    return KG_OK;
}

/* Writes a batch in one transaction. All or nothing: on any failure the transaction is rolled
 * back and every job in the batch fails, so no caller believes an unwritten record exists. */
static kg_result write_batch(kg_audit *a, audit_job *batch)
{
    SQL_GUARD(a->db, sqlite3_exec(a->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL), "begin");
    for (audit_job *j = batch; j != NULL; j = j->next) {
        if (kg_failed(insert_one(a, j->rec, &j->id))) {
            sqlite3_reset(a->insert);
            (void)sqlite3_exec(a->db, "ROLLBACK;", NULL, NULL, NULL);
            return KG_ERROR;
        }
    }
    sqlite3_reset(a->insert);
    if (sqlite3_exec(a->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "commit");
        (void)sqlite3_exec(a->db, "ROLLBACK;", NULL, NULL, NULL);
        return KG_ERROR;
    }
    return KG_OK;
}

kg_result kg_audit_append(kg_audit *a, const kg_audit_record *rec, int64_t *id_out)
{
    KG_ENSURE(a != NULL && a->insert != NULL, KG_ERR_USAGE, "audit: log not open for writing");
    /* Checked here, on the caller's thread: a record the batch could not write would fail the
     * whole batch (every other decision in it) for one caller's mistake. */
    KG_ENSURE(rec->identity == NULL || rec->claimed_app_id == NULL, KG_ERR_USAGE,
              "audit: a record has a verified or a claimed identity, not both");
    const kg_boot_identity *who = rec->identity;
    KG_ENSURE(who == NULL || (who->n_advisory_ids <= KG_MAX_ADVISORY_IDS &&
                              (who->instance_id_len == 0 ||
                               who->instance_id_len == KG_INSTANCE_ID_LEN)),
              KG_ERR_INPUT, "audit: identity out of its caps");
    audit_job me = {.rec = rec};

    pthread_mutex_lock(&a->lock);
    if (a->pending_tail != NULL)
        a->pending_tail->next = &me;
    else
        a->pending_head = &me;
    a->pending_tail = &me;

    /* Leader/follower group commit: whoever finds no writer active writes everything pending
     * (its own job included) in one transaction; the others wait for their job's outcome. */
    while (!me.done) {
        if (a->leader_active) {
            pthread_cond_wait(&a->committed, &a->lock);
            continue;
        }
        a->leader_active = true;
        audit_job *batch = a->pending_head;
        audit_job *last = batch;
        for (unsigned n = 1; n < KG_AUDIT_MAX_BATCH && last->next != NULL; n++)
            last = last->next;
        a->pending_head = last->next;
        if (a->pending_head == NULL)
            a->pending_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&a->lock);

        kg_result wr = write_batch(a, batch);

        pthread_mutex_lock(&a->lock);
        for (audit_job *j = batch, *nx; j != NULL; j = nx) {
            nx = j->next; /* read before done: a finished job's stack frame may vanish */
            j->ok = kg_ok(wr);
            if (!j->ok)
                snprintf(j->error, sizeof(j->error), "%s", kg_error_message());
            j->done = true;
        }
        a->leader_active = false;
        pthread_cond_broadcast(&a->committed);
    }
    pthread_mutex_unlock(&a->lock);

    if (!me.ok)
        KG_BAIL(KG_ERR_IO, "%s", me.error);
    if (id_out != NULL)
        *id_out = me.id;
    return KG_OK;
}

static json_t *column_json(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, col));
    case SQLITE_TEXT:
        return json_stringn((const char *)sqlite3_column_text(st, col),
                            (size_t)sqlite3_column_bytes(st, col));
    default: return json_null();
    }
}

kg_result kg_audit_list(json_t **out, kg_audit *a, uint32_t limit)
{
    *out = NULL;
    kg_result rc = KG_ERROR;
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    KG_ENSURE_C(arr != NULL, KG_ERR_NOMEM, "audit: out of memory");
    const char *sql = "SELECT * FROM (SELECT id, time_ms, method, peer, decision, reason, app_id,"
                      " compose_hash, instance_id, device_id, mr_aggregated, mr_system,"
                      " os_image_hash, tcb_status, advisory_ids, block_number, block_hash,"
                      " released FROM decisions ORDER BY id DESC LIMIT ?) ORDER BY id ASC;";
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading decisions");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, limit == 0 ? -1 : (int64_t)limit);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row = json_object();
        KG_ENSURE_C(row != NULL, KG_ERR_NOMEM, "audit: out of memory");
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            json_t *v = column_json(st, c);
            if (v == NULL || json_object_set_new(row, sqlite3_column_name(st, c), v) != 0) {
                json_decref(row);
                KG_BAIL_C(KG_ERR_NOMEM, "audit: out of memory");
            }
        }
        KG_ENSURE_C(json_array_append_new(arr, row) == 0, KG_ERR_NOMEM, "audit: out of memory");
    }
    if (step != SQLITE_DONE) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading decisions");
        goto cleanup;
    }
    *out = arr;
    arr = NULL;
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    json_decref(arr);
    return rc;
}
