/* cmd_kms_checkpoint.c - `keygate kms checkpoint`: publishes a KMS node's decision-log
 * checkpoint on chain (docs/design.md, "The decision log"). The KMS serves, at GET /log-anchor,
 * its log key and latest checkpoint signed by the root secp256k1 key for this chain and KMS
 * contract; anyone may submit them (the signature authenticates, not the sender), so this
 * command registers the log key when the contract does not know it yet, then publishes the
 * checkpoint if it is newer than the one on chain. With --every S it keeps doing so (the
 * devnet's publisher). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/crypto.h"
#include "keygate/log_anchor.h"
#include "kms_checkpoint.h"

#define MAX_EVERY_S 86400u

static void usage(FILE *out)
{
    fprintf(out, "Usage: keygate kms checkpoint [--kms URL] [--state DIR | --rpc-url URL "
                 "--kms-contract ADDR]\n"
                 "                              [--private-key-file FILE] [--every SECONDS]\n\n"
                 "Publishes the KMS node's latest decision-log checkpoint on the KMS contract\n"
                 "(publishCheckpoint), registering the node's log key first if needed\n"
                 "(registerLogKey). Both are signed by the KMS root key (GET URL/log-anchor);\n"
                 "anyone may send them. Prints {log_id, tree_size, root_hash, ...}; a checkpoint\n"
                 "already on chain is 'unchanged'. A KMS checkpoint smaller than the one on chain\n"
                 "(a rollback) or of the same size with another root (a fork) fails (exit 1).\n"
                 "  --kms URL        the KMS (default: the devnet's)\n"
                 "  --every SECONDS  keep publishing every SECONDS (one JSON line per round;\n"
                 "                   errors are reported and retried)\n"
                 "  --private-key-file FILE  the sending key (else $" KG_CLI_KEY_ENV ", else the\n"
                 "                   devnet key)\n\n"
                 "Exit status: 0 ok, 1 failed, 2 usage error.\n");
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    return kg_chain_hex_json(p, n);
}

/* logCheckpoint(logId) on chain: (publicKey, treeSize, rootHash). */
static kg_result read_published(const kg_cli_target *t, const uint8_t log_id[KG_LOG_ID_LEN],
                                uint8_t pub[32], uint64_t *size, uint8_t root[32])
{
    kg_buf ret;
    kg_abi_decoded d[4];
    const kg_abi_type types[4] = {KG_ABI_T_BYTES32, KG_ABI_T_UINT64, KG_ABI_T_BYTES32,
                                  KG_ABI_T_UINT64};
    kg_abi_value id = kg_abi_bytes32(log_id);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc =
        kg_chain_view(&t->chain, d, types, 4, &ret, t->kms, "logCheckpoint(bytes32)", &id, 1);
    if (kg_ok(rc)) {
        memcpy(pub, d[0].word, 32);
        *size = kg_abi_get_u64(&d[1]);
        memcpy(root, d[2].word, 32);
    }
    kg_buf_free(&ret);
    return rc;
}

/* One round: fetch, register if needed, publish if newer. *out gets what happened. Anyone may
 * publish, so another publisher may land the same checkpoint between our read and our write:
 * a failed write is fine when the chain then holds it (or a larger one). */
