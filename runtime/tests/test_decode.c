/* Weight blobs decoded at load (docs/format.md 3.3-3.8): rel4, bitmap, block, shared and
 * Huffman. Each encoding of one weight matrix must run exactly like its dense blob, and every
 * broken rule must be refused with EDGERT_ERR_FORMAT and a message naming it. The encoders here
 * are small test-only twins of edgecomp/packed/encodings/ (the golden cases of gen_golden.py
 * check the Python writer's files on every target). */
#include <stdlib.h>

#include "../src/reader.h"
#include "check.h"
#include "test_models.h"

#define C_OUT 6
#define K 320 /* > 255: rel8 padding; kernel-like blocks of 4, 16, 80 */

static char err[512];
static int8_t W[C_OUT][K];

/* Rows that break encoders: a gap > 255 (row 0), an empty row (1), gaps > 15 (2), only the last
 * position (3), dense (4), blocks of 16 with holes (5). */
static void make_weights(void)
{
    uint32_t st = 7;
    memset(W, 0, sizeof W);
    W[0][0] = 5;
    W[0][300] = -7;
    W[0][319] = 1;
    for (int j = 0; j < K; j += 17)
        W[2][j] = (int8_t)tm_rand(&st, -120, 120) | 1;
    W[3][K - 1] = -127;
    for (int j = 0; j < K; j++)
        W[4][j] = (int8_t)tm_rand(&st, -3, 3);
    for (int j = 32; j < 48; j++)
        W[5][j] = (int8_t)(j % 5 - 2);
    for (int j = 240; j < 256; j++)
        W[5][j] = 9;
}

/* ---- tiny encoders: a growable byte string ---- */

