/* eth.h - talking to an EVM chain without an Ethereum library: Solidity ABI v2 encoding and
 * strict decoding, RLP, signed EIP-1559 transactions, a JSON-RPC client, and the governance
 * policy query of docs/protocol.md section 3. */
#ifndef KEYGATE_ETH_H
#define KEYGATE_ETH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/epoch.h"
#include "keygate/sizes.h"
#include "keygate/identity.h"
#include "keygate/result.h"

#define KG_ETH_WORD_LEN 32 /* one ABI word */
#define KG_ETH_HASH_LEN 32 /* block / transaction hashes, bytes32 */
#define KG_ETH_SELECTOR_LEN 4
#define KG_ETH_MAX_ABI_LEN (1u << 20) /* cap on calldata we build and return data we decode */
#define KG_ETH_MAX_ABI_DEPTH 8        /* nesting of tuples/arrays the encoder accepts */
#define KG_ETH_MAX_ABI_ITEMS 4096     /* members of one tuple or elements of one array */
#define KG_ETH_MAX_REASON_LEN 1024    /* cap on a revert / denial reason string */

/* ==== ABI encoding (Solidity ABI v2) ==========================================================
 *
 * A call's arguments are described as a tree of kg_abi_value, built with the constructors
 * below (they only fill a struct; nothing is allocated, byte strings and child arrays are
 * borrowed and must outlive the encode call). Encoding follows the Solidity ABI specification:
 * static values occupy their head slot; dynamic values (string, bytes, T[], tuples with a
 * dynamic member) put an offset, relative to the start of the enclosing tuple, in the head and
 * their encoding in the tail, in member order (the canonical layout every Solidity compiler
 * emits and decodes).
 */
typedef enum kg_abi_kind {
    KG_ABI_WORD = 1, /* a static 32-byte word: address, bool, uintN, bytes32, ... */
    KG_ABI_BYTES,    /* dynamic `bytes` */
    KG_ABI_STRING,   /* dynamic `string` (UTF-8 bytes, not NUL-terminated in the encoding) */
    KG_ABI_ARRAY,    /* dynamic-length `T[]` of the items */
    KG_ABI_TUPLE,    /* a struct `(T1,...,Tn)`; dynamic iff any member is */
} kg_abi_kind;

typedef struct kg_abi_value {
    kg_abi_kind kind;
    uint8_t word[KG_ETH_WORD_LEN];    /* KG_ABI_WORD: the encoded word */
    const uint8_t *data;              /* KG_ABI_BYTES/STRING: borrowed content */
    size_t len;                       /* its length in bytes */
    const struct kg_abi_value *items; /* KG_ABI_ARRAY/TUPLE: borrowed members */
    size_t count;                     /* their number */
} kg_abi_value;

kg_abi_value kg_abi_address(const uint8_t addr[KG_ETH_ADDRESS_LEN]);
kg_abi_value kg_abi_bytes32(const uint8_t b[KG_ETH_WORD_LEN]);
kg_abi_value kg_abi_bool(bool b);
kg_abi_value kg_abi_uint64(uint64_t v);                         /* any uintN with N >= 64 */
kg_abi_value kg_abi_uint256(const uint8_t be[KG_ETH_WORD_LEN]); /* big-endian */
kg_abi_value kg_abi_bytes(const uint8_t *data, size_t len);
kg_abi_value kg_abi_string(const char *s); /* NUL-terminated, borrowed */
kg_abi_value kg_abi_array(const kg_abi_value *items, size_t count);
kg_abi_value kg_abi_tuple(const kg_abi_value *items, size_t count);

/* The 4-byte function (or error) selector: the first 4 bytes of keccak256(signature), e.g.
 * "isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))"
 * gives 1e079198. The signature must be canonical (no spaces, no names). */
void kg_abi_selector(uint8_t out[KG_ETH_SELECTOR_LEN], const char *signature);

/* Appends the encoding of the tuple (args[0], ..., args[n-1]) to out (no selector). Fails with
 * KG_ERR_USAGE on a malformed value tree (unknown kind, deeper than KG_ETH_MAX_ABI_DEPTH, more
 * than KG_ETH_MAX_ABI_ITEMS members) and KG_ERR_TOO_LARGE past KG_ETH_MAX_ABI_LEN or out->max.
 * On failure out is left as it was. */
KG_RESULT kg_abi_encode(kg_buf *out, const kg_abi_value *args, size_t n);

