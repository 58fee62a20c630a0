/* conv.c - 2-D convolution: K filters of F x F over C channels, stride S, padding.
 *
 * O = floor((I + P_lo + P_hi - F) / S) + 1 per dimension. `pad = same` gives O = ceil(I/S);
 * when the total padding it needs is odd the extra row/column goes at the bottom/right
 * (as Keras and PyTorch do).
 *
 * Three implementations, chosen once at init for forward, dW and dX separately (conv_init):
 *  - stride 1 and padding < F on every side: direct correlation on a zero-padded "grid"
 *    (see corr_geom), vectorised over output pixels with register tiles of filters x pixels;
 *    backward computes dW with the same tiling and dX as a correlation of the padded dy with
 *    the flipped, transposed kernel. No GEMM, no im2col.
 *  - 3x3, stride 1, >= 16 channels in and out: Winograd F(2x2, 3x3) for forward, dX and dW
 *    (conv_winograd.c), on channel-minor copies of the images.
 *  - otherwise, per sample im2col + sgemm.
 * The lecture model's 32/64-filter layers mix them; DeepTop's 8-filter layers are direct.
 * Both are plain loops in a fixed order: the same bits whichever thread runs a micro-batch.
 */
#include <cblas.h>
#ifdef __AVX512F__
#include <immintrin.h> /* the masked gather of im2col */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv_winograd.h"
#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"

#include "simd.h"
/* This file and conv_winograd.c are compiled with -ffp-contract=fast (CMakeLists.txt): the
 * compiler may fuse a*b+c into FMA in the vector kernels (never -ffast-math: contraction is
 * decided at compile time, so results stay the same run after run). */

/* A correlation computed on a zero-padded grid: the image sits at (top, left) of a grid
 * wg columns wide, and output (oy, ox) is the dot product of the kernel with the grid at
 * (oy, ox). Computing the output for all wg columns of every output row (columns >= Wo are
 * discarded) makes output q = oy*wg + ox read the grid at q + fy*wg + fx: one flat index
 * per tap, so any run of outputs is a run of contiguous grid values. */
typedef struct {
  int hg, wg;        /* grid rows and columns */
  int top, left;     /* image position in the grid */
  int ho;            /* output rows (output columns: wg - F + 1, of which Wo are kept) */
  size_t nq;         /* outputs computed per channel: ho * wg rounded up to whole vectors */
  size_t plane;      /* floats per grid plane: every tap of every computed output is inside */
} corr_geom;

typedef struct {
  int k, f, s;
  int pad_top, pad_left; /* the bottom/right padding follows from the output size */
  int corr;              /* 1: stride 1, padding < F: the direct correlation can be used */
  int fwd_direct, dw_direct, dx_direct; /* which parts use it (the rest im2col + sgemm) */
  corr_geom g, gt;
  int wino;              /* 1: 3x3 with many channels: Winograd F(2x2, 3x3) for all three parts */
  wino_geom wf, wd, wx;  /* its tiles: of the output (forward; dW), of dx */
  int32_t *taps;         /* im2col (from the image) and col2im: tap t = fy F + fx of output
                          * q = oy Wo + ox reads pixel taps[t Ho Wo + q] of its channel plane (-1:
                          * padding); in this block */
  float zero_bias[];     /* K zeros: the bias of a layer without one (no_bias, batch_normalize = 1) */
} conv_cfg;

static inline float vsum(vf v) {
  float s = 0.0f;
  for (int j = 0; j < VL; j++) s += v[j];
  return s;
}

/* The scratch from 64 bytes on: whole-vector loads of dy grids stay inside one cache line
 * (conv_init asks for VL floats more). */
static inline float *align_vec(float *p) {
  uintptr_t a = (uintptr_t)p, m = VL * sizeof(float) - 1;
  return (float *)((a + m) & ~m);
}

/* sum of x[0..n): per-lane partial sums in a fixed order, then the lanes (vectorised, and
 * the same bits on every thread). */
