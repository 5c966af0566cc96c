/* cmd_app.c - `keygate app`: an app's on-chain governance (docs/protocol.md section 3): compose
 * hashes, deployment through the KMS factory, allow/revoke, time-locked proposals and guardian
 * vetoes, and the app's status and history read back from the chain. */
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
#include "status.h"

#define APP_MAX_COMPOSE (1u << 20) /* an app-compose.json larger than 1 MiB is refused */
#define APP_MAX_NOTICE (365ull * 24 * 3600)
#define KG_APP_MAX_ADVISORY 1024u /* longest advisory id decoded from an event */

static void app_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate app <subcommand> [options]\n\n"
        "  compose-hash FILE            SHA-256 of the raw bytes of an app-compose.json\n"
        "                               (refused, exit 2, unless the file is a JSON object)\n"
        "  deploy (--compose FILE | --hash HEX) --tcb up-to-date|not-revoked [--owner ADDR]\n"
        "         [--timelock SECONDS --guardian ADDR] [--device HEX]\n"
        "                               deploy and register an app contract (KMS factory)\n"
        "                               allowing the compose file's hash (or HEX, a compose\n"
        "                               hash computed elsewhere, e.g. by 'app compose-hash');\n"
        "                               prints {\"app_id\":\"0x..\",\"compose_hash\":\"..\"}\n"
        "                               --tcb (required): up-to-date serves only platforms\n"
        "                               whose TCB status is UpToDate (widen it later with\n"
        "                               'app tcb'); not-revoked serves any status but Revoked\n"
        "                               (OutOfDate, SWHardeningNeeded, ConfigurationNeeded..)\n"
        "  allow  --app ID (--compose FILE | --hash HEX)   allow a compose hash (at once)\n"
        "  revoke --app ID (--compose FILE | --hash HEX)   remove it (takes effect at once)\n"
        "  propose --app ID (--compose FILE | --hash HEX)  time-locked apps: propose it; it\n"
        "                               becomes allowed after the notice period\n"
        "  veto   --app ID (--compose FILE | --hash HEX)   guardian: veto a pending proposal\n"
        "  veto   --app ID --notice-change   guardian: veto a pending notice/guardian change\n"
        "  device --app ID (--add HEX | --remove HEX | --any-device on|off)   device list\n"
        "  tcb    --app ID (--require-up-to-date on|off | --deny-advisory ID |\n"
        "         --undeny-advisory ID | --allow-advisory ID | --unallow-advisory ID |\n"
        "         --out-of-date-grace SECONDS)   TCB policy: a platform reporting a denied\n"
        "                               advisory is refused; with up-to-date required, one\n"
        "                               whose advisories are all allow-listed is accepted,\n"
        "                               and OutOfDate ones during the grace period\n"
        "  notice --app ID [--period SECONDS --guardian ADDR]   show or set the upgrade\n"
        "                               notice (under a notice the change itself waits)\n"
        "  notice --app ID --escape-guardian ADDR   owner: replace a guardian that vetoes\n"
        "                               everything; ADDR takes office after twice the\n"
        "                               notice, the period unchanged, and the guardian\n"
        "                               cannot veto it\n"
        "  owner  --app ID (--transfer ADDR | --accept)   two-step ownership transfer\n"
        "  upgrade --app ID (--propose IMPL | --execute IMPL | --veto)   UUPS upgrade of\n"
        "                               the app contract (under a notice: propose, wait,\n"
        "                               execute; the guardian may veto)\n"
        "  disable-upgrades --app ID --yes   no upgrade ever again (irreversible)\n"
        "  status --app ID [--json] [--from-block N] [--log-window N]\n"
        "                               owner, settings, the allowed and pending compose\n"
        "                               hashes, devices and advisories read from the\n"
        "                               contract's state (apps from before enumeration: the\n"
        "                               hashes the history names), and the\n"
        "                               history of the app's events with its block range: from\n"
        "                               block N (default: the contract's creation block), N\n"
        "                               blocks per request (default %u), with the\n"
        "                               PolicyChanged events (dstack's tags: policy, value, on/\n"
        "                               off, actor)\n"
        "  index --app ID [--from-block N] [--log-window N]   an app contract upgraded from a\n"
        "                               version without enumeration lists what it held before\n"
        "                               only once indexed: finds those values in its history\n"
        "                               and sends indexExistingEntries (anyone may; it only\n"
        "                               indexes what the contract holds)\n"
        "  list [--json]                the apps registered with the KMS contract: app id,\n"
        "                               owner (a contract: multisig, timelock, DAO?), notice\n"
        "                               period, allowed and pending compose hashes; read from\n"
        "                               its state page by page (a KMS contract from before\n"
        "                               enumeration: its AppRegistered events, --from-block)\n\n"
        "Where (every subcommand but compose-hash):\n"
        "  --state DIR          devnet state directory (default ./%s): chain, KMS contract\n"
        "                       and, on a devnet, the default signing key\n"
        "  --rpc-url URL        chain node (instead of the devnet's)\n"
        "  --kms-contract ADDR  KMS contract (instead of the devnet's)\n"
        "\n" KG_CLI_SIGNER_USAGE "\n" KG_CLI_WRITE_EXIT_USAGE,
        KG_CHAIN_LOG_WINDOW, KG_DEVNET_DEFAULT_DIR);
}

typedef struct app_args {
    const char *state, *rpc_url, *kms_contract, *key_file;
    const char *app, *compose, *hash, *owner, *guardian, *device;
    const char *timelock;
    const char *escape_guardian;   /* notice --escape-guardian ADDR */
    kg_chain_history_opts history; /* status: --from-block, --log-window */
    const char *tcb;               /* deploy: --tcb up-to-date|not-revoked */
    bool json;
    const char *positional;
    kg_cli_signer_opts signer; /* --via-safe, --via-governor, --calldata, ... */
    /* settings subcommands (device, tcb, notice, owner, upgrade, disable-upgrades) */
    const char *add, *remove, *any_device, *require_up_to_date, *deny_advisory, *undeny_advisory,
        *allow_advisory, *unallow_advisory, *grace, *period, *transfer, *propose_impl,
        *execute_impl;
    bool notice_change, accept, veto, yes;
    int n_settings; /* how many of those were given */
} app_args;

enum {
    O_STATE = 256,
    O_RPC,
    O_KMSC,
    O_KEYFILE,
    O_APP,
    O_COMPOSE,
    O_HASH,
    O_OWNER,
    O_TIMELOCK,
    O_GUARDIAN,
    O_DEVICE,
    O_TCB,
    O_JSON,
    O_FROM,
    O_HELP,
    O_ADD,
    O_REMOVE,
    O_ANY,
    O_REQ_UTD,
    O_DENY_ADV,
    O_UNDENY_ADV,
    O_ALLOW_ADV,
    O_UNALLOW_ADV,
    O_GRACE,
    O_PERIOD,
    O_NOTICE_CHANGE,
    O_TRANSFER,
    O_ACCEPT,
    O_PROPOSE,
    O_EXECUTE,
    O_VETO,
    O_YES,
    O_ESCAPE,
    O_WINDOW
};

static kg_result parse_args(app_args *a, bool *help, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, O_STATE},
        {"rpc-url", required_argument, NULL, O_RPC},
        {"kms-contract", required_argument, NULL, O_KMSC},
        {"private-key-file", required_argument, NULL, O_KEYFILE},
        {"app", required_argument, NULL, O_APP},
        {"compose", required_argument, NULL, O_COMPOSE},
        {"hash", required_argument, NULL, O_HASH},
        {"owner", required_argument, NULL, O_OWNER},
        {"timelock", required_argument, NULL, O_TIMELOCK},
        {"guardian", required_argument, NULL, O_GUARDIAN},
        {"device", required_argument, NULL, O_DEVICE},
        {"tcb", required_argument, NULL, O_TCB},
        {"json", no_argument, NULL, O_JSON},
        {"from-block", required_argument, NULL, O_FROM},
        {"log-window", required_argument, NULL, O_WINDOW},
        {"help", no_argument, NULL, O_HELP},
        {"add", required_argument, NULL, O_ADD},
        {"remove", required_argument, NULL, O_REMOVE},
        {"any-device", required_argument, NULL, O_ANY},
        {"require-up-to-date", required_argument, NULL, O_REQ_UTD},
        {"deny-advisory", required_argument, NULL, O_DENY_ADV},
        {"undeny-advisory", required_argument, NULL, O_UNDENY_ADV},
        {"allow-advisory", required_argument, NULL, O_ALLOW_ADV},
        {"unallow-advisory", required_argument, NULL, O_UNALLOW_ADV},
        {"out-of-date-grace", required_argument, NULL, O_GRACE},
        {"period", required_argument, NULL, O_PERIOD},
        {"notice-change", no_argument, NULL, O_NOTICE_CHANGE},
        {"transfer", required_argument, NULL, O_TRANSFER},
        {"accept", no_argument, NULL, O_ACCEPT},
        {"propose", required_argument, NULL, O_PROPOSE},
        {"execute", required_argument, NULL, O_EXECUTE},
        {"veto", no_argument, NULL, O_VETO},
        {"yes", no_argument, NULL, O_YES},
        {"escape-guardian", required_argument, NULL, O_ESCAPE},
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
        case O_KMSC: a->kms_contract = optarg; break;
        case O_KEYFILE: a->key_file = optarg; break;
        case O_APP: a->app = optarg; break;
        case O_COMPOSE: a->compose = optarg; break;
        case O_HASH: a->hash = optarg; break;
        case O_OWNER: a->owner = optarg; break;
        case O_TIMELOCK: a->timelock = optarg; break;
        case O_GUARDIAN: a->guardian = optarg; break;
        case O_DEVICE: a->device = optarg; break;
        case O_TCB: a->tcb = optarg; break;
        case O_JSON: a->json = true; break;
        case O_FROM:
            KG_GUARD(kg_cli_parse_block(&a->history.from_block, "--from-block", optarg));
            a->history.has_from = true;
            break;
        case O_WINDOW: KG_GUARD(kg_cli_parse_log_window(&a->history.window, optarg)); break;
        case O_HELP: *help = true; return KG_OK;
        case O_ADD:
            a->add = optarg;
            a->n_settings++;
            break;
        case O_REMOVE:
            a->remove = optarg;
            a->n_settings++;
            break;
        case O_ANY:
            a->any_device = optarg;
            a->n_settings++;
            break;
        case O_REQ_UTD:
            a->require_up_to_date = optarg;
            a->n_settings++;
            break;
        case O_DENY_ADV:
            a->deny_advisory = optarg;
            a->n_settings++;
            break;
        case O_UNDENY_ADV:
            a->undeny_advisory = optarg;
            a->n_settings++;
            break;
        case O_ALLOW_ADV:
            a->allow_advisory = optarg;
            a->n_settings++;
            break;
        case O_UNALLOW_ADV:
            a->unallow_advisory = optarg;
            a->n_settings++;
            break;
        case O_GRACE:
            a->grace = optarg;
            a->n_settings++;
            break;
        case O_PERIOD: a->period = optarg; break;
        case O_NOTICE_CHANGE: a->notice_change = true; break;
        case O_TRANSFER:
            a->transfer = optarg;
            a->n_settings++;
            break;
        case O_ACCEPT:
            a->accept = true;
            a->n_settings++;
            break;
        case O_PROPOSE:
            a->propose_impl = optarg;
            a->n_settings++;
            break;
        case O_EXECUTE:
            a->execute_impl = optarg;
            a->n_settings++;
            break;
        case O_VETO:
            a->veto = true;
            a->n_settings++;
            break;
        case O_YES: a->yes = true; break;
        case O_ESCAPE: a->escape_guardian = optarg; break;
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
    return KG_OK;
}

