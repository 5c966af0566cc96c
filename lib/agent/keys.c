/* keys.c - the app keys the agent holds: parsed from the KMS's GetAppKey reply (docs/protocol.md
 * section 5), which is also the format of the keys file the boot flow hands to the API server (mode
 * 0600). */
#include "keygate/agent.h"
#include "keygate/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_KEYS_JSON (512u * 1024u) /* keys, the CA and the release's receipt */
#define MAX_PEM (64u * 1024u)

static kg_result hex_field(uint8_t *out, size_t n, json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    KG_ENSURE(s != NULL, KG_ERR_INPUT, "GetAppKey reply: '%s' missing or not a string", name);
    KG_GUARD_CTX(kg_hex_decode_exact(out, n, s), "GetAppKey reply: '%s'", name);
    return KG_OK;
}

static kg_result str_field(char **out, json_t *obj, const char *name, bool required)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL && !required)
        return KG_OK;
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "GetAppKey reply: '%s' missing or not a string",
              name);
    KG_ENSURE(json_string_length(v) <= MAX_PEM &&
                  strlen(json_string_value(v)) == json_string_length(v),
              KG_ERR_INPUT, "GetAppKey reply: '%s' too long or contains NUL", name);
    *out = strdup(json_string_value(v));
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return KG_OK;
}

/* An integer member naming an epoch: 0 .. 2^32-1. */
static kg_result epoch_field(uint32_t *out, json_t *v, const char *what)
{
    KG_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
                  json_integer_value(v) <= (json_int_t)UINT32_MAX,
              KG_ERR_INPUT, "GetAppKey reply: %s is not an epoch number (0 .. 2^32-1)", what);
    *out = (uint32_t)json_integer_value(v);
    return KG_OK;
}

/* "previous_keys": [{"root_epoch": M, "disk_crypt_key", "env_crypt_key", "k256_key",
 * "k256_signature"}, ...] (docs/protocol.md section 5): the app's keys under each retiring epoch.
 * Shape only: each M older than the current epoch and none twice; the signatures are verified
 * against the chain later (kg_agent_epochs_verify). */
static kg_result previous_keys(kg_agent_keys *out, json_t *arr)
{
    KG_ENSURE(json_is_array(arr), KG_ERR_INPUT, "GetAppKey reply: 'previous_keys' is not an array");
    KG_ENSURE(out->has_root_epoch, KG_ERR_INPUT,
              "GetAppKey reply: 'previous_keys' without 'root_epoch' (whose keys are current?)");
    KG_ENSURE(json_array_size(arr) <= KG_AGENT_MAX_PREVIOUS_EPOCHS, KG_ERR_TOO_LARGE,
              "GetAppKey reply: %zu previous epochs, more than %u", json_array_size(arr),
              KG_AGENT_MAX_PREVIOUS_EPOCHS);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        kg_agent_epoch_keys *p = &out->previous[i];
        KG_ENSURE(json_is_object(e), KG_ERR_INPUT,
                  "GetAppKey reply: previous_keys[%zu] is not an object", i);
        KG_GUARD_CTX(epoch_field(&p->root_epoch, json_object_get(e, "root_epoch"), "'root_epoch'"),
                     "previous_keys[%zu]", i);
        KG_ENSURE(p->root_epoch != out->root_epoch, KG_ERR_INPUT,
                  "GetAppKey reply: previous_keys[%zu] is epoch %u, the current epoch itself", i,
                  (unsigned)p->root_epoch);
        KG_ENSURE(p->root_epoch < out->root_epoch, KG_ERR_INPUT,
                  "GetAppKey reply: previous_keys[%zu] is epoch %u, newer than the current epoch "
                  "%u",
                  i, (unsigned)p->root_epoch, (unsigned)out->root_epoch);
        for (size_t j = 0; j < i; j++)
            KG_ENSURE(out->previous[j].root_epoch != p->root_epoch, KG_ERR_INPUT,
                      "GetAppKey reply: previous_keys names epoch %u twice",
                      (unsigned)p->root_epoch);
        KG_GUARD_CTX(hex_field(p->k256_key, sizeof(p->k256_key), e, "k256_key"),
                     "previous_keys[%zu]", i);
        KG_GUARD_CTX(hex_field(p->k256_signature, sizeof(p->k256_signature), e, "k256_signature"),
                     "previous_keys[%zu]", i);
        KG_GUARD_CTX(hex_field(p->disk_key, sizeof(p->disk_key), e, "disk_crypt_key"),
                     "previous_keys[%zu]", i);
        KG_GUARD_CTX(hex_field(p->env_key, sizeof(p->env_key), e, "env_crypt_key"),
                     "previous_keys[%zu]", i);
        KG_GUARD_CTX(kg_k256_check_scalar(p->k256_key), "previous_keys[%zu].k256_key", i);
        out->n_previous = i + 1;
    }
    return KG_OK;
}