static float sum_floats(const float *x, int n) {
  vf acc = {0};
  int i = 0;
  for (; i + VL <= n; i += VL) acc += vload(x + i);
  float s = vsum(acc);
  for (; i < n; i++) s += x[i];
  return s;
}

static corr_geom corr_geom_make(int hg, int wg, int top, int left, int f) {
  corr_geom g = {hg, wg, top, left, hg - f + 1, 0, 0};
  g.nq = ((size_t)g.ho * (size_t)wg + VL - 1) / VL * VL;
  size_t need = g.nq + (size_t)(f - 1) * (size_t)wg + (size_t)(f - 1), grid = (size_t)hg * (size_t)wg;
  g.plane = ((need > grid ? need : grid) + VL - 1) / VL * VL;
  return g;
}

/* Copy img (C, h, w) into the interior of C grid planes (borders untouched: zeroed once). */
static void to_grid(const float *img, int C, int h, int w, const corr_geom *g, float *grid) {
  for (int c = 0; c < C; c++)
    for (int y = 0; y < h; y++)
      memcpy(grid + (size_t)c * g->plane + (size_t)(y + g->top) * g->wg + g->left, img + ((size_t)c * h + y) * w,
             (size_t)w * sizeof *grid);
}

/* One register tile of the correlation: KB filters x NB vectors of outputs from q0.
 * grid (C, plane), w (KB rows of cff = C*F*F, row stride cff) -> out (KB, nq) */
static inline __attribute__((always_inline)) void corr_tile(const float *grid, const corr_geom *g, int C, int F,
                                                            const float *w, int cff, float *out, size_t q0,
                                                            const int KB, const int NB) {
  vf acc[8][3];
  for (int k = 0; k < KB; k++)
    for (int b = 0; b < NB; b++) acc[k][b] = (vf){0};
  for (int c = 0; c < C; c++)
    for (int fy = 0; fy < F; fy++) {
      const float *xr = grid + (size_t)c * g->plane + (size_t)fy * g->wg + q0;
      const float *wr = w + (size_t)(c * F + fy) * F;
      for (int fx = 0; fx < F; fx++) {
        vf xv[3];
        for (int b = 0; b < NB; b++) xv[b] = vload(xr + fx + b * VL);
        for (int k = 0; k < KB; k++) {
          vf wv = vsplat(wr[(size_t)k * cff + fx]);
          for (int b = 0; b < NB; b++) acc[k][b] += wv * xv[b];
        }
      }
    }
  for (int k = 0; k < KB; k++)
    for (int b = 0; b < NB; b++) memcpy(out + (size_t)k * g->nq + q0 + (size_t)b * VL, &acc[k][b], sizeof(vf));
}

/* KB filters over all outputs: tiles of 3 vectors, then the 1-2 left. */
static inline __attribute__((always_inline)) void corr_rows(const float *grid, const corr_geom *g, int C, int F,
                                                            const float *w, int cff, float *out, const int KB) {
  size_t q = 0;
  for (; q + 3 * VL <= g->nq; q += 3 * VL) corr_tile(grid, g, C, F, w, cff, out, q, KB, 3);
  if (q + 2 * VL <= g->nq) corr_tile(grid, g, C, F, w, cff, out, q, KB, 2);
  else if (q + VL <= g->nq) corr_tile(grid, g, C, F, w, cff, out, q, KB, 1);
}

/* out (K, nq) = correlation of grid (C planes) with w (K, C, F, F) */
static void corr_forward(const float *grid, const corr_geom *g, int C, int K, int F, const float *w, float *out) {
  const int cff = C * F * F;
  int k = 0;
  for (; k + 8 <= K; k += 8) corr_rows(grid, g, C, F, w + (size_t)k * cff, cff, out + (size_t)k * g->nq, 8);
  for (; k + 4 <= K; k += 4) corr_rows(grid, g, C, F, w + (size_t)k * cff, cff, out + (size_t)k * g->nq, 4);
  for (; k < K; k++) corr_rows(grid, g, C, F, w + (size_t)k * cff, cff, out + (size_t)k * g->nq, 1);
}

