/* pccs.c - PCCS protocol (Intel PCS/PCCS v4 API): one platform's collateral over HTTP(S), the
 * replies' parsers, and the on-disk cache. The table in front of it is pccs_client.c. */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dcap_internal.h"
#include "keygate/bytes.h"
#include "keygate/fileio.h"
#include "keygate/hash.h"

/*
 * Requests (Intel "PCK Certificate and Certificate Revocation List Profile" / PCS API v4):
 *   GET {base}/{tdx|sgx}/certification/v4/tcb?fmspc={FMSPC}     body
 * {"tcbInfo":{..},"signature":".."} header TCB-Info-Issuer-Chain (or SGX-TCB-Info-Issuer-Chain) GET
 * {base}/{tdx|sgx}/certification/v4/qe/identity     body {"enclaveIdentity":{..},"signature":".."}
 *                                  header SGX-Enclave-Identity-Issuer-Chain
 *   GET {base}/sgx/certification/v4/pckcrl?ca={platform|processor}&encoding=der
 *                                  body the CRL (DER, PEM or hex), header SGX-PCK-CRL-Issuer-Chain
 *   GET {base}/sgx/certification/v4/rootcacrl              body the root CA CRL (DER, PEM or hex)
 * Issuer chains arrive URL-encoded PEM. The signed texts are taken byte for byte from the bodies
 * (the raw JSON value of "tcbInfo" / "enclaveIdentity"), never re-serialized.
 *
 * The assembled collateral (the JSON shape kg_dcap_verify takes) is cached per (base URL, TEE,
 * FMSPC, CA) in memory (pccs_client.c) and, with a cache_dir, in a file, until the earliest
 * nextUpdate of its parts. Caching saves only network round trips: kg_dcap_verify checks
 * everything it gets.
 */

#define PCCS_MAX_BODY (2u * 1024u * 1024u)
#define PCCS_MAX_HEADER (64u * 1024u)
#define PCCS_TIMEOUT_S 15L

/* ---- HTTP ------------------------------------------------------------------------------------ */

typedef struct http_resp {
    kg_buf body;
    char chain_header[64];
    char alt_header[64]; /* a second accepted name (PCS v3 vs v4 spelling) */
    kg_buf chain;        /* raw (URL-encoded) value of chain_header */
    bool overflow;
} http_resp;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    http_resp *r = ud;
    if (kg_failed(kg_buf_append(&r->body, p, size * n))) {
        kg_error_clear();
        r->overflow = true;
        return 0;
    }
    return size * n;
}

/* The value of header `name` in one raw header line ("Name: value\r\n"), trimmed; false when
 * the line is another header. Reads the line through kg_reader. */
bool kg_pccs_header_value(const uint8_t *line, size_t len, const char *name, const uint8_t **value,
                          size_t *value_len)
{
    size_t nl = strlen(name);
    kg_reader r;
    const uint8_t *p;
    uint8_t colon;
    kg_reader_init(&r, line, len);
    if (nl == 0 || kg_failed(kg_reader_ptr(&r, &p, nl, "header name")) ||
        strncasecmp((const char *)p, name, nl) != 0 ||
        kg_failed(kg_reader_u8(&r, &colon, "header colon")) || colon != ':') {
        kg_error_clear();
        return false;
    }
    size_t vl = kg_reader_remaining(&r);
    const uint8_t *v = r.data + r.pos;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    *value = v;
    *value_len = vl;
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t len = size * n;
    const uint8_t *v = NULL;
    size_t vl = 0;
    if ((r->chain_header[0] &&
         kg_pccs_header_value((const uint8_t *)p, len, r->chain_header, &v, &vl)) ||
        (r->alt_header[0] &&
         kg_pccs_header_value((const uint8_t *)p, len, r->alt_header, &v, &vl))) {
        kg_buf_reset(&r->chain);
        r->chain.len = 0;
        if (kg_failed(kg_buf_append(&r->chain, v, vl))) {
            kg_error_clear();
            r->overflow = true;
            return 0;
        }
    }
    return len;
}

static void resp_free(http_resp *r)
{
    kg_buf_free(&r->body);
    kg_buf_free(&r->chain);
}

