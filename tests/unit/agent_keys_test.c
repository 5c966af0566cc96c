/* agent_keys_test.c - the agent's key material handling: GetAppKey replies (including the KMS's
 * refusals), the keys file and its permissions, secret files, and RA-TLS client certificates. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agent/kms_client.h"
#include "keygate/agent.h"
#include "keygate/hash.h"

static const char reply_ok[] =
    "{\"ca_cert\":\"-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----\\n\","
    "\"disk_crypt_key\":\"f362ad7029c1e473b239a08d46b58b7eaa9007c1faa1fdf4e295fb7fc1728dc1\","
    "\"env_crypt_key\":\"14da4223e583d43ba25438ec7507ac5e5f281443a6dc6e5def0e5f9c6e529184\","
    "\"k256_key\":\"2995f043ba03af81ab0d443675d4d2472321f6c6563c978856e3551294d9f12a\","
    "\"k256_signature\":\"7f27e3dbdb6ce488b5fa3d1370975618a3f5a0e443564d5a06c0b82589aeac14050c"
    "70545d589f135352f97bd596088fad4aae1925bf98a1218a950b9c8a023300\","
    "\"gateway_app_id\":\"\",\"os_image_hash\":\"00\"}";

static void parses_get_app_key_reply(void **state)
{
    kg_agent_keys k;
    KG_ASSERT_OK(kg_agent_keys_parse(&k, reply_ok, strlen(reply_ok)));
    kg_test_assert_hex(k.k256_key, 32,
                       "2995f043ba03af81ab0d443675d4d2472321f6c6563c978856e3551294d9f12a");
    kg_test_assert_hex(k.disk_key, 32,
                       "f362ad7029c1e473b239a08d46b58b7eaa9007c1faa1fdf4e295fb7fc1728dc1");
    assert_non_null(strstr(k.ca_cert, "BEGIN CERTIFICATE"));
    kg_agent_keys_wipe(&k);
    uint8_t zero[sizeof(k)];
    memset(zero, 0, sizeof(zero));
    assert_memory_equal(&k, zero, sizeof(k)); /* wiped, strings freed */
}

static void rejects_bad_replies(void **state)
{
    kg_agent_keys k;
    const char *denied = "{\"error\":\"GetAppKey denied: compose hash not allowed\"}";
    KG_ASSERT_ERR(kg_agent_keys_parse(&k, denied, strlen(denied)), KG_ERR_DENIED,
                  "KMS refused: GetAppKey denied: compose hash not allowed");
    KG_ASSERT_ERR(kg_agent_keys_parse(&k, "{", 1), KG_ERR_INPUT, "not JSON");
    KG_ASSERT_ERR(kg_agent_keys_parse(&k, "{}", 2), KG_ERR_INPUT, "'k256_key' missing");
    char buf[sizeof(reply_ok)];
    memcpy(buf, reply_ok, sizeof(reply_ok));
    char *p = strstr(buf, "2995f0");
    p[0] = 'z';
    KG_ASSERT_ERR(kg_agent_keys_parse(&k, buf, strlen(buf)), KG_ERR_INPUT, "'k256_key'");
    memcpy(buf, reply_ok, sizeof(reply_ok));
    p = strstr(buf, "\"ca_cert\"");
    memcpy(p, "\"ca_cerX\"", 9);
    KG_ASSERT_ERR(kg_agent_keys_parse(&k, buf, strlen(buf)), KG_ERR_INPUT, "'ca_cert' missing");
    /* Outputs are wiped on failure: no partial keys. */
    uint8_t zero[32] = {0};
    assert_memory_equal(k.k256_key, zero, 32);
    assert_memory_equal(k.disk_key, zero, 32);
}

static void keys_file_permissions(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "/tmp/kg-agent-keys-%d.json", (int)getpid());
    unlink(path);
    KG_ASSERT_OK(kg_agent_write_secret_file(path, reply_ok, strlen(reply_ok)));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    kg_agent_keys k;
    KG_ASSERT_OK(kg_agent_keys_load(&k, path));
    kg_agent_keys_wipe(&k);
    assert_int_equal(chmod(path, 0640), 0);
    KG_ASSERT_ERR(kg_agent_keys_load(&k, path), KG_ERR_DENIED,
                  "is accessible to group or others (mode 0640)");
    unlink(path);
    KG_ASSERT_ERR(kg_agent_keys_load(&k, path), KG_ERR_NOT_FOUND, "does not exist");
}

/* An RA-TLS client certificate: issued by the given CA, carrying the quote and event log in
 * OCTET STRING-wrapped extensions, and REPORTDATA binding = SHA-512("ratls-cert:" || SPKI). */
