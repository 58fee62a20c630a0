/* conv.c - 2-D convolution: K filters of F x F over C channels, stride S, padding.
 *
 * O = floor((I + P_lo + P_hi - F) / S) + 1 per dimension. `pad = same` gives O = ceil(I/S);
 * when the total padding it needs is odd the extra row/column goes at the bottom/right
 * (as Keras and PyTorch do). Implemented per sample as im2col + sgemm.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"

typedef struct {
  int k, f, s;
  int pad_top, pad_left; /* the bottom/right padding follows from the output size */
} conv_cfg;

/* One padding choice per dimension: input I, kernel F, stride S. */
static int same_pad_total(int in, int f, int s) {
  int out = (in + s - 1) / s;
  int total = (out - 1) * s + f - in;
  return total > 0 ? total : 0;
}

static jc_code conv_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  long k, f, s;
  JC_TRY(cfg_require(sec, "filters", err));
  JC_TRY(cfg_int(sec, "filters", 0, 1, 65536, &k, err));
  JC_TRY(cfg_require(sec, "size", err));
  JC_TRY(cfg_int(sec, "size", 0, 1, 4096, &f, err));
  JC_TRY(cfg_int(sec, "stride", 1, 1, 4096, &s, err));
  const char *pad = cfg_str(sec, "pad", "valid");
  int pt, pl, ph_total, pw_total;
  if (strcmp(pad, "same") == 0) {
    ph_total = same_pad_total(l->in.h, (int)f, (int)s);
    pw_total = same_pad_total(l->in.w, (int)f, (int)s);
    pt = ph_total / 2;
    pl = pw_total / 2;
  } else if (strcmp(pad, "valid") == 0) {
    pt = pl = ph_total = pw_total = 0;
  } else {
    long p;
    JC_TRY(cfg_int(sec, "pad", 0, 0, 4096, &p, err));
    pt = pl = (int)p;
    ph_total = pw_total = 2 * (int)p;
  }
  int ho = (l->in.h + ph_total - (int)f) / (int)s + 1;
  int wo = (l->in.w + pw_total - (int)f) / (int)s + 1;
  if (l->in.h + ph_total < f || l->in.w + pw_total < f || ho < 1 || wo < 1)
    return jc_fail(err, JC_ERR_USAGE,
                   "%s:%d: [conv] kernel %ldx%ld does not fit the %dx%d input (padding %d,%d): output would be empty",
                   l->path, cfg_line(sec, "size"), f, f, l->in.h, l->in.w, ph_total, pw_total);
  conv_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  *c = (conv_cfg){(int)k, (int)f, (int)s, pt, pl};
  l->cfg = c;
  l->out = (jc_shape){(int)k, ho, wo};
  size_t cff = (size_t)l->in.c * (size_t)(f * f);
  l->n_kernel = (size_t)k * cff;
  l->n_bias = (size_t)k;
  l->kernel_ndims = 4;
  l->kernel_shape[0] = (int)k;
  l->kernel_shape[1] = l->in.c;
  l->kernel_shape[2] = l->kernel_shape[3] = (int)f;
  l->fan_in = cff;
  l->ws_fixed = cff * (size_t)ho * (size_t)wo; /* one sample's column matrix */
  l->ws_per_sample = 0;
  l->flops = 2.0 * (double)cff * (double)k * ho * wo;
  snprintf(l->label, sizeof l->label, "%ldx%ld/%ld", f, f, s);
  return JC_OK;
}

/* x (C,H,W) -> cols (C*F*F, Ho*Wo); zero outside the image. */
static void im2col(const float *x, int C, int H, int W, int F, int S, int pt, int pl, int Ho, int Wo,
                   float *cols) {
  for (int c = 0; c < C; c++)
    for (int fy = 0; fy < F; fy++)
      for (int fx = 0; fx < F; fx++) {
        float *row = cols + ((size_t)(c * F + fy) * F + fx) * (size_t)(Ho * Wo);
        for (int oy = 0; oy < Ho; oy++) {
          int iy = oy * S + fy - pt;
          float *dst = row + (size_t)oy * Wo;
          if (iy < 0 || iy >= H) {
            memset(dst, 0, (size_t)Wo * sizeof *dst);
            continue;
          }
          const float *src = x + ((size_t)c * H + iy) * W;
          for (int ox = 0; ox < Wo; ox++) {
            int ix = ox * S + fx - pl;
            dst[ox] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
          }
        }
      }
}

