/* kms_client.c - the agent's side of the KMS API (SPEC.md section 5): RA-TLS client certificates
 * (SPEC.md section 4) and JSON calls over TLS that accept only a KMS server certificate issued
 * under the pinned KMS root CA with usage "kms:rpc". */
#include "kms_client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "keygate/hash.h"

#define MAX_REPLY (1u << 20)

/* ---- RA-TLS client certificate --------------------------------------------------------------- */

static kg_result add_v3(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    KG_ENSURE_OSSL(ext != NULL, KG_ERR_CRYPTO, "extension %s", value);
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    KG_ENSURE_OSSL(ok == 1, KG_ERR_CRYPTO, "extension %s", value);
    return KG_OK;
}

kg_result kg_agent_ratls_client_cert(kg_buf *cert_pem, const kg_p256_key *key, const char *ca_cert_pem,
                               const char *ca_key_pem, const uint8_t *quote, size_t quote_len,
                               const char *event_log, const uint8_t *app_id, const char *usage)
{
    kg_result rc = KG_ERROR;
    BIO *bio = NULL;
    X509 *ca = NULL, *x = NULL;
    kg_p256_key *ca_key = NULL;
    uint8_t serial[16];

    bio = BIO_new_mem_buf(ca_cert_pem, -1);
    KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "temporary CA");
    ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    KG_ENSURE_OSSL_C(ca != NULL, KG_ERR_INPUT, "temporary CA certificate is not PEM");
    KG_GUARD_CTX_C(kg_p256_from_pem(&ca_key, ca_key_pem, strlen(ca_key_pem)),
                   "temporary CA key");
    x = X509_new();
    KG_ENSURE_OSSL_C(x != NULL, KG_ERR_NOMEM, "certificate");
    KG_GUARD_OSSL_C(X509_set_version(x, 2), KG_ERR_CRYPTO, "certificate version");
    KG_GUARD_C(kg_random(serial, sizeof(serial)));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    KG_ENSURE_OSSL_C(bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL,
                     KG_ERR_CRYPTO, "serial");
    BN_free(bn);
    KG_GUARD_OSSL_C(X509_set_issuer_name(x, X509_get_subject_name(ca)), KG_ERR_CRYPTO, "issuer");
    X509_NAME *name = X509_get_subject_name(x);
    KG_GUARD_OSSL_C(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                               (const unsigned char *)"keygate-agent", -1, -1, 0),
                    KG_ERR_CRYPTO, "subject");
    /* Short-lived: it only authenticates this boot's calls. */
    KG_ENSURE_OSSL_C(X509_gmtime_adj(X509_getm_notBefore(x), -300) != NULL &&
                         X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL,
                     KG_ERR_CRYPTO, "validity");
    KG_GUARD_OSSL_C(X509_set_pubkey(x, kg_p256_evp(key)), KG_ERR_CRYPTO, "public key");
    KG_GUARD_C(add_v3(x, ca, NID_basic_constraints, "critical,CA:FALSE"));
    KG_GUARD_C(add_v3(x, ca, NID_key_usage, "critical,digitalSignature"));
    KG_GUARD_C(add_v3(x, ca, NID_ext_key_usage, "clientAuth"));
    KG_GUARD_C(kg_ratls_add_ext(x, KG_OID_RATLS_QUOTE, quote, quote_len));
    KG_GUARD_C(kg_ratls_add_ext(x, KG_OID_RATLS_EVENTLOG, event_log, strlen(event_log)));
    if (app_id != NULL)
        KG_GUARD_C(kg_ratls_add_ext(x, KG_OID_RATLS_APP_ID, app_id, 20));
    if (usage != NULL)
        KG_GUARD_C(kg_ratls_add_ext(x, KG_OID_RATLS_USAGE, usage, strlen(usage)));
    KG_ENSURE_OSSL_C(X509_sign(x, kg_p256_evp(ca_key), EVP_sha256()) > 0, KG_ERR_CRYPTO,
                     "signing the RA-TLS certificate");
    BIO_free(bio);
    bio = BIO_new(BIO_s_mem());
    KG_ENSURE_OSSL_C(bio != NULL && PEM_write_bio_X509(bio, x) == 1, KG_ERR_CRYPTO, "PEM");
    char *p;
    long n = BIO_get_mem_data(bio, &p);
    KG_GUARD_C(kg_buf_append(cert_pem, p, (size_t)n));
    KG_GUARD_C(kg_buf_terminate(cert_pem));
    rc = KG_OK;
