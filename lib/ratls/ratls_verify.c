/* ratls_verify.c - verifying an RA-TLS certificate into a boot identity, its JSON form, and the
 * OpenSSL TLS contexts that check a peer's RA-TLS certificate after the handshake. */
#include "keygate/ratls.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/hash.h"
#include "ratls/ratls_internal.h"

static kg_result fetch_collateral(char **owned, const char **json, size_t *len,
                                  const kg_ratls_policy *pol, const uint8_t *quote,
                                  size_t quote_len, const kg_quote *parsed, uint64_t now)
{
    *owned = NULL;
    if (pol->collateral_json != NULL) {
        *json = pol->collateral_json;
        *len = pol->collateral_len;
        return KG_OK;
    }
    if (pol->collateral != NULL) {
        KG_GUARD(
            pol->collateral->get(pol->collateral->ctx, owned, len, parsed, quote, quote_len, now));
        *json = *owned;
        return KG_OK;
    }
    KG_ENSURE(pol->pccs_url != NULL, KG_ERR_USAGE,
              "RA-TLS policy has neither collateral nor a PCCS URL");
    KG_GUARD_CTX(kg_pccs_get_collateral(owned, len, pol->pccs_url, quote, quote_len,
                                        pol->pccs_cache_dir, now),
                 "fetching collateral from '%s'", pol->pccs_url);
    *json = *owned;
    return KG_OK;
}

/* The checks of a certificate's own fields, then its evidence. ev is the parse's result (rc);
 * own_signature: whether a self-issued certificate's signature must verify (false only for a
 * certificate received in a completed TLS 1.3 handshake, parsed by kg_ratls_parse_x509_fields). */
static kg_result verify_parsed(kg_ratls_identity *out, kg_result parsed, kg_ratls_evidence *ev,
                               const kg_ratls_policy *pol, bool own_signature)
{
    kg_result rc = KG_ERROR;
    memset(out, 0, sizeof(*out));
    KG_ENSURE_C(pol != NULL && pol->verifier != NULL, KG_ERR_USAGE,
                "RA-TLS policy needs a verifier");
    uint64_t now = pol->now ? pol->now : (uint64_t)time(NULL);
    KG_GUARD_CTX_C(parsed, "RA-TLS certificate");
    KG_ENSURE_C(now >= ev->not_before && now <= ev->not_after, KG_ERR_EXPIRED,
                "RA-TLS certificate is outside its validity window");
    KG_ENSURE_C(!own_signature || !ev->self_issued || ev->self_signature_ok, KG_ERR_VERIFY,
                "RA-TLS certificate's self-signature does not verify");
    KG_GUARD_C(kg_ratls_verify_evidence(out, ev, pol, now));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    kg_ratls_evidence_free(ev);
    return rc;
}

kg_result kg_ratls_verify_cert(kg_ratls_identity *out, const uint8_t *der, size_t der_len,
                               const kg_ratls_policy *pol)
{
    kg_ratls_evidence ev;
    kg_result parsed = kg_ratls_parse_cert(&ev, der, der_len);
    return verify_parsed(out, parsed, &ev, pol, true);
}

kg_result kg_ratls_verify_x509(kg_ratls_identity *out, X509 *cert, const kg_ratls_policy *pol)
{
    kg_ratls_evidence ev;
    kg_result parsed = kg_ratls_parse_x509(&ev, cert);
    return verify_parsed(out, parsed, &ev, pol, true);
}

/* ---- a certificate received in a TLS 1.3 handshake (ratls.h) -------------------------------- */

struct kg_ratls_handshake_cert {
    X509 *cert; /* owned reference: the leaf of the handshake's Certificate message */
};

kg_result kg_ratls_handshake_cert_take(kg_ratls_handshake_cert **out, const SSL *ssl)
{
    *out = NULL;
    KG_ENSURE(ssl != NULL, KG_ERR_USAGE, "no TLS connection");
    /* The server's handshake ends with the client's Finished, after its Certificate and
     * CertificateVerify; the client's with the server's Finished, after the same two. */
    KG_ENSURE(SSL_is_init_finished(ssl) == 1, KG_ERR_USAGE, "the TLS handshake is not complete");
    KG_ENSURE(SSL_version(ssl) == TLS1_3_VERSION, KG_ERR_USAGE, "the handshake is not TLS 1.3 (%s)",
              SSL_get_version(ssl));
    /* a resumed session carries the certificate of an earlier handshake, unsigned in this one */
    KG_ENSURE(SSL_session_reused(ssl) == 0, KG_ERR_USAGE,
              "the TLS session was resumed: its certificate was not presented in this handshake");
    X509 *peer = SSL_get1_peer_certificate(ssl);
    KG_ENSURE(peer != NULL, KG_ERR_DENIED, "peer presented no certificate");
    kg_ratls_handshake_cert *hc = malloc(sizeof(*hc));
    if (hc == NULL) {
        X509_free(peer);
        KG_BAIL(KG_ERR_NOMEM, "out of memory");
    }
    hc->cert = peer;
    *out = hc;
    return KG_OK;
}

