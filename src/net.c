/* net.c - build a net from a config, its parameter layout, and forward/backward over one
 * micro-batch (see net.h). */
#include "jetcnn/net.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
                            ((ops->flags & LAYER_TAKES_ACTIVATION) && in_list(LAYER_ACTIVATION_KEYS, key)) ||
                            ((ops->flags & LAYER_TAKES_BATCHNORM) && in_list(LAYER_BATCHNORM_KEYS, key))
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

/* Append a layer of kind ops reading the outputs of layers src[] (-1: the net's input),
 * configured by section sec. */
static jc_code add_layer(jc_net *net, const jc_layer_ops *ops, const jc_section *sec, const int *src, int fused,
                         int no_bias, jc_err *err) {
  jc_layer *l = &net->layers[net->n_layers];
  memset(l, 0, sizeof *l);
  l->ops = ops;
  l->index = sec->layer_index;
  l->path = sec->path;
  l->line = sec->line;
  l->fused = fused;
  l->no_bias = no_bias;
  l->affine = net->inference && (ops->flags & LAYER_AFFINE_AT_INFERENCE);
  l->n_in = ops->n_inputs > 1 ? ops->n_inputs : 1;
  for (int s = 0; s < l->n_in; s++) {
    l->src[s] = src[s];
    l->in_shape[s] = src[s] >= 0 ? net->layers[src[s]].out : net->hp.input;
  }
  l->in = l->in_shape[0];
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

/* The section that `from = -k` of a multi-input section names (k sections back): *src gets
 * the index of its last layer (sec_last: per config section, -1 for [net]). */
static jc_code resolve_from(const jc_section *sec, const int *sec_last, int *src, jc_err *err) {
  long from;
  JC_TRY(cfg_require(sec, "from", err));
  JC_TRY(cfg_int(sec, "from", 0, -1000000, 1000000, &from, err));
  if (from >= 0)
    return jc_fail(err, JC_ERR_USAGE, "%s: [%s] from = %ld must be negative: -k names the section k before this one",
                   cfg_where(sec, "from").s, sec->name, from);
  if (sec->layer_index + from < 0)
    return jc_fail(err, JC_ERR_USAGE,
                   "%s: [%s] from = %ld reaches before the first layer section (this is layer%02d: from = -%d names "
                   "layer00)", cfg_where(sec, "from").s, sec->name, from, sec->layer_index, sec->layer_index);
  *src = sec_last[sec->layer_index + from + 1];
  return JC_OK;
}

/* The layers of every section after [net], in order: the section's own layer, a batch norm
 * for `batch_normalize = 1`, an activation for `activation =` (fused = 1 for the last two). */
static jc_code add_sections(jc_net *net, jc_err *err) {
  const jc_config *cfg = net->cfg;
  int *sec_last = jc_malloc((size_t)cfg->n_sec * sizeof *sec_last, err);
  if (!sec_last) return JC_ERR_NOMEM;
  sec_last[0] = -1;
  jc_code rc = JC_OK;
  for (int i = 1; rc == JC_OK && i < cfg->n_sec; i++) {
    const jc_section *sec = &cfg->sec[i];
    const jc_layer_ops *ops = layer_ops_for(sec->name);
    long bn = 0;
    int src[LAYER_MAX_INPUTS] = {net->n_layers - 1, -1};
    if (ops->flags & LAYER_TAKES_BATCHNORM) rc = cfg_int(sec, "batch_normalize", 0, 0, 1, &bn, err);
    if (rc == JC_OK && ops->n_inputs > 1) rc = resolve_from(sec, sec_last, &src[1], err);
    /* an inference net folds the norm into the layer: that one keeps its bias */
    if (rc == JC_OK) rc = add_layer(net, ops, sec, src, 0, bn && !net->inference, err);
    int prev[LAYER_MAX_INPUTS] = {net->n_layers - 1, -1};
    if (rc == JC_OK && bn) {
      rc = add_layer(net, &jc_batchnorm_ops, sec, prev, 1, 0, err);
      prev[0] = net->n_layers - 1;
    }
    if (rc == JC_OK && (ops->flags & LAYER_TAKES_ACTIVATION) &&
        strcmp(cfg_str(sec, "activation", "linear"), "linear") != 0)
      rc = add_layer(net, &jc_activation_ops, sec, prev, 1, 0, err);
    sec_last[i] = net->n_layers - 1;
  }
  free(sec_last);
  return rc;
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

/* The layer whose output buffer layer i's output is: itself, or for a skipped layer the one
 * it runs inside. */
static int producer(const jc_net *net, int i) {
  while (i >= 0 && net->layers[i].skip) i = net->layers[i].src[0];
  return i;
}

/* Who reads what, and which layers run inside the one before them (skip): in an inference
 * net a batch norm whose input only it reads, from a layer that can absorb it; a fused ReLU
 * after a kind that applies it itself. A layer after that ReLU that can mask the gradient as
 * it routes it does, when it is the ReLU's only reader (one pass less each way). */
static void plan_graph(jc_net *net) {
  for (int i = 0; i < net->n_layers; i++)
    for (int s = 0; s < net->layers[i].n_in; s++)
      if (net->layers[i].src[s] >= 0) net->layers[net->layers[i].src[s]].readers++;
  for (int i = 0; i < net->n_layers; i++) {
    jc_layer *l = &net->layers[i];
    const int src = l->src[0];
    if (l->affine && src >= 0 && (net->layers[src].ops->flags & LAYER_TAKES_BATCHNORM) && net->layers[src].readers == 1)
      l->skip = 1; /* folded (net_fold_params) */
    if (!l->fused || activation_kind(l) != ACT_RELU || src < 0 || net->layers[src].readers != 1) continue;
    jc_layer *p = &net->layers[producer(net, src)];
    if (!(p->ops->flags & LAYER_FUSES_RELU)) continue;
    p->relu_out = 1;
    l->skip = 1;
    if ((p->ops->flags & LAYER_TAKES_MASKED_DY) && l->readers == 1 && i + 1 < net->n_layers &&
        net->layers[i + 1].src[0] == i && (net->layers[i + 1].ops->flags & LAYER_MASKS_RELU))
      p->dy_masked = net->layers[i + 1].relu_in = 1;
  }
}

/* Build the net of cfg (taking ownership); inference: net_create_inference's model. */
static jc_code build(jc_config *cfg, int inference, jc_net **out, jc_err *err) {
  *out = NULL;
  jc_net *net = calloc(1, sizeof *net);
  if (!net) {
    config_free(&cfg);
    return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  }
  net->cfg = cfg;
  net->inference = inference;
  jc_code rc = check_sections(cfg, err);
  if (rc == JC_OK) rc = parse_hparams(&cfg->sec[0], &net->hp, err);
  if (rc == JC_OK) {
    net->layers = calloc((size_t)cfg->n_sec * 3, sizeof *net->layers);
    if (!net->layers) rc = jc_fail(err, JC_ERR_NOMEM, "out of memory");
  }
  if (rc == JC_OK) rc = add_sections(net, err);
  if (rc == JC_OK) rc = choose_head(net, &cfg->sec[cfg->n_sec - 1], err);
  if (rc != JC_OK) {
    net_free(&net);
    return rc;
  }
  plan_graph(net);
  for (int i = 0; i < net->n_layers; i++) {
    jc_layer *l = &net->layers[i];
    l->offset = net->n_params;
    net->n_params += l->n_kernel + l->n_bias;
    l->state_offset = net->n_state;
    net->n_state += l->n_state;
    l->stats_offset = net->n_batch_stats;
    net->n_batch_stats += l->n_stats;
  }
  *out = net;
  return JC_OK;
}

jc_code net_create(jc_config *cfg, jc_net **out, jc_err *err) { return build(cfg, 0, out, err); }

jc_code net_create_inference(const jc_net *net, jc_net **out, jc_err *err) {
  *out = NULL;
  char *text = config_to_text(net->cfg, err);
  if (!text) return err->code;
  jc_config *copy = NULL;
  jc_code rc = config_parse_text(text, net->cfg->path, &copy, err);
  free(text);
  return rc == JC_OK ? build(copy, 1, out, err) : rc;
}

void net_fold_params(const jc_net *net, const float *params, const float *state, const jc_net *inet, float *iparams) {
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i], *il = &inet->layers[i];
    if (!(l->ops->flags & LAYER_AFFINE_AT_INFERENCE)) {
      memcpy(iparams + il->offset, params + l->offset, l->n_kernel * sizeof *params);
      if (il->n_bias) { /* a layer whose bias the norm after it replaced in training starts from 0 */
        if (l->n_bias) memcpy(iparams + il->offset + il->n_kernel, params + l->offset + l->n_kernel, l->n_bias * sizeof *params);
        else memset(iparams + il->offset + il->n_kernel, 0, il->n_bias * sizeof *iparams);
      }
      continue;
    }
    float *a = iparams + il->offset, *b = a + il->n_kernel; /* the map as this layer's kernel and bias */
    l->ops->affine(l, params, state, a, b);
    if (!il->skip) continue;
    /* folded into the layer before: kernel row c times a_c, bias a_c bias_c + b_c */
    const jc_layer *p = &inet->layers[il->src[0]];
    const int C = l->in.c;
    const size_t row = p->n_kernel / (size_t)C;
    float *pk = iparams + p->offset, *pb = pk + p->n_kernel;
    for (int c = 0; c < C; c++) {
      for (size_t j = 0; j < row; j++) pk[(size_t)c * row + j] *= a[c];
      pb[c] = a[c] * pb[c] + b[c];
    }
  }
}

