/* h5io.c - HDF5 helpers (see h5io.h). */
#include "jetcnn/h5io.h"

#include "jetcnn/dist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void h5io_init(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0 && e->desc) snprintf((char *)data, 256, "%s", e->desc);
  return 0;
}

jc_code h5io_fail(jc_err *err, jc_code code, const char *fmt, ...) {
  char what[JC_ERR_MSG_MAX - 300], detail[256] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, detail);
  H5Eclear2(H5E_DEFAULT);
  if (detail[0]) return jc_fail(err, code, "%s (HDF5: %s)", what, detail);
  return jc_fail(err, code, "%s", what);
}

static hid_t mpio_fapl(MPI_Comm comm) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return H5I_INVALID_HID;
  if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  return fapl;
}

hid_t h5io_open_read(const char *path, MPI_Comm comm, jc_err *err) {
  struct stat st;
  if (stat(path, &st) != 0) {
    jc_fail(err, JC_ERR_DATA, "%s: cannot open: %s", path, strerror(errno));
    return H5I_INVALID_HID;
  }
  if (S_ISDIR(st.st_mode)) {
    jc_fail(err, JC_ERR_DATA, "%s: is a directory, not an HDF5 file", path);
    return H5I_INVALID_HID;
  }
  hid_t fapl = mpio_fapl(comm);
  if (fapl < 0) {
    h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot set up MPI-IO file access", path);
    return H5I_INVALID_HID;
  }
  htri_t is_h5 = H5Fis_hdf5(path);
  if (is_h5 <= 0) {
    H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    jc_fail(err, JC_ERR_DATA, "%s: not an HDF5 file (or truncated/corrupt)", path);
    return H5I_INVALID_HID;
  }
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (file < 0) h5io_fail(err, JC_ERR_DATA, "%s: cannot open HDF5 file", path);
  return file;
}

static void tmp_name(char *out, size_t n, const char *path) { snprintf(out, n, "%s.tmp", path); }

hid_t h5io_create_tmp(const char *path, MPI_Comm comm, jc_err *err) {
  char tmp[H5IO_PATH_MAX];
  tmp_name(tmp, sizeof tmp, path);
  /* One writer (MPI_COMM_SELF): the POSIX (sec2) driver. With HDF5 1.10.8's MPI-IO driver a
   * failing H5Fclose (disk full) leaves a half-freed file ID that crashes MPI_Finalize. */
  int self = MPI_UNEQUAL;
  MPI_Comm_compare(comm, MPI_COMM_SELF, &self);
  hid_t fapl = self == MPI_IDENT ? H5Pcreate(H5P_FILE_ACCESS) : mpio_fapl(comm);
  /* Several writers: metadata is written collectively. Otherwise HDF5 1.10.8 writes the dirty
   * metadata of a sync point that falls inside a collective filtered write (a chunk-index
   * update, once the index outgrows the metadata cache) with the MPI datatypes that write left
   * behind, the layout of its compressed chunks, applied to a metadata block: it reads far
   * past the block ("writev: Bad address", a segfault, or a hang with several ranks;
   * tests/test_jetfile.c). The collective path builds datatypes of its own. */
  if (fapl >= 0 && self != MPI_IDENT && H5Pset_coll_metadata_write(fapl, 1) < 0) {
    H5Pclose(fapl);
    fapl = H5I_INVALID_HID;
  }
  if (fapl < 0) {
    h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot set up MPI-IO file access", path);
    return H5I_INVALID_HID;
  }
  hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (file < 0) {
    h5io_fail(err, JC_ERR_IO, "%s: cannot create output file", tmp);
    if (dist_rank(comm) == 0) unlink(tmp); /* an empty file may have been left */
  }
  return file;
}

