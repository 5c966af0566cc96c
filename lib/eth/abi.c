/* abi.c - Solidity ABI v2: encoding of call arguments and strict decoding of untrusted return
 * and revert data (see eth.h; layout per the Solidity "Contract ABI Specification"). */
#include "keygate/eth.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "keygate/hash.h"

#define WORD KG_ETH_WORD_LEN

/* ---- constructors ------------------------------------------------------------------------- */

static kg_abi_value word_value(void)
{
    kg_abi_value v;
    memset(&v, 0, sizeof(v));
    v.kind = KG_ABI_WORD;
    return v;
}

kg_abi_value kg_abi_address(const uint8_t addr[KG_ETH_ADDRESS_LEN])
{
    kg_abi_value v = word_value();
    memcpy(v.word + WORD - KG_ETH_ADDRESS_LEN, addr, KG_ETH_ADDRESS_LEN);
    return v;
}

kg_abi_value kg_abi_bytes32(const uint8_t b[KG_ETH_WORD_LEN])
{
    kg_abi_value v = word_value();
    memcpy(v.word, b, WORD);
    return v;
}

kg_abi_value kg_abi_bool(bool b)
{
    kg_abi_value v = word_value();
    v.word[WORD - 1] = b ? 1 : 0;
    return v;
}

kg_abi_value kg_abi_uint64(uint64_t x)
{
    kg_abi_value v = word_value();
    for (int i = 0; i < 8; i++)
        v.word[WORD - 1 - i] = (uint8_t)(x >> (8 * i));
    return v;
}

kg_abi_value kg_abi_uint256(const uint8_t be[KG_ETH_WORD_LEN])
{
    return kg_abi_bytes32(be);
}

kg_abi_value kg_abi_bytes(const uint8_t *data, size_t len)
{
    kg_abi_value v;
    memset(&v, 0, sizeof(v));
    v.kind = KG_ABI_BYTES;
    v.data = data;
    v.len = len;
    return v;
}

kg_abi_value kg_abi_string(const char *s)
{
    kg_abi_value v = kg_abi_bytes((const uint8_t *)s, s ? strlen(s) : 0);
    v.kind = KG_ABI_STRING;
    return v;
}

kg_abi_value kg_abi_array(const kg_abi_value *items, size_t count)
{
    kg_abi_value v;
    memset(&v, 0, sizeof(v));
    v.kind = KG_ABI_ARRAY;
    v.items = items;
    v.count = count;
    return v;
}

kg_abi_value kg_abi_tuple(const kg_abi_value *items, size_t count)
{
    kg_abi_value v = kg_abi_array(items, count);
    v.kind = KG_ABI_TUPLE;
    return v;
}

void kg_abi_selector(uint8_t out[KG_ETH_SELECTOR_LEN], const char *signature)
{
    uint8_t h[KG_KECCAK256_LEN];
    kg_keccak256(h, signature, strlen(signature));
    memcpy(out, h, KG_ETH_SELECTOR_LEN);
}

/* ---- encoder -------------------------------------------------------------------------------
 * Two passes over the value tree: enc_size validates the tree and computes the encoded size
 * (every sum checked against KG_ETH_MAX_ABI_LEN), then enc_write fills a zeroed region of
 * exactly that size, so padding is zero by construction. */

static size_t pad32(size_t n)
{
    return (n + WORD - 1) / WORD * WORD;
}

static kg_result add_size(size_t *acc, size_t n)
{
    KG_ENSURE(n <= KG_ETH_MAX_ABI_LEN && *acc <= KG_ETH_MAX_ABI_LEN - n, KG_ERR_TOO_LARGE,
              "ABI encoding exceeds %u bytes", KG_ETH_MAX_ABI_LEN);
    *acc += n;
    return KG_OK;
}

static bool is_dynamic(const kg_abi_value *v)
{
    if (v->kind != KG_ABI_TUPLE)
        return v->kind != KG_ABI_WORD;
    for (size_t i = 0; i < v->count; i++)
        if (is_dynamic(&v->items[i]))
            return true;
    return false;
}

