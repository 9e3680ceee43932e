/* Included (once, at the top of a kernel file, inside its #if defined(__x86_64__)) before
 * functions that use AVX-512 F/BW/VL/VNNI: compiles them for those extensions whatever the
 * build's -march; the session calls them only where cpu.c found the extensions. Close with
 * avx512_vnni_end.h. No include guard on purpose: the pragmas act where it is included. */
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni")
#endif
