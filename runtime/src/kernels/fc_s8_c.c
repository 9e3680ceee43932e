/* FC, portable C: a dense row-by-row dot product, and EIE's compressed sparse columns with
 * zero-activation skipping (a zero input skips its whole column of weights), plus the FC
 * pre-steps. Units are output features. */
#include "opt_kernels.h"

/* ---- pre-steps (one unit: the whole input) ---- */

/* u8 copy of x (x ^ 0x80), zero-filled up to k4 for the VNNI kernel */
uint64_t ert_fc_pack_u8(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    (void)begin;
    (void)end;
    const ert_opt_node *o = k->opt;
    const uint32_t K = k->node->k;
    for (uint32_t i = 0; i < K; i++)
        o->fc_x[i] = (uint8_t)k->in[0][i] ^ 0x80;
    for (uint32_t i = K; i < o->k4; i++)
        o->fc_x[i] = 0;
    return 0;
}

/* ert_fc_pack_u8, and for the bitmap kernel bit j of fc_live: one of inputs 64 j .. 64 j + 63
 * differs from the zero point (a scalar test per chunk there, off the vector port the kernel
 * saturates with vpexpandb). */
uint64_t ert_fc_pack_u8_live(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    ert_fc_pack_u8(k, begin, end);
    const ert_opt_node *o = k->opt;
    const uint32_t K = k->node->k;
    const int8_t *x = k->in[0];
    const int8_t zx = (int8_t)k->model->tensors[k->node->inputs[0]].zero_point;
    for (uint32_t j = 0; j < o->bm_nch; j += 64)
        o->fc_live[j / 64] = 0;
    for (uint32_t j = 0; j < o->bm_nch; j++) {
        const uint32_t e = 64 * j + 64 < K ? 64 * j + 64 : K;
        uint8_t any = 0;
        for (uint32_t i = 64 * j; i < e; i++)
            any |= (uint8_t)(x[i] ^ zx);
        o->fc_live[j / 64] |= (uint64_t)(any != 0) << (j % 64);
    }
    return 0;
}

/* The inputs that differ from the zero point, and x - zx there. */
uint64_t ert_fc_gather_nonzero(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    (void)begin;
    (void)end;
    const ert_opt_node *o = k->opt;
    const int32_t zx = k->model->tensors[k->node->inputs[0]].zero_point;
    const int8_t *x = k->in[0];
    uint32_t n = 0;
    for (uint32_t i = 0; i < k->node->k; i++) {
        if (x[i] != zx) {
            o->fc_nzk[n] = i;
            o->fc_nzd[n] = x[i] - zx;
            n++;
        }
    }
    *o->fc_nnz = n;
    return 0;
}

/* acc = bias_corr + sum x * w (bias_corr = bias - zx * sum w): no subtraction per MAC */
uint64_t ert_fc_s8_dense_c(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const uint32_t K = k->node->k;
    const int8_t *x = k->in[0];
    for (uint32_t c = begin; c < end; c++) {
        const int8_t *w = o->dense + (size_t)c * K;
        int32_t lanes[16] = {0};
        uint32_t i = 0;
        for (; i + 16 <= K; i += 16)
            for (int j = 0; j < 16; j++)
                lanes[j] += x[i + j] * w[i + j];
        int32_t s = 0;
        for (int j = 0; j < 16; j++)
            s += lanes[j];
        for (; i < K; i++)
            s += x[i] * w[i];
        ert_fc_store(k, c, (int64_t)o->bias_corr[c] + s);
    }
    return ert_static_exec(o, begin, end);
}

/* Slabs of ERT_CSC_SLAB rows, each a CSC matrix over K columns. Only the columns of non-zero
 * inputs are visited. A slab shared with another thread's range is computed by both; each
 * stores (and counts) only its own rows. */
uint64_t ert_fc_s8_csc_c(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_node *n = k->node;
    const uint32_t K = n->k, nnz = *o->fc_nnz;
    uint64_t executed = 0;
    for (uint32_t s = begin / ERT_CSC_SLAB; s * ERT_CSC_SLAB < end; s++) {
        const uint32_t r0 = s * ERT_CSC_SLAB;
        const uint32_t rows = n->c_out - r0 < ERT_CSC_SLAB ? n->c_out - r0 : ERT_CSC_SLAB;
        const int whole = r0 >= begin && r0 + rows <= end;
        const uint32_t *cs = o->col_start + (size_t)s * (K + 1);
        int32_t acc[ERT_CSC_SLAB] = {0};
        for (uint32_t j = 0; j < nnz; j++) {
            const uint32_t col = o->fc_nzk[j], e = cs[col + 1];
            const int32_t d = o->fc_nzd[j];
            for (uint32_t i = cs[col]; i < e; i++)
                acc[o->csc_row[i]] += o->csc_w[i] * d;
            if (whole) {
                executed += e - cs[col];
            } else {
                for (uint32_t i = cs[col]; i < e; i++)
                    executed += r0 + o->csc_row[i] >= begin && r0 + o->csc_row[i] < end;
            }
        }
        for (uint32_t r = 0; r < rows; r++)
            if (r0 + r >= begin && r0 + r < end)
                ert_fc_store(k, r0 + r, (int64_t)n->bias[r0 + r] + acc[r]);
    }
    return executed;
}
