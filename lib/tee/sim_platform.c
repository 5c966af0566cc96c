/* sim_platform.c - creating a simulated TDX platform: test PKI, PCK certificate with Intel's SGX
 * extensions, QE report binding the attestation key, measurement profile and signed collateral
 * (TCB Info v3 for TDX, QE Identity v2 for TD_QE, root and PCK CRLs).
 *
 * Map: 1. DER bits for the SGX extension  2. certificates and CRLs  3. profile
 *      4. collateral  5. kg_sim_init / refresh / accessors
 * Field facts follow Intel's "SGX PCK Certificate and CRL Profile" and the PCS v4 API. */
#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "tee/sim_internal.h"
#include "tee/tee_internal.h"

#define SIM_CERT_YEARS 10u
#define DAY 86400u

/* Fixed facts of the simulated hardware, mirroring a real TDX platform's shape. */
static const uint8_t SIM_FMSPC[6] = {0x90, 0xc0, 0x6f, 0x00, 0x00, 0x00};
static const uint8_t SIM_PCE_ID[2] = {0x00, 0x00};
static const uint8_t SIM_CPU_SVN[16] = {3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint16_t SIM_PCE_SVN = 11;
/* [0] TDX module SVN 6, [1] module major version 1 (identity TDX_01), [2] late microcode 3 */
static const uint8_t SIM_TEE_TCB_SVN[16] = {6, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
/* TD attributes: SEPT_VE_DISABLE (bit 28), not DEBUG; XFAM as a common x86 guest */
static const uint8_t SIM_TD_ATTR[8] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00};
static const uint8_t SIM_XFAM[8] = {0xe7, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00};
/* Intel's QE vendor id (the quote format's constant) */
static const uint8_t SIM_QE_VENDOR[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                          0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
static const uint16_t SIM_QE_PRODID = 2;
static const uint16_t SIM_QE_SVN = 6;
static const uint8_t SIM_QE_ATTR[16] = {0x15, 0, 0, 0, 0, 0, 0, 0, 0xe7, 0, 0, 0, 0, 0, 0, 0};

/* ---- 1. DER bits ----------------------------------------------------------------------------- */

static kg_result der_len(kg_buf *b, size_t n)
{
    if (n < 0x80)
        return kg_buf_append_u8(b, (uint8_t)n);
    if (n < 0x100) {
        KG_GUARD(kg_buf_append_u8(b, 0x81));
        return kg_buf_append_u8(b, (uint8_t)n);
    }
    KG_ENSURE(n < 0x10000, KG_ERR_INTERNAL, "DER length too large");
    KG_GUARD(kg_buf_append_u8(b, 0x82));
    KG_GUARD(kg_buf_append_u8(b, (uint8_t)(n >> 8)));
    return kg_buf_append_u8(b, (uint8_t)n);
}

static kg_result der_tlv(kg_buf *b, uint8_t tag, const void *v, size_t n)
{
    KG_GUARD(kg_buf_append_u8(b, tag));
    KG_GUARD(der_len(b, n));
    return kg_buf_append(b, v, n);
}

/* OID 1.2.840.113741.1.13.1[.a[.b]] (arcs below 128 encode as one byte each). */
static kg_result der_sgx_oid(kg_buf *b, int a, int c)
{
    uint8_t oid[11] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};
    size_t n = 9;
    if (a > 0)
        oid[n++] = (uint8_t)a;
    if (c > 0)
        oid[n++] = (uint8_t)c;
    return der_tlv(b, 0x06, oid, n);
}

static kg_result der_uint(kg_buf *b, unsigned v)
{
    uint8_t tmp[3];
    size_t n = 0;
    if (v >= 0x100) {
        tmp[n++] = (uint8_t)(v >> 8);
    }
    tmp[n++] = (uint8_t)v;
    if (tmp[0] & 0x80) { /* keep INTEGER positive */
        memmove(tmp + 1, tmp, n);
        tmp[0] = 0;
        n++;
    }
    return der_tlv(b, 0x02, tmp, n);
}

/* SEQUENCE { OID, <value TLV> } appended to b. */
static kg_result der_pair(kg_buf *b, int a, int c, const kg_buf *value)
{
    kg_result rc = KG_ERROR;
    kg_buf inner;
    kg_buf_init(&inner, 4096);
    KG_GUARD_C(der_sgx_oid(&inner, a, c));
    KG_GUARD_C(kg_buf_append(&inner, value->data, value->len));
    KG_GUARD_C(der_tlv(b, 0x30, inner.data, inner.len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&inner);
    return rc;
}

/*
 * The SGX extension (OID 1.2.840.113741.1.13.1) of a PCK certificate issued by a Platform CA:
 * SEQUENCE { PPID(.1) OCTET STRING(16), TCB(.2) SEQUENCE { compsvn .2.1..16 INTEGER,
 * pcesvn .2.17 INTEGER, cpusvn .2.18 OCTET STRING(16) }, PCE-ID(.3) OCTET STRING(2),
 * FMSPC(.4) OCTET STRING(6), SGX Type(.5) ENUMERATED (1 = Platform), PlatformInstanceID(.6)
 * OCTET STRING(16), Configuration(.7) SEQUENCE { dynamicPlatform .7.1, cachedKeys .7.2,
 * SMTEnabled .7.3 BOOLEAN } }.
 */
static kg_result sgx_extension(kg_buf *out, const uint8_t ppid[16], const uint8_t instance[16])
{
    kg_result rc = KG_ERROR;
    kg_buf seq, tcb, v;
    kg_buf_init(&seq, 4096);
    kg_buf_init(&tcb, 4096);
    kg_buf_init(&v, 4096);
#define VRESET() kg_buf_reset(&v), v.len = 0
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x04, ppid, 16));
    KG_GUARD_C(der_pair(&seq, 1, 0, &v));
    for (int i = 1; i <= 16; i++) {
        VRESET();
        KG_GUARD_C(der_uint(&v, SIM_CPU_SVN[i - 1]));
        KG_GUARD_C(der_pair(&tcb, 2, i, &v));
    }
    VRESET();
    KG_GUARD_C(der_uint(&v, SIM_PCE_SVN));
    KG_GUARD_C(der_pair(&tcb, 2, 17, &v));
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x04, SIM_CPU_SVN, 16));
    KG_GUARD_C(der_pair(&tcb, 2, 18, &v));
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x30, tcb.data, tcb.len));
    KG_GUARD_C(der_pair(&seq, 2, 0, &v));
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x04, SIM_PCE_ID, 2));
    KG_GUARD_C(der_pair(&seq, 3, 0, &v));
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x04, SIM_FMSPC, 6));
    KG_GUARD_C(der_pair(&seq, 4, 0, &v));
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x0a, "\x01", 1));
    KG_GUARD_C(der_pair(&seq, 5, 0, &v));
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x04, instance, 16));
    KG_GUARD_C(der_pair(&seq, 6, 0, &v));
    kg_buf_reset(&tcb);
    tcb.len = 0;
    for (int i = 1; i <= 3; i++) {
        VRESET();
        KG_GUARD_C(der_tlv(&v, 0x01, i == 3 ? "\xff" : "\x00", 1));
        KG_GUARD_C(der_pair(&tcb, 7, i, &v));
    }
    VRESET();
    KG_GUARD_C(der_tlv(&v, 0x30, tcb.data, tcb.len));
    KG_GUARD_C(der_pair(&seq, 7, 0, &v));
