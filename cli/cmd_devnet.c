/* cmd_devnet.c - `keygate devnet up|status|down`: a complete local deployment in one command
 * (docs/protocol.md section 7 flow 1): anvil with the governance contracts, the simulated TDX
 * platform and its PCCS, and a bootstrapped KMS registered on chain, left running in the
 * background. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "cli.h"
#include "devnet.h"
#include "kms_config.h"

#define DEVNET_CHAIN_ID 31337
#define DEVNET_WAIT_MS 60000
#define DEVNET_STOP_MS 10000

static void devnet_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: keygate devnet <up|status|down> [--state DIR] [--checkpoint-every S]\n\n"
        "A local keygate deployment for development and demos (docs/protocol.md section 7):\n"
        "  up       start anvil (chain state kept in DIR), deploy the governance contracts,\n"
        "           create the simulated TDX platform and start its PCCS, bootstrap a KMS,\n"
        "           publish its keys and allow its OS image, MR and device on chain, start it;\n"
        "           waits until everything answers, then prints one JSON object\n"
        "           {rpc_url, chain_id, kms_url, kms_contract, state_dir, ...}. Services keep\n"
        "           running in the background (pids in DIR/run, logs in DIR/logs). Running\n"
        "           'up' again on a stopped devnet resumes it with the same chain and keys.\n"
        "  status   which services run and answer (JSON); exit 1 if any does not\n"
        "  down     stop every service 'up' started (only processes it started)\n\n"
        "  --checkpoint-every S   (up) also run 'keygate kms checkpoint --every S': the KMS's\n"
        "                decision-log checkpoints published on chain every S seconds, from\n"
        "                a key of its own (DIR/checkpoints.key); 0 (the default) = off; a\n"
        "                resumed devnet keeps the last value given\n"
        "  --state DIR   the devnet's directory (default ./%s); DIR/devnet.json (mode 0600)\n"
        "                records endpoints, addresses and the devnet's funded key\n\n"
        "Exit status: 0 ok, 1 failed, 2 usage error.\n",
        KG_DEVNET_DEFAULT_DIR);
}

/* Services in start order; stopped in reverse. */
static const char *const services[] = {"anvil", "pccs", "kms"};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

/* Set by SIGINT/SIGTERM during `up`: the waits give up, and the failure path stops every
 * service started so far (they run in their own sessions, so the terminal's signal does not
 * reach them). */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static kg_result check_interrupted(void)
{
    KG_ENSURE(!interrupted, KG_ERR_IO, "interrupted");
    return KG_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static kg_result set_str(json_t *doc, const char *key, const char *val)
{
    KG_ENSURE(json_object_set_new(doc, key, json_string(val)) == 0, KG_ERR_NOMEM, "devnet.json");
    return KG_OK;
}

static kg_result set_int(json_t *doc, const char *key, uint64_t v)
{
    KG_ENSURE(json_object_set_new(doc, key, json_integer((json_int_t)v)) == 0, KG_ERR_NOMEM,
              "devnet.json");
    return KG_OK;
}

/* Log file DIR/logs/<name>.log. */
static kg_result log_path(char out[PATH_MAX], const char *dir, const char *name)
{
    char logs[PATH_MAX], file[128];
    KG_GUARD(kg_cli_path(logs, dir, "logs"));
    snprintf(file, sizeof(file), "%s.log", name);
    return kg_cli_path(out, logs, file);
}

/* Stops every service recorded in DIR/run (ours first in reverse start order, then any other
 * pid file a devnet command left there, e.g. simulated app VMs). */
static kg_result stop_all(const char *dir, json_t *stopped)
{
    kg_result rc = KG_OK;
    char run[PATH_MAX];
    KG_GUARD(kg_cli_path(run, dir, "run"));
    DIR *d = opendir(run);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n <= 4 || strcmp(e->d_name + n - 4, ".pid") != 0 || n - 4 >= 128)
                continue;
            char name[128];
            memcpy(name, e->d_name, n - 4);
            name[n - 4] = '\0';
            bool ours = false;
            for (size_t i = 0; i < N_SERVICES; i++)
                ours = ours || strcmp(name, services[i]) == 0;
            if (ours)
                continue;
            bool was = false;
            kg_result r = kg_proc_stop(dir, name, DEVNET_STOP_MS, &was);
            if (kg_failed(r)) {
                fprintf(stderr, "keygate devnet: %s\n", kg_error_message());
                rc = r;
            } else if (was && stopped != NULL) {
                json_array_append_new(stopped, json_string(name));
            }
        }
        closedir(d);
    }
    for (size_t i = N_SERVICES; i-- > 0;) {
        bool was = false;
        kg_result r = kg_proc_stop(dir, services[i], DEVNET_STOP_MS, &was);
        if (kg_failed(r)) {
            fprintf(stderr, "keygate devnet: %s\n", kg_error_message());
            rc = r;
        } else if (was && stopped != NULL) {
            json_array_append_new(stopped, json_string(services[i]));
        }
    }
    return rc;
}

