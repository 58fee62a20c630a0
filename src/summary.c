/* summary.c - the Keras-style model table that `jetcnn summary` prints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/net.h"

/* A growing text buffer; on allocation failure `failed` is set and text freed. */
typedef struct {
  char *text;
  size_t len, cap;
  int failed;
} text_buf;

static void add(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text_buf *b, const char *fmt, ...) {
  if (b->failed) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
    size_t cap = (b->cap ? 2 * b->cap : 4096) + (n > 0 ? (size_t)n : 0);
    char *grown = n < 0 ? NULL : realloc(b->text, cap);
    if (!grown) {
      free(b->text);
      *b = (text_buf){NULL, 0, 0, 1};
      return;
    }
    b->text = grown;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* 122570 -> "122,570" */
static void with_commas(size_t v, char *buf, size_t n) {
  char digits[32];
  snprintf(digits, sizeof digits, "%zu", v);
  size_t len = strlen(digits), pos = 0;
  for (size_t i = 0; i < len && pos + 2 < n; i++) {
    if (i > 0 && (len - i) % 3 == 0) buf[pos++] = ',';
    buf[pos++] = digits[i];
  }
  buf[pos] = '\0';
}

static void human(double v, const char *unit, char *buf, size_t n) {
  const char *pre[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (v >= 1000.0 && i < 4) {
    v /= 1000.0;
    i++;
  }
  snprintf(buf, n, i ? "%.2f %s%s" : "%.0f %s%s", v, pre[i], unit);
}

/* Keras writes shapes channels-last: (None, H, W, C), or (None, N) for vectors. */
static void keras_shape(jc_shape s, char *buf, size_t n) {
  if (s.h == 1 && s.w == 1) snprintf(buf, n, "(None, %d)", s.c);
  else snprintf(buf, n, "(None, %d, %d, %d)", s.h, s.w, s.c);
}

/* The name column of section row i (l and the fused layers after it): "layer02 conv (Conv2D,
 * batchnorm, relu)"; a layer with several inputs shows how it combines them ("from layer01"). */
static void row_name(const jc_net *net, int i, char *buf, size_t n) {
  const jc_layer *l = &net->layers[i];
  char extra[160] = "";
  if (l->n_in > 1 && l->label[0]) snprintf(extra, sizeof extra, ", %s", l->label);
  int last = i;
  for (int j = i + 1; j < net->n_layers && net->layers[j].fused; j++) {
    size_t len = strlen(extra);
    snprintf(extra + len, sizeof extra - len, ", %s", net->layers[j].label);
    last = j;
  }
  if (last == net->n_layers - 1) {
    size_t len = strlen(extra);
    snprintf(extra + len, sizeof extra - len, ", %s", net->head == HEAD_SIGMOID ? "sigmoid" : "softmax");
  }
  snprintf(buf, n, "layer%02d %s (%s%s)", l->index, l->ops->section, l->ops->kind, extra);
}

char *net_summary(const jc_net *net, jc_err *err) {
  text_buf b = {NULL, 0, 0, 0}, *out = &b;
  char shape[64], params[32], flops[32], mem[32], name[256];
  int width = 34; /* the name column, wider when a row needs it */
  for (int i = 0; i < net->n_layers; i++) {
    if (net->layers[i].fused) continue;
    row_name(net, i, name, sizeof name);
    if ((int)strlen(name) > width) width = (int)strlen(name);
  }
  char rule[400], dbl[400];
  const int line = width + 58; /* 92 with the narrowest name column */
  memset(rule, '_', (size_t)line);
  memset(dbl, '=', (size_t)line);
  rule[line] = dbl[line] = '\0';
  add(out, "Model: \"%s\"\n%s\n", net->cfg->path, rule);
  add(out, " %-*s %-20s %10s %12s %12s\n", width, "Layer (type)", "Output Shape", "Param #", "FLOPs", "Act. mem");
  add(out, "%s\n", dbl);
  keras_shape(net->hp.input, shape, sizeof shape);
  add(out, " %-*s %-20s %10s %12s %12s\n", width, "input (InputLayer)", shape, "0", "", "");
  double total_flops = 0.0, total_mem = 0.0;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->fused) continue; /* shown with the layer it belongs to */
    const jc_layer *shown = l;
    double fl = l->flops;
    size_t n_par = l->n_kernel + l->n_bias + l->n_state;
    for (int j = i + 1; j < net->n_layers && net->layers[j].fused; j++) {
      shown = &net->layers[j];
      fl += shown->flops;
      n_par += shown->n_kernel + shown->n_bias + shown->n_state;
    }
    row_name(net, i, name, sizeof name);
    keras_shape(shown->out, shape, sizeof shape);
    with_commas(n_par, params, sizeof params);
    human(fl, "", flops, sizeof flops);
    double bytes = (double)shape_size(shown->out) * sizeof(float);
    human(bytes, "B", mem, sizeof mem);
    add(out, " %-*s %-20s %10s %12s %12s\n", width, name, shape, params, flops, mem);
    total_flops += fl;
    total_mem += bytes;
  }
  add(out, "%s\n", dbl);
  char trainable[32], fixed[32];
  with_commas(net->n_params + net->n_state, params, sizeof params);
  with_commas(net->n_params, trainable, sizeof trainable);
  with_commas(net->n_state, fixed, sizeof fixed);
  add(out, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s%s\n", params, trainable, fixed,
      net->n_state ? " (batch norm running statistics)" : "");
  human(total_flops, "", flops, sizeof flops);
  human(total_mem, "B", mem, sizeof mem);
  add(out, "Forward FLOPs per sample: %s (training step about 3x)\n", flops);
  add(out, "Activation memory per sample: %s\n", mem);
  add(out, "Output: %d classes, %s head; batch %ld (micro-batch %ld), %ld epochs\n", net->n_classes,
          net->head == HEAD_SIGMOID ? "sigmoid + binary cross-entropy" : "softmax + cross-entropy", net->hp.batch,
          net->hp.micro_batch, net->hp.epochs);
  add(out, "%s\n", rule);
  if (b.failed) jc_fail(err, JC_ERR_NOMEM, "out of memory (model summary)");
  return b.text;
}
