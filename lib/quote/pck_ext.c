/* pck_ext.c - pure DER parser of the PCK certificate's SGX extensions (OID
 * 1.2.840.113741.1.13.1). */
#include <string.h>

#include "dcap_internal.h"
#include "keygate/bytes.h"

/*
 * Layout (Intel "SGX PCK Certificate and Certificate Revocation List Profile Specification"):
 *
 *   SGXExtensions ::= SEQUENCE OF SEQUENCE { OID, value }
 *     .1  PPID          OCTET STRING (16)
 *     .2  TCB           SEQUENCE OF SEQUENCE { OID .2.n, value }:
 *                         .2.1 .. .2.16  SGX TCB component SVN  INTEGER (0..255)
 *                         .2.17          PCESVN                 INTEGER (0..65535)
 *                         .2.18          CPUSVN                 OCTET STRING (16)
 *     .3  PCE-ID        OCTET STRING (2)
 *     .4  FMSPC         OCTET STRING (6)
 *     .5  SGX Type      ENUMERATED
 *     .6, .7 (platform instance id, configuration: present on platform CA certs; skipped)
 *
 * Every item is read through kg_reader; DER lengths are definite and minimally encoded.
 */

#define DER_INTEGER 0x02
#define DER_OCTET_STRING 0x04
#define DER_OID 0x06
#define DER_SEQUENCE 0x30

/* 1.2.840.113741.1.13.1 */
static const uint8_t SGX_EXT_OID[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

static kg_result der_any(kg_reader *r, uint8_t *tag, kg_reader *val, const char *field)
{
    uint8_t b;
    KG_GUARD(kg_reader_u8(r, tag, field));
    KG_ENSURE((*tag & 0x1f) != 0x1f, KG_ERR_INPUT, "%s: multi-byte DER tag", field);
    KG_GUARD(kg_reader_u8(r, &b, field));
    size_t len = b;
    if (b & 0x80) {
        size_t n = b & 0x7f;
        KG_ENSURE(n >= 1 && n <= 2, KG_ERR_INPUT, "%s: unsupported DER length form 0x%02x", field,
                  b);
        len = 0;
        for (size_t i = 0; i < n; i++) {
            KG_GUARD(kg_reader_u8(r, &b, field));
            KG_ENSURE(i > 0 || b != 0, KG_ERR_INPUT, "%s: non-minimal DER length", field);
            len = (len << 8) | b;
        }
        KG_ENSURE(len >= 0x80, KG_ERR_INPUT, "%s: non-minimal DER length", field);
    }
    return kg_reader_sub(r, val, len, field);
}

static kg_result der_expect(kg_reader *r, uint8_t want, kg_reader *val, const char *field)
{
    uint8_t tag;
    KG_GUARD(der_any(r, &tag, val, field));
    KG_ENSURE(tag == want, KG_ERR_INPUT, "%s: DER tag 0x%02x (want 0x%02x)", field, tag, want);
    return KG_OK;
}

/* Non-negative INTEGER that fits in `max`. */
static kg_result der_uint(kg_reader *r, uint32_t *out, uint32_t max, const char *field)
{
    kg_reader v;
    KG_GUARD(der_expect(r, DER_INTEGER, &v, field));
    size_t n = kg_reader_remaining(&v);
    KG_ENSURE(n >= 1 && n <= 3, KG_ERR_INPUT, "%s: INTEGER of %zu bytes", field, n);
    uint32_t x = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b;
        KG_GUARD(kg_reader_u8(&v, &b, field));
        KG_ENSURE(i > 0 || !(b & 0x80), KG_ERR_INPUT, "%s: negative INTEGER", field);
        x = (x << 8) | b;
    }
    KG_ENSURE(x <= max, KG_ERR_INPUT, "%s: value %u above %u", field, x, max);
    *out = x;
    return KG_OK;
}

static kg_result der_octets(kg_reader *r, uint8_t *out, size_t n, const char *field)
{
    kg_reader v;
    KG_GUARD(der_expect(r, DER_OCTET_STRING, &v, field));
    KG_ENSURE(kg_reader_remaining(&v) == n, KG_ERR_INPUT, "%s: %zu bytes (want %zu)", field,
              kg_reader_remaining(&v), n);
    return kg_reader_read(&v, out, n, field);
}