#undef VRESET
    KG_GUARD_C(der_tlv(out, 0x30, seq.data, seq.len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&seq);
    kg_buf_free(&tcb);
    kg_buf_free(&v);
    return rc;
}

/* ---- 2. certificates and CRLs -------------------------------------------------------------- */

static kg_result set_name(X509_NAME *name, const char *cn)
{
    KG_GUARD_OSSL(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)cn, -1, -1, 0),
        KG_ERR_CRYPTO, "name CN");
    KG_GUARD_OSSL(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                             (const uint8_t *)"keygate simulator", -1, -1, 0),
                  KG_ERR_CRYPTO, "name O");
    KG_GUARD_OSSL(
        X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const uint8_t *)"US", -1, -1, 0),
        KG_ERR_CRYPTO, "name C");
    return KG_OK;
}

static kg_result add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    KG_ENSURE_OSSL(ext != NULL, KG_ERR_CRYPTO, "extension %s=%s", OBJ_nid2sn(nid), value);
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    KG_GUARD_OSSL(ok, KG_ERR_CRYPTO, "adding extension %s", OBJ_nid2sn(nid));
    return KG_OK;
}

typedef struct cert_spec {
    const char *cn;
    X509 *issuer; /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    EVP_PKEY *key;     /* subject key */
    const char *basic; /* basicConstraints value */
    const char *usage; /* keyUsage value */
    uint64_t not_before, not_after;
    const kg_buf *sgx_ext; /* NULL or the DER of the SGX extension */
} cert_spec;

static kg_result make_cert(X509 **out, const cert_spec *s)
{
    kg_result rc = KG_ERROR;
    X509 *c = X509_new();
    ASN1_OCTET_STRING *os = NULL;
    ASN1_OBJECT *obj = NULL;
    X509_EXTENSION *ext = NULL;
    uint8_t serial[16];
    BIGNUM *bn = NULL;
    KG_ENSURE_OSSL_C(c != NULL, KG_ERR_NOMEM, "X509_new");
    KG_GUARD_OSSL_C(X509_set_version(c, 2), KG_ERR_CRYPTO, "version");
    KG_GUARD_OSSL_C(RAND_bytes(serial, sizeof(serial)), KG_ERR_CRYPTO, "serial");
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    KG_ENSURE_OSSL_C(bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL,
                     KG_ERR_CRYPTO, "serial");
    KG_ENSURE_OSSL_C(ASN1_TIME_set(X509_getm_notBefore(c), (time_t)s->not_before) != NULL,
                     KG_ERR_CRYPTO, "notBefore");
    KG_ENSURE_OSSL_C(ASN1_TIME_set(X509_getm_notAfter(c), (time_t)s->not_after) != NULL,
                     KG_ERR_CRYPTO, "notAfter");
    KG_GUARD_C(set_name(X509_get_subject_name(c), s->cn));
    KG_GUARD_OSSL_C(X509_set_issuer_name(c, s->issuer ? X509_get_subject_name(s->issuer)
                                                      : X509_get_subject_name(c)),
                    KG_ERR_CRYPTO, "issuer");
    KG_GUARD_OSSL_C(X509_set_pubkey(c, s->key), KG_ERR_CRYPTO, "pubkey");
    X509 *iss = s->issuer ? s->issuer : c;
    KG_GUARD_C(add_ext(c, iss, NID_basic_constraints, s->basic));
    KG_GUARD_C(add_ext(c, iss, NID_key_usage, s->usage));
    KG_GUARD_C(add_ext(c, iss, NID_subject_key_identifier, "hash"));
    KG_GUARD_C(add_ext(c, iss, NID_authority_key_identifier, "keyid:always"));
    if (s->sgx_ext != NULL) {
        obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
        os = ASN1_OCTET_STRING_new();
        KG_ENSURE_OSSL_C(obj != NULL && os != NULL, KG_ERR_NOMEM, "SGX extension");
        KG_GUARD_OSSL_C(ASN1_OCTET_STRING_set(os, s->sgx_ext->data, (int)s->sgx_ext->len),
                        KG_ERR_CRYPTO, "SGX extension");
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        KG_ENSURE_OSSL_C(ext != NULL, KG_ERR_CRYPTO, "SGX extension");
        KG_ENSURE_OSSL_C(X509_add_ext(c, ext, -1) == 1, KG_ERR_CRYPTO, "adding SGX extension");
    }
    KG_ENSURE_OSSL_C(X509_sign(c, s->issuer_key, EVP_sha256()) > 0, KG_ERR_CRYPTO,
                     "signing certificate '%s'", s->cn);
    *out = c;
    c = NULL;
    rc = KG_OK;
cleanup:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    BN_free(bn);
    X509_free(c);
    return rc;
}

