/* Small models built in C for the tests (the Python writer is not needed). */
#ifndef ERT_TEST_MODELS_H
#define ERT_TEST_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "ecm_builder.h"
#include "edgert.h"

/* in [1,3,6,6] -> CONV 3x3 s2 p(1,1,0,0) 4 -> RESHAPE [1,36] -> FC 5 -> SOFTMAX, with labels
 * "a".."e" and metadata (the model of tests/test_packed_format.py). Weights ~70% zero. */
uint8_t *tm_small(int sparse, size_t *len);

/* Every op: in [1,2,5,5] -> CONV(groups 2) -> MAXPOOL(ceil) -> AVGPOOL(pad, incl. pad) ->
 * ADD -> CLAMP -> CONCAT -> CONV(dilation 2) -> GLOBALAVGPOOL -> RESHAPE -> FC -> SOFTMAX;
 * outputs: softmax and the FC logits. */
uint8_t *tm_all_ops(int sparse, size_t *len);

/* Deterministic pseudo-random int in [lo, hi]. */
int32_t tm_rand(uint32_t *state, int32_t lo, int32_t hi);

/* Load or exit(1) with the message. */
edgert_model *tm_load(const uint8_t *buf, size_t len);

/* A session with this kernel set and thread count, or NULL (the error printed). */
edgert_session *tm_session(const edgert_model *m, int kernels, int threads);

/* Weighted node helper: blobs for weights (dense or rel8), bias, multiplier, shift. */
void tm_weighted(eb *b, uint16_t op, const char *name, uint32_t in, uint32_t out,
                 const int32_t *params, uint32_t n_params, const int8_t *w, uint32_t c_out,
                 uint32_t k, const int32_t *bias, int32_t mult, int32_t shift, int sparse);

#endif
