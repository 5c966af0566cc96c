/* eth.h - talking to an EVM chain without an Ethereum library: Solidity ABI v2 encoding and
 * strict decoding, RLP, signed EIP-1559 transactions, a JSON-RPC client, and the governance
 * policy query of SPEC.md section 3. */
#ifndef KEYGATE_ETH_H
#define KEYGATE_ETH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

#define KG_ETH_WORD_LEN 32            /* one ABI word */
#define KG_ETH_ADDRESS_LEN 20         /* same as KG_ETH_ADDR_LEN in crypto.h */
#define KG_ETH_HASH_LEN 32            /* block / transaction hashes, bytes32 */
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
    uint8_t word[KG_ETH_WORD_LEN];     /* KG_ABI_WORD: the encoded word */
    const uint8_t *data;               /* KG_ABI_BYTES/STRING: borrowed content */
    size_t len;                        /* its length in bytes */
    const struct kg_abi_value *items;  /* KG_ABI_ARRAY/TUPLE: borrowed members */
    size_t count;                      /* their number */
} kg_abi_value;

kg_abi_value kg_abi_address(const uint8_t addr[KG_ETH_ADDRESS_LEN]);
kg_abi_value kg_abi_bytes32(const uint8_t b[KG_ETH_WORD_LEN]);
kg_abi_value kg_abi_bool(bool b);
kg_abi_value kg_abi_uint64(uint64_t v);                       /* any uintN with N >= 64 */
kg_abi_value kg_abi_uint256(const uint8_t be[KG_ETH_WORD_LEN]); /* big-endian */
kg_abi_value kg_abi_bytes(const uint8_t *data, size_t len);
kg_abi_value kg_abi_string(const char *s);                    /* NUL-terminated, borrowed */
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
    const uint8_t *data; /* BYTES/STRING: the content; BYTES32_ARRAY: the first element */
    size_t len;          /* BYTES/STRING: length in bytes; BYTES32_ARRAY: element count */
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

/* ==== EIP-1559 transactions ===================================================================== */

#define KG_ETH_MAX_TX_LEN (KG_ETH_MAX_ABI_LEN + 1024) /* cap on a signed raw transaction */

typedef struct kg_eth_tx {
    uint64_t chain_id;
    uint64_t nonce;
    uint64_t max_priority_fee_per_gas; /* wei */
    uint64_t max_fee_per_gas;          /* wei */
    uint64_t gas_limit;
    bool has_to;                       /* false: contract creation (data = init code) */
    uint8_t to[KG_ETH_ADDRESS_LEN];
    uint8_t value[KG_ETH_WORD_LEN];    /* wei, big-endian */
    const uint8_t *data;               /* borrowed calldata / init code */
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

#endif
