/* sealed.h - the KMS's sealed root-key file (docs/design.md, "Sealed root keys"): the root keys
 * under a fresh data-encryption key (DEK), and the slots that give the DEK back: the TEE's
 * sealing key, or t of n recovery holders' Shamir shares. */
#ifndef KEYGATE_SEALED_H
#define KEYGATE_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/epoch.h"
#include "keygate/kdf.h"
#include "keygate/result.h"
#include "keygate/sealbox.h"
#include "keygate/shamir.h"

/*
 * Layout, version 2 (integers big-endian):
 *   header  magic "KGSEALED" | version u8 = 2 | chain_id u64 | kms_contract[20]
 *           | root_k256_pub[33] | root_ca_spki_sha256[32]       (the Current epoch's keys)
 *   epochs  count u8 (1..KG_SEALED_MAX_EPOCHS), each, in increasing epoch order:
 *             epoch u32 | status u8 (1 Proposed, 2 Current, 3 Retiring; exactly one Current,
 *             the header's keys) | k256_pub[33] | ca_spki_sha256[32]
 *             | quote_len u32 | quote | eventlog_len u32 | eventlog     (its attestation; empty
 *             for epoch 0, whose attestation is the bootstrap info)
 *   body    iv[12] | AES-256-GCM_DEK(count x (root CA scalar || root k256 scalar))[64 count]
 *           | tag[16]
 *   slots   count u8 (1..KG_SEALED_MAX_SLOTS), each: kind u8 | length u16 | data[length]
 *     kind 1 TEE seal: iv[12] | AES-256-GCM_S(DEK)[32] | tag[16]
 *     kind 2 recovery: threshold u8 | n u8 | n x (holder_pub[32] | box[KG_SEALED_SHARE_BOX_LEN])
 *             box = kg_box_seal(holder_pub, KG_BOX_LABEL_HOLDER_SHARE,
 *                               aad = SHA-256(header) || x || threshold || n,
 *                               share x || y[32])
 *   Each kind at most once; nothing after the last slot. The AAD of the body and the TEE slot
 *   is header || SHA-256(epochs section), so no status, epoch or quote can be edited either.
 * Version 1 (keygate before epochs) has no epochs section, a body of one key pair and the
 * header alone as AAD: it reads as epoch 0, Current, with the header's keys.
 */
#define KG_SEALED_MAGIC "KGSEALED"
#define KG_SEALED_VERSION 2u
#define KG_SEALED_VERSION_1 1u
#define KG_SEALED_HEADER_LEN (8u + 1u + 8u + 20u + KG_K256_PUB_LEN + 32u)
#define KG_SEALED_KEYS_LEN (KG_P256_SCALAR_LEN + KG_K256_SCALAR_LEN)
#define KG_SEALED_DEK_LEN 32u
#define KG_SEALED_MAX_SLOTS 4u
#define KG_SEALED_SHARE_BOX_LEN (KG_SHAMIR_SHARE_LEN + KG_BOX_OVERHEAD)
/* Live epochs: one Current, at most one Proposed, the Retiring ones of past rotations. */
#define KG_SEALED_MAX_EPOCHS 8u
#define KG_SEALED_MAX_QUOTE (64u * 1024u)      /* KG_MAX_QUOTE_LEN */
#define KG_SEALED_MAX_EVENTLOG (256u * 1024u)  /* an epoch's event log JSON */
#define KG_SEALED_MAX_LEN (4u * 1024u * 1024u) /* 8 epochs at both caps, both slots: < 2.6 MiB */
/* kg_tee_seal_key's label for the TEE slot */
#define KG_SEALED_TEE_LABEL "keygate-kms-root-keys-v1"

enum { KG_SEALED_SLOT_TEE = 1, KG_SEALED_SLOT_RECOVERY = 2 };

/* What the header says: the deployment and the Current epoch's root public keys. */
typedef struct kg_sealed_header {
    uint64_t chain_id;
    uint8_t kms_contract[20];
    uint8_t root_k256_pub[KG_K256_PUB_LEN];
    uint8_t root_ca_spki_sha256[32];
} kg_sealed_header;

/* One epoch as the file lists it (public values). The attestation is located in the parsed
 * data by offset, so the parsed file holds no pointer. */
typedef struct kg_sealed_epoch {
    uint32_t epoch;
    uint8_t status; /* kg_epoch_status: Proposed, Current or Retiring */
    uint8_t k256_pub[KG_K256_PUB_LEN];
    uint8_t ca_spki_sha256[32];
    size_t quote_off, quote_len; /* into the data kg_sealed_parse read */
    size_t eventlog_off, eventlog_len;
} kg_sealed_epoch;

/* A parsed file (kg_sealed_parse). Plain values, no pointers: nothing to free. */
typedef struct kg_sealed_file {
    uint8_t version; /* 1 or 2 */
    kg_sealed_header header;
    uint8_t header_bytes[KG_SEALED_HEADER_LEN]; /* exactly as read */
    uint8_t epochs_sha256[32];                  /* version 2: SHA-256 of the epochs section */
    size_t n_epochs;                            /* 1..KG_SEALED_MAX_EPOCHS */
    size_t current;                             /* index of the Current epoch */
    kg_sealed_epoch epochs[KG_SEALED_MAX_EPOCHS];
    uint8_t body[KG_AESGCM_IV_LEN + KG_SEALED_MAX_EPOCHS * KG_SEALED_KEYS_LEN + KG_AESGCM_TAG_LEN];
    size_t body_len;
    bool has_tee;
    uint8_t tee[KG_AESGCM_IV_LEN + KG_SEALED_DEK_LEN + KG_AESGCM_TAG_LEN];
    bool has_recovery;
    uint8_t threshold; /* 1..n */
    uint8_t n;         /* 1..KG_SHAMIR_MAX_SHARES */
    uint8_t holder_pub[KG_SHAMIR_MAX_SHARES][KG_X25519_LEN];
    uint8_t share_box[KG_SHAMIR_MAX_SHARES][KG_SEALED_SHARE_BOX_LEN];
} kg_sealed_file;