/* compose_hash = SHA-256 of the file's raw bytes (docs/protocol.md section 2; never
 * re-serialized). */
static kg_result compose_hash_file(uint8_t out[32], const char *path)
{
    kg_buf text;
    kg_buf_init(&text, APP_MAX_COMPOSE + 1);
    kg_result rc = kg_cli_read_file(&text, path, APP_MAX_COMPOSE);
    if (kg_ok(rc))
        rc = kg_sha256(out, text.data, text.len);
    kg_buf_free(&text);
    if (kg_failed(rc))
        return kg_error_context("compose file");
    return KG_OK;
}

/* The compose hash of a file that is an app-compose.json: `compose-hash` and `deploy` refuse a
 * file that is not one JSON object (KG_ERR_USAGE: the wrong file was given; nothing is sent),
 * since no agent could boot it. The hash itself stays dstack's: SHA-256 of the raw bytes, as
 * read, never re-serialized (`sha256sum FILE` gives it for any file). */
static kg_result compose_hash_json_file(uint8_t out[32], const char *path)
{
    kg_buf text;
    json_error_t jerr;
    kg_buf_init(&text, APP_MAX_COMPOSE + 1);
    kg_result rc = kg_cli_read_file(&text, path, APP_MAX_COMPOSE);
    if (kg_ok(rc)) {
        json_t *j = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
        if (j == NULL)
            rc = kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                              "compose file '%s' is not JSON (line %d, column %d: %s): an "
                              "app-compose.json is one JSON object",
                              path, jerr.line, jerr.column, jerr.text);
        else if (!json_is_object(j))
            rc = kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                              "compose file '%s' is JSON but not an object: an app-compose.json "
                              "is one JSON object",
                              path);
        json_decref(j);
    }
    if (kg_ok(rc))
        rc = kg_sha256(out, text.data, text.len);
    kg_buf_free(&text);
    if (kg_failed(rc) && kg_error_code() != KG_ERR_USAGE)
        return kg_error_context("compose file");
    return rc;
}

/* The hash a subcommand acts on: --compose FILE or --hash HEX, exactly one. */
static kg_result target_hash(uint8_t out[32], const app_args *a)
{
    KG_ENSURE((a->compose != NULL) != (a->hash != NULL), KG_ERR_USAGE,
              "give exactly one of --compose FILE and --hash HEX");
    if (a->compose != NULL)
        return compose_hash_file(out, a->compose);
    return kg_cli_parse_hash(out, "--hash", a->hash);
}

static void hex32(char out[65], const uint8_t h[32])
{
    if (kg_failed(kg_hex_encode(out, 65, h, 32))) {
        kg_error_clear();
        out[0] = '\0';
    }
}

static void addr_text(char out[43], const uint8_t a[20])
{
    kg_eth_address_checksum(out, a);
}

/* ---- reading an app -------------------------------------------------------------------------- */

typedef struct app_info {
    uint8_t owner[20];
    uint64_t notice_period;
    uint8_t guardian[20];
    bool allow_any_device, require_tcb, upgrades_disabled, registered;
} app_info;

static kg_result view_word(const kg_chain *c, kg_abi_decoded *out, kg_abi_type type,
                           const uint8_t to[20], const char *sig, kg_buf *ret)
{
    return kg_chain_view(c, out, &type, 1, ret, to, sig, NULL, 0);
}

/* Reads the app's settings; "unknown app" (no contract, not registered) fails clearly. */
static kg_result app_read(app_info *info, const kg_cli_target *t, const uint8_t app[20],
                          const char *app_text)
{
    kg_result rc = KG_ERROR;
    bool has_code = false;
    kg_buf ret;
    kg_abi_decoded d[2];
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    memset(info, 0, sizeof(*info));
    KG_GUARD_C(kg_chain_has_code(&t->chain, &has_code, app));
    KG_ENSURE_C(has_code, KG_ERR_NOT_FOUND, "unknown app '%s': no contract at that address",
                app_text);
    if (t->has_kms) {
        kg_abi_value arg = kg_abi_address(app);
        kg_abi_type ty = KG_ABI_T_BOOL;
        KG_GUARD_C(
            kg_chain_view(&t->chain, d, &ty, 1, &ret, t->kms, "registeredApps(address)", &arg, 1));
        info->registered = kg_abi_get_bool(&d[0]);
        KG_ENSURE_C(info->registered, KG_ERR_NOT_FOUND,
                    "unknown app '%s': not registered with the KMS contract", app_text);
    }
    if (kg_failed(view_word(&t->chain, d, KG_ABI_T_ADDRESS, app, "owner()", &ret))) {
        (void)kg_error_context("'%s' is not a keygate app contract", app_text);
        goto cleanup;
    }
    kg_abi_get_address(info->owner, &d[0]);
    kg_abi_type nt[2] = {KG_ABI_T_UINT64, KG_ABI_T_ADDRESS};
    KG_GUARD_C(kg_chain_view(&t->chain, d, nt, 2, &ret, app, "upgradeNotice()", NULL, 0));
    info->notice_period = kg_abi_get_u64(&d[0]);
    kg_abi_get_address(info->guardian, &d[1]);
    KG_GUARD_C(view_word(&t->chain, d, KG_ABI_T_BOOL, app, "allowAnyDevice()", &ret));
    info->allow_any_device = kg_abi_get_bool(&d[0]);
    KG_GUARD_C(view_word(&t->chain, d, KG_ABI_T_BOOL, app, "requireTcbUpToDate()", &ret));
    info->require_tcb = kg_abi_get_bool(&d[0]);
    KG_GUARD_C(view_word(&t->chain, d, KG_ABI_T_BOOL, app, "upgradesDisabled()", &ret));
    info->upgrades_disabled = kg_abi_get_bool(&d[0]);
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

/* composeHashState(h): 0 none, 1 pending, 2 allowed; *activates for pending ones. */
static kg_result hash_state(const kg_chain *c, uint64_t *state, uint64_t *activates,
                            const uint8_t app[20], const uint8_t h[32])
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_value arg = kg_abi_bytes32(h);
    kg_abi_type ty = KG_ABI_T_UINT8;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(c, &d, &ty, 1, &ret, app, "composeHashState(bytes32)", &arg, 1);
    if (kg_ok(rc)) {
        *state = kg_abi_get_u64(&d);
        ty = KG_ABI_T_UINT64;
        rc = kg_chain_view(c, &d, &ty, 1, &ret, app, "composeHashActivatesAt(bytes32)", &arg, 1);
        if (kg_ok(rc))
            *activates = kg_abi_get_u64(&d);
    }
    kg_buf_free(&ret);
    return rc;
}

/* The KMS contract's guaranteed governance notice (KeygateKms.guaranteedNotice(), seconds). A
 * KMS contract without it (an older keygate or a dstack KMS) reverts: *has = false. */
static kg_result kms_notice(bool *has, uint64_t *notice, const kg_cli_target *t)
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_UINT64;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    *has = false;
    *notice = 0;
    kg_result rc =
        kg_chain_view(&t->chain, &d, &ty, 1, &ret, t->kms, "guaranteedNotice()", NULL, 0);
    if (kg_ok(rc)) {
        *has = true;
        *notice = kg_abi_get_u64(&d);
    } else if (kg_error_code() == KG_ERR_DENIED) {
        kg_error_clear();
        rc = KG_OK;
    }
    kg_buf_free(&ret);
    return rc;
}

/* A warning (NULL if none) when the KMS governance can act faster than the app's notice: the
 * KMS then denies the app (contracts/README.md), and its owner could change the OS images,
 * KMS code or KMS contract sooner than the app's users expect. Caller frees it. */
static char *kms_notice_warning(const kg_cli_target *t, uint64_t app_notice, json_t *out)
{
    bool has = false;
    uint64_t kn = 0;
    if (!t->has_kms || app_notice == 0)
        return NULL;
    if (kg_failed(kms_notice(&has, &kn, t))) {
        kg_error_clear();
        return NULL;
    }
    if (out != NULL)
        json_object_set_new(out, "kms_governance_notice",
                            has ? json_integer((json_int_t)kn) : json_null());
    if (has && kn >= app_notice)
        return NULL;
    char *w = malloc(512);
    if (w == NULL)
        return NULL;
    if (has)
        snprintf(w, 512,
                 "the KMS contract's governance notice (%" PRIu64 " s) is shorter than this app's "
                 "notice (%" PRIu64 " s): the KMS denies the app until its owner raises it "
                 "('keygate kms notice --period %" PRIu64 " --guardian ADDR')",
                 kn, app_notice, app_notice);
    else
        snprintf(w, 512,
                 "the KMS contract has no governance notice: its owner can change OS images, KMS "
                 "code or the KMS contract at once, faster than this app's notice (%" PRIu64 " s)",
                 app_notice);
    return w;
}

/* ---- subcommands --------------------------------------------------------------------------- */

static int cmd_compose_hash(const app_args *a)
{
    uint8_t h[32];
    char hex[65];
    if (a->positional == NULL && a->compose == NULL) {
        fprintf(stderr, "keygate app compose-hash: FILE is required\n");
        return KG_EXIT_USAGE;
    }
    if (kg_failed(compose_hash_json_file(h, a->positional ? a->positional : a->compose)))
        return kg_cli_fail();
    hex32(hex, h);
    if (a->json)
        printf("{\"compose_hash\":\"%s\"}\n", hex);
    else
        printf("%s\n", hex);
    return KG_EXIT_OK;
}

static kg_result uint_arg(uint64_t *out, const char *opt, const char *text, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    KG_ENSURE(errno == 0 && end != text && *end == '\0' && text[0] != '-' && v <= max, KG_ERR_USAGE,
              "%s '%s' is not a number of seconds (0..%" PRIu64 ")", opt, text, max);
    *out = v;
    return KG_OK;
}

