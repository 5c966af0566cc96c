/* internal.h - helpers shared by the lib/crypto sources only (not part of the public API). */
#ifndef KG_CRYPTO_INTERNAL_H
#define KG_CRYPTO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* True iff 0 < s < order, both 32-byte big-endian; constant time in s (s may be a secret). */
bool kg_crypto_scalar_in_range(const uint8_t s[32], const uint8_t order[32]);

#endif
