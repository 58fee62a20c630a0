/* data.c - HDF5 input files (see data.h). */
#include "jetcnn/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/h5io.h"

/* Preemption policy of the chunk cache (HDF5's rdcc_w0); it must stay below 1. To make room,
 * HDF5 (1.10) walks the cached chunks from the least recently used, evicting only chunks read
 * completely, and starts a second walk that evicts any chunk once the first has passed
 * w0 x (chunks cached) of them. With w0 = 1 the first walk runs off the end of the list just
 * as the second should start, so a chunk read only in part is never evicted and the cache
 * grows past its byte limit. With P > 1 ranks each rank reads only its share of every chunk:
 * with w0 = 1 every rank ended up holding the whole file decompressed (issue 12; measured by
 * bench/rss_per_rank.sh). 0.75, HDF5's default, still evicts chunks read completely first. */
#define DATA_CACHE_W0 0.75

typedef struct {
  hid_t file;
  size_t n;
  jc_data *d;
} extra_scan;

/* Collect 1-D datasets of length n (other than images/labels) for pass-through. */
static herr_t scan_extra(hid_t loc, const char *name, const H5L_info_t *info, void *op) {
  extra_scan *s = op;
  if (strcmp(name, "images") == 0 || strcmp(name, "labels") == 0 || s->d->n_extra >= DATA_MAX_EXTRA) return 0;
  jc_err ignored;
  jc_err_clear(&ignored);
  hid_t ds = h5io_open_dataset(loc, s->d->path, name, H5P_DEFAULT, &ignored); /* groups, damaged: not passed through */
  if (ds < 0) return 0;
  hid_t sp = H5Dget_space(ds), ty = H5Dget_type(ds);
  hsize_t dims[2] = {0, 0};
  int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (nd == 1) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
  if (nd == 1 && dims[0] == s->n && (cls == H5T_FLOAT || cls == H5T_INTEGER)) {
    char *copy = strdup(name);
    if (copy) s->d->extra[s->d->n_extra++] = copy;
  }
  if (ty >= 0) H5Tclose(ty);
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(ds);
  return 0;
}

/* /labels into d->labels, each checked against 0..n_classes-1 with its value as stored (read
 * through 64 bits in pieces, so that a huge or negative label is named as it is, not as the
 * value HDF5 would clamp it to in a 32-bit conversion). */
static jc_code read_labels(jc_data *d, int n_classes, jc_err *err) {
  enum { PIECE = 1 << 16 };
  hid_t ds = h5io_open_dataset(d->file, d->path, "labels", H5P_DEFAULT, err);
  if (ds < 0) return JC_ERR_DATA;
  hid_t ftype = H5Dget_type(ds), fspace = H5Dget_space(ds), mspace = H5I_INVALID_HID;
  const int is_unsigned = ftype >= 0 && H5Tget_sign(ftype) == H5T_SGN_NONE;
  int64_t *buf = jc_malloc(PIECE * sizeof *buf, err);
  jc_code rc = ftype < 0 || fspace < 0 ? h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset /labels", d->path)
                                       : buf ? JC_OK : JC_ERR_NOMEM;
  for (size_t start = 0; rc == JC_OK && start < d->n; start += PIECE) {
    hsize_t off = start, cnt = d->n - start < PIECE ? d->n - start : PIECE;
    mspace = H5Screate_simple(1, &cnt, NULL);
    if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &off, NULL, &cnt, NULL) < 0 ||
        H5Dread(ds, is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, buf) < 0)
      rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset /labels", d->path);
    if (mspace >= 0) H5Sclose(mspace);
    for (size_t i = 0; rc == JC_OK && i < cnt; i++) {
      const uint64_t u = (uint64_t)buf[i];
      const int bad = is_unsigned ? u >= (uint64_t)n_classes : buf[i] < 0 || buf[i] >= n_classes;
      if (!bad) {
        d->labels[start + i] = (int32_t)buf[i];
        continue;
      }
      char value[32];
      if (is_unsigned) snprintf(value, sizeof value, "%llu", (unsigned long long)u);
      else snprintf(value, sizeof value, "%lld", (long long)buf[i]);
      rc = jc_fail(err, JC_ERR_DATA, "%s: dataset /labels: jet %zu has label %s, outside 0..%d (the model has %d "
                   "classes)", d->path, start + i, value, n_classes - 1, n_classes);
    }
  }
  free(buf);
  if (fspace >= 0) H5Sclose(fspace);
  if (ftype >= 0) H5Tclose(ftype);
  H5Dclose(ds);
  return rc;
}

