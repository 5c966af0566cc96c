/* audit.c - SQLite decision log with group commit: concurrent appends share one durable commit,
 * so the log never becomes the KMS's throughput limit while each decision is still on disk
 * before its response leaves. */
#include "keygate/audit.h"

#include "keygate/bytes.h"
#include "keygate/hash.h"
#include "keygate/tlog.h"

#include "audit_internal.h"

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
    uint64_t leaf;   /* the decision's index in the verifiable log */
    char error[256]; /* the commit's failure, re-raised on the caller's thread */
} audit_job;

/* The log's right edge: for each level L whose bit is set in size, the hash of the complete
 * subtree (L, (size >> L) - 1) still waiting for its right sibling. Enough to append a leaf
 * and to compute the current tree head without reading the database. */
typedef struct log_edge {
    uint64_t size;
    uint8_t hash[KG_TLOG_MAX_LEVELS][KG_TLOG_HASH_LEN];
} log_edge;

struct kg_audit {
    sqlite3 *db;
    sqlite3_stmt *insert;
    sqlite3_stmt *insert_entry; /* log_entries */
    sqlite3_stmt *insert_hash;  /* log_hashes */
    sqlite3_stmt *read_hash;    /* one stored hash; under read_lock (receipts read many) */
    pthread_mutex_t read_lock;
    uint8_t node_id[KG_LOG_NODE_ID_LEN];
    log_edge edge;           /* the leader's working copy (inside a batch) */
    log_edge edge_committed; /* as of the last commit; read under lock */
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
    " released TEXT);"
    /* The verifiable log (docs/design.md, "The decision log"): one leaf per decision row,
     * written in the same transaction; the hash of every complete subtree, so tree heads,
     * proofs and tiles read O(log n) rows and never rescan; the signed checkpoints. */
    "CREATE TABLE IF NOT EXISTS log_entries ("
    " idx INTEGER PRIMARY KEY, decision_id INTEGER NOT NULL, entry BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS log_hashes ("
    " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log_checkpoints ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
    " note BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* rows written before this database had a log are not in it: remember where it began */
    "INSERT OR IGNORE INTO log_meta (key, value)"
    " SELECT 'first_decision', CAST(COALESCE(MAX(id), 0) + 1 AS TEXT) FROM decisions;";

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

/* One stored hash, (level, index), through one prepared statement per connection: a receipt's
 * inclusion proof reads up to 64 of them, and preparing each would cost more than the read. */
static kg_result read_hash(kg_audit *a, uint32_t level, uint64_t index,
                           uint8_t out[KG_TLOG_HASH_LEN])
{
    kg_result rc = KG_ERROR;
    pthread_mutex_lock(&a->read_lock);
    if (a->read_hash == NULL &&
        sqlite3_prepare_v2(a->db, "SELECT hash FROM log_hashes WHERE level = ? AND idx = ?;", -1,
                           &a->read_hash, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading log hashes");
        goto cleanup;
    }
    sqlite3_stmt *st = a->read_hash;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, level);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
    int step = sqlite3_step(st);
    KG_ENSURE_C(step == SQLITE_ROW, step == SQLITE_DONE ? KG_ERR_NOT_FOUND : KG_ERR_IO,
                "audit: log hash (%u, %llu) %s", (unsigned)level, (unsigned long long)index,
                step == SQLITE_DONE ? "missing" : sqlite3_errmsg(a->db));
    KG_ENSURE_C(sqlite3_column_bytes(st, 0) == KG_TLOG_HASH_LEN, KG_ERR_INPUT,
                "audit: log hash (%u, %llu) is not 32 bytes", (unsigned)level,
                (unsigned long long)index);
    memcpy(out, sqlite3_column_blob(st, 0), KG_TLOG_HASH_LEN);
    rc = KG_OK;
cleanup:
    if (a->read_hash != NULL)
        sqlite3_reset(a->read_hash); /* a pending read would hold a WAL snapshot open */
    pthread_mutex_unlock(&a->read_lock);
    return rc;
}

kg_result kg_audit_log_hash(void *ctx, uint32_t level, uint64_t index,
                            uint8_t out[KG_TLOG_HASH_LEN])
{
    return read_hash(ctx, level, index, out);
}

static kg_result db_log_size(kg_audit *a, uint64_t *size)
{
    sqlite3_stmt *st = NULL;
    *size = 0;
    if (sqlite3_prepare_v2(a->db, "SELECT COALESCE(MAX(idx) + 1, 0), COUNT(*) FROM log_entries;",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sqlite_fail(a->db, __FILE__, __LINE__, "reading the log size");
    }
    sqlite3_int64 n = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    KG_ENSURE(n == count && n >= 0, KG_ERR_INPUT,
              "audit: the log has gaps (%lld entries, highest index %lld)", (long long)count,
              (long long)n - 1);
    *size = (uint64_t)n;
    return KG_OK;
}

kg_result kg_audit_log_size(kg_audit *a, uint64_t *size)
{
    return db_log_size(a, size);
}

/* Loads the right edge of the stored tree (writable logs, at open). */
static kg_result load_edge(kg_audit *a)
{
    memset(&a->edge, 0, sizeof(a->edge));
    KG_GUARD(db_log_size(a, &a->edge.size));
    for (uint32_t l = 0; l < KG_TLOG_MAX_LEVELS && (a->edge.size >> l) != 0; l++)
        if ((a->edge.size >> l) & 1)
            KG_GUARD_CTX(read_hash(a, l, (a->edge.size >> l) - 1, a->edge.hash[l]),
                         "audit: loading the log");
    a->edge_committed = a->edge;
    return KG_OK;
}

kg_result kg_audit_open(kg_audit **out, const char *path, bool read_only)
{
    *out = NULL;
    kg_audit *a = calloc(1, sizeof(*a));
    KG_ENSURE(a != NULL, KG_ERR_NOMEM, "audit: out of memory");
    kg_result rc = KG_ERROR;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->read_lock, NULL);
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
        if (sqlite3_prepare_v2(a->db, k_insert, -1, &a->insert, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(a->db,
                               "INSERT INTO log_entries (idx, decision_id, entry) VALUES (?,?,?);",
                               -1, &a->insert_entry, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(a->db, "INSERT INTO log_hashes (level, idx, hash) VALUES (?,?,?);",
                               -1, &a->insert_hash, NULL) != SQLITE_OK) {
            (void)sqlite_fail(a->db, __FILE__, __LINE__, "preparing insert");
            goto cleanup;
        }
        KG_GUARD_C(load_edge(a));
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
    sqlite3_finalize(a->insert_entry);
    sqlite3_finalize(a->insert_hash);
    sqlite3_finalize(a->read_hash);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->read_lock);
    pthread_cond_destroy(&a->committed);
    free(a);
}

/* A text field as stored: escaped (no terminal control, valid UTF-8) and cut to the column's
 * cap (a reason quotes what callers and contracts said: it is evidence, not payload). The row
 * and the log entry hold exactly these bytes. */
typedef struct safe_text {
    bool present;
    size_t len;
    char s[KG_AUDIT_MAX_FIELD + 1];
} safe_text;

static void make_safe(safe_text *t, const char *s)
{
    t->present = s != NULL;
    t->len = s ? kg_text_escape(t->s, sizeof(t->s), s, strnlen(s, KG_AUDIT_MAX_FIELD)) : 0;
    if (!s)
        t->s[0] = 0;
}

static int bind_safe(sqlite3_stmt *st, int idx, const safe_text *t)
{
    if (!t->present)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, t->s, (int)t->len, SQLITE_TRANSIENT);
}

static int bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    safe_text t;
    make_safe(&t, s);
    return bind_safe(st, idx, &t);
}

