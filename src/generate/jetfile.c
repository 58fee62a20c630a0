/* jetfile.c - the jet file: blocks, parallel writer, constituent reader (see jetfile.h). */
#include "jetcnn/jetfile.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jetcnn/dist.h"
#include "jetcnn/jetobs.h"

typedef enum { COL_F32, COL_I32, COL_U8 } col_type;

/* The per-jet 1-D datasets and where their rows live in a block. */
typedef struct {
  const char *name;
  col_type type;
  size_t member;
} column;

static const column COLUMNS[] = {
    {"/labels", COL_I32, offsetof(jetfile_block, labels)},
    {"/n_constituents", COL_I32, offsetof(jetfile_block, n_constituents)},
    {"/jet_pt", COL_F32, offsetof(jetfile_block, jet_pt)},
    {"/jet_eta", COL_F32, offsetof(jetfile_block, jet_eta)},
    {"/jet_phi", COL_F32, offsetof(jetfile_block, jet_phi)},
    {"/jet_mass", COL_F32, offsetof(jetfile_block, jet_mass)},
    {"/tau1", COL_F32, offsetof(jetfile_block, tau1)},
    {"/tau2", COL_F32, offsetof(jetfile_block, tau2)},
    {"/tau3", COL_F32, offsetof(jetfile_block, tau3)},
};
#define N_COLUMNS ((int)(sizeof COLUMNS / sizeof COLUMNS[0]))

static void **column_slot(jetfile_block *b, const column *c) { return (void **)((char *)b + c->member); }

static size_t type_size(col_type t) { return t == COL_U8 ? 1 : 4; }

static hid_t mem_type(col_type t) {
  return t == COL_F32 ? H5T_NATIVE_FLOAT : t == COL_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT8;
}

static hid_t file_type(col_type t) {
  return t == COL_F32 ? H5T_IEEE_F32LE : t == COL_I32 ? H5T_STD_I32LE : H5T_STD_U8LE;
}

/* A dataset as rows: name, element type, and the shape of one row (after the N axis). */
typedef struct {
  const char *name;
  col_type type;
  int row_rank;
  hsize_t row_dims[3];
  void *data;
} rows_spec;

/* Every dataset of the layout, with b's buffers (b may be NULL when only shapes matter). */
static int layout_specs(const jetfile_layout *l, jetfile_block *b, rows_spec *out) {
  int n = 0;
  for (int i = 0; i < N_COLUMNS; i++)
    out[n++] = (rows_spec){COLUMNS[i].name, COLUMNS[i].type, 0, {0}, b ? *column_slot(b, &COLUMNS[i]) : NULL};
  if (l->n_const > 0) {
    out[n++] = (rows_spec){"/constituents", COL_F32, 2, {(hsize_t)l->n_const, 4}, b ? b->constituents : NULL};
    if (l->has_charged)
      out[n++] = (rows_spec){"/charged", COL_U8, 1, {(hsize_t)l->n_const}, b ? b->charged : NULL};
  }
  if (l->pixels > 0) {
    rows_spec s = {"/images", COL_F32, 2, {(hsize_t)l->pixels, (hsize_t)l->pixels}, b ? b->images : NULL};
    if (l->channels > 1) s.row_dims[s.row_rank++] = (hsize_t)l->channels;
    out[n++] = s;
  }
  return n;
}
#define MAX_SPECS (N_COLUMNS + 3)

static size_t row_elems(const rows_spec *s) {
  size_t e = 1;
  for (int d = 0; d < s->row_rank; d++) e *= (size_t)s->row_dims[d];
  return e;
}

