/* scale.h - the subset of the SCALE codec (Parity's "Simple Concatenated Aggregate Little-Endian")
 * that dstack's RA-TLS types use; internal to lib/ratls.
 *
 * Wire rules (parity-scale-codec 3.x, as used by dstack at 312dc605):
 *   fixed-width integers   little-endian (u32: 4 bytes, u64: 8 bytes)
 *   bool                   one byte, 0x00 or 0x01 (anything else is an error)
 *   Option<T>              0x00 (None) or 0x01 followed by T
 *   enum                   one index byte (declaration order), then the variant's fields
 *   [u8; N]                N raw bytes
 *   Vec<T>, String         compact length (element count; bytes for String), then the elements;
 *                          a String is UTF-8
 *   compact integer        low two bits of the first byte select the mode:
 *                            0b00 one byte,   value = b0 >> 2                (0..63)
 *                            0b01 two bytes,  value = u16le >> 2             (64..2^14-1)
 *                            0b10 four bytes, value = u32le >> 2             (2^14..2^30-1)
 *                            0b11 big:        (b0 >> 2) + 4 bytes follow, little-endian
 *                                             (>= 2^30, no redundant high zero byte)
 *                          A value in a larger mode than needed is refused, as parity does, so
 *                          every value has exactly one encoding.
 *
 * Every read goes through kg_reader; a length is checked against what remains and against the
 * caller's named maximum before anything is touched.
 */
#ifndef KG_RATLS_SCALE_H
#define KG_RATLS_SCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/bytes.h"
#include "keygate/result.h"

/* ---- decoding ---------------------------------------------------------------------------- */

/* A canonical compact integer (up to 64 bits). */
KG_RESULT kg_scale_compact(kg_reader *r, uint64_t *out, const char *field);

/* A compact element count of a Vec whose elements take at least min_elem_size bytes each:
 * fails with KG_ERR_TOO_LARGE when the count exceeds max or cannot fit in what remains. */
KG_RESULT kg_scale_len(kg_reader *r, size_t *out, size_t max, size_t min_elem_size,
                       const char *field);

/* Vec<u8>: borrows the bytes (valid while the reader's data lives). */
KG_RESULT kg_scale_bytes(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field);

/* String: borrows the UTF-8 bytes (not NUL-terminated); KG_ERR_INPUT when not valid UTF-8. */
KG_RESULT kg_scale_str(kg_reader *r, const uint8_t **p, size_t *n, size_t max, const char *field);

KG_RESULT kg_scale_bool(kg_reader *r, bool *out, const char *field);
/* Option tag: *some = false for 0x00, true for 0x01. */
KG_RESULT kg_scale_option(kg_reader *r, bool *some, const char *field);
/* Enum index: fails with KG_ERR_INPUT when idx >= n_variants. */
KG_RESULT kg_scale_enum(kg_reader *r, uint8_t *idx, uint8_t n_variants, const char *field);

/* Whether p[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
bool kg_utf8_valid(const uint8_t *p, size_t n);

/* ---- encoding (appending to a kg_buf, whose cap bounds the output) ----------------------- */

KG_RESULT kg_scale_put_compact(kg_buf *b, uint64_t v);
KG_RESULT kg_scale_put_bytes(kg_buf *b, const void *p, size_t n); /* Vec<u8> */
KG_RESULT kg_scale_put_str(kg_buf *b, const char *s, size_t n);   /* String */
KG_RESULT kg_scale_put_bool(kg_buf *b, bool v);
KG_RESULT kg_scale_put_u32(kg_buf *b, uint32_t v);
KG_RESULT kg_scale_put_u64(kg_buf *b, uint64_t v);

#endif
