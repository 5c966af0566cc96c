/* platform_tee.c - binds the app API (agent.h) to the TEE layer (quotes, RTMR3 events, the event
 * log) and to the KMS (SignCert for GetTlsKey). */
#include "keygate/agent_boot.h"
#include "keygate/hash.h"
#include "keygate/receipt.h"
#include "keygate/sim.h"
#include "kms_client.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define MAX_REPLY (1u << 20)

/* boot events (imr 0..2, a JSON array, or NULL) followed by the runtime events (imr 3): one
 * array that replays to every register of the quote. */
static kg_result splice_logs(kg_buf *out, const char *boot, const kg_buf *runtime)
{
    const char *rt = (const char *)runtime->data;
    size_t rn = runtime->len;
    KG_ENSURE(rn >= 2 && rt[0] == '[' && rt[rn - 1] == ']', KG_ERR_INTERNAL,
              "runtime event log is not a JSON array");
    if (boot == NULL || strcmp(boot, "[]") == 0)
        return kg_buf_append(out, rt, rn);
    size_t bn = strlen(boot);
    KG_ENSURE(bn >= 2 && boot[0] == '[' && boot[bn - 1] == ']', KG_ERR_INTERNAL,
              "boot event log is not a JSON array");
    KG_GUARD(kg_buf_append(out, boot, bn - 1));
    if (rn > 2) {
        KG_GUARD(kg_buf_append_u8(out, ','));
        KG_GUARD(kg_buf_append(out, rt + 1, rn - 1));
    } else {
        KG_GUARD(kg_buf_append_u8(out, ']'));
    }
    return KG_OK;
}

kg_result kg_agent_boot_eventlog(kg_buf *out, const char *tee_spec)
{
    if (strncmp(tee_spec, "sim:", 4) != 0)
        return kg_buf_append_str(out, "[]"); /* real TDX: the CCEL is not parsed yet */
    const char *rest = tee_spec + 4;
    const char *colon = strrchr(rest, ':');
    KG_ENSURE(colon != NULL && colon != rest, KG_ERR_USAGE, "TEE spec '%s' is not sim:<dir>:<vm>",
              tee_spec);
    char dir[4096];
    KG_ENSURE((size_t)(colon - rest) < sizeof(dir), KG_ERR_USAGE, "TEE spec path too long");
    memcpy(dir, rest, (size_t)(colon - rest));
    dir[colon - rest] = '\0';
    return kg_sim_boot_eventlog_json(out, dir);
}

static kg_result tee_quote(void *ctx, const uint8_t rd[KG_REPORT_DATA_LEN], kg_buf *quote,
                           kg_buf *event_log)
{
    kg_agent_tee_ctx *t = ctx;
    kg_eventlog log;
    kg_eventlog_init(&log);
    kg_buf runtime;
    kg_buf_init(&runtime, KG_MAX_EVENTLOG_JSON_LEN);
    kg_result rc = kg_tee_get_quote(t->tee, quote, rd);
    if (kg_ok(rc))
        rc = kg_tee_read_eventlog(t->tee, &log);
    if (kg_ok(rc))
        rc = kg_eventlog_to_json(&runtime, &log);
    if (kg_ok(rc))
        rc = splice_logs(event_log, t->boot_eventlog_json, &runtime);
    kg_eventlog_free(&log);
    kg_buf_free(&runtime);
    return rc;
}

static kg_result tee_event(void *ctx, const char *name, const uint8_t *payload, size_t len)
{
    kg_agent_tee_ctx *t = ctx;
    return kg_tee_extend(t->tee, name, payload, len);
}

/* A PKCS#10 request for key: subject CN and subjectAltName DNS entries from the app's request,
 * self-signed with key. DER appended to out. */
