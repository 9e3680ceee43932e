/* Reference kernels on tiny cases worked out by hand from docs/format.md section 5 (the
 * arithmetic is in the comments), dense and sparse weights, and MAC counting. The golden
 * runner checks the same kernels against the numpy executor on larger models. */
#include <stdlib.h>

#include "check.h"
#include "test_models.h"

typedef struct result {
    int8_t y[64];
    uint64_t dense_macs, executed_macs;
} result;

/* Load, run once on x, copy output 0 (ylen bytes) and node `node`'s stats. */
static result run(const eb *b, const int8_t *x, size_t xlen, size_t ylen, size_t node)
{
    result r;
    memset(&r, 0, sizeof r);
    size_t len;
    uint8_t *f = eb_finish(b, &len);
    edgert_model *m = tm_load(f, len);
    edgert_session *s;
    char err[256];
    CHECK(edgert_session_create(m, NULL, &s, err, sizeof err) == EDGERT_OK);
    CHECK(edgert_session_run(s, x, xlen, r.y, ylen) == EDGERT_OK);
    edgert_layer_stats st;
    CHECK(edgert_session_layer_stats(s, node, &st) == EDGERT_OK);
    r.dense_macs = st.dense_macs;
    r.executed_macs = st.executed_macs;
    edgert_session_free(s);
    edgert_model_free(m);
    free(f);
    return r;
}

#define CHECK_BYTES(got, ...)                                              \
    do {                                                                   \
        const int8_t want_[] = {__VA_ARGS__};                              \
        for (size_t i_ = 0; i_ < sizeof want_; i_++)                       \
            CHECK_EQ_I((got)[i_], want_[i_]);                              \
    } while (0)

static void conv_1x1(int sparse)
{
    /* x = [3, 0, -2, 1], zx = 1, w = 2, bias 1, M/2^n = 2^30/2^31 = 0.5:
     * acc = 1 + 2 (x - 1) = [5, -1, -5, 1] -> halves up: [3, 0, -2, 1] */
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, 1, 2, 2}, p[13] = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, -128, 127};
    b.input = eb_tensor(&b, "x", 4, dx, 1.0f, 1);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, dx, 1.0f, 0);
    const int8_t w[1] = {2};
    const int32_t bias[1] = {1};
    tm_weighted(&b, 1, "conv", 0, 1, p, 13, w, 1, 1, bias, 1 << 30, 31, sparse);
    const int8_t x[4] = {3, 0, -2, 1};
    result r = run(&b, x, 4, 4, 0);
    CHECK_BYTES(r.y, 3, 0, -2, 1);
    CHECK_EQ_I(r.dense_macs, 4);
    CHECK_EQ_I(r.executed_macs, 4);
    eb_free(&b);
}

static void conv_padded_strided(int sparse)
{
    /* x = 1..9 (3x3, zx 0), 3x3 ones, pad 1, stride 2 -> 2x2 windows clipped to the input:
     * (0,0) 1+2+4+5 = 12, (0,1) 2+3+5+6 = 16, (1,0) 4+5+7+8 = 24, (1,1) 5+6+8+9 = 28.
     * The centre weight is 0, so each window loses its centre input (2oy, 2ox): 1, 3, 7, 9;
     * sparse skips that weight, dense multiplies it. */
    eb b;
    eb_init(&b);
    const int32_t dx[4] = {1, 1, 3, 3}, dy[4] = {1, 1, 2, 2};
    const int32_t p[13] = {3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, -128, 127};
    b.input = eb_tensor(&b, "x", 4, dx, 1.0f, 0);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, dy, 1.0f, 0);
    const int8_t w[9] = {1, 1, 1, 1, 0, 1, 1, 1, 1};
    const int32_t bias[1] = {0};
    tm_weighted(&b, 1, "conv", 0, 1, p, 13, w, 1, 9, bias, 1 << 30, 30, sparse);
    const int8_t x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    result r = run(&b, x, 9, 4, 0);
    CHECK_BYTES(r.y, 12 - 1, 16 - 3, 24 - 7, 28 - 9);
    CHECK_EQ_I(r.dense_macs, 4 * 9);
    /* 4 in-bounds positions per window; sparse skips the zero weight where it is in bounds */
    CHECK_EQ_I(r.executed_macs, sparse ? 4 * 4 - 4 : 4 * 4);
    eb_free(&b);
}

