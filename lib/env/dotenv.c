/* dotenv.c - the .env parser behind `keygate env encrypt` (dotenv.h): Docker Compose's env-file
 * syntax (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/,
 * "env file syntax"), and a refusal naming the line for what keygate does not support
 * (interpolation, a variable without '=', unknown escapes). Values may be secrets: no message
 * ever quotes one. */
#include "keygate/dotenv.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

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

/* A parse in progress: the text (CRLF already turned into LF), where we are, the line. */
typedef struct dotenv_in {
    const char *t;
    size_t n, p;
    unsigned line;
    const char *what;
} dotenv_in;

static bool name_char(char c)
{
    return c != '=' && c != '\n' && !is_blank(c) && c != '\0';
}

static void skip_blanks(dotenv_in *in)
{
    while (in->p < in->n && is_blank(in->t[in->p]))
        in->p++;
}

/* '$' at in->p in an unquoted or double-quoted value: Compose interpolates "$NAME" and "${...}"
 * there, which keygate does not (the variables of the machine that encrypts are not the app's);
 * "$$" is Compose's literal '$'; a '$' before anything else stays as it is. */
static kg_result dollar(dotenv_in *in, char *val, size_t *vl, const char *name)
{
    char next = in->p + 1 < in->n ? in->t[in->p + 1] : '\0';
    if (next == '$') {
        val[(*vl)++] = '$';
        in->p += 2;
        return KG_OK;
    }
    KG_ENSURE(!(next == '{' || next == '_' || (next >= 'A' && next <= 'Z') ||
                (next >= 'a' && next <= 'z')),
              KG_ERR_INPUT,
              "%s:%u: value of %s: variable interpolation ($NAME, ${NAME}) is not supported; "
              "write $$ for a literal '$', or single-quote the value",
              in->what, in->line, name);
    val[(*vl)++] = '$';
    in->p++;
    return KG_OK;
}

/* A quoted value from the opening quote at in->p; may span lines. Single quotes: literal but for
 * \' (a quote). Double quotes: \n \r \t \\ \" \$ and \' escapes, interpolation refused. */
static kg_result quoted(dotenv_in *in, char *val, size_t *vl, const char *name)
{
    char q = in->t[in->p++];
    unsigned opened = in->line;
    for (;;) {
        KG_ENSURE(in->p < in->n, KG_ERR_INPUT,
                  "%s:%u: value of %s: the %s quote opened on this line is never closed", in->what,
                  opened, name, q == '"' ? "double" : "single");
        char c = in->t[in->p];
        if (c == q) {
            in->p++;
            return KG_OK;
        }
        if (c == '\n')
            in->line++;
        if (c == '\\' && q == '\'') {
            if (in->p + 1 < in->n && in->t[in->p + 1] == '\'') {
                val[(*vl)++] = '\'';
                in->p += 2;
            } else {
                val[(*vl)++] = '\\';
                in->p++;
            }
            continue;
        }
        if (c == '\\') {
            char e = in->p + 1 < in->n ? in->t[in->p + 1] : '\0';
            char out;
            switch (e) {
            case 'n': out = '\n'; break;
            case 'r': out = '\r'; break;
            case 't': out = '\t'; break;
            case '\\': out = '\\'; break;
            case '"': out = '"'; break;
            case '\'': out = '\''; break;
            case '$': out = '$'; break;
            default:
                KG_BAIL(KG_ERR_INPUT,
                        "%s:%u: value of %s: unsupported escape in a double-quoted value "
                        "(supported: \\n \\r \\t \\\\ \\\" \\' \\$; single quotes keep "
                        "backslashes as they are)",
                        in->what, in->line, name);
            }
            val[(*vl)++] = out;
            in->p += 2;
            continue;
        }
        if (c == '$' && q == '"') {
            KG_GUARD(dollar(in, val, vl, name));
            continue;
        }
        val[(*vl)++] = c;
        in->p++;
    }
}

/* An unquoted value, to the end of the line: " #" (a space, then '#') starts a comment, as in
 * Compose; leading blanks (already skipped) and trailing ones are dropped, backslashes are
 * literal, interpolation refused. */
static kg_result unquoted(dotenv_in *in, char *val, size_t *vl, const char *name)
{
    while (in->p < in->n && in->t[in->p] != '\n') {
        char c = in->t[in->p];
        if (c == '#' && *vl > 0 && in->t[in->p - 1] == ' ')
            break;
        if (c == '$') {
            KG_GUARD(dollar(in, val, vl, name));
            continue;
        }
        val[(*vl)++] = c;
        in->p++;
    }
    while (*vl > 0 && is_blank(val[*vl - 1]))
        (*vl)--;
    return KG_OK;
}

