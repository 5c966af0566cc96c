/* dcap.c - DCAP quote verification against PCCS collateral (Intel QVL 4.1.2.4), with caches. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dcap_internal.h"
#include "keygate/bytes.h"
#include "keygate/hash.h"

/*
 * Map of this file:
 *   1. chains and CRLs      every certificate to the verifier's root, validity at `now`,
 *                           revocation by the CRL its issuer published
 *   2. collateral           root CRL, PCK CRL (+ issuer chain), TCB Info and QE Identity (issuer
 *                           chains, signatures over the exact signed text, validity windows)
 *   3. PCK chain            from the quote: chain, PCK CRL, SGX extensions, public key
 *   4. TCB evaluation       QE identity, TCB level selection, TDX module, status convergence
 *   5. kg_dcap_verify       the steps in Intel's order, then the debug checks
 *   6. caches               verified collateral and PCK chains, keyed by a copy of the exact
 *                           bytes verified, used only inside the window computed at verification
 *
 * Parsing is separate from verifying: a collateral text is parsed once (coll_parsed, kept by
 * exact text also with the verdict caches off), and every signature, window and revocation check
 * runs on the parsed objects at each verification that does not hit a verdict cache.
 *
 * Every collateral validity window that a verdict relies on is intersected into [not_before,
 * not_after]; a cached entry is used only while `now` lies in it, otherwise everything is
 * verified again (and fails with the precise cause).
 */

#define COLL_CACHE_SLOTS 8
#define PCK_CACHE_SLOTS 64
#define AK_CACHE_SLOTS 64
#define MAX_CHAIN_CERTS 8
#define MAX_CRL_DER (1024u * 1024u)
#define MEMO_SLOTS 8
#define QE_MEMO_SLOTS 4 /* QE reports verified per PCK entry: one per QE, rarely more */

/*
 * Everything parsed from one collateral document, keyed by a copy of its exact text. Parsing is
 * pure, so the same text always gives the same objects: they are reused, also in cold mode, and
 * every check (signatures, windows, revocation) still runs on them on every verification. The
 * signed TCB Info and QE Identity texts are parsed only once their signature has verified.
 * Immutable once built except tcb and qe, set once under the verifier's mutex.
 */
typedef struct coll_parsed {
    atomic_int refs;
    char *text; /* the key */
    size_t text_len;
    kg_collateral_doc doc; /* the decoded strings (the signed texts are hashed from here) */
    X509_CRL *root_crl, *pck_crl;
    STACK_OF(X509) * pck_ca_chain, *tcb_chain, *qe_chain;
    uint8_t tcb_sig[64], qe_sig[64];
    void *tcb; /* kg_tcb_info, NULL until its signature first verified */
    void *qe;  /* kg_qe_identity, likewise */
} coll_parsed;

typedef struct coll_entry {
    int refs;            /* guarded by the verifier's mutex */
    uint64_t id;         /* unique per verifier: PCK entries name the collateral they relied on */
    coll_parsed *parsed; /* one reference; its text is the key: the collateral JSON verified */
    int64_t not_before, not_after;
    /* borrowed from parsed */
    const kg_tcb_info *tcb;
    const kg_qe_identity *qe;
    X509_CRL *root_crl;
    X509_CRL *pck_crl;
    X509 *pck_ca; /* the PCK CRL's issuer (leaf of pck_crl_issuer_chain) */
} coll_entry;

typedef struct pck_entry {
    int refs;
    uint64_t coll_id; /* the key: the collateral entry it was verified against ... */
    uint8_t *chain;   /* ... and an exact copy of the PCK chain bytes */
    size_t chain_len;
    int64_t not_before, not_after;
    EVP_PKEY *pub;
    kg_pck_ext ext;
    /* QE reports (with their signatures) this PCK key has verified, exactly as received. A
     * platform's QE signs the same report for every quote, so a warm quote then costs one ECDSA
     * verification instead of two; the verdict is a pure function of these bytes and the key.
     * Guarded by the verifier's mutex. */
    uint8_t qe_signed[QE_MEMO_SLOTS][KG_SGX_REPORT_LEN + 64];
    size_t qe_n, qe_next;
} pck_entry;

#define PARSED_SLOTS                                                                               \
    4 /* parsed collateral documents: one per platform type in use, rarely more                    \
       */

typedef struct ak_entry {
    uint8_t xy[64];
    EVP_PKEY *pub;
} ak_entry;

struct kg_dcap_verifier {
    X509 *root;
    bool cache;
    bool parse_cache;
    kg_der_cache *parsed; /* parsed certificates and CRLs by exact DER */
    uint64_t next_coll_id;
    pthread_mutex_t mu;
    coll_entry *coll[COLL_CACHE_SLOTS];
    size_t coll_next;
    pck_entry *pck[PCK_CACHE_SLOTS];
    size_t pck_next;
    ak_entry ak[AK_CACHE_SLOTS];
    size_t ak_next;
    coll_parsed *parsed_coll[PARSED_SLOTS];
    size_t parsed_next;
};

/* Per-call state: certificate signatures already checked in this call (the TCB Info and QE
 * Identity chains share their leaf; the PCK chain shares the PCK CRL's issuer). The memo owns a
 * reference to each certificate it names. */
typedef struct verify_ctx {
    kg_dcap_verifier *v;
    int64_t now;
    int64_t not_before, not_after;
    X509 *memo_cert[MEMO_SLOTS], *memo_issuer[MEMO_SLOTS];
    size_t n_memo;
} verify_ctx;

static void fmt_time(char out[32], int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* Checks not_before <= now <= not_after and narrows the context's window. */
static kg_result check_window(verify_ctx *c, int64_t not_before, int64_t not_after,
                              const char *what)
{
    /* the times are formatted only for an error (strftime on every check of every certificate
     * cost ~40,000 instructions per cold verification) */
    char a[32], b[32];
    if (c->now < not_before) {
        fmt_time(a, c->now);
        fmt_time(b, not_before);
        KG_BAIL(KG_ERR_EXPIRED, "%s not yet valid (from %s, now %s)", what, b, a);
    }
    if (c->now > not_after) {
        fmt_time(a, c->now);
        fmt_time(b, not_after);
        KG_BAIL(KG_ERR_EXPIRED, "%s expired (until %s, now %s)", what, b, a);
    }
    if (not_before > c->not_before)
        c->not_before = not_before;
    if (not_after < c->not_after)
        c->not_after = not_after;
    return KG_OK;
}

/* ---- 1. chains and CRLs ---------------------------------------------------------------------- */

static void name_text(char *out, size_t n, const X509_NAME *name)
{
    if (X509_NAME_get_text_by_NID(name, NID_commonName, out, (int)n) < 0)
        snprintf(out, n, "(no CN)");
}

static kg_result decode_crl(kg_der_cache *cache, X509_CRL **out, const char *hex, const char *what)
{
    kg_result rc = KG_ERROR;
    kg_buf der;
    kg_buf_init(&der, MAX_CRL_DER);
    *out = NULL;
    KG_GUARD_CTX_C(kg_hex_decode_buf(&der, hex, strlen(hex)), "%s", what);
    KG_ENSURE_C(der.len > 0, KG_ERR_INPUT, "%s: empty", what);
    KG_GUARD_C(kg_der_cache_crl(cache, out, der.data, der.len, what));
    rc = KG_OK;
cleanup:
    kg_buf_free(&der);
    return rc;
}

/* A CRL is authoritative when its issuer's key signed it and `now` is inside
 * [thisUpdate, nextUpdate]. */
static kg_result check_crl(verify_ctx *c, X509_CRL *crl, X509 *issuer, const char *what)
{
    char want[256], got[256];
    name_text(want, sizeof(want), X509_get_subject_name(issuer));
    name_text(got, sizeof(got), X509_CRL_get_issuer(crl));
    KG_ENSURE(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) == 0,
              KG_ERR_VERIFY, "%s: issued by '%s', expected '%s'", what, got, want);
    KG_GUARD(kg_dcap_verify_crl_sig(crl, X509_get0_pubkey(issuer), what));
    int64_t this_update, next_update;
    KG_GUARD_CTX(kg_dcap_asn1_time(&this_update, X509_CRL_get0_lastUpdate(crl)), "%s", what);
    KG_ENSURE(X509_CRL_get0_nextUpdate(crl) != NULL, KG_ERR_INPUT, "%s: no nextUpdate", what);
    KG_GUARD_CTX(kg_dcap_asn1_time(&next_update, X509_CRL_get0_nextUpdate(crl)), "%s", what);
    return check_window(c, this_update, next_update, what);
}

