/* audit_internal.h - what lib/audit/verify.c shares with audit.c (not part of the API). */
#ifndef KG_AUDIT_INTERNAL_H
#define KG_AUDIT_INTERNAL_H

#include <sqlite3.h>

#include "keygate/audit.h"

/* The columns of the decisions table in order, from time_ms (1) to released (17). */
#define KG_AUDIT_N_COLS 17

/* The row a log entry stands for: each column as the text (or integer) audit.c writes, so a
 * stored row can be compared byte for byte. Text columns: NULL when the row holds NULL. */
typedef struct kg_audit_row_text {
    int64_t time_ms;
    bool has_block;
    int64_t block_number;
    char *col[KG_AUDIT_N_COLS + 1]; /* owned; indexed by column number (1..17); int columns NULL */
} kg_audit_row_text;

KG_RESULT kg_audit_row_of_entry_(kg_audit_row_text *out, const kg_log_entry *e);
void kg_audit_row_text_free_(kg_audit_row_text *t);
/* The column names, indexed like kg_audit_row_text.col. */
extern const char *const kg_audit_col_names_[KG_AUDIT_N_COLS + 1];

sqlite3 *kg_audit_sqlite_(kg_audit *a);

#endif
