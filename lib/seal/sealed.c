/* sealed.c - the sealed root-key file of sealed.h: sealing, the pure parser, and opening by DEK,
 * TEE key or a holder's share (docs/design.md, "Sealed root keys"). */
#include "keygate/sealed.h"

#include <string.h>

#include "keygate/epoch.h"
#include "keygate/hash.h"

#define TEE_SLOT_LEN (KG_AESGCM_IV_LEN + KG_SEALED_DEK_LEN + KG_AESGCM_TAG_LEN)
#define BODY_LEN(n) (KG_AESGCM_IV_LEN + (n)*KG_SEALED_KEYS_LEN + KG_AESGCM_TAG_LEN)
#define AAD_LEN (KG_SEALED_HEADER_LEN + 32u) /* version 2: header || SHA-256(epochs) */
#define HOLDER_LEN (KG_X25519_LEN + KG_SEALED_SHARE_BOX_LEN)

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void put_u32be(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
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

/* The epochs section of the layout in sealed.h, appended to out (public values only). */
static kg_result encode_epochs(kg_buf *out, const kg_sealed_epoch_in *epochs, size_t n)
{
    KG_GUARD(kg_buf_append_u8(out, (uint8_t)n));
    for (size_t i = 0; i < n; i++) {
        uint8_t b[4 + 1 + KG_K256_PUB_LEN + 32], len[4];
        kg_sealed_header pubs;
        KG_GUARD(kg_sealed_header_for(&pubs, 0, (const uint8_t[20]){0}, epochs[i].root));
        put_u32be(b, epochs[i].epoch);
        b[4] = epochs[i].status;
        memcpy(b + 5, pubs.root_k256_pub, KG_K256_PUB_LEN);
        memcpy(b + 5 + KG_K256_PUB_LEN, pubs.root_ca_spki_sha256, 32);
        KG_GUARD(kg_buf_append(out, b, sizeof(b)));
        put_u32be(len, (uint32_t)epochs[i].quote_len);
        KG_GUARD(kg_buf_append(out, len, 4));
        if (epochs[i].quote_len > 0)
            KG_GUARD(kg_buf_append(out, epochs[i].quote, epochs[i].quote_len));
        put_u32be(len, (uint32_t)epochs[i].eventlog_len);
        KG_GUARD(kg_buf_append(out, len, 4));
        if (epochs[i].eventlog_len > 0)
            KG_GUARD(kg_buf_append(out, epochs[i].eventlog, epochs[i].eventlog_len));
    }
    return KG_OK;
}

/* What kg_sealed_seal_epochs accepts: the same rules kg_sealed_parse applies. */
static kg_result check_epochs(size_t *current, const kg_sealed_epoch_in *epochs, size_t n)
{
    KG_ENSURE(n >= 1 && n <= KG_SEALED_MAX_EPOCHS, KG_ERR_USAGE,
              "sealing root keys: %zu epochs (want 1..%u)", n, KG_SEALED_MAX_EPOCHS);
    size_t cur = n;
    for (size_t i = 0; i < n; i++) {
        const kg_sealed_epoch_in *e = &epochs[i];
        KG_ENSURE(e->root != NULL, KG_ERR_USAGE, "sealing root keys: epoch %u has no keys",
                  e->epoch);
        KG_ENSURE(i == 0 || e->epoch > epochs[i - 1].epoch, KG_ERR_USAGE,
                  "sealing root keys: epochs out of order (%u after %u)", e->epoch,
                  i ? epochs[i - 1].epoch : 0);
        KG_ENSURE(e->status >= KG_EPOCH_PROPOSED && e->status <= KG_EPOCH_RETIRING, KG_ERR_USAGE,
                  "sealing root keys: epoch %u is %s (only proposed, current and retiring "
                  "epochs are kept)",
                  e->epoch, kg_epoch_status_name(e->status));
        KG_ENSURE(e->quote_len <= KG_SEALED_MAX_QUOTE && e->eventlog_len <= KG_SEALED_MAX_EVENTLOG,
                  KG_ERR_TOO_LARGE, "sealing root keys: epoch %u's attestation is too large",
                  e->epoch);
        if (e->status == KG_EPOCH_CURRENT) {
            KG_ENSURE(cur == n, KG_ERR_USAGE, "sealing root keys: two current epochs (%u, %u)",
                      epochs[cur].epoch, e->epoch);
            cur = i;
        }
    }
    KG_ENSURE(cur < n, KG_ERR_USAGE, "sealing root keys: no current epoch");
    *current = cur;
    return KG_OK;
}

kg_result kg_sealed_seal(kg_buf *out, const kg_sealed_header *h, const kg_root_keys *root,
                         const uint8_t *tee_key, const kg_sealed_holders *holders)
{
    kg_sealed_epoch_in e = {.epoch = 0, .status = KG_EPOCH_CURRENT, .root = root};
    return kg_sealed_seal_epochs(out, h->chain_id, h->kms_contract, &e, 1, tee_key, holders);
}

kg_result kg_sealed_seal_epochs(kg_buf *out, uint64_t chain_id, const uint8_t kms_contract[20],
                                const kg_sealed_epoch_in *epochs, size_t n_epochs,
                                const uint8_t *tee_key, const kg_sealed_holders *holders)
{
    kg_result rc = KG_ERROR;
    uint8_t aad[AAD_LEN], hh[32], share_aad[KG_SEALED_SHARE_AAD_LEN];
    uint8_t dek[KG_SEALED_DEK_LEN], keys[KG_SEALED_MAX_EPOCHS * KG_SEALED_KEYS_LEN];
    uint8_t iv[KG_AESGCM_IV_LEN], share_pt[KG_SHAMIR_SHARE_LEN];
    kg_shamir_share shares[KG_SHAMIR_MAX_SHARES];
    kg_sealed_header h;
    size_t n = holders != NULL ? holders->n : 0, cur = 0;
    size_t start = out->len;
    KG_ENSURE(tee_key != NULL || n > 0, KG_ERR_USAGE,
              "sealing root keys: no TEE sealing key and no recovery holders, so nothing could "
              "ever open the file");
    KG_ENSURE(n <= KG_SHAMIR_MAX_SHARES &&
                  (n == 0 || (holders->threshold >= 1 && holders->threshold <= n)),
              KG_ERR_USAGE, "sealing root keys: threshold %u of %zu recovery holders",
              n ? holders->threshold : 0, n);
    KG_GUARD(check_epochs(&cur, epochs, n_epochs));
    KG_GUARD(kg_sealed_header_for(&h, chain_id, kms_contract, epochs[cur].root));
    encode_header(aad, &h);
    KG_GUARD_C(header_hash(hh, aad));
    KG_GUARD_C(kg_random(dek, sizeof(dek)));
    for (size_t i = 0; i < n_epochs; i++) {
        memcpy(keys + i * KG_SEALED_KEYS_LEN, epochs[i].root->ca_scalar, KG_P256_SCALAR_LEN);
        memcpy(keys + i * KG_SEALED_KEYS_LEN + KG_P256_SCALAR_LEN, epochs[i].root->k256_scalar,
               KG_K256_SCALAR_LEN);
    }
    KG_GUARD_C(kg_buf_append(out, aad, KG_SEALED_HEADER_LEN));
    size_t epochs_at = out->len;
    KG_GUARD_C(encode_epochs(out, epochs, n_epochs));
    KG_GUARD_C(kg_sha256(aad + KG_SEALED_HEADER_LEN, out->data + epochs_at, out->len - epochs_at));
    KG_GUARD_C(kg_random(iv, sizeof(iv)));
    KG_GUARD_C(kg_buf_append(out, iv, sizeof(iv)));
    KG_GUARD_C(
        kg_aesgcm_encrypt(out, dek, iv, aad, sizeof(aad), keys, n_epochs * KG_SEALED_KEYS_LEN));
    KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)((tee_key != NULL) + (n > 0))));
    if (tee_key != NULL) {
        KG_GUARD_C(append_slot_head(out, KG_SEALED_SLOT_TEE, TEE_SLOT_LEN));
        KG_GUARD_C(kg_random(iv, sizeof(iv)));
        KG_GUARD_C(kg_buf_append(out, iv, sizeof(iv)));
        KG_GUARD_C(kg_aesgcm_encrypt(out, tee_key, iv, aad, sizeof(aad), dek, sizeof(dek)));
    }
    if (n > 0) {
        KG_GUARD_C(append_slot_head(out, KG_SEALED_SLOT_RECOVERY, 2 + n * HOLDER_LEN));
        KG_GUARD_C(kg_buf_append_u8(out, holders->threshold));
        KG_GUARD_C(kg_buf_append_u8(out, (uint8_t)n));
        KG_GUARD_C(kg_shamir_split(shares, n, holders->threshold, dek));
        for (size_t i = 0; i < n; i++) {
            share_pt[0] = shares[i].x;
            memcpy(share_pt + 1, shares[i].y, KG_SHAMIR_SECRET_LEN);
            memcpy(share_aad, hh, 32);
            share_aad[32] = shares[i].x;
            share_aad[33] = holders->threshold;
            share_aad[34] = (uint8_t)n;
            size_t before = out->len;
            KG_GUARD_C(kg_buf_append(out, holders->pub[i], KG_X25519_LEN));
            KG_GUARD_CTX_C(kg_box_seal(out, holders->pub[i], KG_BOX_LABEL_HOLDER_SHARE, share_aad,
                                       sizeof(share_aad), share_pt, sizeof(share_pt)),
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

static kg_result read_u32be(kg_reader *r, uint32_t *out, const char *field)
{
    return kg_reader_u32be(r, out, field);
}

/* One entry of the epochs section (layout in sealed.h). */
static kg_result parse_epoch(kg_sealed_epoch *e, kg_reader *r)
{
    uint32_t len;
    const uint8_t *p;
    KG_GUARD(read_u32be(r, &e->epoch, "epoch"));
    KG_GUARD(kg_reader_u8(r, &e->status, "status"));
    KG_ENSURE(e->status >= KG_EPOCH_PROPOSED && e->status <= KG_EPOCH_RETIRING, KG_ERR_INPUT,
              "epoch %u has status %u (want 1 proposed, 2 current or 3 retiring)", e->epoch,
              e->status);
    KG_GUARD(kg_reader_read(r, e->k256_pub, KG_K256_PUB_LEN, "k256_pub"));
    KG_GUARD(kg_reader_read(r, e->ca_spki_sha256, 32, "ca_spki_sha256"));
    KG_GUARD(read_u32be(r, &len, "quote length"));
    KG_ENSURE(len <= KG_SEALED_MAX_QUOTE, KG_ERR_TOO_LARGE,
              "epoch %u: quote of %u bytes exceeds %u", e->epoch, len, KG_SEALED_MAX_QUOTE);
    e->quote_off = r->pos;
    e->quote_len = len;
    KG_GUARD(kg_reader_ptr(r, &p, len, "quote"));
    KG_GUARD(read_u32be(r, &len, "eventlog length"));
    KG_ENSURE(len <= KG_SEALED_MAX_EVENTLOG, KG_ERR_TOO_LARGE,
              "epoch %u: event log of %u bytes exceeds %u", e->epoch, len, KG_SEALED_MAX_EVENTLOG);
    e->eventlog_off = r->pos;
    e->eventlog_len = len;
    return kg_reader_ptr(r, &p, len, "eventlog");
}

/* The epochs section: 1..KG_SEALED_MAX_EPOCHS in increasing order, exactly one Current, and
 * that one the header's keys. Offsets are made relative to the whole file (base). */
static kg_result parse_epochs(kg_sealed_file *out, kg_reader *r, size_t base)
{
    uint8_t count;
    KG_GUARD(kg_reader_u8(r, &count, "epoch count"));
    KG_ENSURE(count >= 1 && count <= KG_SEALED_MAX_EPOCHS, KG_ERR_INPUT, "%u epochs (want 1..%u)",
              count, KG_SEALED_MAX_EPOCHS);
    out->n_epochs = count;
    out->current = count;
    for (size_t i = 0; i < count; i++) {
        kg_sealed_epoch *e = &out->epochs[i];
        KG_GUARD_CTX(parse_epoch(e, r), "epoch entry %zu", i);
        e->quote_off += base;
        e->eventlog_off += base;
        KG_ENSURE(i == 0 || e->epoch > out->epochs[i - 1].epoch, KG_ERR_INPUT,
                  "epochs out of order (%u after %u)", e->epoch, out->epochs[i ? i - 1 : 0].epoch);
        if (e->status == KG_EPOCH_CURRENT) {
            KG_ENSURE(out->current == count, KG_ERR_INPUT, "two current epochs (%u and %u)",
                      out->epochs[out->current < count ? out->current : 0].epoch, e->epoch);
            out->current = i;
        }
    }
    KG_ENSURE(out->current < count, KG_ERR_INPUT, "no current epoch");
    const kg_sealed_epoch *cur = &out->epochs[out->current];
    KG_ENSURE(memcmp(cur->k256_pub, out->header.root_k256_pub, KG_K256_PUB_LEN) == 0 &&
                  memcmp(cur->ca_spki_sha256, out->header.root_ca_spki_sha256, 32) == 0,
              KG_ERR_INPUT, "the current epoch (%u) is not the header's root keys", cur->epoch);
    return KG_OK;
}

static kg_result parse(kg_sealed_file *out, const uint8_t *data, size_t len)
{
    kg_reader r, hr, slot;
    uint8_t magic[8], count;
    KG_ENSURE(len <= KG_SEALED_MAX_LEN, KG_ERR_TOO_LARGE, "%zu bytes exceed %u", len,
              KG_SEALED_MAX_LEN);
    kg_reader_init(&r, data, len);
    KG_GUARD(kg_reader_read(&r, out->header_bytes, KG_SEALED_HEADER_LEN, "header"));
    kg_reader_init(&hr, out->header_bytes, KG_SEALED_HEADER_LEN);
    KG_GUARD(kg_reader_read(&hr, magic, 8, "magic"));
    KG_ENSURE(memcmp(magic, KG_SEALED_MAGIC, 8) == 0, KG_ERR_INPUT,
              "not a sealed root-key file (magic)");
    KG_GUARD(kg_reader_u8(&hr, &out->version, "version"));
    KG_ENSURE(out->version == KG_SEALED_VERSION || out->version == KG_SEALED_VERSION_1,
              KG_ERR_INPUT, "version %u (this KMS reads %u and %u)", out->version,
              KG_SEALED_VERSION_1, KG_SEALED_VERSION);
    KG_GUARD(read_u64be(&hr, &out->header.chain_id, "chain_id"));
    KG_GUARD(kg_reader_read(&hr, out->header.kms_contract, 20, "kms_contract"));
    KG_GUARD(kg_reader_read(&hr, out->header.root_k256_pub, KG_K256_PUB_LEN, "root_k256_pub"));
    KG_GUARD(kg_reader_read(&hr, out->header.root_ca_spki_sha256, 32, "root_ca_spki_sha256"));
    if (out->version == KG_SEALED_VERSION_1) {
        /* before epochs: the one key pair is epoch 0, Current */
        out->n_epochs = 1;
        out->current = 0;
        memcpy(out->epochs[0].k256_pub, out->header.root_k256_pub, KG_K256_PUB_LEN);
        memcpy(out->epochs[0].ca_spki_sha256, out->header.root_ca_spki_sha256, 32);
        out->epochs[0].status = KG_EPOCH_CURRENT;
    } else {
        size_t at = r.pos;
        kg_reader er;
        /* the section's length is known only once parsed: parse a view of the rest, then
         * advance past what it consumed */
        kg_reader_init(&er, data + at, len - at);
        KG_GUARD_CTX(parse_epochs(out, &er, at), "epochs");
        KG_GUARD(kg_sha256(out->epochs_sha256, data + at, er.pos));
        KG_GUARD(kg_reader_skip(&r, er.pos, "epochs"));
    }
    out->body_len = BODY_LEN(out->n_epochs);
    KG_GUARD(kg_reader_read(&r, out->body, out->body_len, "sealed keys"));
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

/* What the body and the TEE slot are authenticated with: the header (version 1), or the
 * header and the epochs section's hash (version 2). */
static size_t file_aad(uint8_t out[AAD_LEN], const kg_sealed_file *f)
{
    memcpy(out, f->header_bytes, KG_SEALED_HEADER_LEN);
    if (f->version == KG_SEALED_VERSION_1)
        return KG_SEALED_HEADER_LEN;
    memcpy(out + KG_SEALED_HEADER_LEN, f->epochs_sha256, 32);
    return AAD_LEN;
}

kg_result kg_sealed_open_dek(kg_root_keys out[KG_SEALED_MAX_EPOCHS], const kg_sealed_file *f,
                             const uint8_t dek[KG_SEALED_DEK_LEN])
{
    kg_result rc = KG_ERROR;
    uint8_t pub[KG_K256_PUB_LEN], spki_hash[32], aad[AAD_LEN];
    kg_buf pt;
    kg_buf_init(&pt, KG_SEALED_MAX_EPOCHS * KG_SEALED_KEYS_LEN);
    memset(out, 0, KG_SEALED_MAX_EPOCHS * sizeof(*out));
    size_t aad_len = file_aad(aad, f);
    KG_ENSURE_C(f->n_epochs >= 1 && f->n_epochs <= KG_SEALED_MAX_EPOCHS &&
                    f->body_len == BODY_LEN(f->n_epochs),
                KG_ERR_INTERNAL, "sealed file: epoch count");
    if (kg_failed(kg_aesgcm_decrypt(&pt, dek, f->body, aad, aad_len, f->body + KG_AESGCM_IV_LEN,
                                    f->body_len - KG_AESGCM_IV_LEN)))
        KG_BAIL_C(KG_ERR_VERIFY,
                  "sealed root keys do not open: wrong data-encryption key, or the file was "
                  "altered");
    KG_ENSURE_C(pt.len == f->n_epochs * KG_SEALED_KEYS_LEN, KG_ERR_INTERNAL, "sealed keys length");
    for (size_t i = 0; i < f->n_epochs; i++) {
        const uint8_t *k = pt.data + i * KG_SEALED_KEYS_LEN;
        memcpy(out[i].ca_scalar, k, KG_P256_SCALAR_LEN);
        memcpy(out[i].k256_scalar, k + KG_P256_SCALAR_LEN, KG_K256_SCALAR_LEN);
        KG_GUARD_CTX_C(kg_kdf_root_keys_check(&out[i]), "sealed root keys of epoch %u",
                       f->epochs[i].epoch);
        KG_GUARD_C(root_publics(pub, spki_hash, &out[i]));
        KG_ENSURE_C(memcmp(pub, f->epochs[i].k256_pub, sizeof(pub)) == 0 &&
                        memcmp(spki_hash, f->epochs[i].ca_spki_sha256, 32) == 0,
                    KG_ERR_VERIFY, "sealed root keys of epoch %u are not the keys the file names",
                    f->epochs[i].epoch);
    }
    rc = KG_OK;
cleanup:
    if (kg_failed(rc))
        for (size_t i = 0; i < KG_SEALED_MAX_EPOCHS; i++)
            kg_kdf_root_keys_wipe(&out[i]);
    kg_buf_free(&pt);
    return rc;
}

kg_result kg_sealed_open_tee(kg_root_keys out[KG_SEALED_MAX_EPOCHS], const kg_sealed_file *f,
                             const uint8_t tee_key[32])
{
    kg_result rc = KG_ERROR;
    uint8_t aad[AAD_LEN];
    kg_buf dek;
    kg_buf_init(&dek, KG_SEALED_DEK_LEN);
    memset(out, 0, KG_SEALED_MAX_EPOCHS * sizeof(*out));
    KG_ENSURE(f->has_tee, KG_ERR_NOT_FOUND, "the sealed file has no TEE slot");
    size_t aad_len = file_aad(aad, f);
    if (kg_failed(kg_aesgcm_decrypt(&dek, tee_key, f->tee, aad, aad_len, f->tee + KG_AESGCM_IV_LEN,
                                    TEE_SLOT_LEN - KG_AESGCM_IV_LEN)))
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
