/* app_lists.c - an app's allow-lists and the KMS contract's app registry read from contract state
 * (the contracts' count and paged getters, contracts/README.md "Enumeration"), page by page, so
 * what `app status`, `app list` and the dashboard show does not depend on how much history a
 * chain node lets one read. Contracts without those getters (dstack's, or keygate's from before
 * enumeration) are reported as such, for the caller to fall back on events. */
#include <inttypes.h>
#include <string.h>

#include "chain.h"
#include "keygate/hash.h"
#include "status.h"

#define LIST_PAGE 256u          /* entries per paged view call (~16 KiB of return data) */
#define LIST_MAX 100000u        /* entries one list read keeps */
#define LIST_MAX_ADVISORY 1024u /* longest advisory id shown */
#define APP_REGISTERED "AppRegistered(address)"

/* count_sig() -> uint256. *has is false when the contract has no such getter (the call reverts or
 * answers nothing): older contracts. A count past LIST_MAX fails. */
static kg_result list_count(uint64_t *count, bool *has, const kg_chain *c, const uint8_t to[20],
                            const char *count_sig)
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_UINT64;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    *has = false;
    *count = 0;
    kg_result rc = kg_chain_view(c, &d, &ty, 1, &ret, to, count_sig, NULL, 0);
    kg_buf_free(&ret);
    if (kg_failed(rc)) {
        kg_err code = kg_error_code();
        if (code != KG_ERR_DENIED && code != KG_ERR_TRUNCATED && code != KG_ERR_INPUT)
            return rc;
        kg_error_clear();
        return KG_OK;
    }
    *has = true;
    *count = kg_abi_get_u64(&d);
    KG_ENSURE(*count <= LIST_MAX, KG_ERR_TOO_LARGE,
              "%s: %" PRIu64 " entries, more than keygate reads (%u)", count_sig, *count, LIST_MAX);
    return KG_OK;
}

/* One entry of a page: word i of each of its n_arrays arrays. */
typedef kg_result (*list_entry_fn)(void *ctx, const uint8_t *const words[2]);

/* Reads page_sig(offset, limit) -> n_arrays (1 or 2) word arrays of equal length until count
 * entries were read, calling fn for each. A list that shrinks while it is read ends early. */
