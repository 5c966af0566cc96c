/* root_epoch.c - the KMS root-key epochs the KMS contract publishes (docs/design.md, "Root-key
 * epochs"): rootEpoch(n) and currentRootEpoch(), read by eth_call and decoded strictly. */
#include "keygate/eth.h"

#include <string.h>

#include "keygate/crypto.h"

/* Return data of rootEpoch(uint32), in order:
 *   (uint8 status, bytes caPubkey, bytes k256Pubkey, uint64 activatesAt, bytes32 attestationHash)
 * caPubkey is the root CA SubjectPublicKeyInfo DER, k256Pubkey the compressed secp256k1 key (the
 * encodings of kmsInfo). An epoch that was never proposed is status 0 with empty keys. */
static const kg_abi_type ROOT_EPOCH_TYPES[5] = {KG_ABI_T_UINT8, KG_ABI_T_BYTES, KG_ABI_T_BYTES,
                                                KG_ABI_T_UINT64, KG_ABI_T_BYTES32};

/* The checks of a decoded rootEpoch(uint32) answer, into out. */
static kg_result epoch_from(kg_eth_root_epoch_info *out, const kg_abi_decoded d[5])
{
    uint64_t status = kg_abi_get_u64(&d[0]);
    KG_ENSURE(status <= KG_EPOCH_RETIRED, KG_ERR_INPUT, "rootEpoch(): unknown status %u",
              (unsigned)status);
    out->status = (uint8_t)status;
    out->activates_at = kg_abi_get_u64(&d[3]);
    memcpy(out->attestation_hash, d[4].word, sizeof(out->attestation_hash));
    if (out->status == KG_EPOCH_NONE) {
        KG_ENSURE(d[1].len == 0 && d[2].len == 0, KG_ERR_INPUT,
                  "rootEpoch(): an epoch with status none carries keys");
        return KG_OK;
    }
    KG_ENSURE(d[1].len > 0, KG_ERR_INPUT, "rootEpoch(): a %s epoch without a root CA key",
              kg_epoch_status_name(out->status));
    KG_GUARD_CTX(kg_k256_pub_compress(out->k256_pub, d[2].data, d[2].len),
                 "rootEpoch().k256Pubkey");
    memcpy(out->ca_spki, d[1].data, d[1].len);
    out->ca_spki_len = d[1].len;
    return KG_OK;
}

kg_result kg_eth_root_epoch_decode(kg_eth_root_epoch_info *out, const uint8_t *data, size_t len)
{
    kg_abi_decoded d[5];
    memset(out, 0, sizeof(*out));
    KG_GUARD_CTX(kg_abi_decode(d, ROOT_EPOCH_TYPES, 5, data, len, KG_ETH_MAX_ROOT_CA_SPKI_LEN),
                 "rootEpoch(): unexpected answer (is the address a KMS contract with epochs?)");
    kg_result rc = epoch_from(out, d);
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    return rc;
}

kg_result kg_eth_root_epoch(kg_eth_root_epoch_info *out, kg_eth_client *c,
                            const uint8_t kms_contract[KG_ETH_ADDRESS_LEN], uint32_t epoch,
                            const kg_eth_block *at)
{
    kg_buf ret;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_abi_decoded d[5];
    memset(out, 0, sizeof(*out));
    kg_abi_value arg = kg_abi_uint64(epoch);
    kg_result rc = kg_eth_view(d, ROOT_EPOCH_TYPES, 5, KG_ETH_MAX_ROOT_CA_SPKI_LEN, &ret, c,
                               kms_contract, "rootEpoch(uint32)", &arg, 1, at);
    if (kg_ok(rc))
        rc = epoch_from(out, d);
    kg_buf_free(&ret);
    if (kg_failed(rc))
        memset(out, 0, sizeof(*out));
    KG_GUARD_CTX(rc, "the KMS contract's epoch %u", (unsigned)epoch);
    return KG_OK;
}

kg_result kg_eth_current_root_epoch(uint32_t *out, kg_eth_client *c,
                                    const uint8_t kms_contract[KG_ETH_ADDRESS_LEN],
                                    const kg_eth_block *at)
{
    kg_buf ret;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_abi_decoded d;
    const kg_abi_type ty = KG_ABI_T_UINT64;
    *out = 0;
    kg_result rc =
        kg_eth_view(&d, &ty, 1, 0, &ret, c, kms_contract, "currentRootEpoch()", NULL, 0, at);
    kg_buf_free(&ret);
    KG_GUARD_CTX(rc, "the KMS contract");
    uint64_t v = kg_abi_get_u64(&d);
    KG_ENSURE(v <= UINT32_MAX, KG_ERR_INPUT, "currentRootEpoch(): %llu is not a uint32",
              (unsigned long long)v);
    *out = (uint32_t)v;
    return KG_OK;
}
