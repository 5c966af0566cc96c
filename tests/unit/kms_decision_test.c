/* kms_decision_test.c - the KMS's key-release decision (lib/kms/decision.c) with in-process
 * fakes for attestation, governance, the record store and the self-check: every outcome and
 * every fault, each with its status, its reason and what was recorded. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/kms_decision.h"
#include "keygate/kms_x509.h"

#define MAX_RECORDS 8

/* One world the decision runs in; each test sets what it needs. */
typedef struct world {
    kg_err attest_fails;       /* KG_ERR_NONE: attestation verifies into `peer` */
    const char *attest_error;  /* the verifier's message when it fails (NULL: a default) */
    kg_boot_identity peer;     /* what a verified attestation yields */
    kg_err csr_fails;          /* KG_ERR_NONE: a SignCert v2 CSR verifies into `csr_peer` */
    kg_boot_identity csr_peer; /* what a verified CSR yields */
    int attest_calls, csr_calls;
    kg_err govern_fails;
    bool govern_allows;
    const char *govern_reason;
    int govern_calls;
    kg_kms_caller govern_asked;
    bool record_fails;
    bool self_allowed;
    kg_err root_keys_fails;             /* KG_ERR_NONE: the chain names root_k256/root_spki */
    uint8_t root_k256[KG_K256_PUB_LEN]; /* kmsInfo's root k256 key */
    uint8_t root_spki[KG_SHA256_LEN];   /* SHA-256 of kmsInfo's root CA SPKI */
    int64_t root_keys_block;            /* the block root_keys was asked at */
    size_t n;
    struct {
        bool allowed;
        char reason[KG_KMS_MAX_REASON];
        bool has_identity;
        uint8_t app_id[KG_APP_ID_LEN];
        bool has_claimed;
        uint8_t claimed[KG_APP_ID_LEN];
        int64_t block;
        char released[128];
    } rec[MAX_RECORDS];
} world;

static kg_result fake_attest(void *ctx, kg_ratls_identity *out, const uint8_t *der, size_t len,
                             const kg_ratls_handshake_cert *cert)
{
    world *w = ctx;
    (void)der;
    (void)len;
    (void)cert;
    w->attest_calls++;
    memset(out, 0, sizeof(*out));
    if (w->attest_fails != KG_ERR_NONE && w->attest_error != NULL)
        KG_BAIL(w->attest_fails, "%s", w->attest_error);
    if (w->attest_fails != KG_ERR_NONE)
        KG_BAIL(w->attest_fails, w->attest_fails == KG_ERR_NETWORK
                                     ? "fetching collateral: PCCS unreachable"
                                     : "RA-TLS quote: signature does not verify");
    out->boot = w->peer;
    return KG_OK;
}

static kg_result fake_attest_csr(void *ctx, kg_ratls_identity *out, const uint8_t *csr,
                                 size_t csr_len, const uint8_t *sig, size_t sig_len)
{
    world *w = ctx;
    (void)csr;
    (void)csr_len;
    (void)sig;
    (void)sig_len;
    w->csr_calls++;
    memset(out, 0, sizeof(*out));
    if (w->csr_fails != KG_ERR_NONE)
        KG_BAIL(w->csr_fails, w->csr_fails == KG_ERR_NETWORK
                                  ? "fetching collateral: PCCS unreachable"
                                  : "CSR v2: CSR signature does not verify with the CSR's pubkey");
    out->boot = w->csr_peer;
    return KG_OK;
}

static kg_result fake_govern(void *ctx, kg_kms_verdict *out, kg_kms_caller caller,
                             const kg_boot_identity *id)
{
    world *w = ctx;
    (void)id;
    w->govern_calls++;
    w->govern_asked = caller;
    memset(out, 0, sizeof(*out));
    out->block_number = 77;
    snprintf(out->block_hash, sizeof(out->block_hash), "0x%064d", 7);
    if (w->govern_fails != KG_ERR_NONE)
        KG_BAIL(w->govern_fails, "chain node: connection refused");
    out->allowed = w->govern_allows;
    snprintf(out->reason, sizeof(out->reason), "%s", w->govern_reason ? w->govern_reason : "");
    return KG_OK;
}

