/* chain.c - the typed Ethereum JSON-RPC methods keygate uses (blocks, calls, code, nonces,
 * fees, gas estimates, raw transactions, receipts, logs) and "sign, send and wait". */
#include "keygate/eth.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eth/internal.h"
#include "keygate/hash.h"

/* ---- request building ---------------------------------------------------------------------- */

/* "0x" + lowercase hex of p[0..n) as a new JSON string (NULL on allocation failure). */
static json_t *hex_json(const uint8_t *p, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    char *s = malloc(2 * n + 3);
    if (s == NULL)
        return NULL;
    s[0] = '0';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = HEX[p[i] >> 4];
        s[3 + 2 * i] = HEX[p[i] & 15];
    }
    json_t *j = json_stringn(s, 2 * n + 2);
    free(s);
    return j;
}

/* A QUANTITY string (no leading zeros, "0x0" for zero) of a 64-bit or 256-bit value. */
static json_t *quantity_json_be(const uint8_t *be, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    char s[2 + 64 + 1];
    size_t k = 2;
    s[0] = '0';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        uint8_t b = be[i];
        if (k > 2 || b >> 4)
            s[k++] = HEX[b >> 4];
        if (k > 2 || (b & 15))
            s[k++] = HEX[b & 15];
    }
    if (k == 2)
        s[k++] = '0';
    s[k] = '\0';
    return json_string(s);
}

static json_t *quantity_json(uint64_t v)
{
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(v >> (8 * (7 - i)));
    return quantity_json_be(be, 8);
}

/* EIP-1898: a block by hash, so the state is exactly that block's; NULL means "latest". */
static json_t *block_ref(const kg_eth_block *at)
{
    if (at == NULL)
        return json_string("latest");
    return json_pack("{s:o}", "blockHash", hex_json(at->hash, KG_ETH_HASH_LEN));
}

/* Runs method(params) (params stolen) and hands back the result (caller decrefs). */
static kg_result call_rpc(kg_eth_client *c, json_t **res, kg_eth_revert *revert, const char *method,
                          json_t *params)
{
    *res = NULL;
    KG_ENSURE(params != NULL, KG_ERR_NOMEM, "building %s parameters failed", method);
    kg_result rc = kg_eth_rpc(c, res, revert, method, params);
    json_decref(params);
    return rc;
}

static kg_result rpc_quantity(kg_eth_client *c, uint64_t *out, const char *method, json_t *params)
{
    json_t *res;
    KG_GUARD(call_rpc(c, &res, NULL, method, params));
    kg_result rc = kg_eth_parse_quantity(out, res, method);
    json_decref(res);
    return rc;
}

/* ---- simple queries ------------------------------------------------------------------------- */

kg_result kg_eth_chain_id(kg_eth_client *c, uint64_t *out)
{
    if (kg_eth_client_cached_chain_id(c, out))
        return KG_OK;
    KG_GUARD(rpc_quantity(c, out, "eth_chainId", json_array()));
    kg_eth_client_cache_chain_id(c, *out);
    return KG_OK;
}

kg_result kg_eth_block_number(kg_eth_client *c, uint64_t *out)
{
    return rpc_quantity(c, out, "eth_blockNumber", json_array());
}

static kg_result get_block(kg_eth_client *c, kg_eth_block *out, json_t *tag)
{
    memset(out, 0, sizeof(*out));
    json_t *params = json_pack("[o,b]", tag, 0);
    KG_ENSURE(params != NULL, KG_ERR_NOMEM, "building eth_getBlockByNumber parameters failed");
    kg_result rc = kg_eth_rpc_block(c, out, params);
    json_decref(params);
    return rc;
}

kg_result kg_eth_get_block(kg_eth_client *c, kg_eth_block *out, const char *tag)
{
    KG_ENSURE(tag != NULL && (strcmp(tag, "latest") == 0 || strcmp(tag, "safe") == 0 ||
                              strcmp(tag, "finalized") == 0 || strcmp(tag, "earliest") == 0),
              KG_ERR_USAGE, "block tag '%s' is not latest, safe, finalized or earliest",
              tag ? tag : "");
    return get_block(c, out, json_string(tag));
}

kg_result kg_eth_get_block_by_number(kg_eth_client *c, kg_eth_block *out, uint64_t number)
{
    KG_GUARD_CTX(get_block(c, out, quantity_json(number)), "block %llu",
                 (unsigned long long)number);
    KG_ENSURE(out->number == number, KG_ERR_NETWORK,
              "chain node: asked for block %llu, got block %llu", (unsigned long long)number,
              (unsigned long long)out->number);
    return KG_OK;
}

