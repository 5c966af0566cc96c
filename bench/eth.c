/* eth.c - `keygate-bench eth`: ABI encode/decode and EIP-1559 signing rates (one core, CPU
 * time), and, against a node given with --rpc-url, eth_call / policy-check throughput and
 * latency from concurrent threads sharing one kg_eth_client. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keygate/eth.h"

#define DIE(msg)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "keygate-bench eth: %s: %s\n", msg, kg_error_message());                   \
        exit(1);                                                                                   \
    } while (0)

#define MAX_THREADS 64
#define MAX_SAMPLES 200000

/* anvil's first default account: a public test key, used only when --private-key is absent. */
static const char ANVIL_KEY0[] = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/* The echo contract of tests/integration/eth_itest.c: returns its calldata. */
static const char ECHO_INIT[] = "601e80600b6000396000f336600060003760005160f81c60ff14601657366000"
                                "f35b600136036001fd";

static kg_boot_identity sample_boot_info(void)
{
    kg_boot_identity bi;
    memset(&bi, 0x5a, sizeof(bi));
    bi.instance_id_len = KG_INSTANCE_ID_LEN;
    snprintf(bi.tcb_status, sizeof(bi.tcb_status), "UpToDate");
    bi.n_advisory_ids = 2;
    snprintf(bi.advisory_ids[0], sizeof(bi.advisory_ids[0]), "INTEL-SA-00615");
    snprintf(bi.advisory_ids[1], sizeof(bi.advisory_ids[1]), "INTEL-SA-00837");
    return bi;
}

