/* edgert: the edgecomp runtime for packed sparse int8 models (.ecm, docs/format.md).
 *
 * Life cycle: load a model (validated completely, weights used in place), create one or more
 * sessions on it (each owns one activation arena, planned at load), run. A model is immutable
 * after load and may be shared by sessions on several threads; a session is used by one thread
 * at a time. Nothing allocates during edgert_session_run.
 *
 * Every function that can fail returns an edgert_status; edgert_status_str() turns it into a
 * sentence, and the err buffer (load, session create) or edgert_session_error() (run, tensor
 * reads) holds a message naming the exact problem.
 */
#ifndef EDGERT_H
#define EDGERT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGERT_FORMAT_MAJOR 1
/* A model buffer given to edgert_model_load must start on this boundary (weights, biases and
 * requantization arrays are read in place as int32 arrays). */
#define EDGERT_BUFFER_ALIGN 16
#define EDGERT_MAX_RANK 4
#define EDGERT_MAX_THREADS 64

typedef enum edgert_status {
    EDGERT_OK = 0,
    EDGERT_ERR_INVALID_ARG = 1,  /* NULL pointer, index out of range, bad option */
    EDGERT_ERR_IO = 2,           /* the model file cannot be opened, read or mapped */
    EDGERT_ERR_FORMAT = 3,       /* the model is truncated, corrupt or hostile */
    EDGERT_ERR_ALIGNMENT = 4,    /* the model buffer is not EDGERT_BUFFER_ALIGN aligned */
    EDGERT_ERR_NO_MEMORY = 5,
    EDGERT_ERR_SHAPE = 6,        /* an input/output buffer has the wrong size */
    EDGERT_ERR_UNAVAILABLE = 7,  /* a tensor not kept by this session, or no run yet */
    EDGERT_ERR_UNSUPPORTED = 8,  /* the host or an option is not supported */
    EDGERT_ERR_THREAD = 9        /* worker threads could not be started */
} edgert_status;

typedef struct edgert_model edgert_model;
typedef struct edgert_session edgert_session;

/* A sentence describing a status code (never NULL). */
const char *edgert_status_str(edgert_status status);

/* ---- models ---------------------------------------------------------------------------- */

/* Parse and validate buf[0, len) (docs/format.md section 6). Zero copy: weights and other
 * blobs are used in place, so buf must stay valid and unchanged until edgert_model_free, and
 * must be EDGERT_BUFFER_ALIGN aligned. On failure *out is NULL and err (if not NULL) holds a
 * NUL-terminated message of at most errlen bytes. */
edgert_status edgert_model_load(const void *buf, size_t len, edgert_model **out,
                                char *err, size_t errlen);
/* Same, from a file mapped read-only into memory (the model owns the mapping). */
edgert_status edgert_model_load_file(const char *path, edgert_model **out,
                                     char *err, size_t errlen);
void edgert_model_free(edgert_model *model);

typedef struct edgert_tensor_info {
    const char *name;    /* UTF-8, NOT NUL-terminated: name_len bytes */
    size_t name_len;
    uint32_t index;      /* tensor index in the graph */
    uint32_t rank;
    int32_t dims[EDGERT_MAX_RANK];  /* outermost first; entries past rank are 1 */
    size_t size;         /* bytes (= elements, int8) */
    float scale;         /* real value = scale * (q - zero_point) */
    int32_t zero_point;
} edgert_tensor_info;

#define EDGERT_WEIGHTS_NONE 0
#define EDGERT_WEIGHTS_DENSE 1
#define EDGERT_WEIGHTS_SPARSE_REL8 2

typedef struct edgert_node_info {
    const char *name;        /* UTF-8, NOT NUL-terminated: name_len bytes */
    size_t name_len;
    const char *op;          /* NUL-terminated op name, e.g. "CONV" */
    uint32_t op_code;        /* docs/format.md 2.3 */
    uint32_t n_inputs;
    const uint32_t *inputs;  /* tensor indices, valid while the model lives */
    uint32_t output;         /* tensor index */
    uint32_t weights;        /* EDGERT_WEIGHTS_* */
    uint64_t weight_count;   /* C_out * K (0 without weights) */
    uint64_t stored_weights; /* dense: C_out * K; sparse: stored pairs, padding included */
    uint64_t dense_macs;     /* multiply-accumulates of the dense layer */
} edgert_node_info;

