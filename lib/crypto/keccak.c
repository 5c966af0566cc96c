/* keccak.c - Keccak-256 (Ethereum's hash), because OpenSSL 3.0 lacks the original padding.
 *
 * Sponge over Keccak-f[1600] with rate 136 bytes, capacity 512 bits and the original Keccak
 * domain padding (0x01 ... 0x80), as in the Keccak reference and Ethereum's yellow paper.
 * SHA3-256 differs only in the padding byte (0x06). Public data only: no secret-dependent
 * branches matter here, but none are taken anyway.
 */
#include "keygate/hash.h"

#include <string.h>

#define KECCAK_ROUNDS 24
#define KECCAK256_RATE 136

static const uint64_t round_constants[KECCAK_ROUNDS] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets and lane permutation of the combined rho+pi step, in visiting order. */
static const unsigned rho[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                 27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned pi[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static uint64_t rol(uint64_t x, unsigned s)
{
    return (x << s) | (x >> (64 - s));
}

static void keccak_f1600(uint64_t st[25])
{
    for (int round = 0; round < KECCAK_ROUNDS; round++) {
        uint64_t bc[5];
        /* theta */
        for (int i = 0; i < 5; i++)
            bc[i] = st[i] ^ st[i + 5] ^ st[i + 10] ^ st[i + 15] ^ st[i + 20];
        for (int i = 0; i < 5; i++) {
            uint64_t t = bc[(i + 4) % 5] ^ rol(bc[(i + 1) % 5], 1);
            for (int j = 0; j < 25; j += 5)
                st[j + i] ^= t;
        }
        /* rho and pi */
        uint64_t t = st[1];
        for (int i = 0; i < 24; i++) {
            unsigned j = pi[i];
            uint64_t tmp = st[j];
            st[j] = rol(t, rho[i]);
            t = tmp;
        }
        /* chi */
        for (int j = 0; j < 25; j += 5) {
            for (int i = 0; i < 5; i++)
                bc[i] = st[j + i];
            for (int i = 0; i < 5; i++)
                st[j + i] ^= (~bc[(i + 1) % 5]) & bc[(i + 2) % 5];
        }
        /* iota */
        st[0] ^= round_constants[round];
    }
}

/* XORs a rate-sized block into the state, little-endian lanes (no alignment assumptions). */
static void absorb_block(uint64_t st[25], const uint8_t *block)
{
    for (int i = 0; i < KECCAK256_RATE / 8; i++) {
        uint64_t lane = 0;
        for (int b = 7; b >= 0; b--)
            lane = (lane << 8) | block[8 * i + b];
        st[i] ^= lane;
    }
    keccak_f1600(st);
}

void kg_keccak256(uint8_t out[KG_KECCAK256_LEN], const void *data, size_t n)
{
    uint64_t st[25] = {0};
    const uint8_t *p = data;
    while (n >= KECCAK256_RATE) {
        absorb_block(st, p);
        p += KECCAK256_RATE;
        n -= KECCAK256_RATE;
    }
    uint8_t last[KECCAK256_RATE] = {0};
    if (n > 0)
        memcpy(last, p, n);
    last[n] ^= 0x01;
    last[KECCAK256_RATE - 1] ^= 0x80;
    absorb_block(st, last);
    for (int i = 0; i < KG_KECCAK256_LEN; i++)
        out[i] = (uint8_t)(st[i / 8] >> (8 * (i % 8)));
}
