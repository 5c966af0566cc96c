/* kms_index.h - `keygate kms index` (cli/cmd_kms_index.c). */
#ifndef KG_CLI_KMS_INDEX_H
#define KG_CLI_KMS_INDEX_H

/* argv[0] is "kms", argv[1] "index". Exit 0 when indexed (or nothing was missing), 1 on a
 * failure, 2 on usage. */
int kg_cmd_kms_index(int argc, char **argv);

#endif
