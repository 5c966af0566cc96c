/* receipt_test.c - a release's receipt (receipt.h) built as the KMS builds it, from a real
 * decision log (lib/audit): it verifies against the root k256 key and names the release; every
 * field tampered with, or a receipt of another app, instance, image or key, is refused with the
 * step that failed; the JSON round-trips and malformed JSON is rejected by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/receipt.h"
#include "test_util.h"

#define LOG_NAME "keygate.kms/0011223344556677"
#define N_RECORDS 37 /* an odd size: proofs of several shapes */
#define LEAF 21u     /* the release the receipt is for */

static const uint8_t k_seed[32] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3,
                                   2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5};
static const uint8_t k_root[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                   0xcc, 0xdd, 0xee, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x12};
static const char k_released[] =
    "{\"k256_pubkey\":\"02ab\",\"env_pubkey\":\"cd\",\"app_ca_pubkey_sha256\":\"ef\"}";

typedef struct fixture {
    char path[256];
    kg_boot_identity id;
    uint8_t root_pub[KG_K256_PUB_LEN];
    kg_log_receipt r; /* a good receipt for LEAF */
} fixture;

static void remove_db(const char *path)
{
    char side[300];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static void identity_for(kg_boot_identity *id, uint8_t app_byte)
{
    memset(id, 0, sizeof(*id));
    id->has_app_id = true;
    memset(id->app_id, app_byte, sizeof(id->app_id));
    id->has_compose_hash = true;
    memset(id->compose_hash, 0xcc, sizeof(id->compose_hash));
    id->instance_id_len = KG_INSTANCE_ID_LEN;
    memset(id->instance_id, 0x1d, sizeof(id->instance_id));
    id->has_device_id = true;
    memset(id->device_id, 0xde, sizeof(id->device_id));
    memset(id->os_image_hash, 0x05, sizeof(id->os_image_hash));
    snprintf(id->tcb_status, sizeof(id->tcb_status), "UpToDate");
}

/* A log of N_RECORDS decisions by the node of k_seed (or of another node id), with the receipt
 * of LEAF made exactly as kms/log.c makes one: the committed head signed, the entry and its
 * inclusion proof read back through a read-only connection. */
static void build(fixture *f, bool other_node)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/kg-receipt-test-%d.db", (int)getpid());
    remove_db(f->path);
    identity_for(&f->id, 0xaa);
    KG_ASSERT_OK(kg_k256_public(f->root_pub, k_root));
    uint8_t pub[32], node[32], digest[32];
    KG_ASSERT_OK(kg_ed25519_public(pub, k_seed));
    KG_ASSERT_OK(kg_sha256(node, pub, sizeof(pub)));
    if (other_node)
        node[0] ^= 1;

    kg_audit *a = NULL;
    KG_ASSERT_OK(kg_audit_open(&a, f->path, false));
    kg_audit_set_node_id(a, node);
    kg_boot_identity other;
    identity_for(&other, 0xbb);
    uint64_t leaf = UINT64_MAX;
    for (unsigned i = 0; i < N_RECORDS; i++) {
        kg_audit_record rec = {.method = i == LEAF + 1 ? "SignCert" : "GetAppKey",
                               .peer = "127.0.0.1:4242",
                               .allowed = i != LEAF + 2,
                               .reason = "allowed",
                               .identity = i == LEAF || i > LEAF ? &f->id : &other,
                               .block_number = 1000 + i,
                               .block_hash = "0xbb",
                               .released = k_released};
        uint64_t at = 0;
        KG_ASSERT_OK(kg_audit_append_leaf(a, &rec, NULL, &at));
        assert_int_equal(at, i); /* the leaf index the receipt proves */
        if (i == LEAF)
            leaf = at;
    }
    kg_log_receipt_init(&f->r);
    uint64_t size = 0;
    KG_ASSERT_OK(kg_audit_checkpoint(a, LOG_NAME, k_seed, &f->r.checkpoint, &size));
    assert_int_equal(size, N_RECORDS);
    kg_audit_free(a);

    KG_ASSERT_OK(kg_audit_open(&a, f->path, true));
    f->r.leaf_index = leaf;
    f->r.tree_size = size;
    KG_ASSERT_OK(kg_audit_log_entry(a, leaf, &f->r.entry, NULL));
    KG_ASSERT_OK(kg_tlog_inclusion_proof(&f->r.proof, leaf, size, kg_audit_log_hash, a));
    kg_audit_free(a);
    snprintf(f->r.log_name, sizeof(f->r.log_name), "%s", LOG_NAME);
    memcpy(f->r.log_pub, pub, sizeof(pub));
    KG_ASSERT_OK(kg_log_key_cert_digest(digest, LOG_NAME, pub));
    KG_ASSERT_OK(kg_k256_sign_recoverable(f->r.log_cert, k_root, digest));
}

