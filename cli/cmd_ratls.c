/* cmd_ratls.c - `keygate ratls`: inspect (verify an RA-TLS certificate and print its identity)
 * and new (make an RA-TLS key and certificate from a TEE). */
#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "devnet.h"
#include "keygate/bytes.h"
#include "keygate/crypto.h"
#include "keygate/fileio.h"
#include "keygate/quote.h"
#include "keygate/ratls.h"
#include "keygate/tee.h"

#define MAX_SMALL_FILE (64u * 1024u)

static void ratls_usage(FILE *out)
{
    fprintf(out, "Usage:\n"
                 "  keygate ratls inspect CERT [--collateral FILE | --pccs URL] [--root-ca FILE]\n"
                 "                             [--at UNIX_TIME]\n"
                 "  keygate ratls new --tee SPEC --cert OUT.pem --key OUT.pem [--usage U]\n"
                 "                    [--app-id HEX] [--cn NAME]\n"
                 "                    [--format legacy|dstack|dstack-msgpack]\n\n"
                 "inspect verifies CERT (PEM or DER) as RA-TLS: key bound to the quote, full DCAP\n"
                 "verification against the collateral (or a PCCS) at the given time (default now)\n"
                 "and the pinned Intel SGX Root CA (or --root-ca, PEM or DER), event log replayed\n"
                 "against RTMR3. Prints the verified identity as one JSON object.\n"
                 "new asks the TEE ('tdx' or 'sim:<platform_dir>:<vm>') for a quote over a fresh\n"
                 "P-256 key; the key file is written with mode 0600. --format: the evidence as\n"
                 "extensions .1 quote + .2 event log (legacy, the default) or as dstack's\n"
                 "attestation .8 (dstack: V0 SCALE, or V1 msgpack when an event needs it;\n"
                 "dstack-msgpack: always V1).\n"
                 "Exit status: 0 verified/ok, 1 failed, 2 usage error.\n");
}

static int fail_json(void)
{
    json_t *o = json_pack("{s:b, s:s, s:s}", "verified", 0, "error", kg_error_message(), "kind",
                          kg_err_name(kg_error_code()));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    json_decref(o);
    return kg_cli_fail();
}

static int do_inspect(int argc, char **argv)
{
    const char *cert = NULL, *coll_path = NULL, *pccs = NULL, *root_path = NULL;
    uint64_t now = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--collateral") == 0 && has) {
            coll_path = argv[++i];
        } else if (strcmp(a, "--pccs") == 0 && has) {
            pccs = argv[++i];
        } else if (strcmp(a, "--root-ca") == 0 && has) {
            root_path = argv[++i];
        } else if (strcmp(a, "--at") == 0 && has) {
            char *end = NULL;
            errno = 0;
            unsigned long long t = strtoull(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || end == argv[i] || t == 0) {
                fprintf(stderr, "keygate ratls inspect: bad --at '%s' (unix seconds)\n", argv[i]);
                return KG_EXIT_USAGE;
            }
            now = t;
        } else if (a[0] != '-' && cert == NULL) {
            cert = a;
        } else {
            fprintf(stderr, "keygate ratls inspect: unexpected argument '%s'\n", a);
            ratls_usage(stderr);
            return KG_EXIT_USAGE;
        }
    }
    if (cert == NULL || (coll_path != NULL && pccs != NULL) || (!coll_path && !pccs)) {
        fprintf(stderr, "keygate ratls inspect: need CERT and exactly one of --collateral or "
                        "--pccs\n");
        return KG_EXIT_USAGE;
    }
    int rc = KG_EXIT_FAILED;
    kg_buf der = {0}, coll = {0}, root = {0}, js = {0};
    kg_dcap_verifier *v = NULL;
    kg_ratls_identity *id = calloc(1, sizeof(*id));
    kg_buf_init(&js, 1 << 20);
    kg_buf_init(&coll, KG_MAX_COLLATERAL_LEN);
    if (id == NULL) {
        fprintf(stderr, "keygate ratls inspect: out of memory\n");
        goto cleanup;
    }
    if (kg_failed(kg_cli_read_cert_der(&der, cert, KG_MAX_RATLS_CERT_LEN)) ||
        (root_path && kg_failed(kg_cli_read_cert_der(&root, root_path, MAX_SMALL_FILE))) ||
        (coll_path && kg_failed(kg_cli_read_file(&coll, coll_path, KG_MAX_COLLATERAL_LEN))) ||
        kg_failed(kg_dcap_verifier_new(&v, root_path ? root.data : NULL, root.len))) {
        rc = fail_json();
        goto cleanup;
    }
    kg_ratls_policy pol = {.verifier = v,
                           .collateral_json = coll_path ? (char *)coll.data : NULL,
                           .collateral_len = coll.len,
                           .pccs_url = pccs,
                           .now = now};
    if (kg_failed(kg_ratls_verify_cert(id, der.data, der.len, &pol)) ||
        kg_failed(kg_ratls_identity_to_json(&js, id))) {
        rc = fail_json();
        goto cleanup;
    }
    printf("%s\n", (char *)js.data);
    rc = KG_EXIT_OK;
