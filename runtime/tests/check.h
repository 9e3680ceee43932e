/* Minimal test macros: count failures, report file:line, keep going. */
#ifndef ERT_TEST_CHECK_H
#define ERT_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            check_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_EQ_I(a, b)                                                                   \
    do {                                                                                   \
        long long va_ = (long long)(a), vb_ = (long long)(b);                              \
        check_count++;                                                                     \
        if (va_ != vb_) {                                                                  \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__,    \
                    __LINE__, #a, #b, va_, vb_);                                           \
        }                                                                                  \
    } while (0)

/* err must contain needle */
#define CHECK_MSG(err, needle)                                                              \
    do {                                                                                    \
        check_count++;                                                                      \
        if (!strstr((err), (needle))) {                                                     \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,    \
                    (err), (needle));                                                       \
        }                                                                                   \
    } while (0)

static int check_report(const char *name)
{
    if (check_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, check_failures, check_count);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, check_count);
    return 0;
}

#endif
