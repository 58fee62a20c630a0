/* dropout.c - inverted dropout: in training each element is zeroed with probability
 * `rate` and the survivors scaled by 1/(1 - rate); identity at inference. The mask is a
 * pure function of (seed, step, global sample index, layer, element), so it does not
 * depend on the rank or thread that computes the sample and backward can recompute it. */
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"
#include "jetcnn/rng.h"

typedef struct {
  float rate;
} dropout_cfg;

static jc_code dropout_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  double rate;
  JC_TRY(cfg_require(sec, "rate", err));
  JC_TRY(cfg_float(sec, "rate", 0.0, 0.0, 0.95, &rate, err));
  dropout_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  c->rate = (float)rate;
  l->cfg = c;
  l->out = l->in;
  snprintf(l->label, sizeof l->label, "rate %.2f", rate);
  return JC_OK;
}

/* Scale factor of element e of sample `sample`: 0 or 1/(1-rate). */
static float keep_scale(const jc_layer *l, const jc_ctx *ctx, uint64_t sample, size_t e, float rate) {
  uint64_t key = rng_mix(ctx->seed ^ rng_mix(ctx->step * 1000003ULL + (uint64_t)l->index));
  double u = rng_unit(rng_at(key ^ rng_mix(sample), e));
  return u < rate ? 0.0f : 1.0f / (1.0f - rate);
}

static void dropout_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                            const jc_ctx *ctx) {
  const dropout_cfg *c = l->cfg;
  size_t per = shape_size(l->in);
  if (!ctx->training || c->rate == 0.0f) {
    memcpy(y, x, (size_t)n * per * sizeof *y);
    return;
  }
  for (int i = 0; i < n; i++)
    for (size_t e = 0; e < per; e++)
      y[(size_t)i * per + e] = x[(size_t)i * per + e] * keep_scale(l, ctx, ctx->first_sample + (uint64_t)i, e, c->rate);
}

static void dropout_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                             const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  if (!dx) return;
  const dropout_cfg *c = l->cfg;
  size_t per = shape_size(l->in);
  if (!ctx->training || c->rate == 0.0f) {
    memcpy(dx, dy, (size_t)n * per * sizeof *dx);
    return;
  }
  for (int i = 0; i < n; i++)
    for (size_t e = 0; e < per; e++)
      dx[(size_t)i * per + e] = dy[(size_t)i * per + e] * keep_scale(l, ctx, ctx->first_sample + (uint64_t)i, e, c->rate);
}

/* Inference: the identity. */
static jc_code dropout_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                   const char *y, jc_err *err) {
  onnx_node(g, "Identity", x, 1, y);
  return onnx_status(g, err);
}

static const char *const DROPOUT_KEYS[] = {"rate", NULL};
const jc_layer_ops jc_dropout_ops = {
    .section = "dropout",
    .kind = "Dropout",
    .keys = DROPOUT_KEYS,
        .init = dropout_init,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .export_onnx = dropout_export_onnx,
};
