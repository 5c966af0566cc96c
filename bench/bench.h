/* bench.h - the keygate-bench subcommand table and shared timing helpers. */
#ifndef KG_BENCH_H
#define KG_BENCH_H

#include <stdint.h>

typedef struct kg_bench_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *summary;
} kg_bench_command;

/* Monotonic clock in seconds. */
double kg_bench_now(void);
/* CPU time of the calling thread in seconds: rates "on one core" that other processes sharing
 * the machine do not distort. */
double kg_bench_cpu(void);

/* Subcommands (one source file each), listed in main.c's table. */
int kg_bench_quote_verify(int argc, char **argv);
int kg_bench_ratls(int argc, char **argv);
int kg_bench_eth(int argc, char **argv);
int kg_bench_kms(int argc, char **argv);
int kg_bench_audit_verify(int argc, char **argv);
int kg_bench_audit_fill(int argc, char **argv);

#endif
