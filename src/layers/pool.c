/* pool.c - max and average pooling over F x F windows with stride S (default F) and
 * symmetric zero padding P <= F/2. O = floor((I + 2P - F) / S) + 1, as PyTorch's default
 * (ceil_mode = False). Max pooling ignores padded cells; average pooling divides by F*F
 * including them (PyTorch's count_include_pad = True). Ties in max pooling go to the
 * first maximum in row-major order.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"
#include "simd.h"

typedef struct {
  int f, s, p;
} pool_cfg;

static jc_code pool_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  long f, s, p;
  JC_TRY(cfg_require(sec, "size", err));
  JC_TRY(cfg_int(sec, "size", 0, 1, 4096, &f, err));
  JC_TRY(cfg_int(sec, "stride", f, 1, 4096, &s, err));
  JC_TRY(cfg_int(sec, "pad", 0, 0, 4096, &p, err));
  if (2 * p > f)
    return jc_fail(err, JC_ERR_USAGE, "%s: [%s] pad = %ld must be at most half the size (%ld)",
                   cfg_where(sec, "pad").s, sec->name, p, f);
  int ho = (int)((l->in.h + 2 * p - f) / s + 1), wo = (int)((l->in.w + 2 * p - f) / s + 1);
  if (l->in.h + 2 * p < f || l->in.w + 2 * p < f || ho < 1 || wo < 1)
    return jc_fail(err, JC_ERR_USAGE, "%s: [%s] window %ldx%ld does not fit the %dx%d input",
                   cfg_where(sec, "size").s, sec->name, f, f, l->in.h, l->in.w);
  pool_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  *c = (pool_cfg){(int)f, (int)s, (int)p};
  l->cfg = c;
  l->out = (jc_shape){l->in.c, ho, wo};
  l->flops = (double)shape_size(l->out) * (double)(f * f);
  snprintf(l->label, sizeof l->label, "%ldx%ld/%ld", f, f, s);
  return JC_OK;
}

/* Index (within the channel plane) of the window maximum for output (oy, ox), or -1 when
 * the window holds only padding. */
static int window_argmax(const float *plane, int H, int W, const pool_cfg *c, int oy, int ox) {
  int best = -1;
  float bv = -FLT_MAX;
  for (int fy = 0; fy < c->f; fy++) {
    int iy = oy * c->s + fy - c->p;
    if (iy < 0 || iy >= H) continue;
    for (int fx = 0; fx < c->f; fx++) {
      int ix = ox * c->s + fx - c->p;
      if (ix < 0 || ix >= W) continue;
      float v = plane[iy * W + ix];
      if (best < 0 || v > bv || v != v) {
        best = iy * W + ix;
        bv = v;
        if (v != v) return best; /* NaN propagates, as in PyTorch */
      }
    }
  }
  return best;
}

/* The common 2x2 window, stride 2, no padding, with window_argmax's rules (first maximum in
 * row-major order wins, the first NaN propagates) written as selects, not branches: on
 * real data the branches are unpredictable. v takes over from the best so far bv when
 * v > bv, or when v is NaN and bv is not. */

/* 16 windows at a time (simd.h; the compiler does not vectorise the scalar select chain):
 * comparisons give lane masks of all ones / all zeros. */

/* One select-chain step: where v takes over from m (the rule above), m = v and a = cand. */
static inline void pool_step(vf v, vi cand, vf *m, vi *a) {
  vi t = (v > *m) | ((v != v) & (*m == *m));
  *a = (*a & ~t) | (cand & t);
  *m = (vf)(((vi)*m & ~t) | ((vi)v & t));
}

/* One output row: arg[ox] = index of the maximum of rows r0, r0 + W at columns 2ox, 2ox+1,
 * relative to r0 (2ox, 2ox+1, W+2ox or W+2ox+1); y[ox] = its value when y is not NULL. */
