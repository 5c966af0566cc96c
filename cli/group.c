/* group.c - what every command group shares at its head: the help/usage answer, running its
 * subcommand from a table, and the one message for an unknown subcommand or option. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static bool asks_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

int kg_cli_group_help(const kg_cli_group *g, int argc, char **argv)
{
    if (argc < 2) {
        g->usage(stderr);
        return KG_EXIT_USAGE;
    }
    if (asks_help(argv[1])) {
        g->usage(stdout);
        return KG_EXIT_OK;
    }
    return KG_CLI_CONTINUE;
}

int kg_cli_group_unknown(const kg_cli_group *g, const char *sub)
{
    fprintf(stderr, "keygate %s: unknown subcommand '%s'\n\n", g->name, sub);
    g->usage(stderr);
    return KG_EXIT_USAGE;
}

int kg_cli_group_run(const kg_cli_group *g, const kg_cli_command *subs, size_t n, int argc,
                     char **argv)
{
    int st = kg_cli_group_help(g, argc, argv);
    if (st != KG_CLI_CONTINUE)
        return st;
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(argc - 1, argv + 1);
    return kg_cli_group_unknown(g, argv[1]);
}

int kg_cli_group_parsed(const kg_cli_group *g, kg_result parsed, bool help)
{
    if (kg_failed(parsed)) {
        int st = kg_cli_fail();
        if (st == KG_EXIT_USAGE)
            fprintf(stderr, "Run 'keygate %s --help' for usage.\n", g->name);
        return st;
    }
    if (help) {
        g->usage(stdout);
        return KG_EXIT_OK;
    }
    return KG_CLI_CONTINUE;
}

int kg_cli_bad_option(const char *what, int argc, char *const argv[])
{
    fprintf(stderr, "keygate %s: unknown or incomplete option '%s'\n", what,
            optind > 0 && optind <= argc ? argv[optind - 1] : "?");
    return KG_EXIT_USAGE;
}
