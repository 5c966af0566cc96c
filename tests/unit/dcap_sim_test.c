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
    kg_result rc =
        kg_dcap_verify(v, r, quote->data, quote->len, (const char *)coll->data, coll->len, at);
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

/* Before any collateral is fetched for a quote, its PCK chain must lead to the trusted root: a
 * stranger's quote (another root, a forged signature) costs the PCCS nothing. */
static void pck_chain_precheck_needs_the_trusted_root(void **state)
{
    (void)state;
    plat p;
    plat_new(&p, NULL);
    kg_dcap_verifier *sim = NULL, *intel = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&sim, p.root.data, p.root.len));
    KG_ASSERT_OK(kg_dcap_verifier_new(&intel, NULL, 0));
    kg_quote q;
    KG_ASSERT_OK(kg_quote_parse(&q, p.quote.data, p.quote.len));
    KG_ASSERT_OK(kg_dcap_pck_chain_precheck(sim, &q));
    KG_ASSERT_ERR(kg_dcap_pck_chain_precheck(intel, &q), KG_ERR_VERIFY,
                  "does not end in the trusted root CA");

    /* one base64 character of the leaf's signature changed: the chain no longer verifies */
    char *end = strstr((char *)p.quote.data + (q.pck_chain - p.quote.data), "-----END");
    assert_non_null(end);
    char *c = end - 10;
    *c = *c == 'A' ? 'B' : 'A';
    KG_ASSERT_OK(kg_quote_parse(&q, p.quote.data, p.quote.len));
    assert_true(kg_failed(kg_dcap_pck_chain_precheck(sim, &q)));
    kg_dcap_verifier_free(sim);
    kg_dcap_verifier_free(intel);
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
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "root_ca_crl: certificate");
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
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_EXPIRED, "pck_crl not yet valid");
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

/* The collateral with a signed JSON document (tcb_info or qe_identity) edited by `edit` and
 * re-signed with the platform's TCB signing key, as the simulator's Intel would. */
static void resigned_by(kg_buf *out, const plat *p, const char *field, void (*edit)(json_t *),
                        const char *key_name);
static void resigned(kg_buf *out, const plat *p, const char *field, void (*edit)(json_t *))
{
    resigned_by(out, p, field, edit, "tcb_signing");
}

static void resigned_by(kg_buf *out, const plat *p, const char *field, void (*edit)(json_t *),
                        const char *key_name)
{
    json_t *c = json_loadb((const char *)p->coll.data, p->coll.len, 0, NULL);
    assert_non_null(c);
    json_t *doc = json_loads(json_string_value(json_object_get(c, field)), 0, NULL);
    assert_non_null(doc);
    edit(doc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    EVP_PKEY *k = load_key(p, key_name);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80], rs[64];
    size_t der_len = sizeof(der);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, der, &der_len, (const uint8_t *)text, strlen(text)), 1);
    const uint8_t *dp = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32);
    char hex[129];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), rs, 64));
    char sig_key[64];
    snprintf(sig_key, sizeof(sig_key), "%s_signature", field);
    json_object_set_new(c, field, json_string(text));
    json_object_set_new(c, sig_key, json_string(hex));
    char *all = json_dumps(c, JSON_COMPACT);
    kg_buf_init(out, KG_MAX_COLLATERAL_LEN);
    KG_ASSERT_OK(kg_buf_append(out, all, strlen(all)));
    free(all);
    free(text);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    json_decref(doc);
    json_decref(c);
}

static json_t *module_levels(json_t *tcb_info)
{
    json_t *ids = json_object_get(tcb_info, "tdxModuleIdentities");
    return json_object_get(json_array_get(ids, 0), "tcbLevels");
}

static json_t *level(int isvsvn, const char *status, const char *advisory)
{
    json_t *l = json_pack("{s:{s:i},s:s,s:s}", "tcb", "isvsvn", isvsvn, "tcbDate",
                          "2024-03-13T00:00:00Z", "tcbStatus", status);
    if (advisory)
        json_object_set_new(l, "advisoryIDs", json_pack("[s]", advisory));
    return l;
}

