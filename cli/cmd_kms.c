/* cmd_kms.c - `keygate kms`: the KMS contract's platform policy (docs/protocol.md section 3): which
 * KMS aggregated MRs, KMS devices and OS images are allowed, and what the KMS published. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "kms_config.h"
#include "kms_epoch.h"
#include "keygate/crypto.h"
#include "keygate/eth.h"
#include "keygate/hash.h"
#include "keygate/kms_config.h"
#include "keygate/quote.h"
#include "kms_checkpoint.h"
#include "kms_index.h"
#include "status.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define KMS_MAX_NOTICE (365ull * 24 * 3600) /* KeygateKms.MAX_NOTICE_PERIOD */

static void kms_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate kms <subcommand> [options]\n\n"
        "  allow  (--mr HEX | --device HEX | --os-image HEX)   allow a KMS aggregated MR, a\n"
        "                               KMS device id or an OS image hash at once (owner of\n"
        "                               the KMS contract; only while its notice is 0)\n"
        "  revoke (--mr HEX | --device HEX | --os-image HEX)   remove one (at once, always)\n"
        "  propose (--mr HEX | --device HEX | --os-image HEX)  with a governance notice:\n"
        "                               propose one; it is allowed after the notice period\n"
        "  propose --upgrade ADDR       with a notice: propose a KMS contract upgrade to the\n"
        "                               implementation ADDR (executable after the notice)\n"
        "  veto   (--mr HEX | --device HEX | --os-image HEX | --upgrade ADDR |\n"
        "          --notice-change)     guardian: veto a pending proposal\n"
        "  notice [--period SECONDS --guardian ADDR]   show the KMS contract's governance\n"
        "                               notice, or set it (owner): a longer period with the\n"
        "                               same guardian applies at once, anything else waits\n"
        "                               for the current notice and can be vetoed\n"
        "  notice --escape-guardian ADDR   owner: replace a guardian that vetoes everything;\n"
        "                               ADDR takes office after twice the notice, the period\n"
        "                               unchanged, and the guardian cannot veto it\n"
        "  publish --bootstrap FILE [--pccs URL] [--tee-root-ca FILE]   publish the KMS's\n"
        "                               root keys (setKmsInfo) from keygate-kms --bootstrap's\n"
        "                               output, after verifying its quote and that its\n"
        "                               REPORTDATA binds these keys (devnet: its PCCS and CA)\n"
        "  owner  (--transfer ADDR | --accept)   two-step ownership transfer\n"
        "  upgrade --execute IMPL       UUPS upgrade of the KMS contract (at notice 0 at once;\n"
        "                               under a notice the proposed one, after the notice)\n"
        "  config (--state DIR [...] | --example)   write a keygate-kms config for a devnet\n"
        "                               or the production example ('kms config --help')\n"
        "  status [--json] [--from-block N]   KMS contract owner, published root key,\n"
        "                               governance notice, and the allow-lists (allowed and\n"
        "                               pending) read from its state (a KMS contract from\n"
        "                               before enumeration: reconstructed from its events\n"
        "                               from block N)\n"
        "  index [--from-block N]       after upgrading a KMS contract from a version without\n"
        "                               enumeration: index the apps, OS images, MRs and\n"
        "                               devices it held before (anyone may; 'kms index --help')\n"
        "  checkpoint [--kms URL] [--every S]   publish the KMS node's decision-log\n"
        "                               checkpoint on chain, signed by its root key (anyone\n"
        "                               may send it; 'keygate kms checkpoint --help')\n"
        "  epoch list|propose|activate|veto|retire   rotate the KMS root keys (root-key\n"
        "                               epochs; 'keygate kms epoch --help')\n"
        "  recovery-holders [list] [--json]   the holders who can recover the sealed root\n"
        "                               keys (X25519 keys) and their threshold: in force and\n"
        "                               pending\n"
        "  recovery-holders (set | propose) --holder KEY|FILE ... --threshold T   name them\n"
        "                               (owner): set at once while the notice is 0, else\n"
        "                               propose (in force after the notice); KEY is what\n"
        "                               'keygate recovery keygen' printed, FILE holds it;\n"
        "                               --holder repeated, no holders and --threshold 0\n"
        "                               removes recovery\n"
        "  recovery-holders veto        guardian: veto the pending holders\n\n"
        "  --state DIR / --rpc-url URL / --kms-contract ADDR as for 'keygate "
        "app'.\n\n" KG_CLI_SIGNER_USAGE "\n"
        "Time-locked apps are only served while the KMS notice is at least the app's notice\n"
        "(the KMS owner could otherwise change what runs faster than the app's "
        "notice).\n\n" KG_CLI_WRITE_EXIT_USAGE);
}

typedef struct kms_list {
    const char *opt;  /* --mr */
    const char *what; /* "KMS aggregated MR" */
    const char *add, *remove, *query, *propose, *veto, *activates;
    const char *ev_added, *ev_removed, *ev_proposed, *ev_vetoed;
    const char *count, *page; /* enumeration: values added or proposed (contracts/README.md) */
} kms_list;

static const kms_list lists[] = {
    {"mr", "KMS aggregated MR", "addKmsAggregatedMr(bytes32)", "removeKmsAggregatedMr(bytes32)",
     "kmsAllowedAggregatedMrs(bytes32)", "proposeKmsAggregatedMr(bytes32)",
     "vetoKmsAggregatedMr(bytes32)", "kmsAggregatedMrActivatesAt(bytes32)",
     "KmsAggregatedMrAdded(bytes32)", "KmsAggregatedMrRemoved(bytes32)",
     "KmsAggregatedMrProposed(bytes32,uint64)", "KmsAggregatedMrVetoed(bytes32,address)",
     "kmsAggregatedMrCount()", "kmsAggregatedMrPage(uint256,uint256)"},
    {"device", "KMS device", "addKmsDevice(bytes32)", "removeKmsDevice(bytes32)",
     "kmsAllowedDeviceIds(bytes32)", "proposeKmsDevice(bytes32)", "vetoKmsDevice(bytes32)",
     "kmsDeviceActivatesAt(bytes32)", "KmsDeviceAdded(bytes32)", "KmsDeviceRemoved(bytes32)",
     "KmsDeviceProposed(bytes32,uint64)", "KmsDeviceVetoed(bytes32,address)", "kmsDeviceCount()",
     "kmsDevicePage(uint256,uint256)"},
    {"os-image", "OS image", "addOsImageHash(bytes32)", "removeOsImageHash(bytes32)",
     "allowedOsImages(bytes32)", "proposeOsImageHash(bytes32)", "vetoOsImageHash(bytes32)",
     "osImageHashActivatesAt(bytes32)", "OsImageHashAdded(bytes32)", "OsImageHashRemoved(bytes32)",
     "OsImageHashProposed(bytes32,uint64)", "OsImageHashVetoed(bytes32,address)", "osImageCount()",
     "osImagePage(uint256,uint256)"},
};
#define N_LISTS (sizeof(lists) / sizeof(lists[0]))

/* The KMS contract's governance notice (contracts/README.md). A KMS contract without the
 * notice functions (an older keygate or a dstack KMS) reads as notice 0, no guardian. */
typedef struct kms_gov {
    uint8_t owner[20];
    uint64_t period, guaranteed;
    uint8_t guardian[20];
    uint64_t pending_period, pending_at; /* pending_at 0: no pending notice change */
    uint8_t pending_guardian[20];
    bool pending_escape; /* the pending change is a guardian escape (not vetoable) */
    uint8_t upgrade[20]; /* proposed implementation, zero if none */
    uint64_t upgrade_at;
    bool has_notice;
} kms_gov;