typedef struct worker {
    kg_eth_client *c;
    const uint8_t *to;
    bool policy; /* kg_eth_policy_check on a KMS contract instead of a bare eth_call */
    double until;
    size_t n, failed;
    double *lat; /* per-call latency, seconds */
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    kg_boot_identity bi = sample_boot_info();
    kg_buf call, out;
    kg_buf_init(&call, KG_ETH_MAX_ABI_LEN);
    kg_buf_init(&out, KG_ETH_MAX_ABI_LEN);
    if (kg_failed(kg_eth_policy_calldata(&call, KG_ETH_POLICY_APP, &bi)))
        return NULL;
    while (kg_bench_now() < w->until && w->n < MAX_SAMPLES) {
        double t0 = kg_bench_now();
        kg_result rc;
        if (w->policy) {
            kg_eth_decision d;
            rc = kg_eth_policy_check(&d, w->c, w->to, KG_ETH_POLICY_APP, &bi, NULL);
        } else {
            kg_buf_reset(&out);
            rc = kg_eth_call(w->c, &out, NULL, NULL, w->to, call.data, call.len, NULL);
        }
        if (kg_failed(rc))
            w->failed++;
        w->lat[w->n++] = kg_bench_now() - t0;
    }
    kg_buf_free(&call);
    kg_buf_free(&out);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double rate(double count, double secs)
{
    return secs > 0 ? count / secs : 0;
}

int kg_bench_eth(int argc, char **argv)
{
    const char *url = NULL, *kms = NULL;
    unsigned long threads = 8, seconds = 3;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--rpc-url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--kms") == 0 && i + 1 < argc) {
            kms = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || threads == 0 || threads > MAX_THREADS) {
                fprintf(stderr, "keygate-bench eth: bad --threads '%s' (1..%d)\n", argv[i],
                        MAX_THREADS);
                return 2;
            }
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || seconds == 0 || seconds > 600) {
                fprintf(stderr, "keygate-bench eth: bad --seconds '%s'\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "Usage: keygate-bench eth [--rpc-url URL [--kms ADDR] [--threads N] "
                            "[--seconds S]]\n  Without --kms, deploys a small echo contract "
                            "with KEYGATE_BENCH_KEY (default: anvil's first test key).\n");
            return 2;
        }
    }

    /* 1. CPU: calldata encoding, (bool,string) decoding, transaction signing. */
    kg_boot_identity bi = sample_boot_info();
    kg_buf b;
    kg_buf_init(&b, KG_ETH_MAX_ABI_LEN);
    unsigned long n_enc = 200000;
    double c0 = kg_bench_cpu();
    for (unsigned long i = 0; i < n_enc; i++) {
        kg_buf_reset(&b);
        if (kg_failed(kg_eth_policy_calldata(&b, KG_ETH_POLICY_APP, &bi)))
            DIE("encoding");
    }
    double enc_s = kg_bench_cpu() - c0;
    size_t calldata_len = b.len;

    kg_abi_value ans[2] = {kg_abi_bool(false), kg_abi_string("compose hash not allowed")};
    kg_buf_reset(&b);
    if (kg_failed(kg_abi_encode(&b, ans, 2)))
        DIE("encoding the answer");
    static const kg_abi_type t[2] = {KG_ABI_T_BOOL, KG_ABI_T_STRING};
    kg_abi_decoded v[2];
    c0 = kg_bench_cpu();
    for (unsigned long i = 0; i < n_enc; i++)
        if (kg_failed(kg_abi_decode(v, t, 2, b.data, b.len, KG_ETH_MAX_REASON_LEN)))
            DIE("decoding");
    double dec_s = kg_bench_cpu() - c0;

    uint8_t key[32];
    const char *key_hex = getenv("KEYGATE_BENCH_KEY");
    if (kg_failed(kg_hex_decode_exact(key, 32, key_hex ? key_hex : ANVIL_KEY0)))
        DIE("KEYGATE_BENCH_KEY");
    kg_eth_tx tx = {.chain_id = 31337,
                    .max_priority_fee_per_gas = 1,
                    .max_fee_per_gas = 2,
                    .gas_limit = 100000,
                    .has_to = true,
                    .data = b.data,
                    .data_len = b.len};
    kg_buf raw;
    kg_buf_init(&raw, KG_ETH_MAX_TX_LEN);
    unsigned long n_sign = 5000;
    c0 = kg_bench_cpu();
    for (unsigned long i = 0; i < n_sign; i++) {
        kg_buf_reset(&raw);
        tx.nonce = i;
        if (kg_failed(kg_eth_tx_sign(&raw, NULL, &tx, key)))
            DIE("signing");
    }
    double sign_s = kg_bench_cpu() - c0;
    kg_buf_free(&raw);

    printf("{\"bench\":\"eth\",\"calldata_bytes\":%zu,\"encode_per_s\":%.0f,"
           "\"decode_per_s\":%.0f,\"tx_sign_per_s\":%.0f",
           calldata_len, rate((double)n_enc, enc_s), rate((double)n_enc, dec_s),
           rate((double)n_sign, sign_s));
    kg_buf_free(&b);
    if (url == NULL) {
        printf("}\n");
        return 0;
    }

    /* 2. Chain: concurrent calls through one shared client. */
    kg_eth_client *c;
    uint8_t to[20];
    if (kg_failed(kg_eth_client_new(&c, url, 10000)))
        DIE("client");
    if (kms != NULL) {
        if (kg_failed(kg_eth_address_parse(to, kms)))
            DIE("--kms");
    } else {
        kg_buf init;
        kg_eth_receipt r;
        kg_buf_init(&init, 1024);
        if (kg_failed(kg_hex_decode_buf(&init, ECHO_INIT, strlen(ECHO_INIT))) ||
            kg_failed(kg_eth_send_and_wait(c, &r, key, NULL, NULL, init.data, init.len, 30000)))
            DIE("deploying the echo contract");
        memcpy(to, r.contract_address, 20);
        kg_eth_receipt_free(&r);
        kg_buf_free(&init);
    }
    worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    double start = kg_bench_now();
    for (unsigned long i = 0; i < threads; i++) {
        w[i] = (worker){.c = c, .to = to, .policy = kms != NULL, .until = start + (double)seconds};
        w[i].lat = malloc(MAX_SAMPLES * sizeof(double));
        if (w[i].lat == NULL || pthread_create(&th[i], NULL, work, &w[i]) != 0) {
            fprintf(stderr, "keygate-bench eth: cannot start threads\n");
            return 1;
        }
    }
    size_t total = 0, failed = 0;
    for (unsigned long i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        failed += w[i].failed;
    }
    double elapsed = kg_bench_now() - start;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (unsigned long i = 0; i < threads; i++) {
        if (all != NULL)
            memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
        k += w[i].n;
        free(w[i].lat);
    }
    double p50 = 0, p99 = 0;
    if (all != NULL && total > 0) {
        qsort(all, total, sizeof(double), cmp_double);
        p50 = all[total / 2];
        p99 = all[(total * 99) / 100];
    }
    free(all);
    printf(",\"chain_op\":\"%s\",\"threads\":%lu,\"calls\":%zu,\"failed\":%zu,"
           "\"calls_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
           kms ? "policy_check" : "eth_call", threads, total, failed, rate((double)total, elapsed),
           p50 * 1e3, p99 * 1e3);
    kg_eth_client_free(c);
    return failed == 0 ? 0 : 1;
}
