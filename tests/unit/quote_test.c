/* quote_test.c - the DCAP quote parser on the real vectors: fields, offsets, every truncation. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/quote.h"

static void load_quote(kg_buf *out, const char *rel)
{
    kg_buf raw;
    kg_test_read_vector(&raw, rel);
    kg_buf_init(out, KG_MAX_QUOTE_LEN);
    KG_ASSERT_OK(kg_buf_reserve(out, KG_MAX_QUOTE_LEN));
    KG_ASSERT_OK(kg_quote_decode_input(out->data, KG_MAX_QUOTE_LEN, &out->len, raw.data, raw.len));
    kg_buf_free(&raw);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* TDX v4: the fields sit at the offsets of Intel's layout (REPORTDATA at 568, docs/protocol.md
 * 4). */
static void tdx_v4_fields_at_intel_offsets(void **state)
{
    kg_buf b;
    kg_quote q;
    load_quote(&b, "dcap/tdx_quote");
    KG_ASSERT_OK(kg_quote_parse(&q, b.data, b.len));
    assert_int_equal(q.header.version, 4);
    assert_int_equal(q.header.tee_type, KG_TEE_TYPE_TDX);
    assert_int_equal(q.body_type, KG_BODY_TD10);
    assert_memory_equal(q.td.tee_tcb_svn, b.data + 48, 16);
    assert_memory_equal(q.td.mr_seam, b.data + 64, 48);
    assert_memory_equal(q.td.td_attributes, b.data + 48 + 120, 8);
    assert_memory_equal(q.td.xfam, b.data + 48 + 128, 8);
    assert_memory_equal(q.td.mrtd, b.data + 48 + 136, 48);
    assert_memory_equal(q.td.mr_config_id, b.data + 48 + 184, 48);
    assert_memory_equal(q.td.rtmr[0], b.data + 48 + 328, 48);
    assert_memory_equal(q.td.rtmr[3], b.data + 48 + 472, 48);
    assert_memory_equal(q.td.report_data, b.data + 568, 64);
    assert_int_equal(q.signed_len, 632);
    assert_ptr_equal(q.signed_data, b.data);
    assert_memory_equal(q.signature, b.data + 636, 64);
    assert_memory_equal(q.attestation_key, b.data + 700, 64);
    /* type 6 certification data: u16 type at 764, u32 size at 766, QE report at 770 */
    assert_ptr_equal(q.qe_report_raw, b.data + 770);
    assert_int_equal(q.qe_auth_data_len, 32);
    assert_true(q.pck_chain_len > 1000);
    assert_memory_equal(q.pck_chain, "-----BEGIN CERTIFICATE-----", 27);
    /* the signature data ends exactly where the PCK chain ends */
    assert_int_equal((size_t)(q.pck_chain - b.data) + q.pck_chain_len, 636 + le32(b.data + 632));
    kg_buf_free(&b);
}

static void sgx_v3_fields(void **state)
{
    kg_buf b;
    kg_quote q;
    load_quote(&b, "dcap/sgx_quote");
    KG_ASSERT_OK(kg_quote_parse(&q, b.data, b.len));
    assert_int_equal(q.header.version, 3);
    assert_int_equal(q.header.tee_type, KG_TEE_TYPE_SGX);
    assert_int_equal(q.body_type, KG_BODY_SGX);
    assert_memory_equal(q.sgx.mr_enclave, b.data + 48 + 64, 32);
    assert_memory_equal(q.sgx.mr_signer, b.data + 48 + 128, 32);
    assert_memory_equal(q.sgx.report_data, b.data + 48 + 320, 64);
    assert_memory_equal(q.sgx.report_data, "Hello, world!", 13);
    assert_int_equal(q.signed_len, 432);
    assert_ptr_equal(q.qe_report_raw, b.data + 436 + 128);
    kg_buf_free(&b);
}

/* The tappd quote comes as hex text and parses to the same fields as its binary. */
static void hex_input_is_decoded(void **state)
{
    kg_buf raw, b;
    kg_quote q;
    kg_test_read_vector(&raw, "dcap/quote-from-tappd.hex");
    load_quote(&b, "dcap/quote-from-tappd.hex");
    assert_int_equal(b.len * 2, strlen((const char *)raw.data) - (raw.data[raw.len - 1] == '\n'));
    KG_ASSERT_OK(kg_quote_parse(&q, b.data, b.len));
    assert_int_equal(q.header.version, 4);
    assert_memory_equal(q.td.report_data, b.data + 568, 64);
    kg_buf_free(&raw);
    kg_buf_free(&b);
}

/* Every proper prefix of a quote fails (the padding rule never lets a cut quote pass), and the
 * output is zeroed. */
static void every_truncation_fails(void **state)
{
    const char *vectors[] = {"dcap/tdx_quote", "dcap/sgx_quote"};
    for (size_t v = 0; v < 2; v++) {
        kg_buf b;
        kg_quote q;
        load_quote(&b, vectors[v]);
        KG_ASSERT_OK(kg_quote_parse(&q, b.data, b.len));
        size_t end = (size_t)(q.pck_chain - b.data) + q.pck_chain_len;
        for (size_t n = 0; n < end; n++) {
            kg_error_clear();
            memset(&q, 0xa5, sizeof(q));
            if (kg_ok(kg_quote_parse(&q, b.data, n)))
                fail_msg("%s: prefix of %zu bytes parsed", vectors[v], n);
            assert_true(kg_error_code() == KG_ERR_TRUNCATED || kg_error_code() == KG_ERR_INPUT);
            assert_int_equal(q.header.version, 0);
        }
        kg_buf_free(&b);
    }
}

