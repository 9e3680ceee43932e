/* The optimized kernel set (EDGERT_KERNELS_DEFAULT): what session creation prepares per node,
 * and the contract between prepare*.c and the optimized kernels in kernels/.
 *
 * Every optimized kernel keeps the reference kernels' signature (ert_kernel_fn: work units
 * [begin, end) = output channels) and produces the same bytes (docs/format.md section 5). What
 * differs is the data they read, all built at session creation (nothing allocates during a run):
 *
 * - Convolutions read a *packed copy* of their input, written by a per-node pre-step before the
 *   kernel runs: zero-point padding materialised, a stride s split into s x s phase planes so
 *   every tap reads a contiguous run of output positions, and (x86 VNNI) u8 = x ^ 0x80 so that
 *   vpdpbusd (u8 x s8) applies. Output position p = oy * wq + ox over a plane of width wq >= wo
 *   (columns ox >= wo are computed and discarded), so tap (ky, kx) of input channel ci is one
 *   offset: koff = ci * chan_stride + tap_off[tap].
 *     planar  [C][plane][hq][wq] bytes; weights walked one non-zero at a time (dense rows or
 *             WEIGHTS_SPARSE_REL8 pairs in place, or rel8 pairs built at prepare): every zero
 *             weight is skipped, cost ~ non-zeros (portable C, NEON, AVX2, AVX-512 phase trick).
 *     q4      [group][C/4][plane][hq][wq][4]: four input channels interleaved per position, the
 *             4-byte group vpdpbusd reduces. A *block* = (channel quad, tap), 4 weights. Dense:
 *             every block, 8 output channels at a time; sparse: per output channel the list of
 *             non-zero blocks (offset + 4 weights). An all-zero block costs nothing.
 *     depthwise (one input channel per group): no packed copy; the kernel reads the NCHW input
 *             and builds per output row what it needs in registers (AVX-512: quads of 4 input
 *             rows at one column, so one vpdpbusd applies a 3x3 kernel column) or on the stack
 *             (portable and NEON: zero-point-padded rows split by column phase, kernels/dw_rows.h).
 * - Requantization: acc = bias_corr[c] + sum w * packed, bias_corr = bias - zoff * sum(w) with
 *   zoff the packed value of a zero input (zx, or zx + 128 for u8); padding holds that value.
 * - Zero activations: the pre-step records, per packed channel (or quad), a prefix count of
 *   plane rows holding a non-zero input. A tile of output positions whose input window is all
 *   zero-point for a channel skips that channel's weights (adding back zoff * w), and counts the
 *   MACs it skipped. The depthwise kernels skip an output channel whose input channel is all
 *   zero point (its output is the requantized bias). FC layers walk only the non-zero inputs
 *   (EIE: a zero input skips its column).
 *
 * MAC accounting (edgert_layer_stats): a MAC is one (output element, weight position) pair of the
 * dense layer. in_bounds = MACs whose input position is not padding. A kernel reports executed
 * MACs: in-bounds MACs whose weight it multiplied (zero weights inside a multiplied SIMD block
 * count, padding positions and discarded columns never do). skipped_zero_weight = in_bounds -
 * (executed with no activation skipped), fixed at prepare; skipped_zero_activation = the rest.
 */
#ifndef ERT_OPT_H
#define ERT_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Layers with fewer dense MACs run the reference kernel of their stored encoding: packing
 * their input and preparing weights costs more than it saves. */
#define ERT_OPT_MIN_MACS (1u << 15)

/* Widest input and output rows the portable and NEON depthwise kernels take (their row
 * buffers are on the stack). */
#define ERT_DW_MAX_W 1024
#define ERT_DW_SLOTS 16   /* input rows one output row spans, (kh - 1) * dh + 1: portable and
                             NEON */

/* Instruction sets, in the order the dispatcher prefers them (best last). */
typedef enum ert_isa {
    ERT_ISA_C = 0,
    ERT_ISA_AVX2,
    ERT_ISA_AVX512VNNI,
    ERT_ISA_AVX512VBMI2,      /* AVX512VNNI plus VBMI2 (byte expand/compress) */
    ERT_ISA_NEON,
    ERT_ISA_COUNT
} ert_isa;

int ert_isa_supported(ert_isa isa);
const char *ert_isa_name(ert_isa isa);

