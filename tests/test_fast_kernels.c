/* test_fast_kernels.c - the fast paths of conv.c and pool.c against naive loop nests.
 *
 * Conv: the direct correlation path (stride 1; all of it for <= 16 filters, forward and dX
 * on larger images otherwise) and the im2col path, mixed as conv_init chooses, with and
 * without the fused ReLU (relu_out), on odd, non-square shapes and filter counts that use
 * every register tile (8 + 4 + 1), every kind of padding: forward, dX, dW, db within 1e-5
 * relative (double-precision loops). The Winograd path (3x3, >= 16 channels in and out) the
 * same way, on rows wider than a vector, odd channel counts and several samples a chunk.
 * Max pooling 2x2/2: inputs full of ties (values from {-1, 0, 1}) and NaNs; the pooled value
 * and the routed gradient must equal, bit for bit, the rule "first maximum in row-major
 * order wins, the first NaN propagates" (PyTorch's), on widths below, at and above one
 * vector of windows; after a fused ReLU (relu_in) also "no gradient to a maximum <= 0". The conv comparison is also run on a perturbed gradient to prove it
 * can fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/config.h"
#include "jetcnn/layer.h"
#include "jetcnn/rng.h"

static int failures = 0;

#define CHECK(cond, ...)              \
  do {                                \
    if (!(cond)) {                    \
      failures++;                     \
      fprintf(stderr, "FAIL: " __VA_ARGS__); \
      fprintf(stderr, "\n");          \
    }                                 \
  } while (0)

/* One layer built from a config section: in shape from [net] input. Caller frees. */
typedef struct {
  jc_config *cfg;
  jc_layer l;
} one_layer;

static int make_layer(const char *text, one_layer *o) {
  jc_err err;
  jc_err_clear(&err);
  memset(o, 0, sizeof *o);
  if (config_parse_text(text, "test", &o->cfg, &err) != JC_OK) {
    fprintf(stderr, "config: %s\n", err.msg);
    return -1;
  }
  const jc_section *sec = &o->cfg->sec[1];
  long h = 0, w = 0, c = 0;
  if (sscanf(cfg_str(config_net(o->cfg), "input", ""), "%ldx%ldx%ld", &h, &w, &c) != 3) return -1;
  o->l.in = (jc_shape){(int)c, (int)h, (int)w};
  o->l.ops = layer_ops_for(sec->name);
  o->l.path = "test";
  if (!o->l.ops || o->l.ops->init(&o->l, sec, &err) != JC_OK) {
    fprintf(stderr, "init: %s\n", err.msg);
    return -1;
  }
  return 0;
}

static void free_layer(one_layer *o) {
  free(o->l.cfg);
  config_free(&o->cfg);
}

static double max_rel(const float *got, const double *ref, size_t n) {
  double scale = 0.0, diff = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    double d = fabs((double)got[i] - ref[i]);
    if (!(d <= diff)) diff = d; /* NaN counts as the worst */
  }
  return diff / (scale > 1.0 ? scale : 1.0);
}

/* Conv K filters FxF on C x H x W, `pad` as in the config; n samples. relu: with the ReLU
 * fused into the layer (relu_out): y = max(0, z), dy masked by the layer's own y > 0 (a
 * mask taken from the double-precision z could differ where z is within rounding of 0). */
