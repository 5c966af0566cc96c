/* kdf.c - dstack-compatible derivation of app keys, their signatures and GetKey (see kdf.h). */
#include "keygate/kdf.h"

#include <string.h>

#include <jansson.h>

#include "keygate/bytes.h"
#include "keygate/hash.h"

/* Context labels of docs/protocol.md section 5; changing one byte changes every app's keys. */
static const char CTX_APP_CA[] = "app-ca";
static const char CTX_DISK[] = "app-disk-crypt-key";
static const char CTX_ENV[] = "env-encrypt-key";
static const char CTX_APP_KEY[] = "app-key";
static const char MSG_KMS_ISSUED[] = "dstack-kms-issued:";
static const char MSG_ENV_PUBKEY[] = "dstack-env-encrypt-pubkey:";

#define CTX(s) (s), (sizeof(s) - 1)

void kg_kdf_root_keys_wipe(kg_root_keys *root)
{
    kg_memzero(root, sizeof(*root));
}
void kg_kdf_app_keys_wipe(kg_app_keys *keys)
{
    kg_memzero(keys, sizeof(*keys));
}
void kg_kdf_get_key_wipe(kg_get_key *gk)
{
    kg_memzero(gk, sizeof(*gk));
}

kg_result kg_kdf_root_keys_check(const kg_root_keys *root)
{
    KG_GUARD_CTX(kg_p256_check_scalar(root->ca_scalar), "root CA key");
    KG_GUARD_CTX(kg_k256_check_scalar(root->k256_scalar), "root secp256k1 key");
    return KG_OK;
}

kg_result kg_kdf_root_keys_generate(kg_root_keys *out)
{
    kg_result rc = KG_ERROR;
    kg_p256_key *ca = NULL;
    KG_GUARD_C(kg_p256_generate(&ca));
    KG_GUARD_C(kg_p256_scalar(out->ca_scalar, ca));
    KG_GUARD_C(kg_k256_generate(out->k256_scalar));
    rc = KG_OK;
cleanup:
    kg_p256_free(ca);
    if (kg_failed(rc))
        kg_kdf_root_keys_wipe(out);
    return rc;
}

static kg_result json_scalar(uint8_t out[32], json_t *obj, const char *field)
{
    json_t *v = json_object_get(obj, field);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "root keys: '%s' missing or not a string", field);
    const char *hex = json_string_value(v);
    size_t len = json_string_length(v);
    /* Exactly 64 hex digits (an optional 0x is allowed); the text itself is secret, so the
     * error quotes only its length, never the value. */
    size_t digits = (len >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) ? len - 2 : len;
    KG_ENSURE(digits == 64 && strlen(hex) == len, KG_ERR_INPUT,
              "root keys: '%s' must be 64 hex digits (32 bytes), got %zu characters", field,
              digits);
    KG_GUARD_CTX(kg_hex_decode_exact(out, 32, hex), "root keys: '%s'", field);
    return KG_OK;
}

kg_result kg_kdf_root_keys_parse_json(kg_root_keys *out, const char *json, size_t json_len)
{
    kg_result rc = KG_ERROR;
    json_error_t jerr;
    json_t *root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE_C(root != NULL, KG_ERR_INPUT, "root keys: invalid JSON at line %d: %s", jerr.line,
                jerr.text);
    KG_ENSURE_C(json_is_object(root), KG_ERR_INPUT, "root keys: top level must be an object");
    KG_GUARD_C(json_scalar(out->ca_scalar, root, "ca_scalar"));
    KG_GUARD_C(json_scalar(out->k256_scalar, root, "k256_scalar"));
    KG_GUARD_C(kg_kdf_root_keys_check(out));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_kdf_root_keys_wipe(out);
    /* jansson keeps the hex strings in its own heap blocks; it offers no wipe hook, so the
     * caller should keep the source text short-lived (files are read into a wiped kg_buf). */
    json_decref(root);
    return rc;
}

