/* cmd_env.c - `keygate env encrypt`: seals an app's environment (a .env file) to the app's env
 * public key, which the KMS hands out signed by its root secp256k1 key; the signature is
 * checked against the root key recorded on chain, so a man in the middle (or a rogue KMS
 * endpoint) cannot substitute its own key (docs/protocol.md section 5). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "keygate/dotenv.h"
#include "keygate/envcrypt.h"
#include "keygate/kdf.h"

#define ENV_MAX_FILE KG_DOTENV_MAX_LEN
#define ENV_MAX_SIG_AGE_S (24 * 3600) /* a signature_v1 older than this is refused */

static void env_usage(FILE *out)
{
    fprintf(out,
            "Usage: keygate env encrypt --app ID [--state DIR] [--out FILE] FILE.env\n\n"
            "Encrypts FILE.env (Docker Compose's env-file syntax: KEY=VALUE lines, '#' comments,\n"
            "quotes and escapes; interpolation and bare KEYs are refused) to the\n"
            "app's env public key. The key comes from the KMS (GetAppEnvEncryptPubKey) and is\n"
            "accepted only if its signature_v1 recovers to the KMS root key published on chain\n"
            "(kmsInfo of the KMS contract), and only for an app registered with that contract\n"
            "(registeredApps). Prints the hex ciphertext (or writes it to --out).\n\n"
            "  --state DIR          devnet state (default ./%s): KMS URL, chain, KMS contract\n"
            "  --kms-url URL        the KMS (instead of the devnet's)\n"
            "  --rpc-url URL, --kms-contract ADDR   the chain (instead of the devnet's)\n\n"
            "Exit status: 0 ok, 1 failed (e.g. signature does not verify), 2 usage error.\n",
            KG_DEVNET_DEFAULT_DIR);
}

/* The KMS root secp256k1 key from the chain: kmsInfo().k256Pubkey (33 bytes compressed). */
static kg_result chain_root_key(uint8_t out[KG_K256_PUB_LEN], const kg_cli_target *t)
{
    kg_buf ret;
    kg_abi_decoded d[4];
    kg_abi_type ty[4] = {KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES, KG_ABI_T_BYTES};
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_chain_view(&t->chain, d, ty, 4, &ret, t->kms, "kmsInfo()", NULL, 0);
    if (kg_ok(rc)) {
        if (d[0].len == 0)
            rc = kg_error_set(KG_ERR_NOT_FOUND, __FILE__, __LINE__,
                              "the KMS contract has no published root key (setKmsInfo)");
        else
            rc = kg_k256_pub_compress(out, d[0].data, d[0].len);
    }
    kg_buf_free(&ret);
    return rc;
}

/* The app must be registered with the KMS contract (registeredApps): the KMS signs an env key
 * for any 20 bytes, so without this check a typo in --app would seal the environment to a key
 * no app VM will ever get. */
static kg_result check_registered(const kg_cli_target *t, const uint8_t app[20], const char *app_s)
{
    kg_buf ret;
    kg_abi_decoded d[1];
    kg_abi_type ty = KG_ABI_T_BOOL;
    kg_abi_value arg = kg_abi_address(app);
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    kg_result rc =
        kg_chain_view(&t->chain, d, &ty, 1, &ret, t->kms, "registeredApps(address)", &arg, 1);
    if (kg_ok(rc) && !kg_abi_get_bool(&d[0]))
        rc = kg_error_set(KG_ERR_NOT_FOUND, __FILE__, __LINE__,
                          "--app '%s' is not an app registered with the KMS contract "
                          "(registeredApps is false): nothing encrypted",
                          app_s);
    kg_buf_free(&ret);
    return rc;
}

/* Asks the KMS for the app's env public key and verifies it against root. */
static kg_result fetch_env_pubkey(uint8_t pub[KG_X25519_LEN], const char *kms_url,
                                  const uint8_t app[20], const uint8_t root[KG_K256_PUB_LEN])
{
    char url[KG_DEVNET_URL_MAX + 64], app_hex[41], body[96];
    kg_buf resp;
    long status = 0;
    json_t *j = NULL;
    kg_result rc = KG_ERROR;
    kg_buf_init(&resp, 65536);
    KG_GUARD(kg_hex_encode(app_hex, sizeof(app_hex), app, 20));
    snprintf(url, sizeof(url), "%s/prpc/GetAppEnvEncryptPubKey?json", kms_url);
    snprintf(body, sizeof(body), "{\"app_id\":\"%s\"}", app_hex);
    /* TLS unauthenticated on purpose: what we trust is the root key's signature below. */
    KG_GUARD_CTX_C(kg_cli_http(&resp, &status, url, body, true, 10000), "KMS");
    j = json_loadb((const char *)resp.data, resp.len, 0, NULL);
    if (status != 200) {
        const char *e = json_string_value(json_object_get(j, "error"));
        KG_BAIL_C(KG_ERR_NETWORK, "KMS %s: HTTP %ld: %s", kms_url, status, e ? e : "no error text");
    }
    const char *pk = json_string_value(json_object_get(j, "public_key"));
    const char *sig = json_string_value(json_object_get(j, "signature_v1"));
    json_t *ts = json_object_get(j, "timestamp");
    uint8_t s[KG_K256_RECSIG_LEN];
    KG_ENSURE_C(pk != NULL && sig != NULL && json_is_integer(ts) && json_integer_value(ts) >= 0,
                KG_ERR_INPUT, "KMS answer lacks public_key, signature_v1 or timestamp");
    KG_GUARD_CTX_C(kg_hex_decode_exact(pub, KG_X25519_LEN, pk), "KMS public_key");
    KG_GUARD_CTX_C(kg_hex_decode_exact(s, sizeof(s), sig), "KMS signature_v1");
    uint64_t t = (uint64_t)json_integer_value(ts);
    uint64_t now = (uint64_t)time(NULL);
    KG_ENSURE_C(t <= now + 300 && now - t <= ENV_MAX_SIG_AGE_S, KG_ERR_EXPIRED,
                "KMS signature timestamp %" PRIu64 " is not recent (now %" PRIu64 ")", t, now);
    if (kg_failed(kg_kdf_env_pubkey_verify_v1(root, app, t, pub, s)))
        KG_BAIL_C(KG_ERR_VERIFY,
                  "the env public key from %s is NOT signed by the KMS root key on chain: "
                  "refusing to encrypt",
                  kms_url);
    rc = KG_OK;
cleanup:
    json_decref(j);
    kg_buf_free(&resp);
    return rc;
}

