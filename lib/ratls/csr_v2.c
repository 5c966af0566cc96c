/* csr_v2.c - dstack's CertSigningRequestV2 (SignCert api_version 2): SCALE decode and encode,
 * the DER ECDSA-P256 signature over it, and verification of the attestation it embeds (layout in
 * include/keygate/ratls.h). */
#include "keygate/ratls.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratls/ratls_internal.h"
#include "ratls/scale.h"

void kg_csr_v2_free(kg_csr_v2 *csr)
{
    if (csr == NULL)
        return;
    kg_ratls_attestation_free(&csr->attestation);
    memset(csr, 0, sizeof(*csr));
}

/* A String of at most KG_CSR_V2_MAX_NAME_LEN bytes without NUL, into a C string. */
static kg_result read_name(kg_reader *r, char out[KG_CSR_V2_MAX_NAME_LEN + 1], const char *field)
{
    const uint8_t *p;
    size_t n;
    KG_GUARD(kg_scale_str(r, &p, &n, KG_CSR_V2_MAX_NAME_LEN, field));
    KG_ENSURE(memchr(p, 0, n) == NULL, KG_ERR_INPUT, "'%s' contains NUL", field);
    memcpy(out, p, n);
    out[n] = '\0';
    return KG_OK;
}

static kg_result read_opt_u64(kg_reader *r, bool *has, uint64_t *v, const char *field)
{
    KG_GUARD(kg_scale_option(r, has, field));
    if (*has)
        KG_GUARD(kg_reader_u64le(r, v, field));
    return KG_OK;
}

kg_result kg_csr_v2_parse(kg_csr_v2 *out, const uint8_t *scale, size_t len)
{
    kg_result rc = KG_ERROR;
    kg_reader r;
    const uint8_t *p;
    size_t n;
    memset(out, 0, sizeof(*out));
    KG_ENSURE(len <= KG_CSR_V2_MAX_LEN, KG_ERR_TOO_LARGE, "CSR is %zu bytes, max %u", len,
              KG_CSR_V2_MAX_LEN);
    kg_reader_init(&r, scale, len);
    KG_GUARD_C(read_name(&r, out->confirm, "confirm"));
    KG_GUARD_C(kg_scale_bytes(&r, &p, &n, KG_CSR_V2_MAX_PUBKEY_LEN, "pubkey"));
    memcpy(out->pubkey, p, n);
    out->pubkey_len = n;
    /* CertConfigV2 */
    KG_GUARD_C(kg_scale_option(&r, &out->has_org_name, "config.org_name"));
    if (out->has_org_name)
        KG_GUARD_C(read_name(&r, out->org_name, "config.org_name"));
    KG_GUARD_C(read_name(&r, out->subject, "config.subject"));
    KG_GUARD_C(kg_scale_len(&r, &out->n_sans, KG_CSR_V2_MAX_SANS, 1, "config.subject_alt_names"));
    for (size_t i = 0; i < out->n_sans; i++)
        KG_GUARD_C(read_name(&r, out->sans[i], "config.subject_alt_names"));
    KG_GUARD_C(kg_scale_bool(&r, &out->usage_server_auth, "config.usage_server_auth"));
    KG_GUARD_C(kg_scale_bool(&r, &out->usage_client_auth, "config.usage_client_auth"));
    KG_GUARD_C(kg_scale_bool(&r, &out->ext_quote, "config.ext_quote"));
    KG_GUARD_C(kg_scale_bool(&r, &out->ext_app_info, "config.ext_app_info"));
    KG_GUARD_C(read_opt_u64(&r, &out->has_not_before, &out->not_before, "config.not_before"));
    KG_GUARD_C(read_opt_u64(&r, &out->has_not_after, &out->not_after, "config.not_after"));
    /* the attestation is the last field and takes every remaining byte (dstack's Decode) */
    KG_ENSURE_C(kg_reader_remaining(&r) > 0, KG_ERR_TRUNCATED,
                "truncated reading 'attestation' (need 1, have 0)");
    out->attestation_offset = r.pos;
    KG_GUARD_CTX_C(
        kg_ratls_attestation_parse(&out->attestation, scale + r.pos, kg_reader_remaining(&r)),
        "CSR attestation");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        kg_ratls_attestation_free(&out->attestation);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* A DER ECDSA-P256-SHA256 signature over msg by the key in spki (DER SubjectPublicKeyInfo). */
static kg_result verify_sig(const uint8_t *spki, size_t spki_len, const uint8_t *msg,
                            size_t msg_len, const uint8_t *sig, size_t sig_len)
{
    kg_result rc = KG_ERROR;
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *ctx = NULL;
    char group[64] = {0};
    const uint8_t *p = spki;
    KG_ENSURE(sig_len <= KG_CSR_V2_MAX_SIG_LEN, KG_ERR_TOO_LARGE,
              "CSR signature is %zu bytes, max %u", sig_len, KG_CSR_V2_MAX_SIG_LEN);
    pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    KG_ENSURE_OSSL_C(pk != NULL, KG_ERR_INPUT, "CSR pubkey is not a SubjectPublicKeyInfo");
    KG_ENSURE_C(p == spki + spki_len, KG_ERR_INPUT, "trailing bytes after the CSR pubkey");
    KG_ENSURE_C(EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
                    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                   sizeof(group), NULL) == 1 &&
                    strcmp(group, "prime256v1") == 0,
                KG_ERR_INPUT, "CSR pubkey is not an ECDSA P-256 key");
    ctx = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "digest context");
    KG_GUARD_OSSL_C(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk), KG_ERR_CRYPTO,
                    "CSR signature check");
    int ok = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len);
    ERR_clear_error();
    KG_ENSURE_C(ok == 1, KG_ERR_VERIFY, "CSR signature does not verify with the CSR's pubkey");
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rc;
}

