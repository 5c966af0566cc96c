/* kms_config_test.c - the strict KMS config parser: defaults, every section, and exact errors. */
#include <stdio.h>
#include <string.h>

#include "keygate/kms_config.h"
#include "test_util.h"

#define MINIMAL                                                                                    \
    "{\"state_dir\":\"/tmp/s\",\"pccs_url\":\"http://p\",\"policy\":{\"rpc_url\":\"https://r\","   \
    "\"kms_contract\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\",\"chain_id\":31337}"

static kg_result parse(kg_kms_config *c, const char *text)
{
    return kg_kms_config_parse(c, text, strlen(text));
}

static void test_minimal_defaults(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, MINIMAL "}"));
    assert_string_equal(c.listen_address, "127.0.0.1");
    assert_int_equal(c.listen_port, 8000);
    assert_string_equal(c.audit_db, "/tmp/s/audit.db");
    assert_int_equal(c.policy, KG_KMS_POLICY_ETH);
    assert_int_equal(c.chain_id, 31337);
    assert_int_equal(c.kms_contract[0], 0x5f);
    assert_int_equal(c.kms_contract[19], 0xa3);
    assert_int_equal(c.trust_root, KG_KMS_TRUST_INTEL);
    assert_int_equal(c.tee, KG_KMS_TEE_TDX);
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.max_body_bytes, 262144);
    assert_int_equal(c.n_server_names, 1);
    assert_string_equal(c.server_names[0], "kms.keygate");
    assert_int_equal(c.self_check_interval_s, 60);
    assert_false(c.is_dev);
    assert_int_equal(c.max_connections, 512);
    assert_int_equal(c.max_connections_per_source, 64);
    assert_int_equal(c.handshake_timeout_ms, 2000);
    assert_int_equal(c.log_format, KG_SLOG_TEXT);
}

/* The connection limits: set, defaults that follow the limits they must fit under, and values
 * that cannot hold refused with the range that can. */
static void test_connection_limits(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, MINIMAL
                       ",\"limits\":{\"max_connections\":4000,"
                       "\"max_connections_per_source\":100,\"handshake_timeout_ms\":500}}"));
    assert_int_equal(c.max_connections, 4000);
    assert_int_equal(c.max_connections_per_source, 100);
    assert_int_equal(c.handshake_timeout_ms, 500);
    /* a small server: one source may have every slot, the handshake all of a short request */
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"limits\":{\"max_connections\":10,"
                                   "\"request_timeout_ms\":1000}}"));
    assert_int_equal(c.max_connections_per_source, 10);
    assert_int_equal(c.handshake_timeout_ms, 1000);
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"limits\":{\"max_connections\":10,"
                                    "\"max_connections_per_source\":11}}"),
                  KG_ERR_INPUT, "'limits.max_connections_per_source' = 11 is out of range [1, 10]");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"limits\":{\"max_connections_per_source\":0}}"),
                  KG_ERR_INPUT, "'limits.max_connections_per_source' = 0 is out of range");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"limits\":{\"request_timeout_ms\":1000,"
                                    "\"handshake_timeout_ms\":1500}}"),
                  KG_ERR_INPUT, "'limits.handshake_timeout_ms' = 1500 is out of range [100, 1000]");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"limits\":{\"handshake_timeout_ms\":50}}"), KG_ERR_INPUT,
                  "'limits.handshake_timeout_ms' = 50 is out of range");
}

static void test_admin_listen(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, MINIMAL "}"));
    assert_false(c.has_admin);
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"admin_listen\":\"127.0.0.1:9100\"}"));
    assert_true(c.has_admin);
    assert_string_equal(c.admin_address, "127.0.0.1");
    assert_int_equal(c.admin_port, 9100);
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"admin_listen\":\"[::1]:0\"}"));
    assert_string_equal(c.admin_address, "::1");
    assert_int_equal(c.admin_port, 0);
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"admin_listen\":\"localhost:9100\"}"));
    assert_string_equal(c.admin_address, "localhost");
    static const char *const bad[] = {
        "9100",          ":9100",     "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:91x", "[::1:9100", "[::1]9100",  "[]:9100"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char doc[256];
        snprintf(doc, sizeof(doc), MINIMAL ",\"admin_listen\":\"%s\"}", bad[i]);
        KG_ASSERT_ERR(parse(&c, doc), KG_ERR_INPUT, "config: 'admin_listen' = '");
        assert_false(c.has_admin);
    }
}

static void test_log_format(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"log_format\":\"json\"}"));
    assert_int_equal(c.log_format, KG_SLOG_JSON);
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"log_format\":\"text\"}"));
    assert_int_equal(c.log_format, KG_SLOG_TEXT);
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"log_format\":\"xml\"}"), KG_ERR_INPUT,
                  "config: 'log_format' = 'xml' is not 'text' or 'json'");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"log_format\":1}"), KG_ERR_INPUT,
                  "'log_format' must be a string");
}

