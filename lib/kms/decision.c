/* decision.c - the KMS's key-release decision (kms_decision.h): one fixed sequence, every step
 * fail-closed, every outcome recorded.
 *
 *   certificate (or SignCert v2 CSR) present -> attestation verified into an identity -> (KMS
 * callers) the identity is a KMS of this deployment -> this KMS may serve -> governance allows, at
 * one block -> [caller derives what it releases] -> the release recorded -> [reply]
 *
 * A replica onboarding decides about its source KMS with the same sequence (the source is a KMS
 * caller), then checks the root keys it received against the chain at that block
 * (kg_kms_check_root_keys) before keeping them.
 *
 * Who is asking is established first, so every refusal names the caller; then whether this KMS
 * may serve at all; then governance. A refusal is final for the caller (KG_ERR_DENIED); an
 * outage is not (KG_ERR_UNAVAILABLE), so a client moves on to its next KMS. */
#include "keygate/kms_decision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records a refusal or an outage and returns it as code "<method> <what>: <reason>". */
static kg_result refuse(const kg_kms_ops *ops, const kg_kms_request *req, kg_err code,
                        const kg_audit_record *base, const char *reason)
{
    kg_audit_record r = *base;
    r.method = req->method;
    r.peer = req->peer;
    r.allowed = false;
    r.reason = reason;
    const char *what = code == KG_ERR_UNAVAILABLE ? "unavailable"
                       : code == KG_ERR_INPUT     ? "rejected"
                                                  : "denied";
    char msg[KG_KMS_MAX_REASON + 64];
    snprintf(msg, sizeof(msg), "%s", reason); /* reason may point at the error buffer */
    uint64_t leaf = UINT64_MAX;
    if (kg_failed(ops->record(ops->ctx, &r, &leaf)))
        KG_BAIL(code, "%s %s: %s (and the record store could not record it)", req->method, what,
                msg);
    KG_BAIL(code, "%s %s: %s", req->method, what, msg);
}

static void block_of(kg_audit_record *r, const kg_kms_verdict *v)
{
    r->block_number = v->block_number;
    r->block_hash = v->block_hash[0] ? v->block_hash : NULL;
}

kg_result kg_kms_record_release(const kg_kms_ops *ops, const kg_kms_request *req,
                                const kg_kms_decision *d, const char *released_json, uint64_t *leaf)
{
    uint64_t at = UINT64_MAX;
    kg_audit_record r = {.method = req->method,
                         .peer = req->peer,
                         .allowed = true,
                         .reason = d->verdict.reason[0] ? d->verdict.reason : "allowed",
                         .identity = &d->peer.boot,
                         .released = released_json};
    block_of(&r, &d->verdict);
    if (kg_failed(ops->record(ops->ctx, &r, &at)))
        KG_BAIL(KG_ERR_UNAVAILABLE, "%s unavailable: record store: %s; nothing released",
                req->method, kg_error_message());
    if (leaf != NULL)
        *leaf = at;
    return KG_OK;
}

kg_result kg_kms_reject_request(const kg_kms_ops *ops, const kg_kms_request *req, const char *why)
{
    kg_audit_record base = {.block_number = -1};
    char reason[KG_KMS_MAX_REASON];
    snprintf(reason, sizeof(reason), "bad request: %s", why);
    return refuse(ops, req, KG_ERR_INPUT, &base, reason);
}

/* The app id a certificate that failed verification claims: recorded (marked unverified) so an
 * app's owner finds the attempts made in its name. Never used to decide. */
static bool claimed_app_id(uint8_t out[KG_APP_ID_LEN], const kg_kms_request *req)
{
    if (req->csr != NULL) { /* the app-id runtime event of the CSR's attestation */
        kg_csr_v2 *csr = malloc(sizeof(*csr));
        bool got = false;
        if (csr != NULL && kg_ok(kg_csr_v2_parse(csr, req->csr, req->csr_len))) {
            const kg_eventlog *log = &csr->attestation.runtime_events;
            for (size_t i = 0; i < log->count && !got; i++)
                if (strcmp(log->events[i].name, KG_EVENT_APP_ID) == 0 &&
                    log->events[i].payload_len == KG_APP_ID_LEN) {
                    memcpy(out, log->events[i].payload, KG_APP_ID_LEN);
                    got = true;
                }
        }
        kg_csr_v2_free(csr);
        free(csr);
        kg_error_clear();
        return got;
    }
    kg_ratls_evidence ev;
    bool got = kg_ok(kg_ratls_parse_cert(&ev, req->cert_der, req->cert_len)) && ev.has_app_id;
    if (got)
        memcpy(out, ev.app_id, KG_APP_ID_LEN);
    kg_ratls_evidence_free(&ev);
    kg_error_clear();
    return got;
}