static kg_log_str log_str(const safe_text *t)
{
    return (kg_log_str){.present = t->present, .p = t->s, .len = t->len};
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
        if (json_array_append_new(
                arr, json_stringn(id->advisory_ids[i],
                                  strnlen(id->advisory_ids[i], KG_ADVISORY_ID_MAX))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    t->advisory_ids = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    KG_ENSURE(t->advisory_ids != NULL, KG_ERR_NOMEM, "audit: out of memory");
    return KG_OK;
}

/* The texts of one record, escaped once for the row and the entry (heap: ~25 KB). */
typedef struct record_text {
    safe_text method, peer, reason, block_hash, released;
} record_text;

/* Appends one leaf to the log: the entry row, its leaf hash and every subtree it completes. */
static kg_result append_leaf(kg_audit *a, const uint8_t *entry, size_t len, int64_t decision_id)
{
    sqlite3_stmt *st = a->insert_entry;
    uint64_t idx = a->edge.size;
    uint8_t h[KG_TLOG_HASH_LEN];
    KG_ENSURE(idx < KG_TLOG_MAX_SIZE, KG_ERR_TOO_LARGE, "audit: log full");
    KG_GUARD(kg_tlog_leaf_hash(h, entry, len));
    sqlite3_reset(st);
    int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
    rc |= sqlite3_bind_int64(st, 2, decision_id);
    rc |= sqlite3_bind_blob(st, 3, entry, (int)len, SQLITE_STATIC);
    SQL_GUARD(a->db, rc, "binding log entry");
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return sqlite_fail(a->db, __FILE__, __LINE__, "log entry insert");
    uint32_t level = 0;
    uint64_t i = idx;
    for (;;) {
        sqlite3_stmt *hs = a->insert_hash;
        sqlite3_reset(hs);
        rc = sqlite3_bind_int64(hs, 1, level);
        rc |= sqlite3_bind_int64(hs, 2, (sqlite3_int64)i);
        rc |= sqlite3_bind_blob(hs, 3, h, KG_TLOG_HASH_LEN, SQLITE_TRANSIENT);
        SQL_GUARD(a->db, rc, "binding log hash");
        step = sqlite3_step(hs);
        sqlite3_reset(hs);
        if (step != SQLITE_DONE)
            return sqlite_fail(a->db, __FILE__, __LINE__, "log hash insert");
        if ((i & 1) == 0)
            break;
        /* a right child: with its left sibling (the edge) it completes the parent */
        KG_GUARD(kg_tlog_node_hash(h, a->edge.hash[level], h));
        level++;
        i >>= 1;
    }
    memcpy(a->edge.hash[level], h, KG_TLOG_HASH_LEN);
    a->edge.size = idx + 1;
    return KG_OK;
}

static kg_result insert_one(kg_audit *a, const kg_audit_record *r, int64_t *id, uint64_t *leaf)
{
    sqlite3_stmt *st = a->insert;
    int rc = SQLITE_OK;
    kg_result res = KG_ERROR;
    identity_text t = {.advisory_ids = NULL};
    char claimed[2 * KG_APP_ID_LEN + 1];
    kg_buf entry;
    kg_buf_init(&entry, KG_LOG_MAX_ENTRY);
    record_text *txt = malloc(sizeof(*txt));
    kg_log_entry *e = calloc(1, sizeof(*e));
    KG_ENSURE_C(txt != NULL && e != NULL, KG_ERR_NOMEM, "audit: out of memory");
    const kg_boot_identity *who = r->identity;
    if (who != NULL)
        KG_GUARD_C(identity_to_text(&t, who));
    if (r->claimed_app_id != NULL)
        hex_field(claimed, r->claimed_app_id, KG_APP_ID_LEN);
    make_safe(&txt->method, r->method ? r->method : "?");
    make_safe(&txt->peer, r->peer);
    make_safe(&txt->reason, r->reason);
    make_safe(&txt->block_hash, r->block_hash);
    make_safe(&txt->released, r->released);
    int64_t when = r->time_ms ? r->time_ms : now_ms();
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    rc |= sqlite3_bind_int64(st, 1, when);
    rc |= bind_safe(st, 2, &txt->method);
    rc |= bind_safe(st, 3, &txt->peer);
    rc |= bind_text(st, 4, r->allowed ? "allow" : "deny");
    rc |= bind_safe(st, 5, &txt->reason);
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
    rc |= bind_safe(st, 16, &txt->block_hash);
    rc |= bind_safe(st, 17, &txt->released);
    if (rc != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "binding record");
        goto cleanup;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "insert");
        goto cleanup;
    }
    *id = sqlite3_last_insert_rowid(a->db);

    /* The same decision as a log entry, in the same transaction. */
    e->audit_id = (uint64_t)*id;
    e->time_ms = (uint64_t)when;
    e->allowed = r->allowed;
    e->method = log_str(&txt->method);
    e->peer = log_str(&txt->peer);
    e->reason = log_str(&txt->reason);
    if (who != NULL) {
        e->who = KG_LOG_WHO_VERIFIED;
        e->identity = *who;
    } else if (r->claimed_app_id != NULL) {
        e->who = KG_LOG_WHO_CLAIMED;
        memcpy(e->claimed_app_id, r->claimed_app_id, KG_APP_ID_LEN);
    }
    e->has_block = r->block_number >= 0;
    e->block_number = e->has_block ? (uint64_t)r->block_number : 0;
    e->block_hash = log_str(&txt->block_hash);
    e->released = log_str(&txt->released);
    memcpy(e->node_id, a->node_id, KG_LOG_NODE_ID_LEN);
    KG_GUARD_C(kg_log_entry_encode(&entry, e));
    *leaf = a->edge.size;
    KG_GUARD_C(append_leaf(a, entry.data, entry.len, *id));
    res = KG_OK;
cleanup:
    sqlite3_reset(st);
    free(t.advisory_ids);
    free(txt);
    free(e);
    kg_buf_free(&entry);
    return res;
}

