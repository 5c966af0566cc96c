/* seal_test.c - the sealing primitives: the X25519 box (opens only for its recipient, label and
 * AAD; every truncation and altered byte refused) and the simulator's sealing key (stable for
 * one VM's measurements, different for any other measurement or platform secret; absent on
 * TDX, which says so). */
#include "test_util.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/crypto.h"
#include "keygate/fileio.h"
#include "keygate/sealbox.h"
#include "keygate/sealed.h"
#include "keygate/sim.h"
#include "keygate/tee.h"

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kg-seal-test-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    char plat[128];
    snprintf(plat, sizeof(plat), "%s/a", g_dir);
    return kg_ok(kg_sim_init(plat, NULL)) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void box_round_trip_and_refusals(void **state)
{
    (void)state;
    uint8_t sec[KG_X25519_LEN], pub[KG_X25519_LEN], sec2[KG_X25519_LEN], pub2[KG_X25519_LEN];
    KG_ASSERT_OK(kg_x25519_generate(sec, pub));
    KG_ASSERT_OK(kg_x25519_generate(sec2, pub2));
    static const char msg[] = "share bytes";
    kg_buf box, pt;
    kg_buf_init(&box, 4096);
    kg_buf_init(&pt, 4096);
    KG_ASSERT_OK(kg_box_seal(&box, pub, KG_BOX_LABEL_HOLDER_SHARE, "aad", 3, msg, sizeof(msg)));
    assert_int_equal(box.len, sizeof(msg) + KG_BOX_OVERHEAD);
    KG_ASSERT_OK(kg_box_open(&pt, sec, KG_BOX_LABEL_HOLDER_SHARE, "aad", 3, box.data, box.len));
    assert_int_equal(pt.len, sizeof(msg));
    assert_memory_equal(pt.data, msg, sizeof(msg));
    /* another recipient, label or AAD */
    KG_ASSERT_ERR(kg_box_open(&pt, sec2, KG_BOX_LABEL_HOLDER_SHARE, "aad", 3, box.data, box.len),
                  KG_ERR_VERIFY, "box does not open");
    KG_ASSERT_ERR(kg_box_open(&pt, sec, KG_BOX_LABEL_NODE_SHARE, "aad", 3, box.data, box.len),
                  KG_ERR_VERIFY, "box does not open");
    KG_ASSERT_ERR(kg_box_open(&pt, sec, KG_BOX_LABEL_HOLDER_SHARE, "aae", 3, box.data, box.len),
                  KG_ERR_VERIFY, "box does not open");
    assert_int_equal(pt.len, sizeof(msg)); /* nothing appended by a failure */
    /* every single altered byte */
    for (size_t i = 0; i < box.len; i++) {
        box.data[i] ^= 0x40;
        kg_error_clear();
        assert_true(kg_failed(
            kg_box_open(&pt, sec, KG_BOX_LABEL_HOLDER_SHARE, "aad", 3, box.data, box.len)));
        box.data[i] ^= 0x40;
    }
    /* every truncation */
    for (size_t n = 0; n < KG_BOX_OVERHEAD; n++) {
        kg_error_clear();
        kg_result r = kg_box_open(&pt, sec, KG_BOX_LABEL_HOLDER_SHARE, "aad", 3, box.data, n);
        assert_true(kg_failed(r));
        assert_int_equal(kg_error_code(), KG_ERR_TRUNCATED);
    }
    KG_ASSERT_ERR(kg_box_seal(&box, pub, "", NULL, 0, msg, 1), KG_ERR_USAGE, "box label");
    kg_buf_free(&box);
    kg_buf_free(&pt);
    kg_memzero(sec, sizeof(sec));
    kg_memzero(sec2, sizeof(sec2));
}

static void open_vm(kg_tee **t, const char *plat, const char *vm)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", g_dir, plat);
    KG_ASSERT_OK(kg_tee_open_sim(t, p, vm));
}

