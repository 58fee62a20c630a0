/* maxout.c - Maxout with k pieces: channel c' of the output is the maximum of input
 * channels c'k .. c'k+k-1 (PyTorch: x.view(n, C/k, k, H, W).amax(2)); C must divide by k.
 * Put it after a conv/dense whose filters/units are k times the wanted outputs. */
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"

typedef struct {
  int k;
} maxout_cfg;

static jc_code maxout_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  long k;
  JC_TRY(cfg_require(sec, "pieces", err));
  JC_TRY(cfg_int(sec, "pieces", 0, 1, 4096, &k, err));
  if (l->in.c % k != 0)
    return jc_fail(err, JC_ERR_USAGE, "%s: [maxout] pieces = %ld does not divide the %d input channels",
                   cfg_where(sec, "pieces").s, k, l->in.c);
  maxout_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  c->k = (int)k;
  l->cfg = c;
  l->out = (jc_shape){l->in.c / (int)k, l->in.h, l->in.w};
  l->flops = (double)shape_size(l->in);
  snprintf(l->label, sizeof l->label, "%ld pieces", k);
  return JC_OK;
}

/* x (n, C, HW) -> y (n, C/k, HW); returns the winning piece for (i, c', p) */
static int winner(const float *x, int C, int hw, int k, int i, int co, int p) {
  const float *base = x + ((size_t)i * C + (size_t)co * k) * hw + p;
  int best = 0;
  for (int j = 1; j < k; j++)
    if (base[(size_t)j * hw] > base[(size_t)best * hw]) best = j;
  return best;
}

static void maxout_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                           const jc_ctx *ctx) {
  const maxout_cfg *c = l->cfg;
  int C = l->in.c, Co = l->out.c, hw = l->in.h * l->in.w;
  for (int i = 0; i < n; i++)
    for (int co = 0; co < Co; co++)
      for (int p = 0; p < hw; p++) {
        int j = winner(x, C, hw, c->k, i, co, p);
        y[((size_t)i * Co + co) * hw + p] = x[((size_t)i * C + (size_t)co * c->k + j) * hw + p];
      }
}

static void maxout_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                            const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  if (!dx) return;
  const maxout_cfg *c = l->cfg;
  int C = l->in.c, Co = l->out.c, hw = l->in.h * l->in.w;
  memset(dx, 0, (size_t)n * C * hw * sizeof *dx);
  for (int i = 0; i < n; i++)
    for (int co = 0; co < Co; co++)
      for (int p = 0; p < hw; p++) {
        int j = winner(x, C, hw, c->k, i, co, p);
        dx[((size_t)i * C + (size_t)co * c->k + j) * hw + p] = dy[((size_t)i * Co + co) * hw + p];
      }
}

/* (N, C, H, W) -> Reshape (N, C/k, k, H, W) -> ReduceMax over the k pieces -> (N, C/k, H, W). */
static jc_code maxout_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                  const char *y, jc_err *err) {
  const maxout_cfg *c = l->cfg;
  const int64_t shape[5] = {0, l->out.c, c->k, l->in.h, l->in.w}, five = 5;
  const char *sh = onnx_const(g, "shape", ONNX_INT64, shape, &five, 1);
  const char *pieces = onnx_node(g, "Reshape", (const char *[]){x[0], sh}, 2, onnx_tensor(g, "pieces"));
  onnx_node(g, "ReduceMax", (const char *[]){pieces}, 1, y);
  onnx_attr_ints(g, "axes", (const int64_t[]){2}, 1);
  onnx_attr_int(g, "keepdims", 0);
  return onnx_status(g, err);
}

static const char *const MAXOUT_KEYS[] = {"pieces", NULL};
const jc_layer_ops jc_maxout_ops = {
    .section = "maxout",
    .kind = "Maxout",
    .keys = MAXOUT_KEYS,
        .init = maxout_init,
    .forward = maxout_forward,
    .backward = maxout_backward,
    .export_onnx = maxout_export_onnx,
};
