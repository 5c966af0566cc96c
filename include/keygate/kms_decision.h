/* kms_decision.h - the KMS's key-release decision as one module: attestation -> this KMS's own
 * standing -> governance -> durable record, before anything is released (docs/design.md, "The
 * decision path"). The parts that touch the world (attestation with its collateral, the chain,
 * the record store, the self-check, the clock) come in through a table of functions, so tests
 * replace them with in-process fakes, as SQLite's VFS lets its tests inject faults.
 *
 * Outcomes, as the error code of a failed decision (kg_err_http_status maps them):
 *   KG_ERR_DENIED       attestation or governance said no: final (HTTP 403)
 *   KG_ERR_UNAVAILABLE  no decision could be made: the chain, the PCCS or the record store is
 *                       down, or this KMS may not serve now; another KMS may answer (HTTP 503)
 *   KG_ERR_INPUT        the request itself is malformed (HTTP 400)
 * Every outcome, refusals and outages included, is recorded (or the error says it could not
 * be). */
#ifndef KEYGATE_KMS_DECISION_H
#define KEYGATE_KMS_DECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/identity.h"
#include "keygate/ratls.h"
#include "keygate/result.h"

#define KG_KMS_MAX_REASON 900u    /* a decision's reason, as recorded and answered */
#define KG_KMS_MAX_GATEWAY_ID 64u /* gateway app id, incl. NUL */
#define KG_KMS_BLOCK_HASH_LEN 67u /* "0x" + 64 hex + NUL */

/* Who is asking: an app for its keys, or a KMS node for the root keys (replication). */
typedef enum kg_kms_caller {
    KG_KMS_CALLER_APP = 1, /* isAppAllowed */
    KG_KMS_CALLER_KMS,     /* isKmsAllowed, and the caller must have measured a KMS identity */
} kg_kms_caller;

/* Governance's answer for one identity, at one block. */
typedef struct kg_kms_verdict {
    bool allowed;
    char reason[KG_KMS_MAX_REASON];
    int64_t block_number;                       /* -1: no block (webhook backend) */
    char block_hash[KG_KMS_BLOCK_HASH_LEN];     /* "" when none */
    char gateway_app_id[KG_KMS_MAX_GATEWAY_ID]; /* from the webhook, or "" */
} kg_kms_verdict;

/* The world, as the decision sees it. Every function is required; ctx is passed back. */
typedef struct kg_kms_ops {
    void *ctx;
    /* Verifies an RA-TLS client certificate (DER; `tls_cert` is the same certificate as
     * received in the request's TLS 1.3 handshake, or NULL) into *out. A failure to obtain
     * collateral is KG_ERR_NETWORK (the PCCS failed) or KG_ERR_UNAVAILABLE (a fetch limit held it
     * back): an outage; any other failure means the attestation is bad. */
    kg_result (*attest)(void *ctx, kg_ratls_identity *out, const uint8_t *der, size_t der_len,
                        const kg_ratls_handshake_cert *tls_cert);
    /* Verifies a SignCert v2 request into *out: `csr` is a SCALE CertSigningRequestV2, `sig`
     * its DER ECDSA-P256 signature by the CSR's key, and the attestation embedded in the CSR
     * binds that key (kg_csr_v2_verify). Errors as for attest. Required only for requests that
     * carry a CSR (kg_kms_request.csr); may be NULL otherwise. */
    kg_result (*attest_csr)(void *ctx, kg_ratls_identity *out, const uint8_t *csr, size_t csr_len,
                            const uint8_t *sig, size_t sig_len);
    /* Asks governance. An error is never "allowed": KG_ERR_DENIED when the answers contradict
     * each other (a refusal), any other code when there is no answer (an outage). */
    kg_result (*govern)(void *ctx, kg_kms_verdict *out, kg_kms_caller caller,
                        const kg_boot_identity *id);
    /* Records durably; on error nothing may be released. *leaf (never NULL) receives the
     * record's index in the verifiable log, or UINT64_MAX when it was not logged. */
    kg_result (*record)(void *ctx, const kg_audit_record *rec, uint64_t *leaf);
    /* This KMS's own standing (the last self-check): false, with a reason, when it must not
     * serve keys. */
    bool (*self_allowed)(void *ctx, char *reason, size_t reason_size);
    /* The root public keys the chain names for this deployment (kmsInfo) at the verdict's block:
     * the compressed root k256 key and the SHA-256 of the root CA SubjectPublicKeyInfo DER. An
     * error when the chain cannot say (an outage, or KG_ERR_DENIED when its nodes contradict each
     * other). Required only by kg_kms_check_root_keys (a replica onboarding); may be NULL. */
    kg_result (*root_keys)(void *ctx, uint8_t k256_pub[KG_K256_PUB_LEN],
                           uint8_t ca_spki_sha256[KG_SHA256_LEN], const kg_kms_verdict *at);
} kg_kms_ops;

