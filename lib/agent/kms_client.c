/* kms_client.c - the agent's side of the KMS API (docs/protocol.md section 5): RA-TLS client
 * certificates (docs/protocol.md section 4) and JSON calls over TLS that accept only a KMS server
 * certificate issued under the pinned KMS root CA with usage "kms:rpc". */
#include "kms_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "keygate/eventlog.h"
#include "keygate/hash.h"
#include "keygate/https.h"
#include "keygate/quote.h"

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

kg_result kg_agent_ratls_client_cert(kg_buf *cert_pem, const kg_p256_key *key,
                                     const char *ca_cert_pem, const char *ca_key_pem,
                                     const uint8_t *quote, size_t quote_len, const char *event_log,
                                     const uint8_t *app_id, const char *usage,
                                     kg_ratls_format format)
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
    KG_GUARD_CTX_C(kg_p256_from_pem(&ca_key, ca_key_pem, strlen(ca_key_pem)), "temporary CA key");
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
    KG_GUARD_C(kg_ratls_add_evidence_exts(x, format, key, quote, quote_len, event_log,
                                          strlen(event_log), NULL));
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
    bool ok = inner != NULL && p == end && (size_t)ASN1_STRING_length(inner) == strlen(want) &&
              memcmp(ASN1_STRING_get0_data(inner), want, strlen(want)) == 0;
    ASN1_OCTET_STRING_free(inner);
    return ok;
}

/* A verified identity is a KMS governance allows now (isKmsAllowed): a genuine TD is not
 * enough, it must run the KMS the chain allows. */
