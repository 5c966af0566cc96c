/* cmd_governor.c - `keygate governor`: carrying a proposal made with --via-governor (or by
 * anyone) through an OpenZeppelin 5 Governor: status, vote, queue, execute, and delegating the
 * voting token. Queue and execute read the proposal's actions back from its ProposalCreated
 * event and check them against the Governor's own hashProposal before sending anything. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/hash.h"

#define GOV_MAX_ACTIONS 64                /* calls in one proposal keygate reads back */
#define GOV_MAX_CALL (64u * 1024u)        /* calldata of one call */
#define GOV_MAX_DESCRIPTION (64u * 1024u) /* a proposal's description */
#define GOV_MAX_REASON 1024u              /* --reason TEXT of a vote */

/* IGovernor.ProposalState */
enum {
    ST_PENDING,
    ST_ACTIVE,
    ST_CANCELED,
    ST_DEFEATED,
    ST_SUCCEEDED,
    ST_QUEUED,
    ST_EXPIRED,
    ST_EXECUTED,
    ST_COUNT
};
static const char *const state_names[ST_COUNT] = {"Pending",   "Active", "Canceled", "Defeated",
                                                  "Succeeded", "Queued", "Expired",  "Executed"};

static void gov_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate governor <subcommand> --governor GOV [options]\n\n"
            "An OpenZeppelin 5 Governor (token vote, usually behind a TimelockController that\n"
            "owns the app): proposals are made by any write with --via-governor GOV, which\n"
            "prints the proposal id; these commands carry them on.\n\n"
            "  status   --proposal ID [--json]   state, tally, quorum, deadlines, the timelock's\n"
            "                               eta and the proposal's calls and description\n"
            "  vote     --proposal ID --support for|against|abstain [--reason TEXT]\n"
            "                               cast the signer's votes (while the vote is Active;\n"
            "                               votes count from tokens delegated before it opened)\n"
            "  queue    --proposal ID       a Succeeded proposal into the timelock\n"
            "  execute  --proposal ID       a Queued proposal, once the timelock's delay is over\n"
            "  delegate [--to ADDR]         delegate the signer's voting tokens (to itself by\n"
            "                               default): tokens only vote once delegated\n\n"
            "  --proposal ID        decimal or 0x-hex, as --via-governor printed it\n"
            "  --from-block N       where to look for the proposal's ProposalCreated event\n"
            "                       (default: its voting start, less the voting delay)\n\n"
            "Where:\n"
            "  --state DIR          devnet state directory (default ./%s): chain and, on a\n"
            "                       devnet, the default signing key\n"
            "  --rpc-url URL        chain node (instead of the devnet's)\n"
            "\n" KG_CLI_SIGNER_USAGE "  (--via-governor does not apply here: the Governor is "
            "--governor)\n\n" KG_CLI_WRITE_EXIT_USAGE,
            KG_DEVNET_DEFAULT_DIR);
}

typedef struct gov_args {
    const char *state, *rpc_url, *key_file, *governor, *proposal, *support, *reason, *to;
    uint64_t from_block;
    bool has_from, json;
    const char *positional;
    kg_cli_signer_opts signer;
} gov_args;

enum {
    O_STATE = 256,
    O_RPC,
    O_KEYFILE,
    O_GOV,
    O_PROPOSAL,
    O_SUPPORT,
    O_REASON,
    O_TO,
    O_FROM,
    O_JSON,
    O_HELP
};

static kg_result parse_args(gov_args *a, bool *help, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, O_STATE},
        {"rpc-url", required_argument, NULL, O_RPC},
        {"private-key-file", required_argument, NULL, O_KEYFILE},
        {"governor", required_argument, NULL, O_GOV},
        {"proposal", required_argument, NULL, O_PROPOSAL},
        {"support", required_argument, NULL, O_SUPPORT},
        {"reason", required_argument, NULL, O_REASON},
        {"to", required_argument, NULL, O_TO},
        {"from-block", required_argument, NULL, O_FROM},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},
        KG_CLI_SIGNER_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof(*a));
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_STATE: a->state = optarg; break;
        case O_RPC: a->rpc_url = optarg; break;
        case O_KEYFILE: a->key_file = optarg; break;
        case O_GOV: a->governor = optarg; break;
        case O_PROPOSAL: a->proposal = optarg; break;
        case O_SUPPORT: a->support = optarg; break;
        case O_REASON: a->reason = optarg; break;
        case O_TO: a->to = optarg; break;
        case O_JSON: a->json = true; break;
        case O_FROM: {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            KG_ENSURE(errno == 0 && end != optarg && *end == '\0' && optarg[0] != '-', KG_ERR_USAGE,
                      "--from-block '%s' is not a block number", optarg);
            a->from_block = v;
            a->has_from = true;
            break;
        }
        case O_HELP: *help = true; return KG_OK;
        default: {
            kg_result rc;
            if (kg_cli_signer_option(&a->signer, c, optarg, &rc)) {
                KG_GUARD(rc);
                break;
            }
            KG_BAIL(KG_ERR_USAGE, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        }
    }
    a->signer.key_file = a->key_file;
    if (optind < argc)
        a->positional = argv[optind++];
    KG_ENSURE(optind == argc, KG_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
    KG_ENSURE(a->positional == NULL, KG_ERR_USAGE, "unexpected argument '%s'", a->positional);
    KG_ENSURE(a->signer.via_governor == NULL, KG_ERR_USAGE,
              "--via-governor does not apply to 'keygate governor' (the Governor is --governor)");
    KG_ENSURE(a->signer.description == NULL, KG_ERR_USAGE,
              "--description goes with --via-governor (a proposal is described when proposed)");
    return KG_OK;
}