static kg_result enc_size(size_t *out, const kg_abi_value *v, unsigned depth);

static kg_result tuple_size(size_t *out, const kg_abi_value *items, size_t n, unsigned depth)
{
    KG_ENSURE(n <= KG_ETH_MAX_ABI_ITEMS, KG_ERR_USAGE, "ABI value has %zu members (max %u)", n,
              KG_ETH_MAX_ABI_ITEMS);
    KG_ENSURE(n == 0 || items != NULL, KG_ERR_USAGE, "ABI tuple/array without members");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s;
        KG_GUARD(enc_size(&s, &items[i], depth + 1));
        /* A dynamic member costs its offset word in the head plus its tail. */
        if (is_dynamic(&items[i]))
            KG_GUARD(add_size(&total, WORD));
        KG_GUARD(add_size(&total, s));
    }
    *out = total;
    return KG_OK;
}

static kg_result enc_size(size_t *out, const kg_abi_value *v, unsigned depth)
{
    KG_ENSURE(depth <= KG_ETH_MAX_ABI_DEPTH, KG_ERR_USAGE, "ABI value nested deeper than %u",
              KG_ETH_MAX_ABI_DEPTH);
    switch (v->kind) {
    case KG_ABI_WORD: *out = WORD; return KG_OK;
    case KG_ABI_BYTES:
    case KG_ABI_STRING:
        KG_ENSURE(v->len == 0 || v->data != NULL, KG_ERR_USAGE, "ABI bytes without data");
        KG_ENSURE(v->len <= KG_ETH_MAX_ABI_LEN, KG_ERR_TOO_LARGE,
                  "ABI bytes of %zu bytes exceed %u", v->len, KG_ETH_MAX_ABI_LEN);
        *out = WORD;
        return add_size(out, pad32(v->len));
    case KG_ABI_ARRAY: {
        size_t s;
        KG_GUARD(tuple_size(&s, v->items, v->count, depth));
        *out = WORD; /* the element count */
        return add_size(out, s);
    }
    case KG_ABI_TUPLE: return tuple_size(out, v->items, v->count, depth);
    }
    KG_BAIL(KG_ERR_USAGE, "unknown ABI value kind %d", (int)v->kind);
}

static void put_u64(uint8_t dst[WORD], uint64_t x)
{
    for (int i = 0; i < 8; i++)
        dst[WORD - 1 - i] = (uint8_t)(x >> (8 * i));
}

static size_t size_of(const kg_abi_value *v)
{
    size_t s = 0;
    /* Already validated by enc_size: cannot fail here. */
    if (kg_failed(enc_size(&s, v, 0)))
        return 0;
    return s;
}

static void enc_write(uint8_t *dst, const kg_abi_value *v);

static void tuple_write(uint8_t *dst, const kg_abi_value *items, size_t n)
{
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        tail += is_dynamic(&items[i]) ? WORD : size_of(&items[i]);
    for (size_t i = 0; i < n; i++) {
        if (is_dynamic(&items[i])) {
            put_u64(dst + head, tail); /* offset from the start of this tuple */
            enc_write(dst + tail, &items[i]);
            tail += size_of(&items[i]);
            head += WORD;
        } else {
            enc_write(dst + head, &items[i]);
            head += size_of(&items[i]);
        }
    }
}

static void enc_write(uint8_t *dst, const kg_abi_value *v)
{
    switch (v->kind) {
    case KG_ABI_WORD: memcpy(dst, v->word, WORD); break;
    case KG_ABI_BYTES:
    case KG_ABI_STRING:
        put_u64(dst, v->len);
        if (v->len > 0)
            memcpy(dst + WORD, v->data, v->len);
        break;
    case KG_ABI_ARRAY:
        put_u64(dst, v->count);
        tuple_write(dst + WORD, v->items, v->count);
        break;
    case KG_ABI_TUPLE: tuple_write(dst, v->items, v->count); break;
    }
}

