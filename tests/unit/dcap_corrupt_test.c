/* dcap_corrupt_test.c - systematic corruption of the real vectors: a single-byte change at every
 * offset of each quote, and across every collateral part, and every truncation, must fail. */
#include "test_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/quote.h"
#include "quote/dcap_internal.h"

#define AT 1751328000ull

typedef struct vec {
    kg_buf quote, coll;
} vec;

static void load(vec *v, const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "dcap/%s_quote", name);
    kg_test_read_vector(&v->quote, path);
    snprintf(path, sizeof(path), "dcap/%s_quote_collateral.json", name);
    kg_test_read_vector(&v->coll, path);
}

/* Verifies and reports whether it passed; a pass must carry a full verdict, a failure a zeroed
 * report and a recorded error. */
static bool passes(kg_dcap_verifier *dv, kg_dcap_report *r, const uint8_t *q, size_t ql,
                   const char *c, size_t cl)
{
    kg_error_clear();
    if (kg_ok(kg_dcap_verify(dv, r, q, ql, c, cl, AT))) {
        assert_true(r->status[0] != 0);
        return true;
    }
    assert_int_equal(r->status[0], 0);
    assert_int_equal(r->quote.header.version, 0);
    assert_true(kg_error_message()[0] != 0);
    assert_true(kg_error_code() != KG_ERR_USAGE && kg_error_code() != KG_ERR_INTERNAL);
    return false;
}

/* Every byte of the quote (header, body, signature, attestation key, QE report and its
 * signature, auth data, certification data and PEM chain, padding) changed by XOR 0x01 and by
 * XOR 0xff: each alone must make verification fail. */
static void quote_flips(const char *name, bool cold)
{
    vec v;
    load(&v, name);
    kg_dcap_verifier *dv = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&dv, NULL, 0));
    kg_dcap_verifier_set_cache(dv, !cold);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    assert_true(passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len));
    const uint8_t masks[] = {0x01, 0xff};
    /* cold: each flip costs the collateral's seven ECDSA checks first, so one mask at a prime
     * stride (every position class; signed_elements_fail_cold hits each signed element) keeps
     * the test within its time on a loaded machine */
    size_t checked = 0, n_masks = cold ? 1 : 2, stride = cold ? 7 : 1;
    for (size_t m = 0; m < n_masks; m++) {
        for (size_t i = 0; i < v.quote.len; i += stride) {
            v.quote.data[i] ^= masks[m];
            if (passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len))
                fail_msg("%s%s: quote byte %zu ^ 0x%02x still verifies", name,
                         cold ? " (cold)" : "", i, masks[m]);
            v.quote.data[i] ^= masks[m];
            checked++;
        }
    }
    assert_int_equal(checked, n_masks * ((v.quote.len + stride - 1) / stride));
    /* and the untouched quote still passes: the failures were the flips' */
    assert_true(passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len));
    free(r);
    kg_dcap_verifier_free(dv);
    kg_buf_free(&v.quote);
    kg_buf_free(&v.coll);
}

static void tdx_quote_every_byte(void **state)
{
    quote_flips("tdx", false);
}
static void sgx_quote_every_byte(void **state)
{
    quote_flips("sgx", false);
}
/* The same with the caches off: everything is verified again on every call while the parsed
 * certificates, CRLs and collateral are reused, so each flip must still be caught. */
static void tdx_quote_every_byte_cold(void **state)
{
    quote_flips("tdx", true);
}
static void sgx_quote_every_byte_cold(void **state)
{
    quote_flips("sgx", true);
}

/* The span of a string value in the raw collateral JSON ("key": "<span>"). */
static void value_span(const vec *v, const char *key, size_t *start, size_t *end)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *text = (const char *)v->coll.data;
    const char *k = strstr(text, pat);
    assert_non_null(k);
    const char *q = strchr(k + strlen(pat), '"');
    assert_non_null(q);
    *start = (size_t)(q + 1 - text);
    size_t i = *start;
    while (text[i] != '"') {
        if (text[i] == '\\')
            i++;
        i++;
    }
    *end = i;
}

/* A flip at every byte of the signed texts and signatures, and at a stride across the CRLs and
 * issuer chains (each a few KB; the stride is prime so every position class is hit). */
