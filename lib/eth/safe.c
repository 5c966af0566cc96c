/* safe.c - Safe multisig transactions: EIP-712 SafeTx hash, owner signatures (v = 27/28),
 * signature packing in owner order, execTransaction calldata (eth_safe.h). */
#include <string.h>

#include "keygate/crypto.h"
#include "keygate/eth_safe.h"
#include "keygate/hash.h"

/* keccak256("EIP712Domain(uint256 chainId,address verifyingContract)") and
 * keccak256("SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,
 * uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"),
 * computed once from the type strings (the constants in Safe.sol). */
static const char DOMAIN_TYPE[] = "EIP712Domain(uint256 chainId,address verifyingContract)";
static const char SAFE_TX_TYPE[] =
    "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,"
    "uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)";

static void put_u64(uint8_t word[32], uint64_t v)
{
    memset(word, 0, 32);
    for (int i = 0; i < 8; i++)
        word[31 - i] = (uint8_t)(v >> (8 * i));
}

static void put_address(uint8_t word[32], const uint8_t a[KG_ETH_ADDRESS_LEN])
{
    memset(word, 0, 12);
    memcpy(word + 12, a, KG_ETH_ADDRESS_LEN);
}

void kg_safe_tx_call(kg_safe_tx *tx, const uint8_t to[KG_ETH_ADDRESS_LEN], const uint8_t *data,
                     size_t data_len, uint64_t nonce)
{
    memset(tx, 0, sizeof(*tx));
    memcpy(tx->to, to, KG_ETH_ADDRESS_LEN);
    tx->data = data;
    tx->data_len = data_len;
    tx->nonce = nonce;
}

void kg_safe_domain_separator(uint8_t out[32], uint64_t chain_id,
                              const uint8_t safe[KG_ETH_ADDRESS_LEN])
{
    uint8_t enc[96];
    kg_keccak256(enc, DOMAIN_TYPE, strlen(DOMAIN_TYPE));
    put_u64(enc + 32, chain_id);
    put_address(enc + 64, safe);
    kg_keccak256(out, enc, sizeof(enc));
}

KG_RESULT kg_safe_tx_hash(uint8_t out[32], uint64_t chain_id,
                          const uint8_t safe[KG_ETH_ADDRESS_LEN], const kg_safe_tx *tx)
{
    KG_ENSURE(tx->operation <= 1, KG_ERR_INPUT,
              "Safe operation %u is neither CALL (0) nor "
              "DELEGATECALL (1)",
              (unsigned)tx->operation);
    KG_ENSURE(tx->data != NULL || tx->data_len == 0, KG_ERR_USAGE, "Safe transaction data");
    uint8_t enc[11 * 32];
    kg_keccak256(enc, SAFE_TX_TYPE, strlen(SAFE_TX_TYPE));
    put_address(enc + 32, tx->to);
    memcpy(enc + 64, tx->value, 32);
    kg_keccak256(enc + 96, tx->data, tx->data_len);
    put_u64(enc + 128, tx->operation);
    put_u64(enc + 160, tx->safe_tx_gas);
    put_u64(enc + 192, tx->base_gas);
    put_u64(enc + 224, tx->gas_price);
    put_address(enc + 256, tx->gas_token);
    put_address(enc + 288, tx->refund_receiver);
    put_u64(enc + 320, tx->nonce);
    uint8_t msg[2 + 32 + 32];
    msg[0] = 0x19;
    msg[1] = 0x01;
    kg_safe_domain_separator(msg + 2, chain_id, safe);
    kg_keccak256(msg + 34, enc, sizeof(enc));
    kg_keccak256(out, msg, sizeof(msg));
    return KG_OK;
}

KG_RESULT kg_safe_sign(uint8_t sig[KG_SAFE_SIG_LEN], const uint8_t key[32],
                       const uint8_t tx_hash[32])
{
    KG_GUARD(kg_k256_sign_recoverable(sig, key, tx_hash));
    sig[64] = (uint8_t)(sig[64] + 27);
    return KG_OK;
}

KG_RESULT kg_safe_signer(uint8_t signer[KG_ETH_ADDRESS_LEN], const uint8_t sig[KG_SAFE_SIG_LEN],
                         const uint8_t tx_hash[32])
{
    KG_ENSURE(sig[64] == 27 || sig[64] == 28, KG_ERR_INPUT,
              "Safe signature v = %u: an owner's ECDSA signature has v 27 or 28",
              (unsigned)sig[64]);
    uint8_t rs[KG_K256_RECSIG_LEN], pub[KG_K256_PUB_LEN];
    memcpy(rs, sig, 64);
    rs[64] = (uint8_t)(sig[64] - 27);
    KG_GUARD(kg_k256_recover(pub, rs, tx_hash));
    KG_GUARD(kg_k256_verify_recoverable(pub, rs, tx_hash)); /* low-S */
    return kg_k256_eth_address(signer, pub, sizeof(pub));
}

KG_RESULT kg_safe_pack_signatures(kg_buf *out, const uint8_t sigs[][KG_SAFE_SIG_LEN],
                                  const uint8_t signers[][KG_ETH_ADDRESS_LEN], size_t n)
{
    KG_ENSURE(n > 0 && n <= KG_SAFE_MAX_OWNERS, KG_ERR_USAGE, "%zu Safe signatures: give 1 to %d",
              n, KG_SAFE_MAX_OWNERS);
    size_t order[KG_SAFE_MAX_OWNERS];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort by signer address */
        for (size_t j = i;
             j > 0 && memcmp(signers[order[j - 1]], signers[order[j]], KG_ETH_ADDRESS_LEN) > 0;
             j--) {
            size_t t = order[j - 1];
            order[j - 1] = order[j];
            order[j] = t;
        }
    for (size_t i = 1; i < n; i++) {
        if (memcmp(signers[order[i - 1]], signers[order[i]], KG_ETH_ADDRESS_LEN) == 0) {
            char a[43];
            kg_eth_address_checksum(a, signers[order[i]]);
            KG_BAIL(KG_ERR_INPUT, "owner %s signed twice: each owner counts once", a);
        }
    }
    size_t before = out->len;
    for (size_t i = 0; i < n; i++) {
        if (kg_failed(kg_buf_append(out, sigs[order[i]], KG_SAFE_SIG_LEN))) {
            out->len = before;
            return KG_ERROR;
        }
    }
    return KG_OK;
}

KG_RESULT kg_safe_exec_calldata(kg_buf *out, const kg_safe_tx *tx, const uint8_t *signatures,
                                size_t signatures_len)
{
    KG_ENSURE(tx->operation <= 1, KG_ERR_INPUT, "Safe operation %u", (unsigned)tx->operation);
    kg_abi_value args[10] = {
        kg_abi_address(tx->to),
        kg_abi_uint256(tx->value),
        kg_abi_bytes(tx->data, tx->data_len),
        kg_abi_uint64(tx->operation),
        kg_abi_uint64(tx->safe_tx_gas),
        kg_abi_uint64(tx->base_gas),
        kg_abi_uint64(tx->gas_price),
        kg_abi_address(tx->gas_token),
        kg_abi_address(tx->refund_receiver),
        kg_abi_bytes(signatures, signatures_len),
    };
    return kg_abi_encode_call(out,
                              "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,"
                              "address,address,bytes)",
                              args, 10);
}
