/* summary.c - the Keras-style model table printed by `jetcnn summary`. */
#include <stdio.h>
#include <string.h>

#include "jetcnn/net.h"

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

void net_summary(const jc_net *net, FILE *out) {
  const char *rule = "____________________________________________________________________________________________";
  const char *dbl = "============================================================================================";
  fprintf(out, "Model: \"%s\"\n%s\n", net->cfg->path, rule);
  fprintf(out, " %-34s %-20s %10s %12s %12s\n", "Layer (type)", "Output Shape", "Param #", "FLOPs", "Act. mem");
  fprintf(out, "%s\n", dbl);
  char shape[64], params[32], flops[32], mem[32], name[96];
  keras_shape(net->hp.input, shape, sizeof shape);
  fprintf(out, " %-34s %-20s %10s %12s %12s\n", "input (InputLayer)", shape, "0", "", "");
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
    fprintf(out, " %-34s %-20s %10s %12s %12s\n", name, shape, params, flops, mem);
    total_flops += fl;
    total_mem += bytes;
  }
  fprintf(out, "%s\n", dbl);
  with_commas(net->n_params, params, sizeof params);
  fprintf(out, "Total params: %s\nTrainable params: %s\nNon-trainable params: 0\n", params, params);
  human(total_flops, "", flops, sizeof flops);
  human(total_mem, "B", mem, sizeof mem);
  fprintf(out, "Forward FLOPs per sample: %s (training step about 3x)\n", flops);
  fprintf(out, "Activation memory per sample: %s\n", mem);
  fprintf(out, "Output: %d classes, %s head; batch %ld (micro-batch %ld), %ld epochs\n", net->n_classes,
          net->head == HEAD_SIGMOID ? "sigmoid + binary cross-entropy" : "softmax + cross-entropy", net->hp.batch,
          net->hp.micro_batch, net->hp.epochs);
  fprintf(out, "%s\n", rule);
}
