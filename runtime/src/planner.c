/* Activation arena planner: one block of memory, an offset per tensor, sized at load.
 *
 * A tensor is live from the node that produces it (the graph input: from before node 0) to the
 * last node that reads it (graph outputs: to the end of the run). Two tensors whose lives
 * overlap get disjoint bytes; others may share. Greedy by size, largest first, each at the
 * lowest aligned offset that clears every already placed tensor it overlaps in time (the
 * "greedy by size" offset planner of TFLite's arena). A node's output never shares bytes with
 * its inputs, because both are live at that node.
 */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

typedef struct span {
    int32_t first, last; /* node steps, inclusive */
    size_t size;
    uint32_t tensor;
} span;

static int by_size_desc(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->tensor < y->tensor ? -1 : (x->tensor > y->tensor);
}

typedef struct placed {
    size_t lo, hi;
} placed;

static int by_offset(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    return x->lo < y->lo ? -1 : (x->lo > y->lo);
}

static size_t align_up(size_t v)
{
    return (v + ERT_ARENA_ALIGN - 1) / ERT_ARENA_ALIGN * ERT_ARENA_ALIGN;
}

int ert_plan(const struct edgert_model *m, int keep_all, size_t *offsets, size_t *arena_bytes)
{
    const uint32_t n = m->n_tensors;
    size_t end = 0;
    if (keep_all) {
        /* one slot per tensor, in index order: every tensor survives the run */
        for (uint32_t t = 0; t < n; t++) {
            offsets[t] = end;
            size_t sz = align_up(m->tensors[t].size);
            if (sz > SIZE_MAX - end)
                return -1;
            end += sz;
        }
        *arena_bytes = end;
        return 0;
    }
    span *spans = malloc(n * sizeof *spans);
    placed *conflicts = malloc(n * sizeof *conflicts);
    if (!spans || !conflicts) {
        free(spans);
        free(conflicts);
        return -1;
    }
    for (uint32_t t = 0; t < n; t++) {
        const ert_tensor *x = &m->tensors[t];
        spans[t].first = x->producer;
        spans[t].last = x->last_use > x->producer ? x->last_use : x->producer;
        spans[t].size = align_up(x->size);
        spans[t].tensor = t;
    }
    qsort(spans, n, sizeof *spans, by_size_desc);
    for (uint32_t i = 0; i < n; i++) {
        const span *s = &spans[i];
        uint32_t nc = 0;
        for (uint32_t j = 0; j < i; j++) {
            const span *o = &spans[j];
            if (o->first <= s->last && s->first <= o->last) {
                conflicts[nc].lo = offsets[o->tensor];
                conflicts[nc].hi = offsets[o->tensor] + o->size;
                nc++;
            }
        }
        qsort(conflicts, nc, sizeof *conflicts, by_offset);
        size_t off = 0;
        for (uint32_t c = 0; c < nc; c++) {
            if (conflicts[c].lo >= off + s->size)
                break; /* the gap before this one fits */
            if (conflicts[c].hi > off)
                off = conflicts[c].hi;
        }
        offsets[s->tensor] = off;
        if (off > SIZE_MAX - s->size) { /* only reachable with a 32-bit size_t */
            end = SIZE_MAX;
            break;
        }
        if (off + s->size > end)
            end = off + s->size;
    }
    free(spans);
    free(conflicts);
    if (end == SIZE_MAX)
        return -1;
    *arena_bytes = end;
    return 0;
}
