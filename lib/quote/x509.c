/* x509.c - OpenSSL helpers of the DCAP verifier: raw ECDSA P-256, PEM chains, ASN.1 times. */
/* EC_KEY/ECDSA_do_verify are deprecated in OpenSSL 3 but supported; see kg_dcap_ecdsa_verify. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "dcap_internal.h"
#include "keygate/bytes.h"
#include "keygate/hash.h"

_Thread_local void (*kg_dcap_ecdsa_hook)(void *arg, const char *what);
_Thread_local void *kg_dcap_ecdsa_hook_arg;

/* The one place every ECDSA verification of the verifier goes through: SHA-256 of the signed
 * bytes, then ECDSA_do_verify on the key's EC_KEY. */
static kg_result ecdsa_verify_digest(EVP_PKEY *key, const ECDSA_SIG *sig, const uint8_t *data,
                                     size_t len, const char *what)
{
    uint8_t digest[KG_SHA256_LEN];
    KG_ENSURE(EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 256, KG_ERR_VERIFY,
              "%s: key is not P-256", what);
    KG_GUARD(kg_sha256(digest, data, len));
    /* The EC_KEY route skips the provider dispatch of EVP_PKEY_verify (~4 us of ~60 us per
     * check, on the path every KMS request takes); the math is the same ECDSA verification,
     * which rejects r or s outside [1, n-1]. */
    const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(key);
    KG_ENSURE_OSSL(ec != NULL, KG_ERR_CRYPTO, "%s: EC key", what);
    if (kg_dcap_ecdsa_hook)
        kg_dcap_ecdsa_hook(kg_dcap_ecdsa_hook_arg, what);
    int ok = ECDSA_do_verify(digest, sizeof(digest), sig, (EC_KEY *)ec);
    ERR_clear_error();
    KG_ENSURE(ok == 1, KG_ERR_VERIFY, "%s: signature does not verify", what);
    return KG_OK;
}

kg_result kg_dcap_ecdsa_verify(EVP_PKEY *key, const uint8_t sig[64], const uint8_t *data,
                               size_t len, const char *what)
{
    kg_result rc = KG_ERROR;
    ECDSA_SIG *s = NULL;
    BIGNUM *r = NULL, *ss = NULL;

    s = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    ss = BN_bin2bn(sig + 32, 32, NULL);
    KG_ENSURE_OSSL_C(s && r && ss, KG_ERR_NOMEM, "%s: allocating signature", what);
    KG_ENSURE_OSSL_C(ECDSA_SIG_set0(s, r, ss) == 1, KG_ERR_CRYPTO, "%s: signature", what);
    r = ss = NULL; /* owned by s now */
    KG_GUARD_C(ecdsa_verify_digest(key, s, data, len, what));
    rc = KG_OK;
cleanup:
    ECDSA_SIG_free(s);
    BN_free(r);
    BN_free(ss);
    return rc;
}

/* ---- signatures of certificates and CRLs ------------------------------------------------------
 *
 *   Certificate / CertificateList ::= SEQUENCE { tbs SEQUENCE, signatureAlgorithm
 *       AlgorithmIdentifier, signature BIT STRING }
 *   the tbs holds its own copy of the algorithm: the first SEQUENCE inside it (after the optional
 *   version and, for certificates, the serial number).
 * The signed bytes are the tbs as it was received (OpenSSL keeps that encoding), hashed here and
 * checked with ECDSA_do_verify: the same check as X509_verify without its per-call provider
 * fetches, which are a tenth of a cold verification. Only ecdsa-with-SHA256 is accepted (Intel's
 * PKI and the simulator's use nothing else).
 */