kg_result kg_abi_encode(kg_buf *out, const kg_abi_value *args, size_t n)
{
    size_t total;
    KG_GUARD(tuple_size(&total, args, n, 0));
    KG_GUARD(kg_buf_reserve(out, total));
    uint8_t *dst = out->data ? out->data + out->len : NULL;
    if (total > 0) {
        memset(dst, 0, total);
        tuple_write(dst, args, n);
    }
    out->len += total;
    return KG_OK;
}

kg_result kg_abi_encode_call(kg_buf *out, const char *signature, const kg_abi_value *args, size_t n)
{
    uint8_t sel[KG_ETH_SELECTOR_LEN];
    size_t total;
    KG_ENSURE(signature != NULL && strchr(signature, '(') != NULL && strchr(signature, ' ') == NULL,
              KG_ERR_USAGE, "ABI signature '%s' is not canonical", signature ? signature : "");
    /* Size first, so a failure leaves out untouched (no dangling selector). */
    KG_GUARD(tuple_size(&total, args, n, 0));
    KG_GUARD(kg_buf_reserve(out, KG_ETH_SELECTOR_LEN + total));
    kg_abi_selector(sel, signature);
    KG_GUARD(kg_buf_append(out, sel, sizeof(sel)));
    KG_GUARD(kg_abi_encode(out, args, n));
    return KG_OK;
}

/* ---- decoder -------------------------------------------------------------------------------
 * Canonical encodings are sequential: all head words in member order, then each dynamic
 * member's tail in member order. So the decoder reads once through a kg_reader and requires
 * each head offset to equal the position the canonical layout gives its tail. */

static const char *type_name(kg_abi_type t)
{
    switch (t) {
    case KG_ABI_T_ADDRESS: return "address";
    case KG_ABI_T_BOOL: return "bool";
    case KG_ABI_T_UINT8: return "uint8";
    case KG_ABI_T_UINT64: return "uint64";
    case KG_ABI_T_UINT256: return "uint256";
    case KG_ABI_T_BYTES32: return "bytes32";
    case KG_ABI_T_BYTES: return "bytes";
    case KG_ABI_T_STRING: return "string";
    case KG_ABI_T_BYTES32_ARRAY: return "bytes32[]";
    }
    return "?";
}

static bool zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* A word that must hold a value below 2^(8*keep_bytes). */
static kg_result check_narrow(const uint8_t w[WORD], size_t keep, size_t i, kg_abi_type t)
{
    KG_ENSURE(zero(w, WORD - keep), KG_ERR_INPUT, "ABI member %zu (%s): value out of range", i,
              type_name(t));
    return KG_OK;
}

static uint64_t word_u64(const uint8_t w[WORD])
{
    uint64_t x = 0;
    for (size_t i = WORD - 8; i < WORD; i++)
        x = (x << 8) | w[i];
    return x;
}

static bool is_dyn_type(kg_abi_type t)
{
    return t == KG_ABI_T_BYTES || t == KG_ABI_T_STRING || t == KG_ABI_T_BYTES32_ARRAY;
}

static kg_result check_static(const uint8_t w[WORD], kg_abi_type t, size_t i)
{
    switch (t) {
    case KG_ABI_T_ADDRESS: return check_narrow(w, KG_ETH_ADDRESS_LEN, i, t);
    case KG_ABI_T_BOOL:
        KG_ENSURE(zero(w, WORD - 1) && w[WORD - 1] <= 1, KG_ERR_INPUT,
                  "ABI member %zu (bool): not 0 or 1", i);
        return KG_OK;
    case KG_ABI_T_UINT8: return check_narrow(w, 1, i, t);
    case KG_ABI_T_UINT64: return check_narrow(w, 8, i, t);
    case KG_ABI_T_UINT256:
    case KG_ABI_T_BYTES32: return KG_OK;
    default: break;
    }
    KG_BAIL(KG_ERR_USAGE, "ABI member %zu: unknown type %d", i, (int)t);
}

