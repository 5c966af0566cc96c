/* epochs_test.c - root-key epochs on the agent's side (docs/design.md, "Root-key epochs"):
 * rootEpoch()'s answer decoded strictly, GetAppKey replies with and without "root_epoch" and
 * "previous_keys" (shape refusals with their messages), their verification against the chain's
 * epochs (a table standing in for rootEpoch answers), an env sealed to a previous epoch, and the
 * socket API's GetKey "root_epoch" and Info's epochs. The keys are real derivations under two
 * generated roots, so every signature checked here is one a KMS would make. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keygate/agent_boot.h"
#include "keygate/envcrypt.h"
#include "keygate/kdf.h"
#include "keygate/sim.h"

/* ---- the world: two root epochs, one app, and what the chain says of each epoch -------------- */

#define N_EPOCHS 2

typedef struct world {
    kg_root_keys root[N_EPOCHS];
    uint8_t root_pub[N_EPOCHS][KG_K256_PUB_LEN];
    kg_app_keys app[N_EPOCHS];
    uint8_t app_id[20];
    kg_eth_root_epoch_info chain[N_EPOCHS + 1]; /* rootEpoch(n) answers; beyond: none */
    unsigned calls;
    bool chain_down;
} world;

static world W;

static kg_result table_root_epoch(void *ctx, uint32_t epoch, kg_eth_root_epoch_info *out)
{
    world *w = ctx;
    w->calls++;
    KG_ENSURE(!w->chain_down, KG_ERR_NETWORK, "chain node unreachable (test)");
    memset(out, 0, sizeof(*out));
    if (epoch <= N_EPOCHS)
        *out = w->chain[epoch];
    return KG_OK;
}

static const kg_agent_epoch_source SRC = {.ctx = &W, .root_epoch = table_root_epoch};

static void chain_says(uint32_t epoch, uint8_t status, const uint8_t k256[KG_K256_PUB_LEN])
{
    W.chain[epoch].status = status;
    memcpy(W.chain[epoch].k256_pub, k256, KG_K256_PUB_LEN);
}

static int setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof(W));
    for (size_t i = 0; i < sizeof(W.app_id); i++)
        W.app_id[i] = (uint8_t)(0xa0 + i);
    for (int e = 0; e < N_EPOCHS; e++) {
        KG_ASSERT_OK(kg_kdf_root_keys_generate(&W.root[e]));
        KG_ASSERT_OK(kg_k256_public(W.root_pub[e], W.root[e].k256_scalar));
        KG_ASSERT_OK(kg_kdf_app_keys(&W.app[e], &W.root[e], W.app_id, NULL, 0));
    }
    /* After one rotation: epoch 1 current, epoch 0 retiring. */
    chain_says(0, KG_EPOCH_RETIRING, W.root_pub[0]);
    chain_says(1, KG_EPOCH_CURRENT, W.root_pub[1]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int e = 0; e < N_EPOCHS; e++) {
        kg_kdf_root_keys_wipe(&W.root[e]);
        kg_kdf_app_keys_wipe(&W.app[e]);
    }
    return 0;
}

static void set_hex(json_t *o, const char *name, const uint8_t *b, size_t n)
{
    char hex[2 * 65 + 1];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), b, n));
    assert_int_equal(json_object_set_new(o, name, json_string(hex)), 0);
}

/* The dstack members of a GetAppKey reply for the app's keys under `epoch`. */
static json_t *dstack_reply(int epoch)
{
    const kg_app_keys *k = &W.app[epoch];
    json_t *r = json_object();
    json_object_set_new(r, "ca_cert", json_string("-----BEGIN CERTIFICATE-----\nx\n"));
    set_hex(r, "disk_crypt_key", k->disk_key, 32);
    set_hex(r, "env_crypt_key", k->env_key, 32);
    set_hex(r, "k256_key", k->k256_scalar, 32);
    set_hex(r, "k256_signature", k->k256_signature, 65);
    json_object_set_new(r, "gateway_app_id", json_string(""));
    return r;
}

