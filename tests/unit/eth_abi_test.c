/* eth_abi_test.c - Solidity ABI encoding against encodings produced by Foundry's cast, and
 * strict decoding: every truncation, bad offset, oversized length and bad padding rejected. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/eth.h"

/* Expected encodings below were produced with Foundry 1.7.1 (tools/node_modules/.bin/cast) when
 * this test was written, e.g.
 *   cast calldata 'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,
 *     string,string[]))' '(0x1111..11,0x2222..22,0x0000..00,0x4444..44,0x5555..55,0x6666..66,
 *     0x7777..77,UpToDate,[INTEL-SA-00001,INTEL-SA-00002])'
 * tests/integration/eth_itest.c also compares against cast at test time. */

#define BOOT_TUPLE "(address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[])"

static const char IS_APP_ALLOWED_HEX[] =
    "1e079198"
    "0000000000000000000000000000000000000000000000000000000000000020"
    "0000000000000000000000001111111111111111111111111111111111111111"
    "2222222222222222222222222222222222222222222222222222222222222222"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "4444444444444444444444444444444444444444444444444444444444444444"
    "5555555555555555555555555555555555555555555555555555555555555555"
    "6666666666666666666666666666666666666666666666666666666666666666"
    "7777777777777777777777777777777777777777777777777777777777777777"
    "0000000000000000000000000000000000000000000000000000000000000120"
    "0000000000000000000000000000000000000000000000000000000000000160"
    "0000000000000000000000000000000000000000000000000000000000000008"
    "5570546f44617465000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000002"
    "0000000000000000000000000000000000000000000000000000000000000040"
    "0000000000000000000000000000000000000000000000000000000000000080"
    "000000000000000000000000000000000000000000000000000000000000000e"
    "494e54454c2d53412d3030303031000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000e"
    "494e54454c2d53412d3030303032000000000000000000000000000000000000";

/* cast calldata 'isKmsAllowed(BOOT_TUPLE)' '(0xaa..aa,0x01..01,0x00..00,0x02..02,0x03..03,
 *   0x04..04,0x05..05,OutOfDate,[])' */
static const char IS_KMS_ALLOWED_HEX[] =
    "e067ec9d"
    "0000000000000000000000000000000000000000000000000000000000000020"
    "000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "0101010101010101010101010101010101010101010101010101010101010101"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0202020202020202020202020202020202020202020202020202020202020202"
    "0303030303030303030303030303030303030303030303030303030303030303"
    "0404040404040404040404040404040404040404040404040404040404040404"
    "0505050505050505050505050505050505050505050505050505050505050505"
    "0000000000000000000000000000000000000000000000000000000000000120"
    "0000000000000000000000000000000000000000000000000000000000000160"
    "0000000000000000000000000000000000000000000000000000000000000009"
    "4f75744f66446174650000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000";

static void fill(uint8_t *p, uint8_t v, size_t n)
{
    memset(p, v, n);
}

static void assert_buf_hex(const kg_buf *b, const char *hex)
{
    assert_int_equal(b->len, strlen(hex) / 2);
    kg_test_assert_hex(b->data, b->len, hex);
}

static void selectors_computed_from_signatures(void **state)
{
    (void)state;
    uint8_t sel[4];
    kg_abi_selector(sel, "isAppAllowed(" BOOT_TUPLE ")");
    kg_test_assert_hex(sel, 4, "1e079198");
    kg_abi_selector(sel, "isKmsAllowed(" BOOT_TUPLE ")");
    kg_test_assert_hex(sel, 4, "e067ec9d");
    kg_abi_selector(sel, "Error(string)");
    kg_test_assert_hex(sel, 4, "08c379a0");
    kg_abi_selector(sel, "Panic(uint256)");
    kg_test_assert_hex(sel, 4, "4e487b71");
    kg_abi_selector(sel, "owner()");
    kg_test_assert_hex(sel, 4, "8da5cb5b");
}

