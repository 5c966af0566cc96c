/* chain.c - the governance chain as the CLI uses it, on the eth.h JSON-RPC client: view calls
 * decoded strictly, targets, signers and the four ways a write reaches the chain (sending and
 * waiting: chain_tx.c; event history: chain_history.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "keygate/crypto.h"
#include "keygate/hash.h"

json_t *kg_chain_hex_json(const uint8_t *data, size_t len)
{
    char *s = malloc(2 * len + 3);
    if (s == NULL)
        return NULL;
    s[0] = '0';
    s[1] = 'x';
    if (kg_failed(kg_hex_encode(s + 2, 2 * len + 1, data, len))) {
        kg_error_clear();
        free(s);
        return NULL;
    }
    json_t *j = json_string(s);
    free(s);
    return j;
}

KG_RESULT kg_chain_open(kg_chain *c, const char *rpc_url, uint64_t expected_chain_id)
{
    memset(c, 0, sizeof(*c));
    KG_GUARD_CTX(kg_eth_client_new(&c->eth, rpc_url, KG_CHAIN_TIMEOUT_MS), "chain node '%s'",
                 rpc_url);
    if (kg_failed(kg_eth_chain_id(c->eth, &c->chain_id)))
        return kg_error_context("chain unreachable");
    KG_ENSURE(expected_chain_id == 0 || c->chain_id == expected_chain_id, KG_ERR_VERIFY,
              "chain node %s is on chain %" PRIu64 ", expected %" PRIu64, rpc_url, c->chain_id,
              expected_chain_id);
    return KG_OK;
}

void kg_chain_close(kg_chain *c)
{
    kg_eth_client_free(c->eth);
    c->eth = NULL;
}

KG_RESULT kg_chain_block_number(const kg_chain *c, uint64_t *out)
{
    return kg_eth_block_number(c->eth, out);
}

KG_RESULT kg_chain_call(const kg_chain *c, kg_buf *ret, const uint8_t to[20], const kg_buf *data)
{
    return kg_eth_call(c->eth, ret, NULL, NULL, to, data->data, data->len, NULL);
}

KG_RESULT kg_chain_calldata(kg_buf *out, const char *sig, const kg_abi_value *args, size_t n)
{
    return kg_abi_encode_call(out, sig, args, n);
}

KG_RESULT kg_chain_has_code(const kg_chain *c, bool *has, const uint8_t address[20])
{
    kg_buf code;
    kg_buf_init(&code, KG_ETH_MAX_RPC_REPLY);
    kg_result rc = kg_eth_get_code(c->eth, &code, address, NULL);
    *has = code.len > 0;
    kg_buf_free(&code);
    return rc;
}

KG_RESULT kg_cli_target_open(kg_cli_target *t, const char *state, const char *rpc_url,
                             const char *kms_contract)
{
    memset(t, 0, sizeof(*t));
    KG_GUARD(kg_devnet_dir(t->dir, state));
    if (kg_failed(kg_devnet_load(&t->state, t->dir))) {
        /* Without a devnet, --rpc-url is enough; an explicit --state must exist. */
        if (kg_error_code() != KG_ERR_NOT_FOUND || rpc_url == NULL || state != NULL)
            return KG_ERROR;
        kg_error_clear();
    }
    const char *url = rpc_url != NULL ? rpc_url : kg_devnet_str(t->state, "rpc_url");
    KG_ENSURE(url != NULL, KG_ERR_USAGE, "no chain: give --state DIR or --rpc-url URL");
    const char *kms = kms_contract != NULL ? kms_contract : kg_devnet_str(t->state, "kms_contract");
    if (kms != NULL) {
        KG_GUARD(kg_cli_parse_address(t->kms, "--kms-contract", kms));
        t->has_kms = true;
    }
    json_int_t want = json_integer_value(json_object_get(t->state, "chain_id"));
    return kg_chain_open(&t->chain, url, rpc_url == NULL && want > 0 ? (uint64_t)want : 0);
}

void kg_cli_target_close(kg_cli_target *t)
{
    kg_chain_close(&t->chain);
    json_decref(t->state);
    t->state = NULL;
}