static jc_code validate(jc_data *d, int n_classes, jc_err *err) {
  const char *path = d->path;
  int nd;
  hsize_t dims[4];
  H5T_class_t cls;
  size_t tsize;
  JC_TRY(h5io_dataset_info(d->file, path, "images", &nd, dims, &cls, &tsize, err));
  if (cls != H5T_FLOAT)
    return jc_fail(err, JC_ERR_DATA, "%s: dataset /images must hold floating-point pixels (float32)", path);
  jc_shape want = d->shape;
  int ok_shape = 0;
  if (nd == 3) ok_shape = want.c == 1 && dims[1] == (hsize_t)want.h && dims[2] == (hsize_t)want.w;
  if (nd == 4)
    ok_shape = dims[1] == (hsize_t)want.h && dims[2] == (hsize_t)want.w && dims[3] == (hsize_t)want.c;
  if (nd != 3 && nd != 4)
    return jc_fail(err, JC_ERR_DATA, "%s: dataset /images has rank %d; expected (N,H,W) or (N,H,W,C)", path, nd);
  if (!ok_shape) {
    char got[96];
    if (nd == 3) snprintf(got, sizeof got, "(%llu,%llu,%llu)", (unsigned long long)dims[0],
                          (unsigned long long)dims[1], (unsigned long long)dims[2]);
    else snprintf(got, sizeof got, "(%llu,%llu,%llu,%llu)", (unsigned long long)dims[0],
                  (unsigned long long)dims[1], (unsigned long long)dims[2], (unsigned long long)dims[3]);
    return jc_fail(err, JC_ERR_DATA, "%s: dataset /images has shape %s but the config input is %dx%dx%d (H x W x C)",
                   path, got, want.h, want.w, want.c);
  }
  d->n = (size_t)dims[0];
  d->channels_last = nd == 4 && want.c > 1;
  if (d->n == 0) return jc_fail(err, JC_ERR_DATA, "%s: dataset /images holds zero jets", path);

  JC_TRY(h5io_dataset_info(d->file, path, "labels", &nd, dims, &cls, &tsize, err));
  if (cls != H5T_INTEGER)
    return jc_fail(err, JC_ERR_DATA, "%s: dataset /labels must be integer class numbers (0 = QCD, 1 = top)", path);
  if (nd != 1) return jc_fail(err, JC_ERR_DATA, "%s: dataset /labels has rank %d; expected (N)", path, nd);
  if ((size_t)dims[0] != d->n)
    return jc_fail(err, JC_ERR_DATA, "%s: dataset /labels has %llu entries but /images has %zu jets", path,
                   (unsigned long long)dims[0], d->n);
  d->labels = jc_malloc(d->n * sizeof *d->labels, err);
  if (!d->labels) return JC_ERR_NOMEM;
  return read_labels(d, n_classes, err);
}

jc_code data_open(const char *path, jc_shape shape, int n_classes, MPI_Comm comm, jc_data **out, jc_err *err) {
  *out = NULL;
  jc_data *d = jc_calloc(1, sizeof *d, err);
  if (!d) return JC_ERR_NOMEM;
  d->file = d->images = H5I_INVALID_HID;
  d->shape = shape;
  d->path = strdup(path);
  if (!d->path) {
    free(d);
    return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  }
  jc_code rc = JC_OK;
  d->file = h5io_open_read(path, comm, err);
  if (d->file < 0) rc = err->code;
  if (rc == JC_OK) rc = validate(d, n_classes, err);
  if (rc == JC_OK) {
    /* A chunk cache big enough for several chunks of rows (blocks rarely align to chunks). */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 12421, 64u << 20, DATA_CACHE_W0);
    d->images = h5io_open_dataset(d->file, path, "images", dapl, err);
    H5Pclose(dapl);
    if (d->images < 0) rc = JC_ERR_DATA;
  }
  d->chunk_rows = 1;
  if (rc == JC_OK) {
    hid_t dcpl = H5Dget_create_plist(d->images);
    hsize_t cdims[4];
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, cdims) > 0 && cdims[0] > 0)
      d->chunk_rows = (size_t)cdims[0];
    if (dcpl >= 0) H5Pclose(dcpl);
  }
  if (rc == JC_OK) {
    extra_scan s = {d->file, d->n, d};
    H5Literate(d->file, H5_INDEX_NAME, H5_ITER_INC, NULL, scan_extra, &s);
    H5Eclear2(H5E_DEFAULT);
  }
  if (rc != JC_OK) {
    data_close(&d);
    return rc;
  }
  *out = d;
  return JC_OK;
}

/* The message for jet j, whose pixels did not all convert to finite floats: NaN or Inf in the
 * file, or a finite value too large for float32 (a float64 file), named with its value. */
