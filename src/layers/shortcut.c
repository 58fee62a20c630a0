/* shortcut.c - a residual connection (Darknet's [shortcut], ResNet's "+ identity"):
 *   y = x0 + x1          x0 the output of the section before, x1 that of the section `from`
 *   y = x0 + P(x1)       with `project = 1`: P a 1x1 convolution with bias, stride S, from the
 *                        channels of x1 to those of x0 (ResNet's projection shortcut)
 * then the activation of `activation =` (net_create adds it; a ReLU is fused here).
 * S is the one stride that maps x1's H x W onto x0's: O = floor((I - 1)/S) + 1 in each
 * dimension (2 when the size halves between stages, also for odd I with `pad = same`).
 * Two inputs: net_create resolves `from` (l->src[1], l->in_shape[1]); the projection's
 * kernel (K, C, 1, 1) and bias (K) are this section's /weights/layerNN/kernel, bias.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"
#include "simd.h"

typedef struct {
  int project, stride;
} shortcut_cfg;

static jc_code shortcut_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  long from, project;
  JC_TRY(cfg_int(sec, "from", 0, -1000000, -1, &from, err)); /* resolved by net_create; here for messages */
  JC_TRY(cfg_int(sec, "project", 0, 0, 1, &project, err));
  const jc_shape a = l->in_shape[0], b = l->in_shape[1];
  int s = 1;
  if (project) {
    s = (b.h + a.h - 1) / a.h; /* ceil(I/O) */
    if (s < 1 || (b.h - 1) / s + 1 != a.h || (b.w - 1) / s + 1 != a.w)
      return jc_fail(err, JC_ERR_USAGE,
                     "%s: [shortcut] from = %ld: no 1x1 projection with one stride maps the %dx%d output of "
                     "layer%02d onto the %dx%d output of layer%02d",
                     cfg_where(sec, "from").s, from, b.h, b.w, l->index + (int)from, a.h, a.w, l->index - 1);
  } else if (a.c != b.c || a.h != b.h || a.w != b.w) {
    return jc_fail(err, JC_ERR_USAGE,
                   "%s: [shortcut] from = %ld adds the output of layer%02d (%dx%dx%d) to that of layer%02d "
                   "(%dx%dx%d): the shapes differ; `project = 1` adds a 1x1 convolution (channels, stride)",
                   cfg_where(sec, "from").s, from, l->index + (int)from, b.h, b.w, b.c, l->index - 1, a.h, a.w,
                   a.c);
  }
  shortcut_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  *c = (shortcut_cfg){(int)project, s};
  l->cfg = c;
  l->out = a;
  const size_t hw = (size_t)a.h * (size_t)a.w;
  l->flops = (double)shape_size(a);
  l->ws_per_sample = shape_size(a); /* dy masked by the fused ReLU */
  if (project) {
    l->n_kernel = (size_t)a.c * (size_t)b.c;
    l->n_bias = (size_t)a.c;
    l->kernel_ndims = 4;
    l->kernel_shape[0] = a.c;
    l->kernel_shape[1] = b.c;
    l->kernel_shape[2] = l->kernel_shape[3] = 1;
    l->fan_in = (size_t)b.c;
    l->ws_fixed = 2 * (size_t)b.c * hw; /* x1 at the strided pixels, and its gradient there */
    l->flops += 2.0 * (double)b.c * (double)a.c * (double)hw;
    snprintf(l->label, sizeof l->label, "from layer%02d, 1x1/%d", l->index + (int)from, s);
  } else {
    snprintf(l->label, sizeof l->label, "from layer%02d", l->index + (int)from);
  }
  return JC_OK;
}

/* x (C, H, W) at pixels (oy S, ox S) -> xs (C, Ho, Wo) */
static void subsample(const float *x, int C, int H, int W, int S, int Ho, int Wo, float *xs) {
  for (int c = 0; c < C; c++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++)
        xs[((size_t)c * Ho + oy) * Wo + ox] = x[((size_t)c * H + (size_t)oy * S) * W + (size_t)ox * S];
}

