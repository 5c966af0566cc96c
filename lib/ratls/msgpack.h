/* msgpack.h - the subset of MessagePack (msgpack.org spec) that dstack's AttestationV1 uses as
 * rmp-serde writes it; internal to lib/ratls.
 *
 * Decoded (first byte selects the family; multi-byte lengths and integers are big-endian):
 *   0x00-0x7f positive fixint      0xcc/0xcd/0xce/0xcf uint 8/16/32/64
 *   0xe0-0xff negative fixint      0xd0/0xd1/0xd2/0xd3 int 8/16/32/64
 *   0xc0 nil, 0xc2/0xc3 false/true
 *   0xa0-0xbf fixstr (len in low 5 bits), 0xd9/0xda/0xdb str 8/16/32
 *   0xc4/0xc5/0xc6 bin 8/16/32
 *   0x90-0x9f fixarray, 0xdc/0xdd array 16/32
 *   0x80-0x8f fixmap, 0xde/0xdf map 16/32
 * Floats and ext types are refused (dstack's types have none). Every length is checked against
 * what remains and the caller's named maximum; a string must be UTF-8.
 *
 * The reader is a pull cursor: the caller asks for the type it expects, so a value of another
 * type is an error naming the field ("'quote': expected bin or array, found str").
 */
#ifndef KG_RATLS_MSGPACK_H
#define KG_RATLS_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

typedef enum kg_mp_type {
    KG_MP_NIL,
    KG_MP_BOOL,
    KG_MP_UINT, /* a non-negative integer (any integer marker) */
    KG_MP_NEGINT,
    KG_MP_STR,
    KG_MP_BIN,
    KG_MP_ARRAY,
    KG_MP_MAP,
    KG_MP_OTHER, /* float, ext, 0xc1: refused by every reader below */
} kg_mp_type;

/* The type of the next value, without consuming it (KG_ERR_TRUNCATED at the end). */
KG_RESULT kg_mp_peek(const kg_reader *r, kg_mp_type *out, const char *field);

/* A map header: *n entries (each a key and a value follow); at most max. */
KG_RESULT kg_mp_map(kg_reader *r, size_t *n, size_t max, const char *field);
/* An array header: *n elements follow; at most max. */
KG_RESULT kg_mp_array(kg_reader *r, size_t *n, size_t max, const char *field);
/* A str: borrows its UTF-8 bytes (not NUL-terminated); at most max bytes. */
KG_RESULT kg_mp_str(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field);
/* A bin: borrows its bytes; at most max. */
KG_RESULT kg_mp_bin(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field);
/* A non-negative integer that fits 64 bits. */
KG_RESULT kg_mp_uint(kg_reader *r, uint64_t *out, const char *field);
KG_RESULT kg_mp_nil(kg_reader *r, const char *field);
/* A byte string as serde writes Vec<u8>: a bin, or an array of integers 0..255 (serde's default
 * for a plain Vec<u8>). Appended to out (its cap also bounds it); at most max bytes. */
KG_RESULT kg_mp_bytes(kg_reader *r, kg_buf *out, size_t max, const char *field);

/* ---- encoding (minimal forms, as rmp-serde writes them) ---------------------------------- */

KG_RESULT kg_mp_put_map(kg_buf *b, size_t n);
KG_RESULT kg_mp_put_array(kg_buf *b, size_t n);
KG_RESULT kg_mp_put_str(kg_buf *b, const char *s, size_t n);
KG_RESULT kg_mp_put_cstr(kg_buf *b, const char *s);
KG_RESULT kg_mp_put_bin(kg_buf *b, const void *p, size_t n);
KG_RESULT kg_mp_put_uint(kg_buf *b, uint64_t v);
/* Vec<u8> without serde_bytes: an array of integers. */
KG_RESULT kg_mp_put_u8_array(kg_buf *b, const uint8_t *p, size_t n);

#endif