/* An empty CRL (v2, CRL number, AKI) by issuer, valid [now, now + days], as hex DER. */
static kg_result make_crl_hex(kg_buf *hex_out, X509 *issuer, EVP_PKEY *key, uint64_t now,
                              uint32_t days)
{
    kg_result rc = KG_ERROR;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = NULL;
    ASN1_INTEGER *num = NULL;
    uint8_t *der = NULL;
    KG_ENSURE_OSSL_C(crl != NULL, KG_ERR_NOMEM, "X509_CRL_new");
    KG_GUARD_OSSL_C(X509_CRL_set_version(crl, 1), KG_ERR_CRYPTO, "CRL version");
    KG_GUARD_OSSL_C(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), KG_ERR_CRYPTO,
                    "CRL issuer");
    t = ASN1_TIME_new();
    KG_ENSURE_OSSL_C(t != NULL && ASN1_TIME_set(t, (time_t)now) != NULL, KG_ERR_CRYPTO, "time");
    KG_GUARD_OSSL_C(X509_CRL_set1_lastUpdate(crl, t), KG_ERR_CRYPTO, "lastUpdate");
    KG_ENSURE_OSSL_C(ASN1_TIME_set(t, (time_t)(now + (uint64_t)days * DAY)) != NULL, KG_ERR_CRYPTO,
                     "time");
    KG_GUARD_OSSL_C(X509_CRL_set1_nextUpdate(crl, t), KG_ERR_CRYPTO, "nextUpdate");
    num = ASN1_INTEGER_new();
    KG_ENSURE_OSSL_C(num != NULL && ASN1_INTEGER_set_int64(num, (int64_t)(now / 60)) == 1,
                     KG_ERR_CRYPTO, "CRL number");
    KG_GUARD_OSSL_C(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0), KG_ERR_CRYPTO,
                    "CRL number");
    {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
        X509_EXTENSION *aki =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
        KG_ENSURE_OSSL_C(aki != NULL, KG_ERR_CRYPTO, "CRL AKI");
        int ok = X509_CRL_add_ext(crl, aki, -1);
        X509_EXTENSION_free(aki);
        KG_GUARD_OSSL_C(ok, KG_ERR_CRYPTO, "CRL AKI");
    }
    KG_ENSURE_OSSL_C(X509_CRL_sign(crl, key, EVP_sha256()) > 0, KG_ERR_CRYPTO, "signing CRL");
    int n = i2d_X509_CRL(crl, &der);
    KG_ENSURE_OSSL_C(n > 0, KG_ERR_CRYPTO, "encoding CRL");
    KG_GUARD_C(kg_buf_reserve(hex_out, 2 * (size_t)n + 1));
    KG_GUARD_C(
        kg_hex_encode((char *)hex_out->data + hex_out->len, 2 * (size_t)n + 1, der, (size_t)n));
    hex_out->len += 2 * (size_t)n;
    KG_GUARD_C(kg_buf_terminate(hex_out));
    rc = KG_OK;
cleanup:
    OPENSSL_free(der);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    return rc;
}

static kg_result save_cert(const char *dir, const char *name, X509 *cert)
{
    kg_result rc = KG_ERROR;
    kg_buf pem, path;
    kg_buf_init(&pem, SIM_MAX_FILE);
    KG_GUARD(kg_path_join(&path, dir, name));
    KG_GUARD_C(sim_cert_pem(&pem, cert));
    KG_GUARD_C(kg_file_write_atomic((char *)path.data, pem.data, pem.len, 0644));
    rc = KG_OK;
cleanup:
    kg_buf_free(&pem);
    kg_buf_free(&path);
    return rc;
}

static kg_result save_key(const char *dir, const char *name, EVP_PKEY *key)
{
    kg_buf path;
    KG_GUARD(kg_path_join(&path, dir, name));
    kg_result r = sim_key_save((char *)path.data, key);
    kg_buf_free(&path);
    return r;
}

static kg_result load_pair(X509 **cert, EVP_PKEY **key, const char *dir, const char *base)
{
    kg_buf path;
    kg_buf_init(&path, 4096);
    KG_GUARD(kg_buf_printf(&path, "%s/%s.pem", dir, base));
    KG_GUARD(kg_buf_terminate(&path));
    kg_result r = sim_cert_load(cert, (char *)path.data);
    if (kg_ok(r) && key != NULL) {
        kg_buf_reset(&path);
        path.len = 0;
        r = kg_buf_printf(&path, "%s/%s.key", dir, base);
        if (kg_ok(r))
            r = kg_buf_terminate(&path);
        if (kg_ok(r))
            r = sim_key_load(key, (char *)path.data);
    }
    kg_buf_free(&path);
    return r;
}

/* ---- 3. measurement profile ---------------------------------------------------------------- */

static kg_result component(uint8_t out[48], const char *image, const char *what)
{
    const void *parts[] = {"keygate-sim:", image, ":", what};
    const size_t lens[] = {12, strlen(image), 1, strlen(what)};
    return kg_sha384_parts(out, parts, lens, 4);
}

