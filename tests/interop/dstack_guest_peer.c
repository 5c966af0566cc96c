/* dstack_guest_peer.c - the guest side of dstack_guest_test.sh: what a dstack OS image (v0.5.10 and
 * later) makes in a simulated app VM, for curl to send to keygate-kms as the guest sends it.
 *
 *   kg-dstack-guest boot SIM VM APP_HEX COMPOSE_HEX
 *       measures the app's boot events into the VM's RTMR3 (once per VM)
 *   kg-dstack-guest cert SIM VM v8|legacy TEMP_CA_CERT.pem TEMP_CA_KEY.pem|- KEY.pem CERT.pem
 *       a fresh key and its RA-TLS client certificate: v8 issued by the KMS's temporary CA with
 *       the .8 attestation (dstack's generate_ra_cert), legacy self-signed with .1/.2
 *   kg-dstack-guest csr SIM VM EXT_QUOTE(0|1) MODE KEY.pem BODY.json [SAN...]
 *       a SignCert v2 request body {"api_version":2,"csr","signature","vm_config"} for a fresh
 *       key, as dstack-util's sign_cert_request makes it (subject "dstack-guest-agent", client
 *       auth, ext_app_info, not_after in a year; with SANs: server auth too, org "Org").
 *       MODE: ok | othersig (signed by another key) | unbound (the quote binds another key)
 *       | variant (an SEV-SNP attestation)
 * Exit 0 on success, 1 with the error on stderr. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keygate/eventlog.h"
#include "keygate/fileio.h"
#include "keygate/kms_x509.h"
#include "keygate/ratls.h"
#include "keygate/tee.h"

/* the vm_config string the guest sends, as a JSON string literal */
#define VM_CONFIG_JSON "\"{\\\"cpu_count\\\":1,\\\"memory_size\\\":2147483648}\""

static kg_result read_text(kg_buf *out, const char *path)
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

static kg_result write_text(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    KG_ENSURE(f != NULL, KG_ERR_IO, "cannot write '%s'", path);
    bool ok = fwrite(data, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    KG_ENSURE(ok, KG_ERR_IO, "cannot write '%s'", path);
    return KG_OK;
}

static kg_result write_key(const char *path, const kg_p256_key *key)
{
    kg_buf pem;
    kg_buf_init(&pem, 16384);
    kg_result rc = kg_p256_private_pem(&pem, key);
    if (kg_ok(rc))
        rc = write_text(path, pem.data, pem.len);
    kg_buf_free(&pem);
    return rc;
}

static kg_result boot(const char *sim, const char *vm, const char *app_hex, const char *comp_hex)
{
    uint8_t app[20], compose[32], instance[20];
    KG_GUARD(kg_hex_decode_exact(app, sizeof(app), app_hex));
    KG_GUARD(kg_hex_decode_exact(compose, sizeof(compose), comp_hex));
    memset(instance, 0x1d, sizeof(instance));
    kg_tee *tee = NULL;
    kg_eventlog log;
    kg_eventlog_init(&log);
    kg_result rc = KG_ERROR;
    KG_GUARD_C(kg_tee_open_sim(&tee, sim, vm));
    KG_GUARD_C(kg_tee_read_eventlog(tee, &log));
    if (log.count == 0) {
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_SYSTEM_PREPARING, NULL, 0));
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_APP_ID, app, sizeof(app)));
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_COMPOSE_HASH, compose, sizeof(compose)));
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_INSTANCE_ID, instance, sizeof(instance)));
        KG_GUARD_C(kg_tee_extend(tee, KG_EVENT_BOOT_MR_DONE, NULL, 0));
    }
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&log);
    kg_tee_free(tee);
    return rc;
}

