/* kms.c - `keygate-bench kms`: key releases per second against a real keygate-kms. N client
 * threads each loop over fresh RA-TLS connections + GetAppKey (chain policy on anvil); prints
 * requests/s, p50/p99 latency and the KMS's peak RSS as one JSON line. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "kms_test_client.h"

extern char **environ;

typedef struct client_arg {
    SSL_CTX *ctx;
    uint16_t port;
    double deadline;
    double *lat; /* seconds per successful request */
    size_t n, cap;
    size_t errors;
    char first_error[256];
} client_arg;

static void *client_main(void *p)
{
    client_arg *a = p;
    kg_buf resp;
    kg_buf_init(&resp, 1u << 20);
    while (kg_bench_now() < a->deadline) {
        double t0 = kg_bench_now();
        int status = 0;
        kg_buf_reset(&resp);
        kg_result rc = kg_kms_client_call(a->ctx, "127.0.0.1", a->port, "GetAppKey",
                                          "{\"api_version\":1}", &status, &resp);
        double dt = kg_bench_now() - t0;
        if (kg_failed(rc) || status != 200) {
            if (a->errors++ == 0)
                snprintf(a->first_error, sizeof(a->first_error), "%s",
                         kg_failed(rc) ? kg_error_message() : (const char *)resp.data);
            continue;
        }
        if (a->n < a->cap)
            a->lat[a->n++] = dt;
    }
    kg_buf_free(&resp);
    return NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* The machine's 1-minute load average: the figures are only comparable at similar load. */
static double load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* CPU seconds (user + system) the process has used so far. */
static double cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The build directory: this program lives in <build>/bin. */
static int build_dir(char *out, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len <= 0)
        return -1;
    out[len] = 0;
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(out, '/');
        if (slash == NULL)
            return -1;
        *slash = 0;
    }
    return 0;
}

