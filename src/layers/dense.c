/* dense.c - fully connected layer: y = x W^T + b, W (out, in) as PyTorch's nn.Linear.
 * A multi-dimensional input (C,H,W) is read as C*H*W features in NCHW order, exactly what
 * PyTorch's nn.Flatten gives, so no explicit [flatten] is required before it. */
#include <cblas.h>
#include <stdlib.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"

static jc_code dense_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  long units;
  JC_TRY(cfg_require(sec, "units", err));
  JC_TRY(cfg_int(sec, "units", 0, 1, 1L << 24, &units, err));
  size_t in = shape_size(l->in);
  if (in == 0)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: [dense] is fed by an empty input", l->path, l->line);
  l->out = (jc_shape){(int)units, 1, 1};
  l->n_kernel = (size_t)units * in;
  l->n_bias = (size_t)units;
  l->kernel_ndims = 2;
  l->kernel_shape[0] = (int)units;
  l->kernel_shape[1] = (int)in;
  l->fan_in = in;
  l->flops = 2.0 * (double)in * (double)units;
  l->ws_per_sample = (size_t)units; /* dy masked by the fused ReLU (relu_out) */
  return JC_OK;
}

/* x (n, in), W (out, in), b (out) -> y (n, out) */
static void dense_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                          const jc_ctx *ctx) {
  int in = (int)shape_size(l->in), out = l->out.c;
  const float *w = params + l->offset, *b = w + l->n_kernel;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) y[(size_t)i * out + o] = b[o];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
  if (l->relu_out)
    for (size_t i = 0; i < (size_t)n * (size_t)out; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

static void dense_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                           const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  int in = (int)shape_size(l->in), out = l->out.c;
  const float *w = params + l->offset;
  float *dw = grads + l->offset, *db = dw + l->n_kernel;
  if (l->relu_out) { /* dL/dz = dy where y = max(0, z) > 0 */
    float *dz = ctx->ws;
    for (size_t i = 0; i < (size_t)n * (size_t)out; i++) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    dy = dz;
  }
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
  /* dW (out, in) += dy^T (out, n) . x (n, in) */
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
  /* dx (n, in) = dy (n, out) . W (out, in) */
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
}

/* x (N, C, H, W) -> Flatten (N, C*H*W) in NCHW order -> Gemm with W (out, in) transposed
 * -> (N, out, 1, 1). */
static jc_code dense_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                 const char *y, jc_err *err) {
  const float *w = params + l->offset;
  const int64_t out = l->out.c, wdims[2] = {out, (int64_t)shape_size(l->in)}, shape[4] = {0, out, 1, 1}, four = 4;
  const char *flat = onnx_node(g, "Flatten", x, 1, onnx_tensor(g, "flat"));
  onnx_attr_int(g, "axis", 1);
  const char *kernel = onnx_const(g, "W", ONNX_FLOAT, w, wdims, 2);
  const char *bias = onnx_const(g, "B", ONNX_FLOAT, w + l->n_kernel, &out, 1);
  const char *z = onnx_node(g, "Gemm", (const char *[]){flat, kernel, bias}, 3, onnx_tensor(g, "gemm"));
  onnx_attr_int(g, "transB", 1);
  const char *sh = onnx_const(g, "shape", ONNX_INT64, shape, &four, 1);
  onnx_node(g, "Reshape", (const char *[]){z, sh}, 2, y);
  return onnx_status(g, err);
}

static const char *const DENSE_KEYS[] = {"units", NULL};
const jc_layer_ops jc_dense_ops = {
    .section = "dense",
    .kind = "Dense",
    .keys = DENSE_KEYS,
    .flags = LAYER_TAKES_ACTIVATION | LAYER_FUSES_RELU,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .export_onnx = dense_export_onnx,
};
