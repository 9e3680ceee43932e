/* Corrupt, truncated and hostile files: each must be rejected with EDGERT_ERR_FORMAT and a
 * message naming the problem, never crash, never read out of bounds (run this under
 * -fsanitize=address,undefined: `make sanitize-test`). */
#include <math.h>
#include <stdlib.h>

#include "../src/hashes.h"
#include "check.h"
#include "test_models.h"

static char err[512];

static size_t graph_off(const uint8_t *f, size_t len) { return eb_section(f, len, 1, NULL); }
static size_t data_off(const uint8_t *f, size_t len) { return eb_section(f, len, 2, NULL); }

/* Load buf; expect FORMAT and a message containing needle (or success when needle is NULL). */
static void expect(const uint8_t *buf, size_t len, const char *needle, int line)
{
    edgert_model *m = NULL;
    edgert_status st = edgert_model_load(buf, len, &m, err, sizeof err);
    check_count++;
    if (needle == NULL) {
        if (st != EDGERT_OK) {
            check_failures++;
            fprintf(stderr, "line %d: expected success, got %s: %s\n", line,
                    edgert_status_str(st), err);
        }
    } else if (st != EDGERT_ERR_FORMAT || !strstr(err, needle)) {
        check_failures++;
        fprintf(stderr, "line %d: expected FORMAT error with \"%s\", got status %d: \"%s\"\n",
                line, needle, st, err);
    }
    edgert_model_free(m);
}
#define EXPECT(buf, len, needle) expect(buf, len, needle, __LINE__)

/* Copy of the base model with a 32/64-bit field patched at `off` (and re-signed). */
static uint8_t *patched(const uint8_t *base, size_t len, size_t off, int bytes, uint64_t v,
                        int resign)
{
    uint8_t *f = aligned_alloc(16, (len + 15) / 16 * 16);
    memcpy(f, base, len);
    for (int i = 0; i < bytes; i++)
        f[off + i] = (uint8_t)(v >> (8 * i));
    if (resign)
        eb_resign(f, len);
    return f;
}

#define PATCH(off, bytes, v, needle)                                   \
    do {                                                               \
        uint8_t *p_ = patched(base, len, (off), (bytes), (v), 1);     \
        expect(p_, len, (needle), __LINE__);                           \
        free(p_);                                                      \
    } while (0)

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void header_cases(const uint8_t *base, size_t len)
{
    EXPECT(base, len, NULL);
    EXPECT(base, 127, "shorter than the smallest valid .ecm (128 bytes)");
    EXPECT(base, 0, "file is 0 bytes");
    PATCH(0, 1, 'X', "bad magic 58 44 47");
    PATCH(8, 2, 2, "format version 2.0 is not supported");
    PATCH(10, 2, 7, NULL); /* any minor of major 1 */
    PATCH(12, 4, 65, "header size 65");
    PATCH(32, 8, 128, "section table offset 128");
    PATCH(16, 8, len + 1, "header says the file is");
    PATCH(16, 8, len - 1, "header says the file is");
    PATCH(24, 4, 0, "section count = 0 is out of range [1, 64]");
    PATCH(24, 4, 65, "section count = 65 is out of range [1, 64]");
    PATCH(28, 4, 2, "unknown header flags 0x2");
    PATCH(28, 4, 1, NULL); /* dynamic fixed point flag */
    PATCH(40, 4, 0xdeadbeef, NULL); /* reserved bytes are ignored, as by the Python reader */
    /* SHA flip, unsigned */
    uint8_t *f = patched(base, len, len - 5, 1, base[len - 5] ^ 0x10, 0);
    EXPECT(f, len, "whole-file SHA-256 mismatch");
    free(f);
    f = patched(base, len, 200, 1, base[200] ^ 0x01, 0);
    EXPECT(f, len, "whole-file SHA-256 mismatch");
    free(f);
    /* a DATA byte flipped and the SHA re-computed: the section CRC catches it */
    size_t d = data_off(base, len);
    f = patched(base, len, d + 3, 1, base[d + 3] ^ 0x40, 0);
    ert_sha256(f, len - 32, f + len - 32);
    EXPECT(f, len, "section 1 (DATA): crc32 mismatch (stored 0x");
    free(f);
}

