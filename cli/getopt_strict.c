/* getopt_strict.c - getopt_long without abbreviations, for every keygate command (cli.h maps
 * getopt_long here). glibc's getopt_long takes any unambiguous prefix of a long option, so
 * `--private-key 0xSECRET` was read as `--private-key-file 0xSECRET`, and the error about the
 * "file" then printed the key. Here a long option must be spelled in full, and an error names
 * the option only: never its value (after '=') nor the argument after it. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#undef getopt_long /* the real one, below */

/* Whether name[0..n) names something secret-bearing: the message then says how to pass it. */
static bool secret_name(const char *name, size_t n)
{
    static const char *const words[] = {"key", "secret", "password", "mnemonic", "seed"};
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= n; i++)
            if (memcmp(name + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

/* Checks argv[from..argc) up to "--": every "--name[=value]" must be one of longopts, in full.
 * Returns the index of the first that is not, or -1. */
static int first_unknown(int argc, char *const argv[], int from, const struct option *longopts)
{
    for (int i = from; i < argc; i++) {
        const char *a = argv[i];
        if (a == NULL || strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--", 2) != 0)
            continue; /* an operand (getopt permutes them), or a short option */
        const char *name = a + 2;
        size_t n = strcspn(name, "=");
        const struct option *o = longopts;
        while (o != NULL && o->name != NULL &&
               !(strlen(o->name) == n && memcmp(o->name, name, n) == 0))
            o++;
        if (o == NULL || o->name == NULL)
            return i;
        if (o->has_arg == required_argument && name[n] != '=')
            i++; /* its value, whatever it looks like */
    }
    return -1;
}

int kg_cli_getopt_long(int argc, char *const argv[], const char *optstring,
                       const struct option *longopts, int *longindex)
{
    int from = optind > 0 ? optind : 1;
    int bad = first_unknown(argc, argv, from, longopts);
    if (bad >= 0) {
        const char *name = argv[bad] + 2;
        int n = (int)strcspn(name, "=");
        const char *prefix_of = NULL;
        for (const struct option *o = longopts; o->name != NULL; o++)
            if (n > 0 && strncmp(o->name, name, (size_t)n) == 0) {
                prefix_of = o->name;
                break;
            }
        fprintf(stderr, "keygate: unknown or incomplete option '--%.*s'", n, name);
        if (prefix_of != NULL)
            fprintf(stderr, " (options are not abbreviated: did you mean '--%s'?)", prefix_of);
        fputc('\n', stderr);
        if (secret_name(name, (size_t)n))
            fprintf(stderr, "keygate: keys are never taken on the command line: give "
                            "--private-key-file FILE (mode 0600) or set $KEYGATE_PRIVATE_KEY; "
                            "its value was not used nor printed\n");
        exit(KG_EXIT_USAGE);
    }
    return getopt_long(argc, argv, optstring, longopts, longindex);
}