static kg_result gov_read(kms_gov *g, const kg_chain *c, const uint8_t kms[20])
{
    kg_result rc = KG_ERROR;
    kg_buf ret;
    kg_abi_decoded d[3];
    kg_abi_type ty = KG_ABI_T_ADDRESS;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    memset(g, 0, sizeof(*g));
    KG_GUARD_C(kg_chain_view(c, d, &ty, 1, &ret, kms, "owner()", NULL, 0));
    kg_abi_get_address(g->owner, &d[0]);
    kg_abi_type nt[3] = {KG_ABI_T_UINT64, KG_ABI_T_ADDRESS, KG_ABI_T_UINT64};
    if (kg_failed(kg_chain_view(c, d, nt, 2, &ret, kms, "governanceNotice()", NULL, 0))) {
        if (kg_error_code() != KG_ERR_DENIED)
            goto cleanup;
        kg_error_clear(); /* reverted: no governance notice in this KMS contract */
        rc = KG_OK;
        goto cleanup;
    }
    g->has_notice = true;
    g->period = kg_abi_get_u64(&d[0]);
    kg_abi_get_address(g->guardian, &d[1]);
    ty = KG_ABI_T_UINT64;
    KG_GUARD_C(kg_chain_view(c, d, &ty, 1, &ret, kms, "guaranteedNotice()", NULL, 0));
    g->guaranteed = kg_abi_get_u64(&d[0]);
    KG_GUARD_C(kg_chain_view(c, d, nt, 3, &ret, kms, "pendingGovernanceNotice()", NULL, 0));
    g->pending_period = kg_abi_get_u64(&d[0]);
    kg_abi_get_address(g->pending_guardian, &d[1]);
    g->pending_at = kg_abi_get_u64(&d[2]);
    kg_abi_type ut[2] = {KG_ABI_T_ADDRESS, KG_ABI_T_UINT64};
    if (g->pending_at != 0) {
        /* a KMS contract from before the guardian escape has no such getter: no escape */
        if (kg_ok(kg_chain_view(c, d, ut, 2, &ret, kms, "pendingGuardianEscape()", NULL, 0)))
            g->pending_escape = kg_abi_get_u64(&d[1]) != 0;
        else if (kg_error_code() == KG_ERR_DENIED)
            kg_error_clear();
        else
            goto cleanup;
    }
    KG_GUARD_C(kg_chain_view(c, d, ut, 2, &ret, kms, "pendingUpgrade()", NULL, 0));
    kg_abi_get_address(g->upgrade, &d[0]);
    g->upgrade_at = kg_abi_get_u64(&d[1]);
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

static bool is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Whether v is allowed now, and (with a notice) when a proposal of it activates (0: none). */
static kg_result list_state(bool *allowed, uint64_t *activates, const kg_chain *c,
                            const uint8_t kms[20], const kms_list *l, const uint8_t v[32],
                            bool has_notice)
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_BOOL;
    kg_abi_value arg = kg_abi_bytes32(v);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    *activates = 0;
    kg_result rc = kg_chain_view(c, &d, &ty, 1, &ret, kms, l->query, &arg, 1);
    if (kg_ok(rc)) {
        *allowed = kg_abi_get_bool(&d);
        ty = KG_ABI_T_UINT64;
        if (has_notice) {
            rc = kg_chain_view(c, &d, &ty, 1, &ret, kms, l->activates, &arg, 1);
            if (kg_ok(rc))
                *activates = kg_abi_get_u64(&d);
        }
    }
    kg_buf_free(&ret);
    return rc;
}

typedef enum { KACT_ALLOW, KACT_REVOKE, KACT_PROPOSE, KACT_VETO } kms_action;

/* The signer options of this invocation (kg_cmd_kms fills them). */
static kg_cli_signer_opts signer_opts;

/* The signer, the governance state; the acting address must hold `role`. */
static kg_result prepare_with(kg_cli_signer *sg, kms_gov *g, const kg_cli_target *t,
                              const kg_cli_signer_opts *o, bool guardian)
{
    KG_GUARD(kg_cli_signer_open(sg, t, o));
    KG_GUARD(gov_read(g, &t->chain, t->kms));
    if (guardian) {
        KG_ENSURE(g->has_notice && !is_zero(g->guardian, 20), KG_ERR_DENIED,
                  "the KMS contract has no guardian: nothing can be vetoed");
        return kg_cli_signer_require(sg, g->guardian, "guardian", "the KMS contract");
    }
    return kg_cli_signer_require(sg, g->owner, "owner", "the KMS contract");
}

static kg_result prepare(kg_cli_signer *sg, kms_gov *g, const kg_cli_target *t, bool guardian)
{
    return prepare_with(sg, g, t, &signer_opts, guardian);
}

kg_result kg_cli_kms_signer(kg_cli_signer *sg, const kg_cli_target *t, const kg_cli_signer_opts *o,
                            bool guardian)
{
    kms_gov g;
    return prepare_with(sg, &g, t, o, guardian);
}

static int cmd_change(const kg_cli_target *t, const kms_list *l, const char *value, kms_action act)
{
    static const char *const names[] = {"allow", "revoke", "propose", "veto"};
    uint8_t v[32];
    kg_buf data;
    kg_cli_signer sg;
    kms_gov g;
    int status = KG_EXIT_FAILED;
    memset(&sg, 0, sizeof(sg));
    bool now = false;
    uint64_t at = 0;
    char opt[32], hex[65];
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    snprintf(opt, sizeof(opt), "--%s", l->opt);
    if (kg_failed(kg_cli_parse_hash(v, opt, value)) ||
        kg_failed(prepare(&sg, &g, t, act == KACT_VETO)) ||
        kg_failed(list_state(&now, &at, &t->chain, t->kms, l, v, g.has_notice)) ||
        kg_failed(kg_hex_encode(hex, sizeof(hex), v, 32)))
        goto fail;
    bool pending = !now && at != 0;
    bool unchanged = false;
    const char *sig = l->add;
    switch (act) {
    case KACT_ALLOW:
        unchanged = now;
        if (!unchanged && g.period > 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "the KMS contract has a %" PRIu64 " s governance notice: use "
                               "'keygate kms propose --%s' (allowed after the notice period)",
                               g.period, l->opt);
            goto fail;
        }
        break;
    case KACT_REVOKE:
        unchanged = !now && !pending;
        sig = l->remove;
        break;
    case KACT_PROPOSE:
        if (g.period == 0) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "the KMS contract has no governance notice: use 'keygate kms "
                               "allow --%s'",
                               l->opt);
            goto fail;
        }
        if (now || pending) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__, "%s %s is already %s", l->what,
                               hex, now ? "allowed" : "pending");
            goto fail;
        }
        sig = l->propose;
        break;
    case KACT_VETO:
        if (!pending) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "%s %s is not a pending proposal (%s)", l->what, hex,
                               now ? "already allowed" : "never proposed, vetoed or removed");
            goto fail;
        }
        sig = l->veto;
        break;
    }
    json_t *out = json_pack("{s:s,s:s,s:s}", "list", l->opt, "value", hex, "action", names[act]);
    if (unchanged) {
        json_object_set_new(out, "unchanged", json_true());
    } else {
        kg_abi_value arg = kg_abi_bytes32(v);
        if (kg_failed(kg_chain_calldata(&data, sig, &arg, 1)) ||
            kg_failed(kg_cli_write(t, &sg, t->kms, &data, out, NULL))) {
            json_decref(out);
            (void)kg_error_context("%s %s %s", names[act], l->what, hex);
            goto fail;
        }
    }
    if (kg_ok(list_state(&now, &at, &t->chain, t->kms, l, v, g.has_notice)))
        kg_cli_put_value_state(out, now, at);
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
    return status;
}

