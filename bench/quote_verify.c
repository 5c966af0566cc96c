/* quote_verify.c - `keygate-bench quote-verify`: DCAP verifications per second (warm caches or
 * cold), with the npm peers @phala/dcap-qvl (JS) and @phala/dcap-qvl-web (WASM) on the same quote,
 * and the ceiling: bare P-256 ECDSA verifications (SHA-256 of the quote's signed bytes, then one
 * verification, what OpenSSL's `speed ecdsap256` measures plus the hash) in the same process,
 * measured in alternating slices so a shared machine's load falls on both alike.
 */
/* ECDSA_do_verify on an EC_KEY: the cheapest verification OpenSSL 3 offers, so the ceiling is
 * not flattered by provider dispatch. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include "bench.h"
#include "keygate/bytes.h"
#include "keygate/fileio.h"
#include "keygate/quote.h"
#include "quote/dcap_internal.h"

#define SLICES 20 /* alternating measurement slices of each kind */

/* A P-256 key and a signature over msg: the ceiling's fixture. */
typedef struct p256_fixture {
    EC_KEY *key;
    ECDSA_SIG *sig;
    const uint8_t *msg;
    size_t len;
} p256_fixture;

static bool p256_fixture_init(p256_fixture *f, const uint8_t *msg, size_t len)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    f->msg = msg;
    f->len = len;
    f->key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    f->sig = NULL;
    if (!f->key || EC_KEY_generate_key(f->key) != 1)
        return false;
    SHA256(msg, len, d);
    f->sig = ECDSA_do_sign(d, sizeof(d), f->key);
    return f->sig != NULL;
}

static bool p256_verify_once(const p256_fixture *f)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256(f->msg, f->len, d);
    return ECDSA_do_verify(d, sizeof(d), f->sig, f->key) == 1;
}

static void p256_fixture_free(p256_fixture *f)
{
    ECDSA_SIG_free(f->sig);
    EC_KEY_free(f->key);
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate-bench quote-verify --quote Q --collateral C --at UNIX_TIME\n"
            "                                  [--cold] [--seconds S] [--no-peers]\n"
            "                                  [--no-parse-cache]\n"
            "  warm (default): caches on, as the KMS runs: verified collateral and PCK chains\n"
            "  are reused inside their validity windows, and a QE report once verified by a\n"
            "  PCK key; a warm call verifies the quote's signature only.\n"
            "  --cold: no verdict is reused. Every call checks every signature that carries\n"
            "  information (root CA CRL, PCK CA certificate, PCK CRL, TCB signing certificate,\n"
            "  TCB Info, QE Identity, PCK certificate, QE report, quote: nine ECDSA\n"
            "  verifications, each once per call), every validity window at --at, every\n"
            "  revocation, the TCB and QE identity evaluation. Not repeated within a call: a\n"
            "  certificate that appears in two chains (checked once), the pinned root's\n"
            "  self-signature (checked when the verifier is made; the root is trusted by its\n"
            "  exact bytes). Parsing is pure, so parsed certificates, CRLs, PEM chains, the\n"
            "  collateral document and signed TCB Info / QE Identity texts are reused for\n"
            "  identical bytes, unless --no-parse-cache. ecdsa_per_op counts the\n"
            "  verifications of one call. Peers run as long.\n");
}

static void count_ecdsa(void *arg, const char *what)
{
    (void)what;
    (*(unsigned *)arg)++;
}

/* Runs bench/peers.mjs on the same (binary) quote; returns its JSON or NULL. */
static json_t *run_peers(const uint8_t *quote, size_t quote_len, const char *coll_path,
                         unsigned long long at, double seconds)
{
    char tmp[] = "/tmp/keygate-bench-quote-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        return NULL;
    bool ok = write(fd, quote, quote_len) == (ssize_t)quote_len;
    close(fd);
    json_t *out = NULL;
    if (ok) {
        char cmd[2048];
        int n = snprintf(cmd, sizeof(cmd), "node '%s/peers.mjs' '%s' '%s' '%s' %llu %.3f",
                         KG_BENCH_DIR, KG_TOOLS_DIR, tmp, coll_path, at, seconds);
        FILE *p =
            (n > 0 && (size_t)n < sizeof(cmd) && !strchr(coll_path, '\'')) ? popen(cmd, "r") : NULL;
        if (p) {
            char line[4096];
            if (fgets(line, sizeof(line), p))
                out = json_loads(line, 0, NULL);
            pclose(p);
        }
    }
    unlink(tmp);
    return out;
}

