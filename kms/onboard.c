/* onboard.c - a replica receiving the root keys from a running KMS of its deployment (--onboard,
 * docs/protocol.md section 7 flow 6). Whether the source is a KMS of this deployment is decided by
 * the decision core (lib/kms/decision.c) exactly as a KMS's server decides about a KMS caller of
 * GetKmsKey, through the same adapters:
 *
 *   TLS handshake with the source, its server certificate -> kg_kms_decide (caller: KMS):
 *     attestation verified into an identity (kms_attest_peer) -> it measured the KMS contract
 *     as its app id -> isKmsAllowed at one resolved block (kms_policy_ask)
 *   [only then is GetKmsKey sent, with this node's own RA-TLS client certificate]
 *   the received root keys -> kg_kms_check_root_keys: kmsInfo at that same block
 *     (kms_policy_root_keys) -> every root epoch checked on chain at that block (epochs.c)
 *   -> the keys stay in memory; kms_keys_init seals them for this VM.
 *
 * Every refusal names the check ("onboarding denied: <check>: <detail>"); nothing is written
 * before every check passed. This node serves nothing yet, so its own standing is not asked, and
 * its decision log is not open yet: the decisions are logged (stderr), not audited. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "keygate/https.h"
#include "keygate/kms_x509.h"
#include "keygate/slog.h"
#include "kms.h"

#define KMS_ONBOARD_METHOD "onboarding"
#define KMS_MAX_GETKMSKEY_REPLY (1u << 20)

/* ---- the decision core's operations for a replica -------------------------------------------- */

/* The decision log of this node is not open before it has keys: a decision goes to the log. */
static kg_result onboard_record(void *ctx, const kg_audit_record *r, uint64_t *leaf)
{
    (void)ctx;
    *leaf = UINT64_MAX;
    if (r->block_number >= 0)
        kg_slog(r->allowed ? KG_SLOG_INFO : KG_SLOG_WARN, "onboarding: %s at block %lld: %s",
                r->allowed ? "allowed" : "refused", (long long)r->block_number,
                r->reason ? r->reason : "");
    else
        kg_slog(r->allowed ? KG_SLOG_INFO : KG_SLOG_WARN, "onboarding: %s: %s",
                r->allowed ? "allowed" : "refused", r->reason ? r->reason : "");
    return KG_OK;
}

/* A node being onboarded serves nothing: its own standing does not enter its decision. */
static bool onboard_self_allowed(void *ctx, char *reason, size_t n)
{
    (void)ctx;
    (void)reason;
    (void)n;
    return true;
}

static void onboard_ops(kg_kms_ops *out, kms *k)
{
    *out = (kg_kms_ops){.ctx = k,
                        .attest = kms_attest_peer,
                        .govern = kms_policy_ask,
                        .record = onboard_record,
                        .self_allowed = onboard_self_allowed,
                        .root_keys = kms_policy_root_keys};
}

/* One onboarding: the request the decision is about and, once the handshake decided, the
 * decision (the source's identity and the verdict with its block). */
typedef struct onboarding {
    kms *k;
    kg_kms_request req;
    kg_kms_decision *d;
    bool decided;
} onboarding;

/* The source KMS must prove, during the handshake and before anything is sent, that it is a KMS
 * of this deployment: the decision about a KMS caller (kg_kms_decide), on its server
 * certificate. */
static kg_result check_source(void *arg, X509 *peer, STACK_OF(X509) * chain)
{
    (void)chain; /* no chain: the source is known by its attestation (https.h, no anchor) */
    onboarding *o = arg;
    /* handed over by the HTTPS client's callback, not as a handshake's (ratls.h): the DER only,
     * so the certificate is fully checked, its own signature included */
    unsigned char *der = NULL;
    int len = i2d_X509(peer, &der);
    KG_ENSURE_OSSL(len > 0, KG_ERR_INPUT, "source KMS: its certificate cannot be encoded");
    kg_kms_ops ops;
    onboard_ops(&ops, o->k);
    o->req.cert_der = der;
    o->req.cert_len = (size_t)len;
    kg_result rc = kg_kms_decide(o->d, &ops, &o->req);
    o->req.cert_der = NULL;
    o->req.cert_len = 0;
    OPENSSL_free(der);
    o->decided = kg_ok(rc);
    return rc;
}