size_t edgert_model_input_count(const edgert_model *model);
size_t edgert_model_output_count(const edgert_model *model);
size_t edgert_model_tensor_count(const edgert_model *model);
size_t edgert_model_node_count(const edgert_model *model);
edgert_status edgert_model_input(const edgert_model *model, size_t i, edgert_tensor_info *out);
edgert_status edgert_model_output(const edgert_model *model, size_t i, edgert_tensor_info *out);
edgert_status edgert_model_tensor(const edgert_model *model, size_t t, edgert_tensor_info *out);
edgert_status edgert_model_node(const edgert_model *model, size_t n, edgert_node_info *out);
/* Class labels (LABELS section, one per line); 0 when the model has none. */
size_t edgert_model_label_count(const edgert_model *model);
/* Label i (NOT NUL-terminated, *len bytes), or NULL when i is out of range. */
const char *edgert_model_label(const edgert_model *model, size_t i, size_t *len);
/* The METADATA JSON text (NOT NUL-terminated, *len bytes), or NULL when absent. */
const char *edgert_model_metadata(const edgert_model *model, size_t *len);
/* Nonzero for a dynamic fixed point model (header flag bit 0). */
int edgert_model_dynamic_fixed_point(const edgert_model *model);
/* Bytes of the activation arena a default session allocates (liveness-planned at load). */
size_t edgert_model_arena_bytes(const edgert_model *model);

/* ---- sessions -------------------------------------------------------------------------- */

#define EDGERT_KERNELS_DEFAULT 0
#define EDGERT_KERNELS_REFERENCE 1

#define EDGERT_MAX_TUNE_RUNS 100

typedef struct edgert_session_options {
    int num_threads;         /* 0 or 1: the calling thread only; up to EDGERT_MAX_THREADS */
    int keep_intermediates;  /* nonzero: no arena reuse, every tensor readable after a run */
    int kernels;             /* EDGERT_KERNELS_*; every set gives bit-identical results */
    int tune_runs;           /* 0: kernels chosen per layer by the cost model. N > 0: at
                                creation, run the model N + 1 times with each candidate kernel
                                of every CONV / FC layer (pseudo-random input) and keep the
                                fastest per layer (same results, a slower creation). At most
                                EDGERT_MAX_TUNE_RUNS. */
} edgert_session_options;

void edgert_session_options_init(edgert_session_options *opts);

/* opts may be NULL (defaults). */
edgert_status edgert_session_create(const edgert_model *model,
                                    const edgert_session_options *opts,
                                    edgert_session **out, char *err, size_t errlen);
void edgert_session_free(edgert_session *session);

/* Run on one input (input_len must be the input tensor's size) and copy output 0 into output
 * (output_len must be its size). output may be NULL with output_len 0: read outputs later. */
edgert_status edgert_session_run(edgert_session *session, const int8_t *input,
                                 size_t input_len, int8_t *output, size_t output_len);
/* Copy graph output i of the last run. */
edgert_status edgert_session_output(edgert_session *session, size_t i, int8_t *out,
                                    size_t len);
/* Copy tensor t of the last run. Fails with EDGERT_ERR_UNAVAILABLE when the arena bytes of t
 * were reused later in the run; sessions with keep_intermediates keep every tensor. */
edgert_status edgert_session_tensor(edgert_session *session, size_t t, int8_t *out,
                                    size_t len);
/* Message of the last failure of a call on this session ("" if none). */
const char *edgert_session_error(const edgert_session *session);
size_t edgert_session_arena_bytes(const edgert_session *session);

typedef struct edgert_layer_stats {
    uint64_t dense_macs;     /* MACs of the dense layer (CONV/FC, 0 for other ops) */
    uint64_t executed_macs;  /* MACs the kernel performed in the last run (zero weights and
                                padding positions it skipped are not counted) */
    uint64_t ns;             /* wall time of this node in the last run */
    /* MAC accounting of the last run (CONV/FC; 0 for other ops). A MAC is one (output element,
     * weight position) pair of the dense layer, and dense_macs = executed_macs +
     * skipped_zero_weight_macs + skipped_zero_activation_macs + padding_macs.
     * executed_macs counts in-bounds MACs whose weight the kernel multiplied, including zero
     * weights inside a SIMD group it multiplied whole. */
    uint64_t skipped_zero_weight_macs;     /* in bounds, weight left out by the kernel's weight
                                              format (zero) */
    uint64_t skipped_zero_activation_macs; /* in bounds, weight kept, but skipped because the
                                              input was the zero point */
    uint64_t padding_macs;                 /* input position in the padding */
    uint64_t weight_bytes;       /* distinct bytes of weights, bias and requantization data read */
    uint64_t act_bytes_read;     /* input tensors plus any packed copy the kernel reads */
    uint64_t act_bytes_written;  /* output tensor plus any packed copy written for the kernel */
    const char *kernel;          /* name of the kernel that ran the node (static string) */
} edgert_layer_stats;

edgert_status edgert_session_layer_stats(const edgert_session *session, size_t node,
                                         edgert_layer_stats *out);
/* Wall time of the whole last run (input copy to output copy). */
uint64_t edgert_session_last_run_ns(const edgert_session *session);

#ifdef __cplusplus
}
#endif

#endif /* EDGERT_H */