kg_result kg_sim_profile_compute(kg_sim_profile *out, const char *image)
{
    static const char *const rtmr_parts[3][3] = {
        {"td-hob", "acpi-tables", "tdvf-config"}, /* RTMR0: virtual hardware, firmware config */
        {"kernel", "gpt", NULL},                  /* RTMR1: kernel (as loaded by firmware) */
        {"cmdline", "initrd", NULL},              /* RTMR2: command line and initrd */
    };
    size_t n = strlen(image);
    memset(out, 0, sizeof(*out));
    KG_ENSURE(n > 0 && n <= KG_SIM_MAX_IMAGE_NAME, KG_ERR_USAGE,
              "image name must be 1..%u characters", KG_SIM_MAX_IMAGE_NAME);
    for (size_t i = 0; i < n; i++) {
        char c = image[i];
        KG_ENSURE((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-',
                  KG_ERR_USAGE, "image name '%s' may only use [A-Za-z0-9._-]", image);
    }
    memcpy(out->image, image, n);
    KG_GUARD(component(out->mrtd, image, "tdvf")); /* MRTD: the firmware's initial pages */
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 3 && rtmr_parts[r][i] != NULL; i++) {
            uint8_t d[48];
            KG_GUARD(component(d, image, rtmr_parts[r][i]));
            KG_GUARD(kg_rtmr_extend(out->rtmr[r], d));
        }
    }
    uint8_t regs[4][48];
    memcpy(regs, out->rtmr, sizeof(out->rtmr));
    memset(regs[3], 0, 48);
    return kg_measure_os_image_hash(out->os_image_hash, out->mrtd, (const uint8_t(*)[48])regs);
}

static kg_result hex_field(json_t *obj, const char *key, uint8_t *out, size_t n)
{
    json_t *v = json_object_get(obj, key);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "'%s' missing", key);
    KG_GUARD_CTX(kg_hex_decode_exact(out, n, json_string_value(v)), "'%s'", key);
    return KG_OK;
}

static kg_result put_hex(json_t *obj, const char *key, const uint8_t *v, size_t n)
{
    char hex[2 * 512 + 1];
    KG_ENSURE(n <= 512, KG_ERR_INTERNAL, "field too long");
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), v, n));
    KG_ENSURE(json_object_set_new(obj, key, json_string(hex)) == 0, KG_ERR_NOMEM, "json");
    return KG_OK;
}

static kg_result write_json(const char *dir, const char *name, json_t *obj, unsigned mode)
{
    kg_buf path;
    char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
    KG_ENSURE(text != NULL, KG_ERR_NOMEM, "json");
    kg_result r = kg_path_join(&path, dir, name);
    if (kg_ok(r))
        r = kg_file_write_atomic((char *)path.data, text, strlen(text), mode);
    free(text);
    kg_buf_free(&path);
    return r;
}

static kg_result load_json(json_t **out, const char *dir, const char *name)
{
    kg_buf raw;
    json_error_t jerr;
    KG_GUARD(sim_read(&raw, dir, name));
    *out = json_loadb((char *)raw.data, raw.len, JSON_REJECT_DUPLICATES, &jerr);
    kg_buf_free(&raw);
    KG_ENSURE(*out != NULL, KG_ERR_INPUT, "'%s/%s' is not JSON: %s", dir, name, jerr.text);
    return KG_OK;
}

kg_result kg_sim_profile_load(kg_sim_profile *out, const char *dir)
{
    kg_result rc = KG_ERROR;
    json_t *p = NULL;
    memset(out, 0, sizeof(*out));
    KG_GUARD(load_json(&p, dir, "profile.json"));
    const char *image = json_string_value(json_object_get(p, "image"));
    KG_ENSURE_C(image != NULL && strlen(image) <= KG_SIM_MAX_IMAGE_NAME, KG_ERR_INPUT,
                "profile.json: bad 'image'");
    memcpy(out->image, image, strlen(image));
    KG_GUARD_C(hex_field(p, "mrtd", out->mrtd, 48));
    KG_GUARD_C(hex_field(p, "rtmr0", out->rtmr[0], 48));
    KG_GUARD_C(hex_field(p, "rtmr1", out->rtmr[1], 48));
    KG_GUARD_C(hex_field(p, "rtmr2", out->rtmr[2], 48));
    KG_GUARD_C(hex_field(p, "os_image_hash", out->os_image_hash, 32));
    rc = KG_OK;
cleanup:
    json_decref(p);
    return rc;
}

static kg_result save_profile(const char *dir, const kg_sim_profile *pr)
{
    kg_result rc = KG_ERROR;
    json_t *p = json_object();
    KG_ENSURE_C(p != NULL && json_object_set_new(p, "image", json_string(pr->image)) == 0,
                KG_ERR_NOMEM, "json");
    KG_GUARD_C(put_hex(p, "mrtd", pr->mrtd, 48));
    KG_GUARD_C(put_hex(p, "rtmr0", pr->rtmr[0], 48));
    KG_GUARD_C(put_hex(p, "rtmr1", pr->rtmr[1], 48));
    KG_GUARD_C(put_hex(p, "rtmr2", pr->rtmr[2], 48));
    KG_GUARD_C(put_hex(p, "os_image_hash", pr->os_image_hash, 32));
    KG_GUARD_C(write_json(dir, "profile.json", p, 0644));
    rc = KG_OK;
cleanup:
    json_decref(p);
    return rc;
}

/* ---- platform record ------------------------------------------------------------------------ */

