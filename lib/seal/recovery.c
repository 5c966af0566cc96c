/* recovery.c - the recovery request of a fresh KMS, a holder's checks of it, and the share a
 * holder boxes to it (recovery.h; docs/design.md, "Sealed root keys"). */
#include "keygate/recovery.h"

#include <jansson.h>
#include <string.h>

#include <openssl/x509.h>

#include "keygate/hash.h"

void kg_recovery_request_free(kg_recovery_request *rq)
{
    if (rq == NULL)
        return;
    kg_buf_free(&rq->cert_der);
    memset(rq, 0, sizeof(*rq));
}

static kg_result statement(uint8_t *out, size_t out_len, const uint8_t x25519_pub[KG_X25519_LEN],
                           const uint8_t header_sha256[32])
{
    size_t d = sizeof(KG_RECOVERY_DOMAIN) - 1;
    KG_ENSURE(out_len == d + KG_X25519_LEN + 32, KG_ERR_INTERNAL, "statement length");
    memcpy(out, KG_RECOVERY_DOMAIN, d);
    memcpy(out + d, x25519_pub, KG_X25519_LEN);
    memcpy(out + d + KG_X25519_LEN, header_sha256, 32);
    return KG_OK;
}

#define STATEMENT_LEN (sizeof(KG_RECOVERY_DOMAIN) - 1 + KG_X25519_LEN + 32)

static kg_result hex_string(char **out, const uint8_t *b, size_t n)
{
    *out = malloc(2 * n + 1);
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "out of memory");
    return kg_hex_encode(*out, 2 * n + 1, b, n);
}

kg_result kg_recovery_request_build(kg_buf *out, const kg_p256_key *key, const uint8_t *cert_der,
                                    size_t cert_len, const uint8_t x25519_pub[KG_X25519_LEN],
                                    const kg_sealed_file *f)
{
    kg_result rc = KG_ERROR;
    uint8_t hh[32], msg[STATEMENT_LEN], sig[KG_P256_SIG_LEN];
    char *cert_hex = NULL, pub_hex[65], hh_hex[65], sig_hex[129];
    json_t *doc = NULL;
    char *text = NULL;
    KG_GUARD(kg_sha256(hh, f->header_bytes, KG_SEALED_HEADER_LEN));
    KG_GUARD(statement(msg, sizeof(msg), x25519_pub, hh));
    KG_GUARD(kg_p256_sign(sig, key, msg, sizeof(msg)));
    KG_GUARD_C(hex_string(&cert_hex, cert_der, cert_len));
    KG_GUARD_C(kg_hex_encode(pub_hex, sizeof(pub_hex), x25519_pub, KG_X25519_LEN));
    KG_GUARD_C(kg_hex_encode(hh_hex, sizeof(hh_hex), hh, sizeof(hh)));
    KG_GUARD_C(kg_hex_encode(sig_hex, sizeof(sig_hex), sig, sizeof(sig)));
    doc = json_pack("{s:i,s:s,s:s,s:s,s:s}", "version", 1, "certificate", cert_hex, "x25519_pub",
                    pub_hex, "sealed_header_sha256", hh_hex, "signature", sig_hex);
    KG_ENSURE_C(doc != NULL, KG_ERR_NOMEM, "out of memory");
    text = json_dumps(doc, JSON_INDENT(2));
    KG_ENSURE_C(text != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_buf_append_str(out, text));
    KG_GUARD_C(kg_buf_terminate(out));
    rc = KG_OK;
cleanup:
    free(text);
    json_decref(doc);
    free(cert_hex);
    return rc;
}

/* A required string member of hex for exactly n bytes (n == 0: any length up to max into buf). */
static kg_result hex_member(const json_t *doc, const char *name, uint8_t *out, size_t n)
{
    const char *s = json_string_value(json_object_get(doc, name));
    KG_ENSURE(s != NULL, KG_ERR_INPUT, "member '%s' missing or not a string", name);
    KG_GUARD_CTX(kg_hex_decode_exact(out, n, s), "member '%s'", name);
    return KG_OK;
}

/* Every member is one of `names` (the object's keys were already checked unique). */
static kg_result only_members(const json_t *doc, const char *const *names, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        (void)v;
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, names[i]) == 0;
        KG_ENSURE(known, KG_ERR_INPUT, "unknown member '%.40s'", k);
    }
    return KG_OK;
}

static kg_result load_object(json_t **out, const char *json, size_t len, size_t max)
{
    KG_ENSURE(len <= max, KG_ERR_TOO_LARGE, "%zu bytes exceed %zu", len, max);
    json_error_t e;
    *out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    KG_ENSURE(*out != NULL, KG_ERR_INPUT, "not JSON: %s", e.text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        KG_BAIL(KG_ERR_INPUT, "not a JSON object");
    }
    json_t *v = json_object_get(*out, "version");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        json_decref(*out);
        *out = NULL;
        KG_BAIL(KG_ERR_INPUT, "member 'version' is not 1");
    }
    return KG_OK;
}

