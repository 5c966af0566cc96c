/* json_out.h - a small JSON object writer into a kg_buf, so secret values (keys in hex or PEM)
 * are written once into a buffer that is wiped, never copied into a JSON library's heap. */
#ifndef KG_AGENT_JSON_OUT_H
#define KG_AGENT_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

typedef struct kg_jw {
    kg_buf *out; /* borrowed */
    bool first;  /* no member written yet at the current level */
} kg_jw;

KG_RESULT kg_jw_begin(kg_jw *w, kg_buf *out); /* "{" */
KG_RESULT kg_jw_end(kg_jw *w);                /* "}" */
/* "name":"value"; value must be ASCII (hex, PEM, names): anything else is KG_ERR_INPUT. */
KG_RESULT kg_jw_str(kg_jw *w, const char *name, const char *value);
KG_RESULT kg_jw_strn(kg_jw *w, const char *name, const char *value, size_t n);
KG_RESULT kg_jw_hex(kg_jw *w, const char *name, const uint8_t *bytes, size_t n);
KG_RESULT kg_jw_bool(kg_jw *w, const char *name, bool value);
KG_RESULT kg_jw_u64(kg_jw *w, const char *name, uint64_t value);
/* "name":<raw JSON text>, e.g. an array dumped by jansson with JSON_ENSURE_ASCII. */
KG_RESULT kg_jw_raw(kg_jw *w, const char *name, const char *json, size_t n);
/* "name":[ then kg_jw_item_* then kg_jw_array_end. */
KG_RESULT kg_jw_array_begin(kg_jw *w, const char *name);
KG_RESULT kg_jw_item_str(kg_jw *w, const char *value);
KG_RESULT kg_jw_item_hex(kg_jw *w, const uint8_t *bytes, size_t n);
KG_RESULT kg_jw_item_u64(kg_jw *w, uint64_t value);
/* An object as an array item: kg_jw_item_begin, its members, kg_jw_item_end. */
KG_RESULT kg_jw_item_begin(kg_jw *w);
KG_RESULT kg_jw_item_end(kg_jw *w);
KG_RESULT kg_jw_array_end(kg_jw *w);

#endif
