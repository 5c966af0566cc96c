/* kms_request_fuzz.c - libFuzzer harness for the KMS RPC request parsers (kms_request.h): the
 * first byte picks the parser, the rest is the untrusted body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/kms_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The request structs hold their largest fields inline (a SignCert request is over 512 KB), so
 * they are allocated once: a fresh large allocation per input (ASan maps and unmaps each one) took
 * most of this harness's time, ~800 executions per CPU second. */
static kg_kms_get_app_key_req *app_key_req;
static kg_kms_sign_cert_req *sign_cert_req;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!app_key_req) {
        app_key_req = malloc(sizeof(*app_key_req));
        sign_cert_req = malloc(sizeof(*sign_cert_req));
        if (!app_key_req || !sign_cert_req)
            abort();
    }
    if (size == 0)
        return 0;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        kg_kms_get_app_key_req *r = app_key_req;
        if (kg_ok(kg_kms_parse_get_app_key(r, body, len)) &&
            (r->vm_config_len > KG_KMS_MAX_VM_CONFIG || r->vm_config[r->vm_config_len] != 0))
            abort();
        kg_error_clear();
        break;
    }
    case 1: {
        kg_kms_app_id_req r;
        if (kg_failed(kg_kms_parse_app_id(&r, body, len)))
            kg_error_clear();
        break;
    }
    default: {
        kg_kms_sign_cert_req *r = sign_cert_req;
        if (kg_ok(kg_kms_parse_sign_cert(r, body, len)) &&
            (r->csr_len == 0 || r->csr_len > KG_KMS_MAX_CSR ||
             r->signature_len > KG_KMS_MAX_CSR_SIGNATURE))
            abort();
        kg_error_clear();
        break;
    }
    }
    return 0;
}