/* ---- reading the Governor ------------------------------------------------------------------- */

typedef struct gov_ctx {
    kg_cli_target t;
    uint8_t gov[20];
    char gov_s[43];
    char name[128];
    bool timestamp_clock; /* CLOCK_MODE mode=timestamp; else block numbers */
    uint64_t clock;       /* the Governor's clock() now */
    uint64_t voting_delay;
    bool has_timelock;
    uint8_t timelock[20];
} gov_ctx;

/* A proposal as the Governor reports it. */
typedef struct gov_proposal {
    uint8_t id[32];
    char id_s[80];
    uint64_t state, snapshot, deadline, eta;
    uint8_t proposer[20];
    bool needs_queuing;
    bool has_votes; /* GovernorCountingSimple's proposalVotes */
    uint8_t against[32], for_votes[32], abstain[32];
    bool has_quorum; /* quorum(snapshot) once the snapshot is in the past */
    uint8_t quorum[32];
} gov_proposal;

/* A view call with static results; a revert keeps KG_ERR_DENIED (the caller may tolerate it). */
static kg_result view(const gov_ctx *g, kg_abi_decoded *out, const kg_abi_type *types, size_t n,
                      const uint8_t to[20], const char *sig, const kg_abi_value *args, size_t nargs)
{
    kg_buf ret;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(&g->t.chain, out, types, n, &ret, to, sig, args, nargs);
    kg_buf_free(&ret);
    return rc;
}

static kg_result view_string(const gov_ctx *g, char *out, size_t out_size, const uint8_t to[20],
                             const char *sig)
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_STRING;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(&g->t.chain, &d, &ty, 1, &ret, to, sig, NULL, 0);
    if (kg_ok(rc)) {
        char raw[512];
        rc = kg_abi_get_string(raw, sizeof(raw), &d);
        if (kg_ok(rc))
            kg_text_escape(out, out_size, raw, strlen(raw));
    }
    kg_buf_free(&ret);
    return rc;
}

/* Opens the chain and checks that GOV answers as a Governor (name, clock, votingDelay). */
static kg_result gov_open(gov_ctx *g, const gov_args *a)
{
    bool has_code = false;
    kg_abi_decoded d;
    kg_abi_type ty;
    memset(g, 0, sizeof(*g));
    KG_ENSURE(a->governor != NULL, KG_ERR_USAGE, "--governor GOV is required");
    KG_GUARD(kg_cli_parse_address(g->gov, "--governor", a->governor));
    kg_eth_address_checksum(g->gov_s, g->gov);
    KG_GUARD(kg_cli_target_open(&g->t, a->state, a->rpc_url, NULL));
    KG_GUARD(kg_chain_has_code(&g->t.chain, &has_code, g->gov));
    KG_ENSURE(has_code, KG_ERR_NOT_FOUND, "--governor %s: no contract at that address", g->gov_s);
    if (kg_failed(view_string(g, g->name, sizeof(g->name), g->gov, "name()")))
        return kg_error_context("--governor %s is not a Governor", g->gov_s);
    ty = KG_ABI_T_UINT64;
    if (kg_failed(view(g, &d, &ty, 1, g->gov, "clock()", NULL, 0)))
        return kg_error_context("--governor %s is not an OpenZeppelin 5 Governor (no clock())",
                                g->gov_s);
    g->clock = kg_abi_get_u64(&d);
    char mode[128];
    if (kg_ok(view_string(g, mode, sizeof(mode), g->gov, "CLOCK_MODE()")))
        g->timestamp_clock = strstr(mode, "mode=timestamp") != NULL;
    else
        kg_error_clear();
    KG_GUARD(view(g, &d, &ty, 1, g->gov, "votingDelay()", NULL, 0));
    g->voting_delay = kg_abi_get_u64(&d);
    /* GovernorTimelockControl queues in and executes through its timelock */
    ty = KG_ABI_T_ADDRESS;
    if (kg_ok(view(g, &d, &ty, 1, g->gov, "timelock()", NULL, 0))) {
        kg_abi_get_address(g->timelock, &d);
        g->has_timelock = true;
    } else if (kg_error_code() == KG_ERR_DENIED) {
        kg_error_clear();
    } else {
        return KG_ERROR;
    }
    return KG_OK;
}

static void gov_close(gov_ctx *g)
{
    kg_cli_target_close(&g->t);
}

static const char *clock_unit(const gov_ctx *g)
{
    return g->timestamp_clock ? "time" : "block";
}