kg_result sim_platform_load(sim_platform *out, const char *dir)
{
    kg_result rc = KG_ERROR;
    json_t *p = NULL;
    memset(out, 0, sizeof(*out));
    KG_GUARD_CTX(load_json(&p, dir, "platform.json"), "simulated platform");
    json_t *svn = json_object_get(p, "pce_svn");
    KG_ENSURE_C(json_is_integer(svn) && json_integer_value(svn) >= 0 &&
                    json_integer_value(svn) <= 0xffff,
                KG_ERR_INPUT, "platform.json: bad 'pce_svn'");
    out->pce_svn = (uint16_t)json_integer_value(svn);
    json_t *newest = json_object_get(p, "newest_pce_svn");
    KG_ENSURE_C(json_is_integer(newest) && json_integer_value(newest) >= out->pce_svn &&
                    json_integer_value(newest) <= 0xffff,
                KG_ERR_INPUT, "platform.json: bad 'newest_pce_svn'");
    out->newest_pce_svn = (uint16_t)json_integer_value(newest);
    KG_GUARD_C(hex_field(p, "fmspc", out->fmspc, 6));
    KG_GUARD_C(hex_field(p, "pce_id", out->pce_id, 2));
    KG_GUARD_C(hex_field(p, "ppid", out->ppid, 16));
    KG_GUARD_C(hex_field(p, "cpu_svn", out->cpu_svn, 16));
    KG_GUARD_C(hex_field(p, "tee_tcb_svn", out->tee_tcb_svn, 16));
    KG_GUARD_C(hex_field(p, "mr_seam", out->mr_seam, 48));
    KG_GUARD_C(hex_field(p, "td_attributes", out->td_attributes, 8));
    KG_GUARD_C(hex_field(p, "xfam", out->xfam, 8));
    KG_GUARD_C(hex_field(p, "qe_vendor_id", out->qe_vendor_id, 16));
    KG_GUARD_C(hex_field(p, "user_data", out->user_data, 20));
    KG_GUARD_C(hex_field(p, "qe_report", out->qe_report, 384));
    KG_GUARD_C(hex_field(p, "qe_report_signature", out->qe_report_sig, 64));
    KG_GUARD_C(hex_field(p, "qe_auth_data", out->qe_auth_data, 32));
    rc = KG_OK;
cleanup:
    json_decref(p);
    return rc;
}

static kg_result save_platform(const char *dir, const sim_platform *pf)
{
    kg_result rc = KG_ERROR;
    json_t *p = json_object();
    KG_ENSURE_C(p != NULL && json_object_set_new(p, "pce_svn", json_integer(pf->pce_svn)) == 0 &&
                    json_object_set_new(p, "newest_pce_svn", json_integer(pf->newest_pce_svn)) == 0,
                KG_ERR_NOMEM, "json");
    KG_GUARD_C(put_hex(p, "fmspc", pf->fmspc, 6));
    KG_GUARD_C(put_hex(p, "pce_id", pf->pce_id, 2));
    KG_GUARD_C(put_hex(p, "ppid", pf->ppid, 16));
    KG_GUARD_C(put_hex(p, "cpu_svn", pf->cpu_svn, 16));
    KG_GUARD_C(put_hex(p, "tee_tcb_svn", pf->tee_tcb_svn, 16));
    KG_GUARD_C(put_hex(p, "mr_seam", pf->mr_seam, 48));
    KG_GUARD_C(put_hex(p, "td_attributes", pf->td_attributes, 8));
    KG_GUARD_C(put_hex(p, "xfam", pf->xfam, 8));
    KG_GUARD_C(put_hex(p, "qe_vendor_id", pf->qe_vendor_id, 16));
    KG_GUARD_C(put_hex(p, "user_data", pf->user_data, 20));
    KG_GUARD_C(put_hex(p, "qe_report", pf->qe_report, 384));
    KG_GUARD_C(put_hex(p, "qe_report_signature", pf->qe_report_sig, 64));
    KG_GUARD_C(put_hex(p, "qe_auth_data", pf->qe_auth_data, 32));
    KG_GUARD_C(write_json(dir, "platform.json", p, 0644));
    rc = KG_OK;
cleanup:
    json_decref(p);
    return rc;
}

/* QE report (SGX report body, 384 bytes) with REPORTDATA = SHA-256(attestation key || QE auth
 * data) || 32 zero bytes, the binding the verifier checks (Intel TDX DCAP quote spec). */
static kg_result make_qe_report(sim_platform *pf, EVP_PKEY *att_key, EVP_PKEY *pck_key,
                                const uint8_t qe_mrsigner[32])
{
    uint8_t *r = pf->qe_report;
    uint8_t att_pub[64];
    memset(r, 0, 384);
    memcpy(r + 0, pf->cpu_svn, 16); /* cpusvn */
    /* miscselect (16..20) = 0 */
    memcpy(r + 48, SIM_QE_ATTR, 16);                                /* attributes */
    KG_GUARD(kg_sha256(r + 64, "keygate-sim-td-qe-mrenclave", 27)); /* mrenclave */
    memcpy(r + 128, qe_mrsigner, 32);                               /* mrsigner */
    r[256] = (uint8_t)SIM_QE_PRODID;                                /* isvprodid (LE) */
    r[257] = (uint8_t)(SIM_QE_PRODID >> 8);
    r[258] = (uint8_t)SIM_QE_SVN; /* isvsvn (LE) */
    r[259] = (uint8_t)(SIM_QE_SVN >> 8);
    for (int i = 0; i < 32; i++)
        pf->qe_auth_data[i] = (uint8_t)i;
    KG_GUARD(sim_pub_raw(att_pub, att_key));
    const void *parts[] = {att_pub, pf->qe_auth_data};
    const size_t lens[] = {64, 32};
    KG_GUARD(kg_sha256_parts(r + 320, parts, lens, 2));
    return sim_sign_raw(pf->qe_report_sig, pck_key, r, 384);
}

/* ---- 4. collateral -------------------------------------------------------------------------- */

