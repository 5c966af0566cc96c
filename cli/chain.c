/* chain.c - JSON-RPC to the governance chain for the CLI: calls, signed EIP-1559 writes that
 * are simulated first and wait for their receipt, and event logs. ABI and signing: eth.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "keygate/crypto.h"

#define CHAIN_MAX_RPC_BODY (KG_ETH_MAX_TX_LEN * 2 + 4096)

json_t *kg_chain_hex_json(const uint8_t *data, size_t len)
{
    char *s = malloc(2 * len + 3);
    if (s == NULL)
        return NULL;
    s[0] = '0';
    s[1] = 'x';
    if (kg_failed(kg_hex_encode(s + 2, 2 * len + 1, data, len))) {
        kg_error_clear();
        free(s);
        return NULL;
    }
    json_t *j = json_string(s);
    free(s);
    return j;
}

KG_RESULT kg_chain_quantity(uint64_t *out, const json_t *v)
{
    const char *s = json_string_value(v);
    KG_ENSURE(s != NULL && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2] != '\0' &&
                  strlen(s) <= 18,
              KG_ERR_INPUT, "node answered a malformed quantity");
    uint64_t r = 0;
    for (const char *p = s + 2; *p != '\0'; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            KG_BAIL(KG_ERR_INPUT, "node answered a malformed quantity '%s'", s);
        r = (r << 4) | (uint64_t)d;
    }
    *out = r;
    return KG_OK;
}

KG_RESULT kg_chain_rpc(const kg_chain *c, json_t **result, json_t **error_data, const char *method,
                       json_t *params)
{
    kg_result rc = KG_ERROR;
    json_t *req = json_pack("{s:s,s:i,s:s,s:O}", "jsonrpc", "2.0", "id", 1, "method", method,
                            "params", params);
    char *body = NULL;
    json_t *resp = NULL;
    kg_buf out;
    long status = 0;
    kg_buf_init(&out, KG_CLI_MAX_HTTP_RESPONSE);
    *result = NULL;
    if (error_data != NULL)
        *error_data = NULL;
    KG_ENSURE_C(req != NULL, KG_ERR_NOMEM, "JSON-RPC request");
    body = json_dumps(req, JSON_COMPACT);
    KG_ENSURE_C(body != NULL, KG_ERR_NOMEM, "JSON-RPC request");
    if (kg_failed(kg_cli_http(&out, &status, c->rpc_url, body, false, KG_CHAIN_TIMEOUT_MS))) {
        (void)kg_error_context("chain node %s (%s)", c->rpc_url, method);
        goto cleanup;
    }
    KG_ENSURE_C(status == 200, KG_ERR_NETWORK, "chain node %s: %s: HTTP %ld", c->rpc_url, method,
                status);
    json_error_t jerr;
    resp = json_loadb((const char *)out.data, out.len, 0, &jerr);
    KG_ENSURE_C(json_is_object(resp), KG_ERR_NETWORK, "chain node %s: %s: malformed answer",
                c->rpc_url, method);
    json_t *err = json_object_get(resp, "error");
    if (err != NULL && !json_is_null(err)) {
        const char *msg = json_string_value(json_object_get(err, "message"));
        if (error_data != NULL) {
            json_t *d = json_object_get(err, "data");
            if (d != NULL)
                *error_data = json_incref(d);
        }
        KG_BAIL_C(KG_ERR_NETWORK, "%s: %s", method, msg != NULL ? msg : "error");
    }
    json_t *r = json_object_get(resp, "result");
    KG_ENSURE_C(r != NULL, KG_ERR_NETWORK, "chain node %s: %s: no result", c->rpc_url, method);
    *result = json_incref(r);
    rc = KG_OK;
cleanup:
    json_decref(resp);
    free(body);
    json_decref(req);
    kg_buf_free(&out);
    return rc;
}

KG_RESULT kg_chain_open(kg_chain *c, const char *rpc_url, uint64_t expected_chain_id)
{
    json_t *r = NULL;
    KG_ENSURE(strlen(rpc_url) < sizeof(c->rpc_url), KG_ERR_USAGE, "RPC URL too long");
    memcpy(c->rpc_url, rpc_url, strlen(rpc_url) + 1);
    json_t *params = json_array();
    kg_result rc = kg_chain_rpc(c, &r, NULL, "eth_chainId", params);
    json_decref(params);
    if (kg_failed(rc))
        return kg_error_context("chain unreachable");
    rc = kg_chain_quantity(&c->chain_id, r);
    json_decref(r);
    KG_GUARD(rc);
    KG_ENSURE(expected_chain_id == 0 || c->chain_id == expected_chain_id, KG_ERR_VERIFY,
              "chain node %s is on chain %" PRIu64 ", expected %" PRIu64, rpc_url, c->chain_id,
              expected_chain_id);
    return KG_OK;
}

static kg_result get_u64(const kg_chain *c, uint64_t *out, const char *method, json_t *params)
{
    json_t *r = NULL;
    kg_result rc = kg_chain_rpc(c, &r, NULL, method, params);
    json_decref(params);
    KG_GUARD(rc);
    rc = kg_chain_quantity(out, r);
    json_decref(r);
    return rc;
}

KG_RESULT kg_chain_block_number(const kg_chain *c, uint64_t *out)
{
    return get_u64(c, out, "eth_blockNumber", json_array());
}

/* Decodes revert data ("0x..." in an RPC error's data) into a readable reason. */
static kg_result revert_reason(const json_t *data, const char *what)
{
    const char *hex = json_string_value(data);
    kg_buf raw;
    kg_eth_revert rv;
    char desc[KG_ETH_MAX_REASON_LEN + 128];
    kg_buf_init(&raw, KG_ETH_MAX_ABI_LEN);
    if (hex == NULL || kg_failed(kg_hex_decode_buf(&raw, hex, strlen(hex))) ||
        kg_failed(kg_abi_decode_revert(&rv, raw.data, raw.len))) {
        kg_error_clear();
        kg_buf_free(&raw);
        KG_BAIL(KG_ERR_DENIED, "%s reverted", what);
    }
    kg_buf_free(&raw);
    if (rv.kind == KG_ETH_REVERT_ERROR)
        KG_BAIL(KG_ERR_DENIED, "%s reverted: %s", what, rv.reason);
    kg_eth_revert_describe(desc, sizeof(desc), &rv);
    KG_BAIL(KG_ERR_DENIED, "%s reverted: %s", what, desc);
}

