/* net.c - build a net from a config, its parameter layout, and forward/backward over one
 * micro-batch (see net.h). */
#include "jetcnn/net.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetcnn/loss.h"
#include "jetcnn/rng.h"

/* The keys of [net] (docs/config.md); the keys of layer sections are in the layer table. */
static const char *const NET_KEYS[] = {
    "input",       "batch",          "micro_batch",      "epochs",           "optimizer",    "learning_rate",
    "momentum",    "beta1",          "beta2",            "epsilon",          "schedule",     "warmup_epochs",
    "step_epochs", "gamma",          "weight_decay",     "seed",             "shuffle",      "normalize",
    "input_scale", "shuffle_window", "checkpoint_every", "keep_checkpoints", NULL};

static int in_list(const char *const *list, const char *key) {
  for (int i = 0; list && list[i]; i++)
    if (strcmp(list[i], key) == 0) return 1;
  return 0;
}

/* Every section is [net] or a known layer kind, and holds only its own keys. */
static jc_code check_sections(const jc_config *cfg, jc_err *err) {
  for (int i = 0; i < cfg->n_sec; i++) {
    const jc_section *sec = &cfg->sec[i];
    const jc_layer_ops *ops = i == 0 ? NULL : layer_ops_for(sec->name);
    if (i > 0 && !ops) {
      char list[512];
      layer_sections_list(list, sizeof list);
      return jc_fail(err, JC_ERR_USAGE, "%s:%d: unknown section [%s] (known: [net] %s)", sec->path, sec->line,
                     sec->name, list);
    }
    for (int k = 0; k < sec->n_kv; k++) {
      const char *key = sec->kv[k].key;
      int known = ops ? in_list(ops->keys, key) ||
                            ((ops->flags & LAYER_TAKES_ACTIVATION) && in_list(LAYER_ACTIVATION_KEYS, key))
                      : in_list(NET_KEYS, key);
      if (known) continue;
      if (sec->kv[k].line == 0)
        return jc_fail(err, JC_ERR_USAGE, "--set %s=%s: unknown [net] key '%s'", key, sec->kv[k].value, key);
      return jc_fail(err, JC_ERR_USAGE, "%s:%d: unknown key '%s' in [%s]", sec->path, sec->kv[k].line, key,
                     sec->name);
    }
  }
  return JC_OK;
}

/* "H x W x C" (or "H x W", C = 1) with positive integers. */
static jc_code parse_input(const jc_section *net, jc_shape *out, jc_err *err) {
  JC_TRY(cfg_require(net, "input", err));
  const char *text = cfg_str(net, "input", "");
  long v[3] = {0, 0, 1};
  int n = 0;
  const char *p = text;
  while (n < 3) {
    char *end = NULL;
    errno = 0;
    long x = strtol(p, &end, 10);
    if (end == p || errno || x < 1 || x > 65536) break;
    v[n++] = x;
    while (*end == ' ') end++;
    p = end;
    if (*p != 'x' && *p != 'X') break;
    p++;
    while (*p == ' ') p++;
  }
  while (*p == ' ') p++;
  if (n < 2 || *p != '\0')
    return jc_fail(err, JC_ERR_USAGE, "%s: input = '%s' is not H x W x C with positive sizes (e.g. 40x40x1)",
                   cfg_where(net, "input").s, text);
  if (v[0] * v[1] * v[2] > INT_MAX)
    return jc_fail(err, JC_ERR_USAGE, "%s: input = '%s' has %ld values per jet; at most %d are supported",
                   cfg_where(net, "input").s, text, v[0] * v[1] * v[2], INT_MAX);
  *out = (jc_shape){(int)v[2], (int)v[0], (int)v[1]};
  return JC_OK;
}

static const char *const OPTIMIZERS[] = {"sgd", "momentum", "nesterov", "adam", "adamw", NULL};
static const char *const SCHEDULES[] = {"constant", "step", "cosine", NULL};
static const char *const NORMALIZE[] = {"none", "sum", NULL};

