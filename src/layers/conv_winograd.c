/* conv_winograd.c - Winograd convolution kernels (conv_winograd.h), used by conv.c for
 * stride-1 3x3 convolutions with many channels. */
#include <stdint.h>
#include <string.h>

#include "conv_winograd.h"

#include "simd.h"
/* Compiled with -ffp-contract=fast (CMakeLists.txt), as conv.c: a*b+c may become an FMA. */

/* Winograd F(2x2, 3x3) (Lavin and Gray, 2016) for stride-1 3x3 convolutions with many
 * channels. Each 2x2 block ("tile") of outputs comes from the 4x4 block of the padded input
 * at twice its position:
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A          (16 products per tile instead of 36),
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * Summed over the input channels, the 16 elementwise products are 16 matrix products, one
 * per position p of the transformed 4x4 tile: M_p (tiles, K) = V_p (tiles, C) . U_p (C, K).
 * dX is the same with the flipped, transposed kernel on the padded dy. dW is F(3x3, 2x2),
 * with E the tile's 2x2 of dy:
 *   dW = G^T [ sum over tiles (A E A^T) .* (B^T d B) ] G,
 * 16 products (C, tiles) . (tiles, K) accumulated over the micro-batch.
 * Each part can also use F(3x3, 3x3) (points 0, 1, -1, 2, inf; 5x5 input tiles, 25 positions
 * for 9 outputs; for dW 3x3 tiles of dy, A's rows = A^T's columns), where it needs fewer
 * products (wino_tile_size):
 *   B^T = [2 -1 -2 1 0; 0 -2 -1 1 0; 0 2 -3 1 0; 0 -1 0 1 0; 0 2 -1 -2 1],
 *   G = [1/2 0 0; -1/2 -1/2 -1/2; -1/6 1/6 -1/6; 1/6 1/3 2/3; 0 0 1],
 *   A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 1].
 * Everything works on channel-minor ("HWC") copies: an image is transposed into a grid with
 * cp = C rounded up to whole vectors floats a pixel, the transforms of a tile are vectorised
 * over channels, and the products (wino_mm) keep a block of output rows x filters in
 * registers, one operand broadcast: no lane sums, and any number of tiles a row. */
enum {
  WINO_TILES = 64,   /* tiles of the forward/dX products: whole samples, at least one */
  WINO_DW_CHUNK = 64 /* tiles whose dW transforms are gathered before the products */
};

static size_t wino_round(int n) { return ((size_t)n + VL - 1) / VL * VL; }

/* Tiles of m x m over an out_h x out_w output whose input sits at (top, left) of the grid. */
wino_geom wino_geom_make(int out_h, int out_w, int top, int left, int m) {
  wino_geom w;
  w.m = m;
  w.np = (m + 2) * (m + 2);
  w.ntx = (out_w + m - 1) / m;
  w.nty = (out_h + m - 1) / m;
  w.hg = m * w.nty + 2;
  w.wg = m * w.ntx + 2;
  w.top = top;
  w.left = left;
  w.spc = WINO_TILES / (w.ntx * w.nty) > 0 ? WINO_TILES / (w.ntx * w.nty) : 1;
  return w;
}

/* Floats from one position's (rows, ch) matrix to the next: a cache line more, so that the
 * 16 positions of a tile do not share an L1 set. */
static size_t wino_pos(int rows, int ch) { return (size_t)rows * wino_round(ch) + VL; }

/* Floats from one position's (cp, kp) kernel matrix (U, or the dW sums) to the next: also a
 * cache line more than the matrix (often a multiple of 4 KiB). */
size_t wino_upos(int C, int K) { return wino_round(C) * wino_round(K) + VL; }

/* Transpose the 16 x 16 floats r[0..15] in place: four rounds of r'[2i], r'[2i+1] = the
 * interleaved lanes of r[i] and r[i+8], each a rotation of the (row, column) bits. */
