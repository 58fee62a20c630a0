/* predict.c - score every jet of a file and write the scores file collectively. */
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/train.h"

#define SCORES_FORMAT "jetcnn-scores-1"

/* Create dataset `name` of n_rows x row_len in file and write this rank's rows [lo, hi)
 * collectively (a rank without rows selects none). */
static jc_code write_rows(hid_t file, const char *name, hid_t type, size_t n_rows, size_t row_len, size_t lo,
                          size_t hi, const void *data, jc_err *err) {
  int nd = row_len > 1 ? 2 : 1;
  hsize_t dims[2] = {n_rows, row_len}, off[2] = {lo, 0}, cnt[2] = {hi - lo, row_len};
  jc_code rc = JC_OK;
  hid_t fspace = H5Screate_simple(nd, dims, NULL);
  hid_t dset = H5Dcreate2(file, name, type, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t mspace = H5Screate_simple(nd, cnt, NULL);
  hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
  if (fspace < 0 || dset < 0 || mspace < 0 || xfer < 0 || H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE) < 0) {
    rc = h5io_fail(err, JC_ERR_IO, "cannot create dataset %s", name);
  } else {
    herr_t sel = hi > lo ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) : H5Sselect_none(fspace);
    if (hi == lo) H5Sselect_none(mspace);
    if (sel < 0 || H5Dwrite(dset, type, mspace, fspace, xfer, data) < 0)
      rc = h5io_fail(err, JC_ERR_IO, "cannot write dataset %s", name);
  }
  if (xfer >= 0) H5Pclose(xfer);
  if (mspace >= 0) H5Sclose(mspace);
  if (dset >= 0) H5Dclose(dset);
  if (fspace >= 0) H5Sclose(fspace);
  return rc;
}

/* Read rows [lo, hi) of 1-D dataset name of d's file as `type` into buf. */
static jc_code read_rows(jc_data *d, const char *name, hid_t type, size_t lo, size_t hi, void *buf, jc_err *err) {
  if (hi == lo) return JC_OK;
  hsize_t off[1] = {lo}, cnt[1] = {hi - lo};
  jc_code rc = JC_OK;
  hid_t dset = H5Dopen2(d->file, name, H5P_DEFAULT);
  hid_t fspace = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
  hid_t mspace = H5Screate_simple(1, cnt, NULL);
  if (dset < 0 || fspace < 0 || mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
      H5Dread(dset, type, mspace, fspace, H5P_DEFAULT, buf) < 0)
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset /%s", d->path, name);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

static int is_integer(jc_data *d, const char *name) {
  hid_t dset = H5Dopen2(d->file, name, H5P_DEFAULT);
  hid_t type = dset >= 0 ? H5Dget_type(dset) : H5I_INVALID_HID;
  int r = type >= 0 && H5Tget_class(type) == H5T_INTEGER;
  if (type >= 0) H5Tclose(type);
  if (dset >= 0) H5Dclose(dset);
  return r;
}

jc_code predict_run(const jc_net *net, const float *params, jc_data *d, const char *out_path, MPI_Comm comm,
                    double *acc, double *loss, jc_err *err) {
  const int rank = dist_rank(comm), size = dist_size(comm), K = net->n_classes;
  size_t lo, hi;
  plan_share(d->n, rank, size, &lo, &hi);
  const size_t mine = hi - lo;
  float *probs = jc_malloc((mine * (size_t)K + 1) * sizeof *probs, err);
  float *score = jc_malloc((mine + 1) * sizeof *score, err);
  double *extra = jc_malloc((mine + 1) * sizeof *extra, err);
  double sums[2] = {0.0, 0.0};
  long correct = 0;
  jc_code rc = (!probs || !score || !extra) ? JC_ERR_NOMEM : JC_OK;
  if (rc == JC_OK) rc = eval_range(net, params, d, lo, mine, probs, &sums[0], &correct, err);
  rc = dist_agree(comm, rc, err);
  hid_t f = H5I_INVALID_HID;
  if (rc == JC_OK) {
    sums[1] = (double)correct;
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm);
    *loss = sums[0] / (double)d->n;
    *acc = sums[1] / (double)d->n;
    for (size_t i = 0; i < mine; i++) score[i] = probs[i * (size_t)K + 1];
    f = h5io_create_tmp(out_path, comm, err);
    rc = dist_agree(comm, f < 0 ? err->code : JC_OK, err);
  }
  if (rc == JC_OK) rc = dist_agree(comm, write_rows(f, "score", H5T_NATIVE_FLOAT, d->n, 1, lo, hi, score, err), err);
  if (rc == JC_OK)
    rc = dist_agree(comm, write_rows(f, "label", H5T_NATIVE_INT32, d->n, 1, lo, hi, d->labels + lo, err), err);
  if (rc == JC_OK && K > 2)
    rc = dist_agree(comm, write_rows(f, "probs", H5T_NATIVE_FLOAT, d->n, (size_t)K, lo, hi, probs, err), err);
  for (int e = 0; rc == JC_OK && e < d->n_extra; e++) {
    const char *name = d->extra[e];
    if (strcmp(name, "score") == 0 || strcmp(name, "label") == 0 || strcmp(name, "probs") == 0) continue;
    hid_t mem = is_integer(d, name) ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
    hid_t out = mem == H5T_NATIVE_INT64 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
    jc_code r = read_rows(d, name, mem, lo, hi, extra, err);
    if (r == JC_OK && out == H5T_NATIVE_FLOAT) /* store as float32, converting in place */
      for (size_t i = 0; i < mine; i++) ((float *)extra)[i] = (float)extra[i];
    rc = dist_agree(comm, r, err);
    if (rc == JC_OK) rc = dist_agree(comm, write_rows(f, name, out, d->n, 1, lo, hi, extra, err), err);
  }
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "format", SCORES_FORMAT, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "source", d->path, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "classes", K == 2 ? "0=QCD,1=top" : "0..K-1", err);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) rc = h5io_commit(&f, out_path, comm, err);
  else if (f >= 0) h5io_abandon(&f, out_path, comm);
  free(probs);
  free(score);
  free(extra);
  return rc;
}
