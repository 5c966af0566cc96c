/* kms_request.h - parsers of the KMS RPC request bodies (docs/protocol.md section 5): pure,
 * bounded, untrusted JSON in, fixed-size fields out. */
#ifndef KEYGATE_KMS_REQUEST_H
#define KEYGATE_KMS_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/result.h"

#define KG_KMS_MAX_BODY (1u << 20)  /* no request body is ever larger */
#define KG_KMS_MAX_VM_CONFIG 16384u /* bytes of vm_config text */
/* bytes of a CSR: a DER PKCS#10 (api_version 1), or a SCALE CertSigningRequestV2 (api_version
 * 2), which embeds the guest's quote and event log: every byte a body can carry as hex */
#define KG_KMS_MAX_CSR (KG_KMS_MAX_BODY / 2u)
#define KG_KMS_MAX_CSR_SIGNATURE 512u /* bytes of the CSR signature */

/* GetAppKey{api_version, vm_config}: both optional; vm_config is bounded and otherwise ignored,
 * never trusted (keygate measures the OS image from the quote, docs/protocol.md section 2). */
typedef struct kg_kms_get_app_key_req {
    uint32_t api_version;
    size_t vm_config_len;
    char vm_config[KG_KMS_MAX_VM_CONFIG + 1];
} kg_kms_get_app_key_req;

/* GetAppEnvEncryptPubKey{app_id}: 20 bytes as hex (optional 0x). */
typedef struct kg_kms_app_id_req {
    uint8_t app_id[20];
} kg_kms_app_id_req;

/* SignCert{api_version, csr, signature, vm_config}: csr as hex, DER PKCS#10 for api_version
 * 0/1 (signature unused), SCALE CertSigningRequestV2 for api_version 2 (signature required: DER
 * ECDSA-P256 over the SCALE bytes by the CSR's key). Large: allocate it. */
typedef struct kg_kms_sign_cert_req {
    uint32_t api_version;
    size_t csr_len;
    uint8_t csr[KG_KMS_MAX_CSR];
    size_t signature_len;
    uint8_t signature[KG_KMS_MAX_CSR_SIGNATURE];
} kg_kms_sign_cert_req;

/* Each parser accepts an empty body and `null` (dstack's client sends `null` for a method
 * without arguments) as {} where every field is optional, rejects anything that
 * is not a JSON object, wrong types and oversized fields with KG_ERR_INPUT / KG_ERR_TOO_LARGE
 * naming the field; unknown fields are ignored (dstack clients add fields over versions).
 * out is zeroed first. */
KG_RESULT kg_kms_parse_get_app_key(kg_kms_get_app_key_req *out, const uint8_t *body, size_t len);
KG_RESULT kg_kms_parse_app_id(kg_kms_app_id_req *out, const uint8_t *body, size_t len);
KG_RESULT kg_kms_parse_sign_cert(kg_kms_sign_cert_req *out, const uint8_t *body, size_t len);

#endif
