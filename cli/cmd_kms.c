/* cmd_kms.c - `keygate kms`: the KMS contract's platform policy (SPEC.md section 3): which KMS
 * aggregated MRs, KMS devices and OS images are allowed, and what the KMS published. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/hash.h"

static void kms_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate kms <allow|revoke|status> [options]\n\n"
            "  allow  (--mr HEX | --device HEX | --os-image HEX)   allow a KMS aggregated MR, a\n"
            "                               KMS device id or an OS image hash (owner of the KMS\n"
            "                               contract)\n"
            "  revoke (--mr HEX | --device HEX | --os-image HEX)   remove one (at once)\n"
            "  status [--json] [--from-block N]   KMS contract owner, published root key, and\n"
            "                               the allow-lists reconstructed from its events\n\n"
            "  --state DIR / --rpc-url URL / --kms-contract ADDR / --private-key-file FILE as for\n"
            "  'keygate app' (signing: --private-key-file, $%s, or the devnet key).\n\n"
            "Exit status: 0 ok, 1 failed (nothing changed on chain), 2 usage error.\n",
            KG_CLI_KEY_ENV);
}

typedef struct kms_list {
    const char *opt;      /* --mr */
    const char *what;     /* "KMS aggregated MR" */
    const char *add, *remove, *query;
    const char *ev_added, *ev_removed;
} kms_list;

static const kms_list lists[] = {
    {"mr", "KMS aggregated MR", "addKmsAggregatedMr(bytes32)", "removeKmsAggregatedMr(bytes32)",
     "kmsAllowedAggregatedMrs(bytes32)", "KmsAggregatedMrAdded(bytes32)",
     "KmsAggregatedMrRemoved(bytes32)"},
    {"device", "KMS device", "addKmsDevice(bytes32)", "removeKmsDevice(bytes32)",
     "kmsAllowedDeviceIds(bytes32)", "KmsDeviceAdded(bytes32)", "KmsDeviceRemoved(bytes32)"},
    {"os-image", "OS image", "addOsImageHash(bytes32)", "removeOsImageHash(bytes32)",
     "allowedOsImages(bytes32)", "OsImageHashAdded(bytes32)", "OsImageHashRemoved(bytes32)"},
};
#define N_LISTS (sizeof(lists) / sizeof(lists[0]))

static kg_result is_allowed(bool *out, const kg_chain *c, const uint8_t kms[20],
                            const kms_list *l, const uint8_t v[32])
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_BOOL;
    kg_abi_value arg = kg_abi_bytes32(v);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(c, &d, &ty, 1, &ret, kms, l->query, &arg, 1);
    if (kg_ok(rc))
        *out = kg_abi_get_bool(&d);
    kg_buf_free(&ret);
    return rc;
}

static int cmd_change(const kg_cli_target *t, const char *key_file, const kms_list *l,
                      const char *value, bool allow)
{
    uint8_t v[32], key[32], signer[20], owner[20];
    kg_buf data, ret;
    kg_eth_receipt receipt;
    int status = KG_EXIT_FAILED;
    memset(&receipt, 0, sizeof(receipt));
    bool now = false;
    char opt[32];
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    snprintf(opt, sizeof(opt), "--%s", l->opt);
    if (kg_failed(kg_cli_parse_hash(v, opt, value)) ||
        kg_failed(kg_cli_signing_key(key, key_file, t->state)) ||
        kg_failed(kg_eth_address_of_key(signer, key)))
        goto fail;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_ADDRESS;
    if (kg_failed(kg_chain_view(&t->chain, &d, &ty, 1, &ret, t->kms, "owner()", NULL, 0)))
        goto fail;
    kg_abi_get_address(owner, &d);
    if (memcmp(owner, signer, 20) != 0) {
        char s[43], o[43];
        kg_eth_address_checksum(s, signer);
        kg_eth_address_checksum(o, owner);
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "signer %s is not the owner (%s) of the KMS contract", s, o);
        goto fail;
    }
    if (kg_failed(is_allowed(&now, &t->chain, t->kms, l, v)))
        goto fail;
    char hex[65];
    if (kg_failed(kg_hex_encode(hex, sizeof(hex), v, 32)))
        goto fail;
    json_t *out = json_pack("{s:s,s:s,s:s}", "list", l->opt, "value", hex, "action",
                            allow ? "allow" : "revoke");
    if (now == allow) {
        json_object_set_new(out, "unchanged", json_true());
    } else {
        kg_abi_value arg = kg_abi_bytes32(v);
        if (kg_failed(kg_chain_calldata(&data, allow ? l->add : l->remove, &arg, 1)) ||
            kg_failed(kg_chain_send(&t->chain, &receipt, key, t->kms, &data))) {
            json_decref(out);
            (void)kg_error_context("%s %s %s", allow ? "allowing" : "revoking", l->what, hex);
            goto fail;
        }
        json_object_set_new(out, "tx", kg_chain_hex_json(receipt.tx_hash, 32));
    }
    kg_cli_print_json(out, true);
    json_decref(out);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    kg_memzero(key, sizeof(key));
    kg_eth_receipt_free(&receipt);
    kg_buf_free(&data);
    kg_buf_free(&ret);
    return status;
}

