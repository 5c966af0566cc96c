/* ratls_test.c - RA-TLS certificates from simulated VMs: verified identity, key/REPORTDATA
 * binding, event log and app id checks, CA-issued leaves, validity, trust root, and a mutual
 * TLS 1.3 handshake on loopback where each side extracts the other's verified identity. */
#include "test_util.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/ratls.h"
#include "keygate/sim.h"
#include "keygate/tee.h"
#include "ratls/ratls_internal.h"

static char g_dir[64], g_plat[128];
static kg_buf g_coll;
static kg_dcap_verifier *g_ver;
static kg_tee *g_kms, *g_app;
static uint8_t g_kms_app_id[20], g_app_app_id[20], g_compose[32];

static void boot(kg_tee *t, const uint8_t app_id[20])
{
    uint8_t inst[20];
    memset(inst, 0x1d, 20);
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_APP_ID, app_id, 20));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_COMPOSE_HASH, g_compose, 32));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_INSTANCE_ID, inst, 20));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_SYSTEM_READY, NULL, 0));
}

static int setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/kg-ratls-test-XXXXXX");
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
    memset(g_kms_app_id, 0xaa, 20);
    memset(g_app_app_id, 0xbb, 20);
    memset(g_compose, 0xcc, 32);
    if (kg_failed(kg_tee_open_sim(&g_kms, g_plat, "kms")) ||
        kg_failed(kg_tee_open_sim(&g_app, g_plat, "app")))
        return -1;
    boot(g_kms, g_kms_app_id);
    boot(g_app, g_app_app_id);
    return 0;
}

static int teardown(void **state)
{
    kg_tee_free(g_kms);
    kg_tee_free(g_app);
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

static void make_cert(kg_buf *der, kg_p256_key **key, kg_tee *t, const char *usage,
                      const uint8_t *app_id)
{
    KG_ASSERT_OK(kg_p256_generate(key));
    kg_ratls_cert_opts o = {0};
    o.usage = usage;
    o.app_id = app_id;
    kg_buf_init(der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_ratls_cert_new(der, t, *key, &o));
}

static void cert_verifies_into_identity(void **state)
{
    kg_buf der;
    kg_p256_key *key = NULL;
    make_cert(&der, &key, g_kms, KG_RATLS_USAGE_KMS_RPC, g_kms_app_id);
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_OK(kg_ratls_verify_cert(&id, der.data, der.len, &pol));
    assert_true(id.boot.has_app_id && id.boot.has_compose_hash && id.boot.has_device_id &&
                id.system_ready);
    assert_memory_equal(id.boot.app_id, g_kms_app_id, 20);
    assert_memory_equal(id.boot.compose_hash, g_compose, 32);
    assert_int_equal(id.boot.instance_id_len, 20);
    assert_string_equal(id.usage, "kms:rpc");
    assert_string_equal(id.boot.tcb_status, "UpToDate");

    /* measured values: os_image_hash from the profile; RTMR3 from this VM's register */
    kg_sim_profile prof;
    KG_ASSERT_OK(kg_sim_profile_load(&prof, g_plat));
    assert_memory_equal(id.boot.os_image_hash, prof.os_image_hash, 32);
    uint8_t reg[48], agg[32], cat[5 * 48];
    KG_ASSERT_OK(kg_tee_read_rtmr3(g_kms, reg));
    assert_memory_equal(id.rtmr[3], reg, 48);
    memcpy(cat, prof.mrtd, 48);
    memcpy(cat + 48, prof.rtmr, 3 * 48);
    memcpy(cat + 4 * 48, reg, 48);
    KG_ASSERT_OK(kg_sha256(agg, cat, sizeof(cat)));
    assert_memory_equal(id.boot.mr_aggregated, agg, 32);

    /* device id = SHA-256(simulated PPID) */
    json_error_t e;
    char path[256];
    snprintf(path, sizeof(path), "%s/platform.json", g_plat);
    json_t *pf = json_load_file(path, 0, &e);
    uint8_t ppid[16], dev[32];
    KG_ASSERT_OK(kg_hex_decode_exact(ppid, 16, json_string_value(json_object_get(pf, "ppid"))));
    json_decref(pf);
    KG_ASSERT_OK(kg_sha256(dev, ppid, 16));
    assert_memory_equal(id.boot.device_id, dev, 32);

    kg_buf js;
    kg_buf_init(&js, 1 << 20);
    KG_ASSERT_OK(kg_ratls_identity_to_json(&js, &id));
    assert_non_null(
        strstr((char *)js.data, "\"app_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""));
    assert_non_null(strstr((char *)js.data, "\"tcb_status\":\"UpToDate\""));
    /* the JSON is well-formed even for hostile strings (usage is any printable ASCII) */
    kg_ratls_identity odd = id;
    snprintf(odd.usage, sizeof(odd.usage), "a\"b\\c");
    kg_buf_reset(&js);
    js.len = 0;
    KG_ASSERT_OK(kg_ratls_identity_to_json(&js, &odd));
    json_error_t je;
    json_t *parsed = json_loads((char *)js.data, 0, &je);
    assert_non_null(parsed);
    assert_string_equal(json_string_value(json_object_get(parsed, "usage")), "a\"b\\c");
    json_decref(parsed);
    kg_buf_free(&js);

    /* a self-signed certificate's unbound fields cannot be edited: change the usage */
    uint8_t *u = NULL;
    for (size_t i = 0; i + 7 <= der.len && u == NULL; i++)
        if (memcmp(der.data + i, "kms:rpc", 7) == 0)
            u = der.data + i;
    assert_non_null(u);
    u[6] = 'x';
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "self-signature does not verify");
    u[6] = 'c';
    KG_ASSERT_OK(kg_ratls_verify_cert(&id, der.data, der.len, &pol));

    /* the pinned Intel root refuses the simulator's quotes */
    kg_dcap_verifier *intel = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&intel, NULL, 0));
    pol.verifier = intel;
    kg_error_clear();
    assert_true(kg_failed(kg_ratls_verify_cert(&id, der.data, der.len, &pol)));
    assert_int_equal(kg_error_code(), KG_ERR_VERIFY);
    assert_non_null(strstr(kg_error_message(), "RA-TLS quote"));
    kg_dcap_verifier_free(intel);
    kg_buf_free(&der);
    kg_p256_free(key);
}

