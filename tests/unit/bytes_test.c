/* bytes_test.c - the bounds-checked reader, capped buffer, hex codec and error chain. */
#include "test_util.h"

#include <string.h>

static void reader_reads_little_and_big_endian(void **state)
{
    const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    kg_reader r;
    kg_reader_init(&r, data, sizeof(data));
    uint16_t a;
    uint32_t b;
    uint8_t c;
    uint16_t d;
    KG_ASSERT_OK(kg_reader_u16le(&r, &a, "a"));
    KG_ASSERT_OK(kg_reader_u32be(&r, &b, "b"));
    KG_ASSERT_OK(kg_reader_u8(&r, &c, "c"));
    KG_ASSERT_OK(kg_reader_u16be(&r, &d, "d"));
    assert_int_equal(a, 0x0201);
    assert_int_equal(b, 0x03040506);
    assert_int_equal(c, 0x07);
    assert_int_equal(d, 0x0809);
    KG_ASSERT_OK(kg_reader_expect_end(&r, "test"));
}

static void reader_truncation_names_field_and_keeps_position(void **state)
{
    const uint8_t data[] = {0xaa, 0xbb, 0xcc};
    kg_reader r;
    kg_reader_init(&r, data, sizeof(data));
    uint32_t v;
    KG_ASSERT_ERR(kg_reader_u32le(&r, &v, "version"), KG_ERR_TRUNCATED,
                  "truncated reading 'version' (need 4, have 3)");
    assert_int_equal(r.pos, 0);
    kg_reader sub;
    KG_ASSERT_ERR(kg_reader_sub(&r, &sub, SIZE_MAX, "body"), KG_ERR_TRUNCATED, "'body'");
    KG_ASSERT_OK(kg_reader_skip(&r, 2, "x"));
    KG_ASSERT_ERR(kg_reader_expect_end(&r, "quote"), KG_ERR_INPUT, "1 trailing bytes after quote");
}

static void reader_sub_is_confined(void **state)
{
    const uint8_t data[] = {1, 2, 3, 4};
    kg_reader r, sub;
    kg_reader_init(&r, data, sizeof(data));
    KG_ASSERT_OK(kg_reader_sub(&r, &sub, 2, "sub"));
    uint8_t out[3];
    KG_ASSERT_ERR(kg_reader_read(&sub, out, 3, "x"), KG_ERR_TRUNCATED, "need 3, have 2");
    assert_int_equal(kg_reader_remaining(&r), 2);
}

static void buf_respects_cap(void **state)
{
    kg_buf b;
    kg_buf_init(&b, 8);
    KG_ASSERT_OK(kg_buf_append(&b, "12345678", 8));
    KG_ASSERT_ERR(kg_buf_append_u8(&b, 9), KG_ERR_TOO_LARGE, "cap of 8");
    assert_int_equal(b.len, 8);
    KG_ASSERT_ERR(kg_buf_append(&b, "x", SIZE_MAX), KG_ERR_TOO_LARGE, "cap");
    kg_buf_free(&b);
    kg_buf_free(&b); /* idempotent */
    kg_buf_init(&b, 1024);
    KG_ASSERT_OK(kg_buf_printf(&b, "%s-%d", "ab", 42));
    KG_ASSERT_OK(kg_buf_append_u64be(&b, 0x0102030405060708ULL));
    KG_ASSERT_OK(kg_buf_append_u32le(&b, 0x0a0b0c0d));
    kg_test_assert_hex(b.data, b.len, "61622d343201020304050607080d0c0b0a");
    kg_buf_free(&b);
}