kg_result kg_kdf_p256_scalar(uint8_t out[KG_P256_SCALAR_LEN],
                             const uint8_t root_scalar[KG_P256_SCALAR_LEN],
                             const void *const *contexts, const size_t *lens, size_t count)
{
    kg_result rc = KG_ERROR;
    kg_buf info;
    kg_buf_init(&info, KG_KDF_MAX_CONTEXT_LEN);
    for (size_t i = 0; i < count; i++)
        KG_GUARD_CTX_C(kg_buf_append(&info, contexts[i], lens[i]), "KDF context");
    KG_GUARD_C(kg_hkdf_sha256(out, KG_P256_SCALAR_LEN, root_scalar, KG_P256_SCALAR_LEN, KG_KDF_SALT,
                              sizeof(KG_KDF_SALT) - 1, info.data, info.len));
    /* dstack builds a p256 SecretKey from these bytes, which fails outside 0 < s < n. */
    if (kg_failed(kg_p256_check_scalar(out)))
        KG_BAIL_C(KG_ERR_CRYPTO, "derived P-256 scalar out of range for this context");
    rc = KG_OK;
cleanup:
    kg_buf_free(&info);
    if (kg_failed(rc))
        kg_memzero(out, KG_P256_SCALAR_LEN);
    return rc;
}

kg_result kg_kdf_dh_secret(uint8_t out[32], const uint8_t root_scalar[KG_P256_SCALAR_LEN],
                           const void *const *contexts, const size_t *lens, size_t count)
{
    kg_result rc = KG_ERROR;
    uint8_t scalar[KG_P256_SCALAR_LEN];
    uint8_t der[KG_P256_PKCS8_LEN];
    KG_GUARD_C(kg_kdf_p256_scalar(scalar, root_scalar, contexts, lens, count));
    KG_GUARD_C(kg_p256_pkcs8_dstack_from_scalar(der, scalar));
    KG_GUARD_C(kg_sha256(out, der, sizeof(der)));
    rc = KG_OK;
cleanup:
    kg_memzero(scalar, sizeof(scalar));
    kg_memzero(der, sizeof(der));
    if (kg_failed(rc))
        kg_memzero(out, 32);
    return rc;
}

/* HKDF of a secp256k1 root into a secp256k1 key (dstack: k256 SigningKey::from_slice). */
static kg_result derive_k256(uint8_t out[KG_K256_SCALAR_LEN], const uint8_t ikm[32],
                             const void *info, size_t info_len)
{
    KG_GUARD(kg_hkdf_sha256(out, KG_K256_SCALAR_LEN, ikm, 32, KG_KDF_SALT, sizeof(KG_KDF_SALT) - 1,
                            info, info_len));
    if (kg_failed(kg_k256_check_scalar(out))) {
        kg_memzero(out, KG_K256_SCALAR_LEN);
        KG_BAIL(KG_ERR_CRYPTO, "derived secp256k1 scalar out of range for this context");
    }
    return KG_OK;
}

/* keccak256 over parts concatenated, fed through one bounded buffer. */
static kg_result keccak_parts(uint8_t digest[32], const void *const *parts, const size_t *lens,
                              size_t count)
{
    kg_buf msg;
    kg_buf_init(&msg, KG_KDF_MAX_CONTEXT_LEN + KG_KDF_MAX_PURPOSE_LEN);
    for (size_t i = 0; i < count; i++) {
        if (kg_failed(kg_buf_append(&msg, parts[i], lens[i]))) {
            kg_buf_free(&msg);
            return kg_error_context("signed message");
        }
    }
    kg_keccak256(digest, msg.data, msg.len);
    kg_buf_free(&msg);
    return KG_OK;
}