/* Appends calldata: selector of `signature`, then kg_abi_encode(args). The caller must pass
 * arguments that match the signature's types (the signature is only hashed, not parsed). */
KG_RESULT kg_abi_encode_call(kg_buf *out, const char *signature, const kg_abi_value *args,
                             size_t n);

/* ==== ABI decoding (untrusted return data) =====================================================
 *
 * Return data comes from a node we do not trust to be honest or well-formed, so decoding is
 * strict: the data must be the canonical encoding of exactly the declared types -- every head
 * word present, every dynamic offset equal to where the canonical layout puts that member's
 * tail, every length within what remains and within the caller's named maximum, padding bytes
 * zero, bools 0 or 1, addresses and narrow integers zero-extended, and nothing after the
 * last tail. Anything else fails with KG_ERR_INPUT / KG_ERR_TRUNCATED / KG_ERR_TOO_LARGE,
 * naming the member. A caller that decides policy from the result therefore never reads
 * "allowed" out of malformed data.
 */
typedef enum kg_abi_type {
    KG_ABI_T_ADDRESS = 1,   /* word with 12 zero bytes, then 20 */
    KG_ABI_T_BOOL,          /* word 0 or 1 */
    KG_ABI_T_UINT8,         /* word < 2^8 (enums) */
    KG_ABI_T_UINT64,        /* word < 2^64 */
    KG_ABI_T_UINT256,       /* any word */
    KG_ABI_T_BYTES32,       /* any word */
    KG_ABI_T_BYTES,         /* dynamic bytes */
    KG_ABI_T_STRING,        /* dynamic string: also rejects NUL bytes (must fit a C string) */
    KG_ABI_T_BYTES32_ARRAY, /* dynamic bytes32[] (also address[] / uint256[] element layout) */
} kg_abi_type;

/* One decoded value. Borrowed: data points into the decoded buffer, which must outlive it. */
typedef struct kg_abi_decoded {
    kg_abi_type type;
    uint8_t word[KG_ETH_WORD_LEN]; /* static types: the (validated) word */
    const uint8_t *data;           /* BYTES/STRING: the content; BYTES32_ARRAY: the first element */
    size_t len;                    /* BYTES/STRING: length in bytes; BYTES32_ARRAY: element count */
} kg_abi_decoded;

/* Decodes data[0..len) as the tuple (types[0], ..., types[n-1]) into out[0..n). Each dynamic
 * member may be at most max_dyn_len bytes (elements for arrays: at most max_dyn_len / 32).
 * out is zeroed on failure. */
KG_RESULT kg_abi_decode(kg_abi_decoded *out, const kg_abi_type *types, size_t n,
                        const uint8_t *data, size_t len, size_t max_dyn_len);

/* Accessors of decoded values (no failure: values were validated by kg_abi_decode). */
bool kg_abi_get_bool(const kg_abi_decoded *v);
uint64_t kg_abi_get_u64(const kg_abi_decoded *v); /* UINT8 / UINT64 */
void kg_abi_get_address(uint8_t out[KG_ETH_ADDRESS_LEN], const kg_abi_decoded *v);
/* Copies a STRING into out (NUL-terminated); KG_ERR_TOO_LARGE if it needs more than out_size. */
KG_RESULT kg_abi_get_string(char *out, size_t out_size, const kg_abi_decoded *v);

/* What a reverted call or transaction said (its revert data). */
typedef enum kg_eth_revert_kind {
    KG_ETH_REVERT_EMPTY = 0, /* no data: revert(), require without message, out of gas, ... */
    KG_ETH_REVERT_ERROR,     /* Error(string) 0x08c379a0: require(cond, "reason") */
    KG_ETH_REVERT_PANIC,     /* Panic(uint256) 0x4e487b71: assert, overflow, ... */
    KG_ETH_REVERT_CUSTOM,    /* any other selector: a custom error */
} kg_eth_revert_kind;

typedef struct kg_eth_revert {
    kg_eth_revert_kind kind;
    char reason[KG_ETH_MAX_REASON_LEN + 1]; /* ERROR: the message */
    uint64_t panic_code;                    /* PANIC (codes above 2^64 are rejected) */
    uint8_t selector[KG_ETH_SELECTOR_LEN];  /* CUSTOM: the error's selector */
    const char *custom_name; /* CUSTOM: signature of a known keygate/OpenZeppelin error, or NULL */
} kg_eth_revert;

