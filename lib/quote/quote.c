/* quote.c - pure parser of Intel DCAP quotes: TDX v4/v5 (TDX 1.0 and 1.5 bodies), SGX v3. */
#include "keygate/quote.h"

#include <ctype.h>
#include <string.h>

#include "keygate/bytes.h"

/*
 * Layout (Intel "TDX DCAP Quote Generation Library and Quote Verification Library", appendix;
 * Intel SGX ECDSA quote library reference, "Quote Format"). Integers are little-endian.
 *
 *   Header (48)   u16 version | u16 att_key_type | u32 tee_type | u16 qe_svn | u16 pce_svn |
 *                 u8 qe_vendor_id[16] | u8 user_data[20]
 *   v3 (SGX):     header | SGX report (384) | u32 sig_data_len | sig_data
 *   v4 (TDX):     header | TD report 1.0 (584) | u32 sig_data_len | sig_data
 *   v5:           header | u16 body_type (1 SGX, 2 TD1.0, 3 TD1.5) | u32 body_size | body |
 *                 u32 sig_data_len | sig_data
 *   The quote signature covers everything before sig_data_len. Only zero bytes may follow
 *   sig_data (generators pad to fixed-size buffers).
 *
 *   sig_data (ECDSA-256):
 *                 u8 signature[64] (r||s) | u8 attestation_key[64] (x||y) | QE part
 *   QE part v3:   qe_report (384) | qe_report_sig[64] | u16 qe_auth_len | qe_auth |
 *                 u16 cert_type (5) | u32 cert_len | PCK chain PEM
 *   QE part v4/5: u16 cert_type (6) | u32 cert_len | { qe_report (384) | qe_report_sig[64] |
 *                 u16 qe_auth_len | qe_auth | u16 cert_type (5) | u32 cert_len | PCK chain PEM }
 *
 *   SGX report (384): cpu_svn[16] | u32 misc_select | reserved[12] | isv_ext_prod_id[16] |
 *                 attributes[16] | mr_enclave[32] | reserved[32] | mr_signer[32] | reserved[32] |
 *                 config_id[64] | u16 isv_prod_id | u16 isv_svn | u16 config_svn | reserved[42] |
 *                 isv_family_id[16] | report_data[64]
 *   TD report 1.0 (584): tee_tcb_svn[16] | mr_seam[48] | mr_signer_seam[48] |
 *                 seam_attributes[8] | td_attributes[8] | xfam[8] | mrtd[48] | mr_config_id[48] |
 *                 mr_owner[48] | mr_owner_config[48] | rtmr0..3[4*48] | report_data[64]
 *   TD report 1.5 (648): TD report 1.0 | tee_tcb_svn2[16] | mr_service_td[48]
 */

static kg_result parse_header(kg_reader *r, kg_quote_header *h)
{
    KG_GUARD(kg_reader_u16le(r, &h->version, "header.version"));
    KG_GUARD(kg_reader_u16le(r, &h->att_key_type, "header.att_key_type"));
    KG_GUARD(kg_reader_u32le(r, &h->tee_type, "header.tee_type"));
    KG_GUARD(kg_reader_u16le(r, &h->qe_svn, "header.qe_svn"));
    KG_GUARD(kg_reader_u16le(r, &h->pce_svn, "header.pce_svn"));
    KG_GUARD(kg_reader_read(r, h->qe_vendor_id, sizeof(h->qe_vendor_id), "header.qe_vendor_id"));
    KG_GUARD(kg_reader_read(r, h->user_data, sizeof(h->user_data), "header.user_data"));
    return KG_OK;
}

static kg_result parse_sgx_report(kg_reader *r, kg_sgx_report *s)
{
    KG_GUARD(kg_reader_read(r, s->cpu_svn, 16, "report.cpu_svn"));
    KG_GUARD(kg_reader_u32le(r, &s->misc_select, "report.misc_select"));
    KG_GUARD(kg_reader_read(r, s->reserved1, 12, "report.reserved1"));
    KG_GUARD(kg_reader_read(r, s->isv_ext_prod_id, 16, "report.isv_ext_prod_id"));
    KG_GUARD(kg_reader_read(r, s->attributes, 16, "report.attributes"));
    KG_GUARD(kg_reader_read(r, s->mr_enclave, 32, "report.mr_enclave"));
    KG_GUARD(kg_reader_read(r, s->reserved2, 32, "report.reserved2"));
    KG_GUARD(kg_reader_read(r, s->mr_signer, 32, "report.mr_signer"));
    KG_GUARD(kg_reader_read(r, s->reserved3, 32, "report.reserved3"));
    KG_GUARD(kg_reader_read(r, s->config_id, 64, "report.config_id"));
    KG_GUARD(kg_reader_u16le(r, &s->isv_prod_id, "report.isv_prod_id"));
    KG_GUARD(kg_reader_u16le(r, &s->isv_svn, "report.isv_svn"));
    KG_GUARD(kg_reader_u16le(r, &s->config_svn, "report.config_svn"));
    KG_GUARD(kg_reader_read(r, s->reserved4, 42, "report.reserved4"));
    KG_GUARD(kg_reader_read(r, s->isv_family_id, 16, "report.isv_family_id"));
    KG_GUARD(kg_reader_read(r, s->report_data, 64, "report.report_data"));
    return KG_OK;
}