static void section_cases(const uint8_t *base, size_t len)
{
    const size_t e1 = 64 + 32, e2 = 64 + 64; /* DATA and STRINGS entries */
    PATCH(e1, 4, 7, "section 1 (type 7): unknown section type 7");
    PATCH(e2, 4, 1000, "required section STRINGS is missing"); /* vendor type: ignored */
    PATCH(e1 + 4, 4, 1, "section 1 (DATA): unknown encoding 1");
    uint64_t doff = data_off(base, len);
    PATCH(e1 + 8, 8, doff + 1, "is misaligned or outside the file body");
    PATCH(e1 + 8, 8, 64, "is misaligned or outside the file body");       /* in the table */
    PATCH(e1 + 8, 8, len, "is misaligned or outside the file body");      /* the trailer */
    PATCH(e1 + 16, 8, (uint64_t)-1, "is misaligned or outside the file body");
    PATCH(e1 + 16, 8, len, "is misaligned or outside the file body");
    PATCH(e1 + 8, 8, graph_off(base, len), "overlaps");
    PATCH(e2, 4, 1, "duplicate section type");
    PATCH(24, 4, 40, "section"); /* table entries past the real ones: garbage */
}

static void graph_cases(const uint8_t *base, size_t len)
{
    const size_t g = graph_off(base, len);
    const size_t t0 = g + 24;              /* tensor records: 5 x 36 */
    const size_t n0 = t0 + 5 * 36;         /* node 0 (CONV): head 28, in, out, 13 params */
    const size_t n0_par = n0 + 28 + 8, n0_blob = n0_par + 13 * 4;
    const size_t n1 = n0_blob + 4 * 24;    /* node 1 (RESHAPE) */
    PATCH(g, 4, 0, "tensor count = 0 is out of range [1, 65535]");
    PATCH(g, 4, 70000, "tensor count = 70000 is out of range");
    PATCH(g, 4, 60000, "GRAPH section: truncated");
    PATCH(g + 4, 4, 0, "node count = 0 is out of range");
    PATCH(g + 8, 4, 2, "graph input count = 2 is out of range [1, 1]");
    PATCH(g + 12, 4, 17, "graph output count = 17 is out of range [1, 16]");
    PATCH(g + 16, 4, 99, "graph input/output tensor index = 99 is out of range [0, 4]");
    PATCH(g + 20, 4, 5, "graph input/output tensor index = 5");
    /* tensor 1 'conv' */
    const size_t t1 = t0 + 36;
    PATCH(t1 + 8, 1, 2, "tensor 1 'conv': dtype 2 is not int8 (1)");
    PATCH(t1 + 9, 1, 0, "tensor 1 'conv': rank = 0 is out of range [1, 4]");
    PATCH(t1 + 9, 1, 5, "rank = 5 is out of range");
    PATCH(t1 + 10, 2, 4, "tensor 1 'conv': unknown flags 0x4");
    PATCH(t1 + 12 + 8, 4, 0, "tensor 1 'conv': dimension 2 = 0 is out of range [1, 65535]");
    PATCH(t1 + 12 + 8, 4, 65536, "dimension 2 = 65536");
    PATCH(t1 + 12 + 8, 4, (uint32_t)-3, "dimension 2 = -3");
    PATCH(t0 + 2 * 36 + 12 + 8, 4, 3, "tensor 2 'flat': dims past rank 2 must be 1");
    {
        uint8_t *f = patched(base, len, t1 + 12 + 4, 4, 65535, 0);
        eb_le32(f + t1 + 12 + 8, 65535);
        eb_resign(f, len);
        EXPECT(f, len, "elements exceed the limit 2^28");
        free(f);
    }
    PATCH(t1 + 28, 4, f32_bits(NAN), "tensor 1 'conv': scale nan is not a positive finite");
    PATCH(t1 + 28, 4, f32_bits(INFINITY), "scale inf is not a positive finite number");
    PATCH(t1 + 28, 4, f32_bits(0.0f), "scale 0 is not a positive finite number");
    PATCH(t1 + 28, 4, f32_bits(-0.5f), "scale -0.5 is not a positive finite number");
    PATCH(t1 + 32, 4, 128, "tensor 1 'conv': zero_point = 128 is out of range [-128, 127]");
    PATCH(t1 + 32, 4, (uint32_t)-129, "zero_point = -129");
    PATCH(t1, 4, 1000, "tensor 1: name [1000, 1004) lies outside STRINGS");
    PATCH(t1 + 4, 4, 0xFFFFFFFFu, "tensor 1: name [2, 4294967297) lies outside STRINGS");
    {
        size_t s = eb_section(base, len, 3, NULL);
        PATCH(s + 2, 1, 0xC0, "tensor 1: name is not UTF-8");
    }
    /* node 0 'conv1' (CONV) */
    PATCH(n0, 2, 999, "node 0 'conv1': unknown op code 999");
    PATCH(n0 + 2, 2, 1, "node 0 'conv1' (CONV): unknown flags 0x1");
    PATCH(n0 + 4, 4, 5000, "node 0: name [5000");
    PATCH(n0 + 12, 4, 0, "input count = 0 is out of range [1, 64]");
    PATCH(n0 + 12, 4, 65, "input count = 65 is out of range [1, 64]");
    PATCH(n0 + 12, 4, 2, "node 0 'conv1' (CONV): blob 0: unknown blob kind"); /* shifted */
    PATCH(n0 + 16, 4, 2, "output count = 2 is out of range [1, 1]");
    PATCH(n0 + 20, 4, 65, "param count = 65 is out of range [0, 64]");
    PATCH(n0 + 20, 4, 12, "node 0 'conv1' (CONV): blob 0: unknown blob kind"); /* shifted */
    PATCH(n0 + 24, 4, 9, "blob count = 9 is out of range [0, 8]");
    PATCH(n0 + 24, 4, 3, "needs 4 blobs (weights, bias, multiplier, shift), has 3");
    PATCH(n0 + 28, 4, 5, "node 0 'conv1' (CONV): tensor index = 5 is out of range [0, 4]");
    PATCH(n0 + 32, 4, 0, "tensor 0 ('in') is produced twice");
    PATCH(n0 + 32, 4, 0xFFFFFFFFu, "tensor index = 4294967295 is out of range");
    PATCH(n0_par + 0, 4, 0, "kernel 0x3, stride 2x2, dilation 1x1: out of [1, 64]");
    PATCH(n0_par + 0, 4, 65, "kernel 65x3");
    PATCH(n0_par + 8, 4, (uint32_t)-1, "stride -1x2");
    PATCH(n0_par + 16, 4, 65, "pads (top 65, left 1, bottom 0, right 0) out of [0, 64]");
    PATCH(n0_par + 8, 4, 1, "output shape [1, 4, 3, 3] does not follow from input [1, 3, 6, 6]");
    PATCH(n0_par + 32, 4, 2, "output shape [1, 4, 3, 3] does not follow"); /* dilation 2 */
    PATCH(n0_par + 40, 4, 2, "groups 2 must divide input channels and output channels");
    PATCH(n0_par + 40, 4, 0, "groups 0 must divide");
    PATCH(n0_par + 44, 4, 100, NULL);                   /* [100, 127]: a valid clamp */
    PATCH(n0_par + 48, 4, (uint32_t)-128, NULL);        /* [-128, -128]: lo == hi is valid */
    PATCH(n0_par + 44, 4, (uint32_t)-129, "clamp [-129, 127] is not an int8 range");
    PATCH(n0_par + 48, 4, 128, "clamp [-128, 128] is not an int8 range");
    /* blobs of node 0 */
    PATCH(n0_blob, 4, 99, "blob 0: unknown blob kind 99");
    PATCH(n0_blob, 4, 3, "blob kind BIAS cannot hold weights");
    PATCH(n0_blob + 8, 8, 8, "blob 0: blob at 8 size");
    PATCH(n0_blob + 16, 8, 1u << 30, "is misaligned or outside DATA");
    PATCH(n0_blob + 16, 8, (uint64_t)-16, "is misaligned or outside DATA");
    PATCH(n0_blob + 24, 4, 4, "expected BIAS blob of 4 i32, got MULTIPLIER count 4 size 16");
    PATCH(n0_blob + 24 + 4, 4, 3, "expected BIAS blob of 4 i32, got BIAS count 3");
    /* node 1 RESHAPE: topology */
    PATCH(n1 + 28, 4, 3, "node 1 'flatten' (RESHAPE): reads tensor 3 ('fc') before it is "
                         "produced");
    PATCH(n1 + 32, 4, 1, "tensor 1 ('conv') is produced twice");
    /* element count / quantization rules */
    PATCH(t0 + 2 * 36 + 16, 4, 35, "element count changes [1, 4, 3, 3] -> [1, 35]");
    PATCH(t0 + 2 * 36 + 32, 4, 0, "output quantization (scale 0.1, zero point 0) must equal");
    PATCH(t0 + 3 * 36 + 9, 1, 3, "(FC): output must be [1, C_out], got [1, 5, 1]");
    PATCH(t0 + 4 * 36 + 16, 4, 6, "(SOFTMAX): shape changes [1, 5] -> [1, 6]");
}

