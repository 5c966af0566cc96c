/* sign.h - the agent's derived keys and signatures (GetKey, Sign, Verify); internal to
 * lib/agent. */
#ifndef KG_AGENT_SIGN_H
#define KG_AGENT_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/agent.h"

typedef enum kg_alg {
    KG_ALG_UNKNOWN = 0,
    KG_ALG_SECP256K1,           /* "secp256k1", "k256", "" */
    KG_ALG_SECP256K1_PREHASHED, /* data is the 32-byte digest */
    KG_ALG_ED25519,
} kg_alg;

kg_alg kg_alg_parse(const char *name);

/* Signs data with the key GetKey("vms", "signing") derives for alg. sig is 64 bytes (r||s or
 * Ed25519), pub the derived public key (33 or 32 bytes, pub must hold 33), link0 the app key's
 * signature over it. Outputs zeroed on failure. */
KG_RESULT kg_agent_sign(uint8_t sig[64], uint8_t *pub, size_t *pub_len, uint8_t link0[65],
                        const uint8_t app_k256_key[KG_K256_SCALAR_LEN], kg_alg alg,
                        const uint8_t *data, size_t len);

/* *valid tells whether sig verifies; malformed keys or signatures are KG_ERR_INPUT. */
KG_RESULT kg_agent_verify(bool *valid, kg_alg alg, const uint8_t *data, size_t len,
                          const uint8_t *sig, size_t sig_len, const uint8_t *pub, size_t pub_len);

#endif
