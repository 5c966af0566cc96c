/* dotenv.h - parses a .env file (Docker Compose's env-file syntax) into the variable list that
 * `keygate env encrypt` seals to an app (docs/protocol.md section 5). The file is the operator's,
 * but it is parsed as untrusted text: bounded, every name checked, errors naming the line. */
#ifndef KEYGATE_DOTENV_H
#define KEYGATE_DOTENV_H

#include <stddef.h>

#include "keygate/envcrypt.h"
#include "keygate/result.h"

#define KG_DOTENV_MAX_LEN (256u * 1024u) /* a .env larger than this is refused */

/*
 * Appends the variables of text[0..len) to list (initialised by the caller, who frees it),
 * following Docker Compose's env-file syntax:
 *   - one KEY=VALUE per line (LF or CRLF); blank lines and lines starting with '#' are skipped;
 *     an optional leading "export "; blanks around KEY and after '=' are dropped;
 *   - unquoted VALUE: to the end of the line, " #" starts a comment, trailing blanks dropped,
 *     backslashes literal;
 *   - 'single-quoted': literal (\' is a quote); "double-quoted": \n \r \t \\ \" \' \$
 *     escapes; both may span lines; after the closing quote only blanks and a '#' comment;
 *   - "$$" is a literal '$' in unquoted and double-quoted values.
 * Refused, naming the line (never quoting a value): interpolation ($NAME, ${NAME}: keygate does
 * not read the encrypting machine's environment), a KEY without '=', an unsupported escape, an
 * unclosed quote, text after a closing quote, names failing kg_env_check_name, repeated names
 * (kg_env_verify_names), NUL bytes, invalid UTF-8.
 * Errors: KG_ERR_INPUT "<what>:<line>: ..."; KG_ERR_TOO_LARGE above KG_DOTENV_MAX_LEN or
 * KG_ENV_MAX_VARS. `what` (e.g. the file name) is borrowed, for messages.
 */
KG_RESULT kg_dotenv_parse(kg_env_list *list, const char *text, size_t len, const char *what);

#endif
