/* shamir_test.c - Shamir sharing over GF(2^8): every t-subset of n shares gives the secret,
 * t-1 shares are consistent with every secret and their bytes are uniform whatever the secret,
 * bad share sets are refused with the offending x, and parameters are checked. */
#include "test_util.h"

#include <string.h>

#include "keygate/crypto.h"
#include "keygate/shamir.h"

static void random_secret(uint8_t s[KG_SHAMIR_SECRET_LEN])
{
    KG_ASSERT_OK(kg_random(s, KG_SHAMIR_SECRET_LEN));
}

/* Every subset (bitmask) of exactly t of the n shares reconstructs; every smaller one does not. */
static void every_t_subset_reconstructs(void **state)
{
    (void)state;
    static const size_t params[][2] = {{1, 1}, {1, 3}, {2, 3}, {3, 5}, {5, 5}, {4, 16}};
    for (size_t p = 0; p < sizeof(params) / sizeof(params[0]); p++) {
        size_t t = params[p][0], n = params[p][1];
        uint8_t secret[KG_SHAMIR_SECRET_LEN], got[KG_SHAMIR_SECRET_LEN];
        kg_shamir_share shares[KG_SHAMIR_MAX_SHARES], pick[KG_SHAMIR_MAX_SHARES];
        random_secret(secret);
        KG_ASSERT_OK(kg_shamir_split(shares, n, t, secret));
        for (size_t i = 0; i < n; i++)
            assert_int_equal(shares[i].x, i + 1);
        size_t tried = 0;
        for (uint32_t mask = 1; mask < (1u << n); mask++) {
            size_t c = 0;
            for (size_t i = 0; i < n; i++)
                if (mask & (1u << i))
                    pick[c++] = shares[i];
            if (c > t || (n == 16 && mask > 0x3ffu)) /* 16 shares: the first 10 suffice */
                continue;
            KG_ASSERT_OK(kg_shamir_combine(got, pick, c));
            if (c == t) {
                assert_memory_equal(got, secret, sizeof(secret));
                tried++;
            } else {
                /* t-1 or fewer: another polynomial; equal only with probability 2^-256 */
                assert_memory_not_equal(got, secret, sizeof(secret));
            }
        }
        assert_true(tried > 0);
    }
}

/* t-1 shares fix nothing: for any candidate secret there is a degree t-1 polynomial through
 * (0, candidate) and the t-1 shares, and the shares it yields at the other points are valid
 * shares of the candidate (every t of them reconstruct it). */
static void t_minus_1_shares_fit_every_secret(void **state)
{
    (void)state;
    uint8_t secret[KG_SHAMIR_SECRET_LEN], other[KG_SHAMIR_SECRET_LEN], got[KG_SHAMIR_SECRET_LEN];
    kg_shamir_share shares[5], pts[3];
    random_secret(secret);
    random_secret(other);
    KG_ASSERT_OK(kg_shamir_split(shares, 5, 3, secret));
    /* Points (x=1), (x=2) from the split and (x=0 -> other) define the degree-2 polynomial of a
     * fake split of `other`; evaluating it at x=3 needs interpolation at 3, which is
     * interpolation at 0 after relabelling: use the fact that f(3) = combine over points moved
     * by x' = x ^ 3 (translation by 3 in GF(2^8) is an affine change of variable). */
    pts[0] = shares[0];
    pts[1] = shares[1];
    pts[2].x = 0;
    memcpy(pts[2].y, other, sizeof(other));
    kg_shamir_share moved[3];
    for (int i = 0; i < 3; i++) {
        moved[i] = pts[i];
        moved[i].x = (uint8_t)(pts[i].x ^ 3);
    }
    kg_shamir_share fake3 = {.x = 3};
    KG_ASSERT_OK(kg_shamir_combine(fake3.y, moved, 3));
    /* shares 1, 2 (real) and 3 (fake) reconstruct `other`, not the secret */
    kg_shamir_share set[3] = {shares[0], shares[1], fake3};
    KG_ASSERT_OK(kg_shamir_combine(got, set, 3));
    assert_memory_equal(got, other, sizeof(other));
    assert_memory_not_equal(got, secret, sizeof(secret));
}

/* The byte a share holds is uniform whatever the secret: over many splits of an all-0x00 and of
 * an all-0xff secret, share 1's first byte fills all 256 values about equally (chi-square with
 * 255 degrees of freedom under 400, p < 1e-6 for a fair source). */
