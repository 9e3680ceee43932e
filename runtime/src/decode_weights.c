/* Weight blobs of kinds 9-13 (docs/format.md 3.3-3.8), decoded once at load.
 *
 * A blob is parsed into a layout (where the stored values go: dense, rel8, rel4, bitmap or
 * block) and a value source (int8 values, or codes into a codebook for WEIGHTS_SHARED); a
 * Huffman blob is first decoded into a buffer holding the blob it codes. One walker visits the
 * stored values in row-major order and hands them to an emitter: a first walk checks every rule
 * and counts the rel8 pairs (padding included) each row would need; the layer then becomes
 * dense rows or rel8 pairs, whichever is smaller (the rule of edgecomp/packed/stats.py), and a
 * second walk fills it. Allocations are bounded by C_out*K <= 2^28 and by the blob's size.
 * Rules and messages follow edgecomp/packed/encodings/ so both readers accept the same files.
 */
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define FAIL(...) return ert_node_fail(ld, n, idx, __VA_ARGS__)

int ert_is_decoded_weights(uint32_t kind)
{
    return kind >= BLOB_WEIGHTS_SPARSE_REL4 && kind <= BLOB_WEIGHTS_HUFFMAN;
}

/* The value array of a layout: raw int8, or `bits`-wide codes (LSB first) into a codebook. */
typedef struct values {
    const uint8_t *raw;
    const uint8_t *codes;
    uint64_t codes_len;
    const int8_t *codebook;
    uint32_t bits;
} values;

static inline int8_t value_at(const values *v, uint64_t i)
{
    if (v->raw)
        return (int8_t)v->raw[i];
    uint64_t bit = i * v->bits, byte = bit >> 3;
    uint32_t word = v->codes[byte];
    if (byte + 1 < v->codes_len)
        word |= (uint32_t)v->codes[byte + 1] << 8;
    return v->codebook[(word >> (bit & 7)) & ((1u << v->bits) - 1)];
}

/* Where the values go. */
typedef struct layout {
    uint32_t kind, count;
    uint64_t index_len, n_values;
    const uint8_t *row_start;   /* rel8, rel4, block: u32[C_out + 1] */
    const uint8_t *steps;       /* rel8: u8[count]; rel4: nibbles */
    const uint8_t *bitmap;
    uint32_t block_len, index_bytes;
    const uint8_t *index;       /* block numbers */
} layout;

/* Sizes of `kind`'s index part at p (avail bytes) for this count; fills lay. The early count
 * bounds are implied by the layout rules (each stored value has its own position), and keep
 * every size below 2^40. */
