/* scale_test.c - the SCALE codec subset: compact integers in every mode (canonical only), lengths
 * against what remains and the named maxima, strings (UTF-8), bool, Option and enum bytes, and
 * encode/decode round trips. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "ratls/scale.h"

static void compact_modes(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        uint64_t v;
    } ok[] = {
        {"00", 0},
        {"fc", 63},
        {"0101", 64},
        {"fdff", 16383},
        {"02000100", 16384},
        {"feffffff", 1073741823u},
        {"0300000040", 1073741824u},
        {"070000000001", 1ull << 32},
        {"13ffffffffffffffff", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        kg_buf b, e;
        kg_test_hex(&b, ok[i].hex);
        kg_reader r;
        uint64_t v;
        kg_reader_init(&r, b.data, b.len);
        KG_ASSERT_OK(kg_scale_compact(&r, &v, "n"));
        assert_true(v == ok[i].v);
        KG_ASSERT_OK(kg_reader_expect_end(&r, "compact"));
        kg_buf_init(&e, 16);
        KG_ASSERT_OK(kg_scale_put_compact(&e, ok[i].v));
        assert_int_equal(e.len, b.len);
        assert_memory_equal(e.data, b.data, b.len);
        kg_buf_free(&b);
        kg_buf_free(&e);
    }
}

static void compact_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        kg_err code;
        const char *needle;
    } bad[] = {
        {"", KG_ERR_TRUNCATED, "truncated reading 'n' (need 1, have 0)"},
        {"01", KG_ERR_TRUNCATED, "truncated reading 'n' (need 1, have 0)"},
        {"020001", KG_ERR_TRUNCATED, "truncated reading 'n' (need 3, have 2)"},
        {"03000000", KG_ERR_TRUNCATED, "truncated reading 'n' (need 4, have 3)"},
        {"0100", KG_ERR_INPUT, "non-canonical compact integer 0 in two bytes"},
        {"fd00", KG_ERR_INPUT, "non-canonical compact integer 63 in two bytes"},
        {"02000000", KG_ERR_INPUT, "non-canonical compact integer 0 in four bytes"},
        {"0300000000", KG_ERR_INPUT, "non-canonical compact integer in big-integer mode"},
        {"03ffffff3f", KG_ERR_INPUT, "non-canonical compact integer in big-integer mode"},
        {"070000004000", KG_ERR_INPUT, "non-canonical compact integer in big-integer mode"},
        {"17000000000000000001", KG_ERR_TOO_LARGE, "compact integer of 9 bytes exceeds 64 bits"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kg_buf b;
        kg_test_hex(&b, bad[i].hex);
        kg_reader r;
        uint64_t v;
        kg_reader_init(&r, b.data, b.len);
        KG_ASSERT_ERR(kg_scale_compact(&r, &v, "n"), bad[i].code, bad[i].needle);
        assert_int_equal(r.pos, 0); /* a failed read leaves the cursor */
        kg_buf_free(&b);
    }
}

static void lengths_and_bytes(void **state)
{
    (void)state;
    kg_reader r;
    const uint8_t *p;
    size_t n;
    /* Vec<u8> of 3 */
    static const uint8_t v3[] = {0x0c, 1, 2, 3};
    kg_reader_init(&r, v3, sizeof(v3));
    KG_ASSERT_OK(kg_scale_bytes(&r, &p, &n, 3, "v"));
    assert_int_equal(n, 3);
    assert_int_equal(p[2], 3);
    /* over the named maximum */
    kg_reader_init(&r, v3, sizeof(v3));
    KG_ASSERT_ERR(kg_scale_bytes(&r, &p, &n, 2, "v"), KG_ERR_TOO_LARGE,
                  "'v': length 3 exceeds the maximum 2");
    assert_int_equal(r.pos, 0);
    /* announced more than remains */
    kg_reader_init(&r, v3, 3);
    KG_ASSERT_ERR(kg_scale_bytes(&r, &p, &n, 100, "v"), KG_ERR_TRUNCATED,
                  "'v': length 3 exceeds the 2 bytes that remain");
    assert_int_equal(r.pos, 0);
    /* a huge length (2^40) is refused by the maximum before anything else */
    static const uint8_t huge[] = {0x07, 0, 0, 0, 0, 1};
    kg_reader_init(&r, huge, sizeof(huge));
    KG_ASSERT_ERR(kg_scale_len(&r, &n, 1024, 1, "events"), KG_ERR_TOO_LARGE,
                  "'events': length 4294967296 exceeds the maximum 1024");
    /* element count against min element size: 5 elements of >= 11 bytes in 20 bytes */
    uint8_t five[21] = {0x14};
    kg_reader_init(&r, five, sizeof(five));
    KG_ASSERT_ERR(kg_scale_len(&r, &n, 1024, 11, "events"), KG_ERR_TRUNCATED,
                  "'events': length 5 exceeds the 20 bytes that remain");
}

