/* devnet_util.c - the devnet state directory, signing keys, background processes and HTTP for
 * the devnet-aware commands (see devnet.h for the layout and the devnet.json interface). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keygate/fileio.h"
#include "devnet.h"

#ifndef KG_SOURCE_DIR
#define KG_SOURCE_DIR "."
#endif

extern char **environ;

KG_RESULT kg_cli_path(char out[PATH_MAX], const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
    KG_ENSURE(n > 0 && n < PATH_MAX, KG_ERR_TOO_LARGE, "path '%s/%s' is too long", a, b);
    return KG_OK;
}

KG_RESULT kg_cli_mkdirs(const char *path, mode_t mode)
{
    char p[PATH_MAX];
    size_t n = strlen(path);
    KG_ENSURE(n > 0 && n < sizeof(p), KG_ERR_USAGE, "bad directory path '%s'", path);
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST)
            KG_BAIL(KG_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat st;
    KG_ENSURE(stat(path, &st) == 0 && S_ISDIR(st.st_mode), KG_ERR_IO, "'%s' is not a directory",
              path);
    return KG_OK;
}

KG_RESULT kg_devnet_dir(char out[PATH_MAX], const char *state)
{
    const char *d = state != NULL ? state : KG_DEVNET_DEFAULT_DIR;
    KG_ENSURE(d[0] != '\0', KG_ERR_USAGE, "--state must not be empty");
    if (d[0] == '/') {
        KG_ENSURE(strlen(d) < PATH_MAX, KG_ERR_TOO_LARGE, "--state path too long");
        memcpy(out, d, strlen(d) + 1);
    } else {
        char cwd[PATH_MAX];
        KG_ENSURE(getcwd(cwd, sizeof(cwd)) != NULL, KG_ERR_IO, "getcwd: %s", strerror(errno));
        KG_GUARD(kg_cli_path(out, cwd, d));
    }
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return KG_OK;
}

KG_RESULT kg_cli_read_file(kg_buf *out, const char *path, size_t max)
{
    KG_GUARD(kg_file_read(out, path, max));
    return kg_buf_terminate(out);
}

KG_RESULT kg_cli_read_cert_der(kg_buf *der, const char *path, size_t max)
{
    kg_buf raw;
    kg_buf_init(&raw, max + 1);
    kg_buf_init(der, max);
    kg_result rc = KG_ERROR;
    BIO *bio = NULL;
    X509 *x = NULL;
    uint8_t *p = NULL;
    KG_GUARD_CTX_C(kg_cli_read_file(&raw, path, max), "certificate");
    if (raw.len < 10 || memcmp(raw.data, "-----BEGIN", 10) != 0) {
        KG_GUARD_C(kg_buf_append(der, raw.data, raw.len)); /* DER: its reader judges it */
    } else {
        bio = BIO_new_mem_buf(raw.data, (int)raw.len);
        x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        int n = x != NULL ? i2d_X509(x, &p) : -1;
        KG_ENSURE_OSSL_C(n > 0, KG_ERR_INPUT, "'%s' is not a PEM certificate", path);
        KG_GUARD_C(kg_buf_append(der, p, (size_t)n));
    }
    rc = KG_OK;
cleanup:
    OPENSSL_free(p);
    X509_free(x);
    BIO_free(bio);
    kg_buf_free(&raw);
    if (kg_failed(rc))
        kg_buf_free(der);
    return rc;
}

KG_RESULT kg_cli_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    return kg_file_write_atomic(path, data, len, (unsigned)mode);
}

KG_RESULT kg_devnet_load(json_t **out, const char *dir)
{
    char path[PATH_MAX];
    kg_buf text;
    *out = NULL;
    KG_GUARD(kg_cli_path(path, dir, KG_DEVNET_FILE));
    kg_buf_init(&text, KG_DEVNET_MAX_FILE + 1);
    kg_result rc = kg_cli_read_file(&text, path, KG_DEVNET_MAX_FILE);
    if (kg_failed(rc)) {
        kg_buf_free(&text);
        if (kg_error_code() == KG_ERR_NOT_FOUND)
            KG_BAIL(KG_ERR_NOT_FOUND,
                    "no devnet in '%s' (%s missing): run 'keygate devnet up --state %s' or give "
                    "--rpc-url/--kms-contract",
                    dir, KG_DEVNET_FILE, dir);
        return kg_error_context("devnet state");
    }
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
    kg_buf_free(&text);
    KG_ENSURE(doc != NULL && json_is_object(doc), KG_ERR_INPUT, "'%s' is not a JSON object: %s",
              path, doc == NULL ? jerr.text : "wrong type");
    *out = doc;
    return KG_OK;
}

