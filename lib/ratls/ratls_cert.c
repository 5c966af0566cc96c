/* ratls_cert.c - RA-TLS certificates: creation (quote + event log bound to the key) and the
 * pure parse of their extensions (docs/protocol.md section 4). */
#include "keygate/ratls.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "keygate/hash.h"
#include "ratls/ratls_internal.h"

kg_result kg_ratls_report_data(uint8_t out[64], const uint8_t *spki_der, size_t spki_len)
{
    /* a P-256 SPKI is 91 bytes; the cap only keeps the stack buffer bounded */
    uint8_t buf[11 + 1024];
    KG_ENSURE(spki_len <= 1024, KG_ERR_TOO_LARGE, "SubjectPublicKeyInfo is %zu bytes", spki_len);
    memcpy(buf, "ratls-cert:", 11);
    memcpy(buf + 11, spki_der, spki_len);
    return kg_sha512(out, buf, 11 + spki_len);
}

kg_result kg_ratls_key_report_data(uint8_t out[64], const kg_p256_key *key)
{
    kg_buf spki;
    kg_buf_init(&spki, 1024);
    kg_result rc = kg_p256_spki_der(&spki, key);
    if (kg_ok(rc))
        rc = kg_ratls_report_data(out, spki.data, spki.len);
    kg_buf_free(&spki);
    return rc;
}

kg_result kg_ratls_add_ext(X509 *cert, const char *oid, const void *payload, size_t n)
{
    kg_result rc = KG_ERROR;
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING *outer = ASN1_OCTET_STRING_new();
    unsigned char *der = NULL;
    X509_EXTENSION *ext = NULL;
    KG_ENSURE_C(n <= INT_MAX, KG_ERR_TOO_LARGE, "x509: extension %s payload of %zu bytes", oid, n);
    KG_ENSURE_OSSL_C(obj && inner && outer, KG_ERR_CRYPTO, "x509: extension %s", oid);
    KG_GUARD_OSSL_C(ASN1_OCTET_STRING_set(inner, payload, (int)n), KG_ERR_CRYPTO,
                    "x509: extension %s payload", oid);
    /* docs/protocol.md section 4: the extension value is a DER OCTET STRING wrapping the
     * payload. */
    int der_len = i2d_ASN1_OCTET_STRING(inner, &der);
    KG_ENSURE_OSSL_C(der_len > 0, KG_ERR_CRYPTO, "x509: encoding extension %s", oid);
    KG_GUARD_OSSL_C(ASN1_OCTET_STRING_set(outer, der, der_len), KG_ERR_CRYPTO, "x509: extension %s",
                    oid);
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, outer);
    KG_ENSURE_OSSL_C(ext != NULL, KG_ERR_CRYPTO, "x509: extension %s", oid);
    KG_GUARD_OSSL_C(X509_add_ext(cert, ext, -1), KG_ERR_CRYPTO, "x509: adding extension %s", oid);
    rc = KG_OK;
cleanup:
    X509_EXTENSION_free(ext);
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(outer);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OBJECT_free(obj);
    return rc;
}

/* ---- DER OCTET STRING wrapping (extnValue payloads) ---------------------------------------- */

/* Appends DER OCTET STRING(payload) to out. */
static kg_result wrap_octets(kg_buf *out, const uint8_t *p, size_t n)
{
    KG_GUARD(kg_buf_append_u8(out, 0x04));
    if (n < 0x80) {
        KG_GUARD(kg_buf_append_u8(out, (uint8_t)n));
    } else {
        uint8_t len[4];
        size_t k = 0;
        for (size_t v = n; v > 0; v >>= 8)
            k++;
        KG_ENSURE(k <= 3, KG_ERR_TOO_LARGE, "extension payload too large");
        for (size_t i = 0; i < k; i++)
            len[i] = (uint8_t)(n >> (8 * (k - 1 - i)));
        KG_GUARD(kg_buf_append_u8(out, (uint8_t)(0x80 | k)));
        KG_GUARD(kg_buf_append(out, len, k));
    }
    return kg_buf_append(out, p, n);
}

/*
 * Reads exactly one DER OCTET STRING (tag 04, minimal definite length of at most 3 bytes)
 * spanning all of `data`; borrows the payload.
 */
