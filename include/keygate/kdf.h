/* kdf.h - the dstack-compatible key derivation of docs/protocol.md sections 5 and 6: app keys from
 * the KMS root keys, the KMS's signatures over them, and the agent's GetKey derivation. */
#ifndef KEYGATE_KDF_H
#define KEYGATE_KDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/crypto.h"
#include "keygate/result.h"
#include "keygate/sizes.h"

/* HKDF-SHA256 salt of every derivation (docs/protocol.md section 5) */
#define KG_KDF_SALT "RATLS"
#define KG_KDF_MAX_CONTEXT_LEN 1024 /* cap on the concatenated HKDF info of one derivation */
#define KG_KDF_MAX_PATH_LEN 512     /* cap on a GetKey path */
#define KG_KDF_MAX_PURPOSE_LEN 512  /* cap on a GetKey purpose */

/* The KMS root secrets. Owned by whoever holds them; wipe with kg_kdf_root_keys_wipe. */
typedef struct kg_root_keys {
    uint8_t ca_scalar[KG_P256_SCALAR_LEN];   /* root CA P-256 private scalar (RCA) */
    uint8_t k256_scalar[KG_K256_SCALAR_LEN]; /* root secp256k1 private scalar (RK) */
} kg_root_keys;

/* Everything GetAppKey releases for one app instance (docs/protocol.md section 5). Secrets and
 * public values side by side in fixed arrays; wipe with kg_kdf_app_keys_wipe. */
typedef struct kg_app_keys {
    uint8_t ca_scalar[KG_P256_SCALAR_LEN];      /* app CA key: HKDF(RCA, app_id||"app-ca") */
    uint8_t ca_pub[KG_P256_PUB_LEN];            /* its public point, 04||X||Y */
    uint8_t disk_key[32];                       /* disk encryption key */
    uint8_t env_key[KG_X25519_LEN];             /* env decryption key (X25519 secret) */
    uint8_t env_pub[KG_X25519_LEN];             /* X25519 public key of env_key */
    uint8_t k256_scalar[KG_K256_SCALAR_LEN];    /* app secp256k1 key: HKDF(RK, app_id||"app-key") */
    uint8_t k256_pub[KG_K256_PUB_LEN];          /* compressed */
    uint8_t k256_signature[KG_K256_RECSIG_LEN]; /* RK's signature over k256_pub, r||s||v */
} kg_app_keys;

/* The public half of an app's keys: a function of (root keys, app id) alone, the same for every
 * release to every instance of the app. Computing it (three public points and a signature) is
 * about a sixth of a release's instructions, so the KMS remembers it (kg_app_public_cache). */
typedef struct kg_app_public {
    uint8_t ca_pub[KG_P256_PUB_LEN];
    uint8_t env_pub[KG_X25519_LEN];
    uint8_t k256_pub[KG_K256_PUB_LEN];
    uint8_t k256_signature[KG_K256_RECSIG_LEN];
} kg_app_public;

/* The agent's GetKey answer (docs/protocol.md section 6). */
typedef struct kg_get_key {
    uint8_t key[KG_K256_SCALAR_LEN];                /* HKDF(app k256 key, path): a secret */
    uint8_t pub[KG_K256_PUB_LEN];                   /* compressed public key of `key` */
    uint8_t signature_chain[2][KG_K256_RECSIG_LEN]; /* [app key over purpose:hex(pub),
                                                       k256_signature] */
} kg_get_key;

void kg_kdf_root_keys_wipe(kg_root_keys *root);
void kg_kdf_app_keys_wipe(kg_app_keys *keys);
void kg_kdf_get_key_wipe(kg_get_key *gk);

/* Checks both root scalars are valid keys (0 < s < n on their curves); KG_ERR_INPUT if not. */
KG_RESULT kg_kdf_root_keys_check(const kg_root_keys *root);

/* Generates fresh root keys from the CSPRNG (a new KMS bootstrap). out is wiped on failure. */
KG_RESULT kg_kdf_root_keys_generate(kg_root_keys *out);

/* Parses root keys from JSON text {"ca_scalar":"<64 hex>","k256_scalar":"<64 hex>"} (other
 * members are ignored; lengths and ranges checked). out is wiped on failure. */
KG_RESULT kg_kdf_root_keys_parse_json(kg_root_keys *out, const char *json, size_t json_len);

/* Derives every app key for (app_id, instance_id); instance_id_len must be 0 or 20. All
 * outputs are written into *out, which is wiped on failure. root is borrowed. */
KG_RESULT kg_kdf_app_keys(kg_app_keys *out, const kg_root_keys *root,
                          const uint8_t app_id[KG_APP_ID_LEN], const uint8_t *instance_id,
                          size_t instance_id_len);

/* kg_kdf_app_keys when the public half is already known for (root, app_id): only the secrets are
 * derived, the public values copied from *known. known must come from kg_kdf_app_public of a
 * full derivation under the same root keys and app id (a wrong one yields keys that do not
 * match their public values). */
KG_RESULT kg_kdf_app_keys_known(kg_app_keys *out, const kg_root_keys *root,
                                const uint8_t app_id[KG_APP_ID_LEN], const uint8_t *instance_id,
                                size_t instance_id_len, const kg_app_public *known);

/* The public half of derived keys. */
void kg_kdf_app_public(kg_app_public *out, const kg_app_keys *keys);

/* A bounded, thread-safe memory of app public halves, keyed by (root k256 public key, app id):
 * `slots` entries, one per slot (a newer app replaces the one in its slot). */
