/* crypto_test.c - P-256, X25519, AES-256-GCM and secp256k1 against published vectors and
 * round trips, with the exact errors for malformed and out-of-range inputs. */
#include "test_util.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"

/* The P-256 group order n (SEC 2) and the secp256k1 order, for boundary tests. */
static const char *P256_N = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
static const char *K256_N = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

static void hex32(uint8_t out[32], const char *hex)
{
    KG_ASSERT_OK(kg_hex_decode_exact(out, 32, hex));
}

static const char *vec_str(json_t *root, const char *obj, const char *field)
{
    json_t *o = json_object_get(root, obj);
    const char *s = json_string_value(json_object_get(o, field));
    if (s == NULL)
        fail_msg("vector %s.%s missing", obj, field);
    return s;
}

/* ---- P-256 -------------------------------------------------------------------------------- */

/* The dstack reference PKCS#8 embeds the root scalar; our 138-byte encoding must match it. */
static void p256_pkcs8_matches_dstack_reference(void **state)
{
    json_t *v = kg_test_load_json("kdf.json");
    uint8_t scalar[32], der[KG_P256_PKCS8_LEN], pub[KG_P256_PUB_LEN], back[32];
    kg_buf want;
    kg_p256_key *k = NULL;
    hex32(scalar, vec_str(v, "inputs", "root_ca_scalar"));
    kg_test_hex(&want, vec_str(v, "dstack_reference", "root_ca_pkcs8_der"));
    assert_int_equal(want.len, KG_P256_PKCS8_LEN);

    KG_ASSERT_OK(kg_p256_from_scalar(&k, scalar));
    assert_true(kg_p256_has_private(k));
    KG_ASSERT_OK(kg_p256_pkcs8_dstack(der, k));
    assert_memory_equal(der, want.data, KG_P256_PKCS8_LEN);
    /* the object-free path used by the disk and env key derivations gives the same bytes */
    memset(der, 0, sizeof(der));
    KG_ASSERT_OK(kg_p256_pkcs8_dstack_from_scalar(der, scalar));
    assert_memory_equal(der, want.data, KG_P256_PKCS8_LEN);
    KG_ASSERT_OK(kg_p256_public(pub, k));
    assert_memory_equal(pub, want.data + KG_P256_PKCS8_LEN - KG_P256_PUB_LEN, KG_P256_PUB_LEN);
    KG_ASSERT_OK(kg_p256_scalar(back, k));
    assert_memory_equal(back, scalar, 32);
    kg_p256_free(k);

    /* OpenSSL decodes the same DER back to the same key. */
    KG_ASSERT_OK(kg_p256_from_pem(&k, (const char *)want.data, want.len));
    KG_ASSERT_OK(kg_p256_scalar(back, k));
    assert_memory_equal(back, scalar, 32);
    kg_p256_free(k);
    kg_buf_free(&want);
    json_decref(v);
}

