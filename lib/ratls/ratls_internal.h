/* ratls_internal.h - helpers shared inside lib/ratls. */
#ifndef KG_RATLS_INTERNAL_H
#define KG_RATLS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/ratls.h"
#include "keygate/result.h"

/* Builds an RA-TLS certificate for key from given evidence (no TEE call): the worker behind
 * kg_ratls_cert_new, and how tests craft certificates whose evidence does not match. */
kg_result kg_ratls_cert_build(kg_buf *out_der, const kg_p256_key *key,
                              const kg_ratls_cert_opts *opts, const uint8_t *quote,
                              size_t quote_len, const char *eventlog_json, size_t eventlog_len);

/* Fills the quote, event log JSON (the runtime events) and attestation fields of an evidence
 * (already initialised, e.g. by kg_ratls_evidence_init) from a parsed attestation. */
kg_result kg_ratls_evidence_from_attestation(kg_ratls_evidence *out, const kg_ratls_attestation *a);

/* kg_ratls_parse_x509 without the self-issued test and the certificate's own signature
 * (self_issued and self_signature_ok stay false): for a certificate whose every byte its key
 * signed in a completed TLS 1.3 handshake (kg_ratls_verify_handshake_cert), nowhere else. */
kg_result kg_ratls_parse_x509_fields(kg_ratls_evidence *out, struct x509_st *c);

/* Zeroes *ev and initialises its buffers with their caps. */
void kg_ratls_evidence_init(kg_ratls_evidence *ev);

/* Verifies parsed evidence (binding to ev->spki, DCAP, event log, identity) at time `now`: the
 * body of kg_ratls_verify_cert after the certificate-only checks; also how a v2 CSR's embedded
 * attestation is verified. Fills *out (zeroed on failure). */
kg_result kg_ratls_verify_evidence(kg_ratls_identity *out, const kg_ratls_evidence *ev,
                                   const kg_ratls_policy *pol, uint64_t now);

/* Reads exactly one DER OCTET STRING spanning data; borrows the payload. */
kg_result kg_ratls_unwrap_octets(const uint8_t **payload, size_t *payload_len, const uint8_t *data,
                                 size_t len, const char *what);

#endif