/* Writes a batch in one transaction. All or nothing: on any failure the transaction is rolled
 * back and every job in the batch fails, so no caller believes an unwritten record exists. */
static kg_result write_batch(kg_audit *a, audit_job *batch)
{
    /* The rows and their leaves commit together or not at all; the in-memory edge follows
     * the database (restored from the committed copy on any failure). */
    a->edge = a->edge_committed;
    SQL_GUARD(a->db, sqlite3_exec(a->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL), "begin");
    for (audit_job *j = batch; j != NULL; j = j->next) {
        if (kg_failed(insert_one(a, j->rec, &j->id, &j->leaf))) {
            (void)sqlite3_exec(a->db, "ROLLBACK;", NULL, NULL, NULL);
            a->edge = a->edge_committed;
            return KG_ERROR;
        }
    }
    if (sqlite3_exec(a->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "commit");
        (void)sqlite3_exec(a->db, "ROLLBACK;", NULL, NULL, NULL);
        a->edge = a->edge_committed;
        return KG_ERROR;
    }
    return KG_OK;
}

kg_result kg_audit_append(kg_audit *a, const kg_audit_record *rec, int64_t *id_out)
{
    return kg_audit_append_leaf(a, rec, id_out, NULL);
}

kg_result kg_audit_append_leaf(kg_audit *a, const kg_audit_record *rec, int64_t *id_out,
                               uint64_t *leaf_out)
{
    KG_ENSURE(a != NULL && a->insert != NULL, KG_ERR_USAGE, "audit: log not open for writing");
    /* Checked here, on the caller's thread: a record the batch could not write would fail the
     * whole batch (every other decision in it) for one caller's mistake. */
    KG_ENSURE(rec->identity == NULL || rec->claimed_app_id == NULL, KG_ERR_USAGE,
              "audit: a record has a verified or a claimed identity, not both");
    const kg_boot_identity *who = rec->identity;
    KG_ENSURE(who == NULL ||
                  (who->n_advisory_ids <= KG_MAX_ADVISORY_IDS &&
                   (who->instance_id_len == 0 || who->instance_id_len == KG_INSTANCE_ID_LEN)),
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
        if (kg_ok(wr))
            a->edge_committed = a->edge;
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
    if (leaf_out != NULL)
        *leaf_out = me.leaf;
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
    kg_audit_filter f = {.limit = limit};
    return kg_audit_query(out, a, &f);
}

/* A text parameter, or NULL (the filter's "any"). */
static int bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    return v != NULL ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

kg_result kg_audit_query(json_t **out, kg_audit *a, const kg_audit_filter *f)
{
    *out = NULL;
    kg_result rc = KG_ERROR;
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    KG_ENSURE_C(arr != NULL, KG_ERR_NOMEM, "audit: out of memory");
    /* A NULL parameter is "any": one statement for every combination of filters. */
    const char *sql = "SELECT * FROM (SELECT id, time_ms, method, peer, decision, reason, app_id,"
                      " compose_hash, instance_id, device_id, mr_aggregated, mr_system,"
                      " os_image_hash, tcb_status, advisory_ids, block_number, block_hash,"
                      " released FROM decisions"
                      " WHERE (?1 IS NULL OR method = ?1) AND (?2 IS NULL OR decision = ?2)"
                      " AND (?3 IS NULL OR app_id = ?3) AND (?4 IS NULL OR time_ms >= ?4)"
                      " AND (?5 IS NULL OR time_ms < ?5)"
                      " ORDER BY id DESC LIMIT ?6) ORDER BY id ASC;";
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading decisions");
        goto cleanup;
    }
    if (bind_text_or_null(st, 1, f->method) != SQLITE_OK ||
        bind_text_or_null(st, 2, f->decision) != SQLITE_OK ||
        bind_text_or_null(st, 3, f->app_id) != SQLITE_OK ||
        (f->has_since ? sqlite3_bind_int64(st, 4, f->since_ms) : sqlite3_bind_null(st, 4)) !=
            SQLITE_OK ||
        (f->has_until ? sqlite3_bind_int64(st, 5, f->until_ms) : sqlite3_bind_null(st, 5)) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 6, f->limit == 0 ? -1 : (int64_t)f->limit) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading decisions");
        goto cleanup;
    }
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