jc_code jetfile_block_alloc(jetfile_block *b, const jetfile_layout *layout, int capacity, jc_err *err) {
  memset(b, 0, sizeof *b);
  b->capacity = capacity;
  b->layout = *layout;
  rows_spec specs[MAX_SPECS];
  int n = layout_specs(layout, NULL, specs);
  for (int i = 0; i < n; i++) {
    void *mem = jc_calloc((size_t)capacity * row_elems(&specs[i]), type_size(specs[i].type), err);
    if (!mem) {
      jetfile_block_free(b);
      return jc_prefix(err, "jet block %s: ", specs[i].name);
    }
    if (strcmp(specs[i].name, "/constituents") == 0) b->constituents = mem;
    else if (strcmp(specs[i].name, "/charged") == 0) b->charged = mem;
    else if (strcmp(specs[i].name, "/images") == 0) b->images = mem;
    else
      for (int c = 0; c < N_COLUMNS; c++)
        if (strcmp(COLUMNS[c].name, specs[i].name) == 0) *column_slot(b, &COLUMNS[c]) = mem;
  }
  return JC_OK;
}

void jetfile_block_free(jetfile_block *b) {
  if (!b) return;
  free(b->constituents);
  free(b->charged);
  free(b->images);
  for (int c = 0; c < N_COLUMNS; c++) {
    void **slot = column_slot(b, &COLUMNS[c]);
    free(*slot);
    *slot = NULL;
  }
  b->constituents = NULL;
  b->charged = NULL;
  b->images = NULL;
}

/* Rows up to the last constituent that is not padding: the observables and the image skip
 * padding wherever it sits, so the all-padding tail (three quarters of a generated jet's 200
 * rows) need not be read three more times. */
static int used_rows(const float *c, int m) {
  while (m > 0 && jetobs_is_padding(c + 4 * (m - 1))) m--;
  return m;
}

void jetfile_derive(jetfile_block *b, int n, const jetimage_params *image) {
  const jetfile_layout *l = &b->layout;
  size_t image_floats = (size_t)l->pixels * (size_t)l->pixels * (size_t)l->channels;
#pragma omp parallel for schedule(dynamic, 16)
  for (int i = 0; i < n; i++) {
    const float *c = b->constituents + (size_t)i * (size_t)l->n_const * 4;
    int m = used_rows(c, l->n_const);
    jetobs o;
    jetobs_compute(c, m, &o);
    b->n_constituents[i] = o.n;
    b->jet_pt[i] = (float)o.pt;
    b->jet_eta[i] = (float)o.eta;
    b->jet_phi[i] = (float)o.phi;
    b->jet_mass[i] = (float)o.mass;
    b->tau1[i] = (float)o.tau[0];
    b->tau2[i] = (float)o.tau[1];
    b->tau3[i] = (float)o.tau[2];
    if (l->pixels > 0) {
      const uint8_t *ch = b->charged ? b->charged + (size_t)i * (size_t)l->n_const : NULL;
      jetimage_make(image, c, ch, m, b->images + (size_t)i * image_floats);
    }
  }
}

jc_code jetfile_check_block(const jetfile_block *b, int n, const char *path, hsize_t row0, jc_err *err) {
  int m = b->layout.n_const;
  for (int i = 0; i < n; i++) {
    unsigned long long row = (unsigned long long)(row0 + (hsize_t)i);
    if (b->labels[i] != 0 && b->labels[i] != 1)
      return jc_fail(err, JC_ERR_DATA, "%s: /labels row %llu: label %d is not 0 (QCD) or 1 (top)", path, row,
                     (int)b->labels[i]);
    const float *c = b->constituents + (size_t)i * (size_t)m * 4;
    for (int k = 0; k < m; k++) {
      const float *q = c + 4 * k;
      if (!isfinite(q[0]) || !isfinite(q[1]) || !isfinite(q[2]) || !isfinite(q[3]))
        return jc_fail(err, JC_ERR_DATA,
                       "%s: /constituents row %llu constituent %d: non-finite momentum (E=%g px=%g py=%g pz=%g)",
                       path, row, k, q[0], q[1], q[2], q[3]);
    }
  }
  return JC_OK;
}

void jetfile_rank_rows(hsize_t n_jets, int chunk_rows, int rank, int size, hsize_t *row0, hsize_t *n_rows) {
  hsize_t rows = (hsize_t)chunk_rows, chunks = (n_jets + rows - 1) / rows;
  hsize_t c0 = chunks * (hsize_t)rank / (hsize_t)size, c1 = chunks * (hsize_t)(rank + 1) / (hsize_t)size;
  hsize_t r0 = c0 * rows, r1 = c1 * rows;
  if (r1 > n_jets) r1 = n_jets;
  if (r0 > r1) r0 = r1;
  *row0 = r0;
  *n_rows = r1 - r0;
}