/* Replays a list's Added/Removed events, then asks the contract about each value seen. */
static kg_result list_values(json_t **out, const kg_cli_target *t, const kms_list *l,
                             uint64_t from_block)
{
    kg_eth_logs logs;
    json_t *seen = json_object();
    uint8_t add[32], rem[32];
    memset(&logs, 0, sizeof(logs));
    kg_keccak256(add, l->ev_added, strlen(l->ev_added));
    kg_keccak256(rem, l->ev_removed, strlen(l->ev_removed));
    if (kg_failed(kg_chain_logs(&t->chain, &logs, t->kms, NULL, from_block))) {
        json_decref(seen);
        return KG_ERROR;
    }
    for (size_t i = 0; i < logs.count; i++) {
        const kg_eth_log *lg = &logs.items[i];
        if (lg->n_topics < 1 || lg->data_len < 32)
            continue;
        if (memcmp(lg->topics[0], add, 32) == 0 || memcmp(lg->topics[0], rem, 32) == 0) {
            char hex[65];
            if (kg_ok(kg_hex_encode(hex, sizeof(hex), lg->data, 32)))
                json_object_set_new(seen, hex, json_true());
        }
    }
    kg_eth_logs_free(&logs);
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(seen, k, v)
    {
        uint8_t val[32];
        bool allowed = false;
        if (kg_failed(kg_hex_decode_exact(val, 32, k)) ||
            kg_failed(is_allowed(&allowed, &t->chain, t->kms, l, val))) {
            json_decref(arr);
            json_decref(seen);
            return KG_ERROR;
        }
        if (allowed)
            json_array_append_new(arr, json_string(k));
    }
    json_decref(seen);
    *out = arr;
    return KG_OK;
}