/* propose --upgrade ADDR (owner) / veto --upgrade ADDR (guardian). */
static int cmd_upgrade(const kg_cli_target *t, const char *impl_text, bool veto, bool execute)
{
    uint8_t impl[20];
    kg_buf data;
    kg_cli_signer sg;
    kms_gov g;
    char impl_s[43];
    int status = KG_EXIT_FAILED;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    if (kg_failed(kg_cli_parse_address(impl, execute ? "--execute" : "--upgrade", impl_text)) ||
        kg_failed(prepare(&sg, &g, t, veto)))
        goto fail;
    kg_eth_address_checksum(impl_s, impl);
    if (veto) {
        if (is_zero(g.upgrade, 20) || memcmp(g.upgrade, impl, 20) != 0) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "no pending upgrade of the KMS contract to %s", impl_s);
            goto fail;
        }
    } else if (!execute) {
        bool has_code = false;
        if (g.period == 0) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "the KMS contract has no governance notice: its owner upgrades "
                               "it at once with upgradeToAndCall");
            goto fail;
        }
        if (kg_failed(kg_chain_has_code(&t->chain, &has_code, impl)))
            goto fail;
        if (!has_code) {
            (void)kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                               "--upgrade '%s': no contract at that address", impl_text);
            goto fail;
        }
    }
    kg_abi_value args[2] = {kg_abi_address(impl), kg_abi_bytes(NULL, 0)};
    json_t *out = json_pack("{s:s,s:s}", "upgrade", impl_s, "action",
                            veto      ? "veto"
                            : execute ? "execute"
                                      : "propose");
    if (kg_failed(veto      ? kg_chain_calldata(&data, "vetoUpgrade()", NULL, 0)
                  : execute ? kg_chain_calldata(&data, "upgradeToAndCall(address,bytes)", args, 2)
                            : kg_chain_calldata(&data, "proposeUpgrade(address)", args, 1)) ||
        kg_failed(kg_cli_write(t, &sg, t->kms, &data, out, NULL))) {
        json_decref(out);
        (void)kg_error_context("%s the upgrade to %s",
                               veto      ? "vetoing"
                               : execute ? "executing"
                                         : "proposing",
                               impl_s);
        goto fail;
    }
    if (!veto && !execute && kg_ok(gov_read(&g, &t->chain, t->kms)))
        json_object_set_new(out, "activates_at", json_integer((json_int_t)g.upgrade_at));
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
    return status;
}

static json_t *gov_json(const kms_gov *g)
{
    char a[43];
    kg_eth_address_checksum(a, g->guardian);
    json_t *o = json_pack("{s:I,s:s,s:I}", "period", (json_int_t)g->period, "guardian", a,
                          "guaranteed", (json_int_t)g->guaranteed);
    if (g->pending_at != 0) {
        kg_eth_address_checksum(a, g->pending_guardian);
        json_object_set_new(o, "pending",
                            json_pack("{s:I,s:s,s:I,s:b}", "period", (json_int_t)g->pending_period,
                                      "guardian", a, "activates_at", (json_int_t)g->pending_at,
                                      "escape", g->pending_escape));
    }
    if (!is_zero(g->upgrade, 20)) {
        kg_eth_address_checksum(a, g->upgrade);
        json_object_set_new(
            o, "pending_upgrade",
            json_pack("{s:s,s:I}", "implementation", a, "activates_at", (json_int_t)g->upgrade_at));
    }
    return o;
}

/* notice: show it; notice --period S --guardian ADDR: set it (owner); notice --escape-guardian
 * ADDR: replace the guardian without its consent (owner); veto --notice-change. */
static int cmd_notice(const kg_cli_target *t, const char *period_text, const char *guardian_text,
                      const char *escape_text, bool veto)
{
    uint8_t guardian[20];
    uint64_t period = 0;
    kg_buf data;
    kg_cli_signer sg;
    kms_gov g;
    int status = KG_EXIT_FAILED;
    bool set = period_text != NULL || escape_text != NULL || veto;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    if (period_text != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(period_text, &end, 10);
        if (errno != 0 || end == period_text || *end != '\0' || period_text[0] == '-' ||
            v > KMS_MAX_NOTICE) {
            (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "--period '%s' is not a number of seconds (0..%llu)", period_text,
                               (unsigned long long)KMS_MAX_NOTICE);
            goto fail;
        }
        period = v;
        if (kg_failed(kg_cli_parse_address(guardian, "--guardian", guardian_text)))
            goto fail;
    }
    if (escape_text != NULL &&
        kg_failed(kg_cli_parse_address(guardian, "--escape-guardian", escape_text)))
        goto fail;
    if (set ? kg_failed(prepare(&sg, &g, t, veto)) : kg_failed(gov_read(&g, &t->chain, t->kms)))
        goto fail;
    if (set && !g.has_notice) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "this KMS contract has no governance notice (an older or dstack "
                           "implementation)");
        goto fail;
    }
    if (veto && g.pending_at == 0) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "no pending change of the KMS governance notice");
        goto fail;
    }
    if (veto && g.pending_escape) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "the pending change is a guardian escape, which the guardian cannot "
                           "veto; it takes effect at %" PRIu64,
                           g.pending_at);
        goto fail;
    }
    if (escape_text != NULL && (g.period == 0 || is_zero(g.guardian, 20))) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "the KMS contract has %s: there is no guardian to escape from (use "
                           "'keygate kms notice --period SECONDS --guardian ADDR')",
                           g.period == 0 ? "no governance notice" : "no guardian");
        goto fail;
    }
    json_t *out;
    if (set) {
        kg_abi_value args[2] = {kg_abi_uint64(period), kg_abi_address(guardian)};
        json_t *w = json_object();
        kg_result rc =
            veto ? kg_chain_calldata(&data, "vetoGovernanceNoticeChange()", NULL, 0)
            : escape_text != NULL
                ? kg_chain_calldata(&data, "escapeGuardian(address)", &args[1], 1)
                : kg_chain_calldata(&data, "setGovernanceNotice(uint64,address)", args, 2);
        if (kg_failed(rc) || kg_failed(kg_cli_write(t, &sg, t->kms, &data, w, NULL))) {
            json_decref(w);
            (void)kg_error_context(veto                  ? "vetoing the notice change"
                                   : escape_text != NULL ? "escaping the KMS guardian"
                                                         : "setting the KMS governance notice");
            goto fail;
        }
        if (kg_failed(gov_read(&g, &t->chain, t->kms))) {
            json_decref(w);
            goto fail;
        }
        out = gov_json(&g);
        json_object_set_new(out, "action",
                            json_string(veto                  ? "veto"
                                        : escape_text != NULL ? "escape-guardian"
                                                              : "set"));
        json_object_update(out, w);
        json_decref(w);
    } else {
        out = gov_json(&g);
    }
    kg_cli_print_json(out, true);
    json_decref(out);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    kg_cli_signer_close(&sg);
    kg_buf_free(&data);
    return status;
}