static kg_result fake_record(void *ctx, const kg_audit_record *r, uint64_t *leaf)
{
    world *w = ctx;
    *leaf = UINT64_MAX;
    KG_ENSURE(!w->record_fails, KG_ERR_IO, "audit: commit: disk I/O error");
    assert_true(w->n < MAX_RECORDS);
    assert_false(r->identity != NULL && r->claimed_app_id != NULL);
    w->rec[w->n].allowed = r->allowed;
    snprintf(w->rec[w->n].reason, sizeof(w->rec[w->n].reason), "%s", r->reason ? r->reason : "");
    w->rec[w->n].has_identity = r->identity != NULL;
    if (r->identity)
        memcpy(w->rec[w->n].app_id, r->identity->app_id, KG_APP_ID_LEN);
    w->rec[w->n].has_claimed = r->claimed_app_id != NULL;
    if (r->claimed_app_id)
        memcpy(w->rec[w->n].claimed, r->claimed_app_id, KG_APP_ID_LEN);
    w->rec[w->n].block = r->block_number;
    snprintf(w->rec[w->n].released, sizeof(w->rec[w->n].released), "%s",
             r->released ? r->released : "");
    *leaf = 1000u + (uint64_t)w->n; /* as a log would number it */
    w->n++;
    return KG_OK;
}

static bool fake_self(void *ctx, char *reason, size_t n)
{
    world *w = ctx;
    if (!w->self_allowed)
        snprintf(reason, n, "kms aggregated MR not allowed");
    return w->self_allowed;
}

static kg_result fake_root_keys(void *ctx, uint8_t k256[KG_K256_PUB_LEN],
                                uint8_t spki_hash[KG_SHA256_LEN], const kg_kms_verdict *at)
{
    world *w = ctx;
    w->root_keys_block = at->block_number;
    if (w->root_keys_fails != KG_ERR_NONE)
        KG_BAIL(w->root_keys_fails, w->root_keys_fails == KG_ERR_DENIED
                                        ? "chain nodes disagree about kmsInfo"
                                        : "chain node: connection refused");
    memcpy(k256, w->root_k256, KG_K256_PUB_LEN);
    memcpy(spki_hash, w->root_spki, KG_SHA256_LEN);
    return KG_OK;
}

static const uint8_t g_cert[] = {0x30, 0x03, 0x02, 0x01, 0x00}; /* any bytes: the fake verifies */
static const uint8_t g_kms_app[KG_APP_ID_LEN] = {0x4b};

static void setup_world(world *w, kg_kms_ops *ops, kg_kms_request *rq, kg_kms_caller caller)
{
    memset(w, 0, sizeof(*w));
    w->self_allowed = true;
    w->govern_allows = true;
    w->govern_reason = "";
    w->peer.has_app_id = w->peer.has_compose_hash = w->peer.has_device_id = true;
    memset(w->peer.app_id, caller == KG_KMS_CALLER_KMS ? 0x4b : 0xa1, KG_APP_ID_LEN);
    if (caller == KG_KMS_CALLER_KMS)
        memcpy(w->peer.app_id, g_kms_app, KG_APP_ID_LEN);
    snprintf(w->peer.tcb_status, sizeof(w->peer.tcb_status), "UpToDate");
    w->csr_peer = w->peer;
    memset(w->csr_peer.app_id, 0xc5, KG_APP_ID_LEN); /* tells the two identities apart */
    *ops = (kg_kms_ops){.ctx = w,
                        .attest = fake_attest,
                        .attest_csr = fake_attest_csr,
                        .govern = fake_govern,
                        .record = fake_record,
                        .self_allowed = fake_self,
                        .root_keys = fake_root_keys};
    *rq = (kg_kms_request){.method = "GetAppKey",
                           .peer = "127.0.0.1",
                           .cert_der = g_cert,
                           .cert_len = sizeof(g_cert),
                           .caller = caller,
                           .kms_app_id = g_kms_app};
}

