/* FC preparation for the optimized kernels (opt.h): dense rows (read in place when the model
 * has them), and EIE's compressed sparse columns in slabs of rows. */
#include <stdlib.h>
#include <string.h>

#include "opt.h"


/* bias_corr = bias - zoff * sum(w); exec_pref counts every weight (dense) or the non-zeros */
static int fc_accounting(ert_opt_node *o, const ert_node *n, int32_t zoff, int dense)
{
    o->exec_pref = ert_opt_alloc(o, sizeof(uint64_t) * ((size_t)n->c_out + 1));
    o->bias_corr = ert_opt_alloc(o, sizeof(int32_t) * n->c_out);
    if (!o->exec_pref || !o->bias_corr)
        return -1;
    for (uint32_t c = 0; c < n->c_out; c++) {
        int64_t sum;
        uint64_t count;
        ert_row_sum_count(n, c, &sum, &count);
        o->bias_corr[c] = (int32_t)((int64_t)n->bias[c] - (int64_t)zoff * sum);
        o->exec_pref[c + 1] = o->exec_pref[c] + (dense ? n->k : count);
    }
    o->static_executed = o->exec_pref[n->c_out];
    return 0;
}

/* Dense rows in place when the layer has them, else decoded once here. VNNI also needs the
 * input as u8 (x ^ 0x80), written by a pre-step. */
int ert_fc_prepare_dense(ert_opt_node *o, const ert_node *n, int32_t zx, int vnni)
{
    if (fc_accounting(o, n, vnni ? zx + 128 : zx, 1))
        return -1;
    if (n->w.encoding == EDGERT_WEIGHTS_DENSE) {
        o->dense = n->w.dense;
    } else {
        int8_t *d = ert_opt_alloc(o, (size_t)n->c_out * n->k);
        if (!d)
            return -1;
        for (uint32_t c = 0; c < n->c_out; c++)
            ert_dense_row(n, c, d + (size_t)c * n->k);
        o->dense = d;
    }
    o->weight_bytes = (uint64_t)n->c_out * n->k + 12ull * n->c_out;
    if (vnni) {
        o->k4 = (n->k + 63) & ~63u; /* the u8 input, zero up to a multiple of 64 */
        o->pre = ert_fc_pack_u8;
        o->pre_units = 1;
    }
    return 0;
}

typedef struct csc_builder {
    ert_opt_node *o;
    uint32_t *count;  /* per column of the current slab, then its write cursor */
    uint32_t row;     /* row within the slab */
    int fill;
} csc_builder;

static void csc_put(void *arg, uint32_t k, int8_t w)
{
    csc_builder *b = arg;
    if (!b->fill) {
        b->count[k]++;
        return;
    }
    uint32_t at = b->count[k]++;
    b->o->csc_row[at] = (uint8_t)b->row;
    b->o->csc_w[at] = w;
}

int ert_fc_prepare_csc(ert_opt_node *o, const ert_node *n)
{
    if (fc_accounting(o, n, 0, 0))
        return -1;
    const uint32_t K = n->k, slabs = (n->c_out + ERT_CSC_SLAB - 1) / ERT_CSC_SLAB;
    const uint64_t nnz = o->static_executed;
    o->col_start = ert_opt_alloc(o, sizeof(uint32_t) * (size_t)slabs * (K + 1));
    o->csc_row = ert_opt_alloc(o, nnz + 1);
    o->csc_w = ert_opt_alloc(o, nnz + 1);
    uint32_t *cursor = malloc(sizeof(uint32_t) * ((size_t)K + 1));
    if (!o->col_start || !o->csc_row || !o->csc_w || !cursor) {
        free(cursor);
        return -1;
    }
    uint32_t at = 0;
    for (uint32_t s = 0; s < slabs; s++) {
        uint32_t r0 = s * ERT_CSC_SLAB, r1 = r0 + ERT_CSC_SLAB < n->c_out ? r0 + ERT_CSC_SLAB
                                                                       : n->c_out;
        csc_builder b = {o, cursor, 0, 0};
        memset(cursor, 0, sizeof(uint32_t) * ((size_t)K + 1));
        for (uint32_t r = r0; r < r1; r++)
            ert_each_weight(n, r, csc_put, &b);
        uint32_t *cs = o->col_start + (size_t)s * (K + 1);
        for (uint32_t col = 0; col < K; col++) {
            cs[col] = at;
            uint32_t c = cursor[col];
            cursor[col] = at;
            at += c;
        }
        cs[K] = at;
        b.fill = 1;
        for (uint32_t r = r0; r < r1; r++) {
            b.row = r - r0;
            ert_each_weight(n, r, csc_put, &b);
        }
    }
    free(cursor);
    o->pre = ert_fc_gather_nonzero;
    o->pre_units = 1;
    o->weight_bytes = 2 * nnz + 4ull * slabs * (K + 1) + 12ull * n->c_out;
    return 0;
}

