/* csr_v2_test.c - dstack's CertSigningRequestV2: its pinned encodings decode field by field (every
 * prefix and a trailing byte refused); a request made by a simulated VM verifies into the
 * requested fields and the VM's identity; a signature by another key, a changed byte, a wrong
 * confirm word and an attestation for another key are refused. */
#include "test_util.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keygate/crypto.h"
#include "keygate/ratls.h"
#include "keygate/sim.h"
#include "keygate/tee.h"

static char g_dir[64], g_plat[128];
static kg_buf g_coll;
static kg_dcap_verifier *g_ver;
static kg_tee *g_app;
static uint8_t g_app_id[20];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kg-csr-v2-test-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_plat, sizeof(g_plat), "%s/platform", g_dir);
    kg_buf root;
    kg_buf_init(&root, 65536);
    kg_buf_init(&g_coll, KG_MAX_COLLATERAL_LEN);
    if (kg_failed(kg_sim_init(g_plat, NULL)) || kg_failed(kg_sim_root_ca_der(&root, g_plat)) ||
        kg_failed(kg_dcap_verifier_new(&g_ver, root.data, root.len)) ||
        kg_failed(kg_sim_collateral(&g_coll, g_plat)) ||
        kg_failed(kg_tee_open_sim(&g_app, g_plat, "app")))
        return -1;
    kg_buf_free(&root);
    memset(g_app_id, 0x42, 20);
    uint8_t compose[32] = {1}, inst[20] = {2};
    if (kg_failed(kg_tee_extend(g_app, KG_EVENT_SYSTEM_PREPARING, NULL, 0)) ||
        kg_failed(kg_tee_extend(g_app, KG_EVENT_APP_ID, g_app_id, 20)) ||
        kg_failed(kg_tee_extend(g_app, KG_EVENT_COMPOSE_HASH, compose, 32)) ||
        kg_failed(kg_tee_extend(g_app, KG_EVENT_INSTANCE_ID, inst, 20)) ||
        kg_failed(kg_tee_extend(g_app, KG_EVENT_BOOT_MR_DONE, NULL, 0)) ||
        kg_failed(kg_tee_extend(g_app, KG_EVENT_SYSTEM_READY, NULL, 0)))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kg_tee_free(g_app);
    kg_dcap_verifier_free(g_ver);
    kg_buf_free(&g_coll);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static kg_ratls_policy policy(void)
{
    kg_ratls_policy p = {
        .verifier = g_ver, .collateral_json = (char *)g_coll.data, .collateral_len = g_coll.len};
    return p;
}

static void read_hex_vector(kg_buf *out, const char *rel)
{
    kg_buf text;
    kg_test_read_vector(&text, rel);
    size_t n = text.len;
    while (n > 0 && (text.data[n - 1] == '\n' || text.data[n - 1] == '\r'))
        n--;
    kg_buf_init(out, 1 << 16);
    KG_ASSERT_OK(kg_hex_decode_buf(out, (const char *)text.data, n));
    kg_buf_free(&text);
}

