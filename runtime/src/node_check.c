/* Per-op load-time validation (docs/format.md 2.3, 3 and 5), one checker per ops.def line.
 *
 * A checker proves everything its kernels rely on, so kernels run without checks: shapes
 * follow from params, blobs have the right kind and size, sparse rows stay inside K, and no
 * arithmetic of section 5 can overflow (int32 accumulators, 64-bit requantization). The shape
 * and param rules are those of edgecomp/packed/checks.py; the overflow rules only reject files
 * on which the numpy reference itself would overflow.
 */
#include <stdio.h>

#include "decode.h"
#include "reader.h"

#define FAIL(...) return ert_node_fail(ld, n, idx, __VA_ARGS__)
#define MAX_WINDOW 64 /* kernel, stride, dilation and padding limit (checks.py) */
/* Pools: S <= 30 and (GLOBALAVGPOOL) H*W <= 65536 (docs/format.md 5) keep rdiv(acc * M,
 * count * 2^S) inside 64 bits: |acc| <= 255 * 65536 < 2^24, M < 2^31, count * 2^S < 2^47. */
#define MAX_POOL_SHIFT 30
#define MAX_GAP_ELEMENTS 65536

typedef struct shape_text {
    char s[64];
} shape_text;

/* "[1, 3, 6, 6]" for messages */
static shape_text shape_of(const ert_tensor *t)
{
    shape_text r;
    int len = snprintf(r.s, sizeof r.s, "[");
    for (uint32_t d = 0; d < t->rank; d++)
        len += snprintf(r.s + len, sizeof r.s - (size_t)len, d ? ", %d" : "%d", t->dims[d]);
    snprintf(r.s + len, sizeof r.s - (size_t)len, "]");
    return r;
}

static const ert_tensor *in_t(const ert_loader *ld, const ert_node *n, uint32_t j)
{
    return &ld->m->tensors[n->inputs[j]];
}

static const ert_tensor *out_t(const ert_loader *ld, const ert_node *n)
{
    return &ld->m->tensors[n->output];
}

static int same_shape(const ert_tensor *a, const ert_tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int d = 0; d < EDGERT_MAX_RANK; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return 1;
}

int ert_op_param_count(uint32_t op, uint32_t n_inputs)
{
    switch (op) {
    case ERT_OP_CONV: return P_CONV_N;
    case ERT_OP_FC: return P_FC_N;
    case ERT_OP_MAXPOOL: return P_MAXPOOL_N;
    case ERT_OP_AVGPOOL: return P_AVG_N;
    case ERT_OP_GLOBALAVGPOOL: return P_GAP_N;
    case ERT_OP_ADD: return P_ADD_N;
    case ERT_OP_CONCAT: return 1 + 2 * (int)n_inputs;
    case ERT_OP_CLAMP: return P_CLAMP_N;
    case ERT_OP_SOFTMAX: return 0;
    case ERT_OP_RESHAPE: return 0;
    case ERT_OP_LUT: return 0;
    case ERT_OP_MUL: return P_MUL_N;
    case ERT_OP_EXPAND: return 0;
    case ERT_OP_PAD: return P_PAD_N;
    case ERT_OP_LRN: return P_LRN_N;
    case ERT_OP_RESIZE: return P_RESIZE_N;
    case ERT_OP_TRANSPOSE: return P_TRANSPOSE_N;
    }
    return -1;
}

/* ---- shared pieces ---- */

static edgert_status expect_inputs(ert_loader *ld, ert_node *n, uint32_t idx, uint32_t want)
{
    if (n->n_inputs != want)
        FAIL("takes %u input%s, has %u", want, want == 1 ? "" : "s", n->n_inputs);
    return EDGERT_OK;
}

static edgert_status expect_no_blobs(ert_loader *ld, ert_node *n, uint32_t idx, uint32_t nb)
{
    if (nb)
        FAIL("op takes no blobs, has %u", nb);
    return EDGERT_OK;
}

static edgert_status check_act(ert_loader *ld, ert_node *n, uint32_t idx, int32_t lo, int32_t hi)
{
    if (!(-128 <= lo && lo <= hi && hi <= 127))
        FAIL("clamp [%d, %d] is not an int8 range", lo, hi);
    return EDGERT_OK;
}

