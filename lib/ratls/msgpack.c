/* msgpack.c - the MessagePack subset of dstack's AttestationV1 (layout in msgpack.h). */
#include "ratls/msgpack.h"

#include <string.h>

#include "ratls/scale.h" /* kg_utf8_valid */

static const char *type_name(kg_mp_type t)
{
    switch (t) {
    case KG_MP_NIL: return "nil";
    case KG_MP_BOOL: return "bool";
    case KG_MP_UINT: return "unsigned integer";
    case KG_MP_NEGINT: return "negative integer";
    case KG_MP_STR: return "str";
    case KG_MP_BIN: return "bin";
    case KG_MP_ARRAY: return "array";
    case KG_MP_MAP: return "map";
    default: return "float or ext";
    }
}

/* Classifies a marker byte (a signed int marker holding a non-negative value is still UINT
 * only after reading it; peek reports NEGINT for the signed markers 0xd0-0xd3 and 0xe0-0xff). */
static kg_mp_type classify(uint8_t m)
{
    if (m <= 0x7f || (m >= 0xcc && m <= 0xcf))
        return KG_MP_UINT;
    if (m >= 0xe0 || (m >= 0xd0 && m <= 0xd3))
        return KG_MP_NEGINT;
    if (m >= 0x80 && m <= 0x8f)
        return KG_MP_MAP;
    if (m >= 0x90 && m <= 0x9f)
        return KG_MP_ARRAY;
    if (m >= 0xa0 && m <= 0xbf)
        return KG_MP_STR;
    switch (m) {
    case 0xc0: return KG_MP_NIL;
    case 0xc2:
    case 0xc3: return KG_MP_BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6: return KG_MP_BIN;
    case 0xd9:
    case 0xda:
    case 0xdb: return KG_MP_STR;
    case 0xdc:
    case 0xdd: return KG_MP_ARRAY;
    case 0xde:
    case 0xdf: return KG_MP_MAP;
    default: return KG_MP_OTHER;
    }
}

kg_result kg_mp_peek(const kg_reader *r, kg_mp_type *out, const char *field)
{
    KG_ENSURE(kg_reader_remaining(r) >= 1, KG_ERR_TRUNCATED,
              "truncated reading '%s' (need 1, have 0)", field);
    *out = classify(r->data[r->pos]);
    return KG_OK;
}

/* Reads a big-endian unsigned of n (1, 2, 4 or 8) bytes. */
static kg_result read_be(kg_reader *r, uint64_t *out, size_t n, const char *field)
{
    uint8_t b[8];
    KG_GUARD(kg_reader_read(r, b, n, field));
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | b[i];
    *out = v;
    return KG_OK;
}

/* Reads a marker of the expected family and its length field; restores the cursor on failure. */
static kg_result header(kg_reader *r, kg_mp_type want, uint64_t *len, const char *field)
{
    size_t start = r->pos;
    uint8_t m;
    KG_GUARD(kg_reader_u8(r, &m, field));
    kg_mp_type t = classify(m);
    if (t != want) {
        r->pos = start;
        KG_BAIL(KG_ERR_INPUT, "'%s': expected %s, found %s (0x%02x)", field, type_name(want),
                type_name(t), m);
    }
    size_t width = 0;
    switch (m) {
    case 0xd9:
    case 0xc4: width = 1; break;
    case 0xda:
    case 0xc5:
    case 0xdc:
    case 0xde: width = 2; break;
    case 0xdb:
    case 0xc6:
    case 0xdd:
    case 0xdf: width = 4; break;
    default: break;
    }
    if (width == 0) {
        if (want == KG_MP_STR)
            *len = m & 0x1fu;
        else
            *len = m & 0x0fu; /* fixmap / fixarray */
        return KG_OK;
    }
    if (kg_failed(read_be(r, len, width, field))) {
        r->pos = start;
        return KG_ERROR;
    }
    return KG_OK;
}

