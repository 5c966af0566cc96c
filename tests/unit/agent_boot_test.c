/* agent_boot_test.c - the agent over a real simulated TEE: quotes whose event log replays to all
 * four RTMRs, EmitEvent extending RTMR3, and the boot flow's identity events, instance seed and
 * clean failure (no keys) when no KMS answers. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/agent_boot.h"
#include "keygate/hash.h"
#include "keygate/sim.h"

typedef struct fx {
    char dir[128];
    char spec[256];
    kg_tee *tee;
    kg_buf bootlog;
    kg_agent_tee_ctx ctx;
    kg_agent *agent;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kg-agent-boot-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    KG_ASSERT_OK(kg_sim_init(f->dir, NULL));
    snprintf(f->spec, sizeof(f->spec), "sim:%s:app", f->dir);
    KG_ASSERT_OK(kg_tee_open(&f->tee, f->spec));
    kg_buf_init(&f->bootlog, 1 << 20);
    KG_ASSERT_OK(kg_agent_boot_eventlog(&f->bootlog, f->spec));
    f->ctx.tee = f->tee;
    f->ctx.boot_eventlog_json = (const char *)f->bootlog.data;
    kg_agent_platform plat;
    kg_agent_platform_tee(&plat, &f->ctx);
    assert_null(plat.sign_cert); /* no KMS configured: GetTlsKey refuses cleanly */
    kg_agent_keys keys = {0};
    keys.k256_key[31] = 1;
    kg_agent_identity id = {.app_compose = "{}"};
    KG_ASSERT_OK(kg_agent_new(&f->agent, &keys, &id, &plat));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    kg_agent_free(f->agent);
    kg_tee_free(f->tee);
    kg_buf_free(&f->bootlog);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static json_t *call(fx *f, const char *method, const char *body)
{
    kg_buf out;
    int status = 0;
    kg_buf_init(&out, 1 << 22);
    KG_ASSERT_OK(
        kg_agent_handle(f->agent, method, (const uint8_t *)body, strlen(body), &status, &out));
    if (status != 200)
        fail_msg("%s: %d %.*s", method, status, (int)out.len, out.data);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(j);
    kg_buf_free(&out);
    return j;
}

/* The SDK's replayRtmrs(): per imr, RTMR = SHA-384(RTMR || digest) from zero. */
static void replay_all(uint8_t regs[4][48], const char *event_log)
{
    json_t *arr = json_loads(event_log, 0, NULL);
    assert_true(json_is_array(arr));
    memset(regs, 0, 4 * 48);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        int imr = (int)json_integer_value(json_object_get(e, "imr"));
        assert_true(imr >= 0 && imr < 4);
        uint8_t d[48];
        KG_ASSERT_OK(kg_hex_decode_exact(d, 48, json_string_value(json_object_get(e, "digest"))));
        KG_ASSERT_OK(kg_rtmr_extend(regs[imr], d));
    }
    json_decref(arr);
}

static void quote_regs(uint8_t regs[4][48], uint8_t rd[64], const char *quote_hex)
{
    kg_buf q;
    kg_test_hex(&q, quote_hex);
    assert_true(q.len > 632);
    for (int i = 0; i < 4; i++)
        memcpy(regs[i], q.data + 376 + 48 * i, 48);
    memcpy(rd, q.data + 568, 64);
    kg_buf_free(&q);
}

static void quote_log_replays_every_rtmr(void **state)
{
    fx *f = *state;
    json_t *ev = call(f, "EmitEvent", "{\"event\":\"app-started\",\"payload\":\"7631\"}");
    json_decref(ev);
    json_t *j = call(f, "GetQuote", "{\"report_data\":\"68656c6c6f\"}");
    uint8_t got[4][48], want[4][48], rd[64], want_rd[64] = {'h', 'e', 'l', 'l', 'o'};
    quote_regs(want, rd, json_string_value(json_object_get(j, "quote")));
    replay_all(got, json_string_value(json_object_get(j, "event_log")));
    assert_memory_equal(got, want, sizeof(got));
    assert_memory_equal(rd, want_rd, 64);
    uint8_t zero[48] = {0};
    for (int i = 0; i < 4; i++)
        assert_memory_not_equal(want[i], zero, 48); /* all four registers carry events */
    assert_non_null(strstr(json_string_value(json_object_get(j, "event_log")),
                           "\"event\":\"app-started\",\"event_payload\":\"7631\""));
    json_decref(j);

    /* Info reports the same registers and an mr_aggregated over them. */
    j = call(f, "Info", "{}");
    json_t *tcb = json_loads(json_string_value(json_object_get(j, "tcb_info")), 0, NULL);
    char hex[97];
    KG_ASSERT_OK(kg_hex_encode(hex, sizeof(hex), want[3], 48));
    assert_string_equal(json_string_value(json_object_get(tcb, "rtmr3")), hex);
    assert_int_equal(json_array_size(json_object_get(tcb, "event_log")), 7 + 1); /* boot + app */
    /* No verified PCK certificate in this fixture: device_id says "unknown", not zeros. */
    assert_string_equal(json_string_value(json_object_get(j, "device_id")), "");
    assert_string_equal(json_string_value(json_object_get(tcb, "device_id")), "");
    json_decref(tcb);
    json_decref(j);
}