/* keccak256("dstack-kms-issued:" || app_id || app_k256_pub): what k256_signature signs. */
static kg_result kms_issued_digest(uint8_t digest[32], const uint8_t app_id[KG_APP_ID_LEN],
                                   const uint8_t app_k256_pub[KG_K256_PUB_LEN])
{
    const void *parts[] = {MSG_KMS_ISSUED, app_id, app_k256_pub};
    const size_t lens[] = {sizeof(MSG_KMS_ISSUED) - 1, KG_APP_ID_LEN, KG_K256_PUB_LEN};
    return keccak_parts(digest, parts, lens, 3);
}

kg_result kg_kdf_k256_signature(uint8_t sig[KG_K256_RECSIG_LEN],
                                const uint8_t root_k256_scalar[KG_K256_SCALAR_LEN],
                                const uint8_t app_id[KG_APP_ID_LEN],
                                const uint8_t app_k256_pub[KG_K256_PUB_LEN])
{
    uint8_t digest[32];
    KG_GUARD(kms_issued_digest(digest, app_id, app_k256_pub));
    return kg_k256_sign_recoverable(sig, root_k256_scalar, digest);
}

kg_result kg_kdf_k256_signature_verify(const uint8_t root_k256_pub[KG_K256_PUB_LEN],
                                       const uint8_t app_id[KG_APP_ID_LEN],
                                       const uint8_t app_k256_pub[KG_K256_PUB_LEN],
                                       const uint8_t sig[KG_K256_RECSIG_LEN])
{
    uint8_t digest[32];
    KG_GUARD(kms_issued_digest(digest, app_id, app_k256_pub));
    KG_GUARD_CTX(kg_k256_verify_recoverable(root_k256_pub, sig, digest),
                 "k256_signature is not the KMS root key's signature over this app's key");
    return KG_OK;
}

void kg_kdf_env_pubkey_digest(uint8_t digest[32], const uint8_t app_id[KG_APP_ID_LEN],
                              const uint8_t env_pub[KG_X25519_LEN])
{
    uint8_t msg[sizeof(MSG_ENV_PUBKEY) - 1 + KG_APP_ID_LEN + KG_X25519_LEN];
    uint8_t *p = msg;
    memcpy(p, MSG_ENV_PUBKEY, sizeof(MSG_ENV_PUBKEY) - 1);
    p += sizeof(MSG_ENV_PUBKEY) - 1;
    memcpy(p, app_id, KG_APP_ID_LEN);
    p += KG_APP_ID_LEN;
    memcpy(p, env_pub, KG_X25519_LEN);
    kg_keccak256(digest, msg, sizeof(msg));
}

void kg_kdf_env_pubkey_digest_v1(uint8_t digest[32], const uint8_t app_id[KG_APP_ID_LEN],
                                 uint64_t timestamp, const uint8_t env_pub[KG_X25519_LEN])
{
    uint8_t msg[sizeof(MSG_ENV_PUBKEY) - 1 + KG_APP_ID_LEN + 8 + KG_X25519_LEN];
    uint8_t *p = msg;
    memcpy(p, MSG_ENV_PUBKEY, sizeof(MSG_ENV_PUBKEY) - 1);
    p += sizeof(MSG_ENV_PUBKEY) - 1;
    memcpy(p, app_id, KG_APP_ID_LEN);
    p += KG_APP_ID_LEN;
    for (int i = 7; i >= 0; i--) /* u64 big-endian */
        *p++ = (uint8_t)(timestamp >> (8 * i));
    memcpy(p, env_pub, KG_X25519_LEN);
    kg_keccak256(digest, msg, sizeof(msg));
}

kg_result kg_kdf_env_pubkey_signature(uint8_t sig[KG_K256_RECSIG_LEN],
                                      const uint8_t root_k256_scalar[KG_K256_SCALAR_LEN],
                                      const uint8_t app_id[KG_APP_ID_LEN],
                                      const uint8_t env_pub[KG_X25519_LEN])
{
    uint8_t digest[32];
    kg_kdf_env_pubkey_digest(digest, app_id, env_pub);
    return kg_k256_sign_recoverable(sig, root_k256_scalar, digest);
}

