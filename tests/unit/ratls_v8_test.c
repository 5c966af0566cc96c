/* ratls_v8_test.c - dstack's attestation extension .8: V0 (SCALE) and V1 (msgpack) encodings of
 * a simulated VM's evidence verify to the same identity as the legacy .1/.2 path; event-log V2
 * events replay; every truncation, trailing byte, unsupported variant, report_data that is not
 * the quote's, a lying TDX event digest and a certificate carrying both forms are refused. */
#include "test_util.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/ratls.h"
#include "keygate/sim.h"
#include "keygate/tee.h"
#include "ratls/msgpack.h"
#include "ratls/ratls_internal.h"

static char g_dir[64], g_plat[128];
static kg_buf g_coll;
static kg_dcap_verifier *g_ver;
static kg_tee *g_app, *g_v2;
static uint8_t g_app_id[20], g_compose[32];

static void boot(kg_tee *t, bool v2)
{
    uint8_t inst[20];
    memset(inst, 0x1d, 20);
    KG_ASSERT_OK(kg_tee_extend_version(t, v2, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend_version(t, v2, KG_EVENT_APP_ID, g_app_id, 20));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_COMPOSE_HASH, g_compose, 32));
    KG_ASSERT_OK(kg_tee_extend_version(t, v2, KG_EVENT_INSTANCE_ID, inst, 20));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend_version(t, v2, KG_EVENT_SYSTEM_READY, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend_version(t, v2, "app-event\"x\\", (const uint8_t *)"\x00\xff", 2));
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/kg-ratls-v8-test-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_plat, sizeof(g_plat), "%s/platform", g_dir);
    if (kg_failed(kg_sim_init(g_plat, NULL)))
        return -1;
    kg_buf root;
    kg_buf_init(&root, 65536);
    kg_buf_init(&g_coll, KG_MAX_COLLATERAL_LEN);
    if (kg_failed(kg_sim_root_ca_der(&root, g_plat)) ||
        kg_failed(kg_dcap_verifier_new(&g_ver, root.data, root.len)) ||
        kg_failed(kg_sim_collateral(&g_coll, g_plat)))
        return -1;
    kg_buf_free(&root);
    memset(g_app_id, 0xbb, 20);
    memset(g_compose, 0xcc, 32);
    if (kg_failed(kg_tee_open_sim(&g_app, g_plat, "app")) ||
        kg_failed(kg_tee_open_sim(&g_v2, g_plat, "v2app")))
        return -1;
    boot(g_app, false);
    boot(g_v2, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kg_tee_free(g_app);
    kg_tee_free(g_v2);
    kg_dcap_verifier_free(g_ver);
    kg_buf_free(&g_coll);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static kg_ratls_policy policy(void)
{
    kg_ratls_policy p = {
        .verifier = g_ver, .collateral_json = (char *)g_coll.data, .collateral_len = g_coll.len};
    return p;
}

static void cert_for(kg_buf *der, kg_tee *t, const kg_p256_key *key, kg_ratls_format f)
{
    kg_ratls_cert_opts o = {0};
    o.usage = KG_RATLS_USAGE_APP_CUSTOM;
    o.app_id = g_app_id;
    o.format = f;
    kg_buf_init(der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_ratls_cert_new(der, t, key, &o));
}

static void assert_same_identity(const kg_ratls_identity *a, const kg_ratls_identity *b)
{
    assert_memory_equal(&a->boot.app_id, &b->boot.app_id, sizeof(a->boot.app_id));
    assert_memory_equal(a->boot.compose_hash, b->boot.compose_hash, 32);
    assert_int_equal(a->boot.instance_id_len, b->boot.instance_id_len);
    assert_memory_equal(a->boot.instance_id, b->boot.instance_id, 20);
    assert_int_equal(a->boot.has_device_id, b->boot.has_device_id);
    assert_memory_equal(a->boot.device_id, b->boot.device_id, 32);
    assert_memory_equal(a->boot.mr_aggregated, b->boot.mr_aggregated, 32);
    assert_memory_equal(a->boot.mr_system, b->boot.mr_system, 32);
    assert_memory_equal(a->boot.os_image_hash, b->boot.os_image_hash, 32);
    assert_memory_equal(a->rtmr, b->rtmr, sizeof(a->rtmr));
    assert_int_equal(a->system_ready, b->system_ready);
    assert_string_equal(a->usage, b->usage);
}

/* The three formats of one VM's evidence verify to one identity. */
static void v8_same_identity_as_legacy(void **state)
{
    (void)state;
    kg_p256_key *key = NULL;
    KG_ASSERT_OK(kg_p256_generate(&key));
    kg_ratls_policy pol = policy();
    kg_ratls_identity legacy, v0, v1;
    kg_buf d_legacy, d_v0, d_v1;
    cert_for(&d_legacy, g_app, key, KG_RATLS_FORMAT_LEGACY);
    cert_for(&d_v0, g_app, key, KG_RATLS_FORMAT_V8);
    cert_for(&d_v1, g_app, key, KG_RATLS_FORMAT_V8_MSGPACK);
    KG_ASSERT_OK(kg_ratls_verify_cert(&legacy, d_legacy.data, d_legacy.len, &pol));
    KG_ASSERT_OK(kg_ratls_verify_cert(&v0, d_v0.data, d_v0.len, &pol));
    KG_ASSERT_OK(kg_ratls_verify_cert(&v1, d_v1.data, d_v1.len, &pol));
    assert_true(legacy.boot.has_app_id);
    assert_memory_equal(legacy.boot.app_id, g_app_id, 20);
    assert_same_identity(&legacy, &v0);
    assert_same_identity(&legacy, &v1);

    kg_ratls_evidence ev;
    KG_ASSERT_OK(kg_ratls_parse_cert(&ev, d_v0.data, d_v0.len));
    assert_true(ev.has_attestation);
    assert_int_equal(ev.attestation_wire, KG_RATLS_ATTESTATION_V0);
    kg_ratls_evidence_free(&ev);
    KG_ASSERT_OK(kg_ratls_parse_cert(&ev, d_v1.data, d_v1.len));
    assert_true(ev.has_attestation);
    assert_int_equal(ev.attestation_wire, KG_RATLS_ATTESTATION_V1);
    kg_ratls_evidence_free(&ev);
    KG_ASSERT_OK(kg_ratls_parse_cert(&ev, d_legacy.data, d_legacy.len));
    assert_false(ev.has_attestation);
    kg_ratls_evidence_free(&ev);
    kg_buf_free(&d_legacy);
    kg_buf_free(&d_v0);
    kg_buf_free(&d_v1);
    kg_p256_free(key);
}

/* A VM whose events are partly event-log V2: .8 picks V1 msgpack, and replay verifies. */
static void v2_events_replay(void **state)
{
    (void)state;
    kg_p256_key *key = NULL;
    KG_ASSERT_OK(kg_p256_generate(&key));
    kg_ratls_policy pol = policy();
    kg_ratls_identity id, legacy;
    kg_buf der, dl;
    cert_for(&der, g_v2, key, KG_RATLS_FORMAT_V8);
    kg_ratls_evidence ev;
    KG_ASSERT_OK(kg_ratls_parse_cert(&ev, der.data, der.len));
    assert_int_equal(ev.attestation_wire, KG_RATLS_ATTESTATION_V1);
    kg_ratls_evidence_free(&ev);
    KG_ASSERT_OK(kg_ratls_verify_cert(&id, der.data, der.len, &pol));
    assert_memory_equal(id.boot.app_id, g_app_id, 20);
    assert_int_equal(id.boot.instance_id_len, 20);
    /* the legacy JSON carries "version":2 and verifies to the same identity */
    cert_for(&dl, g_v2, key, KG_RATLS_FORMAT_LEGACY);
    KG_ASSERT_OK(kg_ratls_verify_cert(&legacy, dl.data, dl.len, &pol));
    assert_same_identity(&legacy, &id);

    /* V0 cannot say V2 */
    kg_eventlog log;
    kg_buf out;
    uint8_t rd[64] = {0};
    kg_buf_init(&out, 1 << 20);
    KG_ASSERT_OK(kg_tee_read_eventlog(g_v2, &log));
    KG_ASSERT_ERR(kg_ratls_attestation_encode(&out, KG_RATLS_ATTESTATION_V0, rd, 1, &log, rd, NULL),
                  KG_ERR_USAGE, "cannot carry event-log V2 events");
    kg_eventlog_free(&log);
    kg_buf_free(&out);
    kg_buf_free(&der);
    kg_buf_free(&dl);
    kg_p256_free(key);
}

/* V2 digest: the canonical JSON of dstack's runtime_events.rs tests. */
static void v2_digest_is_jcs(void **state)
{
    (void)state;
    uint8_t d[48], want[48];
    const char *jcs = "{\"name\":\"compose-hash\",\"payload\":\"abcd\",\"type\":134217729}";
    KG_ASSERT_OK(kg_event_digest_v2(d, "compose-hash", (const uint8_t *)"\xab\xcd", 2));
    KG_ASSERT_OK(kg_sha384(want, jcs, strlen(jcs)));
    assert_memory_equal(d, want, 48);
    const char *esc = "{\"name\":\"a\\\"b\\\\c\",\"payload\":\"\",\"type\":134217729}";
    KG_ASSERT_OK(kg_event_digest_v2(d, "a\"b\\c", NULL, 0));
    KG_ASSERT_OK(kg_sha384(want, esc, strlen(esc)));
    assert_memory_equal(d, want, 48);
}

static void encode_log(kg_buf *out, kg_ratls_attestation_wire w, const kg_eventlog *log)
{
    uint8_t rd[64];
    memset(rd, 0x5a, 64);
    kg_buf_init(out, 1 << 20);
    KG_ASSERT_OK(
        kg_ratls_attestation_encode(out, w, (const uint8_t *)"QUOTE", 5, log, rd, "{\"vm\":1}"));
}

/* Round trip, then every prefix and a trailing byte are refused, for both wires. */
static void truncations_and_trailing(void **state)
{
    (void)state;
    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_read_eventlog(g_app, &log));
    for (int w = 0; w < 2; w++) {
        kg_buf enc;
        encode_log(&enc, (kg_ratls_attestation_wire)w, &log);
        kg_ratls_attestation a;
        KG_ASSERT_OK(kg_ratls_attestation_parse(&a, enc.data, enc.len));
        assert_int_equal(a.wire, w);
        assert_int_equal(a.quote.len, 5);
        assert_memory_equal(a.quote.data, "QUOTE", 5);
        assert_int_equal(a.runtime_events.count, log.count);
        assert_int_equal(a.n_platform_events, log.count);
        for (size_t i = 0; i < log.count; i++) {
            assert_string_equal(a.runtime_events.events[i].name, log.events[i].name);
            assert_memory_equal(a.runtime_events.events[i].digest, log.events[i].digest, 48);
        }
        assert_string_equal((const char *)a.config.data, "{\"vm\":1}");
        assert_int_equal(a.report_data[63], 0x5a);
        kg_ratls_attestation_free(&a);
        for (size_t n = 0; n < enc.len; n++) {
            kg_error_clear();
            if (kg_ok(kg_ratls_attestation_parse(&a, enc.data, n)))
                fail_msg("wire %d: a %zu-byte prefix of %zu parsed", w, n, enc.len);
            assert_true(kg_error_code() == KG_ERR_TRUNCATED || kg_error_code() == KG_ERR_INPUT);
            kg_ratls_attestation_free(&a);
        }
        KG_ASSERT_OK(kg_buf_append_u8(&enc, 0xaa));
        KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, enc.data, enc.len), KG_ERR_INPUT,
                      w == 0 ? "1 trailing bytes after the V0 attestation"
                             : "1 trailing bytes after the V1 attestation");
        kg_ratls_attestation_free(&a);
        kg_buf_free(&enc);
    }
    KG_ASSERT_ERR(kg_ratls_attestation_parse(&(kg_ratls_attestation){0}, (const uint8_t *)"", 0),
                  KG_ERR_TRUNCATED, "attestation is empty");
    kg_eventlog_free(&log);
}