typedef enum ert_algo {
    ERT_ALGO_CONV_PLANAR = 1,
    ERT_ALGO_CONV_Q4_DENSE,
    ERT_ALGO_CONV_Q4_SPARSE,
    ERT_ALGO_CONV_ROWS,       /* planar u8, one entry = up to 4 consecutive taps of a row */
    ERT_ALGO_CONV_DW,         /* depthwise (one input channel per group): reads the NCHW
                                 input itself, no pre-step (ert_dw_supported) */
    ERT_ALGO_FC_DENSE,
    ERT_ALGO_FC_CSC,
    ERT_ALGO_FC_BLOCKS,       /* 8 rows x 4 inputs blocks with a non-zero weight (block8x4) */
    ERT_ALGO_FC_BITMAP,       /* per row and 64 inputs: a bitmap of the non-zero weights and
                                 the packed non-zeros (ert_fc_prepare_bitmap) */
    ERT_ALGO_ELEMENTWISE      /* MAXPOOL, ADD, CONCAT: no weights, always exact */
} ert_algo;

/* One optimized kernel: the unit the tests sweep and the session chooses among. */
typedef struct ert_variant {
    const char *name;
    uint32_t op;        /* ERT_OP_* it runs */
    ert_algo algo;
    ert_isa isa;
    ert_kernel_fn fn;
} ert_variant;

extern const ert_variant ert_variants[];
extern const size_t ert_variant_count;

/* Force one variant (by name) on every layer it can run, or NULL to restore the automatic
 * choice; layers below ERT_OPT_MIN_MACS are included while forced. Process-wide, for tests and
 * benchmarks: set it before creating sessions. Returns 0, or -1 for an unknown name. The
 * environment variable EDGERT_KERNEL does the same for sessions created without a call. */
int ert_force_variant(const char *name);

/* ---- convolution geometry shared by the packers and conv kernels ---- */

typedef struct ert_conv_plan {
    int32_t c, h, w, co, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw;
    int32_t groups, cin_g, cout_g, taps;
    int32_t zx, zy, lo, hi;
    int32_t zoff;             /* packed value of a zero input (zx or zx + 128) */
    uint8_t xor8;             /* packed byte = x ^ xor8 (0 or 0x80) */
    int q4;                   /* channel-quad layout */
    int32_t nplanes, hq, wq, max_dy;
    uint64_t planes_used;     /* bit ry * sw + rx: a tap reads that phase plane (the others
                                 are not packed, e.g. 3 of the 4 of a 1x1 stride-2 conv) */
    size_t plane_px;          /* hq * wq */
    size_t chan_stride;       /* bytes per packed channel (planar) or quad (q4) */
    int32_t n_packed;         /* packed channels: C (planar) or groups * cq_g (q4) */
    int32_t cq_g;             /* channel quads per group (q4) */
    size_t npos;              /* ho * wq output positions */
    int32_t tile;             /* output positions per tile */
    size_t packed_bytes;      /* with slack for the last tile's reads */
    int32_t *tap_off;         /* [taps] pixel offset of each tap within a channel */
    int32_t *oy_lo, *oy_hi;   /* [kh] output rows where ky lies inside the input */
    int32_t *ox_lo, *ox_hi;   /* [kw] output columns where kx lies inside the input */
    int32_t ncopies;          /* q4 sparse: copies of the packed input, copy d shifted by d
                                 positions, so that every tap's load is 64-byte aligned */
    size_t copy_bytes;        /* bytes of one copy (n_packed * chan_stride) */
    uint8_t *packed;          /* session scratch, written by the pre-step */
    uint32_t *nzpref;         /* [n_packed][hq + 1] rows with a non-zero input, prefix sums */
} ert_conv_plan;

/* ---- per node ---- */

/* x86 VNNI conv: one output channel's requantization constants, laid out for the kernels to
 * broadcast straight from memory (a broadcast from a register costs a shuffle uop, and a
 * kernel sets them up per channel and tile: for 1x1 layers with few inputs that was a fifth
 * of the requantization). alo..ahi: the accumulators whose requantized value is not clamped
 * (alo > ahi: none usable, see ert_requant_bounds). */
typedef struct ert_rq_chan {
    int64_t m, round, lo, hi; /* M, 2^(n-1), lo - zy, hi - zy */
    int64_t n;                /* the shift, as the low quadword of a shift-count vector */
    int32_t alo, ahi, zy, fast;
} ert_rq_chan;