kg_result kg_recovery_request_parse(kg_recovery_request *out, const char *json, size_t len)
{
    static const char *const names[] = {"version", "certificate", "x25519_pub",
                                        "sealed_header_sha256", "signature"};
    kg_result rc = KG_ERROR;
    json_t *doc = NULL;
    memset(out, 0, sizeof(*out));
    kg_buf_init(&out->cert_der, KG_MAX_RATLS_CERT_LEN);
    KG_GUARD_C(load_object(&doc, json, len, KG_RECOVERY_MAX_JSON));
    KG_GUARD_C(only_members(doc, names, sizeof(names) / sizeof(names[0])));
    const char *cert = json_string_value(json_object_get(doc, "certificate"));
    KG_ENSURE_C(cert != NULL && cert[0] != '\0', KG_ERR_INPUT,
                "member 'certificate' missing or empty");
    KG_GUARD_CTX_C(kg_hex_decode_buf(&out->cert_der, cert, strlen(cert)), "member 'certificate'");
    KG_GUARD_C(hex_member(doc, "x25519_pub", out->x25519_pub, KG_X25519_LEN));
    KG_GUARD_C(hex_member(doc, "sealed_header_sha256", out->header_sha256, 32));
    KG_GUARD_C(hex_member(doc, "signature", out->signature, KG_P256_SIG_LEN));
    rc = KG_OK;
cleanup:
    json_decref(doc);
    if (kg_failed(rc)) {
        kg_recovery_request_free(out);
        return kg_error_context("recovery request");
    }
    return rc;
}

/* The certificate's public key (the key the quote binds, once the certificate verified). */
static kg_result cert_key(kg_p256_key **out, const kg_buf *der)
{
    const unsigned char *p = der->data;
    X509 *x = d2i_X509(NULL, &p, (long)der->len);
    KG_ENSURE_OSSL(x != NULL, KG_ERR_INPUT, "certificate does not decode");
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
    X509_free(x);
    KG_ENSURE_OSSL(n > 0, KG_ERR_INPUT, "certificate key does not encode");
    kg_result r = kg_p256_from_pem(out, (const char *)spki, (size_t)n);
    OPENSSL_free(spki);
    return r;
}

kg_result kg_recovery_request_verify(kg_ratls_identity *id, const kg_recovery_request *rq,
                                     const kg_sealed_file *f, const kg_ratls_policy *policy,
                                     kg_eth_client *eth)
{
    kg_result rc = KG_ERROR;
    uint8_t hh[32], msg[STATEMENT_LEN];
    kg_p256_key *key = NULL;
    kg_eth_decision d;
    memset(id, 0, sizeof(*id));
    KG_GUARD(kg_sha256(hh, f->header_bytes, KG_SEALED_HEADER_LEN));
    KG_ENSURE(memcmp(hh, rq->header_sha256, 32) == 0, KG_ERR_DENIED,
              "the request is for another sealed file (its header hash differs from this one's)");
    KG_GUARD_CTX(kg_ratls_verify_cert(id, rq->cert_der.data, rq->cert_der.len, policy),
                 "the requesting KMS's attestation");
    KG_ENSURE(id->boot.has_app_id && memcmp(id->boot.app_id, f->header.kms_contract, 20) == 0,
              KG_ERR_DENIED,
              "the requesting VM's measured identity is not a KMS of this deployment (app id is "
              "not the KMS contract)");
    KG_GUARD_C(cert_key(&key, &rq->cert_der));
    KG_GUARD_C(statement(msg, sizeof(msg), rq->x25519_pub, rq->header_sha256));
    KG_GUARD_CTX_C(kg_p256_verify(key, msg, sizeof(msg), rq->signature),
                   "the X25519 key is not signed by the attested certificate key");
    KG_GUARD_CTX_C(
        kg_eth_policy_check(&d, eth, f->header.kms_contract, KG_ETH_POLICY_KMS, &id->boot, NULL),
        "asking governance (isKmsAllowed)");
    KG_ENSURE_C(d.allowed, KG_ERR_DENIED, "governance does not allow the requesting KMS: %s",
                d.reason);
    rc = KG_OK;
cleanup:
    kg_p256_free(key);
    if (kg_failed(rc))
        memset(id, 0, sizeof(*id));
    return rc;
}