/* An epoch to seal: its number and status, its root keys (borrowed, secret) and its
 * attestation (borrowed; NULL/0 when none). */
typedef struct kg_sealed_epoch_in {
    uint32_t epoch;
    uint8_t status;
    const kg_root_keys *root;
    const uint8_t *quote;
    size_t quote_len;
    const uint8_t *eventlog;
    size_t eventlog_len;
} kg_sealed_epoch_in;

/* Recovery holders as the KMS contract names them (recoveryHolders()). */
typedef struct kg_sealed_holders {
    uint8_t n;         /* 0 = none */
    uint8_t threshold; /* 1..n when n > 0 */
    uint8_t pub[KG_SHAMIR_MAX_SHARES][KG_X25519_LEN];
} kg_sealed_holders;

/* The header for this deployment and these root keys (public keys computed here). */
KG_RESULT kg_sealed_header_for(kg_sealed_header *out, uint64_t chain_id,
                               const uint8_t kms_contract[20], const kg_root_keys *root);

/* Seals root (epoch 0, Current) under a fresh DEK and appends the file to out: shorthand for
 * kg_sealed_seal_epochs with that one epoch and h's deployment. */
KG_RESULT kg_sealed_seal(kg_buf *out, const kg_sealed_header *h, const kg_root_keys *root,
                         const uint8_t *tee_key, const kg_sealed_holders *holders);

/* Seals every epoch (1..KG_SEALED_MAX_EPOCHS, increasing numbers, exactly one Current, no
 * Retired one) under a fresh DEK and appends the file to out. tee_key (NULL: no TEE slot) is
 * kg_tee_seal_key(KG_SEALED_TEE_LABEL); holders (NULL or n = 0: no recovery slot) get one
 * boxed share each, threshold holders->threshold. A file with neither slot could never be
 * opened: KG_ERR_USAGE. The DEK and shares are wiped; out is unchanged on failure. */
KG_RESULT kg_sealed_seal_epochs(kg_buf *out, uint64_t chain_id, const uint8_t kms_contract[20],
                                const kg_sealed_epoch_in *epochs, size_t n_epochs,
                                const uint8_t *tee_key, const kg_sealed_holders *holders);

/* Parses an untrusted file (pure: nothing decrypted), version 1 or 2. KG_ERR_INPUT for a wrong
 * magic, version, slot kind, repeated slot, bad threshold, zero slots, an epoch list out of
 * order, with a bad status or not exactly one Current (the header's keys);
 * KG_ERR_TRUNCATED / KG_ERR_TOO_LARGE naming the field; trailing bytes refused. */
KG_RESULT kg_sealed_parse(kg_sealed_file *out, const uint8_t *data, size_t len);

/* Opens the file with its DEK: decrypts the body and checks each epoch's keys are the ones the
 * file names for it; out[i] are the keys of f->epochs[i]. KG_ERR_VERIFY "sealed root keys do
 * not open ..." when the tag fails (wrong DEK or an altered file). out is wiped on failure. */
KG_RESULT kg_sealed_open_dek(kg_root_keys out[KG_SEALED_MAX_EPOCHS], const kg_sealed_file *f,
                             const uint8_t dek[KG_SEALED_DEK_LEN]);

/* Opens the file with the TEE's sealing key through the TEE slot (KG_ERR_NOT_FOUND when it has
 * none; KG_ERR_VERIFY when the key is not the one it was sealed with: another VM, other
 * measurements, another platform). out[i] as kg_sealed_open_dek; wiped on failure. */
KG_RESULT kg_sealed_open_tee(kg_root_keys out[KG_SEALED_MAX_EPOCHS], const kg_sealed_file *f,
                             const uint8_t tee_key[32]);

/* A recovery holder's share: the box addressed to the public key of holder_secret, opened.
 * KG_ERR_NOT_FOUND when the file has no recovery slot or names no such holder. out wiped on
 * failure. */
KG_RESULT kg_sealed_holder_share(kg_shamir_share *out, const kg_sealed_file *f,
                                 const uint8_t holder_secret[KG_X25519_LEN]);

/* The AAD of a share box: SHA-256(header) || x || threshold || n (so neither the threshold nor
 * the holder count can be edited without every box failing). */
#define KG_SEALED_SHARE_AAD_LEN 35u
KG_RESULT kg_sealed_share_aad(uint8_t out[KG_SEALED_SHARE_AAD_LEN], const kg_sealed_file *f,
                              uint8_t x);

/* Whether the file's recovery slot is exactly `holders` (same keys in the same order, same
 * threshold; both empty counts as equal). */
bool kg_sealed_same_holders(const kg_sealed_file *f, const kg_sealed_holders *holders);

#endif
