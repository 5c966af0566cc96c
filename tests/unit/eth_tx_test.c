/* eth_tx_test.c - RLP (the yellow paper's examples), signed EIP-1559 transactions, sender and
 * contract addresses, and EIP-55 text, against values produced by Foundry's cast. */
#include "test_util.h"

#include <string.h>

#include "keygate/eth.h"

/* A well-known test key (0x46 x 32), not a secret; its address from `cast wallet address`. */
static const char KEY_HEX[] = "4646464646464646464646464646464646464646464646464646464646464646";
static const char KEY_ADDR[] = "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F";

static void assert_buf_hex(const kg_buf *b, const char *hex)
{
    assert_int_equal(b->len, strlen(hex) / 2);
    kg_test_assert_hex(b->data, b->len, hex);
}

/* The RLP examples of the Ethereum wiki / yellow paper (cross-checked with `cast to-rlp`). */
static void rlp_reference_examples(void **state)
{
    (void)state;
    kg_buf b, items, inner;
    kg_buf_init(&b, 2048);
    kg_buf_init(&items, 1024);
    kg_buf_init(&inner, 1024);

    KG_ASSERT_OK(kg_rlp_bytes(&b, (const uint8_t *)"dog", 3));
    assert_buf_hex(&b, "83646f67");
    kg_buf_reset(&b);

    KG_ASSERT_OK(kg_rlp_bytes(&items, (const uint8_t *)"cat", 3));
    KG_ASSERT_OK(kg_rlp_bytes(&items, (const uint8_t *)"dog", 3));
    KG_ASSERT_OK(kg_rlp_list(&b, items.data, items.len));
    assert_buf_hex(&b, "c88363617483646f67");
    kg_buf_reset(&b);

    KG_ASSERT_OK(kg_rlp_bytes(&b, NULL, 0));
    assert_buf_hex(&b, "80");
    kg_buf_reset(&b);
    KG_ASSERT_OK(kg_rlp_list(&b, NULL, 0));
    assert_buf_hex(&b, "c0");
    kg_buf_reset(&b);

    /* Integers: 0 is the empty string, small values are themselves, then minimal big-endian. */
    KG_ASSERT_OK(kg_rlp_uint(&b, 0));
    KG_ASSERT_OK(kg_rlp_uint(&b, 15));
    KG_ASSERT_OK(kg_rlp_uint(&b, 0x7f));
    KG_ASSERT_OK(kg_rlp_uint(&b, 0x80));
    KG_ASSERT_OK(kg_rlp_uint(&b, 1024));
    KG_ASSERT_OK(kg_rlp_uint(&b, UINT64_MAX));
    assert_buf_hex(&b, "800f7f818082040088ffffffffffffffff");
    kg_buf_reset(&b);
    uint8_t w[32] = {0};
    KG_ASSERT_OK(kg_rlp_uint256(&b, w));
    w[31] = 0x05;
    w[0] = 0x01;
    KG_ASSERT_OK(kg_rlp_uint256(&b, w));
    assert_buf_hex(&b, "80a00100000000000000000000000000000000000000000000000000000000000005");
    kg_buf_reset(&b);

    /* The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ]. */
    kg_buf_reset(&items);
    kg_buf e, one, two;
    kg_buf_init(&e, 16);
    kg_buf_init(&one, 16);
    kg_buf_init(&two, 16);
    KG_ASSERT_OK(kg_rlp_list(&e, NULL, 0));         /* [] */
    KG_ASSERT_OK(kg_rlp_list(&one, e.data, e.len)); /* [[]] */
    KG_ASSERT_OK(kg_buf_append(&inner, e.data, e.len));
    KG_ASSERT_OK(kg_buf_append(&inner, one.data, one.len));
    KG_ASSERT_OK(kg_rlp_list(&two, inner.data, inner.len)); /* [ [], [[]] ] */
    KG_ASSERT_OK(kg_buf_append(&items, e.data, e.len));
    KG_ASSERT_OK(kg_buf_append(&items, one.data, one.len));
    KG_ASSERT_OK(kg_buf_append(&items, two.data, two.len));
    KG_ASSERT_OK(kg_rlp_list(&b, items.data, items.len));
    assert_buf_hex(&b, "c7c0c1c0c3c0c1c0");
    kg_buf_reset(&b);

    /* 56 bytes: the first length that needs the long form (0xb8 0x38). */
    const char *lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
    KG_ASSERT_OK(kg_rlp_bytes(&b, (const uint8_t *)lorem, strlen(lorem)));
    assert_int_equal(b.len, 58);
    kg_test_assert_hex(b.data, 3, "b8384c");
    kg_buf_reset(&b);
    /* A 56-byte list payload likewise (0xf8 0x38), and a 1024-byte string (0xb9 0x0400). */
    uint8_t big[1024];
    memset(big, 0x61, sizeof(big));
    KG_ASSERT_OK(kg_rlp_list(&b, big, 56));
    kg_test_assert_hex(b.data, 3, "f83861");
    kg_buf_reset(&b);
    KG_ASSERT_OK(kg_rlp_bytes(&b, big, sizeof(big)));
    assert_int_equal(b.len, 1027);
    kg_test_assert_hex(b.data, 4, "b9040061");

    /* Over the buffer's cap: an error, and nothing half-written. */
    kg_buf small;
    kg_buf_init(&small, 10);
    KG_ASSERT_ERR(kg_rlp_bytes(&small, big, 56), KG_ERR_TOO_LARGE, "cap of 10");
    assert_int_equal(small.len, 0);
    KG_ASSERT_ERR(kg_rlp_list(&small, big, 10), KG_ERR_TOO_LARGE, "cap of 10");
    assert_int_equal(small.len, 0);

    kg_buf_free(&small);
    kg_buf_free(&e);
    kg_buf_free(&one);
    kg_buf_free(&two);
    kg_buf_free(&inner);
    kg_buf_free(&items);
    kg_buf_free(&b);
}