/* the simulated TD runs TDX module 1.x with ISVSVN 6 (TEE_TCB_SVN 06 01 03 ..) */
static void module_out_of_date(json_t *t)
{
    json_t *l = module_levels(t);
    json_array_clear(l);
    json_array_append_new(l, level(7, "UpToDate", NULL));
    json_array_append_new(l, level(5, "OutOfDate", "INTEL-SA-00999"));
}
static void module_too_old(json_t *t)
{
    json_t *l = module_levels(t);
    json_array_clear(l);
    json_array_append_new(l, level(7, "UpToDate", NULL));
}
static void module_revoked(json_t *t)
{
    json_t *l = module_levels(t);
    json_array_clear(l);
    json_array_append_new(l, level(0, "Revoked", NULL));
}
static void module_identity_renamed(json_t *t)
{
    json_object_set_new(json_array_get(json_object_get(t, "tdxModuleIdentities"), 0), "id",
                        json_string("TDX_02"));
}
static void platform_configuration_needed(json_t *t)
{
    json_object_set_new(json_array_get(json_object_get(t, "tcbLevels"), 0), "tcbStatus",
                        json_string("ConfigurationNeeded"));
}
static void no_edit(json_t *t)
{
    (void)t;
}
static void other_fmspc(json_t *t)
{
    json_object_set_new(t, "fmspc", json_string("00906EA10000"));
}
static void qe_out_of_date(json_t *q)
{
    json_t *l = json_object_get(q, "tcbLevels");
    json_array_clear(l);
    json_array_append_new(l, level(9, "UpToDate", NULL));
    json_array_append_new(l, level(1, "OutOfDate", "INTEL-SA-00998"));
}
static void qe_too_old(json_t *q)
{
    json_t *l = json_object_get(q, "tcbLevels");
    json_array_clear(l);
    json_array_append_new(l, level(9, "UpToDate", NULL));
}
static void qe_other_signer(json_t *q)
{
    json_object_set_new(
        q, "mrsigner",
        json_string("0000000000000000000000000000000000000000000000000000000000000000"));
}

/* Intel's TCB evaluation on collateral the test signs: TDX module identity and levels, QE
 * identity and levels, and how their statuses converge with the platform's. */
static void tcb_evaluation_follows_intel(void **state)
{
    plat p;
    plat_new(&p, NULL);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    kg_buf c;

    resigned(&c, &p, "tcb_info", module_out_of_date);
    KG_ASSERT_OK(verify(&p, r, &c, &p.quote, p.now + 60));
    assert_string_equal(r->status, "OutOfDate");
    assert_int_equal(r->n_advisory_ids, 1);
    assert_string_equal(r->advisory_ids[0], "INTEL-SA-00999");
    kg_buf_free(&c);

    resigned(&c, &p, "tcb_info", module_too_old);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_DENIED,
                  "TCB not supported: TDX module ISVSVN 6 is below every level of TDX_01");
    kg_buf_free(&c);
    resigned(&c, &p, "tcb_info", module_revoked);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_DENIED,
                  "TDX TCB status is Revoked");
    kg_buf_free(&c);
    resigned(&c, &p, "tcb_info", module_identity_renamed);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "TDX module mismatch: no TDX module identity TDX_01 in TCB info");
    kg_buf_free(&c);
    resigned(&c, &p, "tcb_info", other_fmspc);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "TCB info mismatch: FMSPC 90c06f000000 in the PCK certificate, 00906ea10000");
    kg_buf_free(&c);

    resigned(&c, &p, "qe_identity", qe_out_of_date);
    KG_ASSERT_OK(verify(&p, r, &c, &p.quote, p.now + 60));
    assert_string_equal(r->status, "OutOfDate");
    assert_string_equal(r->advisory_ids[0], "INTEL-SA-00998");
    kg_buf_free(&c);
    resigned(&c, &p, "qe_identity", qe_too_old);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_DENIED,
                  "QE TCB not supported: ISVSVN");
    kg_buf_free(&c);
    resigned(&c, &p, "qe_identity", qe_other_signer);
    KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                  "QE identity mismatch: MRSIGNER");
    kg_buf_free(&c);

    /* TCB info signed by the Platform CA (certified by the same root, but not a TCB signer) */
    {
        char path[160];
        snprintf(path, sizeof(path), "%s/p/platform_ca.pem", p.dir);
        kg_buf pem, root_pem;
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        kg_buf_init(&pem, 65536);
        uint8_t chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            KG_ASSERT_OK(kg_buf_append(&pem, chunk, n));
        fclose(f);
        snprintf(path, sizeof(path), "%s/p/root_ca.pem", p.dir);
        f = fopen(path, "rb");
        assert_non_null(f);
        kg_buf_init(&root_pem, 65536);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            KG_ASSERT_OK(kg_buf_append(&root_pem, chunk, n));
        fclose(f);
        KG_ASSERT_OK(kg_buf_append(&pem, root_pem.data, root_pem.len));
        KG_ASSERT_OK(kg_buf_terminate(&pem));
        kg_buf c1;
        resigned_by(&c1, &p, "tcb_info", no_edit, "platform_ca");
        with_field(&c, &c1, "tcb_info_issuer_chain", (const char *)pem.data);
        KG_ASSERT_ERR(verify(&p, r, &c, &p.quote, p.now + 60), KG_ERR_VERIFY,
                      "tcb_info_issuer_chain: signer 'keygate Simulated SGX PCK Platform CA' is "
                      "not an SGX TCB Signing certificate");
        kg_buf_free(&c);
        kg_buf_free(&c1);
        kg_buf_free(&pem);
        kg_buf_free(&root_pem);
    }

    /* ConfigurationNeeded platform with an OutOfDate QE: OutOfDateConfigurationNeeded */
    kg_buf c2;
    resigned(&c, &p, "tcb_info", platform_configuration_needed);
    plat q = p;
    q.coll = c;
    resigned(&c2, &q, "qe_identity", qe_out_of_date);
    KG_ASSERT_OK(verify(&p, r, &c2, &p.quote, p.now + 60));
    assert_string_equal(r->status, "OutOfDateConfigurationNeeded");
    kg_buf_free(&c);
    kg_buf_free(&c2);

    free(r);
    plat_free(&p);
}