static edgert_status check_ms(ert_loader *ld, ert_node *n, uint32_t idx, int32_t m, int32_t s,
                             int32_t max_shift)
{
    if (m < 0 || s < 1 || s > max_shift)
        FAIL("multiplier %d / shift %d out of range (multiplier >= 0, shift in [1, %d])", m, s,
             max_shift);
    return EDGERT_OK;
}

static edgert_status same_quant(ert_loader *ld, ert_node *n, uint32_t idx)
{
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->scale != y->scale || x->zero_point != y->zero_point)
        FAIL("output quantization (scale %g, zero point %d) must equal the input's (%g, %d)",
             (double)y->scale, y->zero_point, (double)x->scale, x->zero_point);
    return EDGERT_OK;
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* kernel/stride/dilation/padding ranges and the NCHW batch-1 layout (checks.py _check_window) */
static edgert_status check_window(ert_loader *ld, ert_node *n, uint32_t idx, int conv)
{
    const int32_t *p = n->params;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    int32_t kh = p[P_KH], kw = p[P_KW], sh = p[P_SH], sw = p[P_SW];
    int32_t pt = p[P_PT], pl = p[P_PL], pb = p[P_PB], pr = p[P_PR];
    int32_t dh = conv ? p[P_CONV_DH] : 1, dw = conv ? p[P_CONV_DW] : 1;
    const int32_t win[6] = {kh, kw, sh, sw, dh, dw}, pads[4] = {pt, pl, pb, pr};
    for (int i = 0; i < 6; i++)
        if (win[i] < 1 || win[i] > MAX_WINDOW)
            FAIL("kernel %dx%d, stride %dx%d, dilation %dx%d: out of [1, %d]", kh, kw, sh, sw,
                 dh, dw, MAX_WINDOW);
    for (int i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] > MAX_WINDOW)
            FAIL("pads (top %d, left %d, bottom %d, right %d) out of [0, %d]", pt, pl, pb, pr,
                 MAX_WINDOW);
    if (x->rank != 4 || y->rank != 4 || x->dims[0] != 1 || y->dims[0] != 1)
        FAIL("needs NCHW batch-1 input and output, got %s -> %s", shape_of(x).s, shape_of(y).s);
    const int64_t h = x->dims[2], w = x->dims[3], ho = y->dims[2], wo = y->dims[3];
    if (conv) {
        /* floor((H + pt + pb - dil*(k-1) - 1) / s) + 1, with a floor division */
        int64_t nh = h + pt + pb - (int64_t)dh * (kh - 1) - 1;
        int64_t nw = w + pl + pr - (int64_t)dw * (kw - 1) - 1;
        int64_t want_h = floor_div(nh, sh) + 1, want_w = floor_div(nw, sw) + 1;
        if (ho != want_h || wo != want_w)
            FAIL("output shape %s does not follow from input %s and params (expected H_out %lld, "
                 "W_out %lld)", shape_of(y).s, shape_of(x).s, (long long)want_h,
                 (long long)want_w);
        return EDGERT_OK;
    }
    if (pt >= kh || pb >= kh || pl >= kw || pr >= kw)
        FAIL("pads (top %d, left %d, bottom %d, right %d) must be smaller than the window %dx%d",
             pt, pl, pb, pr, kh, kw);
    /* floor or ceil form (ceil_mode), each a floor division as in checks.py */
    int64_t span_h = h + pt + pb - kh, span_w = w + pl + pr - kw;
    int ok = (ho == floor_div(span_h, sh) + 1 || ho == -floor_div(-span_h, sh) + 1) &&
             (wo == floor_div(span_w, sw) + 1 || wo == -floor_div(-span_w, sw) + 1) &&
             /* every window must hold at least one input element */
             (ho - 1) * sh - pt < h && (wo - 1) * sw - pl < w;
    if (!ok)
        FAIL("output shape %s does not follow from input %s, window %dx%d, stride %dx%d, pads "
             "(%d, %d, %d, %d)", shape_of(y).s, shape_of(x).s, kh, kw, sh, sw, pt, pl, pb, pr);
    return EDGERT_OK;
}

