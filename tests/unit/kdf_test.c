/* kdf_test.c - the dstack-compatible derivation against every value of tests/vectors/kdf.json,
 * plus the input checks (lengths, ranges, root-key JSON). */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/kdf.h"

typedef struct fixture {
    json_t *v;
    kg_root_keys root;
    uint8_t app_id[KG_APP_ID_LEN];
    uint8_t instance_id[KG_INSTANCE_ID_LEN];
    uint64_t timestamp;
} fixture;

static const char *vstr(json_t *v, const char *obj, const char *field)
{
    const char *s = json_string_value(json_object_get(json_object_get(v, obj), field));
    if (s == NULL)
        fail_msg("vector %s.%s missing", obj, field);
    return s;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->v = kg_test_load_json("kdf.json");
    KG_ASSERT_OK(
        kg_hex_decode_exact(f->root.ca_scalar, 32, vstr(f->v, "inputs", "root_ca_scalar")));
    KG_ASSERT_OK(
        kg_hex_decode_exact(f->root.k256_scalar, 32, vstr(f->v, "inputs", "root_k256_scalar")));
    KG_ASSERT_OK(kg_hex_decode_exact(f->app_id, 20, vstr(f->v, "inputs", "app_id")));
    KG_ASSERT_OK(kg_hex_decode_exact(f->instance_id, 20, vstr(f->v, "inputs", "instance_id")));
    char *end = NULL;
    f->timestamp = strtoull(vstr(f->v, "inputs", "env_pubkey_timestamp"), &end, 10);
    assert_true(end != NULL && *end == '\0' && f->timestamp > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    json_decref(f->v);
    kg_kdf_root_keys_wipe(&f->root);
    free(f);
    return 0;
}

/* dstack's published vector: derive_dh_secret(root, ["context one", "context two"]). */
static void dstack_reference_dh_secret(void **state)
{
    fixture *f = *state;
    json_t *ref = json_object_get(f->v, "dstack_reference");
    json_t *ctxs = json_object_get(ref, "contexts");
    assert_int_equal(json_array_size(ctxs), 2);
    const void *parts[2];
    size_t lens[2];
    for (size_t i = 0; i < 2; i++) {
        parts[i] = json_string_value(json_array_get(ctxs, i));
        lens[i] = json_string_length(json_array_get(ctxs, i));
    }
    /* The reference's root is given as PKCS#8: its key must be the inputs' root CA scalar. */
    kg_buf der;
    kg_test_hex(&der, vstr(f->v, "dstack_reference", "root_ca_pkcs8_der"));
    kg_p256_key *k = NULL;
    uint8_t root[32], out[32];
    KG_ASSERT_OK(kg_p256_from_pem(&k, (const char *)der.data, der.len));
    KG_ASSERT_OK(kg_p256_scalar(root, k));
    KG_ASSERT_OK(kg_kdf_dh_secret(out, root, parts, lens, 2));
    kg_test_assert_hex(out, 32, vstr(f->v, "dstack_reference", "expected_dh_secret"));
    /* The contexts are concatenated without separators: one joined context gives the same. */
    const void *joined[] = {"context onecontext two"};
    const size_t jl[] = {22};
    KG_ASSERT_OK(kg_kdf_dh_secret(out, root, joined, jl, 1));
    kg_test_assert_hex(out, 32, vstr(f->v, "dstack_reference", "expected_dh_secret"));
    kg_p256_free(k);
    kg_buf_free(&der);
}

static void app_keys_match_vectors(void **state)
{
    fixture *f = *state;
    kg_app_keys k;
    KG_ASSERT_OK(kg_kdf_app_keys(&k, &f->root, f->app_id, f->instance_id, KG_INSTANCE_ID_LEN));
    kg_test_assert_hex(k.ca_scalar, 32, vstr(f->v, "expected", "app_ca_scalar"));
    kg_test_assert_hex(k.ca_pub, 65, vstr(f->v, "expected", "app_ca_pubkey_uncompressed"));
    kg_test_assert_hex(k.disk_key, 32, vstr(f->v, "expected", "disk_crypt_key"));
    kg_test_assert_hex(k.env_key, 32, vstr(f->v, "expected", "env_crypt_key"));
    kg_test_assert_hex(k.env_pub, 32, vstr(f->v, "expected", "env_crypt_pubkey_x25519"));
    kg_test_assert_hex(k.k256_scalar, 32, vstr(f->v, "expected", "k256_key"));
    kg_test_assert_hex(k.k256_pub, 33, vstr(f->v, "expected", "k256_pubkey_compressed"));
    kg_test_assert_hex(k.k256_signature, 65, vstr(f->v, "expected", "k256_signature"));

    /* The k256_signature recovers to the published root secp256k1 key. */
    uint8_t root_pub[33];
    KG_ASSERT_OK(
        kg_hex_decode_exact(root_pub, 33, vstr(f->v, "inputs", "root_k256_pubkey_compressed")));
    uint8_t digest[32], msg[18 + 20 + 33];
    memcpy(msg, "dstack-kms-issued:", 18);
    memcpy(msg + 18, f->app_id, 20);
    memcpy(msg + 38, k.k256_pub, 33);
    kg_keccak256(digest, msg, sizeof(msg));
    KG_ASSERT_OK(kg_k256_verify_recoverable(root_pub, k.k256_signature, digest));

    /* The agent's check of a GetAppKey reply: the same signature, through the kdf API; any
     * other root key, app id or app key, or a flipped bit, is refused. */
    KG_ASSERT_OK(kg_kdf_k256_signature_verify(root_pub, f->app_id, k.k256_pub, k.k256_signature));
    uint8_t other_app[20];
    memcpy(other_app, f->app_id, 20);
    other_app[0] ^= 1;
    KG_ASSERT_ERR(kg_kdf_k256_signature_verify(root_pub, other_app, k.k256_pub, k.k256_signature),
                  KG_ERR_VERIFY, "k256_signature is not the KMS root key's signature");
    KG_ASSERT_ERR(kg_kdf_k256_signature_verify(k.k256_pub, f->app_id, k.k256_pub, k.k256_signature),
                  KG_ERR_VERIFY, "k256_signature is not the KMS root key's signature");
    uint8_t bad[65];
    memcpy(bad, k.k256_signature, 65);
    bad[10] ^= 1;
    assert_true(kg_failed(kg_kdf_k256_signature_verify(root_pub, f->app_id, k.k256_pub, bad)));
    kg_error_clear();
    kg_kdf_app_keys_wipe(&k);
}

/* Only the disk key depends on instance_id; the app-level keys survive a new instance. */
static void instance_id_only_changes_disk_key(void **state)
{
    fixture *f = *state;
    kg_app_keys a, b;
    KG_ASSERT_OK(kg_kdf_app_keys(&a, &f->root, f->app_id, f->instance_id, 20));
    KG_ASSERT_OK(kg_kdf_app_keys(&b, &f->root, f->app_id, NULL, 0));
    assert_memory_not_equal(a.disk_key, b.disk_key, 32);
    assert_memory_equal(a.ca_scalar, b.ca_scalar, 32);
    assert_memory_equal(a.env_key, b.env_key, 32);
    assert_memory_equal(a.k256_scalar, b.k256_scalar, 32);
    assert_memory_equal(a.k256_signature, b.k256_signature, 65);
    /* The empty-instance disk key is the plain dstack derivation over app_id||label. */
    uint8_t want[32];
    const void *parts[] = {f->app_id, "app-disk-crypt-key"};
    const size_t lens[] = {20, 18};
    KG_ASSERT_OK(kg_kdf_dh_secret(want, f->root.ca_scalar, parts, lens, 2));
    assert_memory_equal(b.disk_key, want, 32);

    /* Another app id changes everything. */
    uint8_t other[20];
    memcpy(other, f->app_id, 20);
    other[19] ^= 1;
    KG_ASSERT_OK(kg_kdf_app_keys(&b, &f->root, other, f->instance_id, 20));
    assert_memory_not_equal(a.ca_scalar, b.ca_scalar, 32);
    assert_memory_not_equal(a.disk_key, b.disk_key, 32);
    assert_memory_not_equal(a.env_key, b.env_key, 32);
    assert_memory_not_equal(a.k256_scalar, b.k256_scalar, 32);
    kg_kdf_app_keys_wipe(&a);
    kg_kdf_app_keys_wipe(&b);
}

/* A release with the app's public half known derives the same keys as a full derivation, for
 * another instance too (the public half does not depend on the instance). */
static void known_public_half_gives_the_same_keys(void **state)
{
    fixture *f = *state;
    kg_app_keys full, fast;
    kg_app_public pub;
    KG_ASSERT_OK(kg_kdf_app_keys(&full, &f->root, f->app_id, f->instance_id, 20));
    kg_kdf_app_public(&pub, &full);
    KG_ASSERT_OK(kg_kdf_app_keys_known(&fast, &f->root, f->app_id, f->instance_id, 20, &pub));
    assert_memory_equal(&full, &fast, sizeof(full));
    KG_ASSERT_OK(kg_kdf_app_keys(&full, &f->root, f->app_id, NULL, 0));
    KG_ASSERT_OK(kg_kdf_app_keys_known(&fast, &f->root, f->app_id, NULL, 0, &pub));
    assert_memory_equal(&full, &fast, sizeof(full));
    /* bad input is refused as without the public half, and the output wiped */
    KG_ASSERT_ERR(kg_kdf_app_keys_known(&fast, &f->root, f->app_id, f->instance_id, 7, &pub),
                  KG_ERR_INPUT, "instance_id must be empty or 20 bytes");
    kg_app_keys zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&fast, &zero, sizeof(zero));
    kg_kdf_app_keys_wipe(&full);
}

