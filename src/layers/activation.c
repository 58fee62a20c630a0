/* activation.c - elementwise activations and softmax over channels; used by the
 * [activation] section and by the `activation =` key of [conv] and [dense]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"

const char *const JC_ACT_NAMES[] = {"linear", "relu", "leaky", "sigmoid", "tanh", "elu", "softmax", NULL};

typedef struct {
  jc_act act;
  float slope; /* leaky: y = slope * x for x <= 0 */
  float alpha; /* elu: y = alpha (e^x - 1) for x <= 0 */
} act_cfg;

static jc_code activation_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  int a;
  double slope, alpha;
  if (strcmp(sec->name, "activation") == 0) JC_TRY(cfg_require(sec, "activation", err));
  JC_TRY(cfg_enum(sec, "activation", "linear", JC_ACT_NAMES, &a, err));
  JC_TRY(cfg_float(sec, "slope", 0.1, 0.0, 1.0, &slope, err));
  JC_TRY(cfg_float(sec, "alpha", 1.0, 0.0, 100.0, &alpha, err));
  act_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  *c = (act_cfg){(jc_act)a, (float)slope, (float)alpha};
  l->cfg = c;
  l->out = l->in;
  l->flops = (double)shape_size(l->in);
  snprintf(l->label, sizeof l->label, "%s", JC_ACT_NAMES[a]);
  return JC_OK;
}

/* softmax over C for every (n, h, w): x, y (n, C, H*W) */
static void softmax_forward(const float *x, float *y, int n, int C, int hw) {
  for (int i = 0; i < n; i++)
    for (int p = 0; p < hw; p++) {
      const float *xi = x + (size_t)i * C * hw + p;
      float *yi = y + (size_t)i * C * hw + p;
      float m = xi[0];
      for (int c = 1; c < C; c++) m = fmaxf(m, xi[(size_t)c * hw]);
      double s = 0.0;
      for (int c = 0; c < C; c++) {
        yi[(size_t)c * hw] = expf(xi[(size_t)c * hw] - m);
        s += yi[(size_t)c * hw];
      }
      float inv = (float)(1.0 / s);
      for (int c = 0; c < C; c++) yi[(size_t)c * hw] *= inv;
    }
}

static void activation_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                               const jc_ctx *ctx) {
  const act_cfg *c = l->cfg;
  size_t total = (size_t)n * shape_size(l->in);
  switch (c->act) {
    case ACT_NONE:
      memcpy(y, x, total * sizeof *y);
      break;
    case ACT_RELU:
      for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case ACT_LEAKY:
      for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : c->slope * x[i];
      break;
    case ACT_SIGMOID:
      for (size_t i = 0; i < total; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
      break;
    case ACT_TANH:
      for (size_t i = 0; i < total; i++) y[i] = tanhf(x[i]);
      break;
    case ACT_ELU:
      for (size_t i = 0; i < total; i++) y[i] = x[i] > 0.0f ? x[i] : c->alpha * expm1f(x[i]);
      break;
    case ACT_SOFTMAX:
      softmax_forward(x, y, n, l->in.c, l->in.h * l->in.w);
      break;
  }
}

static void activation_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                                const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  if (!dx) return;
  const act_cfg *c = l->cfg;
  size_t total = (size_t)n * shape_size(l->in);
  switch (c->act) {
    case ACT_NONE:
      memcpy(dx, dy, total * sizeof *dx);
      break;
    case ACT_RELU:
      for (size_t i = 0; i < total; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
      break;
    case ACT_LEAKY:
      for (size_t i = 0; i < total; i++) dx[i] = x[i] > 0.0f ? dy[i] : c->slope * dy[i];
      break;
    case ACT_SIGMOID:
      for (size_t i = 0; i < total; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      break;
    case ACT_TANH:
      for (size_t i = 0; i < total; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
    case ACT_ELU:
      for (size_t i = 0; i < total; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + c->alpha);
      break;
    case ACT_SOFTMAX: {
      int C = l->in.c, hw = l->in.h * l->in.w;
      for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
          size_t base = (size_t)i * C * hw + p;
          float dot = 0.0f;
          for (int k = 0; k < C; k++) dot += dy[base + (size_t)k * hw] * y[base + (size_t)k * hw];
          for (int k = 0; k < C; k++) {
            size_t j = base + (size_t)k * hw;
            dx[j] = y[j] * (dy[j] - dot);
          }
        }
      break;
    }
  }
}

/* One ONNX node per function; softmax over the channels is Softmax on axis 1 of NCHW
 * (opset 13: over that axis alone). */
static jc_code activation_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                      const char *y, jc_err *err) {
  const act_cfg *c = l->cfg;
  static const char *const OPS[] = {[ACT_NONE] = "Identity", [ACT_RELU] = "Relu",       [ACT_LEAKY] = "LeakyRelu",
                                    [ACT_SIGMOID] = "Sigmoid", [ACT_TANH] = "Tanh",     [ACT_ELU] = "Elu",
                                    [ACT_SOFTMAX] = "Softmax"};
  onnx_node(g, OPS[c->act], x, 1, y);
  if (c->act == ACT_LEAKY) onnx_attr_float(g, "alpha", c->slope);
  if (c->act == ACT_ELU) onnx_attr_float(g, "alpha", c->alpha);
  if (c->act == ACT_SOFTMAX) onnx_attr_int(g, "axis", 1);
  return onnx_status(g, err);
}

static const char *const ACTIVATION_KEYS[] = {"activation", "slope", "alpha", NULL};
const jc_layer_ops jc_activation_ops = {
    .section = "activation",
    .kind = "Activation",
    .keys = ACTIVATION_KEYS,
        .init = activation_init,
    .forward = activation_forward,
    .backward = activation_backward,
    .export_onnx = activation_export_onnx,
};

jc_act activation_kind(const jc_layer *l) {
  return l->ops == &jc_activation_ops ? ((const act_cfg *)l->cfg)->act : ACT_NONE;
}