/* A server verifies the certificate its TLS stack decoded (kg_ratls_verify_x509) instead of
 * decoding the DER again: the same identity, and the same refusals. */
static void decoded_cert_verifies_as_its_der(void **state)
{
    (void)state;
    kg_buf der, a, b;
    kg_p256_key *key = NULL;
    make_cert(&der, &key, g_kms, KG_RATLS_USAGE_KMS_RPC, g_kms_app_id);
    kg_ratls_policy pol = policy();
    kg_ratls_identity from_der, from_x509;
    const uint8_t *p = der.data;
    X509 *c = d2i_X509(NULL, &p, (long)der.len);
    assert_non_null(c);
    KG_ASSERT_OK(kg_ratls_verify_cert(&from_der, der.data, der.len, &pol));
    KG_ASSERT_OK(kg_ratls_verify_x509(&from_x509, c, &pol));
    kg_buf_init(&a, 1 << 20);
    kg_buf_init(&b, 1 << 20);
    KG_ASSERT_OK(kg_ratls_identity_to_json(&a, &from_der));
    KG_ASSERT_OK(kg_ratls_identity_to_json(&b, &from_x509));
    assert_string_equal((const char *)a.data, (const char *)b.data);
    X509_free(c);

    /* an edited field breaks the self-signature either way */
    uint8_t *u = NULL;
    for (size_t i = 0; i + 7 <= der.len && u == NULL; i++)
        if (memcmp(der.data + i, "kms:rpc", 7) == 0)
            u = der.data + i;
    assert_non_null(u);
    u[6] = 'x';
    p = der.data;
    c = d2i_X509(NULL, &p, (long)der.len);
    assert_non_null(c);
    KG_ASSERT_ERR(kg_ratls_verify_x509(&from_x509, c, &pol), KG_ERR_VERIFY,
                  "self-signature does not verify");
    X509_free(c);
    kg_buf_free(&a);
    kg_buf_free(&b);
    kg_buf_free(&der);
    kg_p256_free(key);
}

static void key_not_matching_report_data_rejected(void **state)
{
    kg_p256_key *a = NULL, *b = NULL;
    kg_buf quote, evlog, der;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&evlog, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_p256_generate(&a));
    KG_ASSERT_OK(kg_p256_generate(&b));
    /* a genuine quote for key a, put in a certificate for key b */
    KG_ASSERT_OK(kg_ratls_attest_key(&quote, &evlog, g_app, a));
    KG_ASSERT_OK(
        kg_ratls_cert_build(&der, b, NULL, quote.data, quote.len, (char *)evlog.data, evlog.len));
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "key is not bound to the quote");

    /* the same evidence for key a verifies */
    kg_buf_reset(&der);
    der.len = 0;
    KG_ASSERT_OK(
        kg_ratls_cert_build(&der, a, NULL, quote.data, quote.len, (char *)evlog.data, evlog.len));
    KG_ASSERT_OK(kg_ratls_verify_cert(&id, der.data, der.len, &pol));

    /* an event log from another VM does not replay to this quote's RTMR3 */
    kg_eventlog other;
    kg_buf other_js;
    kg_buf_init(&other_js, KG_MAX_EVENTLOG_JSON_LEN);
    KG_ASSERT_OK(kg_tee_read_eventlog(g_kms, &other));
    KG_ASSERT_OK(kg_eventlog_to_json(&other_js, &other));
    kg_eventlog_free(&other);
    kg_buf_reset(&der);
    der.len = 0;
    KG_ASSERT_OK(kg_ratls_cert_build(&der, a, NULL, quote.data, quote.len, (char *)other_js.data,
                                     other_js.len));
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "event log replay does not match RTMR3");

    /* an app id extension that differs from the measured one */
    kg_ratls_cert_opts o = {0};
    o.app_id = g_kms_app_id;
    kg_buf_reset(&der);
    der.len = 0;
    KG_ASSERT_OK(
        kg_ratls_cert_build(&der, a, &o, quote.data, quote.len, (char *)evlog.data, evlog.len));
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "app id differs from the measured app id");

    /* a certificate without a quote is not RA-TLS */
    kg_ratls_evidence ev;
    KG_ASSERT_ERR(kg_ratls_parse_cert(&ev, quote.data, quote.len), KG_ERR_INPUT,
                  "not a DER X.509 certificate");
    kg_ratls_evidence_free(&ev);

    kg_buf_free(&other_js);
    kg_buf_free(&quote);
    kg_buf_free(&evlog);
    kg_buf_free(&der);
    kg_p256_free(a);
    kg_p256_free(b);
}

/* A collateral source that answers with the simulator's collateral and records what verified. */
typedef struct recording_source {
    unsigned gets, verified;
    uint64_t get_now, verified_now, valid_until;
} recording_source;

