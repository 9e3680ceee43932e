/* Closes avx512_vnni_begin.h (and avx512_vbmi2_begin.h): the functions after it are compiled
 * for the build's target. */
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
