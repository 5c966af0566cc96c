/* p256.c - P-256 keys through OpenSSL 3 EVP/OSSL_PARAM: import, export, DER/PEM, ECDSA (see
 * crypto.h). */
#include "keygate/crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/internal.h"

struct kg_p256_key {
    EVP_PKEY *pkey;   /* owned */
    bool has_private; /* false for keys made from a public point or an SPKI */
};

/* The group order n of P-256 (SEC 2, section 2.4.2), big-endian. */
static const uint8_t P256_ORDER[KG_P256_SCALAR_LEN] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* Layout of the 138-byte dstack PKCS#8 (docs/protocol.md section 5):
 *   30 81 87                          SEQUENCE (135)
 *     02 01 00                          INTEGER 0 (version)
 *     30 13                             SEQUENCE AlgorithmIdentifier
 *       06 07 2a8648ce3d0201              OID ecPublicKey
 *       06 08 2a8648ce3d030107            OID prime256v1
 *     04 6d                             OCTET STRING (109) wrapping the SEC1 ECPrivateKey:
 *       30 6b                             SEQUENCE (107)
 *         02 01 01                          INTEGER 1
 *         04 20 <scalar 32>                 OCTET STRING privateKey
 *         a1 44 03 42 00 <04 X Y 65>        [1] BIT STRING publicKey (no [0] parameters)
 */
static const uint8_t PKCS8_HEAD[] = {
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
};
static const uint8_t PKCS8_MID[] = {0xa1, 0x44, 0x03, 0x42, 0x00};

_Static_assert(sizeof(PKCS8_HEAD) + KG_P256_SCALAR_LEN + sizeof(PKCS8_MID) + KG_P256_PUB_LEN ==
                   KG_P256_PKCS8_LEN,
               "dstack PKCS#8 layout must total 138 bytes");

#define P256_GROUP_NAME "prime256v1"

/* One P-256 group for the process: building it costs more than the scalar multiplication the
 * key derivations need, and a const group is safe to share between threads. */
static EC_GROUP *g_group;
static pthread_once_t g_group_once = PTHREAD_ONCE_INIT;

static void group_init(void)
{
    g_group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}

static const EC_GROUP *p256_group(void)
{
    pthread_once(&g_group_once, group_init);
    return g_group;
}

/* pub = scalar * G, uncompressed. The scalar must be in range (kg_p256_check_scalar). */
static kg_result public_from_scalar(uint8_t pub[KG_P256_PUB_LEN],
                                    const uint8_t scalar[KG_P256_SCALAR_LEN])
{
    kg_result rc = KG_ERROR;
    const EC_GROUP *group = p256_group();
    EC_POINT *point = NULL;
    BIGNUM *priv = NULL;
    BN_CTX *bnctx = NULL;

    KG_ENSURE_OSSL(group != NULL, KG_ERR_CRYPTO, "P-256 group");
    point = EC_POINT_new(group);
    bnctx = BN_CTX_secure_new();
    priv = BN_secure_new();
    KG_ENSURE_OSSL_C(point != NULL && bnctx != NULL && priv != NULL, KG_ERR_NOMEM,
                     "P-256 point allocation");
    BN_set_flags(priv, BN_FLG_CONSTTIME);
    KG_ENSURE_OSSL_C(BN_bin2bn(scalar, KG_P256_SCALAR_LEN, priv) != NULL, KG_ERR_CRYPTO,
                     "P-256 scalar to BIGNUM");
    KG_GUARD_OSSL_C(EC_POINT_mul(group, point, priv, NULL, NULL, bnctx), KG_ERR_CRYPTO,
                    "P-256 scalar multiplication");
    KG_ENSURE_OSSL_C(EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub,
                                        KG_P256_PUB_LEN, bnctx) == KG_P256_PUB_LEN,
                     KG_ERR_CRYPTO, "P-256 public point encoding");
    rc = KG_OK;
cleanup:
    BN_clear_free(priv);
    BN_CTX_free(bnctx);
    EC_POINT_free(point);
    return rc;
}