static void encodes_is_app_allowed_like_cast(void **state)
{
    (void)state;
    uint8_t app[20], compose[32], instance[20], dev[32], mra[32], mrs[32], os[32];
    fill(app, 0x11, 20);
    fill(compose, 0x22, 32);
    fill(instance, 0, 20);
    fill(dev, 0x44, 32);
    fill(mra, 0x55, 32);
    fill(mrs, 0x66, 32);
    fill(os, 0x77, 32);
    kg_abi_value adv[2] = {kg_abi_string("INTEL-SA-00001"), kg_abi_string("INTEL-SA-00002")};
    kg_abi_value m[9] = {kg_abi_address(app), kg_abi_bytes32(compose),   kg_abi_address(instance),
                         kg_abi_bytes32(dev), kg_abi_bytes32(mra),       kg_abi_bytes32(mrs),
                         kg_abi_bytes32(os),  kg_abi_string("UpToDate"), kg_abi_array(adv, 2)};
    kg_abi_value arg = kg_abi_tuple(m, 9);
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
    KG_ASSERT_OK(kg_abi_encode_call(&b, "isAppAllowed(" BOOT_TUPLE ")", &arg, 1));
    assert_buf_hex(&b, IS_APP_ALLOWED_HEX);
    kg_buf_free(&b);
}

/* The policy helper's calldata from a kg_boot_identity equals the hand-built tuple's. */
static void policy_calldata_from_boot_info(void **state)
{
    (void)state;
    kg_boot_identity bi;
    memset(&bi, 0, sizeof(bi));
    fill(bi.app_id, 0x11, 20);
    fill(bi.compose_hash, 0x22, 32);
    bi.instance_id_len = 0; /* sent as the zero address */
    fill(bi.instance_id, 0x33, 20);
    fill(bi.device_id, 0x44, 32);
    fill(bi.mr_aggregated, 0x55, 32);
    fill(bi.mr_system, 0x66, 32);
    fill(bi.os_image_hash, 0x77, 32);
    memcpy(bi.tcb_status, "UpToDate", 9);
    bi.n_advisory_ids = 2;
    memcpy(bi.advisory_ids[0], "INTEL-SA-00001", 15);
    memcpy(bi.advisory_ids[1], "INTEL-SA-00002", 15);
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
    KG_ASSERT_OK(kg_eth_policy_calldata(&b, KG_ETH_POLICY_APP, &bi));
    assert_buf_hex(&b, IS_APP_ALLOWED_HEX);
    kg_buf_reset(&b);

    memset(&bi, 0, sizeof(bi));
    fill(bi.app_id, 0xaa, 20);
    fill(bi.compose_hash, 1, 32);
    bi.instance_id_len = KG_INSTANCE_ID_LEN;
    fill(bi.device_id, 2, 32);
    fill(bi.mr_aggregated, 3, 32);
    fill(bi.mr_system, 4, 32);
    fill(bi.os_image_hash, 5, 32);
    memcpy(bi.tcb_status, "OutOfDate", 10);
    KG_ASSERT_OK(kg_eth_policy_calldata(&b, KG_ETH_POLICY_KMS, &bi));
    assert_buf_hex(&b, IS_KMS_ALLOWED_HEX);

    bi.n_advisory_ids = KG_MAX_ADVISORY_IDS + 1;
    KG_ASSERT_ERR(kg_eth_policy_calldata(&b, KG_ETH_POLICY_KMS, &bi), KG_ERR_INPUT,
                  "65 advisory ids exceed 64");
    bi.n_advisory_ids = 1;
    memset(bi.advisory_ids[0], 'X', sizeof(bi.advisory_ids[0]));
    KG_ASSERT_ERR(kg_eth_policy_calldata(&b, KG_ETH_POLICY_KMS, &bi), KG_ERR_INPUT,
                  "advisory id is not NUL-terminated");
    KG_ASSERT_ERR(kg_eth_policy_calldata(&b, (kg_eth_policy_kind)0, &bi), KG_ERR_USAGE,
                  "unknown policy kind");
    kg_buf_free(&b);
}

