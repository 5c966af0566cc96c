/* chain.h - the CLI's view of the governance chain: read calls, signed writes that wait for
 * their receipt and explain reverts, event logs (on top of keygate/eth.h). */
#ifndef KG_CLI_CHAIN_H
#define KG_CLI_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "devnet.h"
#include "keygate/eth.h"

#define KG_CHAIN_TIMEOUT_MS 10000
#define KG_CHAIN_RECEIPT_WAIT_MS 30000

/* A connection to the chain: the eth.h JSON-RPC client (strict, bounded reply parsing). */
typedef struct kg_chain {
    kg_eth_client *eth; /* owned */
    uint64_t chain_id;  /* as the node reported it */
} kg_chain;

/* Connects (eth_chainId). expected_chain_id 0 accepts any; otherwise a different chain fails
 * with KG_ERR_VERIFY, so a write never lands on the wrong network. Close with kg_chain_close
 * (also after a failed open). */
KG_RESULT kg_chain_open(kg_chain *c, const char *rpc_url, uint64_t expected_chain_id);
void kg_chain_close(kg_chain *c);

/* eth_call at the latest block; the return data is appended to ret. A revert fails with
 * KG_ERR_DENIED and the decoded reason. */
KG_RESULT kg_chain_call(const kg_chain *c, kg_buf *ret, const uint8_t to[20], const kg_buf *data);

/* Signs with key and sends a transaction calling `to` (creation when to is NULL), waits for
 * its receipt; a transaction that would revert is never sent (it is simulated first) and
 * fails with KG_ERR_DENIED and the contract's reason, so state does not change. receipt may
 * be NULL; otherwise the caller frees it with kg_eth_receipt_free. */
KG_RESULT kg_chain_send(const kg_chain *c, kg_eth_receipt *receipt, const uint8_t key[32],
                        const uint8_t *to, const kg_buf *data);

/* Every log of address (optionally only those with first topic topic0) from from_block to the
 * latest (public nodes may limit the range: start at the contracts' deployment block). The
 * caller frees *logs with kg_eth_logs_free. */
KG_RESULT kg_chain_logs(const kg_chain *c, kg_eth_logs *logs, const uint8_t address[20],
                        const uint8_t *topic0, uint64_t from_block);

/* Whether there is contract code at address. */
KG_RESULT kg_chain_has_code(const kg_chain *c, bool *has, const uint8_t address[20]);

/* Current block number. */
KG_RESULT kg_chain_block_number(const kg_chain *c, uint64_t *out);

/* Encodes a call: calldata = selector(sig) || encode(args). */
KG_RESULT kg_chain_calldata(kg_buf *out, const char *sig, const kg_abi_value *args, size_t n);

/* "0x" + hex of data as a fresh JSON string (NULL on allocation failure). */
json_t *kg_chain_hex_json(const uint8_t *data, size_t len);

/* ---- the governance target of a command ----------------------------------------------------
 * Where a governance command acts: the chain (--rpc-url or devnet.json), the KMS contract
 * (--kms-contract or devnet.json) and, for writes, the signing key (kg_cli_signing_key). */
typedef struct kg_cli_target {
    char dir[PATH_MAX];
    json_t *state; /* devnet.json, or NULL when none and --rpc-url was given */
    kg_chain chain;
    uint8_t kms[20];
    bool has_kms;
} kg_cli_target;

/* Opens the target; every pointer may be NULL. Caller closes with kg_cli_target_close. */
KG_RESULT kg_cli_target_open(kg_cli_target *t, const char *state, const char *rpc_url,
                             const char *kms_contract);
void kg_cli_target_close(kg_cli_target *t);

/* A view call returning static words: calldata = sig(args), decoded as types into out. */
KG_RESULT kg_chain_view(const kg_chain *c, kg_abi_decoded *out, const kg_abi_type *types,
                        size_t n, kg_buf *ret, const uint8_t to[20], const char *sig,
                        const kg_abi_value *args, size_t nargs);

/* Parses a --hash/--compose-hash argument: 64 hex digits, optional 0x (KG_ERR_USAGE quoting it). */
KG_RESULT kg_cli_parse_hash(uint8_t out[32], const char *opt, const char *text);
/* Parses an address argument (KG_ERR_USAGE quoting it). */
KG_RESULT kg_cli_parse_address(uint8_t out[20], const char *opt, const char *text);

#endif