/* Parses revert data (untrusted). Error/Panic bodies must be canonical (KG_ERR_INPUT etc.
 * otherwise); custom errors only need a 4-byte selector (their arguments are not interpreted).
 * Data of 1..3 bytes is malformed. */
KG_RESULT kg_abi_decode_revert(kg_eth_revert *out, const uint8_t *data, size_t len);

/* A one-line description ("Error(\"compose hash not allowed\")", "Panic(0x11: arithmetic
 * overflow)", "custom error KmsAppAlreadyRegistered(address) 0x...", "no revert data") into
 * out (always NUL-terminated, truncated to out_size). */
void kg_eth_revert_describe(char *out, size_t out_size, const kg_eth_revert *rv);

/* ==== RLP (Ethereum yellow paper, appendix B) ==================================================
 * Appends one item each. A list is built by encoding its items into a scratch buffer, then
 * wrapping that concatenation with kg_rlp_list. KG_ERR_TOO_LARGE past out->max. */
KG_RESULT kg_rlp_bytes(kg_buf *out, const uint8_t *data, size_t len);
KG_RESULT kg_rlp_uint(kg_buf *out, uint64_t v); /* minimal big-endian; 0 is the empty string */
KG_RESULT kg_rlp_uint256(kg_buf *out, const uint8_t be[KG_ETH_WORD_LEN]);
KG_RESULT kg_rlp_list(kg_buf *out, const uint8_t *payload, size_t payload_len);

/* ==== EIP-1559 transactions =================================================================== */

#define KG_ETH_MAX_TX_LEN (KG_ETH_MAX_ABI_LEN + 1024) /* cap on a signed raw transaction */

typedef struct kg_eth_tx {
    uint64_t chain_id;
    uint64_t nonce;
    uint64_t max_priority_fee_per_gas; /* wei */
    uint64_t max_fee_per_gas;          /* wei */
    uint64_t gas_limit;
    bool has_to; /* false: contract creation (data = init code) */
    uint8_t to[KG_ETH_ADDRESS_LEN];
    uint8_t value[KG_ETH_WORD_LEN]; /* wei, big-endian */
    const uint8_t *data;            /* borrowed calldata / init code */
    size_t data_len;
} kg_eth_tx;

/* Signs tx (type 2, empty access list) with the secp256k1 scalar `key` (borrowed, not kept) and
 * appends the raw transaction 0x02 || rlp([chain_id, nonce, tip, max_fee, gas, to, value, data,
 * [], y_parity, r, s]) to raw; tx_hash (if not NULL) receives keccak256 of it, the hash nodes
 * report. KG_ERR_INPUT for an out-of-range key. */
KG_RESULT kg_eth_tx_sign(kg_buf *raw, uint8_t tx_hash[KG_ETH_HASH_LEN], const kg_eth_tx *tx,
                         const uint8_t key[32]);

/* The address of a secp256k1 private key (keccak256 of the uncompressed public key). */
KG_RESULT kg_eth_address_of_key(uint8_t addr[KG_ETH_ADDRESS_LEN], const uint8_t key[32]);

/* The address of a contract created by `sender` with `nonce` (keccak256(rlp([sender, nonce]))). */
KG_RESULT kg_eth_create_address(uint8_t addr[KG_ETH_ADDRESS_LEN],
                                const uint8_t sender[KG_ETH_ADDRESS_LEN], uint64_t nonce);

/* EIP-55 mixed-case checksummed "0x..." text of an address into out[43]. */
void kg_eth_address_checksum(char out[43], const uint8_t addr[KG_ETH_ADDRESS_LEN]);

/* Parses "0x" + 40 hex digits (any case; a mixed-case address must carry a valid EIP-55
 * checksum, KG_ERR_INPUT otherwise). */
KG_RESULT kg_eth_address_parse(uint8_t addr[KG_ETH_ADDRESS_LEN], const char *text);

