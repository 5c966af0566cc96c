/* dotenv.c - the .env (KEY=VALUE lines) parser behind `keygate env encrypt` (dotenv.h). */
#include "keygate/dotenv.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF): values end
 * up in the JSON plaintext, which must be valid UTF-8. */
static bool utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t extra;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (extra > n - i - 1)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

KG_RESULT kg_dotenv_parse(kg_env_list *list, const char *text, size_t len, const char *what)
{
    KG_ENSURE(len <= KG_DOTENV_MAX_LEN, KG_ERR_TOO_LARGE, "%s: larger than %u bytes", what,
              KG_DOTENV_MAX_LEN);
    KG_ENSURE(len == 0 || memchr(text, '\0', len) == NULL, KG_ERR_INPUT,
              "%s: contains a NUL byte", what);
    size_t pos = 0;
    unsigned line = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        const char *s = text + pos;
        size_t n = end - pos;
        pos = end + 1;
        line++;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        while (n > 0 && is_blank(*s)) {
            s++;
            n--;
        }
        if (n == 0 || *s == '#')
            continue;
        if (n > 7 && memcmp(s, "export ", 7) == 0) {
            s += 7;
            n -= 7;
            while (n > 0 && is_blank(*s)) {
                s++;
                n--;
            }
        }
        const char *eq = memchr(s, '=', n);
        KG_ENSURE(eq != NULL, KG_ERR_INPUT, "%s:%u: expected KEY=VALUE", what, line);
        size_t klen = (size_t)(eq - s);
        while (klen > 0 && is_blank(s[klen - 1]))
            klen--;
        KG_ENSURE(klen > 0 && klen <= KG_ENV_MAX_NAME_LEN, KG_ERR_INPUT,
                  "%s:%u: variable name is empty or longer than %u", what, line,
                  KG_ENV_MAX_NAME_LEN);
        char name[KG_ENV_MAX_NAME_LEN + 1];
        memcpy(name, s, klen);
        name[klen] = '\0';
        if (kg_failed(kg_env_check_name(name)))
            return kg_error_context("%s:%u", what, line);
        const char *v = eq + 1;
        size_t vlen = n - (size_t)(v - s);
        while (vlen > 0 && is_blank(*v)) {
            v++;
            vlen--;
        }
        if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
            v++;
            vlen -= 2;
        }
        KG_ENSURE(utf8_valid((const unsigned char *)v, vlen), KG_ERR_INPUT,
                  "%s:%u: value of %s is not valid UTF-8", what, line, name);
        if (kg_failed(kg_env_list_add(list, name, klen, v, vlen)))
            return kg_error_context("%s:%u", what, line);
    }
    if (kg_failed(kg_env_verify_names(list)))
        return kg_error_context("%s", what);
    return KG_OK;
}
