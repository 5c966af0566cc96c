/* merkle.c - RFC 9162 section 2.1: leaf and node hashing, the tree head of n leaves from
 * stored complete-subtree hashes, inclusion and consistency proofs (making and checking), and
 * C2SP tlog-tiles paths. SHA-256 is OpenSSL's (kg_sha256_parts). */
#include "keygate/tlog.h"

#include "keygate/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

kg_result kg_tlog_leaf_hash(uint8_t out[KG_TLOG_HASH_LEN], const void *data, size_t len)
{
    static const uint8_t zero = 0x00;
    const void *parts[2] = {&zero, data};
    size_t lens[2] = {1, len};
    return kg_sha256_parts(out, parts, lens, 2);
}

kg_result kg_tlog_node_hash(uint8_t out[KG_TLOG_HASH_LEN], const uint8_t left[KG_TLOG_HASH_LEN],
                            const uint8_t right[KG_TLOG_HASH_LEN])
{
    static const uint8_t one = 0x01;
    const void *parts[3] = {&one, left, right};
    size_t lens[3] = {1, KG_TLOG_HASH_LEN, KG_TLOG_HASH_LEN};
    return kg_sha256_parts(out, parts, lens, 3);
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static bool is_pow2(uint64_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

static uint32_t log2u(uint64_t n)
{
    uint32_t l = 0;
    while ((uint64_t)1 << l < n)
        l++;
    return l;
}

/* MTH(D[lo:hi]) for a range that arises in RFC 9162's recursion from 0: lo is aligned to the
 * largest power of two not above hi - lo, so every full left part is one stored hash. */
static kg_result subtree_hash(uint8_t out[KG_TLOG_HASH_LEN], uint64_t lo, uint64_t hi,
                              kg_tlog_reader rd, void *ctx)
{
    uint64_t n = hi - lo;
    if (is_pow2(n) && (lo & (n - 1)) == 0) {
        uint32_t level = log2u(n);
        return rd(ctx, level, lo >> level, out);
    }
    KG_ENSURE(n >= 2, KG_ERR_INTERNAL, "tlog: empty subtree");
    uint64_t k = split_point(n);
    uint8_t l[KG_TLOG_HASH_LEN], r[KG_TLOG_HASH_LEN];
    KG_GUARD(subtree_hash(l, lo, lo + k, rd, ctx));
    KG_GUARD(subtree_hash(r, lo + k, hi, rd, ctx));
    return kg_tlog_node_hash(out, l, r);
}

kg_result kg_tlog_tree_hash(uint8_t out[KG_TLOG_HASH_LEN], uint64_t n, kg_tlog_reader rd, void *ctx)
{
    KG_ENSURE(n <= KG_TLOG_MAX_SIZE, KG_ERR_TOO_LARGE, "tlog: tree size %" PRIu64 " too large", n);
    if (n == 0)
        return kg_sha256(out, "", 0);
    return subtree_hash(out, 0, n, rd, ctx);
}

static kg_result proof_push(kg_tlog_proof *p, const uint8_t h[KG_TLOG_HASH_LEN])
{
    KG_ENSURE(p->n < KG_TLOG_MAX_PROOF, KG_ERR_TOO_LARGE, "tlog: proof longer than %u hashes",
              KG_TLOG_MAX_PROOF);
    memcpy(p->hash[p->n++], h, KG_TLOG_HASH_LEN);
    return KG_OK;
}

/* PATH(m, D[lo:hi]) */
static kg_result path(kg_tlog_proof *p, uint64_t m, uint64_t lo, uint64_t hi, kg_tlog_reader rd,
                      void *ctx)
{
    uint64_t n = hi - lo;
    if (n == 1)
        return KG_OK;
    uint64_t k = split_point(n);
    uint8_t h[KG_TLOG_HASH_LEN];
    if (m < k) {
        KG_GUARD(path(p, m, lo, lo + k, rd, ctx));
        KG_GUARD(subtree_hash(h, lo + k, hi, rd, ctx));
    } else {
        KG_GUARD(path(p, m - k, lo + k, hi, rd, ctx));
        KG_GUARD(subtree_hash(h, lo, lo + k, rd, ctx));
    }
    return proof_push(p, h);
}

kg_result kg_tlog_inclusion_proof(kg_tlog_proof *out, uint64_t index, uint64_t n, kg_tlog_reader rd,
                                  void *ctx)
{
    out->n = 0;
    KG_ENSURE(index < n && n <= KG_TLOG_MAX_SIZE, KG_ERR_INPUT,
              "tlog: no leaf %" PRIu64 " in a tree of %" PRIu64, index, n);
    return path(out, index, 0, n, rd, ctx);
}

/* SUBPROOF(m, D[lo:hi], b) */
static kg_result subproof(kg_tlog_proof *p, uint64_t m, uint64_t lo, uint64_t hi, bool b,
                          kg_tlog_reader rd, void *ctx)
{
    uint64_t n = hi - lo;
    uint8_t h[KG_TLOG_HASH_LEN];
    if (m == n) {
        if (b)
            return KG_OK;
        KG_GUARD(subtree_hash(h, lo, hi, rd, ctx));
        return proof_push(p, h);
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        KG_GUARD(subproof(p, m, lo, lo + k, b, rd, ctx));
        KG_GUARD(subtree_hash(h, lo + k, hi, rd, ctx));
    } else {
        KG_GUARD(subproof(p, m - k, lo + k, hi, false, rd, ctx));
        KG_GUARD(subtree_hash(h, lo, lo + k, rd, ctx));
    }
    return proof_push(p, h);
}

kg_result kg_tlog_consistency_proof(kg_tlog_proof *out, uint64_t m, uint64_t n, kg_tlog_reader rd,
                                    void *ctx)
{
    out->n = 0;
    KG_ENSURE(m > 0 && m <= n && n <= KG_TLOG_MAX_SIZE, KG_ERR_INPUT,
              "tlog: no consistency proof from %" PRIu64 " to %" PRIu64, m, n);
    if (m == n)
        return KG_OK;
    return subproof(out, m, 0, n, true, rd, ctx);
}

kg_result kg_tlog_verify_inclusion(const uint8_t leaf[KG_TLOG_HASH_LEN], uint64_t index, uint64_t n,
                                   const kg_tlog_proof *proof, const uint8_t root[KG_TLOG_HASH_LEN])
{
    KG_ENSURE(index < n, KG_ERR_VERIFY, "inclusion: leaf %" PRIu64 " beyond tree size %" PRIu64,
              index, n);
    KG_ENSURE(proof->n <= KG_TLOG_MAX_PROOF, KG_ERR_TOO_LARGE, "inclusion: proof too long");
    uint64_t fn = index, sn = n - 1;
    uint8_t r[KG_TLOG_HASH_LEN];
    memcpy(r, leaf, KG_TLOG_HASH_LEN);
    for (size_t i = 0; i < proof->n; i++) {
        KG_ENSURE(sn != 0, KG_ERR_VERIFY, "inclusion: proof too long");
        if ((fn & 1) || fn == sn) {
            KG_GUARD(kg_tlog_node_hash(r, proof->hash[i], r));
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            KG_GUARD(kg_tlog_node_hash(r, r, proof->hash[i]));
        }
        fn >>= 1;
        sn >>= 1;
    }
    KG_ENSURE(sn == 0, KG_ERR_VERIFY, "inclusion: proof too short");
    KG_ENSURE(memcmp(r, root, KG_TLOG_HASH_LEN) == 0, KG_ERR_VERIFY,
              "inclusion: leaf %" PRIu64 " not in the tree of size %" PRIu64 " (root differs)",
              index, n);
    return KG_OK;
}

kg_result kg_tlog_verify_consistency(uint64_t m, uint64_t n, const kg_tlog_proof *proof,
                                     const uint8_t root_m[KG_TLOG_HASH_LEN],
                                     const uint8_t root_n[KG_TLOG_HASH_LEN])
{
    KG_ENSURE(m > 0 && m <= n, KG_ERR_VERIFY,
              "consistency: sizes %" PRIu64 " -> %" PRIu64 " cannot be checked", m, n);
    KG_ENSURE(proof->n <= KG_TLOG_MAX_PROOF, KG_ERR_TOO_LARGE, "consistency: proof too long");
    if (m == n) {
        KG_ENSURE(proof->n == 0, KG_ERR_VERIFY, "consistency: non-empty proof for equal sizes");
        KG_ENSURE(memcmp(root_m, root_n, KG_TLOG_HASH_LEN) == 0, KG_ERR_VERIFY,
                  "consistency: two different trees of size %" PRIu64, m);
        return KG_OK;
    }
    /* RFC 9162 2.1.4.2; when m is a power of two, first_hash is the proof's implicit start. */
    const uint8_t *path_[KG_TLOG_MAX_PROOF + 1];
    size_t np = 0;
    if (is_pow2(m))
        path_[np++] = root_m;
    for (size_t i = 0; i < proof->n; i++)
        path_[np++] = proof->hash[i];
    KG_ENSURE(np >= 1, KG_ERR_VERIFY, "consistency: empty proof");
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[KG_TLOG_HASH_LEN], sr[KG_TLOG_HASH_LEN];
    memcpy(fr, path_[0], KG_TLOG_HASH_LEN);
    memcpy(sr, path_[0], KG_TLOG_HASH_LEN);
    for (size_t i = 1; i < np; i++) {
        KG_ENSURE(sn != 0, KG_ERR_VERIFY, "consistency: proof too long");
        if ((fn & 1) || fn == sn) {
            KG_GUARD(kg_tlog_node_hash(fr, path_[i], fr));
            KG_GUARD(kg_tlog_node_hash(sr, path_[i], sr));
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            KG_GUARD(kg_tlog_node_hash(sr, sr, path_[i]));
        }
        fn >>= 1;
        sn >>= 1;
    }
    KG_ENSURE(sn == 0, KG_ERR_VERIFY, "consistency: proof too short");
    KG_ENSURE(
        memcmp(fr, root_m, KG_TLOG_HASH_LEN) == 0 && memcmp(sr, root_n, KG_TLOG_HASH_LEN) == 0,
        KG_ERR_VERIFY,
        "consistency: the tree of size %" PRIu64 " does not extend the one of size %" PRIu64, n, m);
    return KG_OK;
}

/* ---- tiles ---------------------------------------------------------------------------------- */

uint32_t kg_tlog_tile_width(uint32_t level, uint64_t index, uint64_t n)
{
    if (level >= 8 || index > KG_TLOG_MAX_SIZE / KG_TLOG_TILE_WIDTH)
        return 0;
    uint32_t shift = KG_TLOG_TILE_HEIGHT * level;
    uint64_t hashes = shift >= 64 ? 0 : n >> shift; /* stored hashes at tree level 8*level */
    if (hashes <= index * KG_TLOG_TILE_WIDTH)
        return 0;
    uint64_t w = hashes - index * KG_TLOG_TILE_WIDTH;
    return w >= KG_TLOG_TILE_WIDTH ? KG_TLOG_TILE_WIDTH : (uint32_t)w;
}

kg_result kg_tlog_tile_path(char *out, size_t out_size, const kg_tlog_tile *t)
{
    KG_ENSURE(t->width >= 1 && t->width <= KG_TLOG_TILE_WIDTH && t->level < 8 &&
                  (!t->entries || t->level == 0),
              KG_ERR_USAGE, "tlog: bad tile");
    /* groups of three digits, most significant first, all but the last prefixed with 'x' */
    uint64_t groups[8];
    size_t ng = 0;
    uint64_t v = t->index;
    do {
        groups[ng++] = v % 1000;
        v /= 1000;
    } while (v > 0);
    char sep[96];
    size_t sp = 0;
    for (size_t i = ng; i-- > 0;)
        sp += (size_t)snprintf(sep + sp, sizeof(sep) - sp, "%s%s%03" PRIu64, i + 1 < ng ? "/" : "",
                               i > 0 ? "x" : "", groups[i]);
    int w;
    if (t->entries)
        w = snprintf(out, out_size, "tile/entries/%s", sep);
    else
        w = snprintf(out, out_size, "tile/%u/%s", (unsigned)t->level, sep);
    KG_ENSURE(w > 0 && (size_t)w < out_size, KG_ERR_TOO_LARGE, "tlog: tile path too long");
    if (t->width < KG_TLOG_TILE_WIDTH) {
        int w2 = snprintf(out + w, out_size - (size_t)w, ".p/%u", (unsigned)t->width);
        KG_ENSURE(w2 > 0 && (size_t)w2 < out_size - (size_t)w, KG_ERR_TOO_LARGE,
                  "tlog: tile path too long");
    }
    return KG_OK;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly 3 digits. */
static kg_result read3(kg_reader *r, uint32_t *v, const char *field)
{
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, 3, field));
    KG_ENSURE(is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]), KG_ERR_INPUT,
              "tile path: '%s' is not three digits", field);
    *v = (uint32_t)(p[0] - '0') * 100 + (uint32_t)(p[1] - '0') * 10 + (uint32_t)(p[2] - '0');
    return KG_OK;
}