/* ==== JSON-RPC client ===========================================================================
 *
 * A kg_eth_client is created once per node URL and shared: it is safe to use from any number
 * of threads at once. It keeps a small pool of libcurl handles (keep-alive connections) under
 * a mutex that is held only to take or return a handle, never during I/O, so concurrent calls
 * run in parallel (the KMS calls it from its worker threads). Errors are per thread (result.h).
 *
 * Every reply is untrusted: bounded by KG_ETH_MAX_RPC_REPLY, parsed strictly (JSON-RPC 2.0,
 * our request id, exactly one of result/error, duplicate keys rejected, quantities and data as
 * 0x-hex within named maxima). Error kinds:
 *   KG_ERR_NETWORK  the node could not be reached, timed out, answered HTTP != 200, sent a
 *                   malformed reply, or returned a JSON-RPC error that is not a revert
 *                   ("node rejected eth_sendRawTransaction: nonce too low (code -32003)");
 *   KG_ERR_TOO_LARGE  the reply exceeded KG_ETH_MAX_RPC_REPLY (or a list its maximum);
 *   KG_ERR_DENIED   the EVM reverted (eth_call / eth_estimateGas error carrying "execution
 *                   reverted", or a mined transaction with status 0): the chain said no. The
 *                   message carries the decoded reason; callers that take a kg_eth_revert get
 *                   it structured;
 *   KG_ERR_NOT_FOUND  a block/receipt the node does not have (where noted).
 */
#define KG_ETH_MAX_RPC_REPLY (8u << 20) /* bytes of one HTTP reply body */
#define KG_ETH_MAX_URL_LEN 2048
#define KG_ETH_MAX_LOGS 10000 /* logs in one eth_getLogs answer or receipt */
#define KG_ETH_MAX_TOPICS 4
#define KG_ETH_DEFAULT_TIMEOUT_MS 10000u /* per HTTP request */
#define KG_ETH_CLIENT_POOL_MAX 16        /* idle connections kept per client */

typedef struct kg_eth_client kg_eth_client;

/* Creates a client for `url` (http:// or https://, at most KG_ETH_MAX_URL_LEN; copied) with a
 * per-request timeout (0 = KG_ETH_DEFAULT_TIMEOUT_MS), covering connect and transfer. No I/O
 * happens here. The caller owns *out and frees it with kg_eth_client_free (NULL-safe), after
 * every thread is done with it. */
KG_RESULT kg_eth_client_new(kg_eth_client **out, const char *url, uint32_t timeout_ms);
void kg_eth_client_free(kg_eth_client *c);
const char *kg_eth_client_url(const kg_eth_client *c); /* borrowed */

/* A block as this module uses it: enough to pin a query to it and to record it. */
typedef struct kg_eth_block {
    uint64_t number;
    uint8_t hash[KG_ETH_HASH_LEN];
    uint64_t timestamp;
    bool has_base_fee;         /* London and later */
    uint64_t base_fee_per_gas; /* wei */
} kg_eth_block;

/* eth_chainId (cached in the client after the first answer). */
KG_RESULT kg_eth_chain_id(kg_eth_client *c, uint64_t *out);
/* eth_blockNumber */
KG_RESULT kg_eth_block_number(kg_eth_client *c, uint64_t *out);
/* eth_getBlockByNumber(tag, false) with tag "latest", "safe", "finalized" or "earliest";
 * KG_ERR_NOT_FOUND if the node answers null. */
KG_RESULT kg_eth_get_block(kg_eth_client *c, kg_eth_block *out, const char *tag);
KG_RESULT kg_eth_get_block_by_number(kg_eth_client *c, kg_eth_block *out, uint64_t number);

/* eth_call of `data` on `to` (from: optional sender) at block `at` (NULL = "latest"). A block
 * is referred to by its hash (EIP-1898 {"blockHash":...}), so the answer is exactly as of that
 * block even if the chain moves on or reorganizes. Return data is appended to out. A revert is
 * KG_ERR_DENIED; if revert is not NULL it receives the decoded revert (kind EMPTY when absent or
 * malformed). */
KG_RESULT kg_eth_call(kg_eth_client *c, kg_buf *out, kg_eth_revert *revert, const uint8_t *from,
                      const uint8_t to[KG_ETH_ADDRESS_LEN], const uint8_t *data, size_t data_len,
                      const kg_eth_block *at);
/* A view call and its answer, the shape every contract read takes: eth_call of
 * signature(args) on `to` at block `at` (NULL = "latest"), the return data decoded strictly as
 * the tuple (types[0..n)) into out, each dynamic member at most max_dyn_len bytes
 * (kg_abi_decode). out borrows from *ret (the caller's buffer, emptied here first; the caller
 * frees it). A revert is KG_ERR_DENIED as for kg_eth_call, its message prefixed "<signature>";
 * an answer that is not that tuple fails with "<signature> at 0xABCD..: unexpected answer (is
 * it the right contract?)" and the decoder's reason. */