static void check_conv(int C, int H, int W, int K, int F, const char *pad, int n, int relu) {
  char text[512];
  snprintf(text, sizeof text, "[net]\ninput = %dx%dx%d\nbatch = 1\n[conv]\nfilters = %d\nsize = %d\npad = %s\n", H, W,
           C, K, F, pad);
  one_layer o;
  if (make_layer(text, &o) != 0) {
    CHECK(0, "conv C%d %dx%d K%d F%d pad %s: cannot build", C, H, W, K, F, pad);
    return;
  }
  o.l.relu_out = relu;
  const jc_layer *l = &o.l;
  const int Ho = l->out.h, Wo = l->out.w;
  /* pad_top/left: same puts the smaller half first; an integer pads both sides */
  int pt, pl;
  if (strcmp(pad, "same") == 0) {
    pt = ((Ho - 1) + F - H) / 2;
    pl = ((Wo - 1) + F - W) / 2;
    if (pt < 0) pt = 0;
    if (pl < 0) pl = 0;
  } else if (strcmp(pad, "valid") == 0) {
    pt = pl = 0;
  } else {
    pt = pl = atoi(pad);
  }
  const size_t nin = (size_t)n * shape_size(l->in), nout = (size_t)n * shape_size(l->out);
  const size_t np = l->n_kernel + l->n_bias;
  float *params = malloc(np * sizeof *params), *grads = calloc(np, sizeof *grads);
  float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y), *dy = malloc(nout * sizeof *dy);
  float *dx = malloc(nin * sizeof *dx), *ws = malloc((layer_ws_floats(l, n) + 1) * sizeof *ws);
  double *ry = calloc(nout, sizeof *ry), *rdx = calloc(nin, sizeof *rdx), *rg = calloc(np, sizeof *rg);
  jc_rng r = rng_stream((uint64_t)(C * 1000 + K * 10 + F));
  for (size_t i = 0; i < np; i++) params[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
  for (size_t i = 0; i < nin; i++) x[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
  for (size_t i = 0; i < nout; i++) dy[i] = (float)(2.0 * rng_uniform(&r) - 1.0);
  const float *w = params, *b = params + l->n_kernel;
  jc_ctx ctx = {.ws = ws};
  l->ops->forward(l, params, x, y, n, &ctx);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < K; k++)
      for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
          size_t yi = (((size_t)i * K + k) * Ho + oy) * Wo + ox;
          const double dz = relu && !(y[yi] > 0.0f) ? 0.0 : dy[yi];
          double s = b[k];
          for (int c = 0; c < C; c++)
            for (int fy = 0; fy < F; fy++)
              for (int fx = 0; fx < F; fx++) {
                int iy = oy + fy - pt, ix = ox + fx - pl;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                size_t xi = (((size_t)i * C + c) * H + iy) * W + ix, wi = (((size_t)k * C + c) * F + fy) * F + fx;
                s += (double)w[wi] * x[xi];
                rdx[xi] += (double)w[wi] * dz;
                rg[wi] += (double)x[xi] * dz;
              }
          ry[yi] = relu && !(s > 0.0) ? 0.0 : s;
          rg[l->n_kernel + (size_t)k] += dz;
        }
  l->ops->backward(l, params, x, y, dy, dx, grads, n, &ctx);
  double ey = max_rel(y, ry, nout), edx = max_rel(dx, rdx, nin), eg = max_rel(grads, rg, np);
  CHECK(ey < 1e-5 && edx < 1e-5 && eg < 1e-5,
        "conv C%d %dx%d K%d F%d pad %s n%d%s: rel err y %.2g dx %.2g dw,db %.2g", C, H, W, K, F, pad, n,
        relu ? " relu" : "", ey, edx, eg);
  grads[np / 2] += 1e-2f; /* the comparison itself must be able to fail */
  CHECK(max_rel(grads, rg, np) > 1e-5, "conv check cannot fail");
  free(params), free(grads), free(x), free(y), free(dy), free(dx), free(ws), free(ry), free(rdx), free(rg);
  free_layer(&o);
}

/* Maxpool 2x2/2 on C x H x W with ties and NaNs: exact value and gradient routing; with
 * relu_in (after a fused ReLU) no gradient to maxima <= 0 or NaN. */
static void check_maxpool(int C, int H, int W, int with_nan, int relu_in) {
  char text[256];
  snprintf(text, sizeof text, "[net]\ninput = %dx%dx%d\nbatch = 1\n[maxpool]\nsize = 2\n", H, W, C);
  one_layer o;
  if (make_layer(text, &o) != 0) {
    CHECK(0, "maxpool %dx%dx%d: cannot build", H, W, C);
    return;
  }
  o.l.relu_in = relu_in;
  const jc_layer *l = &o.l;
  const int Ho = l->out.h, Wo = l->out.w, n = 2;
  const size_t nin = (size_t)n * shape_size(l->in), nout = (size_t)n * shape_size(l->out);
  float *x = malloc(nin * sizeof *x), *y = malloc(nout * sizeof *y), *dy = malloc(nout * sizeof *dy);
  float *dx = malloc(nin * sizeof *dx), *ry = malloc(nout * sizeof *ry), *rdx = calloc(nin, sizeof *rdx);
  jc_rng r = rng_stream((uint64_t)(H * 100 + W + with_nan));
  for (size_t i = 0; i < nin; i++) {
    x[i] = (float)((int)(rng_next(&r) % 3) - 1); /* -1, 0, 1: many ties */
    if (x[i] == 0.0f && rng_next(&r) % 2) x[i] = -0.0f;
    if (with_nan && rng_next(&r) % 17 == 0) x[i] = NAN;
  }
  for (size_t i = 0; i < nout; i++) dy[i] = (float)(i + 1);
  for (int q = 0; q < n * C; q++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        const float *p = x + (size_t)q * H * W;
        int best = -1;
        for (int j = 0; j < 4; j++) {
          int at = (2 * oy + j / 2) * W + 2 * ox + j % 2;
          if (best < 0 || p[at] > p[best] || (isnan(p[at]) && !isnan(p[best]))) best = at;
        }
        size_t yi = ((size_t)q * Ho + oy) * Wo + ox;
        ry[yi] = p[best];
        if (!relu_in || p[best] > 0.0f) rdx[(size_t)q * H * W + (size_t)best] += dy[yi];
      }
  jc_ctx ctx = {0};
  l->ops->forward(l, NULL, x, y, n, &ctx);
  l->ops->backward(l, NULL, x, y, dy, dx, NULL, n, &ctx);
  int same_y = 1, same_dx = 1;
  for (size_t i = 0; i < nout; i++)
    same_y &= isnan(ry[i]) ? isnan(y[i]) : memcmp(&y[i], &ry[i], sizeof y[i]) == 0;
  for (size_t i = 0; i < nin; i++) same_dx &= memcmp(&dx[i], &rdx[i], sizeof dx[i]) == 0;
  CHECK(same_y && same_dx, "maxpool 2x2 on %dx%dx%d%s%s: value %s, gradient %s", H, W, C, with_nan ? " with NaN" : "",
        relu_in ? " after a ReLU" : "", same_y ? "ok" : "DIFFERS", same_dx ? "ok" : "DIFFERS");
  free(x), free(y), free(dy), free(dx), free(ry), free(rdx);
  free_layer(&o);
}