jc_code net_inference(const jc_net *net, const float *params, const float *state, jc_net **inet, float **iparams,
                      jc_err *err) {
  *iparams = NULL;
  JC_TRY(net_create_inference(net, inet, err));
  *iparams = jc_malloc((*inet)->n_params * sizeof **iparams + 1, err);
  if (!*iparams) {
    net_free(inet);
    return JC_ERR_NOMEM;
  }
  net_fold_params(net, params, state, *inet, *iparams);
  return JC_OK;
}

void net_init_params(const jc_net *net, float *params, uint64_t seed) {
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    size_t n = l->n_kernel + l->n_bias;
    if (n == 0) continue;
    if (l->ops->init_params) {
      l->ops->init_params(l, params);
      continue;
    }
    jc_rng r = rng_stream(seed * 1000003ULL + (uint64_t)l->index + 1);
    double bound = 1.0 / sqrt((double)(l->fan_in ? l->fan_in : 1));
    for (size_t j = 0; j < n; j++) params[l->offset + j] = (float)((2.0 * rng_uniform(&r) - 1.0) * bound);
  }
}

void net_init_state(const jc_net *net, float *state) {
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].n_state) net->layers[i].ops->init_state(&net->layers[i], state);
}

void net_update_state(const jc_net *net, float *state, const float *stats, int n) {
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].n_state) net->layers[i].ops->update_state(&net->layers[i], state, stats, n);
}