static kg_result cert(const char *sim, const char *vm, const char *format, const char *ca_cert,
                      const char *ca_key, const char *key_out, const char *cert_out)
{
    kg_result rc = KG_ERROR;
    kg_tee *tee = NULL;
    kg_p256_key *key = NULL, *issuer = NULL;
    X509 *ca = NULL;
    unsigned char *ca_der = NULL;
    kg_buf text, der;
    kg_buf_init(&text, 1u << 16);
    kg_buf_init(&der, KG_MAX_RATLS_CERT_LEN);
    bool v8 = strcmp(format, "v8") == 0;
    KG_ENSURE_C(v8 || strcmp(format, "legacy") == 0, KG_ERR_USAGE, "format: v8 or legacy");
    kg_ratls_cert_opts opts = {.common_name = "dstack-guest",
                               .format = v8 ? KG_RATLS_FORMAT_V8 : KG_RATLS_FORMAT_LEGACY};
    if (v8) {
        KG_GUARD_C(read_text(&text, ca_cert));
        KG_GUARD_C(kg_kms_x509_from_pem(&ca, (const char *)text.data, text.len));
        int n = i2d_X509(ca, &ca_der);
        KG_ENSURE_C(n > 0, KG_ERR_CRYPTO, "temp CA DER");
        kg_buf_reset(&text);
        text.len = 0;
        KG_GUARD_C(read_text(&text, ca_key));
        KG_GUARD_C(kg_p256_from_pem(&issuer, (const char *)text.data, text.len));
        opts.issuer_key = issuer;
        opts.issuer_cert_der = ca_der;
        opts.issuer_cert_der_len = (size_t)n;
    }
    KG_GUARD_C(kg_tee_open_sim(&tee, sim, vm));
    KG_GUARD_C(kg_p256_generate(&key));
    KG_GUARD_C(kg_ratls_cert_new(&der, tee, key, &opts));
    KG_GUARD_C(write_key(key_out, key));
    const unsigned char *p = der.data;
    X509 *c = d2i_X509(NULL, &p, (long)der.len);
    KG_ENSURE_C(c != NULL, KG_ERR_CRYPTO, "certificate DER");
    kg_buf pem;
    kg_buf_init(&pem, KG_MAX_RATLS_CERT_LEN * 2);
    rc = kg_kms_x509_pem(&pem, c);
    if (kg_ok(rc))
        rc = write_text(cert_out, pem.data, pem.len);
    kg_buf_free(&pem);
    X509_free(c);
cleanup:
    OPENSSL_free(ca_der);
    X509_free(ca);
    kg_p256_free(key);
    kg_p256_free(issuer);
    kg_tee_free(tee);
    kg_buf_free(&text);
    kg_buf_free(&der);
    return rc;
}

/* DER ECDSA-SHA256 over msg by key. */
static kg_result sign(kg_buf *out, const kg_p256_key *key, const uint8_t *msg, size_t n)
{
    uint8_t sig[KG_CSR_V2_MAX_SIG_LEN];
    size_t len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL &&
              EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, kg_p256_evp(key)) == 1 &&
              EVP_DigestSign(ctx, sig, &len, msg, n) == 1;
    EVP_MD_CTX_free(ctx);
    KG_ENSURE(ok, KG_ERR_CRYPTO, "signing");
    return kg_buf_append(out, sig, len);
}

static kg_result put_hex_field(kg_buf *out, const char *key, const kg_buf *b)
{
    char *hex = malloc(2 * b->len + 1);
    KG_ENSURE(hex != NULL, KG_ERR_NOMEM, "out of memory");
    kg_result rc = kg_hex_encode(hex, 2 * b->len + 1, b->data, b->len);
    if (kg_ok(rc))
        rc = kg_buf_printf(out, ",\"%s\":\"%s\"", key, hex);
    free(hex);
    return rc;
}