static kg_result rec_get(void *ctx, char **json, size_t *len, const kg_quote *q, const uint8_t *raw,
                         size_t raw_len, uint64_t now)
{
    recording_source *r = ctx;
    (void)q, (void)raw, (void)raw_len;
    r->gets++;
    r->get_now = now;
    *json = malloc(g_coll.len + 1);
    KG_ENSURE(*json != NULL, KG_ERR_NOMEM, "out of memory");
    memcpy(*json, g_coll.data, g_coll.len);
    (*json)[g_coll.len] = 0;
    *len = g_coll.len;
    return KG_OK;
}

static void rec_verified(void *ctx, const kg_quote *q, const char *json, size_t len,
                         uint64_t valid_until, uint64_t now)
{
    recording_source *r = ctx;
    (void)q;
    assert_int_equal(len, g_coll.len);
    assert_memory_equal(json, g_coll.data, len);
    r->verified++;
    r->verified_now = now;
    r->valid_until = valid_until;
}

/* Evidence that binds a given REPORTDATA rather than a key (the KMS's self-check, an epoch
 * proposal) verifies through the same producer into the same identity as a certificate of that
 * VM; a wrong REPORTDATA, another VM's event log or expired collateral are refused, and a
 * collateral source hears of the verification only when DCAP accepted the quote. */
static void quote_evidence_verifies_into_the_cert_identity(void **state)
{
    (void)state;
    uint8_t rd[KG_REPORT_DATA_LEN], other_rd[KG_REPORT_DATA_LEN];
    static const char domain[] = "keygate-kms-self-check";
    KG_ASSERT_OK(kg_sha512(rd, domain, sizeof(domain) - 1));
    memcpy(other_rd, rd, sizeof(rd));
    other_rd[63] ^= 1;
    kg_buf quote, evjs, app_evjs, der;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&evjs, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&app_evjs, KG_MAX_EVENTLOG_JSON_LEN);
    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_get_quote(g_kms, &quote, rd));
    KG_ASSERT_OK(kg_tee_read_eventlog(g_kms, &log));
    KG_ASSERT_OK(kg_eventlog_to_json(&evjs, &log));
    kg_eventlog_free(&log);
    KG_ASSERT_OK(kg_tee_read_eventlog(g_app, &log));
    KG_ASSERT_OK(kg_eventlog_to_json(&app_evjs, &log));
    kg_eventlog_free(&log);

    kg_ratls_policy pol = policy();
    kg_ratls_identity id, cert_id;
    KG_ASSERT_OK(kg_ratls_verify_quote_evidence(&id, rd, quote.data, quote.len,
                                                (const char *)evjs.data, evjs.len, &pol));
    kg_p256_key *key = NULL;
    make_cert(&der, &key, g_kms, KG_RATLS_USAGE_KMS_RPC, g_kms_app_id);
    KG_ASSERT_OK(kg_ratls_verify_cert(&cert_id, der.data, der.len, &pol));
    assert_memory_equal(&id.boot, &cert_id.boot, sizeof(id.boot));
    assert_true(id.boot.has_app_id && id.boot.has_device_id && id.system_ready);
    assert_memory_equal(id.boot.app_id, g_kms_app_id, 20);
    assert_memory_equal(id.report_data, rd, sizeof(rd));
    assert_false(id.has_usage);
    assert_true(id.valid_until > 0);

    KG_ASSERT_ERR(kg_ratls_verify_quote_evidence(&id, other_rd, quote.data, quote.len,
                                                 (const char *)evjs.data, evjs.len, &pol),
                  KG_ERR_VERIFY, "the quote's REPORTDATA is not the expected binding");
    assert_false(id.boot.has_app_id);
    KG_ASSERT_ERR(kg_ratls_verify_quote_evidence(&id, rd, quote.data, quote.len,
                                                 (const char *)app_evjs.data, app_evjs.len, &pol),
                  KG_ERR_VERIFY, "event log replay does not match RTMR3");
    KG_ASSERT_ERR(kg_ratls_verify_quote_evidence(&id, rd, quote.data, quote.len, "", 0, &pol),
                  KG_ERR_INPUT, "the evidence has no event log");

    /* through a collateral source: told of the verification with the policy's time */
    recording_source rec = {0};
    kg_ratls_collateral_source src = {.ctx = &rec, .get = rec_get, .verified = rec_verified};
    kg_ratls_policy via = {.verifier = g_ver, .collateral = &src, .now = (uint64_t)time(NULL)};
    KG_ASSERT_OK(kg_ratls_verify_quote_evidence(&id, rd, quote.data, quote.len,
                                                (const char *)evjs.data, evjs.len, &via));
    assert_int_equal(rec.gets, 1);
    assert_int_equal(rec.verified, 1);
    assert_int_equal(rec.get_now, via.now);
    assert_int_equal(rec.verified_now, via.now);
    assert_int_equal(rec.valid_until, id.valid_until);
    /* ... and not when DCAP refuses (the collateral has expired a year on) */
    via.now += 366u * 24u * 3600u;
    KG_ASSERT_ERR(kg_ratls_verify_quote_evidence(&id, rd, quote.data, quote.len,
                                                 (const char *)evjs.data, evjs.len, &via),
                  KG_ERR_EXPIRED, "RA-TLS quote");
    assert_int_equal(rec.gets, 2);
    assert_int_equal(rec.verified, 1);

    kg_p256_free(key);
    kg_buf_free(&der);
    kg_buf_free(&quote);
    kg_buf_free(&evjs);
    kg_buf_free(&app_evjs);
}