static void encodes_is_kms_allowed_with_empty_list(void **state)
{
    (void)state;
    uint8_t app[20], w[6][32], zero20[20] = {0};
    fill(app, 0xaa, 20);
    for (int i = 0; i < 6; i++)
        fill(w[i], (uint8_t)i, 32);
    kg_abi_value m[9] = {kg_abi_address(app),  kg_abi_bytes32(w[1]),       kg_abi_address(zero20),
                         kg_abi_bytes32(w[2]), kg_abi_bytes32(w[3]),       kg_abi_bytes32(w[4]),
                         kg_abi_bytes32(w[5]), kg_abi_string("OutOfDate"), kg_abi_array(NULL, 0)};
    kg_abi_value arg = kg_abi_tuple(m, 9);
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
    KG_ASSERT_OK(kg_abi_encode_call(&b, "isKmsAllowed(" BOOT_TUPLE ")", &arg, 1));
    assert_buf_hex(&b, IS_KMS_ALLOWED_HEX);
    kg_buf_free(&b);
}

/* The governance writes the CLI sends (contracts/README.md), each checked against cast. */
static void encodes_cli_calls_like_cast(void **state)
{
    (void)state;
    uint8_t h[32], a[20], z[32] = {0};
    fill(h, 0x01, 32);
    fill(a, 0xaa, 20);
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);

    kg_abi_value arg = kg_abi_bytes32(h);
    KG_ASSERT_OK(kg_abi_encode_call(&b, "addComposeHash(bytes32)", &arg, 1));
    assert_buf_hex(&b, "dfc772230101010101010101010101010101010101010101010101010101010101010101");
    kg_buf_reset(&b);

    arg = kg_abi_address(a);
    KG_ASSERT_OK(kg_abi_encode_call(&b, "registerApp(address)", &arg, 1));
    assert_buf_hex(&b, "17a1d80f000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    kg_buf_reset(&b);

    KG_ASSERT_OK(kg_abi_encode_call(&b, "owner()", NULL, 0));
    assert_buf_hex(&b, "8da5cb5b");
    kg_buf_reset(&b);

    /* cast calldata 'deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)' 0xaa..aa
     *   false true true 0x00..00 0x01..01 */
    kg_abi_value d[6] = {kg_abi_address(a), kg_abi_bool(false), kg_abi_bool(true),
                         kg_abi_bool(true), kg_abi_bytes32(z),  kg_abi_bytes32(h)};
    KG_ASSERT_OK(kg_abi_encode_call(
        &b, "deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)", d, 6));
    assert_buf_hex(&b, "9cb9c31f"
                       "000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "0000000000000000000000000000000000000000000000000000000000000000"
                       "0000000000000000000000000000000000000000000000000000000000000001"
                       "0000000000000000000000000000000000000000000000000000000000000001"
                       "0000000000000000000000000000000000000000000000000000000000000000"
                       "0101010101010101010101010101010101010101010101010101010101010101");
    kg_buf_reset(&b);

    /* A tuple of four dynamic bytes (setKmsInfo), one of them empty and one 33 bytes:
     * cast calldata 'setKmsInfo((bytes,bytes,bytes,bytes))' '(0x02aabb,0x,0x0102..21,0xff)' */
    static const uint8_t k[3] = {0x02, 0xaa, 0xbb}, ff[1] = {0xff};
    uint8_t q[33];
    for (int i = 0; i < 33; i++)
        q[i] = (uint8_t)(i + 1);
    kg_abi_value info[4] = {kg_abi_bytes(k, 3), kg_abi_bytes(NULL, 0), kg_abi_bytes(q, 33),
                            kg_abi_bytes(ff, 1)};
    arg = kg_abi_tuple(info, 4);
    KG_ASSERT_OK(kg_abi_encode_call(&b, "setKmsInfo((bytes,bytes,bytes,bytes))", &arg, 1));
    assert_buf_hex(&b, "7d025352"
                       "0000000000000000000000000000000000000000000000000000000000000020"
                       "0000000000000000000000000000000000000000000000000000000000000080"
                       "00000000000000000000000000000000000000000000000000000000000000c0"
                       "00000000000000000000000000000000000000000000000000000000000000e0"
                       "0000000000000000000000000000000000000000000000000000000000000140"
                       "0000000000000000000000000000000000000000000000000000000000000003"
                       "02aabb0000000000000000000000000000000000000000000000000000000000"
                       "0000000000000000000000000000000000000000000000000000000000000000"
                       "0000000000000000000000000000000000000000000000000000000000000021"
                       "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
                       "2100000000000000000000000000000000000000000000000000000000000000"
                       "0000000000000000000000000000000000000000000000000000000000000001"
                       "ff00000000000000000000000000000000000000000000000000000000000000");
    kg_buf_free(&b);
}