/* Blob contents: the DATA layout of tm_small (all blobs 16-aligned, see test_models.c). */
static void data_cases(const uint8_t *base, size_t len, int sparse)
{
    const size_t g = graph_off(base, len), d = data_off(base, len);
    const size_t n0_blob = g + 24 + 5 * 36 + 28 + 8 + 13 * 4;
    uint64_t w_off = 0, bias_off = 0, mult_off = 0, shift_off = 0;
    {
        const uint8_t *r = base + n0_blob;
        w_off = r[8] | (uint64_t)r[9] << 8;
        bias_off = r[24 + 8] | (uint64_t)r[24 + 9] << 8;
        mult_off = r[48 + 8] | (uint64_t)r[48 + 9] << 8;
        shift_off = r[72 + 8] | (uint64_t)r[72 + 9] << 8;
    }
    PATCH(d + shift_off, 4, 0, "multiplier must be >= 0 and shift in [1, 62] (channel 0");
    PATCH(d + shift_off + 4, 4, 63, "(channel 1: multiplier 1073741824, shift 63)");
    PATCH(d + mult_off + 8, 4, (uint32_t)-1, "(channel 2: multiplier -1, shift 8)");
    PATCH(d + bias_off, 4, 0x7FFFFFFF, "channel 0: |bias| + 255 * sum|w|");
    PATCH(d + bias_off, 4, 0x80000000u, "could overflow the int32 accumulator");
    if (sparse) {
        /* row_start[0] != 0, row_start[1] > row_start[2], a step past K */
        PATCH(d + w_off, 4, 1, "row_start is not a non-decreasing index from 0");
        PATCH(d + w_off + 4, 4, 1000, "row_start is not a non-decreasing index");
        uint32_t pairs = base[n0_blob + 4] | (uint32_t)base[n0_blob + 5] << 8;
        size_t steps = d + w_off + 4 * 5 + pairs;
        PATCH(steps, 1, 200, "sparse weights: row 0 decodes to position");
        PATCH(n0_blob + 4, 4, pairs + 1, "sparse weights blob has");
    } else {
        PATCH(n0_blob + 4, 4, 100, "dense weights blob has 108 bytes / count 100, C_out*K = "
                                   "4*27 = 108");
        PATCH(n0_blob + 16, 8, 107, "dense weights blob has 107 bytes / count 108");
    }
    /* softmax table: node 3 is the last record, its blob ref the last 24 bytes of GRAPH */
    size_t glen;
    eb_section(base, len, 1, &glen);
    const uint8_t *r = base + g + glen - 24;
    uint64_t t_off = r[8] | (uint64_t)r[9] << 8;
    PATCH(d + t_off, 4, 0, "exp table entry 0 must be >= 1");
    PATCH(d + t_off + 40, 4, (1 << 24) + 1, "exp table entries must be in [0, 2^24] (entry 10");
    PATCH(g + glen - 24 + 4, 4, 255, "expected EXP_TABLE blob of 256 i32, got EXP_TABLE count 255");
}

