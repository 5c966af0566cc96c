/* cipher.c - X25519 key agreement, AES-256-GCM and the CSPRNG through OpenSSL 3 (see crypto.h). */
#include "keygate/crypto.h"

#include <limits.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

static kg_result x25519_private(EVP_PKEY **out, const uint8_t secret[KG_X25519_LEN])
{
    /* OpenSSL clamps the scalar itself (RFC 7748 section 5), as every X25519 peer does. */
    *out = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, secret, KG_X25519_LEN);
    KG_ENSURE_OSSL(*out != NULL, KG_ERR_CRYPTO, "X25519 private key import");
    return KG_OK;
}

kg_result kg_x25519_public(uint8_t pub[KG_X25519_LEN], const uint8_t secret[KG_X25519_LEN])
{
    EVP_PKEY *pkey = NULL;
    KG_GUARD(x25519_private(&pkey, secret));
    size_t len = KG_X25519_LEN;
    int ok = EVP_PKEY_get_raw_public_key(pkey, pub, &len);
    EVP_PKEY_free(pkey);
    KG_ENSURE_OSSL(ok == 1 && len == KG_X25519_LEN, KG_ERR_CRYPTO, "X25519 public key");
    return KG_OK;
}

kg_result kg_x25519_generate(uint8_t secret[KG_X25519_LEN], uint8_t pub[KG_X25519_LEN])
{
    KG_GUARD(kg_random(secret, KG_X25519_LEN));
    if (kg_failed(kg_x25519_public(pub, secret))) {
        kg_memzero(secret, KG_X25519_LEN);
        return KG_ERROR;
    }
    return KG_OK;
}

kg_result kg_x25519_shared(uint8_t shared[KG_X25519_LEN], const uint8_t secret[KG_X25519_LEN],
                           const uint8_t peer_pub[KG_X25519_LEN])
{
    static const uint8_t zero[KG_X25519_LEN] = {0};
    kg_result rc = KG_ERROR;
    EVP_PKEY *priv = NULL, *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    size_t len = KG_X25519_LEN;

    KG_GUARD_C(x25519_private(&priv, secret));
    peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, KG_X25519_LEN);
    KG_ENSURE_OSSL_C(peer != NULL, KG_ERR_CRYPTO, "X25519 peer key import");
    ctx = EVP_PKEY_CTX_new(priv, NULL);
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "EVP_PKEY_CTX_new");
    KG_GUARD_OSSL_C(EVP_PKEY_derive_init(ctx), KG_ERR_CRYPTO, "X25519 derive init");
    KG_GUARD_OSSL_C(EVP_PKEY_derive_set_peer(ctx, peer), KG_ERR_CRYPTO, "X25519 set peer");
    /* OpenSSL itself refuses an all-zero result (a low-order peer point); report it as such.
     * The explicit check below keeps the guarantee should a provider not. */
    if (EVP_PKEY_derive(ctx, shared, &len) != 1) {
        ERR_clear_error();
        KG_BAIL_C(KG_ERR_VERIFY, "X25519 shared secret is all zero (low-order peer public key)");
    }
    KG_ENSURE_C(len == KG_X25519_LEN, KG_ERR_CRYPTO, "X25519 shared secret length %zu", len);
    KG_ENSURE_C(!kg_ct_equal(shared, zero, KG_X25519_LEN), KG_ERR_VERIFY,
                "X25519 shared secret is all zero (low-order peer public key)");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_memzero(shared, KG_X25519_LEN);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(priv);
    return rc;
}

/* Shared by encrypt and decrypt: a GCM context keyed and IV'd, AAD fed. */
static kg_result gcm_start(EVP_CIPHER_CTX **out, bool encrypt, const uint8_t *key,
                           const uint8_t *iv, const void *aad, size_t aad_len, size_t data_len)
{
    KG_ENSURE(data_len <= KG_AESGCM_MAX_LEN && aad_len <= KG_AESGCM_MAX_LEN, KG_ERR_TOO_LARGE,
              "AES-GCM input of %zu bytes exceeds %u", data_len > aad_len ? data_len : aad_len,
              (unsigned)KG_AESGCM_MAX_LEN);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    KG_ENSURE_OSSL(ctx != NULL, KG_ERR_NOMEM, "EVP_CIPHER_CTX_new");
    int len = 0;
    /* The default GCM IV length is 12 bytes, the only length we use (NIST SP 800-38D). */
    if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, encrypt ? 1 : 0, NULL) != 1 ||
        (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len) != 1)) {
        kg_result r = kg_error_set_ossl(KG_ERR_CRYPTO, __FILE__, __LINE__, "AES-256-GCM init");
        EVP_CIPHER_CTX_free(ctx);
        return r;
    }
    *out = ctx;
    return KG_OK;
}

