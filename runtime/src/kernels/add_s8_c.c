/* ADD, portable C: v = (a - za) * M_a + (b - zb) * M_b + 2^(S-1) from two 256-entry tables
 * of exact int64 products built at prepare (no multiplication per element), then
 * y = clamp(zy + (v >> S), act). Units: elements. */
#include "opt_kernels.h"

uint64_t ert_add_s8_c(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const int32_t *p = k->node->params;
    const int64_t zy = ert_out_tensor(k)->zero_point, lo = p[P_ADD_ACT_MIN] - zy,
                  hi = p[P_ADD_ACT_MAX] - zy;
    const int s = p[P_ADD_S];
    const int8_t *a = k->in[0], *b = k->in[1];
    for (uint32_t i = begin; i < end; i++) {
        int64_t v = (o->add_ta[(uint8_t)a[i]] + o->add_tb[(uint8_t)b[i]]) >> s;
        k->out[i] = (int8_t)(zy + (v < lo ? lo : (v > hi ? hi : v)));
    }
    return 0;
}

/* CONCAT, portable C: each input's requantization is a 256-entry table built at prepare (a
 * plain copy when it is the identity). Units: outer slices, as the reference kernel. */
uint64_t ert_concat_s8_lut(const ert_kctx *k, uint32_t begin, uint32_t end)
{
    const ert_opt_node *o = k->opt;
    const ert_node *n = k->node;
    const ert_tensor *yt = ert_out_tensor(k);
    const int32_t axis = n->params[P_CONCAT_AXIS];
    size_t inner_y = 1;
    for (uint32_t d = (uint32_t)axis; d < yt->rank; d++)
        inner_y *= (size_t)yt->dims[d];
    for (uint32_t s = begin; s < end; s++) {
        int8_t *y = k->out + s * inner_y;
        for (uint32_t j = 0; j < n->n_inputs; j++) {
            const ert_tensor *xt = ert_in_tensor(k, j);
            size_t inner = inner_y / (size_t)yt->dims[axis] * (size_t)xt->dims[axis];
            const int8_t *x = k->in[j] + s * inner;
            const int8_t *lut = o->cat_lut + 256 * (size_t)j;
            if (o->cat_copy[j]) {
                memcpy(y, x, inner);
            } else {
                for (size_t i = 0; i < inner; i++)
                    y[i] = lut[(uint8_t)x[i]];
            }
            y += inner;
        }
    }
    return 0;
}