kg_result kg_ratls_unwrap_octets(const uint8_t **payload, size_t *payload_len, const uint8_t *data,
                                 size_t len, const char *what)
{
    kg_reader r;
    uint8_t tag, l0;
    size_t n = 0;
    kg_reader_init(&r, data, len);
    KG_GUARD_CTX(kg_reader_u8(&r, &tag, "tag"), "%s", what);
    KG_ENSURE(tag == 0x04, KG_ERR_INPUT, "%s: not a DER OCTET STRING (tag 0x%02x)", what, tag);
    KG_GUARD_CTX(kg_reader_u8(&r, &l0, "length"), "%s", what);
    if (l0 < 0x80) {
        n = l0;
    } else {
        size_t k = l0 & 0x7f;
        KG_ENSURE(k >= 1 && k <= 3, KG_ERR_INPUT, "%s: unsupported DER length form 0x%02x", what,
                  l0);
        for (size_t i = 0; i < k; i++) {
            uint8_t b;
            KG_GUARD_CTX(kg_reader_u8(&r, &b, "length"), "%s", what);
            KG_ENSURE(i > 0 || b != 0, KG_ERR_INPUT, "%s: non-minimal DER length", what);
            n = (n << 8) | b;
        }
        KG_ENSURE(n >= 0x80, KG_ERR_INPUT, "%s: non-minimal DER length", what);
    }
    KG_ENSURE(n == kg_reader_remaining(&r), KG_ERR_INPUT,
              "%s: OCTET STRING length %zu does not span the extension (%zu left)", what, n,
              kg_reader_remaining(&r));
    KG_GUARD(kg_reader_ptr(&r, payload, n, what));
    *payload_len = n;
    return kg_reader_expect_end(&r, what);
}

/* ---- creation ---------------------------------------------------------------------------- */

static kg_result add_custom_ext(X509 *c, const char *oid, const uint8_t *p, size_t n)
{
    kg_result rc = KG_ERROR;
    kg_buf wrapped;
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    kg_buf_init(&wrapped, KG_MAX_RATLS_CERT_LEN);
    KG_ENSURE_OSSL_C(obj != NULL && os != NULL, KG_ERR_NOMEM, "extension %s", oid);
    KG_GUARD_C(wrap_octets(&wrapped, p, n));
    KG_GUARD_OSSL_C(ASN1_OCTET_STRING_set(os, wrapped.data, (int)wrapped.len), KG_ERR_CRYPTO,
                    "extension %s", oid);
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0 /* non-critical */, os);
    KG_ENSURE_OSSL_C(ext != NULL && X509_add_ext(c, ext, -1) == 1, KG_ERR_CRYPTO,
                     "adding extension %s", oid);
    rc = KG_OK;
cleanup:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    kg_buf_free(&wrapped);
    return rc;
}

kg_result kg_ratls_format_from_name(kg_ratls_format *out, const char *name)
{
    if (strcmp(name, "legacy") == 0)
        *out = KG_RATLS_FORMAT_LEGACY;
    else if (strcmp(name, "dstack") == 0 || strcmp(name, "v8") == 0)
        *out = KG_RATLS_FORMAT_V8;
    else if (strcmp(name, "dstack-msgpack") == 0)
        *out = KG_RATLS_FORMAT_V8_MSGPACK;
    else
        KG_BAIL(KG_ERR_USAGE, "RA-TLS format '%s' is none of legacy, dstack, dstack-msgpack", name);
    return KG_OK;
}

