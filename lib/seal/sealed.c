/* sealed.c - the sealed root-key file of sealed.h: sealing, the pure parser, and opening by DEK,
 * TEE key or a holder's share (docs/design.md, "Sealed root keys"). */
#include "keygate/sealed.h"

#include <string.h>

#include "keygate/hash.h"

#define TEE_SLOT_LEN (KG_AESGCM_IV_LEN + KG_SEALED_DEK_LEN + KG_AESGCM_TAG_LEN)
#define BODY_LEN (KG_AESGCM_IV_LEN + KG_SEALED_KEYS_LEN + KG_AESGCM_TAG_LEN)
#define HOLDER_LEN (KG_X25519_LEN + KG_SEALED_SHARE_BOX_LEN)

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void encode_header(uint8_t out[KG_SEALED_HEADER_LEN], const kg_sealed_header *h)
{
    uint8_t *p = out;
    memcpy(p, KG_SEALED_MAGIC, 8);
    p += 8;
    *p++ = KG_SEALED_VERSION;
    put_u64be(p, h->chain_id);
    p += 8;
    memcpy(p, h->kms_contract, 20);
    p += 20;
    memcpy(p, h->root_k256_pub, KG_K256_PUB_LEN);
    p += KG_K256_PUB_LEN;
    memcpy(p, h->root_ca_spki_sha256, 32);
}

/* The public keys of root, as a header names them. */
static kg_result root_publics(uint8_t k256_pub[KG_K256_PUB_LEN], uint8_t spki_hash[32],
                              const kg_root_keys *root)
{
    kg_result rc = KG_ERROR;
    kg_p256_key *ca = NULL;
    kg_buf spki;
    kg_buf_init(&spki, 4096);
    KG_GUARD_C(kg_k256_public(k256_pub, root->k256_scalar));
    KG_GUARD_C(kg_p256_from_scalar(&ca, root->ca_scalar));
    KG_GUARD_C(kg_p256_spki_der(&spki, ca));
    KG_GUARD_C(kg_sha256(spki_hash, spki.data, spki.len));
    rc = KG_OK;
cleanup:
    kg_p256_free(ca);
    kg_buf_free(&spki);
    return rc;
}

kg_result kg_sealed_header_for(kg_sealed_header *out, uint64_t chain_id,
                               const uint8_t kms_contract[20], const kg_root_keys *root)
{
    memset(out, 0, sizeof(*out));
    out->chain_id = chain_id;
    memcpy(out->kms_contract, kms_contract, 20);
    return root_publics(out->root_k256_pub, out->root_ca_spki_sha256, root);
}

static kg_result header_hash(uint8_t out[32], const uint8_t header[KG_SEALED_HEADER_LEN])
{
    return kg_sha256(out, header, KG_SEALED_HEADER_LEN);
}

kg_result kg_sealed_share_aad(uint8_t out[KG_SEALED_SHARE_AAD_LEN], const kg_sealed_file *f,
                              uint8_t x)
{
    KG_GUARD(header_hash(out, f->header_bytes));
    out[32] = x;
    out[33] = f->threshold;
    out[34] = f->n;
    return KG_OK;
}

static kg_result append_slot_head(kg_buf *out, uint8_t kind, size_t len)
{
    KG_GUARD(kg_buf_append_u8(out, kind));
    uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    return kg_buf_append(out, l, 2);
}