void kg_ratls_handshake_cert_free(kg_ratls_handshake_cert *hc)
{
    if (hc == NULL)
        return;
    X509_free(hc->cert);
    free(hc);
}

X509 *kg_ratls_handshake_cert_x509(const kg_ratls_handshake_cert *hc)
{
    return hc->cert;
}

kg_result kg_ratls_verify_handshake_cert(kg_ratls_identity *out, const kg_ratls_handshake_cert *hc,
                                         const kg_ratls_policy *pol)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(hc != NULL, KG_ERR_USAGE, "no handshake certificate");
    kg_ratls_evidence ev;
    kg_result parsed = kg_ratls_parse_x509_fields(&ev, hc->cert);
    return verify_parsed(out, parsed, &ev, pol, false);
}

kg_result kg_ratls_verify_key_evidence(kg_ratls_identity *out, const uint8_t *spki, size_t spki_len,
                                       const uint8_t *quote, size_t quote_len,
                                       const char *eventlog_json, size_t eventlog_len,
                                       const kg_ratls_policy *pol)
{
    kg_ratls_evidence ev;
    kg_ratls_evidence_init(&ev);
    memset(out, 0, sizeof(*out));
    KG_ENSURE(pol != NULL && pol->verifier != NULL, KG_ERR_USAGE, "RA-TLS policy needs a verifier");
    kg_result rc = kg_buf_append(&ev.spki, spki, spki_len);
    if (kg_ok(rc))
        rc = kg_buf_append(&ev.quote, quote, quote_len);
    if (kg_ok(rc))
        rc = kg_buf_append(&ev.eventlog, eventlog_json, eventlog_len);
    if (kg_ok(rc))
        rc = kg_buf_terminate(&ev.eventlog);
    if (kg_ok(rc))
        rc = kg_ratls_verify_evidence(out, &ev, pol, pol->now ? pol->now : (uint64_t)time(NULL));
    kg_ratls_evidence_free(&ev);
    return rc;
}

/* The one producer of a kg_boot_identity (identity.h): identity events from the replayed log,
 * measurements from the verified quote, device and TCB from DCAP. The caps are the DCAP
 * verifier's, so a verified report always fits; a count over them is an error, never cut. */
static kg_result boot_identity(kg_boot_identity *out, const kg_dcap_report *rep,
                               const kg_boot_events *be)
{
    _Static_assert(sizeof(out->tcb_status) == sizeof(rep->status), "one cap for the TCB status");
    _Static_assert(sizeof(out->advisory_ids) == sizeof(rep->advisory_ids),
                   "one cap for the advisory ids");
    const kg_td_report *td = &rep->quote.td;
    memset(out, 0, sizeof(*out));
    KG_ENSURE(rep->n_advisory_ids <= KG_MAX_ADVISORY_IDS, KG_ERR_TOO_LARGE,
              "%zu advisory ids, max %u", rep->n_advisory_ids, KG_MAX_ADVISORY_IDS);
    KG_ENSURE(rep->has_ppid, KG_ERR_VERIFY, "PCK certificate carries no PPID (no device id)");
    out->has_app_id = be->has_app_id;
    memcpy(out->app_id, be->app_id, KG_APP_ID_LEN);
    out->has_compose_hash = be->has_compose_hash;
    memcpy(out->compose_hash, be->compose_hash, KG_COMPOSE_HASH_LEN);
    out->instance_id_len = be->instance_id_len;
    memcpy(out->instance_id, be->instance_id, KG_INSTANCE_ID_LEN);
    KG_GUARD(kg_sha256(out->device_id, rep->ppid, sizeof(rep->ppid)));
    out->has_device_id = true;
    KG_GUARD(kg_measure_os_image_hash(out->os_image_hash, td->mrtd, td->rtmr));
    KG_GUARD(kg_measure_mr_system(out->mr_system, td->mrtd, td->rtmr,
                                  be->has_key_provider ? be->key_provider : NULL,
                                  be->has_key_provider ? be->key_provider_len : 0));
    KG_GUARD(kg_measure_mr_aggregated(out->mr_aggregated, td->mrtd, td->rtmr, td->mr_config_id,
                                      td->mr_owner, td->mr_owner_config));
    memcpy(out->tcb_status, rep->status, sizeof(out->tcb_status));
    out->n_advisory_ids = rep->n_advisory_ids;
    memcpy(out->advisory_ids, rep->advisory_ids, sizeof(out->advisory_ids));
    return KG_OK;
}