static kg_result check_not_revoked(X509_CRL *crl, X509 *cert, const char *what)
{
    X509_REVOKED *rev = NULL;
    int r = X509_CRL_get0_by_cert(crl, &rev, cert);
    ERR_clear_error();
    char cn[256];
    name_text(cn, sizeof(cn), X509_get_subject_name(cert));
    KG_ENSURE(r != 1, KG_ERR_VERIFY, "%s: certificate '%s' is revoked", what, cn);
    return KG_OK;
}

/*
 * Verifies chain[0] .. chain[n-1] (leaf first) ending in the verifier's root certificate itself:
 * each link's issuer name/AKID, CA flag and signature, each certificate's validity at `now`, and
 * revocation: a certificate issued by the root against root_crl, one issued by pck_ca's subject
 * against pck_crl (both already authenticated). Any other issuer has no CRL and is refused.
 */
static kg_result verify_chain(verify_ctx *c, STACK_OF(X509) * chain, X509_CRL *root_crl,
                              X509_CRL *pck_crl, X509 *pck_ca, const char *what)
{
    int n = sk_X509_num(chain);
    KG_ENSURE(n >= 2, KG_ERR_VERIFY, "%s: chain of %d certificate(s) is too short", what, n);
    KG_ENSURE(X509_cmp(sk_X509_value(chain, n - 1), c->v->root) == 0, KG_ERR_VERIFY,
              "%s: chain does not end in the trusted root CA", what);
    for (int i = 0; i < n; i++) {
        X509 *cert = sk_X509_value(chain, i);
        char cn[256], label[320];
        name_text(cn, sizeof(cn), X509_get_subject_name(cert));
        snprintf(label, sizeof(label), "%s: certificate '%s'", what, cn);
        int64_t nb, na;
        KG_GUARD_CTX(kg_dcap_asn1_time(&nb, X509_get0_notBefore(cert)), "%s", label);
        KG_GUARD_CTX(kg_dcap_asn1_time(&na, X509_get0_notAfter(cert)), "%s", label);
        KG_GUARD(check_window(c, nb, na, label));
        if (i == n - 1)
            break; /* the root itself: pinned, checked against its CRL with the collateral */
        X509 *issuer = sk_X509_value(chain, i + 1);
        int e = X509_check_issued(issuer, cert);
        KG_ENSURE(e == X509_V_OK, KG_ERR_VERIFY, "%s is not issued by the next certificate (%s)",
                  label, X509_verify_cert_error_string(e));
        KG_ENSURE(X509_check_ca(issuer) >= 1, KG_ERR_VERIFY, "%s: issuer is not a CA", label);
        bool memo = false;
        for (size_t k = 0; k < c->n_memo && !memo; k++)
            memo = X509_cmp(c->memo_cert[k], cert) == 0 && X509_cmp(c->memo_issuer[k], issuer) == 0;
        if (!memo) {
            KG_GUARD(kg_dcap_verify_cert_sig(cert, X509_get0_pubkey(issuer), label));
            /* the memo holds references: the chain it came from may be freed before reuse */
            if (c->n_memo < MEMO_SLOTS && X509_up_ref(cert) == 1) {
                if (X509_up_ref(issuer) == 1) {
                    c->memo_cert[c->n_memo] = cert;
                    c->memo_issuer[c->n_memo] = issuer;
                    c->n_memo++;
                } else {
                    X509_free(cert);
                }
            }
        }
        if (X509_cmp(issuer, c->v->root) == 0) {
            KG_GUARD(check_not_revoked(root_crl, cert, what));
        } else {
            KG_ENSURE(
                pck_crl && pck_ca &&
                    X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(pck_ca)) == 0,
                KG_ERR_VERIFY, "%s: no CRL from its issuer", label);
            KG_GUARD(check_not_revoked(pck_crl, cert, what));
        }
    }
    return KG_OK;
}

