/* onnx_export.c - a net and its weights as one ONNX graph (onnx.h): raw images in, class
 * probabilities out, with the input normalisation, the layout change, every layer (its own
 * export_onnx, src/layers/KIND.c) and the head inside; written atomically. */
#define _GNU_SOURCE /* O_CLOEXEC, O_NOFOLLOW */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/onnx.h"

/* The pixel normalisation of net_normalize_input() on the raw images (any layout: it uses
 * every pixel of a sample): x * s with
 *   normalize = sum:  s = (float)(input_scale / sum(x)) in double, input_scale when sum(x) = 0
 *   otherwise:        s = (float)input_scale (no node when s = 1).
 * Returns the normalised tensor's name. */
static const char *normalize(const jc_net *net, jc_onnx_graph *g, const char *x, int n_axes) {
  const float scale_f = (float)net->hp.input_scale;
  if (net->hp.normalize != NORM_SUM) {
    if (scale_f == 1.0f) return x;
    const char *s = onnx_const(g, "input_scale", ONNX_FLOAT, &scale_f, NULL, 0);
    return onnx_node(g, "Mul", (const char *[]){x, s}, 2, onnx_tensor(g, "scaled"));
  }
  const double scale = net->hp.input_scale, zero = 0.0;
  const int64_t axes[3] = {1, 2, 3}, n_ax = n_axes;
  const char *xd = onnx_node(g, "Cast", (const char *[]){x}, 1, onnx_tensor(g, "pixels_f64"));
  onnx_attr_int(g, "to", ONNX_DOUBLE);
  const char *ax = onnx_const(g, "axes", ONNX_INT64, axes, &n_ax, 1);
  const char *sum = onnx_node(g, "ReduceSum", (const char *[]){xd, ax}, 2, onnx_tensor(g, "sum"));
  onnx_attr_int(g, "keepdims", 1);
  const char *sc = onnx_const(g, "input_scale", ONNX_DOUBLE, &scale, NULL, 0);
  const char *z = onnx_const(g, "zero", ONNX_DOUBLE, &zero, NULL, 0);
  const char *empty = onnx_node(g, "Equal", (const char *[]){sum, z}, 2, onnx_tensor(g, "empty"));
  const char *q = onnx_node(g, "Div", (const char *[]){sc, sum}, 2, onnx_tensor(g, "scale_over_sum"));
  const char *sd = onnx_node(g, "Where", (const char *[]){empty, sc, q}, 3, onnx_tensor(g, "factor_f64"));
  const char *s = onnx_node(g, "Cast", (const char *[]){sd}, 1, onnx_tensor(g, "factor"));
  onnx_attr_int(g, "to", ONNX_FLOAT);
  return onnx_node(g, "Mul", (const char *[]){x, s}, 2, onnx_tensor(g, "normalized"));
}

/* (N, H, W) -> (N, 1, H, W), or (N, H, W, C) -> (N, C, H, W). */
static const char *to_nchw(const jc_net *net, jc_onnx_graph *g, const char *x) {
  if (net->hp.input.c == 1) {
    const int64_t axis = 1, one = 1;
    const char *ax = onnx_const(g, "axes", ONNX_INT64, &axis, &one, 1);
    return onnx_node(g, "Unsqueeze", (const char *[]){x, ax}, 2, onnx_tensor(g, "nchw"));
  }
  const char *y = onnx_node(g, "Transpose", (const char *[]){x}, 1, onnx_tensor(g, "nchw"));
  onnx_attr_ints(g, "perm", (const int64_t[]){0, 3, 1, 2}, 4);
  return y;
}

/* logits (N, K, 1, 1) -> probs (N, K) as jetcnn predict writes them: softmax, or for a
 * sigmoid head [1 - p, p] with p = sigmoid(logit). */
static void head(const jc_net *net, jc_onnx_graph *g, const char *logits, const char *probs) {
  const char *z = onnx_node(g, "Flatten", (const char *[]){logits}, 1, onnx_tensor(g, "logits"));
  onnx_attr_int(g, "axis", 1);
  if (net->head == HEAD_SOFTMAX) {
    onnx_node(g, "Softmax", (const char *[]){z}, 1, probs);
    onnx_attr_int(g, "axis", 1);
    return;
  }
  const float one = 1.0f;
  const char *p = onnx_node(g, "Sigmoid", (const char *[]){z}, 1, onnx_tensor(g, "p_top"));
  const char *c1 = onnx_const(g, "one", ONNX_FLOAT, &one, NULL, 0);
  const char *q = onnx_node(g, "Sub", (const char *[]){c1, p}, 2, onnx_tensor(g, "p_qcd"));
  onnx_node(g, "Concat", (const char *[]){q, p}, 2, probs);
  onnx_attr_int(g, "axis", 1);
}