/* ---- the verifiable log --------------------------------------------------------------------- */

/* Runs f with the writer connection to itself: no batch is being written meanwhile (a batch's
 * open transaction would otherwise swallow f's statements). */
static void writer_enter(kg_audit *a)
{
    pthread_mutex_lock(&a->lock);
    while (a->leader_active)
        pthread_cond_wait(&a->committed, &a->lock);
    a->leader_active = true;
    pthread_mutex_unlock(&a->lock);
}

static void writer_leave(kg_audit *a)
{
    pthread_mutex_lock(&a->lock);
    a->leader_active = false;
    pthread_cond_broadcast(&a->committed);
    pthread_mutex_unlock(&a->lock);
}

void kg_audit_set_node_id(kg_audit *a, const uint8_t node_id[KG_LOG_NODE_ID_LEN])
{
    writer_enter(a);
    memcpy(a->node_id, node_id, KG_LOG_NODE_ID_LEN);
    writer_leave(a);
}

kg_result kg_audit_log_head(kg_audit *a, uint64_t *size, uint8_t root[KG_TLOG_HASH_LEN])
{
    KG_ENSURE(a->insert != NULL, KG_ERR_USAGE, "audit: log not open for writing");
    log_edge e;
    pthread_mutex_lock(&a->lock);
    e = a->edge_committed;
    pthread_mutex_unlock(&a->lock);
    *size = e.size;
    if (e.size == 0)
        return kg_sha256(root, "", 0);
    /* fold the right edge from its lowest subtree up (RFC 9162's left-full shape) */
    bool have = false;
    for (uint32_t l = 0; l < KG_TLOG_MAX_LEVELS && (e.size >> l) != 0; l++) {
        if (!((e.size >> l) & 1))
            continue;
        if (!have) {
            memcpy(root, e.hash[l], KG_TLOG_HASH_LEN);
            have = true;
        } else {
            KG_GUARD(kg_tlog_node_hash(root, e.hash[l], root));
        }
    }
    return KG_OK;
}

