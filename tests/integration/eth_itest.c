/* eth_itest.c - the eth module against a real anvil: chain queries, a signed EIP-1559 contract
 * creation, eth_call at pinned blocks, revert decoding, calldata compared with cast at test
 * time, and transport failures (node down, node silent). */
#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "anvil.h"
#include "keygate/crypto.h"
#include "keygate/eth.h"

/* A hand-assembled "echo" contract (no compiler needed):
 *   runtime: copy calldata to memory; if its first byte is 0xff, revert with the rest,
 *            otherwise return it unchanged.
 *     36 6000 6000 37        CALLDATACOPY(0, 0, CALLDATASIZE)
 *     6000 51 60f8 1c        first byte = MLOAD(0) >> 248
 *     60ff 14 6016 57        if == 0xff jump to 0x16
 *     36 6000 f3             RETURN(0, CALLDATASIZE)
 *     5b 6001 36 03 6001 fd  0x16: REVERT(1, CALLDATASIZE - 1)
 *   init: 601e 80 600b 6000 39 6000 f3  CODECOPY(0, 0x0b, 0x1e); RETURN(0, 0x1e) */
static const char ECHO_RUNTIME[] = "36600060003760005160f81c60ff14601657366000f35b600136036001fd";
static const char ECHO_INIT_PREFIX[] = "601e80600b6000396000f3";

typedef struct fixture {
    kg_test_anvil anvil;
    kg_eth_client *c;
    uint8_t key[32];
    uint8_t sender[20];
    uint8_t echo[20];      /* deployed echo contract */
    kg_eth_block deployed; /* the block it was created in */
} fixture;

static fixture g;

static int setup(void **state)
{
    (void)state;
    int rc = kg_test_anvil_start(&g.anvil, NULL);
    if (rc == 77)
        exit(77);
    if (rc != 0)
        return -1;
    KG_ASSERT_OK(kg_eth_client_new(&g.c, g.anvil.url, 5000));
    KG_ASSERT_OK(kg_hex_decode_exact(g.key, 32, KG_TEST_ANVIL_KEY0));
    KG_ASSERT_OK(kg_eth_address_of_key(g.sender, g.key));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kg_eth_client_free(g.c);
    kg_test_anvil_stop(&g.anvil);
    return 0;
}

static void reads_chain_id_and_blocks(void **state)
{
    (void)state;
    uint64_t id, n;
    char addr[43];
    kg_eth_address_checksum(addr, g.sender);
    assert_string_equal(addr, KG_TEST_ANVIL_ADDR0);
    KG_ASSERT_OK(kg_eth_chain_id(g.c, &id));
    assert_int_equal(id, KG_TEST_ANVIL_CHAIN_ID);
    KG_ASSERT_OK(kg_eth_block_number(g.c, &n));
    assert_int_equal(n, 0);
    kg_eth_block latest, zero;
    KG_ASSERT_OK(kg_eth_get_block(g.c, &latest, "latest"));
    KG_ASSERT_OK(kg_eth_get_block_by_number(g.c, &zero, 0));
    assert_int_equal(latest.number, 0);
    assert_memory_equal(latest.hash, zero.hash, 32);
    assert_true(latest.has_base_fee);
    KG_ASSERT_ERR(kg_eth_get_block_by_number(g.c, &zero, 1000), KG_ERR_NOT_FOUND, "no such block");
    KG_ASSERT_ERR(kg_eth_get_block(g.c, &zero, "pending\"]"), KG_ERR_USAGE, "block tag");
    uint64_t price, tip, nonce;
    KG_ASSERT_OK(kg_eth_gas_price(g.c, &price));
    KG_ASSERT_OK(kg_eth_max_priority_fee(g.c, &tip));
    assert_true(price > 0);
    KG_ASSERT_OK(kg_eth_get_nonce(g.c, &nonce, g.sender));
    assert_int_equal(nonce, 0);
}

