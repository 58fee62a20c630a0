/* shape.h - the shape of one sample: channels, height, width (NCHW without the N).
 * A vector of n features is the shape (n, 1, 1). */
#ifndef JETCNN_SHAPE_H
#define JETCNN_SHAPE_H

#include <stddef.h>

typedef struct {
  int c, h, w;
} jc_shape;

/* Number of values in one sample of shape s. */
static inline size_t shape_size(jc_shape s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

#endif
