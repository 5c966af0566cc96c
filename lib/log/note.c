/* note.c - C2SP signed-note with Ed25519 (OpenSSL), C2SP tlog-checkpoint bodies, and strict
 * base64. Formats: docs/design.md, "The decision log". */
#include "keygate/tlog.h"

#include "keygate/hash.h"

#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "— " : U+2014 EM DASH and a space, the start of every signature line */
static const char k_dash[] = "\xe2\x80\x94 ";
#define DASH_LEN 4u
#define ED25519_ALG 0x01u

/* ---- base64 ---------------------------------------------------------------------------------- */

kg_result kg_base64_encode(kg_buf *out, const uint8_t *in, size_t n)
{
    KG_ENSURE(n <= (size_t)INT_MAX / 2, KG_ERR_TOO_LARGE, "base64: input too large");
    size_t need = 4 * ((n + 2) / 3) + 1;
    KG_GUARD(kg_buf_reserve(out, need));
    int w = EVP_EncodeBlock(out->data + out->len, in, (int)n);
    KG_ENSURE(w >= 0 && (size_t)w + 1 <= need, KG_ERR_INTERNAL, "base64: encoding failed");
    out->len += (size_t)w;
    return KG_OK;
}

static bool b64_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

kg_result kg_base64_decode(kg_buf *out, const char *in, size_t n)
{
    KG_ENSURE(n > 0 && n % 4 == 0 && n <= (size_t)INT_MAX / 2, KG_ERR_INPUT,
              "base64: %zu characters is not a padded encoding", n);
    size_t pad = (in[n - 1] == '=') + (in[n - 1] == '=' && in[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++)
        KG_ENSURE(b64_char((uint8_t)in[i]), KG_ERR_INPUT, "base64: bad character at %zu", i);
    size_t start = out->len;
    KG_GUARD(kg_buf_reserve(out, n / 4 * 3 + 1));
    int dl = EVP_DecodeBlock(out->data + start, (const uint8_t *)in, (int)n);
    KG_ENSURE(dl >= 0 && (size_t)dl >= pad, KG_ERR_INPUT, "base64: bad encoding");
    size_t len = (size_t)dl - pad;
    /* canonical: re-encoding gives the same text (no stray bits in the padding) */
    kg_buf enc;
    kg_buf_init(&enc, n + 8);
    kg_result rc = kg_base64_encode(&enc, out->data + start, len);
    bool same = kg_ok(rc) && enc.len == n && memcmp(enc.data, in, n) == 0;
    kg_buf_free(&enc);
    KG_GUARD(rc);
    KG_ENSURE(same, KG_ERR_INPUT, "base64: not the canonical encoding");
    out->len = start + len;
    return KG_OK;
}

/* ---- Ed25519 --------------------------------------------------------------------------------- */

kg_result kg_ed25519_public(uint8_t pub[KG_ED25519_PUB_LEN],
                            const uint8_t seed[KG_ED25519_SEED_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, KG_ED25519_SEED_LEN);
    KG_ENSURE_OSSL(k != NULL, KG_ERR_CRYPTO, "ed25519: bad private key");
    size_t n = KG_ED25519_PUB_LEN;
    int ok = EVP_PKEY_get_raw_public_key(k, pub, &n);
    EVP_PKEY_free(k);
    KG_ENSURE_OSSL(ok == 1 && n == KG_ED25519_PUB_LEN, KG_ERR_CRYPTO, "ed25519: public key");
    return KG_OK;
}

kg_result kg_ed25519_sign(uint8_t sig[KG_ED25519_SIG_LEN], const uint8_t seed[KG_ED25519_SEED_LEN],
                          const void *msg, size_t len)
{
    kg_result rc = KG_ERROR;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, KG_ED25519_SEED_LEN);
    KG_ENSURE_OSSL_C(k != NULL, KG_ERR_CRYPTO, "ed25519: bad private key");
    md = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(md != NULL, KG_ERR_NOMEM, "ed25519: out of memory");
    size_t n = KG_ED25519_SIG_LEN;
    KG_GUARD_OSSL_C(EVP_DigestSignInit(md, NULL, NULL, NULL, k), KG_ERR_CRYPTO, "ed25519: init");
    KG_GUARD_OSSL_C(EVP_DigestSign(md, sig, &n, msg, len), KG_ERR_CRYPTO, "ed25519: sign");
    KG_ENSURE_C(n == KG_ED25519_SIG_LEN, KG_ERR_CRYPTO, "ed25519: signature length %zu", n);
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}