/* ---- the keys received ---------------------------------------------------------------------- */

/* A PEM certificate that must certify exactly `key`. */
static kg_result x509_from_pem_checked(X509 **out, const char *pem, EVP_PKEY *key)
{
    KG_GUARD(kg_kms_x509_from_pem(out, pem, strlen(pem)));
    KG_ENSURE(X509_check_private_key(*out, key) == 1, KG_ERR_VERIFY,
              "certificate does not match the root CA key");
    return KG_OK;
}

/* The GetKmsKey URL of --onboard SOURCE: "HOST:PORT" (a name or an address) or an https://
 * URL. */
static kg_result source_url(char *out, size_t n, const char *source)
{
    bool is_url = strncmp(source, "https://", 8) == 0;
    const char *hostport = is_url ? source + 8 : source;
    size_t len = strlen(hostport);
    while (len > 0 && hostport[len - 1] == '/')
        len--;
    const char *colon = memchr(hostport, ':', len);
    KG_ENSURE(len > 0 && memchr(hostport, '/', len) == NULL && strpbrk(hostport, " ?#@") == NULL &&
                  (is_url || (colon != NULL && colon != hostport && colon[1] != '\0')),
              KG_ERR_USAGE, "--onboard '%s' is not HOST:PORT or https://HOST:PORT", source);
    int w = snprintf(out, n, "https://%.*s/prpc/GetKmsKey?json", (int)len, hostport);
    KG_ENSURE(w > 0 && (size_t)w < n, KG_ERR_USAGE, "--onboard '%.100s' is too long", source);
    return KG_OK;
}

/* Whether onboarding is needed at all: not when state_dir holds an earlier version's plaintext
 * keys (sealed next) or sealed keys this VM opens that include the chain's current root epoch. */
static kg_result needs_keys(bool *needed, kms *k)
{
    char ca_key[KG_KMS_PATH_MAX + 32], k256[KG_KMS_PATH_MAX + 32], sealed[KG_KMS_PATH_MAX + 32];
    *needed = false;
    KG_GUARD(kms_state_path(ca_key, sizeof(ca_key), k, "root-ca.key"));
    KG_GUARD(kms_state_path(k256, sizeof(k256), k, "root-k256.key"));
    KG_GUARD(kms_seal_path(sealed, sizeof(sealed), k));
    if (kms_state_exists(ca_key) || kms_state_exists(k256)) {
        kg_slog(KG_SLOG_INFO, "state_dir holds plaintext root keys (they are sealed next); not "
                              "onboarding");
        return KG_OK;
    }
    if (kms_state_exists(sealed)) {
        /* A restart: if this VM can open its own sealed keys, there is nothing to fetch. On TDX
         * (no sealing key) or in another VM it cannot, and the peer's keys are sealed anew. */
        if (kg_ok(kms_epochs_unseal(k))) {
            /* ... unless they lack the root epoch now current on chain (activated while this
             * node was down): then the source's epochs are fetched */
            uint32_t cur = 0;
            bool lacks = false;
            kg_result lr = k->cfg.policy == KG_KMS_POLICY_ETH
                               ? kms_epochs_lack_current(&lacks, &cur, k)
                               : KG_OK;
            kms_epochs_free(k);
            kg_kdf_root_keys_wipe(&k->root);
            KG_GUARD_CTX(lr, "checking the sealed root epochs against the chain");
            if (!lacks) {
                kg_slog(KG_SLOG_INFO, "the sealed root keys open in this VM; not onboarding");
                return KG_OK;
            }
            kg_slog(KG_SLOG_WARN,
                    "the sealed root keys lack root epoch %u, current on chain; onboarding",
                    (unsigned)cur);
        } else {
            kg_slog(KG_SLOG_WARN, "the sealed root keys do not open here (%s); onboarding",
                    kg_error_message());
            kg_error_clear();
        }
    }
    *needed = true;
    return KG_OK;
}