static inline __attribute__((always_inline)) void transpose16(vf r[16]) {
  for (int round = 0; round < 4; round++) {
    vf t[16];
    for (int i = 0; i < 8; i++) {
      t[2 * i] = VSHUFFLE(r[i], r[i + 8], VLANES_ZIP_LO);
      t[2 * i + 1] = VSHUFFLE(r[i], r[i + 8], VLANES_ZIP_HI);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
  }
}

/* VL floats from p, or the fewer left before end and zeros. */
static inline vf vload_upto(const float *p, const float *end) {
  if (end - p >= VL) return vload(p);
  float t[VL] = {0};
  for (long j = 0; j < end - p; j++) t[j] = p[j];
  return vload(t);
}

/* img (C, h, w), times mask > 0 when mask is not NULL, into pixels (top + y, left + x) of a
 * channel-minor grid gw pixels wide with cp floats a pixel (channels C.. of cp zero): blocks
 * of 16 channels x 16 consecutive pixels of a plane (across rows: small images fill the
 * vectors), transposed in registers. */
static void to_grid_hwc(const float *img, const float *mask, int C, int h, int w, int top, int left, int gw,
                        size_t cp, float *grid) {
  const size_t hw = (size_t)h * w;
  const float *end = img + (size_t)C * hw, *mend = mask ? mask + (size_t)C * hw : NULL;
  for (int c0 = 0; c0 < C; c0 += VL)
    for (size_t q0 = 0; q0 < hw; q0 += VL) {
      vf r[16];
      for (int j = 0; j < VL; j++) {
        if (c0 + j >= C) {
          r[j] = (vf){0};
          continue;
        }
        r[j] = vload_upto(img + (size_t)(c0 + j) * hw + q0, end);
        if (mask) {
          const vf m = vload_upto(mask + (size_t)(c0 + j) * hw + q0, mend);
          r[j] = (vf)((vi)r[j] & (m > vsplat(0.0f)));
        }
      }
      transpose16(r); /* r[i]: pixel q0 + i, channels c0.. */
      int y = (int)(q0 / (size_t)w), x = (int)(q0 % (size_t)w);
      for (int i = 0; i < VL && q0 + (size_t)i < hw; i++) {
        memcpy(grid + ((size_t)(y + top) * gw + x + left) * cp + c0, &r[i], sizeof(vf));
        if (++x == w) x = 0, y++;
      }
    }
}

/* out (K, h, w) = the first K channels of a channel-minor grid (gw pixels wide, kp floats a
 * pixel, the image at its corner) + bias (or none), max(0, .) with relu: blocks of 16
 * channels x 16 consecutive pixels of a plane, stored as whole vectors but at the end of a
 * plane (where the next plane, written before, would be overwritten). */
static void from_grid_hwc(const float *grid, int gw, size_t kp, int K, int h, int w, const float *bias, int relu,
                          float *out) {
  const size_t hw = (size_t)h * w;
  for (int k0 = 0; k0 < K; k0 += VL)
    for (size_t q0 = 0; q0 < hw; q0 += VL) {
      vf r[16];
      int y = (int)(q0 / (size_t)w), x = (int)(q0 % (size_t)w);
      for (int i = 0; i < VL; i++) {
        r[i] = q0 + (size_t)i < hw ? vload(grid + ((size_t)y * gw + x) * kp + k0) : (vf){0};
        if (++x == w) x = 0, y++;
      }
      transpose16(r); /* r[j]: channel k0 + j, pixels q0.. */
      for (int j = 0; j < VL && k0 + j < K; j++) {
        vf v = r[j] + vsplat(bias ? bias[k0 + j] : 0.0f);
        if (relu) v = (vf)((vi)v & (v > vsplat(0.0f)));
        float *dst = out + (size_t)(k0 + j) * hw + q0;
        if (hw - q0 >= VL) {
          memcpy(dst, &v, sizeof v);
        } else {
          float t[VL];
          memcpy(t, &v, sizeof v);
          for (size_t i = 0; i < hw - q0; i++) dst[i] = t[i];
        }
      }
    }
}

/* out rows i0.. (IB) x vectors k0.. (KB of VL) (+)= sum over r < nr of a(i, r) b[r][k], where
 * a(i, r) = a[i * sai + r * sar] and b, out have rows kp floats apart. acc_in: add to out. */
static inline __attribute__((always_inline)) void wino_mm_tile(const float *a, size_t sai, size_t sar, const float *b,
                                                               size_t kp, int nr, float *out, int i0, size_t k0,
                                                               int acc_in, const int IB, const int KB) {
  vf acc[6][4];
  for (int i = 0; i < IB; i++)
    for (int j = 0; j < KB; j++)
      acc[i][j] = acc_in ? vload(out + (size_t)(i0 + i) * kp + k0 + (size_t)j * VL) : (vf){0};
  for (int r = 0; r < nr; r++) {
    vf bv[4];
    for (int j = 0; j < KB; j++) bv[j] = vload(b + (size_t)r * kp + k0 + (size_t)j * VL);
    for (int i = 0; i < IB; i++) {
      const vf av = vsplat(a[(size_t)(i0 + i) * sai + (size_t)r * sar]);
      for (int j = 0; j < KB; j++) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < IB; i++)
    for (int j = 0; j < KB; j++) memcpy(out + (size_t)(i0 + i) * kp + k0 + (size_t)j * VL, &acc[i][j], sizeof(vf));
}

/* KB vectors of columns from k0, every row: blocks of 6, then 2, then 1. */
static inline __attribute__((always_inline)) void wino_mm_cols(const float *a, size_t sai, size_t sar, int ni,
                                                               const float *b, size_t kp, int nr, float *out,
                                                               size_t k0, int acc_in, const int KB) {
  int i = 0;
  for (; i + 6 <= ni; i += 6) wino_mm_tile(a, sai, sar, b, kp, nr, out, i, k0, acc_in, 6, KB);
  for (; i + 2 <= ni; i += 2) wino_mm_tile(a, sai, sar, b, kp, nr, out, i, k0, acc_in, 2, KB);
  for (; i < ni; i++) wino_mm_tile(a, sai, sar, b, kp, nr, out, i, k0, acc_in, 1, KB);
}

/* out (ni, kp) (+)= A (ni, nr) . b (nr, kp), A(i, r) = a[i * sai + r * sar]: the products
 * of one position (forward and dX: tiles x channels . channels x filters; dW: channels x
 * tiles . tiles x filters). The order of the sums is fixed. */
static void wino_mm(const float *a, size_t sai, size_t sar, int ni, const float *b, size_t kp, int nr, float *out,
                    int acc_in) {
  size_t k0 = 0;
  for (; k0 + 4 * VL <= kp; k0 += 4 * VL) wino_mm_cols(a, sai, sar, ni, b, kp, nr, out, k0, acc_in, 4);
  for (; k0 + 2 * VL <= kp; k0 += 2 * VL) wino_mm_cols(a, sai, sar, ni, b, kp, nr, out, k0, acc_in, 2);
  for (; k0 < kp; k0 += VL) wino_mm_cols(a, sai, sar, ni, b, kp, nr, out, k0, acc_in, 1);
}

/* B^T d B of the 4x4 pixels from (2ty, 2tx) of a channel-minor grid: position p at
 * V + p * pos (cp floats). */
static void wino_in_tile(const float *g, int gw, size_t cp, int ty, int tx, float *V, size_t pos) {
  for (size_t c0 = 0; c0 < cp; c0 += VL) {
    vf d[4][4], a[4][4];
    for (int r = 0; r < 4; r++)
      for (int q = 0; q < 4; q++) d[r][q] = vload(g + ((size_t)(2 * ty + r) * gw + 2 * tx + q) * cp + c0);
    for (int q = 0; q < 4; q++) {
      a[0][q] = d[0][q] - d[2][q];
      a[1][q] = d[1][q] + d[2][q];
      a[2][q] = d[2][q] - d[1][q];
      a[3][q] = d[1][q] - d[3][q];
    }
    for (int i = 0; i < 4; i++) {
      const vf u[4] = {a[i][0] - a[i][2], a[i][1] + a[i][2], a[i][2] - a[i][1], a[i][1] - a[i][3]};
      for (int j = 0; j < 4; j++) memcpy(V + (size_t)(4 * i + j) * pos + c0, &u[j], sizeof(vf));
    }
  }
}

/* A^T m A of one tile's 16 products (position p at M + p * pos, kp floats): its 2x2 outputs
 * at (2ty, 2tx) of a channel-minor grid gw pixels wide. */
static void wino_out_tile(const float *M, size_t pos, size_t kp, float *g, int gw, int ty, int tx) {
  for (size_t k0 = 0; k0 < kp; k0 += VL) {
    vf s0[4], s1[4]; /* A^T on the rows, then on the columns */
    for (int j = 0; j < 4; j++) {
      const vf m0 = vload(M + (size_t)j * pos + k0), m1 = vload(M + (size_t)(4 + j) * pos + k0);
      const vf m2 = vload(M + (size_t)(8 + j) * pos + k0), m3 = vload(M + (size_t)(12 + j) * pos + k0);
      s0[j] = m0 + m1 + m2;
      s1[j] = m1 - m2 - m3;
    }
    const vf y[2][2] = {{s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3]}, {s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]}};
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++) memcpy(g + ((size_t)(2 * ty + a) * gw + 2 * tx + b) * kp + k0, &y[a][b], sizeof(vf));
  }
}

