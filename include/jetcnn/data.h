/* data.h - HDF5 jet-image input files (which jets a rank reads when: plan.h).
 *
 * Input layout (docs/formats.md): /images float (N,H,W) or (N,H,W,C) channels-last,
 * /labels integer (N) in 0..K-1 (0 = QCD, 1 = top); other 1-D datasets of length N are
 * passed through to prediction files. Files are opened with the MPI-IO driver; every
 * rank reads only the rows it works on.
 */
#ifndef JETCNN_DATA_H
#define JETCNN_DATA_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "jetcnn/error.h"
#include "jetcnn/plan.h"
#include "jetcnn/shape.h"

#define DATA_MAX_EXTRA 32

typedef struct {
  char *path;
  hid_t file, images;
  size_t n;            /* number of jets */
  size_t chunk_rows;   /* jets per HDF5 chunk of /images (1 when not chunked) */
  jc_shape shape;      /* per-sample C, H, W */
  int channels_last;   /* stored as (N,H,W,C) with C > 1 */
  int32_t *labels;     /* all N labels, validated at open; owned */
  int n_extra;         /* 1-D datasets of length N besides /labels, for predict */
  char *extra[DATA_MAX_EXTRA];
  float *stage;        /* staging buffer for channels-last rows */
  size_t stage_rows;
} jc_data;

/* Open path collectively on comm and validate it against the model's input shape and
 * number of classes: datasets present, ranks, dtypes, N consistent and > 0, labels in
 * range. Errors are JC_ERR_DATA naming the file and dataset. *out owned by the caller. */
jc_code data_open(const char *path, jc_shape shape, int n_classes, MPI_Comm comm, jc_data **out, jc_err *err);

/* Read jets [start, start+count) into x (count, C, H, W), NCHW. Non-finite pixels are an
 * error naming the jet. Independent (non-collective) read. */
jc_code data_read(jc_data *d, size_t start, size_t count, float *x, jc_err *err);

/* Size the chunk cache of /images to hold `chunks` chunks (the shuffle window), so that a
 * chunk is decompressed about once per epoch. Memory: chunks x chunk bytes. */
jc_code data_set_cache(jc_data *d, size_t chunks, jc_err *err);

/* The batch plan of d's jets (plan.h) for training, with a shuffle window of
 * shuffle_window jets rounded to whole HDF5 chunks (at least one), and d's chunk cache sized
 * to hold one window. *out owned by the caller (plan_free). */
jc_code data_plan(jc_data *d, size_t micro_batch, size_t batch, size_t shuffle_window, jc_plan **out, jc_err *err);

/* Close the file and free d; sets *d = NULL; accepts NULL. Collective on the open comm. */
void data_close(jc_data **d);

/* ---- the input of each training step: this rank's blocks (plan_rank_step), the next
 * step read by one background thread that lives as long as the reader ---- */
typedef struct jc_prefetch jc_prefetch;

/* A reader of d's steps under plan p for rank `rank` of `size`, with two input buffers of
 * plan_max_share() blocks each. Its thread runs when MPI provides MPI_THREAD_SERIALIZED
 * (jetcnn's main asks for it); without it every read happens in prefetch_take(). d and p are
 * borrowed until prefetch_free(); *out is owned by the caller. */
jc_code prefetch_create(jc_data *d, const jc_plan *p, int rank, int size, jc_prefetch **out, jc_err *err);

/* The input of step `step` of the current epoch into *x (block k of this rank's share at
 * x + k * micro_batch * C*H*W, raw pixels NCHW; borrowed until the next prefetch_take):
 * the one read in the background if prefetch_start(pf, step) came before, else read now.
 * Returns that read's result (the caller agrees on it across ranks). */
jc_code prefetch_take(jc_prefetch *pf, size_t step, float **x, jc_err *err);

/* Begin reading step `step` in the background and return at once (nothing without the
 * thread). Until prefetch_settle() or prefetch_take(), the caller must not call HDF5 or MPI
 * nor change the plan. */
void prefetch_start(jc_prefetch *pf, size_t step);

/* Wait until the background read has ended: afterwards the reader makes no HDF5 or MPI call
 * until the next prefetch_start(). Its result waits for prefetch_take(). */
void prefetch_settle(jc_prefetch *pf);

/* End the thread and free; sets *pf = NULL; accepts NULL. */
void prefetch_free(jc_prefetch **pf);

#endif