static void ca_issued_and_expired(void **state)
{
    /* a CA (like the KMS temp CA) issues the leaf; the binding is on the leaf's key */
    kg_p256_key *ca_key = NULL, *leaf_key = NULL;
    kg_buf ca_der, der;
    make_cert(&ca_der, &ca_key, g_kms, NULL, NULL);
    KG_ASSERT_OK(kg_p256_generate(&leaf_key));
    kg_ratls_cert_opts o = {0};
    o.usage = KG_RATLS_USAGE_APP_CUSTOM;
    o.issuer_key = ca_key;
    o.issuer_cert_der = ca_der.data;
    o.issuer_cert_der_len = ca_der.len;
    kg_buf_init(&der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_ratls_cert_new(&der, g_app, leaf_key, &o));
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_OK(kg_ratls_verify_cert(&id, der.data, der.len, &pol));
    assert_memory_equal(id.boot.app_id, g_app_app_id, 20);
    assert_string_equal(id.usage, "app:custom");

    /* validity window of the certificate itself */
    pol.now = (uint64_t)time(NULL) + 400u * 86400u;
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_EXPIRED,
                  "outside its validity window");
    kg_buf_free(&ca_der);
    kg_buf_free(&der);
    kg_p256_free(ca_key);
    kg_p256_free(leaf_key);
}

/* ---- mutual handshake ----------------------------------------------------------------------- */

typedef struct side {
    SSL_CTX *ctx;
    int fd;
    bool server;
    kg_ratls_identity peer;
    int ok;
    char err[512];
} side;

static void *run_side(void *arg)
{
    side *s = arg;
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, s->fd);
    int r = s->server ? SSL_accept(ssl) : SSL_connect(ssl);
    if (r == 1) {
        kg_ratls_policy pol = policy();
        if (kg_ok(kg_ratls_peer_identity(&s->peer, ssl, &pol))) {
            const char msg[] = "hi";
            char buf[4] = {0};
            if (s->server) {
                s->ok = SSL_read(ssl, buf, 2) == 2 && SSL_write(ssl, msg, 2) == 2;
            } else {
                s->ok = SSL_write(ssl, msg, 2) == 2 && SSL_read(ssl, buf, 2) == 2;
            }
        } else {
            snprintf(s->err, sizeof(s->err), "%s", kg_error_message());
        }
        SSL_shutdown(ssl);
    } else {
        snprintf(s->err, sizeof(s->err), "handshake failed");
    }
    SSL_free(ssl);
    close(s->fd);
    return NULL;
}

static void mutual_handshake_loopback(void **state)
{
    kg_buf kms_der, app_der;
    kg_p256_key *kms_key = NULL, *app_key = NULL;
    make_cert(&kms_der, &kms_key, g_kms, KG_RATLS_USAGE_KMS_RPC, g_kms_app_id);
    make_cert(&app_der, &app_key, g_app, KG_RATLS_USAGE_APP_CUSTOM, g_app_app_id);
    int fds[2];
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    side srv = {0}, cli = {0};
    srv.server = true;
    srv.fd = fds[0];
    cli.fd = fds[1];
    KG_ASSERT_OK(
        kg_ratls_ssl_ctx_new(&srv.ctx, true, kms_key, kms_der.data, kms_der.len, NULL, true));
    KG_ASSERT_OK(
        kg_ratls_ssl_ctx_new(&cli.ctx, false, app_key, app_der.data, app_der.len, NULL, true));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_side, &srv), 0);
    run_side(&cli);
    pthread_join(th, NULL);
    if (!srv.ok || !cli.ok)
        fail_msg("server: '%s', client: '%s'", srv.err, cli.err);
    /* each side sees the other's measured identity */
    assert_memory_equal(srv.peer.boot.app_id, g_app_app_id, 20);
    assert_string_equal(srv.peer.usage, "app:custom");
    assert_memory_equal(cli.peer.boot.app_id, g_kms_app_id, 20);
    assert_string_equal(cli.peer.usage, "kms:rpc");
    assert_memory_not_equal(srv.peer.boot.mr_aggregated, cli.peer.boot.mr_aggregated, 32);
    SSL_CTX_free(srv.ctx);
    SSL_CTX_free(cli.ctx);

    /* a key that is not the certificate's is refused up front */
    KG_ASSERT_ERR(
        kg_ratls_ssl_ctx_new(&cli.ctx, false, kms_key, app_der.data, app_der.len, NULL, true),
        KG_ERR_USAGE, "key does not match");
    kg_buf_free(&kms_der);
    kg_buf_free(&app_der);
    kg_p256_free(kms_key);
    kg_p256_free(app_key);
}

static int accept_all(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok;
    (void)ctx;
    return 1;
}

/* ---- the handshake path (kg_ratls_handshake_cert_*) ----------------------------------------- */

/* Runs a handshake between client c and server s over a BIO pair, in this thread: true when both
 * completed. */
static bool handshake_pair(SSL **c, SSL **s, SSL_CTX *cctx, SSL_CTX *sctx)
{
    BIO *cb = NULL, *sb = NULL;
    *c = SSL_new(cctx);
    *s = SSL_new(sctx);
    assert_non_null(*c);
    assert_non_null(*s);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(*c, cb, cb);
    SSL_set_bio(*s, sb, sb);
    SSL_set_connect_state(*c);
    SSL_set_accept_state(*s);
    for (int i = 0; i < 1000; i++) {
        int rc = SSL_do_handshake(*c), rs = SSL_do_handshake(*s);
        if (rc == 1 && rs == 1)
            return true;
        int ec = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(*c, rc);
        int es = rs == 1 ? SSL_ERROR_NONE : SSL_get_error(*s, rs);
        bool c_waits =
            ec == SSL_ERROR_NONE || ec == SSL_ERROR_WANT_READ || ec == SSL_ERROR_WANT_WRITE;
        bool s_waits =
            es == SSL_ERROR_NONE || es == SSL_ERROR_WANT_READ || es == SSL_ERROR_WANT_WRITE;
        if (!c_waits || !s_waits)
            return false;
    }
    return false;
}