int main(void) {
  static const char *const pads[] = {"valid", "same", "1", "2"};
  const int shapes[][2] = {{7, 9}, {13, 13}, {40, 40}, {5, 37}};
  for (int s = 0; s < 4; s++)
    for (int p = 0; p < 4; p++) {
      int H = shapes[s][0], W = shapes[s][1];
      for (int relu = 0; relu < 2; relu++) {
        check_conv(1, H, W, 8, 4, pads[p], 2, relu);  /* DeepTop's first layer: direct, one 8-tile */
        check_conv(5, H, W, 13, 4, pads[p], 3, relu); /* direct: tiles of 8 + 4 + 1, F = 4 dW tiles */
        check_conv(3, H, W, 7, 3, pads[p], 2, relu);  /* direct: 4 + 1 + 1 + 1, F = 3 */
        /* dW (and small images) im2col from the grid + sgemm, dX direct */
        check_conv(2, H, W, 24, 3, pads[p], 2, relu);
        check_conv(8, H, W, 20, 3, pads[p], 2, relu); /* >= 64 taps: forward direct too when >= 100 pixels */
        if (H >= 5 && W >= 5) check_conv(2, H, W, 3, 5, pads[p], 2, relu); /* direct, F = 5: dW 4 + 1 */
      }
    }
  /* Winograd F(2x2, 3x3) (3x3, >= 16 channels in and out): odd and even outputs, every
   * padding, channel counts that are not whole vectors, rows wider than one vector, chunks of
   * several samples and micro-batches of 1 */
  for (int p = 0; p < 4; p++)
    for (int relu = 0; relu < 2; relu++) {
      check_conv(32, 15, 15, 64, 3, pads[p], 3, relu); /* the lecture's 32 -> 64 conv */
      check_conv(17, 7, 9, 21, 3, pads[p], 2, relu);
      check_conv(16, 6, 6, 16, 3, pads[p], 1, relu);
      check_conv(16, 5, 37, 25, 3, pads[p], 2, relu);
      check_conv(19, 40, 40, 16, 3, pads[p], 1, relu);
    }
  check_conv(64, 6, 6, 64, 3, "valid", 5, 1); /* the lecture's last conv: 4x4 output, 5 samples a chunk */
  check_conv(16, 4, 4, 17, 3, "same", 17, 1); /* 16 samples a chunk, then 1 */
  check_conv(40, 9, 7, 70, 3, "same", 3, 1); /* filters in blocks of 4 + 1 vectors, dX's 2 + 1 */
  check_conv(8, 6, 6, 24, 3, "valid", 3, 1);  /* 4x4 output with im2col: runs of 4 */
  check_conv(2, 9, 9, 4, 2, "3", 1, 0);       /* padding >= F: the im2col path */
  check_conv(2, 9, 9, 4, 2, "3", 2, 1);
  const int pools[][2] = {{4, 4}, {7, 9}, {30, 30}, {13, 13}, {40, 40}, {6, 70}};
  for (int s = 0; s < 6; s++)
    for (int nan = 0; nan < 2; nan++)
      for (int relu_in = 0; relu_in < 2; relu_in++) check_maxpool(3, pools[s][0], pools[s][1], nan, relu_in);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("ok: conv direct and im2col paths, maxpool 2x2 fast path\n");
  return failures ? 1 : 0;
}
