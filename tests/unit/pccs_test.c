/* pccs_test.c - the PCCS client against a local v4-API server holding Intel's real collateral:
 * fetched collateral verifies, signed texts survive byte for byte, caches in memory and on disk. */
#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keygate/quote.h"
#include "keygate/sim.h"
#include "quote/dcap_internal.h"

#define AT 1751328000ull

/* A directory with the vector's collateral as the local PCCS serves it. */
static void make_dir(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "/tmp/kg-pccs-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    kg_buf c;
    char rel[64], path[512];
    snprintf(rel, sizeof(rel), "dcap/%s_quote_collateral.json", name);
    kg_test_read_vector(&c, rel);
    snprintf(path, sizeof(path), "%s/collateral.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(c.data, 1, c.len, f), c.len);
    fclose(f);
    kg_buf_free(&c);
}

static void rm_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void fetched_collateral_verifies_and_is_cached(void **state)
{
    char dir[64], cache[64], url[128];
    make_dir(dir, sizeof(dir), "tdx");
    snprintf(cache, sizeof(cache), "/tmp/kg-pccs-cache-XXXXXX");
    assert_non_null(mkdtemp(cache));
    kg_sim_pccs *srv = NULL;
    KG_ASSERT_OK(kg_sim_pccs_start(&srv, dir, "127.0.0.1", 0));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/sgx/certification/v4/", kg_sim_pccs_port(srv));

    kg_buf quote, orig;
    kg_test_read_vector(&quote, "dcap/tdx_quote");
    kg_test_read_vector(&orig, "dcap/tdx_quote_collateral.json");
    char *coll = NULL;
    size_t len = 0;
    mode_t umask_was = umask(077); /* a strict umask: the cache's mode must still be 0644 */
    KG_ASSERT_OK(kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, cache, AT));
    umask(umask_was);

    /* the signed texts arrive byte for byte: the same strings as the vector's */
    json_t *got = json_loadb(coll, len, 0, NULL),
           *want = json_loadb((char *)orig.data, orig.len, 0, NULL);
    assert_non_null(got);
    const char *keys[] = {"tcb_info",
                          "tcb_info_signature",
                          "qe_identity",
                          "qe_identity_signature",
                          "pck_crl",
                          "root_ca_crl",
                          "tcb_info_issuer_chain",
                          "qe_identity_issuer_chain",
                          "pck_crl_issuer_chain"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_string_equal(json_string_value(json_object_get(got, keys[i])),
                            json_string_value(json_object_get(want, keys[i])));
    json_decref(got);
    json_decref(want);

    kg_dcap_verifier *v = NULL;
    KG_ASSERT_OK(kg_dcap_verifier_new(&v, NULL, 0));
    kg_dcap_report *r = calloc(1, sizeof(*r));
    KG_ASSERT_OK(kg_dcap_verify(v, r, quote.data, quote.len, coll, len, AT));
    assert_string_equal(r->status, "UpToDate");
    free(coll);

    /* the server is gone: the memory cache answers until nextUpdate ... */
    kg_sim_pccs_free(srv);
    KG_ASSERT_OK(kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, NULL, AT));
    free(coll);
    /* ... and after it the PCCS is asked again (and is unreachable) */
    KG_ASSERT_ERR(
        kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, NULL, AT + 40ull * 86400),
        KG_ERR_NETWORK, "PCCS http://127.0.0.1:");
    /* the disk cache holds one entry, written through fileio's atomic write: mode 0644 exactly
     * (collateral is public; the umask does not narrow it) and no temporary file left */
    DIR *d = opendir(cache);
    assert_non_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[384];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", cache, e->d_name);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(strncmp(e->d_name, "pccs-", 5), 0);
        assert_null(strstr(e->d_name, ".tmp"));
        assert_int_equal(st.st_mode & 07777, 0644);
        entries++;
    }
    closedir(d);
    assert_int_equal(entries, 1);
    /* the disk cache kept it too: with memory forgotten it still answers, without it nothing */
    kg_pccs_clear_memory_cache();
    KG_ASSERT_OK(kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, cache, AT));
    KG_ASSERT_OK(kg_dcap_verify(v, r, quote.data, quote.len, coll, len, AT));
    free(coll);
    kg_pccs_clear_memory_cache();
    KG_ASSERT_ERR(kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, NULL, AT),
                  KG_ERR_NETWORK, "GET http://127.0.0.1:");

    free(r);
    kg_dcap_verifier_free(v);
    kg_buf_free(&quote);
    kg_buf_free(&orig);
    rm_dir(dir);
    rm_dir(cache);
}