/* A "previous_keys" entry: the app's keys under `epoch`, labelled `label`. */
static json_t *previous_entry(int epoch, json_int_t label)
{
    const kg_app_keys *k = &W.app[epoch];
    json_t *p = json_object();
    json_object_set_new(p, "root_epoch", json_integer(label));
    set_hex(p, "disk_crypt_key", k->disk_key, 32);
    set_hex(p, "env_crypt_key", k->env_key, 32);
    set_hex(p, "k256_key", k->k256_scalar, 32);
    set_hex(p, "k256_signature", k->k256_signature, 65);
    return p;
}

/* The reply after one rotation: epoch 1's keys, epoch 0's as previous. */
static json_t *rotated_reply(void)
{
    json_t *r = dstack_reply(1);
    json_object_set_new(r, "root_epoch", json_integer(1));
    json_t *arr = json_array();
    json_array_append_new(arr, previous_entry(0, 0));
    json_object_set_new(r, "previous_keys", arr);
    return r;
}

static kg_result parse_json(kg_agent_keys *k, json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    kg_result rc = kg_agent_keys_parse(k, text, strlen(text));
    free(text);
    json_decref(reply);
    return rc;
}

static void assert_wiped(const kg_agent_keys *k)
{
    static const kg_agent_keys zero;
    assert_memory_equal(k, &zero, sizeof(*k));
}

/* ---- rootEpoch(uint32)'s answer ---------------------------------------------------------------
 */

static kg_result encode_epoch_answer(kg_buf *out, uint64_t status, const uint8_t *ca, size_t ca_len,
                                     const uint8_t *k256, size_t k256_len)
{
    uint8_t hash[32];
    memset(hash, 0x11, sizeof(hash));
    kg_abi_value v[5] = {kg_abi_uint64(status), kg_abi_bytes(ca, ca_len),
                         kg_abi_bytes(k256, k256_len), kg_abi_uint64(1767225600),
                         kg_abi_bytes32(hash)};
    return kg_abi_encode(out, v, 5);
}

static void root_epoch_answer_decodes_strictly(void **state)
{
    (void)state;
    uint8_t spki[91];
    memset(spki, 0x30, sizeof(spki));
    uint8_t full[KG_K256_PUB_UNCOMPRESSED_LEN];
    KG_ASSERT_OK(kg_k256_public_uncompressed(full, W.root[1].k256_scalar));
    kg_eth_root_epoch_info e;
    kg_buf b;
    kg_buf_init(&b, 4096);

    /* The compressed key, as the contract stores it. */
    KG_ASSERT_OK(encode_epoch_answer(&b, 3, spki, sizeof(spki), W.root_pub[1], 33));
    KG_ASSERT_OK(kg_eth_root_epoch_decode(&e, b.data, b.len));
    assert_int_equal(e.status, KG_EPOCH_RETIRING);
    assert_memory_equal(e.k256_pub, W.root_pub[1], 33);
    assert_int_equal(e.ca_spki_len, sizeof(spki));
    assert_int_equal(e.activates_at, 1767225600);
    assert_int_equal(e.attestation_hash[0], 0x11);
    assert_string_equal(kg_epoch_status_name(e.status), "retiring");

    /* An uncompressed key is read as the same point. */
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 2, spki, sizeof(spki), full, sizeof(full)));
    KG_ASSERT_OK(kg_eth_root_epoch_decode(&e, b.data, b.len));
    assert_memory_equal(e.k256_pub, W.root_pub[1], 33);

    /* An epoch never proposed: status none, no keys. */
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 0, NULL, 0, NULL, 0));
    KG_ASSERT_OK(kg_eth_root_epoch_decode(&e, b.data, b.len));
    assert_int_equal(e.status, KG_EPOCH_NONE);

    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 5, spki, sizeof(spki), W.root_pub[1], 33));
    KG_ASSERT_ERR(kg_eth_root_epoch_decode(&e, b.data, b.len), KG_ERR_INPUT, "unknown status 5");
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 0, spki, sizeof(spki), W.root_pub[1], 33));
    KG_ASSERT_ERR(kg_eth_root_epoch_decode(&e, b.data, b.len), KG_ERR_INPUT,
                  "status none carries keys");
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 2, NULL, 0, W.root_pub[1], 33));
    KG_ASSERT_ERR(kg_eth_root_epoch_decode(&e, b.data, b.len), KG_ERR_INPUT,
                  "a current epoch without a root CA key");
    uint8_t bad[33] = {0x02}; /* x = 0 is not on secp256k1 */
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 2, spki, sizeof(spki), bad, sizeof(bad)));
    KG_ASSERT_ERR(kg_eth_root_epoch_decode(&e, b.data, b.len), KG_ERR_INPUT,
                  "rootEpoch().k256Pubkey: secp256k1 public key is not a point on the curve");
    uint8_t big[600] = {0};
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 2, big, sizeof(big), W.root_pub[1], 33));
    assert_true(kg_failed(kg_eth_root_epoch_decode(&e, b.data, b.len)));
    b.len = 0;
    KG_ASSERT_OK(encode_epoch_answer(&b, 2, spki, sizeof(spki), W.root_pub[1], 33));
    assert_true(kg_failed(kg_eth_root_epoch_decode(&e, b.data, b.len - 32))); /* truncated */
    kg_error_clear();
    kg_buf_free(&b);
}