/* Reads proposal `id`; KG_ERR_NOT_FOUND when the Governor has no such proposal. */
static kg_result proposal_read(gov_proposal *p, const gov_ctx *g, const uint8_t id[32])
{
    kg_abi_decoded d[3];
    kg_abi_type ty = KG_ABI_T_UINT64;
    kg_abi_value arg = kg_abi_uint256(id);
    memset(p, 0, sizeof(*p));
    memcpy(p->id, id, 32);
    KG_GUARD(kg_cli_u256_dec(p->id_s, sizeof(p->id_s), id));
    KG_GUARD(view(g, d, &ty, 1, g->gov, "proposalSnapshot(uint256)", &arg, 1));
    p->snapshot = kg_abi_get_u64(&d[0]);
    KG_ENSURE(p->snapshot != 0, KG_ERR_NOT_FOUND, "proposal %s does not exist on Governor %s",
              p->id_s, g->gov_s);
    ty = KG_ABI_T_UINT8;
    KG_GUARD(view(g, d, &ty, 1, g->gov, "state(uint256)", &arg, 1));
    p->state = kg_abi_get_u64(&d[0]);
    KG_ENSURE(p->state < ST_COUNT, KG_ERR_INPUT, "Governor %s: unknown proposal state %" PRIu64,
              g->gov_s, p->state);
    ty = KG_ABI_T_UINT64;
    KG_GUARD(view(g, d, &ty, 1, g->gov, "proposalDeadline(uint256)", &arg, 1));
    p->deadline = kg_abi_get_u64(&d[0]);
    KG_GUARD(view(g, d, &ty, 1, g->gov, "proposalEta(uint256)", &arg, 1));
    p->eta = kg_abi_get_u64(&d[0]);
    ty = KG_ABI_T_ADDRESS;
    KG_GUARD(view(g, d, &ty, 1, g->gov, "proposalProposer(uint256)", &arg, 1));
    kg_abi_get_address(p->proposer, &d[0]);
    ty = KG_ABI_T_BOOL;
    KG_GUARD(view(g, d, &ty, 1, g->gov, "proposalNeedsQueuing(uint256)", &arg, 1));
    p->needs_queuing = kg_abi_get_bool(&d[0]);
    kg_abi_type vt[3] = {KG_ABI_T_UINT256, KG_ABI_T_UINT256, KG_ABI_T_UINT256};
    if (kg_ok(view(g, d, vt, 3, g->gov, "proposalVotes(uint256)", &arg, 1))) {
        memcpy(p->against, d[0].word, 32);
        memcpy(p->for_votes, d[1].word, 32);
        memcpy(p->abstain, d[2].word, 32);
        p->has_votes = true;
    } else if (kg_error_code() == KG_ERR_DENIED) {
        kg_error_clear(); /* another counting module */
    } else {
        return KG_ERROR;
    }
    if (p->snapshot < g->clock) { /* quorum(timepoint) looks into the past only */
        kg_abi_value at = kg_abi_uint64(p->snapshot);
        ty = KG_ABI_T_UINT256;
        if (kg_ok(view(g, d, &ty, 1, g->gov, "quorum(uint256)", &at, 1))) {
            memcpy(p->quorum, d[0].word, 32);
            p->has_quorum = true;
        } else if (kg_error_code() == KG_ERR_DENIED) {
            kg_error_clear();
        } else {
            return KG_ERROR;
        }
    }
    return KG_OK;
}

static json_t *u256_json(const uint8_t w[32])
{
    char s[80];
    if (kg_failed(kg_cli_u256_dec(s, sizeof(s), w))) {
        kg_error_clear();
        return json_null();
    }
    return json_string(s);
}

static json_t *addr_json(const uint8_t a[20])
{
    char s[43];
    kg_eth_address_checksum(s, a);
    return json_string(s);
}

/* ---- the proposal's actions, from its ProposalCreated event ---------------------------------- */

typedef struct gov_actions {
    uint8_t *raw; /* owned copy of the event's data; calls point into it */
    size_t n;
    uint8_t targets[GOV_MAX_ACTIONS][20];
    uint8_t values[GOV_MAX_ACTIONS][32];
    const uint8_t *calls[GOV_MAX_ACTIONS];
    size_t call_len[GOV_MAX_ACTIONS];
    char *description; /* owned, NUL-terminated (the exact bytes the Governor hashed) */
    size_t description_len;
    uint8_t description_hash[32];
    uint64_t block;
    uint8_t tx[32];
} gov_actions;

static void actions_free(gov_actions *x)
{
    free(x->raw);
    free(x->description);
    memset(x, 0, sizeof(*x));
}

/* Bounded reads of ABI words in the event data (untrusted: every offset and length checked). */
static kg_result ev_word(const uint8_t *d, size_t len, size_t at, const uint8_t **w)
{
    KG_ENSURE(at <= len && len - at >= 32, KG_ERR_TRUNCATED,
              "ProposalCreated: word at byte %zu is past its %zu bytes", at, len);
    *w = d + at;
    return KG_OK;
}

static kg_result ev_size(const uint8_t *d, size_t len, size_t at, size_t max, size_t *out,
                         const char *what)
{
    const uint8_t *w = NULL;
    uint64_t v = 0;
    KG_GUARD(ev_word(d, len, at, &w));
    for (int i = 0; i < 24; i++)
        KG_ENSURE(w[i] == 0, KG_ERR_TOO_LARGE, "ProposalCreated: %s too large", what);
    for (int i = 24; i < 32; i++)
        v = (v << 8) | w[i];
    KG_ENSURE(v <= max, KG_ERR_TOO_LARGE, "ProposalCreated: %s %" PRIu64 " exceeds %zu", what, v,
              max);
    *out = (size_t)v;
    return KG_OK;
}

/* The location of a dynamic array member: offset word at head position `head`. */
static kg_result ev_array(const uint8_t *d, size_t len, size_t head, size_t *at, size_t *count,
                          const char *what)
{
    KG_GUARD(ev_size(d, len, head, len, at, what));
    return ev_size(d, len, *at, GOV_MAX_ACTIONS, count, what);
}

/* Element i of a dynamic bytes[]/string[] array at `at`: its content. */
static kg_result ev_dyn_elem(const uint8_t *d, size_t len, size_t at, size_t i, size_t max,
                             const uint8_t **p, size_t *plen, const char *what)
{
    size_t rel, l;
    KG_GUARD(ev_size(d, len, at + 32 + 32 * i, len, &rel, what));
    size_t el = at + 32 + rel;
    KG_GUARD(ev_size(d, len, el, max, &l, what));
    KG_ENSURE(el + 32 <= len && len - (el + 32) >= l, KG_ERR_TRUNCATED,
              "ProposalCreated: %s %zu runs past the data", what, i);
    *p = d + el + 32;
    *plen = l;
    return KG_OK;
}

