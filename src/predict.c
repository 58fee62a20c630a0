/* predict.c - score every jet of a file (each rank its share) and write the scores file
 * (src/scores.c: written by every rank collectively when it can, else gathered to rank 0). */
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"
#include "jetcnn/scores.h"
#include "jetcnn/train.h"

/* Read rows [lo, hi) of 1-D dataset name of d's file as `type` into buf. */
static jc_code read_rows(jc_data *d, const char *name, hid_t type, size_t lo, size_t hi, void *buf, jc_err *err) {
  if (hi == lo) return JC_OK;
  hsize_t off[1] = {lo}, cnt[1] = {hi - lo};
  jc_code rc = JC_OK;
  hid_t dset = h5io_open_dataset(d->file, d->path, name, H5P_DEFAULT, err);
  if (dset < 0) return JC_ERR_DATA;
  hid_t fspace = H5Dget_space(dset);
  hid_t mspace = H5Screate_simple(1, cnt, NULL);
  if (fspace < 0 || mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
      H5Dread(dset, type, mspace, fspace, H5P_DEFAULT, buf) < 0)
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset /%s", d->path, name);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

/* Rows [lo, hi) of pass-through dataset name into buf: int64 when integer, else float32
 * (read as double and converted in place). Collective (agrees on failure). */
static jc_code read_extra(jc_data *d, const char *name, int integer, size_t lo, size_t hi, double *buf, MPI_Comm comm,
                          jc_err *err) {
  jc_code rc = dist_agree(comm, read_rows(d, name, integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, lo, hi, buf, err), err);
  if (rc == JC_OK && !integer)
    for (size_t i = 0; i < hi - lo; i++) ((float *)buf)[i] = (float)buf[i];
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

/* The scores file of d's jets: this rank's rows [lo, hi) of /score, /label, /probs (K > 2)
 * and of every pass-through dataset (read here, into extra). Collective. */
static jc_code write_scores(jc_data *d, const char *out_path, MPI_Comm comm, int K, size_t lo, size_t hi,
                            const float *score, const float *probs, double *extra, jc_err *err) {
  /* Expected size: the rows of every dataset, plus room for HDF5's metadata. */
  size_t bytes = d->n * (sizeof(float) + sizeof(int32_t) + (K > 2 ? (size_t)K * sizeof(float) : 0) +
                         (size_t)d->n_extra * sizeof(int64_t)) + (1u << 20);
  scores_writer *w = scores_writer_create(out_path, d->n, bytes, comm, err);
  if (!w) return err->code;
  jc_code rc = scores_writer_column(w, "score", SCORES_FLOAT32, 1, lo, hi, score, err);
  if (rc == JC_OK) rc = scores_writer_column(w, "label", SCORES_INT32, 1, lo, hi, d->labels + lo, err);
  if (rc == JC_OK && K > 2) rc = scores_writer_column(w, "probs", SCORES_FLOAT32, (size_t)K, lo, hi, probs, err);
  for (int e = 0; rc == JC_OK && e < d->n_extra; e++) {
    const char *name = d->extra[e];
    if (strcmp(name, "score") == 0 || strcmp(name, "label") == 0 || strcmp(name, "probs") == 0) continue;
    int integer = is_integer(d, name);
    rc = read_extra(d, name, integer, lo, hi, extra, comm, err);
    if (rc == JC_OK)
      rc = scores_writer_column(w, name, integer ? SCORES_INT64 : SCORES_FLOAT32, 1, lo, hi, extra, err);
  }
  if (rc == JC_OK) return scores_writer_commit(&w, d->path, K, err);
  scores_writer_abandon(&w);
  return rc;
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
  if (rc == JC_OK) {
    sums[1] = (double)correct;
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm);
    *loss = sums[0] / (double)d->n;
    *acc = sums[1] / (double)d->n;
    for (size_t i = 0; i < mine; i++) score[i] = probs[i * (size_t)K + 1];
    rc = write_scores(d, out_path, comm, K, lo, hi, score, probs, extra, err);
  }
  free(probs);
  free(score);
  free(extra);
  return rc;
}
