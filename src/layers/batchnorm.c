/* batchnorm.c - batch normalisation over channels: y = gamma_c (x - mu_c) / sqrt(var_c + eps) + beta_c,
 * one (mu, var) per channel c over the n samples and H x W pixels of a micro-batch in
 * training (m = n*H*W values, biased variance: PyTorch's BatchNorm1d/2d), the running
 * statistics in inference. gamma (the kernel, "bn_scale") and beta (the bias, "bn_shift")
 * are trained; the running mean and variance are state (not trained, in checkpoints):
 * after every training micro-batch, in global micro-batch order,
 *   running_mean = (1 - momentum) running_mean + momentum mu
 *   running_var  = (1 - momentum) running_var  + momentum var * m / (m - 1)   (unbiased)
 * as PyTorch does. A micro-batch with one value per channel (m = 1: one jet through a dense
 * layer or after global pooling) normalises to 0, so y = beta and dx = 0, as TensorFlow does
 * (PyTorch refuses it); it leaves the running statistics alone (the unbiased variance of one
 * value is undefined). Never a NaN.
 *
 * The [batchnorm] section, or `batch_normalize = 1` in a [conv] or [dense] section (then the
 * keys are bn_momentum, bn_epsilon and the layer before has no bias). In an inference net
 * (l->affine) the layer is the map y = kernel_c x + bias_c that batchnorm_affine() gives.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/layer.h"
#include "jetcnn/onnx.h"
#include "simd.h"

typedef struct {
  float momentum, eps;
} bn_cfg;

static jc_code batchnorm_init(jc_layer *l, const jc_section *sec, jc_err *err) {
  double momentum, eps;
  /* A norm added by `batch_normalize = 1` reads its keys from that section, with a prefix. */
  JC_TRY(cfg_float(sec, l->fused ? "bn_momentum" : "momentum", 0.1, 0.0, 1.0, &momentum, err));
  JC_TRY(cfg_float(sec, l->fused ? "bn_epsilon" : "epsilon", 1e-5, 1e-30, 1.0, &eps, err));
  bn_cfg *c = malloc(sizeof *c);
  if (!c) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  *c = (bn_cfg){(float)momentum, (float)eps};
  l->cfg = c;
  const size_t C = (size_t)l->in.c;
  l->out = l->in;
  l->n_kernel = C;
  l->n_bias = C;
  l->kernel_ndims = 1;
  l->kernel_shape[0] = (int)C;
  l->fan_in = 1;
  if (!l->affine) l->n_state = l->n_stats = 2 * C; /* running mean, var; batch mean, unbiased var */
  l->ws_fixed = 2 * C;                             /* the inference map a, b */
  if (!l->affine) l->ws_saved = 2 * C;             /* the micro-batch's mean and 1/sqrt(var + eps) */
  l->flops = 2.0 * (double)shape_size(l->in);
  snprintf(l->label, sizeof l->label, "batchnorm");
  return JC_OK;
}

/* The kernels below work on one plane (one sample's hw values of a channel) at a time, in VL
 * lanes and then the lanes, in a fixed order: the same bits on every thread, forward and
 * backward alike. Sums are accumulated in double lanes (the gradient sums cancel: the shift's
 * gradient is a sum of terms of both signs), planes are summed in double. */
typedef float vh __attribute__((vector_size(VL / 2 * sizeof(float))));
typedef double vd __attribute__((vector_size(VL / 2 * sizeof(double))));

static inline double dlanes_sum(vd v) {
  double s = 0.0;
  for (int j = 0; j < VL / 2; j++) s += v[j];
  return s;
}

/* acc += the VL floats of v, in double: lanes 0..VL/2-1 into lo, the others into hi */
static inline void dacc(vf v, vd *lo, vd *hi) {
  vh a, b;
  memcpy(&a, &v, sizeof a);
  memcpy(&b, (const char *)&v + sizeof a, sizeof b);
  *lo += __builtin_convertvector(a, vd);
  *hi += __builtin_convertvector(b, vd);
}

