/* x509.c - issuing certificates with OpenSSL: the KMS root CA, temporary CA, server TLS cert
 * (RA-TLS usage "kms:rpc"), app CAs and leaves, and RA-TLS client certs for tests. */
#include "keygate/kms_x509.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <string.h>
#include <stdio.h>

static kg_result add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    KG_ENSURE_OSSL(ext != NULL, KG_ERR_CRYPTO, "x509: extension %s = %s", OBJ_nid2sn(nid), value);
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    KG_ENSURE_OSSL(ok == 1, KG_ERR_CRYPTO, "x509: adding extension %s", OBJ_nid2sn(nid));
    return KG_OK;
}

bool kg_kms_x509_san_ok(const char *name, bool *is_ip)
{
    uint8_t addr[16];
    *is_ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    if (*is_ip)
        return true;
    size_t n = strlen(name), label = 0;
    if (n == 0 || n > KG_KMS_MAX_DNS_NAME)
        return false;
    const char *p = name;
    if (n > 2 && p[0] == '*' && p[1] == '.')
        p += 2; /* one leading wildcard label */
    for (; *p; p++) {
        char c = *p;
        if (c == '.') {
            if (label == 0 || p[-1] == '-')
                return false; /* empty label, or one ending in '-' */
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && p[-1] != '-';
}

/* subjectAltName from the spec's names, built as GENERAL_NAMEs (never through the config
 * string parser, where a ',' in a name would add another entry). */
static kg_result add_sans(X509 *cert, const kg_kms_cert_spec *spec)
{
    size_t n = spec->n_alt_names + (spec->dns_name != NULL);
    if (n == 0)
        return KG_OK;
    kg_result rc = KG_ERROR;
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    KG_ENSURE_OSSL(names != NULL, KG_ERR_NOMEM, "x509: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = i < spec->n_alt_names ? spec->alt_names[i] : spec->dns_name;
        bool ip = false;
        KG_ENSURE_C(name != NULL && kg_kms_x509_san_ok(name, &ip), KG_ERR_INPUT,
                    "x509: subject alternative name '%.64s' is neither an IP address nor a DNS "
                    "name",
                    name ? name : "(null)");
        GENERAL_NAME *gn =
            ip ? a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, name, 0) : GENERAL_NAME_new();
        KG_ENSURE_OSSL_C(gn != NULL, KG_ERR_CRYPTO, "x509: name '%.64s'", name);
        if (!ip) {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            if (s == NULL || ASN1_STRING_set(s, name, (int)strlen(name)) != 1) {
                ASN1_IA5STRING_free(s);
                GENERAL_NAME_free(gn);
                KG_BAIL_C(KG_ERR_NOMEM, "x509: out of memory");
            }
            GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        }
        if (sk_GENERAL_NAME_push(names, gn) <= 0) {
            GENERAL_NAME_free(gn);
            KG_BAIL_C(KG_ERR_NOMEM, "x509: out of memory");
        }
    }
    KG_GUARD_OSSL_C(X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT),
                    KG_ERR_CRYPTO, "x509: subjectAltName");
    rc = KG_OK;
cleanup:
    GENERAL_NAMES_free(names);
    return rc;
}

