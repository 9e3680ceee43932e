/* CONV preparation for the optimized kernels (opt.h): geometry of the packed input, per-tap
 * offsets and in-bounds ranges, and the weight formats (planar walk, q4 dense, q4 blocks). All
 * of it runs once at session creation. */
#include <stdlib.h>
#include <string.h>

#include "opt.h"

static int32_t floor_div(int32_t a, int32_t b)
{
    int32_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void ert_each_weight(const ert_node *n, uint32_t c, ert_weight_fn fn, void *arg)
{
    if (n->w.encoding == EDGERT_WEIGHTS_DENSE) {
        const int8_t *row = n->w.dense + (size_t)c * n->k;
        for (uint32_t k = 0; k < n->k; k++)
            if (row[k])
                fn(arg, k, row[k]);
        return;
    }
    uint32_t pos = (uint32_t)-1;
    for (uint32_t i = n->w.row_start[c]; i < n->w.row_start[c + 1]; i++) {
        pos += (uint32_t)n->w.steps[i] + 1;
        if (n->w.values[i])
            fn(arg, pos, n->w.values[i]);
    }
}

void ert_dense_row(const ert_node *n, uint32_t c, int8_t *row)
{
    if (n->w.encoding == EDGERT_WEIGHTS_DENSE) {
        memcpy(row, n->w.dense + (size_t)c * n->k, n->k);
        return;
    }
    memset(row, 0, n->k);
    uint32_t pos = (uint32_t)-1;
    for (uint32_t i = n->w.row_start[c]; i < n->w.row_start[c + 1]; i++) {
        pos += (uint32_t)n->w.steps[i] + 1;
        row[pos] = n->w.values[i]; /* padding pairs write 0 over a 0 */
    }
}

void ert_row_sum_count(const ert_node *n, uint32_t c, int64_t *sum, uint64_t *count)
{
    int64_t s = 0;
    uint64_t nz = 0;
    if (n->w.encoding == EDGERT_WEIGHTS_DENSE) {
        const int8_t *row = n->w.dense + (size_t)c * n->k;
        for (uint32_t k = 0; k < n->k; k++) {
            s += row[k];
            nz += row[k] != 0;
        }
    } else {
        for (uint32_t i = n->w.row_start[c]; i < n->w.row_start[c + 1]; i++) {
            s += n->w.values[i];
            nz += n->w.values[i] != 0;
        }
    }
    *sum = s;
    *count = nz;
}

static void dense_row(const ert_node *n, uint32_t c, int8_t *row)
{
    ert_dense_row(n, c, row);
}

/* Pixel offset of each tap within a packed channel (for the current wq), planes used. */
static void tap_offsets(ert_conv_plan *cv)
{
    cv->planes_used = 0;
    for (int32_t ky = 0; ky < cv->kh; ky++) {
        for (int32_t kx = 0; kx < cv->kw; kx++) {
            int32_t ry = ky * cv->dh % cv->sh, dy = ky * cv->dh / cv->sh;
            int32_t rx = kx * cv->dw % cv->sw, dx = kx * cv->dw / cv->sw;
            int32_t off = (int32_t)((size_t)(ry * cv->sw + rx) * cv->plane_px) +
                          dy * cv->wq + dx;
            cv->tap_off[ky * cv->kw + kx] = off;
            if (ry * cv->sw + rx < 64)
                cv->planes_used |= (uint64_t)1 << (ry * cv->sw + rx);
            else
                cv->planes_used = ~(uint64_t)0;
        }
    }
}

/* Plane column of tap t (its shift within a plane row). */
static int32_t tap_dx(const ert_conv_plan *cv, int32_t t)
{
    return (t % cv->kw) * cv->dw / cv->sw;
}

void ert_conv_plan_align_q4(ert_opt_node *o)
{
    ert_conv_plan *cv = &o->cv;
    int32_t max_dx = 0;
    for (int32_t t = 0; t < cv->taps; t++)
        max_dx = tap_dx(cv, t) > max_dx ? tap_dx(cv, t) : max_dx;
    const int32_t wq = (cv->wq + 15) / 16 * 16;
    /* Split loads run at ~2/3 of aligned ones on this core (microbenchmark): measured with
       conv_layer_bench, 90% block, 64 x 56 x 56 .. 256 x 14 x 14: 4-11% faster. 1x1 kernels
       read at tile offsets already (no copies needed); more than 15% of extra positions (a
       7-wide output: 9 -> 16) or more than 4 copies cost more than the splits. */
    if (cv->taps == 1 || max_dx > 3 || (size_t)wq * 100 > (size_t)cv->wq * 115)
        return;
    const size_t copy = (size_t)cv->groups * (size_t)cv->cq_g * (size_t)cv->nplanes *
                        (size_t)cv->hq * (size_t)wq * 4;
    /* copies that no longer fit the L2 cache next to the output cost more than the split
       loads they save (128 x 56 x 56, 3x3, 90% block: 1.4 MB of copies, 11% slower) */
    if ((size_t)(max_dx + 1) * copy > ((size_t)1 << 20))
        return;
    cv->wq = wq;
    cv->plane_px = (size_t)cv->hq * (size_t)cv->wq;
    cv->npos = (size_t)cv->ho * (size_t)cv->wq;
    tap_offsets(cv);
    cv->ncopies = max_dx + 1;
}

int ert_conv_plan_init(ert_opt_node *o, const edgert_model *m, const ert_node *n)
{
    ert_conv_plan *cv = &o->cv;
    const int32_t *p = n->params;
    const ert_tensor *x = &m->tensors[n->inputs[0]], *y = &m->tensors[n->output];
    cv->c = x->dims[1];
    cv->h = x->dims[2];
    cv->w = x->dims[3];
    cv->co = y->dims[1];
    cv->ho = y->dims[2];
    cv->wo = y->dims[3];
    cv->kh = p[P_KH];
    cv->kw = p[P_KW];
    cv->sh = p[P_SH];
    cv->sw = p[P_SW];
    cv->pt = p[P_PT];
    cv->pl = p[P_PL];
    cv->dh = p[P_CONV_DH];
    cv->dw = p[P_CONV_DW];
    cv->groups = p[P_CONV_GROUPS];
    cv->cin_g = cv->c / cv->groups;
    cv->cout_g = cv->co / cv->groups;
    cv->taps = cv->kh * cv->kw;
    cv->zx = x->zero_point;
    cv->zy = y->zero_point;
    cv->lo = p[P_CONV_ACT_MIN];
    cv->hi = p[P_CONV_ACT_MAX];
    cv->nplanes = cv->sh * cv->sw;
    int32_t max_dx = 0;
    cv->max_dy = 0;
    for (int32_t ky = 0; ky < cv->kh; ky++)
        if (ky * cv->dh / cv->sh > cv->max_dy)
            cv->max_dy = ky * cv->dh / cv->sh;
    for (int32_t kx = 0; kx < cv->kw; kx++)
        if (kx * cv->dw / cv->sw > max_dx)
            max_dx = kx * cv->dw / cv->sw;
    /* every valid output reads plane rows [0, ho + max_dy) and columns [0, wo + max_dx) */
    cv->hq = cv->ho + cv->max_dy;
    cv->wq = cv->wo + max_dx;
    cv->plane_px = (size_t)cv->hq * (size_t)cv->wq;
    cv->cq_g = (cv->cin_g + 3) / 4;
    cv->npos = (size_t)cv->ho * (size_t)cv->wq;
    ert_conv_plan_layout(o, 0, 0, 64);

    cv->tap_off = ert_opt_alloc(o, sizeof(int32_t) * (size_t)cv->taps);
    cv->oy_lo = ert_opt_alloc(o, sizeof(int32_t) * 2 * ((size_t)cv->kh + (size_t)cv->kw));
    if (!cv->tap_off || !cv->oy_lo)
        return -1;
    cv->oy_hi = cv->oy_lo + cv->kh;
    cv->ox_lo = cv->oy_hi + cv->kh;
    cv->ox_hi = cv->ox_lo + cv->kw;
    tap_offsets(cv);
    /* output rows oy with 0 <= oy*sh - pt + ky*dh < h (same for columns) */
    for (int32_t ky = 0; ky < cv->kh; ky++) {
        int32_t a = cv->pt - ky * cv->dh;
        cv->oy_lo[ky] = clamp32(-floor_div(-a, cv->sh), 0, cv->ho);
        cv->oy_hi[ky] = clamp32(floor_div(cv->h - 1 + a, cv->sh) + 1, cv->oy_lo[ky], cv->ho);
    }
    for (int32_t kx = 0; kx < cv->kw; kx++) {
        int32_t a = cv->pl - kx * cv->dw;
        cv->ox_lo[kx] = clamp32(-floor_div(-a, cv->sw), 0, cv->wo);
        cv->ox_hi[kx] = clamp32(floor_div(cv->w - 1 + a, cv->sw) + 1, cv->ox_lo[kx], cv->wo);
    }
    uint64_t per_weight = 0;
    for (int32_t t = 0; t < cv->taps; t++)
        per_weight += (uint64_t)(cv->oy_hi[t / cv->kw] - cv->oy_lo[t / cv->kw]) *
                      (uint64_t)(cv->ox_hi[t % cv->kw] - cv->ox_lo[t % cv->kw]);
    o->in_bounds = per_weight * (uint64_t)cv->cin_g * (uint64_t)cv->co;
    return 0;
}

void ert_conv_plan_layout(ert_opt_node *o, int q4, uint8_t xor8, int32_t tile)
{
    ert_conv_plan *cv = &o->cv;
    cv->q4 = q4;
    cv->xor8 = xor8;
    cv->zoff = xor8 ? cv->zx + 128 : cv->zx;
    cv->n_packed = q4 ? cv->groups * cv->cq_g : cv->c;
    cv->chan_stride = (size_t)cv->nplanes * cv->plane_px * (q4 ? 4 : 1);
    cv->copy_bytes = (size_t)cv->n_packed * cv->chan_stride;
    if (cv->ncopies < 1)
        cv->ncopies = 1;
    cv->tile = tile;
}

/* In-bounds output positions of tap t. */
uint64_t ert_conv_tap_inb(const ert_conv_plan *cv, int32_t t)
{
    return (uint64_t)(cv->oy_hi[t / cv->kw] - cv->oy_lo[t / cv->kw]) *
           (uint64_t)(cv->ox_hi[t % cv->kw] - cv->ox_lo[t % cv->kw]);
}

/* Bytes of the packed input including the slack the last tile reads past the end. */
static size_t packed_bytes(const ert_conv_plan *cv)
{
    int32_t max_off = 0;
    for (int32_t t = 0; t < cv->taps; t++)
        if (cv->tap_off[t] > max_off)
            max_off = cv->tap_off[t];
    size_t tiles = (cv->npos + (size_t)cv->tile - 1) / (size_t)cv->tile;
    size_t reach = tiles * (size_t)cv->tile + (size_t)max_off + 64;
    return (size_t)cv->n_packed * cv->chan_stride + reach * (cv->q4 ? 4 : 1);
}

/* ---- planar: walk the weights one by one ---- */

typedef struct exec_acc {
    const ert_conv_plan *cv;
    uint64_t macs;
    int32_t sum;
} exec_acc;

static void count_weight(void *arg, uint32_t k, int8_t w)
{
    exec_acc *a = arg;
    a->macs += ert_conv_tap_inb(a->cv, (int32_t)(k % (uint32_t)a->cv->taps));
    a->sum += w;
}

/* bias_corr[c] = bias - zoff * sum(w), and static executed MACs (every non-zero weight). */
static int planar_accounting(ert_opt_node *o, const ert_node *n)
{
    o->exec_pref = ert_opt_alloc(o, sizeof(uint64_t) * ((size_t)n->c_out + 1));
    o->bias_corr = ert_opt_alloc(o, sizeof(int32_t) * n->c_out);
    if (!o->exec_pref || !o->bias_corr)
        return -1;
    for (uint32_t c = 0; c < n->c_out; c++) {
        exec_acc a = {&o->cv, 0, 0};
        ert_each_weight(n, c, count_weight, &a);
        o->exec_pref[c + 1] = o->exec_pref[c] + a.macs;
        o->bias_corr[c] = (int32_t)((int64_t)n->bias[c] - (int64_t)o->cv.zoff * a.sum);
    }
    o->static_executed = o->exec_pref[n->c_out];
    return 0;
}

typedef struct rel8_builder {
    uint32_t pairs;
    int32_t pos;
    int8_t *values;
    uint8_t *steps;
} rel8_builder;

/* docs/format.md 3.2: gaps above 255 are bridged by (0, 255) padding pairs */
static void rel8_put(void *arg, uint32_t k, int8_t w)
{
    rel8_builder *b = arg;
    int64_t gap = (int64_t)k - b->pos - 1;
    for (; gap > 255; gap -= 256, b->pairs++)
        if (b->values) {
            b->values[b->pairs] = 0;
            b->steps[b->pairs] = 255;
        }
    if (b->values) {
        b->values[b->pairs] = w;
        b->steps[b->pairs] = (uint8_t)gap;
    }
    b->pairs++;
    b->pos = (int32_t)k;
}

/* Dense rows with many zeros get rel8 pairs, so the walk visits only the non-zeros. */
static int build_rel8(ert_opt_node *o, const ert_node *n)
{
    uint32_t *rs = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)n->c_out + 1));
    if (!rs)
        return -1;
    rel8_builder b = {0, -1, NULL, NULL};
    for (uint32_t c = 0; c < n->c_out; c++) {
        b.pos = -1;
        ert_each_weight(n, c, rel8_put, &b);
        rs[c + 1] = b.pairs;
    }
    uint8_t *buf = ert_opt_alloc(o, 2 * (size_t)b.pairs + 1);
    if (!buf)
        return -1;
    b.values = (int8_t *)buf;
    b.steps = buf + b.pairs;
    b.pairs = 0;
    for (uint32_t c = 0; c < n->c_out; c++) {
        b.pos = -1;
        ert_each_weight(n, c, rel8_put, &b);
    }
    o->row_start = rs;
    o->values = b.values;
    o->steps = b.steps;
    return 0;
}

