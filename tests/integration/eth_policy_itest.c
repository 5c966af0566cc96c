/* eth_policy_itest.c - the governance policy query against the real contracts on anvil
 * (deployed by scripts/deploy-contracts, governed with our own signed transactions): allowed,
 * each denial reason, revocation from the next block on, answers pinned to their block,
 * reverting governance writes, events, and fail-closed errors. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anvil.h"
#include "keygate/eth.h"
#include "keygate/hash.h"

typedef struct fixture {
    kg_test_anvil anvil;
    kg_eth_client *c;
    uint8_t owner_key[32], other_key[32], owner[20];
    uint8_t kms[20]; /* KeygateKms proxy */
    uint8_t app[20]; /* app deployed through the factory */
} fixture;

static fixture g;

static const uint8_t V1 = 0xc1, V2 = 0xc2, OS = 0x05, MRA = 0x0a, DEV = 0x0d;

static void word(uint8_t out[32], uint8_t v)
{
    memset(out, v, 32);
}

/* Runs scripts/deploy-contracts and takes the KMS address from its JSON line. */
static int deploy_contracts(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "KEYGATE_DEPLOYER_KEY=0x%s %s/scripts/deploy-contracts --rpc-url %s 2>/dev/null",
             KG_TEST_ANVIL_KEY0, KG_SOURCE_DIR, g.anvil.url);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    static char line[4096];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    int status = pclose(f);
    line[n] = '\0';
    if (status != 0) {
        fprintf(stderr, "deploy-contracts failed (%d): %s\n", status, line);
        return -1;
    }
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    const char *kms = json_string_value(json_object_get(j, "kms"));
    int rc = (kms != NULL && kg_ok(kg_eth_address_parse(g.kms, kms))) ? 0 : -1;
    json_decref(j);
    return rc;
}

/* Signs and sends `signature(args)` to `to` with `key`, waiting for the receipt. */
static kg_result send_call(kg_eth_receipt *r, const uint8_t key[32], const uint8_t to[20],
                           const char *signature, const kg_abi_value *args, size_t n)
{
    kg_buf data;
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_abi_encode_call(&data, signature, args, n);
    if (kg_ok(rc))
        rc = kg_eth_send_and_wait(g.c, r, key, to, NULL, data.data, data.len, 20000);
    kg_buf_free(&data);
    return rc;
}

static void send_ok(const uint8_t to[20], const char *signature, const kg_abi_value *args, size_t n)
{
    kg_eth_receipt r;
    KG_ASSERT_OK(send_call(&r, g.owner_key, to, signature, args, n));
    kg_eth_receipt_free(&r);
}

static int setup(void **state)
{
    (void)state;
    int rc = kg_test_anvil_start(&g.anvil, NULL);
    if (rc == 77)
        exit(77);
    if (rc != 0 || deploy_contracts() != 0)
        return -1;
    KG_ASSERT_OK(kg_eth_client_new(&g.c, g.anvil.url, 10000));
    KG_ASSERT_OK(kg_hex_decode_exact(g.owner_key, 32, KG_TEST_ANVIL_KEY0));
    KG_ASSERT_OK(kg_hex_decode_exact(g.other_key, 32, KG_TEST_ANVIL_KEY1));
    KG_ASSERT_OK(kg_eth_address_of_key(g.owner, g.owner_key));

    /* KMS policy: one OS image, one KMS MR and one KMS device. */
    uint8_t w[32];
    kg_abi_value a;
    word(w, OS);
    a = kg_abi_bytes32(w);
    send_ok(g.kms, "addOsImageHash(bytes32)", &a, 1);
    word(w, MRA);
    a = kg_abi_bytes32(w);
    send_ok(g.kms, "addKmsAggregatedMr(bytes32)", &a, 1);
    word(w, DEV);
    a = kg_abi_bytes32(w);
    send_ok(g.kms, "addKmsDevice(bytes32)", &a, 1);

    /* An app through the factory, allowing V1 on any device; its id is topics[1] of
     * AppDeployedViaFactory (contracts/README.md). */
    uint8_t zero[32] = {0}, v1[32];
    word(v1, V1);
    kg_abi_value d[6] = {kg_abi_address(g.owner), kg_abi_bool(false),   kg_abi_bool(false),
                         kg_abi_bool(true),       kg_abi_bytes32(zero), kg_abi_bytes32(v1)};
    kg_eth_receipt r;
    KG_ASSERT_OK(send_call(&r, g.owner_key, g.kms,
                           "deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)", d, 6));
    uint8_t topic0[32];
    kg_buf t;
    kg_test_hex(&t, "fd86d7f6962eba3b7a3bf9129c06c0b2f885e1c61ef2c9f0dbb856be0deefdee");
    memcpy(topic0, t.data, 32);
    kg_buf_free(&t);
    bool found = false;
    for (size_t i = 0; i < r.logs.count; i++) {
        const kg_eth_log *l = &r.logs.items[i];
        if (l->n_topics == 3 && memcmp(l->topics[0], topic0, 32) == 0 &&
            memcmp(l->address, g.kms, 20) == 0) {
            memcpy(g.app, l->topics[1] + 12, 20);
            found = true;
        }
    }
    kg_eth_receipt_free(&r);
    assert_true(found);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kg_eth_client_free(g.c);
    kg_test_anvil_stop(&g.anvil);
    return 0;
}