static void fc_long_rows(void)
{
    /* K = 700 with gaps > 255 (padding pairs): dense and sparse agree; sparse executes only
     * the non-zeros. x = 1 everywhere, zx = 0: acc = bias + sum of the row. */
    enum { K = 700, CO = 3 };
    static int8_t w[CO * K];
    memset(w, 0, sizeof w);
    w[0 * K + 0] = 5;
    w[0 * K + 699] = -7;   /* gap of 698: two padding pairs */
    w[1 * K + 256] = 100;  /* gap of 256: one padding pair, then step 0 */
    w[1 * K + 511] = 27;   /* gap of 254 */
    /* row 2 empty */
    const int32_t bias[CO] = {10, -3, 4}, p[2] = {-128, 127};
    int8_t x[K];
    memset(x, 1, sizeof x);
    for (int sparse = 0; sparse <= 1; sparse++) {
        eb b;
        eb_init(&b);
        const int32_t dx[4] = {1, K, 1, 1}, dy[4] = {1, CO, 1, 1};
        b.input = eb_tensor(&b, "x", 2, dx, 1.0f, 0);
        b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 2, dy, 1.0f, 0);
        tm_weighted(&b, 2, "fc", 0, 1, p, 2, w, CO, K, bias, 1 << 30, 30, sparse);
        result r = run(&b, x, K, CO, 0);
        CHECK_BYTES(r.y, 10 + 5 - 7, -3 + 100 + 27, 4);
        CHECK_EQ_I(r.dense_macs, CO * K);
        CHECK_EQ_I(r.executed_macs, sparse ? 4 : CO * K);
        eb_free(&b);
    }
}

static void pools(void)
{
    /* MAXPOOL 2x2 s2 on 3x3 = 1..9 in ceil mode (2x2 out): {1,2,4,5} {3,6} {7,8} {9} */
    eb b;
    eb_init(&b);
    const int32_t d33[4] = {1, 1, 3, 3}, d22[4] = {1, 1, 2, 2};
    b.input = eb_tensor(&b, "x", 4, d33, 1.0f, 0);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, d22, 1.0f, 0);
    const int32_t mp[8] = {2, 2, 2, 2, 0, 0, 0, 0};
    uint32_t in = 0;
    eb_node(&b, 3, "mp", &in, 1, 1, mp, 8, NULL, 0);
    const int8_t x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_BYTES(run(&b, x9, 9, 4, 0).y, 5, 6, 8, 9);
    eb_free(&b);

    /* AVGPOOL 3x3 s1 pad 1 on 2x2 = [1,2,3,4], M = 2^10, S = 10 (ratio 1). Every window holds
     * all four inputs: sum 10. count_include_pad 0: 10/4 = 2.5 -> 3; 1: the window has 9
     * positions inside the padded 4x4 input at (0,0): rdiv(10, 9) = 1. At (1,1) too. */
    for (int incl = 0; incl <= 1; incl++) {
        eb_init(&b);
        b.input = eb_tensor(&b, "x", 4, d22, 1.0f, 0);
        b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, d22, 1.0f, 0);
        const int32_t ap[11] = {3, 3, 1, 1, 1, 1, 1, 1, incl, 1024, 10};
        eb_node(&b, 4, "ap", &in, 1, 1, ap, 11, NULL, 0);
        const int8_t x4[4] = {1, 2, 3, 4};
        result r = run(&b, x4, 4, 4, 0);
        if (incl)
            CHECK_BYTES(r.y, 1, 1, 1, 1);
        else
            CHECK_BYTES(r.y, 3, 3, 3, 3);
        eb_free(&b);
    }
    /* ceil-mode AVGPOOL 2x2 s2 on 3x3 with count_include_pad 1 and no padding: the last
     * window sticks out of the padded input, so its count is what lies inside: x = 1..9,
     * windows {1,2,4,5}/4 = 3, {3,6}/2 = 4.5 -> 5, {7,8}/2 = 7.5 -> 8, {9}/1 = 9 */
    eb_init(&b);
    b.input = eb_tensor(&b, "x", 4, d33, 1.0f, 0);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, d22, 1.0f, 0);
    const int32_t ap2[11] = {2, 2, 2, 2, 0, 0, 0, 0, 1, 1024, 10};
    eb_node(&b, 4, "ap", &in, 1, 1, ap2, 11, NULL, 0);
    CHECK_BYTES(run(&b, x9, 9, 4, 0).y, 3, 5, 8, 9);
    eb_free(&b);

    /* GLOBALAVGPOOL, zx = 0, zy = 1: ch0 [1,2,3,4] -> 2.5 -> 3 (+1); ch1 [-1,-2,-3,-4] ->
     * -2.5 -> -2 (halves up) (+1) */
    eb_init(&b);
    const int32_t d2[4] = {1, 2, 2, 2}, d2g[4] = {1, 2, 1, 1};
    b.input = eb_tensor(&b, "x", 4, d2, 1.0f, 0);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 4, d2g, 1.0f, 1);
    const int32_t gp[2] = {1024, 10};
    eb_node(&b, 5, "gap", &in, 1, 1, gp, 2, NULL, 0);
    const int8_t x8[8] = {1, 2, 3, 4, -1, -2, -3, -4};
    CHECK_BYTES(run(&b, x8, 8, 2, 0).y, 4, -1);
    eb_free(&b);
}