/* GETs url; a 200 answer's body (and the named header, if any) land in *r. */
static kg_result http_get(http_resp *r, const char *url, const char *chain_header,
                          const char *alt_header)
{
    memset(r, 0, sizeof(*r));
    kg_buf_init(&r->body, PCCS_MAX_BODY);
    kg_buf_init(&r->chain, PCCS_MAX_HEADER);
    if (chain_header)
        snprintf(r->chain_header, sizeof(r->chain_header), "%s", chain_header);
    if (alt_header)
        snprintf(r->alt_header, sizeof(r->alt_header), "%s", alt_header);
    CURL *c = curl_easy_init();
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "curl init");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, PCCS_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (r->overflow) {
        resp_free(r);
        KG_BAIL(KG_ERR_TOO_LARGE, "GET %s: answer too large", url);
    }
    if (cc != CURLE_OK) {
        resp_free(r);
        KG_BAIL(KG_ERR_NETWORK, "GET %s: %s", url, curl_easy_strerror(cc));
    }
    if (status != 200) {
        resp_free(r);
        KG_BAIL(KG_ERR_NETWORK, "GET %s: HTTP %ld", url, status);
    }
    if (chain_header && r->chain.len == 0) {
        resp_free(r);
        KG_BAIL(KG_ERR_NETWORK, "GET %s: no %s header", url, chain_header);
    }
    return KG_OK;
}

