/* Index helpers of the data-movement kernels (EXPAND, PAD, TRANSPOSE): tensors are seen as
 * four dims (past the rank they are 1), and a unit is one output row (all dims but the last). */
#ifndef ERT_SHAPE_OPS_H
#define ERT_SHAPE_OPS_H

#include "kernels.h"

/* row r of a [d0, d1, d2, d3] tensor -> its coordinates (i0, i1, i2) */
static inline void ert_row_coords(const int32_t *dims, uint32_t r, int32_t c[3])
{
    c[2] = (int32_t)(r % (uint32_t)dims[2]);
    r /= (uint32_t)dims[2];
    c[1] = (int32_t)(r % (uint32_t)dims[1]);
    c[0] = (int32_t)(r / (uint32_t)dims[1]);
}

/* element strides of a row-major [d0, d1, d2, d3] tensor */
static inline void ert_strides(const int32_t *dims, size_t s[4])
{
    s[3] = 1;
    s[2] = (size_t)dims[3];
    s[1] = s[2] * (size_t)dims[2];
    s[0] = s[1] * (size_t)dims[1];
}

#endif