/* dW tile: KB filters x FB taps fx0.. of row fy of channel c, summed over all outputs into
 * per-lane partial sums dwv (K, cff, VL) (reduced once per micro-batch by corr_dw_finish).
 * dyg (K, nq) is dy on the grid with zeros in the discarded columns and the tail. */
static inline __attribute__((always_inline)) void corr_dw_tile(const float *grid, const corr_geom *g, int F,
                                                               const float *dyg, int c, int fy, int fx0, float *dwv,
                                                               int cff, const int KB, const int FB) {
  vf acc[8][4];
  const size_t tap0 = (size_t)(c * F + fy) * F + fx0;
  for (int k = 0; k < KB; k++)
    for (int j = 0; j < FB; j++) acc[k][j] = vload(dwv + ((size_t)k * cff + tap0 + j) * VL);
  const float *xr = grid + (size_t)c * g->plane + (size_t)fy * g->wg + fx0;
  for (size_t q = 0; q < g->nq; q += VL) {
    vf xv[4];
    for (int j = 0; j < FB; j++) xv[j] = vload(xr + q + j);
    for (int k = 0; k < KB; k++) {
      vf d = vload(dyg + (size_t)k * g->nq + q);
      for (int j = 0; j < FB; j++) acc[k][j] += d * xv[j];
    }
  }
  for (int k = 0; k < KB; k++)
    for (int j = 0; j < FB; j++) memcpy(dwv + ((size_t)k * cff + tap0 + j) * VL, &acc[k][j], sizeof(vf));
}

/* KB filters: every channel, kernel row and tap, in chunks of FB taps. */
static inline __attribute__((always_inline)) void corr_dw_rows(const float *grid, const corr_geom *g, int C, int F,
                                                               const float *dyg, float *dwv, int cff, const int KB,
                                                               const int FB) {
  for (int c = 0; c < C; c++)
    for (int fy = 0; fy < F; fy++) {
      int fx = 0;
      for (; fx + FB <= F; fx += FB) corr_dw_tile(grid, g, F, dyg, c, fy, fx, dwv, cff, KB, FB);
      for (; fx < F; fx++) corr_dw_tile(grid, g, F, dyg, c, fy, fx, dwv, cff, KB, 1);
    }
}

/* dwv (K, cff, VL) += per-lane sums over outputs of dyg (K, nq) times the grid (C planes) */
static void corr_dw(const float *grid, const corr_geom *g, int C, int K, int F, const float *dyg, float *dwv) {
  const int cff = C * F * F;
  const size_t kv = (size_t)cff * VL;
  int k = 0;
  if (F >= 4) {
    for (; k + 4 <= K; k += 4) corr_dw_rows(grid, g, C, F, dyg + (size_t)k * g->nq, dwv + (size_t)k * kv, cff, 4, 4);
  } else {
    for (; k + 8 <= K; k += 8) corr_dw_rows(grid, g, C, F, dyg + (size_t)k * g->nq, dwv + (size_t)k * kv, cff, 8, 3);
  }
  for (; k < K; k++) corr_dw_rows(grid, g, C, F, dyg + (size_t)k * g->nq, dwv + (size_t)k * kv, cff, 1, 1);
}

/* im2col for stride 1 from the zero-padded grid: row (c,fy,fx) of cols (C*F*F, Ho*Wo) is
 * Ho runs of Wo floats of grid plane c from (fy, fx), one run per grid row. Each run is
 * copied as whole vectors, in increasing address order, so the spill past its end is
 * overwritten by the next run: no per-run tail loop or bounds (a 4x4 output has runs of 4
 * floats). cols needs VL floats of slack at its end, the grid VL after its last plane. */
static void im2col_grid(const float *grid, const corr_geom *g, int C, int F, int Ho, int Wo, float *cols) {
  const int nv = (Wo + VL - 1) / VL;
  float *dst = cols;
  for (int c = 0; c < C; c++)
    for (int fy = 0; fy < F; fy++)
      for (int fx = 0; fx < F; fx++) {
        const float *src = grid + (size_t)c * g->plane + (size_t)fy * g->wg + fx;
        for (int oy = 0; oy < Ho; oy++, dst += Wo, src += g->wg)
          for (int v = 0; v < nv; v++) {
            vf t = vload(src + v * VL);
            memcpy(dst + v * VL, &t, sizeof t);
          }
      }
}

