/* keys.c - the KMS root keys: generated once inside the TEE (bootstrap), sealed in state_dir
 * (seal.c), and the certificates derived from them (root CA, temporary CA, server TLS). Root
 * keys of an earlier version, plain files root-ca.key and root-k256.key, are sealed on the first
 * start and the plain files wiped.
 *
 * state_dir layout:
 *   root-keys.sealed  the root CA P-256 key (RCA) and root secp256k1    0600, ciphertext
 *                     key (RK), sealed (seal.c, docs/design.md "Sealed root keys")
 *   root-ca.pem     the self-signed root CA certificate                0644
 *   temp-ca.key     the temporary CA key (mints RA-TLS client certs)   0600, not secret
 *   temp-ca.pem     its certificate, self-signed: outside the root     0644
 *   bootstrap.json  the bootstrap info to publish on chain             0644 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "keygate/fileio.h"
#include "keygate/hash.h"
#include "keygate/slog.h"
#include "kms.h"
#include "keygate/kms_x509.h"
#include "keygate/sealed.h"

#define KMS_MAX_STATE_FILE (64u * 1024u)
#define KMS_BOOTSTRAP_DOMAIN "kms-root-pubkey:"

int64_t kms_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static kg_result state_path(char *out, size_t n, const kms *k, const char *name)
{
    int w = snprintf(out, n, "%s/%s", k->cfg.state_dir, name);
    KG_ENSURE(w > 0 && (size_t)w < n, KG_ERR_INPUT, "state path too long for '%s'", name);
    return KG_OK;
}

kg_result kms_keys_state_path(char *out, size_t n, const kms *k, const char *name)
{
    return state_path(out, n, k, name);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads a whole state file (fileio.h). Secret files must be owned by us and not accessible to
 * group or others: a key file that others could read may already be copied, so it is refused. */
static kg_result read_state(kg_buf *out, const char *path, bool secret)
{
    KG_GUARD(secret ? kg_file_read_secret(out, path, KMS_MAX_STATE_FILE)
                    : kg_file_read(out, path, KMS_MAX_STATE_FILE));
    return kg_buf_terminate(out);
}

/* Creates a new state file (never overwrites) with the given mode, fsync'd with its directory,
 * so a key that was used is never lost to a crash (fileio.h). */
static kg_result write_state(const kms *k, const char *path, const void *data, size_t n,
                             mode_t mode)
{
    (void)k;
    return kg_file_create(path, data, n, (unsigned)mode);
}

static kg_result load_p256(kg_p256_key **out, const char *path)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE + 1);
    kg_result rc = read_state(&pem, path, true);
    if (kg_ok(rc))
        rc = kg_p256_from_pem(out, (const char *)pem.data, pem.len);
    kg_buf_free(&pem);
    if (kg_failed(rc))
        return kg_error_context("loading '%s'", path);
    return KG_OK;
}

static kg_result save_p256(const kms *k, const char *path, const kg_p256_key *key)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE);
    kg_result rc = kg_p256_private_pem(&pem, key);
    if (kg_ok(rc))
        rc = write_state(k, path, pem.data, pem.len, 0600);
    kg_buf_free(&pem);
    return rc;
}

static kg_result load_cert(X509 **out, const char *path)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE + 1);
    kg_result rc = read_state(&pem, path, false);
    if (kg_ok(rc))
        rc = kg_kms_x509_from_pem(out, (const char *)pem.data, pem.len);
    kg_buf_free(&pem);
    if (kg_failed(rc))
        return kg_error_context("loading '%s'", path);
    return KG_OK;
}

static kg_result save_cert(const kms *k, const char *path, X509 *cert)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE);
    kg_result rc = kg_kms_x509_pem(&pem, cert);
    if (kg_ok(rc))
        rc = write_state(k, path, pem.data, pem.len, 0644);
    kg_buf_free(&pem);
    return rc;
}

static kg_result cert_pem_string(char **out, X509 *cert)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE);
    kg_result rc = kg_kms_x509_pem(&pem, cert);
    if (kg_ok(rc)) {
        *out = strdup((const char *)pem.data);
        if (*out == NULL)
            rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    }
    kg_buf_free(&pem);
    return rc;
}

