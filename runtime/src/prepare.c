/* Session preparation: per node, the MAC accounting of opt.h (every kernel set) and, for
 * EDGERT_KERNELS_DEFAULT, the choice of an optimized kernel from the host's instruction sets
 * and the layer's density, and the data it reads. One scratch buffer, shared by the nodes'
 * pre-steps (they run one node at a time), is sized here: a run allocates nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"
#include "requant.h"

struct ert_prepared {
    uint32_t n_nodes;
    ert_opt_node *nodes;
    void *scratch;
};

const ert_variant ert_variants[] = {
    {"conv_s8_planar_c", ERT_OP_CONV, ERT_ALGO_CONV_PLANAR, ERT_ISA_C, ert_conv_s8_planar_c},
    {"conv_s8_dw_c", ERT_OP_CONV, ERT_ALGO_CONV_DW, ERT_ISA_C, ert_conv_s8_dw_c},
#if defined(__aarch64__)
    {"conv_s8_planar_neon", ERT_OP_CONV, ERT_ALGO_CONV_PLANAR, ERT_ISA_NEON,
     ert_conv_s8_planar_neon},
    {"conv_s8_dw_neon", ERT_OP_CONV, ERT_ALGO_CONV_DW, ERT_ISA_NEON, ert_conv_s8_dw_neon},
#endif
#if defined(__x86_64__)
    {"conv_s8_planar_avx2", ERT_OP_CONV, ERT_ALGO_CONV_PLANAR, ERT_ISA_AVX2,
     ert_conv_s8_planar_avx2},
    {"conv_u8s8_planar_avx512vnni", ERT_OP_CONV, ERT_ALGO_CONV_PLANAR, ERT_ISA_AVX512VNNI,
     ert_conv_u8s8_planar_avx512vnni},
    {"conv_u8s8_q4_dense_avx512vnni", ERT_OP_CONV, ERT_ALGO_CONV_Q4_DENSE, ERT_ISA_AVX512VNNI,
     ert_conv_u8s8_q4_dense_avx512vnni},
    {"conv_u8s8_q4_sparse_avx512vnni", ERT_OP_CONV, ERT_ALGO_CONV_Q4_SPARSE,
     ERT_ISA_AVX512VNNI, ert_conv_u8s8_q4_sparse_avx512vnni},
    {"conv_u8s8_rows_avx512vnni", ERT_OP_CONV, ERT_ALGO_CONV_ROWS, ERT_ISA_AVX512VNNI,
     ert_conv_u8s8_rows_avx512vnni},
    {"conv_u8s8_dw3x3_avx512vnni", ERT_OP_CONV, ERT_ALGO_CONV_DW, ERT_ISA_AVX512VNNI,
     ert_conv_u8s8_dw3x3_avx512vnni},
#endif
    {"fc_s8_dense_c", ERT_OP_FC, ERT_ALGO_FC_DENSE, ERT_ISA_C, ert_fc_s8_dense_c},
#if defined(__aarch64__)
    {"fc_s8_dense_neon", ERT_OP_FC, ERT_ALGO_FC_DENSE, ERT_ISA_NEON, ert_fc_s8_dense_neon},
#endif
#if defined(__x86_64__)
    {"fc_u8s8_dense_avx512vnni", ERT_OP_FC, ERT_ALGO_FC_DENSE, ERT_ISA_AVX512VNNI,
     ert_fc_u8s8_dense_avx512vnni},
    {"fc_u8s8_bitmap_avx512vbmi2", ERT_OP_FC, ERT_ALGO_FC_BITMAP, ERT_ISA_AVX512VBMI2,
     ert_fc_u8s8_bitmap_avx512vbmi2},
#endif
#if defined(__x86_64__)
    {"fc_u8s8_blocks_avx512vnni", ERT_OP_FC, ERT_ALGO_FC_BLOCKS, ERT_ISA_AVX512VNNI,
     ert_fc_u8s8_blocks_avx512vnni},
#endif
    {"fc_s8_csc_c", ERT_OP_FC, ERT_ALGO_FC_CSC, ERT_ISA_C, ert_fc_s8_csc_c},
    {"maxpool_s8_c", ERT_OP_MAXPOOL, ERT_ALGO_ELEMENTWISE, ERT_ISA_C, ert_maxpool_s8_c},
#if defined(__x86_64__)
    {"maxpool_s8_avx512", ERT_OP_MAXPOOL, ERT_ALGO_ELEMENTWISE, ERT_ISA_AVX512VNNI,
     ert_maxpool_s8_avx512},
#endif
    {"add_s8_c", ERT_OP_ADD, ERT_ALGO_ELEMENTWISE, ERT_ISA_C, ert_add_s8_c},
#if defined(__x86_64__)
    {"add_s8_avx512", ERT_OP_ADD, ERT_ALGO_ELEMENTWISE, ERT_ISA_AVX512VNNI, ert_add_s8_avx512},
#endif
    {"concat_s8_lut", ERT_OP_CONCAT, ERT_ALGO_ELEMENTWISE, ERT_ISA_C, ert_concat_s8_lut},
};
const size_t ert_variant_count = sizeof ert_variants / sizeof ert_variants[0];

static const ert_variant *forced;
static int forced_set;

int ert_force_variant(const char *name)
{
    if (!name) {
        forced = NULL;
        forced_set = 0;
        return 0;
    }
    for (size_t i = 0; i < ert_variant_count; i++) {
        if (!strcmp(ert_variants[i].name, name)) {
            forced = &ert_variants[i];
            forced_set = 1;
            return 0;
        }
    }
    return -1;
}

static const ert_variant *variant_named(const char *name)
{
    for (size_t i = 0; name && i < ert_variant_count; i++)
        if (!strcmp(ert_variants[i].name, name))
            return &ert_variants[i];
    return NULL;
}

void *ert_opt_alloc(ert_opt_node *o, size_t bytes)
{
    if (o->n_own == (int)(sizeof o->own / sizeof o->own[0]))
        return NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) {
        memset(p, 0, rounded ? rounded : 64);
        o->own[o->n_own++] = p;
    }
    return p;
}

static void node_free(ert_opt_node *o)
{
    for (int i = 0; i < o->n_own; i++)
        free(o->own[i]);
    o->n_own = 0;
}

void ert_prepared_free(ert_prepared *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_nodes; i++)
        node_free(&p->nodes[i]);
    free(p->nodes);
    free(p->scratch);
    free(p);
}

/* ---- the reference kernels' accounting ---- */

