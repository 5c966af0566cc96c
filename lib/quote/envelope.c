/* envelope.c - strict, fast parser of the collateral document: one JSON object of string values. */
#include <stdlib.h>
#include <string.h>

#include "dcap_internal.h"
#include "keygate/bytes.h"

/*
 * Shape (tests/vectors/dcap/README.md): {"pck_crl_issuer_chain":"<PEM>","root_ca_crl":"<hex>",
 * "pck_crl":"<hex>","tcb_info_issuer_chain":"<PEM>","tcb_info":"<signed JSON text>",
 * "tcb_info_signature":"<hex r||s>","qe_identity_issuer_chain":"<PEM>","qe_identity":"<signed
 * JSON text>","qe_identity_signature":"<hex r||s>"}. Other keys are allowed (and ignored) when
 * their value is a string. A general JSON library spends most of a cold verification's parsing
 * time on the long hex and PEM strings; this reads them once, through kg_reader.
 *
 * Grammar: ws '{' ws (string ws ':' ws string ws (',' ws string ws ':' ws string ws)*)? '}' ws.
 * Strings: any byte >= 0x20 except '"' and '\'; escapes \" \\ \/ \b \f \n \r \t \uXXXX
 * (surrogate pairs joined, written as UTF-8). Duplicate keys are an error.
 */

static const char *const KEYS[KG_COLL_N] = {
    [KG_COLL_PCK_CRL_ISSUER_CHAIN] = "pck_crl_issuer_chain",
    [KG_COLL_ROOT_CA_CRL] = "root_ca_crl",
    [KG_COLL_PCK_CRL] = "pck_crl",
    [KG_COLL_TCB_INFO_ISSUER_CHAIN] = "tcb_info_issuer_chain",
    [KG_COLL_TCB_INFO] = "tcb_info",
    [KG_COLL_TCB_INFO_SIGNATURE] = "tcb_info_signature",
    [KG_COLL_QE_IDENTITY_ISSUER_CHAIN] = "qe_identity_issuer_chain",
    [KG_COLL_QE_IDENTITY] = "qe_identity",
    [KG_COLL_QE_IDENTITY_SIGNATURE] = "qe_identity_signature",
};

const char *kg_collateral_key(kg_coll_field f)
{
    return KEYS[f];
}

static void skip_ws(kg_reader *r)
{
    while (r->pos < r->len) {
        uint8_t c = r->data[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        r->pos++;
    }
}

static kg_result expect(kg_reader *r, uint8_t want)
{
    uint8_t c;
    KG_GUARD(kg_reader_u8(r, &c, "collateral JSON"));
    KG_ENSURE(c == want, KG_ERR_INPUT, "invalid JSON at offset %zu: '%c' expected", r->pos - 1,
              want);
    return KG_OK;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static kg_result u4(kg_reader *r, uint32_t *out)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 4, "\\u escape"));
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        KG_ENSURE(h >= 0, KG_ERR_INPUT, "invalid JSON: bad \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return KG_OK;
}

static void put_utf8(char *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | cp >> 6);
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | cp >> 12);
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | cp >> 18);
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* Reads a JSON string into a new NUL-terminated buffer (caller frees). Decoded text is never
 * longer than its escaped form, so the buffer is sized by the raw span. */
