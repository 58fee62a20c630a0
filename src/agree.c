/* agree.c - start-up agreement across ranks (see agree.h). */
#include "jetcnn/agree.h"

#include <errno.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"

const char *const AGREE_IMAGE_DATASETS[] = {"images", "labels", NULL};
const char *const AGREE_LABELS[] = {"labels", NULL};

/* ---- text ---- */

/* Rank 0's text on every rank (owned by the caller), or NULL with err set (on every rank). */
static char *bcast_text(MPI_Comm comm, const char *text, jc_err *err) {
  unsigned long long len = dist_rank(comm) == 0 ? (unsigned long long)strlen(text) : 0;
  if (JC_MPI(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, comm), err) != JC_OK) return NULL;
  char *buf = len < (unsigned long long)INT32_MAX ? jc_malloc((size_t)len + 1, err) : NULL;
  jc_code rc = buf ? JC_OK : jc_fail(err, JC_ERR_NOMEM, "out of memory for rank 0's text (%llu bytes)", len);
  if (dist_agree(comm, rc, err) != JC_OK) {
    free(buf);
    return NULL;
  }
  if (dist_rank(comm) == 0) memcpy(buf, text, (size_t)len);
  buf[len] = '\0';
  if (JC_MPI(MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm), err) != JC_OK) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* Line `*p` up to its end (without the '\n') into out; advances *p past it. */
static void next_line(const char **p, char *out, size_t n) {
  size_t k = strcspn(*p, "\n");
  snprintf(out, n, "%.*s", (int)k, *p);
  *p += k + ((*p)[k] == '\n');
}

/* The first line where mine and theirs differ, with its [section], into out. */
static void first_difference(const char *mine, const char *theirs, char *out, size_t n) {
  char a[256], b[256], section[128] = "";
  const char *p = mine, *q = theirs;
  while (*p || *q) {
    next_line(&p, a, sizeof a);
    next_line(&q, b, sizeof b);
    if (strcmp(a, b) != 0) {
      snprintf(out, n, "%s%s'%s' here, '%s' on rank 0", section, section[0] ? " " : "", a[0] ? a : "(nothing)",
               b[0] ? b : "(nothing)");
      return;
    }
    if (a[0] == '[') snprintf(section, sizeof section, "%s", a);
  }
  snprintf(out, n, "(no line differs)");
}

jc_code agree_text(MPI_Comm comm, const char *what, const char *text, jc_code local_rc, jc_code code, jc_err *err) {
  JC_TRY(dist_agree(comm, local_rc, err));
  char *theirs = bcast_text(comm, text, err);
  if (!theirs) return err->code;
  jc_code rc = JC_OK;
  if (strcmp(text, theirs) != 0) {
    char diff[600];
    first_difference(text, theirs, diff, sizeof diff);
    rc = jc_fail(err, code, "%s differs from rank 0's: %s", what, diff);
  }
  free(theirs);
  return dist_agree(comm, rc, err);
}

jc_code agree_config(MPI_Comm comm, const jc_config *cfg, jc_code local_rc, jc_err *err) {
  char *text = local_rc == JC_OK ? config_to_text(cfg, err) : NULL;
  if (local_rc == JC_OK && !text) local_rc = err->code;
  jc_code rc = agree_text(comm, "the config (with --set overrides)", text ? text : "", local_rc, JC_ERR_USAGE, err);
  free(text);
  return rc;
}

/* ---- inputs by content ---- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}
#define FNV_BASIS 1469598103934665603ULL

/* Append to buf (of size n) like snprintf. */
static void add(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t n, const char *fmt, ...) {
  size_t len = strlen(buf);
  if (len + 1 >= n) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, n - len, fmt, ap);
  va_end(ap);
}

static void add_dims(char *buf, size_t n, int nd, const hsize_t *dims) {
  add(buf, n, "(");
  for (int i = 0; i < nd; i++) add(buf, n, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
  add(buf, n, ")");
}

/* Hash of a 1-D dataset's values read as int64, in blocks (bounded memory). */
static jc_code hash_values(hid_t dset, hsize_t n, const char *path, const char *name, uint64_t *h, jc_err *err) {
  enum { BLOCK = 65536 };
  int64_t *buf = jc_malloc(BLOCK * sizeof *buf, err);
  if (!buf) return JC_ERR_NOMEM;
  hid_t fspace = H5Dget_space(dset);
  jc_code rc = fspace < 0 ? h5io_fail(err, JC_ERR_DATA, "%s: cannot inspect dataset /%s", path, name) : JC_OK;
  *h = FNV_BASIS;
  for (hsize_t start = 0; rc == JC_OK && start < n; start += BLOCK) {
    hsize_t cnt = n - start < BLOCK ? n - start : BLOCK;
    hid_t mspace = H5Screate_simple(1, &cnt, NULL);
    if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &cnt, NULL) < 0 ||
        H5Dread(dset, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, buf) < 0)
      rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset /%s", path, name);
    if (mspace >= 0) H5Sclose(mspace);
    if (rc == JC_OK) *h = fnv1a(*h, buf, (size_t)cnt * sizeof *buf);
  }
  if (fspace >= 0) H5Sclose(fspace);
  free(buf);
  return rc;
}