/* dz[i] = y[i] > 0 ? dy[i] : +0 for i < n: the ReLU's backward, from its output (lane masks;
 * the ternary compiles to masked loads). */
static void relu_mask(const float *y, const float *dy, size_t n, float *dz) {
  typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));
  size_t i = 0;
  for (; i + VL <= n; i += VL) {
    vf d = (vf)((vi)vload(dy + i) & (vload(y + i) > vsplat(0.0f)));
    memcpy(dz + i, &d, sizeof d);
  }
  for (; i < n; i++) {
    float d = dy[i];
    dz[i] = y[i] > 0.0f ? d : 0.0f;
  }
}

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
                   "%s: [conv] kernel %ldx%ld does not fit the %dx%d input (padding %d,%d): output would be empty",
                   cfg_where(sec, "size").s, f, f, l->in.h, l->in.w, ph_total, pw_total);
  const int pb = ph_total - pt, pr = pw_total - pl;
  const int corr = s == 1 && pt < f && pl < f && pb < f && pr < f; /* see below */
  const size_t n_taps = (size_t)f * (size_t)f * (size_t)ho * (size_t)wo; /* im2col and col2im */
  conv_cfg *c = calloc(1, sizeof *c + (size_t)k * sizeof(float) + n_taps * sizeof(int32_t));
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  c->k = (int)k;
  c->f = (int)f;
  c->s = (int)s;
  c->pad_top = pt;
  c->pad_left = pl;
  c->taps = (int32_t *)(c->zero_bias + k);
  for (int fy = 0; fy < f; fy++)
    for (int fx = 0; fx < f; fx++)
      for (int oy = 0; oy < ho; oy++)
        for (int ox = 0; ox < wo; ox++) {
          const int iy = oy * (int)s + fy - pt, ix = ox * (int)s + fx - pl;
          c->taps[(((size_t)fy * f + fx) * ho + oy) * wo + ox] =
              iy >= 0 && iy < l->in.h && ix >= 0 && ix < l->in.w ? iy * l->in.w + ix : -1;
        }
  l->cfg = c;
  /* Where the direct correlation beats im2col + sgemm (measured, docs/performance.md): with
   * few filters everywhere (a GEMM with M = K <= 16 is mostly empty tiles); with many
   * filters only for dX, and forward with >= 64 taps, on images of >= 100 output pixels
   * (dW and tiny images stay with sgemm). */
  c->corr = corr;
  const int few = k <= 16, big = (long)ho * wo >= 100, deep = l->in.c * f * f >= 64;
  c->fwd_direct = c->corr && (few || (big && deep));
  c->dw_direct = c->corr && few;
  c->dx_direct = c->corr && (few || big);
  /* Winograd for 3x3 with >= 16 channels in and out (the lecture model's 32 -> 64 and 64 -> 64
   * convs); with 3 input channels (its first conv) the transforms cost more than they save */
  c->wino = c->corr && f == 3 && l->in.c >= 16 && k >= 16;
  size_t cols = (size_t)l->in.c * (size_t)(f * f) * (size_t)ho * (size_t)wo; /* one sample's column matrix */
  /* + VL: room to align (align_vec); cols + VL of slack (im2col_grid); one sample's dy
   * masked by the fused ReLU (relu_out) */
  l->ws_fixed = VL + cols + VL + (size_t)k * (size_t)ho * (size_t)wo;
  if (c->corr) {
    int F = (int)f, C = l->in.c, K = (int)k;
    size_t cff = (size_t)C * (size_t)(F * F);
    c->g = corr_geom_make(l->in.h + ph_total, l->in.w + pw_total, pt, pl, F);
    /* dX: dy sits at (F-1-pt, F-1-pl) of an (H+F-1) x (W+F-1) grid; correlating with the
     * flipped kernel gives dx (H, W). */
    c->gt = corr_geom_make(l->in.h + F - 1, l->in.w + F - 1, F - 1 - pt, F - 1 - pl, F);
    /* grid (+ VL slack), dyg, dgrid, dxg, wt, dwv, then cols (see conv_backward) */
    l->ws_fixed += (size_t)C * c->g.plane + VL + (size_t)K * c->g.nq + (size_t)K * c->gt.plane +
                   (size_t)C * c->gt.nq + (size_t)K * cff * (1 + VL);
  }
  if (c->wino) {
    int C = l->in.c, K = (int)k;
    c->wf = wino_geom_make(ho, wo, pt, pl, wino_tile_size(ho, wo));
    c->wd = wino_geom_make(ho, wo, pt, pl, wino_tile_size(ho, wo)); /* dW: F(3x3, m x m) over dy's tiles */
    /* dX: dy at (2 - pt, 2 - pl) of the grid, as for the direct dX */
    c->wx = wino_geom_make(l->in.h, l->in.w, 2 - pt, 2 - pl, wino_tile_size(l->in.h, l->in.w));
    size_t need = wino_conv_floats(&c->wf, C, K), nx = wino_conv_floats(&c->wx, K, C), nw = wino_dw_floats(&c->wd, C, K);
    if (nx > need) need = nx;
    if (nw > need) need = nw;
    need += VL + 25 * wino_upos(C, K); /* align_vec, then U (16 or 25 positions) or the dW products */
    if (need > l->ws_fixed) l->ws_fixed = need;
  }
  l->out = (jc_shape){(int)k, ho, wo};
  size_t cff = (size_t)l->in.c * (size_t)(f * f);
  l->n_kernel = (size_t)k * cff;
  l->n_bias = l->no_bias ? 0 : (size_t)k;
  l->kernel_ndims = 4;
  l->kernel_shape[0] = (int)k;
  l->kernel_shape[1] = l->in.c;
  l->kernel_shape[2] = l->kernel_shape[3] = (int)f;
  l->fan_in = cff;
  l->ws_per_sample = 0;
  l->flops = 2.0 * (double)cff * (double)k * ho * wo;
  snprintf(l->label, sizeof l->label, "%ldx%ld/%ld", f, f, s);
  return JC_OK;
}