kg_result kg_ed25519_verify(const uint8_t pub[KG_ED25519_PUB_LEN],
                            const uint8_t sig[KG_ED25519_SIG_LEN], const void *msg, size_t len)
{
    kg_result rc = KG_ERROR;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, KG_ED25519_PUB_LEN);
    KG_ENSURE_OSSL_C(k != NULL, KG_ERR_VERIFY, "ed25519: bad public key");
    md = EVP_MD_CTX_new();
    KG_ENSURE_OSSL_C(md != NULL, KG_ERR_NOMEM, "ed25519: out of memory");
    KG_GUARD_OSSL_C(EVP_DigestVerifyInit(md, NULL, NULL, NULL, k), KG_ERR_CRYPTO, "ed25519: init");
    int ok = EVP_DigestVerify(md, sig, KG_ED25519_SIG_LEN, msg, len);
    KG_ENSURE_C(ok == 1, KG_ERR_VERIFY, "ed25519: signature does not verify");
    rc = KG_OK;
cleanup:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}

/* ---- signed-note ----------------------------------------------------------------------------- */

bool kg_note_name_ok(const char *name)
{
    size_t n = strnlen(name, KG_NOTE_MAX_NAME);
    if (n == 0 || n >= KG_NOTE_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)name[i];
        if (c <= 0x20 || c >= 0x7f || c == '+')
            return false;
    }
    return true;
}

kg_result kg_note_key_id(uint8_t out[4], const char *name, const uint8_t pub[KG_ED25519_PUB_LEN])
{
    KG_ENSURE(kg_note_name_ok(name), KG_ERR_INPUT, "note: bad key name");
    static const uint8_t sep[2] = {'\n', ED25519_ALG};
    const void *parts[3] = {name, sep, pub};
    size_t lens[3] = {strlen(name), 2, KG_ED25519_PUB_LEN};
    uint8_t h[32];
    KG_GUARD(kg_sha256_parts(h, parts, lens, 3));
    memcpy(out, h, 4);
    return KG_OK;
}

kg_result kg_note_vkey(kg_buf *out, const char *name, const uint8_t pub[KG_ED25519_PUB_LEN])
{
    uint8_t id[4], raw[1 + KG_ED25519_PUB_LEN];
    KG_GUARD(kg_note_key_id(id, name, pub));
    raw[0] = ED25519_ALG;
    memcpy(raw + 1, pub, KG_ED25519_PUB_LEN);
    KG_GUARD(kg_buf_printf(out, "%s+%02x%02x%02x%02x+", name, id[0], id[1], id[2], id[3]));
    return kg_base64_encode(out, raw, sizeof(raw));
}

kg_result kg_note_sign(kg_buf *out, const uint8_t *text, size_t text_len, const char *name,
                       const uint8_t seed[KG_ED25519_SEED_LEN])
{
    KG_ENSURE(text_len > 0 && text[text_len - 1] == '\n' &&
                  (text_len < 2 || text[text_len - 2] != '\n'),
              KG_ERR_USAGE, "note: text must end in one newline");
    KG_ENSURE(memchr(text, 0, text_len) == NULL, KG_ERR_USAGE, "note: NUL in text");
    uint8_t pub[KG_ED25519_PUB_LEN], sig[4 + KG_ED25519_SIG_LEN];
    KG_GUARD(kg_ed25519_public(pub, seed));
    KG_GUARD(kg_note_key_id(sig, name, pub));
    KG_GUARD(kg_ed25519_sign(sig + 4, seed, text, text_len));
    KG_GUARD(kg_buf_append(out, text, text_len));
    KG_GUARD(kg_buf_printf(out, "\n%s%s ", k_dash, name));
    KG_GUARD(kg_base64_encode(out, sig, sizeof(sig)));
    return kg_buf_append_u8(out, '\n');
}

/* Reads one line (without its '\n'); a line must end in '\n'. */
static kg_result read_line(kg_reader *r, const uint8_t **line, size_t *len, const char *what)
{
    size_t rem = kg_reader_remaining(r);
    const uint8_t *p = r->data + r->pos;
    const uint8_t *nl = memchr(p, '\n', rem);
    KG_ENSURE(nl != NULL, KG_ERR_INPUT, "note: %s does not end in a newline", what);
    *len = (size_t)(nl - p);
    KG_GUARD(kg_reader_ptr(r, line, *len, what));
    return kg_reader_skip(r, 1, what);
}

