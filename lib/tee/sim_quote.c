/* sim_quote.c - TDX quote v4 generation by the simulated platform (layout per Intel's "TDX DCAP
 * Quote Generation Library and Quote Verification Library" spec, section A.3). */
#include <openssl/evp.h>
#include <string.h>

#include "tee/sim_internal.h"
#include "tee/tee_internal.h"

/*
 * Quote v4 = header (48) || TD report body (584) || u32 signature data length ||
 *   signature (64, by the attestation key over header||body) || attestation key (64) ||
 *   u16 cert type 6 || u32 size || QE report (384) || QE report signature (64, by PCK) ||
 *   u16 QE auth data length || QE auth data || u16 cert type 5 || u32 size || PEM PCK chain
 */
kg_result kg_sim_quote(kg_buf *out, const char *dir, const uint8_t rtmr3[KG_RTMR_LEN],
                       const uint8_t report_data[64])
{
    kg_result rc = KG_ERROR;
    sim_platform pf;
    kg_sim_profile prof;
    EVP_PKEY *att = NULL;
    kg_buf q, chain, path;
    uint8_t body[48 + 584], sig[64], att_pub[64];
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&chain, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&path, 0);
    KG_GUARD_C(sim_platform_load(&pf, dir));
    KG_GUARD_C(kg_sim_profile_load(&prof, dir));
    KG_GUARD_C(kg_path_join(&path, dir, "attestation.key"));
    KG_GUARD_C(sim_key_load(&att, (char *)path.data));
    KG_GUARD_C(sim_pub_raw(att_pub, att));

    /* header */
    memset(body, 0, sizeof(body));
    body[0] = 4;    /* version */
    body[2] = 2;    /* attestation key type: ECDSA-256 with P-256 */
    body[4] = 0x81; /* TEE type: TDX */
    memcpy(body + 12, pf.qe_vendor_id, 16);
    memcpy(body + 28, pf.user_data, 20);
    /* TD report body (TDX 1.0) */
    uint8_t *b = body + 48;
    memcpy(b + 0, pf.tee_tcb_svn, 16);
    memcpy(b + 16, pf.mr_seam, 48);
    /* mrsignerseam (64..112) and seam attributes (112..120) zero: Intel-signed module */
    memcpy(b + 120, pf.td_attributes, 8);
    memcpy(b + 128, pf.xfam, 8);
    memcpy(b + 136, prof.mrtd, 48);
    /* mrconfigid, mrowner, mrownerconfig (184..328) zero */
    memcpy(b + 328, prof.rtmr[0], 48);
    memcpy(b + 376, prof.rtmr[1], 48);
    memcpy(b + 424, prof.rtmr[2], 48);
    memcpy(b + 472, rtmr3, 48);
    memcpy(b + 520, report_data, 64);
    KG_GUARD_C(sim_sign_raw(sig, att, body, sizeof(body)));

    /* certification data type 5: PCK leaf, platform CA, root */
    static const char *const certs[] = {"pck.pem", "platform_ca.pem", "root_ca.pem"};
    for (int i = 0; i < 3; i++) {
        kg_buf pem;
        KG_GUARD_C(sim_read(&pem, dir, certs[i]));
        kg_result r = kg_buf_append(&chain, pem.data, pem.len);
        kg_buf_free(&pem);
        KG_GUARD_C(r);
    }
    uint32_t qe_cert_len = 384 + 64 + 2 + 32 + 2 + 4 + (uint32_t)chain.len;
    uint32_t sig_len = 64 + 64 + 2 + 4 + qe_cert_len;

    KG_GUARD_C(kg_buf_append(&q, body, sizeof(body)));
    KG_GUARD_C(kg_buf_append_u32le(&q, sig_len));
    KG_GUARD_C(kg_buf_append(&q, sig, 64));
    KG_GUARD_C(kg_buf_append(&q, att_pub, 64));
    KG_GUARD_C(kg_buf_append_u16le(&q, 6));
    KG_GUARD_C(kg_buf_append_u32le(&q, qe_cert_len));
    KG_GUARD_C(kg_buf_append(&q, pf.qe_report, 384));
    KG_GUARD_C(kg_buf_append(&q, pf.qe_report_sig, 64));
    KG_GUARD_C(kg_buf_append_u16le(&q, 32));
    KG_GUARD_C(kg_buf_append(&q, pf.qe_auth_data, 32));
    KG_GUARD_C(kg_buf_append_u16le(&q, 5));
    KG_GUARD_C(kg_buf_append_u32le(&q, (uint32_t)chain.len));
    KG_GUARD_C(kg_buf_append(&q, chain.data, chain.len));
    KG_GUARD_C(kg_buf_append(out, q.data, q.len));
    rc = KG_OK;
cleanup:
    kg_memzero(&pf, sizeof(pf));
    EVP_PKEY_free(att);
    kg_buf_free(&q);
    kg_buf_free(&chain);
    kg_buf_free(&path);
    return rc;
}