static void allowed_then_recorded_before_release(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    KG_ASSERT_OK(kg_kms_decide(d, &ops, &rq));
    assert_int_equal(w.govern_calls, 1);
    assert_int_equal(w.govern_asked, KG_KMS_CALLER_APP);
    assert_int_equal(w.n, 0); /* nothing recorded until the release is */
    assert_memory_equal(d->peer.boot.app_id, w.peer.app_id, KG_APP_ID_LEN);
    assert_int_equal(d->verdict.block_number, 77);
    uint64_t leaf = 0;
    KG_ASSERT_OK(kg_kms_record_release(&ops, &rq, d, "{\"k256_pubkey\":\"02aa\"}", &leaf));
    assert_int_equal(w.n, 1);
    assert_int_equal(leaf, 1000); /* the release's log index, for its receipt */
    assert_true(w.rec[0].allowed && w.rec[0].has_identity);
    assert_int_equal(w.rec[0].block, 77);
    assert_string_equal(w.rec[0].released, "{\"k256_pubkey\":\"02aa\"}");
    assert_string_equal(w.rec[0].reason, "allowed");

    /* The store fails at the release: unavailable, nothing may leave. */
    w.record_fails = true;
    KG_ASSERT_ERR(kg_kms_record_release(&ops, &rq, d, "{}", NULL), KG_ERR_UNAVAILABLE,
                  "GetAppKey unavailable: record store: audit: commit: disk I/O error; nothing "
                  "released");
    assert_int_equal(kg_err_http_status(KG_ERR_UNAVAILABLE), 503);
    free(d);
}

static void refusals_are_final_and_recorded(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    rq.cert_der = NULL;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "GetAppKey denied: no client certificate");
    assert_int_equal(w.n, 1);
    assert_false(w.rec[0].allowed || w.rec[0].has_identity);

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.attest_fails = KG_ERR_VERIFY;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "GetAppKey denied: attestation (claimed identity, unverified): RA-TLS quote");
    assert_int_equal(w.govern_calls, 0);
    assert_false(w.rec[0].has_identity); /* nothing of an unverified caller is believed */

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.govern_allows = false;
    w.govern_reason = "compose hash not allowed";
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "GetAppKey denied: app not allowed by governance: compose hash not allowed");
    assert_true(w.rec[0].has_identity && !w.rec[0].allowed);
    assert_int_equal(w.rec[0].block, 77); /* the block the "no" was read at */
    assert_int_equal(kg_err_http_status(KG_ERR_DENIED), 403);

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.peer.has_device_id = false;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED, "no PPID");
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.peer.has_compose_hash = false;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED, "no compose-hash event");
    assert_int_equal(w.govern_calls, 0);

    /* A refusal stands even when the store cannot record it, and says so. */
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.govern_allows = false;
    w.record_fails = true;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "(and the record store could not record it)");
    free(d);
}

static void outages_are_unavailable(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.govern_fails = KG_ERR_NETWORK;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_UNAVAILABLE,
                  "GetAppKey unavailable: governance unavailable: chain node: connection refused");
    assert_int_equal(w.rec[0].block, 77); /* recorded even though the call failed */

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.attest_fails = KG_ERR_NETWORK; /* collateral cannot be fetched: says nothing of the VM */
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_UNAVAILABLE, "PCCS unreachable");
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.attest_fails = KG_ERR_UNAVAILABLE; /* the PCCS client held the fetch back (a limit) */
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_UNAVAILABLE, "GetAppKey unavailable:");

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.self_allowed = false;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_UNAVAILABLE,
                  "this KMS is not allowed by governance (self-check: kms aggregated MR not "
                  "allowed); ask another KMS");
    assert_int_equal(w.govern_calls, 0);
    assert_true(w.rec[0].has_identity); /* the caller was verified: the record names it */
    free(d);
}

/* What the verifier refuses about the evidence itself is a refusal, whatever its kind: collateral
 * past its nextUpdate, and an identity beyond the caps (never cut to fit). Governance is not
 * asked, and the record names no verified identity. */
