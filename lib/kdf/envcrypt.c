/* envcrypt.c - the encrypted-environment envelope and its JSON variable list (see envcrypt.h). */
#include "keygate/envcrypt.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void kg_env_list_init(kg_env_list *list)
{
    list->vars = NULL;
    list->count = 0;
    list->cap = 0;
}

static void free_str(char *s)
{
    if (s != NULL) {
        kg_memzero(s, strlen(s));
        free(s);
    }
}

void kg_env_list_free(kg_env_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free_str(list->vars[i].key);
        free_str(list->vars[i].value);
    }
    free(list->vars);
    kg_env_list_init(list);
}

static kg_result dup_str(char **out, const char *s, size_t n, const char *what)
{
    KG_ENSURE(memchr(s, '\0', n) == NULL, KG_ERR_INPUT, "env %s contains a NUL byte", what);
    KG_ENSURE(n < KG_ENV_MAX_PLAINTEXT_LEN, KG_ERR_TOO_LARGE, "env %s of %zu bytes is too long",
              what, n);
    char *p = malloc(n + 1);
    KG_ENSURE(p != NULL, KG_ERR_NOMEM, "out of memory copying env %s", what);
    memcpy(p, s, n);
    p[n] = '\0';
    *out = p;
    return KG_OK;
}

kg_result kg_env_list_add(kg_env_list *list, const char *key, size_t key_len, const char *value,
                          size_t value_len)
{
    KG_ENSURE(list->count < KG_ENV_MAX_VARS, KG_ERR_TOO_LARGE, "env has more than %d variables",
              KG_ENV_MAX_VARS);
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        if (cap > KG_ENV_MAX_VARS)
            cap = KG_ENV_MAX_VARS;
        /* No realloc: the old array holds pointers only, but keep the one growth rule of
         * the codebase (allocate, copy, release) so nothing is left unwiped by accident. */
        kg_env_var *v = calloc(cap, sizeof(*v));
        KG_ENSURE(v != NULL, KG_ERR_NOMEM, "out of memory growing env list");
        if (list->count > 0)
            memcpy(v, list->vars, list->count * sizeof(*v));
        free(list->vars);
        list->vars = v;
        list->cap = cap;
    }
    kg_env_var *var = &list->vars[list->count];
    KG_GUARD(dup_str(&var->key, key, key_len, "key"));
    if (kg_failed(dup_str(&var->value, value, value_len, "value"))) {
        free_str(var->key);
        var->key = NULL;
        return KG_ERROR;
    }
    list->count++;
    return KG_OK;
}

/* X25519 ignores the top bit of a public key and reduces u mod p (RFC 7748 section 5), so
 * without this check 2^255-19+u and u|2^255 open the same envelope: flipping such a bit would
 * leave a ciphertext valid. Every honest sender (dalek, noble, OpenSSL) emits canonical keys:
 * u < p = 2^255 - 19, little-endian, so the top bit is clear. */
static bool x25519_canonical(const uint8_t u[KG_X25519_LEN])
{
    if (u[31] & 0x80)
        return false;
    if (u[31] != 0x7f || u[0] < 0xed)
        return true;
    for (size_t i = 1; i < 31; i++)
        if (u[i] != 0xff)
            return true;
    return false; /* p <= u < 2^255 */
}