kg_result kg_csr_v2_verify(kg_csr_v2 *csr, kg_ratls_identity *id, const uint8_t *scale, size_t len,
                           const uint8_t *sig_der, size_t sig_len, const kg_ratls_policy *pol)
{
    kg_result rc = KG_ERROR;
    kg_ratls_evidence ev;
    memset(id, 0, sizeof(*id));
    memset(csr, 0, sizeof(*csr));
    kg_ratls_evidence_init(&ev);
    KG_ENSURE_C(pol != NULL && pol->verifier != NULL, KG_ERR_USAGE,
                "RA-TLS policy needs a verifier");
    uint64_t now = pol->now ? pol->now : (uint64_t)time(NULL);
    KG_GUARD_CTX_C(kg_csr_v2_parse(csr, scale, len), "CSR v2");
    KG_ENSURE_C(strcmp(csr->confirm, KG_CSR_V2_CONFIRM) == 0, KG_ERR_INPUT,
                "CSR v2: confirm word is not \"" KG_CSR_V2_CONFIRM "\"");
    KG_GUARD_CTX_C(verify_sig(csr->pubkey, csr->pubkey_len, scale, len, sig_der, sig_len),
                   "CSR v2");
    /* the embedded attestation, verified as a certificate's evidence bound to the CSR's key;
     * nothing certificate-only applies (no validity window, no self-signature) */
    KG_GUARD_C(kg_ratls_evidence_from_attestation(&ev, &csr->attestation));
    KG_GUARD_C(kg_buf_append(&ev.spki, csr->pubkey, csr->pubkey_len));
    ev.not_before = 0;
    ev.not_after = UINT64_MAX;
    KG_GUARD_CTX_C(kg_ratls_verify_evidence(id, &ev, pol, now), "CSR v2 attestation");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        memset(id, 0, sizeof(*id));
    kg_ratls_evidence_free(&ev);
    return rc;
}

/* ---- building ---------------------------------------------------------------------------- */

static kg_result put_opt_u64(kg_buf *b, bool has, uint64_t v)
{
    KG_GUARD(kg_scale_put_bool(b, has));
    return has ? kg_scale_put_u64(b, v) : KG_OK;
}