static jc_code parse_hparams(const jc_section *s, jc_hparams *hp, jc_err *err) {
  long v;
  int e;
  JC_TRY(parse_input(s, &hp->input, err));
  JC_TRY(cfg_require(s, "batch", err));
  JC_TRY(cfg_int(s, "batch", 0, 1, 1L << 20, &hp->batch, err));
  long def_micro = 1;
  for (long m = 32; m >= 1; m--)
    if (hp->batch % m == 0) {
      def_micro = m;
      break;
    }
  JC_TRY(cfg_int(s, "micro_batch", def_micro, 1, hp->batch, &hp->micro_batch, err));
  if (hp->batch % hp->micro_batch != 0)
    return jc_fail(err, JC_ERR_USAGE, "%s: micro_batch = %ld does not divide batch = %ld",
                   cfg_where(s, "micro_batch").s, hp->micro_batch, hp->batch);
  JC_TRY(cfg_int(s, "epochs", 1, 1, 1000000, &hp->epochs, err));
  JC_TRY(cfg_enum(s, "optimizer", "adam", OPTIMIZERS, &e, err));
  hp->optimizer = (jc_optimizer)e;
  JC_TRY(cfg_float(s, "learning_rate", 1e-3, 0.0, 100.0, &hp->learning_rate, err));
  JC_TRY(cfg_float(s, "momentum", 0.9, 0.0, 0.9999, &hp->momentum, err));
  JC_TRY(cfg_float(s, "beta1", 0.9, 0.0, 0.9999999, &hp->beta1, err));
  JC_TRY(cfg_float(s, "beta2", 0.999, 0.0, 0.9999999, &hp->beta2, err));
  JC_TRY(cfg_float(s, "epsilon", 1e-8, 1e-30, 1.0, &hp->epsilon, err));
  JC_TRY(cfg_float(s, "weight_decay", 0.0, 0.0, 10.0, &hp->weight_decay, err));
  JC_TRY(cfg_enum(s, "schedule", "constant", SCHEDULES, &e, err));
  hp->schedule = (jc_schedule)e;
  JC_TRY(cfg_float(s, "warmup_epochs", 0.0, 0.0, 1e6, &hp->warmup_epochs, err));
  JC_TRY(cfg_int(s, "step_epochs", 10, 1, 1000000, &hp->step_epochs, err));
  JC_TRY(cfg_float(s, "gamma", 0.1, 0.0, 1.0, &hp->gamma, err));
  JC_TRY(cfg_int(s, "seed", 1, 0, 0x7fffffffL, &v, err));
  hp->seed = (uint64_t)v;
  JC_TRY(cfg_int(s, "shuffle", 1, 0, 1, &v, err));
  hp->shuffle = (int)v;
  JC_TRY(cfg_enum(s, "normalize", "none", NORMALIZE, &e, err));
  hp->normalize = (jc_normalize)e;
  JC_TRY(cfg_float(s, "input_scale", 1.0, 1e-30, 1e30, &hp->input_scale, err));
  JC_TRY(cfg_int(s, "shuffle_window", 8192, 1, 1L << 30, &hp->shuffle_window, err));
  JC_TRY(cfg_int(s, "checkpoint_every", 0, 0, 1L << 40, &hp->checkpoint_every, err));
  JC_TRY(cfg_int(s, "keep_checkpoints", 2, 1, 1000000, &hp->keep_checkpoints, err));
  return JC_OK;
}

static void free_layers(jc_net *net) {
  for (int i = 0; i < net->n_layers; i++) free(net->layers[i].cfg);
  free(net->layers);
  net->layers = NULL;
  net->n_layers = 0;
}

void net_free(jc_net **net) {
  if (!net || !*net) return;
  free_layers(*net);
  config_free(&(*net)->cfg);
  free(*net);
  *net = NULL;
}

