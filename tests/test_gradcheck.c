/* test_gradcheck.c - central finite-difference gradient checks of every layer kind and
 * both losses, through nets built from config text as `jetcnn train` builds them.
 *
 * For each case the objective is a scalar of the logits: a fixed random probe
 * L = sum_j r_j y_j (double), or the summed loss of the net's head on random labels.
 * Every parameter and every input pixel v is moved to the float32 values next to v +- EPS
 * (a smaller step for the deep batch-norm net, whose curvature makes the O(EPS^2) error of
 * the central difference reach TOL at 1e-2: it scales as EPS^2 there, 5.7e-4 -> 1.4e-4 at 5e-3)
 * and  num = (L(v+) - L(v-)) / (v+ - v-),  accumulated in double; backward's gradient g
 * must satisfy |g - num| <= TOL * max(1, |num|).
 * Kinks are kept out of reach of EPS: inputs of ReLU/leaky/ELU are at least 0.1 from 0,
 * inputs of max pooling and maxout are distinct values at least 0.05 apart.
 *
 * Each check must also be able to fail: it is run again with one parameter gradient and
 * one input gradient perturbed by 10 * TOL * max(1, |g|) (what a slightly wrong backward
 * would give), and must then report a failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/loss.h"
#include "jetcnn/net.h"
#include "plain_net.h"

#define EPS 1e-2
#define TOL 5e-4

typedef enum { INPUT_AWAY_FROM_ZERO, INPUT_DISTINCT } input_kind;
typedef enum { OBJ_PROBE, OBJ_LOSS } objective;

typedef struct {
  const char *name;
  const char *config; /* layer sections; the [net] section is added from input and n */
  const char *input;  /* H x W x C */
  int n;              /* samples */
  input_kind inputs;
  objective obj;
  int training;       /* dropout active, batch norm over the micro-batch */
  double eps;         /* finite-difference step (0: EPS) */
} gc_case;