KG_RESULT kg_eth_view(kg_abi_decoded *out, const kg_abi_type *types, size_t n, size_t max_dyn_len,
                      kg_buf *ret, kg_eth_client *c, const uint8_t to[KG_ETH_ADDRESS_LEN],
                      const char *signature, const kg_abi_value *args, size_t nargs,
                      const kg_eth_block *at);
/* eth_getCode at `at` (NULL = latest), appended to out (empty: no contract). */
KG_RESULT kg_eth_get_code(kg_eth_client *c, kg_buf *out, const uint8_t addr[KG_ETH_ADDRESS_LEN],
                          const kg_eth_block *at);
/* eth_getCode at the block numbered `number` (state the node may have pruned: a node that is
 * not an archive node fails for old blocks), appended to out (empty: no contract then). */
KG_RESULT kg_eth_get_code_at(kg_eth_client *c, kg_buf *out, const uint8_t addr[KG_ETH_ADDRESS_LEN],
                             uint64_t number);
/* eth_getTransactionCount(addr, "pending"): the next nonce to use. */
KG_RESULT kg_eth_get_nonce(kg_eth_client *c, uint64_t *out, const uint8_t addr[KG_ETH_ADDRESS_LEN]);
/* eth_gasPrice and eth_maxPriorityFeePerGas, in wei. */
KG_RESULT kg_eth_gas_price(kg_eth_client *c, uint64_t *out);
KG_RESULT kg_eth_max_priority_fee(kg_eth_client *c, uint64_t *out);
/* eth_estimateGas for a call (to != NULL) or a creation (to == NULL) from `from`, with an
 * optional value (NULL = 0). A revert is KG_ERR_DENIED (revert filled as for kg_eth_call). */
KG_RESULT kg_eth_estimate_gas(kg_eth_client *c, uint64_t *out, kg_eth_revert *revert,
                              const uint8_t from[KG_ETH_ADDRESS_LEN], const uint8_t *to,
                              const uint8_t *value, const uint8_t *data, size_t data_len);
/* eth_sendRawTransaction; tx_hash receives the hash the node reports (checked against
 * keccak256(raw)). */
KG_RESULT kg_eth_send_raw(kg_eth_client *c, uint8_t tx_hash[KG_ETH_HASH_LEN], const uint8_t *raw,
                          size_t raw_len);

typedef struct kg_eth_log {
    uint8_t address[KG_ETH_ADDRESS_LEN];
    uint8_t topics[KG_ETH_MAX_TOPICS][KG_ETH_HASH_LEN];
    size_t n_topics;
    uint8_t *data; /* owned (NULL when data_len == 0) */
    size_t data_len;
    uint64_t block_number;
    uint8_t block_hash[KG_ETH_HASH_LEN];
    uint8_t tx_hash[KG_ETH_HASH_LEN];
    uint64_t log_index;
} kg_eth_log;

typedef struct kg_eth_logs {
    kg_eth_log *items; /* owned */
    size_t count;
} kg_eth_logs;

void kg_eth_logs_free(kg_eth_logs *logs); /* NULL-safe; leaves it empty */

typedef struct kg_eth_receipt {
    uint8_t tx_hash[KG_ETH_HASH_LEN];
    uint8_t block_hash[KG_ETH_HASH_LEN];
    uint64_t block_number;
    bool status; /* true: executed successfully (status 0x1) */
    uint64_t gas_used;
    bool has_contract_address; /* creation transactions */
    uint8_t contract_address[KG_ETH_ADDRESS_LEN];
    kg_eth_logs logs; /* owned */
} kg_eth_receipt;

void kg_eth_receipt_free(kg_eth_receipt *r); /* NULL-safe; frees the logs */

/* eth_getTransactionReceipt once: *found = false (and KG_OK) while not mined. The caller frees
 * *out with kg_eth_receipt_free when found. */
KG_RESULT kg_eth_get_receipt(kg_eth_client *c, kg_eth_receipt *out, bool *found,
                             const uint8_t tx_hash[KG_ETH_HASH_LEN]);
/* A transaction as the node knows it (eth_getTransactionByHash): enough to say whether it is
 * pending or in a block, and whose it is. */
typedef struct kg_eth_tx_seen {
    uint8_t hash[KG_ETH_HASH_LEN];
    uint8_t from[KG_ETH_ADDRESS_LEN];
    uint64_t nonce;
    bool mined;            /* in a block (blockNumber set); false while pending */
    uint64_t block_number; /* when mined */
} kg_eth_tx_seen;