typedef struct inb_sum {
    const ert_conv_plan *cv;
    uint64_t macs;
} inb_sum;

static void add_inb(void *arg, uint32_t k, int8_t w)
{
    (void)w;
    inb_sum *a = arg;
    a->macs += ert_conv_tap_inb(a->cv, (int32_t)(k % (uint32_t)a->cv->taps));
}

/* in_bounds, static executed MACs and bytes of the reference kernel of n's encoding */
static int reference_accounting(ert_opt_node *o, const edgert_model *m, const ert_node *n)
{
    const int sparse = n->w.encoding == EDGERT_WEIGHTS_SPARSE_REL8;
    o->weight_bytes = (sparse ? 4ull * (n->c_out + 1) + 2ull * n->w.pairs
                              : (uint64_t)n->c_out * n->k) + 12ull * n->c_out;
    if (n->op == ERT_OP_FC) {
        o->in_bounds = n->dense_macs;
        uint64_t nz = 0;
        for (uint32_t i = 0; sparse && i < n->w.pairs; i++)
            nz += n->w.values[i] != 0;
        o->static_executed = sparse ? nz : n->dense_macs;
        return 0;
    }
    if (ert_conv_plan_init(o, m, n))
        return -1;
    if (!sparse) {
        o->static_executed = o->in_bounds;
        return 0;
    }
    inb_sum a = {&o->cv, 0};
    for (uint32_t c = 0; c < n->c_out; c++)
        ert_each_weight(n, c, add_inb, &a);
    o->static_executed = a.macs;
    return 0;
}

/* ---- choosing a kernel ---- */

static ert_isa best_isa(void)
{
    if (ert_isa_supported(ERT_ISA_NEON))
        return ERT_ISA_NEON;
    if (ert_isa_supported(ERT_ISA_AVX512VNNI))
        return ERT_ISA_AVX512VNNI;
    if (ert_isa_supported(ERT_ISA_AVX2))
        return ERT_ISA_AVX2;
    return ERT_ISA_C;
}

static const ert_variant *find(uint32_t op, ert_algo algo, ert_isa isa)
{
    for (size_t i = 0; i < ert_variant_count; i++)
        if (ert_variants[i].op == op && ert_variants[i].algo == algo && ert_variants[i].isa == isa)
            return &ert_variants[i];
    return NULL;
}