/* Parses a quote into rep->quote and requires TDX: the first, cheap step of every verification
 * (the caller then checks REPORTDATA against what it binds). */
static kg_result parse_tdx(kg_dcap_report *rep, const uint8_t *quote, size_t quote_len)
{
    KG_GUARD_CTX(kg_quote_parse(&rep->quote, quote, quote_len), "RA-TLS quote");
    KG_ENSURE(rep->quote.body_type == KG_BODY_TD10 || rep->quote.body_type == KG_BODY_TD15,
              KG_ERR_DENIED, "RA-TLS quote is not a TDX quote");
    return KG_OK;
}

/* The steps after the binding, for a TDX quote parsed into rep->quote whose REPORTDATA the
 * caller found to be want_rd: DCAP under pol (a collateral source is told what verified), the
 * event log replayed to RTMR3, the boot events (into *be) and the identity with the
 * measurements (into *out, valid_until the DCAP verdict's). */
static kg_result verify_bound(kg_ratls_identity *out, kg_boot_events *be, kg_dcap_report *rep,
                              const uint8_t *quote, size_t quote_len, const char *eventlog,
                              size_t eventlog_len, const uint8_t want_rd[64],
                              const kg_ratls_policy *pol, uint64_t now)
{
    kg_result rc = KG_ERROR;
    kg_eventlog log;
    char *owned_coll = NULL;
    const char *coll = NULL;
    size_t coll_len = 0;
    kg_eventlog_init(&log);

    /* the quote, fully (DCAP) */
    KG_GUARD_C(
        fetch_collateral(&owned_coll, &coll, &coll_len, pol, quote, quote_len, &rep->quote, now));
    KG_GUARD_CTX_C(kg_dcap_verify_parsed(pol->verifier, rep, &rep->quote, coll, coll_len, now),
                   "RA-TLS quote");
    /* the verified report must say the same (it parsed the same bytes) */
    KG_ENSURE_C(kg_ct_equal(rep->quote.td.report_data, want_rd, 64), KG_ERR_INTERNAL,
                "verified quote differs from the parsed one");
    if (pol->collateral_json == NULL && pol->collateral != NULL &&
        pol->collateral->verified != NULL)
        pol->collateral->verified(pol->collateral->ctx, &rep->quote, coll, coll_len,
                                  rep->valid_until, now);

    /* the event log must replay to RTMR3; identity only from before system-ready */
    KG_GUARD_CTX_C(kg_eventlog_parse(&log, eventlog, eventlog_len), "RA-TLS event log");
    KG_GUARD_C(kg_eventlog_check_rtmr3(&log, rep->quote.td.rtmr[3]));
    KG_GUARD_C(kg_eventlog_extract(be, &log));

    /* the identity and the evidence around it */
    const kg_td_report *td = &rep->quote.td;
    KG_GUARD_C(boot_identity(&out->boot, rep, be));
    out->has_key_provider = be->has_key_provider;
    out->key_provider_len = be->key_provider_len;
    memcpy(out->key_provider, be->key_provider, be->key_provider_len);
    out->system_ready = be->system_ready;
    memcpy(out->mrtd, td->mrtd, KG_RTMR_LEN);
    memcpy(out->rtmr, td->rtmr, sizeof(out->rtmr));
    memcpy(out->report_data, td->report_data, 64);
    out->valid_until = rep->valid_until;
    rc = KG_OK;
cleanup:
    free(owned_coll);
    kg_eventlog_free(&log);
    return rc;
}