static edgert_status i32_blob(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *b,
                              uint32_t kind, uint32_t count, const int32_t **out)
{
    if (b->kind != kind || b->count != count || b->size != 4ull * count)
        FAIL("expected %s blob of %u i32, got %s count %u size %llu", ert_blob_kind_name(kind),
             count, ert_blob_kind_name(b->kind), b->count, (unsigned long long)b->size);
    *out = (const int32_t *)(const void *)b->p; /* 16-byte aligned: buffer and offset */
    return EDGERT_OK;
}

static edgert_status sparse_weights(ert_loader *ld, ert_node *n, uint32_t idx,
                                    const ert_blobref *b, uint32_t c_out, uint32_t k)
{
    uint64_t need = 4ull * (c_out + 1) + 2ull * b->count;
    if (b->size != need)
        FAIL("sparse weights blob has %llu bytes, expected %llu for %u rows and %u pairs",
             (unsigned long long)b->size, (unsigned long long)need, c_out, b->count);
    const uint32_t *rs = (const uint32_t *)(const void *)b->p;
    const int8_t *values = (const int8_t *)(b->p + 4ull * (c_out + 1));
    const uint8_t *steps = (const uint8_t *)(values + b->count);
    if (rs[0] != 0 || rs[c_out] != b->count)
        FAIL("sparse weights: row_start is not a non-decreasing index from 0 to the pair count "
             "%u (starts at %u, ends at %u)", b->count, rs[0], rs[c_out]);
    /* all of row_start first: then every row's pairs lie inside [0, count) */
    for (uint32_t c = 0; c < c_out; c++)
        if (rs[c + 1] < rs[c])
            FAIL("sparse weights: row_start is not a non-decreasing index from 0 to the pair "
                 "count %u (row %u: %u > %u)", b->count, c, rs[c], rs[c + 1]);
    for (uint32_t c = 0; c < c_out; c++) {
        int64_t pos = -1;
        for (uint32_t i = rs[c]; i < rs[c + 1]; i++)
            pos += (int64_t)steps[i] + 1;
        if (pos >= (int64_t)k)
            FAIL("sparse weights: row %u decodes to position %lld >= K = %u", c, (long long)pos,
                 k);
    }
    n->w.encoding = EDGERT_WEIGHTS_SPARSE_REL8;
    n->w.row_start = rs;
    n->w.values = values;
    n->w.steps = steps;
    n->w.pairs = b->count;
    return EDGERT_OK;
}

/* sum_k |w[c][k]| of one row, dense or sparse */
static uint64_t row_abs_sum(const ert_weights *w, uint32_t c, uint32_t k)
{
    uint64_t s = 0;
    if (w->encoding == EDGERT_WEIGHTS_DENSE) {
        const int8_t *row = w->dense + (uint64_t)c * k;
        for (uint32_t i = 0; i < k; i++)
            s += (uint64_t)(row[i] < 0 ? -row[i] : row[i]);
    } else {
        for (uint32_t i = w->row_start[c]; i < w->row_start[c + 1]; i++)
            s += (uint64_t)(w->values[i] < 0 ? -w->values[i] : w->values[i]);
    }
    return s;
}