/* One listed (channel quad, tap) block of a q4 dense channel block: where its input is (bytes
 * from the group's first quad) and its quad and tap (zero-activation bookkeeping). */
typedef struct ert_q4blk {
    int32_t xoff;
    int32_t cq, tap;
} ert_q4blk;

typedef struct ert_opt_node {
    const ert_variant *v;     /* NULL: a reference kernel runs the node */
    const char *kernel_name;
    ert_kernel_fn pre;        /* packs the input (NULL: none); units pre_units */
    uint32_t pre_units;
    uint64_t pre_cost;
    /* accounting (all kernels, reference included) */
    uint64_t in_bounds;
    uint64_t static_executed; /* executed MACs when no activation is skipped */
    uint64_t weight_bytes, act_read, act_written;
    uint64_t *exec_pref;      /* [c_out + 1] prefix sums of static executed MACs per channel */
    int32_t *bias_corr;       /* [c_out] */
    struct ert_rq_chan *rq;   /* x86 conv: [c_out] requantization constants (below) */
    /* CONV */
    ert_conv_plan cv;
    int32_t *koff;            /* planar: [K] koff of weight position k within its group */
    uint16_t *kci;            /* planar: [K] input channel (within group) of position k */
    const int8_t *dense;      /* planar: dense rows to walk (the model's), or NULL */
    const uint32_t *row_start;/* planar: rel8 rows to walk (the model's or built here) */
    const int8_t *values;
    const uint8_t *steps;
    uint32_t *ph_start;       /* planar AVX-512: [co + 1] entries of each output channel */
    int32_t *ph_off;          /*   koff of each non-zero weight */
    uint64_t *ph_rec;         /*   bytes {0,0,0,w,0,0,0,0}: the dwords at +3..+0 are the phase
                                   patterns (w,0,0,0) .. (0,0,0,w), broadcast from memory */
    uint32_t *ph_k;           /*   its position k in the row (zero-activation bookkeeping) */
    uint32_t *rw_start;       /* rows AVX-512: [co + 1] entries of each output channel */
    int32_t *rw_off;          /*   koff of the entry's first tap */
    int32_t *rw_word;         /*   weights of taps dx0 .. dx0 + 3 of one plane row */
    uint16_t *rw_ci;          /*   its input channel (within the group) */
    uint32_t *rw_taps;        /*   the 4 tap indices (255: none), for MAC bookkeeping */
    int8_t *q4w;              /* q4 dense: [listed blocks][8][4], by channel block */
    struct ert_q4blk *q4_blk; /* q4 dense: the blocks (channel quad, tap) with a non-zero
                                 weight in some channel of the block of 8, by channel block */
    uint32_t *q4_bstart;      /* q4 dense: [n_cb + 1] first q4_blk entry of each block of 8 */
    uint32_t *q4_list;        /* q4 dense: output channels with a non-zero weight, by group */
    uint32_t *q4_cb;          /* q4 dense: [n_cb + 1] first q4_list entry of each block of 8 */
    uint32_t n_cb;
    uint8_t *q4_empty;        /* q4 dense: [co] 1 for an all-zero channel (constant output) */
    int32_t *q4corr;          /* q4 dense: [co][cq_g] zoff * sum of the quad's weights */
    uint32_t *blk_start;      /* q4 sparse: [co + 1] */
    uint16_t *blk_idx;        /* q4 sparse: block = cq * taps + tap */
    int32_t *blk_w;           /* q4 sparse: 4 weights of the block */
    int32_t *boff;            /* q4: [cq_g * taps] byte offset of each block within a group */
    /* depthwise (ERT_ALGO_CONV_DW) */
    int32_t *dw_w;            /* AVX-512: [co][8] weight words, see conv_u8s8_dw3x3_avx512vnni.c */
    uint8_t *dw_empty;        /* [co] 1 for an all-zero channel (constant output) */
    /* FC */
    uint32_t k4;              /* dense VNNI: K rounded up to 64 (the u8 input copy) */
    uint32_t *col_start;      /* CSC: [slabs][K + 1] */
    uint8_t *csc_row;         /* CSC: row within the slab of each non-zero */
    int8_t *csc_w;
    uint8_t *fc_x;            /* session scratch: u8 input quads (VNNI) */
    uint64_t *fc_live;        /* session scratch (bitmap): bit j, a non-zero-point input in
                                 chunk j */
    uint32_t *fc_nzk;         /* session scratch: non-zero input positions (CSC) */
    int32_t *fc_nzd;          /*                   and x - zx there */
    uint32_t *fc_nnz;         /*                   and how many */
    uint32_t bm_nch;          /* bitmap: chunks of 64 inputs per row, (K + 63) / 64 */
    int32_t bm_zoff;          /* bitmap: packed value of a zero input, zx + 128 */
    uint64_t *bm_mask;        /* bitmap: [c_out][bm_nch] bit i: input 64 j + i has a non-zero
                                 weight */
    uint64_t *bm_start;       /* bitmap: [c_out + 1] first packed non-zero of each row */
    int8_t *bm_val;           /* bitmap: the non-zero weights, row by row in input order */
    uint32_t *fcb_start;      /* FC blocks: [groups of 8 rows + 1] first listed block */
    uint32_t *fcb_idx;        /*   its 4-input block: inputs 4 j .. 4 j + 3 */
    int32_t *fcb_w;           /*   [listed][8] the 8 rows' 4 weights as dwords */
    int32_t *fcb_csum;        /*   [listed][8] their sums (zoff * sum for a skipped chunk);
                                   NULL if bm_zoff == 0 */
    int16_t *bm_csum;         /* bitmap: [c_out][bm_nch] sum of the chunk's weights, added back
                                 (times bm_zoff) for an all-zero-point chunk; NULL if
                                 bm_zoff == 0 */
    /* ADD / CONCAT (portable): exact tables built at prepare */
    int64_t *add_ta, *add_tb; /* [256] by (uint8)a: (a - za) * M_a; (b - zb) * M_b + 2^(S-1) */
    int8_t *cat_lut;          /* [n_inputs][256] by (uint8)x: input j requantized */
    uint8_t *cat_copy;        /* [n_inputs] 1 when input j's requantization is the identity */
    /* allocations owned by this node */
    void *own[16];
    int n_own;
} ert_opt_node;

