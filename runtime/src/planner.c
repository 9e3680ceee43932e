/* Activation arena planner: one block of memory, an offset per tensor, sized at load.
 *
 * A tensor is live from the node that produces it (the graph input: from before node 0) to the
 * last node that reads it (graph outputs: to the end of the run). Two tensors whose lives
 * overlap get disjoint bytes; others may share. Greedy by size, largest first, each at the
 * lowest aligned offset that clears every already placed tensor it overlaps in time (the
 * "greedy by size" offset planner of TFLite's arena). A node's output never shares bytes with
 * its inputs, because both are live at that node.
 *
 * Greedy by size is quadratic in the tensor count: a hostile graph of 65535 tensors that are all
 * alive at once would take minutes to plan. Past PLAN_BUDGET steps (never reached by real
 * networks, which have a few thousand tensors at most) the planner falls back to one slot per
 * tensor; the format's limit on the elements of all tensors together bounds that arena.
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

#define PLAN_BUDGET (1ull << 26) /* placement steps: ~0.1 s */

static size_t align_up(size_t v)
{
    return (v + ERT_ARENA_ALIGN - 1) / ERT_ARENA_ALIGN * ERT_ARENA_ALIGN;
}

/* One slot per tensor, in index order: every tensor survives the run. */
static int plan_all(const struct edgert_model *m, size_t *offsets, size_t *arena_bytes)
{
    size_t end = 0;
    for (uint32_t t = 0; t < m->n_tensors; t++) {
        offsets[t] = end;
        size_t sz = align_up(m->tensors[t].size);
        if (sz > ERT_MAX_ARENA_BYTES - end)
            return -1;
        end += sz;
    }
    *arena_bytes = end;
    return 0;
}

int ert_plan(const struct edgert_model *m, int keep_all, size_t *offsets, size_t *arena_bytes)
{
    const uint32_t n = m->n_tensors;
    size_t end = 0;
    uint64_t steps = 0;
    if (keep_all)
        return plan_all(m, offsets, arena_bytes);
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
        steps += i + 16ull * nc; /* the scan above and the sort below */
        if (steps > PLAN_BUDGET) {
            free(spans);
            free(conflicts);
            return plan_all(m, offsets, arena_bytes);
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
    if (end > ERT_MAX_ARENA_BYTES)
        return -1;
    *arena_bytes = end;
    return 0;
}
