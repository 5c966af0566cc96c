/* cmd_kms_epoch.c - `keygate kms epoch list|propose|activate|veto|retire`: rotation of the KMS
 * root keys through the KMS contract's root-key epochs (contracts/README.md "Root-key epochs",
 * docs/design.md "Root-key epochs"). propose asks a KMS node's admin listener to generate the
 * next epoch (POST /epoch/propose, kms/README.md) and sends what it answers, checked, to
 * proposeRootEpoch; the other actions are the contract's, checked against its state first so a
 * refusal names the reason instead of a revert. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/epoch.h"
#include "keygate/epoch_proposal.h"
#include "keygate/https.h"
#include "keygate/quote.h"
#include "kms_epoch.h"

#define EPOCH_ADMIN_TIMEOUT_MS 120000 /* key generation and a quote inside the node */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate kms epoch list [target]\n"
            "       keygate kms epoch propose [--admin URL] --epoch N [target] [signer options]\n"
            "       keygate kms epoch activate|veto|retire --epoch N [target] [signer options]\n\n"
            "Root-key epochs of the KMS contract (contracts/README.md, \"Root-key epochs\"):\n"
            "  list       the current epoch and every epoch on chain: status, public keys,\n"
            "             activation time of a proposal, attestation hash (JSON)\n"
            "  propose    owner: ask the KMS node whose admin listener is URL (its\n"
            "             admin_listen, e.g. http://127.0.0.1:9101; a devnet's own with --state)\n"
            "             to generate epoch N (the current one + 1) inside its TEE, check its\n"
            "             answer (keys, keccak256 of\n"
            "             the quote, the quote's REPORTDATA binding this chain, contract, N and\n"
            "             the keys), and send proposeRootEpoch; activatable after the notice\n"
            "  activate   owner: make the proposed epoch N current once its activation time\n"
            "             has come; the previous one becomes retiring (apps migrate)\n"
            "  veto       guardian: delete the proposed epoch N before its activation time\n"
            "  retire     owner: retire the retiring epoch N at once (nodes wipe its root)\n\n"
            "  target: --state DIR | --rpc-url URL --kms-contract ADDR, as for 'keygate "
            "kms'.\n\n" KG_CLI_SIGNER_USAGE "\n" KG_CLI_WRITE_EXIT_USAGE);
}

typedef enum { EP_LIST, EP_PROPOSE, EP_ACTIVATE, EP_VETO, EP_RETIRE } ep_action;
static const char *const ACTIONS[] = {"list", "propose", "activate", "veto", "retire"};

static kg_result parse_epoch(uint32_t *out, const char *text)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    KG_ENSURE(errno == 0 && end != text && *end == '\0' && text[0] != '-' && v <= UINT32_MAX,
              KG_ERR_USAGE, "--epoch '%s' is not an epoch number (0..4294967295)", text);
    *out = (uint32_t)v;
    return KG_OK;
}

static kg_result read_current(uint32_t *cur, const kg_cli_target *t)
{
    KG_GUARD_CTX(kg_eth_current_root_epoch(cur, t->chain.eth, t->kms, NULL),
                 "currentRootEpoch() of the KMS contract (an implementation from before "
                 "root-key epochs reverts: upgrade it first)");
    return KG_OK;
}

static kg_result read_epoch(kg_eth_root_epoch_info *e, const kg_cli_target *t, uint32_t n)
{
    return kg_eth_root_epoch(e, t->chain.eth, t->kms, n, NULL);
}

static json_t *hex_json(const uint8_t *b, size_t n, bool prefix)
{
    char *h = malloc(2 + KG_HEX_SIZE(n));
    json_t *s = NULL;
    if (h != NULL && kg_ok(kg_hex_encode(h + 2, KG_HEX_SIZE(n), b, n))) {
        h[0] = '0';
        h[1] = 'x';
        s = json_string(prefix ? h : h + 2);
    }
    kg_error_clear();
    free(h);
    return s;
}