static void encoder_rejects_bad_trees_and_caps(void **state)
{
    (void)state;
    kg_buf b;
    kg_buf_init(&b, 64);
    /* Nested deeper than KG_ETH_MAX_ABI_DEPTH. */
    kg_abi_value chain[KG_ETH_MAX_ABI_DEPTH + 2];
    chain[0] = kg_abi_bool(true);
    for (size_t i = 1; i < KG_ETH_MAX_ABI_DEPTH + 2; i++)
        chain[i] = kg_abi_tuple(&chain[i - 1], 1);
    KG_ASSERT_ERR(kg_abi_encode(&b, &chain[KG_ETH_MAX_ABI_DEPTH + 1], 1), KG_ERR_USAGE,
                  "nested deeper than");
    /* Unknown kind. */
    kg_abi_value bad = kg_abi_bool(true);
    bad.kind = (kg_abi_kind)99;
    KG_ASSERT_ERR(kg_abi_encode(&b, &bad, 1), KG_ERR_USAGE, "unknown ABI value kind");
    /* Larger than the buffer's cap: out unchanged (no selector left behind). */
    uint8_t big[100] = {0};
    kg_abi_value v = kg_abi_bytes(big, sizeof(big));
    KG_ASSERT_ERR(kg_abi_encode_call(&b, "f(bytes)", &v, 1), KG_ERR_TOO_LARGE, "cap of 64");
    assert_int_equal(b.len, 0);
    /* Non-canonical signature. */
    KG_ASSERT_ERR(kg_abi_encode_call(&b, "f(uint256 x)", NULL, 0), KG_ERR_USAGE, "not canonical");
    kg_buf_free(&b);
}

/* cast abi-encode 'f(bool,string)' true 'compose hash not allowed' */
static const char BOOL_STRING_HEX[] =
    "0000000000000000000000000000000000000000000000000000000000000001"
    "0000000000000000000000000000000000000000000000000000000000000040"
    "0000000000000000000000000000000000000000000000000000000000000018"
    "636f6d706f73652068617368206e6f7420616c6c6f7765640000000000000000";

static const kg_abi_type BOOL_STRING[2] = {KG_ABI_T_BOOL, KG_ABI_T_STRING};

static void decodes_bool_string(void **state)
{
    (void)state;
    kg_buf d;
    kg_test_hex(&d, BOOL_STRING_HEX);
    kg_abi_decoded v[2];
    KG_ASSERT_OK(kg_abi_decode(v, BOOL_STRING, 2, d.data, d.len, 1024));
    assert_true(kg_abi_get_bool(&v[0]));
    char reason[64];
    KG_ASSERT_OK(kg_abi_get_string(reason, sizeof(reason), &v[1]));
    assert_string_equal(reason, "compose hash not allowed");
    KG_ASSERT_ERR(kg_abi_get_string(reason, 10, &v[1]), KG_ERR_TOO_LARGE, "does not fit 9");
    kg_buf_free(&d);

    /* cast abi-encode 'f(bool,string)' true '' : an empty string has no content words. */
    kg_test_hex(&d, "0000000000000000000000000000000000000000000000000000000000000001"
                    "0000000000000000000000000000000000000000000000000000000000000040"
                    "0000000000000000000000000000000000000000000000000000000000000000");
    KG_ASSERT_OK(kg_abi_decode(v, BOOL_STRING, 2, d.data, d.len, 1024));
    KG_ASSERT_OK(kg_abi_get_string(reason, sizeof(reason), &v[1]));
    assert_string_equal(reason, "");
    kg_buf_free(&d);
}

