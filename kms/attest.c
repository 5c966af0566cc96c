/* attest.c - the KMS's view of attestation: verifying a caller's RA-TLS certificate into a boot
 * info (docs/protocol.md sections 2 and 4), and producing its own quotes (bootstrap, server cert,
 * self-check) through the TEE layer.
 *
 * Verification order, each step fail-closed:
 *   1. the certificate carries a quote (1.3.6.1.4.1.62397.1.1) and an event log (.1.2);
 *   2. REPORTDATA == SHA-512("ratls-cert:" || the certificate's SubjectPublicKeyInfo DER), so
 *      the quote vouches for the very key that just completed the TLS handshake;
 *   3. full DCAP verification of the quote (collateral from the PCCS, cached) at the current
 *      time, under the configured trust root; TDX quotes only;
 *   4. the event log replays to RTMR3 of the verified quote;
 *   5. identity from the replayed events before system-ready; measurements from the quote. */
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/fileio.h"
#include "keygate/hash.h"
#include "keygate/kms_x509.h"
#include "keygate/sealed.h"
#include "kms.h"

#include "keygate/eventlog.h"
#include "keygate/quote.h"
#include "keygate/ratls.h"
#include "keygate/tee.h"

static kg_dcap_verifier *g_verifier;
static kg_buf g_collateral; /* fixed collateral from cfg.collateral_file, or empty */
/* The PCCS client, with fetch limits (KG_PCCS_SERVER_LIMITS), and the one cache of collateral
 * (lib/quote/pccs_client.c): per platform the answer until its nextUpdate, found by the exact
 * PCK chain bytes of a quote that verified with it (at most KG_PCCS_CHAIN_TTL_S after, and not
 * past what that verdict relied on) without parsing the chain. A caller with a genuine PCK
 * chain whose FMSPC the PCCS does not know, or a PCCS that fails, costs one fetch per backoff,
 * not one per request. */
static kg_pccs_client *g_pccs;
static kg_tee *g_tee;
static pthread_mutex_t g_tee_lock = PTHREAD_MUTEX_INITIALIZER;

/* The KMS's collateral source for callers' quotes and its own (kg_ratls_collateral_source):
 * the PCCS client's table, first by the quote's PCK chain, else (the chain leading to the trust
 * root) by its platform; a chain is remembered once a quote with it verified. */
static kg_result pccs_collateral(void *ctx, char **json, size_t *len, const kg_quote *q,
                                 const uint8_t *raw, size_t raw_len, uint64_t now)
{
    const kms *k = ctx;
    KG_ENSURE(g_pccs != NULL, KG_ERR_USAGE, "no PCCS client (attestation not initialized)");
    return kg_pccs_client_quote_collateral(g_pccs, json, len, g_verifier, k->cfg.pccs_url, q, raw,
                                           raw_len, now);
}

static void pccs_verified(void *ctx, const kg_quote *q, const char *json, size_t len,
                          uint64_t valid_until, uint64_t now)
{
    (void)ctx;
    kg_pccs_client_verified(g_pccs, q, json, len, valid_until, now);
}

/* The verification policy for callers' evidence and this KMS's own: its trust root, fixed
 * collateral or the PCCS client (source is filled and must outlive pol), now. */
static void caller_policy(kg_ratls_policy *pol, kg_ratls_collateral_source *source, kms *k)
{
    *source =
        (kg_ratls_collateral_source){.ctx = k, .get = pccs_collateral, .verified = pccs_verified};
    *pol = (kg_ratls_policy){.verifier = g_verifier, .now = (uint64_t)time(NULL)};
    if (g_collateral.len > 0) {
        pol->collateral_json = (const char *)g_collateral.data;
        pol->collateral_len = g_collateral.len;
    } else {
        pol->collateral = source;
    }
}

kg_result kms_attest_peer(void *ctx, kg_ratls_identity *out, const uint8_t *der, size_t der_len,
                          const kg_ratls_handshake_cert *tls_cert)
{
    kg_ratls_collateral_source source;
    kg_ratls_policy pol;
    caller_policy(&pol, &source, ctx);
    /* One implementation of RA-TLS verification for the project (ratls.h): binding, validity,
     * full DCAP, event log replay, app id consistency, identity and measurements; the
     * certificate's own signature too unless the handshake already proved every byte of it. */
    return tls_cert != NULL ? kg_ratls_verify_handshake_cert(out, tls_cert, &pol)
                            : kg_ratls_verify_cert(out, der, der_len, &pol);
}