/* One line describing dataset name of file: "/images float32 (N,H,W) chunks (C,H,W)". */
static jc_code describe_dataset(hid_t file, const char *path, const char *name, int hashed, char *buf, size_t n,
                                jc_err *err) {
  add(buf, n, "/%s", name);
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    add(buf, n, " missing\n");
    return JC_OK;
  }
  /* Checked like every reader's open: a damaged header would crash HDF5's read (h5io.h). */
  hid_t dset = h5io_open_dataset(file, path, name, H5P_DEFAULT, err);
  if (dset < 0) return err->code;
  hid_t type = H5Dget_type(dset), space = H5Dget_space(dset);
  hid_t dcpl = H5Dget_create_plist(dset);
  int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  jc_code rc = JC_OK;
  if (type < 0 || dcpl < 0 || nd < 0 || nd > H5S_MAX_RANK) {
    add(buf, n, " unreadable\n"); /* the reader that follows says why */
    H5Eclear2(H5E_DEFAULT);
  } else {
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
    H5Sget_simple_extent_dims(space, dims, NULL);
    H5T_class_t cls = H5Tget_class(type);
    add(buf, n, " %s%zu ", cls == H5T_FLOAT ? "float" : cls == H5T_INTEGER ? "int" : "other", 8 * H5Tget_size(type));
    add_dims(buf, n, nd, dims);
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, nd, chunk) == nd) {
      add(buf, n, " chunks ");
      add_dims(buf, n, nd, chunk);
    }
    if (hashed && nd == 1 && (cls == H5T_INTEGER || cls == H5T_FLOAT)) {
      uint64_t h = 0;
      jc_err ignored; /* unreadable values: the reader that follows says why, in its words */
      jc_err_clear(&ignored);
      if (hash_values(dset, dims[0], path, name, &h, &ignored) == JC_OK)
        add(buf, n, " values %016llx", (unsigned long long)h);
      else
        add(buf, n, " values unreadable");
      if (ignored.code == JC_ERR_NOMEM) rc = jc_fail(err, JC_ERR_NOMEM, "%s", ignored.msg);
    }
    add(buf, n, "\n");
  }
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  H5Dclose(dset);
  return rc;
}

static int listed(const char *const *names, const char *name) {
  for (int i = 0; names && names[i]; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

jc_code agree_h5_input(MPI_Comm comm, const char *role, const char *path, const char *const *datasets,
                       const char *const *hashed, jc_err *err) {
  char desc[2048] = "";
  hid_t file = h5io_open_read(path, MPI_COMM_SELF, err); /* this rank's file, alone */
  jc_code rc = file < 0 ? err->code : JC_OK;
  for (int i = 0; rc == JC_OK && datasets[i]; i++)
    rc = describe_dataset(file, path, datasets[i], listed(hashed, datasets[i]), desc, sizeof desc, err);
  if (file >= 0) H5Fclose(file);
  char what[H5IO_PATH_MAX + 64];
  snprintf(what, sizeof what, "the content of %s %s", role, path);
  return agree_text(comm, what, desc, rc, JC_ERR_DATA, err);
}

jc_code agree_file(MPI_Comm comm, const char *role, const char *path, jc_err *err) {
  char desc[128] = "";
  jc_code rc = JC_OK;
  struct stat st;
  FILE *f = NULL;
  if (stat(path, &st) != 0) rc = jc_fail(err, JC_ERR_DATA, "%s: cannot open: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode)) rc = jc_fail(err, JC_ERR_DATA, "%s: not a regular file", path);
  else if (!(f = fopen(path, "rb"))) rc = jc_fail(err, JC_ERR_DATA, "%s: cannot open: %s", path, strerror(errno));
  uint64_t h = FNV_BASIS;
  unsigned long long size = 0;
  char *buf = rc == JC_OK ? jc_malloc(1 << 20, err) : NULL;
  if (rc == JC_OK && !buf) rc = JC_ERR_NOMEM;
  for (size_t got; rc == JC_OK && (got = fread(buf, 1, 1 << 20, f)) > 0;) {
    h = fnv1a(h, buf, got);
    size += got;
  }
  if (rc == JC_OK && ferror(f)) rc = jc_fail(err, JC_ERR_DATA, "%s: read error", path);
  if (f) fclose(f);
  free(buf);
  snprintf(desc, sizeof desc, "%llu bytes, hash %016llx", size, (unsigned long long)h);
  char what[H5IO_PATH_MAX + 64];
  snprintf(what, sizeof what, "the content of %s %s", role, path);
  return agree_text(comm, what, desc, rc, JC_ERR_DATA, err);
}
