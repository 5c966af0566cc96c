/* log_anchor_test.c - the log's on-chain anchor (log_anchor.h): the EIP-712 digests against
 * values computed with Foundry's cast from the contract's type strings, and the auditor's check
 * of published checkpoints against a log: a clean history, a rollback, a fork at the head's
 * size, a fork below it, forks and rollbacks among the published checkpoints themselves, and a
 * log missing the hashes a proof needs; the /log-anchor offer: format and parse round trip, each
 * malformed field refused, and its signatures checked against the root key and the domain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/crypto.h"
#include "keygate/log_anchor.h"
#include "test_util.h"

#define MAX_LEAVES 64
typedef struct mem_store {
    uint64_t n;
    uint8_t h[8][MAX_LEAVES][KG_TLOG_HASH_LEN];
} mem_store;

static kg_result mem_read(void *ctx, uint32_t level, uint64_t index, uint8_t out[32])
{
    mem_store *s = ctx;
    KG_ENSURE(level < 8 && ((index + 1) << level) <= s->n, KG_ERR_NOT_FOUND, "no hash (%u, %llu)",
              (unsigned)level, (unsigned long long)index);
    memcpy(out, s->h[level][index], 32);
    return KG_OK;
}

static void mem_append(mem_store *s, uint8_t tag)
{
    uint64_t i = s->n;
    uint8_t leaf[2] = {tag, (uint8_t)i};
    KG_ASSERT_OK(kg_tlog_leaf_hash(s->h[0][i], leaf, sizeof(leaf)));
    uint32_t l = 0;
    while (i & 1) {
        KG_ASSERT_OK(kg_tlog_node_hash(s->h[l + 1][i >> 1], s->h[l][i - 1], s->h[l][i]));
        l++;
        i >>= 1;
    }
    s->n++;
}

/* A log of n entries; entries from `fork_at` on carry another tag (another history). */
static mem_store *tree(uint64_t n, uint64_t fork_at)
{
    mem_store *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    for (uint64_t i = 0; i < n; i++)
        mem_append(s, i >= fork_at ? 0xf0 : 0x01);
    return s;
}

static kg_log_anchor anchor_of(mem_store *s, uint64_t size, uint64_t block)
{
    kg_log_anchor a = {.size = size, .block = block};
    KG_ASSERT_OK(kg_tlog_tree_hash(a.root, size, mem_read, s));
    return a;
}

typedef struct seen {
    int count;
    uint64_t index[8];
    char msg[8][600];
} seen;

static void record(void *ctx, uint64_t index, const char *msg)
{
    seen *s = ctx;
    if (s->count < 8) {
        s->index[s->count] = index;
        snprintf(s->msg[s->count], sizeof(s->msg[0]), "%s", msg);
    }
    s->count++;
}

static uint64_t check(seen *out, const kg_log_anchor *a, size_t count, mem_store *log)
{
    uint8_t root[32];
    uint64_t v = 99;
    memset(out, 0, sizeof(*out));
    KG_ASSERT_OK(kg_tlog_tree_hash(root, log->n, mem_read, log));
    KG_ASSERT_OK(kg_log_anchor_check(a, count, log->n, root, mem_read, log, record, out, &v));
    assert_int_equal(v, (uint64_t)out->count);
    return v;
}