static kg_result parse_td_report(kg_reader *r, kg_td_report *t, bool td15)
{
    KG_GUARD(kg_reader_read(r, t->tee_tcb_svn, 16, "td_report.tee_tcb_svn"));
    KG_GUARD(kg_reader_read(r, t->mr_seam, 48, "td_report.mr_seam"));
    KG_GUARD(kg_reader_read(r, t->mr_signer_seam, 48, "td_report.mr_signer_seam"));
    KG_GUARD(kg_reader_read(r, t->seam_attributes, 8, "td_report.seam_attributes"));
    KG_GUARD(kg_reader_read(r, t->td_attributes, 8, "td_report.td_attributes"));
    KG_GUARD(kg_reader_read(r, t->xfam, 8, "td_report.xfam"));
    KG_GUARD(kg_reader_read(r, t->mrtd, 48, "td_report.mrtd"));
    KG_GUARD(kg_reader_read(r, t->mr_config_id, 48, "td_report.mr_config_id"));
    KG_GUARD(kg_reader_read(r, t->mr_owner, 48, "td_report.mr_owner"));
    KG_GUARD(kg_reader_read(r, t->mr_owner_config, 48, "td_report.mr_owner_config"));
    for (size_t i = 0; i < 4; i++)
        KG_GUARD(kg_reader_read(r, t->rtmr[i], 48, "td_report.rtmr"));
    KG_GUARD(kg_reader_read(r, t->report_data, 64, "td_report.report_data"));
    if (td15) {
        KG_GUARD(kg_reader_read(r, t->tee_tcb_svn2, 16, "td_report.tee_tcb_svn2"));
        KG_GUARD(kg_reader_read(r, t->mr_service_td, 48, "td_report.mr_service_td"));
    }
    return KG_OK;
}

/* qe_report | qe_report_sig | u16 qe_auth_len | qe_auth | u16 type (5) | u32 len | PEM chain */
static kg_result parse_qe_part(kg_reader *r, kg_quote *q)
{
    kg_reader rep;
    KG_GUARD(kg_reader_ptr(r, &q->qe_report_raw, KG_SGX_REPORT_LEN, "qe_report"));
    kg_reader_init(&rep, q->qe_report_raw, KG_SGX_REPORT_LEN);
    KG_GUARD_CTX(parse_sgx_report(&rep, &q->qe_report), "qe_report");
    KG_GUARD(kg_reader_read(r, q->qe_report_signature, 64, "qe_report_signature"));

    uint16_t auth_len;
    KG_GUARD(kg_reader_u16le(r, &auth_len, "qe_auth_data_len"));
    KG_ENSURE(auth_len <= KG_MAX_QE_AUTH_DATA_LEN, KG_ERR_TOO_LARGE,
              "qe_auth_data_len %u exceeds KG_MAX_QE_AUTH_DATA_LEN (%u)", auth_len,
              KG_MAX_QE_AUTH_DATA_LEN);
    KG_GUARD(kg_reader_ptr(r, &q->qe_auth_data, auth_len, "qe_auth_data"));
    q->qe_auth_data_len = auth_len;

    uint16_t cert_type;
    uint32_t cert_len;
    KG_GUARD(kg_reader_u16le(r, &cert_type, "pck certification data type"));
    KG_ENSURE(cert_type == KG_CERT_TYPE_PCK_CHAIN, KG_ERR_INPUT,
              "unsupported PCK certification data type %u (want 5, PCK certificate chain)",
              cert_type);
    KG_GUARD(kg_reader_u32le(r, &cert_len, "pck certification data size"));
    KG_ENSURE(cert_len <= KG_MAX_PCK_CHAIN_LEN, KG_ERR_TOO_LARGE,
              "PCK chain size %u exceeds KG_MAX_PCK_CHAIN_LEN (%u)", cert_len,
              KG_MAX_PCK_CHAIN_LEN);
    KG_ENSURE(cert_len > 0, KG_ERR_INPUT, "empty PCK certificate chain");
    KG_GUARD(kg_reader_ptr(r, &q->pck_chain, cert_len, "pck certificate chain"));
    q->pck_chain_len = cert_len;
    return KG_OK;
}