kg_result kms_bootstrap_report_data(uint8_t out[64], const kms *k)
{
    kg_buf spki;
    kg_buf_init(&spki, 4096);
    kg_result rc = kg_p256_spki_der(&spki, k->root_ca_key);
    if (kg_ok(rc)) {
        const void *parts[3] = {KMS_BOOTSTRAP_DOMAIN, spki.data, k->root_k256_pub};
        size_t lens[3] = {strlen(KMS_BOOTSTRAP_DOMAIN), spki.len, KG_K256_PUB_LEN};
        kg_buf all;
        kg_buf_init(&all, 8192);
        for (size_t i = 0; kg_ok(rc) && i < 3; i++)
            rc = kg_buf_append(&all, parts[i], lens[i]);
        if (kg_ok(rc))
            rc = kg_sha512(out, all.data, all.len);
        kg_buf_free(&all);
    }
    kg_buf_free(&spki);
    return rc;
}

/* The bootstrap info of dstack's BootstrapResponse: {ca_pubkey, k256_pubkey, quote, eventlog},
 * hex, plus the binding so a reader need not guess how REPORTDATA was formed. */
static kg_result make_bootstrap_info(json_t **out, const kms *k)
{
    kg_result rc = KG_ERROR;
    kg_buf spki, quote, eventlog;
    kg_buf_init(&spki, 4096);
    kg_buf_init(&quote, 64 * 1024);
    kg_buf_init(&eventlog, 1u << 20);
    char *spki_hex = NULL, *quote_hex = NULL, *ev_hex = NULL;
    char k256_hex[2 * KG_K256_PUB_LEN + 1], rd_hex[129];
    uint8_t rd[64];
    KG_GUARD_C(kg_p256_spki_der(&spki, k->root_ca_key));
    KG_GUARD_C(kms_bootstrap_report_data(rd, k));
    KG_GUARD_CTX_C(kms_attest_quote(&quote, &eventlog, k, rd), "bootstrap attestation");
    spki_hex = malloc(2 * spki.len + 1);
    quote_hex = malloc(2 * quote.len + 1);
    ev_hex = malloc(2 * eventlog.len + 1);
    KG_ENSURE_C(spki_hex && quote_hex && ev_hex, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(kg_hex_encode(spki_hex, 2 * spki.len + 1, spki.data, spki.len));
    KG_GUARD_C(kg_hex_encode(quote_hex, 2 * quote.len + 1, quote.data, quote.len));
    KG_GUARD_C(kg_hex_encode(ev_hex, 2 * eventlog.len + 1, eventlog.data, eventlog.len));
    KG_GUARD_C(kg_hex_encode(k256_hex, sizeof(k256_hex), k->root_k256_pub, KG_K256_PUB_LEN));
    KG_GUARD_C(kg_hex_encode(rd_hex, sizeof(rd_hex), rd, sizeof(rd)));
    *out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "ca_pubkey", spki_hex, "k256_pubkey", k256_hex,
                     "quote", quote_hex, "eventlog", ev_hex, "report_data", rd_hex,
                     "report_data_binding",
                     "sha512(\"" KMS_BOOTSTRAP_DOMAIN "\" || ca_pubkey || k256_pubkey)");
    KG_ENSURE_C(*out != NULL, KG_ERR_NOMEM, "out of memory");
    rc = KG_OK;
cleanup:
    free(spki_hex);
    free(quote_hex);
    free(ev_hex);
    kg_buf_free(&spki);
    kg_buf_free(&quote);
    kg_buf_free(&eventlog);
    return rc;
}

/* First start: both root keys are generated here, inside the TEE, and never seen outside; the
 * caller seals them. */
static kg_result generate_root(kms *k)
{
    KG_GUARD_CTX(kg_p256_generate(&k->root_ca_key), "generating the root CA key");
    KG_GUARD_CTX(kg_k256_generate(k->root.k256_scalar), "generating the root k256 key");
    KG_GUARD(kg_p256_scalar(k->root.ca_scalar, k->root_ca_key));
    kg_slog(KG_SLOG_INFO, "generated new root keys for %s", k->cfg.state_dir);
    return KG_OK;
}