/* weights, bias, multiplier, shift of CONV / FC: [C_out][K] */
static edgert_status weighted_blobs(ert_loader *ld, ert_node *n, uint32_t idx,
                                    const ert_blobref *blobs, uint32_t nb, uint32_t c_out,
                                    uint32_t k)
{
    edgert_status st;
    if (nb != 4)
        FAIL("needs 4 blobs (weights, bias, multiplier, shift), has %u", nb);
    /* before the rows are scanned: nodes sharing one blob must not multiply the work */
    if ((st = ert_charge(ld, n, idx, (uint64_t)c_out * k, (uint64_t)out_t(ld, n)->size * k)))
        return st;
    const ert_blobref *w = &blobs[0];
    if (w->kind == BLOB_WEIGHTS_DENSE) {
        uint64_t want = (uint64_t)c_out * k;
        if (w->count != want || w->size != want)
            FAIL("dense weights blob has %llu bytes / count %u, C_out*K = %u*%u = %llu",
                 (unsigned long long)w->size, w->count, c_out, k, (unsigned long long)want);
        n->w.encoding = EDGERT_WEIGHTS_DENSE;
        n->w.dense = (const int8_t *)w->p;
    } else if (w->kind == BLOB_WEIGHTS_SPARSE_REL8) {
        if ((st = sparse_weights(ld, n, idx, w, c_out, k)))
            return st;
    } else if (ert_is_decoded_weights(w->kind)) { /* kinds 9-13: decoded here, at load */
        if ((st = ert_decode_weights(ld, n, idx, w, c_out, k)))
            return st;
    } else {
        FAIL("blob kind %s cannot hold weights", ert_blob_kind_name(w->kind));
    }
    if ((st = i32_blob(ld, n, idx, &blobs[1], BLOB_BIAS, c_out, &n->bias)) ||
        (st = i32_blob(ld, n, idx, &blobs[2], BLOB_MULTIPLIER, c_out, &n->multiplier)) ||
        (st = i32_blob(ld, n, idx, &blobs[3], BLOB_SHIFT, c_out, &n->shift)))
        return st;
    for (uint32_t c = 0; c < c_out; c++) {
        if (n->multiplier[c] < 0 || n->shift[c] < 1 || n->shift[c] > 62)
            FAIL("multiplier must be >= 0 and shift in [1, 62] (channel %u: multiplier %d, "
                 "shift %d)", c, n->multiplier[c], n->shift[c]);
        /* |x - zx| <= 255, so |acc| <= |bias| + 255 * sum|w|: kernels accumulate in int32 */
        int64_t bias = n->bias[c];
        uint64_t bound = (uint64_t)(bias < 0 ? -bias : bias) + 255 * row_abs_sum(&n->w, c, k);
        if (bound >= (uint64_t)1 << 31)
            FAIL("channel %u: |bias| + 255 * sum|w| = %llu could overflow the int32 "
                 "accumulator", c, (unsigned long long)bound);
    }
    n->c_out = c_out;
    n->k = k;
    return EDGERT_OK;
}

/* ---- checkers ---- */

edgert_status ert_check_conv(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                             uint32_t nb)
{
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = check_window(ld, n, idx, 1)))
        return st;
    const int32_t *p = n->params;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    int32_t g = p[P_CONV_GROUPS];
    if (g < 1 || x->dims[1] % g || y->dims[1] % g)
        FAIL("groups %d must divide input channels and output channels (%s -> %s)", g,
             shape_of(x).s, shape_of(y).s);
    if ((st = check_act(ld, n, idx, p[P_CONV_ACT_MIN], p[P_CONV_ACT_MAX])))
        return st;
    uint32_t k = (uint32_t)(x->dims[1] / g) * (uint32_t)p[P_KH] * (uint32_t)p[P_KW];
    if ((st = weighted_blobs(ld, n, idx, blobs, nb, (uint32_t)y->dims[1], k)))
        return st;
    n->dense_macs = (uint64_t)y->size * k;
    n->units = (uint32_t)y->dims[1];
    n->cost = n->dense_macs;
    return EDGERT_OK;
}

edgert_status ert_check_fc(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                           uint32_t nb)
{
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (y->rank != 2 || y->dims[0] != 1)
        FAIL("output must be [1, C_out], got %s", shape_of(y).s);
    if (x->dims[0] != 1)
        FAIL("input %s must have batch 1", shape_of(x).s);
    if ((st = check_act(ld, n, idx, n->params[P_FC_ACT_MIN], n->params[P_FC_ACT_MAX])) ||
        (st = weighted_blobs(ld, n, idx, blobs, nb, (uint32_t)y->dims[1], x->size)))
        return st;
    n->dense_macs = (uint64_t)y->size * x->size;
    n->units = (uint32_t)y->dims[1];
    n->cost = n->dense_macs;
    return EDGERT_OK;
}

