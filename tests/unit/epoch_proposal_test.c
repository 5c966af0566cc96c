/* epoch_proposal_test.c - the answer of a KMS node's POST /epoch/propose as the CLI reads it
 * (epoch_proposal.h): a well-formed answer round-trips, and each wrong member is refused with
 * its name; plus rootEpoch(uint32)'s return data as `cast abi-encode` (Foundry's encoder, not
 * ours) writes it, read by kg_eth_root_epoch_decode. */
#include "test_util.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/epoch_proposal.h"
#include "keygate/eth.h"
#include "keygate/hash.h"

/* A real answer's values: a fresh P-256 SPKI, the k256 key of scalar 7, a made-up quote. */
typedef struct answer {
    char ca[KG_HEX_SIZE(KG_EPOCH_PROPOSAL_MAX_CA_SPKI)];
    char k256[KG_HEX_SIZE(KG_K256_PUB_LEN)];
    char quote[KG_HEX_SIZE(64)];
    char hash[2 + KG_HEX_SIZE(32)];
    uint8_t spki[KG_EPOCH_PROPOSAL_MAX_CA_SPKI];
    size_t spki_len;
    uint8_t k256_pub[KG_K256_PUB_LEN];
} answer;

static answer A;

static const char *const ID32 =
    "0x1111111111111111111111111111111111111111111111111111111111111111";

static void der_of(uint8_t *out, size_t *len, EVP_PKEY *pk)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pk, &der);
    assert_true(n > 0 && (size_t)n <= KG_EPOCH_PROPOSAL_MAX_CA_SPKI);
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
}

static int setup(void **state)
{
    (void)state;
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    assert_non_null(pk);
    der_of(A.spki, &A.spki_len, pk);
    EVP_PKEY_free(pk);
    KG_ASSERT_OK(kg_hex_encode(A.ca, sizeof(A.ca), A.spki, A.spki_len));
    uint8_t scalar[KG_K256_SCALAR_LEN] = {0};
    scalar[31] = 7;
    KG_ASSERT_OK(kg_k256_public(A.k256_pub, scalar));
    KG_ASSERT_OK(kg_hex_encode(A.k256, sizeof(A.k256), A.k256_pub, sizeof(A.k256_pub)));
    uint8_t q[64];
    for (size_t i = 0; i < sizeof(q); i++)
        q[i] = (uint8_t)(i * 7 + 1);
    KG_ASSERT_OK(kg_hex_encode(A.quote, sizeof(A.quote), q, sizeof(q)));
    uint8_t h[KG_KECCAK256_LEN];
    kg_keccak256(h, q, sizeof(q));
    A.hash[0] = '0';
    A.hash[1] = 'x';
    KG_ASSERT_OK(kg_hex_encode(A.hash + 2, sizeof(A.hash) - 2, h, sizeof(h)));
    return 0;
}

/* The answer as keygate-kms writes it (kms/epochs.c), with member `drop` left out and member
 * `name` (if any) set to `value` (a JSON value). */
static json_t *answer_json(const char *drop, const char *name, json_t *value)
{
    json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "epoch", 1, "ca_pubkey", A.ca,
                          "k256_pubkey", A.k256, "quote", A.quote, "eventlog",
                          "[{\"imr\":3,\"event\":\"x\"}]", "attestation_hash", A.hash,
                          "mr_aggregated", ID32, "device_id", ID32, "os_image_hash", ID32);
    assert_non_null(o);
    if (drop != NULL)
        json_object_del(o, drop);
    if (name != NULL)
        json_object_set_new(o, name, value);
    return o;
}

static kg_result parse_json(kg_epoch_proposal *p, uint32_t want, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    kg_result rc = kg_epoch_proposal_parse(p, want, text, strlen(text));
    free(text);
    return rc;
}