static void test_example_file_parses(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(kg_kms_config_load(&c, KG_VECTORS_DIR "/../../kms/kms.example.json"));
    assert_string_equal(c.listen_address, "0.0.0.0");
    assert_int_equal(c.n_rpc_urls, 3);
    assert_int_equal(c.quorum, 2);
    assert_int_equal(c.trust_root, KG_KMS_TRUST_INTEL);
    assert_int_equal(c.tee, KG_KMS_TEE_TDX);
    assert_int_equal(c.log_format, KG_SLOG_JSON);
    assert_true(c.has_admin);
}

static void test_full_sim(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"listen\":{\"port\":0},\"trust_root\":{\"kind\":\"sim\","
                                   "\"sim_ca_file\":\"/x/ca.pem\"},\"tee\":{\"backend\":\"sim\","
                                   "\"sim_dir\":\"/x\"},\"limits\":{\"workers\":4,\"max_queue\":7},"
                                   "\"is_dev\":true,\"self_check_interval_s\":0}"));
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.trust_root, KG_KMS_TRUST_SIM);
    assert_string_equal(c.sim_root_ca, "/x/ca.pem");
    assert_int_equal(c.tee, KG_KMS_TEE_SIM);
    assert_string_equal(c.sim_dir, "/x");
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.max_queue, 7);
    assert_true(c.is_dev);
    assert_int_equal(c.self_check_interval_s, 0);
}

static void test_webhook(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, "{\"state_dir\":\"/s\",\"pccs_url\":\"http://p\",\"policy\":{"
                           "\"backend\":\"webhook\",\"url\":\"https://auth:8000\"}}"));
    assert_int_equal(c.policy, KG_KMS_POLICY_WEBHOOK);
    assert_string_equal(c.webhook_url, "https://auth:8000");
    KG_ASSERT_ERR(parse(&c, "{\"state_dir\":\"/s\",\"pccs_url\":\"http://p\",\"policy\":{"
                            "\"backend\":\"webhook\",\"url\":\"http://a\",\"chain_id\":1}}"),
                  KG_ERR_INPUT, "'policy.chain_id' is for backend 'eth'");
}

static void test_errors(void **state)
{
    kg_kms_config c;
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"wrokers\":2}"), KG_ERR_INPUT, "unknown key 'wrokers'");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"limits\":{\"wrokers\":2}}"), KG_ERR_INPUT,
                  "unknown key 'limits.wrokers'");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"limits\":{\"workers\":0}}"), KG_ERR_INPUT,
                  "'limits.workers' = 0 is out of range [1, 256]");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"listen\":{\"port\":70000}}"), KG_ERR_INPUT,
                  "'listen.port' = 70000 is out of range");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"listen\":{\"port\":\"80\"}}"), KG_ERR_INPUT,
                  "'listen.port' must be an integer");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tee\":{\"backend\":\"sgx\"}}"), KG_ERR_INPUT,
                  "'tee.backend' = 'sgx' is not one of 'tdx', 'sim'");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tee\":{\"backend\":\"sim\"}}"), KG_ERR_INPUT,
                  "missing required key 'tee.sim_dir'");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"is_dev\":1}"), KG_ERR_INPUT, "'is_dev' must be true");
    KG_ASSERT_ERR(parse(&c, "{\"pccs_url\":\"x\"}"), KG_ERR_INPUT,
                  "missing required key 'state_dir'");
    KG_ASSERT_ERR(parse(&c, "{\"state_dir\":\"/s\",\"pccs_url\":\"x\"}"), KG_ERR_INPUT,
                  "missing required key 'policy'");
    KG_ASSERT_ERR(parse(&c, "{\"state_dir\":\"/s\",\"pccs_url\":\"x\",\"policy\":{\"rpc_url\":"
                            "\"http://r\",\"kms_contract\":\"0x12\",\"chain_id\":1}}"),
                  KG_ERR_INPUT, "'policy.kms_contract' = '0x12' is not a 20-byte hex address");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"state_dir\":\"/t\"}"), KG_ERR_INPUT,
                  "invalid JSON"); /* duplicate keys are rejected */
    KG_ASSERT_ERR(parse(&c, "[1]"), KG_ERR_INPUT, "top level must be a JSON object");
    KG_ASSERT_ERR(parse(&c, "{"), KG_ERR_INPUT, "invalid JSON at line 1");
    /* zeroed on failure */
    assert_int_equal(c.listen_port, 0);
    assert_string_equal(c.state_dir, "");
    KG_ASSERT_ERR(kg_kms_config_load(&c, "/nonexistent/kms.json"), KG_ERR_NOT_FOUND,
                  "config: '/nonexistent/kms.json' does not exist");
}

static void test_too_large(void **state)
{
    static char big[KG_KMS_CONFIG_MAX_BYTES + 2];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    kg_kms_config c;
    KG_ASSERT_ERR(kg_kms_config_parse(&c, big, sizeof(big) - 1), KG_ERR_TOO_LARGE,
                  "exceeds the maximum of 65536");
}

#define POLICY_HEAD                                                                                \
    "{\"state_dir\":\"/s\",\"pccs_url\":\"http://p\",\"policy\":{\"kms_contract\":"                \
    "\"0x5FbDB2315678afecb367f032d93F642f64180aa3\",\"chain_id\":1,"