/* A TLS 1.3 server context as the KMS's (ratls.h) and a client one presenting der with key. */
static void ratls_pair(SSL_CTX **cctx, SSL_CTX **sctx, const kg_buf *der, const kg_p256_key *key,
                       kg_buf *srv_der, kg_p256_key **srv_key)
{
    make_cert(srv_der, srv_key, g_kms, KG_RATLS_USAGE_KMS_RPC, g_kms_app_id);
    KG_ASSERT_OK(
        kg_ratls_ssl_ctx_new(sctx, true, *srv_key, srv_der->data, srv_der->len, NULL, true));
    KG_ASSERT_OK(kg_ratls_ssl_ctx_new(cctx, false, key, der->data, der->len, NULL, true));
}

/* The handshake path verifies what the full check verifies, and skips only the certificate's own
 * signature: a field its key holder edited after signing (the handshake signed the edited bytes)
 * passes there and is still refused where the certificate did not come in a handshake. */
static void handshake_cert_skips_only_its_own_signature(void **state)
{
    (void)state;
    kg_buf der, srv_der;
    kg_p256_key *key = NULL, *srv_key = NULL;
    make_cert(&der, &key, g_app, KG_RATLS_USAGE_KMS_RPC, g_app_app_id);
    SSL_CTX *cctx = NULL, *sctx = NULL;
    ratls_pair(&cctx, &sctx, &der, key, &srv_der, &srv_key);
    SSL *c = NULL, *s = NULL;
    assert_true(handshake_pair(&c, &s, cctx, sctx));
    kg_ratls_policy pol = policy();
    kg_ratls_handshake_cert *hc = NULL;
    kg_ratls_identity from_tls, full;
    KG_ASSERT_OK(kg_ratls_handshake_cert_take(&hc, s));
    KG_ASSERT_OK(kg_ratls_verify_handshake_cert(&from_tls, hc, &pol));
    KG_ASSERT_OK(kg_ratls_verify_x509(&full, kg_ratls_handshake_cert_x509(hc), &pol));
    kg_buf a, b;
    kg_buf_init(&a, 1 << 20);
    kg_buf_init(&b, 1 << 20);
    KG_ASSERT_OK(kg_ratls_identity_to_json(&a, &from_tls));
    KG_ASSERT_OK(kg_ratls_identity_to_json(&b, &full));
    assert_string_equal((const char *)a.data, (const char *)b.data);
    assert_memory_equal(from_tls.boot.app_id, g_app_app_id, 20);
    kg_ratls_handshake_cert_free(hc);
    hc = NULL;
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);

    /* the key holder edits its usage after signing: its signature no longer verifies */
    uint8_t *u = NULL;
    for (size_t i = 0; i + 7 <= der.len && u == NULL; i++)
        if (memcmp(der.data + i, "kms:rpc", 7) == 0)
            u = der.data + i;
    assert_non_null(u);
    u[6] = 'x';
    KG_ASSERT_OK(kg_ratls_ssl_ctx_new(&cctx, false, key, der.data, der.len, NULL, true));
    assert_true(handshake_pair(&c, &s, cctx, sctx));
    KG_ASSERT_OK(kg_ratls_handshake_cert_take(&hc, s));
    KG_ASSERT_OK(kg_ratls_verify_handshake_cert(&from_tls, hc, &pol));
    assert_string_equal(from_tls.usage, "kms:rpx");
    KG_ASSERT_ERR(kg_ratls_verify_x509(&full, kg_ratls_handshake_cert_x509(hc), &pol),
                  KG_ERR_VERIFY, "self-signature does not verify");
    KG_ASSERT_ERR(kg_ratls_verify_cert(&full, der.data, der.len, &pol), KG_ERR_VERIFY,
                  "self-signature does not verify");
    kg_ratls_handshake_cert_free(hc);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    kg_buf_free(&a);
    kg_buf_free(&b);
    kg_buf_free(&der);
    kg_buf_free(&srv_der);
    kg_p256_free(key);
    kg_p256_free(srv_key);
}

/* A client that proves possession of its key but presents a genuine quote for another key: the
 * handshake completes, the binding refuses. */
static void handshake_cert_key_not_bound_refused(void **state)
{
    (void)state;
    kg_p256_key *a = NULL, *b = NULL, *srv_key = NULL;
    kg_buf quote, evlog, der, srv_der;
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&evlog, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_p256_generate(&a));
    KG_ASSERT_OK(kg_p256_generate(&b));
    KG_ASSERT_OK(kg_ratls_attest_key(&quote, &evlog, g_app, a));
    KG_ASSERT_OK(
        kg_ratls_cert_build(&der, b, NULL, quote.data, quote.len, (char *)evlog.data, evlog.len));
    SSL_CTX *cctx = NULL, *sctx = NULL;
    ratls_pair(&cctx, &sctx, &der, b, &srv_der, &srv_key);
    SSL *c = NULL, *s = NULL;
    assert_true(handshake_pair(&c, &s, cctx, sctx));
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_ERR(kg_ratls_peer_identity(&id, s, &pol), KG_ERR_VERIFY,
                  "key is not bound to the quote");
    uint8_t zero[sizeof(id)];
    memset(zero, 0, sizeof(zero));
    assert_memory_equal(&id, zero, sizeof(id));
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    kg_buf_free(&quote);
    kg_buf_free(&evlog);
    kg_buf_free(&der);
    kg_buf_free(&srv_der);
    kg_p256_free(a);
    kg_p256_free(b);
    kg_p256_free(srv_key);
}