KG_RESULT kg_chain_view(const kg_chain *c, kg_abi_decoded *out, const kg_abi_type *types, size_t n,
                        kg_buf *ret, const uint8_t to[20], const char *sig,
                        const kg_abi_value *args, size_t nargs)
{
    return kg_eth_view(out, types, n, KG_ETH_MAX_ABI_LEN, ret, c->eth, to, sig, args, nargs, NULL);
}

KG_RESULT kg_cli_parse_hash(uint8_t out[32], const char *opt, const char *text)
{
    if (kg_failed(kg_hex_decode_exact(out, 32, text))) {
        kg_error_clear();
        KG_BAIL(KG_ERR_USAGE, "%s '%s' is not a 32-byte hash (64 hex digits)", opt, text);
    }
    return KG_OK;
}

KG_RESULT kg_cli_parse_address(uint8_t out[20], const char *opt, const char *text)
{
    if (kg_failed(kg_eth_address_parse(out, text))) {
        char why[256];
        snprintf(why, sizeof(why), "%s", kg_error_message());
        kg_error_clear();
        KG_BAIL(KG_ERR_USAGE, "%s '%s' is not an address (0x + 40 hex digits): %s", opt, text, why);
    }
    return KG_OK;
}

KG_RESULT kg_chain_call_from(const kg_chain *c, kg_buf *ret, const uint8_t from[20],
                             const uint8_t to[20], const kg_buf *data)
{
    return kg_eth_call(c->eth, ret, NULL, from, to, data->data, data->len, NULL);
}

/* ---- signers ------------------------------------------------------------------------------- */

bool kg_cli_signer_option(kg_cli_signer_opts *o, int c, const char *arg, kg_result *rc)
{
    *rc = KG_OK;
    switch (c) {
    case KG_CLI_OPT_VIA_SAFE: o->via_safe = arg; return true;
    case KG_CLI_OPT_VIA_GOVERNOR: o->via_governor = arg; return true;
    case KG_CLI_OPT_CALLDATA: o->calldata = true; return true;
    case KG_CLI_OPT_DESCRIPTION: o->description = arg; return true;
    case KG_CLI_OPT_WAIT: {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(arg, &end, 10);
        if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v > KG_CHAIN_MAX_WAIT_S)
            *rc = kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "--wait '%s' is not a number of seconds (0..%d)", arg,
                               KG_CHAIN_MAX_WAIT_S);
        o->wait_s = (uint32_t)v;
        o->has_wait = true;
        return true;
    }
    case KG_CLI_OPT_SIGNER_KEY_FILE:
        if (o->n_signer_files >= KG_CLI_MAX_SIGNERS)
            *rc = kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "--signer-key-file: at most %d signers", KG_CLI_MAX_SIGNERS);
        else
            o->signer_files[o->n_signer_files++] = arg;
        return true;
    case KG_CLI_OPT_SAFE_SIGNATURE:
        if (o->n_signatures >= KG_CLI_MAX_SIGNERS)
            *rc = kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                               "--safe-signature '%s': at most %d signatures", arg,
                               KG_CLI_MAX_SIGNERS);
        else
            o->signatures[o->n_signatures++] = arg;
        return true;
    default: return false;
    }
}

static void addr_json_set(json_t *o, const char *k, const uint8_t a[20])
{
    char s[43];
    kg_eth_address_checksum(s, a);
    json_object_set_new(o, k, json_string(s));
}