kg_result kg_dcap_pck_chain_precheck(kg_dcap_verifier *v, const kg_quote *q)
{
    kg_result rc = KG_ERROR;
    STACK_OF(X509) *chain = NULL;
    KG_GUARD_C(kg_dcap_pem_chain(&chain, q->pck_chain, q->pck_chain_len, MAX_CHAIN_CERTS,
                                 "PCK certificate chain", v->parsed));
    int n = sk_X509_num(chain);
    KG_ENSURE_C(n >= 2, KG_ERR_VERIFY, "PCK certificate chain: %d certificate(s) is too short", n);
    KG_ENSURE_C(X509_cmp(sk_X509_value(chain, n - 1), v->root) == 0, KG_ERR_VERIFY,
                "PCK certificate chain does not end in the trusted root CA");
    for (int i = 0; i + 1 < n; i++) {
        X509 *cert = sk_X509_value(chain, i), *issuer = sk_X509_value(chain, i + 1);
        int e = X509_check_issued(issuer, cert);
        KG_ENSURE_C(e == X509_V_OK, KG_ERR_VERIFY,
                    "PCK certificate chain: certificate %d is not issued by the next (%s)", i,
                    X509_verify_cert_error_string(e));
        KG_GUARD_C(
            kg_dcap_verify_cert_sig(cert, X509_get0_pubkey(issuer), "PCK certificate chain"));
    }
    rc = KG_OK;
cleanup:
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- 2. collateral --------------------------------------------------------------------------- */

static void parsed_release(coll_parsed *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    kg_collateral_doc_free(&p->doc);
    X509_CRL_free(p->root_crl);
    X509_CRL_free(p->pck_crl);
    sk_X509_pop_free(p->pck_ca_chain, X509_free);
    sk_X509_pop_free(p->tcb_chain, X509_free);
    sk_X509_pop_free(p->qe_chain, X509_free);
    free(p->tcb);
    free(p->qe);
    free(p->text);
    free(p);
}

static void coll_free(coll_entry *e)
{
    if (!e)
        return;
    parsed_release(e->parsed);
    free(e);
}

/* Parses one collateral document: its strings, CRLs (hex DER), issuer chains (PEM) and
 * signatures (hex r||s). Pure; nothing is trusted yet. */
static kg_result parse_collateral(kg_dcap_verifier *v, coll_parsed *p)
{
    kg_collateral_doc *d = &p->doc;
    KG_GUARD(kg_collateral_doc_parse(d, p->text, p->text_len));
    KG_GUARD(decode_crl(v->parsed, &p->root_crl, d->v[KG_COLL_ROOT_CA_CRL], "root_ca_crl"));
    KG_GUARD(kg_dcap_pem_chain(
        &p->pck_ca_chain, (const uint8_t *)d->v[KG_COLL_PCK_CRL_ISSUER_CHAIN],
        d->len[KG_COLL_PCK_CRL_ISSUER_CHAIN], MAX_CHAIN_CERTS, "pck_crl_issuer_chain", v->parsed));
    KG_GUARD(decode_crl(v->parsed, &p->pck_crl, d->v[KG_COLL_PCK_CRL], "pck_crl"));
    KG_GUARD(kg_dcap_pem_chain(&p->tcb_chain, (const uint8_t *)d->v[KG_COLL_TCB_INFO_ISSUER_CHAIN],
                               d->len[KG_COLL_TCB_INFO_ISSUER_CHAIN], MAX_CHAIN_CERTS,
                               kg_collateral_key(KG_COLL_TCB_INFO_ISSUER_CHAIN), v->parsed));
    KG_GUARD_CTX(
        kg_hex_decode_exact(p->tcb_sig, sizeof(p->tcb_sig), d->v[KG_COLL_TCB_INFO_SIGNATURE]),
        "'%s'", kg_collateral_key(KG_COLL_TCB_INFO_SIGNATURE));
    KG_GUARD(kg_dcap_pem_chain(&p->qe_chain,
                               (const uint8_t *)d->v[KG_COLL_QE_IDENTITY_ISSUER_CHAIN],
                               d->len[KG_COLL_QE_IDENTITY_ISSUER_CHAIN], MAX_CHAIN_CERTS,
                               kg_collateral_key(KG_COLL_QE_IDENTITY_ISSUER_CHAIN), v->parsed));
    KG_GUARD_CTX(
        kg_hex_decode_exact(p->qe_sig, sizeof(p->qe_sig), d->v[KG_COLL_QE_IDENTITY_SIGNATURE]),
        "'%s'", kg_collateral_key(KG_COLL_QE_IDENTITY_SIGNATURE));
    return KG_OK;
}

/* The parsed form of exactly this collateral text (one reference, caller releases): from the
 * verifier's slots when the same text was parsed before, else parsed now (and kept, with the
 * parse cache on). */
static kg_result get_parsed(kg_dcap_verifier *v, const char *json, size_t len, coll_parsed **out)
{
    *out = NULL;
    if (v->parse_cache) {
        pthread_mutex_lock(&v->mu);
        for (size_t i = 0; i < PARSED_SLOTS && !*out; i++) {
            coll_parsed *p = v->parsed_coll[i];
            if (p && p->text_len == len && memcmp(p->text, json, len) == 0) {
                atomic_fetch_add(&p->refs, 1);
                *out = p;
            }
        }
        pthread_mutex_unlock(&v->mu);
        if (*out)
            return KG_OK;
    }
    coll_parsed *p = calloc(1, sizeof(*p));
    KG_ENSURE(p != NULL, KG_ERR_NOMEM, "allocating");
    atomic_init(&p->refs, 1);
    p->text = malloc(len);
    if (!p->text) {
        parsed_release(p);
        KG_BAIL(KG_ERR_NOMEM, "allocating");
    }
    memcpy(p->text, json, len);
    p->text_len = len;
    if (kg_failed(parse_collateral(v, p))) {
        parsed_release(p);
        return KG_ERROR;
    }
    if (v->parse_cache) {
        atomic_fetch_add(&p->refs, 1);
        pthread_mutex_lock(&v->mu);
        coll_parsed *old = v->parsed_coll[v->parsed_next];
        v->parsed_coll[v->parsed_next] = p;
        v->parsed_next = (v->parsed_next + 1) % PARSED_SLOTS;
        pthread_mutex_unlock(&v->mu);
        parsed_release(old);
    }
    *out = p;
    return KG_OK;
}

/* The parsed signed document in *slot (TCB Info or QE Identity), parsed from text on first use:
 * call only after text's signature has verified. The result is borrowed from the slot's owner. */
static kg_result signed_doc(kg_dcap_verifier *v, void **slot, const char *text, size_t len,
                            size_t size, kg_result (*parse)(void *, const char *, size_t),
                            const void **out)
{
    pthread_mutex_lock(&v->mu);
    *out = *slot;
    pthread_mutex_unlock(&v->mu);
    if (*out)
        return KG_OK;
    void *doc = malloc(size);
    KG_ENSURE(doc != NULL, KG_ERR_NOMEM, "allocating");
    if (kg_failed(parse(doc, text, len))) {
        free(doc);
        return KG_ERROR;
    }
    pthread_mutex_lock(&v->mu);
    if (!*slot) {
        *slot = doc;
        doc = NULL;
    }
    *out = *slot;
    pthread_mutex_unlock(&v->mu);
    free(doc); /* another thread parsed the same text first */
    return KG_OK;
}

static kg_result parse_tcb_any(void *out, const char *t, size_t n)
{
    return kg_tcb_info_parse(out, t, n);
}

static kg_result parse_qe_any(void *out, const char *t, size_t n)
{
    return kg_qe_identity_parse(out, t, n);
}

/* Verifies an issuer chain + a raw r||s signature over the exact text it covers. */
static kg_result verify_signed_text(verify_ctx *c, STACK_OF(X509) * chain, kg_coll_field chain_f,
                                    const char *text, size_t text_len, kg_coll_field text_f,
                                    const uint8_t sig[64], X509_CRL *root_crl)
{
    const char *chain_key = kg_collateral_key(chain_f);
    KG_GUARD(verify_chain(c, chain, root_crl, NULL, NULL, chain_key));
    /* the signer is Intel's TCB signing certificate, not any other key the root certified
     * (Intel QVL checks the TCB signing certificate's subject) */
    char cn[256];
    name_text(cn, sizeof(cn), X509_get_subject_name(sk_X509_value(chain, 0)));
    KG_ENSURE(strstr(cn, "SGX TCB Signing") != NULL, KG_ERR_VERIFY,
              "%s: signer '%s' is not an SGX TCB Signing certificate", chain_key, cn);
    KG_GUARD(kg_dcap_ecdsa_verify(X509_get0_pubkey(sk_X509_value(chain, 0)), sig,
                                  (const uint8_t *)text, text_len, kg_collateral_key(text_f)));
    return KG_OK;
}

/* Every check of the collateral, on its parsed form: each signature, chain, window and
 * revocation. The entry borrows the parsed objects (it holds a reference to p). */
static kg_result verify_collateral_doc(verify_ctx *c, coll_parsed *p, coll_entry *e)
{
    const kg_collateral_doc *d = &p->doc;
    const void *doc;

    /* root CA CRL: signed by the root; also the root itself must not be on it */
    e->root_crl = p->root_crl;
    KG_GUARD(check_crl(c, e->root_crl, c->v->root, "root_ca_crl"));
    KG_GUARD(check_not_revoked(e->root_crl, c->v->root, "root_ca_crl"));

    /* PCK CRL and the chain of the CA that issued it (Platform or Processor CA) */
    KG_GUARD(verify_chain(c, p->pck_ca_chain, e->root_crl, NULL, NULL, "pck_crl_issuer_chain"));
    e->pck_ca = sk_X509_value(p->pck_ca_chain, 0);
    /* 4.1.2.4.6: the PCK CRL comes from a PCK CA (Platform or Processor) */
    char ca_cn[256];
    name_text(ca_cn, sizeof(ca_cn), X509_get_subject_name(e->pck_ca));
    KG_ENSURE(strstr(ca_cn, "SGX PCK Platform CA") != NULL ||
                  strstr(ca_cn, "SGX PCK Processor CA") != NULL,
              KG_ERR_VERIFY, "pck_crl_issuer_chain: '%s' is not an SGX PCK CA", ca_cn);
    e->pck_crl = p->pck_crl;
    KG_GUARD(check_crl(c, e->pck_crl, e->pck_ca, "pck_crl"));

    /* TCB Info: chain, signature over the exact text, then its own validity window */
    KG_GUARD(verify_signed_text(c, p->tcb_chain, KG_COLL_TCB_INFO_ISSUER_CHAIN,
                                d->v[KG_COLL_TCB_INFO], d->len[KG_COLL_TCB_INFO], KG_COLL_TCB_INFO,
                                p->tcb_sig, e->root_crl));
    KG_GUARD(signed_doc(c->v, &p->tcb, d->v[KG_COLL_TCB_INFO], d->len[KG_COLL_TCB_INFO],
                        sizeof(kg_tcb_info), parse_tcb_any, &doc));
    e->tcb = doc;
    KG_GUARD(check_window(c, e->tcb->issue_date, e->tcb->next_update, "tcb_info"));

    /* QE Identity: the same */
    KG_GUARD(verify_signed_text(c, p->qe_chain, KG_COLL_QE_IDENTITY_ISSUER_CHAIN,
                                d->v[KG_COLL_QE_IDENTITY], d->len[KG_COLL_QE_IDENTITY],
                                KG_COLL_QE_IDENTITY, p->qe_sig, e->root_crl));
    KG_GUARD(signed_doc(c->v, &p->qe, d->v[KG_COLL_QE_IDENTITY], d->len[KG_COLL_QE_IDENTITY],
                        sizeof(kg_qe_identity), parse_qe_any, &doc));
    e->qe = doc;
    KG_GUARD(check_window(c, e->qe->issue_date, e->qe->next_update, "qe_identity"));
    return KG_OK;
}

static kg_result verify_collateral(verify_ctx *c, const char *json, size_t len, coll_entry **out)
{
    *out = NULL;
    coll_parsed *p = NULL;
    KG_GUARD(get_parsed(c->v, json, len, &p));
    coll_entry *e = calloc(1, sizeof(*e));
    if (!e) {
        parsed_release(p);
        KG_BAIL(KG_ERR_NOMEM, "allocating");
    }
    e->parsed = p;
    int64_t saved_nb = c->not_before, saved_na = c->not_after;
    c->not_before = INT64_MIN;
    c->not_after = INT64_MAX;
    if (kg_failed(verify_collateral_doc(c, p, e))) {
        coll_free(e);
        return KG_ERROR;
    }
    e->not_before = c->not_before;
    e->not_after = c->not_after;
    e->refs = 1;
    c->not_before = saved_nb > e->not_before ? saved_nb : e->not_before;
    c->not_after = saved_na < e->not_after ? saved_na : e->not_after;
    *out = e;
    return KG_OK;
}

/* ---- 3. PCK chain ---------------------------------------------------------------------------- */

static void pck_free(pck_entry *e)
{
    if (!e)
        return;
    EVP_PKEY_free(e->pub);
    free(e->chain);
    free(e);
}

static kg_result read_sgx_ext(X509 *leaf, kg_pck_ext *ext)
{
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    KG_ENSURE_OSSL(oid != NULL, KG_ERR_NOMEM, "SGX extension OID");
    int idx = X509_get_ext_by_OBJ(leaf, oid, -1);
    int dup = idx >= 0 ? X509_get_ext_by_OBJ(leaf, oid, idx) : -1;
    ASN1_OBJECT_free(oid);
    KG_ENSURE(idx >= 0, KG_ERR_VERIFY, "PCK certificate has no SGX extension");
    KG_ENSURE(dup < 0, KG_ERR_VERIFY, "PCK certificate has two SGX extensions");
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));
    KG_GUARD_CTX(kg_pck_ext_parse(ext, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v)),
                 "PCK certificate SGX extension");
    return KG_OK;
}