static void variants_refused(void **state)
{
    (void)state;
    static const char *const names[] = {"DstackGcpTdx", "DstackNitroEnclave", "DstackAmdSevSnp",
                                        "DstackAwsNitroTpm"};
    kg_ratls_attestation a;
    for (uint8_t q = 1; q <= 4; q++) {
        uint8_t b[] = {0x00, q, 0x00};
        char want[96];
        snprintf(want, sizeof(want), "attestation quote variant %s is not supported", names[q - 1]);
        KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, b, sizeof(b)), KG_ERR_DENIED, want);
        kg_ratls_attestation_free(&a);
    }
    uint8_t b5[] = {0x00, 5};
    KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, b5, sizeof(b5)), KG_ERR_INPUT,
                  "'AttestationQuote': enum index 5 out of range (5 variants)");
    uint8_t v1[] = {0x04, 0x00};
    KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, v1, sizeof(v1)), KG_ERR_INPUT,
                  "unknown attestation wire format (first byte 0x04)");

    /* msgpack: platform and stack kinds, the version */
    struct {
        const char *platform, *stack;
        unsigned version;
        kg_err code;
        const char *needle;
    } cases[] = {
        {"sev-snp", "dstack", 1, KG_ERR_DENIED, "attestation platform 'sev-snp' is not supported"},
        {"gcp-tdx", "dstack", 1, KG_ERR_DENIED, "attestation platform 'gcp-tdx' is not supported"},
        {"nitro-enclave", "dstack", 1, KG_ERR_DENIED, "'nitro-enclave' is not supported"},
        {"tpm", "dstack", 1, KG_ERR_INPUT, "unknown attestation platform 'tpm'"},
        {"tdx", "dstack-pod", 1, KG_ERR_DENIED, "attestation stack 'dstack-pod' is not supported"},
        {"tdx", "dstack", 2, KG_ERR_INPUT, "unsupported attestation version 2 (want 1)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kg_buf m;
        kg_buf_init(&m, 4096);
        KG_ASSERT_OK(kg_mp_put_map(&m, 3));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "version"));
        KG_ASSERT_OK(kg_mp_put_uint(&m, cases[i].version));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "platform"));
        KG_ASSERT_OK(kg_mp_put_map(&m, 2));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "kind"));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, cases[i].platform));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "data"));
        KG_ASSERT_OK(kg_mp_put_map(&m, 2));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "quote"));
        KG_ASSERT_OK(kg_mp_put_bin(&m, "q", 1));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "event_log"));
        KG_ASSERT_OK(kg_mp_put_array(&m, 0));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "stack"));
        KG_ASSERT_OK(kg_mp_put_map(&m, 2));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "kind"));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, cases[i].stack));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "data"));
        KG_ASSERT_OK(kg_mp_put_map(&m, 3));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "report_data"));
        KG_ASSERT_OK(kg_mp_put_bin(&m, g_compose, 32));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "runtime_events"));
        KG_ASSERT_OK(kg_mp_put_array(&m, 0));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, "config"));
        KG_ASSERT_OK(kg_mp_put_cstr(&m, ""));
        KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, m.data, m.len), cases[i].code,
                      cases[i].needle);
        kg_buf_free(&m);
    }
    /* unknown and repeated keys */
    kg_buf m;
    kg_buf_init(&m, 256);
    KG_ASSERT_OK(kg_mp_put_map(&m, 2));
    KG_ASSERT_OK(kg_mp_put_cstr(&m, "version"));
    KG_ASSERT_OK(kg_mp_put_uint(&m, 1));
    KG_ASSERT_OK(kg_mp_put_cstr(&m, "version"));
    KG_ASSERT_OK(kg_mp_put_uint(&m, 1));
    KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, m.data, m.len), KG_ERR_INPUT,
                  "Attestation: key 'version' appears twice");
    kg_buf_reset(&m);
    KG_ASSERT_OK(kg_mp_put_map(&m, 1));
    KG_ASSERT_OK(kg_mp_put_cstr(&m, "extra"));
    KG_ASSERT_OK(kg_mp_put_uint(&m, 1));
    KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, m.data, m.len), KG_ERR_INPUT,
                  "Attestation: unknown key 'extra'");
    kg_buf_reset(&m);
    KG_ASSERT_OK(kg_mp_put_map(&m, 1));
    KG_ASSERT_OK(kg_mp_put_cstr(&m, "version"));
    KG_ASSERT_OK(kg_mp_put_uint(&m, 1));
    KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, m.data, m.len), KG_ERR_INPUT,
                  "Attestation: missing key 'platform'");
    kg_buf_free(&m);
}

