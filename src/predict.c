/* predict.c - score every jet of a file (each rank its share) and write the scores file:
 * collectively, every rank its own rows, when the space for it could be reserved first;
 * otherwise gathered to rank 0 and written there. (With HDF5 1.10.8's MPI-IO driver a write
 * that runs out of disk leaves a file handle that crashes MPI_Finalize; the POSIX driver that
 * rank 0 uses alone fails cleanly. Reserving the space first keeps the parallel path safe.) */
#define _GNU_SOURCE /* posix_fallocate */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/dist.h"
#include "jetcnn/evaluate.h"
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

/* Create dataset `name` (n_rows x row_len of `type`) and write this rank's rows [lo, hi)
 * collectively; a rank without rows selects none. */
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

/* Rank 0 reserves `bytes` for out_path's temporary file; 1 if the space is there. Fails for
 * a full disk, a device such as /dev/full, or a file system without allocation support. */
static int reserve_space(const char *out_path, size_t bytes) {
  char tmp[H5IO_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
  /* Not through a symbolic link, and only a regular file: anything else is left as it is
   * for the rank-0 path to report. */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  if (fd < 0) return 0;
  struct stat st;
  int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  int ok = regular && posix_fallocate(fd, 0, (off_t)bytes) == 0;
  close(fd);
  if (regular && !ok) unlink(tmp);
  return ok;
}

/* The scores file, every rank writing its own rows [lo, hi) of each dataset. */
static jc_code write_collective(jc_data *d, const char *out_path, MPI_Comm comm, int K, size_t lo, size_t hi,
                                const float *score, const float *probs, double *extra, jc_err *err) {
  hid_t f = h5io_create_tmp(out_path, comm, err);
  jc_code rc = dist_agree(comm, f < 0 ? err->code : JC_OK, err);
  if (rc == JC_OK) rc = dist_agree(comm, write_rows(f, "score", H5T_NATIVE_FLOAT, d->n, 1, lo, hi, score, err), err);
  if (rc == JC_OK)
    rc = dist_agree(comm, write_rows(f, "label", H5T_NATIVE_INT32, d->n, 1, lo, hi, d->labels + lo, err), err);
  if (rc == JC_OK && K > 2)
    rc = dist_agree(comm, write_rows(f, "probs", H5T_NATIVE_FLOAT, d->n, (size_t)K, lo, hi, probs, err), err);
  for (int e = 0; rc == JC_OK && e < d->n_extra; e++) {
    const char *name = d->extra[e];
    if (strcmp(name, "score") == 0 || strcmp(name, "label") == 0 || strcmp(name, "probs") == 0) continue;
    int integer = is_integer(d, name);
    rc = read_extra(d, name, integer, lo, hi, extra, comm, err);
    if (rc == JC_OK)
      rc = dist_agree(comm, write_rows(f, name, integer ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, d->n, 1, lo, hi, extra, err),
                      err);
  }
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "format", SCORES_FORMAT, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "source", d->path, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "classes", K == 2 ? "0=QCD,1=top" : "0..K-1", err);
  if (rc != JC_OK) jc_prefix(err, "%s.tmp: ", out_path);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) return h5io_commit(&f, out_path, comm, err);
  if (f >= 0) h5io_abandon(&f, out_path, comm);
  return rc;
}

/* The scores file, gathered to rank 0 and written there alone. */
static jc_code write_on_rank0(jc_data *d, const char *out_path, MPI_Comm comm, int K, size_t lo, size_t hi,
                              const float *score, const float *probs, double *extra, jc_err *err) {
  const int rank = dist_rank(comm);
  void *all = rank == 0 ? jc_malloc(d->n * (size_t)(K > 2 ? K : 2) * sizeof(double), err) : NULL;
  jc_code rc = dist_agree(comm, rank == 0 && !all ? JC_ERR_NOMEM : JC_OK, err);
  hid_t f = H5I_INVALID_HID;
  jc_code wrc = JC_OK; /* rank 0's first write failure, agreed on at the end */
  if (rc == JC_OK) {
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
    rc = read_extra(d, name, integer, lo, hi, extra, comm, err);
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
  free(all);
  return rc;
}

jc_code predict_run(const jc_net *net, const float *params, jc_data *d, const char *out_path, MPI_Comm comm,
                    double *acc, double *loss, jc_err *err) {
  const int rank = dist_rank(comm), K = net->n_classes;
  jc_eval ev;
  jc_code rc = eval_scores(net, params, d, 0, comm, &ev, err);
  const size_t lo = ev.lo, hi = ev.hi;
  const float *score = ev.score, *probs = ev.probs;
  double *extra = rc == JC_OK ? jc_malloc((hi - lo + 1) * sizeof *extra, err) : NULL; /* pass-through rows */
  if (rc == JC_OK) rc = dist_agree(comm, extra ? JC_OK : JC_ERR_NOMEM, err);
  if (rc == JC_OK) {
    *loss = ev.loss;
    *acc = ev.acc;
    /* Expected size: the rows of every dataset, plus room for HDF5's metadata. */
    size_t bytes = d->n * (sizeof(float) + sizeof(int32_t) + (K > 2 ? (size_t)K * sizeof(float) : 0) +
                           (size_t)d->n_extra * sizeof(int64_t)) + (1u << 20);
    int parallel = rank == 0 ? reserve_space(out_path, bytes) : 0;
    MPI_Bcast(&parallel, 1, MPI_INT, 0, comm);
    rc = parallel ? write_collective(d, out_path, comm, K, lo, hi, score, probs, extra, err)
                  : write_on_rank0(d, out_path, comm, K, lo, hi, score, probs, extra, err);
  }
  eval_free(&ev);
  free(extra);
  return rc;
}