/* sum of p[0..hw) and of its squares, in double lanes (one pass) */
static void plane_moments(const float *p, int hw, double *s1, double *s2) {
  vd a0 = {0}, a1 = {0}, q0 = {0}, q1 = {0};
  int j = 0;
  for (; j + VL <= hw; j += VL) {
    vf v = vload(p + j);
    vh lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    const vd dl = __builtin_convertvector(lo, vd), dh = __builtin_convertvector(hi, vd);
    a0 += dl;
    a1 += dh;
    q0 += dl * dl; /* float squares are exact in double */
    q1 += dh * dh;
  }
  double t1 = dlanes_sum(a0) + dlanes_sum(a1), t2 = dlanes_sum(q0) + dlanes_sum(q1);
  for (; j < hw; j++) {
    t1 += p[j];
    t2 += (double)p[j] * p[j];
  }
  *s1 += t1;
  *s2 += t2;
}

/* q = (p - mu) s + t, max(0, .) with relu */
static void plane_apply(const float *p, float *q, int hw, float mu, float s, float t, int relu) {
  const vf m = vsplat(mu), sv = vsplat(s), tv = vsplat(t), zero = {0};
  int j = 0;
  for (; j + VL <= hw; j += VL) {
    vf v = (vload(p + j) - m) * sv + tv;
    if (relu) v = (vf)((vi)v & (v > zero));
    memcpy(q + j, &v, sizeof v);
  }
  for (; j < hw; j++) {
    float v = (p[j] - mu) * s + t;
    q[j] = relu && !(v > 0.0f) ? 0.0f : v;
  }
}

/* g = dy (masked by y > 0 with relu), xhat = (x - mu) inv: sums of g and of g xhat */
static void plane_grad_sums(const float *dy, const float *y, const float *x, int hw, float mu, float inv, int relu,
                            double *sg, double *sgx) {
  const vf m = vsplat(mu), iv = vsplat(inv), zero = {0};
  vd a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
  int j = 0;
  for (; j + VL <= hw; j += VL) {
    vf g = vload(dy + j);
    if (relu) g = (vf)((vi)g & (vload(y + j) > zero));
    dacc(g, &a0, &a1);
    dacc(g * ((vload(x + j) - m) * iv), &b0, &b1);
  }
  double ta = dlanes_sum(a0) + dlanes_sum(a1), tb = dlanes_sum(b0) + dlanes_sum(b1);
  for (; j < hw; j++) {
    float g = relu && !(y[j] > 0.0f) ? 0.0f : dy[j];
    ta += g;
    tb += g * ((x[j] - mu) * inv);
  }
  *sg += ta;
  *sgx += tb;
}

/* dx = s g + t xhat + u with g and xhat as in plane_grad_sums */
static void plane_dx(const float *dy, const float *y, const float *x, float *dx, int hw, float mu, float inv, int relu,
                     float s, float t, float u) {
  const vf m = vsplat(mu), iv = vsplat(inv), sv = vsplat(s), tv = vsplat(t), uv = vsplat(u), zero = {0};
  int j = 0;
  for (; j + VL <= hw; j += VL) {
    vf g = vload(dy + j);
    if (relu) g = (vf)((vi)g & (vload(y + j) > zero));
    vf v = sv * g + tv * ((vload(x + j) - m) * iv) + uv;
    memcpy(dx + j, &v, sizeof v);
  }
  for (; j < hw; j++) {
    float g = relu && !(y[j] > 0.0f) ? 0.0f : dy[j];
    dx[j] = s * g + t * ((x[j] - mu) * inv) + u;
  }
}

/* mean[c] and inv[c] = 1/sqrt(var + eps) of x (n, C, hw) over m = n*hw >= 2 values (biased
 * variance), one pass: var = (sum x^2 - (sum x)^2 / m) / m in double (exact squares; the
 * cancellation costs digits only when |mean| exceeds the spread a thousandfold), at least 0.
 * With uvar, also the unbiased variance var m/(m-1). */
static void batch_stats(const float *x, int n, int C, int hw, float eps, float *mean, float *inv, float *uvar) {
  const double m = (double)n * hw;
  for (int c = 0; c < C; c++) {
    double s1 = 0.0, s2 = 0.0;
    for (int i = 0; i < n; i++) plane_moments(x + ((size_t)i * C + c) * hw, hw, &s1, &s2);
    double q = s2 - s1 * s1 / m;
    if (!(q > 0.0)) q = 0.0;
    mean[c] = (float)(s1 / m);
    inv[c] = (float)(1.0 / sqrt(q / m + eps));
    if (uvar) uvar[c] = (float)(q / (m - 1.0));
  }
}

/* Running mean and 1/sqrt(running var + eps) of channel k; without state (ctx->state NULL)
 * the initial statistics, mean 0 and variance 1. */
