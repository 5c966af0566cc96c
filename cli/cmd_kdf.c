/* cmd_kdf.c - `keygate kdf`: placeholder until the crypto core lands (replaced by the KDF). */
#include <stdio.h>

#include "cli.h"

int kg_cmd_kdf(int argc, char **argv)
{
    fprintf(stderr, "keygate kdf: not built yet\n");
    return KG_EXIT_FAILED;
}