static void done(fixture *f)
{
    kg_log_receipt_free(&f->r);
    remove_db(f->path);
}

/* What keygate-agent expects after GetAppKey. */
static kg_log_release_expect expect_of(const fixture *f)
{
    static const char *const names[] = {"k256_pubkey", "env_pubkey"};
    static const char *const values[] = {"02ab", "cd"};
    return (kg_log_release_expect){.method = "GetAppKey",
                                   .app_id = f->id.app_id,
                                   .compose_hash = f->id.compose_hash,
                                   .instance_id = f->id.instance_id,
                                   .instance_id_len = f->id.instance_id_len,
                                   .os_image_hash = f->id.os_image_hash,
                                   .released_names = names,
                                   .released_values = values,
                                   .n_released = 2};
}

static void test_good_receipt_verifies_and_names_the_release(void **state)
{
    (void)state;
    fixture f;
    build(&f, false);
    kg_log_entry e;
    KG_ASSERT_OK(kg_log_receipt_verify(&e, &f.r, f.root_pub));
    assert_int_equal(e.audit_id, LEAF + 1); /* row ids start at 1 */
    kg_log_release_expect want = expect_of(&f);
    KG_ASSERT_OK(kg_log_release_check(&e, &want));
    done(&f);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    fixture f;
    build(&f, false);
    kg_buf json;
    kg_buf_init(&json, KG_RECEIPT_MAX_JSON);
    KG_ASSERT_OK(kg_log_receipt_to_json(&json, &f.r));
    json_t *o = json_loadb((const char *)json.data, json.len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    kg_log_receipt back;
    KG_ASSERT_OK(kg_log_receipt_parse(&back, o));
    kg_log_entry e;
    KG_ASSERT_OK(kg_log_receipt_verify(&e, &back, f.root_pub));
    kg_buf again;
    kg_buf_init(&again, KG_RECEIPT_MAX_JSON);
    KG_ASSERT_OK(kg_log_receipt_to_json(&again, &back));
    assert_int_equal(again.len, json.len);
    assert_memory_equal(again.data, json.data, json.len);
    kg_log_receipt_free(&back);
    kg_buf_free(&again);
    kg_buf_free(&json);
    json_decref(o);
    done(&f);
}

/* Copies f->r into *c (the buffers too). */
static void copy(kg_log_receipt *c, const kg_log_receipt *r)
{
    kg_log_receipt_init(c);
    kg_buf e = c->entry, n = c->checkpoint;
    *c = *r;
    c->entry = e;
    c->checkpoint = n;
    KG_ASSERT_OK(kg_buf_append(&c->entry, r->entry.data, r->entry.len));
    KG_ASSERT_OK(kg_buf_append(&c->checkpoint, r->checkpoint.data, r->checkpoint.len));
}

static void test_every_field_tampered_is_refused(void **state)
{
    (void)state;
    fixture f;
    build(&f, false);
    kg_log_receipt c;
    kg_log_entry e;

    copy(&c, &f.r); /* the entry: any byte */
    c.entry.data[c.entry.len / 2] ^= 0x01;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY, "is not leaf 21");
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the leaf index */
    c.leaf_index = LEAF - 1;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY, "is not leaf 20");
    c.leaf_index = N_RECORDS;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY,
                  "leaf 37 is not in a tree of 37");
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the tree size */
    c.tree_size = N_RECORDS + 1;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY,
                  "signs a tree of 37 entries, the receipt says 38");
    kg_log_receipt_free(&c);

    for (size_t i = 0; i < f.r.proof.n; i++) { /* each proof hash */
        copy(&c, &f.r);
        c.proof.hash[i][31] ^= 0x80;
        KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY, "is not leaf");
        kg_log_receipt_free(&c);
    }
    copy(&c, &f.r); /* a proof one hash short */
    c.proof.n--;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY, "is not leaf");
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the checkpoint's root (its text, so the signature breaks) */
    char *nl = memchr(c.checkpoint.data, '\n', c.checkpoint.len);
    nl = memchr(nl + 1, '\n', c.checkpoint.len - (size_t)(nl + 1 - (char *)c.checkpoint.data));
    nl[1] = nl[1] == 'A' ? 'B' : 'A';
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY, "receipt: checkpoint");
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the checkpoint's signature */
    c.checkpoint.data[c.checkpoint.len - 3] ^= 0x01;
    kg_error_clear();
    assert_true(kg_failed(kg_log_receipt_verify(&e, &c, f.root_pub)));
    assert_non_null(strstr(kg_error_message(), "receipt: checkpoint"));
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the log key name */
    c.log_name[strlen(c.log_name) - 1] ^= 0x01;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY,
                  "is not certified by the KMS root key");
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the log public key */
    c.log_pub[0] ^= 0x01;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY,
                  "is not certified by the KMS root key");
    kg_log_receipt_free(&c);

    copy(&c, &f.r); /* the certificate */
    c.log_cert[10] ^= 0x01;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY,
                  "is not certified by the KMS root key");
    kg_log_receipt_free(&c);

    /* a genuine receipt, but the agent pinned another KMS root */
    uint8_t other_scalar[32], other_root[KG_K256_PUB_LEN];
    memcpy(other_scalar, k_root, sizeof(other_scalar));
    other_scalar[31] ^= 0x40;
    KG_ASSERT_OK(kg_k256_public(other_root, other_scalar));
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &f.r, other_root), KG_ERR_VERIFY,
                  "is not certified by the KMS root key");
    done(&f);
}

