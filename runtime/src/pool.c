/* Thread team for ert_pool_run. A job is published by bumping an atomic generation counter;
 * workers spin on it for a few tens of microseconds after each job (the next node's job
 * usually follows within microseconds, and waking a sleeping thread costs far more, in a VM
 * especially), then sleep on a condition variable. The caller counts finished workers on an
 * atomic and spins for them the same way. Slice i of n is [units*i/n, units*(i+1)/n). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CPU_RELAX() ((void)0)
#endif

/* polls of the generation counter before sleeping (~20-60 us) */
#define SPIN_POLLS 4000

typedef struct worker {
    struct ert_pool *pool;
    int index;
    uint64_t macs;
    pthread_t thread;
} worker;

struct ert_pool {
    int n; /* threads in total, caller included */
    pthread_mutex_t mu;
    pthread_cond_t start;
    atomic_uint_fast64_t generation;
    atomic_int pending;  /* workers still running the current job */
    atomic_int sleepers; /* workers waiting (or about to wait) on start */
    atomic_int stop;
    int started;
    /* the current job: written before generation is bumped, read after it is seen */
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

/* Wait until generation differs from seen (or stop): spin, then sleep. */
static uint64_t wait_job(ert_pool *p, uint64_t seen)
{
    for (int i = 0; i < SPIN_POLLS; i++) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load(&p->stop))
            return g;
        CPU_RELAX();
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    /* seq_cst with the publisher's bump-then-read-sleepers: one of us sees the other */
    uint64_t g;
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->start, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *work(void *arg)
{
    worker *w = arg;
    ert_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->stop))
            return NULL;
        uint32_t b, e;
        slice(p->units, w->index, p->n, &b, &e);
        w->macs = b < e ? p->fn(p->ctx, b, e) : 0;
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

ert_pool *ert_pool_create(int n_threads)
{
    ert_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads;
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
    int ok_mu = p->workers && pthread_mutex_init(&p->mu, NULL) == 0;
    int ok_start = ok_mu && pthread_cond_init(&p->start, NULL) == 0;
    if (!ok_start) {
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

static void wake_sleepers(ert_pool *p)
{
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->mu);
    }
}

uint64_t ert_pool_run(ert_pool *p, ert_kernel_fn fn, const ert_kctx *ctx, uint32_t units)
{
    p->fn = fn;
    p->ctx = ctx;
    p->units = units;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->generation, 1); /* publishes the job (seq_cst) */
    wake_sleepers(p);

    uint32_t b, e;
    slice(units, 0, p->n, &b, &e);
    uint64_t macs = b < e ? fn(ctx, b, e) : 0;

    for (long i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) {
        if (i < SPIN_POLLS)
            CPU_RELAX();
        else
            sched_yield(); /* a slow worker: let it have the core */
    }
    for (int i = 0; i < p->n - 1; i++)
        macs += p->workers[i].macs;
    return macs;
}

void ert_pool_free(ert_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->start);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}