/* Per row, one u64 per 64 inputs whose bit i marks a non-zero weight at input 64 j + i, and
 * the non-zeros in input order: vpexpandb rebuilds a chunk's 64 weights from the mask and the
 * next popcount(mask) values. ~K/8 + nnz bytes a row instead of K. The chunk sums let the
 * kernel skip a chunk whose inputs are all the zero point (only needed when zoff != 0). The
 * kernel reads the dense VNNI kernel's u8 input and which chunks hold a non-zero-point input
 * (pre-step ert_fc_pack_u8_live). */
int ert_fc_prepare_bitmap(ert_opt_node *o, const ert_node *n, int32_t zx)
{
    const int32_t zoff = zx + 128;
    if (fc_accounting(o, n, zoff, 0))
        return -1;
    const uint32_t K = n->k, nch = (K + 63) / 64;
    const uint64_t nnz = o->static_executed;
    const size_t masks = (size_t)n->c_out * nch;
    o->bm_nch = nch;
    o->bm_zoff = zoff;
    o->bm_mask = ert_opt_alloc(o, sizeof(uint64_t) * masks);
    o->bm_start = ert_opt_alloc(o, sizeof(uint64_t) * ((size_t)n->c_out + 1));
    o->bm_val = ert_opt_alloc(o, nnz + 64);
    o->bm_csum = zoff ? ert_opt_alloc(o, sizeof(int16_t) * masks) : NULL;
    int8_t *row = malloc((size_t)nch * 64);
    if (!o->bm_mask || !o->bm_start || !o->bm_val || (zoff && !o->bm_csum) || !row) {
        free(row);
        return -1;
    }
    memset(row + K, 0, (size_t)nch * 64 - K);
    uint64_t at = 0;
    for (uint32_t c = 0; c < n->c_out; c++) {
        ert_dense_row(n, c, row);
        o->bm_start[c] = at;
        for (uint32_t j = 0; j < nch; j++) {
            uint64_t mask = 0;
            int32_t sum = 0;
            for (uint32_t i = 0; i < 64; i++) {
                const int8_t w = row[64 * j + i];
                if (w) {
                    mask |= (uint64_t)1 << i;
                    o->bm_val[at++] = w;
                    sum += w;
                }
            }
            o->bm_mask[(size_t)c * nch + j] = mask;
            if (o->bm_csum) /* |sum| <= 64 * 128 */
                o->bm_csum[(size_t)c * nch + j] = (int16_t)sum;
        }
    }
    o->bm_start[n->c_out] = at;
    free(row);
    o->k4 = nch * 64;
    o->pre = ert_fc_pack_u8_live;
    o->pre_units = 1;
    o->weight_bytes = 8ull * masks + nnz + 8ull * (n->c_out + 1) +
                      (o->bm_csum ? 2ull * masks : 0) + 12ull * n->c_out;
    return 0;
}

/* ---- 8 x 4 blocks: groups of 8 rows, the blocks of 4 inputs where one row has a weight ---- */

