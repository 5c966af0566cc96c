/* tee_test.c - the TEE interface over both backends: the simulator (per-VM RTMR3 and event
 * log, journal recovery, quotes carrying the registers) and the Linux TDX backend run against
 * a directory tree imitating configfs-tsm and the RTMR sysfs file, with a thread playing the
 * kernel behind a FIFO outblob. */
#include "test_util.h"

/* Paths here are short temp paths; snprintf truncation is impossible in practice. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/eventlog.h"
#include "keygate/hash.h"
#include "keygate/sim.h"
#include "keygate/tee.h"

static char g_dir[64]; /* one simulated platform for the whole file */

static void path_of(char *out, size_t n, const char *a, const char *b)
{
    snprintf(out, n, "%s/%s", a, b);
}

static int setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/kg-tee-test-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    char plat[128];
    path_of(plat, sizeof(plat), g_dir, "platform");
    return kg_ok(kg_sim_init(plat, NULL)) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void platform_files_and_modes(void **state)
{
    char plat[128], p[192];
    struct stat st;
    path_of(plat, sizeof(plat), g_dir, "platform");
    static const char *const keys[] = {"root_ca.key", "platform_ca.key", "pck.key",
                                       "tcb_signing.key", "attestation.key"};
    for (size_t i = 0; i < 5; i++) {
        path_of(p, sizeof(p), plat, keys[i]);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    /* a second init must not overwrite the platform's keys */
    KG_ASSERT_ERR(kg_sim_init(plat, NULL), KG_ERR_USAGE, "already holds a simulated platform");

    /* the profile's os_image_hash is SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2) */
    kg_sim_profile prof, again;
    KG_ASSERT_OK(kg_sim_profile_load(&prof, plat));
    uint8_t cat[4 * 48], h[32];
    memcpy(cat, prof.mrtd, 48);
    memcpy(cat + 48, prof.rtmr, 3 * 48);
    KG_ASSERT_OK(kg_sha256(h, cat, sizeof(cat)));
    assert_memory_equal(h, prof.os_image_hash, 32);
    KG_ASSERT_OK(kg_sim_profile_compute(&again, KG_SIM_DEFAULT_IMAGE));
    assert_memory_equal(&again, &prof, sizeof(prof));
    KG_ASSERT_OK(kg_sim_profile_compute(&again, "another-image"));
    assert_memory_not_equal(again.os_image_hash, prof.os_image_hash, 32);
    KG_ASSERT_ERR(kg_sim_profile_compute(&again, "bad\"name"), KG_ERR_USAGE,
                  "may only use [A-Za-z0-9._-]");
}

static void sim_extend_replay_and_quote(void **state)
{
    char plat[128], spec[160];
    path_of(plat, sizeof(plat), g_dir, "platform");
    kg_tee *a = NULL, *b = NULL;
    KG_ASSERT_OK(kg_tee_open_sim(&a, plat, "vm-a"));
    snprintf(spec, sizeof(spec), "sim:%s:vm-b", plat);
    KG_ASSERT_OK(kg_tee_open(&b, spec));
    assert_string_equal(kg_tee_backend(a), "sim");

    uint8_t app_id[20], compose[32];
    memset(app_id, 0xa1, 20);
    memset(compose, 0xc0, 32);
    KG_ASSERT_OK(kg_tee_extend(a, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend(a, KG_EVENT_APP_ID, app_id, 20));
    KG_ASSERT_OK(kg_tee_extend(a, KG_EVENT_COMPOSE_HASH, compose, 32));

    kg_eventlog log;
    uint8_t reg[48], replay[48], zero[48] = {0};
    KG_ASSERT_OK(kg_tee_read_eventlog(a, &log));
    assert_int_equal(log.count, 3);
    KG_ASSERT_OK(kg_tee_read_rtmr3(a, reg));
    KG_ASSERT_OK(kg_eventlog_replay(replay, &log));
    assert_memory_equal(reg, replay, 48);
    assert_memory_not_equal(reg, zero, 48);
    kg_eventlog_free(&log);

    /* VM b is untouched by a's events */
    KG_ASSERT_OK(kg_tee_read_rtmr3(b, replay));
    assert_memory_equal(replay, zero, 48);

    /* the quote carries RTMR3 (offset 48+472) and REPORTDATA (offset 568) */
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)i;
    kg_buf q;
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    KG_ASSERT_OK(kg_tee_get_quote(a, &q, rd));
    assert_true(q.len > 1000);
    assert_int_equal(q.data[0], 4);
    assert_memory_equal(q.data + 520, reg, 48);
    assert_memory_equal(q.data + 568, rd, 64);
    kg_sim_profile prof;
    KG_ASSERT_OK(kg_sim_profile_load(&prof, plat));
    assert_memory_equal(q.data + 48 + 136, prof.mrtd, 48);
    kg_buf_free(&q);

    KG_ASSERT_ERR(kg_tee_extend(a, "bad:name", NULL, 0), KG_ERR_INPUT, "forbidden character");
    kg_tee_free(a);
    kg_tee_free(b);
    KG_ASSERT_ERR(kg_tee_open_sim(&a, plat, "../escape"), KG_ERR_USAGE, "VM name");
    KG_ASSERT_ERR(kg_tee_open(&a, "sgx"), KG_ERR_USAGE, "unknown TEE 'sgx'");
}

/* Appends one event to a VM's persisted log without extending: a crash between the journal
 * write and the register extension. */
static void journal_recovery(void **state)
{
    char plat[128], logp[256];
    path_of(plat, sizeof(plat), g_dir, "platform");
    snprintf(logp, sizeof(logp), "%s/vms/vm-c/eventlog.json", plat);
    kg_tee *t = NULL;
    KG_ASSERT_OK(kg_tee_open_sim(&t, plat, "vm-c"));
    KG_ASSERT_OK(kg_tee_extend(t, "first", (const uint8_t *)"x", 1));

    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_read_eventlog(t, &log));
    KG_ASSERT_OK(kg_eventlog_append(&log, "never-extended", NULL, 0));
    kg_buf js;
    kg_buf_init(&js, KG_MAX_EVENTLOG_JSON_LEN);
    KG_ASSERT_OK(kg_eventlog_to_json(&js, &log));
    FILE *f = fopen(logp, "w");
    assert_non_null(f);
    fwrite(js.data, 1, js.len, f);
    fclose(f);
    kg_eventlog_free(&log);

    KG_ASSERT_OK(kg_tee_read_eventlog(t, &log));
    assert_int_equal(log.count, 1); /* the dangling entry was dropped */
    assert_string_equal(log.events[0].name, "first");
    kg_eventlog_free(&log);

    /* Two unexplained entries cannot be a crash: fail closed. */
    KG_ASSERT_OK(kg_eventlog_parse(&log, (char *)js.data, js.len));
    KG_ASSERT_OK(kg_eventlog_append(&log, "another", NULL, 0));
    kg_buf_reset(&js);
    js.len = 0;
    KG_ASSERT_OK(kg_eventlog_to_json(&js, &log));
    f = fopen(logp, "w");
    fwrite(js.data, 1, js.len, f);
    fclose(f);
    kg_eventlog_free(&log);
    KG_ASSERT_ERR(kg_tee_read_eventlog(t, &log), KG_ERR_VERIFY, "does not replay to RTMR3");
    KG_ASSERT_ERR(kg_tee_extend(t, "more", NULL, 0), KG_ERR_VERIFY, "does not replay to RTMR3");
    kg_buf_free(&js);
    kg_tee_free(t);
}

