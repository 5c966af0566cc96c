/* rpc_fuzz.c - libFuzzer harness for the JSON-RPC reply parser and the parsers of its members
 * (quantities, data, blocks, receipts, logs, transactions): untrusted bytes from a chain node.
 * A block reply read with its transaction hashes elided (kg_eth_parse_block_reply) must say
 * exactly what the whole reply says: both fail, or both give the same block. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/eth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *res = NULL;
    kg_eth_revert rv;
    kg_eth_block whole, cut;
    memset(&whole, 0, sizeof(whole));
    bool whole_ok =
        kg_ok(kg_eth_rpc_parse_reply(&res, NULL, "eth_getBlockByNumber", 1, data, size)) &&
        !json_is_null(res) && kg_ok(kg_eth_parse_block(&whole, res));
    json_decref(res);
    res = NULL;
    kg_error_clear();
    bool cut_ok = kg_ok(kg_eth_parse_block_reply(&cut, "eth_getBlockByNumber", 1, data, size));
    kg_error_clear();
    if (whole_ok != cut_ok || (whole_ok && memcmp(&whole, &cut, sizeof(whole)) != 0))
        abort();
    /* The seeds use id 1. */
    if (kg_ok(kg_eth_rpc_parse_reply(&res, &rv, "eth_call", 1, data, size))) {
        uint64_t q;
        kg_buf b;
        kg_eth_block blk;
        kg_eth_receipt r;
        kg_eth_logs logs;
        kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
        if (kg_ok(kg_eth_parse_data(&b, res, "result")) && b.len > KG_ETH_MAX_ABI_LEN)
            abort();
        kg_buf_free(&b);
        (void)kg_ok(kg_eth_parse_quantity(&q, res, "result"));
        (void)kg_ok(kg_eth_parse_block(&blk, res));
        if (kg_ok(kg_eth_parse_receipt(&r, res))) {
            if (r.logs.count > KG_ETH_MAX_LOGS)
                abort();
            kg_eth_receipt_free(&r);
        }
        kg_eth_tx_seen tx;
        if (kg_ok(kg_eth_parse_tx_seen(&tx, res)) && !tx.mined && tx.block_number != 0)
            abort(); /* a pending transaction has no block */
        if (kg_ok(kg_eth_parse_logs(&logs, res))) {
            for (size_t i = 0; i < logs.count; i++)
                if (logs.items[i].n_topics > KG_ETH_MAX_TOPICS)
                    abort();
            kg_eth_logs_free(&logs);
        }
        json_decref(res);
    } else if (kg_error_code() == KG_ERR_DENIED && rv.kind == KG_ETH_REVERT_ERROR &&
               strlen(rv.reason) > KG_ETH_MAX_REASON_LEN) {
        abort();
    }
    kg_error_clear();
    return 0;
}