/* eth_getTransactionByHash once: *found = false (and KG_OK) when the node does not know it
 * (never received, dropped or replaced). A transaction other than the one asked for is
 * KG_ERR_NETWORK. */
KG_RESULT kg_eth_get_transaction(kg_eth_client *c, kg_eth_tx_seen *out, bool *found,
                                 const uint8_t tx_hash[KG_ETH_HASH_LEN]);

/* Polls for the receipt until timeout_ms; KG_ERR_NETWORK "not mined within ..." then. Does not
 * look at the status. */
KG_RESULT kg_eth_wait_receipt(kg_eth_client *c, kg_eth_receipt *out,
                              const uint8_t tx_hash[KG_ETH_HASH_LEN], uint32_t timeout_ms);

/* eth_getLogs of `address` from from_block to to_block (UINT64_MAX = "latest"), optionally only
 * logs whose first topic is topic0. The caller frees *out with kg_eth_logs_free. */
KG_RESULT kg_eth_get_logs(kg_eth_client *c, kg_eth_logs *out,
                          const uint8_t address[KG_ETH_ADDRESS_LEN], const uint8_t *topic0,
                          uint64_t from_block, uint64_t to_block);

/* What became of a signed transaction handed to a node (kg_eth_send). */
typedef enum kg_eth_sent {
    KG_ETH_NOT_SENT = 0, /* not handed over, or the node refused it: it cannot be mined */
    KG_ETH_SENT,         /* the node accepted it: it is pending or already in a block */
    KG_ETH_MAYBE_SENT,   /* handed over, but neither the node's answer nor a look-up says whether
                            it took it: it may still be mined */
} kg_eth_sent;

/* The first half of kg_eth_send_and_wait: simulates, signs and sends the transaction (same
 * nonce, gas and fee rules) without waiting for it. KG_OK: the node accepted it, *sent =
 * KG_ETH_SENT and tx_hash is its hash. On failure *sent says whether it may still be mined: when
 * eth_sendRawTransaction itself fails, the node is asked for the transaction by hash (a node
 * that has it accepted it: KG_OK after all; one that answers it does not know it refused it:
 * KG_ETH_NOT_SENT), and if that cannot be told either, KG_ETH_MAYBE_SENT with tx_hash set. A
 * simulation that reverts is KG_ERR_DENIED with KG_ETH_NOT_SENT. */
KG_RESULT kg_eth_send(kg_eth_client *c, uint8_t tx_hash[KG_ETH_HASH_LEN], kg_eth_sent *sent,
                      const uint8_t key[32], const uint8_t *to, const uint8_t *value,
                      const uint8_t *data, size_t data_len);

/* Why a mined transaction with status 0 failed: the call replayed with eth_call at its block
 * (from, to, value, data as sent), described into why ("reason unknown" when the replay does
 * not revert with data, e.g. out of gas, or the node has no state for that block). Never fails. */
void kg_eth_revert_reason(kg_eth_client *c, char *why, size_t why_size,
                          const uint8_t from[KG_ETH_ADDRESS_LEN], const uint8_t *to,
                          const uint8_t *value, const uint8_t *data, size_t data_len,
                          uint64_t block);

/* Sends a transaction signed with `key` and waits for it (timeout_ms, 0 = 60 s):
 * chain id from the node, nonce = the sender's pending count, gas = eth_estimateGas + 20%,
 * max fee = 2 x base fee + eth_maxPriorityFeePerGas. to == NULL creates a contract (data = init
 * code); value NULL = 0. The call is simulated first (estimateGas), so a transaction that would
 * revert is never sent: KG_ERR_DENIED with the decoded reason. A mined transaction with status 0
 * is also KG_ERR_DENIED, its reason recovered by replaying it with eth_call. On success the
 * caller frees *out (kg_eth_receipt_free); on failure *out is empty. Nonces are not coordinated
 * across processes: one sender key should be used by one writer at a time. */
KG_RESULT kg_eth_send_and_wait(kg_eth_client *c, kg_eth_receipt *out, const uint8_t key[32],
                               const uint8_t *to, const uint8_t *value, const uint8_t *data,
                               size_t data_len, uint32_t timeout_ms);

/* Low level: one JSON-RPC call with params (a JSON array, borrowed); *result receives a new
 * reference to the reply's "result" (may be JSON null; caller json_decref()s). */