/* Whether variant v can run node n (its tables' index widths, the host). */
static int applicable(const ert_variant *v, const ert_opt_node *o, const ert_node *n)
{
    if (v->op != n->op || !ert_isa_supported(v->isa))
        return 0;
    if (n->op != ERT_OP_CONV)
        return 1;
    const ert_conv_plan *cv = &o->cv;
    /* per-group byte offsets in int32, channel indices in u16, tap indices in a tile table */
    size_t span = (size_t)cv->cin_g * (size_t)cv->nplanes * cv->plane_px * 4 + cv->npos + 4096;
    if (cv->taps > 255 || cv->cin_g > 65535 || span >= ((size_t)1 << 31))
        return 0;
    if (v->algo == ERT_ALGO_CONV_Q4_SPARSE && (size_t)cv->cq_g * (size_t)cv->taps > 65535)
        return 0;
    if (v->algo == ERT_ALGO_CONV_DW)
        return ert_dw_supported(cv, v->isa);
    return 1;
}

typedef struct density {
    uint64_t nonzero;     /* weights */
    uint64_t blocks;      /* non-zero q4 blocks (channel quad, tap) */
    uint8_t *mark;        /* per block of the current row */
    const ert_conv_plan *cv;
} density;

static void mark_block(void *arg, uint32_t k, int8_t w)
{
    (void)w;
    density *d = arg;
    uint32_t taps = (uint32_t)d->cv->taps;
    uint32_t b = (k / taps / 4) * taps + k % taps;
    d->nonzero++;
    if (!d->mark[b]) {
        d->mark[b] = 1;
        d->blocks++;
    }
}

/* The q4 dense kernel's tile: 48 positions, or 64 (two passes of 4 channels) when that
 * wastes less past the end (small outputs such as 7x7) */
static int32_t tile_dense(size_t npos)
{
    return (double)((npos + 63) / 64 * 64) * 1.15 < (double)((npos + 47) / 48 * 48) ? 64 : 48;
}

static double tiles(size_t npos, int32_t tile)
{
    return (double)((npos + (size_t)tile - 1) / (size_t)tile);
}

/* Estimated cycles of each x86 VNNI conv kernel, fitted to runtime microbenchmarks of conv
 * shapes from 7x7x512 to 112x112x32 (depthwise) at 0-95% sparsity: per tile, each weight
 * entry / block costs its vpdpbusd and loads plus a loop overhead, and every 16 outputs a
 * requantization; the input packing is per byte. */
static const ert_variant *choose_conv_vnni(const ert_opt_node *o, const ert_node *n)
{
    const ert_conv_plan *cv = &o->cv;
    const size_t nblocks = (size_t)cv->cq_g * (size_t)cv->taps;
    density d = {0, 0, calloc(nblocks, 1), cv};
    if (!d.mark)
        return find(ERT_OP_CONV, ERT_ALGO_CONV_PLANAR, ERT_ISA_AVX512VNNI);
    /* the q4 dense kernel's blocks: per channel block of 8 (over the non-empty channels of a
       group), the (quad, tap) blocks with a non-zero weight in one of its channels */
    double listed_blocks = 0;
    uint8_t *in_cb = calloc(nblocks, 1);
    for (int32_t g = 0; g < cv->groups && in_cb; g++) {
        uint32_t live = 0;
        for (int32_t c = g * cv->cout_g; c < (g + 1) * cv->cout_g; c++) {
            uint64_t before = d.nonzero;
            memset(d.mark, 0, nblocks);
            ert_each_weight(n, (uint32_t)c, mark_block, &d);
            if (d.nonzero == before)
                continue;
            for (size_t b = 0; b < nblocks; b++)
                in_cb[b] |= d.mark[b];
            if (++live % 8 == 0) {
                for (size_t b = 0; b < nblocks; b++)
                    listed_blocks += in_cb[b];
                memset(in_cb, 0, nblocks);
            }
        }
        if (live % 8) { /* the group's last, partial block */
            for (size_t b = 0; b < nblocks; b++)
                listed_blocks += in_cb[b];
            memset(in_cb, 0, nblocks);
        }
    }
    free(in_cb);
    free(d.mark);
    const double co = cv->co, rq = 10; /* cycles to requantize and store 16 outputs */
    const double in_bytes = (double)cv->c * (double)cv->plane_px * cv->nplanes;
    int32_t tp = cv->npos <= 192 ? (int32_t)((cv->npos + 63) / 64 * 64) : 256;
    int32_t tq = 16;
    while (tq < 256 && (size_t)tq < cv->npos)
        tq *= 2;
    const int32_t td = tile_dense(cv->npos);
    double ng = tp / 64, nv = tq / 16;
    double q4_bytes = in_bytes * 4 / (double)cv->cin_g * (double)cv->cq_g;
    double phase = tiles(cv->npos, tp) * ((double)d.nonzero * (2 * ng + 2) + co * 4 * ng * rq) +
                   in_bytes / 32;
    /* rows: 4 vpdpbusd per group and entry, on inputs shifted in registers (2 loads, 4
       shuffles); the coefficient still picks the fastest kernel on the shapes measured */
    double row_entries = (double)ert_conv_count_row_entries(cv, n);
    double rows = tiles(cv->npos, tp) * (row_entries * (4 * ng + 3) + co * 4 * ng * rq) +
                  in_bytes / 32;
    double q4s = tiles(cv->npos, tq) * ((double)d.blocks * (1.1 * nv + 1) + co * nv * rq) +
                 q4_bytes / 16;
    double q4d = tiles(cv->npos, td) * (listed_blocks * (td == 64 ? 18 : 14) +
                                        co * (td / 16) * rq) + q4_bytes / 16;
    ert_algo a = ERT_ALGO_CONV_PLANAR;
    double best = phase;
    if (rows < best) {
        best = rows;
        a = ERT_ALGO_CONV_ROWS;
    }
    if (q4s < best) {
        best = q4s;
        a = ERT_ALGO_CONV_Q4_SPARSE;
    }
    if (q4d < best)
        a = ERT_ALGO_CONV_Q4_DENSE;
    return find(ERT_OP_CONV, a, ERT_ISA_AVX512VNNI);
}