/* cast mktx --private-key 0x46..46 --chain 31337 --nonce 7 --gas-limit 100000
 *   --priority-gas-price 1000000000 --gas-price 3000000000 --value 1000
 *   0x3535353535353535353535353535353535353535 'addComposeHash(bytes32)' 0x01..01
 * and `cast keccak` of the result for the hash. Signing is RFC 6979 deterministic, so the bytes
 * must match exactly. */
static void signs_call_transaction_like_cast(void **state)
{
    (void)state;
    uint8_t key[32], hash[32], h01[32];
    KG_ASSERT_OK(kg_hex_decode_exact(key, 32, KEY_HEX));
    memset(h01, 0x01, 32);
    kg_buf data, raw;
    kg_buf_init(&data, 1024);
    kg_buf_init(&raw, KG_ETH_MAX_TX_LEN);
    kg_abi_value arg = kg_abi_bytes32(h01);
    KG_ASSERT_OK(kg_abi_encode_call(&data, "addComposeHash(bytes32)", &arg, 1));
    kg_eth_tx tx = {
        .chain_id = 31337,
        .nonce = 7,
        .max_priority_fee_per_gas = 1000000000,
        .max_fee_per_gas = 3000000000,
        .gas_limit = 100000,
        .has_to = true,
        .data = data.data,
        .data_len = data.len,
    };
    memset(tx.to, 0x35, 20);
    tx.value[30] = 0x03;
    tx.value[31] = 0xe8; /* 1000 */
    KG_ASSERT_OK(kg_eth_tx_sign(&raw, hash, &tx, key));
    assert_buf_hex(&raw,
                   "02f893827a6907843b9aca0084b2d05e00830186a09435353535353535353535353535353535"
                   "353535358203e8a4dfc77223010101010101010101010101010101010101010101010101010101"
                   "0101010101c001a03ed2f9a8799cded73418308c5acdacdb43969fbf2334d116d4234e68e8f9d9"
                   "cca07f75bd65191f41b65c761d2a440ed81e76ad5f18ae6721dfc6b113fe52aacc54");
    kg_test_assert_hex(hash, 32,
                       "ffd4a078d0cfd2caf18ebb51ea568f5d0c49781aaca7b71c25fc113026b93804");

    /* An out-of-range key (zero) is refused and leaves raw untouched. */
    uint8_t zero[32] = {0};
    size_t before = raw.len;
    KG_ASSERT_ERR(kg_eth_tx_sign(&raw, hash, &tx, zero), KG_ERR_INPUT,
                  "signing transaction: secp256k1 scalar out of range");
    assert_int_equal(raw.len, before);
    kg_buf_free(&data);
    kg_buf_free(&raw);
}