/* Append a layer of kind ops fed by shape `in`, configured by section sec. */
static jc_code add_layer(jc_net *net, const jc_layer_ops *ops, const jc_section *sec, jc_shape in, int fused,
                         jc_err *err) {
  jc_layer *l = &net->layers[net->n_layers];
  memset(l, 0, sizeof *l);
  l->ops = ops;
  l->index = sec->layer_index;
  l->path = sec->path;
  l->line = sec->line;
  l->fused = fused;
  l->in = in;
  jc_code rc = ops->init(l, sec, err);
  if (rc != JC_OK) return rc;
  net->n_layers++;
  /* Kernels index one sample's values and one layer's weights with int. */
  if (shape_size(l->out) == 0)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: [%s] produces an empty output", sec->path, sec->line, sec->name);
  if (shape_size(l->out) > INT_MAX)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: [%s] produces %zu values per jet (%dx%dx%d); at most %d are supported",
                   sec->path, sec->line, sec->name, shape_size(l->out), l->out.h, l->out.w, l->out.c, INT_MAX);
  if (l->n_kernel > INT_MAX || l->n_bias > INT_MAX)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: [%s] has %zu weights; at most %d per layer are supported", sec->path,
                   sec->line, sec->name, l->n_kernel, INT_MAX);
  return JC_OK;
}

/* Decide how the last layer's output becomes class probabilities. */
static jc_code choose_head(jc_net *net, const jc_section *last_sec, jc_err *err) {
  jc_layer *last = &net->layers[net->n_layers - 1];
  jc_act act = activation_kind(last);
  if (act == ACT_SOFTMAX || act == ACT_SIGMOID) {
    /* The head is applied by the loss (log-sum-exp) and by predict: drop the layer. */
    net->head = act == ACT_SOFTMAX ? HEAD_SOFTMAX : HEAD_SIGMOID;
    free(last->cfg);
    net->n_layers--;
    last = &net->layers[net->n_layers - 1];
    if (net->n_layers == 0)
      return jc_fail(err, JC_ERR_USAGE, "%s:%d: the model has no layer before its output activation",
                     last_sec->path, last_sec->line);
  } else if (last->ops == &jc_activation_ops && act != ACT_NONE) {
    return jc_fail(err, JC_ERR_USAGE,
                   "%s: the output layer's activation must be softmax, sigmoid or linear (got %s)",
                   cfg_where(last_sec, "activation").s, JC_ACT_NAMES[act]);
  } else {
    net->head = last->out.c * last->out.h * last->out.w == 1 ? HEAD_SIGMOID : HEAD_SOFTMAX;
  }
  if (last->out.h != 1 || last->out.w != 1)
    return jc_fail(err, JC_ERR_USAGE,
                   "%s:%d: the output layer gives a %dx%dx%d image; it must give one score per class "
                   "(end with a [dense] layer)",
                   last_sec->path, last_sec->line, last->out.h, last->out.w, last->out.c);
  net->n_logits = last->out.c;
  if (net->head == HEAD_SIGMOID && net->n_logits != 1)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: a sigmoid output needs units = 1 (got %d); use softmax for %d classes",
                   last_sec->path, last_sec->line, net->n_logits, net->n_logits);
  if (net->head == HEAD_SOFTMAX && net->n_logits < 2)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: a softmax output needs at least 2 units", last_sec->path,
                   last_sec->line);
  net->n_classes = net->head == HEAD_SIGMOID ? 2 : net->n_logits;
  return JC_OK;
}

