/* audit_test.c - the SQLite decision log: durable appends, concurrent group commit, listing,
 * file mode, and refusal when the log cannot be written. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/audit.h"
#include "test_util.h"

#include <sqlite3.h>

/* Removes a database and its WAL sidecars (a read-only handle leaves them behind on close). */
static void remove_db(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void temp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "/tmp/kg-audit-test-%d-%s.db", (int)getpid(), name);
    remove_db(out);
}

static void test_append_and_list(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "list");
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    kg_boot_identity id;
    memset(&id, 0, sizeof(id));
    id.has_app_id = true;
    memset(id.app_id, 0xaa, sizeof(id.app_id));
    id.has_compose_hash = true;
    memset(id.compose_hash, 0xcc, sizeof(id.compose_hash));
    snprintf(id.tcb_status, sizeof(id.tcb_status), "UpToDate");
    /* every advisory the DCAP verifier may report is kept (the cap is the verifier's) */
    id.n_advisory_ids = KG_MAX_ADVISORY_IDS;
    for (size_t i = 0; i < KG_MAX_ADVISORY_IDS; i++)
        snprintf(id.advisory_ids[i], sizeof(id.advisory_ids[i]), "INTEL-SA-%05zu", i);
    kg_audit_record allow = {.method = "GetAppKey",
                             .allowed = true,
                             .reason = "allowed",
                             .identity = &id,
                             .block_number = 42,
                             .block_hash = "0xbb",
                             .released = "{\"k256_pubkey\":\"02ff\"}"};
    uint8_t claimed[KG_APP_ID_LEN];
    memset(claimed, 0xee, sizeof(claimed));
    kg_audit_record deny = {.method = "GetAppKey",
                            .allowed = false,
                            .reason = "compose hash not allowed\x1b[31m",
                            .claimed_app_id = claimed,
                            .block_number = -1};
    int64_t id1 = 0, id2 = 0;
    KG_ASSERT_OK(kg_audit_append(a, &allow, &id1));
    KG_ASSERT_OK(kg_audit_append(a, &deny, &id2));
    assert_true(id2 > id1);
    kg_audit_free(a);

    /* Reopened read-only (as `keygate audit list` does): both records, in order. */
    KG_ASSERT_OK(kg_audit_open(&a, path, true));
    json_t *rows = NULL;
    KG_ASSERT_OK(kg_audit_list(&rows, a, 0));
    assert_int_equal(json_array_size(rows), 2);
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(r0, "decision")), "allow");
    assert_int_equal(json_integer_value(json_object_get(r0, "block_number")), 42);
    assert_string_equal(json_string_value(json_object_get(r0, "released")),
                        "{\"k256_pubkey\":\"02ff\"}");
    assert_string_equal(json_string_value(json_object_get(r0, "app_id")),
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_string_equal(json_string_value(json_object_get(r0, "tcb_status")), "UpToDate");
    json_t *adv = json_loads(json_string_value(json_object_get(r0, "advisory_ids")), 0, NULL);
    assert_int_equal(json_array_size(adv), KG_MAX_ADVISORY_IDS);
    assert_string_equal(json_string_value(json_array_get(adv, 63)), "INTEL-SA-00063");
    json_decref(adv);
    assert_true(json_is_null(json_object_get(r0, "device_id"))); /* absent, not zeros */
    assert_string_equal(json_string_value(json_object_get(r1, "decision")), "deny");
    /* stored escaped: no terminal control reaches a reader of the log */
    assert_string_equal(json_string_value(json_object_get(r1, "reason")),
                        "compose hash not allowed\\x1b[31m");
    assert_true(json_is_null(json_object_get(r1, "block_number")));
    /* an unverified caller: only the app id it claims, nothing else of it */
    assert_string_equal(json_string_value(json_object_get(r1, "app_id")),
                        "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    assert_true(json_is_null(json_object_get(r1, "mr_aggregated")));
    json_decref(rows);
    KG_ASSERT_OK(kg_audit_list(&rows, a, 1));
    assert_int_equal(json_array_size(rows), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "decision")),
                        "deny");
    json_decref(rows);
    /* A read-only handle cannot append. */
    KG_ASSERT_ERR(kg_audit_append(a, &deny, NULL), KG_ERR_USAGE, "not open for writing");
    kg_audit_free(a);
    remove_db(path);
}