static void deploys_with_signed_eip1559_transaction(void **state)
{
    (void)state;
    kg_buf init, code;
    char hex[sizeof(ECHO_INIT_PREFIX) + sizeof(ECHO_RUNTIME)];
    snprintf(hex, sizeof(hex), "%s%s", ECHO_INIT_PREFIX, ECHO_RUNTIME);
    kg_test_hex(&init, hex);
    kg_buf_init(&code, 4096);
    uint8_t want[20];
    KG_ASSERT_OK(kg_eth_create_address(want, g.sender, 0));

    kg_eth_receipt r;
    KG_ASSERT_OK(kg_eth_send_and_wait(g.c, &r, g.key, NULL, NULL, init.data, init.len, 10000));
    assert_true(r.status);
    assert_true(r.has_contract_address);
    assert_memory_equal(r.contract_address, want, 20);
    assert_int_equal(r.block_number, 1);
    assert_int_equal(r.logs.count, 0);
    memcpy(g.echo, r.contract_address, 20);
    KG_ASSERT_OK(kg_eth_get_block_by_number(g.c, &g.deployed, 1));
    assert_memory_equal(g.deployed.hash, r.block_hash, 32);
    kg_eth_receipt_free(&r);

    /* The code is there from block 1 on, not at block 0 (state pinned by block hash). */
    KG_ASSERT_OK(kg_eth_get_code(g.c, &code, g.echo, &g.deployed));
    kg_test_assert_hex(code.data, code.len, ECHO_RUNTIME);
    assert_int_equal(code.len, strlen(ECHO_RUNTIME) / 2);
    kg_eth_block genesis;
    KG_ASSERT_OK(kg_eth_get_block_by_number(g.c, &genesis, 0));
    kg_buf_reset(&code);
    KG_ASSERT_OK(kg_eth_get_code(g.c, &code, g.echo, &genesis));
    assert_int_equal(code.len, 0);

    uint64_t nonce;
    KG_ASSERT_OK(kg_eth_get_nonce(g.c, &nonce, g.sender));
    assert_int_equal(nonce, 1);
    kg_buf_free(&init);
    kg_buf_free(&code);
}

/* eth_call through the echo: what we send comes back and decodes; at genesis (no code) the
 * empty answer does not decode as a bool. */
static void calls_and_decodes(void **state)
{
    (void)state;
    kg_abi_value args[2] = {kg_abi_bool(true), kg_abi_string("compose hash not allowed")};
    kg_buf data, out;
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&out, KG_ETH_MAX_ABI_LEN);
    KG_ASSERT_OK(kg_abi_encode(&data, args, 2));
    KG_ASSERT_OK(kg_eth_call(g.c, &out, NULL, NULL, g.echo, data.data, data.len, &g.deployed));
    static const kg_abi_type t[2] = {KG_ABI_T_BOOL, KG_ABI_T_STRING};
    kg_abi_decoded v[2];
    KG_ASSERT_OK(kg_abi_decode(v, t, 2, out.data, out.len, KG_ETH_MAX_REASON_LEN));
    assert_true(kg_abi_get_bool(&v[0]));
    char reason[64];
    KG_ASSERT_OK(kg_abi_get_string(reason, sizeof(reason), &v[1]));
    assert_string_equal(reason, "compose hash not allowed");

    /* latest (NULL) gives the same; genesis has no code: empty return data. */
    kg_buf_reset(&out);
    KG_ASSERT_OK(kg_eth_call(g.c, &out, NULL, g.sender, g.echo, data.data, data.len, NULL));
    assert_int_equal(out.len, data.len);
    kg_eth_block genesis;
    KG_ASSERT_OK(kg_eth_get_block_by_number(g.c, &genesis, 0));
    kg_buf_reset(&out);
    KG_ASSERT_OK(kg_eth_call(g.c, &out, NULL, NULL, g.echo, data.data, data.len, &genesis));
    assert_int_equal(out.len, 0);
    KG_ASSERT_ERR(kg_abi_decode(v, t, 2, out.data, out.len, 64), KG_ERR_TRUNCATED, "(bool)");

    /* kg_eth_view: the echo answers its own calldata (a 4-byte selector), which is no (bool):
     * an error naming the call and the contract, never a value; the same at genesis (no code,
     * empty answer). */
    kg_buf ret;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    char want[64];
    snprintf(want, sizeof(want), "f() at 0x%02x%02x..: unexpected answer", g.echo[0], g.echo[1]);
    KG_ASSERT_ERR(kg_eth_view(v, t, 1, 64, &ret, g.c, g.echo, "f()", NULL, 0, NULL),
                  KG_ERR_TRUNCATED, want);
    assert_int_equal(ret.len, 4);
    KG_ASSERT_ERR(kg_eth_view(v, t, 1, 64, &ret, g.c, g.echo, "f()", NULL, 0, &genesis),
                  KG_ERR_TRUNCATED, want);
    assert_int_equal(ret.len, 0);
    kg_buf_free(&ret);

    /* A reply bigger than the caller's buffer cap is refused. */
    kg_buf small;
    kg_buf_init(&small, 16);
    KG_ASSERT_ERR(kg_eth_call(g.c, &small, NULL, NULL, g.echo, data.data, data.len, NULL),
                  KG_ERR_TOO_LARGE, "eth_call result");
    kg_buf_free(&small);
    kg_buf_free(&data);
    kg_buf_free(&out);
}