static void iso_time(char out[32], uint64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void upper_hex(char *out, const uint8_t *v, size_t n)
{
    static const char d[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[v[i] >> 4];
        out[2 * i + 1] = d[v[i] & 15];
    }
    out[2 * n] = '\0';
}

static kg_result svn_components(kg_buf *b, const char *key, const uint8_t svn[16])
{
    KG_GUARD(kg_buf_printf(b, "\"%s\":[", key));
    for (int i = 0; i < 16; i++)
        KG_GUARD(kg_buf_printf(b, "%s{\"svn\":%u}", i ? "," : "", svn[i]));
    return kg_buf_append_str(b, "]");
}

/* TCB Info v3 for TDX (Intel PCS v4): the up-to-date level is exactly this platform's TCB; an
 * older level exists so the matching logic has something to skip. */
static kg_result tcb_info_json(kg_buf *b, const sim_platform *pf, const char *issue,
                               const char *next)
{
    char fmspc[13], pceid[5];
    static const char zeros96[] = "000000000000000000000000000000000000000000000000"
                                  "000000000000000000000000000000000000000000000000";
    const uint8_t old_svn[16] = {0};
    uint8_t old_tdx[16] = {0};
    old_tdx[1] = pf->tee_tcb_svn[1];
    upper_hex(fmspc, pf->fmspc, 6);
    upper_hex(pceid, pf->pce_id, 2);
    KG_GUARD(kg_buf_printf(
        b,
        "{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\",\"fmspc\":\"%s\","
        "\"pceId\":\"%s\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,"
        "\"tdxModule\":{\"mrsigner\":\"%s\",\"attributes\":\"0000000000000000\","
        "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
        "\"tdxModuleIdentities\":[{\"id\":\"TDX_%02X\",\"mrsigner\":\"%s\","
        "\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\","
        "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":%u},\"tcbDate\":\"2024-03-13T00:00:00Z\","
        "\"tcbStatus\":\"UpToDate\"},{\"tcb\":{\"isvsvn\":0},\"tcbDate\":\"2023-08-09T00:00:00Z\","
        "\"tcbStatus\":\"OutOfDate\"}]}],\"tcbLevels\":[{\"tcb\":{",
        issue, next, fmspc, pceid, zeros96, pf->tee_tcb_svn[1], zeros96, pf->tee_tcb_svn[0]));
    KG_GUARD(svn_components(b, "sgxtcbcomponents", pf->cpu_svn));
    KG_GUARD(kg_buf_printf(b, ",\"pcesvn\":%u,", pf->newest_pce_svn));
    KG_GUARD(svn_components(b, "tdxtcbcomponents", pf->tee_tcb_svn));
    KG_GUARD(kg_buf_append_str(
        b, "},\"tcbDate\":\"2024-03-13T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},{\"tcb\":{"));
    KG_GUARD(svn_components(b, "sgxtcbcomponents", old_svn));
    KG_GUARD(kg_buf_append_str(b, ",\"pcesvn\":5,"));
    KG_GUARD(svn_components(b, "tdxtcbcomponents", old_tdx));
    KG_GUARD(kg_buf_append_str(b,
                               "},\"tcbDate\":\"2018-01-04T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
                               "\"advisoryIDs\":[\"INTEL-SA-00106\",\"INTEL-SA-00115\"]}]}"));
    return kg_buf_terminate(b);
}

static kg_result qe_identity_json(kg_buf *b, const uint8_t mrsigner[32], const char *issue,
                                  const char *next)
{
    char ms[65];
    upper_hex(ms, mrsigner, 32);
    KG_GUARD(kg_buf_printf(
        b,
        "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
        "\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":"
        "\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":"
        "\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\",\"isvprodid\":%u,"
        "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":4},\"tcbDate\":\"2024-03-13T00:00:00Z\","
        "\"tcbStatus\":\"UpToDate\"}]}",
        issue, next, ms, SIM_QE_PRODID));
    return kg_buf_terminate(b);
}

static kg_result sign_hex(char out[129], EVP_PKEY *key, const kg_buf *text)
{
    uint8_t sig[64];
    KG_GUARD(sim_sign_raw(sig, key, text->data, text->len));
    return kg_hex_encode(out, 129, sig, 64);
}

static kg_result write_collateral(const char *dir, uint64_t now, uint32_t days)
{
    kg_result rc = KG_ERROR;
    X509 *root = NULL, *pca = NULL, *tcb = NULL;
    EVP_PKEY *root_key = NULL, *pca_key = NULL, *tcb_key = NULL;
    kg_buf root_crl, pck_crl, tcb_chain, pck_chain, tcbinfo, qeid;
    json_t *c = NULL;
    sim_platform pf;
    uint8_t qe_mrsigner[32];
    char issue[32], next[32], tcb_sig[129], qe_sig[129];
    kg_buf_init(&root_crl, SIM_MAX_FILE);
    kg_buf_init(&pck_crl, SIM_MAX_FILE);
    kg_buf_init(&tcb_chain, SIM_MAX_FILE);
    kg_buf_init(&pck_chain, SIM_MAX_FILE);
    kg_buf_init(&tcbinfo, SIM_MAX_FILE);
    kg_buf_init(&qeid, SIM_MAX_FILE);
    KG_GUARD_C(sim_platform_load(&pf, dir));
    memcpy(qe_mrsigner, pf.qe_report + 128, 32);
    KG_GUARD_C(load_pair(&root, &root_key, dir, "root_ca"));
    KG_GUARD_C(load_pair(&pca, &pca_key, dir, "platform_ca"));
    KG_GUARD_C(load_pair(&tcb, &tcb_key, dir, "tcb_signing"));
    iso_time(issue, now);
    iso_time(next, now + (uint64_t)days * DAY);
    KG_GUARD_C(make_crl_hex(&root_crl, root, root_key, now, days));
    KG_GUARD_C(make_crl_hex(&pck_crl, pca, pca_key, now, days));
    KG_GUARD_C(sim_cert_pem(&tcb_chain, tcb));
    KG_GUARD_C(sim_cert_pem(&tcb_chain, root));
    KG_GUARD_C(kg_buf_terminate(&tcb_chain));
    KG_GUARD_C(sim_cert_pem(&pck_chain, pca));
    KG_GUARD_C(sim_cert_pem(&pck_chain, root));
    KG_GUARD_C(kg_buf_terminate(&pck_chain));
    KG_GUARD_C(tcb_info_json(&tcbinfo, &pf, issue, next));
    KG_GUARD_C(qe_identity_json(&qeid, qe_mrsigner, issue, next));
    KG_GUARD_C(sign_hex(tcb_sig, tcb_key, &tcbinfo));
    KG_GUARD_C(sign_hex(qe_sig, tcb_key, &qeid));
    c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "pck_crl_issuer_chain",
                  (char *)pck_chain.data, "root_ca_crl", (char *)root_crl.data, "pck_crl",
                  (char *)pck_crl.data, "tcb_info_issuer_chain", (char *)tcb_chain.data, "tcb_info",
                  (char *)tcbinfo.data, "tcb_info_signature", tcb_sig, "qe_identity_issuer_chain",
                  (char *)tcb_chain.data, "qe_identity", (char *)qeid.data, "qe_identity_signature",
                  qe_sig);
    KG_ENSURE_C(c != NULL, KG_ERR_NOMEM, "json");
    KG_GUARD_C(write_json(dir, "collateral.json", c, 0644));
    rc = KG_OK;
