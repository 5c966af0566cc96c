/* kms.c - `keygate-bench kms`: key releases per second against a real keygate-kms. N client
 * threads each loop over fresh RA-TLS connections + GetAppKey (chain policy on anvil), the
 * connections presenting --instances distinct boot identities in turn, as VMs booting do; then the
 * same clients, for as long, against a bare mutual TLS 1.3 server (mtls_ceiling.c), the ceiling
 * no KMS can pass on this machine. Prints releases/s, p50/p99 latency, the KMS's CPU per release
 * and peak RSS, the whole machine's CPU per release split into the KMS, anvil, this client and
 * the rest, the JSON-RPC calls anvil served per release, the ceiling's rate and the ratio of the
 * two, as one JSON line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "kms_test_client.h"
#include "mtls_ceiling.h"

extern char **environ;

/* The boots the clients present, one TLS client context each: connection k (over all clients)
 * presents boot k mod n, so n distinct boot identities (instance ids) reach the KMS in turn. */
typedef struct bench_boots {
    kg_kms_client_identity *ids;
    SSL_CTX **ctxs;
    size_t n;
    atomic_size_t next;
} bench_boots;

static SSL_CTX *next_boot(bench_boots *b)
{
    return b->ctxs[atomic_fetch_add(&b->next, 1) % b->n];
}