hsize_t jetfile_rounds(hsize_t n_jets, int chunk_rows, int size) {
  hsize_t most = 0;
  for (int r = 0; r < size; r++) {
    hsize_t r0, n;
    jetfile_rank_rows(n_jets, chunk_rows, r, size, &r0, &n);
    hsize_t rounds = (n + JETFILE_ROUND_ROWS - 1) / JETFILE_ROUND_ROWS;
    if (rounds > most) most = rounds;
  }
  return most;
}

int jetfile_round_rows(hsize_t row0, hsize_t n_rows, hsize_t round, hsize_t *start) {
  *start = row0 + round * JETFILE_ROUND_ROWS;
  if (*start >= row0 + n_rows) return 0;
  hsize_t left = row0 + n_rows - *start;
  return (int)(left < JETFILE_ROUND_ROWS ? left : JETFILE_ROUND_ROWS);
}

/* bench/bench_layout.py, docs/physics.md "Writing": the trainer reads /images fastest without
 * shuffle, and the writes are fastest and the files smallest with shuffle elsewhere. */
jetfile_storage jetfile_storage_default(void) { return (jetfile_storage){256, 1, 0, 2, 0}; }

static jc_code check_storage(const jetfile_storage *s, jc_err *err) {
  if (s->chunk_rows < 1 || JETFILE_ROUND_ROWS % s->chunk_rows != 0)
    return jc_fail(err, JC_ERR_USAGE, "jet file chunks of %d rows: the rows per chunk must divide %d", s->chunk_rows,
                   JETFILE_ROUND_ROWS);
  if (s->deflate_level < 0 || s->deflate_level > 9)
    return jc_fail(err, JC_ERR_USAGE, "deflate level %d: zlib has levels 0..9", s->deflate_level);
  return JC_OK;
}

/* A fixed metadata cache of `bytes`, with a sync point (where the ranks agree on and write
 * dirty metadata) every quarter of it. */
static jc_code set_metadata_cache(hid_t file, const char *path, size_t bytes, jc_err *err) {
  H5AC_cache_config_t c;
  memset(&c, 0, sizeof c);
  c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  if (H5Fget_mdc_config(file, &c) < 0) return h5io_fail(err, JC_ERR_IO, "%s: cannot get the metadata cache", path);
  c.set_initial_size = 1;
  c.initial_size = c.min_size = c.max_size = bytes;
  c.incr_mode = H5C_incr__off;
  c.flash_incr_mode = H5C_flash_incr__off;
  c.decr_mode = H5C_decr__off;
  c.dirty_bytes_threshold = bytes / 4 > 1024 ? bytes / 4 : 1024;
  if (H5Fset_mdc_config(file, &c) < 0)
    return h5io_fail(err, JC_ERR_IO, "%s: cannot set a metadata cache of %zu bytes", path, bytes);
  return JC_OK;
}

static jc_code create_dataset(hid_t file, const char *path, const rows_spec *s, hsize_t n_jets,
                              const jetfile_storage *st, jc_err *err) {
  hsize_t rows = (hsize_t)st->chunk_rows;
  hsize_t dims[4] = {n_jets}, chunk[4] = {n_jets < rows ? n_jets : rows};
  int shuffle = strcmp(s->name, "/images") == 0 ? st->shuffle_images : st->shuffle;
  for (int d = 0; d < s->row_rank; d++) {
    dims[d + 1] = s->row_dims[d];
    chunk[d + 1] = s->row_dims[d];
  }
  jc_code rc = JC_OK;
  hid_t space = H5Screate_simple(s->row_rank + 1, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dset = H5I_INVALID_HID;
  if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, s->row_rank + 1, chunk) < 0 ||
      (shuffle && H5Pset_shuffle(dcpl) < 0) ||
      (st->deflate_level > 0 && H5Pset_deflate(dcpl, (unsigned)st->deflate_level) < 0) ||
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
    rc = h5io_fail(err, JC_ERR_IO, "%s: cannot set up dataset %s", path, s->name);
    goto done;
  }
  dset = H5Dcreate2(file, s->name, file_type(s->type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dset < 0) rc = h5io_fail(err, JC_ERR_IO, "%s: cannot create dataset %s", path, s->name);
done:
  if (dset >= 0) H5Dclose(dset);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  return rc;
}