KG_RESULT kg_cli_signer_open(kg_cli_signer *s, const kg_cli_target *t, const kg_cli_signer_opts *o)
{
    memset(s, 0, sizeof(*s));
    s->opts = o;
    int ways = (o->via_safe != NULL) + (o->via_governor != NULL) + (o->calldata ? 1 : 0);
    KG_ENSURE(ways <= 1, KG_ERR_USAGE,
              "give at most one of --via-safe, --via-governor and --calldata");
    KG_ENSURE(o->via_safe != NULL || (o->n_signer_files == 0 && o->n_signatures == 0), KG_ERR_USAGE,
              "--signer-key-file and --safe-signature go with --via-safe SAFE");
    KG_ENSURE(o->via_governor != NULL || o->description == NULL, KG_ERR_USAGE,
              "--description goes with --via-governor GOV");
    KG_ENSURE(!o->calldata || !o->has_wait, KG_ERR_USAGE,
              "--wait goes with a write that is sent, not with --calldata");
    if (o->calldata) {
        s->kind = KG_SIGNER_CALLDATA;
        return KG_OK;
    }
    if (o->via_safe != NULL) {
        s->kind = KG_SIGNER_SAFE;
        KG_GUARD(kg_cli_parse_address(s->via, "--via-safe", o->via_safe));
        KG_ENSURE(o->n_signer_files + o->n_signatures > 0, KG_ERR_USAGE,
                  "--via-safe needs the owners' signatures: --signer-key-file FILE (per owner) "
                  "or --safe-signature HEX");
        memcpy(s->acting, s->via, 20);
        s->acting_known = true;
        /* The executor pays the gas: the signing key if there is one, else the first owner. */
        if (o->key_file != NULL || getenv(KG_CLI_KEY_ENV) != NULL ||
            kg_devnet_str(t->state, "private_key") != NULL)
            KG_GUARD(kg_cli_signing_key(s->key, o->key_file, t->state));
        else if (o->n_signer_files > 0)
            KG_GUARD(kg_cli_signing_key(s->key, o->signer_files[0], NULL));
        else
            KG_BAIL(KG_ERR_USAGE, "no key to send the Safe transaction with: give "
                                  "--private-key-file FILE or --signer-key-file FILE");
        s->has_key = true;
        return kg_eth_address_of_key(s->sender, s->key);
    }
    KG_GUARD(kg_cli_signing_key(s->key, o->key_file, t->state));
    s->has_key = true;
    KG_GUARD(kg_eth_address_of_key(s->sender, s->key));
    if (o->via_governor == NULL) {
        s->kind = KG_SIGNER_KEY;
        memcpy(s->acting, s->sender, 20);
        s->acting_known = true;
        return KG_OK;
    }
    s->kind = KG_SIGNER_GOVERNOR;
    KG_GUARD(kg_cli_parse_address(s->via, "--via-governor", o->via_governor));
    /* GovernorTimelockControl executes through its timelock; a plain Governor acts itself. */
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_ADDRESS;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(&t->chain, &d, &ty, 1, &ret, s->via, "timelock()", NULL, 0);
    if (kg_ok(rc)) {
        kg_abi_get_address(s->acting, &d);
    } else if (kg_error_code() == KG_ERR_DENIED) {
        kg_error_clear();
        memcpy(s->acting, s->via, 20);
        rc = KG_OK;
    }
    if (kg_ok(rc)) {
        ty = KG_ABI_T_STRING;
        rc = kg_chain_view(&t->chain, &d, &ty, 1, &ret, s->via, "name()", NULL, 0);
        if (kg_failed(rc))
            rc = kg_error_context("--via-governor '%s' is not a Governor", o->via_governor);
    }
    kg_buf_free(&ret);
    s->acting_known = true;
    return rc;
}

uint32_t kg_cli_signer_wait_s(const kg_cli_signer *s)
{
    return s->opts != NULL && s->opts->has_wait ? s->opts->wait_s : KG_CHAIN_WAIT_S;
}

void kg_cli_signer_close(kg_cli_signer *s)
{
    kg_memzero(s->key, sizeof(s->key));
    s->has_key = false;
}

KG_RESULT kg_cli_signer_require(const kg_cli_signer *s, const uint8_t need[20], const char *role,
                                const char *what)
{
    if (!s->acting_known || memcmp(s->acting, need, 20) == 0)
        return KG_OK;
    char a[43], n[43];
    kg_eth_address_checksum(a, s->acting);
    kg_eth_address_checksum(n, need);
    const char *who = s->kind == KG_SIGNER_SAFE       ? "Safe"
                      : s->kind == KG_SIGNER_GOVERNOR ? "Governor's executor"
                                                      : "signer";
    KG_BAIL(KG_ERR_DENIED, "%s %s is not the %s (%s) of %s", who, a, role, n, what);
}

/* The Safe's nonce, threshold and owners. */
typedef struct safe_state {
    uint64_t nonce, threshold;
    uint8_t owners[KG_SAFE_MAX_OWNERS][20];
    size_t n_owners;
} safe_state;