int net_stats_segments(const jc_net *net, size_t base, size_t *ends) {
  int n = 0;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    int parts = 0; /* the statistics have the state's parts (a norm's means, its variances) */
    while (l->ops->state_names && l->ops->state_names[parts]) parts++;
    for (int k = 1; l->n_stats && k <= parts; k++) ends[n++] = base + l->stats_offset + l->n_stats * (size_t)k / (size_t)parts;
  }
  return n;
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

/* ---- per-thread workspace ---- */
void net_ws_free(jc_net_ws **ws) {
  if (!ws || !*ws) return;
  jc_net_ws *w = *ws;
  if (w->act) free(w->act[0]);
  free(w->act);
  free(w->gsum);
  free(w->gtmp[0]); /* the block of the gradient sums too */
  if (w->saved) free(w->saved[0]);
  free(w->saved);
  free(w->grad);
  free(w->have);
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
  const int L = net->n_layers;
  size_t total = 0, shared = 0, biggest = shape_size(net->hp.input), scratch = 1, saved = 1;
  for (int i = 0; i < L; i++) {
    const jc_layer *l = &net->layers[i];
    saved += l->ws_saved;
    if (!l->skip) total += shape_size(l->out);
    if (l->readers > 1) shared += shape_size(l->out);
    if (shape_size(l->out) > biggest) biggest = shape_size(l->out);
    if (layer_ws_floats(l, max_n) > scratch) scratch = layer_ws_floats(l, max_n);
  }
  const size_t n = (size_t)max_n;
  w->act = jc_calloc((size_t)L, sizeof *w->act, err);
  if (w->act) w->act[0] = jc_malloc(total * n * sizeof(float), err);
  w->gsum = jc_calloc((size_t)L, sizeof *w->gsum, err);
  w->grad = jc_calloc((size_t)L, sizeof *w->grad, err);
  w->have = jc_calloc((size_t)L, 1, err);
  w->saved = jc_calloc((size_t)L, sizeof *w->saved, err);
  if (w->saved) w->saved[0] = jc_malloc(saved * sizeof(float), err);
  /* outputs read by several layers: their gradient sums, then the shares added to them */
  float *sums = shared ? jc_malloc((shared + (size_t)LAYER_MAX_INPUTS * biggest) * n * sizeof(float), err) : NULL;
  w->d0 = jc_malloc(biggest * n * sizeof(float), err);
  w->d1 = jc_malloc(biggest * n * sizeof(float), err);
  w->scratch = jc_malloc(scratch * sizeof(float), err);
  w->dlogits = jc_malloc((size_t)net->n_logits * n * sizeof(float), err);
  if (!w->act || !w->act[0] || !w->gsum || !w->grad || !w->have || !w->saved || !w->saved[0] || (shared && !sums) ||
      !w->d0 || !w->d1 || !w->scratch || !w->dlogits) {
    free(sums);
    net_ws_free(&w);
    return NULL;
  }
  w->gtmp[0] = sums; /* owns the block (net_ws_free) */
  for (int s = 1; sums && s < LAYER_MAX_INPUTS; s++) w->gtmp[s] = w->gtmp[s - 1] + biggest * n;
  float *next_sum = sums ? sums + (size_t)LAYER_MAX_INPUTS * biggest * n : NULL, *next_act = w->act[0];
  float *next_saved = w->saved[0];
  for (int i = 0; i < L; i++) {
    const jc_layer *l = &net->layers[i];
    w->saved[i] = next_saved; /* (layer 0's is the block's start) */
    next_saved += l->ws_saved;
    if (l->skip) {
      w->act[i] = w->act[l->src[0]];
    } else {
      w->act[i] = next_act;
      next_act += shape_size(l->out) * n;
    }
    if (l->readers > 1) {
      w->gsum[i] = next_sum;
      next_sum += shape_size(l->out) * n;
    }
  }
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

/* The inputs of layer l: the outputs it reads (x for -1). */
static void inputs_of(const jc_layer *l, const jc_net_ws *ws, const float *x, const float **in) {
  for (int s = 0; s < l->n_in; s++) in[s] = l->src[s] >= 0 ? ws->act[l->src[s]] : x;
}

const float *net_forward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x, int n,
                         jc_ctx ctx) {
  ctx.ws = ws->scratch;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->skip) continue;
    const float *in[LAYER_MAX_INPUTS];
    inputs_of(l, ws, x, in);
    ctx.saved = ws->saved[i];
    double t0 = ws->prof ? thread_seconds() : 0.0;
    layer_forward(l, params, in, ws->act[i], n, &ctx);
    if (ws->prof) ws->prof[2 * i] += thread_seconds() - t0;
  }
  return ws->act[net->n_layers - 1];
}