/* u = G g for F(m x m, 3x3): m + 2 values from the 3 of g. */
static inline __attribute__((always_inline)) void wino_g(const vf g[3], int m, vf u[5]) {
  if (m == 2) {
    u[0] = g[0];
    u[1] = vsplat(0.5f) * (g[0] + g[1] + g[2]);
    u[2] = vsplat(0.5f) * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  } else {
    u[0] = vsplat(0.5f) * g[0];
    u[1] = vsplat(-0.5f) * (g[0] + g[1] + g[2]);
    u[2] = vsplat(1.0f / 6.0f) * (g[1] - g[0] - g[2]);
    u[3] = vsplat(1.0f / 6.0f) * (g[0] + vsplat(2.0f) * g[1] + vsplat(4.0f) * g[2]);
    u[4] = g[2];
  }
}

/* u = B^T d for F(3x3, 3x3) (5 values) and y = A^T m (3 of 5). */
static inline __attribute__((always_inline)) void wino3_bt(const vf d[5], vf u[5]) {
  u[0] = vsplat(2.0f) * (d[0] - d[2]) - d[1] + d[3];
  u[1] = d[3] - d[2] - vsplat(2.0f) * d[1];
  u[2] = vsplat(2.0f) * d[1] - vsplat(3.0f) * d[2] + d[3];
  u[3] = d[3] - d[1];
  u[4] = vsplat(2.0f) * (d[1] - d[3]) - d[2] + d[4];
}
static inline __attribute__((always_inline)) void wino3_at(const vf v[5], vf y[3]) {
  y[0] = v[0] + v[1] + v[2] + v[3];
  y[1] = v[1] - v[2] + vsplat(2.0f) * v[3];
  y[2] = v[1] + v[2] + vsplat(4.0f) * v[3] + v[4];
}

