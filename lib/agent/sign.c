/* sign.c - the agent's key derivation and signatures: GetKey (docs/protocol.md section 6), Sign and
 * Verify with secp256k1, pre-hashed secp256k1 and Ed25519, as dstack's guest agent does them. */
#include "sign.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <secp256k1.h>

#include "keygate/hash.h"
#include "keygate/kdf.h"

kg_alg kg_alg_parse(const char *name)
{
    /* dstack normalises "k256" to "secp256k1" and treats "" as secp256k1 for GetKey. */
    if (strcmp(name, "secp256k1") == 0 || strcmp(name, "k256") == 0 || name[0] == '\0')
        return KG_ALG_SECP256K1;
    if (strcmp(name, "secp256k1_prehashed") == 0)
        return KG_ALG_SECP256K1_PREHASHED;
    if (strcmp(name, "ed25519") == 0)
        return KG_ALG_ED25519;
    return KG_ALG_UNKNOWN;
}

static kg_result ed25519_public(uint8_t pub[32], const uint8_t seed[32])
{
    kg_result rc = KG_ERROR;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    size_t len = 32;
    KG_ENSURE_OSSL_C(pk != NULL, KG_ERR_CRYPTO, "ed25519 key");
    KG_GUARD_OSSL_C(EVP_PKEY_get_raw_public_key(pk, pub, &len), KG_ERR_CRYPTO,
                    "ed25519 public key");
    KG_ENSURE_C(len == 32, KG_ERR_INTERNAL, "ed25519 public key length %zu", len);
    rc = KG_OK;
cleanup:
    EVP_PKEY_free(pk);
    return rc;
}

kg_result kg_agent_get_key(uint8_t key[32], uint8_t *pub, size_t *pub_len,
                           uint8_t sig[KG_K256_RECSIG_LEN],
                           const uint8_t app_k256_key[KG_K256_SCALAR_LEN], const char *path,
                           const char *purpose, const char *algorithm)
{
    kg_result rc = KG_ERROR;
    kg_get_key gk;
    kg_buf msg;
    char pub_hex[2 * 32 + 1];
    uint8_t digest[KG_KECCAK256_LEN];
    static const uint8_t no_sig[KG_K256_RECSIG_LEN];
    kg_alg alg = kg_alg_parse(algorithm);
    memset(&gk, 0, sizeof(gk));
    kg_buf_init(&msg, KG_KDF_MAX_PURPOSE_LEN + sizeof(pub_hex) + 1);
    *pub_len = 0;

    KG_ENSURE_C(alg == KG_ALG_SECP256K1 || alg == KG_ALG_ED25519, KG_ERR_INPUT,
                "unsupported algorithm '%s'", algorithm);
    KG_ENSURE_C(strlen(path) <= KG_KDF_MAX_PATH_LEN && strlen(purpose) <= KG_KDF_MAX_PURPOSE_LEN,
                KG_ERR_TOO_LARGE, "GetKey path or purpose too long");
    if (alg == KG_ALG_SECP256K1) {
        /* The one implementation of docs/protocol.md section 6, shared with the KMS tests. */
        KG_GUARD_C(kg_kdf_get_key(&gk, app_k256_key, no_sig, path, strlen(path), purpose,
                                  strlen(purpose)));
        memcpy(key, gk.key, 32);
        memcpy(pub, gk.pub, KG_K256_PUB_LEN);
        *pub_len = KG_K256_PUB_LEN;
        memcpy(sig, gk.signature_chain[0], KG_K256_RECSIG_LEN);
    } else {
        /* dstack: the same HKDF output, used as an Ed25519 seed; link 0 over its 32-byte key. */
        KG_GUARD_C(kg_hkdf_sha256(key, 32, app_k256_key, KG_K256_SCALAR_LEN, KG_KDF_SALT,
                                  sizeof(KG_KDF_SALT) - 1, path, strlen(path)));
        KG_GUARD_C(ed25519_public(pub, key));
        *pub_len = 32;
        KG_GUARD_C(kg_hex_encode(pub_hex, sizeof(pub_hex), pub, *pub_len));
        KG_GUARD_C(kg_buf_append_str(&msg, purpose));
        KG_GUARD_C(kg_buf_append_u8(&msg, ':'));
        KG_GUARD_C(kg_buf_append_str(&msg, pub_hex));
        kg_keccak256(digest, msg.data, msg.len);
        KG_GUARD_C(kg_k256_sign_recoverable(sig, app_k256_key, digest));
    }
    rc = KG_OK;
cleanup:
    kg_kdf_get_key_wipe(&gk);
    kg_buf_free(&msg);
    if (kg_failed(rc)) {
        kg_memzero(key, 32);
        kg_memzero(sig, KG_K256_RECSIG_LEN);
        *pub_len = 0;
    }
    return rc;
}

static kg_result ed25519_sign(uint8_t sig[64], const uint8_t seed[32], const uint8_t *data,
                              size_t len)
{
    kg_result rc = KG_ERROR;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = 64;
    KG_ENSURE_OSSL_C(pk != NULL && ctx != NULL, KG_ERR_CRYPTO, "ed25519 key");
    KG_GUARD_OSSL_C(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk), KG_ERR_CRYPTO, "ed25519 sign");
    KG_GUARD_OSSL_C(EVP_DigestSign(ctx, sig, &sig_len, data, len), KG_ERR_CRYPTO, "ed25519 sign");
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rc;
}