/* jansson copied the hex of the keys; wipe its strings before they are freed. */
static void wipe_key_strings(json_t *obj)
{
    const char *names[] = {"k256_key", "disk_crypt_key", "env_crypt_key"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_string(v))
            kg_memzero((void *)json_string_value(v), json_string_length(v));
    }
}

kg_result kg_agent_keys_parse(kg_agent_keys *out, const char *json, size_t len)
{
    kg_result rc = KG_ERROR;
    json_error_t jerr;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    KG_ENSURE(len <= MAX_KEYS_JSON, KG_ERR_TOO_LARGE, "GetAppKey reply is %zu bytes, more than %u",
              len, MAX_KEYS_JSON);
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE(root != NULL, KG_ERR_INPUT, "GetAppKey reply is not JSON: %s", jerr.text);
    if (json_object_get(root, "error") != NULL) {
        const char *why = json_string_value(json_object_get(root, "error"));
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__, "KMS refused: %s",
                           why ? why : "(no reason given)");
        goto cleanup;
    }
    KG_ENSURE_C(json_is_object(root), KG_ERR_INPUT, "GetAppKey reply is not a JSON object");
    KG_GUARD_C(hex_field(out->k256_key, sizeof(out->k256_key), root, "k256_key"));
    KG_GUARD_C(hex_field(out->k256_signature, sizeof(out->k256_signature), root, "k256_signature"));
    KG_GUARD_C(hex_field(out->disk_key, sizeof(out->disk_key), root, "disk_crypt_key"));
    KG_GUARD_C(hex_field(out->env_key, sizeof(out->env_key), root, "env_crypt_key"));
    KG_GUARD_C(kg_k256_check_scalar(out->k256_key));
    KG_GUARD_C(str_field(&out->ca_cert, root, "ca_cert", true));
    KG_GUARD_C(str_field(&out->gateway_app_id, root, "gateway_app_id", false));
    if (json_object_get(root, "app_id") != NULL) {
        KG_GUARD_C(hex_field(out->app_id, sizeof(out->app_id), root, "app_id"));
        out->has_app_id = true;
    }
    json_t *receipt = json_object_get(root, "receipt");
    if (receipt != NULL) {
        KG_ENSURE_C(json_is_object(receipt), KG_ERR_INPUT,
                    "GetAppKey reply: 'receipt' is not an object");
        out->receipt = json_dumps(receipt, JSON_COMPACT | JSON_ENSURE_ASCII);
        KG_ENSURE_C(out->receipt != NULL, KG_ERR_NOMEM, "out of memory");
    }
    json_t *epoch = json_object_get(root, "root_epoch");
    if (epoch != NULL) {
        KG_GUARD_C(epoch_field(&out->root_epoch, epoch, "'root_epoch'"));
        out->has_root_epoch = true;
    }
    json_t *prev = json_object_get(root, "previous_keys");
    if (prev != NULL)
        KG_GUARD_C(previous_keys(out, prev));
    rc = KG_OK;
cleanup:
    if (root != NULL) {
        wipe_key_strings(root);
        json_t *arr = json_object_get(root, "previous_keys");
        for (size_t i = 0; json_is_array(arr) && i < json_array_size(arr); i++)
            wipe_key_strings(json_array_get(arr, i));
        json_decref(root);
    }
    if (kg_failed(rc))
        kg_agent_keys_wipe(out);
    return rc;
}

kg_result kg_agent_keys_load(kg_agent_keys *out, const char *path)
{
    kg_buf b;
    kg_buf_init(&b, MAX_KEYS_JSON);
    memset(out, 0, sizeof(*out));
    /* Keys readable by others are keys already leaked: refuse rather than serve them. */
    kg_result rc = kg_file_read_secret(&b, path, MAX_KEYS_JSON);
    if (kg_ok(rc))
        rc = kg_agent_keys_parse(out, (const char *)b.data, b.len);
    kg_buf_free(&b);
    KG_GUARD_CTX(rc, "keys file '%s'", path);
    return KG_OK;
}

/* Writes data to path atomically with mode 0600 (fileio.h). */
kg_result kg_agent_write_secret_file(const char *path, const void *data, size_t len)
{
    return kg_file_write_atomic(path, data, len, 0600);
}