/* keygate env encrypt (argv[0] is "encrypt") */
static int cmd_encrypt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"app", required_argument, NULL, 'a'},
        {"kms-url", required_argument, NULL, 'u'},
        {"rpc-url", required_argument, NULL, 'r'},
        {"kms-contract", required_argument, NULL, 'k'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *state = NULL, *app_s = NULL, *kms_url = NULL, *rpc = NULL, *kmsc = NULL,
               *out_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'a': app_s = optarg; break;
        case 'u': kms_url = optarg; break;
        case 'r': rpc = optarg; break;
        case 'k': kmsc = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': env_usage(stdout); return KG_EXIT_OK;
        default: return kg_cli_bad_option("env", argc, argv);
        }
    }
    if (optind != argc - 1 || app_s == NULL) {
        fprintf(stderr, "keygate env encrypt: --app ID and one FILE.env are required\n");
        return KG_EXIT_USAGE;
    }
    const char *path = argv[optind];
    uint8_t app[20], root[KG_K256_PUB_LEN], pub[KG_X25519_LEN];
    kg_buf text, plain, ct;
    kg_env_list list;
    kg_cli_target t;
    int status = KG_EXIT_FAILED;
    memset(&t, 0, sizeof(t));
    kg_buf_init(&text, ENV_MAX_FILE + 1);
    kg_buf_init(&plain, KG_ENV_MAX_PLAINTEXT_LEN);
    kg_buf_init(&ct, KG_ENV_MAX_CIPHERTEXT_LEN);
    kg_env_list_init(&list);
    if (kg_failed(kg_cli_parse_address(app, "--app", app_s)) ||
        kg_failed(kg_cli_read_file(&text, path, ENV_MAX_FILE)) ||
        kg_failed(kg_dotenv_parse(&list, (const char *)text.data, text.len, path)) ||
        kg_failed(kg_env_serialize(&plain, &list)))
        goto fail;
    if (kg_failed(kg_cli_target_open(&t, state, rpc, kmsc)))
        goto fail;
    if (kms_url == NULL)
        kms_url = kg_devnet_str(t.state, "kms_url");
    if (kms_url == NULL || !t.has_kms) {
        (void)kg_error_set(KG_ERR_USAGE, __FILE__, __LINE__,
                           "no KMS: give --kms-url URL and --kms-contract ADDR, or --state DIR");
        goto fail;
    }
    if (kg_failed(check_registered(&t, app, app_s)) || kg_failed(chain_root_key(root, &t)) ||
        kg_failed(fetch_env_pubkey(pub, kms_url, app, root)) ||
        kg_failed(kg_env_encrypt(&ct, pub, plain.data, plain.len)))
        goto fail;
    char *hex = malloc(2 * ct.len + 2);
    if (hex == NULL || kg_failed(kg_hex_encode(hex, 2 * ct.len + 1, ct.data, ct.len))) {
        free(hex);
        goto fail;
    }
    if (out_path != NULL) {
        size_t n = strlen(hex);
        hex[n] = '\n';
        kg_result w = kg_cli_write_file(out_path, hex, n + 1, 0644);
        free(hex);
        if (kg_failed(w))
            goto fail;
        fprintf(stderr, "keygate env: %zu variables encrypted to %s\n", list.count, out_path);
    } else {
        printf("%s\n", hex);
        free(hex);
    }
    status = KG_EXIT_OK;
    goto done;
fail:
    status = kg_cli_fail();
done:
    kg_buf_free(&text);
    kg_buf_free(&plain);
    kg_buf_free(&ct);
    kg_env_list_free(&list);
    kg_cli_target_close(&t);
    return status;
}

int kg_cmd_env(int argc, char **argv)
{
    static const kg_cli_group group = {"env", env_usage};
    static const kg_cli_command subs[] = {{"encrypt", cmd_encrypt, NULL}};
    return kg_cli_group_run(&group, subs, KG_CLI_N(subs), argc, argv);
}