/* cast mktx --private-key 0x46..46 --chain 1 --nonce 0 --gas-limit 60000
 *   --priority-gas-price 2 --gas-price 10 --create <the echo contract of eth_itest.c> */
static void signs_creation_transaction_like_cast(void **state)
{
    (void)state;
    uint8_t key[32], hash[32];
    KG_ASSERT_OK(kg_hex_decode_exact(key, 32, KEY_HEX));
    kg_buf code, raw;
    kg_test_hex(&code, "601e80600b6000396000f336600060003760005160f81c60ff14601657366000f35b6001"
                       "36036001fd");
    kg_buf_init(&raw, KG_ETH_MAX_TX_LEN);
    kg_eth_tx tx = {
        .chain_id = 1,
        .nonce = 0,
        .max_priority_fee_per_gas = 2,
        .max_fee_per_gas = 10,
        .gas_limit = 60000,
        .has_to = false,
        .data = code.data,
        .data_len = code.len,
    };
    KG_ASSERT_OK(kg_eth_tx_sign(&raw, hash, &tx, key));
    assert_buf_hex(&raw, "02f8770180020a82ea608080a9601e80600b6000396000f33660006000376000516"
                         "0f81c60ff14601657366000f35b600136036001fdc001a0511d35ec3ce1292008be"
                         "3d4a1a6d327b704cd24d88372aa5f69d658212dfd1e0a04a0f10a77d3c4940c217bc"
                         "f3020e2ecbdb025a42afae87efc45a8ec937079603");
    kg_test_assert_hex(hash, 32,
                       "7d07e1948c58a3765bfa07d17145c6f013474672ce41987879e88e464425fe4e");
    kg_buf_free(&code);
    kg_buf_free(&raw);
}

static void addresses(void **state)
{
    (void)state;
    uint8_t key[32], addr[20], sender[20];
    char text[43];
    KG_ASSERT_OK(kg_hex_decode_exact(key, 32, KEY_HEX));
    KG_ASSERT_OK(kg_eth_address_of_key(addr, key));
    kg_eth_address_checksum(text, addr);
    assert_string_equal(text, KEY_ADDR);

    /* cast compute-address --nonce 0 / --nonce 300 0x9d8A..5A4F */
    KG_ASSERT_OK(kg_eth_address_parse(sender, KEY_ADDR));
    assert_memory_equal(sender, addr, 20);
    KG_ASSERT_OK(kg_eth_create_address(addr, sender, 0));
    kg_eth_address_checksum(text, addr);
    assert_string_equal(text, "0x72665d3e94Cb4f374b7728F1ab21A3115C4D50Eb");
    KG_ASSERT_OK(kg_eth_create_address(addr, sender, 300));
    kg_eth_address_checksum(text, addr);
    assert_string_equal(text, "0xa65e5EBF708124261D0b62a954fEBCfD85b69a40");

    /* EIP-55's own examples round-trip; lower- and upper-case forms carry no checksum. */
    static const char *const eip55[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"};
    for (size_t i = 0; i < 4; i++) {
        KG_ASSERT_OK(kg_eth_address_parse(addr, eip55[i]));
        kg_eth_address_checksum(text, addr);
        assert_string_equal(text, eip55[i]);
    }
    KG_ASSERT_OK(kg_eth_address_parse(addr, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
    KG_ASSERT_OK(kg_eth_address_parse(addr, "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"));
    KG_ASSERT_ERR(kg_eth_address_parse(addr, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
                  KG_ERR_INPUT, "bad EIP-55 checksum");
    KG_ASSERT_ERR(kg_eth_address_parse(addr, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"),
                  KG_ERR_INPUT, "not 0x followed by 40 hex digits");
    KG_ASSERT_ERR(kg_eth_address_parse(addr, "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00"),
                  KG_ERR_INPUT, "not 0x followed by 40 hex digits");
    KG_ASSERT_ERR(kg_eth_address_parse(addr, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg"),
                  KG_ERR_INPUT, "address '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rlp_reference_examples),
        cmocka_unit_test(signs_call_transaction_like_cast),
        cmocka_unit_test(signs_creation_transaction_like_cast),
        cmocka_unit_test(addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
