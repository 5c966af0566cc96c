/* msgpack_test.c - the MessagePack subset: every length form, truncation and oversized counts with
 * their exact errors, type mismatches, bytes as bin or as an array of integers, and the minimal
 * encodings rmp-serde writes. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "ratls/msgpack.h"

static void reader_of(kg_reader *r, kg_buf *b, const char *hex)
{
    kg_test_hex(b, hex);
    kg_reader_init(r, b->data, b->len);
}

static void integers(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        uint64_t v;
    } ok[] = {
        {"00", 0},
        {"7f", 127},
        {"cc80", 128},
        {"cdffff", 65535},
        {"ce00010000", 65536},
        {"cf0000000100000000", 1ull << 32},
        {"d07f", 127},
        {"d10100", 256},
        {"d200000001", 1},
        {"d30000000000000002", 2},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        kg_buf b;
        kg_reader r;
        uint64_t v;
        reader_of(&r, &b, ok[i].hex);
        KG_ASSERT_OK(kg_mp_uint(&r, &v, "n"));
        assert_true(v == ok[i].v);
        KG_ASSERT_OK(kg_reader_expect_end(&r, "int"));
        kg_buf_free(&b);
    }
    static const struct {
        const char *hex;
        kg_err code;
        const char *needle;
    } bad[] = {
        {"", KG_ERR_TRUNCATED, "truncated reading 'n' (need 1, have 0)"},
        {"cd01", KG_ERR_TRUNCATED, "truncated reading 'n' (need 2, have 1)"},
        {"cf00000000", KG_ERR_TRUNCATED, "truncated reading 'n' (need 8, have 4)"},
        {"ff", KG_ERR_INPUT, "'n': expected unsigned integer, found negative integer (0xff)"},
        {"d0ff", KG_ERR_INPUT, "'n': negative integer where an unsigned one is expected"},
        {"a161", KG_ERR_INPUT, "'n': expected unsigned integer, found str (0xa1)"},
        {"cb0000000000000000", KG_ERR_INPUT, "found float or ext (0xcb)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kg_buf b;
        kg_reader r;
        uint64_t v;
        reader_of(&r, &b, bad[i].hex);
        KG_ASSERT_ERR(kg_mp_uint(&r, &v, "n"), bad[i].code, bad[i].needle);
        assert_int_equal(r.pos, 0);
        kg_buf_free(&b);
    }
}

static void strings_and_bins(void **state)
{
    (void)state;
    kg_buf b;
    kg_reader r;
    const uint8_t *p;
    size_t n;
    reader_of(&r, &b, "a3616263d903646566da0003676869db000000036a6b6c");
    for (int i = 0; i < 4; i++) {
        KG_ASSERT_OK(kg_mp_str(&r, &p, &n, 3, "s"));
        assert_int_equal(n, 3);
    }
    KG_ASSERT_OK(kg_reader_expect_end(&r, "strs"));
    kg_buf_free(&b);

    reader_of(&r, &b, "c403010203c5000100c600000000");
    KG_ASSERT_OK(kg_mp_bin(&r, &p, &n, 3, "b"));
    assert_int_equal(n, 3);
    KG_ASSERT_OK(kg_mp_bin(&r, &p, &n, 3, "b"));
    assert_int_equal(n, 1);
    KG_ASSERT_OK(kg_mp_bin(&r, &p, &n, 3, "b"));
    assert_int_equal(n, 0);
    kg_buf_free(&b);

    static const struct {
        const char *hex;
        int bin;
        kg_err code;
        const char *needle;
    } bad[] = {
        {"a3616263", 0, KG_ERR_TOO_LARGE, "'s': str of 3 bytes exceeds the maximum 2"},
        {"a461626364", 0, KG_ERR_TOO_LARGE, "'s': str of 4 bytes exceeds the maximum 2"},
        {"a2ff61", 0, KG_ERR_INPUT, "'s': str is not valid UTF-8"},
        {"d9", 0, KG_ERR_TRUNCATED, "truncated reading 's' (need 1, have 0)"},
        {"da00", 0, KG_ERR_TRUNCATED, "truncated reading 's' (need 2, have 1)"},
        {"a261", 0, KG_ERR_TRUNCATED, "truncated reading 's' (need 2, have 1)"},
        {"c402", 1, KG_ERR_TRUNCATED, "truncated reading 's' (need 2, have 0)"},
        {"c6ffffffff", 1, KG_ERR_TOO_LARGE, "'s': bin of 4294967295 bytes exceeds the maximum 2"},
        {"c40101", 0, KG_ERR_INPUT, "'s': expected str, found bin (0xc4)"},
        {"a0", 1, KG_ERR_INPUT, "'s': expected bin, found str (0xa0)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reader_of(&r, &b, bad[i].hex);
        if (bad[i].bin)
            KG_ASSERT_ERR(kg_mp_bin(&r, &p, &n, 2, "s"), bad[i].code, bad[i].needle);
        else
            KG_ASSERT_ERR(kg_mp_str(&r, &p, &n, 2, "s"), bad[i].code, bad[i].needle);
        assert_int_equal(r.pos, 0);
        kg_buf_free(&b);
    }
}

static void containers(void **state)
{
    (void)state;
    kg_buf b;
    kg_reader r;
    size_t n;
    reader_of(&r, &b, "93010203");
    KG_ASSERT_OK(kg_mp_array(&r, &n, 3, "a"));
    assert_int_equal(n, 3);
    kg_buf_free(&b);
    reader_of(&r, &b, "dc0003010203");
    KG_ASSERT_OK(kg_mp_array(&r, &n, 3, "a"));
    assert_int_equal(n, 3);
    kg_buf_free(&b);
    reader_of(&r, &b, "81a16101");
    KG_ASSERT_OK(kg_mp_map(&r, &n, 1, "m"));
    assert_int_equal(n, 1);
    kg_buf_free(&b);

    reader_of(&r, &b, "93010203");
    KG_ASSERT_ERR(kg_mp_array(&r, &n, 2, "a"), KG_ERR_TOO_LARGE,
                  "'a': array of 3 entries exceeds the maximum 2");
    kg_buf_free(&b);
    reader_of(&r, &b, "930102");
    KG_ASSERT_ERR(kg_mp_array(&r, &n, 8, "a"), KG_ERR_TRUNCATED,
                  "'a': array of 3 entries exceeds the 2 bytes that remain");
    kg_buf_free(&b);
    reader_of(&r, &b, "dd7fffffff");
    KG_ASSERT_ERR(kg_mp_array(&r, &n, 1024, "a"), KG_ERR_TOO_LARGE,
                  "'a': array of 2147483647 entries exceeds the maximum 1024");
    kg_buf_free(&b);
    /* a map entry takes at least two bytes */
    reader_of(&r, &b, "83a16101a1");
    KG_ASSERT_ERR(kg_mp_map(&r, &n, 8, "m"), KG_ERR_TRUNCATED,
                  "'m': map of 3 entries exceeds the 4 bytes that remain");
    kg_buf_free(&b);
    reader_of(&r, &b, "de00");
    KG_ASSERT_ERR(kg_mp_map(&r, &n, 8, "m"), KG_ERR_TRUNCATED,
                  "truncated reading 'm' (need 2, have 1)");
    kg_buf_free(&b);
    reader_of(&r, &b, "90");
    KG_ASSERT_ERR(kg_mp_map(&r, &n, 8, "m"), KG_ERR_INPUT, "'m': expected map, found array (0x90)");
    kg_buf_free(&b);

    kg_mp_type t;
    reader_of(&r, &b, "c0");
    KG_ASSERT_OK(kg_mp_peek(&r, &t, "x"));
    assert_int_equal(t, KG_MP_NIL);
    KG_ASSERT_OK(kg_mp_nil(&r, "x"));
    KG_ASSERT_ERR(kg_mp_peek(&r, &t, "x"), KG_ERR_TRUNCATED,
                  "truncated reading 'x' (need 1, have 0)");
    kg_buf_free(&b);
}

