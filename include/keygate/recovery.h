/* recovery.h - recovering sealed root keys from t of n holders (docs/design.md, "Sealed root
 * keys"): the fresh KMS's recovery request, its verification by a holder, and the share a
 * holder boxes to the requesting KMS. */
#ifndef KEYGATE_RECOVERY_H
#define KEYGATE_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/eth.h"
#include "keygate/ratls.h"
#include "keygate/result.h"
#include "keygate/sealed.h"
#include "keygate/shamir.h"

#define KG_RECOVERY_MAX_JSON (KG_MAX_RATLS_CERT_LEN * 2u + 4096u) /* a request (hex cert) */
#define KG_RECOVERY_MAX_SHARE_JSON 1024u
/* The signed statement: "keygate-kms-recovery-v1\n" || x25519_pub || SHA-256(sealed header). */
#define KG_RECOVERY_DOMAIN "keygate-kms-recovery-v1\n"

/*
 * A recovery request (JSON, written by `keygate-kms --recover` to state_dir/recovery/):
 *   {"version": 1, "certificate": "<hex DER>", "x25519_pub": "<hex 32>",
 *    "sealed_header_sha256": "<hex 32>", "signature": "<hex r||s 64>"}
 * The certificate is the KMS's RA-TLS certificate (its quote binds the certificate key); the
 * signature is that key's ECDSA-SHA256 over KG_RECOVERY_DOMAIN || x25519_pub || header hash, so
 * the X25519 key the shares are boxed to is the attested KMS's.
 */
typedef struct kg_recovery_request {
    kg_buf cert_der; /* owned */
    uint8_t x25519_pub[KG_X25519_LEN];
    uint8_t header_sha256[32];
    uint8_t signature[KG_P256_SIG_LEN];
} kg_recovery_request;

void kg_recovery_request_free(kg_recovery_request *rq); /* NULL-safe; rq reusable after */

/* Builds and signs a request for x25519_pub with the certificate key `key` (borrowed) whose
 * RA-TLS certificate is cert_der; appends the JSON text to out (NUL-terminated). */
KG_RESULT kg_recovery_request_build(kg_buf *out, const kg_p256_key *key, const uint8_t *cert_der,
                                    size_t cert_len, const uint8_t x25519_pub[KG_X25519_LEN],
                                    const kg_sealed_file *f);

/* Parses untrusted request JSON (exactly the members above, each once, hex of the exact
 * lengths; KG_ERR_INPUT naming the member otherwise). out is initialised here. */
KG_RESULT kg_recovery_request_parse(kg_recovery_request *out, const char *json, size_t len);

/*
 * What a holder checks before boxing its share to the request (fail closed, in this order):
 * the request is for this sealed file (header hash); the certificate verifies as RA-TLS under
 * `policy` into *id; its measured identity is a KMS of this deployment (app id = the file's KMS
 * contract); the signature over the X25519 key is the certificate key's; and isKmsAllowed(id)
 * on kms_contract at the node's latest block says yes (eth = the holder's own chain node).
 * KG_ERR_DENIED / KG_ERR_VERIFY with the reason.
 */
KG_RESULT kg_recovery_request_verify(kg_ratls_identity *id, const kg_recovery_request *rq,
                                     const kg_sealed_file *f, const kg_ratls_policy *policy,
                                     kg_eth_client *eth);

/* A holder's share for a verified request, boxed to its X25519 key (label
 * KG_BOX_LABEL_NODE_SHARE, aad = kg_sealed_share_aad of x), as JSON appended to out:
 *   {"version": 1, "x25519_pub": "<hex>", "x": <1..n>, "box": "<hex>"} */
KG_RESULT kg_recovery_share_seal(kg_buf *out, const kg_recovery_request *rq,
                                 const kg_sealed_file *f, const kg_shamir_share *share);

/* Reads who a share JSON (untrusted) is boxed to and its x (1..KG_SHAMIR_MAX_SHARES), without
 * opening it: for delivering it to the right request. */
KG_RESULT kg_recovery_share_peek(uint8_t to[KG_X25519_LEN], uint8_t *x, const char *json,
                                 size_t len);

/* Opens a share JSON (untrusted) addressed to x25519_pub with its secret: the box must open for
 * this file and its x, which must be 1..n. out wiped on failure. */
KG_RESULT kg_recovery_share_open(kg_shamir_share *out, const char *json, size_t len,
                                 const uint8_t x25519_secret[KG_X25519_LEN],
                                 const uint8_t x25519_pub[KG_X25519_LEN], const kg_sealed_file *f);

#endif
