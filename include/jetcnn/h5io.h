/* h5io.h - small HDF5 helpers shared by every module that reads or writes files.
 *
 * Files are opened with the MPI-IO driver on a communicator (parallel HDF5); a
 * communicator of one rank (MPI_COMM_SELF) gives ordinary serial access.
 * Every file jetcnn writes carries a string attribute `format` ("jetcnn-1",
 * "jetcnn-scores-1", ...; see docs/formats.md) that readers check.
 * Output files are created under a temporary name and renamed when complete.
 */
#ifndef JETCNN_H5IO_H
#define JETCNN_H5IO_H

#include <hdf5.h>
#include <mpi.h>

#include "jetcnn/error.h"

#define H5IO_PATH_MAX 4096

/* Turn off HDF5's automatic error-stack printing (we report errors ourselves). Call once. */
void h5io_init(void);

/* Like jc_fail(), and appends the innermost message of the current HDF5 error stack. */
jc_code h5io_fail(jc_err *err, jc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Open an existing HDF5 file read-only, collectively on comm. What each rank can check alone
 * (the file exists, is a regular file, is HDF5) is agreed on before the collective open, so a
 * file missing on one rank fails on all (JC_ERR_DATA, "rank R (host): PATH: cannot open: ...").
 * Returns the file id (close with H5Fclose) or H5I_INVALID_HID. */
hid_t h5io_open_read(const char *path, MPI_Comm comm, jc_err *err);

/* Create (truncate) PATH.tmp collectively on comm for writing; the final name is taken by
 * h5io_commit(). With MPI_COMM_SELF (one writer) the file is built in memory and written to
 * PATH.tmp by h5io_commit with checked POSIX writes, so a disk that fills up is an error value,
 * never a crash inside HDF5 (whose 1.10.8 close path cannot survive ENOSPC); the empty
 * PATH.tmp is created at once. Other comms: MPI-IO, collective. Fails with JC_ERR_IO naming
 * the path. */
hid_t h5io_create_tmp(const char *path, MPI_Comm comm, jc_err *err);

/* Close *file (collectively; with MPI_COMM_SELF write its in-memory image to PATH.tmp), fsync
 * and rename PATH.tmp to PATH on rank 0, and agree on the outcome across comm. *file is set
 * to H5I_INVALID_HID. On failure PATH is untouched and PATH.tmp removed. */
jc_code h5io_commit(hid_t *file, const char *path, MPI_Comm comm, jc_err *err);

/* Close *file if open and remove PATH.tmp (rank 0); for error paths. Collective. */
void h5io_abandon(hid_t *file, const char *path, MPI_Comm comm);

/* Write a scalar string attribute NAME = VALUE on object obj. */
jc_code h5io_write_attr_str(hid_t obj, const char *name, const char *value, jc_err *err);

/* Read string attribute NAME of obj into a newly allocated string (caller frees).
 * Returns NULL with err set (JC_ERR_DATA) when it is missing or not a string. */
char *h5io_read_attr_str(hid_t obj, const char *name, jc_err *err);

/* Check that the file's `format` attribute equals `expected`; error names the path. */
jc_code h5io_check_format(hid_t file, const char *path, const char *expected, jc_err *err);

/* Open dataset NAME of loc (a file or group) for reading with access list dapl (or
 * H5P_DEFAULT), after checking that its header is consistent (a compact or contiguous
 * layout whose byte count disagrees with shape x type would crash HDF5's read). Returns a
 * dataset id the caller closes with H5Dclose, or H5I_INVALID_HID with err set (JC_ERR_DATA,
 * naming path and dataset: missing, unopenable or damaged). */
hid_t h5io_open_dataset(hid_t loc, const char *path, const char *name, hid_t dapl, jc_err *err);

/* Shape and type class of dataset NAME; *ndims <= 4. Returns JC_ERR_DATA naming path and
 * dataset when it is missing. *type_class and *type_size may be NULL. */
jc_code h5io_dataset_info(hid_t file, const char *path, const char *name, int *ndims,
                          hsize_t dims[4], H5T_class_t *type_class, size_t *type_size,
                          jc_err *err);

/* Write a whole 1-D..4-D dataset from rank-local memory (serial write; call on a file
 * that only this process has open). type is a native type such as H5T_NATIVE_FLOAT. */
jc_code h5io_write_full(hid_t loc, const char *name, hid_t type, int ndims,
                        const hsize_t *dims, const void *data, jc_err *err);

/* Read a whole dataset into caller memory of the right size (independent read). */
jc_code h5io_read_full(hid_t loc, const char *path, const char *name, hid_t type, void *data,
                       jc_err *err);

#endif