/* ---- Linux backend against an imitation tree ---------------------------------------------- */

typedef struct fake_kernel {
    char entry[512];
    char plat[128];
    int generation;
    int fail;
} fake_kernel;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Plays the kernel for one quote: opening outblob (a FIFO) for writing blocks until the
 * backend opens it to read, after the backend has written inblob. */
static void *kernel_thread(void *arg)
{
    fake_kernel *k = arg;
    char p[700], gen[32];
    uint8_t rd[64], rtmr3[48] = {0};
    path_of(p, sizeof(p), k->entry, "outblob");
    int fd = open(p, O_WRONLY);
    if (fd < 0) {
        k->fail = 1;
        return NULL;
    }
    path_of(p, sizeof(p), k->entry, "inblob");
    FILE *f = fopen(p, "rb");
    if (f == NULL || fread(rd, 1, 64, f) != 64)
        k->fail = 1;
    if (f)
        fclose(f);
    k->generation++;
    snprintf(gen, sizeof(gen), "%d\n", k->generation);
    path_of(p, sizeof(p), k->entry, "generation");
    write_text(p, gen);
    kg_buf q;
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    if (kg_failed(kg_sim_quote(&q, k->plat, rtmr3, rd)) ||
        write(fd, q.data, q.len) != (ssize_t)q.len)
        k->fail = 1;
    kg_buf_free(&q);
    close(fd);
    return NULL;
}