static void sim_seal_key_is_bound_to_measurements(void **state)
{
    (void)state;
    kg_tee *a = NULL, *a2 = NULL, *b = NULL;
    uint8_t ka[32], ka2[32], kb[32], kl[32];
    open_vm(&a, "a", "vm1");
    open_vm(&b, "a", "vm2");
    /* the same measurements (two fresh VMs of one image on one platform) give the same key */
    KG_ASSERT_OK(kg_tee_seal_key(a, ka, "label"));
    KG_ASSERT_OK(kg_tee_seal_key(b, kb, "label"));
    assert_memory_equal(ka, kb, 32);
    /* a reopened VM (a restart) keeps it; another label is another key */
    open_vm(&a2, "a", "vm1");
    KG_ASSERT_OK(kg_tee_seal_key(a2, ka2, "label"));
    assert_memory_equal(ka, ka2, 32);
    KG_ASSERT_OK(kg_tee_seal_key(a, kl, "other label"));
    assert_memory_not_equal(ka, kl, 32);
    /* a VM that measured something more into RTMR3 gets another key */
    KG_ASSERT_OK(kg_tee_extend(b, "app-id", (const uint8_t *)"x", 1));
    KG_ASSERT_OK(kg_tee_seal_key(b, kb, "label"));
    assert_memory_not_equal(ka, kb, 32);
    kg_tee_free(a);
    kg_tee_free(a2);
    kg_tee_free(b);
}

