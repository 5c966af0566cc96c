/* crypto.h - keys and primitives: P-256 (ECDSA, DER forms), X25519, AES-256-GCM, and
 * secp256k1 with recoverable ECDSA. OpenSSL 3 and libsecp256k1 do the work. */
#ifndef KEYGATE_CRYPTO_H
#define KEYGATE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

#define KG_P256_SCALAR_LEN 32
#define KG_P256_PUB_LEN 65        /* uncompressed point 04 || X || Y */
#define KG_P256_SIG_LEN 64        /* raw r || s, as in DCAP quotes and collateral */
#define KG_P256_PKCS8_LEN 138     /* the dstack PKCS#8 form of SPEC.md section 5 */
#define KG_X25519_LEN 32
#define KG_AESGCM_KEY_LEN 32
#define KG_AESGCM_IV_LEN 12
#define KG_AESGCM_TAG_LEN 16
#define KG_K256_SCALAR_LEN 32
#define KG_K256_PUB_LEN 33        /* compressed */
#define KG_K256_PUB_UNCOMPRESSED_LEN 65
#define KG_K256_RECSIG_LEN 65     /* r || s || v, v in {0,1} */
#define KG_ETH_ADDR_LEN 20

/* ---- P-256 ---------------------------------------------------------------------------------
 * A kg_p256_key wraps an OpenSSL EVP_PKEY (opaque). Keys are owned by the caller:
 * kg_p256_free wipes and frees and accepts NULL.
 */
typedef struct kg_p256_key kg_p256_key;

KG_RESULT kg_p256_generate(kg_p256_key **out);
/* Key from a 32-byte big-endian scalar; fails unless 0 < scalar < n. */
KG_RESULT kg_p256_from_scalar(kg_p256_key **out, const uint8_t scalar[KG_P256_SCALAR_LEN]);
/* Public-only key from an uncompressed point (65 bytes) or a raw X||Y (64 bytes). */
KG_RESULT kg_p256_from_public(kg_p256_key **out, const uint8_t *pub, size_t pub_len);
/* Key from a PEM or DER (PKCS#8 / SEC1 / SPKI) encoding. */
KG_RESULT kg_p256_from_pem(kg_p256_key **out, const char *pem, size_t pem_len);
void kg_p256_free(kg_p256_key *key);

KG_RESULT kg_p256_scalar(uint8_t out[KG_P256_SCALAR_LEN], const kg_p256_key *key);
KG_RESULT kg_p256_public(uint8_t out[KG_P256_PUB_LEN], const kg_p256_key *key);
/* The 138-byte PKCS#8 DER of SPEC.md section 5 (no [0] parameters in the inner SEC1 key). */
KG_RESULT kg_p256_pkcs8_dstack(uint8_t out[KG_P256_PKCS8_LEN], const kg_p256_key *key);
/* SubjectPublicKeyInfo DER, appended to out. */
KG_RESULT kg_p256_spki_der(kg_buf *out, const kg_p256_key *key);
/* PEM text (PKCS#8 private key, or SPKI public key), appended to out (NUL-terminated). */
KG_RESULT kg_p256_private_pem(kg_buf *out, const kg_p256_key *key);
KG_RESULT kg_p256_public_pem(kg_buf *out, const kg_p256_key *key);

/* ECDSA-SHA256 over msg; signature as raw r||s (64 bytes). */
KG_RESULT kg_p256_sign(uint8_t sig[KG_P256_SIG_LEN], const kg_p256_key *key, const void *msg,
                       size_t msg_len);
/* Verifies a raw r||s ECDSA-SHA256 signature; KG_ERR_VERIFY if it does not verify. */
KG_RESULT kg_p256_verify(const kg_p256_key *key, const void *msg, size_t msg_len,
                         const uint8_t sig[KG_P256_SIG_LEN]);

/* The underlying EVP_PKEY (borrowed), for code that hands keys to OpenSSL (X.509, TLS). */
struct evp_pkey_st *kg_p256_evp(const kg_p256_key *key);

/* ---- X25519 and AES-256-GCM ---------------------------------------------------------------- */

KG_RESULT kg_x25519_public(uint8_t pub[KG_X25519_LEN], const uint8_t secret[KG_X25519_LEN]);
/* Raw shared secret; fails (KG_ERR_VERIFY) on an all-zero result (low-order peer point). */
KG_RESULT kg_x25519_shared(uint8_t shared[KG_X25519_LEN], const uint8_t secret[KG_X25519_LEN],
                           const uint8_t peer_pub[KG_X25519_LEN]);

/* ct_and_tag = ciphertext || 16-byte tag, appended to out. No AAD when aad_len == 0. */
KG_RESULT kg_aesgcm_encrypt(kg_buf *out, const uint8_t key[KG_AESGCM_KEY_LEN],
                            const uint8_t iv[KG_AESGCM_IV_LEN], const void *aad, size_t aad_len,
                            const void *pt, size_t pt_len);
/* Appends the plaintext to out only if the tag verifies (KG_ERR_VERIFY otherwise). */
KG_RESULT kg_aesgcm_decrypt(kg_buf *out, const uint8_t key[KG_AESGCM_KEY_LEN],
                            const uint8_t iv[KG_AESGCM_IV_LEN], const void *aad, size_t aad_len,
                            const uint8_t *ct_and_tag, size_t ct_len);

KG_RESULT kg_random(void *out, size_t n);

/* ---- secp256k1 (libsecp256k1) --------------------------------------------------------------- */

/* Fails unless 0 < scalar < n. */
KG_RESULT kg_k256_check_scalar(const uint8_t scalar[KG_K256_SCALAR_LEN]);
KG_RESULT kg_k256_generate(uint8_t scalar[KG_K256_SCALAR_LEN]);
KG_RESULT kg_k256_public(uint8_t pub[KG_K256_PUB_LEN], const uint8_t scalar[KG_K256_SCALAR_LEN]);
KG_RESULT kg_k256_public_uncompressed(uint8_t pub[KG_K256_PUB_UNCOMPRESSED_LEN],
                                      const uint8_t scalar[KG_K256_SCALAR_LEN]);
/* Converts a compressed or uncompressed public key to the other forms. */
KG_RESULT kg_k256_pub_decompress(uint8_t out[KG_K256_PUB_UNCOMPRESSED_LEN], const uint8_t *pub,
                                 size_t pub_len);
/* Ethereum address = last 20 bytes of keccak256(X || Y). */
KG_RESULT kg_k256_eth_address(uint8_t addr[KG_ETH_ADDR_LEN], const uint8_t *pub, size_t pub_len);
/* RFC 6979 deterministic, low-S recoverable signature over a 32-byte digest: r||s||v. */
KG_RESULT kg_k256_sign_recoverable(uint8_t sig[KG_K256_RECSIG_LEN],
                                   const uint8_t scalar[KG_K256_SCALAR_LEN],
                                   const uint8_t digest[32]);
/* Recovers the compressed public key that produced sig over digest (v must be 0 or 1). */
KG_RESULT kg_k256_recover(uint8_t pub[KG_K256_PUB_LEN], const uint8_t sig[KG_K256_RECSIG_LEN],
                          const uint8_t digest[32]);

#endif
