/* audit_verify.c - keygate-bench audit-verify: how long `keygate audit verify` takes on a decision
 * log of N entries (issue target: 1,000,000 entries in under 60 s on one core).
 *
 * The log is written the way the KMS writes it (audit_fill.c), the log key certified by a root
 * secp256k1 key, and one signed checkpoint over the whole tree. Then the real CLI (the keygate
 * binary next to this one) verifies it: every entry parsed and compared with its row, the tree
 * recomputed, the checkpoint's signature and root, proofs. Its wall time and CPU time
 * (RUSAGE_CHILDREN) are printed beside the ceiling measured in this process: SHA-256 over the same
 * bytes the tree needs (one leaf hash per entry, one node hash per entry), on one core. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit_fill.h"
#include "bench.h"
#include "keygate/audit.h"
#include "keygate/crypto.h"
#include "keygate/hash.h"
#include "keygate/tlog.h"

/* The log key, certified by a fresh root key (as kms/log.c certifies a node's), and a signed
 * checkpoint over everything appended. root_hex receives the root's compressed public key. */
static kg_result sign_log(kg_audit *a, char root_hex[2 * KG_K256_PUB_LEN + 1], uint64_t *size)
{
    uint8_t seed[KG_ED25519_SEED_LEN], pub[KG_ED25519_PUB_LEN], node[32], scalar[32], root[33];
    uint8_t digest[32], cert[KG_K256_RECSIG_LEN];
    char name[64], node_hex[17], pub_hex[65], cert_hex[2 * KG_K256_RECSIG_LEN + 1];
    KG_ENSURE(RAND_bytes(seed, sizeof(seed)) == 1 && RAND_bytes(scalar, sizeof(scalar)) == 1,
              KG_ERR_CRYPTO, "no randomness");
    KG_GUARD(kg_ed25519_public(pub, seed));
    KG_GUARD(kg_sha256(node, pub, sizeof(pub)));
    KG_GUARD(kg_hex_encode(node_hex, sizeof(node_hex), node, 8));
    snprintf(name, sizeof(name), "keygate.kms/%s", node_hex);
    KG_GUARD(kg_k256_public(root, scalar));
    KG_GUARD(kg_log_key_cert_digest(digest, name, pub));
    KG_GUARD(kg_k256_sign_recoverable(cert, scalar, digest));
    KG_GUARD(kg_hex_encode(pub_hex, sizeof(pub_hex), pub, sizeof(pub)));
    KG_GUARD(kg_hex_encode(cert_hex, sizeof(cert_hex), cert, sizeof(cert)));
    KG_GUARD(kg_hex_encode(root_hex, 2 * KG_K256_PUB_LEN + 1, root, sizeof(root)));
    KG_GUARD(kg_audit_put_meta(a, "log_name", name));
    KG_GUARD(kg_audit_put_meta(a, "log_pubkey", pub_hex));
    KG_GUARD(kg_audit_put_meta(a, "log_key_cert", cert_hex));
    kg_buf note;
    kg_buf_init(&note, 4096);
    kg_result rc = kg_audit_checkpoint(a, name, seed, &note, size);
    kg_buf_free(&note);
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(scalar, sizeof(scalar));
    return rc;
}

/* SHA-256 of `n` leaves of `entry_len` bytes and n node hashes, on one core: entries/s. */
static double hash_ceiling(uint64_t n, size_t entry_len)
{
    uint8_t buf[2048], out[32];
    memset(buf, 0x5a, sizeof(buf));
    if (entry_len + 1 > sizeof(buf))
        entry_len = sizeof(buf) - 1;
    double c0 = kg_bench_cpu();
    for (uint64_t i = 0; i < n; i++) {
        buf[0] = (uint8_t)i;
        if (kg_failed(kg_sha256(out, buf, entry_len + 1)) || kg_failed(kg_sha256(out, buf, 65)))
            return 0;
    }
    double cpu = kg_bench_cpu() - c0;
    return cpu > 0 ? (double)n / cpu : 0;
}

