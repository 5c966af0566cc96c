/* crypto.h - keys and primitives: P-256 (ECDSA, DER forms), X25519, AES-256-GCM, and
 * secp256k1 with recoverable ECDSA. OpenSSL 3 and libsecp256k1 do the work. */
#ifndef KEYGATE_CRYPTO_H
#define KEYGATE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"
#include "keygate/sizes.h"

#define KG_P256_SCALAR_LEN 32
#define KG_P256_PUB_LEN 65    /* uncompressed point 04 || X || Y */
#define KG_P256_SIG_LEN 64    /* raw r || s, as in DCAP quotes and collateral */
#define KG_P256_PKCS8_LEN 138 /* the dstack PKCS#8 form of docs/protocol.md section 5 */
#define KG_X25519_LEN 32
#define KG_AESGCM_KEY_LEN 32
#define KG_AESGCM_IV_LEN 12
#define KG_AESGCM_TAG_LEN 16
#define KG_K256_SCALAR_LEN 32
#define KG_K256_PUB_LEN 33 /* compressed */
#define KG_K256_PUB_UNCOMPRESSED_LEN 65
#define KG_K256_RECSIG_LEN 65         /* r || s || v, v in {0,1} */
#define KG_P256_MAX_ENCODED_LEN 16384 /* cap on a PEM/DER key text given to kg_p256_from_pem */
#define KG_AESGCM_MAX_LEN (64u << 20) /* cap on one AES-GCM message (and its AAD) */

/* ---- P-256 ---------------------------------------------------------------------------------
 * A kg_p256_key wraps an OpenSSL EVP_PKEY (opaque). Every constructor sets *out to NULL first
 * and, on success, hands the caller a key it owns: kg_p256_free wipes and frees, accepts NULL.
 * Errors: KG_ERR_INPUT for bad input (out-of-range scalar, point not on the curve, wrong
 * length, undecodable PEM/DER), KG_ERR_USAGE for asking a public-only key for private parts.
 */
typedef struct kg_p256_key kg_p256_key;

KG_RESULT kg_p256_generate(kg_p256_key **out);
/* KG_ERR_INPUT "P-256 scalar out of range" unless 0 < scalar < n (constant time, no key made). */
KG_RESULT kg_p256_check_scalar(const uint8_t scalar[KG_P256_SCALAR_LEN]);
/* Key from a 32-byte big-endian scalar; fails unless 0 < scalar < n. */
KG_RESULT kg_p256_from_scalar(kg_p256_key **out, const uint8_t scalar[KG_P256_SCALAR_LEN]);
/* Public-only key from an uncompressed point (65 bytes) or a raw X||Y (64 bytes). */
KG_RESULT kg_p256_from_public(kg_p256_key **out, const uint8_t *pub, size_t pub_len);
/* Key from a PEM or DER (PKCS#8 / SEC1 / SPKI) encoding of at most KG_P256_MAX_ENCODED_LEN
 * bytes; pem need not be NUL-terminated. Non-EC keys, other curves, and anything but
 * whitespace after the one key (a second key, trailing bytes) are rejected (KG_ERR_INPUT). */
KG_RESULT kg_p256_from_pem(kg_p256_key **out, const char *pem, size_t pem_len);
void kg_p256_free(kg_p256_key *key);
/* Whether the key carries a private scalar (false for keys from a point or an SPKI). */
bool kg_p256_has_private(const kg_p256_key *key);

/* Exports into caller-provided arrays; the key stays borrowed. The scalar is a secret: wipe it. */
KG_RESULT kg_p256_scalar(uint8_t out[KG_P256_SCALAR_LEN], const kg_p256_key *key);
KG_RESULT kg_p256_public(uint8_t out[KG_P256_PUB_LEN], const kg_p256_key *key);
/* The 138-byte PKCS#8 DER of docs/protocol.md section 5 (no [0] parameters in the inner SEC1
 * key). */
KG_RESULT kg_p256_pkcs8_dstack(uint8_t out[KG_P256_PKCS8_LEN], const kg_p256_key *key);
/* The same bytes straight from a scalar (0 < scalar < n), without building a key object: the
 * derivations that only hash this form (disk and env keys) take this path. out is a secret. */
KG_RESULT kg_p256_pkcs8_dstack_from_scalar(uint8_t out[KG_P256_PKCS8_LEN],
                                           const uint8_t scalar[KG_P256_SCALAR_LEN]);
/* SubjectPublicKeyInfo DER, appended to out. */
KG_RESULT kg_p256_spki_der(kg_buf *out, const kg_p256_key *key);
/* PEM text (PKCS#8 private key, or SPKI public key), appended to out (NUL-terminated). */
KG_RESULT kg_p256_private_pem(kg_buf *out, const kg_p256_key *key);
KG_RESULT kg_p256_public_pem(kg_buf *out, const kg_p256_key *key);

/* ECDSA-SHA256 over msg (randomized nonces from OpenSSL); signature as raw r||s (64 bytes). */
KG_RESULT kg_p256_sign(uint8_t sig[KG_P256_SIG_LEN], const kg_p256_key *key, const void *msg,
                       size_t msg_len);