static kg_result csr(const char *sim, const char *vm, bool ext_quote, const char *mode,
                     const char *key_out, const char *body_out, const char *const *sans,
                     size_t n_sans)
{
    kg_result rc = KG_ERROR;
    kg_tee *tee = NULL;
    kg_p256_key *key = NULL, *other = NULL;
    kg_buf scale, sig, quote, log_json, att, body;
    kg_eventlog log;
    kg_eventlog_init(&log);
    kg_buf_init(&scale, KG_CSR_V2_MAX_LEN);
    kg_buf_init(&sig, 1024);
    kg_buf_init(&quote, KG_MAX_TEE_QUOTE_LEN);
    kg_buf_init(&log_json, KG_MAX_EVENTLOG_JSON_LEN);
    kg_buf_init(&att, KG_RATLS_MAX_ATTESTATION_LEN);
    kg_buf_init(&body, 4u * KG_CSR_V2_MAX_LEN);
    kg_csr_v2_request req = {.subject = "dstack-guest-agent",
                             .usage_client_auth = true,
                             .ext_quote = ext_quote,
                             .ext_app_info = true,
                             .has_not_after = true,
                             .not_after = (uint64_t)time(NULL) + 365u * 86400u,
                             .sans = sans,
                             .n_sans = n_sans};
    if (n_sans > 0) {
        req.usage_server_auth = true;
        req.org_name = "Org";
    }
    KG_GUARD_C(kg_tee_open_sim(&tee, sim, vm));
    KG_GUARD_C(kg_p256_generate(&key));
    KG_GUARD_C(kg_p256_generate(&other));
    uint8_t rd[64];
    if (strcmp(mode, "ok") == 0 || strcmp(mode, "othersig") == 0) {
        /* the guest's: the quote's REPORTDATA binds the CSR key (RaTlsCert content type) */
        KG_GUARD_C(kg_csr_v2_new(&scale, &sig, tee, key, &req, KG_RATLS_ATTESTATION_V0));
        if (strcmp(mode, "othersig") == 0) {
            sig.len = 0;
            KG_GUARD_C(sign(&sig, other, scale.data, scale.len));
        }
    } else if (strcmp(mode, "unbound") == 0) {
        /* a genuine quote and event log, but REPORTDATA over another key */
        KG_GUARD_C(kg_ratls_attest_key(&quote, &log_json, tee, other));
        KG_GUARD_C(kg_eventlog_parse(&log, (const char *)log_json.data, log_json.len));
        KG_GUARD_C(kg_ratls_key_report_data(rd, other));
        KG_GUARD_C(kg_ratls_attestation_encode(&att, KG_RATLS_ATTESTATION_V0, quote.data, quote.len,
                                               &log, rd, NULL));
        KG_GUARD_C(kg_csr_v2_build(&scale, &sig, key, &req, att.data, att.len));
    } else if (strcmp(mode, "variant") == 0) {
        /* VersionedAttestation V0 whose quote is AttestationQuote::DstackAmdSevSnp (index 3) */
        static const uint8_t snp[] = {0x00, 0x03, 0x00, 0x00, 0x00};
        KG_GUARD_C(kg_csr_v2_build(&scale, &sig, key, &req, snp, sizeof(snp)));
    } else {
        KG_BAIL_C(KG_ERR_USAGE, "mode: ok, othersig, unbound or variant");
    }
    KG_GUARD_C(write_key(key_out, key));
    KG_GUARD_C(kg_buf_append_str(&body, "{\"api_version\":2,\"vm_config\":" VM_CONFIG_JSON));
    KG_GUARD_C(put_hex_field(&body, "csr", &scale));
    KG_GUARD_C(put_hex_field(&body, "signature", &sig));
    KG_GUARD_C(kg_buf_append_str(&body, "}"));
    KG_GUARD_C(write_text(body_out, body.data, body.len));
    rc = KG_OK;
cleanup:
    kg_eventlog_free(&log);
    kg_tee_free(tee);
    kg_p256_free(key);
    kg_p256_free(other);
    kg_buf_free(&scale);
    kg_buf_free(&sig);
    kg_buf_free(&quote);
    kg_buf_free(&log_json);
    kg_buf_free(&att);
    kg_buf_free(&body);
    return rc;
}

int main(int argc, char **argv)
{
    kg_result rc = KG_ERROR;
    if (argc == 6 && strcmp(argv[1], "boot") == 0)
        rc = boot(argv[2], argv[3], argv[4], argv[5]);
    else if (argc == 9 && strcmp(argv[1], "cert") == 0)
        rc = cert(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8]);
    else if (argc >= 8 && strcmp(argv[1], "csr") == 0)
        rc = csr(argv[2], argv[3], strcmp(argv[4], "1") == 0, argv[5], argv[6], argv[7],
                 (const char *const *)argv + 8, (size_t)(argc - 8));
    else {
        fprintf(stderr, "usage: kg-dstack-guest boot|cert|csr ... (see dstack_guest_peer.c)\n");
        return 2;
    }
    if (kg_failed(rc)) {
        fprintf(stderr, "kg-dstack-guest: %s\n", kg_error_message());
        return 1;
    }
    return 0;
}