static void test_digests_match_the_contract(void **state)
{
    (void)state;
    kg_log_domain d = {.chain_id = 31337};
    kg_buf c;
    kg_test_hex(&c, "5FbDB2315678afecb367f032d93F642f64180aa3");
    memcpy(d.contract, c.data, 20);
    kg_buf_free(&c);
    uint8_t pub[32], root[32], id[32], out[32];
    memset(pub, 0x11, sizeof(pub));
    memset(root, 0x22, sizeof(root));
    KG_ASSERT_OK(kg_log_anchor_id(id, pub));
    kg_test_assert_hex(id, 32, "02d449a31fbb267c8f352e9968a79e3e5fc95c1bbeaa502fd6454ebde5a4bedc");
    KG_ASSERT_OK(kg_log_anchor_key_digest(out, &d, pub));
    kg_test_assert_hex(out, 32, "a37d729a44c8aeeceaeb255a1d5d466c99693643949608da3b05c15533f78261");
    KG_ASSERT_OK(kg_log_anchor_checkpoint_digest(out, &d, id, 7, root));
    kg_test_assert_hex(out, 32, "ddf834bf164e2905f67b9923cdc2f8177af8a29ba0b559b75d9a99dab7f61f45");
    /* another chain, another contract, another size: another digest */
    uint8_t other[32];
    d.chain_id = 1;
    KG_ASSERT_OK(kg_log_anchor_checkpoint_digest(other, &d, id, 7, root));
    assert_memory_not_equal(other, out, 32);
    d.chain_id = 31337;
    d.contract[19] ^= 1;
    KG_ASSERT_OK(kg_log_anchor_checkpoint_digest(other, &d, id, 7, root));
    assert_memory_not_equal(other, out, 32);
    d.contract[19] ^= 1;
    KG_ASSERT_OK(kg_log_anchor_checkpoint_digest(other, &d, id, 8, root));
    assert_memory_not_equal(other, out, 32);
}

static void test_clean_history_passes(void **state)
{
    (void)state;
    mem_store *log = tree(40, UINT64_MAX);
    kg_log_anchor a[4] = {anchor_of(log, 1, 10), anchor_of(log, 7, 11), anchor_of(log, 32, 12),
                          anchor_of(log, 40, 13)};
    seen s;
    assert_int_equal(check(&s, a, 4, log), 0);
    assert_int_equal(check(&s, a, 0, log), 0); /* nothing published yet */
    free(log);
}

static void test_rollback_is_reported_at_the_first_missing_entry(void **state)
{
    (void)state;
    mem_store *full = tree(30, UINT64_MAX), *cut = tree(21, UINT64_MAX);
    kg_log_anchor a[2] = {anchor_of(full, 20, 5), anchor_of(full, 30, 6)};
    seen s;
    assert_int_equal(check(&s, a, 2, cut), 1);
    assert_int_equal(s.index[0], 21);
    assert_non_null(strstr(s.msg[0], "covers 30 entries but the log's head has 21"));
    assert_non_null(strstr(s.msg[0], "entries 21..29"));
    assert_non_null(strstr(s.msg[0], "a rollback"));
    free(full);
    free(cut);
}

static void test_fork_at_the_heads_size(void **state)
{
    (void)state;
    mem_store *real = tree(16, UINT64_MAX), *forked = tree(16, 15);
    kg_log_anchor a[1] = {anchor_of(real, 16, 9)};
    seen s;
    assert_int_equal(check(&s, a, 1, forked), 1);
    assert_int_equal(s.index[0], 15);
    assert_non_null(strstr(s.msg[0], "another root than the log's head of the same size"));
    free(real);
    free(forked);
}

static void test_fork_below_the_head(void **state)
{
    (void)state;
    /* published at 12 and 20; the log rewrote entry 3 and grew to 25 */
    mem_store *real = tree(20, UINT64_MAX), *forked = tree(25, 3);
    kg_log_anchor a[2] = {anchor_of(real, 12, 1), anchor_of(real, 20, 2)};
    seen s;
    /* each published tree fails against the head, and the pair has no extension in the log */
    assert_int_equal(check(&s, a, 2, forked), 3);
    assert_int_equal(s.index[0], 11);
    assert_non_null(strstr(s.msg[0], "on-chain checkpoint 0 (block 1, size 12) is not a prefix"));
    assert_non_null(strstr(s.msg[0], "a fork"));
    assert_int_equal(s.index[1], 11);
    assert_non_null(strstr(s.msg[1], "on-chain checkpoints 0 and 1 (sizes 12, 20)"));
    assert_int_equal(s.index[2], 19);
    /* a fork after the published sizes is not one the chain can see */
    mem_store *later = tree(25, 21);
    assert_int_equal(check(&s, a, 2, later), 0);
    free(real);
    free(forked);
    free(later);
}