KG_RESULT kg_devnet_save(const char *dir, const json_t *doc)
{
    char path[PATH_MAX];
    KG_GUARD(kg_cli_path(path, dir, KG_DEVNET_FILE));
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    KG_ENSURE(text != NULL, KG_ERR_NOMEM, "devnet.json: out of memory");
    size_t n = strlen(text);
    kg_result rc = kg_cli_write_file(path, text, n, 0600);
    kg_memzero(text, n); /* holds the devnet key */
    free(text);
    return rc;
}

const char *kg_devnet_str(const json_t *doc, const char *key)
{
    return doc != NULL ? json_string_value(json_object_get(doc, key)) : NULL;
}

KG_RESULT kg_cli_bin_dir(char out[PATH_MAX])
{
    ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
    KG_ENSURE(n > 0, KG_ERR_IO, "cannot find this program's path: %s", strerror(errno));
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    KG_ENSURE(slash != NULL, KG_ERR_INTERNAL, "program path '%s' has no directory", out);
    *slash = '\0';
    return KG_OK;
}

KG_RESULT kg_cli_source_dir(char out[PATH_MAX])
{
    const char *home = getenv("KEYGATE_HOME");
    const char *d = home != NULL && home[0] != '\0' ? home : KG_SOURCE_DIR;
    KG_ENSURE(strlen(d) < PATH_MAX, KG_ERR_TOO_LARGE, "KEYGATE_HOME too long");
    memcpy(out, d, strlen(d) + 1);
    return KG_OK;
}

/* Parses "0x" + 64 hex digits (surrounding whitespace allowed) into key; never quotes it. */
static kg_result parse_key_text(uint8_t key[32], const char *text, size_t len, const char *what)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    size_t got = 0;
    if (kg_failed(kg_hex_decode(key, 32, &got, text, len)) || got != 32) {
        kg_memzero(key, 32);
        KG_BAIL(KG_ERR_INPUT, "%s is not a 32-byte hex private key", what);
    }
    return KG_OK;
}

/* Whether a --private-key-file / --signer-key-file argument is a key rather than a path
 * (64 hex digits, with or without 0x, and no such file): it must then not be echoed. */
static bool looks_like_key(const char *arg)
{
    const char *h = (arg[0] == '0' && (arg[1] == 'x' || arg[1] == 'X')) ? arg + 2 : arg;
    if (strlen(h) != 64 || strspn(h, "0123456789abcdefABCDEF") != 64)
        return false;
    struct stat st;
    return stat(arg, &st) != 0;
}

KG_RESULT kg_cli_signing_key(uint8_t key[32], const char *key_file, const json_t *state)
{
    if (key_file != NULL) {
        KG_ENSURE(!looks_like_key(key_file), KG_ERR_USAGE,
                  "the key file option was given what looks like a private key, not a file: it "
                  "was not used nor printed; put the key in a file with mode 0600 and give its "
                  "path (or set $%s)",
                  KG_CLI_KEY_ENV);
        kg_buf text;
        kg_buf_init(&text, 1024);
        kg_result rc = kg_file_read_secret(&text, key_file, 512);
        if (kg_ok(rc))
            rc = parse_key_text(key, (const char *)text.data, text.len, "key file");
        kg_buf_free(&text);
        if (kg_failed(rc))
            return kg_error_context("'%s'", key_file);
        return KG_OK;
    }
    const char *env = getenv(KG_CLI_KEY_ENV);
    if (env != NULL && env[0] != '\0')
        return parse_key_text(key, env, strlen(env), "$" KG_CLI_KEY_ENV);
    const char *dev = kg_devnet_str(state, "private_key");
    KG_ENSURE(dev != NULL, KG_ERR_USAGE,
              "no signing key: give --private-key-file FILE or set $%s (the devnet key is used "
              "only with a devnet state directory)",
              KG_CLI_KEY_ENV);
    return parse_key_text(key, dev, strlen(dev), "devnet.json private_key");
}

/* ---- processes ----------------------------------------------------------------------------- */

/* A small file read whole into text (NUL-terminated); false when it cannot be (gone, too long). */
static bool read_small(char *text, size_t n, const char *path)
{
    kg_buf b;
    kg_buf_init(&b, n);
    bool ok = kg_ok(kg_file_read(&b, path, n - 1)) && kg_ok(kg_buf_terminate(&b));
    if (ok)
        memcpy(text, b.data, b.len + 1);
    kg_buf_free(&b);
    kg_error_clear();
    return ok;
}