typedef struct client_arg {
    bench_boots *boots;
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
        kg_result rc = kg_kms_client_call(next_boot(a->boots), "127.0.0.1", a->port, "GetAppKey",
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

/* What N clients got from one server in one timed run. */
typedef struct load_result {
    size_t total, errors;
    double elapsed, p50, p99; /* seconds */
    char first_error[256];
} load_result;

/* N client threads, each looping fresh connection + GetAppKey against 127.0.0.1:port until
 * `seconds` have passed. Returns 0, or -1 when the threads could not be started. */
static int run_load(bench_boots *boots, uint16_t port, unsigned long clients, unsigned long seconds,
                    load_result *out)
{
    int rc = -1;
    *out = (load_result){0};
    client_arg *ca = calloc(clients, sizeof(*ca));
    pthread_t *th = calloc(clients, sizeof(*th));
    unsigned long started = 0;
    if (ca == NULL || th == NULL)
        goto done;
    double start = kg_bench_now();
    for (; started < clients; started++) {
        client_arg *a = &ca[started];
        *a = (client_arg){
            .boots = boots, .port = port, .deadline = start + (double)seconds, .cap = 200000};
        a->lat = malloc(a->cap * sizeof(double));
        if (a->lat == NULL || pthread_create(&th[started], NULL, client_main, a) != 0)
            break;
    }
    for (unsigned long i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        out->total += ca[i].n;
        out->errors += ca[i].errors;
        if (ca[i].errors && out->first_error[0] == 0)
            memcpy(out->first_error, ca[i].first_error, sizeof(out->first_error));
    }
    out->elapsed = kg_bench_now() - start;
    if (started < clients)
        goto done;
    double *all = malloc((out->total ? out->total : 1) * sizeof(double));
    if (all == NULL)
        goto done;
    size_t k = 0;
    for (unsigned long i = 0; i < clients; i++)
        for (size_t j = 0; j < ca[i].n; j++)
            all[k++] = ca[i].lat[j];
    qsort(all, out->total, sizeof(double), cmp_double);
    out->p50 = out->total ? all[out->total / 2] : 0;
    out->p99 = out->total ? all[(out->total * 99) / 100] : 0;
    free(all);
    rc = 0;
done:
    if (ca != NULL)
        for (unsigned long i = 0; i < clients; i++)
            free(ca[i].lat);
    free(ca);
    free(th);
    return rc;
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

/* CPU seconds (user + system) of this process so far, every thread: the bench client. */
static double self_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds the whole machine has been busy so far, over all cores: /proc/stat's first line,
 * user + nice + system + irq + softirq (idle, iowait and steal are not work done here; guest
 * time is inside user). */
static double machine_cpu_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    int got = f != NULL ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys,
                                 &idle, &iowait, &irq, &softirq)
                        : 0;
    if (f != NULL)
        fclose(f);
    if (got != 7)
        return 0;
    return (double)(user + nice + sys + irq + softirq) / (double)sysconf(_SC_CLK_TCK);
}

/* JSON-RPC calls anvil served, by method: anvil writes each method's name on a line of its own
 * (kms_env.sh's anvil_log), so the lines appended during the load are the calls it served. */
#define KG_BENCH_MAX_METHODS 16u
typedef struct chain_calls {
    size_t n;
    struct {
        char name[48];
        unsigned long count;
    } m[KG_BENCH_MAX_METHODS];
} chain_calls;

static long file_size(const char *path)
{
    struct stat st;
    return path != NULL && stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Whether line (newline stripped) is a JSON-RPC method name: "<namespace>_<name>". */
static bool is_method_line(const char *line)
{
    const char *us = strchr(line, '_');
    if (us == NULL || us == line || us[1] == 0 || strlen(line) >= 48)
        return false;
    for (const char *p = line; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

/* Counts the method lines of log from byte `from` on into *out. */
static void count_chain_calls(chain_calls *out, const char *log, long from)
{
    *out = (chain_calls){0};
    FILE *f = log != NULL && from >= 0 ? fopen(log, "r") : NULL;
    if (f == NULL || fseek(f, from, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        return;
    }
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = 0;
        if (!is_method_line(line))
            continue;
        size_t i = 0;
        while (i < out->n && strcmp(out->m[i].name, line) != 0)
            i++;
        if (i == out->n) {
            if (out->n == KG_BENCH_MAX_METHODS)
                continue;
            snprintf(out->m[out->n++].name, sizeof(out->m[0].name), "%s", line);
        }
        out->m[i].count++;
    }
    fclose(f);
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

/* Runs callgrind_control with one action on pid; 0 when it succeeded. */
static int callgrind_control(const char *action, pid_t pid)
{
    char pidbuf[16];
    snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
    char *args[] = {"callgrind_control", (char *)action, pidbuf, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t child;
    int st = -1;
    if (posix_spawnp(&child, "callgrind_control", &fa, NULL, args, environ) == 0)
        waitpid(child, &st, 0);
    posix_spawn_file_actions_destroy(&fa);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Instructions (Ir) of the load's dump (part 1, one file per thread: --separate-threads),
 * split into the log's checkpoint signer (a thread that wakes every 100 ms whatever the load:
 * not a cost per release) and every other thread. Returns false when no dump was found. */
static bool callgrind_totals(const char *dir, unsigned long long *release_ir,
                             unsigned long long *signer_ir)
{
    *release_ir = *signer_ir = 0;
    bool found = false;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "kms.callgrind.1-", 16) != 0)
            continue;
        char path[PATH_MAX], line[512];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        unsigned long long total = 0;
        bool signer = false;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (strstr(line, "signer_main") != NULL)
                signer = true;
            if (sscanf(line, "totals: %llu", &total) == 1)
                found = true;
        }
        if (f != NULL)
            fclose(f);
        *(signer ? signer_ir : release_ir) += total;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* --callgrind: instructions the KMS executes per release, counted by callgrind from the first
 * to the last request of the load (the warm-up excluded), its whole process (every thread). */
static int callgrind_run(bench_boots *boots, uint16_t port, pid_t kms_pid, unsigned long clients,
                         unsigned long seconds, const char *dir)
{
    load_result r;
    if (callgrind_control("--instr=on", kms_pid) != 0 ||
        callgrind_control("--zero", kms_pid) != 0) {
        fprintf(stderr, "keygate-bench kms: callgrind_control could not reach the KMS\n");
        return 1;
    }
    int lr = run_load(boots, port, clients, seconds, &r);
    if (callgrind_control("--dump=load", kms_pid) != 0 || lr != 0) {
        fprintf(stderr, "keygate-bench kms: the callgrind run failed\n");
        return 1;
    }
    if (r.errors)
        fprintf(stderr, "keygate-bench kms: %zu errors; the first: %s\n", r.errors, r.first_error);
    unsigned long long ir, signer_ir;
    if (!callgrind_totals(dir, &ir, &signer_ir) || r.total == 0) {
        fprintf(stderr, "keygate-bench kms: no release or no callgrind dump (%s)\n",
                r.errors ? r.first_error : dir);
        return 1;
    }
    printf("{\"bench\":\"kms\",\"mode\":\"callgrind\",\"clients\":%lu,\"seconds\":%.2f,"
           "\"releases\":%zu,\"errors\":%zu,\"kms_instructions_per_release\":%.0f,"
           "\"log_signer_instructions_per_s\":%.0f,\"profile_dir\":\"%s\"}\n",
           clients, r.elapsed, r.total, r.errors, (double)ir / (double)r.total,
           (double)signer_ir / r.elapsed, dir);
    return 0;
}

/* How one environment is set up and loaded. */
typedef struct run_opts {
    unsigned long clients, seconds, workers, rpc_nodes;
    unsigned long apps, hashes, log_entries; /* kms_env.sh's size: 0, 1, 0 is the base */
    unsigned long head_txs;                  /* transactions in the head block the KMS reads */
    unsigned long instances;                 /* distinct boot identities the clients present */
    const char *env_file, *cg_dir;
    bool ceiling; /* also measure the mutual TLS ceiling */
} run_opts;

/* What one run measured. CPU figures are seconds over the load (or the ceiling's load). */
typedef struct run_figures {
    load_result kms, bare;
    double kms_cpu, bare_cpu, setup_s;
    double boots_s;          /* making the boot identities */
    unsigned long instances; /* how many there were */
    double anvil_cpu;        /* -1: anvil's pid unknown (an --env line without it) */
    double client_cpu;       /* this process: the client threads */
    double machine_cpu;      /* every process and the kernel, all cores */
    double bare_client_cpu, bare_machine_cpu;
    chain_calls calls; /* JSON-RPC calls anvil served during the load */
    unsigned long bare_served;
    long rss_kb;
    double db_mb; /* the audit database (with its WAL) after the load */
    long long apps, hashes, log_entries;
    double load1; /* the load average when the run ended */
} run_figures;

/* What one thread making boot identities needs: it makes every boot i with i % stride == first. */
typedef struct boots_job {
    bench_boots *b;
    size_t first, stride;
    const char *sim_dir;
    const uint8_t *app_id, *compose, *inst;
    bool failed;
    char error[256];
} boots_job;

static void *boots_main(void *p)
{
    boots_job *j = p;
    for (size_t i = j->first; i < j->b->n && !j->failed; i += j->stride) {
        char vm[32];
        uint8_t id[20];
        memcpy(id, j->inst, sizeof(id));
        if (i > 0) {
            snprintf(vm, sizeof(vm), "bench-app-%zu", i);
            for (size_t k = 0; k < 4; k++)
                id[19 - k] = (uint8_t)(i >> (8 * k));
        } else {
            snprintf(vm, sizeof(vm), "bench-app");
        }
        kg_result rc = kg_kms_client_identity_new(&j->b->ids[i], j->sim_dir, vm, j->app_id,
                                                  j->compose, id, KG_KMS_CERT_RATLS);
        if (kg_ok(rc))
            rc = kg_kms_client_ctx_new(&j->b->ctxs[i], &j->b->ids[i]);
        if (kg_failed(rc)) {
            j->failed = true;
            snprintf(j->error, sizeof(j->error), "boot %zu: %s", i, kg_error_message());
        }
    }
    return NULL;
}

/* n boot identities of the bench app, each a simulated VM of its own booted with the
 * environment's app and compose hash: the first with the environment's instance id, boot i with
 * that id's last four bytes replaced by i (big-endian), so each has its own event log, quote,
 * key and certificate. Made by several threads: a simulated VM's registers are written durably
 * (an fsync per measurement), so making them one after the other waits on the disk. */
#define KG_BENCH_BOOT_THREADS 16u
static int boots_new(bench_boots *b, size_t n, const char *sim_dir, const uint8_t app_id[20],
                     const uint8_t compose[32], const uint8_t inst[20])
{
    b->ids = calloc(n, sizeof(*b->ids));
    b->ctxs = calloc(n, sizeof(*b->ctxs));
    if (b->ids == NULL || b->ctxs == NULL) {
        fprintf(stderr, "keygate-bench kms: out of memory\n");
        return -1;
    }
    b->n = n;
    boots_job jobs[KG_BENCH_BOOT_THREADS];
    pthread_t th[KG_BENCH_BOOT_THREADS];
    bool started[KG_BENCH_BOOT_THREADS] = {false};
    size_t t = n < KG_BENCH_BOOT_THREADS ? n : KG_BENCH_BOOT_THREADS;
    for (size_t i = 0; i < t; i++) {
        jobs[i] = (boots_job){.b = b,
                              .first = i,
                              .stride = t,
                              .sim_dir = sim_dir,
                              .app_id = app_id,
                              .compose = compose,
                              .inst = inst};
        started[i] = pthread_create(&th[i], NULL, boots_main, &jobs[i]) == 0;
    }
    int rc = 0;
    for (size_t i = 0; i < t; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            boots_main(&jobs[i]); /* no thread to be had: make its share here */
        if (jobs[i].failed && rc == 0) {
            fprintf(stderr, "keygate-bench kms: %s\n", jobs[i].error);
            rc = -1;
        }
    }
    return rc;
}

static void boots_free(bench_boots *b)
{
    for (size_t i = 0; i < b->n; i++) {
        SSL_CTX_free(b->ctxs != NULL ? b->ctxs[i] : NULL);
        kg_kms_client_identity_free(&b->ids[i]);
    }
    free(b->ids);
    free(b->ctxs);
    memset(b, 0, sizeof(*b));
}

static double file_mb(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0.0;
}

/* Starts the environment (or reads --env), warms up, runs the load (and the ceiling), tears
 * down. Returns the exit status; 0 with *f filled, or after the callgrind run printed. */
static int one_run(const run_opts *o, run_figures *f)
{
    char build[PATH_MAX], script[PATH_MAX + 32];
    char line[4096];
    pid_t env_pid = -1;
    FILE *in = NULL;
    *f = (run_figures){0};
    if (o->env_file != NULL) {
        in = fopen(o->env_file, "r");
    } else {
        if (build_dir(build, sizeof(build)) != 0)
            return 1;
        snprintf(script, sizeof(script), "%s/kms_env.sh", KG_BENCH_DIR);
        char wbuf[24], nbuf[24], abuf[24], hbuf[24], lbuf[24], tbuf[24];
        snprintf(wbuf, sizeof(wbuf), "%lu", o->workers);
        snprintf(nbuf, sizeof(nbuf), "%lu", o->rpc_nodes);
        snprintf(abuf, sizeof(abuf), "%lu", o->apps);
        snprintf(hbuf, sizeof(hbuf), "%lu", o->hashes);
        snprintf(lbuf, sizeof(lbuf), "%lu", o->log_entries);
        snprintf(tbuf, sizeof(tbuf), "%lu", o->head_txs);
        int pipefd[2];
        if (pipe(pipefd) != 0)
            return 1;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&fa, pipefd[0]);
        char *args[] = {script, build, wbuf, nbuf, abuf, hbuf, lbuf, tbuf, NULL};
        int sr = posix_spawn(&env_pid, script, &fa, NULL, args, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        if (sr != 0) {
            close(pipefd[0]);
            fprintf(stderr, "keygate-bench kms: cannot run %s\n", script);
            return 1;
        }
        in = fdopen(pipefd[0], "r");
    }
    int status_code = 1;
    json_t *env = NULL;
    bench_boots boots = {0};
    if (in == NULL || fgets(line, sizeof(line), in) == NULL ||
        (env = json_loads(line, 0, NULL)) == NULL) {
        fprintf(stderr, "keygate-bench kms: environment did not start\n");
        goto done;
    }
    uint16_t port = (uint16_t)json_integer_value(json_object_get(env, "kms_port"));
    pid_t kms_pid = (pid_t)json_integer_value(json_object_get(env, "kms_pid"));
    pid_t anvil_pid = (pid_t)json_integer_value(json_object_get(env, "anvil_pid"));
    const char *anvil_log = json_string_value(json_object_get(env, "anvil_log"));
    const char *state_dir = json_string_value(json_object_get(env, "state_dir"));
    f->setup_s = json_number_value(json_object_get(env, "setup_s"));
    f->apps = json_integer_value(json_object_get(env, "apps"));
    f->hashes = json_integer_value(json_object_get(env, "compose_hashes"));
    f->log_entries = json_integer_value(json_object_get(env, "log_entries"));
    uint8_t app_id[20], compose[32], inst[20];
    if (kg_failed(
            kg_hex_decode_exact(app_id, 20, json_string_value(json_object_get(env, "app_id")))) ||
        kg_failed(kg_hex_decode_exact(compose, 32,
                                      json_string_value(json_object_get(env, "compose_hash")))) ||
        kg_failed(kg_hex_decode_exact(inst, 20,
                                      json_string_value(json_object_get(env, "instance_id"))))) {
        fprintf(stderr, "keygate-bench kms: %s\n", kg_error_message());
        goto done;
    }
    double t_boots = kg_bench_now();
    if (boots_new(&boots, o->instances, json_string_value(json_object_get(env, "sim_dir")), app_id,
                  compose, inst) != 0)
        goto done;
    f->boots_s = kg_bench_now() - t_boots;
    f->instances = boots.n;
    /* Warm-up: one release proves the setup and fills the collateral caches. */
    kg_buf resp;
    kg_buf_init(&resp, 1u << 20);
    int st = 0;
    kg_result wr =
        kg_kms_client_call(boots.ctxs[0], "127.0.0.1", port, "GetAppKey", "{}", &st, &resp);
    if (kg_failed(wr) || st != 200) {
        fprintf(stderr, "keygate-bench kms: warm-up failed: %s\n",
                kg_failed(wr) ? kg_error_message() : (const char *)resp.data);
        kg_buf_free(&resp);
        goto done;
    }
    kg_buf_free(&resp);

    if (o->cg_dir != NULL) {
        status_code = callgrind_run(&boots, port, kms_pid, o->clients, o->seconds, o->cg_dir);
        goto done;
    }

    long log0 = file_size(anvil_log);
    double anvil0 = anvil_pid > 0 ? cpu_seconds(anvil_pid) : 0;
    double self0 = self_cpu_seconds(), machine0 = machine_cpu_seconds();
    double cpu0 = cpu_seconds(kms_pid);
    if (run_load(&boots, port, o->clients, o->seconds, &f->kms) != 0)
        goto done;
    f->kms_cpu = cpu_seconds(kms_pid) - cpu0;
    f->machine_cpu = machine_cpu_seconds() - machine0;
    f->client_cpu = self_cpu_seconds() - self0;
    f->anvil_cpu = anvil_pid > 0 ? cpu_seconds(anvil_pid) - anvil0 : -1;
    count_chain_calls(&f->calls, anvil_log, log0);
    f->rss_kb = vm_hwm_kb(kms_pid);
    if (state_dir != NULL)
        f->db_mb = file_mb(state_dir, "audit.db") + file_mb(state_dir, "audit.db-wal");

    if (o->ceiling) {
        /* The ceiling, in the same run on the same machine: the same clients and certificates
         * against a server that only does the mutual TLS handshake and a trivial HTTP exchange.
         * The client's own RA-TLS certificate and key serve as its server certificate: a P-256
         * key and a certificate carrying a quote and an event log, as the KMS's does. */
        kg_bench_mtls_server *ceil_srv = NULL;
        if (kg_bench_mtls_server_start(&ceil_srv, boots.ids[0].cert, kg_p256_evp(boots.ids[0].key),
                                       o->workers) != 0) {
            fprintf(stderr, "keygate-bench kms: the mutual TLS ceiling server did not start\n");
            goto done;
        }
        double bself0 = self_cpu_seconds(), bmachine0 = machine_cpu_seconds();
        int lr =
            run_load(&boots, kg_bench_mtls_server_port(ceil_srv), o->clients, o->seconds, &f->bare);
        kg_bench_mtls_server_stop(ceil_srv, &f->bare_served, &f->bare_cpu);
        if (lr != 0)
            goto done;
        /* the server runs in this process: its workers' own CPU is taken out */
        f->bare_client_cpu = self_cpu_seconds() - bself0 - f->bare_cpu;
        f->bare_machine_cpu = machine_cpu_seconds() - bmachine0;
    }
    f->load1 = load1();
    if (f->kms.errors)
        fprintf(stderr, "keygate-bench kms: first error: %s\n", f->kms.first_error);
    if (f->bare.errors)
        fprintf(stderr, "keygate-bench kms: first error against the ceiling: %s\n",
                f->bare.first_error);
    status_code = 0;
done:
    boots_free(&boots);
    json_decref(env);
    if (env_pid > 0)
        kill(env_pid, SIGTERM);
    if (in != NULL)
        fclose(in);
    if (env_pid > 0)
        waitpid(env_pid, NULL, 0);
    return status_code;
}

static double rate_of(const load_result *r)
{
    return r->elapsed > 0 ? (double)r->total / r->elapsed : 0.0;
}

static double ceiling_ratio(const run_figures *f)
{
    double bare = rate_of(&f->bare);
    return bare > 0 ? rate_of(&f->kms) / bare : 0.0;
}

/* ms of CPU per unit, 0 when there were none. */
static double ms_per(double seconds, size_t n)
{
    return n ? seconds * 1e3 / (double)n : 0.0;
}

/* The machine's CPU per release, split (members with a leading comma): the KMS, anvil, this
 * client, the rest (the kernel's softirq work not charged to a process, the PCCS, other work on
 * the machine) and the total; the share of all cores busy; the JSON-RPC calls anvil served per
 * release by method; and the same client and machine figures per ceiling handshake. */
static void print_split(const run_figures *f)
{
    size_t n = f->kms.total;
    double anvil = f->anvil_cpu > 0 ? f->anvil_cpu : 0.0;
    double other = f->machine_cpu - f->kms_cpu - anvil - f->client_cpu;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf(",\"instances\":%lu,\"instances_setup_s\":%.2f,\"anvil_cpu_ms_per_release\":",
           f->instances, f->boots_s);
    if (f->anvil_cpu < 0)
        printf("null");
    else
        printf("%.3f", ms_per(f->anvil_cpu, n));
    printf(",\"client_cpu_ms_per_release\":%.3f,\"other_cpu_ms_per_release\":%.3f,"
           "\"machine_cpu_ms_per_release\":%.3f,\"machine_busy\":%.3f,"
           "\"chain_calls_per_release\":{",
           ms_per(f->client_cpu, n), ms_per(other, n), ms_per(f->machine_cpu, n),
           f->kms.elapsed > 0 && cores > 0 ? f->machine_cpu / (f->kms.elapsed * (double)cores)
                                           : 0.0);
    for (size_t i = 0; i < f->calls.n; i++)
        printf("%s\"%s\":%.3f", i ? "," : "", f->calls.m[i].name,
               n ? (double)f->calls.m[i].count / (double)n : 0.0);
    printf("},\"mtls_ceiling_client_cpu_ms_per_handshake\":%.3f,"
           "\"mtls_ceiling_machine_cpu_ms_per_handshake\":%.3f",
           ms_per(f->bare_client_cpu, f->bare.total), ms_per(f->bare_machine_cpu, f->bare.total));
}

/* One size's figures as JSON members (no braces). */
static void print_size(const run_figures *f)
{
    printf("\"apps\":%lld,\"compose_hashes\":%lld,\"log_entries_before\":%lld,\"setup_s\":%.1f,"
           "\"releases\":%zu,\"errors\":%zu,\"releases_per_s\":%.1f,\"p50_ms\":%.2f,"
           "\"p99_ms\":%.2f,\"kms_peak_rss_mb\":%.1f,\"kms_cpu_ms_per_release\":%.2f,"
           "\"audit_db_mb\":%.1f,\"mtls_ceiling_per_s\":%.1f,\"ratio_to_mtls_ceiling\":%.3f,"
           "\"load_avg_1m\":%.2f",
           f->apps, f->hashes, f->log_entries, f->setup_s, f->kms.total, f->kms.errors,
           rate_of(&f->kms), f->kms.p50 * 1e3, f->kms.p99 * 1e3, (double)f->rss_kb / 1024.0,
           f->kms.total ? f->kms_cpu * 1e3 / (double)f->kms.total : 0.0, f->db_mb,
           rate_of(&f->bare), ceiling_ratio(f), f->load1);
    print_split(f);
}

static int parse_count(const char *arg, unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    *out = strtoul(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || *out > max) {
        fprintf(stderr, "keygate-bench kms: bad value '%s' (0..%lu)\n", arg, max);
        return -1;
    }
    return 0;
}

int kg_bench_kms(int argc, char **argv)
{
    run_opts o = {.clients = 32,
                  .seconds = 10,
                  .workers = 8,
                  .rpc_nodes = 1,
                  .hashes = 1,
                  .head_txs = 500,
                  .instances = 256};
    bool scaled = false;
    static const struct option opts[] = {{"env", required_argument, NULL, 'e'},
                                         {"callgrind", required_argument, NULL, 'g'},
                                         {"clients", required_argument, NULL, 'c'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"rpc-nodes", required_argument, NULL, 'r'},
                                         {"apps", required_argument, NULL, 'A'},
                                         {"hashes", required_argument, NULL, 'H'},
                                         {"log-entries", required_argument, NULL, 'L'},
                                         {"head-txs", required_argument, NULL, 'T'},
                                         {"instances", required_argument, NULL, 'I'},
                                         {"scale", no_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'e' || c == 'g') {
            *(c == 'e' ? &o.env_file : &o.cg_dir) = optarg;
            continue;
        }
        if (c == 'T') {
            /* one block: kms_scale.sh's batch of 1,000 is what a block holds here */
            if (parse_count(optarg, 1000ul, &o.head_txs) != 0)
                return 2;
            continue;
        }
        if (c == 'S') {
            scaled = true;
            o.apps = 10000, o.hashes = 1000, o.log_entries = 1000000;
            continue;
        }
        if (c == 'A' || c == 'H' || c == 'L') {
            /* sizes: apps and hashes are transactions (a batch each 1,000), entries are rows */
            unsigned long *dst = c == 'A' ? &o.apps : c == 'H' ? &o.hashes : &o.log_entries;
            if (parse_count(optarg, c == 'L' ? 100000000ul : 1000000ul, dst) != 0 ||
                (c == 'H' && *dst == 0)) {
                if (c == 'H' && *dst == 0)
                    fprintf(stderr, "keygate-bench kms: --hashes must be at least 1\n");
                return 2;
            }
            scaled = true;
            continue;
        }
        unsigned long *dst = c == 'c'   ? &o.clients
                             : c == 'd' ? &o.seconds
                             : c == 'w' ? &o.workers
                             : c == 'r' ? &o.rpc_nodes
                             : c == 'I' ? &o.instances
                                        : NULL;
        if (dst == NULL) {
            fprintf(
                c == 'h' ? stdout : stderr,
                "Usage: keygate-bench kms [--clients N (32)] [--duration S (10)] "
                "[--workers W (8, KMS worker threads)] [--rpc-nodes 1|2 (chain nodes, "
                "quorum of all)] [--env FILE] [--callgrind DIR]\n"
                "       [--head-txs N (500)] [--instances N (256)] [--scale | --apps N --hashes N "
                "--log-entries N]\n"
                "Starts anvil + contracts, the simulated TDX platform and PCCS, and a "
                "keygate-kms (bench/kms_env.sh),\nthen N clients each loop: fresh RA-TLS "
                "connection + GetAppKey; then the same load against a bare mutual TLS 1.3 server "
                "with the same\n"
                "certificate types (the ceiling). Prints one JSON line.\n--env FILE: use a running "
                "environment (the JSON line kms_env.sh printed) instead.\n--callgrind DIR: run the "
                "KMS "
                "under valgrind's callgrind and count its instructions per release over the "
                "load\n(fewer clients: it runs ~50x slower); the profile is kept as "
                "DIR/kms.callgrind* for callgrind_annotate.\n"
                "--head-txs N: transactions in the head block the KMS reads per decision "
                "(0..1000; 0: an empty block).\n"
                "--instances N: distinct boot identities (instance ids, each its own simulated VM, "
                "quote and certificate)\nthe connections present in turn (1..4096).\n"
                "--scale: the cost as work grows: measures a base environment, then one with "
                "10,000 more registered apps,\n1,000 compose hashes on the bench app and "
                "1,000,000 decisions in the KMS's log before it starts\n(--apps, --hashes, "
                "--log-entries set these sizes), and prints both rates and their ratio\n(with "
                "--callgrind: the grown environment's instructions per release only).\n");
            return c == 'h' ? 0 : 2;
        }
        if (parse_count(optarg, 4096, dst) != 0)
            return 2;
        if (*dst == 0) {
            fprintf(stderr, "keygate-bench kms: '%s' must be at least 1\n", argv[optind - 1]);
            return 2;
        }
    }
    if (scaled && o.env_file != NULL) {
        fprintf(stderr, "keygate-bench kms: --scale and the sizes start their own environments "
                        "(not with --env)\n");
        return 2;
    }
    if (o.cg_dir != NULL) {
        /* Instrumentation off until the load starts: startup and the warm-up run at near native
         * speed and are not counted. */
        char wrap[PATH_MAX + 128];
        snprintf(wrap, sizeof(wrap),
                 "valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes "
                 "--callgrind-out-file=%s/"
                 "kms.callgrind",
                 o.cg_dir);
        if (strchr(o.cg_dir, ' ') != NULL || setenv("KG_KMS_WRAPPER", wrap, 1) != 0) {
            fprintf(stderr, "keygate-bench kms: bad --callgrind directory '%s'\n", o.cg_dir);
            return 2;
        }
    }

    run_figures base, big;
    if (!scaled || o.cg_dir != NULL) { /* --callgrind with sizes: the grown environment only */
        o.ceiling = true;
        int rc = one_run(&o, &base);
        if (rc != 0 || o.cg_dir != NULL)
            return rc;
        double rate = rate_of(&base.kms), bare_rate = rate_of(&base.bare);
        printf("{\"bench\":\"kms\",\"clients\":%lu,\"kms_workers\":%lu,\"rpc_nodes\":%lu,"
               "\"head_txs\":%lu,\"seconds\":%.2f,"
               "\"releases\":%zu,\"errors\":%zu,\"releases_per_s\":%.1f,\"p50_ms\":%.2f,"
               "\"p99_ms\":%.2f,\"kms_peak_rss_mb\":%.1f,\"kms_cpu_ms_per_release\":%.2f,"
               "\"mtls_ceiling_per_s\":%.1f,\"mtls_ceiling_p99_ms\":%.2f,"
               "\"mtls_ceiling_cpu_ms_per_handshake\":%.2f,\"ratio_to_mtls_ceiling\":%.3f,"
               "\"load_avg_1m\":%.2f",
               o.clients, o.workers, o.env_file ? 0ul : o.rpc_nodes, o.env_file ? 0ul : o.head_txs,
               base.kms.elapsed, base.kms.total, base.kms.errors, rate, base.kms.p50 * 1e3,
               base.kms.p99 * 1e3, (double)base.rss_kb / 1024.0,
               base.kms.total ? base.kms_cpu * 1e3 / (double)base.kms.total : 0.0, bare_rate,
               base.bare.p99 * 1e3,
               base.bare_served ? base.bare_cpu * 1e3 / (double)base.bare_served : 0.0,
               bare_rate > 0 ? rate / bare_rate : 0.0, load1());
        print_split(&base);
        printf("}\n");
        return 0;
    }

    /* The base size first, then the grown one, each with its own ceiling right after its load:
     * this shared machine's load moves between the two, and each rate against its own ceiling
     * compares across that. */
    run_opts b = o;
    b.apps = 0, b.hashes = 1, b.log_entries = 0;
    o.ceiling = b.ceiling = true;
    int rc = one_run(&b, &base);
    if (rc == 0)
        rc = one_run(&o, &big);
    if (rc != 0)
        return rc;
    double base_rate = rate_of(&base.kms), rate = rate_of(&big.kms);
    double base_ratio = ceiling_ratio(&base), ratio = ceiling_ratio(&big);
    printf("{\"bench\":\"kms\",\"mode\":\"scale\",\"clients\":%lu,\"kms_workers\":%lu,"
           "\"rpc_nodes\":%lu,\"head_txs\":%lu,\"seconds\":%lu,\"base\":{",
           o.clients, o.workers, o.rpc_nodes, o.head_txs, o.seconds);
    print_size(&base);
    printf("},\"scaled\":{");
    print_size(&big);
    /* scaled_to_base: the plain rates; ceiling_ratio_scaled_to_base: the same against each
     * run's own mutual TLS ceiling (the figure that survives the machine's load changing) */
    printf("},\"scaled_to_base\":%.3f,\"ceiling_ratio_scaled_to_base\":%.3f}\n",
           base_rate > 0 ? rate / base_rate : 0.0, base_ratio > 0 ? ratio / base_ratio : 0.0);
    return 0;
}
