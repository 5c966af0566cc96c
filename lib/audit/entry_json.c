/* entry_json.c - a decision log entry as the row kg_audit_list lists for it, for readers of a
 * KMS's served log (GET /tile/entries/...) who have no copy of its database. */
#include <stdlib.h>
#include <string.h>

#include "keygate/audit.h"
#include "keygate/bytes.h"

#include "audit_internal.h"

/* Text as a JSON string: as it is when valid UTF-8, else escaped (\xNN), since an entry read
 * from elsewhere may hold anything. NULL only when out of memory. */
static json_t *text_json(const char *s)
{
    size_t n = strlen(s);
    json_t *j = json_stringn(s, n);
    if (j != NULL || n > KG_AUDIT_MAX_FIELD)
        return j;
    char *esc = malloc(4 * n + 1);
    if (esc == NULL)
        return NULL;
    j = json_stringn(esc, kg_text_escape(esc, 4 * n + 1, s, n));
    free(esc);
    return j;
}

kg_result kg_audit_entry_json(json_t **out, const kg_log_entry *e)
{
    kg_audit_row_text t;
    *out = NULL;
    KG_GUARD(kg_audit_row_of_entry_(&t, e));
    kg_result rc = KG_ERROR;
    json_t *row = json_pack("{s:I,s:I,s:o}", "id", (json_int_t)e->audit_id, "time_ms",
                            (json_int_t)t.time_ms, "block_number",
                            t.has_block ? json_integer((json_int_t)t.block_number) : json_null());
    KG_ENSURE_C(row != NULL, KG_ERR_NOMEM, "audit: out of memory");
    for (size_t c = 2; c <= KG_AUDIT_N_COLS; c++) {
        if (c == 15) /* block_number, an integer column */
            continue;
        json_t *v = t.col[c] != NULL ? text_json(t.col[c]) : json_null();
        KG_ENSURE_C(v != NULL && json_object_set_new(row, kg_audit_col_names_[c], v) == 0,
                    KG_ERR_NOMEM, "audit: out of memory");
    }
    *out = row;
    row = NULL;
    rc = KG_OK;
cleanup:
    json_decref(row);
    kg_audit_row_text_free_(&t);
    return rc;
}