static void ratls_client_cert(void **state)
{
    kg_p256_key *ca = NULL, *key = NULL;
    kg_buf ca_key_pem, cert_pem, spki;
    kg_buf_init(&ca_key_pem, 4096);
    kg_buf_init(&cert_pem, 65536);
    kg_buf_init(&spki, 4096);
    KG_ASSERT_OK(kg_p256_generate(&ca));
    KG_ASSERT_OK(kg_p256_generate(&key));
    KG_ASSERT_OK(kg_p256_private_pem(&ca_key_pem, ca));

    /* A self-signed CA certificate to issue from. */
    X509 *cax = X509_new();
    X509_set_version(cax, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cax), 1);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cax), "CN", MBSTRING_ASC,
                               (const unsigned char *)"temp ca", -1, -1, 0);
    X509_set_issuer_name(cax, X509_get_subject_name(cax));
    X509_gmtime_adj(X509_getm_notBefore(cax), 0);
    X509_gmtime_adj(X509_getm_notAfter(cax), 3600);
    X509_set_pubkey(cax, kg_p256_evp(ca));
    assert_true(X509_sign(cax, kg_p256_evp(ca), EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cax);
    char *ca_pem_p;
    long ca_pem_n = BIO_get_mem_data(b, &ca_pem_p);
    char *ca_pem = strndup(ca_pem_p, (size_t)ca_pem_n);
    BIO_free(b);

    uint8_t rd[64], want[64], quote[100];
    memset(quote, 0x5a, sizeof(quote));
    KG_ASSERT_OK(kg_ratls_key_report_data(rd, key));
    KG_ASSERT_OK(kg_buf_append_str(&spki, "ratls-cert:"));
    KG_ASSERT_OK(kg_p256_spki_der(&spki, key));
    KG_ASSERT_OK(kg_sha512(want, spki.data, spki.len));
    assert_memory_equal(rd, want, 64);

    uint8_t app_id[20];
    memset(app_id, 0xaa, 20);
    KG_ASSERT_OK(kg_agent_ratls_client_cert(&cert_pem, key, ca_pem, (const char *)ca_key_pem.data,
                                            quote, sizeof(quote), "[]", app_id, NULL,
                                            KG_RATLS_FORMAT_LEGACY));
    b = BIO_new_mem_buf(cert_pem.data, (int)cert_pem.len);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    assert_int_equal(X509_verify(x, kg_p256_evp(ca)), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), kg_p256_evp(key)), 1);
    ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.62397.1.1", 1);
    int idx = X509_get_ext_by_OBJ(x, obj, -1);
    assert_true(idx >= 0);
    ASN1_OCTET_STRING *outer = X509_EXTENSION_get_data(X509_get_ext(x, idx));
    const unsigned char *p = ASN1_STRING_get0_data(outer);
    ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(outer));
    assert_non_null(inner);
    assert_int_equal(ASN1_STRING_length(inner), sizeof(quote));
    assert_memory_equal(ASN1_STRING_get0_data(inner), quote, sizeof(quote));
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);

    /* A CA key that is not PEM is an error naming it. */
    kg_buf junk;
    kg_buf_init(&junk, 65536);
    KG_ASSERT_ERR(kg_agent_ratls_client_cert(&junk, key, ca_pem, "nope", quote, 1, "[]", NULL, NULL,
                                             KG_RATLS_FORMAT_LEGACY),
                  KG_ERR_INPUT, "temporary CA key");
    kg_buf_free(&junk);

    X509_free(x);
    X509_free(cax);
    free(ca_pem);
    kg_p256_free(ca);
    kg_p256_free(key);
    kg_buf_free(&ca_key_pem);
    kg_buf_free(&cert_pem);
    kg_buf_free(&spki);
}

static void kms_call_requires_pin_and_https(void **state)
{
    kg_buf reply;
    long status;
    kg_buf_init(&reply, 1024);
    kg_agent_kms_endpoint ep = {.url = "https://127.0.0.1:1"};
    KG_ASSERT_ERR(kg_agent_kms_call(&reply, &status, &ep, "GetMeta", "{}", NULL, NULL),
                  KG_ERR_USAGE, "no pinned KMS root CA");
    ep.url = "http://127.0.0.1:1";
    kg_kms_trust trust = {.root_ca_pem = "x"};
    ep.trust = &trust;
    KG_ASSERT_ERR(kg_agent_kms_call(&reply, &status, &ep, "GetMeta", "{}", NULL, NULL),
                  KG_ERR_USAGE, "is not https://");
    ep.url = "https://127.0.0.1:1";
    KG_ASSERT_ERR(kg_agent_kms_call(&reply, &status, &ep, "GetMeta", "{}", NULL, NULL),
                  KG_ERR_NETWORK, "KMS GetMeta at https://127.0.0.1:1");
    kg_buf_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_get_app_key_reply),        cmocka_unit_test(rejects_bad_replies),
        cmocka_unit_test(keys_file_permissions),           cmocka_unit_test(ratls_client_cert),
        cmocka_unit_test(kms_call_requires_pin_and_https),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