static void well_formed_answer_parses(void **state)
{
    (void)state;
    kg_epoch_proposal p;
    KG_ASSERT_OK(parse_json(&p, 1, answer_json(NULL, "a_later_member", json_true())));
    assert_int_equal(p.epoch, 1);
    assert_int_equal(p.ca_spki_len, A.spki_len);
    assert_memory_equal(p.ca_spki, A.spki, A.spki_len);
    assert_memory_equal(p.k256_pub, A.k256_pub, KG_K256_PUB_LEN);
    assert_int_equal(p.quote.len, 64);
    assert_int_equal(p.quote.data[1], 8);
    assert_int_equal(p.eventlog.len, strlen("[{\"imr\":3,\"event\":\"x\"}]"));
    kg_test_assert_hex(p.attestation_hash, 32, A.hash + 2);
    assert_int_equal(p.device_id[31], 0x11);
    kg_epoch_proposal_free(&p);
    kg_epoch_proposal_free(&p); /* idempotent */
}

static void each_wrong_member_is_named(void **state)
{
    (void)state;
    kg_epoch_proposal p;
    static const char *const members[] = {"epoch",         "ca_pubkey", "k256_pubkey",
                                          "quote",         "eventlog",  "attestation_hash",
                                          "mr_aggregated", "device_id", "os_image_hash"};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"%s\" is missing", members[i]);
        KG_ASSERT_ERR(parse_json(&p, 1, answer_json(members[i], NULL, NULL)), KG_ERR_INPUT, want);
        assert_null(p.quote.data); /* nothing kept */
    }
    KG_ASSERT_ERR(parse_json(&p, 2, answer_json(NULL, NULL, NULL)), KG_ERR_INPUT,
                  "\"epoch\" is 1, not the epoch asked for (2)");
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "epoch", json_string("1"))), KG_ERR_INPUT,
                  "\"epoch\" is not an integer");
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "quote", json_integer(5))), KG_ERR_INPUT,
                  "\"quote\" is not a string");
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "quote", json_string(""))), KG_ERR_INPUT,
                  "\"quote\" is empty");
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "quote", json_string("0x00"))), KG_ERR_INPUT,
                  "\"attestation_hash\" is not keccak256 of \"quote\"");
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "device_id", json_string("0x11"))),
                  KG_ERR_INPUT, "\"device_id\" has 1 bytes, not 32");
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "mr_aggregated", json_string("0xzz"))),
                  KG_ERR_INPUT, "\"mr_aggregated\"");
}

static void keys_are_checked(void **state)
{
    (void)state;
    kg_epoch_proposal p;
    /* k256: x not on the curve, an uncompressed key, one byte short */
    char bad[KG_HEX_SIZE(65)];
    snprintf(bad, sizeof(bad), "02%064x", 5u); /* 5^3 + 7 = 132 is no square mod p */
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "k256_pubkey", json_string(bad))),
                  KG_ERR_INPUT, "\"k256_pubkey\"");
    uint8_t full[KG_K256_PUB_UNCOMPRESSED_LEN];
    KG_ASSERT_OK(kg_k256_pub_decompress(full, A.k256_pub, KG_K256_PUB_LEN));
    KG_ASSERT_OK(kg_hex_encode(bad, sizeof(bad), full, sizeof(full)));
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "k256_pubkey", json_string(bad))),
                  KG_ERR_TOO_LARGE, "\"k256_pubkey\": hex string decodes to 65 bytes, max 33");
    bad[64] = '\0';
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "k256_pubkey", json_string(bad))),
                  KG_ERR_INPUT, "\"k256_pubkey\" has 32 bytes, not 33");
    /* CA: not DER, a secp256k1 key, bytes after it, more than 512 bytes */
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "ca_pubkey", json_string("3059"))),
                  KG_ERR_INPUT, "\"ca_pubkey\" is not a SubjectPublicKeyInfo");
    EVP_PKEY *k1 = EVP_EC_gen("secp256k1");
    assert_non_null(k1);
    uint8_t der[KG_EPOCH_PROPOSAL_MAX_CA_SPKI];
    size_t der_len;
    der_of(der, &der_len, k1);
    EVP_PKEY_free(k1);
    char hex[KG_HEX_SIZE(KG_EPOCH_PROPOSAL_MAX_CA_SPKI + 1)];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), der, der_len));
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "ca_pubkey", json_string(hex))), KG_ERR_INPUT,
                  "\"ca_pubkey\" is not a P-256 key");
    snprintf(hex, sizeof(hex), "%s00", A.ca);
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "ca_pubkey", json_string(hex))), KG_ERR_INPUT,
                  "\"ca_pubkey\" has bytes after its SubjectPublicKeyInfo");
    memset(hex, 'a', 2 * (KG_EPOCH_PROPOSAL_MAX_CA_SPKI + 1));
    hex[2 * (KG_EPOCH_PROPOSAL_MAX_CA_SPKI + 1)] = '\0';
    KG_ASSERT_ERR(parse_json(&p, 1, answer_json(NULL, "ca_pubkey", json_string(hex))),
                  KG_ERR_TOO_LARGE, "\"ca_pubkey\"");
}