/* A TDX event log entry whose stated digest is not its content's, in either wire. */
static void lying_platform_digest(void **state)
{
    (void)state;
    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_read_eventlog(g_app, &log));
    log.events[1].digest[0] ^= 1;
    for (int w = 0; w < 2; w++) {
        kg_buf enc;
        encode_log(&enc, (kg_ratls_attestation_wire)w, &log);
        kg_ratls_attestation a;
        KG_ASSERT_ERR(kg_ratls_attestation_parse(&a, enc.data, enc.len), KG_ERR_VERIFY,
                      "TDX event 1 ('app-id'): digest does not match its name and payload");
        kg_buf_free(&enc);
    }
    kg_eventlog_free(&log);
}

/* A self-signed certificate for key with the given extensions (raw payloads). */
static void build_cert(kg_buf *der, const kg_p256_key *key, const char *oid1, const void *p1,
                       size_t n1, const char *oid2, const void *p2, size_t n2)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, kg_p256_evp(key));
    KG_ASSERT_OK(kg_ratls_add_ext(x, oid1, p1, n1));
    if (oid2 != NULL)
        KG_ASSERT_OK(kg_ratls_add_ext(x, oid2, p2, n2));
    assert_true(X509_sign(x, kg_p256_evp(key), EVP_sha256()) > 0);
    uint8_t *buf = NULL;
    int n = i2d_X509(x, &buf);
    assert_true(n > 0);
    kg_buf_init(der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_buf_append(der, buf, (size_t)n));
    OPENSSL_free(buf);
    X509_free(x);
}

