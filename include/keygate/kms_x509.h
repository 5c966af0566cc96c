/* kms_x509.h - the X.509 operations of keygate-kms and its clients: issue certificates (with the
 * RA-TLS extensions of docs/protocol.md section 4), PEM in and out. */
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
    bool server_auth;  /* extendedKeyUsage serverAuth (+ clientAuth when client_auth) */
    bool client_auth;
    long days;                      /* validity from one hour ago (unless not_after is set) */
    uint64_t not_before, not_after; /* absolute validity (seconds since the epoch); not_after 0
                                       = use days; not_before 0 = one hour ago */
    const char *org_name;           /* subject O=, or NULL */
    const char *dns_name;           /* subjectAltName DNS entry, or NULL */
    /* more subjectAltName entries: a name that parses as an IPv4/IPv6 address is an IP SAN,
     * anything else must be a DNS name (letters, digits, '-', '.', a leading "*." wildcard),
     * else KG_ERR_INPUT naming it */
    const char *const *alt_names;
    size_t n_alt_names;
    const char *usage;     /* RA-TLS usage extension value, or NULL */
    const uint8_t *app_id; /* 20 bytes for the RA-TLS app id extension, or NULL */
    const uint8_t *quote;  /* RA-TLS quote extension payload, or NULL */
    size_t quote_len;
    const uint8_t *eventlog; /* RA-TLS event log extension payload (JSON), or NULL */
    size_t eventlog_len;
    const uint8_t *attestation; /* RA-TLS .8 payload (dstack VersionedAttestation), or NULL */
    size_t attestation_len;
} kg_kms_cert_spec;

#define KG_KMS_MAX_DNS_NAME 253u

/* Whether name is one subjectAltName a certificate may carry: an IP address (*is_ip) or a DNS
 * name as kg_kms_cert_spec.alt_names accepts. */
bool kg_kms_x509_san_ok(const char *name, bool *is_ip);

/* Issues a certificate for subject_key signed by issuer_key; issuer NULL = self-signed.
 * Caller X509_free()s *out. */
KG_RESULT kg_kms_x509_issue(X509 **out, EVP_PKEY *subject_key, const kg_kms_cert_spec *spec,
                            EVP_PKEY *issuer_key, X509 *issuer);
KG_RESULT kg_kms_x509_pem(kg_buf *out, X509 *cert);
KG_RESULT kg_kms_x509_from_pem(X509 **out, const char *pem, size_t len);

#endif
