/* cmd_sim_run.c - `keygate sim run`: boots a simulated app VM (a fresh simulated TD with its own
 * RTMR3) against the KMS and, if the keys are released, runs a command beside the dstack API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "devnet.h"
#include "keygate/agent.h"
#include "keygate/agent_launch.h"
#include "keygate/eth.h"
#include "keygate/harden.h"

static void run_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate sim run --state DIR --app APP_ID --compose FILE [--env-file FILE]\n"
        "                       --platform SIMDIR --kms URL [--kms URL ...] --kms-ca PEM\n"
        "                       (--kms-k256 HEX | --rpc-url URL --kms-contract ADDR)\n"
        "                       [--kms-retry-s N (0: one round over the KMS URLs)]\n"
        "                       [--pccs URL [--tee-root-ca PEM]]  (verify the KMS's quote)\n"
        "                       (all these default to the devnet's when DIR holds one)\n"
        "                       [--socket PATH] [--disk-key-out FILE] [--keys-out FILE]\n"
        "                       [--env-out FILE] [--app-user USER|UID[:GID]]\n"
        "                       [--ratls-format legacy|dstack] -- CMD [ARGS...]\n"
        "\n"
        "Boots a fresh simulated VM of the simulated platform SIMDIR as app APP_ID (20-byte\n"
        "hex) with app-compose FILE, asks the KMS for its keys over RA-TLS, and if they are\n"
        "released serves the dstack API on a fresh socket and runs CMD with the decrypted\n"
        "environment and DSTACK_SIMULATOR_ENDPOINT set. Exits with CMD's status; if the KMS\n"
        "refuses, exits 1 with its reason and does not run CMD. DIR keeps the app's\n"
        "instance seed, so reruns are the same instance.\n"
        "The KMS is authenticated as keygate-agent boot does (keygate-agent --help): root CA,\n"
        "root secp256k1 key and, on a devnet always, its attestation allowed on chain.\n"
        "Run as root, CMD runs as --app-user (default: keygate-app if that user exists, else\n"
        "nobody), never as root unless '--app-user root' is given (the app could then forge\n"
        "its measurements); that user needs read access to CMD's files and working directory.\n");
}

/* The devnet KMS's root CA certificate to pin: after a root-key rotation the KMS keeps each
 * epoch's beside the first (root-ca-epoch-N.pem next to root-ca.pem, kms/README.md), and the
 * agent must pin the current epoch's, the one kmsInfo() publishes (docs/design.md, "Root-key
 * epochs"). N is currentRootEpoch() on the devnet's chain; when the chain cannot say (a contract
 * from before epochs), root-ca.pem, which the agent then checks against kmsInfo() as always. */
static const char *current_epoch_ca(char *buf, size_t cap, const char *ca0, const char *rpc,
                                    const char *contract)
{
    kg_eth_client *c = NULL;
    uint8_t addr[KG_ETH_ADDRESS_LEN];
    uint32_t epoch = 0;
    kg_result rc = rpc && contract ? kg_eth_address_parse(addr, contract) : KG_ERROR;
    if (kg_ok(rc))
        rc = kg_eth_client_new(&c, rpc, 0);
    if (kg_ok(rc))
        rc = kg_eth_current_root_epoch(&epoch, c, addr, NULL);
    kg_eth_client_free(c);
    kg_error_clear();
    const char *slash = strrchr(ca0, '/');
    if (kg_failed(rc) || epoch == 0 || slash == NULL)
        return ca0;
    int n =
        snprintf(buf, cap, "%.*s/root-ca-epoch-%u.pem", (int)(slash - ca0), ca0, (unsigned)epoch);
    return n > 0 && (size_t)n < cap ? buf : ca0;
}