static kg_boot_identity boot(uint8_t compose)
{
    kg_boot_identity bi;
    memset(&bi, 0, sizeof(bi));
    memcpy(bi.app_id, g.app, 20);
    word(bi.compose_hash, compose);
    bi.instance_id_len = KG_INSTANCE_ID_LEN;
    memset(bi.instance_id, 0x11, 20);
    word(bi.device_id, DEV);
    word(bi.mr_aggregated, MRA);
    word(bi.mr_system, 0x5e);
    word(bi.os_image_hash, OS);
    snprintf(bi.tcb_status, sizeof(bi.tcb_status), "UpToDate");
    return bi;
}

static void app_allowed_and_denied_with_reasons(void **state)
{
    (void)state;
    kg_eth_decision d;
    kg_eth_block latest;
    kg_boot_identity bi = boot(V1);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL));
    assert_true(d.allowed);
    assert_string_equal(d.reason, "");
    KG_ASSERT_OK(kg_eth_get_block(g.c, &latest, "latest"));
    assert_true(d.has_block);
    assert_int_equal(d.block_number, latest.number);
    assert_memory_equal(d.block_hash, latest.hash, 32);

    /* Advisories and no instance id do not change an app's answer. */
    bi.instance_id_len = 0;
    bi.n_advisory_ids = 2;
    snprintf(bi.advisory_ids[0], sizeof(bi.advisory_ids[0]), "INTEL-SA-00615");
    snprintf(bi.advisory_ids[1], sizeof(bi.advisory_ids[1]), "INTEL-SA-00837");
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL));
    assert_true(d.allowed);

    bi = boot(V2);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "compose hash not allowed");

    bi = boot(V1);
    word(bi.os_image_hash, 0x06);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "os image not allowed");

    bi = boot(V1);
    bi.app_id[0] ^= 1;
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "app not registered");
}

static void kms_allowed_and_denied(void **state)
{
    (void)state;
    kg_eth_decision d;
    kg_boot_identity bi = boot(V1);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_KMS, &bi, NULL));
    assert_true(d.allowed);
    snprintf(bi.tcb_status, sizeof(bi.tcb_status), "OutOfDate");
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_KMS, &bi, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "tcb status not up to date");
    bi = boot(V1);
    word(bi.mr_aggregated, 0x0b);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_KMS, &bi, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "aggregated mr not allowed");
    bi = boot(V1);
    word(bi.device_id, 0x0e);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_KMS, &bi, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "kms device not allowed");
}

/* Upgrade and revocation: each answer is as of its block, and a revoked hash is denied from
 * the next block on. */