kg_result kg_kms_x509_issue(X509 **out, EVP_PKEY *subject_key, const kg_kms_cert_spec *spec,
                            EVP_PKEY *issuer_key, X509 *issuer)
{
    *out = NULL;
    kg_result rc = KG_ERROR;
    X509 *cert = X509_new();
    BIGNUM *serial = BN_new();
    KG_ENSURE_OSSL_C(cert && serial, KG_ERR_NOMEM, "x509: out of memory");
    KG_GUARD_OSSL_C(X509_set_version(cert, 2), KG_ERR_CRYPTO, "x509: version");
    KG_GUARD_OSSL_C(BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), KG_ERR_CRYPTO,
                    "x509: serial");
    KG_ENSURE_OSSL_C(BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) != NULL, KG_ERR_CRYPTO,
                     "x509: serial");
    if (spec->not_before != 0)
        KG_ENSURE_OSSL_C(ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)spec->not_before) != NULL,
                         KG_ERR_CRYPTO, "x509: notBefore");
    else
        KG_ENSURE_OSSL_C(X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL, KG_ERR_CRYPTO,
                         "x509: notBefore");
    if (spec->not_after != 0)
        KG_ENSURE_OSSL_C(ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)spec->not_after) != NULL,
                         KG_ERR_CRYPTO, "x509: notAfter");
    else
        KG_ENSURE_OSSL_C(X509_time_adj_ex(X509_getm_notAfter(cert), (int)spec->days, 0, NULL) !=
                             NULL,
                         KG_ERR_CRYPTO, "x509: notAfter");
    X509_NAME *name = X509_get_subject_name(cert);
    if (spec->org_name != NULL)
        KG_GUARD_OSSL_C(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                   (const unsigned char *)spec->org_name, -1, -1,
                                                   0),
                        KG_ERR_CRYPTO, "x509: subject organization");
    KG_GUARD_OSSL_C(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                               (const unsigned char *)spec->common_name, -1, -1, 0),
                    KG_ERR_CRYPTO, "x509: subject");
    KG_GUARD_OSSL_C(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name),
                    KG_ERR_CRYPTO, "x509: issuer");
    KG_GUARD_OSSL_C(X509_set_pubkey(cert, subject_key), KG_ERR_CRYPTO, "x509: public key");

    KG_GUARD_C(add_ext(cert, issuer, NID_subject_key_identifier, "hash"));
    KG_GUARD_C(add_ext(cert, issuer ? issuer : cert, NID_authority_key_identifier, "keyid"));
    if (spec->is_ca) {
        /* Every CA is path-length constrained: the root issues app CAs and server leaves
         * (pathlen 1), an app CA or the temporary CA issue leaves only (pathlen 0). */
        char bc[64];
        KG_ENSURE_C(spec->path_len <= 8, KG_ERR_USAGE, "x509: path length %u", spec->path_len);
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%u", spec->path_len);
        KG_GUARD_C(add_ext(cert, issuer, NID_basic_constraints, bc));
        KG_GUARD_C(add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign"));
    } else {
        KG_GUARD_C(add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE"));
        KG_GUARD_C(add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature"));
    }
    if (spec->server_auth || spec->client_auth)
        KG_GUARD_C(add_ext(cert, issuer, NID_ext_key_usage,
                           spec->server_auth && spec->client_auth ? "serverAuth,clientAuth"
                           : spec->server_auth                    ? "serverAuth"
                                                                  : "clientAuth"));
    KG_GUARD_C(add_sans(cert, spec));
    if (spec->usage != NULL)
        KG_GUARD_C(kg_ratls_add_ext(cert, KG_OID_RATLS_USAGE, (const uint8_t *)spec->usage,
                                    strlen(spec->usage)));
    if (spec->app_id != NULL)
        KG_GUARD_C(kg_ratls_add_ext(cert, KG_OID_RATLS_APP_ID, spec->app_id, 20));
    if (spec->quote != NULL)
        KG_GUARD_C(kg_ratls_add_ext(cert, KG_OID_RATLS_QUOTE, spec->quote, spec->quote_len));
    if (spec->eventlog != NULL)
        KG_GUARD_C(
            kg_ratls_add_ext(cert, KG_OID_RATLS_EVENTLOG, spec->eventlog, spec->eventlog_len));
    if (spec->attestation != NULL)
        KG_GUARD_C(kg_ratls_add_ext(cert, KG_OID_RATLS_ATTESTATION, spec->attestation,
                                    spec->attestation_len));
    KG_ENSURE_OSSL_C(X509_sign(cert, issuer_key ? issuer_key : subject_key, EVP_sha256()) > 0,
                     KG_ERR_CRYPTO, "x509: signing '%s'", spec->common_name);
    *out = cert;
    cert = NULL;
    rc = KG_OK;
cleanup:
    BN_free(serial);
    X509_free(cert);
    return rc;
}

kg_result kg_kms_x509_pem(kg_buf *out, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    KG_ENSURE_OSSL(bio != NULL, KG_ERR_NOMEM, "x509: out of memory");
    kg_result rc = KG_ERROR;
    char *data = NULL;
    KG_GUARD_OSSL_C(PEM_write_bio_X509(bio, cert), KG_ERR_CRYPTO, "x509: PEM");
    long n = BIO_get_mem_data(bio, &data);
    KG_ENSURE_C(n > 0, KG_ERR_CRYPTO, "x509: empty PEM");
    KG_GUARD_C(kg_buf_append(out, data, (size_t)n));
    KG_GUARD_C(kg_buf_terminate(out));
    rc = KG_OK;
cleanup:
    BIO_free(bio);
    return rc;
}

kg_result kg_kms_x509_from_pem(X509 **out, const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    KG_ENSURE_OSSL(bio != NULL, KG_ERR_NOMEM, "x509: out of memory");
    *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    KG_ENSURE_OSSL(*out != NULL, KG_ERR_INPUT, "x509: not a PEM certificate");
    return KG_OK;
}
