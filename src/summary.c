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

char *net_summary(const jc_net *net, jc_err *err) {
  text_buf b = {NULL, 0, 0, 0}, *out = &b;
  const char *rule = "____________________________________________________________________________________________";
  const char *dbl = "============================================================================================";
  add(out, "Model: \"%s\"\n%s\n", net->cfg->path, rule);
  add(out, " %-34s %-20s %10s %12s %12s\n", "Layer (type)", "Output Shape", "Param #", "FLOPs", "Act. mem");
  add(out, "%s\n", dbl);
  char shape[64], params[32], flops[32], mem[32], name[96];
  keras_shape(net->hp.input, shape, sizeof shape);
  add(out, " %-34s %-20s %10s %12s %12s\n", "input (InputLayer)", shape, "0", "", "");
  double total_flops = 0.0, total_mem = 0.0;
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->fused) continue; /* shown with the layer it belongs to */
    const jc_layer *shown = l;
    double fl = l->flops;
    if (i + 1 < net->n_layers && net->layers[i + 1].fused) {
      shown = &net->layers[i + 1];
      fl += shown->flops;
    }
    char extra[48] = "";
    if (shown != l) snprintf(extra, sizeof extra, ", %s", shown->label);
    int is_last = (shown == &net->layers[net->n_layers - 1]);
    if (is_last) {
      size_t len = strlen(extra);
      snprintf(extra + len, sizeof extra - len, ", %s", net->head == HEAD_SIGMOID ? "sigmoid" : "softmax");
    }
    snprintf(name, sizeof name, "layer%02d %s (%s%s)", l->index, l->ops->section, l->ops->kind, extra);
    keras_shape(shown->out, shape, sizeof shape);
    with_commas(l->n_kernel + l->n_bias, params, sizeof params);
    human(fl, "", flops, sizeof flops);
    double bytes = (double)shape_size(shown->out) * sizeof(float);
    human(bytes, "B", mem, sizeof mem);
    add(out, " %-34s %-20s %10s %12s %12s\n", name, shape, params, flops, mem);
    total_flops += fl;
    total_mem += bytes;
  }
  add(out, "%s\n", dbl);
  with_commas(net->n_params, params, sizeof params);
  add(out, "Total params: %s\nTrainable params: %s\nNon-trainable params: 0\n", params, params);
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
