/* audit_log_test.c - the verifiable decision log inside lib/audit: every append is a leaf in the
 * same transaction, checkpoints sign the tree, tiles and proofs come from the stored hashes, and
 * kg_audit_verify catches each tampering: an edited row, a deleted row, deleted last entries, a
 * history re-signed with an uncertified key, two trees of one size, an allow entry governance
 * did not allow at its block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "test_util.h"

#include <sqlite3.h>

#define LOG_NAME "keygate.test/kms-node"
#define N_RECORDS 300 /* more than one full tile */

static const uint8_t k_seed[32] = {9, 8, 7, 6,  5,  4,  3,  2,  1,  0,  1,  2,  3,  4,  5,  6,
                                   7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22};

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
    snprintf(out, n, "/tmp/kg-auditlog-test-%d-%s.db", (int)getpid(), name);
    remove_db(out);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

typedef struct reports {
    int n;
    char all[8192];
} reports;

static void on_report(void *ctx, uint64_t index, const char *msg)
{
    reports *r = ctx;
    r->n++;
    size_t used = strlen(r->all);
    snprintf(r->all + used, sizeof(r->all) - used, "%s\n", msg);
}

/* A fake governance: every block is allowed but `denied_block`. */
static uint64_t g_denied_block = UINT64_MAX;
static kg_result fake_policy(void *ctx, const kg_log_entry *e)
{
    KG_ENSURE(!(e->has_block && e->block_number == g_denied_block), KG_ERR_DENIED,
              "compose hash not allowed");
    return KG_OK;
}

static void fill(const char *path, int n)
{
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    uint8_t pub[32], node[32];
    KG_ASSERT_OK(kg_ed25519_public(pub, k_seed));
    memset(node, 0x4e, sizeof(node));
    kg_audit_set_node_id(a, node);
    char hex[65];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), pub, 32));
    KG_ASSERT_OK(kg_audit_put_meta(a, "log_name", LOG_NAME));
    KG_ASSERT_OK(kg_audit_put_meta(a, "log_pubkey", hex));
    KG_ASSERT_OK(kg_audit_checkpoint(a, LOG_NAME, k_seed, NULL, NULL)); /* the empty tree */
    kg_boot_identity id;
    memset(&id, 0, sizeof(id));
    id.has_app_id = true;
    memset(id.app_id, 0xaa, sizeof(id.app_id));
    id.has_compose_hash = true;
    memset(id.compose_hash, 0xcc, sizeof(id.compose_hash));
    snprintf(id.tcb_status, sizeof(id.tcb_status), "UpToDate");
    id.n_advisory_ids = 1;
    snprintf(id.advisory_ids[0], KG_ADVISORY_ID_MAX, "INTEL-SA-00837");
    uint8_t claimed[KG_APP_ID_LEN];
    memset(claimed, 0x77, sizeof(claimed));
    for (int i = 0; i < n; i++) {
        kg_audit_record r = {.method = i % 3 == 2 ? "SignCert" : "GetAppKey",
                             .peer = i % 5 == 0 ? NULL : "127.0.0.1",
                             .allowed = i % 4 != 3,
                             .reason = i % 4 != 3 ? "allowed" : "denied: \x1b[31mred\x1b[0m",
                             .identity = i % 7 == 6 ? NULL : &id,
                             .claimed_app_id = i % 7 == 6 ? claimed : NULL,
                             .block_number = 100 + i,
                             .block_hash = "0xbb",
                             .released = i % 4 != 3 ? "{\"k256_pubkey\":\"02ff\"}" : NULL};
        int64_t row = 0;
        KG_ASSERT_OK(kg_audit_append(a, &r, &row));
        assert_int_equal(row, i + 1);
        if (i % 50 == 49)
            KG_ASSERT_OK(kg_audit_checkpoint(a, LOG_NAME, k_seed, NULL, NULL));
    }
    uint64_t size = 0;
    KG_ASSERT_OK(kg_audit_checkpoint(a, LOG_NAME, k_seed, NULL, &size));
    assert_int_equal(size, (uint64_t)n);
    kg_audit_free(a);
}