uint64_t ert_count_nonzero(const ert_node *n)
{
    if (n->w.encoding == EDGERT_WEIGHTS_SPARSE_REL8) {
        uint64_t nz = 0;
        for (uint32_t i = 0; i < n->w.pairs; i++)
            nz += n->w.values[i] != 0;
        return nz;
    }
    uint64_t nz = 0, total = (uint64_t)n->c_out * n->k;
    for (uint64_t i = 0; i < total; i++)
        nz += n->w.dense[i] != 0;
    return nz;
}

int ert_conv_prepare_planar(ert_opt_node *o, const edgert_model *m, const ert_node *n)
{
    (void)m;
    ert_conv_plan *cv = &o->cv;
    const uint32_t K = n->k;
    o->koff = ert_opt_alloc(o, sizeof(int32_t) * K);
    o->kci = ert_opt_alloc(o, sizeof(uint16_t) * K);
    if (!o->koff || !o->kci)
        return -1;
    for (uint32_t k = 0; k < K; k++) {
        uint32_t ci = k / (uint32_t)cv->taps, t = k % (uint32_t)cv->taps;
        o->koff[k] = (int32_t)(ci * cv->chan_stride) + cv->tap_off[t];
        o->kci[k] = (uint16_t)ci;
    }
    uint64_t weight_src;
    if (n->w.encoding == EDGERT_WEIGHTS_SPARSE_REL8) {
        o->row_start = n->w.row_start;
        o->values = n->w.values;
        o->steps = n->w.steps;
        weight_src = 4ull * (n->c_out + 1) + 2ull * n->w.pairs;
    } else if (2 * ert_count_nonzero(n) < (uint64_t)n->c_out * K) {
        if (build_rel8(o, n))
            return -1;
        weight_src = 4ull * (n->c_out + 1) + 2ull * o->row_start[n->c_out];
    } else {
        o->dense = n->w.dense;
        weight_src = (uint64_t)n->c_out * K;
    }
    o->weight_bytes = weight_src + 6ull * K + 16ull * n->c_out;
    cv->packed_bytes = packed_bytes(cv);
    o->pre = ert_pack_planar;
    o->pre_units = (uint32_t)cv->c;
    return planar_accounting(o, n);
}