static kg_result safe_read(safe_state *st, const kg_chain *c, const uint8_t safe[20])
{
    kg_buf ret;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_UINT64;
    kg_result rc;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    memset(st, 0, sizeof(*st));
    rc = kg_chain_view(c, &d, &ty, 1, &ret, safe, "nonce()", NULL, 0);
    if (kg_ok(rc)) {
        st->nonce = kg_abi_get_u64(&d);
        rc = kg_chain_view(c, &d, &ty, 1, &ret, safe, "getThreshold()", NULL, 0);
    }
    if (kg_ok(rc)) {
        st->threshold = kg_abi_get_u64(&d);
        ty = KG_ABI_T_BYTES32_ARRAY;
        rc = kg_chain_view(c, &d, &ty, 1, &ret, safe, "getOwners()", NULL, 0);
    }
    if (kg_ok(rc)) {
        if (d.len > KG_SAFE_MAX_OWNERS) {
            rc = kg_error_set(KG_ERR_TOO_LARGE, __FILE__, __LINE__, "the Safe has %zu owners",
                              d.len);
        } else {
            for (size_t i = 0; i < d.len; i++)
                memcpy(st->owners[i], d.data + 32 * i + 12, 20);
            st->n_owners = d.len;
        }
    }
    kg_buf_free(&ret);
    if (kg_failed(rc)) {
        char a[43];
        kg_eth_address_checksum(a, safe);
        return kg_error_context("--via-safe %s is not a Safe", a);
    }
    return KG_OK;
}

static bool safe_is_owner(const safe_state *st, const uint8_t a[20])
{
    for (size_t i = 0; i < st->n_owners; i++)
        if (memcmp(st->owners[i], a, 20) == 0)
            return true;
    return false;
}