static void set_le32(uint8_t *d, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        d[i] = (uint8_t)(v >> (8 * i));
}

/* The simulator's v4 quote rebuilt as v5 with a TD 1.5 body carrying tee_tcb_svn2, re-signed. */
static void td15_quote(kg_buf *out, const plat *p, const uint8_t svn2[16])
{
    const uint8_t *q = p->quote.data;
    uint32_t sig_len =
        (uint32_t)q[632] | (uint32_t)q[633] << 8 | (uint32_t)q[634] << 16 | (uint32_t)q[635] << 24;
    kg_buf_init(out, KG_MAX_QUOTE_LEN);
    KG_ASSERT_OK(kg_buf_append(out, q, 48));
    out->data[0] = 5;
    uint8_t desc[6] = {3, 0};
    set_le32(desc + 2, 648);
    KG_ASSERT_OK(kg_buf_append(out, desc, 6));
    KG_ASSERT_OK(kg_buf_append(out, q + 48, 584));
    KG_ASSERT_OK(kg_buf_append(out, svn2, 16));
    uint8_t zero[48] = {0};
    KG_ASSERT_OK(kg_buf_append(out, zero, 48));
    KG_ASSERT_OK(kg_buf_append(out, q + 632, 4 + sig_len));
    /* sign header + descriptor + body (702 bytes); the signature sits right after sig_len */
    EVP_PKEY *ak = load_key(p, "attestation");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t der_len = sizeof(der);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ak), 1);
    assert_int_equal(EVP_DigestSign(md, der, &der_len, out->data, 702), 1);
    const uint8_t *dp = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &dp, (long)der_len);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), out->data + 706, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), out->data + 738, 32);
    ECDSA_SIG_free(s);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(ak);
}

/* TDX 1.5 (quote v5): an OutOfDate module that a relaunch would replace by the latest one
 * (TEE_TCB_SVN2) is reported as TDRelaunchAdvised (Intel QVL checkForRelaunch). */
static void td15_relaunch_advised(void **state)
{
    plat p;
    plat_new(&p, NULL);
    kg_dcap_report *r = calloc(1, sizeof(*r));
    kg_buf c, q;
    uint8_t svn2[16] = {6, 1, 3};
    td15_quote(&q, &p, svn2);
    KG_ASSERT_OK(verify(&p, r, &p.coll, &q, p.now + 60));
    assert_string_equal(r->status, "UpToDate");
    assert_int_equal(r->quote.body_type, KG_BODY_TD15);
    resigned(&c, &p, "tcb_info", module_out_of_date);
    KG_ASSERT_OK(verify(&p, r, &c, &q, p.now + 60));
    assert_string_equal(r->status, "OutOfDate"); /* SVN2 6 < the latest module level 7 */
    kg_buf_free(&q);
    svn2[0] = 7;
    td15_quote(&q, &p, svn2);
    KG_ASSERT_OK(verify(&p, r, &c, &q, p.now + 60));
    assert_string_equal(r->status, "TDRelaunchAdvised");
    kg_buf_free(&q);
    svn2[1] = 2; /* a module version the TCB info does not know */
    td15_quote(&q, &p, svn2);
    KG_ASSERT_ERR(verify(&p, r, &c, &q, p.now + 60), KG_ERR_VERIFY,
                  "no TDX module identity TDX_02 for TEE_TCB_SVN2");
    kg_buf_free(&q);
    kg_buf_free(&c);
    free(r);
    plat_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sim_quote_verifies_only_under_its_root),
        cmocka_unit_test(pck_chain_precheck_needs_the_trusted_root),
        cmocka_unit_test(out_of_date_platform_reports_status_and_advisories),
        cmocka_unit_test(revoked_and_tampered_crls),
        cmocka_unit_test(debug_and_misconfigured_tds_are_denied),
        cmocka_unit_test(validity_window_is_the_earliest_expiry),
        cmocka_unit_test(tcb_evaluation_follows_intel),
        cmocka_unit_test(td15_relaunch_advised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
