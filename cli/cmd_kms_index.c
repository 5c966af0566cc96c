/* cmd_kms_index.c - `keygate kms index`: a KMS contract upgraded from a version without
 * enumeration lists the apps, OS images, KMS MRs and KMS devices it held before only once they
 * are indexed (contracts/README.md "Enumeration"). This finds them in the contract's history,
 * keeps those its mappings still hold and the sets lack, and sends indexExistingEntries, which
 * anyone may call: it only makes the index reflect the mappings. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cli.h"
#include "keygate/hash.h"
#include "kms_index.h"
#include "status.h"

#define INDEX_MAX 1000u /* entries of each kind one transaction indexes */

/* The registry (list 0) and the three allow-lists, as the contract names them. */
typedef struct index_list {
    const char *count, *page;        /* enumeration getters */
    const char *added, *proposed;    /* events naming a value: in data / in topic 1 */
    const char *held, *activates_at; /* the mapping: allowed now / activation of a proposal */
} index_list;

static const index_list index_lists[4] = {
    {"registeredAppCount()", "registeredAppPage(uint256,uint256)", "AppRegistered(address)", NULL,
     "registeredApps(address)", NULL},
    {"osImageCount()", "osImagePage(uint256,uint256)", "OsImageHashAdded(bytes32)",
     "OsImageHashProposed(bytes32,uint64)", "allowedOsImages(bytes32)",
     "osImageHashActivatesAt(bytes32)"},
    {"kmsAggregatedMrCount()", "kmsAggregatedMrPage(uint256,uint256)",
     "KmsAggregatedMrAdded(bytes32)", "KmsAggregatedMrProposed(bytes32,uint64)",
     "kmsAllowedAggregatedMrs(bytes32)", "kmsAggregatedMrActivatesAt(bytes32)"},
    {"kmsDeviceCount()", "kmsDevicePage(uint256,uint256)", "KmsDeviceAdded(bytes32)",
     "KmsDeviceProposed(bytes32,uint64)", "kmsAllowedDeviceIds(bytes32)",
     "kmsDeviceActivatesAt(bytes32)"},
};
static const char *const index_names[4] = {"apps", "os_images", "kms_aggregated_mrs",
                                           "kms_devices"};

typedef struct index_set {
    json_t *listed;               /* hex words the contract lists */
    uint8_t found[INDEX_MAX][32]; /* held, not listed */
    size_t n;
} index_set;

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate kms index [--state DIR | --rpc-url URL --kms-contract ADDR]\n"
        "                         [--from-block N] [--log-window N] [signer options]\n\n"
        "A KMS contract upgraded from a version without enumeration lists the apps, OS\n"
        "images, KMS MRs and devices it held before only once they are indexed: this finds\n"
        "them in its history (from its creation block, or N), keeps those it still holds\n"
        "and does not list, and sends indexExistingEntries. Anyone may send it; nothing is\n"
        "sent when nothing is missing. Prints what was indexed as JSON.\n\n" KG_CLI_SIGNER_USAGE);
}

/* A view of the KMS contract with one bytes32 (or address: the same word) argument, answering a
 * bool or a uint64. */
static kg_result view_word(uint64_t *out, const kg_chain *c, const uint8_t to[20], const char *sig,
                           const uint8_t word[32], kg_abi_type ty)
{
    kg_buf ret;
    kg_abi_decoded d;
    const kg_abi_value arg = kg_abi_bytes32(word);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(c, &d, &ty, 1, &ret, to, sig, &arg, 1);
    if (kg_ok(rc))
        *out = ty == KG_ABI_T_BOOL ? kg_abi_get_bool(&d) : kg_abi_get_u64(&d);
    kg_buf_free(&ret);
    return rc;
}

/* `v` (a word of list k): kept when the mapping holds it and the set does not list it. */
static kg_result consider(index_set *s, bool *truncated, const kg_chain *c, const uint8_t kms[20],
                          const index_list *l, const uint8_t v[32])
{
    char hex[65];
    uint64_t held = 0, at = 0;
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), v, 32));
    size_t i;
    json_t *x;
    json_array_foreach(s->listed, i, x)
    {
        if (strcmp(json_string_value(x), hex) == 0)
            return KG_OK;
    }
    for (i = 0; i < s->n; i++)
        if (memcmp(s->found[i], v, 32) == 0)
            return KG_OK;
    KG_GUARD(view_word(&held, c, kms, l->held, v, KG_ABI_T_BOOL));
    if (held == 0 && l->activates_at != NULL)
        KG_GUARD(view_word(&at, c, kms, l->activates_at, v, KG_ABI_T_UINT64));
    if (held == 0 && at == 0)
        return KG_OK; /* removed, vetoed, never allowed */
    if (s->n == INDEX_MAX) {
        *truncated = true;
        return KG_OK;
    }
    memcpy(s->found[s->n++], v, 32);
    return KG_OK;
}