static void p256_scalar_range(void **state)
{
    uint8_t s[32];
    kg_p256_key *k = (kg_p256_key *)&s; /* must be reset to NULL on failure */
    memset(s, 0, 32);
    KG_ASSERT_ERR(kg_p256_from_scalar(&k, s), KG_ERR_INPUT, "P-256 scalar out of range");
    assert_null(k);
    KG_ASSERT_ERR(kg_p256_check_scalar(s), KG_ERR_INPUT, "P-256 scalar out of range");
    hex32(s, P256_N);
    KG_ASSERT_ERR(kg_p256_from_scalar(&k, s), KG_ERR_INPUT, "P-256 scalar out of range");
    KG_ASSERT_ERR(kg_p256_check_scalar(s), KG_ERR_INPUT, "P-256 scalar out of range");
    s[31] -= 1;
    KG_ASSERT_OK(kg_p256_check_scalar(s));
    /* n + 1 differs from n only in the last byte; a bigger top half must fail too. */
    hex32(s, P256_N);
    s[31] += 1;
    KG_ASSERT_ERR(kg_p256_check_scalar(s), KG_ERR_INPUT, "P-256 scalar out of range");
    hex32(s, P256_N);
    s[4] = 0x01; /* above n from byte 4 on, though equal before: invalid */
    KG_ASSERT_ERR(kg_p256_check_scalar(s), KG_ERR_INPUT, "P-256 scalar out of range");
    hex32(s, P256_N);
    s[3] = 0xfe; /* below n in byte 3 though greater in the last byte: valid */
    s[31] = 0xff;
    KG_ASSERT_OK(kg_p256_check_scalar(s));
    memset(s, 0xff, 32);
    KG_ASSERT_ERR(kg_p256_from_scalar(&k, s), KG_ERR_INPUT, "P-256 scalar out of range");
    uint8_t der[KG_P256_PKCS8_LEN];
    KG_ASSERT_ERR(kg_p256_pkcs8_dstack_from_scalar(der, s), KG_ERR_INPUT,
                  "P-256 scalar out of range");
    memset(s, 0, 32);
    KG_ASSERT_ERR(kg_p256_pkcs8_dstack_from_scalar(der, s), KG_ERR_INPUT,
                  "P-256 scalar out of range");
    /* n - 1 and 1 are the extreme valid scalars. */
    hex32(s, P256_N);
    s[31] -= 1;
    KG_ASSERT_OK(kg_p256_from_scalar(&k, s));
    kg_p256_free(k);
    memset(s, 0, 32);
    s[31] = 1;
    KG_ASSERT_OK(kg_p256_from_scalar(&k, s));
    uint8_t pub[KG_P256_PUB_LEN];
    KG_ASSERT_OK(kg_p256_public(pub, k));
    /* 1 * G is the generator (FIPS 186-4 D.1.2.3). */
    kg_test_assert_hex(pub, 65,
                       "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                       "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    kg_p256_free(k);
    kg_p256_free(NULL);
}

static void p256_from_public_checks(void **state)
{
    kg_p256_key *k = NULL, *pk = NULL;
    uint8_t s[32] = {0}, pub[KG_P256_PUB_LEN], bad[KG_P256_PUB_LEN], sc[32];
    s[31] = 7;
    KG_ASSERT_OK(kg_p256_from_scalar(&k, s));
    KG_ASSERT_OK(kg_p256_public(pub, k));

    KG_ASSERT_OK(kg_p256_from_public(&pk, pub, 65));
    assert_false(kg_p256_has_private(pk));
    KG_ASSERT_ERR(kg_p256_scalar(sc, pk), KG_ERR_USAGE, "no private part");
    uint8_t sig[64];
    KG_ASSERT_ERR(kg_p256_sign(sig, pk, "m", 1), KG_ERR_USAGE, "no private part");
    kg_buf pem;
    kg_buf_init(&pem, 4096);
    KG_ASSERT_ERR(kg_p256_private_pem(&pem, pk), KG_ERR_USAGE, "no private part");
    kg_buf_free(&pem);
    kg_p256_free(pk);

    KG_ASSERT_OK(kg_p256_from_public(&pk, pub + 1, 64));
    uint8_t back[KG_P256_PUB_LEN];
    KG_ASSERT_OK(kg_p256_public(back, pk));
    assert_memory_equal(back, pub, 65);
    kg_p256_free(pk);

    KG_ASSERT_ERR(kg_p256_from_public(&pk, pub, 33), KG_ERR_INPUT, "length 33");
    KG_ASSERT_ERR(kg_p256_from_public(&pk, pub, 66), KG_ERR_INPUT, "length 66");
    memcpy(bad, pub, 65);
    bad[0] = 0x05;
    KG_ASSERT_ERR(kg_p256_from_public(&pk, bad, 65), KG_ERR_INPUT, "must start with 0x04");
    memcpy(bad, pub, 65);
    bad[64] ^= 1;
    KG_ASSERT_ERR(kg_p256_from_public(&pk, bad, 65), KG_ERR_INPUT, "not a valid point");
    assert_null(pk);
    kg_p256_free(k);
}

static void p256_pem_der_round_trips(void **state)
{
    kg_p256_key *k = NULL, *k2 = NULL;
    uint8_t s1[32], s2[32], p1[65], p2[65];
    kg_buf priv, pub, spki;
    kg_buf_init(&priv, 8192);
    kg_buf_init(&pub, 8192);
    kg_buf_init(&spki, 8192);
    KG_ASSERT_OK(kg_p256_generate(&k));
    KG_ASSERT_OK(kg_p256_scalar(s1, k));
    KG_ASSERT_OK(kg_p256_public(p1, k));

    KG_ASSERT_OK(kg_p256_private_pem(&priv, k));
    assert_non_null(strstr((const char *)priv.data, "-----BEGIN PRIVATE KEY-----"));
    KG_ASSERT_OK(kg_p256_from_pem(&k2, (const char *)priv.data, priv.len));
    KG_ASSERT_OK(kg_p256_scalar(s2, k2));
    assert_memory_equal(s1, s2, 32);
    kg_p256_free(k2);

    KG_ASSERT_OK(kg_p256_public_pem(&pub, k));
    assert_non_null(strstr((const char *)pub.data, "-----BEGIN PUBLIC KEY-----"));
    KG_ASSERT_OK(kg_p256_from_pem(&k2, (const char *)pub.data, pub.len));
    assert_false(kg_p256_has_private(k2));
    KG_ASSERT_OK(kg_p256_public(p2, k2));
    assert_memory_equal(p1, p2, 65);
    kg_p256_free(k2);

    /* SPKI DER: 26-byte header then the 65-byte point (RFC 5480). */
    KG_ASSERT_OK(kg_p256_spki_der(&spki, k));
    assert_int_equal(spki.len, 91);
    assert_memory_equal(spki.data + 26, p1, 65);
    KG_ASSERT_OK(kg_p256_from_pem(&k2, (const char *)spki.data, spki.len));
    KG_ASSERT_OK(kg_p256_public(p2, k2));
    assert_memory_equal(p1, p2, 65);
    kg_p256_free(k2);

    /* Full consumption: trailing whitespace after PEM is fine, anything else is not. */
    size_t pem_len = priv.len;
    KG_ASSERT_OK(kg_buf_append_str(&priv, "\n \r\n"));
    KG_ASSERT_OK(kg_p256_from_pem(&k2, (const char *)priv.data, priv.len));
    kg_p256_free(k2);
    KG_ASSERT_OK(kg_buf_append_str(&priv, "x"));
    KG_ASSERT_ERR(kg_p256_from_pem(&k2, (const char *)priv.data, priv.len), KG_ERR_INPUT,
                  "trailing bytes");
    priv.len = pem_len;
    KG_ASSERT_OK(kg_buf_append(&priv, pub.data, pub.len)); /* two keys: ambiguous */
    KG_ASSERT_ERR(kg_p256_from_pem(&k2, (const char *)priv.data, priv.len), KG_ERR_INPUT,
                  "trailing bytes");
    priv.len = pem_len;
    KG_ASSERT_OK(kg_buf_append_u8(&spki, 0));
    KG_ASSERT_ERR(kg_p256_from_pem(&k2, (const char *)spki.data, spki.len), KG_ERR_INPUT,
                  "has 1 trailing bytes");
    assert_null(k2);

    KG_ASSERT_ERR(kg_p256_from_pem(&k2, "not a key", 9), KG_ERR_INPUT, "not a PEM or DER");
    KG_ASSERT_ERR(kg_p256_from_pem(&k2, "", 0), KG_ERR_INPUT, "out of range");
    /* A truncated PEM must not decode. */
    KG_ASSERT_ERR(kg_p256_from_pem(&k2, (const char *)priv.data, priv.len / 2), KG_ERR_INPUT,
                  "not a PEM or DER");
    assert_null(k2);

    kg_buf_free(&priv);
    kg_buf_free(&pub);
    kg_buf_free(&spki);
    kg_p256_free(k);
}

/* A P-384 key is an EC key, but not one of ours. */
static void p256_rejects_other_curves(void **state)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(p384, &der);
    assert_true(n > 0);
    kg_p256_key *k = NULL;
    KG_ASSERT_ERR(kg_p256_from_pem(&k, (const char *)der, (size_t)n), KG_ERR_INPUT, "not on P-256");
    assert_null(k);
    OPENSSL_free(der);
    EVP_PKEY_free(p384);
}