static void verifier_refusals_are_denials(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    static const struct {
        kg_err code;
        const char *error;
    } cases[] = {
        {KG_ERR_EXPIRED, "collateral: TCB Info expired at 1764806400 (now 1764892800)"},
        {KG_ERR_TOO_LARGE, "DCAP: 65 advisory ids (at most 64)"},
        {KG_ERR_TOO_LARGE, "event log: app-id payload of 21 bytes (at most 20)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
        w.attest_fails = cases[i].code;
        w.attest_error = cases[i].error;
        KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                      "GetAppKey denied: attestation (claimed identity, unverified): ");
        assert_non_null(strstr(kg_error_message(), cases[i].error));
        assert_int_equal(w.govern_calls, 0);
        assert_int_equal(w.n, 1);
        assert_false(w.rec[0].allowed || w.rec[0].has_identity);
        assert_non_null(strstr(w.rec[0].reason, cases[i].error));
        assert_int_equal(kg_err_http_status(kg_error_code()), 403);
    }
    free(d);
}

static void kms_callers_are_known_by_measurement(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "GetKmsKey";
    KG_ASSERT_OK(kg_kms_decide(d, &ops, &rq));
    assert_int_equal(w.govern_asked, KG_KMS_CALLER_KMS);

    /* An app (or a blank VM) is not a KMS, whatever its certificate's usage says. */
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "GetKmsKey";
    w.peer.app_id[0] ^= 1;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "GetKmsKey denied: the peer's measured identity is not a KMS of this deployment");
    assert_int_equal(w.govern_calls, 0);
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.kms_app_id = NULL;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED, "not a KMS of this deployment");

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    w.govern_allows = false;
    w.govern_reason = "kms device not allowed";
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "peer KMS not allowed by governance: kms device not allowed");
    free(d);
}

/* A replica onboarding decides about its source with the same decision as a server about a KMS
 * caller: the source's refusals name the check and call it the source KMS; this node's own
 * standing does not enter (a node being onboarded serves nothing). */
static void source_kms_decided_as_a_kms_caller(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    rq.kms_role = "source KMS";
    KG_ASSERT_OK(kg_kms_decide(d, &ops, &rq));
    assert_int_equal(w.govern_asked, KG_KMS_CALLER_KMS);
    assert_int_equal(d->verdict.block_number, 77);
    assert_int_equal(w.n, 0); /* an allow is recorded with what was received, later */

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    rq.kms_role = "source KMS";
    w.govern_allows = false;
    w.govern_reason = "kms device not allowed";
    KG_ASSERT_ERR(
        kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
        "onboarding denied: source KMS not allowed by governance: kms device not allowed");
    assert_int_equal(w.n, 1);
    assert_true(w.rec[0].has_identity && !w.rec[0].allowed);
    assert_int_equal(w.rec[0].block, 77);

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    w.peer.app_id[5] ^= 0x10; /* an allowed app, not a KMS of this deployment */
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "onboarding denied: the peer's measured identity is not a KMS of this "
                  "deployment");
    assert_int_equal(w.govern_calls, 0);

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    w.attest_fails = KG_ERR_VERIFY;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "onboarding denied: attestation (claimed identity, unverified): RA-TLS quote");

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    w.govern_fails = KG_ERR_NETWORK;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_UNAVAILABLE,
                  "onboarding unavailable: governance unavailable: chain node: connection refused");
    free(d);
}

/* An identity verified elsewhere (a root epoch proposer's quote) is decided by the same steps:
 * no attestation operation runs, the KMS contract must be measured, governance decides. */