/* The cache returns only what was put for the same root and app; a colliding app replaces it. */
static void app_public_cache_keys_by_root_and_app(void **state)
{
    (void)state;
    kg_app_public_cache *c = NULL;
    KG_ASSERT_ERR(kg_app_public_cache_new(&c, 0), KG_ERR_USAGE, "slots");
    KG_ASSERT_OK(kg_app_public_cache_new(&c, 4));
    uint8_t root[KG_K256_PUB_LEN], other_root[KG_K256_PUB_LEN];
    uint8_t app[KG_APP_ID_LEN], collide[KG_APP_ID_LEN];
    memset(root, 2, sizeof(root));
    memset(other_root, 3, sizeof(other_root));
    memset(app, 0xa1, sizeof(app));
    memcpy(collide, app, sizeof(app));
    collide[19] ^= 1; /* same first 8 bytes: the same slot */
    kg_app_public a, b, got;
    memset(&a, 0x11, sizeof(a));
    memset(&b, 0x22, sizeof(b));
    assert_false(kg_app_public_cache_get(c, root, app, &got));
    kg_app_public_cache_put(c, root, app, &a);
    assert_true(kg_app_public_cache_get(c, root, app, &got));
    assert_memory_equal(&got, &a, sizeof(a));
    assert_false(kg_app_public_cache_get(c, other_root, app, &got));
    assert_false(kg_app_public_cache_get(c, root, collide, &got));
    kg_app_public_cache_put(c, root, collide, &b);
    assert_true(kg_app_public_cache_get(c, root, collide, &got));
    assert_memory_equal(&got, &b, sizeof(b));
    assert_false(kg_app_public_cache_get(c, root, app, &got));
    kg_app_public_cache_free(c);
    kg_app_public_cache_free(NULL);
}

