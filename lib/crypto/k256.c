/* k256.c - secp256k1 keys and recoverable ECDSA through libsecp256k1 (see crypto.h). */
#include "keygate/crypto.h"

#include <pthread.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "keygate/hash.h"

/* One process-wide context, created once and randomized (blinding against side channels, as
 * libsecp256k1 recommends for signing and key generation). libsecp256k1 contexts are safe to
 * share between threads for every operation except randomization, done only here. */
static secp256k1_context *g_ctx;
static bool g_ctx_ok;
static pthread_once_t g_ctx_once = PTHREAD_ONCE_INIT;

static void ctx_init(void)
{
    uint8_t seed[32];
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx == NULL)
        return;
    if (kg_failed(kg_random(seed, sizeof(seed))) || !secp256k1_context_randomize(ctx, seed)) {
        kg_memzero(seed, sizeof(seed));
        secp256k1_context_destroy(ctx);
        return;
    }
    kg_memzero(seed, sizeof(seed));
    g_ctx = ctx;
    g_ctx_ok = true;
}

static kg_result ctx_get(const secp256k1_context **out)
{
    KG_ENSURE(pthread_once(&g_ctx_once, ctx_init) == 0 && g_ctx_ok, KG_ERR_CRYPTO,
              "secp256k1 context could not be created");
    *out = g_ctx;
    return KG_OK;
}

kg_result kg_k256_check_scalar(const uint8_t scalar[KG_K256_SCALAR_LEN])
{
    const secp256k1_context *ctx = NULL;
    KG_GUARD(ctx_get(&ctx));
    KG_ENSURE(secp256k1_ec_seckey_verify(ctx, scalar) == 1, KG_ERR_INPUT,
              "secp256k1 scalar out of range (need 0 < scalar < n)");
    return KG_OK;
}

kg_result kg_k256_generate(uint8_t scalar[KG_K256_SCALAR_LEN])
{
    /* A uniform 32-byte string is out of range with probability ~2^-128; retry then. */
    for (int i = 0; i < 8; i++) {
        KG_GUARD(kg_random(scalar, KG_K256_SCALAR_LEN));
        if (kg_ok(kg_k256_check_scalar(scalar)))
            return KG_OK;
    }
    kg_memzero(scalar, KG_K256_SCALAR_LEN);
    KG_BAIL(KG_ERR_CRYPTO, "secp256k1 key generation: no valid scalar drawn");
}

static kg_result pubkey_of(secp256k1_pubkey *pk, const uint8_t scalar[KG_K256_SCALAR_LEN])
{
    const secp256k1_context *ctx = NULL;
    KG_GUARD(ctx_get(&ctx));
    KG_ENSURE(secp256k1_ec_pubkey_create(ctx, pk, scalar) == 1, KG_ERR_INPUT,
              "secp256k1 scalar out of range (need 0 < scalar < n)");
    return KG_OK;
}

static kg_result serialize(uint8_t *out, size_t want, const secp256k1_pubkey *pk,
                           unsigned int flags)
{
    size_t len = want;
    KG_ENSURE(secp256k1_ec_pubkey_serialize(secp256k1_context_static, out, &len, pk, flags) == 1 &&
                  len == want,
              KG_ERR_CRYPTO, "secp256k1 public key serialization");
    return KG_OK;
}

kg_result kg_k256_public(uint8_t pub[KG_K256_PUB_LEN], const uint8_t scalar[KG_K256_SCALAR_LEN])
{
    secp256k1_pubkey pk;
    KG_GUARD(pubkey_of(&pk, scalar));
    return serialize(pub, KG_K256_PUB_LEN, &pk, SECP256K1_EC_COMPRESSED);
}

kg_result kg_k256_public_uncompressed(uint8_t pub[KG_K256_PUB_UNCOMPRESSED_LEN],
                                      const uint8_t scalar[KG_K256_SCALAR_LEN])
{
    secp256k1_pubkey pk;
    KG_GUARD(pubkey_of(&pk, scalar));
    return serialize(pub, KG_K256_PUB_UNCOMPRESSED_LEN, &pk, SECP256K1_EC_UNCOMPRESSED);
}

/* Parses a SEC1 public key: 33 bytes 02/03||X or 65 bytes 04||X||Y (no hybrid 06/07 forms). */
static kg_result parse_pub(secp256k1_pubkey *pk, const uint8_t *pub, size_t pub_len)
{
    KG_ENSURE((pub_len == KG_K256_PUB_LEN && (pub[0] == 0x02 || pub[0] == 0x03)) ||
                  (pub_len == KG_K256_PUB_UNCOMPRESSED_LEN && pub[0] == 0x04),
              KG_ERR_INPUT,
              "secp256k1 public key: want 33 bytes (02/03||X) or 65 bytes (04||X||Y), got %zu",
              pub_len);
    KG_ENSURE(secp256k1_ec_pubkey_parse(secp256k1_context_static, pk, pub, pub_len) == 1,
              KG_ERR_INPUT, "secp256k1 public key is not a point on the curve");
    return KG_OK;
}