jc_code jetfile_create(jetfile_writer *w, const char *path, hsize_t n_jets, const jetfile_layout *layout,
                       const jetfile_storage *storage, MPI_Comm comm, jc_err *err) {
  memset(w, 0, sizeof *w);
  w->file = H5I_INVALID_HID;
  w->comm = comm;
  w->layout = *layout;
  w->storage = storage ? *storage : jetfile_storage_default();
  w->n_jets = n_jets;
  if (strlen(path) + 5 >= sizeof w->path) return jc_fail(err, JC_ERR_USAGE, "output path is too long");
  strcpy(w->path, path);
  JC_TRY(check_storage(&w->storage, err));
  JC_TRY(dist_agree(comm, jetfile_check_output(path, layout, n_jets, err), err));
  w->file = h5io_create_tmp(path, comm, err);
  jc_code rc = w->file >= 0 ? JC_OK : err->code;
  rc = dist_agree(comm, rc, err);
  if (rc != JC_OK) return rc;
  if (w->storage.metadata_cache > 0) rc = set_metadata_cache(w->file, path, w->storage.metadata_cache, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(w->file, "format", JETFILE_FORMAT, err);
  rows_spec specs[MAX_SPECS];
  int n = layout_specs(layout, NULL, specs);
  for (int i = 0; i < n && rc == JC_OK; i++) rc = create_dataset(w->file, path, &specs[i], n_jets, &w->storage, err);
  rc = dist_agree(comm, rc, err);
  if (rc != JC_OK) jetfile_abandon(w);
  return rc;
}

/* Rows [row0, row0 + n) of dataset s; write (is_write) or read. Collective transfer. */
static jc_code transfer_rows(hid_t file, const char *path, const rows_spec *s, hsize_t row0, int n,
                             int is_write, jc_err *err) {
  hsize_t start[4] = {row0}, count[4] = {(hsize_t)n}, mem_dims[4] = {n > 0 ? (hsize_t)n : 1};
  for (int d = 0; d < s->row_rank; d++) {
    start[d + 1] = 0;
    count[d + 1] = mem_dims[d + 1] = s->row_dims[d];
  }
  int rank = s->row_rank + 1;
  jc_code rc = JC_OK;
  hid_t dset = H5Dopen2(file, s->name, H5P_DEFAULT);
  hid_t fspace = dset >= 0 ? H5Dget_space(dset) : H5I_INVALID_HID;
  hid_t mspace = H5Screate_simple(rank, mem_dims, NULL);
  hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
  herr_t sel = -1;
  if (fspace >= 0 && mspace >= 0)
    sel = n > 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL)
                : (H5Sselect_none(fspace) < 0 ? -1 : H5Sselect_none(mspace));
  if (dset < 0 || sel < 0 || xfer < 0 || H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE) < 0) {
    rc = h5io_fail(err, is_write ? JC_ERR_IO : JC_ERR_DATA, "%s: cannot select rows of %s", path, s->name);
    goto done;
  }
  herr_t st = is_write ? H5Dwrite(dset, mem_type(s->type), mspace, fspace, xfer, s->data)
                       : H5Dread(dset, mem_type(s->type), mspace, fspace, xfer, s->data);
  if (st < 0)
    rc = h5io_fail(err, is_write ? JC_ERR_IO : JC_ERR_DATA, "%s: cannot %s rows %llu..%llu of %s", path,
                   is_write ? "write" : "read", (unsigned long long)row0, (unsigned long long)(row0 + (hsize_t)n),
                   s->name);
done:
  if (xfer >= 0) H5Pclose(xfer);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

/* Every dataset of specs in turn. Every rank runs every transfer, even after a local
 * failure, so that no rank waits forever in a collective; the first error is kept. */
