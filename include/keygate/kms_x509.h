/* kms_x509.h - the X.509 operations of keygate-kms and its clients: issue certificates (with the
 * RA-TLS extensions of SPEC.md section 4), PEM in and out. */
#ifndef KEYGATE_KMS_X509_H
#define KEYGATE_KMS_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

#include "keygate/bytes.h"
#include "keygate/ratls.h" /* KG_OID_RATLS_*, kg_ratls_add_ext */
#include "keygate/result.h"

typedef struct kg_kms_cert_spec {
    const char *common_name;
    bool is_ca;        /* basicConstraints CA:TRUE with pathlen:path_len; else CA:FALSE */
    unsigned path_len; /* CAs always carry a path length: 0 (the default) = issues leaves only */
    bool server_auth; /* extendedKeyUsage serverAuth (+ clientAuth when client_auth) */
    bool client_auth;
    long days;             /* validity from one hour ago */
    const char *dns_name;  /* subjectAltName DNS entry, or NULL */
    const char *usage;     /* RA-TLS usage extension value, or NULL */
    const uint8_t *app_id; /* 20 bytes for the RA-TLS app id extension, or NULL */
    const uint8_t *quote;  /* RA-TLS quote extension payload, or NULL */
    size_t quote_len;
    const uint8_t *eventlog; /* RA-TLS event log extension payload (JSON), or NULL */
    size_t eventlog_len;
} kg_kms_cert_spec;

/* Issues a certificate for subject_key signed by issuer_key; issuer NULL = self-signed.
 * Caller X509_free()s *out. */
KG_RESULT kg_kms_x509_issue(X509 **out, EVP_PKEY *subject_key, const kg_kms_cert_spec *spec,
                            EVP_PKEY *issuer_key, X509 *issuer);
KG_RESULT kg_kms_x509_pem(kg_buf *out, X509 *cert);
KG_RESULT kg_kms_x509_from_pem(X509 **out, const char *pem, size_t len);

#endif