/* Lays out the dstack PKCS#8 from its two variable parts. */
static void pkcs8_layout(uint8_t out[KG_P256_PKCS8_LEN], const uint8_t scalar[KG_P256_SCALAR_LEN],
                         const uint8_t pub[KG_P256_PUB_LEN])
{
    uint8_t *p = out;
    memcpy(p, PKCS8_HEAD, sizeof(PKCS8_HEAD));
    p += sizeof(PKCS8_HEAD);
    memcpy(p, scalar, KG_P256_SCALAR_LEN);
    p += KG_P256_SCALAR_LEN;
    memcpy(p, PKCS8_MID, sizeof(PKCS8_MID));
    p += sizeof(PKCS8_MID);
    memcpy(p, pub, KG_P256_PUB_LEN);
}

bool kg_crypto_scalar_in_range(const uint8_t s[32], const uint8_t order[32])
{
    /* Constant time: s - order computed byte by byte from the least significant end; a final
     * borrow means s < order. The OR of all bytes detects zero. */
    unsigned borrow = 0, any = 0;
    for (size_t i = 32; i-- > 0;) {
        unsigned d = (unsigned)s[i] - (unsigned)order[i] - borrow;
        borrow = (d >> 8) & 1u;
        any |= s[i];
    }
    return borrow == 1u && any != 0u;
}

static kg_result key_wrap(kg_p256_key **out, EVP_PKEY *pkey, bool has_private)
{
    kg_p256_key *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        KG_BAIL(KG_ERR_NOMEM, "out of memory for P-256 key");
    }
    k->pkey = pkey;
    k->has_private = has_private;
    *out = k;
    return KG_OK;
}

/* Builds an EVP_PKEY from an optional private scalar and the uncompressed public point. */
static kg_result pkey_from_parts(EVP_PKEY **out, const uint8_t *scalar,
                                 const uint8_t pub[KG_P256_PUB_LEN])
{
    kg_result rc = KG_ERROR;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *priv = NULL;
    EVP_PKEY *pkey = NULL;

    bld = OSSL_PARAM_BLD_new();
    KG_ENSURE_OSSL_C(bld != NULL, KG_ERR_NOMEM, "OSSL_PARAM_BLD_new");
    KG_GUARD_OSSL_C(
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, P256_GROUP_NAME, 0),
        KG_ERR_CRYPTO, "P-256 params: group");
    KG_GUARD_OSSL_C(
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, KG_P256_PUB_LEN),
        KG_ERR_CRYPTO, "P-256 params: public key");
    if (scalar != NULL) {
        priv = BN_secure_new();
        KG_ENSURE_OSSL_C(priv != NULL, KG_ERR_NOMEM, "BN_secure_new");
        BN_set_flags(priv, BN_FLG_CONSTTIME);
        KG_ENSURE_OSSL_C(BN_bin2bn(scalar, KG_P256_SCALAR_LEN, priv) != NULL, KG_ERR_CRYPTO,
                         "P-256 scalar to BIGNUM");
        KG_GUARD_OSSL_C(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv), KG_ERR_CRYPTO,
                        "P-256 params: private key");
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    KG_ENSURE_OSSL_C(params != NULL, KG_ERR_NOMEM, "OSSL_PARAM_BLD_to_param");
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    KG_ENSURE_OSSL_C(ctx != NULL, KG_ERR_CRYPTO, "EVP_PKEY_CTX for EC");
    KG_GUARD_OSSL_C(EVP_PKEY_fromdata_init(ctx), KG_ERR_CRYPTO, "EVP_PKEY_fromdata_init");
    KG_ENSURE_OSSL_C(EVP_PKEY_fromdata(ctx, &pkey,
                                       scalar != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                                       params) == 1,
                     KG_ERR_INPUT, "P-256 public key is not a valid point");
    *out = pkey;
    pkey = NULL;
    rc = KG_OK;
cleanup:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* the private-key param holds a copy of the scalar */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return rc;
}

kg_result kg_p256_check_scalar(const uint8_t scalar[KG_P256_SCALAR_LEN])
{
    KG_ENSURE(kg_crypto_scalar_in_range(scalar, P256_ORDER), KG_ERR_INPUT,
              "P-256 scalar out of range (need 0 < scalar < n)");
    return KG_OK;
}