/* Calls the echo with 0xff || payload: it reverts with payload. */
static kg_result revert_with(kg_eth_revert *rv, const char *payload_hex)
{
    kg_buf data, out;
    kg_test_hex(&data, "ff");
    KG_ASSERT_OK(kg_hex_decode_buf(&data, payload_hex, strlen(payload_hex)));
    kg_buf_init(&out, 1024);
    kg_result rc = kg_eth_call(g.c, &out, rv, NULL, g.echo, data.data, data.len, NULL);
    kg_buf_free(&data);
    kg_buf_free(&out);
    return rc;
}

static void reverts_decode_to_their_reason(void **state)
{
    (void)state;
    kg_eth_revert rv;
    /* cast calldata 'Error(string)' 'app not registered' */
    KG_ASSERT_ERR(revert_with(&rv,
                              "08c379a0"
                              "0000000000000000000000000000000000000000000000000000000000000020"
                              "0000000000000000000000000000000000000000000000000000000000000012"
                              "617070206e6f7420726567697374657265640000000000000000000000000000"),
                  KG_ERR_DENIED, "eth_call: execution reverted: Error(\"app not registered\")");
    assert_int_equal(rv.kind, KG_ETH_REVERT_ERROR);
    assert_string_equal(rv.reason, "app not registered");

    KG_ASSERT_ERR(
        revert_with(&rv,
                    "4e487b710000000000000000000000000000000000000000000000000000000000000001"),
        KG_ERR_DENIED, "execution reverted: Panic(0x1: assertion failed)");
    assert_int_equal(rv.kind, KG_ETH_REVERT_PANIC);

    KG_ASSERT_ERR(
        revert_with(&rv,
                    "118cdaa7000000000000000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        KG_ERR_DENIED,
        "execution reverted: custom error OwnableUnauthorizedAccount(address) 0x118cdaa7");
    assert_int_equal(rv.kind, KG_ETH_REVERT_CUSTOM);

    KG_ASSERT_ERR(revert_with(&rv, ""), KG_ERR_DENIED, "execution reverted: no revert data");
    assert_int_equal(rv.kind, KG_ETH_REVERT_EMPTY);

    /* Error(string) with a truncated body: still a revert (denied), reason not trusted. */
    KG_ASSERT_ERR(revert_with(&rv, "08c379a00000"), KG_ERR_DENIED,
                  "execution reverted: malformed revert data");
    assert_int_equal(rv.kind, KG_ETH_REVERT_EMPTY);
}

static void refuses_to_send_what_would_revert(void **state)
{
    (void)state;
    kg_buf data;
    kg_test_hex(&data, "ff08c379a0"
                       "0000000000000000000000000000000000000000000000000000000000000020"
                       "0000000000000000000000000000000000000000000000000000000000000004"
                       "6e6f706500000000000000000000000000000000000000000000000000000000");
    uint64_t before, after;
    KG_ASSERT_OK(kg_eth_get_nonce(g.c, &before, g.sender));
    kg_eth_receipt r;
    KG_ASSERT_ERR(
        kg_eth_send_and_wait(g.c, &r, g.key, g.echo, NULL, data.data, data.len, 5000),
        KG_ERR_DENIED,
        "simulating the transaction: eth_estimateGas: execution reverted: Error(\"nope\")");
    KG_ASSERT_OK(kg_eth_get_nonce(g.c, &after, g.sender));
    assert_int_equal(before, after); /* nothing was sent */

    /* Forced through with a fixed gas limit, it is mined with status 0. */
    uint64_t id;
    kg_eth_block latest;
    KG_ASSERT_OK(kg_eth_chain_id(g.c, &id));
    KG_ASSERT_OK(kg_eth_get_block(g.c, &latest, "latest"));
    kg_eth_tx tx = {.chain_id = id,
                    .nonce = before,
                    .max_priority_fee_per_gas = 1000000000,
                    .max_fee_per_gas = 2 * latest.base_fee_per_gas + 1000000000,
                    .gas_limit = 100000,
                    .has_to = true,
                    .data = data.data,
                    .data_len = data.len};
    memcpy(tx.to, g.echo, 20);
    kg_buf raw;
    kg_buf_init(&raw, KG_ETH_MAX_TX_LEN);
    uint8_t hash[32], sent[32];
    KG_ASSERT_OK(kg_eth_tx_sign(&raw, hash, &tx, g.key));
    KG_ASSERT_OK(kg_eth_send_raw(g.c, sent, raw.data, raw.len));
    assert_memory_equal(hash, sent, 32);
    KG_ASSERT_OK(kg_eth_wait_receipt(g.c, &r, hash, 5000));
    assert_false(r.status);
    kg_eth_receipt_free(&r);

    /* Replaying the same raw transaction is a node error, not a revert. */
    KG_ASSERT_ERR(kg_eth_send_raw(g.c, sent, raw.data, raw.len), KG_ERR_NETWORK,
                  "node rejected eth_sendRawTransaction");

    /* A receipt that does not exist is "not found yet", and waiting for it times out. */
    uint8_t nohash[32];
    memset(nohash, 0x42, 32);
    bool found = true;
    KG_ASSERT_OK(kg_eth_get_receipt(g.c, &r, &found, nohash));
    assert_false(found);
    KG_ASSERT_ERR(kg_eth_wait_receipt(g.c, &r, nohash, 200), KG_ERR_NETWORK,
                  "not mined within 200 ms");
    kg_buf_free(&raw);
    kg_buf_free(&data);
}

/* Our isAppAllowed calldata equals cast's, for random boot infos, computed at test time. */
static void calldata_matches_cast(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        uint8_t r[20 + 32 * 6 + 20];
        KG_ASSERT_OK(kg_random(r, sizeof(r)));
        char h[7][65], adv[3][16];
        const uint8_t *p = r;
        size_t sizes[7] = {20, 32, 20, 32, 32, 32, 32};
        for (int i = 0; i < 7; i++) {
            KG_ASSERT_OK(kg_hex_encode(h[i], sizeof(h[i]), p, sizes[i]));
            p += sizes[i];
        }
        size_t n_adv = (size_t)round; /* 0, 1, 2 advisories */
        kg_abi_value advs[3];
        char list[64] = "[";
        for (size_t i = 0; i < n_adv; i++) {
            snprintf(adv[i], sizeof(adv[i]), "INTEL-SA-%05u", (unsigned)(r[i] * 7 + round));
            advs[i] = kg_abi_string(adv[i]);
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%s", i ? "," : "", adv[i]);
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "]");
        const char *tcb = round == 1 ? "OutOfDate" : "UpToDate";
        char cmd[2048];
        snprintf(cmd, sizeof(cmd),
                 "%s calldata 'isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,"
                 "bytes32,string,string[]))' '(0x%s,0x%s,0x%s,0x%s,0x%s,0x%s,0x%s,%s,%s)'",
                 kg_test_tool("cast"), h[0], h[1], h[2], h[3], h[4], h[5], h[6], tcb, list);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        static char want[8192];
        size_t got = fread(want, 1, sizeof(want) - 1, f);
        assert_int_equal(pclose(f), 0);
        want[got] = '\0';
        while (got > 0 && (want[got - 1] == '\n' || want[got - 1] == '\r'))
            want[--got] = '\0';

        kg_abi_value m[9];
        p = r;
        m[0] = kg_abi_address(p);
        m[1] = kg_abi_bytes32(p + 20);
        m[2] = kg_abi_address(p + 52);
        m[3] = kg_abi_bytes32(p + 72);
        m[4] = kg_abi_bytes32(p + 104);
        m[5] = kg_abi_bytes32(p + 136);
        m[6] = kg_abi_bytes32(p + 168);
        m[7] = kg_abi_string(tcb);
        m[8] = kg_abi_array(advs, n_adv);
        kg_abi_value arg = kg_abi_tuple(m, 9);
        kg_buf b;
        kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
        KG_ASSERT_OK(kg_abi_encode_call(
            &b,
            "isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,"
            "string[]))",
            &arg, 1));
        assert_true(strncmp(want, "0x", 2) == 0);
        kg_test_assert_hex(b.data, b.len, want + 2);
        assert_int_equal(b.len * 2, strlen(want) - 2);
        kg_buf_free(&b);
    }
}