/* Reads one dynamic member's tail at the reader's position. */
static kg_result read_tail(kg_abi_decoded *o, kg_reader *r, size_t i, size_t max_dyn_len)
{
    uint8_t w[WORD];
    KG_GUARD(kg_reader_read(r, w, WORD, "ABI dynamic length"));
    KG_ENSURE(zero(w, WORD - 8), KG_ERR_TOO_LARGE, "ABI member %zu (%s): length out of range", i,
              type_name(o->type));
    uint64_t count = word_u64(w);
    size_t elem = o->type == KG_ABI_T_BYTES32_ARRAY ? WORD : 1;
    size_t max = max_dyn_len / elem;
    if (max > KG_ETH_MAX_ABI_LEN / elem)
        max = KG_ETH_MAX_ABI_LEN / elem;
    KG_ENSURE(count <= max, KG_ERR_TOO_LARGE,
              "ABI member %zu (%s): length %llu exceeds the maximum %zu", i, type_name(o->type),
              (unsigned long long)count, max);
    size_t content = (size_t)count * elem;
    size_t padded = pad32(content);
    KG_ENSURE(padded <= kg_reader_remaining(r), KG_ERR_TRUNCATED,
              "ABI member %zu (%s): length %zu but only %zu bytes remain", i, type_name(o->type),
              content, kg_reader_remaining(r));
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, padded, "ABI dynamic content"));
    KG_ENSURE(zero(p + content, padded - content), KG_ERR_INPUT,
              "ABI member %zu (%s): non-zero padding", i, type_name(o->type));
    if (o->type == KG_ABI_T_STRING)
        KG_ENSURE(memchr(p, 0, content) == NULL, KG_ERR_INPUT,
                  "ABI member %zu (string): contains a NUL byte", i);
    o->data = p;
    o->len = (size_t)count;
    return KG_OK;
}

static kg_result decode(kg_abi_decoded *out, const kg_abi_type *types, size_t n,
                        const uint8_t *data, size_t len, size_t max_dyn_len)
{
    KG_ENSURE(n <= KG_ETH_MAX_ABI_ITEMS, KG_ERR_USAGE, "ABI decode of %zu members", n);
    KG_ENSURE(len <= KG_ETH_MAX_ABI_LEN, KG_ERR_TOO_LARGE, "ABI data of %zu bytes exceeds %u", len,
              KG_ETH_MAX_ABI_LEN);
    kg_reader r;
    kg_reader_init(&r, data, len);
    /* 1. The head: one word per member. */
    for (size_t i = 0; i < n; i++) {
        out[i].type = types[i];
        KG_GUARD_CTX(kg_reader_read(&r, out[i].word, WORD, "ABI head word"), "ABI member %zu (%s)",
                     i, type_name(types[i]));
        if (!is_dyn_type(types[i]))
            KG_GUARD(check_static(out[i].word, types[i], i));
    }
    /* 2. The tails, in member order; each offset (relative to the tuple start, i.e. to data)
     *    must point exactly where the previous tail ended. */
    for (size_t i = 0; i < n; i++) {
        if (!is_dyn_type(types[i]))
            continue;
        KG_ENSURE(zero(out[i].word, WORD - 8) && word_u64(out[i].word) == r.pos, KG_ERR_INPUT,
                  "ABI member %zu (%s): offset is not the canonical %zu", i, type_name(types[i]),
                  r.pos);
        KG_GUARD(read_tail(&out[i], &r, i, max_dyn_len));
    }
    KG_GUARD(kg_reader_expect_end(&r, "ABI data"));
    return KG_OK;
}

kg_result kg_abi_decode(kg_abi_decoded *out, const kg_abi_type *types, size_t n,
                        const uint8_t *data, size_t len, size_t max_dyn_len)
{
    kg_result rc = decode(out, types, n, data, len, max_dyn_len);
    if (kg_failed(rc))
        memset(out, 0, n * sizeof(*out));
    return rc;
}

bool kg_abi_get_bool(const kg_abi_decoded *v)
{
    return v->word[WORD - 1] == 1;
}

uint64_t kg_abi_get_u64(const kg_abi_decoded *v)
{
    return word_u64(v->word);
}