static const ert_variant *choose(const edgert_model *m, const ert_opt_node *o,
                                 const ert_node *n)
{
    const ert_variant *f = forced_set ? forced : variant_named(getenv("EDGERT_KERNEL"));
    if (f)
        return applicable(f, o, n) ? f : NULL;
    if (n->dense_macs < ERT_OPT_MIN_MACS)
        return NULL;
    ert_isa isa = best_isa();
    const ert_variant *v;
    /* depthwise: the dedicated SIMD kernel, when this host has one for the shape (a few
       vector operations per output, no packed copy of the input). The portable one measured
       0.5-1.1x the portable planar kernel (x86, SSE2 code): it runs only when forced. NEON:
       no hardware at hand; guest instructions per run under qemu-aarch64 were 0.4-0.8x the
       planar NEON kernel's for outputs 14 to 112 wide, 1.0-1.2x for 7 wide (16-output
       blocks), so narrow outputs keep the planar kernel. */
    if (n->op == ERT_OP_CONV && isa != ERT_ISA_C &&
        (v = find(ERT_OP_CONV, ERT_ALGO_CONV_DW, isa)) && applicable(v, o, n) &&
        (isa != ERT_ISA_NEON || o->cv.wo > 8))
        return v;
    if (n->op == ERT_OP_CONV) {
        if (isa == ERT_ISA_AVX512VNNI)
            v = choose_conv_vnni(o, n);
        else
            v = find(ERT_OP_CONV, ERT_ALGO_CONV_PLANAR, isa);
    } else {
        /* Units of ~0.5 ns, fitted to fc_u8s8_dense_avx512vnni, fc_s8_csc_c and
         * fc_u8s8_bitmap_avx512vbmi2 on 4096 x 1000, 4096 x 4096 and 25088 x 4096 layers at
         * 0-99% (x86, 1 thread, benchmarks/fc_layer_bench.c). dense: every weight at SIMD
         * width, or streaming the weights (~8 bytes a unit from memory, ~16 while they fit a
         * last-level cache). CSC: ~1.3 units per non-zero weight of a non-zero input (an input
         * whose zero point is -128 holds only non-negative values, a ReLU's output: about half
         * of it is exact zeros), and ~9 per column a slab visits (its start offsets, a
         * mispredicted loop exit). bitmap: ~2.2 units per (row, 64-input chunk), one
         * vpexpandb + vpdpbusd whatever the chunk's density (measured flat from 90 to 99%), or
         * streaming its masks and non-zeros, the same bytes per unit as dense. */
        double lanes = isa == ERT_ISA_AVX512VNNI ? 64 : (isa == ERT_ISA_NEON ? 16 : 8);
        double nnz = (double)ert_count_nonzero(n), k = n->k;
        double slabs = (double)((n->c_out + ERT_CSC_SLAB - 1) / ERT_CSC_SLAB);
        double act = m->tensors[n->inputs[0]].zero_point == INT8_MIN ? 0.5 : 1.0;
        double stream = isa == ERT_ISA_AVX512VNNI && n->dense_macs <= (32u << 20) ? 16 : 8;
        double dense = (double)n->dense_macs / lanes;
        if ((double)n->dense_macs / stream > dense)
            dense = (double)n->dense_macs / stream;
        double csc = 1.3 * nnz * act + 9.4 * slabs * k * act;
        double chunks = (double)n->c_out * (double)((n->k + 63) / 64);
        double bm_bytes = 8 * chunks + nnz;
        double bm_stream = bm_bytes <= (double)(32u << 20) ? 16 : 8;
        double bitmap = 2.2 * chunks;
        if (bm_bytes / bm_stream > bitmap)
            bitmap = bm_bytes / bm_stream;
        v = find(ERT_OP_FC, ERT_ALGO_FC_DENSE, isa);
        if (!v)
            v = find(ERT_OP_FC, ERT_ALGO_FC_DENSE, ERT_ISA_C);
        double best = dense;
        if (csc < best) {
            best = csc;
            v = find(ERT_OP_FC, ERT_ALGO_FC_CSC, ERT_ISA_C);
        }
        if (ert_isa_supported(ERT_ISA_AVX512VBMI2) && bitmap < best) {
            best = bitmap;
            v = find(ERT_OP_FC, ERT_ALGO_FC_BITMAP, ERT_ISA_AVX512VBMI2);
        }
        /* 8 x 4 blocks: ~1.2 units per listed block (3 loads, one vpdpbusd), or streaming its
           36 bytes (block8x4 pruning; a fine-grained layer lists nearly every block) */
        if (isa == ERT_ISA_AVX512VNNI) {
            double listed = (double)ert_fc_count_blocks(n);
            double blocks = 1.2 * listed;
            if (36 * listed / bm_stream > blocks)
                blocks = 36 * listed / bm_stream;
            if (blocks < best)
                v = find(ERT_OP_FC, ERT_ALGO_FC_BLOCKS, ERT_ISA_AVX512VNNI);
        }
    }
    return v && applicable(v, o, n) ? v : NULL;
}

