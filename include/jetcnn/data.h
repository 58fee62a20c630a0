/* data.h - HDF5 jet-image input files and which samples each rank reads when.
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

/* Close the file and free d; sets *d = NULL; accepts NULL. Collective on the open comm. */
void data_close(jc_data **d);

/* ---- which samples make up each global batch: a pure function of (seed, epoch, step) and
 * of the file's chunking, never of the number of ranks or threads.
 * The file is cut into blocks of micro_batch consecutive jets (the last one may be short).
 * Blocks are grouped by the HDF5 chunk they lie in. Every epoch (shuffle = 1) permutes the
 * chunk groups, then permutes the blocks inside each window of `window_chunks`
 * consecutive groups: a rank touches each chunk about once per epoch (decompressed once,
 * kept in its chunk cache, which holds a window) while batches mix jets from the whole
 * window. Each global batch is batch/micro_batch consecutive blocks of that order, and rank
 * r of P takes a contiguous share of a batch's blocks. ---- */
typedef struct {
  size_t n_samples, micro, n_blocks, blocks_per_batch, n_steps;
  size_t blocks_per_chunk; /* blocks in one chunk group */
  size_t window_chunks;    /* chunk groups shuffled together */
  size_t *order;           /* block permutation of the current epoch, owned */
  size_t *groups;          /* scratch for the chunk-group permutation, owned */
} jc_plan;

/* Plan for n_samples jets stored in chunks of chunk_rows; window_chunks >= 1. */
jc_code plan_create(size_t n_samples, size_t micro_batch, size_t batch, size_t chunk_rows, size_t window_chunks,
                    jc_plan **out, jc_err *err);
void plan_free(jc_plan **p);
/* Set the block order for epoch (identity when shuffle == 0). */
void plan_epoch(jc_plan *p, uint64_t seed, int64_t epoch, int shuffle);
/* Blocks of global step `step` in this epoch: order[*first .. *first + *count). */
void plan_step(const jc_plan *p, size_t step, size_t *first, size_t *count);
/* Rank's contiguous share [*lo, *hi) of `count` items split over `size` ranks. */
void plan_share(size_t count, int rank, int size, size_t *lo, size_t *hi);
/* First jet and number of jets of block b. */
void plan_block(const jc_plan *p, size_t b, size_t *start, size_t *len);

#endif