static const uint8_t ECDSA_SHA256_ALG[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

/* One DER TLV: tag, definite length (up to 3 length bytes); *tlv spans header and value. */
static kg_result der_tlv(kg_reader *r, uint8_t *tag, kg_reader *val, const uint8_t **tlv,
                         size_t *tlv_len, const char *what)
{
    size_t start = r->pos;
    uint8_t b;
    KG_GUARD(kg_reader_u8(r, tag, what));
    KG_GUARD(kg_reader_u8(r, &b, what));
    size_t len = b;
    if (b & 0x80) {
        size_t n = b & 0x7f;
        KG_ENSURE(n >= 1 && n <= 3, KG_ERR_INPUT, "%s: unsupported DER length", what);
        len = 0;
        for (size_t i = 0; i < n; i++) {
            KG_GUARD(kg_reader_u8(r, &b, what));
            len = len << 8 | b;
        }
    }
    KG_GUARD(kg_reader_sub(r, val, len, what));
    *tlv = r->data + start;
    *tlv_len = r->pos - start;
    return KG_OK;
}

static kg_result verify_signed_der(EVP_PKEY *key, const uint8_t *der, size_t der_len,
                                   const char *what)
{
    kg_result rc = KG_ERROR;
    ECDSA_SIG *sig = NULL;
    uint8_t *re = NULL;
    kg_reader top, outer, v;
    const uint8_t *tbs, *alg, *bits, *x;
    size_t tbs_len, alg_len, bits_len, x_len;
    uint8_t tag;
    kg_reader tbs_r, alg_r, bits_r;

    kg_reader_init(&top, der, der_len);
    KG_GUARD_C(der_tlv(&top, &tag, &outer, &x, &x_len, what));
    KG_ENSURE_C(tag == 0x30 && kg_reader_remaining(&top) == 0, KG_ERR_INPUT, "%s: not DER", what);
    KG_GUARD_C(der_tlv(&outer, &tag, &tbs_r, &tbs, &tbs_len, what));
    KG_ENSURE_C(tag == 0x30, KG_ERR_INPUT, "%s: no signed part", what);
    KG_GUARD_C(der_tlv(&outer, &tag, &alg_r, &alg, &alg_len, what));
    KG_ENSURE_C(alg_len == sizeof(ECDSA_SHA256_ALG) && memcmp(alg, ECDSA_SHA256_ALG, alg_len) == 0,
                KG_ERR_VERIFY, "%s: signature algorithm is not ecdsa-with-SHA256", what);
    KG_GUARD_C(der_tlv(&outer, &tag, &bits_r, &bits, &bits_len, what));
    KG_ENSURE_C(tag == 0x03 && kg_reader_remaining(&outer) == 0, KG_ERR_INPUT, "%s: no signature",
                what);
    /* the algorithm inside the signed part must be the same (X509_verify checks it too) */
    bool found = false;
    while (kg_reader_remaining(&tbs_r) > 0 && !found) {
        KG_GUARD_C(der_tlv(&tbs_r, &tag, &v, &x, &x_len, what));
        found = tag == 0x30;
    }
    KG_ENSURE_C(found && x_len == alg_len && memcmp(x, alg, alg_len) == 0, KG_ERR_VERIFY,
                "%s: signature algorithms differ", what);
    uint8_t unused;
    KG_GUARD_C(kg_reader_u8(&bits_r, &unused, what));
    KG_ENSURE_C(unused == 0, KG_ERR_INPUT, "%s: signature BIT STRING", what);
    const uint8_t *sp = bits_r.data + bits_r.pos;
    size_t sl = kg_reader_remaining(&bits_r);
    const uint8_t *p = sp;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)sl);
    KG_ENSURE_OSSL_C(sig != NULL && p == sp + sl, KG_ERR_VERIFY, "%s: malformed signature", what);
    int rl = i2d_ECDSA_SIG(sig, &re);
    KG_ENSURE_C(rl > 0 && (size_t)rl == sl && memcmp(re, sp, sl) == 0, KG_ERR_VERIFY,
                "%s: signature is not DER", what);
    KG_GUARD_C(ecdsa_verify_digest(key, sig, tbs, tbs_len, what));
    rc = KG_OK;