static int verify(const char *path, reports *rep, const uint8_t *pinned_pub)
{
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, true));
    memset(rep, 0, sizeof(*rep));
    kg_audit_verify_opts o = {.policy = fake_policy, .report = on_report, .report_ctx = rep};
    if (pinned_pub != NULL) {
        o.log_name = LOG_NAME;
        o.log_pub = pinned_pub;
    }
    kg_audit_verify_result res;
    KG_ASSERT_OK(kg_audit_verify(a, &o, &res));
    kg_audit_free(a);
    return (int)res.violations;
}

static void expect_violation(const char *path, const char *needle, const uint8_t *pinned)
{
    reports rep;
    int n = verify(path, &rep, pinned);
    if (n == 0 || strstr(rep.all, needle) == NULL)
        fail_msg("expected a violation with '%s', got %d:\n%s", needle, n, rep.all);
}

static void test_clean_log_verifies(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "clean");
    fill(path, N_RECORDS);
    reports rep;
    int n = verify(path, &rep, NULL);
    if (n != 0)
        fail_msg("clean log: %s", rep.all);

    /* the head in memory equals the tree from the stored hashes; tiles and proofs serve */
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    uint64_t size;
    uint8_t root[32], root2[32];
    KG_ASSERT_OK(kg_audit_log_head(a, &size, root));
    assert_int_equal(size, N_RECORDS);
    KG_ASSERT_OK(kg_tlog_tree_hash(root2, size, kg_audit_log_hash, a));
    assert_memory_equal(root, root2, 32);
    kg_buf tile;
    kg_buf_init(&tile, 1 << 20);
    kg_tlog_tile t = {.level = 0, .index = 1, .width = N_RECORDS - 256};
    KG_ASSERT_OK(kg_audit_log_tile(a, &tile, &t, size));
    assert_int_equal(tile.len, (N_RECORDS - 256) * 32);
    kg_buf_reset(&tile);
    tile.len = 0;
    t = (kg_tlog_tile){.entries = true, .index = 0, .width = 256};
    KG_ASSERT_OK(kg_audit_log_tile(a, &tile, &t, size));
    t = (kg_tlog_tile){.level = 0, .index = 1, .width = 256};
    KG_ASSERT_ERR(kg_audit_log_tile(a, &tile, &t, size), KG_ERR_NOT_FOUND, "no such tile");
    kg_buf_free(&tile);
    kg_audit_free(a);
    remove_db(path);
}

static void test_edited_row(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "edit");
    fill(path, N_RECORDS);
    exec_sql(path, "UPDATE decisions SET decision = 'deny' WHERE id = 42;");
    expect_violation(path, "audit row 42 differs from the log in 'decision'", NULL);
    exec_sql(path, "UPDATE decisions SET decision = 'allow' WHERE id = 42;"); /* back */
    exec_sql(path, "UPDATE decisions SET compose_hash = 'dd' WHERE id = 7;");
    expect_violation(path, "in 'compose_hash'", NULL);
    remove_db(path);
}

static void test_deleted_or_added_row(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "delrow");
    fill(path, N_RECORDS);
    exec_sql(path, "DELETE FROM decisions WHERE id = 10;");
    expect_violation(path, "its audit row 10 is gone", NULL);
    exec_sql(path, "INSERT INTO decisions (time_ms, method, decision) VALUES (1, 'GetAppKey',"
                   " 'allow');");
    expect_violation(path, "is in no log entry", NULL);
    remove_db(path);
}

static void test_deleted_last_entries(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "trunc");
    fill(path, N_RECORDS);
    exec_sql(path,
             "DELETE FROM log_entries WHERE idx >= 297; DELETE FROM decisions WHERE id >= 298;"
             " DELETE FROM log_hashes WHERE (idx + 1) << level > 297;");
    expect_violation(path, "covers 300 entries but the log holds 297", NULL);
    remove_db(path);
}

