/* chain.h - the CLI's view of the governance chain: read calls, signed writes that wait for
 * their receipt and explain reverts, event logs (on top of keygate/eth.h). */
#ifndef KG_CLI_CHAIN_H
#define KG_CLI_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "devnet.h"
#include "keygate/eth.h"
#include "keygate/eth_safe.h"

#define KG_CHAIN_TIMEOUT_MS 10000 /* one JSON-RPC request */
#define KG_CHAIN_WAIT_S 30        /* how long a write waits to be mined (--wait S) */
#define KG_CHAIN_MAX_WAIT_S 86400

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

/* Signs with key and sends a transaction calling `to` (creation when to is NULL), then waits up
 * to wait_s seconds for its receipt (chain_tx.c). A transaction that would revert is never sent
 * (it is simulated first) and fails with KG_ERR_DENIED and the contract's reason, so state does
 * not change. The hash goes to stderr as soon as the node has it, a progress line every few
 * seconds while it waits; one not mined by then (or wait_s 0) fails with KG_ERR_UNAVAILABLE
 * and is remembered as pending, so the command exits KG_EXIT_PENDING (kg_cli_tx_exit_status).
 * receipt may be NULL; otherwise the caller frees it with kg_eth_receipt_free. */
KG_RESULT kg_chain_send(const kg_chain *c, kg_eth_receipt *receipt, const uint8_t key[32],
                        const uint8_t *to, const kg_buf *data, uint32_t wait_s);

/* Every log of address (optionally only those with first topic topic0) from from_block to the
 * latest block, read in windows of KG_CHAIN_LOG_WINDOW blocks (chain_history.c). The caller frees
 * *logs with kg_eth_logs_free. */
KG_RESULT kg_chain_logs(const kg_chain *c, kg_eth_logs *logs, const uint8_t address[20],
                        const uint8_t *topic0, uint64_t from_block);

/* ---- history on real chains (chain_history.c) -----------------------------------------------
 * Public nodes refuse eth_getLogs over wide block ranges, so a contract's history is read in
 * windows, and by default only from the block the contract was created in (found by bisection
 * over eth_getCode, about log2(head) requests). Allow-lists are then confirmed with the
 * contract's view functions; whether history before the range exists unread is reported, never
 * silently dropped. */
#define KG_CHAIN_LOG_WINDOW 10000u         /* blocks per eth_getLogs: what providers accept */
#define KG_CHAIN_MAX_LOG_WINDOW 100000000u /* --log-window at most */
#define KG_CHAIN_MAX_HISTORY_LOGS 1000000u /* logs one history read keeps */

typedef struct kg_chain_history_opts {
    uint64_t from_block; /* --from-block, when has_from */
    bool has_from;
    uint64_t window; /* --log-window; 0 = KG_CHAIN_LOG_WINDOW */
} kg_chain_history_opts;

/* How the first block read was chosen, and so whether earlier history exists. */
typedef enum kg_chain_history_start {
    KG_HISTORY_FROM_CREATION = 1, /* the contract's creation block (bisection) */
    KG_HISTORY_FROM_GENESIS,      /* --from-block 0 */
    KG_HISTORY_AFTER_CREATION,    /* --from-block N and no contract at N - 1 */
    KG_HISTORY_PARTIAL,           /* --from-block N and the contract existed at N - 1 */
    KG_HISTORY_UNKNOWN,           /* the node has no state that old: cannot tell */
} kg_chain_history_start;

typedef struct kg_chain_history {
    kg_eth_logs logs; /* owned; in block order */
    uint64_t from_block, to_block, window;
    size_t requests; /* eth_getLogs calls made */
    kg_chain_history_start start;
} kg_chain_history;

/* Reads the logs of address (only those with first topic topic0 when not NULL) from the
 * contract's creation block, or o->from_block, to the head, o->window blocks per request. Each
 * answer must hold only logs of that address, window and topic (KG_ERR_NETWORK otherwise). A
 * window the node refuses fails naming it and --log-window. KG_ERR_USAGE for a --from-block
 * after the head, KG_ERR_NOT_FOUND for an address without code. Free with
 * kg_chain_history_free (also after a failure). */
KG_RESULT kg_chain_history_read(kg_chain_history *h, const kg_chain *c, const uint8_t address[20],
                                const uint8_t *topic0, const kg_chain_history_opts *o);
void kg_chain_history_free(kg_chain_history *h);
/* Whether nothing of the contract's history lies before the first block read. */
bool kg_chain_history_complete(const kg_chain_history *h);
/* Why history before the first block may exist unread (NULL when complete). */
const char *kg_chain_history_gap(const kg_chain_history *h);
/* Adds history_from_block, history_to_block, history_complete, log_window, log_requests and,
 * when not complete, history_note to out. */