typedef struct phase_builder {
    ert_opt_node *o;
    uint32_t at;
} phase_builder;

static void phase_put(void *arg, uint32_t k, int8_t w)
{
    phase_builder *b = arg;
    if (b->o->ph_off) {
        b->o->ph_off[b->at] = b->o->koff[k];
        b->o->ph_rec[b->at] = (uint64_t)(uint8_t)w << 24;
        b->o->ph_k[b->at] = k;
    }
    b->at++;
}

int ert_conv_prepare_phase_records(ert_opt_node *o, const ert_node *n)
{
    o->ph_start = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)n->c_out + 1));
    if (!o->ph_start)
        return -1;
    phase_builder b = {o, 0};
    for (uint32_t c = 0; c < n->c_out; c++) {
        ert_each_weight(n, c, phase_put, &b);
        o->ph_start[c + 1] = b.at;
    }
    o->ph_off = ert_opt_alloc(o, sizeof(int32_t) * (size_t)b.at + 4);
    o->ph_rec = ert_opt_alloc(o, sizeof(uint64_t) * (size_t)b.at + 8);
    o->ph_k = ert_opt_alloc(o, sizeof(uint32_t) * (size_t)b.at + 4);
    if (!o->ph_off || !o->ph_rec || !o->ph_k)
        return -1;
    b.at = 0;
    for (uint32_t c = 0; c < n->c_out; c++)
        ert_each_weight(n, c, phase_put, &b);
    /* the walk tables are no longer read: count the records instead */
    o->weight_bytes = 16ull * b.at + 4ull * ((uint64_t)n->c_out + 1) + 16ull * n->c_out;
    return 0;
}

