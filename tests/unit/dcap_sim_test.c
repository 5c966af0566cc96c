/* dcap_sim_test.c - verification policy on a simulated platform whose keys the test holds:
 * revoked and tampered CRLs, TCB status, debug TDs, wrong roots (the checks real vectors cannot
 * reach because only Intel can sign them). */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keygate/quote.h"
#include "keygate/sim.h"

typedef struct plat {
    char dir[64];
    kg_buf root, coll, quote;
    uint64_t now;
} plat;

static void plat_new(plat *p, const char *tcb_status)
{
    snprintf(p->dir, sizeof(p->dir), "/tmp/kg-dcap-sim-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/p", p->dir);
    p->now = (uint64_t)time(NULL);
    kg_sim_init_opts o = {.now = p->now, .validity_days = 30, .tcb_status = tcb_status};
    KG_ASSERT_OK(kg_sim_init(dir, &o));
    kg_buf_init(&p->root, 65536);
    kg_buf_init(&p->coll, KG_MAX_COLLATERAL_LEN);
    kg_buf_init(&p->quote, KG_MAX_QUOTE_LEN);
    KG_ASSERT_OK(kg_sim_root_ca_der(&p->root, dir));
    KG_ASSERT_OK(kg_sim_collateral(&p->coll, dir));
    uint8_t rtmr3[48] = {0}, rd[64];
    memset(rd, 0xab, sizeof(rd));
    KG_ASSERT_OK(kg_sim_quote(&p->quote, dir, rtmr3, rd));
}

static void plat_free(plat *p)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
    assert_int_equal(system(cmd), 0);
    kg_buf_free(&p->root);
    kg_buf_free(&p->coll);
    kg_buf_free(&p->quote);
}

static EVP_PKEY *load_key(const plat *p, const char *name)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/p/%s.key", p->dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

static X509 *load_cert(const plat *p, const char *name)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/p/%s.pem", p->dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static kg_result verify(const plat *p, kg_dcap_report *r, const kg_buf *coll, const kg_buf *quote,
                        uint64_t at)
{
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, p->root.data, p->root.len));
    kg_result rc = kg_dcap_verify(v, r, quote->data, quote->len, (const char *)coll->data,
                                  coll->len, at);
    kg_dcap_verifier_free(v);
    return rc;
}

/* A CRL named after `issuer`, signed by `key`, valid [now+from, now+until], revoking `revoked`
 * (may be NULL), as lowercase hex DER (caller frees). */
static char *make_crl(X509 *issuer, EVP_PKEY *key, X509 *revoked, long from, long until)
{
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, from);
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_free(t);
    t = ASN1_TIME_adj(NULL, time(NULL), 0, until);
    X509_CRL_set1_nextUpdate(crl, t);
    ASN1_TIME_free(t);
    if (revoked) {
        X509_REVOKED *rv = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(revoked));
        t = ASN1_TIME_adj(NULL, time(NULL), 0, from);
        X509_REVOKED_set_revocationDate(rv, t);
        ASN1_TIME_free(t);
        X509_CRL_add0_revoked(crl, rv);
    }
    X509_CRL_sort(crl);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    uint8_t *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    assert_true(n > 0);
    char *hex = malloc(2 * (size_t)n + 1);
    KG_ASSERT_OK(kg_hex_encode(hex, 2 * (size_t)n + 1, der, (size_t)n));
    OPENSSL_free(der);
    X509_CRL_free(crl);
    return hex;
}

/* The collateral with one string field replaced. */
static void with_field(kg_buf *out, const kg_buf *coll, const char *key, const char *value)
{
    json_t *o = json_loadb((const char *)coll->data, coll->len, 0, NULL);
    assert_non_null(o);
    json_object_set_new(o, key, json_string(value));
    char *s = json_dumps(o, JSON_COMPACT);
    kg_buf_init(out, KG_MAX_COLLATERAL_LEN);
    KG_ASSERT_OK(kg_buf_append(out, s, strlen(s)));
    free(s);
    json_decref(o);
}