/* topics[1] of the factory's AppDeployedViaFactory log = the new app id (contracts/README.md). */
static kg_result app_id_from_receipt(uint8_t app[20], const kg_eth_receipt *receipt,
                                     const uint8_t kms[20])
{
    uint8_t topic0[32];
    const char *sig = "AppDeployedViaFactory(address,address)";
    kg_keccak256(topic0, sig, strlen(sig));
    for (size_t i = 0; i < receipt->logs.count; i++) {
        const kg_eth_log *l = &receipt->logs.items[i];
        if (l->n_topics >= 2 && memcmp(l->address, kms, 20) == 0 &&
            memcmp(l->topics[0], topic0, 32) == 0) {
            memcpy(app, l->topics[1] + 12, 20);
            return KG_OK;
        }
    }
    KG_BAIL(KG_ERR_INPUT, "deployment receipt has no AppDeployedViaFactory event");
}

static json_t *tx_fields(json_t *o, const kg_eth_receipt *receipt)
{
    json_object_set_new(o, "block", json_integer((json_int_t)receipt->block_number));
    json_object_set_new(o, "tx", kg_chain_hex_json(receipt->tx_hash, 32));
    return o;
}

/* deploy's --tcb: the TCB policy is chosen explicitly, never by default. The factory (like
 * dstack's) takes a requireTcbUpToDate flag; false serves every status the KMS's quote
 * verification accepts, which is all but Revoked, and would be a silent choice for the app's
 * users (contracts/README.md, "TCB policy at deployment"). */
static kg_result tcb_policy_arg(bool *require_up_to_date, const char *text)
{
    KG_ENSURE(text != NULL, KG_ERR_USAGE,
              "--tcb POLICY is required: up-to-date (only platforms whose TCB status is UpToDate) "
              "or not-revoked (any TCB status but Revoked, OutOfDate included)");
    if (strcmp(text, "up-to-date") == 0)
        *require_up_to_date = true;
    else if (strcmp(text, "not-revoked") == 0)
        *require_up_to_date = false;
    else
        KG_BAIL(KG_ERR_USAGE, "--tcb '%s' is not a TCB policy: give up-to-date or not-revoked",
                text);
    return KG_OK;
}

static int cmd_deploy(const app_args *a)
{
    kg_cli_target t;
    kg_cli_signer sg;
    uint8_t owner[20], guardian[20], h[32], device[32], app[20];
    uint64_t notice = 0;
    bool require_tcb = false;
    kg_eth_receipt receipt;
    kg_buf data;
    int status = KG_EXIT_FAILED;
    memset(&t, 0, sizeof(t));
    memset(&sg, 0, sizeof(sg));
    memset(&receipt, 0, sizeof(receipt));
    memset(guardian, 0, sizeof(guardian));
    memset(device, 0, sizeof(device));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);

    /* usage first: nothing touches the chain before the arguments are known to be good */
    if ((a->compose == NULL) == (a->hash == NULL)) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "give exactly one of --compose FILE and --hash HEX");
        goto fail;
    }
    if ((a->timelock != NULL) != (a->guardian != NULL)) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "--timelock SECONDS and --guardian ADDR go together");
        goto fail;
    }
    if (a->app != NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "deploy takes no --app (the app id is assigned by the chain)");
        goto fail;
    }
    if (kg_failed(tcb_policy_arg(&require_tcb, a->tcb)) ||
        (a->timelock && (kg_failed(uint_arg(&notice, "--timelock", a->timelock, APP_MAX_NOTICE)) ||
                         kg_failed(kg_cli_parse_address(guardian, "--guardian", a->guardian)))) ||
        (a->owner && kg_failed(kg_cli_parse_address(owner, "--owner", a->owner))) ||
        (a->device && kg_failed(kg_cli_parse_hash(device, "--device", a->device))) ||
        (a->compose != NULL ? kg_failed(compose_hash_json_file(h, a->compose))
                            : kg_failed(kg_cli_parse_hash(h, "--hash", a->hash))))
        goto fail;
    if (kg_failed(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)))
        goto fail;
    if (!t.has_kms) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "no KMS contract: give --kms-contract ADDR or a devnet --state");
        goto fail;
    }
    if (kg_failed(kg_cli_signer_open(&sg, &t, &a->signer)))
        goto fail;
    if (a->owner == NULL) {
        if (!sg.acting_known) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "--calldata: give the app's --owner ADDR");
            goto fail;
        }
        memcpy(owner, sg.acting, 20); /* the signer, the Safe or the Governor's timelock */
    }
    bool any_device = a->device == NULL; /* without a device list, any device may run it */
    kg_abi_value args[8] = {kg_abi_address(owner),    kg_abi_bool(false),
                            kg_abi_bool(require_tcb), kg_abi_bool(any_device),
                            kg_abi_bytes32(device),   kg_abi_bytes32(h),
                            kg_abi_uint64(notice),    kg_abi_address(guardian)};
    kg_result rc =
        a->timelock != NULL
            ? kg_chain_calldata(&data,
                                "deployAndRegisterAppWithNotice(address,bool,bool,bool,bytes32,"
                                "bytes32,uint64,address)",
                                args, 8)
            : kg_chain_calldata(
                  &data, "deployAndRegisterApp(address,bool,bool,bool,bytes32,bytes32)", args, 6);
    json_t *out = json_object();
    bool predicted = sg.kind != KG_SIGNER_KEY;
    if (kg_failed(rc))
        goto fail;
    if (!predicted) {
        if (kg_failed(kg_chain_send(&t.chain, &receipt, sg.key, t.kms, &data,
                                    kg_cli_signer_wait_s(&sg))) ||
            kg_failed(app_id_from_receipt(app, &receipt, t.kms))) {
            json_decref(out);
            (void)kg_error_context("deploying the app");
            goto fail;
        }
        tx_fields(out, &receipt);
    } else {
        /* The factory returns the new app id: simulate as the acting address to learn it. */
        kg_buf ret;
        kg_abi_decoded d;
        kg_abi_type ty = KG_ABI_T_ADDRESS;
        bool done = false;
        kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
        rc = kg_chain_call_from(&t.chain, &ret, sg.acting_known ? sg.acting : owner, t.kms, &data);
        if (kg_ok(rc))
            rc = kg_abi_decode(&d, &ty, 1, ret.data, ret.len, 64);
        kg_buf_free(&ret);
        if (kg_ok(rc)) {
            kg_abi_get_address(app, &d);
            rc = kg_cli_write(&t, &sg, t.kms, &data, out, &done);
        }
        if (kg_failed(rc)) {
            json_decref(out);
            (void)kg_error_context("deploying the app");
            goto fail;
        }
        /* on chain now (Safe): the prediction held only if the app has code and is registered */
        json_object_set_new(out, "app_id_predicted", json_boolean(!done));
        if (done) {
            app_info chk;
            char at[43];
            addr_text(at, app);
            if (kg_failed(app_read(&chk, &t, app, at))) {
                json_decref(out);
                (void)kg_error_context("the deployed app is not where the simulation put it");
                goto fail;
            }
        }
    }
    char app_s[43], owner_s[43], hex[65];
    addr_text(app_s, app);
    addr_text(owner_s, owner);
    hex32(hex, h);
    json_object_set_new(out, "app_id", json_string(app_s));
    json_object_set_new(out, "compose_hash", json_string(hex));
    json_object_set_new(out, "owner", json_string(owner_s));
    json_object_set_new(out, "tcb_policy", json_string(require_tcb ? "up-to-date" : "not-revoked"));
    if (a->timelock != NULL) {
        char g[43];
        addr_text(g, guardian);
        json_object_set_new(out, "notice_period", json_integer((json_int_t)notice));
        json_object_set_new(out, "guardian", json_string(g));
    }
    char *warn = kms_notice_warning(&t, notice, NULL);
    if (warn != NULL) {
        json_object_set_new(out, "warnings", json_pack("[s]", warn));
        fprintf(stderr, "keygate: warning: %s\n", warn);
        free(warn);
    }
    kg_cli_print_json(out, true);
    json_decref(out);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    kg_cli_signer_close(&sg);
    kg_eth_receipt_free(&receipt);
    kg_buf_free(&data);
    kg_cli_target_close(&t);
    return status;
}

typedef enum { ACT_ALLOW, ACT_REVOKE, ACT_PROPOSE, ACT_VETO } app_action;

/* allow / revoke / propose / veto: checks that make the contract's answer predictable, so a
 * mistake is reported clearly and nothing is sent. */
static int cmd_change(const app_args *a, app_action act)
{
    static const char *const names[] = {"allow", "revoke", "propose", "veto"};
    static const char *const sigs[] = {"addComposeHash(bytes32)", "removeComposeHash(bytes32)",
                                       "proposeComposeHash(bytes32)", "vetoComposeHash(bytes32)"};
    kg_cli_target t;
    kg_cli_signer sg;
    app_info info;
    uint8_t app[20], h[32];
    uint64_t st = 0, activates = 0;
    kg_buf data;
    int status = KG_EXIT_FAILED;
    char app_s[43], hex[65], what[64];
    memset(&t, 0, sizeof(t));
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);

    if (a->app == NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--app ID is required");
        goto fail;
    }
    if (kg_failed(kg_cli_parse_address(app, "--app", a->app)) || kg_failed(target_hash(h, a)))
        goto fail;
    if (kg_failed(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)) ||
        kg_failed(kg_cli_signer_open(&sg, &t, &a->signer)) ||
        kg_failed(app_read(&info, &t, app, a->app)) ||
        kg_failed(hash_state(&t.chain, &st, &activates, app, h)))
        goto fail;
    addr_text(app_s, app);
    hex32(hex, h);
    snprintf(what, sizeof(what), "app %s", app_s);
    if (kg_failed(kg_cli_signer_require(&sg, act == ACT_VETO ? info.guardian : info.owner,
                                        act == ACT_VETO ? "guardian" : "owner", what)))
        goto fail;
    bool unchanged = false;
    switch (act) {
    case ACT_ALLOW:
        if (info.notice_period > 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "app %s has a %" PRIu64 " s upgrade notice: use 'keygate app "
                               "propose' (the hash becomes allowed after the notice period)",
                               app_s, info.notice_period);
            goto fail;
        }
        unchanged = st == 2;
        break;
    case ACT_REVOKE: unchanged = st == 0; break;
    case ACT_PROPOSE:
        if (info.notice_period == 0) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "app %s has no upgrade notice: use 'keygate app allow'", app_s);
            goto fail;
        }
        if (st != 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "compose hash %s is already %s for app %s", hex,
                               st == 2 ? "allowed" : "pending", app_s);
            goto fail;
        }
        break;
    case ACT_VETO:
        if (st != 1 || activates <= (uint64_t)time(NULL)) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "compose hash %s is not a pending proposal of app %s (%s)", hex,
                               app_s,
                               st == 0   ? "never proposed or vetoed"
                               : st == 2 ? "already allowed"
                                         : "notice period over");
            goto fail;
        }
        break;
    }
    json_t *out =
        json_pack("{s:s,s:s,s:s}", "app_id", app_s, "compose_hash", hex, "action", names[act]);
    if (unchanged) {
        json_object_set_new(out, "unchanged", json_true());
        json_object_set_new(out, "state", json_string(st == 2 ? "allowed" : "none"));
        kg_cli_print_json(out, true);
        json_decref(out);
        status = KG_EXIT_OK;
        goto done;
    }
    kg_abi_value arg = kg_abi_bytes32(h);
    if (kg_failed(kg_chain_calldata(&data, sigs[act], &arg, 1)) ||
        kg_failed(kg_cli_write(&t, &sg, app, &data, out, NULL))) {
        json_decref(out);
        (void)kg_error_context("%s %s", names[act], hex);
        goto fail;
    }
    if (kg_ok(hash_state(&t.chain, &st, &activates, app, h)))
        kg_cli_put_value_state(out, st == 2, st == 1 ? activates : 0);
    else
        kg_error_clear();
    kg_cli_print_json(out, true);
    json_decref(out);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    kg_cli_target_close(&t);
    return status;
}

