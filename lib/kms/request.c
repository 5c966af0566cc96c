/* request.c - parsers of the KMS RPC request bodies: untrusted JSON, bounded fields. */
#include "keygate/kms_request.h"

#include <jansson.h>
#include <string.h>

#include "keygate/bytes.h"

static kg_result load_object(json_t **out, const uint8_t *body, size_t len)
{
    *out = NULL;
    KG_ENSURE(len <= KG_KMS_MAX_BODY, KG_ERR_TOO_LARGE, "request body of %zu bytes exceeds %u", len,
              KG_KMS_MAX_BODY);
    if (len == 0) {
        *out = json_object();
        KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
        return KG_OK;
    }
    json_error_t jerr;
    /* JSON_REJECT_DUPLICATES: two values for one field must not let parts of the KMS see
     * different requests. */
    /* JSON_DECODE_ANY: a bare `null` is what dstack's client sends for a method without
     * arguments (serde's unit), and what dstack's server reads as "no fields": the same as {}. */
    json_t *root =
        json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    KG_ENSURE(root != NULL, KG_ERR_INPUT, "request is not valid JSON: %s", jerr.text);
    if (json_is_null(root)) {
        json_decref(root);
        root = json_object();
        KG_ENSURE(root != NULL, KG_ERR_NOMEM, "out of memory");
    }
    if (!json_is_object(root)) {
        json_decref(root);
        KG_BAIL(KG_ERR_INPUT, "request must be a JSON object");
    }
    *out = root;
    return KG_OK;
}

static kg_result get_u32(uint32_t *out, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return KG_OK;
    KG_ENSURE(json_is_integer(v), KG_ERR_INPUT, "'%s' must be an integer", key);
    json_int_t i = json_integer_value(v);
    KG_ENSURE(i >= 0 && i <= (json_int_t)UINT32_MAX, KG_ERR_INPUT, "'%s' is out of range", key);
    *out = (uint32_t)i;
    return KG_OK;
}

/* Hex field decoded into out (at most cap bytes). required: absent is an error. */
static kg_result get_hex(uint8_t *out, size_t cap, size_t *out_len, const json_t *o,
                         const char *key, bool required)
{
    const json_t *v = json_object_get(o, key);
    *out_len = 0;
    if (v == NULL || json_is_null(v)) {
        KG_ENSURE(!required, KG_ERR_INPUT, "missing '%s'", key);
        return KG_OK;
    }
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "'%s' must be a hex string", key);
    size_t n = json_string_length(v);
    KG_ENSURE(n <= 2 * cap + 2, KG_ERR_TOO_LARGE, "'%s' is too long (%zu hex chars, max %zu)", key,
              n, 2 * cap);
    KG_GUARD_CTX(kg_hex_decode(out, cap, out_len, json_string_value(v), n), "'%s'", key);
    return KG_OK;
}

kg_result kg_kms_parse_get_app_key(kg_kms_get_app_key_req *out, const uint8_t *body, size_t len)
{
    memset(out, 0, sizeof(*out));
    json_t *o = NULL;
    KG_GUARD_CTX(load_object(&o, body, len), "GetAppKey");
    kg_result rc = KG_ERROR;
    KG_GUARD_CTX_C(get_u32(&out->api_version, o, "api_version"), "GetAppKey");
    const json_t *vm = json_object_get(o, "vm_config");
    if (vm != NULL && !json_is_null(vm)) {
        KG_ENSURE_C(json_is_string(vm), KG_ERR_INPUT, "GetAppKey: 'vm_config' must be a string");
        size_t n = json_string_length(vm);
        KG_ENSURE_C(n <= KG_KMS_MAX_VM_CONFIG, KG_ERR_TOO_LARGE,
                    "GetAppKey: 'vm_config' is too long (%zu bytes, max %u)", n,
                    KG_KMS_MAX_VM_CONFIG);
        memcpy(out->vm_config, json_string_value(vm), n);
        out->vm_config[n] = 0;
        out->vm_config_len = n;
    }
    rc = KG_OK;
cleanup:
    json_decref(o);
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

kg_result kg_kms_parse_app_id(kg_kms_app_id_req *out, const uint8_t *body, size_t len)
{
    memset(out, 0, sizeof(*out));
    json_t *o = NULL;
    KG_GUARD_CTX(load_object(&o, body, len), "GetAppEnvEncryptPubKey");
    size_t n = 0;
    uint8_t tmp[21];
    kg_result rc = get_hex(tmp, sizeof(tmp), &n, o, "app_id", true);
    json_decref(o);
    KG_GUARD_CTX(rc, "GetAppEnvEncryptPubKey");
    KG_ENSURE(n == 20, KG_ERR_INPUT, "GetAppEnvEncryptPubKey: 'app_id' must be 20 bytes, got %zu",
              n);
    memcpy(out->app_id, tmp, 20);
    return KG_OK;
}

kg_result kg_kms_parse_sign_cert(kg_kms_sign_cert_req *out, const uint8_t *body, size_t len)
{
    memset(out, 0, sizeof(*out));
    json_t *o = NULL;
    KG_GUARD_CTX(load_object(&o, body, len), "SignCert");
    kg_result rc = KG_ERROR;
    KG_GUARD_CTX_C(get_u32(&out->api_version, o, "api_version"), "SignCert");
    KG_GUARD_CTX_C(get_hex(out->csr, sizeof(out->csr), &out->csr_len, o, "csr", true), "SignCert");
    KG_ENSURE_C(out->csr_len > 0, KG_ERR_INPUT, "SignCert: 'csr' is empty");
    KG_GUARD_CTX_C(
        get_hex(out->signature, sizeof(out->signature), &out->signature_len, o, "signature", false),
        "SignCert");
    KG_ENSURE_C(out->api_version != 2 || out->signature_len > 0, KG_ERR_INPUT,
                "SignCert: api_version 2 needs a 'signature' over the CSR");
    const json_t *vm = json_object_get(o, "vm_config");
    KG_ENSURE_C(vm == NULL || json_is_null(vm) || json_is_string(vm), KG_ERR_INPUT,
                "SignCert: 'vm_config' must be a string");
    rc = KG_OK;
cleanup:
    json_decref(o);
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}