/* Starts `name` unless it already runs; the program is argv[0]. */
static kg_result start_service(const char *dir, const char *name, char *const argv[])
{
    char log[PATH_MAX];
    kg_proc p;
    KG_GUARD(log_path(log, dir, name));
    KG_GUARD_CTX(kg_proc_spawn(&p, dir, name, argv, log), "starting %s", name);
    fprintf(stderr, "keygate devnet: started %s (pid %ld, log %s)\n", name, (long)p.pid, log);
    return KG_OK;
}

/* Fails if the service died (with the tail of its log in mind: the path is named). */
static kg_result check_running(const char *dir, const char *name)
{
    char log[PATH_MAX];
    KG_GUARD(log_path(log, dir, name));
    KG_ENSURE(kg_proc_alive(NULL, dir, name), KG_ERR_IO, "%s exited; see %s", name, log);
    return KG_OK;
}

static kg_result wait_chain(kg_chain *c, const char *dir, const char *rpc_url)
{
    for (long waited = 0;; waited += 100) {
        if (kg_ok(kg_chain_open(c, rpc_url, DEVNET_CHAIN_ID)))
            return KG_OK;
        kg_chain_close(c);
        kg_error_clear();
        KG_GUARD(check_interrupted());
        KG_GUARD(check_running(dir, "anvil"));
        KG_ENSURE(waited < DEVNET_WAIT_MS, KG_ERR_NETWORK, "anvil did not answer on %s", rpc_url);
        sleep_ms(100);
    }
}

/* Waits until GET url answers with `want` (0 = any HTTP status). */
static kg_result wait_http(const char *dir, const char *name, const char *url, long want)
{
    kg_buf resp;
    kg_buf_init(&resp, KG_CLI_MAX_HTTP_RESPONSE);
    for (long waited = 0;; waited += 100) {
        long status = 0;
        kg_buf_reset(&resp);
        resp.len = 0;
        if (kg_ok(kg_cli_http(&resp, &status, url, NULL, true, 2000)) &&
            (want == 0 || status == want)) {
            kg_buf_free(&resp);
            return KG_OK;
        }
        kg_error_clear();
        if (kg_failed(check_interrupted()) || kg_failed(check_running(dir, name)) ||
            waited >= DEVNET_WAIT_MS) {
            if (waited >= DEVNET_WAIT_MS)
                (void)kg_error_set(KG_ERR_NETWORK, __FILE__, __LINE__,
                                   "%s did not answer %s (last HTTP status %ld: %.200s)", name, url,
                                   status, resp.data ? (const char *)resp.data : "");
            kg_buf_free(&resp);
            return KG_ERROR;
        }
        sleep_ms(100);
    }
}

/* Size of a file (0 if it does not exist): where a service's output of this start begins in
 * its log, which is appended to across starts. */