static kg_result actions_decode(gov_actions *x, const uint8_t *d, size_t len)
{
    size_t at_t, at_v, at_s, at_c, n_t, n_v, n_s, n_c, at_d, dlen;
    const uint8_t *w = NULL;
    KG_GUARD(ev_array(d, len, 2 * 32, &at_t, &n_t, "targets"));
    KG_GUARD(ev_array(d, len, 3 * 32, &at_v, &n_v, "values"));
    KG_GUARD(ev_array(d, len, 4 * 32, &at_s, &n_s, "signatures"));
    KG_GUARD(ev_array(d, len, 5 * 32, &at_c, &n_c, "calldatas"));
    KG_ENSURE(n_t == n_v && n_t == n_c && n_t == n_s && n_t > 0, KG_ERR_INPUT,
              "ProposalCreated: %zu targets, %zu values, %zu signatures, %zu calldatas", n_t, n_v,
              n_s, n_c);
    x->n = n_t;
    for (size_t i = 0; i < x->n; i++) {
        KG_GUARD(ev_word(d, len, at_t + 32 + 32 * i, &w));
        for (int b = 0; b < 12; b++)
            KG_ENSURE(w[b] == 0, KG_ERR_INPUT, "ProposalCreated: target %zu is not an address", i);
        memcpy(x->targets[i], w + 12, 20);
        KG_GUARD(ev_word(d, len, at_v + 32 + 32 * i, &w));
        memcpy(x->values[i], w, 32);
        const uint8_t *sig;
        size_t sig_len;
        KG_GUARD(ev_dyn_elem(d, len, at_s, i, GOV_MAX_CALL, &sig, &sig_len, "signature"));
        KG_GUARD(
            ev_dyn_elem(d, len, at_c, i, GOV_MAX_CALL, &x->calls[i], &x->call_len[i], "calldata"));
    }
    KG_GUARD(ev_size(d, len, 8 * 32, len, &at_d, "description"));
    KG_GUARD(ev_size(d, len, at_d, GOV_MAX_DESCRIPTION, &dlen, "description"));
    KG_ENSURE(at_d + 32 <= len && len - (at_d + 32) >= dlen, KG_ERR_TRUNCATED,
              "ProposalCreated: description runs past the data");
    KG_ENSURE(memchr(d + at_d + 32, 0, dlen) == NULL, KG_ERR_INPUT,
              "ProposalCreated: description contains a NUL byte");
    x->description = malloc(dlen + 1);
    KG_ENSURE(x->description != NULL, KG_ERR_NOMEM, "description");
    memcpy(x->description, d + at_d + 32, dlen);
    x->description[dlen] = '\0';
    x->description_len = dlen;
    kg_keccak256(x->description_hash, x->description, dlen);
    return KG_OK;
}

/* Where to look for the event: --from-block, else (block clock) the vote's start less the
 * voting delay, which is the proposal's block unless the delay was raised since. */
static uint64_t search_from(const gov_ctx *g, const gov_proposal *p, const gov_args *a)
{
    if (a->has_from)
        return a->from_block;
    if (g->timestamp_clock)
        return 0;
    return p->snapshot > g->voting_delay ? p->snapshot - g->voting_delay : 0;
}

static kg_result actions_find(gov_actions *x, const gov_ctx *g, const gov_proposal *p,
                              uint64_t from)
{
    kg_eth_logs logs;
    uint8_t topic0[32];
    memset(x, 0, sizeof(*x));
    memset(&logs, 0, sizeof(logs));
    kg_keccak256(topic0, KG_GOV_PROPOSAL_CREATED, strlen(KG_GOV_PROPOSAL_CREATED));
    KG_GUARD_CTX(kg_chain_logs(&g->t.chain, &logs, g->gov, topic0, from),
                 "ProposalCreated events of Governor %s", g->gov_s);
    const kg_eth_log *found = NULL;
    for (size_t i = 0; i < logs.count && found == NULL; i++)
        if (logs.items[i].data_len >= 32 && memcmp(logs.items[i].data, p->id, 32) == 0)
            found = &logs.items[i];
    kg_result rc = KG_OK;
    if (found == NULL) {
        rc = kg_error_set(KG_ERR_NOT_FOUND, __FILE__, __LINE__,
                          "no ProposalCreated event of proposal %s on Governor %s from block "
                          "%" PRIu64 " (give --from-block with the block it was proposed in)",
                          p->id_s, g->gov_s, from);
    } else if (found->data_len > KG_ETH_MAX_ABI_LEN) {
        rc = kg_error_set(KG_ERR_TOO_LARGE, __FILE__, __LINE__,
                          "ProposalCreated of proposal %s: %zu bytes", p->id_s, found->data_len);
    } else {
        x->raw = malloc(found->data_len);
        if (x->raw == NULL) {
            rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "ProposalCreated");
        } else {
            memcpy(x->raw, found->data, found->data_len);
            x->block = found->block_number;
            memcpy(x->tx, found->tx_hash, 32);
            rc = actions_decode(x, x->raw, found->data_len);
            if (kg_failed(rc))
                (void)kg_error_context("proposal %s", p->id_s);
        }
    }
    kg_eth_logs_free(&logs);
    if (kg_failed(rc))
        actions_free(x);
    return rc;
}