kg_result kg_env_decrypt(kg_buf *out, const uint8_t env_key[KG_X25519_LEN], const uint8_t *ct,
                         size_t ct_len)
{
    kg_result rc = KG_ERROR;
    kg_reader r;
    uint8_t eph_pub[KG_ENV_EPH_PUB_LEN];
    uint8_t iv[KG_ENV_IV_LEN];
    uint8_t shared[KG_X25519_LEN];
    const uint8_t *body = NULL;
    size_t body_len = 0;

    /* Layout (docs/protocol.md section 5), read in order:
     *   eph_pub[32] || iv[12] || ciphertext[n] || tag[16]   (n >= 0)                     */
    KG_ENSURE(ct_len <= KG_ENV_MAX_CIPHERTEXT_LEN, KG_ERR_TOO_LARGE,
              "env ciphertext of %zu bytes exceeds %u", ct_len,
              (unsigned)KG_ENV_MAX_CIPHERTEXT_LEN);
    kg_reader_init(&r, ct, ct_len);
    KG_GUARD_CTX_C(kg_reader_read(&r, eph_pub, sizeof(eph_pub), "ephemeral public key"),
                   "env ciphertext");
    KG_GUARD_CTX_C(kg_reader_read(&r, iv, sizeof(iv), "iv"), "env ciphertext");
    KG_ENSURE_C(x25519_canonical(eph_pub), KG_ERR_INPUT,
                "env ciphertext: ephemeral public key is not a canonical X25519 key");
    body_len = kg_reader_remaining(&r);
    if (body_len < KG_AESGCM_TAG_LEN)
        KG_GUARD_CTX_C(kg_reader_skip(&r, KG_AESGCM_TAG_LEN, "tag"), "env ciphertext");
    KG_GUARD_C(kg_reader_ptr(&r, &body, body_len, "ciphertext and tag"));
    KG_GUARD_C(kg_reader_expect_end(&r, "env ciphertext"));

    KG_GUARD_CTX_C(kg_x25519_shared(shared, env_key, eph_pub), "env ciphertext");
    KG_GUARD_CTX_C(kg_aesgcm_decrypt(out, shared, iv, NULL, 0, body, body_len), "env ciphertext");
    rc = KG_OK;
cleanup:
    kg_memzero(shared, sizeof(shared));
    return rc;
}

kg_result kg_env_encrypt(kg_buf *out, const uint8_t env_pub[KG_X25519_LEN], const void *pt,
                         size_t pt_len)
{
    kg_result rc = KG_ERROR;
    uint8_t eph[KG_X25519_LEN], eph_pub[KG_X25519_LEN], shared[KG_X25519_LEN];
    uint8_t iv[KG_ENV_IV_LEN];
    size_t start = out->len;

    KG_ENSURE(pt_len <= KG_ENV_MAX_PLAINTEXT_LEN, KG_ERR_TOO_LARGE,
              "env plaintext of %zu bytes exceeds %u", pt_len, (unsigned)KG_ENV_MAX_PLAINTEXT_LEN);
    KG_GUARD_C(kg_x25519_generate(eph, eph_pub));
    KG_GUARD_CTX_C(kg_x25519_shared(shared, eph, env_pub), "env public key");
    KG_GUARD_C(kg_random(iv, sizeof(iv)));
    KG_GUARD_C(kg_buf_append(out, eph_pub, sizeof(eph_pub)));
    KG_GUARD_C(kg_buf_append(out, iv, sizeof(iv)));
    KG_GUARD_C(kg_aesgcm_encrypt(out, shared, iv, NULL, 0, pt, pt_len));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        out->len = start;
    kg_memzero(eph, sizeof(eph));
    kg_memzero(shared, sizeof(shared));
    return rc;
}

static kg_result parse_var(kg_env_list *out, json_t *el, size_t i)
{
    KG_ENSURE(json_is_object(el), KG_ERR_INPUT, "env[%zu]: not an object", i);
    json_t *k = json_object_get(el, "key");
    json_t *v = json_object_get(el, "value");
    KG_ENSURE(json_is_string(k), KG_ERR_INPUT, "env[%zu]: 'key' missing or not a string", i);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "env[%zu]: 'value' missing or not a string", i);
    KG_GUARD_CTX(kg_env_list_add(out, json_string_value(k), json_string_length(k),
                                 json_string_value(v), json_string_length(v)),
                 "env[%zu]", i);
    return KG_OK;
}