static void app_keys_reject_bad_inputs(void **state)
{
    fixture *f = *state;
    kg_app_keys k;
    static const uint8_t zero[sizeof(kg_app_keys)];
    memset(&k, 0x5a, sizeof(k));
    KG_ASSERT_ERR(kg_kdf_app_keys(&k, &f->root, f->app_id, f->instance_id, 19), KG_ERR_INPUT,
                  "instance_id must be empty or 20 bytes, got 19");
    assert_memory_equal(&k, zero, sizeof(k)); /* wiped on failure */
    KG_ASSERT_ERR(kg_kdf_app_keys(&k, &f->root, f->app_id, f->instance_id, 32), KG_ERR_INPUT,
                  "got 32");

    kg_root_keys bad = f->root;
    memset(bad.ca_scalar, 0, 32);
    KG_ASSERT_ERR(kg_kdf_root_keys_check(&bad), KG_ERR_INPUT,
                  "root CA key: P-256 scalar out of range");
    bad = f->root;
    memset(bad.k256_scalar, 0xff, 32);
    KG_ASSERT_ERR(kg_kdf_root_keys_check(&bad), KG_ERR_INPUT,
                  "root secp256k1 key: secp256k1 scalar out of range");
    /* An invalid RK cannot sign: the derivation fails and nothing leaks out. */
    memset(&k, 0x5a, sizeof(k));
    KG_ASSERT_ERR(kg_kdf_app_keys(&k, &bad, f->app_id, NULL, 0), KG_ERR_INPUT,
                  "secp256k1 scalar out of range");
    assert_memory_equal(&k, zero, sizeof(k));
    KG_ASSERT_OK(kg_kdf_root_keys_check(&f->root));
}