/* (targets, values, calldatas) as ABI values; items must hold 3 * GOV_MAX_ACTIONS. */
static void actions_abi(const gov_actions *x, kg_abi_value *items, kg_abi_value out[3])
{
    for (size_t i = 0; i < x->n; i++) {
        items[i] = kg_abi_address(x->targets[i]);
        items[GOV_MAX_ACTIONS + i] = kg_abi_uint256(x->values[i]);
        items[2 * GOV_MAX_ACTIONS + i] = kg_abi_bytes(x->calls[i], x->call_len[i]);
    }
    out[0] = kg_abi_array(items, x->n);
    out[1] = kg_abi_array(items + GOV_MAX_ACTIONS, x->n);
    out[2] = kg_abi_array(items + 2 * GOV_MAX_ACTIONS, x->n);
}

/* The event's actions must be the proposal: hashProposal(them) = its id, as the Governor
 * computes it (a node that made the event up cannot pass this). */
static kg_result actions_verify(const gov_actions *x, const gov_ctx *g, const gov_proposal *p)
{
    static kg_abi_value items[3 * GOV_MAX_ACTIONS];
    kg_abi_value args[4];
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_UINT256;
    actions_abi(x, items, args);
    args[3] = kg_abi_bytes32(x->description_hash);
    KG_GUARD(
        view(g, &d, &ty, 1, g->gov, "hashProposal(address[],uint256[],bytes[],bytes32)", args, 4));
    KG_ENSURE(memcmp(d.word, p->id, 32) == 0, KG_ERR_VERIFY,
              "the ProposalCreated event read for proposal %s does not hash to it on Governor %s",
              p->id_s, g->gov_s);
    return KG_OK;
}

/* A call's function, for the few keygate calls a vote is usually about. */
static const char *known_function(const uint8_t *call, size_t len)
{
    static const char *const sigs[] = {
        "proposeComposeHash(bytes32)",
        "addComposeHash(bytes32)",
        "removeComposeHash(bytes32)",
        "vetoComposeHash(bytes32)",
        "proposeUpgrade(address)",
        "upgradeToAndCall(address,bytes)",
        "setUpgradeNotice(uint64,address)",
        "transferOwnership(address)",
        "acceptOwnership()",
        "disableUpgrades()",
        "addDevice(bytes32)",
        "removeDevice(bytes32)",
        "setAllowAnyDevice(bool)",
        "setRequireTcbUpToDate(bool)",
        "setAdvisoryDenied(string,bool)",
        "setAdvisoryAllowed(string,bool)",
        "setOutOfDateGracePeriod(uint64)",
        "proposeOsImageHash(bytes32)",
        "addOsImageHash(bytes32)",
        "removeOsImageHash(bytes32)",
        "proposeKmsAggregatedMr(bytes32)",
        "addKmsAggregatedMr(bytes32)",
        "removeKmsAggregatedMr(bytes32)",
        "setGovernanceNotice(uint64,address)",
    };
    if (len < 4)
        return NULL;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        uint8_t sel[4];
        kg_abi_selector(sel, sigs[i]);
        if (memcmp(sel, call, 4) == 0)
            return sigs[i];
    }
    return NULL;
}

static json_t *actions_json(const gov_actions *x)
{
    json_t *list = json_array();
    for (size_t i = 0; i < x->n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "target", addr_json(x->targets[i]));
        json_object_set_new(e, "value", u256_json(x->values[i]));
        json_object_set_new(e, "calldata", kg_chain_hex_json(x->calls[i], x->call_len[i]));
        const char *fn = known_function(x->calls[i], x->call_len[i]);
        if (fn != NULL)
            json_object_set_new(e, "function", json_string(fn));
        json_array_append_new(list, e);
    }
    return list;
}

/* The description as printable text (untrusted: controls and invalid UTF-8 escaped). */
static json_t *description_json(const gov_actions *x)
{
    size_t cap = 4 * x->description_len + 1;
    char *s = malloc(cap);
    if (s == NULL)
        return json_null();
    kg_text_escape(s, cap, x->description, x->description_len);
    json_t *j = json_string(s);
    free(s);
    return j != NULL ? j : json_null();
}

/* ---- subcommands ---------------------------------------------------------------------------- */

/* Why a proposal in state st cannot be voted on / queued / executed now. */
static kg_result not_now(const gov_ctx *g, const gov_proposal *p, const char *what)
{
    switch (p->state) {
    case ST_PENDING:
        KG_BAIL(KG_ERR_DENIED,
                "proposal %s is Pending: voting opens after %s %" PRIu64 " (now %" PRIu64 ")",
                p->id_s, clock_unit(g), p->snapshot, g->clock);
    case ST_ACTIVE:
        KG_BAIL(KG_ERR_DENIED,
                "proposal %s is Active: voting is open until %s %" PRIu64 " (now %" PRIu64
                "); %s after it succeeds",
                p->id_s, clock_unit(g), p->deadline, g->clock, what);
    default:
        KG_BAIL(KG_ERR_DENIED, "proposal %s is %s: it cannot be %s", p->id_s, state_names[p->state],
                what);
    }
}

static kg_result parse_proposal(uint8_t id[32], const gov_args *a)
{
    KG_ENSURE(a->proposal != NULL, KG_ERR_USAGE, "--proposal ID is required");
    return kg_cli_u256_parse(id, "--proposal", a->proposal);
}

static json_t *votes_json(const gov_proposal *p)
{
    if (!p->has_votes)
        return json_null();
    return json_pack("{s:o,s:o,s:o}", "for", u256_json(p->for_votes), "against",
                     u256_json(p->against), "abstain", u256_json(p->abstain));
}