/* row[q] = plane[idx[q]], or 0 where idx[q] < 0 (a copy: the same bits either way). With
 * AVX-512, 16 at a time by a masked gather (compilers do not vectorise the select themselves). */
static void gather_row(const float *plane, const int32_t *idx, float *row, int hw) {
  int q = 0;
#ifdef __AVX512F__
  for (; q + 16 <= hw; q += 16) {
    const __m512i i = _mm512_loadu_si512((const void *)(idx + q));
    const __mmask16 m = _mm512_cmpge_epi32_mask(i, _mm512_setzero_si512());
    _mm512_storeu_ps(row + q, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i, plane, 4));
  }
#endif
  for (; q < hw; q++) row[q] = idx[q] >= 0 ? plane[idx[q]] : 0.0f;
}

/* x (C,H,W) -> cols (C*F*F, Ho*Wo); zero outside the image. Through the tap table: gathered
 * loads, no bounds arithmetic per row. */
static void im2col(const float *x, int C, int HW, const int32_t *taps, int FF, int hw, float *cols) {
  for (int c = 0; c < C; c++)
    for (int t = 0; t < FF; t++)
      gather_row(x + (size_t)c * HW, taps + (size_t)t * hw, cols + ((size_t)c * FF + t) * hw, hw);
}

/* dcols (C*F*F, Ho*Wo) -> dx (C,H,W), accumulating overlapping windows (taps in order, so the
 * additions to a pixel come in the same order as a loop over fy, fx, oy, ox). */