static void elementwise(void)
{
    /* b = CLAMP(x, 3, 3); ADD(x, b) with za = zb = 1, M_a = 1, M_b = 2, S = 1, zy = 0:
     * x = [10, -10]: (9 + 2*2) / 2 = 6.5 -> 7; (-11 + 4) / 2 = -3.5 -> -3 */
    eb b;
    eb_init(&b);
    const int32_t d[4] = {1, 2, 1, 1};
    uint32_t x = eb_tensor(&b, "x", 2, d, 1.0f, 1), c = eb_tensor(&b, "c", 2, d, 1.0f, 1),
             y = eb_tensor(&b, "y", 2, d, 1.0f, 0);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    b.outputs[b.n_outputs++] = c;
    const int32_t cp[2] = {3, 3}, ap[5] = {1, 2, 1, -128, 127};
    eb_node(&b, 8, "clamp", &x, 1, c, cp, 2, NULL, 0);
    const uint32_t ins[2] = {x, c};
    eb_node(&b, 6, "add", ins, 2, y, ap, 5, NULL, 0);
    const int8_t xv[2] = {10, -10};
    CHECK_BYTES(run(&b, xv, 2, 2, 1).y, 7, -3);
    eb_free(&b);

    /* CONCAT(x, clamp(x, -2, 2)) on axis 1 into zy = 3: x copies (M = 2^4, S = 4):
     * [5, -7] -> [8, -4]; the clamp [2, -2] at ratio 0.5 (M = 8, S = 4): 3 + 1, 3 - 1 */
    eb_init(&b);
    const int32_t d4[4] = {1, 4, 1, 1};
    x = eb_tensor(&b, "x", 2, d, 1.0f, 0);
    c = eb_tensor(&b, "c", 2, d, 1.0f, 0);
    y = eb_tensor(&b, "y", 2, d4, 1.0f, 3);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    const int32_t cp2[2] = {-2, 2}, catp[5] = {1, 16, 4, 8, 4};
    eb_node(&b, 8, "clamp", &x, 1, c, cp2, 2, NULL, 0);
    eb_node(&b, 7, "concat", ins, 2, y, catp, 5, NULL, 0);
    const int8_t xc[2] = {5, -7};
    CHECK_BYTES(run(&b, xc, 2, 4, 1).y, 8, -4, 4, 2);
    eb_free(&b);

    /* CLAMP and RESHAPE */
    eb_init(&b);
    const int32_t d3[4] = {1, 3, 1, 1}, d31[4] = {3, 1, 1, 1};
    x = eb_tensor(&b, "x", 2, d3, 1.0f, 0);
    c = eb_tensor(&b, "c", 2, d3, 1.0f, 0);
    y = eb_tensor(&b, "y", 1, d31, 1.0f, 0);
    b.input = x;
    b.outputs[b.n_outputs++] = y;
    const int32_t cp3[2] = {-5, 50};
    eb_node(&b, 8, "clamp", &x, 1, c, cp3, 2, NULL, 0);
    eb_node(&b, 10, "reshape", &c, 1, y, NULL, 0, NULL, 0);
    const int8_t x3[3] = {-100, 0, 100};
    CHECK_BYTES(run(&b, x3, 3, 3, 1).y, -5, 0, 50);
    eb_free(&b);
}