static json_t *proposal_json(const gov_ctx *g, const gov_proposal *p)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:o,s:s,s:I,s:I,s:I,s:o}", "governor", g->gov_s, "proposal_id",
                  p->id_s, "state", state_names[p->state], "proposer", addr_json(p->proposer),
                  "clock_mode", g->timestamp_clock ? "timestamp" : "blocknumber", "clock",
                  (json_int_t)g->clock, "vote_start", (json_int_t)p->snapshot, "vote_end",
                  (json_int_t)p->deadline, "votes", votes_json(p));
    json_object_set_new(o, "quorum", p->has_quorum ? u256_json(p->quorum) : json_null());
    json_object_set_new(o, "needs_queuing", json_boolean(p->needs_queuing));
    if (g->has_timelock)
        json_object_set_new(o, "timelock", addr_json(g->timelock));
    json_object_set_new(o, "eta", p->eta ? json_integer((json_int_t)p->eta) : json_null());
    return o;
}

static int cmd_status(const gov_args *a)
{
    gov_ctx g;
    gov_proposal p;
    gov_actions x;
    uint8_t id[32];
    uint64_t now_ts = 0;
    int status = KG_EXIT_FAILED;
    json_t *out = NULL;
    memset(&g, 0, sizeof(g));
    memset(&x, 0, sizeof(x));
    if (kg_failed(parse_proposal(id, a)) || kg_failed(gov_open(&g, a)) ||
        kg_failed(proposal_read(&p, &g, id)) ||
        kg_failed(kg_chain_latest(&g.t.chain, NULL, &now_ts)))
        goto fail;
    out = proposal_json(&g, &p);
    json_object_set_new(out, "governor_name", json_string(g.name));
    json_object_set_new(out, "block_time", json_integer((json_int_t)now_ts));
    bool have_actions = false;
    if (kg_ok(actions_find(&x, &g, &p, search_from(&g, &p, a))) &&
        kg_ok(actions_verify(&x, &g, &p))) {
        have_actions = true;
        json_object_set_new(out, "actions", actions_json(&x));
        json_object_set_new(out, "description", description_json(&x));
        json_object_set_new(out, "proposed_block", json_integer((json_int_t)x.block));
        json_object_set_new(out, "proposed_tx", kg_chain_hex_json(x.tx, 32));
    } else if (kg_error_code() == KG_ERR_NOT_FOUND) {
        fprintf(stderr, "keygate: warning: %s\n", kg_error_message());
        kg_error_clear();
        json_object_set_new(out, "actions", json_null());
    } else {
        goto fail;
    }
    if (a->json) {
        kg_cli_print_json(out, false);
    } else {
        char prop[43];
        kg_eth_address_checksum(prop, p.proposer);
        printf("proposal %s\n  governor     %s (%s)\n  state        %s\n  proposer     %s\n",
               p.id_s, g.gov_s, g.name, state_names[p.state], prop);
        printf("  voting       %s %" PRIu64 " .. %" PRIu64 " (now %" PRIu64 ")\n", clock_unit(&g),
               p.snapshot, p.deadline, g.clock);
        if (p.has_votes) {
            char f[80], ag[80], ab[80], q[80] = "not yet known";
            if (kg_failed(kg_cli_u256_dec(f, sizeof(f), p.for_votes)) ||
                kg_failed(kg_cli_u256_dec(ag, sizeof(ag), p.against)) ||
                kg_failed(kg_cli_u256_dec(ab, sizeof(ab), p.abstain)) ||
                (p.has_quorum && kg_failed(kg_cli_u256_dec(q, sizeof(q), p.quorum))))
                goto fail;
            printf("  votes        for %s / against %s / abstain %s (quorum %s)\n", f, ag, ab, q);
        }
        if (g.has_timelock) {
            char tl[43];
            kg_eth_address_checksum(tl, g.timelock);
            printf("  timelock     %s\n", tl);
        }
        if (p.eta != 0)
            printf("  eta          %" PRIu64 " (block time now %" PRIu64 "%s)\n", p.eta, now_ts,
                   p.eta <= now_ts ? ": executable" : ": the timelock holds it");
        if (have_actions) {
            printf("  proposed     block %" PRIu64 "\n  calls:\n", x.block);
            for (size_t i = 0; i < x.n; i++) {
                char t[43], v[80];
                kg_eth_address_checksum(t, x.targets[i]);
                if (kg_failed(kg_cli_u256_dec(v, sizeof(v), x.values[i])))
                    goto fail;
                const char *fn = known_function(x.calls[i], x.call_len[i]);
                printf("    %s value %s %s (%zu bytes)\n", t, v, fn ? fn : "call", x.call_len[i]);
            }
            json_t *dj = json_object_get(out, "description");
            printf("  description  %s\n", json_string_value(dj) ? json_string_value(dj) : "");
        }
        const char *next = p.state == ST_PENDING  ? "wait for the vote to open"
                           : p.state == ST_ACTIVE ? "keygate governor vote"
                           : p.state == ST_SUCCEEDED && p.needs_queuing ? "keygate governor queue"
                           : p.state == ST_SUCCEEDED                    ? "keygate governor execute"
                           : p.state == ST_QUEUED && p.eta > now_ts
                               ? "wait for the eta, then keygate governor execute"
                           : p.state == ST_QUEUED ? "keygate governor execute"
                                                  : NULL;
        if (next != NULL)
            printf("  next         %s\n", next);
    }
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    actions_free(&x);
    gov_close(&g);
    return status;
}