jc_code net_create(jc_config *cfg, jc_net **out, jc_err *err) {
  *out = NULL;
  jc_net *net = calloc(1, sizeof *net);
  if (!net) {
    config_free(&cfg);
    return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  }
  net->cfg = cfg;
  jc_code rc = check_sections(cfg, err);
  if (rc == JC_OK) rc = parse_hparams(&cfg->sec[0], &net->hp, err);
  if (rc == JC_OK) {
    net->layers = calloc((size_t)cfg->n_sec * 2, sizeof *net->layers);
    if (!net->layers) rc = jc_fail(err, JC_ERR_NOMEM, "out of memory");
  }
  jc_shape shape = net->hp.input;
  for (int i = 1; rc == JC_OK && i < cfg->n_sec; i++) {
    const jc_section *sec = &cfg->sec[i];
    rc = add_layer(net, layer_ops_for(sec->name), sec, shape, 0, err);
    if (rc != JC_OK) break;
    shape = net->layers[net->n_layers - 1].out;
    const jc_layer_ops *ops = net->layers[net->n_layers - 1].ops;
    if ((ops->flags & LAYER_TAKES_ACTIVATION) && strcmp(cfg_str(sec, "activation", "linear"), "linear") != 0) {
      rc = add_layer(net, &jc_activation_ops, sec, shape, 1, err);
      if (rc == JC_OK) shape = net->layers[net->n_layers - 1].out;
    }
  }
  if (rc == JC_OK) rc = choose_head(net, &cfg->sec[cfg->n_sec - 1], err);
  if (rc != JC_OK) {
    net_free(&net);
    return rc;
  }
  /* A fused ReLU is applied by the layer before it when that kind can (one pass less over
   * the activations each way); every other activation stays a layer of its own. */
  for (int i = 0; i + 1 < net->n_layers; i++) {
    jc_layer *l = &net->layers[i];
    l->relu_out = (l->ops->flags & LAYER_FUSES_RELU) && net->layers[i + 1].fused &&
                  activation_kind(&net->layers[i + 1]) == ACT_RELU;
    /* and a layer after that ReLU that can mask the gradient as it routes it does (one pass less) */
    if (l->relu_out && (l->ops->flags & LAYER_TAKES_MASKED_DY) && i + 2 < net->n_layers &&
        (net->layers[i + 2].ops->flags & LAYER_MASKS_RELU))
      l->dy_masked = net->layers[i + 2].relu_in = 1;
  }
  size_t offset = 0;
  for (int i = 0; i < net->n_layers; i++) {
    net->layers[i].offset = offset;
    offset += net->layers[i].n_kernel + net->layers[i].n_bias;
  }
  net->n_params = offset;
  *out = net;
  return JC_OK;
}

void net_init_params(const jc_net *net, float *params, uint64_t seed) {
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    size_t n = l->n_kernel + l->n_bias;
    if (n == 0) continue;
    jc_rng r = rng_stream(seed * 1000003ULL + (uint64_t)l->index + 1);
    double bound = 1.0 / sqrt((double)(l->fan_in ? l->fan_in : 1));
    for (size_t j = 0; j < n; j++) params[l->offset + j] = (float)((2.0 * rng_uniform(&r) - 1.0) * bound);
  }
}

void net_normalize_input(const jc_net *net, float *x, int n) {
  size_t per = shape_size(net->hp.input);
  float scale = (float)net->hp.input_scale;
  for (int i = 0; i < n; i++) {
    float *xi = x + (size_t)i * per;
    float s = scale;
    if (net->hp.normalize == NORM_SUM) {
      double sum = 0.0;
      for (size_t j = 0; j < per; j++) sum += xi[j];
      if (sum != 0.0) s = (float)(scale / sum);
    }
    if (s != 1.0f)
      for (size_t j = 0; j < per; j++) xi[j] *= s;
  }
}

/* Layer i is a ReLU applied by layer i-1 (relu_out): its output is layer i-1's buffer and
 * net_forward/net_backward do not run it. */
static int skipped(const jc_net *net, int i) { return i > 0 && net->layers[i - 1].relu_out; }

/* ---- per-thread workspace ---- */
void net_ws_free(jc_net_ws **ws) {
  if (!ws || !*ws) return;
  jc_net_ws *w = *ws;
  if (w->act) free(w->act[0]);
  free(w->act);
  free(w->d0);
  free(w->d1);
  free(w->scratch);
  free(w->dlogits);
  free(w);
  *ws = NULL;
}