/* F(3x3, 3x3): B^T d B of the 5x5 pixels from (3ty, 3tx) of a channel-minor grid (V + p * pos),
 * and A^T m A of a tile's 25 products (M + p * pos) into its 3x3 outputs at (3ty, 3tx). */
static void wino3_in_tile(const float *g, int gw, size_t cp, int ty, int tx, float *V, size_t pos) {
  for (size_t c0 = 0; c0 < cp; c0 += VL) {
    vf a[5][5];
    for (int q = 0; q < 5; q++) {
      vf d[5], u[5];
      for (int r = 0; r < 5; r++) d[r] = vload(g + ((size_t)(3 * ty + r) * gw + 3 * tx + q) * cp + c0);
      wino3_bt(d, u);
      for (int i = 0; i < 5; i++) a[i][q] = u[i];
    }
    for (int i = 0; i < 5; i++) {
      vf u[5];
      wino3_bt(a[i], u);
      for (int j = 0; j < 5; j++) memcpy(V + (size_t)(5 * i + j) * pos + c0, &u[j], sizeof(vf));
    }
  }
}
static void wino3_out_tile(const float *M, size_t pos, size_t kp, float *g, int gw, int ty, int tx) {
  for (size_t k0 = 0; k0 < kp; k0 += VL) {
    vf s[3][5];
    for (int j = 0; j < 5; j++) {
      vf v[5], y[3];
      for (int i = 0; i < 5; i++) v[i] = vload(M + (size_t)(5 * i + j) * pos + k0);
      wino3_at(v, y);
      for (int r = 0; r < 3; r++) s[r][j] = y[r];
    }
    for (int r = 0; r < 3; r++) {
      vf y[3];
      wino3_at(s[r], y);
      for (int q = 0; q < 3; q++) memcpy(g + ((size_t)(3 * ty + r) * gw + 3 * tx + q) * kp + k0, &y[q], sizeof(vf));
    }
  }
}