/* Models the byte patches cannot express, built directly. */
/* A one-node model x -> y (rank `rank`, shapes dx and dy): `n_inputs` copies of x, the
 * params, and optionally a stray BIAS blob, for the op checkers' cases. */
typedef struct one_node {
    uint16_t op;
    const char *name;
    int rank;
    const int32_t *dx, *dy;
    uint32_t n_inputs;
    const int32_t *params;
    uint32_t n_params;
    int stray_blob;
} one_node;

static void expect_one_node(one_node c, const char *needle, int line)
{
    eb b;
    size_t len;
    eb_init(&b);
    uint32_t x = eb_tensor(&b, "x", c.rank, c.dx, 1.0f, 0);
    uint32_t y = eb_tensor(&b, "y", c.rank, c.dy, 1.0f, 0);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    const uint32_t ins[3] = {x, x, x};
    eb_blobref stray;
    if (c.stray_blob)
        stray = eb_blob(&b, 3, 1, "abcd", 4);
    eb_node(&b, c.op, c.name, ins, c.n_inputs, y, c.params, c.n_params,
            c.stray_blob ? &stray : NULL, c.stray_blob ? 1 : 0);
    uint8_t *f = eb_finish(&b, &len);
    expect(f, len, needle, line);
    free(f);
    eb_free(&b);
}
#define EXPECT_NODE(needle, ...) expect_one_node((one_node){__VA_ARGS__}, needle, __LINE__)