kg_result kg_sealed_seal(kg_buf *out, const kg_sealed_header *h, const kg_root_keys *root,
                         const uint8_t *tee_key, const kg_sealed_holders *holders)
{
    kg_result rc = KG_ERROR;
    uint8_t hdr[KG_SEALED_HEADER_LEN], hh[32], aad[KG_SEALED_SHARE_AAD_LEN];
    uint8_t dek[KG_SEALED_DEK_LEN], keys[KG_SEALED_KEYS_LEN], iv[KG_AESGCM_IV_LEN];
    uint8_t share_pt[KG_SHAMIR_SHARE_LEN];
    kg_shamir_share shares[KG_SHAMIR_MAX_SHARES];
    size_t n = holders != NULL ? holders->n : 0;
    size_t start = out->len;
    KG_ENSURE(tee_key != NULL || n > 0, KG_ERR_USAGE,
              "sealing root keys: no TEE sealing key and no recovery holders, so nothing could "
              "ever open the file");
    KG_ENSURE(n <= KG_SHAMIR_MAX_SHARES &&
                  (n == 0 || (holders->threshold >= 1 && holders->threshold <= n)),
              KG_ERR_USAGE, "sealing root keys: threshold %u of %zu recovery holders",
              n ? holders->threshold : 0, n);
    encode_header(hdr, h);
    KG_GUARD_C(header_hash(hh, hdr));
    KG_GUARD_C(kg_random(dek, sizeof(dek)));
    memcpy(keys, root->ca_scalar, KG_P256_SCALAR_LEN);
    memcpy(keys + KG_P256_SCALAR_LEN, root->k256_scalar, KG_K256_SCALAR_LEN);
    KG_GUARD_C(kg_buf_append(out, hdr, sizeof(hdr)));
    KG_GUARD_C(kg_random(iv, sizeof(iv)));
    KG_GUARD_C(kg_buf_append(out, iv, sizeof(iv)));
    KG_GUARD_C(kg_aesgcm_encrypt(out, dek, iv, hdr, sizeof(hdr), keys, sizeof(keys)));
    KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)((tee_key != NULL) + (n > 0))));
    if (tee_key != NULL) {
        KG_GUARD_C(append_slot_head(out, KG_SEALED_SLOT_TEE, TEE_SLOT_LEN));
        KG_GUARD_C(kg_random(iv, sizeof(iv)));
        KG_GUARD_C(kg_buf_append(out, iv, sizeof(iv)));
        KG_GUARD_C(kg_aesgcm_encrypt(out, tee_key, iv, hdr, sizeof(hdr), dek, sizeof(dek)));
    }
    if (n > 0) {
        KG_GUARD_C(append_slot_head(out, KG_SEALED_SLOT_RECOVERY, 2 + n * HOLDER_LEN));
        KG_GUARD_C(kg_buf_append_u8(out, holders->threshold));
        KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)n));
        KG_GUARD_C(kg_shamir_split(shares, n, holders->threshold, dek));
        for (size_t i = 0; i < n; i++) {
            share_pt[0] = shares[i].x;
            memcpy(share_pt + 1, shares[i].y, KG_SHAMIR_SECRET_LEN);
            memcpy(aad, hh, 32);
            aad[32] = shares[i].x;
            aad[33] = holders->threshold;
            aad[34] = (uint8_t)n;
            size_t before = out->len;
            KG_GUARD_C(kg_buf_append(out, holders->pub[i], KG_X25519_LEN));
            KG_GUARD_CTX_C(kg_box_seal(out, holders->pub[i], KG_BOX_LABEL_HOLDER_SHARE, aad,
                                       sizeof(aad), share_pt, sizeof(share_pt)),
                           "recovery holder %zu", i + 1);
            KG_ENSURE_C(out->len - before == HOLDER_LEN, KG_ERR_INTERNAL, "share box length");
        }
    }
    KG_ENSURE_C(out->len - start <= KG_SEALED_MAX_LEN, KG_ERR_INTERNAL, "sealed file too long");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc) && out->len > start) {
        kg_memzero(out->data + start, out->len - start);
        out->len = start;
    }
    kg_memzero(dek, sizeof(dek));
    kg_memzero(keys, sizeof(keys));
    kg_memzero(shares, sizeof(shares));
    kg_memzero(share_pt, sizeof(share_pt));
    return rc;
}

static kg_result read_u64be(kg_reader *r, uint64_t *out, const char *field)
{
    uint8_t b[8];
    KG_GUARD(kg_reader_read(r, b, 8, field));
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    *out = v;
    return KG_OK;
}

static kg_result parse_recovery(kg_sealed_file *out, kg_reader *r)
{
    KG_GUARD(kg_reader_u8(r, &out->threshold, "threshold"));
    KG_GUARD(kg_reader_u8(r, &out->n, "holder count"));
    KG_ENSURE(out->n >= 1 && out->n <= KG_SHAMIR_MAX_SHARES && out->threshold >= 1 &&
                  out->threshold <= out->n,
              KG_ERR_INPUT, "threshold %u of %u holders (want 1 <= t <= n <= %u)", out->threshold,
              out->n, KG_SHAMIR_MAX_SHARES);
    for (size_t i = 0; i < out->n; i++) {
        KG_GUARD(kg_reader_read(r, out->holder_pub[i], KG_X25519_LEN, "holder public key"));
        KG_GUARD(kg_reader_read(r, out->share_box[i], KG_SEALED_SHARE_BOX_LEN, "share box"));
    }
    return kg_reader_expect_end(r, "the recovery slot");
}