/* Every strict prefix of a valid encoding is a truncation, reported as such. */
static void rejects_every_truncation(void **state)
{
    (void)state;
    kg_buf d;
    kg_test_hex(&d, BOOL_STRING_HEX);
    kg_abi_decoded v[2];
    for (size_t n = 0; n < d.len; n++) {
        kg_error_clear();
        kg_result r = kg_abi_decode(v, BOOL_STRING, 2, d.data, n, 1024);
        if (kg_ok(r) || kg_error_code() != KG_ERR_TRUNCATED)
            fail_msg("prefix of %zu bytes: got %s '%s'", n, kg_err_name(kg_error_code()),
                     kg_error_message());
        assert_false(kg_abi_get_bool(&v[0])); /* zeroed on failure */
    }
    kg_buf_free(&d);

    /* Same for bytes32[] (cast abi-encode 'f(bytes32[])' '[0x01..01,0x02..02]'). */
    kg_test_hex(&d, "0000000000000000000000000000000000000000000000000000000000000020"
                    "0000000000000000000000000000000000000000000000000000000000000002"
                    "0101010101010101010101010101010101010101010101010101010101010101"
                    "0202020202020202020202020202020202020202020202020202020202020202");
    const kg_abi_type t = KG_ABI_T_BYTES32_ARRAY;
    KG_ASSERT_OK(kg_abi_decode(v, &t, 1, d.data, d.len, 64));
    assert_int_equal(v[0].len, 2);
    kg_test_assert_hex(v[0].data + 32, 32,
                       "0202020202020202020202020202020202020202020202020202020202020202");
    KG_ASSERT_ERR(kg_abi_decode(v, &t, 1, d.data, d.len, 32), KG_ERR_TOO_LARGE,
                  "length 2 exceeds the maximum 1");
    for (size_t n = 0; n < d.len; n++)
        KG_ASSERT_ERR(kg_abi_decode(v, &t, 1, d.data, n, 64), KG_ERR_TRUNCATED, "");
    kg_buf_free(&d);
}

/* Mutates word `word` (0-based) of BOOL_STRING_HEX's bytes to `hex` and expects an error. */
static void expect_mutation(size_t word, const char *hex, kg_err code, const char *needle)
{
    kg_buf d, w;
    kg_test_hex(&d, BOOL_STRING_HEX);
    kg_test_hex(&w, hex);
    assert_int_equal(w.len, 32);
    memcpy(d.data + 32 * word, w.data, 32);
    kg_abi_decoded v[2];
    KG_ASSERT_ERR(kg_abi_decode(v, BOOL_STRING, 2, d.data, d.len, 1024), code, needle);
    kg_buf_free(&d);
    kg_buf_free(&w);
}