static kg_result verify_pck_chain(verify_ctx *c, const coll_entry *coll, const kg_quote *q,
                                  pck_entry *e)
{
    kg_result rc = KG_ERROR;
    STACK_OF(X509) *chain = NULL;
    KG_GUARD_C(kg_dcap_pem_chain(&chain, q->pck_chain, q->pck_chain_len, MAX_CHAIN_CERTS,
                                 "PCK certificate chain", c->v->parsed));
    X509 *leaf = sk_X509_value(chain, 0);
    /* 4.1.2.4.4: the leaf is a PCK certificate */
    char cn[256];
    name_text(cn, sizeof(cn), X509_get_subject_name(leaf));
    KG_ENSURE_C(strstr(cn, "SGX PCK Certificate") != NULL, KG_ERR_VERIFY,
                "PCK certificate: subject CN '%s' does not contain 'SGX PCK Certificate'", cn);
    /* 4.1.2.4.6: the PCK CRL must come from the PCK certificate's issuer */
    char crl_cn[256], iss_cn[256];
    name_text(crl_cn, sizeof(crl_cn), X509_CRL_get_issuer(coll->pck_crl));
    name_text(iss_cn, sizeof(iss_cn), X509_get_issuer_name(leaf));
    KG_ENSURE_C(X509_NAME_cmp(X509_CRL_get_issuer(coll->pck_crl), X509_get_issuer_name(leaf)) == 0,
                KG_ERR_VERIFY, "PCK CRL issuer '%s' does not match the PCK certificate issuer '%s'",
                crl_cn, iss_cn);
    /* and the key that signed the CRL is the key that issued the PCK certificate */
    KG_ENSURE_C(sk_X509_num(chain) >= 2 && EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 1)),
                                                       X509_get0_pubkey(coll->pck_ca)) == 1,
                KG_ERR_VERIFY, "PCK CRL was not signed by the PCK certificate's issuing CA");
    /* 4.1.2.4.5, 4.1.2.4.7: chain to the root, nothing revoked */
    KG_GUARD_C(verify_chain(c, chain, coll->root_crl, coll->pck_crl, coll->pck_ca,
                            "PCK certificate chain"));
    KG_GUARD_C(read_sgx_ext(leaf, &e->ext));
    e->pub = X509_get_pubkey(leaf);
    KG_ENSURE_OSSL_C(e->pub != NULL, KG_ERR_VERIFY, "PCK certificate: unreadable public key");
    KG_ENSURE_C(EVP_PKEY_is_a(e->pub, "EC") && EVP_PKEY_get_bits(e->pub) == 256, KG_ERR_VERIFY,
                "PCK certificate key is not P-256");
    rc = KG_OK;
cleanup:
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- 4. TCB evaluation ----------------------------------------------------------------------- */

/* Intel QVL convergeTcbStatusWithQeTcbStatus / convergeTcbStatusWithTdxModuleStatus: an
 * OutOfDate QE or TDX module makes the platform OutOfDate (keeping ConfigurationNeeded), a
 * Revoked one makes it Revoked; otherwise the platform status stands. */