jc_net_ws *net_ws_create(const jc_net *net, int max_n, jc_err *err) {
  jc_net_ws *w = jc_calloc(1, sizeof *w, err);
  if (!w) return NULL;
  w->max_n = max_n;
  size_t total = 0, biggest = shape_size(net->hp.input), scratch = 1;
  for (int i = 0; i < net->n_layers; i++) {
    if (!skipped(net, i)) total += shape_size(net->layers[i].out);
    if (shape_size(net->layers[i].out) > biggest) biggest = shape_size(net->layers[i].out);
    if (layer_ws_floats(&net->layers[i], max_n) > scratch) scratch = layer_ws_floats(&net->layers[i], max_n);
  }
  w->act = jc_calloc((size_t)net->n_layers, sizeof *w->act, err);
  if (w->act) w->act[0] = jc_malloc(total * (size_t)max_n * sizeof(float), err);
  w->d0 = jc_malloc(biggest * (size_t)max_n * sizeof(float), err);
  w->d1 = jc_malloc(biggest * (size_t)max_n * sizeof(float), err);
  w->scratch = jc_malloc(scratch * sizeof(float), err);
  w->dlogits = jc_malloc((size_t)net->n_logits * (size_t)max_n * sizeof(float), err);
  if (!w->act || !w->act[0] || !w->d0 || !w->d1 || !w->scratch || !w->dlogits) {
    net_ws_free(&w);
    return NULL;
  }
  for (int i = 1; i < net->n_layers; i++)
    w->act[i] = skipped(net, i) ? w->act[i - 1] : w->act[i - 1] + shape_size(net->layers[i - 1].out) * (size_t)max_n;
  return w;
}

/* ---- forward and backward over one micro-batch ---- */

/* CPU seconds of the calling thread: a per-layer profile that other processes on the same
 * cores do not inflate. */
static double thread_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
const float *net_forward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x, int n,
                         jc_ctx ctx) {
  ctx.ws = ws->scratch;
  const float *in = x;
  for (int i = 0; i < net->n_layers; i++) {
    if (skipped(net, i)) continue;
    double t0 = ws->prof ? thread_seconds() : 0.0;
    net->layers[i].ops->forward(&net->layers[i], params, in, ws->act[i], n, &ctx);
    if (ws->prof) ws->prof[2 * i] += thread_seconds() - t0;
    in = ws->act[i];
  }
  return in;
}

void net_backward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x,
                  const float *dlogits, float *grads, int n, jc_ctx ctx) {
  ctx.ws = ws->scratch;
  const float *dy = dlogits;
  for (int i = net->n_layers - 1; i >= 0; i--) {
    if (skipped(net, i)) continue; /* dy passes to layer i-1 unchanged: it masks it */
    const jc_layer *l = &net->layers[i];
    const float *in = i > 0 ? ws->act[i - 1] : x;
    float *dx = NULL;
    if (i > 0) dx = (dy == ws->d0) ? ws->d1 : ws->d0;
    double t0 = ws->prof ? thread_seconds() : 0.0;
    l->ops->backward(l, params, in, ws->act[i], dy, dx, grads, n, &ctx);
    if (ws->prof) ws->prof[2 * i + 1] += thread_seconds() - t0;
    dy = dx;
  }
}

int net_param_segments(const jc_net *net, size_t *seg) {
  int n = 0;
  seg[0] = 0;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->n_kernel == 0) continue;
    seg[n + 1] = l->offset + l->n_kernel;
    seg[n + 2] = l->offset + l->n_kernel + l->n_bias;
    n += 2;
  }
  return n;
}

double net_train_micro(const jc_net *net, const float *params, jc_net_ws *ws, const float *x,
                       const int32_t *labels, int n, float scale, jc_ctx ctx, float *grads, int *hits) {
  const float *logits = net_forward(net, params, ws, x, n, ctx);
  double loss = loss_forward_backward(net->head, logits, labels, n, net->n_logits, scale, ws->dlogits, hits);
  net_backward(net, params, ws, x, ws->dlogits, grads, n, ctx);
  return loss;
}