kg_result kg_env_parse(kg_env_list *out, const void *json, size_t json_len)
{
    kg_result rc = KG_ERROR;
    json_error_t jerr;
    json_t *root = NULL;
    size_t before = out->count;

    KG_ENSURE(json_len <= KG_ENV_MAX_PLAINTEXT_LEN, KG_ERR_TOO_LARGE,
              "env JSON of %zu bytes exceeds %u", json_len, (unsigned)KG_ENV_MAX_PLAINTEXT_LEN);
    /* Without JSON_DISABLE_EOF_CHECK jansson requires the whole input to be one value. */
    root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE_C(root != NULL, KG_ERR_INPUT, "env JSON invalid at line %d column %d: %s", jerr.line,
                jerr.column, jerr.text);
    json_t *arr = root;
    if (json_is_object(root)) {
        arr = json_object_get(root, "env");
        KG_ENSURE_C(arr != NULL, KG_ERR_INPUT, "env JSON: object has no 'env' member");
    }
    KG_ENSURE_C(json_is_array(arr), KG_ERR_INPUT,
                "env JSON: want {\"env\":[...]} or [...], got another type");
    KG_ENSURE_C(json_array_size(arr) <= KG_ENV_MAX_VARS, KG_ERR_TOO_LARGE,
                "env has %zu variables, more than %d", json_array_size(arr), KG_ENV_MAX_VARS);
    for (size_t i = 0; i < json_array_size(arr); i++)
        KG_GUARD_C(parse_var(out, json_array_get(arr, i), i));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        /* Fail as a whole: drop what this call appended. */
        while (out->count > before) {
            out->count--;
            free_str(out->vars[out->count].key);
            free_str(out->vars[out->count].value);
        }
    }
    json_decref(root);
    return rc;
}

kg_result kg_env_decrypt_vars(kg_env_list *out, const uint8_t env_key[KG_X25519_LEN],
                              const uint8_t *ct, size_t ct_len)
{
    kg_buf pt;
    kg_buf_init(&pt, KG_ENV_MAX_PLAINTEXT_LEN);
    kg_result rc = kg_env_decrypt(&pt, env_key, ct, ct_len);
    if (kg_ok(rc))
        rc = kg_env_parse(out, pt.data, pt.len);
    kg_buf_free(&pt); /* wipes the plaintext */
    return rc;
}

kg_result kg_env_serialize(kg_buf *out, const kg_env_list *list)
{
    kg_result rc = KG_ERROR;
    json_t *root = json_object();
    json_t *arr = json_array();
    char *text = NULL;
    KG_ENSURE_C(root != NULL && arr != NULL, KG_ERR_NOMEM, "out of memory building env JSON");
    KG_ENSURE_C(json_object_set(root, "env", arr) == 0, KG_ERR_NOMEM, "env JSON");
    for (size_t i = 0; i < list->count; i++) {
        json_t *el =
            json_pack("{s:s, s:s}", "key", list->vars[i].key, "value", list->vars[i].value);
        KG_ENSURE_C(el != NULL, KG_ERR_INPUT, "env[%zu]: not valid UTF-8", i);
        KG_ENSURE_C(json_array_append_new(arr, el) == 0, KG_ERR_NOMEM, "env JSON");
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    KG_ENSURE_C(text != NULL, KG_ERR_NOMEM, "env JSON encoding");
    KG_GUARD_C(kg_buf_append(out, text, strlen(text)));
    rc = KG_OK;
cleanup:
    free_str(text);
    json_decref(arr);
    json_decref(root);
    return rc;
}

kg_result kg_env_check_name(const char *name)
{
    size_t n = strlen(name);
    KG_ENSURE(n > 0, KG_ERR_INPUT, "env variable name is empty");
    KG_ENSURE(n <= KG_ENV_MAX_NAME_LEN, KG_ERR_INPUT, "env variable name of %zu bytes exceeds %d",
              n, KG_ENV_MAX_NAME_LEN);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        KG_ENSURE(ok, KG_ERR_INPUT,
                  "env variable name '%.64s' is not [A-Za-z_][A-Za-z0-9_]* (byte %zu)", name, i);
    }
    return KG_OK;
}

kg_result kg_env_verify_names(const kg_env_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        KG_GUARD_CTX(kg_env_check_name(list->vars[i].key), "env[%zu]", i);
        /* Quadratic, but bounded by KG_ENV_MAX_VARS and only run once per boot. */
        for (size_t j = 0; j < i; j++)
            KG_ENSURE(strcmp(list->vars[i].key, list->vars[j].key) != 0, KG_ERR_INPUT,
                      "env[%zu]: variable '%s' repeats env[%zu]", i, list->vars[i].key, j);
    }
    return KG_OK;
}