kg_result kms_attest_csr(void *ctx, kg_ratls_identity *out, const uint8_t *csr, size_t csr_len,
                         const uint8_t *sig, size_t sig_len)
{
    kg_ratls_collateral_source source;
    kg_ratls_policy pol;
    caller_policy(&pol, &source, ctx);
    kg_csr_v2 *parsed = malloc(sizeof(*parsed));
    KG_ENSURE(parsed != NULL, KG_ERR_NOMEM, "out of memory");
    /* the CSR's key signed it, the embedded attestation binds that key, then as a certificate's
     * evidence: full DCAP, runtime events replayed to RTMR3, identity and measurements */
    kg_result rc = kg_csr_v2_verify(parsed, out, csr, csr_len, sig, sig_len, &pol);
    kg_csr_v2_free(parsed);
    free(parsed);
    return rc;
}

kg_result kms_attest_seal_key(uint8_t out[KG_TEE_SEAL_KEY_LEN])
{
    KG_ENSURE(g_tee != NULL, KG_ERR_USAGE, "TEE not opened");
    pthread_mutex_lock(&g_tee_lock);
    kg_result rc = kg_tee_seal_key(g_tee, out, KG_SEALED_TEE_LABEL);
    pthread_mutex_unlock(&g_tee_lock);
    return rc;
}

kg_result kms_attest_quote(kg_buf *quote, kg_buf *eventlog, const kms *k,
                           const uint8_t report_data[64])
{
    KG_ENSURE(g_tee != NULL, KG_ERR_USAGE, "TEE not opened");
    kg_eventlog log;
    kg_eventlog_init(&log);
    pthread_mutex_lock(&g_tee_lock);
    kg_result rc = kg_tee_get_quote(g_tee, quote, report_data);
    if (kg_ok(rc))
        rc = kg_tee_read_eventlog(g_tee, &log);
    pthread_mutex_unlock(&g_tee_lock);
    if (kg_ok(rc))
        rc = kg_eventlog_to_json(eventlog, &log);
    kg_eventlog_free(&log);
    return rc;
}

kg_result kms_attest_evidence(kg_boot_identity *out, kms *k, const uint8_t *quote, size_t quote_len,
                              const uint8_t *eventlog, size_t eventlog_len,
                              const uint8_t report_data[64])
{
    memset(out, 0, sizeof(*out));
    kg_ratls_collateral_source source;
    kg_ratls_policy pol;
    caller_policy(&pol, &source, k);
    kg_ratls_identity *id = malloc(sizeof(*id));
    KG_ENSURE(id != NULL, KG_ERR_NOMEM, "out of memory");
    /* the same producer as for callers (ratls.h): DCAP with this KMS's trust root and
     * collateral, the event log replayed to RTMR3, the identity the KMS measured before any
     * quote (identity.c) */
    kg_result rc = kg_ratls_verify_quote_evidence(id, report_data, quote, quote_len,
                                                  (const char *)eventlog, eventlog_len, &pol);
    if (kg_ok(rc))
        *out = id->boot;
    free(id);
    return rc;
}

kg_result kms_attest_self(kg_boot_identity *out, kms *k)
{
    memset(out, 0, sizeof(*out));
    uint8_t rd[64];
    static const char domain[] = "keygate-kms-self-check";
    KG_GUARD(kg_sha512(rd, domain, sizeof(domain) - 1));
    kg_result rc = KG_ERROR;
    kg_buf quote, evjson;
    kg_buf_init(&quote, KG_MAX_QUOTE_LEN);
    kg_buf_init(&evjson, KG_MAX_EVENTLOG_JSON_LEN);
    KG_GUARD_C(kms_attest_quote(&quote, &evjson, k, rd));
    KG_GUARD_CTX_C(kms_attest_evidence(out, k, quote.data, quote.len, evjson.data, evjson.len, rd),
                   "own quote");
    rc = KG_OK;
cleanup:
    kg_buf_free(&quote);
    kg_buf_free(&evjson);
    return rc;
}