static jc_code transfer_all(hid_t file, const char *path, const rows_spec *specs, int n_specs, hsize_t row0, int n,
                            int is_write, jc_err *err) {
  jc_code rc = JC_OK;
  for (int i = 0; i < n_specs; i++) {
    jc_err local;
    jc_err_clear(&local);
    jc_code c = transfer_rows(file, path, &specs[i], row0, n, is_write, &local);
    if (c != JC_OK && rc == JC_OK) {
      rc = c;
      if (err) *err = local;
    }
  }
  return rc;
}

/* Each rank writes its own rows with one collective H5Dwrite per dataset; HDF5 filters the
 * chunks each rank owns, exchanges only their sizes and writes them at their new places. */
jc_code jetfile_write_block(jetfile_writer *w, hsize_t row0, int n, const jetfile_block *b, jc_err *err) {
  rows_spec specs[MAX_SPECS];
  int n_specs = layout_specs(&w->layout, (jetfile_block *)b, specs);
  return dist_agree(w->comm, transfer_all(w->file, w->path, specs, n_specs, row0, n, 1, err), err);
}

jc_code jetfile_commit(jetfile_writer *w, jc_err *err) {
  return h5io_commit(&w->file, w->path, w->comm, err);
}

void jetfile_abandon(jetfile_writer *w) {
  h5io_abandon(&w->file, w->path, w->comm);
}

static jc_code write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *value, jc_err *err) {
  jc_code rc = JC_OK;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = space >= 0 ? H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
  if (attr < 0 || H5Awrite(attr, mtype, value) < 0) rc = h5io_fail(err, JC_ERR_IO, "cannot write attribute %s", name);
  if (attr >= 0) H5Aclose(attr);
  if (space >= 0) H5Sclose(space);
  return rc;
}

jc_code jetfile_attr_double(hid_t obj, const char *name, double value, jc_err *err) {
  return write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, err);
}

jc_code jetfile_attr_long(hid_t obj, const char *name, long long value, jc_err *err) {
  return write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &value, err);
}

/* Check one dataset's rank, leading dims and type class. */
static jc_code expect_dataset(jetfile_reader *r, const char *name, int rank, const hsize_t *dims,
                              H5T_class_t want, const char *what, jc_err *err) {
  int nd = 0;
  hsize_t got[4] = {0};
  H5T_class_t cls = H5T_NO_CLASS;
  JC_TRY(h5io_dataset_info(r->file, r->path, name, &nd, got, &cls, NULL, err));
  int ok = nd == rank && cls == want;
  for (int d = 0; ok && d < rank; d++) ok = got[d] == dims[d];
  if (!ok) {
    char shape[96] = "";
    size_t len = 0;
    for (int d = 0; d < nd && len < sizeof shape - 24; d++)
      len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%llu", d ? "," : "", (unsigned long long)got[d]);
    return jc_fail(err, JC_ERR_DATA, "%s: dataset %s has shape (%s)%s; expected %s", r->path, name, shape,
                   cls != want ? " or the wrong element type" : "", what);
  }
  return JC_OK;
}

