/* cli.h - the command table shared by the keygate CLI's command groups. */
#ifndef KG_CLI_H
#define KG_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "keygate/result.h"

/* Exit codes, the same for every command (STYLE.md, CLI). */
#define KG_EXIT_OK 0
#define KG_EXIT_FAILED 1 /* a check failed or an operation did not succeed */
#define KG_EXIT_USAGE 2  /* the command line was wrong; nothing was done */
#define KG_EXIT_PENDING                                                                            \
    3 /* a transaction was sent and is not mined yet: it may still take effect */
#define KG_EXIT_CHANGED                                                                            \
    4 /* a transaction was mined (a change is on chain), then the command failed */

/* The exit status lines of the commands that write to the chain (README "Exit status"). */
#define KG_CLI_WRITE_EXIT_USAGE                                                                    \
    "Exit status: 0 ok, 1 failed (nothing changed on chain), 2 usage error (nothing done),\n"      \
    "3 a transaction was sent and is not mined yet (it may still take effect: 'keygate tx\n"       \
    "status HASH'), 4 a transaction was mined, then the command failed (the change is on\n"        \
    "chain).\n"

typedef struct kg_cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
} kg_cli_command;

/* A command group as its messages name it ("keygate <name>: ...") and its usage. */
typedef struct kg_cli_group {
    const char *name;
    void (*usage)(FILE *out);
} kg_cli_group;

#define KG_CLI_CONTINUE (-1) /* kg_cli_group_help: not a help request; go on with argv[1] */

/* The head of every group (group.c): no subcommand is the usage on stderr and KG_EXIT_USAGE;
 * "--help", "-h" or "help" the usage on stdout and KG_EXIT_OK; anything else KG_CLI_CONTINUE. */
int kg_cli_group_help(const kg_cli_group *g, int argc, char **argv);
/* "keygate <group>: unknown subcommand 'SUB'" and the usage on stderr; KG_EXIT_USAGE. */
int kg_cli_group_unknown(const kg_cli_group *g, const char *sub);
/* kg_cli_group_help, then the entry of subs (n of them) named argv[1], run on argv + 1 (its
 * argv[0] is its name, as a group's is), else unknown. */
int kg_cli_group_run(const kg_cli_group *g, const kg_cli_command *subs, size_t n, int argc,
                     char **argv);
#define KG_CLI_N(table) (sizeof(table) / sizeof((table)[0]))
/* After a group's own option parsing: a failure is reported (kg_cli_fail; for a usage error
 * with "Run 'keygate <name> --help' for usage.") and its status returned; a help request prints
 * the usage on stdout (KG_EXIT_OK); otherwise KG_CLI_CONTINUE. */
int kg_cli_group_parsed(const kg_cli_group *g, kg_result parsed, bool help);
/* An option getopt_long could not take (a value missing): "keygate <what>: unknown or
 * incomplete option 'X'" on stderr; KG_EXIT_USAGE. */
int kg_cli_bad_option(const char *what, int argc, char *const argv[]);

/* Each command group defines one entry point; listed in main.c's table. */
int kg_cmd_app(int argc, char **argv);
int kg_cmd_audit(int argc, char **argv);
int kg_cmd_dashboard(int argc, char **argv);
int kg_cmd_devnet(int argc, char **argv);
int kg_cmd_env(int argc, char **argv);
int kg_cmd_governor(int argc, char **argv);
int kg_cmd_kms(int argc, char **argv);
int kg_cmd_kdf(int argc, char **argv);
int kg_cmd_quote(int argc, char **argv);
int kg_cmd_sim(int argc, char **argv);
int kg_cmd_ratls(int argc, char **argv);
int kg_cmd_recovery(int argc, char **argv);
int kg_cmd_tx(int argc, char **argv);
/* `keygate kms recover` (cmd_recovery.c), dispatched from kg_cmd_kms; argv[0] is "recover". */
int kg_cmd_kms_recover(int argc, char **argv);
/* `keygate sim run` (cmd_sim_run.c), dispatched from kg_cmd_sim; argv[0] is "run". */
int kg_cmd_sim_run(int argc, char **argv);

/* getopt_long without abbreviations (getopt_strict.c): every long option must be spelled in
 * full, so `--private-key 0x...` is never read as `--private-key-file`; an unknown one prints
 * its name only (never a value) and exits KG_EXIT_USAGE. Every command's getopt_long is this. */
int kg_cli_getopt_long(int argc, char *const argv[], const char *optstring,
                       const struct option *longopts, int *longindex);
#define getopt_long kg_cli_getopt_long

/* The exit status of a command that returned `status`, told apart by what this process sent
 * (chain_tx.c): a failure while a transaction is pending is KG_EXIT_PENDING (its hash and how to
 * check it on stderr, {tx, state, rpc_url} on stdout), a failure after one was mined is
 * KG_EXIT_CHANGED; otherwise `status`. main() applies it to every command. */
int kg_cli_tx_exit_status(int status);

/* Prints "keygate: <message chain>" for the current error on stderr and returns
 * KG_EXIT_FAILED, or KG_EXIT_USAGE when the error is a usage error. */
int kg_cli_fail(void);

#endif