static int hex_nibble(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The URL-decoded (percent-decoded; '+' stays '+', as in base64) issuer chain header value as a
 * new NUL-terminated string (caller frees). A malformed escape, a decoded NUL or an empty value
 * is an error. */
kg_result kg_pccs_issuer_chain(char **out, const uint8_t *value, size_t len, const char *what)
{
    *out = NULL;
    KG_ENSURE(len > 0, KG_ERR_INPUT, "%s: bad issuer chain header", what);
    char *dec = malloc(len + 1);
    KG_ENSURE(dec != NULL, KG_ERR_NOMEM, "allocating");
    kg_reader r;
    kg_reader_init(&r, value, len);
    size_t n = 0;
    while (kg_reader_remaining(&r) > 0) {
        uint8_t c;
        const uint8_t *h;
        if (kg_failed(kg_reader_u8(&r, &c, "issuer chain"))) {
            free(dec);
            return KG_ERROR;
        }
        if (c == '%') {
            int hi = -1, lo = -1;
            if (kg_ok(kg_reader_ptr(&r, &h, 2, "issuer chain escape"))) {
                hi = hex_nibble(h[0]);
                lo = hex_nibble(h[1]);
            }
            if (hi < 0 || lo < 0) {
                free(dec);
                kg_error_clear();
                KG_BAIL(KG_ERR_INPUT, "%s: bad escape in issuer chain header", what);
            }
            c = (uint8_t)(hi << 4 | lo);
        }
        if (c == 0) {
            free(dec);
            KG_BAIL(KG_ERR_INPUT, "%s: NUL in issuer chain", what);
        }
        dec[n++] = (char)c;
    }
    dec[n] = 0;
    *out = dec;
    return KG_OK;
}

static kg_result chain_text(char **out, const http_resp *r, const char *what)
{
    return kg_pccs_issuer_chain(out, r->chain.data, r->chain.len, what);
}

/* A CRL body in any of the forms PCS and PCCS use (DER, PEM, hex text) as lowercase hex DER. */
kg_result kg_pccs_crl_hex(char **out, const uint8_t *body, size_t len, const char *what)
{
    kg_result rc = KG_ERROR;
    X509_CRL *crl = NULL;
    uint8_t *der = NULL;
    *out = NULL;
    const uint8_t *p = body;
    /* Trailing whitespace is trimmed only from the text forms: a DER CRL's last byte is the
     * end of its signature and is 0x09-0x0d or 0x20 for about 1 CRL in 43, so trimming the
     * binary form truncated it ("too long"). */
    size_t n = len;
    while (n > 0 && isspace(p[n - 1]))
        n--;
    bool hex = n > 0 && n % 2 == 0;
    for (size_t i = 0; i < n && hex; i++)
        hex = isxdigit(p[i]);
    if (hex) {
        *out = malloc(n + 1);
        KG_ENSURE(*out != NULL, KG_ERR_NOMEM, "allocating");
        for (size_t i = 0; i < n; i++)
            (*out)[i] = (char)tolower(p[i]);
        (*out)[n] = 0;
        return KG_OK;
    }
    KG_ENSURE(len <= PCCS_MAX_BODY, KG_ERR_TOO_LARGE, "%s: CRL of %zu bytes", what, len);
    if (n > 10 && memcmp(p, "-----BEGIN", 10) == 0) {
        BIO *bio = BIO_new_mem_buf(p, (int)n);
        crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    } else if (len > 0) {
        const uint8_t *q = p;
        n = len;
        crl = d2i_X509_CRL(NULL, &q, (long)n);
        if (crl && q != p + n) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    KG_ENSURE_OSSL_C(crl != NULL, KG_ERR_INPUT, "%s: not a CRL", what);
    int dl = i2d_X509_CRL(crl, &der);
    KG_ENSURE_OSSL_C(dl > 0, KG_ERR_INPUT, "%s: encoding", what);
    *out = malloc(2 * (size_t)dl + 1);
    KG_ENSURE_C(*out != NULL, KG_ERR_NOMEM, "allocating");
    KG_GUARD_C(kg_hex_encode(*out, 2 * (size_t)dl + 1, der, (size_t)dl));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        free(*out);
        *out = NULL;
    }
    OPENSSL_free(der);
    X509_CRL_free(crl);
    return rc;
}

/* ---- a skim of the PCS body's top level through kg_reader ----------------------------------- */

static void skim_ws(kg_reader *r)
{
    while (r->pos < r->len && (r->data[r->pos] == ' ' || r->data[r->pos] == '\t' ||
                               r->data[r->pos] == '\n' || r->data[r->pos] == '\r'))
        r->pos++;
}

static kg_result skim_byte(kg_reader *r, uint8_t want, const char *what)
{
    uint8_t c;
    KG_GUARD(kg_reader_u8(r, &c, what));
    KG_ENSURE(c == want, KG_ERR_INPUT, "%s: '%c' expected at offset %zu", what, want, r->pos - 1);
    return KG_OK;
}

/* A JSON string (the reader on its opening quote): its raw bytes between the quotes. */
static kg_result skim_string(kg_reader *r, const uint8_t **s, size_t *n)
{
    KG_GUARD(skim_byte(r, '"', "PCS body string"));
    size_t start = r->pos;
    for (;;) {
        uint8_t c;
        KG_GUARD(kg_reader_u8(r, &c, "PCS body string"));
        if (c == '"')
            break;
        if (c == '\\')
            KG_GUARD(kg_reader_skip(r, 1, "PCS body string escape"));
    }
    *s = r->data + start;
    *n = r->pos - 1 - start;
    return KG_OK;
}

/* Any JSON value (already validated by jansson): strings whole, objects and arrays balanced,
 * literals and numbers up to the next delimiter. */
static kg_result skim_value(kg_reader *r)
{
    const uint8_t *s;
    size_t n, depth = 0;
    do {
        uint8_t c;
        KG_ENSURE(r->pos < r->len, KG_ERR_TRUNCATED, "PCS body: truncated value");
        c = r->data[r->pos];
        if (c == '"') {
            KG_GUARD(skim_string(r, &s, &n));
        } else if (c == '{' || c == '[') {
            r->pos++;
            depth++;
        } else if (c == '}' || c == ']') {
            KG_ENSURE(depth > 0, KG_ERR_INPUT, "PCS body: unbalanced '%c'", c);
            r->pos++;
            depth--;
        } else if (depth > 0) {
            r->pos++; /* ',' ':' whitespace, digits, letters inside a container */
        } else {
            while (r->pos < r->len && r->data[r->pos] != ',' && r->data[r->pos] != '}' &&
                   r->data[r->pos] != ']' && r->data[r->pos] != ' ' && r->data[r->pos] != '\t' &&
                   r->data[r->pos] != '\n' && r->data[r->pos] != '\r')
                r->pos++;
        }
    } while (depth > 0);
    return KG_OK;
}

/* The exact text of the value of top-level `key` in a PCS body {"key":{...},"signature":"hex"}
 * and the signature. The body is validated by jansson (duplicate keys refused), then its top
 * level is walked through kg_reader so the signed text is kept byte for byte. */
kg_result kg_pccs_signed_body(char **text, char **sig, const uint8_t *body, size_t len,
                              const char *key)
{
    kg_result rc = KG_ERROR;
    json_t *o = NULL;
    *text = *sig = NULL;
    json_error_t err;
    /* jansson accepts a raw NUL byte between tokens, and the signed text goes on as a C string
     * (cut at the NUL): refuse one outright */
    KG_ENSURE(len == 0 || memchr(body, 0, len) == NULL, KG_ERR_INPUT, "%s: NUL byte in the body",
              key);
    o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
    KG_ENSURE_C(json_is_object(o), KG_ERR_INPUT, "%s: invalid JSON body: %s", key, err.text);
    const json_t *s = json_object_get(o, "signature");
    KG_ENSURE_C(json_is_string(s) && json_is_object(json_object_get(o, key)), KG_ERR_INPUT,
                "%s: body lacks '%s' or 'signature'", key, key);
    kg_reader r;
    kg_reader_init(&r, body, len);
    const uint8_t *at = NULL;
    size_t n = 0, klen = strlen(key);
    skim_ws(&r);
    KG_GUARD_C(skim_byte(&r, '{', "PCS body"));
    skim_ws(&r);
    if (r.pos < r.len && r.data[r.pos] == '}')
        r.pos++;
    else
        for (;;) {
            const uint8_t *k;
            size_t kn;
            skim_ws(&r);
            KG_GUARD_C(skim_string(&r, &k, &kn));
            skim_ws(&r);
            KG_GUARD_C(skim_byte(&r, ':', "PCS body"));
            skim_ws(&r);
            size_t start = r.pos;
            KG_GUARD_C(skim_value(&r));
            /* a key spelt with escapes does not match: the member is not found (fail closed) */
            if (kn == klen && memcmp(k, key, klen) == 0 && r.data[start] == '{') {
                at = r.data + start;
                n = r.pos - start;
            }
            skim_ws(&r);
            uint8_t c;
            KG_GUARD_C(kg_reader_u8(&r, &c, "PCS body"));
            if (c == '}')
                break;
            KG_ENSURE_C(c == ',', KG_ERR_INPUT, "PCS body: ',' or '}' expected at offset %zu",
                        r.pos - 1);
        }
    KG_ENSURE_C(at != NULL, KG_ERR_INPUT, "%s: not found", key);
    *text = malloc(n + 1);
    *sig = strdup(json_string_value(s));
    KG_ENSURE_C(*text && *sig, KG_ERR_NOMEM, "allocating");
    memcpy(*text, at, n);
    (*text)[n] = 0;
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        free(*text);
        free(*sig);
        *text = *sig = NULL;
    }
    json_decref(o);
    return rc;
}

