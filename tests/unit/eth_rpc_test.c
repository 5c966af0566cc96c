/* eth_rpc_test.c - the strict JSON-RPC reply parser and member parsers: envelopes, error
 * objects (reverts vs node errors), quantities, data, blocks, receipts and logs. Replies are
 * shaped like anvil's (captured from anvil 1.7.1 while writing tests/integration/eth_itest.c). */
#include "test_util.h"

#include <jansson.h>
#include <string.h>

#include "keygate/eth.h"

static kg_result parse(json_t **res, kg_eth_revert *rv, const char *body)
{
    return kg_eth_rpc_parse_reply(res, rv, "eth_call", 7, (const uint8_t *)body, strlen(body));
}

static void envelope(void **state)
{
    (void)state;
    json_t *res;
    KG_ASSERT_OK(parse(&res, NULL, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x01\"}"));
    assert_string_equal(json_string_value(res), "0x01");
    json_decref(res);
    KG_ASSERT_OK(parse(&res, NULL, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":null}"));
    assert_true(json_is_null(res));
    json_decref(res);

    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"", "reply is not JSON"},
        {"[{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1}]", "not a JSON object"},
        {"{\"jsonrpc\":\"1.0\",\"id\":7,\"result\":1}", "not JSON-RPC 2.0"},
        {"{\"id\":7,\"result\":1}", "not JSON-RPC 2.0"},
        {"{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":1}", "wrong id (want 7)"},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":1}", "wrong id"},
        {"{\"jsonrpc\":\"2.0\",\"result\":1}", "wrong id"},
        {"{\"jsonrpc\":\"2.0\",\"id\":7}", "exactly one of result and error"},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1,\"error\":{\"code\":1,\"message\":\"x\"}}",
         "exactly one of result and error"},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1,\"result\":2}", "duplicate"},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"message\":\"x\"}}",
         "malformed JSON-RPC error"},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":\"boom\"}", "malformed JSON-RPC error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        KG_ASSERT_ERR(parse(&res, NULL, bad[i].body), KG_ERR_NETWORK, bad[i].needle);
        assert_null(res);
    }
    /* Not a revert: a node error, with its message and code. */
    KG_ASSERT_ERR(parse(&res, NULL,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32003,\"message\":"
                        "\"nonce too low\"}}"),
                  KG_ERR_NETWORK, "node rejected eth_call: nonce too low (code -32003)");
}

