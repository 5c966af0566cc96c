/* envcrypt_fuzz.c - libFuzzer harness for the untrusted env envelope and its JSON plaintext. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/envcrypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The x25519_secret of tests/vectors/env.json, so the published ciphertext seed decrypts and
 * mutations of it reach the AES-GCM and JSON stages. A test key, not a secret. */
static const uint8_t KEY[32] = {
    0x7c, 0x28, 0x2b, 0xf9, 0x4b, 0x35, 0xdc, 0x47, 0x80, 0x1d, 0xc9, 0x53, 0xbf, 0xa0, 0x89, 0x6f,
    0xc2, 0xbd, 0x31, 0x33, 0x81, 0xd3, 0xe8, 0xec, 0xa4, 0xe4, 0x2f, 0x65, 0x36, 0xd2, 0xa9, 0x6f,
};

static void same_lists(const kg_env_list *a, const kg_env_list *b)
{
    if (a->count != b->count)
        abort();
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->vars[i].key, b->vars[i].key) != 0 ||
            strcmp(a->vars[i].value, b->vars[i].value) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_env_list l1, l2;
    kg_buf json;
    kg_env_list_init(&l1);
    kg_env_list_init(&l2);
    kg_buf_init(&json, KG_ENV_MAX_CIPHERTEXT_LEN);

    /* 1. The input as an envelope (what the agent receives). */
    if (kg_ok(kg_env_decrypt_vars(&l1, KEY, data, size))) {
        if (kg_failed(kg_env_verify_names(&l1)))
            kg_error_clear(); /* policy may refuse; only crashes matter here */
    }
    kg_env_list_free(&l1);

    /* 2. The input as decrypted plaintext; whatever parses must survive a serialize/parse
     *    round trip unchanged. */
    if (kg_ok(kg_env_parse(&l1, data, size))) {
        if (kg_failed(kg_env_verify_names(&l1)))
            kg_error_clear(); /* policy may refuse; only crashes matter here */
        if (kg_ok(kg_env_serialize(&json, &l1))) {
            if (kg_failed(kg_env_parse(&l2, json.data, json.len)))
                abort();
            same_lists(&l1, &l2);
        }
    }
    kg_env_list_free(&l1);
    kg_env_list_free(&l2);
    kg_buf_free(&json);
    kg_error_clear();
    return 0;
}