static jc_code bad_pixel(jc_data *d, size_t j, jc_err *err) {
  const size_t per = shape_size(d->shape);
  double *v = malloc(per * sizeof *v);
  hid_t fspace = H5Dget_space(d->images), mspace = H5I_INVALID_HID;
  hsize_t off[4] = {j, 0, 0, 0}, cnt[4] = {1, (hsize_t)d->shape.h, (hsize_t)d->shape.w, (hsize_t)d->shape.c};
  int nd = fspace >= 0 ? H5Sget_simple_extent_ndims(fspace) : -1;
  double big = 0.0;
  if (v && nd > 0 && (mspace = H5Screate_simple(nd, cnt, NULL)) >= 0 &&
      H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) >= 0 &&
      H5Dread(d->images, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, v) >= 0)
    for (size_t i = 0; i < per; i++)
      if (isfinite(v[i]) && fabs(v[i]) > fabs(big) && fabs(v[i]) > 3.4028234663852886e38) big = v[i];
  H5Eclear2(H5E_DEFAULT);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  free(v);
  if (big != 0.0)
    return jc_fail(err, JC_ERR_DATA, "%s: dataset /images: jet %zu has a pixel of %g, which overflows float32 "
                   "(largest 3.4e38)", d->path, j, big);
  return jc_fail(err, JC_ERR_DATA, "%s: dataset /images: jet %zu has a non-finite pixel (NaN or Inf)", d->path, j);
}

jc_code data_read(jc_data *d, size_t start, size_t count, float *x, jc_err *err) {
  if (count == 0) return JC_OK;
  size_t per = shape_size(d->shape);
  if (d->channels_last && d->stage_rows < count) {
    free(d->stage);
    d->stage = jc_malloc(count * per * sizeof(float), err);
    if (!d->stage) {
      d->stage_rows = 0;
      return JC_ERR_NOMEM;
    }
    d->stage_rows = count;
  }
  float *dst = d->channels_last ? d->stage : x;
  hid_t fspace = H5Dget_space(d->images);
  int nd = H5Sget_simple_extent_ndims(fspace);
  hsize_t off[4] = {start, 0, 0, 0}, cnt[4] = {count, (hsize_t)d->shape.h, (hsize_t)d->shape.w, (hsize_t)d->shape.c};
  hid_t mspace = H5Screate_simple(nd, cnt, NULL);
  jc_code rc = JC_OK;
  if (fspace < 0 || mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
      H5Dread(d->images, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, dst) < 0)
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read jets %zu..%zu of dataset /images", d->path, start,
                   start + count - 1);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (rc != JC_OK) return rc;
  if (d->channels_last) { /* (n,H,W,C) -> (n,C,H,W) */
    int C = d->shape.c, HW = d->shape.h * d->shape.w;
    for (size_t i = 0; i < count; i++)
      for (int p = 0; p < HW; p++)
        for (int c = 0; c < C; c++) x[i * per + (size_t)c * HW + p] = dst[i * per + (size_t)p * C + c];
  }
  for (size_t i = 0; i < count * per; i++)
    if (!isfinite(x[i])) return bad_pixel(d, start + i / per, err);
  return JC_OK;
}

jc_code data_set_cache(jc_data *d, size_t chunks, jc_err *err) {
  size_t bytes = (chunks + 1) * d->chunk_rows * shape_size(d->shape) * sizeof(float);
  hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
  if (dapl < 0 || H5Pset_chunk_cache(dapl, 100 * (chunks + 1) + 1, bytes, DATA_CACHE_W0) < 0) {
    if (dapl >= 0) H5Pclose(dapl);
    return h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot set the chunk cache of /images", d->path);
  }
  if (d->images >= 0) H5Dclose(d->images);
  d->images = h5io_open_dataset(d->file, d->path, "images", dapl, err);
  H5Pclose(dapl);
  if (d->images < 0) return JC_ERR_DATA;
  return JC_OK;
}

void data_close(jc_data **dp) {
  if (!dp || !*dp) return;
  jc_data *d = *dp;
  if (d->images >= 0) H5Dclose(d->images);
  if (d->file >= 0) H5Fclose(d->file);
  for (int i = 0; i < d->n_extra; i++) free(d->extra[i]);
  free(d->labels);
  free(d->stage);
  free(d->path);
  free(d);
  *dp = NULL;
}

jc_code data_plan(jc_data *d, size_t micro_batch, size_t batch, size_t shuffle_window, jc_plan **out, jc_err *err) {
  *out = NULL;
  size_t window = shuffle_window / d->chunk_rows; /* whole chunks, at least one */
  if (window < 1) window = 1;
  JC_TRY(data_set_cache(d, window, err));
  return plan_create(d->n, micro_batch, batch, d->chunk_rows, window, out, err);
}