static kg_result read_string(kg_reader *r, char **out, size_t *out_len)
{
    *out = NULL;
    KG_GUARD(expect(r, '"'));
    /* the closing quote is the first '"' preceded by an even number of backslashes */
    size_t start = r->pos, end = start;
    for (;;) {
        const uint8_t *q = memchr(r->data + end, '"', r->len - end);
        KG_ENSURE(q != NULL, KG_ERR_TRUNCATED, "invalid JSON: unterminated string");
        end = (size_t)(q - r->data);
        size_t bs = 0;
        while (end - bs > start && r->data[end - bs - 1] == '\\')
            bs++;
        if (bs % 2 == 0)
            break;
        end++;
    }
    char *s = malloc(end - start + 1);
    KG_ENSURE(s != NULL, KG_ERR_NOMEM, "allocating");
    size_t n = 0;
    kg_result rc = KG_OK;
    while (r->pos < end && kg_ok(rc)) {
        /* fast path: copy the run up to the next escape or control character at once */
        const uint8_t *bsl = memchr(r->data + r->pos, '\\', end - r->pos);
        size_t run = bsl ? (size_t)(bsl - r->data) : end;
        uint8_t ctl = 0; /* a branch-free scan the compiler vectorizes */
        for (size_t i = r->pos; i < run; i++)
            ctl |= (uint8_t)(r->data[i] < 0x20);
        if (ctl) {
            /* copy up to the first control character, which the slow path names (taking the
             * slow path from r->pos rescanned the run for every byte: quadratic) */
            run = r->pos;
            while (r->data[run] >= 0x20)
                run++;
        }
        if (run > r->pos) {
            memcpy(s + n, r->data + r->pos, run - r->pos);
            n += run - r->pos;
            r->pos = run;
            continue;
        }
        uint8_t c = r->data[r->pos++];
        if (c < 0x20) {
            rc =
                kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                             "invalid JSON: control character in string at offset %zu", r->pos - 1);
        } else if (c != '\\') {
            s[n++] = (char)c;
        } else {
            uint8_t e = r->data[r->pos++];
            uint32_t cp, lo;
            switch (e) {
            case '"': s[n++] = '"'; break;
            case '\\': s[n++] = '\\'; break;
            case '/': s[n++] = '/'; break;
            case 'b': s[n++] = '\b'; break;
            case 'f': s[n++] = '\f'; break;
            case 'n': s[n++] = '\n'; break;
            case 'r': s[n++] = '\r'; break;
            case 't': s[n++] = '\t'; break;
            case 'u':
                rc = u4(r, &cp);
                if (kg_ok(rc) && cp >= 0xd800 && cp <= 0xdbff) {
                    /* a high surrogate must be followed by \uDC00..\uDFFF */
                    if (r->pos + 2 <= end && r->data[r->pos] == '\\' &&
                        r->data[r->pos + 1] == 'u') {
                        r->pos += 2;
                        rc = u4(r, &lo);
                        if (kg_ok(rc) && (lo < 0xdc00 || lo > 0xdfff))
                            rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                                              "invalid JSON: bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    } else {
                        rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                                          "invalid JSON: lone surrogate");
                    }
                } else if (kg_ok(rc) && cp >= 0xdc00 && cp <= 0xdfff) {
                    rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                                      "invalid JSON: lone surrogate");
                }
                if (kg_ok(rc))
                    put_utf8(s, &n, cp);
                break;
            default:
                rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                                  "invalid JSON: bad escape at offset %zu", r->pos - 1);
            }
        }
        /* \uXXXX (6 bytes) writes at most 3 bytes, a pair (12) at most 4: never past the end */
        if (r->pos > end && kg_ok(rc))
            rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "invalid JSON: bad escape");
    }
    if (kg_ok(rc))
        rc = expect(r, '"');
    if (kg_failed(rc)) {
        free(s);
        return rc;
    }
    s[n] = 0;
    *out = s;
    *out_len = n;
    return KG_OK;
}

void kg_collateral_doc_free(kg_collateral_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < KG_COLL_N; i++)
        free(d->v[i]);
    memset(d, 0, sizeof(*d));
}

static kg_result parse_doc(kg_collateral_doc *d, kg_reader *r)
{
    skip_ws(r);
    KG_GUARD(expect(r, '{'));
    skip_ws(r);
    if (r->pos < r->len && r->data[r->pos] == '}') {
        r->pos++;
    } else {
        for (;;) {
            char *key = NULL, *val = NULL;
            size_t key_len, val_len;
            skip_ws(r);
            KG_GUARD(read_string(r, &key, &key_len));
            skip_ws(r);
            kg_result rc = expect(r, ':');
            if (kg_ok(rc)) {
                skip_ws(r);
                if (r->pos < r->len && r->data[r->pos] != '"')
                    rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "'%.40s' is not a string",
                                      key);
            }
            if (kg_ok(rc))
                rc = read_string(r, &val, &val_len);
            int field = -1;
            for (size_t i = 0; i < KG_COLL_N && kg_ok(rc) && field < 0; i++)
                if (strcmp(key, KEYS[i]) == 0)
                    field = (int)i;
            if (kg_ok(rc) && field >= 0 && d->v[field])
                rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "duplicate key '%s'", key);
            if (kg_ok(rc) && field >= 0 && strlen(val) != val_len)
                rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "'%s' contains a NUL character",
                                  key);
            if (kg_ok(rc) && field >= 0) {
                d->v[field] = val;
                d->len[field] = val_len;
                val = NULL;
            }
            free(key);
            free(val);
            KG_GUARD(rc);
            skip_ws(r);
            uint8_t c;
            KG_GUARD(kg_reader_u8(r, &c, "collateral JSON"));
            if (c == '}')
                break;
            KG_ENSURE(c == ',', KG_ERR_INPUT, "invalid JSON at offset %zu: ',' or '}' expected",
                      r->pos - 1);
        }
    }
    skip_ws(r);
    KG_GUARD(kg_reader_expect_end(r, "collateral JSON"));
    for (size_t i = 0; i < KG_COLL_N; i++)
        KG_ENSURE(d->v[i] != NULL, KG_ERR_INPUT, "'%s' missing", KEYS[i]);
    return KG_OK;
}

kg_result kg_collateral_doc_parse(kg_collateral_doc *d, const char *json, size_t len)
{
    memset(d, 0, sizeof(*d));
    KG_ENSURE(len <= KG_MAX_COLLATERAL_LEN, KG_ERR_TOO_LARGE,
              "collateral of %zu bytes exceeds KG_MAX_COLLATERAL_LEN", len);
    kg_reader r;
    kg_reader_init(&r, json, len);
    if (kg_failed(parse_doc(d, &r))) {
        kg_collateral_doc_free(d);
        return KG_ERROR;
    }
    return KG_OK;
}