int kg_cmd_sim_run(int argc, char **argv)
{
    /* This process becomes the app VM's agent and holds its keys: harden it like
     * keygate-agent (no core dumps, no same-uid /proc/<pid>/mem, secure heap). */
    if (kg_failed(kg_process_harden("keygate sim run"))) {
        fprintf(stderr, "keygate sim run: %s\n", kg_error_message());
        return KG_EXIT_FAILED;
    }
    kg_launch_opts o = {.prog = "keygate sim run"};
    const char *state = NULL, *platform = NULL;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--") == 0) {
            o.argv = &argv[i + 1];
            break;
        }
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            run_usage(stdout);
            return KG_EXIT_OK;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "keygate sim run: option '%s' needs a value\n", f);
            return KG_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(f, "--state") == 0)
            state = v;
        else if (strcmp(f, "--app") == 0)
            o.app_id_hex = v;
        else if (strcmp(f, "--compose") == 0)
            o.compose_path = v;
        else if (strcmp(f, "--env-file") == 0)
            o.env_path = v;
        else if (strcmp(f, "--platform") == 0)
            platform = v;
        else if (strcmp(f, "--kms") == 0 && o.n_kms_urls < KG_LAUNCH_MAX_KMS)
            o.kms_urls[o.n_kms_urls++] = v;
        else if (strcmp(f, "--kms-ca") == 0)
            o.kms_ca_path = v;
        else if (strcmp(f, "--kms-retry-s") == 0) {
            char *end = NULL;
            unsigned long secs = strtoul(v, &end, 10);
            if (end == v || *end != '\0' || secs > 3600) {
                fprintf(stderr, "keygate sim run: --kms-retry-s '%s' is not 0..3600\n", v);
                return KG_EXIT_USAGE;
            }
            o.kms_retry_ms = (long)secs * 1000;
        } else if (strcmp(f, "--kms-k256") == 0)
            o.kms_k256_hex = v;
        else if (strcmp(f, "--rpc-url") == 0)
            o.rpc_url = v;
        else if (strcmp(f, "--kms-contract") == 0)
            o.kms_contract = v;
        else if (strcmp(f, "--pccs") == 0)
            o.pccs_url = v;
        else if (strcmp(f, "--tee-root-ca") == 0)
            o.tee_root_ca_path = v;
        else if (strcmp(f, "--socket") == 0)
            o.socket_path = v;
        else if (strcmp(f, "--disk-key-out") == 0)
            o.disk_key_path = v;
        else if (strcmp(f, "--keys-out") == 0)
            o.keys_out_path = v;
        else if (strcmp(f, "--env-out") == 0)
            o.env_out_path = v;
        else if (strcmp(f, "--app-user") == 0)
            o.app_user = v;
        else if (strcmp(f, "--ratls-format") == 0) {
            /* dstack: .8 and SignCert v2, as guests since v0.5.10 */
            if (kg_failed(kg_ratls_format_from_name(&o.ratls_format, v))) {
                fprintf(stderr, "keygate sim run: --ratls-format: %s\n", kg_error_message());
                return KG_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "keygate sim run: unknown or repeated option '%s'\n", f);
            return KG_EXIT_USAGE;
        }
    }
    /* A devnet state directory (keygate devnet up) supplies what was not given explicitly:
     * its simulated platform, its KMS, the KMS root CA to pin, and the chain the KMS's root
     * key and attestation are checked against (cli/devnet.h). */
    json_t *devnet = NULL;
    char epoch_ca[4096];
    if (state != NULL && kg_ok(kg_devnet_load(&devnet, state))) {
        if (platform == NULL)
            platform = kg_devnet_str(devnet, "sim_dir");
        if (o.n_kms_urls == 0 && kg_devnet_str(devnet, "kms_url") != NULL)
            o.kms_urls[o.n_kms_urls++] = kg_devnet_str(devnet, "kms_url");
        bool devnet_ca = o.kms_ca_path == NULL && kg_devnet_str(devnet, "kms_ca_cert") != NULL;
        if (o.rpc_url == NULL && o.kms_contract == NULL) {
            o.rpc_url = kg_devnet_str(devnet, "rpc_url");
            o.kms_contract = kg_devnet_str(devnet, "kms_contract");
        }
        if (devnet_ca)
            o.kms_ca_path =
                current_epoch_ca(epoch_ca, sizeof(epoch_ca), kg_devnet_str(devnet, "kms_ca_cert"),
                                 o.rpc_url, o.kms_contract);
        /* The devnet's KMS is simulated: verify its attestation under the simulator's root. */
        if (o.pccs_url == NULL && o.tee_root_ca_path == NULL) {
            o.pccs_url = kg_devnet_str(devnet, "pccs_url");
            o.tee_root_ca_path = kg_devnet_str(devnet, "sim_root_ca");
        }
    }
    kg_error_clear();
    const char *missing = !state                  ? "--state"
                          : !o.app_id_hex         ? "--app"
                          : !o.compose_path       ? "--compose"
                          : !platform             ? "--platform"
                          : !o.n_kms_urls         ? "--kms"
                          : !o.kms_ca_path        ? "--kms-ca"
                          : !o.argv || !o.argv[0] ? "-- CMD"
                                                  : NULL;
    if (missing != NULL) {
        fprintf(stderr, "keygate sim run: %s is required\n\n", missing);
        run_usage(stderr);
        json_decref(devnet);
        return KG_EXIT_USAGE;
    }
    if (strlen(o.app_id_hex) != 40 && !(strlen(o.app_id_hex) == 42 && o.app_id_hex[0] == '0')) {
        fprintf(stderr, "keygate sim run: --app '%s' is not a 20-byte hex app id\n", o.app_id_hex);
        json_decref(devnet);
        return KG_EXIT_USAGE;
    }
    const char *app_hex = strlen(o.app_id_hex) == 42 ? o.app_id_hex + 2 : o.app_id_hex;
    if (strchr(platform, ':') != NULL) {
        fprintf(stderr, "keygate sim run: --platform '%s' must not contain ':'\n", platform);
        json_decref(devnet);
        return KG_EXIT_USAGE;
    }

    /* Per-app state under DIR, and a fresh VM (RTMR3 from zero, as after a reboot). */
    char app_dir[4096], tee_spec[4400], sock_dir[] = "/tmp/keygate-sim-XXXXXX", sock[64];
    snprintf(app_dir, sizeof(app_dir), "%s/apps", state);
    if ((mkdir(state, 0700) != 0 && errno != EEXIST) ||
        (mkdir(app_dir, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "keygate sim run: state directory '%s': %s\n", app_dir, strerror(errno));
        json_decref(devnet);
        return KG_EXIT_FAILED;
    }
    snprintf(app_dir, sizeof(app_dir), "%s/apps/%.40s", state, app_hex);
    snprintf(tee_spec, sizeof(tee_spec), "sim:%s:app-%.8s-%ld-%ld", platform, app_hex,
             (long)getpid(), (long)time(NULL));
    o.state_dir = app_dir;
    o.tee_spec = tee_spec;
    bool own_socket = o.socket_path == NULL;
    if (own_socket) {
        if (mkdtemp(sock_dir) == NULL) {
            fprintf(stderr, "keygate sim run: mkdtemp: %s\n", strerror(errno));
            json_decref(devnet);
            return KG_EXIT_FAILED;
        }
        /* The app user reaches the socket through this directory: traversable (not listable)
         * by all, while the socket itself is 0660 and group-owned by the app's group. */
        if (geteuid() == 0 && chmod(sock_dir, 0711) != 0) {
            fprintf(stderr, "keygate sim run: chmod '%s': %s\n", sock_dir, strerror(errno));
            rmdir(sock_dir);
            json_decref(devnet);
            return KG_EXIT_FAILED;
        }
        snprintf(sock, sizeof(sock), "%s/dstack.sock", sock_dir);
        o.socket_path = sock;
    }
    int rc = kg_agent_launch(&o);
    if (own_socket) {
        unlink(sock);
        rmdir(sock_dir);
    }
    json_decref(devnet);
    return rc;
}
