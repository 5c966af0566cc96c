/* scale.c - the SCALE codec subset of dstack's RA-TLS types (layout in scale.h). */
#include "ratls/scale.h"

#include <string.h>

/* ---- decoding ---------------------------------------------------------------------------- */

kg_result kg_scale_compact(kg_reader *r, uint64_t *out, const char *field)
{
    size_t start = r->pos;
    uint8_t b0;
    KG_GUARD(kg_reader_u8(r, &b0, field));
    switch (b0 & 3u) {
    case 0: *out = b0 >> 2; return KG_OK;
    case 1: {
        uint8_t b1;
        if (kg_failed(kg_reader_u8(r, &b1, field))) {
            r->pos = start;
            return KG_ERROR;
        }
        uint64_t v = (uint64_t)(((uint16_t)b0 | ((uint16_t)b1 << 8)) >> 2);
        if (v < 64u) {
            r->pos = start;
            KG_BAIL(KG_ERR_INPUT, "'%s': non-canonical compact integer %llu in two bytes", field,
                    (unsigned long long)v);
        }
        *out = v;
        return KG_OK;
    }
    case 2: {
        uint8_t rest[3];
        if (kg_failed(kg_reader_read(r, rest, 3, field))) {
            r->pos = start;
            return KG_ERROR;
        }
        uint32_t w = (uint32_t)b0 | ((uint32_t)rest[0] << 8) | ((uint32_t)rest[1] << 16) |
                     ((uint32_t)rest[2] << 24);
        uint64_t v = w >> 2;
        if (v < (1u << 14)) {
            r->pos = start;
            KG_BAIL(KG_ERR_INPUT, "'%s': non-canonical compact integer %llu in four bytes", field,
                    (unsigned long long)v);
        }
        *out = v;
        return KG_OK;
    }
    default: {
        size_t n = (size_t)(b0 >> 2) + 4u;
        uint8_t le[8];
        if (n > 8) {
            r->pos = start;
            KG_BAIL(KG_ERR_TOO_LARGE, "'%s': compact integer of %zu bytes exceeds 64 bits", field,
                    n);
        }
        if (kg_failed(kg_reader_read(r, le, n, field))) {
            r->pos = start;
            return KG_ERROR;
        }
        uint64_t v = 0;
        for (size_t i = n; i-- > 0;)
            v = (v << 8) | le[i];
        /* canonical: at least 2^30, and no redundant high zero byte */
        if (v < (1u << 30) || le[n - 1] == 0) {
            r->pos = start;
            KG_BAIL(KG_ERR_INPUT, "'%s': non-canonical compact integer in big-integer mode", field);
        }
        *out = v;
        return KG_OK;
    }
    }
}

kg_result kg_scale_len(kg_reader *r, size_t *out, size_t max, size_t min_elem_size,
                       const char *field)
{
    size_t start = r->pos;
    uint64_t v;
    KG_GUARD(kg_scale_compact(r, &v, field));
    if (v > max) {
        r->pos = start;
        KG_BAIL(KG_ERR_TOO_LARGE, "'%s': length %llu exceeds the maximum %zu", field,
                (unsigned long long)v, max);
    }
    /* v <= max fits size_t; every element takes at least min_elem_size bytes */
    if (min_elem_size > 0 && v > kg_reader_remaining(r) / min_elem_size) {
        size_t have = kg_reader_remaining(r);
        r->pos = start;
        KG_BAIL(KG_ERR_TRUNCATED, "'%s': length %llu exceeds the %zu bytes that remain", field,
                (unsigned long long)v, have);
    }
    *out = (size_t)v;
    return KG_OK;
}

kg_result kg_scale_bytes(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field)
{
    size_t start = r->pos;
    size_t len;
    KG_GUARD(kg_scale_len(r, &len, max, 1, field));
    if (kg_failed(kg_reader_ptr(r, p, len, field))) {
        r->pos = start;
        return KG_ERROR;
    }
    *n = len;
    return KG_OK;
}

bool kg_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (k > n - i - 1)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + j] & 0x3fu);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

kg_result kg_scale_str(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field)
{
    size_t start = r->pos;
    KG_GUARD(kg_scale_bytes(r, p, n, max, field));
    if (!kg_utf8_valid(*p, *n)) {
        r->pos = start;
        KG_BAIL(KG_ERR_INPUT, "'%s': string is not valid UTF-8", field);
    }
    return KG_OK;
}

kg_result kg_scale_bool(kg_reader *r, bool *out, const char *field)
{
    uint8_t b;
    KG_GUARD(kg_reader_u8(r, &b, field));
    if (b > 1) {
        r->pos--;
        KG_BAIL(KG_ERR_INPUT, "'%s': bool byte 0x%02x is neither 0 nor 1", field, b);
    }
    *out = b == 1;
    return KG_OK;
}

kg_result kg_scale_option(kg_reader *r, bool *some, const char *field)
{
    uint8_t b;
    KG_GUARD(kg_reader_u8(r, &b, field));
    if (b > 1) {
        r->pos--;
        KG_BAIL(KG_ERR_INPUT, "'%s': Option tag 0x%02x is neither 0 (None) nor 1 (Some)", field, b);
    }
    *some = b == 1;
    return KG_OK;
}

kg_result kg_scale_enum(kg_reader *r, uint8_t *idx, uint8_t n_variants, const char *field)
{
    uint8_t b;
    KG_GUARD(kg_reader_u8(r, &b, field));
    if (b >= n_variants) {
        r->pos--;
        KG_BAIL(KG_ERR_INPUT, "'%s': enum index %u out of range (%u variants)", field, b,
                n_variants);
    }
    *idx = b;
    return KG_OK;
}

/* ---- encoding ---------------------------------------------------------------------------- */

kg_result kg_scale_put_compact(kg_buf *b, uint64_t v)
{
    if (v < 64u)
        return kg_buf_append_u8(b, (uint8_t)(v << 2));
    if (v < (1u << 14))
        return kg_buf_append_u16le(b, (uint16_t)((v << 2) | 1u));
    if (v < (1u << 30))
        return kg_buf_append_u32le(b, (uint32_t)((v << 2) | 2u));
    uint8_t le[8];
    size_t n = 0;
    for (uint64_t x = v; x != 0; x >>= 8)
        le[n++] = (uint8_t)x;
    /* n >= 4 because v >= 2^30 */
    KG_GUARD(kg_buf_append_u8(b, (uint8_t)(((n - 4u) << 2) | 3u)));
    return kg_buf_append(b, le, n);
}

kg_result kg_scale_put_bytes(kg_buf *b, const void *p, size_t n)
{
    KG_GUARD(kg_scale_put_compact(b, n));
    return n ? kg_buf_append(b, p, n) : KG_OK;
}

kg_result kg_scale_put_str(kg_buf *b, const char *s, size_t n)
{
    KG_ENSURE(kg_utf8_valid((const uint8_t *)s, n), KG_ERR_USAGE,
              "SCALE string is not valid UTF-8");
    return kg_scale_put_bytes(b, s, n);
}

kg_result kg_scale_put_bool(kg_buf *b, bool v)
{
    return kg_buf_append_u8(b, v ? 1 : 0);
}

kg_result kg_scale_put_u32(kg_buf *b, uint32_t v)
{
    return kg_buf_append_u32le(b, v);
}

kg_result kg_scale_put_u64(kg_buf *b, uint64_t v)
{
    return kg_buf_append_u64le(b, v);
}
