/* tlog_test.c - the verifiable log's formats (tlog.h): RFC 9162 hashing against the CT test
 * vectors, proofs for every (index, size) up to 70 leaves and their tampered forms, tile paths,
 * checkpoints, signed notes and log entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygate/tlog.h"
#include "test_util.h"

/* An in-memory store of every complete subtree hash, for trees up to MAX_LEAVES. */
#define MAX_LEAVES 70
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

static void mem_append(mem_store *s, const void *data, size_t len)
{
    uint64_t i = s->n;
    KG_ASSERT_OK(kg_tlog_leaf_hash(s->h[0][i], data, len));
    uint32_t l = 0;
    while (i & 1) {
        KG_ASSERT_OK(kg_tlog_node_hash(s->h[l + 1][i >> 1], s->h[l][i - 1], s->h[l][i]));
        l++;
        i >>= 1;
    }
    s->n++;
}

static const char *const k_ct_leaves[8] = {"",
                                           "00",
                                           "10",
                                           "2021",
                                           "3031",
                                           "40414243",
                                           "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f"};
static const char *const k_ct_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

static void test_ct_vectors(void **state)
{
    mem_store *s = calloc(1, sizeof(*s));
    uint8_t root[32];
    KG_ASSERT_OK(kg_tlog_tree_hash(root, 0, mem_read, s));
    kg_test_assert_hex(root, 32,
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for (int i = 0; i < 8; i++) {
        kg_buf d;
        kg_buf_init(&d, 64);
        if (k_ct_leaves[i][0])
            kg_test_hex(&d, k_ct_leaves[i]);
        mem_append(s, d.data ? d.data : (const uint8_t *)"", d.len);
        kg_buf_free(&d);
        KG_ASSERT_OK(kg_tlog_tree_hash(root, (uint64_t)i + 1, mem_read, s));
        kg_test_assert_hex(root, 32, k_ct_roots[i]);
    }
    free(s);
}

static void test_proofs_all_sizes(void **state)
{
    mem_store *s = calloc(1, sizeof(*s));
    kg_tlog_proof *p = malloc(sizeof(*p));
    static uint8_t roots[MAX_LEAVES + 1][32];
    for (int i = 0; i < MAX_LEAVES; i++) {
        uint8_t d[4] = {(uint8_t)i, 1, 2, 3};
        mem_append(s, d, sizeof(d));
        KG_ASSERT_OK(kg_tlog_tree_hash(roots[i + 1], (uint64_t)i + 1, mem_read, s));
    }
    for (uint64_t n = 1; n <= MAX_LEAVES; n++) {
        for (uint64_t i = 0; i < n; i++) {
            KG_ASSERT_OK(kg_tlog_inclusion_proof(p, i, n, mem_read, s));
            KG_ASSERT_OK(kg_tlog_verify_inclusion(s->h[0][i], i, n, p, roots[n]));
            /* the same proof does not prove another leaf, index or tree */
            KG_ASSERT_ERR(
                kg_tlog_verify_inclusion(s->h[0][(i + 1) % MAX_LEAVES], i, n, p, roots[n]),
                KG_ERR_VERIFY, "inclusion");
            if (n > 1)
                KG_ASSERT_ERR(kg_tlog_verify_inclusion(s->h[0][i], i, n, p, roots[n - 1]),
                              KG_ERR_VERIFY, "inclusion");
            if (p->n > 0) {
                p->hash[p->n - 1][0] ^= 1;
                KG_ASSERT_ERR(kg_tlog_verify_inclusion(s->h[0][i], i, n, p, roots[n]),
                              KG_ERR_VERIFY, "inclusion");
            }
        }
        for (uint64_t m = 1; m <= n; m++) {
            KG_ASSERT_OK(kg_tlog_consistency_proof(p, m, n, mem_read, s));
            KG_ASSERT_OK(kg_tlog_verify_consistency(m, n, p, roots[m], roots[n]));
            if (m < n) {
                /* a different old tree (a fork) does not verify */
                uint8_t forged[32];
                memcpy(forged, roots[m], 32);
                forged[5] ^= 0x40;
                KG_ASSERT_ERR(kg_tlog_verify_consistency(m, n, p, forged, roots[n]), KG_ERR_VERIFY,
                              "consistency");
                if (p->n > 0) {
                    p->hash[0][0] ^= 1;
                    KG_ASSERT_ERR(kg_tlog_verify_consistency(m, n, p, roots[m], roots[n]),
                                  KG_ERR_VERIFY, "consistency");
                }
            }
        }
    }
    /* equal sizes, different roots: two trees of one size */
    p->n = 0;
    KG_ASSERT_ERR(kg_tlog_verify_consistency(5, 5, p, roots[5], roots[6]), KG_ERR_VERIFY,
                  "two different trees");
    KG_ASSERT_ERR(kg_tlog_inclusion_proof(p, 5, 5, mem_read, s), KG_ERR_INPUT, "no leaf 5");
    free(p);
    free(s);
}

static void test_tile_paths(void **state)
{
    static const struct {
        kg_tlog_tile t;
        const char *path;
    } cases[] = {
        {{false, 0, 0, 256}, "tile/0/000"},
        {{false, 1, 5, 17}, "tile/1/005.p/17"},
        {{false, 0, 1234067, 256}, "tile/0/x001/x234/067"},
        {{true, 0, 1000, 1}, "tile/entries/x001/000.p/1"},
        {{true, 0, 999, 255}, "tile/entries/999.p/255"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[KG_TLOG_MAX_PATH];
        KG_ASSERT_OK(kg_tlog_tile_path(buf, sizeof(buf), &cases[i].t));
        assert_string_equal(buf, cases[i].path);
        kg_tlog_tile got;
        KG_ASSERT_OK(kg_tlog_tile_parse(&got, buf, strlen(buf)));
        assert_true(got.entries == cases[i].t.entries && got.level == cases[i].t.level &&
                    got.index == cases[i].t.index && got.width == cases[i].t.width);
    }
    static const char *const bad[] = {
        "tile/0/1",         "tile/8/000",
        "tile/0/x000/001",  "tile/0/000.p/0",
        "tile/0/000.p/256", "tile/0/000.p/07",
        "tile/0/000/",      "tile//000",
        "tile/entries/00a", "tile/0/x001/x002/x003/x004/x005/x006/007",
        "/tile/0/000",      "tile/0/000.p/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kg_tlog_tile got;
        kg_error_clear();
        if (kg_ok(kg_tlog_tile_parse(&got, bad[i], strlen(bad[i]))))
            fail_msg("tile path '%s' accepted", bad[i]);
    }
    assert_int_equal(kg_tlog_tile_width(0, 0, 10), 10);
    assert_int_equal(kg_tlog_tile_width(0, 0, 300), 256);
    assert_int_equal(kg_tlog_tile_width(0, 1, 300), 44);
    assert_int_equal(kg_tlog_tile_width(1, 0, 300), 1);
    assert_int_equal(kg_tlog_tile_width(1, 0, 255), 0);
}

static const uint8_t k_seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void test_checkpoint_and_note(void **state)
{
    kg_checkpoint c = {.origin = "keygate.test/log", .size = 12345};
    memset(c.root, 0xab, 32);
    kg_buf body, note;
    kg_buf_init(&body, 4096);
    kg_buf_init(&note, 4096);
    KG_ASSERT_OK(kg_checkpoint_format(&body, &c));
    KG_ASSERT_OK(kg_buf_terminate(&body));
    assert_string_equal((const char *)body.data,
                        "keygate.test/log\n12345\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n");
    kg_checkpoint back;
    KG_ASSERT_OK(kg_checkpoint_parse(&back, body.data, body.len));
    assert_string_equal(back.origin, c.origin);
    assert_true(back.size == c.size && memcmp(back.root, c.root, 32) == 0);
    static const char *const bad[] = {
        "o\n012\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",  /* leading zero */
        "o\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6t=\n",   /* non-canonical base64 */
        "o\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",     /* no final newline */
        "\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n",    /* empty origin */
        "o\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\n", /* empty extension line */
        "o\n-1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kg_error_clear();
        if (kg_ok(kg_checkpoint_parse(&back, (const uint8_t *)bad[i], strlen(bad[i]))))
            fail_msg("checkpoint %zu accepted", i);
    }

    uint8_t pub[32], other_seed[32], other_pub[32];
    KG_ASSERT_OK(kg_ed25519_public(pub, k_seed));
    memset(other_seed, 7, 32);
    KG_ASSERT_OK(kg_ed25519_public(other_pub, other_seed));
    KG_ASSERT_OK(kg_note_sign(&note, body.data, body.len, "keygate.test/log", k_seed));
    size_t tl = 0;
    KG_ASSERT_OK(kg_note_open(&tl, note.data, note.len, "keygate.test/log", pub));
    assert_int_equal(tl, body.len);
    /* another key of the same name: no signature of ours */
    KG_ASSERT_ERR(kg_note_open(&tl, note.data, note.len, "keygate.test/log", other_pub),
                  KG_ERR_VERIFY, "no signature by");
    /* a cosigner's line is ignored; ours still verifies */
    kg_buf two;
    kg_buf_init(&two, 8192);
    KG_ASSERT_OK(kg_note_sign(&two, body.data, body.len, "witness.example", other_seed));
    KG_ASSERT_OK(kg_buf_append(&two, note.data + body.len + 1, note.len - body.len - 1));
    KG_ASSERT_OK(kg_note_open(&tl, two.data, two.len, "keygate.test/log", pub));
    /* the text changed: our signature fails */
    note.data[17] ^= 1; /* a digit of the size */
    KG_ASSERT_ERR(kg_note_open(&tl, note.data, note.len, "keygate.test/log", pub), KG_ERR_VERIFY,
                  "signature of 'keygate.test/log'");
    KG_ASSERT_ERR(kg_note_open(&tl, body.data, body.len, "keygate.test/log", pub), KG_ERR_INPUT,
                  "no signature block");
    /* a known key id and name from Go's note package docs round-trip through the vkey form */
    kg_buf vk;
    kg_buf_init(&vk, 256);
    KG_ASSERT_OK(kg_note_vkey(&vk, "keygate.test/log", pub));
    KG_ASSERT_OK(kg_buf_terminate(&vk));
    assert_non_null(strstr((const char *)vk.data, "keygate.test/log+"));
    assert_false(kg_note_name_ok("has space"));
    assert_false(kg_note_name_ok("a+b"));
    assert_false(kg_note_name_ok(""));
    kg_buf_free(&vk);
    kg_buf_free(&two);
    kg_buf_free(&body);
    kg_buf_free(&note);
}

static void test_entry_roundtrip(void **state)
{
    kg_log_entry e;
    memset(&e, 0, sizeof(e));
    e.audit_id = 7;
    e.time_ms = 1700000000123ull;
    e.allowed = true;
    e.method = (kg_log_str){true, "GetAppKey", 9};
    e.reason = (kg_log_str){true, "allowed", 7};
    e.who = KG_LOG_WHO_VERIFIED;
    e.identity.has_app_id = true;
    memset(e.identity.app_id, 0xaa, sizeof(e.identity.app_id));
    e.identity.instance_id_len = KG_INSTANCE_ID_LEN;
    memset(e.identity.instance_id, 0x11, KG_INSTANCE_ID_LEN);
    memset(e.identity.mr_aggregated, 0x22, 32);
    snprintf(e.identity.tcb_status, sizeof(e.identity.tcb_status), "UpToDate");
    e.identity.n_advisory_ids = 2;
    snprintf(e.identity.advisory_ids[0], KG_ADVISORY_ID_MAX, "INTEL-SA-00001");
    snprintf(e.identity.advisory_ids[1], KG_ADVISORY_ID_MAX, "INTEL-SA-00002");
    e.has_block = true;
    e.block_number = 42;
    e.block_hash = (kg_log_str){true, "0xbb", 4};
    e.released = (kg_log_str){true, "{\"k256_pubkey\":\"02ff\"}", 22};
    memset(e.node_id, 0x5a, 32);
    kg_buf b, b2;
    kg_buf_init(&b, KG_LOG_MAX_ENTRY);
    kg_buf_init(&b2, KG_LOG_MAX_ENTRY);
    KG_ASSERT_OK(kg_log_entry_encode(&b, &e));
    kg_log_entry back;
    KG_ASSERT_OK(kg_log_entry_parse(&back, b.data, b.len));
    KG_ASSERT_OK(kg_log_entry_encode(&b2, &back));
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    assert_false(back.peer.present);
    assert_string_equal(back.identity.advisory_ids[1], "INTEL-SA-00002");
    /* every truncation fails; a trailing byte fails; a flag other than 0/1 fails */
    for (size_t n = 0; n < b.len; n++) {
        kg_error_clear();
        if (kg_ok(kg_log_entry_parse(&back, b.data, n)))
            fail_msg("truncated entry of %zu bytes accepted", n);
    }
    KG_ASSERT_OK(kg_buf_append_u8(&b, 0));
    KG_ASSERT_ERR(kg_log_entry_parse(&back, b.data, b.len), KG_ERR_INPUT, "trailing");
    b.len--;
    b.data[17] = 2; /* the decision */
    KG_ASSERT_ERR(kg_log_entry_parse(&back, b.data, b.len), KG_ERR_INPUT, "decision");
    kg_buf_free(&b);
    kg_buf_free(&b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ct_vectors),      cmocka_unit_test(test_proofs_all_sizes),
        cmocka_unit_test(test_tile_paths),      cmocka_unit_test(test_checkpoint_and_note),
        cmocka_unit_test(test_entry_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