/* A container count: at most max and at most what remains / min_size. */
static kg_result container(kg_reader *r, kg_mp_type want, size_t *n, size_t max, size_t min_size,
                           const char *field)
{
    size_t start = r->pos;
    uint64_t len;
    KG_GUARD(header(r, want, &len, field));
    if (len > max) {
        r->pos = start;
        KG_BAIL(KG_ERR_TOO_LARGE, "'%s': %s of %llu entries exceeds the maximum %zu", field,
                type_name(want), (unsigned long long)len, max);
    }
    if (len > kg_reader_remaining(r) / min_size) {
        size_t have = kg_reader_remaining(r);
        r->pos = start;
        KG_BAIL(KG_ERR_TRUNCATED, "'%s': %s of %llu entries exceeds the %zu bytes that remain",
                field, type_name(want), (unsigned long long)len, have);
    }
    *n = (size_t)len;
    return KG_OK;
}

kg_result kg_mp_map(kg_reader *r, size_t *n, size_t max, const char *field)
{
    return container(r, KG_MP_MAP, n, max, 2, field);
}

kg_result kg_mp_array(kg_reader *r, size_t *n, size_t max, const char *field)
{
    return container(r, KG_MP_ARRAY, n, max, 1, field);
}

static kg_result blob(kg_reader *r, kg_mp_type want, const uint8_t **p, size_t *n, size_t max,
                      const char *field)
{
    size_t start = r->pos;
    uint64_t len;
    KG_GUARD(header(r, want, &len, field));
    if (len > max) {
        r->pos = start;
        KG_BAIL(KG_ERR_TOO_LARGE, "'%s': %s of %llu bytes exceeds the maximum %zu", field,
                type_name(want), (unsigned long long)len, max);
    }
    if (kg_failed(kg_reader_ptr(r, p, (size_t)len, field))) {
        r->pos = start;
        return KG_ERROR;
    }
    *n = (size_t)len;
    return KG_OK;
}

kg_result kg_mp_str(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field)
{
    size_t start = r->pos;
    KG_GUARD(blob(r, KG_MP_STR, p, n, max, field));
    if (!kg_utf8_valid(*p, *n)) {
        r->pos = start;
        KG_BAIL(KG_ERR_INPUT, "'%s': str is not valid UTF-8", field);
    }
    return KG_OK;
}

kg_result kg_mp_bin(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field)
{
    return blob(r, KG_MP_BIN, p, n, max, field);
}

kg_result kg_mp_uint(kg_reader *r, uint64_t *out, const char *field)
{
    size_t start = r->pos;
    uint8_t m;
    KG_GUARD(kg_reader_u8(r, &m, field));
    uint64_t v = 0;
    kg_result rc = KG_OK;
    if (m <= 0x7f) {
        v = m;
    } else if (m >= 0xcc && m <= 0xcf) {
        rc = read_be(r, &v, (size_t)1 << (m - 0xcc), field);
    } else if (m >= 0xd0 && m <= 0xd3) {
        /* a signed marker: serde accepts it for an unsigned field when the value is >= 0 */
        size_t w = (size_t)1 << (m - 0xd0);
        rc = read_be(r, &v, w, field);
        if (kg_ok(rc) && (v >> (8 * w - 1)) != 0) {
            r->pos = start;
            KG_BAIL(KG_ERR_INPUT, "'%s': negative integer where an unsigned one is expected",
                    field);
        }
    } else {
        r->pos = start;
        KG_BAIL(KG_ERR_INPUT, "'%s': expected unsigned integer, found %s (0x%02x)", field,
                type_name(classify(m)), m);
    }
    if (kg_failed(rc)) {
        r->pos = start;
        return KG_ERROR;
    }
    *out = v;
    return KG_OK;
}

kg_result kg_mp_nil(kg_reader *r, const char *field)
{
    uint64_t len;
    return header(r, KG_MP_NIL, &len, field);
}