/* ---- the quote's platform: TEE, FMSPC and PCK CA from its PCK certificate -------------------- */

kg_result kg_pccs_platform_of(kg_pccs_platform *pf, const uint8_t *quote, size_t quote_len)
{
    kg_result rc = KG_ERROR;
    STACK_OF(X509) *chain = NULL;
    kg_quote q;
    kg_pck_ext ext;
    KG_GUARD(kg_quote_parse(&q, quote, quote_len));
    pf->tdx = q.header.tee_type == KG_TEE_TYPE_TDX;
    KG_GUARD_C(
        kg_dcap_pem_chain(&chain, q.pck_chain, q.pck_chain_len, 8, "PCK certificate chain", NULL));
    X509 *leaf = sk_X509_value(chain, 0);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
    int idx = oid ? X509_get_ext_by_OBJ(leaf, oid, -1) : -1;
    ASN1_OBJECT_free(oid);
    KG_ENSURE_C(idx >= 0, KG_ERR_INPUT, "PCK certificate has no SGX extension");
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));
    KG_GUARD_C(kg_pck_ext_parse(&ext, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v)));
    KG_GUARD_C(kg_hex_encode(pf->fmspc, sizeof(pf->fmspc), ext.fmspc, 6));
    for (char *c = pf->fmspc; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, cn, sizeof(cn));
    snprintf(pf->ca, sizeof(pf->ca), "%s", strstr(cn, "Processor") ? "processor" : "platform");
    rc = KG_OK;
cleanup:
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- fetch and assemble ---------------------------------------------------------------------- */

kg_result kg_pccs_base_of(char *out, size_t n, const char *url)
{
    size_t len = strlen(url);
    KG_ENSURE(len > 0 && len + 1 < n, KG_ERR_USAGE, "PCCS URL of %zu characters", len);
    KG_ENSURE(strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0, KG_ERR_USAGE,
              "PCCS URL '%.80s' is not http(s)", url);
    memcpy(out, url, len + 1);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = 0;
    const char *suffixes[] = {"/sgx/certification/v4", "/tdx/certification/v4"};
    for (size_t i = 0; i < 2; i++) {
        size_t sl = strlen(suffixes[i]);
        if (len >= sl && strcmp(out + len - sl, suffixes[i]) == 0)
            out[len - sl] = 0;
    }
    return KG_OK;
}