/* The transaction object of eth_call / eth_estimateGas. */
static json_t *call_object(const uint8_t *from, const uint8_t *to, const uint8_t *value,
                           const uint8_t *data, size_t data_len)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    bool ok = true;
    if (from != NULL)
        ok &= json_object_set_new(o, "from", hex_json(from, KG_ETH_ADDRESS_LEN)) == 0;
    if (to != NULL)
        ok &= json_object_set_new(o, "to", hex_json(to, KG_ETH_ADDRESS_LEN)) == 0;
    if (value != NULL)
        ok &= json_object_set_new(o, "value", quantity_json_be(value, KG_ETH_WORD_LEN)) == 0;
    ok &= json_object_set_new(o, "data", hex_json(data, data_len)) == 0;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static kg_result call_impl(kg_eth_client *c, kg_buf *out, kg_eth_revert *revert,
                           const uint8_t *from, const uint8_t *to, const uint8_t *value,
                           const uint8_t *data, size_t data_len, const kg_eth_block *at)
{
    KG_ENSURE(data_len == 0 || data != NULL, KG_ERR_USAGE, "eth_call without data");
    KG_ENSURE(data_len <= KG_ETH_MAX_ABI_LEN, KG_ERR_TOO_LARGE, "calldata exceeds %u bytes",
              KG_ETH_MAX_ABI_LEN);
    json_t *res;
    KG_GUARD(
        call_rpc(c, &res, revert, "eth_call",
                 json_pack("[o,o]", call_object(from, to, value, data, data_len), block_ref(at))));
    kg_result rc = kg_eth_parse_data(out, res, "eth_call result");
    json_decref(res);
    return rc;
}

kg_result kg_eth_call(kg_eth_client *c, kg_buf *out, kg_eth_revert *revert, const uint8_t *from,
                      const uint8_t to[KG_ETH_ADDRESS_LEN], const uint8_t *data, size_t data_len,
                      const kg_eth_block *at)
{
    return call_impl(c, out, revert, from, to, NULL, data, data_len, at);
}

kg_result kg_eth_view(kg_abi_decoded *out, const kg_abi_type *types, size_t n, size_t max_dyn_len,
                      kg_buf *ret, kg_eth_client *c, const uint8_t to[KG_ETH_ADDRESS_LEN],
                      const char *signature, const kg_abi_value *args, size_t nargs,
                      const kg_eth_block *at)
{
    kg_buf call;
    kg_buf_init(&call, KG_ETH_MAX_ABI_LEN);
    ret->len = 0;
    kg_result rc = kg_abi_encode_call(&call, signature, args, nargs);
    if (kg_ok(rc))
        rc = kg_eth_call(c, ret, NULL, NULL, to, call.data, call.len, at);
    kg_buf_free(&call);
    KG_GUARD_CTX(rc, "%s", signature);
    if (kg_failed(kg_abi_decode(out, types, n, ret->data, ret->len, max_dyn_len)))
        return kg_error_context("%s at 0x%02x%02x..: unexpected answer (is it the right contract?)",
                                signature, to[0], to[1]);
    return KG_OK;
}

kg_result kg_eth_get_code(kg_eth_client *c, kg_buf *out, const uint8_t addr[KG_ETH_ADDRESS_LEN],
                          const kg_eth_block *at)
{
    json_t *res;
    KG_GUARD(call_rpc(c, &res, NULL, "eth_getCode",
                      json_pack("[o,o]", hex_json(addr, KG_ETH_ADDRESS_LEN), block_ref(at))));
    kg_result rc = kg_eth_parse_data(out, res, "eth_getCode result");
    json_decref(res);
    return rc;
}

kg_result kg_eth_get_code_at(kg_eth_client *c, kg_buf *out, const uint8_t addr[KG_ETH_ADDRESS_LEN],
                             uint64_t number)
{
    json_t *res;
    KG_GUARD_CTX(
        call_rpc(c, &res, NULL, "eth_getCode",
                 json_pack("[o,o]", hex_json(addr, KG_ETH_ADDRESS_LEN), quantity_json(number))),
        "at block %llu", (unsigned long long)number);
    kg_result rc = kg_eth_parse_data(out, res, "eth_getCode result");
    json_decref(res);
    return rc;
}

kg_result kg_eth_get_nonce(kg_eth_client *c, uint64_t *out, const uint8_t addr[KG_ETH_ADDRESS_LEN])
{
    return rpc_quantity(c, out, "eth_getTransactionCount",
                        json_pack("[o,s]", hex_json(addr, KG_ETH_ADDRESS_LEN), "pending"));
}