static void built_cases(void)
{
    const int32_t d4[4] = {1, 4, 1, 1}, d8[4] = {1, 8, 1, 1}, p_clamp[2] = {-128, 127};
    const int32_t p_bad[2] = {9, 8};
    /* counts the op checkers enforce */
    EXPECT_NODE("node 0 'relu' (CLAMP): takes 1 input, has 2", 8, "relu", 2, d4, d4, 2, p_clamp,
                2, 0);
    EXPECT_NODE("node 0 'relu' (CLAMP): 1 params, the op takes 2", 8, "relu", 2, d4, d4, 1,
                p_clamp, 1, 0);
    EXPECT_NODE("node 0 'relu' (CLAMP): op takes no blobs, has 1", 8, "relu", 2, d4, d4, 1,
                p_clamp, 2, 1);
    EXPECT_NODE("node 0 'relu' (CLAMP): clamp [9, 8] is not an int8 range", 8, "relu", 2, d4, d4,
                1, p_bad, 2, 0);
    /* a tensor nobody produces */
    size_t len;
    eb b;
    eb_init(&b);
    uint32_t x = eb_tensor(&b, "x", 2, d4, 1.0f, 0);
    uint32_t y = eb_tensor(&b, "y", 2, d4, 1.0f, 0);
    eb_tensor(&b, "orphan", 2, d4, 1.0f, 0);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    eb_node(&b, 8, "relu", &x, 1, y, p_clamp, 2, NULL, 0);
    uint8_t *f = eb_finish(&b, &len);
    EXPECT(f, len, "tensor 2 'orphan' is neither the graph input nor the output of a node");
    free(f);
    /* trailing bytes after the last node */
    eb_put(&b.nodes, "\0\0\0\0", 4);
    f = eb_finish(&b, &len);
    EXPECT(f, len, "GRAPH section: 4 unexpected bytes after the last node");
    free(f);
    eb_free(&b);
    /* CONCAT whose inputs do not add up, and a bad axis */
    const int32_t cat1[7] = {1, 2, 1, 2, 1, 2, 1}, cat2[7] = {2, 2, 1, 2, 1, 2, 1};
    EXPECT_NODE("inputs add up to 12 on axis 1, output has 8", 7, "cat", 2, d4, d8, 3, cat1, 7,
                0);
    EXPECT_NODE("axis 2 out of range for rank 2", 7, "cat", 2, d4, d8, 3, cat2, 7, 0);
    /* average pool limits that keep rdiv inside 64 bits: S <= 30, GAP H*W <= 65536 */
    const int32_t dx[4] = {1, 1, 4, 4}, d1[4] = {1, 1, 1, 1}, big[4] = {1, 1, 257, 256};
    const int32_t s31[2] = {1 << 30, 31}, s30[2] = {1 << 30, 30}, s10[2] = {1 << 30, 10};
    EXPECT_NODE("(GLOBALAVGPOOL): multiplier 1073741824 / shift 31 out of range (multiplier >= "
                "0, shift in [1, 30])", 5, "gap", 4, dx, d1, 1, s31, 2, 0);
    EXPECT_NODE(NULL, 5, "gap", 4, dx, d1, 1, s30, 2, 0);
    EXPECT_NODE("(GLOBALAVGPOOL): H*W = 65792 exceeds 65536", 5, "gap", 4, big, d1, 1, s10, 2,
                0);
    const int32_t ap[11] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 1 << 30, 31};
    EXPECT_NODE("(AVGPOOL): multiplier 1073741824 / shift 31 out of range", 4, "ap", 4, dx, dx,
                1, ap, 11, 0);
    /* a max pool window entirely in the padding (pads >= window) and a ceil-mode window
     * starting past the input */
    const int32_t dy3[4] = {1, 1, 3, 3}, dy2[4] = {1, 1, 2, 2};
    const int32_t in_pad[8] = {2, 2, 2, 2, 2, 0, 0, 0};
    const int32_t q[8] = {1, 1, 3, 3, 0, 0, 0, 0}; /* 4 -> floor 2, ceil 2: 3 is wrong */
    EXPECT_NODE("must be smaller than the window 2x2", 3, "mp", 4, dx, dy3, 1, in_pad, 8, 0);
    EXPECT_NODE("output shape [1, 1, 3, 3] does not follow from input [1, 1, 4, 4]", 3, "mp", 4,
                dx, dy3, 1, q, 8, 0);
    EXPECT_NODE(NULL, 3, "mp", 4, dx, dy2, 1, q, 8, 0);
}