/* /proc/PID/stat read into buf, at its last ')' (the end of field 2, the command name, which may
 * itself contain spaces and ')'), or NULL when the process is gone. */
static const char *proc_stat_fields(char *buf, size_t n, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    return read_small(buf, n, path) ? strrchr(buf, ')') : NULL;
}

/* Field 22 of /proc/PID/stat (process start time in clock ticks since boot); 0 if unknown. */
static unsigned long long proc_start_time(pid_t pid)
{
    char buf[1024];
    const char *p = proc_stat_fields(buf, sizeof(buf), pid);
    if (p == NULL)
        return 0;
    p++;
    for (int field = 2; field < 22 && *p != '\0'; p++)
        if (*p == ' ')
            field++;
    /* p now points just past the space before field 22 */
    char *end = NULL;
    unsigned long long t = strtoull(p, &end, 10);
    return end != p ? t : 0;
}

/* A zombie (exited, not yet reaped) counts as gone. */
static bool proc_is_zombie(pid_t pid)
{
    char buf[1024];
    const char *p = proc_stat_fields(buf, sizeof(buf), pid);
    return p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

/* pipe() with both ends close-on-exec (pipe2 is not POSIX). */
static int cloexec_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static kg_result pid_path(char out[PATH_MAX], const char *dir, const char *name)
{
    char run[PATH_MAX], file[128];
    KG_GUARD(kg_cli_path(run, dir, "run"));
    snprintf(file, sizeof(file), "%s.pid", name);
    return kg_cli_path(out, run, file);
}

KG_RESULT kg_proc_spawn(kg_proc *out, const char *dir, const char *name, char *const argv[],
                        const char *log_path)
{
    char run[PATH_MAX], pidfile[PATH_MAX];
    KG_GUARD(kg_cli_path(run, dir, "run"));
    KG_GUARD(kg_cli_mkdirs(run, 0700));
    KG_GUARD(pid_path(pidfile, dir, name));
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    KG_ENSURE(logfd >= 0, KG_ERR_IO, "cannot open log '%s': %s", log_path, strerror(errno));
    int errpipe[2];
    if (cloexec_pipe(errpipe) != 0) {
        close(logfd);
        KG_BAIL(KG_ERR_IO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        close(errpipe[0]);
        close(errpipe[1]);
        KG_BAIL(KG_ERR_IO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Own session: survives the CLI's exit and terminal hangups; stop signals go to the
         * whole group, so helpers a service spawns stop with it. */
        setsid();
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(argv[0], argv);
        int e = errno;
        if (write(errpipe[1], &e, sizeof(e)) < 0) {
        }
        _exit(127);
    }
    close(logfd);
    close(errpipe[1]);
    int child_errno = 0;
    ssize_t r = read(errpipe[0], &child_errno, sizeof(child_errno));
    close(errpipe[0]);
    if (r == (ssize_t)sizeof(child_errno)) {
        waitpid(pid, NULL, 0);
        KG_BAIL(KG_ERR_IO, "cannot run '%s': %s", argv[0], strerror(child_errno));
    }
    out->pid = pid;
    out->start_time = proc_start_time(pid);
    char rec[96];
    int n = snprintf(rec, sizeof(rec), "%ld %llu\n", (long)pid, out->start_time);
    KG_GUARD(kg_cli_write_file(pidfile, rec, (size_t)n, 0600));
    return KG_OK;
}

bool kg_proc_alive(kg_proc *out, const char *dir, const char *name)
{
    char pidfile[PATH_MAX];
    kg_proc p = {0, 0};
    if (out != NULL)
        *out = p;
    if (kg_failed(pid_path(pidfile, dir, name))) {
        kg_error_clear();
        return false;
    }
    char text[128];
    long pid = 0;
    if (!read_small(text, sizeof(text), pidfile) ||
        sscanf(text, "%ld %llu", &pid, &p.start_time) != 2 || pid <= 1)
        return false;
    p.pid = (pid_t)pid;
    if (out != NULL)
        *out = p;
    /* The pid must still be the process we started: same start time, and not a zombie. */
    return p.start_time != 0 && proc_start_time(p.pid) == p.start_time && !proc_is_zombie(p.pid);
}

KG_RESULT kg_proc_stop(const char *dir, const char *name, unsigned timeout_ms, bool *was_running)
{
    char pidfile[PATH_MAX];
    kg_proc p;
    *was_running = false;
    KG_GUARD(pid_path(pidfile, dir, name));
    if (!kg_proc_alive(&p, dir, name)) {
        if (unlink(pidfile) != 0 && errno != ENOENT)
            KG_BAIL(KG_ERR_IO, "cannot remove '%s': %s", pidfile, strerror(errno));
        return KG_OK;
    }
    *was_running = true;
    /* We started it with setsid(), so it leads its own process group. */
    pid_t target = getpgid(p.pid) == p.pid ? -p.pid : p.pid;
    KG_ENSURE(kill(target, SIGTERM) == 0, KG_ERR_IO, "cannot stop %s (pid %ld): %s", name,
              (long)p.pid, strerror(errno));
    for (unsigned waited = 0; waited < timeout_ms; waited += 50) {
        waitpid(p.pid, NULL, WNOHANG); /* reap if it is our child */
        if (proc_start_time(p.pid) != p.start_time || proc_is_zombie(p.pid))
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (proc_start_time(p.pid) == p.start_time && !proc_is_zombie(p.pid)) {
        fprintf(stderr, "keygate devnet: %s (pid %ld) ignored SIGTERM; killing it\n", name,
                (long)p.pid);
        kill(target, SIGKILL);
        waitpid(p.pid, NULL, 0);
    }
    if (unlink(pidfile) != 0 && errno != ENOENT)
        KG_BAIL(KG_ERR_IO, "cannot remove '%s': %s", pidfile, strerror(errno));
    return KG_OK;
}

KG_RESULT kg_proc_run(kg_buf *out, char *const argv[], const char *log_path,
                      char *const extra_env[])
{
    int outpipe[2];
    int logfd = -1;
    if (log_path != NULL) {
        logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        KG_ENSURE(logfd >= 0, KG_ERR_IO, "cannot open log '%s': %s", log_path, strerror(errno));
    }
    if (cloexec_pipe(outpipe) != 0) {
        if (logfd >= 0)
            close(logfd);
        KG_BAIL(KG_ERR_IO, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        if (logfd >= 0)
            close(logfd);
        close(outpipe[0]);
        close(outpipe[1]);
        KG_BAIL(KG_ERR_IO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(outpipe[1], 1);
        if (logfd >= 0)
            dup2(logfd, 2);
        for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
            putenv(extra_env[i]);
        execv(argv[0], argv);
        fprintf(stderr, "cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (logfd >= 0)
        close(logfd);
    close(outpipe[1]);
    kg_result rc = KG_OK;
    uint8_t chunk[4096];
    for (;;) {
        ssize_t r = read(outpipe[0], chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (out != NULL && kg_ok(rc))
            rc = kg_buf_append(out, chunk, (size_t)r);
    }
    close(outpipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    KG_GUARD(rc);
    if (out != NULL)
        KG_GUARD(kg_buf_terminate(out));
    KG_ENSURE(WIFEXITED(status) && WEXITSTATUS(status) == 0, KG_ERR_IO,
              "'%s' failed (exit status %d)%s%s", argv[0],
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, log_path ? "; see " : "",
              log_path ? log_path : "");
    return KG_OK;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

typedef struct http_sink {
    kg_buf *buf;
    bool overflow;
} http_sink;

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_sink *s = userdata;
    size_t n = size * nmemb;
    if (kg_failed(kg_buf_append(s->buf, ptr, n))) {
        kg_error_clear();
        s->overflow = true;
        return 0;
    }
    return n;
}

KG_RESULT kg_cli_http(kg_buf *resp, long *status, const char *url, const char *body, bool insecure,
                      long timeout_ms)
{
    CURL *c = curl_easy_init();
    KG_ENSURE(c != NULL, KG_ERR_NOMEM, "curl_easy_init failed");
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    http_sink sink = {resp, false};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    }
    if (insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    KG_ENSURE(!sink.overflow, KG_ERR_TOO_LARGE, "%s: response larger than %zu bytes", url,
              resp->max);
    KG_ENSURE(cc == CURLE_OK, KG_ERR_NETWORK, "%s: %s", url, curl_easy_strerror(cc));
    *status = code;
    return kg_buf_terminate(resp);
}

void kg_cli_put_value_state(json_t *out, bool allowed, uint64_t activates_at)
{
    bool pending = !allowed && activates_at != 0;
    json_object_set_new(out, "state",
                        json_string(allowed   ? "allowed"
                                    : pending ? "pending"
                                              : "none"));
    if (pending)
        json_object_set_new(out, "activates_at", json_integer((json_int_t)activates_at));
}

void kg_cli_print_json(const json_t *v, bool compact)
{
    char *text = json_dumps(v, compact ? JSON_COMPACT : JSON_INDENT(2));
    if (text != NULL)
        printf("%s\n", text);
    free(text);
}