kg_result kg_ratls_add_evidence_exts(X509 *c, kg_ratls_format format, const kg_p256_key *key,
                                     const uint8_t *quote, size_t quote_len,
                                     const char *eventlog_json, size_t eventlog_len,
                                     const char *config)
{
    if (format == KG_RATLS_FORMAT_LEGACY) {
        KG_GUARD(add_custom_ext(c, KG_OID_RATLS_QUOTE, quote, quote_len));
        return add_custom_ext(c, KG_OID_RATLS_EVENTLOG, (const uint8_t *)eventlog_json,
                              eventlog_len);
    }
    KG_ENSURE(format == KG_RATLS_FORMAT_V8 || format == KG_RATLS_FORMAT_V8_MSGPACK, KG_ERR_USAGE,
              "unknown RA-TLS certificate format %d", (int)format);
    /* .8: dstack's VersionedAttestation of the same evidence; its report_data is what the
     * quote must carry for this key (SHA-512("ratls-cert:" || SPKI)) */
    kg_result rc = KG_ERROR;
    kg_eventlog log;
    kg_buf att;
    uint8_t rd[64];
    kg_eventlog_init(&log);
    kg_buf_init(&att, KG_RATLS_MAX_ATTESTATION_LEN);
    KG_GUARD_CTX_C(kg_eventlog_parse(&log, eventlog_json, eventlog_len), "RA-TLS event log");
    bool any_v2 = false;
    for (size_t i = 0; i < log.count; i++)
        any_v2 |= log.events[i].imr == KG_EVENT_IMR_RUNTIME && log.events[i].v2;
    KG_GUARD_C(kg_ratls_key_report_data(rd, key));
    KG_GUARD_C(kg_ratls_attestation_encode(&att,
                                           format == KG_RATLS_FORMAT_V8_MSGPACK || any_v2
                                               ? KG_RATLS_ATTESTATION_V1
                                               : KG_RATLS_ATTESTATION_V0,
                                           quote, quote_len, &log, rd, config));
    KG_GUARD_C(add_custom_ext(c, KG_OID_RATLS_ATTESTATION, att.data, att.len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&att);
    kg_eventlog_free(&log);
    return rc;
}

static kg_result add_std_ext(X509 *c, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, c, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    KG_ENSURE_OSSL(ext != NULL, KG_ERR_CRYPTO, "extension %s", OBJ_nid2sn(nid));
    int ok = X509_add_ext(c, ext, -1);
    X509_EXTENSION_free(ext);
    KG_GUARD_OSSL(ok, KG_ERR_CRYPTO, "adding extension %s", OBJ_nid2sn(nid));
    return KG_OK;
}

kg_result kg_ratls_attest_key(kg_buf *quote_out, kg_buf *eventlog_json_out, kg_tee *tee,
                              const kg_p256_key *key)
{
    kg_result rc = KG_ERROR;
    kg_buf spki;
    kg_eventlog log;
    uint8_t rd[64];
    kg_buf_init(&spki, 4096);
    kg_eventlog_init(&log);
    KG_GUARD_C(kg_p256_spki_der(&spki, key));
    KG_GUARD_C(kg_ratls_report_data(rd, spki.data, spki.len));
    /* read the log first: if an event lands in between, the quote's RTMR3 is newer than the
     * log and verification fails closed rather than attesting a stale identity */
    KG_GUARD_C(kg_tee_read_eventlog(tee, &log));
    KG_GUARD_C(kg_tee_get_quote(tee, quote_out, rd));
    KG_GUARD_C(kg_eventlog_to_json(eventlog_json_out, &log));
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&log);
    kg_buf_free(&spki);
    return rc;
}

kg_result kg_ratls_cert_new(kg_buf *out_der, kg_tee *tee, const kg_p256_key *key,
                            const kg_ratls_cert_opts *opts)
{
    kg_result rc = KG_ERROR;
    kg_buf quote, evlog;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&evlog, KG_MAX_EVENTLOG_JSON_LEN);
    KG_GUARD_CTX_C(kg_ratls_attest_key(&quote, &evlog, tee, key), "RA-TLS evidence");
    KG_GUARD_C(kg_ratls_cert_build(out_der, key, opts, quote.data, quote.len,
                                   (const char *)evlog.data, evlog.len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&quote);
    kg_buf_free(&evlog);
    return rc;
}