/* Positions per tile of each conv kernel (its accumulators); q4 sparse and the AVX-512 planar
 * kernel shrink theirs for small outputs. */
static int32_t tile_for(const ert_variant *v, size_t npos)
{
    switch (v->isa) {
    case ERT_ISA_AVX512VNNI:
        if (v->algo == ERT_ALGO_CONV_Q4_DENSE)
            return tile_dense(npos);
        if (v->algo == ERT_ALGO_CONV_PLANAR || v->algo == ERT_ALGO_CONV_ROWS) /* 64 to 256
                                                   positions, 4 accumulators each */
            return npos <= 192 ? (int32_t)((npos + 63) / 64 * 64) : 256;
        for (int32_t t = 16; t < 256; t *= 2) /* q4 sparse: 1 to 16 vectors */
            if ((size_t)t >= npos)
                return t;
        return 256;
    case ERT_ISA_AVX2:
    case ERT_ISA_NEON:
        return 32;
    default:
        return 64;
    }
}

/* smallest acc in [INT32_MIN, INT32_MAX + 1] with rshift_round(acc * m, n) >= v */
static int64_t first_reaching(int32_t m, int32_t n, int64_t v)
{
    int64_t a = INT32_MIN, b = (int64_t)INT32_MAX + 1;
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (ert_rshift_round(mid * m, n) >= v)
            b = mid;
        else
            a = mid + 1;
    }
    return a;
}

int ert_requant_bounds(int32_t m, int32_t n, int32_t zy, int32_t lo, int32_t hi, int32_t *alo,
                       int32_t *ahi)
{
    *alo = 1;
    *ahi = 0;
    if (m <= 0 || (n < 31 && m >= ((int32_t)1 << n)))
        return 0;
    int64_t a = first_reaching(m, n, (int64_t)lo - zy);
    int64_t b = first_reaching(m, n, (int64_t)hi - zy + 1) - 1;
    if (a > b || a < INT32_MIN || b > INT32_MAX)
        return 0;
    *alo = (int32_t)a;
    *ahi = (int32_t)b;
    return 1;
}