static void p256_sign_verify(void **state)
{
    kg_p256_key *k = NULL, *pk = NULL;
    uint8_t sig[64], bad[64], pub[65];
    const char *msg = "keygate attests";
    KG_ASSERT_OK(kg_p256_generate(&k));
    KG_ASSERT_OK(kg_p256_sign(sig, k, msg, strlen(msg)));
    KG_ASSERT_OK(kg_p256_verify(k, msg, strlen(msg), sig));
    KG_ASSERT_OK(kg_p256_public(pub, k));
    KG_ASSERT_OK(kg_p256_from_public(&pk, pub, 65));
    KG_ASSERT_OK(kg_p256_verify(pk, msg, strlen(msg), sig));

    KG_ASSERT_ERR(kg_p256_verify(pk, "keygate attestS", strlen(msg), sig), KG_ERR_VERIFY,
                  "does not verify");
    for (size_t i = 0; i < 64; i += 7) {
        memcpy(bad, sig, 64);
        bad[i] ^= 0x01;
        KG_ASSERT_ERR(kg_p256_verify(pk, msg, strlen(msg), bad), KG_ERR_VERIFY, "does not verify");
    }
    memset(bad, 0, 64); /* r = s = 0 is malformed, must not verify */
    KG_ASSERT_ERR(kg_p256_verify(pk, msg, strlen(msg), bad), KG_ERR_VERIFY, "does not verify");
    memset(bad, 0xff, 64); /* r, s >= n */
    KG_ASSERT_ERR(kg_p256_verify(pk, msg, strlen(msg), bad), KG_ERR_VERIFY, "does not verify");

    /* A different key does not verify it either. */
    kg_p256_key *other = NULL;
    KG_ASSERT_OK(kg_p256_generate(&other));
    KG_ASSERT_ERR(kg_p256_verify(other, msg, strlen(msg), sig), KG_ERR_VERIFY, "does not verify");
    assert_non_null(kg_p256_evp(other));
    kg_p256_free(other);
    kg_p256_free(pk);
    kg_p256_free(k);
}