static void dstack_pinned_vectors(void **state)
{
    (void)state;
    static const char *const files[] = {"dstack/csr_v2_no_quote.hex",
                                        "dstack/csr_v2_tdx_quote.hex"};
    kg_csr_v2 *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    for (int i = 0; i < 2; i++) {
        kg_buf b;
        read_hex_vector(&b, files[i]);
        KG_ASSERT_OK(kg_csr_v2_parse(c, b.data, b.len));
        assert_string_equal(c->confirm, KG_CSR_V2_CONFIRM);
        assert_int_equal(c->pubkey_len, 3);
        assert_memory_equal(c->pubkey, "\x01\x02\x03", 3);
        assert_false(c->has_org_name);
        assert_string_equal(c->subject, "test.example.com");
        assert_int_equal(c->n_sans, 0);
        assert_true(c->usage_server_auth);
        assert_false(c->usage_client_auth);
        assert_int_equal(c->ext_quote, i == 1);
        assert_false(c->ext_app_info);
        assert_false(c->has_not_before || c->has_not_after);
        assert_int_equal(c->attestation.wire, KG_RATLS_ATTESTATION_V0);
        assert_int_equal(c->attestation.quote.len, (size_t)i);
        if (i == 1)
            assert_int_equal(c->attestation.quote.data[0], 9);
        assert_int_equal(c->attestation.n_platform_events, 0);
        assert_int_equal(c->attestation.runtime_events.count, 0);
        static const uint8_t zero[64] = {0};
        assert_memory_equal(c->attestation.report_data, zero, 64);
        assert_string_equal((const char *)c->attestation.config.data, "");
        kg_csr_v2_free(c);
        /* every prefix is refused, and so is one more byte */
        for (size_t n = 0; n < b.len; n++) {
            kg_error_clear();
            if (kg_ok(kg_csr_v2_parse(c, b.data, n)))
                fail_msg("%s: the %zu-byte prefix parsed", files[i], n);
            assert_true(kg_error_code() == KG_ERR_TRUNCATED || kg_error_code() == KG_ERR_INPUT);
            kg_csr_v2_free(c);
        }
        KG_ASSERT_OK(kg_buf_append_u8(&b, 0));
        KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, b.len), KG_ERR_INPUT,
                      "1 trailing bytes after the V0 attestation");
        kg_csr_v2_free(c);
        kg_buf_free(&b);
    }
    /* exact errors at chosen cuts of the first vector */
    kg_buf b;
    read_hex_vector(&b, files[0]);
    KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, 10), KG_ERR_TRUNCATED,
                  "'confirm': length 17 exceeds the 9 bytes that remain");
    KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, 46), KG_ERR_TRUNCATED,
                  "truncated reading 'config.not_after' (need 1, have 0)");
    KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, 47), KG_ERR_TRUNCATED,
                  "truncated reading 'attestation' (need 1, have 0)");
    KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, 52), KG_ERR_TRUNCATED,
                  "truncated reading 'Attestation.report_data' (need 64, have 0)");
    b.data[41] = 2; /* usage_server_auth = 2 */
    KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, b.len), KG_ERR_INPUT,
                  "'config.usage_server_auth': bool byte 0x02 is neither 0 nor 1");
    b.data[41] = 1;
    b.data[18] = 0xfe; /* the pubkey length in four-byte mode: fe 01 02 03 */
    KG_ASSERT_ERR(kg_csr_v2_parse(c, b.data, b.len), KG_ERR_TOO_LARGE,
                  "'pubkey': length 12615807 exceeds the maximum 1024");
    kg_buf_free(&b);
    free(c);
}