kg_result kg_agent_sign(uint8_t sig[64], uint8_t *pub, size_t *pub_len, uint8_t link0[65],
                        const uint8_t app_k256_key[KG_K256_SCALAR_LEN], kg_alg alg,
                        const uint8_t *data, size_t len)
{
    kg_result rc = KG_ERROR;
    uint8_t key[32], digest[32], rec[KG_K256_RECSIG_LEN];
    const char *key_alg = alg == KG_ALG_ED25519 ? "ed25519" : "secp256k1";

    KG_ENSURE_C(alg != KG_ALG_UNKNOWN, KG_ERR_INPUT, "unsupported algorithm");
    /* dstack signs with GetKey(path "vms", purpose "signing") so the chain explains the key. */
    KG_GUARD_C(kg_agent_get_key(key, pub, pub_len, link0, app_k256_key, "vms", "signing", key_alg));
    switch (alg) {
    case KG_ALG_SECP256K1:
        KG_GUARD_C(kg_sha256(digest, data, len));
        KG_GUARD_C(kg_k256_sign_recoverable(rec, key, digest));
        memcpy(sig, rec, 64);
        break;
    case KG_ALG_SECP256K1_PREHASHED:
        KG_ENSURE_C(len == 32, KG_ERR_INPUT,
                    "pre-hashed signing requires a 32-byte digest, but received %zu bytes", len);
        KG_GUARD_C(kg_k256_sign_recoverable(rec, key, data));
        memcpy(sig, rec, 64);
        break;
    case KG_ALG_ED25519: KG_GUARD_C(ed25519_sign(sig, key, data, len)); break;
    default: KG_BAIL_C(KG_ERR_INTERNAL, "unreachable algorithm");
    }
    rc = KG_OK;
cleanup:
    kg_memzero(key, sizeof(key));
    kg_memzero(rec, sizeof(rec));
    if (kg_failed(rc))
        kg_memzero(sig, 64);
    return rc;
}

static kg_result ed25519_verify(bool *valid, const uint8_t *data, size_t len, const uint8_t *sig,
                                size_t sig_len, const uint8_t *pub, size_t pub_len)
{
    kg_result rc = KG_ERROR;
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *ctx = NULL;
    KG_ENSURE(pub_len == 32, KG_ERR_INPUT, "invalid ed25519 public key: %zu bytes, want 32",
              pub_len);
    KG_ENSURE(sig_len == 64, KG_ERR_INPUT, "invalid ed25519 signature: %zu bytes, want 64",
              sig_len);
    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, pub_len);
    ctx = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(pk != NULL, KG_ERR_INPUT, "invalid ed25519 public key");
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "ed25519 verify");
    KG_GUARD_OSSL_C(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk), KG_ERR_CRYPTO,
                    "ed25519 verify");
    *valid = EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1;
    ERR_clear_error(); /* a bad signature is an answer, not an error to report later */
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rc;
}

kg_result kg_agent_verify(bool *valid, kg_alg alg, const uint8_t *data, size_t len,
                          const uint8_t *sig, size_t sig_len, const uint8_t *pub, size_t pub_len)
{
    *valid = false;
    if (alg == KG_ALG_ED25519)
        return ed25519_verify(valid, data, len, sig, sig_len, pub, pub_len);
    KG_ENSURE(alg == KG_ALG_SECP256K1 || alg == KG_ALG_SECP256K1_PREHASHED, KG_ERR_INPUT,
              "unsupported algorithm");
    const secp256k1_context *ctx = secp256k1_context_static;
    secp256k1_pubkey pk;
    secp256k1_ecdsa_signature es;
    uint8_t digest[32];
    KG_ENSURE(pub_len == 33 || pub_len == 65, KG_ERR_INPUT,
              "invalid secp256k1 public key: %zu bytes, want 33 or 65", pub_len);
    KG_ENSURE(secp256k1_ec_pubkey_parse(ctx, &pk, pub, pub_len) == 1, KG_ERR_INPUT,
              "invalid secp256k1 public key");
    KG_ENSURE(sig_len == 64, KG_ERR_INPUT, "invalid secp256k1 signature: %zu bytes, want 64",
              sig_len);
    KG_ENSURE(secp256k1_ecdsa_signature_parse_compact(ctx, &es, sig) == 1, KG_ERR_INPUT,
              "invalid secp256k1 signature");
    if (alg == KG_ALG_SECP256K1_PREHASHED) {
        KG_ENSURE(len == 32, KG_ERR_INPUT,
                  "pre-hashed verification requires a 32-byte digest, but received %zu bytes", len);
        memcpy(digest, data, 32);
    } else {
        KG_GUARD(kg_sha256(digest, data, len));
    }
    /* libsecp256k1 rejects high-S signatures here, as dstack's k256 verifier does. */
    *valid = secp256k1_ecdsa_verify(ctx, &es, digest, &pk) == 1;
    return KG_OK;
}
