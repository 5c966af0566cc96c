/* audit_verify.h - `keygate audit verify` (cli/cmd_audit_verify.c). */
#ifndef KG_CLI_AUDIT_VERIFY_H
#define KG_CLI_AUDIT_VERIFY_H

/* argv[0] is "verify". Exit 0 when the log verifies, 1 with each violation, 2 on usage. */
int kg_cmd_audit_verify(int argc, char **argv);

#endif
