/* cmd_recovery.c - `keygate recovery keygen|decrypt-share` (a recovery holder's side) and
 * `keygate kms recover` (delivering holders' shares to a recovering KMS): docs/design.md,
 * "Sealed root keys". A holder's share is in the clear only inside decrypt-share, which boxes
 * it to the requesting KMS after verifying that KMS's attestation and governance standing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "devnet.h"
#include "keygate/eth.h"
#include "keygate/fileio.h"
#include "keygate/quote.h"
#include "keygate/recovery.h"

#define HOLDER_KEY_MAX 256u

static void recovery_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate recovery keygen --out FILE\n"
            "       keygate recovery decrypt-share --key FILE --sealed FILE --request FILE\n"
            "                --rpc-url URL --pccs URL [--tee-root-ca PEM] --out FILE\n\n"
            "A recovery holder's tools (docs/design.md, \"Sealed root keys\"):\n"
            "  keygen         make a holder key: the X25519 secret goes to FILE (0600, hex), the\n"
            "                 public key is printed (name it on chain: setRecoveryHolders)\n"
            "  decrypt-share  open this holder's share of the sealed file and box it to the KMS\n"
            "                 that wrote the recovery request, after verifying that KMS: its\n"
            "                 RA-TLS attestation (full DCAP via --pccs, under Intel's root or\n"
            "                 --tee-root-ca), its measured identity (a KMS of the file's\n"
            "                 deployment), its signature over the request, and isKmsAllowed on\n"
            "                 the KMS contract at --rpc-url's latest block. The share never\n"
            "                 leaves in the clear; FILE is for `keygate kms recover`.\n\n"
            "Exit status: 0 ok, 1 failed (nothing written), 2 usage error.\n");
}

static kg_result read_text(kg_buf *out, const char *path, size_t max)
{
    kg_buf_init(out, max + 1);
    KG_GUARD_CTX(kg_file_read(out, path, max), "'%s'", path);
    return kg_buf_terminate(out);
}

static kg_result read_sealed(kg_sealed_file *f, const char *path)
{
    kg_buf raw;
    kg_buf_init(&raw, KG_SEALED_MAX_LEN + 1);
    kg_result rc = kg_file_read(&raw, path, KG_SEALED_MAX_LEN + 1);
    if (kg_ok(rc))
        rc = kg_sealed_parse(f, raw.data, raw.len);
    kg_buf_free(&raw);
    KG_GUARD_CTX(rc, "'%s'", path);
    return KG_OK;
}

static kg_result read_holder_key(uint8_t secret[KG_X25519_LEN], const char *path)
{
    kg_buf raw;
    kg_buf_init(&raw, HOLDER_KEY_MAX + 1);
    kg_result rc = kg_file_read_secret(&raw, path, HOLDER_KEY_MAX);
    if (kg_ok(rc)) {
        size_t n = raw.len;
        while (n > 0 && (raw.data[n - 1] == '\n' || raw.data[n - 1] == '\r'))
            n--;
        raw.len = n;
        rc = kg_buf_terminate(&raw);
    }
    if (kg_ok(rc))
        rc = kg_hex_decode_exact(secret, KG_X25519_LEN, (const char *)raw.data);
    kg_buf_free(&raw);
    KG_GUARD_CTX(rc, "holder key '%s'", path);
    return KG_OK;
}

static int do_keygen(int argc, char **argv)
{
    const char *out = NULL;
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'o') {
            recovery_usage(stderr);
            return KG_EXIT_USAGE;
        }
        out = optarg;
    }
    if (out == NULL || optind != argc) {
        recovery_usage(stderr);
        return KG_EXIT_USAGE;
    }
    uint8_t sec[KG_X25519_LEN], pub[KG_X25519_LEN];
    char hex[2 * KG_X25519_LEN + 2], pub_hex[2 * KG_X25519_LEN + 1];
    int rc = KG_EXIT_FAILED;
    if (kg_failed(kg_x25519_generate(sec, pub)) ||
        kg_failed(kg_hex_encode(hex, sizeof(hex), sec, sizeof(sec))) ||
        kg_failed(kg_hex_encode(pub_hex, sizeof(pub_hex), pub, sizeof(pub)))) {
        rc = kg_cli_fail();
        goto cleanup;
    }
    hex[2 * KG_X25519_LEN] = '\n';
    if (kg_failed(kg_file_create(out, hex, sizeof(hex) - 1, 0600))) {
        rc = kg_cli_fail();
        goto cleanup;
    }
    printf("0x%s\n", pub_hex);
    rc = KG_EXIT_OK;
cleanup:
    kg_memzero(sec, sizeof(sec));
    kg_memzero(hex, sizeof(hex));
    return rc;
}

static kg_result decrypt_share(const char *key_path, const char *sealed_path,
                               const char *request_path, const char *rpc, const char *pccs,
                               const char *root_path, const char *out)
{
    kg_result rc = KG_ERROR;
    uint8_t secret[KG_X25519_LEN];
    kg_sealed_file *f = calloc(1, sizeof(*f));
    kg_ratls_identity *id = calloc(1, sizeof(*id));
    kg_recovery_request rq;
    kg_shamir_share share;
    kg_buf req, root, js;
    kg_dcap_verifier *v = NULL;
    kg_eth_client *eth = NULL;
    memset(&rq, 0, sizeof(rq));
    memset(&share, 0, sizeof(share));
    kg_buf_init(&req, 0);
    kg_buf_init(&root, 64u * 1024u);
    kg_buf_init(&js, KG_RECOVERY_MAX_SHARE_JSON);
    KG_ENSURE_C(f != NULL && id != NULL, KG_ERR_NOMEM, "out of memory");
    KG_GUARD_C(read_holder_key(secret, key_path));
    KG_GUARD_C(read_sealed(f, sealed_path));
    KG_GUARD_C(read_text(&req, request_path, KG_RECOVERY_MAX_JSON));
    KG_GUARD_CTX_C(kg_recovery_request_parse(&rq, (const char *)req.data, req.len), "'%s'",
                   request_path);
    if (root_path != NULL)
        KG_GUARD_C(kg_cli_read_cert_der(&root, root_path, 64u * 1024u));
    KG_GUARD_C(kg_dcap_verifier_new(&v, root_path ? root.data : NULL, root.len));
    KG_GUARD_C(kg_eth_client_new(&eth, rpc, 10000));
    kg_ratls_policy pol = {.verifier = v, .pccs_url = pccs};
    /* Verify the requester before the share is even opened. */
    KG_GUARD_C(kg_recovery_request_verify(id, &rq, f, &pol, eth));
    KG_GUARD_C(kg_sealed_holder_share(&share, f, secret));
    KG_GUARD_C(kg_recovery_share_seal(&js, &rq, f, &share));
    KG_GUARD_C(kg_file_create(out, js.data, js.len, 0600));
    fprintf(stderr, "keygate recovery: share x = %u boxed to the attested, allowed KMS in '%s'\n",
            share.x, out);
    rc = KG_OK;