static int requant_bounds(ert_opt_node *o, const ert_node *n)
{
    const ert_conv_plan *cv = &o->cv;
    o->rq = ert_opt_alloc(o, sizeof(ert_rq_chan) * n->c_out);
    if (!o->rq)
        return -1;
    for (uint32_t c = 0; c < n->c_out; c++) {
        ert_rq_chan *r = &o->rq[c];
        r->m = n->multiplier[c];
        r->n = n->shift[c];
        r->round = (int64_t)1 << (n->shift[c] - 1);
        r->lo = (int64_t)cv->lo - cv->zy; /* clamped before adding zy: no overflow */
        r->hi = (int64_t)cv->hi - cv->zy;
        r->zy = cv->zy;
        r->fast = ert_requant_bounds(n->multiplier[c], n->shift[c], cv->zy, cv->lo, cv->hi,
                                     &r->alo, &r->ahi);
        /* With acc clamped to [alo, ahi], acc * M + round < 256 * 2^n: adding zy * 2^n
         * (|zy| <= 128) adds zy after the shift exactly, and stays below 2^63 for n <= 54. */
        if (r->fast && r->n <= 54) {
            r->round += (int64_t)cv->zy * ((int64_t)1 << r->n);
            r->zy = 0;
        }
    }
    return 0;
}

static int prepare_variant(ert_opt_node *o, const edgert_model *m, const ert_node *n,
                           const ert_variant *v)
{
    o->v = v;
    o->kernel_name = v->name;
    const int vnni = v->isa == ERT_ISA_AVX512VNNI;
    if (n->op == ERT_OP_FC) {
        int32_t zx = m->tensors[n->inputs[0]].zero_point;
        if (v->algo == ERT_ALGO_FC_BITMAP)
            return ert_fc_prepare_bitmap(o, n, zx);
        if (v->algo == ERT_ALGO_FC_BLOCKS)
            return ert_fc_prepare_blocks(o, n, zx);
        return v->algo == ERT_ALGO_FC_CSC ? ert_fc_prepare_csc(o, n)
                                          : ert_fc_prepare_dense(o, n, zx, vnni);
    }
    int q4 = v->algo == ERT_ALGO_CONV_Q4_DENSE || v->algo == ERT_ALGO_CONV_Q4_SPARSE;
    if (v->algo == ERT_ALGO_CONV_Q4_SPARSE)
        ert_conv_plan_align_q4(o);
    ert_conv_plan_layout(o, q4, vnni ? 0x80 : 0, tile_for(v, o->cv.npos));
    if (vnni && requant_bounds(o, n))
        return -1;
    switch (v->algo) {
    case ERT_ALGO_CONV_DW:
        return ert_conv_prepare_dw(o, n, vnni);
    case ERT_ALGO_CONV_Q4_DENSE:
        return ert_conv_prepare_q4_dense(o, n);
    case ERT_ALGO_CONV_Q4_SPARSE:
        return ert_conv_prepare_q4_sparse(o, n);
    case ERT_ALGO_CONV_ROWS:
        if (ert_conv_prepare_planar(o, m, n))
            return -1;
        return ert_conv_prepare_row_records(o, n);
    default:
        if (ert_conv_prepare_planar(o, m, n))
            return -1;
        return vnni ? ert_conv_prepare_phase_records(o, n) : 0;
    }
}

/* Scratch bytes node o's pre-step writes (0 without one), 64-byte aligned pieces. */
static size_t scratch_need(const ert_opt_node *o, const ert_node *n)
{
    if (!o->pre)
        return 0;
    if (n->op == ERT_OP_CONV) {
        const ert_conv_plan *cv = &o->cv;
        size_t pref = sizeof(uint32_t) * (size_t)cv->n_packed * ((size_t)cv->hq + 1);
        return ((cv->packed_bytes + 63) & ~(size_t)63) + ((pref + 63) & ~(size_t)63);
    }
    if (o->v->algo == ERT_ALGO_FC_CSC)
        return 8 * (size_t)n->k + 64;
    if (o->v->algo == ERT_ALGO_FC_BITMAP || o->v->algo == ERT_ALGO_FC_BLOCKS) /* + live bits */
        return (size_t)o->k4 + 8 * (((size_t)o->bm_nch + 63) / 64);
    return ((size_t)o->k4 + 63) & ~(size_t)63;
}

static void scratch_assign(ert_opt_node *o, const ert_node *n, uint8_t *s)
{
    if (n->op == ERT_OP_CONV) {
        o->cv.packed = s;
        o->cv.nzpref = (uint32_t *)(void *)(s + ((o->cv.packed_bytes + 63) & ~(size_t)63));
    } else if (o->v->algo == ERT_ALGO_FC_CSC) {
        o->fc_nzk = (uint32_t *)(void *)s;
        o->fc_nzd = (int32_t *)(void *)(s + 4 * (size_t)n->k);
        o->fc_nnz = (uint32_t *)(void *)(s + 8 * (size_t)n->k);
    } else {
        o->fc_x = s;
        if (o->v->algo == ERT_ALGO_FC_BITMAP || o->v->algo == ERT_ALGO_FC_BLOCKS) /* k4: 64s */
            o->fc_live = (uint64_t *)(void *)(s + o->k4);
    }
}

