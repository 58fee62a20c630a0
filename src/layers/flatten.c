/* flatten.c - (C,H,W) -> (C*H*W) in NCHW order, as PyTorch's nn.Flatten. A copy: the
 * memory layout does not change. */
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"

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

/* (N, C, H, W) -> (N, C*H*W, 1, 1): a vector in the graph's NCHW convention. */
static jc_code flatten_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                   const char *y, jc_err *err) {
  const int64_t shape[4] = {0, (int64_t)shape_size(l->in), 1, 1}, four = 4;
  const char *sh = onnx_const(g, "shape", ONNX_INT64, shape, &four, 1);
  onnx_node(g, "Reshape", (const char *[]){x[0], sh}, 2, y);
  return onnx_status(g, err);
}

static const char *const FLATTEN_KEYS[] = {NULL};
const jc_layer_ops jc_flatten_ops = {
    .section = "flatten",
    .kind = "Flatten",
    .keys = FLATTEN_KEYS,
        .init = flatten_init,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .export_onnx = flatten_export_onnx,
};