/* Loads must fail cleanly at every truncation point, with or without a consistent header. */
static void truncations(const uint8_t *base, size_t len)
{
    size_t sections_end = 0; /* the last section byte: padding after it is optional */
    for (uint32_t i = 0; i < base[24]; i++) {
        const uint8_t *e = base + 64 + 32 * i;
        size_t end = (size_t)(e[8] | e[9] << 8 | e[10] << 16) + (size_t)(e[16] | e[17] << 8);
        if (end > sections_end)
            sections_end = end;
    }
    for (size_t n = 0; n < len; n++) {
        uint8_t *f = aligned_alloc(16, len + 16);
        memcpy(f, base, n);
        edgert_model *m = NULL;
        CHECK(edgert_model_load(f, n, &m, err, sizeof err) == EDGERT_ERR_FORMAT);
        if (n >= 128) { /* a header and trailer that agree with the short file */
            eb_le64(f + 16, n);
            eb_resign(f, n);
            edgert_status st = edgert_model_load(f, n, &m, err, sizeof err);
            CHECK(st == (n - 32 >= sections_end ? EDGERT_OK : EDGERT_ERR_FORMAT));
            edgert_model_free(m);
        }
        free(f);
    }
}

/* Random corruption, re-signed so it reaches the parser: every outcome is a clean load (that
 * then runs) or a FORMAT error. Sanitizers make any out-of-bounds access fatal. */
