/* Loader state shared by the container/graph reader (ecm_reader.c) and the per-op checkers
 * (node_check.c). Everything here lives only during edgert_model_load. */
#ifndef ERT_READER_H
#define ERT_READER_H

#include "internal.h"

/* Section types (docs/format.md 1.3). */
enum { SEC_GRAPH = 1, SEC_DATA = 2, SEC_STRINGS = 3, SEC_LABELS = 4, SEC_METADATA = 5,
       SEC_VENDOR_MIN = 1000 };

/* Blob kinds (docs/format.md 3.1). */
enum { BLOB_WEIGHTS_DENSE = 1, BLOB_WEIGHTS_SPARSE_REL8 = 2, BLOB_BIAS = 3,
       BLOB_MULTIPLIER = 4, BLOB_SHIFT = 5, BLOB_EXP_TABLE = 6, BLOB_LUT = 7, BLOB_TABLE_I32 = 8,
       /* weights decoded at load (decode.h, docs/format.md 3.3-3.8) */
       BLOB_WEIGHTS_SPARSE_REL4 = 9, BLOB_WEIGHTS_BITMAP = 10, BLOB_WEIGHTS_BLOCK = 11,
       BLOB_WEIGHTS_SHARED = 12, BLOB_WEIGHTS_HUFFMAN = 13,
       BLOB_KIND_LIMIT };

typedef struct ert_section {
    const uint8_t *p;
    uint64_t len;
    int present;
} ert_section;

/* A blob reference whose kind is known and whose bytes lie inside DATA (checked). */
typedef struct ert_blobref {
    uint32_t kind, count;
    uint64_t offset, size;
    const uint8_t *p;
} ert_blobref;

/* Resource limits (docs/format.md 6.1), so that a small hostile file cannot make the loader,
 * a session or a run take unbounded memory or time: the elements of all tensors together
 * (bounds every arena), the CONV/FC weights of all nodes together (bounds what readers scan and
 * what the Python reader expands sparse rows into), and the multiply-accumulates and pool
 * window reads of one run. Each is charged before the bytes behind it are scanned. */
#define ERT_MAX_TOTAL_ELEMENTS (1ull << 30)
#define ERT_MAX_TOTAL_WEIGHTS (1ull << 28)
#define ERT_MAX_TOTAL_WORK (1ull << 36)

typedef struct ert_loader {
    struct edgert_model *m;
    ert_section sec[6];        /* indexed by SEC_* (0 unused) */
    char *err;
    size_t errlen;
    uint64_t weights, work;    /* running totals against the limits above */
} ert_loader;

/* Charge a node's weights (C_out * K) and work (MACs or window reads) to the model's totals;
 * fails naming the node when a total passes its limit. */
edgert_status ert_charge(ert_loader *ld, const ert_node *n, uint32_t idx, uint64_t weights,
                         uint64_t work);

/* "node <i> '<name>' (<OP>): <message>"; returns EDGERT_ERR_FORMAT. */
edgert_status ert_node_fail(ert_loader *ld, const ert_node *n, uint32_t idx, const char *fmt,
                            ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

const char *ert_blob_kind_name(uint32_t kind);

/* Per-op validation (docs/format.md 2.3, 3, 5): shapes, params, blobs; fills the node's blob
 * pointers, dense_macs, units and cost. One per ops.def line. */
typedef edgert_status (*ert_check_fn)(ert_loader *ld, ert_node *n, uint32_t idx,
                                      const ert_blobref *blobs, uint32_t n_blobs);
#define ERT_OP(NAME, code, check, dense, sparse)                                          \
    edgert_status check(ert_loader *ld, ert_node *n, uint32_t idx, const ert_blobref *blobs, \
                        uint32_t n_blobs);
#include "ops.def"
#undef ERT_OP

/* Number of params an op takes (CONCAT: given its input count), -1 for unknown ops. */
int ert_op_param_count(uint32_t op, uint32_t n_inputs);

/* Strict UTF-8 (what Python's bytes.decode("utf-8") accepts). */
int ert_utf8_valid(const uint8_t *s, uint64_t len);

/* Little-endian field reads from a byte pointer (the buffer is only byte-addressable here). */
static inline uint16_t ert_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t ert_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ert_rd64(const uint8_t *p)
{
    return (uint64_t)ert_rd32(p) | (uint64_t)ert_rd32(p + 4) << 32;
}

#endif