static kg_result publish_once(json_t **out, const kg_cli_target *t, const char *kms_url,
                              const uint8_t key[32])
{
    char url[2048];
    long status = 0;
    kg_buf body, ret, data;
    kg_log_anchor_offer a;
    kg_result rc = KG_ERROR;
    json_t *o = NULL;
    kg_buf_init(&body, KG_LOG_ANCHOR_MAX_JSON);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    memset(&a, 0, sizeof(a));
    snprintf(url, sizeof(url), "%s/log-anchor", kms_url);
    /* insecure TLS: what is fetched is signed by the root key, which the contract checks */
    KG_GUARD_CTX_C(kg_cli_http(&body, &status, url, NULL, true, 30000), "GET %s", url);
    KG_ENSURE_C(status == 200, KG_ERR_NETWORK, "GET %s: HTTP %ld: %.*s", url, status,
                (int)(body.len > 200 ? 200 : body.len), (const char *)body.data);
    KG_GUARD_CTX_C(kg_log_anchor_offer_parse(&a, body.data, body.len), "GET %s", url);
    KG_ENSURE_C(a.domain.chain_id == t->chain.chain_id &&
                    memcmp(a.domain.contract, t->kms, 20) == 0,
                KG_ERR_VERIFY,
                "the KMS at %s signs for chain %" PRIu64 " and another KMS contract, not chain "
                "%" PRIu64 " and this one",
                kms_url, a.domain.chain_id, t->chain.chain_id);
    /* checked here too, so a wrong KMS is named rather than a contract revert */
    uint8_t root_k256[KG_K256_PUB_LEN];
    kg_buf spki;
    kg_buf_init(&spki, 4096);
    kg_result kr = kg_eth_kms_info(root_k256, &spki, t->chain.eth, t->kms, NULL);
    kg_buf_free(&spki);
    KG_GUARD_CTX_C(kr, "kmsInfo() of the KMS contract");
    KG_GUARD_CTX_C(kg_log_anchor_offer_verify(&a, root_k256), "GET %s", url);
    o = json_object();
    json_object_set_new(o, "log_id", hex_json(a.log_id, sizeof(a.log_id)));

    static const uint8_t zero[32];
    uint8_t on_pub[32], published_root[32];
    uint64_t published = 0;
    KG_GUARD_C(read_published(t, a.log_id, on_pub, &published, published_root));
    if (memcmp(on_pub, zero, 32) == 0) {
        kg_abi_value args[2] = {kg_abi_bytes32(a.pub), kg_abi_bytes(a.reg_sig, sizeof(a.reg_sig))};
        kg_eth_receipt r;
        KG_GUARD_C(kg_chain_calldata(&data, "registerLogKey(bytes32,bytes)", args, 2));
        if (kg_ok(kg_chain_send(&t->chain, &r, key, t->kms, &data, KG_CHAIN_WAIT_S))) {
            json_object_set_new(o, "registered", hex_json(r.tx_hash, sizeof(r.tx_hash)));
            kg_eth_receipt_free(&r);
            memcpy(on_pub, a.pub, sizeof(on_pub)); /* the contract accepted it for a.log_id */
        } else {
            (void)kg_error_context("registering the log key");
            KG_GUARD_C(read_published(t, a.log_id, on_pub, &published, published_root));
            KG_ENSURE_C(memcmp(on_pub, zero, 32) != 0, KG_ERR_DENIED,
                        "the log key could not be registered");
            /* someone else registered it meanwhile */
        }
    }
    KG_ENSURE_C(memcmp(on_pub, a.pub, 32) == 0, KG_ERR_VERIFY,
                "log id registered with another key (SHA-256 collision?)");
    json_object_set_new(o, "tree_size", json_integer((json_int_t)a.size));
    json_object_set_new(o, "root_hash", hex_json(a.root, sizeof(a.root)));
    KG_ENSURE_C(a.size >= published, KG_ERR_VERIFY,
                "the KMS's log has %" PRIu64 " entries but %" PRIu64
                " are published on chain: a rollback",
                a.size, published);
    if (a.size == published) {
        KG_ENSURE_C(memcmp(a.root, published_root, 32) == 0, KG_ERR_VERIFY,
                    "the KMS's tree of size %" PRIu64 " is not the one published on chain: a fork",
                    a.size);
        json_object_set_new(o, "unchanged", json_true());
    } else {
        kg_abi_value args[4] = {kg_abi_bytes32(a.log_id), kg_abi_uint64(a.size),
                                kg_abi_bytes32(a.root), kg_abi_bytes(a.sig, sizeof(a.sig))};
        kg_eth_receipt r;
        data.len = 0;
        KG_GUARD_C(
            kg_chain_calldata(&data, "publishCheckpoint(bytes32,uint64,bytes32,bytes)", args, 4));
        if (kg_ok(kg_chain_send(&t->chain, &r, key, t->kms, &data, KG_CHAIN_WAIT_S))) {
            json_object_set_new(o, "tx", hex_json(r.tx_hash, sizeof(r.tx_hash)));
            json_object_set_new(o, "block", json_integer((json_int_t)r.block_number));
            json_object_set_new(o, "previous_size", json_integer((json_int_t)published));
            kg_eth_receipt_free(&r);
        } else {
            (void)kg_error_context("publishing the checkpoint of size %" PRIu64, a.size);
            char saved[600]; /* the send's error, if the chain does not hold the checkpoint */
            uint64_t now = 0;
            snprintf(saved, sizeof(saved), "%s", kg_error_message());
            kg_result again = read_published(t, a.log_id, on_pub, &now, published_root);
            bool covered =
                kg_ok(again) &&
                (now > a.size || (now == a.size && memcmp(published_root, a.root, 32) == 0));
            KG_ENSURE_C(covered, KG_ERR_DENIED, "%s", saved);
            kg_error_clear(); /* published meanwhile by someone else */
            json_object_set_new(o, "unchanged", json_true());
        }
    }
    *out = o;
    o = NULL;
    rc = KG_OK;
cleanup:
    json_decref(o);
    kg_buf_free(&body);
    kg_buf_free(&ret);
    kg_buf_free(&data);
    return rc;
}