kg_result kg_mp_bytes(kg_reader *r, kg_buf *out, size_t max, const char *field)
{
    size_t start = r->pos;
    size_t start_len = out->len;
    kg_mp_type t;
    KG_GUARD(kg_mp_peek(r, &t, field));
    if (t == KG_MP_BIN) {
        const uint8_t *p;
        size_t n;
        KG_GUARD(kg_mp_bin(r, &p, &n, max, field));
        if (kg_failed(kg_buf_append(out, p, n))) {
            r->pos = start;
            return KG_ERROR;
        }
        return KG_OK;
    }
    KG_ENSURE(t == KG_MP_ARRAY, KG_ERR_INPUT, "'%s': expected bin or array of bytes, found %s",
              field, type_name(t));
    size_t n;
    KG_GUARD(kg_mp_array(r, &n, max, field));
    kg_result rc = kg_buf_reserve(out, n);
    for (size_t i = 0; kg_ok(rc) && i < n; i++) {
        uint64_t v;
        rc = kg_mp_uint(r, &v, field);
        if (kg_ok(rc) && v > 0xff)
            rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                              "'%s': byte %zu of the array is %llu, not 0..255", field, i,
                              (unsigned long long)v);
        if (kg_ok(rc))
            rc = kg_buf_append_u8(out, (uint8_t)v);
    }
    if (kg_failed(rc)) {
        r->pos = start;
        out->len = start_len;
    }
    return rc;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static kg_result put_be(kg_buf *b, uint8_t marker, uint64_t v, size_t width)
{
    uint8_t tmp[9];
    tmp[0] = marker;
    for (size_t i = 0; i < width; i++)
        tmp[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return kg_buf_append(b, tmp, 1 + width);
}

static kg_result put_header(kg_buf *b, uint8_t fix, size_t fix_max, uint8_t m8, uint8_t m16,
                            uint8_t m32, uint64_t n)
{
    if (n <= fix_max && fix != 0)
        return kg_buf_append_u8(b, (uint8_t)(fix | n));
    if (m8 != 0 && n <= 0xff)
        return put_be(b, m8, n, 1);
    if (n <= 0xffff)
        return put_be(b, m16, n, 2);
    KG_ENSURE(n <= 0xffffffffu, KG_ERR_TOO_LARGE, "msgpack length %llu too large",
              (unsigned long long)n);
    return put_be(b, m32, n, 4);
}

kg_result kg_mp_put_map(kg_buf *b, size_t n)
{
    return put_header(b, 0x80, 15, 0, 0xde, 0xdf, n);
}

kg_result kg_mp_put_array(kg_buf *b, size_t n)
{
    return put_header(b, 0x90, 15, 0, 0xdc, 0xdd, n);
}

kg_result kg_mp_put_str(kg_buf *b, const char *s, size_t n)
{
    KG_ENSURE(kg_utf8_valid((const uint8_t *)s, n), KG_ERR_USAGE,
              "msgpack string is not valid UTF-8");
    KG_GUARD(put_header(b, 0xa0, 31, 0xd9, 0xda, 0xdb, n));
    return n ? kg_buf_append(b, s, n) : KG_OK;
}

kg_result kg_mp_put_cstr(kg_buf *b, const char *s)
{
    return kg_mp_put_str(b, s, strlen(s));
}

kg_result kg_mp_put_bin(kg_buf *b, const void *p, size_t n)
{
    KG_GUARD(put_header(b, 0, 0, 0xc4, 0xc5, 0xc6, n));
    return n ? kg_buf_append(b, p, n) : KG_OK;
}

kg_result kg_mp_put_uint(kg_buf *b, uint64_t v)
{
    if (v <= 0x7f)
        return kg_buf_append_u8(b, (uint8_t)v);
    if (v <= 0xff)
        return put_be(b, 0xcc, v, 1);
    if (v <= 0xffff)
        return put_be(b, 0xcd, v, 2);
    if (v <= 0xffffffffu)
        return put_be(b, 0xce, v, 4);
    return put_be(b, 0xcf, v, 8);
}

kg_result kg_mp_put_u8_array(kg_buf *b, const uint8_t *p, size_t n)
{
    KG_GUARD(kg_mp_put_array(b, n));
    for (size_t i = 0; i < n; i++)
        KG_GUARD(kg_mp_put_uint(b, p[i]));
    return KG_OK;
}