static void not_an_answer(void **state)
{
    (void)state;
    kg_epoch_proposal p;
    KG_ASSERT_ERR(kg_epoch_proposal_parse(&p, 1, "{\"epoch\":", 9), KG_ERR_INPUT, "not JSON");
    KG_ASSERT_ERR(kg_epoch_proposal_parse(&p, 1, "[1]", 3), KG_ERR_INPUT, "not a JSON object");
    const char *dup = "{\"epoch\":1,\"epoch\":1}";
    KG_ASSERT_ERR(kg_epoch_proposal_parse(&p, 1, dup, strlen(dup)), KG_ERR_INPUT, "not JSON");
    KG_ASSERT_ERR(kg_epoch_proposal_parse(&p, 1, "{}", KG_EPOCH_PROPOSAL_MAX_TEXT + 1),
                  KG_ERR_TOO_LARGE, "larger than");
}

/* rootEpoch(uint32)'s return data for (3 retiring, a P-256 SPKI, the generator's compressed key,
 * 1767225600, 0x11..11), as `cast abi-encode "f(uint8,bytes,bytes,uint64,bytes32)" ...` wrote
 * it: the contract's encoding by another implementation than kg_abi_encode. */
static const char CAST_ROOT_EPOCH[] =
    "0000000000000000000000000000000000000000000000000000000000000003"
    "00000000000000000000000000000000000000000000000000000000000000a0"
    "0000000000000000000000000000000000000000000000000000000000000120"
    "000000000000000000000000000000000000000000000000000000006955b900"
    "1111111111111111111111111111111111111111111111111111111111111111"
    "000000000000000000000000000000000000000000000000000000000000005b"
    "3059301306072a8648ce3d020106082a8648ce3d030107034200041e369b6f10"
    "a7e8d8044d1c14b06c55af6bdb013a898c905b1b948322650a258c1027d4a46c"
    "f8452b19e86b14cebb37e793b7a805bab4ca72d66b90f7a4c5278e0000000000"
    "0000000000000000000000000000000000000000000000000000000000000021"
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817"
    "9800000000000000000000000000000000000000000000000000000000000000";

static void root_epoch_answer_from_cast(void **state)
{
    (void)state;
    kg_buf b;
    kg_eth_root_epoch_info e;
    kg_test_hex(&b, CAST_ROOT_EPOCH);
    KG_ASSERT_OK(kg_eth_root_epoch_decode(&e, b.data, b.len));
    assert_int_equal(e.status, KG_EPOCH_RETIRING);
    assert_int_equal(e.ca_spki_len, 91);
    assert_int_equal(e.ca_spki[0], 0x30);
    assert_int_equal(e.ca_spki[90], 0x8e);
    kg_test_assert_hex(e.k256_pub, KG_K256_PUB_LEN,
                       "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    assert_int_equal(e.activates_at, 1767225600);
    assert_int_equal(e.attestation_hash[0], 0x11);
    /* one byte less: the k256 key's length word no longer fits */
    assert_true(kg_failed(kg_eth_root_epoch_decode(&e, b.data, b.len - 32)));
    kg_error_clear();
    kg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_answer_parses),
        cmocka_unit_test(each_wrong_member_is_named),
        cmocka_unit_test(keys_are_checked),
        cmocka_unit_test(not_an_answer),
        cmocka_unit_test(root_epoch_answer_from_cast),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