/* ---- settings: devices, TCB policy, notice, ownership, upgrades ---------------------------- */

/* Who may make a change: ROLE_ANYONE for the permissionless indexExistingEntries. */
typedef enum { ROLE_OWNER, ROLE_GUARDIAN, ROLE_PENDING_OWNER, ROLE_ANYONE } app_role;

static kg_result on_off(bool *out, const char *opt, const char *text)
{
    if (strcmp(text, "on") == 0 || strcmp(text, "true") == 0) {
        *out = true;
        return KG_OK;
    }
    if (strcmp(text, "off") == 0 || strcmp(text, "false") == 0) {
        *out = false;
        return KG_OK;
    }
    KG_BAIL(KG_ERR_USAGE, "%s '%s': say on or off", opt, text);
}

/* One write to the app `a->app` by `role`: checks the role, simulates, writes through the
 * signer, prints {app_id, action, ...what kg_cli_write added}. */
static int app_write(const app_args *a, const char *action, app_role role, const char *sig,
                     const kg_abi_value *args, size_t n, json_t *extra)
{
    kg_cli_target t;
    kg_cli_signer sg;
    app_info info;
    uint8_t app[20], need[20];
    kg_buf data, ret;
    char app_s[43], what[64];
    int status = KG_EXIT_FAILED;
    memset(&t, 0, sizeof(t));
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    json_t *out = extra != NULL ? extra : json_object();
    if (a->app == NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--app ID is required");
        goto fail;
    }
    if (kg_failed(kg_cli_parse_address(app, "--app", a->app)) ||
        kg_failed(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)) ||
        kg_failed(kg_cli_signer_open(&sg, &t, &a->signer)) ||
        kg_failed(app_read(&info, &t, app, a->app)))
        goto fail;
    addr_text(app_s, app);
    snprintf(what, sizeof(what), "app %s", app_s);
    memcpy(need, role == ROLE_GUARDIAN ? info.guardian : info.owner, 20);
    if (role == ROLE_PENDING_OWNER) {
        kg_abi_decoded d;
        if (kg_failed(view_word(&t.chain, &d, KG_ABI_T_ADDRESS, app, "pendingOwner()", &ret)))
            goto fail;
        kg_abi_get_address(need, &d);
        static const uint8_t zero[20];
        if (memcmp(need, zero, 20) == 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "no ownership transfer of %s is pending", what);
            goto fail;
        }
    }
    if (role != ROLE_ANYONE &&
        kg_failed(kg_cli_signer_require(&sg, need,
                                        role == ROLE_GUARDIAN        ? "guardian"
                                        : role == ROLE_PENDING_OWNER ? "pending owner"
                                                                     : "owner",
                                        what)))
        goto fail;
    json_object_set_new(out, "app_id", json_string(app_s));
    json_object_set_new(out, "action", json_string(action));
    if (kg_failed(kg_chain_calldata(&data, sig, args, n)) ||
        kg_failed(kg_cli_write(&t, &sg, app, &data, out, NULL))) {
        (void)kg_error_context("%s", action);
        goto fail;
    }
    kg_cli_print_json(out, true);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    kg_cli_signer_close(&sg);
    kg_buf_free(&ret);
    kg_buf_free(&data);
    kg_cli_target_close(&t);
    return status;
}

static int usage_fail(const char *msg, const char *sub)
{
    fprintf(stderr, "keygate app %s: %s\n", sub, msg);
    return KG_EXIT_USAGE;
}

/* device --add HEX | --remove HEX | --any-device on|off */
static int cmd_device(const app_args *a)
{
    uint8_t dev[32];
    bool on = false;
    if (a->n_settings != 1 || (a->add == NULL && a->remove == NULL && a->any_device == NULL))
        return usage_fail("give exactly one of --add HEX, --remove HEX, --any-device on|off",
                          "device");
    if (a->any_device != NULL) {
        if (kg_failed(on_off(&on, "--any-device", a->any_device)))
            return kg_cli_fail();
        kg_abi_value v = kg_abi_bool(on);
        return app_write(a, on ? "any-device on" : "any-device off", ROLE_OWNER,
                         "setAllowAnyDevice(bool)", &v, 1, NULL);
    }
    const char *hex = a->add != NULL ? a->add : a->remove;
    if (kg_failed(kg_cli_parse_hash(dev, a->add != NULL ? "--add" : "--remove", hex)))
        return kg_cli_fail();
    kg_abi_value v = kg_abi_bytes32(dev);
    return app_write(a, a->add != NULL ? "device add" : "device remove", ROLE_OWNER,
                     a->add != NULL ? "addDevice(bytes32)" : "removeDevice(bytes32)", &v, 1,
                     json_pack("{s:s}", "device", hex));
}

/* tcb: one TCB-policy change */
static int cmd_tcb(const app_args *a)
{
    if (a->n_settings != 1 ||
        (a->require_up_to_date == NULL && a->deny_advisory == NULL && a->undeny_advisory == NULL &&
         a->allow_advisory == NULL && a->unallow_advisory == NULL && a->grace == NULL))
        return usage_fail("give exactly one of --require-up-to-date on|off, --deny-advisory ID, "
                          "--undeny-advisory ID, --allow-advisory ID, --unallow-advisory ID, "
                          "--out-of-date-grace SECONDS",
                          "tcb");
    if (a->require_up_to_date != NULL) {
        bool on = false;
        if (kg_failed(on_off(&on, "--require-up-to-date", a->require_up_to_date)))
            return kg_cli_fail();
        kg_abi_value v = kg_abi_bool(on);
        return app_write(a, on ? "require-up-to-date on" : "require-up-to-date off", ROLE_OWNER,
                         "setRequireTcbUpToDate(bool)", &v, 1, NULL);
    }
    if (a->grace != NULL) {
        uint64_t g = 0;
        if (kg_failed(uint_arg(&g, "--out-of-date-grace", a->grace, APP_MAX_NOTICE)))
            return kg_cli_fail();
        kg_abi_value v = kg_abi_uint64(g);
        return app_write(a, "out-of-date-grace", ROLE_OWNER, "setOutOfDateGracePeriod(uint64)", &v,
                         1, json_pack("{s:I}", "grace_period", (json_int_t)g));
    }
    const char *id = a->deny_advisory     ? a->deny_advisory
                     : a->undeny_advisory ? a->undeny_advisory
                     : a->allow_advisory  ? a->allow_advisory
                                          : a->unallow_advisory;
    bool deny = a->deny_advisory != NULL || a->undeny_advisory != NULL;
    bool set = a->deny_advisory != NULL || a->allow_advisory != NULL;
    if (id[0] == '\0' || strlen(id) > 128) {
        fprintf(stderr, "keygate app tcb: advisory id '%s' must be 1..128 characters\n", id);
        return KG_EXIT_USAGE;
    }
    kg_abi_value v[2] = {kg_abi_string(id), kg_abi_bool(set)};
    return app_write(a,
                     deny ? (set ? "deny-advisory" : "undeny-advisory")
                          : (set ? "allow-advisory" : "unallow-advisory"),
                     ROLE_OWNER,
                     deny ? "setAdvisoryDenied(string,bool)" : "setAdvisoryAllowed(string,bool)", v,
                     2, json_pack("{s:s}", "advisory", id));
}

/* notice: show; --period S --guardian ADDR: set (owner); --escape-guardian ADDR: replace the
 * guardian without its consent (owner; contracts/README.md, "Guardian escape"); veto
 * --notice-change (guardian) */
static int cmd_notice(const app_args *a)
{
    if (a->escape_guardian != NULL) {
        uint8_t ng[20];
        if (a->period != NULL || a->guardian != NULL)
            return usage_fail("--escape-guardian ADDR goes alone (the period stays as it is)",
                              "notice");
        if (kg_failed(kg_cli_parse_address(ng, "--escape-guardian", a->escape_guardian)))
            return kg_cli_fail();
        kg_abi_value v[1] = {kg_abi_address(ng)};
        return app_write(a, "escape-guardian", ROLE_OWNER, "escapeGuardian(address)", v, 1,
                         json_pack("{s:s}", "new_guardian", a->escape_guardian));
    }
    if (a->period == NULL && a->guardian == NULL) {
        kg_cli_target t;
        app_info info;
        uint8_t app[20];
        kg_buf ret;
        kg_abi_decoded d[3];
        kg_abi_type nt[3] = {KG_ABI_T_UINT64, KG_ABI_T_ADDRESS, KG_ABI_T_UINT64};
        int status = KG_EXIT_FAILED;
        memset(&t, 0, sizeof(t));
        kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
        if (a->app == NULL) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--app ID is required");
        } else if (kg_ok(kg_cli_parse_address(app, "--app", a->app)) &&
                   kg_ok(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)) &&
                   kg_ok(app_read(&info, &t, app, a->app)) &&
                   kg_ok(kg_chain_view(&t.chain, d, nt, 3, &ret, app, "pendingUpgradeNotice()",
                                       NULL, 0))) {
            char g[43], pg[43];
            bool read_failed = false;
            addr_text(g, info.guardian);
            json_t *out =
                json_pack("{s:I,s:s}", "period", (json_int_t)info.notice_period, "guardian", g);
            if (kg_abi_get_u64(&d[2]) != 0) {
                uint8_t pa[20];
                kg_abi_get_address(pa, &d[1]);
                addr_text(pg, pa);
                json_t *p =
                    json_pack("{s:I,s:s,s:I}", "period", (json_int_t)kg_abi_get_u64(&d[0]),
                              "guardian", pg, "activates_at", (json_int_t)kg_abi_get_u64(&d[2]));
                /* an app from before the guardian escape has no such getter: no escape */
                kg_abi_type et[2] = {KG_ABI_T_ADDRESS, KG_ABI_T_UINT64};
                bool escape = false;
                if (kg_ok(kg_chain_view(&t.chain, d, et, 2, &ret, app, "pendingGuardianEscape()",
                                        NULL, 0)))
                    escape = kg_abi_get_u64(&d[1]) != 0;
                else if (kg_error_code() == KG_ERR_DENIED)
                    kg_error_clear();
                else
                    read_failed = true;
                json_object_set_new(p, "escape", json_boolean(escape));
                json_object_set_new(out, "pending", p);
            }
            if (!read_failed) {
                kg_cli_print_json(out, true);
                status = KG_EXIT_OK;
            }
            json_decref(out);
        }
        if (status != KG_EXIT_OK)
            status = kg_cli_fail();
        kg_buf_free(&ret);
        kg_cli_target_close(&t);
        return status;
    }
    uint64_t period = 0;
    uint8_t guardian[20];
    if (a->period == NULL || a->guardian == NULL)
        return usage_fail("--period SECONDS and --guardian ADDR go together", "notice");
    if (kg_failed(uint_arg(&period, "--period", a->period, APP_MAX_NOTICE)) ||
        kg_failed(kg_cli_parse_address(guardian, "--guardian", a->guardian)))
        return kg_cli_fail();
    kg_abi_value v[2] = {kg_abi_uint64(period), kg_abi_address(guardian)};
    return app_write(a, "notice", ROLE_OWNER, "setUpgradeNotice(uint64,address)", v, 2,
                     json_pack("{s:I,s:s}", "period", (json_int_t)period, "guardian", a->guardian));
}

