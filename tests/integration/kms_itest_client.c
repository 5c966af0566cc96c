/* kms_itest_client.c - command-line RA-TLS client of keygate-kms used by kms_itest.sh: boots a
 * simulated app VM, presents a (possibly broken) RA-TLS certificate, calls one method, and can
 * check released keys against the docs/protocol.md section 5 derivation from the KMS's root keys.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "keygate/kdf.h"
#include "kms_test_client.h"

static kg_result read_file(kg_buf *out, const char *path)
{
    FILE *f = fopen(path, "rb");
    KG_ENSURE(f != NULL, KG_ERR_IO, "cannot open '%s'", path);
    uint8_t chunk[4096];
    size_t n;
    kg_result rc = KG_OK;
    while (kg_ok(rc) && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = kg_buf_append(out, chunk, n);
    fclose(f);
    KG_GUARD(rc);
    return kg_buf_terminate(out);
}

/* Derives the expected keys from the root keys in state_dir and compares the reply. */
static kg_result check_keys(const char *state_dir, const char *reply, const uint8_t app_id[20],
                            const uint8_t *instance_id)
{
    char path[1100];
    kg_buf pem, hex;
    kg_buf_init(&pem, 65536);
    kg_buf_init(&hex, 256);
    kg_root_keys root;
    kg_app_keys keys;
    kg_p256_key *ca = NULL;
    json_t *doc = NULL;
    kg_result rc = KG_ERROR;
    snprintf(path, sizeof(path), "%s/root-ca.key", state_dir);
    KG_GUARD_C(read_file(&pem, path));
    KG_GUARD_C(kg_p256_from_pem(&ca, (const char *)pem.data, pem.len));
    KG_GUARD_C(kg_p256_scalar(root.ca_scalar, ca));
    snprintf(path, sizeof(path), "%s/root-k256.key", state_dir);
    KG_GUARD_C(read_file(&hex, path));
    hex.data[64] = 0;
    KG_GUARD_C(kg_hex_decode_exact(root.k256_scalar, 32, (const char *)hex.data));
    KG_GUARD_C(kg_kdf_app_keys(&keys, &root, app_id, instance_id, instance_id ? 20 : 0));
    doc = json_loads(reply, 0, NULL);
    KG_ENSURE_C(doc != NULL, KG_ERR_INPUT, "reply is not JSON");
    struct {
        const char *field;
        const uint8_t *want;
        size_t n;
    } f[] = {{"disk_crypt_key", keys.disk_key, 32},
             {"env_crypt_key", keys.env_key, 32},
             {"k256_key", keys.k256_scalar, 32},
             {"k256_signature", keys.k256_signature, 65}};
    for (size_t i = 0; i < 4; i++) {
        char want[2 * 65 + 1];
        KG_GUARD_C(kg_hex_encode(want, sizeof(want), f[i].want, f[i].n));
        const char *got = json_string_value(json_object_get(doc, f[i].field));
        KG_ENSURE_C(got != NULL && strcmp(got, want) == 0, KG_ERR_VERIFY,
                    "'%s' does not match the derivation", f[i].field);
    }
    rc = KG_OK;
cleanup:
    json_decref(doc);
    kg_p256_free(ca);
    kg_kdf_root_keys_wipe(&root);
    kg_kdf_app_keys_wipe(&keys);
    kg_buf_free(&pem);
    kg_buf_free(&hex);
    return rc;
}

/* {"api_version":1,"csr":"<hex DER>"} for a CSR of the identity's own key (SignCert). */
static kg_result csr_body(char **out, const kg_kms_client_identity *id)
{
    X509_REQ *req = X509_REQ_new();
    KG_ENSURE(req != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = KG_ERROR;
    unsigned char *der = NULL;
    char *hex = NULL;
    X509_NAME *name = X509_REQ_get_subject_name(req);
    KG_ENSURE_C(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                           (const unsigned char *)"app.keygate.test", -1, -1,
                                           0) == 1 &&
                    X509_REQ_set_pubkey(req, kg_p256_evp(id->key)) == 1 &&
                    X509_REQ_sign(req, kg_p256_evp(id->key), EVP_sha256()) > 0,
                KG_ERR_CRYPTO, "making the CSR");
    int n = i2d_X509_REQ(req, &der);
    KG_ENSURE_C(n > 0, KG_ERR_CRYPTO, "encoding the CSR");
    hex = malloc(2 * (size_t)n + 64);
    KG_ENSURE_C(hex != NULL, KG_ERR_NOMEM, "out of memory");
    static const char prefix[] = "{\"api_version\":1,\"csr\":\"";
    size_t p = sizeof(prefix) - 1;
    memcpy(hex, prefix, p);
    KG_GUARD_C(kg_hex_encode(hex + p, 2 * (size_t)n + 1, der, (size_t)n));
    memcpy(hex + p + 2 * (size_t)n, "\"}", 3);
    *out = hex;
    hex = NULL;
    rc = KG_OK;
cleanup:
    free(hex);
    OPENSSL_free(der);
    X509_REQ_free(req);
    return rc;
}