static void bad_bindings_refused(void **state)
{
    (void)state;
    kg_p256_key *key = NULL;
    KG_ASSERT_OK(kg_p256_generate(&key));
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    kg_buf quote, json, att, der;
    kg_eventlog log;
    uint8_t rd[64];
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&json, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&att, 1 << 20);
    KG_ASSERT_OK(kg_ratls_attest_key(&quote, &json, g_app, key));
    KG_ASSERT_OK(kg_eventlog_parse(&log, (const char *)json.data, json.len));
    KG_ASSERT_OK(kg_ratls_key_report_data(rd, key));

    /* the good one, hand-built: verifies */
    KG_ASSERT_OK(kg_ratls_attestation_encode(&att, KG_RATLS_ATTESTATION_V0, quote.data, quote.len,
                                             &log, rd, NULL));
    build_cert(&der, key, KG_OID_RATLS_ATTESTATION, att.data, att.len, NULL, NULL, 0);
    KG_ASSERT_OK(kg_ratls_verify_cert(&id, der.data, der.len, &pol));
    kg_buf_free(&der);
    /* .8 together with .1: refused at parse */
    build_cert(&der, key, KG_OID_RATLS_ATTESTATION, att.data, att.len, KG_OID_RATLS_QUOTE,
               quote.data, quote.len);
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_INPUT,
                  "carries both the attestation extension (.8) and the legacy");
    kg_buf_free(&der);
    /* the attestation's report_data is not the quote's */
    uint8_t bad_rd[64];
    memcpy(bad_rd, rd, 64);
    bad_rd[5] ^= 1;
    kg_buf_reset(&att);
    KG_ASSERT_OK(kg_ratls_attestation_encode(&att, KG_RATLS_ATTESTATION_V1, quote.data, quote.len,
                                             &log, bad_rd, NULL));
    build_cert(&der, key, KG_OID_RATLS_ATTESTATION, att.data, att.len, NULL, NULL, 0);
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "RA-TLS attestation's report_data differs from the quote's");
    kg_buf_free(&der);
    /* the quote is over another key */
    kg_p256_key *other = NULL;
    KG_ASSERT_OK(kg_p256_generate(&other));
    kg_buf_reset(&att);
    KG_ASSERT_OK(kg_ratls_attestation_encode(&att, KG_RATLS_ATTESTATION_V0, quote.data, quote.len,
                                             &log, rd, NULL));
    build_cert(&der, other, KG_OID_RATLS_ATTESTATION, att.data, att.len, NULL, NULL, 0);
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "not bound to the quote");
    kg_buf_free(&der);
    /* runtime events that do not replay to RTMR3 (the last one left out) */
    log.count--;
    free(log.events[log.count].payload);
    kg_buf_reset(&att);
    KG_ASSERT_OK(kg_ratls_attestation_encode(&att, KG_RATLS_ATTESTATION_V1, quote.data, quote.len,
                                             &log, rd, NULL));
    build_cert(&der, key, KG_OID_RATLS_ATTESTATION, att.data, att.len, NULL, NULL, 0);
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "event log replay does not match RTMR3");
    kg_buf_free(&der);
    kg_p256_free(other);
    kg_eventlog_free(&log);
    kg_buf_free(&quote);
    kg_buf_free(&json);
    kg_buf_free(&att);
    kg_p256_free(key);
}