static void rejects_bad_offsets_lengths_and_values(void **state)
{
    (void)state;
    /* bool must be 0 or 1 */
    expect_mutation(0, "0000000000000000000000000000000000000000000000000000000000000002",
                    KG_ERR_INPUT, "not 0 or 1");
    expect_mutation(0, "0100000000000000000000000000000000000000000000000000000000000001",
                    KG_ERR_INPUT, "not 0 or 1");
    /* offsets: past the end, into the head, unaligned, huge */
    expect_mutation(1, "0000000000000000000000000000000000000000000000000000000000000080",
                    KG_ERR_INPUT, "offset is not the canonical 64");
    expect_mutation(1, "0000000000000000000000000000000000000000000000000000000000000000",
                    KG_ERR_INPUT, "offset is not the canonical 64");
    expect_mutation(1, "0000000000000000000000000000000000000000000000000000000000000041",
                    KG_ERR_INPUT, "offset is not the canonical 64");
    expect_mutation(1, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc0",
                    KG_ERR_INPUT, "offset is not the canonical 64");
    expect_mutation(1, "0000000000000000000000000000000000000000000000010000000000000040",
                    KG_ERR_INPUT, "offset is not the canonical 64");
    /* lengths: longer than the data, than the maximum, than 2^64 */
    expect_mutation(2, "0000000000000000000000000000000000000000000000000000000000000021",
                    KG_ERR_TRUNCATED, "length 33 but only 32 bytes remain");
    expect_mutation(2, "0000000000000000000000000000000000000000000000000000000000000401",
                    KG_ERR_TOO_LARGE, "exceeds the maximum 1024");
    expect_mutation(2, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                    KG_ERR_TOO_LARGE, "length out of range");
    expect_mutation(2, "000000000000000000000000000000000000000000000000ffffffffffffffff",
                    KG_ERR_TOO_LARGE, "exceeds the maximum");
    /* shorter length leaves non-zero bytes in the padding */
    expect_mutation(2, "0000000000000000000000000000000000000000000000000000000000000017",
                    KG_ERR_INPUT, "non-zero padding");
    /* NUL inside a string */
    expect_mutation(3, "636f6d706f73650068617368206e6f7420616c6c6f7765640000000000000000",
                    KG_ERR_INPUT, "contains a NUL byte");

    /* Trailing bytes after the canonical end. */
    kg_buf d;
    kg_test_hex(&d, BOOL_STRING_HEX);
    KG_ASSERT_OK(kg_buf_append(&d, "\0", 1));
    kg_abi_decoded v[2];
    KG_ASSERT_ERR(kg_abi_decode(v, BOOL_STRING, 2, d.data, d.len, 1024), KG_ERR_INPUT,
                  "1 trailing bytes after ABI data");
    kg_buf_free(&d);

    /* Static words: address high bytes, uint64/uint8 range. */
    uint8_t w[32] = {0};
    w[11] = 1;
    const kg_abi_type ta = KG_ABI_T_ADDRESS, t64 = KG_ABI_T_UINT64, t8 = KG_ABI_T_UINT8;
    KG_ASSERT_ERR(kg_abi_decode(v, &ta, 1, w, 32, 0), KG_ERR_INPUT,
                  "(address): value out of range");
    KG_ASSERT_ERR(kg_abi_decode(v, &t64, 1, w, 32, 0), KG_ERR_INPUT,
                  "(uint64): value out of range");
    memset(w, 0, 32);
    w[30] = 1;
    KG_ASSERT_ERR(kg_abi_decode(v, &t8, 1, w, 32, 0), KG_ERR_INPUT, "(uint8): value out of range");
    KG_ASSERT_OK(kg_abi_decode(v, &t64, 1, w, 32, 0));
    assert_int_equal(kg_abi_get_u64(&v[0]), 256);
    w[30] = 0;
    w[31] = 0xaa;
    KG_ASSERT_OK(kg_abi_decode(v, &ta, 1, w, 32, 0));
    uint8_t addr[20];
    kg_abi_get_address(addr, &v[0]);
    assert_int_equal(addr[19], 0xaa);
    /* Empty return data (a call to an address without code) is not a bool. */
    const kg_abi_type tb = KG_ABI_T_BOOL;
    KG_ASSERT_ERR(kg_abi_decode(v, &tb, 1, w, 0, 0), KG_ERR_TRUNCATED, "need 32, have 0");
}

/* Round trip: whatever the encoder emits for (bytes, string, bytes32[], address) decodes. */
static void encoder_output_decodes(void **state)
{
    (void)state;
    uint8_t blob[70], a[20], e[3][32];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(i * 7 + 1);
    fill(a, 0x5a, 20);
    kg_abi_value items[3];
    for (int i = 0; i < 3; i++) {
        fill(e[i], (uint8_t)(0x10 + i), 32);
        items[i] = kg_abi_bytes32(e[i]);
    }
    kg_abi_value args[4] = {kg_abi_bytes(blob, sizeof(blob)), kg_abi_string("hello"),
                            kg_abi_array(items, 3), kg_abi_address(a)};
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
    KG_ASSERT_OK(kg_abi_encode(&b, args, 4));
    const kg_abi_type t[4] = {KG_ABI_T_BYTES, KG_ABI_T_STRING, KG_ABI_T_BYTES32_ARRAY,
                              KG_ABI_T_ADDRESS};
    kg_abi_decoded v[4];
    KG_ASSERT_OK(kg_abi_decode(v, t, 4, b.data, b.len, 4096));
    assert_int_equal(v[0].len, sizeof(blob));
    assert_memory_equal(v[0].data, blob, sizeof(blob));
    assert_int_equal(v[1].len, 5);
    assert_memory_equal(v[1].data, "hello", 5);
    assert_int_equal(v[2].len, 3);
    assert_memory_equal(v[2].data + 64, e[2], 32);
    uint8_t got[20];
    kg_abi_get_address(got, &v[3]);
    assert_memory_equal(got, a, 20);
    kg_buf_free(&b);
}

