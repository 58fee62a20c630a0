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

/* What each rank can check alone before the collective open: the file exists, is a regular
 * file (a FIFO would block the HDF5 signature check forever) and is an HDF5 file. */
static jc_code check_readable(const char *path, jc_err *err) {
  struct stat st;
  if (stat(path, &st) != 0) return jc_fail(err, JC_ERR_DATA, "%s: cannot open: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) return jc_fail(err, JC_ERR_DATA, "%s: is a directory, not an HDF5 file", path);
  if (!S_ISREG(st.st_mode)) /* a FIFO would block the open forever */
    return jc_fail(err, JC_ERR_DATA, "%s: is not a regular file (a pipe, device or socket), not an HDF5 file", path);
  htri_t is_h5 = H5Fis_hdf5(path);
  if (is_h5 <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return jc_fail(err, JC_ERR_DATA, "%s: not an HDF5 file (or truncated/corrupt)", path);
  }
  return JC_OK;
}

hid_t h5io_open_read(const char *path, MPI_Comm comm, jc_err *err) {
  /* Agreed first: a rank whose file is missing (on its node) must not leave the others
   * waiting in the collective open. */
  if (dist_agree(comm, check_readable(path, err), err) != JC_OK) return H5I_INVALID_HID;
  hid_t fapl = mpio_fapl(comm);
  if (fapl < 0) {
    h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot set up MPI-IO file access", path);
    return H5I_INVALID_HID;
  }
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (file < 0) h5io_fail(err, JC_ERR_DATA, "%s: cannot open HDF5 file", path);
  return file;
}

static void tmp_name(char *out, size_t n, const char *path) { snprintf(out, n, "%s.tmp", path); }

static int is_self(MPI_Comm comm) {
  int same = MPI_UNEQUAL;
  return MPI_Comm_compare(comm, MPI_COMM_SELF, &same) == MPI_SUCCESS && same == MPI_IDENT;
}

hid_t h5io_create_tmp(const char *path, MPI_Comm comm, jc_err *err) {
  char tmp[H5IO_PATH_MAX];
  tmp_name(tmp, sizeof tmp, path);
  /* One writer (MPI_COMM_SELF): the file is built in memory (HDF5's core driver, no backing
   * store) and written out by h5io_commit with plain POSIX calls. HDF5 1.10.8 crashes in
   * MPI_Finalize after an H5Fclose that failed for lack of space (with the sec2 and the
   * MPI-IO driver alike); in memory, nothing HDF5 does can meet a full disk. The empty
   * temporary file is created now, so that an unwritable place fails before any work. */
  const int self = is_self(comm);
  if (self) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || close(fd) != 0) {
      jc_fail(err, JC_ERR_IO, "%s: cannot create output file: %s", tmp, strerror(errno));
      return H5I_INVALID_HID;
    }
  }
  hid_t fapl = self ? H5Pcreate(H5P_FILE_ACCESS) : mpio_fapl(comm);
  /* Several writers: metadata is written collectively. Otherwise HDF5 1.10.8 writes the dirty
   * metadata of a sync point that falls inside a collective filtered write (a chunk-index
   * update, once the index outgrows the metadata cache) with the MPI datatypes that write left
   * behind, the layout of its compressed chunks, applied to a metadata block: it reads far
   * past the block ("writev: Bad address", a segfault, or a hang with several ranks;
   * tests/test_jetfile.c). The collective path builds datatypes of its own. */
  if (fapl < 0 || (self && H5Pset_fapl_core(fapl, 1u << 20, 0) < 0) ||
      (!self && H5Pset_coll_metadata_write(fapl, 1) < 0)) {
    if (fapl >= 0) H5Pclose(fapl);
    h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot set up file access", path);
    if (self) unlink(tmp);
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

/* Write all n bytes of buf to fd (retrying short writes). 0 or -1 with errno. */
static int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return -1;
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Close the in-memory *file and write its image to tmp (created, synced). */
static jc_code write_image(hid_t *file, const char *tmp, jc_err *err) {
  jc_code rc = JC_OK;
  char *image = NULL;
  ssize_t size = -1;
  if (H5Fflush(*file, H5F_SCOPE_GLOBAL) < 0 || (size = H5Fget_file_image(*file, NULL, 0)) < 0)
    rc = h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot finish the file in memory", tmp);
  if (rc == JC_OK && !(image = jc_malloc((size_t)size, err))) rc = jc_prefix(err, "%s: ", tmp);
  if (rc == JC_OK && H5Fget_file_image(*file, image, (size_t)size) != size)
    rc = h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot copy the file image", tmp);
  if (H5Fclose(*file) < 0 && rc == JC_OK) rc = h5io_fail(err, JC_ERR_RUNTIME, "%s: cannot close", tmp);
  *file = H5I_INVALID_HID;
  if (rc == JC_OK) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *what = "cannot open";
    if (fd >= 0 && write_all(fd, image, (size_t)size) != 0) what = "cannot write";
    else if (fd >= 0 && fsync(fd) != 0) what = "cannot sync";
    else if (fd >= 0) what = NULL;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && !what) {
      what = "cannot close";
      saved = errno;
    }
    if (what)
      rc = jc_fail(err, JC_ERR_IO, "%s: %s output file: %s%s", tmp, what, strerror(saved),
                   saved == ENOSPC || saved == EDQUOT ? " (disk full or quota exceeded)" : "");
  }
  free(image);
  return rc;
}

