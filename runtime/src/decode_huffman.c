/* WEIGHTS_HUFFMAN (docs/format.md 3.8): canonical Huffman streams, decoded at load.
 *
 * Every head and table is checked before the output is allocated, and the output is bounded by
 * the blob: a stream of c coded bytes may claim at most 8c symbols (each code is >= 1 bit).
 * The decoder is zlib's puff-style canonical walk, bit by bit, MSB first; it runs once per
 * layer at load, never during inference. Rules and messages follow
 * edgecomp/packed/encodings/huffman.py so both readers accept the same files.
 */
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define MAX_LEN 15
#define MAX_STREAMS 8
#define HEAD 12u
#define STREAM_HEAD 10u

#define FAIL(...) return ert_node_fail(ld, n, idx, __VA_ARGS__)

typedef struct stream {
    uint32_t raw_bytes, coded_bytes, n_symbols;
    const uint8_t *symbols, *lengths, *bits;
} stream;

/* Canonical decoding tables: count[len] codes of each length, symbols by (length, symbol). */
typedef struct table {
    uint16_t count[MAX_LEN + 1];
    uint8_t sorted[256];
} table;

static edgert_status check_table(ert_loader *ld, const ert_node *n, uint32_t idx, uint32_t s,
                                 const stream *st, table *t)
{
    memset(t, 0, sizeof *t);
    if (st->n_symbols < 1 || st->n_symbols > 256)
        FAIL("Huffman stream %u: %u symbols, a table has 1..256", s, st->n_symbols);
    uint32_t kraft = 0;
    for (uint32_t i = 0; i < st->n_symbols; i++) {
        if (i && st->symbols[i] <= st->symbols[i - 1])
            FAIL("Huffman stream %u: table symbols are not strictly increasing", s);
        uint32_t len = st->lengths[i];
        if (len < 1 || len > MAX_LEN)
            FAIL("Huffman stream %u: code lengths must be in [1, %d]", s, MAX_LEN);
        t->count[len]++;
        kraft += 1u << (MAX_LEN - len);
    }
    if (!(kraft == 1u << MAX_LEN || (st->n_symbols == 1 && st->lengths[0] == 1)))
        FAIL("Huffman stream %u: code lengths do not make a complete prefix code (Kraft sum "
             "%u/%u)", s, kraft, 1u << MAX_LEN);
    /* symbols arrive increasing, so a counting sort by length gives (length, symbol) order */
    uint32_t offs[MAX_LEN + 2] = {0};
    for (int len = 1; len <= MAX_LEN; len++)
        offs[len + 1] = offs[len] + t->count[len];
    for (uint32_t i = 0; i < st->n_symbols; i++)
        t->sorted[offs[st->lengths[i]]++] = st->symbols[i];
    return EDGERT_OK;
}