static void strings_and_small_types(void **state)
{
    (void)state;
    kg_reader r;
    const uint8_t *p;
    size_t n;
    static const uint8_t s_ok[] = {0x14, 'h', 0xc3, 0xa9, 'l', 'o'};
    kg_reader_init(&r, s_ok, sizeof(s_ok));
    KG_ASSERT_OK(kg_scale_str(&r, &p, &n, 64, "s"));
    assert_int_equal(n, 5);
    static const uint8_t s_bad[] = {0x08, 0xc3, 0x28};
    kg_reader_init(&r, s_bad, sizeof(s_bad));
    KG_ASSERT_ERR(kg_scale_str(&r, &p, &n, 64, "s"), KG_ERR_INPUT,
                  "'s': string is not valid UTF-8");
    static const uint8_t overlong[] = {0x08, 0xc0, 0xaf};
    kg_reader_init(&r, overlong, sizeof(overlong));
    KG_ASSERT_ERR(kg_scale_str(&r, &p, &n, 64, "s"), KG_ERR_INPUT, "not valid UTF-8");
    static const uint8_t surrogate[] = {0x0c, 0xed, 0xa0, 0x80};
    kg_reader_init(&r, surrogate, sizeof(surrogate));
    KG_ASSERT_ERR(kg_scale_str(&r, &p, &n, 64, "s"), KG_ERR_INPUT, "not valid UTF-8");

    bool b;
    static const uint8_t bools[] = {0x00, 0x01, 0x02};
    kg_reader_init(&r, bools, sizeof(bools));
    KG_ASSERT_OK(kg_scale_bool(&r, &b, "b"));
    assert_false(b);
    KG_ASSERT_OK(kg_scale_bool(&r, &b, "b"));
    assert_true(b);
    KG_ASSERT_ERR(kg_scale_bool(&r, &b, "b"), KG_ERR_INPUT,
                  "'b': bool byte 0x02 is neither 0 nor 1");
    assert_int_equal(r.pos, 2);
    kg_reader_init(&r, bools + 2, 1);
    KG_ASSERT_ERR(kg_scale_option(&r, &b, "o"), KG_ERR_INPUT,
                  "'o': Option tag 0x02 is neither 0 (None) nor 1 (Some)");
    uint8_t idx;
    kg_reader_init(&r, bools + 2, 1);
    KG_ASSERT_ERR(kg_scale_enum(&r, &idx, 2, "e"), KG_ERR_INPUT,
                  "'e': enum index 2 out of range (2 variants)");
    kg_reader_init(&r, bools + 2, 0);
    KG_ASSERT_ERR(kg_scale_enum(&r, &idx, 2, "e"), KG_ERR_TRUNCATED,
                  "truncated reading 'e' (need 1, have 0)");
}

static void encoders(void **state)
{
    (void)state;
    kg_buf b;
    kg_buf_init(&b, 64);
    KG_ASSERT_OK(kg_scale_put_str(&b, "ab", 2));
    KG_ASSERT_OK(kg_scale_put_bool(&b, true));
    KG_ASSERT_OK(kg_scale_put_u32(&b, 0x08000001u));
    KG_ASSERT_OK(kg_scale_put_u64(&b, 1));
    KG_ASSERT_OK(kg_scale_put_bytes(&b, NULL, 0));
    kg_test_assert_hex(b.data, b.len, "0861620101000008010000000000000000");
    KG_ASSERT_ERR(kg_scale_put_str(&b, "\xff", 1), KG_ERR_USAGE, "not valid UTF-8");
    kg_buf_free(&b);
    /* the cap of the output buffer bounds the encoder */
    kg_buf_init(&b, 3);
    KG_ASSERT_ERR(kg_scale_put_bytes(&b, "abcd", 4), KG_ERR_TOO_LARGE, "");
    kg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_modes),     cmocka_unit_test(compact_refusals),
        cmocka_unit_test(lengths_and_bytes), cmocka_unit_test(strings_and_small_types),
        cmocka_unit_test(encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