/* ---- q4: channel quads, 4 weights per block ---- */

static int q4_common(ert_opt_node *o)
{
    ert_conv_plan *cv = &o->cv;
    size_t nblocks = (size_t)cv->cq_g * (size_t)cv->taps;
    o->boff = ert_opt_alloc(o, sizeof(int32_t) * nblocks);
    if (!o->boff)
        return -1;
    for (size_t b = 0; b < nblocks; b++) { /* tap column dx reads copy dx, aligned */
        int32_t t = (int32_t)(b % (size_t)cv->taps), d = cv->ncopies > 1 ? tap_dx(cv, t) : 0;
        o->boff[b] = (int32_t)((size_t)d * cv->copy_bytes + (b / (size_t)cv->taps) *
                               cv->chan_stride) + 4 * (cv->tap_off[t] - d);
    }
    cv->packed_bytes = (size_t)(cv->ncopies - 1) * cv->copy_bytes + packed_bytes(cv);
    o->pre = ert_pack_q4;
    o->pre_units = (uint32_t)cv->n_packed;
    o->exec_pref = ert_opt_alloc(o, sizeof(uint64_t) * ((size_t)cv->co + 1));
    o->bias_corr = ert_opt_alloc(o, sizeof(int32_t) * (size_t)cv->co);
    return o->exec_pref && o->bias_corr ? 0 : -1;
}