static edgert_status index_part(ert_loader *ld, ert_node *n, uint32_t idx, uint32_t kind,
                                const uint8_t *p, uint64_t avail, uint32_t count,
                                uint32_t c_out, uint32_t k, layout *lay)
{
    const uint64_t ck = (uint64_t)c_out * k, rs_len = 4ull * (c_out + 1);
    memset(lay, 0, sizeof *lay);
    lay->kind = kind;
    lay->count = count;
    lay->n_values = count;
    switch (kind) {
    case BLOB_WEIGHTS_DENSE:
        if (count != ck)
            FAIL("dense weights count %u != C_out*K = %u*%u = %llu", count, c_out, k,
                 (unsigned long long)ck);
        break;
    case BLOB_WEIGHTS_SPARSE_REL8:
    case BLOB_WEIGHTS_SPARSE_REL4:
        if (count > ck)
            FAIL("%u pairs cannot fit in C_out*K = %llu positions", count,
                 (unsigned long long)ck);
        lay->index_len = rs_len + (kind == BLOB_WEIGHTS_SPARSE_REL8 ? count : (count + 1ull) / 2);
        lay->row_start = p;
        lay->steps = p + rs_len;
        break;
    case BLOB_WEIGHTS_BITMAP:
        if (count > ck)
            FAIL("bitmap count %u exceeds C_out*K = %llu", count, (unsigned long long)ck);
        lay->index_len = (ck + 7) / 8;
        lay->bitmap = p;
        break;
    case BLOB_WEIGHTS_BLOCK:
        if (avail < 8)
            FAIL("blob of %llu bytes ends inside its block header", (unsigned long long)avail);
        lay->block_len = ert_rd32(p);
        lay->index_bytes = ert_rd32(p + 4);
        if (lay->block_len < 1 || lay->block_len > k || k % lay->block_len)
            FAIL("block length %u must divide K = %u", lay->block_len, k);
        if (lay->index_bytes != 1 && lay->index_bytes != 2 && lay->index_bytes != 4)
            FAIL("block index width %u is not 1, 2 or 4 bytes", lay->index_bytes);
        if (count > ck / lay->block_len)
            FAIL("%u blocks of %u cannot fit in C_out*K = %llu", count, lay->block_len,
                 (unsigned long long)ck);
        lay->index_len = 8 + rs_len + (uint64_t)lay->index_bytes * count;
        lay->n_values = (uint64_t)lay->block_len * count;
        lay->row_start = p + 8;
        lay->index = p + 8 + rs_len;
        break;
    default:
        FAIL("blob kind %s cannot hold weights", ert_blob_kind_name(kind));
    }
    if (lay->index_len > avail)
        FAIL("blob of %llu bytes ends inside its index part (%llu bytes)",
             (unsigned long long)avail, (unsigned long long)lay->index_len);
    return EDGERT_OK;
}

/* ---- emitters: what a walk does with each stored (row, pos, value) ---- */

enum { EMIT_COUNT, EMIT_DENSE, EMIT_REL8 };

typedef struct emitter {
    int mode;
    uint32_t k, row;
    int64_t last;               /* last non-zero position in `row`, -1 at its start */
    uint32_t *row_pairs;        /* COUNT: rel8 pairs of each row */
    int8_t *dense;              /* DENSE: [C_out][K], zeroed */
    int8_t *values;             /* REL8 */
    uint8_t *steps;
    uint32_t cursor;
} emitter;

static inline void emit(emitter *e, uint32_t row, uint32_t pos, int8_t v)
{
    if (e->mode == EMIT_DENSE) {
        e->dense[(uint64_t)row * e->k + pos] = v;
        return;
    }
    if (v == 0) /* stored zeros contribute nothing; rel8 keeps zeros only as padding */
        return;
    if (row != e->row) {
        e->row = row;
        e->last = -1;
    }
    uint64_t gap = (uint64_t)(pos - e->last - 1);
    e->last = pos;
    if (e->mode == EMIT_COUNT) {
        e->row_pairs[row] += (uint32_t)(1 + gap / 256);
        return;
    }
    for (; gap > 255; gap -= 256) { /* padding pairs (0, 255), docs/format.md 3.2 */
        e->values[e->cursor] = 0;
        e->steps[e->cursor++] = 255;
    }
    e->values[e->cursor] = v;
    e->steps[e->cursor++] = (uint8_t)gap;
}

/* ---- the walk: checks every rule of the layout, emits in row-major order ---- */

static edgert_status check_row_start(ert_loader *ld, ert_node *n, uint32_t idx,
                                     const layout *lay, uint32_t c_out)
{
    uint32_t first = ert_rd32(lay->row_start), last = ert_rd32(lay->row_start + 4ull * c_out);
    int ok = first == 0 && last == lay->count;
    for (uint32_t c = 0; ok && c < c_out; c++)
        ok = ert_rd32(lay->row_start + 4ull * c) <= ert_rd32(lay->row_start + 4ull * (c + 1));
    if (!ok)
        FAIL("row_start is not a non-decreasing index from 0 to the count %u (starts at %u, "
             "ends at %u)", lay->count, first, last);
    return EDGERT_OK;
}

static uint32_t block_index(const layout *lay, uint64_t b)
{
    const uint8_t *q = lay->index + b * lay->index_bytes;
    return lay->index_bytes == 1 ? q[0] : lay->index_bytes == 2 ? ert_rd16(q) : ert_rd32(q);
}