static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Services bind port 0 and say which port they got, so no other process can take the port
 * between a probe and the bind (a lost race made the devnet talk to another test's anvil).
 * Waits until the service's log, from byte `from` on, contains `tag` followed by the port. */
static kg_result wait_logged_port(uint16_t *port, const char *dir, const char *name, off_t from,
                                  const char *tag)
{
    char log[PATH_MAX];
    KG_GUARD(log_path(log, dir, name));
    for (long waited = 0;; waited += 100) {
        FILE *f = fopen(log, "r");
        if (f != NULL && fseeko(f, from, SEEK_SET) == 0) {
            char line[1024];
            unsigned long p = 0;
            while (p == 0 && fgets(line, sizeof(line), f) != NULL) {
                const char *t = strstr(line, tag);
                if (t != NULL)
                    p = strtoul(t + strlen(tag), NULL, 10);
            }
            fclose(f);
            if (p > 0 && p <= 65535) {
                *port = (uint16_t)p;
                return KG_OK;
            }
        } else if (f != NULL) {
            fclose(f);
        }
        KG_GUARD(check_interrupted());
        KG_GUARD(check_running(dir, name));
        KG_ENSURE(waited < DEVNET_WAIT_MS, KG_ERR_NETWORK, "%s did not report its port; see %s",
                  name, log);
        sleep_ms(100);
    }
}

/* The KMS writes its bound port to --port-file once listening. */
static kg_result wait_port_file(uint16_t *port, const char *dir, const char *path)
{
    for (long waited = 0;; waited += 100) {
        kg_buf text;
        kg_buf_init(&text, 64);
        unsigned p = 0;
        bool got = kg_ok(kg_cli_read_file(&text, path, 32)) &&
                   sscanf((const char *)text.data, "%u", &p) == 1 && p > 0 && p <= 65535;
        kg_buf_free(&text);
        kg_error_clear(); /* not written yet */
        if (got) {
            *port = (uint16_t)p;
            return KG_OK;
        }
        KG_GUARD(check_interrupted());
        KG_GUARD(check_running(dir, "kms"));
        KG_ENSURE(waited < DEVNET_WAIT_MS, KG_ERR_NETWORK, "the KMS did not write '%s'", path);
        sleep_ms(100);
    }
}

static kg_result self_exe(char out[PATH_MAX])
{
    char bin[PATH_MAX];
    KG_GUARD(kg_cli_bin_dir(bin));
    return kg_cli_path(out, bin, "keygate");
}

/* Deploys the contracts with scripts/deploy-contracts (forge compiles them) and records the
 * addresses in doc. */
static kg_result deploy_contracts(json_t *doc, const char *dir, const char *rpc_url)
{
    char src[PATH_MAX], script[PATH_MAX], log[PATH_MAX];
    char env_key[128];
    kg_buf out;
    json_t *d = NULL;
    kg_result rc = KG_ERROR;
    kg_buf_init(&out, KG_DEVNET_MAX_FILE);
    KG_GUARD(kg_cli_source_dir(src));
    KG_GUARD(kg_cli_path(script, src, "scripts/deploy-contracts"));
    KG_GUARD(log_path(log, dir, "deploy"));
    /* The key goes through the environment, not argv (visible in ps). It is anvil's public
     * development key anyway. */
    snprintf(env_key, sizeof(env_key), "KEYGATE_DEPLOYER_KEY=%s", KG_DEVNET_DEV_KEY);
    char *argv[] = {script, "--rpc-url", (char *)rpc_url, NULL};
    char *env[] = {env_key, NULL};
    fprintf(stderr, "keygate devnet: deploying the governance contracts (compiling, ~30 s)\n");
    KG_GUARD_CTX_C(kg_proc_run(&out, argv, log, env), "deploying contracts");
    json_error_t jerr;
    d = json_loadb((const char *)out.data, out.len, 0, &jerr);
    KG_ENSURE_C(json_is_object(d), KG_ERR_INPUT, "deploy-contracts printed no JSON: %s", jerr.text);
    const char *kms = json_string_value(json_object_get(d, "kms"));
    const char *app = json_string_value(json_object_get(d, "appImplementation"));
    const char *kimpl = json_string_value(json_object_get(d, "kmsImplementation"));
    const char *deployer = json_string_value(json_object_get(d, "deployer"));
    KG_ENSURE_C(kms && app && kimpl && deployer, KG_ERR_INPUT,
                "deploy-contracts output lacks addresses");
    KG_GUARD_C(set_str(doc, "kms_contract", kms));
    KG_GUARD_C(set_str(doc, "app_implementation", app));
    KG_GUARD_C(set_str(doc, "kms_implementation", kimpl));
    KG_GUARD_C(set_str(doc, "deployer", deployer));
    rc = KG_OK;
cleanup:
    json_decref(d);
    kg_buf_free(&out);
    return rc;
}

/* Writes the KMS config for this devnet: the one `keygate kms config --state DIR` prints
 * (cmd_kms_config.c). */
static kg_result write_kms_config(const char *path, const json_t *doc, const char *kms_state,
                                  uint16_t port)
{
    kg_cli_kms_config p = {.port = port,
                           .state_dir = kms_state,
                           .rpc_url = kg_devnet_str(doc, "rpc_url"),
                           .kms_contract = kg_devnet_str(doc, "kms_contract"),
                           .chain_id = DEVNET_CHAIN_ID,
                           .pccs_url = kg_devnet_str(doc, "pccs_url"),
                           .sim_ca_file = kg_devnet_str(doc, "sim_root_ca"),
                           .sim_dir = kg_devnet_str(doc, "sim_dir"),
                           /* loopback: where a root-key epoch is proposed (POST
                            * /epoch/propose), and /metrics; the port is read from its log */
                           .admin_listen = "127.0.0.1:0"};
    json_t *cfg = NULL;
    char *text = NULL;
    KG_GUARD(kg_cli_kms_config_devnet(&cfg, &p));
    kg_result rc = kg_cli_kms_config_text(&text, cfg);
    json_decref(cfg);
    if (kg_ok(rc))
        rc = kg_cli_write_file(path, text, strlen(text), 0600);
    free(text);
    return rc;
}

/* The devnet's KMS governance notice (contracts/README.md, "KMS governance notice"): set once
 * the KMS is registered, so that apps with a notice up to this long (`app deploy --timelock`)
 * are served. Later OS image / MR / device additions on a devnet are proposed and wait for it
 * (`keygate kms propose`; advance anvil's clock with evm_increaseTime + evm_mine). */
#define DEVNET_KMS_NOTICE (30ull * 24 * 3600)

/* Raises the KMS contract's governance notice to DEVNET_KMS_NOTICE, guardian = the devnet key's
 * address (an increase with the same guardian, or from 0, applies at once); no-op if it is
 * already that long. */
static kg_result raise_kms_notice(const kg_chain *c, const uint8_t key[32], const uint8_t kms[20],
                                  kg_buf *data)
{
    uint8_t me[20];
    kg_buf ret;
    kg_abi_decoded d[2];
    kg_abi_type nt[2] = {KG_ABI_T_UINT64, KG_ABI_T_ADDRESS};
    kg_result rc = KG_ERROR;
    kg_buf_init(&ret, KG_ETH_MAX_ABI_LEN);
    KG_GUARD_C(kg_eth_address_of_key(me, key));
    KG_GUARD_CTX_C(kg_chain_view(c, d, nt, 2, &ret, kms, "governanceNotice()", NULL, 0),
                   "reading the KMS governance notice");
    if (kg_abi_get_u64(&d[0]) < DEVNET_KMS_NOTICE) {
        kg_abi_value args[2] = {kg_abi_uint64(DEVNET_KMS_NOTICE), kg_abi_address(me)};
        data->len = 0;
        KG_GUARD_C(kg_chain_calldata(data, "setGovernanceNotice(uint64,address)", args, 2));
        KG_GUARD_CTX_C(kg_chain_send(c, NULL, key, kms, data, KG_CHAIN_WAIT_S),
                       "setGovernanceNotice");
    }
    rc = KG_OK;
cleanup:
    kg_buf_free(&ret);
    return rc;
}

/* Allows the KMS's OS image, aggregated MR and device (at notice 0) and publishes its root keys
 * with the commands an operator runs for a KMS of their own: `keygate kms allow` and `keygate kms
 * publish` (which verifies the bootstrap quote against the devnet's PCCS first), each reading
 * this devnet's state (saved by the caller); then raises the KMS governance notice
 * (contracts/README.md). Idempotent enough to retry: allow leaves allowed values unchanged, so a
 * retry after the notice was raised works. Their output goes to DIR/logs/register.log. */
static kg_result register_kms(json_t *doc, const char *dir, const kg_chain *c, const char *self,
                              const char *boot_path, const json_t *boot)
{
    /* the option, the boot info's member, devnet.json's member */
    static const char *const allow[][3] = {{"--os-image", "os_image_hash", "os_image_hash"},
                                           {"--mr", "mr_aggregated", "kms_mr_aggregated"},
                                           {"--device", "device_id", "kms_device_id"}};
    const json_t *bi = json_object_get(boot, "kms_boot_info");
    const char *k256 = json_string_value(json_object_get(boot, "k256_pubkey"));
    char log[PATH_MAX];
    KG_ENSURE(k256 != NULL, KG_ERR_INPUT, "KMS bootstrap info: 'k256_pubkey' missing");
    KG_GUARD(log_path(log, dir, "register"));
    for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++) {
        const char *v = json_string_value(json_object_get(bi, allow[i][1]));
        KG_ENSURE(v != NULL, KG_ERR_INPUT, "KMS boot info: '%s' missing", allow[i][1]);
        char *argv[] = {(char *)self,        "kms",     "allow", "--state", (char *)dir,
                        (char *)allow[i][0], (char *)v, NULL};
        KG_GUARD_CTX(kg_proc_run(NULL, argv, log, NULL), "keygate kms allow %s", allow[i][0]);
        KG_GUARD(set_str(doc, allow[i][2], v));
    }
    char *argv[] = {(char *)self, "kms",         "publish",         "--state",
                    (char *)dir,  "--bootstrap", (char *)boot_path, NULL};
    KG_GUARD_CTX(kg_proc_run(NULL, argv, log, NULL), "keygate kms publish");

    uint8_t key[32], kms[20];
    kg_buf data;
    kg_buf_init(&data, KG_ETH_MAX_ABI_LEN);
    kg_result rc = kg_cli_signing_key(key, NULL, doc);
    if (kg_ok(rc))
        rc = kg_eth_address_parse(kms, kg_devnet_str(doc, "kms_contract"));
    if (kg_ok(rc))
        rc = raise_kms_notice(c, key, kms, &data);
    kg_memzero(key, sizeof(key));
    kg_buf_free(&data);
    KG_GUARD(rc);
    KG_GUARD(set_str(doc, "k256_pubkey", k256));
    KG_ENSURE(json_object_set_new(doc, "kms_registered", json_true()) == 0, KG_ERR_NOMEM,
              "devnet.json");
    return KG_OK;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole of `devnet up` after the directory exists; on failure the caller stops what ran.
 * chain is opened here; the caller closes it. */
/* The checkpoint publisher (`keygate kms checkpoint --every S`): its own funded key
 * (DIR/checkpoints.key, 0600), so its transactions never race the devnet key's nonces. */
static kg_result start_checkpoints(const json_t *doc, const char *dir, const kg_chain *chain,
                                   const char *self, uint64_t every)
{
    char p_key[PATH_MAX], text[2 + 64 + 2], every_text[24];
    uint8_t key[32], from[32], addr[20], pub[KG_K256_PUB_LEN];
    kg_result rc = KG_ERROR;
    KG_GUARD(kg_cli_path(p_key, dir, "checkpoints.key"));
    if (!file_exists(p_key)) {
        /* a new key, funded with 100 ETH by the devnet key */
        uint8_t value[32] = {0};
        static const uint8_t hundred_eth[9] = {0x05, 0x6b, 0xc7, 0x5e, 0x2d,
                                               0x63, 0x10, 0x00, 0x00};
        memcpy(value + 32 - sizeof(hundred_eth), hundred_eth, sizeof(hundred_eth));
        KG_GUARD_C(kg_random(key, sizeof(key)));
        KG_GUARD_C(kg_k256_public(pub, key)); /* a valid scalar */
        KG_GUARD_C(kg_eth_address_of_key(addr, key));
        KG_GUARD_C(kg_cli_signing_key(from, NULL, doc));
        kg_eth_receipt r;
        KG_GUARD_CTX_C(kg_eth_send_and_wait(chain->eth, &r, from, addr, value, NULL, 0, 0),
                       "funding the checkpoint publisher");
        kg_eth_receipt_free(&r);
        text[0] = '0';
        text[1] = 'x';
        KG_GUARD_C(kg_hex_encode(text + 2, sizeof(text) - 2, key, sizeof(key)));
        text[66] = '\n';
        KG_GUARD_C(kg_cli_write_file(p_key, text, 67, 0600));
    }
    snprintf(every_text, sizeof(every_text), "%" PRIu64, every);
    char *argv[] = {(char *)self, "kms",      "checkpoint",         "--state", (char *)dir,
                    "--every",    every_text, "--private-key-file", p_key,     NULL};
    KG_GUARD_C(start_service(dir, "checkpoints", argv));
    rc = KG_OK;
cleanup:
    kg_memzero(key, sizeof(key));
    kg_memzero(from, sizeof(from));
    kg_memzero(text, sizeof(text));
    return rc;
}

static kg_result devnet_up_steps(json_t *doc, const char *dir, kg_chain *chain)
{
    char p_chain[PATH_MAX], p_state[PATH_MAX], p_sim[PATH_MAX], p_simroot[PATH_MAX],
        p_simplat[PATH_MAX], p_kms[PATH_MAX], p_kmsstate[PATH_MAX], p_kmscfg[PATH_MAX],
        p_boot[PATH_MAX], p_portfile[PATH_MAX], p_audit[PATH_MAX], p_cacert[PATH_MAX],
        self[PATH_MAX], bin[PATH_MAX], kmsbin[PATH_MAX], src[PATH_MAX], anvil[PATH_MAX],
        sub[PATH_MAX], url[KG_DEVNET_URL_MAX];
    uint16_t aport = 0, pport = 0, kport = 0;

    KG_GUARD(kg_cli_path(p_chain, dir, "chain"));
    KG_GUARD(kg_cli_path(p_state, p_chain, "anvil-state.json"));
    KG_GUARD(kg_cli_path(p_sim, dir, "sim"));
    KG_GUARD(kg_cli_path(p_simroot, p_sim, "root_ca.pem"));
    KG_GUARD(kg_cli_path(p_simplat, p_sim, "platform.json"));
    KG_GUARD(kg_cli_path(p_kms, dir, "kms"));
    KG_GUARD(kg_cli_path(p_kmsstate, p_kms, "state"));
    KG_GUARD(kg_cli_path(p_kmscfg, p_kms, "kms.json"));
    KG_GUARD(kg_cli_path(p_boot, p_kms, "bootstrap.json"));
    KG_GUARD(kg_cli_path(p_audit, p_kmsstate, "audit.db"));
    KG_GUARD(kg_cli_path(p_cacert, p_kmsstate, "root-ca.pem"));
    KG_GUARD(kg_cli_path(sub, dir, "run"));
    KG_GUARD(kg_cli_path(p_portfile, sub, "kms.port"));
    KG_GUARD(kg_cli_mkdirs(p_chain, 0700));
    KG_GUARD(kg_cli_path(sub, dir, "logs"));
    KG_GUARD(kg_cli_mkdirs(sub, 0700));
    KG_GUARD(kg_cli_path(sub, dir, "apps"));
    KG_GUARD(kg_cli_mkdirs(sub, 0700));
    KG_GUARD(kg_cli_mkdirs(p_kms, 0700));
    KG_GUARD(self_exe(self));
    KG_GUARD(kg_cli_bin_dir(bin));
    KG_GUARD(kg_cli_path(kmsbin, bin, "keygate-kms"));
    KG_GUARD(kg_cli_source_dir(src));
    KG_GUARD(kg_cli_path(anvil, src, "tools/node_modules/.bin/anvil"));
    KG_ENSURE(access(anvil, X_OK) == 0, KG_ERR_IO, "anvil not found at '%s': run scripts/setup",
              anvil);
    KG_ENSURE(access(kmsbin, X_OK) == 0, KG_ERR_IO, "keygate-kms not found at '%s': run make build",
              kmsbin);

    KG_GUARD(set_int(doc, "version", 1));
    KG_GUARD(set_str(doc, "state_dir", dir));
    KG_GUARD(set_str(doc, "private_key", KG_DEVNET_DEV_KEY));
    KG_GUARD(set_int(doc, "chain_id", DEVNET_CHAIN_ID));
    KG_GUARD(set_str(doc, "sim_dir", p_sim));
    KG_GUARD(set_str(doc, "sim_root_ca", p_simroot));
    KG_GUARD(set_str(doc, "kms_config", p_kmscfg));
    KG_GUARD(set_str(doc, "kms_state_dir", p_kmsstate));
    KG_GUARD(set_str(doc, "kms_ca_cert", p_cacert));
    KG_GUARD(set_str(doc, "audit_db", p_audit));

    /* 1. chain */
    {
        char log[PATH_MAX];
        KG_GUARD(log_path(log, dir, "anvil"));
        off_t from = file_size(log);
        char *argv[] = {anvil,   "--host",  "127.0.0.1", "--port",           "0", "--chain-id",
                        "31337", "--state", p_state,     "--state-interval", "5", NULL};
        KG_GUARD(start_service(dir, "anvil", argv));
        KG_GUARD(wait_logged_port(&aport, dir, "anvil", from, "Listening on 127.0.0.1:"));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", aport);
        KG_GUARD(set_str(doc, "rpc_url", url));
        kg_chain_close(chain);
        KG_GUARD(wait_chain(chain, dir, url));
    }
    bool deployed = false;
    const char *kc = kg_devnet_str(doc, "kms_contract");
    if (kc != NULL) {
        uint8_t a[20];
        KG_GUARD(kg_eth_address_parse(a, kc));
        KG_GUARD(kg_chain_has_code(chain, &deployed, a));
        if (!deployed)
            fprintf(stderr, "keygate devnet: chain state lost (no code at %s): redeploying\n", kc);
    }
    if (!deployed) {
        KG_GUARD(deploy_contracts(doc, dir, url));
        json_object_set_new(doc, "kms_registered", json_false());
    }
    KG_GUARD(kg_devnet_save(dir, doc));

    /* 2. simulated platform and its PCCS */
    KG_GUARD(check_interrupted());
    if (!file_exists(p_simplat)) {
        char log[PATH_MAX];
        KG_GUARD(log_path(log, dir, "sim"));
        char *argv[] = {self, "sim", "init", p_sim, NULL};
        KG_GUARD_CTX(kg_proc_run(NULL, argv, log, NULL), "creating the simulated platform");
    } else {
        /* Collateral expires (30 days): re-issue it so a resumed devnet verifies. */
        char log[PATH_MAX];
        KG_GUARD(log_path(log, dir, "sim"));
        char *argv[] = {self, "sim", "refresh", "--dir", p_sim, NULL};
        KG_GUARD_CTX(kg_proc_run(NULL, argv, log, NULL), "refreshing the simulated collateral");
    }
    {
        char log[PATH_MAX];
        KG_GUARD(log_path(log, dir, "pccs"));
        off_t from = file_size(log);
        char *argv[] = {self, "sim", "pccs", "--dir", p_sim, "--listen", "127.0.0.1:0", NULL};
        KG_GUARD(start_service(dir, "pccs", argv));
        KG_GUARD(wait_logged_port(&pport, dir, "pccs", from, " on http://127.0.0.1:"));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", pport);
        KG_GUARD(set_str(doc, "pccs_url", url));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/sgx/certification/v4/rootcacrl", pport);
        KG_GUARD(wait_http(dir, "pccs", url, 200));
    }

    KG_GUARD(check_interrupted());
    /* 3. KMS: config, bootstrap (root keys generated inside the simulated TEE), registration */
    /* port 0: the KMS binds a port of its own and writes it to --port-file */
    KG_GUARD(write_kms_config(p_kmscfg, doc, p_kmsstate, 0));
    if (!file_exists(p_boot)) {
        char log[PATH_MAX];
        kg_buf out;
        KG_GUARD(log_path(log, dir, "kms-bootstrap"));
        kg_buf_init(&out, KG_DEVNET_MAX_FILE);
        char *argv[] = {kmsbin, "--config", p_kmscfg, "--bootstrap", NULL};
        kg_result rc = kg_proc_run(&out, argv, log, NULL);
        if (kg_ok(rc)) {
            /* Only a complete bootstrap is kept: without the KMS's own measured boot info
             * there is nothing to allow on chain. */
            json_t *b = json_loadb((const char *)out.data, out.len, 0, NULL);
            if (!json_is_object(json_object_get(b, "kms_boot_info")))
                rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__,
                                  "keygate-kms --bootstrap printed no kms_boot_info; see %s", log);
            json_decref(b);
        }
        if (kg_ok(rc))
            rc = kg_cli_write_file(p_boot, out.data, out.len, 0644);
        kg_buf_free(&out);
        KG_GUARD_CTX(rc, "bootstrapping the KMS");
        json_object_set_new(doc, "kms_registered", json_false());
    }
    if (!json_is_true(json_object_get(doc, "kms_registered"))) {
        kg_buf text;
        kg_buf_init(&text, KG_DEVNET_MAX_FILE + 1);
        kg_result rc = kg_cli_read_file(&text, p_boot, KG_DEVNET_MAX_FILE);
        json_t *boot = NULL;
        if (kg_ok(rc)) {
            boot = json_loadb((const char *)text.data, text.len, 0, NULL);
            if (!json_is_object(boot))
                rc = kg_error_set(KG_ERR_INPUT, __FILE__, __LINE__, "'%s' is not JSON", p_boot);
        }
        kg_buf_free(&text);
        if (kg_ok(rc)) {
            fprintf(stderr, "keygate devnet: publishing the KMS keys and allowing its OS image, "
                            "MR and device on chain\n");
            rc = kg_devnet_save(dir, doc); /* the state `kms allow` and `publish` read */
        }
        if (kg_ok(rc))
            rc = register_kms(doc, dir, chain, self, p_boot, boot);
        json_decref(boot);
        KG_GUARD_CTX(rc, "registering the KMS on chain");
        KG_GUARD(kg_devnet_save(dir, doc));
    }
    {
        unlink(p_portfile);
        char kms_log[PATH_MAX];
        KG_GUARD(log_path(kms_log, dir, "kms"));
        off_t from = file_size(kms_log);
        char *argv[] = {kmsbin, "--config", p_kmscfg, "--port-file", p_portfile, NULL};
        KG_GUARD(start_service(dir, "kms", argv));
        KG_GUARD(wait_port_file(&kport, dir, p_portfile));
        snprintf(url, sizeof(url), "https://127.0.0.1:%u", kport);
        KG_GUARD(set_str(doc, "kms_url", url));
        KG_GUARD(set_int(doc, "kms_port", kport));
        uint16_t admin_port = 0;
        KG_GUARD(wait_logged_port(&admin_port, dir, "kms", from,
                                  "admin listening on http://127.0.0.1:"));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", admin_port);
        KG_GUARD(set_str(doc, "kms_admin_url", url)); /* keygate kms epoch propose --admin */
        snprintf(url, sizeof(url), "https://127.0.0.1:%u/health", kport);
        KG_GUARD(wait_http(dir, "kms", url, 200));
    }
    KG_GUARD(kg_devnet_save(dir, doc));
    uint64_t every = (uint64_t)json_integer_value(json_object_get(doc, "checkpoint_every"));
    if (every > 0)
        KG_GUARD_CTX(start_checkpoints(doc, dir, chain, self, every),
                     "starting the checkpoint publisher");
    return KG_OK;
}

