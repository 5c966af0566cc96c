/* bytes.h - the bounds-checked reader for untrusted bytes, a capped growable buffer, hex, and
 * secret hygiene (wipe, constant-time compare). */
#ifndef KEYGATE_BYTES_H
#define KEYGATE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate/result.h"

/* ---- kg_reader: every parser of untrusted input reads through this cursor ------------------
 *
 * The reader borrows `data`; it never allocates or writes. Every read checks the length
 * against what remains *before* touching memory and fails with KG_ERR_TRUNCATED, naming the
 * field, so a parser's error reads "quote header: truncated reading 'version' (need 2, have 1)".
 * A failed read leaves the cursor where it was.
 */
typedef struct kg_reader {
    const uint8_t *data; /* borrowed */
    size_t len;          /* total bytes */
    size_t pos;          /* next byte to read; invariant pos <= len */
} kg_reader;

void kg_reader_init(kg_reader *r, const void *data, size_t len);
size_t kg_reader_remaining(const kg_reader *r);

/* Copies n bytes out. */
KG_RESULT kg_reader_read(kg_reader *r, void *out, size_t n, const char *field);
/* Borrows a pointer to the next n bytes (valid while the underlying data lives). */
KG_RESULT kg_reader_ptr(kg_reader *r, const uint8_t **out, size_t n, const char *field);
/* Carves the next n bytes into a sub-reader and advances past them. */
KG_RESULT kg_reader_sub(kg_reader *r, kg_reader *sub, size_t n, const char *field);
KG_RESULT kg_reader_skip(kg_reader *r, size_t n, const char *field);
KG_RESULT kg_reader_u8(kg_reader *r, uint8_t *out, const char *field);
KG_RESULT kg_reader_u16le(kg_reader *r, uint16_t *out, const char *field);
KG_RESULT kg_reader_u32le(kg_reader *r, uint32_t *out, const char *field);
KG_RESULT kg_reader_u64le(kg_reader *r, uint64_t *out, const char *field);
KG_RESULT kg_reader_u16be(kg_reader *r, uint16_t *out, const char *field);
KG_RESULT kg_reader_u32be(kg_reader *r, uint32_t *out, const char *field);
/* Fails with KG_ERR_INPUT unless every byte was consumed ("trailing bytes after ..."). */
KG_RESULT kg_reader_expect_end(const kg_reader *r, const char *what);

/* ---- kg_buf: a growable byte buffer with a named cap -----------------------------------------
 *
 * Owns its storage. Grows on demand up to `max` bytes and fails with KG_ERR_TOO_LARGE beyond
 * it, so no input can make it grow without bound. kg_buf_free wipes before freeing (buffers
 * often hold key material) and accepts a zeroed or already-freed buffer.
 */
typedef struct kg_buf {
    uint8_t *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
} kg_buf;

void kg_buf_init(kg_buf *b, size_t max);
KG_RESULT kg_buf_reserve(kg_buf *b, size_t extra);
KG_RESULT kg_buf_append(kg_buf *b, const void *data, size_t n);
KG_RESULT kg_buf_append_u8(kg_buf *b, uint8_t v);
KG_RESULT kg_buf_append_u16le(kg_buf *b, uint16_t v);
KG_RESULT kg_buf_append_u32le(kg_buf *b, uint32_t v);
KG_RESULT kg_buf_append_u64le(kg_buf *b, uint64_t v);
KG_RESULT kg_buf_append_u64be(kg_buf *b, uint64_t v);
KG_RESULT kg_buf_append_str(kg_buf *b, const char *s);
KG_RESULT kg_buf_printf(kg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a NUL without counting it in len, so data can be used as a C string. */
KG_RESULT kg_buf_terminate(kg_buf *b);
void kg_buf_reset(kg_buf *b); /* wipes content, keeps storage */
void kg_buf_free(kg_buf *b);  /* wipes and frees; b is reusable after kg_buf_init */

/* ---- hex --------------------------------------------------------------------------------- */

/* Lowercase hex of in[0..n) into out, which must hold 2n+1 bytes (NUL-terminated). */
KG_RESULT kg_hex_encode(char *out, size_t out_size, const uint8_t *in, size_t n);
/* The size of the buffer kg_hex_encode needs for n bytes (two digits each and the NUL). */
#define KG_HEX_SIZE(n) (2u * (n) + 1u)
/* Decodes hex text (optional "0x" prefix, either case) of hex_len chars into out, writing the
 * byte count to *out_len. Fails on odd length, a non-hex char, or more than out_cap bytes. */
KG_RESULT kg_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex,
                        size_t hex_len);
/* Decodes exactly n bytes from a NUL-terminated hex string; any other length is an error. */
KG_RESULT kg_hex_decode_exact(uint8_t *out, size_t n, const char *hex);
/* Decodes into a kg_buf (appending). */
KG_RESULT kg_hex_decode_buf(kg_buf *out, const char *hex, size_t hex_len);

/* ---- secrets ------------------------------------------------------------------------------ */

/* Wipes memory in a way the compiler cannot elide (OPENSSL_cleanse). NULL-safe. */
void kg_memzero(void *p, size_t n);
/* Constant-time equality of two n-byte regions; for secrets and MACs, not for ordering. */
bool kg_ct_equal(const void *a, const void *b, size_t n);

/* Copies untrusted text into out (NUL-terminated, cut to out_size) with every control
 * character (C0, DEL, C1) and every byte that is not part of valid UTF-8 written as "\xNN":
 * safe to store, log and print on a terminal. Returns the length written. */
size_t kg_text_escape(char *out, size_t out_size, const char *in, size_t in_len);

#endif
