/* envcrypt.h - encrypted app environment (docs/protocol.md section 5): the X25519 + AES-256-GCM
 * envelope, and the JSON list of variables inside it. */
#ifndef KEYGATE_ENVCRYPT_H
#define KEYGATE_ENVCRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/result.h"

/* Envelope: ephemeral X25519 public key (32) || IV (12) || AES-256-GCM ciphertext || tag (16),
 * keyed by the raw X25519 shared secret (no KDF, no AAD). */
#define KG_ENV_EPH_PUB_LEN KG_X25519_LEN
#define KG_ENV_IV_LEN KG_AESGCM_IV_LEN
#define KG_ENV_MIN_CIPHERTEXT_LEN (KG_ENV_EPH_PUB_LEN + KG_ENV_IV_LEN + KG_AESGCM_TAG_LEN)
#define KG_ENV_MAX_CIPHERTEXT_LEN (1u << 20) /* 1 MiB: far above any real app's env */
#define KG_ENV_MAX_PLAINTEXT_LEN (KG_ENV_MAX_CIPHERTEXT_LEN - KG_ENV_MIN_CIPHERTEXT_LEN)
#define KG_ENV_MAX_VARS 4096
#define KG_ENV_MAX_NAME_LEN 256 /* a variable name, for kg_env_check_name */

/* One variable; key and value are owned NUL-terminated strings (JSON forbids no byte but NUL,
 * which is rejected). */
typedef struct kg_env_var {
    char *key;
    char *value;
} kg_env_var;

/* An owned list of variables, in the order they appeared. Init with kg_env_list_init; free
 * with kg_env_list_free, which wipes every key and value (values are secrets). */
typedef struct kg_env_list {
    kg_env_var *vars;
    size_t count;
    size_t cap;
} kg_env_list;

void kg_env_list_init(kg_env_list *list);
void kg_env_list_free(kg_env_list *list);
/* Appends copies of key and value (each of the given length, no NUL inside); KG_ERR_TOO_LARGE
 * past KG_ENV_MAX_VARS. */
KG_RESULT kg_env_list_add(kg_env_list *list, const char *key, size_t key_len, const char *value,
                          size_t value_len);

/* Opens an envelope with the app's env key (X25519 secret, kg_app_keys.env_key) and appends
 * the plaintext bytes to out only if it authenticates. Errors: KG_ERR_TOO_LARGE above
 * KG_ENV_MAX_CIPHERTEXT_LEN; KG_ERR_TRUNCATED naming the missing field ("ephemeral public
 * key", "iv", "tag"); KG_ERR_VERIFY for an all-zero shared secret or a tag that does not
 * verify. ct is borrowed. */
KG_RESULT kg_env_decrypt(kg_buf *out, const uint8_t env_key[KG_X25519_LEN], const uint8_t *ct,
                         size_t ct_len);

/* Seals pt (at most KG_ENV_MAX_PLAINTEXT_LEN bytes) to the app's env public key with a fresh
 * ephemeral key and IV; appends the envelope to out. The ephemeral secret is wiped. */
KG_RESULT kg_env_encrypt(kg_buf *out, const uint8_t env_pub[KG_X25519_LEN], const void *pt,
                         size_t pt_len);

/* Parses decrypted plaintext JSON into out (which must be initialised; appended to):
 * {"env":[{"key":K,"value":V},...]} (current clients; other top-level members are ignored as
 * dstack does) or the legacy bare array [{"key":K,"value":V},...]. Keys and values must be
 * strings; names are NOT validated here (the published vector has key ""): use
 * kg_env_verify_names before exporting them as environment variables. Duplicate JSON object
 * members are rejected. KG_ERR_INPUT with the element index on any shape error. */
KG_RESULT kg_env_parse(kg_env_list *out, const void *json, size_t json_len);

/* kg_env_decrypt then kg_env_parse; the plaintext is wiped before returning. */
KG_RESULT kg_env_decrypt_vars(kg_env_list *out, const uint8_t env_key[KG_X25519_LEN],
                              const uint8_t *ct, size_t ct_len);

/* Serializes as {"env":[{"key":K,"value":V},...]} (compact), appended to out. */
KG_RESULT kg_env_serialize(kg_buf *out, const kg_env_list *list);

/* A name usable as an environment variable: [A-Za-z_][A-Za-z0-9_]*, 1..KG_ENV_MAX_NAME_LEN. */
KG_RESULT kg_env_check_name(const char *name);
/* Policy before export: every name passes kg_env_check_name and none repeats. */
KG_RESULT kg_env_verify_names(const kg_env_list *list);

#endif
