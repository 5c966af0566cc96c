/* text.c - making untrusted text safe to store and show (bytes.h): control characters and
 * invalid UTF-8 become visible escapes, so a reason or name chosen by an attacker cannot drive a
 * terminal (escape sequences), forge log lines (newlines) or break a UTF-8 consumer. */
#include "keygate/bytes.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1fu) : n == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (size_t i = 1; i < n; i++)
        cp = (cp << 6) | (s[i] & 0x3fu);
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    if (cp >= 0x80 && cp < 0xa0)
        return 0; /* C1 controls (CSI and friends) are control characters too */
    return n;
}

size_t kg_text_escape(char *out, size_t out_size, const char *in, size_t in_len)
{
    size_t o = 0;
    if (out_size == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < in_len;) {
        size_t n = s[i] >= 0x20 && s[i] != 0x7f ? utf8_len(s + i, in_len - i) : 0;
        if (n > 0) {
            if (o + n >= out_size)
                break;
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
            continue;
        }
        if (o + 4 >= out_size)
            break;
        snprintf(out + o, out_size - o, "\\x%02x", s[i]);
        o += 4;
        i++;
    }
    out[o] = '\0';
    return o;
}
