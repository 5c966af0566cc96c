/* shamir.c - Shamir's secret sharing over GF(2^8) (shamir.h).
 *
 * The field is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11b). Addition is XOR.
 * Multiplication is shift-and-add with masks instead of branches or log tables, and inversion is
 * a^254 by a fixed square-and-multiply chain, so no memory access or branch depends on a share
 * or the secret. Each of the secret's bytes is shared independently with its own polynomial;
 * share x carries f_k(x) for every byte k. */
#include "keygate/shamir.h"

#include <string.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
    uint8_t p = 0;
    for (int i = 0; i < 8; i++) {
        p ^= (uint8_t)(-(b & 1u) & a);
        uint8_t carry = (uint8_t) - (a >> 7);
        a = (uint8_t)((a << 1) ^ (0x1bu & carry));
        b >>= 1;
    }
    return p;
}

/* a^-1 = a^254 (a^255 = 1 for a != 0); 254 = 2 + 4 + ... + 128. Callers never pass 0. */
static uint8_t gf_inv(uint8_t a)
{
    uint8_t sq = a, r = 1;
    for (int i = 1; i < 8; i++) {
        sq = gf_mul(sq, sq);
        r = gf_mul(r, sq);
    }
    return r;
}

kg_result kg_shamir_split(kg_shamir_share *shares, size_t n, size_t t,
                          const uint8_t secret[KG_SHAMIR_SECRET_LEN])
{
    KG_ENSURE(t >= 1 && t <= n && n <= KG_SHAMIR_MAX_SHARES, KG_ERR_USAGE,
              "Shamir split: threshold %zu of %zu shares is not 1 <= t <= n <= %u", t, n,
              KG_SHAMIR_MAX_SHARES);
    /* coef[k][j]: coefficient of x^j for byte k; j = 0 is the secret byte. */
    uint8_t coef[KG_SHAMIR_SECRET_LEN][KG_SHAMIR_MAX_SHARES];
    kg_shamir_share out[KG_SHAMIR_MAX_SHARES];
    kg_result rc = KG_ERROR;
    for (size_t k = 0; k < KG_SHAMIR_SECRET_LEN; k++) {
        coef[k][0] = secret[k];
        if (t > 1)
            KG_GUARD_CTX_C(kg_random(&coef[k][1], t - 1), "Shamir split");
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t x = (uint8_t)(i + 1);
        out[i].x = x;
        for (size_t k = 0; k < KG_SHAMIR_SECRET_LEN; k++) {
            uint8_t y = 0; /* Horner: ((c_{t-1} x + c_{t-2}) x + ...) x + c_0 */
            for (size_t j = t; j-- > 0;)
                y = (uint8_t)(gf_mul(y, x) ^ coef[k][j]);
            out[i].y[k] = y;
        }
    }
    memcpy(shares, out, n * sizeof(out[0]));
    rc = KG_OK;
cleanup:
    kg_memzero(coef, sizeof(coef));
    kg_memzero(out, sizeof(out));
    return rc;
}

kg_result kg_shamir_combine(uint8_t secret[KG_SHAMIR_SECRET_LEN], const kg_shamir_share *shares,
                            size_t count)
{
    kg_memzero(secret, KG_SHAMIR_SECRET_LEN);
    KG_ENSURE(count >= 1 && count <= KG_SHAMIR_MAX_SHARES, KG_ERR_INPUT,
              "Shamir combine: %zu shares (want 1..%u)", count, KG_SHAMIR_MAX_SHARES);
    for (size_t i = 0; i < count; i++) {
        KG_ENSURE(shares[i].x != 0, KG_ERR_INPUT, "Shamir combine: share %zu has x = 0", i + 1);
        for (size_t j = 0; j < i; j++)
            KG_ENSURE(shares[i].x != shares[j].x, KG_ERR_INPUT,
                      "Shamir combine: two shares have x = %u", shares[i].x);
    }
    /* f(0) = sum_i y_i * L_i(0), L_i(0) = prod_{j != i} x_j / (x_j - x_i); minus is XOR. */
    uint8_t acc[KG_SHAMIR_SECRET_LEN] = {0};
    for (size_t i = 0; i < count; i++) {
        uint8_t num = 1, den = 1;
        for (size_t j = 0; j < count; j++) {
            if (j == i)
                continue;
            num = gf_mul(num, shares[j].x);
            den = gf_mul(den, (uint8_t)(shares[j].x ^ shares[i].x));
        }
        uint8_t li = gf_mul(num, gf_inv(den));
        for (size_t k = 0; k < KG_SHAMIR_SECRET_LEN; k++)
            acc[k] ^= gf_mul(shares[i].y[k], li);
    }
    memcpy(secret, acc, sizeof(acc));
    kg_memzero(acc, sizeof(acc));
    return KG_OK;
}
