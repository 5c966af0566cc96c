/* recover.c - `keygate-kms --recover`: a fresh node gets the sealed root keys back from t of the
 * n recovery holders named on chain (docs/design.md, "Sealed root keys").
 *
 *   1. read state_dir/root-keys.sealed (it must have a recovery slot);
 *   2. make an X25519 key (secure heap) and a recovery request: this VM's RA-TLS certificate and
 *      the certificate key's signature over the X25519 key and the file's header hash, written
 *      to state_dir/recovery/request.json;
 *   3. take every state_dir/recovery/NAME.share a holder boxed to that key (keygate recovery
 *      decrypt-share, delivered by keygate kms recover), each opened and checked, one per x;
 *   4. with t of them: interpolate the DEK, open the file, check the keys against kmsInfo on
 *      chain; the caller seals them anew for this VM. Fewer than t by the deadline, or a
 *      SIGTERM/SIGINT first: nothing, and the request is removed. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keygate/fileio.h"
#include "keygate/harden.h"
#include "keygate/hash.h"
#include "keygate/kms_x509.h"
#include "keygate/recovery.h"
#include "keygate/slog.h"
#include "kms.h"

#define RECOVERY_DIR "recovery"
#define RECOVERY_POLL_MS 200

/* What the waiting node holds; in the secure heap (the shares and the X25519 secret). */
typedef struct recovery_state {
    kg_sealed_file file;
    uint8_t secret[KG_X25519_LEN];
    uint8_t pub[KG_X25519_LEN];
    kg_shamir_share shares[KG_SHAMIR_MAX_SHARES];
    size_t n_shares;
    uint8_t dek[KG_SEALED_DEK_LEN];
    kg_root_keys keys[KG_SEALED_MAX_EPOCHS];
} recovery_state;

/* SIGTERM or SIGINT while the node waits: stop, and remove the request (its X25519 key dies
 * with the process, so shares boxed to it later are worthless; a stale request would only
 * mislead a holder). */
static volatile sig_atomic_t recover_stop;

static void on_stop(int sig)
{
    recover_stop = sig;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static kg_result write_request(const kms *k, recovery_state *st, const char *dir)
{
    kg_result rc = KG_ERROR;
    kg_p256_key *key = NULL;
    X509 *cert = NULL;
    unsigned char *der = NULL;
    kg_buf json, path;
    kg_buf_init(&json, KG_RECOVERY_MAX_JSON);
    kg_buf_init(&path, 0);
    KG_GUARD_CTX_C(kms_attest_client_cert(&key, &cert, k), "recovery certificate");
    int n = i2d_X509(cert, &der);
    KG_ENSURE_OSSL_C(n > 0, KG_ERR_CRYPTO, "recovery certificate");
    KG_GUARD_C(kg_recovery_request_build(&json, key, der, (size_t)n, st->pub, &st->file));
    KG_GUARD_C(kg_path_join(&path, dir, "request.json"));
    KG_GUARD_C(kg_file_write_atomic((char *)path.data, json.data, json.len, 0644));
    kg_slog(KG_SLOG_INFO,
            "recovery: request in %s; waiting for %u of the %u recovery holders' shares "
            "(keygate recovery decrypt-share, then keygate kms recover)",
            (char *)path.data, st->file.threshold, st->file.n);
    rc = KG_OK;
cleanup:
    OPENSSL_free(der);
    X509_free(cert);
    kg_p256_free(key); /* the signature is made: the key is not needed again */
    kg_buf_free(&json);
    kg_buf_free(&path);
    return rc;
}

/* Reads every *.share in dir not tried yet (`tried` holds their names, one per line). */
static void take_shares(recovery_state *st, const char *dir, kg_buf *tried)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && st->n_shares < st->file.threshold) {
        size_t len = strlen(e->d_name);
        if (len < 7 || len > 200 || strcmp(e->d_name + len - 6, ".share") != 0)
            continue;
        char mark[210];
        snprintf(mark, sizeof(mark), "\n%s\n", e->d_name);
        if (tried->data != NULL && strstr((char *)tried->data, mark) != NULL)
            continue;
        if (kg_failed(kg_buf_append_str(tried, mark + 1)) || kg_failed(kg_buf_terminate(tried)))
            break;
        /* keep the leading newline convention: every name is "\n<name>\n" in tried */
        kg_buf path, raw;
        kg_buf_init(&raw, KG_RECOVERY_MAX_SHARE_JSON + 1);
        kg_shamir_share s;
        kg_result r = kg_path_join(&path, dir, e->d_name);
        if (kg_ok(r))
            r = kg_file_read(&raw, (char *)path.data, KG_RECOVERY_MAX_SHARE_JSON + 1);
        if (kg_ok(r))
            r = kg_recovery_share_open(&s, (const char *)raw.data, raw.len, st->secret, st->pub,
                                       &st->file);
        if (kg_ok(r)) {
            bool dup = false;
            for (size_t i = 0; i < st->n_shares; i++)
                dup = dup || st->shares[i].x == s.x;
            if (!dup) {
                st->shares[st->n_shares++] = s;
                kg_slog(KG_SLOG_INFO, "recovery: share x = %u accepted (%zu of %u)", s.x,
                        st->n_shares, st->file.threshold);
            } else {
                kg_slog(KG_SLOG_WARN, "recovery: '%s' repeats share x = %u; ignored", e->d_name,
                        s.x);
            }
        } else {
            kg_slog(KG_SLOG_WARN, "recovery: '%s' refused: %s", e->d_name, kg_error_message());
            kg_error_clear();
        }
        kg_memzero(&s, sizeof(s));
        kg_buf_free(&raw);
        kg_buf_free(&path);
    }
    closedir(d);
}