cleanup:
    kg_memzero(secret, sizeof(secret));
    kg_memzero(&share, sizeof(share));
    kg_recovery_request_free(&rq);
    kg_eth_client_free(eth);
    kg_dcap_verifier_free(v);
    kg_buf_free(&req);
    kg_buf_free(&root);
    kg_buf_free(&js);
    free(f);
    free(id);
    return rc;
}

static int do_decrypt_share(int argc, char **argv)
{
    const char *key = NULL, *sealed = NULL, *request = NULL, *rpc = NULL, *pccs = NULL,
               *root = NULL, *out = NULL;
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},     {"sealed", required_argument, NULL, 's'},
        {"request", required_argument, NULL, 'q'}, {"rpc-url", required_argument, NULL, 'r'},
        {"pccs", required_argument, NULL, 'p'},    {"tee-root-ca", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},     {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 's': sealed = optarg; break;
        case 'q': request = optarg; break;
        case 'r': rpc = optarg; break;
        case 'p': pccs = optarg; break;
        case 't': root = optarg; break;
        case 'o': out = optarg; break;
        default: recovery_usage(stderr); return KG_EXIT_USAGE;
        }
    }
    if (!key || !sealed || !request || !rpc || !pccs || !out || optind != argc) {
        fprintf(stderr, "keygate recovery decrypt-share: --key, --sealed, --request, --rpc-url, "
                        "--pccs and --out are required\n");
        return KG_EXIT_USAGE;
    }
    if (kg_failed(decrypt_share(key, sealed, request, rpc, pccs, root, out)))
        return kg_cli_fail();
    return KG_EXIT_OK;
}