static kg_result write_via_safe(const kg_cli_target *t, const kg_cli_signer *s,
                                const uint8_t to[20], const kg_buf *data, json_t *out, bool *done)
{
    const kg_cli_signer_opts *o = s->opts;
    safe_state st;
    kg_safe_tx tx;
    uint8_t h[32], onchain[32], sigs[KG_CLI_MAX_SIGNERS][KG_SAFE_SIG_LEN];
    uint8_t signers[KG_CLI_MAX_SIGNERS][20];
    size_t n = 0;
    char safe_s[43];
    kg_eth_address_checksum(safe_s, s->via);
    KG_GUARD(safe_read(&st, &t->chain, s->via));
    kg_safe_tx_call(&tx, to, data->data, data->len, st.nonce);
    KG_GUARD(kg_safe_tx_hash(h, t->chain.chain_id, s->via, &tx));
    /* The Safe's own getTransactionHash must agree before anyone's signature is spent on it. */
    {
        kg_buf ret;
        kg_abi_decoded d;
        kg_abi_type ty = KG_ABI_T_BYTES32;
        static const uint8_t zero[20];
        kg_abi_value args[10] = {
            kg_abi_address(to),     kg_abi_uint64(0),     kg_abi_bytes(data->data, data->len),
            kg_abi_uint64(0),       kg_abi_uint64(0),     kg_abi_uint64(0),
            kg_abi_uint64(0),       kg_abi_address(zero), kg_abi_address(zero),
            kg_abi_uint64(st.nonce)};
        kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
        kg_result rc = kg_chain_view(&t->chain, &d, &ty, 1, &ret, s->via,
                                     "getTransactionHash(address,uint256,bytes,uint8,uint256,"
                                     "uint256,uint256,address,address,uint256)",
                                     args, 10);
        if (kg_ok(rc))
            memcpy(onchain, d.word, 32);
        kg_buf_free(&ret);
        KG_GUARD(rc);
        KG_ENSURE(memcmp(onchain, h, 32) == 0, KG_ERR_VERIFY,
                  "Safe %s computes another transaction hash than keygate (a Safe before 1.3?)",
                  safe_s);
    }
    for (size_t i = 0; i < o->n_signer_files; i++) {
        uint8_t key[32];
        KG_GUARD(kg_cli_signing_key(key, o->signer_files[i], NULL));
        kg_result rc = kg_safe_sign(sigs[n], key, h);
        if (kg_ok(rc))
            rc = kg_eth_address_of_key(signers[n], key);
        kg_memzero(key, sizeof(key));
        KG_GUARD(rc);
        if (!safe_is_owner(&st, signers[n])) {
            char a[43];
            kg_eth_address_checksum(a, signers[n]);
            KG_BAIL(KG_ERR_DENIED, "--signer-key-file '%s': %s is not an owner of Safe %s",
                    o->signer_files[i], a, safe_s);
        }
        n++;
    }
    for (size_t i = 0; i < o->n_signatures; i++) {
        if (kg_failed(kg_hex_decode_exact(sigs[n], KG_SAFE_SIG_LEN, o->signatures[i]))) {
            kg_error_clear();
            KG_BAIL(KG_ERR_USAGE, "--safe-signature '%s' is not 65 bytes of hex (r || s || v)",
                    o->signatures[i]);
        }
        if (kg_failed(kg_safe_signer(signers[n], sigs[n], h)))
            return kg_error_context("--safe-signature '%s' (over Safe transaction %02x%02x..)",
                                    o->signatures[i], h[0], h[1]);
        if (!safe_is_owner(&st, signers[n])) {
            char a[43];
            kg_eth_address_checksum(a, signers[n]);
            KG_BAIL(KG_ERR_DENIED,
                    "--safe-signature '%s' is by %s, not an owner of Safe %s (or it signed "
                    "another transaction or nonce)",
                    o->signatures[i], a, safe_s);
        }
        n++;
    }
    kg_buf packed;
    kg_buf_init(&packed, KG_CLI_MAX_SIGNERS * KG_SAFE_SIG_LEN);
    kg_result rc = kg_safe_pack_signatures(&packed, (const uint8_t(*)[KG_SAFE_SIG_LEN])sigs,
                                           (const uint8_t(*)[20])signers, n);
    json_object_set_new(out, "via_safe", json_string(safe_s));
    json_object_set_new(out, "safe_tx_hash", kg_chain_hex_json(h, 32));
    json_object_set_new(out, "safe_nonce", json_integer((json_int_t)st.nonce));
    json_object_set_new(out, "threshold", json_integer((json_int_t)st.threshold));
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();
        addr_json_set(e, "owner", signers[i]);
        json_object_set_new(e, "signature", kg_chain_hex_json(sigs[i], KG_SAFE_SIG_LEN));
        json_array_append_new(list, e);
    }
    json_object_set_new(out, "signatures", list);
    if (kg_ok(rc) && n < st.threshold) {
        json_object_set_new(out, "executed", json_false());
        kg_cli_print_json(out, true); /* for the next owner: --safe-signature each of these */
        rc = kg_error_set(KG_ERR_DENIED, __FILE__, __LINE__,
                          "%zu of %" PRIu64 " signatures for Safe %s: not executed (the other "
                          "owners add theirs with --safe-signature or --signer-key-file)",
                          n, st.threshold, safe_s);
    }
    kg_buf exec;
    kg_buf_init(&exec, KG_ETH_MAX_ABI_LEN);
    kg_eth_receipt receipt;
    memset(&receipt, 0, sizeof(receipt));
    if (kg_ok(rc))
        rc = kg_safe_exec_calldata(&exec, &tx, packed.data, packed.len);
    if (kg_ok(rc))
        rc = kg_chain_send(&t->chain, &receipt, s->key, s->via, &exec, kg_cli_signer_wait_s(s));
    if (kg_ok(rc)) {
        json_object_set_new(out, "executed", json_true());
        json_object_set_new(out, "block", json_integer((json_int_t)receipt.block_number));
        json_object_set_new(out, "tx", kg_chain_hex_json(receipt.tx_hash, 32));
        if (done != NULL)
            *done = true;
    }
    kg_eth_receipt_free(&receipt);
    kg_buf_free(&exec);
    kg_buf_free(&packed);
    return rc;
}