static void decodes_revert_data(void **state)
{
    (void)state;
    kg_eth_revert rv;
    char text[256];
    kg_buf d;
    /* cast calldata 'Error(string)' 'app not registered' */
    kg_test_hex(&d, "08c379a0"
                    "0000000000000000000000000000000000000000000000000000000000000020"
                    "0000000000000000000000000000000000000000000000000000000000000012"
                    "617070206e6f7420726567697374657265640000000000000000000000000000");
    KG_ASSERT_OK(kg_abi_decode_revert(&rv, d.data, d.len));
    assert_int_equal(rv.kind, KG_ETH_REVERT_ERROR);
    assert_string_equal(rv.reason, "app not registered");
    kg_eth_revert_describe(text, sizeof(text), &rv);
    assert_string_equal(text, "Error(\"app not registered\")");
    for (size_t n = 1; n < d.len; n++)
        KG_ASSERT_ERR(kg_abi_decode_revert(&rv, d.data, n), KG_ERR_TRUNCATED, "revert data");
    d.data[4 + 31] = 0x40; /* offset 0x40: not canonical */
    KG_ASSERT_ERR(kg_abi_decode_revert(&rv, d.data, d.len), KG_ERR_INPUT,
                  "revert data Error(string): ABI member 0 (string): offset is not the canonical");
    kg_buf_free(&d);

    /* cast calldata 'Panic(uint256)' 0x11 */
    kg_test_hex(&d, "4e487b710000000000000000000000000000000000000000000000000000000000000011");
    KG_ASSERT_OK(kg_abi_decode_revert(&rv, d.data, d.len));
    assert_int_equal(rv.kind, KG_ETH_REVERT_PANIC);
    assert_int_equal(rv.panic_code, 0x11);
    kg_eth_revert_describe(text, sizeof(text), &rv);
    assert_string_equal(text, "Panic(0x11: arithmetic overflow)");
    kg_buf_free(&d);

    /* cast calldata 'KmsAppAlreadyRegistered(address)' 0xaa..aa */
    kg_test_hex(&d, "69c61385000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    KG_ASSERT_OK(kg_abi_decode_revert(&rv, d.data, d.len));
    assert_int_equal(rv.kind, KG_ETH_REVERT_CUSTOM);
    kg_eth_revert_describe(text, sizeof(text), &rv);
    assert_string_equal(text, "custom error KmsAppAlreadyRegistered(address) 0x69c61385");
    /* An unknown selector is still a custom error, described by its selector. */
    d.data[0] = 0x00;
    KG_ASSERT_OK(kg_abi_decode_revert(&rv, d.data, 4));
    kg_eth_revert_describe(text, sizeof(text), &rv);
    assert_string_equal(text, "custom error 0x00c61385");
    KG_ASSERT_ERR(kg_abi_decode_revert(&rv, d.data, 3), KG_ERR_TRUNCATED,
                  "revert data: truncated reading 'selector'");
    kg_buf_free(&d);

    /* A root-key epoch refusal (cast sig 'KmsRootEpochNotReady(uint32,uint64)'), epoch 1. */
    kg_test_hex(&d, "bfa2abd40000000000000000000000000000000000000000000000000000000000000001"
                    "0000000000000000000000000000000000000000000000000000000065536580");
    KG_ASSERT_OK(kg_abi_decode_revert(&rv, d.data, d.len));
    kg_eth_revert_describe(text, sizeof(text), &rv);
    assert_string_equal(text, "custom error KmsRootEpochNotReady(uint32,uint64) 0xbfa2abd4");
    kg_buf_free(&d);

    KG_ASSERT_OK(kg_abi_decode_revert(&rv, NULL, 0));
    assert_int_equal(rv.kind, KG_ETH_REVERT_EMPTY);
    kg_eth_revert_describe(text, sizeof(text), &rv);
    assert_string_equal(text, "no revert data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(selectors_computed_from_signatures),
        cmocka_unit_test(encodes_is_app_allowed_like_cast),
        cmocka_unit_test(encodes_is_kms_allowed_with_empty_list),
        cmocka_unit_test(policy_calldata_from_boot_info),
        cmocka_unit_test(encodes_cli_calls_like_cast),
        cmocka_unit_test(encoder_rejects_bad_trees_and_caps),
        cmocka_unit_test(decodes_bool_string),
        cmocka_unit_test(rejects_every_truncation),
        cmocka_unit_test(rejects_bad_offsets_lengths_and_values),
        cmocka_unit_test(encoder_output_decodes),
        cmocka_unit_test(decodes_revert_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