/* 16 windows from column 2*ox0: a0 a1 = 32 floats of the upper row, b0 b1 of the lower. */
static inline void maxpool_16(vf a0, vf a1, vf b0, vf b1, int ox0, int W, vf *m,
                              vi *a) {
  const vi even = {VLANES_EVEN};
  vi base = even + 2 * ox0;
  *m = VSHUFFLE(a0, a1, VLANES_EVEN);
  *a = base;
  pool_step(VSHUFFLE(a0, a1, VLANES_ODD), base + 1, m, a);
  pool_step(VSHUFFLE(b0, b1, VLANES_EVEN), base + W, m, a);
  pool_step(VSHUFFLE(b0, b1, VLANES_ODD), base + W + 1, m, a);
}

/* One output row from rows r0, r0 + W; `end` is the end of the readable input: a short last
 * group of windows is loaded in place when 32 floats past it are still readable (the
 * extra lanes are computed and dropped), else through a zero-padded copy. */
static void maxpool_row_2x2(const float *r0, int W, int Wo, float *y, int *arg, const float *end) {
  const float *r1 = r0 + W;
  vf m;
  vi a;
  int ox = 0;
  for (; ox + 16 <= Wo; ox += 16) {
    maxpool_16(vload(r0 + 2 * ox), vload(r0 + 2 * ox + 16), vload(r1 + 2 * ox),
               vload(r1 + 2 * ox + 16), ox, W, &m, &a);
    memcpy(arg + ox, &a, sizeof a);
    if (y) memcpy(y + ox, &m, sizeof m);
  }
  if (ox < Wo) {
    int n = Wo - ox;
    if (end - (r1 + 2 * ox) >= 32) {
      maxpool_16(vload(r0 + 2 * ox), vload(r0 + 2 * ox + 16), vload(r1 + 2 * ox),
                 vload(r1 + 2 * ox + 16), ox, W, &m, &a);
    } else {
      float t0[32] = {0}, t1[32] = {0};
      memcpy(t0, r0 + 2 * ox, (size_t)(2 * n) * sizeof *t0);
      memcpy(t1, r1 + 2 * ox, (size_t)(2 * n) * sizeof *t1);
      maxpool_16(vload(t0), vload(t0 + 16), vload(t1), vload(t1 + 16), ox, W, &m, &a);
    }
    memcpy(arg + ox, &a, (size_t)n * sizeof *arg);
    if (y) memcpy(y + ox, &m, (size_t)n * sizeof *y);
  }
}

static int is_2x2(const pool_cfg *c) { return c->f == 2 && c->s == 2 && c->p == 0; }

/* Backward of one output row: input rows d0, d0 + W of dx get dy (row dyr) at each
 * window's maximum (as maxpool_row_2x2 finds it in rows r0, r0 + W of x) and +0 elsewhere,
 * written as whole vectors: no memset, no scatter. With relu_in only maxima > 0 get dy. The last group's stores may run past
 * the 2*Wo columns (up to 32 floats) with zeros, which the stores, rows and planes written
 * after them overwrite (the caller zeroes an odd last row after the pairs); they are made
 * exact when they would pass dx_end. Loads stay before x_end and dy_end the same way. */