static kg_result write_via_governor(const kg_cli_target *t, const kg_cli_signer *s,
                                    const uint8_t to[20], const kg_buf *data, json_t *out)
{
    char desc[512];
    if (s->opts->description != NULL)
        snprintf(desc, sizeof(desc), "%s", s->opts->description);
    else
        snprintf(desc, sizeof(desc),
                 "keygate: call 0x%02x%02x%02x%02x on 0x%02x%02x%02x%02x.. (proposed at %lld)",
                 data->len > 0 ? data->data[0] : 0, data->len > 1 ? data->data[1] : 0,
                 data->len > 2 ? data->data[2] : 0, data->len > 3 ? data->data[3] : 0, to[0], to[1],
                 to[2], to[3], (long long)time(NULL));
    kg_abi_value target = kg_abi_address(to), value = kg_abi_uint64(0),
                 call = kg_abi_bytes(data->data, data->len);
    uint8_t dh[32];
    kg_keccak256(dh, desc, strlen(desc));
    kg_abi_value args[4] = {kg_abi_array(&target, 1), kg_abi_array(&value, 1),
                            kg_abi_array(&call, 1), kg_abi_string(desc)};
    kg_buf ret, cd;
    kg_abi_decoded d;
    kg_abi_type ty = KG_ABI_T_UINT256;
    kg_eth_receipt receipt;
    memset(&receipt, 0, sizeof(receipt));
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&cd, KG_ETH_MAX_ABI_LEN);
    args[3] = kg_abi_bytes32(dh);
    kg_result rc = kg_chain_view(&t->chain, &d, &ty, 1, &ret, s->via,
                                 "hashProposal(address[],uint256[],bytes[],bytes32)", args, 4);
    args[3] = kg_abi_string(desc);
    if (kg_ok(rc))
        rc = kg_chain_calldata(&cd, "propose(address[],uint256[],bytes[],string)", args, 4);
    if (kg_ok(rc))
        rc = kg_chain_send(&t->chain, &receipt, s->key, s->via, &cd, kg_cli_signer_wait_s(s));
    if (kg_ok(rc)) {
        /* The id is the Governor's own: its ProposalCreated event in the receipt, which must
         * agree with hashProposal (a Governor that numbers proposals otherwise is named). */
        uint8_t topic0[32], idw[32];
        bool seen = false;
        kg_keccak256(topic0, KG_GOV_PROPOSAL_CREATED, strlen(KG_GOV_PROPOSAL_CREATED));
        memcpy(idw, d.word, 32);
        for (size_t i = 0; i < receipt.logs.count && !seen; i++) {
            const kg_eth_log *l = &receipt.logs.items[i];
            if (memcmp(l->address, s->via, 20) == 0 && l->n_topics >= 1 &&
                memcmp(l->topics[0], topic0, 32) == 0 && l->data_len >= 32) {
                seen = true;
                if (memcmp(l->data, idw, 32) != 0) {
                    memcpy(idw, l->data, 32);
                    json_object_set_new(out, "proposal_id_differs_from_hash", json_true());
                }
            }
        }
        char id[80], gov[43];
        kg_eth_address_checksum(gov, s->via);
        if (kg_ok(kg_cli_u256_dec(id, sizeof(id), idw))) {
            json_object_set_new(out, "proposal_id", json_string(id));
            fprintf(stderr,
                    "keygate: proposal %s%s on Governor %s; next: keygate governor status|vote|"
                    "queue|execute --governor %s --proposal %s\n",
                    id, seen ? "" : " (no ProposalCreated event seen)", gov, gov, id);
        }
        addr_json_set(out, "via_governor", s->via);
        addr_json_set(out, "executor", s->acting);
        json_object_set_new(out, "description", json_string(desc));
        json_object_set_new(out, "executed", json_false());
        json_object_set_new(out, "block", json_integer((json_int_t)receipt.block_number));
        json_object_set_new(out, "tx", kg_chain_hex_json(receipt.tx_hash, 32));
    }
    kg_eth_receipt_free(&receipt);
    kg_buf_free(&cd);
    kg_buf_free(&ret);
    return rc;
}

KG_RESULT kg_cli_write(const kg_cli_target *t, const kg_cli_signer *s, const uint8_t to[20],
                       const kg_buf *data, json_t *out, bool *done)
{
    if (done != NULL)
        *done = false;
    if (s->kind == KG_SIGNER_CALLDATA) {
        json_t *c = json_object();
        addr_json_set(c, "to", to);
        json_object_set_new(c, "data", kg_chain_hex_json(data->data, data->len));
        json_object_set_new(c, "value", json_string("0"));
        json_object_set_new(out, "calldata", c);
        json_object_set_new(out, "executed", json_false());
        return KG_OK;
    }
    if (s->kind != KG_SIGNER_KEY) {
        /* simulate the inner call as the Safe / timelock, so a mistake costs no signature */
        kg_buf ret;
        kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
        kg_result rc = kg_chain_call_from(&t->chain, &ret, s->acting, to, data);
        kg_buf_free(&ret);
        if (kg_failed(rc)) {
            char a[43];
            kg_eth_address_checksum(a, s->acting);
            return kg_error_context("simulated as %s", a);
        }
    }
    if (s->kind == KG_SIGNER_SAFE)
        return write_via_safe(t, s, to, data, out, done);
    if (s->kind == KG_SIGNER_GOVERNOR)
        return write_via_governor(t, s, to, data, out);
    kg_eth_receipt receipt;
    memset(&receipt, 0, sizeof(receipt));
    KG_GUARD(kg_chain_send(&t->chain, &receipt, s->key, to, data, kg_cli_signer_wait_s(s)));
    json_object_set_new(out, "block", json_integer((json_int_t)receipt.block_number));
    json_object_set_new(out, "tx", kg_chain_hex_json(receipt.tx_hash, 32));
    kg_eth_receipt_free(&receipt);
    if (done != NULL)
        *done = true;
    return KG_OK;
}