static void reverts(void **state)
{
    (void)state;
    json_t *res;
    kg_eth_revert rv;
    /* anvil: code 3, message with the reason, data = the revert bytes */
    KG_ASSERT_ERR(
        parse(&res, &rv,
              "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":3,\"message\":\"execution "
              "reverted: app not registered\",\"data\":\"0x08c379a0"
              "0000000000000000000000000000000000000000000000000000000000000020"
              "0000000000000000000000000000000000000000000000000000000000000012"
              "617070206e6f7420726567697374657265640000000000000000000000000000\"}}"),
        KG_ERR_DENIED, "eth_call: execution reverted: Error(\"app not registered\")");
    assert_int_equal(rv.kind, KG_ETH_REVERT_ERROR);
    assert_string_equal(rv.reason, "app not registered");
    /* The reason comes from the data, never from the free-text message. */
    KG_ASSERT_ERR(parse(&res, &rv,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":3,\"message\":"
                        "\"execution reverted: allowed\"}}"),
                  KG_ERR_DENIED, "execution reverted: no revert data");
    assert_int_equal(rv.kind, KG_ETH_REVERT_EMPTY);
    /* Other nodes: -32000 "execution reverted" */
    KG_ASSERT_ERR(parse(&res, &rv,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32000,\"message\":"
                        "\"execution reverted\",\"data\":\"0x4e487b71"
                        "0000000000000000000000000000000000000000000000000000000000000012\"}}"),
                  KG_ERR_DENIED, "Panic(0x12: division by zero)");
    assert_int_equal(rv.kind, KG_ETH_REVERT_PANIC);
    /* Bad revert data: still a revert (denied), but nothing structured taken from it. */
    static const char *const bad_data[] = {"\"0x08c379a0\"", "\"0x0\"", "\"08c379a0\"", "\"0xzz\"",
                                           "\"0x08c3\""};
    for (size_t i = 0; i < sizeof(bad_data) / sizeof(bad_data[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":3,\"message\":\"execution "
                 "reverted\",\"data\":%s}}",
                 bad_data[i]);
        KG_ASSERT_ERR(parse(&res, &rv, body), KG_ERR_DENIED, "malformed revert data");
        assert_int_equal(rv.kind, KG_ETH_REVERT_EMPTY);
    }
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("bad test JSON: %s", e.text);
    return j;
}

static void quantities_and_data(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool ok;
        uint64_t v;
    } q[] = {
        {"\"0x0\"", true, 0},
        {"\"0x1a\"", true, 26},
        {"\"0xFFFFFFFFFFFFFFFF\"", true, UINT64_MAX},
        {"\"0x0000000000000000001\"", true, 1},
        {"\"0x10000000000000000\"", false, 0},
        {"\"0x\"", false, 0},
        {"\"1a\"", false, 0},
        {"\"0x1g\"", false, 0},
        {"\"0x-1\"", false, 0},
        {"26", false, 0},
        {"null", false, 0},
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        json_t *j = load(q[i].json);
        uint64_t v = 0;
        kg_error_clear();
        kg_result r = kg_eth_parse_quantity(&v, j, "x");
        if (q[i].ok != kg_ok(r) || (q[i].ok && v != q[i].v))
            fail_msg("%s: got %s %llu", q[i].json, kg_ok(r) ? "ok" : kg_error_message(),
                     (unsigned long long)v);
        if (!q[i].ok)
            assert_int_equal(kg_error_code(), KG_ERR_NETWORK);
        json_decref(j);
    }
    kg_buf b;
    kg_buf_init(&b, 4);
    json_t *j = load("\"0x0102\"");
    KG_ASSERT_OK(kg_eth_parse_data(&b, j, "d"));
    kg_test_assert_hex(b.data, b.len, "0102");
    json_decref(j);
    j = load("\"0x010203\"");
    KG_ASSERT_ERR(kg_eth_parse_data(&b, j, "d"), KG_ERR_TOO_LARGE, "d of 3 bytes exceeds 2");
    json_decref(j);
    j = load("\"0x012\"");
    KG_ASSERT_ERR(kg_eth_parse_data(&b, j, "d"), KG_ERR_NETWORK, "not 0x-prefixed hex data");
    json_decref(j);
    j = load("\"0x0g\"");
    KG_ASSERT_ERR(kg_eth_parse_data(&b, j, "d"), KG_ERR_NETWORK, "non-hex character");
    assert_int_equal(b.len, 2);
    json_decref(j);
    kg_buf_free(&b);
}

#define H32 "0x1111111111111111111111111111111111111111111111111111111111111111"
#define A20 "0x5fbdb2315678afecb367f032d93f642f64180aa3"