static json_t *call_object(const uint8_t *from, const uint8_t *to, const kg_buf *data)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    if (from != NULL)
        json_object_set_new(o, "from", kg_chain_hex_json(from, 20));
    if (to != NULL)
        json_object_set_new(o, "to", kg_chain_hex_json(to, 20));
    json_object_set_new(o, "data", kg_chain_hex_json(data->data, data->len));
    return o;
}

/* eth_call from `from` (may be NULL); a revert becomes KG_ERR_DENIED with its reason. */
static kg_result call_from(const kg_chain *c, kg_buf *ret, const uint8_t *from, const uint8_t *to,
                           const kg_buf *data, const char *block, const char *what)
{
    json_t *r = NULL, *edata = NULL;
    json_t *params = json_pack("[o,s]", call_object(from, to, data), block ? block : "latest");
    KG_ENSURE(params != NULL, KG_ERR_NOMEM, "eth_call");
    kg_result rc = kg_chain_rpc(c, &r, &edata, "eth_call", params);
    json_decref(params);
    if (kg_failed(rc)) {
        bool reverted = edata != NULL || strstr(kg_error_message(), "revert") != NULL;
        if (reverted) {
            rc = revert_reason(edata, what);
            json_decref(edata);
            return rc;
        }
        json_decref(edata);
        return rc;
    }
    const char *hex = json_string_value(r);
    if (hex == NULL || kg_failed(kg_hex_decode_buf(ret, hex, strlen(hex)))) {
        json_decref(r);
        KG_BAIL(KG_ERR_NETWORK, "%s: node returned malformed data", what);
    }
    json_decref(r);
    return KG_OK;
}

KG_RESULT kg_chain_call(const kg_chain *c, kg_buf *ret, const uint8_t to[20], const kg_buf *data,
                        const char *block)
{
    return call_from(c, ret, NULL, to, data, block, "call");
}

KG_RESULT kg_chain_calldata(kg_buf *out, const char *sig, const kg_abi_value *args, size_t n)
{
    return kg_abi_encode_call(out, sig, args, n);
}

