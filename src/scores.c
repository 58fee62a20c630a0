/* scores.c - the scores file (see scores.h, docs/formats.md): the reader of `jetcnn roc` and
 * the writer of `jetcnn predict`. */
#define _GNU_SOURCE /* posix_fallocate */
#include "jetcnn/scores.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"

/* ---- reading ------------------------------------------------------------------------------ */

/* "/name" for "name" or "/name". */
static void dataset_name(char *out, size_t size, const char *name) {
  snprintf(out, size, "/%s", name[0] == '/' ? name + 1 : name);
}

/* Read 1-D dataset NAME of length *n (any length when *n == 0, then set) as memtype into a new
 * array (caller frees). want is the HDF5 type class the dataset must have. */
static void *read_vector(hid_t file, const char *path, const char *name, hid_t memtype, H5T_class_t want,
                         size_t *n, jc_err *err) {
  int ndims = 0;
  hsize_t dims[4];
  H5T_class_t cls;
  if (h5io_dataset_info(file, path, name, &ndims, dims, &cls, NULL, err) != JC_OK) return NULL;
  if (ndims != 1) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s has %d dimensions, expected 1 (one value per jet)", path, name, ndims);
    return NULL;
  }
  if (cls != want) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s is not of %s type", path, name,
            want == H5T_INTEGER ? "integer" : "floating-point");
    return NULL;
  }
  if (*n != 0 && dims[0] != *n) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s has %llu entries, expected %zu (one per jet, as /score)", path,
            name, (unsigned long long)dims[0], *n);
    return NULL;
  }
  if (dims[0] == 0) {
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s is empty", path, name);
    return NULL;
  }
  size_t bytes = (size_t)dims[0] * H5Tget_size(memtype);
  void *data = jc_malloc(bytes, err);
  if (!data) return NULL;
  if (h5io_read_full(file, path, name, memtype, data, err) != JC_OK) {
    free(data);
    return NULL;
  }
  *n = (size_t)dims[0];
  return data;
}

void scores_close(scores_file *f) {
  if (!f) return;
  if (f->file > 0) H5Fclose(f->file);
  free(f->path);
  free(f->score);
  free(f->label);
  memset(f, 0, sizeof *f);
  f->file = H5I_INVALID_HID;
}

jc_code scores_open(const char *path, scores_file *out, jc_err *err) {
  memset(out, 0, sizeof *out);
  out->file = H5I_INVALID_HID;
  size_t len = strlen(path) + 1;
  if (!(out->path = jc_malloc(len, err))) return JC_ERR_NOMEM;
  memcpy(out->path, path, len);
  out->file = h5io_open_read(path, MPI_COMM_SELF, err);
  if (out->file < 0) goto fail;
  htri_t has_format = H5Aexists(out->file, "format");
  if (has_format > 0 && h5io_check_format(out->file, path, SCORES_FORMAT, err) != JC_OK) goto fail;
  out->score = read_vector(out->file, path, "/score", H5T_NATIVE_FLOAT, H5T_FLOAT, &out->n, err);
  if (!out->score) goto fail;
  out->label = read_vector(out->file, path, "/label", H5T_NATIVE_INT32, H5T_INTEGER, &out->n, err);
  if (!out->label) goto fail;
  for (size_t i = 0; i < out->n; i++) {
    if (isnan(out->score[i])) {
      jc_fail(err, JC_ERR_DATA, "%s: dataset /score: score of jet %zu is NaN", path, i);
      goto fail;
    }
    if (out->label[i] != 0 && out->label[i] != 1) {
      jc_fail(err, JC_ERR_DATA, "%s: dataset /label: label of jet %zu is %d (expected 0 = QCD or 1 = top)", path,
              i, (int)out->label[i]);
      goto fail;
    }
  }
  return JC_OK;
fail:
  scores_close(out);
  return err->code;
}

int scores_has_column(const scores_file *f, const char *name) {
  char ds[300];
  dataset_name(ds, sizeof ds, name);
  return H5Lexists(f->file, ds, H5P_DEFAULT) > 0;
}

float *scores_read_column(const scores_file *f, const char *name, jc_err *err) {
  char ds[300];
  dataset_name(ds, sizeof ds, name);
  size_t len = f->n;
  float *x = read_vector(f->file, f->path, ds, H5T_NATIVE_FLOAT, H5T_FLOAT, &len, err);
  for (size_t i = 0; x && i < f->n; i++)
    if (isnan(x[i])) {
      jc_fail(err, JC_ERR_DATA, "%s: dataset %s: value of jet %zu is NaN", f->path, ds, i);
      free(x);
      return NULL;
    }
  return x;
}

