/* main.c - keygate CLI entry: the command table, usage and dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keygate/result.h"
#include "keygate/version.h"

static const kg_cli_command commands[] = {
    {"devnet", kg_cmd_devnet,
     "Local devnet: anvil, contracts, simulated TDX, KMS (up|status|down)"},
    {"app", kg_cmd_app,
     "Govern apps on chain: compose-hash, deploy, allow, revoke, propose, veto, status"},
    {"kms", kg_cmd_kms, "Govern the KMS on chain: allow/revoke KMS MRs, devices, OS images"},
    {"governor", kg_cmd_governor,
     "Carry a Governor proposal on: status, vote, queue, execute, delegate"},
    {"env", kg_cmd_env, "Encrypt an app's environment to its KMS-signed public key"},
    {"audit", kg_cmd_audit, "Inspect the KMS decision log (audit list --state DIR or --db FILE)"},
    {"dashboard", kg_cmd_dashboard,
     "Local read-only web page: governance, KMS, decisions, log verification"},
    {"quote", kg_cmd_quote, "Verify or inspect Intel DCAP quotes (TDX, SGX) against collateral"},
    {"ratls", kg_cmd_ratls, "Inspect (verify) or create RA-TLS certificates"},
    {"recovery", kg_cmd_recovery,
     "A recovery holder's side of sealed root keys: keygen, decrypt-share"},
    {"sim", kg_cmd_sim, "Simulated TDX platform: init, quote, extend, eventlog, pccs"},
    {"tx", kg_cmd_tx, "Where a transaction is: pending, mined (success or reverted) or unknown"},
    {"kdf", kg_cmd_kdf,
     "Derive app keys from root keys (debugging the docs/protocol.md section 5 KDF)"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "Usage: keygate <command> [options]\n\n"
                 "keygate releases TEE app keys only to code its on-chain governance allows.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'keygate <command> --help' for a command's options; 'keygate --version'\n"
                 "prints the version and the git commit of the build.\n"
                 "Exit status: 0 ok, 1 failed (nothing changed on chain), 2 usage error,\n"
                 "3 a transaction was sent and is not mined yet, 4 a transaction was mined,\n"
                 "then the command failed (README \"Exit status\").\n");
}

int kg_cli_fail(void)
{
    fprintf(stderr, "keygate: %s\n", kg_error_message());
    return kg_error_code() == KG_ERR_USAGE ? KG_EXIT_USAGE : KG_EXIT_FAILED;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return KG_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return KG_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("%s\n", KG_VERSION_LINE("keygate"));
        return KG_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return kg_cli_tx_exit_status(commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "keygate: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return KG_EXIT_USAGE;
}