static void sim_seal_key_needs_the_platform_secret(void **state)
{
    (void)state;
    char plat[128], p[192], q[192];
    kg_tee *a = NULL, *c = NULL;
    uint8_t ka[32], kc[32], ka_new[32];
    struct stat st;
    snprintf(p, sizeof(p), "%s/a/seal.secret", g_dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    open_vm(&a, "a", "vm3");
    KG_ASSERT_OK(kg_tee_seal_key(a, ka, "label"));
    /* another OS image with the very same platform secret: other MRTD/RTMRs, other key */
    snprintf(plat, sizeof(plat), "%s/c", g_dir);
    kg_sim_init_opts o = {.image = "another-image"};
    KG_ASSERT_OK(kg_sim_init(plat, &o));
    snprintf(q, sizeof(q), "%s/c/seal.secret", g_dir);
    assert_int_equal(unlink(q), 0);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", p, q);
    assert_int_equal(system(cmd), 0);
    open_vm(&c, "c", "vm3");
    KG_ASSERT_OK(kg_tee_seal_key(c, kc, "label"));
    assert_memory_not_equal(ka, kc, 32);
    /* the machine's secret lost: a new one is made, and the old key is gone for good */
    assert_int_equal(unlink(p), 0);
    KG_ASSERT_OK(kg_tee_seal_key(a, ka_new, "label"));
    assert_memory_not_equal(ka, ka_new, 32);
    assert_int_equal(stat(p, &st), 0);
    /* a secret others could read is refused */
    assert_int_equal(chmod(p, 0644), 0);
    KG_ASSERT_ERR(kg_tee_seal_key(a, ka_new, "label"), KG_ERR_DENIED, "seal secret");
    assert_int_equal(chmod(p, 0600), 0);
    kg_tee_free(a);
    kg_tee_free(c);
}

static void tdx_has_no_seal_key(void **state)
{
    (void)state;
    char tsm[128];
    snprintf(tsm, sizeof(tsm), "%s/tsm", g_dir);
    assert_int_equal(mkdir(tsm, 0700), 0);
    char rtmr[160], log[160];
    snprintf(rtmr, sizeof(rtmr), "%s/rtmr3", g_dir);
    snprintf(log, sizeof(log), "%s/tdx-eventlog.json", g_dir);
    kg_tee_linux_config cfg = {.tsm_report_dir = tsm, .rtmr3_path = rtmr, .eventlog_path = log};
    kg_tee *t = NULL;
    KG_ASSERT_OK(kg_tee_open_linux(&t, &cfg));
    uint8_t k[32];
    memset(k, 0xaa, sizeof(k));
    KG_ASSERT_ERR(kg_tee_seal_key(t, k, "label"), KG_ERR_UNAVAILABLE, "has no sealing key");
    uint8_t zero[32] = {0};
    assert_memory_equal(k, zero, 32);
    kg_tee_free(t);
}

/* ---- the sealed root-key file ---- */

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

static void fixed_root(kg_root_keys *root)
{
    KG_ASSERT_OK(kg_kdf_root_keys_generate(root));
}

static void three_holders(kg_sealed_holders *h, uint8_t sec[3][KG_X25519_LEN], uint8_t t)
{
    memset(h, 0, sizeof(*h));
    h->n = 3;
    h->threshold = t;
    for (int i = 0; i < 3; i++)
        KG_ASSERT_OK(kg_x25519_generate(sec[i], h->pub[i]));
}

static void sealed_file_opens_by_tee_key_and_by_t_shares(void **state)
{
    (void)state;
    kg_root_keys root, got[KG_SEALED_MAX_EPOCHS];
    kg_sealed_header h;
    kg_sealed_holders holders;
    kg_sealed_file f;
    uint8_t sec[3][KG_X25519_LEN], tee_key[32], other_key[32], dek[32];
    uint8_t contract[20] = {0xaa};
    fixed_root(&root);
    three_holders(&holders, sec, 2);
    KG_ASSERT_OK(kg_random(tee_key, 32));
    KG_ASSERT_OK(kg_random(other_key, 32));
    KG_ASSERT_OK(kg_sealed_header_for(&h, 31337, contract, &root));
    kg_buf file;
    kg_buf_init(&file, KG_SEALED_MAX_LEN);
    KG_ASSERT_OK(kg_sealed_seal(&file, &h, &root, tee_key, &holders));
    KG_ASSERT_OK(kg_sealed_parse(&f, file.data, file.len));
    assert_true(f.has_tee && f.has_recovery);
    assert_int_equal(f.threshold, 2);
    assert_int_equal(f.n, 3);
    assert_true(kg_sealed_same_holders(&f, &holders));
    assert_int_equal(f.header.chain_id, 31337);
    /* the plaintext scalars appear nowhere in the file */
    assert_false(contains(file.data, file.len, root.ca_scalar, 16));
    assert_false(contains(file.data, file.len, root.k256_scalar, 16));
    /* TEE slot */
    assert_int_equal(f.version, KG_SEALED_VERSION);
    assert_int_equal(f.n_epochs, 1);
    assert_int_equal(f.epochs[0].epoch, 0);
    assert_int_equal(f.epochs[0].status, KG_EPOCH_CURRENT);
    KG_ASSERT_OK(kg_sealed_open_tee(got, &f, tee_key));
    assert_memory_equal(&got[0], &root, sizeof(root));
    KG_ASSERT_ERR(kg_sealed_open_tee(got, &f, other_key), KG_ERR_VERIFY,
                  "does not open with this VM's sealing key");
    uint8_t zero[sizeof(got)] = {0};
    assert_memory_equal(got, zero, sizeof(got));
    /* every pair of holders' shares gives the DEK; one share does not */
    kg_shamir_share sh[3];
    for (int i = 0; i < 3; i++)
        KG_ASSERT_OK(kg_sealed_holder_share(&sh[i], &f, sec[i]));
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++) {
            kg_shamir_share pair[2] = {sh[a], sh[b]};
            KG_ASSERT_OK(kg_shamir_combine(dek, pair, 2));
            KG_ASSERT_OK(kg_sealed_open_dek(got, &f, dek));
            assert_memory_equal(&got[0], &root, sizeof(root));
        }
    KG_ASSERT_OK(kg_shamir_combine(dek, sh, 1));
    KG_ASSERT_ERR(kg_sealed_open_dek(got, &f, dek), KG_ERR_VERIFY, "sealed root keys do not open");
    /* a key that is no holder's */
    uint8_t stranger[32], stranger_pub[32];
    KG_ASSERT_OK(kg_x25519_generate(stranger, stranger_pub));
    KG_ASSERT_ERR(kg_sealed_holder_share(&sh[0], &f, stranger), KG_ERR_NOT_FOUND,
                  "not one of the file's 3 recovery holders");
    /* without any slot it refuses to seal */
    kg_buf none;
    kg_buf_init(&none, KG_SEALED_MAX_LEN);
    KG_ASSERT_ERR(kg_sealed_seal(&none, &h, &root, NULL, NULL), KG_ERR_USAGE,
                  "nothing could ever open the file");
    assert_int_equal(none.len, 0);
    kg_buf_free(&none);
    kg_buf_free(&file);
    kg_kdf_root_keys_wipe(&root);
    kg_kdf_root_keys_wipe(&got[0]);
}