static kg_result parse_support(uint8_t *out, const char *text)
{
    KG_ENSURE(text != NULL, KG_ERR_USAGE, "--support for|against|abstain is required");
    if (strcmp(text, "for") == 0)
        *out = 1;
    else if (strcmp(text, "against") == 0)
        *out = 0;
    else if (strcmp(text, "abstain") == 0)
        *out = 2;
    else
        KG_BAIL(KG_ERR_USAGE, "--support '%s': say for, against or abstain", text);
    return KG_OK;
}

static int cmd_vote(const gov_args *a)
{
    gov_ctx g;
    gov_proposal p;
    kg_cli_signer sg;
    uint8_t id[32], support = 0;
    kg_buf data;
    int status = KG_EXIT_FAILED;
    json_t *out = NULL;
    memset(&g, 0, sizeof(g));
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    if (kg_failed(parse_proposal(id, a)) || kg_failed(parse_support(&support, a->support)))
        goto fail;
    if (a->reason != NULL && strlen(a->reason) > GOV_MAX_REASON) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--reason: at most %u bytes",
                           GOV_MAX_REASON);
        goto fail;
    }
    if (kg_failed(gov_open(&g, a)) || kg_failed(kg_cli_signer_open(&sg, &g.t, &a->signer)) ||
        kg_failed(proposal_read(&p, &g, id)))
        goto fail;
    if (p.state != ST_ACTIVE) {
        if (p.state == ST_PENDING)
            (void)not_now(&g, &p, "voted on");
        else
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "proposal %s is %s: voting is over (it ended at %s %" PRIu64 ")",
                               p.id_s, state_names[p.state], clock_unit(&g), p.deadline);
        goto fail;
    }
    json_t *weight = NULL;
    if (sg.acting_known) {
        char voter[43];
        kg_abi_decoded d;
        kg_abi_type ty = KG_ABI_T_BOOL;
        kg_abi_value args[2] = {kg_abi_uint256(id), kg_abi_address(sg.acting)};
        kg_eth_address_checksum(voter, sg.acting);
        if (kg_failed(view(&g, &d, &ty, 1, g.gov, "hasVoted(uint256,address)", args, 2)))
            goto fail;
        if (kg_abi_get_bool(&d)) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "%s has already voted on proposal %s", voter, p.id_s);
            goto fail;
        }
        kg_abi_value vargs[2] = {kg_abi_address(sg.acting), kg_abi_uint64(p.snapshot)};
        ty = KG_ABI_T_UINT256;
        if (kg_failed(view(&g, &d, &ty, 1, g.gov, "getVotes(address,uint256)", vargs, 2)))
            goto fail;
        static const uint8_t zero[32];
        if (memcmp(d.word, zero, 32) == 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "%s has no votes at the proposal's snapshot (%s %" PRIu64
                               "): tokens vote only once delegated before it ('keygate governor "
                               "delegate')",
                               voter, clock_unit(&g), p.snapshot);
            goto fail;
        }
        weight = u256_json(d.word);
    }
    out = json_pack("{s:s,s:s,s:s,s:s}", "governor", g.gov_s, "proposal_id", p.id_s, "action",
                    "vote", "support", a->support);
    if (sg.acting_known)
        json_object_set_new(out, "voter", addr_json(sg.acting));
    if (weight != NULL)
        json_object_set_new(out, "weight", weight);
    kg_abi_value v[3] = {kg_abi_uint256(id), kg_abi_uint64(support),
                         kg_abi_string(a->reason ? a->reason : "")};
    if (a->reason != NULL) {
        json_object_set_new(out, "reason", json_string(a->reason));
        if (kg_failed(kg_chain_calldata(&data, "castVoteWithReason(uint256,uint8,string)", v, 3)))
            goto fail;
    } else if (kg_failed(kg_chain_calldata(&data, "castVote(uint256,uint8)", v, 2))) {
        goto fail;
    }
    if (kg_failed(kg_cli_write(&g.t, &sg, g.gov, &data, out, NULL))) {
        (void)kg_error_context("voting on proposal %s", p.id_s);
        goto fail;
    }
    if (kg_ok(proposal_read(&p, &g, id)))
        json_object_set_new(out, "votes", votes_json(&p));
    else
        kg_error_clear();
    kg_cli_print_json(out, true);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    gov_close(&g);
    return status;
}

