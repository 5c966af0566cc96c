/* kms_request_test.c - the KMS request parsers: accepted shapes, every field's type and size
 * limits, and exact errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/kms_request.h"
#include "test_util.h"

#define B(s) (const uint8_t *)(s), strlen(s)

static void test_get_app_key(void **state)
{
    kg_kms_get_app_key_req *r = malloc(sizeof(*r));
    KG_ASSERT_OK(kg_kms_parse_get_app_key(r, B("")));
    assert_int_equal(r->api_version, 0);
    assert_int_equal(r->vm_config_len, 0);
    KG_ASSERT_OK(kg_kms_parse_get_app_key(r, B("{\"api_version\":1,\"vm_config\":\"{}\","
                                               "\"future_field\":true}")));
    assert_int_equal(r->api_version, 1);
    assert_string_equal(r->vm_config, "{}");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("{\"api_version\":\"1\"}")), KG_ERR_INPUT,
                  "GetAppKey: 'api_version' must be an integer");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("{\"api_version\":-1}")), KG_ERR_INPUT,
                  "'api_version' is out of range");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("{\"vm_config\":5}")), KG_ERR_INPUT,
                  "'vm_config' must be a string");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("[]")), KG_ERR_INPUT,
                  "request must be a JSON object");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("{\"a\":1,\"a\":2}")), KG_ERR_INPUT,
                  "not valid JSON");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("{")), KG_ERR_INPUT, "not valid JSON");
    size_t n = KG_KMS_MAX_VM_CONFIG + 20;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    memcpy(big, "{\"vm_config\":\"", 14);
    big[n - 2] = '"';
    big[n - 1] = '}';
    big[n] = 0;
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, (const uint8_t *)big, n), KG_ERR_TOO_LARGE,
                  "'vm_config' is too long");
    free(big);
    assert_int_equal(r->vm_config_len, 0); /* zeroed on failure */
    free(r);
}

static void test_app_id(void **state)
{
    kg_kms_app_id_req r;
    KG_ASSERT_OK(
        kg_kms_parse_app_id(&r, B("{\"app_id\":\"5fbdb2315678afecb367f032d93f642f64180aa3\"}")));
    assert_int_equal(r.app_id[0], 0x5f);
    assert_int_equal(r.app_id[19], 0xa3);
    KG_ASSERT_OK(
        kg_kms_parse_app_id(&r, B("{\"app_id\":\"0x5FBDB2315678afecb367f032d93f642f64180aa3\"}")));
    KG_ASSERT_ERR(kg_kms_parse_app_id(&r, B("{}")), KG_ERR_INPUT, "missing 'app_id'");
    KG_ASSERT_ERR(kg_kms_parse_app_id(&r, B("")), KG_ERR_INPUT, "missing 'app_id'");
    KG_ASSERT_ERR(kg_kms_parse_app_id(&r, B("{\"app_id\":\"5fbd\"}")), KG_ERR_INPUT,
                  "'app_id' must be 20 bytes, got 2");
    KG_ASSERT_ERR(kg_kms_parse_app_id(&r, B("{\"app_id\":\"zz\"}")), KG_ERR_INPUT, "'app_id'");
    KG_ASSERT_ERR(
        kg_kms_parse_app_id(&r, B("{\"app_id\":\"5fbdb2315678afecb367f032d93f642f64180aa3ff\"}")),
        KG_ERR_INPUT, "must be 20 bytes, got 21");
    KG_ASSERT_ERR(kg_kms_parse_app_id(&r, B("{\"app_id\":7}")), KG_ERR_INPUT,
                  "'app_id' must be a hex string");
}

static void test_sign_cert(void **state)
{
    kg_kms_sign_cert_req *r = malloc(sizeof(*r));
    KG_ASSERT_OK(kg_kms_parse_sign_cert(r, B("{\"api_version\":1,\"csr\":\"3082aa\","
                                             "\"signature\":\"0102\",\"vm_config\":\"\"}")));
    assert_int_equal(r->csr_len, 3);
    assert_int_equal(r->signature_len, 2);
    KG_ASSERT_ERR(kg_kms_parse_sign_cert(r, B("{}")), KG_ERR_INPUT, "SignCert: missing 'csr'");
    KG_ASSERT_ERR(kg_kms_parse_sign_cert(r, B("{\"csr\":\"\"}")), KG_ERR_INPUT, "'csr' is empty");
    KG_ASSERT_ERR(kg_kms_parse_sign_cert(r, B("{\"csr\":\"30\",\"vm_config\":1}")), KG_ERR_INPUT,
                  "'vm_config' must be a string");
    free(r);
}

