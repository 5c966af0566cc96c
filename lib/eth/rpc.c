/* rpc.c - the JSON-RPC transport: a thread-safe client over libcurl with a pool of keep-alive
 * handles, and the strict parsers of untrusted replies (envelope, quantities, data, blocks,
 * receipts, logs, transactions). See eth.h for the error kinds. */
#include "keygate/eth.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eth/internal.h"
#include "keygate/hash.h"

struct kg_eth_client {
    char url[KG_ETH_MAX_URL_LEN + 1];
    uint32_t timeout_ms;
    pthread_mutex_t lock;               /* guards everything below */
    CURL *idle[KG_ETH_CLIENT_POOL_MAX]; /* handles not in use, each with a live connection */
    size_t n_idle;
    uint64_t next_id;
    bool have_chain_id;
    uint64_t chain_id;
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static bool g_curl_ok;

/* curl_global_init is not thread-safe in every libcurl build: once, before any handle. */
static void curl_init_once(void)
{
    g_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

kg_result kg_eth_client_new(kg_eth_client **out, const char *url, uint32_t timeout_ms)
{
    *out = NULL;
    KG_ENSURE(url != NULL && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0),
              KG_ERR_INPUT, "RPC URL '%s' is not http:// or https://", url ? url : "");
    size_t len = strlen(url);
    KG_ENSURE(len <= KG_ETH_MAX_URL_LEN, KG_ERR_INPUT, "RPC URL of %zu bytes exceeds %u", len,
              KG_ETH_MAX_URL_LEN);
    KG_ENSURE(pthread_once(&g_curl_once, curl_init_once) == 0 && g_curl_ok, KG_ERR_INTERNAL,
              "curl_global_init failed");
    kg_eth_client *c = calloc(1, sizeof(*c));
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "out of memory");
    memcpy(c->url, url, len + 1);
    c->timeout_ms = timeout_ms ? timeout_ms : KG_ETH_DEFAULT_TIMEOUT_MS;
    c->next_id = 1;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        KG_BAIL(KG_ERR_INTERNAL, "pthread_mutex_init failed");
    }
    *out = c;
    return KG_OK;
}