static kg_result make_csr(kg_buf *out, const kg_p256_key *key, const kg_agent_cert_request *req)
{
    kg_result rc = KG_ERROR;
    X509_REQ *csr = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = NULL;
    GENERAL_NAMES *gens = NULL;
    unsigned char *der = NULL;
    KG_ENSURE_OSSL_C(csr != NULL, KG_ERR_NOMEM, "CSR");
    const char *cn = req->subject && req->subject[0] ? req->subject : "app";
    X509_NAME *name = X509_REQ_get_subject_name(csr);
    KG_GUARD_OSSL_C(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        KG_ERR_INPUT, "subject '%s'", cn);
    KG_GUARD_OSSL_C(X509_REQ_set_pubkey(csr, kg_p256_evp(key)), KG_ERR_CRYPTO, "CSR key");
    if (req->n_alt_names > 0) {
        gens = GENERAL_NAMES_new();
        KG_ENSURE_OSSL_C(gens != NULL, KG_ERR_NOMEM, "alt names");
        for (size_t i = 0; i < req->n_alt_names; i++) {
            GENERAL_NAME *g = GENERAL_NAME_new();
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            KG_ENSURE_OSSL_C(g && s && ASN1_STRING_set(s, req->alt_names[i], -1) == 1, KG_ERR_NOMEM,
                             "alt name");
            GENERAL_NAME_set0_value(g, GEN_DNS, s);
            KG_ENSURE_OSSL_C(sk_GENERAL_NAME_push(gens, g) > 0, KG_ERR_NOMEM, "alt name");
        }
        exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *e = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
        KG_ENSURE_OSSL_C(exts && e && sk_X509_EXTENSION_push(exts, e) > 0, KG_ERR_CRYPTO,
                         "alt names");
        KG_GUARD_OSSL_C(X509_REQ_add_extensions(csr, exts), KG_ERR_CRYPTO, "alt names");
    }
    KG_ENSURE_OSSL_C(X509_REQ_sign(csr, kg_p256_evp(key), EVP_sha256()) > 0, KG_ERR_CRYPTO,
                     "signing the CSR");
    int n = i2d_X509_REQ(csr, &der);
    KG_ENSURE_OSSL_C(n > 0, KG_ERR_CRYPTO, "CSR DER");
    KG_GUARD_C(kg_buf_append(out, der, (size_t)n));
    rc = KG_OK;
cleanup:
    OPENSSL_free(der);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_REQ_free(csr);
    return rc;
}

static kg_result parse_chain(kg_pem_chain *chain, const kg_buf *reply)
{
    json_t *root = json_loadb((const char *)reply->data, reply->len, JSON_REJECT_DUPLICATES, NULL);
    json_t *arr = json_object_get(root, "certificate_chain");
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(json_is_array(arr) && json_array_size(arr) > 0 &&
                    json_array_size(arr) <= KG_AGENT_MAX_CHAIN,
                KG_ERR_NETWORK, "KMS SignCert reply has no usable certificate_chain");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *pem = json_string_value(json_array_get(arr, i));
        KG_ENSURE_C(pem != NULL, KG_ERR_NETWORK, "KMS SignCert: chain entry %zu is not a string",
                    i);
        chain->pem[i] = strdup(pem);
        KG_ENSURE_C(chain->pem[i] != NULL, KG_ERR_NOMEM, "out of memory");
        chain->n = i + 1;
    }
    rc = KG_OK;
cleanup:
    json_decref(root);
    if (kg_failed(rc))
        kg_pem_chain_free(chain);
    return rc;
}

/* Appends bytes as lowercase hex (the KMS API's encoding of binary fields). */
static kg_result append_hex(kg_buf *out, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        KG_GUARD(kg_buf_printf(out, "%02x", data[i]));
    return KG_OK;
}

/* SignCert v1: {"api_version":1,"csr":"<hex DER PKCS#10>"}; the KMS certifies the key of the
 * attested TLS client, which is this key. */