/* The element-wise variant for op: the forced one, else the best the host runs. */
static const ert_variant *elementwise_variant(uint32_t op)
{
    const ert_variant *f = forced_set ? forced : variant_named(getenv("EDGERT_KERNEL"));
    if (f && f->op == op && ert_isa_supported(f->isa))
        return f;
    const ert_variant *best = NULL;
    for (size_t i = 0; i < ert_variant_count; i++) {
        const ert_variant *v = &ert_variants[i];
        if (v->op == op && v->algo == ERT_ALGO_ELEMENTWISE && ert_isa_supported(v->isa) &&
            (!best || v->isa > best->isa))
            best = v;
    }
    return best;
}

/* Optimized kernels of ops without weights (all exact): tables they read. Returns 1 if one was
 * set up, 0 if the reference kernel stays, -1 out of memory. */
static int prepare_elementwise(ert_opt_node *o, const edgert_model *m, const ert_node *n,
                               ert_kernel_fn *fn)
{
    const ert_variant *v = elementwise_variant(n->op);
    if (!v)
        return 0;
    const ert_tensor *y = &m->tensors[n->output];
    if (v->fn == ert_add_s8_c) {
        const int32_t *p = n->params;
        const int64_t za = m->tensors[n->inputs[0]].zero_point;
        const int64_t zb = m->tensors[n->inputs[1]].zero_point;
        o->add_ta = ert_opt_alloc(o, 2 * 256 * sizeof(int64_t));
        if (!o->add_ta)
            return -1;
        o->add_tb = o->add_ta + 256;
        for (int u = 0; u < 256; u++) {
            int64_t x = (int8_t)u;
            o->add_ta[u] = (x - za) * p[P_ADD_MA];
            o->add_tb[u] = (x - zb) * p[P_ADD_MB] + ((int64_t)1 << (p[P_ADD_S] - 1));
        }
    } else if (v->fn == ert_concat_s8_lut) {
        o->cat_lut = ert_opt_alloc(o, 257 * (size_t)n->n_inputs);
        if (!o->cat_lut)
            return -1;
        o->cat_copy = (uint8_t *)o->cat_lut + 256 * (size_t)n->n_inputs;
        for (uint32_t j = 0; j < n->n_inputs; j++) {
            const int64_t zx = m->tensors[n->inputs[j]].zero_point, mj = n->params[1 + 2 * j];
            const int sj = n->params[2 + 2 * j];
            int identity = 1;
            for (int u = 0; u < 256; u++) {
                int64_t x = (int8_t)u;
                int8_t r = (int8_t)ert_clamp(y->zero_point + ert_rshift_round((x - zx) * mj, sj),
                                             INT8_MIN, INT8_MAX);
                o->cat_lut[256 * (size_t)j + (size_t)u] = r;
                identity &= r == (int8_t)u;
            }
            o->cat_copy[j] = (uint8_t)identity;
        }
    }
    o->v = v;
    o->kernel_name = v->name;
    *fn = v->fn;
    return 1;
}

/* names of the reference kernels (ops.def), by op code and weight encoding */
static const char *const ref_dense_names[ERT_OP_LIMIT] = {
#define ERT_OP(NAME, code, check, dense, sparse) [code] = #dense,
#include "ops.def"
#undef ERT_OP
};
static const char *const ref_sparse_names[ERT_OP_LIMIT] = {
#define ERT_OP(NAME, code, check, dense, sparse) [code] = #sparse,
#include "ops.def"
#undef ERT_OP
};

static const char *reference_name(const ert_node *n)
{
    const char *const *names = n->w.encoding == EDGERT_WEIGHTS_SPARSE_REL8 ? ref_sparse_names
                                                                            : ref_dense_names;
    return n->op < ERT_OP_LIMIT && names[n->op] ? names[n->op] : "?";
}

/* Rank of an instruction set among those of one algorithm: a variant of a higher one is
 * the one worth timing. */
static int isa_rank(ert_isa isa)
{
    switch (isa) {
    case ERT_ISA_C: return 0;
    case ERT_ISA_AVX2: return 1;
    case ERT_ISA_AVX512VBMI2: return 3;
    default: return 2;
    }
}