kg_result kg_p256_from_scalar(kg_p256_key **out, const uint8_t scalar[KG_P256_SCALAR_LEN])
{
    EVP_PKEY *pkey = NULL;
    uint8_t pub[KG_P256_PUB_LEN];

    *out = NULL;
    KG_GUARD(kg_p256_check_scalar(scalar));
    /* The public point is scalar * G; OpenSSL does not derive it when importing a bare scalar. */
    KG_GUARD(public_from_scalar(pub, scalar));
    KG_GUARD(pkey_from_parts(&pkey, scalar, pub));
    return key_wrap(out, pkey, true);
}

kg_result kg_p256_pkcs8_dstack_from_scalar(uint8_t out[KG_P256_PKCS8_LEN],
                                           const uint8_t scalar[KG_P256_SCALAR_LEN])
{
    uint8_t pub[KG_P256_PUB_LEN];
    KG_GUARD(kg_p256_check_scalar(scalar));
    KG_GUARD(public_from_scalar(pub, scalar));
    pkcs8_layout(out, scalar, pub);
    return KG_OK;
}

kg_result kg_p256_generate(kg_p256_key **out)
{
    *out = NULL;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", P256_GROUP_NAME);
    KG_ENSURE_OSSL(pkey != NULL, KG_ERR_CRYPTO, "P-256 key generation");
    return key_wrap(out, pkey, true);
}

kg_result kg_p256_from_public(kg_p256_key **out, const uint8_t *pub, size_t pub_len)
{
    uint8_t point[KG_P256_PUB_LEN];
    EVP_PKEY *pkey = NULL;
    *out = NULL;
    if (pub_len == KG_P256_PUB_LEN) {
        KG_ENSURE(pub[0] == 0x04, KG_ERR_INPUT,
                  "P-256 public key: 65-byte form must start with 0x04, got 0x%02x", pub[0]);
        memcpy(point, pub, KG_P256_PUB_LEN);
    } else if (pub_len == KG_P256_PUB_LEN - 1) {
        point[0] = 0x04;
        memcpy(point + 1, pub, KG_P256_PUB_LEN - 1);
    } else {
        KG_BAIL(KG_ERR_INPUT, "P-256 public key: length %zu, want 65 (04||X||Y) or 64 (X||Y)",
                pub_len);
    }
    KG_GUARD(pkey_from_parts(&pkey, NULL, point));
    return key_wrap(out, pkey, false);
}

/* Checks that a decoded key is an EC key on P-256, and whether it carries a private part. */
static kg_result check_p256(EVP_PKEY *pkey, bool *has_private)
{
    char group[64];
    size_t glen = 0;
    KG_ENSURE(EVP_PKEY_is_a(pkey, "EC"), KG_ERR_INPUT, "key is not an EC key");
    KG_ENSURE(EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                             &glen) == 1 &&
                  strcmp(group, P256_GROUP_NAME) == 0,
              KG_ERR_INPUT, "EC key is not on P-256");
    BIGNUM *priv = NULL;
    *has_private = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
    BN_clear_free(priv);
    ERR_clear_error(); /* a public-only key leaves a "not found" entry behind */
    return KG_OK;
}