kg_result kg_audit_log_entry(kg_audit *a, uint64_t index, kg_buf *out, int64_t *decision_id)
{
    sqlite3_stmt *st = NULL;
    kg_result rc = KG_ERROR;
    if (sqlite3_prepare_v2(a->db, "SELECT entry, decision_id FROM log_entries WHERE idx = ?;", -1,
                           &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading log entries");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
    int step = sqlite3_step(st);
    KG_ENSURE_C(step == SQLITE_ROW, step == SQLITE_DONE ? KG_ERR_NOT_FOUND : KG_ERR_IO,
                "audit: log entry %llu %s", (unsigned long long)index,
                step == SQLITE_DONE ? "missing" : sqlite3_errmsg(a->db));
    int n = sqlite3_column_bytes(st, 0);
    KG_GUARD_C(kg_buf_append(out, sqlite3_column_blob(st, 0), (size_t)n));
    if (decision_id != NULL)
        *decision_id = sqlite3_column_int64(st, 1);
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    return rc;
}

kg_result kg_audit_log_tile(kg_audit *a, kg_buf *out, const kg_tlog_tile *t, uint64_t tree_size)
{
    uint32_t have = kg_tlog_tile_width(t->level, t->index, tree_size);
    KG_ENSURE(have >= t->width && (t->width == KG_TLOG_TILE_WIDTH || have == t->width),
              KG_ERR_NOT_FOUND, "audit: no such tile in a tree of %llu",
              (unsigned long long)tree_size);
    sqlite3_stmt *st = NULL;
    kg_result rc = KG_ERROR;
    const char *sql = t->entries ? "SELECT entry FROM log_entries WHERE idx >= ? AND idx < ?"
                                   " ORDER BY idx;"
                                 : "SELECT hash FROM log_hashes WHERE level = ? AND idx >= ?"
                                   " AND idx < ? ORDER BY idx;";
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading a tile");
        goto cleanup;
    }
    uint64_t lo = t->index * KG_TLOG_TILE_WIDTH, hi = lo + t->width;
    int p = 1;
    if (!t->entries)
        sqlite3_bind_int64(st, p++, (sqlite3_int64)(KG_TLOG_TILE_HEIGHT * t->level));
    sqlite3_bind_int64(st, p++, (sqlite3_int64)lo);
    sqlite3_bind_int64(st, p, (sqlite3_int64)hi);
    uint32_t got = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *d = sqlite3_column_blob(st, 0);
        if (t->entries) {
            /* C2SP tlog-tiles entry bundle: big-endian uint16 length, then the entry */
            KG_ENSURE_C(n <= 0xffff, KG_ERR_TOO_LARGE, "audit: log entry too large");
            KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)(n >> 8)));
            KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)n));
        } else {
            KG_ENSURE_C(n == KG_TLOG_HASH_LEN, KG_ERR_INPUT, "audit: bad stored hash");
        }
        KG_GUARD_C(kg_buf_append(out, d, n));
        got++;
    }
    KG_ENSURE_C(step == SQLITE_DONE, KG_ERR_IO, "audit: reading a tile: %s", sqlite3_errmsg(a->db));
    KG_ENSURE_C(got == t->width, KG_ERR_INPUT, "audit: tile has %u of its %u rows", (unsigned)got,
                (unsigned)t->width);
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    return rc;
}