cleanup:
    X509_free(x);
    X509_free(ca);
    kg_p256_free(ca_key);
    BIO_free(bio);
    return rc;
}

/* ---- TLS calls ------------------------------------------------------------------------------- */

/* The usage extension of a certificate, compared with want. */
static bool has_usage(X509 *cert, const char *want)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(KG_OID_RATLS_USAGE, 1);
    int idx = obj ? X509_get_ext_by_OBJ(cert, obj, -1) : -1;
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return false;
    ASN1_OCTET_STRING *outer = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
    const unsigned char *p = ASN1_STRING_get0_data(outer);
    long n = ASN1_STRING_length(outer);
    const unsigned char *end = p + n;
    ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, n);
    bool ok = inner != NULL && p == end &&
              (size_t)ASN1_STRING_length(inner) == strlen(want) &&
              memcmp(ASN1_STRING_get0_data(inner), want, strlen(want)) == 0;
    ASN1_OCTET_STRING_free(inner);
    return ok;
}

/* Chain verification is OpenSSL's, against the pinned root only. On top, the leaf must be issued
 * directly by that root (a chain of exactly two): the root also certifies app CAs, and older
 * KMS versions certified the temporary CA whose key is public, so anything longer could have
 * been minted by someone else. And it must say it is a KMS RPC endpoint, so an app CA's leaf
 * cannot pose as one. */
static int verify_kms_leaf(int preverify_ok, X509_STORE_CTX *ctx)
{
    if (!preverify_ok)
        return 0;
    if (X509_STORE_CTX_get_error_depth(ctx) != 0)
        return 1;
    X509 *leaf = X509_STORE_CTX_get_current_cert(ctx);
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    if (chain == NULL || sk_X509_num(chain) != 2 || X509_check_ca(leaf) != 0) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_PATH_LENGTH_EXCEEDED);
        return 0;
    }
    if (!has_usage(leaf, KG_RATLS_USAGE_KMS_RPC)) {
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    /* Keep the leaf for the attestation check after the handshake. */
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    kg_buf *keep = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    unsigned char *der = NULL;
    int n = i2d_X509(leaf, &der);
    bool kept = keep != NULL && n > 0 && kg_ok(kg_buf_append(keep, der, (size_t)n));
    OPENSSL_free(der);
    if (!kept) {
        kg_error_clear();
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }
    return 1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *parm)
{
    (void)curl;
    SSL_CTX_set_app_data((SSL_CTX *)sslctx, parm);
    SSL_CTX_set_verify((SSL_CTX *)sslctx, SSL_VERIFY_PEER, verify_kms_leaf);
    return CURLE_OK;
}

/* The KMS's attestation: its RA-TLS certificate verified as a KMS RPC endpoint, and its
 * measured identity allowed as a KMS by governance (isKmsAllowed): a genuine TD is not enough,
 * it must run the KMS the chain allows. */
