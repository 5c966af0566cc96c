/* reader.c - bounds-checked cursor over untrusted bytes (see bytes.h). */
#include "keygate/bytes.h"

#include <string.h>

void kg_reader_init(kg_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
}

size_t kg_reader_remaining(const kg_reader *r)
{
    return r->len - r->pos;
}

/* The single place where a read length is checked against what is left. */
static kg_result need(const kg_reader *r, size_t n, const char *field)
{
    KG_ENSURE(n <= kg_reader_remaining(r), KG_ERR_TRUNCATED,
              "truncated reading '%s' (need %zu, have %zu)", field, n, kg_reader_remaining(r));
    return KG_OK;
}

kg_result kg_reader_ptr(kg_reader *r, const uint8_t **out, size_t n, const char *field)
{
    KG_GUARD(need(r, n, field));
    *out = r->data + r->pos;
    r->pos += n;
    return KG_OK;
}

kg_result kg_reader_read(kg_reader *r, void *out, size_t n, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, n, field));
    if (n > 0)
        memcpy(out, p, n);
    return KG_OK;
}

kg_result kg_reader_sub(kg_reader *r, kg_reader *sub, size_t n, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, n, field));
    kg_reader_init(sub, p, n);
    return KG_OK;
}

kg_result kg_reader_skip(kg_reader *r, size_t n, const char *field)
{
    const uint8_t *p;
    return kg_reader_ptr(r, &p, n, field);
}

kg_result kg_reader_u8(kg_reader *r, uint8_t *out, const char *field)
{
    return kg_reader_read(r, out, 1, field);
}

/* Integers are assembled byte by byte: no alignment or host-endianness assumptions. */
static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    return v;
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

kg_result kg_reader_u16le(kg_reader *r, uint16_t *out, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 2, field));
    *out = (uint16_t)load_le(p, 2);
    return KG_OK;
}

kg_result kg_reader_u32le(kg_reader *r, uint32_t *out, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 4, field));
    *out = (uint32_t)load_le(p, 4);
    return KG_OK;
}

kg_result kg_reader_u64le(kg_reader *r, uint64_t *out, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 8, field));
    *out = load_le(p, 8);
    return KG_OK;
}

kg_result kg_reader_u16be(kg_reader *r, uint16_t *out, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 2, field));
    *out = (uint16_t)load_be(p, 2);
    return KG_OK;
}

kg_result kg_reader_u32be(kg_reader *r, uint32_t *out, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 4, field));
    *out = (uint32_t)load_be(p, 4);
    return KG_OK;
}

kg_result kg_reader_expect_end(const kg_reader *r, const char *what)
{
    KG_ENSURE(kg_reader_remaining(r) == 0, KG_ERR_INPUT, "%zu trailing bytes after %s",
              kg_reader_remaining(r), what);
    return KG_OK;
}