void kg_eth_client_free(kg_eth_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_idle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *kg_eth_client_url(const kg_eth_client *c)
{
    return c->url;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static CURL *take_handle(kg_eth_client *c, uint64_t *id)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->n_idle > 0)
        h = c->idle[--c->n_idle];
    *id = c->next_id++;
    pthread_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

static void return_handle(kg_eth_client *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->n_idle < KG_ETH_CLIENT_POOL_MAX) {
        c->idle[c->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    kg_buf *b = arg;
    if (kg_failed(kg_buf_append(b, data, size * n)))
        return 0; /* over KG_ETH_MAX_RPC_REPLY: libcurl aborts with CURLE_WRITE_ERROR */
    return size * n;
}

static kg_result http_post(kg_eth_client *c, CURL *h, kg_buf *reply, const char *method,
                           const char *body)
{
    kg_result rc = KG_ERROR;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    KG_ENSURE_C(hdr != NULL, KG_ERR_NOMEM, "out of memory");
    curl_easy_reset(h);
    bool ok = curl_easy_setopt(h, CURLOPT_URL, c->url) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEDATA, reply) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KG_ETH_MAX_RPC_REPLY) ==
                  CURLE_OK;
    KG_ENSURE_C(ok, KG_ERR_INTERNAL, "configuring libcurl failed");
    CURLcode cc = curl_easy_perform(h);
    KG_ENSURE_C(!(cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED), KG_ERR_TOO_LARGE,
                "chain node %s: %s reply exceeds %u bytes", c->url, method, KG_ETH_MAX_RPC_REPLY);
    KG_ENSURE_C(cc == CURLE_OK, KG_ERR_NETWORK, "chain node %s: %s: %s", c->url, method,
                curl_easy_strerror(cc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    KG_ENSURE_C(status == 200, KG_ERR_NETWORK, "chain node %s: %s answered HTTP %ld", c->url,
                method, status);
    rc = KG_OK;
cleanup:
    curl_slist_free_all(hdr);
    return rc;
}

/* ---- reply parsing (untrusted) -------------------------------------------------------------- */

/* A revert is reported as code 3 ("execution reverted", EIP-1474 / geth) or, by some nodes, as
 * -32000/-32015 with a message starting "execution reverted" or "revert". */
static bool is_revert(json_int_t code, const char *msg)
{
    return code == 3 || strncmp(msg, "execution reverted", 18) == 0 ||
           strncmp(msg, "revert", 6) == 0 || strncmp(msg, "VM Exception", 12) == 0;
}

static kg_result rpc_error(kg_eth_revert *revert, const char *method, const json_t *err)
{
    json_t *jcode = json_object_get(err, "code");
    json_t *jmsg = json_object_get(err, "message");
    KG_ENSURE(json_is_object(err) && json_is_integer(jcode) && json_is_string(jmsg), KG_ERR_NETWORK,
              "chain node: %s: malformed JSON-RPC error object", method);
    json_int_t code = json_integer_value(jcode);
    const char *msg = json_string_value(jmsg);
    size_t msg_len = strlen(msg);
    int shown = msg_len > KG_ETH_MAX_REASON_LEN ? (int)KG_ETH_MAX_REASON_LEN : (int)msg_len;
    if (!is_revert(code, msg))
        KG_BAIL(KG_ERR_NETWORK, "node rejected %s: %.*s (code %lld)", method, shown, msg,
                (long long)code);

    /* The revert data, when the node gives it, says why; decode it strictly. */
    kg_eth_revert rv;
    memset(&rv, 0, sizeof(rv));
    char why[KG_ETH_MAX_REASON_LEN + 128] = "no revert data";
    json_t *jdata = json_object_get(err, "data");
    if (json_is_string(jdata)) {
        kg_buf raw;
        kg_buf_init(&raw, KG_ETH_MAX_ABI_LEN);
        if (kg_ok(kg_eth_parse_data(&raw, jdata, "revert data")) &&
            kg_ok(kg_abi_decode_revert(&rv, raw.data, raw.len))) {
            kg_eth_revert_describe(why, sizeof(why), &rv);
        } else {
            memset(&rv, 0, sizeof(rv));
            snprintf(why, sizeof(why), "malformed revert data");
        }
        kg_buf_free(&raw);
    }
    if (revert != NULL)
        *revert = rv;
    KG_BAIL(KG_ERR_DENIED, "%s: execution reverted: %s", method, why);
}

kg_result kg_eth_rpc_parse_reply(json_t **result, kg_eth_revert *revert, const char *method,
                                 uint64_t id, const uint8_t *body, size_t len)
{
    *result = NULL;
    if (revert != NULL)
        memset(revert, 0, sizeof(*revert));
    KG_ENSURE(len <= KG_ETH_MAX_RPC_REPLY, KG_ERR_TOO_LARGE,
              "chain node: %s reply exceeds %u bytes", method, KG_ETH_MAX_RPC_REPLY);
    /* NUL is allowed inside strings: anvil puts raw revert bytes into error messages. Hex
     * fields are read with their full length, so a NUL there still fails as non-hex. */
    json_error_t jerr;
    json_t *doc =
        json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    KG_ENSURE(doc != NULL, KG_ERR_NETWORK, "chain node: %s reply is not JSON: %s", method,
              jerr.text);
    kg_result rc = KG_ERROR;
    KG_ENSURE_C(json_is_object(doc), KG_ERR_NETWORK, "chain node: %s reply is not a JSON object",
                method);
    const char *ver = json_string_value(json_object_get(doc, "jsonrpc"));
    KG_ENSURE_C(ver != NULL && strcmp(ver, "2.0") == 0, KG_ERR_NETWORK,
                "chain node: %s reply is not JSON-RPC 2.0", method);
    json_t *jid = json_object_get(doc, "id");
    KG_ENSURE_C(json_is_integer(jid) && json_integer_value(jid) >= 0 &&
                    (uint64_t)json_integer_value(jid) == id,
                KG_ERR_NETWORK, "chain node: %s reply has the wrong id (want %llu)", method,
                (unsigned long long)id);
    json_t *res = json_object_get(doc, "result");
    json_t *err = json_object_get(doc, "error");
    KG_ENSURE_C((res == NULL) != (err == NULL), KG_ERR_NETWORK,
                "chain node: %s reply must have exactly one of result and error", method);
    if (err != NULL) {
        (void)rpc_error(revert, method, err);
        goto cleanup;
    }
    *result = json_incref(res);
    rc = KG_OK;
cleanup:
    json_decref(doc);
    return rc;
}

/* How one exchange's reply body is read (the envelope and the result, strictly). */
typedef kg_result (*reply_reader)(void *arg, const char *method, uint64_t id, const uint8_t *body,
                                  size_t len);

/* One JSON-RPC exchange on a pooled handle: method(params), the reply read by `read`. */
static kg_result exchange(kg_eth_client *c, const char *method, json_t *params, reply_reader read,
                          void *arg)
{
    kg_result rc = KG_ERROR;
    uint64_t id;
    char *body = NULL;
    kg_buf reply;
    kg_buf_init(&reply, KG_ETH_MAX_RPC_REPLY);
    CURL *h = take_handle(c, &id);
    KG_ENSURE_C(h != NULL, KG_ERR_NOMEM, "curl_easy_init failed");
    json_t *req = json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id", (json_int_t)id,
                            "method", method, "params", params);
    KG_ENSURE_C(req != NULL, KG_ERR_NOMEM, "building the %s request failed", method);
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    KG_ENSURE_C(body != NULL, KG_ERR_NOMEM, "serializing the %s request failed", method);
    KG_GUARD_C(http_post(c, h, &reply, method, body));
    KG_GUARD_C(read(arg, method, id, reply.data, reply.len));
    rc = KG_OK;
cleanup:
    if (h != NULL) {
        /* A handle whose transfer failed may hold a broken connection: drop it. */
        if (kg_ok(rc) || kg_error_code() == KG_ERR_DENIED)
            return_handle(c, h);
        else
            curl_easy_cleanup(h);
    }
    free(body);
    kg_buf_free(&reply);
    return rc;
}

typedef struct plain_reply {
    json_t **result;
    kg_eth_revert *revert;
} plain_reply;

static kg_result read_plain(void *arg, const char *method, uint64_t id, const uint8_t *body,
                            size_t len)
{
    plain_reply *r = arg;
    return kg_eth_rpc_parse_reply(r->result, r->revert, method, id, body, len);
}

kg_result kg_eth_rpc(kg_eth_client *c, json_t **result, kg_eth_revert *revert, const char *method,
                     json_t *params)
{
    *result = NULL;
    plain_reply r = {result, revert};
    return exchange(c, method, params, read_plain, &r);
}

static kg_result read_block(void *arg, const char *method, uint64_t id, const uint8_t *body,
                            size_t len)
{
    return kg_eth_parse_block_reply(arg, method, id, body, len);
}

kg_result kg_eth_rpc_block(kg_eth_client *c, kg_eth_block *out, json_t *params)
{
    memset(out, 0, sizeof(*out));
    return exchange(c, "eth_getBlockByNumber", params, read_block, out);
}

/* ---- block replies: the transaction list left unread ---------------------------------------- */

/* A block's "transactions" member (eth_getBlockByNumber(tag, false): one hash string per
 * transaction) is nearly all of a busy block's reply and none of what keygate reads of a block.
 * Parsed into a JSON tree, it cost the KMS about 10,500 instructions per transaction per head
 * read (kms/README.md); skipping it here costs a few instructions per byte.
 *
 * Why the copy says what the reply says. The only bytes removed are the contents of an array
 * that is exactly [ "0x" + 64 hex digits, ... ] (whitespace allowed between elements), found
 * right after the bytes "transactions":[ . In valid JSON those bytes can only be a member key
 * ending in transactions and its value: the quote before the colon follows a letter, so it is
 * unescaped and closes a string, and a string followed by a colon is a key. Such an array holds
 * no quote, bracket or backslash beyond its elements' delimiters, so emptying it leaves every
 * other member, key and nesting level as it was: the copy parses (strictly, duplicates refused)
 * exactly when the reply does, to the same number, hash, timestamp and base fee. Anything else
 * (full transaction objects, odd strings, malformed arrays, no such member) is not elided and the
 * reply is parsed as it came. A reply built to confuse this scan can only yield a document its
 * node could have sent itself: the quorum's agreement on the block hash is what decides. */

static const char TX_KEY[] = "\"transactions\":[";

/* 1 for the bytes 0-9, a-f, A-F. */
static const uint8_t HEX_DIGIT[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1};

static bool json_ws(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t skip_ws(const uint8_t *p, size_t i, size_t n)
{
    while (i < n && json_ws(p[i]))
        i++;
    return i;
}

/* The end of [p + i, p + n) as a list of hash strings and its closing bracket: the index of
 * the ']' (0 when it is not such a list, or is empty). */
static size_t hash_list_end(const uint8_t *p, size_t i, size_t n)
{
    static const size_t HASH_CHARS = 2 + 2 * KG_ETH_HASH_LEN;
    i = skip_ws(p, i, n);
    if (i < n && p[i] == ']')
        return 0; /* empty already */
    for (;;) {
        if (n - i < HASH_CHARS + 2 || p[i] != '"' || p[i + 1] != '0' || p[i + 2] != 'x' ||
            p[i + HASH_CHARS + 1] != '"')
            return 0;
        unsigned bad = 0; /* one table lookup per digit: this loop is most of the scan's cost */
        for (size_t k = i + 3; k <= i + HASH_CHARS; k++)
            bad |= HEX_DIGIT[p[k]] ^ 1u;
        if (bad)
            return 0;
        i = skip_ws(p, i + HASH_CHARS + 2, n);
        if (i >= n)
            return 0;
        if (p[i] == ']')
            return i;
        if (p[i] != ',')
            return 0;
        i = skip_ws(p, i + 1, n);
    }
}

bool kg_eth_elide_tx_hashes(kg_buf *out, const uint8_t *body, size_t len)
{
    const size_t key_len = sizeof(TX_KEY) - 1;
    kg_reader r;
    kg_reader_init(&r, body, len);
    for (size_t at = 0; at + key_len <= len;) {
        const uint8_t *q = memchr(body + at, '"', len - at);
        if (q == NULL)
            return false;
        at = (size_t)(q - body);
        if (len - at >= key_len && memcmp(q, TX_KEY, key_len) == 0) {
            size_t open = at + key_len; /* first byte inside the array */
            size_t close = hash_list_end(body, open, len);
            if (close == 0)
                return false;
            const uint8_t *head, *tail;
            r.pos = 0;
            if (kg_failed(kg_reader_ptr(&r, &head, open, "block reply")) ||
                kg_failed(kg_reader_skip(&r, close - open, "transaction hashes")) ||
                kg_failed(kg_reader_ptr(&r, &tail, len - close, "block reply"))) {
                kg_error_clear();
                return false;
            }
            out->len = 0;
            if (kg_failed(kg_buf_append(out, head, open)) ||
                kg_failed(kg_buf_append(out, tail, len - close))) {
                kg_error_clear();
                return false;
            }
            return true;
        }
        at++;
    }
    return false;
}

kg_result kg_eth_parse_block_reply(kg_eth_block *out, const char *method, uint64_t id,
                                   const uint8_t *body, size_t len)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(len <= KG_ETH_MAX_RPC_REPLY, KG_ERR_TOO_LARGE,
              "chain node: %s reply exceeds %u bytes", method, KG_ETH_MAX_RPC_REPLY);
    kg_buf cut;
    kg_buf_init(&cut, len);
    if (kg_eth_elide_tx_hashes(&cut, body, len)) {
        body = cut.data;
        len = cut.len;
    }
    json_t *res;
    kg_result rc = kg_eth_rpc_parse_reply(&res, NULL, method, id, body, len);
    kg_buf_free(&cut);
    KG_GUARD(rc);
    if (json_is_null(res))
        rc = kg_error_set(KG_ERR_NOT_FOUND, __FILE__, __LINE__, "chain node: no such block");
    else
        rc = kg_eth_parse_block(out, res);
    json_decref(res);
    return rc;
}

/* ---- member parsers ------------------------------------------------------------------------- */

static int nib(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* QUANTITY: "0x" and 1..16 hex digits (EIP-1474 asks for no leading zeros; tolerated, but the
 * value must fit 64 bits). */
kg_result kg_eth_parse_quantity(uint64_t *out, const json_t *v, const char *what)
{
    const char *s = json_string_value(v);
    KG_ENSURE(s != NULL, KG_ERR_NETWORK, "chain node: %s is not a hex quantity string", what);
    size_t n = json_string_length(v);
    KG_ENSURE(n >= 3 && s[0] == '0' && s[1] == 'x', KG_ERR_NETWORK,
              "chain node: %s is not a 0x quantity", what);
    size_t i = 2;
    while (i < n - 1 && s[i] == '0')
        i++;
    KG_ENSURE(n - i <= 16, KG_ERR_NETWORK, "chain node: %s does not fit 64 bits", what);
    uint64_t x = 0;
    for (; i < n; i++) {
        int d = nib(s[i]);
        KG_ENSURE(d >= 0, KG_ERR_NETWORK, "chain node: %s is not a hex quantity", what);
        x = (x << 4) | (uint64_t)d;
    }
    *out = x;
    return KG_OK;
}

/* DATA: "0x" and an even number of hex digits, appended to out (bounded by out->max). */
kg_result kg_eth_parse_data(kg_buf *out, const json_t *v, const char *what)
{
    const char *s = json_string_value(v);
    KG_ENSURE(s != NULL, KG_ERR_NETWORK, "chain node: %s is not a hex data string", what);
    size_t n = json_string_length(v);
    KG_ENSURE(n >= 2 && s[0] == '0' && s[1] == 'x' && n % 2 == 0, KG_ERR_NETWORK,
              "chain node: %s is not 0x-prefixed hex data", what);
    KG_ENSURE((n - 2) / 2 <= out->max - out->len, KG_ERR_TOO_LARGE,
              "chain node: %s of %zu bytes exceeds %zu", what, (n - 2) / 2, out->max - out->len);
    for (size_t i = 2; i < n; i++)
        KG_ENSURE(nib(s[i]) >= 0, KG_ERR_NETWORK, "chain node: %s has a non-hex character", what);
    KG_GUARD(kg_hex_decode_buf(out, s + 2, n - 2));
    return KG_OK;
}

/* DATA of exactly n bytes (hashes, addresses). */
static kg_result parse_fixed(uint8_t *out, size_t n, const json_t *v, const char *what)
{
    uint8_t tmp[64];
    kg_buf b;
    kg_buf_init(&b, sizeof(tmp));
    kg_result rc = kg_eth_parse_data(&b, v, what);
    if (kg_ok(rc) && b.len != n)
        rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                          "chain node: %s is %zu bytes, expected %zu", what, b.len, n);
    if (kg_ok(rc))
        memcpy(out, b.data, n);
    kg_buf_free(&b);
    return rc;
}

static const json_t *member(const json_t *obj, const char *key)
{
    return json_object_get(obj, key);
}

kg_result kg_eth_parse_block(kg_eth_block *out, const json_t *v)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(json_is_object(v), KG_ERR_NETWORK, "chain node: block is not an object");
    KG_GUARD(kg_eth_parse_quantity(&out->number, member(v, "number"), "block number"));
    KG_GUARD(parse_fixed(out->hash, KG_ETH_HASH_LEN, member(v, "hash"), "block hash"));
    KG_GUARD(kg_eth_parse_quantity(&out->timestamp, member(v, "timestamp"), "block timestamp"));
    const json_t *fee = member(v, "baseFeePerGas");
    if (fee != NULL && !json_is_null(fee)) {
        KG_GUARD(kg_eth_parse_quantity(&out->base_fee_per_gas, fee, "block baseFeePerGas"));
        out->has_base_fee = true;
    }
    return KG_OK;
}