jc_code h5io_commit(hid_t *file, const char *path, MPI_Comm comm, jc_err *err) {
  char tmp[H5IO_PATH_MAX];
  tmp_name(tmp, sizeof tmp, path);
  jc_code rc = JC_OK;
  if (*file >= 0 && H5Fclose(*file) < 0)
    rc = h5io_fail(err, JC_ERR_IO, "%s: cannot close output file (disk full?)", tmp);
  *file = H5I_INVALID_HID;
  rc = dist_agree(comm, rc, err);
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    if (rc == JC_OK) {
      int fd = open(tmp, O_RDONLY);
      if (fd < 0 || fsync(fd) != 0)
        rc = jc_fail(err, JC_ERR_IO, "%s: cannot sync output file: %s", tmp, strerror(errno));
      if (fd >= 0) close(fd);
      if (rc == JC_OK && rename(tmp, path) != 0)
        rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    }
    if (rc != JC_OK) unlink(tmp);
  }
  return dist_agree(comm, rc, err);
}

void h5io_abandon(hid_t *file, const char *path, MPI_Comm comm) {
  char tmp[H5IO_PATH_MAX];
  tmp_name(tmp, sizeof tmp, path);
  if (*file >= 0) H5Fclose(*file);
  *file = H5I_INVALID_HID;
  H5Eclear2(H5E_DEFAULT);
  int rank;
  MPI_Comm_rank(comm, &rank);
  MPI_Barrier(comm);
  if (rank == 0) unlink(tmp);
}

jc_code h5io_write_attr_str(hid_t obj, const char *name, const char *value, jc_err *err) {
  jc_code rc = JC_OK;
  hid_t type = H5Tcopy(H5T_C_S1), space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  if (type < 0 || H5Tset_size(type, strlen(value) + 1) < 0 || H5Tset_strpad(type, H5T_STR_NULLTERM) < 0) {
    rc = h5io_fail(err, JC_ERR_IO, "cannot make string type for attribute %s", name);
    goto done;
  }
  space = H5Screate(H5S_SCALAR);
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr < 0 || H5Awrite(attr, type, value) < 0)
    rc = h5io_fail(err, JC_ERR_IO, "cannot write attribute %s", name);
done:
  if (attr >= 0) H5Aclose(attr);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return rc;
}

char *h5io_read_attr_str(hid_t obj, const char *name, jc_err *err) {
  char *out = NULL;
  hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  if (H5Aexists(obj, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    jc_fail(err, JC_ERR_DATA, "attribute '%s' is missing", name);
    return NULL;
  }
  attr = H5Aopen(obj, name, H5P_DEFAULT);
  ftype = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
  if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
    jc_fail(err, JC_ERR_DATA, "attribute '%s' is not a string", name);
    goto done;
  }
  if (H5Tis_variable_str(ftype) > 0) {
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5Tget_cset(ftype)); /* h5py writes UTF-8 */
    char *v = NULL;
    if (H5Aread(attr, mtype, &v) < 0 || !v) {
      h5io_fail(err, JC_ERR_DATA, "cannot read attribute '%s'", name);
      goto done;
    }
    out = strdup(v);
    H5free_memory(v);
  } else {
    size_t n = H5Tget_size(ftype);
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, n + 1);
    H5Tset_strpad(mtype, H5T_STR_NULLTERM);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    out = jc_calloc(n + 2, 1, err);
    if (out && H5Aread(attr, mtype, out) < 0) {
      free(out);
      out = NULL;
      h5io_fail(err, JC_ERR_DATA, "cannot read attribute '%s'", name);
    }
  }
  if (!out && err && err->code == JC_OK) jc_fail(err, JC_ERR_NOMEM, "out of memory");
done:
  if (mtype >= 0) H5Tclose(mtype);
  if (ftype >= 0) H5Tclose(ftype);
  if (attr >= 0) H5Aclose(attr);
  return out;
}

jc_code h5io_check_format(hid_t file, const char *path, const char *expected, jc_err *err) {
  char *fmt = h5io_read_attr_str(file, "format", err);
  if (!fmt) return jc_prefix(err, "%s: not a %s file: ", path, expected);
  jc_code rc = JC_OK;
  if (strcmp(fmt, expected) != 0)
    rc = jc_fail(err, JC_ERR_DATA, "%s: format is '%s', expected '%s'", path, fmt, expected);
  free(fmt);
  return rc;
}

/* HDF5 1.10.8 trusts the byte count a compact or contiguous layout message declares and
 * copies that many bytes on a read (from NULL when it is 0): a damaged header crashes the
 * reader. Check the declared storage against extent x type size before anything reads. */
