/* scores.h - the scores file: what `jetcnn predict` writes and `jetcnn roc` reads.
 *
 * Format SCORES_FORMAT (docs/formats.md): /score (float32, N) = probability of class 1 (top),
 * /label (int32, N; 1 = top, 0 = QCD), /probs (float32, N x K) when K > 2 classes, and the
 * input's other 1-D datasets of length N passed through (float32 or int64: jet_mass, jet_pt,
 * tau1..3, ...); root attributes `format`, `source` (the input file) and `classes`.
 */
#ifndef JETCNN_SCORES_H
#define JETCNN_SCORES_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"

#define SCORES_FORMAT "jetcnn-scores-1"

/* ---- reading (one process) ---------------------------------------------------------------- */

/* An open scores file and its jets. */
typedef struct {
  char *path;     /* owned copy of the file name */
  hid_t file;     /* open read-only until scores_close() */
  size_t n;       /* jets, >= 1 */
  float *score;   /* (n) owned; no NaN */
  int32_t *label; /* (n) owned; each 0 or 1 */
} scores_file;

/* Open a scores file and read /score and /label. The `format` attribute is optional (files
 * written with h5py); when present it must be SCORES_FORMAT. Fails with JC_ERR_DATA naming
 * the file, the dataset and the jet: a missing or empty dataset, a wrong shape or type, a NaN
 * score, a label other than 0/1. On failure *out is left closed (scores_close() is harmless). */
jc_code scores_open(const char *path, scores_file *out, jc_err *err);

/* 1 if f holds a dataset NAME ("jet_mass" or "/jet_mass"). */
int scores_has_column(const scores_file *f, const char *name);

/* A 1-D floating-point dataset NAME of f->n values as a new float array (caller frees), or
 * NULL with err set (JC_ERR_DATA naming the file and dataset: missing, wrong shape or type,
 * a NaN value naming the jet). */
float *scores_read_column(const scores_file *f, const char *name, jc_err *err);

/* Check that b holds the same jets as a, in the same order: the same number of jets, the same
 * labels and the same pass-through datasets (every 1-D dataset of length n other than /score,
 * in both files, bit for bit). JC_ERR_DATA otherwise, naming b, a and the first differing jet:
 * "b.h5: not the same jets as a.h5: jet 17: /jet_mass is 83.2 here, 91 there". */
jc_code scores_same_jets(const scores_file *a, const scores_file *b, jc_err *err);

/* Close the file and free everything; f is zeroed. Safe on a zeroed or closed f. */
void scores_close(scores_file *f);

/* ---- writing (collective) ------------------------------------------------------------------- */

typedef enum { SCORES_FLOAT32, SCORES_INT32, SCORES_INT64 } scores_type;

/* A scores file being written under PATH.tmp. */
typedef struct scores_writer scores_writer;

/* Start writing the scores file of n_jets jets at path; collective on comm. Rank 0 first tries
 * to reserve bytes (the expected size) for PATH.tmp: when it can, every rank later writes its
 * own rows collectively (MPI-IO); when it cannot (a full disk, a device, a file system without
 * allocation) the rows are gathered and rank 0 writes the file alone with the POSIX driver,
 * which fails cleanly on a full disk (HDF5 1.10.8's MPI-IO driver crashes MPI_Finalize after a
 * failed write); bytes = 0 always takes the gathered path. Returns a writer owned by the caller (finish with scores_writer_commit() or
 * scores_writer_abandon()), or NULL on every rank with the agreed error. */
scores_writer *scores_writer_create(const char *path, size_t n_jets, size_t bytes, MPI_Comm comm, jc_err *err);

/* Write dataset NAME of n_jets x row_len values of type (1-D when row_len is 1): this rank
 * holds rows [lo, hi) in `rows` (row-major); the ranks' row ranges, in rank order, must tile
 * [0, n_jets). Collective; returns the agreed outcome (JC_ERR_IO naming PATH.tmp and NAME). */
jc_code scores_writer_column(scores_writer *w, const char *name, scores_type type, size_t row_len, size_t lo,
                             size_t hi, const void *rows, jc_err *err);

/* Write the attributes (format, source = the input file, classes from n_classes), close,
 * sync and rename PATH.tmp to PATH. Collective; frees *w and sets it to NULL whatever the
 * outcome (on failure PATH is untouched and PATH.tmp removed). */
jc_code scores_writer_commit(scores_writer **w, const char *source, int n_classes, jc_err *err);

/* Close and remove PATH.tmp (error paths). Collective; frees *w, sets it to NULL; NULL is fine
 * when it is NULL on every rank. */
void scores_writer_abandon(scores_writer **w);

#endif