kg_result kg_aesgcm_encrypt(kg_buf *out, const uint8_t key[KG_AESGCM_KEY_LEN],
                            const uint8_t iv[KG_AESGCM_IV_LEN], const void *aad, size_t aad_len,
                            const void *pt, size_t pt_len)
{
    kg_result rc = KG_ERROR;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t start = out->len;
    int n = 0, fin = 0;

    KG_GUARD(gcm_start(&ctx, true, key, iv, aad, aad_len, pt_len));
    KG_GUARD_C(kg_buf_reserve(out, pt_len + KG_AESGCM_TAG_LEN));
    uint8_t *dst = out->data + start;
    KG_GUARD_OSSL_C(EVP_EncryptUpdate(ctx, dst, &n, pt, (int)pt_len), KG_ERR_CRYPTO,
                    "AES-256-GCM encrypt");
    KG_GUARD_OSSL_C(EVP_EncryptFinal_ex(ctx, dst + n, &fin), KG_ERR_CRYPTO, "AES-256-GCM final");
    KG_ENSURE_C((size_t)n + (size_t)fin == pt_len, KG_ERR_INTERNAL, "AES-GCM length mismatch");
    KG_GUARD_OSSL_C(
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, KG_AESGCM_TAG_LEN, dst + pt_len),
        KG_ERR_CRYPTO, "AES-256-GCM tag");
    out->len = start + pt_len + KG_AESGCM_TAG_LEN;
    rc = KG_OK;
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

kg_result kg_aesgcm_decrypt(kg_buf *out, const uint8_t key[KG_AESGCM_KEY_LEN],
                            const uint8_t iv[KG_AESGCM_IV_LEN], const void *aad, size_t aad_len,
                            const uint8_t *ct_and_tag, size_t ct_len)
{
    kg_result rc = KG_ERROR;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t start = out->len;
    int n = 0, fin = 0;

    KG_ENSURE(ct_len >= KG_AESGCM_TAG_LEN, KG_ERR_TRUNCATED,
              "AES-GCM ciphertext of %zu bytes is shorter than its %d-byte tag", ct_len,
              KG_AESGCM_TAG_LEN);
    size_t body = ct_len - KG_AESGCM_TAG_LEN;
    KG_GUARD(gcm_start(&ctx, false, key, iv, aad, aad_len, body));
    KG_GUARD_C(kg_buf_reserve(out, body));
    /* Plaintext is written into reserved space past out->len and only counted once the tag
     * verifies; on failure it is wiped, so unauthenticated bytes never reach the caller. */
    uint8_t *dst = out->data + start;
    KG_GUARD_OSSL_C(EVP_DecryptUpdate(ctx, dst, &n, ct_and_tag, (int)body), KG_ERR_CRYPTO,
                    "AES-256-GCM decrypt");
    KG_GUARD_OSSL_C(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, KG_AESGCM_TAG_LEN,
                                        (void *)(ct_and_tag + body)),
                    KG_ERR_CRYPTO, "AES-256-GCM set tag");
    if (EVP_DecryptFinal_ex(ctx, dst + n, &fin) != 1) {
        ERR_clear_error();
        KG_BAIL_C(KG_ERR_VERIFY, "AES-256-GCM tag does not verify (wrong key or altered data)");
    }
    KG_ENSURE_C((size_t)n + (size_t)fin == body, KG_ERR_INTERNAL, "AES-GCM length mismatch");
    out->len = start + body;
    rc = KG_OK;
cleanup:
    if (kg_failed(rc) && out->data != NULL)
        kg_memzero(out->data + start, out->cap - start);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

kg_result kg_random(void *out, size_t n)
{
    KG_ENSURE(n <= INT_MAX, KG_ERR_USAGE, "kg_random: %zu bytes is too many at once", n);
    KG_GUARD_OSSL(RAND_bytes(out, (int)n), KG_ERR_CRYPTO, "RAND_bytes");
    return KG_OK;
}