static void bytes_either_form(void **state)
{
    (void)state;
    kg_buf b, out;
    kg_reader r;
    kg_buf_init(&out, 16);
    reader_of(&r, &b, "c403aabbcc93cc80017f");
    KG_ASSERT_OK(kg_mp_bytes(&r, &out, 3, "q"));
    KG_ASSERT_OK(kg_mp_bytes(&r, &out, 3, "q"));
    kg_test_assert_hex(out.data, out.len, "aabbcc80017f");
    kg_buf_free(&b);
    kg_buf_reset(&out);
    reader_of(&r, &b, "92cd0100");
    KG_ASSERT_ERR(kg_mp_bytes(&r, &out, 3, "q"), KG_ERR_INPUT,
                  "'q': byte 0 of the array is 256, not 0..255");
    assert_int_equal(r.pos, 0);
    assert_int_equal(out.len, 0);
    kg_buf_free(&b);
    reader_of(&r, &b, "9401020304");
    KG_ASSERT_ERR(kg_mp_bytes(&r, &out, 3, "q"), KG_ERR_TOO_LARGE,
                  "'q': array of 4 entries exceeds the maximum 3");
    kg_buf_free(&b);
    reader_of(&r, &b, "930102");
    KG_ASSERT_ERR(kg_mp_bytes(&r, &out, 3, "q"), KG_ERR_TRUNCATED,
                  "'q': array of 3 entries exceeds the 2 bytes that remain");
    assert_int_equal(r.pos, 0);
    kg_buf_free(&b);
    reader_of(&r, &b, "a161");
    KG_ASSERT_ERR(kg_mp_bytes(&r, &out, 3, "q"), KG_ERR_INPUT,
                  "'q': expected bin or array of bytes, found str");
    kg_buf_free(&b);
    kg_buf_free(&out);
}