static void linux_backend_imitation_tree(void **state)
{
    char root[512], tsm[512], entry[512], meas[512], rtmr[600], logp[600], p[1024];
    path_of(root, sizeof(root), g_dir, "kernel");
    snprintf(tsm, sizeof(tsm), "%s/tsm/report", root);
    snprintf(entry, sizeof(entry), "%s/kg0", tsm);
    snprintf(meas, sizeof(meas), "%s/measurements", root);
    snprintf(rtmr, sizeof(rtmr), "%s/rtmr3:sha384", meas);
    snprintf(logp, sizeof(logp), "%s/run/eventlog.json", root);
    snprintf(p, sizeof(p), "mkdir -p '%s' '%s' '%s/run'", entry, meas, root);
    assert_int_equal(system(p), 0);
    path_of(p, sizeof(p), entry, "provider");
    write_text(p, "tdx_guest\n");
    path_of(p, sizeof(p), entry, "generation");
    write_text(p, "7\n");
    path_of(p, sizeof(p), entry, "inblob");
    write_text(p, "");
    path_of(p, sizeof(p), entry, "outblob");
    assert_int_equal(mkfifo(p, 0600), 0);
    uint8_t zero[48] = {0};
    FILE *f = fopen(rtmr, "wb");
    fwrite(zero, 1, 48, f);
    fclose(f);

    kg_tee_linux_config cfg = {tsm, rtmr, logp, "kg0"};
    kg_tee *t = NULL;
    KG_ASSERT_OK(kg_tee_open_linux(&t, &cfg));
    assert_string_equal(kg_tee_backend(t), "tdx");

    /* quote: the backend writes REPORTDATA to inblob and returns the outblob bytes */
    fake_kernel k = {.generation = 7};
    snprintf(k.entry, sizeof(k.entry), "%s", entry);
    path_of(k.plat, sizeof(k.plat), g_dir, "platform");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, kernel_thread, &k), 0);
    uint8_t rd[64];
    memset(rd, 0x5a, 64);
    kg_buf q;
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    KG_ASSERT_OK(kg_tee_get_quote(t, &q, rd));
    pthread_join(th, NULL);
    assert_int_equal(k.fail, 0);
    assert_memory_equal(q.data + 568, rd, 64);
    kg_buf_free(&q);

    /* a generation that moved by two means another writer raced us: refused */
    k.generation = 8;
    k.fail = 0;
    path_of(p, sizeof(p), entry, "generation");
    write_text(p, "7\n"); /* backend reads 7, kernel thread then writes 9 */
    k.generation = 8;
    assert_int_equal(pthread_create(&th, NULL, kernel_thread, &k), 0);
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    KG_ASSERT_ERR(kg_tee_get_quote(t, &q, rd), KG_ERR_IO, "raced with another writer");
    pthread_join(th, NULL);
    assert_int_equal(q.len, 0); /* the raced quote is not handed back */
    kg_buf_free(&q);

    /* extend: the backend writes the event digest to the RTMR file */
    uint8_t digest[48], reg[48] = {0};
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_ASSERT_OK(kg_event_digest(digest, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    uint8_t written[48];
    f = fopen(rtmr, "rb");
    assert_int_equal(fread(written, 1, 48, f), 48);
    fclose(f);
    assert_memory_equal(written, digest, 48);
    /* ... and the kernel turns that into the extended value */
    KG_ASSERT_OK(kg_rtmr_extend(reg, digest));
    f = fopen(rtmr, "wb");
    fwrite(reg, 1, 48, f);
    fclose(f);
    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_read_eventlog(t, &log));
    assert_int_equal(log.count, 1);
    assert_string_equal(log.events[0].name, KG_EVENT_SYSTEM_PREPARING);
    kg_eventlog_free(&log);
    /* the register also reads as hex text on some kernels */
    char hex[98];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), reg, 48));
    write_text(rtmr, hex);
    uint8_t back[48];
    KG_ASSERT_OK(kg_tee_read_rtmr3(t, back));
    assert_memory_equal(back, reg, 48);
    kg_tee_free(t);

    /* a provider other than tdx_guest is refused */
    path_of(p, sizeof(p), entry, "provider");
    write_text(p, "sev_guest\n");
    KG_ASSERT_OK(kg_tee_open_linux(&t, &cfg));
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    KG_ASSERT_ERR(kg_tee_get_quote(t, &q, rd), KG_ERR_DENIED, "provider is 'sev_guest'");
    kg_buf_free(&q);
    kg_tee_free(t);

    kg_tee_linux_config missing = {"/nonexistent/tsm/report", NULL, NULL, NULL};
    KG_ASSERT_ERR(kg_tee_open_linux(&t, &missing), KG_ERR_NOT_FOUND, "not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(platform_files_and_modes),
        cmocka_unit_test(sim_extend_replay_and_quote),
        cmocka_unit_test(journal_recovery),
        cmocka_unit_test(linux_backend_imitation_tree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