kg_result kg_ratls_cert_build(kg_buf *out_der, const kg_p256_key *key,
                              const kg_ratls_cert_opts *opts, const uint8_t *quote,
                              size_t quote_len, const char *eventlog_json, size_t eventlog_len)
{
    kg_result rc = KG_ERROR;
    kg_ratls_cert_opts o = {0};
    kg_buf san;
    X509 *c = NULL, *issuer = NULL;
    BIGNUM *bn = NULL;
    uint8_t *der = NULL;
    uint8_t serial[16];
    kg_buf_init(&san, 64 * 1024);
    if (opts != NULL)
        o = *opts;
    KG_ENSURE_C((o.issuer_key == NULL) == (o.issuer_cert_der == NULL), KG_ERR_USAGE,
                "RA-TLS issuer needs both key and certificate");
    KG_ENSURE_C(o.usage == NULL || strlen(o.usage) <= KG_RATLS_MAX_USAGE_LEN, KG_ERR_USAGE,
                "usage too long");
    uint64_t now = (uint64_t)time(NULL);
    if (o.not_before == 0)
        o.not_before = now - 3600;
    if (o.not_after == 0)
        o.not_after = o.not_before + 365u * 86400u;
    c = X509_new();
    KG_ENSURE_OSSL_C(c != NULL, KG_ERR_NOMEM, "X509_new");
    KG_GUARD_OSSL_C(X509_set_version(c, 2), KG_ERR_CRYPTO, "version");
    KG_GUARD_C(kg_random(serial, sizeof(serial)));
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    KG_ENSURE_OSSL_C(bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL,
                     KG_ERR_CRYPTO, "serial");
    KG_ENSURE_OSSL_C(ASN1_TIME_set(X509_getm_notBefore(c), (time_t)o.not_before) != NULL &&
                         ASN1_TIME_set(X509_getm_notAfter(c), (time_t)o.not_after) != NULL,
                     KG_ERR_CRYPTO, "validity");
    const char *cn = o.common_name ? o.common_name : "keygate RA-TLS";
    KG_GUARD_OSSL_C(X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
                                               (const uint8_t *)cn, -1, -1, 0),
                    KG_ERR_CRYPTO, "subject");
    if (o.issuer_cert_der != NULL) {
        const uint8_t *p = o.issuer_cert_der;
        issuer = d2i_X509(NULL, &p, (long)o.issuer_cert_der_len);
        KG_ENSURE_OSSL_C(issuer != NULL, KG_ERR_INPUT, "issuer certificate is not DER X.509");
        KG_GUARD_OSSL_C(X509_set_issuer_name(c, X509_get_subject_name(issuer)), KG_ERR_CRYPTO,
                        "issuer");
    } else {
        KG_GUARD_OSSL_C(X509_set_issuer_name(c, X509_get_subject_name(c)), KG_ERR_CRYPTO, "issuer");
    }
    KG_GUARD_OSSL_C(X509_set_pubkey(c, kg_p256_evp(key)), KG_ERR_CRYPTO, "public key");
    X509 *iss = issuer ? issuer : c;
    KG_GUARD_C(add_std_ext(c, iss, NID_basic_constraints,
                           o.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"));
    KG_GUARD_C(add_std_ext(c, iss, NID_key_usage,
                           o.is_ca ? "critical,digitalSignature,keyCertSign,cRLSign"
                                   : "critical,digitalSignature,keyAgreement"));
    if (!o.is_ca)
        KG_GUARD_C(add_std_ext(c, iss, NID_ext_key_usage, "serverAuth,clientAuth"));
    KG_GUARD_C(add_std_ext(c, iss, NID_subject_key_identifier, "hash"));
    if (issuer != NULL)
        KG_GUARD_C(add_std_ext(c, iss, NID_authority_key_identifier, "keyid:always"));
    if (o.n_dns_names > 0) {
        for (size_t i = 0; i < o.n_dns_names; i++)
            KG_GUARD_C(kg_buf_printf(&san, "%sDNS:%s", i ? "," : "", o.dns_names[i]));
        KG_GUARD_C(kg_buf_terminate(&san));
        KG_GUARD_C(add_std_ext(c, iss, NID_subject_alt_name, (char *)san.data));
    }
    KG_GUARD_C(kg_ratls_add_evidence_exts(c, o.format, key, quote, quote_len, eventlog_json,
                                          eventlog_len, NULL));
    if (o.app_id != NULL)
        KG_GUARD_C(add_custom_ext(c, KG_OID_RATLS_APP_ID, o.app_id, KG_APP_ID_LEN));
    if (o.usage != NULL)
        KG_GUARD_C(
            add_custom_ext(c, KG_OID_RATLS_USAGE, (const uint8_t *)o.usage, strlen(o.usage)));
    const kg_p256_key *signer = o.issuer_key ? o.issuer_key : key;
    KG_ENSURE_OSSL_C(X509_sign(c, kg_p256_evp(signer), EVP_sha256()) > 0, KG_ERR_CRYPTO,
                     "signing RA-TLS certificate");
    int n = i2d_X509(c, &der);
    KG_ENSURE_OSSL_C(n > 0, KG_ERR_CRYPTO, "encoding RA-TLS certificate");
    KG_GUARD_C(kg_buf_append(out_der, der, (size_t)n));
    rc = KG_OK;
cleanup:
    OPENSSL_free(der);
    BN_free(bn);
    X509_free(issuer);
    X509_free(c);
    kg_buf_free(&san);
    return rc;
}

/* ---- parse ------------------------------------------------------------------------------- */

void kg_ratls_evidence_free(kg_ratls_evidence *ev)
{
    if (ev == NULL)
        return;
    kg_buf_free(&ev->quote);
    kg_buf_free(&ev->eventlog);
    kg_buf_free(&ev->spki);
    memset(ev, 0, sizeof(*ev));
}

static kg_result asn1_time_unix(uint64_t *out, const ASN1_TIME *t, const char *what)
{
    struct tm tm;
    KG_ENSURE_OSSL(t != NULL && ASN1_TIME_to_tm(t, &tm) == 1, KG_ERR_INPUT, "certificate %s", what);
    time_t v = timegm(&tm);
    KG_ENSURE(v >= 0, KG_ERR_INPUT, "certificate %s before 1970", what);
    *out = (uint64_t)v;
    return KG_OK;
}

/* Finds the single extension with this OID; *data NULL when absent. */
static kg_result find_ext(const uint8_t **data, size_t *len, X509 *c, const char *oid)
{
    kg_result rc = KG_ERROR;
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    *data = NULL;
    *len = 0;
    KG_ENSURE_OSSL_C(obj != NULL, KG_ERR_NOMEM, "OID %s", oid);
    int idx = X509_get_ext_by_OBJ(c, obj, -1);
    if (idx >= 0) {
        KG_ENSURE_C(X509_get_ext_by_OBJ(c, obj, idx) < 0, KG_ERR_INPUT,
                    "extension %s appears twice", oid);
        X509_EXTENSION *ext = X509_get_ext(c, idx);
        KG_ENSURE_C(!X509_EXTENSION_get_critical(ext), KG_ERR_INPUT,
                    "extension %s must not be critical", oid);
        ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
        KG_GUARD_C(kg_ratls_unwrap_octets(data, len, ASN1_STRING_get0_data(os),
                                          (size_t)ASN1_STRING_length(os), oid));
    }
    rc = KG_OK;
cleanup:
    ASN1_OBJECT_free(obj);
    return rc;
}

void kg_ratls_evidence_init(kg_ratls_evidence *ev)
{
    memset(ev, 0, sizeof(*ev));
    kg_buf_init(&ev->quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&ev->eventlog, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&ev->spki, 4096);
}

kg_result kg_ratls_evidence_from_attestation(kg_ratls_evidence *out, const kg_ratls_attestation *a)
{
    KG_GUARD(kg_buf_append(&out->quote, a->quote.data, a->quote.len));
    /* the runtime events are what RTMR3 replays; verification reads them as an event log */
    KG_GUARD(kg_eventlog_to_json(&out->eventlog, &a->runtime_events));
    out->has_attestation = true;
    out->attestation_wire = a->wire;
    memcpy(out->attestation_report_data, a->report_data, 64);
    return KG_OK;
}

static kg_result evidence_from_attestation(kg_ratls_evidence *out, const uint8_t *p, size_t n)
{
    kg_ratls_attestation a;
    kg_result rc = kg_ratls_attestation_parse(&a, p, n);
    if (kg_ok(rc))
        rc = kg_ratls_evidence_from_attestation(out, &a);
    kg_ratls_attestation_free(&a);
    return rc;
}

kg_result kg_ratls_parse_cert(kg_ratls_evidence *out, const uint8_t *der, size_t der_len)
{
    kg_ratls_evidence_init(out);
    KG_ENSURE(der_len <= KG_MAX_RATLS_CERT_LEN && der_len <= 0x7fffffff, KG_ERR_TOO_LARGE,
              "certificate is %zu bytes, max %u", der_len, KG_MAX_RATLS_CERT_LEN);
    const uint8_t *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)der_len);
    KG_ENSURE_OSSL(c != NULL, KG_ERR_INPUT, "not a DER X.509 certificate");
    kg_result rc = p == der + der_len ? kg_ratls_parse_x509(out, c)
                                      : kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                                                     "trailing bytes after the certificate");
    X509_free(c);
    return rc;
}

