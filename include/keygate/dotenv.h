/* dotenv.h - parses a .env file (KEY=VALUE lines) into the variable list that `keygate env
 * encrypt` seals to an app (SPEC.md section 5). The file is the operator's, but it is parsed as
 * untrusted text: bounded, every name checked, errors naming the line. */
#ifndef KEYGATE_DOTENV_H
#define KEYGATE_DOTENV_H

#include <stddef.h>

#include "keygate/envcrypt.h"
#include "keygate/result.h"

#define KG_DOTENV_MAX_LEN (256u * 1024u) /* a .env larger than this is refused */

/*
 * Appends the variables of text[0..len) to list (initialised by the caller, who frees it):
 *   - one KEY=VALUE per line (LF or CRLF); blank lines and lines starting with '#' are skipped;
 *   - an optional leading "export "; spaces around KEY and before VALUE are dropped;
 *   - VALUE is taken literally to the end of the line, except that one pair of matching outer
 *     quotes ('...' or "...") is removed (no escapes, no interpolation);
 *   - KEY must pass kg_env_check_name, no KEY may repeat (kg_env_verify_names), no NUL bytes.
 * Errors: KG_ERR_INPUT "<what>:<line>: ..." naming the line; KG_ERR_TOO_LARGE above
 * KG_DOTENV_MAX_LEN or KG_ENV_MAX_VARS. `what` (e.g. the file name) is borrowed, for messages.
 */
KG_RESULT kg_dotenv_parse(kg_env_list *list, const char *text, size_t len, const char *what);

#endif
