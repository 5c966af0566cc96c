/* rlp.c - Recursive Length Prefix encoding (Ethereum yellow paper, appendix B), the
 * serialization of transactions and of contract-creation addresses. Encoder only: keygate
 * never parses RLP from the network. */
#include "keygate/eth.h"

#include <string.h>

/* Appends a length header: short form `base + len` up to 55, else `base + 55 + len(len)` then
 * len big-endian (base 0x80 for strings, 0xc0 for lists). */
static kg_result header(kg_buf *out, uint8_t base, size_t len)
{
    if (len <= 55)
        return kg_buf_append_u8(out, (uint8_t)(base + len));
    uint8_t be[sizeof(size_t)];
    size_t n = 0;
    for (size_t v = len; v > 0; v >>= 8)
        n++;
    for (size_t i = 0; i < n; i++)
        be[n - 1 - i] = (uint8_t)(len >> (8 * i));
    KG_GUARD(kg_buf_append_u8(out, (uint8_t)(base + 55 + n)));
    return kg_buf_append(out, be, n);
}

kg_result kg_rlp_bytes(kg_buf *out, const uint8_t *data, size_t len)
{
    KG_ENSURE(len == 0 || data != NULL, KG_ERR_USAGE, "RLP bytes without data");
    /* A single byte below 0x80 is its own encoding. */
    if (len == 1 && data[0] < 0x80)
        return kg_buf_append_u8(out, data[0]);
    size_t mark = out->len;
    kg_result rc = header(out, 0x80, len);
    if (kg_ok(rc))
        rc = kg_buf_append(out, data, len);
    if (kg_failed(rc))
        out->len = mark;
    return rc;
}

kg_result kg_rlp_uint(kg_buf *out, uint64_t v)
{
    uint8_t be[8];
    for (size_t i = 0; i < 8; i++)
        be[i] = (uint8_t)(v >> (8 * (7 - i)));
    size_t skip = 0;
    while (skip < 8 && be[skip] == 0)
        skip++;
    return kg_rlp_bytes(out, be + skip, 8 - skip);
}

kg_result kg_rlp_uint256(kg_buf *out, const uint8_t be[KG_ETH_WORD_LEN])
{
    size_t skip = 0;
    while (skip < KG_ETH_WORD_LEN && be[skip] == 0)
        skip++;
    return kg_rlp_bytes(out, be + skip, KG_ETH_WORD_LEN - skip);
}

kg_result kg_rlp_list(kg_buf *out, const uint8_t *payload, size_t payload_len)
{
    KG_ENSURE(payload_len == 0 || payload != NULL, KG_ERR_USAGE, "RLP list without payload");
    size_t mark = out->len;
    kg_result rc = header(out, 0xc0, payload_len);
    if (kg_ok(rc) && payload_len > 0)
        rc = kg_buf_append(out, payload, payload_len);
    if (kg_failed(rc))
        out->len = mark;
    return rc;
}
