/* hash_test.c - SHA-2, HMAC, HKDF (RFC 4231 / RFC 5869 vectors) and Keccak-256 (Ethereum). */
#include "test_util.h"

#include <string.h>

#include "keygate/hash.h"

static void sha2_known_answers(void **state)
{
    uint8_t d256[32], d384[48], d512[64];
    KG_ASSERT_OK(kg_sha256(d256, "abc", 3));
    kg_test_assert_hex(d256, 32,
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    KG_ASSERT_OK(kg_sha384(d384, "abc", 3));
    kg_test_assert_hex(d384, 48,
                       "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                       "8086072ba1e7cc2358baeca134c825a7");
    KG_ASSERT_OK(kg_sha512(d512, "abc", 3));
    kg_test_assert_hex(d512, 64,
                       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    const void *parts[] = {"a", "bc"};
    const size_t lens[] = {1, 2};
    KG_ASSERT_OK(kg_sha256_parts(d256, parts, lens, 2));
    kg_test_assert_hex(d256, 32,
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void hmac_rfc4231_case2(void **state)
{
    uint8_t mac[32];
    const char *data = "what do ya want for nothing?";
    KG_ASSERT_OK(kg_hmac_sha256(mac, "Jefe", 4, data, strlen(data)));
    kg_test_assert_hex(mac, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void hkdf_rfc5869_case1(void **state)
{
    uint8_t ikm[22], salt[13], info[10], okm[42];
    memset(ikm, 0x0b, sizeof(ikm));
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    KG_ASSERT_OK(
        kg_hkdf_sha256(okm, sizeof(okm), ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info)));
    kg_test_assert_hex(okm, 42,
                       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                       "34007208d5b887185865");
    KG_ASSERT_ERR(kg_hkdf_sha256(okm, 0, ikm, 1, salt, 1, info, 1), KG_ERR_USAGE, "out of range");
}

static void keccak256_ethereum_vectors(void **state)
{
    uint8_t d[32];
    kg_keccak256(d, "", 0);
    kg_test_assert_hex(d, 32, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    kg_keccak256(d, "abc", 3);
    kg_test_assert_hex(d, 32, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    /* Function selector of transfer(address,uint256) is the first 4 bytes. */
    const char *sig = "transfer(address,uint256)";
    kg_keccak256(d, sig, strlen(sig));
    kg_test_assert_hex(d, 4, "a9059cbb");
    /* Inputs that straddle the 136-byte rate: exactly one block and one byte more. */
    uint8_t block[137];
    memset(block, 'a', sizeof(block));
    /* Expected values from @noble/hashes keccak_256, an independent implementation. */
    kg_keccak256(d, block, 135);
    kg_test_assert_hex(d, 32, "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446");
    kg_keccak256(d, block, 136);
    kg_test_assert_hex(d, 32, "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e");
    kg_keccak256(d, block, 137);
    kg_test_assert_hex(d, 32, "d869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha2_known_answers),
        cmocka_unit_test(hmac_rfc4231_case2),
        cmocka_unit_test(hkdf_rfc5869_case1),
        cmocka_unit_test(keccak256_ethereum_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