static void blocks_receipts_logs(void **state)
{
    (void)state;
    json_t *j = load("{\"number\":\"0x5\",\"hash\":\"" H32 "\",\"timestamp\":\"0x65\","
                     "\"baseFeePerGas\":\"0x3b9aca00\",\"transactions\":[]}");
    kg_eth_block blk;
    KG_ASSERT_OK(kg_eth_parse_block(&blk, j));
    assert_int_equal(blk.number, 5);
    assert_int_equal(blk.base_fee_per_gas, 1000000000);
    assert_true(blk.has_base_fee);
    json_object_set_new(j, "hash", json_null()); /* a pending block: no hash */
    KG_ASSERT_ERR(kg_eth_parse_block(&blk, j), KG_ERR_NETWORK, "block hash is not a hex data");
    json_object_set_new(j, "hash", json_string("0x1111"));
    KG_ASSERT_ERR(kg_eth_parse_block(&blk, j), KG_ERR_NETWORK,
                  "block hash is 2 bytes, expected 32");
    json_decref(j);

    j = load("{\"transactionHash\":\"" H32 "\",\"blockHash\":\"" H32 "\",\"blockNumber\":\"0x2\","
             "\"status\":\"0x1\",\"gasUsed\":\"0x5208\",\"contractAddress\":null,\"logs\":["
             "{\"address\":\"" A20 "\",\"topics\":[\"" H32 "\",\"" H32 "\"],\"data\":\"0xabcd\","
             "\"blockNumber\":\"0x2\",\"blockHash\":\"" H32 "\",\"transactionHash\":\"" H32 "\","
             "\"logIndex\":\"0x0\",\"removed\":false}]}");
    kg_eth_receipt r;
    KG_ASSERT_OK(kg_eth_parse_receipt(&r, j));
    assert_true(r.status);
    assert_false(r.has_contract_address);
    assert_int_equal(r.gas_used, 21000);
    assert_int_equal(r.logs.count, 1);
    assert_int_equal(r.logs.items[0].n_topics, 2);
    assert_int_equal(r.logs.items[0].data_len, 2);
    kg_eth_receipt_free(&r);
    assert_null(r.logs.items);

    json_object_set_new(j, "status", json_string("0x2"));
    KG_ASSERT_ERR(kg_eth_parse_receipt(&r, j), KG_ERR_NETWORK, "receipt status 2 is not 0 or 1");
    json_object_del(j, "status"); /* pre-Byzantium: root instead of status */
    KG_ASSERT_ERR(kg_eth_parse_receipt(&r, j), KG_ERR_NETWORK, "receipt status");
    json_object_set_new(j, "status", json_string("0x0"));
    json_object_set_new(j, "contractAddress", json_string(A20));
    KG_ASSERT_OK(kg_eth_parse_receipt(&r, j));
    assert_false(r.status);
    assert_true(r.has_contract_address);
    kg_eth_receipt_free(&r);

    /* A bad second log: the whole list fails, naming it, and nothing leaks. */
    json_t *logs = json_object_get(j, "logs");
    json_t *l2 = json_deep_copy(json_array_get(logs, 0));
    json_object_set_new(l2, "topics", json_pack("[s,s,s,s,s]", H32, H32, H32, H32, H32));
    json_array_append_new(logs, l2);
    KG_ASSERT_ERR(kg_eth_parse_receipt(&r, j), KG_ERR_NETWORK,
                  "receipt: log 1: chain node: log topics is not an array of at most 4");
    json_object_set_new(l2, "topics", json_array());
    json_object_set_new(l2, "removed", json_true());
    KG_ASSERT_ERR(kg_eth_parse_receipt(&r, j), KG_ERR_NETWORK, "removed by a reorganization");
    json_object_set_new(l2, "removed", json_false());
    KG_ASSERT_OK(kg_eth_parse_receipt(&r, j));
    assert_int_equal(r.logs.count, 2);
    assert_int_equal(r.logs.items[1].n_topics, 0);
    kg_eth_receipt_free(&r);
    json_decref(j);

    kg_eth_logs ls;
    j = load("{}");
    KG_ASSERT_ERR(kg_eth_parse_logs(&ls, j), KG_ERR_NETWORK, "logs is not an array");
    json_decref(j);
}

/* A block reply read both ways: the tree of the whole reply, and kg_eth_parse_block_reply
 * (transaction hashes elided). Both succeed with the same block, or both fail. */
static void same_either_way(const char *body, bool want_ok)
{
    json_t *res = NULL;
    kg_eth_block full, cut;
    memset(&full, 0, sizeof(full));
    bool full_ok = kg_ok(kg_eth_rpc_parse_reply(&res, NULL, "eth_getBlockByNumber", 7,
                                                (const uint8_t *)body, strlen(body))) &&
                   kg_ok(kg_eth_parse_block(&full, res));
    json_decref(res);
    kg_error_clear();
    bool cut_ok = kg_ok(kg_eth_parse_block_reply(&cut, "eth_getBlockByNumber", 7,
                                                 (const uint8_t *)body, strlen(body)));
    kg_error_clear();
    assert_int_equal(full_ok, want_ok);
    assert_int_equal(cut_ok, want_ok);
    if (want_ok)
        assert_memory_equal(&full, &cut, sizeof(full));
}