static void sim_request_verifies(void **state)
{
    (void)state;
    kg_ratls_policy pol = policy();
    static const char *const sans[] = {"app.example", "10.0.0.1"};
    kg_csr_v2_request req = {.org_name = "Org",
                             .subject = "app.example",
                             .sans = sans,
                             .n_sans = 2,
                             .usage_server_auth = true,
                             .usage_client_auth = true,
                             .ext_quote = true,
                             .has_not_after = true,
                             .not_after = 4102444800u};
    kg_csr_v2 *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    for (int w = 0; w < 2; w++) {
        kg_p256_key *key = NULL, *other = NULL;
        KG_ASSERT_OK(kg_p256_generate(&key));
        KG_ASSERT_OK(kg_p256_generate(&other));
        kg_buf csr, sig;
        kg_buf_init(&csr, KG_CSR_V2_MAX_LEN);
        kg_buf_init(&sig, 256);
        KG_ASSERT_OK(kg_csr_v2_new(&csr, &sig, g_app, key, &req, (kg_ratls_attestation_wire)w));
        kg_ratls_identity id;
        KG_ASSERT_OK(kg_csr_v2_verify(c, &id, csr.data, csr.len, sig.data, sig.len, &pol));
        assert_int_equal(c->attestation.wire, w);
        assert_true(c->has_org_name);
        assert_string_equal(c->org_name, "Org");
        assert_string_equal(c->subject, "app.example");
        assert_int_equal(c->n_sans, 2);
        assert_string_equal(c->sans[1], "10.0.0.1");
        assert_true(c->usage_server_auth && c->usage_client_auth && c->ext_quote);
        assert_true(c->has_not_after && c->not_after == 4102444800u && !c->has_not_before);
        assert_true(id.boot.has_app_id);
        assert_memory_equal(id.boot.app_id, g_app_id, 20);
        assert_true(id.system_ready);
        kg_csr_v2_free(c);

        /* a signature by another key */
        kg_buf sig2, csr2;
        kg_buf_init(&sig2, 256);
        kg_buf_init(&csr2, KG_CSR_V2_MAX_LEN);
        kg_buf att;
        kg_buf_init(&att, KG_CSR_V2_MAX_LEN);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t der[128];
        size_t der_len = sizeof(der);
        assert_true(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, kg_p256_evp(other)) == 1);
        assert_true(EVP_DigestSign(ctx, der, &der_len, csr.data, csr.len) == 1);
        EVP_MD_CTX_free(ctx);
        KG_ASSERT_ERR(kg_csr_v2_verify(c, &id, csr.data, csr.len, der, der_len, &pol),
                      KG_ERR_VERIFY, "CSR signature does not verify with the CSR's pubkey");
        kg_csr_v2_free(c);
        /* one changed byte (the subject) */
        size_t at = 0;
        for (size_t i = 0; i + 11 <= csr.len && at == 0; i++)
            if (memcmp(csr.data + i, "app.example", 11) == 0)
                at = i + 2;
        assert_true(at > 0);
        csr.data[at] ^= 0x01;
        KG_ASSERT_ERR(kg_csr_v2_verify(c, &id, csr.data, csr.len, sig.data, sig.len, &pol),
                      KG_ERR_VERIFY, "CSR signature does not verify");
        csr.data[at] ^= 0x01;
        kg_csr_v2_free(c);
        /* a wrong confirm word, properly signed */
        csr.data[1] = 'P';
        der_len = sizeof(der);
        ctx = EVP_MD_CTX_new();
        assert_true(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, kg_p256_evp(key)) == 1);
        assert_true(EVP_DigestSign(ctx, der, &der_len, csr.data, csr.len) == 1);
        EVP_MD_CTX_free(ctx);
        KG_ASSERT_ERR(kg_csr_v2_verify(c, &id, csr.data, csr.len, der, der_len, &pol), KG_ERR_INPUT,
                      "confirm word is not \"please sign cert:\"");
        kg_csr_v2_free(c);

        /* an attestation for `key`, in a request by `other` (signed by other): not bound */
        kg_csr_v2 *parsed = calloc(1, sizeof(*parsed));
        csr.data[1] = 'p';
        KG_ASSERT_OK(kg_csr_v2_parse(parsed, csr.data, csr.len));
        uint8_t rd[64];
        KG_ASSERT_OK(kg_ratls_key_report_data(rd, key));
        KG_ASSERT_OK(kg_ratls_attestation_encode(
            &att, (kg_ratls_attestation_wire)w, parsed->attestation.quote.data,
            parsed->attestation.quote.len, &parsed->attestation.runtime_events, rd, NULL));
        KG_ASSERT_OK(kg_csr_v2_build(&csr2, &sig2, other, &req, att.data, att.len));
        KG_ASSERT_ERR(kg_csr_v2_verify(c, &id, csr2.data, csr2.len, sig2.data, sig2.len, &pol),
                      KG_ERR_VERIFY, "not bound to the quote");
        kg_csr_v2_free(c);
        kg_csr_v2_free(parsed);
        free(parsed);
        kg_buf_free(&att);
        kg_buf_free(&sig2);
        kg_buf_free(&csr2);
        kg_buf_free(&csr);
        kg_buf_free(&sig);
        kg_p256_free(key);
        kg_p256_free(other);
    }
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dstack_pinned_vectors),
        cmocka_unit_test(sim_request_verifies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