/* The programs' --ratls-format names: dstack (and its older name v8) is .8, legacy .1/.2; an
 * unknown name is a usage error that quotes it and changes nothing. */
static void format_names(void **state)
{
    (void)state;
    kg_ratls_format f = KG_RATLS_FORMAT_V8_MSGPACK;
    KG_ASSERT_OK(kg_ratls_format_from_name(&f, "legacy"));
    assert_int_equal(f, KG_RATLS_FORMAT_LEGACY);
    KG_ASSERT_OK(kg_ratls_format_from_name(&f, "dstack"));
    assert_int_equal(f, KG_RATLS_FORMAT_V8);
    f = KG_RATLS_FORMAT_LEGACY;
    KG_ASSERT_OK(kg_ratls_format_from_name(&f, "v8"));
    assert_int_equal(f, KG_RATLS_FORMAT_V8);
    KG_ASSERT_OK(kg_ratls_format_from_name(&f, "dstack-msgpack"));
    assert_int_equal(f, KG_RATLS_FORMAT_V8_MSGPACK);
    KG_ASSERT_ERR(kg_ratls_format_from_name(&f, "Dstack"), KG_ERR_USAGE, "'Dstack' is none of");
    KG_ASSERT_ERR(kg_ratls_format_from_name(&f, ""), KG_ERR_USAGE, "'' is none of");
    assert_int_equal(f, KG_RATLS_FORMAT_V8_MSGPACK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v8_same_identity_as_legacy), cmocka_unit_test(v2_events_replay),
        cmocka_unit_test(v2_digest_is_jcs),           cmocka_unit_test(truncations_and_trailing),
        cmocka_unit_test(variants_refused),           cmocka_unit_test(lying_platform_digest),
        cmocka_unit_test(bad_bindings_refused),       cmocka_unit_test(format_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