/* The simulator's test root (trust_root.sim_ca_file): one PEM certificate. */
#define KMS_MAX_SIM_ROOT_PEM (64u * 1024u)

/* Opens the TEE and the DCAP verifier named by the config. */
kg_result kms_attest_init(kms *k)
{
    kg_buf_init(&g_collateral, KG_MAX_COLLATERAL_LEN + 1);
    if (k->cfg.collateral_file[0] != '\0') {
        KG_GUARD_CTX(kg_file_read(&g_collateral, k->cfg.collateral_file, KG_MAX_COLLATERAL_LEN),
                     "collateral_file");
    }
    if (k->cfg.tee == KG_KMS_TEE_SIM)
        KG_GUARD_CTX(kg_tee_open_sim(&g_tee, k->cfg.sim_dir, k->cfg.sim_vm), "opening the TEE");
    else
        KG_GUARD_CTX(kg_tee_open_linux(&g_tee, NULL), "opening the TEE");
    KG_GUARD_CTX(kg_pccs_client_new(&g_pccs, &KG_PCCS_SERVER_LIMITS, NULL), "PCCS client");
    /* Before any quote: every quote this KMS makes carries its identity (identity.c). */
    KG_GUARD_CTX(kms_identity_measure(k, g_tee), "KMS identity");
    if (k->cfg.trust_root == KG_KMS_TRUST_INTEL) {
        KG_GUARD(kg_dcap_verifier_new(&g_verifier, NULL, 0));
        return KG_OK;
    }
    /* The simulator's test root: only ever from the operator's config file. */
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_SIM_ROOT_PEM);
    kg_result read = kg_file_read(&pem, k->cfg.sim_root_ca, KMS_MAX_SIM_ROOT_PEM);
    BIO *bio = kg_ok(read) ? BIO_new_mem_buf(pem.data, (int)pem.len) : NULL;
    X509 *root = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    kg_buf_free(&pem);
    KG_GUARD_CTX(read, "trust_root.sim_ca_file");
    KG_ENSURE_OSSL(root != NULL, KG_ERR_INPUT, "'%s' is not a PEM certificate", k->cfg.sim_root_ca);
    unsigned char *der = NULL;
    int n = i2d_X509(root, &der);
    X509_free(root);
    KG_ENSURE_OSSL(n > 0, KG_ERR_INPUT, "'%s': encoding", k->cfg.sim_root_ca);
    kg_result rc = kg_dcap_verifier_new(&g_verifier, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

void kms_attest_free(void)
{
    kg_pccs_client_free(g_pccs);
    g_pccs = NULL;
    kg_buf_free(&g_collateral);
    kg_dcap_verifier_free(g_verifier);
    kg_tee_free(g_tee);
    g_verifier = NULL;
    g_tee = NULL;
}

kg_result kms_attest_client_cert(kg_p256_key **key, X509 **cert, const kms *k)
{
    *key = NULL;
    *cert = NULL;
    KG_ENSURE(g_tee != NULL, KG_ERR_USAGE, "TEE not opened");
    kg_buf der;
    kg_buf_init(&der, KG_MAX_RATLS_CERT_LEN);
    kg_result rc = KG_ERROR;
    KG_GUARD_C(kg_p256_generate(key));
    kg_ratls_cert_opts opts = {.common_name = "keygate KMS (onboarding)",
                               .usage = KG_RATLS_USAGE_KMS_RPC};
    pthread_mutex_lock(&g_tee_lock);
    rc = kg_ratls_cert_new(&der, g_tee, *key, &opts);
    pthread_mutex_unlock(&g_tee_lock);
    KG_GUARD_C(rc);
    rc = KG_ERROR;
    const unsigned char *p = der.data;
    *cert = d2i_X509(NULL, &p, (long)der.len);
    KG_ENSURE_OSSL_C(*cert != NULL, KG_ERR_CRYPTO, "RA-TLS certificate");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        kg_p256_free(*key);
        *key = NULL;
    }
    kg_buf_free(&der);
    return rc;
}

/* This run's server certificate: a fresh P-256 key, certified by the root CA, with usage
 * "kms:rpc" and the KMS's own RA-TLS attestation binding that key (docs/protocol.md section 4). */
