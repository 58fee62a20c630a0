/* cpu_target.c - the instruction-set features this build was compiled for (see cpu.h).
 * Compiled with the same flags as the rest of the library, so that the compiler's predefined
 * macros describe the code that will run. Data only: nothing here executes. */
#include "jetcnn/cpu.h"

#ifndef JETCNN_BUILD_TARGET_FLAGS
#define JETCNN_BUILD_TARGET_FLAGS "(flags not recorded)"
#endif
#ifndef JETCNN_BUILD_HOST
#define JETCNN_BUILD_HOST "an unknown host"
#endif

/* Same names and order as the table in cpu_check.c, each preceded by a space. */
const char cpu_build_features[] = ""
#ifdef __SSE__
    " sse"
#endif
#ifdef __SSE2__
    " sse2"
#endif
#ifdef __SSE3__
    " sse3"
#endif
#ifdef __SSSE3__
    " ssse3"
#endif
#ifdef __SSE4_1__
    " sse4.1"
#endif
#ifdef __SSE4_2__
    " sse4.2"
#endif
#ifdef __POPCNT__
    " popcnt"
#endif
#ifdef __AVX__
    " avx"
#endif
#ifdef __AVX2__
    " avx2"
#endif
#ifdef __FMA__
    " fma"
#endif
#ifdef __F16C__
    " f16c"
#endif
#ifdef __BMI__
    " bmi"
#endif
#ifdef __BMI2__
    " bmi2"
#endif
#ifdef __LZCNT__
    " lzcnt"
#endif
#ifdef __MOVBE__
    " movbe"
#endif
#ifdef __AES__
    " aes"
#endif
#ifdef __PCLMUL__
    " pclmul"
#endif
#ifdef __SHA__
    " sha"
#endif
#ifdef __ADX__
    " adx"
#endif
#ifdef __GFNI__
    " gfni"
#endif
#ifdef __VAES__
    " vaes"
#endif
#ifdef __VPCLMULQDQ__
    " vpclmulqdq"
#endif
#ifdef __AVXVNNI__
    " avxvnni"
#endif
#ifdef __AVX512F__
    " avx512f"
#endif
#ifdef __AVX512CD__
    " avx512cd"
#endif
#ifdef __AVX512VL__
    " avx512vl"
#endif
#ifdef __AVX512BW__
    " avx512bw"
#endif
#ifdef __AVX512DQ__
    " avx512dq"
#endif
#ifdef __AVX512IFMA__
    " avx512ifma"
#endif
#ifdef __AVX512VBMI__
    " avx512vbmi"
#endif
#ifdef __AVX512VBMI2__
    " avx512vbmi2"
#endif
#ifdef __AVX512VNNI__
    " avx512vnni"
#endif
#ifdef __AVX512BITALG__
    " avx512bitalg"
#endif
#ifdef __AVX512VPOPCNTDQ__
    " avx512vpopcntdq"
#endif
#ifdef __AVX512BF16__
    " avx512bf16"
#endif
#ifdef __AVX512FP16__
    " avx512fp16"
#endif
    ;

const char cpu_build_target[] = JETCNN_BUILD_TARGET_FLAGS " on host " JETCNN_BUILD_HOST;