int main(int argc, char **argv)
{
    const char *kms = NULL, *method = NULL, *body = "", *sim = NULL, *vm = NULL;
    const char *app_hex = NULL, *compose_hex = NULL, *inst_hex = NULL, *cert_mode = "ratls";
    const char *state_dir = NULL;
    bool want_csr = false;
    char *csr = NULL;
    static const struct option opts[] = {{"kms", required_argument, NULL, 'k'},
                                         {"method", required_argument, NULL, 'm'},
                                         {"body", required_argument, NULL, 'b'},
                                         {"sim", required_argument, NULL, 's'},
                                         {"vm", required_argument, NULL, 'v'},
                                         {"app-id", required_argument, NULL, 'a'},
                                         {"compose-hash", required_argument, NULL, 'c'},
                                         {"instance-id", required_argument, NULL, 'i'},
                                         {"cert", required_argument, NULL, 'C'},
                                         {"check-keys", required_argument, NULL, 'K'},
                                         {"csr", no_argument, NULL, 'R'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kms = optarg; break;
        case 'm': method = optarg; break;
        case 'b': body = optarg; break;
        case 's': sim = optarg; break;
        case 'v': vm = optarg; break;
        case 'a': app_hex = optarg; break;
        case 'c': compose_hex = optarg; break;
        case 'i': inst_hex = optarg; break;
        case 'C': cert_mode = optarg; break;
        case 'K': state_dir = optarg; break;
        case 'R': want_csr = true; break;
        default: return 2;
        }
    }
    if (kms == NULL || method == NULL) {
        fprintf(stderr,
                "usage: kms-itest-client --kms HOST:PORT --method M [--body JSON] [--sim DIR "
                "--vm NAME --app-id HEX --compose-hash HEX [--instance-id HEX]] [--cert "
                "ratls|none|tampered|unbound|plain] [--check-keys STATE_DIR]\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(kms, ':');
    if (colon == NULL || (size_t)(colon - kms) >= sizeof(host))
        return 2;
    memcpy(host, kms, (size_t)(colon - kms));
    host[colon - kms] = 0;
    uint16_t port = (uint16_t)strtoul(colon + 1, NULL, 10);

    kg_kms_client_cert_mode mode = KG_KMS_CERT_RATLS;
    if (strcmp(cert_mode, "none") == 0)
        mode = KG_KMS_CERT_NONE;
    else if (strcmp(cert_mode, "tampered") == 0)
        mode = KG_KMS_CERT_TAMPERED;
    else if (strcmp(cert_mode, "unbound") == 0)
        mode = KG_KMS_CERT_UNBOUND;
    else if (strcmp(cert_mode, "plain") == 0)
        mode = KG_KMS_CERT_PLAIN;

    uint8_t app_id[20] = {0}, compose[32] = {0}, inst[20];
    bool have_identity = sim && vm && app_hex && compose_hex;
    if (have_identity && (kg_failed(kg_hex_decode_exact(app_id, 20, app_hex)) ||
                          kg_failed(kg_hex_decode_exact(compose, 32, compose_hex)) ||
                          (inst_hex && kg_failed(kg_hex_decode_exact(inst, 20, inst_hex))))) {
        fprintf(stderr, "kms-itest-client: %s\n", kg_error_message());
        return 2;
    }
    kg_kms_client_identity id = {0};
    SSL_CTX *ctx = NULL;
    kg_buf resp;
    kg_buf_init(&resp, 4u << 20);
    int status = 0, exit_code = 1;
    if (have_identity || mode == KG_KMS_CERT_PLAIN || mode == KG_KMS_CERT_NONE) {
        if (kg_failed(kg_kms_client_identity_new(&id, sim, vm, app_id, compose,
                                                 inst_hex ? inst : NULL, mode)))
            goto fail;
    }
    if (want_csr) {
        if (id.key == NULL || kg_failed(csr_body(&csr, &id)))
            goto fail;
        body = csr;
    }
    if (kg_failed(kg_kms_client_ctx_new(&ctx, id.cert ? &id : NULL)) ||
        kg_failed(kg_kms_client_call(ctx, host, port, method, body, &status, &resp)))
        goto fail;
    fprintf(stderr, "HTTP %d\n", status);
    printf("%s\n", resp.data ? (const char *)resp.data : "");
    exit_code = status == 200 ? 0 : 1;
    if (status == 200 && state_dir != NULL) {
        if (kg_failed(
                check_keys(state_dir, (const char *)resp.data, app_id, inst_hex ? inst : NULL)))
            goto fail;
        fprintf(stderr, "keys match the derivation\n");
    }
    goto done;
fail:
    fprintf(stderr, "kms-itest-client: %s\n", kg_error_message());
    exit_code = 3;
done:
    free(csr);
    SSL_CTX_free(ctx);
    kg_kms_client_identity_free(&id);
    kg_buf_free(&resp);
    return exit_code;
}