static edgert_status check_pool(ert_loader *ld, ert_node *n, uint32_t idx, uint32_t nb)
{
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)) ||
        (st = check_window(ld, n, idx, 0)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->dims[1] != y->dims[1])
        FAIL("channels change %s -> %s", shape_of(x).s, shape_of(y).s);
    n->units = (uint32_t)y->dims[1];
    n->cost = (uint64_t)y->size * (uint64_t)(n->params[P_KH] * n->params[P_KW]);
    return ert_charge(ld, n, idx, 0, n->cost);
}

edgert_status ert_check_maxpool(ert_loader *ld, ert_node *n, uint32_t idx,
                                const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st = check_pool(ld, n, idx, nb);
    return st ? st : same_quant(ld, n, idx);
}

edgert_status ert_check_avgpool(ert_loader *ld, ert_node *n, uint32_t idx,
                                const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    const int32_t *p = n->params;
    if ((st = check_pool(ld, n, idx, nb)))
        return st;
    if (p[P_AVG_INCLUDE_PAD] != 0 && p[P_AVG_INCLUDE_PAD] != 1)
        FAIL("count_include_pad %d is not 0 or 1", p[P_AVG_INCLUDE_PAD]);
    return check_ms(ld, n, idx, p[P_AVG_M], p[P_AVG_S], MAX_POOL_SHIFT);
}

edgert_status ert_check_globalavgpool(ert_loader *ld, ert_node *n, uint32_t idx,
                                      const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->rank != 4 || x->dims[0] != 1 || y->rank != 4 || y->dims[0] != 1 ||
        y->dims[1] != x->dims[1] || y->dims[2] != 1 || y->dims[3] != 1)
        FAIL("output %s must be [1, C, 1, 1] for an NCHW batch-1 input %s", shape_of(y).s,
             shape_of(x).s);
    int64_t hw = (int64_t)x->dims[2] * x->dims[3];
    if (hw > MAX_GAP_ELEMENTS)
        FAIL("H*W = %lld exceeds %d", (long long)hw, MAX_GAP_ELEMENTS);
    if ((st = check_ms(ld, n, idx, n->params[P_GAP_M], n->params[P_GAP_S], MAX_POOL_SHIFT)))
        return st;
    n->units = (uint32_t)x->dims[1];
    n->cost = x->size;
    return EDGERT_OK;
}

/* ADD and MUL: two inputs and the output all of one shape, no blobs; one unit per element */
static edgert_status same_shape_binary(ert_loader *ld, ert_node *n, uint32_t idx, uint32_t nb)
{
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 2)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *a = in_t(ld, n, 0), *b = in_t(ld, n, 1), *y = out_t(ld, n);
    if (!same_shape(a, b) || !same_shape(a, y))
        FAIL("input shapes %s, %s and output %s must be equal", shape_of(a).s, shape_of(b).s,
             shape_of(y).s);
    n->units = y->size;
    n->cost = y->size;
    return EDGERT_OK;
}

edgert_status ert_check_add(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                            uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    const int32_t *p = n->params;
    /* |(a - za) * M_a + (b - zb) * M_b| < 2 * 255 * 2^31: no overflow in int64 */
    if ((st = same_shape_binary(ld, n, idx, nb)) ||
        (st = check_ms(ld, n, idx, p[P_ADD_MA], p[P_ADD_S], 62)) ||
        (st = check_ms(ld, n, idx, p[P_ADD_MB], p[P_ADD_S], 62)))
        return st;
    return check_act(ld, n, idx, p[P_ADD_ACT_MIN], p[P_ADD_ACT_MAX]);
}

