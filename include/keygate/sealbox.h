/* sealbox.h - a box to an X25519 public key (docs/design.md, "Sealed root keys"): an ephemeral
 * X25519 key, HKDF-SHA256 and AES-256-GCM with the caller's AAD. It carries recovery shares to
 * their holders and from a holder to a recovering KMS. */
#ifndef KEYGATE_SEALBOX_H
#define KEYGATE_SEALBOX_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/result.h"

/* eph_pub[32] | iv[12] | ciphertext | tag[16] */
#define KG_BOX_OVERHEAD (KG_X25519_LEN + KG_AESGCM_IV_LEN + KG_AESGCM_TAG_LEN)
#define KG_BOX_MAX_PLAINTEXT (64u * 1024u)
#define KG_BOX_MAX_LABEL 64u

/* Labels: the HKDF salt, so a box made for one purpose never opens as another. */
#define KG_BOX_LABEL_HOLDER_SHARE "keygate-recovery-share-to-holder-v1"
#define KG_BOX_LABEL_NODE_SHARE "keygate-recovery-share-to-kms-v1"

/* Boxes pt (at most KG_BOX_MAX_PLAINTEXT bytes) to recipient_pub under `label` (1..
 * KG_BOX_MAX_LABEL characters) and aad; appends the box (pt_len + KG_BOX_OVERHEAD bytes) to out.
 * key = HKDF-SHA256(ikm = X25519(eph, recipient), salt = label, info = eph_pub || recipient_pub).
 * The ephemeral secret and the key are wiped. */
KG_RESULT kg_box_seal(kg_buf *out, const uint8_t recipient_pub[KG_X25519_LEN], const char *label,
                      const void *aad, size_t aad_len, const void *pt, size_t pt_len);

/* Opens a box made for the public key of recipient_secret with the same label and aad; appends
 * the plaintext to out only if it authenticates. Errors: KG_ERR_TRUNCATED (shorter than
 * KG_BOX_OVERHEAD), KG_ERR_TOO_LARGE, KG_ERR_VERIFY (another recipient, label or aad, or altered
 * bytes; a low-order ephemeral key). box is borrowed and untrusted. */
KG_RESULT kg_box_open(kg_buf *out, const uint8_t recipient_secret[KG_X25519_LEN], const char *label,
                      const void *aad, size_t aad_len, const uint8_t *box, size_t box_len);

#endif