int kg_cmd_recovery(int argc, char **argv)
{
    static const kg_cli_group group = {"recovery", recovery_usage};
    static const kg_cli_command subs[] = {{"keygen", do_keygen, NULL},
                                          {"decrypt-share", do_decrypt_share, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc, argv);
}

/* ---- keygate kms recover --state-dir DIR SHARE... ------------------------------------------- */

/* Each share file must be boxed to the waiting KMS's request (its X25519 key) before it is put
 * where the KMS takes it: a share for another request would only be refused there, later. */
static kg_result deliver(const char *state_dir, char **files, int n)
{
    kg_result rc = KG_ERROR;
    kg_buf dir, req, share, dst;
    kg_recovery_request rq;
    memset(&rq, 0, sizeof(rq));
    kg_buf_init(&dst, 0);
    kg_buf_init(&share, 0);
    KG_GUARD(kg_path_join(&dir, state_dir, "recovery"));
    KG_GUARD_C(kg_path_join(&req, (char *)dir.data, "request.json"));
    {
        kg_buf text;
        KG_GUARD_CTX_C(read_text(&text, (char *)req.data, KG_RECOVERY_MAX_JSON),
                       "no recovery request (is keygate-kms --recover running on '%s'?)",
                       state_dir);
        kg_result r = kg_recovery_request_parse(&rq, (const char *)text.data, text.len);
        kg_buf_free(&text);
        KG_GUARD_C(r);
    }
    for (int i = 0; i < n; i++) {
        kg_buf_free(&share);
        KG_GUARD_C(read_text(&share, files[i], KG_RECOVERY_MAX_SHARE_JSON));
        uint8_t to[KG_X25519_LEN], x = 0;
        KG_GUARD_CTX_C(kg_recovery_share_peek(to, &x, (const char *)share.data, share.len), "'%s'",
                       files[i]);
        KG_ENSURE_C(memcmp(to, rq.x25519_pub, sizeof(to)) == 0, KG_ERR_INPUT,
                    "'%s' is a share for another recovery request (its key is not the waiting "
                    "KMS's)",
                    files[i]);
        char name[32];
        snprintf(name, sizeof(name), "x%u.share", (unsigned)x);
        kg_buf_free(&dst);
        KG_GUARD_C(kg_path_join(&dst, (char *)dir.data, name));
        KG_GUARD_C(kg_file_write_atomic((char *)dst.data, share.data, share.len, 0600));
        fprintf(stderr, "keygate kms recover: delivered '%s' as %s\n", files[i], (char *)dst.data);
    }
    rc = KG_OK;
cleanup:
    kg_recovery_request_free(&rq);
    kg_buf_free(&dir);
    kg_buf_free(&req);
    kg_buf_free(&share);
    kg_buf_free(&dst);
    return rc;
}

int kg_cmd_kms_recover(int argc, char **argv)
{
    const char *state = NULL;
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 's')
            goto usage;
        state = optarg;
    }
    if (state == NULL || optind >= argc)
        goto usage;
    if (kg_failed(deliver(state, argv + optind, argc - optind)))
        return kg_cli_fail();
    return KG_EXIT_OK;
usage:
    fprintf(stderr,
            "Usage: keygate kms recover --state-dir DIR SHARE_FILE...\n\n"
            "Delivers recovery holders' boxed shares (keygate recovery decrypt-share) to the\n"
            "keygate-kms --recover waiting on state_dir DIR (DIR/recovery/); it opens them and\n"
            "unseals once it has the threshold.\n");
    return KG_EXIT_USAGE;
}
