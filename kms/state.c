/* state.c - the files in state_dir (keys.c's layout): paths, whole-file reads (secret files
 * refused when others could read them), files created once and durably, and the stored
 * certificates, each epoch's root CA certificate among them. The bottom of kms/'s layers with
 * clock.c (kms/README.md, "The decision path"): it calls no other part of the KMS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "keygate/fileio.h"
#include "keygate/kms_x509.h"
#include "kms.h"

kg_result kms_state_path(char *out, size_t n, const kms *k, const char *name)
{
    int w = snprintf(out, n, "%s/%s", k->cfg.state_dir, name);
    KG_ENSURE(w > 0 && (size_t)w < n, KG_ERR_INPUT, "state path too long for '%s'", name);
    return KG_OK;
}

bool kms_state_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Secret files must be owned by us and not accessible to group or others: a key file that others
 * could read may already be copied, so it is refused (fileio.h). */
kg_result kms_state_read(kg_buf *out, const char *path, bool secret)
{
    KG_GUARD(secret ? kg_file_read_secret(out, path, KMS_MAX_STATE_FILE)
                    : kg_file_read(out, path, KMS_MAX_STATE_FILE));
    return kg_buf_terminate(out);
}

/* Never overwrites; fsync'd with its directory, so a key that was used is never lost to a crash
 * (fileio.h). */
kg_result kms_state_create(const char *path, const void *data, size_t n, mode_t mode)
{
    return kg_file_create(path, data, n, (unsigned)mode);
}

kg_result kms_state_load_p256(kg_p256_key **out, const char *path)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE + 1);
    kg_result rc = kms_state_read(&pem, path, true);
    if (kg_ok(rc))
        rc = kg_p256_from_pem(out, (const char *)pem.data, pem.len);
    kg_buf_free(&pem);
    if (kg_failed(rc))
        return kg_error_context("loading '%s'", path);
    return KG_OK;
}

kg_result kms_state_save_p256(const char *path, const kg_p256_key *key)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE);
    kg_result rc = kg_p256_private_pem(&pem, key);
    if (kg_ok(rc))
        rc = kms_state_create(path, pem.data, pem.len, 0600);
    kg_buf_free(&pem);
    return rc;
}

kg_result kms_state_load_cert(X509 **out, const char *path)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE + 1);
    kg_result rc = kms_state_read(&pem, path, false);
    if (kg_ok(rc))
        rc = kg_kms_x509_from_pem(out, (const char *)pem.data, pem.len);
    kg_buf_free(&pem);
    if (kg_failed(rc))
        return kg_error_context("loading '%s'", path);
    return KG_OK;
}

kg_result kms_state_save_cert(const char *path, X509 *cert)
{
    kg_buf pem;
    kg_buf_init(&pem, KMS_MAX_STATE_FILE);
    kg_result rc = kg_kms_x509_pem(&pem, cert);
    if (kg_ok(rc))
        rc = kms_state_create(path, pem.data, pem.len, 0644);
    kg_buf_free(&pem);
    return rc;
}

kg_result kms_state_cert_pem(char **out, X509 *cert)
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

kg_result kms_state_load_or_issue(X509 **out, const char *path, kg_p256_key *key,
                                  const kg_kms_cert_spec *spec, EVP_PKEY *issuer_key, X509 *issuer)
{
    if (kms_state_exists(path)) {
        KG_GUARD(kms_state_load_cert(out, path));
        KG_ENSURE(X509_check_private_key(*out, kg_p256_evp(key)) == 1, KG_ERR_VERIFY,
                  "certificate '%s' does not match its key", path);
        return KG_OK;
    }
    KG_GUARD(kg_kms_x509_issue(out, kg_p256_evp(key), spec, issuer_key, issuer));
    return kms_state_save_cert(path, *out);
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
    return kms_state_path(out, n, k, name);
}

/* The root issues exactly two kinds of certificates: this run's server leaf and app CAs
 * (which issue leaves), so its path length is 1. */
static const kg_kms_cert_spec k_root_spec = {
    .common_name = "keygate KMS root CA", .is_ca = true, .path_len = 1, .days = 365 * 20};

kg_result kms_state_root_ca_cert(X509 **out, const kms *k, uint32_t epoch, kg_p256_key *key)
{
    char path[KG_KMS_PATH_MAX + 32];
    KG_GUARD(root_ca_path(path, sizeof(path), k, epoch));
    if (epoch > 0 && kms_state_exists(path)) {
        /* a certificate of a proposal that never went further (another key): issue anew */
        X509 *old = NULL;
        KG_GUARD(kms_state_load_cert(&old, path));
        bool same = X509_check_private_key(old, kg_p256_evp(key)) == 1;
        ERR_clear_error();
        if (same) {
            *out = old;
            return KG_OK;
        }
        X509_free(old);
        KG_ENSURE(unlink(path) == 0, KG_ERR_IO, "cannot replace '%s': %s", path, strerror(errno));
    }
    return kms_state_load_or_issue(out, path, key, &k_root_spec, NULL, NULL);
}

kg_result kms_state_save_root_ca_cert(const kms *k, uint32_t epoch, X509 *cert)
{
    char path[KG_KMS_PATH_MAX + 32];
    KG_GUARD(root_ca_path(path, sizeof(path), k, epoch));
    if (kms_state_exists(path))
        return KG_OK;
    return kms_state_save_cert(path, cert);
}
