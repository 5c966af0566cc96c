/* policy.c - the governance question of docs/protocol.md section 3: isAppAllowed / isKmsAllowed of
 * an AppBootInfo on the KMS contract, by eth_call pinned to one block; fail closed. */
#include "keygate/eth.h"

#include <stdio.h>
#include <string.h>

#include "keygate/quote.h"

#define BOOT_INFO_TUPLE "(address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[])"

static const char *method_name(kg_eth_policy_kind kind)
{
    return kind == KG_ETH_POLICY_KMS ? "isKmsAllowed" : "isAppAllowed";
}

static kg_result check_string(const char *s, size_t size, const char *what)
{
    KG_ENSURE(memchr(s, 0, size) != NULL, KG_ERR_INPUT, "boot info: %s is not NUL-terminated",
              what);
    return KG_OK;
}

kg_result kg_eth_policy_calldata(kg_buf *out, kg_eth_policy_kind kind, const kg_boot_identity *bi)
{
    KG_ENSURE(kind == KG_ETH_POLICY_APP || kind == KG_ETH_POLICY_KMS, KG_ERR_USAGE,
              "unknown policy kind %d", (int)kind);
    KG_GUARD(check_string(bi->tcb_status, sizeof(bi->tcb_status), "tcb_status"));
    KG_ENSURE(bi->n_advisory_ids <= KG_MAX_ADVISORY_IDS, KG_ERR_INPUT,
              "boot info: %zu advisory ids exceed %u", bi->n_advisory_ids, KG_MAX_ADVISORY_IDS);
    KG_ENSURE(bi->instance_id_len == 0 || bi->instance_id_len == KG_INSTANCE_ID_LEN, KG_ERR_INPUT,
              "boot info: instance id of %zu bytes", bi->instance_id_len);
    kg_abi_value adv[KG_MAX_ADVISORY_IDS];
    for (size_t i = 0; i < bi->n_advisory_ids; i++) {
        KG_GUARD(check_string(bi->advisory_ids[i], sizeof(bi->advisory_ids[i]), "advisory id"));
        adv[i] = kg_abi_string(bi->advisory_ids[i]);
    }
    static const uint8_t no_instance[KG_ETH_ADDRESS_LEN] = {0};
    /* Member order of the AppBootInfo struct (docs/protocol.md section 3). */
    kg_abi_value m[9] = {
        kg_abi_address(bi->app_id),
        kg_abi_bytes32(bi->compose_hash),
        kg_abi_address(bi->instance_id_len ? bi->instance_id : no_instance),
        kg_abi_bytes32(bi->device_id),
        kg_abi_bytes32(bi->mr_aggregated),
        kg_abi_bytes32(bi->mr_system),
        kg_abi_bytes32(bi->os_image_hash),
        kg_abi_string(bi->tcb_status),
        kg_abi_array(adv, bi->n_advisory_ids),
    };
    kg_abi_value arg = kg_abi_tuple(m, 9);
    return kg_abi_encode_call(out,
                              kind == KG_ETH_POLICY_KMS ? "isKmsAllowed(" BOOT_INFO_TUPLE ")"
                                                        : "isAppAllowed(" BOOT_INFO_TUPLE ")",
                              &arg, 1);
}

/* The contract answered with no data: say whether there is a contract at all. */
static kg_result explain_empty(kg_eth_client *c, const uint8_t contract[KG_ETH_ADDRESS_LEN],
                               const kg_eth_block *at, const char *addr)
{
    kg_buf code;
    kg_buf_init(&code, KG_ETH_MAX_RPC_REPLY);
    kg_result rc = kg_eth_get_code(c, &code, contract, at);
    size_t n = code.len;
    kg_buf_free(&code);
    KG_GUARD(rc);
    KG_ENSURE(n > 0, KG_ERR_NOT_FOUND, "no contract at %s at block %llu", addr,
              (unsigned long long)at->number);
    return KG_OK;
}