static kg_result verify_kms_attestation(const kg_buf *leaf, const kg_agent_kms_endpoint *ep)
{
    const kg_kms_trust *t = ep->trust;
    kg_ratls_identity *id = calloc(1, sizeof(*id));
    kg_eth_decision *d = calloc(1, sizeof(*d));
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(id && d, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_ratls_verify_cert(id, leaf->data, leaf->len, t->attestation));
    KG_ENSURE_C(id->has_usage && strcmp(id->usage, KG_RATLS_USAGE_KMS_RPC) == 0, KG_ERR_VERIFY,
                "attested certificate is not a KMS RPC certificate");
    KG_ENSURE_C(id->boot.has_device_id, KG_ERR_VERIFY,
                "PCK certificate carries no PPID (no device id)");
    KG_GUARD_CTX_C(kg_eth_policy_check(d, t->governance, t->kms_contract, KG_ETH_POLICY_KMS,
                                       &id->boot, NULL),
                   "asking governance (isKmsAllowed)");
    KG_ENSURE_C(d->allowed, KG_ERR_VERIFY, "not a KMS governance allows: %s", d->reason);
    rc = KG_OK;
cleanup:
    free(id);
    free(d);
    KG_GUARD_CTX(rc, "KMS at %s: attestation", ep->url);
    return KG_OK;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    kg_buf *b = ud;
    size_t n = size * nmemb;
    if (kg_failed(kg_buf_append(b, ptr, n)))
        return 0; /* over the cap: curl aborts with CURLE_WRITE_ERROR */
    return n;
}

kg_result kg_agent_kms_call(kg_buf *reply, long *status, const kg_agent_kms_endpoint *ep, const char *method,
                      const char *body, const char *cert_pem, const char *key_pem)
{
    kg_result rc = KG_ERROR;
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    kg_buf url, leaf;
    char err[CURL_ERROR_SIZE] = "";
    kg_buf_init(&url, 4096);
    kg_buf_init(&leaf, KG_MAX_RATLS_CERT_LEN);
    *status = 0;
    KG_ENSURE_C(c != NULL, KG_ERR_NOMEM, "curl_easy_init failed");
    KG_ENSURE_C(ep->trust != NULL && ep->trust->root_ca_pem != NULL, KG_ERR_USAGE,
                "no pinned KMS root CA: refusing to talk to an unauthenticated KMS");
    KG_ENSURE_C(strncmp(ep->url, "https://", 8) == 0, KG_ERR_USAGE,
                "KMS URL '%s' is not https://", ep->url);
    size_t ulen = strlen(ep->url);
    while (ulen > 0 && ep->url[ulen - 1] == '/')
        ulen--;
    KG_GUARD_C(kg_buf_printf(&url, "%.*s/prpc/%s?json", (int)ulen, ep->url, method));
    KG_GUARD_C(kg_buf_terminate(&url));
    struct curl_blob ca = {.data = (void *)ep->trust->root_ca_pem,
                           .len = strlen(ep->trust->root_ca_pem),
                           .flags = CURL_BLOB_COPY};
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ep->timeout_ms > 0 ? ep->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    /* The KMS is identified by its root CA (leaf issued directly by it), the kms:rpc usage and,
     * with attestation, its measured identity; not by a host name: KMS nodes are reached by
     * address and their certificates name "kms.keygate". */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &leaf);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L); /* every call re-verifies its server */
    if (cert_pem != NULL) {
        struct curl_blob cb = {.data = (void *)cert_pem, .len = strlen(cert_pem),
                               .flags = CURL_BLOB_COPY};
        /* NOCOPY: the key stays in the caller's wiped buffer, not in a curl copy. */
        struct curl_blob kb = {.data = (void *)key_pem, .len = strlen(key_pem),
                               .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    CURLcode cr = curl_easy_perform(c);
    KG_ENSURE_C(cr == CURLE_OK, KG_ERR_NETWORK, "KMS %s at %s: %s", method, ep->url,
                err[0] ? err : curl_easy_strerror(cr));
    if (ep->trust->attestation != NULL) {
        KG_ENSURE_C(leaf.len > 0, KG_ERR_VERIFY, "KMS at %s: no server certificate seen",
                    ep->url);
        KG_GUARD_C(verify_kms_attestation(&leaf, ep));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    KG_GUARD_C(kg_buf_terminate(reply));
    rc = KG_OK;
cleanup:
    curl_slist_free_all(hdr);
    if (c)
        curl_easy_cleanup(c);
    kg_buf_free(&url);
    kg_buf_free(&leaf);
    if (kg_failed(rc) && reply != NULL) {
        kg_buf_reset(reply); /* nothing from an unverified server is kept */
        reply->len = 0;
    }
    return rc;
}