static void running(const jc_layer *l, const float *state, int k, float *mu, float *inv) {
  const bn_cfg *c = l->cfg;
  const float *rm = state ? state + l->state_offset : NULL;
  *mu = rm ? rm[k] : 0.0f;
  *inv = (float)(1.0 / sqrt((rm ? (double)rm[l->in.c + k] : 1.0) + c->eps));
}

/* The inference map of the layer: a = gamma / sqrt(running_var + eps), b = beta - running_mean a. */
static void batchnorm_affine(const jc_layer *l, const float *params, const float *state, float *a, float *b) {
  const int C = l->in.c;
  const float *gamma = params + l->offset, *beta = gamma + C;
  for (int k = 0; k < C; k++) {
    float mu, inv;
    running(l, state, k, &mu, &inv);
    a[k] = gamma[k] * inv;
    b[k] = beta[k] - mu * a[k];
  }
}

/* y = a_c x + b_c (max(0, .) with relu). x, y (n, C, hw) */
static void apply_affine(const float *x, float *y, int n, int C, int hw, const float *a, const float *b, int relu) {
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      plane_apply(x + ((size_t)i * C + c) * hw, y + ((size_t)i * C + c) * hw, hw, 0.0f, a[c], b[c], relu);
}

/* x (n, C, H, W) -> y (n, C, H, W) */
static void batchnorm_forward(const jc_layer *l, const float *params, const float *x, float *y, int n,
                              const jc_ctx *ctx) {
  const bn_cfg *c = l->cfg;
  const int C = l->in.c, hw = l->in.h * l->in.w;
  const float *gamma = params + l->offset, *beta = gamma + C;
  float *a = ctx->ws, *b = a + C;
  const long m = (long)n * hw;
  float *stats = ctx->training && !l->affine && ctx->batch_stats ? ctx->batch_stats + l->stats_offset : NULL;
  if (l->affine) { /* an inference net: the folded map is the kernel and bias */
    apply_affine(x, y, n, C, hw, gamma, beta, l->relu_out);
  } else if (!ctx->training) {
    batchnorm_affine(l, params, ctx->state, a, b);
    apply_affine(x, y, n, C, hw, a, b, l->relu_out);
  } else if (m < 2) { /* one value per channel: x - mu = 0, y = beta */
    for (int k = 0; k < C; k++) {
      a[k] = 0.0f;
      if (stats) stats[k] = x[k], stats[C + k] = 0.0f;
    }
    apply_affine(x, y, n, C, hw, a, beta, l->relu_out);
  } else { /* the statistics stay in ctx->saved for backward */
    float *mean = ctx->saved, *inv = mean + C;
    batch_stats(x, n, C, hw, c->eps, mean, inv, stats ? stats + C : NULL);
    if (stats) memcpy(stats, mean, (size_t)C * sizeof *stats);
    for (int i = 0; i < n; i++)
      for (int k = 0; k < C; k++)
        plane_apply(x + ((size_t)i * C + k) * hw, y + ((size_t)i * C + k) * hw, hw, mean[k], inv[k] * gamma[k], beta[k],
                    l->relu_out);
  }
}

/* With g = dL/dy (masked by y > 0 with relu_out) and xhat = (x - mu) inv, every mode is
 *   dgamma += sum g xhat, dbeta += sum g, dx = s g + t xhat + u:
 *   training        mu, inv of the micro-batch, s = gamma inv, t = -s dgamma/m, u = -s dbeta/m
 *   training, m = 1 xhat = 0 (mu = x, inv = 0), s = t = u = 0
 *   inference       mu, inv of the running statistics, s = gamma inv, t = u = 0
 *   affine          xhat = x (mu = 0, inv = 1), s = kernel, t = u = 0
 * (sums over the micro-batch's n*hw values of the channel, in double). */