/* x[0] (n, K, Ho, Wo), x[1] (n, C, H, W), w (K, C), b (K) -> y (n, K, Ho, Wo) */
static void shortcut_forward(const jc_layer *l, const float *params, const float *const *x, float *y, int n,
                             const jc_ctx *ctx) {
  const shortcut_cfg *c = l->cfg;
  const jc_shape a = l->in_shape[0], bs = l->in_shape[1];
  const size_t ysz = shape_size(a), xsz = shape_size(bs), total = (size_t)n * ysz;
  const int K = a.c, C = bs.c, hw = a.h * a.w;
  if (!c->project) { /* the sum and the fused ReLU in one pass */
    for (size_t j = 0; j < total; j++) {
      float v = x[0][j] + x[1][j];
      y[j] = l->relu_out && !(v > 0.0f) ? 0.0f : v;
    }
    return;
  }
  const float *w = params + l->offset, *b = w + l->n_kernel;
  for (int i = 0; i < n; i++) {
    const float *x0 = x[0] + (size_t)i * ysz, *x1 = x[1] + (size_t)i * xsz;
    float *yi = y + (size_t)i * ysz;
    for (int k = 0; k < K; k++)
      for (int p = 0; p < hw; p++) yi[(size_t)k * hw + p] = x0[(size_t)k * hw + p] + b[k];
    if (c->stride > 1) {
      subsample(x1, C, bs.h, bs.w, c->stride, a.h, a.w, ctx->ws);
      x1 = ctx->ws;
    }
    /* y (K, hw) += w (K, C) . x1 (C, hw) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, hw, C, 1.0f, w, C, x1, hw, 1.0f, yi, hw);
    if (l->relu_out)
      for (size_t j = 0; j < ysz; j++) yi[j] = yi[j] > 0.0f ? yi[j] : 0.0f;
  }
}

/* dz = dy (masked by y > 0 with relu_out); dx[0] = dz; dx[1] = dz, or with the projection
 * dx[1] = w^T dz at the strided pixels (0 elsewhere), dw += dz x1s^T, db += sum dz. */
static void shortcut_backward(const jc_layer *l, const float *params, const float *const *x, const float *y,
                              const float *dy, float *const *dx, float *grads, int n, const jc_ctx *ctx) {
  const shortcut_cfg *c = l->cfg;
  const jc_shape a = l->in_shape[0], bs = l->in_shape[1];
  const size_t ysz = shape_size(a), xsz = shape_size(bs), total = (size_t)n * ysz;
  const int K = a.c, C = bs.c, hw = a.h * a.w, S = c->stride;
  const float *dz = dy;
  float *xs = ctx->ws, *dxs = xs + (size_t)C * hw;
  /* the masked gradient straight into dx[0] when there is one (else into the scratch) */
  float *masked = dx[0] ? dx[0] : c->project ? dxs + (size_t)C * hw : ctx->ws;
  if (l->relu_out) {
    for (size_t j = 0; j < total; j++) masked[j] = y[j] > 0.0f ? dy[j] : 0.0f;
    dz = masked;
  }
  if (dx[0] && dz != dx[0]) memcpy(dx[0], dz, total * sizeof *dz);
  if (!c->project) {
    if (dx[1]) memcpy(dx[1], dz, total * sizeof *dz);
    return;
  }
  const float *w = params + l->offset;
  float *dw = grads + l->offset, *db = dw + l->n_kernel;
  for (int i = 0; i < n; i++) {
    const float *dzi = dz + (size_t)i * ysz, *x1 = x[1] + (size_t)i * xsz;
    for (int k = 0; k < K; k++) { /* in VL lanes, then the lanes: a fixed order */
      const float *g = dzi + (size_t)k * hw;
      vf acc = {0};
      int p = 0;
      for (; p + VL <= hw; p += VL) acc += vload(g + p);
      float s = 0.0f;
      for (int j = 0; j < VL; j++) s += acc[j];
      for (; p < hw; p++) s += g[p];
      db[k] += s;
    }
    if (S > 1) {
      subsample(x1, C, bs.h, bs.w, S, a.h, a.w, xs);
      x1 = xs;
    }
    /* dw (K, C) += dz (K, hw) . x1s^T (hw, C) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C, hw, 1.0f, dzi, hw, x1, hw, 1.0f, dw, C);
    if (!dx[1]) continue;
    float *dx1 = dx[1] + (size_t)i * xsz;
    /* dx1s (C, hw) = w^T (C, K) . dz (K, hw) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, hw, K, 1.0f, w, C, dzi, hw, 0.0f, S > 1 ? dxs : dx1, hw);
    if (S == 1) continue;
    memset(dx1, 0, xsz * sizeof *dx1);
    for (int ci = 0; ci < C; ci++)
      for (int oy = 0; oy < a.h; oy++)
        for (int ox = 0; ox < a.w; ox++)
          dx1[((size_t)ci * bs.h + (size_t)oy * S) * bs.w + (size_t)ox * S] = dxs[((size_t)ci * a.h + oy) * a.w + ox];
  }
}

/* Add(x0, x1), or Add(x0, Conv 1x1 / S (x1)). */
static jc_code shortcut_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                    const char *y, jc_err *err) {
  const shortcut_cfg *c = l->cfg;
  const char *x1 = x[1];
  if (c->project) {
    const int64_t wdims[4] = {l->in_shape[0].c, l->in_shape[1].c, 1, 1}, bdims[1] = {l->in_shape[0].c};
    const char *w = onnx_const(g, "W", ONNX_FLOAT, params + l->offset, wdims, 4);
    const char *b = onnx_const(g, "B", ONNX_FLOAT, params + l->offset + l->n_kernel, bdims, 1);
    x1 = onnx_node(g, "Conv", (const char *[]){x[1], w, b}, 3, onnx_tensor(g, "projection"));
    onnx_attr_ints(g, "kernel_shape", (const int64_t[]){1, 1}, 2);
    onnx_attr_ints(g, "strides", (const int64_t[]){c->stride, c->stride}, 2);
  }
  onnx_node(g, "Add", (const char *[]){x[0], x1}, 2, y);
  return onnx_status(g, err);
}

static const char *const SHORTCUT_KEYS[] = {"from", "project", NULL};
const jc_layer_ops jc_shortcut_ops = {
    .section = "shortcut",
    .kind = "Add",
    .keys = SHORTCUT_KEYS,
    .flags = LAYER_TAKES_ACTIVATION | LAYER_FUSES_RELU,
    .n_inputs = 2,
    .init = shortcut_init,
    .forward_multi = shortcut_forward,
    .backward_multi = shortcut_backward,
    .export_onnx = shortcut_export_onnx,
};