static void unreachable_and_bad_urls_fail(void **state)
{
    kg_buf quote;
    kg_test_read_vector(&quote, "dcap/sgx_quote");
    char *coll = NULL;
    size_t len = 0;
    KG_ASSERT_ERR(kg_pccs_get_collateral(&coll, &len, "ftp://x", quote.data, quote.len, NULL, AT),
                  KG_ERR_USAGE, "is not http(s)");
    /* port 9 on loopback: nothing listens */
    KG_ASSERT_ERR(
        kg_pccs_get_collateral(&coll, &len, "http://127.0.0.1:9", quote.data, quote.len, NULL, AT),
        KG_ERR_NETWORK, "GET http://127.0.0.1:9/sgx/certification/v4/tcb?fmspc=00A067110000");
    assert_null(coll);
    KG_ASSERT_ERR(
        kg_pccs_get_collateral(&coll, &len, "http://127.0.0.1:9", quote.data, 100, NULL, AT),
        KG_ERR_TRUNCATED, "PCCS request: quote");
    kg_buf_free(&quote);
}

/* A DER CRL's last byte (the end of its signature) may be any value, whitespace included: the
 * client must not trim the binary form (it did, and a simulated platform's fresh PCK CRL then
 * failed to parse in about 1 run in 43). The signature is not checked here, only the bytes. */
static void der_crl_ending_in_whitespace_arrives_intact(void **state)
{
    static const char *const last[] = {"09", "0a", "0b", "0c", "0d", "20"};
    kg_buf quote;
    kg_test_read_vector(&quote, "dcap/tdx_quote");
    for (size_t i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
        char dir[64], url[128], path[512];
        make_dir(dir, sizeof(dir), "tdx");
        snprintf(path, sizeof(path), "%s/collateral.json", dir);
        json_t *c = json_load_file(path, 0, NULL);
        assert_non_null(c);
        const char *crl = json_string_value(json_object_get(c, "pck_crl"));
        assert_non_null(crl);
        size_t n = strlen(crl);
        assert_true(n > 2);
        char *want = strdup(crl);
        assert_non_null(want);
        memcpy(want + n - 2, last[i], 2);
        assert_int_equal(json_object_set_new(c, "pck_crl", json_string(want)), 0);
        assert_int_equal(json_dump_file(c, path, 0), 0);
        json_decref(c);

        kg_sim_pccs *srv = NULL;
        KG_ASSERT_OK(kg_sim_pccs_start(&srv, dir, "127.0.0.1", 0));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", kg_sim_pccs_port(srv));
        char *coll = NULL;
        size_t len = 0;
        kg_pccs_clear_memory_cache();
        KG_ASSERT_OK(kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, NULL, AT));
        json_t *got = json_loadb(coll, len, 0, NULL);
        assert_non_null(got);
        assert_string_equal(json_string_value(json_object_get(got, "pck_crl")), want);
        json_decref(got);
        free(coll);
        free(want);
        kg_sim_pccs_free(srv);
        kg_pccs_clear_memory_cache();
        rm_dir(dir);
    }
    kg_buf_free(&quote);
}

/* A local PCCS that holds TDX collateral answers 404 for the SGX platform's FMSPC. */
static void wrong_platform_is_not_found(void **state)
{
    char dir[64], url[128];
    make_dir(dir, sizeof(dir), "tdx");
    kg_sim_pccs *srv = NULL;
    KG_ASSERT_OK(kg_sim_pccs_start(&srv, dir, "127.0.0.1", 0));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", kg_sim_pccs_port(srv));
    kg_buf quote;
    kg_test_read_vector(&quote, "dcap/sgx_quote");
    char *coll = NULL;
    size_t len = 0;
    KG_ASSERT_ERR(kg_pccs_get_collateral(&coll, &len, url, quote.data, quote.len, NULL, AT),
                  KG_ERR_NETWORK, "HTTP 404");
    kg_sim_pccs_free(srv);
    kg_buf_free(&quote);
    rm_dir(dir);
}

/* The reply parsers on their own (pccs.c reads replies through kg_reader): the signed text is
 * the top-level member, never a nested one of the same name, and kept byte for byte. */