/* Earliest nextUpdate among the parts (they are re-fetched after it). */
static kg_result expiry_of(int64_t *out, const char *tcb, const char *qe, const char *pck_crl_hex,
                           const char *root_crl_hex)
{
    kg_result rc = KG_ERROR;
    kg_tcb_info *ti = malloc(sizeof(*ti));
    kg_qe_identity *qi = malloc(sizeof(*qi));
    kg_buf der;
    kg_buf_init(&der, PCCS_MAX_BODY);
    KG_ENSURE_C(ti && qi, KG_ERR_NOMEM, "allocating");
    KG_GUARD_C(kg_tcb_info_parse(ti, tcb, strlen(tcb)));
    KG_GUARD_C(kg_qe_identity_parse(qi, qe, strlen(qe)));
    int64_t e = ti->next_update < qi->next_update ? ti->next_update : qi->next_update;
    const char *crls[] = {pck_crl_hex, root_crl_hex};
    for (size_t i = 0; i < 2; i++) {
        kg_buf_reset(&der);
        der.len = 0;
        KG_GUARD_C(kg_hex_decode_buf(&der, crls[i], strlen(crls[i])));
        const uint8_t *p = der.data;
        X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)der.len);
        KG_ENSURE_OSSL_C(crl != NULL, KG_ERR_INPUT, "CRL from the PCCS is malformed");
        int64_t nu = 0;
        kg_result r =
            X509_CRL_get0_nextUpdate(crl)
                ? kg_dcap_asn1_time(&nu, X509_CRL_get0_nextUpdate(crl))
                : kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "CRL without nextUpdate");
        X509_CRL_free(crl);
        KG_GUARD_C(r);
        if (nu < e)
            e = nu;
    }
    *out = e;
    rc = KG_OK;
cleanup:
    free(ti);
    free(qi);
    kg_buf_free(&der);
    return rc;
}

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

