/* jc_reference.c - run jetcnn's layers on cases written by a reference script (PyTorch)
 * and write what they compute, for the script to compare.
 *
 * usage: jc_reference IN.h5 OUT.h5
 *
 * IN.h5 holds one group per case (any name), each with
 *   attribute config      the config text ([net] + layer sections)
 *   attribute training    optional int, 1: training mode (batch norm over the case's n samples
 *                         as one micro-batch; dropout would be active); default 0: inference
 *   x        (n,C,H,W)    float32 input, NCHW (already normalised: no normalisation here)
 *   weights/layerNN/...   the weights and state (running statistics), layout and names of
 *                         checkpoint.h5 (docs/formats.md)
 *   dlogits  (n,L)        optional: dL/dlogits fed to backward
 *   labels   (n)          optional int32: also compute the loss of the net's head
 * OUT.h5 gets a group of the same name with
 *   y (n,L) logits, dx (n,C,H,W) input gradient, grads/layerNN/<parameter names>,
 *   with labels: loss (1) = mean loss, dlogits_loss (n,L) = dL/dlogits of that mean;
 *   in training mode, when the net has state: state/layerNN/<state names> after one
 *   net_update_state with this micro-batch's batch statistics;
 *   in inference mode: y_folded (n,L), the logits of the inference net (batch norm folded).
 * Backward uses dlogits when given, else dlogits_loss.
 *
 * The forward/backward pass is run twice: by net_forward/net_backward (which skip the
 * first layer's dx) and by a plain loop over every layer (tests/plain_net.h) that keeps
 * every dx; the two must agree bit for bit (y and the parameter gradients), else the case
 * fails.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/h5io.h"
#include "jetcnn/loss.h"
#include "jetcnn/net.h"
#include "plain_net.h"

/* Read float dataset `name` of loc, checking it has exactly the given shape. */
static jc_code read_shaped(hid_t loc, const char *path, const char *name, int ndims, const hsize_t *shape,
                           hid_t type, void *out, jc_err *err) {
  int nd;
  hsize_t dims[4];
  JC_TRY(h5io_dataset_info(loc, path, name, &nd, dims, NULL, NULL, err));
  int ok = nd == ndims;
  for (int d = 0; ok && d < nd; d++) ok = dims[d] == shape[d];
  if (!ok) return jc_fail(err, JC_ERR_DATA, "%s: %s has the wrong shape (rank %d)", path, name, nd);
  return h5io_read_full(loc, path, name, type, out, err);
}

/* Everything one case allocates; freed by case_free. */
typedef struct {
  jc_net *net, *inet;
  float *params, *state, *grads, *grads_net, *x, *dlogits, *dlogits_loss, *stats, *iparams;
  int32_t *labels;
  plain_net pn;
  jc_net_ws *ws, *iws;
} case_mem;

static void case_free(case_mem *m) {
  plain_free(m->net, &m->pn);
  free(m->params);
  free(m->state);
  free(m->grads);
  free(m->grads_net);
  free(m->x);
  free(m->dlogits);
  free(m->dlogits_loss);
  free(m->stats);
  free(m->iparams);
  free(m->labels);
  net_ws_free(&m->ws);
  net_ws_free(&m->iws);
  net_free(&m->inet);
  net_free(&m->net);
}

/* One tensor of a layer in the checkpoint layout: its name, data and shape. */
typedef struct {
  const char *name;
  float *data;
  int ndims;
  hsize_t dims[4];
} tensor;

/* The parameter tensors of l in params (and with state, its state tensors): count (<= 4). */
static int layer_tensors(const jc_layer *l, float *params, float *state, tensor *t) {
  int n = 0;
  if (l->n_kernel) {
    t[n] = (tensor){l->ops->kernel_name ? l->ops->kernel_name : "kernel", params + l->offset, l->kernel_ndims, {0}};
    for (int d = 0; d < l->kernel_ndims; d++) t[n].dims[d] = (hsize_t)l->kernel_shape[d];
    n++;
  }
  if (l->n_bias)
    t[n++] = (tensor){l->ops->bias_name ? l->ops->bias_name : "bias", params + l->offset + l->n_kernel, 1, {l->n_bias}};
  int parts = 0;
  while (state && l->n_state && l->ops->state_names[parts]) parts++;
  for (int k = 0; k < parts; k++) {
    const size_t len = l->n_state / (size_t)parts;
    t[n++] = (tensor){l->ops->state_names[k], state + l->state_offset + (size_t)k * len, 1, {len}};
  }
  return n;
}