static void set_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void bad_header_and_lengths(void **state)
{
    kg_buf b;
    kg_quote q;
    load_quote(&b, "dcap/tdx_quote");
    uint8_t *d = b.data;

    d[0] = 6;
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_INPUT, "unsupported quote version 6");
    d[0] = 3;
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_INPUT, "quote version 3 with tee_type");
    d[0] = 4;
    d[2] = 3;
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_INPUT, "unsupported attestation key type 3");
    d[2] = 2;
    set_le32(d + 632, KG_MAX_QUOTE_SIG_DATA_LEN + 1);
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_TOO_LARGE, "KG_MAX_QUOTE_SIG_DATA_LEN");
    set_le32(d + 632, 0xffffffffu);
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_TOO_LARGE, "signature data length");
    set_le32(d + 632, 4300);
    d[764] = 5; /* certification data type 5 where 6 is required */
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_INPUT, "certification data type 5");
    d[764] = 6;
    KG_ASSERT_OK(kg_quote_parse(&q, d, b.len));
    /* QE auth data length beyond what remains */
    size_t auth_off = 770 + 384 + 64;
    d[auth_off] = 0xff;
    d[auth_off + 1] = 0x0f;
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_TRUNCATED, "qe_auth_data");
    d[auth_off + 1] = 0xff;
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_TOO_LARGE, "KG_MAX_QE_AUTH_DATA_LEN");
    d[auth_off] = 32;
    d[auth_off + 1] = 0;
    KG_ASSERT_OK(kg_quote_parse(&q, d, b.len));
    /* a non-zero byte in the padding after the quote */
    d[b.len - 1] = 1;
    KG_ASSERT_ERR(kg_quote_parse(&q, d, b.len), KG_ERR_INPUT, "non-zero byte at offset");
    d[b.len - 1] = 0;
    /* oversized input */
    KG_ASSERT_ERR(kg_quote_parse(&q, d, KG_MAX_QUOTE_LEN + 1), KG_ERR_TOO_LARGE,
                  "KG_MAX_QUOTE_LEN");
    kg_buf_free(&b);
}

/* A v5 quote built from the v4 vector (body descriptor inserted): TD 1.0 and 1.5 bodies. */
static void v5_bodies(void **state)
{
    kg_buf b;
    kg_quote q;
    load_quote(&b, "dcap/tdx_quote");
    size_t sig_len = le32(b.data + 632);
    uint8_t *v5 = calloc(1, b.len + 6 + 64);
    memcpy(v5, b.data, 48);
    v5[0] = 5;
    v5[48] = 2; /* body type TD 1.0 */
    set_le32(v5 + 50, 584);
    memcpy(v5 + 54, b.data + 48, 584 + 4 + sig_len);
    KG_ASSERT_OK(kg_quote_parse(&q, v5, 54 + 584 + 4 + sig_len));
    assert_int_equal(q.body_type, KG_BODY_TD10);
    assert_int_equal(q.signed_len, 638);
    assert_memory_equal(q.td.report_data, b.data + 568, 64);
    /* the same as TD 1.5: 64 more body bytes */
    v5[48] = 3;
    set_le32(v5 + 50, 648);
    memmove(v5 + 54 + 648, b.data + 632, 4 + sig_len);
    memset(v5 + 54 + 584, 0x11, 16);
    memset(v5 + 54 + 600, 0, 48);
    KG_ASSERT_OK(kg_quote_parse(&q, v5, 54 + 648 + 4 + sig_len));
    assert_int_equal(q.body_type, KG_BODY_TD15);
    assert_int_equal(q.td.tee_tcb_svn2[0], 0x11);
    assert_int_equal(q.signed_len, 702);
    /* a body size that does not fit the body type */
    set_le32(v5 + 50, 584);
    KG_ASSERT_ERR(kg_quote_parse(&q, v5, 54 + 648 + 4 + sig_len), KG_ERR_INPUT,
                  "body_size 584 for body_type 3");
    v5[48] = 9;
    KG_ASSERT_ERR(kg_quote_parse(&q, v5, 54 + 648 + 4 + sig_len), KG_ERR_INPUT,
                  "unsupported quote v5 body_type 9");
    free(v5);
    kg_buf_free(&b);
}

static void decode_input_rejects_bad_hex(void **state)
{
    uint8_t out[16];
    size_t n;
    KG_ASSERT_OK(kg_quote_decode_input(out, sizeof(out), &n, (const uint8_t *)" 0x0a0B\n", 8));
    assert_int_equal(n, 2);
    assert_int_equal(out[1], 0x0b);
    KG_ASSERT_ERR(kg_quote_decode_input(out, sizeof(out), &n, (const uint8_t *)"abc", 3),
                  KG_ERR_INPUT, "quote hex: odd number of digits (3)");
    /* line-wrapped hex (xxd -p) */
    KG_ASSERT_OK(kg_quote_decode_input(out, sizeof(out), &n, (const uint8_t *)"0a0b\n0c\r\n", 8));
    assert_int_equal(n, 3);
    assert_int_equal(out[2], 0x0c);
    KG_ASSERT_ERR(kg_quote_decode_input(out, 2, &n, (const uint8_t *)"0a0b0c", 6), KG_ERR_TOO_LARGE,
                  "quote of 3 bytes exceeds 2");
    /* binary (not all hex digits) is taken as is */
    KG_ASSERT_OK(kg_quote_decode_input(out, sizeof(out), &n, (const uint8_t *)"\x04\x00zz", 4));
    assert_int_equal(n, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tdx_v4_fields_at_intel_offsets), cmocka_unit_test(sgx_v3_fields),
        cmocka_unit_test(hex_input_is_decoded),           cmocka_unit_test(every_truncation_fails),
        cmocka_unit_test(bad_header_and_lengths),         cmocka_unit_test(v5_bodies),
        cmocka_unit_test(decode_input_rejects_bad_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