kg_result kms_attest_server_cert(kms *k)
{
    kg_result rc = KG_ERROR;
    kg_buf quote, evjson;
    kg_buf_init(&quote, KG_MAX_QUOTE_LEN);
    kg_buf_init(&evjson, KG_MAX_EVENTLOG_JSON_LEN);
    uint8_t rd[64];
    KG_GUARD_C(kg_p256_generate(&k->tls_key));
    KG_GUARD_C(kg_ratls_key_report_data(rd, k->tls_key));
    KG_GUARD_CTX_C(kms_attest_quote(&quote, &evjson, k, rd), "server certificate attestation");
    /* the names a client may have been given for this KMS (tls.server_names), so one that
     * checks the host name of https://<name>:<port> (dstack's guest does) accepts it */
    const char *names[KG_KMS_MAX_SERVER_NAMES];
    for (uint32_t i = 0; i < k->cfg.n_server_names; i++)
        names[i] = k->cfg.server_names[i];
    kg_kms_cert_spec spec = {.common_name = "keygate KMS",
                             .server_auth = true,
                             .days = 365,
                             .alt_names = names,
                             .n_alt_names = k->cfg.n_server_names,
                             .usage = "kms:rpc",
                             .quote = quote.data,
                             .quote_len = quote.len,
                             .eventlog = evjson.data,
                             .eventlog_len = evjson.len};
    KG_GUARD_C(kg_kms_x509_issue(&k->tls_cert, kg_p256_evp(k->tls_key), &spec,
                                 kg_p256_evp(k->root_ca_key), k->root_ca_cert));
    rc = KG_OK;
cleanup:
    kg_buf_free(&quote);
    kg_buf_free(&evjson);
    return rc;
}

kg_result kms_attest_metrics(kg_buf *b)
{
    kg_pccs_stats st = {0};
    if (g_pccs != NULL)
        kg_pccs_client_stats(g_pccs, &st);
    return kg_buf_printf(
        b,
        "# HELP keygate_kms_pccs_fetches_total Collateral fetches from the PCCS (4 GETs each).\n"
        "# TYPE keygate_kms_pccs_fetches_total counter\nkeygate_kms_pccs_fetches_total %llu\n"
        "# HELP keygate_kms_pccs_fetch_failures_total Fetches that failed or were already stale.\n"
        "# TYPE keygate_kms_pccs_fetch_failures_total counter\n"
        "keygate_kms_pccs_fetch_failures_total %llu\n"
        "# HELP keygate_kms_pccs_fetches_waited_total Requests that waited for another's fetch "
        "of the same platform.\n"
        "# TYPE keygate_kms_pccs_fetches_waited_total counter\n"
        "keygate_kms_pccs_fetches_waited_total %llu\n"
        "# HELP keygate_kms_pccs_fetches_refused_total Fetches not made because of a limit "
        "(backoff after a failure, fetches per second, table full); the request was unavailable.\n"
        "# TYPE keygate_kms_pccs_fetches_refused_total counter\n"
        "keygate_kms_pccs_fetches_refused_total{limit=\"backoff\"} %llu\n"
        "keygate_kms_pccs_fetches_refused_total{limit=\"rate\"} %llu\n"
        "keygate_kms_pccs_fetches_refused_total{limit=\"table\"} %llu\n"
        "# HELP keygate_kms_pccs_platforms Platforms (FMSPCs) in the PCCS client's table.\n"
        "# TYPE keygate_kms_pccs_platforms gauge\nkeygate_kms_pccs_platforms %u\n"
        "# HELP keygate_kms_pccs_chain_hits_total Quotes whose collateral was found by the exact "
        "bytes of a PCK chain that verified with it (no parse of the chain).\n"
        "# TYPE keygate_kms_pccs_chain_hits_total counter\n"
        "keygate_kms_pccs_chain_hits_total %llu\n",
        (unsigned long long)st.fetches, (unsigned long long)st.fetch_failures,
        (unsigned long long)st.waited, (unsigned long long)st.refused_backoff,
        (unsigned long long)st.refused_rate, (unsigned long long)st.refused_table, st.platforms,
        (unsigned long long)st.chain_hits);
}