/* Whitespace may follow a PEM block (files end in a newline); nothing else may. */
static bool only_space(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

kg_result kg_p256_from_pem(kg_p256_key **out, const char *pem, size_t pem_len)
{
    kg_result rc = KG_ERROR;
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *pkey = NULL;
    bool has_private = false;
    *out = NULL;
    KG_ENSURE(pem_len > 0 && pem_len <= KG_P256_MAX_ENCODED_LEN, KG_ERR_INPUT,
              "P-256 key encoding length %zu out of range (1..%d)", pem_len,
              KG_P256_MAX_ENCODED_LEN);
    /* Try private keys first, then public keys; PEM and DER inputs are both accepted. */
    static const int selections[] = {EVP_PKEY_KEYPAIR, EVP_PKEY_PUBLIC_KEY};
    for (size_t i = 0; i < 2 && pkey == NULL; i++) {
        dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, "EC", selections[i], NULL, NULL);
        KG_ENSURE_OSSL_C(dctx != NULL, KG_ERR_CRYPTO, "OSSL_DECODER_CTX_new_for_pkey");
        const unsigned char *p = (const unsigned char *)pem;
        size_t left = pem_len;
        if (OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        } else if (!only_space(p, left)) {
            /* Full consumption: a second key or trailing bytes make the input ambiguous. */
            EVP_PKEY_free(pkey);
            OSSL_DECODER_CTX_free(dctx);
            ERR_clear_error();
            KG_BAIL(KG_ERR_INPUT, "P-256 key encoding has %zu trailing bytes", left);
        }
        OSSL_DECODER_CTX_free(dctx);
        dctx = NULL;
    }
    ERR_clear_error();
    KG_ENSURE_C(pkey != NULL, KG_ERR_INPUT, "not a PEM or DER P-256 key (PKCS#8, SEC1 or SPKI)");
    KG_GUARD_C(check_p256(pkey, &has_private));
    KG_GUARD_C(key_wrap(out, pkey, has_private));
    pkey = NULL;
    rc = KG_OK;
cleanup:
    EVP_PKEY_free(pkey);
    OSSL_DECODER_CTX_free(dctx);
    return rc;
}

void kg_p256_free(kg_p256_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL clears private BIGNUMs when it frees them */
    kg_memzero(key, sizeof(*key));
    free(key);
}

bool kg_p256_has_private(const kg_p256_key *key)
{
    return key->has_private;
}

struct evp_pkey_st *kg_p256_evp(const kg_p256_key *key)
{
    return key->pkey;
}

kg_result kg_p256_scalar(uint8_t out[KG_P256_SCALAR_LEN], const kg_p256_key *key)
{
    BIGNUM *priv = NULL;
    KG_ENSURE(key->has_private, KG_ERR_USAGE, "P-256 key has no private part");
    KG_ENSURE_OSSL(EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1,
                   KG_ERR_CRYPTO, "P-256 private scalar export");
    int n = BN_bn2binpad(priv, out, KG_P256_SCALAR_LEN);
    BN_clear_free(priv);
    if (n != KG_P256_SCALAR_LEN) {
        kg_memzero(out, KG_P256_SCALAR_LEN);
        KG_BAIL(KG_ERR_CRYPTO, "P-256 private scalar does not fit 32 bytes");
    }
    return KG_OK;
}

kg_result kg_p256_public(uint8_t out[KG_P256_PUB_LEN], const kg_p256_key *key)
{
    kg_result rc = KG_ERROR;
    BIGNUM *x = NULL, *y = NULL;
    /* X and Y separately, so the output is uncompressed whatever format the key was read in. */
    KG_ENSURE_OSSL_C(EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
                         EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1,
                     KG_ERR_CRYPTO, "P-256 public point export");
    out[0] = 0x04;
    KG_ENSURE_OSSL_C(BN_bn2binpad(x, out + 1, 32) == 32 && BN_bn2binpad(y, out + 33, 32) == 32,
                     KG_ERR_CRYPTO, "P-256 coordinate does not fit 32 bytes");
    rc = KG_OK;
cleanup:
    BN_free(x);
    BN_free(y);
    return rc;
}

kg_result kg_p256_pkcs8_dstack(uint8_t out[KG_P256_PKCS8_LEN], const kg_p256_key *key)
{
    uint8_t scalar[KG_P256_SCALAR_LEN];
    uint8_t pub[KG_P256_PUB_LEN];
    KG_GUARD(kg_p256_public(pub, key));
    KG_GUARD(kg_p256_scalar(scalar, key));
    pkcs8_layout(out, scalar, pub);
    kg_memzero(scalar, sizeof(scalar));
    return KG_OK;
}

kg_result kg_p256_spki_der(kg_buf *out, const kg_p256_key *key)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key->pkey, &der);
    KG_ENSURE_OSSL(n > 0, KG_ERR_CRYPTO, "SubjectPublicKeyInfo encoding");
    kg_result rc = kg_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