/* Read the weights (and state) of every layer from loc/weights/layerNN. */
static jc_code read_weights(hid_t loc, const char *path, const jc_net *net, float *params, float *state, jc_err *err) {
  for (int i = 0; i < net->n_layers; i++) {
    tensor t[4];
    const int n = layer_tensors(&net->layers[i], params, state, t);
    for (int k = 0; k < n; k++) {
      char name[96];
      snprintf(name, sizeof name, "weights/layer%02d/%s", net->layers[i].index, t[k].name);
      JC_TRY(read_shaped(loc, path, name, t[k].ndims, t[k].dims, H5T_NATIVE_FLOAT, t[k].data, err));
    }
  }
  return JC_OK;
}

/* Write group/layerNN/<name> of every layer's tensors in params (and state) under g. */
static jc_code write_tensors(hid_t g, const char *group, const jc_net *net, float *params, float *state, jc_err *err) {
  hid_t gg = H5Gcreate2(g, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (gg < 0) return h5io_fail(err, JC_ERR_IO, "cannot create group %s", group);
  jc_code rc = JC_OK;
  for (int i = 0; rc == JC_OK && i < net->n_layers; i++) {
    tensor t[4];
    const int n = layer_tensors(&net->layers[i], params, state, t);
    char name[32];
    snprintf(name, sizeof name, "layer%02d", net->layers[i].index);
    hid_t lg = n == 0 ? H5I_INVALID_HID
                      : H5Lexists(gg, name, H5P_DEFAULT) > 0 ? H5Gopen2(gg, name, H5P_DEFAULT)
                                                               : H5Gcreate2(gg, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (n > 0 && lg < 0) rc = h5io_fail(err, JC_ERR_IO, "cannot create group %s/%s", group, name);
    for (int k = 0; rc == JC_OK && k < n; k++) rc = h5io_write_full(lg, t[k].name, H5T_NATIVE_FLOAT, t[k].ndims, t[k].dims, t[k].data, err);
    if (lg >= 0) H5Gclose(lg);
  }
  H5Gclose(gg);
  return rc;
}

static void *alloc_floats(size_t n, jc_err *err) { return jc_calloc(n ? n : 1, sizeof(float), err); }

/* Run the case in group `name` of the input file into a group of the same name in out. */
static jc_code run_case(hid_t in, const char *in_path, hid_t out, const char *name, jc_err *err) {
  case_mem m = {0};
  hid_t g = H5Gopen2(in, name, H5P_DEFAULT), og = H5I_INVALID_HID;
  if (g < 0) return h5io_fail(err, JC_ERR_DATA, "%s: cannot open group %s", in_path, name);
  jc_config *cfg = NULL;
  char *text = h5io_read_attr_str(g, "config", err);
  jc_code rc = text ? JC_OK : err->code;
  if (rc == JC_OK) rc = config_parse_text(text, name, &cfg, err);
  free(text);
  if (rc == JC_OK) rc = net_create(cfg, &m.net, err);
  else config_free(&cfg);
  if (rc != JC_OK) goto done;

  const jc_net *net = m.net;
  int nd;
  hsize_t xdims[4];
  rc = h5io_dataset_info(g, in_path, "x", &nd, xdims, NULL, NULL, err);
  if (rc != JC_OK) goto done;
  const jc_shape in_shape = net->hp.input;
  if (nd != 4 || xdims[1] != (hsize_t)in_shape.c || xdims[2] != (hsize_t)in_shape.h || xdims[3] != (hsize_t)in_shape.w) {
    rc = jc_fail(err, JC_ERR_DATA, "%s: %s/x must be (n,%d,%d,%d)", in_path, name, in_shape.c, in_shape.h, in_shape.w);
    goto done;
  }
  const int n = (int)xdims[0];
  const size_t L = (size_t)net->n_logits, per = shape_size(in_shape);
  hsize_t ldims[2] = {(hsize_t)n, L};
  long training = 0;
  if (H5Aexists(g, "training") > 0) {
    char *t = h5io_read_attr_str(g, "training", err);
    if (!t) {
      rc = err->code;
      goto done;
    }
    training = strcmp(t, "1") == 0;
    free(t);
  }
  m.params = alloc_floats(net->n_params, err);
  m.state = alloc_floats(net->n_state, err);
  m.stats = alloc_floats(net->n_batch_stats, err);
  m.grads = alloc_floats(net->n_params, err);
  m.grads_net = alloc_floats(net->n_params, err);
  m.x = alloc_floats((size_t)n * per, err);
  m.dlogits = alloc_floats((size_t)n * L, err);
  m.dlogits_loss = alloc_floats((size_t)n * L, err);
  m.labels = jc_calloc((size_t)n + 1, sizeof *m.labels, err);
  m.ws = net_ws_create(net, n, err);
  if (!m.params || !m.state || !m.stats || !m.grads || !m.grads_net || !m.x || !m.dlogits || !m.dlogits_loss ||
      !m.labels || !m.ws || !plain_create(net, n, &m.pn)) {
    rc = JC_ERR_NOMEM;
    goto done;
  }
  rc = h5io_read_full(g, in_path, "x", H5T_NATIVE_FLOAT, m.x, err);
  if (rc == JC_OK) rc = read_weights(g, in_path, net, m.params, m.state, err);
  const int has_labels = H5Lexists(g, "labels", H5P_DEFAULT) > 0;
  const int has_dlogits = H5Lexists(g, "dlogits", H5P_DEFAULT) > 0;
  hsize_t ndim1[1] = {(hsize_t)n};
  if (rc == JC_OK && has_labels) rc = read_shaped(g, in_path, "labels", 1, ndim1, H5T_NATIVE_INT32, m.labels, err);
  if (rc == JC_OK && has_dlogits) rc = read_shaped(g, in_path, "dlogits", 2, ldims, H5T_NATIVE_FLOAT, m.dlogits, err);
  if (rc == JC_OK && !has_labels && !has_dlogits)
    rc = jc_fail(err, JC_ERR_DATA, "%s: case %s has neither dlogits nor labels", in_path, name);
  if (rc != JC_OK) goto done;

  /* 1. The library's own pass. */
  jc_ctx ctx = {.training = (int)training, .seed = net->hp.seed, .state = m.state, .batch_stats = m.stats};
  const float *logits = net_forward(net, m.params, m.ws, m.x, n, ctx);
  double loss = 0.0;
  if (has_labels)
    loss = loss_forward_backward(net->head, logits, m.labels, n, (int)L, 1.0f / (float)n, m.dlogits_loss, NULL) / n;
  const float *dlogits = has_dlogits ? m.dlogits : m.dlogits_loss;
  net_backward(net, m.params, m.ws, m.x, dlogits, m.grads_net, n, ctx);

  /* 2. The plain loop that keeps the first layer's dx; must agree bit for bit. */
  ctx.batch_stats = NULL;
  const float *y = plain_forward(net, m.params, m.x, &m.pn, ctx);
  plain_backward(net, m.params, m.x, dlogits, m.grads, &m.pn, ctx);
  if (memcmp(y, logits, (size_t)n * L * sizeof *y) != 0 ||
      memcmp(m.grads, m.grads_net, net->n_params * sizeof *m.grads) != 0) {
    rc = jc_fail(err, JC_ERR_RUNTIME, "case %s: net_forward/net_backward differ from a plain loop over the layers", name);
    goto done;
  }

  /* 3. Inference: the folded net; training: the running statistics after this micro-batch. */
  const float *y_folded = NULL;
  if (!training) {
    rc = net_inference(net, m.params, m.state, &m.inet, &m.iparams, err);
    if (rc == JC_OK && !(m.iws = net_ws_create(m.inet, n, err))) rc = JC_ERR_NOMEM;
    if (rc != JC_OK) goto done;
    y_folded = net_forward(m.inet, m.iparams, m.iws, m.x, n, (jc_ctx){.seed = net->hp.seed});
  } else {
    net_update_state(net, m.state, m.stats, n);
  }

  og = H5Gcreate2(out, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (og < 0) {
    rc = h5io_fail(err, JC_ERR_IO, "cannot create output group %s", name);
    goto done;
  }
  hsize_t loss_dims[1] = {1};
  float loss_f = (float)loss;
  rc = h5io_write_full(og, "y", H5T_NATIVE_FLOAT, 2, ldims, y, err);
  if (rc == JC_OK) rc = h5io_write_full(og, "dx", H5T_NATIVE_FLOAT, 4, xdims, m.pn.dinput, err);
  if (rc == JC_OK) rc = write_tensors(og, "grads", net, m.grads, NULL, err);
  if (rc == JC_OK && y_folded) rc = h5io_write_full(og, "y_folded", H5T_NATIVE_FLOAT, 2, ldims, y_folded, err);
  if (rc == JC_OK && training && net->n_state) rc = write_tensors(og, "state", net, m.params, m.state, err);
  if (rc == JC_OK && has_labels) rc = h5io_write_full(og, "loss", H5T_NATIVE_FLOAT, 1, loss_dims, &loss_f, err);
  if (rc == JC_OK && has_labels) rc = h5io_write_full(og, "dlogits_loss", H5T_NATIVE_FLOAT, 2, ldims, m.dlogits_loss, err);
done:
  if (og >= 0) H5Gclose(og);
  H5Gclose(g);
  case_free(&m);
  return rc;
}

/* H5Literate callback: run every group of the input file. */
typedef struct {
  const char *in_path;
  hid_t out;
  int n_cases;
  jc_code rc;
  jc_err *err;
} iter_state;

static herr_t visit(hid_t loc, const char *name, const H5L_info_t *info, void *data) {
  iter_state *s = data;
  s->rc = run_case(loc, s->in_path, s->out, name, s->err);
  if (s->rc != JC_OK) return 1; /* stop at the first failure */
  s->n_cases++;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: jc_reference IN.h5 OUT.h5\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  h5io_init();
  jc_err err;
  jc_err_clear(&err);
  iter_state s = {.in_path = argv[1], .rc = JC_OK, .err = &err};
  hid_t in = h5io_open_read(argv[1], MPI_COMM_SELF, &err);
  jc_code rc = in < 0 ? err.code : JC_OK;
  hid_t out = rc == JC_OK ? h5io_create_tmp(argv[2], MPI_COMM_SELF, &err) : H5I_INVALID_HID;
  if (rc == JC_OK && out < 0) rc = err.code;
  if (rc == JC_OK) {
    s.out = out;
    hsize_t idx = 0;
    if (H5Literate(in, H5_INDEX_NAME, H5_ITER_INC, &idx, visit, &s) < 0 && s.rc == JC_OK)
      rc = h5io_fail(&err, JC_ERR_DATA, "%s: cannot list the cases", argv[1]);
    if (s.rc != JC_OK) rc = s.rc;
  }
  if (rc == JC_OK && s.n_cases == 0) rc = jc_fail(&err, JC_ERR_DATA, "%s: no cases", argv[1]);
  if (rc == JC_OK) rc = h5io_commit(&out, argv[2], MPI_COMM_SELF, &err);
  else if (out >= 0) h5io_abandon(&out, argv[2], MPI_COMM_SELF);
  if (in >= 0) H5Fclose(in);
  if (rc == JC_OK) printf("jc_reference: %d cases written to %s\n", s.n_cases, argv[2]);
  else fprintf(stderr, "jc_reference: error: %s\n", err.msg);
  MPI_Finalize();
  return rc == JC_OK ? 0 : (int)rc;
}
