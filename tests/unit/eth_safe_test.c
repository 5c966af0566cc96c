/* eth_safe_test.c - Safe multisig transactions (eth_safe.h): the EIP-712 domain separator and
 * SafeTx hash, owners' signatures, signature packing and execTransaction calldata, against
 * values computed by Safe's own TypeScript utilities (@safe-global/safe-contracts 1.4.1
 * dist/src/utils/execution.js, on ethers 5; the generator is quoted below). The hash is also
 * checked against the Safe contract's getTransactionHash on anvil (integration/governance-dao). */
#include "test_util.h"

#include <string.h>

#include "keygate/eth_safe.h"

/*
 * Generator (node, NODE_PATH=tools/node_modules):
 *   const ex = require("@safe-global/safe-contracts/dist/src/utils/execution");
 *   const tx = ex.buildSafeTransaction({ to: TO, data: DATA, nonce: 7 });
 *   ex.calculateSafeDomainSeparator({ address: SAFE }, 31337);
 *   ex.calculateSafeTransactionHash({ address: SAFE }, tx, 31337);
 *   new ethers.Wallet(KEY)._signingKey().signDigest(hash)  (joinSignature: r || s || v)
 *   new ethers.utils.Interface(SafeArtifact.abi).encodeFunctionData("execTransaction", ...)
 */
static const char SAFE[] = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
static const char TO[] = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
/* addComposeHash(0xabab...ab) */
static const char DATA[] =
    "dfc77223abababababababababababababababababababababababababababababababab";
static const char DOMAIN[] = "fe0c2a6bde911dc91bbb4830c55642356a387000f9d41859b5a820081ecc44c8";
static const char HASH[] = "ab790da2e5afb84491854aba40e73899264b9918280e2b39b7d02163e15ee612";
/* Well-known test keys (0x46 x 32, 0x47 x 32), not secrets. */
static const char KEY46[] = "4646464646464646464646464646464646464646464646464646464646464646";
static const char KEY47[] = "4747474747474747474747474747474747474747474747474747474747474747";
static const char ADDR46[] = "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F";
static const char ADDR47[] = "0xb595B18c88b1f651cA387489067f855b5C8E6720";
static const char SIG46[] =
    "19970d2169b8164d0e9247c58781d34d83d1ea01e7474584a8b1106845cadbba08e0d9f6aa1fa4c0937065f2767a6"
    "6af55f4a7dec560c837a09cfed1ce04d02d1b";
static const char SIG47[] =
    "42c05d86445f08d9eafcb29a9812eaa200f2c2b1493867fa921542667b3358ed1e7973a448a0ec2a88603357bfef8"
    "6b50d899822af3f0d9ec27198f6223a9f181c";
/* execTransaction(TO, 0, DATA, 0, 0, 0, 0, 0, 0, SIG46 || SIG47) */
static const char EXEC[] =
    "6a761202000000000000000000000000e7f1725e7734ce288f8367e1bb143e90bb3f051200000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000001400000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "01a00000000000000000000000000000000000000000000000000000000000000024dfc77223abababababababab"
    "abababababababababababababababababababababababab00000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000008219970d2169b8164d"
    "0e9247c58781d34d83d1ea01e7474584a8b1106845cadbba08e0d9f6aa1fa4c0937065f2767a66af55f4a7dec560"
    "c837a09cfed1ce04d02d1b42c05d86445f08d9eafcb29a9812eaa200f2c2b1493867fa921542667b3358ed1e7973"
    "a448a0ec2a88603357bfef86b50d899822af3f0d9ec27198f6223a9f181c00000000000000000000000000000000"
    "0000000000000000000000000000";

static void setup_tx(kg_safe_tx *tx, kg_buf *data, uint8_t safe[20])
{
    uint8_t to[20];
    KG_ASSERT_OK(kg_eth_address_parse(safe, SAFE));
    KG_ASSERT_OK(kg_eth_address_parse(to, TO));
    kg_buf_init(data, 1024);
    kg_test_hex(data, DATA);
    kg_safe_tx_call(tx, to, data->data, data->len, 7);
}

