/* kms_request_fuzz.c - libFuzzer harness for the KMS RPC request parsers (kms_request.h): the
 * first byte picks the parser, the rest is the untrusted body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/kms_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        kg_kms_get_app_key_req *r = malloc(sizeof(*r));
        if (r && kg_ok(kg_kms_parse_get_app_key(r, body, len)) &&
            (r->vm_config_len > KG_KMS_MAX_VM_CONFIG || r->vm_config[r->vm_config_len] != 0))
            abort();
        free(r);
        break;
    }
    case 1: {
        kg_kms_app_id_req r;
        if (kg_failed(kg_kms_parse_app_id(&r, body, len)))
            kg_error_clear();
        break;
    }
    default: {
        kg_kms_sign_cert_req *r = malloc(sizeof(*r));
        if (r && kg_ok(kg_kms_parse_sign_cert(r, body, len)) &&
            (r->csr_len == 0 || r->csr_len > KG_KMS_MAX_CSR ||
             r->signature_len > KG_KMS_MAX_CSR_SIGNATURE))
            abort();
        free(r);
        break;
    }
    }
    return 0;
}