cleanup:
    free(id);
    kg_dcap_verifier_free(v);
    kg_buf_free(&der);
    kg_buf_free(&coll);
    kg_buf_free(&root);
    kg_buf_free(&js);
    return rc;
}

static int do_new(int argc, char **argv)
{
    const char *spec = NULL, *cert_out = NULL, *key_out = NULL, *usage = NULL, *app_hex = NULL,
               *cn = NULL, *format = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--tee") == 0)
            slot = &spec;
        else if (strcmp(a, "--cert") == 0)
            slot = &cert_out;
        else if (strcmp(a, "--key") == 0)
            slot = &key_out;
        else if (strcmp(a, "--usage") == 0)
            slot = &usage;
        else if (strcmp(a, "--app-id") == 0)
            slot = &app_hex;
        else if (strcmp(a, "--cn") == 0)
            slot = &cn;
        else if (strcmp(a, "--format") == 0)
            slot = &format;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "keygate ratls new: unexpected argument '%s'\n", a);
            ratls_usage(stderr);
            return KG_EXIT_USAGE;
        }
        *slot = argv[++i];
    }
    if (spec == NULL || cert_out == NULL || key_out == NULL) {
        fprintf(stderr, "keygate ratls new: --tee, --cert and --key are required\n");
        return KG_EXIT_USAGE;
    }
    uint8_t app_id[20];
    if (app_hex != NULL && kg_failed(kg_hex_decode_exact(app_id, 20, app_hex))) {
        fprintf(stderr, "keygate ratls new: --app-id '%s' is not 20 bytes of hex\n", app_hex);
        return KG_EXIT_USAGE;
    }
    kg_ratls_format fmt = KG_RATLS_FORMAT_LEGACY;
    if (format != NULL && kg_failed(kg_ratls_format_from_name(&fmt, format))) {
        fprintf(stderr, "keygate ratls new: --format: %s\n", kg_error_message());
        return KG_EXIT_USAGE;
    }
    int rc = KG_EXIT_FAILED;
    kg_tee *tee = NULL;
    kg_p256_key *key = NULL;
    kg_buf der, pem, keypem;
    kg_buf_init(&der, KG_MAX_RATLS_CERT_LEN);
    kg_buf_init(&pem, 2 * KG_MAX_RATLS_CERT_LEN);
    kg_buf_init(&keypem, 4096);
    kg_ratls_cert_opts o = {0};
    o.common_name = cn;
    o.usage = usage;
    o.app_id = app_hex ? app_id : NULL;
    o.format = fmt;
    BIO *bio = NULL;
    X509 *x = NULL;
    if (kg_failed(kg_tee_open(&tee, spec)) || kg_failed(kg_p256_generate(&key)) ||
        kg_failed(kg_ratls_cert_new(&der, tee, key, &o)) ||
        kg_failed(kg_p256_private_pem(&keypem, key))) {
        rc = kg_cli_fail();
        goto cleanup;
    }
    const uint8_t *p = der.data;
    x = d2i_X509(NULL, &p, (long)der.len);
    bio = BIO_new(BIO_s_mem());
    BUF_MEM *mem = NULL;
    if (x == NULL || bio == NULL || PEM_write_bio_X509(bio, x) != 1) {
        fprintf(stderr, "keygate ratls new: cannot encode the certificate\n");
        goto cleanup;
    }
    BIO_get_mem_ptr(bio, &mem);
    if (kg_failed(kg_file_create(key_out, keypem.data, keypem.len, 0600)) ||
        kg_failed(kg_file_create(cert_out, mem->data, mem->length, 0644))) {
        rc = kg_cli_fail();
        goto cleanup;
    }
    rc = KG_EXIT_OK;
cleanup:
    X509_free(x);
    BIO_free(bio);
    kg_buf_free(&der);
    kg_buf_free(&pem);
    kg_buf_free(&keypem);
    kg_p256_free(key);
    kg_tee_free(tee);
    return rc;
}

int kg_cmd_ratls(int argc, char **argv)
{
    static const kg_cli_group group = {"ratls", ratls_usage};
    static const kg_cli_command subs[] = {{"inspect", do_inspect, NULL}, {"new", do_new, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc, argv);
}
