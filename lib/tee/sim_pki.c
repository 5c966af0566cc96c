/* sim_pki.c - key and certificate helpers for the simulated platform's test PKI (OpenSSL). */
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <string.h>

#include "tee/sim_internal.h"
#include "tee/tee_internal.h"

kg_result sim_key_generate(EVP_PKEY **out)
{
    *out = EVP_EC_gen("P-256");
    KG_ENSURE_OSSL(*out != NULL, KG_ERR_CRYPTO, "generating a P-256 key");
    return KG_OK;
}

kg_result sim_key_save(const char *path, EVP_PKEY *key)
{
    kg_result rc = KG_ERROR;
    BIO *bio = BIO_new(BIO_s_secmem());
    BUF_MEM *mem = NULL;
    KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "BIO_new");
    KG_GUARD_OSSL_C(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), KG_ERR_CRYPTO,
                    "encoding private key");
    BIO_get_mem_ptr(bio, &mem);
    KG_GUARD_C(kg_file_write_atomic(path, mem->data, mem->length, 0600));
    rc = KG_OK;
cleanup:
    BIO_free(bio); /* secure memory BIO: wiped on free */
    return rc;
}

kg_result sim_read(kg_buf *out, const char *dir, const char *name)
{
    kg_result rc = KG_ERROR;
    kg_buf path;
    kg_buf_init(out, SIM_MAX_FILE);
    KG_GUARD(kg_path_join(&path, dir, name));
    KG_GUARD_C(kg_file_read(out, (char *)path.data, SIM_MAX_FILE));
    KG_GUARD_C(kg_buf_terminate(out));
    rc = KG_OK;
cleanup:
    kg_buf_free(&path);
    return rc;
}

kg_result sim_key_load(EVP_PKEY **out, const char *path)
{
    kg_result rc = KG_ERROR;
    kg_buf raw;
    BIO *bio = NULL;
    kg_buf_init(&raw, SIM_MAX_FILE);
    KG_GUARD_C(kg_file_read(&raw, path, SIM_MAX_FILE));
    bio = BIO_new_mem_buf(raw.data, (int)raw.len);
    KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "BIO_new_mem_buf");
    *out = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    KG_ENSURE_OSSL_C(*out != NULL, KG_ERR_INPUT, "'%s' is not a PEM private key", path);
    rc = KG_OK;
cleanup:
    BIO_free(bio);
    kg_buf_free(&raw);
    return rc;
}

kg_result sim_cert_load(X509 **out, const char *path)
{
    kg_result rc = KG_ERROR;
    kg_buf raw;
    BIO *bio = NULL;
    kg_buf_init(&raw, SIM_MAX_FILE);
    KG_GUARD_C(kg_file_read(&raw, path, SIM_MAX_FILE));
    bio = BIO_new_mem_buf(raw.data, (int)raw.len);
    KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "BIO_new_mem_buf");
    *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    KG_ENSURE_OSSL_C(*out != NULL, KG_ERR_INPUT, "'%s' is not a PEM certificate", path);
    rc = KG_OK;
cleanup:
    BIO_free(bio);
    kg_buf_free(&raw);
    return rc;
}

kg_result sim_cert_pem(kg_buf *out, X509 *cert)
{
    kg_result rc = KG_ERROR;
    BIO *bio = BIO_new(BIO_s_mem());
    BUF_MEM *mem = NULL;
    KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "BIO_new");
    KG_GUARD_OSSL_C(PEM_write_bio_X509(bio, cert), KG_ERR_CRYPTO, "encoding certificate");
    BIO_get_mem_ptr(bio, &mem);
    KG_GUARD_C(kg_buf_append(out, mem->data, mem->length));
    rc = KG_OK;
cleanup:
    BIO_free(bio);
    return rc;
}

kg_result sim_sign_raw(uint8_t sig[64], EVP_PKEY *key, const void *msg, size_t len)
{
    kg_result rc = KG_ERROR;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t der_len = sizeof(der);
    ECDSA_SIG *es = NULL;
    KG_ENSURE_OSSL_C(md != NULL, KG_ERR_NOMEM, "EVP_MD_CTX_new");
    KG_GUARD_OSSL_C(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), KG_ERR_CRYPTO,
                    "ECDSA sign init");
    KG_GUARD_OSSL_C(EVP_DigestSign(md, der, &der_len, msg, len), KG_ERR_CRYPTO, "ECDSA sign");
    const uint8_t *p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    KG_ENSURE_OSSL_C(es != NULL, KG_ERR_CRYPTO, "decoding ECDSA signature");
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    KG_ENSURE_OSSL_C(BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32,
                     KG_ERR_CRYPTO, "encoding r||s");
    rc = KG_OK;
cleanup:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return rc;
}

kg_result sim_pub_raw(uint8_t out[64], EVP_PKEY *key)
{
    uint8_t pub[65];
    size_t n = 0;
    KG_GUARD_OSSL(
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &n),
        KG_ERR_CRYPTO, "reading public key");
    if (n != 65 || pub[0] != 0x04) {
        /* keys may carry a compressed encoding preference: ask for the point explicitly */
        KG_BAIL(KG_ERR_CRYPTO, "public key is not an uncompressed P-256 point (%zu bytes)", n);
    }
    memcpy(out, pub + 1, 64);
    return KG_OK;
}