/* The 4 weights of block (cq, tap) of a dense row, as one little-endian int32. */
static int32_t q4_word(const ert_conv_plan *cv, const int8_t *row, int32_t cq, int32_t tap)
{
    uint32_t word = 0;
    for (int32_t j = 0; j < 4; j++) {
        int32_t ci = 4 * cq + j;
        if (ci < cv->cin_g)
            word |= (uint32_t)(uint8_t)row[ci * cv->taps + tap] << (8 * j);
    }
    return (int32_t)word;
}

static int32_t word_sum(int32_t word)
{
    return (int8_t)(word & 0xff) + (int8_t)((word >> 8) & 0xff) +
           (int8_t)((word >> 16) & 0xff) + (int8_t)((uint32_t)word >> 24);
}

/* channels of quad cq that exist */
static int32_t quad_channels(const ert_conv_plan *cv, int32_t cq)
{
    int32_t rest = cv->cin_g - 4 * cq;
    return rest < 4 ? rest : 4;
}

static void nonzero(void *arg, uint32_t k, int8_t w)
{
    (void)k;
    (void)w;
    *(int *)arg = 1;
}

/* A (channel quad, tap) block of 8 channels' words with a non-zero weight. */
static int block_live(const int32_t *w8)
{
    int32_t any = 0;
    for (int r = 0; r < 8; r++)
        any |= w8[r];
    return any != 0;
}

/* Blocks of 8 output channels that have a non-zero weight (never mixing groups): a channel
 * pruned whole (filter granularity) costs nothing but its constant output. */