struct json_t;
KG_RESULT kg_eth_rpc(kg_eth_client *c, struct json_t **result, kg_eth_revert *revert,
                     const char *method, struct json_t *params);

/* The pure reply parser behind kg_eth_rpc (exposed for the fuzz harness and tests): checks the
 * envelope of body[0..len) for a call of `method` with request id `id` and returns "result" as
 * above, or the error kinds listed for the client. */
KG_RESULT kg_eth_rpc_parse_reply(struct json_t **result, kg_eth_revert *revert, const char *method,
                                 uint64_t id, const uint8_t *body, size_t len);

/* The reply to eth_getBlockByNumber(tag, false) (pure; exposed for the fuzz harness and tests):
 * the envelope as kg_eth_rpc_parse_reply checks it, then the block (KG_ERR_NOT_FOUND when the
 * node answers null). The list of transaction hashes is not parsed into JSON: see
 * kg_eth_elide_tx_hashes. */
KG_RESULT kg_eth_parse_block_reply(kg_eth_block *out, const char *method, uint64_t id,
                                   const uint8_t *body, size_t len);
/* Copies body[0..len) into out (out->max >= len) with the first "transactions" array emptied,
 * when that array is exactly a list of 32-byte hex hash strings; false (out unspecified)
 * otherwise. Why this never changes what a block reply says: lib/eth/rpc.c. */
bool kg_eth_elide_tx_hashes(kg_buf *out, const uint8_t *body, size_t len);

/* Strict parsers of reply members (pure; exposed for the fuzz harness and tests). */
KG_RESULT kg_eth_parse_quantity(uint64_t *out, const struct json_t *v, const char *what);
KG_RESULT kg_eth_parse_data(kg_buf *out, const struct json_t *v, const char *what);
KG_RESULT kg_eth_parse_block(kg_eth_block *out, const struct json_t *v);
KG_RESULT kg_eth_parse_receipt(kg_eth_receipt *out, const struct json_t *v);
KG_RESULT kg_eth_parse_logs(kg_eth_logs *out, const struct json_t *v);
KG_RESULT kg_eth_parse_tx_seen(kg_eth_tx_seen *out, const struct json_t *v);

/* ==== Governance policy (docs/protocol.md section 3, contracts/README.md)
 * ================================
 *
 * The KMS asks the chain whether a boot may get keys: isAppAllowed(AppBootInfo) (an app) or
 * isKmsAllowed(AppBootInfo) (a KMS peer, or the KMS itself) on the KMS contract, by eth_call
 * at one resolved block, recorded with the decision. Fail closed: every failure to obtain a
 * well-formed answer is an error and a "not allowed" decision, never "allowed".
 */
/* The boot info is identity.h's kg_boot_identity: one shape from the attestation to the chain. */

typedef enum kg_eth_policy_kind {
    KG_ETH_POLICY_APP = 1, /* isAppAllowed: may this app instance get its keys? */
    KG_ETH_POLICY_KMS,     /* isKmsAllowed: may this KMS node serve / receive root keys? */
} kg_eth_policy_kind;

/* One decision, as recorded in the audit log. */
typedef struct kg_eth_decision {
    bool allowed;
    char reason[KG_ETH_MAX_REASON_LEN + 1]; /* the contract's reason, or why we failed closed */
    bool has_block;                         /* false if no block could be resolved */
    uint64_t block_number;
    uint8_t block_hash[KG_ETH_HASH_LEN];
} kg_eth_decision;

/* Appends the calldata of isAppAllowed / isKmsAllowed(bi) to out (selectors 0x1e079198 /
 * 0xe067ec9d). KG_ERR_INPUT for a boot info whose strings are not NUL-terminated in their
 * arrays, with more than KG_MAX_ADVISORY_IDS advisories, or an instance id length other than 0
 * or 20. */
KG_RESULT kg_eth_policy_calldata(kg_buf *out, kg_eth_policy_kind kind, const kg_boot_identity *bi);

/* Asks the KMS contract at `kms_contract` about `bi` at block `at` (NULL: the node's latest
 * block, resolved here), by eth_call pinned to that block's hash.
 *   KG_OK: the contract answered; out->allowed and out->reason are its (bool, string) answer
 *     ("denied by the contract without a reason" when it gave none), with the block.
 *   Error: out->allowed = false, out->reason = the error message, the block if it was
 *     resolved. KG_ERR_NETWORK (node down/bad reply), KG_ERR_DENIED (the call reverted),
 *     KG_ERR_NOT_FOUND (no contract at kms_contract at that block), KG_ERR_INPUT /
 *     KG_ERR_TRUNCATED / KG_ERR_TOO_LARGE (the answer is not a canonical (bool, string)).
 * Thread-safe like the client. Borrowed arguments; out is the caller's. */
