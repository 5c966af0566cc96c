/* kms_checkpoint.h - `keygate kms checkpoint` (cli/cmd_kms_checkpoint.c). */
#ifndef KG_CLI_KMS_CHECKPOINT_H
#define KG_CLI_KMS_CHECKPOINT_H

/* argv[0] is "kms", argv[1] "checkpoint". Exit 0 when published (or already on chain), 1 on a
 * failure (a rollback or fork against the chain included), 2 on usage. */
int kg_cmd_kms_checkpoint(int argc, char **argv);

#endif