static json_t *epoch_json(uint32_t n, const kg_eth_root_epoch_info *e)
{
    static const uint8_t zero[32];
    json_t *o = json_pack("{s:I,s:s,s:o,s:o}", "epoch", (json_int_t)n, "status",
                          kg_epoch_status_name(e->status), "k256_pubkey",
                          hex_json(e->k256_pub, KG_K256_PUB_LEN, false), "ca_pubkey",
                          hex_json(e->ca_spki, e->ca_spki_len, false));
    if (o != NULL && e->activates_at != 0)
        json_object_set_new(o, "activates_at", json_integer((json_int_t)e->activates_at));
    if (o != NULL && memcmp(e->attestation_hash, zero, 32) != 0)
        json_object_set_new(o, "attestation_hash", hex_json(e->attestation_hash, 32, true));
    return o;
}

/* list: the current epoch and each epoch from 0 to the one that may be proposed. */
static kg_result do_list(json_t *out, const kg_cli_target *t)
{
    uint32_t cur = 0;
    KG_GUARD(read_current(&cur, t));
    json_t *arr = json_array();
    KG_ENSURE(arr != NULL, KG_ERR_NOMEM, "out of memory");
    json_object_set_new(out, "current", json_integer((json_int_t)cur));
    json_object_set_new(out, "epochs", arr);
    uint32_t last = cur == UINT32_MAX ? cur : cur + 1;
    for (uint32_t n = 0;; n++) {
        kg_eth_root_epoch_info e;
        KG_GUARD_CTX(read_epoch(&e, t, n), "listing the root-key epochs");
        if (e.status != KG_EPOCH_NONE)
            json_array_append_new(arr, epoch_json(n, &e));
        if (n == last)
            break;
    }
    return KG_OK;
}

/* The node's answer to POST /epoch/propose {"epoch": n}. */
static kg_result fetch_proposal(kg_epoch_proposal *p, const char *admin, uint32_t n)
{
    char url[KG_HTTPS_MAX_URL], body[48];
    size_t len = strlen(admin);
    while (len > 0 && admin[len - 1] == '/')
        len--;
    KG_ENSURE(len + sizeof("/epoch/propose") <= sizeof(url), KG_ERR_USAGE, "--admin URL too long");
    snprintf(url, sizeof(url), "%.*s/epoch/propose", (int)len, admin);
    snprintf(body, sizeof(body), "{\"epoch\":%" PRIu32 "}", n);
    long status = 0;
    kg_buf reply;
    kg_buf_init(&reply, KG_EPOCH_PROPOSAL_MAX_TEXT);
    kg_result rc = kg_cli_http(&reply, &status, url, body, false, EPOCH_ADMIN_TIMEOUT_MS);
    if (kg_ok(rc) && status != 200) {
        char shown[256];
        kg_text_escape(shown, sizeof(shown), (const char *)reply.data,
                       reply.len > 200 ? 200 : reply.len);
        rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__, "HTTP %ld: %s", status, shown);
    }
    if (kg_ok(rc))
        rc = kg_epoch_proposal_parse(p, n, (const char *)reply.data, reply.len);
    kg_buf_free(&reply);
    if (kg_failed(rc))
        return kg_error_context("POST %s", url);
    return KG_OK;
}

/* The quote's REPORTDATA must be this deployment's binding of epoch n's keys (docs/protocol.md):
 * a node configured for another chain or KMS contract is named here, not after the proposal.
 * The quote's signature and the TCB are the adopting nodes' to verify (DCAP). */