#define N_THREADS 8
#define N_PER_THREAD 50

static void *appender(void *arg)
{
    kg_audit *a = arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        kg_audit_record r = {
            .method = "GetAppKey", .allowed = (i % 2) == 0, .reason = "x", .block_number = i};
        if (kg_failed(kg_audit_append(a, &r, NULL)))
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_group_commit(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "conc");
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, appender, a), 0);
    for (int i = 0; i < N_THREADS; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    json_t *rows = NULL;
    KG_ASSERT_OK(kg_audit_list(&rows, a, 0));
    assert_int_equal(json_array_size(rows), N_THREADS * N_PER_THREAD);
    json_decref(rows);
    kg_audit_free(a);
    remove_db(path);
}

/* A failed commit (the database locked by another writer past the busy timeout: a real SQLite
 * failure, no test hook in the library) fails the append, and nothing is stored. */
static void test_commit_failure(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "fault");
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    kg_audit_record r = {.method = "GetAppKey", .allowed = true, .block_number = 1};
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE;", NULL, NULL, NULL), SQLITE_OK);
    KG_ASSERT_ERR(kg_audit_append(a, &r, NULL), KG_ERR_IO, "audit: begin");
    assert_int_equal(sqlite3_exec(other, "ROLLBACK;", NULL, NULL, NULL), SQLITE_OK);
    json_t *rows = NULL;
    KG_ASSERT_OK(kg_audit_list(&rows, a, 0));
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    /* neither the row nor its leaf: the log is as empty as the table */
    uint64_t size = 1;
    uint8_t root[32];
    KG_ASSERT_OK(kg_audit_log_size(a, &size));
    assert_int_equal(size, 0);
    KG_ASSERT_OK(kg_audit_log_head(a, &size, root));
    assert_int_equal(size, 0);
    KG_ASSERT_OK(kg_audit_append(a, &r, NULL));
    KG_ASSERT_OK(kg_audit_list(&rows, a, 0));
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
    /* A batch that fails after its row was written (here the leaf insert, on a conflicting
     * leaf planted at the next index) rolls back the row too. */
    assert_int_equal(sqlite3_exec(other,
                                  "INSERT INTO log_entries (idx, decision_id, entry)"
                                  " VALUES (1, 999, X'00');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    KG_ASSERT_ERR(kg_audit_append(a, &r, NULL), KG_ERR_IO, "log entry insert");
    assert_int_equal(
        sqlite3_exec(other, "DELETE FROM log_entries WHERE idx = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    KG_ASSERT_OK(kg_audit_list(&rows, a, 0));
    assert_int_equal(json_array_size(rows), 1); /* the row of the failed batch is gone too */
    json_decref(rows);
    KG_ASSERT_OK(kg_audit_log_size(a, &size));
    assert_int_equal(size, 1);
    KG_ASSERT_OK(kg_audit_log_head(a, &size, root));
    assert_int_equal(size, 1);
    uint8_t from_store[32];
    KG_ASSERT_OK(kg_tlog_tree_hash(from_store, 1, kg_audit_log_hash, a));
    assert_memory_equal(root, from_store, 32);
    KG_ASSERT_OK(kg_audit_append(a, &r, NULL)); /* and the log goes on at index 1 */
    KG_ASSERT_OK(kg_audit_log_size(a, &size));
    assert_int_equal(size, 2);
    /* A record never has both a verified and a claimed identity. */
    kg_boot_identity id;
    memset(&id, 0, sizeof(id));
    uint8_t claimed[KG_APP_ID_LEN] = {0};
    kg_audit_record both = {.method = "GetAppKey", .identity = &id, .claimed_app_id = claimed};
    KG_ASSERT_ERR(kg_audit_append(a, &both, NULL), KG_ERR_USAGE, "not both");
    kg_audit_free(a);
    remove_db(path);
}

static void test_unwritable(void **state)
{
    kg_audit *a = NULL;
    KG_ASSERT_ERR(kg_audit_open(&a, "/nonexistent-dir/audit.db", false), KG_ERR_IO,
                  "cannot open '/nonexistent-dir/audit.db'");
    assert_null(a);
}

/* Row ids of a query's result, as "1,3,4". */
static void ids_of(char *out, size_t n, kg_audit *a, const kg_audit_filter *f)
{
    json_t *rows = NULL;
    KG_ASSERT_OK(kg_audit_query(&rows, a, f));
    size_t i, o = 0;
    json_t *row;
    out[0] = '\0';
    json_array_foreach(rows, i, row)
    {
        int w = snprintf(out + o, n - o, "%s%lld", i ? "," : "",
                         (long long)json_integer_value(json_object_get(row, "id")));
        assert_true(w > 0 && (size_t)w < n - o);
        o += (size_t)w;
    }
    json_decref(rows);
}

static void test_query_filters(void **state)
{
    char path[256], got[128];
    temp_path(path, sizeof(path), "query");
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    uint8_t app1[KG_APP_ID_LEN], app2[KG_APP_ID_LEN];
    memset(app1, 0x11, sizeof(app1));
    memset(app2, 0x22, sizeof(app2));
    /* id: time_ms method decision app */
    const struct {
        int64_t t;
        const char *method;
        bool allowed;
        const uint8_t *app;
    } rows[] = {{1000, "self-check", true, NULL}, {2000, "GetAppKey", true, app1},
                {3000, "GetAppKey", false, app2}, {4000, "SignCert", true, app1},
                {5000, "GetAppKey", false, app1}, {6000, "GetKmsKey", false, NULL}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        kg_audit_record r = {.time_ms = rows[i].t,
                             .method = rows[i].method,
                             .allowed = rows[i].allowed,
                             .reason = "r",
                             .claimed_app_id = rows[i].app,
                             .block_number = -1};
        KG_ASSERT_OK(kg_audit_append(a, &r, NULL));
    }
    kg_audit_filter f = {0};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "1,2,3,4,5,6");
    f = (kg_audit_filter){.method = "GetAppKey"};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "2,3,5");
    f = (kg_audit_filter){.decision = "deny"};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "3,5,6");
    f = (kg_audit_filter){.method = "GetAppKey", .decision = "allow"};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "2");
    /* since is inclusive, until exclusive: consecutive windows never count a row twice */
    f = (kg_audit_filter){.has_since = true, .since_ms = 2000, .has_until = true, .until_ms = 5000};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "2,3,4");
    f = (kg_audit_filter){.has_since = true, .since_ms = 5000};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "5,6");
    f = (kg_audit_filter){.app_id = "1111111111111111111111111111111111111111", .limit = 2};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "4,5"); /* the newest two of app1's, oldest first */
    f = (kg_audit_filter){
        .method = "GetAppKey", .decision = "deny", .has_until = true, .until_ms = 3000};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "");
    /* a filter value is data, never SQL */
    f = (kg_audit_filter){.method = "GetAppKey' OR '1'='1"};
    ids_of(got, sizeof(got), a, &f);
    assert_string_equal(got, "");
    kg_audit_free(a);
    remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_list),
        cmocka_unit_test(test_query_filters),
        cmocka_unit_test(test_concurrent_group_commit),
        cmocka_unit_test(test_commit_failure),
        cmocka_unit_test(test_unwritable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