/* owner --transfer ADDR (owner) | --accept (the pending owner) */
static int cmd_owner(const app_args *a)
{
    uint8_t to[20];
    if (a->n_settings != 1 || (a->transfer == NULL && !a->accept))
        return usage_fail("give exactly one of --transfer ADDR and --accept", "owner");
    if (a->accept)
        return app_write(a, "accept-ownership", ROLE_PENDING_OWNER, "acceptOwnership()", NULL, 0,
                         NULL);
    if (kg_failed(kg_cli_parse_address(to, "--transfer", a->transfer)))
        return kg_cli_fail();
    kg_abi_value v = kg_abi_address(to);
    return app_write(a, "transfer-ownership", ROLE_OWNER, "transferOwnership(address)", &v, 1,
                     json_pack("{s:s}", "pending_owner", a->transfer));
}

/* upgrade --propose IMPL | --execute IMPL (owner) | --veto (guardian) */
static int cmd_upgrade(const app_args *a)
{
    uint8_t impl[20];
    if (a->n_settings != 1 || (a->propose_impl == NULL && a->execute_impl == NULL && !a->veto))
        return usage_fail("give exactly one of --propose IMPL, --execute IMPL and --veto",
                          "upgrade");
    if (a->veto)
        return app_write(a, "veto-upgrade", ROLE_GUARDIAN, "vetoUpgrade()", NULL, 0, NULL);
    const char *text = a->propose_impl != NULL ? a->propose_impl : a->execute_impl;
    if (kg_failed(kg_cli_parse_address(impl, a->propose_impl ? "--propose" : "--execute", text)))
        return kg_cli_fail();
    kg_abi_value v[2] = {kg_abi_address(impl), kg_abi_bytes(NULL, 0)};
    if (a->propose_impl != NULL)
        return app_write(a, "propose-upgrade", ROLE_OWNER, "proposeUpgrade(address)", v, 1,
                         json_pack("{s:s}", "implementation", text));
    return app_write(a, "upgrade", ROLE_OWNER, "upgradeToAndCall(address,bytes)", v, 2,
                     json_pack("{s:s}", "implementation", text));
}

static int cmd_disable_upgrades(const app_args *a)
{
    if (!a->yes)
        return usage_fail("irreversible: the app's code can never be upgraded again; add --yes",
                          "disable-upgrades");
    return app_write(a, "disable-upgrades", ROLE_OWNER, "disableUpgrades()", NULL, 0, NULL);
}

/* Events an app contract emits (contracts/README.md), decoded for the history. */
typedef struct app_event {
    const char *sig;
    const char *name;
    int arg; /* 0 none, 1 bytes32 in topic1, 2 bytes32 in data, 3 bool in data, 4 addr topic1,
              * 5 new owner in topic2, 6 (string advisory id, bool) in data */
} app_event;

static const app_event app_events[] = {
    {"ComposeHashAdded(bytes32)", "ComposeHashAdded", 2},
    {"ComposeHashRemoved(bytes32)", "ComposeHashRemoved", 2},
    {"ComposeHashProposed(bytes32,uint64)", "ComposeHashProposed", 1},
    {"ComposeHashVetoed(bytes32,address)", "ComposeHashVetoed", 1},
    {"DeviceAdded(bytes32)", "DeviceAdded", 2},
    {"DeviceRemoved(bytes32)", "DeviceRemoved", 2},
    {"AllowAnyDeviceSet(bool)", "AllowAnyDeviceSet", 3},
    {"RequireTcbUpToDateSet(bool)", "RequireTcbUpToDateSet", 3},
    {"UpgradesDisabled()", "UpgradesDisabled", 0},
    {"UpgradeNoticeChanged(uint64,address)", "UpgradeNoticeChanged", 4},
    {"UpgradeProposed(address,uint64)", "UpgradeProposed", 4},
    {"UpgradeVetoed(address,address)", "UpgradeVetoed", 4},
    {"Upgraded(address)", "Upgraded", 4},
    {"OwnershipTransferred(address,address)", "OwnershipTransferred", 5},
    {"AdvisoryDenySet(string,bool)", "AdvisoryDenySet", 6},
    {"AdvisoryAllowSet(string,bool)", "AdvisoryAllowSet", 6},
};
#define N_APP_EVENTS (sizeof(app_events) / sizeof(app_events[0]))

/* PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool
 * enabled), which the contracts emit with every change (dstack's event and tags, and keygate's
 * own tags; contracts/README.md): a history entry {event, block, tx, policy (the tag, or the
 * 0x-hex id of an unknown one), value (hex), enabled, actor}, plus the value decoded as
 * "address" or "number" for the tags whose value is one. */
#define APP_POLICY_CHANGED "PolicyChanged(address,bytes32,bytes32,bool)"

static json_t *policy_entry(const kg_eth_log *l)
{
    char hex[65], actor[43];
    const char *name = kg_chain_policy_name(l->topics[2]);
    json_t *e = json_pack("{s:s,s:I,s:o}", "event", "PolicyChanged", "block",
                          (json_int_t)l->block_number, "tx", kg_chain_hex_json(l->tx_hash, 32));
    if (name != NULL)
        json_object_set_new(e, "policy", json_string(name));
    else
        json_object_set_new(e, "policy", kg_chain_hex_json(l->topics[2], 32));
    hex32(hex, l->topics[3]);
    json_object_set_new(e, "value", json_string(hex));
    json_object_set_new(e, "enabled", json_boolean(l->data_len >= 32 && l->data[31] != 0));
    kg_eth_address_checksum(actor, l->topics[1] + 12);
    json_object_set_new(e, "actor", json_string(actor));
    static const char *const addr_tags[] = {"implementation-upgrade", "upgrade-proposal",
                                            "registered-app", "app-implementation"};
    static const char *const num_tags[] = {"upgrade-notice", "tcb-out-of-date-grace",
                                           "governance-notice"};
    for (size_t i = 0; name != NULL && i < sizeof(addr_tags) / sizeof(addr_tags[0]); i++)
        if (strcmp(name, addr_tags[i]) == 0) {
            char a[43];
            kg_eth_address_checksum(a, l->topics[3] + 12);
            json_object_set_new(e, "address", json_string(a));
        }
    for (size_t i = 0; name != NULL && i < sizeof(num_tags) / sizeof(num_tags[0]); i++)
        if (strcmp(name, num_tags[i]) == 0) {
            uint64_t v = 0;
            for (int b = 24; b < 32; b++)
                v = (v << 8) | l->topics[3][b];
            json_object_set_new(e, "number", json_integer((json_int_t)v));
        }
    return e;
}

/* AdvisoryDenySet / AdvisoryAllowSet(string advisoryId, bool on): the id is whatever the owner
 * wrote on chain, so it is kept as text only when it is valid UTF-8, else escaped (\xNN); its
 * readers (the terminal, the dashboard's page) escape it again for their medium. */
static void advisory_entry(json_t *e, const kg_eth_log *l)
{
    static const kg_abi_type types[2] = {KG_ABI_T_STRING, KG_ABI_T_BOOL};
    kg_abi_decoded d[2];
    if (kg_failed(kg_abi_decode(d, types, 2, l->data, l->data_len, KG_APP_MAX_ADVISORY))) {
        kg_error_clear();
        json_object_set_new(e, "malformed", json_true());
        return;
    }
    json_t *id = json_stringn((const char *)d[0].data, d[0].len);
    if (id == NULL) {
        char esc[4 * KG_APP_MAX_ADVISORY + 1];
        size_t n = kg_text_escape(esc, sizeof(esc), (const char *)d[0].data, d[0].len);
        id = json_stringn(esc, n);
    }
    json_object_set_new(e, "advisory_id", id);
    json_object_set_new(e, "value", json_boolean(kg_abi_get_bool(&d[1])));
}

/* Decodes the app's logs into history entries; collects every compose hash seen in hashes. */
static kg_result app_history(json_t **history, json_t *hashes, const kg_eth_logs *logs)
{
    uint8_t topics[N_APP_EVENTS][32], policy_topic[32];
    for (size_t i = 0; i < N_APP_EVENTS; i++)
        kg_keccak256(topics[i], app_events[i].sig, strlen(app_events[i].sig));
    kg_keccak256(policy_topic, APP_POLICY_CHANGED, strlen(APP_POLICY_CHANGED));
    json_t *out = json_array();
    KG_ENSURE(out != NULL, KG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < logs->count; i++) {
        const kg_eth_log *l = &logs->items[i];
        if (l->n_topics < 1)
            continue;
        if (memcmp(l->topics[0], policy_topic, 32) == 0) {
            if (l->n_topics == 4)
                json_array_append_new(out, policy_entry(l));
            continue;
        }
        const app_event *ev = NULL;
        for (size_t k = 0; k < N_APP_EVENTS; k++)
            if (memcmp(l->topics[0], topics[k], 32) == 0)
                ev = &app_events[k];
        if (ev == NULL)
            continue; /* Initialized, ... */
        json_t *e = json_pack("{s:s,s:I,s:o}", "event", ev->name, "block",
                              (json_int_t)l->block_number, "tx", kg_chain_hex_json(l->tx_hash, 32));
        const uint8_t *t1 = l->n_topics >= 2 ? l->topics[1] : NULL;
        const uint8_t *word = l->data_len >= 32 ? l->data : NULL; /* first data word */
        char hex[65];
        switch (ev->arg) {
        case 1:
        case 2: {
            const uint8_t *v = ev->arg == 1 ? t1 : word;
            if (v != NULL) {
                hex32(hex, v);
                json_object_set_new(e, "value", json_string(hex));
                if (strncmp(ev->name, "ComposeHash", 11) == 0 && hashes != NULL)
                    json_object_set_new(hashes, hex, json_true());
            }
            if (ev->arg == 1 && word != NULL && strcmp(ev->name, "ComposeHashProposed") == 0) {
                uint64_t at = 0;
                for (int b = 24; b < 32; b++)
                    at = (at << 8) | word[b];
                json_object_set_new(e, "activates_at", json_integer((json_int_t)at));
            }
            if (l->n_topics >= 3 && strcmp(ev->name, "ComposeHashVetoed") == 0) {
                char g[43]; /* ComposeHashVetoed(hash, guardian): who vetoed */
                kg_eth_address_checksum(g, l->topics[2] + 12);
                json_object_set_new(e, "guardian", json_string(g));
            }
            break;
        }
        case 3:
            if (word != NULL)
                json_object_set_new(e, "value", json_boolean(word[31] != 0));
            break;
        case 4:
            if (t1 != NULL) {
                char a[43];
                kg_eth_address_checksum(a, t1 + 12);
                json_object_set_new(e, "address", json_string(a));
            }
            break;
        case 5:
            if (l->n_topics >= 3) {
                char a[43];
                kg_eth_address_checksum(a, l->topics[2] + 12);
                json_object_set_new(e, "new_owner", json_string(a));
            }
            break;
        case 6: advisory_entry(e, l); break;
        default: break;
        }
        json_array_append_new(out, e);
    }
    *history = out;
    return KG_OK;
}

