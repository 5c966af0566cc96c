/* x509.c - OpenSSL helpers of the DCAP verifier: raw ECDSA P-256, PEM chains, ASN.1 times. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "dcap_internal.h"
#include "keygate/hash.h"

kg_result kg_dcap_ecdsa_verify(EVP_PKEY *key, const uint8_t sig[64], const uint8_t *data,
                               size_t len, const char *what)
{
    kg_result rc = KG_ERROR;
    ECDSA_SIG *s = NULL;
    BIGNUM *r = NULL, *ss = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t der[80];
    uint8_t *p = der;
    uint8_t digest[KG_SHA256_LEN];

    KG_GUARD_C(kg_sha256(digest, data, len));
    s = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    ss = BN_bin2bn(sig + 32, 32, NULL);
    KG_ENSURE_OSSL_C(s && r && ss, KG_ERR_NOMEM, "%s: allocating signature", what);
    KG_ENSURE_OSSL_C(ECDSA_SIG_set0(s, r, ss) == 1, KG_ERR_CRYPTO, "%s: signature", what);
    r = ss = NULL; /* owned by s now */
    int der_len = i2d_ECDSA_SIG(s, NULL);
    KG_ENSURE_C(der_len > 0 && (size_t)der_len <= sizeof(der), KG_ERR_CRYPTO,
                "%s: encoding signature", what);
    der_len = i2d_ECDSA_SIG(s, &p);
    ctx = EVP_PKEY_CTX_new(key, NULL);
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_NOMEM, "%s: verify context", what);
    KG_GUARD_OSSL_C(EVP_PKEY_verify_init(ctx), KG_ERR_CRYPTO, "%s: verify init", what);
    int ok = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, sizeof(digest));
    ERR_clear_error();
    KG_ENSURE_C(ok == 1, KG_ERR_VERIFY, "%s: signature does not verify", what);
    rc = KG_OK;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    ECDSA_SIG_free(s);
    BN_free(r);
    BN_free(ss);
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
    KG_GUARD_OSSL_C(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                                    "prime256v1", 0),
                    KG_ERR_CRYPTO, "attestation key: params");
    KG_GUARD_OSSL_C(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                     sizeof(point)),
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
 * each ended by one "\n", no blank lines, nothing else (what OpenSSL and Intel write). The base64 must be the canonical encoding of
 * the DER and the DER must be consumed whole, so no byte of the text can change unnoticed (the
 * PCK chain in a quote is covered by no signature as text, only certificate by certificate). */
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
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

static kg_result pem_one(X509 **out, const uint8_t *p, size_t len, size_t *pos, const char *what)
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
            KG_ENSURE_C(is_b64(p[i]), KG_ERR_INPUT, "%s: bad base64 character at offset %zu",
                        what, i);
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
    const uint8_t *dp = der;
    x = d2i_X509(NULL, &dp, (long)der_len);
    KG_ENSURE_OSSL_C(x != NULL, KG_ERR_INPUT, "%s: malformed certificate", what);
    KG_ENSURE_C(dp == der + der_len, KG_ERR_INPUT, "%s: trailing bytes after certificate DER",
                what);
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

kg_result kg_dcap_pem_chain(STACK_OF(X509) **out, const uint8_t *pem, size_t len, size_t max,
                            const char *what)
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
    chain = sk_X509_new_null();
    KG_ENSURE_OSSL_C(chain != NULL, KG_ERR_NOMEM, "%s: allocating", what);
    size_t pos = 0;
    while (pos < len) {
        KG_ENSURE_C((size_t)sk_X509_num(chain) < max, KG_ERR_TOO_LARGE,
                    "%s: more than %zu certificates", what, max);
        KG_GUARD_C(pem_one(&x, pem, len, &pos, what));
        KG_ENSURE_OSSL_C(sk_X509_push(chain, x) > 0, KG_ERR_NOMEM, "%s: allocating", what);
        x = NULL;
    }
    KG_ENSURE_C(sk_X509_num(chain) > 0, KG_ERR_INPUT, "%s: no certificate", what);
    *out = chain;
    chain = NULL;
    rc = KG_OK;
cleanup:
    X509_free(x);
    sk_X509_pop_free(chain, X509_free);
    return rc;
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