/* owner --transfer ADDR (owner) | --accept (the pending owner) */
static int cmd_owner(const kg_cli_target *t, const char *transfer, bool accept)
{
    uint8_t to[20], pending[20];
    kg_buf data, ret;
    kg_cli_signer sg;
    kms_gov g;
    int status = KG_EXIT_FAILED;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    json_t *out = json_object();
    if (transfer != NULL && kg_failed(kg_cli_parse_address(to, "--transfer", transfer)))
        goto fail;
    if (accept) {
        kg_abi_decoded d;
        kg_abi_type ty = KG_ABI_T_ADDRESS;
        if (kg_failed(kg_cli_signer_open(&sg, t, &signer_opts)) ||
            kg_failed(
                kg_chain_view(&t->chain, &d, &ty, 1, &ret, t->kms, "pendingOwner()", NULL, 0)))
            goto fail;
        kg_abi_get_address(pending, &d);
        if (is_zero(pending, 20)) {
            (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                               "no ownership transfer of the KMS contract is pending");
            goto fail;
        }
        if (kg_failed(kg_cli_signer_require(&sg, pending, "pending owner", "the KMS contract")))
            goto fail;
    } else if (kg_failed(prepare(&sg, &g, t, false))) {
        goto fail;
    }
    kg_abi_value arg = kg_abi_address(to);
    json_object_set_new(out, "action",
                        json_string(accept ? "accept-ownership" : "transfer-ownership"));
    if (!accept)
        json_object_set_new(out, "pending_owner", json_string(transfer));
    if (kg_failed(accept ? kg_chain_calldata(&data, "acceptOwnership()", NULL, 0)
                         : kg_chain_calldata(&data, "transferOwnership(address)", &arg, 1)) ||
        kg_failed(kg_cli_write(t, &sg, t->kms, &data, out, NULL))) {
        (void)kg_error_context("%s", accept ? "accepting ownership" : "transferring ownership");
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
    return status;
}

/* The TEE root CA for verifying the bootstrap quote: --tee-root-ca FILE (PEM or DER), the
 * devnet's simulator CA, or (NULL) Intel's pinned root. */
static kg_result publish_verifier(kg_dcap_verifier **v, const char *path)
{
    if (path == NULL)
        return kg_dcap_verifier_new(v, NULL, 0);
    kg_buf pem;
    kg_buf_init(&pem, 64 * 1024);
    kg_result rc = kg_cli_read_file(&pem, path, 64 * 1024);
    BIO *bio = kg_ok(rc) ? BIO_new_mem_buf(pem.data, (int)pem.len) : NULL;
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509(x, &der) : -1;
    if (kg_ok(rc))
        rc = n > 0 ? kg_dcap_verifier_new(v, der, (size_t)n)
                   : kg_dcap_verifier_new(v, pem.data, pem.len);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    kg_buf_free(&pem);
    KG_GUARD_CTX(rc, "--tee-root-ca '%s'", path);
    return KG_OK;
}

/* publish --bootstrap FILE: setKmsInfo from keygate-kms --bootstrap's output, after verifying
 * its quote (DCAP, collateral from the PCCS) and that its REPORTDATA is
 * SHA-512("kms-root-pubkey:" || ca_pubkey || k256_pubkey), i.e. that these root keys were made
 * inside that TD. */
static int cmd_publish(const kg_cli_target *t, const char *boot_path, const char *pccs,
                       const char *root_ca)
{
    kg_buf text, k256, ca, quote, evlog, data, all;
    kg_cli_signer sg;
    kms_gov g;
    kg_dcap_verifier *v = NULL;
    kg_dcap_report *rep = calloc(1, sizeof(*rep));
    char *coll = NULL;
    size_t coll_len = 0;
    json_t *boot = NULL, *out = json_object();
    int status = KG_EXIT_FAILED;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&text, KG_DEVNET_MAX_FILE);
    kg_buf_init(&k256, 64);
    kg_buf_init(&ca, 4096);
    kg_buf_init(&quote, 64 * 1024);
    kg_buf_init(&evlog, 256 * 1024);
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&all, 8192);
    if (pccs == NULL)
        pccs = kg_devnet_str(t->state, "pccs_url");
    if (root_ca == NULL)
        root_ca = kg_devnet_str(t->state, "sim_root_ca");
    if (rep == NULL) {
        (void)kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
        goto fail;
    }
    if (pccs == NULL) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "give --pccs URL: the bootstrap quote is verified before publishing");
        goto fail;
    }
    if (kg_failed(kg_cli_read_file(&text, boot_path, KG_DEVNET_MAX_FILE)))
        goto fail;
    json_error_t jerr;
    boot = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (boot == NULL) {
        (void)kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "--bootstrap '%s' is not JSON: %s",
                           boot_path, jerr.text);
        goto fail;
    }
    const char *names[] = {"k256_pubkey", "ca_pubkey", "quote", "eventlog"};
    kg_buf *bufs[] = {&k256, &ca, &quote, &evlog};
    for (size_t i = 0; i < 4; i++) {
        const char *hx = json_string_value(json_object_get(boot, names[i]));
        if (hx == NULL) {
            (void)kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "--bootstrap '%s': '%s' missing",
                               boot_path, names[i]);
            goto fail;
        }
        if (kg_failed(kg_hex_decode_buf(bufs[i], hx, strlen(hx)))) {
            (void)kg_error_context("--bootstrap '%s': '%s'", boot_path, names[i]);
            goto fail;
        }
    }
    if (k256.len != KG_K256_PUB_LEN) {
        (void)kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                           "--bootstrap '%s': k256_pubkey is %zu bytes, not a compressed key",
                           boot_path, k256.len);
        goto fail;
    }
    uint8_t want[64];
    if (kg_failed(kg_buf_append(&all, "kms-root-pubkey:", 16)) ||
        kg_failed(kg_buf_append(&all, ca.data, ca.len)) ||
        kg_failed(kg_buf_append(&all, k256.data, k256.len)) ||
        kg_failed(kg_sha512(want, all.data, all.len)))
        goto fail;
    if (kg_failed(kg_pccs_get_collateral(&coll, &coll_len, pccs, quote.data, quote.len, NULL,
                                         (uint64_t)time(NULL)))) {
        (void)kg_error_context("PCCS '%s'", pccs);
        goto fail;
    }
    if (kg_failed(publish_verifier(&v, root_ca)) ||
        kg_failed(
            kg_dcap_verify(v, rep, quote.data, quote.len, coll, coll_len, (uint64_t)time(NULL)))) {
        (void)kg_error_context("--bootstrap '%s': the quote does not verify", boot_path);
        goto fail;
    }
    const uint8_t *rd = rep->quote.body_type == KG_BODY_SGX ? rep->quote.sgx.report_data
                                                            : rep->quote.td.report_data;
    if (memcmp(rd, want, 64) != 0) {
        (void)kg_error_set(KG_ERR_VERIFY, __FILE__, __LINE__,
                           "--bootstrap '%s': the quote's REPORTDATA is not SHA-512(\"kms-root-"
                           "pubkey:\" || ca_pubkey || k256_pubkey): these keys were not made in "
                           "that TD",
                           boot_path);
        goto fail;
    }
    if (kg_failed(prepare(&sg, &g, t, false)))
        goto fail;
    kg_abi_value members[4] = {kg_abi_bytes(k256.data, k256.len), kg_abi_bytes(ca.data, ca.len),
                               kg_abi_bytes(quote.data, quote.len),
                               kg_abi_bytes(evlog.data, evlog.len)};
    kg_abi_value info = kg_abi_tuple(members, 4);
    char k256_hex[67];
    if (kg_failed(kg_hex_encode(k256_hex, sizeof(k256_hex), k256.data, k256.len)))
        goto fail;
    json_object_set_new(out, "action", json_string("publish"));
    json_object_set_new(out, "k256_pubkey", json_string(k256_hex));
    json_object_set_new(out, "tcb_status", json_string(rep->status));
    json_object_set_new(out, "report_data_bound", json_true());
    if (kg_failed(kg_chain_calldata(&data, "setKmsInfo((bytes,bytes,bytes,bytes))", &info, 1)) ||
        kg_failed(kg_cli_write(t, &sg, t->kms, &data, out, NULL))) {
        (void)kg_error_context("setKmsInfo");
        goto fail;
    }
    kg_cli_print_json(out, true);
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    json_decref(boot);
    free(coll);
    free(rep);
    kg_dcap_verifier_free(v);
    kg_cli_signer_close(&sg);
    kg_buf_free(&all);
    kg_buf_free(&data);
    kg_buf_free(&evlog);
    kg_buf_free(&quote);
    kg_buf_free(&ca);
    kg_buf_free(&k256);
    kg_buf_free(&text);
    return status;
}

/* The values of a list: from the contract's state (its count and page getters), or, for a KMS
 * contract without them, by replaying the list's Added/Removed/Proposed/Vetoed events from
 * from_block (*from_state false). Then asks the contract about each value: *allowed_out lists
 * those allowed now, *pending_out those proposed and pending. */