static edgert_status walk(ert_loader *ld, ert_node *n, uint32_t idx, const layout *lay,
                          const values *v, uint32_t c_out, uint32_t k, emitter *e)
{
    edgert_status st;
    switch (lay->kind) {
    case BLOB_WEIGHTS_DENSE:
        for (uint32_t c = 0; c < c_out; c++)
            for (uint32_t j = 0; j < k; j++)
                emit(e, c, j, value_at(v, (uint64_t)c * k + j));
        return EDGERT_OK;
    case BLOB_WEIGHTS_SPARSE_REL8:
    case BLOB_WEIGHTS_SPARSE_REL4: {
        int rel4 = lay->kind == BLOB_WEIGHTS_SPARSE_REL4;
        if ((st = check_row_start(ld, n, idx, lay, c_out)))
            return st;
        if (rel4 && lay->count % 2 && lay->steps[lay->count / 2] >> 4)
            FAIL("the unused high nibble of the last step byte is not 0");
        for (uint32_t c = 0; c < c_out; c++) {
            uint32_t a = ert_rd32(lay->row_start + 4ull * c);
            uint32_t b = ert_rd32(lay->row_start + 4ull * (c + 1));
            int64_t pos = -1;
            for (uint32_t i = a; i < b; i++) {
                uint32_t step = rel4 ? (lay->steps[i / 2] >> (4 * (i % 2))) & 15u
                                     : lay->steps[i];
                pos += (int64_t)step + 1;
                if (pos >= (int64_t)k) { /* report the row's final position, as 3.2 says */
                    for (uint32_t j = i + 1; j < b; j++)
                        pos += (rel4 ? (lay->steps[j / 2] >> (4 * (j % 2))) & 15u
                                     : lay->steps[j]) + 1;
                    FAIL("row %u decodes to position %lld >= K = %u", c, (long long)pos, k);
                }
                emit(e, c, (uint32_t)pos, value_at(v, i));
            }
        }
        return EDGERT_OK;
    }
    case BLOB_WEIGHTS_BITMAP: {
        const uint64_t ck = (uint64_t)c_out * k, nbytes = (ck + 7) / 8;
        uint64_t set = 0;
        for (uint64_t i = 0; i < nbytes; i++)
            for (uint8_t b = lay->bitmap[i]; b; b &= (uint8_t)(b - 1))
                set++;
        if (ck % 8 && lay->bitmap[nbytes - 1] >> (ck % 8))
            FAIL("bitmap bits past C_out*K = %llu are not 0", (unsigned long long)ck);
        if (set != lay->count)
            FAIL("bitmap has %llu set bits, count is %u", (unsigned long long)set, lay->count);
        uint64_t vi = 0;
        for (uint64_t i = 0; i < nbytes; i++)
            for (uint32_t bit = 0; lay->bitmap[i] && bit < 8; bit++)
                if (lay->bitmap[i] >> bit & 1) {
                    uint64_t j = 8 * i + bit;
                    emit(e, (uint32_t)(j / k), (uint32_t)(j % k), value_at(v, vi++));
                }
        return EDGERT_OK;
    }
    case BLOB_WEIGHTS_BLOCK: {
        if ((st = check_row_start(ld, n, idx, lay, c_out)))
            return st;
        const uint32_t bl = lay->block_len, nb = k / bl;
        for (uint32_t c = 0; c < c_out; c++) {
            uint32_t a = ert_rd32(lay->row_start + 4ull * c);
            uint32_t b = ert_rd32(lay->row_start + 4ull * (c + 1));
            int64_t prev = -1;
            for (uint32_t i = a; i < b; i++) {
                uint32_t ix = block_index(lay, i);
                if (ix >= nb || (int64_t)ix <= prev)
                    FAIL("block indices must be < K/B = %u and strictly increasing within a "
                         "row (row %u has %u after %lld)", nb, c, ix, (long long)prev);
                prev = ix;
                for (uint32_t j = 0; j < bl; j++)
                    emit(e, c, ix * bl + j, value_at(v, (uint64_t)i * bl + j));
            }
        }
        return EDGERT_OK;
    }
    }
    FAIL("blob kind %s cannot hold weights", ert_blob_kind_name(lay->kind));
}

