/* kms_x509_test.c - the certificates the KMS issues carry the narrowest constraints: the root
 * CA issues app CAs and server leaves (path length 1), an app CA issues leaves only (path length
 * 0), a leaf issues nothing; checked by OpenSSL's own chain verification. */
#include "test_util.h"

#include <openssl/x509v3.h>

#include "keygate/crypto.h"
#include "keygate/kms_x509.h"

/* X509_verify_cert of leaf under root with the intermediates given; returns the OpenSSL error
 * (X509_V_OK when it verifies). */
static int verify_chain(X509 *root, X509 *leaf, X509 **mid, size_t n_mid)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(untrusted);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, root), 1);
    for (size_t i = 0; i < n_mid; i++)
        assert_true(sk_X509_push(untrusted, mid[i]) > 0);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
    int ok = X509_verify_cert(ctx);
    int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return err;
}

static X509 *issue(kg_p256_key *key, const kg_kms_cert_spec *spec, kg_p256_key *ikey, X509 *icert)
{
    X509 *out = NULL;
    KG_ASSERT_OK(
        kg_kms_x509_issue(&out, kg_p256_evp(key), spec, ikey ? kg_p256_evp(ikey) : NULL, icert));
    return out;
}

static void every_ca_is_path_length_constrained(void **state)
{
    (void)state;
    kg_p256_key *k_root = NULL, *k_app = NULL, *k_leaf = NULL, *k_sub = NULL, *k_x = NULL;
    KG_ASSERT_OK(kg_p256_generate(&k_root));
    KG_ASSERT_OK(kg_p256_generate(&k_app));
    KG_ASSERT_OK(kg_p256_generate(&k_leaf));
    KG_ASSERT_OK(kg_p256_generate(&k_sub));
    KG_ASSERT_OK(kg_p256_generate(&k_x));
    kg_kms_cert_spec root_spec = {.common_name = "root", .is_ca = true, .path_len = 1, .days = 1};
    kg_kms_cert_spec ca_spec = {.common_name = "app CA", .is_ca = true, .days = 1};
    kg_kms_cert_spec leaf_spec = {.common_name = "leaf", .server_auth = true, .days = 1};
    X509 *root = issue(k_root, &root_spec, NULL, NULL);
    X509 *app_ca = issue(k_app, &ca_spec, k_root, root);
    X509 *leaf = issue(k_leaf, &leaf_spec, k_app, app_ca);
    assert_int_equal(X509_get_pathlen(root), 1);
    assert_int_equal(X509_get_pathlen(app_ca), 0);
    assert_int_equal(X509_check_ca(leaf), 0);

    /* What the KMS issues verifies: root -> app CA -> leaf. */
    assert_int_equal(verify_chain(root, leaf, &app_ca, 1), X509_V_OK);

    /* A CA under an app CA (path length 0) cannot issue anything that verifies. (Named apart
     * from its issuer: RFC 5280 does not count self-issued certificates in the path length.) */
    kg_kms_cert_spec sub_spec = {.common_name = "sub CA", .is_ca = true, .days = 1};
    X509 *sub = issue(k_sub, &sub_spec, k_app, app_ca);
    X509 *under_sub = issue(k_x, &leaf_spec, k_sub, sub);
    X509 *mids[2] = {sub, app_ca};
    assert_int_equal(verify_chain(root, under_sub, mids, 2), X509_V_ERR_PATH_LENGTH_EXCEEDED);

    /* A leaf cannot act as a CA. */
    X509 *under_leaf = issue(k_x, &leaf_spec, k_leaf, leaf);
    X509 *mids2[2] = {leaf, app_ca};
    assert_int_not_equal(verify_chain(root, under_leaf, mids2, 2), X509_V_OK);

    /* A self-signed CA (the temporary CA's shape) is no path to the root at all. */
    kg_kms_cert_spec temp_spec = {.common_name = "temporary CA", .is_ca = true, .days = 1};
    X509 *temp = issue(k_sub, &temp_spec, NULL, NULL);
    X509 *under_temp = issue(k_x, &leaf_spec, k_sub, temp);
    assert_int_not_equal(verify_chain(root, under_temp, &temp, 1), X509_V_OK);

    X509 *all[] = {root, app_ca, leaf, sub, under_sub, under_leaf, temp, under_temp};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        X509_free(all[i]);
    kg_p256_key *keys[] = {k_root, k_app, k_leaf, k_sub, k_x};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        kg_p256_free(keys[i]);
}