static void col2im(const float *cols, int C, int HW, const int32_t *taps, int FF, int hw, float *dx) {
  memset(dx, 0, (size_t)C * HW * sizeof *dx);
  for (int c = 0; c < C; c++) {
    float *plane = dx + (size_t)c * HW;
    for (int t = 0; t < FF; t++) {
      const int32_t *idx = taps + (size_t)t * hw;
      const float *row = cols + ((size_t)c * FF + t) * hw;
      int q = 0;
#ifdef __AVX512F__
      /* one tap's outputs read distinct pixels: gather, add, scatter 16 at a time */
      for (; q + 16 <= hw; q += 16) {
        const __m512i i = _mm512_loadu_si512((const void *)(idx + q));
        const __mmask16 m = _mm512_cmpge_epi32_mask(i, _mm512_setzero_si512());
        const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, i, plane, 4);
        _mm512_mask_i32scatter_ps(plane, m, i, _mm512_add_ps(v, _mm512_loadu_ps(row + q)), 4);
      }
#endif
      for (; q < hw; q++)
        if (idx[q] >= 0) plane[idx[q]] += row[q];
    }
  }
}

/* Direct path. x (n,C,H,W), w (K,C,F,F), b (K) -> y (n,K,Ho,Wo) */
static void conv_forward_direct(const jc_layer *l, const float *w, const float *b, const float *x, float *y, int n,
                                float *ws) {
  const conv_cfg *c = l->cfg;
  const corr_geom *g = &c->g;
  int C = l->in.c, K = c->k, Ho = l->out.h, Wo = l->out.w;
  float *grid = ws, *out = grid + (size_t)C * g->plane;
  memset(grid, 0, (size_t)C * g->plane * sizeof *grid);
  for (int i = 0; i < n; i++) {
    to_grid(x + (size_t)i * shape_size(l->in), C, l->in.h, l->in.w, g, grid);
    corr_forward(grid, g, C, K, c->f, w, out);
    float *yi = y + (size_t)i * shape_size(l->out);
    for (int k = 0; k < K; k++)
      for (int oy = 0; oy < Ho; oy++) {
        const float *src = out + (size_t)k * g->nq + (size_t)oy * g->wg;
        float *dst = yi + ((size_t)k * Ho + oy) * Wo;
        if (l->relu_out)
          for (int ox = 0; ox < Wo; ox++) {
            float v = src[ox] + b[k];
            dst[ox] = v > 0.0f ? v : 0.0f;
          }
        else
          for (int ox = 0; ox < Wo; ox++) dst[ox] = src[ox] + b[k];
      }
  }
}

/* x (n,C,H,W), w (K,C,F,F), b (K) -> y (n,K,Ho,Wo) */
static void conv_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                         const jc_ctx *ctx) {
  const conv_cfg *c = l->cfg;
  const float *w = params + l->offset, *b = layer_bias(l, params) ? layer_bias(l, params) : c->zero_bias;
  int C = l->in.c, H = l->in.h, W = l->in.w, K = c->k, Ho = l->out.h, Wo = l->out.w;
  int cff = C * c->f * c->f, hw = Ho * Wo;
  if (c->wino) {
    float *U = align_vec(ctx->ws);
    wino_kernel(w, K, C, 0, c->wf.m, U);
    wino_conv(&c->wf, C, K, U, x, NULL, n, H, W, y, Ho, Wo, b, l->relu_out, U + 25 * wino_upos(C, K));
    return;
  }
  if (c->fwd_direct) {
    conv_forward_direct(l, w, b, x, y, n, align_vec(ctx->ws));
    return;
  }
  /* stride 1: im2col from the zero-padded grid; else from the image with bounds */
  float *grid = align_vec(ctx->ws), *cols = c->corr ? grid + (size_t)C * c->g.plane + VL : grid;
  if (c->corr) memset(grid, 0, (size_t)C * c->g.plane * sizeof *grid);
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * shape_size(l->in);
    float *yi = y + (size_t)i * shape_size(l->out);
    for (int k = 0; k < K; k++)
      for (int p = 0; p < hw; p++) yi[(size_t)k * hw + p] = b[k];
    if (c->f == 1 && c->s == 1 && c->pad_top == 0 && c->pad_left == 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, hw, cff, 1.0f, w, cff, xi, hw, 1.0f, yi, hw);
      if (l->relu_out)
        for (size_t j = 0; j < (size_t)K * hw; j++) yi[j] = yi[j] > 0.0f ? yi[j] : 0.0f;
      continue;
    }
    if (c->corr) {
      to_grid(xi, C, H, W, &c->g, grid);
      im2col_grid(grid, &c->g, C, c->f, Ho, Wo, cols);
    } else {
      im2col(xi, C, H * W, c->taps, c->f * c->f, hw, cols);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, hw, cff, 1.0f, w, cff, cols, hw, 1.0f, yi, hw);
    if (l->relu_out)
      for (size_t j = 0; j < (size_t)K * hw; j++) yi[j] = yi[j] > 0.0f ? yi[j] : 0.0f;
  }
}