static kg_result list_values(json_t **allowed_out, json_t **pending_out, bool *from_state,
                             const kg_cli_target *t, const kms_list *l, uint64_t from_block,
                             bool has_notice)
{
    kg_eth_logs logs;
    json_t *seen = json_object(), *state = json_array();
    uint8_t ev[4][32];
    const char *sigs[4] = {l->ev_added, l->ev_removed, l->ev_proposed, l->ev_vetoed};
    memset(&logs, 0, sizeof(logs));
    if (seen == NULL || state == NULL ||
        kg_failed(kg_cli_word_list_read(state, from_state, &t->chain, t->kms, l->count, l->page))) {
        if (seen == NULL || state == NULL)
            (void)kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
        json_decref(seen);
        json_decref(state);
        return KG_ERROR;
    }
    size_t si;
    json_t *sv;
    json_array_foreach(state, si, sv) json_object_set_new(seen, json_string_value(sv), json_true());
    json_decref(state);
    for (size_t i = 0; i < 4; i++)
        kg_keccak256(ev[i], sigs[i], strlen(sigs[i]));
    if (!*from_state && kg_failed(kg_chain_logs(&t->chain, &logs, t->kms, NULL, from_block))) {
        json_decref(seen);
        return KG_ERROR;
    }
    for (size_t i = 0; i < logs.count; i++) {
        const kg_eth_log *lg = &logs.items[i];
        const uint8_t *v = NULL;
        if (lg->n_topics < 1)
            continue;
        if ((memcmp(lg->topics[0], ev[0], 32) == 0 || memcmp(lg->topics[0], ev[1], 32) == 0) &&
            lg->data_len >= 32)
            v = lg->data; /* unindexed, as in dstack */
        else if ((memcmp(lg->topics[0], ev[2], 32) == 0 || memcmp(lg->topics[0], ev[3], 32) == 0) &&
                 lg->n_topics >= 2)
            v = lg->topics[1];
        char hex[65];
        if (v != NULL && kg_ok(kg_hex_encode(hex, sizeof(hex), v, 32)))
            json_object_set_new(seen, hex, json_true());
    }
    kg_eth_logs_free(&logs);
    json_t *arr = json_array(), *pend = json_array();
    const char *k;
    json_t *jv;
    json_object_foreach(seen, k, jv)
    {
        uint8_t val[32];
        bool allowed = false;
        uint64_t at = 0;
        if (kg_failed(kg_hex_decode_exact(val, 32, k)) ||
            kg_failed(list_state(&allowed, &at, &t->chain, t->kms, l, val, has_notice))) {
            json_decref(arr);
            json_decref(pend);
            json_decref(seen);
            return KG_ERROR;
        }
        if (allowed)
            json_array_append_new(arr, json_string(k));
        else if (at != 0)
            json_array_append_new(
                pend, json_pack("{s:s,s:I}", "value", k, "activates_at", (json_int_t)at));
    }
    json_decref(seen);
    *allowed_out = arr;
    *pending_out = pend;
    return KG_OK;
}

/* The chain view a KMS decides with, and the revocation latency it implies: the KMS config's
 * policy (nodes, quorum, confirmations) when the devnet names one, and the chain's recent block
 * time. A revocation in block B applies to every decision made at B or later; a KMS deciding at
 * head - N sees it N blocks after B. */
static json_t *chain_view_json(const kg_cli_target *t)
{
    kg_eth_block head, back;
    if (kg_failed(kg_eth_get_block(t->chain.eth, &head, "latest"))) {
        kg_error_clear();
        return NULL;
    }
    uint64_t span = head.number < 10 ? head.number : 10;
    double block_time = 0;
    if (span > 0 && kg_ok(kg_eth_get_block_by_number(t->chain.eth, &back, head.number - span)) &&
        head.timestamp >= back.timestamp)
        block_time = (double)(head.timestamp - back.timestamp) / (double)span;
    kg_error_clear();
    json_t *o = json_pack("{s:I,s:f}", "head", (json_int_t)head.number, "block_time_s", block_time);
    const char *cfg_path = t->state ? kg_devnet_str(t->state, "kms_config") : NULL;
    kg_kms_config *cfg = cfg_path ? calloc(1, sizeof(*cfg)) : NULL;
    if (o != NULL && cfg != NULL && kg_ok(kg_kms_config_load(cfg, cfg_path)) &&
        cfg->policy == KG_KMS_POLICY_ETH) {
        json_object_set_new(o, "nodes", json_integer(cfg->n_rpc_urls));
        json_object_set_new(o, "quorum", json_integer(cfg->quorum));
        json_object_set_new(o, "confirmations", json_integer(cfg->confirmations));
        json_object_set_new(o, "max_block_age_s", json_integer(cfg->max_block_age_s));
        json_object_set_new(o, "revocation_latency_blocks", json_integer(cfg->confirmations));
        json_object_set_new(o, "revocation_latency_s",
                            json_real(block_time * (double)cfg->confirmations));
    }
    kg_error_clear();
    free(cfg);
    return o;
}

/* The JSON of `kms status` and the governance state it was read from. */
static kg_result kms_status_build(json_t **out_json, kms_gov *g, const kg_cli_target *t,
                                  uint64_t from_block)
{
    kg_buf ret;
    kg_abi_decoded d[4];
    char owner_s[43], kms_s[43];
    json_t *out = NULL;
    kg_result rc = KG_ERROR;
    *out_json = NULL;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    KG_GUARD_C(gov_read(g, &t->chain, t->kms));
    kg_eth_address_checksum(owner_s, g->owner);
    kg_eth_address_checksum(kms_s, t->kms);
    out = json_pack("{s:s,s:s}", "kms_contract", kms_s, "owner", owner_s);
    KG_ENSURE_C(out != NULL, KG_ERR_NOMEM, "out of memory");
    kg_abi_type info_t[4] = {KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES};
    KG_GUARD_C(kg_chain_view(&t->chain, d, info_t, 4, &ret, t->kms, "kmsInfo()", NULL, 0));
    char hex[2 * 65 + 1];
    if (d[0].len <= 65 && kg_ok(kg_hex_encode(hex, sizeof(hex), d[0].data, d[0].len)))
        json_object_set_new(out, "k256_pubkey", json_string(hex));
    json_object_set_new(out, "quote_len", json_integer((json_int_t)d[2].len));
    json_object_set_new(out, "eventlog_len", json_integer((json_int_t)d[3].len));
    json_object_set_new(out, "governance_notice", gov_json(g));
    json_t *view = chain_view_json(t);
    if (view != NULL)
        json_object_set_new(out, "chain_view", view);
    bool from_state = true;
    for (size_t i = 0; i < N_LISTS; i++) {
        json_t *vals = NULL, *pend = NULL;
        bool st = false;
        KG_GUARD_C(list_values(&vals, &pend, &st, t, &lists[i], from_block, g->has_notice));
        from_state = from_state && st;
        char key[48];
        snprintf(key, sizeof(key), "allowed_%s", lists[i].opt);
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        json_object_set_new(out, key, vals);
        memcpy(key, "pending", 7); /* "allowed_x" -> "pending_x" */
        json_object_set_new(out, key, pend);
    }
    /* "contract": the lists are the contract's state; "events": the values its events name
     * from from_block on (a KMS contract from before enumeration, or dstack's) */
    json_object_set_new(out, "lists_from", json_string(from_state ? "contract" : "events"));
    *out_json = out;
    out = NULL;
    rc = KG_OK;
cleanup:
    json_decref(out);
    kg_buf_free(&ret);
    return rc;
}

kg_result kg_cli_kms_status(json_t **out, const kg_cli_target *t, uint64_t from_block)
{
    kms_gov g;
    return kms_status_build(out, &g, t, from_block);
}