/* A history re-signed with a key the root never certified: a fresh log key, certified by
 * nobody, or by a root that is not the pinned one. */
static void test_resigned_with_uncertified_key(void **state)
{
    (void)state;
    fixture f;
    build(&f, false);
    static const uint8_t rogue[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                      7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    kg_log_receipt c;
    copy(&c, &f.r);
    kg_buf_reset(&c.checkpoint);
    c.checkpoint.len = 0;
    size_t text_len = 0;
    KG_ASSERT_OK(
        kg_note_open(&text_len, f.r.checkpoint.data, f.r.checkpoint.len, LOG_NAME, f.r.log_pub));
    KG_ASSERT_OK(kg_note_sign(&c.checkpoint, f.r.checkpoint.data, text_len, LOG_NAME, rogue));
    KG_ASSERT_OK(kg_ed25519_public(c.log_pub, rogue));
    kg_log_entry e;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &c, f.root_pub), KG_ERR_VERIFY,
                  "is not certified by the KMS root key");
    kg_log_receipt_free(&c);
    done(&f);
}

static void test_entry_of_another_node_is_refused(void **state)
{
    (void)state;
    fixture f;
    build(&f, true);
    kg_log_entry e;
    KG_ASSERT_ERR(kg_log_receipt_verify(&e, &f.r, f.root_pub), KG_ERR_VERIFY,
                  "names another node than the log key's");
    done(&f);
}

static void test_release_of_someone_else_is_refused(void **state)
{
    (void)state;
    fixture f;
    build(&f, false);
    kg_log_entry e;
    KG_ASSERT_OK(kg_log_receipt_verify(&e, &f.r, f.root_pub));
    kg_log_release_expect want = expect_of(&f);
    uint8_t other[KG_MEASUREMENT_LEN];
    memset(other, 0x99, sizeof(other));

    kg_log_release_expect w = want;
    w.method = "SignCert";
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "not a SignCert release");
    w = want;
    w.app_id = other;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "app id is not this app's");
    w = want;
    w.compose_hash = other;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "compose hash");
    w = want;
    w.instance_id = other;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "instance id");
    w = want;
    w.instance_id_len = 0;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "instance id");
    /* an instance id the checker does not know (keygate-agent serve without --instance-id) is
     * not compared; everything else still is */
    w = want;
    w.instance_id = NULL;
    w.instance_id_len = 0;
    KG_ASSERT_OK(kg_log_release_check(&e, &w));
    w.app_id = other;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "app id is not this app's");
    w = want;
    w.os_image_hash = other;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "OS image hash");
    static const char *const wrong[] = {"02ab", "ce"};
    w = want;
    w.released_values = wrong;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "env_pubkey is not the one");
    static const char *const absent[] = {"disk_key_sha256"};
    w = want;
    w.released_names = absent;
    w.n_released = 1;
    KG_ASSERT_ERR(kg_log_release_check(&e, &w), KG_ERR_VERIFY, "disk_key_sha256");

    /* a refusal's entry is no release */
    kg_log_entry deny = e;
    deny.allowed = false;
    KG_ASSERT_ERR(kg_log_release_check(&deny, &want), KG_ERR_VERIFY, "records a refusal");
    done(&f);
}

static void expect_parse_error(const char *json, const char *needle)
{
    json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(o);
    kg_log_receipt r;
    kg_error_clear();
    kg_result rc = kg_log_receipt_parse(&r, o);
    if (kg_ok(rc) || strstr(kg_error_message(), needle) == NULL)
        fail_msg("parse of %s: got '%s', want '%s'", json, kg_ok(rc) ? "ok" : kg_error_message(),
                 needle);
    kg_log_receipt_free(&r);
    json_decref(o);
}