static kg_result check_binding(const kg_epoch_proposal *p, const kg_cli_target *t)
{
    kg_quote q;
    uint8_t want[64];
    KG_GUARD_CTX(kg_quote_parse(&q, p->quote.data, p->quote.len), "the proposal's quote");
    KG_ENSURE(q.body_type == KG_BODY_TD10 || q.body_type == KG_BODY_TD15, KG_ERR_VERIFY,
              "the proposal's quote is not a TDX quote");
    KG_GUARD(kg_epoch_report_data(want, t->chain.chain_id, t->kms, p->epoch, p->ca_spki,
                                  p->ca_spki_len, p->k256_pub));
    KG_ENSURE(memcmp(q.td.report_data, want, sizeof(want)) == 0, KG_ERR_VERIFY,
              "the proposal's quote does not bind epoch %" PRIu32 "'s keys to chain %" PRIu64
              " and this KMS contract (is the node configured for another deployment?)",
              p->epoch, t->chain.chain_id);
    return KG_OK;
}

static kg_result do_propose(json_t *out, const kg_cli_target *t, const kg_cli_signer_opts *so,
                            const char *admin, uint32_t n)
{
    kg_result rc = KG_ERROR;
    kg_cli_signer sg;
    kg_epoch_proposal p;
    kg_buf data;
    uint32_t cur = 0;
    kg_eth_root_epoch_info e;
    memset(&sg, 0, sizeof(sg));
    memset(&p, 0, sizeof(p));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    KG_GUARD_C(read_current(&cur, t));
    KG_ENSURE_C(cur != UINT32_MAX && n == cur + 1, KG_ERR_DENIED,
                "epoch %" PRIu32 " cannot be proposed: the current epoch is %" PRIu32
                " (the next one is %" PRIu32 ")",
                n, cur, cur + 1);
    KG_GUARD_C(read_epoch(&e, t, n));
    KG_ENSURE_C(e.status == KG_EPOCH_NONE, KG_ERR_DENIED,
                "epoch %" PRIu32 " is already proposed (activatable from %" PRIu64
                "; 'keygate kms epoch activate' then, or the guardian vetoes it before)",
                n, e.activates_at);
    KG_GUARD_C(kg_cli_kms_signer(&sg, t, so, false));
    KG_GUARD_C(fetch_proposal(&p, admin, n));
    KG_GUARD_C(check_binding(&p, t));
    kg_abi_value args[9] = {
        kg_abi_uint64(n),
        kg_abi_bytes(p.ca_spki, p.ca_spki_len),
        kg_abi_bytes(p.k256_pub, KG_K256_PUB_LEN),
        kg_abi_bytes32(p.attestation_hash),
        kg_abi_bytes32(p.mr_aggregated),
        kg_abi_bytes32(p.device_id),
        kg_abi_bytes32(p.os_image_hash),
        kg_abi_bytes(p.quote.data, p.quote.len),
        kg_abi_bytes(p.eventlog.data, p.eventlog.len),
    };
    KG_GUARD_C(kg_chain_calldata(&data,
                                 "proposeRootEpoch(uint32,bytes,bytes,bytes32,bytes32,bytes32,"
                                 "bytes32,bytes,bytes)",
                                 args, 9));
    json_object_set_new(out, "k256_pubkey", hex_json(p.k256_pub, KG_K256_PUB_LEN, false));
    json_object_set_new(out, "attestation_hash", hex_json(p.attestation_hash, 32, true));
    json_object_set_new(out, "proposer",
                        json_pack("{s:o,s:o,s:o}", "mr_aggregated",
                                  hex_json(p.mr_aggregated, 32, true), "device_id",
                                  hex_json(p.device_id, 32, true), "os_image_hash",
                                  hex_json(p.os_image_hash, 32, true)));
    KG_GUARD_CTX_C(kg_cli_write(t, &sg, t->kms, &data, out, NULL), "proposing root epoch %" PRIu32,
                   n);
    rc = KG_OK;
cleanup:
    kg_epoch_proposal_free(&p);
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    return rc;
}