/* ---- parsing GetAppKey replies --------------------------------------------------------------- */

static void reply_without_epochs_is_todays(void **state)
{
    (void)state;
    kg_agent_keys k;
    KG_ASSERT_OK(parse_json(&k, dstack_reply(0)));
    assert_false(k.has_root_epoch);
    assert_int_equal(k.root_epoch, 0);
    assert_int_equal(k.n_previous, 0);
    /* Nothing to verify: no chain read is made, nothing changes. */
    KG_ASSERT_OK(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[0], &SRC, NULL, NULL));
    assert_int_equal(W.calls, 0);
    assert_memory_equal(k.k256_key, W.app[0].k256_scalar, 32);
    kg_agent_keys_wipe(&k);

    /* A KMS that knows epochs but never rotated says epoch 0: still no chain read. */
    json_t *r = dstack_reply(0);
    json_object_set_new(r, "root_epoch", json_integer(0));
    KG_ASSERT_OK(parse_json(&k, r));
    assert_true(k.has_root_epoch);
    KG_ASSERT_OK(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[0], &SRC, NULL, NULL));
    assert_int_equal(W.calls, 0);
    kg_agent_keys_wipe(&k);
}

static void parses_previous_keys(void **state)
{
    (void)state;
    kg_agent_keys k;
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    assert_true(k.has_root_epoch);
    assert_int_equal(k.root_epoch, 1);
    assert_memory_equal(k.k256_key, W.app[1].k256_scalar, 32);
    assert_int_equal(k.n_previous, 1);
    assert_int_equal(k.previous[0].root_epoch, 0);
    assert_memory_equal(k.previous[0].k256_key, W.app[0].k256_scalar, 32);
    assert_memory_equal(k.previous[0].k256_signature, W.app[0].k256_signature, 65);
    assert_memory_equal(k.previous[0].disk_key, W.app[0].disk_key, 32);
    assert_memory_equal(k.previous[0].env_key, W.app[0].env_key, 32);
    kg_agent_keys_wipe(&k);
    assert_wiped(&k);
}

/* Replaces previous_keys[0].<name> of a rotated reply by v. */
static json_t *with_previous_member(const char *name, json_t *v)
{
    json_t *r = rotated_reply();
    json_object_set_new(json_array_get(json_object_get(r, "previous_keys"), 0), name, v);
    return r;
}