kg_result kg_k256_pub_compress(uint8_t out[KG_K256_PUB_LEN], const uint8_t *pub, size_t pub_len)
{
    secp256k1_pubkey pk;
    KG_GUARD(parse_pub(&pk, pub, pub_len));
    return serialize(out, KG_K256_PUB_LEN, &pk, SECP256K1_EC_COMPRESSED);
}

kg_result kg_k256_pub_decompress(uint8_t out[KG_K256_PUB_UNCOMPRESSED_LEN], const uint8_t *pub,
                                 size_t pub_len)
{
    secp256k1_pubkey pk;
    KG_GUARD(parse_pub(&pk, pub, pub_len));
    return serialize(out, KG_K256_PUB_UNCOMPRESSED_LEN, &pk, SECP256K1_EC_UNCOMPRESSED);
}

kg_result kg_k256_eth_address(uint8_t addr[KG_ETH_ADDRESS_LEN], const uint8_t *pub, size_t pub_len)
{
    uint8_t full[KG_K256_PUB_UNCOMPRESSED_LEN];
    uint8_t h[KG_KECCAK256_LEN];
    KG_GUARD(kg_k256_pub_decompress(full, pub, pub_len));
    kg_keccak256(h, full + 1, sizeof(full) - 1);
    memcpy(addr, h + sizeof(h) - KG_ETH_ADDRESS_LEN, KG_ETH_ADDRESS_LEN);
    return KG_OK;
}

kg_result kg_k256_sign_recoverable(uint8_t sig[KG_K256_RECSIG_LEN],
                                   const uint8_t scalar[KG_K256_SCALAR_LEN],
                                   const uint8_t digest[32])
{
    const secp256k1_context *ctx = NULL;
    secp256k1_ecdsa_recoverable_signature rs;
    int recid = -1;
    kg_memzero(sig, KG_K256_RECSIG_LEN);
    KG_GUARD(ctx_get(&ctx));
    /* NULL nonce function = RFC 6979 (HMAC-SHA256); libsecp256k1 always emits low-S. */
    KG_ENSURE(secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, scalar, NULL, NULL) == 1,
              KG_ERR_INPUT, "secp256k1 scalar out of range (need 0 < scalar < n)");
    KG_ENSURE(secp256k1_ecdsa_recoverable_signature_serialize_compact(secp256k1_context_static, sig,
                                                                      &recid, &rs) == 1 &&
                  recid >= 0 && recid <= 3,
              KG_ERR_CRYPTO, "secp256k1 signature serialization");
    sig[64] = (uint8_t)recid;
    return KG_OK;
}

kg_result kg_k256_recover(uint8_t pub[KG_K256_PUB_LEN], const uint8_t sig[KG_K256_RECSIG_LEN],
                          const uint8_t digest[32])
{
    const secp256k1_context *ctx = NULL;
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    KG_GUARD(ctx_get(&ctx));
    KG_ENSURE(sig[64] <= 3, KG_ERR_INPUT, "secp256k1 signature: recovery id v=%u, want 0..3",
              (unsigned)sig[64]);
    KG_ENSURE(secp256k1_ecdsa_recoverable_signature_parse_compact(secp256k1_context_static, &rs,
                                                                  sig, sig[64]) == 1,
              KG_ERR_INPUT, "secp256k1 signature: r or s out of range");
    KG_ENSURE(secp256k1_ecdsa_recover(ctx, &pk, &rs, digest) == 1, KG_ERR_VERIFY,
              "secp256k1 signature: no public key recovers from it");
    return serialize(pub, KG_K256_PUB_LEN, &pk, SECP256K1_EC_COMPRESSED);
}

kg_result kg_k256_verify_recoverable(const uint8_t expected_pub[KG_K256_PUB_LEN],
                                     const uint8_t sig[KG_K256_RECSIG_LEN],
                                     const uint8_t digest[32])
{
    uint8_t got[KG_K256_PUB_LEN];
    KG_GUARD(kg_k256_recover(got, sig, digest));
    /* Reject high-S duplicates: libsecp256k1 signs low-S only, so a high-S signature over our
     * digests was made by someone else and must not count as a second valid encoding. */
    static const uint8_t half_n[32] = {
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4,
        0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
    };
    KG_ENSURE(memcmp(sig + 32, half_n, 32) <= 0, KG_ERR_VERIFY, "secp256k1 signature is not low-S");
    KG_ENSURE(memcmp(got, expected_pub, KG_K256_PUB_LEN) == 0, KG_ERR_VERIFY,
              "secp256k1 signature was not made by the expected key");
    return KG_OK;
}