kg_result kg_audit_put_checkpoint(kg_audit *a, uint64_t size, const uint8_t *note, size_t len)
{
    KG_ENSURE(a->insert != NULL, KG_ERR_USAGE, "audit: log not open for writing");
    sqlite3_stmt *st = NULL;
    kg_result rc = KG_ERROR;
    writer_enter(a);
    if (sqlite3_prepare_v2(a->db,
                           "INSERT INTO log_checkpoints (size, time_ms, note) VALUES (?,?,?);", -1,
                           &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "storing a checkpoint");
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    sqlite3_bind_int64(st, 2, now_ms());
    sqlite3_bind_blob(st, 3, note, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "storing a checkpoint");
        goto cleanup;
    }
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    writer_leave(a);
    return rc;
}

kg_result kg_audit_latest_checkpoint(kg_audit *a, kg_buf *note)
{
    sqlite3_stmt *st = NULL;
    kg_result rc = KG_ERROR;
    if (sqlite3_prepare_v2(a->db, "SELECT note FROM log_checkpoints ORDER BY id DESC LIMIT 1;", -1,
                           &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading checkpoints");
        goto cleanup;
    }
    int step = sqlite3_step(st);
    KG_ENSURE_C(step == SQLITE_ROW, step == SQLITE_DONE ? KG_ERR_NOT_FOUND : KG_ERR_IO,
                "audit: no checkpoint yet");
    KG_GUARD_C(
        kg_buf_append(note, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)));
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    return rc;
}

kg_result kg_audit_put_meta(kg_audit *a, const char *key, const char *value)
{
    KG_ENSURE(a->insert != NULL, KG_ERR_USAGE, "audit: log not open for writing");
    sqlite3_stmt *st = NULL;
    kg_result rc = KG_ERROR;
    writer_enter(a);
    if (sqlite3_prepare_v2(a->db, "INSERT OR REPLACE INTO log_meta (key, value) VALUES (?,?);", -1,
                           &st, NULL) != SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "storing log metadata");
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "storing log metadata");
        goto cleanup;
    }
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    writer_leave(a);
    return rc;
}

kg_result kg_audit_get_meta(kg_audit *a, const char *key, kg_buf *out)
{
    sqlite3_stmt *st = NULL;
    kg_result rc = KG_ERROR;
    if (sqlite3_prepare_v2(a->db, "SELECT value FROM log_meta WHERE key = ?;", -1, &st, NULL) !=
        SQLITE_OK) {
        (void)sqlite_fail(a->db, __FILE__, __LINE__, "reading log metadata");
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    KG_ENSURE_C(step == SQLITE_ROW, step == SQLITE_DONE ? KG_ERR_NOT_FOUND : KG_ERR_IO,
                "audit: no '%s' in the log's metadata", key);
    KG_GUARD_C(kg_buf_append(out, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0)));
    KG_GUARD_C(kg_buf_terminate(out));
    rc = KG_OK;
cleanup:
    sqlite3_finalize(st);
    return rc;
}