/* Backward: db += sum dy; dw += dy (x) x per sample (direct: per-lane sums dwv over the
 * micro-batch, reduced at the end; else sgemm on im2col); dx = dy (*) flipped w (direct:
 * correlation of the padded dy; else sgemm + col2im). With relu_out each sample's dy is
 * first masked by y > 0 (into dym). */
static void conv_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                          const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  const conv_cfg *c = l->cfg;
  const float *w = params + l->offset;
  float *dw = grads + l->offset, *db = l->n_bias ? dw + l->n_kernel : NULL;
  int C = l->in.c, H = l->in.h, W = l->in.w, K = c->k, F = c->f, Ho = l->out.h, Wo = l->out.w;
  int cff = C * F * F, hw = Ho * Wo;
  const corr_geom *g = &c->g, *gt = &c->gt;
  const size_t n_w = (size_t)K * (size_t)cff;
  if (c->wino) {
    /* the dW sums (np, cp, kp), then the kernel transform for dX in the same place */
    float *Wh = align_vec(ctx->ws), *rest = Wh + 25 * wino_upos(C, K);
    const float *mask = l->relu_out && !l->dy_masked ? y : NULL;
    memset(Wh, 0, (size_t)c->wd.np * wino_upos(C, K) * sizeof *Wh);
    wino_dw(&c->wd, C, K, x, H, W, dy, mask, n, Ho, Wo, Wh, db, rest);
    wino_dw_finish(Wh, K, C, c->wd.m, dw);
    if (dx) {
      wino_kernel(w, K, C, 1, c->wx.m, Wh);
      wino_conv(&c->wx, K, C, Wh, dy, mask, n, Ho, Wo, dx, H, W, NULL, 0, rest);
    }
    return;
  }
  float *grid = align_vec(ctx->ws), *dyg = grid, *dgrid = grid, *dxg = grid, *wt = grid, *dwv = grid, *cols = grid;
  if (c->corr) {
    dyg = grid + (size_t)C * g->plane + VL;
    dgrid = dyg + (size_t)K * g->nq;
    dxg = dgrid + (size_t)K * gt->plane;
    wt = dxg + (size_t)C * gt->nq;
    dwv = wt + n_w;
    cols = dwv + n_w * VL;
  }
  float *dym = cols + (size_t)cff * (size_t)hw + VL;
  const int dw_direct = c->dw_direct, dx_direct = dx && c->dx_direct;
  if (c->corr) memset(grid, 0, (size_t)C * g->plane * sizeof *grid);
  if (dw_direct) {
    memset(dyg, 0, (size_t)K * g->nq * sizeof *dyg);
    memset(dwv, 0, n_w * VL * sizeof *dwv);
  }
  if (dx_direct) {
    memset(dgrid, 0, (size_t)K * gt->plane * sizeof *dgrid);
    /* wt (C, K, F, F): wt[c][k][a][b] = w[k][c][F-1-a][F-1-b] */
    for (int k = 0; k < K; k++)
      for (int ci = 0; ci < C; ci++)
        for (int a = 0; a < F * F; a++)
          wt[((size_t)ci * K + k) * F * F + a] = w[((size_t)k * C + ci) * F * F + (size_t)(F * F - 1 - a)];
  }
  /* dy on the forward grid: Wo columns of each wg-wide row, zeros elsewhere. */
  corr_geom gy = *g;
  gy.top = gy.left = 0;
  gy.plane = g->nq;
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * shape_size(l->in);
    const float *dyi = dy + (size_t)i * shape_size(l->out);
    float *dxi = dx ? dx + (size_t)i * shape_size(l->in) : NULL;
    if (l->relu_out && !l->dy_masked) { /* dL/dz = dy where y = max(0, z) > 0 */
      relu_mask(y + (size_t)i * shape_size(l->out), dyi, (size_t)K * hw, dym);
      dyi = dym;
    }
    for (int k = 0; db && k < K; k++) db[k] += sum_floats(dyi + (size_t)k * hw, hw);
    if (c->corr) to_grid(xi, C, H, W, g, grid);
    if (dw_direct) {
      to_grid(dyi, K, Ho, Wo, &gy, dyg);
      corr_dw(grid, g, C, K, F, dyg, dwv);
    } else {
      if (c->corr)
        im2col_grid(grid, g, C, F, Ho, Wo, cols);
      else
        im2col(xi, C, H * W, c->taps, F * F, hw, cols);
      /* dw (K, cff) += dy (K, hw) . cols^T (hw, cff) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, cff, hw, 1.0f, dyi, hw, cols, hw, 1.0f, dw, cff);
    }
    if (!dx) continue;
    if (dx_direct) {
      to_grid(dyi, K, Ho, Wo, gt, dgrid);
      corr_forward(dgrid, gt, K, C, F, wt, dxg);
      for (int ci = 0; ci < C; ci++)
        for (int r = 0; r < H; r++)
          memcpy(dxi + ((size_t)ci * H + r) * W, dxg + (size_t)ci * gt->nq + (size_t)r * gt->wg, (size_t)W * sizeof *dxi);
    } else {
      /* dcols (cff, hw) = w^T (cff, K) . dy (K, hw) */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cff, hw, K, 1.0f, w, cff, dyi, hw, 0.0f, cols, hw);
      col2im(cols, C, H * W, c->taps, F * F, hw, dxi);
    }
  }
  if (dw_direct)
    for (size_t j = 0; j < n_w; j++) dw[j] += vsum(vload(dwv + j * VL));
}