edgert_status ert_check_concat(ert_loader *ld, ert_node *n, uint32_t idx,
                               const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    const int32_t *p = n->params;
    if ((st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *y = out_t(ld, n);
    int32_t axis = p[P_CONCAT_AXIS];
    if (axis < 0 || axis >= (int32_t)y->rank)
        FAIL("axis %d out of range for rank %u", axis, y->rank);
    int64_t total = 0;
    for (uint32_t j = 0; j < n->n_inputs; j++) {
        const ert_tensor *x = in_t(ld, n, j);
        int ok = x->rank == y->rank;
        for (int d = 0; ok && d < (int)y->rank; d++)
            ok = d == axis || x->dims[d] == y->dims[d];
        if (!ok)
            FAIL("input %u shape %s does not match output %s off axis %d", j, shape_of(x).s,
                 shape_of(y).s, axis);
        total += x->dims[axis];
        if ((st = check_ms(ld, n, idx, p[1 + 2 * j], p[2 + 2 * j], 62)))
            return st;
    }
    if (total != y->dims[axis])
        FAIL("inputs add up to %lld on axis %d, output has %d", (long long)total, axis,
             y->dims[axis]);
    uint32_t outer = 1;
    for (int d = 0; d < axis; d++)
        outer *= (uint32_t)y->dims[d];
    n->units = outer;
    n->cost = y->size;
    return EDGERT_OK;
}

edgert_status ert_check_clamp(ert_loader *ld, ert_node *n, uint32_t idx,
                              const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (!same_shape(x, y))
        FAIL("shape changes %s -> %s", shape_of(x).s, shape_of(y).s);
    if ((st = check_act(ld, n, idx, n->params[P_CLAMP_LO], n->params[P_CLAMP_HI])) ||
        (st = same_quant(ld, n, idx)))
        return st;
    n->units = y->size;
    n->cost = y->size;
    return EDGERT_OK;
}

edgert_status ert_check_softmax(ert_loader *ld, ert_node *n, uint32_t idx,
                                const ert_blobref *blobs, uint32_t nb)
{
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (!same_shape(x, y))
        FAIL("shape changes %s -> %s", shape_of(x).s, shape_of(y).s);
    if (nb != 1)
        FAIL("needs 1 blob (exp table), has %u", nb);
    if ((st = i32_blob(ld, n, idx, &blobs[0], BLOB_EXP_TABLE, 256, &n->exp_table)))
        return st;
    for (int d = 0; d < 256; d++)
        if (n->exp_table[d] < 0 || n->exp_table[d] > (1 << 24))
            FAIL("exp table entries must be in [0, 2^24] (entry %d is %d)", d, n->exp_table[d]);
    /* the largest element of a row maps to T[0]: a positive T[0] keeps the sum positive */
    if (n->exp_table[0] < 1)
        FAIL("exp table entry 0 must be >= 1 (it is 0, so a row's sum could be 0)");
    uint32_t last = (uint32_t)x->dims[x->rank - 1];
    n->units = x->size / last;
    n->cost = x->size;
    return EDGERT_OK;
}

edgert_status ert_check_reshape(ert_loader *ld, ert_node *n, uint32_t idx,
                                const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->size != y->size)
        FAIL("element count changes %s -> %s", shape_of(x).s, shape_of(y).s);
    if ((st = same_quant(ld, n, idx)))
        return st;
    n->units = y->size;
    n->cost = y->size;
    return EDGERT_OK;
}

/* ---- format 1.1 ops (docs/format.md 2.3, 5) ---- */

/* rows of a tensor = elements / last stored dim (dims past the rank are 1) */
static uint32_t rows_of(const ert_tensor *t)
{
    return t->size / (uint32_t)t->dims[EDGERT_MAX_RANK - 1];
}

static edgert_status one_table(ert_loader *ld, ert_node *n, uint32_t idx,
                               const ert_blobref *blobs, uint32_t nb, uint32_t kind)
{
    if (nb != 1)
        FAIL("needs 1 blob (%s), has %u", ert_blob_kind_name(kind), nb);
    const ert_blobref *b = &blobs[0];
    uint64_t elem = kind == BLOB_LUT ? 1 : 4;
    if (b->kind != kind || b->size != elem * b->count || (kind == BLOB_LUT && b->count != 256))
        FAIL("expected a %s blob%s, got %s count %u size %llu", ert_blob_kind_name(kind),
             kind == BLOB_LUT ? " of 256 int8" : " of i32", ert_blob_kind_name(b->kind),
             b->count, (unsigned long long)b->size);
    if (kind == BLOB_LUT)
        n->lut = (const int8_t *)b->p;
    else
        n->table = (const int32_t *)(const void *)b->p; /* 16-byte aligned */
    n->table_count = b->count;
    return EDGERT_OK;
}

edgert_status ert_check_lut(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                            uint32_t nb)
{
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = one_table(ld, n, idx, blobs, nb, BLOB_LUT)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (!same_shape(x, y))
        FAIL("shape changes %s -> %s", shape_of(x).s, shape_of(y).s);
    n->units = y->size;
    n->cost = y->size;
    return EDGERT_OK;
}

edgert_status ert_check_mul(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                            uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    const int32_t *p = n->params;
    /* |(a - za) * (b - zb)| <= 255^2 < 2^16 and M < 2^31: the product fits in int64 */
    if ((st = same_shape_binary(ld, n, idx, nb)) ||
        (st = check_ms(ld, n, idx, p[P_MUL_M], p[P_MUL_S], 62)))
        return st;
    return check_act(ld, n, idx, p[P_MUL_ACT_MIN], p[P_MUL_ACT_MAX]);
}

edgert_status ert_check_expand(ert_loader *ld, ert_node *n, uint32_t idx,
                               const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    int ok = x->rank == y->rank;
    for (int d = 0; ok && d < EDGERT_MAX_RANK; d++)
        ok = x->dims[d] == 1 || x->dims[d] == y->dims[d];
    if (!ok)
        FAIL("input %s does not broadcast to output %s (same rank, each dim equal or 1)",
             shape_of(x).s, shape_of(y).s);
    if ((st = same_quant(ld, n, idx)))
        return st;
    n->units = rows_of(y);
    n->cost = y->size;
    return EDGERT_OK;
}

edgert_status ert_check_pad(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                            uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    const int32_t *p = n->params;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->rank != y->rank)
        FAIL("rank changes %s -> %s", shape_of(x).s, shape_of(y).s);
    for (int d = 0; d < EDGERT_MAX_RANK; d++) {
        int32_t b = p[P_PAD_BEGIN + d], e = p[P_PAD_END + d];
        if (b < 0 || e < 0 || ((uint32_t)d >= x->rank && (b || e)))
            FAIL("pads (dim %d: %d, %d) must be >= 0 and 0 past rank %u", d, b, e, x->rank);
        if ((int64_t)x->dims[d] + b + e != y->dims[d])
            FAIL("output shape %s != input %s + pads on dim %d (%d, %d)", shape_of(y).s,
                 shape_of(x).s, d, b, e);
    }
    if (p[P_PAD_VALUE] < -128 || p[P_PAD_VALUE] > 127)
        FAIL("pad value %d is not an int8", p[P_PAD_VALUE]);
    if ((st = same_quant(ld, n, idx)))
        return st;
    n->units = rows_of(y);
    n->cost = y->size;
    return EDGERT_OK;
}