static kg_result ask(kg_eth_decision *out, kg_eth_client *c,
                     const uint8_t contract[KG_ETH_ADDRESS_LEN], kg_eth_policy_kind kind,
                     const kg_boot_identity *bi, const kg_eth_block *at)
{
    kg_result rc = KG_ERROR;
    kg_buf call, ret;
    kg_buf_init(&call, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_eth_block blk;
    char addr[43];
    kg_eth_address_checksum(addr, contract);

    KG_GUARD_C(kg_eth_policy_calldata(&call, kind, bi));
    if (at == NULL) {
        KG_GUARD_C(kg_eth_get_block(c, &blk, "latest"));
        at = &blk;
    }
    out->has_block = true;
    out->block_number = at->number;
    memcpy(out->block_hash, at->hash, KG_ETH_HASH_LEN);

    KG_GUARD_CTX_C(kg_eth_call(c, &ret, NULL, NULL, contract, call.data, call.len, at),
                   "%s on %s at block %llu", method_name(kind), addr,
                   (unsigned long long)at->number);
    if (ret.len == 0)
        KG_GUARD_CTX_C(explain_empty(c, contract, at, addr), "%s", method_name(kind));
    static const kg_abi_type t[2] = {KG_ABI_T_BOOL, KG_ABI_T_STRING};
    kg_abi_decoded v[2];
    KG_GUARD_CTX_C(kg_abi_decode(v, t, 2, ret.data, ret.len, KG_ETH_MAX_REASON_LEN),
                   "%s on %s at block %llu: malformed answer", method_name(kind), addr,
                   (unsigned long long)at->number);
    KG_GUARD_C(kg_abi_get_string(out->reason, sizeof(out->reason), &v[1]));
    out->allowed = kg_abi_get_bool(&v[0]);
    if (!out->allowed && out->reason[0] == '\0')
        snprintf(out->reason, sizeof(out->reason), "denied by the contract without a reason");
    rc = KG_OK;
cleanup:
    kg_buf_free(&call);
    kg_buf_free(&ret);
    return rc;
}

kg_result kg_eth_policy_check(kg_eth_decision *out, kg_eth_client *c,
                              const uint8_t kms_contract[KG_ETH_ADDRESS_LEN],
                              kg_eth_policy_kind kind, const kg_boot_identity *bi,
                              const kg_eth_block *at)
{
    memset(out, 0, sizeof(*out));
    kg_result rc = ask(out, c, kms_contract, kind, bi, at);
    if (kg_failed(rc)) {
        /* Fail closed, and say why in the decision the audit log records. */
        out->allowed = false;
        snprintf(out->reason, sizeof(out->reason), "%s", kg_error_message());
    }
    return rc;
}

kg_result kg_eth_recovery_holders(uint8_t holders[KG_ETH_MAX_RECOVERY_HOLDERS][32], size_t *n,
                                  uint8_t *threshold, kg_eth_client *c,
                                  const uint8_t kms_contract[KG_ETH_ADDRESS_LEN],
                                  const kg_eth_block *at)
{
    kg_result rc = KG_ERROR;
    kg_buf ret;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_abi_decoded d[2];
    const kg_abi_type ty[2] = {KG_ABI_T_BYTES32_ARRAY, KG_ABI_T_UINT8};
    *n = 0;
    *threshold = 0;
    if (kg_failed(kg_eth_view(d, ty, 2, 32u * KG_ETH_MAX_RECOVERY_HOLDERS, &ret, c, kms_contract,
                              "recoveryHolders()", NULL, 0, at))) {
        if (kg_error_code() != KG_ERR_DENIED) {
            (void)kg_error_context("the KMS contract");
            goto cleanup;
        }
        kg_error_clear(); /* reverted: a KMS contract from before recovery holders */
        rc = KG_OK;
        goto cleanup;
    }
    size_t count = d[0].len;
    uint8_t t = (uint8_t)kg_abi_get_u64(&d[1]);
    KG_ENSURE_C(count <= KG_ETH_MAX_RECOVERY_HOLDERS &&
                    (count == 0 ? t == 0 : (t >= 1 && t <= count)),
                KG_ERR_INPUT, "recoveryHolders(): threshold %u of %zu holders", t, count);
    for (size_t i = 0; i < count; i++)
        memcpy(holders[i], d[0].data + 32 * i, 32);
    *n = count;
    *threshold = t;
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

kg_result kg_eth_kms_info(uint8_t k256_pub[KG_K256_PUB_LEN], kg_buf *ca_spki, kg_eth_client *c,
                          const uint8_t kms_contract[KG_ETH_ADDRESS_LEN], const kg_eth_block *at)
{
    kg_result rc = KG_ERROR;
    kg_buf ret;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_abi_decoded d[4];
    const kg_abi_type ty[4] = {KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES};
    KG_GUARD_CTX_C(
        kg_eth_view(d, ty, 4, KG_ETH_MAX_ABI_LEN, &ret, c, kms_contract, "kmsInfo()", NULL, 0, at),
        "the KMS contract");
    KG_ENSURE_C(d[0].len > 0 && d[1].len > 0, KG_ERR_NOT_FOUND,
                "the KMS contract has no published KMS info (setKmsInfo)");
    KG_GUARD_CTX_C(kg_k256_pub_compress(k256_pub, d[0].data, d[0].len), "kmsInfo().k256Pubkey");
    KG_GUARD_C(kg_buf_append(ca_spki, d[1].data, d[1].len));
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}