static void batchnorm_backward(const jc_layer *l, const float *params, const float *x, const float *y,
                               const float *dy, float *dx, float *grads, int n, const jc_ctx *ctx) {
  const int C = l->in.c, hw = l->in.h * l->in.w;
  const long m = (long)n * hw;
  const float *gamma = params + l->offset;
  float *dgamma = grads + l->offset, *dbeta = dgamma + C;
  const float *mean = ctx->saved, *invs = mean + C; /* as this micro-batch's forward computed them */
  const int batch = ctx->training && !l->affine;
  for (int k = 0; k < C; k++) {
    float mu = 0.0f, inv = 1.0f, s = gamma[k];
    if (batch && m >= 2) mu = mean[k], inv = invs[k], s = gamma[k] * inv;
    else if (batch) mu = x[k], inv = 0.0f, s = 0.0f;
    else if (!l->affine) running(l, ctx->state, k, &mu, &inv), s = gamma[k] * inv;
    double sg = 0.0, sgx = 0.0;
    for (int i = 0; i < n; i++) {
      const size_t base = ((size_t)i * C + k) * hw;
      plane_grad_sums(dy + base, y + base, x + base, hw, mu, inv, l->relu_out, &sg, &sgx);
    }
    dbeta[k] += (float)sg;
    dgamma[k] += (float)sgx;
    if (!dx) continue;
    const float t = batch ? (float)(-(double)s * sgx / (double)m) : 0.0f;
    const float u = batch ? (float)(-(double)s * sg / (double)m) : 0.0f;
    for (int i = 0; i < n; i++) {
      const size_t base = ((size_t)i * C + k) * hw;
      plane_dx(dy + base, y + base, x + base, dx + base, hw, mu, inv, l->relu_out, s, t, u);
    }
  }
}

static void batchnorm_init_params(const jc_layer *l, float *params) {
  for (int k = 0; k < l->in.c; k++) {
    params[l->offset + (size_t)k] = 1.0f;         /* gamma */
    params[l->offset + (size_t)(l->in.c + k)] = 0.0f; /* beta */
  }
}

static void batchnorm_init_state(const jc_layer *l, float *state) {
  for (int k = 0; k < l->in.c; k++) {
    state[l->state_offset + (size_t)k] = 0.0f;
    state[l->state_offset + (size_t)(l->in.c + k)] = 1.0f;
  }
}

static void batchnorm_update_state(const jc_layer *l, float *state, const float *stats, int n) {
  const bn_cfg *c = l->cfg;
  const int C = l->in.c;
  if ((long)n * l->in.h * l->in.w < 2) return; /* one value per channel: no unbiased variance */
  float *rm = state + l->state_offset, *rv = rm + C;
  const float *mean = stats + l->stats_offset, *var = mean + C;
  for (int k = 0; k < C; k++) {
    rm[k] = (1.0f - c->momentum) * rm[k] + c->momentum * mean[k];
    rv[k] = (1.0f - c->momentum) * rv[k] + c->momentum * var[k];
  }
}

/* The inference map as Mul and Add with (C, 1, 1) constants; nothing (Identity) when folded
 * into the layer before (skip). Only inference nets (affine) can be exported: a training
 * net's batch norm has its statistics in the state, not in params. */
static jc_code batchnorm_export_onnx(const jc_layer *l, const float *params, jc_onnx_graph *g, const char *const *x,
                                     const char *y, jc_err *err) {
  if (!l->affine)
    return jc_fail(err, JC_ERR_USAGE, "batch norm is exported from the inference net (net_create_inference)");
  if (l->skip) {
    onnx_node(g, "Identity", x, 1, y);
    return onnx_status(g, err);
  }
  const int64_t dims[3] = {l->in.c, 1, 1};
  const char *a = onnx_const(g, "scale", ONNX_FLOAT, params + l->offset, dims, 3);
  const char *b = onnx_const(g, "shift", ONNX_FLOAT, params + l->offset + l->n_kernel, dims, 3);
  const char *ax = onnx_node(g, "Mul", (const char *[]){x[0], a}, 2, onnx_tensor(g, "scaled"));
  onnx_node(g, "Add", (const char *[]){ax, b}, 2, y);
  return onnx_status(g, err);
}

static const char *const BN_KEYS[] = {"momentum", "epsilon", NULL};
static const char *const BN_STATE[] = {"bn_running_mean", "bn_running_var", NULL};
const jc_layer_ops jc_batchnorm_ops = {
    .section = "batchnorm",
    .kind = "BatchNormalization",
    .keys = BN_KEYS,
    .flags = LAYER_TAKES_ACTIVATION | LAYER_FUSES_RELU | LAYER_AFFINE_AT_INFERENCE,
    .kernel_name = "bn_scale",
    .bias_name = "bn_shift",
    .state_names = BN_STATE,
    .init = batchnorm_init,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .init_params = batchnorm_init_params,
    .init_state = batchnorm_init_state,
    .update_state = batchnorm_update_state,
    .affine = batchnorm_affine,
    .export_onnx = batchnorm_export_onnx,
};