static kg_result expect(kg_reader *r, const char *lit, const char *field)
{
    size_t n = strlen(lit);
    const uint8_t *p;
    KG_GUARD(kg_reader_ptr(r, &p, n, field));
    KG_ENSURE(memcmp(p, lit, n) == 0, KG_ERR_INPUT, "tile path: expected '%s' for %s", lit, field);
    return KG_OK;
}

kg_result kg_tlog_tile_parse(kg_tlog_tile *out, const char *path_, size_t len)
{
    memset(out, 0, sizeof(*out));
    KG_ENSURE(len <= KG_TLOG_MAX_PATH, KG_ERR_TOO_LARGE, "tile path: longer than %u bytes",
              KG_TLOG_MAX_PATH);
    kg_reader r;
    kg_reader_init(&r, path_, len);
    KG_GUARD(expect(&r, "tile/", "prefix"));
    if (kg_reader_remaining(&r) >= 8 && memcmp(r.data + r.pos, "entries/", 8) == 0) {
        KG_GUARD(kg_reader_skip(&r, 8, "entries"));
        out->entries = true;
    } else {
        uint8_t c, slash;
        KG_GUARD(kg_reader_u8(&r, &c, "level"));
        KG_ENSURE(c >= '0' && c <= '7', KG_ERR_INPUT, "tile path: level not 0..7");
        out->level = (uint32_t)(c - '0');
        KG_GUARD(kg_reader_u8(&r, &slash, "level separator"));
        KG_ENSURE(slash == '/', KG_ERR_INPUT, "tile path: expected '/' after the level");
    }
    /* N: ("x" DDD "/")* DDD; at most 6 groups (< 2^62 / 256 tiles), no leading zero group. */
    uint64_t index = 0;
    for (unsigned g = 0;; g++) {
        KG_ENSURE(g < 6, KG_ERR_TOO_LARGE, "tile path: tile index too long");
        bool more = kg_reader_remaining(&r) > 0 && r.data[r.pos] == 'x';
        if (more)
            KG_GUARD(kg_reader_skip(&r, 1, "index group"));
        uint32_t v = 0;
        KG_GUARD(read3(&r, &v, "index group"));
        KG_ENSURE(g > 0 || v > 0 || !more, KG_ERR_INPUT, "tile path: leading zero group");
        index = index * 1000 + v;
        if (!more)
            break;
        KG_GUARD(expect(&r, "/", "index separator"));
    }
    KG_ENSURE(index <= KG_TLOG_MAX_SIZE / KG_TLOG_TILE_WIDTH, KG_ERR_TOO_LARGE,
              "tile path: tile index beyond any tree");
    out->index = index;
    out->width = KG_TLOG_TILE_WIDTH;
    if (kg_reader_remaining(&r) > 0) {
        KG_GUARD(expect(&r, ".p/", "partial suffix"));
        size_t n = kg_reader_remaining(&r);
        KG_ENSURE(n >= 1 && n <= 3, KG_ERR_INPUT, "tile path: bad partial width");
        uint32_t w = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t c;
            KG_GUARD(kg_reader_u8(&r, &c, "width"));
            KG_ENSURE(is_digit(c) && !(i == 0 && c == '0'), KG_ERR_INPUT,
                      "tile path: bad partial width");
            w = w * 10 + (uint32_t)(c - '0');
        }
        KG_ENSURE(w >= 1 && w < KG_TLOG_TILE_WIDTH, KG_ERR_INPUT,
                  "tile path: partial width %u not in 1..255", (unsigned)w);
        out->width = w;
    }
    return kg_reader_expect_end(&r, "tile path");
}