static kg_result parse(kg_sealed_file *out, const uint8_t *data, size_t len)
{
    kg_reader r, hr, slot;
    uint8_t magic[8], version, count;
    KG_ENSURE(len <= KG_SEALED_MAX_LEN, KG_ERR_TOO_LARGE, "%zu bytes exceed %u", len,
              KG_SEALED_MAX_LEN);
    kg_reader_init(&r, data, len);
    KG_GUARD(kg_reader_read(&r, out->header_bytes, KG_SEALED_HEADER_LEN, "header"));
    kg_reader_init(&hr, out->header_bytes, KG_SEALED_HEADER_LEN);
    KG_GUARD(kg_reader_read(&hr, magic, 8, "magic"));
    KG_ENSURE(memcmp(magic, KG_SEALED_MAGIC, 8) == 0, KG_ERR_INPUT,
              "not a sealed root-key file (magic)");
    KG_GUARD(kg_reader_u8(&hr, &version, "version"));
    KG_ENSURE(version == KG_SEALED_VERSION, KG_ERR_INPUT, "version %u (this KMS reads %u)", version,
              KG_SEALED_VERSION);
    KG_GUARD(read_u64be(&hr, &out->header.chain_id, "chain_id"));
    KG_GUARD(kg_reader_read(&hr, out->header.kms_contract, 20, "kms_contract"));
    KG_GUARD(kg_reader_read(&hr, out->header.root_k256_pub, KG_K256_PUB_LEN, "root_k256_pub"));
    KG_GUARD(kg_reader_read(&hr, out->header.root_ca_spki_sha256, 32, "root_ca_spki_sha256"));
    KG_GUARD(kg_reader_read(&r, out->body, BODY_LEN, "sealed keys"));
    KG_GUARD(kg_reader_u8(&r, &count, "slot count"));
    KG_ENSURE(count >= 1 && count <= KG_SEALED_MAX_SLOTS, KG_ERR_INPUT,
              "%u slots (want 1..%u): nothing could open it", count, KG_SEALED_MAX_SLOTS);
    for (uint8_t i = 0; i < count; i++) {
        uint8_t kind;
        uint16_t slen;
        KG_GUARD(kg_reader_u8(&r, &kind, "slot kind"));
        KG_GUARD(kg_reader_u16be(&r, &slen, "slot length"));
        KG_GUARD(kg_reader_sub(&r, &slot, slen, "slot"));
        if (kind == KG_SEALED_SLOT_TEE) {
            KG_ENSURE(!out->has_tee, KG_ERR_INPUT, "two TEE slots");
            KG_GUARD_CTX(kg_reader_read(&slot, out->tee, TEE_SLOT_LEN, "sealed DEK"), "TEE slot");
            KG_GUARD(kg_reader_expect_end(&slot, "the TEE slot"));
            out->has_tee = true;
        } else if (kind == KG_SEALED_SLOT_RECOVERY) {
            KG_ENSURE(!out->has_recovery, KG_ERR_INPUT, "two recovery slots");
            KG_GUARD_CTX(parse_recovery(out, &slot), "recovery slot");
            out->has_recovery = true;
        } else {
            KG_BAIL(KG_ERR_INPUT, "unknown slot kind %u", kind);
        }
    }
    return kg_reader_expect_end(&r, "the last slot");
}

kg_result kg_sealed_parse(kg_sealed_file *out, const uint8_t *data, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (kg_failed(parse(out, data, len))) {
        memset(out, 0, sizeof(*out));
        return kg_error_context("sealed root-key file");
    }
    return KG_OK;
}