/* Adds to the lists the compose hashes the history names that the contract holds but does not
 * list (an app contract upgraded from a version without enumeration, its old entries not
 * indexed yet), or, for a contract that cannot list at all, every one the history names that it
 * holds. Returns how many were added. */
static kg_result hashes_from_history(size_t *added, kg_cli_app_lists *l, const kg_chain *c,
                                     const uint8_t app[20], json_t *hashes)
{
    const char *hk;
    json_t *hv;
    *added = 0;
    json_object_foreach(hashes, hk, hv)
    {
        uint8_t h[32];
        uint64_t st = 0, at = 0;
        if (json_object_get(l->seen, hk) != NULL)
            continue;
        KG_GUARD(kg_hex_decode_exact(h, 32, hk));
        KG_GUARD(hash_state(c, &st, &at, app, h));
        if (st == 2)
            json_array_append_new(l->allowed, json_string(hk));
        else if (st == 1)
            json_array_append_new(l->pending, json_pack("{s:s,s:I}", "compose_hash", hk,
                                                        "activates_at", (json_int_t)at));
        if (st == 1 || st == 2)
            (*added)++;
    }
    return KG_OK;
}

kg_result kg_cli_app_status(json_t **out_json, const kg_cli_target *t, const uint8_t app[20],
                            const char *app_text, const kg_chain_history_opts *h)
{
    app_info info;
    kg_chain_history hist;
    kg_cli_app_lists lists;
    json_t *history = NULL, *hashes = json_object(), *out = NULL, *warnings = json_array();
    bool owner_code = false;
    size_t unlisted = 0;
    kg_result rc = KG_ERROR;
    *out_json = NULL;
    memset(&hist, 0, sizeof(hist));
    memset(&lists, 0, sizeof(lists));
    KG_ENSURE_C(hashes != NULL && warnings != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(app_read(&info, t, app, app_text));
    KG_GUARD_C(kg_chain_has_code(&t->chain, &owner_code, info.owner));
    /* the allow-lists from state first: the history below may cover only part of the chain */
    KG_GUARD_C(kg_cli_app_lists_read(&lists, &t->chain, app, false));
    KG_GUARD_C(kg_chain_history_read(&hist, &t->chain, app, NULL, h));
    KG_GUARD_C(app_history(&history, hashes, &hist.logs));
    KG_GUARD_C(hashes_from_history(&unlisted, &lists, &t->chain, app, hashes));
    char warn[512];
    if (!lists.enumerable) {
        snprintf(warn, sizeof(warn),
                 "this app contract cannot list its allow-lists (no composeHashCount(): a keygate "
                 "app from before enumeration): the compose hashes shown are those named in "
                 "blocks %" PRIu64 "..%" PRIu64 "%s",
                 hist.from_block, hist.to_block,
                 kg_chain_history_complete(&hist) ? "" : ", and older ones may be missing");
        json_array_append_new(warnings, json_string(warn));
    } else if (unlisted > 0) {
        snprintf(warn, sizeof(warn),
                 "%zu compose hash(es) the contract holds are missing from its enumeration (an "
                 "app contract upgraded from a version without it): shown from the history; "
                 "anyone can index them with indexExistingEntries (contracts/README.md)",
                 unlisted);
        json_array_append_new(warnings, json_string(warn));
    }
    char app_s[43], owner_s[43], guard_s[43];
    addr_text(app_s, app);
    addr_text(owner_s, info.owner);
    addr_text(guard_s, info.guardian);
    /* owner_is_contract: a multisig, a timelock or a DAO rather than one key */
    out = json_pack("{s:s,s:s,s:b,s:b,s:{s:b,s:b,s:b,s:I,s:s},s:O,s:O,s:O}", "app_id", app_s,
                    "owner", owner_s, "owner_is_contract", owner_code, "registered",
                    info.registered || !t->has_kms, "settings", "allow_any_device",
                    info.allow_any_device, "require_tcb_up_to_date", info.require_tcb,
                    "upgrades_disabled", info.upgrades_disabled, "notice_period",
                    (json_int_t)info.notice_period, "guardian", guard_s, "allowed_compose_hashes",
                    lists.allowed, "pending_compose_hashes", lists.pending, "history", history);
    KG_ENSURE_C(out != NULL, KG_ERR_NOMEM, "out of memory");
    /* where the lists come from: the contract's state at a block, or (older contracts) the
     * compose hashes the history names, confirmed with the contract's getters */
    json_object_set_new(out, "lists_from", json_string(lists.enumerable ? "contract" : "history"));
    json_object_set_new(out, "lists_block", json_integer((json_int_t)lists.block));
    if (lists.enumerable) {
        json_object_set(out, "allowed_devices", lists.devices);
        json_object_set(out, "denied_advisories", lists.denied_advisories);
        json_object_set(out, "allowed_advisories", lists.allowed_advisories);
    }
    kg_chain_history_json(out, &hist);
    char *kw = kms_notice_warning(t, info.notice_period, out);
    if (kw != NULL)
        json_array_append_new(warnings, json_string(kw));
    free(kw);
    json_object_set(out, "warnings", warnings);
    *out_json = out;
    out = NULL;
    rc = KG_OK;
cleanup:
    json_decref(out);
    json_decref(history);
    json_decref(hashes);
    json_decref(warnings);
    kg_cli_app_lists_free(&lists);
    kg_chain_history_free(&hist);
    return rc;
}

/* One history entry as a line of `app status` (untrusted strings escaped for the terminal). */
static void print_history_entry(const json_t *v)
{
    if (json_object_get(v, "policy") != NULL) { /* PolicyChanged */
        const char *shown = json_string_value(json_object_get(v, "address"));
        char num[32] = "";
        if (json_is_integer(json_object_get(v, "number"))) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(v, "number")));
            shown = num;
        }
        if (shown == NULL)
            shown = json_string_value(json_object_get(v, "value"));
        if (shown == NULL || strspn(shown, "0") == 64)
            shown = ""; /* the on/off switches carry no value */
        printf("    block %-6" JSON_INTEGER_FORMAT " %-22s %s %s%s%s by %s\n",
               json_integer_value(json_object_get(v, "block")), "PolicyChanged",
               json_string_value(json_object_get(v, "policy")),
               json_is_true(json_object_get(v, "enabled")) ? "on" : "off", shown[0] ? " " : "",
               shown, json_string_value(json_object_get(v, "actor")));
        return;
    }
    const char *val = json_string_value(json_object_get(v, "value"));
    const char *ad = json_string_value(json_object_get(v, "address"));
    const json_t *adv = json_object_get(v, "advisory_id");
    char esc[4 * KG_APP_MAX_ADVISORY + 16];
    if (ad == NULL)
        ad = json_string_value(json_object_get(v, "new_owner"));
    if (json_is_string(adv)) {
        size_t n =
            kg_text_escape(esc, sizeof(esc) - 8, json_string_value(adv), json_string_length(adv));
        snprintf(esc + n, sizeof(esc) - n, " %s",
                 json_is_true(json_object_get(v, "value")) ? "on" : "off");
        val = esc;
    }
    printf("    block %-6" JSON_INTEGER_FORMAT " %-22s %s\n",
           json_integer_value(json_object_get(v, "block")),
           json_string_value(json_object_get(v, "event")),
           val  ? val
           : ad ? ad
           : json_is_boolean(json_object_get(v, "value"))
               ? (json_is_true(json_object_get(v, "value")) ? "true" : "false")
               : "");
}

/* A list of strings under a heading, "(none)" when empty; ids escaped for the terminal. */
static void print_list(const char *heading, const json_t *arr)
{
    size_t i;
    json_t *v;
    printf("  %s:\n", heading);
    json_array_foreach(arr, i, v)
    {
        char esc[4 * KG_APP_MAX_ADVISORY + 1];
        kg_text_escape(esc, sizeof(esc), json_string_value(v), json_string_length(v));
        printf("    %s\n", esc);
    }
    if (json_array_size(arr) == 0)
        printf("    (none)\n");
}

static void print_status(const json_t *out, bool has_kms)
{
    const json_t *st = json_object_get(out, "settings");
    printf("app %s\n  owner                  %s%s\n  registered with KMS    %s\n",
           json_string_value(json_object_get(out, "app_id")),
           json_string_value(json_object_get(out, "owner")),
           json_is_true(json_object_get(out, "owner_is_contract")) ? " (a contract)" : "",
           !has_kms                                           ? "unknown"
           : json_is_true(json_object_get(out, "registered")) ? "yes"
                                                              : "no");
    printf("  upgrade notice         %" JSON_INTEGER_FORMAT " s (guardian %s)\n",
           json_integer_value(json_object_get(st, "notice_period")),
           json_string_value(json_object_get(st, "guardian")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(out, "warnings"), i, v)
        printf("  WARNING: %s\n", json_string_value(v));
    printf("  any device / TCB up to date / upgrades disabled   %s / %s / %s\n",
           json_is_true(json_object_get(st, "allow_any_device")) ? "yes" : "no",
           json_is_true(json_object_get(st, "require_tcb_up_to_date")) ? "required"
                                                                       : "not required",
           json_is_true(json_object_get(st, "upgrades_disabled")) ? "yes" : "no");
    bool from_state =
        strcmp(json_string_value(json_object_get(out, "lists_from")), "contract") == 0;
    char heading[128];
    if (from_state)
        snprintf(heading, sizeof(heading),
                 "allowed compose hashes (contract state, block %" JSON_INTEGER_FORMAT ")",
                 json_integer_value(json_object_get(out, "lists_block")));
    else
        snprintf(heading, sizeof(heading),
                 "allowed compose hashes (those the history below names)");
    print_list(heading, json_object_get(out, "allowed_compose_hashes"));
    json_array_foreach(json_object_get(out, "pending_compose_hashes"), i, v)
        printf("  pending %s (allowed from %" JSON_INTEGER_FORMAT ")\n",
               json_string_value(json_object_get(v, "compose_hash")),
               json_integer_value(json_object_get(v, "activates_at")));
    if (from_state) {
        if (json_is_true(json_object_get(st, "allow_any_device")))
            printf("  allowed devices: any\n");
        else
            print_list("allowed devices", json_object_get(out, "allowed_devices"));
        print_list("denied advisories", json_object_get(out, "denied_advisories"));
        print_list("allowed advisories", json_object_get(out, "allowed_advisories"));
    }
    printf("  history (blocks %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT "):\n",
           json_integer_value(json_object_get(out, "history_from_block")),
           json_integer_value(json_object_get(out, "history_to_block")));
    const char *note = json_string_value(json_object_get(out, "history_note"));
    if (note != NULL)
        printf("    (%s)\n", note);
    json_array_foreach(json_object_get(out, "history"), i, v) print_history_entry(v);
}