static int cmd_status(const kg_cli_target *t, bool as_json, uint64_t from_block)
{
    kg_buf ret;
    kg_abi_decoded d[4];
    uint8_t owner[20];
    char owner_s[43], kms_s[43];
    json_t *out = NULL;
    int status = KG_EXIT_FAILED;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_abi_type ty = KG_ABI_T_ADDRESS;
    if (kg_failed(kg_chain_view(&t->chain, d, &ty, 1, &ret, t->kms, "owner()", NULL, 0)))
        goto fail;
    kg_abi_get_address(owner, &d[0]);
    kg_eth_address_checksum(owner_s, owner);
    kg_eth_address_checksum(kms_s, t->kms);
    out = json_pack("{s:s,s:s}", "kms_contract", kms_s, "owner", owner_s);
    kg_abi_type info_t[4] = {KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES};
    if (kg_failed(kg_chain_view(&t->chain, d, info_t, 4, &ret, t->kms, "kmsInfo()", NULL, 0)))
        goto fail;
    char hex[2 * 65 + 1];
    if (d[0].len <= 65 && kg_ok(kg_hex_encode(hex, sizeof(hex), d[0].data, d[0].len)))
        json_object_set_new(out, "k256_pubkey", json_string(hex));
    json_object_set_new(out, "quote_len", json_integer((json_int_t)d[2].len));
    json_object_set_new(out, "eventlog_len", json_integer((json_int_t)d[3].len));
    for (size_t i = 0; i < N_LISTS; i++) {
        json_t *vals = NULL;
        if (kg_failed(list_values(&vals, t, &lists[i], from_block)))
            goto fail;
        char key[48];
        snprintf(key, sizeof(key), "allowed_%s", lists[i].opt);
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        json_object_set_new(out, key, vals);
    }
    if (as_json) {
        kg_cli_print_json(out, false);
    } else {
        printf("KMS contract %s\n  owner        %s\n  root k256    %s\n", kms_s, owner_s,
               json_object_get(out, "k256_pubkey") ? json_string_value(json_object_get(out, "k256_pubkey")) : "(not published)");
        const char *keys[] = {"allowed_mr", "allowed_device", "allowed_os_image"};
        for (size_t i = 0; i < 3; i++) {
            printf("  %s:\n", keys[i]);
            size_t j;
            json_t *v;
            json_array_foreach(json_object_get(out, keys[i]), j, v)
                printf("    %s\n", json_string_value(v));
        }
    }
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    kg_buf_free(&ret);
    return status;
}

int kg_cmd_kms(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},   {"rpc-url", required_argument, NULL, 'r'},
        {"kms-contract", required_argument, NULL, 'k'},
        {"private-key-file", required_argument, NULL, 'f'},
        {"mr", required_argument, NULL, 'm'},      {"device", required_argument, NULL, 'd'},
        {"os-image", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
        {"from-block", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *state = NULL, *rpc = NULL, *kmsc = NULL, *key_file = NULL, *value = NULL;
    const kms_list *list = NULL;
    int n_values = 0;
    bool as_json = false;
    uint64_t from_block = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        kms_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KG_EXIT_USAGE : KG_EXIT_OK;
    }
    const char *sub = argv[1];
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'r': rpc = optarg; break;
        case 'k': kmsc = optarg; break;
        case 'f': key_file = optarg; break;
        case 'm': list = &lists[0]; value = optarg; n_values++; break;
        case 'd': list = &lists[1]; value = optarg; n_values++; break;
        case 'o': list = &lists[2]; value = optarg; n_values++; break;
        case 'j': as_json = true; break;
        case 'b': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-') {
                fprintf(stderr, "keygate kms: --from-block '%s' is not a block number\n", optarg);
                return KG_EXIT_USAGE;
            }
            from_block = v;
            break;
        }
        case 'h': kms_usage(stdout); return KG_EXIT_OK;
        default:
            fprintf(stderr, "keygate kms: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return KG_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "keygate kms: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    bool change = strcmp(sub, "allow") == 0 || strcmp(sub, "revoke") == 0;
    if (!change && strcmp(sub, "status") != 0) {
        fprintf(stderr, "keygate kms: unknown subcommand '%s'\n\n", sub);
        kms_usage(stderr);
        return KG_EXIT_USAGE;
    }
    if (change && n_values != 1) {
        fprintf(stderr, "keygate kms %s: give exactly one of --mr, --device, --os-image\n", sub);
        return KG_EXIT_USAGE;
    }
    kg_cli_target t;
    if (kg_failed(kg_cli_target_open(&t, state, rpc, kmsc))) {
        kg_cli_target_close(&t);
        return kg_cli_fail();
    }
    int status;
    if (!t.has_kms) {
        fprintf(stderr, "keygate kms: no KMS contract: give --kms-contract ADDR or --state\n");
        status = KG_EXIT_USAGE;
    } else if (change) {
        status = cmd_change(&t, key_file, list, value, strcmp(sub, "allow") == 0);
    } else {
        status = cmd_status(&t, as_json, from_block);
    }
    kg_cli_target_close(&t);
    return status;
}
