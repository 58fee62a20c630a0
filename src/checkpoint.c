/* checkpoint.c - write and read checkpoint.h5 (see checkpoint.h, docs/formats.md). */
#include "jetcnn/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"

static const char *const OPT_NAMES[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};

static jc_code write_contents(hid_t f, const jc_net *net, const float *params, const jc_optim *opt,
                              jc_progress progress, jc_err *err) {
  char *text = config_to_text(net->cfg, err);
  if (!text) return err->code;
  jc_code rc = h5io_write_attr_str(f, "format", CHECKPOINT_FORMAT, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "config", text, err);
  free(text);
  char buf[64];
  snprintf(buf, sizeof buf, "%016llx", config_hash(net->cfg));
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "config_hash", buf, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "jetcnn_version", JETCNN_VERSION, err);
  hid_t g = rc == JC_OK ? H5Gcreate2(f, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
  if (rc == JC_OK && g < 0) rc = h5io_fail(err, JC_ERR_IO, "cannot create group /weights");
  for (int i = 0; rc == JC_OK && i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->n_kernel == 0) continue;
    char name[32];
    snprintf(name, sizeof name, "layer%02d", l->index);
    hid_t lg = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (lg < 0) {
      rc = h5io_fail(err, JC_ERR_IO, "cannot create group /weights/%s", name);
      break;
    }
    hsize_t kdims[4], bdims[1] = {l->n_bias};
    for (int d = 0; d < l->kernel_ndims; d++) kdims[d] = (hsize_t)l->kernel_shape[d];
    rc = h5io_write_full(lg, "kernel", H5T_NATIVE_FLOAT, l->kernel_ndims, kdims, params + l->offset, err);
    if (rc == JC_OK)
      rc = h5io_write_full(lg, "bias", H5T_NATIVE_FLOAT, 1, bdims, params + l->offset + l->n_kernel, err);
    if (rc == JC_OK) rc = h5io_write_attr_str(lg, "section", l->ops->section, err);
    H5Gclose(lg);
  }
  if (g >= 0) H5Gclose(g);
  hid_t s = rc == JC_OK ? H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
  if (rc == JC_OK && s < 0) rc = h5io_fail(err, JC_ERR_IO, "cannot create group /state");
  hsize_t one = 1, n = net->n_params;
  if (rc == JC_OK) rc = h5io_write_full(s, "epoch", H5T_NATIVE_INT64, 1, &one, &progress.epoch, err);
  if (rc == JC_OK) rc = h5io_write_full(s, "step", H5T_NATIVE_INT64, 1, &one, &progress.step, err);
  if (rc == JC_OK && opt) {
    rc = h5io_write_attr_str(s, "optimizer", OPT_NAMES[opt->kind], err);
    if (rc == JC_OK) rc = h5io_write_full(s, "optimizer_t", H5T_NATIVE_INT64, 1, &one, &opt->t, err);
    if (rc == JC_OK && opt->m) rc = h5io_write_full(s, "optimizer_m", H5T_NATIVE_FLOAT, 1, &n, opt->m, err);
    if (rc == JC_OK && opt->v) rc = h5io_write_full(s, "optimizer_v", H5T_NATIVE_FLOAT, 1, &n, opt->v, err);
  }
  if (s >= 0) H5Gclose(s);
  return rc;
}

jc_code checkpoint_write(const char *path, const jc_net *net, const float *params, const jc_optim *opt,
                         jc_progress progress, MPI_Comm comm, jc_err *err) {
  jc_code rc = JC_OK;
  if (dist_rank(comm) == 0) {
    hid_t f = h5io_create_tmp(path, MPI_COMM_SELF, err);
    if (f < 0) rc = err->code;
    if (rc == JC_OK && write_contents(f, net, params, opt, progress, err) != JC_OK)
      rc = jc_prefix(err, "%s.tmp: ", path); /* dataset messages do not name the file */
    if (rc == JC_OK) rc = h5io_commit(&f, path, MPI_COMM_SELF, err);
    else h5io_abandon(&f, path, MPI_COMM_SELF);
  }
  return dist_agree(comm, rc, err);
}

char *checkpoint_read_config(const char *path, MPI_Comm comm, jc_err *err) {
  char *text = NULL;
  hid_t f = h5io_open_read(path, comm, err);
  jc_code rc = f < 0 ? err->code : JC_OK;
  if (rc == JC_OK) rc = h5io_check_format(f, path, CHECKPOINT_FORMAT, err);
  if (rc == JC_OK) {
    text = h5io_read_attr_str(f, "config", err);
    if (!text) rc = jc_prefix(err, "%s: ", path);
  }
  if (f >= 0) H5Fclose(f);
  rc = dist_agree(comm, rc, err);
  if (rc != JC_OK) {
    free(text);
    return NULL;
  }
  return text;
}

/* Read dataset loc/name of exactly `count` floats with the expected shape. */
static jc_code read_checked(hid_t loc, const char *path, const char *where, const char *name, int ndims,
                            const int *shape, float *out, jc_err *err) {
  int nd;
  hsize_t dims[4];
  char full[96];
  snprintf(full, sizeof full, "%s/%s", where, name);
  JC_TRY(h5io_dataset_info(loc, path, full, &nd, dims, NULL, NULL, err));
  int ok = nd == ndims;
  for (int d = 0; ok && d < nd; d++) ok = dims[d] == (hsize_t)shape[d];
  if (!ok) {
    char want[64] = "", got[64] = "";
    for (int d = 0; d < ndims; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "", shape[d]);
    for (int d = 0; d < nd; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", d ? "," : "", (unsigned long long)dims[d]);
    return jc_fail(err, JC_ERR_DATA, "%s: dataset %s has shape (%s) but the config expects (%s)", path, full, got, want);
  }
  return h5io_read_full(loc, path, full, H5T_NATIVE_FLOAT, out, err);
}

jc_code checkpoint_read(const char *path, const jc_net *net, float *params, jc_optim *opt, jc_progress *progress,
                        MPI_Comm comm, jc_err *err) {
  hid_t f = h5io_open_read(path, comm, err);
  jc_code rc = f < 0 ? err->code : JC_OK;
  if (rc == JC_OK) rc = h5io_check_format(f, path, CHECKPOINT_FORMAT, err);
  for (int i = 0; rc == JC_OK && i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->n_kernel == 0) continue;
    char where[32];
    snprintf(where, sizeof where, "/weights/layer%02d", l->index);
    int bshape[1] = {(int)l->n_bias};
    rc = read_checked(f, path, where, "kernel", l->kernel_ndims, l->kernel_shape, params + l->offset, err);
    if (rc == JC_OK) rc = read_checked(f, path, where, "bias", 1, bshape, params + l->offset + l->n_kernel, err);
  }
  if (rc == JC_OK && progress) {
    rc = h5io_read_full(f, path, "/state/epoch", H5T_NATIVE_INT64, &progress->epoch, err);
    if (rc == JC_OK) rc = h5io_read_full(f, path, "/state/step", H5T_NATIVE_INT64, &progress->step, err);
  }
  if (rc == JC_OK && opt) {
    int n[1] = {(int)net->n_params};
    rc = h5io_read_full(f, path, "/state/optimizer_t", H5T_NATIVE_INT64, &opt->t, err);
    if (rc == JC_OK && opt->m) rc = read_checked(f, path, "/state", "optimizer_m", 1, n, opt->m, err);
    if (rc == JC_OK && opt->v) rc = read_checked(f, path, "/state", "optimizer_v", 1, n, opt->v, err);
  }
  if (f >= 0) H5Fclose(f);
  return dist_agree(comm, rc, err);
}