#define ERT_CSC_SLAB 256u     /* CSC rows per slab (a u8 row index): long columns, few
                                 mispredicted loop exits; a thread splits slabs */
#define ERT_ROW_MAX_TAPS 255  /* conv kernels with more taps run other kernels */

/* Session-side preparation (prepare.c). */
typedef struct ert_prepared ert_prepared;

/* Choose a kernel for every node (kernels = EDGERT_KERNELS_*), build its data and point
 * ctx[i].opt at it and kernel[i] at its function. scratch: the shared pre-step buffer. */
edgert_status ert_prepare(const edgert_model *m, int kernels, ert_kctx *ctx,
                          ert_kernel_fn *kernel, ert_prepared **out, char *err, size_t errlen);
/* The same with a per-node choice (override[i] non-NULL: that variant, when it can run node i;
 * NULL: the automatic choice), for load-time tuning. */
edgert_status ert_prepare_with(const edgert_model *m, int kernels,
                               const ert_variant *const *override, ert_kctx *ctx,
                               ert_kernel_fn *kernel, ert_prepared **out, char *err,
                               size_t errlen);
/* The kernel data of a session (tests: the tuning candidates of its nodes). */
const ert_prepared *ert_session_prepared(const edgert_session *s);
/* Kernels worth timing for node i (CONV / FC above ERT_OPT_MIN_MACS): every variant that can
 * run it, one per algorithm (its best instruction set on this host). Returns the count. */
int ert_tune_candidates(const edgert_model *m, const ert_prepared *p, uint32_t i,
                        const ert_variant **out, int max);
void ert_prepared_free(ert_prepared *p);
/* Name of the kernel that runs node i. */
const char *ert_prepared_kernel(const ert_prepared *p, uint32_t i);
/* The stats of node i after a run whose kernel returned `executed`. */
void ert_prepared_stats(const ert_prepared *p, uint32_t i, uint64_t executed,
                        edgert_layer_stats *st);

/* For 0 < M < 2^n, f(acc) = rshift_round(acc * M, n) grows by at most 1 per step, so
 * clamp(zy + f(acc), lo, hi) = zy + f(clamp(acc, alo, ahi)) with f(alo) = lo - zy and
 * f(ahi) = hi - zy: found exactly by bisection. Returns 0 (and alo > ahi) otherwise. */
int ert_requant_bounds(int32_t m, int32_t n, int32_t zy, int32_t lo, int32_t hi, int32_t *alo,
                       int32_t *ahi);