static void refuses_malformed_epochs(void **state)
{
    (void)state;
    kg_agent_keys k;
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("root_epoch", json_integer(1))), KG_ERR_INPUT,
                  "previous_keys[0] is epoch 1, the current epoch itself");
    assert_wiped(&k);
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("root_epoch", json_integer(2))), KG_ERR_INPUT,
                  "previous_keys[0] is epoch 2, newer than the current epoch 1");
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("root_epoch", json_integer(-1))),
                  KG_ERR_INPUT, "'root_epoch' is not an epoch number");
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("root_epoch", json_string("0"))),
                  KG_ERR_INPUT, "'root_epoch' is not an epoch number");
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("k256_key", json_string("zz"))), KG_ERR_INPUT,
                  "'k256_key'");
    assert_wiped(&k);
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("env_crypt_key", json_null())), KG_ERR_INPUT,
                  "'env_crypt_key' missing or not a string");
    json_t *v = json_string("0000000000000000000000000000000000000000000000000000000000000000");
    KG_ASSERT_ERR(parse_json(&k, with_previous_member("k256_key", v)), KG_ERR_INPUT,
                  "previous_keys[0].k256_key");

    json_t *r = rotated_reply();
    json_array_append_new(json_object_get(r, "previous_keys"), previous_entry(0, 0));
    KG_ASSERT_ERR(parse_json(&k, r), KG_ERR_INPUT, "previous_keys names epoch 0 twice");

    r = rotated_reply();
    json_object_del(r, "root_epoch");
    KG_ASSERT_ERR(parse_json(&k, r), KG_ERR_INPUT, "'previous_keys' without 'root_epoch'");

    r = rotated_reply();
    json_object_set_new(r, "previous_keys", json_object());
    KG_ASSERT_ERR(parse_json(&k, r), KG_ERR_INPUT, "'previous_keys' is not an array");

    r = rotated_reply();
    json_object_set_new(r, "root_epoch", json_integer(4294967296LL));
    KG_ASSERT_ERR(parse_json(&k, r), KG_ERR_INPUT, "'root_epoch' is not an epoch number");

    r = rotated_reply();
    json_object_set_new(r, "root_epoch", json_integer(9));
    json_t *arr = json_array();
    for (int i = 0; i < 5; i++)
        json_array_append_new(arr, previous_entry(0, i));
    json_object_set_new(r, "previous_keys", arr);
    KG_ASSERT_ERR(parse_json(&k, r), KG_ERR_TOO_LARGE, "5 previous epochs, more than 4");
    assert_wiped(&k);

    /* An empty list is no previous epoch. */
    r = rotated_reply();
    json_object_set_new(r, "previous_keys", json_array());
    KG_ASSERT_OK(parse_json(&k, r));
    assert_int_equal(k.n_previous, 0);
    kg_agent_keys_wipe(&k);
}

/* ---- verification against the chain's epochs --------------------------------------------------
 */

static char g_note[512];
static unsigned g_notes;

static void take_note(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(g_note, sizeof(g_note), "%s", msg);
    g_notes++;
}

static void verifies_against_chain(void **state)
{
    (void)state;
    kg_agent_keys k;
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_OK(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, take_note, NULL));
    assert_int_equal(W.calls, 2); /* epoch 1 (current) and epoch 0 (previous) */
    assert_int_equal(k.n_previous, 1);
    assert_int_equal(g_notes, 0);
    kg_agent_keys_wipe(&k);

    /* Superseded after the KMS decided (the current epoch now retiring): still its keys. */
    chain_says(1, KG_EPOCH_RETIRING, W.root_pub[1]);
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_OK(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, take_note, NULL));
    kg_agent_keys_wipe(&k);
}