kg_result kg_note_open(size_t *text_len, const uint8_t *note, size_t len, const char *name,
                       const uint8_t pub[KG_ED25519_PUB_LEN])
{
    *text_len = 0;
    KG_ENSURE(len <= KG_NOTE_MAX, KG_ERR_TOO_LARGE, "note: longer than %u bytes", KG_NOTE_MAX);
    KG_ENSURE(memchr(note, 0, len) == NULL, KG_ERR_INPUT, "note: NUL byte");
    uint8_t want_id[4];
    KG_GUARD(kg_note_key_id(want_id, name, pub));
    /* The text ends at the last "\n\n": the signatures follow it, one per line. */
    size_t split = 0;
    bool found = false;
    for (size_t i = len; i-- > 1;)
        if (note[i] == '\n' && note[i - 1] == '\n') {
            split = i; /* note[0..split) is the text with its final '\n' */
            found = true;
            break;
        }
    KG_ENSURE(found && split > 0, KG_ERR_INPUT, "note: no signature block");
    kg_reader r;
    kg_reader_init(&r, note, len);
    KG_GUARD(kg_reader_skip(&r, split + 1, "text"));
    KG_ENSURE(kg_reader_remaining(&r) > 0, KG_ERR_INPUT, "note: no signatures");
    size_t nsigs = 0;
    bool verified = false;
    size_t nlen = strlen(name);
    while (kg_reader_remaining(&r) > 0) {
        KG_ENSURE(++nsigs <= KG_NOTE_MAX_SIGS, KG_ERR_TOO_LARGE, "note: more than %u signatures",
                  KG_NOTE_MAX_SIGS);
        const uint8_t *line;
        size_t ll;
        KG_GUARD(read_line(&r, &line, &ll, "signature line"));
        kg_reader lr;
        kg_reader_init(&lr, line, ll);
        const uint8_t *dash;
        KG_GUARD(kg_reader_ptr(&lr, &dash, DASH_LEN, "signature dash"));
        KG_ENSURE(memcmp(dash, k_dash, DASH_LEN) == 0, KG_ERR_INPUT,
                  "note: signature line does not start with an em dash");
        const uint8_t *rest = line + DASH_LEN;
        size_t rl = ll - DASH_LEN;
        const uint8_t *sp = memchr(rest, ' ', rl);
        KG_ENSURE(sp != NULL && sp > rest, KG_ERR_INPUT, "note: signature line without a name");
        size_t name_len = (size_t)(sp - rest);
        const char *b64 = (const char *)sp + 1;
        size_t b64_len = rl - name_len - 1;
        KG_ENSURE(b64_len > 0 && b64_len <= 4 * ((4 + 256 + 2) / 3), KG_ERR_INPUT,
                  "note: bad signature length");
        kg_buf sig;
        kg_buf_init(&sig, 512);
        kg_result dr = kg_base64_decode(&sig, b64, b64_len);
        if (kg_failed(dr)) {
            kg_buf_free(&sig);
            return kg_error_context("note: signature");
        }
        bool ours = name_len == nlen && memcmp(rest, name, nlen) == 0 && sig.len >= 4 &&
                    memcmp(sig.data, want_id, 4) == 0;
        if (!ours) { /* another key's signature (a witness, a cosigner): not ours to judge */
            bool short_sig = sig.len < 5;
            kg_buf_free(&sig);
            KG_ENSURE(!short_sig, KG_ERR_INPUT, "note: signature shorter than a key id");
            continue;
        }
        bool len_ok = sig.len == 4 + KG_ED25519_SIG_LEN;
        kg_result vr = len_ok ? kg_ed25519_verify(pub, sig.data + 4, note, split) : KG_ERROR;
        kg_buf_free(&sig);
        KG_ENSURE(len_ok, KG_ERR_VERIFY, "note: signature of '%s' has the wrong length", name);
        if (kg_failed(vr))
            return kg_error_context("note: signature of '%s'", name);
        verified = true;
    }
    KG_ENSURE(verified, KG_ERR_VERIFY, "note: no signature by '%s'", name);
    *text_len = split;
    return KG_OK;
}