/* The kernel transform G g G^T of every 3x3 kernel of w (K, C, 3, 3) into U (16, cp, kp)
 * (zero padded, positions wino_upos apart); with flip, of the flipped kernels, transposed:
 * U (16, kp, cp) (dX). Vectorised along U's rows (k, or c with flip), 16 kernels at a time.
 * With m = 3 (F(3x3, 3x3)) 25 positions. */
void wino_kernel(const float *w, int K, int C, int flip, int m, float *U) {
  const size_t cp = wino_round(C), kp = wino_round(K), pos = wino_upos(C, K), row = flip ? cp : kp;
  const int no = flip ? K : C, ni = flip ? C : K, a = m + 2;
  for (int p = 0; p < a * a; p++) /* rows past the last kernel (the loop below writes whole rows) */
    memset(U + (size_t)p * pos + (size_t)no * row, 0, (wino_round(no) - (size_t)no) * row * sizeof *U);
  for (int o = 0; o < no; o++)
    for (int i0 = 0; i0 < ni; i0 += VL) {
      vf f[16]; /* kernel j's 9 taps in lanes 0-8, then, transposed, tap a of every kernel */
      for (int j = 0; j < VL; j++) {
        const int k = flip ? o : i0 + j, c = flip ? i0 + j : o;
        f[j] = i0 + j < ni ? vload_upto(w + ((size_t)k * C + c) * 9, w + (size_t)K * C * 9) : (vf){0};
      }
      transpose16(f);
      if (flip)
        for (int a = 0; a < 4; a++) {
          const vf tmp = f[a];
          f[a] = f[8 - a];
          f[8 - a] = tmp;
        }
      vf t[5][3];
      for (int x = 0; x < 3; x++) { /* G on the rows */
        const vf g3[3] = {f[x], f[3 + x], f[6 + x]};
        vf u[5];
        wino_g(g3, m, u);
        for (int r = 0; r < a; r++) t[r][x] = u[r];
      }
      float *dst = U + (size_t)o * row + (size_t)i0;
      for (int r = 0; r < a; r++) {
        vf u[5];
        wino_g(t[r], m, u);
        for (int j = 0; j < a; j++) memcpy(dst + (size_t)(a * r + j) * pos, &u[j], sizeof(vf));
      }
    }
}

/* Floats of scratch wino_conv needs. */
size_t wino_conv_floats(const wino_geom *w, int Cin, int Kout) {
  const int nt = w->spc * w->ntx * w->nty;
  return (size_t)w->hg * w->wg * wino_round(Cin) + (size_t)w->np * (wino_pos(nt, Cin) + wino_pos(nt, Kout)) +
         (size_t)nt * (size_t)(w->m * w->m) * wino_round(Kout);
}

/* in (n, Cin, ih, iw) (times mask > 0 when mask is not NULL), U (np, cp, kp) -> out
 * (n, Kout, oh, ow) (+ bias, max(0, .) with relu), spc samples at a time. */