static void collateral_flips(const char *name, bool cold)
{
    vec v;
    load(&v, name);
    kg_dcap_verifier *dv = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&dv, NULL, 0));
    kg_dcap_verifier_set_cache(dv, !cold);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    struct {
        const char *key;
        size_t stride;
    } parts[] = {
        {"tcb_info", 1},
        {"tcb_info_signature", 1},
        {"qe_identity", 1},
        {"qe_identity_signature", 1},
        {"root_ca_crl", 1},
        {"pck_crl", 7},
        {"pck_crl_issuer_chain", 5},
        {"tcb_info_issuer_chain", 5},
        {"qe_identity_issuer_chain", 5},
    };
    for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
        size_t start, end, n = 0;
        value_span(&v, parts[p].key, &start, &end);
        assert_true(end > start + 60);
        size_t stride = parts[p].stride * (cold ? 3 : 1); /* cold: as for the quote */
        for (size_t i = start; i < end; i += stride, n++) {
            v.coll.data[i] ^= 0x01;
            if (passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len))
                fail_msg("%s%s: collateral '%s' byte %zu ^ 0x01 still verifies", name,
                         cold ? " (cold)" : "", parts[p].key, i - start);
            v.coll.data[i] ^= 0x01;
        }
        assert_true(n >= (end - start) / stride);
    }
    /* the structure around the values too: every byte outside them */
    for (size_t i = 0; i < v.coll.len; i++) {
        const char *t = (const char *)v.coll.data;
        if (t[i] != '{' && t[i] != '}' && t[i] != ':' && t[i] != ',' && t[i] != '"')
            continue;
        v.coll.data[i] ^= 0x01;
        if (passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len))
            fail_msg("%s%s: collateral JSON structure byte %zu ^ 0x01 still verifies", name,
                     cold ? " (cold)" : "", i);
        v.coll.data[i] ^= 0x01;
    }
    assert_true(passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len));
    free(r);
    kg_dcap_verifier_free(dv);
    kg_buf_free(&v.quote);
    kg_buf_free(&v.coll);
}

static void tdx_collateral_flips(void **state)
{
    collateral_flips("tdx", false);
}
static void sgx_collateral_flips(void **state)
{
    collateral_flips("sgx", false);
}
static void tdx_collateral_flips_cold(void **state)
{
    collateral_flips("tdx", true);
}
static void sgx_collateral_flips_cold(void **state)
{
    collateral_flips("sgx", true);
}

/* The offset of a base64 character near the end of the k-th (from 0) PEM certificate in
 * text[from..len): 20 characters before its END line, inside the signature's s value. Newlines
 * may be raw (a quote's chain) or JSON escapes (the collateral's chains). */
static size_t pem_sig_char(const uint8_t *text, size_t len, size_t from, int k)
{
    const char *end_line = "-----END CERTIFICATE-----";
    size_t at = from;
    for (int i = 0; i <= k; i++) {
        size_t n = strlen(end_line);
        while (at + n <= len && memcmp(text + at, end_line, n) != 0)
            at++;
        assert_true(at + n <= len);
        if (i < k)
            at += n;
    }
    size_t i = at, seen = 0;
    while (i-- > from) {
        if (text[i] == '\n' || text[i] == '=' || text[i] == '-')
            continue;
        if (text[i] == 'n' && text[i - 1] == '\\') {
            i--;
            continue;
        }
        if (++seen == 20)
            return i;
    }
    fail_msg("no base64 before the END line");
    return 0;
}

/* A change in text[i] that stays in its alphabet (base64 or hex): it reaches the verifier. */
static void swap_char(uint8_t *p)
{
    *p = *p == '1' ? '2' : '1';
}

/* The offset of byte `i` of a value in the raw collateral (i < 0: from its end). */
static size_t coll_at(const vec *v, const char *key, long i)
{
    size_t start, end;
    value_span(v, key, &start, &end);
    return i >= 0 ? start + (size_t)i : end - (size_t)-i;
}

/* The offset of the first letter or digit at or after byte `i` of a value (an escape or a
 * quotation mark changed would break the document around the signed text instead). */
static size_t coll_alnum(const vec *v, const char *key, long i)
{
    size_t at = coll_at(v, key, i);
    while (!isalnum(v->coll.data[at]))
        at++;
    return at;
}

