/* Which instruction sets the host runs, decided once. x86: the compiler's CPUID probe (it also
 * checks that the OS saves the wider registers). aarch64: NEON is part of the base ISA. */
#include "opt.h"

int ert_isa_supported(ert_isa isa)
{
    switch (isa) {
    case ERT_ISA_C:
        return 1;
#if defined(__x86_64__) && defined(__GNUC__)
    case ERT_ISA_AVX2:
        return __builtin_cpu_supports("avx2");
    case ERT_ISA_AVX512VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case ERT_ISA_AVX512VBMI2:
        return ert_isa_supported(ERT_ISA_AVX512VNNI) && __builtin_cpu_supports("avx512vbmi2");
#endif
#if defined(__aarch64__)
    case ERT_ISA_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

const char *ert_isa_name(ert_isa isa)
{
    static const char *const names[ERT_ISA_COUNT] = {"c", "avx2", "avx512vnni",
                                                            "avx512vbmi2", "neon"};
    return (unsigned)isa < ERT_ISA_COUNT ? names[isa] : "?";
}
