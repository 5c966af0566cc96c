/* buf.c - growable byte buffer with a hard cap; wipes on reset and free (see bytes.h). */
#include "keygate/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kg_buf_init(kg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Growth never uses realloc: the old block may hold secrets and must be wiped, not abandoned. */
kg_result kg_buf_reserve(kg_buf *b, size_t extra)
{
    KG_ENSURE(extra <= b->max && b->len <= b->max - extra, KG_ERR_TOO_LARGE,
              "buffer would exceed its cap of %zu bytes", b->max);
    size_t want = b->len + extra;
    if (want + 1 <= b->cap) /* +1 keeps room for kg_buf_terminate */
        return KG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want + 1)
        cap = cap > SIZE_MAX / 2 ? want + 1 : cap * 2;
    uint8_t *p = malloc(cap);
    KG_ENSURE(p != NULL, KG_ERR_NOMEM, "out of memory growing buffer to %zu bytes", cap);
    if (b->data) {
        memcpy(p, b->data, b->len);
        kg_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return KG_OK;
}

kg_result kg_buf_append(kg_buf *b, const void *data, size_t n)
{
    KG_GUARD(kg_buf_reserve(b, n));
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return KG_OK;
}

kg_result kg_buf_append_u8(kg_buf *b, uint8_t v)
{
    return kg_buf_append(b, &v, 1);
}

static kg_result append_le(kg_buf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    return kg_buf_append(b, tmp, n);
}

kg_result kg_buf_append_u16le(kg_buf *b, uint16_t v)
{
    return append_le(b, v, 2);
}
kg_result kg_buf_append_u32le(kg_buf *b, uint32_t v)
{
    return append_le(b, v, 4);
}
kg_result kg_buf_append_u64le(kg_buf *b, uint64_t v)
{
    return append_le(b, v, 8);
}

kg_result kg_buf_append_u64be(kg_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(v >> (8 * (7 - i)));
    return kg_buf_append(b, tmp, 8);
}

kg_result kg_buf_append_str(kg_buf *b, const char *s)
{
    return kg_buf_append(b, s, strlen(s));
}

kg_result kg_buf_printf(kg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    KG_ENSURE(n >= 0, KG_ERR_INTERNAL, "bad format string");
    KG_GUARD(kg_buf_reserve(b, (size_t)n));
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KG_OK;
}

kg_result kg_buf_terminate(kg_buf *b)
{
    KG_GUARD(kg_buf_reserve(b, 0));
    b->data[b->len] = '\0';
    return KG_OK;
}

void kg_buf_reset(kg_buf *b)
{
    if (b->data)
        kg_memzero(b->data, b->cap);
    b->len = 0;
}

void kg_buf_free(kg_buf *b)
{
    if (b->data) {
        kg_memzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