typedef struct kg_kms_request {
    const char *method;      /* "GetAppKey", "SignCert", "GetKmsKey" */
    const char *peer;        /* remote address, for the record; may be NULL */
    const uint8_t *cert_der; /* the caller's TLS client certificate; NULL when none */
    size_t cert_len;
    /* The same certificate as received in the request's completed TLS 1.3 handshake (borrowed;
     * kg_ratls_handshake_cert_take), or NULL. Decoding one costs more than a warm quote
     * verification, and its own signature is redundant with the handshake's (ratls.h). */
    const kg_ratls_handshake_cert *tls_cert;
    kg_kms_caller caller;
    /* For KMS callers: what the refusals call the peer ("peer KMS" when NULL; a replica
     * onboarding calls it "source KMS"). */
    const char *kms_role;
    /* For KMS callers: the app id a KMS of this deployment measures (the KMS contract). */
    const uint8_t *kms_app_id;
    /* SignCert v2: the key to be certified is a CSR's, attested by the evidence the CSR
     * embeds, not the TLS client's. When csr is set the caller is verified from it (and its
     * signature) with ops->attest_csr, and cert_der is not used; the rest of the decision is
     * the same. */
    const uint8_t *csr;
    size_t csr_len;
    const uint8_t *csr_sig;
    size_t csr_sig_len;
} kg_kms_request;

/* A decision in progress. After kg_kms_decide succeeded: the verified caller and the verdict
 * the release must be recorded with. */
typedef struct kg_kms_decision {
    kg_ratls_identity peer;
    kg_kms_verdict verdict;
} kg_kms_decision;

/*
 * Decides whether the caller may have what it asks for: its certificate (or, for a request
 * carrying a SignCert v2 CSR, the CSR) is verified into an identity, this KMS's standing is
 * checked, governance is asked. On KG_OK the caller is allowed and *out holds its identity and the
 * verdict; the release is not yet recorded (do that with kg_kms_record_release, with the
 * fingerprints of what will leave, before it leaves). On error the refusal or outage has been
 * recorded (the message says when even that failed) and the error is "<method> denied: <reason>"
 * (KG_ERR_DENIED) or "<method> unavailable: <reason>" (KG_ERR_UNAVAILABLE). out is caller-provided
 * (it is large: allocate it).
 */
KG_RESULT kg_kms_decide(kg_kms_decision *out, const kg_kms_ops *ops, const kg_kms_request *req);

/*
 * kg_kms_decide for an identity verified elsewhere, by evidence that is neither a certificate nor
 * a CSR (a root epoch proposer's quote, which binds the epoch's keys by its REPORTDATA): the same
 * steps after the attestation (a KMS caller must have measured req->kms_app_id; this KMS's
 * standing; governance at one block), with the same outcomes and records. id is copied into
 * out->peer.boot; req's certificate and CSR are not used.
 */
KG_RESULT kg_kms_decide_identity(kg_kms_decision *out, const kg_kms_ops *ops,
                                 const kg_kms_request *req, const kg_boot_identity *id);

/* Records an allowed release with the public fingerprints of what leaves (JSON object text);
 * *leaf (may be NULL) receives its index in the verifiable log (what the release's receipt
 * proves; UINT64_MAX when the store keeps no log). KG_ERR_UNAVAILABLE ("<method>: record store
 * unavailable, nothing released") on failure. */
KG_RESULT kg_kms_record_release(const kg_kms_ops *ops, const kg_kms_request *req,
                                const kg_kms_decision *d, const char *released_json,
                                uint64_t *leaf);

/*
 * For a KMS allowed by kg_kms_decide whose root keys this node receives (a replica onboarding
 * from it): the received public keys must be the ones the chain names at the decision's very block
 * (ops->root_keys), or an independently bootstrapped KMS that governance allows could hand over
 * root keys no app's published keys chain to. k256_pub is the received root k256 key
 * (compressed), ca_spki the received root CA key's SubjectPublicKeyInfo DER. KG_OK when both
 * match (record the release with kg_kms_record_release); otherwise the refusal is recorded and
 * the error is "<method> denied: the received root keys do not match the KMS info on chain at
 * block N (root k256 key matches|differs, root CA key matches|differs)" (KG_ERR_DENIED), or
 * "<method> unavailable: ..." when the chain cannot say.
 */
KG_RESULT kg_kms_check_root_keys(const kg_kms_ops *ops, const kg_kms_request *req,
                                 const kg_kms_decision *d, const uint8_t k256_pub[KG_K256_PUB_LEN],
                                 const uint8_t *ca_spki, size_t ca_spki_len);

/* Records and returns a refusal of a request that could not even be read (KG_ERR_INPUT). */
KG_RESULT kg_kms_reject_request(const kg_kms_ops *ops, const kg_kms_request *req, const char *why);

#endif