/* Rows [8 g, 8 g + 8) as dense bytes (rows past c_out: zero), K rounded up to 4. */
static void group_rows(const ert_node *n, uint32_t g, int8_t *rows, uint32_t k4)
{
    memset(rows, 0, 8 * (size_t)k4);
    for (uint32_t r = 0; r < 8 && 8 * g + r < n->c_out; r++)
        ert_dense_row(n, 8 * g + r, rows + (size_t)r * k4);
}

static int block_live(const int8_t *rows, uint32_t k4, uint32_t j)
{
    uint32_t any = 0;
    for (uint32_t r = 0; r < 8; r++) {
        uint32_t w;
        memcpy(&w, rows + (size_t)r * k4 + 4 * j, 4);
        any |= w;
    }
    return any != 0;
}

uint64_t ert_fc_count_blocks(const ert_node *n)
{
    const uint32_t k4 = (n->k + 3) / 4 * 4, groups = (n->c_out + 7) / 8;
    int8_t *rows = malloc(8 * (size_t)k4);
    if (!rows)
        return UINT64_MAX;
    uint64_t total = 0;
    for (uint32_t g = 0; g < groups; g++) {
        group_rows(n, g, rows, k4);
        for (uint32_t j = 0; j < k4 / 4; j++)
            total += (uint64_t)block_live(rows, k4, j);
    }
    free(rows);
    return total;
}

int ert_fc_prepare_blocks(ert_opt_node *o, const ert_node *n, int32_t zx)
{
    const int32_t zoff = zx + 128;
    if (fc_accounting(o, n, zoff, 0))
        return -1;
    const uint32_t K = n->k, k4 = (K + 3) / 4 * 4, groups = (n->c_out + 7) / 8;
    const uint64_t total = ert_fc_count_blocks(n);
    o->bm_nch = (K + 63) / 64;
    o->bm_zoff = zoff;
    o->fcb_start = ert_opt_alloc(o, sizeof(uint32_t) * ((size_t)groups + 1));
    o->fcb_idx = ert_opt_alloc(o, sizeof(uint32_t) * (size_t)total + 4);
    o->fcb_w = ert_opt_alloc(o, 32 * (size_t)total + 32);
    o->fcb_csum = zoff ? ert_opt_alloc(o, 32 * (size_t)total + 32) : NULL;
    int8_t *rows = malloc(8 * (size_t)k4);
    if (total == UINT64_MAX || !o->fcb_start || !o->fcb_idx || !o->fcb_w ||
        (zoff && !o->fcb_csum) || !rows) {
        free(rows);
        return -1;
    }
    uint32_t at = 0;
    for (uint32_t g = 0; g < groups; g++) {
        group_rows(n, g, rows, k4);
        o->fcb_start[g] = at;
        uint64_t macs = 0; /* per row of the group: every listed block runs whole */
        for (uint32_t j = 0; j < k4 / 4; j++) {
            if (!block_live(rows, k4, j))
                continue;
            o->fcb_idx[at] = j;
            for (uint32_t r = 0; r < 8; r++) {
                const int8_t *w = rows + (size_t)r * k4 + 4 * j;
                memcpy(&o->fcb_w[8 * (size_t)at + r], w, 4);
                if (o->fcb_csum)
                    o->fcb_csum[8 * (size_t)at + r] = w[0] + w[1] + w[2] + w[3];
            }
            macs += K - 4 * j < 4 ? K - 4 * j : 4;
            at++;
        }
        for (uint32_t r = 0; r < 8 && 8 * g + r < n->c_out; r++)
            o->exec_pref[8 * g + r + 1] = macs;
    }
    o->fcb_start[groups] = at;
    free(rows);
    for (uint32_t c = 0; c < n->c_out; c++)
        o->exec_pref[c + 1] += o->exec_pref[c];
    o->static_executed = o->exec_pref[n->c_out];
    o->k4 = o->bm_nch * 64;
    o->pre = ert_fc_pack_u8_live;
    o->pre_units = 1;
    o->weight_bytes = 36ull * at + (o->fcb_csum ? 32ull * at : 0) + 4ull * (groups + 1) +
                      12ull * n->c_out;
    return 0;
}
