/* Thread team for ert_pool_run: a generation counter under one mutex starts the workers, a
 * pending count brings them back. Slice i of n is [units*i/n, units*(i+1)/n). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "pool.h"

typedef struct worker {
    struct ert_pool *pool;
    int index;
    uint64_t macs;
    pthread_t thread;
} worker;

struct ert_pool {
    int n; /* threads in total, caller included */
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    uint64_t generation;
    int pending, stop, started;
    ert_kernel_fn fn;
    const ert_kctx *ctx;
    uint32_t units;
    worker *workers; /* n - 1 */
};

static void slice(uint32_t units, int i, int n, uint32_t *b, uint32_t *e)
{
    *b = (uint32_t)((uint64_t)units * (uint64_t)i / (uint64_t)n);
    *e = (uint32_t)((uint64_t)units * (uint64_t)(i + 1) / (uint64_t)n);
}

static void *work(void *arg)
{
    worker *w = arg;
    ert_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        ert_kernel_fn fn = p->fn;
        const ert_kctx *ctx = p->ctx;
        uint32_t b, e;
        slice(p->units, w->index, p->n, &b, &e);
        pthread_mutex_unlock(&p->mu);

        uint64_t macs = b < e ? fn(ctx, b, e) : 0;

        pthread_mutex_lock(&p->mu);
        w->macs = macs;
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

ert_pool *ert_pool_create(int n_threads)
{
    ert_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads;
    p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
    int ok_mu = p->workers && pthread_mutex_init(&p->mu, NULL) == 0;
    int ok_start = ok_mu && pthread_cond_init(&p->start, NULL) == 0;
    int ok_done = ok_start && pthread_cond_init(&p->done, NULL) == 0;
    if (!ok_done) {
        if (ok_start)
            pthread_cond_destroy(&p->start);
        if (ok_mu)
            pthread_mutex_destroy(&p->mu);
        free(p->workers);
        free(p);
        return NULL;
    }
    for (int i = 0; i < n_threads - 1; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i + 1;
        if (pthread_create(&p->workers[i].thread, NULL, work, &p->workers[i])) {
            ert_pool_free(p); /* joins the ones already started */
            return NULL;
        }
        p->started++;
    }
    return p;
}

uint64_t ert_pool_run(ert_pool *p, ert_kernel_fn fn, const ert_kctx *ctx, uint32_t units)
{
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->units = units;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);

    uint32_t b, e;
    slice(units, 0, p->n, &b, &e);
    uint64_t macs = b < e ? fn(ctx, b, e) : 0;

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    for (int i = 0; i < p->n - 1; i++)
        macs += p->workers[i].macs;
    pthread_mutex_unlock(&p->mu);
    return macs;
}

void ert_pool_free(ert_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}
