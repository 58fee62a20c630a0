/* flatten.c - (C,H,W) -> (C*H*W) in NCHW order, as PyTorch's nn.Flatten. A copy: the
 * memory layout does not change. */
#include <string.h>

#include "jetcnn/layer.h"

static jc_code flatten_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  l->out = (jc_shape){(int)shape_size(l->in), 1, 1};
  return JC_OK;
}

static void flatten_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                            const jc_ctx *ctx) {
  memcpy(y, x, (size_t)n * shape_size(l->in) * sizeof *y);
}

static void flatten_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                             const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  if (dx) memcpy(dx, dy, (size_t)n * shape_size(l->in) * sizeof *dx);
}

static const char *const FLATTEN_KEYS[] = {NULL};
const jc_layer_ops jc_flatten_ops = {
    .section = "flatten",
    .kind = "Flatten",
    .keys = FLATTEN_KEYS,
        .init = flatten_init,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
