/* json_out.c - JSON object writer for API responses (see json_out.h). */
#include "json_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static kg_result sep(kg_jw *w)
{
    if (!w->first)
        KG_GUARD(kg_buf_append_u8(w->out, ','));
    w->first = false;
    return KG_OK;
}

/* Writes a quoted ASCII string. Output stays ASCII so the SDK's unix-socket client, which
 * compares Content-Length (bytes) with a JS string length (characters), reads all of it. */
static kg_result quoted(kg_buf *out, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    KG_GUARD(kg_buf_append_u8(out, '"'));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        KG_ENSURE(c < 0x80, KG_ERR_INPUT, "response string is not ASCII");
        if (c == '"' || c == '\\') {
            KG_GUARD(kg_buf_append_u8(out, '\\'));
            KG_GUARD(kg_buf_append_u8(out, c));
        } else if (c == '\n') {
            KG_GUARD(kg_buf_append(out, "\\n", 2));
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            KG_GUARD(kg_buf_append(out, esc, sizeof(esc)));
        } else {
            KG_GUARD(kg_buf_append_u8(out, c));
        }
    }
    return kg_buf_append_u8(out, '"');
}

static kg_result member(kg_jw *w, const char *name)
{
    KG_GUARD(sep(w));
    KG_GUARD(quoted(w->out, name, strlen(name)));
    return kg_buf_append_u8(w->out, ':');
}

kg_result kg_jw_begin(kg_jw *w, kg_buf *out)
{
    w->out = out;
    w->first = true;
    return kg_buf_append_u8(out, '{');
}

kg_result kg_jw_end(kg_jw *w)
{
    return kg_buf_append_u8(w->out, '}');
}

kg_result kg_jw_strn(kg_jw *w, const char *name, const char *value, size_t n)
{
    KG_GUARD(member(w, name));
    return quoted(w->out, value, n);
}

kg_result kg_jw_str(kg_jw *w, const char *name, const char *value)
{
    return kg_jw_strn(w, name, value ? value : "", value ? strlen(value) : 0);
}

static kg_result hex_value(kg_buf *out, const uint8_t *bytes, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    KG_GUARD(kg_buf_append_u8(out, '"'));
    for (size_t i = 0; i < n; i++) {
        char pair[2] = {hexd[bytes[i] >> 4], hexd[bytes[i] & 15]};
        KG_GUARD(kg_buf_append(out, pair, 2));
    }
    return kg_buf_append_u8(out, '"');
}

kg_result kg_jw_hex(kg_jw *w, const char *name, const uint8_t *bytes, size_t n)
{
    KG_GUARD(member(w, name));
    return hex_value(w->out, bytes, n);
}

kg_result kg_jw_bool(kg_jw *w, const char *name, bool value)
{
    KG_GUARD(member(w, name));
    return kg_buf_append_str(w->out, value ? "true" : "false");
}

kg_result kg_jw_u64(kg_jw *w, const char *name, uint64_t value)
{
    KG_GUARD(member(w, name));
    return kg_buf_printf(w->out, "%" PRIu64, value);
}

kg_result kg_jw_raw(kg_jw *w, const char *name, const char *json, size_t n)
{
    KG_GUARD(member(w, name));
    return kg_buf_append(w->out, json, n);
}

kg_result kg_jw_array_begin(kg_jw *w, const char *name)
{
    KG_GUARD(member(w, name));
    w->first = true;
    return kg_buf_append_u8(w->out, '[');
}

kg_result kg_jw_item_str(kg_jw *w, const char *value)
{
    KG_GUARD(sep(w));
    return quoted(w->out, value, strlen(value));
}

kg_result kg_jw_item_hex(kg_jw *w, const uint8_t *bytes, size_t n)
{
    KG_GUARD(sep(w));
    return hex_value(w->out, bytes, n);
}

kg_result kg_jw_item_u64(kg_jw *w, uint64_t value)
{
    KG_GUARD(sep(w));
    return kg_buf_printf(w->out, "%" PRIu64, value);
}

kg_result kg_jw_item_begin(kg_jw *w)
{
    KG_GUARD(sep(w));
    w->first = true;
    return kg_buf_append_u8(w->out, '{');
}

kg_result kg_jw_item_end(kg_jw *w)
{
    w->first = false; /* the object was an item of the enclosing array */
    return kg_buf_append_u8(w->out, '}');
}

kg_result kg_jw_array_end(kg_jw *w)
{
    w->first = false; /* the array itself was a member of the enclosing object */
    return kg_buf_append_u8(w->out, ']');
}