static kg_result collect(index_set sets[4], bool *truncated, const kg_cli_target *t,
                         const kg_chain_history_opts *o, json_t *out)
{
    kg_chain_history hist;
    uint8_t added[4][32], proposed[4][32];
    for (int k = 0; k < 4; k++) {
        bool has = false;
        KG_GUARD(kg_cli_word_list_read(sets[k].listed, &has, &t->chain, t->kms,
                                       index_lists[k].count, index_lists[k].page));
        KG_ENSURE(has, KG_ERR_DENIED,
                  "the KMS contract cannot list its %s (no %s): upgrade it first", index_names[k],
                  index_lists[k].count);
        kg_keccak256(added[k], index_lists[k].added, strlen(index_lists[k].added));
        if (index_lists[k].proposed != NULL)
            kg_keccak256(proposed[k], index_lists[k].proposed, strlen(index_lists[k].proposed));
    }
    KG_GUARD(kg_chain_history_read(&hist, &t->chain, t->kms, NULL, o));
    kg_result rc = KG_OK;
    for (size_t i = 0; i < hist.logs.count && kg_ok(rc); i++) {
        const kg_eth_log *l = &hist.logs.items[i];
        if (l->n_topics < 1)
            continue;
        for (int k = 0; k < 4 && kg_ok(rc); k++) {
            const uint8_t *v = NULL;
            if (memcmp(l->topics[0], added[k], 32) == 0 && l->data_len >= 32)
                v = l->data; /* unindexed, as in dstack */
            else if (index_lists[k].proposed != NULL && l->n_topics >= 2 &&
                     memcmp(l->topics[0], proposed[k], 32) == 0)
                v = l->topics[1];
            if (v != NULL)
                rc = consider(&sets[k], truncated, &t->chain, t->kms, &index_lists[k], v);
        }
    }
    kg_chain_history_json(out, &hist);
    kg_chain_history_free(&hist);
    return rc;
}

static kg_result run(json_t *out, const kg_cli_target *t, const kg_cli_signer_opts *so,
                     const kg_chain_history_opts *o)
{
    index_set *sets = calloc(4, sizeof(*sets));
    kg_abi_value *items = NULL, args[4];
    kg_cli_signer sg;
    kg_buf data;
    bool truncated = false;
    kg_result rc = KG_ERROR;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    KG_ENSURE_C(sets != NULL, KG_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 4; k++)
        KG_ENSURE_C((sets[k].listed = json_array()) != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(collect(sets, &truncated, t, o, out));
    size_t total = 0;
    for (int k = 0; k < 4; k++) {
        json_object_set_new(out, index_names[k], json_integer((json_int_t)sets[k].n));
        total += sets[k].n;
    }
    json_object_set_new(out, "action", json_string("index"));
    json_object_set_new(out, "more", json_boolean(truncated));
    if (total == 0) { /* nothing missing: nothing is sent */
        json_object_set_new(out, "unchanged", json_true());
        rc = KG_OK;
        goto cleanup;
    }
    items = calloc(total, sizeof(*items));
    KG_ENSURE_C(items != NULL, KG_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (int k = 0; k < 4; k++) {
        args[k] = kg_abi_array(items + n, sets[k].n);
        for (size_t i = 0; i < sets[k].n; i++)
            /* an app is an address: its word, as the page returned it, is the same encoding */
            items[n++] = kg_abi_bytes32(sets[k].found[i]);
    }
    KG_GUARD_C(kg_cli_signer_open(&sg, t, so));
    KG_GUARD_C(kg_chain_calldata(
        &data, "indexExistingEntries(address[],bytes32[],bytes32[],bytes32[])", args, 4));
    KG_GUARD_CTX_C(kg_cli_write(t, &sg, t->kms, &data, out, NULL), "index");
    rc = KG_OK;
cleanup:
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    free(items);
    for (int k = 0; sets != NULL && k < 4; k++)
        json_decref(sets[k].listed);
    free(sets);
    return rc;
}

int kg_cmd_kms_index(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"rpc-url", required_argument, NULL, 'r'},
                                         {"kms-contract", required_argument, NULL, 'k'},
                                         {"private-key-file", required_argument, NULL, 'f'},
                                         {"from-block", required_argument, NULL, 'b'},
                                         {"log-window", required_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         KG_CLI_SIGNER_LONG_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL, *rpc = NULL, *kmsc = NULL;
    kg_cli_signer_opts so;
    kg_chain_history_opts ho;
    kg_result rc = KG_OK;
    int c;
    memset(&so, 0, sizeof(so));
    memset(&ho, 0, sizeof(ho));
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'r': rpc = optarg; break;
        case 'k': kmsc = optarg; break;
        case 'f': so.key_file = optarg; break;
        case 'b':
            rc = kg_cli_parse_block(&ho.from_block, "--from-block", optarg);
            ho.has_from = true;
            break;
        case 'w': rc = kg_cli_parse_log_window(&ho.window, optarg); break;
        case 'h': usage(stdout); return KG_EXIT_OK;
        default:
            if (kg_cli_signer_option(&so, c, optarg, &rc))
                break;
            return kg_cli_bad_option("kms index", argc, argv);
        }
        if (kg_failed(rc))
            return kg_cli_fail();
    }
    if (optind != argc) {
        fprintf(stderr, "keygate kms index: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    kg_cli_target t;
    json_t *out = json_object();
    int status = KG_EXIT_FAILED;
    if (kg_failed(kg_cli_target_open(&t, state, rpc, kmsc))) {
        status = kg_cli_fail();
    } else if (!t.has_kms) {
        fprintf(stderr,
                "keygate kms index: no KMS contract: give --kms-contract ADDR or --state\n");
        status = KG_EXIT_USAGE;
    } else if (out == NULL || kg_failed(run(out, &t, &so, &ho))) {
        status = kg_cli_fail();
    } else {
        kg_cli_print_json(out, true);
        status = KG_EXIT_OK;
    }
    json_decref(out);
    kg_cli_target_close(&t);
    return status;
}