/* queue (execute = false) or execute a proposal with the actions its event names */
static int cmd_queue_execute(const gov_args *a, bool execute)
{
    static kg_abi_value items[3 * GOV_MAX_ACTIONS];
    const char *verb = execute ? "executed" : "queued";
    gov_ctx g;
    gov_proposal p;
    gov_actions x;
    kg_cli_signer sg;
    uint8_t id[32];
    uint64_t now_ts = 0;
    kg_buf data;
    int status = KG_EXIT_FAILED;
    json_t *out = NULL;
    memset(&g, 0, sizeof(g));
    memset(&x, 0, sizeof(x));
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    if (kg_failed(parse_proposal(id, a)) || kg_failed(gov_open(&g, a)) ||
        kg_failed(kg_cli_signer_open(&sg, &g.t, &a->signer)) ||
        kg_failed(proposal_read(&p, &g, id)) ||
        kg_failed(kg_chain_latest(&g.t.chain, NULL, &now_ts)))
        goto fail;
    if (!execute) {
        if (p.state != ST_SUCCEEDED) {
            (void)not_now(&g, &p, verb);
            goto fail;
        }
        if (!p.needs_queuing) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "proposal %s needs no queuing on Governor %s: execute it", p.id_s,
                               g.gov_s);
            goto fail;
        }
    } else if (p.state == ST_SUCCEEDED && p.needs_queuing) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "proposal %s has succeeded but is not queued: 'keygate governor queue' "
                           "it first",
                           p.id_s);
        goto fail;
    } else if (p.state == ST_QUEUED) {
        uint64_t wall = (uint64_t)time(NULL);
        if (p.eta > now_ts && p.eta > wall) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "proposal %s is queued: the timelock holds it until %" PRIu64
                               " (%" PRIu64 " s after the latest block's time %" PRIu64 ")",
                               p.id_s, p.eta, p.eta - now_ts, now_ts);
            goto fail;
        }
    } else if (p.state != ST_SUCCEEDED) {
        (void)not_now(&g, &p, verb);
        goto fail;
    }
    if (kg_failed(actions_find(&x, &g, &p, search_from(&g, &p, a))) ||
        kg_failed(actions_verify(&x, &g, &p)))
        goto fail;
    static const uint8_t zero[32];
    for (size_t i = 0; i < x.n; i++)
        if (memcmp(x.values[i], zero, 32) != 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "proposal %s sends value with call %zu: keygate sends no ether "
                               "(use --calldata and a wallet that adds the value)",
                               p.id_s, i);
            goto fail;
        }
    kg_abi_value args[4];
    actions_abi(&x, items, args);
    args[3] = kg_abi_bytes32(x.description_hash);
    if (kg_failed(kg_chain_calldata(&data,
                                    execute ? "execute(address[],uint256[],bytes[],bytes32)"
                                            : "queue(address[],uint256[],bytes[],bytes32)",
                                    args, 4)))
        goto fail;
    out = json_pack("{s:s,s:s,s:s}", "governor", g.gov_s, "proposal_id", p.id_s, "action",
                    execute ? "execute" : "queue");
    json_object_set_new(out, "actions", actions_json(&x));
    if (kg_failed(kg_cli_write(&g.t, &sg, g.gov, &data, out, NULL))) {
        (void)kg_error_context("%s proposal %s", execute ? "executing" : "queuing", p.id_s);
        goto fail;
    }
    if (kg_ok(proposal_read(&p, &g, id))) {
        json_object_set_new(out, "state", json_string(state_names[p.state]));
        if (p.eta != 0)
            json_object_set_new(out, "eta", json_integer((json_int_t)p.eta));
    } else {
        kg_error_clear();
    }
    kg_cli_print_json(out, true);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    actions_free(&x);
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    gov_close(&g);
    return status;
}

static int cmd_delegate(const gov_args *a)
{
    gov_ctx g;
    kg_cli_signer sg;
    uint8_t token[20], to[20];
    kg_buf data;
    int status = KG_EXIT_FAILED;
    json_t *out = NULL;
    memset(&g, 0, sizeof(g));
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    if (a->proposal != NULL || a->support != NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "delegate takes [--to ADDR] (no --proposal or --support)");
        goto fail;
    }
    if ((a->to != NULL && kg_failed(kg_cli_parse_address(to, "--to", a->to))) ||
        kg_failed(gov_open(&g, a)) || kg_failed(kg_cli_signer_open(&sg, &g.t, &a->signer)))
        goto fail;
    if (a->to == NULL) {
        if (!sg.acting_known) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--calldata: give --to ADDR");
            goto fail;
        }
        memcpy(to, sg.acting, 20);
    }
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_ADDRESS;
    if (kg_failed(view(&g, &d, &ty, 1, g.gov, "token()", NULL, 0))) {
        (void)kg_error_context("Governor %s has no voting token (GovernorVotes)", g.gov_s);
        goto fail;
    }
    kg_abi_get_address(token, &d);
    kg_abi_value v = kg_abi_address(to);
    out = json_pack("{s:s,s:s,s:o,s:o}", "governor", g.gov_s, "action", "delegate", "token",
                    addr_json(token), "delegatee", addr_json(to));
    if (sg.acting_known)
        json_object_set_new(out, "delegator", addr_json(sg.acting));
    if (kg_failed(kg_chain_calldata(&data, "delegate(address)", &v, 1)) ||
        kg_failed(kg_cli_write(&g.t, &sg, token, &data, out, NULL))) {
        (void)kg_error_context("delegating the votes of token %s",
                               json_string_value(json_object_get(out, "token")));
        goto fail;
    }
    ty = KG_ABI_T_UINT256;
    if (kg_ok(view(&g, &d, &ty, 1, token, "getVotes(address)", &v, 1)))
        json_object_set_new(out, "delegatee_votes", u256_json(d.word));
    else
        kg_error_clear();
    kg_cli_print_json(out, true);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    gov_close(&g);
    return status;
}

int kg_cmd_governor(int argc, char **argv)
{
    gov_args a;
    bool help = false;
    static const kg_cli_group group = {"governor", gov_usage};
    int st = kg_cli_group_help(&group, argc, argv);
    if (st != KG_CLI_CONTINUE)
        return st;
    const char *sub = argv[1];
    kg_result parsed = parse_args(&a, &help, argc, argv); /* sets help: read it after */
    st = kg_cli_group_parsed(&group, parsed, help);
    if (st != KG_CLI_CONTINUE)
        return st;
    if (strcmp(sub, "status") == 0)
        return cmd_status(&a);
    if (strcmp(sub, "vote") == 0)
        return cmd_vote(&a);
    if (strcmp(sub, "queue") == 0)
        return cmd_queue_execute(&a, false);
    if (strcmp(sub, "execute") == 0)
        return cmd_queue_execute(&a, true);
    if (strcmp(sub, "delegate") == 0)
        return cmd_delegate(&a);
    return kg_cli_group_unknown(&group, sub);
}