typedef struct caller {
    int ok;
    int id;
} caller;

/* Each thread sends its own payload through the shared client and must get exactly it back. */
static void *call_many(void *arg)
{
    caller *k = arg;
    uint8_t payload[64];
    memset(payload, k->id + 1, sizeof(payload));
    kg_buf out;
    kg_buf_init(&out, 1024);
    for (int i = 0; i < 50; i++) {
        kg_buf_reset(&out);
        if (kg_ok(kg_eth_call(g.c, &out, NULL, NULL, g.echo, payload, sizeof(payload), NULL)) &&
            out.len == sizeof(payload) && memcmp(out.data, payload, sizeof(payload)) == 0)
            k->ok++;
    }
    kg_buf_free(&out);
    return NULL;
}

static void concurrent_calls_share_one_client(void **state)
{
    (void)state;
    enum { N = 8 };
    pthread_t th[N];
    caller k[N];
    for (int i = 0; i < N; i++) {
        k[i] = (caller){.ok = 0, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, call_many, &k[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(k[i].ok, 50);
    }
}

/* A TCP listener that accepts nothing: connections hang until the client's timeout. */
static void silent_node_times_out(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
    kg_eth_client *c;
    KG_ASSERT_OK(kg_eth_client_new(&c, url, 300));
    uint64_t n;
    KG_ASSERT_ERR(kg_eth_block_number(c, &n), KG_ERR_NETWORK, "Timeout was reached");
    kg_eth_client_free(c);
    close(fd);
}

/* A fake node: answers one HTTP request with a canned reply, then closes. */
typedef struct fake_node {
    int fd;
    const char *status_line; /* e.g. "HTTP/1.1 200 OK" */
    const char *body;        /* NULL: a body of body_len bytes of JSON whitespace */
    size_t body_len;
} fake_node;

static void *serve_once(void *arg)
{
    fake_node *f = arg;
    int c = accept(f->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char req[65536];
    ssize_t n = read(c, req, sizeof(req)); /* the request fits one read on loopback */
    (void)n;
    size_t len = f->body ? strlen(f->body) : f->body_len;
    char head[256];
    int h = snprintf(head, sizeof(head),
                     "%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     f->status_line, len);
    if (send(c, head, (size_t)h, MSG_NOSIGNAL) == h) {
        if (f->body) {
            if (send(c, f->body, len, MSG_NOSIGNAL) < 0)
                len = 0;
        } else {
            static char spaces[65536];
            memset(spaces, ' ', sizeof(spaces));
            for (size_t sent = 0; sent < len;) {
                size_t k = len - sent < sizeof(spaces) ? len - sent : sizeof(spaces);
                ssize_t w = send(c, spaces, k, MSG_NOSIGNAL); /* the client may hang up */
                if (w <= 0)
                    break;
                sent += (size_t)w;
            }
        }
    }
    close(c);
    return NULL;
}

/* Runs one kg_eth_block_number against a fake node and checks the error. */
static void expect_fake(const char *status, const char *body, size_t body_len, kg_err code,
                        const char *needle)
{
    fake_node f = {.status_line = status, .body = body, .body_len = body_len};
    f.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(f.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f.fd, 1), 0);
    assert_int_equal(getsockname(f.fd, (struct sockaddr *)&sa, &len), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serve_once, &f), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(sa.sin_port));
    kg_eth_client *c;
    KG_ASSERT_OK(kg_eth_client_new(&c, url, 5000));
    uint64_t n;
    KG_ASSERT_ERR(kg_eth_block_number(c, &n), code, needle);
    kg_eth_client_free(c);
    pthread_join(th, NULL);
    close(f.fd);
}

/* Malformed or hostile answers from a node are errors, never values. */
static void bad_nodes_are_errors(void **state)
{
    (void)state;
    expect_fake("HTTP/1.1 500 Internal Server Error", "{}", 0, KG_ERR_NETWORK,
                "eth_blockNumber answered HTTP 500");
    expect_fake("HTTP/1.1 200 OK", "<html>hello</html>", 0, KG_ERR_NETWORK,
                "eth_blockNumber reply is not JSON");
    /* Our first request id is 1: an answer to another request is refused. */
    expect_fake("HTTP/1.1 200 OK", "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"0x1\"}", 0,
                KG_ERR_NETWORK, "wrong id (want 1)");
    expect_fake("HTTP/1.1 200 OK", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"1\"}", 0,
                KG_ERR_NETWORK, "eth_blockNumber is not a 0x quantity");
    expect_fake("HTTP/1.1 200 OK", NULL, KG_ETH_MAX_RPC_REPLY + 1, KG_ERR_TOO_LARGE,
                "reply exceeds 8388608 bytes");
}

/* Last: with the node stopped, every call is a clear network error. */
static void node_down_is_a_network_error(void **state)
{
    (void)state;
    kg_test_anvil_stop(&g.anvil);
    uint64_t n;
    char want[128];
    snprintf(want, sizeof(want), "chain node %s: eth_blockNumber: Couldn't connect to server",
             g.anvil.url);
    KG_ASSERT_ERR(kg_eth_block_number(g.c, &n), KG_ERR_NETWORK, want);
    kg_buf out;
    kg_buf_init(&out, 1024);
    KG_ASSERT_ERR(kg_eth_call(g.c, &out, NULL, NULL, g.echo, NULL, 0, NULL), KG_ERR_NETWORK,
                  "Couldn't connect to server");
    kg_buf_free(&out);
    kg_eth_client *bad;
    KG_ASSERT_ERR(kg_eth_client_new(&bad, "file:///etc/passwd", 0), KG_ERR_INPUT,
                  "is not http:// or https://");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_chain_id_and_blocks),
        cmocka_unit_test(deploys_with_signed_eip1559_transaction),
        cmocka_unit_test(calls_and_decodes),
        cmocka_unit_test(reverts_decode_to_their_reason),
        cmocka_unit_test(refuses_to_send_what_would_revert),
        cmocka_unit_test(calldata_matches_cast),
        cmocka_unit_test(concurrent_calls_share_one_client),
        cmocka_unit_test(silent_node_times_out),
        cmocka_unit_test(bad_nodes_are_errors),
        cmocka_unit_test(node_down_is_a_network_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