static kg_result devnet_up(json_t *doc, const char *dir)
{
    kg_chain chain;
    memset(&chain, 0, sizeof(chain));
    kg_result rc = devnet_up_steps(doc, dir, &chain);
    kg_chain_close(&chain);
    return rc;
}

/* What `up` and `status` print: endpoints and addresses, never the key. */
static json_t *summary(const json_t *doc)
{
    static const char *const keys[] = {
        "rpc_url",    "chain_id",           "kms_url", "kms_contract", "state_dir", "pccs_url",
        "deployer",   "app_implementation", "sim_dir", "kms_ca_cert",  "audit_db",  "os_image_hash",
        "k256_pubkey"};
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(doc, keys[i]);
        if (v != NULL)
            json_object_set(o, keys[i], v);
    }
    return o;
}

static int cmd_up(const char *dir, long long every)
{
    json_t *doc = NULL;
    bool any = false;
    for (size_t i = 0; i < N_SERVICES; i++)
        any = any || kg_proc_alive(NULL, dir, services[i]);
    if (any) {
        fprintf(stderr,
                "keygate devnet: a devnet is already running in '%s' (keygate devnet status "
                "--state %s; keygate devnet down --state %s)\n",
                dir, dir, dir);
        return KG_EXIT_FAILED;
    }
    if (kg_failed(kg_cli_mkdirs(dir, 0700)))
        return kg_cli_fail();
    if (kg_failed(kg_devnet_load(&doc, dir))) {
        if (kg_error_code() != KG_ERR_NOT_FOUND)
            return kg_cli_fail();
        kg_error_clear();
        doc = json_object();
    }
    if (every >= 0) /* else what the last `up` was given */
        json_object_set_new(doc, "checkpoint_every", json_integer(every));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    kg_result up = devnet_up(doc, dir);
    if (kg_ok(up) && interrupted)
        up = kg_error_set(KG_ERR_IO, __FILE__, __LINE__, "interrupted");
    if (kg_failed(up)) {
        int status = kg_cli_fail();
        fprintf(stderr, "keygate devnet: stopping what was started (logs in %s/logs)\n", dir);
        (void)stop_all(dir, NULL);
        json_decref(doc);
        return status;
    }
    json_t *s = summary(doc);
    kg_cli_print_json(s, false);
    json_decref(s);
    json_decref(doc);
    return KG_EXIT_OK;
}