static void sim_quote_verifies_only_under_its_root(void **state)
{
    plat p;
    plat_new(&p, NULL);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_OK(verify(&p, r, &p.coll, &p.quote, p.now + 60));
    assert_string_equal(r->status, "UpToDate");
    assert_int_equal(r->n_advisory_ids, 0);
    assert_true(r->has_ppid);
    kg_dcap_verifier *intel = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&intel, NULL, 0));
    KG_ASSERT_ERR(kg_dcap_verify(intel, r, p.quote.data, p.quote.len, (const char *)p.coll.data,
                                 p.coll.len, p.now + 60),
                  KG_ERR_VERIFY, "root_ca_crl: issued by");
    kg_dcap_verifier_free(intel);
    free(r);
    plat_free(&p);
}

static void out_of_date_platform_reports_status_and_advisories(void **state)
{
    plat p;
    plat_new(&p, "OutOfDate");
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_OK(verify(&p, r, &p.coll, &p.quote, p.now + 60));
    assert_string_equal(r->status, "OutOfDate");
    assert_int_equal(r->n_advisory_ids, 2);
    assert_string_equal(r->advisory_ids[0], "INTEL-SA-00106");
    assert_string_equal(r->advisory_ids[1], "INTEL-SA-00115");
    free(r);
    plat_free(&p);
}

static void revoked_and_tampered_crls(void **state)
{
    plat p;
    plat_new(&p, NULL);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    X509 *root = load_cert(&p, "root_ca"), *pca = load_cert(&p, "platform_ca"),
         *pck = load_cert(&p, "pck");
    EVP_PKEY *root_key = load_key(&p, "root_ca"), *pca_key = load_key(&p, "platform_ca"),
             *tcb_key = load_key(&p, "tcb_signing");
    kg_buf c;
    char *hex;

    /* the PCK certificate on the PCK CRL */
    hex = make_crl(pca, pca_key, pck, -3600, 86400);
    with_field(&c, &p.coll, "pck_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "PCK certificate chain: certificate 'keygate Simulated SGX PCK Certificate' is "
                  "revoked");
    kg_buf_free(&c);
    free(hex);
    /* a fresh, empty PCK CRL of our own passes (the test's CRLs are well formed) */
    hex = make_crl(pca, pca_key, NULL, -3600, 86400);
    with_field(&c, &p.coll, "pck_crl", hex);
    KG_ASSERT_OK(verify(&p, r, &c, &p.quote, p.now + 60));
    kg_buf_free(&c);
    free(hex);
    /* the Platform CA on the root CA CRL */
    hex = make_crl(root, root_key, pca, -3600, 86400);
    with_field(&c, &p.coll, "root_ca_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "pck_crl_issuer_chain: certificate 'keygate Simulated SGX PCK Platform CA' is "
                  "revoked");
    kg_buf_free(&c);
    free(hex);
    /* the root itself on its CRL */
    hex = make_crl(root, root_key, root, -3600, 86400);
    with_field(&c, &p.coll, "root_ca_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY, "root_ca_crl: certificate");
    kg_buf_free(&c);
    free(hex);
    /* a PCK CRL with the right issuer name signed by another key */
    hex = make_crl(pca, tcb_key, NULL, -3600, 86400);
    with_field(&c, &p.coll, "pck_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "pck_crl: signature does not verify");
    kg_buf_free(&c);
    free(hex);
    /* a root CRL signed by the Platform CA */
    hex = make_crl(root, pca_key, NULL, -3600, 86400);
    with_field(&c, &p.coll, "root_ca_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "root_ca_crl: signature does not verify");
    kg_buf_free(&c);
    free(hex);
    /* an expired PCK CRL, and one not yet valid */
    hex = make_crl(pca, pca_key, NULL, -7200, -3600);
    with_field(&c, &p.coll, "pck_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_EXPIRED, "pck_crl expired");
    kg_buf_free(&c);
    free(hex);
    hex = make_crl(pca, pca_key, NULL, 3600, 7200);
    with_field(&c, &p.coll, "pck_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_EXPIRED,
                  "pck_crl not yet valid");
    kg_buf_free(&c);
    free(hex);
    /* a PCK CRL issued by the root (wrong issuer for the PCK certificate) */
    hex = make_crl(root, root_key, NULL, -3600, 86400);
    with_field(&c, &p.coll, "pck_crl", hex);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY, "pck_crl: issued by");
    kg_buf_free(&c);
    free(hex);

    X509_free(root);
    X509_free(pca);
    X509_free(pck);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(pca_key);
    EVP_PKEY_free(tcb_key);
    free(r);
    plat_free(&p);
}

/* Re-signs a TDX v4 quote's signed region with the platform's attestation key. */
static void resign(const plat *p, kg_buf *quote)
{
    EVP_PKEY *ak = load_key(p, "attestation");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t der_len = sizeof(der);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ak), 1);
    assert_int_equal(EVP_DigestSign(md, der, &der_len, quote->data, 632), 1);
    const uint8_t *dp = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
    assert_non_null(s);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), quote->data + 636, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), quote->data + 668, 32);
    ECDSA_SIG_free(s);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(ak);
}