static jc_code open_checked(jetfile_reader *r, jc_err *err) {
  /* A `format` attribute is not required: a file a user writes with h5py in the documented
   * layout (/constituents, /labels) is read as the trainer reads unlabelled image files. One
   * that names another format is refused. */
  if (H5Aexists(r->file, "format") > 0) {
    char *format = h5io_read_attr_str(r->file, "format", err);
    if (!format) return jc_prefix(err, "%s: ", r->path);
    int known = strcmp(format, JETFILE_FORMAT) == 0 || strcmp(format, JETFILE_CONSTITUENTS_FORMAT) == 0;
    if (!known) jc_fail(err, JC_ERR_DATA, "%s: format is '%s', expected %s or %s", r->path, format, JETFILE_FORMAT,
                        JETFILE_CONSTITUENTS_FORMAT);
    free(format);
    if (!known) return JC_ERR_DATA;
  }
  H5Eclear2(H5E_DEFAULT);
  int nd = 0;
  hsize_t dims[4] = {0};
  JC_TRY(h5io_dataset_info(r->file, r->path, "/constituents", &nd, dims, NULL, NULL, err));
  if (nd != 3 || dims[2] != 4 || dims[0] == 0)
    return expect_dataset(r, "/constituents", 3, (hsize_t[]){dims[0] ? dims[0] : 1, dims[1], 4}, H5T_FLOAT,
                          "(N,M,4) float: E, px, py, pz of M constituents per jet, N >= 1", err);
  JC_TRY(expect_dataset(r, "/constituents", 3, dims, H5T_FLOAT, "(N,M,4) float", err));
  if (dims[1] < 1 || dims[1] > JETOBS_MAX_CONST)
    return jc_fail(err, JC_ERR_DATA, "%s: /constituents has %llu constituents per jet; 1..%d supported", r->path,
                   (unsigned long long)dims[1], JETOBS_MAX_CONST);
  r->n_jets = dims[0];
  r->n_const = (int)dims[1];
  char what[64];
  snprintf(what, sizeof what, "(%llu) integer, 0 = QCD, 1 = top", (unsigned long long)r->n_jets);
  JC_TRY(expect_dataset(r, "/labels", 1, dims, H5T_INTEGER, what, err));
  htri_t has = H5Lexists(r->file, "/charged", H5P_DEFAULT);
  r->has_charged = has > 0;
  if (r->has_charged) {
    snprintf(what, sizeof what, "(%llu,%d) integer flags", (unsigned long long)r->n_jets, r->n_const);
    JC_TRY(expect_dataset(r, "/charged", 2, dims, H5T_INTEGER, what, err));
  }
  return JC_OK;
}

jc_code jetfile_open(jetfile_reader *r, const char *path, MPI_Comm comm, jc_err *err) {
  memset(r, 0, sizeof *r);
  r->file = H5I_INVALID_HID;
  if (strlen(path) >= sizeof r->path) /* agreed in the agreement h5io_open_read starts with */
    return dist_agree(comm, jc_fail(err, JC_ERR_USAGE, "%.200s...: input path is too long", path), err);
  strcpy(r->path, path);
  r->file = h5io_open_read(path, comm, err); /* agrees on exists, regular file, HDF5 first */
  jc_code rc = r->file >= 0 ? JC_OK : err->code;
  if (rc == JC_OK) rc = open_checked(r, err);
  rc = dist_agree(comm, rc, err);
  if (rc != JC_OK) jetfile_close(r);
  return rc;
}

jc_code jetfile_read_block(jetfile_reader *r, hsize_t row0, int n, jetfile_block *b, jc_err *err) {
  rows_spec specs[3];
  int n_specs = 0;
  specs[n_specs++] = (rows_spec){"/constituents", COL_F32, 2, {(hsize_t)r->n_const, 4}, b->constituents};
  specs[n_specs++] = (rows_spec){"/labels", COL_I32, 0, {0}, b->labels};
  if (r->has_charged && b->charged)
    specs[n_specs++] = (rows_spec){"/charged", COL_U8, 1, {(hsize_t)r->n_const}, b->charged};
  return transfer_all(r->file, r->path, specs, n_specs, row0, n, 0, err);
}

void jetfile_close(jetfile_reader *r) {
  if (r->file >= 0) H5Fclose(r->file);
  r->file = H5I_INVALID_HID;
}

jc_code jetfile_describe_images(jetfile_writer *w, const jetimage_params *image, jc_err *err) {
  if (w->layout.pixels <= 0) return JC_OK;
  hid_t dset = H5Dopen2(w->file, "/images", H5P_DEFAULT);
  if (dset < 0) return h5io_fail(err, JC_ERR_IO, "%s: cannot open /images", w->path);
  jc_code rc = jetfile_attr_long(dset, "pixels", image->pixels, err);
  if (rc == JC_OK) rc = jetfile_attr_double(dset, "extent", image->extent, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(dset, "channels", jetimage_channels_name(image->channels), err);
  if (rc == JC_OK) rc = jetfile_attr_long(dset, "normalize", image->normalize, err);
  H5Dclose(dset);
  return rc;
}