static int cmd_status(const kg_cli_target *t, bool as_json, uint64_t from_block)
{
    kms_gov g;
    char owner_s[43], kms_s[43];
    json_t *out = NULL;
    int status = KG_EXIT_FAILED;
    if (kg_failed(kms_status_build(&out, &g, t, from_block)))
        goto fail;
    kg_eth_address_checksum(owner_s, g.owner);
    kg_eth_address_checksum(kms_s, t->kms);
    if (as_json) {
        kg_cli_print_json(out, false);
    } else {
        printf("KMS contract %s\n  owner        %s\n  root k256    %s\n", kms_s, owner_s,
               json_object_get(out, "k256_pubkey")
                   ? json_string_value(json_object_get(out, "k256_pubkey"))
                   : "(not published)");
        char ga[43];
        kg_eth_address_checksum(ga, g.guardian);
        printf("  notice       %" PRIu64 " s (guardian %s; guaranteed %" PRIu64 " s)\n", g.period,
               ga, g.guaranteed);
        if (g.pending_at != 0) {
            kg_eth_address_checksum(ga, g.pending_guardian);
            printf("  pending notice change: %" PRIu64 " s, guardian %s, from %" PRIu64 "%s\n",
                   g.pending_period, ga, g.pending_at,
                   g.pending_escape ? " (guardian escape: the guardian cannot veto it)" : "");
        }
        if (!is_zero(g.upgrade, 20)) {
            kg_eth_address_checksum(ga, g.upgrade);
            printf("  pending upgrade: %s, executable from %" PRIu64 "\n", ga, g.upgrade_at);
        }
        json_t *cv = json_object_get(out, "chain_view");
        if (json_object_get(cv, "confirmations") != NULL)
            printf("  chain view   %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
                   " nodes agree at head - %" JSON_INTEGER_FORMAT
                   "; a revocation applies after %" JSON_INTEGER_FORMAT
                   " blocks (~%.0f s at %.1f s/block)\n",
                   json_integer_value(json_object_get(cv, "quorum")),
                   json_integer_value(json_object_get(cv, "nodes")),
                   json_integer_value(json_object_get(cv, "confirmations")),
                   json_integer_value(json_object_get(cv, "revocation_latency_blocks")),
                   json_real_value(json_object_get(cv, "revocation_latency_s")),
                   json_real_value(json_object_get(cv, "block_time_s")));
        const char *keys[] = {"allowed_mr", "allowed_device", "allowed_os_image"};
        const char *pkeys[] = {"pending_mr", "pending_device", "pending_os_image"};
        for (size_t i = 0; i < 3; i++) {
            printf("  %s:\n", keys[i]);
            size_t j;
            json_t *v;
            json_array_foreach(json_object_get(out, keys[i]), j, v)
                printf("    %s\n", json_string_value(v));
            json_array_foreach(json_object_get(out, pkeys[i]), j, v)
                printf("    %s (pending, allowed from %" JSON_INTEGER_FORMAT ")\n",
                       json_string_value(json_object_get(v, "value")),
                       json_integer_value(json_object_get(v, "activates_at")));
        }
    }
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    json_decref(out);
    return status;
}

/* ---- recovery-holders: who can recover the sealed root keys (docs/design.md, "Sealed root
 * keys"): X25519 public keys from `keygate recovery keygen` and a threshold, on the KMS contract
 * under the same governance notice and guardian as its allow-lists ---------------------------- */

#define HOLDER_FILE_MAX 256u /* keygen's output: "0x" + 64 hex digits and a newline */

typedef struct holder_set {
    uint8_t keys[KG_ETH_MAX_RECOVERY_HOLDERS][KG_X25519_LEN];
    size_t n;
    uint8_t threshold;
    uint64_t activates_at; /* a pending change: when it takes effect (0: none pending) */
} holder_set;

/* One --holder: keygen's public key (64 hex digits, optional 0x) or a file holding it. */
static kg_result holder_parse(uint8_t out[KG_X25519_LEN], const char *text)
{
    if (kg_ok(kg_hex_decode_exact(out, KG_X25519_LEN, text)))
        return KG_OK;
    kg_error_clear();
    kg_buf f;
    kg_buf_init(&f, HOLDER_FILE_MAX + 1);
    kg_result rc = kg_cli_read_file(&f, text, HOLDER_FILE_MAX);
    if (kg_ok(rc)) {
        while (f.len > 0 &&
               (f.data[f.len - 1] == '\n' || f.data[f.len - 1] == '\r' || f.data[f.len - 1] == ' '))
            f.len--;
        rc = kg_buf_terminate(&f);
        if (kg_ok(rc))
            rc = kg_hex_decode_exact(out, KG_X25519_LEN, (const char *)f.data);
    }
    kg_buf_free(&f);
    if (kg_failed(rc)) {
        kg_error_clear();
        KG_BAIL(KG_ERR_USAGE,
                "--holder '%s' is neither an X25519 public key (64 hex digits, as 'keygate "
                "recovery keygen' prints) nor a file holding one",
                text);
    }
    return KG_OK;
}

/* The rules KeygateKms checks (KeygateRecoveryHolders._check), here first so that a mistake is a
 * usage error naming the value, not a revert. */
static kg_result holders_check(const holder_set *h, const char *const *texts)
{
    KG_ENSURE(h->n <= KG_ETH_MAX_RECOVERY_HOLDERS, KG_ERR_USAGE,
              "%zu holders: the KMS contract takes at most %u", h->n, KG_ETH_MAX_RECOVERY_HOLDERS);
    KG_ENSURE(h->n == 0 ? h->threshold == 0 : h->threshold >= 1 && h->threshold <= h->n,
              KG_ERR_USAGE,
              "--threshold %u with %zu holders: give 1..%zu (or no holders and 0 to "
              "remove recovery)",
              h->threshold, h->n, h->n);
    static const uint8_t zero[KG_X25519_LEN];
    for (size_t i = 0; i < h->n; i++) {
        KG_ENSURE(memcmp(h->keys[i], zero, KG_X25519_LEN) != 0, KG_ERR_USAGE,
                  "--holder '%s' is the zero key", texts[i]);
        for (size_t j = 0; j < i; j++)
            KG_ENSURE(memcmp(h->keys[i], h->keys[j], KG_X25519_LEN) != 0, KG_ERR_USAGE,
                      "--holder '%s' is named twice", texts[i]);
    }
    return KG_OK;
}

/* recoveryHolders() and pendingRecoveryHolders() of the KMS contract. */
static kg_result holders_read(holder_set *cur, holder_set *pend, const kg_chain *c,
                              const uint8_t kms[20])
{
    kg_result rc = KG_ERROR;
    kg_buf ret;
    kg_abi_decoded d[3];
    const kg_abi_type ty[3] = {KG_ABI_T_BYTES32_ARRAY, KG_ABI_T_UINT8, KG_ABI_T_UINT64};
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    memset(cur, 0, sizeof(*cur));
    memset(pend, 0, sizeof(*pend));
    holder_set *sets[2] = {cur, pend};
    const char *sigs[2] = {"recoveryHolders()", "pendingRecoveryHolders()"};
    for (size_t s = 0; s < 2; s++) {
        if (kg_failed(kg_chain_view(c, d, ty, s == 0 ? 2 : 3, &ret, kms, sigs[s], NULL, 0))) {
            if (kg_error_code() == KG_ERR_DENIED)
                (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                                   "the KMS contract has no recovery holders (%s reverted: a "
                                   "version from before them; upgrade it)",
                                   sigs[s]);
            goto cleanup;
        }
        KG_ENSURE_C(d[0].len <= KG_ETH_MAX_RECOVERY_HOLDERS, KG_ERR_INPUT,
                    "%s: %zu holders, more than %u", sigs[s], d[0].len,
                    KG_ETH_MAX_RECOVERY_HOLDERS);
        sets[s]->n = d[0].len;
        memcpy(sets[s]->keys, d[0].data, 32 * d[0].len);
        sets[s]->threshold = (uint8_t)kg_abi_get_u64(&d[1]);
        sets[s]->activates_at = s == 1 ? kg_abi_get_u64(&d[2]) : 0;
    }
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

static json_t *holders_json(const holder_set *h)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < h->n; i++) {
        char hex[2 + 2 * KG_X25519_LEN + 1] = "0x";
        if (kg_ok(kg_hex_encode(hex + 2, sizeof(hex) - 2, h->keys[i], KG_X25519_LEN)))
            json_array_append_new(keys, json_string(hex));
    }
    json_t *o = json_pack("{s:o,s:i}", "holders", keys, "threshold", (int)h->threshold);
    if (h->activates_at != 0)
        json_object_set_new(o, "activates_at", json_integer((json_int_t)h->activates_at));
    return o;
}

