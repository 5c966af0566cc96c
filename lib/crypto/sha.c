/* sha.c - SHA-2 digests, HMAC and HKDF through OpenSSL's EVP interfaces (see hash.h). */
#include "keygate/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <pthread.h>

/* The digests and HKDF fetched from the provider once per process. EVP_sha256() and friends
 * return a descriptor that every EVP_DigestInit/EVP_Digest/HMAC call fetches again (a lock and a
 * name lookup in the provider store per hash), and EVP_KDF_fetch per derivation is the same
 * lookup again; a key release hashes a dozen times and derives several keys. */
static pthread_once_t g_fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *g_sha256, *g_sha384, *g_sha512;
static EVP_KDF *g_hkdf;

static void fetch_all(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
    g_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    g_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

/* The fetched descriptor of one of the above, or NULL when the provider lacks it (callers then
 * fail with their own message). */
static const EVP_MD *md_of(EVP_MD **slot)
{
    pthread_once(&g_fetch_once, fetch_all);
    return *slot;
}

static kg_result digest_parts(const EVP_MD *md, uint8_t *out, const void *const *parts,
                              const size_t *lens, size_t count)
{
    kg_result rc = KG_ERROR;
    EVP_MD_CTX *ctx = NULL;
    KG_ENSURE_OSSL(md != NULL, KG_ERR_CRYPTO, "digest unavailable");
    ctx = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "EVP_MD_CTX_new");
    KG_GUARD_OSSL_C(EVP_DigestInit_ex(ctx, md, NULL), KG_ERR_CRYPTO, "digest init");
    for (size_t i = 0; i < count; i++)
        KG_GUARD_OSSL_C(EVP_DigestUpdate(ctx, parts[i], lens[i]), KG_ERR_CRYPTO, "digest update");
    KG_GUARD_OSSL_C(EVP_DigestFinal_ex(ctx, out, NULL), KG_ERR_CRYPTO, "digest final");
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(ctx);
    return rc;
}

kg_result kg_sha256_parts(uint8_t out[KG_SHA256_LEN], const void *const *parts, const size_t *lens,
                          size_t count)
{
    return digest_parts(md_of(&g_sha256), out, parts, lens, count);
}

kg_result kg_sha384_parts(uint8_t out[KG_SHA384_LEN], const void *const *parts, const size_t *lens,
                          size_t count)
{
    return digest_parts(md_of(&g_sha384), out, parts, lens, count);
}

static kg_result digest(const EVP_MD *md, uint8_t *out, const void *data, size_t n)
{
    KG_ENSURE_OSSL(md != NULL, KG_ERR_CRYPTO, "digest unavailable");
    KG_GUARD_OSSL(EVP_Digest(data, n, out, NULL, md, NULL), KG_ERR_CRYPTO, "digest");
    return KG_OK;
}

kg_result kg_sha256(uint8_t out[KG_SHA256_LEN], const void *data, size_t n)
{
    return digest(md_of(&g_sha256), out, data, n);
}

kg_result kg_sha384(uint8_t out[KG_SHA384_LEN], const void *data, size_t n)
{
    return digest(md_of(&g_sha384), out, data, n);
}

kg_result kg_sha512(uint8_t out[KG_SHA512_LEN], const void *data, size_t n)
{
    return digest(md_of(&g_sha512), out, data, n);
}

kg_result kg_hmac_sha256(uint8_t out[KG_SHA256_LEN], const void *key, size_t key_len,
                         const void *data, size_t n)
{
    unsigned int len = 0;
    const EVP_MD *md = md_of(&g_sha256);
    KG_ENSURE_OSSL(md != NULL, KG_ERR_CRYPTO, "HMAC-SHA256: SHA-256 unavailable");
    KG_ENSURE_OSSL(HMAC(md, key, (int)key_len, data, n, out, &len) != NULL && len == KG_SHA256_LEN,
                   KG_ERR_CRYPTO, "HMAC-SHA256");
    return KG_OK;
}

kg_result kg_hkdf_sha256(uint8_t *out, size_t out_len, const void *ikm, size_t ikm_len,
                         const void *salt, size_t salt_len, const void *info, size_t info_len)
{
    kg_result rc = KG_ERROR;
    EVP_KDF_CTX *ctx = NULL;
    KG_ENSURE_C(out_len > 0 && out_len <= 255 * KG_SHA256_LEN, KG_ERR_USAGE,
                "HKDF output length %zu out of range", out_len);
    pthread_once(&g_fetch_once, fetch_all);
    KG_ENSURE_OSSL_C(g_hkdf != NULL, KG_ERR_CRYPTO, "HKDF unavailable");
    ctx = EVP_KDF_CTX_new(g_hkdf);
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "EVP_KDF_CTX_new");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
        OSSL_PARAM_construct_end(),
    };
    KG_ENSURE_OSSL_C(EVP_KDF_derive(ctx, out, out_len, params) > 0, KG_ERR_CRYPTO,
                     "HKDF-SHA256 derive");
    rc = KG_OK;
cleanup:
    EVP_KDF_CTX_free(ctx);
    return rc;
}