/* Each signed element of a quote and its collateral, tampered alone, fails with that element's
 * check named, in cold mode after the intact input has verified (every parse is reused then,
 * and every signature is checked again) and in warm mode. */
static void signed_elements(const char *name, const char *pck_ca, bool cold)
{
    vec v;
    load(&v, name);
    kg_dcap_verifier *dv = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&dv, NULL, 0));
    kg_dcap_verifier_set_cache(dv, !cold);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    kg_quote q;
    KG_ASSERT_OK(kg_quote_parse(&q, v.quote.data, v.quote.len));
    size_t sig = q.signed_len + 4, report = (size_t)(q.qe_report_raw - v.quote.data);
    size_t auth = (size_t)(q.qe_auth_data - v.quote.data);
    size_t chain = (size_t)(q.pck_chain - v.quote.data);
    char ca_err[160];
    snprintf(ca_err, sizeof(ca_err), "certificate '%s': signature does not verify", pck_ca);
    const char *signing = "certificate 'Intel SGX TCB Signing': signature does not verify";
    struct {
        bool in_quote, swap; /* swap: a base64/hex character, else XOR 0x01 */
        size_t at;
        const char *what, *err;
    } cases[] = {
        {true, false, q.signed_len - 1, "quote body", "quote: signature does not verify"},
        {true, false, 10, "quote header", "quote: signature does not verify"},
        {true, false, sig + 10, "quote signature", "quote: signature does not verify"},
        {true, false, sig + 64 + 10, "attestation key", "does not bind the attestation key"},
        {true, false, report + 320, "QE report", "QE report: signature does not verify"},
        {true, false, report + 384 + 10, "QE report signature",
         "QE report: signature does not verify"},
        {true, false, auth, "QE auth data", "does not bind the attestation key"},
        {true, true, pem_sig_char(v.quote.data, v.quote.len, chain, 0), "PCK certificate",
         "certificate 'Intel SGX PCK Certificate': signature does not verify"},
        {true, true, pem_sig_char(v.quote.data, v.quote.len, chain, 1), "PCK CA in the quote",
         ca_err},
        {true, true, pem_sig_char(v.quote.data, v.quote.len, chain, 2), "root in the quote",
         "does not end in the trusted root CA"},
        {false, false, coll_alnum(&v, "tcb_info", 40), "tcb_info", "tcb_info: signature does not"},
        {false, true, coll_at(&v, "tcb_info_signature", 70), "tcb_info_signature",
         "tcb_info: signature does not verify"},
        {false, false, coll_alnum(&v, "qe_identity", 40), "qe_identity",
         "qe_identity: signature does not verify"},
        {false, true, coll_at(&v, "qe_identity_signature", 70), "qe_identity_signature",
         "qe_identity: signature does not verify"},
        {false, true, coll_at(&v, "root_ca_crl", -1), "root CA CRL signature",
         "root_ca_crl: signature does not verify"},
        {false, true, coll_at(&v, "pck_crl", -1), "PCK CRL signature",
         "pck_crl: signature does not verify"},
        {false, true,
         pem_sig_char(v.coll.data, v.coll.len, coll_at(&v, "pck_crl_issuer_chain", 0), 0),
         "PCK CA in pck_crl_issuer_chain", ca_err},
        {false, true,
         pem_sig_char(v.coll.data, v.coll.len, coll_at(&v, "tcb_info_issuer_chain", 0), 0),
         "TCB signing certificate in tcb_info_issuer_chain", signing},
        /* the same certificate again in the second chain: checked there too */
        {false, true,
         pem_sig_char(v.coll.data, v.coll.len, coll_at(&v, "qe_identity_issuer_chain", 0), 0),
         "TCB signing certificate in qe_identity_issuer_chain", signing},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *b = (cases[i].in_quote ? v.quote.data : v.coll.data) + cases[i].at;
        uint8_t saved = *b;
        assert_true(passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len));
        if (cases[i].swap)
            swap_char(b);
        else
            *b ^= 0x01;
        kg_error_clear();
        if (passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len))
            fail_msg("%s%s: tampered %s still verifies", name, cold ? " (cold)" : "",
                     cases[i].what);
        if (strstr(kg_error_message(), cases[i].err) == NULL)
            fail_msg("%s%s: tampered %s: '%s', want '%s'", name, cold ? " (cold)" : "",
                     cases[i].what, kg_error_message(), cases[i].err);
        *b = saved;
    }
    assert_true(passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len));
    free(r);
    kg_dcap_verifier_free(dv);
    kg_buf_free(&v.quote);
    kg_buf_free(&v.coll);
}

