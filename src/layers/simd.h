/* simd.h - 16-lane vectors (GCC vector extensions) for the layer kernels: the types, a load,
 * a splat and lane shuffles, shared by conv.c, conv_winograd.c and pool.c. Internal to
 * src/layers. Lane-wise arithmetic on these types is plain C (+, *, <, &, ...); a
 * comparison gives a vi mask of all ones (true) or all zeros per lane. */
#ifndef JETCNN_SIMD_H
#define JETCNN_SIMD_H

#include <stdint.h>
#include <string.h>

enum { VL = 16 }; /* floats per vector (one AVX-512 register; two AVX2, four SSE) */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

/* VL floats from p (any alignment). */
static inline vf vload(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* s in every lane. */
static inline vf vsplat(float s) { return s - (vf){0}; }

/* Lanes of the 32 values a:b picked by the constant lane list LANES (0..31). GCC spells it
 * __builtin_shuffle with a mask vector, clang (the fuzz build) __builtin_shufflevector. */
#ifdef __clang__
#define VSHUFFLE(a, b, LANES) __builtin_shufflevector(a, b, LANES)
#else
#define VSHUFFLE(a, b, LANES) __builtin_shuffle(a, b, (vi){LANES})
#endif
/* Even and odd lanes of a:b. */
#define VLANES_EVEN 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define VLANES_ODD 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
/* a and b interleaved, a0 b0 a1 b1 ...: lanes 0-7 of each (ZIP_LO), lanes 8-15 (ZIP_HI). */
#define VLANES_ZIP_LO 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define VLANES_ZIP_HI 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31

#endif