/* A private key for another key's public half: what a client holding someone's genuine RA-TLS
 * certificate, but not its key, can load (OpenSSL matches a key to a certificate by the public
 * half only). */
static EVP_PKEY *mismatched_key(const kg_p256_key *pub_of, const kg_p256_key *priv_of)
{
    uint8_t pub[65];
    size_t pub_len = 0;
    BIGNUM *priv = NULL;
    EVP_PKEY *out = NULL;
    assert_int_equal(EVP_PKEY_get_octet_string_param(kg_p256_evp(pub_of), OSSL_PKEY_PARAM_PUB_KEY,
                                                     pub, sizeof(pub), &pub_len),
                     1);
    assert_int_equal(EVP_PKEY_get_bn_param(kg_p256_evp(priv_of), OSSL_PKEY_PARAM_PRIV_KEY, &priv),
                     1);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv), 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    assert_non_null(params);
    assert_non_null(pctx);
    assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(pctx, &out, EVP_PKEY_KEYPAIR, params), 1);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return out;
}

/* A client presenting another's genuine certificate without its key: its CertificateVerify does
 * not verify with the certificate's key, so the handshake fails and there is no certificate to
 * take. This is what lets the handshake path skip the certificate's own signature. */
static void handshake_without_possession_refused(void **state)
{
    (void)state;
    kg_buf der, srv_der;
    kg_p256_key *victim = NULL, *thief = NULL, *srv_key = NULL;
    make_cert(&der, &victim, g_app, KG_RATLS_USAGE_APP_CUSTOM, g_app_app_id);
    KG_ASSERT_OK(kg_p256_generate(&thief));
    make_cert(&srv_der, &srv_key, g_kms, KG_RATLS_USAGE_KMS_RPC, g_kms_app_id);
    SSL_CTX *sctx = NULL;
    KG_ASSERT_OK(kg_ratls_ssl_ctx_new(&sctx, true, srv_key, srv_der.data, srv_der.len, NULL, true));
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    const uint8_t *p = der.data;
    X509 *stolen = d2i_X509(NULL, &p, (long)der.len);
    assert_non_null(stolen);
    EVP_PKEY *k = mismatched_key(victim, thief);
    assert_int_equal(SSL_CTX_use_certificate(cctx, stolen), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(cctx, k), 1); /* accepted: same public half */

    SSL *c = NULL, *s = NULL;
    assert_false(handshake_pair(&c, &s, cctx, sctx));
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_BAD_SIGNATURE);
    ERR_clear_error();
    kg_ratls_handshake_cert *hc = NULL;
    KG_ASSERT_ERR(kg_ratls_handshake_cert_take(&hc, s), KG_ERR_USAGE,
                  "the TLS handshake is not complete");
    assert_null(hc);

    /* with the right key the same certificate is accepted (the test's control) */
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    KG_ASSERT_OK(kg_ratls_ssl_ctx_new(&cctx, false, victim, der.data, der.len, NULL, true));
    assert_true(handshake_pair(&c, &s, cctx, sctx));
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_OK(kg_ratls_peer_identity(&id, s, &pol));
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    EVP_PKEY_free(k);
    X509_free(stolen);
    kg_buf_free(&der);
    kg_buf_free(&srv_der);
    kg_p256_free(victim);
    kg_p256_free(thief);
    kg_p256_free(srv_key);
}

/* Only a completed TLS 1.3 handshake's certificate is taken: not one before the handshake ends,
 * not one from TLS 1.2, not a missing one. */
static void handshake_cert_take_refuses(void **state)
{
    (void)state;
    kg_buf der, srv_der;
    kg_p256_key *key = NULL, *srv_key = NULL;
    make_cert(&der, &key, g_app, KG_RATLS_USAGE_APP_CUSTOM, g_app_app_id);
    SSL_CTX *cctx = NULL, *sctx = NULL;
    ratls_pair(&cctx, &sctx, &der, key, &srv_der, &srv_key);
    kg_ratls_handshake_cert *hc = NULL;
    SSL *fresh = SSL_new(sctx);
    KG_ASSERT_ERR(kg_ratls_handshake_cert_take(&hc, fresh), KG_ERR_USAGE,
                  "the TLS handshake is not complete");
    assert_null(hc);
    SSL_free(fresh);
    KG_ASSERT_ERR(kg_ratls_handshake_cert_take(&hc, NULL), KG_ERR_USAGE, "no TLS connection");

    /* TLS 1.2, same certificates, a completed handshake */
    SSL_CTX *c12 = SSL_CTX_new(TLS_client_method()), *s12 = SSL_CTX_new(TLS_server_method());
    assert_non_null(c12);
    assert_non_null(s12);
    const uint8_t *p = der.data;
    X509 *cc = d2i_X509(NULL, &p, (long)der.len);
    p = srv_der.data;
    X509 *sc = d2i_X509(NULL, &p, (long)srv_der.len);
    assert_non_null(cc);
    assert_non_null(sc);
    assert_int_equal(SSL_CTX_set_max_proto_version(c12, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_use_certificate(c12, cc), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(c12, kg_p256_evp(key)), 1);
    assert_int_equal(SSL_CTX_use_certificate(s12, sc), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s12, kg_p256_evp(srv_key)), 1);
    SSL_CTX_set_verify(c12, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_verify(s12, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_all);
    SSL *c = NULL, *s = NULL;
    assert_true(handshake_pair(&c, &s, c12, s12));
    KG_ASSERT_ERR(kg_ratls_handshake_cert_take(&hc, s), KG_ERR_USAGE,
                  "the handshake is not TLS 1.3 (TLSv1.2)");
    assert_null(hc);
    SSL_free(c);
    SSL_free(s);

    /* TLS 1.3 with no client certificate */
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, accept_all);
    SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
    assert_non_null(bare);
    SSL_CTX_set_verify(bare, SSL_VERIFY_NONE, NULL);
    assert_true(handshake_pair(&c, &s, bare, sctx));
    KG_ASSERT_ERR(kg_ratls_handshake_cert_take(&hc, s), KG_ERR_DENIED,
                  "peer presented no certificate");
    assert_null(hc);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(bare);
    SSL_CTX_free(c12);
    SSL_CTX_free(s12);
    X509_free(cc);
    X509_free(sc);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    kg_buf_free(&der);
    kg_buf_free(&srv_der);
    kg_p256_free(key);
    kg_p256_free(srv_key);
}