static void signed_elements_fail_cold(void **state)
{
    signed_elements("tdx", "Intel SGX PCK Platform CA", true);
    signed_elements("sgx", "Intel SGX PCK Processor CA", true);
}

static void signed_elements_fail_warm(void **state)
{
    signed_elements("tdx", "Intel SGX PCK Platform CA", false);
    signed_elements("sgx", "Intel SGX PCK Processor CA", false);
}

/* Every proper prefix of the collateral document, and of the quote with intact collateral. */
static void truncations_fail(void **state)
{
    vec v;
    load(&v, "tdx");
    kg_dcap_verifier *dv = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&dv, NULL, 0));
    kg_dcap_report *r = calloc(1, sizeof(*r));
    for (size_t n = 1; n < v.coll.len; n += 3)
        if (passes(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, n))
            fail_msg("collateral prefix of %zu bytes verifies", n);
    /* a quote cut anywhere up to the end of its signature data (the rest is zero padding) */
    size_t sig_end = 636 + ((size_t)v.quote.data[632] | (size_t)v.quote.data[633] << 8);
    for (size_t n = 0; n < sig_end; n++)
        if (passes(dv, r, v.quote.data, n, (char *)v.coll.data, v.coll.len))
            fail_msg("quote prefix of %zu bytes verifies", n);
    free(r);
    kg_dcap_verifier_free(dv);
    kg_buf_free(&v.quote);
    kg_buf_free(&v.coll);
}

/* The collateral of one platform does not verify another's quote. */
static void swapped_collateral_fails(void **state)
{
    vec tdx, sgx;
    load(&tdx, "tdx");
    load(&sgx, "sgx");
    kg_dcap_verifier *dv = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&dv, NULL, 0));
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_ERR(kg_dcap_verify(dv, r, tdx.quote.data, tdx.quote.len, (char *)sgx.coll.data,
                                 sgx.coll.len, AT),
                  KG_ERR_VERIFY, "PCK CRL issuer 'Intel SGX PCK Processor CA' does not match");
    KG_ASSERT_ERR(kg_dcap_verify(dv, r, sgx.quote.data, sgx.quote.len, (char *)tdx.coll.data,
                                 tdx.coll.len, AT),
                  KG_ERR_VERIFY, "PCK CRL issuer 'Intel SGX PCK Platform CA' does not match");
    free(r);
    kg_dcap_verifier_free(dv);
    kg_buf_free(&tdx.quote);
    kg_buf_free(&tdx.coll);
    kg_buf_free(&sgx.quote);
    kg_buf_free(&sgx.coll);
}

/* A collateral string of the maximum size with one control character at its end fails at once
 * (the envelope rescanned the rest of the string for each byte it took: quadratic, minutes of
 * CPU for 1 MB; found by fuzzing). */
static void long_string_with_control_character_fails_fast(void **state)
{
    size_t len = KG_MAX_COLLATERAL_LEN;
    char *doc = malloc(len);
    assert_non_null(doc);
    memset(doc, 'a', len);
    memcpy(doc, "{\"pck_crl\":\"", 12);
    memcpy(doc + len - 3, "\x01\"}", 3);
    kg_collateral_doc d;
    KG_ASSERT_ERR(kg_collateral_doc_parse(&d, doc, len), KG_ERR_INPUT,
                  "control character in string at offset 1048573");
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tdx_quote_every_byte),
        cmocka_unit_test(sgx_quote_every_byte),
        cmocka_unit_test(tdx_collateral_flips),
        cmocka_unit_test(sgx_collateral_flips),
        cmocka_unit_test(tdx_quote_every_byte_cold),
        cmocka_unit_test(sgx_quote_every_byte_cold),
        cmocka_unit_test(tdx_collateral_flips_cold),
        cmocka_unit_test(sgx_collateral_flips_cold),
        cmocka_unit_test(signed_elements_fail_cold),
        cmocka_unit_test(signed_elements_fail_warm),
        cmocka_unit_test(truncations_fail),
        cmocka_unit_test(swapped_collateral_fails),
        cmocka_unit_test(long_string_with_control_character_fails_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