static void test_malformed_json_is_rejected(void **state)
{
    (void)state;
    char h32[65], h65[131];
    memset(h32, 'a', 64);
    h32[64] = 0;
    memset(h65, 'b', 130);
    h65[130] = 0;
    char good_key[400];
    snprintf(good_key, sizeof(good_key), "{\"name\":\"k/1\",\"pubkey\":\"%s\",\"cert\":\"%s\"}",
             h32, h65);
    char buf[2000];
#define RECEIPT(entry, idx, proof, key)                                                            \
    (snprintf(buf, sizeof(buf),                                                                    \
              "{\"entry\":%s,\"leaf_index\":%s,\"tree_size\":5,\"inclusion_proof\":%s,"            \
              "\"checkpoint\":\"x\",\"log_key\":%s}",                                              \
              entry, idx, proof, key),                                                             \
     buf)
    expect_parse_error("[]", "not a JSON object");
    expect_parse_error(RECEIPT("\"01\"", "1", "[]", "{}"), "'name' missing");
    expect_parse_error(RECEIPT("\"\"", "1", "[]", good_key), "'entry' is empty");
    expect_parse_error(RECEIPT("\"0g\"", "1", "[]", good_key), "receipt: 'entry'");
    expect_parse_error(RECEIPT("1", "1", "[]", good_key), "'entry' missing or not a string");
    expect_parse_error(RECEIPT("\"01\"", "-1", "[]", good_key), "'leaf_index' missing");
    expect_parse_error(RECEIPT("\"01\"", "\"1\"", "[]", good_key), "'leaf_index' missing");
    expect_parse_error(RECEIPT("\"01\"", "1", "[\"ab\"]", good_key),
                       "inclusion proof hash 0 is not 32 bytes");
    expect_parse_error(RECEIPT("\"01\"", "1", "{}", good_key), "'inclusion_proof' missing");
    char bad_key[400];
    snprintf(bad_key, sizeof(bad_key), "{\"name\":\"k/1\",\"pubkey\":\"%.62s\",\"cert\":\"%s\"}",
             h32, h65);
    expect_parse_error(RECEIPT("\"01\"", "1", "[]", bad_key), "'pubkey' is not 32 bytes");
    snprintf(bad_key, sizeof(bad_key), "{\"name\":\"a b\",\"pubkey\":\"%s\",\"cert\":\"%s\"}", h32,
             h65);
    expect_parse_error(RECEIPT("\"01\"", "1", "[]", bad_key), "bad log key name");
    snprintf(bad_key, sizeof(bad_key),
             "{\"name\":\"k/1\",\"pubkey\":\"%s\",\"cert\":\"%s\",\"x\":1}", h32, h65);
    expect_parse_error(RECEIPT("\"01\"", "1", "[]", bad_key), "unknown member 'x' in log_key");
    /* an unknown top-level member */
    snprintf(buf, sizeof(buf),
             "{\"entry\":\"01\",\"leaf_index\":1,\"tree_size\":5,\"inclusion_proof\":[],"
             "\"checkpoint\":\"x\",\"log_key\":%s,\"extra\":true}",
             good_key);
    expect_parse_error(buf, "unknown member 'extra' in receipt");
    /* more proof hashes than any tree needs */
    kg_buf big;
    kg_buf_init(&big, 1u << 20);
    KG_ASSERT_OK(kg_buf_append_str(&big, "{\"entry\":\"01\",\"leaf_index\":1,\"tree_size\":5,"
                                         "\"inclusion_proof\":["));
    for (unsigned i = 0; i <= KG_TLOG_MAX_PROOF; i++)
        KG_ASSERT_OK(kg_buf_printf(&big, "%s\"%s\"", i ? "," : "", h32));
    KG_ASSERT_OK(kg_buf_printf(&big, "],\"checkpoint\":\"x\",\"log_key\":%s}", good_key));
    KG_ASSERT_OK(kg_buf_terminate(&big));
    expect_parse_error((const char *)big.data, "more than 64 hashes");
    kg_buf_free(&big);
#undef RECEIPT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_receipt_verifies_and_names_the_release),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_every_field_tampered_is_refused),
        cmocka_unit_test(test_resigned_with_uncertified_key),
        cmocka_unit_test(test_entry_of_another_node_is_refused),
        cmocka_unit_test(test_release_of_someone_else_is_refused),
        cmocka_unit_test(test_malformed_json_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