/* Builders (prepare_conv.c, prepare_fc.c): 0, or -1 out of memory. */
/* Geometry, tap tables and in_bounds (layout: planar s8, tile 64). */
int ert_conv_plan_init(ert_opt_node *o, const edgert_model *m, const ert_node *n);
/* The packed layout a kernel reads: q4 or planar, xor8 0 or 0x80, tile positions. */
void ert_conv_plan_layout(ert_opt_node *o, int q4, uint8_t xor8, int32_t tile);
uint64_t ert_conv_tap_inb(const ert_conv_plan *cv, int32_t tap);
/* q4 sparse: rows of a multiple of 16 positions and one shifted copy of the input per tap
 * column, when that makes every load aligned at little cost (else nothing changes). */
void ert_conv_plan_align_q4(ert_opt_node *o);
int ert_conv_prepare_planar(ert_opt_node *o, const edgert_model *m, const ert_node *n);
/* The AVX-512 planar kernel's per-weight records (after ert_conv_prepare_planar). */
int ert_conv_prepare_phase_records(ert_opt_node *o, const ert_node *n);
/* The rows kernel's entries (after ert_conv_prepare_planar); the count alone (to choose). */
int ert_conv_prepare_row_records(ert_opt_node *o, const ert_node *n);
uint64_t ert_conv_count_row_entries(const ert_conv_plan *cv, const ert_node *n);
int ert_conv_prepare_q4_dense(ert_opt_node *o, const ert_node *n);
int ert_conv_prepare_q4_sparse(ert_opt_node *o, const ert_node *n);
/* Whether a depthwise kernel of instruction set isa runs this geometry, and its data. */
int ert_dw_supported(const ert_conv_plan *cv, ert_isa isa);
int ert_conv_prepare_dw(ert_opt_node *o, const ert_node *n, int vnni);
int ert_fc_prepare_dense(ert_opt_node *o, const ert_node *n, int32_t zx, int vnni);
int ert_fc_prepare_csc(ert_opt_node *o, const ert_node *n);
int ert_fc_prepare_blocks(ert_opt_node *o, const ert_node *n, int32_t zx);
/* 8 x 4 blocks of FC node n with a non-zero weight (UINT64_MAX: out of memory). */
uint64_t ert_fc_count_blocks(const ert_node *n);
int ert_fc_prepare_bitmap(ert_opt_node *o, const ert_node *n, int32_t zx);
/* Weight w[c][k] of a dense or rel8 node, row by row: calls fn(arg, k, w) for non-zeros. */
typedef void (*ert_weight_fn)(void *arg, uint32_t k, int8_t w);
void ert_each_weight(const ert_node *n, uint32_t c, ert_weight_fn fn, void *arg);
/* Row c as K dense bytes; the sum and the number of its non-zero weights (fast paths). */
void ert_dense_row(const ert_node *n, uint32_t c, int8_t *row);
void ert_row_sum_count(const ert_node *n, uint32_t c, int64_t *sum, uint64_t *count);
uint64_t ert_count_nonzero(const ert_node *n);
void *ert_opt_alloc(ert_opt_node *o, size_t bytes);

/* ---- pre-steps and kernels (kernels/) ---- */

uint64_t ert_pack_planar(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_pack_q4(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_pack_u8(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_pack_u8_live(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_gather_nonzero(const ert_kctx *k, uint32_t begin, uint32_t end);

uint64_t ert_conv_s8_planar_c(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_s8_planar_neon(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_s8_planar_avx2(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_u8s8_planar_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_u8s8_q4_dense_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_u8s8_q4_sparse_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_u8s8_rows_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_s8_dw_c(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_s8_dw_neon(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_conv_u8s8_dw3x3_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_s8_dense_c(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_s8_dense_neon(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_u8s8_dense_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_s8_csc_c(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_u8s8_blocks_avx512vnni(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_fc_u8s8_bitmap_avx512vbmi2(const ert_kctx *k, uint32_t begin, uint32_t end);
/* ops without weights (units as their reference kernels) */
uint64_t ert_maxpool_s8_c(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_maxpool_s8_avx512(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_add_s8_c(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_add_s8_avx512(const ert_kctx *k, uint32_t begin, uint32_t end);
uint64_t ert_concat_s8_lut(const ert_kctx *k, uint32_t begin, uint32_t end);

#endif
