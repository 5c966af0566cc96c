/* dcap_test.c - DCAP verification on the real vectors: expected verdicts, pinned root, time
 * windows, wrong roots, tampered collateral, and single-byte corruption of every region. */
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keygate/hash.h"
#include "keygate/quote.h"
#include "quote/dcap_internal.h"

#define AT 1751328000ull /* 2025-07-01T00:00:00Z, tests/vectors/dcap/README.md */

typedef struct vec {
    kg_buf quote;
    kg_buf coll;
} vec;

static void load(vec *v, const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "dcap/%s_quote", name);
    kg_test_read_vector(&v->quote, path);
    snprintf(path, sizeof(path), "dcap/%s_quote_collateral.json", name);
    kg_test_read_vector(&v->coll, path);
}

static void unload(vec *v)
{
    kg_buf_free(&v->quote);
    kg_buf_free(&v->coll);
}

static kg_result verify_with(kg_dcap_verifier *dv, kg_dcap_report *r, const uint8_t *q, size_t ql,
                             const char *c, size_t cl, uint64_t at)
{
    return kg_dcap_verify(dv, r, q, ql, c, cl, at);
}

static kg_dcap_verifier *intel(bool cache)
{
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, NULL, 0));
    kg_dcap_verifier_set_cache(v, cache);
    return v;
}

static void pinned_root_is_intels(void **state)
{
    uint8_t fp[KG_SHA256_LEN];
    KG_ASSERT_OK(kg_sha256(fp, kg_intel_sgx_root_ca_der, kg_intel_sgx_root_ca_der_len));
    kg_test_assert_hex(fp, sizeof(fp),
                       "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
}

static void tdx_vector_up_to_date(void **state)
{
    vec v;
    load(&v, "tdx");
    for (int cache = 0; cache < 2; cache++) {
        kg_dcap_verifier *dv = intel(cache);
        kg_dcap_report *r = calloc(1, sizeof(*r));
        for (int round = 0; round < 2; round++) { /* second round: warm caches */
            KG_ASSERT_OK(
                verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, AT));
            assert_string_equal(r->status, "UpToDate");
            assert_int_equal(r->n_advisory_ids, 0);
            assert_int_equal(r->quote.header.tee_type, KG_TEE_TYPE_TDX);
            kg_test_assert_hex(r->fmspc, 6, "b0c06f000000");
            assert_true(r->has_ppid);
            assert_true(r->valid_until >= AT);
            assert_memory_equal(r->quote.td.report_data, v.quote.data + 568, 64);
        }
        free(r);
        kg_dcap_verifier_free(dv);
    }
    unload(&v);
}

static void sgx_vector_configuration_and_sw_hardening(void **state)
{
    vec v;
    load(&v, "sgx");
    for (int cache = 0; cache < 2; cache++) {
        kg_dcap_verifier *dv = intel(cache);
        kg_dcap_report *r = calloc(1, sizeof(*r));
        for (int round = 0; round < 2; round++) {
            KG_ASSERT_OK(
                verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, AT));
            assert_string_equal(r->status, "ConfigurationAndSWHardeningNeeded");
            assert_int_equal(r->n_advisory_ids, 2);
            assert_string_equal(r->advisory_ids[0], "INTEL-SA-00289");
            assert_string_equal(r->advisory_ids[1], "INTEL-SA-00615");
            assert_int_equal(r->quote.header.tee_type, KG_TEE_TYPE_SGX);
        }
        free(r);
        kg_dcap_verifier_free(dv);
    }
    unload(&v);
}

/* Outside the collateral's windows: before the newest issue date, after the earliest expiry. */
static void wrong_times_fail(void **state)
{
    vec v;
    load(&v, "tdx");
    kg_dcap_verifier *dv = intel(true);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_OK(
        verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, AT));
    uint64_t until = r->valid_until;
    /* the last second of validity passes (from cache), the next fails */
    KG_ASSERT_OK(
        verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, until));
    KG_ASSERT_ERR(
        verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, until + 1),
        KG_ERR_EXPIRED, "expired");
    assert_int_equal(r->status[0], 0); /* zeroed on failure */
    /* 2025-06-19T10:00:00Z: before the PCK CRL's thisUpdate */
    KG_ASSERT_ERR(
        verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, 1750327200),
        KG_ERR_EXPIRED, "not yet valid");
    KG_ASSERT_ERR(
        verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, 2000000000),
        KG_ERR_EXPIRED, "collateral: ");
    KG_ASSERT_ERR(verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, 0),
                  KG_ERR_EXPIRED, "not yet valid");
    free(r);
    kg_dcap_verifier_free(dv);
    unload(&v);
}