jc_code h5io_commit(hid_t *file, const char *path, MPI_Comm comm, jc_err *err) {
  char tmp[H5IO_PATH_MAX];
  tmp_name(tmp, sizeof tmp, path);
  jc_code rc = JC_OK;
  const int self = is_self(comm);
  if (self && *file >= 0) rc = write_image(file, tmp, err);
  else if (*file >= 0 && H5Fclose(*file) < 0)
    rc = h5io_fail(err, JC_ERR_IO, "%s: cannot close output file (disk full?)", tmp);
  *file = H5I_INVALID_HID;
  rc = dist_agree(comm, rc, err);
  if (dist_rank(comm) == 0) {
    if (rc == JC_OK && !self) { /* the in-memory image is synced as it is written */
      int fd = open(tmp, O_RDONLY);
      if (fd < 0 || fsync(fd) != 0)
        rc = jc_fail(err, JC_ERR_IO, "%s: cannot sync output file: %s", tmp, strerror(errno));
      if (fd >= 0) close(fd);
    }
    if (rc == JC_OK && rename(tmp, path) != 0)
      rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
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
  /* An error path: a failed barrier changes nothing (rank 0 removes the file either way). */
  jc_err ignored;
  (void)JC_MPI(MPI_Barrier(comm), &ignored);
  if (dist_rank(comm) == 0) unlink(tmp);
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

/* Before anything reads a dataset: (1) HDF5 1.10.8 trusts the byte count a compact or
 * contiguous layout message declares and copies that many bytes on a read (from NULL when it
 * is 0): a damaged header crashes the reader, so the declared storage must equal extent x
 * type size; (2) a dataset never or only partly written reads as zeros: refused; (3) chunked
 * storage far smaller than the extent declares data the file does not hold (a tiny file
 * claiming 2^29 jets would have the reader allocate gigabytes): refused. */
static jc_code check_storage(hid_t dset, const char *path, const char *name, jc_err *err) {
  hid_t dcpl = H5Dget_create_plist(dset), space = H5Dget_space(dset), type = H5Dget_type(dset);
  jc_code rc = JC_OK;
  if (dcpl < 0 || space < 0 || type < 0) {
    rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot inspect dataset %s", path, name);
    goto done;
  }
  H5D_layout_t layout = H5Pget_layout(dcpl);
  /* Variable-length elements are stored as heap references of another size. */
  if (H5Tdetect_class(type, H5T_VLEN) != 0 || H5Tis_variable_str(type) != 0) goto done;
  hssize_t points = H5Sget_simple_extent_npoints(space);
  size_t tsize = H5Tget_size(type);
  hsize_t have = H5Dget_storage_size(dset);
  int overflow = points < 0 || (tsize && (hsize_t)points > (hsize_t)-1 / tsize);
  hsize_t need = overflow ? 0 : (hsize_t)points * tsize;
  if (points == 0) goto done; /* empty: the reader says what is missing */
  /* Created but never (or only partly) written: HDF5 would read the fill value (zeros) as if
   * they were data. Chunked: every chunk of the extent must exist (H5Dget_space_status
   * compares compressed bytes with uncompressed ones and calls a complete compressed
   * dataset "partly allocated"); contiguous: its storage must exist. */
  hsize_t chunks_have = 0, chunks_need = 1;
  if (layout == H5D_CHUNKED) {
    hsize_t dims[H5S_MAX_RANK], cdims[H5S_MAX_RANK];
    int nd = H5Sget_simple_extent_dims(space, dims, NULL);
    if (nd < 0 || H5Pget_chunk(dcpl, nd, cdims) != nd || H5Dget_num_chunks(dset, space, &chunks_have) < 0) {
      rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot inspect the chunks of dataset %s", path, name);
      goto done;
    }
    for (int d = 0; d < nd; d++) chunks_need *= cdims[d] ? (dims[d] + cdims[d] - 1) / cdims[d] : 1;
  } else if (layout == H5D_CONTIGUOUS) {
    chunks_have = have > 0;
  } else {
    chunks_have = 1; /* compact: the data lives in the header (checked below) */
  }
  if (chunks_have < chunks_need) {
    rc = jc_fail(err, JC_ERR_DATA, "%s: dataset %s was created but %s written (it would read as zeros)", path,
                 name, chunks_have > 0 ? "only partly" : "never");
    goto done;
  }
  if (layout == H5D_CHUNKED) {
    /* Compressed chunks: no filter here packs data more than 1032:1 (deflate's limit), so
     * a file whose chunks are far smaller than its extent declares jets it does not hold. */
    if (overflow || have < need / 2048)
      rc = jc_fail(err, JC_ERR_DATA, "%s: dataset %s is damaged: its shape and type need %llu bytes but its chunks "
                   "hold only %llu, more than any compression explains", path, name, (unsigned long long)need,
                   (unsigned long long)have);
    goto done;
  }
  if (overflow || have != need)
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

/* Names of filters other programs write (h5py, hdf5plugin), for the message. */
static const char *filter_name(H5Z_filter_t id) {
  switch (id) {
    case 32000: return "lzf (h5py)";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 307: return "bzip2";
    case 32008: return "bitshuffle";
    case 32013: return "zfp";
    case 32015: return "zstd";
    default: return "an external plugin";
  }
}

/* Every filter the dataset was written with must be available here: HDF5 would open it and
 * fail only at the first read, naming a plugin directory. */
static jc_code check_filters(hid_t dset, const char *path, const char *name, jc_err *err) {
  hid_t dcpl = H5Dget_create_plist(dset);
  jc_code rc = JC_OK;
  int n = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
  for (int i = 0; rc == JC_OK && i < n; i++) {
    unsigned flags = 0, cd[8];
    size_t n_cd = 8;
    char fname[64] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_cd, cd, sizeof fname, fname, NULL);
    if (id >= 0 && H5Zfilter_avail(id) <= 0)
      rc = jc_fail(err, JC_ERR_DATA, "%s: dataset %s is compressed with filter %d (%s), which this HDF5 library "
                   "does not have; rewrite the file with gzip compression (h5py: compression=\"gzip\")", path, name,
                   (int)id, filter_name(id));
  }
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
  if (check_filters(dset, path, name, err) != JC_OK || check_storage(dset, path, name, err) != JC_OK) {
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
