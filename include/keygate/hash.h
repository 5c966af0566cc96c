/* hash.h - SHA-2 digests, HMAC-SHA256, HKDF-SHA256 (OpenSSL EVP) and Keccak-256. */
#ifndef KEYGATE_HASH_H
#define KEYGATE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/result.h"

#define KG_SHA256_LEN 32
#define KG_SHA384_LEN 48
#define KG_SHA512_LEN 64
#define KG_KECCAK256_LEN 32

/* One-shot digests. out is written only on success. */
KG_RESULT kg_sha256(uint8_t out[KG_SHA256_LEN], const void *data, size_t n);
KG_RESULT kg_sha384(uint8_t out[KG_SHA384_LEN], const void *data, size_t n);
KG_RESULT kg_sha512(uint8_t out[KG_SHA512_LEN], const void *data, size_t n);

/* Digest over several pieces, concatenated without separators: parts[i] of lens[i] bytes. */
KG_RESULT kg_sha256_parts(uint8_t out[KG_SHA256_LEN], const void *const *parts, const size_t *lens,
                          size_t count);
KG_RESULT kg_sha384_parts(uint8_t out[KG_SHA384_LEN], const void *const *parts, const size_t *lens,
                          size_t count);

KG_RESULT kg_hmac_sha256(uint8_t out[KG_SHA256_LEN], const void *key, size_t key_len,
                         const void *data, size_t n);

/* HKDF-SHA256 (RFC 5869), extract-and-expand, out_len <= 255*32. */
KG_RESULT kg_hkdf_sha256(uint8_t *out, size_t out_len, const void *ikm, size_t ikm_len,
                         const void *salt, size_t salt_len, const void *info, size_t info_len);

/* Keccak-256 as Ethereum uses it (original Keccak padding 0x01, not SHA3-256's 0x06). */
void kg_keccak256(uint8_t out[KG_KECCAK256_LEN], const void *data, size_t n);

#endif
