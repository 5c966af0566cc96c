/* box.c - the X25519 + HKDF-SHA256 + AES-256-GCM box of sealbox.h, from the project's OpenSSL
 * primitives (OpenSSL 3.0 has no HPKE). */
#include "keygate/sealbox.h"

#include <string.h>

#include "keygate/hash.h"

static kg_result check_label(const char *label)
{
    size_t n = label != NULL ? strlen(label) : 0;
    KG_ENSURE(n >= 1 && n <= KG_BOX_MAX_LABEL, KG_ERR_USAGE, "box label of %zu characters", n);
    return KG_OK;
}

/* The box key for (shared secret, eph_pub, recipient_pub) under label. */
static kg_result box_key(uint8_t key[KG_AESGCM_KEY_LEN], const uint8_t shared[KG_X25519_LEN],
                         const char *label, const uint8_t eph_pub[KG_X25519_LEN],
                         const uint8_t recipient_pub[KG_X25519_LEN])
{
    uint8_t info[2 * KG_X25519_LEN];
    memcpy(info, eph_pub, KG_X25519_LEN);
    memcpy(info + KG_X25519_LEN, recipient_pub, KG_X25519_LEN);
    return kg_hkdf_sha256(key, KG_AESGCM_KEY_LEN, shared, KG_X25519_LEN, label, strlen(label), info,
                          sizeof(info));
}

kg_result kg_box_seal(kg_buf *out, const uint8_t recipient_pub[KG_X25519_LEN], const char *label,
                      const void *aad, size_t aad_len, const void *pt, size_t pt_len)
{
    kg_result rc = KG_ERROR;
    uint8_t eph[KG_X25519_LEN], eph_pub[KG_X25519_LEN], shared[KG_X25519_LEN];
    uint8_t key[KG_AESGCM_KEY_LEN], iv[KG_AESGCM_IV_LEN];
    size_t start = out->len;
    KG_GUARD(check_label(label));
    KG_ENSURE(pt_len <= KG_BOX_MAX_PLAINTEXT, KG_ERR_TOO_LARGE, "box plaintext of %zu bytes",
              pt_len);
    KG_GUARD_C(kg_x25519_generate(eph, eph_pub));
    KG_GUARD_CTX_C(kg_x25519_shared(shared, eph, recipient_pub), "box recipient key");
    KG_GUARD_C(box_key(key, shared, label, eph_pub, recipient_pub));
    KG_GUARD_C(kg_random(iv, sizeof(iv)));
    KG_GUARD_C(kg_buf_append(out, eph_pub, sizeof(eph_pub)));
    KG_GUARD_C(kg_buf_append(out, iv, sizeof(iv)));
    KG_GUARD_C(kg_aesgcm_encrypt(out, key, iv, aad, aad_len, pt, pt_len));
    rc = KG_OK;
cleanup:
    if (kg_failed(rc) && out->len > start) {
        kg_memzero(out->data + start, out->len - start);
        out->len = start;
    }
    kg_memzero(eph, sizeof(eph));
    kg_memzero(shared, sizeof(shared));
    kg_memzero(key, sizeof(key));
    return rc;
}

kg_result kg_box_open(kg_buf *out, const uint8_t recipient_secret[KG_X25519_LEN], const char *label,
                      const void *aad, size_t aad_len, const uint8_t *box, size_t box_len)
{
    kg_result rc = KG_ERROR;
    uint8_t my_pub[KG_X25519_LEN], shared[KG_X25519_LEN], key[KG_AESGCM_KEY_LEN];
    const uint8_t *eph_pub = NULL, *iv = NULL, *ct = NULL;
    kg_reader r;
    KG_GUARD(check_label(label));
    KG_ENSURE(box_len <= KG_BOX_MAX_PLAINTEXT + KG_BOX_OVERHEAD, KG_ERR_TOO_LARGE,
              "box of %zu bytes exceeds %u", box_len, KG_BOX_MAX_PLAINTEXT + KG_BOX_OVERHEAD);
    kg_reader_init(&r, box, box_len);
    KG_GUARD_CTX(kg_reader_ptr(&r, &eph_pub, KG_X25519_LEN, "ephemeral public key"), "box");
    KG_GUARD_CTX(kg_reader_ptr(&r, &iv, KG_AESGCM_IV_LEN, "iv"), "box");
    size_t ct_len = kg_reader_remaining(&r);
    KG_ENSURE(ct_len >= KG_AESGCM_TAG_LEN, KG_ERR_TRUNCATED,
              "box: truncated reading 'tag' (need %u, have %zu)", KG_AESGCM_TAG_LEN, ct_len);
    KG_GUARD(kg_reader_ptr(&r, &ct, ct_len, "ciphertext"));
    KG_GUARD_C(kg_x25519_public(my_pub, recipient_secret));
    KG_GUARD_CTX_C(kg_x25519_shared(shared, recipient_secret, eph_pub), "box");
    KG_GUARD_C(box_key(key, shared, label, eph_pub, my_pub));
    KG_GUARD_CTX_C(kg_aesgcm_decrypt(out, key, iv, aad, aad_len, ct, ct_len),
                   "box does not open (made for another key, purpose or context, or altered)");
    rc = KG_OK;
cleanup:
    kg_memzero(shared, sizeof(shared));
    kg_memzero(key, sizeof(key));
    return rc;
}
