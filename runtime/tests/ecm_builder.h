/* Test-only .ecm writer. It validates nothing, so tests can build hostile files field by
 * field; eb_finish lays out sections, CRCs and the SHA-256 trailer like the Python writer. */
#ifndef ERT_ECM_BUILDER_H
#define ERT_ECM_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct eb_buf {
    uint8_t *p;
    size_t len, cap;
} eb_buf;

typedef struct eb_blobref {
    uint32_t kind, count;
    uint64_t offset, size;
} eb_blobref;

typedef struct eb {
    eb_buf tensors, nodes, data, strings;
    uint32_t n_tensors, n_nodes;
    uint32_t input;
    uint32_t outputs[16], n_outputs;
    const char *labels, *metadata; /* optional sections */
    uint32_t flags;
} eb;

void eb_init(eb *b);
void eb_free(eb *b);
void eb_put(eb_buf *buf, const void *p, size_t n);
uint32_t eb_tensor(eb *b, const char *name, uint32_t rank, const int32_t dims[4], float scale,
                   int32_t zero_point);
/* Appends the blob 16-byte aligned into DATA. */
eb_blobref eb_blob(eb *b, uint32_t kind, uint32_t count, const void *data, size_t size);
void eb_node(eb *b, uint16_t op, const char *name, const uint32_t *inputs, uint32_t n_inputs,
             uint32_t output, const int32_t *params, uint32_t n_params, const eb_blobref *blobs,
             uint32_t n_blobs);
/* The file, in a 16-byte aligned buffer (free with free()). */
uint8_t *eb_finish(const eb *b, size_t *len);

/* After a mutation: recompute every section CRC (entries that lie inside the file) and the
 * SHA-256 trailer, so the mutation reaches the deeper checks. */
void eb_resign(uint8_t *buf, size_t len);
/* Offset of the first section of a type, or 0. */
size_t eb_section(const uint8_t *buf, size_t len, uint32_t type, size_t *size);

/* Rel8 encoding of a dense [c_out][k] row set (as edgecomp/packed/sparse.py); returns a
 * malloc'ed blob of 4*(c_out+1) + 2*pairs bytes and sets *pairs. */
uint8_t *eb_rel8(const int8_t *w, uint32_t c_out, uint32_t k, uint32_t *pairs, size_t *size);

void eb_le32(uint8_t *p, uint32_t v);
void eb_le64(uint8_t *p, uint64_t v);

#endif