static void verified_identities_decided_alike(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    rq.kms_role = "root epoch 2's proposer";
    rq.cert_der = NULL;
    rq.cert_len = 0;
    kg_boot_identity id = w.peer;
    KG_ASSERT_OK(kg_kms_decide_identity(d, &ops, &rq, &id));
    assert_int_equal(w.attest_calls, 0);
    assert_int_equal(w.govern_asked, KG_KMS_CALLER_KMS);
    assert_memory_equal(d->peer.boot.app_id, id.app_id, KG_APP_ID_LEN);
    assert_int_equal(d->verdict.block_number, 77);

    w.govern_allows = false;
    w.govern_reason = "kms aggregated MR not allowed";
    KG_ASSERT_ERR(kg_kms_decide_identity(d, &ops, &rq, &id), KG_ERR_DENIED,
                  "onboarding denied: root epoch 2's proposer not allowed by governance: kms "
                  "aggregated MR not allowed");
    assert_int_equal(w.n, 1);
    assert_true(w.rec[0].has_identity && !w.rec[0].allowed);

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    id = w.peer;
    id.app_id[0] ^= 1; /* an app's quote binding the epoch's keys: not a KMS */
    KG_ASSERT_ERR(kg_kms_decide_identity(d, &ops, &rq, &id), KG_ERR_DENIED,
                  "not a KMS of this deployment");
    assert_int_equal(w.govern_calls, 0);
    id = w.peer;
    id.has_device_id = false;
    KG_ASSERT_ERR(kg_kms_decide_identity(d, &ops, &rq, &id), KG_ERR_DENIED, "no device id");
    free(d);
}

/* The root keys a KMS caller hands over must be what the chain names at the block it was
 * decided at; each difference and the chain's silence are refusals naming the check. */
static void received_root_keys_checked_at_the_decision_block(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    static const uint8_t spki[] = {0x30, 0x59, 0x30, 0x13}; /* any bytes: only hashed */
    uint8_t k256[KG_K256_PUB_LEN];
    memset(k256, 0x02, sizeof(k256));

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_KMS);
    rq.method = "onboarding";
    memcpy(w.root_k256, k256, sizeof(k256));
    KG_ASSERT_OK(kg_sha256(w.root_spki, spki, sizeof(spki)));
    KG_ASSERT_OK(kg_kms_decide(d, &ops, &rq));
    KG_ASSERT_OK(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)));
    assert_int_equal(w.root_keys_block, 77);
    KG_ASSERT_OK(kg_kms_record_release(&ops, &rq, d, "{\"k256_pubkey\":\"02..\"}", NULL));
    assert_int_equal(w.n, 1);
    assert_true(w.rec[0].allowed && w.rec[0].has_identity);
    assert_int_equal(w.rec[0].block, 77);

    w.root_k256[3] ^= 1; /* an independently bootstrapped KMS: other root keys */
    KG_ASSERT_ERR(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)), KG_ERR_DENIED,
                  "onboarding denied: the received root keys do not match the KMS info on chain "
                  "at block 77 (root k256 key differs, root CA key matches)");
    assert_int_equal(w.n, 2);
    assert_false(w.rec[1].allowed);
    assert_true(w.rec[1].has_identity);
    w.root_k256[3] ^= 1;
    w.root_spki[0] ^= 1;
    KG_ASSERT_ERR(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)), KG_ERR_DENIED,
                  "(root k256 key matches, root CA key differs)");
    w.root_spki[0] ^= 1;

    w.root_keys_fails = KG_ERR_NETWORK;
    KG_ASSERT_ERR(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)),
                  KG_ERR_UNAVAILABLE,
                  "onboarding unavailable: the KMS info on chain at block 77 unavailable: chain "
                  "node: connection refused");
    w.root_keys_fails = KG_ERR_DENIED;
    KG_ASSERT_ERR(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)), KG_ERR_DENIED,
                  "contradicts itself: chain nodes disagree about kmsInfo");

    /* only a KMS caller hands over root keys, and only with a root_keys operation */
    rq.caller = KG_KMS_CALLER_APP;
    KG_ASSERT_ERR(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)), KG_ERR_USAGE,
                  "root keys come only from a KMS caller");
    rq.caller = KG_KMS_CALLER_KMS;
    ops.root_keys = NULL;
    KG_ASSERT_ERR(kg_kms_check_root_keys(&ops, &rq, d, k256, spki, sizeof(spki)), KG_ERR_USAGE,
                  "no root_keys operation");
    free(d);
}