/* Reads an OID and returns its last arc if it is SGX_EXT_OID + prefix arcs + one more arc. */
static kg_result der_sub_oid(kg_reader *r, const uint8_t *prefix, size_t prefix_len, int *arc,
                             const char *field)
{
    kg_reader v;
    KG_GUARD(der_expect(r, DER_OID, &v, field));
    const uint8_t *p;
    size_t n = kg_reader_remaining(&v);
    KG_GUARD(kg_reader_ptr(&v, &p, n, field));
    *arc = -1;
    if (n == sizeof(SGX_EXT_OID) + prefix_len + 1 &&
        memcmp(p, SGX_EXT_OID, sizeof(SGX_EXT_OID)) == 0 &&
        (prefix_len == 0 || memcmp(p + sizeof(SGX_EXT_OID), prefix, prefix_len) == 0) &&
        p[n - 1] < 0x80) /* memcmp with a NULL prefix is undefined even for length 0 */
        *arc = p[n - 1];
    return KG_OK;
}

static kg_result parse_tcb(kg_reader *r, kg_pck_ext *out)
{
    static const uint8_t tcb_prefix[] = {0x02};
    uint32_t seen = 0;
    while (kg_reader_remaining(r) > 0) {
        kg_reader item;
        int arc;
        KG_GUARD(der_expect(r, DER_SEQUENCE, &item, "TCB item"));
        KG_GUARD(der_sub_oid(&item, tcb_prefix, sizeof(tcb_prefix), &arc, "TCB item OID"));
        KG_ENSURE(arc >= 1 && arc <= 18, KG_ERR_INPUT, "unknown TCB item in SGX extension");
        KG_ENSURE(!(seen & (1u << arc)), KG_ERR_INPUT, "duplicate TCB item %d", arc);
        seen |= 1u << arc;
        uint32_t x;
        if (arc <= 16) {
            KG_GUARD(der_uint(&item, &x, 255, "SGX TCB component SVN"));
            out->comp_svn[arc - 1] = (uint8_t)x;
        } else if (arc == 17) {
            KG_GUARD(der_uint(&item, &x, 65535, "PCESVN"));
            out->pce_svn = (uint16_t)x;
        } else {
            KG_GUARD(der_octets(&item, out->cpu_svn, 16, "CPUSVN"));
        }
        KG_GUARD(kg_reader_expect_end(&item, "TCB item"));
    }
    KG_ENSURE(seen == 0x7fffeu, KG_ERR_INPUT, "SGX extension TCB lacks items (mask 0x%05x)", seen);
    return KG_OK;
}

static kg_result parse_ext(kg_pck_ext *out, const uint8_t *der, size_t der_len)
{
    KG_ENSURE(der_len <= KG_SGX_EXT_MAX_LEN, KG_ERR_TOO_LARGE,
              "SGX extension of %zu bytes exceeds KG_SGX_EXT_MAX_LEN", der_len);
    kg_reader top, seq;
    kg_reader_init(&top, der, der_len);
    KG_GUARD(der_expect(&top, DER_SEQUENCE, &seq, "SGX extension"));
    KG_GUARD(kg_reader_expect_end(&top, "SGX extension"));
    uint32_t seen = 0;
    while (kg_reader_remaining(&seq) > 0) {
        kg_reader item, val;
        uint8_t tag;
        int arc;
        KG_GUARD(der_expect(&seq, DER_SEQUENCE, &item, "SGX extension item"));
        KG_GUARD(der_sub_oid(&item, NULL, 0, &arc, "SGX extension item OID"));
        if (arc >= 1 && arc <= 5) {
            KG_ENSURE(!(seen & (1u << arc)), KG_ERR_INPUT, "duplicate SGX extension item %d", arc);
            seen |= 1u << arc;
        }
        switch (arc) {
        case 1: KG_GUARD(der_octets(&item, out->ppid, 16, "PPID")); break;
        case 2:
            KG_GUARD(der_expect(&item, DER_SEQUENCE, &val, "TCB"));
            KG_GUARD(parse_tcb(&val, out));
            break;
        case 3: KG_GUARD(der_octets(&item, out->pce_id, 2, "PCE-ID")); break;
        case 4: KG_GUARD(der_octets(&item, out->fmspc, 6, "FMSPC")); break;
        default: KG_GUARD(der_any(&item, &tag, &val, "SGX extension value")); break;
        }
        KG_GUARD(kg_reader_expect_end(&item, "SGX extension item"));
    }
    KG_ENSURE((seen & 0x1e) == 0x1e, KG_ERR_INPUT,
              "SGX extension lacks PPID, TCB, PCE-ID or FMSPC (mask 0x%02x)", seen);
    return KG_OK;
}

kg_result kg_pck_ext_parse(kg_pck_ext *out, const uint8_t *der, size_t der_len)
{
    memset(out, 0, sizeof(*out));
    if (kg_failed(parse_ext(out, der, der_len))) {
        memset(out, 0, sizeof(*out)); /* no half-parsed fields on failure */
        return KG_ERROR;
    }
    return KG_OK;
}