/* Writes through a memory BIO and appends the text, NUL-terminated, to out. */
static kg_result pem_out(kg_buf *out, const kg_p256_key *key, bool private_part)
{
    kg_result rc = KG_ERROR;
    BIO *bio = BIO_new(BIO_s_secmem());
    KG_ENSURE_OSSL_C(bio != NULL, KG_ERR_NOMEM, "BIO_new");
    if (private_part) {
        KG_ENSURE_C(key->has_private, KG_ERR_USAGE, "P-256 key has no private part");
        KG_GUARD_OSSL_C(PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL),
                        KG_ERR_CRYPTO, "PKCS#8 PEM encoding");
    } else {
        KG_GUARD_OSSL_C(PEM_write_bio_PUBKEY(bio, key->pkey), KG_ERR_CRYPTO, "SPKI PEM encoding");
    }
    char *text = NULL;
    long n = BIO_get_mem_data(bio, &text);
    KG_ENSURE_C(n > 0, KG_ERR_CRYPTO, "empty PEM output");
    KG_GUARD_C(kg_buf_append(out, text, (size_t)n));
    KG_GUARD_C(kg_buf_terminate(out));
    rc = KG_OK;
cleanup:
    BIO_free(bio); /* secure-memory BIO: cleared on free */
    return rc;
}

kg_result kg_p256_private_pem(kg_buf *out, const kg_p256_key *key)
{
    return pem_out(out, key, true);
}

kg_result kg_p256_public_pem(kg_buf *out, const kg_p256_key *key)
{
    return pem_out(out, key, false);
}

kg_result kg_p256_sign(uint8_t sig[KG_P256_SIG_LEN], const kg_p256_key *key, const void *msg,
                       size_t msg_len)
{
    kg_result rc = KG_ERROR;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *es = NULL;
    unsigned char der[80]; /* a P-256 ECDSA DER signature is at most 72 bytes */
    size_t der_len = sizeof(der);

    KG_ENSURE(key->has_private, KG_ERR_USAGE, "P-256 key has no private part");
    md = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(md != NULL, KG_ERR_NOMEM, "EVP_MD_CTX_new");
    KG_GUARD_OSSL_C(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key->pkey), KG_ERR_CRYPTO,
                    "ECDSA sign init");
    KG_GUARD_OSSL_C(EVP_DigestSign(md, der, &der_len, msg, msg_len), KG_ERR_CRYPTO, "ECDSA sign");
    const unsigned char *p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    KG_ENSURE_OSSL_C(es != NULL, KG_ERR_CRYPTO, "ECDSA signature decoding");
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    KG_ENSURE_OSSL_C(BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32,
                     KG_ERR_CRYPTO, "ECDSA signature component does not fit 32 bytes");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_memzero(sig, KG_P256_SIG_LEN);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return rc;
}

kg_result kg_p256_verify(const kg_p256_key *key, const void *msg, size_t msg_len,
                         const uint8_t sig[KG_P256_SIG_LEN])
{
    kg_result rc = KG_ERROR;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    KG_ENSURE_OSSL_C(es != NULL && r != NULL && s != NULL, KG_ERR_NOMEM, "ECDSA_SIG_new");
    KG_GUARD_OSSL_C(ECDSA_SIG_set0(es, r, s), KG_ERR_CRYPTO, "ECDSA_SIG_set0");
    r = s = NULL; /* owned by es now */
    int der_len = i2d_ECDSA_SIG(es, &der);
    KG_ENSURE_OSSL_C(der_len > 0, KG_ERR_CRYPTO, "ECDSA signature encoding");
    md = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(md != NULL, KG_ERR_NOMEM, "EVP_MD_CTX_new");
    KG_GUARD_OSSL_C(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey), KG_ERR_CRYPTO,
                    "ECDSA verify init");
    /* 1 = valid; 0 = invalid; negative = malformed (e.g. r or s zero or >= n): all reject. */
    if (EVP_DigestVerify(md, der, (size_t)der_len, msg, msg_len) != 1) {
        ERR_clear_error();
        KG_BAIL_C(KG_ERR_VERIFY, "P-256 ECDSA signature does not verify");
    }
    rc = KG_OK;
cleanup:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}