static kg_result load_root(kms *k, const char *ca_key_path, const char *k256_path);

/* Overwrites a plaintext key file of an earlier version with zeros, makes that durable, and
 * removes it (the sealed file already holds the keys). */
static kg_result wipe_file(const char *path)
{
    struct stat st;
    KG_ENSURE(lstat(path, &st) == 0, KG_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    KG_ENSURE(fd >= 0, KG_ERR_IO, "cannot open '%s' to wipe it: %s", path, strerror(errno));
    static const uint8_t zero[4096];
    off_t left = st.st_size;
    while (left > 0) {
        size_t n = left < (off_t)sizeof(zero) ? (size_t)left : sizeof(zero);
        ssize_t w = write(fd, zero, n);
        if (w <= 0) {
            int e = errno;
            close(fd);
            KG_BAIL(KG_ERR_IO, "cannot wipe '%s': %s", path, strerror(e));
        }
        left -= w;
    }
    int synced = fsync(fd);
    close(fd);
    KG_ENSURE(synced == 0, KG_ERR_IO, "cannot sync '%s': %s", path, strerror(errno));
    KG_ENSURE(unlink(path) == 0, KG_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
    return KG_OK;
}

/* Root keys from an earlier version's plain files: sealed, then the plain files wiped. */
static kg_result migrate_plaintext(kms *k, const char *ca_key_path, const char *k256_path,
                                   const kg_sealed_holders *holders)
{
    KG_GUARD(load_root(k, ca_key_path, k256_path));
    KG_GUARD(kg_p256_scalar(k->root.ca_scalar, k->root_ca_key));
    KG_GUARD(kms_epochs_single(k));
    KG_GUARD_CTX(kms_seal_store(k, holders), "sealing the plaintext root keys of '%s'",
                 k->cfg.state_dir);
    KG_GUARD(wipe_file(k256_path));
    KG_GUARD(wipe_file(ca_key_path));
    kg_slog(KG_SLOG_INFO, "migrated: the plaintext root key files in %s are wiped",
            k->cfg.state_dir);
    return KG_OK;
}

static kg_result load_root(kms *k, const char *ca_key_path, const char *k256_path)
{
    kg_result rc = KG_ERROR;
    kg_buf hex;
    kg_buf_init(&hex, 256);
    KG_GUARD_C(load_p256(&k->root_ca_key, ca_key_path));
    KG_GUARD_CTX_C(read_state(&hex, k256_path, true), "loading the root k256 key");
    size_t n = hex.len;
    while (n > 0 && (hex.data[n - 1] == '\n' || hex.data[n - 1] == '\r'))
        n--;
    hex.data[n] = 0;
    KG_GUARD_CTX_C(
        kg_hex_decode_exact(k->root.k256_scalar, KG_K256_SCALAR_LEN, (const char *)hex.data),
        "'%s'", k256_path);
    KG_GUARD_CTX_C(kg_k256_check_scalar(k->root.k256_scalar), "'%s'", k256_path);
    rc = KG_OK;
cleanup:
    kg_buf_free(&hex);
    return rc;
}

/* Loads a stored certificate if present and matching key, else issues and stores one. */
static kg_result load_or_issue(X509 **out, const kms *k, const char *path, kg_p256_key *key,
                               const kg_kms_cert_spec *spec, EVP_PKEY *issuer_key, X509 *issuer)
{
    if (file_exists(path)) {
        KG_GUARD(load_cert(out, path));
        KG_ENSURE(X509_check_private_key(*out, kg_p256_evp(key)) == 1, KG_ERR_VERIFY,
                  "certificate '%s' does not match its key", path);
        return KG_OK;
    }
    KG_GUARD(kg_kms_x509_issue(out, kg_p256_evp(key), spec, issuer_key, issuer));
    return save_cert(k, path, *out);
}

/* The root CA certificate's file of an epoch: root-ca.pem for epoch 0 (as before epochs),
 * root-ca-epoch-N.pem for N. */
static kg_result root_ca_path(char *out, size_t n, const kms *k, uint32_t epoch)
{
    char name[40];
    if (epoch == 0)
        snprintf(name, sizeof(name), "root-ca.pem");
    else
        snprintf(name, sizeof(name), "root-ca-epoch-%u.pem", (unsigned)epoch);
    return state_path(out, n, k, name);
}

/* The root issues exactly two kinds of certificates: this run's server leaf and app CAs
 * (which issue leaves), so its path length is 1. */
static const kg_kms_cert_spec k_root_spec = {
    .common_name = "keygate KMS root CA", .is_ca = true, .path_len = 1, .days = 365 * 20};

kg_result kms_keys_root_ca_cert(X509 **out, const kms *k, uint32_t epoch, kg_p256_key *key)
{
    char path[KG_KMS_PATH_MAX + 32];
    KG_GUARD(root_ca_path(path, sizeof(path), k, epoch));
    if (epoch > 0 && file_exists(path)) {
        /* a certificate of a proposal that never went further (another key): issue anew */
        X509 *old = NULL;
        KG_GUARD(load_cert(&old, path));
        bool same = X509_check_private_key(old, kg_p256_evp(key)) == 1;
        ERR_clear_error();
        if (same) {
            *out = old;
            return KG_OK;
        }
        X509_free(old);
        KG_ENSURE(unlink(path) == 0, KG_ERR_IO, "cannot replace '%s': %s", path, strerror(errno));
    }
    return load_or_issue(out, k, path, key, &k_root_spec, NULL, NULL);
}

kg_result kms_keys_save_root_ca_cert(const kms *k, uint32_t epoch, X509 *cert)
{
    char path[KG_KMS_PATH_MAX + 32];
    KG_GUARD(root_ca_path(path, sizeof(path), k, epoch));
    if (file_exists(path))
        return KG_OK;
    return save_cert(k, path, cert);
}

/* Before keygate 0.2 the temporary CA was issued by the root CA, so anyone holding its public
 * key could mint certificates under the root. Such a certificate is removed (it is re-issued
 * self-signed); agents accept only a server leaf issued directly by the root, which already
 * excludes certificates minted under the old temporary CA. */
static kg_result retire_root_issued_temp_ca(const char *path)
{
    if (!file_exists(path))
        return KG_OK;
    X509 *old = NULL;
    KG_GUARD(load_cert(&old, path));
    bool self_issued = X509_check_issued(old, old) == X509_V_OK;
    X509_free(old);
    if (self_issued)
        return KG_OK;
    KG_ENSURE(unlink(path) == 0, KG_ERR_IO, "cannot remove the root-issued temporary CA '%s': %s",
              path, strerror(errno));
    kg_slog(KG_SLOG_INFO,
            "replaced the root-issued temporary CA certificate '%s' by a self-signed one", path);
    return KG_OK;
}

kg_result kms_keys_init(kms *k, bool may_generate)
{
    char ca_key[KG_KMS_PATH_MAX + 32], k256[KG_KMS_PATH_MAX + 32];
    char tmp_key[KG_KMS_PATH_MAX + 32], tmp_pem[KG_KMS_PATH_MAX + 32];
    char boot[KG_KMS_PATH_MAX + 32];
    KG_GUARD(state_path(ca_key, sizeof(ca_key), k, "root-ca.key"));
    KG_GUARD(state_path(k256, sizeof(k256), k, "root-k256.key"));
    KG_GUARD(state_path(tmp_key, sizeof(tmp_key), k, "temp-ca.key"));
    KG_GUARD(state_path(tmp_pem, sizeof(tmp_pem), k, "temp-ca.pem"));
    KG_GUARD(state_path(boot, sizeof(boot), k, "bootstrap.json"));

    if (mkdir(k->cfg.state_dir, 0700) != 0 && errno != EEXIST)
        KG_BAIL(KG_ERR_IO, "cannot create state_dir '%s': %s", k->cfg.state_dir, strerror(errno));

    char sealed[KG_KMS_PATH_MAX + 32];
    KG_GUARD(kms_seal_path(sealed, sizeof(sealed), k));
    kg_sealed_holders holders;
    KG_GUARD(kms_recovery_holders(&holders, k));
    bool have_ca = file_exists(ca_key), have_k256 = file_exists(k256);
    bool have_sealed = file_exists(sealed);
    if (k->root_in_memory) {
        /* received from a peer (onboarding) or recovered: sealed for this VM before use */
        if (k->n_epochs == 0)
            KG_GUARD(kms_epochs_single(k));
        KG_GUARD(kms_seal_store(k, &holders));
        k->root_in_memory = false;
    } else if ((have_ca != have_k256) && have_sealed) {
        /* A migration interrupted between the two wipes (root-k256.key goes first): the sealed
         * file was written and checked before either, so finish the wipe and use it. */
        KG_GUARD(wipe_file(have_ca ? ca_key : k256));
        KG_GUARD_CTX(kms_seal_open(k), "'%s'", sealed);
    } else if (have_ca || have_k256) {
        KG_ENSURE(have_ca && have_k256, KG_ERR_IO,
                  "state_dir '%s' is incomplete: '%s' exists but '%s' does not; restore it "
                  "from backup (starting with new keys would orphan every app's keys)",
                  k->cfg.state_dir, have_ca ? ca_key : k256, have_ca ? k256 : ca_key);
        KG_GUARD(migrate_plaintext(k, ca_key, k256, &holders));
    } else if (have_sealed) {
        if (kg_failed(kms_seal_open(k)))
            return kg_error_context(
                "the sealed root keys in '%s' do not open in this VM; start it with --onboard "
                "HOST:PORT to receive them from a running KMS of this deployment, or with "
                "--recover to recover them from the recovery holders named on chain",
                sealed);
        /* recovery holders changed on chain since this file was sealed: seal anew */
        kg_sealed_file f;
        KG_GUARD(kms_seal_read(&f, k));
        if (!kg_sealed_same_holders(&f, &holders))
            KG_GUARD_CTX(kms_seal_store(k, &holders), "resealing for the recovery holders now "
                                                      "named on chain");
    } else {
        /* New root keys only when asked for: an empty state_dir is far more often a typo or an
         * unmounted volume than a new deployment, and new keys would silently give every app
         * other keys than the ones published on chain. */
        KG_ENSURE(may_generate, KG_ERR_NOT_FOUND,
                  "state_dir '%s' holds no root keys ('%s' is missing): restore it, mount the "
                  "right volume, run once with --bootstrap for a new deployment, or --onboard "
                  "from a running KMS",
                  k->cfg.state_dir, sealed);
        KG_GUARD(generate_root(k));
        KG_GUARD(kms_epochs_single(k));
        KG_GUARD(kms_seal_store(k, &holders));
    }
    kg_p256_free(k->root_ca_key); /* the serving root's, from its scalar whichever way it came */
    k->root_ca_key = NULL;
    KG_GUARD(kg_p256_from_scalar(&k->root_ca_key, k->root.ca_scalar));
    KG_GUARD(kg_k256_public(k->root_k256_pub, k->root.k256_scalar));
    if (k->app_pubs == NULL) /* 4096 apps in about 800 KB */
        KG_GUARD(kg_app_public_cache_new(&k->app_pubs, 4096));

    KG_GUARD(kms_keys_root_ca_cert(&k->root_ca_cert, k, k->serving_epoch, k->root_ca_key));
    KG_GUARD(cert_pem_string(&k->root_ca_pem, k->root_ca_cert));
    KG_GUARD(kms_epochs_init(k));

    /* Temporary CA: its key is handed to anyone (GetTempCaCert), so it is self-signed and
     * nothing it signs chains to the root; trust in client certs comes from the attestation
     * inside them, never from this CA. */
    if (file_exists(tmp_key)) {
        KG_GUARD(load_p256(&k->temp_ca_key, tmp_key));
    } else {
        KG_GUARD(kg_p256_generate(&k->temp_ca_key));
        KG_GUARD(save_p256(k, tmp_key, k->temp_ca_key));
    }
    KG_GUARD(retire_root_issued_temp_ca(tmp_pem));
    kg_kms_cert_spec temp_spec = {
        .common_name = "keygate KMS temporary CA", .is_ca = true, .days = 365 * 20};
    KG_GUARD(load_or_issue(&k->temp_ca_cert, k, tmp_pem, k->temp_ca_key, &temp_spec, NULL, NULL));
    KG_GUARD(cert_pem_string(&k->temp_ca_pem, k->temp_ca_cert));
    kg_buf kp;
    kg_buf_init(&kp, KMS_MAX_STATE_FILE);
    kg_result rc = kg_p256_private_pem(&kp, k->temp_ca_key);
    if (kg_ok(rc)) {
        k->temp_ca_key_pem = strdup((const char *)kp.data);
        if (k->temp_ca_key_pem == NULL)
            rc = kg_error_set(KG_ERR_NOMEM, __FILE__, __LINE__, "out of memory");
    }
    kg_buf_free(&kp);
    KG_GUARD(rc);

    /* Bootstrap info: created once with the keys; later starts read it back. */
    if (file_exists(boot)) {
        kg_buf text;
        kg_buf_init(&text, KMS_MAX_STATE_FILE + 1);
        rc = read_state(&text, boot, false);
        if (kg_ok(rc)) {
            json_error_t jerr;
            k->bootstrap_info = json_loadb((const char *)text.data, text.len, 0, &jerr);
            if (k->bootstrap_info == NULL)
                rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "'%s': %s", boot, jerr.text);
        }
        kg_buf_free(&text);
        KG_GUARD(rc);
    } else {
        KG_GUARD(make_bootstrap_info(&k->bootstrap_info, k));
        char *text = json_dumps(k->bootstrap_info, JSON_INDENT(2));
        KG_ENSURE(text != NULL, KG_ERR_NOMEM, "out of memory");
        rc = write_state(k, boot, text, strlen(text), 0644);
        free(text);
        KG_GUARD(rc);
    }
    return KG_OK;
}

kg_result kms_keys_serve_current(kms *k)
{
    if (kg_failed(kms_epochs_at_head(k))) {
        /* no chain now: the self-check refuses keys until it answers; serve as sealed */
        kg_slog(KG_SLOG_WARN, "root epochs at start: %s; serving root epoch %u as sealed",
                kg_error_message(), (unsigned)k->serving_epoch);
        kg_error_clear();
        return KG_OK;
    }
    const kms_epoch *cur = kms_epoch_current(k);
    if (cur == NULL || cur->epoch == k->serving_epoch)
        return KG_OK;
    k->root = cur->root;
    k->serving_epoch = cur->epoch;
    kg_p256_free(k->root_ca_key);
    k->root_ca_key = NULL;
    X509_free(k->root_ca_cert);
    k->root_ca_cert = NULL;
    free(k->root_ca_pem);
    k->root_ca_pem = NULL;
    KG_GUARD(kg_p256_from_scalar(&k->root_ca_key, k->root.ca_scalar));
    KG_GUARD(kg_k256_public(k->root_k256_pub, k->root.k256_scalar));
    KG_GUARD(kms_keys_root_ca_cert(&k->root_ca_cert, k, k->serving_epoch, k->root_ca_key));
    KG_GUARD(cert_pem_string(&k->root_ca_pem, k->root_ca_cert));
    kg_slog(KG_SLOG_INFO, "serving root epoch %u: the one current on chain", (unsigned)cur->epoch);
    return KG_OK;
}

void kms_keys_free(kms *k)
{
    kms_epochs_free(k);
    kg_kdf_root_keys_wipe(&k->root);
    kg_p256_free(k->root_ca_key);
    kg_p256_free(k->tls_key);
    kg_p256_free(k->temp_ca_key);
    X509_free(k->root_ca_cert);
    X509_free(k->tls_cert);
    X509_free(k->temp_ca_cert);
    free(k->root_ca_pem);
    free(k->temp_ca_pem);
    free(k->temp_ca_key_pem);
    json_decref(k->bootstrap_info);
    kg_app_public_cache_free(k->app_pubs);
    k->app_pubs = NULL;
    k->root_ca_key = k->tls_key = k->temp_ca_key = NULL;
    k->root_ca_cert = k->tls_cert = k->temp_ca_cert = NULL;
    k->root_ca_pem = k->temp_ca_pem = k->temp_ca_key_pem = NULL;
    k->bootstrap_info = NULL;
}