/* Every byte of a sealed file flipped, and every truncation, is refused with a specific error
 * (the parser's field, or a tag that does not verify), and never yields keys. */
static void sealed_file_tampering_is_refused(void **state)
{
    (void)state;
    kg_root_keys root, got[KG_SEALED_MAX_EPOCHS];
    kg_sealed_header h;
    kg_sealed_holders holders;
    kg_sealed_file f;
    uint8_t sec[3][KG_X25519_LEN], tee_key[32];
    uint8_t contract[20] = {0xbb};
    fixed_root(&root);
    three_holders(&holders, sec, 2);
    KG_ASSERT_OK(kg_random(tee_key, 32));
    KG_ASSERT_OK(kg_sealed_header_for(&h, 1, contract, &root));
    kg_buf file;
    kg_buf_init(&file, KG_SEALED_MAX_LEN);
    KG_ASSERT_OK(kg_sealed_seal(&file, &h, &root, tee_key, &holders));
    kg_shamir_share orig[3];
    KG_ASSERT_OK(kg_sealed_parse(&f, file.data, file.len));
    for (int k = 0; k < 3; k++)
        KG_ASSERT_OK(kg_sealed_holder_share(&orig[k], &f, sec[k]));
    for (size_t i = 0; i < file.len; i++) {
        file.data[i] ^= 0x01;
        kg_error_clear();
        bool parsed = kg_ok(kg_sealed_parse(&f, file.data, file.len));
        if (parsed) {
            /* every path that still opens gives exactly the original (authenticated), and the
             * path through the flipped byte fails with a specific error */
            int failed = 0;
            kg_error_clear();
            if (kg_ok(kg_sealed_open_tee(got, &f, tee_key)))
                assert_memory_equal(&got[0], &root, sizeof(root));
            else
                failed++, assert_int_equal(kg_error_code(), KG_ERR_VERIFY);
            for (int k = 0; k < 3; k++) {
                kg_shamir_share s;
                kg_error_clear();
                if (kg_ok(kg_sealed_holder_share(&s, &f, sec[k])))
                    assert_memory_equal(&s, &orig[k], sizeof(s));
                else
                    failed++, assert_true(kg_error_code() == KG_ERR_VERIFY ||
                                          kg_error_code() == KG_ERR_NOT_FOUND);
            }
            if (failed == 0)
                fail_msg("byte %zu flipped and every path still opened", i);
        } else {
            assert_true(kg_error_code() == KG_ERR_INPUT || kg_error_code() == KG_ERR_TRUNCATED ||
                        kg_error_code() == KG_ERR_TOO_LARGE); /* an attestation length */
            assert_non_null(strstr(kg_error_message(), "sealed root-key file"));
        }
        file.data[i] ^= 0x01;
    }
    for (size_t n = 0; n < file.len; n++) {
        kg_error_clear();
        assert_true(kg_failed(kg_sealed_parse(&f, file.data, n)));
    }
    KG_ASSERT_OK(kg_buf_append_u8(&file, 0));
    KG_ASSERT_ERR(kg_sealed_parse(&f, file.data, file.len), KG_ERR_INPUT, "trailing bytes");
    file.len--;
    file.data[0] = 'X';
    KG_ASSERT_ERR(kg_sealed_parse(&f, file.data, file.len), KG_ERR_INPUT, "magic");
    kg_buf_free(&file);
    kg_kdf_root_keys_wipe(&root);
}