static kg_result decide_attested(kg_kms_decision *out, const kg_kms_ops *ops,
                                 const kg_kms_request *req);

kg_result kg_kms_decide(kg_kms_decision *out, const kg_kms_ops *ops, const kg_kms_request *req)
{
    char reason[KG_KMS_MAX_REASON];
    kg_audit_record base = {.block_number = -1};
    memset(out, 0, sizeof(*out));
    out->verdict.block_number = -1;

    /* 1. who is asking: only a verified attestation says (the CSR's, when one is certified) */
    kg_result attested;
    if (req->csr != NULL) {
        KG_ENSURE(ops->attest_csr != NULL, KG_ERR_USAGE,
                  "%s: a CSR to verify, but no attest_csr operation", req->method);
        if (req->csr_len == 0 || req->csr_sig == NULL || req->csr_sig_len == 0)
            return refuse(ops, req, KG_ERR_DENIED, &base,
                          "no CSR signature: a v2 CSR must be signed by its key");
        attested = ops->attest_csr(ops->ctx, &out->peer, req->csr, req->csr_len, req->csr_sig,
                                   req->csr_sig_len);
    } else {
        if (req->cert_der == NULL || req->cert_len == 0)
            return refuse(ops, req, KG_ERR_DENIED, &base,
                          "no client certificate: an RA-TLS client certificate is required");
        attested = ops->attest(ops->ctx, &out->peer, req->cert_der, req->cert_len, req->tls_cert);
    }
    if (kg_failed(attested)) {
        /* Collateral that cannot be had (the PCCS is down, or its client holds the fetch back)
         * says nothing about the caller: an outage. */
        kg_err code = kg_error_code() == KG_ERR_NETWORK || kg_error_code() == KG_ERR_UNAVAILABLE
                          ? KG_ERR_UNAVAILABLE
                          : KG_ERR_DENIED;
        snprintf(reason, sizeof(reason), "attestation (claimed identity, unverified): %s",
                 kg_error_message());
        uint8_t claimed[KG_APP_ID_LEN];
        if (claimed_app_id(claimed, req))
            base.claimed_app_id = claimed;
        memset(out, 0, sizeof(*out));
        return refuse(ops, req, code, &base, reason);
    }
    return decide_attested(out, ops, req);
}

kg_result kg_kms_decide_identity(kg_kms_decision *out, const kg_kms_ops *ops,
                                 const kg_kms_request *req, const kg_boot_identity *id)
{
    memset(out, 0, sizeof(*out));
    out->verdict.block_number = -1;
    out->peer.boot = *id;
    return decide_attested(out, ops, req);
}