static void share_bytes_are_uniform_for_any_secret(void **state)
{
    (void)state;
    enum { SPLITS = 25600 };
    for (int v = 0; v < 2; v++) {
        uint8_t secret[KG_SHAMIR_SECRET_LEN];
        memset(secret, v ? 0xff : 0x00, sizeof(secret));
        unsigned counts[256] = {0};
        for (unsigned i = 0; i < SPLITS / KG_SHAMIR_SECRET_LEN; i++) {
            kg_shamir_share s[2];
            KG_ASSERT_OK(kg_shamir_split(s, 2, 2, secret));
            for (size_t k = 0; k < KG_SHAMIR_SECRET_LEN; k++)
                counts[s[0].y[k]]++;
        }
        double chi = 0, expect = SPLITS / 256.0;
        for (int b = 0; b < 256; b++)
            chi += (counts[b] - expect) * (counts[b] - expect) / expect;
        assert_true(chi < 400.0);
    }
}

static void bad_share_sets_are_refused(void **state)
{
    (void)state;
    uint8_t secret[KG_SHAMIR_SECRET_LEN], got[KG_SHAMIR_SECRET_LEN];
    kg_shamir_share s[3];
    random_secret(secret);
    KG_ASSERT_OK(kg_shamir_split(s, 3, 2, secret));
    kg_shamir_share dup[2] = {s[1], s[1]};
    KG_ASSERT_ERR(kg_shamir_combine(got, dup, 2), KG_ERR_INPUT, "two shares have x = 2");
    kg_shamir_share zero[2] = {s[0], s[1]};
    zero[1].x = 0;
    KG_ASSERT_ERR(kg_shamir_combine(got, zero, 2), KG_ERR_INPUT, "share 2 has x = 0");
    KG_ASSERT_ERR(kg_shamir_combine(got, s, 0), KG_ERR_INPUT, "0 shares");
    /* a share altered in one byte gives a wrong secret in exactly that byte */
    kg_shamir_share bad[2] = {s[0], s[2]};
    bad[1].y[7] ^= 0x01;
    KG_ASSERT_OK(kg_shamir_combine(got, bad, 2));
    assert_memory_not_equal(got, secret, sizeof(secret));
    assert_memory_equal(got, secret, 7);
    assert_memory_equal(got + 8, secret + 8, sizeof(secret) - 8);
}

static void split_parameters_are_checked(void **state)
{
    (void)state;
    uint8_t secret[KG_SHAMIR_SECRET_LEN] = {1};
    kg_shamir_share s[KG_SHAMIR_MAX_SHARES];
    KG_ASSERT_ERR(kg_shamir_split(s, 3, 0, secret), KG_ERR_USAGE, "threshold 0 of 3");
    KG_ASSERT_ERR(kg_shamir_split(s, 2, 3, secret), KG_ERR_USAGE, "threshold 3 of 2");
    KG_ASSERT_ERR(kg_shamir_split(s, 17, 2, secret), KG_ERR_USAGE, "threshold 2 of 17");
    /* t = 1: every share is the secret itself */
    KG_ASSERT_OK(kg_shamir_split(s, 3, 1, secret));
    for (int i = 0; i < 3; i++)
        assert_memory_equal(s[i].y, secret, sizeof(secret));
}

/* A fixed vector: f(x) = 0x53 + 0xca x over GF(2^8) (AES polynomial) has f(1) = 0x99 and
 * f(2) = 0x53 ^ (0xca * 2 = 0x8f) = 0xdc; interpolating those gives 0x53 in every byte. */
static void known_vector_interpolates(void **state)
{
    (void)state;
    kg_shamir_share s[2] = {{.x = 1}, {.x = 2}};
    memset(s[0].y, 0x99, KG_SHAMIR_SECRET_LEN);
    memset(s[1].y, 0xdc, KG_SHAMIR_SECRET_LEN);
    uint8_t got[KG_SHAMIR_SECRET_LEN], want[KG_SHAMIR_SECRET_LEN];
    memset(want, 0x53, sizeof(want));
    KG_ASSERT_OK(kg_shamir_combine(got, s, 2));
    assert_memory_equal(got, want, sizeof(want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_t_subset_reconstructs),
        cmocka_unit_test(t_minus_1_shares_fit_every_secret),
        cmocka_unit_test(share_bytes_are_uniform_for_any_secret),
        cmocka_unit_test(bad_share_sets_are_refused),
        cmocka_unit_test(split_parameters_are_checked),
        cmocka_unit_test(known_vector_interpolates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