int ert_conv_prepare_q4_dense(ert_opt_node *o, const ert_node *n)
{
    ert_conv_plan *cv = &o->cv;
    if (q4_common(o))
        return -1;
    const size_t nblocks = (size_t)cv->cq_g * (size_t)cv->taps;
    o->q4_list = ert_opt_alloc(o, sizeof(uint32_t) * (size_t)cv->co);
    o->q4_cb = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)cv->co + 1));
    o->q4_bstart = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)cv->co + 1));
    o->q4_empty = ert_opt_alloc(o, (size_t)cv->co);
    if (!o->q4_list || !o->q4_cb || !o->q4_bstart || !o->q4_empty)
        return -1;
    uint32_t listed = 0;
    o->n_cb = 0;
    for (int32_t g = 0; g < cv->groups; g++) {
        uint32_t first = listed;
        for (int32_t c = g * cv->cout_g; c < (g + 1) * cv->cout_g; c++) {
            int any = 0;
            ert_each_weight(n, (uint32_t)c, nonzero, &any);
            o->q4_empty[c] = (uint8_t)!any;
            if (any)
                o->q4_list[listed++] = (uint32_t)c;
        }
        for (uint32_t i = first; i < listed; i += 8)
            o->q4_cb[o->n_cb++] = i;
    }
    o->q4_cb[o->n_cb] = listed;
    /* words of every block of every channel block (dense, transient: [cb][block][8]), then
       only the blocks with a non-zero word in one of their channels are kept: an 8 x 4 block
       pruned whole (block8x4 granularity) costs nothing */
    int32_t *words = calloc((size_t)(o->n_cb ? o->n_cb : 1) * nblocks * 8, sizeof(int32_t));
    int8_t *row = malloc(n->k);
    o->q4corr = ert_opt_alloc(o, sizeof(int32_t) * (size_t)cv->co * (size_t)cv->cq_g);
    if (!words || !row || !o->q4corr) {
        free(words);
        free(row);
        return -1;
    }
    for (uint32_t cb = 0; cb < o->n_cb; cb++) {
        int32_t *cw = words + (size_t)cb * nblocks * 8;
        for (uint32_t i = o->q4_cb[cb]; i < o->q4_cb[cb + 1]; i++) {
            const uint32_t c = o->q4_list[i];
            dense_row(n, c, row);
            int64_t sum = 0;
            for (int32_t cq = 0; cq < cv->cq_g; cq++) {
                int32_t qsum = 0;
                for (int32_t t = 0; t < cv->taps; t++) {
                    int32_t word = q4_word(cv, row, cq, t);
                    cw[((size_t)cq * (size_t)cv->taps + (size_t)t) * 8 + (i - o->q4_cb[cb])] = word;
                    qsum += word_sum(word);
                }
                o->q4corr[(size_t)c * (size_t)cv->cq_g + (size_t)cq] = cv->zoff * qsum;
                sum += qsum;
            }
            o->bias_corr[c] = (int32_t)((int64_t)n->bias[c] - (int64_t)cv->zoff * sum);
        }
    }
    free(row);
    size_t total = 0;
    for (size_t b = 0; b < (size_t)o->n_cb * nblocks; b++)
        total += block_live(words + b * 8);
    o->q4w = ert_opt_alloc(o, total * 32 + 32);
    o->q4_blk = ert_opt_alloc(o, sizeof(ert_q4blk) * total + sizeof(ert_q4blk));
    if (!o->q4w || !o->q4_blk) {
        free(words);
        return -1;
    }
    size_t at = 0;
    o->q4_bstart[0] = 0;
    for (uint32_t cb = 0; cb < o->n_cb; cb++) { /* the listed blocks' words, compacted */
        uint64_t macs = 0; /* per channel of the block: every listed block runs whole */
        for (size_t b = 0; b < nblocks; b++) {
            const int32_t *bw = words + ((size_t)cb * nblocks + b) * 8;
            if (!block_live(bw))
                continue;
            const int32_t cq = (int32_t)(b / (size_t)cv->taps), t = (int32_t)(b % (size_t)cv->taps);
            memcpy(o->q4w + at * 32, bw, 32);
            o->q4_blk[at] = (ert_q4blk){(int32_t)((size_t)cq * cv->chan_stride) +
                                            4 * cv->tap_off[t], cq, t};
            macs += (uint64_t)quad_channels(cv, cq) * ert_conv_tap_inb(cv, t);
            at++;
        }
        o->q4_bstart[cb + 1] = (uint32_t)at;
        for (uint32_t i = o->q4_cb[cb]; i < o->q4_cb[cb + 1]; i++)
            o->exec_pref[o->q4_list[i] + 1] = macs; /* a per-channel count for now */
    }
    free(words);
    for (int32_t c = 0; c < cv->co; c++) {
        if (o->q4_empty[c]) {
            o->bias_corr[c] = n->bias[c];
            o->exec_pref[c + 1] = 0;
        }
        o->exec_pref[c + 1] += o->exec_pref[c];
    }
    o->static_executed = o->exec_pref[cv->co];
    o->weight_bytes = (uint64_t)total * 44 + 4ull * nblocks +
                      4ull * (uint64_t)cv->co * (uint64_t)cv->cq_g + 16ull * (uint64_t)cv->co;
    return 0;
}

int ert_conv_prepare_q4_sparse(ert_opt_node *o, const ert_node *n)
{
    ert_conv_plan *cv = &o->cv;
    if (q4_common(o))
        return -1;
    const uint32_t nblocks = (uint32_t)cv->cq_g * (uint32_t)cv->taps;
    int8_t *row = malloc(n->k);
    o->blk_start = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)cv->co + 1));
    if (!row || !o->blk_start) {
        free(row);
        return -1;
    }
    /* pass 1 counts the non-zero blocks, pass 2 fills them */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            size_t total = o->blk_start[cv->co];
            o->blk_idx = ert_opt_alloc(o, sizeof(uint16_t) * total + 2);
            o->blk_w = ert_opt_alloc(o, sizeof(int32_t) * total + 4);
            if (!o->blk_idx || !o->blk_w) {
                free(row);
                return -1;
            }
        }
        uint32_t at = 0;
        for (int32_t c = 0; c < cv->co; c++) {
            dense_row(n, (uint32_t)c, row);
            int64_t sum = 0;
            uint64_t macs = 0;
            for (uint32_t b = 0; b < nblocks; b++) {
                int32_t cq = (int32_t)(b / (uint32_t)cv->taps), t = (int32_t)(b % (uint32_t)cv->taps);
                int32_t word = q4_word(cv, row, cq, t);
                if (!word)
                    continue;
                if (pass == 1) {
                    o->blk_idx[at] = (uint16_t)b;
                    o->blk_w[at] = word;
                }
                at++;
                sum += word_sum(word);
                macs += (uint64_t)quad_channels(cv, cq) * ert_conv_tap_inb(cv, t);
            }
            if (pass == 0) {
                o->blk_start[c + 1] = at;
            } else {
                o->bias_corr[c] = (int32_t)((int64_t)n->bias[c] - (int64_t)cv->zoff * sum);
                o->exec_pref[c + 1] = o->exec_pref[c] + macs;
            }
        }
    }
    free(row);
    o->static_executed = o->exec_pref[cv->co];
    o->weight_bytes = 6ull * o->blk_start[cv->co] + 4ull * ((uint64_t)cv->co + 1) +
                      4ull * nblocks + 16ull * (uint64_t)cv->co;
    return 0;
}