static void answers_follow_governance_block_by_block(void **state)
{
    (void)state;
    kg_eth_decision d;
    kg_eth_block before, after;
    KG_ASSERT_OK(kg_eth_get_block(g.c, &before, "latest"));
    uint8_t w[32];
    word(w, V2);
    kg_abi_value a = kg_abi_bytes32(w);
    send_ok(g.app, "addComposeHash(bytes32)", &a, 1);
    word(w, V1);
    a = kg_abi_bytes32(w);
    send_ok(g.app, "removeComposeHash(bytes32)", &a, 1);
    KG_ASSERT_OK(kg_eth_get_block(g.c, &after, "latest"));
    assert_int_equal(after.number, before.number + 2);

    kg_boot_identity v1 = boot(V1), v2 = boot(V2);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &v2, NULL));
    assert_true(d.allowed);
    assert_int_equal(d.block_number, after.number);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &v1, NULL));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "compose hash not allowed");

    /* Pinned to the earlier block: the earlier answers. */
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &v1, &before));
    assert_true(d.allowed);
    assert_int_equal(d.block_number, before.number);
    assert_memory_equal(d.block_hash, before.hash, 32);
    KG_ASSERT_OK(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &v2, &before));
    assert_false(d.allowed);

    /* The history is in the events: ComposeHashAdded(V2) then ComposeHashRemoved(V1). */
    uint8_t topic[32];
    kg_keccak256(topic, "ComposeHashAdded(bytes32)", strlen("ComposeHashAdded(bytes32)"));
    kg_eth_logs logs;
    KG_ASSERT_OK(kg_eth_get_logs(g.c, &logs, g.app, topic, 0, UINT64_MAX));
    assert_int_equal(logs.count, 2); /* V1 at initialization, V2 now */
    assert_int_equal(logs.items[1].data_len, 32);
    word(w, V2);
    assert_memory_equal(logs.items[1].data, w, 32);
    assert_int_equal(logs.items[1].block_number, before.number + 1);
    kg_eth_logs_free(&logs);
    KG_ASSERT_OK(kg_eth_get_logs(g.c, &logs, g.app, NULL, after.number, after.number));
    assert_true(logs.count >= 1);
    kg_eth_logs_free(&logs);
}

static void governance_writes_that_revert_say_why(void **state)
{
    (void)state;
    kg_eth_receipt r;
    uint8_t w[32];
    word(w, V1);
    kg_abi_value a = kg_abi_bytes32(w);
    /* Not the owner: OpenZeppelin's custom error, caught in simulation, nothing sent. */
    KG_ASSERT_ERR(send_call(&r, g.other_key, g.app, "addComposeHash(bytes32)", &a, 1),
                  KG_ERR_DENIED, "custom error OwnableUnauthorizedAccount(address)");
    a = kg_abi_address(g.app);
    KG_ASSERT_ERR(send_call(&r, g.owner_key, g.kms, "registerApp(address)", &a, 1), KG_ERR_DENIED,
                  "custom error KmsAppAlreadyRegistered(address)");
}

static void fails_closed(void **state)
{
    (void)state;
    kg_eth_decision d;
    kg_boot_identity bi = boot(V1);
    /* No contract at that address. */
    uint8_t nowhere[20];
    memset(nowhere, 0x77, 20);
    KG_ASSERT_ERR(kg_eth_policy_check(&d, g.c, nowhere, KG_ETH_POLICY_APP, &bi, NULL),
                  KG_ERR_NOT_FOUND, "isAppAllowed: no contract at 0x7777");
    assert_false(d.allowed);
    assert_non_null(strstr(d.reason, "no contract at"));
    assert_true(d.has_block);
    /* A contract that is not a KMS (the app contract has no isKmsAllowed): reverts. */
    KG_ASSERT_ERR(kg_eth_policy_check(&d, g.c, g.app, KG_ETH_POLICY_KMS, &bi, NULL), KG_ERR_DENIED,
                  "isKmsAllowed on 0x");
    assert_false(d.allowed);
    /* An invalid boot info is refused before anything is asked. */
    memset(bi.tcb_status, 'A', sizeof(bi.tcb_status));
    KG_ASSERT_ERR(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL), KG_ERR_INPUT,
                  "tcb_status is not NUL-terminated");
    assert_false(d.allowed);
    assert_false(d.has_block);
    bi = boot(V1);
    bi.n_advisory_ids = KG_MAX_ADVISORY_IDS + 1;
    KG_ASSERT_ERR(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL), KG_ERR_INPUT,
                  "65 advisory ids exceed 64");
    /* Node down. */
    bi = boot(V1);
    kg_test_anvil_stop(&g.anvil);
    KG_ASSERT_ERR(kg_eth_policy_check(&d, g.c, g.kms, KG_ETH_POLICY_APP, &bi, NULL), KG_ERR_NETWORK,
                  "chain node http://127.0.0.1:");
    assert_false(d.allowed);
    assert_false(d.has_block);
    assert_non_null(strstr(d.reason, "Couldn't connect to server"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(app_allowed_and_denied_with_reasons),
        cmocka_unit_test(kms_allowed_and_denied),
        cmocka_unit_test(answers_follow_governance_block_by_block),
        cmocka_unit_test(governance_writes_that_revert_say_why),
        cmocka_unit_test(fails_closed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