static void refuses_bad_previous_signature(void **state)
{
    (void)state;
    kg_agent_keys k;
    /* Epoch 0's app key with a signature by epoch 1's root (over epoch 1's app key). */
    char hex[131];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), W.app[1].k256_signature, 65));
    KG_ASSERT_OK(parse_json(&k, with_previous_member("k256_signature", json_string(hex))));
    KG_ASSERT_ERR(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, NULL, NULL),
                  KG_ERR_VERIFY,
                  "previous_keys of root epoch 0: k256_signature is not epoch 0's root key's "
                  "signature over this app's key");
    kg_agent_keys_wipe(&k);

    /* The right signature, but the chain publishes another key for epoch 0. */
    chain_says(0, KG_EPOCH_RETIRING, W.root_pub[1]);
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_ERR(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, NULL, NULL),
                  KG_ERR_VERIFY, "not epoch 0's root key's signature");
    kg_agent_keys_wipe(&k);

    /* Keys of another app signed by the right root. */
    chain_says(0, KG_EPOCH_RETIRING, W.root_pub[0]);
    uint8_t other[20] = {1};
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_ERR(kg_agent_epochs_verify(&k, other, W.root_pub[1], &SRC, NULL, NULL), KG_ERR_VERIFY,
                  "not epoch 0's root key's signature");
    kg_agent_keys_wipe(&k);
}

static void refuses_previous_not_retiring(void **state)
{
    (void)state;
    const uint8_t statuses[3] = {KG_EPOCH_NONE, KG_EPOCH_PROPOSED, KG_EPOCH_CURRENT};
    const char *names[3] = {"which is none on chain", "which is proposed on chain",
                            "which is current on chain"};
    for (int i = 0; i < 3; i++) {
        kg_agent_keys k;
        chain_says(0, statuses[i], W.root_pub[0]);
        KG_ASSERT_OK(parse_json(&k, rotated_reply()));
        KG_ASSERT_ERR(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, NULL, NULL),
                      KG_ERR_VERIFY, names[i]);
        kg_agent_keys_wipe(&k);
    }
}

static void drops_retired_previous(void **state)
{
    (void)state;
    kg_agent_keys k;
    static const kg_agent_epoch_keys zero;
    chain_says(0, KG_EPOCH_RETIRED, W.root_pub[0]);
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_OK(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, take_note, NULL));
    assert_int_equal(k.n_previous, 0);
    assert_memory_equal(&k.previous[0], &zero, sizeof(zero));  /* wiped */
    assert_memory_equal(k.k256_key, W.app[1].k256_scalar, 32); /* the current keys stay */
    assert_int_equal(g_notes, 1);
    assert_non_null(strstr(g_note, "root epoch 0 was retired on chain"));
    kg_agent_keys_wipe(&k);
}

static void refuses_current_epoch_mislabelled(void **state)
{
    (void)state;
    kg_agent_keys k;
    /* The reply says its keys are epoch 1's, but the trusted root key is epoch 0's. */
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_ERR(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[0], &SRC, NULL, NULL),
                  KG_ERR_VERIFY, "signed by another root key than epoch 1's on chain");
    kg_agent_keys_wipe(&k);

    chain_says(1, KG_EPOCH_PROPOSED, W.root_pub[1]);
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_ERR(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, NULL, NULL),
                  KG_ERR_VERIFY, "root epoch 1, which is proposed on chain, not current");
    kg_agent_keys_wipe(&k);
}

static void without_chain_previous_keys_are_not_kept(void **state)
{
    (void)state;
    kg_agent_keys k;
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_OK(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], NULL, take_note, NULL));
    assert_int_equal(k.n_previous, 0);
    assert_non_null(strstr(g_note, "cannot be verified and are not kept"));
    kg_agent_keys_wipe(&k);
}

static void chain_failure_fails_closed(void **state)
{
    (void)state;
    kg_agent_keys k;
    W.chain_down = true;
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    KG_ASSERT_ERR(kg_agent_epochs_verify(&k, W.app_id, W.root_pub[1], &SRC, NULL, NULL),
                  KG_ERR_NETWORK, "the reply's root epoch 1: chain node unreachable");
    kg_agent_keys_wipe(&k);
}

/* ---- the environment during a migration window ------------------------------------------------
 */

static void encrypt_env_to(kg_buf *ct, const uint8_t pub[KG_X25519_LEN])
{
    static const char pt[] = "{\"env\":[{\"key\":\"SECRET\",\"value\":\"s3\"}]}";
    ct->len = 0;
    KG_ASSERT_OK(kg_env_encrypt(ct, pub, pt, strlen(pt)));
}