kg_result kg_csr_v2_build(kg_buf *scale_out, kg_buf *sig_out, const kg_p256_key *key,
                          const kg_csr_v2_request *req, const uint8_t *attestation,
                          size_t attestation_len)
{
    kg_result rc = KG_ERROR;
    kg_buf spki;
    EVP_MD_CTX *ctx = NULL;
    size_t start = scale_out->len;
    kg_buf_init(&spki, KG_CSR_V2_MAX_PUBKEY_LEN);
    KG_ENSURE_C(req != NULL && req->subject != NULL, KG_ERR_USAGE, "CSR v2 needs a subject");
    KG_ENSURE_C(req->n_sans <= KG_CSR_V2_MAX_SANS, KG_ERR_USAGE, "CSR v2: more than %u names",
                KG_CSR_V2_MAX_SANS);
    KG_GUARD_C(kg_p256_spki_der(&spki, key));
    KG_GUARD_C(kg_scale_put_str(scale_out, KG_CSR_V2_CONFIRM, strlen(KG_CSR_V2_CONFIRM)));
    KG_GUARD_C(kg_scale_put_bytes(scale_out, spki.data, spki.len));
    KG_GUARD_C(kg_scale_put_bool(scale_out, req->org_name != NULL));
    if (req->org_name != NULL)
        KG_GUARD_C(kg_scale_put_str(scale_out, req->org_name, strlen(req->org_name)));
    KG_GUARD_C(kg_scale_put_str(scale_out, req->subject, strlen(req->subject)));
    KG_GUARD_C(kg_scale_put_compact(scale_out, req->n_sans));
    for (size_t i = 0; i < req->n_sans; i++)
        KG_GUARD_C(kg_scale_put_str(scale_out, req->sans[i], strlen(req->sans[i])));
    KG_GUARD_C(kg_scale_put_bool(scale_out, req->usage_server_auth));
    KG_GUARD_C(kg_scale_put_bool(scale_out, req->usage_client_auth));
    KG_GUARD_C(kg_scale_put_bool(scale_out, req->ext_quote));
    KG_GUARD_C(kg_scale_put_bool(scale_out, req->ext_app_info));
    KG_GUARD_C(put_opt_u64(scale_out, req->has_not_before, req->not_before));
    KG_GUARD_C(put_opt_u64(scale_out, req->has_not_after, req->not_after));
    KG_GUARD_C(kg_buf_append(scale_out, attestation, attestation_len));

    /* DER ECDSA-SHA256 over the SCALE bytes, as dstack's Csr::signed_by (ring ASN.1 form) */
    uint8_t der[KG_CSR_V2_MAX_SIG_LEN];
    size_t der_len = sizeof(der);
    ctx = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "digest context");
    KG_GUARD_OSSL_C(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, kg_p256_evp(key)),
                    KG_ERR_CRYPTO, "CSR signature");
    KG_GUARD_OSSL_C(
        EVP_DigestSign(ctx, der, &der_len, scale_out->data + start, scale_out->len - start),
        KG_ERR_CRYPTO, "CSR signature");
    KG_GUARD_C(kg_buf_append(sig_out, der, der_len));
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(ctx);
    kg_buf_free(&spki);
    return rc;
}

kg_result kg_csr_v2_new(kg_buf *scale_out, kg_buf *sig_out, kg_tee *tee, const kg_p256_key *key,
                        const kg_csr_v2_request *req, kg_ratls_attestation_wire wire)
{
    kg_result rc = KG_ERROR;
    kg_buf quote, log_json, att;
    kg_eventlog log;
    uint8_t rd[64];
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&log_json, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&att, KG_RATLS_MAX_ATTESTATION_LEN);
    kg_eventlog_init(&log);
    KG_GUARD_CTX_C(kg_ratls_attest_key(&quote, &log_json, tee, key), "CSR v2 evidence");
    KG_GUARD_C(kg_eventlog_parse(&log, (const char *)log_json.data, log_json.len));
    for (size_t i = 0; i < log.count; i++)
        if (log.events[i].v2)
            wire = KG_RATLS_ATTESTATION_V1;
    KG_GUARD_C(kg_ratls_key_report_data(rd, key));
    KG_GUARD_C(kg_ratls_attestation_encode(&att, wire, quote.data, quote.len, &log, rd, NULL));
    KG_GUARD_C(kg_csr_v2_build(scale_out, sig_out, key, req, att.data, att.len));
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&log);
    kg_buf_free(&att);
    kg_buf_free(&log_json);
    kg_buf_free(&quote);
    return rc;
}