/* dstack's guest sends `null` for a method without arguments (GetTempCaCert, GetMeta) and
 * its server reads `null`, {} and nothing alike; keygate takes all three as {} */
static void test_dstack_bodies(void **state)
{
    kg_kms_get_app_key_req *r = malloc(sizeof(*r));
    KG_ASSERT_OK(kg_kms_parse_get_app_key(r, B("null")));
    assert_int_equal(r->api_version, 0);
    KG_ASSERT_OK(kg_kms_parse_get_app_key(r, B(" null\n")));
    KG_ASSERT_OK(kg_kms_parse_get_app_key(r, B("{}")));
    KG_ASSERT_OK(kg_kms_parse_get_app_key(r, B("")));
    /* the guest's exact GetAppKey */
    KG_ASSERT_OK(kg_kms_parse_get_app_key(
        r, B("{\"api_version\":1,\"vm_config\":\"{\\\"os_image_hash\\\":\\\"ab\\\"}\"}")));
    assert_int_equal(r->api_version, 1);
    assert_string_equal(r->vm_config, "{\"os_image_hash\":\"ab\"}");
    /* other non-objects stay refused */
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("true")), KG_ERR_INPUT,
                  "request must be a JSON object");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("\"x\"")), KG_ERR_INPUT,
                  "request must be a JSON object");
    KG_ASSERT_ERR(kg_kms_parse_get_app_key(r, B("null null")), KG_ERR_INPUT, "not valid JSON");
    free(r);
    kg_kms_app_id_req a;
    KG_ASSERT_ERR(kg_kms_parse_app_id(&a, B("null")), KG_ERR_INPUT, "missing 'app_id'");
    kg_kms_sign_cert_req *s = malloc(sizeof(*s));
    KG_ASSERT_ERR(kg_kms_parse_sign_cert(s, B("null")), KG_ERR_INPUT, "SignCert: missing 'csr'");
    free(s);
}

/* api_version 2: a SCALE CertSigningRequestV2 (it embeds a quote and an event log: far larger
 * than a PKCS#10) and the signature over it, which v2 requires */
static void test_sign_cert_v2(void **state)
{
    kg_kms_sign_cert_req *r = malloc(sizeof(*r));
    KG_ASSERT_OK(kg_kms_parse_sign_cert(
        r, B("{\"api_version\":2,\"csr\":\"1170\",\"signature\":\"3045\",\"vm_config\":\"{}\"}")));
    assert_int_equal(r->api_version, 2);
    assert_int_equal(r->csr_len, 2);
    assert_int_equal(r->signature_len, 2);
    KG_ASSERT_ERR(kg_kms_parse_sign_cert(r, B("{\"api_version\":2,\"csr\":\"1170\"}")),
                  KG_ERR_INPUT, "SignCert: api_version 2 needs a 'signature' over the CSR");
    KG_ASSERT_ERR(
        kg_kms_parse_sign_cert(r, B("{\"api_version\":2,\"csr\":\"1170\",\"signature\":\"\"}")),
        KG_ERR_INPUT, "needs a 'signature'");
    assert_int_equal(r->csr_len, 0); /* zeroed on failure */
    /* 200 KiB of CSR: what a guest with a long event log sends */
    size_t n = 200u * 1024u;
    const char *head = "{\"api_version\":2,\"signature\":\"30\",\"csr\":\"";
    size_t hl = strlen(head);
    char *body = malloc(hl + 2 * n + 3);
    memcpy(body, head, hl);
    memset(body + hl, 'a', 2 * n);
    memcpy(body + hl + 2 * n, "\"}", 3);
    KG_ASSERT_OK(kg_kms_parse_sign_cert(r, (const uint8_t *)body, strlen(body)));
    assert_int_equal(r->csr_len, n);
    assert_int_equal(r->csr[n - 1], 0xaa);
    free(body);
    free(r);
}

static void test_body_cap(void **state)
{
    kg_kms_app_id_req r;
    static uint8_t big[KG_KMS_MAX_BODY + 1];
    KG_ASSERT_ERR(kg_kms_parse_app_id(&r, big, sizeof(big)), KG_ERR_TOO_LARGE,
                  "request body of 1048577 bytes exceeds 1048576");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_app_key),  cmocka_unit_test(test_app_id),
        cmocka_unit_test(test_sign_cert),    cmocka_unit_test(test_dstack_bodies),
        cmocka_unit_test(test_sign_cert_v2), cmocka_unit_test(test_body_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