kg_result kg_sealed_open_dek(kg_root_keys *out, const kg_sealed_file *f,
                             const uint8_t dek[KG_SEALED_DEK_LEN])
{
    kg_result rc = KG_ERROR;
    uint8_t pub[KG_K256_PUB_LEN], spki_hash[32];
    kg_buf pt;
    kg_buf_init(&pt, KG_SEALED_KEYS_LEN);
    memset(out, 0, sizeof(*out));
    if (kg_failed(kg_aesgcm_decrypt(&pt, dek, f->body, f->header_bytes, KG_SEALED_HEADER_LEN,
                                    f->body + KG_AESGCM_IV_LEN, BODY_LEN - KG_AESGCM_IV_LEN)))
        KG_BAIL_C(KG_ERR_VERIFY,
                  "sealed root keys do not open: wrong data-encryption key, or the file was "
                  "altered");
    KG_ENSURE_C(pt.len == KG_SEALED_KEYS_LEN, KG_ERR_INTERNAL, "sealed keys length");
    memcpy(out->ca_scalar, pt.data, KG_P256_SCALAR_LEN);
    memcpy(out->k256_scalar, pt.data + KG_P256_SCALAR_LEN, KG_K256_SCALAR_LEN);
    KG_GUARD_CTX_C(kg_kdf_root_keys_check(out), "sealed root keys");
    KG_GUARD_C(root_publics(pub, spki_hash, out));
    KG_ENSURE_C(memcmp(pub, f->header.root_k256_pub, sizeof(pub)) == 0 &&
                    memcmp(spki_hash, f->header.root_ca_spki_sha256, 32) == 0,
                KG_ERR_VERIFY, "sealed root keys are not the keys the file's header names");
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        kg_kdf_root_keys_wipe(out);
    kg_buf_free(&pt);
    return rc;
}

kg_result kg_sealed_open_tee(kg_root_keys *out, const kg_sealed_file *f, const uint8_t tee_key[32])
{
    kg_result rc = KG_ERROR;
    kg_buf dek;
    kg_buf_init(&dek, KG_SEALED_DEK_LEN);
    memset(out, 0, sizeof(*out));
    KG_ENSURE(f->has_tee, KG_ERR_NOT_FOUND, "the sealed file has no TEE slot");
    if (kg_failed(kg_aesgcm_decrypt(&dek, tee_key, f->tee, f->header_bytes, KG_SEALED_HEADER_LEN,
                                    f->tee + KG_AESGCM_IV_LEN, TEE_SLOT_LEN - KG_AESGCM_IV_LEN)))
        KG_BAIL_C(KG_ERR_VERIFY,
                  "the TEE slot does not open with this VM's sealing key (sealed by a VM with "
                  "other measurements or on another platform, or altered)");
    KG_ENSURE_C(dek.len == KG_SEALED_DEK_LEN, KG_ERR_INTERNAL, "DEK length");
    KG_GUARD_C(kg_sealed_open_dek(out, f, dek.data));
    rc = KG_OK;
cleanup:
    kg_buf_free(&dek);
    return rc;
}

kg_result kg_sealed_holder_share(kg_shamir_share *out, const kg_sealed_file *f,
                                 const uint8_t holder_secret[KG_X25519_LEN])
{
    kg_result rc = KG_ERROR;
    uint8_t pub[KG_X25519_LEN], aad[KG_SEALED_SHARE_AAD_LEN];
    kg_buf pt;
    kg_buf_init(&pt, KG_SHAMIR_SHARE_LEN);
    memset(out, 0, sizeof(*out));
    KG_ENSURE(f->has_recovery, KG_ERR_NOT_FOUND, "the sealed file has no recovery slot");
    KG_GUARD(kg_x25519_public(pub, holder_secret));
    size_t i = 0;
    while (i < f->n && memcmp(f->holder_pub[i], pub, KG_X25519_LEN) != 0)
        i++;
    KG_ENSURE(i < f->n, KG_ERR_NOT_FOUND,
              "this holder key is not one of the file's %u recovery holders", f->n);
    /* shares are x = 1..n in holder order; the box's AAD commits to it */
    KG_GUARD_C(kg_sealed_share_aad(aad, f, (uint8_t)(i + 1)));
    KG_GUARD_C(kg_box_open(&pt, holder_secret, KG_BOX_LABEL_HOLDER_SHARE, aad, sizeof(aad),
                           f->share_box[i], KG_SEALED_SHARE_BOX_LEN));
    KG_ENSURE_C(pt.len == KG_SHAMIR_SHARE_LEN && pt.data[0] == i + 1, KG_ERR_VERIFY,
                "recovery share %zu is not share x = %zu", i + 1, i + 1);
    out->x = pt.data[0];
    memcpy(out->y, pt.data + 1, KG_SHAMIR_SECRET_LEN);
    rc = KG_OK;
cleanup:
    kg_buf_free(&pt);
    return rc;
}

bool kg_sealed_same_holders(const kg_sealed_file *f, const kg_sealed_holders *holders)
{
    size_t n = holders != NULL ? holders->n : 0;
    if (!f->has_recovery)
        return n == 0;
    if (n != f->n || holders->threshold != f->threshold)
        return false;
    return memcmp(f->holder_pub, holders->pub, n * KG_X25519_LEN) == 0;
}
