/* audit_entry_json_test.c - kg_audit_entry_json: a log entry read from a KMS's served log gives
 * the same JSON row as kg_audit_list gives from the database, for a verified and a claimed
 * identity; text that is not UTF-8 is escaped instead of failing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keygate/audit.h"
#include "keygate/tlog.h"
#include "test_util.h"

static void remove_db(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void test_entry_equals_row(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "/tmp/kg-audit-entry-json-%d.db", (int)getpid());
    remove_db(path);
    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, path, false));
    kg_boot_identity id;
    memset(&id, 0, sizeof(id));
    id.has_app_id = true;
    memset(id.app_id, 0xaa, sizeof(id.app_id));
    id.has_compose_hash = true;
    memset(id.compose_hash, 0xcc, sizeof(id.compose_hash));
    id.has_device_id = true;
    memset(id.device_id, 0xdd, sizeof(id.device_id));
    snprintf(id.tcb_status, sizeof(id.tcb_status), "OutOfDate");
    id.n_advisory_ids = 2;
    snprintf(id.advisory_ids[0], sizeof(id.advisory_ids[0]), "INTEL-SA-00837");
    snprintf(id.advisory_ids[1], sizeof(id.advisory_ids[1]), "<b>x</b>");
    uint8_t claimed[KG_APP_ID_LEN];
    memset(claimed, 0xee, sizeof(claimed));
    kg_audit_record recs[2] = {{.method = "GetAppKey",
                                .peer = "127.0.0.1:4000",
                                .allowed = true,
                                .reason = "allowed",
                                .identity = &id,
                                .block_number = 42,
                                .block_hash = "0xbb",
                                .released = "{\"k256_pubkey\":\"02ff\"}"},
                               {.method = "GetAppKey",
                                .allowed = false,
                                .reason = "app not allowed by governance: <script>",
                                .claimed_app_id = claimed,
                                .block_number = -1}};
    for (size_t i = 0; i < 2; i++)
        KG_ASSERT_OK(kg_audit_append(a, &recs[i], NULL));
    json_t *rows = NULL;
    KG_ASSERT_OK(kg_audit_list(&rows, a, 0));
    assert_int_equal(json_array_size(rows), 2);
    for (uint64_t i = 0; i < 2; i++) {
        kg_buf b;
        kg_log_entry e;
        json_t *got = NULL;
        kg_buf_init(&b, KG_LOG_MAX_ENTRY);
        KG_ASSERT_OK(kg_audit_log_entry(a, i, &b, NULL));
        KG_ASSERT_OK(kg_log_entry_parse(&e, b.data, b.len));
        KG_ASSERT_OK(kg_audit_entry_json(&got, &e));
        json_t *want = json_array_get(rows, i);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
            fail_msg("entry %u:\n got  %s\n want %s", (unsigned)i, g, w);
        }
        json_decref(got);
        kg_buf_free(&b);
    }
    json_decref(rows);
    kg_audit_free(a);
    remove_db(path);
}

/* An entry from elsewhere may carry any bytes in its strings: escaped, not an error. */
static void test_not_utf8_escaped(void **state)
{
    (void)state;
    static const char reason[] = "bad \xff\xfe reason";
    kg_log_entry e;
    memset(&e, 0, sizeof(e));
    e.audit_id = 7;
    e.time_ms = 1000;
    e.method = (kg_log_str){.present = true, .p = "GetAppKey", .len = 9};
    e.reason = (kg_log_str){.present = true, .p = reason, .len = sizeof(reason) - 1};
    e.who = KG_LOG_WHO_CLAIMED;
    memset(e.claimed_app_id, 0x11, sizeof(e.claimed_app_id));
    json_t *got = NULL;
    KG_ASSERT_OK(kg_audit_entry_json(&got, &e));
    assert_string_equal(json_string_value(json_object_get(got, "reason")), "bad \\xff\\xfe reason");
    assert_string_equal(json_string_value(json_object_get(got, "decision")), "deny");
    assert_int_equal(json_integer_value(json_object_get(got, "id")), 7);
    assert_true(json_is_null(json_object_get(got, "block_number")));
    assert_string_equal(json_string_value(json_object_get(got, "app_id")),
                        "1111111111111111111111111111111111111111");
    json_decref(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_equals_row),
        cmocka_unit_test(test_not_utf8_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