/* A plain self-signed certificate (valid X.509, no quote) is not RA-TLS. */
static void plain_cert_rejected(void **state)
{
    kg_p256_key *k = NULL;
    KG_ASSERT_OK(kg_p256_generate(&k));
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), -60);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
                               (const unsigned char *)"plain", -1, -1, 0);
    X509_set_issuer_name(c, X509_get_subject_name(c));
    X509_set_pubkey(c, kg_p256_evp(k));
    assert_true(X509_sign(c, kg_p256_evp(k), EVP_sha256()) > 0);
    uint8_t *der = NULL;
    int n = i2d_X509(c, &der);
    assert_true(n > 0);
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der, (size_t)n, &pol), KG_ERR_INPUT,
                  "certificate has no RA-TLS quote extension");
    OPENSSL_free(der);
    X509_free(c);
    kg_p256_free(k);
}

/* A self-signed certificate with the given extensions (OID, critical, raw extnValue bytes). */
typedef struct raw_ext {
    const char *oid;
    int critical;
    const uint8_t *val;
    size_t len;
} raw_ext;

static void raw_cert(kg_buf *der, const raw_ext *exts, size_t n)
{
    kg_p256_key *k = NULL;
    KG_ASSERT_OK(kg_p256_generate(&k));
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
    X509_gmtime_adj(X509_getm_notBefore(c), -60);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_set_issuer_name(c, X509_get_subject_name(c));
    X509_set_pubkey(c, kg_p256_evp(k));
    for (size_t i = 0; i < n; i++) {
        ASN1_OBJECT *o = OBJ_txt2obj(exts[i].oid, 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(os, exts[i].val, (int)exts[i].len);
        X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, o, exts[i].critical, os);
        assert_int_equal(X509_add_ext(c, e, -1), 1);
        X509_EXTENSION_free(e);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(o);
    }
    assert_true(X509_sign(c, kg_p256_evp(k), EVP_sha256()) > 0);
    uint8_t *d = NULL;
    int len = i2d_X509(c, &d);
    kg_buf_init(der, KG_MAX_RATLS_CERT_LEN);
    KG_ASSERT_OK(kg_buf_append(der, d, (size_t)len));
    OPENSSL_free(d);
    X509_free(c);
    kg_p256_free(k);
}