/* ---- rows: up to 4 consecutive taps of one plane row per entry ---- */

/* Taps t and u read consecutive bytes of one plane row when they share the phase plane and
 * plane row and u's plane column is t's + 1 (stride-1 neighbours kx, kx + 1; for stride 2,
 * kx and kx + 2). Each tap's (row key, column) in the plane: */
static void tap_row(const ert_conv_plan *cv, int32_t t, int32_t *key, int32_t *col)
{
    int32_t ky = t / cv->kw, kx = t % cv->kw;
    int32_t ry = ky * cv->dh % cv->sh, dy = ky * cv->dh / cv->sh;
    int32_t rx = kx * cv->dw % cv->sw, dx = kx * cv->dw / cv->sw;
    *key = (dy * cv->sh + ry) * cv->sw + rx;
    *col = dx;
}

typedef struct row_builder {
    ert_opt_node *o;
    const int8_t *row;  /* dense weights of the output channel */
    uint32_t at;
    int64_t sum;
    uint64_t macs;
} row_builder;

/* Entries of input channel ci: per plane row, a run starts at each non-zero tap not yet
 * covered and takes the taps of plane columns col .. col + 3 of that row. */
static void row_entries(row_builder *b, const ert_conv_plan *cv, int32_t ci)
{
    int8_t covered[ERT_ROW_MAX_TAPS];
    memset(covered, 0, (size_t)cv->taps);
    for (int32_t t = 0; t < cv->taps; t++) {
        int8_t w = b->row[ci * cv->taps + t];
        if (!w || covered[t])
            continue;
        int32_t key, col;
        tap_row(cv, t, &key, &col);
        uint32_t word = 0, taps = 0xffffffffu;
        for (int32_t u = 0; u < cv->taps; u++) {
            int32_t ku, cu;
            tap_row(cv, u, &ku, &cu);
            if (ku != key || cu < col || cu > col + 3)
                continue;
            int32_t j = cu - col;
            word |= (uint32_t)(uint8_t)b->row[ci * cv->taps + u] << (8 * j);
            taps = (taps & ~(0xffu << (8 * j))) | (uint32_t)u << (8 * j);
            covered[u] = 1;
            b->sum += b->row[ci * cv->taps + u];
            b->macs += ert_conv_tap_inb(cv, u);
        }
        if (b->o->rw_off) {
            b->o->rw_off[b->at] = (int32_t)((size_t)ci * cv->chan_stride) + cv->tap_off[t];
            b->o->rw_word[b->at] = (int32_t)word;
            b->o->rw_ci[b->at] = (uint16_t)ci;
            b->o->rw_taps[b->at] = taps;
        }
        b->at++;
    }
}

uint64_t ert_conv_count_row_entries(const ert_conv_plan *cv, const ert_node *n)
{
    ert_opt_node tmp; /* counting only: no records, no bias */
    memset(&tmp, 0, sizeof tmp);
    int8_t *row = malloc(n->k);
    if (!row)
        return UINT64_MAX;
    row_builder b = {&tmp, row, 0, 0, 0};
    for (uint32_t c = 0; c < n->c_out; c++) {
        dense_row(n, c, row);
        for (int32_t ci = 0; ci < cv->cin_g; ci++)
            row_entries(&b, cv, ci);
    }
    free(row);
    return b.at;
}

int ert_conv_prepare_row_records(ert_opt_node *o, const ert_node *n)
{
    const ert_conv_plan *cv = &o->cv;
    o->rw_start = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)n->c_out + 1));
    int8_t *row = malloc(n->k);
    if (!o->rw_start || !row) {
        free(row);
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        if (pass == 1) {
            size_t total = o->rw_start[n->c_out];
            o->rw_off = ert_opt_alloc(o, sizeof(int32_t) * total + 4);
            o->rw_word = ert_opt_alloc(o, sizeof(int32_t) * total + 4);
            o->rw_ci = ert_opt_alloc(o, sizeof(uint16_t) * total + 2);
            o->rw_taps = ert_opt_alloc(o, sizeof(uint32_t) * total + 4);
            if (!o->rw_off || !o->rw_word || !o->rw_ci || !o->rw_taps) {
                free(row);
                return -1;
            }
        }
        row_builder b = {o, row, 0, 0, 0};
        for (uint32_t c = 0; c < n->c_out; c++) {
            dense_row(n, c, row);
            b.sum = 0;
            b.macs = 0;
            for (int32_t ci = 0; ci < cv->cin_g; ci++)
                row_entries(&b, cv, ci);
            if (pass == 0) {
                o->rw_start[c + 1] = b.at;
            } else {
                o->bias_corr[c] = (int32_t)((int64_t)n->bias[c] - (int64_t)cv->zoff * b.sum);
                o->exec_pref[c + 1] = o->exec_pref[c] + b.macs;
            }
        }
    }
    free(row);
    o->static_executed = o->exec_pref[n->c_out];
    o->weight_bytes = 14ull * o->rw_start[n->c_out] + 4ull * ((uint64_t)n->c_out + 1) +
                      16ull * n->c_out;
    return 0;
}