void kg_chain_history_json(json_t *out, const kg_chain_history *h);

/* Parses --log-window N (1..KG_CHAIN_MAX_LOG_WINDOW) and --from-block N (KG_ERR_USAGE quoting
 * the value). */
KG_RESULT kg_cli_parse_log_window(uint64_t *out, const char *text);
KG_RESULT kg_cli_parse_block(uint64_t *out, const char *opt, const char *text);

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
KG_RESULT kg_chain_view(const kg_chain *c, kg_abi_decoded *out, const kg_abi_type *types, size_t n,
                        kg_buf *ret, const uint8_t to[20], const char *sig,
                        const kg_abi_value *args, size_t nargs);

/* eth_call at the latest block as `from` (the address the call is simulated for). */
KG_RESULT kg_chain_call_from(const kg_chain *c, kg_buf *ret, const uint8_t from[20],
                             const uint8_t to[20], const kg_buf *data);

/* ---- who writes: the signer of a governance command -----------------------------------------
 * A write reaches the chain one of four ways (README "Governance by a multisig or a DAO"):
 *   key       signed with the signing key (kg_cli_signing_key) and sent; msg.sender = its address
 *   Safe      --via-safe SAFE: owners' signatures over the Safe transaction hash (EIP-712), from
 *             --signer-key-file FILE (repeatable) and --safe-signature HEX (collected from owners
 *             elsewhere), executed by the signing key (or the first signer) once the Safe's
 *             threshold is met; msg.sender = the Safe
 *   Governor  --via-governor GOV: proposed to an OpenZeppelin Governor by the signing key
 *             (`keygate governor vote|queue|execute` carry it on); msg.sender = its timelock
 *   calldata  --calldata: nothing is sent; {to, data, value} is printed for an external wallet
 * Keys are never taken from the command line. */
#define KG_CLI_MAX_SIGNERS 16

typedef enum kg_cli_signer_kind {
    KG_SIGNER_KEY = 0,
    KG_SIGNER_SAFE,
    KG_SIGNER_GOVERNOR,
    KG_SIGNER_CALLDATA,
} kg_cli_signer_kind;

/* The options every governance write takes (parsed by each command group). */
typedef struct kg_cli_signer_opts {
    const char *key_file;                         /* --private-key-file */
    const char *via_safe;                         /* --via-safe ADDR */
    const char *via_governor;                     /* --via-governor ADDR */
    const char *description;                      /* --description TEXT (governor proposals) */
    const char *signer_files[KG_CLI_MAX_SIGNERS]; /* --signer-key-file FILE */
    size_t n_signer_files;
    const char *signatures[KG_CLI_MAX_SIGNERS]; /* --safe-signature HEX */
    size_t n_signatures;
    bool calldata;   /* --calldata */
    uint32_t wait_s; /* --wait S */
    bool has_wait;
} kg_cli_signer_opts;

/* Handles the signer options of getopt_long code `c` (KG_CLI_SIGNER_OPTION_CODES); returns
 * true when it was one of them (KG_ERR_USAGE set in *rc on a bad one). */
#define KG_CLI_OPT_VIA_SAFE 1001
#define KG_CLI_OPT_VIA_GOVERNOR 1002
#define KG_CLI_OPT_SIGNER_KEY_FILE 1003
#define KG_CLI_OPT_SAFE_SIGNATURE 1004
#define KG_CLI_OPT_CALLDATA 1005
#define KG_CLI_OPT_DESCRIPTION 1006
#define KG_CLI_OPT_WAIT 1007
#define KG_CLI_SIGNER_LONG_OPTIONS                                                                 \
    {"via-safe", required_argument, NULL, KG_CLI_OPT_VIA_SAFE},                                    \
        {"wait", required_argument, NULL, KG_CLI_OPT_WAIT},                                        \
        {"via-governor", required_argument, NULL, KG_CLI_OPT_VIA_GOVERNOR},                        \
        {"signer-key-file", required_argument, NULL, KG_CLI_OPT_SIGNER_KEY_FILE},                  \
        {"safe-signature", required_argument, NULL, KG_CLI_OPT_SAFE_SIGNATURE},                    \
        {"calldata", no_argument, NULL, KG_CLI_OPT_CALLDATA},                                      \
    {                                                                                              \
        "description", required_argument, NULL, KG_CLI_OPT_DESCRIPTION                             \
    }
bool kg_cli_signer_option(kg_cli_signer_opts *o, int c, const char *arg, kg_result *rc);