static void debug_and_misconfigured_tds_are_denied(void **state)
{
    plat p;
    plat_new(&p, NULL);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    const size_t td_attr = 48 + 120;
    /* re-signing an unchanged quote keeps it valid: the test's signatures are right */
    resign(&p, &p.quote);
    KG_ASSERT_OK(verify(&p, r, &p.coll, &p.quote, p.now + 60));
    p.quote.data[td_attr] |= 0x01;
    resign(&p, &p.quote);
    KG_ASSERT_ERR(verify(&p, r, &p.coll, &p.quote, p.now + 60), KG_ERR_DENIED,
                  "debug TD: TD_ATTRIBUTES.DEBUG is set");
    p.quote.data[td_attr] &= (uint8_t)~0x01;
    p.quote.data[td_attr + 3] &= (uint8_t)~0x10; /* SEPT_VE_DISABLE */
    resign(&p, &p.quote);
    KG_ASSERT_ERR(verify(&p, r, &p.coll, &p.quote, p.now + 60), KG_ERR_DENIED,
                  "SEPT_VE_DISABLE is not set");
    p.quote.data[td_attr + 3] |= 0x10;
    p.quote.data[td_attr + 5] |= 0x01; /* a reserved bit */
    resign(&p, &p.quote);
    KG_ASSERT_ERR(verify(&p, r, &p.coll, &p.quote, p.now + 60), KG_ERR_DENIED,
                  "TD_ATTRIBUTES: reserved bits set");
    free(r);
    plat_free(&p);
}

/* The collateral windows: the verdict holds until the earliest expiry, not a second longer. */
static void validity_window_is_the_earliest_expiry(void **state)
{
    plat p;
    plat_new(&p, NULL);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_OK(verify(&p, r, &p.coll, &p.quote, p.now + 60));
    uint64_t until = r->valid_until;
    assert_true(until > p.now + 60 && until <= p.now + 31ull * 86400);
    KG_ASSERT_OK(verify(&p, r, &p.coll, &p.quote, until));
    KG_ASSERT_ERR(verify(&p, r, &p.coll, &p.quote, until + 1), KG_ERR_EXPIRED, "expired");
    free(r);
    plat_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sim_quote_verifies_only_under_its_root),
        cmocka_unit_test(out_of_date_platform_reports_status_and_advisories),
        cmocka_unit_test(revoked_and_tampered_crls),
        cmocka_unit_test(debug_and_misconfigured_tds_are_denied),
        cmocka_unit_test(validity_window_is_the_earliest_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