/* The whole graph of net into g. */
static jc_code build(const jc_net *net, const float *params, jc_onnx_graph *g, jc_err *err) {
  const jc_shape in = net->hp.input;
  const int64_t dims3[3] = {-1, in.h, in.w}, dims4[4] = {-1, in.h, in.w, in.c};
  const int rank = in.c == 1 ? 3 : 4;
  onnx_graph_input(g, "images", ONNX_FLOAT, rank == 3 ? dims3 : dims4, rank);
  onnx_scope(g, "input");
  const char *x = to_nchw(net, g, normalize(net, g, "images", rank - 1));
  JC_TRY(onnx_status(g, err));
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    char scope[48];
    snprintf(scope, sizeof scope, "l%d_%s", i, l->ops->section);
    onnx_scope(g, scope);
    if (!l->ops->export_onnx)
      return jc_fail(err, JC_ERR_USAGE, "%s:%d: [%s] layers cannot be exported to ONNX yet", l->path, l->line,
                     l->ops->section);
    /* A fused ReLU (relu_out of the layer before) is skipped at run time but is a layer of
     * its own here: the layer before exports its linear output, this one the ReLU. */
    const char *y = onnx_tensor(g, "out");
    JC_TRY(onnx_status(g, err));
    jc_code rc = l->ops->export_onnx(l, params, g, &x, y, err);
    if (rc == JC_OK) rc = onnx_status(g, err);
    if (rc != JC_OK) return jc_prefix(err, "%s:%d: [%s]: ", l->path, l->line, l->ops->section);
    x = y;
  }
  onnx_scope(g, "head");
  head(net, g, x, "probs");
  onnx_graph_output(g, "probs", ONNX_FLOAT, (const int64_t[]){-1, net->n_classes}, 2);
  return onnx_status(g, err);
}

/* Write bytes to path through PATH.tmp: create it afresh (never through a link that may
 * point at another file), write, fsync, rename. */
static jc_code write_atomic(const char *path, const uint8_t *bytes, size_t n, jc_err *err) {
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return jc_fail(err, JC_ERR_USAGE, "%s: path too long", path);
  if (unlink(tmp) != 0 && errno != ENOENT)
    return jc_fail(err, JC_ERR_IO, "%s: cannot remove the old temporary file: %s", tmp, strerror(errno));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return jc_fail(err, JC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  jc_code rc = JC_OK;
  for (size_t done = 0; rc == JC_OK && done < n;) {
    ssize_t w = write(fd, bytes + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", tmp, w < 0 ? strerror(errno) : "no progress");
    else done += (size_t)w;
  }
  if (rc == JC_OK && fsync(fd) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: cannot sync: %s", tmp, strerror(errno));
  if (close(fd) != 0 && rc == JC_OK) rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
  if (rc == JC_OK && rename(tmp, path) != 0)
    rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
  if (rc != JC_OK) unlink(tmp);
  return rc;
}

/* 1 if a and b name the same existing file. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

jc_code onnx_export_net(const jc_net *net, const float *params, const char *path, const char *source,
                        jc_onnx_info *info, jc_err *err) {
  if (source && same_file(path, source))
    return jc_fail(err, JC_ERR_USAGE, "%s: is the same file as the checkpoint %s; choose another output file", path, source);
  jc_onnx_graph *g = onnx_graph_create("jetcnn", err);
  if (!g) return err->code;
  jc_code rc = build(net, params, g, err);
  char classes[32];
  snprintf(classes, sizeof classes, "0..%d", net->n_classes - 1);
  onnx_metadata(g, "jetcnn.classes", net->n_classes == 2 ? "0=QCD,1=top" : classes);
  if (source) onnx_metadata(g, "jetcnn.checkpoint", source);
  uint8_t *bytes = NULL;
  size_t n = 0;
  if (rc == JC_OK) rc = onnx_graph_pack(g, &bytes, &n, err);
  if (rc == JC_OK) rc = write_atomic(path, bytes, n, err);
  if (rc == JC_OK && info) *info = (jc_onnx_info){onnx_node_count(g), n};
  free(bytes);
  onnx_graph_free(&g);
  return rc;
}