/* activate / veto / retire: the epoch's state must allow it now. */
static kg_result check_change(ep_action act, uint32_t n, const kg_eth_root_epoch_info *e,
                              uint64_t now)
{
    const char *status = kg_epoch_status_name(e->status);
    switch (act) {
    case EP_ACTIVATE:
        KG_ENSURE(e->status == KG_EPOCH_PROPOSED, KG_ERR_DENIED,
                  "epoch %" PRIu32 " is not proposed (%s)", n, status);
        KG_ENSURE(now >= e->activates_at, KG_ERR_DENIED,
                  "epoch %" PRIu32 " can be activated from %" PRIu64 " on (%" PRIu64
                  " s from the latest block)",
                  n, e->activates_at, e->activates_at - now);
        return KG_OK;
    case EP_VETO:
        KG_ENSURE(e->status == KG_EPOCH_PROPOSED, KG_ERR_DENIED,
                  "epoch %" PRIu32 " is not proposed (%s): nothing to veto", n, status);
        KG_ENSURE(now < e->activates_at, KG_ERR_DENIED,
                  "epoch %" PRIu32 "'s activation time (%" PRIu64 ") has come: too late to veto", n,
                  e->activates_at);
        return KG_OK;
    case EP_RETIRE:
        KG_ENSURE(e->status == KG_EPOCH_RETIRING, KG_ERR_DENIED,
                  "epoch %" PRIu32 " is %s: only a retiring epoch can be retired", n, status);
        return KG_OK;
    default: KG_BAIL(KG_ERR_USAGE, "not a change of an epoch");
    }
}

static kg_result do_change(json_t *out, const kg_cli_target *t, const kg_cli_signer_opts *so,
                           ep_action act, uint32_t n)
{
    static const char *const SIGS[] = {NULL, NULL, "activateRootEpoch(uint32)",
                                       "vetoRootEpoch(uint32)", "retireRootEpoch(uint32)"};
    kg_result rc = KG_ERROR;
    kg_cli_signer sg;
    kg_eth_root_epoch_info e;
    kg_buf data;
    uint64_t block = 0, now = 0;
    uint32_t cur = 0;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, 64);
    KG_GUARD_C(read_current(&cur, t));
    KG_GUARD_C(read_epoch(&e, t, n));
    KG_GUARD_C(kg_chain_latest(&t->chain, &block, &now));
    KG_GUARD_C(check_change(act, n, &e, now));
    KG_GUARD_C(kg_cli_kms_signer(&sg, t, so, act == EP_VETO));
    kg_abi_value arg = kg_abi_uint64(n);
    KG_GUARD_C(kg_chain_calldata(&data, SIGS[act], &arg, 1));
    KG_GUARD_CTX_C(kg_cli_write(t, &sg, t->kms, &data, out, NULL), "%s of root epoch %" PRIu32,
                   act == EP_ACTIVATE ? "activation"
                   : act == EP_VETO   ? "veto"
                                      : "retirement",
                   n);
    rc = KG_OK;
cleanup:
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    return rc;
}

