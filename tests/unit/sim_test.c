/* sim_test.c - simulated quotes through the real DCAP verifier: accepted under the simulator
 * root, rejected under Intel's pinned root, rejected when any byte changes or the collateral
 * has expired; the event log replays to RTMR3 of the verified quote; the simulated PCCS serves
 * the collateral over Intel's v4 API. */
#include "test_util.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/eventlog.h"
#include "keygate/hash.h"
#include "keygate/quote.h"
#include "keygate/sim.h"
#include "keygate/tee.h"

static char g_dir[64];
static char g_plat[128];
static uint64_t g_now;

static int setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/kg-sim-test-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_plat, sizeof(g_plat), "%s/platform", g_dir);
    g_now = (uint64_t)time(NULL);
    kg_sim_init_opts o = {NULL, g_now, 30, NULL};
    return kg_ok(kg_sim_init(g_plat, &o)) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static kg_dcap_verifier *sim_verifier(void)
{
    kg_buf root;
    kg_buf_init(&root, 65536);
    KG_ASSERT_OK(kg_sim_root_ca_der(&root, g_plat));
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, root.data, root.len));
    kg_buf_free(&root);
    return v;
}

static void verifies_under_sim_root_only(void **state)
{
    kg_tee *t = NULL;
    kg_buf q, coll;
    uint8_t rd[64], rtmr3[48];
    memset(rd, 0x42, sizeof(rd));
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    KG_ASSERT_OK(kg_tee_open_sim(&t, g_plat, "app"));
    uint8_t app_id[20];
    memset(app_id, 7, sizeof(app_id));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
    KG_ASSERT_OK(kg_tee_extend(t, KG_EVENT_APP_ID, app_id, 20));
    KG_ASSERT_OK(kg_tee_get_quote(t, &q, rd));
    KG_ASSERT_OK(kg_sim_collateral(&coll, g_plat));

    kg_dcap_verifier *v = sim_verifier();
    kg_dcap_report rep;
    KG_ASSERT_OK(kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now));
    assert_string_equal(rep.status, "UpToDate");
    assert_int_equal(rep.n_advisory_ids, 0);
    assert_memory_equal(rep.quote.td.report_data, rd, 64);
    assert_true(rep.has_ppid);

    /* the PPID in the PCK certificate is the platform's simulated PPID */
    json_t *pf = NULL;
    {
        char path[256];
        snprintf(path, sizeof(path), "%s/platform.json", g_plat);
        json_error_t e;
        pf = json_load_file(path, 0, &e);
        assert_non_null(pf);
        uint8_t ppid[16];
        KG_ASSERT_OK(kg_hex_decode_exact(ppid, 16, json_string_value(json_object_get(pf, "ppid"))));
        assert_memory_equal(rep.ppid, ppid, 16);
        json_decref(pf);
    }

    /* the event log replays to RTMR3 of the verified quote; os_image_hash matches profile */
    kg_eventlog log;
    KG_ASSERT_OK(kg_tee_read_eventlog(t, &log));
    KG_ASSERT_OK(kg_eventlog_check_rtmr3(&log, rep.quote.td.rtmr[3]));
    kg_eventlog_free(&log);
    KG_ASSERT_OK(kg_tee_read_rtmr3(t, rtmr3));
    assert_memory_equal(rtmr3, rep.quote.td.rtmr[3], 48);
    uint8_t osh[32];
    kg_sim_profile prof;
    KG_ASSERT_OK(kg_sim_profile_load(&prof, g_plat));
    KG_ASSERT_OK(
        kg_measure_os_image_hash(osh, rep.quote.td.mrtd, (const uint8_t(*)[48])rep.quote.td.rtmr));
    assert_memory_equal(osh, prof.os_image_hash, 32);

    /* Intel's pinned root refuses the simulator's PKI */
    kg_dcap_verifier *intel = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&intel, NULL, 0));
    kg_error_clear();
    assert_true(
        kg_failed(kg_dcap_verify(intel, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now)));
    assert_int_equal(kg_error_code(), KG_ERR_VERIFY);
    kg_dcap_verifier_free(intel);

    /* collateral expires: 31 days on it is refused, and a refresh brings it back */
    kg_error_clear();
    assert_true(kg_failed(
        kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now + 31u * 86400u)));
    assert_int_equal(kg_error_code(), KG_ERR_EXPIRED);

    kg_dcap_verifier_free(v);
    kg_buf_free(&q);
    kg_buf_free(&coll);
    kg_tee_free(t);
}