static void maxpool_back_row_2x2(const float *r0, int W, int Wo, const float *dyr, float *d0, const float *x_end,
                                 const float *dy_end, const float *dx_end, int relu_in) {
  const float *r1 = r0 + W;
  float *d1 = d0 + W;
  const vi lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, even = {VLANES_EVEN};
  /* last group first: its upper-row spill reaches into the lower row, which the groups
   * before it then write */
  for (int ox = (Wo - 1) / 16 * 16; ox >= 0; ox -= 16) {
    const int n = Wo - ox < 16 ? Wo - ox : 16;
    vf m, g;
    vi a;
    if (n == 16 || x_end - (r1 + 2 * ox) >= 32) {
      maxpool_16(vload(r0 + 2 * ox), vload(r0 + 2 * ox + 16), vload(r1 + 2 * ox),
                 vload(r1 + 2 * ox + 16), ox, W, &m, &a);
    } else {
      float t0[32] = {0}, t1[32] = {0};
      memcpy(t0, r0 + 2 * ox, (size_t)(2 * n) * sizeof *t0);
      memcpy(t1, r1 + 2 * ox, (size_t)(2 * n) * sizeof *t1);
      maxpool_16(vload(t0), vload(t0 + 16), vload(t1), vload(t1 + 16), ox, W, &m, &a);
    }
    if (dy_end - (dyr + ox) >= 16) {
      g = vload(dyr + ox);
    } else {
      float t[16] = {0};
      memcpy(t, dyr + ox, (size_t)n * sizeof *t);
      g = vload(t);
    }
    vi gi = (vi)g & (lane < n);
    if (relu_in) gi &= m > (vf){0}; /* the ReLU before: no gradient where its output is <= 0 */
    const vi base = even + 2 * ox;
    const vf e0 = (vf)(gi & (a == base)), o0 = (vf)(gi & (a == base + 1));
    const vf e1 = (vf)(gi & (a == base + W)), o1 = (vf)(gi & (a == base + W + 1));
    const vf up[2] = {VSHUFFLE(e0, o0, VLANES_ZIP_LO), VSHUFFLE(e0, o0, VLANES_ZIP_HI)}, lo[2] = {VSHUFFLE(e1, o1, VLANES_ZIP_LO), VSHUFFLE(e1, o1, VLANES_ZIP_HI)};
    if (dx_end - (d1 + 2 * ox) >= 32) {
      memcpy(d0 + 2 * ox, up, sizeof up);
      memcpy(d1 + 2 * ox, lo, sizeof lo);
    } else {
      memcpy(d0 + 2 * ox, up, (size_t)(2 * n) * sizeof *d0);
      memcpy(d1 + 2 * ox, lo, (size_t)(2 * n) * sizeof *d1);
    }
  }
  if (W > 2 * Wo) d0[W - 1] = d1[W - 1] = 0.0f; /* odd width: the last column is in no window */
}

/* x (n,C,H,W) -> y (n,C,Ho,Wo) */
static void maxpool_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                            const jc_ctx *ctx) {
  const pool_cfg *c = l->cfg;
  int H = l->in.h, W = l->in.w, Ho = l->out.h, Wo = l->out.w;
  int planes = n * l->in.c;
  for (int q = 0; q < planes; q++) {
    const float *xp = x + (size_t)q * H * W;
    float *yp = y + (size_t)q * Ho * Wo;
    if (is_2x2(c)) {
      int arg[Wo]; /* Wo < W: a few KiB of stack for any image that fits a net */
      for (int oy = 0; oy < Ho; oy++)
        maxpool_row_2x2(xp + (size_t)2 * oy * W, W, Wo, yp + (size_t)oy * Wo, arg, x + (size_t)planes * H * W);
      continue;
    }
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        int a = window_argmax(xp, H, W, c, oy, ox);
        yp[oy * Wo + ox] = a >= 0 ? xp[a] : 0.0f;
      }
  }
}

static void maxpool_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                             const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  if (!dx) return;
  const pool_cfg *c = l->cfg;
  int H = l->in.h, W = l->in.w, Ho = l->out.h, Wo = l->out.w;
  int planes = n * l->in.c;
  for (int q = 0; q < planes; q++) {
    const float *xp = x + (size_t)q * H * W;
    const float *dyp = dy + (size_t)q * Ho * Wo;
    float *dxp = dx + (size_t)q * H * W;
    if (is_2x2(c)) {
      const float *x_end = x + (size_t)planes * H * W, *dy_end = dy + (size_t)planes * Ho * Wo;
      const float *dx_end = dx + (size_t)planes * H * W;
      for (int oy = 0; oy < Ho; oy++)
        maxpool_back_row_2x2(xp + (size_t)2 * oy * W, W, Wo, dyp + (size_t)oy * Wo, dxp + (size_t)2 * oy * W, x_end,
                             dy_end, dx_end, l->relu_in);
      if (H > 2 * Ho) memset(dxp + (size_t)(H - 1) * W, 0, (size_t)W * sizeof *dxp); /* odd height */
      continue;
    }
    memset(dxp, 0, (size_t)H * W * sizeof *dxp);
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        int a = window_argmax(xp, H, W, c, oy, ox);
        if (a >= 0 && (!l->relu_in || xp[a] > 0.0f)) dxp[a] += dyp[oy * Wo + ox];
      }
  }
}

