/* mtls_ceiling.h - a bare mutual TLS 1.3 server, the transport ceiling of `keygate-bench kms`
 * (mtls_ceiling.c says what it does and what it leaves out). */
#ifndef KG_BENCH_MTLS_CEILING_H
#define KG_BENCH_MTLS_CEILING_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

typedef struct kg_bench_mtls_server kg_bench_mtls_server;

/* Listens on 127.0.0.1 (a free port) with `workers` threads, presenting cert/key (borrowed;
 * the server takes its own references). Returns 0, or -1 when it could not start. */
int kg_bench_mtls_server_start(kg_bench_mtls_server **out, X509 *cert, EVP_PKEY *key,
                               unsigned long workers);
uint16_t kg_bench_mtls_server_port(const kg_bench_mtls_server *s);
/* Stops and frees the server; *served = requests answered, *cpu_s = CPU seconds its workers
 * spent (either may be NULL). */
void kg_bench_mtls_server_stop(kg_bench_mtls_server *s, unsigned long *served, double *cpu_s);

#endif