static kg_result parse_sig_data(kg_reader *r, kg_quote *q)
{
    KG_GUARD(kg_reader_read(r, q->signature, 64, "quote signature"));
    KG_GUARD(kg_reader_read(r, q->attestation_key, 64, "attestation key"));
    if (q->header.version == 3) {
        KG_GUARD(parse_qe_part(r, q));
        return kg_reader_expect_end(r, "signature data");
    }
    uint16_t cert_type;
    uint32_t cert_len;
    KG_GUARD(kg_reader_u16le(r, &cert_type, "certification data type"));
    KG_ENSURE(cert_type == KG_CERT_TYPE_QE_REPORT, KG_ERR_INPUT,
              "unsupported certification data type %u (want 6, QE report certification data)",
              cert_type);
    KG_GUARD(kg_reader_u32le(r, &cert_len, "certification data size"));
    KG_ENSURE(cert_len <= KG_MAX_QUOTE_SIG_DATA_LEN, KG_ERR_TOO_LARGE,
              "certification data size %u exceeds KG_MAX_QUOTE_SIG_DATA_LEN (%u)", cert_len,
              KG_MAX_QUOTE_SIG_DATA_LEN);
    kg_reader cert;
    KG_GUARD(kg_reader_sub(r, &cert, cert_len, "certification data"));
    KG_GUARD(parse_qe_part(&cert, q));
    KG_GUARD(kg_reader_expect_end(&cert, "QE report certification data"));
    return kg_reader_expect_end(r, "signature data");
}

static kg_result parse_body(kg_reader *r, kg_quote *q)
{
    const kg_quote_header *h = &q->header;
    if (h->version == 3) {
        KG_ENSURE(h->tee_type == KG_TEE_TYPE_SGX, KG_ERR_INPUT,
                  "quote version 3 with tee_type 0x%08x (want SGX)", h->tee_type);
        q->body_type = KG_BODY_SGX;
        return parse_sgx_report(r, &q->sgx);
    }
    if (h->version == 4) {
        KG_ENSURE(h->tee_type == KG_TEE_TYPE_TDX, KG_ERR_INPUT,
                  "quote version 4 with tee_type 0x%08x (want TDX)", h->tee_type);
        q->body_type = KG_BODY_TD10;
        return parse_td_report(r, &q->td, false);
    }
    /* v5: a body descriptor announces the body type and size */
    uint16_t body_type;
    uint32_t body_size;
    KG_GUARD(kg_reader_u16le(r, &body_type, "body_type"));
    KG_GUARD(kg_reader_u32le(r, &body_size, "body_size"));
    size_t want;
    switch (body_type) {
    case KG_BODY_SGX: want = KG_SGX_REPORT_LEN; break;
    case KG_BODY_TD10: want = KG_TD10_REPORT_LEN; break;
    case KG_BODY_TD15: want = KG_TD15_REPORT_LEN; break;
    default: KG_BAIL(KG_ERR_INPUT, "unsupported quote v5 body_type %u", body_type);
    }
    KG_ENSURE(body_size == want, KG_ERR_INPUT, "quote v5 body_size %u for body_type %u (want %zu)",
              body_size, body_type, want);
    bool sgx = body_type == KG_BODY_SGX;
    KG_ENSURE(h->tee_type == (sgx ? KG_TEE_TYPE_SGX : KG_TEE_TYPE_TDX), KG_ERR_INPUT,
              "quote v5 body_type %u with tee_type 0x%08x", body_type, h->tee_type);
    q->body_type = (kg_quote_body_type)body_type;
    kg_reader body;
    KG_GUARD(kg_reader_sub(r, &body, body_size, "body"));
    if (sgx)
        KG_GUARD(parse_sgx_report(&body, &q->sgx));
    else
        KG_GUARD(parse_td_report(&body, &q->td, body_type == KG_BODY_TD15));
    return kg_reader_expect_end(&body, "body");
}