void net_backward(const jc_net *net, const float *params, jc_net_ws *ws, const float *x,
                  const float *dlogits, float *grads, int n, jc_ctx ctx) {
  ctx.ws = ws->scratch;
  memset(ws->have, 0, (size_t)net->n_layers);
  ws->grad[net->n_layers - 1] = dlogits;
  for (int i = net->n_layers - 1; i >= 0; i--) {
    const jc_layer *l = &net->layers[i];
    const float *dy = ws->grad[i];
    if (l->skip) { /* its gradient is the one of the layer it runs in: that layer masks or folds it */
      ws->grad[l->src[0]] = dy;
      ws->have[l->src[0]] = 1;
      continue;
    }
    /* Where each input's gradient goes: the first share of an output straight into its place
     * (a ping-pong buffer when one layer reads it, its sum buffer when several do), a further
     * share into gtmp, added after the call. */
    float *dx[LAYER_MAX_INPUTS];
    int add[LAYER_MAX_INPUTS] = {0};
    for (int s = 0; s < l->n_in; s++) {
      const int p = l->src[s];
      if (p < 0) {
        dx[s] = NULL; /* the input image's gradient is not needed */
      } else if (!ws->have[p]) {
        dx[s] = net->layers[p].readers > 1 ? ws->gsum[p] : (dy == ws->d0 ? ws->d1 : ws->d0);
        ws->grad[p] = dx[s];
        ws->have[p] = 1;
      } else {
        dx[s] = ws->gtmp[s];
        add[s] = 1;
      }
    }
    const float *in[LAYER_MAX_INPUTS];
    inputs_of(l, ws, x, in);
    ctx.saved = ws->saved[i];
    double t0 = ws->prof ? thread_seconds() : 0.0;
    layer_backward(l, params, in, ws->act[i], dy, dx, grads, n, &ctx);
    for (int s = 0; s < l->n_in; s++) {
      if (!add[s]) continue;
      float *sum = ws->gsum[l->src[s]];
      const size_t len = (size_t)n * shape_size(net->layers[l->src[s]].out);
      for (size_t j = 0; j < len; j++) sum[j] += dx[s][j];
    }
    if (ws->prof) ws->prof[2 * i + 1] += thread_seconds() - t0;
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
