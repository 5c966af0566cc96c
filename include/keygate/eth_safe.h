/* eth_safe.h - Safe (Gnosis Safe) 1.3/1.4.1 multisig transactions without an Ethereum library:
 * the EIP-712 transaction hash the owners sign, owners' ECDSA signatures, the packed signature
 * bytes execTransaction checks, and its calldata (on top of keygate/eth.h). */
#ifndef KEYGATE_ETH_SAFE_H
#define KEYGATE_ETH_SAFE_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/eth.h"
#include "keygate/result.h"

#define KG_SAFE_SIG_LEN 65    /* r || s || v, v = 27 or 28 (an EOA's ECDSA signature) */
#define KG_SAFE_MAX_OWNERS 64 /* signatures packed at most (Safe itself has no hard limit) */

/* One Safe transaction, the fields of Safe's SafeTx EIP-712 type. Keygate sends plain calls
 * (operation 0) with no gas refund: every gas field and address zero. */
typedef struct kg_safe_tx {
    uint8_t to[KG_ETH_ADDRESS_LEN];
    uint8_t value[KG_ETH_WORD_LEN]; /* wei, big-endian */
    const uint8_t *data;            /* borrowed calldata of the inner call */
    size_t data_len;
    uint8_t operation; /* 0 CALL, 1 DELEGATECALL */
    uint64_t safe_tx_gas, base_gas, gas_price;
    uint8_t gas_token[KG_ETH_ADDRESS_LEN];
    uint8_t refund_receiver[KG_ETH_ADDRESS_LEN];
    uint64_t nonce; /* the Safe's nonce() the transaction is for */
} kg_safe_tx;

/* A plain call of `data` on `to` at `nonce` (value 0, operation 0, no refund). */
void kg_safe_tx_call(kg_safe_tx *tx, const uint8_t to[KG_ETH_ADDRESS_LEN], const uint8_t *data,
                     size_t data_len, uint64_t nonce);

/* keccak256(abi.encode(keccak256("EIP712Domain(uint256 chainId,address verifyingContract)"),
 * chain_id, safe)): Safe 1.3.0 and later. */
void kg_safe_domain_separator(uint8_t out[32], uint64_t chain_id,
                              const uint8_t safe[KG_ETH_ADDRESS_LEN]);

/* The hash Safe's getTransactionHash returns and its owners sign:
 * keccak256(0x19 0x01 || domainSeparator || keccak256(abi.encode(SAFE_TX_TYPEHASH, to, value,
 * keccak256(data), operation, safeTxGas, baseGas, gasPrice, gasToken, refundReceiver, nonce))).
 * KG_ERR_INPUT for an operation other than 0 or 1. */
KG_RESULT kg_safe_tx_hash(uint8_t out[32], uint64_t chain_id,
                          const uint8_t safe[KG_ETH_ADDRESS_LEN], const kg_safe_tx *tx);

/* An owner's signature over tx_hash with the secp256k1 scalar key (borrowed, not kept):
 * r || s || v with v = 27 + recovery id, the form Safe checks with ecrecover. */
KG_RESULT kg_safe_sign(uint8_t sig[KG_SAFE_SIG_LEN], const uint8_t key[32],
                       const uint8_t tx_hash[32]);

/* The address that produced sig over tx_hash (v must be 27 or 28, s low: KG_ERR_INPUT
 * otherwise, as Safe itself would not accept it). */
KG_RESULT kg_safe_signer(uint8_t signer[KG_ETH_ADDRESS_LEN], const uint8_t sig[KG_SAFE_SIG_LEN],
                         const uint8_t tx_hash[32]);

/* Appends the signatures execTransaction expects: sigs[i] by signers[i], concatenated in
 * strictly ascending signer order (Safe rejects any other order). KG_ERR_INPUT for the same
 * signer twice; KG_ERR_USAGE for n == 0 or n > KG_SAFE_MAX_OWNERS. */
KG_RESULT kg_safe_pack_signatures(kg_buf *out, const uint8_t sigs[][KG_SAFE_SIG_LEN],
                                  const uint8_t signers[][KG_ETH_ADDRESS_LEN], size_t n);

/* Appends the calldata of execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,
 * address,address,bytes) for tx with the packed signatures. */
KG_RESULT kg_safe_exec_calldata(kg_buf *out, const kg_safe_tx *tx, const uint8_t *signatures,
                                size_t signatures_len);

#endif