static void test_published_checkpoints_among_themselves(void **state)
{
    (void)state;
    mem_store *log = tree(30, UINT64_MAX), *other = tree(30, 0);
    seen s;
    /* smaller after larger */
    kg_log_anchor down[2] = {anchor_of(log, 20, 1), anchor_of(log, 10, 2)};
    assert_int_equal(check(&s, down, 2, log), 1);
    assert_non_null(strstr(s.msg[0], "smaller than the one before it"));
    /* one size, two trees */
    kg_log_anchor two[2] = {anchor_of(log, 10, 1), anchor_of(other, 10, 2)};
    assert_int_equal(check(&s, two, 2, log), 2); /* the pair, and the second against the head */
    assert_int_equal(s.index[0], 9);
    assert_non_null(strstr(s.msg[0], "two different trees of size 10"));
    free(log);
    free(other);
}

static void test_missing_hashes_are_violations(void **state)
{
    (void)state;
    mem_store *log = tree(20, UINT64_MAX);
    kg_log_anchor a[1] = {anchor_of(log, 5, 1)};
    uint8_t root[32];
    KG_ASSERT_OK(kg_tlog_tree_hash(root, 20, mem_read, log));
    log->n = 4; /* the reader now refuses every hash beyond 4 leaves */
    seen s;
    memset(&s, 0, sizeof(s));
    uint64_t v = 0;
    KG_ASSERT_OK(kg_log_anchor_check(a, 1, 20, root, mem_read, log, record, &s, &v));
    assert_int_equal(v, 1);
    assert_non_null(strstr(s.msg[0], "no hash"));
    free(log);
}

/* An offer signed by the scalar 0x11..11 for chain 31337 and contract 0x22..22. */
static void signed_offer(kg_log_anchor_offer *o, uint8_t root_pub[33])
{
    uint8_t scalar[32], digest[32];
    memset(scalar, 0x11, sizeof(scalar));
    memset(o, 0, sizeof(*o));
    o->domain.chain_id = 31337;
    memset(o->domain.contract, 0x22, sizeof(o->domain.contract));
    memset(o->pub, 0x33, sizeof(o->pub));
    memset(o->root, 0x44, sizeof(o->root));
    o->size = 1234;
    KG_ASSERT_OK(kg_k256_public(root_pub, scalar));
    KG_ASSERT_OK(kg_log_anchor_id(o->log_id, o->pub));
    KG_ASSERT_OK(kg_log_anchor_key_digest(digest, &o->domain, o->pub));
    KG_ASSERT_OK(kg_k256_sign_recoverable(o->reg_sig, scalar, digest));
    KG_ASSERT_OK(kg_log_anchor_checkpoint_digest(digest, &o->domain, o->log_id, o->size, o->root));
    KG_ASSERT_OK(kg_k256_sign_recoverable(o->sig, scalar, digest));
}

static void test_offer_round_trip_and_verify(void **state)
{
    (void)state;
    kg_log_anchor_offer o, back;
    uint8_t root[33], other[33], scalar[32];
    signed_offer(&o, root);
    kg_buf b;
    kg_buf_init(&b, KG_LOG_ANCHOR_MAX_JSON);
    KG_ASSERT_OK(kg_log_anchor_offer_format(&b, &o, "keygate.kms/0011223344556677"));
    KG_ASSERT_OK(kg_log_anchor_offer_parse(&back, b.data, b.len));
    assert_memory_equal(&back, &o, sizeof(o));
    KG_ASSERT_OK(kg_log_anchor_offer_verify(&back, root));
    /* another root key, another chain, another size: refused */
    memset(scalar, 0x12, sizeof(scalar));
    KG_ASSERT_OK(kg_k256_public(other, scalar));
    KG_ASSERT_ERR(kg_log_anchor_offer_verify(&back, other), KG_ERR_VERIFY,
                  "registration is not signed by the KMS root key");
    back.domain.chain_id = 1;
    KG_ASSERT_ERR(kg_log_anchor_offer_verify(&back, root), KG_ERR_VERIFY, "not signed");
    back.domain.chain_id = 31337;
    back.size++;
    KG_ASSERT_ERR(kg_log_anchor_offer_verify(&back, root), KG_ERR_VERIFY,
                  "checkpoint of size 1235 is not signed by the KMS root key");
    kg_buf_free(&b);
}

