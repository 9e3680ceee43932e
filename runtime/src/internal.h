/* Private structures shared by the loader, planner, session and kernels. */
#ifndef ERT_INTERNAL_H
#define ERT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "edgert.h"

/* ---- op enum and names, generated from ops.def ---- */
typedef enum ert_op {
#define ERT_OP(NAME, code, check, dense, sparse) ERT_OP_##NAME = code,
#include "ops.def"
#undef ERT_OP
    ERT_OP_LIMIT
} ert_op;

/* Name of an op code, or NULL for codes not in ops.def. */
const char *ert_op_name(uint32_t code);

/* Param indices by op (docs/format.md 2.3, same order as edgecomp/packed/model.py). */
enum { P_KH, P_KW, P_SH, P_SW, P_PT, P_PL, P_PB, P_PR,           /* CONV, MAXPOOL, AVGPOOL */
       P_CONV_DH = 8, P_CONV_DW, P_CONV_GROUPS, P_CONV_ACT_MIN, P_CONV_ACT_MAX, P_CONV_N,
       P_MAXPOOL_N = 8,
       P_AVG_INCLUDE_PAD = 8, P_AVG_M, P_AVG_S, P_AVG_N };
enum { P_FC_ACT_MIN, P_FC_ACT_MAX, P_FC_N };
enum { P_GAP_M, P_GAP_S, P_GAP_N };
enum { P_ADD_MA, P_ADD_MB, P_ADD_S, P_ADD_ACT_MIN, P_ADD_ACT_MAX, P_ADD_N };
enum { P_CONCAT_AXIS };  /* then M_i, S_i at 1 + 2i, 2 + 2i */
enum { P_CLAMP_LO, P_CLAMP_HI, P_CLAMP_N };
/* format 1.1 ops */
enum { P_MUL_M, P_MUL_S, P_MUL_ACT_MIN, P_MUL_ACT_MAX, P_MUL_N };
enum { P_PAD_BEGIN = 0, P_PAD_END = 4, P_PAD_VALUE = 8, P_PAD_N };
enum { P_LRN_SIZE, P_LRN_ACC_SHIFT, P_LRN_S, P_LRN_N };
enum { P_RESIZE_MODE, P_RESIZE_M, P_RESIZE_S, P_RESIZE_N };
enum { P_TRANSPOSE_N = 4 };
enum { ERT_RESIZE_NEAREST = 0, ERT_RESIZE_BILINEAR = 1, ERT_RESIZE_ONE = 1024 };

typedef struct ert_tensor {
    const char *name;   /* into the STRINGS section, name_len bytes, no terminator */
    uint32_t name_len;
    uint32_t rank;
    int32_t dims[EDGERT_MAX_RANK];
    uint32_t size;      /* elements = bytes, <= 2^28 */
    float scale;
    int32_t zero_point;
    int32_t producer;   /* node index, -1 for the graph input */
    int32_t last_use;   /* last node reading it; node_count for graph outputs; -2 if unread */
} ert_tensor;

typedef struct ert_weights {
    int encoding;               /* EDGERT_WEIGHTS_* */
    const int8_t *dense;        /* [C_out][K] */
    const uint32_t *row_start;  /* sparse: [C_out + 1] */
    const int8_t *values;       /* sparse: [pairs] */
    const uint8_t *steps;       /* sparse: [pairs] */
    uint32_t pairs;
    void *owned;                /* weights decoded at load (decode.h): freed with the model */
    const uint8_t *src;         /* decoded: the stored blob (never read again after load) */
    uint64_t src_len;
} ert_weights;

typedef struct ert_node {
    uint32_t op;
    const char *name;           /* into STRINGS, name_len bytes */
    uint32_t name_len;
    uint32_t n_inputs;
    const uint32_t *inputs;     /* tensor indices (model-owned copy) */
    uint32_t output;
    uint32_t n_params;
    const int32_t *params;      /* model-owned copy in host order */
    /* Blobs, validated and pointing into the caller's buffer (zero copy). */
    ert_weights w;
    const int32_t *bias, *multiplier, *shift, *exp_table;
    const int8_t *lut;          /* LUT: 256 entries, indexed by x + 128 */
    const int32_t *table;       /* LRN multipliers, RESIZE row/column taps */
    uint32_t table_count;
    uint32_t c_out, k;          /* weighted ops: rows and row length of the weights */
    uint64_t dense_macs;
    /* Scheduling: the kernel's work is `units` independent slices (channels, rows or
     * elements); `cost` is a rough operation count deciding whether to split across threads. */
    uint32_t units;
    uint64_t cost;
} ert_node;

struct edgert_model {
    const uint8_t *buf;         /* the validated file bytes (caller's or our mapping) */
    size_t len;
    void *mapping;              /* non-NULL when load_file mapped the file */
    uint32_t flags;
    uint32_t n_tensors, n_nodes, n_outputs;
    uint32_t input;             /* tensor index of the (single) graph input */
    uint32_t outputs[16];
    ert_tensor *tensors;
    ert_node *nodes;
    uint32_t *index_pool;       /* node inputs */
    int32_t *param_pool;        /* node params */
    const char *labels;         /* LABELS section or NULL */
    size_t n_labels;
    uint32_t *label_start;      /* n_labels + 1 offsets; label i is [start[i], start[i+1]-1) */
    const char *metadata;
    size_t metadata_len;
    size_t *offsets;            /* default plan: arena offset of each tensor */
    size_t arena_bytes;
};

/* ---- kernels ---- */

/* Everything a kernel needs for one node. Built once per session, so a run allocates nothing. */
typedef struct ert_kctx {
    const struct edgert_model *model;
    const ert_node *node;
    const int8_t *const *in;    /* node->n_inputs pointers into the arena */
    int8_t *out;
    const struct ert_opt_node *opt; /* optimized kernels' prepared data (opt.h), else NULL */
} ert_kctx;

/* Compute work units [begin, end) of the node; return the MACs performed (0 for ops without
 * weights). Uniform for every op and kernel set, so sets can be swapped per session and
 * units split across threads. */
typedef uint64_t (*ert_kernel_fn)(const ert_kctx *k, uint32_t begin, uint32_t end);

typedef struct ert_kernel_set {
    const char *name;
    ert_kernel_fn dense[ERT_OP_LIMIT];   /* indexed by op code; also ops without weights */
    ert_kernel_fn sparse[ERT_OP_LIMIT];  /* ops whose weights are WEIGHTS_SPARSE_REL8 */
} ert_kernel_set;

extern const ert_kernel_set ert_reference_kernels;

/* ---- planner ---- */

/* Arena offsets for every tensor: liveness-based reuse, or one slot per tensor (keep_all).
 * Returns 0, or -1 when the arena would exceed ERT_MAX_ARENA_BYTES (or size_t). */
int ert_plan(const struct edgert_model *m, int keep_all, size_t *offsets, size_t *arena_bytes);
#define ERT_ARENA_ALIGN 64
/* Plans (and so sessions) above this many arena bytes are refused. The format's limit on the
 * elements of all tensors together (2^30) keeps every plan near 1 GiB, below this default;
 * builds for small boards may lower it (-DERT_MAX_ARENA_BYTES=...), and then refuse larger
 * models at load. */
#ifndef ERT_MAX_ARENA_BYTES
#define ERT_MAX_ARENA_BYTES ((size_t)1 << 31)
#endif

/* ---- small helpers ---- */

/* snprintf into err (if err && errlen), returns status. */
edgert_status ert_fail(char *err, size_t errlen, edgert_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