/* A certificate that does not verify is recorded under the app id it claims, and only that. */
static void unverified_callers_recorded_by_claim(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    kg_p256_key *key = NULL;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    uint8_t victim[KG_APP_ID_LEN];
    memset(victim, 0xee, sizeof(victim));
    static const uint8_t quote[] = "not a quote";
    KG_ASSERT_OK(kg_p256_generate(&key));
    kg_kms_cert_spec spec = {.common_name = "x",
                             .client_auth = true,
                             .days = 1,
                             .app_id = victim,
                             .quote = quote,
                             .quote_len = sizeof(quote)};
    KG_ASSERT_OK(kg_kms_x509_issue(&cert, kg_p256_evp(key), &spec, NULL, NULL));
    int n = i2d_X509(cert, &der);
    assert_true(n > 0);
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.attest_fails = KG_ERR_VERIFY;
    rq.cert_der = der;
    rq.cert_len = (size_t)n;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED, "claimed identity, unverified");
    assert_true(w.rec[0].has_claimed && !w.rec[0].has_identity);
    assert_memory_equal(w.rec[0].claimed, victim, KG_APP_ID_LEN);
    OPENSSL_free(der);
    X509_free(cert);
    kg_p256_free(key);
    free(d);
}

/* SignCert v2: the identity is the one the CSR's attestation verifies into (the key to be
 * certified is the CSR's), never the TLS client certificate's; the rest of the decision is the
 * same, and so are its refusals, outages and records. */
static const uint8_t g_csr[] = {0x44, 0x70, 0x6c};
static const uint8_t g_sig[] = {0x30, 0x06};

static void csr_identities_are_decided_alike(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    uint8_t csr_app[KG_APP_ID_LEN];
    memset(csr_app, 0xc5, sizeof(csr_app));

    /* allowed: the CSR's identity, whatever certificate (or none) the TLS client showed */
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    rq.method = "SignCert";
    rq.csr = g_csr;
    rq.csr_len = sizeof(g_csr);
    rq.csr_sig = g_sig;
    rq.csr_sig_len = sizeof(g_sig);
    KG_ASSERT_OK(kg_kms_decide(d, &ops, &rq));
    assert_int_equal(w.csr_calls, 1);
    assert_int_equal(w.attest_calls, 0);
    assert_memory_equal(d->peer.boot.app_id, csr_app, KG_APP_ID_LEN);
    assert_int_equal(w.govern_calls, 1);
    KG_ASSERT_OK(kg_kms_record_release(&ops, &rq, d, "{\"certificate_sha256\":\"ab\"}", NULL));
    assert_true(w.rec[0].allowed && w.rec[0].has_identity);
    assert_memory_equal(w.rec[0].app_id, csr_app, KG_APP_ID_LEN);

    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    rq.method = "SignCert";
    rq.cert_der = NULL; /* no client certificate at all: the CSR is enough */
    rq.csr = g_csr;
    rq.csr_len = sizeof(g_csr);
    rq.csr_sig = g_sig;
    rq.csr_sig_len = sizeof(g_sig);
    KG_ASSERT_OK(kg_kms_decide(d, &ops, &rq));

    /* a CSR that does not verify (signature by another key, key not bound): denied, recorded
     * without an identity, governance never asked */
    w.csr_fails = KG_ERR_VERIFY;
    w.govern_calls = 0;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "SignCert denied: attestation (claimed identity, unverified): CSR v2: CSR "
                  "signature does not verify");
    assert_int_equal(w.govern_calls, 0);
    assert_true(w.n == 1 && !w.rec[0].allowed && !w.rec[0].has_identity);

    /* collateral out of reach: an outage */
    w.csr_fails = KG_ERR_NETWORK;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_UNAVAILABLE,
                  "SignCert unavailable: attestation");

    /* no signature: refused before anything is verified */
    w.csr_fails = KG_ERR_NONE;
    w.csr_calls = 0;
    rq.csr_sig_len = 0;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED, "SignCert denied: no CSR signature");
    assert_int_equal(w.csr_calls, 0);
    rq.csr_sig_len = sizeof(g_sig);

    /* governance says no to the CSR's identity */
    w.govern_allows = false;
    w.govern_reason = "compose hash not allowed";
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED,
                  "SignCert denied: app not allowed by governance: compose hash not allowed");
    assert_true(w.rec[w.n - 1].has_identity);
    assert_memory_equal(w.rec[w.n - 1].app_id, csr_app, KG_APP_ID_LEN);

    /* a table without attest_csr cannot decide on a CSR: a usage error, nothing decided */
    ops.attest_csr = NULL;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_USAGE, "no attest_csr operation");
    free(d);
}

