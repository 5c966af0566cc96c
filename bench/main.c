/* main.c - keygate-bench entry: the subcommand table, usage and dispatch. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static const kg_bench_command commands[] = {
    {"eth", kg_bench_eth,
     "ABI encode/decode and tx signing rates; eth_call or policy checks/s with --rpc-url"},
    {"quote-verify", kg_bench_quote_verify,
     "DCAP quote verifications per second, warm or --cold, beside the npm peers"},
    {"ratls", kg_bench_ratls,
     "Simulated quotes, RA-TLS certificate creation/verification, mutual handshakes per second"},
    {"kms", kg_bench_kms,
     "keygate-kms key releases/s: N clients, fresh RA-TLS connection + GetAppKey on anvil"},
    {"audit-verify", kg_bench_audit_verify,
     "keygate audit verify on a decision log of N entries (1,000,000): CPU seconds"},
    {"audit-fill", kg_bench_audit_fill,
     "Fills a KMS audit database to N log entries (kms --log-entries runs it)"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

double kg_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double kg_bench_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: keygate-bench <benchmark> [options]\n\nBenchmarks:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nEach prints one JSON line of figures. Exit 0 ok, 1 failed, 2 usage.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "keygate-bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