static void env_of_previous_epoch_decrypts(void **state)
{
    (void)state;
    kg_agent_keys k;
    kg_env_list env;
    uint32_t epoch = 99;
    kg_buf ct;
    kg_buf_init(&ct, 4096);
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));

    encrypt_env_to(&ct, W.app[0].env_pub); /* made before the rotation */
    kg_env_list_init(&env);
    KG_ASSERT_OK(kg_agent_env_decrypt(&env, &epoch, &k, ct.data, ct.len));
    assert_int_equal(epoch, 0);
    assert_int_equal(env.count, 1);
    assert_string_equal(env.vars[0].value, "s3");
    kg_env_list_free(&env);

    encrypt_env_to(&ct, W.app[1].env_pub); /* re-encrypted to the current key */
    kg_env_list_init(&env);
    KG_ASSERT_OK(kg_agent_env_decrypt(&env, &epoch, &k, ct.data, ct.len));
    assert_int_equal(epoch, 1);
    kg_env_list_free(&env);

    uint8_t stranger[32], stranger_pub[32];
    memset(stranger, 0x42, sizeof(stranger));
    KG_ASSERT_OK(kg_x25519_public(stranger_pub, stranger));
    encrypt_env_to(&ct, stranger_pub);
    kg_env_list_init(&env);
    KG_ASSERT_ERR(kg_agent_env_decrypt(&env, &epoch, &k, ct.data, ct.len), KG_ERR_VERIFY,
                  "opens with neither the current env key (root epoch 1) nor those of the 1 "
                  "previous epoch(s)");
    assert_int_equal(env.count, 0);
    /* A malformed envelope is refused as such, without trying other keys. */
    KG_ASSERT_ERR(kg_agent_env_decrypt(&env, &epoch, &k, ct.data, 20), KG_ERR_TRUNCATED,
                  "env ciphertext");
    kg_env_list_free(&env);

    /* After retirement the previous keys are gone: the old env no longer opens. */
    encrypt_env_to(&ct, W.app[0].env_pub);
    k.n_previous = 0;
    kg_env_list_init(&env);
    KG_ASSERT_ERR(kg_agent_env_decrypt(&env, &epoch, &k, ct.data, ct.len), KG_ERR_VERIFY,
                  "AES-256-GCM tag does not verify");
    kg_env_list_free(&env);
    kg_agent_keys_wipe(&k);
    kg_buf_free(&ct);
}

/* ---- the socket API: GetKey "root_epoch", Info's epochs ---------------------------------------
 */

static json_t *api(kg_agent *a, const char *method, const char *body, int want_status)
{
    kg_buf out;
    int status = 0;
    kg_buf_init(&out, 1 << 22);
    KG_ASSERT_OK(kg_agent_handle(a, method, (const uint8_t *)body, strlen(body), &status, &out));
    if (status != want_status)
        fail_msg("%s %s: %d %.*s", method, body, status, (int)out.len, out.data);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(j);
    kg_buf_free(&out);
    return j;
}

/* GetKey's key and signature chain for `body` must be derived from `epoch`'s app key. */
static void expect_key_of(kg_agent *a, const char *body, int epoch)
{
    uint8_t want[32], pub[33], sig[65], got[32], link1[65];
    size_t pub_len;
    KG_ASSERT_OK(kg_agent_get_key(want, pub, &pub_len, sig, W.app[epoch].k256_scalar, "wallet",
                                  "eth", "secp256k1"));
    json_t *j = api(a, "GetKey", body, 200);
    KG_ASSERT_OK(kg_hex_decode_exact(got, 32, json_string_value(json_object_get(j, "key"))));
    assert_memory_equal(got, want, 32);
    json_t *chain = json_object_get(j, "signature_chain");
    KG_ASSERT_OK(kg_hex_decode_exact(link1, 65, json_string_value(json_array_get(chain, 1))));
    assert_memory_equal(link1, W.app[epoch].k256_signature, 65);
    json_decref(j);
}

