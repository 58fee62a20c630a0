/* conv_winograd.h - Winograd F(2x2, 3x3) and F(3x3, 3x3) kernels for stride-1 3x3
 * convolutions with many channels (conv_winograd.c explains the algebra). Internal to
 * src/layers: conv.c chooses them at init and calls them per micro-batch. No function
 * allocates: scratch (ws) and transformed kernels (U, Wt) are the caller's, sized by the
 * *_floats functions and wino_upos. Plain loops in a fixed order: the same bits on any
 * thread. */
#ifndef JETCNN_CONV_WINOGRAD_H
#define JETCNN_CONV_WINOGRAD_H

#include <stddef.h>

/* Winograd tiles (see wino_conv). */
typedef struct {
  int m, np;       /* outputs per tile side (F(m x m, 3x3)), positions (m + 2)^2 */
  int hg, wg;      /* the channel-minor grid the tiles are read from: m*nty + 2 x m*ntx + 2 pixels */
  int top, left;   /* the input's position in it */
  int ntx, nty;    /* tiles per row and per column: ceil(output / m) */
  int spc;         /* samples per chunk of forward/dX products */
} wino_geom;

/* Tiles of m x m (m = 2 or 3) over an out_h x out_w output whose input sits at (top, left)
 * of the grid. */
wino_geom wino_geom_make(int out_h, int out_w, int top, int left, int m);

/* m = 3 (F(3x3, 3x3)) where it needs fewer products than m = 2 for an h x w output. */
int wino_tile_size(int h, int w);

/* Floats from one tile position's kernel matrix to the next in U or Wt. */
size_t wino_upos(int C, int K);

/* w (K, C, 3, 3) -> U ((m+2)^2 positions, cp, kp) = G g G^T; with flip the flipped,
 * transposed kernels U (.., kp, cp) (for dX). */
void wino_kernel(const float *w, int K, int C, int flip, int m, float *U);

/* Floats of scratch wino_conv needs. */
size_t wino_conv_floats(const wino_geom *w, int Cin, int Kout);

/* in (n, Cin, ih, iw) (times mask > 0 when mask is not NULL), U -> out (n, Kout, oh, ow)
 * (+ bias, max(0, .) with relu). Forward, and dX with the flipped kernels on padded dy. */
void wino_conv(const wino_geom *w, int Cin, int Kout, const float *U, const float *in, const float *mask,
               int n, int ih, int iw, float *out, int oh, int ow, const float *bias, int relu, float *ws);

/* Floats of scratch wino_dw needs. */
size_t wino_dw_floats(const wino_geom *w, int C, int K);

/* x (n, C, H, W), dy (n, K, Ho, Wo) (times mask > 0 when not NULL): Wt += the transformed
 * dW sums of the micro-batch, db (K) += sum of dy (db may be NULL). Finish with wino_dw_finish. */
void wino_dw(const wino_geom *w, int C, int K, const float *x, int H, int W, const float *dy,
             const float *mask, int n, int Ho, int Wo, float *Wt, float *db, float *ws);

/* dw (K, C, 3, 3) += G^T Wt_ck G for every (k, c). */
void wino_dw_finish(const float *Wt, int K, int C, int m, float *dw);

#endif
