/* cli.h - the command table shared by the keygate CLI's command groups. */
#ifndef KG_CLI_H
#define KG_CLI_H

#include <getopt.h>

/* Exit codes, the same for every command (STYLE.md, CLI). */
#define KG_EXIT_OK 0
#define KG_EXIT_FAILED 1 /* a check failed or an operation did not succeed */
#define KG_EXIT_USAGE 2  /* the command line was wrong */

typedef struct kg_cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
} kg_cli_command;

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
/* `keygate sim run` (cmd_sim_run.c), dispatched from kg_cmd_sim; argv[0] is "run". */
int kg_cmd_sim_run(int argc, char **argv);

/* getopt_long without abbreviations (getopt_strict.c): every long option must be spelled in
 * full, so `--private-key 0x...` is never read as `--private-key-file`; an unknown one prints
 * its name only (never a value) and exits KG_EXIT_USAGE. Every command's getopt_long is this. */
int kg_cli_getopt_long(int argc, char *const argv[], const char *optstring,
                       const struct option *longopts, int *longindex);
#define getopt_long kg_cli_getopt_long

/* Prints "keygate: <message chain>" for the current error on stderr and returns
 * KG_EXIT_FAILED, or KG_EXIT_USAGE when the error is a usage error. */
int kg_cli_fail(void);

#endif