static void hex_round_trip_and_rejects(void **state)
{
    uint8_t out[4];
    size_t n;
    KG_ASSERT_OK(kg_hex_decode(out, sizeof(out), &n, "0xDEADbeef", 10));
    assert_int_equal(n, 4);
    kg_test_assert_hex(out, 4, "deadbeef");
    KG_ASSERT_ERR(kg_hex_decode(out, sizeof(out), &n, "abc", 3), KG_ERR_INPUT, "odd length");
    KG_ASSERT_ERR(kg_hex_decode(out, sizeof(out), &n, "zz", 2), KG_ERR_INPUT, "offset 0");
    KG_ASSERT_ERR(kg_hex_decode(out, sizeof(out), &n, "0011223344", 10), KG_ERR_TOO_LARGE,
                  "5 bytes, max 4");
    KG_ASSERT_ERR(kg_hex_decode_exact(out, 4, "001122"), KG_ERR_INPUT, "expected 8 hex");
    char small[4];
    KG_ASSERT_ERR(kg_hex_encode(small, sizeof(small), out, 2), KG_ERR_USAGE, "too small");
}

static kg_result inner(void)
{
    KG_BAIL(KG_ERR_VERIFY, "signature mismatch");
}
static kg_result outer(void)
{
    KG_GUARD_CTX(inner(), "checking quote");
    return KG_OK;
}

static void error_chain_reads_outside_in(void **state)
{
    KG_ASSERT_ERR(outer(), KG_ERR_VERIFY, "checking quote: signature mismatch");
    assert_non_null(strstr(kg_error_site(), "bytes_test.c:"));
    kg_error_clear();
    assert_string_equal(kg_error_message(), "");

    /* A new error may be described with the one it replaces (the record is formatted aside:
     * this once produced "outer: outer: ..." garbage in a KMS reply). */
    (void)kg_error_set(KG_ERR_IO, __FILE__, __LINE__, "database is locked");
    (void)kg_error_set(KG_ERR_UNAVAILABLE, __FILE__, __LINE__, "record store: %s; nothing",
                       kg_error_message());
    assert_string_equal(kg_error_message(), "record store: database is locked; nothing");
    assert_int_equal(kg_error_code(), KG_ERR_UNAVAILABLE);
    assert_int_equal(kg_err_http_status(KG_ERR_UNAVAILABLE), 503);
    assert_int_equal(kg_err_http_status(KG_ERR_DENIED), 403);
    assert_int_equal(kg_err_http_status(KG_ERR_INPUT), 400);
    kg_error_clear();
}

/* Hostile text: terminal escapes, newlines, C1 controls and broken UTF-8 become visible escapes;
 * valid UTF-8 is kept as it is. */
static void text_escape_makes_hostile_text_inert(void **state)
{
    (void)state;
    char out[128];
    const char evil[] =
        "ok\x1b[2J\nforged line\x7f \xc2\x9b \xff\xfe \xc3\xa9t\xc3\xa9 \xed\xa0\x80";
    kg_text_escape(out, sizeof(out), evil, sizeof(evil) - 1);
    assert_string_equal(out, "ok\\x1b[2J\\x0aforged line\\x7f \\xc2\\x9b \\xff\\xfe "
                             "\xc3\xa9t\xc3\xa9 \\xed\\xa0\\x80");
    /* never past the buffer, always terminated, never half an escape */
    char tiny[6];
    assert_int_equal(kg_text_escape(tiny, sizeof(tiny),
                                    "ab\x01"
                                    "cd",
                                    5),
                     2);
    assert_string_equal(tiny, "ab");
    assert_int_equal(kg_text_escape(tiny, sizeof(tiny), "\xc3\xa9\xc3\xa9\xc3\xa9", 6), 4);
}

static void ct_equal_and_memzero(void **state)
{
    uint8_t a[16], b[16];
    memset(a, 7, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(kg_ct_equal(a, b, sizeof(a)));
    b[15] ^= 1;
    assert_false(kg_ct_equal(a, b, sizeof(a)));
    kg_memzero(a, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++)
        assert_int_equal(a[i], 0);
    kg_memzero(NULL, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_reads_little_and_big_endian),
        cmocka_unit_test(text_escape_makes_hostile_text_inert),
        cmocka_unit_test(reader_truncation_names_field_and_keeps_position),
        cmocka_unit_test(reader_sub_is_confined),
        cmocka_unit_test(buf_respects_cap),
        cmocka_unit_test(hex_round_trip_and_rejects),
        cmocka_unit_test(error_chain_reads_outside_in),
        cmocka_unit_test(ct_equal_and_memzero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