static edgert_status decode_stream(ert_loader *ld, const ert_node *n, uint32_t idx, uint32_t s,
                                   const stream *st, const table *t, uint8_t *out)
{
    const uint64_t nbits = 8ull * st->coded_bytes;
    uint64_t p = 0;
    for (uint32_t i = 0; i < st->raw_bytes; i++) {
        int32_t code = 0, first = 0, index = 0;
        int len;
        for (len = 1; len <= MAX_LEN; len++) {
            if (p >= nbits)
                FAIL("Huffman stream %u: bit stream ends inside a code after %u of %u symbols",
                     s, i, st->raw_bytes);
            code |= (st->bits[p >> 3] >> (7 - (p & 7))) & 1;
            p++;
            int32_t count = t->count[len];
            if (code - count < first) {
                out[i] = t->sorted[index + (code - first)];
                break;
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        if (len > MAX_LEN)
            FAIL("Huffman stream %u: invalid code at bit %llu", s, (unsigned long long)p);
    }
    int tail_ok = (p + 7) / 8 == st->coded_bytes;
    for (uint64_t q = p; tail_ok && q < nbits; q++)
        tail_ok = !((st->bits[q >> 3] >> (7 - (q & 7))) & 1);
    if (!tail_ok)
        FAIL("Huffman stream %u: %u coded bytes, the %u symbols use %llu bits (unused bits must "
             "be 0 and no byte may be left over)", s, st->coded_bytes, st->raw_bytes,
             (unsigned long long)p);
    return EDGERT_OK;
}

edgert_status ert_huffman_decode(ert_loader *ld, const ert_node *n, uint32_t idx,
                                 const uint8_t *p, uint64_t size, uint32_t *inner_kind,
                                 uint8_t **out, uint64_t *out_len)
{
    *out = NULL;
    if (size < HEAD)
        FAIL("blob of %llu bytes ends inside its Huffman header", (unsigned long long)size);
    uint32_t kind = ert_rd32(p), inner_size = ert_rd32(p + 4), n_streams = ert_rd32(p + 8);
    if (!(kind == BLOB_WEIGHTS_DENSE || kind == BLOB_WEIGHTS_SPARSE_REL8 ||
          (kind >= BLOB_WEIGHTS_SPARSE_REL4 && kind <= BLOB_WEIGHTS_SHARED)))
        FAIL("Huffman blob codes a blob of kind %u; only weight kinds 1, 2, 9-12 may be coded",
             kind);
    if (n_streams < 1 || n_streams > MAX_STREAMS)
        FAIL("%u Huffman streams, allowed 1..%d", n_streams, MAX_STREAMS);
    stream st[MAX_STREAMS];
    uint64_t pos = HEAD, total = 0;
    for (uint32_t s = 0; s < n_streams; s++) {
        if (size - pos < STREAM_HEAD)
            FAIL("blob of %llu bytes ends inside its stream head", (unsigned long long)size);
        st[s].raw_bytes = ert_rd32(p + pos);
        st[s].coded_bytes = ert_rd32(p + pos + 4);
        st[s].n_symbols = ert_rd16(p + pos + 8);
        pos += STREAM_HEAD;
        if (size - pos < 2ull * st[s].n_symbols)
            FAIL("blob of %llu bytes ends inside its symbol table", (unsigned long long)size);
        st[s].symbols = p + pos;
        st[s].lengths = p + pos + st[s].n_symbols;
        pos += 2ull * st[s].n_symbols;
        table t;
        edgert_status e = check_table(ld, n, idx, s, &st[s], &t);
        if (e)
            return e;
        if ((uint64_t)st[s].raw_bytes > 8ull * st[s].coded_bytes)
            FAIL("Huffman stream %u: %u symbols cannot fit in %u coded bytes", s,
                 st[s].raw_bytes, st[s].coded_bytes);
        if (size - pos < st[s].coded_bytes)
            FAIL("blob of %llu bytes ends inside its bit stream", (unsigned long long)size);
        st[s].bits = p + pos;
        pos += st[s].coded_bytes;
        total += st[s].raw_bytes;
    }
    if (pos != size)
        FAIL("%llu unexpected bytes after the last Huffman stream",
             (unsigned long long)(size - pos));
    if (total != inner_size)
        FAIL("the streams decode to %llu bytes, the header says %u", (unsigned long long)total,
             inner_size);
    /* total <= 8 * size: bounded by the file */
    uint8_t *buf = malloc(total ? (size_t)total : 1);
    if (!buf)
        return ert_fail(ld->err, ld->errlen, EDGERT_ERR_NO_MEMORY,
                        "out of memory decoding %llu Huffman-coded weight bytes",
                        (unsigned long long)total);
    uint64_t off = 0;
    for (uint32_t s = 0; s < n_streams; s++) {
        table t;
        edgert_status e = check_table(ld, n, idx, s, &st[s], &t);
        if (!e)
            e = decode_stream(ld, n, idx, s, &st[s], &t, buf + off);
        if (e) {
            free(buf);
            return e;
        }
        off += st[s].raw_bytes;
    }
    *inner_kind = kind;
    *out = buf;
    *out_len = total;
    return EDGERT_OK;
}