static void api_serves_previous_epoch_keys(void **state)
{
    (void)state;
    char dir[128], spec[256], cmd[300];
    snprintf(dir, sizeof(dir), "/tmp/kg-epochs-test-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    KG_ASSERT_OK(kg_sim_init(dir, NULL));
    snprintf(spec, sizeof(spec), "sim:%s:app", dir);
    kg_tee *tee = NULL;
    KG_ASSERT_OK(kg_tee_open(&tee, spec));
    kg_agent_tee_ctx ctx = {.tee = tee};
    kg_agent_platform plat;
    kg_agent_platform_tee(&plat, &ctx);
    kg_agent_keys k;
    KG_ASSERT_OK(parse_json(&k, rotated_reply()));
    kg_agent_identity id = {.app_compose = "{}"};
    memcpy(id.app_id, W.app_id, 20);
    kg_agent *a = NULL;
    KG_ASSERT_OK(kg_agent_new(&a, &k, &id, &plat));
    kg_agent_keys_wipe(&k);

    const char *base = "\"path\":\"wallet\",\"purpose\":\"eth\",\"algorithm\":\"secp256k1\"";
    char body[256];
    expect_key_of(a, "{\"path\":\"wallet\",\"purpose\":\"eth\",\"algorithm\":\"secp256k1\"}", 1);
    snprintf(body, sizeof(body), "{%s,\"root_epoch\":null}", base);
    expect_key_of(a, body, 1);
    snprintf(body, sizeof(body), "{%s,\"root_epoch\":1}", base);
    expect_key_of(a, body, 1);
    snprintf(body, sizeof(body), "{%s,\"root_epoch\":0}", base);
    expect_key_of(a, body, 0);

    snprintf(body, sizeof(body), "{%s,\"root_epoch\":7}", base);
    json_t *j = api(a, "GetKey", body, 404);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
                           "no keys of root epoch 7: this app holds the current epoch 1 and 1 "
                           "previous epoch(s)"));
    json_decref(j);
    snprintf(body, sizeof(body), "{%s,\"root_epoch\":\"0\"}", base);
    j = api(a, "GetKey", body, 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
                           "field 'root_epoch' must be an epoch number"));
    json_decref(j);

    j = api(a, "Info", "{}", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "root_epoch")), 1);
    json_t *prev = json_object_get(j, "previous_root_epochs");
    assert_int_equal(json_array_size(prev), 1);
    assert_int_equal(json_integer_value(json_array_get(prev, 0)), 0);
    json_decref(j);
    kg_agent_free(a);

    /* Keys of a KMS without epochs: Info says epoch 0 and nothing previous. */
    KG_ASSERT_OK(parse_json(&k, dstack_reply(0)));
    KG_ASSERT_OK(kg_agent_new(&a, &k, &id, &plat));
    kg_agent_keys_wipe(&k);
    j = api(a, "Info", "{}", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "root_epoch")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "previous_root_epochs")), 0);
    json_decref(j);
    snprintf(body, sizeof(body), "{%s,\"root_epoch\":0}", base);
    expect_key_of(a, body, 0);
    kg_agent_free(a);
    kg_tee_free(tee);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(root_epoch_answer_decodes_strictly, setup, teardown),
        cmocka_unit_test_setup_teardown(reply_without_epochs_is_todays, setup, teardown),
        cmocka_unit_test_setup_teardown(parses_previous_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_malformed_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(verifies_against_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_previous_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_previous_not_retiring, setup, teardown),
        cmocka_unit_test_setup_teardown(drops_retired_previous, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_current_epoch_mislabelled, setup, teardown),
        cmocka_unit_test_setup_teardown(without_chain_previous_keys_are_not_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_failure_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(env_of_previous_epoch_decrypts, setup, teardown),
        cmocka_unit_test_setup_teardown(api_serves_previous_epoch_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