int kg_bench_kms(int argc, char **argv)
{
    unsigned long clients = 32, seconds = 10, workers = 8, rpc_nodes = 1;
    const char *env_file = NULL;
    static const struct option opts[] = {{"env", required_argument, NULL, 'e'},
                                         {"clients", required_argument, NULL, 'c'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"rpc-nodes", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'e') {
            env_file = optarg;
            continue;
        }
        unsigned long *dst = c == 'c'   ? &clients
                             : c == 'd' ? &seconds
                             : c == 'w' ? &workers
                             : c == 'r' ? &rpc_nodes
                                        : NULL;
        if (dst == NULL) {
            fprintf(c == 'h' ? stdout : stderr,
                    "Usage: keygate-bench kms [--clients N (32)] [--duration S (10)] "
                    "[--workers W (8, KMS worker threads)] [--rpc-nodes 1|2 (chain nodes, "
                    "quorum of all)] [--env FILE]\n"
                    "Starts anvil + contracts, the simulated TDX platform and PCCS, and a "
                    "keygate-kms (bench/kms_env.sh),\nthen N clients each loop: fresh RA-TLS "
                    "connection + GetAppKey. Prints one JSON line.\n--env FILE: use a running "
                    "environment (the JSON line kms_env.sh printed) instead.\n");
            return c == 'h' ? 0 : 2;
        }
        char *end = NULL;
        errno = 0;
        *dst = strtoul(optarg, &end, 10);
        if (errno || end == optarg || *end || *dst == 0 || *dst > 4096) {
            fprintf(stderr, "keygate-bench kms: bad value '%s'\n", optarg);
            return 2;
        }
    }

    char build[PATH_MAX], script[PATH_MAX + 32], wbuf[16];
    char line[4096];
    pid_t env_pid = -1;
    FILE *in = NULL;
    if (env_file != NULL) {
        in = fopen(env_file, "r");
    } else {
        if (build_dir(build, sizeof(build)) != 0)
            return 1;
        snprintf(script, sizeof(script), "%s/kms_env.sh", KG_BENCH_DIR);
        snprintf(wbuf, sizeof(wbuf), "%lu", workers);
        char nbuf[16];
        snprintf(nbuf, sizeof(nbuf), "%lu", rpc_nodes);
        int pipefd[2];
        if (pipe(pipefd) != 0)
            return 1;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&fa, pipefd[0]);
        char *args[] = {script, build, wbuf, nbuf, NULL};
        if (posix_spawn(&env_pid, script, &fa, NULL, args, environ) != 0) {
            fprintf(stderr, "keygate-bench kms: cannot run %s\n", script);
            return 1;
        }
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        in = fdopen(pipefd[0], "r");
    }
    int status_code = 1;
    json_t *env = NULL;
    SSL_CTX *ctx = NULL;
    kg_kms_client_identity id = {0};
    client_arg *ca = NULL;
    pthread_t *th = NULL;
    if (in == NULL || fgets(line, sizeof(line), in) == NULL ||
        (env = json_loads(line, 0, NULL)) == NULL) {
        fprintf(stderr, "keygate-bench kms: environment did not start\n");
        goto done;
    }
    uint16_t port = (uint16_t)json_integer_value(json_object_get(env, "kms_port"));
    pid_t kms_pid = (pid_t)json_integer_value(json_object_get(env, "kms_pid"));
    uint8_t app_id[20], compose[32], inst[20];
    if (kg_failed(
            kg_hex_decode_exact(app_id, 20, json_string_value(json_object_get(env, "app_id")))) ||
        kg_failed(kg_hex_decode_exact(compose, 32,
                                      json_string_value(json_object_get(env, "compose_hash")))) ||
        kg_failed(kg_hex_decode_exact(inst, 20,
                                      json_string_value(json_object_get(env, "instance_id")))) ||
        kg_failed(
            kg_kms_client_identity_new(&id, json_string_value(json_object_get(env, "sim_dir")),
                                       "bench-app", app_id, compose, inst, KG_KMS_CERT_RATLS)) ||
        kg_failed(kg_kms_client_ctx_new(&ctx, &id))) {
        fprintf(stderr, "keygate-bench kms: %s\n", kg_error_message());
        goto done;
    }
    /* Warm-up: one release proves the setup and fills the collateral caches. */
    kg_buf resp;
    kg_buf_init(&resp, 1u << 20);
    int st = 0;
    kg_result wr = kg_kms_client_call(ctx, "127.0.0.1", port, "GetAppKey", "{}", &st, &resp);
    if (kg_failed(wr) || st != 200) {
        fprintf(stderr, "keygate-bench kms: warm-up failed: %s\n",
                kg_failed(wr) ? kg_error_message() : (const char *)resp.data);
        kg_buf_free(&resp);
        goto done;
    }
    kg_buf_free(&resp);

    ca = calloc(clients, sizeof(*ca));
    th = calloc(clients, sizeof(*th));
    if (ca == NULL || th == NULL)
        goto done;
    double cpu0 = cpu_seconds(kms_pid);
    double start = kg_bench_now();
    for (unsigned long i = 0; i < clients; i++) {
        ca[i] = (client_arg){
            .ctx = ctx, .port = port, .deadline = start + (double)seconds, .cap = 200000};
        ca[i].lat = malloc(ca[i].cap * sizeof(double));
        if (ca[i].lat == NULL || pthread_create(&th[i], NULL, client_main, &ca[i]) != 0)
            goto done;
    }
    size_t total = 0, errors = 0;
    for (unsigned long i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += ca[i].n;
        errors += ca[i].errors;
    }
    double elapsed = kg_bench_now() - start;
    double kms_cpu = cpu_seconds(kms_pid) - cpu0;
    double *all = malloc((total ? total : 1) * sizeof(double));
    if (all == NULL)
        goto done;
    size_t k = 0;
    for (unsigned long i = 0; i < clients; i++)
        for (size_t j = 0; j < ca[i].n; j++)
            all[k++] = ca[i].lat[j];
    qsort(all, total, sizeof(double), cmp_double);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(total * 99) / 100] : 0;
    free(all);
    long rss = vm_hwm_kb(kms_pid);
    printf("{\"bench\":\"kms\",\"clients\":%lu,\"kms_workers\":%lu,\"rpc_nodes\":%lu,"
           "\"seconds\":%.2f,"
           "\"releases\":%zu,\"errors\":%zu,\"releases_per_s\":%.1f,\"p50_ms\":%.2f,"
           "\"p99_ms\":%.2f,\"kms_peak_rss_mb\":%.1f,\"kms_cpu_ms_per_release\":%.2f,"
           "\"load_avg_1m\":%.2f}\n",
           clients, workers, env_file ? 0ul : rpc_nodes, elapsed, total, errors,
           (double)total / elapsed, p50 * 1e3, p99 * 1e3, rss / 1024.0,
           total ? kms_cpu * 1e3 / (double)total : 0.0, load1());
    for (unsigned long i = 0; i < clients; i++)
        if (ca[i].errors) {
            fprintf(stderr, "keygate-bench kms: first error: %s\n", ca[i].first_error);
            break;
        }
    status_code = 0;
done:
    if (ca != NULL)
        for (unsigned long i = 0; i < clients; i++)
            free(ca[i].lat);
    free(ca);
    free(th);
    SSL_CTX_free(ctx);
    kg_kms_client_identity_free(&id);
    json_decref(env);
    if (env_pid > 0)
        kill(env_pid, SIGTERM);
    if (in != NULL)
        fclose(in);
    if (env_pid > 0)
        waitpid(env_pid, NULL, 0);
    return status_code;
}