kg_result kg_eth_gas_price(kg_eth_client *c, uint64_t *out)
{
    return rpc_quantity(c, out, "eth_gasPrice", json_array());
}

kg_result kg_eth_max_priority_fee(kg_eth_client *c, uint64_t *out)
{
    return rpc_quantity(c, out, "eth_maxPriorityFeePerGas", json_array());
}

kg_result kg_eth_estimate_gas(kg_eth_client *c, uint64_t *out, kg_eth_revert *revert,
                              const uint8_t from[KG_ETH_ADDRESS_LEN], const uint8_t *to,
                              const uint8_t *value, const uint8_t *data, size_t data_len)
{
    KG_ENSURE(data_len == 0 || data != NULL, KG_ERR_USAGE, "eth_estimateGas without data");
    json_t *res;
    KG_GUARD(call_rpc(c, &res, revert, "eth_estimateGas",
                      json_pack("[o]", call_object(from, to, value, data, data_len))));
    kg_result rc = kg_eth_parse_quantity(out, res, "eth_estimateGas result");
    json_decref(res);
    return rc;
}

kg_result kg_eth_send_raw(kg_eth_client *c, uint8_t tx_hash[KG_ETH_HASH_LEN], const uint8_t *raw,
                          size_t raw_len)
{
    KG_ENSURE(raw_len > 0 && raw_len <= KG_ETH_MAX_TX_LEN, KG_ERR_USAGE,
              "raw transaction of %zu bytes", raw_len);
    json_t *res;
    KG_GUARD(call_rpc(c, &res, NULL, "eth_sendRawTransaction",
                      json_pack("[o]", hex_json(raw, raw_len))));
    uint8_t got[KG_ETH_HASH_LEN], want[KG_ETH_HASH_LEN];
    kg_buf b;
    kg_buf_init(&b, KG_ETH_HASH_LEN);
    kg_result rc = kg_eth_parse_data(&b, res, "eth_sendRawTransaction result");
    json_decref(res);
    if (kg_ok(rc) && b.len != KG_ETH_HASH_LEN)
        rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                          "chain node: transaction hash of %zu bytes", b.len);
    if (kg_ok(rc)) {
        memcpy(got, b.data, KG_ETH_HASH_LEN);
        kg_keccak256(want, raw, raw_len);
        if (memcmp(got, want, KG_ETH_HASH_LEN) != 0)
            rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                              "chain node reported a transaction hash that is not ours");
        else
            memcpy(tx_hash, got, KG_ETH_HASH_LEN);
    }
    kg_buf_free(&b);
    return rc;
}

kg_result kg_eth_get_receipt(kg_eth_client *c, kg_eth_receipt *out, bool *found,
                             const uint8_t tx_hash[KG_ETH_HASH_LEN])
{
    memset(out, 0, sizeof(*out));
    *found = false;
    json_t *res;
    KG_GUARD(call_rpc(c, &res, NULL, "eth_getTransactionReceipt",
                      json_pack("[o]", hex_json(tx_hash, KG_ETH_HASH_LEN))));
    kg_result rc = KG_OK;
    if (!json_is_null(res)) {
        rc = kg_eth_parse_receipt(out, res);
        if (kg_ok(rc) && memcmp(out->tx_hash, tx_hash, KG_ETH_HASH_LEN) != 0) {
            kg_eth_receipt_free(out);
            rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                              "chain node answered with the receipt of another transaction");
        }
        *found = kg_ok(rc);
    }
    json_decref(res);
    return rc;
}

kg_result kg_eth_get_transaction(kg_eth_client *c, kg_eth_tx_seen *out, bool *found,
                                 const uint8_t tx_hash[KG_ETH_HASH_LEN])
{
    memset(out, 0, sizeof(*out));
    *found = false;
    json_t *res;
    KG_GUARD(call_rpc(c, &res, NULL, "eth_getTransactionByHash",
                      json_pack("[o]", hex_json(tx_hash, KG_ETH_HASH_LEN))));
    kg_result rc = KG_OK;
    if (!json_is_null(res)) {
        rc = kg_eth_parse_tx_seen(out, res);
        if (kg_ok(rc) && memcmp(out->hash, tx_hash, KG_ETH_HASH_LEN) != 0)
            rc = kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                              "chain node answered with another transaction");
        *found = kg_ok(rc);
    }
    json_decref(res);
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