static void test_chain_quorum(void **state)
{
    (void)state;
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, POLICY_HEAD "\"rpc_urls\":[\"https://a\",\"https://b\","
                                       "\"http://127.0.0.1:8545\"],\"quorum\":2,"
                                       "\"confirmations\":3,\"max_block_age_s\":60}}"));
    assert_int_equal(c.n_rpc_urls, 3);
    assert_string_equal(c.rpc_urls[2], "http://127.0.0.1:8545");
    assert_string_equal(c.rpc_url, "https://a");
    assert_int_equal(c.quorum, 2);
    assert_int_equal(c.confirmations, 3);
    assert_int_equal(c.max_block_age_s, 60);
    assert_int_equal(c.reorg_allowance, 64);
    /* default quorum: every node; default freshness 5 minutes */
    KG_ASSERT_OK(parse(&c, POLICY_HEAD "\"rpc_urls\":[\"https://a\",\"https://b\"]}}"));
    assert_int_equal(c.quorum, 2);
    assert_int_equal(c.max_block_age_s, 300);
    /* a decision block resolved before the decision arrived: never, unless bounded here */
    assert_int_equal(c.head_max_age_ms, 0);
    KG_ASSERT_OK(parse(&c, POLICY_HEAD "\"rpc_url\":\"https://a\",\"head_max_age_ms\":250}}"));
    assert_int_equal(c.head_max_age_ms, 250);
    KG_ASSERT_ERR(parse(&c, POLICY_HEAD "\"rpc_url\":\"https://a\",\"head_max_age_ms\":5001}}"),
                  KG_ERR_INPUT, "head_max_age_ms");
    KG_ASSERT_OK(parse(&c, POLICY_HEAD "\"rpc_url\":\"https://a\"}}"));
    assert_int_equal(c.n_rpc_urls, 1);
    assert_int_equal(c.quorum, 1);
    KG_ASSERT_ERR(parse(&c, POLICY_HEAD "\"rpc_urls\":[\"https://a\"],\"quorum\":2}}"),
                  KG_ERR_INPUT, "'policy.quorum'");
    KG_ASSERT_ERR(
        parse(&c, POLICY_HEAD "\"rpc_urls\":[\"https://a\",\"https://b\"],\"quorum\":1}}"),
        KG_ERR_INPUT, "lets any one node decide alone");
    KG_ASSERT_ERR(parse(&c, POLICY_HEAD "\"rpc_urls\":[\"https://a\",\"https://a\"]}}"),
                  KG_ERR_INPUT, "names 'https://a' twice");
    KG_ASSERT_ERR(parse(&c, POLICY_HEAD "\"rpc_urls\":[]}}"), KG_ERR_INPUT,
                  "must be a list of 1 to 8 URLs");
    KG_ASSERT_ERR(parse(&c, POLICY_HEAD "\"rpc_url\":\"https://a\",\"rpc_urls\":[\"https://b\"]}}"),
                  KG_ERR_INPUT, "not both");
    /* plain http to another host: refused unless explicitly allowed */
    KG_ASSERT_ERR(parse(&c, POLICY_HEAD "\"rpc_url\":\"http://node.example:8545\"}}"), KG_ERR_INPUT,
                  "is plain http to another host");
    KG_ASSERT_OK(parse(&c, POLICY_HEAD "\"rpc_url\":\"http://node.example:8545\","
                                       "\"allow_insecure_http\":true}}"));
    assert_true(c.allow_insecure_http);
    KG_ASSERT_OK(parse(&c, POLICY_HEAD "\"rpc_url\":\"http://localhost:8545\"}}"));
}

/* tls.server_names: the names a guest's https://<name>:<port> may use */
static void test_server_names(void **state)
{
    kg_kms_config c;
    KG_ASSERT_OK(parse(&c, MINIMAL ",\"tls\":{\"server_names\":[\"kms.example.com\",\"10.0.2.2\","
                                   "\"localhost\"]}}"));
    assert_int_equal(c.n_server_names, 3);
    assert_string_equal(c.server_names[0], "kms.example.com");
    assert_string_equal(c.server_names[1], "10.0.2.2");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tls\":{\"server_names\":[]}}"), KG_ERR_INPUT,
                  "'tls.server_names' must be a list of 1 to 16 names");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tls\":{\"server_names\":\"kms.example.com\"}}"),
                  KG_ERR_INPUT, "'tls.server_names' must be a list");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tls\":{\"server_names\":[\"a,DNS:b\"]}}"), KG_ERR_INPUT,
                  "'tls.server_names'[0] is not a DNS name or an IP address");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tls\":{\"server_names\":[\"a\",\"a\"]}}"), KG_ERR_INPUT,
                  "names 'a' twice");
    KG_ASSERT_ERR(parse(&c, MINIMAL ",\"tls\":{\"sever_names\":[\"a\"]}}"), KG_ERR_INPUT,
                  "unknown key 'tls.sever_names'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_names),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_example_file_parses),
        cmocka_unit_test(test_connection_limits),
        cmocka_unit_test(test_full_sim),
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_admin_listen),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_chain_quorum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