static void fuzz(const uint8_t *base, size_t len, uint32_t seed, int rounds)
{
    uint32_t st = seed;
    int loaded = 0;
    size_t g = graph_off(base, len), glen;
    eb_section(base, len, 1, &glen);
    uint8_t *f = aligned_alloc(16, (len + 15) / 16 * 16);
    for (int i = 0; i < rounds; i++) {
        memcpy(f, base, len);
        int edits = tm_rand(&st, 1, 4);
        for (int e = 0; e < edits; e++) {
            int kind = tm_rand(&st, 0, 2);
            if (kind == 0) { /* a bit anywhere before the trailer */
                size_t pos = (size_t)tm_rand(&st, 0, (int32_t)len - 33);
                f[pos] ^= (uint8_t)(1u << tm_rand(&st, 0, 7));
            } else { /* an aligned GRAPH word set to an interesting value */
                static const uint32_t vals[] = {0, 1, 2, 3, 4, 5, 7, 8, 16, 63, 64, 65, 127, 128,
                                                255, 256, 65535, 65536, 0x7FFFFFFF, 0x80000000u,
                                                0xFFFFFFFFu, 0xFFFFFFFEu, 1u << 28};
                size_t pos = g + 4 * (size_t)tm_rand(&st, 0, (int32_t)(glen / 4) - 1);
                eb_le32(f + pos, vals[tm_rand(&st, 0, sizeof vals / sizeof vals[0] - 1)]);
            }
        }
        eb_resign(f, len);
        edgert_model *m;
        edgert_status s = edgert_model_load(f, len, &m, err, sizeof err);
        CHECK(s == EDGERT_OK || s == EDGERT_ERR_FORMAT);
        CHECK(s == EDGERT_OK || err[0] != '\0');
        if (s == EDGERT_OK) {
            loaded++;
            edgert_session *sess;
            if (edgert_session_create(m, NULL, &sess, err, sizeof err) == EDGERT_OK) {
                edgert_tensor_info in, out;
                edgert_model_input(m, 0, &in);
                edgert_model_output(m, 0, &out);
                int8_t *x = calloc(in.size, 1), *y = calloc(out.size, 1);
                for (size_t j = 0; j < in.size; j++)
                    x[j] = (int8_t)tm_rand(&st, -128, 127);
                CHECK(edgert_session_run(sess, x, in.size, y, out.size) == EDGERT_OK);
                free(x);
                free(y);
                edgert_session_free(sess);
            }
            edgert_model_free(m);
        }
    }
    free(f);
    printf("fuzz seed %u: %d of %d corrupted files still valid (and ran)\n", seed, loaded,
           rounds);
}

int main(void)
{
    /* EDGERT_FUZZ_ROUNDS / EDGERT_FUZZ_SEED: longer or different fuzzing, e.g. under ASan */
    const char *env_rounds = getenv("EDGERT_FUZZ_ROUNDS"), *env_seed = getenv("EDGERT_FUZZ_SEED");
    int rounds = env_rounds ? atoi(env_rounds) : 1500;
    uint32_t seed0 = env_seed ? (uint32_t)strtoul(env_seed, NULL, 10) : 0;
    for (int sparse = 0; sparse <= 1; sparse++) {
        size_t len;
        uint8_t *base = tm_small(sparse, &len);
        header_cases(base, len);
        section_cases(base, len);
        graph_cases(base, len);
        data_cases(base, len, sparse);
        truncations(base, len);
        fuzz(base, len, seed0 + 11u + (uint32_t)sparse, rounds);
        free(base);
        base = tm_all_ops(sparse, &len);
        EXPECT(base, len, NULL);
        fuzz(base, len, seed0 + 21u + (uint32_t)sparse, rounds);
        free(base);
    }
    built_cases();
    /* arguments */
    edgert_model *m = (edgert_model *)1;
    CHECK(edgert_model_load(NULL, 10, &m, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
    CHECK(m == NULL);
    CHECK(edgert_model_load("x", 1, NULL, err, sizeof err) == EDGERT_ERR_INVALID_ARG);
    return check_report("test_hostile");
}