static kg_result kms_allowed(const kg_ratls_identity *id, const kg_kms_trust *t)
{
    KG_ENSURE(id->boot.has_device_id, KG_ERR_VERIFY,
              "PCK certificate carries no PPID (no device id)");
    kg_eth_decision *d = calloc(1, sizeof(*d));
    KG_ENSURE(d != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc =
        kg_eth_policy_check(d, t->governance, t->kms_contract, KG_ETH_POLICY_KMS, &id->boot, NULL);
    if (kg_failed(rc))
        (void)kg_error_context("asking governance (isKmsAllowed)");
    else if (!d->allowed)
        rc = kg_error_set(KG_ERR_VERIFY, __FILE__, __LINE__, "not a KMS governance allows: %s",
                          d->reason);
    free(d);
    return rc;
}

/* The KMS's attestation: its RA-TLS certificate verified as a KMS RPC endpoint, and its
 * measured identity allowed as a KMS by governance. */
static kg_result verify_kms_attestation(X509 *leaf, const kg_kms_trust *t)
{
    kg_ratls_identity *id = calloc(1, sizeof(*id));
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(id, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_ratls_verify_x509(id, leaf, t->attestation));
    KG_ENSURE_C(id->has_usage && strcmp(id->usage, KG_RATLS_USAGE_KMS_RPC) == 0, KG_ERR_VERIFY,
                "attested certificate is not a KMS RPC certificate");
    KG_GUARD_C(kms_allowed(id, t));
    rc = KG_OK;
cleanup:
    free(id);
    KG_GUARD_CTX(rc, "attestation");
    return KG_OK;
}

/* Judged during the handshake, before the request is sent: the leaf is issued directly by the
 * pinned root (a chain of exactly two: the root also certifies app CAs, and older KMS versions
 * certified the temporary CA whose key is public, so anything longer could have been minted by
 * someone else), is not a CA, says it is a KMS RPC endpoint (an app CA's leaf cannot pose as
 * one), and, with attestation on, is an attested KMS that governance allows. */
static kg_result verify_kms_server(void *ctx, X509 *leaf, STACK_OF(X509) * chain)
{
    const kg_kms_trust *t = ctx;
    KG_ENSURE(chain != NULL && sk_X509_num(chain) == 2 && X509_check_ca(leaf) == 0, KG_ERR_VERIFY,
              "server certificate is not issued directly by the pinned KMS root CA (chain of "
              "%d)",
              chain ? sk_X509_num(chain) : 0);
    KG_ENSURE(has_usage(leaf, KG_RATLS_USAGE_KMS_RPC), KG_ERR_VERIFY,
              "server certificate does not carry usage kms:rpc");
    if (t->attestation != NULL)
        KG_GUARD(verify_kms_attestation(leaf, t));
    return KG_OK;
}

kg_result kg_agent_kms_call(kg_buf *reply, long *status, const kg_agent_kms_endpoint *ep,
                            const char *method, const char *body, const char *cert_pem,
                            const char *key_pem)
{
    *status = 0;
    KG_ENSURE(ep->trust != NULL && ep->trust->root_ca_pem != NULL, KG_ERR_USAGE,
              "no pinned KMS root CA: refusing to talk to an unauthenticated KMS");
    KG_ENSURE(strncmp(ep->url, "https://", 8) == 0, KG_ERR_USAGE, "KMS URL '%s' is not https://",
              ep->url);
    char url[KG_HTTPS_MAX_URL];
    size_t ulen = strlen(ep->url);
    while (ulen > 0 && ep->url[ulen - 1] == '/')
        ulen--;
    int w = snprintf(url, sizeof(url), "%.*s/prpc/%s?json", (int)ulen, ep->url, method);
    KG_ENSURE(w > 0 && (size_t)w < sizeof(url), KG_ERR_USAGE, "KMS URL '%.100s' too long", ep->url);
    kg_https_request r = {.url = url,
                          .body = body,
                          .timeout_ms = ep->timeout_ms,
                          .ca_pem = ep->trust->root_ca_pem,
                          .cert_pem = cert_pem,
                          .key_pem = key_pem,
                          .verify_server = verify_kms_server,
                          .verify_ctx = (void *)ep->trust};
    KG_GUARD_CTX(kg_https_post(reply, status, &r), "KMS %s at %s", method, ep->url);
    return KG_OK;
}

/* Reads a hex member of the log key's attestation into a fresh buffer of at most cap bytes. */
static kg_result att_hex(kg_buf *out, const json_t *att, const char *name, size_t cap)
{
    const char *h = json_string_value(json_object_get(att, name));
    KG_ENSURE(h != NULL, KG_ERR_VERIFY, "/log-key: attestation has no '%s'", name);
    KG_ENSURE(strlen(h) <= 2 * cap, KG_ERR_TOO_LARGE, "/log-key: attestation '%s' too large", name);
    KG_GUARD_CTX(kg_hex_decode_buf(out, h, strlen(h)), "/log-key: attestation '%s'", name);
    return KG_OK;
}

kg_result kg_agent_kms_log_key_check(const kg_agent_kms_endpoint *ep, const char *name,
                                     const uint8_t pub[KG_ED25519_PUB_LEN])
{
    const kg_kms_trust *t = ep->trust;
    KG_ENSURE(t != NULL && t->attestation != NULL && t->governance != NULL, KG_ERR_USAGE,
              "checking the log key's attestation needs the attestation policy and the chain");
    kg_result rc = KG_ERROR;
    char url[KG_HTTPS_MAX_URL];
    size_t ulen = strlen(ep->url);
    while (ulen > 0 && ep->url[ulen - 1] == '/')
        ulen--;
    int w = snprintf(url, sizeof(url), "%.*s/log-key", (int)ulen, ep->url);
    KG_ENSURE(w > 0 && (size_t)w < sizeof(url), KG_ERR_USAGE, "KMS URL '%.100s' too long", ep->url);
    kg_buf reply, spki, quote, evlog;
    kg_buf_init(&reply, 2 * (KG_MAX_QUOTE_LEN + KG_MAX_EVENTLOG_JSON_LEN) + 64u * 1024u);
    kg_buf_init(&spki, 1024);
    kg_buf_init(&quote, KG_MAX_QUOTE_LEN);
    kg_buf_init(&evlog, KG_MAX_EVENTLOG_JSON_LEN);
    json_t *doc = NULL;
    kg_ratls_identity *id = calloc(1, sizeof(*id));
    long status = 0;
    KG_ENSURE_C(id != NULL, KG_ERR_NOMEM, "out of memory");
    kg_https_request r = {.url = url,
                          .get = true,
                          .timeout_ms = ep->timeout_ms,
                          .ca_pem = t->root_ca_pem,
                          .verify_server = verify_kms_server,
                          .verify_ctx = (void *)t};
    KG_GUARD_CTX_C(kg_https_post(&reply, &status, &r), "KMS /log-key at %s", ep->url);
    doc = json_loadb((const char *)reply.data, reply.len, JSON_REJECT_DUPLICATES, NULL);
    KG_ENSURE_C(status == 200 && json_is_object(doc), KG_ERR_VERIFY,
                "KMS /log-key at %s answered %ld", ep->url, status);
    const char *got_name = json_string_value(json_object_get(doc, "name"));
    const char *got_pub = json_string_value(json_object_get(doc, "pubkey"));
    uint8_t pub_bytes[KG_ED25519_PUB_LEN];
    KG_ENSURE_C(got_name != NULL && strcmp(got_name, name) == 0 && got_pub != NULL &&
                    kg_ok(kg_hex_decode_exact(pub_bytes, sizeof(pub_bytes), got_pub)) &&
                    memcmp(pub_bytes, pub, sizeof(pub_bytes)) == 0,
                KG_ERR_VERIFY, "the KMS's /log-key is not the log key '%s' of the receipt", name);
    const json_t *att = json_object_get(doc, "attestation");
    KG_ENSURE_C(json_is_object(att), KG_ERR_VERIFY,
                "the KMS's log key is not bound into its attestation (no 'attestation')");
    KG_GUARD_C(att_hex(&spki, att, "spki", 1024));
    KG_GUARD_C(att_hex(&quote, att, "quote", KG_MAX_QUOTE_LEN));
    KG_GUARD_C(att_hex(&evlog, att, "eventlog", KG_MAX_EVENTLOG_JSON_LEN));
    uint8_t want_spki[KG_ED25519_SPKI_LEN];
    KG_GUARD_C(kg_ed25519_spki(want_spki, pub));
    KG_ENSURE_C(spki.len == sizeof(want_spki) && memcmp(spki.data, want_spki, spki.len) == 0,
                KG_ERR_VERIFY, "the log key's attestation binds another key");
    KG_GUARD_CTX_C(kg_ratls_verify_key_evidence(id, spki.data, spki.len, quote.data, quote.len,
                                                (const char *)evlog.data, evlog.len,
                                                t->attestation),
                   "the log key's attestation");
    KG_GUARD_CTX_C(kms_allowed(id, t), "the log key's attestation");
    rc = KG_OK;
cleanup:
    json_decref(doc);
    free(id);
    kg_buf_free(&reply);
    kg_buf_free(&spki);
    kg_buf_free(&quote);
    kg_buf_free(&evlog);
    return rc;
}

kg_result kg_agent_receipt_check(const char *json, size_t len, const kg_log_release_expect *want,
                                 const kg_agent_kms_endpoint *ep)
{
    kg_result rc = KG_ERROR;
    kg_log_receipt *r = malloc(sizeof(*r));
    KG_ENSURE(r != NULL, KG_ERR_NOMEM, "out of memory");
    kg_log_receipt_init(r);
    kg_log_entry e;
    json_t *obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    KG_ENSURE_C(obj != NULL, KG_ERR_INPUT, "receipt: not JSON");
    KG_GUARD_C(kg_log_receipt_parse(r, obj));
    KG_GUARD_C(kg_log_receipt_verify(&e, r, ep->trust->root_k256_pub));
    KG_GUARD_C(kg_log_release_check(&e, want));
    /* With the KMS's attestation checked, its log key must be bound into it too. */
    if (ep->trust->attestation != NULL)
        KG_GUARD_C(kg_agent_kms_log_key_check(ep, r->log_name, r->log_pub));
    rc = KG_OK;
cleanup:
    json_decref(obj);
    kg_log_receipt_free(r);
    free(r);
    return rc;
}
