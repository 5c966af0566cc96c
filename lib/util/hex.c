/* hex.c - strict lowercase hex encoding and decoding (see bytes.h). */
#include "keygate/bytes.h"

#include <string.h>

kg_result kg_hex_encode(char *out, size_t out_size, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    KG_ENSURE(n <= (SIZE_MAX - 1) / 2 && out_size >= 2 * n + 1, KG_ERR_USAGE,
              "hex output buffer too small (%zu for %zu bytes)", out_size, n);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
    return KG_OK;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strips an optional 0x prefix; shared by every decoder below. */
static void strip_prefix(const char **hex, size_t *len)
{
    if (*len >= 2 && (*hex)[0] == '0' && ((*hex)[1] == 'x' || (*hex)[1] == 'X')) {
        *hex += 2;
        *len -= 2;
    }
}

static kg_result decode_into(uint8_t *out, const char *hex, size_t len)
{
    for (size_t i = 0; i < len / 2; i++) {
        int hi = nibble(hex[2 * i]);
        int lo = nibble(hex[2 * i + 1]);
        KG_ENSURE(hi >= 0 && lo >= 0, KG_ERR_INPUT, "invalid hex character at offset %zu",
                  hi < 0 ? 2 * i : 2 * i + 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return KG_OK;
}

kg_result kg_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex,
                        size_t hex_len)
{
    strip_prefix(&hex, &hex_len);
    KG_ENSURE(hex_len % 2 == 0, KG_ERR_INPUT, "hex string has odd length %zu", hex_len);
    KG_ENSURE(hex_len / 2 <= out_cap, KG_ERR_TOO_LARGE, "hex string decodes to %zu bytes, max %zu",
              hex_len / 2, out_cap);
    KG_GUARD(decode_into(out, hex, hex_len));
    *out_len = hex_len / 2;
    return KG_OK;
}

kg_result kg_hex_decode_exact(uint8_t *out, size_t n, const char *hex)
{
    size_t len = strlen(hex);
    strip_prefix(&hex, &len);
    KG_ENSURE(len == 2 * n, KG_ERR_INPUT, "expected %zu hex characters (%zu bytes), got %zu", 2 * n,
              n, len);
    return decode_into(out, hex, len);
}

kg_result kg_hex_decode_buf(kg_buf *out, const char *hex, size_t hex_len)
{
    strip_prefix(&hex, &hex_len);
    KG_ENSURE(hex_len % 2 == 0, KG_ERR_INPUT, "hex string has odd length %zu", hex_len);
    KG_GUARD(kg_buf_reserve(out, hex_len / 2));
    KG_GUARD(decode_into(out->data + out->len, hex, hex_len));
    out->len += hex_len / 2;
    return KG_OK;
}