static void any_changed_byte_fails(void **state)
{
    kg_tee *t = NULL;
    kg_buf q, coll;
    uint8_t rd[64] = {1};
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    KG_ASSERT_OK(kg_tee_open_sim(&t, g_plat, "bytes"));
    KG_ASSERT_OK(kg_tee_get_quote(t, &q, rd));
    KG_ASSERT_OK(kg_sim_collateral(&coll, g_plat));
    kg_dcap_verifier *v = sim_verifier();
    kg_dcap_report rep;
    KG_ASSERT_OK(kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now));
    size_t accepted = 0;
    for (size_t i = 0; i < q.len; i++) {
        q.data[i] ^= 0x01;
        if (kg_ok(kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now))) {
            accepted++;
            print_error("byte %zu changed and still verified\n", i);
        }
        kg_error_clear();
        q.data[i] ^= 0x01;
    }
    assert_int_equal(accepted, 0);
    /* (bytes appended after the signature data are not covered: real Intel quotes carry
     * padding there, see tests/vectors/dcap/tdx_quote, and the verifier tolerates it) */
    kg_dcap_verifier_free(v);
    kg_buf_free(&q);
    kg_buf_free(&coll);
    kg_tee_free(t);
}

static void refresh_extends_validity(void **state)
{
    char dir2[160];
    snprintf(dir2, sizeof(dir2), "%s/refresh", g_dir);
    kg_sim_init_opts o = {"other-image", g_now - 40u * 86400u, 30, NULL};
    KG_ASSERT_OK(kg_sim_init(dir2, &o));
    kg_tee *t = NULL;
    kg_buf q, coll;
    uint8_t rd[64] = {0};
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    KG_ASSERT_OK(kg_tee_open_sim(&t, dir2, "x"));
    KG_ASSERT_OK(kg_tee_get_quote(t, &q, rd));
    kg_buf root;
    kg_buf_init(&root, 65536);
    KG_ASSERT_OK(kg_sim_root_ca_der(&root, dir2));
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, root.data, root.len));
    kg_dcap_report rep;
    KG_ASSERT_OK(kg_sim_collateral(&coll, dir2));
    kg_error_clear();
    assert_true(
        kg_failed(kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now)));
    assert_int_equal(kg_error_code(), KG_ERR_EXPIRED);
    KG_ASSERT_OK(kg_sim_refresh_collateral(dir2, g_now, 30));
    kg_buf_reset(&coll);
    coll.len = 0;
    KG_ASSERT_OK(kg_sim_collateral(&coll, dir2));
    KG_ASSERT_OK(kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now));
    kg_dcap_verifier_free(v);
    kg_buf_free(&root);
    kg_buf_free(&q);
    kg_buf_free(&coll);
    kg_tee_free(t);
}

/* A platform made OutOfDate verifies with that status and the older level's advisories. */
static void out_of_date_platform(void **state)
{
    char dir2[160];
    snprintf(dir2, sizeof(dir2), "%s/old", g_dir);
    kg_sim_init_opts o = {NULL, g_now, 30, "OutOfDate"};
    KG_ASSERT_OK(kg_sim_init(dir2, &o));
    kg_tee *t = NULL;
    kg_buf q, coll, root;
    uint8_t rd[64] = {0};
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    kg_buf_init(&root, 65536);
    KG_ASSERT_OK(kg_tee_open_sim(&t, dir2, "x"));
    KG_ASSERT_OK(kg_tee_get_quote(t, &q, rd));
    KG_ASSERT_OK(kg_sim_root_ca_der(&root, dir2));
    KG_ASSERT_OK(kg_sim_collateral(&coll, dir2));
    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, root.data, root.len));
    kg_dcap_report rep;
    KG_ASSERT_OK(kg_dcap_verify(v, &rep, q.data, q.len, (char *)coll.data, coll.len, g_now));
    assert_string_equal(rep.status, "OutOfDate");
    assert_int_equal(rep.n_advisory_ids, 2);
    assert_string_equal(rep.advisory_ids[0], "INTEL-SA-00106");
    kg_sim_init_opts bad = {NULL, g_now, 30, "Revoked"};
    snprintf(dir2, sizeof(dir2), "%s/bad", g_dir);
    KG_ASSERT_ERR(kg_sim_init(dir2, &bad), KG_ERR_USAGE, "is not UpToDate or OutOfDate");
    kg_dcap_verifier_free(v);
    kg_buf_free(&root);
    kg_buf_free(&q);
    kg_buf_free(&coll);
    kg_tee_free(t);
}

/* ---- PCCS ----------------------------------------------------------------------------------- */

typedef struct fetched {
    kg_buf body;
    char chain_header[64];
    char *chain; /* URL-decoded header value */
} fetched;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    fetched *f = ud;
    return kg_ok(kg_buf_append(&f->body, p, sz * n)) ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    fetched *f = ud;
    size_t len = sz * n, hl = strlen(f->chain_header);
    if (hl > 0 && len > hl + 2 && strncasecmp(p, f->chain_header, hl) == 0 && p[hl] == ':') {
        const char *v = p + hl + 1;
        while (*v == ' ')
            v++;
        int vlen = (int)(len - (size_t)(v - p));
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
            vlen--;
        int outlen = 0;
        char *dec = curl_easy_unescape(NULL, v, vlen, &outlen);
        f->chain = dec;
    }
    return len;
}