void kg_eth_logs_free(kg_eth_logs *logs)
{
    if (logs == NULL)
        return;
    for (size_t i = 0; i < logs->count; i++)
        free(logs->items[i].data);
    free(logs->items);
    logs->items = NULL;
    logs->count = 0;
}

static kg_result parse_log(kg_eth_log *l, const json_t *v)
{
    KG_ENSURE(json_is_object(v), KG_ERR_NETWORK, "chain node: log is not an object");
    KG_GUARD(parse_fixed(l->address, KG_ETH_ADDRESS_LEN, member(v, "address"), "log address"));
    const json_t *topics = member(v, "topics");
    KG_ENSURE(json_is_array(topics) && json_array_size(topics) <= KG_ETH_MAX_TOPICS, KG_ERR_NETWORK,
              "chain node: log topics is not an array of at most %d", KG_ETH_MAX_TOPICS);
    for (size_t i = 0; i < json_array_size(topics); i++)
        KG_GUARD(
            parse_fixed(l->topics[i], KG_ETH_HASH_LEN, json_array_get(topics, i), "log topic"));
    l->n_topics = json_array_size(topics);
    kg_buf d;
    kg_buf_init(&d, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_eth_parse_data(&d, member(v, "data"), "log data");
    if (kg_failed(rc)) {
        kg_buf_free(&d);
        return rc;
    }
    if (d.len > 0) {
        l->data = malloc(d.len);
        if (l->data == NULL) {
            kg_buf_free(&d);
            KG_BAIL(KG_ERR_NOMEM, "out of memory");
        }
        memcpy(l->data, d.data, d.len);
        l->data_len = d.len;
    }
    kg_buf_free(&d);
    KG_GUARD(kg_eth_parse_quantity(&l->block_number, member(v, "blockNumber"), "log blockNumber"));
    KG_GUARD(parse_fixed(l->block_hash, KG_ETH_HASH_LEN, member(v, "blockHash"), "log blockHash"));
    KG_GUARD(parse_fixed(l->tx_hash, KG_ETH_HASH_LEN, member(v, "transactionHash"),
                         "log transactionHash"));
    KG_GUARD(kg_eth_parse_quantity(&l->log_index, member(v, "logIndex"), "log logIndex"));
    const json_t *removed = member(v, "removed");
    KG_ENSURE(removed == NULL || json_is_false(removed), KG_ERR_NETWORK,
              "chain node: log was removed by a reorganization");
    return KG_OK;
}

kg_result kg_eth_parse_logs(kg_eth_logs *out, const json_t *v)
{
    out->items = NULL;
    out->count = 0;
    KG_ENSURE(json_is_array(v), KG_ERR_NETWORK, "chain node: logs is not an array");
    size_t n = json_array_size(v);
    KG_ENSURE(n <= KG_ETH_MAX_LOGS, KG_ERR_TOO_LARGE, "chain node: %zu logs exceed %u", n,
              KG_ETH_MAX_LOGS);
    if (n == 0)
        return KG_OK;
    out->items = calloc(n, sizeof(*out->items));
    KG_ENSURE(out->items != NULL, KG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        out->count = i + 1; /* so a failure frees what was parsed */
        if (kg_failed(parse_log(&out->items[i], json_array_get(v, i)))) {
            kg_eth_logs_free(out);
            return kg_error_context("log %zu", i);
        }
    }
    return KG_OK;
}

void kg_eth_receipt_free(kg_eth_receipt *r)
{
    if (r == NULL)
        return;
    kg_eth_logs_free(&r->logs);
    memset(r, 0, sizeof(*r));
}

kg_result kg_eth_parse_receipt(kg_eth_receipt *out, const json_t *v)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(json_is_object(v), KG_ERR_NETWORK, "chain node: receipt is not an object");
    KG_GUARD(parse_fixed(out->tx_hash, KG_ETH_HASH_LEN, member(v, "transactionHash"),
                         "receipt transactionHash"));
    KG_GUARD(
        parse_fixed(out->block_hash, KG_ETH_HASH_LEN, member(v, "blockHash"), "receipt blockHash"));
    KG_GUARD(
        kg_eth_parse_quantity(&out->block_number, member(v, "blockNumber"), "receipt blockNumber"));
    uint64_t status;
    /* Pre-Byzantium receipts carry a state root instead: not supported (fail closed). */
    KG_GUARD(kg_eth_parse_quantity(&status, member(v, "status"), "receipt status"));
    KG_ENSURE(status <= 1, KG_ERR_NETWORK, "chain node: receipt status %llu is not 0 or 1",
              (unsigned long long)status);
    out->status = status == 1;
    KG_GUARD(kg_eth_parse_quantity(&out->gas_used, member(v, "gasUsed"), "receipt gasUsed"));
    const json_t *ca = member(v, "contractAddress");
    if (ca != NULL && !json_is_null(ca)) {
        KG_GUARD(
            parse_fixed(out->contract_address, KG_ETH_ADDRESS_LEN, ca, "receipt contractAddress"));
        out->has_contract_address = true;
    }
    KG_GUARD_CTX(kg_eth_parse_logs(&out->logs, member(v, "logs")), "receipt");
    return KG_OK;
}