/* The steps after the attestation, about the identity in out->peer.boot. */
static kg_result decide_attested(kg_kms_decision *out, const kg_kms_ops *ops,
                                 const kg_kms_request *req)
{
    char reason[KG_KMS_MAX_REASON];
    kg_audit_record base = {.block_number = -1};
    const kg_boot_identity *id = &out->peer.boot;
    base.identity = id;
    if (!id->has_app_id || !id->has_compose_hash)
        return refuse(ops, req, KG_ERR_DENIED, &base,
                      !id->has_app_id ? "attestation: event log has no app-id event"
                                      : "attestation: event log has no compose-hash event");
    if (!id->has_device_id)
        return refuse(ops, req, KG_ERR_DENIED, &base,
                      "attestation: PCK certificate carries no PPID (no device id)");
    /* A KMS caller is known by what it measured, never by a usage string it wrote into its own
     * certificate: a KMS of this deployment measures the KMS contract as its app id (a blank VM
     * measures nothing), and governance then allows its aggregated MR, which covers that. */
    if (req->caller == KG_KMS_CALLER_KMS &&
        (req->kms_app_id == NULL || memcmp(id->app_id, req->kms_app_id, KG_APP_ID_LEN) != 0))
        return refuse(ops, req, KG_ERR_DENIED, &base,
                      "the peer's measured identity is not a KMS of this deployment (its app-id "
                      "event is not the KMS contract)");

    /* 2. may this KMS serve at all */
    char standing[256] = "";
    if (!ops->self_allowed(ops->ctx, standing, sizeof(standing))) {
        snprintf(reason, sizeof(reason),
                 "this KMS is not allowed by governance (self-check: %s); ask another KMS",
                 standing[0] ? standing : "not run yet");
        return refuse(ops, req, KG_ERR_UNAVAILABLE, &base, reason);
    }

    /* 3. governance, at one block */
    kg_result asked = ops->govern(ops->ctx, &out->verdict, req->caller, id);
    block_of(&base, &out->verdict);
    if (kg_failed(asked)) {
        /* A chain view that contradicts itself (nodes disagreeing, the chain going backwards)
         * is a refusal; no answer at all is an outage. */
        bool refused = kg_error_code() == KG_ERR_DENIED;
        snprintf(reason, sizeof(reason), "governance %s: %s", refused ? "refused" : "unavailable",
                 kg_error_message());
        return refuse(ops, req, refused ? KG_ERR_DENIED : KG_ERR_UNAVAILABLE, &base, reason);
    }
    if (!out->verdict.allowed) {
        /* the verdict's reason is bounded by its own cap; keep room for the prefix */
        snprintf(reason, sizeof(reason), "%s not allowed by governance: %.800s",
                 req->caller != KG_KMS_CALLER_KMS ? "app"
                 : req->kms_role != NULL          ? req->kms_role
                                                  : "peer KMS",
                 out->verdict.reason[0] ? out->verdict.reason : "(no reason given)");
        return refuse(ops, req, KG_ERR_DENIED, &base, reason);
    }
    return KG_OK;
}

kg_result kg_kms_check_root_keys(const kg_kms_ops *ops, const kg_kms_request *req,
                                 const kg_kms_decision *d, const uint8_t k256_pub[KG_K256_PUB_LEN],
                                 const uint8_t *ca_spki, size_t ca_spki_len)
{
    KG_ENSURE(ops->root_keys != NULL, KG_ERR_USAGE, "%s: no root_keys operation", req->method);
    KG_ENSURE(req->caller == KG_KMS_CALLER_KMS, KG_ERR_USAGE,
              "%s: root keys come only from a KMS caller", req->method);
    char reason[KG_KMS_MAX_REASON];
    kg_audit_record base = {.block_number = -1, .identity = &d->peer.boot};
    block_of(&base, &d->verdict);
    uint8_t want_k256[KG_K256_PUB_LEN], want_spki[KG_SHA256_LEN], got_spki[KG_SHA256_LEN];
    KG_GUARD(kg_sha256(got_spki, ca_spki, ca_spki_len));
    if (kg_failed(ops->root_keys(ops->ctx, want_k256, want_spki, &d->verdict))) {
        bool refused = kg_error_code() == KG_ERR_DENIED;
        snprintf(reason, sizeof(reason), "the KMS info on chain at block %lld %s: %s",
                 (long long)d->verdict.block_number, refused ? "contradicts itself" : "unavailable",
                 kg_error_message());
        return refuse(ops, req, refused ? KG_ERR_DENIED : KG_ERR_UNAVAILABLE, &base, reason);
    }
    /* public keys: an ordinary comparison */
    bool k256_ok = memcmp(want_k256, k256_pub, KG_K256_PUB_LEN) == 0;
    bool ca_ok = memcmp(want_spki, got_spki, KG_SHA256_LEN) == 0;
    if (!k256_ok || !ca_ok) {
        snprintf(reason, sizeof(reason),
                 "the received root keys do not match the KMS info on chain at block %lld (root "
                 "k256 key %s, root CA key %s)",
                 (long long)d->verdict.block_number, k256_ok ? "matches" : "differs",
                 ca_ok ? "matches" : "differs");
        return refuse(ops, req, KG_ERR_DENIED, &base, reason);
    }
    return KG_OK;
}