/* The public fingerprints of what was received, for the allowed decision's log line. */
static kg_result received_json(char *out, size_t n, const uint8_t k256_pub[KG_K256_PUB_LEN],
                               const kms *k)
{
    char hex[KG_HEX_SIZE(KG_K256_PUB_LEN)];
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), k256_pub, KG_K256_PUB_LEN));
    int w = snprintf(out, n, "{\"k256_pubkey\":\"%s\",\"root_epochs\":%zu,\"current\":%u}", hex,
                     k->n_epochs, (unsigned)k->serving_epoch);
    KG_ENSURE(w > 0 && (size_t)w < n, KG_ERR_INTERNAL, "onboarding: fingerprints too long");
    return KG_OK;
}

kg_result kms_onboard(kms *k, const char *source)
{
    char url[KG_HTTPS_MAX_URL];
    KG_GUARD(source_url(url, sizeof(url), source));
    bool needed = false;
    KG_GUARD(needs_keys(&needed, k));
    if (!needed)
        return KG_OK;
    KG_ENSURE(k->cfg.policy == KG_KMS_POLICY_ETH, KG_ERR_USAGE,
              "--onboard needs policy.backend 'eth': the received root keys are checked against "
              "the KMS info on chain");
    kg_result rc = KG_ERROR;
    kg_p256_key *id_key = NULL;
    X509 *id_cert = NULL;
    kg_buf resp, spki, id_cert_pem, id_key_pem;
    kg_buf_init(&id_cert_pem, 64u * 1024u);
    kg_buf_init(&id_key_pem, 4096);
    kg_buf_init(&resp, KMS_MAX_GETKMSKEY_REPLY);
    kg_buf_init(&spki, 4096);
    json_t *doc = NULL;
    kg_p256_key *ca = NULL;
    uint8_t scalar[KG_K256_SCALAR_LEN], k256_pub[KG_K256_PUB_LEN];
    char released[256];
    X509 *cert = NULL;
    long status = 0;
    kg_kms_ops ops;
    onboard_ops(&ops, k);
    onboarding o = {.k = k,
                    .req = {.method = KMS_ONBOARD_METHOD,
                            .peer = source,
                            .caller = KG_KMS_CALLER_KMS,
                            .kms_role = "source KMS",
                            .kms_app_id = kms_identity_app_id(k)},
                    .d = calloc(1, sizeof(kg_kms_decision))};
    KG_ENSURE_C(o.d != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_CTX_C(kms_attest_client_cert(&id_key, &id_cert, k), "onboarding certificate");
    KG_GUARD_C(kg_kms_x509_pem(&id_cert_pem, id_cert));
    KG_GUARD_C(kg_p256_private_pem(&id_key_pem, id_key));
    /* The source is decided about during the handshake, before the request is sent. */
    kg_https_request rq = {.url = url,
                           .body = "{}",
                           .timeout_ms = (long)k->cfg.policy_timeout_ms * 4,
                           .cert_pem = (const char *)id_cert_pem.data,
                           .key_pem = (const char *)id_key_pem.data,
                           .verify_server = check_source,
                           .verify_ctx = &o};
    KG_GUARD_CTX_C(kg_https_post(&resp, &status, &rq), "GetKmsKey from %s", source);
    KG_ENSURE_C(o.decided, KG_ERR_INTERNAL, "GetKmsKey from %s: the source was not decided about",
                source);
    KG_ENSURE_C(status == 200, KG_ERR_DENIED, "GetKmsKey from %s: HTTP %ld: %.300s", source, status,
                resp.data ? (const char *)resp.data : "");
    json_error_t jerr;
    doc = json_loadb((const char *)resp.data, resp.len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *entry = json_array_get(json_object_get(doc, "keys"), 0);
    const char *pem = json_string_value(json_object_get(entry, "ca_key"));
    const char *khex = json_string_value(json_object_get(entry, "k256_key"));
    KG_ENSURE_C(pem != NULL && khex != NULL, KG_ERR_INPUT,
                "GetKmsKey from %s: reply has no keys[0].ca_key / k256_key", source);
    KG_GUARD_CTX_C(kg_p256_from_pem(&ca, pem, strlen(pem)), "GetKmsKey: ca_key");
    KG_GUARD_CTX_C(kg_hex_decode_exact(scalar, sizeof(scalar), khex), "GetKmsKey: k256_key");
    KG_GUARD_CTX_C(kg_k256_check_scalar(scalar), "GetKmsKey: k256_key");
    /* The keys must be the ones the chain names, at the block the source was decided at. */
    KG_GUARD_C(kg_k256_public(k256_pub, scalar));
    KG_GUARD_C(kg_p256_spki_der(&spki, ca));
    KG_GUARD_CTX_C(kg_kms_check_root_keys(&ops, &o.req, o.d, k256_pub, spki.data, spki.len),
                   "GetKmsKey from %s; refusing to onboard", source);
    const char *ca_pem = json_string_value(json_object_get(doc, "ca_cert"));
    if (ca_pem != NULL) /* keep the very same root CA certificate as the source node */
        KG_GUARD_CTX_C(x509_from_pem_checked(&cert, ca_pem, kg_p256_evp(ca)), "GetKmsKey: ca_cert");
    /* The keys are the chain's: they stay in memory and kms_keys_init seals them for this VM;
     * only the public root CA certificates are written here (this one, then the epochs'). */
    if (mkdir(k->cfg.state_dir, 0700) != 0 && errno != EEXIST)
        KG_BAIL_C(KG_ERR_IO, "cannot create state_dir '%s': %s", k->cfg.state_dir, strerror(errno));
    if (cert != NULL)
        KG_GUARD_C(kms_state_save_root_ca_cert(k, 0, cert));
    KG_GUARD_C(kg_p256_scalar(k->root.ca_scalar, ca));
    memcpy(k->root.k256_scalar, scalar, KG_K256_SCALAR_LEN);
    /* beyond dstack: every live root epoch, each checked against the chain at the same block
     * (epochs.c); a source from before epochs sends keys[0] only, which is epoch 0 */
    json_t *epochs = json_object_get(doc, "epochs");
    if (epochs != NULL) {
        KG_GUARD_C(kms_epochs_adopt(k, epochs, source, &ops, &o.req, &o.d->verdict));
        const kms_epoch *cur = kms_epoch_current(k);
        KG_ENSURE_C(kg_ct_equal(&cur->root, &k->root, sizeof(k->root)), KG_ERR_DENIED,
                    "GetKmsKey from %s: keys[0] is not its current root epoch; refusing to "
                    "onboard",
                    source);
    } else {
        KG_GUARD_C(kms_epochs_single(k));
    }
    KG_GUARD_C(received_json(released, sizeof(released), k256_pub, k));
    KG_GUARD_C(kg_kms_record_release(&ops, &o.req, o.d, released, NULL));
    k->root_in_memory = true;
    kg_slog(KG_SLOG_INFO, "onboarded root keys from %s (they match the KMS info on chain)", source);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc) && k->n_epochs > 0) /* nothing received is kept */
        kms_epochs_free(k);
    if (kg_failed(rc))
        kg_kdf_root_keys_wipe(&k->root);
    kg_memzero(scalar, sizeof(scalar));
    X509_free(cert);
    kg_p256_free(ca);
    json_decref(doc); /* jansson does not wipe: the key text lived in its heap briefly */
    kg_buf_free(&resp);
    kg_buf_free(&spki);
    kg_buf_free(&id_cert_pem);
    kg_buf_free(&id_key_pem); /* wipes */
    X509_free(id_cert);
    kg_p256_free(id_key);
    free(o.d);
    return rc;
}