cleanup:
    json_decref(c);
    kg_buf_free(&root_crl);
    kg_buf_free(&pck_crl);
    kg_buf_free(&tcb_chain);
    kg_buf_free(&pck_chain);
    kg_buf_free(&tcbinfo);
    kg_buf_free(&qeid);
    X509_free(root);
    X509_free(pca);
    X509_free(tcb);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(pca_key);
    EVP_PKEY_free(tcb_key);
    return rc;
}

/* ---- 5. init and accessors ------------------------------------------------------------------ */

kg_result kg_sim_init(const char *dir, const kg_sim_init_opts *opts)
{
    kg_result rc = KG_ERROR;
    kg_sim_init_opts o = {0};
    EVP_PKEY *root_key = NULL, *pca_key = NULL, *pck_key = NULL, *tcb_key = NULL, *att_key = NULL;
    X509 *root = NULL, *pca = NULL, *pck = NULL, *tcb = NULL;
    kg_buf ext, probe;
    sim_platform pf;
    kg_sim_profile prof;
    uint8_t instance[16], qe_mrsigner[32];
    struct stat st;
    kg_buf_init(&ext, 4096);
    kg_buf_init(&probe, 4096);
    memset(&pf, 0, sizeof(pf));
    if (opts != NULL)
        o = *opts;
    if (o.image == NULL)
        o.image = KG_SIM_DEFAULT_IMAGE;
    if (o.now == 0)
        o.now = (uint64_t)time(NULL);
    if (o.validity_days == 0)
        o.validity_days = 30;
    KG_GUARD_C(kg_mkdir_p(dir));
    KG_GUARD_C(kg_path_join(&probe, dir, "platform.json"));
    KG_ENSURE_C(stat((char *)probe.data, &st) != 0, KG_ERR_USAGE,
                "'%s' already holds a simulated platform", dir);
    KG_GUARD_C(kg_sim_profile_compute(&prof, o.image));

    /* keys */
    KG_GUARD_C(sim_key_generate(&root_key));
    KG_GUARD_C(sim_key_generate(&pca_key));
    KG_GUARD_C(sim_key_generate(&pck_key));
    KG_GUARD_C(sim_key_generate(&tcb_key));
    KG_GUARD_C(sim_key_generate(&att_key));

    /* platform facts */
    memcpy(pf.fmspc, SIM_FMSPC, 6);
    memcpy(pf.pce_id, SIM_PCE_ID, 2);
    memcpy(pf.cpu_svn, SIM_CPU_SVN, 16);
    pf.pce_svn = SIM_PCE_SVN;
    pf.newest_pce_svn = SIM_PCE_SVN;
    if (o.tcb_status != NULL && strcmp(o.tcb_status, "OutOfDate") == 0)
        pf.newest_pce_svn =
            SIM_PCE_SVN + 1; /* a newer TCB exists: this one matches the old level */
    else
        KG_ENSURE_C(o.tcb_status == NULL || strcmp(o.tcb_status, "UpToDate") == 0, KG_ERR_USAGE,
                    "simulated TCB status '%s' is not UpToDate or OutOfDate", o.tcb_status);
    memcpy(pf.tee_tcb_svn, SIM_TEE_TCB_SVN, 16);
    memcpy(pf.td_attributes, SIM_TD_ATTR, 8);
    memcpy(pf.xfam, SIM_XFAM, 8);
    memcpy(pf.qe_vendor_id, SIM_QE_VENDOR, 16);
    KG_GUARD_OSSL_C(RAND_bytes(pf.ppid, 16), KG_ERR_CRYPTO, "PPID");
    KG_GUARD_OSSL_C(RAND_bytes(instance, 16), KG_ERR_CRYPTO, "platform instance id");
    KG_GUARD_OSSL_C(RAND_bytes(pf.user_data, 16), KG_ERR_CRYPTO, "QE id");
    KG_GUARD_C(component(pf.mr_seam, "tdx-module", "mrseam"));
    KG_GUARD_C(kg_sha256(qe_mrsigner, "keygate-sim-td-qe-signer", 24));

    /* certificates: root (20 y), platform CA and TCB signing (15 y), PCK (10 y) */
    uint64_t nb = o.now - 3600; /* tolerate small clock differences */
    uint64_t year = 365u * DAY;
    cert_spec rs = {"keygate Simulated SGX Root CA",
                    NULL,
                    root_key,
                    root_key,
                    "critical,CA:TRUE,pathlen:1",
                    "critical,keyCertSign,cRLSign",
                    nb,
                    o.now + 20 * year,
                    NULL};
    KG_GUARD_C(make_cert(&root, &rs));
    cert_spec ps = {"keygate Simulated SGX PCK Platform CA",
                    root,
                    root_key,
                    pca_key,
                    "critical,CA:TRUE,pathlen:0",
                    "critical,keyCertSign,cRLSign",
                    nb,
                    o.now + 15 * year,
                    NULL};
    KG_GUARD_C(make_cert(&pca, &ps));
    cert_spec ts = {"keygate Simulated SGX TCB Signing",
                    root,
                    root_key,
                    tcb_key,
                    "critical,CA:FALSE",
                    "critical,digitalSignature,nonRepudiation",
                    nb,
                    o.now + 15 * year,
                    NULL};
    KG_GUARD_C(make_cert(&tcb, &ts));
    KG_GUARD_C(sgx_extension(&ext, pf.ppid, instance));
    cert_spec ks = {"keygate Simulated SGX PCK Certificate",
                    pca,
                    pca_key,
                    pck_key,
                    "critical,CA:FALSE",
                    "critical,digitalSignature,nonRepudiation",
                    nb,
                    o.now + SIM_CERT_YEARS * year,
                    &ext};
    KG_GUARD_C(make_cert(&pck, &ks));

    KG_GUARD_C(make_qe_report(&pf, att_key, pck_key, qe_mrsigner));

    KG_GUARD_C(save_key(dir, "root_ca.key", root_key));
    KG_GUARD_C(save_key(dir, "platform_ca.key", pca_key));
    KG_GUARD_C(save_key(dir, "pck.key", pck_key));
    KG_GUARD_C(save_key(dir, "tcb_signing.key", tcb_key));
    KG_GUARD_C(save_key(dir, "attestation.key", att_key));
    KG_GUARD_C(save_cert(dir, "root_ca.pem", root));
    KG_GUARD_C(save_cert(dir, "platform_ca.pem", pca));
    KG_GUARD_C(save_cert(dir, "tcb_signing.pem", tcb));
    KG_GUARD_C(save_cert(dir, "pck.pem", pck));
    KG_GUARD_C(save_profile(dir, &prof));
    {
        uint8_t seal[SIM_SEAL_SECRET_LEN];
        rc = sim_seal_secret(seal, dir); /* created here; a VM's sealing key derives from it */
        kg_memzero(seal, sizeof(seal));
        KG_GUARD_C(rc);
        rc = KG_ERROR;
    }
    KG_GUARD_C(save_platform(dir, &pf)); /* last-but-one: its presence marks a platform */
    KG_GUARD_C(write_collateral(dir, o.now, o.validity_days));
    rc = KG_OK;
cleanup:
    kg_memzero(&pf, sizeof(pf));
    kg_buf_free(&ext);
    kg_buf_free(&probe);
    X509_free(root);
    X509_free(pca);
    X509_free(pck);
    X509_free(tcb);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(pca_key);
    EVP_PKEY_free(pck_key);
    EVP_PKEY_free(tcb_key);
    EVP_PKEY_free(att_key);
    return rc;
}