static void test_resigned_with_uncertified_key(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "resign");
    fill(path, N_RECORDS);
    /* The root key certifies the real log key; the operator rewrites an entry's row and leaf,
     * rebuilds every hash, re-signs with a key of its own and swaps it into log_meta. */
    uint8_t root_scalar[32], root_pub[33], pub[32], cert[65], digest[32];
    KG_ASSERT_OK(kg_k256_generate(root_scalar));
    KG_ASSERT_OK(kg_k256_public(root_pub, root_scalar));
    KG_ASSERT_OK(kg_ed25519_public(pub, k_seed));
    KG_ASSERT_OK(kg_log_key_cert_digest(digest, LOG_NAME, pub));
    KG_ASSERT_OK(kg_k256_sign_recoverable(cert, root_scalar, digest));
    KG_ASSERT_OK(kg_log_key_cert_verify(root_pub, LOG_NAME, pub, cert));

    uint8_t evil_seed[32], evil_pub[32];
    memset(evil_seed, 0x66, sizeof(evil_seed));
    KG_ASSERT_OK(kg_ed25519_public(evil_pub, evil_seed));
    KG_ASSERT_ERR(kg_log_key_cert_verify(root_pub, LOG_NAME, evil_pub, cert), KG_ERR_VERIFY,
                  "not certified by the KMS root key");

    char hex[65];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), evil_pub, 32));
    char sql[256];
    snprintf(sql, sizeof(sql),
             "DELETE FROM log_checkpoints; UPDATE log_meta SET value = '%s' WHERE key ="
             " 'log_pubkey';",
             hex);
    exec_sql(path, sql);
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    KG_ASSERT_OK(kg_audit_checkpoint(a, LOG_NAME, evil_seed, NULL, NULL));
    kg_audit_free(a);
    /* pinned to the certified key: every checkpoint fails */
    expect_violation(path, "no signature by", pub);
    remove_db(path);
}

static void test_fork_two_trees_one_size(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "fork");
    fill(path, 100);
    /* A second tree of size 100 (one entry differs), signed with the real key. */
    kg_checkpoint c = {.origin = LOG_NAME, .size = 100};
    memset(c.root, 0x42, 32);
    kg_buf body, note;
    kg_buf_init(&body, 1024);
    kg_buf_init(&note, 4096);
    KG_ASSERT_OK(kg_checkpoint_format(&body, &c));
    KG_ASSERT_OK(kg_note_sign(&note, body.data, body.len, LOG_NAME, k_seed));
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    KG_ASSERT_OK(kg_audit_put_checkpoint(a, 100, note.data, note.len));
    kg_audit_free(a);
    expect_violation(path, "two different trees of size 100", NULL);
    kg_buf_free(&body);
    kg_buf_free(&note);
    remove_db(path);
}

static void test_rewritten_entry(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "rewrite");
    fill(path, 100);
    /* change an entry's bytes (and its row would follow): its leaf and the roots differ */
    exec_sql(path, "UPDATE log_entries SET entry = X'00' || substr(entry, 2) WHERE idx = 3;");
    expect_violation(path, "stored leaf hash differs", NULL);
    expect_violation(path, "history rewritten", NULL);
    remove_db(path);
}

static void test_governance_replay(void **state)
{
    char path[256];
    temp_path(path, sizeof(path), "gov");
    fill(path, 20);
    g_denied_block = 100 + 5; /* entry 5 is an allow at block 105 */
    expect_violation(path, "entry 5: released at block 105 but governance did not allow it", NULL);
    g_denied_block = 100 + 3; /* entry 3 is a denial: nothing to replay */
    reports rep;
    assert_int_equal(verify(path, &rep, NULL), 0);
    g_denied_block = UINT64_MAX;
    remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_log_verifies),
        cmocka_unit_test(test_edited_row),
        cmocka_unit_test(test_deleted_or_added_row),
        cmocka_unit_test(test_deleted_last_entries),
        cmocka_unit_test(test_resigned_with_uncertified_key),
        cmocka_unit_test(test_fork_two_trees_one_size),
        cmocka_unit_test(test_rewritten_entry),
        cmocka_unit_test(test_governance_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