static int cmd_status(const char *dir)
{
    json_t *doc = NULL;
    if (kg_failed(kg_devnet_load(&doc, dir)))
        return kg_cli_fail();
    json_t *out = summary(doc);
    json_t *svc = json_object();
    bool all = true;
    for (size_t i = 0; i < N_SERVICES; i++) {
        kg_proc p;
        bool alive = kg_proc_alive(&p, dir, services[i]);
        json_t *o = json_pack("{s:b}", "running", alive);
        if (alive)
            json_object_set_new(o, "pid", json_integer(p.pid));
        json_object_set_new(svc, services[i], o);
        all = all && alive;
    }
    /* Answering, not just alive. */
    kg_chain chain;
    memset(&chain, 0, sizeof(chain));
    const char *rpc = kg_devnet_str(doc, "rpc_url");
    uint64_t block = 0;
    if (rpc != NULL && kg_ok(kg_chain_open(&chain, rpc, DEVNET_CHAIN_ID)) &&
        kg_ok(kg_chain_block_number(&chain, &block))) {
        json_object_set_new(out, "block_number", json_integer((json_int_t)block));
    } else {
        kg_error_clear();
        json_object_set_new(json_object_get(svc, "anvil"), "answering", json_false());
        all = false;
    }
    kg_chain_close(&chain);
    const char *kms = kg_devnet_str(doc, "kms_url");
    if (kms != NULL) {
        char url[KG_DEVNET_URL_MAX + 16];
        kg_buf resp;
        long st = 0;
        kg_buf_init(&resp, 65536);
        snprintf(url, sizeof(url), "%s/health", kms);
        bool healthy = kg_ok(kg_cli_http(&resp, &st, url, NULL, true, 3000)) && st == 200;
        kg_error_clear();
        json_object_set_new(json_object_get(svc, "kms"), "healthy", json_boolean(healthy));
        all = all && healthy;
        kg_buf_free(&resp);
    }
    json_object_set_new(out, "services", svc);
    json_object_set_new(out, "running", json_boolean(all));
    kg_cli_print_json(out, false);
    json_decref(out);
    json_decref(doc);
    return all ? KG_EXIT_OK : KG_EXIT_FAILED;
}