static int cmd_status(const app_args *a)
{
    kg_cli_target t;
    uint8_t app[20];
    json_t *out = NULL;
    int status = KG_EXIT_FAILED;
    memset(&t, 0, sizeof(t));
    if (a->app == NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--app ID is required");
        goto fail;
    }
    if (kg_failed(kg_cli_parse_address(app, "--app", a->app)) ||
        kg_failed(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)) ||
        kg_failed(kg_cli_app_status(&out, &t, app, a->app, &a->history)))
        goto fail;
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(out, "warnings"), i, w)
        fprintf(stderr, "keygate: warning: %s\n", json_string_value(w));
    if (a->json)
        kg_cli_print_json(out, false);
    else
        print_status(out, t.has_kms);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    kg_cli_target_close(&t);
    return status;
}

/* ---- app index: what a contract upgraded from before enumeration held ---------------------- */

#define APP_MAX_INDEX 1000u /* entries of each kind one transaction indexes */

/* Candidates for indexExistingEntries: values the history names that the contract holds
 * (its mappings) but does not list. Advisory ids are kept as the owner wrote them. */
typedef struct index_candidates {
    uint8_t hashes[APP_MAX_INDEX][32], devices[APP_MAX_INDEX][32];
    size_t n_hashes, n_devices;
    uint8_t *advisories[2][APP_MAX_INDEX]; /* [0] denied, [1] allowed; owned */
    size_t advisory_len[2][APP_MAX_INDEX], n_advisories[2];
    bool truncated; /* more than APP_MAX_INDEX of a kind: run again */
} index_candidates;

static void index_candidates_free(index_candidates *c)
{
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < c->n_advisories[k]; i++)
            free(c->advisories[k][i]);
}

static bool word_listed(const json_t *listed, const uint8_t v[32])
{
    char hex[65];
    size_t i;
    json_t *x;
    hex32(hex, v);
    json_array_foreach(listed, i, x)
    {
        if (strcmp(json_string_value(x), hex) == 0)
            return true;
    }
    return false;
}

static bool advisory_listed(const json_t *listed, const uint8_t *id, size_t len)
{
    size_t i;
    json_t *x;
    json_array_foreach(listed, i, x)
    {
        if (json_string_length(x) == len && memcmp(json_string_value(x), id, len) == 0)
            return true;
    }
    return false;
}

/* Adds `v` once to a word list of at most APP_MAX_INDEX. */
static void add_candidate(uint8_t list[][32], size_t *n, bool *truncated, const uint8_t v[32])
{
    for (size_t i = 0; i < *n; i++)
        if (memcmp(list[i], v, 32) == 0)
            return;
    if (*n == APP_MAX_INDEX) {
        *truncated = true;
        return;
    }
    memcpy(list[(*n)++], v, 32);
}

/* A bool view of the app with one argument. */
static kg_result view_bool(bool *out, const kg_chain *ch, const uint8_t app[20], const char *sig,
                           const kg_abi_value *arg)
{
    kg_buf ret;
    kg_abi_decoded d;
    const kg_abi_type bt = KG_ABI_T_BOOL;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(ch, &d, &bt, 1, &ret, app, sig, arg, 1);
    *out = kg_ok(rc) && kg_abi_get_bool(&d);
    kg_buf_free(&ret);
    return rc;
}

/* One advisory id of an AdvisoryDenySet/AdvisoryAllowSet event: a candidate of list k while the
 * contract holds it there (advisoryDenied/advisoryAllowed) and does not list it. */
static kg_result advisory_candidate(index_candidates *c, const kg_chain *ch, const uint8_t app[20],
                                    int k, const json_t *listed, const kg_eth_log *l)
{
    static const kg_abi_type types[2] = {KG_ABI_T_BYTES, KG_ABI_T_BOOL};
    kg_abi_decoded d[2];
    bool on = false;
    if (kg_failed(kg_abi_decode(d, types, 2, l->data, l->data_len, KG_APP_MAX_ADVISORY))) {
        kg_error_clear();
        return KG_OK; /* not the event the contract emits */
    }
    if (d[0].len == 0 || advisory_listed(listed, d[0].data, d[0].len))
        return KG_OK;
    for (size_t i = 0; i < c->n_advisories[k]; i++)
        if (c->advisory_len[k][i] == d[0].len &&
            memcmp(c->advisories[k][i], d[0].data, d[0].len) == 0)
            return KG_OK;
    const kg_abi_value arg = kg_abi_bytes(d[0].data, d[0].len);
    KG_GUARD(view_bool(&on, ch, app, k == 0 ? "advisoryDenied(string)" : "advisoryAllowed(string)",
                       &arg));
    if (!on)
        return KG_OK;
    if (c->n_advisories[k] == APP_MAX_INDEX) {
        c->truncated = true;
        return KG_OK;
    }
    uint8_t *copy = malloc(d[0].len);
    KG_ENSURE(copy != NULL, KG_ERR_NOMEM, "out of memory");
    memcpy(copy, d[0].data, d[0].len);
    c->advisories[k][c->n_advisories[k]] = copy;
    c->advisory_len[k][c->n_advisories[k]++] = d[0].len;
    return KG_OK;
}

/* Reads the history's logs and keeps every value held but not listed. */
static kg_result index_collect(index_candidates *c, const kg_chain *ch, const uint8_t app[20],
                               const kg_cli_app_lists *lists, const kg_chain_history *hist)
{
    static const char *const hash_events[4] = {
        "ComposeHashAdded(bytes32)", "ComposeHashRemoved(bytes32)",
        "ComposeHashProposed(bytes32,uint64)", "ComposeHashVetoed(bytes32,address)"};
    static const char *const adv_events[2] = {"AdvisoryDenySet(string,bool)",
                                              "AdvisoryAllowSet(string,bool)"};
    uint8_t t_hash[4][32], t_dev[32], t_adv[2][32];
    for (int i = 0; i < 4; i++)
        kg_keccak256(t_hash[i], hash_events[i], strlen(hash_events[i]));
    kg_keccak256(t_dev, "DeviceAdded(bytes32)", strlen("DeviceAdded(bytes32)"));
    for (int i = 0; i < 2; i++)
        kg_keccak256(t_adv[i], adv_events[i], strlen(adv_events[i]));
    for (size_t i = 0; i < hist->logs.count; i++) {
        const kg_eth_log *l = &hist->logs.items[i];
        if (l->n_topics < 1)
            continue;
        for (int k = 0; k < 4; k++) {
            /* Added/Removed carry the hash in data, Proposed/Vetoed in topic 1 */
            const uint8_t *v = k < 2 ? (l->data_len >= 32 ? l->data : NULL)
                                     : (l->n_topics >= 2 ? l->topics[1] : NULL);
            char hex[65];
            uint64_t st = 0, at = 0;
            if (memcmp(l->topics[0], t_hash[k], 32) != 0 || v == NULL)
                continue;
            hex32(hex, v);
            if (json_object_get(lists->seen, hex) != NULL)
                continue;
            KG_GUARD(hash_state(ch, &st, &at, app, v));
            if (st != 0)
                add_candidate(c->hashes, &c->n_hashes, &c->truncated, v);
        }
        if (memcmp(l->topics[0], t_dev, 32) == 0 && l->data_len >= 32 &&
            !word_listed(lists->devices, l->data)) {
            bool on = false;
            const kg_abi_value arg = kg_abi_bytes32(l->data);
            KG_GUARD(view_bool(&on, ch, app, "allowedDeviceIds(bytes32)", &arg));
            if (on)
                add_candidate(c->devices, &c->n_devices, &c->truncated, l->data);
        }
        for (int k = 0; k < 2; k++)
            if (memcmp(l->topics[0], t_adv[k], 32) == 0)
                KG_GUARD(advisory_candidate(
                    c, ch, app, k, k == 0 ? lists->denied_advisories : lists->allowed_advisories,
                    l));
    }
    return KG_OK;
}

static int cmd_index(const app_args *a)
{
    kg_cli_target t;
    kg_cli_app_lists lists;
    kg_chain_history hist;
    app_info info;
    uint8_t app[20];
    char app_s[43];
    int status = KG_EXIT_FAILED;
    index_candidates *c = calloc(1, sizeof(*c));
    kg_abi_value *items = NULL;
    json_t *out = NULL;
    memset(&t, 0, sizeof(t));
    memset(&lists, 0, sizeof(lists));
    memset(&hist, 0, sizeof(hist));
    if (c == NULL) {
        (void)kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
        goto fail;
    }
    if (a->app == NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__, "--app ID is required");
        goto fail;
    }
    if (kg_failed(kg_cli_parse_address(app, "--app", a->app)) ||
        kg_failed(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)) ||
        kg_failed(app_read(&info, &t, app, a->app)) ||
        kg_failed(kg_cli_app_lists_read(&lists, &t.chain, app, false)))
        goto fail;
    if (!lists.enumerable) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "app '%s' cannot list its allow-lists (no composeHashCount()): "
                           "upgrade its contract first",
                           a->app);
        goto fail;
    }
    if (kg_failed(kg_chain_history_read(&hist, &t.chain, app, NULL, &a->history)) ||
        kg_failed(index_collect(c, &t.chain, app, &lists, &hist)))
        goto fail;
    size_t total = c->n_hashes + c->n_devices + c->n_advisories[0] + c->n_advisories[1];
    out = json_pack("{s:I,s:I,s:I,s:I,s:b}", "compose_hashes", (json_int_t)c->n_hashes, "devices",
                    (json_int_t)c->n_devices, "denied_advisories", (json_int_t)c->n_advisories[0],
                    "allowed_advisories", (json_int_t)c->n_advisories[1], "more", c->truncated);
    items = calloc(total > 0 ? total : 1, sizeof(*items));
    if (out == NULL || items == NULL) {
        (void)kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
        goto fail;
    }
    kg_chain_history_json(out, &hist);
    if (total == 0) { /* nothing to index: nothing is sent */
        addr_text(app_s, app);
        json_object_set_new(out, "app_id", json_string(app_s));
        json_object_set_new(out, "action", json_string("index"));
        json_object_set_new(out, "unchanged", json_true());
        kg_cli_print_json(out, true);
        status = KG_EXIT_OK;
        goto done;
    }
    size_t k = 0;
    kg_abi_value args[4];
    args[0] = kg_abi_array(items + k, c->n_hashes);
    for (size_t i = 0; i < c->n_hashes; i++)
        items[k++] = kg_abi_bytes32(c->hashes[i]);
    args[1] = kg_abi_array(items + k, c->n_devices);
    for (size_t i = 0; i < c->n_devices; i++)
        items[k++] = kg_abi_bytes32(c->devices[i]);
    for (int j = 0; j < 2; j++) {
        args[2 + j] = kg_abi_array(items + k, c->n_advisories[j]);
        for (size_t i = 0; i < c->n_advisories[j]; i++)
            items[k++] = kg_abi_bytes(c->advisories[j][i], c->advisory_len[j][i]);
    }
    /* app_write prints out and frees it */
    status = app_write(a, "index", ROLE_ANYONE,
                       "indexExistingEntries(bytes32[],bytes32[],string[],string[])", args, 4, out);
    out = NULL;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    free(items);
    if (c != NULL)
        index_candidates_free(c);
    free(c);
    kg_chain_history_free(&hist);
    kg_cli_app_lists_free(&lists);
    kg_cli_target_close(&t);
    return status;
}