static void env_pubkey_signatures(void **state)
{
    fixture *f = *state;
    uint8_t env_pub[32], sig[65], root_pub[33];
    KG_ASSERT_OK(
        kg_hex_decode_exact(env_pub, 32, vstr(f->v, "expected", "env_crypt_pubkey_x25519")));
    KG_ASSERT_OK(
        kg_hex_decode_exact(root_pub, 33, vstr(f->v, "inputs", "root_k256_pubkey_compressed")));
    KG_ASSERT_OK(kg_kdf_env_pubkey_signature(sig, f->root.k256_scalar, f->app_id, env_pub));
    kg_test_assert_hex(sig, 65, vstr(f->v, "expected", "env_pubkey_signature_legacy"));
    KG_ASSERT_OK(
        kg_kdf_env_pubkey_signature_v1(sig, f->root.k256_scalar, f->app_id, f->timestamp, env_pub));
    kg_test_assert_hex(sig, 65, vstr(f->v, "expected", "env_pubkey_signature_v1"));

    KG_ASSERT_OK(kg_kdf_env_pubkey_verify_v1(root_pub, f->app_id, f->timestamp, env_pub, sig));
    /* A replayed signature with another timestamp, key or app does not verify. */
    KG_ASSERT_ERR(kg_kdf_env_pubkey_verify_v1(root_pub, f->app_id, f->timestamp + 1, env_pub, sig),
                  KG_ERR_VERIFY, "env public key signature: ");
    env_pub[0] ^= 1;
    KG_ASSERT_ERR(kg_kdf_env_pubkey_verify_v1(root_pub, f->app_id, f->timestamp, env_pub, sig),
                  KG_ERR_VERIFY, "not made by the expected key");
}

static void get_key_matches_vector(void **state)
{
    fixture *f = *state;
    kg_app_keys k;
    kg_get_key gk;
    KG_ASSERT_OK(kg_kdf_app_keys(&k, &f->root, f->app_id, f->instance_id, 20));
    const char *path = vstr(f->v, "inputs", "get_key_path");
    const char *purpose = vstr(f->v, "inputs", "get_key_purpose");
    KG_ASSERT_OK(kg_kdf_get_key(&gk, k.k256_scalar, k.k256_signature, path, strlen(path), purpose,
                                strlen(purpose)));
    kg_test_assert_hex(gk.key, 32, vstr(f->v, "expected", "get_key_key"));
    kg_test_assert_hex(gk.pub, 33, vstr(f->v, "expected", "get_key_pubkey_compressed"));
    json_t *chain = json_object_get(json_object_get(f->v, "expected"), "get_key_signature_chain");
    assert_int_equal(json_array_size(chain), 2);
    for (size_t i = 0; i < 2; i++)
        kg_test_assert_hex(gk.signature_chain[i], 65, json_string_value(json_array_get(chain, i)));

    /* The first link recovers to the app key, as the SDK's verifier expects. */
    char pub_hex[67];
    KG_ASSERT_OK(kg_hex_encode(pub_hex, sizeof(pub_hex), gk.pub, 33));
    kg_buf msg;
    kg_buf_init(&msg, 1024);
    KG_ASSERT_OK(kg_buf_printf(&msg, "%s:%s", purpose, pub_hex));
    uint8_t digest[32];
    kg_keccak256(digest, msg.data, msg.len);
    KG_ASSERT_OK(kg_k256_verify_recoverable(k.k256_pub, gk.signature_chain[0], digest));
    kg_buf_free(&msg);

    /* Different paths give different keys; an empty path is allowed. */
    kg_get_key g2;
    KG_ASSERT_OK(kg_kdf_get_key(&g2, k.k256_scalar, k.k256_signature, "", 0, "", 0));
    assert_memory_not_equal(g2.key, gk.key, 32);

    char big[KG_KDF_MAX_PATH_LEN + 1];
    memset(big, 'a', sizeof(big));
    memset(&g2, 0x77, sizeof(g2));
    KG_ASSERT_ERR(kg_kdf_get_key(&g2, k.k256_scalar, k.k256_signature, big, sizeof(big), "p", 1),
                  KG_ERR_TOO_LARGE, "GetKey path of 513 bytes exceeds 512");
    static const uint8_t zero[sizeof(kg_get_key)];
    assert_memory_equal(&g2, zero, sizeof(g2));
    KG_ASSERT_ERR(kg_kdf_get_key(&g2, k.k256_scalar, k.k256_signature, "p", 1, big, sizeof(big)),
                  KG_ERR_TOO_LARGE, "GetKey purpose of 513 bytes exceeds 512");
    kg_kdf_get_key_wipe(&gk);
    kg_kdf_app_keys_wipe(&k);
}

