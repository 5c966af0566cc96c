/* epoch_proposal.c - the answer of a KMS node's POST /epoch/propose (epoch_proposal.h), parsed
 * strictly: everything in it goes into a governance transaction, so a wrong key or a hash that
 * does not match its quote is refused here, with the member named, before anything is sent. */
#include "keygate/epoch_proposal.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "keygate/hash.h"

/* The string member `name` of o, or an error naming it. */
static kg_result member_string(const char **s, size_t *len, const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    KG_ENSURE(v != NULL, KG_ERR_INPUT, "\"%s\" is missing", name);
    KG_ENSURE(json_is_string(v), KG_ERR_INPUT, "\"%s\" is not a string", name);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return KG_OK;
}

/* Hex member `name` decoded into out: 1..cap bytes (exactly cap when exact). */
static kg_result member_hex(uint8_t *out, size_t cap, size_t *out_len, bool exact, const json_t *o,
                            const char *name)
{
    const char *s;
    size_t len, n = 0;
    KG_GUARD(member_string(&s, &len, o, name));
    KG_GUARD_CTX(kg_hex_decode(out, cap, &n, s, len), "\"%s\"", name);
    KG_ENSURE(n > 0 && (!exact || n == cap), KG_ERR_INPUT, "\"%s\" has %zu bytes, not %s%zu", name,
              n, exact ? "" : "1..", cap);
    if (out_len != NULL)
        *out_len = n;
    return KG_OK;
}

/* The root CA key: a P-256 SubjectPublicKeyInfo in canonical DER, nothing after it. */
static kg_result check_p256_spki(const uint8_t *der, size_t len)
{
    kg_result rc = KG_ERROR;
    const unsigned char *p = der;
    unsigned char *back = NULL;
    char group[64] = "";
    int n = 0;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);
    KG_ENSURE_OSSL_C(pk != NULL, KG_ERR_INPUT, "\"ca_pubkey\" is not a SubjectPublicKeyInfo (DER)");
    KG_ENSURE_C((size_t)(p - der) == len, KG_ERR_INPUT,
                "\"ca_pubkey\" has bytes after its SubjectPublicKeyInfo");
    KG_ENSURE_C(EVP_PKEY_is_a(pk, "EC") &&
                    EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), NULL) == 1 &&
                    strcmp(group, "prime256v1") == 0,
                KG_ERR_INPUT, "\"ca_pubkey\" is not a P-256 key");
    n = i2d_PUBKEY(pk, &back);
    KG_ENSURE_C(n > 0 && (size_t)n == len && memcmp(back, der, len) == 0, KG_ERR_INPUT,
                "\"ca_pubkey\" is not in canonical DER");
    rc = KG_OK;
cleanup:
    ERR_clear_error(); /* a failed parameter read may have queued one */
    OPENSSL_free(back);
    EVP_PKEY_free(pk);
    return rc;
}

static kg_result parse(kg_epoch_proposal *out, uint32_t want_epoch, const json_t *o)
{
    KG_ENSURE(json_is_object(o), KG_ERR_INPUT, "not a JSON object");
    const json_t *e = json_object_get(o, "epoch");
    KG_ENSURE(json_is_integer(e), KG_ERR_INPUT, "\"epoch\" is %s",
              e == NULL ? "missing" : "not an integer");
    KG_ENSURE(json_integer_value(e) == (json_int_t)want_epoch, KG_ERR_INPUT,
              "\"epoch\" is %" JSON_INTEGER_FORMAT ", not the epoch asked for (%u)",
              json_integer_value(e), (unsigned)want_epoch);
    out->epoch = want_epoch;

    KG_GUARD(
        member_hex(out->ca_spki, sizeof(out->ca_spki), &out->ca_spki_len, false, o, "ca_pubkey"));
    KG_GUARD(check_p256_spki(out->ca_spki, out->ca_spki_len));

    uint8_t k256[KG_K256_PUB_LEN];
    KG_GUARD(member_hex(k256, sizeof(k256), NULL, true, o, "k256_pubkey"));
    KG_GUARD_CTX(kg_k256_pub_compress(out->k256_pub, k256, sizeof(k256)), "\"k256_pubkey\"");
    KG_ENSURE(memcmp(out->k256_pub, k256, sizeof(k256)) == 0, KG_ERR_INPUT,
              "\"k256_pubkey\" is not a compressed key");

    const char *s;
    size_t len;
    KG_GUARD(member_string(&s, &len, o, "quote"));
    KG_ENSURE(len > 0, KG_ERR_INPUT, "\"quote\" is empty");
    KG_ENSURE(len <= 2 + 2 * (size_t)KG_EPOCH_PROPOSAL_MAX_QUOTE, KG_ERR_TOO_LARGE,
              "\"quote\" is larger than %u bytes", KG_EPOCH_PROPOSAL_MAX_QUOTE);
    KG_GUARD_CTX(kg_hex_decode_buf(&out->quote, s, len), "\"quote\"");
    KG_ENSURE(out->quote.len > 0, KG_ERR_INPUT, "\"quote\" is empty");

    KG_GUARD(member_string(&s, &len, o, "eventlog"));
    KG_ENSURE(len <= KG_EPOCH_PROPOSAL_MAX_EVENTLOG, KG_ERR_TOO_LARGE,
              "\"eventlog\" is larger than %u bytes", KG_EPOCH_PROPOSAL_MAX_EVENTLOG);
    KG_GUARD(kg_buf_append(&out->eventlog, s, len));

    KG_GUARD(member_hex(out->attestation_hash, 32, NULL, true, o, "attestation_hash"));
    uint8_t h[KG_KECCAK256_LEN];
    kg_keccak256(h, out->quote.data, out->quote.len);
    KG_ENSURE(memcmp(h, out->attestation_hash, sizeof(h)) == 0, KG_ERR_INPUT,
              "\"attestation_hash\" is not keccak256 of \"quote\"");
    KG_GUARD(member_hex(out->mr_aggregated, 32, NULL, true, o, "mr_aggregated"));
    KG_GUARD(member_hex(out->device_id, 32, NULL, true, o, "device_id"));
    KG_GUARD(member_hex(out->os_image_hash, 32, NULL, true, o, "os_image_hash"));
    return KG_OK;
}

kg_result kg_epoch_proposal_parse(kg_epoch_proposal *out, uint32_t want_epoch, const char *text,
                                  size_t len)
{
    memset(out, 0, sizeof(*out));
    kg_buf_init(&out->quote, KG_EPOCH_PROPOSAL_MAX_QUOTE);
    kg_buf_init(&out->eventlog, KG_EPOCH_PROPOSAL_MAX_EVENTLOG);
    KG_ENSURE(len <= KG_EPOCH_PROPOSAL_MAX_TEXT, KG_ERR_TOO_LARGE,
              "epoch proposal: the answer is larger than %u bytes", KG_EPOCH_PROPOSAL_MAX_TEXT);
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    KG_ENSURE(o != NULL, KG_ERR_INPUT, "epoch proposal: not JSON: %s", jerr.text);
    kg_result rc = parse(out, want_epoch, o);
    json_decref(o);
    if (kg_failed(rc)) {
        kg_epoch_proposal_free(out);
        return kg_error_context("epoch proposal");
    }
    return KG_OK;
}

void kg_epoch_proposal_free(kg_epoch_proposal *p)
{
    kg_buf_free(&p->quote);
    kg_buf_free(&p->eventlog);
    memset(p, 0, sizeof(*p));
}