kg_result kg_ratls_verify_evidence(kg_ratls_identity *out, const kg_ratls_evidence *ev,
                                   const kg_ratls_policy *pol, uint64_t now)
{
    kg_result rc = KG_ERROR;
    kg_boot_events be;
    kg_dcap_report *rep = NULL;
    uint8_t want_rd[64];
    memset(out, 0, sizeof(*out));
    KG_ENSURE(pol != NULL && pol->verifier != NULL, KG_ERR_USAGE, "RA-TLS policy needs a verifier");
    KG_ENSURE_C(ev->eventlog.len > 0, KG_ERR_INPUT, "RA-TLS certificate has no event log");

    /* 1. binding: the quote must be over this very key (cheap, so first) */
    rep = calloc(1, sizeof(*rep));
    KG_ENSURE_C(rep != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(parse_tdx(rep, ev->quote.data, ev->quote.len));
    KG_GUARD_C(kg_ratls_report_data(want_rd, ev->spki.data, ev->spki.len));
    KG_ENSURE_C(kg_ct_equal(rep->quote.td.report_data, want_rd, 64), KG_ERR_VERIFY,
                "RA-TLS certificate key is not bound to the quote (REPORTDATA mismatch)");
    /* .8 states the report_data too; dstack requires it to be the quote's */
    KG_ENSURE_C(!ev->has_attestation || kg_ct_equal(ev->attestation_report_data, want_rd, 64),
                KG_ERR_VERIFY, "RA-TLS attestation's report_data differs from the quote's");

    /* 2-4. DCAP, the event log, the identity */
    KG_GUARD_C(verify_bound(out, &be, rep, ev->quote.data, ev->quote.len,
                            (const char *)ev->eventlog.data, ev->eventlog.len, want_rd, pol, now));
    if (ev->has_app_id) {
        KG_ENSURE_C(be.has_app_id, KG_ERR_VERIFY,
                    "RA-TLS certificate names an app id the event log does not measure");
        KG_ENSURE_C(memcmp(be.app_id, ev->app_id, KG_APP_ID_LEN) == 0, KG_ERR_VERIFY,
                    "RA-TLS certificate app id differs from the measured app id");
    }
    out->has_usage = ev->has_usage;
    memcpy(out->usage, ev->usage, sizeof(out->usage));
    if (ev->not_after < out->valid_until)
        out->valid_until = ev->not_after;
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    free(rep);
    return rc;
}

kg_result kg_ratls_verify_quote_evidence(kg_ratls_identity *out,
                                         const uint8_t report_data[KG_REPORT_DATA_LEN],
                                         const uint8_t *quote, size_t quote_len,
                                         const char *eventlog_json, size_t eventlog_len,
                                         const kg_ratls_policy *pol)
{
    kg_result rc = KG_ERROR;
    kg_boot_events be;
    kg_dcap_report *rep = NULL;
    memset(out, 0, sizeof(*out));
    KG_ENSURE(pol != NULL && pol->verifier != NULL, KG_ERR_USAGE, "RA-TLS policy needs a verifier");
    KG_ENSURE(eventlog_len > 0, KG_ERR_INPUT, "the evidence has no event log");
    rep = calloc(1, sizeof(*rep));
    KG_ENSURE_C(rep != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(parse_tdx(rep, quote, quote_len));
    KG_ENSURE_C(kg_ct_equal(rep->quote.td.report_data, report_data, KG_REPORT_DATA_LEN),
                KG_ERR_VERIFY, "the quote's REPORTDATA is not the expected binding");
    KG_GUARD_C(verify_bound(out, &be, rep, quote, quote_len, eventlog_json, eventlog_len,
                            report_data, pol, pol->now ? pol->now : (uint64_t)time(NULL)));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    free(rep);
    return rc;
}

static kg_result put_hex(kg_buf *b, const char *key, const uint8_t *v, size_t n)
{
    KG_GUARD(kg_buf_printf(b, ",\"%s\":\"", key));
    KG_GUARD(kg_buf_reserve(b, 2 * n + 1));
    KG_GUARD(kg_hex_encode((char *)b->data + b->len, 2 * n + 1, v, n));
    b->len += 2 * n;
    return kg_buf_append_str(b, "\"");
}

/* Appends s as a JSON string literal (quoted and escaped by jansson). */
static kg_result put_str(kg_buf *b, const char *prefix, const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char *enc = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    KG_ENSURE(enc != NULL, KG_ERR_INPUT, "string is not UTF-8");
    kg_result r = kg_buf_printf(b, "%s%s", prefix, enc);
    free(enc);
    return r;
}

kg_result kg_ratls_identity_to_json(kg_buf *out, const kg_ratls_identity *id)
{
    KG_GUARD(kg_buf_printf(out, "{\"verified\":true"));
    if (id->boot.has_app_id)
        KG_GUARD(put_hex(out, "app_id", id->boot.app_id, KG_APP_ID_LEN));
    if (id->boot.has_compose_hash)
        KG_GUARD(put_hex(out, "compose_hash", id->boot.compose_hash, KG_COMPOSE_HASH_LEN));
    KG_GUARD(put_hex(out, "instance_id", id->boot.instance_id, id->boot.instance_id_len));
    if (id->boot.has_device_id)
        KG_GUARD(put_hex(out, "device_id", id->boot.device_id, 32));
    KG_GUARD(put_hex(out, "mr_aggregated", id->boot.mr_aggregated, 32));
    KG_GUARD(put_hex(out, "mr_system", id->boot.mr_system, 32));
    KG_GUARD(put_hex(out, "os_image_hash", id->boot.os_image_hash, 32));
    KG_GUARD(put_hex(out, "mrtd", id->mrtd, 48));
    for (int i = 0; i < 4; i++) {
        char k[8];
        snprintf(k, sizeof(k), "rtmr%d", i);
        KG_GUARD(put_hex(out, k, id->rtmr[i], 48));
    }
    KG_GUARD(put_hex(out, "report_data", id->report_data, 64));
    if (id->has_key_provider) /* JSON text from the measured log, embedded as a string */
        KG_GUARD(put_str(out, ",\"key_provider\":", (const char *)id->key_provider,
                         id->key_provider_len));
    KG_GUARD(kg_buf_printf(out, ",\"system_ready\":%s", id->system_ready ? "true" : "false"));
    if (id->has_usage)
        KG_GUARD(put_str(out, ",\"usage\":", id->usage, strlen(id->usage)));
    KG_GUARD(put_str(out, ",\"tcb_status\":", id->boot.tcb_status, strlen(id->boot.tcb_status)));
    KG_GUARD(kg_buf_append_str(out, ",\"advisory_ids\":["));
    for (size_t i = 0; i < id->boot.n_advisory_ids; i++)
        KG_GUARD(
            put_str(out, i ? "," : "", id->boot.advisory_ids[i], strlen(id->boot.advisory_ids[i])));
    KG_GUARD(kg_buf_printf(out, "],\"valid_until\":%llu}", (unsigned long long)id->valid_until));
    return kg_buf_terminate(out);
}

/* ---- TLS ------------------------------------------------------------------------------------ */

/* Accepts any chain at the TLS layer: the certificate is judged by its attestation after the
 * handshake (kg_ratls_peer_identity), never by a CA. */
static int accept_any(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok;
    (void)ctx;
    return 1;
}

kg_result kg_ratls_ssl_ctx_new(SSL_CTX **out, bool server, const kg_p256_key *key,
                               const uint8_t *cert_der, size_t cert_len, const char *chain_pem,
                               bool require_peer_cert)
{
    kg_result rc = KG_ERROR;
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    X509 *leaf = NULL;
    BIO *bio = NULL;
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "SSL_CTX_new");
    KG_GUARD_OSSL_C(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), KG_ERR_CRYPTO,
                    "TLS 1.3 only");
    const uint8_t *p = cert_der;
    leaf = d2i_X509(NULL, &p, (long)cert_len);
    KG_ENSURE_OSSL_C(leaf != NULL, KG_ERR_INPUT, "RA-TLS certificate is not DER X.509");
    KG_ENSURE_C(X509_check_private_key(leaf, kg_p256_evp(key)) == 1, KG_ERR_USAGE,
                "key does not match the RA-TLS certificate");
    ERR_clear_error();
    KG_GUARD_OSSL_C(SSL_CTX_use_certificate(ctx, leaf), KG_ERR_CRYPTO, "using certificate");
    KG_GUARD_OSSL_C(SSL_CTX_use_PrivateKey(ctx, kg_p256_evp(key)), KG_ERR_CRYPTO, "using key");
    if (chain_pem != NULL) {
        bio = BIO_new_mem_buf(chain_pem, -1);
        KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "BIO");
        X509 *ca;
        while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
                X509_free(ca);
                KG_BAIL_C(KG_ERR_CRYPTO, "adding chain certificate");
            }
        }
        ERR_clear_error(); /* the loop ends on "no start line" */
    }
    /* No resumption: every connection presents (and has checked) its attested certificate. */
    KG_GUARD_OSSL_C(SSL_CTX_set_num_tickets(ctx, 0), KG_ERR_CRYPTO, "disabling tickets");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    int mode = SSL_VERIFY_PEER;
    if (server && require_peer_cert)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, accept_any);
    *out = ctx;
    ctx = NULL;
    rc = KG_OK;
cleanup:
    BIO_free(bio);
    X509_free(leaf);
    SSL_CTX_free(ctx);
    return rc;
}

kg_result kg_ratls_peer_identity(kg_ratls_identity *out, SSL *ssl, const kg_ratls_policy *pol)
{
    memset(out, 0, sizeof(*out));
    kg_ratls_handshake_cert *hc = NULL;
    KG_GUARD(kg_ratls_handshake_cert_take(&hc, ssl));
    kg_result r = kg_ratls_verify_handshake_cert(out, hc, pol);
    kg_ratls_handshake_cert_free(hc);
    if (kg_failed(r))
        return kg_error_context("peer RA-TLS certificate");
    return KG_OK;
}