void wino_conv(const wino_geom *w, int Cin, int Kout, const float *U, const float *in, const float *mask,
               int n, int ih, int iw, float *out, int oh, int ow, const float *bias, int relu, float *ws) {
  const size_t cp = wino_round(Cin), kp = wino_round(Kout), tps = (size_t)w->ntx * w->nty;
  const size_t vpos = wino_pos(w->spc * (int)tps, Cin), mpos = wino_pos(w->spc * (int)tps, Kout);
  const size_t gsz = (size_t)w->hg * w->wg * cp;
  float *grid = ws, *V = grid + gsz, *M = V + (size_t)w->np * vpos, *og = M + (size_t)w->np * mpos;
  const int ow2 = w->m * w->ntx; /* the output grid: whole tiles */
  memset(grid, 0, gsz * sizeof *grid);
  const size_t isz = (size_t)Cin * ih * iw, ysz = (size_t)Kout * oh * ow;
  for (int s0 = 0; s0 < n; s0 += w->spc) {
    const int ns = n - s0 < w->spc ? n - s0 : w->spc;
    for (int s = 0; s < ns; s++) {
      const size_t at = (size_t)(s0 + s) * isz;
      to_grid_hwc(in + at, mask ? mask + at : NULL, Cin, ih, iw, w->top, w->left, w->wg, cp, grid);
      for (int ty = 0; ty < w->nty; ty++)
        for (int tx = 0; tx < w->ntx; tx++) {
          float *v = V + ((size_t)s * tps + (size_t)ty * w->ntx + tx) * cp;
          if (w->m == 2)
            wino_in_tile(grid, w->wg, cp, ty, tx, v, vpos);
          else
            wino3_in_tile(grid, w->wg, cp, ty, tx, v, vpos);
        }
    }
    for (int p = 0; p < w->np; p++)
      wino_mm(V + p * vpos, cp, 1, ns * (int)tps, U + p * wino_upos(Cin, Kout), kp, Cin, M + p * mpos, 0);
    for (int s = 0; s < ns; s++) {
      for (int ty = 0; ty < w->nty; ty++)
        for (int tx = 0; tx < w->ntx; tx++) {
          const float *mt = M + ((size_t)s * tps + (size_t)ty * w->ntx + tx) * kp;
          if (w->m == 2)
            wino_out_tile(mt, mpos, kp, og, ow2, ty, tx);
          else
            wino3_out_tile(mt, mpos, kp, og, ow2, ty, tx);
        }
      from_grid_hwc(og, ow2, kp, Kout, oh, ow, bias, relu, out + (size_t)(s0 + s) * ysz);
    }
  }
}

/* A E A^T of the 2x2 pixels from (2ty, 2tx) of a channel-minor dy grid: E + p * pos. */
static void wino_dy_tile(const float *g, int gw, size_t kp, int ty, int tx, float *E, size_t pos) {
  for (size_t k0 = 0; k0 < kp; k0 += VL) {
    vf e[2][2], a[4][2];
    for (int r = 0; r < 2; r++)
      for (int q = 0; q < 2; q++) e[r][q] = vload(g + ((size_t)(2 * ty + r) * gw + 2 * tx + q) * kp + k0);
    for (int q = 0; q < 2; q++) { /* rows of A E: e0, e0 + e1, e0 - e1, -e1 */
      a[0][q] = e[0][q];
      a[1][q] = e[0][q] + e[1][q];
      a[2][q] = e[0][q] - e[1][q];
      a[3][q] = -e[1][q];
    }
    for (int i = 0; i < 4; i++) {
      const vf u[4] = {a[i][0], a[i][0] + a[i][1], a[i][0] - a[i][1], -a[i][1]};
      for (int j = 0; j < 4; j++) memcpy(E + (size_t)(4 * i + j) * pos + k0, &u[j], sizeof(vf));
    }
  }
}

/* Floats of scratch wino_dw needs. */
size_t wino_dw_floats(const wino_geom *w, int C, int K) {
  return (size_t)w->hg * (size_t)w->wg * wino_round(C) + (size_t)(w->m * w->m * w->nty * w->ntx) * wino_round(K) +
         (size_t)w->np * (wino_pos(WINO_DW_CHUNK, C) + wino_pos(WINO_DW_CHUNK, K));
}