static void path_length_is_bounded(void **state)
{
    (void)state;
    kg_p256_key *k = NULL;
    KG_ASSERT_OK(kg_p256_generate(&k));
    kg_kms_cert_spec spec = {.common_name = "x", .is_ca = true, .path_len = 9, .days = 1};
    X509 *out = NULL;
    KG_ASSERT_ERR(kg_kms_x509_issue(&out, kg_p256_evp(k), &spec, NULL, NULL), KG_ERR_USAGE,
                  "x509: path length 9");
    assert_null(out);
    kg_p256_free(k);
}

/* SignCert v2 leaves: requested names (IP-looking ones as IP SANs), organization, validity
 * and the .8 attestation; names that are neither an address nor a DNS name are refused (a ','
 * never smuggles in a second entry). */
static void leaf_names_validity_and_attestation(void **state)
{
    (void)state;
    kg_p256_key *key = NULL;
    KG_ASSERT_OK(kg_p256_generate(&key));
    const char *names[] = {"app.example", "*.w.example", "203.0.113.10", "2001:db8::1"};
    static const uint8_t att[] = {0x00, 0x00, 0x01};
    kg_kms_cert_spec spec = {.common_name = "dstack-guest-agent",
                             .org_name = "Org",
                             .client_auth = true,
                             .alt_names = names,
                             .n_alt_names = 4,
                             .not_before = 1700000000,
                             .not_after = 1800000000,
                             .attestation = att,
                             .attestation_len = sizeof(att)};
    X509 *c = issue(key, &spec, NULL, NULL);
    GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 4);
    assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_DNS);
    assert_int_equal(sk_GENERAL_NAME_value(gens, 1)->type, GEN_DNS);
    assert_int_equal(sk_GENERAL_NAME_value(gens, 2)->type, GEN_IPADD);
    assert_int_equal(ASN1_STRING_length(sk_GENERAL_NAME_value(gens, 2)->d.ip), 4);
    assert_int_equal(sk_GENERAL_NAME_value(gens, 3)->type, GEN_IPADD);
    assert_int_equal(ASN1_STRING_length(sk_GENERAL_NAME_value(gens, 3)->d.ip), 16);
    GENERAL_NAMES_free(gens);
    char org[16];
    assert_int_equal(
        X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_organizationName, org, sizeof(org)),
        3);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(c), 1700000000), 0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(c), 1800000000), 0);
    ASN1_OBJECT *oid = OBJ_txt2obj(KG_OID_RATLS_ATTESTATION, 1);
    assert_true(X509_get_ext_by_OBJ(c, oid, -1) >= 0);
    ASN1_OBJECT_free(oid);
    assert_int_equal(X509_get_extended_key_usage(c), XKU_SSL_CLIENT);
    X509_free(c);

    bool ip;
    assert_false(kg_kms_x509_san_ok("a.example,DNS:evil.example", &ip));
    assert_false(kg_kms_x509_san_ok("", &ip));
    assert_false(kg_kms_x509_san_ok("a..example", &ip));
    assert_false(kg_kms_x509_san_ok("-a.example", &ip));
    assert_false(kg_kms_x509_san_ok("a.*.example", &ip));
    assert_false(kg_kms_x509_san_ok("a b", &ip));
    assert_true(kg_kms_x509_san_ok("localhost", &ip) && !ip);
    assert_true(kg_kms_x509_san_ok("::1", &ip) && ip);
    const char *bad[] = {"ok.example", "x y"};
    spec.alt_names = bad;
    spec.n_alt_names = 2;
    X509 *none = NULL;
    KG_ASSERT_ERR(kg_kms_x509_issue(&none, kg_p256_evp(key), &spec, NULL, NULL), KG_ERR_INPUT,
                  "'x y' is neither an IP address nor a DNS name");
    assert_null(none);
    kg_p256_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_ca_is_path_length_constrained),
        cmocka_unit_test(path_length_is_bounded),
        cmocka_unit_test(leaf_names_validity_and_attestation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