/* dcols (C*F*F, Ho*Wo) -> dx (C,H,W), accumulating overlapping windows. */
static void col2im(const float *cols, int C, int H, int W, int F, int S, int pt, int pl, int Ho, int Wo,
                   float *dx) {
  memset(dx, 0, (size_t)C * H * W * sizeof *dx);
  for (int c = 0; c < C; c++)
    for (int fy = 0; fy < F; fy++)
      for (int fx = 0; fx < F; fx++) {
        const float *row = cols + ((size_t)(c * F + fy) * F + fx) * (size_t)(Ho * Wo);
        for (int oy = 0; oy < Ho; oy++) {
          int iy = oy * S + fy - pt;
          if (iy < 0 || iy >= H) continue;
          float *dst = dx + ((size_t)c * H + iy) * W;
          const float *src = row + (size_t)oy * Wo;
          for (int ox = 0; ox < Wo; ox++) {
            int ix = ox * S + fx - pl;
            if (ix >= 0 && ix < W) dst[ix] += src[ox];
          }
        }
      }
}

/* x (n,C,H,W), w (K,C,F,F), b (K) -> y (n,K,Ho,Wo) */
static void conv_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                         const jc_ctx *ctx) {
  const conv_cfg *c = l->cfg;
  const float *w = params + l->offset, *b = w + l->n_kernel;
  int C = l->in.c, H = l->in.h, W = l->in.w, K = c->k, Ho = l->out.h, Wo = l->out.w;
  int cff = C * c->f * c->f, hw = Ho * Wo;
  float *cols = ctx->ws;
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * shape_size(l->in);
    float *yi = y + (size_t)i * shape_size(l->out);
    for (int k = 0; k < K; k++)
      for (int p = 0; p < hw; p++) yi[(size_t)k * hw + p] = b[k];
    if (c->f == 1 && c->s == 1 && c->pad_top == 0 && c->pad_left == 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, hw, cff, 1.0f, w, cff, xi, hw, 1.0f, yi, hw);
      continue;
    }
    im2col(xi, C, H, W, c->f, c->s, c->pad_top, c->pad_left, Ho, Wo, cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, hw, cff, 1.0f, w, cff, cols, hw, 1.0f, yi, hw);
  }
}

static void conv_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                          const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  const conv_cfg *c = l->cfg;
  const float *w = params + l->offset;
  float *dw = grads + l->offset, *db = dw + l->n_kernel;
  int C = l->in.c, H = l->in.h, W = l->in.w, K = c->k, Ho = l->out.h, Wo = l->out.w;
  int cff = C * c->f * c->f, hw = Ho * Wo;
  int direct = c->f == 1 && c->s == 1 && c->pad_top == 0 && c->pad_left == 0;
  float *cols = ctx->ws;
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * shape_size(l->in);
    const float *dyi = dy + (size_t)i * shape_size(l->out);
    for (int k = 0; k < K; k++) {
      float s = 0.0f;
      for (int p = 0; p < hw; p++) s += dyi[(size_t)k * hw + p];
      db[k] += s;
    }
    const float *xcols = xi;
    if (!direct) {
      im2col(xi, C, H, W, c->f, c->s, c->pad_top, c->pad_left, Ho, Wo, cols);
      xcols = cols;
    }
    /* dw (K, cff) += dy (K, hw) . cols^T (hw, cff) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, cff, hw, 1.0f, dyi, hw, xcols, hw, 1.0f, dw, cff);
    if (!dx) continue;
    float *dxi = dx + (size_t)i * shape_size(l->in);
    if (direct) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cff, hw, K, 1.0f, w, cff, dyi, hw, 0.0f, dxi, hw);
      continue;
    }
    /* dcols (cff, hw) = w^T (cff, K) . dy (K, hw) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cff, hw, K, 1.0f, w, cff, dyi, hw, 0.0f, cols, hw);
    col2im(cols, C, H, W, c->f, c->s, c->pad_top, c->pad_left, Ho, Wo, dxi);
  }
}

const jc_layer_ops jc_conv_ops = {"conv", "Conv2D", conv_init, conv_forward, conv_backward};
