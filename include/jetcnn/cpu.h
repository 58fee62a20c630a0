/* cpu.h - does this CPU run this binary? A check made before anything else in main().
 *
 * A build with -march=native (JETCNN_NATIVE, the default) or -march=x86-64-v3 uses
 * instructions that older CPUs lack: on a cluster whose login node is newer than its compute
 * nodes the binary would die with SIGILL at the first of them. cpu_target.c records the
 * instruction-set features the build was compiled for (the compiler's predefined macros,
 * __AVX2__, __FMA__, __AVX512F__, ...); cpu_check.c, compiled for baseline x86-64 like
 * src/cli/main.c (CMakeLists.txt, JETCNN_BASELINE_FLAGS), asks the CPU (cpuid, and xgetbv
 * for the register state the OS saves) which of them it has.
 */
#ifndef JETCNN_CPU_H
#define JETCNN_CPU_H

#include <stddef.h>

#include "jetcnn/error.h"

/* The features the build was compiled for, in the order of cpu_check.c's table, each name
 * preceded by a space (" sse sse2 sse3 ... avx2 fma"; " sse sse2" for baseline x86-64).
 * A constant, not a function: reading it runs no code compiled for the build's target. */
extern const char cpu_build_features[];
/* How it was built: the C flags that choose the target and the build host
 * ("-march=native on host login1"). */
extern const char cpu_build_target[];

/* The comparison alone: writes to out (size n) the space-separated names in `need` for which
 * has(name, ctx) is 0, in `need`'s order, and returns how many there are. */
int cpu_missing(const char *need, int (*has)(const char *name, void *ctx), void *ctx, char *out, size_t n);

/* 1 if this CPU (and the OS, for vector register state) supports feature `name` of the table;
 * names in `pretend_missing` (space- or comma-separated; NULL for none) count as absent, so
 * that tests can play an older CPU. */
int cpu_has(const char *name, const char *pretend_missing);

/* JC_OK if this CPU has every feature in cpu_build_features; otherwise JC_ERR_RUNTIME with a
 * message naming what the binary needs, what this CPU lacks and has, the CPU model and host,
 * and how to build for it. pretend_missing as for cpu_has(). */
jc_code cpu_check(const char *pretend_missing, jc_err *err);

#endif