#define BLOCK_HEAD                                                                                 \
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"number\":\"0x5\",\"hash\":\"" H32 "\","           \
    "\"timestamp\":\"0x65\",\"baseFeePerGas\":\"0x7\","
#define H32B "\"0xABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\""

static void block_replies(void **state)
{
    (void)state;
    /* anvil's shape: the hashes are elided, the copy is the reply with an empty list */
    const char *body =
        BLOCK_HEAD "\"transactions\":[\"" H32 "\", " H32B ",\n\"" H32 "\"],\"size\":\"0x2a\"}}";
    kg_buf cut;
    kg_buf_init(&cut, strlen(body));
    assert_true(kg_eth_elide_tx_hashes(&cut, (const uint8_t *)body, strlen(body)));
    const char *want = BLOCK_HEAD "\"transactions\":[],\"size\":\"0x2a\"}}";
    assert_int_equal(cut.len, strlen(want));
    assert_memory_equal(cut.data, want, cut.len);
    kg_buf_free(&cut);
    kg_eth_block b;
    KG_ASSERT_OK(kg_eth_parse_block_reply(&b, "eth_getBlockByNumber", 7, (const uint8_t *)body,
                                          strlen(body)));
    assert_int_equal(b.number, 5);
    assert_int_equal(b.timestamp, 0x65);
    assert_int_equal(b.base_fee_per_gas, 7);
    assert_int_equal(b.hash[31], 0x11);
    same_either_way(body, true);

    /* A busy block: 1,000 hashes, elided to nothing. */
    kg_buf big;
    kg_buf_init(&big, 1u << 20);
    KG_ASSERT_OK(kg_buf_append(&big, BLOCK_HEAD "\"transactions\":[", strlen(BLOCK_HEAD) + 16));
    for (int i = 0; i < 1000; i++)
        KG_ASSERT_OK(kg_buf_append(&big, i ? ",\"" H32 "\"" : "\"" H32 "\"", i ? 69 : 68));
    KG_ASSERT_OK(kg_buf_append(&big, "]}}\0", 4));
    kg_buf_init(&cut, big.len);
    assert_true(kg_eth_elide_tx_hashes(&cut, big.data, big.len - 1));
    assert_int_equal(cut.len, strlen(BLOCK_HEAD) + 16 + 3);
    kg_buf_free(&cut);
    same_either_way((const char *)big.data, true);
    kg_buf_free(&big);

    /* Not a plain list of hashes: read as it came, to the same answer. */
    static const char *as_is[] = {
        /* full transaction objects */
        BLOCK_HEAD "\"transactions\":[{\"hash\":\"" H32 "\",\"accessList\":[]}]}}",
        /* no list, an empty list, a member of another name */
        BLOCK_HEAD "\"size\":\"0x1\"}}",
        BLOCK_HEAD "\"transactions\":[ ]}}",
        BLOCK_HEAD "\"x\\\"transactions\":[\"" H32 "\"],\"transactions\":[]}}",
        /* short, long, non-hex hashes */
        BLOCK_HEAD "\"transactions\":[\"0x11\"]}}",
        BLOCK_HEAD "\"transactions\":[\"" H32 "11\"]}}",
        BLOCK_HEAD "\"transactions\":["
                   "\"0x111111111111111111111111111111111111111111111111111111111111111g\"]}}",
    };
    for (size_t i = 0; i < sizeof(as_is) / sizeof(as_is[0]); i++) {
        kg_buf_init(&cut, strlen(as_is[i]));
        bool elided = kg_eth_elide_tx_hashes(&cut, (const uint8_t *)as_is[i], strlen(as_is[i]));
        kg_buf_free(&cut);
        /* the escaped key is a member named x"transactions: elided, and nothing else changes */
        assert_int_equal(elided, i == 3);
        same_either_way(as_is[i], true);
    }
    /* Malformed: refused either way (never made valid by the elision). */
    static const char *bad[] = {
        BLOCK_HEAD "\"transactions\":[\"" H32 "\" \"" H32 "\"]}}",
        BLOCK_HEAD "\"transactions\":[\"" H32 "\",]}}",
        BLOCK_HEAD "\"transactions\":[\"" H32 "\"",
        BLOCK_HEAD "\"transactions\":[\"" H32 "\"],\"transactions\":[]}}",
        BLOCK_HEAD "\"transactions\":[\"" H32 "\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        same_either_way(bad[i], false);
    /* The envelope is checked as for every reply; null is "no such block". */
    const char *wrong_id = "{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"transactions\":[]}}";
    KG_ASSERT_ERR(kg_eth_parse_block_reply(&b, "eth_getBlockByNumber", 7, (const uint8_t *)wrong_id,
                                           strlen(wrong_id)),
                  KG_ERR_NETWORK, "wrong id (want 7)");
    const char *none = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":null}";
    KG_ASSERT_ERR(kg_eth_parse_block_reply(&b, "eth_getBlockByNumber", 7, (const uint8_t *)none,
                                           strlen(none)),
                  KG_ERR_NOT_FOUND, "no such block");
}

static void transactions(void **state)
{
    (void)state;
    kg_eth_tx_seen tx;
    /* pending: blockNumber null */
    json_t *j = load("{\"hash\":\"" H32 "\",\"from\":\"" A20 "\",\"nonce\":\"0x2a\","
                     "\"blockNumber\":null,\"blockHash\":null,\"input\":\"0x\"}");
    KG_ASSERT_OK(kg_eth_parse_tx_seen(&tx, j));
    assert_false(tx.mined);
    assert_int_equal(tx.nonce, 42);
    assert_int_equal(tx.from[0], 0x5f);
    /* mined */
    json_object_set_new(j, "blockNumber", json_string("0x1f"));
    KG_ASSERT_OK(kg_eth_parse_tx_seen(&tx, j));
    assert_true(tx.mined);
    assert_int_equal(tx.block_number, 31);
    json_object_set_new(j, "blockNumber", json_string("1f"));
    KG_ASSERT_ERR(kg_eth_parse_tx_seen(&tx, j), KG_ERR_NETWORK,
                  "transaction blockNumber is not a 0x quantity");
    /* blockNumber must be there (null or a number): a node that leaves it out says nothing */
    json_object_del(j, "blockNumber");
    KG_ASSERT_ERR(kg_eth_parse_tx_seen(&tx, j), KG_ERR_NETWORK,
                  "transaction has no blockNumber member");
    json_object_set_new(j, "blockNumber", json_null());
    json_object_set_new(j, "from", json_string("0x1234"));
    KG_ASSERT_ERR(kg_eth_parse_tx_seen(&tx, j), KG_ERR_NETWORK,
                  "transaction from is 2 bytes, expected 20");
    json_object_set_new(j, "from", json_string(A20));
    json_object_set_new(j, "hash", json_string("0x11"));
    KG_ASSERT_ERR(kg_eth_parse_tx_seen(&tx, j), KG_ERR_NETWORK,
                  "transaction hash is 1 bytes, expected 32");
    json_object_set_new(j, "hash", json_string(H32));
    json_object_del(j, "nonce");
    KG_ASSERT_ERR(kg_eth_parse_tx_seen(&tx, j), KG_ERR_NETWORK, "transaction nonce");
    json_decref(j);
    j = load("[]");
    KG_ASSERT_ERR(kg_eth_parse_tx_seen(&tx, j), KG_ERR_NETWORK, "transaction is not an object");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(envelope),
        cmocka_unit_test(reverts),
        cmocka_unit_test(quantities_and_data),
        cmocka_unit_test(blocks_receipts_logs),
        cmocka_unit_test(block_replies),
        cmocka_unit_test(transactions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