/* A CSR whose attestation does not verify is recorded under the app id its runtime events
 * claim, as an unverified certificate's is. */
static void unverified_csrs_recorded_by_claim(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    kg_kms_decision *d = calloc(1, sizeof(*d));
    kg_p256_key *key = NULL;
    kg_eventlog log;
    kg_buf att, scale, sig;
    uint8_t victim[KG_APP_ID_LEN], rd[64] = {0};
    static const uint8_t quote[] = "not a quote";
    memset(victim, 0xee, sizeof(victim));
    kg_eventlog_init(&log);
    kg_buf_init(&att, 1u << 20);
    kg_buf_init(&scale, 1u << 20);
    kg_buf_init(&sig, 1024);
    KG_ASSERT_OK(kg_p256_generate(&key));
    KG_ASSERT_OK(kg_eventlog_append(&log, KG_EVENT_APP_ID, victim, sizeof(victim)));
    KG_ASSERT_OK(kg_ratls_attestation_encode(&att, KG_RATLS_ATTESTATION_V0, quote, sizeof(quote),
                                             &log, rd, NULL));
    kg_csr_v2_request req = {.subject = "x", .usage_client_auth = true};
    KG_ASSERT_OK(kg_csr_v2_build(&scale, &sig, key, &req, att.data, att.len));
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    w.csr_fails = KG_ERR_VERIFY;
    rq.method = "SignCert";
    rq.csr = scale.data;
    rq.csr_len = scale.len;
    rq.csr_sig = sig.data;
    rq.csr_sig_len = sig.len;
    KG_ASSERT_ERR(kg_kms_decide(d, &ops, &rq), KG_ERR_DENIED, "claimed identity, unverified");
    assert_true(w.rec[0].has_claimed && !w.rec[0].has_identity);
    assert_memory_equal(w.rec[0].claimed, victim, KG_APP_ID_LEN);
    kg_eventlog_free(&log);
    kg_buf_free(&att);
    kg_buf_free(&scale);
    kg_buf_free(&sig);
    kg_p256_free(key);
    free(d);
}

static void bad_requests_are_rejected_and_recorded(void **state)
{
    (void)state;
    world w;
    kg_kms_ops ops;
    kg_kms_request rq;
    setup_world(&w, &ops, &rq, KG_KMS_CALLER_APP);
    KG_ASSERT_ERR(kg_kms_reject_request(&ops, &rq, "'vm_config' is not a string"), KG_ERR_INPUT,
                  "GetAppKey rejected: bad request: 'vm_config' is not a string");
    assert_int_equal(w.n, 1);
    assert_string_equal(w.rec[0].reason, "bad request: 'vm_config' is not a string");
    assert_int_equal(kg_err_http_status(KG_ERR_INPUT), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allowed_then_recorded_before_release),
        cmocka_unit_test(refusals_are_final_and_recorded),
        cmocka_unit_test(outages_are_unavailable),
        cmocka_unit_test(verifier_refusals_are_denials),
        cmocka_unit_test(kms_callers_are_known_by_measurement),
        cmocka_unit_test(source_kms_decided_as_a_kms_caller),
        cmocka_unit_test(verified_identities_decided_alike),
        cmocka_unit_test(received_root_keys_checked_at_the_decision_block),
        cmocka_unit_test(unverified_callers_recorded_by_claim),
        cmocka_unit_test(bad_requests_are_rejected_and_recorded),
        cmocka_unit_test(csr_identities_are_decided_alike),
        cmocka_unit_test(unverified_csrs_recorded_by_claim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