static void reply_parsers_take_the_top_level_member(void **state)
{
    char *text = NULL, *sig = NULL;
    static const char nested[] =
        "{ \"x\" : {\"tcbInfo\":{\"fake\":\"}{\"}, \"y\":[1,{\"a\":\"\\\"\"}]},"
        "\"tcbInfo\" :\n {\"id\": \"TDX\" , \"s\":\"\\\\\"},\"signature\":\"ab\"}";
    KG_ASSERT_OK(
        kg_pccs_signed_body(&text, &sig, (const uint8_t *)nested, strlen(nested), "tcbInfo"));
    assert_string_equal(text, "{\"id\": \"TDX\" , \"s\":\"\\\\\"}");
    assert_string_equal(sig, "ab");
    free(text);
    free(sig);
    /* a nested member of that name first: the top-level one is taken */
    static const char only_nested[] =
        "{\"x\":{\"tcbInfo\":{\"n\":1}},\"tcbInfo\":{},\"signature\":\"\"}";
    KG_ASSERT_OK(kg_pccs_signed_body(&text, &sig, (const uint8_t *)only_nested, strlen(only_nested),
                                     "tcbInfo"));
    assert_string_equal(text, "{}");
    free(text);
    free(sig);
    static const char escaped_key[] = "{\"tcb\\u0049nfo\":{},\"signature\":\"\"}";
    KG_ASSERT_ERR(kg_pccs_signed_body(&text, &sig, (const uint8_t *)escaped_key,
                                      strlen(escaped_key), "tcbInfo"),
                  KG_ERR_INPUT, "tcbInfo: not found");
    assert_null(text);
    assert_null(sig);
    KG_ASSERT_ERR(
        kg_pccs_signed_body(&text, &sig, (const uint8_t *)"{\"tcbInfo\":{}", 13, "tcbInfo"),
        KG_ERR_INPUT, "invalid JSON body");

    /* jansson takes a raw NUL between tokens; the text would be cut at it (found by fuzzing) */
    static const char nul[] = "{\"tcbInfo\":{\"a\":3\0},\"signature\":\"\"}";
    KG_ASSERT_ERR(
        kg_pccs_signed_body(&text, &sig, (const uint8_t *)nul, sizeof(nul) - 1, "tcbInfo"),
        KG_ERR_INPUT, "NUL byte in the body");
    assert_null(text);

    /* issuer chain headers: percent escapes decoded, '+' kept, bad escapes and NULs refused */
    char *chain = NULL;
    KG_ASSERT_OK(kg_pccs_issuer_chain(&chain, (const uint8_t *)"a%2Bb+c%0A", 10, "t"));
    assert_string_equal(chain, "a+b+c\n");
    free(chain);
    KG_ASSERT_ERR(kg_pccs_issuer_chain(&chain, (const uint8_t *)"ab%4", 4, "t"), KG_ERR_INPUT,
                  "bad escape");
    KG_ASSERT_ERR(kg_pccs_issuer_chain(&chain, (const uint8_t *)"ab%zz", 5, "t"), KG_ERR_INPUT,
                  "bad escape");
    KG_ASSERT_ERR(kg_pccs_issuer_chain(&chain, (const uint8_t *)"a%00", 4, "t"), KG_ERR_INPUT,
                  "NUL in issuer chain");
    KG_ASSERT_ERR(kg_pccs_issuer_chain(&chain, (const uint8_t *)"", 0, "t"), KG_ERR_INPUT,
                  "bad issuer chain header");
    assert_null(chain);

    /* header lines */
    const uint8_t *v = NULL;
    size_t vl = 0;
    static const char line[] = "sgx-pck-crl-issuer-chain: \t abc%20 \r\n";
    assert_true(kg_pccs_header_value((const uint8_t *)line, strlen(line),
                                     "SGX-PCK-CRL-Issuer-Chain", &v, &vl));
    assert_int_equal(vl, 6);
    assert_memory_equal(v, "abc%20", 6);
    assert_false(kg_pccs_header_value((const uint8_t *)"SGX-PCK-CRL-Issuer", 18,
                                      "SGX-PCK-CRL-Issuer-Chain", &v, &vl));
    assert_false(kg_pccs_header_value((const uint8_t *)"SGX-PCK-CRL-Issuer-Chainx: 1", 28,
                                      "SGX-PCK-CRL-Issuer-Chain", &v, &vl));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fetched_collateral_verifies_and_is_cached),
        cmocka_unit_test(unreachable_and_bad_urls_fail),
        cmocka_unit_test(wrong_platform_is_not_found),
        cmocka_unit_test(der_crl_ending_in_whitespace_arrives_intact),
        cmocka_unit_test(reply_parsers_take_the_top_level_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