edgert_status ert_check_lrn(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs,
                            uint32_t nb)
{
    edgert_status st;
    const int32_t *p = n->params;
    if ((st = expect_inputs(ld, n, idx, 1)) ||
        (st = one_table(ld, n, idx, blobs, nb, BLOB_TABLE_I32)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->rank != 4 || x->dims[0] != 1 || !same_shape(x, y))
        FAIL("needs an NCHW batch-1 input and the same output shape, got %s -> %s",
             shape_of(x).s, shape_of(y).s);
    /* acc <= 255 * 255^2 < 2^24; (x - zx) * M < 2^8 * 2^31 */
    if (p[P_LRN_SIZE] < 1 || p[P_LRN_SIZE] > 255 || p[P_LRN_ACC_SHIFT] < 0 ||
        p[P_LRN_ACC_SHIFT] > 30 || p[P_LRN_S] < 1 || p[P_LRN_S] > 62)
        FAIL("size %d (1..255), acc_shift %d (0..30) or S %d (1..62) out of range",
             p[P_LRN_SIZE], p[P_LRN_ACC_SHIFT], p[P_LRN_S]);
    if (n->table_count < 1 || n->table_count > 65536)
        FAIL("needs a TABLE_I32 of 1..65536 multipliers, has %u", n->table_count);
    for (uint32_t i = 0; i < n->table_count; i++)
        if (n->table[i] < 0)
            FAIL("multiplier %u is %d, must be >= 0", i, n->table[i]);
    n->units = (uint32_t)x->dims[1];
    n->cost = (uint64_t)y->size * (uint64_t)p[P_LRN_SIZE];
    return EDGERT_OK;
}

edgert_status ert_check_resize(ert_loader *ld, ert_node *n, uint32_t idx,
                               const ert_blobref *blobs, uint32_t nb)
{
    edgert_status st;
    const int32_t *p = n->params;
    if ((st = expect_inputs(ld, n, idx, 1)) ||
        (st = one_table(ld, n, idx, blobs, nb, BLOB_TABLE_I32)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    if (x->rank != 4 || y->rank != 4 || x->dims[0] != 1 || y->dims[0] != 1 ||
        x->dims[1] != y->dims[1])
        FAIL("needs NCHW batch-1 tensors with the same channels, got %s -> %s", shape_of(x).s,
             shape_of(y).s);
    if (p[P_RESIZE_MODE] != ERT_RESIZE_NEAREST && p[P_RESIZE_MODE] != ERT_RESIZE_BILINEAR)
        FAIL("mode %d is not 0 (nearest) or 1 (bilinear)", p[P_RESIZE_MODE]);
    /* |acc| <= 2^20 * 255 < 2^28 and M < 2^31: acc * M fits in int64 */
    if ((st = check_ms(ld, n, idx, p[P_RESIZE_M], p[P_RESIZE_S], 62)))
        return st;
    const uint32_t ho = (uint32_t)y->dims[2], wo = (uint32_t)y->dims[3];
    if (n->table_count != 3 * (ho + wo))
        FAIL("needs a TABLE_I32 of 3 * (H_out + W_out) = %u entries, has %u", 3 * (ho + wo),
             n->table_count);
    for (uint32_t i = 0; i < ho + wo; i++) {
        const int32_t *e = n->table + 3 * i, lim = i < ho ? x->dims[2] : x->dims[3];
        if (e[0] < 0 || e[0] >= lim || e[1] < 0 || e[1] >= lim || e[2] < 0 ||
            e[2] > ERT_RESIZE_ONE)
            FAIL("%s table entry %u (%d, %d, %d): indices must be in [0, %d] and weights in "
                 "[0, %d]", i < ho ? "row" : "column", i < ho ? i : i - ho, e[0], e[1], e[2],
                 lim - 1, ERT_RESIZE_ONE);
    }
    if (p[P_RESIZE_MODE] == ERT_RESIZE_NEAREST && (st = same_quant(ld, n, idx)))
        return st;
    n->units = (uint32_t)y->dims[1];
    n->cost = (uint64_t)y->size * 4;
    return EDGERT_OK;
}

edgert_status ert_check_transpose(ert_loader *ld, ert_node *n, uint32_t idx,
                                  const ert_blobref *blobs, uint32_t nb)
{
    (void)blobs;
    edgert_status st;
    const int32_t *p = n->params;
    if ((st = expect_inputs(ld, n, idx, 1)) || (st = expect_no_blobs(ld, n, idx, nb)))
        return st;
    const ert_tensor *x = in_t(ld, n, 0), *y = out_t(ld, n);
    int seen[EDGERT_MAX_RANK] = {0};
    for (int d = 0; d < EDGERT_MAX_RANK; d++) {
        int32_t a = p[d];
        int ok = (uint32_t)d < x->rank ? a >= 0 && (uint32_t)a < x->rank && !seen[a] : a == d;
        if (!ok)
            FAIL("perm (%d, %d, %d, %d) is not a permutation of the first %u axes", p[0], p[1],
                 p[2], p[3], x->rank);
        seen[a] = 1;
    }
    int ok = x->rank == y->rank;
    for (int d = 0; ok && d < EDGERT_MAX_RANK; d++)
        ok = y->dims[d] == x->dims[p[d]];
    if (!ok)
        FAIL("output shape %s != input %s permuted by (%d, %d, %d, %d)", shape_of(y).s,
             shape_of(x).s, p[0], p[1], p[2], p[3]);
    if ((st = same_quant(ld, n, idx)))
        return st;
    n->units = rows_of(y);
    n->cost = y->size;
    return EDGERT_OK;
}