static void test_offer_parse_refuses_malformed(void **state)
{
    (void)state;
    kg_log_anchor_offer o, back;
    uint8_t root[33];
    signed_offer(&o, root);
    kg_buf b;
    kg_buf_init(&b, KG_LOG_ANCHOR_MAX_JSON);
    KG_ASSERT_OK(kg_log_anchor_offer_format(&b, &o, "keygate.kms/0011223344556677"));
    KG_ASSERT_OK(kg_buf_terminate(&b));
    const char *good = (const char *)b.data;
    static const struct {
        const char *field, *replacement, *error;
    } cases[] = {
        {"\"tree_size\": 1234", "\"tree_size\": -1", "'tree_size' must be an integer"},
        {"\"tree_size\": 1234", "\"tree_size\": \"1234\"", "'tree_size' must be an integer"},
        {"\"chain_id\": 31337", "\"chain_id\": 1.5", "'chain_id' must be an integer"},
        {"\"log_id\": \"0x", "\"log_id\": \"0X", "'log_id' is missing or not 0x-hex"},
        {"\"kms_contract\": \"0x", "\"kms_contract\": \"0x00", "'kms_contract'"},
        {"\"signature\"", "\"sig\"", "'signature' is missing"},
        {"\"log_name\"", "\"tree_size\": 1, \"x\"", "duplicate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *at = strstr(good, cases[i].field);
        assert_non_null(at);
        char text[KG_LOG_ANCHOR_MAX_JSON];
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, cases[i].replacement,
                 at + strlen(cases[i].field));
        kg_error_clear();
        assert_true(
            kg_failed(kg_log_anchor_offer_parse(&back, (const uint8_t *)text, strlen(text))));
        if (strstr(kg_error_message(), cases[i].error) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, kg_error_message(), cases[i].error);
    }
    /* a log id that is not the key's */
    o.log_id[0] ^= 1;
    b.len = 0;
    KG_ASSERT_OK(kg_log_anchor_offer_format(&b, &o, "keygate.kms/0011223344556677"));
    KG_ASSERT_ERR(kg_log_anchor_offer_parse(&back, b.data, b.len), KG_ERR_INPUT,
                  "log_id is not SHA-256 of public_key");
    KG_ASSERT_ERR(kg_log_anchor_offer_parse(&back, (const uint8_t *)"[]", 2), KG_ERR_INPUT,
                  "not a JSON object");
    KG_ASSERT_ERR(kg_log_anchor_offer_parse(&back, b.data, KG_LOG_ANCHOR_MAX_JSON + 1),
                  KG_ERR_TOO_LARGE, "at most");
    kg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digests_match_the_contract),
        cmocka_unit_test(test_clean_history_passes),
        cmocka_unit_test(test_rollback_is_reported_at_the_first_missing_entry),
        cmocka_unit_test(test_fork_at_the_heads_size),
        cmocka_unit_test(test_fork_below_the_head),
        cmocka_unit_test(test_published_checkpoints_among_themselves),
        cmocka_unit_test(test_missing_hashes_are_violations),
        cmocka_unit_test(test_offer_round_trip_and_verify),
        cmocka_unit_test(test_offer_parse_refuses_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