/* x (n,C,H,W) -> y (n,C,Ho,Wo), mean over the F*F window (padding counts as zeros) */
static void avgpool_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                            const jc_ctx *ctx) {
  const pool_cfg *c = l->cfg;
  int H = l->in.h, W = l->in.w, Ho = l->out.h, Wo = l->out.w;
  float inv = 1.0f / (float)(c->f * c->f);
  int planes = n * l->in.c;
  for (int q = 0; q < planes; q++) {
    const float *xp = x + (size_t)q * H * W;
    float *yp = y + (size_t)q * Ho * Wo;
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float s = 0.0f;
        for (int fy = 0; fy < c->f; fy++) {
          int iy = oy * c->s + fy - c->p;
          if (iy < 0 || iy >= H) continue;
          for (int fx = 0; fx < c->f; fx++) {
            int ix = ox * c->s + fx - c->p;
            if (ix >= 0 && ix < W) s += xp[iy * W + ix];
          }
        }
        yp[oy * Wo + ox] = s * inv;
      }
  }
}

static void avgpool_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                             const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  if (!dx) return;
  const pool_cfg *c = l->cfg;
  int H = l->in.h, W = l->in.w, Ho = l->out.h, Wo = l->out.w;
  float inv = 1.0f / (float)(c->f * c->f);
  int planes = n * l->in.c;
  memset(dx, 0, (size_t)planes * H * W * sizeof *dx);
  for (int q = 0; q < planes; q++) {
    const float *dyp = dy + (size_t)q * Ho * Wo;
    float *dxp = dx + (size_t)q * H * W;
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float g = dyp[oy * Wo + ox] * inv;
        for (int fy = 0; fy < c->f; fy++) {
          int iy = oy * c->s + fy - c->p;
          if (iy < 0 || iy >= H) continue;
          for (int fx = 0; fx < c->f; fx++) {
            int ix = ox * c->s + fx - c->p;
            if (ix >= 0 && ix < W) dxp[iy * W + ix] += g;
          }
        }
      }
  }
}

/* ONNX MaxPool / AveragePool with the window, stride and symmetric padding (floor mode).
 * MaxPool ignores padded cells as maxpool_forward does; for the average, padded cells count
 * as zeros in the F*F divisor (count_include_pad = 1). */
static void pool_export(const jc_layer *l, jc_onnx_graph *g, const char *op, const char *x, const char *y) {
  const pool_cfg *c = l->cfg;
  onnx_node(g, op, (const char *[]){x}, 1, y);
  onnx_attr_ints(g, "kernel_shape", (const int64_t[]){c->f, c->f}, 2);
  onnx_attr_ints(g, "strides", (const int64_t[]){c->s, c->s}, 2);
  onnx_attr_ints(g, "pads", (const int64_t[]){c->p, c->p, c->p, c->p}, 4);
}

static jc_code maxpool_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                   const char *y, jc_err *err) {
  pool_export(l, g, "MaxPool", x[0], y);
  return onnx_status(g, err);
}

static jc_code avgpool_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                   const char *y, jc_err *err) {
  pool_export(l, g, "AveragePool", x[0], y);
  onnx_attr_int(g, "count_include_pad", 1);
  return onnx_status(g, err);
}

static const char *const POOL_KEYS[] = {"size", "stride", "pad", NULL};
const jc_layer_ops jc_maxpool_ops = {
    .section = "maxpool",
    .kind = "MaxPooling2D",
    .keys = POOL_KEYS,
    .flags = LAYER_MASKS_RELU,
    .init = pool_init,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .export_onnx = maxpool_export_onnx,
};
const jc_layer_ops jc_avgpool_ops = {
    .section = "avgpool",
    .kind = "AveragePooling2D",
    .keys = POOL_KEYS,
    .init = pool_init,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .export_onnx = avgpool_export_onnx,
};
