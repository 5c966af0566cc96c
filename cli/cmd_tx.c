/* cmd_tx.c - `keygate tx status HASH`: where a transaction a write left pending is now (pending,
 * mined in block N with status success or reverted, or unknown to the node), with the exit
 * status a script can wait on (README "Exit status"). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"

static void tx_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate tx status HASH [--rpc-url URL | --state DIR] [--json]\n\n"
            "Asks the chain node where the transaction HASH (0x + 64 hex digits, as a write\n"
            "printed it) is: pending, mined in block N (success or reverted, with the number of\n"
            "confirmations), or unknown to this node (never sent to it, dropped, or replaced by\n"
            "another transaction with the same nonce).\n\n"
            "  --rpc-url URL   chain node (else the devnet's of --state DIR, default ./%s)\n"
            "  --json          print {tx, state, block, status, confirmations, ...}\n\n"
            "Exit status: 0 mined with status success, 1 mined but reverted (it changed\n"
            "nothing) or unknown to the node, 2 usage error, 3 pending (ask again later).\n",
            KG_DEVNET_DEFAULT_DIR);
}

static kg_result tx_status(int *exit_status, const kg_cli_target *t, const uint8_t h[32],
                           const char *hash_text, bool as_json)
{
    kg_eth_receipt r;
    kg_eth_tx_seen seen;
    bool mined = false, known = false;
    uint64_t head = 0;
    memset(&r, 0, sizeof(r));
    KG_GUARD(kg_eth_get_receipt(t->chain.eth, &r, &mined, h));
    if (!mined) {
        KG_GUARD(kg_eth_get_transaction(t->chain.eth, &seen, &known, h));
        /* Mined between the two questions: ask for the receipt once more. */
        if (known && seen.mined) {
            KG_GUARD(kg_eth_get_receipt(t->chain.eth, &r, &mined, h));
            KG_ENSURE(mined, KG_ERR_NETWORK,
                      "chain node says transaction %s is in block %" PRIu64
                      " but has no receipt for it",
                      hash_text, seen.block_number);
        }
    }
    json_t *out = json_pack("{s:s}", "tx", hash_text);
    KG_ENSURE(out != NULL, KG_ERR_NOMEM, "out of memory");
    char line[512];
    if (mined) {
        kg_result rc = kg_eth_block_number(t->chain.eth, &head);
        uint64_t conf = kg_ok(rc) && head >= r.block_number ? head - r.block_number + 1 : 0;
        kg_error_clear();
        json_object_set_new(out, "state", json_string("mined"));
        json_object_set_new(out, "block", json_integer((json_int_t)r.block_number));
        json_object_set_new(out, "status", json_string(r.status ? "success" : "reverted"));
        json_object_set_new(out, "confirmations", json_integer((json_int_t)conf));
        json_object_set_new(out, "gas_used", json_integer((json_int_t)r.gas_used));
        snprintf(line, sizeof(line),
                 "%s: mined in block %" PRIu64 " (%" PRIu64 " confirmation%s), status %s",
                 hash_text, r.block_number, conf, conf == 1 ? "" : "s",
                 r.status ? "success" : "reverted (it changed nothing)");
        *exit_status = r.status ? KG_EXIT_OK : KG_EXIT_FAILED;
        kg_eth_receipt_free(&r);
    } else if (known) {
        char from[43];
        kg_eth_address_checksum(from, seen.from);
        json_object_set_new(out, "state", json_string("pending"));
        json_object_set_new(out, "from", json_string(from));
        json_object_set_new(out, "nonce", json_integer((json_int_t)seen.nonce));
        snprintf(line, sizeof(line), "%s: pending (from %s, nonce %" PRIu64 "): not mined yet",
                 hash_text, from, seen.nonce);
        *exit_status = KG_EXIT_PENDING;
    } else {
        json_object_set_new(out, "state", json_string("unknown"));
        snprintf(line, sizeof(line),
                 "%s: unknown to the chain node (never sent to it, dropped, or replaced by "
                 "another transaction with the same nonce)",
                 hash_text);
        *exit_status = KG_EXIT_FAILED;
    }
    if (as_json)
        kg_cli_print_json(out, true);
    else
        printf("%s\n", line);
    json_decref(out);
    return KG_OK;
}

/* keygate tx status (argv[0] is "status") */
static int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rpc-url", required_argument, NULL, 'r'},
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *rpc = NULL, *state = NULL;
    bool as_json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rpc = optarg; break;
        case 's': state = optarg; break;
        case 'j': as_json = true; break;
        case 'h': tx_usage(stdout); return KG_EXIT_OK;
        default: return kg_cli_bad_option("tx", argc, argv);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "keygate tx status: give one transaction HASH%s%s%s\n",
                optind < argc - 1 ? " (unexpected '" : "",
                optind < argc - 1 ? argv[optind + 1] : "", optind < argc - 1 ? "')" : "");
        return KG_EXIT_USAGE;
    }
    const char *text = argv[optind];
    uint8_t h[32];
    char norm[67];
    if (kg_failed(kg_cli_parse_hash(h, "transaction hash", text)))
        return kg_cli_fail();
    norm[0] = '0';
    norm[1] = 'x';
    if (kg_failed(kg_hex_encode(norm + 2, sizeof(norm) - 2, h, 32)))
        return kg_cli_fail();
    kg_cli_target t;
    int status = KG_EXIT_FAILED;
    if (kg_failed(kg_cli_target_open(&t, state, rpc, NULL)) ||
        kg_failed(tx_status(&status, &t, h, norm, as_json)))
        status = kg_cli_fail();
    kg_cli_target_close(&t);
    return status;
}

int kg_cmd_tx(int argc, char **argv)
{
    static const kg_cli_group group = {"tx", tx_usage};
    static const kg_cli_command subs[] = {{"status", cmd_status, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc, argv);
}