static kg_result list_pages(const kg_chain *c, const uint8_t to[20], const char *page_sig,
                            uint64_t count, size_t n_arrays, list_entry_fn fn, void *ctx)
{
    kg_result rc = KG_ERROR;
    kg_buf ret;
    kg_abi_decoded d[2];
    const kg_abi_type ty[2] = {KG_ABI_T_BYTES32_ARRAY, KG_ABI_T_BYTES32_ARRAY};
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    for (uint64_t off = 0; off < count; off += LIST_PAGE) {
        const kg_abi_value args[2] = {kg_abi_uint64(off), kg_abi_uint64(LIST_PAGE)};
        KG_GUARD_C(kg_chain_view(c, d, ty, n_arrays, &ret, to, page_sig, args, 2));
        size_t got = d[0].len;
        KG_ENSURE_C(got <= LIST_PAGE && (n_arrays < 2 || d[1].len == got), KG_ERR_NETWORK,
                    "%s: a page of %zu entries is not what was asked for", page_sig, got);
        if (got == 0)
            break;
        for (size_t i = 0; i < got; i++) {
            const uint8_t *w[2] = {d[0].data + 32 * i, n_arrays > 1 ? d[1].data + 32 * i : NULL};
            KG_GUARD_C(fn(ctx, w));
        }
    }
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

/* A word holding a value of `bytes` bytes (uint64: 8, address: 20): the rest must be zero. */
static bool word_fits(const uint8_t w[32], size_t bytes)
{
    for (size_t i = 0; i < 32 - bytes; i++)
        if (w[i] != 0)
            return false;
    return true;
}

static json_t *hex_string(const uint8_t *data, size_t len)
{
    char hex[65];
    if (len > 32 || kg_failed(kg_hex_encode(hex, sizeof(hex), data, len))) {
        kg_error_clear();
        return NULL;
    }
    return json_string(hex);
}

/* ---- an app's lists -------------------------------------------------------------------------- */

static kg_result add_compose_hash(void *ctx, const uint8_t *const w[2])
{
    kg_cli_app_lists *l = ctx;
    char hex[65];
    KG_ENSURE(word_fits(w[1], 8), KG_ERR_NETWORK,
              "composeHashPage: an activation time past 64 bits");
    uint64_t at = 0;
    for (int b = 24; b < 32; b++)
        at = (at << 8) | w[1][b];
    KG_GUARD(kg_hex_encode(hex, sizeof(hex), w[0], 32));
    if (json_object_get(l->seen, hex) != NULL)
        return KG_OK; /* read twice: the list changed between pages */
    json_object_set_new(l->seen, hex, json_true());
    if (at <= l->timestamp)
        json_array_append_new(l->allowed, json_string(hex));
    else
        json_array_append_new(l->pending, json_pack("{s:s,s:I}", "compose_hash", hex,
                                                    "activates_at", (json_int_t)at));
    return KG_OK;
}

static kg_result add_word(void *ctx, const uint8_t *const w[2])
{
    json_t *v = hex_string(w[0], 32);
    KG_ENSURE(v != NULL, KG_ERR_NOMEM, "out of memory");
    json_array_append_new((json_t *)ctx, v);
    return KG_OK;
}

/* advisory_at(i) -> string for i < count: the ids as the owner wrote them, escaped unless UTF-8. */
static kg_result read_advisories(json_t *out, const kg_chain *c, const uint8_t app[20],
                                 const char *count_sig, const char *at_sig)
{
    uint64_t n = 0;
    bool has = false;
    kg_result rc = KG_ERROR;
    kg_buf ret;
    kg_abi_decoded d;
    const kg_abi_type ty = KG_ABI_T_BYTES; /* a string's encoding; NUL bytes are escaped */
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    KG_GUARD_C(list_count(&n, &has, c, app, count_sig));
    for (uint64_t i = 0; i < n; i++) {
        const kg_abi_value arg = kg_abi_uint64(i);
        KG_GUARD_C(kg_chain_view(c, &d, &ty, 1, &ret, app, at_sig, &arg, 1));
        KG_ENSURE_C(d.len <= LIST_MAX_ADVISORY, KG_ERR_TOO_LARGE,
                    "%s: an advisory id of %zu bytes (at most %u are shown)", at_sig, d.len,
                    LIST_MAX_ADVISORY);
        json_t *id =
            memchr(d.data, 0, d.len) == NULL ? json_stringn((const char *)d.data, d.len) : NULL;
        if (id == NULL) {
            char esc[4 * LIST_MAX_ADVISORY + 1];
            size_t len = kg_text_escape(esc, sizeof(esc), (const char *)d.data, d.len);
            id = json_stringn(esc, len);
        }
        json_array_append_new(out, id);
    }
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

KG_RESULT kg_cli_app_lists_read(kg_cli_app_lists *l, const kg_chain *c, const uint8_t app[20],
                                bool compose_only)
{
    uint64_t n = 0;
    memset(l, 0, sizeof(*l));
    l->allowed = json_array();
    l->pending = json_array();
    l->devices = json_array();
    l->denied_advisories = json_array();
    l->allowed_advisories = json_array();
    l->seen = json_object();
    KG_ENSURE(l->allowed && l->pending && l->devices && l->denied_advisories &&
                  l->allowed_advisories && l->seen,
              KG_ERR_NOMEM, "out of memory");
    /* the block the lists are classified at: pages are read at the latest block after it */
    KG_GUARD(kg_chain_latest(c, &l->block, &l->timestamp));
    KG_GUARD(list_count(&n, &l->enumerable, c, app, "composeHashCount()"));
    if (!l->enumerable)
        return KG_OK;
    KG_GUARD(list_pages(c, app, "composeHashPage(uint256,uint256)", n, 2, add_compose_hash, l));
    if (compose_only)
        return KG_OK;
    bool has = false;
    KG_GUARD(list_count(&n, &has, c, app, "allowedDeviceCount()"));
    if (has)
        KG_GUARD(
            list_pages(c, app, "allowedDevicePage(uint256,uint256)", n, 1, add_word, l->devices));
    KG_GUARD(read_advisories(l->denied_advisories, c, app, "deniedAdvisoryCount()",
                             "deniedAdvisoryAt(uint256)"));
    KG_GUARD(read_advisories(l->allowed_advisories, c, app, "allowedAdvisoryCount()",
                             "allowedAdvisoryAt(uint256)"));
    return KG_OK;
}

void kg_cli_app_lists_free(kg_cli_app_lists *l)
{
    json_decref(l->allowed);
    json_decref(l->pending);
    json_decref(l->devices);
    json_decref(l->denied_advisories);
    json_decref(l->allowed_advisories);
    json_decref(l->seen);
    memset(l, 0, sizeof(*l));
}

KG_RESULT kg_cli_word_list_read(json_t *out, bool *has, const kg_chain *c, const uint8_t to[20],
                                const char *count_sig, const char *page_sig)
{
    uint64_t n = 0;
    KG_GUARD(list_count(&n, has, c, to, count_sig));
    if (!*has)
        return KG_OK;
    return list_pages(c, to, page_sig, n, 1, add_word, out);
}

/* ---- the KMS contract's registry ---------------------------------------------------------------
 */

typedef struct app_ctx {
    json_t *ids, *seen;
} app_ctx;

static kg_result add_app(void *ctx, const uint8_t *const w[2])
{
    app_ctx *a = ctx;
    char s[43];
    KG_ENSURE(word_fits(w[0], 20), KG_ERR_NETWORK, "registeredAppPage: not an address");
    kg_eth_address_checksum(s, w[0] + 12);
    if (json_object_get(a->seen, s) != NULL)
        return KG_OK;
    json_object_set_new(a->seen, s, json_true());
    json_array_append_new(a->ids, json_string(s));
    return KG_OK;
}

/* The AppRegistered(address appId) events: one unindexed word each. */
static kg_result apps_from_events(app_ctx *a, json_t *info, const kg_cli_target *t,
                                  const kg_chain_history_opts *h)
{
    uint8_t topic[32];
    kg_chain_history hist;
    kg_keccak256(topic, APP_REGISTERED, strlen(APP_REGISTERED));
    KG_GUARD(kg_chain_history_read(&hist, &t->chain, t->kms, topic, h));
    kg_result rc = KG_OK;
    for (size_t i = 0; i < hist.logs.count && kg_ok(rc); i++) {
        const kg_eth_log *l = &hist.logs.items[i];
        if (l->data_len != 32 || !word_fits(l->data, 20))
            continue; /* not the event keygate and dstack emit */
        const uint8_t *w[2] = {l->data, NULL};
        rc = add_app(a, w);
    }
    kg_chain_history_json(info, &hist);
    kg_chain_history_free(&hist);
    return rc;
}

KG_RESULT kg_cli_registered_apps(json_t **ids, json_t *info, const kg_cli_target *t,
                                 const kg_chain_history_opts *h)
{
    uint64_t n = 0;
    bool has = false;
    app_ctx a = {json_array(), json_object()};
    kg_result rc = KG_ERROR;
    *ids = NULL;
    KG_ENSURE_C(a.ids != NULL && a.seen != NULL, KG_ERR_NOMEM, "out of memory");
    KG_ENSURE_C(t->has_kms, KG_ERR_USAGE,
                "no KMS contract: give --kms-contract ADDR (or --state DIR of a devnet)");
    KG_GUARD_C(list_count(&n, &has, &t->chain, t->kms, "registeredAppCount()"));
    json_object_set_new(info, "apps_from", json_string(has ? "contract" : "events"));
    if (has) {
        KG_GUARD_C(
            list_pages(&t->chain, t->kms, "registeredAppPage(uint256,uint256)", n, 1, add_app, &a));
    } else {
        json_object_set_new(info, "apps_note",
                            json_string("the KMS contract cannot list its apps (no "
                                        "registeredAppCount(): dstack's, or keygate's from "
                                        "before enumeration): apps are those its AppRegistered "
                                        "events name in the blocks read"));
        KG_GUARD_C(apps_from_events(&a, info, t, h));
    }
    *ids = a.ids;
    a.ids = NULL;
    rc = KG_OK;
cleanup:
    json_decref(a.ids);
    json_decref(a.seen);
    return rc;
}