/* Runs `keygate audit verify --db DB --root-k256 HEX --no-replay`; wall and CPU seconds. */
static int run_verify(const char *db, const char *root_hex, double *wall, double *cpu)
{
    char self[PATH_MAX], exe[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    snprintf(exe, sizeof(exe), "%s/keygate", self);
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    double t0 = kg_bench_now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execl(exe, exe, "audit", "verify", "--db", db, "--root-k256", root_hex, "--no-replay",
              (char *)NULL);
        fprintf(stderr, "keygate-bench audit-verify: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    *wall = kg_bench_now() - t0;
    getrusage(RUSAGE_CHILDREN, &after);
    *cpu = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
           (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
           (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
           (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int usage(FILE *out, int code)
{
    fprintf(out, "Usage: keygate-bench audit-verify [--entries N (1000000)] [--dir DIR]\n"
                 "Writes a decision log of N entries as the KMS does (in DIR, default a fresh\n"
                 "temporary directory, removed after) and times `keygate audit verify` on it.\n");
    return code;
}

int kg_bench_audit_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"entries", required_argument, NULL, 'n'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned long long entries = 1000000;
    const char *dir_arg = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end = NULL;
            errno = 0;
            entries = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' || entries == 0 ||
                entries > KG_BENCH_MAX_LOG_ENTRIES) {
                fprintf(stderr, "keygate-bench audit-verify: --entries '%s' is not 1..%llu\n",
                        optarg, KG_BENCH_MAX_LOG_ENTRIES);
                return 2;
            }
            break;
        }
        case 'd': dir_arg = optarg; break;
        case 'h': return usage(stdout, 0);
        default: return usage(stderr, 2);
        }
    }
    if (optind != argc)
        return usage(stderr, 2);

    char tmp[] = "/tmp/kg-bench-audit.XXXXXX", db[PATH_MAX];
    const char *dir = dir_arg;
    if (dir == NULL && (dir = mkdtemp(tmp)) == NULL) {
        perror("keygate-bench audit-verify: mkdtemp");
        return 1;
    }
    snprintf(db, sizeof(db), "%s/audit.db", dir);
    kg_audit *a = NULL;
    int ret = 1;
    if (kg_failed(kg_audit_open(&a, db, false))) {
        fprintf(stderr, "keygate-bench audit-verify: %s\n", kg_error_message());
        goto out;
    }
    /* fill what is missing (a kept --dir is topped up, not rewritten) */
    double t0 = kg_bench_now();
    uint64_t filled = 0;
    if (kg_bench_audit_fill_to(a, entries, &filled) != 0)
        goto out;
    double fill_s = kg_bench_now() - t0;
    char root_hex[2 * KG_K256_PUB_LEN + 1];
    uint64_t size = 0;
    if (kg_failed(sign_log(a, root_hex, &size))) {
        fprintf(stderr, "keygate-bench audit-verify: %s\n", kg_error_message());
        goto out;
    }
    kg_buf e;
    kg_buf_init(&e, 1 << 16);
    size_t entry_len = 0;
    if (kg_ok(kg_audit_log_entry(a, 0, &e, NULL)))
        entry_len = e.len;
    kg_buf_free(&e);
    kg_audit_free(a);
    a = NULL;

    double wall = 0, cpu = 0;
    int rc = run_verify(db, root_hex, &wall, &cpu);
    if (rc != 0) {
        fprintf(stderr, "keygate-bench audit-verify: keygate audit verify exited %d\n", rc);
        goto out;
    }
    double ceiling = hash_ceiling(size < 2000000 ? size : 2000000, entry_len);
    double rate = cpu > 0 ? (double)size / cpu : 0;
    printf("{\"bench\":\"audit-verify\",\"entries\":%" PRIu64 ",\"entry_bytes\":%zu,"
           "\"fill_s\":%.1f,\"verify_wall_s\":%.2f,\"verify_cpu_s\":%.2f,"
           "\"entries_per_cpu_s\":%.0f,\"sha256_ceiling_entries_per_s\":%.0f,"
           "\"fraction_of_ceiling\":%.3f,\"target_s\":60,\"within_target\":%s}\n",
           size, entry_len, fill_s, wall, cpu, rate, ceiling, ceiling > 0 ? rate / ceiling : 0.0,
           cpu < 60.0 ? "true" : "false");
    ret = 0;
out:
    kg_audit_free(a);
    if (dir_arg == NULL) {
        char path[PATH_MAX + 16];
        static const char *const files[] = {"audit.db", "audit.db-wal", "audit.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            (void)unlink(path);
        }
        (void)rmdir(dir);
    }
    return ret;
}
