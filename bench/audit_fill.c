/* audit_fill.c - decision logs of N entries written the way the KMS writes them, for benchmarks
 * that need a big log: `keygate-bench audit-verify` verifies one, `keygate-bench kms --scale`
 * starts the KMS on one (through `keygate-bench audit-fill`, run before the KMS opens the file).
 *
 * Each entry is a kg_audit_append (row and log entry in one durable transaction); concurrent
 * appends share a commit, so several filler threads keep the fill from being one fsync per
 * entry. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_fill.h"
#include "bench.h"

#define FILL_THREADS 32

typedef struct filler {
    kg_audit *audit;
    uint64_t first, count;
    bool failed;
} filler;

/* A realistic allow: a verified identity, the block it was decided at, released fingerprints. */
static void record_of(kg_audit_record *r, kg_boot_identity *id, uint64_t i)
{
    memset(id, 0, sizeof(*id));
    id->has_app_id = id->has_compose_hash = id->has_device_id = true;
    memset(id->app_id, 0xa1, sizeof(id->app_id));
    memcpy(id->compose_hash, &i, sizeof(i));
    id->instance_id_len = KG_INSTANCE_ID_LEN;
    memcpy(id->instance_id, &i, sizeof(i));
    memset(id->device_id, 0xd3, sizeof(id->device_id));
    memset(id->mr_aggregated, 0x11, sizeof(id->mr_aggregated));
    memset(id->mr_system, 0x22, sizeof(id->mr_system));
    memset(id->os_image_hash, 0x33, sizeof(id->os_image_hash));
    snprintf(id->tcb_status, sizeof(id->tcb_status), "UpToDate");
    *r = (kg_audit_record){
        .time_ms = 1764800000000 + (int64_t)i,
        .method = "GetAppKey",
        .peer = "127.0.0.1:40000",
        .allowed = true,
        .reason = "allowed",
        .identity = id,
        .block_number = (int64_t)(1000 + i / 16),
        .block_hash = "0x5d1e0a6bb7e6d4e1c1b9e4bb3c2a1f0e9d8c7b6a5f4e3d2c1b0a99887766554433",
        .released =
            "{\"k256_pubkey\":\"0x02b1a4c9f0e3d2c1b0a99887766554433221100ffeeddccbbaa99887766"
            "554433\",\"disk_key_sha256\":\"0x9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d"
            "3c2b1a09f8e7d6c5b4a3\"}"};
}

static void *fill(void *arg)
{
    filler *f = arg;
    for (uint64_t i = f->first; i < f->first + f->count; i++) {
        kg_audit_record r;
        kg_boot_identity id;
        record_of(&r, &id, i);
        if (kg_failed(kg_audit_append(f->audit, &r, NULL))) {
            fprintf(stderr, "keygate-bench: audit append %" PRIu64 ": %s\n", i, kg_error_message());
            f->failed = true;
            return NULL;
        }
    }
    return NULL;
}

int kg_bench_audit_fill_to(kg_audit *a, uint64_t entries, uint64_t *size)
{
    uint64_t have = 0;
    if (kg_failed(kg_audit_log_size(a, &have)) || have > entries) {
        fprintf(stderr, "keygate-bench: the log already holds more than %" PRIu64 " entries\n",
                entries);
        return -1;
    }
    uint64_t todo = entries - have;
    filler f[FILL_THREADS];
    pthread_t th[FILL_THREADS];
    int started = 0;
    for (; started < FILL_THREADS; started++) {
        uint64_t share = todo / FILL_THREADS + ((uint64_t)started < todo % FILL_THREADS ? 1 : 0);
        f[started] = (filler){.audit = a, .first = have, .count = share};
        have += share;
        if (pthread_create(&th[started], NULL, fill, &f[started]) != 0)
            break;
    }
    bool failed = started < FILL_THREADS;
    if (failed)
        fprintf(stderr, "keygate-bench: cannot start the log filler threads\n");
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failed |= f[i].failed;
    }
    if (failed || kg_failed(kg_audit_log_size(a, size)))
        return -1;
    return 0;
}

static int usage(FILE *out, int code)
{
    fprintf(out, "Usage: keygate-bench audit-fill --db FILE --entries N\n"
                 "Appends decisions to the KMS audit database FILE (created if missing) until its\n"
                 "log holds N entries, as the KMS appends them; for a KMS started on a big log.\n");
    return code;
}

int kg_bench_audit_fill(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'b'},
                                         {"entries", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL;
    unsigned long long entries = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': db = optarg; break;
        case 'n': {
            char *end = NULL;
            errno = 0;
            entries = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
                entries > KG_BENCH_MAX_LOG_ENTRIES) {
                fprintf(stderr, "keygate-bench audit-fill: --entries '%s' is not 0..%llu\n", optarg,
                        KG_BENCH_MAX_LOG_ENTRIES);
                return 2;
            }
            break;
        }
        case 'h': return usage(stdout, 0);
        default: return usage(stderr, 2);
        }
    }
    if (optind != argc || db == NULL)
        return usage(stderr, 2);
    kg_audit *a = NULL;
    if (kg_failed(kg_audit_open(&a, db, false))) {
        fprintf(stderr, "keygate-bench audit-fill: %s\n", kg_error_message());
        return 1;
    }
    double t0 = kg_bench_now();
    uint64_t size = 0;
    int rc = kg_bench_audit_fill_to(a, entries, &size);
    kg_audit_free(a);
    if (rc != 0)
        return 1;
    printf("{\"bench\":\"audit-fill\",\"entries\":%" PRIu64 ",\"fill_s\":%.1f}\n", size,
           kg_bench_now() - t0);
    return 0;
}
