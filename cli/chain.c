/* chain.c - the governance chain as the CLI uses it, on the eth.h JSON-RPC client: view calls
 * decoded strictly, signed writes (simulated first, then waited for), event logs, targets. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "keygate/crypto.h"

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

KG_RESULT kg_chain_open(kg_chain *c, const char *rpc_url, uint64_t expected_chain_id)
{
    memset(c, 0, sizeof(*c));
    KG_GUARD_CTX(kg_eth_client_new(&c->eth, rpc_url, KG_CHAIN_TIMEOUT_MS), "chain node '%s'",
                 rpc_url);
    if (kg_failed(kg_eth_chain_id(c->eth, &c->chain_id)))
        return kg_error_context("chain unreachable");
    KG_ENSURE(expected_chain_id == 0 || c->chain_id == expected_chain_id, KG_ERR_VERIFY,
              "chain node %s is on chain %" PRIu64 ", expected %" PRIu64, rpc_url, c->chain_id,
              expected_chain_id);
    return KG_OK;
}

void kg_chain_close(kg_chain *c)
{
    kg_eth_client_free(c->eth);
    c->eth = NULL;
}

KG_RESULT kg_chain_block_number(const kg_chain *c, uint64_t *out)
{
    return kg_eth_block_number(c->eth, out);
}

KG_RESULT kg_chain_call(const kg_chain *c, kg_buf *ret, const uint8_t to[20], const kg_buf *data)
{
    return kg_eth_call(c->eth, ret, NULL, NULL, to, data->data, data->len, NULL);
}

KG_RESULT kg_chain_calldata(kg_buf *out, const char *sig, const kg_abi_value *args, size_t n)
{
    return kg_abi_encode_call(out, sig, args, n);
}

KG_RESULT kg_chain_has_code(const kg_chain *c, bool *has, const uint8_t address[20])
{
    kg_buf code;
    kg_buf_init(&code, KG_ETH_MAX_RPC_REPLY);
    kg_result rc = kg_eth_get_code(c->eth, &code, address, NULL);
    *has = code.len > 0;
    kg_buf_free(&code);
    return rc;
}

KG_RESULT kg_chain_send(const kg_chain *c, kg_eth_receipt *receipt, const uint8_t key[32],
                        const uint8_t *to, const kg_buf *data)
{
    kg_eth_receipt r;
    memset(&r, 0, sizeof(r));
    KG_GUARD(kg_eth_send_and_wait(c->eth, &r, key, to, NULL, data->data, data->len,
                                  KG_CHAIN_RECEIPT_WAIT_MS));
    if (receipt != NULL)
        *receipt = r;
    else
        kg_eth_receipt_free(&r);
    return KG_OK;
}

KG_RESULT kg_chain_logs(const kg_chain *c, kg_eth_logs *logs, const uint8_t address[20],
                        const uint8_t *topic0, uint64_t from_block)
{
    return kg_eth_get_logs(c->eth, logs, address, topic0, from_block, UINT64_MAX);
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
    kg_chain_close(&t->chain);
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
        rc = kg_chain_call(c, ret, to, &data);
        if (kg_failed(rc))
            (void)kg_error_context("%s", sig);
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