kg_result sim_seal_secret(uint8_t out[SIM_SEAL_SECRET_LEN], const char *dir)
{
    kg_result rc = KG_ERROR;
    uint8_t fresh[SIM_SEAL_SECRET_LEN];
    kg_buf path, raw;
    kg_buf_init(&raw, SIM_SEAL_SECRET_LEN + 1);
    KG_GUARD(kg_path_join(&path, dir, "seal.secret"));
    kg_result r = kg_file_read_secret(&raw, (char *)path.data, SIM_SEAL_SECRET_LEN + 1);
    if (kg_failed(r) && kg_error_code() == KG_ERR_NOT_FOUND) {
        /* A platform from before sealing, or its secret deleted (the machine is gone): a new
         * secret, so nothing sealed under the old one opens. Another VM may race us here:
         * create-once, and whoever loses reads the winner's. */
        kg_error_clear();
        KG_GUARD_C(kg_random(fresh, sizeof(fresh)));
        r = kg_file_create((char *)path.data, fresh, sizeof(fresh), 0600);
        if (kg_failed(r))
            kg_error_clear();
        r = kg_file_read_secret(&raw, (char *)path.data, SIM_SEAL_SECRET_LEN + 1);
    }
    KG_GUARD_CTX_C(r, "simulated platform seal secret");
    KG_ENSURE_C(raw.len == SIM_SEAL_SECRET_LEN, KG_ERR_INPUT, "'%s' holds %zu bytes, want %u",
                (char *)path.data, raw.len, SIM_SEAL_SECRET_LEN);
    memcpy(out, raw.data, SIM_SEAL_SECRET_LEN);
    rc = KG_OK;
cleanup:
    kg_memzero(fresh, sizeof(fresh));
    kg_buf_free(&raw);
    kg_buf_free(&path);
    return rc;
}

kg_result kg_sim_refresh_collateral(const char *dir, uint64_t now, uint32_t validity_days)
{
    return write_collateral(dir, now ? now : (uint64_t)time(NULL),
                            validity_days ? validity_days : 30);
}

kg_result kg_sim_root_ca_der(kg_buf *out, const char *dir)
{
    X509 *root = NULL;
    uint8_t *der = NULL;
    KG_GUARD(load_pair(&root, NULL, dir, "root_ca"));
    int n = i2d_X509(root, &der);
    X509_free(root);
    KG_ENSURE_OSSL(n > 0, KG_ERR_CRYPTO, "encoding root CA");
    kg_result r = kg_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return r;
}

kg_result kg_sim_collateral(kg_buf *out, const char *dir)
{
    kg_buf raw;
    KG_GUARD(sim_read(&raw, dir, "collateral.json"));
    kg_result r = kg_buf_append(out, raw.data, raw.len);
    if (kg_ok(r))
        r = kg_buf_terminate(out);
    kg_buf_free(&raw);
    return r;
}