static void parse_rejects_bad_extensions(void **state)
{
    static const uint8_t quote[] = {0x04, 0x02, 0x04, 0x00};
    static const uint8_t app19[] = {0x04, 19, 1,  2,  3,  4,  5,  6,  7,  8, 9,
                                    10,   11, 12, 13, 14, 15, 16, 17, 18, 19};
    static const uint8_t usage_sp[] = {0x04, 0x03, 'a', ' ', 'b'};
    static const uint8_t usage_ok[] = {0x04, 0x07, 'k', 'm', 's', ':', 'r', 'p', 'c'};
    static const uint8_t not_octets[] = {0x0c, 0x02, 'h', 'i'};
    kg_buf der;
    kg_ratls_evidence ev;
    struct {
        raw_ext ext[2];
        size_t n;
        kg_err code;
        const char *msg;
    } cases[] = {
        {{{KG_OID_RATLS_USAGE, 0, usage_ok, sizeof(usage_ok)}},
         1,
         KG_ERR_INPUT,
         "no RA-TLS quote extension"},
        {{{KG_OID_RATLS_QUOTE, 1, quote, sizeof(quote)}}, 1, KG_ERR_INPUT, "must not be critical"},
        {{{KG_OID_RATLS_QUOTE, 0, quote, sizeof(quote)},
          {KG_OID_RATLS_QUOTE, 0, quote, sizeof(quote)}},
         2,
         KG_ERR_INPUT,
         "appears twice"},
        {{{KG_OID_RATLS_QUOTE, 0, quote, sizeof(quote)},
          {KG_OID_RATLS_APP_ID, 0, app19, sizeof(app19)}},
         2,
         KG_ERR_INPUT,
         "app id extension is 19 bytes, want 20"},
        {{{KG_OID_RATLS_QUOTE, 0, quote, sizeof(quote)},
          {KG_OID_RATLS_USAGE, 0, usage_sp, sizeof(usage_sp)}},
         2,
         KG_ERR_INPUT,
         "usage extension is not printable ASCII"},
        {{{KG_OID_RATLS_QUOTE, 0, not_octets, sizeof(not_octets)}},
         1,
         KG_ERR_INPUT,
         "not a DER OCTET STRING"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_cert(&der, cases[i].ext, cases[i].n);
        KG_ASSERT_ERR(kg_ratls_parse_cert(&ev, der.data, der.len), cases[i].code, cases[i].msg);
        kg_ratls_evidence_free(&ev);
        kg_buf_free(&der);
    }
    /* a well-formed minimal one parses (verification is a separate step) */
    raw_ext good[2] = {{KG_OID_RATLS_QUOTE, 0, quote, sizeof(quote)},
                       {KG_OID_RATLS_USAGE, 0, usage_ok, sizeof(usage_ok)}};
    raw_cert(&der, good, 2);
    KG_ASSERT_OK(kg_ratls_parse_cert(&ev, der.data, der.len));
    assert_int_equal(ev.quote.len, 2);
    assert_string_equal(ev.usage, "kms:rpc");
    assert_int_equal(ev.eventlog.len, 0);
    kg_ratls_evidence_free(&ev);
    kg_ratls_policy pol = policy();
    kg_ratls_identity id;
    KG_ASSERT_ERR(kg_ratls_verify_cert(&id, der.data, der.len, &pol), KG_ERR_INPUT,
                  "RA-TLS certificate has no event log");
    /* trailing bytes after the certificate */
    KG_ASSERT_OK(kg_buf_append_u8(&der, 0));
    KG_ASSERT_ERR(kg_ratls_parse_cert(&ev, der.data, der.len), KG_ERR_INPUT, "trailing bytes");
    kg_ratls_evidence_free(&ev);
    kg_buf_free(&der);
}

/* The OCTET STRING wrapping of every RA-TLS extension payload: exact, minimal DER only. */
static void unwrap_octets_strict(void **state)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    static const uint8_t ok_short[] = {0x04, 0x02, 0xaa, 0xbb};
    KG_ASSERT_OK(kg_ratls_unwrap_octets(&p, &n, ok_short, sizeof(ok_short), "x"));
    assert_int_equal(n, 2);
    assert_ptr_equal(p, ok_short + 2);
    uint8_t ok_long[3 + 200] = {0x04, 0x81, 200};
    KG_ASSERT_OK(kg_ratls_unwrap_octets(&p, &n, ok_long, sizeof(ok_long), "x"));
    assert_int_equal(n, 200);
    static const uint8_t empty[] = {0x04, 0x00};
    KG_ASSERT_OK(kg_ratls_unwrap_octets(&p, &n, empty, sizeof(empty), "x"));
    assert_int_equal(n, 0);

    static const uint8_t tag[] = {0x0c, 0x01, 0x41};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, tag, sizeof(tag), "x"), KG_ERR_INPUT,
                  "not a DER OCTET STRING (tag 0x0c)");
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, tag, 0, "x"), KG_ERR_TRUNCATED, "x");
    static const uint8_t nolen[] = {0x04};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, nolen, sizeof(nolen), "x"), KG_ERR_TRUNCATED,
                  "length");
    static const uint8_t shorter[] = {0x04, 0x03, 0xaa, 0xbb};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, shorter, sizeof(shorter), "x"), KG_ERR_INPUT,
                  "length 3 does not span the extension (2 left)");
    static const uint8_t longer[] = {0x04, 0x01, 0xaa, 0xbb};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, longer, sizeof(longer), "x"), KG_ERR_INPUT,
                  "length 1 does not span the extension (2 left)");
    static const uint8_t nonmin1[] = {0x04, 0x81, 0x01, 0xaa};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, nonmin1, sizeof(nonmin1), "x"), KG_ERR_INPUT,
                  "non-minimal DER length");
    static const uint8_t nonmin2[] = {0x04, 0x82, 0x00, 0x81};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, nonmin2, sizeof(nonmin2), "x"), KG_ERR_INPUT,
                  "non-minimal DER length");
    static const uint8_t indefinite[] = {0x04, 0x80, 0x00, 0x00};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, indefinite, sizeof(indefinite), "x"), KG_ERR_INPUT,
                  "unsupported DER length form 0x80");
    static const uint8_t huge[] = {0x04, 0x84, 0x01, 0x00, 0x00, 0x00};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, huge, sizeof(huge), "x"), KG_ERR_INPUT,
                  "unsupported DER length form 0x84");
    static const uint8_t cut[] = {0x04, 0x82, 0x01};
    KG_ASSERT_ERR(kg_ratls_unwrap_octets(&p, &n, cut, sizeof(cut), "x"), KG_ERR_TRUNCATED,
                  "length");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cert_verifies_into_identity),
        cmocka_unit_test(decoded_cert_verifies_as_its_der),
        cmocka_unit_test(key_not_matching_report_data_rejected),
        cmocka_unit_test(quote_evidence_verifies_into_the_cert_identity),
        cmocka_unit_test(ca_issued_and_expired),
        cmocka_unit_test(mutual_handshake_loopback),
        cmocka_unit_test(handshake_cert_skips_only_its_own_signature),
        cmocka_unit_test(handshake_cert_key_not_bound_refused),
        cmocka_unit_test(handshake_without_possession_refused),
        cmocka_unit_test(handshake_cert_take_refuses),
        cmocka_unit_test(plain_cert_rejected),
        cmocka_unit_test(unwrap_octets_strict),
        cmocka_unit_test(parse_rejects_bad_extensions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