kg_result kg_kdf_env_pubkey_signature_v1(uint8_t sig[KG_K256_RECSIG_LEN],
                                         const uint8_t root_k256_scalar[KG_K256_SCALAR_LEN],
                                         const uint8_t app_id[KG_APP_ID_LEN], uint64_t timestamp,
                                         const uint8_t env_pub[KG_X25519_LEN])
{
    uint8_t digest[32];
    kg_kdf_env_pubkey_digest_v1(digest, app_id, timestamp, env_pub);
    return kg_k256_sign_recoverable(sig, root_k256_scalar, digest);
}

kg_result kg_kdf_env_pubkey_verify_v1(const uint8_t root_k256_pub[KG_K256_PUB_LEN],
                                      const uint8_t app_id[KG_APP_ID_LEN], uint64_t timestamp,
                                      const uint8_t env_pub[KG_X25519_LEN],
                                      const uint8_t sig[KG_K256_RECSIG_LEN])
{
    uint8_t digest[32];
    kg_kdf_env_pubkey_digest_v1(digest, app_id, timestamp, env_pub);
    KG_GUARD_CTX(kg_k256_verify_recoverable(root_k256_pub, sig, digest),
                 "env public key signature");
    return KG_OK;
}

kg_result kg_kdf_app_keys_known(kg_app_keys *out, const kg_root_keys *root,
                                const uint8_t app_id[KG_APP_ID_LEN], const uint8_t *instance_id,
                                size_t instance_id_len, const kg_app_public *known)
{
    kg_result rc = KG_ERROR;
    kg_p256_key *ca = NULL;
    uint8_t info[KG_APP_ID_LEN + sizeof(CTX_APP_KEY)];

    kg_kdf_app_keys_wipe(out);
    KG_ENSURE_C(instance_id_len == 0 || instance_id_len == KG_INSTANCE_ID_LEN, KG_ERR_INPUT,
                "instance_id must be empty or %d bytes, got %zu", KG_INSTANCE_ID_LEN,
                instance_id_len);
    KG_ENSURE_C(instance_id_len == 0 || instance_id != NULL, KG_ERR_USAGE, "instance_id is NULL");

    {
        const void *parts[] = {app_id, CTX_APP_CA};
        const size_t lens[] = {KG_APP_ID_LEN, sizeof(CTX_APP_CA) - 1};
        KG_GUARD_CTX_C(kg_kdf_p256_scalar(out->ca_scalar, root->ca_scalar, parts, lens, 2),
                       "app CA key");
        if (known == NULL) {
            KG_GUARD_C(kg_p256_from_scalar(&ca, out->ca_scalar));
            KG_GUARD_C(kg_p256_public(out->ca_pub, ca));
        }
    }
    {
        /* An empty instance_id contributes nothing, as in dstack. */
        const void *parts[] = {app_id, instance_id, CTX_DISK};
        const size_t lens[] = {KG_APP_ID_LEN, instance_id_len, sizeof(CTX_DISK) - 1};
        KG_GUARD_CTX_C(kg_kdf_dh_secret(out->disk_key, root->ca_scalar, parts, lens, 3),
                       "disk key");
    }
    {
        const void *parts[] = {app_id, CTX_ENV};
        const size_t lens[] = {KG_APP_ID_LEN, sizeof(CTX_ENV) - 1};
        KG_GUARD_CTX_C(kg_kdf_dh_secret(out->env_key, root->ca_scalar, parts, lens, 2), "env key");
        if (known == NULL)
            KG_GUARD_C(kg_x25519_public(out->env_pub, out->env_key));
    }
    memcpy(info, app_id, KG_APP_ID_LEN);
    memcpy(info + KG_APP_ID_LEN, CTX(CTX_APP_KEY));
    KG_GUARD_CTX_C(derive_k256(out->k256_scalar, root->k256_scalar, info,
                               KG_APP_ID_LEN + sizeof(CTX_APP_KEY) - 1),
                   "app secp256k1 key");
    if (known == NULL) {
        KG_GUARD_C(kg_k256_public(out->k256_pub, out->k256_scalar));
        KG_GUARD_CTX_C(
            kg_kdf_k256_signature(out->k256_signature, root->k256_scalar, app_id, out->k256_pub),
            "k256_signature");
    } else {
        memcpy(out->ca_pub, known->ca_pub, sizeof(out->ca_pub));
        memcpy(out->env_pub, known->env_pub, sizeof(out->env_pub));
        memcpy(out->k256_pub, known->k256_pub, sizeof(out->k256_pub));
        memcpy(out->k256_signature, known->k256_signature, sizeof(out->k256_signature));
    }
    rc = KG_OK;
cleanup:
    kg_p256_free(ca);
    if (kg_failed(rc))
        kg_kdf_app_keys_wipe(out);
    return rc;
}