int kg_cmd_kms_checkpoint(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"rpc-url", required_argument, NULL, 'r'},
                                         {"kms-contract", required_argument, NULL, 'k'},
                                         {"kms", required_argument, NULL, 'u'},
                                         {"private-key-file", required_argument, NULL, 'f'},
                                         {"every", required_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL, *rpc = NULL, *kmsc = NULL, *kms_url = NULL, *key_file = NULL;
    unsigned long every = 0;
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'r': rpc = optarg; break;
        case 'k': kmsc = optarg; break;
        case 'u': kms_url = optarg; break;
        case 'f': key_file = optarg; break;
        case 'e': {
            char *end = NULL;
            every = strtoul(optarg, &end, 10);
            if (end == optarg || *end != '\0' || optarg[0] == '-' || every == 0 ||
                every > MAX_EVERY_S) {
                fprintf(stderr, "keygate kms checkpoint: --every '%s' is not 1..%u seconds\n",
                        optarg, MAX_EVERY_S);
                return KG_EXIT_USAGE;
            }
            break;
        }
        case 'h': usage(stdout); return KG_EXIT_OK;
        default: return kg_cli_bad_option("kms checkpoint", argc, argv);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "keygate kms checkpoint: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    kg_cli_target t;
    uint8_t key[32];
    int status = KG_EXIT_FAILED;
    memset(key, 0, sizeof(key));
    if (kg_failed(kg_cli_target_open(&t, state, rpc, kmsc))) {
        status = kg_cli_fail();
        goto done;
    }
    if (!t.has_kms) {
        fprintf(stderr,
                "keygate kms checkpoint: no KMS contract: give --kms-contract ADDR or --state\n");
        status = KG_EXIT_USAGE;
        goto done;
    }
    if (kms_url == NULL && t.state != NULL)
        kms_url = kg_devnet_str(t.state, "kms_url");
    if (kms_url == NULL) {
        fprintf(stderr, "keygate kms checkpoint: no KMS: give --kms URL or --state\n");
        status = KG_EXIT_USAGE;
        goto done;
    }
    if (kg_failed(kg_cli_signing_key(key, key_file, t.state))) {
        status = kg_cli_fail();
        goto done;
    }
    for (;;) {
        json_t *out = NULL;
        kg_result rc = publish_once(&out, &t, kms_url, key);
        if (kg_ok(rc)) {
            kg_cli_print_json(out, every != 0);
            json_decref(out);
            status = KG_EXIT_OK;
        } else {
            status = kg_cli_fail();
        }
        if (every == 0)
            break;
        fflush(stdout);
        struct timespec ts = {.tv_sec = (time_t)every};
        nanosleep(&ts, NULL);
    }
done:
    kg_memzero(key, sizeof(key));
    kg_cli_target_close(&t);
    return status;
}