static kg_result parse_quote(kg_quote *q, const uint8_t *quote, size_t quote_len)
{
    KG_ENSURE(quote_len <= KG_MAX_QUOTE_LEN, KG_ERR_TOO_LARGE,
              "quote of %zu bytes exceeds KG_MAX_QUOTE_LEN (%u)", quote_len, KG_MAX_QUOTE_LEN);
    kg_reader r;
    kg_reader_init(&r, quote, quote_len);
    KG_GUARD(parse_header(&r, &q->header));
    const kg_quote_header *h = &q->header;
    KG_ENSURE(h->version >= 3 && h->version <= 5, KG_ERR_INPUT,
              "unsupported quote version %u (want 3, 4 or 5)", h->version);
    KG_ENSURE(h->att_key_type == KG_ATT_KEY_TYPE_ECDSA_P256, KG_ERR_INPUT,
              "unsupported attestation key type %u (want 2, ECDSA-256 with P-256)",
              h->att_key_type);
    KG_ENSURE(h->tee_type == KG_TEE_TYPE_SGX || h->tee_type == KG_TEE_TYPE_TDX, KG_ERR_INPUT,
              "unsupported tee_type 0x%08x", h->tee_type);
    KG_GUARD(parse_body(&r, q));
    q->signed_data = quote;
    q->signed_len = r.pos;

    uint32_t sig_len;
    KG_GUARD(kg_reader_u32le(&r, &sig_len, "signature data length"));
    KG_ENSURE(sig_len <= KG_MAX_QUOTE_SIG_DATA_LEN, KG_ERR_TOO_LARGE,
              "signature data length %u exceeds KG_MAX_QUOTE_SIG_DATA_LEN (%u)", sig_len,
              KG_MAX_QUOTE_SIG_DATA_LEN);
    kg_reader sig;
    KG_GUARD(kg_reader_sub(&r, &sig, sig_len, "signature data"));
    KG_GUARD(parse_sig_data(&sig, q));
    /* Quote generators hand out fixed-size buffers (tappd, configfs-tsm outblob): what follows
     * the signature data may only be zero padding, so every byte is still accounted for. */
    const uint8_t *pad;
    size_t pad_len = kg_reader_remaining(&r);
    KG_GUARD(kg_reader_ptr(&r, &pad, pad_len, "padding"));
    for (size_t i = 0; i < pad_len; i++)
        KG_ENSURE(pad[i] == 0, KG_ERR_INPUT, "non-zero byte at offset %zu after the quote",
                  (size_t)(pad - quote) + i);
    return kg_reader_expect_end(&r, "quote");
}

kg_result kg_quote_parse(kg_quote *out, const uint8_t *quote, size_t quote_len)
{
    KG_ENSURE(out != NULL && (quote != NULL || quote_len == 0), KG_ERR_USAGE,
              "kg_quote_parse: NULL argument");
    memset(out, 0, sizeof(*out));
    if (kg_failed(parse_quote(out, quote, quote_len))) {
        memset(out, 0, sizeof(*out));
        return kg_error_context("quote");
    }
    return KG_OK;
}

kg_result kg_quote_decode_input(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *in,
                                size_t in_len)
{
    KG_ENSURE(out && out_len && (in || in_len == 0), KG_ERR_USAGE,
              "kg_quote_decode_input: NULL argument");
    *out_len = 0;
    /* Hex text iff every byte is a hex digit or whitespace (an optional "0x" first): a binary
     * quote starts with its version, 0x03..0x05, which is neither. Whitespace may wrap lines. */
    size_t start = 0;
    while (start < in_len && isspace(in[start]))
        start++;
    if (start + 1 < in_len && in[start] == '0' && (in[start + 1] == 'x' || in[start + 1] == 'X'))
        start += 2;
    size_t digits = 0;
    bool hex = start < in_len;
    for (size_t i = start; i < in_len && hex; i++) {
        hex = isxdigit(in[i]) || isspace(in[i]);
        digits += isxdigit(in[i]) ? 1 : 0;
    }
    if (!hex || digits == 0) {
        KG_ENSURE(in_len <= out_cap, KG_ERR_TOO_LARGE, "quote of %zu bytes exceeds %zu", in_len,
                  out_cap);
        if (in_len > 0)
            memcpy(out, in, in_len);
        *out_len = in_len;
        return KG_OK;
    }
    KG_ENSURE(digits % 2 == 0, KG_ERR_INPUT, "quote hex: odd number of digits (%zu)", digits);
    KG_ENSURE(digits / 2 <= out_cap, KG_ERR_TOO_LARGE, "quote of %zu bytes exceeds %zu", digits / 2,
              out_cap);
    size_t n = 0;
    int hi = -1;
    for (size_t i = start; i < in_len; i++) {
        if (isspace(in[i]))
            continue;
        int v = isdigit(in[i]) ? in[i] - '0' : (tolower(in[i]) - 'a' + 10);
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *out_len = n;
    return KG_OK;
}