kg_result kg_eth_wait_receipt(kg_eth_client *c, kg_eth_receipt *out,
                              const uint8_t tx_hash[KG_ETH_HASH_LEN], uint32_t timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    uint32_t pause = 20; /* anvil mines at once; real chains take seconds: back off to 1 s */
    for (;;) {
        bool found;
        KG_GUARD(kg_eth_get_receipt(c, out, &found, tx_hash));
        if (found)
            return KG_OK;
        KG_ENSURE(now_ms() < deadline, KG_ERR_NETWORK, "transaction not mined within %u ms",
                  timeout_ms);
        sleep_ms(pause);
        pause = pause * 2 > 1000 ? 1000 : pause * 2;
    }
}

kg_result kg_eth_get_logs(kg_eth_client *c, kg_eth_logs *out,
                          const uint8_t address[KG_ETH_ADDRESS_LEN], const uint8_t *topic0,
                          uint64_t from_block, uint64_t to_block)
{
    out->items = NULL;
    out->count = 0;
    json_t *filter =
        json_pack("{s:o, s:o, s:o}", "address", hex_json(address, KG_ETH_ADDRESS_LEN), "fromBlock",
                  quantity_json(from_block), "toBlock",
                  to_block == UINT64_MAX ? json_string("latest") : quantity_json(to_block));
    if (filter != NULL && topic0 != NULL &&
        json_object_set_new(filter, "topics",
                            json_pack("[o]", hex_json(topic0, KG_ETH_HASH_LEN))) != 0) {
        json_decref(filter);
        filter = NULL;
    }
    json_t *res;
    KG_GUARD(call_rpc(c, &res, NULL, "eth_getLogs", filter ? json_pack("[o]", filter) : NULL));
    kg_result rc = kg_eth_parse_logs(out, res);
    json_decref(res);
    return rc;
}

/* ---- sign, send and wait -------------------------------------------------------------------- */

static kg_result add_u64(uint64_t *acc, uint64_t v, const char *what)
{
    KG_ENSURE(*acc <= UINT64_MAX - v, KG_ERR_NETWORK, "chain node: %s overflows", what);
    *acc += v;
    return KG_OK;
}

void kg_eth_revert_reason(kg_eth_client *c, char *why, size_t why_size,
                          const uint8_t from[KG_ETH_ADDRESS_LEN], const uint8_t *to,
                          const uint8_t *value, const uint8_t *data, size_t data_len,
                          uint64_t block)
{
    kg_buf out;
    kg_eth_revert rv;
    kg_eth_block at;
    kg_buf_init(&out, KG_ETH_MAX_ABI_LEN);
    snprintf(why, why_size, "reason unknown");
    if (kg_ok(kg_eth_get_block_by_number(c, &at, block))) {
        kg_result rc = call_impl(c, &out, &rv, from, to, value, data, data_len, &at);
        if (kg_failed(rc) && kg_error_code() == KG_ERR_DENIED && rv.kind != KG_ETH_REVERT_EMPTY)
            kg_eth_revert_describe(why, why_size, &rv);
    }
    kg_error_clear();
    kg_buf_free(&out);
}

/* After eth_sendRawTransaction failed: does the node have the transaction anyway (a lost
 * answer, "already known")? KG_OK with *sent = KG_ETH_SENT if so; otherwise the send's error
 * stands, with KG_ETH_NOT_SENT when the node says it does not know the transaction and
 * KG_ETH_MAYBE_SENT when it cannot tell. */
static kg_result after_failed_send(kg_eth_client *c, kg_eth_sent *sent,
                                   const uint8_t hash[KG_ETH_HASH_LEN])
{
    char why[KG_ETH_MAX_REASON_LEN + 256];
    kg_err code = kg_error_code();
    snprintf(why, sizeof(why), "%s", kg_error_message());
    kg_eth_tx_seen seen;
    bool found = false;
    if (kg_ok(kg_eth_get_transaction(c, &seen, &found, hash))) {
        if (found) {
            kg_error_clear();
            *sent = KG_ETH_SENT;
            return KG_OK;
        }
        *sent = KG_ETH_NOT_SENT;
        return kg_error_set(code, __FILE__, __LINE__, "%s", why);
    }
    char lookup[KG_ETH_MAX_REASON_LEN + 256];
    snprintf(lookup, sizeof(lookup), "%s", kg_error_message());
    *sent = KG_ETH_MAYBE_SENT;
    return kg_error_set(code, __FILE__, __LINE__,
                        "%s; whether the node took the transaction is unknown (%s)", why, lookup);
}