/* Removes the request and the share files (boxed to a key that is gone: worthless, but tidy). */
static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[KG_KMS_PATH_MAX + 300];
        int w = snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (w > 0 && (size_t)w < sizeof(p))
            (void)unlink(p);
    }
    closedir(d);
}

kg_result kms_recover(kms *k, unsigned timeout_s)
{
    kg_result rc = KG_ERROR;
    recovery_state *st = kg_secure_zalloc(sizeof(*st));
    uint8_t k256[KG_K256_PUB_LEN];
    kg_buf dir, tried, spki, raw;
    struct sigaction old_term, old_int;
    bool handlers_set = false;
    kg_buf_init(&raw, 0);
    kg_buf_init(&dir, 0);
    kg_buf_init(&tried, 64u * 1024u);
    kg_buf_init(&spki, 4096);
    KG_ENSURE(st != NULL, KG_ERR_NOMEM, "out of memory");
    KG_ENSURE_C(k->cfg.policy == KG_KMS_POLICY_ETH, KG_ERR_USAGE,
                "--recover needs policy.backend 'eth': the holders and the recovered keys are "
                "checked against the chain");
    KG_GUARD_CTX_C(kms_seal_read_raw(&st->file, &raw, k), "--recover");
    KG_ENSURE_C(st->file.has_recovery, KG_ERR_NOT_FOUND,
                "--recover: the sealed file has no recovery slot (no recovery holders were "
                "named on chain when it was sealed)");
    KG_GUARD_C(kg_path_join(&dir, k->cfg.state_dir, RECOVERY_DIR));
    KG_GUARD_C(kg_mkdir_p((char *)dir.data));
    clear_dir((char *)dir.data); /* shares boxed to an earlier run's key cannot open */
    KG_GUARD_C(kg_buf_append_str(&tried, "\n"));
    KG_GUARD_C(kg_buf_terminate(&tried));
    KG_GUARD_C(kg_x25519_generate(st->secret, st->pub));
    struct sigaction stop = {.sa_handler = on_stop};
    sigemptyset(&stop.sa_mask);
    recover_stop = 0;
    KG_ENSURE_C(sigaction(SIGTERM, &stop, &old_term) == 0 &&
                    sigaction(SIGINT, &stop, &old_int) == 0,
                KG_ERR_IO, "recovery: cannot handle SIGTERM/SIGINT: %s", strerror(errno));
    handlers_set = true;
    KG_GUARD_C(write_request(k, st, (char *)dir.data));
    int64_t deadline = kms_now_ms() + (int64_t)timeout_s * 1000;
    while (st->n_shares < st->file.threshold && kms_now_ms() < deadline && recover_stop == 0) {
        take_shares(st, (char *)dir.data, &tried);
        if (st->n_shares < st->file.threshold && recover_stop == 0)
            sleep_ms(RECOVERY_POLL_MS);
    }
    KG_ENSURE_C(st->n_shares >= st->file.threshold || recover_stop == 0, KG_ERR_DENIED,
                "recovery: stopped by signal %d with %zu of the %u shares needed; nothing "
                "recovered",
                (int)recover_stop, st->n_shares, st->file.threshold);
    KG_ENSURE_C(st->n_shares >= st->file.threshold, KG_ERR_DENIED,
                "recovery: %zu of the %u shares needed arrived in %u s; nothing recovered",
                st->n_shares, st->file.threshold, timeout_s);
    KG_GUARD_C(kg_shamir_combine(st->dek, st->shares, st->file.threshold));
    KG_GUARD_CTX_C(kg_sealed_open_dek(st->keys, &st->file, st->dek),
                   "recovery: the %u shares do not open the sealed root keys (a share is wrong "
                   "or was made for another file)",
                   st->file.threshold);
    /* The recovered keys must be the deployment's published ones, as an onboarded node's. */
    KG_GUARD_CTX_C(kms_policy_kms_info(k256, &spki, k), "recovery");
    {
        uint8_t h[KG_SHA256_LEN];
        KG_GUARD_C(kg_sha256(h, spki.data, spki.len));
        KG_ENSURE_C(memcmp(k256, st->file.header.root_k256_pub, KG_K256_PUB_LEN) == 0 &&
                        memcmp(h, st->file.header.root_ca_spki_sha256, sizeof(h)) == 0,
                    KG_ERR_VERIFY,
                    "recovery: the recovered root keys are not the ones kmsInfo publishes on "
                    "chain; refusing them");
    }
    KG_GUARD_C(kms_epochs_from_file(k, &st->file, raw.data, st->keys));
    k->root_in_memory = true;
    kg_slog(KG_SLOG_INFO,
            "recovery: root keys recovered from %u holders' shares (they match the KMS info on "
            "chain)",
            st->file.threshold);
    rc = KG_OK;
cleanup:
    if (kg_failed(rc)) {
        kms_epochs_free(k);
        kg_kdf_root_keys_wipe(&k->root);
    }
    kg_buf_free(&raw);
    /* The X25519 key dies with this call: its request and the shares boxed to it are void. */
    if (dir.data != NULL)
        clear_dir((char *)dir.data);
    if (handlers_set) {
        (void)sigaction(SIGTERM, &old_term, NULL);
        (void)sigaction(SIGINT, &old_int, NULL);
    }
    kg_secure_free(st, sizeof(*st));
    kg_buf_free(&dir);
    kg_buf_free(&tried);
    kg_buf_free(&spki);
    return rc;
}