/* ---- X25519 ------------------------------------------------------------------------------- */

/* RFC 7748 section 6.1. */
static void x25519_rfc7748(void **state)
{
    uint8_t a[32], b[32], apub[32], bpub[32], s1[32], s2[32];
    hex32(a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    hex32(b, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    KG_ASSERT_OK(kg_x25519_public(apub, a));
    kg_test_assert_hex(apub, 32,
                       "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    KG_ASSERT_OK(kg_x25519_public(bpub, b));
    kg_test_assert_hex(bpub, 32,
                       "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    KG_ASSERT_OK(kg_x25519_shared(s1, a, bpub));
    KG_ASSERT_OK(kg_x25519_shared(s2, b, apub));
    assert_memory_equal(s1, s2, 32);
    kg_test_assert_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    uint8_t gs[32], gp[32], gs2[32];
    KG_ASSERT_OK(kg_x25519_generate(gs, gp));
    KG_ASSERT_OK(kg_x25519_public(gs2, gs));
    assert_memory_equal(gs2, gp, 32);
}

/* Low-order points (RFC 7748 section 7) give an all-zero secret, which must be refused. */
static void x25519_rejects_low_order(void **state)
{
    uint8_t a[32], zero[32] = {0}, one[32] = {0}, out[32];
    hex32(a, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    memset(out, 0xaa, 32);
    KG_ASSERT_ERR(kg_x25519_shared(out, a, zero), KG_ERR_VERIFY, "all zero");
    assert_memory_equal(out, zero, 32); /* output wiped on failure */
    one[0] = 1;
    KG_ASSERT_ERR(kg_x25519_shared(out, a, one), KG_ERR_VERIFY, "all zero");
}

/* ---- AES-256-GCM -------------------------------------------------------------------------- */

/* McGrew-Viega GCM spec test cases 13 and 14 (256-bit key of zeros, IV of zeros). */
static void aesgcm_known_answers(void **state)
{
    uint8_t key[32] = {0}, iv[12] = {0}, pt[16] = {0};
    kg_buf out;
    kg_buf_init(&out, 1024);
    KG_ASSERT_OK(kg_aesgcm_encrypt(&out, key, iv, NULL, 0, NULL, 0));
    kg_test_assert_hex(out.data, out.len, "530f8afbc74536b9a963b4f1c4cb738b");
    kg_buf_reset(&out);
    KG_ASSERT_OK(kg_aesgcm_encrypt(&out, key, iv, NULL, 0, pt, 16));
    kg_test_assert_hex(out.data, out.len,
                       "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    kg_buf dec;
    kg_buf_init(&dec, 1024);
    KG_ASSERT_OK(kg_aesgcm_decrypt(&dec, key, iv, NULL, 0, out.data, out.len));
    assert_int_equal(dec.len, 16);
    assert_memory_equal(dec.data, pt, 16);
    kg_buf_free(&dec);
    kg_buf_free(&out);
}

static void aesgcm_tamper_and_truncation(void **state)
{
    uint8_t key[32], iv[12];
    const char *aad = "header";
    const char *msg = "the quick brown fox jumps over the lazy dog";
    KG_ASSERT_OK(kg_random(key, 32));
    KG_ASSERT_OK(kg_random(iv, 12));
    kg_buf ct, pt;
    kg_buf_init(&ct, 1024);
    kg_buf_init(&pt, 1024);
    KG_ASSERT_OK(kg_aesgcm_encrypt(&ct, key, iv, aad, 6, msg, strlen(msg)));
    assert_int_equal(ct.len, strlen(msg) + 16);
    KG_ASSERT_OK(kg_aesgcm_decrypt(&pt, key, iv, aad, 6, ct.data, ct.len));
    assert_int_equal(pt.len, strlen(msg));
    assert_memory_equal(pt.data, msg, pt.len);

    /* Every single-byte change of ciphertext or tag is caught, and nothing is appended. */
    for (size_t i = 0; i < ct.len; i++) {
        kg_buf_reset(&pt);
        ct.data[i] ^= 0x80;
        KG_ASSERT_ERR(kg_aesgcm_decrypt(&pt, key, iv, aad, 6, ct.data, ct.len), KG_ERR_VERIFY,
                      "tag does not verify");
        assert_int_equal(pt.len, 0);
        ct.data[i] ^= 0x80;
    }
    KG_ASSERT_ERR(kg_aesgcm_decrypt(&pt, key, iv, "headeR", 6, ct.data, ct.len), KG_ERR_VERIFY,
                  "tag does not verify");
    KG_ASSERT_ERR(kg_aesgcm_decrypt(&pt, key, iv, NULL, 0, ct.data, ct.len), KG_ERR_VERIFY,
                  "tag does not verify");
    iv[0] ^= 1;
    KG_ASSERT_ERR(kg_aesgcm_decrypt(&pt, key, iv, aad, 6, ct.data, ct.len), KG_ERR_VERIFY,
                  "tag does not verify");
    KG_ASSERT_ERR(kg_aesgcm_decrypt(&pt, key, iv, aad, 6, ct.data, 15), KG_ERR_TRUNCATED,
                  "shorter than its 16-byte tag");
    kg_buf_free(&ct);
    kg_buf_free(&pt);
}

/* ---- secp256k1 ---------------------------------------------------------------------------- */

static void k256_vector_public_keys(void **state)
{
    json_t *v = kg_test_load_json("kdf.json");
    uint8_t s[32], pub[33], full[65], back[33];
    hex32(s, vec_str(v, "inputs", "root_k256_scalar"));
    KG_ASSERT_OK(kg_k256_public(pub, s));
    kg_test_assert_hex(pub, 33, vec_str(v, "inputs", "root_k256_pubkey_compressed"));
    KG_ASSERT_OK(kg_k256_public_uncompressed(full, s));
    assert_int_equal(full[0], 4);
    assert_memory_equal(full + 1, pub + 1, 32);
    KG_ASSERT_OK(kg_k256_pub_compress(back, full, 65));
    assert_memory_equal(back, pub, 33);
    uint8_t full2[65];
    KG_ASSERT_OK(kg_k256_pub_decompress(full2, pub, 33));
    assert_memory_equal(full, full2, 65);
    hex32(s, vec_str(v, "expected", "k256_key"));
    KG_ASSERT_OK(kg_k256_public(pub, s));
    kg_test_assert_hex(pub, 33, vec_str(v, "expected", "k256_pubkey_compressed"));
    json_decref(v);
}

static void k256_scalar_range_and_pubkey_forms(void **state)
{
    uint8_t s[32], pub[33], full[65];
    memset(s, 0, 32);
    KG_ASSERT_ERR(kg_k256_check_scalar(s), KG_ERR_INPUT, "secp256k1 scalar out of range");
    KG_ASSERT_ERR(kg_k256_public(pub, s), KG_ERR_INPUT, "secp256k1 scalar out of range");
    hex32(s, K256_N);
    KG_ASSERT_ERR(kg_k256_check_scalar(s), KG_ERR_INPUT, "secp256k1 scalar out of range");
    uint8_t sig[65], digest[32] = {1};
    KG_ASSERT_ERR(kg_k256_sign_recoverable(sig, s, digest), KG_ERR_INPUT,
                  "secp256k1 scalar out of range");
    s[31] -= 1; /* n - 1 */
    KG_ASSERT_OK(kg_k256_check_scalar(s));
    KG_ASSERT_OK(kg_k256_generate(s));
    KG_ASSERT_OK(kg_k256_check_scalar(s));

    KG_ASSERT_OK(kg_k256_public(pub, s));
    KG_ASSERT_ERR(kg_k256_pub_decompress(full, pub, 32), KG_ERR_INPUT, "got 32");
    pub[0] = 0x04;
    KG_ASSERT_ERR(kg_k256_pub_decompress(full, pub, 33), KG_ERR_INPUT, "got 33");
    KG_ASSERT_OK(kg_k256_public_uncompressed(full, s));
    full[0] = 0x06; /* hybrid form is not accepted */
    KG_ASSERT_ERR(kg_k256_pub_compress(pub, full, 65), KG_ERR_INPUT, "got 65");
    full[0] = 0x04;
    full[64] ^= 1;
    KG_ASSERT_ERR(kg_k256_pub_compress(pub, full, 65), KG_ERR_INPUT, "not a point on the curve");
}

/* Private key 1 controls the well-known address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf. */
static void k256_eth_address(void **state)
{
    uint8_t s[32] = {0}, pub[33], full[65], addr[20];
    s[31] = 1;
    KG_ASSERT_OK(kg_k256_public(pub, s));
    KG_ASSERT_OK(kg_k256_eth_address(addr, pub, 33));
    kg_test_assert_hex(addr, 20, "7e5f4552091a69125d5dfcb7b8c2659029395bdf");
    KG_ASSERT_OK(kg_k256_public_uncompressed(full, s));
    KG_ASSERT_OK(kg_k256_eth_address(addr, full, 65));
    kg_test_assert_hex(addr, 20, "7e5f4552091a69125d5dfcb7b8c2659029395bdf");
}

static void k256_sign_recover(void **state)
{
    uint8_t s[32], pub[33], digest[32], sig[65], sig2[65], got[33];
    KG_ASSERT_OK(kg_k256_generate(s));
    KG_ASSERT_OK(kg_k256_public(pub, s));
    kg_keccak256(digest, "message", 7);
    KG_ASSERT_OK(kg_k256_sign_recoverable(sig, s, digest));
    KG_ASSERT_OK(kg_k256_sign_recoverable(sig2, s, digest));
    assert_memory_equal(sig, sig2, 65); /* RFC 6979: deterministic */
    assert_true(sig[64] <= 1);
    KG_ASSERT_OK(kg_k256_recover(got, sig, digest));
    assert_memory_equal(got, pub, 33);
    KG_ASSERT_OK(kg_k256_verify_recoverable(pub, sig, digest));

    /* Another digest recovers some other key, so verification fails. */
    uint8_t d2[32];
    memcpy(d2, digest, 32);
    d2[0] ^= 1;
    KG_ASSERT_ERR(kg_k256_verify_recoverable(pub, sig, d2), KG_ERR_VERIFY,
                  "not made by the expected key");
    memcpy(sig2, sig, 65);
    sig2[64] ^= 1; /* the other recovery id gives the other candidate key */
    KG_ASSERT_ERR(kg_k256_verify_recoverable(pub, sig2, digest), KG_ERR_VERIFY,
                  "not made by the expected key");
    sig2[64] = 27; /* Ethereum's 27/28 encoding is not ours */
    KG_ASSERT_ERR(kg_k256_recover(got, sig2, digest), KG_ERR_INPUT, "recovery id v=27");
    memcpy(sig2, sig, 65);
    memset(sig2, 0xff, 32); /* r >= n */
    KG_ASSERT_ERR(kg_k256_recover(got, sig2, digest), KG_ERR_INPUT, "r or s out of range");

    /* The high-S twin (s' = n - s, v flipped) recovers the same key but is refused. */
    uint8_t n[32];
    hex32(n, K256_N);
    memcpy(sig2, sig, 65);
    unsigned borrow = 0;
    for (size_t i = 32; i-- > 0;) {
        unsigned d = (unsigned)n[i] - sig[32 + i] - borrow;
        sig2[32 + i] = (uint8_t)d;
        borrow = (d >> 8) & 1u;
    }
    sig2[64] ^= 1;
    KG_ASSERT_OK(kg_k256_recover(got, sig2, digest));
    assert_memory_equal(got, pub, 33);
    KG_ASSERT_ERR(kg_k256_verify_recoverable(pub, sig2, digest), KG_ERR_VERIFY, "not low-S");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(p256_pkcs8_matches_dstack_reference),
        cmocka_unit_test(p256_scalar_range),
        cmocka_unit_test(p256_from_public_checks),
        cmocka_unit_test(p256_pem_der_round_trips),
        cmocka_unit_test(p256_rejects_other_curves),
        cmocka_unit_test(p256_sign_verify),
        cmocka_unit_test(x25519_rfc7748),
        cmocka_unit_test(x25519_rejects_low_order),
        cmocka_unit_test(aesgcm_known_answers),
        cmocka_unit_test(aesgcm_tamper_and_truncation),
        cmocka_unit_test(k256_vector_public_keys),
        cmocka_unit_test(k256_scalar_range_and_pubkey_forms),
        cmocka_unit_test(k256_eth_address),
        cmocka_unit_test(k256_sign_recover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