typedef struct kg_app_public_cache kg_app_public_cache;
KG_RESULT kg_app_public_cache_new(kg_app_public_cache **out, size_t slots);
void kg_app_public_cache_free(kg_app_public_cache *c);
/* true and *out filled when (root_pub, app_id) is remembered. */
bool kg_app_public_cache_get(kg_app_public_cache *c, const uint8_t root_pub[KG_K256_PUB_LEN],
                             const uint8_t app_id[KG_APP_ID_LEN], kg_app_public *out);
void kg_app_public_cache_put(kg_app_public_cache *c, const uint8_t root_pub[KG_K256_PUB_LEN],
                             const uint8_t app_id[KG_APP_ID_LEN], const kg_app_public *pub);

/* The generic dstack derivation: scalar = HKDF-SHA256(ikm = root scalar, salt "RATLS", info =
 * contexts concatenated without separators), 32 bytes, required to be a valid P-256 scalar
 * (KG_ERR_CRYPTO in the ~2^-32 case it is not, as dstack). out wiped on failure. */
KG_RESULT kg_kdf_p256_scalar(uint8_t out[KG_P256_SCALAR_LEN],
                             const uint8_t root_scalar[KG_P256_SCALAR_LEN],
                             const void *const *contexts, const size_t *lens, size_t count);

/* dstack's derive_dh_secret: SHA-256 of the 138-byte PKCS#8 DER (docs/protocol.md section 5) of the
 * P-256 key kg_kdf_p256_scalar derives. Used for the disk and env keys. out wiped on failure. */
KG_RESULT kg_kdf_dh_secret(uint8_t out[32], const uint8_t root_scalar[KG_P256_SCALAR_LEN],
                           const void *const *contexts, const size_t *lens, size_t count);

/* RK's recoverable signature over keccak256("dstack-kms-issued:" || app_id || app_k256_pub). */
KG_RESULT kg_kdf_k256_signature(uint8_t sig[KG_K256_RECSIG_LEN],
                                const uint8_t root_k256_scalar[KG_K256_SCALAR_LEN],
                                const uint8_t app_id[KG_APP_ID_LEN],
                                const uint8_t app_k256_pub[KG_K256_PUB_LEN]);

/* Client side: sig is RK's signature (low-S) over this app's public key, RK being the KMS root
 * key root_k256_pub (compressed) the client trusts. KG_ERR_VERIFY if not. */
KG_RESULT kg_kdf_k256_signature_verify(const uint8_t root_k256_pub[KG_K256_PUB_LEN],
                                       const uint8_t app_id[KG_APP_ID_LEN],
                                       const uint8_t app_k256_pub[KG_K256_PUB_LEN],
                                       const uint8_t sig[KG_K256_RECSIG_LEN]);

/* The digests the env public-key signatures sign (GetAppEnvEncryptPubKey, docs/protocol.md section
 * 5): legacy  keccak256("dstack-env-encrypt-pubkey:" || app_id || env_pub) v1
 * keccak256("dstack-env-encrypt-pubkey:" || app_id || u64_be(timestamp) || env_pub) */
void kg_kdf_env_pubkey_digest(uint8_t digest[32], const uint8_t app_id[KG_APP_ID_LEN],
                              const uint8_t env_pub[KG_X25519_LEN]);
void kg_kdf_env_pubkey_digest_v1(uint8_t digest[32], const uint8_t app_id[KG_APP_ID_LEN],
                                 uint64_t timestamp, const uint8_t env_pub[KG_X25519_LEN]);

/* RK's signatures over those digests (r||s||v). */
KG_RESULT kg_kdf_env_pubkey_signature(uint8_t sig[KG_K256_RECSIG_LEN],
                                      const uint8_t root_k256_scalar[KG_K256_SCALAR_LEN],
                                      const uint8_t app_id[KG_APP_ID_LEN],
                                      const uint8_t env_pub[KG_X25519_LEN]);
KG_RESULT kg_kdf_env_pubkey_signature_v1(uint8_t sig[KG_K256_RECSIG_LEN],
                                         const uint8_t root_k256_scalar[KG_K256_SCALAR_LEN],
                                         const uint8_t app_id[KG_APP_ID_LEN], uint64_t timestamp,
                                         const uint8_t env_pub[KG_X25519_LEN]);

/* Client side: checks a signature_v1 over env_pub was made by the KMS root key root_k256_pub
 * (compressed), low-S. KG_ERR_VERIFY if not. */
KG_RESULT kg_kdf_env_pubkey_verify_v1(const uint8_t root_k256_pub[KG_K256_PUB_LEN],
                                      const uint8_t app_id[KG_APP_ID_LEN], uint64_t timestamp,
                                      const uint8_t env_pub[KG_X25519_LEN],
                                      const uint8_t sig[KG_K256_RECSIG_LEN]);

/* The agent's GetKey (docs/protocol.md section 6): key = HKDF(app k256 scalar, salt "RATLS", info =
 * path), pub = its compressed key, signature_chain = [app key's signature over
 * keccak256(purpose || ":" || lowercase hex(pub)), app_k256_signature]. path and purpose are
 * bytes (UTF-8 from the SDK), up to KG_KDF_MAX_PATH_LEN / KG_KDF_MAX_PURPOSE_LEN; path may be
 * empty. out is wiped on failure. */
KG_RESULT kg_kdf_get_key(kg_get_key *out, const uint8_t app_k256_scalar[KG_K256_SCALAR_LEN],
                         const uint8_t app_k256_signature[KG_K256_RECSIG_LEN], const char *path,
                         size_t path_len, const char *purpose, size_t purpose_len);

#endif