KG_RESULT kg_chain_has_code(const kg_chain *c, bool *has, const uint8_t address[20])
{
    json_t *r = NULL;
    json_t *params = json_pack("[o,s]", kg_chain_hex_json(address, 20), "latest");
    KG_ENSURE(params != NULL, KG_ERR_NOMEM, "eth_getCode");
    kg_result rc = kg_chain_rpc(c, &r, NULL, "eth_getCode", params);
    json_decref(params);
    KG_GUARD(rc);
    const char *hex = json_string_value(r);
    *has = hex != NULL && strlen(hex) > 2;
    json_decref(r);
    return KG_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

KG_RESULT kg_chain_send(const kg_chain *c, json_t **receipt, const uint8_t key[32],
                        const uint8_t *to, const kg_buf *data)
{
    kg_result rc = KG_ERROR;
    uint8_t from[20], tx_hash[32];
    char from_hex[43];
    kg_buf sim, raw;
    json_t *r = NULL, *params = NULL;
    uint64_t nonce = 0, gas = 0, base_fee = 0, tip = 1000000000ull;
    kg_buf_init(&sim, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&raw, KG_ETH_MAX_TX_LEN);
    if (receipt != NULL)
        *receipt = NULL;

    KG_GUARD_C(kg_eth_address_of_key(from, key));
    kg_eth_address_checksum(from_hex, from);
    /* Simulate first: a transaction that would revert is never sent, so nothing changes and the
     * error carries the contract's reason (OwnableUnauthorizedAccount, ...). */
    KG_GUARD_C(call_from(c, &sim, from, to, data, "latest", "transaction"));

    KG_GUARD_C(get_u64(c, &nonce, "eth_getTransactionCount",
                       json_pack("[s,s]", from_hex, "pending")));
    KG_GUARD_CTX_C(get_u64(c, &gas, "eth_estimateGas", json_pack("[o]", call_object(from, to, data))),
                   "estimating gas");
    /* base fee of the latest block; max fee = 2 * base + tip covers a few full blocks */
    params = json_pack("[s,b]", "latest", 0);
    KG_GUARD_C(kg_chain_rpc(c, &r, NULL, "eth_getBlockByNumber", params));
    json_decref(params);
    params = NULL;
    json_t *bf = json_object_get(r, "baseFeePerGas");
    if (bf != NULL)
        KG_GUARD_C(kg_chain_quantity(&base_fee, bf));
    json_decref(r);
    r = NULL;

    kg_eth_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.chain_id = c->chain_id;
    tx.nonce = nonce;
    tx.max_priority_fee_per_gas = tip;
    tx.max_fee_per_gas = 2 * base_fee + tip;
    tx.gas_limit = gas + gas / 5 + 10000; /* estimates can be tight by a few refunds */
    tx.has_to = to != NULL;
    if (to != NULL)
        memcpy(tx.to, to, 20);
    tx.data = data->data;
    tx.data_len = data->len;
    KG_GUARD_C(kg_eth_tx_sign(&raw, tx_hash, &tx, key));
    params = json_pack("[o]", kg_chain_hex_json(raw.data, raw.len));
    KG_GUARD_CTX_C(kg_chain_rpc(c, &r, NULL, "eth_sendRawTransaction", params),
                   "sending transaction");
    json_decref(params);
    params = NULL;
    json_decref(r);
    r = NULL;

    for (long waited = 0;; waited += 100) {
        params = json_pack("[o]", kg_chain_hex_json(tx_hash, 32));
        KG_GUARD_C(kg_chain_rpc(c, &r, NULL, "eth_getTransactionReceipt", params));
        json_decref(params);
        params = NULL;
        if (json_is_object(r))
            break;
        json_decref(r);
        r = NULL;
        KG_ENSURE_C(waited < KG_CHAIN_RECEIPT_WAIT_MS, KG_ERR_NETWORK,
                    "transaction not mined after %d s", KG_CHAIN_RECEIPT_WAIT_MS / 1000);
        sleep_ms(100);
    }
    uint64_t status = 0;
    KG_GUARD_C(kg_chain_quantity(&status, json_object_get(r, "status")));
    KG_ENSURE_C(status == 1, KG_ERR_DENIED, "transaction reverted on chain");
    if (receipt != NULL) {
        *receipt = r;
        r = NULL;
    }
    rc = KG_OK;
cleanup:
    json_decref(params);
    json_decref(r);
    kg_buf_free(&sim);
    kg_buf_free(&raw);
    return rc;
}

KG_RESULT kg_chain_logs(const kg_chain *c, json_t **logs, const uint8_t address[20],
                        const uint8_t *topic0)
{
    json_t *filter = json_pack("{s:s,s:s,s:o}", "fromBlock", "0x0", "toBlock", "latest", "address",
                               kg_chain_hex_json(address, 20));
    KG_ENSURE(filter != NULL, KG_ERR_NOMEM, "eth_getLogs");
    if (topic0 != NULL)
        json_object_set_new(filter, "topics", json_pack("[o]", kg_chain_hex_json(topic0, 32)));
    json_t *params = json_pack("[o]", filter);
    kg_result rc = kg_chain_rpc(c, logs, NULL, "eth_getLogs", params);
    json_decref(params);
    KG_GUARD(rc);
    if (!json_is_array(*logs) || json_array_size(*logs) > KG_CHAIN_MAX_LOGS) {
        json_decref(*logs);
        *logs = NULL;
        KG_BAIL(KG_ERR_NETWORK, "eth_getLogs: malformed or oversized answer");
    }
    return KG_OK;
}

KG_RESULT kg_cli_target_open(kg_cli_target *t, const char *state, const char *rpc_url,
                             const char *kms_contract)
{
    memset(t, 0, sizeof(*t));
    KG_GUARD(kg_devnet_dir(t->dir, state));
    if (kg_failed(kg_devnet_load(&t->state, t->dir))) {
        /* Without a devnet, --rpc-url is enough; an explicit --state must exist. */
        if (kg_error_code() != KG_ERR_NOT_FOUND || rpc_url == NULL || state != NULL)
            return KG_ERROR;
        kg_error_clear();
    }
    const char *url = rpc_url != NULL ? rpc_url : kg_devnet_str(t->state, "rpc_url");
    KG_ENSURE(url != NULL, KG_ERR_USAGE, "no chain: give --state DIR or --rpc-url URL");
    const char *kms = kms_contract != NULL ? kms_contract : kg_devnet_str(t->state, "kms_contract");
    if (kms != NULL) {
        KG_GUARD(kg_cli_parse_address(t->kms, "--kms-contract", kms));
        t->has_kms = true;
    }
    json_int_t want = json_integer_value(json_object_get(t->state, "chain_id"));
    return kg_chain_open(&t->chain, url, rpc_url == NULL && want > 0 ? (uint64_t)want : 0);
}

void kg_cli_target_close(kg_cli_target *t)
{
    json_decref(t->state);
    t->state = NULL;
}

KG_RESULT kg_chain_view(const kg_chain *c, kg_abi_decoded *out, const kg_abi_type *types,
                        size_t n, kg_buf *ret, const uint8_t to[20], const char *sig,
                        const kg_abi_value *args, size_t nargs)
{
    kg_buf data;
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_calldata(&data, sig, args, nargs);
    if (kg_ok(rc)) {
        ret->len = 0;
        rc = call_from(c, ret, NULL, to, &data, "latest", sig);
    }
    kg_buf_free(&data);
    KG_GUARD(rc);
    if (kg_failed(kg_abi_decode(out, types, n, ret->data, ret->len, KG_ETH_MAX_ABI_LEN)))
        return kg_error_context("%s at 0x%02x%02x..: unexpected answer (is it the right contract?)",
                                sig, to[0], to[1]);
    return KG_OK;
}

KG_RESULT kg_cli_parse_hash(uint8_t out[32], const char *opt, const char *text)
{
    if (kg_failed(kg_hex_decode_exact(out, 32, text))) {
        kg_error_clear();
        KG_BAIL(KG_ERR_USAGE, "%s '%s' is not a 32-byte hash (64 hex digits)", opt, text);
    }
    return KG_OK;
}

KG_RESULT kg_cli_parse_address(uint8_t out[20], const char *opt, const char *text)
{
    if (kg_failed(kg_eth_address_parse(out, text))) {
        char why[256];
        snprintf(why, sizeof(why), "%s", kg_error_message());
        kg_error_clear();
        KG_BAIL(KG_ERR_USAGE, "%s '%s' is not an address (0x + 40 hex digits): %s", opt, text,
                why);
    }
    return KG_OK;
}