kg_result kg_ratls_parse_x509(kg_ratls_evidence *out, X509 *c)
{
    KG_GUARD(kg_ratls_parse_x509_fields(out, c));
    /* A self-issued certificate (issuer name == subject name, and no authority key id other
     * than its own) must carry a valid signature by its own key, so its fields cannot be
     * edited by someone without the key. (Unbound fields such as usage are claims of the key
     * holder; possession of the key is what TLS proves.) */
    const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(c);
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(c);
    out->self_issued = X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(c)) == 0 &&
                       (akid == NULL || (skid != NULL && ASN1_OCTET_STRING_cmp(akid, skid) == 0));
    if (out->self_issued) {
        EVP_PKEY *pk = X509_get0_pubkey(c);
        int ok = pk != NULL ? X509_verify(c, pk) : 0;
        out->self_signature_ok = ok == 1;
    }
    ERR_clear_error();
    return KG_OK;
}

kg_result kg_ratls_parse_x509_fields(kg_ratls_evidence *out, X509 *c)
{
    kg_result rc = KG_ERROR;
    uint8_t *spki = NULL;
    const uint8_t *p;
    size_t n;
    kg_ratls_evidence_init(out);
    /* The DER length the certificate was decoded from (cached by OpenSSL: no re-encoding). */
    int der_len = i2d_X509(c, NULL);
    KG_ENSURE_OSSL_C(der_len > 0, KG_ERR_INPUT, "certificate cannot be encoded");
    KG_ENSURE_C((size_t)der_len <= KG_MAX_RATLS_CERT_LEN, KG_ERR_TOO_LARGE,
                "certificate is %d bytes, max %u", der_len, KG_MAX_RATLS_CERT_LEN);

    const uint8_t *att;
    size_t att_len;
    KG_GUARD_C(find_ext(&att, &att_len, c, KG_OID_RATLS_ATTESTATION));
    KG_GUARD_C(find_ext(&p, &n, c, KG_OID_RATLS_QUOTE));
    if (att != NULL) {
        /* dstack's .8 replaces .1/.2: a certificate carrying both could be read two ways */
        const uint8_t *el;
        size_t el_len;
        KG_GUARD_C(find_ext(&el, &el_len, c, KG_OID_RATLS_EVENTLOG));
        KG_ENSURE_C(p == NULL && el == NULL, KG_ERR_INPUT,
                    "certificate carries both the attestation extension (.8) and the legacy "
                    "quote or event log extension (.1/.2)");
        KG_GUARD_CTX_C(evidence_from_attestation(out, att, att_len),
                       "RA-TLS attestation extension");
    } else {
        KG_ENSURE_C(p != NULL, KG_ERR_INPUT,
                    "certificate has no RA-TLS quote extension (.1) or attestation (.8)");
        KG_ENSURE_C(n <= KG_MAX_TEE_QUOTE_LEN, KG_ERR_TOO_LARGE, "quote extension is %zu bytes", n);
        KG_GUARD_C(kg_buf_append(&out->quote, p, n));

        KG_GUARD_C(find_ext(&p, &n, c, KG_OID_RATLS_EVENTLOG));
        if (p != NULL) {
            KG_ENSURE_C(n <= KG_MAX_EVENTLOG_JSON_LEN, KG_ERR_TOO_LARGE,
                        "event log extension is %zu bytes", n);
            KG_GUARD_C(kg_buf_append(&out->eventlog, p, n));
        }
    }
    KG_GUARD_C(kg_buf_terminate(&out->eventlog));

    KG_GUARD_C(find_ext(&p, &n, c, KG_OID_RATLS_APP_ID));
    if (p != NULL) {
        KG_ENSURE_C(n == KG_APP_ID_LEN, KG_ERR_INPUT, "app id extension is %zu bytes, want 20", n);
        memcpy(out->app_id, p, KG_APP_ID_LEN);
        out->has_app_id = true;
    }

    KG_GUARD_C(find_ext(&p, &n, c, KG_OID_RATLS_USAGE));
    if (p != NULL) {
        KG_ENSURE_C(n <= KG_RATLS_MAX_USAGE_LEN, KG_ERR_TOO_LARGE,
                    "usage extension is %zu bytes, max %u", n, KG_RATLS_MAX_USAGE_LEN);
        for (size_t i = 0; i < n; i++)
            KG_ENSURE_C(p[i] > 0x20 && p[i] < 0x7f, KG_ERR_INPUT,
                        "usage extension is not printable ASCII");
        memcpy(out->usage, p, n);
        out->usage[n] = '\0';
        out->has_usage = true;
    }

    int sl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &spki);
    KG_ENSURE_OSSL_C(sl > 0, KG_ERR_INPUT, "certificate public key");
    KG_GUARD_C(kg_buf_append(&out->spki, spki, (size_t)sl));
    KG_GUARD_C(asn1_time_unix(&out->not_before, X509_get0_notBefore(c), "notBefore"));
    KG_GUARD_C(asn1_time_unix(&out->not_after, X509_get0_notAfter(c), "notAfter"));
    rc = KG_OK;
cleanup:
    OPENSSL_free(spki);
    return rc;
}
