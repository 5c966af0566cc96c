/* shamir.h - Shamir's secret sharing of a 32-byte secret over GF(2^8) (docs/design.md, "Sealed
 * root keys"): the recovery holders' shares of a sealed file's data-encryption key. */
#ifndef KEYGATE_SHAMIR_H
#define KEYGATE_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/result.h"

#define KG_SHAMIR_SECRET_LEN 32u
#define KG_SHAMIR_MAX_SHARES 16u /* n: also the KMS contract's cap on recovery holders */
#define KG_SHAMIR_SHARE_LEN (1u + KG_SHAMIR_SECRET_LEN) /* x || y, as serialized */

/* One share: the evaluation point x (1..255, never 0: f(0) is the secret) and f(x) for each of
 * the secret's bytes. A secret: wipe with kg_memzero. */
typedef struct kg_shamir_share {
    uint8_t x;
    uint8_t y[KG_SHAMIR_SECRET_LEN];
} kg_shamir_share;

/* Splits secret into n shares (x = 1..n) of which any t reconstruct it and any t-1 are
 * consistent with every secret: for each byte, a polynomial of degree t-1 with the secret byte
 * as constant term and t-1 coefficients from the CSPRNG. 1 <= t <= n <= KG_SHAMIR_MAX_SHARES
 * (KG_ERR_USAGE otherwise; t = 1 makes every share the secret). shares[0..n) are written only on
 * success; the coefficients are wiped. */
KG_RESULT kg_shamir_split(kg_shamir_share *shares, size_t n, size_t t,
                          const uint8_t secret[KG_SHAMIR_SECRET_LEN]);

/* Interpolates f(0) from `count` shares (1..KG_SHAMIR_MAX_SHARES, pairwise distinct non-zero
 * x, else KG_ERR_INPUT naming the x). The result is the secret when the shares are count >= t
 * honest shares of one split; anything else yields an unrelated value, so callers check it
 * (the sealed file's tag does). Constant time in the shares' values. secret is wiped on
 * failure. */
KG_RESULT kg_shamir_combine(uint8_t secret[KG_SHAMIR_SECRET_LEN], const kg_shamir_share *shares,
                            size_t count);

#endif