int kg_bench_quote_verify(int argc, char **argv)
{
    const char *quote_path = NULL, *coll_path = NULL;
    unsigned long long at = 0;
    double seconds = 3.0;
    bool cold = false, peers = true, have_at = false, parse_cache = true;
    for (int i = 1; i < argc; i++) {
        bool v = i + 1 < argc;
        if (strcmp(argv[i], "--quote") == 0 && v) {
            quote_path = argv[++i];
        } else if (strcmp(argv[i], "--collateral") == 0 && v) {
            coll_path = argv[++i];
        } else if (strcmp(argv[i], "--at") == 0 && v) {
            char *end;
            at = strtoull(argv[++i], &end, 10);
            have_at = *end == 0;
        } else if (strcmp(argv[i], "--seconds") == 0 && v) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || seconds <= 0 || seconds > 3600) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--cold") == 0) {
            cold = true;
        } else if (strcmp(argv[i], "--no-peers") == 0) {
            peers = false;
        } else if (strcmp(argv[i], "--no-parse-cache") == 0) {
            parse_cache = false;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!quote_path || !coll_path || !have_at) {
        usage(stderr);
        return 2;
    }

    int rc = 1;
    kg_buf raw, coll;
    kg_buf_init(&raw, 2u * KG_MAX_QUOTE_LEN + 64);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    uint8_t *quote = malloc(KG_MAX_QUOTE_LEN);
    size_t quote_len = 0;
    kg_dcap_verifier *v = NULL;
    kg_dcap_report *r = calloc(1, sizeof(*r));
    p256_fixture ceil = {0};
    if (!quote || !r || kg_failed(kg_file_read(&raw, quote_path, 2u * KG_MAX_QUOTE_LEN + 64)) ||
        kg_failed(kg_quote_decode_input(quote, KG_MAX_QUOTE_LEN, &quote_len, raw.data, raw.len)) ||
        kg_failed(kg_file_read(&coll, coll_path, KG_MAX_COLLATERAL_LEN)) ||
        kg_failed(kg_dcap_verifier_new(&v, NULL, 0))) {
        fprintf(stderr, "keygate-bench: %s\n", kg_error_message());
        goto cleanup;
    }
    kg_dcap_verifier_set_cache(v, !cold);
    kg_dcap_verifier_set_parse_cache(v, parse_cache);
    /* one verification first: it must pass, and warms the caches in warm mode */
    if (kg_failed(kg_dcap_verify(v, r, quote, quote_len, (const char *)coll.data, coll.len, at))) {
        fprintf(stderr, "keygate-bench: quote does not verify: %s\n", kg_error_message());
        goto cleanup;
    }
    /* the ECDSA verifications of one call in this mode (the first call warmed the caches) */
    unsigned ecdsa_per_op = 0;
    kg_dcap_ecdsa_hook = count_ecdsa;
    kg_dcap_ecdsa_hook_arg = &ecdsa_per_op;
    kg_result counted =
        kg_dcap_verify(v, r, quote, quote_len, (const char *)coll.data, coll.len, at);
    kg_dcap_ecdsa_hook = NULL;
    kg_dcap_ecdsa_hook_arg = NULL;
    if (kg_failed(counted)) {
        fprintf(stderr, "keygate-bench: %s\n", kg_error_message());
        goto cleanup;
    }
    if (!p256_fixture_init(&ceil, r->quote.signed_data, r->quote.signed_len) ||
        !p256_verify_once(&ceil)) {
        fprintf(stderr, "keygate-bench: P-256 ceiling fixture failed\n");
        goto cleanup;
    }
    /* Alternate slices of quote verifications and bare P-256 verifications, each timed in this
     * thread's CPU time, so both rates see the same machine. */
    unsigned long long n = 0, n_p256 = 0;
    double elapsed = 0, elapsed_p256 = 0, start = kg_bench_now();
    for (int slice = 0; slice < SLICES; slice++) {
        double t0 = kg_bench_cpu(), t;
        do {
            for (int k = 0; k < 16; k++) {
                if (kg_failed(kg_dcap_verify(v, r, quote, quote_len, (const char *)coll.data,
                                             coll.len, at))) {
                    fprintf(stderr, "keygate-bench: %s\n", kg_error_message());
                    goto cleanup;
                }
            }
            n += 16;
            t = kg_bench_cpu() - t0;
        } while (t < seconds / SLICES);
        elapsed += t;
        t0 = kg_bench_cpu();
        do {
            for (int k = 0; k < 16; k++) {
                if (!p256_verify_once(&ceil)) {
                    fprintf(stderr, "keygate-bench: P-256 verification failed\n");
                    goto cleanup;
                }
            }
            n_p256 += 16;
            t = kg_bench_cpu() - t0;
        } while (t < seconds / SLICES);
        elapsed_p256 += t;
    }
    double wall = kg_bench_now() - start;
    double rate = (double)n / elapsed, rate_p256 = (double)n_p256 / elapsed_p256;

    json_t *o = json_object();
    json_object_set_new(o, "bench", json_string("quote-verify"));
    json_object_set_new(o, "mode", json_string(cold ? "cold" : "warm"));
    json_object_set_new(o, "parse_cache", json_boolean(parse_cache));
    json_object_set_new(o, "ops_per_sec", json_real(rate));
    json_object_set_new(o, "us_per_op", json_real(elapsed * 1e6 / (double)n));
    json_object_set_new(o, "iterations", json_integer((json_int_t)n));
    json_object_set_new(o, "cpu_seconds", json_real(elapsed));
    json_object_set_new(o, "wall_seconds", json_real(wall));
    json_object_set_new(o, "p256_verify_per_sec", json_real(rate_p256));
    json_object_set_new(o, "fraction_of_p256_verify", json_real(rate / rate_p256));
    json_object_set_new(o, "ecdsa_per_op", json_integer((json_int_t)ecdsa_per_op));
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "threads", json_integer(1));
    json_object_set_new(o, "clock", json_string("thread CPU time"));
    if (peers) {
        json_t *p = run_peers(quote, quote_len, coll_path, at, seconds);
        json_object_set_new(o, "peers", p ? p : json_null());
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (s) {
        printf("%s\n", s);
        free(s);
        rc = 0;
    }
cleanup:
    p256_fixture_free(&ceil);
    kg_dcap_verifier_free(v);
    free(r);
    free(quote);
    kg_buf_free(&raw);
    kg_buf_free(&coll);
    return rc;
}