typedef struct bytes {
    uint8_t p[8192];
    size_t n;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put8(bytes *b, uint32_t v) { b->p[b->n++] = (uint8_t)v; }
static void put16(bytes *b, uint32_t v) { put8(b, v & 255), put8(b, v >> 8); }
static void put32(bytes *b, uint32_t v) { put16(b, v & 0xffff), put16(b, v >> 16); }

/* Relative pairs with `sbits`-bit steps (8: rel8, 4: rel4). */
static uint32_t rel_pairs(int sbits, uint32_t *rs, int8_t *vals, uint8_t *steps)
{
    uint32_t n = 0, span = 1u << sbits;
    rs[0] = 0;
    for (int c = 0; c < C_OUT; c++) {
        int last = -1;
        for (int j = 0; j < K; j++) {
            if (!W[c][j])
                continue;
            uint32_t gap = (uint32_t)(j - last - 1);
            for (; gap >= span; gap -= span)
                vals[n] = 0, steps[n++] = (uint8_t)(span - 1);
            vals[n] = W[c][j], steps[n++] = (uint8_t)gap;
            last = j;
        }
        rs[c + 1] = n;
    }
    return n;
}

/* Index part + values of a layout; *count its blob count; values go to vals (n_values). */
static void layout_parts(uint32_t kind, uint32_t block, bytes *index, int8_t *vals,
                         uint32_t *n_values, uint32_t *count, int rel8_raw_values)
{
    uint32_t rs[C_OUT + 1];
    uint8_t steps[2 * C_OUT * K];
    index->n = 0;
    *n_values = 0;
    if (kind == 1) {
        memcpy(vals, W, sizeof W);
        *n_values = *count = C_OUT * K;
    } else if (kind == 2 || kind == 9) {
        uint32_t n = rel_pairs(kind == 2 ? 8 : 4, rs, vals, steps);
        for (int c = 0; c <= C_OUT; c++)
            put32(index, rs[c]);
        if (kind == 2 && rel8_raw_values) /* rel8 stores its values before the steps */
            put(index, vals, n);
        if (kind == 2)
            put(index, steps, n);
        else
            for (uint32_t i = 0; i < n; i += 2)
                put8(index, steps[i] | (i + 1 < n ? steps[i + 1] << 4 : 0));
        *n_values = *count = n;
    } else if (kind == 10) {
        uint8_t bm[(C_OUT * K + 7) / 8] = {0};
        for (int j = 0; j < C_OUT * K; j++)
            if (((int8_t *)W)[j]) {
                bm[j / 8] |= (uint8_t)(1u << (j % 8));
                vals[(*n_values)++] = ((int8_t *)W)[j];
            }
        put(index, bm, sizeof bm);
        *count = *n_values;
    } else { /* block */
        bytes idx = {.n = 0};
        uint32_t kept = 0;
        rs[0] = 0;
        for (int c = 0; c < C_OUT; c++) {
            for (uint32_t j = 0; j < K / block; j++) {
                int any = 0;
                for (uint32_t t = 0; t < block; t++)
                    any |= W[c][j * block + t];
                if (!any)
                    continue;
                put16(&idx, j);
                memcpy(vals + *n_values, &W[c][j * block], block);
                *n_values += block;
                kept++;
            }
            rs[c + 1] = kept;
        }
        put32(index, block);
        put32(index, 2);
        for (int c = 0; c <= C_OUT; c++)
            put32(index, rs[c]);
        put(index, idx.p, idx.n);
        *count = kept;
    }
}

static void raw_blob(uint32_t kind, uint32_t block, bytes *out, uint32_t *count)
{
    static int8_t vals[2 * C_OUT * K];
    uint32_t nv;
    layout_parts(kind, block, out, vals, &nv, count, 1);
    if (kind != 2)
        put(out, vals, nv);
}

/* WEIGHTS_SHARED over a layout: the codebook is the distinct values, codes `bits` wide. */
static void shared_blob(uint32_t kind, uint32_t block, uint32_t bits, bytes *out,
                        uint32_t *count)
{
    static int8_t vals[2 * C_OUT * K];
    bytes index;
    uint32_t nv;
    layout_parts(kind, block, &index, vals, &nv, count, 0);
    int8_t book[256];
    uint32_t nb = 0;
    for (uint32_t i = 0; i < nv; i++) {
        uint32_t j = 0;
        while (j < nb && book[j] != vals[i])
            j++;
        if (j == nb)
            book[nb++] = vals[i];
    }
    out->n = 0;
    put8(out, bits), put8(out, kind), put16(out, nb);
    put(out, book, nb);
    put(out, index.p, index.n);
    size_t base = out->n, nbytes = ((size_t)nv * bits + 7) / 8;
    memset(out->p + base, 0, nbytes);
    for (uint32_t i = 0; i < nv; i++) {
        uint32_t code = 0;
        while (book[code] != vals[i])
            code++;
        for (uint32_t b = 0; b < bits; b++)
            if (code >> b & 1)
                out->p[base + (i * bits + b) / 8] |= (uint8_t)(1u << ((i * bits + b) % 8));
    }
    out->n += nbytes;
}

/* WEIGHTS_HUFFMAN with one stream and the identity code (256 symbols of length 8: complete,
 * and code == symbol), so the bit stream is the inner blob itself. */
static void huffman_identity(uint32_t inner_kind, const bytes *inner, bytes *out)
{
    out->n = 0;
    put32(out, inner_kind), put32(out, (uint32_t)inner->n), put32(out, 1);
    put32(out, (uint32_t)inner->n), put32(out, (uint32_t)inner->n), put16(out, 256);
    for (int s = 0; s < 256; s++)
        put8(out, s);
    for (int s = 0; s < 256; s++)
        put8(out, 8);
    put(out, inner->p, inner->n);
}

/* ---- the model: in [1, K] -> FC (the blob under test) -> [1, C_OUT] ---- */

static uint8_t *fc_model(uint32_t kind, uint32_t count, const bytes *blob, size_t *len)
{
    eb b;
    eb_init(&b);
    const int32_t d_in[4] = {1, K, 1, 1}, d_out[4] = {1, C_OUT, 1, 1};
    uint32_t t_in = eb_tensor(&b, "in", 2, d_in, 0.05f, 3);
    uint32_t t_out = eb_tensor(&b, "out", 2, d_out, 0.5f, -4);
    b.input = t_in;
    b.outputs[0] = t_out;
    b.n_outputs = 1;
    int32_t bias[C_OUT], mult[C_OUT], shift[C_OUT];
    for (int c = 0; c < C_OUT; c++)
        bias[c] = 100 * c - 250, mult[c] = 1 << 30, shift[c] = 38;
    eb_blobref refs[4] = {eb_blob(&b, kind, count, blob->p, blob->n),
                          eb_blob(&b, 3, C_OUT, bias, sizeof bias),
                          eb_blob(&b, 4, C_OUT, mult, sizeof mult),
                          eb_blob(&b, 5, C_OUT, shift, sizeof shift)};
    const int32_t params[2] = {-128, 127};
    eb_node(&b, 2, "fc", &t_in, 1, t_out, params, 2, refs, 4);
    uint8_t *f = eb_finish(&b, len);
    eb_free(&b);
    return f;
}

static int8_t X[8][K];

static void run(edgert_model *m, int8_t y[8][C_OUT])
{
    edgert_session *s = NULL;
    CHECK(edgert_session_create(m, NULL, &s, err, sizeof err) == EDGERT_OK);
    for (int t = 0; t < 8; t++)
        CHECK(edgert_session_run(s, X[t], K, y[t], C_OUT) == EDGERT_OK);
    edgert_session_free(s);
}

static void same_as_dense(const char *what, uint32_t kind, uint32_t count, const bytes *blob,
                          int8_t ref[8][C_OUT], int want_weights)
{
    size_t len;
    uint8_t *f = fc_model(kind, count, blob, &len);
    edgert_model *m = NULL;
    edgert_status st = edgert_model_load(f, len, &m, err, sizeof err);
    check_count++;
    if (st != EDGERT_OK) {
        check_failures++;
        fprintf(stderr, "%s: does not load: %s\n", what, err);
        free(f);
        return;
    }
    int8_t y[8][C_OUT];
    run(m, y);
    check_count++;
    if (memcmp(y, ref, sizeof y)) {
        check_failures++;
        fprintf(stderr, "%s: outputs differ from the dense blob's\n", what);
    }
    edgert_node_info info;
    CHECK(edgert_model_node(m, 0, &info) == EDGERT_OK);
    CHECK_EQ_I(info.weights, want_weights);
    CHECK_EQ_I(info.weight_count, C_OUT * K);
    edgert_model_free(m);
    free(f);
}

static void round_trips(void)
{
    bytes blob;
    uint32_t count;
    raw_blob(1, 0, &blob, &count);
    size_t len;
    uint8_t *f = fc_model(1, count, &blob, &len);
    edgert_model *m = tm_load(f, len);
    int8_t ref[8][C_OUT];
    run(m, ref);
    edgert_model_free(m);
    free(f);
    const int sparse = EDGERT_WEIGHTS_SPARSE_REL8; /* ~30% dense: decoded into rel8 pairs */
    static const struct { const char *name; uint32_t kind, block; } lays[] = {
        {"dense", 1, 0}, {"rel8", 2, 0}, {"rel4", 9, 0}, {"bitmap", 10, 0},
        {"block:4", 11, 4}, {"block:16", 11, 16}, {"block:80", 11, 80}, {"block:320", 11, 320}};
    for (size_t i = 0; i < sizeof lays / sizeof lays[0]; i++) {
        char what[64];
        bytes inner, wrapped;
        uint32_t ik = lays[i].kind;
        if (ik != 1 && ik != 2) {
            raw_blob(ik, lays[i].block, &blob, &count);
            snprintf(what, sizeof what, "%s", lays[i].name);
            same_as_dense(what, ik, count, &blob, ref, sparse);
        }
        for (uint32_t bits = 4; bits <= 8; bits += 4) { /* 4: too narrow for W[4] + W[2] */
            shared_blob(ik, lays[i].block, bits, &blob, &count);
            snprintf(what, sizeof what, "shared %u-bit %s", bits, lays[i].name);
            size_t ncodes = ert_rd16(blob.p + 2);
            if (ncodes <= 1u << bits)
                same_as_dense(what, 12, count, &blob, ref, sparse);
        }
        raw_blob(ik, lays[i].block, &inner, &count);
        huffman_identity(ik, &inner, &wrapped);
        snprintf(what, sizeof what, "huffman %s", lays[i].name);
        same_as_dense(what, 13, count, &wrapped, ref, sparse);
        shared_blob(ik, lays[i].block, 8, &inner, &count);
        huffman_identity(12, &inner, &wrapped);
        snprintf(what, sizeof what, "huffman shared %s", lays[i].name);
        same_as_dense(what, 13, count, &wrapped, ref, sparse);
    }
    /* a dense layer decodes to dense rows: rel8 would be larger */
    static int8_t keep[C_OUT][K];
    memcpy(keep, W, sizeof W);
    for (int j = 0; j < C_OUT * K; j++)
        ((int8_t *)W)[j] |= 1;
    raw_blob(1, 0, &blob, &count);
    f = fc_model(1, count, &blob, &len);
    m = tm_load(f, len);
    run(m, ref);
    edgert_model_free(m);
    free(f);
    raw_blob(10, 0, &blob, &count);
    same_as_dense("bitmap of a dense layer", 10, count, &blob, ref, EDGERT_WEIGHTS_DENSE);
    memcpy(W, keep, sizeof W);
}

/* ---- hostile blobs ---- */

static void expect_fail(uint32_t kind, uint32_t count, const bytes *blob, const char *needle,
                        int line)
{
    size_t len;
    uint8_t *f = fc_model(kind, count, blob, &len);
    edgert_model *m = NULL;
    edgert_status st = edgert_model_load(f, len, &m, err, sizeof err);
    check_count++;
    if (st != EDGERT_ERR_FORMAT || !strstr(err, needle) || !strstr(err, "node 0 'fc' (FC)")) {
        check_failures++;
        fprintf(stderr, "line %d: expected FORMAT error with \"%s\", got status %d: \"%s\"\n",
                line, needle, st, err);
    }
    edgert_model_free(m);
    free(f);
}
#define FAILS(kind, count, blob, needle) expect_fail(kind, count, blob, needle, __LINE__)

static void set32(bytes *b, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b->p[off + i] = (uint8_t)(v >> (8 * i));
}

static void hostile_layouts(void)
{
    bytes b;
    uint32_t n;
    const size_t rs = 4 * (C_OUT + 1);
    raw_blob(9, 0, &b, &n);
    FAILS(9, n + 1, &b, "WEIGHTS_SPARSE_REL4 blob has");
    b.n--;
    FAILS(9, n, &b, "WEIGHTS_SPARSE_REL4 blob has");
    raw_blob(9, 0, &b, &n);
    set32(&b, 4, 9999);
    FAILS(9, n, &b, "row_start is not a non-decreasing index from 0 to the count");
    raw_blob(9, 0, &b, &n);
    for (size_t i = rs; i < rs + (n + 1) / 2; i++) /* every step 15: row 0 runs past K */
        b.p[i] = 0xff;
    if (n % 2)
        b.p[rs + n / 2] = 0x0f;
    FAILS(9, n, &b, "row 0 decodes to position");
    memset(W, 0, sizeof W); /* 3 pairs: the last step byte has an unused high nibble */
    W[0][1] = W[2][2] = W[5][3] = 1;
    raw_blob(9, 0, &b, &n);
    CHECK_EQ_I(n, 3);
    b.p[rs + 1] |= 0x10;
    FAILS(9, n, &b, "unused high nibble of the last step byte is not 0");
    make_weights();
    raw_blob(10, 0, &b, &n);
    FAILS(10, n - 1, &b, "WEIGHTS_BITMAP blob has");
    b.p[0] ^= 2; /* one more set bit than the count */
    FAILS(10, n, &b, "set bits, count is");
    raw_blob(11, 16, &b, &n);
    set32(&b, 0, 7);
    FAILS(11, n, &b, "block length 7 must divide K = 320");
    raw_blob(11, 16, &b, &n);
    set32(&b, 4, 3);
    FAILS(11, n, &b, "block index width 3 is not 1, 2 or 4");
    raw_blob(11, 16, &b, &n);
    b.p[8 + rs] = 25; /* block number 25 >= 320 / 16 */
    FAILS(11, n, &b, "block indices must be < K/B = 20");
    raw_blob(11, 16, &b, &n);
    b.p[8 + rs] = b.p[8 + rs + 2]; /* row 0: its first index equals its second */
    b.p[8 + rs + 1] = b.p[8 + rs + 3];
    FAILS(11, n, &b, "strictly increasing");
    raw_blob(11, 16, &b, &n);
    FAILS(11, 1000, &b, "cannot fit");
    bytes tiny = {.n = 4};
    FAILS(11, 0, &tiny, "ends inside its block header");
}

static void hostile_shared(void)
{
    bytes b;
    uint32_t n;
    shared_blob(10, 0, 8, &b, &n);
    b.p[0] = 0;
    FAILS(12, n, &b, "shared code width 0 is not in [1, 8]");
    shared_blob(10, 0, 8, &b, &n);
    b.p[1] = 13;
    FAILS(12, n, &b, "shared weights over layout kind 13");
    shared_blob(10, 0, 8, &b, &n);
    b.p[0] = 3; /* n_codes > 8 */
    FAILS(12, n, &b, "codebook entries, 3-bit codes allow 1..8");
    shared_blob(10, 0, 8, &b, &n);
    uint32_t ncodes = ert_rd16(b.p + 2);
    b.p[b.n - 1] = (uint8_t)ncodes; /* the last code points past the codebook */
    FAILS(12, n, &b, "is past the codebook");
    shared_blob(10, 0, 8, &b, &n);
    b.n++;
    FAILS(12, n, &b, "WEIGHTS_SHARED blob has");
    /* 1 value of a 4-bit code: the high nibble of its byte must be 0 */
    memset(W, 0, sizeof W);
    W[1][5] = 3;
    shared_blob(10, 0, 4, &b, &n);
    CHECK_EQ_I(n, 1);
    b.p[b.n - 1] |= 0x10;
    FAILS(12, n, &b, "unused bits after the last code are not 0");
    make_weights();
    shared_blob(1, 0, 8, &b, &n);
    FAILS(12, n - 1, &b, "dense weights count");
}

static void hostile_huffman(void)
{
    bytes inner, b;
    uint32_t n;
    raw_blob(10, 0, &inner, &n);
    huffman_identity(10, &inner, &b);
    const size_t stream = 12, table = stream + 10, bits = table + 512;
    bytes c = b;
    set32(&c, 0, 13);
    FAILS(13, n, &c, "only weight kinds 1, 2, 9-12 may be coded");
    c = b;
    set32(&c, 8, 0);
    FAILS(13, n, &c, "0 Huffman streams");
    c = b;
    set32(&c, 8, 9);
    FAILS(13, n, &c, "9 Huffman streams");
    c = b;
    c.p[table + 256 + 7] = 9; /* symbol 7 gets a 9-bit code: incomplete */
    FAILS(13, n, &c, "do not make a complete prefix code");
    c = b;
    c.p[table + 256 + 7] = 7; /* over-subscribed */
    FAILS(13, n, &c, "do not make a complete prefix code");
    c = b;
    c.p[table + 256] = 16;
    FAILS(13, n, &c, "code lengths must be in [1, 15]");
    c = b;
    c.p[table + 3] = 2; /* symbols 2, 2 */
    FAILS(13, n, &c, "not strictly increasing");
    c = b;
    set32(&c, stream, (uint32_t)inner.n + 1); /* raw 1 more than the header's inner_size */
    FAILS(13, n, &c, "the streams decode to");
    c = b;
    set32(&c, 4, (uint32_t)inner.n + 1);
    set32(&c, stream, (uint32_t)inner.n + 1);
    FAILS(13, n, &c, "bit stream ends inside a code");
    c = b;
    set32(&c, 4, 8 * (uint32_t)inner.n + 1);
    set32(&c, stream, 8 * (uint32_t)inner.n + 1);
    FAILS(13, n, &c, "symbols cannot fit in");
    c = b;
    c.n++; /* a trailing byte */
    FAILS(13, n, &c, "unexpected bytes after the last Huffman stream");
    c = b;
    c.n++; /* one more coded byte than the symbols use */
    set32(&c, stream + 4, (uint32_t)inner.n + 1);
    FAILS(13, n, &c, "no byte may be left over");
    c = b;
    c.p[bits] ^= 1; /* changes the decoded bitmap: its set bits no longer match */
    FAILS(13, n, &c, "set bits, count is");
    /* a one-symbol code: length 1, code 0; a 1 bit is not a code, unused bits must be 0 */
    bytes one = {.n = 0};
    put32(&one, 1), put32(&one, 3), put32(&one, 1);
    put32(&one, 3), put32(&one, 1), put16(&one, 1), put8(&one, 0), put8(&one, 1), put8(&one, 0);
    FAILS(13, 3, &one, "dense weights count 3");
    one.p[one.n - 1] = 0x01;
    FAILS(13, 3, &one, "unused bits must be 0");
    one.p[one.n - 1] = 0x20;
    FAILS(13, 3, &one, "bit stream ends inside a code");
    one.n = 0; /* a 1 bit followed by 15 more bits: no code of any length matches */
    put32(&one, 1), put32(&one, 1), put32(&one, 1);
    put32(&one, 1), put32(&one, 2), put16(&one, 1), put8(&one, 0), put8(&one, 1);
    put8(&one, 0x80), put8(&one, 0);
    FAILS(13, 1, &one, "invalid code at bit 15");
    c = b;
    c.n = 30;
    FAILS(13, n, &c, "ends inside its symbol table");
}

int main(void)
{
    make_weights();
    uint32_t st = 3;
    for (int t = 0; t < 8; t++)
        for (int j = 0; j < K; j++)
            X[t][j] = (int8_t)(t == 0 ? 127 : t == 1 ? -128 : tm_rand(&st, -128, 127));
    round_trips();
    hostile_layouts();
    hostile_shared();
    hostile_huffman();
    return check_report("test_decode");
}
