/* kms_client.h - RA-TLS client certificates and authenticated JSON calls to the KMS; internal to
 * lib/agent. */
#ifndef KG_AGENT_KMS_CLIENT_H
#define KG_AGENT_KMS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/agent_boot.h"
#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/ratls.h"
#include "keygate/result.h"
#include "keygate/receipt.h"
#include "keygate/tlog.h"

typedef struct kg_agent_kms_endpoint {
    const char *url;           /* https://host:port */
    const kg_kms_trust *trust; /* how the server is authenticated (required); borrowed */
    long timeout_ms;           /* 0 = 30 s */
} kg_agent_kms_endpoint;

/* An RA-TLS client certificate for key, issued by the given CA (the KMS's temporary CA), with
 * the quote and event log (as .1/.2, or as dstack's .8 per `format`), optional app id and usage
 * extensions (docs/protocol.md section 4). PEM appended to cert_pem (NUL-terminated). */
KG_RESULT kg_agent_ratls_client_cert(kg_buf *cert_pem, const kg_p256_key *key,
                                     const char *ca_cert_pem, const char *ca_key_pem,
                                     const uint8_t *quote, size_t quote_len, const char *event_log,
                                     const uint8_t *app_id, const char *usage,
                                     kg_ratls_format format);

/* POST <url>/prpc/<method>?json with body over TLS 1.3, accepting only a server certificate
 * issued directly by the pinned root CA with usage "kms:rpc", attested and allowed by
 * governance when the trust says so (kg_kms_trust); optional client cert and key (PEM).
 * Appends the reply body to *reply (NUL-terminated) and sets *status. Transport failures are
 * KG_ERR_NETWORK; HTTP errors are left to the caller (status and body). */
KG_RESULT kg_agent_kms_call(kg_buf *reply, long *status, const kg_agent_kms_endpoint *ep,
                            const char *method, const char *body, const char *cert_pem,
                            const char *key_pem);

/* The log key (name, pub) a receipt names is bound into that KMS's attestation (docs/design.md,
 * "The log key in the attestation"): GET <url>/log-key from the authenticated KMS names it, and
 * its attestation (quote with REPORTDATA = SHA-512("ratls-cert:" || the key's SPKI), event
 * log) verifies under ep->trust's attestation policy as a KMS governance allows (isKmsAllowed).
 * Needs ep->trust->attestation. KG_ERR_VERIFY names what failed. */
KG_RESULT kg_agent_kms_log_key_check(const kg_agent_kms_endpoint *ep, const char *name,
                                     const uint8_t pub[KG_ED25519_PUB_LEN]);

/* A release's receipt as the KMS sent it (JSON object text, untrusted), checked before what was
 * released is used (docs/design.md, "Receipts"): parsed strictly, verified against the pinned
 * root k256 key (log key certificate, checkpoint signature, inclusion), its entry the release
 * `want` describes, and, when ep->trust checks attestations, the log key bound into the
 * attestation of the KMS at ep->url (kg_agent_kms_log_key_check). KG_ERR_VERIFY (or
 * KG_ERR_INPUT for a malformed receipt) names the failed step. */
KG_RESULT kg_agent_receipt_check(const char *json, size_t len, const kg_log_release_expect *want,
                                 const kg_agent_kms_endpoint *ep);

#endif