/* The usage text of those options (for each group's --help). */
#define KG_CLI_SIGNER_USAGE                                                                        \
    "How writes are signed (every write):\n"                                                       \
    "  --private-key-file FILE   sign and send with this key (0x-hex, mode 0600); else\n"          \
    "                            $" KG_CLI_KEY_ENV ", else the devnet key of DIR/devnet.json\n"    \
    "  --via-safe SAFE           act as the Safe multisig SAFE: owners sign the Safe\n"            \
    "                            transaction hash (EIP-712) with --signer-key-file FILE (one\n"    \
    "                            per owner); --safe-signature HEX adds an owner's signature\n"     \
    "                            made elsewhere; executed once the threshold is met, else the\n"   \
    "                            collected signatures are printed (exit 1)\n"                      \
    "  --via-governor GOV        propose it to the OpenZeppelin Governor GOV (its timelock\n"      \
    "                            acts; --description TEXT), then 'keygate governor vote|\n"        \
    "                            queue|execute --governor GOV --proposal ID'\n"                    \
    "  --calldata                send nothing: print {to, data, value} for another wallet\n"       \
    "  --wait S                  wait up to S seconds (default 30) for each transaction to be\n"   \
    "                            mined, progress on stderr; its hash is printed when sent. Not\n"  \
    "                            mined by then (or --wait 0): exit 3, 'keygate tx status HASH'\n"

typedef struct kg_cli_signer {
    kg_cli_signer_kind kind;
    uint8_t key[32]; /* the sending key (KEY, SAFE executor, GOVERNOR proposer); secret */
    bool has_key;
    uint8_t sender[20]; /* its address */
    uint8_t via[20];    /* the Safe or the Governor */
    uint8_t acting[20]; /* msg.sender at the target: the key's address, the Safe, the timelock */
    bool acting_known;  /* false with --calldata */
    const kg_cli_signer_opts *opts;
} kg_cli_signer;

/* Resolves the options against the target (loads the sending key, reads a Governor's timelock);
 * KG_ERR_USAGE for contradictory options. Close with kg_cli_signer_close (wipes the key). */
KG_RESULT kg_cli_signer_open(kg_cli_signer *s, const kg_cli_target *t, const kg_cli_signer_opts *o);
void kg_cli_signer_close(kg_cli_signer *s);

/* "signer 0x.. is not the <role> (0x..) of <what>" unless the acting address is `need` (skipped
 * with --calldata). */
KG_RESULT kg_cli_signer_require(const kg_cli_signer *s, const uint8_t need[20], const char *role,
                                const char *what);

/* Writes `data` to `to` as the signer: simulated first as the acting address (a revert fails
 * with KG_ERR_DENIED and the contract's reason; nothing is sent), then sent, executed through
 * the Safe, proposed to the Governor, or printed. Adds to out what happened: "tx"/"block" (key,
 * Safe), "via_safe"/"safe_tx_hash"/"signers", "via_governor"/"proposal_id"/"description", or
 * "calldata": {to, data, value}. *done (may be NULL) is true when the change is on chain now. */
KG_RESULT kg_cli_write(const kg_cli_target *t, const kg_cli_signer *s, const uint8_t to[20],
                       const kg_buf *data, json_t *out, bool *done);

/* How long the signer's writes wait to be mined: --wait S, else KG_CHAIN_WAIT_S. */
uint32_t kg_cli_signer_wait_s(const kg_cli_signer *s);

/* The name of a PolicyChanged tag (keccak256 of "compose-hash", "device", ... as the keygate and
 * dstack contracts use them, contracts/README.md), or NULL for a tag keygate does not know. */
const char *kg_chain_policy_name(const uint8_t policy[32]);

/* The latest block's number and timestamp. */
KG_RESULT kg_chain_latest(const kg_chain *c, uint64_t *number, uint64_t *timestamp);

/* OpenZeppelin Governor's ProposalCreated(uint256 proposalId, address proposer, address[]
 * targets, uint256[] values, string[] signatures, bytes[] calldatas, uint256 voteStart, uint256
 * voteEnd, string description): the event keygate reads a proposal's actions back from. */
#define KG_GOV_PROPOSAL_CREATED                                                                    \
    "ProposalCreated(uint256,address,address[],uint256[],string[],bytes[],uint256,uint256,string)"

/* A uint256 (big-endian) as decimal text, and back (decimal or 0x-hex; KG_ERR_USAGE quoting it). */
KG_RESULT kg_cli_u256_dec(char *out, size_t out_size, const uint8_t be[32]);
KG_RESULT kg_cli_u256_parse(uint8_t be[32], const char *opt, const char *text);

/* Parses a --hash/--compose-hash argument: 64 hex digits, optional 0x (KG_ERR_USAGE quoting it). */
KG_RESULT kg_cli_parse_hash(uint8_t out[32], const char *opt, const char *text);
/* Parses an address argument (KG_ERR_USAGE quoting it). */
KG_RESULT kg_cli_parse_address(uint8_t out[20], const char *opt, const char *text);

#endif