/* ---- depthwise: one input channel per group, the kernel reads the NCHW input itself ---- */

int ert_dw_supported(const ert_conv_plan *cv, ert_isa isa)
{
    if (cv->cin_g != 1)
        return 0;
    if (isa == ERT_ISA_AVX512VNNI) /* 3x3, stride 1 or 2, no dilation; any padding and width */
        return cv->kh == 3 && cv->kw == 3 && cv->dh == 1 && cv->dw == 1 && cv->sh == cv->sw &&
               (cv->sh == 1 || cv->sh == 2);
    /* portable and NEON: any kernel, stride and dilation whose phase rows fit their row
       buffers */
    return (isa == ERT_ISA_C || isa == ERT_ISA_NEON) && cv->taps <= ERT_ROW_MAX_TAPS &&
           cv->w <= ERT_DW_MAX_W &&
           cv->wo <= ERT_DW_MAX_W &&
           (cv->kh - 1) * cv->dh + 1 <= ERT_DW_SLOTS &&
           (int64_t)cv->sw * ((int64_t)cv->wo + (int64_t)(cv->kw - 1) * cv->dw + 16) <=
               ERT_DW_MAX_W + 64;
}

/* Per output channel: dw_w (AVX-512 3x3: words (w[0][kx], w[1][kx], w[2][kx], 0) at kx and
 * (0, w[0][kx], w[1][kx], w[2][kx]) at 4 + kx, the latter for the next output row of a
 * stride-1 pair; portable: the taps as int32), bias_corr = bias - zoff * sum(w) (padding holds
 * the zero point), and every tap of a channel with a non-zero weight counts as executed. */
int ert_conv_prepare_dw(ert_opt_node *o, const ert_node *n, int vnni)
{
    ert_conv_plan *cv = &o->cv;
    const int32_t taps = cv->taps, per = vnni ? 8 : taps;
    o->dw_w = ert_opt_alloc(o, sizeof(int32_t) * (size_t)cv->co * (size_t)per);
    o->dw_empty = ert_opt_alloc(o, (size_t)cv->co);
    o->exec_pref = ert_opt_alloc(o, sizeof(uint64_t) * ((size_t)cv->co + 1));
    o->bias_corr = ert_opt_alloc(o, sizeof(int32_t) * (size_t)cv->co);
    if (!o->dw_w || !o->dw_empty || !o->exec_pref || !o->bias_corr)
        return -1;
    uint64_t inb = 0;
    for (int32_t t = 0; t < taps; t++)
        inb += ert_conv_tap_inb(cv, t);
    int8_t row[ERT_ROW_MAX_TAPS];
    for (int32_t c = 0; c < cv->co; c++) {
        dense_row(n, (uint32_t)c, row);
        int32_t *w = o->dw_w + (size_t)c * (size_t)per;
        int64_t sum = 0;
        int any = 0;
        for (int32_t t = 0; t < taps; t++) {
            sum += row[t];
            any |= row[t] != 0;
            if (!vnni)
                w[t] = row[t];
        }
        for (int32_t kx = 0; vnni && kx < 3; kx++) {
            uint32_t word = 0;
            for (int32_t ky = 0; ky < 3; ky++)
                word |= (uint32_t)(uint8_t)row[ky * 3 + kx] << (8 * ky);
            w[kx] = (int32_t)word;
            w[4 + kx] = (int32_t)(word << 8);
        }
        o->dw_empty[c] = (uint8_t)!any;
        o->bias_corr[c] = (int32_t)((int64_t)n->bias[c] - (int64_t)cv->zoff * sum);
        o->exec_pref[c + 1] = o->exec_pref[c] + (any ? inb : 0);
    }
    o->static_executed = o->exec_pref[cv->co];
    o->weight_bytes = (4ull * (uint64_t)per + 17ull) * (uint64_t)cv->co;
    o->pre = NULL; /* no packed copy: the kernel pads rows itself */
    return 0;
}