/* kg_dcap_verify_parsed on kg_quote_parse's output (what RA-TLS does: it checks REPORTDATA
 * before fetching collateral) reaches the same report as kg_dcap_verify on the bytes, whether the
 * parsed quote is the report's own or another, and fails the same way. */
static void parsed_quote_same_verdict(void **state)
{
    vec v;
    load(&v, "sgx");
    for (int cache = 0; cache < 2; cache++) {
        kg_dcap_verifier *dv = intel(cache);
        kg_dcap_report *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
        kg_quote *q = calloc(1, sizeof(*q));
        KG_ASSERT_OK(
            kg_dcap_verify(dv, a, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, AT));
        KG_ASSERT_OK(kg_quote_parse(q, v.quote.data, v.quote.len));
        KG_ASSERT_OK(kg_dcap_verify_parsed(dv, b, q, (char *)v.coll.data, v.coll.len, AT));
        assert_memory_equal(a, b, sizeof(*a));
        memset(b, 0, sizeof(*b));
        KG_ASSERT_OK(kg_quote_parse(&b->quote, v.quote.data, v.quote.len));
        KG_ASSERT_OK(kg_dcap_verify_parsed(dv, b, &b->quote, (char *)v.coll.data, v.coll.len, AT));
        assert_memory_equal(a, b, sizeof(*a));
        assert_int_equal(b->n_advisory_ids, 2);
        KG_ASSERT_ERR(kg_dcap_verify_parsed(dv, b, q, (char *)v.coll.data, v.coll.len, 0),
                      KG_ERR_EXPIRED, "not yet valid");
        assert_int_equal(b->status[0], 0); /* zeroed on failure */
        KG_ASSERT_ERR(kg_dcap_verify_parsed(dv, b, NULL, (char *)v.coll.data, v.coll.len, AT),
                      KG_ERR_USAGE, "NULL");
        free(q);
        free(a);
        free(b);
        kg_dcap_verifier_free(dv);
    }
    unload(&v);
}

/* A self-signed P-256 root that is not Intel's. */
static void make_root(kg_buf *der)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -100L * 86400 * 365);
    X509_gmtime_adj(X509_getm_notAfter(x), 100L * 86400 * 365);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Not Intel Root", -1,
                               -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    uint8_t *p = NULL;
    int len = i2d_X509(x, &p);
    assert_true(len > 0);
    kg_buf_init(der, 65536);
    KG_ASSERT_OK(kg_buf_append(der, p, (size_t)len));
    OPENSSL_free(p);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void wrong_root_fails(void **state)
{
    vec v;
    load(&v, "sgx");
    kg_buf root;
    make_root(&root);
    kg_dcap_verifier *dv = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&dv, root.data, root.len));
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_ERR(
        verify_with(dv, r, v.quote.data, v.quote.len, (char *)v.coll.data, v.coll.len, AT),
        KG_ERR_VERIFY, "root_ca_crl: issued by 'Intel SGX Root CA', expected");
    kg_dcap_verifier_free(dv);
    /* garbage and non-self-signed roots are refused up front */
    KG_ASSERT_ERR(kg_dcap_verifier_new(&dv, root.data, root.len - 1), KG_ERR_INPUT,
                  "root CA: malformed DER");
    free(r);
    kg_buf_free(&root);
    unload(&v);
}

typedef struct worker {
    kg_dcap_verifier *dv;
    vec *v;
    const char *status;
    int failures;
} worker;

static void *verify_loop(void *arg)
{
    worker *w = arg;
    kg_dcap_report *r = calloc(1, sizeof(*r));
    for (int i = 0; i < 40 && r; i++) {
        /* every fourth round at a time outside the window: failures and successes interleave */
        uint64_t at = i % 4 == 3 ? AT + 90ull * 86400 : AT;
        kg_result rc = kg_dcap_verify(w->dv, r, w->v->quote.data, w->v->quote.len,
                                      (char *)w->v->coll.data, w->v->coll.len, at);
        bool ok = kg_ok(rc) && strcmp(r->status, w->status) == 0;
        if (ok != (i % 4 != 3))
            w->failures++;
    }
    free(r);
    return NULL;
}