/* The rest of a line after a value: blanks, then nothing or a '#' comment. */
static kg_result line_end(dotenv_in *in, const char *name)
{
    skip_blanks(in);
    if (in->p < in->n && in->t[in->p] == '#')
        while (in->p < in->n && in->t[in->p] != '\n')
            in->p++;
    KG_ENSURE(in->p >= in->n || in->t[in->p] == '\n', KG_ERR_INPUT,
              "%s:%u: value of %s: text after the closing quote (a comment there starts with "
              "' #')",
              in->what, in->line, name);
    return KG_OK;
}

static kg_result parse_all(kg_env_list *list, dotenv_in *in, char *val)
{
    while (in->p < in->n) {
        skip_blanks(in);
        if (in->p >= in->n)
            break;
        if (in->t[in->p] == '\n') {
            in->p++;
            in->line++;
            continue;
        }
        if (in->t[in->p] == '#') {
            while (in->p < in->n && in->t[in->p] != '\n')
                in->p++;
            continue;
        }
        if (in->n - in->p > 7 && memcmp(in->t + in->p, "export", 6) == 0 &&
            is_blank(in->t[in->p + 6])) {
            in->p += 6;
            skip_blanks(in);
        }
        size_t k0 = in->p;
        while (in->p < in->n && name_char(in->t[in->p]))
            in->p++;
        size_t klen = in->p - k0;
        KG_ENSURE(klen > 0 || (in->p < in->n && in->t[in->p] == '='), KG_ERR_INPUT,
                  "%s:%u: expected KEY=VALUE", in->what, in->line);
        KG_ENSURE(klen > 0 && klen <= KG_ENV_MAX_NAME_LEN, KG_ERR_INPUT,
                  "%s:%u: variable name is empty or longer than %u", in->what, in->line,
                  KG_ENV_MAX_NAME_LEN);
        /* '=' first: a line without one is not quoted back (it may be a pasted secret). */
        skip_blanks(in);
        KG_ENSURE(in->p < in->n && in->t[in->p] == '=', KG_ERR_INPUT,
                  "%s:%u: expected KEY=VALUE: the line has no '=' after its first word (Docker "
                  "Compose takes a bare KEY's value from the environment it runs in; here every "
                  "value is written out)",
                  in->what, in->line);
        char name[KG_ENV_MAX_NAME_LEN + 1];
        memcpy(name, in->t + k0, klen);
        name[klen] = '\0';
        if (kg_failed(kg_env_check_name(name)))
            return kg_error_context("%s:%u", in->what, in->line);
        in->p++;
        skip_blanks(in);
        unsigned line = in->line;
        size_t vl = 0;
        if (in->p < in->n && (in->t[in->p] == '"' || in->t[in->p] == '\'')) {
            KG_GUARD(quoted(in, val, &vl, name));
            KG_GUARD(line_end(in, name));
        } else {
            KG_GUARD(unquoted(in, val, &vl, name));
        }
        KG_ENSURE(utf8_valid((const unsigned char *)val, vl), KG_ERR_INPUT,
                  "%s:%u: value of %s is not valid UTF-8", in->what, line, name);
        if (kg_failed(kg_env_list_add(list, name, klen, val, vl)))
            return kg_error_context("%s:%u", in->what, line);
    }
    if (kg_failed(kg_env_verify_names(list)))
        return kg_error_context("%s", in->what);
    return KG_OK;
}

KG_RESULT kg_dotenv_parse(kg_env_list *list, const char *text, size_t len, const char *what)
{
    KG_ENSURE(len <= KG_DOTENV_MAX_LEN, KG_ERR_TOO_LARGE, "%s: larger than %u bytes", what,
              KG_DOTENV_MAX_LEN);
    KG_ENSURE(len == 0 || memchr(text, '\0', len) == NULL, KG_ERR_INPUT, "%s: contains a NUL byte",
              what);
    /* CRLF line ends become LF (as Compose does), everywhere; the value buffer holds any value. */
    char *t = malloc(len + 1), *val = malloc(len + 1);
    kg_result rc = KG_OK;
    if (t == NULL || val == NULL) {
        rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    } else {
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
            if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
                t[n++] = text[i];
        dotenv_in in = {.t = t, .n = n, .p = 0, .line = 1, .what = what};
        rc = parse_all(list, &in, val);
        kg_memzero(t, n);
        kg_memzero(val, len + 1);
    }
    free(t);
    free(val);
    return rc;
}