KG_RESULT kg_eth_policy_check(kg_eth_decision *out, kg_eth_client *c,
                              const uint8_t kms_contract[KG_ETH_ADDRESS_LEN],
                              kg_eth_policy_kind kind, const kg_boot_identity *bi,
                              const kg_eth_block *at);

/* The KMS root public keys published on chain: kmsInfo() of the KMS contract at block `at`
 * (NULL: the node's latest block; contracts/README.md): the compressed root secp256k1 key and the
 * root CA SubjectPublicKeyInfo DER (appended to ca_spki). Nothing published is KG_ERR_NOT_FOUND; an
 * answer that does not decode says the address is probably not a KMS contract. */
KG_RESULT kg_eth_kms_info(uint8_t k256_pub[KG_K256_PUB_LEN], kg_buf *ca_spki, kg_eth_client *c,
                          const uint8_t kms_contract[KG_ETH_ADDRESS_LEN], const kg_eth_block *at);

/* The recovery holders of sealed root-key files (docs/design.md, "Sealed root keys"):
 * recoveryHolders() of the KMS contract at block `at` (NULL: latest) into holders[0..*n) (X25519
 * public keys) and *threshold. The answer must be well-formed: at most
 * KG_ETH_MAX_RECOVERY_HOLDERS keys, 1 <= threshold <= n, or none with threshold 0
 * (KG_ERR_INPUT otherwise). A contract of an earlier version reverts the call: that is no
 * holders (n = 0), not an error. */
#define KG_ETH_MAX_RECOVERY_HOLDERS 16u
KG_RESULT kg_eth_recovery_holders(uint8_t holders[KG_ETH_MAX_RECOVERY_HOLDERS][32], size_t *n,
                                  uint8_t *threshold, kg_eth_client *c,
                                  const uint8_t kms_contract[KG_ETH_ADDRESS_LEN],
                                  const kg_eth_block *at);

/* ==== Root-key epochs (docs/design.md, "Root-key epochs") ====================================
 *
 * The KMS contract publishes each root-key epoch: its status and public keys. Epoch 0 is the
 * root kmsInfo() published before any rotation; kmsInfo() is always the current epoch's keys.
 */
#define KG_ETH_MAX_ROOT_CA_SPKI_LEN 512u /* cap on a root CA SubjectPublicKeyInfo DER */

typedef struct kg_eth_root_epoch_info {
    uint8_t status;                    /* KG_ROOT_EPOCH_* */
    uint8_t k256_pub[KG_K256_PUB_LEN]; /* compressed; zero for status none */
    uint8_t ca_spki[KG_ETH_MAX_ROOT_CA_SPKI_LEN];
    size_t ca_spki_len;
    uint64_t activates_at;                     /* unix seconds; 0 for epoch 0 */
    uint8_t attestation_hash[KG_ETH_HASH_LEN]; /* keccak256 of the proposer's quote */
} kg_eth_root_epoch_info;

/* Decodes rootEpoch(uint32)'s return data (untrusted): a known status, keys present exactly
 * when the status is not none, the k256 key a valid point (stored compressed), the CA key at
 * most KG_ETH_MAX_ROOT_CA_SPKI_LEN bytes. out is zeroed on failure. */
KG_RESULT kg_eth_root_epoch_decode(kg_eth_root_epoch_info *out, const uint8_t *data, size_t len);

/* rootEpoch(epoch) of the KMS contract at block `at` (NULL: the node's latest block). A contract
 * without epochs reverts: KG_ERR_DENIED. out is the caller's, zeroed on failure. */
KG_RESULT kg_eth_root_epoch(kg_eth_root_epoch_info *out, kg_eth_client *c,
                            const uint8_t kms_contract[KG_ETH_ADDRESS_LEN], uint32_t epoch,
                            const kg_eth_block *at);

/* currentRootEpoch() of the KMS contract at block `at` (NULL: latest). */
KG_RESULT kg_eth_current_root_epoch(uint32_t *out, kg_eth_client *c,
                                    const uint8_t kms_contract[KG_ETH_ADDRESS_LEN],
                                    const kg_eth_block *at);

#endif