/* The names of the 1-D datasets of length n at the root of file, other than /score, in
 * name order, collected by H5Literate. */
typedef struct {
  size_t n;
  char names[64][256];
  int count, overflow;
} column_list;

static herr_t collect_column(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  column_list *list = data;
  if (strcmp(name, "score") == 0 || info->type != H5L_TYPE_HARD) return 0;
  hid_t dset = H5Dopen2(group, name, H5P_DEFAULT);
  if (dset < 0) { /* a group, not a dataset */
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  hid_t space = H5Dget_space(dset);
  hsize_t dims[2] = {0, 0};
  int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  if (nd == 1) H5Sget_simple_extent_dims(space, dims, NULL);
  if (space >= 0) H5Sclose(space);
  H5Dclose(dset);
  if (nd != 1 || dims[0] != list->n) return 0;
  if (list->count == 64 || strlen(name) >= sizeof list->names[0]) {
    list->overflow = 1;
    return 0;
  }
  snprintf(list->names[list->count++], sizeof list->names[0], "%s", name);
  return 0;
}

static jc_code list_columns(const scores_file *f, column_list *list, jc_err *err) {
  memset(list, 0, sizeof *list);
  list->n = f->n;
  hsize_t idx = 0;
  if (H5Literate(f->file, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_column, list) < 0)
    return h5io_fail(err, JC_ERR_DATA, "%s: cannot list the datasets", f->path);
  if (list->overflow) return jc_fail(err, JC_ERR_DATA, "%s: more than 64 per-jet datasets (or a name too long)", f->path);
  return JC_OK;
}

/* Dataset NAME of f as 8-byte values: int64 for an integer dataset (*integer = 1), double
 * otherwise; both hold every pass-through value exactly. Caller frees. */
static void *read_values(const scores_file *f, const char *name, int *integer, jc_err *err) {
  int nd = 0;
  hsize_t dims[4];
  H5T_class_t cls;
  if (h5io_dataset_info(f->file, f->path, name, &nd, dims, &cls, NULL, err) != JC_OK) return NULL;
  *integer = cls == H5T_INTEGER;
  void *x = jc_malloc(f->n * 8, err);
  if (x && h5io_read_full(f->file, f->path, name, *integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, x, err) != JC_OK) {
    free(x);
    return NULL;
  }
  return x;
}

/* Value k of a read_values() array, for a message. */
static void format_value(char *out, size_t size, const void *x, int integer, size_t k) {
  if (integer) snprintf(out, size, "%lld", (long long)((const int64_t *)x)[k]);
  else snprintf(out, size, "%.9g", ((const double *)x)[k]);
}

jc_code scores_same_jets(const scores_file *a, const scores_file *b, jc_err *err) {
  if (a->n != b->n)
    return jc_fail(err, JC_ERR_DATA, "%s: not the same jets as %s: %zu jets here, %zu there", b->path, a->path, b->n,
                   a->n);
  for (size_t i = 0; i < a->n; i++)
    if (a->label[i] != b->label[i])
      return jc_fail(err, JC_ERR_DATA, "%s: not the same jets as %s: jet %zu: /label is %d here, %d there", b->path,
                     a->path, i, (int)b->label[i], (int)a->label[i]);
  column_list *ca = jc_malloc(2 * sizeof *ca, err);
  if (!ca) return JC_ERR_NOMEM;
  column_list *cb = ca + 1;
  jc_code rc = list_columns(a, ca, err);
  if (rc == JC_OK) rc = list_columns(b, cb, err);
  /* Both lists are in name order: walk them together. */
  for (int i = 0, j = 0; rc == JC_OK && (i < ca->count || j < cb->count);) {
    int cmp = i == ca->count ? 1 : j == cb->count ? -1 : strcmp(ca->names[i], cb->names[j]);
    if (cmp != 0) {
      const char *name = cmp < 0 ? ca->names[i] : cb->names[j];
      rc = jc_fail(err, JC_ERR_DATA, "%s: not the same jets as %s: dataset /%s is only in %s", b->path, a->path, name,
                   cmp < 0 ? a->path : b->path);
      break;
    }
    const char *name = ca->names[i];
    i++;
    j++;
    if (strcmp(name, "label") == 0) continue; /* compared above */
    int int_a = 0, int_b = 0;
    void *xa = read_values(a, name, &int_a, err);
    void *xb = xa ? read_values(b, name, &int_b, err) : NULL;
    if (!xb) rc = err->code;
    else if (int_a != int_b)
      rc = jc_fail(err, JC_ERR_DATA, "%s: not the same jets as %s: dataset /%s is %s here, %s there", b->path,
                   a->path, name, int_b ? "integer" : "floating-point", int_a ? "integer" : "floating-point");
    for (size_t k = 0; rc == JC_OK && k < a->n; k++)
      if (memcmp((const char *)xa + 8 * k, (const char *)xb + 8 * k, 8) != 0) {
        char va[40], vb[40];
        format_value(va, sizeof va, xa, int_a, k);
        format_value(vb, sizeof vb, xb, int_b, k);
        rc = jc_fail(err, JC_ERR_DATA, "%s: not the same jets as %s: jet %zu: /%s is %s here, %s there", b->path,
                     a->path, k, name, vb, va);
      }
    free(xa);
    free(xb);
  }
  free(ca);
  return rc;
}

/* ---- writing ------------------------------------------------------------------------------ */

struct scores_writer {
  MPI_Comm comm;
  int parallel;   /* 1: every rank writes its own rows (MPI-IO); 0: gathered, rank 0 writes */
  hid_t file;     /* PATH.tmp; in gathered mode open on rank 0 only */
  size_t n_jets;
  char path[H5IO_PATH_MAX];
};

/* Rank 0 reserves `bytes` for path's temporary file; 1 if the space is there. Fails for a
 * full disk, a device such as /dev/full, a file system without allocation support, or 0 bytes. */
static int reserve_space(const char *path, size_t bytes) {
  if (bytes == 0) return 0;
  char tmp[H5IO_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
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

scores_writer *scores_writer_create(const char *path, size_t n_jets, size_t bytes, MPI_Comm comm, jc_err *err) {
  const int rank = dist_rank(comm);
  jc_code rc = JC_OK;
  scores_writer *w = jc_calloc(1, sizeof *w, err);
  if (!w) rc = JC_ERR_NOMEM;
  else if (strlen(path) >= sizeof w->path - 4)
    rc = jc_fail(err, JC_ERR_USAGE, "%.64s...: output path too long", path);
  if ((rc = dist_agree(comm, rc, err)) != JC_OK) {
    free(w);
    return NULL;
  }
  snprintf(w->path, sizeof w->path, "%s", path);
  w->comm = comm;
  w->n_jets = n_jets;
  w->file = H5I_INVALID_HID;
  w->parallel = rank == 0 ? reserve_space(path, bytes) : 0;
  rc = JC_MPI(MPI_Bcast(&w->parallel, 1, MPI_INT, 0, comm), err);
  if ((rc = dist_agree(comm, rc, err)) == JC_OK) {
    if (w->parallel) {
      w->file = h5io_create_tmp(path, comm, err);
    } else if (rank == 0) {
      w->file = h5io_create_tmp(path, MPI_COMM_SELF, err);
    }
    if ((w->parallel || rank == 0) && w->file < 0) rc = err->code;
    rc = dist_agree(comm, rc, err);
  }
  if (rc != JC_OK) {
    /* h5io_create_tmp removed what it may have left; the reservation is removed here. */
    if (w->parallel && rank == 0) {
      char tmp[H5IO_PATH_MAX + 8];
      snprintf(tmp, sizeof tmp, "%s.tmp", path);
      unlink(tmp);
    }
    free(w);
    return NULL;
  }
  return w;
}

static hid_t h5_type(scores_type t) {
  return t == SCORES_FLOAT32 ? H5T_NATIVE_FLOAT : t == SCORES_INT32 ? H5T_NATIVE_INT32 : H5T_NATIVE_INT64;
}

static MPI_Datatype mpi_type(scores_type t) {
  return t == SCORES_FLOAT32 ? MPI_FLOAT : t == SCORES_INT32 ? MPI_INT32_T : MPI_INT64_T;
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

/* Gather every rank's rows [lo, hi) (row_len values of `type` each) into `all` on rank 0,
 * after checking that the ranges tile [0, n_rows) in rank order. Collective. */
static jc_code gather_rows(MPI_Comm comm, MPI_Datatype type, size_t n_rows, size_t row_len, size_t lo, size_t hi,
                           const void *mine, void *all, jc_err *err) {
  const int rank = dist_rank(comm), size = dist_size(comm);
  unsigned long long range[2] = {lo, hi};
  unsigned long long *ranges = rank == 0 ? jc_malloc(2 * (size_t)size * sizeof *ranges, err) : NULL;
  int *counts = rank == 0 ? jc_malloc(2 * (size_t)size * sizeof *counts, err) : NULL;
  jc_code rc = rank == 0 && (!ranges || !counts) ? JC_ERR_NOMEM : JC_OK;
  if (rc == JC_OK && n_rows * row_len > (size_t)INT_MAX)
    rc = jc_fail(err, JC_ERR_RUNTIME, "%zu x %zu values exceed what one MPI gather can carry", n_rows, row_len);
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK) rc = JC_MPI(MPI_Gather(range, 2, MPI_UNSIGNED_LONG_LONG, ranges, 2, MPI_UNSIGNED_LONG_LONG, 0, comm), err);
  if (rc == JC_OK && rank == 0) {
    unsigned long long next = 0;
    for (int r = 0; r < size && rc == JC_OK; r++) {
      if (ranges[2 * r] != next || ranges[2 * r + 1] < next)
        rc = jc_fail(err, JC_ERR_RUNTIME, "rows of rank %d [%llu, %llu) do not follow row %llu", r, ranges[2 * r],
                     ranges[2 * r + 1], next);
      counts[r] = (int)((ranges[2 * r + 1] - ranges[2 * r]) * row_len);
      counts[size + r] = (int)(ranges[2 * r] * row_len);
      next = ranges[2 * r + 1];
    }
    if (rc == JC_OK && next != n_rows)
      rc = jc_fail(err, JC_ERR_RUNTIME, "the ranks hold %llu rows, expected %zu", next, n_rows);
  }
  rc = dist_agree(comm, rc, err);
  if (rc == JC_OK)
    rc = JC_MPI(MPI_Gatherv(mine, (int)((hi - lo) * row_len), type, all, counts, counts ? counts + size : NULL, type,
                            0, comm), err);
  free(counts);
  free(ranges);
  return dist_agree(comm, rc, err);
}

jc_code scores_writer_column(scores_writer *w, const char *name, scores_type type, size_t row_len, size_t lo,
                             size_t hi, const void *rows, jc_err *err) {
  jc_code rc;
  if (w->parallel) {
    rc = write_rows(w->file, name, h5_type(type), w->n_jets, row_len, lo, hi, rows, err);
  } else {
    const int rank = dist_rank(w->comm);
    size_t elem = type == SCORES_INT64 ? 8 : 4;
    void *all = rank == 0 ? jc_malloc(w->n_jets * row_len * elem + 1, err) : NULL;
    rc = dist_agree(w->comm, rank == 0 && !all ? JC_ERR_NOMEM : JC_OK, err);
    if (rc == JC_OK) rc = gather_rows(w->comm, mpi_type(type), w->n_jets, row_len, lo, hi, rows, all, err);
    if (rc == JC_OK && rank == 0) {
      hsize_t dims[2] = {w->n_jets, row_len};
      rc = h5io_write_full(w->file, name, h5_type(type), row_len > 1 ? 2 : 1, dims, all, err);
    }
    free(all);
  }
  if (rc != JC_OK) jc_prefix(err, "%s.tmp: ", w->path);
  return dist_agree(w->comm, rc, err);
}

jc_code scores_writer_commit(scores_writer **wp, const char *source, int n_classes, jc_err *err) {
  scores_writer *w = *wp;
  *wp = NULL;
  const int writes = w->parallel || dist_rank(w->comm) == 0;
  jc_code rc = JC_OK;
  if (writes) rc = h5io_write_attr_str(w->file, "format", SCORES_FORMAT, err);
  if (writes && rc == JC_OK) rc = h5io_write_attr_str(w->file, "source", source, err);
  if (writes && rc == JC_OK) rc = h5io_write_attr_str(w->file, "classes", n_classes == 2 ? "0=QCD,1=top" : "0..K-1", err);
  if (rc != JC_OK) jc_prefix(err, "%s.tmp: ", w->path);
  rc = dist_agree(w->comm, rc, err);
  MPI_Comm fcomm = w->parallel ? w->comm : MPI_COMM_SELF;
  if (rc == JC_OK) {
    jc_code crc = writes ? h5io_commit(&w->file, w->path, fcomm, err) : JC_OK;
    rc = dist_agree(w->comm, crc, err);
  } else if (writes) {
    h5io_abandon(&w->file, w->path, fcomm);
  }
  free(w);
  return rc;
}

void scores_writer_abandon(scores_writer **wp) {
  scores_writer *w = *wp;
  if (!w) return;
  *wp = NULL;
  if (w->parallel) h5io_abandon(&w->file, w->path, w->comm);
  else if (dist_rank(w->comm) == 0) h5io_abandon(&w->file, w->path, MPI_COMM_SELF);
  free(w);
}