/* Verifies a raw r||s ECDSA-SHA256 signature; KG_ERR_VERIFY if it does not verify. */
KG_RESULT kg_p256_verify(const kg_p256_key *key, const void *msg, size_t msg_len,
                         const uint8_t sig[KG_P256_SIG_LEN]);

/* The underlying EVP_PKEY (borrowed), for code that hands keys to OpenSSL (X.509, TLS). */
struct evp_pkey_st *kg_p256_evp(const kg_p256_key *key);

/* ---- X25519 and AES-256-GCM ---------------------------------------------------------------- */

/* X25519 (RFC 7748): secrets are any 32 bytes (clamped inside), outputs written to the
 * caller's arrays. */
KG_RESULT kg_x25519_public(uint8_t pub[KG_X25519_LEN], const uint8_t secret[KG_X25519_LEN]);
/* A fresh random secret and its public key; the caller wipes the secret. */
KG_RESULT kg_x25519_generate(uint8_t secret[KG_X25519_LEN], uint8_t pub[KG_X25519_LEN]);
/* Raw shared secret; fails (KG_ERR_VERIFY) on an all-zero result (low-order peer point). */
KG_RESULT kg_x25519_shared(uint8_t shared[KG_X25519_LEN], const uint8_t secret[KG_X25519_LEN],
                           const uint8_t peer_pub[KG_X25519_LEN]);

/* AES-256-GCM with a 12-byte IV, lengths up to KG_AESGCM_MAX_LEN.
 * ct_and_tag = ciphertext || 16-byte tag, appended to out. No AAD when aad_len == 0. */
KG_RESULT kg_aesgcm_encrypt(kg_buf *out, const uint8_t key[KG_AESGCM_KEY_LEN],
                            const uint8_t iv[KG_AESGCM_IV_LEN], const void *aad, size_t aad_len,
                            const void *pt, size_t pt_len);
/* Appends the plaintext to out only if the tag verifies (KG_ERR_VERIFY otherwise; the bytes
 * past out->len are wiped then). KG_ERR_TRUNCATED if ct_len < 16. */
KG_RESULT kg_aesgcm_decrypt(kg_buf *out, const uint8_t key[KG_AESGCM_KEY_LEN],
                            const uint8_t iv[KG_AESGCM_IV_LEN], const void *aad, size_t aad_len,
                            const uint8_t *ct_and_tag, size_t ct_len);

/* n bytes from OpenSSL's CSPRNG (n <= INT_MAX). */
KG_RESULT kg_random(void *out, size_t n);

/* ---- secp256k1 (libsecp256k1) --------------------------------------------------------------- */

/* Scalars are 32-byte big-endian secrets owned by the caller; every function taking one fails
 * with KG_ERR_INPUT "secp256k1 scalar out of range" unless 0 < scalar < n. */
KG_RESULT kg_k256_check_scalar(const uint8_t scalar[KG_K256_SCALAR_LEN]);
KG_RESULT kg_k256_generate(uint8_t scalar[KG_K256_SCALAR_LEN]);
KG_RESULT kg_k256_public(uint8_t pub[KG_K256_PUB_LEN], const uint8_t scalar[KG_K256_SCALAR_LEN]);
KG_RESULT kg_k256_public_uncompressed(uint8_t pub[KG_K256_PUB_UNCOMPRESSED_LEN],
                                      const uint8_t scalar[KG_K256_SCALAR_LEN]);
/* Converts a compressed (33) or uncompressed (65) SEC1 public key to the other form;
 * KG_ERR_INPUT for any other length, prefix, or a point not on the curve. */
KG_RESULT kg_k256_pub_compress(uint8_t out[KG_K256_PUB_LEN], const uint8_t *pub, size_t pub_len);
KG_RESULT kg_k256_pub_decompress(uint8_t out[KG_K256_PUB_UNCOMPRESSED_LEN], const uint8_t *pub,
                                 size_t pub_len);
/* Ethereum address = last 20 bytes of keccak256(X || Y). */
KG_RESULT kg_k256_eth_address(uint8_t addr[KG_ETH_ADDRESS_LEN], const uint8_t *pub, size_t pub_len);
/* RFC 6979 deterministic, low-S recoverable signature over a 32-byte digest: r||s||v. */
KG_RESULT kg_k256_sign_recoverable(uint8_t sig[KG_K256_RECSIG_LEN],
                                   const uint8_t scalar[KG_K256_SCALAR_LEN],
                                   const uint8_t digest[32]);
/* Recovers the compressed public key that produced sig over digest. v is the recovery id
 * (0 or 1 except with negligible probability; 0..3 accepted, anything else KG_ERR_INPUT). */
KG_RESULT kg_k256_recover(uint8_t pub[KG_K256_PUB_LEN], const uint8_t sig[KG_K256_RECSIG_LEN],
                          const uint8_t digest[32]);
/* Policy check: sig is low-S and recovers to expected_pub (compressed); KG_ERR_VERIFY if not. */
KG_RESULT kg_k256_verify_recoverable(const uint8_t expected_pub[KG_K256_PUB_LEN],
                                     const uint8_t sig[KG_K256_RECSIG_LEN],
                                     const uint8_t digest[32]);

#endif