kg_result kg_pccs_http_fetch(void *ctx, char **out_json, int64_t *expiry, const char *base,
                             const kg_pccs_platform *pf)
{
    (void)ctx;
    kg_result rc = KG_ERROR;
    http_resp tcb = {0}, qe = {0}, pck = {0}, root = {0};
    char url[KG_PCCS_URL_MAX];
    char *tcb_text = NULL, *tcb_sig = NULL, *qe_text = NULL, *qe_sig = NULL;
    char *tcb_chain = NULL, *qe_chain = NULL, *pck_chain = NULL, *pck_hex = NULL, *root_hex = NULL;
    json_t *o = NULL;
    const char *tee = pf->tdx ? "tdx" : "sgx";
    *out_json = NULL;
    pthread_once(&g_curl_once, curl_init_once);

    snprintf(url, sizeof(url), "%s/%s/certification/v4/tcb?fmspc=%s", base, tee, pf->fmspc);
    KG_GUARD_C(http_get(&tcb, url, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"));
    KG_GUARD_C(kg_pccs_signed_body(&tcb_text, &tcb_sig, tcb.body.data, tcb.body.len, "tcbInfo"));
    KG_GUARD_C(chain_text(&tcb_chain, &tcb, "tcb"));

    snprintf(url, sizeof(url), "%s/%s/certification/v4/qe/identity", base, tee);
    KG_GUARD_C(
        http_get(&qe, url, "SGX-Enclave-Identity-Issuer-Chain", "Enclave-Identity-Issuer-Chain"));
    KG_GUARD_C(
        kg_pccs_signed_body(&qe_text, &qe_sig, qe.body.data, qe.body.len, "enclaveIdentity"));
    KG_GUARD_C(chain_text(&qe_chain, &qe, "qe/identity"));

    snprintf(url, sizeof(url), "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", base, pf->ca);
    KG_GUARD_C(http_get(&pck, url, "SGX-PCK-CRL-Issuer-Chain", NULL));
    KG_GUARD_C(kg_pccs_crl_hex(&pck_hex, pck.body.data, pck.body.len, "pckcrl"));
    KG_GUARD_C(chain_text(&pck_chain, &pck, "pckcrl"));

    snprintf(url, sizeof(url), "%s/sgx/certification/v4/rootcacrl", base);
    KG_GUARD_C(http_get(&root, url, NULL, NULL));
    KG_GUARD_C(kg_pccs_crl_hex(&root_hex, root.body.data, root.body.len, "rootcacrl"));

    KG_GUARD_CTX_C(expiry_of(expiry, tcb_text, qe_text, pck_hex, root_hex), "PCCS collateral");

    o = json_object();
    KG_ENSURE_C(o != NULL, KG_ERR_NOMEM, "allocating");
    json_object_set_new(o, "pck_crl_issuer_chain", json_string(pck_chain));
    json_object_set_new(o, "root_ca_crl", json_string(root_hex));
    json_object_set_new(o, "pck_crl", json_string(pck_hex));
    json_object_set_new(o, "tcb_info_issuer_chain", json_string(tcb_chain));
    json_object_set_new(o, "tcb_info", json_string(tcb_text));
    json_object_set_new(o, "tcb_info_signature", json_string(tcb_sig));
    json_object_set_new(o, "qe_identity_issuer_chain", json_string(qe_chain));
    json_object_set_new(o, "qe_identity", json_string(qe_text));
    json_object_set_new(o, "qe_identity_signature", json_string(qe_sig));
    KG_ENSURE_C(json_object_size(o) == KG_COLL_N, KG_ERR_INPUT,
                "PCCS answer is not valid UTF-8 text");
    *out_json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    KG_ENSURE_C(*out_json != NULL, KG_ERR_NOMEM, "serializing collateral");
    rc = KG_OK;
cleanup:
    json_decref(o);
    resp_free(&tcb);
    resp_free(&qe);
    resp_free(&pck);
    resp_free(&root);
    free(tcb_text);
    free(tcb_sig);
    free(qe_text);
    free(qe_sig);
    free(tcb_chain);
    free(qe_chain);
    free(pck_chain);
    free(pck_hex);
    free(root_hex);
    return rc;
}

/* ---- the disk cache ------------------------------------------------------------------------ */

/* Disk cache: <dir>/pccs-<sha256(key)>.json holding {"expiry":"<unix>","collateral":"<json>"}. */
static kg_result disk_path(char *out, size_t n, const char *dir, const char *key)
{
    uint8_t h[KG_SHA256_LEN];
    char hex[2 * KG_SHA256_LEN + 1];
    KG_GUARD(kg_sha256(h, key, strlen(key)));
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), h, sizeof(h)));
    int w = snprintf(out, n, "%s/pccs-%s.json", dir, hex);
    KG_ENSURE(w > 0 && (size_t)w < n, KG_ERR_USAGE, "cache dir path too long");
    return KG_OK;
}

char *kg_pccs_disk_get(const char *dir, const char *key, int64_t now, int64_t *expiry)
{
    char path[4096];
    if (kg_failed(disk_path(path, sizeof(path), dir, key))) {
        kg_error_clear();
        return NULL;
    }
    json_error_t err;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!o)
        return NULL;
    char *hit = NULL;
    const char *exp = json_string_value(json_object_get(o, "expiry"));
    const char *coll = json_string_value(json_object_get(o, "collateral"));
    char *end = NULL;
    long long e = exp ? strtoll(exp, &end, 10) : 0;
    if (coll && end && *end == 0 && now <= e) {
        hit = strdup(coll);
        *expiry = e;
    }
    json_decref(o);
    return hit;
}

void kg_pccs_disk_put(const char *dir, const char *key, const char *json, int64_t expiry)
{
    char path[4096], exp[32];
    if (kg_failed(disk_path(path, sizeof(path), dir, key))) {
        kg_error_clear();
        return;
    }
    snprintf(exp, sizeof(exp), "%lld", (long long)expiry);
    json_t *o = json_pack("{s:s,s:s}", "expiry", exp, "collateral", json);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    /* Collateral is public (Intel signs it; anyone may fetch it), so the cache is world-readable
     * on purpose: other keygate processes of other users may share it. Atomic, so a reader sees
     * a whole entry or none. A cache that cannot be written only costs a fetch. */
    if (text != NULL && kg_failed(kg_file_write_atomic(path, text, strlen(text), 0644)))
        kg_error_clear();
    free(text);
}