/* One verifier shared by threads verifying both vectors (the KMS's worker pool). */
static void shared_verifier_is_thread_safe(void **state)
{
    vec tdx, sgx;
    load(&tdx, "tdx");
    load(&sgx, "sgx");
    kg_dcap_verifier *dv = intel(true);
    worker w[4] = {{dv, &tdx, "UpToDate", 0},
                   {dv, &sgx, "ConfigurationAndSWHardeningNeeded", 0},
                   {dv, &tdx, "UpToDate", 0},
                   {dv, &sgx, "ConfigurationAndSWHardeningNeeded", 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, verify_loop, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    kg_dcap_verifier_free(dv);
    unload(&tdx);
    unload(&sgx);
}

/* The labels of the ECDSA verifications one call performs, through the verifier's hook. */
typedef struct ecdsa_log {
    size_t n;
    char what[32][160];
} ecdsa_log;

static void log_ecdsa(void *arg, const char *what)
{
    ecdsa_log *l = arg;
    assert_true(l->n < 32);
    snprintf(l->what[l->n++], sizeof(l->what[0]), "%s", what);
}

static void verify_logged(kg_dcap_verifier *dv, const vec *v, ecdsa_log *l)
{
    kg_dcap_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    memset(l, 0, sizeof(*l));
    kg_dcap_ecdsa_hook = log_ecdsa;
    kg_dcap_ecdsa_hook_arg = l;
    kg_result rc =
        verify_with(dv, r, v->quote.data, v->quote.len, (char *)v->coll.data, v->coll.len, AT);
    kg_dcap_ecdsa_hook = NULL;
    kg_dcap_ecdsa_hook_arg = NULL;
    KG_ASSERT_OK(rc);
    free(r);
}

static void assert_log(const ecdsa_log *l, const char *const *want, size_t n)
{
    for (size_t i = 0; i < l->n || i < n; i++)
        if (i >= l->n || i >= n || strcmp(l->what[i], want[i]) != 0)
            fail_msg("ECDSA verification %zu: got '%s', want '%s'", i,
                     i < l->n ? l->what[i] : "(none)", i < n ? want[i] : "(none)");
}

/* Cold mode (caches off) verifies every signature that carries information on every call, each
 * exactly once, also once the parsed objects are reused: the nine below, and nothing twice (the
 * root's self-signature proves nothing about a pinned root; the Platform CA and the TCB signing
 * certificate appear in two chains each). Warm mode then costs one verification: the quote's. */
static void cold_call_verifies_each_signature_once(void **state)
{
    struct {
        const char *name, *pck_ca;
    } platforms[] = {{"tdx", "Intel SGX PCK Platform CA"}, {"sgx", "Intel SGX PCK Processor CA"}};
    for (size_t k = 0; k < 2; k++) {
        vec v;
        load(&v, platforms[k].name);
        char ca_chain[160], pck_leaf[160];
        snprintf(ca_chain, sizeof(ca_chain), "pck_crl_issuer_chain: certificate '%s'",
                 platforms[k].pck_ca);
        snprintf(pck_leaf, sizeof(pck_leaf),
                 "PCK certificate chain: certificate 'Intel SGX PCK Certificate'");
        const char *const want[] = {
            "root_ca_crl",                                                /* by the root */
            ca_chain,                                                     /* by the root */
            "pck_crl",                                                    /* by the PCK CA */
            "tcb_info_issuer_chain: certificate 'Intel SGX TCB Signing'", /* by the root */
            "tcb_info",    /* by the TCB signing certificate */
            "qe_identity", /* by the TCB signing certificate */
            pck_leaf,      /* by the PCK CA */
            "QE report",   /* by the PCK key */
            "quote",       /* by the attestation key */
        };
        const size_t n = sizeof(want) / sizeof(want[0]);
        kg_dcap_verifier *cold = intel(false);
        ecdsa_log l;
        for (int call = 0; call < 3; call++) {
            verify_logged(cold, &v, &l);
            assert_log(&l, want, n);
        }
        kg_dcap_verifier_free(cold);

        kg_dcap_verifier *warm = intel(true);
        verify_logged(warm, &v, &l);
        assert_log(&l, want, n);
        verify_logged(warm, &v, &l);
        assert_log(&l, (const char *const[]){"quote"}, 1);
        kg_dcap_verifier_free(warm);
        unload(&v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinned_root_is_intels),
        cmocka_unit_test(tdx_vector_up_to_date),
        cmocka_unit_test(sgx_vector_configuration_and_sw_hardening),
        cmocka_unit_test(wrong_times_fail),
        cmocka_unit_test(parsed_quote_same_verdict),
        cmocka_unit_test(wrong_root_fails),
        cmocka_unit_test(shared_verifier_is_thread_safe),
        cmocka_unit_test(cold_call_verifies_each_signature_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