void kg_abi_get_address(uint8_t out[KG_ETH_ADDRESS_LEN], const kg_abi_decoded *v)
{
    memcpy(out, v->word + WORD - KG_ETH_ADDRESS_LEN, KG_ETH_ADDRESS_LEN);
}

kg_result kg_abi_get_string(char *out, size_t out_size, const kg_abi_decoded *v)
{
    KG_ENSURE(out_size > 0, KG_ERR_USAGE, "string output buffer of size 0");
    out[0] = '\0';
    KG_ENSURE(v->len < out_size, KG_ERR_TOO_LARGE, "string of %zu bytes does not fit %zu", v->len,
              out_size - 1);
    if (v->len > 0)
        memcpy(out, v->data, v->len);
    out[v->len] = '\0';
    return KG_OK;
}

/* ---- revert data ---------------------------------------------------------------------------- */

/* Custom errors the keygate contracts and the OpenZeppelin code under them can raise, so a
 * failure reads "KmsAppAlreadyRegistered(address)" rather than a bare selector
 * (contracts/src, OpenZeppelin 5). */
static const char *const KNOWN_ERRORS[] = {
    "AppUpgradesAreDisabled()",
    "AppNoticePeriodActive(uint64)",
    "AppNoNoticePeriod()",
    "AppNoticePeriodTooLong(uint64)",
    "AppComposeHashAlreadyAllowed(bytes32)",
    "AppComposeHashAlreadyPending(bytes32,uint64)",
    "AppComposeHashNotPending(bytes32)",
    "AppUnauthorizedGuardian(address)",
    "AppInvalidImplementation(address)",
    "AppUpgradeNotProposed(address)",
    "AppUpgradeNotReady(address,uint64)",
    "AppNoPendingUpgrade()",
    "AppNoPendingNoticeChange()",
    "AppGuardianEscapeNotVetoable(uint64)",
    "AppNoGuardian()",
    "KmsInvalidAppId()",
    "KmsAppAlreadyRegistered(address)",
    "KmsInvalidImplementation(address)",
    "KmsAppImplementationNotSet()",
    "KmsInvalidAppOwner()",
    "KmsRootKeyUnusable()",
    "KmsLogSignatureInvalid(address)",
    "KmsLogKeyInvalid()",
    "KmsLogAlreadyRegistered(bytes32)",
    "KmsLogNotRegistered(bytes32)",
    "KmsLogRollback(bytes32,uint64,uint64)",
    "KmsLogFork(bytes32,uint64,bytes32,bytes32)",
    "KmsLogCheckpointPublished(bytes32,uint64)",
    "KmsGuardianEscapeNotVetoable(uint64)",
    "KmsNoGuardian()",
    "KmsRootEpochWrongNumber(uint32,uint32)",
    "KmsRootEpochAlreadyPending(uint32)",
    "KmsRootEpochK256KeyInvalid()",
    "KmsRootEpochCaKeyInvalid(uint256)",
    "KmsRootEpochAttestationMismatch(bytes32,bytes32)",
    "KmsRootEpochProposerNotAllowed(string)",
    "KmsRootEpochNotPending(uint32)",
    "KmsRootEpochNotReady(uint32,uint64)",
    "KmsRootEpochNotRetiring(uint32,uint8)",
    "KmsInfoFollowsRootEpoch(uint32)",
    "OwnableUnauthorizedAccount(address)",
    "OwnableInvalidOwner(address)",
    "InvalidInitialization()",
    "NotInitializing()",
    "AddressEmptyCode(address)",
    "FailedCall()",
    "ERC1967InvalidImplementation(address)",
    "ERC1967NonPayable()",
    "UUPSUnauthorizedCallContext()",
    "UUPSUnsupportedProxiableUUID(bytes32)",
};

#define N_KNOWN_ERRORS (sizeof(KNOWN_ERRORS) / sizeof(KNOWN_ERRORS[0]))

/* Their selectors, hashed once (not per revert). */
static uint8_t g_known_selectors[N_KNOWN_ERRORS][KG_ETH_SELECTOR_LEN];
static pthread_once_t g_known_once = PTHREAD_ONCE_INIT;