static void emit_event_moves_rtmr3(void **state)
{
    fx *f = *state;
    uint8_t before[48], after[48], expect[48], d[48];
    KG_ASSERT_OK(kg_tee_read_rtmr3(f->tee, before));
    json_decref(call(f, "EmitEvent", "{\"event\":\"x\",\"payload\":\"\"}"));
    KG_ASSERT_OK(kg_tee_read_rtmr3(f->tee, after));
    memcpy(expect, before, 48);
    KG_ASSERT_OK(kg_event_digest(d, "x", NULL, 0));
    KG_ASSERT_OK(kg_rtmr_extend(expect, d));
    assert_memory_equal(after, expect, 48);
}

static void log_line(void *ctx, const char *msg)
{
    (*(int *)ctx)++;
}

/* No KMS answers: identity measured, then a clean failure with no key material. */
static void boot_without_kms_fails_cleanly(void **state)
{
    fx *f = *state;
    char state_dir[200], seed_path[260];
    snprintf(state_dir, sizeof(state_dir), "%s/appstate", f->dir);
    snprintf(seed_path, sizeof(seed_path), "%s/instance-seed", state_dir);
    const char *urls[] = {"https://127.0.0.1:1", "https://127.0.0.1:2"};
    const char *compose = "{\"name\":\"demo\"}";
    int lines = 0;
    kg_kms_trust trust = {.root_ca_pem = "-----BEGIN CERTIFICATE-----\n"};
    kg_boot_config cfg = {.tee = f->tee,
                          .compose = compose,
                          .compose_len = strlen(compose),
                          .state_dir = state_dir,
                          .kms_urls = urls,
                          .n_kms_urls = 2,
                          .kms = &trust,
                          .log = log_line,
                          .log_ctx = &lines};
    kg_boot_result r;
    /* The root secp256k1 key is required: without it no KMS signature could be checked. */
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_USAGE, "no KMS root secp256k1 key given");
    kg_boot_result_free(&r);
    /* secp256k1's generator, compressed: a valid point to pin. */
    KG_ASSERT_OK(
        kg_hex_decode_exact(trust.root_k256_pub, KG_K256_PUB_LEN,
                            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"));
    kg_ratls_policy pol = {0};
    trust.attestation = &pol;
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_USAGE, "needs the chain");
    kg_boot_result_free(&r);
    trust.attestation = NULL;
    memset(cfg.app_id, 0xab, 20);
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_NETWORK,
                  "KMS GetTempCaCert at https://127.0.0.1:2");
    assert_int_equal(lines, 1); /* the first failure is reported as a failover, the last returned */

    /* With a retry window the rounds repeat with backoff, then the last error is returned. */
    kg_tee_free(f->tee);
    f->tee = NULL;
    KG_ASSERT_OK(kg_tee_open_sim(&f->tee, f->dir, "vm-retry"));
    cfg.tee = f->tee;
    cfg.retry_for_ms = 700;
    lines = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_NETWORK,
                  "KMS GetTempCaCert at https://127.0.0.1:2");
    clock_gettime(CLOCK_MONOTONIC, &b);
    double waited = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(waited >= 0.5 && waited < 5.0); /* one 0.5 s backoff, then the window closed */
    assert_true(lines >= 4);                    /* every failure and the retry were reported */
    cfg.retry_for_ms = 0;
    kg_boot_result_free(&r);
    uint8_t zero[32] = {0};
    assert_memory_equal(r.keys.k256_key, zero, 32);
    assert_memory_equal(r.keys.disk_key, zero, 32);
    assert_memory_equal(r.keys.env_key, zero, 32);
    assert_null(r.key_provider_info);

    /* The identity events are in RTMR3's log, and nothing after boot-mr-done. */
    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_read_eventlog(f->tee, &log));
    assert_int_equal(log.count, 5);
    assert_string_equal(log.events[0].name, "system-preparing");
    assert_string_equal(log.events[1].name, "app-id");
    assert_memory_equal(log.events[1].payload, cfg.app_id, 20);
    assert_string_equal(log.events[2].name, "compose-hash");
    uint8_t h[32];
    KG_ASSERT_OK(kg_sha256(h, compose, strlen(compose)));
    assert_memory_equal(log.events[2].payload, h, 32);
    assert_string_equal(log.events[3].name, "instance-id");
    assert_int_equal(log.events[3].payload_len, 20);
    assert_string_equal(log.events[4].name, "boot-mr-done");

    /* The instance seed persists (0600) and gives the same instance id next boot. */
    struct stat st;
    assert_int_equal(stat(seed_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 20);
    uint8_t first_id[20];
    memcpy(first_id, log.events[3].payload, 20);
    kg_eventlog_free(&log);
    kg_tee *tee2 = NULL;
    char spec2[300];
    snprintf(spec2, sizeof(spec2), "sim:%s:app-reboot", f->dir);
    KG_ASSERT_OK(kg_tee_open(&tee2, spec2));
    cfg.tee = tee2;
    cfg.n_kms_urls = 1;
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_NETWORK, "KMS GetTempCaCert");
    KG_ASSERT_OK(kg_tee_read_eventlog(tee2, &log));
    assert_memory_equal(log.events[3].payload, first_id, 20);
    kg_eventlog_free(&log);
    kg_tee_free(tee2);

    /* The seed is a secret read (fileio.h): one others could read is refused, not used, and a
     * seed of another length is an error, not a shorter or longer instance id. */
    cfg.tee = f->tee;
    assert_int_equal(chmod(seed_path, 0640), 0);
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_DENIED, "accessible to group or others");
    FILE *sf = fopen(seed_path, "ab");
    assert_non_null(sf);
    assert_int_equal(fputc(0, sf), 0);
    fclose(sf);
    assert_int_equal(chmod(seed_path, 0600), 0);
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_INPUT, "is not exactly 20 bytes");
    assert_int_equal(truncate(seed_path, 19), 0);
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_INPUT, "is not exactly 20 bytes");
}

