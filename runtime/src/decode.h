/* Weight blobs decoded at load (docs/format.md 3.3-3.8): rel4, bitmap, block, shared (codebook
 * + b-bit codes) and Huffman. The loader calls ert_decode_weights from one place
 * (node_check.c, weighted_blobs); it validates the blob completely, then leaves the layer in
 * the representation the kernels already run (dense rows, or rel8 pairs when smaller) in memory
 * the node owns (ert_weights.owned, freed with the model). Nothing here runs during inference. */
#ifndef ERT_DECODE_H
#define ERT_DECODE_H

#include "reader.h"

#define ERT_MAX_DECODED_WEIGHTS (1ull << 28) /* C_out * K of a layer in kinds 9-13 */

int ert_is_decoded_weights(uint32_t kind);

edgert_status ert_decode_weights(ert_loader *ld, ert_node *n, uint32_t idx,
                                 const ert_blobref *blob, uint32_t c_out, uint32_t k);

/* WEIGHTS_HUFFMAN (3.8): checks heads and tables, then decodes the streams into *out (malloc'ed,
 * *out_len bytes, at least 1 byte allocated) and sets the inner blob kind. */
edgert_status ert_huffman_decode(ert_loader *ld, const ert_node *n, uint32_t idx,
                                 const uint8_t *p, uint64_t size, uint32_t *inner_kind,
                                 uint8_t **out, uint64_t *out_len);

#endif