static kg_result v1_body(kg_buf *body, const kg_p256_key *key, const kg_agent_cert_request *req)
{
    kg_buf csr;
    kg_buf_init(&csr, 16 * 1024);
    kg_result rc = make_csr(&csr, key, req);
    if (kg_ok(rc))
        rc = kg_buf_append_str(body, "{\"api_version\":1,\"csr\":\"");
    if (kg_ok(rc))
        rc = append_hex(body, csr.data, csr.len);
    if (kg_ok(rc))
        rc = kg_buf_append_str(body, "\"}");
    kg_buf_free(&csr);
    return rc;
}

/* SignCert v2, as a dstack guest since v0.5.10 asks (dstack/ra-tls/src/cert.rs at 312dc605):
 * {"api_version":2,"csr":"<hex SCALE CertSigningRequestV2>","signature":"<hex DER ECDSA>"},
 * the request's config from the app's GetTlsKey fields (usage_ra_tls = ext_quote), its
 * attestation a fresh quote binding this key. */
static kg_result v2_body(kg_buf *body, kg_tee *tee, const kg_p256_key *key,
                         const kg_agent_cert_request *req, kg_ratls_format format)
{
    kg_result rc = KG_ERROR;
    kg_buf scale, sig;
    kg_buf_init(&scale, KG_CSR_V2_MAX_LEN);
    kg_buf_init(&sig, KG_CSR_V2_MAX_SIG_LEN);
    kg_csr_v2_request v2 = {.subject = req->subject ? req->subject : "",
                            .sans = req->alt_names,
                            .n_sans = req->n_alt_names,
                            .usage_server_auth = req->usage_server_auth,
                            .usage_client_auth = req->usage_client_auth,
                            .ext_quote = req->usage_ra_tls,
                            .ext_app_info = req->with_app_info,
                            .has_not_before = req->has_not_before,
                            .not_before = req->not_before,
                            .has_not_after = req->has_not_after,
                            .not_after = req->not_after};
    KG_GUARD_CTX_C(kg_csr_v2_new(&scale, &sig, tee, key, &v2,
                                 format == KG_RATLS_FORMAT_V8_MSGPACK ? KG_RATLS_ATTESTATION_V1
                                                                      : KG_RATLS_ATTESTATION_V0),
                   "SignCert v2 request");
    KG_GUARD_C(kg_buf_append_str(body, "{\"api_version\":2,\"csr\":\""));
    KG_GUARD_C(append_hex(body, scale.data, scale.len));
    KG_GUARD_C(kg_buf_append_str(body, "\",\"signature\":\""));
    KG_GUARD_C(append_hex(body, sig.data, sig.len));
    KG_GUARD_C(kg_buf_append_str(body, "\"}"));
    rc = KG_OK;
cleanup:
    kg_buf_free(&scale);
    kg_buf_free(&sig);
    return rc;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

/* SignCert's receipt (docs/design.md, "Receipts"), checked before the certificate goes to the
 * app: an allowed SignCert for this VM, logged with the SHA-256 of the very leaf received. */
static kg_result check_cert_receipt(const kg_agent_tee_ctx *t, const char *url, const kg_buf *reply,
                                    const char *leaf_pem)
{
    KG_ENSURE(t->self != NULL, KG_ERR_INTERNAL, "GetTlsKey: the VM's identity is not set");
    json_t *root = json_loadb((const char *)reply->data, reply->len, JSON_REJECT_DUPLICATES, NULL);
    char *receipt = NULL;
    X509 *leaf = NULL;
    kg_result rc = KG_ERROR;
    json_t *r = json_object_get(root, "receipt");
    KG_ENSURE_C(json_is_object(r), KG_ERR_VERIFY,
                "SignCert reply has no receipt: the certificate cannot be shown to be logged");
    receipt = json_dumps(r, JSON_COMPACT);
    KG_ENSURE_C(receipt != NULL, KG_ERR_NOMEM, "out of memory");
    BIO *bio = BIO_new_mem_buf(leaf_pem, -1);
    leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    KG_ENSURE_OSSL_C(leaf != NULL, KG_ERR_VERIFY, "SignCert: the leaf certificate is not PEM");
    uint8_t fp[KG_SHA256_LEN];
    unsigned int fp_len = 0;
    KG_ENSURE_OSSL_C(X509_digest(leaf, EVP_sha256(), fp, &fp_len) == 1, KG_ERR_CRYPTO,
                     "SignCert: certificate digest");
    char fp_hex[KG_HEX_SIZE(KG_SHA256_LEN)];
    KG_GUARD_C(kg_hex_encode(fp_hex, sizeof(fp_hex), fp, sizeof(fp)));
    const char *names[1] = {"certificate_sha256"};
    const char *values[1] = {fp_hex};
    const kg_agent_identity *me = t->self;
    kg_log_release_expect want = {
        .method = "SignCert",
        .app_id = me->app_id,
        .compose_hash = me->compose_hash,
        .instance_id = t->instance_known ? me->instance_id : NULL,
        .instance_id_len = me->instance_id_len,
        .os_image_hash =
            all_zero(me->os_image_hash, sizeof(me->os_image_hash)) ? NULL : me->os_image_hash,
        .released_names = names,
        .released_values = values,
        .n_released = 1};
    kg_agent_kms_endpoint ep = {.url = url, .trust = t->kms};
    KG_GUARD_C(kg_agent_receipt_check(receipt, strlen(receipt), &want, &ep));
    rc = KG_OK;
cleanup:
    X509_free(leaf);
    free(receipt);
    json_decref(root);
    return rc;
}

static kg_result kms_sign_cert(void *ctx, const kg_p256_key *key, const kg_agent_cert_request *req,
                               kg_pem_chain *chain)
{
    kg_agent_tee_ctx *t = ctx;
    kg_result rc = KG_ERROR;
    kg_buf reply, body;
    kg_buf_init(&reply, MAX_REPLY);
    kg_buf_init(&body, 2 * KG_CSR_V2_MAX_LEN + 1024);
    if (t->ratls_format == KG_RATLS_FORMAT_LEGACY)
        KG_GUARD_C(v1_body(&body, key, req));
    else
        KG_GUARD_C(v2_body(&body, t->tee, key, req, t->ratls_format));
    KG_GUARD_C(kg_buf_terminate(&body));
    kg_result got = KG_ERROR;
    size_t answered = 0;
    for (size_t i = 0; i < t->n_kms_urls; i++) {
        answered = i;
        kg_buf_reset(&reply);
        reply.len = 0;
        /* The key being certified is also the RA-TLS client key (v1: the KMS requires the CSR
         * key to be the attested one; v2: the CSR carries its own attestation, and the client
         * certificate is in the same format, as a dstack guest's connection is). */
        got = kg_agent_kms_rpc_attested(&reply, t->tee, t->kms_urls[i], t->kms, key, t->app_id,
                                        "SignCert", (const char *)body.data, t->ratls_format);
        if (kg_ok(got) || kg_error_code() == KG_ERR_DENIED)
            break;
    }
    KG_GUARD_C(got);
    KG_GUARD_C(parse_chain(chain, &reply));
    KG_GUARD_CTX_C(check_cert_receipt(t, t->kms_urls[answered], &reply, chain->pem[0]),
                   "KMS %s: the certificate's receipt does not verify; it is not used",
                   t->kms_urls[answered]);
    rc = KG_OK;
cleanup:
    kg_buf_free(&reply);
    kg_buf_free(&body);
    return rc;
}

void kg_agent_platform_tee(kg_agent_platform *out, kg_agent_tee_ctx *ctx)
{
    memset(out, 0, sizeof(*out));
    out->ctx = ctx;
    out->quote = tee_quote;
    out->emit_event = tee_event;
    if (ctx->n_kms_urls > 0 && ctx->kms != NULL && ctx->kms->root_ca_pem != NULL)
        out->sign_cert = kms_sign_cert;
}