static const gc_case CASES[] = {
    /* Convolution: strides > 1, numeric padding, `same` with an even kernel (odd total
     * padding, extra at bottom/right), several channels and filters, odd sizes, 1x1. */
    {"conv F3 S2 P1 C3 K4 7x9", "[conv]\nfilters = 4\nsize = 3\nstride = 2\npad = 1\n[flatten]\n", "7x9x3", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F4 same S1 C2 K3 5x6", "[conv]\nfilters = 3\nsize = 4\npad = same\n[flatten]\n", "5x6x2", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F4 same S3 C2 K2 7x8", "[conv]\nfilters = 2\nsize = 4\nstride = 3\npad = same\n[flatten]\n", "7x8x2", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F5 S3 P2 C1 K3 9x7", "[conv]\nfilters = 3\nsize = 5\nstride = 3\npad = 2\n[flatten]\n", "9x7x1", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F2 valid C2 K3 6x5", "[conv]\nfilters = 3\nsize = 2\npad = valid\n[flatten]\n", "6x5x2", 3,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F1 S1 C3 K2 4x5", "[conv]\nfilters = 2\nsize = 1\n[flatten]\n", "4x5x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F1 S2 C3 K2 5x5", "[conv]\nfilters = 2\nsize = 1\nstride = 2\n[flatten]\n", "5x5x3", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    /* Pooling: stride != size, padding, odd sizes. */
    {"maxpool F3 S2 P1 7x7", "[maxpool]\nsize = 3\nstride = 2\npad = 1\n[flatten]\n", "7x7x2", 2, INPUT_DISTINCT,
     OBJ_PROBE, 0, 0},
    {"maxpool F2 S1 5x6", "[maxpool]\nsize = 2\nstride = 1\n[flatten]\n", "5x6x2", 2, INPUT_DISTINCT, OBJ_PROBE, 0, 0},
    {"maxpool F4 S3 P2 8x7", "[maxpool]\nsize = 4\nstride = 3\npad = 2\n[flatten]\n", "8x7x1", 2, INPUT_DISTINCT,
     OBJ_PROBE, 0, 0},
    {"avgpool F3 S2 P1 7x9", "[avgpool]\nsize = 3\nstride = 2\npad = 1\n[flatten]\n", "7x9x2", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"avgpool F2 6x5", "[avgpool]\nsize = 2\n[flatten]\n", "6x5x1", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"avgpool F3 S1 P1 5x5", "[avgpool]\nsize = 3\nstride = 1\npad = 1\n[flatten]\n", "5x5x2", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    /* Dense (on an image: NCHW flattening) and flatten. */
    {"dense on image", "[dense]\nunits = 5\n", "3x4x2", 3, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"flatten + dense", "[flatten]\n[dense]\nunits = 4\n", "3x3x2", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    /* Every activation. */
    {"relu", "[activation]\nactivation = relu\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"leaky", "[activation]\nactivation = leaky\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"leaky slope 0.25", "[activation]\nactivation = leaky\nslope = 0.25\n[flatten]\n", "3x4x3", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"sigmoid", "[activation]\nactivation = sigmoid\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"tanh", "[activation]\nactivation = tanh\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"elu", "[activation]\nactivation = elu\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"elu alpha 0.5", "[activation]\nactivation = elu\nalpha = 0.5\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO,
     OBJ_PROBE, 0, 0},
    {"softmax over channels", "[activation]\nactivation = softmax\n[flatten]\n", "3x4x3", 2, INPUT_AWAY_FROM_ZERO,
     OBJ_PROBE, 0, 0},
    {"dense + softmax", "[dense]\nunits = 5\nactivation = softmax\n[flatten]\n", "2x2x2", 2, INPUT_AWAY_FROM_ZERO,
     OBJ_PROBE, 0, 0},
    {"maxout 3 pieces", "[maxout]\npieces = 3\n[flatten]\n", "3x2x6", 2, INPUT_DISTINCT, OBJ_PROBE, 0, 0},
    {"dropout 0.3 training", "[dropout]\nrate = 0.3\n[flatten]\n", "4x4x2", 3, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 1, 0},
    /* Batch norm: over the micro-batch in training (conv: n*H*W values per channel, dense: n),
     * with the running statistics in inference, and with one value per channel (y = shift,
     * dx = 0: the input gradient then flows through the shortcut alone). */
    {"conv + batch_normalize, training", "[conv]\nfilters = 3\nsize = 3\npad = same\nbatch_normalize = 1\n[flatten]\n",
     "5x6x2", 3, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 1, 0},
    {"[batchnorm] + tanh, training", "[batchnorm]\nactivation = tanh\n[flatten]\n", "4x5x3", 2, INPUT_AWAY_FROM_ZERO,
     OBJ_PROBE, 1, 0},
    {"dense + batch_normalize + elu, training, softmax-CE",
     "[dense]\nunits = 4\nbatch_normalize = 1\nactivation = elu\n[dense]\nunits = 3\n", "3x3x2", 5,
     INPUT_AWAY_FROM_ZERO, OBJ_LOSS, 1, 0},
    {"batch norm, inference (running statistics)",
     "[conv]\nfilters = 3\nsize = 3\nbatch_normalize = 1\n[batchnorm]\nepsilon = 0.01\n[flatten]\n", "5x5x2", 2,
     INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"batch norm, one value per channel (1 jet, dense)", "[dense]\nunits = 4\n[batchnorm]\n[shortcut]\nfrom = -2\n[flatten]\n",
     "2x3x2", 1, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 1, 0},
    /* Residual shortcuts: an output read twice (its gradient summed), one input twice, a 1x1
     * projection with stride 2 on odd sizes and with stride 1. */
    {"shortcut, identity", "[conv]\nfilters = 2\nsize = 3\npad = same\nactivation = tanh\n[conv]\nfilters = 2\nsize = 3\n"
     "pad = same\n[shortcut]\nfrom = -2\nactivation = tanh\n[flatten]\n", "5x6x2", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"shortcut, from = -1 (one output twice)", "[conv]\nfilters = 2\nsize = 2\n[shortcut]\nfrom = -1\n[flatten]\n", "4x5x2",
     2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"shortcut, 1x1 projection stride 2, 7x9", "[conv]\nfilters = 2\nsize = 3\npad = same\n[conv]\nfilters = 3\nsize = 3\n"
     "stride = 2\npad = same\n[shortcut]\nfrom = -2\nproject = 1\n[flatten]\n", "7x9x2", 2, INPUT_AWAY_FROM_ZERO,
     OBJ_PROBE, 0, 0},
    {"shortcut, 1x1 projection stride 1", "[conv]\nfilters = 3\nsize = 1\n[conv]\nfilters = 4\nsize = 3\npad = 1\n"
     "[shortcut]\nfrom = -2\nproject = 1\n[flatten]\n", "4x4x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"global average pooling", "[avgpool]\nglobal = 1\n[flatten]\n", "5x6x3", 2, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    /* Loss heads: softmax cross-entropy (final softmax, or linear >= 2 units) and sigmoid
     * binary cross-entropy (final sigmoid, or linear 1 unit). */
    {"softmax-CE head, 3 classes", "[dense]\nunits = 3\nactivation = softmax\n", "3x3x2", 4, INPUT_AWAY_FROM_ZERO,
     OBJ_LOSS, 0, 0},
    {"softmax-CE head, linear 2 units", "[dense]\nunits = 2\n", "3x3x2", 4, INPUT_AWAY_FROM_ZERO, OBJ_LOSS, 0, 0},
    {"sigmoid-BCE head", "[dense]\nunits = 1\nactivation = sigmoid\n", "3x3x2", 4, INPUT_AWAY_FROM_ZERO, OBJ_LOSS, 0, 0},
    {"sigmoid-BCE head, linear 1 unit", "[dense]\nunits = 1\n", "3x3x2", 4, INPUT_AWAY_FROM_ZERO, OBJ_LOSS, 0, 0},
    /* A whole smooth net, dropout in training mode included. */
    {"net: conv same/tanh, avgpool, conv S2/elu, dropout, dense/sigmoid, softmax-CE",
     "[conv]\nfilters = 3\nsize = 4\npad = same\nactivation = tanh\n[avgpool]\nsize = 2\n"
     "[conv]\nfilters = 2\nsize = 3\nstride = 2\npad = 1\nactivation = elu\n[dropout]\nrate = 0.25\n"
     "[dense]\nunits = 6\nactivation = sigmoid\n[dense]\nunits = 3\n",
     "8x8x2", 3, INPUT_AWAY_FROM_ZERO, OBJ_LOSS, 1, 0},
    /* A small residual net in training: batch norm, both shortcuts, global pooling. */
    {"net: conv/BN/elu, conv/BN, shortcut/tanh, conv S2/BN/elu, projection, global avgpool, dense/BN/tanh, CE",
     "[conv]\nfilters = 3\nsize = 3\npad = same\nbatch_normalize = 1\nactivation = elu\n"
     "[conv]\nfilters = 3\nsize = 3\npad = same\nbatch_normalize = 1\n[shortcut]\nfrom = -2\nactivation = tanh\n"
     "[conv]\nfilters = 4\nsize = 3\nstride = 2\npad = same\nbatch_normalize = 1\nactivation = elu\n"
     "[shortcut]\nfrom = -2\nproject = 1\n[avgpool]\nglobal = 1\n"
     "[dense]\nunits = 5\nbatch_normalize = 1\nactivation = tanh\n[dense]\nunits = 3\n",
     "6x6x2", 3, INPUT_AWAY_FROM_ZERO, OBJ_LOSS, 1, 5e-3},
    /* Strided convolutions with more than 16 filters (resnet.cfg's stage entries). */
    {"conv F3 S2 same C3 K18 7x9", "[conv]\nfilters = 18\nsize = 3\nstride = 2\npad = same\nactivation = tanh\n"
     "[flatten]\n", "7x9x3", 3, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 0, 0},
    {"conv F2 S3 P1 C2 K17 8x7, batch norm (no bias)", "[conv]\nfilters = 17\nsize = 2\nstride = 3\npad = 1\n"
     "batch_normalize = 1\n[flatten]\n", "8x7x2", 3, INPUT_AWAY_FROM_ZERO, OBJ_PROBE, 1, 5e-3},
};

/* ---- a small independent random stream (splitmix64) ---- */
static uint64_t rand_state = 12345;
static double rand_unit(void) {
  uint64_t z = (rand_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

/* A value at least 0.1 away from 0: sign * [0.1, 1.1). */
static float away_from_zero(void) {
  double v = 0.1 + rand_unit();
  return (float)(rand_unit() < 0.5 ? -v : v);
}

/* count distinct values (k - count/2) * 0.05 in random order (Fisher-Yates). */
static void distinct_values(float *x, size_t count) {
  for (size_t i = 0; i < count; i++) x[i] = (float)(((double)i - (double)count / 2.0) * 0.05);
  for (size_t i = count - 1; i > 0; i--) {
    size_t j = (size_t)(rand_unit() * (double)(i + 1));
    float t = x[i];
    x[i] = x[j];
    x[j] = t;
  }
}

/* Everything one case needs, built once. */
typedef struct {
  const gc_case *c;
  jc_net *net;
  int n;
  size_t n_in, n_out; /* floats of x and of the logits */
  float *params, *grads, *x, *dlogits;
  float *state;       /* running statistics (batch norm in inference mode): random, variances > 0 */
  plain_net pn;       /* activations and gradients of every layer */
  double *probe;      /* r (n_out) */
  int32_t *labels;
  jc_ctx ctx;
} gc_net;

static void gc_free(gc_net *g) {
  plain_free(g->net, &g->pn);
  free(g->params);
  free(g->grads);
  free(g->x);
  free(g->state);
  free(g->dlogits);
  free(g->probe);
  free(g->labels);
  net_free(&g->net);
}

static int gc_build(const gc_case *c, gc_net *g) {
  memset(g, 0, sizeof *g);
  g->c = c;
  g->n = c->n;
  char text[2048];
  snprintf(text, sizeof text, "[net]\ninput = %s\nbatch = %d\nseed = 7\n%s", c->input, c->n, c->config);
  jc_err err;
  jc_err_clear(&err);
  jc_config *cfg = NULL;
  if (config_parse_text(text, c->name, &cfg, &err) != JC_OK || net_create(cfg, &g->net, &err) != JC_OK) {
    fprintf(stderr, "FAIL %s: cannot build the net: %s\n", c->name, err.msg);
    return 0;
  }
  const jc_net *net = g->net;
  g->n_in = (size_t)g->n * shape_size(net->hp.input);
  g->n_out = (size_t)g->n * (size_t)net->n_logits;
  g->params = calloc(net->n_params + 1, sizeof *g->params);
  g->grads = calloc(net->n_params + 1, sizeof *g->grads);
  g->x = calloc(g->n_in, sizeof *g->x);
  g->state = calloc(net->n_state + 1, sizeof *g->state);
  g->dlogits = calloc(g->n_out, sizeof *g->dlogits);
  g->probe = calloc(g->n_out, sizeof *g->probe);
  g->labels = calloc((size_t)g->n, sizeof *g->labels);
  if (!g->params || !g->grads || !g->x || !g->state || !g->dlogits || !g->probe || !g->labels ||
      !plain_create(net, g->n, &g->pn)) {
    fprintf(stderr, "FAIL %s: out of memory\n", c->name);
    return 0;
  }
  for (size_t j = 0; j < net->n_params; j++) g->params[j] = (float)(rand_unit() - 0.5);
  for (size_t j = 0; j < net->n_state; j++) g->state[j] = (float)(0.5 + rand_unit());
  if (c->inputs == INPUT_DISTINCT) distinct_values(g->x, g->n_in);
  else
    for (size_t j = 0; j < g->n_in; j++) g->x[j] = away_from_zero();
  for (size_t j = 0; j < g->n_out; j++) g->probe[j] = 2.0 * rand_unit() - 1.0;
  int classes = net->n_classes;
  for (int i = 0; i < g->n; i++) g->labels[i] = (int32_t)(rand_unit() * classes) % classes;
  /* Dropout masks depend on (seed, step, sample): the same for every evaluation here. */
  g->ctx = (jc_ctx){.training = c->training, .seed = 7, .step = 3, .first_sample = 40, .state = g->state};
  return 1;
}

/* Forward through every layer; returns the objective, fills dlogits with dL/dlogits. */
static double gc_objective(gc_net *g) {
  const jc_net *net = g->net;
  const float *in = plain_forward(net, g->params, g->x, &g->pn, g->ctx);
  if (g->c->obj == OBJ_LOSS)
    return loss_forward_backward(net->head, in, g->labels, g->n, net->n_logits, 1.0f, g->dlogits, NULL);
  double L = 0.0;
  for (size_t j = 0; j < g->n_out; j++) {
    L += g->probe[j] * (double)in[j];
    g->dlogits[j] = (float)g->probe[j];
  }
  return L;
}

/* Analytic gradients: grads (n_params) and the input gradient pn.dinput. */
static void gc_backward(gc_net *g) {
  const jc_net *net = g->net;
  gc_objective(g);
  memset(g->grads, 0, net->n_params * sizeof *g->grads);
  plain_backward(net, g->params, g->x, g->dlogits, g->grads, &g->pn, g->ctx);
}

/* Central difference of the objective in coordinate *v. */
static double gc_numeric(gc_net *g, float *v) {
  const float v0 = *v;
  const double eps = g->c->eps > 0 ? g->c->eps : EPS;
  const float up = (float)((double)v0 + eps), down = (float)((double)v0 - eps);
  *v = up;
  double l_up = gc_objective(g);
  *v = down;
  double l_down = gc_objective(g);
  *v = v0;
  return (l_up - l_down) / ((double)up - (double)down);
}

typedef struct {
  int n_bad;
  double worst;      /* max |g - num| / max(1, |num|) */
  const char *where; /* "parameter" or "input" of the worst */
  size_t index;
} gc_result;

static void gc_compare(double analytic, double numeric, const char *where, size_t index, gc_result *r) {
  double e = fabs(analytic - numeric) / fmax(1.0, fabs(numeric));
  if (!(e <= TOL)) r->n_bad++;
  if (!(e <= r->worst)) {
    r->worst = e;
    r->where = where;
    r->index = index;
  }
}

/* Compare every coordinate; analytic gradients are taken from g->grads and g->pn.dinput,
 * with `bump` added to parameter gradient bump_param and input gradient bump_input
 * (SIZE_MAX: none) to show that the check fails on a wrong gradient. */
static gc_result gc_check(gc_net *g, float *grads, float *dx, size_t bump_param, size_t bump_input) {
  gc_result r = {0, 0.0, "", 0};
  const jc_net *net = g->net;
  for (size_t j = 0; j < net->n_params; j++) {
    double a = grads[j];
    if (j == bump_param) a += 10.0 * TOL * fmax(1.0, fabs(a));
    gc_compare(a, gc_numeric(g, &g->params[j]), "parameter", j, &r);
  }
  for (size_t j = 0; j < g->n_in; j++) {
    double a = dx[j];
    if (j == bump_input) a += 10.0 * TOL * fmax(1.0, fabs(a));
    gc_compare(a, gc_numeric(g, &g->x[j]), "input", j, &r);
  }
  return r;
}

/* Index of the largest |v| (the most visible place for a wrong gradient). */
static size_t argmax_abs(const float *v, size_t n) {
  size_t best = 0;
  for (size_t j = 1; j < n; j++)
    if (fabsf(v[j]) > fabsf(v[best])) best = j;
  return best;
}

int main(void) {
  int n_fail = 0, n_cases = 0;
  const size_t NONE = (size_t)-1;
  for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
    const gc_case *c = &CASES[k];
    gc_net g;
    n_cases++;
    if (!gc_build(c, &g)) {
      n_fail++;
      gc_free(&g);
      continue;
    }
    gc_backward(&g);
    const size_t n_params = g.net->n_params;
    float *grads = malloc((n_params + 1) * sizeof *grads), *dx = malloc(g.n_in * sizeof *dx);
    if (!grads || !dx) {
      fprintf(stderr, "FAIL %s: out of memory\n", c->name);
      return 1;
    }
    memcpy(grads, g.grads, (n_params + 1) * sizeof *grads);
    memcpy(dx, g.pn.dinput, g.n_in * sizeof *dx);
    int all_zero = 1;
    for (size_t j = 0; j < g.n_in; j++) all_zero &= dx[j] == 0.0f;
    gc_result r = gc_check(&g, grads, dx, NONE, NONE);
    int ok = r.n_bad == 0 && !all_zero;
    printf("%s %-74s %4zu params %4zu inputs  worst %.2e (%s %zu)\n", ok ? "ok  " : "FAIL", c->name, n_params, g.n_in,
           r.worst, r.where, r.index);
    if (all_zero) printf("FAIL %s: the input gradient is identically zero; the check would prove nothing\n", c->name);
    /* The same check must catch a wrong parameter gradient and a wrong input gradient. */
    if (n_params > 0) {
      gc_result bad = gc_check(&g, grads, dx, argmax_abs(grads, n_params), NONE);
      if (bad.n_bad == 0) {
        printf("FAIL %s: a wrong parameter gradient passes the check\n", c->name);
        ok = 0;
      }
    }
    gc_result bad = gc_check(&g, grads, dx, NONE, argmax_abs(dx, g.n_in));
    if (bad.n_bad == 0) {
      printf("FAIL %s: a wrong input gradient passes the check\n", c->name);
      ok = 0;
    }
    /* Training mode must really drop: otherwise the dropout check proves nothing. */
    if (c->training) {
      double l_train = gc_objective(&g);
      g.ctx.training = 0;
      double l_infer = gc_objective(&g);
      g.ctx.training = 1;
      if (l_train == l_infer) {
        printf("FAIL %s: training and inference give the same objective: dropout is not active\n", c->name);
        ok = 0;
      }
    }
    n_fail += !ok;
    free(grads);
    free(dx);
    gc_free(&g);
  }
  printf("%d/%d gradient checks passed (EPS %g, TOL %g)\n", n_cases - n_fail, n_cases, EPS, TOL);
  return n_fail ? 1 : 0;
}