/* {holders, threshold, pending?}: what is in force and what is pending. */
static json_t *holders_state_json(const holder_set *cur, const holder_set *pend)
{
    json_t *o = holders_json(cur);
    if (pend->activates_at != 0)
        json_object_set_new(o, "pending", holders_json(pend));
    return o;
}

typedef enum { HOLDERS_LIST, HOLDERS_SET, HOLDERS_PROPOSE, HOLDERS_VETO } holders_action;

/* recovery-holders list | set | propose | veto. want: the holders to set or propose. */
static int cmd_holders(const kg_cli_target *t, holders_action act, const holder_set *want,
                       bool as_json)
{
    static const char *const names[] = {"list", "set", "propose", "veto"};
    holder_set cur, pend;
    kg_buf data;
    kg_cli_signer sg;
    kms_gov g;
    json_t *out = NULL;
    int status = KG_EXIT_FAILED;
    memset(&sg, 0, sizeof(sg));
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    if (act == HOLDERS_LIST) {
        if (kg_failed(holders_read(&cur, &pend, &t->chain, t->kms)))
            goto fail;
        out = holders_state_json(&cur, &pend);
        if (as_json) {
            kg_cli_print_json(out, false);
        } else {
            const holder_set *sets[2] = {&cur, &pend};
            const char *keys_of[2] = {"holders", "holders"};
            json_t *objs[2] = {out, json_object_get(out, "pending")};
            for (size_t s = 0; s < 2 && (s == 0 || pend.activates_at != 0); s++) {
                if (s == 1)
                    printf("pending, in force from %" PRIu64 " (unless vetoed): ",
                           pend.activates_at);
                else
                    printf("recovery holders: ");
                if (sets[s]->n == 0)
                    printf("none (no recovery)\n");
                else
                    printf("%u of %zu\n", sets[s]->threshold, sets[s]->n);
                json_t *keys = json_object_get(objs[s], keys_of[s]);
                for (size_t i = 0; i < json_array_size(keys); i++)
                    printf("  %s\n", json_string_value(json_array_get(keys, i)));
            }
        }
        status = KG_EXIT_OK;
        goto done;
    }
    if (kg_failed(prepare(&sg, &g, t, act == HOLDERS_VETO)) ||
        kg_failed(holders_read(&cur, &pend, &t->chain, t->kms)))
        goto fail;
    if (act == HOLDERS_SET && g.period > 0) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "the KMS contract has a %" PRIu64 " s governance notice: use 'keygate "
                           "kms recovery-holders propose' (in force after the notice period)",
                           g.period);
        goto fail;
    }
    if (act == HOLDERS_PROPOSE && g.period == 0) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "the KMS contract has no governance notice: use 'keygate kms "
                           "recovery-holders set'");
        goto fail;
    }
    if (act == HOLDERS_VETO && pend.activates_at == 0) {
        (void)kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                           "no recovery holder change is pending");
        goto fail;
    }
    kg_abi_value items[KG_ETH_MAX_RECOVERY_HOLDERS], args[2];
    for (size_t i = 0; act != HOLDERS_VETO && i < want->n; i++)
        items[i] = kg_abi_bytes32(want->keys[i]);
    args[0] = kg_abi_array(items, act == HOLDERS_VETO ? 0 : want->n);
    args[1] = kg_abi_uint64(act == HOLDERS_VETO ? 0 : want->threshold);
    out = act == HOLDERS_VETO ? json_object() : holders_json(want);
    json_object_set_new(out, "action", json_string(names[act]));
    if (kg_failed(
            act == HOLDERS_VETO ? kg_chain_calldata(&data, "vetoRecoveryHolders()", NULL, 0)
            : act == HOLDERS_SET
                ? kg_chain_calldata(&data, "setRecoveryHolders(bytes32[],uint8)", args, 2)
                : kg_chain_calldata(&data, "proposeRecoveryHolders(bytes32[],uint8)", args, 2)) ||
        kg_failed(kg_cli_write(t, &sg, t->kms, &data, out, NULL))) {
        (void)kg_error_context("recovery-holders %s", names[act]);
        goto fail;
    }
    /* what the chain holds now (a write through a Safe or Governor may not be done yet) */
    if (kg_ok(holders_read(&cur, &pend, &t->chain, t->kms)))
        json_object_set_new(out, "state", holders_state_json(&cur, &pend));
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
    return status;
}