static int cmd_down(const char *dir)
{
    struct stat st;
    char portfile[PATH_MAX];
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "keygate devnet down: no devnet state in '%s'\n", dir);
        return KG_EXIT_FAILED;
    }
    json_t *stopped = json_array();
    kg_result rc = stop_all(dir, stopped);
    if (kg_ok(kg_cli_path(portfile, dir, "run/kms.port")))
        unlink(portfile);
    json_t *out = json_pack("{s:s,s:o}", "state_dir", dir, "stopped", stopped);
    kg_cli_print_json(out, true);
    json_decref(out);
    return kg_ok(rc) ? KG_EXIT_OK : KG_EXIT_FAILED;
}

int kg_cmd_devnet(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"checkpoint-every", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL;
    long long every = -1;
    static const kg_cli_group group = {"devnet", devnet_usage};
    int st = kg_cli_group_help(&group, argc, argv);
    if (st != KG_CLI_CONTINUE)
        return st;
    const char *sub = argv[1];
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'c': {
            char *end = NULL;
            every = strtoll(optarg, &end, 10);
            if (end == optarg || *end != '\0' || every < 0 || every > 86400) {
                fprintf(stderr, "keygate devnet: --checkpoint-every '%s' is not 0..86400 seconds\n",
                        optarg);
                return KG_EXIT_USAGE;
            }
            break;
        }
        case 'h': devnet_usage(stdout); return KG_EXIT_OK;
        default: return kg_cli_bad_option("devnet", argc, argv);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "keygate devnet: unexpected argument '%s'\n", argv[optind]);
        return KG_EXIT_USAGE;
    }
    char dir[PATH_MAX];
    if (kg_failed(kg_devnet_dir(dir, state)))
        return kg_cli_fail();
    if (every >= 0 && strcmp(sub, "up") != 0) {
        fprintf(stderr, "keygate devnet: --checkpoint-every is an option of 'up'\n");
        return KG_EXIT_USAGE;
    }
    if (strcmp(sub, "up") == 0)
        return cmd_up(dir, every);
    if (strcmp(sub, "status") == 0)
        return cmd_status(dir);
    if (strcmp(sub, "down") == 0)
        return cmd_down(dir);
    return kg_cli_group_unknown(&group, sub);
}
