/* A fixed team of worker threads that split one kernel call's work units. Created with the
 * session, so a run starts no threads and allocates nothing. */
#ifndef ERT_POOL_H
#define ERT_POOL_H

#include "internal.h"

typedef struct ert_pool ert_pool;

/* n_threads >= 2 in total: the caller plus n_threads - 1 workers. NULL on failure. */
ert_pool *ert_pool_create(int n_threads);
/* Run fn over [0, units), the caller taking the first slice; returns the summed MACs. */
uint64_t ert_pool_run(ert_pool *p, ert_kernel_fn fn, const ert_kctx *ctx, uint32_t units);
void ert_pool_free(ert_pool *p);

#endif