static kg_tcb_status converge(kg_tcb_status platform, kg_tcb_status other)
{
    if (other == KG_TCB_OUT_OF_DATE) {
        if (platform == KG_TCB_UP_TO_DATE || platform == KG_TCB_SW_HARDENING_NEEDED)
            return KG_TCB_OUT_OF_DATE;
        if (platform == KG_TCB_CONFIGURATION_NEEDED ||
            platform == KG_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
            return KG_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
    }
    if (other == KG_TCB_REVOKED)
        return KG_TCB_REVOKED;
    return platform;
}

static void hex_of(char *out, size_t out_size, const uint8_t *p, size_t n)
{
    if (kg_failed(kg_hex_encode(out, out_size, p, n))) {
        kg_error_clear();
        snprintf(out, out_size, "?");
    }
}

/* The level an ISVSVN reaches: the one with the highest isvsvn not above it (Intel keeps these
 * levels in a set ordered by descending isvsvn and takes the first one reached, so the order of
 * the JSON array does not matter). NULL when it is below all. */
static const kg_module_tcb_level *isv_level(const kg_module_tcb_level *levels, size_t n,
                                            uint16_t isv_svn)
{
    const kg_module_tcb_level *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (isv_svn >= levels[i].isv_svn && (!best || levels[i].isv_svn > best->isv_svn))
            best = &levels[i];
    return best;
}

/* 4.1.2.4.15 (EnclaveReportVerifier): the QE report against the QE Identity; returns the QE TCB
 * level matched by ISVSVN. */
static kg_result check_qe_identity(const kg_qe_identity *id, const kg_sgx_report *qe,
                                   const kg_module_tcb_level **level)
{
    KG_ENSURE((qe->misc_select & id->miscselect_mask) == (id->miscselect & id->miscselect_mask),
              KG_ERR_VERIFY, "QE identity mismatch: MISCSELECT 0x%08x (masked 0x%08x, want 0x%08x)",
              qe->misc_select, qe->misc_select & id->miscselect_mask,
              id->miscselect & id->miscselect_mask);
    for (size_t i = 0; i < 16; i++)
        KG_ENSURE((qe->attributes[i] & id->attributes_mask[i]) ==
                      (id->attributes[i] & id->attributes_mask[i]),
                  KG_ERR_VERIFY, "QE identity mismatch: ATTRIBUTES byte %zu (0x%02x masked)", i,
                  qe->attributes[i]);
    char got[65], want[65];
    hex_of(got, sizeof(got), qe->mr_signer, 32);
    hex_of(want, sizeof(want), id->mrsigner, 32);
    KG_ENSURE(memcmp(qe->mr_signer, id->mrsigner, 32) == 0, KG_ERR_VERIFY,
              "QE identity mismatch: MRSIGNER %s (want %s)", got, want);
    KG_ENSURE(qe->isv_prod_id == id->isv_prod_id, KG_ERR_VERIFY,
              "QE identity mismatch: ISVPRODID %u (want %u)", qe->isv_prod_id, id->isv_prod_id);
    KG_ENSURE(!(qe->attributes[0] & 0x02), KG_ERR_DENIED, "QE is a debug enclave");
    *level = isv_level(id->levels, id->n_levels, qe->isv_svn);
    if (*level)
        return KG_OK;
    KG_BAIL(KG_ERR_DENIED, "QE TCB not supported: ISVSVN %u is below every QE Identity level",
            qe->isv_svn);
}

static bool svn_ge(const uint8_t *have, const uint8_t *want, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        if (have[i] < want[i])
            return false;
    return true;
}

/* 4.1.2.4.17 (matchTcbLevels): the first level the PCK TCB reaches is the SGX level; for TDX the
 * first such level whose TDX components the TD's TEE_TCB_SVN also reaches is the TDX level
 * (components 0 and 1 are the module's own SVN and version when the version is non-zero).
 * Levels are taken in the order of the signed JSON, which Intel publishes newest first. */
static void match_tcb_levels(const kg_tcb_info *ti, const kg_pck_ext *pck, const uint8_t *tee_svn,
                             const kg_tcb_level **sgx, const kg_tcb_level **tdx)
{
    *sgx = *tdx = NULL;
    for (size_t i = 0; i < ti->n_levels; i++) {
        const kg_tcb_level *l = &ti->levels[i];
        if (!svn_ge(pck->comp_svn, l->sgx_svn, 0, 16) || pck->pce_svn < l->pce_svn)
            continue;
        if (!tee_svn) {
            *sgx = l;
            return;
        }
        if (!*sgx)
            *sgx = l;
        if (svn_ge(tee_svn, l->tdx_svn, tee_svn[1] > 0 ? 2 : 0, 16)) {
            *tdx = l;
            return;
        }
    }
}

static kg_result add_advisories(kg_dcap_report *out, const kg_advisory_id *pool, kg_advisories a)
{
    for (size_t i = 0; i < a.n; i++) {
        const char *id = pool[a.first + i];
        bool dup = false;
        for (size_t k = 0; k < out->n_advisory_ids && !dup; k++)
            dup = strcmp(out->advisory_ids[k], id) == 0;
        if (dup)
            continue;
        KG_ENSURE(out->n_advisory_ids < KG_MAX_ADVISORY_IDS, KG_ERR_TOO_LARGE,
                  "more than %u advisory ids", KG_MAX_ADVISORY_IDS);
        snprintf(out->advisory_ids[out->n_advisory_ids++], KG_ADVISORY_ID_MAX, "%s", id);
    }
    return KG_OK;
}

/* 4.1.2.4.11: the TDX module that produced the TD report is Intel's: MRSIGNERSEAM and
 * SEAMATTRIBUTES as in tdxModule, or in the tdxModuleIdentities entry "TDX_<version>" when the
 * module version (TEE_TCB_SVN[1]) is non-zero. */
static kg_result check_tdx_module(const kg_tcb_info *ti, const kg_quote *q,
                                  const kg_tdx_module_identity **ident)
{
    const uint8_t *mrsigner = ti->module_mrsigner, *attrs = ti->module_attributes;
    uint8_t version = q->td.tee_tcb_svn[1];
    *ident = NULL;
    KG_ENSURE(ti->has_tdx_module, KG_ERR_VERIFY, "TCB info has no tdxModule");
    if (q->header.version > 3 && version > 0) {
        KG_ENSURE(ti->has_module_identities, KG_ERR_VERIFY,
                  "TCB info mismatch: TDX module version %u but no tdxModuleIdentities", version);
        char want[16];
        snprintf(want, sizeof(want), "TDX_%02X", version);
        for (size_t i = 0; i < ti->n_module_ids && !*ident; i++)
            if (strcmp(ti->module_ids[i].id, want) == 0)
                *ident = &ti->module_ids[i];
        KG_ENSURE(*ident != NULL, KG_ERR_VERIFY,
                  "TDX module mismatch: no TDX module identity %s in TCB info", want);
        mrsigner = (*ident)->mrsigner;
        attrs = (*ident)->attributes;
    }
    char got[97];
    hex_of(got, sizeof(got), q->td.mr_signer_seam, 48);
    KG_ENSURE(memcmp(q->td.mr_signer_seam, mrsigner, 48) == 0, KG_ERR_VERIFY,
              "TDX module mismatch: MRSIGNERSEAM %s differs from TCB info", got);
    for (size_t i = 0; i < 8; i++)
        KG_ENSURE(q->td.seam_attributes[i] == 0 && attrs[i] == 0, KG_ERR_VERIFY,
                  "TDX module mismatch: SEAMATTRIBUTES not zero or not as in TCB info");
    return KG_OK;
}

static bool config_needed(kg_tcb_status s)
{
    return s == KG_TCB_CONFIGURATION_NEEDED || s == KG_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == KG_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == KG_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/* 4.1.2.4.17.4.3 (checkForRelaunch), TD report 1.5 only: an OutOfDate TDX TCB caused by an
 * OutOfDate TDX module, on a platform whose latest level the TD's TEE_TCB_SVN2 (the module it
 * would get after a relaunch) reaches, becomes TDRelaunchAdvised. */
static kg_result relaunch_status(kg_tcb_status *status, const kg_tcb_info *ti,
                                 const uint8_t svn2[16], kg_tcb_status sgx_status,
                                 kg_tcb_status module_status, kg_tcb_status qe_status)
{
    if (qe_status == KG_TCB_OUT_OF_DATE || qe_status == KG_TCB_REVOKED)
        return KG_OK;
    if (sgx_status != KG_TCB_UP_TO_DATE && sgx_status != KG_TCB_SW_HARDENING_NEEDED &&
        sgx_status != KG_TCB_CONFIGURATION_NEEDED &&
        sgx_status != KG_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
        return KG_OK;
    if (*status != KG_TCB_OUT_OF_DATE && *status != KG_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)
        return KG_OK;
    if (module_status != KG_TCB_OUT_OF_DATE)
        return KG_OK;
    const kg_tcb_level *latest = &ti->levels[0];
    uint16_t want_isvsvn = latest->tdx_svn[0];
    if (svn2[1] != 0) {
        char want[16];
        snprintf(want, sizeof(want), "TDX_%02X", svn2[1]);
        const kg_tdx_module_identity *m2 = NULL;
        for (size_t i = 0; i < ti->n_module_ids && !m2; i++)
            if (strcmp(ti->module_ids[i].id, want) == 0)
                m2 = &ti->module_ids[i];
        KG_ENSURE(m2 != NULL, KG_ERR_VERIFY,
                  "TDX module mismatch: no TDX module identity %s for TEE_TCB_SVN2", want);
        const kg_module_tcb_level *top = isv_level(m2->levels, m2->n_levels, UINT16_MAX);
        KG_ENSURE(top != NULL, KG_ERR_DENIED, "TCB not supported: %s has no TCB level", want);
        want_isvsvn = top->isv_svn;
    }
    if (svn2[0] >= want_isvsvn && svn2[2] >= latest->tdx_svn[2])
        *status = config_needed(sgx_status) || config_needed(*status)
                      ? KG_TCB_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
                      : KG_TCB_TD_RELAUNCH_ADVISED;
    return KG_OK;
}

/* 4.1.2.4.17: TCB level, TDX module TCB (checkTdxModuleTcbStatus), QE TCB; combined status. */
static kg_result evaluate_tcb(kg_dcap_report *out, const kg_tcb_info *ti,
                              const kg_tdx_module_identity *module, const kg_qe_identity *qe_id,
                              const kg_module_tcb_level *qe_level, const kg_pck_ext *pck)
{
    const kg_quote *q = &out->quote;
    bool tdx = q->header.tee_type == KG_TEE_TYPE_TDX;
    const kg_tcb_level *sgx_level, *tdx_level;
    char cpusvn[33];
    hex_of(cpusvn, sizeof(cpusvn), pck->comp_svn, 16);
    match_tcb_levels(ti, pck, tdx ? q->td.tee_tcb_svn : NULL, &sgx_level, &tdx_level);
    KG_ENSURE(sgx_level != NULL, KG_ERR_DENIED,
              "TCB not supported: no TCB level matches the platform (SGX components %s, PCESVN %u)",
              cpusvn, pck->pce_svn);
    kg_tcb_status status = sgx_level->status;
    const kg_tcb_level *platform = sgx_level;
    kg_advisories module_adv = {0, 0};
    if (tdx) {
        char teesvn[33];
        hex_of(teesvn, sizeof(teesvn), q->td.tee_tcb_svn, 16);
        KG_ENSURE(tdx_level != NULL, KG_ERR_DENIED,
                  "TCB not supported: no TCB level matches the TD's TEE_TCB_SVN %s", teesvn);
        platform = tdx_level;
        status = tdx_level->status;
        uint8_t version = q->td.tee_tcb_svn[1], isvsvn = q->td.tee_tcb_svn[0];
        kg_tcb_status module_status = KG_TCB_UP_TO_DATE;
        if (!(q->header.version > 3 && version == 0)) {
            /* checkTdxModuleTcbStatus: the module identity's levels by ISVSVN */
            KG_ENSURE(module != NULL, KG_ERR_VERIFY, "TDX module mismatch: no module identity");
            const kg_module_tcb_level *ml = isv_level(module->levels, module->n_levels, isvsvn);
            KG_ENSURE(ml != NULL, KG_ERR_DENIED,
                      "TCB not supported: TDX module ISVSVN %u is below every level of %s", isvsvn,
                      module->id);
            status = converge(status, ml->status);
            module_status = ml->status;
            module_adv = ml->advisories;
        }
        KG_ENSURE(status != KG_TCB_REVOKED, KG_ERR_DENIED, "TDX TCB status is Revoked");
        if (q->body_type == KG_BODY_TD15)
            KG_GUARD(relaunch_status(&status, ti, q->td.tee_tcb_svn2, sgx_level->status,
                                     module_status, qe_level->status));
    }
    status = converge(status, qe_level->status);
    KG_ENSURE(status != KG_TCB_REVOKED, KG_ERR_DENIED, "TCB status is Revoked");
    snprintf(out->status, sizeof(out->status), "%s", kg_tcb_status_name(status));
    KG_GUARD(add_advisories(out, ti->pool, platform->advisories));
    if (module_adv.n)
        KG_GUARD(add_advisories(out, ti->pool, module_adv));
    KG_GUARD(add_advisories(out, qe_id->pool, qe_level->advisories));
    return KG_OK;
}

/* Debug and reserved-attribute policy (what Intel leaves to the relying party): no debug TD or
 * enclave. TD_ATTRIBUTES: byte 0 is TUD (bit 0 DEBUG, the rest reserved), bits 8..27 and 29
 * reserved, bit 28 SEPT_VE_DISABLE required, bits 32..62 reserved. TDX 1.5: no service TD. */
static kg_result check_debug(const kg_quote *q)
{
    if (q->body_type == KG_BODY_SGX) {
        KG_ENSURE(!(q->sgx.attributes[0] & 0x02), KG_ERR_DENIED,
                  "debug enclave: ATTRIBUTES.DEBUG is set");
        return KG_OK;
    }
    const uint8_t *a = q->td.td_attributes;
    KG_ENSURE(!(a[0] & 0x01), KG_ERR_DENIED, "debug TD: TD_ATTRIBUTES.DEBUG is set");
    KG_ENSURE(a[0] == 0, KG_ERR_DENIED, "TD_ATTRIBUTES: reserved TUD bits set (0x%02x)", a[0]);
    KG_ENSURE(a[1] == 0 && a[2] == 0 && (a[3] & 0x2f) == 0 && a[4] == 0 && a[5] == 0 && a[6] == 0 &&
                  (a[7] & 0x7f) == 0,
              KG_ERR_DENIED, "TD_ATTRIBUTES: reserved bits set");
    KG_ENSURE(a[3] & 0x10, KG_ERR_DENIED, "TD_ATTRIBUTES: SEPT_VE_DISABLE is not set");
    if (q->body_type == KG_BODY_TD15) {
        uint8_t any = 0;
        for (size_t i = 0; i < 48; i++)
            any |= q->td.mr_service_td[i];
        KG_ENSURE(any == 0, KG_ERR_DENIED, "TD report 1.5: MRSERVICETD is not zero");
    }
    return KG_OK;
}

/* ---- 6. caches ------------------------------------------------------------------------------- */

static void coll_release(kg_dcap_verifier *v, coll_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&v->mu);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&v->mu);
    if (last)
        coll_free(e);
}

static void pck_release(kg_dcap_verifier *v, pck_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&v->mu);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&v->mu);
    if (last)
        pck_free(e);
}

