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
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "keygate/fileio.h"
#include "keygate/hash.h"
#include "keygate/slog.h"
#include "kms.h"
#include "keygate/kms_x509.h"
#include "keygate/sealed.h"

#define KMS_BOOTSTRAP_DOMAIN "kms-root-pubkey:"

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
    KG_GUARD_C(kms_state_load_p256(&k->root_ca_key, ca_key_path));
    KG_GUARD_CTX_C(kms_state_read(&hex, k256_path, true), "loading the root k256 key");
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

/* Before keygate 0.2 the temporary CA was issued by the root CA, so anyone holding its public
 * key could mint certificates under the root. Such a certificate is removed (it is re-issued
 * self-signed); agents accept only a server leaf issued directly by the root, which already
 * excludes certificates minted under the old temporary CA. */
static kg_result retire_root_issued_temp_ca(const char *path)
{
    if (!kms_state_exists(path))
        return KG_OK;
    X509 *old = NULL;
    KG_GUARD(kms_state_load_cert(&old, path));
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
    KG_GUARD(kms_state_path(ca_key, sizeof(ca_key), k, "root-ca.key"));
    KG_GUARD(kms_state_path(k256, sizeof(k256), k, "root-k256.key"));
    KG_GUARD(kms_state_path(tmp_key, sizeof(tmp_key), k, "temp-ca.key"));
    KG_GUARD(kms_state_path(tmp_pem, sizeof(tmp_pem), k, "temp-ca.pem"));
    KG_GUARD(kms_state_path(boot, sizeof(boot), k, "bootstrap.json"));

    if (mkdir(k->cfg.state_dir, 0700) != 0 && errno != EEXIST)
        KG_BAIL(KG_ERR_IO, "cannot create state_dir '%s': %s", k->cfg.state_dir, strerror(errno));

    char sealed[KG_KMS_PATH_MAX + 32];
    KG_GUARD(kms_seal_path(sealed, sizeof(sealed), k));
    kg_sealed_holders holders;
    KG_GUARD(kms_recovery_holders(&holders, k));
    bool have_ca = kms_state_exists(ca_key), have_k256 = kms_state_exists(k256);
    bool have_sealed = kms_state_exists(sealed);
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
        KG_GUARD_CTX(kms_epochs_unseal(k), "'%s'", sealed);
    } else if (have_ca || have_k256) {
        KG_ENSURE(have_ca && have_k256, KG_ERR_IO,
                  "state_dir '%s' is incomplete: '%s' exists but '%s' does not; restore it "
                  "from backup (starting with new keys would orphan every app's keys)",
                  k->cfg.state_dir, have_ca ? ca_key : k256, have_ca ? k256 : ca_key);
        KG_GUARD(migrate_plaintext(k, ca_key, k256, &holders));
    } else if (have_sealed) {
        if (kg_failed(kms_epochs_unseal(k)))
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

    KG_GUARD(kms_state_root_ca_cert(&k->root_ca_cert, k, k->serving_epoch, k->root_ca_key));
    KG_GUARD(kms_state_cert_pem(&k->root_ca_pem, k->root_ca_cert));
    KG_GUARD(kms_epochs_init(k));

    /* Temporary CA: its key is handed to anyone (GetTempCaCert), so it is self-signed and
     * nothing it signs chains to the root; trust in client certs comes from the attestation
     * inside them, never from this CA. */
    if (kms_state_exists(tmp_key)) {
        KG_GUARD(kms_state_load_p256(&k->temp_ca_key, tmp_key));
    } else {
        KG_GUARD(kg_p256_generate(&k->temp_ca_key));
        KG_GUARD(kms_state_save_p256(tmp_key, k->temp_ca_key));
    }
    KG_GUARD(retire_root_issued_temp_ca(tmp_pem));
    kg_kms_cert_spec temp_spec = {
        .common_name = "keygate KMS temporary CA", .is_ca = true, .days = 365 * 20};
    KG_GUARD(
        kms_state_load_or_issue(&k->temp_ca_cert, tmp_pem, k->temp_ca_key, &temp_spec, NULL, NULL));
    KG_GUARD(kms_state_cert_pem(&k->temp_ca_pem, k->temp_ca_cert));
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
    if (kms_state_exists(boot)) {
        kg_buf text;
        kg_buf_init(&text, KMS_MAX_STATE_FILE + 1);
        rc = kms_state_read(&text, boot, false);
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
        rc = kms_state_create(boot, text, strlen(text), 0644);
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
    KG_GUARD(kms_state_root_ca_cert(&k->root_ca_cert, k, k->serving_epoch, k->root_ca_key));
    KG_GUARD(kms_state_cert_pem(&k->root_ca_pem, k->root_ca_cert));
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