static long get(fetched *f, uint16_t port, const char *path, const char *header)
{
    char url[256];
    long code = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    kg_buf_init(&f->body, 1 << 20);
    snprintf(f->chain_header, sizeof(f->chain_header), "%s", header ? header : "");
    f->chain = NULL;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    KG_ASSERT_OK(kg_buf_terminate(&f->body));
    return code;
}

static void fetched_free(fetched *f)
{
    kg_buf_free(&f->body);
    curl_free(f->chain);
}

static void pccs_serves_v4_api(void **state)
{
    kg_buf coll;
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    KG_ASSERT_OK(kg_sim_collateral(&coll, g_plat));
    json_error_t e;
    json_t *c = json_loads((char *)coll.data, 0, &e);
    assert_non_null(c);
#define S(k) json_string_value(json_object_get(c, k))
    kg_sim_pccs *p = NULL;
    KG_ASSERT_OK(kg_sim_pccs_start(&p, g_plat, "127.0.0.1", 0));
    uint16_t port = kg_sim_pccs_port(p);
    assert_true(port > 0);
    fetched f;
    char path[128], want[16384];

    json_t *ti = json_loads(S("tcb_info"), 0, &e);
    snprintf(path, sizeof(path), "/tdx/certification/v4/tcb?fmspc=%s",
             json_string_value(json_object_get(ti, "fmspc")));
    json_decref(ti);
    assert_int_equal(get(&f, port, path, "TCB-Info-Issuer-Chain"), 200);
    snprintf(want, sizeof(want), "{\"tcbInfo\":%s,\"signature\":\"%s\"}", S("tcb_info"),
             S("tcb_info_signature"));
    assert_string_equal((char *)f.body.data, want); /* the signed text, byte for byte */
    assert_non_null(f.chain);
    assert_string_equal(f.chain, S("tcb_info_issuer_chain"));
    fetched_free(&f);

    assert_int_equal(get(&f, port, "/tdx/certification/v4/tcb?fmspc=000000000000", NULL), 404);
    fetched_free(&f);

    assert_int_equal(get(&f, port, "/tdx/certification/v4/qe/identity?update=standard",
                         "SGX-Enclave-Identity-Issuer-Chain"),
                     200);
    snprintf(want, sizeof(want), "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}", S("qe_identity"),
             S("qe_identity_signature"));
    assert_string_equal((char *)f.body.data, want);
    assert_string_equal(f.chain, S("qe_identity_issuer_chain"));
    fetched_free(&f);

    assert_int_equal(get(&f, port, "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
                         "SGX-PCK-CRL-Issuer-Chain"),
                     200);
    kg_buf der;
    kg_buf_init(&der, 1 << 20);
    KG_ASSERT_OK(kg_hex_decode_buf(&der, S("pck_crl"), strlen(S("pck_crl"))));
    assert_int_equal(f.body.len, der.len);
    assert_memory_equal(f.body.data, der.data, der.len);
    assert_string_equal(f.chain, S("pck_crl_issuer_chain"));
    kg_buf_free(&der);
    fetched_free(&f);

    assert_int_equal(get(&f, port, "/sgx/certification/v4/pckcrl?ca=processor", NULL), 404);
    fetched_free(&f);

    assert_int_equal(get(&f, port, "/sgx/certification/v4/rootcacrl", NULL), 200);
    assert_string_equal((char *)f.body.data, S("root_ca_crl"));
    fetched_free(&f);

    assert_int_equal(get(&f, port, "/nope", NULL), 404);
    fetched_free(&f);

    /* the DCAP PCCS client fetches from it exactly as from Intel's, and the quote verifies
     * with what it fetched (an RA-TLS policy with a PCCS URL takes the same path) */
    char base[64], *fetched_json = NULL;
    size_t fetched_len = 0;
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", port);
    kg_tee *t = NULL;
    kg_buf q;
    uint8_t rd[64] = {9};
    kg_buf_init(&q, KG_MAX_TEE_QUOTE_LEN);
    KG_ASSERT_OK(kg_tee_open_sim(&t, g_plat, "pccs"));
    KG_ASSERT_OK(kg_tee_get_quote(t, &q, rd));
    KG_ASSERT_OK(
        kg_pccs_get_collateral(&fetched_json, &fetched_len, base, q.data, q.len, NULL, g_now));
    kg_dcap_verifier *v = sim_verifier();
    kg_dcap_report rep;
    KG_ASSERT_OK(kg_dcap_verify(v, &rep, q.data, q.len, fetched_json, fetched_len, g_now));
    assert_string_equal(rep.status, "UpToDate");
    kg_dcap_verifier_free(v);
    free(fetched_json);
    kg_buf_free(&q);
    kg_tee_free(t);
#undef S
    kg_sim_pccs_free(p);
    json_decref(c);
    kg_buf_free(&coll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verifies_under_sim_root_only), cmocka_unit_test(any_changed_byte_fails),
        cmocka_unit_test(refresh_extends_validity),     cmocka_unit_test(out_of_date_platform),
        cmocka_unit_test(pccs_serves_v4_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