static void root_keys_json(void **state)
{
    fixture *f = *state;
    kg_root_keys r;
    kg_buf j;
    kg_buf_init(&j, 4096);
    KG_ASSERT_OK(kg_buf_printf(&j, "{\"ca_scalar\":\"%s\",\"k256_scalar\":\"0x%s\",\"note\":1}",
                               vstr(f->v, "inputs", "root_ca_scalar"),
                               vstr(f->v, "inputs", "root_k256_scalar")));
    KG_ASSERT_OK(kg_kdf_root_keys_parse_json(&r, (const char *)j.data, j.len));
    assert_memory_equal(&r, &f->root, sizeof(r));

    static const kg_root_keys zero;
    struct {
        const char *json;
        const char *err;
    } bad[] = {
        {"", "invalid JSON"},
        {"[]", "top level must be an object"},
        {"{\"k256_scalar\":\"00\"}", "'ca_scalar' missing or not a string"},
        {"{\"ca_scalar\":1}", "'ca_scalar' missing or not a string"},
        {"{\"ca_scalar\":\"0102\",\"k256_scalar\":\"01\"}",
         "'ca_scalar' must be 64 hex digits (32 bytes), got 4 characters"},
        {"{\"ca_scalar\":\"0000000000000000000000000000000000000000000000000000000000000001\","
         "\"k256_scalar\":\"zz00000000000000000000000000000000000000000000000000000000000001\"}",
         "root keys: 'k256_scalar'"},
        {"{\"ca_scalar\":\"0000000000000000000000000000000000000000000000000000000000000000\","
         "\"k256_scalar\":\"0000000000000000000000000000000000000000000000000000000000000001\"}",
         "root CA key: P-256 scalar out of range"},
        {"{\"ca_scalar\":\"0000000000000000000000000000000000000000000000000000000000000001\","
         "\"ca_scalar\":\"0000000000000000000000000000000000000000000000000000000000000001\"}",
         "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0x33, sizeof(r));
        KG_ASSERT_ERR(kg_kdf_root_keys_parse_json(&r, bad[i].json, strlen(bad[i].json)),
                      KG_ERR_INPUT, bad[i].err);
        assert_memory_equal(&r, &zero, sizeof(r));
    }
    kg_buf_free(&j);

    KG_ASSERT_OK(kg_kdf_root_keys_generate(&r));
    KG_ASSERT_OK(kg_kdf_root_keys_check(&r));
    assert_memory_not_equal(&r, &zero, sizeof(r));
    kg_kdf_root_keys_wipe(&r);
    assert_memory_equal(&r, &zero, sizeof(r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dstack_reference_dh_secret),
        cmocka_unit_test(app_keys_match_vectors),
        cmocka_unit_test(instance_id_only_changes_disk_key),
        cmocka_unit_test(known_public_half_gives_the_same_keys),
        cmocka_unit_test(app_public_cache_keys_by_root_and_app),
        cmocka_unit_test(app_keys_reject_bad_inputs),
        cmocka_unit_test(env_pubkey_signatures),
        cmocka_unit_test(get_key_matches_vector),
        cmocka_unit_test(root_keys_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