int kg_cmd_kms(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"rpc-url", required_argument, NULL, 'r'},
        {"kms-contract", required_argument, NULL, 'k'},
        {"private-key-file", required_argument, NULL, 'f'},
        {"mr", required_argument, NULL, 'm'},
        {"device", required_argument, NULL, 'd'},
        {"os-image", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {"from-block", required_argument, NULL, 'b'},
        {"upgrade", required_argument, NULL, 'u'},
        {"notice-change", no_argument, NULL, 'n'},
        {"period", required_argument, NULL, 'p'},
        {"guardian", required_argument, NULL, 'g'},
        {"escape-guardian", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {"transfer", required_argument, NULL, 'T'},
        {"accept", no_argument, NULL, 'A'},
        {"execute", required_argument, NULL, 'E'},
        {"bootstrap", required_argument, NULL, 'B'},
        {"pccs", required_argument, NULL, 'P'},
        {"tee-root-ca", required_argument, NULL, 'R'},
        {"holder", required_argument, NULL, 'H'},
        {"threshold", required_argument, NULL, 't'},
        KG_CLI_SIGNER_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *transfer = NULL, *execute = NULL, *bootstrap = NULL, *pccs = NULL, *tee_root = NULL;
    bool accept = false;
    memset(&signer_opts, 0, sizeof(signer_opts));
    const char *state = NULL, *rpc = NULL, *kmsc = NULL, *key_file = NULL, *value = NULL;
    const char *upgrade = NULL, *period = NULL, *guardian = NULL, *escape = NULL;
    const kms_list *list = NULL;
    int n_values = 0;
    bool as_json = false, notice_change = false;
    uint64_t from_block = 0;
    holder_set holders; /* recovery-holders set|propose: --holder ... --threshold T */
    const char *holder_texts[KG_ETH_MAX_RECOVERY_HOLDERS + 1];
    const char *threshold = NULL;
    memset(&holders, 0, sizeof(holders));
    static const kg_cli_group group = {"kms", kms_usage};
    int head = kg_cli_group_help(&group, argc, argv);
    if (head != KG_CLI_CONTINUE)
        return head;
    const char *sub = argv[1];
    if (strcmp(sub, "checkpoint") == 0) /* the decision log on chain: its own file */
        return kg_cmd_kms_checkpoint(argc, argv);
    if (strcmp(sub, "config") == 0) /* writes a file, asks no chain (cmd_kms_config.c) */
        return kg_cmd_kms_config(argc - 1, argv + 1);
    if (strcmp(sub, "index") == 0) /* anyone's write, with its own options (cmd_kms_index.c) */
        return kg_cmd_kms_index(argc, argv);
    if (strcmp(sub, "recover") == 0)
        return kg_cmd_kms_recover(argc - 1, argv + 1);
    if (strcmp(sub, "epoch") == 0) /* root-key epochs: an action word, its own options */
        return kg_cmd_kms_epoch(argc, argv);
    /* recovery-holders takes its action as the next word: list (the default), set, propose,
     * veto */
    bool is_holders = strcmp(sub, "recovery-holders") == 0;
    const char *holders_act = is_holders && argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
    int c;
    optind = holders_act != NULL ? 3 : 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (holders.n >= KG_ETH_MAX_RECOVERY_HOLDERS) {
                fprintf(stderr,
                        "keygate kms: more than %u --holder: the KMS contract takes at "
                        "most %u\n",
                        KG_ETH_MAX_RECOVERY_HOLDERS, KG_ETH_MAX_RECOVERY_HOLDERS);
                return KG_EXIT_USAGE;
            }
            if (kg_failed(holder_parse(holders.keys[holders.n], optarg)))
                return kg_cli_fail();
            holder_texts[holders.n++] = optarg;
            break;
        case 't': threshold = optarg; break;
        case 's': state = optarg; break;
        case 'r': rpc = optarg; break;
        case 'k': kmsc = optarg; break;
        case 'f': key_file = optarg; break;
        case 'm':
            list = &lists[0];
            value = optarg;
            n_values++;
            break;
        case 'd':
            list = &lists[1];
            value = optarg;
            n_values++;
            break;
        case 'o':
            list = &lists[2];
            value = optarg;
            n_values++;
            break;
        case 'u':
            upgrade = optarg;
            n_values++;
            break;
        case 'n':
            notice_change = true;
            n_values++;
            break;
        case 'p': period = optarg; break;
        case 'g': guardian = optarg; break;
        case 'G': escape = optarg; break;
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
        case 'T': transfer = optarg; break;
        case 'A': accept = true; break;
        case 'E': execute = optarg; break;
        case 'B': bootstrap = optarg; break;
        case 'P': pccs = optarg; break;
        case 'R': tee_root = optarg; break;
        default: {
            kg_result orc;
            if (kg_cli_signer_option(&signer_opts, c, optarg, &orc)) {
                if (kg_failed(orc))
                    return kg_cli_fail();
                break;
            }
            return kg_cli_bad_option("kms", argc, argv);
        }
        }
    }
    signer_opts.key_file = key_file;
    bool is_owner = strcmp(sub, "owner") == 0, is_publish = strcmp(sub, "publish") == 0,
         is_upgrade = strcmp(sub, "upgrade") == 0;
    if (is_owner || is_publish || is_upgrade) {
        if ((is_owner && (transfer != NULL) == accept) || (is_publish && bootstrap == NULL) ||
            (is_upgrade && execute == NULL) || n_values != 0) {
            fprintf(stderr, "keygate kms %s: give %s\n", sub,
                    is_owner     ? "exactly one of --transfer ADDR and --accept"
                    : is_publish ? "--bootstrap FILE"
                                 : "--execute IMPL");
            return KG_EXIT_USAGE;
        }
        kg_cli_target ot;
        if (kg_failed(kg_cli_target_open(&ot, state, rpc, kmsc))) {
            kg_cli_target_close(&ot);
            return kg_cli_fail();
        }
        int st;
        if (!ot.has_kms) {
            fprintf(stderr, "keygate kms: no KMS contract: give --kms-contract ADDR or --state\n");
            st = KG_EXIT_USAGE;
        } else if (is_owner) {
            st = cmd_owner(&ot, transfer, accept);
        } else if (is_publish) {
            st = cmd_publish(&ot, bootstrap, pccs, tee_root);
        } else {
            st = cmd_upgrade(&ot, execute, false, true);
        }
        kg_cli_target_close(&ot);
        return st;
    }
    if (optind != argc) {
        fprintf(stderr, "keygate kms: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    int hact = -1;
    if (is_holders) {
        static const char *const hsubs[] = {"list", "set", "propose", "veto"};
        for (int i = 0; i < 4; i++)
            if (strcmp(holders_act != NULL ? holders_act : "list", hsubs[i]) == 0)
                hact = i;
        bool writes = hact == HOLDERS_SET || hact == HOLDERS_PROPOSE;
        if (hact < 0 || n_values != 0 || (writes != (threshold != NULL)) ||
            (!writes && holders.n != 0)) {
            fprintf(stderr, "keygate kms recovery-holders: %s\n",
                    hact < 0 ? "the action is list, set, propose or veto"
                    : writes ? "give --threshold T and the holders (--holder KEY|FILE, repeated)"
                             : "list and veto take no --holder, --threshold, --mr, --device, "
                               "--os-image, --upgrade or --notice-change");
            return KG_EXIT_USAGE;
        }
        if (writes) {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(threshold, &end, 10);
            if (errno != 0 || end == threshold || *end != '\0' || threshold[0] == '-' || v > 255) {
                fprintf(stderr, "keygate kms: --threshold '%s' is not a number of holders\n",
                        threshold);
                return KG_EXIT_USAGE;
            }
            holders.threshold = (uint8_t)v;
            if (kg_failed(holders_check(&holders, holder_texts)))
                return kg_cli_fail();
        }
    } else if (holders.n != 0 || threshold != NULL) {
        fprintf(stderr, "keygate kms: --holder and --threshold go with 'keygate kms "
                        "recovery-holders set|propose'\n");
        return KG_EXIT_USAGE;
    }
    static const char *const subs[] = {"allow", "revoke", "propose", "veto"};
    int act = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(sub, subs[i]) == 0)
            act = i;
    bool is_notice = strcmp(sub, "notice") == 0;
    if (act < 0 && !is_notice && !is_holders && strcmp(sub, "status") != 0) {
        return kg_cli_group_unknown(&group, sub);
    }
    if (act >= 0) {
        const char *which = act == KACT_PROPOSE ? "--mr, --device, --os-image, --upgrade"
                            : act == KACT_VETO  ? "--mr, --device, --os-image, --upgrade, "
                                                  "--notice-change"
                                                : "--mr, --device, --os-image";
        bool bad = n_values != 1 || (upgrade != NULL && act < KACT_PROPOSE) ||
                   (notice_change && act != KACT_VETO);
        if (bad) {
            fprintf(stderr, "keygate kms %s: give exactly one of %s\n", sub, which);
            return KG_EXIT_USAGE;
        }
    }
    if ((period != NULL || guardian != NULL) &&
        (!is_notice || (period == NULL) != (guardian == NULL))) {
        fprintf(stderr, "keygate kms: --period SECONDS and --guardian ADDR go together, with "
                        "'keygate kms notice'\n");
        return KG_EXIT_USAGE;
    }
    if (escape != NULL && (!is_notice || period != NULL)) {
        fprintf(stderr, "keygate kms: --escape-guardian ADDR goes alone, with 'keygate kms "
                        "notice' (the period stays as it is)\n");
        return KG_EXIT_USAGE;
    }
    if ((is_notice || act < 0) && n_values != 0) {
        fprintf(stderr,
                "keygate kms %s: takes no --mr, --device, --os-image, --upgrade or "
                "--notice-change\n",
                sub);
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
    } else if (is_holders) {
        status = cmd_holders(&t, (holders_action)hact, &holders, as_json);
    } else if (is_notice) {
        status = cmd_notice(&t, period, guardian, escape, false);
    } else if (act == KACT_VETO && notice_change) {
        status = cmd_notice(&t, NULL, NULL, NULL, true);
    } else if (upgrade != NULL) {
        status = cmd_upgrade(&t, upgrade, act == KACT_VETO, false);
    } else if (act >= 0) {
        status = cmd_change(&t, list, value, (kms_action)act);
    } else {
        status = cmd_status(&t, as_json, from_block);
    }
    kg_cli_target_close(&t);
    return status;
}