kg_result kg_recovery_share_seal(kg_buf *out, const kg_recovery_request *rq,
                                 const kg_sealed_file *f, const kg_shamir_share *share)
{
    kg_result rc = KG_ERROR;
    uint8_t aad[KG_SEALED_SHARE_AAD_LEN], pt[KG_SHAMIR_SHARE_LEN];
    char pub_hex[65], *box_hex = NULL, *text = NULL;
    json_t *doc = NULL;
    kg_buf box;
    kg_buf_init(&box, KG_SHAMIR_SHARE_LEN + KG_BOX_OVERHEAD);
    KG_ENSURE(share->x >= 1 && share->x <= f->n, KG_ERR_USAGE, "share x = %u of %u", share->x,
              f->n);
    pt[0] = share->x;
    memcpy(pt + 1, share->y, KG_SHAMIR_SECRET_LEN);
    KG_GUARD_C(kg_sealed_share_aad(aad, f, share->x));
    KG_GUARD_C(kg_box_seal(&box, rq->x25519_pub, KG_BOX_LABEL_NODE_SHARE, aad, sizeof(aad), pt,
                           sizeof(pt)));
    KG_GUARD_C(kg_hex_encode(pub_hex, sizeof(pub_hex), rq->x25519_pub, KG_X25519_LEN));
    KG_GUARD_C(hex_string(&box_hex, box.data, box.len));
    doc = json_pack("{s:i,s:s,s:i,s:s}", "version", 1, "x25519_pub", pub_hex, "x", (int)share->x,
                    "box", box_hex);
    KG_ENSURE_C(doc != NULL, KG_ERR_NOMEM, "out of memory");
    text = json_dumps(doc, JSON_COMPACT);
    KG_ENSURE_C(text != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_buf_append_str(out, text));
    KG_GUARD_C(kg_buf_append_str(out, "\n"));
    rc = KG_OK;
cleanup:
    kg_memzero(pt, sizeof(pt));
    free(text);
    free(box_hex);
    json_decref(doc);
    kg_buf_free(&box);
    return rc;
}

/* The share JSON's members, checked (x against n when n > 0). */
static kg_result parse_share(uint8_t to[KG_X25519_LEN], uint8_t *x,
                             uint8_t box[KG_SHAMIR_SHARE_LEN + KG_BOX_OVERHEAD], const char *json,
                             size_t len, unsigned n)
{
    static const char *const names[] = {"version", "x25519_pub", "x", "box"};
    kg_result rc = KG_ERROR;
    json_t *doc = NULL;
    KG_GUARD_C(load_object(&doc, json, len, KG_RECOVERY_MAX_SHARE_JSON));
    KG_GUARD_C(only_members(doc, names, sizeof(names) / sizeof(names[0])));
    KG_GUARD_C(hex_member(doc, "x25519_pub", to, KG_X25519_LEN));
    json_t *xv = json_object_get(doc, "x");
    json_int_t max = n > 0 ? (json_int_t)n : (json_int_t)KG_SHAMIR_MAX_SHARES;
    KG_ENSURE_C(json_is_integer(xv) && json_integer_value(xv) >= 1 && json_integer_value(xv) <= max,
                KG_ERR_INPUT, "member 'x' is not 1..%lld", (long long)max);
    *x = (uint8_t)json_integer_value(xv);
    KG_GUARD_C(hex_member(doc, "box", box, KG_SHAMIR_SHARE_LEN + KG_BOX_OVERHEAD));
    rc = KG_OK;
cleanup:
    json_decref(doc);
    return rc;
}

kg_result kg_recovery_share_peek(uint8_t to[KG_X25519_LEN], uint8_t *x, const char *json,
                                 size_t len)
{
    uint8_t box[KG_SHAMIR_SHARE_LEN + KG_BOX_OVERHEAD];
    KG_GUARD_CTX(parse_share(to, x, box, json, len, 0), "recovery share");
    return KG_OK;
}

kg_result kg_recovery_share_open(kg_shamir_share *out, const char *json, size_t len,
                                 const uint8_t x25519_secret[KG_X25519_LEN],
                                 const uint8_t x25519_pub[KG_X25519_LEN], const kg_sealed_file *f)
{
    kg_result rc = KG_ERROR;
    uint8_t to[KG_X25519_LEN], aad[KG_SEALED_SHARE_AAD_LEN], x = 0;
    uint8_t box[KG_SHAMIR_SHARE_LEN + KG_BOX_OVERHEAD];
    kg_buf pt;
    kg_buf_init(&pt, KG_SHAMIR_SHARE_LEN);
    memset(out, 0, sizeof(*out));
    KG_GUARD_C(parse_share(to, &x, box, json, len, f->n));
    KG_ENSURE_C(memcmp(to, x25519_pub, KG_X25519_LEN) == 0, KG_ERR_DENIED,
                "the share is boxed to another recovery request's key");
    KG_GUARD_C(kg_sealed_share_aad(aad, f, x));
    KG_GUARD_C(kg_box_open(&pt, x25519_secret, KG_BOX_LABEL_NODE_SHARE, aad, sizeof(aad), box,
                           sizeof(box)));
    KG_ENSURE_C(pt.len == KG_SHAMIR_SHARE_LEN && pt.data[0] == x, KG_ERR_VERIFY,
                "the boxed share is not share x = %u", x);
    out->x = x;
    memcpy(out->y, pt.data + 1, KG_SHAMIR_SECRET_LEN);
    rc = KG_OK;
cleanup:
    kg_buf_free(&pt);
    if (kg_failed(rc)) {
        kg_memzero(out, sizeof(*out));
        return kg_error_context("recovery share");
    }
    return rc;
}