cleanup:
    OPENSSL_free(re);
    ECDSA_SIG_free(sig);
    return rc;
}

kg_result kg_dcap_verify_cert_sig(X509 *cert, EVP_PKEY *issuer_key, const char *what)
{
    uint8_t *der = NULL;
    int n = i2d_X509(cert, &der);
    KG_ENSURE_OSSL(n > 0, KG_ERR_CRYPTO, "%s: encoding", what);
    kg_result rc = verify_signed_der(issuer_key, der, (size_t)n, what);
    OPENSSL_free(der);
    return rc;
}

kg_result kg_dcap_verify_crl_sig(X509_CRL *crl, EVP_PKEY *issuer_key, const char *what)
{
    uint8_t *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    KG_ENSURE_OSSL(n > 0, KG_ERR_CRYPTO, "%s: encoding", what);
    kg_result rc = verify_signed_der(issuer_key, der, (size_t)n, what);
    OPENSSL_free(der);
    return rc;
}

kg_result kg_dcap_p256_key(EVP_PKEY **out, const uint8_t xy[64])
{
    kg_result rc = KG_ERROR;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    uint8_t point[65];
    *out = NULL;
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    bld = OSSL_PARAM_BLD_new();
    KG_ENSURE_OSSL_C(bld != NULL, KG_ERR_NOMEM, "attestation key: params");
    KG_GUARD_OSSL_C(
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
        KG_ERR_CRYPTO, "attestation key: params");
    KG_GUARD_OSSL_C(
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
        KG_ERR_CRYPTO, "attestation key: params");
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    KG_ENSURE_OSSL_C(params && ctx, KG_ERR_NOMEM, "attestation key: context");
    KG_GUARD_OSSL_C(EVP_PKEY_fromdata_init(ctx), KG_ERR_CRYPTO, "attestation key: init");
    if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        KG_BAIL_C(KG_ERR_VERIFY, "attestation key is not a valid P-256 point");
    }
    rc = KG_OK;
cleanup:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* Strict PEM: only "-----BEGIN CERTIFICATE-----", base64 lines and "-----END CERTIFICATE-----",
 * each ended by one "\n", no blank lines, nothing else (what OpenSSL and Intel write). The base64
 * must be the canonical encoding of the DER and the DER must be consumed whole, so no byte of the
 * text can change unnoticed (the PCK chain in a quote is covered by no signature as text, only
 * certificate by certificate). */
#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

static size_t line_end(const uint8_t *p, size_t len, size_t pos, size_t *next)
{
    size_t i = pos;
    while (i < len && p[i] != '\n')
        i++;
    *next = i < len ? i + 1 : i;
    return i;
}