/* ONNX Conv with explicit pads [top, left, bottom, right]: `same` may pad one row/column
 * more at the bottom/right. The bottom/right padding is what the output size needs,
 * (O - 1) S + F = I + P_lo + P_hi, or 0 when stride leaves input rows unused. */
static jc_code conv_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                const char *y, jc_err *err) {
  const conv_cfg *c = l->cfg;
  const float *w = params + l->offset;
  int pb = (l->out.h - 1) * c->s + c->f - l->in.h - c->pad_top;
  int pr = (l->out.w - 1) * c->s + c->f - l->in.w - c->pad_left;
  const int64_t wdims[4] = {c->k, l->in.c, c->f, c->f}, bdims[1] = {c->k};
  const char *kernel = onnx_const(g, "W", ONNX_FLOAT, w, wdims, 4);
  const char *bias = l->n_bias ? onnx_const(g, "B", ONNX_FLOAT, w + l->n_kernel, bdims, 1) : "";
  onnx_node(g, "Conv", (const char *[]){x[0], kernel, bias}, l->n_bias ? 3 : 2, y);
  onnx_attr_ints(g, "kernel_shape", (const int64_t[]){c->f, c->f}, 2);
  onnx_attr_ints(g, "strides", (const int64_t[]){c->s, c->s}, 2);
  onnx_attr_ints(g, "pads", (const int64_t[]){c->pad_top, c->pad_left, pb > 0 ? pb : 0, pr > 0 ? pr : 0}, 4);
  return onnx_status(g, err);
}

static const char *const CONV_KEYS[] = {"filters", "size", "stride", "pad", NULL};
const jc_layer_ops jc_conv_ops = {
    .section = "conv",
    .kind = "Conv2D",
    .keys = CONV_KEYS,
    .flags = LAYER_TAKES_ACTIVATION | LAYER_FUSES_RELU | LAYER_TAKES_MASKED_DY | LAYER_TAKES_BATCHNORM,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
    .export_onnx = conv_export_onnx,
};
