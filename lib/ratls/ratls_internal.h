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

/* Reads exactly one DER OCTET STRING spanning data; borrows the payload. */
kg_result kg_ratls_unwrap_octets(const uint8_t **payload, size_t *payload_len,
                                 const uint8_t *data, size_t len, const char *what);

#endif