KG_RESULT kg_cli_u256_dec(char *out, size_t out_size, const uint8_t be[32])
{
    uint8_t n[32];
    char tmp[80];
    size_t len = 0;
    memcpy(n, be, 32);
    for (;;) {
        unsigned rem = 0;
        bool zero = true;
        for (size_t i = 0; i < 32; i++) {
            unsigned cur = (rem << 8) | n[i];
            n[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (n[i] != 0)
                zero = false;
        }
        tmp[len++] = (char)('0' + rem);
        if (zero)
            break;
    }
    KG_ENSURE(len < out_size, KG_ERR_TOO_LARGE, "uint256 text");
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[len - 1 - i];
    out[len] = '\0';
    return KG_OK;
}

KG_RESULT kg_cli_u256_parse(uint8_t be[32], const char *opt, const char *text)
{
    memset(be, 0, 32);
    bool hex = strncmp(text, "0x", 2) == 0;
    const char *p = hex ? text + 2 : text;
    KG_ENSURE(*p != '\0', KG_ERR_USAGE, "%s '%s' is not a number", opt, text);
    for (; *p; p++) {
        unsigned dig;
        if (*p >= '0' && *p <= '9')
            dig = (unsigned)(*p - '0');
        else if (hex && *p >= 'a' && *p <= 'f')
            dig = (unsigned)(*p - 'a' + 10);
        else if (hex && *p >= 'A' && *p <= 'F')
            dig = (unsigned)(*p - 'A' + 10);
        else
            KG_BAIL(KG_ERR_USAGE, "%s '%s' is not a number", opt, text);
        unsigned carry = dig, base = hex ? 16 : 10;
        for (int i = 31; i >= 0; i--) {
            unsigned cur = be[i] * base + carry;
            be[i] = (uint8_t)cur;
            carry = cur >> 8;
        }
        KG_ENSURE(carry == 0, KG_ERR_USAGE, "%s '%s' does not fit 256 bits", opt, text);
    }
    return KG_OK;
}

/* ---- PolicyChanged tags, latest block ------------------------------------------------------ */

const char *kg_chain_policy_name(const uint8_t policy[32])
{
    /* KeygateApp and KeygateKms (contracts/README.md); the first six are dstack's names too */
    static const char *const names[] = {
        "compose-hash",
        "device",
        "allow-any-device",
        "require-tcb-up-to-date",
        "upgrades-disabled",
        "implementation-upgrade",
        "compose-hash-proposal",
        "upgrade-proposal",
        "upgrade-notice",
        "advisory-deny",
        "advisory-allow",
        "tcb-out-of-date-grace",
        "kms-info",
        "kms-quote",
        "kms-eventlog",
        "gateway-app-id",
        "registered-app",
        "app-implementation",
        "kms-aggregated-mr",
        "kms-device",
        "os-image",
        "kms-aggregated-mr-proposal",
        "kms-device-proposal",
        "os-image-proposal",
        "governance-notice",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint8_t h[32];
        kg_keccak256(h, names[i], strlen(names[i]));
        if (memcmp(h, policy, 32) == 0)
            return names[i];
    }
    return NULL;
}

KG_RESULT kg_chain_latest(const kg_chain *c, uint64_t *number, uint64_t *timestamp)
{
    kg_eth_block b;
    memset(&b, 0, sizeof(b));
    KG_GUARD_CTX(kg_eth_get_block(c->eth, &b, "latest"), "latest block");
    if (number != NULL)
        *number = b.number;
    if (timestamp != NULL)
        *timestamp = b.timestamp;
    return KG_OK;
}