/* A transaction object (eth_getTransactionByHash): hash, from, nonce, and blockNumber, which is
 * null while the transaction is pending. Other members are not read. */
kg_result kg_eth_parse_tx_seen(kg_eth_tx_seen *out, const json_t *v)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(json_is_object(v), KG_ERR_NETWORK, "chain node: transaction is not an object");
    KG_GUARD(parse_fixed(out->hash, KG_ETH_HASH_LEN, member(v, "hash"), "transaction hash"));
    KG_GUARD(parse_fixed(out->from, KG_ETH_ADDRESS_LEN, member(v, "from"), "transaction from"));
    KG_GUARD(kg_eth_parse_quantity(&out->nonce, member(v, "nonce"), "transaction nonce"));
    const json_t *bn = member(v, "blockNumber");
    KG_ENSURE(bn != NULL, KG_ERR_NETWORK, "chain node: transaction has no blockNumber member");
    if (!json_is_null(bn)) {
        KG_GUARD(kg_eth_parse_quantity(&out->block_number, bn, "transaction blockNumber"));
        out->mined = true;
    }
    return KG_OK;
}

/* ---- chain id cache ------------------------------------------------------------------------- */

bool kg_eth_client_cached_chain_id(kg_eth_client *c, uint64_t *out)
{
    pthread_mutex_lock(&c->lock);
    bool have = c->have_chain_id;
    *out = c->chain_id;
    pthread_mutex_unlock(&c->lock);
    return have;
}

void kg_eth_client_cache_chain_id(kg_eth_client *c, uint64_t id)
{
    pthread_mutex_lock(&c->lock);
    c->chain_id = id;
    c->have_chain_id = true;
    pthread_mutex_unlock(&c->lock);
}