/* Three epochs, one of each live status, with attestations: every epoch's keys come back from
 * the TEE slot and from t shares, each attestation is where the parsed file says, and the
 * header names the Current epoch's keys. */
static void sealed_file_holds_every_live_epoch(void **state)
{
    (void)state;
    kg_root_keys roots[3], got[KG_SEALED_MAX_EPOCHS];
    kg_sealed_holders holders;
    kg_sealed_file *f = calloc(1, sizeof(*f));
    kg_sealed_header want;
    uint8_t sec[3][KG_X25519_LEN], tee_key[32], dek[32];
    uint8_t contract[20] = {0xcc};
    static const uint8_t quote1[] = "quote of epoch 1", quote2[] = "quote of epoch 2";
    static const char ev2[] = "[{\"event\":\"x\"}]";
    assert_non_null(f);
    for (int i = 0; i < 3; i++)
        fixed_root(&roots[i]);
    three_holders(&holders, sec, 2);
    KG_ASSERT_OK(kg_random(tee_key, 32));
    kg_sealed_epoch_in in[3] = {
        {.epoch = 0, .status = KG_EPOCH_RETIRING, .root = &roots[0]},
        {.epoch = 1,
         .status = KG_EPOCH_CURRENT,
         .root = &roots[1],
         .quote = quote1,
         .quote_len = sizeof(quote1)},
        {.epoch = 2,
         .status = KG_EPOCH_PROPOSED,
         .root = &roots[2],
         .quote = quote2,
         .quote_len = sizeof(quote2),
         .eventlog = (const uint8_t *)ev2,
         .eventlog_len = strlen(ev2)},
    };
    kg_buf file;
    kg_buf_init(&file, KG_SEALED_MAX_LEN);
    KG_ASSERT_OK(kg_sealed_seal_epochs(&file, 5, contract, in, 3, tee_key, &holders));
    KG_ASSERT_OK(kg_sealed_parse(f, file.data, file.len));
    assert_int_equal(f->version, 2);
    assert_int_equal(f->n_epochs, 3);
    assert_int_equal(f->current, 1);
    KG_ASSERT_OK(kg_sealed_header_for(&want, 5, contract, &roots[1]));
    assert_memory_equal(&f->header, &want, sizeof(want));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->epochs[i].epoch, in[i].epoch);
        assert_int_equal(f->epochs[i].status, in[i].status);
        assert_int_equal(f->epochs[i].quote_len, in[i].quote_len);
        if (in[i].quote_len)
            assert_memory_equal(file.data + f->epochs[i].quote_off, in[i].quote, in[i].quote_len);
        assert_int_equal(f->epochs[i].eventlog_len, in[i].eventlog_len);
        assert_false(contains(file.data, file.len, roots[i].ca_scalar, 16));
        assert_false(contains(file.data, file.len, roots[i].k256_scalar, 16));
    }
    assert_memory_equal(file.data + f->epochs[2].eventlog_off, ev2, strlen(ev2));
    KG_ASSERT_OK(kg_sealed_open_tee(got, f, tee_key));
    for (int i = 0; i < 3; i++)
        assert_memory_equal(&got[i], &roots[i], sizeof(roots[i]));
    kg_shamir_share sh[2];
    KG_ASSERT_OK(kg_sealed_holder_share(&sh[0], f, sec[0]));
    KG_ASSERT_OK(kg_sealed_holder_share(&sh[1], f, sec[2]));
    KG_ASSERT_OK(kg_shamir_combine(dek, sh, 2));
    memset(got, 0, sizeof(got));
    KG_ASSERT_OK(kg_sealed_open_dek(got, f, dek));
    for (int i = 0; i < 3; i++)
        assert_memory_equal(&got[i], &roots[i], sizeof(roots[i]));

    /* what the writer refuses: no Current, two, out of order, a Retired epoch, too many */
    kg_buf bad;
    kg_buf_init(&bad, KG_SEALED_MAX_LEN);
    in[1].status = KG_EPOCH_RETIRING;
    KG_ASSERT_ERR(kg_sealed_seal_epochs(&bad, 5, contract, in, 3, tee_key, NULL), KG_ERR_USAGE,
                  "no current epoch");
    in[1].status = KG_EPOCH_CURRENT;
    in[0].status = KG_EPOCH_CURRENT;
    KG_ASSERT_ERR(kg_sealed_seal_epochs(&bad, 5, contract, in, 3, tee_key, NULL), KG_ERR_USAGE,
                  "two current epochs (0, 1)");
    in[0].status = KG_EPOCH_RETIRED;
    KG_ASSERT_ERR(kg_sealed_seal_epochs(&bad, 5, contract, in, 3, tee_key, NULL), KG_ERR_USAGE,
                  "epoch 0 is retired");
    in[0].status = KG_EPOCH_RETIRING;
    in[0].epoch = 1;
    KG_ASSERT_ERR(kg_sealed_seal_epochs(&bad, 5, contract, in, 3, tee_key, NULL), KG_ERR_USAGE,
                  "epochs out of order (1 after 1)");
    in[0].epoch = 0;
    KG_ASSERT_ERR(
        kg_sealed_seal_epochs(&bad, 5, contract, in, KG_SEALED_MAX_EPOCHS + 1, tee_key, NULL),
        KG_ERR_USAGE, "9 epochs (want 1..8)");
    assert_int_equal(bad.len, 0);

    /* what the reader refuses in an edited epochs section (the layout of sealed.h): the first
     * entry's status at header + count + epoch u32 */
    size_t status0 = KG_SEALED_HEADER_LEN + 1 + 4;
    file.data[status0] = KG_EPOCH_CURRENT;
    KG_ASSERT_ERR(kg_sealed_parse(f, file.data, file.len), KG_ERR_INPUT,
                  "two current epochs (0 and 1)");
    file.data[status0] = KG_EPOCH_RETIRED;
    KG_ASSERT_ERR(kg_sealed_parse(f, file.data, file.len), KG_ERR_INPUT,
                  "epoch 0 has status 4 (want 1 proposed, 2 current or 3 retiring)");
    file.data[status0] = KG_EPOCH_PROPOSED; /* parses, but the keys no longer open */
    KG_ASSERT_OK(kg_sealed_parse(f, file.data, file.len));
    KG_ASSERT_ERR(kg_sealed_open_tee(got, f, tee_key), KG_ERR_VERIFY,
                  "does not open with this VM's sealing key");
    file.data[status0] = KG_EPOCH_RETIRING;
    file.data[KG_SEALED_HEADER_LEN] = 0;
    KG_ASSERT_ERR(kg_sealed_parse(f, file.data, file.len), KG_ERR_INPUT, "0 epochs (want 1..8)");
    file.data[KG_SEALED_HEADER_LEN] = 3;
    /* the current epoch's keys must be the header's */
    file.data[9 + 8 + 20 + 5] ^= 1;
    KG_ASSERT_ERR(kg_sealed_parse(f, file.data, file.len), KG_ERR_INPUT,
                  "the current epoch (1) is not the header's root keys");
    file.data[9 + 8 + 20 + 5] ^= 1;
    KG_ASSERT_OK(kg_sealed_parse(f, file.data, file.len));
    kg_buf_free(&bad);
    kg_buf_free(&file);
    for (int i = 0; i < 3; i++)
        kg_kdf_root_keys_wipe(&roots[i]);
    for (size_t i = 0; i < KG_SEALED_MAX_EPOCHS; i++)
        kg_kdf_root_keys_wipe(&got[i]);
    free(f);
}