/* One action: argv[0] is its name, its options follow. */
static int run(ep_action act, int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"rpc-url", required_argument, NULL, 'r'},
                                         {"kms-contract", required_argument, NULL, 'k'},
                                         {"private-key-file", required_argument, NULL, 'f'},
                                         {"admin", required_argument, NULL, 'a'},
                                         {"epoch", required_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         KG_CLI_SIGNER_LONG_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL, *rpc = NULL, *kmsc = NULL, *admin = NULL, *epoch_text = NULL;
    kg_cli_signer_opts so;
    kg_result rc = KG_OK;
    int c;
    memset(&so, 0, sizeof(so));
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'r': rpc = optarg; break;
        case 'k': kmsc = optarg; break;
        case 'f': so.key_file = optarg; break;
        case 'a': admin = optarg; break;
        case 'e': epoch_text = optarg; break;
        case 'h': usage(stdout); return KG_EXIT_OK;
        default:
            if (kg_cli_signer_option(&so, c, optarg, &rc))
                break;
            return kg_cli_bad_option("kms epoch", argc, argv);
        }
        if (kg_failed(rc))
            return kg_cli_fail();
    }
    if (optind != argc) {
        fprintf(stderr, "keygate kms epoch: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    /* propose: a devnet state names its KMS's admin listener (kms_admin_url) */
    bool admin_ok = act == EP_PROPOSE ? admin != NULL || state != NULL : admin == NULL;
    if ((act == EP_LIST) != (epoch_text == NULL) || !admin_ok) {
        fprintf(stderr, "keygate kms epoch %s: %s\n", ACTIONS[act],
                act == EP_LIST      ? "takes no --epoch or --admin"
                : act == EP_PROPOSE ? "give --admin URL and --epoch N"
                                    : "give --epoch N (and no --admin)");
        return KG_EXIT_USAGE;
    }
    uint32_t n = 0;
    if (epoch_text != NULL && kg_failed(parse_epoch(&n, epoch_text)))
        return kg_cli_fail();
    kg_cli_target t;
    json_t *out = json_pack("{s:s}", "action", ACTIONS[act]);
    if (out != NULL && act != EP_LIST)
        json_object_set_new(out, "epoch", json_integer((json_int_t)n));
    int status = KG_EXIT_FAILED;
    if (kg_failed(kg_cli_target_open(&t, state, rpc, kmsc))) {
        status = kg_cli_fail();
    } else if (!t.has_kms) {
        fprintf(stderr,
                "keygate kms epoch: no KMS contract: give --kms-contract ADDR or --state\n");
        status = KG_EXIT_USAGE;
    } else if (out == NULL) {
        status = kg_cli_fail();
    } else if (act == EP_PROPOSE && admin == NULL &&
               (admin = kg_devnet_str(t.state, "kms_admin_url")) == NULL) {
        fprintf(stderr, "keygate kms epoch propose: the state names no KMS admin listener "
                        "(kms_admin_url): give --admin URL and --epoch N\n");
        status = KG_EXIT_USAGE;
    } else {
        rc = act == EP_LIST      ? do_list(out, &t)
             : act == EP_PROPOSE ? do_propose(out, &t, &so, admin, n)
                                 : do_change(out, &t, &so, (ep_action)act, n);
        if (kg_ok(rc) && act != EP_LIST) {
            kg_eth_root_epoch_info
                e; /* where the epoch stands now (a printed calldata: unchanged) */
            if (kg_ok(read_epoch(&e, &t, n))) {
                json_object_set_new(out, "status", json_string(kg_epoch_status_name(e.status)));
                if (e.status == KG_EPOCH_PROPOSED)
                    json_object_set_new(out, "activates_at",
                                        json_integer((json_int_t)e.activates_at));
            }
            kg_error_clear();
        }
        if (kg_failed(rc)) {
            status = kg_cli_fail();
        } else {
            kg_cli_print_json(out, act != EP_LIST);
            status = KG_EXIT_OK;
        }
    }
    json_decref(out);
    kg_cli_target_close(&t);
    return status;
}

static int cmd_list(int argc, char **argv)
{
    return run(EP_LIST, argc, argv);
}

static int cmd_propose(int argc, char **argv)
{
    return run(EP_PROPOSE, argc, argv);
}

static int cmd_activate(int argc, char **argv)
{
    return run(EP_ACTIVATE, argc, argv);
}

static int cmd_veto(int argc, char **argv)
{
    return run(EP_VETO, argc, argv);
}

static int cmd_retire(int argc, char **argv)
{
    return run(EP_RETIRE, argc, argv);
}

int kg_cmd_kms_epoch(int argc, char **argv)
{
    static const kg_cli_group group = {"kms epoch", usage};
    static const kg_cli_command subs[] = {{"list", cmd_list, NULL},
                                          {"propose", cmd_propose, NULL},
                                          {"activate", cmd_activate, NULL},
                                          {"veto", cmd_veto, NULL},
                                          {"retire", cmd_retire, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc - 1, argv + 1);
}
