/* predict.c - score every jet of a file (each rank its share) and write the scores file (rank 0). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/train.h"

#define SCORES_FORMAT "jetcnn-scores-1"

/* Gather every rank's rows [lo, hi) of an n_rows x row_len array of `type` (rank order is
 * row order, as plan_share() splits it) into `all` on rank 0. Collective. */
static jc_code gather_rows(MPI_Comm comm, MPI_Datatype type, size_t n_rows, size_t row_len, const void *mine,
                           void *all, jc_err *err) {
  const int rank = dist_rank(comm), size = dist_size(comm);
  int *counts = jc_malloc(2 * (size_t)size * sizeof *counts, err);
  jc_code rc = counts ? JC_OK : JC_ERR_NOMEM;
  if (rc == JC_OK && n_rows * row_len > (size_t)INT_MAX)
    rc = jc_fail(err, JC_ERR_RUNTIME, "%zu x %zu predictions exceed what one MPI gather can carry", n_rows, row_len);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) {
    int *displs = counts + size;
    for (int r = 0; r < size; r++) {
      size_t a, b;
      plan_share(n_rows, r, size, &a, &b);
      counts[r] = (int)((b - a) * row_len);
      displs[r] = (int)(a * row_len);
    }
    if (MPI_Gatherv(mine, counts[rank], type, all, counts, displs, type, 0, comm) != MPI_SUCCESS)
      rc = jc_fail(err, JC_ERR_RUNTIME, "MPI_Gatherv of predictions failed");
  }
  free(counts);
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
  /* Rank 0 gathers each dataset whole and writes the file alone (the output is small). */
  void *all = rank == 0 ? jc_malloc(d->n * (size_t)(K > 2 ? K : 2) * sizeof(double), err) : NULL;
  double sums[2] = {0.0, 0.0};
  long correct = 0;
  jc_code rc = (!probs || !score || !extra || (rank == 0 && !all)) ? JC_ERR_NOMEM : JC_OK;
  if (rc == JC_OK) rc = eval_range(net, params, d, lo, mine, probs, &sums[0], &correct, err);
  rc = dist_agree(comm, rc, err);
  hid_t f = H5I_INVALID_HID;
  jc_code wrc = JC_OK; /* rank 0's first write failure, agreed on at the end */
  if (rc == JC_OK) {
    sums[1] = (double)correct;
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm);
    *loss = sums[0] / (double)d->n;
    *acc = sums[1] / (double)d->n;
    for (size_t i = 0; i < mine; i++) score[i] = probs[i * (size_t)K + 1];
    if (rank == 0 && (f = h5io_create_tmp(out_path, MPI_COMM_SELF, err)) < 0) wrc = err->code;
    rc = dist_agree(comm, wrc, err);
  }
  hsize_t dims[2] = {d->n, (hsize_t)K};
  if (rc == JC_OK) rc = gather_rows(comm, MPI_FLOAT, d->n, 1, score, all, err);
  if (rc == JC_OK && rank == 0) wrc = h5io_write_full(f, "score", H5T_NATIVE_FLOAT, 1, dims, all, err);
  if (rc == JC_OK) rc = gather_rows(comm, MPI_INT32_T, d->n, 1, d->labels + lo, all, err);
  if (rc == JC_OK && rank == 0 && wrc == JC_OK) wrc = h5io_write_full(f, "label", H5T_NATIVE_INT32, 1, dims, all, err);
  if (rc == JC_OK && K > 2) rc = gather_rows(comm, MPI_FLOAT, d->n, (size_t)K, probs, all, err);
  if (rc == JC_OK && K > 2 && rank == 0 && wrc == JC_OK)
    wrc = h5io_write_full(f, "probs", H5T_NATIVE_FLOAT, 2, dims, all, err);
  for (int e = 0; rc == JC_OK && e < d->n_extra; e++) {
    const char *name = d->extra[e];
    if (strcmp(name, "score") == 0 || strcmp(name, "label") == 0 || strcmp(name, "probs") == 0) continue;
    int integer = is_integer(d, name);
    rc = dist_agree(comm, read_rows(d, name, integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, lo, hi, extra, err), err);
    if (rc == JC_OK && !integer) /* store as float32, converting in place */
      for (size_t i = 0; i < mine; i++) ((float *)extra)[i] = (float)extra[i];
    if (rc == JC_OK) rc = gather_rows(comm, integer ? MPI_INT64_T : MPI_FLOAT, d->n, 1, extra, all, err);
    if (rc == JC_OK && rank == 0 && wrc == JC_OK)
      wrc = h5io_write_full(f, name, integer ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, 1, dims, all, err);
  }
  if (rc == JC_OK && rank == 0 && wrc == JC_OK) wrc = h5io_write_attr_str(f, "format", SCORES_FORMAT, err);
  if (rc == JC_OK && rank == 0 && wrc == JC_OK) wrc = h5io_write_attr_str(f, "source", d->path, err);
  if (rc == JC_OK && rank == 0 && wrc == JC_OK)
    wrc = h5io_write_attr_str(f, "classes", K == 2 ? "0=QCD,1=top" : "0..K-1", err);
  if (rc == JC_OK && rank == 0 && wrc != JC_OK) jc_prefix(err, "%s.tmp: ", out_path);
  if (rc == JC_OK) rc = dist_agree(comm, wrc, err);
  if (rank == 0 && f >= 0) {
    if (rc == JC_OK) wrc = h5io_commit(&f, out_path, MPI_COMM_SELF, err);
    else h5io_abandon(&f, out_path, MPI_COMM_SELF);
  }
  if (rc == JC_OK) rc = dist_agree(comm, wrc, err);
  free(probs);
  free(score);
  free(extra);
  free(all);
  return rc;
}