/* A file written by keygate before epochs (version 1, tests/vectors/sealed: TEE key 0x11..,
 * holders 0x21.., 0x22.., 0x23.., 2 of 3) reads as epoch 0, Current, and opens by both slots;
 * sealed again it is version 2 with the same header keys. */
static void sealed_v1_file_reads_as_epoch_0(void **state)
{
    (void)state;
    kg_buf raw, again;
    kg_sealed_file *f = calloc(1, sizeof(*f)), *g = calloc(1, sizeof(*g));
    kg_root_keys got[KG_SEALED_MAX_EPOCHS], back[KG_SEALED_MAX_EPOCHS];
    uint8_t tee_key[32], holder[32], dek[32];
    assert_non_null(f);
    assert_non_null(g);
    memset(tee_key, 0x11, sizeof(tee_key));
    kg_buf_init(&raw, KG_SEALED_MAX_LEN);
    kg_buf_init(&again, KG_SEALED_MAX_LEN);
    KG_ASSERT_OK(
        kg_file_read(&raw, KG_VECTORS_DIR "/sealed/v1-tee-and-2of3.bin", KG_SEALED_MAX_LEN));
    KG_ASSERT_OK(kg_sealed_parse(f, raw.data, raw.len));
    assert_int_equal(f->version, 1);
    assert_int_equal(f->n_epochs, 1);
    assert_int_equal(f->current, 0);
    assert_int_equal(f->epochs[0].epoch, 0);
    assert_int_equal(f->epochs[0].status, KG_EPOCH_CURRENT);
    assert_int_equal(f->epochs[0].quote_len, 0);
    assert_memory_equal(f->epochs[0].k256_pub, f->header.root_k256_pub, KG_K256_PUB_LEN);
    KG_ASSERT_OK(kg_sealed_open_tee(got, f, tee_key));
    kg_shamir_share sh[2];
    for (int i = 0; i < 2; i++) {
        memset(holder, 0x21 + i, sizeof(holder));
        KG_ASSERT_OK(kg_sealed_holder_share(&sh[i], f, holder));
    }
    KG_ASSERT_OK(kg_shamir_combine(dek, sh, 2));
    KG_ASSERT_OK(kg_sealed_open_dek(back, f, dek));
    assert_memory_equal(&back[0], &got[0], sizeof(got[0]));
    /* resealed (what the KMS does on its next change): version 2, the same deployment and keys */
    kg_sealed_epoch_in in = {.epoch = 0, .status = KG_EPOCH_CURRENT, .root = &got[0]};
    KG_ASSERT_OK(kg_sealed_seal_epochs(&again, f->header.chain_id, f->header.kms_contract, &in, 1,
                                       tee_key, NULL));
    KG_ASSERT_OK(kg_sealed_parse(g, again.data, again.len));
    assert_int_equal(g->version, 2);
    assert_memory_equal(&g->header, &f->header, sizeof(f->header));
    KG_ASSERT_OK(kg_sealed_open_tee(back, g, tee_key));
    assert_memory_equal(&back[0], &got[0], sizeof(got[0]));
    /* a version 1 header cannot be spliced onto a version 2 body or the reverse */
    again.data[8] = 1;
    assert_true(kg_failed(kg_sealed_parse(g, again.data, again.len)) ||
                kg_failed(kg_sealed_open_tee(back, g, tee_key)));
    kg_error_clear();
    raw.data[8] = 2;
    assert_true(kg_failed(kg_sealed_parse(g, raw.data, raw.len)));
    kg_error_clear();
    raw.data[8] = 3;
    KG_ASSERT_ERR(kg_sealed_parse(g, raw.data, raw.len), KG_ERR_INPUT,
                  "version 3 (this KMS reads 1 and 2)");
    kg_kdf_root_keys_wipe(&got[0]);
    kg_kdf_root_keys_wipe(&back[0]);
    kg_buf_free(&raw);
    kg_buf_free(&again);
    free(f);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(box_round_trip_and_refusals),
        cmocka_unit_test(sim_seal_key_is_bound_to_measurements),
        cmocka_unit_test(sim_seal_key_needs_the_platform_secret),
        cmocka_unit_test(tdx_has_no_seal_key),
        cmocka_unit_test(sealed_file_opens_by_tee_key_and_by_t_shares),
        cmocka_unit_test(sealed_file_tampering_is_refused),
        cmocka_unit_test(sealed_file_holds_every_live_epoch),
        cmocka_unit_test(sealed_v1_file_reads_as_epoch_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
