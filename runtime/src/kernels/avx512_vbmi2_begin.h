/* As avx512_vnni_begin.h, plus AVX512_VBMI2 (vpexpandb / vpcompressb): for kernels the session
 * calls only where cpu.c found ERT_ISA_AVX512VBMI2. Close with avx512_vnni_end.h. No include
 * guard on purpose: the pragmas act where it is included. */
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi2"))),              \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi2")
#endif