static void minimal_encodings(void **state)
{
    (void)state;
    kg_buf b;
    kg_buf_init(&b, 1 << 20);
    KG_ASSERT_OK(kg_mp_put_uint(&b, 127));
    KG_ASSERT_OK(kg_mp_put_uint(&b, 128));
    KG_ASSERT_OK(kg_mp_put_uint(&b, 65536));
    KG_ASSERT_OK(kg_mp_put_cstr(&b, "tdx"));
    KG_ASSERT_OK(kg_mp_put_bin(&b, "\x01", 1));
    KG_ASSERT_OK(kg_mp_put_map(&b, 3));
    KG_ASSERT_OK(kg_mp_put_array(&b, 16));
    KG_ASSERT_OK(kg_mp_put_u8_array(&b, (const uint8_t *)"\x05\xff", 2));
    kg_test_assert_hex(b.data, b.len, "7fcc80ce00010000a3746478c4010183dc00109205ccff");
    kg_buf_reset(&b);
    char s32[32];
    memset(s32, 'x', sizeof(s32));
    KG_ASSERT_OK(kg_mp_put_str(&b, s32, 31));
    assert_int_equal(b.data[0], 0xbf);
    kg_buf_reset(&b);
    KG_ASSERT_OK(kg_mp_put_str(&b, s32, 32));
    assert_int_equal(b.data[0], 0xd9);
    assert_int_equal(b.data[1], 32);
    KG_ASSERT_ERR(kg_mp_put_str(&b, "\xc0\x80", 2), KG_ERR_USAGE, "not valid UTF-8");
    kg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),          cmocka_unit_test(strings_and_bins),
        cmocka_unit_test(containers),        cmocka_unit_test(bytes_either_form),
        cmocka_unit_test(minimal_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