static void hash_matches_safe_utils(void **state)
{
    (void)state;
    kg_safe_tx tx;
    kg_buf data;
    uint8_t safe[20], out[32];
    setup_tx(&tx, &data, safe);
    kg_safe_domain_separator(out, 31337, safe);
    kg_test_assert_hex(out, 32, DOMAIN);
    KG_ASSERT_OK(kg_safe_tx_hash(out, 31337, safe, &tx));
    kg_test_assert_hex(out, 32, HASH);

    /* every field of the SafeTx type is hashed: all set, chain id 1 */
    kg_safe_tx full = tx;
    full.data = NULL;
    full.data_len = 0;
    full.value[30] = 0x03; /* 1000 = 0x03e8 */
    full.value[31] = 0xe8;
    full.operation = 1;
    full.safe_tx_gas = 5;
    full.base_gas = 6;
    full.gas_price = 7;
    memcpy(full.gas_token, safe, 20);
    memcpy(full.refund_receiver, tx.to, 20);
    full.nonce = 9;
    KG_ASSERT_OK(kg_safe_tx_hash(out, 1, safe, &full));
    kg_test_assert_hex(out, 32, "c69ec025a41ea64a0de7ab170a72b39d368a88d7856d6fc3ba8a5ac8cfecc9cd");
    /* another chain or Safe is another hash (no replay across them) */
    KG_ASSERT_OK(kg_safe_tx_hash(out, 1, safe, &tx));
    assert_int_not_equal(memcmp(out, "\xab\x79", 2), 0);
    full.operation = 2;
    KG_ASSERT_ERR(kg_safe_tx_hash(out, 1, safe, &full), KG_ERR_INPUT, "operation 2");
    kg_buf_free(&data);
}

static void signatures_and_packing(void **state)
{
    (void)state;
    kg_safe_tx tx;
    kg_buf data, packed, k;
    uint8_t safe[20], h[32], sigs[2][KG_SAFE_SIG_LEN], signers[2][20], who[20], want[20];
    setup_tx(&tx, &data, safe);
    KG_ASSERT_OK(kg_safe_tx_hash(h, 31337, safe, &tx));
    kg_buf_init(&k, 64);
    /* signed in the "wrong" order (0xb595.. first): packing sorts by owner address */
    kg_test_hex(&k, KEY47);
    KG_ASSERT_OK(kg_safe_sign(sigs[0], k.data, h));
    kg_test_assert_hex(sigs[0], 65, SIG47);
    KG_ASSERT_OK(kg_safe_signer(signers[0], sigs[0], h));
    KG_ASSERT_OK(kg_eth_address_parse(want, ADDR47));
    assert_memory_equal(signers[0], want, 20);
    kg_buf_reset(&k);
    kg_test_hex(&k, KEY46);
    KG_ASSERT_OK(kg_safe_sign(sigs[1], k.data, h));
    kg_test_assert_hex(sigs[1], 65, SIG46);
    KG_ASSERT_OK(kg_safe_signer(signers[1], sigs[1], h));
    KG_ASSERT_OK(kg_eth_address_parse(want, ADDR46));
    assert_memory_equal(signers[1], want, 20);

    kg_buf_init(&packed, 1024);
    KG_ASSERT_OK(kg_safe_pack_signatures(&packed, (const uint8_t(*)[65])sigs,
                                         (const uint8_t(*)[20])signers, 2));
    assert_int_equal(packed.len, 130);
    kg_test_assert_hex(packed.data, 65, SIG46);
    kg_test_assert_hex(packed.data + 65, 65, SIG47);

    kg_buf exec;
    kg_buf_init(&exec, 4096);
    KG_ASSERT_OK(kg_safe_exec_calldata(&exec, &tx, packed.data, packed.len));
    kg_test_assert_hex(exec.data, exec.len, EXEC);
    assert_int_equal(exec.len, strlen(EXEC) / 2);

    /* refusals: the same owner twice, none, a bad v, a high-S signature */
    memcpy(signers[0], signers[1], 20);
    kg_buf_reset(&packed);
    KG_ASSERT_ERR(kg_safe_pack_signatures(&packed, (const uint8_t(*)[65])sigs,
                                          (const uint8_t(*)[20])signers, 2),
                  KG_ERR_INPUT, "signed twice");
    assert_int_equal(packed.len, 0);
    KG_ASSERT_ERR(kg_safe_pack_signatures(&packed, (const uint8_t(*)[65])sigs,
                                          (const uint8_t(*)[20])signers, 0),
                  KG_ERR_USAGE, "0 Safe signatures");
    uint8_t bad[65];
    memcpy(bad, sigs[1], 65);
    bad[64] = 1;
    KG_ASSERT_ERR(kg_safe_signer(who, bad, h), KG_ERR_INPUT, "v = 1");
    /* s -> n - s (and v flipped) is the same point but high-S: Safe's ecrecover would accept
     * it, keygate never produces or relays it */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    memcpy(bad, sigs[1], 65);
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - bad[32 + i] - borrow;
        borrow = d < 0;
        bad[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    bad[64] = bad[64] == 27 ? 28 : 27;
    assert_true(kg_failed(kg_safe_signer(who, bad, h)));
    kg_error_clear();
    kg_buf_free(&exec);
    kg_buf_free(&packed);
    kg_buf_free(&k);
    kg_buf_free(&data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_matches_safe_utils),
        cmocka_unit_test(signatures_and_packing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