static bool is_b64(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

static kg_result pem_one(X509 **out, const uint8_t *p, size_t len, size_t *pos, const char *what,
                         kg_der_cache *cache)
{
    kg_result rc = KG_ERROR;
    uint8_t *b64 = NULL, *der = NULL, *enc = NULL;
    X509 *x = NULL;
    size_t next, e = line_end(p, len, *pos, &next);
    KG_ENSURE_C(e - *pos == strlen(PEM_BEGIN) && memcmp(p + *pos, PEM_BEGIN, e - *pos) == 0 &&
                    next > e,
                KG_ERR_INPUT, "%s: expected '" PEM_BEGIN "' at offset %zu", what, *pos);
    b64 = malloc(len);
    KG_ENSURE_C(b64 != NULL, KG_ERR_NOMEM, "%s: allocating", what);
    size_t n = 0;
    bool ended = false;
    for (*pos = next; *pos < len;) {
        e = line_end(p, len, *pos, &next);
        KG_ENSURE_C(next > e, KG_ERR_INPUT, "%s: unterminated PEM line", what);
        if (e - *pos == strlen(PEM_END) && memcmp(p + *pos, PEM_END, e - *pos) == 0) {
            *pos = next;
            ended = true;
            break;
        }
        KG_ENSURE_C(e > *pos, KG_ERR_INPUT, "%s: empty line inside PEM", what);
        for (size_t i = *pos; i < e; i++) {
            KG_ENSURE_C(is_b64(p[i]), KG_ERR_INPUT, "%s: bad base64 character at offset %zu", what,
                        i);
            b64[n++] = p[i];
        }
        *pos = next;
    }
    KG_ENSURE_C(ended, KG_ERR_INPUT, "%s: missing '" PEM_END "'", what);
    KG_ENSURE_C(n > 0 && n % 4 == 0 && n < (size_t)INT_MAX, KG_ERR_INPUT,
                "%s: base64 of %zu characters", what, n);
    size_t pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
    der = malloc(n);
    enc = malloc(n + 1);
    KG_ENSURE_C(der && enc, KG_ERR_NOMEM, "%s: allocating", what);
    int dl = EVP_DecodeBlock(der, b64, (int)n);
    KG_ENSURE_C(dl >= 0 && (size_t)dl >= pad, KG_ERR_INPUT, "%s: bad base64", what);
    size_t der_len = (size_t)dl - pad;
    int el = EVP_EncodeBlock(enc, der, (int)der_len);
    KG_ENSURE_C(el >= 0 && (size_t)el == n && memcmp(enc, b64, n) == 0, KG_ERR_INPUT,
                "%s: non-canonical base64", what);
    KG_GUARD_C(kg_der_cache_x509(cache, &x, der, der_len, what));
    *out = x;
    x = NULL;
    rc = KG_OK;
cleanup:
    X509_free(x);
    free(b64);
    free(der);
    free(enc);
    return rc;
}

static bool pem_chain_lookup(kg_der_cache *c, const uint8_t *pem, size_t len,
                             STACK_OF(X509) * *out);
static void pem_chain_insert(kg_der_cache *c, const uint8_t *pem, size_t len,
                             STACK_OF(X509) * chain);

kg_result kg_dcap_pem_chain(STACK_OF(X509) * *out, const uint8_t *pem, size_t len, size_t max,
                            const char *what, kg_der_cache *cache)
{
    kg_result rc = KG_ERROR;
    STACK_OF(X509) *chain = NULL;
    X509 *x = NULL;
    *out = NULL;
    /* Intel's quoting library NUL-terminates the PEM text inside quotes: drop trailing NULs */
    while (len > 0 && pem[len - 1] == 0)
        len--;
    KG_ENSURE_C(len > 0 && len <= KG_MAX_PCK_CHAIN_LEN, KG_ERR_INPUT,
                "%s: PEM chain of %zu bytes (1..%u)", what, len, KG_MAX_PCK_CHAIN_LEN);
    /* the same text parses to the same certificates: a chain seen before is reused (its
     * base64 decode and canonical re-encode were a quarter of a cold verification's parsing) */
    if (pem_chain_lookup(cache, pem, len, &chain)) {
        KG_ENSURE_C((size_t)sk_X509_num(chain) <= max, KG_ERR_TOO_LARGE,
                    "%s: more than %zu certificates", what, max);
        *out = chain;
        return KG_OK;
    }
    chain = sk_X509_new_null();
    KG_ENSURE_OSSL_C(chain != NULL, KG_ERR_NOMEM, "%s: allocating", what);
    size_t pos = 0;
    while (pos < len) {
        KG_ENSURE_C((size_t)sk_X509_num(chain) < max, KG_ERR_TOO_LARGE,
                    "%s: more than %zu certificates", what, max);
        KG_GUARD_C(pem_one(&x, pem, len, &pos, what, cache));
        KG_ENSURE_OSSL_C(sk_X509_push(chain, x) > 0, KG_ERR_NOMEM, "%s: allocating", what);
        x = NULL;
    }
    KG_ENSURE_C(sk_X509_num(chain) > 0, KG_ERR_INPUT, "%s: no certificate", what);
    pem_chain_insert(cache, pem, len, chain);
    *out = chain;
    chain = NULL;
    rc = KG_OK;
cleanup:
    X509_free(x);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- parsed-object cache ------------------------------------------------------------------- */

#define DER_CACHE_SLOTS 64
#define DER_CACHE_MAX_DER (64u * 1024u) /* larger objects are parsed every time */

typedef struct der_entry {
    uint8_t *der; /* owned copy: the key, compared in full (DER, or a chain's PEM text) */
    size_t len;
    X509 *x509;
    X509_CRL *crl;
    STACK_OF(X509) * chain; /* a PEM chain's certificates, each holding a reference */
} der_entry;

struct kg_der_cache {
    pthread_mutex_t mu;
    bool enabled;
    der_entry e[DER_CACHE_SLOTS];
    size_t next;
};

kg_result kg_der_cache_new(kg_der_cache **out)
{
    *out = calloc(1, sizeof(**out));
    KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "allocating parse cache");
    pthread_mutex_init(&(*out)->mu, NULL);
    (*out)->enabled = true;
    return KG_OK;
}

static void der_entry_clear(der_entry *e)
{
    free(e->der);
    X509_free(e->x509);
    X509_CRL_free(e->crl);
    sk_X509_pop_free(e->chain, X509_free);
    memset(e, 0, sizeof(*e));
}

void kg_der_cache_free(kg_der_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < DER_CACHE_SLOTS; i++)
        der_entry_clear(&c->e[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void kg_der_cache_set_enabled(kg_der_cache *c, bool enabled)
{
    if (c)
        c->enabled = enabled;
}

/* Finds the entry holding exactly these bytes and up-references its object. */
static bool der_lookup(kg_der_cache *c, const uint8_t *der, size_t len, X509 **x, X509_CRL **crl)
{
    bool hit = false;
    if (!c || !c->enabled)
        return false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < DER_CACHE_SLOTS && !hit; i++) {
        der_entry *e = &c->e[i];
        if (e->len != len || memcmp(e->der, der, len) != 0)
            continue;
        if (e->chain) {
            continue; /* PEM text, never DER: looked up by pem_chain_lookup only */
        } else if (x && e->x509 && X509_up_ref(e->x509) == 1) {
            *x = e->x509;
            hit = true;
        } else if (crl && e->crl && X509_CRL_up_ref(e->crl) == 1) {
            *crl = e->crl;
            hit = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void der_insert(kg_der_cache *c, const uint8_t *der, size_t len, X509 *x, X509_CRL *crl)
{
    if (!c || !c->enabled || len > DER_CACHE_MAX_DER)
        return;
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, der, len);
    if ((x && X509_up_ref(x) != 1) || (crl && X509_CRL_up_ref(crl) != 1)) {
        free(copy);
        return;
    }
    der_entry old;
    pthread_mutex_lock(&c->mu);
    old = c->e[c->next];
    c->e[c->next] = (der_entry){.der = copy, .len = len, .x509 = x, .crl = crl};
    c->next = (c->next + 1) % DER_CACHE_SLOTS;
    pthread_mutex_unlock(&c->mu);
    der_entry_clear(&old);
}

/* A new stack holding a new reference to each certificate of the chain parsed from exactly
 * this PEM text. */
static bool pem_chain_lookup(kg_der_cache *c, const uint8_t *pem, size_t len, STACK_OF(X509) * *out)
{
    *out = NULL;
    if (!c || !c->enabled)
        return false;
    STACK_OF(X509) *copy = sk_X509_new_null();
    if (!copy)
        return false;
    bool hit = false, ok = true;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < DER_CACHE_SLOTS && !hit; i++) {
        der_entry *e = &c->e[i];
        if (!e->chain || e->len != len || memcmp(e->der, pem, len) != 0)
            continue;
        hit = true;
        for (int k = 0; k < sk_X509_num(e->chain) && ok; k++) {
            X509 *x = sk_X509_value(e->chain, k);
            ok = X509_up_ref(x) == 1;
            if (ok && sk_X509_push(copy, x) <= 0) {
                X509_free(x);
                ok = false;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (!hit || !ok) {
        sk_X509_pop_free(copy, X509_free);
        ERR_clear_error();
        return false;
    }
    *out = copy;
    return true;
}

/* Remembers the chain parsed from this PEM text (best effort: a failure only costs a parse). */
static void pem_chain_insert(kg_der_cache *c, const uint8_t *pem, size_t len,
                             STACK_OF(X509) * chain)
{
    if (!c || !c->enabled || len > DER_CACHE_MAX_DER)
        return;
    uint8_t *text = malloc(len);
    STACK_OF(X509) *copy = sk_X509_new_null();
    bool ok = text && copy;
    for (int k = 0; ok && k < sk_X509_num(chain); k++) {
        X509 *x = sk_X509_value(chain, k);
        ok = X509_up_ref(x) == 1;
        if (ok && sk_X509_push(copy, x) <= 0) {
            X509_free(x);
            ok = false;
        }
    }
    if (!ok) {
        free(text);
        sk_X509_pop_free(copy, X509_free);
        ERR_clear_error();
        return;
    }
    memcpy(text, pem, len);
    der_entry old;
    pthread_mutex_lock(&c->mu);
    old = c->e[c->next];
    c->e[c->next] = (der_entry){.der = text, .len = len, .chain = copy};
    c->next = (c->next + 1) % DER_CACHE_SLOTS;
    pthread_mutex_unlock(&c->mu);
    der_entry_clear(&old);
}

kg_result kg_der_cache_x509(kg_der_cache *c, X509 **out, const uint8_t *der, size_t len,
                            const char *what)
{
    *out = NULL;
    if (der_lookup(c, der, len, out, NULL))
        return KG_OK;
    KG_ENSURE(len > 0 && len < (size_t)LONG_MAX, KG_ERR_INPUT, "%s: empty certificate", what);
    const uint8_t *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    KG_ENSURE_OSSL(x != NULL, KG_ERR_INPUT, "%s: malformed certificate", what);
    if (p != der + len) {
        X509_free(x);
        KG_BAIL(KG_ERR_INPUT, "%s: trailing bytes after certificate DER", what);
    }
    der_insert(c, der, len, x, NULL);
    *out = x;
    return KG_OK;
}

kg_result kg_der_cache_crl(kg_der_cache *c, X509_CRL **out, const uint8_t *der, size_t len,
                           const char *what)
{
    *out = NULL;
    if (der_lookup(c, der, len, NULL, out))
        return KG_OK;
    KG_ENSURE(len > 0 && len < (size_t)LONG_MAX, KG_ERR_INPUT, "%s: empty", what);
    const uint8_t *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    KG_ENSURE_OSSL(crl != NULL, KG_ERR_INPUT, "%s: malformed CRL", what);
    if (p != der + len) {
        X509_CRL_free(crl);
        KG_BAIL(KG_ERR_INPUT, "%s: trailing bytes after the CRL", what);
    }
    der_insert(c, der, len, NULL, crl);
    *out = crl;
    return KG_OK;
}

kg_result kg_dcap_asn1_time(int64_t *out, const ASN1_TIME *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    KG_ENSURE(t != NULL && ASN1_TIME_to_tm(t, &tm) == 1, KG_ERR_INPUT, "bad ASN.1 time");
    time_t s = timegm(&tm);
    KG_ENSURE(s != (time_t)-1, KG_ERR_INPUT, "ASN.1 time out of range");
    *out = (int64_t)s;
    return KG_OK;
}