int ert_tune_candidates(const edgert_model *m, const ert_prepared *p, uint32_t i,
                        const ert_variant **out, int max)
{
    const ert_node *n = &m->nodes[i];
    if ((n->op != ERT_OP_CONV && n->op != ERT_OP_FC) || n->dense_macs < ERT_OPT_MIN_MACS)
        return 0;
    int count = 0;
    for (size_t j = 0; j < ert_variant_count; j++) {
        const ert_variant *v = &ert_variants[j];
        if (!applicable(v, &p->nodes[i], n))
            continue;
        int k = 0;
        while (k < count && out[k]->algo != v->algo)
            k++;
        if (k < count) { /* same algorithm: keep the higher instruction set */
            if (isa_rank(v->isa) > isa_rank(out[k]->isa))
                out[k] = v;
        } else if (count < max) {
            out[count++] = v;
        }
    }
    return count;
}

edgert_status ert_prepare(const edgert_model *m, int kernels, ert_kctx *ctx,
                          ert_kernel_fn *kernel, ert_prepared **out, char *err, size_t errlen)
{
    return ert_prepare_with(m, kernels, NULL, ctx, kernel, out, err, errlen);
}

edgert_status ert_prepare_with(const edgert_model *m, int kernels,
                               const ert_variant *const *override, ert_kctx *ctx,
                               ert_kernel_fn *kernel, ert_prepared **out, char *err,
                               size_t errlen)
{
    *out = NULL;
    ert_prepared *p = calloc(1, sizeof *p);
    if (!p || !(p->nodes = calloc(m->n_nodes ? m->n_nodes : 1, sizeof *p->nodes))) {
        free(p);
        return ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY, "out of memory preparing kernels");
    }
    p->n_nodes = m->n_nodes;
    size_t scratch = 0;
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        const ert_node *n = &m->nodes[i];
        ert_opt_node *o = &p->nodes[i];
        ctx[i].opt = o;
        o->kernel_name = reference_name(n);
        for (uint32_t j = 0; j < n->n_inputs; j++)
            o->act_read += m->tensors[n->inputs[j]].size;
        o->act_written = m->tensors[n->output].size;
        if (n->op != ERT_OP_CONV && n->op != ERT_OP_FC) {
            if (kernels == EDGERT_KERNELS_DEFAULT) {
                int st = prepare_elementwise(o, m, n, &kernel[i]);
                if (st < 0)
                    goto nomem;
            }
            continue;
        }
        if (reference_accounting(o, m, n))
            goto nomem;
        const ert_variant *v = NULL;
        if (kernels == EDGERT_KERNELS_DEFAULT)
            v = override && override[i] && applicable(override[i], o, n) ? override[i]
                                                                           : choose(m, o, n);
        if (!v)
            continue;
        if (prepare_variant(o, m, n, v))
            goto nomem;
        kernel[i] = v->fn;
        size_t need = scratch_need(o, n);
        if (need > scratch)
            scratch = need;
        if (n->op == ERT_OP_CONV && o->pre) { /* the kernel reads the packed copy the pre-step
                                                 wrote */
            size_t packed = (size_t)o->cv.n_packed * o->cv.chan_stride;
            o->act_read += packed;
            o->act_written += packed;
            o->pre_cost = m->tensors[n->inputs[0]].size;
        }
    }
    if (scratch) {
        scratch = (scratch + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
        p->scratch = aligned_alloc(64, scratch);
        if (!p->scratch)
            goto nomem;
        memset(p->scratch, 0, scratch); /* slack bytes a last tile reads are defined */
        for (uint32_t i = 0; i < m->n_nodes; i++)
            if (p->nodes[i].pre)
                scratch_assign(&p->nodes[i], &m->nodes[i], p->scratch);
    }
    *out = p;
    return EDGERT_OK;
nomem:
    ert_prepared_free(p);
    return ert_fail(err, errlen, EDGERT_ERR_NO_MEMORY,
                    "out of memory preparing the optimized kernels");
}

const char *ert_prepared_kernel(const ert_prepared *p, uint32_t i)
{
    return p->nodes[i].kernel_name;
}

void ert_prepared_stats(const ert_prepared *p, uint32_t i, uint64_t executed,
                        edgert_layer_stats *st)
{
    const ert_opt_node *o = &p->nodes[i];
    st->executed_macs = executed;
    st->kernel = o->kernel_name;
    st->weight_bytes = o->weight_bytes;
    st->act_bytes_read = o->act_read;
    st->act_bytes_written = o->act_written;
    st->padding_macs = st->dense_macs - o->in_bounds;
    st->skipped_zero_weight_macs = o->in_bounds - o->static_executed;
    st->skipped_zero_activation_macs = o->static_executed > executed
                                       ? o->static_executed - executed : 0;
}