kg_result kg_kdf_app_keys(kg_app_keys *out, const kg_root_keys *root,
                          const uint8_t app_id[KG_APP_ID_LEN], const uint8_t *instance_id,
                          size_t instance_id_len)
{
    return kg_kdf_app_keys_known(out, root, app_id, instance_id, instance_id_len, NULL);
}

void kg_kdf_app_public(kg_app_public *out, const kg_app_keys *keys)
{
    memcpy(out->ca_pub, keys->ca_pub, sizeof(out->ca_pub));
    memcpy(out->env_pub, keys->env_pub, sizeof(out->env_pub));
    memcpy(out->k256_pub, keys->k256_pub, sizeof(out->k256_pub));
    memcpy(out->k256_signature, keys->k256_signature, sizeof(out->k256_signature));
}

kg_result kg_kdf_get_key(kg_get_key *out, const uint8_t app_k256_scalar[KG_K256_SCALAR_LEN],
                         const uint8_t app_k256_signature[KG_K256_RECSIG_LEN], const char *path,
                         size_t path_len, const char *purpose, size_t purpose_len)
{
    kg_result rc = KG_ERROR;
    char pub_hex[2 * KG_K256_PUB_LEN + 1];
    uint8_t digest[32];

    kg_kdf_get_key_wipe(out);
    KG_ENSURE_C(path_len <= KG_KDF_MAX_PATH_LEN, KG_ERR_TOO_LARGE,
                "GetKey path of %zu bytes exceeds %d", path_len, KG_KDF_MAX_PATH_LEN);
    KG_ENSURE_C(purpose_len <= KG_KDF_MAX_PURPOSE_LEN, KG_ERR_TOO_LARGE,
                "GetKey purpose of %zu bytes exceeds %d", purpose_len, KG_KDF_MAX_PURPOSE_LEN);
    KG_ENSURE_C((path_len == 0 || path != NULL) && (purpose_len == 0 || purpose != NULL),
                KG_ERR_USAGE, "GetKey path or purpose is NULL");
    KG_GUARD_CTX_C(derive_k256(out->key, app_k256_scalar, path, path_len), "GetKey");
    KG_GUARD_C(kg_k256_public(out->pub, out->key));
    KG_GUARD_C(kg_hex_encode(pub_hex, sizeof(pub_hex), out->pub, KG_K256_PUB_LEN));
    {
        const void *parts[] = {purpose, ":", pub_hex};
        const size_t lens[] = {purpose_len, 1, 2 * KG_K256_PUB_LEN};
        KG_GUARD_C(keccak_parts(digest, parts, lens, 3));
    }
    KG_GUARD_CTX_C(kg_k256_sign_recoverable(out->signature_chain[0], app_k256_scalar, digest),
                   "GetKey signature");
    memcpy(out->signature_chain[1], app_k256_signature, KG_K256_RECSIG_LEN);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_kdf_get_key_wipe(out);
    return rc;
}