static void softmax(void)
{
    /* T[d] = 2^20 >> d. Row [1, 0]: e = [2^20, 2^19], sum = 3 * 2^19:
     * rdiv(2^28, 3*2^19) = rdiv(512, 3) = 171 -> 43; rdiv(256, 3) = 85 -> -43.
     * Row [7, 7]: 128 each -> 0. */
    eb b;
    eb_init(&b);
    const int32_t d[4] = {2, 2, 1, 1};
    b.input = eb_tensor(&b, "x", 2, d, 1.0f, 0);
    b.outputs[b.n_outputs++] = eb_tensor(&b, "y", 2, d, 1.0f / 256, -128);
    int32_t t[256];
    for (int i = 0; i < 256; i++)
        t[i] = i < 21 ? (1 << 20) >> i : 0;
    eb_blobref r = eb_blob(&b, 6, 256, t, sizeof t);
    uint32_t in = 0;
    eb_node(&b, 9, "softmax", &in, 1, 1, NULL, 0, &r, 1);
    const int8_t x[4] = {1, 0, 7, 7};
    CHECK_BYTES(run(&b, x, 4, 4, 0).y, 43, -43, 0, 0);
    eb_free(&b);
}

/* Grouped and dilated conv on the all-ops model: dense and sparse weights give identical
 * bytes everywhere, sparse executes fewer MACs. */
static void dense_equals_sparse(void)
{
    size_t ld, ls;
    uint8_t *fd = tm_all_ops(0, &ld), *fs = tm_all_ops(1, &ls);
    edgert_model *md = tm_load(fd, ld), *ms = tm_load(fs, ls);
    edgert_session_options o;
    edgert_session_options_init(&o);
    o.keep_intermediates = 1;
    edgert_session *sd, *ss;
    char err[256];
    CHECK(edgert_session_create(md, &o, &sd, err, sizeof err) == EDGERT_OK);
    CHECK(edgert_session_create(ms, &o, &ss, err, sizeof err) == EDGERT_OK);
    uint32_t st = 5;
    int8_t x[50], a[128], c[128];
    uint64_t dense_exec = 0, sparse_exec = 0;
    for (int trial = 0; trial < 20; trial++) {
        for (int i = 0; i < 50; i++)
            x[i] = (int8_t)tm_rand(&st, -128, 127);
        CHECK(edgert_session_run(sd, x, 50, NULL, 0) == EDGERT_OK);
        CHECK(edgert_session_run(ss, x, 50, NULL, 0) == EDGERT_OK);
        for (size_t t = 0; t < edgert_model_tensor_count(md); t++) {
            edgert_tensor_info ti;
            edgert_model_tensor(md, t, &ti);
            CHECK(edgert_session_tensor(sd, t, a, ti.size) == EDGERT_OK);
            CHECK(edgert_session_tensor(ss, t, c, ti.size) == EDGERT_OK);
            CHECK(memcmp(a, c, ti.size) == 0);
        }
    }
    for (size_t n = 0; n < edgert_model_node_count(md); n++) {
        edgert_layer_stats s1, s2;
        edgert_session_layer_stats(sd, n, &s1);
        edgert_session_layer_stats(ss, n, &s2);
        CHECK(s1.dense_macs == s2.dense_macs);
        CHECK(s2.executed_macs <= s1.executed_macs && s1.executed_macs <= s1.dense_macs);
        dense_exec += s1.executed_macs;
        sparse_exec += s2.executed_macs;
    }
    CHECK(sparse_exec < dense_exec);
    edgert_session_free(sd);
    edgert_session_free(ss);
    edgert_model_free(md);
    edgert_model_free(ms);
    free(fd);
    free(fs);
}

int main(void)
{
    for (int sparse = 0; sparse <= 1; sparse++) {
        conv_1x1(sparse);
        conv_padded_strided(sparse);
    }
    fc_long_rows();
    pools();
    elementwise();
    softmax();
    dense_equals_sparse();
    return check_report("test_kernels");
}
