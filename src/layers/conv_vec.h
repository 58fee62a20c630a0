/* conv_vec.h - the 16-float vectors (GCC vector extensions) shared by the convolution
 * kernels in conv.c and conv_winograd.c. Internal to src/layers. */
#ifndef JETCNN_CONV_VEC_H
#define JETCNN_CONV_VEC_H

#include <string.h>

enum { VL = 16 }; /* floats per vector (one AVX-512 register; two AVX2, four SSE) */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static inline vf vload(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline vf vsplat(float s) { return s - (vf){0}; }

#endif