/* ---- tlog-checkpoint ------------------------------------------------------------------------- */

kg_result kg_checkpoint_format(kg_buf *out, const kg_checkpoint *c)
{
    size_t ol = strnlen(c->origin, KG_CHECKPOINT_MAX_ORIGIN);
    KG_ENSURE(ol > 0 && ol < KG_CHECKPOINT_MAX_ORIGIN && memchr(c->origin, '\n', ol) == NULL,
              KG_ERR_USAGE, "checkpoint: bad origin");
    KG_GUARD(kg_buf_printf(out, "%s\n%" PRIu64 "\n", c->origin, c->size));
    KG_GUARD(kg_base64_encode(out, c->root, KG_TLOG_HASH_LEN));
    return kg_buf_append_u8(out, '\n');
}

kg_result kg_checkpoint_parse(kg_checkpoint *out, const uint8_t *text, size_t len)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(len <= KG_NOTE_MAX, KG_ERR_TOO_LARGE, "checkpoint: longer than %u bytes",
              KG_NOTE_MAX);
    kg_reader r;
    kg_reader_init(&r, text, len);
    const uint8_t *line;
    size_t ll;
    KG_GUARD(read_line(&r, &line, &ll, "origin line"));
    KG_ENSURE(ll > 0 && ll < KG_CHECKPOINT_MAX_ORIGIN, KG_ERR_INPUT,
              "checkpoint: origin of %zu bytes (1..%u)", ll, KG_CHECKPOINT_MAX_ORIGIN - 1);
    for (size_t i = 0; i < ll; i++)
        KG_ENSURE(line[i] >= 0x20 && line[i] != 0x7f, KG_ERR_INPUT,
                  "checkpoint: control character in origin");
    memcpy(out->origin, line, ll);
    KG_GUARD(read_line(&r, &line, &ll, "size line"));
    KG_ENSURE(ll > 0 && ll <= 19 && !(ll > 1 && line[0] == '0'), KG_ERR_INPUT,
              "checkpoint: size is not a canonical decimal");
    uint64_t size = 0;
    for (size_t i = 0; i < ll; i++) {
        KG_ENSURE(line[i] >= '0' && line[i] <= '9', KG_ERR_INPUT,
                  "checkpoint: size is not a decimal");
        size = size * 10 + (uint64_t)(line[i] - '0');
    }
    KG_ENSURE(size <= KG_TLOG_MAX_SIZE, KG_ERR_TOO_LARGE, "checkpoint: tree size too large");
    out->size = size;
    KG_GUARD(read_line(&r, &line, &ll, "root hash line"));
    KG_ENSURE(ll == 44, KG_ERR_INPUT, "checkpoint: root hash is not 32 bytes of base64");
    kg_buf root;
    kg_buf_init(&root, 64);
    kg_result rc = kg_base64_decode(&root, (const char *)line, ll);
    bool ok = kg_ok(rc) && root.len == KG_TLOG_HASH_LEN;
    if (ok)
        memcpy(out->root, root.data, KG_TLOG_HASH_LEN);
    kg_buf_free(&root);
    if (kg_failed(rc))
        return kg_error_context("checkpoint: root hash");
    KG_ENSURE(ok, KG_ERR_INPUT, "checkpoint: root hash is not 32 bytes");
    /* extension lines: each non-empty and newline-terminated */
    while (kg_reader_remaining(&r) > 0) {
        KG_GUARD(read_line(&r, &line, &ll, "extension line"));
        KG_ENSURE(ll > 0, KG_ERR_INPUT, "checkpoint: empty extension line");
    }
    return KG_OK;
}

kg_result kg_ed25519_spki(uint8_t out[KG_ED25519_SPKI_LEN], const uint8_t pub[KG_ED25519_PUB_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, KG_ED25519_PUB_LEN);
    KG_ENSURE_OSSL(k != NULL, KG_ERR_INPUT, "Ed25519 public key");
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    EVP_PKEY_free(k);
    bool ok = n == (int)KG_ED25519_SPKI_LEN;
    if (ok)
        memcpy(out, der, KG_ED25519_SPKI_LEN);
    OPENSSL_free(der);
    KG_ENSURE_OSSL(ok, KG_ERR_CRYPTO, "Ed25519 SubjectPublicKeyInfo");
    return KG_OK;
}