/* ---- blob parsing ---- */

/* A blob of kind 1, 2, 9, 10, 11 (values as int8) or 12 (codes) at p, size bytes. */
static edgert_status parse_blob(ert_loader *ld, ert_node *n, uint32_t idx, uint32_t kind,
                                const uint8_t *p, uint64_t size, uint32_t count, uint32_t c_out,
                                uint32_t k, layout *lay, values *v)
{
    edgert_status st;
    memset(v, 0, sizeof *v);
    if (kind != BLOB_WEIGHTS_SHARED) {
        if ((st = index_part(ld, n, idx, kind, p, size, count, c_out, k, lay)))
            return st;
        if (size != lay->index_len + lay->n_values)
            FAIL("%s blob has %llu bytes, its layout needs %llu", ert_blob_kind_name(kind),
                 (unsigned long long)size,
                 (unsigned long long)(lay->index_len + lay->n_values));
        if (kind == BLOB_WEIGHTS_SPARSE_REL8) { /* rel8 keeps its values before the steps */
            v->raw = p + 4ull * (c_out + 1);
            lay->steps = v->raw + count;
        } else {
            v->raw = p + lay->index_len;
        }
        return EDGERT_OK;
    }
    if (size < 4)
        FAIL("blob of %llu bytes ends inside its shared header", (unsigned long long)size);
    uint32_t bits = p[0], inner = p[1], n_codes = ert_rd16(p + 2);
    if (bits < 1 || bits > 8)
        FAIL("shared code width %u is not in [1, 8]", bits);
    if (!(inner == BLOB_WEIGHTS_DENSE || inner == BLOB_WEIGHTS_SPARSE_REL8 ||
          inner == BLOB_WEIGHTS_SPARSE_REL4 || inner == BLOB_WEIGHTS_BITMAP ||
          inner == BLOB_WEIGHTS_BLOCK))
        FAIL("shared weights over layout kind %u; allowed 1, 2, 9, 10, 11", inner);
    if (n_codes < 1 || n_codes > 1u << bits)
        FAIL("%u codebook entries, %u-bit codes allow 1..%u", n_codes, bits, 1u << bits);
    if (size - 4 < n_codes)
        FAIL("blob of %llu bytes ends inside its codebook", (unsigned long long)size);
    const uint64_t head = 4ull + n_codes;
    if ((st = index_part(ld, n, idx, inner, p + head, size - head, count, c_out, k, lay)))
        return st;
    v->codebook = (const int8_t *)(p + 4);
    v->bits = bits;
    v->codes = p + head + lay->index_len;
    v->codes_len = (lay->n_values * bits + 7) / 8;
    if (size != head + lay->index_len + v->codes_len)
        FAIL("WEIGHTS_SHARED blob has %llu bytes, its layout needs %llu",
             (unsigned long long)size,
             (unsigned long long)(head + lay->index_len + v->codes_len));
    /* every code inside the codebook, unused bits 0 */
    for (uint64_t i = 0; i < lay->n_values; i++) {
        uint64_t bit = i * bits, byte = bit >> 3;
        uint32_t word = v->codes[byte];
        if (byte + 1 < v->codes_len)
            word |= (uint32_t)v->codes[byte + 1] << 8;
        uint32_t code = (word >> (bit & 7)) & ((1u << bits) - 1);
        if (code >= n_codes)
            FAIL("code %u at value %llu is past the codebook (%u entries)", code,
                 (unsigned long long)i, n_codes);
    }
    uint64_t used = lay->n_values * bits;
    if (used % 8 && v->codes[v->codes_len - 1] >> (used % 8))
        FAIL("the unused bits after the last code are not 0");
    return EDGERT_OK;
}