sqlite3 *kg_audit_sqlite_(kg_audit *a)
{
    return a->db;
}

const char *const kg_audit_col_names_[KG_AUDIT_N_COLS + 1] = {"",
                                                              "time_ms",
                                                              "method",
                                                              "peer",
                                                              "decision",
                                                              "reason",
                                                              "app_id",
                                                              "compose_hash",
                                                              "instance_id",
                                                              "device_id",
                                                              "mr_aggregated",
                                                              "mr_system",
                                                              "os_image_hash",
                                                              "tcb_status",
                                                              "advisory_ids",
                                                              "block_number",
                                                              "block_hash",
                                                              "released"};

static char *dup_n(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static char *dup_str(const kg_log_str *s)
{
    return s->present ? dup_n(s->p ? s->p : "", s->len) : NULL;
}

static char *dup_safe(const char *s)
{
    safe_text t;
    make_safe(&t, s);
    return dup_n(t.s, t.len);
}

void kg_audit_row_text_free_(kg_audit_row_text *t)
{
    for (size_t i = 0; i <= KG_AUDIT_N_COLS; i++)
        free(t->col[i]);
    memset(t, 0, sizeof(*t));
}

kg_result kg_audit_row_of_entry_(kg_audit_row_text *o, const kg_log_entry *e)
{
    memset(o, 0, sizeof(*o));
    o->time_ms = (int64_t)e->time_ms;
    o->has_block = e->has_block;
    o->block_number = (int64_t)e->block_number;
    o->col[2] = dup_str(&e->method);
    o->col[3] = dup_str(&e->peer);
    o->col[4] = dup_n(e->allowed ? "allow" : "deny", e->allowed ? 5 : 4);
    o->col[5] = dup_str(&e->reason);
    bool ok = o->col[4] != NULL && (o->col[2] || !e->method.present) &&
              (o->col[3] || !e->peer.present) && (o->col[5] || !e->reason.present);
    if (e->who == KG_LOG_WHO_VERIFIED) {
        identity_text t = {.advisory_ids = NULL};
        if (kg_failed(identity_to_text(&t, &e->identity))) {
            kg_audit_row_text_free_(o);
            return KG_ERROR;
        }
        const kg_boot_identity *id = &e->identity;
        if (id->has_app_id)
            o->col[6] = dup_n(t.app_id, strlen(t.app_id));
        if (id->has_compose_hash)
            o->col[7] = dup_n(t.compose_hash, strlen(t.compose_hash));
        o->col[8] = dup_n(t.instance_id, strlen(t.instance_id));
        if (id->has_device_id)
            o->col[9] = dup_n(t.device_id, strlen(t.device_id));
        o->col[10] = dup_n(t.mr_aggregated, strlen(t.mr_aggregated));
        o->col[11] = dup_n(t.mr_system, strlen(t.mr_system));
        o->col[12] = dup_n(t.os_image_hash, strlen(t.os_image_hash));
        o->col[13] = dup_safe(id->tcb_status);
        o->col[14] = dup_safe(t.advisory_ids);
        free(t.advisory_ids);
        ok = ok && o->col[8] && o->col[10] && o->col[11] && o->col[12] && o->col[13] && o->col[14];
    } else if (e->who == KG_LOG_WHO_CLAIMED) {
        char claimed[2 * KG_APP_ID_LEN + 1];
        hex_field(claimed, e->claimed_app_id, KG_APP_ID_LEN);
        o->col[6] = dup_n(claimed, strlen(claimed));
        ok = ok && o->col[6];
    }
    o->col[16] = dup_str(&e->block_hash);
    o->col[17] = dup_str(&e->released);
    ok = ok && (o->col[16] || !e->block_hash.present) && (o->col[17] || !e->released.present);
    if (!ok) {
        kg_audit_row_text_free_(o);
        KG_BAIL(KG_ERR_NOMEM, "audit: out of memory");
    }
    return KG_OK;
}