/* F(3x3, 3x3) for dW: A E A^T of the 3x3 pixels from (3ty, 3tx) of a channel-minor dy grid
 * (E + p * pos), A's rows [1 0 0; 1 1 1; 1 -1 1; 1 2 4; 0 0 1]. */
static inline __attribute__((always_inline)) void wino3_a(const vf e[3], vf u[5]) {
  u[0] = e[0];
  u[1] = e[0] + e[1] + e[2];
  u[2] = e[0] - e[1] + e[2];
  u[3] = e[0] + vsplat(2.0f) * e[1] + vsplat(4.0f) * e[2];
  u[4] = e[2];
}
static void wino3_dy_tile(const float *g, int gw, size_t kp, int ty, int tx, float *E, size_t pos) {
  for (size_t k0 = 0; k0 < kp; k0 += VL) {
    vf a[5][3];
    for (int q = 0; q < 3; q++) {
      vf e[3], u[5];
      for (int r = 0; r < 3; r++) e[r] = vload(g + ((size_t)(3 * ty + r) * gw + 3 * tx + q) * kp + k0);
      wino3_a(e, u);
      for (int i = 0; i < 5; i++) a[i][q] = u[i];
    }
    for (int i = 0; i < 5; i++) {
      vf u[5];
      wino3_a(a[i], u);
      for (int j = 0; j < 5; j++) memcpy(E + (size_t)(5 * i + j) * pos + k0, &u[j], sizeof(vf));
    }
  }
}

/* Over the micro-batch x (n, C, H, W) and dy (n, K, Ho, Wo) (times mask > 0 when mask is not
 * NULL): Wt (np, cp, kp) += sum over tiles of (B^T d B)_p (A E A^T)_p, db (K) += sum of dy;
 * tiles of m x m of dy (F(3x3, m x m)). */
void wino_dw(const wino_geom *w, int C, int K, const float *x, int H, int W, const float *dy,
             const float *mask, int n, int Ho, int Wo, float *Wt, float *db, float *ws) {
  const size_t cp = wino_round(C), kp = wino_round(K), vpos = wino_pos(WINO_DW_CHUNK, C);
  const size_t epos = wino_pos(WINO_DW_CHUNK, K);
  const int yw = w->m * w->ntx; /* dy grid: dy at its corner, m nty x m ntx pixels */
  const size_t gx_n = (size_t)w->hg * (size_t)w->wg * cp, gy_n = (size_t)(w->m * w->nty) * (size_t)yw * kp;
  float *gx = ws, *gy = gx + gx_n, *V = gy + gy_n, *E = V + (size_t)w->np * vpos;
  memset(gx, 0, gx_n * sizeof *gx);
  memset(gy, 0, gy_n * sizeof *gy);
  const size_t xsz = (size_t)C * H * W, ysz = (size_t)K * Ho * Wo;
  int nt = 0;
  for (int i = 0; i < n; i++) {
    to_grid_hwc(x + (size_t)i * xsz, NULL, C, H, W, w->top, w->left, w->wg, cp, gx);
    to_grid_hwc(dy + (size_t)i * ysz, mask ? mask + (size_t)i * ysz : NULL, K, Ho, Wo, 0, 0, yw, kp, gy);
    for (size_t k0 = 0; k0 < kp; k0 += VL) { /* db: per-lane sums over the pixels */
      vf sum = {0};
      for (int y = 0; y < Ho; y++)
        for (int xx = 0; xx < Wo; xx++) sum += vload(gy + ((size_t)y * yw + xx) * kp + k0);
      for (int j = 0; j < VL && k0 + j < (size_t)K; j++) db[k0 + j] += sum[j];
    }
    for (int ty = 0; ty < w->nty; ty++)
      for (int tx = 0; tx < w->ntx; tx++) {
        if (w->m == 2) {
          wino_in_tile(gx, w->wg, cp, ty, tx, V + (size_t)nt * cp, vpos);
          wino_dy_tile(gy, yw, kp, ty, tx, E + (size_t)nt * kp, epos);
        } else {
          wino3_in_tile(gx, w->wg, cp, ty, tx, V + (size_t)nt * cp, vpos);
          wino3_dy_tile(gy, yw, kp, ty, tx, E + (size_t)nt * kp, epos);
        }
        if (++nt < WINO_DW_CHUNK && !(i == n - 1 && ty == w->nty - 1 && tx == w->ntx - 1)) continue;
        for (int p = 0; p < w->np; p++)
          wino_mm(V + p * vpos, 1, cp, C, E + p * epos, kp, nt, Wt + p * wino_upos(C, K), 1);
        nt = 0;
      }
  }
}