/* Check and count (first walk), then build dense rows or rel8 pairs (second walk). */
static edgert_status build(ert_loader *ld, ert_node *n, uint32_t idx, const layout *lay,
                           const values *v, uint32_t c_out, uint32_t k)
{
    uint32_t *pairs = calloc((size_t)c_out + 1, sizeof *pairs);
    if (!pairs)
        return ert_fail(ld->err, ld->errlen, EDGERT_ERR_NO_MEMORY,
                        "out of memory decoding weights of %u rows", c_out);
    emitter e = {.mode = EMIT_COUNT, .k = k, .row = UINT32_MAX, .row_pairs = pairs};
    edgert_status st = walk(ld, n, idx, lay, v, c_out, k, &e);
    if (st) {
        free(pairs);
        return st;
    }
    uint64_t total = 0;
    for (uint32_t c = 0; c < c_out; c++)
        total += pairs[c];
    const uint64_t dense_bytes = (uint64_t)c_out * k;
    if (4ull * (c_out + 1) + 2 * total < dense_bytes) {
        /* row_start (u32, first so it stays aligned), values, steps: one allocation */
        uint8_t *mem = malloc(4ull * (c_out + 1) + 2 * total + 1);
        if (!mem) {
            free(pairs);
            return ert_fail(ld->err, ld->errlen, EDGERT_ERR_NO_MEMORY,
                            "out of memory for %llu decoded weight pairs",
                            (unsigned long long)total);
        }
        uint32_t *rs = (uint32_t *)(void *)mem;
        rs[0] = 0;
        for (uint32_t c = 0; c < c_out; c++)
            rs[c + 1] = rs[c] + pairs[c];
        e = (emitter){.mode = EMIT_REL8, .k = k, .row = UINT32_MAX,
                      .values = (int8_t *)(mem + 4ull * (c_out + 1)),
                      .steps = mem + 4ull * (c_out + 1) + total};
        n->w.encoding = EDGERT_WEIGHTS_SPARSE_REL8;
        n->w.row_start = rs;
        n->w.values = e.values;
        n->w.steps = e.steps;
        n->w.pairs = (uint32_t)total;
        n->w.owned = mem;
    } else {
        int8_t *dense = calloc((size_t)dense_bytes, 1);
        if (!dense) {
            free(pairs);
            return ert_fail(ld->err, ld->errlen, EDGERT_ERR_NO_MEMORY,
                            "out of memory for %llu decoded weights",
                            (unsigned long long)dense_bytes);
        }
        e = (emitter){.mode = EMIT_DENSE, .k = k, .dense = dense};
        n->w.encoding = EDGERT_WEIGHTS_DENSE;
        n->w.dense = dense;
        n->w.owned = dense;
    }
    free(pairs);
    return walk(ld, n, idx, lay, v, c_out, k, &e); /* checked above: cannot fail now */
}

edgert_status ert_decode_weights(ert_loader *ld, ert_node *n, uint32_t idx,
                                 const ert_blobref *blob, uint32_t c_out, uint32_t k)
{
    if ((uint64_t)c_out * k > ERT_MAX_DECODED_WEIGHTS)
        FAIL("decoded weights of C_out*K = %u*%u exceed 2^28", c_out, k);
    uint32_t kind = blob->kind;
    const uint8_t *p = blob->p;
    uint64_t size = blob->size;
    uint8_t *inner = NULL;
    edgert_status st;
    if (kind == BLOB_WEIGHTS_HUFFMAN) {
        if ((st = ert_huffman_decode(ld, n, idx, p, size, &kind, &inner, &size)))
            return st;
        p = inner;
    }
    layout lay;
    values v;
    st = parse_blob(ld, n, idx, kind, p, size, blob->count, c_out, k, &lay, &v);
    if (!st)
        st = build(ld, n, idx, &lay, &v, c_out, k);
    if (!st) {
        n->w.src = blob->p;
        n->w.src_len = blob->size;
    }
    free(inner);
    return st;
}