kg_result kg_eth_send(kg_eth_client *c, uint8_t tx_hash[KG_ETH_HASH_LEN], kg_eth_sent *sent,
                      const uint8_t key[32], const uint8_t *to, const uint8_t *value,
                      const uint8_t *data, size_t data_len)
{
    kg_result rc = KG_ERROR;
    uint8_t from[KG_ETH_ADDRESS_LEN], hash[KG_ETH_HASH_LEN];
    kg_buf raw;
    kg_buf_init(&raw, KG_ETH_MAX_TX_LEN);
    kg_eth_tx tx;
    memset(&tx, 0, sizeof(tx));
    kg_eth_block latest;
    uint64_t estimate;
    *sent = KG_ETH_NOT_SENT;
    memset(tx_hash, 0, KG_ETH_HASH_LEN);

    KG_GUARD_CTX_C(kg_eth_address_of_key(from, key), "sender key");
    KG_GUARD_C(kg_eth_chain_id(c, &tx.chain_id));
    KG_GUARD_C(kg_eth_get_nonce(c, &tx.nonce, from));
    /* Simulate first: a transaction that would revert is never sent. */
    KG_GUARD_CTX_C(kg_eth_estimate_gas(c, &estimate, NULL, from, to, value, data, data_len),
                   "simulating the transaction");
    tx.gas_limit = estimate;
    KG_GUARD_C(add_u64(&tx.gas_limit, estimate / 5, "gas limit"));
    KG_GUARD_C(kg_eth_get_block(c, &latest, "latest"));
    if (kg_failed(kg_eth_max_priority_fee(c, &tx.max_priority_fee_per_gas))) {
        kg_error_clear(); /* pre-London or minimal nodes: a 1 gwei tip */
        tx.max_priority_fee_per_gas = 1000000000u;
    }
    if (latest.has_base_fee) {
        tx.max_fee_per_gas = tx.max_priority_fee_per_gas;
        KG_GUARD_C(add_u64(&tx.max_fee_per_gas, latest.base_fee_per_gas, "max fee"));
        KG_GUARD_C(add_u64(&tx.max_fee_per_gas, latest.base_fee_per_gas, "max fee"));
    } else {
        KG_GUARD_C(kg_eth_gas_price(c, &tx.max_fee_per_gas));
        if (tx.max_priority_fee_per_gas > tx.max_fee_per_gas)
            tx.max_priority_fee_per_gas = tx.max_fee_per_gas;
    }
    tx.has_to = to != NULL;
    if (to != NULL)
        memcpy(tx.to, to, KG_ETH_ADDRESS_LEN);
    else
        memset(tx.to, 0, KG_ETH_ADDRESS_LEN);
    if (value != NULL)
        memcpy(tx.value, value, KG_ETH_WORD_LEN);
    tx.data = data;
    tx.data_len = data_len;
    KG_GUARD_C(kg_eth_tx_sign(&raw, hash, &tx, key));
    /* From here on the hash is the transaction's name, whatever happens to the send. */
    memcpy(tx_hash, hash, KG_ETH_HASH_LEN);
    if (kg_failed(kg_eth_send_raw(c, hash, raw.data, raw.len)))
        KG_GUARD_C(after_failed_send(c, sent, tx_hash));
    *sent = KG_ETH_SENT;
    rc = KG_OK;
cleanup:
    kg_buf_free(&raw);
    return rc;
}

kg_result kg_eth_send_and_wait(kg_eth_client *c, kg_eth_receipt *out, const uint8_t key[32],
                               const uint8_t *to, const uint8_t *value, const uint8_t *data,
                               size_t data_len, uint32_t timeout_ms)
{
    memset(out, 0, sizeof(*out));
    kg_result rc = KG_ERROR;
    uint8_t from[KG_ETH_ADDRESS_LEN], hash[KG_ETH_HASH_LEN];
    char hash_hex[2 * KG_ETH_HASH_LEN + 1];
    kg_eth_sent sent;

    KG_GUARD_CTX_C(kg_eth_address_of_key(from, key), "sender key");
    KG_GUARD_C(kg_eth_send(c, hash, &sent, key, to, value, data, data_len));
    KG_GUARD_C(kg_hex_encode(hash_hex, sizeof(hash_hex), hash, sizeof(hash)));
    KG_GUARD_CTX_C(kg_eth_wait_receipt(c, out, hash, timeout_ms ? timeout_ms : 60000u),
                   "transaction 0x%s", hash_hex);
    if (!out->status) {
        char why[KG_ETH_MAX_REASON_LEN + 128];
        kg_eth_revert_reason(c, why, sizeof(why), from, to, value, data, data_len,
                             out->block_number);
        KG_BAIL_C(KG_ERR_DENIED, "transaction 0x%s reverted in block %llu: %s", hash_hex,
                  (unsigned long long)out->block_number, why);
    }
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_eth_receipt_free(out);
    return rc;
}