static void hash_known_errors(void)
{
    for (size_t i = 0; i < N_KNOWN_ERRORS; i++)
        kg_abi_selector(g_known_selectors[i], KNOWN_ERRORS[i]);
}

static const uint8_t SEL_ERROR[4] = {0x08, 0xc3, 0x79, 0xa0}; /* Error(string) */
static const uint8_t SEL_PANIC[4] = {0x4e, 0x48, 0x7b, 0x71}; /* Panic(uint256) */

kg_result kg_abi_decode_revert(kg_eth_revert *out, const uint8_t *data, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return KG_OK; /* KG_ETH_REVERT_EMPTY */
    kg_reader r;
    const uint8_t *sel;
    kg_reader_init(&r, data, len);
    KG_GUARD_CTX(kg_reader_ptr(&r, &sel, KG_ETH_SELECTOR_LEN, "selector"), "revert data");
    const uint8_t *body = data + KG_ETH_SELECTOR_LEN;
    size_t body_len = kg_reader_remaining(&r);
    kg_abi_decoded v;
    if (memcmp(sel, SEL_ERROR, 4) == 0) {
        const kg_abi_type t = KG_ABI_T_STRING;
        KG_GUARD_CTX(kg_abi_decode(&v, &t, 1, body, body_len, KG_ETH_MAX_REASON_LEN),
                     "revert data Error(string)");
        KG_GUARD(kg_abi_get_string(out->reason, sizeof(out->reason), &v));
        out->kind = KG_ETH_REVERT_ERROR;
        return KG_OK;
    }
    if (memcmp(sel, SEL_PANIC, 4) == 0) {
        const kg_abi_type t = KG_ABI_T_UINT64;
        KG_GUARD_CTX(kg_abi_decode(&v, &t, 1, body, body_len, 0), "revert data Panic(uint256)");
        out->panic_code = kg_abi_get_u64(&v);
        out->kind = KG_ETH_REVERT_PANIC;
        return KG_OK;
    }
    out->kind = KG_ETH_REVERT_CUSTOM;
    memcpy(out->selector, sel, 4);
    if (pthread_once(&g_known_once, hash_known_errors) != 0)
        return KG_OK; /* only the name is missing */
    for (size_t i = 0; i < N_KNOWN_ERRORS; i++) {
        if (memcmp(g_known_selectors[i], sel, 4) == 0) {
            out->custom_name = KNOWN_ERRORS[i];
            break;
        }
    }
    return KG_OK;
}

/* Solidity's panic codes (docs: "Panic via assert and Error via require"). */
static const char *panic_name(uint64_t code)
{
    switch (code) {
    case 0x00: return "generic panic";
    case 0x01: return "assertion failed";
    case 0x11: return "arithmetic overflow";
    case 0x12: return "division by zero";
    case 0x21: return "invalid enum value";
    case 0x22: return "bad storage byte array";
    case 0x31: return "pop on empty array";
    case 0x32: return "array index out of bounds";
    case 0x41: return "out of memory";
    case 0x51: return "call to zero function";
    default: return "unknown panic code";
    }
}

void kg_eth_revert_describe(char *out, size_t out_size, const kg_eth_revert *rv)
{
    if (out_size == 0)
        return;
    switch (rv->kind) {
    case KG_ETH_REVERT_EMPTY: snprintf(out, out_size, "no revert data"); break;
    case KG_ETH_REVERT_ERROR: snprintf(out, out_size, "Error(\"%s\")", rv->reason); break;
    case KG_ETH_REVERT_PANIC:
        snprintf(out, out_size, "Panic(0x%llx: %s)", (unsigned long long)rv->panic_code,
                 panic_name(rv->panic_code));
        break;
    case KG_ETH_REVERT_CUSTOM:
        snprintf(out, out_size, "custom error %s%s0x%02x%02x%02x%02x",
                 rv->custom_name ? rv->custom_name : "", rv->custom_name ? " " : "",
                 rv->selector[0], rv->selector[1], rv->selector[2], rv->selector[3]);
        break;
    default: snprintf(out, out_size, "unknown revert"); break;
    }
}