static coll_entry *coll_lookup(kg_dcap_verifier *v, const char *text, size_t len, int64_t now)
{
    coll_entry *hit = NULL;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < COLL_CACHE_SLOTS && !hit; i++) {
        coll_entry *e = v->coll[i];
        if (e && e->parsed->text_len == len && memcmp(e->parsed->text, text, len) == 0 &&
            now >= e->not_before && now <= e->not_after) {
            e->refs++;
            hit = e;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return hit;
}

static void coll_insert(kg_dcap_verifier *v, coll_entry *e)
{
    coll_entry *old;
    pthread_mutex_lock(&v->mu);
    e->refs++;
    e->id = ++v->next_coll_id;
    old = v->coll[v->coll_next];
    v->coll[v->coll_next] = e;
    v->coll_next = (v->coll_next + 1) % COLL_CACHE_SLOTS;
    pthread_mutex_unlock(&v->mu);
    coll_release(v, old);
}

static pck_entry *pck_lookup(kg_dcap_verifier *v, uint64_t coll_id, const uint8_t *chain,
                             size_t len, int64_t now)
{
    pck_entry *hit = NULL;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < PCK_CACHE_SLOTS && !hit; i++) {
        pck_entry *e = v->pck[i];
        if (e && e->coll_id == coll_id && e->chain_len == len &&
            memcmp(e->chain, chain, len) == 0 && now >= e->not_before && now <= e->not_after) {
            e->refs++;
            hit = e;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return hit;
}

static void pck_insert(kg_dcap_verifier *v, pck_entry *e)
{
    pck_entry *old;
    pthread_mutex_lock(&v->mu);
    e->refs++;
    old = v->pck[v->pck_next];
    v->pck[v->pck_next] = e;
    v->pck_next = (v->pck_next + 1) % PCK_CACHE_SLOTS;
    pthread_mutex_unlock(&v->mu);
    pck_release(v, old);
}

/* Whether this PCK entry has verified exactly this QE report and signature before. */
static bool qe_report_known(kg_dcap_verifier *v, pck_entry *e, const kg_quote *q)
{
    bool hit = false;
    pthread_mutex_lock(&v->mu);
    for (size_t i = 0; i < e->qe_n && !hit; i++)
        hit = memcmp(e->qe_signed[i], q->qe_report_raw, KG_SGX_REPORT_LEN) == 0 &&
              memcmp(e->qe_signed[i] + KG_SGX_REPORT_LEN, q->qe_report_signature, 64) == 0;
    pthread_mutex_unlock(&v->mu);
    return hit;
}

static void qe_report_remember(kg_dcap_verifier *v, pck_entry *e, const kg_quote *q)
{
    pthread_mutex_lock(&v->mu);
    uint8_t *slot = e->qe_signed[e->qe_next];
    memcpy(slot, q->qe_report_raw, KG_SGX_REPORT_LEN);
    memcpy(slot + KG_SGX_REPORT_LEN, q->qe_report_signature, 64);
    e->qe_next = (e->qe_next + 1) % QE_MEMO_SLOTS;
    if (e->qe_n < QE_MEMO_SLOTS)
        e->qe_n++;
    pthread_mutex_unlock(&v->mu);
}

/* The attestation key as an EVP_PKEY: a parse (with the on-curve check) that is a pure function
 * of its exact 64 bytes, so it is cached with the parsed objects, also in cold mode. */
static kg_result attestation_key(kg_dcap_verifier *v, const uint8_t xy[64], EVP_PKEY **out)
{
    *out = NULL;
    bool use = v->parse_cache;
    if (use) {
        pthread_mutex_lock(&v->mu);
        for (size_t i = 0; i < AK_CACHE_SLOTS && !*out; i++)
            if (v->ak[i].pub && memcmp(v->ak[i].xy, xy, 64) == 0 &&
                EVP_PKEY_up_ref(v->ak[i].pub) == 1)
                *out = v->ak[i].pub;
        pthread_mutex_unlock(&v->mu);
        if (*out)
            return KG_OK;
    }
    KG_GUARD(kg_dcap_p256_key(out, xy));
    if (use && EVP_PKEY_up_ref(*out) == 1) {
        pthread_mutex_lock(&v->mu);
        ak_entry *slot = &v->ak[v->ak_next];
        EVP_PKEY *old = slot->pub;
        memcpy(slot->xy, xy, 64);
        slot->pub = *out;
        v->ak_next = (v->ak_next + 1) % AK_CACHE_SLOTS;
        pthread_mutex_unlock(&v->mu);
        EVP_PKEY_free(old);
    }
    return KG_OK;
}

/* ---- 5. kg_dcap_verify ----------------------------------------------------------------------- */

static kg_result get_collateral(verify_ctx *c, kg_dcap_verifier *v, const char *json, size_t len,
                                coll_entry **out)
{
    KG_ENSURE(json != NULL && len > 0, KG_ERR_USAGE, "no collateral");
    KG_ENSURE(len <= KG_MAX_COLLATERAL_LEN, KG_ERR_TOO_LARGE,
              "collateral of %zu bytes exceeds KG_MAX_COLLATERAL_LEN", len);
    if (v->cache) {
        *out = coll_lookup(v, json, len, c->now);
        if (*out) {
            if ((*out)->not_before > c->not_before)
                c->not_before = (*out)->not_before;
            if ((*out)->not_after < c->not_after)
                c->not_after = (*out)->not_after;
            return KG_OK;
        }
    }
    KG_GUARD_CTX(verify_collateral(c, json, len, out), "collateral");
    if (v->cache)
        coll_insert(v, *out);
    return KG_OK;
}

static kg_result get_pck(verify_ctx *c, kg_dcap_verifier *v, const coll_entry *coll,
                         const kg_quote *q, pck_entry **out)
{
    /* a collateral entry not in the cache has id 0 and matches no PCK entry */
    if (v->cache && coll->id != 0) {
        *out = pck_lookup(v, coll->id, q->pck_chain, q->pck_chain_len, c->now);
        if (*out) {
            if ((*out)->not_before > c->not_before)
                c->not_before = (*out)->not_before;
            if ((*out)->not_after < c->not_after)
                c->not_after = (*out)->not_after;
            return KG_OK;
        }
    }
    pck_entry *e = calloc(1, sizeof(*e));
    KG_ENSURE(e != NULL, KG_ERR_NOMEM, "allocating");
    if (kg_failed(verify_pck_chain(c, coll, q, e))) {
        pck_free(e);
        return KG_ERROR;
    }
    e->coll_id = coll->id;
    e->chain = malloc(q->pck_chain_len);
    if (!e->chain) {
        pck_free(e);
        KG_BAIL(KG_ERR_NOMEM, "allocating");
    }
    memcpy(e->chain, q->pck_chain, q->pck_chain_len);
    e->chain_len = q->pck_chain_len;
    /* the chain's verdict relies on the collateral's CRLs too: keep the combined window */
    e->not_before = c->not_before;
    e->not_after = c->not_after;
    e->refs = 1;
    if (v->cache && coll->id != 0)
        pck_insert(v, e);
    *out = e;
    return KG_OK;
}

static kg_result verify_quote(kg_dcap_verifier *v, verify_ctx *c, kg_dcap_report *out,
                              const char *collateral, size_t collateral_len)
{
    kg_result rc = KG_ERROR;
    coll_entry *coll = NULL;
    pck_entry *pck = NULL;
    EVP_PKEY *ak = NULL;
    const kg_quote *q = &out->quote;
    const kg_tdx_module_identity *module = NULL;
    const kg_module_tcb_level *qe_level = NULL;
    bool tdx = q->header.tee_type == KG_TEE_TYPE_TDX;

    KG_GUARD_C(get_collateral(c, v, collateral, collateral_len, &coll));
    KG_GUARD_C(get_pck(c, v, coll, q, &pck));
    const kg_tcb_info *ti = coll->tcb;
    const kg_qe_identity *qe_id = coll->qe;

    /* 4.1.2.4.9: TCB info made for this TEE */
    KG_ENSURE_C(ti->is_tdx == tdx, KG_ERR_VERIFY,
                "TCB info mismatch: TCB info is for %s but the quote is %s",
                ti->is_tdx ? "TDX" : "SGX", tdx ? "TDX" : "SGX");
    /* 4.1.2.4.10: for this platform */
    char a[13], b[13];
    hex_of(a, sizeof(a), pck->ext.fmspc, 6);
    hex_of(b, sizeof(b), ti->fmspc, 6);
    KG_ENSURE_C(memcmp(pck->ext.fmspc, ti->fmspc, 6) == 0, KG_ERR_VERIFY,
                "TCB info mismatch: FMSPC %s in the PCK certificate, %s in TCB info", a, b);
    hex_of(a, sizeof(a), pck->ext.pce_id, 2);
    hex_of(b, sizeof(b), ti->pce_id, 2);
    KG_ENSURE_C(memcmp(pck->ext.pce_id, ti->pce_id, 2) == 0, KG_ERR_VERIFY,
                "TCB info mismatch: PCE-ID %s in the PCK certificate, %s in TCB info", a, b);
    /* 4.1.2.4.11 */
    if (tdx)
        KG_GUARD_C(check_tdx_module(ti, q, &module));
    /* 4.1.2.4.12: the PCK signed the QE report */
    if (!qe_report_known(v, pck, q)) {
        KG_GUARD_C(kg_dcap_ecdsa_verify(pck->pub, q->qe_report_signature, q->qe_report_raw,
                                        KG_SGX_REPORT_LEN, "QE report"));
        qe_report_remember(v, pck, q);
    }
    /* 4.1.2.4.13: the QE report binds the attestation key and QE auth data */
    uint8_t digest[KG_SHA256_LEN];
    const void *parts[] = {q->attestation_key, q->qe_auth_data};
    const size_t lens[] = {64, q->qe_auth_data_len};
    KG_GUARD_C(kg_sha256_parts(digest, parts, lens, 2));
    KG_ENSURE_C(memcmp(digest, q->qe_report.report_data, KG_SHA256_LEN) == 0, KG_ERR_VERIFY,
                "QE report data does not bind the attestation key "
                "(SHA-256(attestation key || QE auth data) differs)");
    /* 4.1.2.4.14: QE identity made for this TEE */
    KG_ENSURE_C(qe_id->is_td_qe == tdx, KG_ERR_VERIFY,
                "QE identity mismatch: identity '%s' does not fit a %s quote",
                qe_id->is_td_qe ? "TD_QE" : "QE", tdx ? "TDX" : "SGX");
    /* 4.1.2.4.15 */
    KG_GUARD_C(check_qe_identity(qe_id, &q->qe_report, &qe_level));
    /* 4.1.2.4.16: the attestation key signed the quote */
    KG_GUARD_C(attestation_key(v, q->attestation_key, &ak));
    KG_GUARD_C(kg_dcap_ecdsa_verify(ak, q->signature, q->signed_data, q->signed_len, "quote"));
    /* 4.1.2.4.17 */
    KG_GUARD_C(evaluate_tcb(out, ti, module, qe_id, qe_level, &pck->ext));
    KG_GUARD_C(check_debug(q));

    memcpy(out->fmspc, pck->ext.fmspc, 6);
    memcpy(out->pce_id, pck->ext.pce_id, 2);
    memcpy(out->ppid, pck->ext.ppid, 16);
    out->has_ppid = true;
    memcpy(out->cpu_svn, pck->ext.cpu_svn, 16);
    out->pce_svn = pck->ext.pce_svn;
    out->valid_until = c->not_after > 0 ? (uint64_t)c->not_after : 0;
    rc = KG_OK;
cleanup:
    EVP_PKEY_free(ak);
    pck_release(v, pck);
    coll_release(v, coll);
    return rc;
}

kg_result kg_dcap_verify(kg_dcap_verifier *v, kg_dcap_report *out, const uint8_t *quote,
                         size_t quote_len, const char *collateral_json, size_t collateral_len,
                         uint64_t now)
{
    KG_ENSURE(v != NULL && out != NULL, KG_ERR_USAGE, "kg_dcap_verify: NULL argument");
    memset(out, 0, sizeof(*out));
    KG_GUARD(kg_quote_parse(&out->quote, quote, quote_len));
    return kg_dcap_verify_parsed(v, out, &out->quote, collateral_json, collateral_len, now);
}

kg_result kg_dcap_verify_parsed(kg_dcap_verifier *v, kg_dcap_report *out, const kg_quote *quote,
                                const char *collateral_json, size_t collateral_len, uint64_t now)
{
    KG_ENSURE(v != NULL && out != NULL && quote != NULL, KG_ERR_USAGE,
              "kg_dcap_verify_parsed: NULL argument");
    /* quote may be out->quote itself: keep it across the reset of everything else */
    kg_quote parsed = *quote;
    memset(out, 0, sizeof(*out));
    KG_ENSURE(now <= (uint64_t)INT64_MAX, KG_ERR_USAGE, "time out of range");
    out->quote = parsed;
    verify_ctx c = {.v = v, .now = (int64_t)now, .not_before = INT64_MIN, .not_after = INT64_MAX};
    kg_result rc = verify_quote(v, &c, out, collateral_json, collateral_len);
    for (size_t i = 0; i < c.n_memo; i++) {
        X509_free(c.memo_cert[i]);
        X509_free(c.memo_issuer[i]);
    }
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

kg_result kg_dcap_verifier_new(kg_dcap_verifier **out, const uint8_t *root_ca_der,
                               size_t root_ca_der_len)
{
    KG_ENSURE(out != NULL, KG_ERR_USAGE, "kg_dcap_verifier_new: NULL out");
    *out = NULL;
    if (!root_ca_der) {
        root_ca_der = kg_intel_sgx_root_ca_der;
        root_ca_der_len = kg_intel_sgx_root_ca_der_len;
    }
    KG_ENSURE(root_ca_der_len > 0 && root_ca_der_len < 65536, KG_ERR_USAGE, "root CA of %zu bytes",
              root_ca_der_len);
    kg_dcap_verifier *v = calloc(1, sizeof(*v));
    KG_ENSURE(v != NULL, KG_ERR_NOMEM, "allocating verifier");
    const uint8_t *p = root_ca_der;
    v->root = d2i_X509(NULL, &p, (long)root_ca_der_len);
    if (!v->root || p != root_ca_der + root_ca_der_len) {
        X509_free(v->root);
        free(v);
        return kg_error_set_ossl(KG_ERR_INPUT, __FILE__, __LINE__, "root CA: malformed DER");
    }
    /* The root must be self-signed (its own signature is the one check a pin leaves). */
    if (X509_verify(v->root, X509_get0_pubkey(v->root)) != 1 ||
        X509_check_issued(v->root, v->root) != X509_V_OK) {
        ERR_clear_error();
        X509_free(v->root);
        free(v);
        KG_BAIL(KG_ERR_INPUT, "root CA is not a self-signed certificate");
    }
    if (kg_failed(kg_der_cache_new(&v->parsed))) {
        X509_free(v->root);
        free(v);
        return KG_ERROR;
    }
    pthread_mutex_init(&v->mu, NULL);
    v->cache = true;
    v->parse_cache = true;
    *out = v;
    return KG_OK;
}

void kg_dcap_verifier_set_cache(kg_dcap_verifier *v, bool enabled)
{
    if (v)
        v->cache = enabled;
}

void kg_dcap_verifier_set_parse_cache(kg_dcap_verifier *v, bool enabled)
{
    if (v) {
        v->parse_cache = enabled;
        kg_der_cache_set_enabled(v->parsed, enabled);
    }
}

void kg_dcap_verifier_free(kg_dcap_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < COLL_CACHE_SLOTS; i++)
        coll_free(v->coll[i]);
    for (size_t i = 0; i < PCK_CACHE_SLOTS; i++)
        pck_free(v->pck[i]);
    for (size_t i = 0; i < AK_CACHE_SLOTS; i++)
        EVP_PKEY_free(v->ak[i].pub);
    for (size_t i = 0; i < PARSED_SLOTS; i++)
        parsed_release(v->parsed_coll[i]);
    X509_free(v->root);
    kg_der_cache_free(v->parsed);
    pthread_mutex_destroy(&v->mu);
    free(v);
}