/* ---- app list ------------------------------------------------------------------------------ */

/* One registered app as `app list` shows it: {app_id, owner, owner_is_contract, notice_period,
 * guardian, lists_from, allowed_compose_hashes, pending_compose_hashes} (counts; null where the
 * contract cannot tell). Anyone can register any address, so an app that is no app contract is
 * listed with "error" instead of failing the list; a chain that stops answering fails it. */
static kg_result list_entry(json_t **out, const kg_cli_target *t, const char *id_text)
{
    uint8_t app[20], owner[20];
    char owner_s[43], guard_s[43];
    bool has_code = false, owner_code = false;
    kg_cli_app_lists l;
    kg_buf ret;
    kg_abi_decoded d[2];
    kg_result rc = KG_ERROR;
    json_t *e = json_pack("{s:s}", "app_id", id_text);
    memset(&l, 0, sizeof(l));
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    KG_ENSURE_C(e != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_cli_parse_address(app, "app", id_text));
    KG_GUARD_C(kg_chain_has_code(&t->chain, &has_code, app));
    KG_ENSURE_C(has_code, KG_ERR_NOT_FOUND, "no contract at that address");
    KG_GUARD_CTX_C(view_word(&t->chain, d, KG_ABI_T_ADDRESS, app, "owner()", &ret),
                   "not an app contract");
    kg_abi_get_address(owner, &d[0]);
    addr_text(owner_s, owner);
    KG_GUARD_C(kg_chain_has_code(&t->chain, &owner_code, owner));
    json_object_set_new(e, "owner", json_string(owner_s));
    json_object_set_new(e, "owner_is_contract", json_boolean(owner_code));
    kg_abi_type nt[2] = {KG_ABI_T_UINT64, KG_ABI_T_ADDRESS};
    if (kg_ok(kg_chain_view(&t->chain, d, nt, 2, &ret, app, "upgradeNotice()", NULL, 0))) {
        kg_abi_get_address(owner, &d[1]);
        addr_text(guard_s, owner);
        json_object_set_new(e, "notice_period", json_integer((json_int_t)kg_abi_get_u64(&d[0])));
        json_object_set_new(e, "guardian", json_string(guard_s));
    } else {
        KG_ENSURE_C(kg_error_code() == KG_ERR_DENIED, kg_error_code(), "%s", kg_error_message());
        kg_error_clear(); /* no upgrade notice: dstack's DstackApp */
        json_object_set_new(e, "notice_period", json_null());
        json_object_set_new(e, "guardian", json_null());
    }
    KG_GUARD_C(kg_cli_app_lists_read(&l, &t->chain, app, true));
    json_object_set_new(e, "lists_from", json_string(l.enumerable ? "contract" : "none"));
    json_object_set_new(e, "allowed_compose_hashes",
                        l.enumerable ? json_integer((json_int_t)json_array_size(l.allowed))
                                     : json_null());
    json_object_set_new(e, "pending_compose_hashes",
                        l.enumerable ? json_integer((json_int_t)json_array_size(l.pending))
                                     : json_null());
    rc = KG_OK;
cleanup:
    if (kg_failed(rc) && e != NULL) {
        kg_err code = kg_error_code();
        if (code != KG_ERR_NETWORK && code != KG_ERR_UNAVAILABLE && code != KG_ERR_NOMEM) {
            json_object_set_new(e, "error", json_string(kg_error_message()));
            kg_error_clear();
            rc = KG_OK;
        }
    }
    kg_cli_app_lists_free(&l);
    kg_buf_free(&ret);
    if (kg_ok(rc)) {
        *out = e;
        e = NULL;
    }
    json_decref(e);
    return rc;
}

static void print_list_table(const json_t *out)
{
    size_t i;
    json_t *v;
    const json_t *apps = json_object_get(out, "apps");
    printf("KMS contract %s: %zu registered app%s (%s, block %" JSON_INTEGER_FORMAT ")\n",
           json_string_value(json_object_get(out, "kms_contract")), json_array_size(apps),
           json_array_size(apps) == 1 ? "" : "s",
           strcmp(json_string_value(json_object_get(out, "apps_from")), "contract") == 0
               ? "contract state"
               : "AppRegistered events",
           json_integer_value(json_object_get(out, "block")));
    const char *note = json_string_value(json_object_get(out, "history_note"));
    if (note != NULL)
        printf("  (%s)\n", note);
    if (json_array_size(apps) == 0)
        return;
    printf("  %-42s  %-53s  %-10s  %-7s  %s\n", "APP ID", "OWNER", "NOTICE", "ALLOWED", "PENDING");
    json_array_foreach(apps, i, v)
    {
        const char *err = json_string_value(json_object_get(v, "error"));
        if (err != NULL) {
            char esc[512];
            kg_text_escape(esc, sizeof(esc), err, strlen(err));
            printf("  %-42s  (%s)\n", json_string_value(json_object_get(v, "app_id")), esc);
            continue;
        }
        char owner[64], notice[24] = "-", allowed[24] = "-", pending[24] = "-";
        snprintf(owner, sizeof(owner), "%s%s", json_string_value(json_object_get(v, "owner")),
                 json_is_true(json_object_get(v, "owner_is_contract")) ? " (contract)" : "");
        if (json_is_integer(json_object_get(v, "notice_period")))
            snprintf(notice, sizeof(notice), "%" JSON_INTEGER_FORMAT " s",
                     json_integer_value(json_object_get(v, "notice_period")));
        if (json_is_integer(json_object_get(v, "allowed_compose_hashes"))) {
            snprintf(allowed, sizeof(allowed), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(v, "allowed_compose_hashes")));
            snprintf(pending, sizeof(pending), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(v, "pending_compose_hashes")));
        }
        printf("  %-42s  %-53s  %-10s  %-7s  %s\n", json_string_value(json_object_get(v, "app_id")),
               owner, notice, allowed, pending);
    }
}

static int cmd_list(const app_args *a)
{
    kg_cli_target t;
    json_t *out = NULL, *ids = NULL;
    uint64_t block = 0, ts = 0;
    int status = KG_EXIT_FAILED;
    memset(&t, 0, sizeof(t));
    if (a->app != NULL)
        return usage_fail("takes no --app: it lists every registered app", "list");
    if (kg_failed(kg_cli_target_open(&t, a->state, a->rpc_url, a->kms_contract)))
        goto fail;
    if (!t.has_kms) {
        kg_cli_target_close(&t);
        return usage_fail("needs the KMS contract: --kms-contract ADDR (or --state DIR)", "list");
    }
    char kms_s[43];
    addr_text(kms_s, t.kms);
    out = json_pack("{s:s}", "kms_contract", kms_s);
    if (out == NULL || kg_failed(kg_chain_latest(&t.chain, &block, &ts)) ||
        kg_failed(kg_cli_registered_apps(&ids, out, &t, &a->history)))
        goto fail;
    json_object_set_new(out, "block", json_integer((json_int_t)block));
    json_t *apps = json_array(), *id;
    size_t i;
    json_object_set_new(out, "apps", apps);
    json_array_foreach(ids, i, id)
    {
        json_t *e = NULL;
        if (kg_failed(list_entry(&e, &t, json_string_value(id))))
            goto fail;
        json_array_append_new(apps, e);
    }
    if (a->json)
        kg_cli_print_json(out, false);
    else
        print_list_table(out);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(ids);
    json_decref(out);
    kg_cli_target_close(&t);
    return status;
}

int kg_cmd_app(int argc, char **argv)
{
    app_args a;
    bool help = false;
    static const kg_cli_group group = {"app", app_usage};
    int st = kg_cli_group_help(&group, argc, argv);
    if (st != KG_CLI_CONTINUE)
        return st;
    const char *sub = argv[1];
    kg_result parsed = parse_args(&a, &help, argc, argv); /* sets help: read it after */
    st = kg_cli_group_parsed(&group, parsed, help);
    if (st != KG_CLI_CONTINUE)
        return st;
    if (strcmp(sub, "compose-hash") == 0)
        return cmd_compose_hash(&a);
    if (a.positional != NULL) {
        fprintf(stderr, "keygate app %s: unexpected argument '%s'\n", sub, a.positional);
        return KG_EXIT_USAGE;
    }
    if (strcmp(sub, "deploy") == 0)
        return cmd_deploy(&a);
    if (strcmp(sub, "allow") == 0)
        return cmd_change(&a, ACT_ALLOW);
    if (strcmp(sub, "revoke") == 0)
        return cmd_change(&a, ACT_REVOKE);
    if (strcmp(sub, "propose") == 0)
        return cmd_change(&a, ACT_PROPOSE);
    if (strcmp(sub, "veto") == 0 && a.notice_change)
        return app_write(&a, "veto-notice-change", ROLE_GUARDIAN, "vetoUpgradeNoticeChange()", NULL,
                         0, NULL);
    if (strcmp(sub, "veto") == 0)
        return cmd_change(&a, ACT_VETO);
    if (strcmp(sub, "device") == 0)
        return cmd_device(&a);
    if (strcmp(sub, "tcb") == 0)
        return cmd_tcb(&a);
    if (strcmp(sub, "notice") == 0)
        return cmd_notice(&a);
    if (strcmp(sub, "owner") == 0)
        return cmd_owner(&a);
    if (strcmp(sub, "upgrade") == 0)
        return cmd_upgrade(&a);
    if (strcmp(sub, "disable-upgrades") == 0)
        return cmd_disable_upgrades(&a);
    if (strcmp(sub, "status") == 0)
        return cmd_status(&a);
    if (strcmp(sub, "list") == 0)
        return cmd_list(&a);
    if (strcmp(sub, "index") == 0)
        return cmd_index(&a);
    return kg_cli_group_unknown(&group, sub);
}