static jc_code check_storage(hid_t dset, const char *path, const char *name, jc_err *err) {
  hid_t dcpl = H5Dget_create_plist(dset), space = H5Dget_space(dset), type = H5Dget_type(dset);
  jc_code rc = JC_OK;
  if (dcpl < 0 || space < 0 || type < 0) {
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot inspect dataset %s", path, name);
    goto done;
  }
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS) goto done; /* chunked: sizes per chunk */
  /* Variable-length elements are stored as heap references of another size. */
  if (H5Tdetect_class(type, H5T_VLEN) != 0 || H5Tis_variable_str(type) != 0) goto done;
  hssize_t points = H5Sget_simple_extent_npoints(space);
  size_t tsize = H5Tget_size(type);
  hsize_t have = H5Dget_storage_size(dset);
  int overflow = points < 0 || (tsize && (hsize_t)points > (hsize_t)-1 / tsize);
  hsize_t need = overflow ? 0 : (hsize_t)points * tsize;
  /* A contiguous dataset never written has no storage and reads as its fill value. */
  int unallocated = layout == H5D_CONTIGUOUS && have == 0;
  if (overflow || (have != need && !unallocated))
    rc = jc_fail(err, JC_ERR_DATA,
                 "%s: dataset %s is damaged: its %s storage holds %llu bytes but its shape and type "
                 "need %llu",
                 path, name, layout == H5D_COMPACT ? "compact" : "contiguous", (unsigned long long)have,
                 (unsigned long long)need);
done:
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

hid_t h5io_open_dataset(hid_t loc, const char *path, const char *name, hid_t dapl, jc_err *err) {
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    jc_fail(err, JC_ERR_DATA, "%s: dataset %s is missing", path, name);
    return H5I_INVALID_HID;
  }
  hid_t dset = H5Dopen2(loc, name, dapl);
  if (dset < 0) {
    h5io_fail(err, JC_ERR_DATA, "%s: cannot open dataset %s", path, name);
    return H5I_INVALID_HID;
  }
  if (check_storage(dset, path, name, err) != JC_OK) {
    H5Dclose(dset);
    return H5I_INVALID_HID;
  }
  return dset;
}

jc_code h5io_dataset_info(hid_t file, const char *path, const char *name, int *ndims,
                          hsize_t dims[4], H5T_class_t *type_class, size_t *type_size,
                          jc_err *err) {
  hid_t dset = h5io_open_dataset(file, path, name, H5P_DEFAULT, err);
  if (dset < 0) return JC_ERR_DATA;
  jc_code rc = JC_OK;
  hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
  if (space < 0 || type < 0) {
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot open dataset %s", path, name);
    goto done;
  }
  int nd = H5Sget_simple_extent_ndims(space);
  if (nd < 0 || nd > 4) {
    rc = jc_fail(err, JC_ERR_DATA, "%s: dataset %s has rank %d (at most 4 supported)", path, name, nd);
    goto done;
  }
  H5Sget_simple_extent_dims(space, dims, NULL);
  *ndims = nd;
  if (type_class) *type_class = H5Tget_class(type);
  if (type_size) *type_size = H5Tget_size(type);
done:
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

jc_code h5io_write_full(hid_t loc, const char *name, hid_t type, int ndims,
                        const hsize_t *dims, const void *data, jc_err *err) {
  jc_code rc = JC_OK;
  hid_t space = H5Screate_simple(ndims, dims, NULL);
  hid_t dset = space >= 0 ? H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                          : H5I_INVALID_HID;
  if (dset < 0 || H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    rc = h5io_fail(err, JC_ERR_IO, "cannot write dataset %s", name);
  if (dset >= 0) H5Dclose(dset);
  if (space >= 0) H5Sclose(space);
  return rc;
}

jc_code h5io_read_full(hid_t loc, const char *path, const char *name, hid_t type, void *data,
                       jc_err *err) {
  hid_t dset = h5io_open_dataset(loc, path, name, H5P_DEFAULT, err);
  if (dset < 0) return JC_ERR_DATA;
  jc_code rc = JC_OK;
  if (H5Dread(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset %s", path, name);
  H5Dclose(dset);
  return rc;
}
