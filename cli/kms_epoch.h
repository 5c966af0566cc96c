/* kms_epoch.h - `keygate kms epoch` (cli/cmd_kms_epoch.c) and the KMS contract signer it shares
 * with the other `keygate kms` governance commands (cli/cmd_kms.c). */
#ifndef KG_CLI_KMS_EPOCH_H
#define KG_CLI_KMS_EPOCH_H

#include <stdbool.h>

#include "chain.h"

/* argv[0] is "kms", argv[1] "epoch", argv[2] the action. Exit 0 when done, 1 on a failure, 2 on
 * usage (and the write exits of kg_cli_write). */
int kg_cmd_kms_epoch(int argc, char **argv);

/* Opens the signer of a KMS contract change (cmd_kms.c): its acting address must be the
 * contract's owner, or with `guardian` its guardian in force (none: KG_ERR_DENIED). */
KG_RESULT kg_cli_kms_signer(kg_cli_signer *sg, const kg_cli_target *t, const kg_cli_signer_opts *o,
                            bool guardian);

#endif