/* v = G^T w for F(m x m, 3x3): 3 values from the m + 2 of w. */
static inline __attribute__((always_inline)) void wino_gt(const vf w[5], int m, vf v[3]) {
  if (m == 2) { /* w0 + (w1 + w2)/2, (w1 - w2)/2, (w1 + w2)/2 + w3 */
    v[0] = w[0] + vsplat(0.5f) * (w[1] + w[2]);
    v[1] = vsplat(0.5f) * (w[1] - w[2]);
    v[2] = vsplat(0.5f) * (w[1] + w[2]) + w[3];
  } else { /* G's columns: [1/2 -1/2 -1/6 1/6 0], [0 -1/2 1/6 1/3 0], [0 -1/2 -1/6 2/3 1] */
    v[0] = vsplat(0.5f) * (w[0] - w[1]) + vsplat(1.0f / 6.0f) * (w[3] - w[2]);
    v[1] = vsplat(1.0f / 6.0f) * (w[2] + vsplat(2.0f) * w[3]) - vsplat(0.5f) * w[1];
    v[2] = vsplat(1.0f / 6.0f) * (vsplat(4.0f) * w[3] - w[2]) - vsplat(0.5f) * w[1] + w[4];
  }
}

/* dw (K, C, 3, 3) += G^T Wt_ck G for every (k, c) of Wt ((m+2)^2, cp, kp): 16 filters at a
 * time along Wt's rows, their 9 taps transposed into place. */
void wino_dw_finish(const float *Wt, int K, int C, int m, float *dw) {
  const size_t kp = wino_round(K), pos = wino_upos(C, K);
  const int a = m + 2;
  const float *dw_end = dw + (size_t)K * C * 9;
  for (int c = 0; c < C; c++)
    for (int k0 = 0; k0 < K; k0 += VL) {
      const float *wt = Wt + (size_t)c * kp + (size_t)k0;
      vf t[3][5] = {{{0}}}, r[16];
      for (int j = 0; j < a; j++) { /* G^T on the rows */
        vf col[5] = {{0}}, v[3];
        for (int i = 0; i < a; i++) col[i] = vload(wt + (size_t)(a * i + j) * pos);
        wino_gt(col, m, v);
        for (int f = 0; f < 3; f++) t[f][j] = v[f];
      }
      for (int f = 0; f < 3; f++) wino_gt(t[f], m, r + 3 * f);
      for (int x = 9; x < 16; x++) r[x] = (vf){0};
      transpose16(r); /* r[j]: the 9 taps of filter k0 + j */
      for (int j = 0; j < VL && k0 + j < K; j++) {
        float *d = dw + ((size_t)(k0 + j) * C + c) * 9;
        const vf v = vload_upto(d, dw_end) + r[j];
        memcpy(d, &v, 9 * sizeof *d);
      }
    }
}

/* F(3x3, 3x3) where it needs fewer products than F(2x2, 3x3) for an h x w output (25 per
 * 3x3 tile against 16 per 2x2 tile: 13x13 625 against 784, 15x15 625 against 1024; 4x4 100
 * against 64), else F(2x2, 3x3) (smaller transforms, and the error grows with the tile). */
int wino_tile_size(int h, int w) {
  const long t2 = 16L * ((h + 1) / 2) * ((w + 1) / 2), t3 = 25L * ((h + 2) / 3) * ((w + 2) / 3);
  return t3 < t2 ? 3 : 2;
}