/* GetTlsKey through the real platform when no KMS answers: every URL is tried (the error names
 * the last), and the app gets 503 (could not decide, kg_err_http_status), not a refusal. */
static void get_tls_key_without_kms_is_unavailable(void **state)
{
    fx *f = *state;
    const char *urls[] = {"https://127.0.0.1:1", "https://127.0.0.1:2"};
    kg_kms_trust trust = {.root_ca_pem = "-----BEGIN CERTIFICATE-----\n"};
    kg_agent_tee_ctx ctx = {.tee = f->tee,
                            .boot_eventlog_json = (const char *)f->bootlog.data,
                            .kms_urls = urls,
                            .n_kms_urls = 2,
                            .kms = &trust};
    kg_agent_platform plat;
    kg_agent_platform_tee(&plat, &ctx);
    assert_non_null(plat.sign_cert);
    kg_agent_keys keys = {0};
    keys.k256_key[31] = 1;
    kg_agent_identity id = {.app_compose = "{}"};
    kg_agent *a = NULL;
    KG_ASSERT_OK(kg_agent_new(&a, &keys, &id, &plat));
    kg_buf out;
    kg_buf_init(&out, 1 << 16);
    int status = 0;
    const char *body = "{\"subject\":\"a.test\"}";
    KG_ASSERT_OK(
        kg_agent_handle(a, "GetTlsKey", (const uint8_t *)body, strlen(body), &status, &out));
    assert_int_equal(status, 503);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    const char *err = json_string_value(json_object_get(j, "error"));
    assert_non_null(err);
    assert_non_null(strstr(err, "https://127.0.0.1:2"));
    json_decref(j);
    kg_buf_free(&out);
    kg_agent_free(a);
}

static void boot_requires_kms_and_pin(void **state)
{
    fx *f = *state;
    kg_boot_config cfg = {.tee = f->tee, .compose = "{}", .compose_len = 2, .state_dir = f->dir};
    kg_boot_result r;
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_USAGE, "no KMS URL given");
    const char *urls[] = {"https://127.0.0.1:1"};
    cfg.kms_urls = urls;
    cfg.n_kms_urls = 1;
    KG_ASSERT_ERR(kg_agent_boot(&r, &cfg), KG_ERR_USAGE, "no pinned KMS root CA given");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quote_log_replays_every_rtmr, setup, teardown),
        cmocka_unit_test_setup_teardown(emit_event_moves_rtmr3, setup, teardown),
        cmocka_unit_test_setup_teardown(boot_without_kms_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(get_tls_key_without_kms_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(boot_requires_kms_and_pin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
